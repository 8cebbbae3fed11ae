/*
 * The chunk format (see ingester/chunk.h for the byte layout): raw block
 * entries, sealing (stable sort + zstd or lz4 + CRC32C), chunk encoding, and a
 * bounds-checked reader. The only file that calls zstd or lz4 for chunks.
 * No shared state; any thread.
 */
#include "ingester/chunk.h"

#include "common/mem.h"
#include "ingester/blockcol.h"
#include "ingester/blocksum.h"

#include <inttypes.h>
#include <limits.h>
#include <lz4.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

/* ---- raw blocks ------------------------------------------------------------ */

void noa_chunk_block_append(struct noa_buf *raw, int64_t ts_ns, struct noa_str line,
                            const struct noa_label *meta, uint32_t n_meta)
{
    noa_buf_put_varint(raw, ts_ns);
    noa_buf_put_uvarint(raw, line.len);
    noa_buf_append(raw, line.p, line.len);
    noa_buf_put_uvarint(raw, n_meta);
    for (uint32_t i = 0; i < n_meta; i++) {
        noa_buf_put_uvarint(raw, meta[i].name.len);
        noa_buf_append(raw, meta[i].name.p, meta[i].name.len);
        noa_buf_put_uvarint(raw, meta[i].value.len);
        noa_buf_append(raw, meta[i].value.p, meta[i].value.len);
    }
}

void noa_chunk_iter_init(struct noa_chunk_iter *it, const void *raw, size_t len)
{
    it->p = raw;
    it->len = len;
    it->off = 0;
    it->err = 0;
}

/* A uvarint of 3..10 bytes with at least 10 bytes readable: one 8-byte
 * load, the terminator found by its clear high bit, the 7-bit groups
 * packed by three shift-and-mask steps. Nanosecond timestamps take 9
 * bytes, and every entry starts with one. Same result as noa_get_uvarint
 * (0 for a 10th byte over 1). */
