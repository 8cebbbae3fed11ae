/*
 * Log selection over chunks and memory (see logsel.h). Worker thread.
 *
 * Blocks are skipped before they are decompressed when their summary
 * (ingester/blocksum.h) proves that none of their lines contains any
 * literal of one of the pipeline's required groups; a decompressed block
 * (or a head) is searched once as a whole for those literals, and only
 * the entries whose line holds a match are run through the pipeline.
 */
#include "querier/logsel.h"
#include "common/linefilter.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/pipeline.h"
#include "ingester/blocksum.h"
#include "ingester/chunk.h"
#include "ingester/chunkstore.h"
#include "ingester/index.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The literals every kept line contains: a conjunction of groups, each a
 * disjunction (noa_pipeline_required_literals). Read-only once built, so
 * every reader shares one. */
#define REQ_MAX_LITS 32

struct req_group {
    unsigned first, n; /* into lits */
};

struct required {
    struct noa_linefilter_literal lits[REQ_MAX_LITS]; /* borrowed from the pipeline */
    unsigned n_lits;
    struct req_group groups[REQ_MAX_LITS];
    unsigned n_groups;
    int no_summaries; /* 1: read every block anyway (measuring) */
};

/* An entry while gathering: metadata still encoded, borrowed from a block.
 * When the pipeline changed labels, `key` is the canonical text of the
 * final labels (it orders and deduplicates) and labels holds them; both,
 * and a rewritten line, live in the gather's arena. */
struct gentry {
    int64_t ts;
    struct noa_str line;
    struct noa_str meta_raw;
    uint32_t n_meta;
    struct noa_str key;
    struct noa_logsel_label *labels;
    uint32_t n_labels;
};

/* One stream being gathered. */
struct gather {
    uint64_t fp;
    struct noa_labels labels;       /* owned copy */
    struct noa_mem_stream *mem;     /* borrowed; NULL when only in the index */
    struct gentry *v;               /* entries gathered */
    size_t n, cap;
    struct noa_buf *raws;           /* decompressed blocks the entries point into */
    size_t n_raws, cap_raws;
    struct noa_buf spare;           /* a block buffer no entry points into, for reuse */
    struct noa_arena arena;         /* pipeline output of gathered entries */
};

struct run {
    const struct noa_logsel_query *q;
    const struct required *req;   /* NULL: nothing to skip on */
    struct noa_pipeline_state ps; /* the pipeline's per-line state */
    int have_bound;               /* the result already holds `limit` entries: */
    int64_t bound_ts;             /* entries past this time cannot enter it */
    struct noa_buf key;           /* scratch for label keys */
    struct noa_ingester *ing;
    struct noa_logsel_result *res;
    struct gather *g;
    size_t n_g, cap_g;
    struct noa_error *err;
    int status;
};

static struct gather *gather_find(struct run *r, uint64_t fp, const struct noa_labels *ls)
{
    for (size_t i = 0; i < r->n_g; i++)
        if (r->g[i].fp == fp && noa_labels_cmp(&r->g[i].labels, ls) == 0)
            return &r->g[i];
    if (r->n_g == r->cap_g) {
        r->cap_g = r->cap_g ? r->cap_g * 2 : 16;
        r->g = noa_xrealloc(r->g, r->cap_g * sizeof(*r->g));
    }
    struct gather *g = &r->g[r->n_g++];
    memset(g, 0, sizeof(*g));
    g->fp = fp;
    g->labels = noa_labels_dup(ls);
    return g;
}

static struct noa_buf *gather_raw(struct gather *g)
{
    if (g->n_raws == g->cap_raws) {
        g->cap_raws = g->cap_raws ? g->cap_raws * 2 : 4;
        g->raws = noa_xrealloc(g->raws, g->cap_raws * sizeof(*g->raws));
    }
    struct noa_buf *b = &g->raws[g->n_raws++];
    *b = g->spare;
    g->spare = (struct noa_buf){0};
    b->len = 0;
    return b;
}

