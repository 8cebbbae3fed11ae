/*
 * LogQL parser, metric half and entry point: range and vector
 * aggregations, unwrap, label_replace, vector(), literals and binary
 * operators with Loki's precedence, its placement rules (range, unwrap,
 * grouping, parameters) and literal folding. Depth is bounded
 * (NOA_LOGQL_MAX_DEPTH) so hostile nesting cannot overflow the stack.
 * Pure; runs on the caller's thread.
 */
#include "common/logql_parser.h"
#include "common/mem.h"
#include "common/regex.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const range_names[] = {"count_over_time",  "rate",
                                          "rate_counter",     "bytes_over_time",
                                          "bytes_rate",       "avg_over_time",
                                          "sum_over_time",    "min_over_time",
                                          "max_over_time",    "stdvar_over_time",
                                          "stddev_over_time", "quantile_over_time",
                                          "first_over_time",  "last_over_time",
                                          "absent_over_time", NULL};
static const char *const vector_names[] = {"sum",       "avg",         "count",   "max",  "min",
                                           "stddev",    "stdvar",      "bottomk", "topk", "sort",
                                           "sort_desc", "approx_topk", NULL};
static const char *const bin_names[] = {"or", "and", "unless", "==", "!=", ">", ">=", "<",
                                        "<=", "+",   "-",      "*",  "/",  "%", "^",  NULL};

const char *noa_logql_range_op_name(enum noa_logql_range_op op)
{
    return range_names[op];
}

const char *noa_logql_vector_op_name(enum noa_logql_vector_op op)
{
    return vector_names[op];
}

const char *noa_logql_bin_op_name(enum noa_logql_bin_op op)
{
    return bin_names[op];
}

/* ---- metric expressions
 * ------------------------------------------------------------ */

static int parse_expr(struct noa_logql_parser *p, struct noa_logql_expr **out, int min_prec);

/* '(' [IDENT (',' IDENT)*] ')' */
static int parse_label_list(struct noa_logql_parser *p, struct noa_logql_labels *l)
{
    int rc = noa_logql_parser_expect_punct(p, "(", "(");
    if (rc < 0)
        return rc;
    if (is_punct(cur(p), ")")) {
        next(p);
        return 0;
    }
    for (;;) {
        struct noa_logql_tok *t = cur(p);
        if (!t || t->type != NOA_LOGQL_T_IDENT)
            return noa_logql_parser_syntax(p, "IDENTIFIER or )");
        noa_logql_parser_labels_push(l, noa_logql_parser_tok_text(p, t));
        next(p);
        if (is_punct(cur(p), ")")) {
            next(p);
            return 0;
        }
        if (!is_punct(cur(p), ","))
            return noa_logql_parser_syntax(p, ", or )");
        next(p);
    }
}

static int parse_grouping(struct noa_logql_parser *p, struct noa_logql_grouping *g)
{
    g->present = 1;
    g->without = is_kw(cur(p), "without");
    next(p);
    return parse_label_list(p, &g->labels);
}

static int is_grouping_kw(const struct noa_logql_tok *t)
{
    return is_kw(t, "by") || is_kw(t, "without");
}

/* '|' 'unwrap' (IDENT | conv '(' IDENT ')') ('|' labelFilter)* */
static int parse_unwrap(struct noa_logql_parser *p, struct noa_logql_expr *ra)
{
    static const char *const convs[] = {"", "bytes", "duration", "duration_seconds", NULL};
    int rc;
    next(p);
    next(p);
    struct noa_logql_tok *t = cur(p);
    ra->has_unwrap = 1;
    if (t && t->type == NOA_LOGQL_T_FUNCTION && noa_logql_parser_find_name(convs, t->op) > 0) {
        ra->unwrap_conv = (enum noa_logql_unwrap_conv)noa_logql_parser_find_name(convs, t->op);
        next(p);
        if ((rc = noa_logql_parser_expect_punct(p, "(", "(")) < 0)
            return rc;
        t = cur(p);
        if (!t || t->type != NOA_LOGQL_T_IDENT)
            return noa_logql_parser_syntax(p, "IDENTIFIER");
        ra->unwrap_label = noa_logql_parser_tok_text(p, t);
        next(p);
        if ((rc = noa_logql_parser_expect_punct(p, ")", ")")) < 0)
            return rc;
    } else if (t && t->type == NOA_LOGQL_T_IDENT) {
        ra->unwrap_label = noa_logql_parser_tok_text(p, t);
        next(p);
    } else {
        return noa_logql_parser_syntax(
            p, "IDENTIFIER or BYTES_CONV or DURATION_CONV or DURATION_SECONDS_CONV");
    }
    while (is_punct(cur(p), "|")) {
        struct noa_logql_label_filter *f = NULL;
        next(p);
        if ((rc = noa_logql_parse_label_filter(p, &f)) < 0)
            return rc;
        ra->post_filters =
            noa_xrealloc(ra->post_filters, (ra->n_post_filters + 1) * sizeof(*ra->post_filters));
        ra->post_filters[ra->n_post_filters++] = f;
    }
    return cur(p) ? 0 : NOA_EINVAL;
}

