/*
 * Log selection over chunks and memory (see logsel.h). Worker thread.
 */
#include "querier/logsel.h"
#include "common/log.h"
#include "common/mem.h"
#include "ingester/chunk.h"
#include "ingester/chunkstore.h"
#include "ingester/index.h"
#include "common/pipeline.h"

#include <pthread.h>
#include <stdlib.h>

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
    struct noa_arena arena;         /* pipeline output of gathered entries */
};

struct run {
    const struct noa_logsel_query *q;
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
    memset(b, 0, sizeof(*b));
    return b;
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
    noa_lbuilder_reset(lb);
    size_t pos = 0;
    struct noa_label m;
    while (noa_chunk_meta_next(e, &pos, &m))
        noa_lbuilder_add_meta(lb, m.name, m.value);
    struct noa_str out;
    if (!noa_pipeline_run(r->q->pipeline, &r->ps, e->ts_ns, e->line, &out))
        return 0;
    if (noa_pipeline_filters_only(r->q->pipeline))
        return 1; /* the line and labels are the stored ones */
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

/* Adds the entries of one raw block that fall in the query range. */
static int gather_block(struct run *r, struct gather *g, const struct noa_buf *raw)
{
    struct noa_chunk_iter it;
    struct noa_chunk_entry e;
    int rc;
    noa_chunk_iter_init(&it, raw->data, raw->len);
    while ((rc = noa_chunk_iter_next(&it, &e, r->err)) == 1) {
        r->res->lines_processed++;
        r->res->bytes_processed += e.line.len;
        if (e.ts_ns < r->q->start_ns || e.ts_ns >= r->q->end_ns || beyond_bound(r, e.ts_ns))
            continue;
        struct gentry ge = {e.ts_ns, e.line, e.meta, e.n_meta, {NULL, 0}, NULL, 0};
        if (r->q->pipeline && !run_pipeline(r, g, &e, &ge))
            continue;
        if (g->n == g->cap) {
            g->cap = g->cap ? g->cap * 2 : 256;
            g->v = noa_xrealloc(g->v, g->cap * sizeof(*g->v));
        }
        /* Metadata stays encoded until the entry is kept (see keep_best). */
        g->v[g->n++] = ge;
    }
    return rc;
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
        struct noa_buf *raw = gather_raw(g);
        rc = noa_chunk_block_decompress(&cr, i, raw, r->err);
        if (rc < 0)
            goto done;
        r->res->decompressed_bytes += raw->len;
        rc = gather_block(r, g, raw);
        if (rc < 0)
            goto done;
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
            if (beyond_bound(r, q->backward ? cb->max_ts : cb->min_ts))
                continue;
            struct noa_buf *raw = gather_raw(g);
            rc = noa_block_decompress(g->mem->blocks[b], raw, r->err);
            if (rc == 0)
                rc = gather_block(r, g, raw);
            if (rc == 0)
                trim(r, g);
        }
        if (rc == 0 && g->mem->head.len) {
            out->head_lines += g->mem->head_entries;
            out->head_bytes += g->mem->head.len;
            rc = gather_block(r, g, &g->mem->head);
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
    for (size_t i = rd->first; i < rd->r.n_g && rd->rc == 0; i += rd->stride)
        rd->rc = read_stream(&rd->r, i, rd->indexed);
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
    out->chunks_read += part->chunks_read;
    out->head_lines += part->head_lines;
    out->head_bytes += part->head_bytes;
    out->decompressed_bytes += part->decompressed_bytes;
    out->compressed_bytes += part->compressed_bytes;
    out->duplicates += part->duplicates;
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
    size_t n_mem = 0, n_readers = 0;
    int rc;
    memset(out, 0, sizeof(*out));
    memset(rd, 0, sizeof(rd));
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
        x->r = (struct run){.q = q, .ing = ing, .res = &x->res, .err = &x->err, .g = r.g,
                            .n_g = r.n_g};
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
