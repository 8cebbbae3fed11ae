/*
 * One stream's entries in time order over memory and chunks (see
 * streamread.h). Worker thread.
 *
 * Two heaps drive the merge: `pending` holds what is not opened yet (a
 * flushed chunk, a sealed block in memory, a block of a fetched chunk),
 * ordered by its first timestamp; `open` holds cursors over decompressed
 * blocks (and the head), ordered by their current entry. Something pending
 * is opened only once the merge reaches its first timestamp, so at any
 * time only the blocks that overlap the current instant are held.
 *
 * Exact duplicates have the same timestamp, so only the entries of the
 * current timestamp are remembered (by reference: a cursor exhausted at
 * that timestamp keeps its block until the timestamp changes).
 *
 * lens_only reads take blocks that have an entry column (ingester/
 * blockcol.h) from the column instead of decompressing them, and remember
 * the current timestamp's entries by hash: a column stores the hash of
 * every entry that shares its time with a neighbour, and a column entry
 * that meets another block's entry at its time makes its cursor
 * decompress the block (cursor_inflate) to hash its line.
 *
 * With one required literal, a decompressed block wholly inside the range
 * is searched for the literal's next occurrence and the entries before it
 * are passed over by the chunk iterator in one call (lit_next): lines
 * without the literal never reach the merge.
 */
#include "querier/streamread.h"
#include "common/clock.h"
#include "common/mem.h"
#include "common/pipeline.h"
#include "ingester/block.h"
#include "ingester/blockcol.h"
#include "ingester/blocksum.h"
#include "ingester/chunk.h"
#include "ingester/chunkstore.h"
#include "ingester/index.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

enum item_kind { ITEM_CHUNK, ITEM_MEMBLOCK, ITEM_CHUNKBLOCK };

/* Something not opened yet. */
struct item {
    int64_t min_ts;
    uint32_t kind; /* enum item_kind */
    uint32_t idx;  /* chunk (ITEM_CHUNK, ITEM_CHUNKBLOCK) or memory block */
    uint32_t blk;  /* ITEM_CHUNKBLOCK: block of the chunk */
};

/* A flushed chunk: its ref until fetched, then its file while any of its
 * blocks is still pending or open. */
struct chunk {
    struct noa_chunk_ref ref;
    struct noa_buf file;
    struct noa_chunk_reader rd;
    uint32_t live; /* blocks pending or open */
};

/* A cursor over one decompressed block, or over the head (through its
 * time-sorted index). */
struct cursor {
    struct noa_chunk_entry e; /* the current entry */
    struct noa_buf raw;       /* decompressed block (unused by the head) */
    struct noa_chunk_iter it;
    int64_t chunk; /* chunk it came from; -1 = none */
    int head;
    /* lens_only: a block read from its entry column (e.line.p is NULL) */
    int col;
    struct noa_blockcol_iter ci;
    struct noa_blockcol_entry ce; /* the current entry's column fields */
    uint64_t k;                   /* the current entry's index in the block */
    struct item src;              /* the block, should its lines be needed */
    uint64_t gen;                 /* changes whenever the cursor's bytes may */
    /* One required literal: its first occurrence at or after the current
     * line's start in the rest of the block (NULL: none), valid once
     * occ_set; found by one search per occurrence instead of one per line. */
    const char *occ;
    int occ_set;
    /* A decompressed block wholly inside the range with one required
     * literal: cursor_next passes over the lines before the literal's
     * next occurrence in one call (lit_next), so only lines holding it
     * reach the merge. */
    int lit_fast;
    /* lens_only column cursors: each metadata set decoded once per
     * generation, at lab + lab_off[set] (valid when lab_gen[set] == gen) */
    struct noa_label *lab;
    uint32_t lab_used, lab_cap;
    uint64_t lab_used_gen;
    uint32_t lab_off[NOA_BLOCKCOL_MAX_SETS];
    uint64_t lab_gen[NOA_BLOCKCOL_MAX_SETS];
};

/* An entry of the current timestamp, remembered for deduplication. */
struct seen {
    struct noa_str line, meta;
    uint32_t n_meta;
    uint32_t slot; /* in the hash table, once hashed */
    uint64_t h;
    int known; /* lens_only: h was computed (else no other entry had this time) */
};

/* Position of a head entry: the head's bytes are sorted by time except
 * entries being sealed, appended at the end. */
struct hpos {
    int64_t ts;
    size_t off;
};