static int at_unwrap(struct noa_logql_parser *p)
{
    return is_punct(cur(p), "|") && is_kw(ahead(p), "unwrap");
}

/*
 * The log range inside a range aggregation, in every shape Loki accepts:
 * S R, S P R, S U R, S P U R, S R P, S R P U, S R U (O after R), each
 * optionally parenthesised.
 */
static int parse_range_body(struct noa_logql_parser *p, struct noa_logql_expr *ra, int *have_range)
{
    struct noa_logql_tok *t = cur(p);
    int rc;
    if (is_punct(t, "(")) {
        if ((rc = noa_logql_parser_enter(p)) < 0)
            return rc;
        next(p);
        if ((rc = parse_range_body(p, ra, have_range)) < 0)
            return rc;
        if ((rc = noa_logql_parser_expect_punct(p, ")", ")")) < 0)
            return rc;
        p->depth--;
    } else if (is_punct(t, "{")) {
        if ((rc = noa_logql_parse_log(p, &ra->log)) < 0)
            return rc;
        if (at_unwrap(p) && (rc = parse_unwrap(p, ra)) < 0)
            return rc;
    } else {
        return noa_logql_parser_syntax(p, ra->log ? NULL : "{ or (");
    }
    t = cur(p);
    if (!*have_range && t && t->type == NOA_LOGQL_T_RANGE) {
        *have_range = 1;
        ra->range_ns = t->duration_ns;
        next(p);
        if (is_kw(cur(p), "offset")) {
            next(p);
            t = cur(p);
            if (!t || t->type != NOA_LOGQL_T_DURATION)
                return noa_logql_parser_syntax(p, "DURATION");
            ra->offset_ns = t->duration_ns;
            next(p);
        }
        if (ra->log && ra->log->n_stages == 0 && !ra->has_unwrap &&
            (rc = noa_logql_parse_stages(p, ra->log)) < 0)
            return rc;
        if (!ra->has_unwrap && at_unwrap(p) && (rc = parse_unwrap(p, ra)) < 0)
            return rc;
    }
    return cur(p) ? 0 : NOA_EINVAL;
}

static int range_check(struct noa_logql_parser *p, struct noa_logql_expr *e, const char *param)
{
    enum noa_logql_range_op op = e->range_op;
    const char *name = range_names[op];
    if (param && op != NOA_LOGQL_RANGE_QUANTILE)
        return noa_logql_parser_invalid(p, "parameter %s not supported for operation %s", param,
                                        name);
    if (!param && op == NOA_LOGQL_RANGE_QUANTILE)
        return noa_logql_parser_invalid(p, "parameter required for operation %s", name);
    if (e->grouping.present) {
        switch (op) {
        case NOA_LOGQL_RANGE_AVG:
        case NOA_LOGQL_RANGE_STDDEV:
        case NOA_LOGQL_RANGE_STDVAR:
        case NOA_LOGQL_RANGE_QUANTILE:
        case NOA_LOGQL_RANGE_MAX:
        case NOA_LOGQL_RANGE_MIN:
        case NOA_LOGQL_RANGE_FIRST:
        case NOA_LOGQL_RANGE_LAST:
            break;
        default:
            return noa_logql_parser_invalid(p, "grouping not allowed for %s aggregation", name);
        }
    }
    if (e->has_unwrap) {
        if (op == NOA_LOGQL_RANGE_COUNT || op == NOA_LOGQL_RANGE_BYTES ||
            op == NOA_LOGQL_RANGE_BYTES_RATE)
            return noa_logql_parser_invalid(p, "invalid aggregation %s with unwrap", name);
        return 0;
    }
    if (op == NOA_LOGQL_RANGE_COUNT || op == NOA_LOGQL_RANGE_RATE || op == NOA_LOGQL_RANGE_BYTES ||
        op == NOA_LOGQL_RANGE_BYTES_RATE || op == NOA_LOGQL_RANGE_ABSENT)
        return 0;
    return noa_logql_parser_invalid(p, "invalid aggregation %s without unwrap", name);
}

