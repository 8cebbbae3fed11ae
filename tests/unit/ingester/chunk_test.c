/*
 * Unit tests for ingester/chunk: raw block entries, sealing (stable sort,
 * zstd, CRC), the chunk file layout, a reader that rejects every corrupted
 * byte and every truncation, and object keys. Single-threaded.
 */
#include "ingester/chunk.h"

#include "common/mem.h"
#include "ingester/block.h"
#include "ingester/blockcol.h"
#include "ingester/blocksum.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* Builds a raw block of n entries with timestamps base + i*step and a
 * metadata pair on every third entry. */
static void build_raw(struct noa_buf *raw, int n, int64_t base, int64_t step)
{
    char line[64];
    for (int i = 0; i < n; i++) {
        int k = snprintf(line, sizeof(line), "level=info msg=\"request %d done\" status=200", i);
        struct noa_label meta[1] = {{NOA_STR("trace_id"), NOA_STR("abc123")}};
        noa_chunk_block_append(raw, base + i * step, (struct noa_str){line, (size_t)k}, meta,
                               i % 3 == 0 ? 1 : 0);
    }
}

/* Encodes a chunk of nb blocks, each of per entries. */
static void build_chunk(struct noa_buf *out, int nb, int per, struct noa_chunk_summary *sum)
{
    struct noa_chunk_block blocks[8];
    assert_true(nb <= 8);
    for (int b = 0; b < nb; b++) {
        struct noa_buf raw = {0};
        build_raw(&raw, per, 1700000000000000000LL + (int64_t)b * 1000000000LL, 1000);
        assert_int_equal(noa_chunk_block_seal(raw.data, raw.len, 0, &blocks[b], NULL), 0);
        noa_buf_fini(&raw);
    }
    assert_int_equal(noa_chunk_encode(blocks, (size_t)nb, out, sum), 0);
    for (int b = 0; b < nb; b++)
        noa_chunk_block_fini(&blocks[b]);
}

static void test_append_iterate(void **state)
{
    (void)state;
    struct noa_buf raw = {0};
    struct noa_label meta[2] = {{NOA_STR("trace_id"), NOA_STR("t1")},
                                {NOA_STR("user"), NOA_STR("")}};
    noa_chunk_block_append(&raw, -5, NOA_STR("first"), NULL, 0);
    noa_chunk_block_append(&raw, INT64_MAX, NOA_STR(""), meta, 2);
    noa_chunk_block_append(&raw, INT64_MIN, NOA_STR("third line"), meta, 1);

    struct noa_chunk_iter it;
    struct noa_chunk_entry e;
    struct noa_label l;
    size_t pos = 0;
    noa_chunk_iter_init(&it, raw.data, raw.len);

    assert_int_equal(noa_chunk_iter_next(&it, &e, NULL), 1);
    assert_int_equal(e.ts_ns, -5);
    assert_true(noa_str_eq_c(e.line, "first"));
    assert_int_equal(e.n_meta, 0);
    assert_int_equal(noa_chunk_meta_next(&e, &pos, &l), 0);
    /* zero-copy: the line points into the raw block */
    assert_true(e.line.p > raw.data && e.line.p < raw.data + raw.len);

    assert_int_equal(noa_chunk_iter_next(&it, &e, NULL), 1);
    assert_true(e.ts_ns == INT64_MAX);
    assert_int_equal(e.line.len, 0);
    assert_int_equal(e.n_meta, 2);
    pos = 0;
    assert_int_equal(noa_chunk_meta_next(&e, &pos, &l), 1);
    assert_true(noa_str_eq_c(l.name, "trace_id") && noa_str_eq_c(l.value, "t1"));
    assert_int_equal(noa_chunk_meta_next(&e, &pos, &l), 1);
    assert_true(noa_str_eq_c(l.name, "user") && l.value.len == 0);
    assert_int_equal(noa_chunk_meta_next(&e, &pos, &l), 0);

    assert_int_equal(noa_chunk_iter_next(&it, &e, NULL), 1);
    assert_true(e.ts_ns == INT64_MIN);
    assert_true(noa_str_eq_c(e.line, "third line"));
    assert_int_equal(e.n_meta, 1);
    assert_int_equal(noa_chunk_iter_next(&it, &e, NULL), 0);
    assert_int_equal(noa_chunk_iter_next(&it, &e, NULL), 0);
    noa_buf_fini(&raw);
}

/* Every strict prefix that does not end on an entry boundary is corrupt. */
static void test_iterate_truncated(void **state)
{
    (void)state;
    struct noa_buf raw = {0};
    size_t bounds[4];
    struct noa_label meta[1] = {{NOA_STR("k"), NOA_STR("value")}};
    bounds[0] = 0;
    noa_chunk_block_append(&raw, 1, NOA_STR("aaaa"), meta, 1);
    bounds[1] = raw.len;
    noa_chunk_block_append(&raw, 300, NOA_STR("bb"), NULL, 0);
    bounds[2] = raw.len;
    noa_chunk_block_append(&raw, 1LL << 40, NOA_STR("c"), meta, 1);
    bounds[3] = raw.len;

    for (size_t cut = 0; cut <= raw.len; cut++) {
        struct noa_chunk_iter it;
        struct noa_chunk_entry e;
        struct noa_error err = {0};
        int rc, n = 0;
        noa_chunk_iter_init(&it, raw.data, cut);
        while ((rc = noa_chunk_iter_next(&it, &e, &err)) == 1)
            n++;
        int boundary = cut == bounds[0] || cut == bounds[1] || cut == bounds[2] || cut == bounds[3];
        if (boundary) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, NOA_ECORRUPT);
            assert_non_null(strstr(err.msg, "offset"));
            /* sticky */
            assert_int_equal(noa_chunk_iter_next(&it, &e, NULL), NOA_ECORRUPT);
        }
        assert_true((size_t)n <= 3);
    }
    noa_buf_fini(&raw);
}

static void test_iterate_bad_meta_count(void **state)
{
    (void)state;
    /* ts=1, len=1 "x", n_meta = 1000 with no pairs behind it */
    const unsigned char raw[] = {0x02, 0x01, 'x', 0xe8, 0x07};
    struct noa_chunk_iter it;
    struct noa_chunk_entry e;
    struct noa_error err = {0};
    noa_chunk_iter_init(&it, raw, sizeof(raw));
    assert_int_equal(noa_chunk_iter_next(&it, &e, &err), NOA_ECORRUPT);
    assert_non_null(strstr(err.msg, "metadata count"));
}

static void test_seal_sorted_roundtrip(void **state)
{
    (void)state;
    struct noa_buf raw = {0}, out = {0}, back = {0};
    struct noa_chunk_block b;
    struct noa_chunk_reader r;
    build_raw(&raw, 5000, 1000, 7);
    assert_int_equal(noa_chunk_block_seal(raw.data, raw.len, 0, &b, NULL), 0);
    assert_int_equal(b.n_entries, 5000);
    assert_int_equal(b.min_ts, 1000);
    assert_int_equal(b.max_ts, 1000 + 4999 * 7);
    assert_int_equal(b.raw_len, raw.len);
    assert_true(b.data.len < raw.len / 4); /* repetitive lines compress well */
    assert_int_equal(b.crc, noa_crc32c(0, b.data.data, b.data.len));

    struct noa_chunk_summary sum;
    assert_int_equal(noa_chunk_encode(&b, 1, &out, &sum), 0);
    assert_int_equal(noa_chunk_open(out.data, out.len, &r, NULL), 0);
    assert_int_equal(r.n_blocks, 1);
    assert_int_equal(noa_chunk_block_decompress(&r, 0, &back, NULL), 0);
    assert_int_equal(back.len, raw.len);
    assert_memory_equal(back.data, raw.data, raw.len);
    assert_int_equal(noa_chunk_block_decompress(&r, 1, &back, NULL), NOA_EINVAL);
    noa_chunk_reader_fini(&r);
    noa_chunk_block_fini(&b);
    noa_buf_fini(&raw);
    noa_buf_fini(&out);
    noa_buf_fini(&back);
}