struct sr {
    const struct noa_streamread_query *q;
    const struct noa_streamread_required *req; /* NULL: nothing to check */
    struct noa_streamread_stats *st;
    struct noa_error *err;
    struct chunk *chunks;
    size_t n_chunks, cap_chunks;
    struct item *pend; /* min-heap on min_ts */
    size_t n_pend, cap_pend;
    struct cursor **open; /* min-heap on e.ts_ns */
    size_t n_open, cap_open;
    struct cursor **pool; /* released cursors, their buffers kept for reuse */
    size_t n_pool, cap_pool;
    struct cursor **retired; /* exhausted at the current timestamp */
    size_t n_retired, cap_retired;
    struct cursor *head;
    struct hpos *hidx;
    size_t n_hidx, hnext;
    /* deduplication of the current timestamp */
    int64_t cur_ts;
    struct seen *seen;
    size_t n_seen, cap_seen;
    int hashed;
    uint32_t *table;        /* seen index + 1; 0 = empty */
    uint32_t tcap;          /* power of two */
    struct noa_label *meta; /* decoded metadata of the entry being delivered */
    uint32_t cap_meta;
    /* lens_only: whose encoded metadata s->meta holds (a column's entries
     * share a few sets: equal bytes at the same place in the same cursor
     * generation are not decoded again) */
    uint64_t gen_next;
    const struct cursor *m_cur;
    uint64_t m_gen;
    struct noa_str m_enc;
    uint32_t m_n, m_decoded;
};

#define GROW(p, n, cap)                                                                            \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            (cap) = (cap) ? (cap)*2 : 8;                                                           \
            (p) = noa_xrealloc((p), (cap) * sizeof(*(p)));                                         \
        }                                                                                          \
    } while (0)

/* ---- required literals -------------------------------------------------------------- */

static int collect_group_cb(void *ctx, const struct noa_linefilter_literal *alts, unsigned n)
{
    struct noa_streamread_required *rq = ctx;
    if (rq->n_lits + n > NOA_STREAMREAD_MAX_LITS)
        return 0; /* left out: fewer skips, never wrong */
    rq->groups[rq->n_groups].first = rq->n_lits;
    rq->groups[rq->n_groups].n = n;
    rq->n_groups++;
    for (unsigned i = 0; i < n; i++)
        rq->lits[rq->n_lits++] = alts[i];
    return 0;
}

void noa_streamread_required_init(struct noa_streamread_required *rq, const struct noa_pipeline *p)
{
    memset(rq, 0, sizeof(*rq));
    if (p)
        noa_pipeline_required_literals(p, collect_group_cb, rq);
}

/* 1 when a block summary proves that no line of the block passes some
 * group. */
static int summary_excludes(const struct noa_streamread_required *rq, const void *sum, size_t len)
{
    if (!rq || !sum || !len)
        return 0;
    for (unsigned g = 0; g < rq->n_groups; g++) {
        unsigned k;
        for (k = 0; k < rq->groups[g].n; k++) {
            const struct noa_str *l = &rq->lits[rq->groups[g].first + k].s;
            if (noa_blocksum_may_contain(sum, len, l->p, l->len))
                break;
        }
        if (k == rq->groups[g].n)
            return 1;
    }
    return 0;
}

/* 1 when line holds a literal of every group (it may pass the pipeline). */
static int line_may_pass(const struct noa_streamread_required *rq, struct noa_str line)
{
    for (unsigned g = 0; g < rq->n_groups; g++) {
        unsigned k;
        for (k = 0; k < rq->groups[g].n; k++)
            if (noa_linefilter_find(&rq->lits[rq->groups[g].first + k], line.p, line.len))
                break;
        if (k == rq->groups[g].n)
            return 0;
    }
    return 1;
}

/* ---- heaps ---------------------------------------------------------------------- */

static void pend_push(struct sr *s, struct item it)
{
    GROW(s->pend, s->n_pend, s->cap_pend);
    size_t i = s->n_pend++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (s->pend[p].min_ts <= it.min_ts)
            break;
        s->pend[i] = s->pend[p];
        i = p;
    }
    s->pend[i] = it;
}

static struct item pend_pop(struct sr *s)
{
    struct item top = s->pend[0], last = s->pend[--s->n_pend];
    size_t i = 0, n = s->n_pend;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && s->pend[c + 1].min_ts < s->pend[c].min_ts)
            c++;
        if (last.min_ts <= s->pend[c].min_ts)
            break;
        s->pend[i] = s->pend[c];
        i = c;
    }
    if (n)
        s->pend[i] = last;
    return top;
}

static void open_sift_down(struct sr *s, size_t i)
{
    struct cursor *x = s->open[i];
    size_t n = s->n_open;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && s->open[c + 1]->e.ts_ns < s->open[c]->e.ts_ns)
            c++;
        if (x->e.ts_ns <= s->open[c]->e.ts_ns)
            break;
        s->open[i] = s->open[c];
        i = c;
    }
    s->open[i] = x;
}

static void open_push(struct sr *s, struct cursor *c)
{
    GROW(s->open, s->n_open, s->cap_open);
    size_t i = s->n_open++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (s->open[p]->e.ts_ns <= c->e.ts_ns)
            break;
        s->open[i] = s->open[p];
        i = p;
    }
    s->open[i] = c;
}

