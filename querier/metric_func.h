/*
 * Functions of LogQL metric queries that are neither aggregations nor
 * operators: label_replace(v, "dst", "replacement", "src", "regex") with
 * Go's regexp.Expand template rules, and vector(s) (reference logql.md
 * §6.4). Owned by one query thread.
 */
#ifndef NOA_QUERIER_METRIC_FUNC_H
#define NOA_QUERIER_METRIC_FUNC_H

#include "common/buf.h"
#include "common/err.h"
#include "common/logql.h"
#include "common/regex.h"
#include "querier/metric_series.h"

/*
 * Appends Go's Regexp.Expand of template for a match of re on src with
 * the captures groups[0..ngroups) ({NULL,0} = did not take part): $1,
 * ${1}, $name, ${name}, $$; an unknown or unmatched reference expands to
 * nothing and a malformed `$` is copied as is.
 */
void noa_metric_func_expand(const struct noa_regex *re, struct noa_str template,
                            const struct noa_str *groups, unsigned ngroups, struct noa_buf *out);

/* label_replace over in (a LABEL_REPLACE node e) into out (initialised
 * here). Returns 0 or NOA_EINVAL (series limit, scalar operand). */
int noa_metric_func_label_replace(const struct noa_logql_expr *e, const struct noa_metric_set *in,
                                  struct noa_arena *arena, uint32_t max_series,
                                  struct noa_metric_set *out, struct noa_error *err);

/* vector(s): one series {} with value s at every step. */
void noa_metric_func_vector(double s, struct noa_arena *arena, uint32_t nsteps,
                            struct noa_metric_set *out);

#endif