/* NUMBER ',' at the start of an argument list: returns its text or NULL. */
static char *take_param(struct noa_logql_parser *p)
{
    struct noa_logql_tok *t = cur(p), *a = ahead(p);
    if (!t || !a || t->type != NOA_LOGQL_T_NUMBER || !is_punct(a, ","))
        return NULL;
    char *s = noa_logql_parser_tok_text(p, t);
    next(p);
    next(p);
    return s;
}

static int parse_range_agg(struct noa_logql_parser *p, struct noa_logql_expr **out)
{
    struct noa_logql_expr *e = noa_logql_parser_new_expr(NOA_LOGQL_RANGE_AGG);
    char *param = NULL;
    int have_range = 0, rc;
    e->range_op = (enum noa_logql_range_op)noa_logql_parser_find_name(range_names, cur(p)->op);
    next(p);
    if ((rc = noa_logql_parser_expect_punct(p, "(", "(")) < 0)
        goto fail;
    param = take_param(p);
    if (!cur(p)) {
        rc = NOA_EINVAL;
        goto fail;
    }
    if ((rc = parse_range_body(p, e, &have_range)) < 0)
        goto fail;
    if (!have_range) {
        rc = noa_logql_parser_syntax(p, "RANGE");
        goto fail;
    }
    if ((rc = noa_logql_parser_expect_punct(p, ")", ")")) < 0)
        goto fail;
    if (is_grouping_kw(cur(p)) && (rc = parse_grouping(p, &e->grouping)) < 0)
        goto fail;
    if (param) {
        e->has_param = 1;
        e->param = strtod(param, NULL);
    }
    if ((rc = range_check(p, e, param)) < 0)
        goto fail;
    noa_free(param);
    *out = e;
    return 0;
fail:
    noa_free(param);
    noa_logql_free(e);
    return rc;
}

/* Go strconv.Atoi over the whole text. */
static int go_atoi(const char *s, long long *v)
{
    const char *d = s + (*s == '+' || *s == '-');
    if (!*d)
        return -1;
    for (const char *c = d; *c; c++)
        if (!isdigit((unsigned char)*c))
            return -1;
    if (strlen(d) > 18)
        return -1;
    *v = strtoll(s, NULL, 10);
    return 0;
}

static int vector_check(struct noa_logql_parser *p, struct noa_logql_expr *e, const char *param)
{
    enum noa_logql_vector_op op = e->vector_op;
    const char *name = vector_names[op];
    if (op == NOA_LOGQL_VEC_TOPK || op == NOA_LOGQL_VEC_BOTTOMK ||
        op == NOA_LOGQL_VEC_APPROX_TOPK) {
        long long k;
        if (!param)
            return noa_logql_parser_invalid(p, "parameter required for operation %s", name);
        if (go_atoi(param, &k) < 0)
            return noa_logql_parser_invalid(p, "invalid parameter %s(%s,", name, param);
        if (k <= 0)
            return noa_logql_parser_invalid(p, "invalid parameter (must be greater than 0) %s(%s",
                                            name, param);
        e->has_param = 1;
        e->param = (double)k;
    } else if (param) {
        return noa_logql_parser_invalid(p, "unsupported parameter for operation %s(%s,", name,
                                        param);
    }
    if (op == NOA_LOGQL_VEC_APPROX_TOPK && e->grouping.present)
        return noa_logql_parser_invalid(p, "grouping not allowed for approx_topk aggregation");
    if ((op == NOA_LOGQL_VEC_SORT || op == NOA_LOGQL_VEC_SORT_DESC) && e->grouping.labels.n > 0)
        return noa_logql_parser_invalid(p, "sort and sort_desc doesn't allow grouping by");
    return 0;
}

/* A metric expression argument: a log query there is a syntax error at
 * the token after it, as in Loki's grammar. */
static int parse_metric_arg(struct noa_logql_parser *p, struct noa_logql_expr **out)
{
    int rc = parse_expr(p, out, 1);
    if (rc < 0)
        return rc;
    if ((*out)->kind == NOA_LOGQL_LOG) {
        noa_logql_free(*out);
        *out = NULL;
        return noa_logql_parser_syntax(p, NULL);
    }
    return 0;
}

