/*
 * Loki's query parameters: timestamps, durations, time-range defaults,
 * limit and direction, parsed exactly as pkg/loghttp does, with its error
 * texts. Pure functions; any thread.
 */
#ifndef NOA_QUERIER_PARAMS_H
#define NOA_QUERIER_PARAMS_H

#include "common/buf.h"
#include "common/err.h"

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

/* Formats Unix ns as RFC3339 with nanoseconds trimmed as Go's RFC3339Nano. */
void noa_params_format_rfc3339(int64_t ns, char *out, size_t cap);

#endif
