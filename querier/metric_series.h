/*
 * The value model of the LogQL metric engine: a set of series over the
 * query's step grid (one double and one presence flag per step and
 * series), with a hash index by label set, plus the label helpers every
 * metric stage needs (by/without grouping, signatures).
 *
 * A set does not own label bytes: they live in the query's arena, which
 * outlives every set of one evaluation. Owned by one query thread.
 */
#ifndef NOA_QUERIER_METRIC_SERIES_H
#define NOA_QUERIER_METRIC_SERIES_H

#include "common/buf.h"
#include "common/err.h"
#include "common/labels.h"
#include "common/logql.h"

#include <stdint.h>

/* The evaluation times: t_i = start_ns + i * step_ns for i < n. An instant
 * query has n == 1 and step_ns == 0. */
struct noa_metric_grid {
    int64_t start_ns;
    int64_t step_ns;
    uint32_t n;
};

struct noa_metric_series {
    struct noa_labels labels; /* read-only: sorted, strings in the arena */
    uint64_t hash;            /* read-only: noa_labels_hash(labels) */
    double *v;                /* public: value at step i (arena, [n]) */
    uint8_t *has;             /* public: 1 when there is a point at step i */
    uint32_t next;            /* private: hash chain (index + 1, 0 ends) */
};

struct noa_metric_set {
    int is_scalar;   /* read-only: 1 = a scalar (values in scalar_v, no series) */
    double *scalar_v; /* scalar: value at step i (arena) */
    struct noa_metric_series *s; /* read-only: the series, in insertion order */
    uint32_t n, cap;
    uint32_t nsteps;     /* read-only */
    uint32_t max_series; /* 0 = unlimited; adding one more fails */
    uint32_t shown_limit; /* the limit the error names (0: max_series) */
    int sort_dir;        /* 1 sort(), -1 sort_desc(): instant result order by value */
    uint32_t *bucket;    /* private: hash index, nbucket a power of two */
    uint32_t nbucket;
    struct noa_arena *arena; /* borrowed: the evaluation's arena */
};

/* Loki's text when a query holds more series than max_query_series. */
#define NOA_METRIC_SERIES_LIMIT_FMT                                                          \
    "maximum number of series (%u) reached for a single query; consider reducing query "    \
    "cardinality by adding more specific stream selectors, reducing the time range, or "    \
    "aggregating results with functions like sum(), count() or topk()"

void noa_metric_set_init(struct noa_metric_set *set, struct noa_arena *arena, uint32_t nsteps,
                         uint32_t max_series);
/* Makes set a scalar set: n values, all 0 until written. */
void noa_metric_set_init_scalar(struct noa_metric_set *set, struct noa_arena *arena,
                                uint32_t nsteps);
void noa_metric_set_fini(struct noa_metric_set *set);

/*
 * Finds the series with the sorted label set ls (hash = noa_labels_hash)
 * or adds it (labels copied into the arena, no points). *idx gets its
 * index. Returns 0, or NOA_EINVAL with Loki's series-limit text in err
 * when adding would pass max_series.
 */
int noa_metric_set_get(struct noa_metric_set *set, const struct noa_labels *ls, uint64_t hash,
                       uint32_t *idx, struct noa_error *err);

/* Sorts the series by label set (labels.Compare order) and rebuilds the
 * index. */
void noa_metric_set_sort(struct noa_metric_set *set);

/* Number of points over all series (a scalar counts one per step). */
uint64_t noa_metric_set_points(const struct noa_metric_set *set);

/*
 * Reduces the sorted label set `in` by a grouping: `by` keeps the listed
 * names that are present, `without` drops them; drop1 (may be NULL) is one
 * more name dropped in every case but `by`. out->v must have room for
 * in->n labels; the result stays sorted and borrows in's strings.
 */
void noa_metric_group(const struct noa_labels *in, const struct noa_logql_grouping *g,
                      const char *drop1, struct noa_labels *out);

/* 1 when name is in the list. */
int noa_metric_names_has(const struct noa_logql_labels *l, struct noa_str name);

#endif