static void open_pop(struct sr *s)
{
    s->open[0] = s->open[--s->n_open];
    if (s->n_open)
        open_sift_down(s, 0);
}

/* ---- cursors ---------------------------------------------------------------------- */

static struct cursor *cursor_get(struct sr *s)
{
    struct cursor *c = s->n_pool ? s->pool[--s->n_pool] : noa_xcalloc(1, sizeof(*c));
    c->chunk = -1;
    c->head = 0;
    c->col = 0;
    c->lit_fast = 0;
    c->raw.len = 0;
    return c;
}

static void chunk_release(struct sr *s, int64_t idx)
{
    if (idx < 0)
        return;
    struct chunk *ch = &s->chunks[idx];
    if (--ch->live == 0) {
        noa_chunk_reader_fini(&ch->rd);
        noa_buf_fini(&ch->file);
    }
}

/* A cursor no entry of the current timestamp points into. */
static void cursor_put(struct sr *s, struct cursor *c)
{
    chunk_release(s, c->chunk);
    c->chunk = -1;
    GROW(s->pool, s->n_pool, s->cap_pool);
    s->pool[s->n_pool++] = c;
}

/* An exhausted cursor whose entries may still be remembered. */
static void cursor_retire(struct sr *s, struct cursor *c)
{
    if (c->head)
        return; /* the head's bytes belong to the snapshot */
    GROW(s->retired, s->n_retired, s->cap_retired);
    s->retired[s->n_retired++] = c;
}

/* lit_fast cursors: moves c to its next line that holds the literal.
 * The block is searched from the next entry on; every entry whose line
 * ends before the occurrence ends lacks it and is skipped by the chunk
 * iterator (counted as read, as deliver would). An occurrence that starts
 * before the line it ends in (in an entry header or metadata) proves
 * nothing: that line is searched again from its own start. */
/* Kept out of cursor_next: the column path's per-entry call stays as small
 * as before. */
__attribute__((noinline)) static int lit_next(struct sr *s, struct cursor *c)
{
    const struct noa_linefilter_literal *lit = &s->req->lits[0];
    const char *base = c->raw.data, *end = base + c->raw.len;
    int rc;
    for (;;) {
        const char *pos = base + c->it.off;
        if (!c->occ_set || (c->occ && c->occ < pos)) {
            c->occ = noa_linefilter_find(lit, pos, (size_t)(end - pos));
            c->occ_set = 1;
        }
        size_t upto = c->occ ? (size_t)(c->occ - base) + lit->s.len : c->raw.len + 1;
        uint64_t n = 0;
        rc = noa_chunk_iter_skip(&c->it, upto, &n, &s->st->bytes, s->err);
        s->st->entries += n;
        s->st->decompressed_lines += n;
        if (rc <= 0)
            return rc;
        rc = noa_chunk_iter_next(&c->it, &c->e, s->err);
        if (rc <= 0)
            return rc;
        s->st->decompressed_lines++;
        /* The block meta's bounds are checked by its CRC, not against its
         * entries: a delivered line is still held to the range. */
        if (c->e.ts_ns >= s->q->through_ns)
            return 0;
        const struct noa_str *l = &c->e.line;
        if (c->e.ts_ns < s->q->from_ns)
            continue;
        if (c->occ < l->p)
            c->occ = noa_linefilter_find(lit, l->p, (size_t)(end - l->p));
        if (c->occ && (size_t)(c->occ - l->p) + lit->s.len <= l->len)
            return 1;
        s->st->entries++;
        s->st->bytes += l->len;
    }
}

/* Moves c to its next entry in the range; 0 when there is none. */
static int cursor_next(struct sr *s, struct cursor *c)
{
    int rc;
    if (c->lit_fast)
        return lit_next(s, c);
    if (c->col) {
        rc = noa_blockcol_next(&c->ci, &c->ce, s->err);
        if (rc <= 0)
            return rc;
        c->k++;
        s->st->column_entries++;
        c->e.ts_ns = c->ce.ts_ns;
        c->e.line = (struct noa_str){NULL, (size_t)c->ce.line_len};
        c->e.n_meta = c->ce.n_meta;
        c->e.meta = c->ce.meta;
        return c->e.ts_ns < s->q->through_ns;
    }
    if (c->head) {
        const struct noa_buf *h = &s->q->mem->head;
        if (s->hnext >= s->n_hidx)
            return 0;
        size_t off = s->hidx[s->hnext++].off;
        noa_chunk_iter_init(&c->it, h->data + off, h->len - off);
        rc = noa_chunk_iter_next(&c->it, &c->e, s->err);
    } else {
        rc = noa_chunk_iter_next(&c->it, &c->e, s->err);
        if (rc > 0)
            s->st->decompressed_lines++;
    }
    if (rc < 0)
        return rc;
    return rc > 0 && c->e.ts_ns < s->q->through_ns;
}