/* Out-of-order entries are sorted; equal timestamps keep append order. */
static void test_seal_sorts_stably(void **state)
{
    (void)state;
    struct noa_buf raw = {0}, out = {0}, back = {0};
    const int64_t ts[] = {50, 10, 30, 10, 50, 20, 10};
    const char *lines[] = {"a", "b", "c", "d", "e", "f", "g"};
    const char *want[] = {"b", "d", "g", "f", "c", "a", "e"};
    struct noa_label meta[1] = {{NOA_STR("m"), NOA_STR("keep")}};
    for (int i = 0; i < 7; i++)
        noa_chunk_block_append(&raw, ts[i], noa_str_c(lines[i]), meta, i == 3);

    struct noa_chunk_block b;
    struct noa_chunk_reader r;
    assert_int_equal(noa_chunk_block_seal(raw.data, raw.len, 3, &b, NULL), 0);
    assert_int_equal(b.min_ts, 10);
    assert_int_equal(b.max_ts, 50);
    assert_int_equal(noa_chunk_encode(&b, 1, &out, NULL), 0);
    assert_int_equal(noa_chunk_open(out.data, out.len, &r, NULL), 0);
    assert_int_equal(noa_chunk_block_decompress(&r, 0, &back, NULL), 0);
    assert_int_equal(back.len, raw.len);

    struct noa_chunk_iter it;
    struct noa_chunk_entry e;
    int i = 0;
    noa_chunk_iter_init(&it, back.data, back.len);
    while (noa_chunk_iter_next(&it, &e, NULL) == 1) {
        assert_true(i < 7);
        assert_true(noa_str_eq_c(e.line, want[i]));
        /* metadata travels with its entry */
        assert_int_equal(e.n_meta, strcmp(want[i], "d") == 0 ? 1 : 0);
        i++;
    }
    assert_int_equal(i, 7);
    noa_chunk_reader_fini(&r);
    noa_chunk_block_fini(&b);
    noa_buf_fini(&raw);
    noa_buf_fini(&out);
    noa_buf_fini(&back);
}

static void test_seal_errors(void **state)
{
    (void)state;
    struct noa_chunk_block b;
    struct noa_error err = {0};
    const unsigned char bad[] = {0x02, 0x09, 'x'}; /* line length 9 beyond the end */
    assert_int_equal(noa_chunk_block_seal(bad, 0, 0, &b, &err), NOA_EINVAL);
    assert_int_equal(noa_chunk_block_seal(bad, sizeof(bad), 0, &b, &err), NOA_EINVAL);
    assert_int_equal(err.code, NOA_EINVAL);
    assert_null(b.data.data);
    noa_chunk_block_fini(&b);

    struct noa_chunk_block empty = {0};
    struct noa_buf out = {0};
    assert_int_equal(noa_chunk_encode(&empty, 0, &out, NULL), NOA_EINVAL);
    assert_int_equal(noa_chunk_encode(&empty, 1, &out, NULL), NOA_EINVAL);
    assert_int_equal(out.len, 0);
}

static void test_seal_nomem(void **state)
{
    (void)state;
    struct noa_buf raw = {0};
    struct noa_chunk_block b;
    noa_chunk_block_append(&raw, 2, NOA_STR("later"), NULL, 0);
    noa_chunk_block_append(&raw, 1, NOA_STR("earlier"), NULL, 0);
    int64_t before = noa_mem_in_use();
    for (long after = 0; after < 3; after++) {
        noa_mem_fail_after(after);
        int rc = noa_chunk_block_seal(raw.data, raw.len, 0, &b, NULL);
        noa_mem_fail_after(-1);
        assert_int_equal(rc, NOA_ENOMEM);
        assert_int_equal(noa_mem_in_use(), before);
    }
    assert_int_equal(noa_chunk_block_seal(raw.data, raw.len, 0, &b, NULL), 0);
    noa_chunk_block_fini(&b);
    noa_buf_fini(&raw);
}

static void test_encode_layout(void **state)
{
    (void)state;
    struct noa_buf out = {0};
    struct noa_chunk_summary sum;
    struct noa_chunk_reader r;
    /* a prefix in the buffer: offsets must be relative to the chunk start */
    noa_buf_append(&out, "XYZ", 3);
    build_chunk(&out, 3, 400, &sum);
    const unsigned char *c = (const unsigned char *)out.data + 3;
    size_t len = out.len - 3;

    assert_int_equal(noa_get_be32(c), 0x012EE56A);
    assert_int_equal(c[4], NOA_CHUNK_FORMAT_V1);
    assert_int_equal(c[5], 9);
    assert_int_equal(sum.n_blocks, 3);
    assert_int_equal(sum.entries, 1200);
    assert_int_equal(sum.from_ns, 1700000000000000000LL);
    assert_int_equal(sum.through_ns, 1700000000000000000LL + 2000000000LL + 399 * 1000);
    assert_int_equal(sum.compressed_bytes, len);
    assert_int_equal(sum.checksum, noa_chunk_checksum(c, len));
    /* footer: the summaries section ends where the metas start, and the
     * metas end where the footer starts */
    uint64_t mlen = noa_get_be64(c + len - 16), moff = noa_get_be64(c + len - 8);
    uint64_t xlen = noa_get_be64(c + len - 32), xoff = noa_get_be64(c + len - 24);
    assert_int_equal(xoff + xlen, moff);
    assert_int_equal(c[xoff], NOA_CHUNK_EXTRA_SUMCOL);
    assert_int_equal(noa_get_be32(c + xoff + xlen - 4), noa_crc32c(0, c + xoff, xlen - 4));
    assert_int_equal(moff + mlen + 4 + 32, len);
    assert_int_equal(noa_get_be32(c + moff + mlen), noa_crc32c(0, c + moff, mlen));

    assert_int_equal(noa_chunk_open(c, len, &r, NULL), 0);
    assert_int_equal(r.n_blocks, 3);
    assert_int_equal(r.blocks[0].offset, 6);
    assert_int_equal(r.blocks[1].offset, 6 + r.blocks[0].compressed_len + 4);
    assert_int_equal(r.entries, 1200);
    assert_int_equal(r.from_ns, sum.from_ns);
    assert_int_equal(r.through_ns, sum.through_ns);
    assert_int_equal(r.raw_bytes, sum.raw_bytes);
    for (size_t i = 0; i < 3; i++) {
        struct noa_buf raw = {0};
        assert_int_equal(noa_chunk_block_decompress(&r, i, &raw, NULL), 0);
        assert_int_equal(raw.len, r.blocks[i].raw_len);
        assert_non_null(r.blocks[i].sum);
        assert_int_equal(r.blocks[i].sum[0], noa_blocksum_log2_for(raw.len));
        assert_true(noa_blocksum_may_contain(r.blocks[i].sum, r.blocks[i].sum_len, "REQUEST 3",
                                             9));
        assert_false(noa_blocksum_may_contain(r.blocks[i].sum, r.blocks[i].sum_len,
                                              "rare-token-xyz", 14));
        noa_buf_fini(&raw);
    }
    noa_chunk_reader_fini(&r);
    noa_buf_fini(&out);
}

