/*
 * Fuzz target for ingester/chunk. The first input byte picks the mode:
 * even = the rest is a chunk file (open, check every block summary, walk
 * every entry column, decompress every small block, iterate every entry
 * and its metadata); odd = the rest is a raw block (iterate it, and when
 * it is well-formed seal, encode, reopen and check that the round trip
 * returns the same entries in timestamp order, with a summary that reports
 * none of them absent and a column that agrees with every entry). In raw
 * mode bit 1 of the first byte picks the codec (set = lz4, else zstd); an
 * lz4 round trip also encodes a zstd block ahead of the lz4 one, which
 * must come back recompressed as lz4. Every walk over entries is checked
 * against noa_chunk_iter_skip over the same bytes.
 */
#include "ingester/blockcol.h"
#include "ingester/blocksum.h"
#include "ingester/chunk.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Keeps the fuzzer fast: a crafted meta may legally promise a huge block. */
#define FUZZ_MAX_RAW (4u << 20)

/* Aborts when a summary claims a line's text is absent (a false negative
 * would make a query miss that line). */
static void check_summary(const unsigned char *sum, size_t sum_len, const void *raw, size_t len)
{
    struct noa_chunk_iter it;
    struct noa_chunk_entry e;
    if (!sum)
        return;
    if (noa_blocksum_check(sum, sum_len) != 0)
        abort();
    noa_chunk_iter_init(&it, raw, len);
    while (noa_chunk_iter_next(&it, &e, NULL) == 1) {
        size_t n = e.line.len < 16 ? e.line.len : 16;
        if (!noa_blocksum_may_contain(sum, sum_len, e.line.p, n) ||
            !noa_blocksum_may_contain(sum, sum_len, e.line.p + e.line.len - n, n))
            abort();
    }
}

static uint64_t walk(const void *raw, size_t len, int64_t *last_ts)
{
    struct noa_chunk_iter it;
    struct noa_chunk_entry e;
    struct noa_label l;
    uint64_t n = 0, bytes = 0;
    int rc;
    noa_chunk_iter_init(&it, raw, len);
    while ((rc = noa_chunk_iter_next(&it, &e, NULL)) == 1) {
        size_t pos = 0;
        uint32_t pairs = 0;
        while (noa_chunk_meta_next(&e, &pos, &l) == 1)
            pairs++;
        if (pairs != e.n_meta)
            abort();
        if (last_ts)
            *last_ts = e.ts_ns;
        n++;
        bytes += e.line.len;
    }
    /* Skipping the whole block passes over the same entries and ends the
     * same way (at the end or at the same damaged entry). */
    uint64_t sk_n = 0, sk_bytes = 0;
    noa_chunk_iter_init(&it, raw, len);
    int sk = noa_chunk_iter_skip(&it, len + 1, &sk_n, &sk_bytes, NULL);
    if (sk_n != n || sk_bytes != bytes || (sk < 0) != (rc < 0) || sk > 0)
        abort();
    return n;
}

/* Walks a column; with raw (a block noa sealed itself) every entry must
 * agree with it. Returns the entries read, or UINT64_MAX on a refusal. */
static uint64_t walk_col(const unsigned char *col, size_t col_len, uint64_t n_entries,
                         int64_t min_ts, int64_t max_ts, const void *raw, size_t len)
{
    struct noa_blockcol_iter ci;
    struct noa_blockcol_entry ce;
    struct noa_chunk_iter it;
    struct noa_chunk_entry e;
    uint64_t n = 0;
    int rc;
    if (noa_blockcol_iter_init(&ci, col, col_len, n_entries, min_ts, max_ts, NULL) != 0)
        return UINT64_MAX;
    if (raw)
        noa_chunk_iter_init(&it, raw, len);
    while ((rc = noa_blockcol_next(&ci, &ce, NULL)) == 1) {
        struct noa_chunk_entry me = {.meta = ce.meta, .n_meta = ce.n_meta};
        struct noa_label l;
        size_t pos = 0;
        uint32_t pairs = 0;
        while (noa_chunk_meta_next(&me, &pos, &l) == 1)
            pairs++;
        if (pairs != ce.n_meta || ce.ts_ns < min_ts || ce.ts_ns > max_ts)
            abort();
        if (raw) {
            if (noa_chunk_iter_next(&it, &e, NULL) != 1 || e.ts_ns != ce.ts_ns ||
                e.line.len != ce.line_len || e.n_meta != ce.n_meta ||
                !noa_str_eq(e.meta, ce.meta) ||
                (ce.has_hash && ce.hash != noa_blockcol_hash(e.line, e.meta, e.n_meta)))
                abort();
        }
        n++;
    }
    return rc == 0 ? n : UINT64_MAX;
}

