/*
 * Block entry columns (see blockcol.h for the byte layout): built when a
 * block is sealed or rebuilt from the WAL, read by metric queries that
 * need only timestamps and line lengths. No shared state; any thread.
 */
#include "ingester/blockcol.h"
#include "ingester/chunk.h"

#include <inttypes.h>
#include <string.h>
#include <xxhash.h>

static const uint64_t pow10_tab[10] = {1,         10,         100,         1000,
                                       10000,     100000,     1000000,     10000000,
                                       100000000, 1000000000};

uint64_t noa_blockcol_hash(struct noa_str line, struct noa_str meta, uint32_t n_meta)
{
    uint64_t h = XXH3_64bits(line.p, line.len);
    return XXH3_64bits_withSeed(meta.p, meta.len, h ^ n_meta);
}

static void put_le64(struct noa_buf *b, uint64_t v)
{
    unsigned char x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    noa_buf_append(b, x, 8);
}

/* Bits of a set index among n sets (0 for one set). */
static unsigned set_bits(uint32_t n)
{
    unsigned b = 0;
    while (n > 1 && (1u << b) < n)
        b++;
    return b;
}

/* The distinct metadata sets of a block, borrowed from its raw bytes. */
struct sets {
    struct noa_str meta[NOA_BLOCKCOL_MAX_SETS];
    uint32_t n_meta[NOA_BLOCKCOL_MAX_SETS];
    uint32_t n;
};

/* e's set index, added when new; -1 when the sets are full. */
static int set_of(struct sets *s, const struct noa_chunk_entry *e)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (s->n_meta[i] == e->n_meta && noa_str_eq(s->meta[i], e->meta))
            return (int)i;
    if (s->n == NOA_BLOCKCOL_MAX_SETS)
        return -1;
    s->meta[s->n] = e->meta;
    s->n_meta[s->n] = e->n_meta;
    return (int)s->n++;
}

int noa_blockcol_build(const void *raw, size_t len, struct noa_buf *col)
{
    struct noa_chunk_iter it;
    struct noa_chunk_entry e, cur, next;
    struct sets sets;
    uint64_t n = 0;
    int64_t first = 0, prev = INT64_MIN;
    unsigned ex = 9;
    int rc;

    /* Pass 1: validate, collect the metadata sets, find the timestamp scale. */
    sets.n = 0;
    noa_chunk_iter_init(&it, raw, len);
    while ((rc = noa_chunk_iter_next(&it, &e, NULL)) == 1) {
        if (e.ts_ns < prev)
            return NOA_EINVAL;
        if (set_of(&sets, &e) < 0)
            return 0;
        if (n == 0)
            first = e.ts_ns;
        uint64_t d = (uint64_t)e.ts_ns - (uint64_t)first;
        while (ex > 0 && d % pow10_tab[ex] != 0)
            ex--;
        prev = e.ts_ns;
        n++;
    }
    if (rc < 0 || n == 0)
        return NOA_EINVAL;

    /* Pass 2: emit, one entry of look-ahead for the equal-neighbour flag. */
    unsigned bits = set_bits(sets.n);
    size_t start = col->len;
    noa_buf_reserve(col, 32 + (size_t)n * 4);
    noa_buf_putc(col, (char)ex);
    noa_buf_put_uvarint(col, n);
    noa_buf_put_varint(col, first);
    noa_buf_put_uvarint(col, sets.n);
    for (uint32_t i = 0; i < sets.n; i++) {
        noa_buf_put_uvarint(col, sets.n_meta[i]);
        noa_buf_put_uvarint(col, sets.meta[i].len);
        noa_buf_append(col, sets.meta[i].p, sets.meta[i].len);
    }
    noa_chunk_iter_init(&it, raw, len);
    if (noa_chunk_iter_next(&it, &cur, NULL) != 1)
        goto fail;
    prev = cur.ts_ns;
    int prev_eq = 0; /* cur's timestamp equals the previous entry's */
    for (;;) {
        int has_next = noa_chunk_iter_next(&it, &next, NULL);
        if (has_next < 0)
            goto fail;
        int next_eq = has_next == 1 && next.ts_ns == cur.ts_ns;
        int h = prev_eq || next_eq;
        noa_buf_put_uvarint(col, ((uint64_t)cur.ts_ns - (uint64_t)prev) / pow10_tab[ex]);
        uint64_t set = sets.n > 1 ? (uint64_t)set_of(&sets, &cur) : 0;
        noa_buf_put_uvarint(col, ((uint64_t)cur.line.len << (bits + 1)) | set << 1 | (uint64_t)h);
        if (h)
            put_le64(col, noa_blockcol_hash(cur.line, cur.meta, cur.n_meta));
        if (has_next != 1)
            break;
        prev = cur.ts_ns;
        prev_eq = next_eq;
        cur = next;
    }
    return 1;

fail:
    col->len = start;
    return NOA_EINVAL;
}

/* noa_get_uvarint inline (this runs per entry): most lengths and set
 * indexes fit in one byte. */