/* Flipping any byte or cutting the file anywhere must be detected by open or
 * by decompression, and never read out of bounds (ASan runs this). */
static void test_open_rejects_corruption(void **state)
{
    (void)state;
    struct noa_buf out = {0}, raw = {0};
    build_chunk(&out, 2, 50, NULL);
    unsigned char *c = (unsigned char *)out.data;

    for (size_t i = 0; i < out.len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            struct noa_chunk_reader r;
            struct noa_error err = {0};
            c[i] ^= (unsigned char)(1u << bit);
            int rc = noa_chunk_open(c, out.len, &r, &err);
            if (rc == 0) {
                int bad = 0;
                for (size_t b = 0; b < r.n_blocks; b++)
                    bad |= noa_chunk_block_decompress(&r, b, &raw, NULL) < 0;
                noa_chunk_reader_fini(&r);
                if (!bad)
                    fail_msg("flip of bit %d at byte %zu went unnoticed", bit, i);
            } else {
                assert_true(rc == NOA_ECORRUPT || rc == NOA_EUNSUPP);
                assert_true(err.msg[0] != 0);
            }
            c[i] ^= (unsigned char)(1u << bit);
        }
    }
    for (size_t cut = 0; cut < out.len; cut++) {
        struct noa_chunk_reader r;
        assert_int_not_equal(noa_chunk_open(c, cut, &r, NULL), 0);
    }
    noa_buf_fini(&out);
    noa_buf_fini(&raw);
}

/* Encodes blocks b0 (with its summary and column when keep0) and b1
 * (with its summary and column when keep1); they are put back afterwards. */
static void encode_pair(struct noa_chunk_block *b, int keep0, int keep1, struct noa_buf *out)
{
    struct noa_buf s0 = b[0].sum, s1 = b[1].sum, c0 = b[0].col, c1 = b[1].col;
    if (!keep0)
        b[0].sum = b[0].col = (struct noa_buf){0};
    if (!keep1)
        b[1].sum = b[1].col = (struct noa_buf){0};
    assert_int_equal(noa_chunk_encode(b, 2, out, NULL), 0);
    b[0].sum = s0;
    b[1].sum = s1;
    b[0].col = c0;
    b[1].col = c1;
}

/* Chunks without summaries (written before they existed) and with some
 * blocks lacking one read as before; those blocks have sum == NULL. */
static void test_summaries_optional(void **state)
{
    (void)state;
    struct noa_chunk_block b[2];
    struct noa_buf raw = {0}, out = {0};
    struct noa_chunk_reader r;
    for (int i = 0; i < 2; i++) {
        noa_buf_reset(&raw);
        build_raw(&raw, 30, i * 1000, 1);
        assert_int_equal(noa_chunk_block_seal(raw.data, raw.len, 0, &b[i], NULL), 0);
        assert_int_equal(noa_blocksum_check(b[i].sum.data, b[i].sum.len), 0);
    }
    encode_pair(b, 0, 0, &out);
    const unsigned char *c = (const unsigned char *)out.data;
    assert_int_equal(noa_get_be64(c + out.len - 32), 0); /* the old layout exactly */
    assert_int_equal(noa_get_be64(c + out.len - 24), 0);
    assert_int_equal(noa_chunk_open(out.data, out.len, &r, NULL), 0);
    assert_null(r.blocks[0].sum);
    assert_null(r.blocks[1].sum);
    noa_chunk_reader_fini(&r);

    noa_buf_reset(&out);
    encode_pair(b, 0, 1, &out);
    assert_int_equal(noa_chunk_open(out.data, out.len, &r, NULL), 0);
    assert_null(r.blocks[0].sum);
    assert_int_equal(r.blocks[0].sum_len, 0);
    assert_non_null(r.blocks[1].sum);
    assert_memory_equal(r.blocks[1].sum, b[1].sum.data, b[1].sum.len);
    noa_chunk_reader_fini(&r);
    for (int i = 0; i < 2; i++)
        noa_chunk_block_fini(&b[i]);
    noa_buf_fini(&raw);
    noa_buf_fini(&out);
}

/* Recomputes the CRC of the chunk's extra section (body_len bytes) after a
 * test edited it, so that only the structure is wrong. */
static void reseal_extra(struct noa_buf *out, size_t body_len)
{
    unsigned char *c = (unsigned char *)out->data;
    uint64_t xoff = noa_get_be64(c + out->len - 24);
    uint32_t crc = noa_crc32c(0, c + xoff, body_len);
    unsigned char *at = c + xoff + body_len;
    at[0] = (unsigned char)(crc >> 24);
    at[1] = (unsigned char)(crc >> 16);
    at[2] = (unsigned char)(crc >> 8);
    at[3] = (unsigned char)crc;
}

/* A summaries section whose CRC holds but whose structure is wrong makes
 * the chunk corrupt; a section of an unknown kind is ignored. */
static void test_summaries_malformed(void **state)
{
    (void)state;
    struct noa_chunk_block b[2];
    struct noa_buf raw = {0}, out = {0};
    struct noa_chunk_reader r;
    struct noa_error err = {0};
    for (int i = 0; i < 2; i++) {
        noa_buf_reset(&raw);
        build_raw(&raw, 30, i * 1000, 1);
        assert_int_equal(noa_chunk_block_seal(raw.data, raw.len, 0, &b[i], NULL), 0);
    }
    encode_pair(b, 1, 1, &out);
    unsigned char *c = (unsigned char *)out.data;
    uint64_t xlen = noa_get_be64(c + out.len - 32), xoff = noa_get_be64(c + out.len - 24);
    size_t body = (size_t)xlen - 4;
    /* the layout: kind, count 2, len0, sum0, clen0, col0, len1, sum1,
     * clen1, col1 */
    assert_int_equal(c[xoff + 1], 2);
    size_t s0 = xoff + 2, l0 = c[s0]; /* summaries here are < 128 bytes */
    assert_int_equal(l0, b[0].sum.len);

    c[xoff + 1] = 3; /* count differs from the metas */
    reseal_extra(&out, body);
    assert_int_equal(noa_chunk_open(out.data, out.len, &r, &err), NOA_ECORRUPT);
    assert_non_null(strstr(err.msg, "summary count"));
    c[xoff + 1] = 2;

    c[s0 + 1] = NOA_BLOCKSUM_MAX_LOG2 + 1; /* a summary with a bad size byte */
    reseal_extra(&out, body);
    assert_int_equal(noa_chunk_open(out.data, out.len, &r, &err), NOA_ECORRUPT);
    assert_non_null(strstr(err.msg, "malformed block summary"));
    c[s0 + 1] = b[0].sum.data[0];

    c[s0] = (unsigned char)(l0 - 1); /* lengths no longer add up */
    reseal_extra(&out, body);
    assert_int_equal(noa_chunk_open(out.data, out.len, &r, &err), NOA_ECORRUPT);
    c[s0] = (unsigned char)l0;

    c[s0] = 120; /* runs past the section */
    reseal_extra(&out, body);
    assert_int_equal(noa_chunk_open(out.data, out.len, &r, &err), NOA_ECORRUPT);
    c[s0] = (unsigned char)l0;

    c[xoff] = 7; /* a later kind of table: checked by CRC, then ignored */
    reseal_extra(&out, body);
    assert_int_equal(noa_chunk_open(out.data, out.len, &r, &err), 0);
    assert_null(r.blocks[0].sum);
    noa_chunk_reader_fini(&r);
    c[xoff] = NOA_CHUNK_EXTRA_SUMCOL;

    reseal_extra(&out, body);
    assert_int_equal(noa_chunk_open(out.data, out.len, &r, &err), 0);
    assert_non_null(r.blocks[0].sum);
    noa_chunk_reader_fini(&r);
    c[xoff + body] ^= 1; /* the section's CRC */
    assert_int_equal(noa_chunk_open(out.data, out.len, &r, &err), NOA_ECORRUPT);
    assert_non_null(strstr(err.msg, "extra section checksum"));

    for (int i = 0; i < 2; i++)
        noa_chunk_block_fini(&b[i]);
    noa_buf_fini(&raw);
    noa_buf_fini(&out);
}

