/* Reference-counted sealed blocks (see block.h). Any thread. */
#include "ingester/block.h"
#include "common/mem.h"
#include "ingester/blockcol.h"
#include "ingester/blocksum.h"

int noa_block_seal(const void *raw, size_t len, int level, struct noa_block **out,
                   struct noa_error *err)
{
    return noa_block_seal_codec(raw, len, NOA_CHUNK_CODEC_ZSTD, level, out, err);
}

int noa_block_seal_codec(const void *raw, size_t len, int codec, int level, struct noa_block **out,
                         struct noa_error *err)
{
    struct noa_block *b = noa_xcalloc(1, sizeof(*b));
    int rc = noa_chunk_block_seal_codec(raw, len, codec, level, &b->cb, err);
    if (rc < 0) {
        noa_free(b);
        return rc;
    }
    atomic_init(&b->refs, 1);
    *out = b;
    return 0;
}

int noa_block_from_compressed(const struct noa_chunk_block *meta, const void *data, size_t len,
                              struct noa_block **out, struct noa_error *err)
{
    if (len == 0 || meta->n_entries == 0)
        return noa_error_set(err, NOA_ECORRUPT, "empty block");
    struct noa_block *b = noa_xcalloc(1, sizeof(*b));
    b->cb.min_ts = meta->min_ts;
    b->cb.max_ts = meta->max_ts;
    b->cb.n_entries = meta->n_entries;
    b->cb.raw_len = meta->raw_len;
    b->cb.codec = (uint8_t)(meta->codec ? meta->codec
                                        : noa_chunk_codec_sniff(data, len, meta->raw_len));
    noa_buf_append(&b->cb.data, data, len);
    b->cb.crc = noa_crc32c(0, data, len);
    atomic_init(&b->refs, 1);
    /* WAL snapshots carry no summary or column: rebuild them (replay runs
     * once), or go without when the block does not decompress cleanly (it
     * is then always read, and the read reports the damage). */
    if (meta->raw_len <= NOA_CHUNK_MAX_BLOCK_RAW) {
        struct noa_buf raw = {0};
        if (noa_block_decompress(b, &raw, NULL) == 0) {
            if (noa_blocksum_build(raw.data, raw.len, &b->cb.sum) < 0)
                b->cb.sum.len = 0;
            if (noa_blockcol_build(raw.data, raw.len, &b->cb.col) < 0)
                b->cb.col.len = 0;
        }
        noa_buf_fini(&raw);
    }
    *out = b;
    return 0;
}

struct noa_block *noa_block_ref(struct noa_block *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}

void noa_block_unref(struct noa_block *b)
{
    if (!b)
        return;
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    noa_chunk_block_fini(&b->cb);
    noa_free(b);
}

int noa_block_inflate(const struct noa_block *b, struct noa_buf *raw, struct noa_error *err)
{
    if (noa_crc32c(0, b->cb.data.data, b->cb.data.len) != b->cb.crc)
        return noa_error_set(err, NOA_ECORRUPT, "in-memory block fails its checksum");
    if (b->cb.raw_len > NOA_CHUNK_MAX_BLOCK_RAW)
        return noa_error_set(err, NOA_ECORRUPT, "in-memory block of %u raw bytes", b->cb.raw_len);
    return noa_chunk_codec_decompress(b->cb.codec, b->cb.data.data, b->cb.data.len, b->cb.raw_len,
                                      raw, err);
}

int noa_block_decompress(const struct noa_block *b, struct noa_buf *raw, struct noa_error *err)
{
    int rc = noa_block_inflate(b, raw, err);
    if (rc < 0)
        return rc;
    return noa_chunk_block_check(raw->data, raw->len, b->cb.n_entries, b->cb.min_ts, b->cb.max_ts,
                                 err);
}