/* Gives back the last buffer gather_raw returned when no entry kept from
 * it points into it, so that a block that yields nothing costs no memory
 * beyond one buffer. */
static void gather_unraw(struct gather *g)
{
    noa_buf_fini(&g->spare);
    g->spare = g->raws[--g->n_raws];
}

static void trim(struct run *r, struct gather *g);

/* 1 when an entry at ts cannot be among the `limit` the query returns. */
static int beyond_bound(const struct run *r, int64_t ts)
{
    return r->have_bound && (r->q->backward ? ts < r->bound_ts : ts > r->bound_ts);
}

/* Runs the pipeline on one entry; 0 when it is dropped. A pipeline that
 * changes lines or labels has its output copied into the gather's arena. */
static int run_pipeline(struct run *r, struct gather *g, const struct noa_chunk_entry *e,
                        struct gentry *ge)
{
    struct noa_lbuilder *lb = &r->ps.lb;
    struct noa_str out;
    /* Line filters read only the line: the labels need not be built. */
    if (noa_pipeline_filters_only(r->q->pipeline))
        return noa_pipeline_run(r->q->pipeline, &r->ps, e->ts_ns, e->line, &out);
    noa_lbuilder_reset(lb);
    size_t pos = 0;
    struct noa_label m;
    while (noa_chunk_meta_next(e, &pos, &m))
        noa_lbuilder_add_meta(lb, m.name, m.value);
    if (!noa_pipeline_run(r->q->pipeline, &r->ps, e->ts_ns, e->line, &out))
        return 0;
    if (out.p != e->line.p || out.len != e->line.len)
        ge->line = noa_arena_str(&g->arena, out);
    struct noa_labels fin;
    noa_lbuilder_labels(lb, &fin);
    ge->labels = noa_arena_alloc(&g->arena, (fin.n ? fin.n : 1) * sizeof(*ge->labels));
    ge->n_labels = fin.n;
    for (uint32_t i = 0; i < fin.n; i++) {
        struct noa_str v;
        uint8_t cat = NOA_LB_STREAM;
        if (noa_lbuilder_get_cat(lb, NOA_LB_PARSED, fin.v[i].name, &v) ||
            noa_str_eq_c(fin.v[i].name, NOA_LB_ERROR) ||
            noa_str_eq_c(fin.v[i].name, NOA_LB_ERROR_DETAILS))
            cat = NOA_LB_PARSED;
        else if (noa_lbuilder_get_cat(lb, NOA_LB_META, fin.v[i].name, &v))
            cat = NOA_LB_META;
        ge->labels[i] = (struct noa_logsel_label){
            {noa_arena_str(&g->arena, fin.v[i].name), noa_arena_str(&g->arena, fin.v[i].value)},
            cat};
    }
    noa_buf_reset(&r->key);
    noa_labels_format(&fin, &r->key);
    ge->key = noa_arena_str(&g->arena, (struct noa_str){r->key.data, r->key.len});
    ge->meta_raw = (struct noa_str){NULL, 0}; /* the labels say it all */
    ge->n_meta = 0;
    return 1;
}

static int64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* NOA_ETIMEOUT with Loki's text once the query's deadline has passed. */
static int check_deadline(struct run *r)
{
    if (r->q->deadline_ns && mono_ns() >= r->q->deadline_ns)
        return noa_error_set(r->err, NOA_ETIMEOUT, "context deadline exceeded");
    return 0;
}

static int collect_group_cb(void *ctx, const struct noa_linefilter_literal *alts, unsigned n)
{
    struct required *rq = ctx;
    if (rq->n_lits + n > REQ_MAX_LITS)
        return 0; /* a group that does not fit is left out: fewer skips, never wrong */
    rq->groups[rq->n_groups++] = (struct req_group){rq->n_lits, n};
    for (unsigned i = 0; i < n; i++)
        rq->lits[rq->n_lits++] = alts[i];
    return 0;
}