/* Positions a fresh block cursor on its first entry in the range and
 * opens it; releases it when the range holds none. */
static int cursor_start(struct sr *s, struct cursor *c)
{
    int rc;
    c->gen = ++s->gen_next;
    c->occ_set = 0;
    if (!c->col)
        noa_chunk_iter_init(&c->it, c->raw.data, c->raw.len);
    while ((rc = cursor_next(s, c)) > 0 && c->e.ts_ns < s->q->from_ns)
        ;
    if (rc > 0) {
        open_push(s, c);
        return 0;
    }
    cursor_put(s, c);
    return rc;
}

/* ---- opening ---------------------------------------------------------------------- */

static int check_deadline(struct sr *s)
{
    if (s->q->deadline_ns && noa_clock_mono_ns() >= s->q->deadline_ns)
        return noa_error_set(s->err, NOA_ETIMEOUT, "context deadline exceeded");
    return 0;
}

static int overlaps(const struct sr *s, int64_t min_ts, int64_t max_ts)
{
    return max_ts >= s->q->from_ns && min_ts < s->q->through_ns;
}

/* Fetches a chunk and queues its blocks that overlap the range. */
static int open_chunk(struct sr *s, uint32_t idx)
{
    struct chunk *ch = &s->chunks[idx];
    struct noa_chunkstore *store = noa_ingester_store(s->q->ing);
    int rc = noa_chunkstore_get(store, ch->ref.key, &ch->file);
    if (rc < 0)
        return noa_error_set(s->err, rc, "reading chunk %s: %s", ch->ref.key, noa_strerror(rc));
    s->st->chunks_downloaded++;
    s->st->compressed_bytes += ch->file.len;
    rc = noa_chunk_open(ch->file.data, ch->file.len, &ch->rd, s->err);
    if (rc < 0) {
        noa_buf_fini(&ch->file);
        return rc;
    }
    ch->live = 1; /* held while queuing */
    for (size_t i = 0; i < ch->rd.n_blocks; i++) {
        const struct noa_chunk_block_meta *bm = &ch->rd.blocks[i];
        if (!overlaps(s, bm->min_ts, bm->max_ts))
            continue; /* never decompressed */
        if (summary_excludes(s->req, bm->sum, bm->sum_len)) {
            s->st->blocks_skipped++;
            continue;
        }
        ch->live++;
        pend_push(s, (struct item){bm->min_ts, ITEM_CHUNKBLOCK, idx, (uint32_t)i});
    }
    chunk_release(s, idx);
    return 0;
}

/* lens_only: points c at the block's entry column. 1 when it has one, 0
 * when it must be decompressed, or an error (c then released). */
static int open_column(struct sr *s, struct cursor *c, struct item it)
{
    const unsigned char *col;
    size_t len;
    uint64_t n;
    int64_t min_ts, max_ts;
    if (it.kind == ITEM_MEMBLOCK) {
        const struct noa_chunk_block *cb = &s->q->mem->blocks[it.idx]->cb;
        col = (const unsigned char *)cb->col.data;
        len = cb->col.len;
        n = cb->n_entries;
        min_ts = cb->min_ts;
        max_ts = cb->max_ts;
    } else {
        const struct noa_chunk_block_meta *bm = &s->chunks[it.idx].rd.blocks[it.blk];
        col = bm->col;
        len = bm->col_len;
        n = bm->n_entries;
        min_ts = bm->min_ts;
        max_ts = bm->max_ts;
    }
    if (!len)
        return 0;
    if (it.kind == ITEM_CHUNKBLOCK)
        c->chunk = it.idx;
    int rc = noa_blockcol_iter_init(&c->ci, col, len, n, min_ts, max_ts, s->err);
    if (rc < 0) {
        cursor_put(s, c);
        return rc;
    }
    c->col = 1;
    c->k = UINT64_MAX; /* the first entry read makes it 0 */
    c->src = it;
    return 1;
}

/* Turns a column cursor into one over the decompressed block, on the same
 * entry: its line is needed after all (another block has an entry at the
 * same time, which may be its duplicate). */