static int parse_vector_agg(struct noa_logql_parser *p, struct noa_logql_expr **out)
{
    struct noa_logql_expr *e = noa_logql_parser_new_expr(NOA_LOGQL_VECTOR_AGG);
    char *param = NULL;
    int rc;
    e->vector_op = (enum noa_logql_vector_op)noa_logql_parser_find_name(vector_names, cur(p)->op);
    next(p);
    if (is_grouping_kw(cur(p)) && (rc = parse_grouping(p, &e->grouping)) < 0)
        goto fail;
    if ((rc = noa_logql_parser_expect_punct(p, "(", "(")) < 0)
        goto fail;
    param = take_param(p);
    if ((rc = parse_metric_arg(p, &e->inner)) < 0)
        goto fail;
    if ((rc = noa_logql_parser_expect_punct(p, ")", ")")) < 0)
        goto fail;
    if (!e->grouping.present && is_grouping_kw(cur(p)) &&
        (rc = parse_grouping(p, &e->grouping)) < 0)
        goto fail;
    if ((rc = vector_check(p, e, param)) < 0)
        goto fail;
    noa_free(param);
    *out = e;
    return 0;
fail:
    noa_free(param);
    noa_logql_free(e);
    return rc;
}

static int parse_vector_fn(struct noa_logql_parser *p, struct noa_logql_expr **out)
{
    int rc;
    next(p);
    if ((rc = noa_logql_parser_expect_punct(p, "(", "(")) < 0)
        return rc;
    struct noa_logql_tok *t = cur(p);
    if (!t || t->type != NOA_LOGQL_T_NUMBER)
        return noa_logql_parser_syntax(p, "NUMBER");
    double v = t->num;
    next(p);
    if ((rc = noa_logql_parser_expect_punct(p, ")", ")")) < 0)
        return rc;
    *out = noa_logql_parser_new_expr(NOA_LOGQL_VECTOR);
    (*out)->value = v;
    return 0;
}

static int parse_label_replace(struct noa_logql_parser *p, struct noa_logql_expr **out)
{
    struct noa_logql_expr *e = noa_logql_parser_new_expr(NOA_LOGQL_LABEL_REPLACE);
    struct noa_logql_str *args[4] = {&e->dst, &e->replacement, &e->src, &e->regex};
    int rc;
    next(p);
    if ((rc = noa_logql_parser_expect_punct(p, "(", "(")) < 0)
        goto fail;
    if ((rc = parse_metric_arg(p, &e->inner)) < 0)
        goto fail;
    for (int i = 0; i < 4; i++) {
        if ((rc = noa_logql_parser_expect_punct(p, ",", ",")) < 0)
            goto fail;
        struct noa_logql_tok *t = cur(p);
        if (!t || t->type != NOA_LOGQL_T_STRING) {
            rc = noa_logql_parser_syntax(p, "STRING");
            goto fail;
        }
        *args[i] = noa_logql_parser_take_str(t);
        next(p);
    }
    if ((rc = noa_logql_parser_expect_punct(p, ")", ")")) < 0)
        goto fail;
    struct noa_error rerr = {0};
    if (noa_regex_compile(e->regex.p, e->regex.len, NOA_REGEX_ANCHORED, &e->re, &rerr) < 0) {
        rc = noa_logql_parser_invalid(p, "invalid regex in label_replace: %s", rerr.msg);
        goto fail;
    }
    *out = e;
    return 0;
fail:
    noa_logql_free(e);
    return rc;
}

static int parse_primary(struct noa_logql_parser *p, struct noa_logql_expr **out)
{
    struct noa_logql_tok *t = cur(p);
    int rc;
    if (!t)
        return NOA_EINVAL;
    if (is_punct(t, "(")) {
        next(p);
        if ((rc = parse_expr(p, out, 1)) < 0)
            return rc;
        if ((rc = noa_logql_parser_expect_punct(p, ")", ")")) < 0) {
            noa_logql_free(*out);
            *out = NULL;
        }
        return rc;
    }
    if (is_punct(t, "{"))
        return noa_logql_parse_log(p, out);
    if (t->type == NOA_LOGQL_T_NUMBER || is_punct(t, "-") || is_punct(t, "+")) {
        double sign = 1;
        if (t->type == NOA_LOGQL_T_PUNCT) {
            sign = t->op[0] == '-' ? -1 : 1;
            next(p);
            t = cur(p);
            if (!t || t->type != NOA_LOGQL_T_NUMBER)
                return noa_logql_parser_syntax(p, "NUMBER");
        }
        *out = noa_logql_parser_new_expr(NOA_LOGQL_LITERAL);
        (*out)->value = sign * t->num;
        next(p);
        return 0;
    }
    if (t->type == NOA_LOGQL_T_FUNCTION) {
        if (noa_logql_parser_find_name(range_names, t->op) >= 0)
            return parse_range_agg(p, out);
        if (noa_logql_parser_find_name(vector_names, t->op) >= 0)
            return parse_vector_agg(p, out);
        if (!strcmp(t->op, "vector"))
            return parse_vector_fn(p, out);
        if (!strcmp(t->op, "label_replace"))
            return parse_label_replace(p, out);
    }
    return noa_logql_parser_syntax(p, NULL);
}