/* 1 when the block summary proves that no line passes some group. */
static int summary_excludes(const struct required *rq, const unsigned char *sum, size_t len)
{
    if (!rq || !sum || !len || rq->no_summaries)
        return 0;
    for (unsigned g = 0; g < rq->n_groups; g++) {
        unsigned k = 0;
        const struct req_group *gr = &rq->groups[g];
        while (k < gr->n) {
            const struct noa_str *s = &rq->lits[gr->first + k].s;
            if (noa_blocksum_may_contain(sum, len, s->p, s->len))
                break;
            k++;
        }
        if (k == gr->n)
            return 1;
    }
    return 0;
}

/*
 * Where the next match of each required literal lies in a raw block, so
 * that one search over the block replaces one per line: an entry whose
 * line cannot hold a match of every group is dropped without running the
 * pipeline. next[i] is the offset of literal i's first match at or after
 * the current line (SIZE_MAX: none left).
 */
struct presearch {
    const struct required *rq;
    const char *base;
    size_t len;
    size_t next[REQ_MAX_LITS];
};

static void presearch_find(struct presearch *ps, unsigned i, size_t from)
{
    const char *hit = from <= ps->len ? noa_linefilter_find(&ps->rq->lits[i], ps->base + from,
                                                             ps->len - from)
                                      : NULL;
    ps->next[i] = hit ? (size_t)(hit - ps->base) : SIZE_MAX;
}

/* Starts a presearch of raw[0..len); returns 0 when some group has no
 * match anywhere in the block (nothing in it can pass). */
static int presearch_init(struct presearch *ps, const struct required *rq, const char *raw,
                          size_t len)
{
    ps->rq = rq;
    ps->base = raw;
    ps->len = len;
    for (unsigned i = 0; i < rq->n_lits; i++)
        presearch_find(ps, i, 0);
    for (unsigned g = 0; g < rq->n_groups; g++) {
        unsigned k = 0;
        while (k < rq->groups[g].n && ps->next[rq->groups[g].first + k] == SIZE_MAX)
            k++;
        if (k == rq->groups[g].n)
            return 0;
    }
    return 1;
}

/* 1 when the line at [off, off+n) of the block may pass every group, 0
 * when it cannot, -1 when no line from here to the block's end can. A
 * literal's first match at or after the line start that does not end
 * inside the line means no match does. */
static int presearch_line(struct presearch *ps, size_t off, size_t n)
{
    const struct required *rq = ps->rq;
    /* First a group that is known to fail without searching again: every
     * literal's next match lies past this line (typically the rare one of
     * `|= "GET" |= "rare"`), so frequent literals are not searched for
     * line after line. */
    for (unsigned g = 0; g < rq->n_groups; g++) {
        int fails = 1, left = 0;
        for (unsigned k = 0; k < rq->groups[g].n && fails; k++) {
            unsigned i = rq->groups[g].first + k;
            fails = ps->next[i] >= off &&
                    (ps->next[i] == SIZE_MAX || ps->next[i] + rq->lits[i].s.len > off + n);
            left |= ps->next[i] != SIZE_MAX;
        }
        if (fails)
            return left ? 0 : -1;
    }
    for (unsigned g = 0; g < rq->n_groups; g++) {
        int found = 0, left = 0;
        for (unsigned k = 0; k < rq->groups[g].n && !found; k++) {
            unsigned i = rq->groups[g].first + k;
            if (ps->next[i] < off)
                presearch_find(ps, i, off);
            left |= ps->next[i] != SIZE_MAX;
            found = ps->next[i] != SIZE_MAX && ps->next[i] + rq->lits[i].s.len <= off + n;
        }
        if (!found)
            return left ? 0 : -1;
    }
    return 1;
}

/* Adds the entries of one raw block that fall in the query range;
 * decompressed: the block came from a chunk or a sealed block (its lines
 * count as decompressed lines), not from a head. */
