/*
 * Constant LogQL metric expressions (querier/consteval.h): the binary
 * operator rules of Loki's engine (Prometheus semantics) for label-less
 * one-sample vectors and scalars. Pure; any thread.
 */
#include "querier/consteval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static double arith(enum noa_logql_bin_op op, double a, double b)
{
    switch (op) {
    case NOA_LOGQL_BIN_ADD: return a + b;
    case NOA_LOGQL_BIN_SUB: return a - b;
    case NOA_LOGQL_BIN_MUL: return a * b;
    case NOA_LOGQL_BIN_DIV: return a / b;
    case NOA_LOGQL_BIN_MOD: return fmod(a, b);
    case NOA_LOGQL_BIN_POW: return pow(a, b);
    default: return NAN;
    }
}

/* -1 when op is not a comparison, else whether a op b holds. */
static int compare(enum noa_logql_bin_op op, double a, double b)
{
    switch (op) {
    case NOA_LOGQL_BIN_EQ: return a == b;
    case NOA_LOGQL_BIN_NEQ: return a != b;
    case NOA_LOGQL_BIN_GT: return a > b;
    case NOA_LOGQL_BIN_GTE: return a >= b;
    case NOA_LOGQL_BIN_LT: return a < b;
    case NOA_LOGQL_BIN_LTE: return a <= b;
    default: return -1;
    }
}

static int binop(const struct noa_logql_expr *e, const struct noa_consteval_value *l,
                 const struct noa_consteval_value *r, struct noa_consteval_value *out)
{
    int vec = l->is_vector || r->is_vector;
    *out = (struct noa_consteval_value){.is_vector = vec};
    switch (e->bin_op) {
    case NOA_LOGQL_BIN_AND: /* set operators: both sides are vectors (the parser checks) */
        *out = r->empty ? (struct noa_consteval_value){1, 1, 0} : *l;
        return 0;
    case NOA_LOGQL_BIN_OR:
        *out = l->empty ? *r : *l;
        return 0;
    case NOA_LOGQL_BIN_UNLESS:
        *out = r->empty ? *l : (struct noa_consteval_value){1, 1, 0};
        return 0;
    default:
        break;
    }
    if ((l->is_vector && l->empty) || (r->is_vector && r->empty)) {
        out->empty = 1;
        return 0;
    }
    int c = compare(e->bin_op, l->v, r->v);
    if (c < 0) {
        out->v = arith(e->bin_op, l->v, r->v);
    } else if (e->return_bool || !vec) {
        out->v = c;
    } else {
        /* A filtering comparison keeps the vector side's sample. */
        out->empty = !c;
        out->v = l->is_vector ? l->v : r->v;
    }
    return 0;
}

int noa_consteval_eval(const struct noa_logql_expr *e, struct noa_consteval_value *out)
{
    struct noa_consteval_value l, r;
    int rc;
    switch (e->kind) {
    case NOA_LOGQL_LITERAL:
        *out = (struct noa_consteval_value){0, 0, e->value};
        return 0;
    case NOA_LOGQL_VECTOR:
        *out = (struct noa_consteval_value){1, 0, e->value};
        return 0;
    case NOA_LOGQL_BINOP:
        if ((rc = noa_consteval_eval(e->lhs, &l)) < 0 || (rc = noa_consteval_eval(e->rhs, &r)) < 0)
            return rc;
        return binop(e, &l, &r, out);
    default:
        return NOA_EUNSUPP;
    }
}

void noa_consteval_put_value(struct noa_buf *b, double v)
{
    char tmp[400];
    if (isnan(v)) {
        noa_buf_append_str(b, NOA_STR("\"NaN\""));
        return;
    }
    if (isinf(v)) {
        noa_buf_append_str(b, v > 0 ? NOA_STR("\"+Inf\"") : NOA_STR("\"-Inf\""));
        return;
    }
    /* The fewest decimals that read back as the same double, as Go's 'f', -1. */
    for (int d = 0; d <= 340; d++) {
        snprintf(tmp, sizeof(tmp), "%.*f", d, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    noa_buf_printf(b, "\"%s\"", tmp);
}

void noa_consteval_put_time(struct noa_buf *b, int64_t ns)
{
    int64_t ms = ns / 1000000;
    if (ns < 0 && ns % 1000000)
        ms--;
    int64_t s = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        s--;
    }
    if (!frac) {
        noa_buf_printf(b, "%lld", (long long)s);
        return;
    }
    char f[8];
    snprintf(f, sizeof(f), "%03lld", (long long)frac);
    int n = 3;
    while (f[n - 1] == '0')
        n--;
    noa_buf_printf(b, "%lld.%.*s", (long long)s, n, f);
}