static inline size_t get_uv(const unsigned char *p, size_t n, uint64_t *v)
{
    if (n && p[0] < 0x80) {
        *v = p[0];
        return 1;
    }
    /* Up to 9 bytes inline (timestamp deltas take 3 or 4); the rare
     * 10-byte form and any malformed one go to the checked decoder. */
    uint64_t x = 0;
    for (size_t i = 0; i < 9 && i < n; i++) {
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (p[i] < 0x80) {
            *v = x;
            return i + 1;
        }
    }
    return noa_get_uvarint(p, n, v);
}

static int col_corrupt(struct noa_error *err, const char *what, size_t at)
{
    return noa_error_set(err, NOA_ECORRUPT, "block column: %s at offset %zu", what, at);
}

int noa_blockcol_iter_init(struct noa_blockcol_iter *it, const void *col, size_t len,
                           uint64_t n_entries, int64_t min_ts, int64_t max_ts,
                           struct noa_error *err)
{
    const unsigned char *p = col;
    uint64_t n;
    int64_t first;
    size_t k, off = 1;

    memset(it, 0, sizeof(*it));
    if (len < 3 || p[0] > 9)
        return col_corrupt(err, "bad header", 0);
    if (!(k = noa_get_uvarint(p + off, len - off, &n)) || n != n_entries)
        return col_corrupt(err, "entry count differs from the block's", off);
    off += k;
    if (!(k = noa_get_varint(p + off, len - off, &first)) || first != min_ts || first > max_ts)
        return col_corrupt(err, "first timestamp differs from the block's", off);
    off += k;
    uint64_t d;
    if (!(k = noa_get_uvarint(p + off, len - off, &d)) || d == 0 || d > NOA_BLOCKCOL_MAX_SETS)
        return col_corrupt(err, "bad metadata set count", off);
    off += k;
    it->n_sets = (uint32_t)d;
    it->set_bits = set_bits(it->n_sets);
    for (uint32_t i = 0; i < it->n_sets; i++) {
        uint64_t nm, ml;
        size_t at = off;
        if (!(k = noa_get_uvarint(p + off, len - off, &nm)))
            return col_corrupt(err, "truncated metadata set", at);
        off += k;
        if (!(k = noa_get_uvarint(p + off, len - off, &ml)) || ml > len - off - k ||
            nm > ml / 2)
            return col_corrupt(err, "truncated metadata set", at);
        off += k;
        /* The pairs must be well formed: readers walk them unchecked. */
        size_t q = 0;
        for (uint64_t j = 0; j < 2 * nm; j++) {
            uint64_t sl;
            size_t kk = noa_get_uvarint(p + off + q, (size_t)ml - q, &sl);
            if (!kk || sl > ml - q - kk)
                return col_corrupt(err, "malformed metadata set", at);
            q += kk + (size_t)sl;
        }
        if (q != ml)
            return col_corrupt(err, "malformed metadata set", at);
        it->set_meta[i] = (struct noa_str){(const char *)p + off, (size_t)ml};
        it->set_n[i] = (uint32_t)nm;
        off += (size_t)ml;
    }
    it->p = p;
    it->len = len;
    it->off = off;
    it->left = n;
    it->mult = pow10_tab[p[0]];
    it->ts = first;
    it->max_ts = max_ts;
    it->first = 1;
    return 0;
}

int noa_blockcol_next(struct noa_blockcol_iter *it, struct noa_blockcol_entry *e,
                      struct noa_error *err)
{
    uint64_t d, ll;
    size_t k, at = it->off;

    if (it->left == 0) {
        if (it->off != it->len)
            return col_corrupt(err, "trailing bytes", it->off);
        if (it->ts != it->max_ts)
            return col_corrupt(err, "last timestamp differs from the block's", it->off);
        return 0;
    }
    if (!(k = get_uv(it->p + it->off, it->len - it->off, &d)))
        return col_corrupt(err, "truncated timestamp", at);
    it->off += k;
    if (it->first ? d != 0
                  : (d > UINT64_MAX / it->mult ||
                     d * it->mult > (uint64_t)it->max_ts - (uint64_t)it->ts))
        return col_corrupt(err, "timestamp outside the block's range", at);
    if (!(k = get_uv(it->p + it->off, it->len - it->off, &ll)))
        return col_corrupt(err, "truncated line length", it->off);
    uint64_t set = (ll >> 1) & (((uint64_t)1 << it->set_bits) - 1);
    if (set >= it->n_sets)
        return col_corrupt(err, "bad metadata set index", it->off);
    it->off += k;
    it->ts = (int64_t)((uint64_t)it->ts + d * it->mult); /* in [ts, max_ts]: checked above */
    it->first = 0;
    e->ts_ns = it->ts;
    e->line_len = ll >> (it->set_bits + 1);
    e->meta = it->set_meta[set];
    e->n_meta = it->set_n[set];
    e->set = (uint32_t)set;
    e->has_hash = (int)(ll & 1);
    if (e->has_hash) {
        if (it->len - it->off < 8)
            return col_corrupt(err, "truncated hash", it->off);
        uint64_t h = 0;
        for (int i = 7; i >= 0; i--)
            h = (h << 8) | it->p[it->off + (size_t)i];
        e->hash = h;
        it->off += 8;
    } else {
        e->hash = 0;
    }
    it->left--;
    return 1;
}