static int gather_block(struct run *r, struct gather *g, const struct noa_buf *raw,
                        int decompressed)
{
    struct noa_chunk_iter it;
    struct noa_chunk_entry e;
    struct presearch ps = {0};
    int rc, searched = 0;
    if (r->req) {
        if (!presearch_init(&ps, r->req, raw->data, raw->len)) {
            r->res->blocks_presearched += (uint64_t)decompressed;
            return 0;
        }
        searched = 1;
    }
    noa_chunk_iter_init(&it, raw->data, raw->len);
    while ((rc = noa_chunk_iter_next(&it, &e, r->err)) == 1) {
        r->res->lines_processed++;
        r->res->decompressed_lines += (uint64_t)decompressed;
        r->res->bytes_processed += e.line.len;
        if (e.ts_ns < r->q->start_ns || e.ts_ns >= r->q->end_ns || beyond_bound(r, e.ts_ns))
            continue;
        if (searched) {
            int may = presearch_line(&ps, (size_t)(e.line.p - raw->data), e.line.len);
            if (may < 0)
                break; /* past the block's last match */
            if (may == 0)
                continue;
        }
        struct gentry ge = {e.ts_ns, e.line, e.meta, e.n_meta, {NULL, 0}, NULL, 0};
        if (r->q->pipeline && !run_pipeline(r, g, &e, &ge))
            continue;
        r->res->post_filter_lines++;
        if (g->n == g->cap) {
            g->cap = g->cap ? g->cap * 2 : 256;
            g->v = noa_xrealloc(g->v, g->cap * sizeof(*g->v));
        }
        /* Metadata stays encoded until the entry is kept (see keep_best). */
        g->v[g->n++] = ge;
    }
    return rc < 0 ? rc : 0;
}

struct ref_ctx {
    struct run *r;
    struct gather *g;
};

static int chunk_ref_cb(const struct noa_chunk_ref *ref, void *arg)
{
    struct ref_ctx *rx = arg;
    struct run *r = rx->r;
    struct gather *g = rx->g;
    struct noa_buf file = {0};
    struct noa_chunk_reader cr = {0};
    if (beyond_bound(r, r->q->backward ? ref->through_ns : ref->from_ns))
        return 0; /* nothing in this chunk can make the result */
    int rc = noa_chunkstore_get(noa_ingester_store(r->ing), ref->key, &file);
    if (rc < 0) {
        noa_error_set(r->err, rc, "reading chunk %s: %s", ref->key, noa_strerror(rc));
        goto done;
    }
    r->res->chunks_read++;
    r->res->compressed_bytes += file.len;
    rc = noa_chunk_open(file.data, file.len, &cr, r->err);
    if (rc < 0)
        goto done;
    for (size_t i = 0; i < cr.n_blocks; i++) {
        const struct noa_chunk_block_meta *bm = &cr.blocks[i];
        if (bm->max_ts < r->q->start_ns || bm->min_ts >= r->q->end_ns ||
            beyond_bound(r, r->q->backward ? bm->max_ts : bm->min_ts))
            continue; /* never decompressed */
        if ((rc = check_deadline(r)) < 0)
            goto done;
        r->res->blocks_total++;
        if (summary_excludes(r->req, bm->sum, bm->sum_len)) {
            r->res->blocks_skipped++;
            continue;
        }
        struct noa_buf *raw = gather_raw(g);
        size_t had = g->n;
        /* gather_block's iteration checks every entry it reads: no second walk. */
        rc = noa_chunk_block_inflate(&cr, i, raw, r->err);
        if (rc < 0)
            goto done;
        r->res->decompressed_bytes += raw->len;
        rc = gather_block(r, g, raw, 1);
        if (rc < 0)
            goto done;
        if (g->n == had)
            gather_unraw(g);
        trim(r, g);
    }
done:
    noa_chunk_reader_fini(&cr);
    noa_buf_fini(&file);
    r->status = rc < 0 ? rc : 0;
    return rc < 0 ? rc : 0;
}

static int entry_cmp(const void *a, const void *b)
{
    const struct gentry *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    int c = noa_str_cmp(x->line, y->line);
    if (!c)
        c = noa_str_cmp(x->key, y->key);
    return c ? c : noa_str_cmp(x->meta_raw, y->meta_raw);
}