/* Blocks without metadata: n entries at base + i * step. */
static void seal_plain(struct noa_chunk_block *b, int n, int64_t base, int64_t step)
{
    struct noa_buf raw = {0};
    char line[48];
    for (int i = 0; i < n; i++) {
        int k = snprintf(line, sizeof(line), "GET /api/%d 200", i * 7);
        noa_chunk_block_append(&raw, base + i * step, (struct noa_str){line, (size_t)k}, NULL, 0);
    }
    assert_int_equal(noa_chunk_block_seal(raw.data, raw.len, 0, b, NULL), 0);
    noa_buf_fini(&raw);
}

/* The layout chunks had before columns: a kind-1 summaries section. */
static void encode_kind1(const struct noa_chunk_block *b, size_t n, struct noa_buf *out)
{
    noa_buf_put_be32(out, NOA_CHUNK_MAGIC);
    noa_buf_putc(out, (char)NOA_CHUNK_FORMAT_V1);
    noa_buf_putc(out, (char)NOA_CHUNK_CODEC_ZSTD);
    for (size_t i = 0; i < n; i++) {
        noa_buf_append(out, b[i].data.data, b[i].data.len);
        noa_buf_put_be32(out, b[i].crc);
    }
    size_t xoff = out->len;
    noa_buf_putc(out, (char)NOA_CHUNK_EXTRA_SUMMARIES);
    noa_buf_put_uvarint(out, n);
    for (size_t i = 0; i < n; i++) {
        noa_buf_put_uvarint(out, b[i].sum.len);
        noa_buf_append(out, b[i].sum.data, b[i].sum.len);
    }
    noa_buf_put_be32(out, noa_crc32c(0, out->data + xoff, out->len - xoff));
    size_t xlen = out->len - xoff, moff = out->len, off = NOA_CHUNK_HEADER_SIZE;
    noa_buf_put_uvarint(out, n);
    for (size_t i = 0; i < n; i++) {
        noa_buf_put_uvarint(out, b[i].n_entries);
        noa_buf_put_varint(out, b[i].min_ts);
        noa_buf_put_varint(out, b[i].max_ts);
        noa_buf_put_uvarint(out, off);
        noa_buf_put_uvarint(out, b[i].raw_len);
        noa_buf_put_uvarint(out, b[i].data.len);
        off += b[i].data.len + 4;
    }
    size_t mlen = out->len - moff;
    noa_buf_put_be32(out, noa_crc32c(0, out->data + moff, mlen));
    noa_buf_put_be64(out, xlen);
    noa_buf_put_be64(out, xoff);
    noa_buf_put_be64(out, mlen);
    noa_buf_put_be64(out, moff);
}

/* Columns travel through the chunk file (kind-2 section) and read back as
 * sealed; chunks written before columns (kind 1) open with summaries and
 * no columns; a column length running past the section is corrupt. */
static void test_columns(void **state)
{
    (void)state;
    struct noa_chunk_block b[2];
    struct noa_buf out = {0};
    struct noa_chunk_reader r;
    struct noa_error err = {0};
    seal_plain(&b[0], 300, 1700000000000000000LL, 1000000);
    seal_plain(&b[1], 5, 1700000001000000000LL, 3);
    for (int i = 0; i < 2; i++)
        assert_true(b[i].col.len > 0);
    assert_int_equal(noa_chunk_encode(b, 2, &out, NULL), 0);
    assert_int_equal(noa_chunk_open(out.data, out.len, &r, &err), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(r.blocks[i].col_len, b[i].col.len);
        assert_memory_equal(r.blocks[i].col, b[i].col.data, b[i].col.len);
        assert_memory_equal(r.blocks[i].sum, b[i].sum.data, b[i].sum.len);
        /* the column agrees with the decompressed block */
        struct noa_buf raw = {0};
        struct noa_chunk_iter it;
        struct noa_chunk_entry e;
        struct noa_blockcol_iter ci;
        struct noa_blockcol_entry ce;
        assert_int_equal(noa_chunk_block_decompress(&r, (size_t)i, &raw, NULL), 0);
        assert_int_equal(noa_blockcol_iter_init(&ci, r.blocks[i].col, r.blocks[i].col_len,
                                                r.blocks[i].n_entries, r.blocks[i].min_ts,
                                                r.blocks[i].max_ts, NULL),
                         0);
        noa_chunk_iter_init(&it, raw.data, raw.len);
        while (noa_chunk_iter_next(&it, &e, NULL) == 1) {
            assert_int_equal(noa_blockcol_next(&ci, &ce, NULL), 1);
            assert_int_equal(ce.ts_ns, e.ts_ns);
            assert_int_equal(ce.line_len, e.line.len);
        }
        assert_int_equal(noa_blockcol_next(&ci, &ce, NULL), 0);
        noa_buf_fini(&raw);
    }
    noa_chunk_reader_fini(&r);

    /* kind 1: summaries, no columns */
    noa_buf_reset(&out);
    encode_kind1(b, 2, &out);
    assert_int_equal(noa_chunk_open(out.data, out.len, &r, &err), 0);
    for (int i = 0; i < 2; i++) {
        assert_null(r.blocks[i].col);
        assert_int_equal(r.blocks[i].col_len, 0);
        assert_memory_equal(r.blocks[i].sum, b[i].sum.data, b[i].sum.len);
    }
    noa_chunk_reader_fini(&r);

    /* kind 2 with the last column's length one past the section */
    noa_buf_reset(&out);
    assert_int_equal(noa_chunk_encode(b, 2, &out, NULL), 0);
    unsigned char *c = (unsigned char *)out.data;
    uint64_t xlen = noa_get_be64(c + out.len - 32), xoff = noa_get_be64(c + out.len - 24);
    size_t body = (size_t)xlen - 4, at = (size_t)xoff + body - b[1].col.len - 1;
    assert_int_equal(c[at], b[1].col.len); /* a one-byte length */
    c[at]++;
    reseal_extra(&out, body);
    assert_int_equal(noa_chunk_open(out.data, out.len, &r, &err), NOA_ECORRUPT);
    assert_non_null(strstr(err.msg, "column"));
    noa_chunk_block_fini(&b[0]);
    noa_chunk_block_fini(&b[1]);
    noa_buf_fini(&out);
}

