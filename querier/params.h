/*
 * Loki's query parameters: timestamps, durations, time-range defaults,
 * step, limit and direction, parsed exactly as pkg/loghttp does, with its
 * error texts; and the limits_config checks over them (max_query_length,
 * max_query_lookback, max_entries_limit_per_query) with Loki's messages
 * and Go/Prometheus duration formatting. Pure functions; any thread.
 */
#ifndef NOA_QUERIER_PARAMS_H
#define NOA_QUERIER_PARAMS_H

#include "common/buf.h"
#include "common/err.h"
#include "ingester/limits.h"

#include <stdint.h>

/* Parses start/end/time: float seconds ("1700000000.5"), integer seconds
 * (<= 10 digits) or nanoseconds, or RFC3339(Nano). */
int noa_params_timestamp(struct noa_str s, int64_t *out_ns, struct noa_error *err);

/* Parses a Prometheus duration ("1h30m", "500ms", "2d"). */
int noa_params_prom_duration(struct noa_str s, int64_t *out_ns);

/* step/interval: float seconds or a Prometheus duration. */
int noa_params_step(struct noa_str s, int64_t *out_ns, struct noa_error *err);

/*
 * Loki's determineBounds: end defaults to now, since to 1h, start to
 * min(end, now) - since; an explicit start wins. Any of the three slices
 * may be NULL (absent).
 */
int noa_params_bounds(const struct noa_str *start, const struct noa_str *end,
                      const struct noa_str *since, int64_t now_ns, int64_t *start_ns,
                      int64_t *end_ns, struct noa_error *err);

/* limit: default 100, positive integer. */
int noa_params_limit(const struct noa_str *s, uint32_t *out, struct noa_error *err);

/* direction: default backward; case-insensitive FORWARD/BACKWARD. *backward = 1 or 0. */
int noa_params_direction(const struct noa_str *s, int *backward, struct noa_error *err);

/* Formats a duration as Go's time.Duration.String: "744h0m0s", "1m30s",
 * "1.5s", "250ms", "0s" (Loki prints limits in its messages this way). */
void noa_params_format_go_duration(int64_t ns, char *out, size_t cap);

/* Formats a duration as Prometheus' model.Duration.String at millisecond
 * precision: "30d1h", "1w", "90d", "1h30m", "0s". */
void noa_params_format_prom_duration(int64_t ns, char *out, size_t cap);

/* Loki's defaultQueryRangeStep: max(floor((end - start) / 250 s), 1) s, in ns. */
int64_t noa_params_default_step(int64_t start_ns, int64_t end_ns);

/*
 * query_range's step as loghttp.ParseRangeQuery: the parameter (s may be
 * NULL or empty: the default above), then Loki's refusals: a step <= 0
 * ("zero or negative query resolution step widths are not accepted. Try a
 * positive integer") and more than 11000 points ("exceeded maximum
 * resolution of 11,000 points per timeseries. Try decreasing the query
 * resolution (?step=XX)"). NOA_EINVAL with the text in err.
 */
int noa_params_range_step(const struct noa_str *s, int64_t start_ns, int64_t end_ns,
                          int64_t *out_ns, struct noa_error *err);

/*
 * The query frontend's time-range limits, in Loki's order:
 * max_query_lookback first (a start older than now - lookback moves up to
 * it; a range that ends before it is answered empty: *empty = 1, no
 * error), then max_query_length over the range at millisecond precision
 * (NOA_EINVAL "the query time range exceeds the limit (query length:
 * 744h0m0s, limit: 721h0m0s)"). 0 in a limit disables it.
 */
int noa_params_check_range(const struct noa_limits *lim, int64_t now_ns, int64_t *start_ns,
                           int64_t *end_ns, int *empty, struct noa_error *err);

/*
 * The querier's validateQueryTimeRangeLimits (labels, label values, series,
 * index/stats): a start older than now - max_query_lookback moves up to it;
 * then max_query_length (NOA_EINVAL "the query time range exceeds the limit
 * (query length: 744h0m0s, limit: 30d1h)", the limit printed as Prometheus
 * prints durations); then a range left ending before its start is
 * NOA_EINVAL "this data is no longer available, it is past now -
 * max_query_lookback (1w)".
 */
int noa_params_check_metadata_range(const struct noa_limits *lim, int64_t now_ns,
                                    int64_t *start_ns, int64_t *end_ns, struct noa_error *err);

/* Loki's max_entries_limit_per_query check: NOA_EINVAL "max entries limit
 * per query exceeded, limit > max_entries_limit_per_query (%d > %d)". */
int noa_params_check_limit(const struct noa_limits *lim, uint32_t limit, struct noa_error *err);

/* Formats Unix ns as RFC3339 with nanoseconds trimmed as Go's RFC3339Nano. */
void noa_params_format_rfc3339(int64_t ns, char *out, size_t cap);

#endif
