/*
 * Loki's JSON body for metric query results (pkg/util/marshal/query.go):
 * {"status":"success","data":{"resultType":"matrix|vector|scalar",
 * "result":...,"stats":{...}}}, values as Prometheus prints them and
 * timestamps as Unix seconds with millisecond precision. Pure; any thread.
 */
#ifndef NOA_QUERIER_METRIC_JSON_H
#define NOA_QUERIER_METRIC_JSON_H

#include "common/buf.h"
#include "querier/metric_eval.h"
#include "querier/stats_json.h"

/*
 * Appends the response for res to out. stats (may be NULL: all zero) is
 * written by noa_stats_json_put with totalEntriesReturned set to the
 * result's points (matrix), samples (vector) or 0 (scalar), as Loki counts.
 */
void noa_metric_json_encode(const struct noa_metric_result *res, const struct noa_stats_json *stats,
                            struct noa_buf *out);

/* Appends the labels object {"a":"1",...} of a sorted label set. */
void noa_metric_json_labels(const struct noa_labels *ls, struct noa_buf *out);

/* A sample value as Prometheus/Loki print it: Go's
 * strconv.FormatFloat(v, 'f', -1, 64) ("2", "0.5"), "+Inf", "-Inf", "NaN",
 * in quotes. */
void noa_metric_json_put_value(struct noa_buf *b, double v);

/* A timestamp as Prometheus' JSON prints it: Unix seconds with up to three
 * decimals ("4", "1700000000.123"); ns are truncated to ms. */
void noa_metric_json_put_time(struct noa_buf *b, int64_t ns);

#endif
