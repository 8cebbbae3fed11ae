/*
 * Binary operators of LogQL metric queries, step by step: arithmetic
 * (+ - * / % ^, with Loki's x/0 = NaN), comparisons (filtering, or 0/1
 * with bool) and the set operators and/or/unless, between scalars and
 * vectors, with on/ignoring matching and group_left/group_right joins
 * (Loki's evaluator.go vectorBinop and syntax MergeBinOp; reference
 * logql.md §6.3). Owned by one query thread.
 */
#ifndef NOA_QUERIER_METRIC_BINOP_H
#define NOA_QUERIER_METRIC_BINOP_H

#include "common/err.h"
#include "common/logql.h"
#include "querier/metric_series.h"


/*
 * Evaluates the BINOP node e over its evaluated operands into out
 * (initialised here; the caller finis it). Two scalars give a scalar.
 * Returns 0, or NOA_EINVAL with Loki's matching errors or the series
 * limit in err.
 */
int noa_metric_binop_eval(const struct noa_logql_expr *e, const struct noa_metric_set *lhs,
                          const struct noa_metric_set *rhs, struct noa_arena *arena,
                          uint32_t max_series, struct noa_metric_set *out,
                          struct noa_error *err);

#endif
