/*
 * Evaluation of LogQL metric expressions that read no logs: literals,
 * vector(s) and binary operators over them (`vector(1)+vector(1)`, the
 * query Grafana's "Save & test" sends). Lets /query and /query_range answer
 * those exactly as Loki does before a full metric engine exists. Pure; any
 * thread.
 */
#ifndef NOA_QUERIER_CONSTEVAL_H
#define NOA_QUERIER_CONSTEVAL_H

#include "common/buf.h"
#include "common/logql.h"

struct noa_consteval_value {
    int is_vector; /* 1: an instant vector (one label-less sample or none); 0: a scalar */
    int empty;     /* vector only: no sample (a comparison filtered it out) */
    double v;
};

/*
 * Evaluates e when it reads no logs. Returns 0 with *out filled, or
 * NOA_EUNSUPP when e contains a log selector, an aggregation or
 * label_replace (a real metric engine is needed).
 */
int noa_consteval_eval(const struct noa_logql_expr *e, struct noa_consteval_value *out);

/* Appends a sample value as Prometheus/Loki print it: Go's
 * strconv.FormatFloat(v, 'f', -1, 64) ("2", "0.5"), "+Inf", "-Inf", "NaN",
 * inside quotes. */
void noa_consteval_put_value(struct noa_buf *b, double v);

/* Appends a timestamp as Prometheus' JSON does: Unix seconds with up to
 * three decimals ("4", "1700000000.123"); ns are truncated to ms. */
void noa_consteval_put_time(struct noa_buf *b, int64_t ns);

#endif
