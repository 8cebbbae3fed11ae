/*
 * The metric engine's driver (querier/metric_eval.h): walks the
 * expression tree bottom-up, each node producing a series set over the
 * whole step grid, and shapes the final set into Loki's result (sorting,
 * limits). A sum over count/rate/bytes/bytes_rate/sum_over_time pushes its
 * `by` grouping into the range aggregation, as Loki does, so only grouped
 * series are ever built. Runs on the calling thread; range aggregations
 * over a source with each_stream_par (the store's), when the caller gives
 * no parallel source of its own, also on threads they start and join.
 */
#include "querier/metric_eval.h"

#include "common/mem.h"
#include "querier/metric_binop.h"
#include "querier/metric_func.h"
#include "querier/metric_range.h"
#include "querier/metric_vector.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ctx {
    const struct noa_metric_source *src;
    const struct noa_metric_psource *par; /* src's parallel form, or NULL */
    struct noa_metric_psource store_par;
    const struct noa_metric_opts *o;
    struct noa_metric_grid grid;
    struct noa_arena *arena;
    struct noa_error *err;
};

/* Parents whose work Loki shards, so their input never materialises
 * whole in Loki and max_query_series applies to their output only. Their
 * input is still bounded (memory): by points, not by the user's limit. */
#define INNER_MAX_POINTS 20000000u
#define INNER_MAX_SERIES 100000u

static int shardable(enum noa_logql_vector_op op)
{
    return op == NOA_LOGQL_VEC_SUM || op == NOA_LOGQL_VEC_MIN || op == NOA_LOGQL_VEC_MAX ||
           op == NOA_LOGQL_VEC_COUNT || op == NOA_LOGQL_VEC_AVG;
}

static int eval(struct ctx *c, const struct noa_logql_expr *e,
                const struct noa_logql_grouping *outer_by, int preserve, int relaxed,
                struct noa_metric_set *out, int depth);

static int eval_vector_agg(struct ctx *c, const struct noa_logql_expr *e, int preserve,
                           struct noa_metric_set *out, int depth)
{
    static const struct noa_logql_grouping by_none = {.present = 1};
    const struct noa_logql_grouping *push = NULL;
    if (e->vector_op == NOA_LOGQL_VEC_SUM && !e->grouping.without)
        push = e->grouping.present ? &e->grouping : &by_none;
    if (e->grouping.present && !e->grouping.without &&
        noa_metric_names_has(&e->grouping.labels, NOA_STR("__error__")))
        preserve = 1;
    if (e->vector_op == NOA_LOGQL_VEC_APPROX_TOPK && c->grid.step_ns > 0)
        return noa_error_set(c->err, NOA_EINVAL,
                             "count min sketches are only supported on instant queries");
    struct noa_metric_set in;
    int rc = eval(c, e->inner, push, preserve, shardable(e->vector_op), &in, depth + 1);
    if (rc == 0) {
        /* Sorted input makes topk/bottomk ties resolve by label order. */
        noa_metric_set_sort(&in);
        rc = noa_metric_vector_eval(e, &in, c->arena, c->o->max_series, out, c->err);
    } else {
        noa_metric_set_init(out, c->arena, c->grid.n, 0);
    }
    noa_metric_set_fini(&in);
    return rc;
}

static int eval(struct ctx *c, const struct noa_logql_expr *e,
                const struct noa_logql_grouping *outer_by, int preserve, int relaxed,
                struct noa_metric_set *out, int depth)
{
    if (depth > NOA_LOGQL_MAX_DEPTH) {
        noa_metric_set_init(out, c->arena, c->grid.n, 0);
        return noa_error_set(c->err, NOA_EINVAL, "query too deeply nested");
    }
    switch (e->kind) {
    case NOA_LOGQL_LITERAL:
        noa_metric_set_init_scalar(out, c->arena, c->grid.n);
        for (uint32_t t = 0; t < c->grid.n; t++)
            out->scalar_v[t] = e->value;
        return 0;
    case NOA_LOGQL_VECTOR:
        noa_metric_func_vector(e->value, c->arena, c->grid.n, out);
        return 0;
    case NOA_LOGQL_RANGE_AGG: {
        struct noa_metric_range_opts ro = {.grid = c->grid,
                                           .outer_by = outer_by,
                                           .preserve_error = preserve,
                                           .max_series = c->o->max_series,
                                           .max_samples = c->o->max_samples,
                                           .err_full = c->o->err_full,
                                           .no_prune = c->o->no_prune,
                                           .par = c->par,
                                           .threads = c->o->threads};
        if (relaxed && ro.max_series) {
            uint32_t cap = INNER_MAX_POINTS / c->grid.n;
            if (cap > INNER_MAX_SERIES)
                cap = INNER_MAX_SERIES;
            if (cap > ro.max_series) {
                ro.shown_limit = ro.max_series;
                ro.max_series = cap;
            }
        }
        return noa_metric_range_eval(e, c->src, &ro, c->arena, out, c->err);
    }
    case NOA_LOGQL_VECTOR_AGG:
        return eval_vector_agg(c, e, preserve, out, depth);
    case NOA_LOGQL_BINOP: {
        struct noa_metric_set l, r;
        int rc = eval(c, e->lhs, NULL, preserve, 0, &l, depth + 1);
        noa_metric_set_init(&r, c->arena, c->grid.n, 0);
        if (rc == 0) {
            noa_metric_set_fini(&r);
            rc = eval(c, e->rhs, NULL, preserve, 0, &r, depth + 1);
        }
        if (rc == 0)
            rc = noa_metric_binop_eval(e, &l, &r, c->arena, c->o->max_series, out, c->err);
        else
            noa_metric_set_init(out, c->arena, c->grid.n, 0);
        noa_metric_set_fini(&l);
        noa_metric_set_fini(&r);
        return rc;
    }
    case NOA_LOGQL_LABEL_REPLACE: {
        struct noa_metric_set in;
        int rc = eval(c, e->inner, NULL, preserve, 0, &in, depth + 1);
        if (rc == 0)
            rc = noa_metric_func_label_replace(e, &in, c->arena, c->o->max_series, out, c->err);
        else
            noa_metric_set_init(out, c->arena, c->grid.n, 0);
        noa_metric_set_fini(&in);
        return rc;
    }
    default:
        noa_metric_set_init(out, c->arena, c->grid.n, 0);
        return noa_error_set(c->err, NOA_EINVAL,
                             "log queries are not supported as a metric expression");
    }
}

