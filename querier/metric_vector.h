/*
 * Vector aggregations of LogQL metric queries, step by step over a series
 * set: sum avg min max count stddev stdvar (one series per group), topk
 * bottomk (selected samples keep their labels), sort sort_desc (values
 * unchanged, the instant result ordered by value). Loki's rules
 * (pkg/logql/evaluator.go VectorAggEvaluator; reference logql.md §6.2).
 * Owned by one query thread.
 */
#ifndef NOA_QUERIER_METRIC_VECTOR_H
#define NOA_QUERIER_METRIC_VECTOR_H

#include "common/err.h"
#include "common/logql.h"
#include "querier/metric_series.h"

/*
 * Aggregates `in` (a vector set) by e (a VECTOR_AGG node) into out,
 * initialised here with arena, in's steps and max_series (the caller finis
 * it). approx_topk is evaluated exactly, as topk. Returns 0, or NOA_EINVAL
 * with err filled (series limit, a scalar operand).
 */
int noa_metric_vector_eval(const struct noa_logql_expr *e, const struct noa_metric_set *in,
                           struct noa_arena *arena, uint32_t max_series,
                           struct noa_metric_set *out, struct noa_error *err);

#endif
