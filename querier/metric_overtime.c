/*
 * Window functions of LogQL range aggregations (querier/metric_overtime.h).
 * Each follows the float behaviour of Loki's implementation (see
 * /work/shared/reference/logql.md §6.1): plain summation, incremental mean
 * with Inf handling, NaN-replacing min/max, Welford population variance,
 * Prometheus quantile interpolation and the extrapolated counter rate.
 * Pure; any thread.
 */
#include "querier/metric_overtime.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double sum_of(const struct noa_metric_sample *s, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += s[i].v;
    return sum;
}

/* Incremental mean: an infinite mean absorbs finite values and infinities
 * of its sign (subtracting it would give NaN). */
static double avg_of(const struct noa_metric_sample *s, size_t n)
{
    double mean = 0, count = 0;
    for (size_t i = 0; i < n; i++) {
        double v = s[i].v;
        count++;
        if (isinf(mean)) {
            if (isinf(v) && (mean > 0) == (v > 0))
                continue;
            if (!isinf(v) && !isnan(v))
                continue;
        }
        mean += v / count - mean / count;
    }
    return mean;
}

static double var_of(const struct noa_metric_sample *s, size_t n)
{
    double aux = 0, count = 0, mean = 0;
    for (size_t i = 0; i < n; i++) {
        count++;
        double delta = s[i].v - mean;
        mean += delta / count;
        aux += delta * (s[i].v - mean);
    }
    return aux / count;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    /* Go's sort.Float64s: NaN sorts first. */
    if (isnan(x))
        return isnan(y) ? 0 : -1;
    if (isnan(y))
        return 1;
    return x < y ? -1 : x > y;
}

double noa_metric_overtime_quantile(double q, double *v, size_t n)
{
    if (n == 0 || isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    qsort(v, n, sizeof(double), dbl_cmp);
    double rank = q * (double)(n - 1);
    double lower = fmax(0, floor(rank));
    double upper = fmin((double)(n - 1), lower + 1);
    double weight = rank - floor(rank);
    return v[(size_t)lower] * (1 - weight) + v[(size_t)upper] * weight;
}

/* Prometheus' extrapolatedRate for a counter, as rate_counter uses it.
 * Units cancel except for the range bounds, so nanoseconds throughout. */
static double counter_rate(const struct noa_metric_sample *s, size_t n, int64_t range_ns,
                           int64_t end_ns)
{
    if (n < 2)
        return 0;
    double start = (double)(end_ns - range_ns), end = (double)end_ns;
    double result = s[n - 1].v - s[0].v;
    double last = 0;
    for (size_t i = 0; i < n; i++) {
        /* A counter reset: the counter went on from 0, so add back what it had. */
        if (s[i].v < last)
            result += last;
        last = s[i].v;
    }
    double to_start = ((double)s[0].ts_ns - start) / 1e9;
    double to_end = (end - (double)s[n - 1].ts_ns) / 1e9;
    double sampled = (double)(s[n - 1].ts_ns - s[0].ts_ns) / 1e9;
    double avg_gap = sampled / (double)(n - 1);
    if (result > 0 && s[0].v >= 0) {
        /* Never extrapolate below zero. */
        double to_zero = sampled * (s[0].v / result);
        if (to_zero < to_start)
            to_start = to_zero;
    }
    double threshold = avg_gap * 1.1, interval = sampled;
    interval += to_start < threshold ? to_start : avg_gap / 2;
    interval += to_end < threshold ? to_end : avg_gap / 2;
    result = result * (interval / sampled);
    return result / ((double)range_ns / 1e9);
}

double noa_metric_overtime_apply(enum noa_logql_range_op op, const struct noa_metric_sample *s,
                                 size_t n, int64_t range_ns, int64_t end_ns, double param,
                                 double *scratch)
{
    double secs = (double)range_ns / 1e9;
    switch (op) {
    case NOA_LOGQL_RANGE_COUNT:
        return (double)n;
    case NOA_LOGQL_RANGE_RATE:
    case NOA_LOGQL_RANGE_BYTES_RATE:
        return sum_of(s, n) / secs;
    case NOA_LOGQL_RANGE_BYTES:
    case NOA_LOGQL_RANGE_SUM:
        return sum_of(s, n);
    case NOA_LOGQL_RANGE_AVG:
        return avg_of(s, n);
    case NOA_LOGQL_RANGE_MIN:
    case NOA_LOGQL_RANGE_MAX: {
        double m = s[0].v;
        for (size_t i = 1; i < n; i++) {
            int better = op == NOA_LOGQL_RANGE_MIN ? s[i].v < m : s[i].v > m;
            if (better || isnan(m))
                m = s[i].v;
        }
        return m;
    }
    case NOA_LOGQL_RANGE_STDVAR:
        return var_of(s, n);
    case NOA_LOGQL_RANGE_STDDEV:
        return sqrt(var_of(s, n));
    case NOA_LOGQL_RANGE_QUANTILE:
        for (size_t i = 0; i < n; i++)
            scratch[i] = s[i].v;
        return noa_metric_overtime_quantile(param, scratch, n);
    case NOA_LOGQL_RANGE_FIRST:
        return s[0].v;
    case NOA_LOGQL_RANGE_LAST:
        return s[n - 1].v;
    case NOA_LOGQL_RANGE_RATE_COUNTER:
        return counter_rate(s, n, range_ns, end_ns);
    case NOA_LOGQL_RANGE_ABSENT:
        return 1;
    }
    return NAN;
}

void noa_metric_overtime_sort(struct noa_metric_sample *s, size_t n, struct noa_metric_sample *tmp)
{
    /* Bottom-up merge sort: stable, so equal timestamps keep arrival order. */
    struct noa_metric_sample *src = s, *dst = tmp;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                dst[k++] = src[j].ts_ns < src[i].ts_ns ? src[j++] : src[i++];
            while (i < mid)
                dst[k++] = src[i++];
            while (j < hi)
                dst[k++] = src[j++];
        }
        struct noa_metric_sample *t = src;
        src = dst;
        dst = t;
    }
    if (src != s)
        memcpy(s, src, n * sizeof(*s));
}