/* Drops series without points (a filter can leave them) and sorts by labels. */
static void compact(struct noa_metric_set *set, uint32_t nsteps)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < set->n; i++) {
        int any = 0;
        for (uint32_t t = 0; t < nsteps && !any; t++)
            any = set->s[i].has[t];
        if (any)
            set->s[k++] = set->s[i];
    }
    set->n = k;
    noa_metric_set_sort(set);
}

static int by_value(const struct noa_metric_series *a, const struct noa_metric_series *b, int dir)
{
    double x = a->v[0], y = b->v[0];
    /* NaN goes last in both directions. */
    if (isnan(x) || isnan(y))
        return isnan(x) - isnan(y);
    if (x == y)
        return 0;
    return (x < y ? -1 : 1) * dir;
}

/* Stable insertion of value order over the label order (ties keep labels). */
static void sort_by_value(struct noa_metric_set *set)
{
    for (uint32_t i = 1; i < set->n; i++) {
        struct noa_metric_series s = set->s[i];
        uint32_t j = i;
        while (j > 0 && by_value(&set->s[j - 1], &s, set->sort_dir) > 0) {
            set->s[j] = set->s[j - 1];
            j--;
        }
        set->s[j] = s;
    }
}

static int shape(struct ctx *c, struct noa_metric_result *res)
{
    struct noa_metric_set *set = &res->set;
    uint32_t max = c->o->max_series;
    if (set->is_scalar) {
        if (c->grid.step_ns == 0) {
            res->type = NOA_METRIC_SCALAR;
            return 0;
        }
        /* A range query over a scalar: one series {} at every step. */
        struct noa_metric_set m;
        noa_metric_func_vector(0, c->arena, c->grid.n, &m);
        memcpy(m.s[0].v, set->scalar_v, sizeof(double) * c->grid.n);
        noa_metric_set_fini(set);
        *set = m;
        res->type = NOA_METRIC_MATRIX;
        return 0;
    }
    res->type = c->grid.step_ns == 0 ? NOA_METRIC_VECTOR : NOA_METRIC_MATRIX;
    compact(set, c->grid.n);
    if (max && set->n > max)
        return noa_error_set(c->err, NOA_EINVAL, NOA_METRIC_SERIES_LIMIT_FMT, max);
    if (res->type == NOA_METRIC_VECTOR && set->sort_dir)
        sort_by_value(set);
    return 0;
}

int noa_metric_eval(const struct noa_logql_expr *e, const struct noa_metric_source *src,
                    const struct noa_metric_opts *o, struct noa_metric_result *res,
                    struct noa_error *err)
{
    memset(res, 0, sizeof(*res));
    struct ctx c = {.src = src, .o = o, .arena = &res->arena, .err = err, .par = o->par};
    /* A source that can feed several threads (the store's) is used so. */
    if (!c.par && src->each_stream_par) {
        c.store_par = (struct noa_metric_psource){src->each_stream_par, src->ctx};
        c.par = &c.store_par;
    }
    c.grid.start_ns = o->start_ns;
    c.grid.step_ns = o->step_ns > 0 ? o->step_ns : 0;
    c.grid.n = 1;
    res->grid = c.grid;
    noa_metric_set_init(&res->set, &res->arena, 1, 0);
    if (o->step_ns > 0) {
        if (o->end_ns < o->start_ns)
            return noa_error_set(err, NOA_EINVAL,
                                 "end timestamp must not be before or equal to start time");
        if ((o->end_ns - o->start_ns) / o->step_ns > 11000)
            return noa_error_set(err, NOA_EINVAL,
                                 "exceeded maximum resolution of 11,000 points per timeseries. "
                                 "Try decreasing the query resolution (?step=XX)");
        c.grid.n = (uint32_t)((o->end_ns - o->start_ns) / o->step_ns) + 1;
        res->grid = c.grid;
    }
    if (noa_logql_is_log(e))
        return noa_error_set(err, NOA_EINVAL,
                             "log queries are not supported as a metric expression");
    noa_metric_set_fini(&res->set);
    int rc = eval(&c, e, NULL, 0, 0, &res->set, 0);
    if (rc == 0)
        rc = shape(&c, res);
    return rc;
}

void noa_metric_result_fini(struct noa_metric_result *res)
{
    noa_metric_set_fini(&res->set);
    noa_arena_fini(&res->arena);
}
