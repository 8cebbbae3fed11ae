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
 * once the series exist.
 *
 * Runs on the query thread; given a struct noa_metric_psource it runs on
 * several threads instead (the query thread and workers it starts and
 * joins): each reads whole streams into its own partial aggregates, which
 * the query thread merges into results identical to one thread's.
 */
#ifndef NOA_QUERIER_METRIC_RANGE_H
#define NOA_QUERIER_METRIC_RANGE_H

#include "common/err.h"
#include "common/logql.h"
#include "querier/metric_series.h"
#include "querier/metric_source.h"

#include <stdint.h>

/* A sink a parallel source feeds from one thread at a time: seq is the
 * stream's rank in the order a single-threaded source would deliver the
 * streams (increasing in that order, gaps allowed). */
struct noa_metric_psink {
    int (*stream_cb)(void *arg, uint64_t seq, const struct noa_labels *stream);
    int (*entry_cb)(void *arg, int64_t ts_ns, struct noa_str line, const struct noa_label *meta,
                    uint32_t n_meta);
    void *arg;
    int lens_only; /* as struct noa_metric_sink's; the same in every sink of a call */
};

/*
 * A source that feeds n sinks at once, on n threads (the caller's and n - 1
 * it starts and joins): each matching stream goes whole to one sink, with
 * metric_source.h's contract per sink; a sink's non-zero return stops its
 * thread and makes the others stop soon (their sinks may see a few more
 * entries); returns the first non-zero value, or the source's own error.
 * Each sink's streams come in increasing seq order.
 */
struct noa_metric_psource {
    int (*each_stream)(void *ctx, const struct noa_logql_expr *log, int64_t from_ns,
                       int64_t through_ns, const struct noa_metric_psink *sinks, unsigned n);
    void *ctx;
};

/* Threads of a parallel range aggregation (both cores of a small machine). */
#define NOA_METRIC_RANGE_THREADS 2

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
    /* Tests: never prune a parser to the labels read (see metric_range.c
     * new_pipeline); results are the same either way. */
    int no_prune;
    /* Optional: read the streams over `threads` threads (0: the default
     * NOA_METRIC_RANGE_THREADS; 1: one thread, par unused). */
    const struct noa_metric_psource *par;
    unsigned threads;
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