static void fuzz_chunk(const uint8_t *data, size_t size)
{
    struct noa_chunk_reader r;
    struct noa_buf raw = {0};
    if (noa_chunk_open(data, size, &r, NULL) != 0)
        return;
    for (size_t i = 0; i < r.n_blocks; i++) {
        if (r.blocks[i].offset + r.blocks[i].compressed_len + 4 > size)
            abort();
        if (r.blocks[i].raw_len > FUZZ_MAX_RAW)
            continue;
        if (r.blocks[i].sum && noa_blocksum_check(r.blocks[i].sum, r.blocks[i].sum_len) != 0)
            abort();
        uint64_t nc = r.blocks[i].col ? walk_col(r.blocks[i].col, r.blocks[i].col_len,
                                                 r.blocks[i].n_entries, r.blocks[i].min_ts,
                                                 r.blocks[i].max_ts, NULL, 0)
                                      : UINT64_MAX;
        if (nc != UINT64_MAX && nc != r.blocks[i].n_entries)
            abort();
        if (noa_chunk_block_decompress(&r, i, &raw, NULL) != 0)
            continue;
        if (walk(raw.data, raw.len, NULL) != r.blocks[i].n_entries)
            abort();
        /* A crafted file may carry a valid summary of other text: only
         * summaries noa built itself promise no false negatives, which the
         * raw mode checks. Still, testing one must stay in bounds. */
        if (r.blocks[i].sum && raw.len >= 3)
            (void)noa_blocksum_may_contain(r.blocks[i].sum, r.blocks[i].sum_len, raw.data, 3);
    }
    noa_chunk_reader_fini(&r);
    noa_buf_fini(&raw);
}

/* Encodes [a zstd block, an lz4 block] of the same entries: the chunk must
 * be lz4, and both blocks must decompress to the sealed (sorted) bytes. */
static void check_mixed(const uint8_t *data, size_t size, const struct noa_chunk_block *lz,
                        const struct noa_buf *sorted)
{
    struct noa_chunk_block two[2];
    struct noa_chunk_reader r;
    struct noa_buf out = {0}, back = {0};

    if (noa_chunk_block_seal_codec(data, size, NOA_CHUNK_CODEC_ZSTD, 1, &two[0], NULL) != 0)
        abort();
    two[1] = *lz;
    if (noa_chunk_encode(two, 2, &out, NULL) != 0 || noa_chunk_open(out.data, out.len, &r, NULL))
        abort();
    if (r.codec != NOA_CHUNK_CODEC_LZ4 || r.n_blocks != 2)
        abort();
    for (size_t i = 0; i < 2; i++)
        if (noa_chunk_block_decompress(&r, i, &back, NULL) != 0 || back.len != sorted->len ||
            memcmp(back.data, sorted->data, back.len) != 0)
            abort();
    noa_chunk_reader_fini(&r);
    noa_chunk_block_fini(&two[0]);
    noa_buf_fini(&out);
    noa_buf_fini(&back);
}

static void fuzz_raw(const uint8_t *data, size_t size, int codec)
{
    struct noa_chunk_block b;
    struct noa_chunk_reader r;
    struct noa_buf out = {0}, back = {0};
    uint64_t n = walk(data, size, NULL);

    if (noa_chunk_block_seal_codec(data, size, codec, 1, &b, NULL) != 0)
        return;
    if (b.n_entries != n || b.codec != codec || noa_chunk_encode(&b, 1, &out, NULL) != 0)
        abort();
    if (noa_chunk_open(out.data, out.len, &r, NULL) != 0 || r.codec != codec)
        abort();
    if (noa_chunk_block_decompress(&r, 0, &back, NULL) != 0 || back.len != size)
        abort();
    if (!r.blocks[0].sum || r.blocks[0].sum_len != b.sum.len)
        abort();
    check_summary(r.blocks[0].sum, r.blocks[0].sum_len, back.data, back.len);
    if (r.blocks[0].col_len != b.col.len ||
        (b.col.len && walk_col(r.blocks[0].col, r.blocks[0].col_len, n, b.min_ts, b.max_ts,
                               back.data, back.len) != n))
        abort();
    int64_t last = 0;
    if (walk(back.data, back.len, &last) != n || last != b.max_ts)
        abort();
    if (codec == NOA_CHUNK_CODEC_LZ4)
        check_mixed(data, size, &b, &back);
    noa_chunk_reader_fini(&r);
    noa_chunk_block_fini(&b);
    noa_buf_fini(&out);
    noa_buf_fini(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        fuzz_raw(data + 1, size - 1, (data[0] & 2) ? NOA_CHUNK_CODEC_LZ4 : NOA_CHUNK_CODEC_ZSTD);
    else
        fuzz_chunk(data + 1, size - 1);
    return 0;
}