/* Sorts a stream's entries, drops exact duplicates (same time, line and
 * metadata or final labels: replicas, retries, replayed WAL) and moves the
 * `limit` the direction wants to the front. Returns how many that is. */
static size_t select_best(struct run *r, struct gather *g)
{
    if (g->n > 1)
        qsort(g->v, g->n, sizeof(*g->v), entry_cmp);
    size_t w = 0;
    for (size_t i = 0; i < g->n; i++) {
        if (w && entry_cmp(&g->v[w - 1], &g->v[i]) == 0) {
            r->res->duplicates++;
            continue;
        }
        g->v[w++] = g->v[i];
    }
    size_t from = 0, n = w;
    if (n > r->q->limit) {
        if (r->q->backward)
            from = n - r->q->limit;
        n = r->q->limit;
    }
    if (from)
        memmove(g->v, g->v + from, n * sizeof(*g->v));
    g->n = n;
    return n;
}

/*
 * Bounds a stream's memory while it is read: once it holds well over
 * `limit` entries, keep only the best `limit`, copy what they point to out
 * of the decompressed blocks, and release the blocks. Memory is then about
 * one block plus 2 x limit entries per stream, whatever the time range.
 */
static void trim(struct run *r, struct gather *g)
{
    if (g->n < 2 * (size_t)r->q->limit + 1024)
        return;
    select_best(r, g);
    struct noa_arena fresh = {0};
    for (size_t i = 0; i < g->n; i++) {
        struct gentry *ge = &g->v[i];
        ge->line = noa_arena_str(&fresh, ge->line);
        ge->meta_raw = noa_arena_str(&fresh, ge->meta_raw);
        ge->key = noa_arena_str(&fresh, ge->key);
        if (ge->labels) {
            struct noa_logsel_label *l =
                noa_arena_alloc(&fresh, (ge->n_labels ? ge->n_labels : 1) * sizeof(*l));
            for (uint32_t k = 0; k < ge->n_labels; k++)
                l[k] = (struct noa_logsel_label){{noa_arena_str(&fresh, ge->labels[k].l.name),
                                                  noa_arena_str(&fresh, ge->labels[k].l.value)},
                                                 ge->labels[k].cat};
            ge->labels = l;
        }
    }
    noa_arena_fini(&g->arena);
    g->arena = fresh;
    for (size_t i = 0; i < g->n_raws; i++)
        noa_buf_fini(&g->raws[i]);
    g->n_raws = 0;
}

/* Copies a stream's best entries into the result's arena. */
static void keep_best(struct run *r, struct gather *g, uint32_t stream_index)
{
    struct noa_logsel_result *res = r->res;
    size_t n = select_best(r, g);
    for (size_t i = 0; i < n; i++) {
        const struct gentry *ge = &g->v[i];
        if (beyond_bound(r, ge->ts))
            continue;
        struct noa_chunk_entry ce = {.n_meta = ge->n_meta, .meta = ge->meta_raw};
        struct noa_logsel_entry e = {.ts = ge->ts, .n_meta = ge->n_meta};
        e.line = noa_arena_str(&res->arena, ge->line);
        e.meta = e.n_meta ? noa_arena_alloc(&res->arena, e.n_meta * sizeof(*e.meta)) : NULL;
        size_t pos = 0;
        for (uint32_t k = 0; k < e.n_meta && noa_chunk_meta_next(&ce, &pos, &e.meta[k]); k++) {
            e.meta[k].name = noa_arena_str(&res->arena, e.meta[k].name);
            e.meta[k].value = noa_arena_str(&res->arena, e.meta[k].value);
        }
        if (ge->labels) {
            e.labels = noa_arena_alloc(&res->arena, (ge->n_labels ? ge->n_labels : 1) *
                                                        sizeof(*e.labels));
            e.n_labels = ge->n_labels;
            for (uint32_t k = 0; k < ge->n_labels; k++)
                e.labels[k] = (struct noa_logsel_label){
                    {noa_arena_str(&res->arena, ge->labels[k].l.name),
                     noa_arena_str(&res->arena, ge->labels[k].l.value)},
                    ge->labels[k].cat};
        }
        e.stream = stream_index;
        res->entries[res->n_entries++] = e;
    }
}