/* A block's CRC is checked when it is read, not at open: a damaged block
 * fails alone, and the others (and the summaries) stay readable. */
static void test_block_crc_lazy(void **state)
{
    (void)state;
    struct noa_buf out = {0}, raw = {0};
    struct noa_chunk_reader r;
    struct noa_error err = {0};
    build_chunk(&out, 2, 50, NULL);
    assert_int_equal(noa_chunk_open(out.data, out.len, &r, NULL), 0);
    size_t at = (size_t)r.blocks[1].offset + 3;
    noa_chunk_reader_fini(&r);
    out.data[at] ^= 0x10;
    assert_int_equal(noa_chunk_open(out.data, out.len, &r, NULL), 0);
    assert_non_null(r.blocks[1].sum);
    assert_int_equal(noa_chunk_block_inflate(&r, 1, &raw, &err), NOA_ECORRUPT);
    assert_non_null(strstr(err.msg, "checksum mismatch"));
    assert_int_equal(noa_chunk_block_decompress(&r, 1, &raw, &err), NOA_ECORRUPT);
    assert_int_equal(noa_chunk_block_inflate(&r, 0, &raw, NULL), 0);
    assert_int_equal(raw.len, r.blocks[0].raw_len);
    assert_int_equal(noa_chunk_block_inflate(&r, 2, &raw, NULL), NOA_EINVAL);
    noa_chunk_reader_fini(&r);
    noa_buf_fini(&out);
    noa_buf_fini(&raw);
}

static void test_open_versions(void **state)
{
    (void)state;
    struct noa_buf out = {0};
    struct noa_chunk_reader r;
    struct noa_error err = {0};
    build_chunk(&out, 1, 10, NULL);
    out.data[4] = 4; /* a Loki v4 chunk */
    assert_int_equal(noa_chunk_open(out.data, out.len, &r, &err), NOA_EUNSUPP);
    assert_non_null(strstr(err.msg, "version 4"));
    out.data[4] = (char)NOA_CHUNK_FORMAT_V1;
    out.data[5] = 1; /* gzip */
    assert_int_equal(noa_chunk_open(out.data, out.len, &r, &err), NOA_EUNSUPP);
    assert_non_null(strstr(err.msg, "codec 1"));
    out.data[5] = 3; /* Loki's lz4-64k: noa writes only 7 for lz4 */
    assert_int_equal(noa_chunk_open(out.data, out.len, &r, &err), NOA_EUNSUPP);
    out.data[5] = 9;
    out.data[0] = 0;
    assert_int_equal(noa_chunk_open(out.data, out.len, &r, &err), NOA_ECORRUPT);
    assert_non_null(strstr(err.msg, "magic"));
    noa_buf_fini(&out);
}

/* A meta that passes its CRC but lies about raw_len is caught before any
 * allocation of that size. */
static void test_open_lying_meta(void **state)
{
    (void)state;
    struct noa_chunk_block b;
    struct noa_buf raw = {0}, out = {0}, back = {0};
    struct noa_chunk_reader r;
    struct noa_error err = {0};
    build_raw(&raw, 20, 0, 1);
    assert_int_equal(noa_chunk_block_seal(raw.data, raw.len, 0, &b, NULL), 0);
    b.raw_len += 1; /* the frame still says the true size */
    assert_int_equal(noa_chunk_encode(&b, 1, &out, NULL), 0);
    assert_int_equal(noa_chunk_open(out.data, out.len, &r, NULL), 0);
    assert_int_equal(noa_chunk_block_decompress(&r, 0, &back, &err), NOA_ECORRUPT);
    assert_non_null(strstr(err.msg, "frame size"));
    noa_chunk_reader_fini(&r);
    noa_buf_reset(&out);

    b.raw_len -= 1;
    b.n_entries += 1; /* one entry more than the block holds */
    assert_int_equal(noa_chunk_encode(&b, 1, &out, NULL), 0);
    assert_int_equal(noa_chunk_open(out.data, out.len, &r, NULL), 0);
    assert_int_equal(noa_chunk_block_decompress(&r, 0, &back, &err), NOA_ECORRUPT);
    assert_non_null(strstr(err.msg, "entries"));
    assert_int_equal(back.len, 0);
    noa_chunk_reader_fini(&r);
    noa_buf_reset(&out);

    b.n_entries -= 1;
    b.max_ts += 1; /* bounds that no entry reaches */
    assert_int_equal(noa_chunk_encode(&b, 1, &out, NULL), 0);
    assert_int_equal(noa_chunk_open(out.data, out.len, &r, NULL), 0);
    assert_int_equal(noa_chunk_block_decompress(&r, 0, &back, &err), NOA_ECORRUPT);
    noa_chunk_reader_fini(&r);

    noa_chunk_block_fini(&b);
    noa_buf_fini(&raw);
    noa_buf_fini(&out);
    noa_buf_fini(&back);
}

static void test_block_check(void **state)
{
    (void)state;
    struct noa_buf raw = {0};
    noa_chunk_block_append(&raw, 5, NOA_STR("x"), NULL, 0);
    noa_chunk_block_append(&raw, 3, NOA_STR("y"), NULL, 0);
    struct noa_error err = {0};
    assert_int_equal(noa_chunk_block_check(raw.data, raw.len, 2, 3, 5, &err), NOA_ECORRUPT);
    assert_non_null(strstr(err.msg, "out of order"));
    noa_buf_reset(&raw);
    noa_chunk_block_append(&raw, 3, NOA_STR("y"), NULL, 0);
    noa_chunk_block_append(&raw, 5, NOA_STR("x"), NULL, 0);
    assert_int_equal(noa_chunk_block_check(raw.data, raw.len, 2, 3, 5, NULL), 0);
    assert_int_equal(noa_chunk_block_check(raw.data, raw.len, 3, 3, 5, NULL), NOA_ECORRUPT);
    assert_int_equal(noa_chunk_block_check(raw.data, raw.len, 2, 2, 5, NULL), NOA_ECORRUPT);
    noa_buf_fini(&raw);
}

