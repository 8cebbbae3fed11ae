/*
 * A Prometheus metrics registry and its text exposition (format 0.0.4, what
 * every /metrics endpoint in noa serves).
 *
 * A registry owns metric families (counter, gauge, histogram) with fixed
 * label names; a family owns one child per tuple of label values. Callers
 * register families and look children up once (at start-up or when a new
 * tenant first appears) and cache the child pointer: it stays valid until
 * the registry is freed. Updates through a child are lock-free atomics and
 * may come from any thread. Registration, child lookup and scraping take
 * short mutexes and may also be called from any thread.
 *
 * Example:
 *   struct noa_metric *m = noa_metrics_counter(reg,
 *       "noa_distributor_lines_received_total", "Lines received.",
 *       1, (const char *[]){"tenant"});
 *   struct noa_metric_child *c = noa_metric_child(m, (const char *[]){"fake"});
 *   noa_metric_add(c, 10);
 */
#ifndef NOA_COMMON_METRICS_H
#define NOA_COMMON_METRICS_H

#include "common/buf.h"

enum noa_metric_type {
    NOA_METRIC_COUNTER = 0,
    NOA_METRIC_GAUGE = 1,
    NOA_METRIC_HISTOGRAM = 2,
};

/* Opaque: the registry, a family, a child (one label-value tuple). */
struct noa_metrics;
struct noa_metric;
struct noa_metric_child;

/* Most label names a family may declare, and the most children one family
 * keeps: lookups past the child cap share one unexported overflow child, so
 * a flood of label values cannot exhaust memory (a warning is logged once). */
#define NOA_METRICS_MAX_LABELS 16
#define NOA_METRICS_MAX_CHILDREN 100000
/* Most buckets a histogram may declare (+Inf not counted). */
#define NOA_METRICS_MAX_BUCKETS 64

/* Prometheus's DefBuckets: .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10 (seconds). */
#define NOA_METRICS_DEF_BUCKETS_N 11
extern const double noa_metrics_def_buckets[NOA_METRICS_DEF_BUCKETS_N];

/* Fills out[0..count) with start, start*factor, ... (Prometheus's
 * ExponentialBuckets). Returns 0, or NOA_EINVAL when start <= 0,
 * factor <= 1, or count is outside 1..NOA_METRICS_MAX_BUCKETS. */
int noa_metrics_exp_buckets(double start, double factor, int count, double *out);

/* A new, empty registry (no process metrics; see noa_metrics_add_process).
 * Aborts on OOM. */
struct noa_metrics *noa_metrics_new(void);
/* Frees the registry, its families and children (every cached child pointer
 * becomes invalid). NULL is a no-op. */
void noa_metrics_free(struct noa_metrics *reg);

/* The process-wide registry, created on first use with the process metrics
 * already added. Never freed (it lives as long as the process). */
struct noa_metrics *noa_metrics_default(void);

/*
 * Registers a family, or returns the existing one when a family of that name,
 * type and label names exists already (so two modules may share a metric).
 * Returns NULL when the name or a label name is not a valid Prometheus name,
 * when more than NOA_METRICS_MAX_LABELS labels are given, or when the name
 * is taken by a family of another type or with other labels. Counter names
 * must end in "_total" (NULL otherwise), as promtool expects.
 * name, help and label_names are copied.
 */
struct noa_metric *noa_metrics_counter(struct noa_metrics *reg, const char *name,
                                       const char *help, int n_labels,
                                       const char *const *label_names);
struct noa_metric *noa_metrics_gauge(struct noa_metrics *reg, const char *name, const char *help,
                                     int n_labels, const char *const *label_names);
/* buckets: strictly increasing upper bounds (without +Inf), copied;
 * NULL/0 means noa_metrics_def_buckets. NULL on bad buckets as well. */
struct noa_metric *noa_metrics_histogram(struct noa_metrics *reg, const char *name,
                                         const char *help, int n_labels,
                                         const char *const *label_names, const double *buckets,
                                         int n_buckets);

/*
 * Label-less families whose value is computed at scrape time by fn(ctx)
 * (called with the registry lock held: fn must not touch the registry).
 * A NaN result omits the sample for that scrape. Returns 0, or NOA_EINVAL
 * for a bad or taken name (counter names must end in "_total").
 */