static void gather_fini(struct gather *g)
{
    for (size_t i = 0; i < g->n_raws; i++)
        noa_buf_fini(&g->raws[i]);
    noa_free(g->raws);
    noa_buf_fini(&g->spare);
    noa_free(g->v);
    noa_free(g->labels.v);
    noa_arena_fini(&g->arena);
}

static int series_collect_cb(uint64_t fp, const struct noa_labels *ls, void *arg)
{
    gather_find(arg, fp, ls);
    return 0;
}

static int result_cmp_forward(const void *a, const void *b)
{
    const struct noa_logsel_entry *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->stream < y->stream ? -1 : x->stream > y->stream;
}

static int result_cmp_backward(const void *a, const void *b)
{
    return result_cmp_forward(b, a);
}

/* Keeps the result's `limit` best entries (in the query's direction). The
 * entries cut keep their copies in the result arena until the end. */
static void cut_result(struct noa_logsel_result *out, const struct noa_logsel_query *q)
{
    qsort(out->entries, out->n_entries, sizeof(*out->entries),
          q->backward ? result_cmp_backward : result_cmp_forward);
    if (out->n_entries > q->limit)
        out->n_entries = q->limit;
}

/* Reads stream i of the run into r->res: its chunks through the index
 * (when it has any), then its memory, keeping its best entries. */
static int read_stream(struct run *r, size_t i, size_t indexed)
{
    const struct noa_logsel_query *q = r->q;
    struct noa_logsel_result *out = r->res;
    struct gather *g = &r->g[i];
    int rc = 0;
    noa_lbuilder_reset_stream(&r->ps.lb, &g->labels);
    if (i < indexed) {
        struct ref_ctx rx = {r, g};
        rc = noa_index_chunks(noa_ingester_index(r->ing), q->tenant, g->fp, q->start_ns,
                              q->end_ns - 1, chunk_ref_cb, &rx);
        if (rc < 0 || r->status < 0)
            return rc < 0 ? rc : r->status;
    }
    if (g->mem) {
        for (uint32_t b = 0; b < g->mem->n_blocks && rc == 0; b++) {
            const struct noa_chunk_block *cb = &g->mem->blocks[b]->cb;
            if (cb->max_ts < q->start_ns || cb->min_ts >= q->end_ns ||
                beyond_bound(r, q->backward ? cb->max_ts : cb->min_ts))
                continue;
            if ((rc = check_deadline(r)) < 0)
                break;
            r->res->blocks_total++;
            if (summary_excludes(r->req, (const unsigned char *)cb->sum.data, cb->sum.len)) {
                r->res->blocks_skipped++;
                continue;
            }
            struct noa_buf *raw = gather_raw(g);
            size_t had = g->n;
            rc = noa_block_inflate(g->mem->blocks[b], raw, r->err);
            if (rc == 0) {
                r->res->decompressed_bytes += raw->len;
                rc = gather_block(r, g, raw, 1);
            }
            if (rc == 0 && g->n == had)
                gather_unraw(g);
            if (rc == 0)
                trim(r, g);
        }
        if (rc == 0 && g->mem->head.len) {
            out->head_lines += g->mem->head_entries;
            out->head_bytes += g->mem->head.len;
            rc = gather_block(r, g, &g->mem->head, 0);
        }
        if (rc < 0)
            return rc;
    }
    struct noa_labels *dst = &out->streams[out->n_streams].labels;
    dst->n = g->labels.n;
    dst->v = noa_arena_alloc(&out->arena, (dst->n ? dst->n : 1) * sizeof(*dst->v));
    for (uint32_t k = 0; k < dst->n; k++) {
        dst->v[k].name = noa_arena_str(&out->arena, g->labels.v[k].name);
        dst->v[k].value = noa_arena_str(&out->arena, g->labels.v[k].value);
    }
    keep_best(r, g, out->n_streams);
    out->n_streams++;
    if (out->n_entries > 2 * (size_t)q->limit) {
        cut_result(out, q);
        r->have_bound = 1;
        r->bound_ts = out->entries[out->n_entries - 1].ts;
    }
    gather_fini(g);
    r->g[i] = (struct gather){0};
    return 0;
}

