/*
 * Range aggregations (querier/metric_range.h): one pass over the entries
 * the source delivers, the pipeline and unwrap stage per entry, then one
 * pass over the step grid per series. Window bounds, label rules and error
 * texts follow /work/shared/reference/logql.md §4.12, §6.1 and §7.1.
 * Runs on the query thread; over a parallel source (run_parallel) each
 * thread fills its own struct reval (partial series set in its own arena,
 * pipeline state), and the query thread merges the partials after the
 * source joined the threads, in the order one thread would have met them.
 */
#include "querier/metric_range.h"

#include "common/labelfilter.h"
#include "common/lbuilder.h"
#include "common/mem.h"
#include "common/pipeline.h"
#include "querier/metric_overtime.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Per-series accumulation, parallel to the output set's series. */
struct rseries {
    int64_t *cnt; /* counting ops: difference array of entry counts [n + 1] */
    int64_t *val; /* bytes ops: difference array of line bytes [n + 1] */
    struct noa_metric_sample *smp; /* unwrap ops: samples in arrival order */
    size_t nsmp, capsmp;
    int64_t last_ts;
    int unsorted; /* samples from several streams arrived interleaved */
    /* Parallel partials: each sample's stream seq (ties of equal times
     * keep one thread's order), the seq the series was first met in, and
     * (merged) how many partials contributed. */
    uint64_t *sq;
    uint64_t first_seq;
    unsigned nparts;
};

/* The series of the current stream's recent metadata sets (a filters-only
 * pipeline's labels are the stream's plus the entry's metadata, which
 * mostly repeats: detected_level takes a handful of values). Copies of the
 * pairs live in the arena, emptied at each stream. */
#define META_CACHE 8
struct meta_cache_ent {
    uint64_t h;
    uint32_t idx, n; /* n == 0: empty slot */
    struct noa_label *v;
};
struct meta_cache {
    struct meta_cache_ent e[META_CACHE];
    unsigned next; /* round-robin victim */
    struct noa_arena arena;
};

static uint64_t meta_hash(const struct noa_label *meta, uint32_t n)
{
    uint64_t h = 0xcbf29ce484222325ull ^ n;
    for (uint32_t i = 0; i < n; i++) {
        for (size_t k = 0; k < meta[i].name.len; k++)
            h = (h ^ (unsigned char)meta[i].name.p[k]) * 0x100000001b3ull;
        h = (h ^ 0xff) * 0x100000001b3ull;
        for (size_t k = 0; k < meta[i].value.len; k++)
            h = (h ^ (unsigned char)meta[i].value.p[k]) * 0x100000001b3ull;
        h = (h ^ 0xfe) * 0x100000001b3ull;
    }
    return h;
}

/* Up to the first 8 bytes of s, as a number (0-padded). */
static inline uint64_t load8(struct noa_str s)
{
    uint64_t v = 0;
    if (s.len)
        memcpy(&v, s.p, s.len < 8 ? s.len : 8);
    return v;
}

/* The metadata cache's key: lengths plus the first and last 8 bytes of
 * every name and value, mixed. Cheap (no byte loop, it runs per entry)
 * and only a filter: meta_cache_find compares the pairs themselves. */