int noa_metrics_gauge_func(struct noa_metrics *reg, const char *name, const char *help,
                           double (*fn)(void *ctx), void *ctx);
int noa_metrics_counter_func(struct noa_metrics *reg, const char *name, const char *help,
                             double (*fn)(void *ctx), void *ctx);

/*
 * A family whose samples are written at scrape time by collect(ctx, out),
 * for series whose label names vary from one series to the next (the
 * shipper's `metrics` pipeline stage labels each series with the labels of
 * the entries it counts). The registry writes the HELP and TYPE lines in
 * name order as for any family; collect appends the sample lines
 * (`name{a="b"} 1`, histograms with their _bucket/_sum/_count lines) with
 * label values escaped as the text format wants. It runs with the registry
 * lock held, so it must not call into the registry. Unlike other
 * families, a collector's counter name need not end in "_total" (the names
 * come from users' Promtail configs). Returns 0, or NOA_EINVAL for a bad
 * name or one already taken.
 */
int noa_metrics_collector(struct noa_metrics *reg, const char *name, const char *help,
                          enum noa_metric_type type,
                          void (*collect)(void *ctx, struct noa_buf *out), void *ctx);
/* Unregisters the collector called name registered with ctx (a pipeline
 * reloaded or freed). When it returns, collect is not running and will not
 * be called again. Returns 0, or NOA_ENOTFOUND. */
int noa_metrics_collector_remove(struct noa_metrics *reg, const char *name, void *ctx);

/* Adds process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds,
 * process_start_time_seconds (read from /proc/self at scrape time) and
 * noa_memory_allocated_bytes (common/mem.h). Idempotent. */
void noa_metrics_add_process(struct noa_metrics *reg);

/*
 * The child for one tuple of label values (values[i] goes with the family's
 * i-th label name; n_labels values, copied). Creates it at zero on first
 * use. The pointer is stable for the registry's lifetime: look up once and
 * cache. Never NULL for a non-NULL family (see NOA_METRICS_MAX_CHILDREN).
 * A NULL family gives NULL, and every update below accepts NULL and does
 * nothing, so a failed registration degrades to no metrics, not a crash.
 */
struct noa_metric_child *noa_metric_child(struct noa_metric *m, const char *const *values);
/* The child of a label-less family (the same as noa_metric_child(m, NULL)). */
struct noa_metric_child *noa_metric_solo(struct noa_metric *m);

/* Counters and gauges: add v (counters ignore negative and NaN v). */
void noa_metric_add(struct noa_metric_child *c, double v);
static inline void noa_metric_inc(struct noa_metric_child *c)
{
    noa_metric_add(c, 1.0);
}
/* Gauges only (ignored on other types). */
void noa_metric_set(struct noa_metric_child *c, double v);
void noa_metric_sub(struct noa_metric_child *c, double v);
/* Histograms only: counts v into its bucket, the sum and the count. */
void noa_metric_observe(struct noa_metric_child *c, double v);
/* Current value (counter/gauge) or sample count (histogram); for tests and
 * for modules that read their own figures. 0 for NULL. */
double noa_metric_value(const struct noa_metric_child *c);
/* Histogram sum (0 for other types and NULL). */
double noa_metric_sum(const struct noa_metric_child *c);

/* Shortcuts for label-less families: registration plus the solo child. */
struct noa_metric_child *noa_metrics_counter_solo(struct noa_metrics *reg, const char *name,
                                                  const char *help);
struct noa_metric_child *noa_metrics_gauge_solo(struct noa_metrics *reg, const char *name,
                                                const char *help);
struct noa_metric_child *noa_metrics_histogram_solo(struct noa_metrics *reg, const char *name,
                                                    const char *help, const double *buckets,
                                                    int n_buckets);

/*
 * Appends the text exposition (Content-Type "text/plain; version=0.0.4;
 * charset=utf-8") of every family, sorted by name, children sorted by label
 * values. A family without children writes only its HELP and TYPE lines.
 */
void noa_metrics_write(struct noa_metrics *reg, struct noa_buf *out);

/* The Content-Type header value for noa_metrics_write's output. */
#define NOA_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Appends v as Prometheus writes floats: shortest round-trip form, "+Inf",
 * "-Inf", "NaN". Exposed for the tests and for other text formats. */
void noa_metrics_format_double(struct noa_buf *out, double v);

#endif
