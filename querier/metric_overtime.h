/*
 * The `_over_time` functions of LogQL range aggregations over unwrapped
 * samples: what one window of one series evaluates to, with Loki's
 * floating-point rules (pkg/logql/range_vector.go, Prometheus'
 * functions.go for quantile and the extrapolated counter rate). Pure; any
 * thread.
 */
#ifndef NOA_QUERIER_METRIC_OVERTIME_H
#define NOA_QUERIER_METRIC_OVERTIME_H

#include "common/logql.h"

#include <stddef.h>
#include <stdint.h>

struct noa_metric_sample {
    int64_t ts_ns;
    double v;
};

/*
 * The value of op over the n >= 1 samples s (sorted by time) of the window
 * (end_ns - range_ns, end_ns]. param is quantile_over_time's φ. scratch
 * must hold n doubles (quantile sorts a copy there). COUNT, RATE (sum /
 * range seconds), BYTES and BYTES_RATE read the values as per-entry
 * amounts.
 */
double noa_metric_overtime_apply(enum noa_logql_range_op op, const struct noa_metric_sample *s,
                                 size_t n, int64_t range_ns, int64_t end_ns, double param,
                                 double *scratch);

/* Prometheus' quantile of n values (sorts v in place). */
double noa_metric_overtime_quantile(double q, double *v, size_t n);

/* Stable sort of s by timestamp; tmp must hold n samples. */
void noa_metric_overtime_sort(struct noa_metric_sample *s, size_t n, struct noa_metric_sample *tmp);

#endif
