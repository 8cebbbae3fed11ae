/*
 * Vector aggregations (querier/metric_vector.h). Groups are found once per
 * input series (labels do not change between steps); each step then folds
 * the present samples into per-group accumulators with the float rules of
 * Loki's VectorAggEvaluator. topk/bottomk select with Prometheus' heap
 * (Go container/heap order), so ties resolve the same way for the same
 * input order: inputs arrive sorted by labels. Owned by one query thread.
 */
#include "querier/metric_vector.h"

#include "common/mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct acc {
    double value, mean;
    uint32_t count;
};

static void acc_add(enum noa_logql_vector_op op, struct acc *a, double v)
{
    if (a->count == 0) {
        a->count = 1;
        a->value = v;
        a->mean = v;
        if (op == NOA_LOGQL_VEC_STDDEV || op == NOA_LOGQL_VEC_STDVAR)
            a->value = 0;
        return;
    }
    a->count++;
    switch (op) {
    case NOA_LOGQL_VEC_SUM:
        a->value += v;
        break;
    case NOA_LOGQL_VEC_AVG:
        /* An infinite mean absorbs finite values and infinities of its sign. */
        if (isinf(a->mean)) {
            if (isinf(v) && (a->mean > 0) == (v > 0))
                break;
            if (!isinf(v) && !isnan(v))
                break;
        }
        a->mean += v / a->count - a->mean / a->count;
        break;
    case NOA_LOGQL_VEC_MAX:
        if (a->value < v || isnan(a->value))
            a->value = v;
        break;
    case NOA_LOGQL_VEC_MIN:
        if (a->value > v || isnan(a->value))
            a->value = v;
        break;
    case NOA_LOGQL_VEC_STDDEV:
    case NOA_LOGQL_VEC_STDVAR: {
        double delta = v - a->mean;
        a->mean += delta / a->count;
        a->value += delta * (v - a->mean);
        break;
    }
    default:
        break;
    }
}

static double acc_result(enum noa_logql_vector_op op, const struct acc *a)
{
    switch (op) {
    case NOA_LOGQL_VEC_AVG:
        return a->mean;
    case NOA_LOGQL_VEC_COUNT:
        return (double)a->count;
    case NOA_LOGQL_VEC_STDVAR:
        return a->value / a->count;
    case NOA_LOGQL_VEC_STDDEV:
        return sqrt(a->value / a->count);
    default:
        return a->value;
    }
}

/* Group of each input series: the index of its group series in out. */
static int group_series(const struct noa_logql_expr *e, const struct noa_metric_set *in,
                        struct noa_metric_set *out, uint32_t *gidx, struct noa_error *err)
{
    static const struct noa_logql_grouping by_none = {.present = 1};
    const struct noa_logql_grouping *g = e->grouping.present ? &e->grouping : &by_none;
    struct noa_labels ls = {0};
    uint32_t cap = 0;
    int rc = 0;
    for (uint32_t i = 0; i < in->n && rc == 0; i++) {
        if (in->s[i].labels.n > cap) {
            cap = in->s[i].labels.n;
            ls.v = noa_xrealloc(ls.v, sizeof(*ls.v) * cap);
        }
        noa_metric_group(&in->s[i].labels, g, NULL, &ls);
        rc = noa_metric_set_get(out, &ls, noa_labels_hash(&ls), &gidx[i], err);
    }
    noa_free(ls.v);
    return rc;
}

static int fold(const struct noa_logql_expr *e, const struct noa_metric_set *in,
                struct noa_metric_set *out, struct noa_error *err)
{
    uint32_t *gidx = noa_xmalloc(sizeof(uint32_t) * (in->n ? in->n : 1));
    int rc = group_series(e, in, out, gidx, err);
    struct acc *acc = noa_xcalloc(out->n ? out->n : 1, sizeof(*acc));
    for (uint32_t t = 0; rc == 0 && t < in->nsteps; t++) {
        memset(acc, 0, sizeof(*acc) * out->n);
        for (uint32_t i = 0; i < in->n; i++)
            if (in->s[i].has[t])
                acc_add(e->vector_op, &acc[gidx[i]], in->s[i].v[t]);
        for (uint32_t g = 0; g < out->n; g++) {
            if (!acc[g].count)
                continue;
            out->s[g].has[t] = 1;
            out->s[g].v[t] = acc_result(e->vector_op, &acc[g]);
        }
    }
    noa_free(acc);
    noa_free(gidx);
    return rc;
}

/* ---- topk / bottomk: Prometheus' vectorByValueHeap and its reverse ---- */

struct heap {
    uint32_t *v; /* input series indices */
    uint32_t n;
};

struct sel {
    const struct noa_metric_set *in;
    uint32_t t;
    int bottom;
};

/* Less of the heap: NaN is the smallest for topk's min-heap and for
 * bottomk's max-heap alike, so it is always evicted first. */
static int less(const struct sel *s, uint32_t a, uint32_t b)
{
    double x = s->in->s[a].v[s->t], y = s->in->s[b].v[s->t];
    if (isnan(x) && !isnan(y))
        return 1;
    return s->bottom ? x > y : x < y;
}

static void swap(uint32_t *v, uint32_t i, uint32_t j)
{
    uint32_t t = v[i];
    v[i] = v[j];
    v[j] = t;
}

