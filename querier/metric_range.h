/*
 * Range aggregations of LogQL metric queries (count_over_time, rate,
 * bytes_over_time, bytes_rate, absent_over_time and the unwrap
 * `_over_time` family): pulls entries from a struct noa_metric_source,
 * runs the log pipeline and the unwrap stage on each, and aggregates per
 * series and step with Loki's window (t - offset - range, t - offset].
 *
 * Counting ops (count, rate, bytes, bytes_rate) keep one difference array
 * per series, so each entry costs O(1) whatever the overlap of windows;
 * unwrap ops keep the series' samples and slide a window over them
 * (O(samples + steps) to find windows). Nothing is allocated per entry
 * once the series exist. Owned by one query thread.
 */
#ifndef NOA_QUERIER_METRIC_RANGE_H
#define NOA_QUERIER_METRIC_RANGE_H

#include "common/err.h"
#include "common/logql.h"
#include "querier/metric_series.h"
#include "querier/metric_source.h"

#include <stdint.h>

struct noa_metric_range_opts {
    struct noa_metric_grid grid;
    /* A `by` grouping pushed down from an enclosing sum (NULL: none): used
     * when the range aggregation has no grouping of its own. */
    const struct noa_logql_grouping *outer_by;
    /* 1 when an enclosing aggregation groups by __error__: errored samples
     * are kept instead of failing the query (Loki's __preserve_error__). */
    int preserve_error;
    uint32_t max_series;  /* 0 = unlimited */
    uint32_t shown_limit; /* the limit a series-limit error names (0: max_series) */
    uint64_t max_samples; /* unwrap ops: samples held at once; 0 = unlimited */
    /* Optional: receives the whole text of a pipeline error, which can be
     * longer than struct noa_error's message (err->msg is cut). */
    struct noa_buf *err_full;
};

/* Loki's text when a sample still carries __error__ (PipelineError):
 * arguments (int len, const char *) error, (const char *) series labels,
 * (int len, const char *) error again. Ends with a newline, as Loki's. */
#define NOA_METRIC_PIPELINE_ERR_FMT                                                          \
    "pipeline error: '%.*s' for series: '%s'.\n"                                               \
    "Use a label filter to intentionally skip this error. (e.g | __error__!=\"%.*s\").\n"      \
    "To skip all potential errors you can match empty errors.(e.g __error__=\"\")\n"         \
    "The label filter can also be specified after unwrap. (e.g | unwrap latency | "          \
    "__error__=\"\" )\n"

/*
 * Evaluates the RANGE_AGG node e over src into out (initialised here with
 * arena and o->grid.n steps; the caller finis it). Returns 0, NOA_EINVAL
 * with err filled (pipeline error, series limit, invalid stage), NOA_ELIMIT
 * when max_samples is passed, or the source's own error.
 */
int noa_metric_range_eval(const struct noa_logql_expr *e, const struct noa_metric_source *src,
                          const struct noa_metric_range_opts *o, struct noa_arena *arena,
                          struct noa_metric_set *out, struct noa_error *err);

#endif