static int cursor_inflate(struct sr *s, struct cursor *c)
{
    struct noa_chunk_entry e = {0};
    int rc;
    if (c->src.kind == ITEM_MEMBLOCK)
        rc = noa_block_inflate(s->q->mem->blocks[c->src.idx], &c->raw, s->err);
    else
        rc = noa_chunk_block_inflate(&s->chunks[c->src.idx].rd, c->src.blk, &c->raw, s->err);
    if (rc < 0)
        return rc;
    s->st->decompressed_bytes += c->raw.len;
    s->st->column_blocks_inflated++;
    noa_chunk_iter_init(&c->it, c->raw.data, c->raw.len);
    for (uint64_t i = 0; i <= c->k; i++) {
        rc = noa_chunk_iter_next(&c->it, &e, s->err);
        if (rc < 0)
            return rc;
        if (rc == 0)
            break;
        s->st->decompressed_lines++;
    }
    if (rc == 0 || e.ts_ns != c->e.ts_ns || e.line.len != c->e.line.len ||
        e.n_meta != c->e.n_meta || !noa_str_eq(e.meta, c->e.meta))
        return noa_error_set(s->err, NOA_ECORRUPT, "block column disagrees with its block");
    c->e = e;
    c->col = 0;
    c->gen = ++s->gen_next;
    return 0;
}

/* 1 when a decompressed block may be read by lit_next: one required
 * literal, and the block wholly inside the range (its entries then need
 * no time check to be counted or skipped). */
static int lit_fast_ok(const struct sr *s, struct item it)
{
    const struct noa_streamread_required *rq = s->req;
    if (!rq || rq->n_groups != 1 || rq->groups[0].n != 1 || !rq->lits[0].s.len)
        return 0;
    int64_t min_ts, max_ts;
    if (it.kind == ITEM_MEMBLOCK) {
        const struct noa_chunk_block *cb = &s->q->mem->blocks[it.idx]->cb;
        min_ts = cb->min_ts;
        max_ts = cb->max_ts;
    } else {
        const struct noa_chunk_block_meta *bm = &s->chunks[it.idx].rd.blocks[it.blk];
        min_ts = bm->min_ts;
        max_ts = bm->max_ts;
    }
    return min_ts >= s->q->from_ns && max_ts < s->q->through_ns;
}

static int open_item(struct sr *s, struct item it)
{
    int rc = check_deadline(s);
    if (rc < 0) {
        if (it.kind == ITEM_CHUNKBLOCK)
            chunk_release(s, it.idx);
        return rc;
    }
    if (it.kind == ITEM_CHUNK)
        return open_chunk(s, it.idx);
    struct cursor *c = cursor_get(s);
    if (s->q->lens_only && (rc = open_column(s, c, it)) != 0)
        return rc < 0 ? rc : cursor_start(s, c);
    if (it.kind == ITEM_MEMBLOCK) {
        rc = noa_block_inflate(s->q->mem->blocks[it.idx], &c->raw, s->err);
    } else {
        c->chunk = it.idx;
        rc = noa_chunk_block_inflate(&s->chunks[it.idx].rd, it.blk, &c->raw, s->err);
    }
    if (rc < 0) {
        cursor_put(s, c);
        return rc;
    }
    s->st->decompressed_bytes += c->raw.len;
    c->lit_fast = lit_fast_ok(s, it);
    return cursor_start(s, c);
}

static int hpos_cmp(const void *a, const void *b)
{
    const struct hpos *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Indexes the head's entries in the range by time (a copy: the snapshot's
 * bytes are left as they are) and opens a cursor over them. */
static int open_head(struct sr *s)
{
    const struct noa_buf *h = &s->q->mem->head;
    struct noa_chunk_iter it;
    struct noa_chunk_entry e;
    size_t cap = 0;
    int rc, sorted = 1;
    s->st->head_bytes += h->len;
    s->st->head_lines += s->q->mem->head_entries;
    noa_chunk_iter_init(&it, h->data, h->len);
    for (;;) {
        size_t off = it.off;
        if ((rc = noa_chunk_iter_next(&it, &e, s->err)) <= 0)
            break;
        if (e.ts_ns < s->q->from_ns || e.ts_ns >= s->q->through_ns)
            continue;
        GROW(s->hidx, s->n_hidx, cap);
        if (s->n_hidx && s->hidx[s->n_hidx - 1].ts > e.ts_ns)
            sorted = 0;
        s->hidx[s->n_hidx++] = (struct hpos){e.ts_ns, off};
    }
    if (rc < 0)
        return rc;
    if (!s->n_hidx)
        return 0;
    if (!sorted) /* by (time, offset): stable, as a sealed block */
        qsort(s->hidx, s->n_hidx, sizeof(*s->hidx), hpos_cmp);
    struct cursor *c = noa_xcalloc(1, sizeof(*c));
    c->head = 1;
    c->chunk = -1;
    c->gen = ++s->gen_next;
    s->head = c;
    rc = cursor_next(s, c);
    if (rc > 0)
        open_push(s, c);
    return rc < 0 ? rc : 0;
}

static int chunk_cb(const struct noa_chunk_ref *ref, void *arg)
{
    struct sr *s = arg;
    GROW(s->chunks, s->n_chunks, s->cap_chunks);
    struct chunk *ch = &s->chunks[s->n_chunks++];
    memset(ch, 0, sizeof(*ch));
    ch->ref = *ref;
    s->st->chunks_ref++;
    return 0;
}