static void test_key(void **state)
{
    (void)state;
    char key[NOA_CHUNK_KEY_MAX];
    struct noa_chunk_summary sum = {.from_ns = 1700000000123456789LL,
                                    .through_ns = 1700000001000000000LL,
                                    .checksum = 0x00c0ffee};
    assert_int_equal(noa_chunk_key(key, sizeof(key), "fake", 0xab, &sum), 0);
    /* from floors to ms, an exact ms through stays */
    assert_string_equal(key, "fake/00000000000000ab/18bcfe5687b:18bcfe56be8:00c0ffee");

    struct noa_chunk_key_parts k;
    assert_int_equal(noa_chunk_key_parse(noa_str_c(key), &k), 0);
    assert_true(noa_str_eq_c(k.tenant, "fake"));
    assert_int_equal(k.fp, 0xab);
    assert_int_equal(k.from_ms, 1700000000123LL);
    assert_int_equal(k.through_ms, 1700000001000LL);
    assert_int_equal(k.checksum, 0x00c0ffee);

    /* through rounds up; negative times print as Go does */
    sum.from_ns = -1;
    sum.through_ns = 1;
    assert_int_equal(noa_chunk_key(key, sizeof(key), "t", UINT64_MAX, &sum), 0);
    assert_string_equal(key, "t/ffffffffffffffff/-1:1:00c0ffee");
    assert_int_equal(noa_chunk_key_parse(noa_str_c(key), &k), 0);
    assert_int_equal(k.from_ms, -1);
    assert_int_equal(k.through_ms, 1);
    assert_int_equal(noa_chunk_from_ms(-1000000), -1);
    assert_int_equal(noa_chunk_through_ms(-1999999), -1);

    assert_int_equal(noa_chunk_key(key, 20, "t", 1, &sum), NOA_ETOOBIG);
    assert_int_equal(noa_chunk_key(key, sizeof(key), "a/b", 1, &sum), NOA_EINVAL);
    assert_int_equal(noa_chunk_key(key, sizeof(key), "", 1, &sum), NOA_EINVAL);

    const char *bad[] = {"",
                         "t",
                         "t/",
                         "t/ab/1:2:00c0ffee",
                         "t/00000000000000ab/1:2:c0ffee",
                         "t/00000000000000ab/1:2:00c0ffee0",
                         "t/00000000000000ab/1;2:00c0ffee",
                         "t/00000000000000ab/x:2:00c0ffee",
                         "/00000000000000ab/1:2:00c0ffee",
                         "t/00000000000000AB/1:2:00c0ffee"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (noa_chunk_key_parse(noa_str_c(bad[i]), &k) != NOA_EINVAL)
            fail_msg("accepted bad key %s", bad[i]);
}

static uint64_t xs(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Timestamps decode as noa_get_varint decodes them, whatever their
 * length and whatever follows (the word-wise decoder reads 10 bytes when
 * there are 10, the byte loop otherwise): random values of every bit
 * length, and random byte strings, some with a 10th byte over 1. */
static void test_timestamp_varints(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int round = 0; round < 200000; round++) {
        unsigned char raw[24];
        size_t n;
        if (round % 2) {
            unsigned bits = (unsigned)(xs(&x) % 65);
            uint64_t v = bits == 64 ? xs(&x) : xs(&x) & ((1ull << bits) - 1);
            int64_t ts = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            struct noa_buf b = {0};
            noa_chunk_block_append(&b, ts, NOA_STR(""), NULL, 0);
            assert_true(b.len <= 12);
            memcpy(raw, b.data, b.len);
            n = b.len;
            noa_buf_fini(&b);
            /* sometimes padding after the entry: the next entry's bytes */
            if (xs(&x) % 2) {
                raw[n++] = 0;
                raw[n++] = 0;
                raw[n++] = 0;
            }
        } else {
            unsigned k = (unsigned)(xs(&x) % 12);
            n = k + 2;
            for (unsigned i = 0; i < k; i++)
                raw[i] = (unsigned char)(xs(&x) | (i + 1 < k ? 0x80 : 0));
            if (k == 10 && xs(&x) % 2)
                raw[9] = (unsigned char)(xs(&x) % 4);
            raw[k] = 0;     /* line length 0 */
            raw[k + 1] = 0; /* no metadata */
        }
        int64_t want;
        size_t k = noa_get_varint(raw, n, &want);
        struct noa_chunk_iter it;
        struct noa_chunk_entry e;
        noa_chunk_iter_init(&it, raw, n);
        int rc = noa_chunk_iter_next(&it, &e, NULL);
        if (!k) {
            assert_int_equal(rc, NOA_ECORRUPT);
            continue;
        }
        if (n - k < 2) {
            assert_true(rc < 0);
            continue;
        }
        assert_int_equal(rc, 1);
        assert_int_equal(e.ts_ns, want);
        assert_ptr_equal(e.line.p, (const char *)raw + k + 1);
    }
}

/* noa_chunk_iter_skip passes over exactly the entries whose line ends
 * before the offset, counting them and their line bytes, leaves the next
 * one to noa_chunk_iter_next, and fails on a damaged entry. */
static void test_iter_skip(void **state)
{
    (void)state;
    uint64_t x = 7;
    for (int round = 0; round < 300; round++) {
        struct noa_buf raw = {0};
        unsigned n = 1 + (unsigned)(xs(&x) % 40);
        size_t ends[41];
        size_t lens[41];
        for (unsigned i = 0; i < n; i++) {
            char line[300];
            size_t len = xs(&x) % sizeof(line);
            memset(line, 'a' + (int)(i % 26), len);
            struct noa_label meta = {NOA_STR("k"), NOA_STR("v")};
            noa_chunk_block_append(&raw, 1700000000000000000LL + (int64_t)(xs(&x) % 1000000),
                                   (struct noa_str){line, len}, &meta, xs(&x) % 2 ? 1 : 0);
            lens[i] = len;
        }
        struct noa_chunk_iter it;
        struct noa_chunk_entry e;
        noa_chunk_iter_init(&it, raw.data, raw.len);
        for (unsigned i = 0; i < n; i++) {
            assert_int_equal(noa_chunk_iter_next(&it, &e, NULL), 1);
            ends[i] = (size_t)((const unsigned char *)e.line.p - (const unsigned char *)raw.data) +
                      e.line.len;
        }
        size_t upto = xs(&x) % (raw.len + 2);
        unsigned first = (unsigned)(xs(&x) % n); /* skip from there */
        noa_chunk_iter_init(&it, raw.data, raw.len);
        for (unsigned i = 0; i < first; i++)
            assert_int_equal(noa_chunk_iter_next(&it, &e, NULL), 1);
        uint64_t cnt = 5, bytes = 7, want_bytes = 0;
        unsigned stop = first;
        while (stop < n && ends[stop] < upto)
            want_bytes += lens[stop++];
        int rc = noa_chunk_iter_skip(&it, upto, &cnt, &bytes, NULL);
        assert_int_equal(rc, stop < n ? 1 : 0);
        assert_int_equal(cnt, 5 + (stop - first));
        assert_int_equal(bytes, 7 + want_bytes);
        if (stop < n) {
            assert_int_equal(noa_chunk_iter_next(&it, &e, NULL), 1);
            assert_int_equal(e.line.len, lens[stop]);
            assert_true(ends[stop] >= upto);
        } else {
            assert_int_equal(noa_chunk_iter_next(&it, &e, NULL), 0);
        }
        /* a block cut inside its last entry fails the skip over it */
        noa_chunk_iter_init(&it, raw.data, raw.len - 1);
        cnt = bytes = 0;
        assert_int_equal(noa_chunk_iter_skip(&it, raw.len + 1, &cnt, &bytes, NULL), NOA_ECORRUPT);
        assert_int_equal(cnt, n - 1);
        noa_buf_fini(&raw);
    }
}

/* Seals build_raw(n) out of order with codec into *b. */
static void seal_codec(struct noa_chunk_block *b, int codec, int n, int64_t base)
{
    struct noa_buf raw = {0};
    build_raw(&raw, n, base, -1000); /* descending: sealing must sort */
    assert_int_equal(noa_chunk_block_seal_codec(raw.data, raw.len, codec, 0, b, NULL), 0);
    assert_int_equal(b->codec, codec);
    noa_buf_fini(&raw);
}

/* Both codecs round-trip through encode/open/decompress to the same sorted
 * bytes; the chunk's codec byte says which one wrote it, and one reader
 * (chunks carry their codec, so no configuration is involved) reads both. */
static void test_lz4_roundtrip(void **state)
{
    (void)state;
    struct noa_chunk_block bz, bl;
    struct noa_buf cz = {0}, cl = {0}, rz = {0}, rl = {0};
    struct noa_chunk_reader r;
    seal_codec(&bz, NOA_CHUNK_CODEC_ZSTD, 300, 1700000000000000000LL);
    seal_codec(&bl, NOA_CHUNK_CODEC_LZ4, 300, 1700000000000000000LL);
    assert_int_equal(bz.raw_len, bl.raw_len);
    assert_int_equal(bz.min_ts, bl.min_ts);
    assert_int_equal(bz.max_ts, bl.max_ts);
    assert_int_equal(bz.sum.len, bl.sum.len);
    assert_int_equal(bz.col.len, bl.col.len);
    /* Different compressed bytes: lz4 really was used. */
    assert_true(bz.data.len != bl.data.len || memcmp(bz.data.data, bl.data.data, bz.data.len));
    assert_true(bl.data.len < bl.raw_len);
    assert_int_equal(noa_chunk_encode(&bz, 1, &cz, NULL), 0);
    assert_int_equal(noa_chunk_encode(&bl, 1, &cl, NULL), 0);
    assert_int_equal((unsigned char)cz.data[5], NOA_CHUNK_CODEC_ZSTD);
    assert_int_equal((unsigned char)cl.data[5], NOA_CHUNK_CODEC_LZ4);

    assert_int_equal(noa_chunk_open(cz.data, cz.len, &r, NULL), 0);
    assert_int_equal(r.codec, NOA_CHUNK_CODEC_ZSTD);
    assert_int_equal(noa_chunk_block_decompress(&r, 0, &rz, NULL), 0);
    noa_chunk_reader_fini(&r);
    assert_int_equal(noa_chunk_open(cl.data, cl.len, &r, NULL), 0);
    assert_int_equal(r.codec, NOA_CHUNK_CODEC_LZ4);
    assert_non_null(r.blocks[0].sum);
    assert_int_equal(noa_chunk_block_decompress(&r, 0, &rl, NULL), 0);
    noa_chunk_reader_fini(&r);
    assert_int_equal(rz.len, bz.raw_len);
    assert_int_equal(rl.len, rz.len);
    assert_memory_equal(rl.data, rz.data, rz.len);

    /* The sealed bytes are sorted. */
    struct noa_chunk_iter it;
    struct noa_chunk_entry e;
    int64_t prev = INT64_MIN;
    int n = 0;
    noa_chunk_iter_init(&it, rl.data, rl.len);
    while (noa_chunk_iter_next(&it, &e, NULL) == 1) {
        assert_true(e.ts_ns >= prev);
        prev = e.ts_ns;
        n++;
    }
    assert_int_equal(n, 300);

    /* Sealing with codec 0 means zstd; unknown codecs are refused. */
    struct noa_chunk_block b0;
    assert_int_equal(noa_chunk_block_seal_codec(rz.data, rz.len, 0, 0, &b0, NULL), 0);
    assert_int_equal(b0.codec, NOA_CHUNK_CODEC_ZSTD);
    noa_chunk_block_fini(&b0);
    assert_int_equal(noa_chunk_block_seal_codec(rz.data, rz.len, 1, 0, &b0, NULL), NOA_EINVAL);
    assert_null(b0.data.data);

    noa_chunk_block_fini(&bz);
    noa_chunk_block_fini(&bl);
    noa_buf_fini(&cz);
    noa_buf_fini(&cl);
    noa_buf_fini(&rz);
    noa_buf_fini(&rl);
}

/* A damaged lz4 block whose CRC was fixed up (so only the codec can tell)
 * is a clean NOA_ECORRUPT, as is a meta that lies about the raw length. */
static void test_lz4_corrupt(void **state)
{
    (void)state;
    struct noa_chunk_block b;
    struct noa_buf c = {0}, raw = {0}, good = {0};
    struct noa_chunk_reader r;
    struct noa_error err = {0};
    seal_codec(&b, NOA_CHUNK_CODEC_LZ4, 200, 1700000000000000000LL);
    assert_int_equal(noa_chunk_encode(&b, 1, &c, NULL), 0);
    assert_int_equal(noa_chunk_open(c.data, c.len, &r, NULL), 0);
    size_t off = (size_t)r.blocks[0].offset, clen = (size_t)r.blocks[0].compressed_len;
    size_t rlen = (size_t)r.blocks[0].raw_len;
    noa_chunk_reader_fini(&r);
    assert_int_equal(noa_chunk_codec_decompress(NOA_CHUNK_CODEC_LZ4, c.data + off, clen, rlen,
                                                &good, NULL), 0);

    /* Exact length is required both ways. */
    assert_int_equal(noa_chunk_codec_decompress(NOA_CHUNK_CODEC_LZ4, c.data + off, clen,
                                                rlen - 1, &raw, &err), NOA_ECORRUPT);
    assert_int_equal(raw.len, 0);
    assert_int_equal(noa_chunk_codec_decompress(NOA_CHUNK_CODEC_LZ4, c.data + off, clen,
                                                rlen + 1, &raw, &err), NOA_ECORRUPT);
    assert_int_equal(noa_chunk_codec_decompress(NOA_CHUNK_CODEC_LZ4, c.data + off, clen - 1,
                                                rlen, &raw, &err), NOA_ECORRUPT);
    assert_int_equal(noa_chunk_codec_decompress(3, c.data + off, clen, rlen, &raw, &err),
                     NOA_ECORRUPT);

    /* Truncate the first sequence's token so decoding must fail, with a
     * valid CRC: the error comes from lz4, not the checksum. */
    c.data[off] = (char)0xFF;
    c.data[off + 1] = (char)0xFF;
    c.data[off + 2] = (char)0xFF;
    noa_buf_reset(&raw);
    uint32_t crc = noa_crc32c(0, c.data + off, clen);
    unsigned char be[4] = {(unsigned char)(crc >> 24), (unsigned char)(crc >> 16),
                           (unsigned char)(crc >> 8), (unsigned char)crc};
    memcpy(c.data + off + clen, be, 4);
    assert_int_equal(noa_chunk_open(c.data, c.len, &r, NULL), 0);
    assert_int_equal(noa_chunk_block_inflate(&r, 0, &raw, &err), NOA_ECORRUPT);
    assert_null(strstr(err.msg, "checksum"));
    assert_non_null(strstr(err.msg, "lz4"));
    noa_chunk_reader_fini(&r);

    /* Random single-byte damage: never a crash (ASan), never a wrong
     * length; either the exact original or NOA_ECORRUPT. */
    struct noa_buf blk = {0};
    noa_buf_append(&blk, b.data.data, b.data.len);
    uint64_t x = 12345;
    for (int k = 0; k < 2000; k++) {
        size_t at = (size_t)(xs(&x) % blk.len);
        char was = blk.data[at];
        blk.data[at] = (char)(was ^ (char)(1 + xs(&x) % 255));
        int rc = noa_chunk_codec_decompress(NOA_CHUNK_CODEC_LZ4, blk.data, blk.len, rlen, &raw,
                                            NULL);
        assert_true(rc == 0 || rc == NOA_ECORRUPT);
        if (rc == 0)
            assert_int_equal(raw.len, rlen);
        else
            assert_int_equal(raw.len, 0);
        blk.data[at] = was;
    }
    noa_buf_fini(&blk);
    noa_chunk_block_fini(&b);
    noa_buf_fini(&c);
    noa_buf_fini(&raw);
    noa_buf_fini(&good);
}

/* A chunk takes its last block's codec; a block of the other codec is
 * recompressed, so the whole chunk reads with one codec byte. */
static void test_mixed_codecs(void **state)
{
    (void)state;
    struct noa_chunk_block two[2];
    struct noa_buf c = {0}, raw = {0}, want[2] = {{0}, {0}};
    struct noa_chunk_reader r;
    const int codecs[2][2] = {{NOA_CHUNK_CODEC_ZSTD, NOA_CHUNK_CODEC_LZ4},
                              {NOA_CHUNK_CODEC_LZ4, NOA_CHUNK_CODEC_ZSTD}};
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 2; i++) {
            seal_codec(&two[i], codecs[k][i], 100 + i * 50,
                       1700000000000000000LL + (int64_t)i * 1000000000LL);
            noa_buf_reset(&want[i]);
            assert_int_equal(noa_chunk_codec_decompress(two[i].codec, two[i].data.data,
                                                        two[i].data.len, two[i].raw_len,
                                                        &want[i], NULL), 0);
        }
        noa_buf_reset(&c);
        struct noa_chunk_summary sum;
        assert_int_equal(noa_chunk_encode(two, 2, &c, &sum), 0);
        assert_int_equal(sum.entries, 250);
        assert_int_equal(noa_chunk_open(c.data, c.len, &r, NULL), 0);
        assert_int_equal(r.codec, codecs[k][1]);
        for (int i = 0; i < 2; i++) {
            assert_int_equal(noa_chunk_block_decompress(&r, (size_t)i, &raw, NULL), 0);
            assert_int_equal(raw.len, want[i].len);
            assert_memory_equal(raw.data, want[i].data, raw.len);
        }
        /* The first block was recompressed: its stored length differs. */
        assert_int_not_equal(r.blocks[0].compressed_len, two[0].data.len);
        noa_chunk_reader_fini(&r);

        /* A damaged block that must be recompressed fails the encode,
         * leaving out as it was. */
        two[0].data.data[0] ^= 0x55;
        size_t before = c.len;
        assert_int_equal(noa_chunk_encode(two, 2, &c, NULL), NOA_ECORRUPT);
        assert_int_equal(c.len, before);
        for (int i = 0; i < 2; i++)
            noa_chunk_block_fini(&two[i]);
    }
    noa_buf_fini(&c);
    noa_buf_fini(&raw);
    noa_buf_fini(&want[0]);
    noa_buf_fini(&want[1]);
}

