/*
 * Where the metric engine gets its log entries from: a pull interface the
 * query API implements over storage (querier/logsel) and tests implement
 * over fixed data, so the engine needs no storage of its own.
 *
 * Contract for each_stream(ctx, log, from_ns, through_ns, sink):
 *  - for every stream matching log->selector that has entries with
 *    timestamps in [from_ns, through_ns), call sink->stream_cb once with
 *    the stream's sorted label set (borrowed until the next stream_cb or
 *    the end of each_stream: the source may reuse the memory), then
 *    sink->entry_cb once per entry of that stream in the range, with the
 *    raw line and the entry's structured metadata (borrowed for the call);
 *  - entries of one stream come in non-decreasing timestamp order; streams
 *    come one after another in any order; one label set is delivered once
 *    (a source reading replicas or memory plus chunks deduplicates);
 *  - the source may skip entries it can prove the pipeline drops (e.g. with
 *    noa_pipeline_required_literals over log's stages) but must not alter
 *    them: the engine runs the whole pipeline itself;
 *  - when a callback returns non-zero, stop and return that value; return
 *    0 after the last entry, or a negative code of the source's own.
 * Called on the query thread, once per range aggregation of a query.
 */
#ifndef NOA_QUERIER_METRIC_SOURCE_H
#define NOA_QUERIER_METRIC_SOURCE_H

#include "common/buf.h"
#include "common/labels.h"
#include "common/logql.h"

#include <stdint.h>

/* What the engine hands the source: where to deliver streams and entries. */
struct noa_metric_sink {
    int (*stream_cb)(void *arg, const struct noa_labels *stream);
    int (*entry_cb)(void *arg, int64_t ts_ns, struct noa_str line, const struct noa_label *meta,
                    uint32_t n_meta);
    void *arg;
    /* 1: entry_cb reads only ts_ns and line.len (a count-type aggregation
     * over an empty pipeline), so the source may deliver line.p == NULL
     * (entries read from ingester/blockcol.h columns). */
    int lens_only;
};

struct noa_metric_psink; /* querier/metric_range.h */

struct noa_metric_source {
    int (*each_stream)(void *ctx, const struct noa_logql_expr *log, int64_t from_ns,
                       int64_t through_ns, const struct noa_metric_sink *sink);
    void *ctx;
    /* Optional (NULL: serial only): the same streams fed to n sinks on n
     * threads, each stream whole to one sink (struct noa_metric_psource's
     * contract in metric_range.h). */
    int (*each_stream_par)(void *ctx, const struct noa_logql_expr *log, int64_t from_ns,
                           int64_t through_ns, const struct noa_metric_psink *sinks, unsigned n);
};

#endif