/* One reader thread: every `stride`-th stream from `first`, into its own
 * result; gathers are disjoint, everything else it reads is shared and
 * read-only (or thread-safe: index, chunk store). */
struct reader {
    pthread_t th;
    struct run r;
    struct noa_logsel_result res;
    struct noa_error err;
    size_t first, stride, indexed;
    int rc;
};

static void *reader_main(void *arg)
{
    struct reader *rd = arg;
    for (size_t i = rd->first; i < rd->r.n_g && rd->rc == 0; i += rd->stride) {
        rd->rc = check_deadline(&rd->r);
        if (rd->rc == 0)
            rd->rc = read_stream(&rd->r, i, rd->indexed);
    }
    return NULL;
}

/* Moves a reader's result into out: streams, entries (re-numbered), the
 * arena they live in, and the figures. */
static void merge_result(struct noa_logsel_result *out, struct noa_logsel_result *part)
{
    uint32_t base = out->n_streams;
    for (uint32_t s = 0; s < part->n_streams; s++)
        out->streams[base + s] = part->streams[s];
    out->n_streams += part->n_streams;
    for (size_t e = 0; e < part->n_entries; e++) {
        out->entries[out->n_entries] = part->entries[e];
        out->entries[out->n_entries++].stream += base;
    }
    noa_arena_adopt(&out->arena, &part->arena);
    out->bytes_processed += part->bytes_processed;
    out->lines_processed += part->lines_processed;
    out->post_filter_lines += part->post_filter_lines;
    out->chunks_read += part->chunks_read;
    out->head_lines += part->head_lines;
    out->head_bytes += part->head_bytes;
    out->decompressed_bytes += part->decompressed_bytes;
    out->decompressed_lines += part->decompressed_lines;
    out->compressed_bytes += part->compressed_bytes;
    out->duplicates += part->duplicates;
    out->blocks_total += part->blocks_total;
    out->blocks_skipped += part->blocks_skipped;
    out->blocks_presearched += part->blocks_presearched;
    noa_free(part->entries);
}

/* Two readers: the machine's two cores (a third would only contend). */
#define READERS 2