/* ---- deduplication ------------------------------------------------------------------ */

static uint64_t seen_hash(const struct seen *x)
{
    uint64_t h = XXH3_64bits(x->line.p, x->line.len);
    return XXH3_64bits_withSeed(x->meta.p, x->meta.len, h ^ x->n_meta);
}

static int seen_eq(const struct seen *a, const struct seen *b)
{
    return a->n_meta == b->n_meta && noa_str_eq(a->line, b->line) && noa_str_eq(a->meta, b->meta);
}

static void table_insert(struct sr *s, uint32_t k)
{
    uint32_t mask = s->tcap - 1, i = (uint32_t)s->seen[k].h & mask;
    while (s->table[i])
        i = (i + 1) & mask;
    s->table[i] = k + 1;
    s->seen[k].slot = i;
}

/* Makes room for one more hashed entry (load at most one half). */
static void table_reserve(struct sr *s, size_t n)
{
    if (2 * n < s->tcap)
        return;
    uint32_t cap = s->tcap ? s->tcap : 16;
    while (2 * n >= cap)
        cap *= 2;
    noa_free(s->table);
    s->table = noa_xcalloc(cap, sizeof(*s->table));
    s->tcap = cap;
    for (size_t k = 0; k + 1 < n; k++)
        table_insert(s, (uint32_t)k);
}

/* Forgets the previous timestamp's entries; the blocks exhausted at it can
 * now be reused. */
static void seen_reset(struct sr *s)
{
    if (s->hashed) {
        if (s->n_seen * 4 < s->tcap)
            for (size_t k = 0; k < s->n_seen; k++)
                s->table[s->seen[k].slot] = 0;
        else
            memset(s->table, 0, s->tcap * sizeof(*s->table));
    }
    s->hashed = 0;
    s->n_seen = 0;
    while (s->n_retired)
        cursor_put(s, s->retired[--s->n_retired]);
}

/* 1 when e repeats an entry already delivered (same time, line and
 * metadata); otherwise remembers it. Hashing starts with the second entry
 * of a timestamp: most timestamps have one. */
static int seen_dup(struct sr *s, const struct noa_chunk_entry *e)
{
    if (!s->n_seen || e->ts_ns != s->cur_ts) {
        seen_reset(s);
        s->cur_ts = e->ts_ns;
    }
    GROW(s->seen, s->n_seen, s->cap_seen);
    struct seen *x = &s->seen[s->n_seen];
    *x = (struct seen){e->line, e->meta, e->n_meta, 0, 0, 1};
    if (s->n_seen == 0) {
        s->n_seen = 1;
        return 0;
    }
    if (!s->hashed) {
        s->seen[0].h = seen_hash(&s->seen[0]);
        table_reserve(s, 1);
        table_insert(s, 0);
        s->hashed = 1;
    }
    x->h = seen_hash(x);
    uint32_t mask = s->tcap - 1;
    for (uint32_t i = (uint32_t)x->h & mask; s->table[i]; i = (i + 1) & mask) {
        const struct seen *y = &s->seen[s->table[i] - 1];
        if (y->h == x->h && seen_eq(x, y))
            return 1;
    }
    s->n_seen++;
    table_reserve(s, s->n_seen);
    table_insert(s, (uint32_t)(s->n_seen - 1));
    return 0;
}

/* lens_only: 1 when the hashed entry (h, len, n_meta) repeats one of the
 * current timestamp's (the caller reset the set at a new timestamp);
 * otherwise remembers it. known = 0: no hash, which only the first entry
 * of a timestamp may lack (no other entry has that time, see
 * deliver_lens); a second one then is a logic error. */
static int seen_dup_hashed(struct sr *s, uint64_t h, size_t len, uint32_t n_meta, int known)
{
    GROW(s->seen, s->n_seen, s->cap_seen);
    struct seen *x = &s->seen[s->n_seen];
    *x = (struct seen){{NULL, len}, {NULL, 0}, n_meta, 0, h, known};
    if (s->n_seen == 0) {
        s->n_seen = 1;
        return 0;
    }
    if (!known || !s->seen[0].known)
        return noa_error_set(s->err, NOA_EINTERNAL, "streamread: unhashed entry at a shared time");
    if (!s->hashed) {
        table_reserve(s, 1);
        table_insert(s, 0);
        s->hashed = 1;
    }
    uint32_t mask = s->tcap - 1;
    for (uint32_t i = (uint32_t)h & mask; s->table[i]; i = (i + 1) & mask) {
        const struct seen *y = &s->seen[s->table[i] - 1];
        if (y->h == h && y->line.len == len && y->n_meta == n_meta)
            return 1;
    }
    s->n_seen++;
    table_reserve(s, s->n_seen);
    table_insert(s, (uint32_t)(s->n_seen - 1));
    return 0;
}