static int bin_prec(const struct noa_logql_tok *t, enum noa_logql_bin_op *op)
{
    static const int prec[] = {1, 2, 2, 3, 3, 3, 3, 3, 3, 4, 4, 5, 5, 5, 6};
    if (!t || (t->type != NOA_LOGQL_T_PUNCT && t->type != NOA_LOGQL_T_KEYWORD))
        return 0;
    int i = noa_logql_parser_find_name(bin_names, t->op);
    if (i < 0)
        return 0;
    *op = (enum noa_logql_bin_op)i;
    return prec[i];
}

static int parse_bin_modifiers(struct noa_logql_parser *p, struct noa_logql_expr *b)
{
    int rc;
    if (is_kw(cur(p), "bool")) {
        b->return_bool = 1;
        next(p);
    }
    if (!is_kw(cur(p), "on") && !is_kw(cur(p), "ignoring"))
        return cur(p) ? 0 : NOA_EINVAL;
    b->has_matching = 1;
    b->on = is_kw(cur(p), "on");
    next(p);
    if ((rc = parse_label_list(p, &b->matching)) < 0)
        return rc;
    if (!is_kw(cur(p), "group_left") && !is_kw(cur(p), "group_right"))
        return cur(p) ? 0 : NOA_EINVAL;
    b->card = is_kw(cur(p), "group_left") ? NOA_LOGQL_CARD_MANY_TO_ONE : NOA_LOGQL_CARD_ONE_TO_MANY;
    next(p);
    struct noa_logql_tok *a = ahead(p);
    if (!a)
        return NOA_EINVAL;
    if (is_punct(cur(p), "(") && (a->type == NOA_LOGQL_T_IDENT || is_punct(a, ")"))) {
        b->has_include = 1;
        return parse_label_list(p, &b->include);
    }
    return 0;
}

double noa_logql_bin_apply(enum noa_logql_bin_op op, double l, double r)
{
    switch (op) {
    case NOA_LOGQL_BIN_ADD:
        return l + r;
    case NOA_LOGQL_BIN_SUB:
        return l - r;
    case NOA_LOGQL_BIN_MUL:
        return l * r;
    case NOA_LOGQL_BIN_DIV:
        return r == 0 ? NAN : l / r;
    case NOA_LOGQL_BIN_MOD:
        return r == 0 ? NAN : fmod(l, r);
    case NOA_LOGQL_BIN_POW:
        return pow(l, r);
    case NOA_LOGQL_BIN_EQ:
        return l == r;
    case NOA_LOGQL_BIN_NEQ:
        return l != r;
    case NOA_LOGQL_BIN_GT:
        return l > r;
    case NOA_LOGQL_BIN_GTE:
        return l >= r;
    case NOA_LOGQL_BIN_LT:
        return l < r;
    case NOA_LOGQL_BIN_LTE:
        return l <= r;
    default:
        return NAN;
    }
}