static void heap_up(const struct sel *s, struct heap *h, uint32_t j)
{
    while (j > 0) {
        uint32_t i = (j - 1) / 2;
        if (!less(s, h->v[j], h->v[i]))
            break;
        swap(h->v, i, j);
        j = i;
    }
}

static int heap_down(const struct sel *s, struct heap *h, uint32_t i0)
{
    uint32_t i = i0;
    for (;;) {
        uint32_t j1 = 2 * i + 1;
        if (j1 >= h->n)
            break;
        uint32_t j = j1;
        if (j1 + 1 < h->n && less(s, h->v[j1 + 1], h->v[j1]))
            j = j1 + 1;
        if (!less(s, h->v[j], h->v[i]))
            break;
        swap(h->v, i, j);
        i = j;
    }
    return i > i0;
}

static int select_k(const struct noa_logql_expr *e, const struct noa_metric_set *in,
                    struct noa_metric_set *out, struct noa_arena *arena, struct noa_error *err)
{
    struct noa_metric_set groups;
    noa_metric_set_init(&groups, arena, in->nsteps, 0);
    uint32_t *gidx = noa_xmalloc(sizeof(uint32_t) * (in->n ? in->n : 1));
    uint32_t *oidx = noa_xmalloc(sizeof(uint32_t) * (in->n ? in->n : 1));
    int rc = group_series(e, in, &groups, gidx, err);
    uint64_t k = e->param >= 1 ? (uint64_t)e->param : 0;
    /* Each group's heap holds at most min(k, its size) entries. */
    uint32_t *size = noa_xcalloc(groups.n + 1, sizeof(uint32_t));
    uint32_t *store = noa_xmalloc(sizeof(uint32_t) * (in->n ? in->n : 1));
    struct heap *heaps = noa_xcalloc(groups.n ? groups.n : 1, sizeof(*heaps));
    for (uint32_t i = 0; rc == 0 && i < in->n; i++)
        size[gidx[i]]++;
    for (uint32_t g = 0, off = 0; rc == 0 && g < groups.n; off += size[g], g++)
        heaps[g].v = store + off;
    for (uint32_t i = 0; rc == 0 && i < in->n; i++)
        rc = noa_metric_set_get(out, &in->s[i].labels, in->s[i].hash, &oidx[i], err);
    struct sel s = {.in = in, .bottom = e->vector_op == NOA_LOGQL_VEC_BOTTOMK};
    for (uint32_t t = 0; rc == 0 && t < in->nsteps; t++) {
        s.t = t;
        for (uint32_t g = 0; g < groups.n; g++)
            heaps[g].n = 0;
        for (uint32_t i = 0; i < in->n; i++) {
            if (!in->s[i].has[t])
                continue;
            struct heap *h = &heaps[gidx[i]];
            if (h->n < k) {
                h->v[h->n++] = i;
                heap_up(&s, h, h->n - 1);
            } else if (k && less(&s, h->v[0], i)) {
                h->v[0] = i;
                if (!heap_down(&s, h, 0))
                    heap_up(&s, h, 0);
            }
        }
        for (uint32_t g = 0; g < groups.n; g++) {
            for (uint32_t j = 0; j < heaps[g].n; j++) {
                uint32_t i = heaps[g].v[j];
                out->s[oidx[i]].has[t] = 1;
                out->s[oidx[i]].v[t] = in->s[i].v[t];
            }
        }
    }
    noa_free(heaps);
    noa_free(store);
    noa_free(size);
    noa_free(oidx);
    noa_free(gidx);
    noa_metric_set_fini(&groups);
    return rc;
}

static int copy_sorted(const struct noa_logql_expr *e, const struct noa_metric_set *in,
                       struct noa_metric_set *out, struct noa_error *err)
{
    for (uint32_t i = 0; i < in->n; i++) {
        uint32_t idx;
        int rc = noa_metric_set_get(out, &in->s[i].labels, in->s[i].hash, &idx, err);
        if (rc < 0)
            return rc;
        memcpy(out->s[idx].v, in->s[i].v, sizeof(double) * in->nsteps);
        memcpy(out->s[idx].has, in->s[i].has, in->nsteps);
    }
    out->sort_dir = e->vector_op == NOA_LOGQL_VEC_SORT ? 1 : -1;
    return 0;
}

int noa_metric_vector_eval(const struct noa_logql_expr *e, const struct noa_metric_set *in,
                           struct noa_arena *arena, uint32_t max_series,
                           struct noa_metric_set *out, struct noa_error *err)
{
    noa_metric_set_init(out, arena, in->nsteps, max_series);
    if (in->is_scalar)
        return noa_error_set(err, NOA_EINVAL, "unexpected scalar operand of %s",
                             noa_logql_vector_op_name(e->vector_op));
    switch (e->vector_op) {
    case NOA_LOGQL_VEC_TOPK:
    case NOA_LOGQL_VEC_BOTTOMK:
    case NOA_LOGQL_VEC_APPROX_TOPK:
        return select_k(e, in, out, arena, err);
    case NOA_LOGQL_VEC_SORT:
    case NOA_LOGQL_VEC_SORT_DESC:
        return copy_sorted(e, in, out, err);
    default:
        return fold(e, in, out, err);
    }
}