static inline size_t get_uvarint_wide(const unsigned char *p, uint64_t *v)
{
    uint64_t x;
    memcpy(&x, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    uint64_t stop = ~x & 0x8080808080808080ull;
    size_t k = 8;
    if (stop) {
        k = (size_t)__builtin_ctzll(stop) / 8 + 1;
        if (k < 8)
            x &= (1ull << (8 * k)) - 1;
    }
    x &= 0x7f7f7f7f7f7f7f7full;
    x = (x & 0x007f007f007f007full) | ((x & 0x7f007f007f007f00ull) >> 1);
    x = (x & 0x00003fff00003fffull) | ((x & 0x3fff00003fff0000ull) >> 2);
    x = (x & 0x000000000fffffffull) | ((x & 0x0fffffff00000000ull) >> 4);
    if (stop) {
        *v = x;
        return k;
    }
    if (p[8] < 0x80) {
        *v = x | (uint64_t)p[8] << 56;
        return 9;
    }
    if (p[9] > 1)
        return 0;
    *v = x | (uint64_t)(p[8] & 0x7f) << 56 | (uint64_t)p[9] << 63;
    return 10;
}

/* noa_get_uvarint with the one- and two-byte cases inline (lengths and
 * counts are almost always that short, and the scan decodes several per
 * entry) and the long ones read word-wise when the input allows. */
static inline size_t get_uvarint(const unsigned char *p, size_t n, uint64_t *v)
{
    if (n >= 1 && p[0] < 0x80) {
        *v = p[0];
        return 1;
    }
    if (n >= 2 && p[1] < 0x80) {
        *v = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
        return 2;
    }
    if (n >= 10)
        return get_uvarint_wide(p, v);
    return noa_get_uvarint(p, n, v);
}

/* Reads a uvarint length at p[*off..n) that must also fit in what follows. */
static inline __attribute__((always_inline)) int get_len(const unsigned char *p, size_t n,
                                                         size_t *off, size_t *out)
{
    uint64_t v;
    size_t k = get_uvarint(p + *off, n - *off, &v);
    if (!k)
        return -1;
    *off += k;
    if (v > n - *off)
        return -1;
    *out = (size_t)v;
    return 0;
}

static int iter_fail(struct noa_chunk_iter *it, size_t at, const char *what, struct noa_error *err)
{
    it->err = NOA_ECORRUPT;
    return noa_error_set(err, NOA_ECORRUPT, "chunk block: %s at offset %zu", what, at);
}

/* noa_chunk_iter_next, inlined into the skip loop too. */
static inline __attribute__((always_inline)) int
iter_next(struct noa_chunk_iter *it, struct noa_chunk_entry *e, struct noa_error *err)
{
    if (it->err)
        return noa_error_set(err, it->err, "chunk block: iteration already failed");
    if (it->off >= it->len)
        return 0;
    const unsigned char *p = it->p;
    size_t n = it->len, off = it->off, start = it->off, k, len;
    uint64_t n_meta;

    uint64_t zz;
    k = get_uvarint(p + off, n - off, &zz);
    if (!k)
        return iter_fail(it, start, "truncated timestamp", err);
    e->ts_ns = (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);
    off += k;
    if (get_len(p, n, &off, &len) < 0)
        return iter_fail(it, start, "bad line length", err);
    e->line = (struct noa_str){(const char *)p + off, len};
    off += len;
    k = get_uvarint(p + off, n - off, &n_meta);
    if (!k)
        return iter_fail(it, start, "truncated metadata count", err);
    off += k;
    /* Each pair takes at least two bytes, so a count the rest cannot hold is
     * rejected before walking it. */
    if (n_meta > (n - off) / 2 || n_meta > UINT32_MAX)
        return iter_fail(it, start, "bad metadata count", err);
    size_t meta_start = off;
    for (uint64_t i = 0; i < n_meta; i++) {
        if (get_len(p, n, &off, &len) < 0)
            return iter_fail(it, start, "bad metadata name length", err);
        off += len;
        if (get_len(p, n, &off, &len) < 0)
            return iter_fail(it, start, "bad metadata value length", err);
        off += len;
    }
    e->n_meta = (uint32_t)n_meta;
    e->meta = (struct noa_str){(const char *)p + meta_start, off - meta_start};
    it->off = off;
    return 1;
}

int noa_chunk_iter_next(struct noa_chunk_iter *it, struct noa_chunk_entry *e, struct noa_error *err)
{
    return iter_next(it, e, err);
}

int noa_chunk_iter_skip(struct noa_chunk_iter *it, size_t upto, uint64_t *n, uint64_t *bytes,
                        struct noa_error *err)
{
    struct noa_chunk_entry e = {0};
    uint64_t k = 0, b = 0;
    int rc;
    for (;;) {
        size_t at = it->off;
        rc = iter_next(it, &e, err);
        if (rc <= 0)
            break;
        size_t end = (size_t)((const unsigned char *)e.line.p - it->p) + e.line.len;
        if (end >= upto) {
            it->off = at; /* left for the caller's next read */
            rc = 1;
            break;
        }
        k++;
        b += e.line.len;
    }
    *n += k;
    *bytes += b;
    return rc;
}

int noa_chunk_meta_next(const struct noa_chunk_entry *e, size_t *pos, struct noa_label *out)
{
    const unsigned char *p = (const unsigned char *)e->meta.p;
    size_t n = e->meta.len, off = *pos, len;
    if (off >= n)
        return 0;
    /* iter_next validated every pair, so these reads stay in bounds. */
    if (get_len(p, n, &off, &len) < 0)
        return 0;
    out->name = (struct noa_str){(const char *)p + off, len};
    off += len;
    if (get_len(p, n, &off, &len) < 0)
        return 0;
    out->value = (struct noa_str){(const char *)p + off, len};
    off += len;
    *pos = off;
    return 1;
}

int noa_chunk_block_check(const void *raw, size_t len, uint64_t n_entries, int64_t min_ts,
                          int64_t max_ts, struct noa_error *err)
{
    struct noa_chunk_iter it;
    struct noa_chunk_entry e;
    uint64_t count = 0;
    int64_t prev = INT64_MIN, lo = INT64_MAX, hi = INT64_MIN;
    int rc;

    noa_chunk_iter_init(&it, raw, len);
    while ((rc = noa_chunk_iter_next(&it, &e, err)) == 1) {
        if (e.ts_ns < prev)
            return noa_error_set(err, NOA_ECORRUPT,
                                 "chunk block: entry %" PRIu64 " out of order at offset %zu", count,
                                 it.off);
        prev = e.ts_ns;
        lo = e.ts_ns < lo ? e.ts_ns : lo;
        hi = e.ts_ns > hi ? e.ts_ns : hi;
        count++;
    }
    if (rc < 0)
        return rc;
    if (count != n_entries)
        return noa_error_set(err, NOA_ECORRUPT,
                             "chunk block: %" PRIu64 " entries, meta says %" PRIu64, count,
                             n_entries);
    if (count && (lo != min_ts || hi != max_ts))
        return noa_error_set(err, NOA_ECORRUPT, "chunk block: time bounds differ from meta");
    return 0;
}

/* ---- sealing --------------------------------------------------------------- */

struct sort_ent {
    int64_t ts;
    size_t start, end; /* byte range in the raw block */
    size_t seq;        /* append order: the stable tie-break */
};

static int sort_ent_cmp(const void *a, const void *b)
{
    const struct sort_ent *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Rewrites raw into sorted order in *out; entries were validated already. */
static int sort_block(const unsigned char *raw, size_t len, size_t n, struct noa_buf *out)
{
    struct sort_ent *v = noa_malloc(n * sizeof(*v));
    struct noa_chunk_iter it;
    struct noa_chunk_entry e;
    size_t i = 0, prev = 0;

    if (!v)
        return NOA_ENOMEM;
    noa_chunk_iter_init(&it, raw, len);
    while (i < n && noa_chunk_iter_next(&it, &e, NULL) == 1) {
        v[i] = (struct sort_ent){e.ts_ns, prev, it.off, i};
        prev = it.off;
        i++;
    }
    qsort(v, i, sizeof(*v), sort_ent_cmp);
    /* Not noa_buf_reserve: it aborts on OOM, and len comes from input. */
    out->data = noa_malloc(len);
    if (!out->data) {
        noa_free(v);
        return NOA_ENOMEM;
    }
    out->cap = len;
    for (size_t j = 0; j < i; j++) {
        memcpy(out->data + out->len, raw + v[j].start, v[j].end - v[j].start);
        out->len += v[j].end - v[j].start;
    }
    noa_free(v);
    return 0;
}

int noa_chunk_codec_from_name(const char *name)
{
    /* Loki's lz4 variants differ only in the frame block size; noa blocks
     * are its own ~256 KiB units, so all four are one codec here. */
    static const char *const lz4_names[] = {"lz4", "lz4-64k", "lz4-256k", "lz4-1M"};
    for (size_t i = 0; name && i < sizeof(lz4_names) / sizeof(lz4_names[0]); i++)
        if (strcmp(name, lz4_names[i]) == 0)
            return NOA_CHUNK_CODEC_LZ4;
    return NOA_CHUNK_CODEC_ZSTD;
}

int noa_chunk_codec_sniff(const void *data, size_t len, size_t raw_len)
{
    unsigned long long fcs = ZSTD_getFrameContentSize(data, len);
    if (fcs != ZSTD_CONTENTSIZE_UNKNOWN && fcs != ZSTD_CONTENTSIZE_ERROR && fcs == raw_len)
        return NOA_CHUNK_CODEC_ZSTD;
    return NOA_CHUNK_CODEC_LZ4;
}

/* Compresses src[0..len) with codec into out (initialised here). */
static int block_compress(int codec, int level, const void *src, size_t len, struct noa_buf *out,
                          struct noa_error *err)
{
    size_t bound = codec == NOA_CHUNK_CODEC_LZ4 ? (size_t)LZ4_compressBound((int)len)
                                                : ZSTD_compressBound(len);
    memset(out, 0, sizeof(*out));
    out->data = noa_malloc(bound ? bound : 1);
    if (!out->data)
        return noa_error_set(err, NOA_ENOMEM, "chunk block: no memory to compress %zu bytes", len);
    out->cap = bound;
    if (codec == NOA_CHUNK_CODEC_LZ4) {
        int c = LZ4_compress_default(src, out->data, (int)len, (int)bound);
        if (c <= 0)
            return noa_error_set(err, NOA_EINTERNAL, "chunk block: lz4 compression failed");
        out->len = (size_t)c;
        return 0;
    }
    if (level == 0)
        level = NOA_CHUNK_ZSTD_LEVEL;
    size_t clen = ZSTD_compress(out->data, bound, src, len, level);
    if (ZSTD_isError(clen))
        return noa_error_set(err, NOA_EINTERNAL, "chunk block: zstd: %s", ZSTD_getErrorName(clen));
    out->len = clen;
    return 0;
}

int noa_chunk_block_seal(const void *raw, size_t len, int level, struct noa_chunk_block *out,
                         struct noa_error *err)
{
    return noa_chunk_block_seal_codec(raw, len, NOA_CHUNK_CODEC_ZSTD, level, out, err);
}

int noa_chunk_block_seal_codec(const void *raw, size_t len, int codec, int level,
                               struct noa_chunk_block *out, struct noa_error *err)
{
    struct noa_buf sorted = {0};
    struct noa_chunk_iter it;
    struct noa_chunk_entry e;
    const void *src = raw;
    uint64_t n = 0;
    int64_t prev = INT64_MIN;
    int ordered = 1, rc;

    memset(out, 0, sizeof(*out));
    if (codec == 0)
        codec = NOA_CHUNK_CODEC_ZSTD;
    if (codec != NOA_CHUNK_CODEC_ZSTD && codec != NOA_CHUNK_CODEC_LZ4)
        return noa_error_set(err, NOA_EINVAL, "chunk block: codec %d is not supported", codec);
    if (len == 0)
        return noa_error_set(err, NOA_EINVAL, "chunk block: nothing to seal");
    if (len > NOA_CHUNK_MAX_BLOCK_RAW)
        return noa_error_set(err, NOA_ETOOBIG, "chunk block: %zu bytes over the %u limit", len,
                             NOA_CHUNK_MAX_BLOCK_RAW);
    out->min_ts = INT64_MAX;
    out->max_ts = INT64_MIN;
    noa_chunk_iter_init(&it, raw, len);
    while ((rc = noa_chunk_iter_next(&it, &e, err)) == 1) {
        ordered &= e.ts_ns >= prev;
        prev = e.ts_ns;
        out->min_ts = e.ts_ns < out->min_ts ? e.ts_ns : out->min_ts;
        out->max_ts = e.ts_ns > out->max_ts ? e.ts_ns : out->max_ts;
        n++;
    }
    if (rc < 0) {
        rc = NOA_EINVAL;
        if (err)
            err->code = rc;
        goto fail;
    }
    if (!ordered) {
        rc = sort_block(raw, len, (size_t)n, &sorted);
        if (rc < 0) {
            noa_error_set(err, rc, "chunk block: no memory to sort %" PRIu64 " entries", n);
            goto fail;
        }
        src = sorted.data;
    }
    rc = block_compress(codec, level, src, len, &out->data, err);
    if (rc < 0)
        goto fail;
    size_t clen = out->data.len;
    out->codec = (uint8_t)codec;
    /* The raw block was validated above, so the summary cannot fail. */
    rc = noa_blocksum_build(raw, len, &out->sum);
    if (rc < 0) {
        noa_error_set(err, rc, "chunk block: summary failed");
        goto fail;
    }
    /* The column follows the sealed (sorted) order. */
    rc = noa_blockcol_build(src, len, &out->col);
    if (rc < 0) {
        noa_error_set(err, rc, "chunk block: column failed");
        goto fail;
    }
    out->n_entries = (uint32_t)n;
    out->raw_len = (uint32_t)len;
    out->crc = noa_crc32c(0, out->data.data, clen);
    noa_buf_fini(&sorted);
    return 0;

fail:
    noa_buf_fini(&sorted);
    noa_chunk_block_fini(out);
    memset(out, 0, sizeof(*out));
    return rc;
}

void noa_chunk_block_fini(struct noa_chunk_block *b)
{
    noa_buf_fini(&b->data);
    noa_buf_fini(&b->sum);
    noa_buf_fini(&b->col);
}

/* ---- encoding -------------------------------------------------------------- */

static int codec_of(const struct noa_chunk_block *b)
{
    return b->codec ? b->codec : NOA_CHUNK_CODEC_ZSTD;
}

/* Recompresses block b (of another codec) with codec into *to. */
static int transcode(const struct noa_chunk_block *b, int codec, struct noa_buf *to)
{
    struct noa_buf raw = {0};
    int rc;
    memset(to, 0, sizeof(*to));
    if (b->raw_len > NOA_CHUNK_MAX_BLOCK_RAW || noa_crc32c(0, b->data.data, b->data.len) != b->crc) {
        rc = NOA_ECORRUPT;
        goto fail;
    }
    rc = noa_chunk_codec_decompress(codec_of(b), b->data.data, b->data.len, b->raw_len, &raw,
                                    NULL);
    if (rc < 0)
        goto fail;
    rc = block_compress(codec, 0, raw.data, raw.len, to, NULL);
    if (rc < 0)
        goto fail;
    noa_buf_fini(&raw);
    return 0;

fail:
    noa_buf_fini(&raw);
    noa_buf_fini(to);
    return rc;
}

int noa_chunk_encode(const struct noa_chunk_block *blocks, size_t n, struct noa_buf *out,
                     struct noa_chunk_summary *sum)
{
    struct noa_chunk_summary s = {.from_ns = INT64_MAX, .through_ns = INT64_MIN};
    size_t base = out->len, need = NOA_CHUNK_HEADER_SIZE + NOA_CHUNK_FOOTER_SIZE + 16 + 15;
    struct noa_buf *conv = NULL; /* recompressed blocks; data == NULL: use the block's own */
    int any_sum = 0, codec, rc = 0;

    if (n == 0 || n > UINT32_MAX)
        return NOA_EINVAL;
    codec = codec_of(&blocks[n - 1]);
    for (size_t i = 0; i < n; i++) {
        const struct noa_chunk_block *b = &blocks[i];
        if (b->data.len == 0 || b->n_entries == 0 || b->min_ts > b->max_ts ||
            (codec_of(b) != NOA_CHUNK_CODEC_ZSTD && codec_of(b) != NOA_CHUNK_CODEC_LZ4))
            return NOA_EINVAL;
        any_sum |= b->sum.len != 0 || b->col.len != 0;
        if (codec_of(b) != codec) {
            if (!conv && !(conv = noa_calloc(n, sizeof(*conv))))
                return NOA_ENOMEM;
            rc = transcode(b, codec, &conv[i]);
            if (rc < 0)
                goto done;
        }
        need += (conv && conv[i].data ? conv[i].len : b->data.len) + 4 + 6 * 10 + 20 +
                b->sum.len + b->col.len;
    }
    noa_buf_reserve(out, need);

    noa_buf_put_be32(out, NOA_CHUNK_MAGIC);
    noa_buf_putc(out, (char)NOA_CHUNK_FORMAT_V1);
    noa_buf_putc(out, (char)codec);
    for (size_t i = 0; i < n; i++) {
        if (conv && conv[i].data) {
            noa_buf_append(out, conv[i].data, conv[i].len);
            noa_buf_put_be32(out, noa_crc32c(0, conv[i].data, conv[i].len));
        } else {
            noa_buf_append(out, blocks[i].data.data, blocks[i].data.len);
            noa_buf_put_be32(out, blocks[i].crc);
        }
    }

    size_t extra_off = 0, extra_len = 0;
    if (any_sum) {
        extra_off = out->len - base;
        noa_buf_putc(out, (char)NOA_CHUNK_EXTRA_SUMCOL);
        noa_buf_put_uvarint(out, n);
        for (size_t i = 0; i < n; i++) {
            noa_buf_put_uvarint(out, blocks[i].sum.len);
            noa_buf_append(out, blocks[i].sum.data, blocks[i].sum.len);
            noa_buf_put_uvarint(out, blocks[i].col.len);
            noa_buf_append(out, blocks[i].col.data, blocks[i].col.len);
        }
        size_t body = out->len - base - extra_off;
        noa_buf_put_be32(out, noa_crc32c(0, out->data + base + extra_off, body));
        extra_len = body + 4;
    }

    size_t metas_off = out->len - base, off = NOA_CHUNK_HEADER_SIZE;
    noa_buf_put_uvarint(out, n);
    for (size_t i = 0; i < n; i++) {
        const struct noa_chunk_block *b = &blocks[i];
        noa_buf_put_uvarint(out, b->n_entries);
        noa_buf_put_varint(out, b->min_ts);
        noa_buf_put_varint(out, b->max_ts);
        noa_buf_put_uvarint(out, off);
        size_t clen = conv && conv[i].data ? conv[i].len : b->data.len;
        noa_buf_put_uvarint(out, b->raw_len);
        noa_buf_put_uvarint(out, clen);
        off += clen + 4;
        s.from_ns = b->min_ts < s.from_ns ? b->min_ts : s.from_ns;
        s.through_ns = b->max_ts > s.through_ns ? b->max_ts : s.through_ns;
        s.entries += b->n_entries;
        s.raw_bytes += b->raw_len;
    }
    size_t metas_len = out->len - base - metas_off;
    noa_buf_put_be32(out, noa_crc32c(0, out->data + base + metas_off, metas_len));
    noa_buf_put_be64(out, extra_len);
    noa_buf_put_be64(out, extra_off);
    noa_buf_put_be64(out, metas_len);
    noa_buf_put_be64(out, metas_off);

    s.compressed_bytes = out->len - base;
    s.checksum = noa_crc32c(0, out->data + base, out->len - base);
    s.n_blocks = (uint32_t)n;
    if (sum)
        *sum = s;

done:
    for (size_t i = 0; conv && i < n; i++)
        noa_buf_fini(&conv[i]);
    noa_free(conv);
    return rc;
}

/* ---- reading --------------------------------------------------------------- */

/* A cursor over the metas section that remembers the first failure. */
struct metas_cur {
    const unsigned char *p;
    size_t n, off;
    int bad;
};

static uint64_t cur_uvarint(struct metas_cur *c)
{
    uint64_t v = 0;
    size_t k = c->bad ? 0 : noa_get_uvarint(c->p + c->off, c->n - c->off, &v);
    if (!k)
        c->bad = 1;
    c->off += k;
    return v;
}

static int64_t cur_varint(struct metas_cur *c)
{
    int64_t v = 0;
    size_t k = c->bad ? 0 : noa_get_varint(c->p + c->off, c->n - c->off, &v);
    if (!k)
        c->bad = 1;
    c->off += k;
    return v;
}

static int corrupt(struct noa_error *err, const char *what, uint64_t at)
{
    return noa_error_set(err, NOA_ECORRUPT, "chunk: %s at offset %" PRIu64, what, at);
}

/* Checks one block meta against the file and the previous block's end. */
static int check_block(const struct noa_chunk_block_meta *b, uint64_t data_end,
                       uint64_t *prev_end, size_t i, struct noa_error *err)
{
    if (b->n_entries == 0 || b->min_ts > b->max_ts)
        return noa_error_set(err, NOA_ECORRUPT, "chunk: block %zu meta is inconsistent", i);
    if (b->raw_len > NOA_CHUNK_MAX_BLOCK_RAW || b->n_entries > b->raw_len / 3)
        return noa_error_set(err, NOA_ECORRUPT, "chunk: block %zu raw length %" PRIu64 " is bad", i,
                             b->raw_len);
    /* Compare before adding so that no sum can overflow. */
    if (b->offset < *prev_end || b->offset > data_end || b->compressed_len == 0 ||
        b->compressed_len > data_end - b->offset || data_end - b->offset - b->compressed_len < 4)
        return noa_error_set(err, NOA_ECORRUPT,
                             "chunk: block %zu at offset %" PRIu64 " length %" PRIu64
                             " lies outside the data area",
                             i, b->offset, b->compressed_len);
    /* The block's own CRC is checked when it is decompressed: a query that
     * skips most blocks by their summary need not checksum them. */
    *prev_end = b->offset + b->compressed_len + 4;
    return 0;
}

/* Decodes and validates the metas section [off, off+mlen). */
static int read_metas(struct noa_chunk_reader *r, uint64_t off, uint64_t mlen,
                      struct noa_error *err)
{
    struct metas_cur c = {r->data + off, (size_t)mlen, 0, 0};
    uint64_t n = cur_uvarint(&c), prev_end = NOA_CHUNK_HEADER_SIZE;

    /* A block meta takes at least six bytes: bound the count before allocating. */
    if (c.bad || n == 0 || n > mlen / 6)
        return corrupt(err, "bad block count in metas", off);
    r->blocks = noa_calloc((size_t)n, sizeof(*r->blocks));
    if (!r->blocks)
        return noa_error_set(err, NOA_ENOMEM, "chunk: no memory for %" PRIu64 " block metas", n);
    r->n_blocks = (size_t)n;
    r->from_ns = INT64_MAX;
    r->through_ns = INT64_MIN;
    for (size_t i = 0; i < r->n_blocks; i++) {
        struct noa_chunk_block_meta *b = &r->blocks[i];
        b->n_entries = cur_uvarint(&c);
        b->min_ts = cur_varint(&c);
        b->max_ts = cur_varint(&c);
        b->offset = cur_uvarint(&c);
        b->raw_len = cur_uvarint(&c);
        b->compressed_len = cur_uvarint(&c);
        if (c.bad)
            return corrupt(err, "truncated block meta", off + c.off);
        int rc = check_block(b, off, &prev_end, i, err);
        if (rc < 0)
            return rc;
        r->from_ns = b->min_ts < r->from_ns ? b->min_ts : r->from_ns;
        r->through_ns = b->max_ts > r->through_ns ? b->max_ts : r->through_ns;
        r->entries += b->n_entries;
        r->raw_bytes += b->raw_len;
    }
    if (c.off != c.n)
        return corrupt(err, "trailing bytes after block metas", off + c.off);
    return 0;
}

/* Reads the extra section [off, off+len): checks its CRC, then attaches
 * the block summaries of a kind-1 section, or the summaries and columns of
 * a kind-2 section, to the block metas. */
static int read_extra(struct noa_chunk_reader *r, uint64_t off, uint64_t len,
                      struct noa_error *err)
{
    if (len < 5)
        return corrupt(err, "extra section too short", off);
    const unsigned char *p = r->data + off;
    size_t body = (size_t)len - 4;
    if (noa_crc32c(0, p, body) != noa_get_be32(p + body))
        return corrupt(err, "extra section checksum mismatch", off);
    if (p[0] != NOA_CHUNK_EXTRA_SUMMARIES && p[0] != NOA_CHUNK_EXTRA_SUMCOL)
        return 0; /* a later table this version does not read */
    int cols = p[0] == NOA_CHUNK_EXTRA_SUMCOL;
    struct metas_cur c = {p, body, 1, 0};
    uint64_t n = cur_uvarint(&c);
    if (c.bad || n != r->n_blocks)
        return corrupt(err, "summary count differs from the block count", off);
    for (size_t i = 0; i < r->n_blocks; i++) {
        uint64_t slen = cur_uvarint(&c);
        if (c.bad || slen > body - c.off)
            return corrupt(err, "truncated block summary", off + c.off);
        if (slen && noa_blocksum_check(p + c.off, (size_t)slen) < 0)
            return corrupt(err, "malformed block summary", off + c.off);
        r->blocks[i].sum = slen ? p + c.off : NULL;
        r->blocks[i].sum_len = (size_t)slen;
        c.off += (size_t)slen;
        if (!cols)
            continue;
        uint64_t clen = cur_uvarint(&c);
        if (c.bad || clen > body - c.off)
            return corrupt(err, "truncated block column", off + c.off);
        r->blocks[i].col = clen ? p + c.off : NULL;
        r->blocks[i].col_len = (size_t)clen;
        c.off += (size_t)clen;
    }
    if (c.off != body)
        return corrupt(err, "trailing bytes after block summaries", off + c.off);
    return 0;
}

int noa_chunk_open(const void *data, size_t len, struct noa_chunk_reader *r, struct noa_error *err)
{
    const unsigned char *p = data;
    int rc;

    memset(r, 0, sizeof(*r));
    r->data = p;
    r->len = len;
    /* header + at least a one-byte block and its CRC + minimal metas + CRC + footer */
    if (len < NOA_CHUNK_HEADER_SIZE + 5 + 7 + 4 + NOA_CHUNK_FOOTER_SIZE)
        return noa_error_set(err, NOA_ECORRUPT, "chunk: %zu bytes is too short", len);
    if (noa_get_be32(p) != NOA_CHUNK_MAGIC)
        return noa_error_set(err, NOA_ECORRUPT, "chunk: bad magic 0x%08x", noa_get_be32(p));
    r->version = p[4];
    r->codec = p[5];
    if (r->version != NOA_CHUNK_FORMAT_V1)
        return noa_error_set(err, r->version >= 1 && r->version <= 4 ? NOA_EUNSUPP : NOA_ECORRUPT,
                             "chunk: format version %u is not supported", r->version);
    if (r->codec != NOA_CHUNK_CODEC_ZSTD && r->codec != NOA_CHUNK_CODEC_LZ4)
        return noa_error_set(err, NOA_EUNSUPP, "chunk: codec %u is not supported", r->codec);

    const unsigned char *f = p + len - NOA_CHUNK_FOOTER_SIZE;
    uint64_t rs_len = noa_get_be64(f), rs_off = noa_get_be64(f + 8);
    uint64_t mlen = noa_get_be64(f + 16), moff = noa_get_be64(f + 24);
    uint64_t footer_at = len - NOA_CHUNK_FOOTER_SIZE;
    if (mlen == 0 || moff < NOA_CHUNK_HEADER_SIZE || moff > footer_at || mlen > footer_at - moff ||
        footer_at - moff - mlen != 4)
        return corrupt(err, "metas offset/length do not end at the footer", footer_at);
    /* An absent extra section is all zeros, so no footer byte goes unchecked. */
    if (rs_len ? (rs_off < NOA_CHUNK_HEADER_SIZE || rs_off > moff || rs_len > moff - rs_off)
               : rs_off != 0)
        return corrupt(err, "extra section lies outside the data area", footer_at);
    if (noa_crc32c(0, p + moff, mlen) != noa_get_be32(p + moff + mlen))
        return corrupt(err, "block metas checksum mismatch", moff);
    rc = read_metas(r, moff, mlen, err);
    if (rc == 0 && rs_len)
        rc = read_extra(r, rs_off, rs_len, err);
    if (rc < 0)
        goto fail;
    return 0;

fail:
    noa_chunk_reader_fini(r);
    return rc;
}

void noa_chunk_reader_fini(struct noa_chunk_reader *r)
{
    noa_free(r->blocks);
    r->blocks = NULL;
    r->n_blocks = 0;
}

/* One zstd decompression context per thread, freed when the thread ends:
 * ZSTD_decompress would build and free one per block, about a tenth of
 * the cost of decompressing a 256 KiB block. */
static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;

static void dctx_free(void *p)
{
    ZSTD_freeDCtx(p);
}

static void dctx_key_init(void)
{
    if (pthread_key_create(&dctx_key, dctx_free) != 0)
        abort(); /* only when the process is out of keys: nothing works then */
}

static ZSTD_DCtx *thread_dctx(void)
{
    pthread_once(&dctx_once, dctx_key_init);
    ZSTD_DCtx *d = pthread_getspecific(dctx_key);
    if (!d && (d = ZSTD_createDCtx()) != NULL && pthread_setspecific(dctx_key, d) != 0) {
        ZSTD_freeDCtx(d);
        d = NULL;
    }
    return d;
}

int noa_chunk_frame_decompress(const void *src, size_t n, size_t raw_len, struct noa_buf *raw,
                               struct noa_error *err)
{
    /* The frame must announce exactly the expected size, so the allocation
     * below is bounded by what the caller already bounded. */
    if (ZSTD_getFrameContentSize(src, n) != raw_len)
        return noa_error_set(err, NOA_ECORRUPT, "frame size differs from meta");
    raw->len = 0;
    if (raw->cap < raw_len) {
        char *grown = noa_realloc(raw->data, raw_len);
        if (!grown)
            return noa_error_set(err, NOA_ENOMEM, "no memory for a %zu byte block", raw_len);
        raw->data = grown;
        raw->cap = raw_len;
    }
    ZSTD_DCtx *d = thread_dctx();
    size_t got = d ? ZSTD_decompressDCtx(d, raw->data, raw_len, src, n)
                   : ZSTD_decompress(raw->data, raw_len, src, n);
    if (ZSTD_isError(got) || got != raw_len)
        return noa_error_set(err, NOA_ECORRUPT, "%s",
                             ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short decompression");
    raw->len = got;
    return 0;
}

int noa_chunk_codec_decompress(int codec, const void *src, size_t n, size_t raw_len,
                               struct noa_buf *raw, struct noa_error *err)
{
    if (codec == 0 || codec == NOA_CHUNK_CODEC_ZSTD)
        return noa_chunk_frame_decompress(src, n, raw_len, raw, err);
    if (codec != NOA_CHUNK_CODEC_LZ4)
        return noa_error_set(err, NOA_ECORRUPT, "codec %d is not supported", codec);
    /* LZ4 blocks carry no size of their own: raw_len (bounded by the caller)
     * is the exact output, and a block that decodes to anything else is
     * damaged. */
    raw->len = 0;
    if (n > INT_MAX || raw_len > INT_MAX)
        return noa_error_set(err, NOA_ECORRUPT, "lz4 block of %zu bytes is too large", n);
    if (raw->cap < raw_len || !raw->data) {
        char *grown = noa_realloc(raw->data, raw_len ? raw_len : 1);
        if (!grown)
            return noa_error_set(err, NOA_ENOMEM, "no memory for a %zu byte block", raw_len);
        raw->data = grown;
        raw->cap = raw_len ? raw_len : 1;
    }
    int got = LZ4_decompress_safe(src, raw->data, (int)n, (int)raw_len);
    if (got < 0 || (size_t)got != raw_len)
        return noa_error_set(err, NOA_ECORRUPT, "%s",
                             got < 0 ? "malformed lz4 block" : "short lz4 decompression");
    raw->len = (size_t)got;
    return 0;
}

int noa_chunk_block_inflate(const struct noa_chunk_reader *r, size_t i, struct noa_buf *raw,
                            struct noa_error *err)
{
    if (i >= r->n_blocks)
        return noa_error_set(err, NOA_EINVAL, "chunk: block %zu of %zu", i, r->n_blocks);
    const struct noa_chunk_block_meta *b = &r->blocks[i];
    const unsigned char *blk = r->data + b->offset;
    if (noa_crc32c(0, blk, (size_t)b->compressed_len) != noa_get_be32(blk + b->compressed_len))
        return noa_error_set(err, NOA_ECORRUPT,
                             "chunk: block %zu at offset %" PRIu64 ": checksum mismatch", i,
                             b->offset);
    struct noa_error e = {0};
    /* open bounded raw_len by NOA_CHUNK_MAX_BLOCK_RAW. */
    int rc = noa_chunk_codec_decompress(r->codec, r->data + b->offset, (size_t)b->compressed_len,
                                        (size_t)b->raw_len, raw, &e);
    if (rc < 0)
        return noa_error_set(err, rc, "chunk: block %zu at offset %" PRIu64 ": %s", i, b->offset,
                             e.msg);
    return 0;
}

int noa_chunk_block_decompress(const struct noa_chunk_reader *r, size_t i, struct noa_buf *raw,
                               struct noa_error *err)
{
    int rc = noa_chunk_block_inflate(r, i, raw, err);
    if (rc < 0)
        return rc;
    const struct noa_chunk_block_meta *b = &r->blocks[i];
    rc = noa_chunk_block_check(raw->data, raw->len, b->n_entries, b->min_ts, b->max_ts, err);
    if (rc < 0)
        raw->len = 0;
    return rc;
}

uint32_t noa_chunk_checksum(const void *data, size_t len)
{
    return noa_crc32c(0, data, len);
}

/* ---- keys ------------------------------------------------------------------ */

int64_t noa_chunk_from_ms(int64_t from_ns)
{
    int64_t q = from_ns / 1000000;
    return (from_ns % 1000000 < 0) ? q - 1 : q;
}

int64_t noa_chunk_through_ms(int64_t through_ns)
{
    int64_t q = through_ns / 1000000;
    return (through_ns % 1000000 > 0) ? q + 1 : q;
}

/* Go's %x of an int64: '-' then the magnitude for negatives. */
static int put_hex(char *out, size_t cap, int64_t v)
{
    if (v < 0)
        return snprintf(out, cap, "-%" PRIx64, (uint64_t)0 - (uint64_t)v);
    return snprintf(out, cap, "%" PRIx64, (uint64_t)v);
}

int noa_chunk_key(char *out, size_t cap, const char *tenant, uint64_t fp,
                  const struct noa_chunk_summary *sum)
{
    size_t tl = strlen(tenant), used;
    int k;

    if (tl == 0)
        return NOA_EINVAL;
    for (size_t i = 0; i < tl; i++)
        if (tenant[i] == '/' || (unsigned char)tenant[i] < 0x20 || tenant[i] == 0x7f)
            return NOA_EINVAL;
    k = snprintf(out, cap, "%s/%016" PRIx64 "/", tenant, fp);
    if (k < 0 || (size_t)k >= cap)
        return NOA_ETOOBIG;
    used = (size_t)k;
    k = put_hex(out + used, cap - used, noa_chunk_from_ms(sum->from_ns));
    if (k < 0 || (size_t)k >= cap - used)
        return NOA_ETOOBIG;
    used += (size_t)k;
    k = snprintf(out + used, cap - used, ":");
    if (k < 0 || (size_t)k >= cap - used)
        return NOA_ETOOBIG;
    used += (size_t)k;
    k = put_hex(out + used, cap - used, noa_chunk_through_ms(sum->through_ns));
    if (k < 0 || (size_t)k >= cap - used)
        return NOA_ETOOBIG;
    used += (size_t)k;
    k = snprintf(out + used, cap - used, ":%08" PRIx32, sum->checksum);
    if (k < 0 || (size_t)k >= cap - used)
        return NOA_ETOOBIG;
    return 0;
}

/* Parses lowercase hex in s[*i..end) (optionally '-'-prefixed when sign). */
static int parse_hex(const char *s, size_t end, size_t *i, int sign, int max_digits, uint64_t *out,
                     int *neg)
{
    size_t j = *i;
    uint64_t v = 0;
    int digits = 0;

    *neg = 0;
    if (sign && j < end && s[j] == '-') {
        *neg = 1;
        j++;
    }
    for (; j < end && digits < max_digits + 1; j++, digits++) {
        char c = s[j];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            break;
        v = (v << 4) | (uint64_t)d;
    }
    if (digits == 0 || digits > max_digits)
        return -1;
    *i = j;
    *out = v;
    return 0;
}

static int parse_ms(const char *s, size_t end, size_t *i, int64_t *out)
{
    uint64_t v;
    int neg;
    if (parse_hex(s, end, i, 1, 16, &v, &neg) < 0 || v > (uint64_t)INT64_MAX)
        return -1;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

int noa_chunk_key_parse(struct noa_str key, struct noa_chunk_key_parts *out)
{
    const char *s = key.p;
    size_t n = key.len, i, t;
    uint64_t v;
    int neg;

    for (t = 0; t < n && s[t] != '/'; t++)
        ;
    if (t == 0 || t + 1 >= n)
        return NOA_EINVAL;
    out->tenant = (struct noa_str){s, t};
    i = t + 1;
    if (parse_hex(s, n, &i, 0, 16, &v, &neg) < 0 || i != t + 17 || i >= n || s[i] != '/')
        return NOA_EINVAL;
    out->fp = v;
    i++;
    if (parse_ms(s, n, &i, &out->from_ms) < 0 || i >= n || s[i] != ':')
        return NOA_EINVAL;
    i++;
    if (parse_ms(s, n, &i, &out->through_ms) < 0 || i >= n || s[i] != ':')
        return NOA_EINVAL;
    i++;
    size_t c0 = i;
    if (parse_hex(s, n, &i, 0, 8, &v, &neg) < 0 || i - c0 != 8 || i != n)
        return NOA_EINVAL;
    out->checksum = (uint32_t)v;
    return 0;
}