/* 1 when an open cursor other than the top (c) is at time t: the top's
 * smallest rival is one of its two children. */
static int peer_at(const struct sr *s, int64_t t)
{
    return (s->n_open > 1 && s->open[1]->e.ts_ns == t) ||
           (s->n_open > 2 && s->open[2]->e.ts_ns == t);
}

/* Hands a column entry to the callback with its metadata set decoded
 * once per cursor generation (sets alternate entry by entry). */
static int deliver_col_meta(struct sr *s, struct cursor *c)
{
    const struct noa_chunk_entry *e = &c->e;
    uint32_t set = c->ce.set;
    if (c->lab_used_gen != c->gen) {
        c->lab_used = 0;
        c->lab_used_gen = c->gen;
    }
    if (c->lab_gen[set] != c->gen) {
        if (c->lab_used + e->n_meta > c->lab_cap) {
            c->lab_cap = (c->lab_used + e->n_meta) * 2;
            c->lab = noa_xrealloc(c->lab, c->lab_cap * sizeof(*c->lab));
        }
        uint32_t n = 0;
        size_t pos = 0;
        while (n < e->n_meta && noa_chunk_meta_next(e, &pos, &c->lab[c->lab_used + n]))
            n++;
        c->lab_off[set] = c->lab_used;
        c->lab_gen[set] = c->gen;
        c->lab_used += e->n_meta;
    }
    /* iter_init validated every set: all n_meta pairs decode */
    return s->q->entry_cb(s->q->arg, e->ts_ns, e->line, c->lab + c->lab_off[set], e->n_meta);
}

/* deliver for lens_only reads. Everything that may hold an entry at c's
 * time is open (merge opens what is pending up to the top's time), so a
 * column entry with no neighbour at its time in its own block (no stored
 * hash), no other cursor at that time and nothing delivered at that time
 * can have no duplicate: it needs no hash. Otherwise a column entry
 * without a stored hash makes its cursor decompress the block. */
static int deliver_lens(struct sr *s, struct cursor *c)
{
    int rc;
    int64_t t = c->e.ts_ns;
    s->st->entries++;
    s->st->bytes += c->e.line.len;
    if (!s->n_seen || t != s->cur_ts) {
        seen_reset(s);
        s->cur_ts = t;
    }
    int need = !c->col || s->n_seen || c->ce.has_hash || peer_at(s, t);
    uint64_t h = 0;
    if (need) {
        if (c->col && !c->ce.has_hash && (rc = cursor_inflate(s, c)) < 0)
            return rc;
        h = c->col ? c->ce.hash : noa_blockcol_hash(c->e.line, c->e.meta, c->e.n_meta);
    }
    rc = seen_dup_hashed(s, h, c->e.line.len, c->e.n_meta, need);
    if (rc < 0)
        return rc;
    if (rc) {
        s->st->duplicates++;
        return 0;
    }
    const struct noa_chunk_entry *e = &c->e;
    if (c->col)
        return deliver_col_meta(s, c);
    if (s->m_cur != c || s->m_gen != c->gen || s->m_enc.p != e->meta.p ||
        s->m_enc.len != e->meta.len || s->m_n != e->n_meta) {
        if (e->n_meta > s->cap_meta) {
            s->cap_meta = e->n_meta;
            s->meta = noa_xrealloc(s->meta, s->cap_meta * sizeof(*s->meta));
        }
        uint32_t n = 0;
        size_t pos = 0;
        while (n < e->n_meta && noa_chunk_meta_next(e, &pos, &s->meta[n]))
            n++;
        s->m_cur = c;
        s->m_gen = c->gen;
        s->m_enc = e->meta;
        s->m_n = e->n_meta;
        s->m_decoded = n;
    }
    return s->q->entry_cb(s->q->arg, e->ts_ns, e->line, s->meta, s->m_decoded);
}

/* ---- the merge ----------------------------------------------------------------------- */

/* line_may_pass for the current entry of c. With a single required
 * literal and a decompressed block, the block is searched from the line's
 * start to the literal's next occurrence, which then answers for every
 * line before it: one search per occurrence (entry headers and metadata
 * between lines are searched too, and occurrences there are passed over). */
static int cursor_may_pass(struct sr *s, struct cursor *c)
{
    const struct noa_chunk_entry *e = &c->e;
    const struct noa_linefilter_literal *lit = &s->req->lits[0];
    if (c->lit_fast)
        return 1; /* lit_next stopped only at a line holding the literal */
    if (s->req->n_groups != 1 || s->req->groups[0].n != 1 || c->head || c->col ||
        lit->s.len == 0)
        return line_may_pass(s->req, e->line);
    if (!c->occ_set || (c->occ && c->occ < e->line.p)) {
        const char *end = c->raw.data + c->raw.len;
        c->occ = noa_linefilter_find(lit, e->line.p, (size_t)(end - e->line.p));
        c->occ_set = 1;
    }
    return c->occ && (size_t)(c->occ - e->line.p) + lit->s.len <= e->line.len;
}