static uint64_t meta_key(const struct noa_label *meta, uint32_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    for (uint32_t i = 0; i < n; i++) {
        struct noa_str a = meta[i].name, b = meta[i].value;
        uint64_t x = load8(a) ^ (load8(b) * 0xff51afd7ed558ccdull) ^
                     ((uint64_t)a.len << 32 | (uint32_t)b.len);
        if (b.len > 8)
            x ^= load8((struct noa_str){b.p + b.len - 8, 8}) * 0xc4ceb9fe1a85ec53ull;
        if (a.len > 8)
            x += load8((struct noa_str){a.p + a.len - 8, 8});
        h = (h ^ x) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    return h;
}

/* noa_str_eq without a library call for the short names and values
 * metadata has (two overlapping 8-byte loads up to 16 bytes). */
static inline int short_eq(struct noa_str a, struct noa_str b)
{
    if (a.len != b.len)
        return 0;
    if (a.len < 8 || a.len > 16)
        return noa_str_eq(a, b);
    uint64_t x0, y0, x1, y1;
    memcpy(&x0, a.p, 8);
    memcpy(&y0, b.p, 8);
    memcpy(&x1, a.p + a.len - 8, 8);
    memcpy(&y1, b.p + b.len - 8, 8);
    return ((x0 ^ y0) | (x1 ^ y1)) == 0;
}

static int meta_cache_find(const struct meta_cache *c, uint64_t h, const struct noa_label *meta,
                           uint32_t n, uint32_t *idx)
{
    for (unsigned i = 0; i < META_CACHE; i++) {
        const struct meta_cache_ent *e = &c->e[i];
        if (e->n != n || e->h != h)
            continue;
        uint32_t k = 0;
        while (k < n && short_eq(e->v[k].name, meta[k].name) &&
               short_eq(e->v[k].value, meta[k].value))
            k++;
        if (k == n) {
            *idx = e->idx;
            return 1;
        }
    }
    return 0;
}

static void meta_cache_reset(struct meta_cache *c);

/* Copies live in the arena: a cache that keeps missing (many distinct
 * label sets) starts over rather than grow. */
#define META_CACHE_ARENA_MAX (64 << 10)

static void meta_cache_put(struct meta_cache *c, uint64_t h, const struct noa_label *meta,
                           uint32_t n, uint32_t idx)
{
    if (c->arena.total > META_CACHE_ARENA_MAX)
        meta_cache_reset(c);
    struct meta_cache_ent *e = &c->e[c->next];
    c->next = (c->next + 1) % META_CACHE;
    e->v = noa_arena_alloc(&c->arena, n * sizeof(*e->v));
    for (uint32_t k = 0; k < n; k++)
        e->v[k] = (struct noa_label){noa_arena_str(&c->arena, meta[k].name),
                                     noa_arena_str(&c->arena, meta[k].value)};
    e->h = h;
    e->n = n;
    e->idx = idx;
}

static void meta_cache_reset(struct meta_cache *c)
{
    memset(c->e, 0, sizeof(c->e));
    c->next = 0;
    if (c->arena.total)
        noa_arena_fini(&c->arena);
}

struct reval {
    const struct noa_logql_expr *e;
    const struct noa_metric_range_opts *o;
    int counting; /* difference-array path */
    int bytes;    /* bytes_over_time / bytes_rate */
    const struct noa_logql_grouping *group;
    const char *drop1; /* the unwrapped label */
    struct noa_str *by; /* sorted, unique `by` names (fast grouping) */
    unsigned nby;
    struct noa_pipeline *pipe, *post;
    struct noa_pipeline *pipe_full; /* pipe pruned: the full one, for error texts */
    struct noa_logql_stage *post_stages;
    struct noa_logql_expr post_expr;
    struct noa_pipeline_state st;
    struct noa_metric_set *out;
    struct rseries *rs;
    uint32_t rs_cap;
    struct noa_label *scratch;
    uint32_t scratch_cap;
    uint32_t cached; /* series index + 1 of the current stream (fast path), 0 none */
    int fast;        /* filters only: labels are the stream's plus the metadata */
    int lens_only;   /* counting over an empty pipeline: lines are never read */
    struct meta_cache mc; /* fast path with metadata: series by metadata, this stream */
    struct meta_cache byc; /* `by` grouping: series by the grouped labels' values */
    uint64_t samples;
    struct noa_buf msg;
    struct noa_error *err;
    int rc; /* the error that stopped the source */
    /* Parallel partials only. */
    int track_seq;    /* record sample seqs */
    uint64_t seq;     /* the current stream's seq */
    atomic_int *stop; /* set when a thread failed: the others stop early */
    /* step_range's last answer, valid for a in (sr_low, sr_high]. */
    int sr_valid, sr_has;
    int64_t sr_low, sr_high;
    uint32_t sr_lo, sr_hi;
};

static int64_t ceil_div(int64_t a, int64_t b)
{
    return a / b + (a % b > 0);
}

/* The steps whose window holds ts: t_i - off - range < ts <= t_i - off. */
static int step_range(struct reval *r, int64_t ts, uint32_t *lo, uint32_t *hi)
{
    const struct noa_metric_grid *g = &r->o->grid;
    int64_t a = ts + r->e->offset_ns - g->start_ns;
    int64_t range = r->e->range_ns;
    if (g->step_ns <= 0) {
        if (a <= 0 && a + range > 0) {
            *lo = *hi = 0;
            return 1;
        }
        return 0;
    }
    if (r->sr_valid && a > r->sr_low && a <= r->sr_high) {
        *lo = r->sr_lo;
        *hi = r->sr_hi;
        return r->sr_has;
    }
    int64_t l = ceil_div(a, g->step_ns), h = ceil_div(a + range, g->step_ns) - 1;
    /* l and h hold while a stays in ((l-1)*step, l*step] and a + range in
     * (h*step, (h+1)*step]: entries come in time order, so most reuse them
     * instead of dividing again. */
    int64_t low = (l - 1) * g->step_ns, high = l * g->step_ns;
    if (h * g->step_ns - range > low)
        low = h * g->step_ns - range;
    if ((h + 1) * g->step_ns - range < high)
        high = (h + 1) * g->step_ns - range;
    r->sr_valid = 1;
    r->sr_low = low;
    r->sr_high = high;
    r->sr_has = 0;
    if (l < 0)
        l = 0;
    if (h > (int64_t)g->n - 1)
        h = (int64_t)g->n - 1;
    if (l > h)
        return 0;
    *lo = r->sr_lo = (uint32_t)l;
    *hi = r->sr_hi = (uint32_t)h;
    return r->sr_has = 1;
}

static int str_cmp(const void *a, const void *b)
{
    return noa_str_cmp(*(const struct noa_str *)a, *(const struct noa_str *)b);
}

static void scratch_reserve(struct reval *r, uint32_t n)
{
    if (n <= r->scratch_cap)
        return;
    r->scratch_cap = n * 2;
    r->scratch = noa_xrealloc(r->scratch, sizeof(*r->scratch) * r->scratch_cap);
}

/* Loki fails a metric query on any sample that still carries an error. */
static int pipeline_error(struct reval *r)
{
    struct noa_labels full;
    noa_lbuilder_labels(&r->st.lb, &full);
    /* The builder appends the error pair last; Loki prints sorted labels. */
    noa_labels_sort(&full);
    noa_buf_reset(&r->msg);
    noa_labels_format(&full, &r->msg);
    struct noa_str e = noa_lbuilder_err(&r->st.lb);
    if (r->o->err_full) {
        noa_buf_reset(r->o->err_full);
        noa_buf_printf(r->o->err_full, NOA_METRIC_PIPELINE_ERR_FMT, (int)e.len, e.p,
                       noa_buf_cstr(&r->msg), (int)e.len, e.p);
    }
    return noa_error_set(r->err, NOA_EINVAL, NOA_METRIC_PIPELINE_ERR_FMT, (int)e.len, e.p,
                         noa_buf_cstr(&r->msg), (int)e.len, e.p);
}

/* Room in r->rs for every series of r->out. */
static void rs_reserve(struct reval *r)
{
    if (r->out->n <= r->rs_cap)
        return;
    uint32_t cap = r->rs_cap ? r->rs_cap * 2 : 16;
    while (cap < r->out->n)
        cap *= 2;
    r->rs = noa_xrealloc(r->rs, sizeof(*r->rs) * cap);
    memset(r->rs + r->rs_cap, 0, sizeof(*r->rs) * (cap - r->rs_cap));
    r->rs_cap = cap;
}

/* The series of the current line, after grouping. */
static int series_of(struct reval *r, int has_err, uint32_t *idx)
{
    struct noa_labels ls = {0};
    if (r->by && !has_err) {
        scratch_reserve(r, r->nby);
        ls.v = r->scratch;
        for (unsigned i = 0; i < r->nby; i++) {
            struct noa_str v;
            if (noa_lbuilder_get(&r->st.lb, r->by[i], &v))
                ls.v[ls.n++] = (struct noa_label){r->by[i], v};
        }
        /* A handful of grouped values usually repeat line after line. */
        uint64_t h = meta_hash(ls.v, ls.n);
        if (meta_cache_find(&r->byc, h, ls.v, ls.n, idx))
            return 0;
        uint32_t before = r->out->n;
        int rc = noa_metric_set_get(r->out, &ls, noa_labels_hash(&ls), idx, r->err);
        if (rc < 0)
            return rc;
        rs_reserve(r);
        if (r->out->n > before)
            r->rs[*idx].first_seq = r->seq;
        meta_cache_put(&r->byc, h, ls.v, ls.n, *idx);
        return 0;
    } else {
        struct noa_labels full;
        noa_lbuilder_labels(&r->st.lb, &full);
        /* Only a preserved error gets here (others fail the query first);
         * the builder appends its pair last, out of name order. */
        if (has_err)
            noa_labels_sort(&full);
        scratch_reserve(r, full.n);
        ls.v = r->scratch;
        noa_metric_group(&full, r->group, r->drop1, &ls);
    }
    uint32_t before = r->out->n;
    int rc = noa_metric_set_get(r->out, &ls, noa_labels_hash(&ls), idx, r->err);
    if (rc < 0)
        return rc;
    rs_reserve(r);
    if (r->out->n > before)
        r->rs[*idx].first_seq = r->seq;
    return 0;
}

/* unwrap: 1 with *v set (or the error pair set), 0 when the entry is dropped. */
static int unwrap(struct reval *r, double *v)
{
    struct noa_str s;
    if (!noa_lbuilder_get(&r->st.lb, noa_str_c(r->e->unwrap_label), &s) || s.len == 0)
        return 0;
    struct noa_error perr = {0};
    int rc;
    switch (r->e->unwrap_conv) {
    case NOA_LOGQL_CONV_BYTES: {
        uint64_t b = 0;
        rc = noa_labelfilter_parse_bytes(s, &b, &perr);
        *v = (double)b;
        break;
    }
    case NOA_LOGQL_CONV_DURATION:
    case NOA_LOGQL_CONV_DURATION_SECONDS: {
        int64_t ns = 0;
        rc = noa_labelfilter_parse_duration(s, &ns, &perr);
        /* Go's Duration.Seconds(): whole seconds plus the fraction. */
        *v = (double)(ns / 1000000000) + (double)(ns % 1000000000) / 1e9;
        break;
    }
    default:
        rc = noa_labelfilter_parse_float(s, v, &perr);
        break;
    }
    if (rc < 0) {
        *v = 0;
        noa_lbuilder_set_err(&r->st.lb, NOA_STR(NOA_LB_ERR_SAMPLE), noa_str_c(perr.msg));
    }
    return 1;
}

static int add_sample(struct reval *r, uint32_t idx, int64_t ts, double v, uint32_t lo,
                      uint32_t hi)
{
    struct rseries *s = &r->rs[idx];
    uint32_t n = r->o->grid.n;
    if (r->counting) {
        if (!s->cnt) {
            s->cnt = noa_xcalloc(n + 1, sizeof(int64_t));
            if (r->bytes)
                s->val = noa_xcalloc(n + 1, sizeof(int64_t));
        }
        s->cnt[lo]++;
        s->cnt[hi + 1]--;
        if (r->bytes) {
            s->val[lo] += (int64_t)v;
            s->val[hi + 1] -= (int64_t)v;
        }
        return 0;
    }
    if (r->o->max_samples && r->samples >= r->o->max_samples)
        return noa_error_set(r->err, NOA_ELIMIT,
                             "query processing would load too many samples into memory in "
                             "query execution");
    if (s->nsmp == s->capsmp) {
        s->capsmp = s->capsmp ? s->capsmp * 2 : 64;
        s->smp = noa_xrealloc(s->smp, sizeof(*s->smp) * s->capsmp);
        if (r->track_seq)
            s->sq = noa_xrealloc(s->sq, sizeof(*s->sq) * s->capsmp);
    }
    if (r->track_seq)
        s->sq[s->nsmp] = r->seq;
    if (s->nsmp && ts < s->last_ts)
        s->unsorted = 1;
    s->smp[s->nsmp++] = (struct noa_metric_sample){ts, v};
    s->last_ts = ts;
    r->samples++;
    return 0;
}

static int stream_cb(void *arg, const struct noa_labels *stream)
{
    struct reval *r = arg;
    noa_lbuilder_reset_stream(&r->st.lb, stream);
    r->cached = 0;
    meta_cache_reset(&r->mc);
    return 0;
}

/* The fast path: a filters-only pipeline reads no labels, so the entry's
 * metadata enters the label builder only when its series is not cached. */
static int entry_fast(struct reval *r, int64_t ts, struct noa_str line, const struct noa_label *meta,
                      uint32_t n_meta, uint32_t lo, uint32_t hi)
{
    struct noa_str out = line; /* lens_only: the pipeline is empty */
    if (!r->lens_only && !noa_pipeline_run(r->pipe, &r->st, ts, line, &out))
        return 0;
    double v = r->bytes ? (double)out.len : 1;
    uint32_t idx;
    uint64_t h = 0;
    int hit = n_meta == 0 ? r->cached != 0
                          : meta_cache_find(&r->mc, h = meta_key(meta, n_meta), meta, n_meta, &idx);
    if (n_meta == 0 && hit)
        idx = r->cached - 1;
    if (!hit) {
        noa_lbuilder_reset(&r->st.lb);
        for (uint32_t i = 0; i < n_meta; i++)
            noa_lbuilder_add_meta(&r->st.lb, meta[i].name, meta[i].value);
        int rc = series_of(r, 0, &idx);
        if (rc < 0)
            return r->rc = rc;
        if (n_meta == 0)
            r->cached = idx + 1;
        else
            meta_cache_put(&r->mc, h, meta, n_meta, idx);
    }
    int rc = add_sample(r, idx, ts, v, lo, hi);
    if (rc < 0)
        r->rc = rc;
    return rc;
}

/* The error text names every label of the series: a pruned pipeline
 * lacks some, so the failing entry runs again through the full one (which
 * fails it the same way: pruning keeps the error pair exact). */
static void rerun_full(struct reval *r, int64_t ts, struct noa_str line,
                       const struct noa_label *meta, uint32_t n_meta)
{
    struct noa_str out;
    double v = 0;
    noa_lbuilder_reset(&r->st.lb);
    for (uint32_t i = 0; i < n_meta; i++)
        noa_lbuilder_add_meta(&r->st.lb, meta[i].name, meta[i].value);
    if (!noa_pipeline_run(r->pipe_full, &r->st, ts, line, &out))
        return;
    if (r->e->has_unwrap && !unwrap(r, &v))
        return;
    if (r->post)
        noa_pipeline_run(r->post, &r->st, ts, out, &out);
}

static int entry_cb(void *arg, int64_t ts, struct noa_str line, const struct noa_label *meta,
                    uint32_t n_meta)
{
    struct reval *r = arg;
    uint32_t lo, hi;
    if (!step_range(r, ts, &lo, &hi))
        return 0; /* in no window: the source gave a wider range */
    if (r->fast)
        return entry_fast(r, ts, line, meta, n_meta, lo, hi);
    noa_lbuilder_reset(&r->st.lb);
    for (uint32_t i = 0; i < n_meta; i++)
        noa_lbuilder_add_meta(&r->st.lb, meta[i].name, meta[i].value);
    struct noa_str out;
    if (!noa_pipeline_run(r->pipe, &r->st, ts, line, &out))
        return 0;
    double v = r->bytes ? (double)out.len : 1;
    if (r->e->has_unwrap && !unwrap(r, &v))
        return 0;
    if (r->post && !noa_pipeline_run(r->post, &r->st, ts, out, &out))
        return 0;
    int has_err = noa_lbuilder_has_err(&r->st.lb);
    if (has_err && !r->o->preserve_error) {
        if (r->pipe_full)
            rerun_full(r, ts, line, meta, n_meta);
        r->rc = pipeline_error(r);
        return r->rc;
    }
    uint32_t idx;
    int cacheable = r->fast && n_meta == 0 && !has_err;
    if (cacheable && r->cached) {
        idx = r->cached - 1;
    } else {
        int rc = series_of(r, has_err, &idx);
        if (rc < 0) {
            r->rc = rc;
            return rc;
        }
        if (cacheable)
            r->cached = idx + 1;
    }
    int rc = add_sample(r, idx, ts, v, lo, hi);
    if (rc < 0)
        r->rc = rc;
    return rc;
}

static void finish_counting(struct reval *r, uint32_t idx)
{
    struct rseries *s = &r->rs[idx];
    struct noa_metric_series *ms = &r->out->s[idx];
    double secs = (double)r->e->range_ns / 1e9;
    int64_t c = 0, b = 0;
    for (uint32_t i = 0; s->cnt && i < r->o->grid.n; i++) {
        c += s->cnt[i];
        if (r->bytes)
            b += s->val[i];
        if (c <= 0)
            continue;
        ms->has[i] = 1;
        switch (r->e->range_op) {
        case NOA_LOGQL_RANGE_RATE:
            ms->v[i] = (double)c / secs;
            break;
        case NOA_LOGQL_RANGE_BYTES:
            ms->v[i] = (double)b;
            break;
        case NOA_LOGQL_RANGE_BYTES_RATE:
            ms->v[i] = (double)b / secs;
            break;
        default:
            ms->v[i] = (double)c;
            break;
        }
    }
}

static void finish_samples(struct reval *r, uint32_t idx, double *scratch,
                           struct noa_metric_sample *tmp)
{
    struct rseries *s = &r->rs[idx];
    struct noa_metric_series *ms = &r->out->s[idx];
    const struct noa_metric_grid *g = &r->o->grid;
    if (s->unsorted)
        noa_metric_overtime_sort(s->smp, s->nsmp, tmp);
    size_t lo = 0, hi = 0;
    for (uint32_t i = 0; i < g->n; i++) {
        int64_t end = g->start_ns + (int64_t)i * g->step_ns - r->e->offset_ns;
        int64_t begin = end - r->e->range_ns;
        while (lo < s->nsmp && s->smp[lo].ts_ns <= begin)
            lo++;
        if (hi < lo)
            hi = lo;
        while (hi < s->nsmp && s->smp[hi].ts_ns <= end)
            hi++;
        if (hi == lo)
            continue;
        ms->has[i] = 1;
        ms->v[i] = noa_metric_overtime_apply(r->e->range_op, s->smp + lo, hi - lo,
                                             r->e->range_ns, end, r->e->param, scratch);
    }
}

static int finish(struct reval *r)
{
    size_t max = 0;
    for (uint32_t i = 0; i < r->out->n; i++)
        if (r->rs[i].nsmp > max)
            max = r->rs[i].nsmp;
    double *scratch = NULL;
    struct noa_metric_sample *tmp = NULL;
    if (max) {
        scratch = noa_malloc(max * sizeof(double));
        tmp = noa_malloc(max * sizeof(*tmp));
        if (!scratch || !tmp) {
            noa_free(scratch);
            noa_free(tmp);
            return noa_error_set(r->err, NOA_ENOMEM, "out of memory");
        }
    }
    for (uint32_t i = 0; i < r->out->n; i++) {
        if (r->counting)
            finish_counting(r, i);
        else
            finish_samples(r, i, scratch, tmp);
    }
    noa_free(scratch);
    noa_free(tmp);
    return 0;
}

/* absent_over_time: labels from the selector's single `=` matchers. */
static void absent_result(struct reval *r, struct noa_metric_set *counts, struct noa_arena *arena,
                          struct noa_metric_set *out)
{
    const struct noa_selector *sel = &r->e->log->selector;
    struct noa_label *v = noa_arena_alloc(arena, sizeof(*v) * (sel->n ? sel->n : 1));
    struct noa_labels ls = {v, 0};
    for (unsigned i = 0; i < sel->n; i++) {
        const struct noa_matcher *m = &sel->m[i];
        unsigned uses = 0;
        for (unsigned k = 0; k < sel->n; k++)
            uses += strcmp(sel->m[k].name, m->name) == 0;
        if (uses == 1 && m->type == NOA_MATCH_EQ)
            v[ls.n++] = (struct noa_label){noa_str_c(m->name), {m->value, m->value_len}};
    }
    noa_labels_sort(&ls);
    uint32_t idx;
    struct noa_error ignored;
    uint32_t n = 0;
    for (uint32_t i = 0; i < r->o->grid.n; i++)
        n += !(counts->n && counts->s[0].has[i]);
    if (!n || noa_metric_set_get(out, &ls, noa_labels_hash(&ls), &idx, &ignored) < 0)
        return;
    for (uint32_t i = 0; i < r->o->grid.n; i++) {
        if (counts->n && counts->s[0].has[i])
            continue;
        out->s[idx].has[i] = 1;
        out->s[idx].v[i] = 1;
    }
}

static void collect_filter_names(const struct noa_logql_label_filter *f, struct noa_buf *names)
{
    if (f->kind == NOA_LOGQL_LF_AND || f->kind == NOA_LOGQL_LF_OR) {
        collect_filter_names(f->left, names);
        collect_filter_names(f->right, names);
        return;
    }
    struct noa_str n = noa_str_c(f->kind == NOA_LOGQL_LF_STRING ? f->matcher.name : f->name);
    noa_buf_append(names, &n, sizeof(n));
}

/*
 * Compiles the log pipeline. With a `by` grouping, a json or logfmt parser
 * need only extract what is read after the pipeline: the `by` names, the
 * unwrapped label and the names of filters after unwrap. Without grouping
 * or with `without`, every label lands in the series: no pruning.
 */
static int new_pipeline(struct reval *r, struct noa_error *err)
{
    const struct noa_logql_expr *e = r->e;
    if (!r->by || r->o->no_prune)
        return noa_pipeline_new(e->log, &r->pipe, err);
    struct noa_buf names = {0};
    noa_buf_append(&names, r->by, r->nby * sizeof(*r->by));
    if (e->has_unwrap) {
        struct noa_str u = noa_str_c(e->unwrap_label);
        noa_buf_append(&names, &u, sizeof(u));
    }
    for (unsigned i = 0; i < e->n_post_filters; i++)
        collect_filter_names(e->post_filters[i], &names);
    static const struct noa_str none;
    const struct noa_str *v = names.len ? (const struct noa_str *)(const void *)names.data : &none;
    int rc = noa_pipeline_new_want(e->log, v, (unsigned)(names.len / sizeof(*v)), &r->pipe, err);
    if (rc == 0 && noa_pipeline_pruned(r->pipe))
        rc = noa_pipeline_new(e->log, &r->pipe_full, err);
    noa_buf_fini(&names);
    return rc;
}

/* 1 when the log expression has no stage but `| drop __error__,
 * __error_details__` without matchers, which is a no-op when nothing
 * before it can set an error (common/pipeline.c compiles it to nothing):
 * then a counting aggregation needs only each entry's time and length. */
static int pipeline_is_empty(const struct noa_logql_expr *log)
{
    for (unsigned i = 0; i < log->n_stages; i++) {
        const struct noa_logql_stage *st = &log->stages[i];
        if (st->kind != NOA_LOGQL_STAGE_DROP)
            return 0;
        for (unsigned k = 0; k < st->n_names; k++)
            if (st->names[k].has_matcher || (strcmp(st->names[k].name, NOA_LB_ERROR) != 0 &&
                                             strcmp(st->names[k].name, NOA_LB_ERROR_DETAILS) != 0))
                return 0;
    }
    return 1;
}

static int setup(struct reval *r, struct noa_error *err)
{
    const struct noa_logql_expr *e = r->e;
    static const struct noa_logql_grouping by_none = {.present = 1};
    enum noa_logql_range_op op = e->range_op;
    r->bytes = !e->has_unwrap && (op == NOA_LOGQL_RANGE_BYTES || op == NOA_LOGQL_RANGE_BYTES_RATE);
    r->counting = !e->has_unwrap &&
                  (op == NOA_LOGQL_RANGE_COUNT || op == NOA_LOGQL_RANGE_RATE || r->bytes ||
                   op == NOA_LOGQL_RANGE_ABSENT);
    r->group = e->grouping.present ? &e->grouping : NULL;
    int injectable = op == NOA_LOGQL_RANGE_COUNT || op == NOA_LOGQL_RANGE_RATE ||
                     op == NOA_LOGQL_RANGE_BYTES || op == NOA_LOGQL_RANGE_BYTES_RATE ||
                     op == NOA_LOGQL_RANGE_SUM;
    if (!r->group && r->o->outer_by && injectable)
        r->group = r->o->outer_by;
    if (op == NOA_LOGQL_RANGE_ABSENT)
        r->group = &by_none;
    r->drop1 = e->has_unwrap ? e->unwrap_label : NULL;
    if (r->group && !r->group->without) {
        r->by = noa_xmalloc(sizeof(*r->by) * (r->group->labels.n + 1));
        for (unsigned i = 0; i < r->group->labels.n; i++)
            r->by[i] = noa_str_c(r->group->labels.v[i]);
        qsort(r->by, r->group->labels.n, sizeof(*r->by), str_cmp);
        for (unsigned i = 0; i < r->group->labels.n; i++)
            if (r->nby == 0 || !noa_str_eq(r->by[r->nby - 1], r->by[i]))
                r->by[r->nby++] = r->by[i];
    }
    int rc = new_pipeline(r, err);
    if (rc < 0)
        return rc;
    r->fast = noa_pipeline_filters_only(r->pipe) && !e->has_unwrap;
    r->lens_only = r->fast && r->counting && !e->n_post_filters && pipeline_is_empty(e->log);
    if (e->n_post_filters) {
        r->post_stages = noa_xcalloc(e->n_post_filters, sizeof(*r->post_stages));
        for (unsigned i = 0; i < e->n_post_filters; i++) {
            r->post_stages[i].kind = NOA_LOGQL_STAGE_LABEL_FILTER;
            r->post_stages[i].filter = e->post_filters[i];
        }
        r->post_expr.kind = NOA_LOGQL_LOG;
        r->post_expr.stages = r->post_stages;
        r->post_expr.n_stages = e->n_post_filters;
        rc = noa_pipeline_new(&r->post_expr, &r->post, err);
    }
    return rc;
}

static void rs_free(struct reval *r)
{
    for (uint32_t i = 0; i < r->rs_cap; i++) {
        noa_free(r->rs[i].cnt);
        noa_free(r->rs[i].val);
        noa_free(r->rs[i].smp);
        noa_free(r->rs[i].sq);
    }
    noa_free(r->rs);
    r->rs = NULL;
    r->rs_cap = 0;
}

static void reval_fini(struct reval *r)
{
    rs_free(r);
    noa_free(r->scratch);
    noa_free(r->by);
    noa_buf_fini(&r->msg);
    noa_pipeline_free(r->post);
    noa_pipeline_free(r->pipe);
    noa_pipeline_free(r->pipe_full);
    noa_free(r->post_stages);
    noa_pipeline_state_fini(&r->st);
    noa_arena_fini(&r->mc.arena);
    noa_arena_fini(&r->byc.arena);
}

/* The range every window lies in: (first - off - range, last - off]. */
static void read_range(const struct noa_logql_expr *e, const struct noa_metric_grid *g,
                       int64_t *from, int64_t *through)
{
    int64_t last = g->start_ns + (int64_t)(g->n - 1) * g->step_ns;
    *from = g->start_ns - e->offset_ns - e->range_ns + 1;
    *through = last - e->offset_ns + 1;
}

/* ---- parallel partials ---- */

static int pstream_cb(void *arg, uint64_t seq, const struct noa_labels *stream)
{
    struct reval *r = arg;
    r->seq = seq;
    return stream_cb(arg, stream);
}

/* Any value stops the source; the error itself comes from the rerun. */
#define STOPPED NOA_EINTERNAL

static int pentry_cb(void *arg, int64_t ts, struct noa_str line, const struct noa_label *meta,
                     uint32_t n_meta)
{
    struct reval *r = arg;
    if (atomic_load_explicit(r->stop, memory_order_relaxed))
        return r->rc = STOPPED;
    int rc = entry_cb(arg, ts, line, meta, n_meta);
    if (rc)
        atomic_store(r->stop, 1);
    return rc;
}

/* Where a partial's series falls in one thread's order of first meeting. */
struct mref {
    uint64_t first_seq;
    uint32_t k, i;
};

static int mref_cmp(const void *a, const void *b)
{
    const struct mref *x = a, *y = b;
    if (x->first_seq != y->first_seq)
        return x->first_seq < y->first_seq ? -1 : 1;
    if (x->k != y->k)
        return x->k < y->k ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

struct tagged {
    struct noa_metric_sample smp;
    uint64_t seq;
    size_t pos;
};

static int tagged_cmp(const void *a, const void *b)
{
    const struct tagged *x = a, *y = b;
    if (x->smp.ts_ns != y->smp.ts_ns)
        return x->smp.ts_ns < y->smp.ts_ns ? -1 : 1;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* One thread would hold a series' samples in stream order, stably sorted
 * by time at the end: the same as ordering by (time, stream, arrival). */
static void order_samples(struct rseries *d)
{
    struct tagged *t = noa_xmalloc(sizeof(*t) * (d->nsmp ? d->nsmp : 1));
    for (size_t i = 0; i < d->nsmp; i++)
        t[i] = (struct tagged){d->smp[i], d->sq[i], i};
    qsort(t, d->nsmp, sizeof(*t), tagged_cmp);
    for (size_t i = 0; i < d->nsmp; i++)
        d->smp[i] = t[i].smp;
    d->unsorted = 0;
    noa_free(t);
}

static void merge_series(const struct reval *r, struct rseries *d, struct rseries *p)
{
    uint32_t n = r->o->grid.n;
    if (r->counting) {
        if (!d->cnt) {
            d->cnt = p->cnt;
            d->val = p->val;
            p->cnt = p->val = NULL;
            return;
        }
        for (uint32_t i = 0; p->cnt && i <= n; i++) {
            d->cnt[i] += p->cnt[i];
            if (r->bytes)
                d->val[i] += p->val[i];
        }
        return;
    }
    if (d->nparts++ == 0) {
        d->smp = p->smp;
        d->sq = p->sq;
        d->nsmp = p->nsmp;
        d->capsmp = p->capsmp;
        d->unsorted = p->unsorted;
        p->smp = NULL;
        p->sq = NULL;
        return;
    }
    if (d->nsmp + p->nsmp > d->capsmp) {
        d->capsmp = d->nsmp + p->nsmp;
        d->smp = noa_xrealloc(d->smp, sizeof(*d->smp) * d->capsmp);
        d->sq = noa_xrealloc(d->sq, sizeof(*d->sq) * d->capsmp);
    }
    memcpy(d->smp + d->nsmp, p->smp, sizeof(*p->smp) * p->nsmp);
    memcpy(d->sq + d->nsmp, p->sq, sizeof(*p->sq) * p->nsmp);
    d->nsmp += p->nsmp;
}

/* Merges the partials into r (r->out, r->rs) in one thread's order:
 * series by first meeting, samples by (time, stream, arrival). 1 when a
 * limit is passed (the caller reruns on one thread for the exact error). */
static int merge(struct reval *r, struct reval *pv, unsigned nt)
{
    size_t total = 0, nref = 0;
    for (unsigned k = 0; k < nt; k++)
        total += pv[k].out->n;
    struct mref *refs = noa_xmalloc(sizeof(*refs) * (total ? total : 1));
    for (unsigned k = 0; k < nt; k++)
        for (uint32_t i = 0; i < pv[k].out->n; i++)
            refs[nref++] = (struct mref){pv[k].rs[i].first_seq, k, i};
    qsort(refs, nref, sizeof(*refs), mref_cmp);
    int rc = 0;
    uint64_t samples = 0;
    struct noa_error ignored;
    for (size_t j = 0; j < nref && rc == 0; j++) {
        const struct noa_metric_series *ps = &pv[refs[j].k].out->s[refs[j].i];
        uint32_t idx;
        if (noa_metric_set_get(r->out, &ps->labels, ps->hash, &idx, &ignored) < 0) {
            rc = 1;
            break;
        }
        rs_reserve(r);
        struct rseries *p = &pv[refs[j].k].rs[refs[j].i];
        samples += p->nsmp;
        merge_series(r, &r->rs[idx], p);
    }
    if (rc == 0 && r->o->max_samples && samples > r->o->max_samples)
        rc = 1;
    for (uint32_t i = 0; rc == 0 && i < r->out->n; i++)
        if (r->rs[i].nparts > 1)
            order_samples(&r->rs[i]);
    noa_free(refs);
    return rc;
}

/*
 * Reads the streams over nt threads into partials and merges them into r.
 * 0 when done; 1 when r must be emptied and the aggregation run again on
 * one thread: any failure (pipeline error, limits, the source's error,
 * a deadline) is left to that run, which reports it exactly as always.
 */
static int run_parallel(struct reval *r, const struct noa_metric_psource *par, unsigned nt)
{
    const struct noa_logql_expr *e = r->e;
    struct noa_metric_range_opts po = *r->o;
    po.err_full = NULL;
    po.par = NULL;
    struct reval *pv = noa_xcalloc(nt, sizeof(*pv));
    struct noa_arena *ar = noa_xcalloc(nt, sizeof(*ar));
    struct noa_metric_set *sets = noa_xcalloc(nt, sizeof(*sets));
    struct noa_error *errs = noa_xcalloc(nt, sizeof(*errs));
    struct noa_metric_psink *sinks = noa_xcalloc(nt, sizeof(*sinks));
    atomic_int stop = 0;
    int rc = 0;
    for (unsigned k = 0; k < nt; k++) {
        pv[k] = (struct reval){.e = e, .o = &po, .err = &errs[k], .track_seq = 1, .stop = &stop};
        noa_metric_set_init(&sets[k], &ar[k], po.grid.n, po.max_series);
        pv[k].out = &sets[k];
        noa_pipeline_state_init(&pv[k].st);
        if (rc == 0)
            rc = setup(&pv[k], &errs[k]);
        sinks[k] = (struct noa_metric_psink){pstream_cb, pentry_cb, &pv[k], pv[k].lens_only};
    }
    if (rc == 0) {
        int64_t from, through;
        read_range(e, &po.grid, &from, &through);
        rc = par->each_stream(par->ctx, e->log, from, through, sinks, nt);
    }
    for (unsigned k = 0; k < nt && rc == 0; k++)
        if (pv[k].rc < 0)
            rc = pv[k].rc;
    rc = rc == 0 ? merge(r, pv, nt) : 1;
    for (unsigned k = 0; k < nt; k++) {
        reval_fini(&pv[k]);
        noa_metric_set_fini(&sets[k]);
        noa_arena_fini(&ar[k]);
    }
    noa_free(pv);
    noa_free(ar);
    noa_free(sets);
    noa_free(errs);
    noa_free(sinks);
    return rc;
}

int noa_metric_range_eval(const struct noa_logql_expr *e, const struct noa_metric_source *src,
                          const struct noa_metric_range_opts *o, struct noa_arena *arena,
                          struct noa_metric_set *out, struct noa_error *err)
{
    struct reval r = {.e = e, .o = o, .err = err};
    struct noa_metric_set counts;
    int absent = e->range_op == NOA_LOGQL_RANGE_ABSENT;
    unsigned nt = o->threads ? o->threads : NOA_METRIC_RANGE_THREADS;
    noa_metric_set_init(out, arena, o->grid.n, o->max_series);
    out->shown_limit = o->shown_limit;
    noa_metric_set_init(&counts, arena, o->grid.n, 0);
    r.out = absent ? &counts : out;
    noa_pipeline_state_init(&r.st);
    int rc = setup(&r, err);
    if (rc < 0)
        goto done;
    if (o->par && nt > 1) {
        if (run_parallel(&r, o->par, nt) == 0)
            goto finish;
        /* Start again from nothing on this thread. */
        rs_free(&r);
        noa_metric_set_fini(r.out);
        noa_metric_set_init(r.out, arena, o->grid.n, absent ? 0 : o->max_series);
        r.out->shown_limit = absent ? 0 : o->shown_limit;
    }
    int64_t from, through;
    read_range(e, &o->grid, &from, &through);
    struct noa_metric_sink sink = {
        .stream_cb = stream_cb, .entry_cb = entry_cb, .arg = &r, .lens_only = r.lens_only};
    rc = src->each_stream(src->ctx, e->log, from, through, &sink);
    if (r.rc < 0)
        rc = r.rc;
    if (rc < 0)
        goto done;
finish:
    rc = finish(&r);
    if (rc == 0 && absent)
        absent_result(&r, &counts, arena, out);
done:
    reval_fini(&r);
    noa_metric_set_fini(&counts);
    return rc;
}
