/*
 * The LogQL metric query engine: evaluates a parsed metric expression
 * (common/logql.h) over a struct noa_metric_source at every step of a
 * range query, or once for an instant query, into a matrix, vector or
 * scalar result sorted as Loki sorts it. Limits: max_query_series (Loki's
 * text) on every series set, and a bound on samples held by unwrap
 * aggregations. The JSON encoder lives in querier/metric_json.h.
 *
 * The evaluation runs on the calling thread (range aggregations over a
 * parallel source also on workers they start and join) and allocates from
 * the result's arena; the result is freed at once with _fini.
 */
#ifndef NOA_QUERIER_METRIC_EVAL_H
#define NOA_QUERIER_METRIC_EVAL_H

#include "common/buf.h"
#include "common/err.h"
#include "common/logql.h"
#include "querier/metric_range.h"
#include "querier/metric_series.h"
#include "querier/metric_source.h"

#include <stdint.h>

struct noa_metric_opts {
    int64_t start_ns, end_ns; /* instant query: start == end (the `time`) */
    int64_t step_ns;          /* 0 = instant query */
    uint32_t max_series;      /* Loki's max_query_series (default 500); 0 = unlimited */
    uint64_t max_samples;     /* unwrap samples held at once; 0 = unlimited */
    /* Optional: on failure, the whole error text when it may be longer than
     * err->msg holds (a pipeline error names the full series); left empty
     * otherwise, so callers use err->msg when err_full->len == 0. */
    struct noa_buf *err_full;
    /* Tests: parsers extract every label (no pruning to what is read). */
    int no_prune;
    /* Optional: src's parallel form (see metric_range.h); when NULL and src
     * is a struct noa_metric_store's, the store's own is used. threads: 0
     * the default (NOA_METRIC_RANGE_THREADS), 1 one thread. */
    const struct noa_metric_psource *par;
    unsigned threads;
};

enum noa_metric_result_type {
    NOA_METRIC_SCALAR = 0,
    NOA_METRIC_VECTOR = 1,
    NOA_METRIC_MATRIX = 2,
};

struct noa_metric_result {
    enum noa_metric_result_type type; /* read-only */
    struct noa_metric_grid grid;      /* read-only: the evaluation times */
    /* VECTOR and MATRIX: the series in Loki's output order (labels; for
     * an instant query with sort/sort_desc, value order). Series without
     * any point are left out. SCALAR: set.scalar_v[0]. */
    struct noa_metric_set set;
    struct noa_arena arena; /* private */
};

/*
 * Evaluates the metric expression e (not a log query). res is
 * initialised here and must be released with noa_metric_result_fini
 * whatever the return. Returns 0, NOA_EINVAL with Loki's message in err
 * (pipeline error, series limit, bad matching, invalid stage), NOA_ELIMIT
 * (samples bound), or the source's error.
 */
int noa_metric_eval(const struct noa_logql_expr *e, const struct noa_metric_source *src,
                    const struct noa_metric_opts *o, struct noa_metric_result *res,
                    struct noa_error *err);

void noa_metric_result_fini(struct noa_metric_result *res);

#endif