static int deliver(struct sr *s, struct cursor *c)
{
    const struct noa_chunk_entry *e = &c->e;
    s->st->entries++;
    s->st->bytes += e->line.len;
    /* A line the pipeline must drop never reaches the engine (its
     * duplicates would be dropped too, so it need not be remembered). */
    if (s->req && !cursor_may_pass(s, c))
        return 0;
    if (seen_dup(s, e)) {
        s->st->duplicates++;
        return 0;
    }
    if (e->n_meta > s->cap_meta) {
        s->cap_meta = e->n_meta;
        s->meta = noa_xrealloc(s->meta, s->cap_meta * sizeof(*s->meta));
    }
    uint32_t n = 0;
    size_t pos = 0;
    while (n < e->n_meta && noa_chunk_meta_next(e, &pos, &s->meta[n]))
        n++;
    return s->q->entry_cb(s->q->arg, e->ts_ns, e->line, s->meta, n);
}

static int merge(struct sr *s)
{
    int rc;
    for (;;) {
        /* Open everything that may hold an entry at or before the next one. */
        while (s->n_pend && (!s->n_open || s->pend[0].min_ts <= s->open[0]->e.ts_ns))
            if ((rc = open_item(s, pend_pop(s))) < 0)
                return rc;
        if (!s->n_open)
            return 0;
        struct cursor *c = s->open[0];
        rc = s->q->lens_only ? deliver_lens(s, c) : deliver(s, c);
        if (rc != 0)
            return rc;
        rc = cursor_next(s, c);
        if (rc < 0)
            return rc;
        if (rc > 0) {
            open_sift_down(s, 0);
        } else {
            open_pop(s);
            cursor_retire(s, c);
        }
    }
}

static void cursor_free(struct cursor *c)
{
    if (!c)
        return;
    noa_free(c->lab);
    noa_buf_fini(&c->raw);
    noa_free(c);
}

int noa_streamread_run(const struct noa_streamread_query *q, struct noa_streamread_stats *st,
                       struct noa_error *err)
{
    struct noa_streamread_stats dummy = {0};
    struct sr s = {.q = q, .st = st ? st : &dummy, .err = err};
    if (q->req && q->req->n_groups)
        s.req = q->req;
    int rc = 0;
    if (q->through_ns <= q->from_ns)
        return 0;
    /* Memory first: the caller took the snapshot before reading the index,
     * so a chunk flushed in between is read twice and deduplicated. */
    if (q->mem) {
        for (uint32_t b = 0; b < q->mem->n_blocks; b++) {
            const struct noa_chunk_block *cb = &q->mem->blocks[b]->cb;
            if (!overlaps(&s, cb->min_ts, cb->max_ts))
                continue;
            if (summary_excludes(s.req, cb->sum.data, cb->sum.len))
                s.st->blocks_skipped++;
            else
                pend_push(&s, (struct item){cb->min_ts, ITEM_MEMBLOCK, b, 0});
        }
        if (q->mem->head.len && (rc = open_head(&s)) < 0)
            goto done;
    }
    if (q->indexed) {
        rc = noa_index_chunks(noa_ingester_index(q->ing), q->tenant, q->fp, q->from_ns,
                              q->through_ns - 1, chunk_cb, &s);
        if (rc < 0) {
            noa_error_set(err, rc, "index lookup failed: %s", noa_strerror(rc));
            goto done;
        }
        for (size_t i = 0; i < s.n_chunks; i++)
            pend_push(&s, (struct item){s.chunks[i].ref.from_ns, ITEM_CHUNK, (uint32_t)i, 0});
    }
    rc = merge(&s);
done:
    /* Chunk blocks still queued or open hold their chunk's file. */
    for (size_t i = 0; i < s.n_pend; i++)
        if (s.pend[i].kind == ITEM_CHUNKBLOCK)
            chunk_release(&s, s.pend[i].idx);
    for (size_t i = 0; i < s.n_open; i++)
        if (!s.open[i]->head)
            cursor_put(&s, s.open[i]);
    while (s.n_retired)
        cursor_put(&s, s.retired[--s.n_retired]);
    for (size_t i = 0; i < s.n_pool; i++)
        cursor_free(s.pool[i]);
    cursor_free(s.head);
    noa_free(s.pool);
    noa_free(s.open);
    noa_free(s.retired);
    noa_free(s.pend);
    noa_free(s.chunks);
    noa_free(s.hidx);
    noa_free(s.seen);
    noa_free(s.table);
    noa_free(s.meta);
    return rc;
}