int noa_logsel_run(struct noa_ingester *ing, const struct noa_logsel_query *q,
                   struct noa_logsel_result *out, struct noa_error *err)
{
    struct run r = {.q = q, .ing = ing, .res = out, .err = err};
    struct noa_mem_stream *mem = NULL;
    struct reader rd[READERS];
    struct required req = {0};
    size_t n_mem = 0, n_readers = 0;
    int rc;
    memset(out, 0, sizeof(*out));
    memset(rd, 0, sizeof(rd));
    /* NOA_LOGSEL_NO_SKIP in the environment turns skipping off, to measure
     * (and profile) what it saves on the same data: 1 reads every block,
     * 2 also runs every line through the pipeline (no block-wide search). */
    const char *env = getenv("NOA_LOGSEL_NO_SKIP");
    int no_skip = q->no_skip ? q->no_skip : env ? atoi(env) : 0;
    if (q->pipeline && no_skip < 2)
        noa_pipeline_required_literals(q->pipeline, collect_group_cb, &req);
    req.no_summaries = no_skip >= 1;
    /* Memory first, then the index: a chunk flushed in between is then seen
     * twice (and deduplicated), never missed. */
    noa_ingester_snapshot(ing, q->tenant, q->sel, q->start_ns, q->end_ns - 1, 1, &mem, &n_mem);
    rc = noa_index_series(noa_ingester_index(ing), q->tenant, q->start_ns, q->end_ns - 1, q->sel,
                          series_collect_cb, &r);
    if (rc < 0) {
        noa_error_set(err, rc, "index lookup failed: %s", noa_strerror(rc));
        goto done;
    }
    size_t indexed = r.n_g;
    for (size_t i = 0; i < n_mem; i++)
        gather_find(&r, mem[i].fp, &mem[i].labels)->mem = &mem[i];
    n_readers = r.n_g < READERS ? r.n_g : READERS;
    out->streams = noa_arena_alloc(&out->arena, (r.n_g ? r.n_g : 1) * sizeof(*out->streams));
    /* Each reader keeps at most 3 x limit entries (cut back to `limit` past
     * 2 x limit); the merge holds every reader's. */
    out->entries = noa_xmalloc((n_readers ? n_readers : 1) * 3 * (size_t)q->limit *
                               sizeof(*out->entries));
    for (size_t t = 0; t < n_readers; t++) {
        struct reader *x = &rd[t];
        x->r = (struct run){.q = q, .req = req.n_groups ? &req : NULL, .ing = ing,
                            .res = &x->res, .err = &x->err, .g = r.g, .n_g = r.n_g};
        noa_pipeline_state_init(&x->r.ps);
        x->res.streams = noa_arena_alloc(&x->res.arena, (r.n_g ? r.n_g : 1) *
                                                            sizeof(*x->res.streams));
        x->res.entries = noa_xmalloc(3 * (size_t)q->limit * sizeof(*x->res.entries));
        x->first = t;
        x->stride = n_readers;
        x->indexed = indexed;
    }
    /* The first reader runs on this thread; the others on their own. */
    size_t started = 1;
    for (size_t t = 1; t < n_readers; t++, started++)
        if (pthread_create(&rd[t].th, NULL, reader_main, &rd[t]) != 0)
            break;
    if (started < n_readers) /* no thread: this one reads their streams too */
        for (size_t t = started; t < n_readers; t++)
            reader_main(&rd[t]);
    if (n_readers)
        reader_main(&rd[0]);
    for (size_t t = 1; t < started; t++)
        pthread_join(rd[t].th, NULL);
    rc = 0;
    for (size_t t = 0; t < n_readers; t++) {
        if (rd[t].rc < 0 && rc == 0) {
            rc = rd[t].rc;
            *err = rd[t].err;
        }
        merge_result(out, &rd[t].res);
        rd[t].res.entries = NULL;
    }
    if (rc == 0)
        cut_result(out, q);
done:
    for (size_t t = 0; t < n_readers; t++) {
        noa_pipeline_state_fini(&rd[t].r.ps);
        noa_buf_fini(&rd[t].r.key);
        noa_free(rd[t].res.entries);
        noa_arena_fini(&rd[t].res.arena);
    }
    for (size_t i = 0; i < r.n_g; i++)
        gather_fini(&r.g[i]);
    noa_free(r.g);
    noa_mem_streams_free(mem, n_mem);
    return rc;
}

void noa_logsel_result_fini(struct noa_logsel_result *r)
{
    noa_free(r->entries);
    noa_arena_fini(&r->arena);
    memset(r, 0, sizeof(*r));
}

uint32_t noa_logsel_merged_labels(const struct noa_labels *ls, const struct noa_logsel_entry *e,
                                  struct noa_label *out, uint32_t cap)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < ls->n && n < cap; i++) {
        int shadowed = 0;
        for (uint32_t k = 0; k < e->n_meta; k++)
            if (noa_str_eq(e->meta[k].name, ls->v[i].name))
                shadowed = 1;
        if (!shadowed)
            out[n++] = ls->v[i];
    }
    for (uint32_t k = 0; k < e->n_meta && n < cap; k++)
        out[n++] = e->meta[k];
    struct noa_labels tmp = {out, n};
    noa_labels_sort(&tmp);
    return n;
}