static void test_codec_names(void **state)
{
    (void)state;
    const char *lz4[] = {"lz4", "lz4-64k", "lz4-256k", "lz4-1M"};
    const char *zstd[] = {"none", "gzip", "snappy", "flate", "zstd", "lz4-4M", "LZ4", ""};
    for (size_t i = 0; i < sizeof(lz4) / sizeof(lz4[0]); i++)
        assert_int_equal(noa_chunk_codec_from_name(lz4[i]), NOA_CHUNK_CODEC_LZ4);
    for (size_t i = 0; i < sizeof(zstd) / sizeof(zstd[0]); i++)
        assert_int_equal(noa_chunk_codec_from_name(zstd[i]), NOA_CHUNK_CODEC_ZSTD);
    assert_int_equal(noa_chunk_codec_from_name(NULL), NOA_CHUNK_CODEC_ZSTD);
}

/* In-memory blocks know their codec; WAL snapshot bytes (no codec byte)
 * are recognised, so a snapshot written under either setting replays. */
static void test_block_codecs(void **state)
{
    (void)state;
    const int codecs[2] = {NOA_CHUNK_CODEC_ZSTD, NOA_CHUNK_CODEC_LZ4};
    struct noa_buf raw = {0}, back = {0}, first = {0};
    build_raw(&raw, 120, 1700000000000000000LL, 7);
    for (int k = 0; k < 2; k++) {
        struct noa_block *b, *c;
        assert_int_equal(noa_block_seal_codec(raw.data, raw.len, codecs[k], 0, &b, NULL), 0);
        assert_int_equal(b->cb.codec, codecs[k]);
        assert_int_equal(noa_block_decompress(b, &back, NULL), 0);
        assert_int_equal(back.len, raw.len);
        assert_memory_equal(back.data, raw.data, raw.len);
        struct noa_chunk_block meta = {.min_ts = b->cb.min_ts, .max_ts = b->cb.max_ts,
                                       .n_entries = b->cb.n_entries, .raw_len = b->cb.raw_len};
        assert_int_equal(noa_block_from_compressed(&meta, b->cb.data.data, b->cb.data.len, &c,
                                                   NULL), 0);
        assert_int_equal(c->cb.codec, codecs[k]);
        assert_int_equal(c->cb.sum.len, b->cb.sum.len); /* rebuilt: it decompressed */
        assert_int_equal(noa_block_decompress(c, &back, NULL), 0);
        assert_memory_equal(back.data, raw.data, raw.len);
        if (k == 0) {
            noa_buf_append(&first, b->cb.data.data, b->cb.data.len);
        } else {
            /* Damaged lz4 bytes in memory: a clean error on read. */
            c->cb.data.data[0] = (char)0xFF;
            c->cb.data.data[1] = (char)0xFF;
            c->cb.crc = noa_crc32c(0, c->cb.data.data, c->cb.data.len);
            assert_int_equal(noa_block_inflate(c, &back, NULL), NOA_ECORRUPT);
        }
        noa_block_unref(b);
        noa_block_unref(c);
    }
    assert_int_equal(noa_chunk_codec_sniff(first.data, first.len, raw.len), NOA_CHUNK_CODEC_ZSTD);
    assert_int_equal(noa_chunk_codec_sniff(first.data, first.len, raw.len + 1),
                     NOA_CHUNK_CODEC_LZ4);
    noa_buf_fini(&raw);
    noa_buf_fini(&back);
    noa_buf_fini(&first);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_iterate),
        cmocka_unit_test(test_iterate_truncated),
        cmocka_unit_test(test_iterate_bad_meta_count),
        cmocka_unit_test(test_seal_sorted_roundtrip),
        cmocka_unit_test(test_seal_sorts_stably),
        cmocka_unit_test(test_seal_errors),
        cmocka_unit_test(test_seal_nomem),
        cmocka_unit_test(test_encode_layout),
        cmocka_unit_test(test_open_rejects_corruption),
        cmocka_unit_test(test_summaries_optional),
        cmocka_unit_test(test_summaries_malformed),
        cmocka_unit_test(test_columns),
        cmocka_unit_test(test_block_crc_lazy),
        cmocka_unit_test(test_open_versions),
        cmocka_unit_test(test_open_lying_meta),
        cmocka_unit_test(test_block_check),
        cmocka_unit_test(test_key),
        cmocka_unit_test(test_timestamp_varints),
        cmocka_unit_test(test_iter_skip),
        cmocka_unit_test(test_lz4_roundtrip),
        cmocka_unit_test(test_lz4_corrupt),
        cmocka_unit_test(test_mixed_codecs),
        cmocka_unit_test(test_codec_names),
        cmocka_unit_test(test_block_codecs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