/* Checks and folds b (whose lhs/rhs are set); may replace *bp. */
static int finish_binop(struct noa_logql_parser *p, struct noa_logql_expr **bp)
{
    struct noa_logql_expr *b = *bp;
    const char *name = bin_names[b->bin_op];
    int set_op = b->bin_op <= NOA_LOGQL_BIN_UNLESS;
    if (b->lhs->kind == NOA_LOGQL_LOG)
        return noa_logql_parser_invalid(
            p, "unexpected type for left leg of binary operation (%s): %s", name,
            b->lhs->n_stages ? "*syntax.PipelineExpr" : "*syntax.MatchersExpr");
    if (b->rhs->kind == NOA_LOGQL_LOG)
        return noa_logql_parser_invalid(
            p, "unexpected type for right leg of binary operation (%s): %s", name,
            b->rhs->n_stages ? "*syntax.PipelineExpr" : "*syntax.MatchersExpr");
    if (set_op && b->lhs->kind == NOA_LOGQL_LITERAL)
        return noa_logql_parser_invalid(p,
                                        "unexpected literal for left leg of "
                                        "logical/set binary operation (%s): %f",
                                        name, b->lhs->value);
    if (set_op && b->rhs->kind == NOA_LOGQL_LITERAL)
        return noa_logql_parser_invalid(p,
                                        "unexpected literal for right leg of "
                                        "logical/set binary operation (%s): %f",
                                        name, b->rhs->value);
    if (b->lhs->kind == NOA_LOGQL_LITERAL && b->rhs->kind == NOA_LOGQL_LITERAL) {
        struct noa_logql_expr *lit = noa_logql_parser_new_expr(NOA_LOGQL_LITERAL);
        lit->value = noa_logql_bin_apply(b->bin_op, b->lhs->value, b->rhs->value);
        noa_logql_free(b);
        *bp = lit;
    }
    return 0;
}

static int parse_expr(struct noa_logql_parser *p, struct noa_logql_expr **out, int min_prec)
{
    struct noa_logql_expr *lhs = NULL;
    int rc;
    if ((rc = noa_logql_parser_enter(p)) < 0)
        return rc;
    if ((rc = parse_primary(p, &lhs)) < 0)
        return rc;
    for (;;) {
        enum noa_logql_bin_op op;
        int prec = bin_prec(cur(p), &op);
        if (prec == 0 || prec < min_prec)
            break;
        next(p);
        struct noa_logql_expr *b = noa_logql_parser_new_expr(NOA_LOGQL_BINOP);
        b->bin_op = op;
        b->lhs = lhs;
        lhs = b;
        if ((rc = parse_bin_modifiers(p, b)) < 0)
            goto fail;
        if ((rc = parse_expr(p, &b->rhs, op == NOA_LOGQL_BIN_POW ? prec : prec + 1)) < 0)
            goto fail;
        if ((rc = finish_binop(p, &lhs)) < 0)
            goto fail;
    }
    if (!cur(p)) {
        rc = NOA_EINVAL;
        goto fail;
    }
    p->depth--;
    *out = lhs;
    return 0;
fail:
    noa_logql_free(lhs);
    return rc;
}

int noa_logql_parse(const char *q, size_t len, struct noa_logql_expr **out, struct noa_error *err)
{
    struct noa_logql_parser p;
    struct noa_logql_expr *e = NULL;
    int rc;
    *out = NULL;
    if (len >= NOA_LOGQL_MAX_INPUT)
        return noa_error_set(err, NOA_EINVAL, "parse error : input size too long (%zu > %d)", len,
                             NOA_LOGQL_MAX_INPUT);
    memset(&p, 0, sizeof(p));
    p.lx.q = q;
    p.lx.len = len;
    p.lx.line = 1;
    p.lx.col = 1;
    p.lx.err = err;
    p.err = err;
    rc = parse_expr(&p, &e, 1);
    if (rc == 0) {
        struct noa_logql_tok *t = cur(&p);
        if (!t)
            rc = NOA_EINVAL;
        else if (t->type != NOA_LOGQL_T_EOF)
            rc = noa_logql_parser_syntax(&p, NULL);
    }
    noa_buf_fini(&p.tok[0].sval);
    noa_buf_fini(&p.tok[1].sval);
    if (rc < 0) {
        noa_logql_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

int noa_logql_is_log(const struct noa_logql_expr *e)
{
    return e->kind == NOA_LOGQL_LOG;
}

static void collect(const struct noa_logql_expr *e, const struct noa_logql_expr **out, unsigned max,
                    unsigned *n)
{
    if (!e)
        return;
    if (e->kind == NOA_LOGQL_LOG) {
        if (*n < max)
            out[*n] = e;
        (*n)++;
        return;
    }
    collect(e->log, out, max, n);
    collect(e->inner, out, max, n);
    collect(e->lhs, out, max, n);
    collect(e->rhs, out, max, n);
}

unsigned noa_logql_selectors(const struct noa_logql_expr *e, const struct noa_logql_expr **out,
                             unsigned max)
{
    unsigned n = 0;
    collect(e, out, max, &n);
    return n;
}
