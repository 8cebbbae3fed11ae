/*
 * LogQL parser: recursive descent over the lexer's tokens, building the
 * owned tree described in common/logql.h, with Loki's operator precedence,
 * its placement rules and the checks ParseExpr performs (empty-compatible
 * selectors, range/unwrap/grouping/parameter rules, literal folding).
 * Depth is bounded (NOA_LOGQL_MAX_DEPTH) so hostile nesting cannot
 * overflow the stack. Pure; runs on the caller's thread.
 */
#include "common/logql.h"
#include "common/mem.h"
#include "common/regex.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
    struct noa_logql_lexer lx;
    struct noa_logql_tok tok[2]; /* current and one token of lookahead */
    int have;                    /* tokens buffered in tok[] */
    int depth;
    struct noa_error *err;
};

static const char *const range_names[] = {
    "count_over_time", "rate",          "rate_counter",     "bytes_over_time",
    "bytes_rate",      "avg_over_time", "sum_over_time",    "min_over_time",
    "max_over_time",   "stdvar_over_time", "stddev_over_time", "quantile_over_time",
    "first_over_time", "last_over_time", "absent_over_time", NULL};
static const char *const vector_names[] = {"sum",    "avg",    "count",   "max",
                                           "min",    "stddev", "stdvar",  "bottomk",
                                           "topk",   "sort",   "sort_desc", "approx_topk",
                                           NULL};
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

static int find_name(const char *const *list, const char *w)
{
    for (int i = 0; list[i]; i++)
        if (!strcmp(list[i], w))
            return i;
    return -1;
}

/* ---- token access ----------------------------------------------------------- */

static int fill(struct parser *p, int n)
{
    while (p->have < n) {
        int rc = noa_logql_lex_next(&p->lx, &p->tok[p->have]);
        if (rc < 0)
            return rc;
        p->have++;
    }
    return 0;
}

/* The current token (lexing it if needed); NULL after a lexical error. */
static struct noa_logql_tok *cur(struct parser *p)
{
    return fill(p, 1) < 0 ? NULL : &p->tok[0];
}

static struct noa_logql_tok *ahead(struct parser *p)
{
    return fill(p, 2) < 0 ? NULL : &p->tok[1];
}

static void next(struct parser *p)
{
    if (p->have == 2) {
        struct noa_buf keep = p->tok[0].sval;
        p->tok[0] = p->tok[1];
        p->tok[1].sval = keep;
    }
    p->have = p->have > 0 ? p->have - 1 : 0;
}

static int is_punct(const struct noa_logql_tok *t, const char *op)
{
    return t && t->type == NOA_LOGQL_T_PUNCT && !strcmp(t->op, op);
}

static int is_kw(const struct noa_logql_tok *t, const char *kw)
{
    return t && t->type == NOA_LOGQL_T_KEYWORD && !strcmp(t->op, kw);
}

static int is_func(const struct noa_logql_tok *t, const char *f)
{
    return t && t->type == NOA_LOGQL_T_FUNCTION && !strcmp(t->op, f);
}

/* How goyacc names a token in "unexpected X". */
static void tok_name(const struct noa_logql_tok *t, const char *q, char *out, size_t n)
{
    switch (t->type) {
    case NOA_LOGQL_T_EOF:
        snprintf(out, n, "$end");
        break;
    case NOA_LOGQL_T_IDENT:
        snprintf(out, n, "IDENTIFIER");
        break;
    case NOA_LOGQL_T_STRING:
        snprintf(out, n, "STRING");
        break;
    case NOA_LOGQL_T_NUMBER:
        snprintf(out, n, "NUMBER");
        break;
    case NOA_LOGQL_T_DURATION:
        snprintf(out, n, "DURATION");
        break;
    case NOA_LOGQL_T_BYTES:
        snprintf(out, n, "BYTES");
        break;
    case NOA_LOGQL_T_RANGE:
        snprintf(out, n, "RANGE");
        break;
    case NOA_LOGQL_T_FUNCTION:
        if (!strcmp(t->op, "ip")) {
            snprintf(out, n, "ip");
        } else {
            size_t k = 0;
            for (; t->op[k] && k + 1 < n; k++)
                out[k] = (char)toupper((unsigned char)t->op[k]);
            out[k] = 0;
        }
        break;
    default:
        (void)q;
        snprintf(out, n, "%s", t->op);
        break;
    }
}

/* A grammar error at the current token. */
static int syntax(struct parser *p, const char *expecting)
{
    struct noa_logql_tok *t = cur(p);
    char name[32];
    if (!t)
        return NOA_EINVAL; /* the lexer already reported */
    tok_name(t, p->lx.q, name, sizeof(name));
    int line = t->line, col = t->col;
    return noa_error_set_at(p->err, NOA_EINVAL, line, col,
                            "parse error at line %d, col %d: syntax error: unexpected %s%s%s",
                            line, col, name, expecting ? ", expecting " : "",
                            expecting ? expecting : "");
}

/* A check after parsing: Loki's "parse error : msg" with no position. */
static int invalid(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int invalid(struct parser *p, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return noa_error_set(p->err, NOA_EINVAL, "parse error : %s", msg);
}

static int expect_punct(struct parser *p, const char *op, const char *expecting)
{
    if (!is_punct(cur(p), op))
        return syntax(p, expecting ? expecting : op);
    next(p);
    return 0;
}

static int enter(struct parser *p)
{
    if (++p->depth > NOA_LOGQL_MAX_DEPTH) {
        struct noa_logql_tok *t = cur(p);
        int line = t ? t->line : 0, col = t ? t->col : 0;
        return noa_error_set_at(p->err, NOA_EINVAL, line, col,
                                "parse error at line %d, col %d: expression nested too deeply",
                                line, col);
    }
    return 0;
}

static struct noa_logql_str take_str(struct noa_logql_tok *t)
{
    struct noa_logql_str s;
    s.len = t->sval.len;
    s.p = noa_xmalloc(s.len + 1);
    if (s.len)
        memcpy(s.p, t->sval.data, s.len);
    s.p[s.len] = 0;
    return s;
}

static char *tok_text(const struct parser *p, const struct noa_logql_tok *t)
{
    return noa_xstrndup(p->lx.q + t->off, t->len);
}

static void labels_push(struct noa_logql_labels *l, char *name)
{
    l->v = noa_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = name;
}

/* ---- freeing ------------------------------------------------------------------ */

static void labels_fini(struct noa_logql_labels *l)
{
    for (unsigned i = 0; i < l->n; i++)
        noa_free(l->v[i]);
    noa_free(l->v);
    l->v = NULL;
    l->n = 0;
}

static void matcher_fini(struct noa_matcher *m)
{
    noa_free(m->name);
    noa_free(m->value);
    noa_regex_free(m->re);
    memset(m, 0, sizeof(*m));
}

static void lf_free(struct noa_logql_label_filter *f)
{
    if (!f)
        return;
    lf_free(f->left);
    lf_free(f->right);
    noa_free(f->name);
    matcher_fini(&f->matcher);
    noa_free(f->ip.p);
    noa_free(f);
}

static void stage_fini(struct noa_logql_stage *s)
{
    for (unsigned i = 0; i < s->line.n; i++)
        noa_free(s->line.v[i].value.p);
    noa_free(s->line.v);
    lf_free(s->filter);
    noa_free(s->text.p);
    for (unsigned i = 0; i < s->n_extracts; i++) {
        noa_free(s->extracts[i].name);
        noa_free(s->extracts[i].expr.p);
    }
    noa_free(s->extracts);
    for (unsigned i = 0; i < s->n_fmts; i++) {
        noa_free(s->fmts[i].dst);
        noa_free(s->fmts[i].value.p);
    }
    noa_free(s->fmts);
    for (unsigned i = 0; i < s->n_names; i++) {
        noa_free(s->names[i].name);
        matcher_fini(&s->names[i].matcher);
    }
    noa_free(s->names);
}

void noa_logql_free(struct noa_logql_expr *e)
{
    if (!e)
        return;
    noa_selector_fini(&e->selector);
    for (unsigned i = 0; i < e->n_stages; i++)
        stage_fini(&e->stages[i]);
    noa_free(e->stages);
    noa_logql_free(e->log);
    noa_free(e->unwrap_label);
    for (unsigned i = 0; i < e->n_post_filters; i++)
        lf_free(e->post_filters[i]);
    noa_free(e->post_filters);
    labels_fini(&e->grouping.labels);
    noa_logql_free(e->inner);
    noa_logql_free(e->lhs);
    noa_logql_free(e->rhs);
    labels_fini(&e->matching);
    labels_fini(&e->include);
    noa_free(e->dst.p);
    noa_free(e->replacement.p);
    noa_free(e->src.p);
    noa_free(e->regex.p);
    noa_regex_free(e->re);
    noa_free(e);
}

static struct noa_logql_expr *new_expr(enum noa_logql_kind kind)
{
    struct noa_logql_expr *e = noa_xcalloc(1, sizeof(*e));
    e->kind = kind;
    return e;
}

/* ---- matchers and selectors ------------------------------------------------------ */

static const char *const empty_selector_msg =
    "queries require at least one regexp or equality matcher that does not have an "
    "empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but "
    "app=~\".+\" will";

/* Fills m from name (taken), op text and the current STRING token. */
static int make_matcher(struct parser *p, struct noa_matcher *m, char *name, const char *op)
{
    struct noa_logql_tok *t = cur(p);
    memset(m, 0, sizeof(*m));
    m->name = name;
    m->type = !strcmp(op, "=")    ? NOA_MATCH_EQ
              : !strcmp(op, "!=") ? NOA_MATCH_NEQ
              : !strcmp(op, "=~") ? NOA_MATCH_RE
                                  : NOA_MATCH_NRE;
    struct noa_logql_str v = take_str(t);
    m->value = v.p;
    m->value_len = v.len;
    next(p);
    if (m->type == NOA_MATCH_RE || m->type == NOA_MATCH_NRE) {
        struct noa_error rerr = {0};
        if (noa_regex_compile(m->value, m->value_len, NOA_REGEX_ANCHORED, &m->re, &rerr) < 0) {
            matcher_fini(m);
            return invalid(p, "%s", rerr.msg);
        }
    }
    return 0;
}

/* IDENT op STRING inside a selector. */
static int parse_matcher(struct parser *p, struct noa_matcher *m)
{
    struct noa_logql_tok *t = cur(p);
    if (!t || t->type != NOA_LOGQL_T_IDENT)
        return syntax(p, "IDENTIFIER");
    char *name = tok_text(p, t);
    next(p);
    t = cur(p);
    if (!t || !(is_punct(t, "=") || is_punct(t, "!=") || is_punct(t, "=~") ||
                is_punct(t, "!~"))) {
        noa_free(name);
        return syntax(p, "= or != or =~ or !~");
    }
    char op[24];
    snprintf(op, sizeof(op), "%s", t->op);
    next(p);
    t = cur(p);
    if (!t || t->type != NOA_LOGQL_T_STRING) {
        noa_free(name);
        return syntax(p, "STRING");
    }
    return make_matcher(p, m, name, op);
}

static int parse_selector(struct noa_logql_expr *e, struct parser *p)
{
    struct noa_selector *sel = &e->selector;
    unsigned cap = 0;
    int rc;
    next(p); /* { */
    if (is_punct(cur(p), "}")) {
        next(p);
        return invalid(p, "%s", empty_selector_msg);
    }
    for (;;) {
        if (sel->n == cap) {
            cap = cap ? cap * 2 : 4;
            sel->m = noa_xrealloc(sel->m, cap * sizeof(*sel->m));
        }
        if ((rc = parse_matcher(p, &sel->m[sel->n])) < 0)
            return rc;
        sel->n++;
        struct noa_logql_tok *t = cur(p);
        if (is_punct(t, "}")) {
            next(p);
            break;
        }
        if (!is_punct(t, ","))
            return syntax(p, "} or ,");
        next(p);
    }
    for (unsigned i = 0; i < sel->n; i++)
        if (!noa_matcher_matches_empty(&sel->m[i]))
            return 0;
    return invalid(p, "%s", empty_selector_msg);
}

/* ---- label filters --------------------------------------------------------------- */

static int parse_lf_or(struct parser *p, struct noa_logql_label_filter **out);

static int cmp_of(const char *op, enum noa_logql_cmp *c)
{
    static const char *const ops[] = {"==", "!=", ">", ">=", "<", "<=", NULL};
    if (!strcmp(op, "=")) {
        *c = NOA_LOGQL_CMP_EQ;
        return 0;
    }
    int i = find_name(ops, op);
    if (i < 0)
        return -1;
    *c = (enum noa_logql_cmp)i;
    return 0;
}

/* IDENT cmp value, or '(' filter ')'. */
static int parse_lf_leaf(struct parser *p, struct noa_logql_label_filter **out)
{
    struct noa_logql_tok *t = cur(p);
    struct noa_logql_label_filter *f = NULL;
    int rc;
    if (is_punct(t, "(")) {
        if ((rc = enter(p)) < 0)
            return rc;
        next(p);
        if ((rc = parse_lf_or(p, out)) < 0)
            return rc;
        p->depth--;
        if ((rc = expect_punct(p, ")", ")")) < 0) {
            lf_free(*out);
            *out = NULL;
        }
        return rc;
    }
    if (!t || t->type != NOA_LOGQL_T_IDENT)
        return syntax(p, "IDENTIFIER");
    f = noa_xcalloc(1, sizeof(*f));
    f->name = tok_text(p, t);
    next(p);
    t = cur(p);
    if (!t || t->type != NOA_LOGQL_T_PUNCT || cmp_of(t->op, &f->cmp) < 0) {
        if (is_punct(t, "=~") || is_punct(t, "!~"))
            goto string_filter;
        rc = syntax(p, "= or != or =~ or !~ or == or > or >= or < or <=");
        goto fail;
    }
    char op[24];
    snprintf(op, sizeof(op), "%s", t->op);
    next(p);
    t = cur(p);
    if (t && t->type == NOA_LOGQL_T_STRING) {
        if (strcmp(op, "=") && strcmp(op, "!=")) {
            rc = syntax(p, NULL);
            goto fail;
        }
        f->kind = NOA_LOGQL_LF_STRING;
        rc = make_matcher(p, &f->matcher, f->name, op);
        f->name = NULL;
        if (rc < 0)
            goto fail;
    } else if (is_func(t, "ip")) {
        if (strcmp(op, "=") && strcmp(op, "!=")) {
            rc = syntax(p, NULL);
            goto fail;
        }
        f->kind = NOA_LOGQL_LF_IP;
        next(p);
        if ((rc = expect_punct(p, "(", "(")) < 0)
            goto fail;
        t = cur(p);
        if (!t || t->type != NOA_LOGQL_T_STRING) {
            rc = syntax(p, "STRING");
            goto fail;
        }
        f->ip = take_str(t);
        next(p);
        if ((rc = expect_punct(p, ")", ")")) < 0)
            goto fail;
    } else if (t && t->type == NOA_LOGQL_T_DURATION) {
        f->kind = NOA_LOGQL_LF_DURATION;
        f->duration_ns = t->duration_ns;
        next(p);
    } else if (t && t->type == NOA_LOGQL_T_BYTES) {
        f->kind = NOA_LOGQL_LF_BYTES;
        f->bytes = t->bytes;
        next(p);
    } else if (t && (t->type == NOA_LOGQL_T_NUMBER || is_punct(t, "-") || is_punct(t, "+"))) {
        double sign = 1;
        if (t->type == NOA_LOGQL_T_PUNCT) {
            sign = t->op[0] == '-' ? -1 : 1;
            next(p);
            t = cur(p);
            if (!t || t->type != NOA_LOGQL_T_NUMBER) {
                rc = syntax(p, "NUMBER");
                goto fail;
            }
        }
        f->kind = NOA_LOGQL_LF_NUMBER;
        f->number = sign * t->num;
        next(p);
    } else {
        rc = syntax(p, "STRING or NUMBER or DURATION or BYTES or ip");
        goto fail;
    }
    *out = f;
    return 0;
string_filter:
    snprintf(op, sizeof(op), "%s", t->op);
    next(p);
    if (!cur(p) || cur(p)->type != NOA_LOGQL_T_STRING) {
        rc = syntax(p, "STRING");
        goto fail;
    }
    f->kind = NOA_LOGQL_LF_STRING;
    rc = make_matcher(p, &f->matcher, f->name, op);
    f->name = NULL;
    if (rc < 0)
        goto fail;
    *out = f;
    return 0;
fail:
    lf_free(f);
    return rc;
}

static struct noa_logql_label_filter *lf_join(enum noa_logql_lf_kind k,
                                              struct noa_logql_label_filter *l,
                                              struct noa_logql_label_filter *r)
{
    struct noa_logql_label_filter *f = noa_xcalloc(1, sizeof(*f));
    f->kind = k;
    f->left = l;
    f->right = r;
    return f;
}

/* and / , / juxtaposition bind tighter than or. */
static int parse_lf_and(struct parser *p, struct noa_logql_label_filter **out)
{
    struct noa_logql_label_filter *l = NULL, *r = NULL;
    int rc = parse_lf_leaf(p, &l);
    if (rc < 0)
        return rc;
    for (;;) {
        struct noa_logql_tok *t = cur(p);
        if (is_kw(t, "and") || is_punct(t, ",")) {
            next(p);
        } else if (!(t && (t->type == NOA_LOGQL_T_IDENT || is_punct(t, "(")))) {
            break;
        }
        if ((rc = parse_lf_leaf(p, &r)) < 0) {
            lf_free(l);
            return rc;
        }
        l = lf_join(NOA_LOGQL_LF_AND, l, r);
    }
    *out = l;
    return 0;
}

static int parse_lf_or(struct parser *p, struct noa_logql_label_filter **out)
{
    struct noa_logql_label_filter *l = NULL, *r = NULL;
    int rc = parse_lf_and(p, &l);
    if (rc < 0)
        return rc;
    while (is_kw(cur(p), "or")) {
        next(p);
        if ((rc = parse_lf_and(p, &r)) < 0) {
            lf_free(l);
            return rc;
        }
        l = lf_join(NOA_LOGQL_LF_OR, l, r);
    }
    *out = l;
    return 0;
}

/* ---- stages ------------------------------------------------------------------------ */

static const char *const line_ops[] = {"|=", "!=", "|~", "!~", "|>", "!>", NULL};

static int line_operand(struct parser *p, struct noa_logql_line_filter *lf)
{
    struct noa_logql_tok *t = cur(p);
    struct noa_logql_line_operand o = {{0}, 0};
    if (is_func(t, "ip")) {
        next(p);
        int rc = expect_punct(p, "(", "(");
        if (rc < 0)
            return rc;
        t = cur(p);
        if (!t || t->type != NOA_LOGQL_T_STRING)
            return syntax(p, "STRING");
        o.is_ip = 1;
        o.value = take_str(t);
        next(p);
        if ((rc = expect_punct(p, ")", ")")) < 0) {
            noa_free(o.value.p);
            return rc;
        }
    } else if (t && t->type == NOA_LOGQL_T_STRING) {
        o.value = take_str(t);
        next(p);
    } else {
        return syntax(p, "STRING or ip");
    }
    lf->v = noa_xrealloc(lf->v, (lf->n + 1) * sizeof(*lf->v));
    lf->v[lf->n++] = o;
    return 0;
}

static int parse_line_filter(struct parser *p, struct noa_logql_stage *s)
{
    int rc;
    s->kind = NOA_LOGQL_STAGE_LINE_FILTER;
    s->line.op = (enum noa_logql_line_op)find_name(line_ops, cur(p)->op);
    next(p);
    if ((rc = line_operand(p, &s->line)) < 0)
        return rc;
    for (;;) {
        struct noa_logql_tok *a = ahead(p);
        if (!a)
            return NOA_EINVAL;
        if (!is_kw(cur(p), "or") || !(a->type == NOA_LOGQL_T_STRING || is_func(a, "ip")))
            return 0;
        next(p);
        if ((rc = line_operand(p, &s->line)) < 0)
            return rc;
    }
}

/* name="expr" list for json / logfmt. */
static int parse_extracts(struct parser *p, struct noa_logql_stage *s)
{
    while (cur(p) && cur(p)->type == NOA_LOGQL_T_IDENT) {
        struct noa_logql_tok *t = cur(p);
        struct noa_logql_extract x;
        x.name = tok_text(p, t);
        next(p);
        if (is_punct(cur(p), "=")) {
            next(p);
            t = cur(p);
            if (!t || t->type != NOA_LOGQL_T_STRING) {
                noa_free(x.name);
                return syntax(p, "STRING");
            }
            x.expr = take_str(t);
            next(p);
        } else {
            x.expr.len = strlen(x.name);
            x.expr.p = noa_xstrdup(x.name);
        }
        s->extracts = noa_xrealloc(s->extracts, (s->n_extracts + 1) * sizeof(*s->extracts));
        s->extracts[s->n_extracts++] = x;
        if (!is_punct(cur(p), ","))
            break;
        next(p);
        if (!cur(p) || cur(p)->type != NOA_LOGQL_T_IDENT)
            return syntax(p, "IDENTIFIER");
    }
    return cur(p) ? 0 : NOA_EINVAL;
}

static int parse_label_fmt(struct parser *p, struct noa_logql_stage *s)
{
    for (;;) {
        struct noa_logql_tok *t = cur(p);
        struct noa_logql_label_fmt f = {0};
        if (!t || t->type != NOA_LOGQL_T_IDENT)
            return syntax(p, "IDENTIFIER");
        f.dst = tok_text(p, t);
        next(p);
        int rc = expect_punct(p, "=", "=");
        t = cur(p);
        if (rc == 0 && t && t->type == NOA_LOGQL_T_IDENT) {
            f.rename = 1;
            f.value.p = tok_text(p, t);
            f.value.len = t->len;
        } else if (rc == 0 && t && t->type == NOA_LOGQL_T_STRING) {
            f.value = take_str(t);
        } else {
            noa_free(f.dst);
            return rc < 0 ? rc : syntax(p, "STRING or IDENTIFIER");
        }
        next(p);
        s->fmts = noa_xrealloc(s->fmts, (s->n_fmts + 1) * sizeof(*s->fmts));
        s->fmts[s->n_fmts++] = f;
        if (!is_punct(cur(p), ","))
            return cur(p) ? 0 : NOA_EINVAL;
        next(p);
    }
}

static int parse_named(struct parser *p, struct noa_logql_stage *s)
{
    for (;;) {
        struct noa_logql_tok *t = cur(p);
        struct noa_logql_named nm;
        memset(&nm, 0, sizeof(nm));
        if (!t || t->type != NOA_LOGQL_T_IDENT)
            return syntax(p, "IDENTIFIER");
        nm.name = tok_text(p, t);
        next(p);
        t = cur(p);
        if (t && (is_punct(t, "=") || is_punct(t, "!=") || is_punct(t, "=~") ||
                  is_punct(t, "!~"))) {
            char op[24];
            snprintf(op, sizeof(op), "%s", t->op);
            next(p);
            if (!cur(p) || cur(p)->type != NOA_LOGQL_T_STRING) {
                noa_free(nm.name);
                return syntax(p, "STRING");
            }
            int rc = make_matcher(p, &nm.matcher, noa_xstrdup(nm.name), op);
            if (rc < 0) {
                noa_free(nm.name);
                return rc;
            }
            nm.has_matcher = 1;
        }
        s->names = noa_xrealloc(s->names, (s->n_names + 1) * sizeof(*s->names));
        s->names[s->n_names++] = nm;
        if (!is_punct(cur(p), ","))
            return cur(p) ? 0 : NOA_EINVAL;
        next(p);
    }
}

/* `| regexp`: needs a named group with a valid, unique name. */
static int check_regexp(struct parser *p, const struct noa_logql_str *re)
{
    struct noa_regex *rx = NULL;
    struct noa_error rerr = {0};
    if (noa_regex_compile(re->p, re->len, 0, &rx, &rerr) < 0)
        return invalid(p, "invalid regexp parser: %s", rerr.msg);
    noa_regex_free(rx);
    int named = 0;
    for (size_t i = 0; i + 3 < re->len; i++) {
        if (re->p[i] == '\\') {
            i++;
            continue;
        }
        if (re->p[i] == '(' && re->p[i + 1] == '?' &&
            (re->p[i + 2] == '<' || (re->p[i + 2] == 'P' && re->p[i + 3] == '<')) &&
            re->p[i + 3] != '=' && re->p[i + 3] != '!')
            named++;
    }
    if (!named)
        return invalid(p, "invalid regexp parser: at least one named capture must be supplied");
    return 0;
}

/* `| pattern`: >= 1 named capture, no two captures adjacent, unique names. */
static int check_pattern(struct parser *p, const struct noa_logql_str *pat)
{
    const char *names[64];
    size_t lens[64];
    unsigned n_named = 0;
    int prev_capture = 0;
    size_t i = 0;
    while (i < pat->len) {
        size_t j = i + 1;
        int capture = 0;
        if (pat->p[i] == '<' && j < pat->len &&
            (isalpha((unsigned char)pat->p[j]) || pat->p[j] == '_')) {
            while (j < pat->len && (isalnum((unsigned char)pat->p[j]) || pat->p[j] == '_'))
                j++;
            capture = j < pat->len && pat->p[j] == '>';
        }
        if (!capture) {
            prev_capture = 0;
            i++;
            continue;
        }
        if (prev_capture)
            return invalid(p, "invalid pattern parser: consecutive capture found");
        size_t nl = j - i - 1;
        const char *nm = pat->p + i + 1;
        if (!(nl == 1 && nm[0] == '_')) {
            for (unsigned k = 0; k < n_named; k++)
                if (lens[k] == nl && !memcmp(names[k], nm, nl))
                    return invalid(p, "invalid pattern parser: duplicate capture name (%.*s)",
                                   (int)nl, nm);
            if (n_named < 64) {
                names[n_named] = nm;
                lens[n_named++] = nl;
            }
        }
        prev_capture = 1;
        i = j + 1;
    }
    if (!n_named)
        return invalid(p, "invalid pattern parser: at least one capture is required");
    return 0;
}

static int parse_string_arg(struct parser *p, struct noa_logql_stage *s)
{
    struct noa_logql_tok *t = cur(p);
    if (!t || t->type != NOA_LOGQL_T_STRING)
        return syntax(p, "STRING");
    s->text = take_str(t);
    next(p);
    return 0;
}

/* One stage after '|' (the '|' already consumed). */
static int parse_pipe_stage(struct parser *p, struct noa_logql_stage *s)
{
    struct noa_logql_tok *t = cur(p);
    int rc = 0;
    if (!t)
        return NOA_EINVAL;
    if (is_kw(t, "json")) {
        s->kind = NOA_LOGQL_STAGE_JSON;
        next(p);
        return parse_extracts(p, s);
    }
    if (is_kw(t, "logfmt")) {
        s->kind = NOA_LOGQL_STAGE_LOGFMT;
        next(p);
        for (;;) {
            if (is_kw(cur(p), "--strict"))
                s->strict = 1;
            else if (is_kw(cur(p), "--keep-empty"))
                s->keep_empty = 1;
            else
                break;
            next(p);
        }
        return parse_extracts(p, s);
    }
    if (is_kw(t, "regexp") || is_kw(t, "pattern")) {
        s->kind = is_kw(t, "regexp") ? NOA_LOGQL_STAGE_REGEXP : NOA_LOGQL_STAGE_PATTERN;
        next(p);
        if ((rc = parse_string_arg(p, s)) < 0)
            return rc;
        return s->kind == NOA_LOGQL_STAGE_REGEXP ? check_regexp(p, &s->text)
                                                 : check_pattern(p, &s->text);
    }
    if (is_kw(t, "unpack") || is_kw(t, "decolorize")) {
        s->kind = is_kw(t, "unpack") ? NOA_LOGQL_STAGE_UNPACK : NOA_LOGQL_STAGE_DECOLORIZE;
        next(p);
        return 0;
    }
    if (is_kw(t, "line_format")) {
        s->kind = NOA_LOGQL_STAGE_LINE_FORMAT;
        next(p);
        return parse_string_arg(p, s);
    }
    if (is_kw(t, "label_format")) {
        s->kind = NOA_LOGQL_STAGE_LABEL_FORMAT;
        next(p);
        return parse_label_fmt(p, s);
    }
    if (is_kw(t, "drop") || is_kw(t, "keep")) {
        s->kind = is_kw(t, "drop") ? NOA_LOGQL_STAGE_DROP : NOA_LOGQL_STAGE_KEEP;
        next(p);
        return parse_named(p, s);
    }
    if (t->type == NOA_LOGQL_T_IDENT || is_punct(t, "(")) {
        s->kind = NOA_LOGQL_STAGE_LABEL_FILTER;
        return parse_lf_or(p, &s->filter);
    }
    return syntax(p, NULL);
}

static void split_negative(struct noa_logql_expr *e, struct noa_logql_stage *s)
{
    e->stages = noa_xrealloc(e->stages, (e->n_stages + s->line.n) * sizeof(*e->stages));
    for (unsigned i = 0; i < s->line.n; i++) {
        struct noa_logql_stage *d = &e->stages[e->n_stages++];
        memset(d, 0, sizeof(*d));
        d->kind = NOA_LOGQL_STAGE_LINE_FILTER;
        d->line.op = s->line.op;
        d->line.v = noa_xmalloc(sizeof(*d->line.v));
        d->line.v[0] = s->line.v[i];
        d->line.n = 1;
    }
    noa_free(s->line.v);
}

static int is_line_op(const struct noa_logql_tok *t)
{
    return t && t->type == NOA_LOGQL_T_PUNCT && find_name(line_ops, t->op) >= 0;
}

/*
 * Stages until something that is not a stage. A '|' followed by `unwrap`
 * stops the loop (with the '|' not consumed) so range parsing can take it.
 */
static int parse_stages(struct parser *p, struct noa_logql_expr *e)
{
    for (;;) {
        struct noa_logql_tok *t = cur(p);
        struct noa_logql_stage s;
        int rc;
        if (!t)
            return NOA_EINVAL;
        if (!is_line_op(t) && !is_punct(t, "|"))
            return 0;
        if (is_punct(t, "|")) {
            struct noa_logql_tok *a = ahead(p);
            if (!a)
                return NOA_EINVAL;
            if (is_kw(a, "unwrap"))
                return 0;
        }
        memset(&s, 0, sizeof(s));
        if (is_line_op(t)) {
            rc = parse_line_filter(p, &s);
            if (rc == 0 && s.line.n > 1 && (s.line.op == NOA_LOGQL_LINE_NOT_CONTAINS ||
                                            s.line.op == NOA_LOGQL_LINE_NOT_MATCH ||
                                            s.line.op == NOA_LOGQL_LINE_NOT_PATTERN)) {
                /* `!= "a" or "b"` is `!= "a" != "b"` (Loki rewrites it the
                 * same way, and prints it so). */
                split_negative(e, &s);
                continue;
            }
        } else {
            next(p);
            rc = parse_pipe_stage(p, &s);
        }
        e->stages = noa_xrealloc(e->stages, (e->n_stages + 1) * sizeof(*e->stages));
        e->stages[e->n_stages++] = s; /* kept even on failure so it is freed once */
        if (rc < 0)
            return rc;
    }
}

/* selector + pipeline (the current token is '{'). */
static int parse_log(struct parser *p, struct noa_logql_expr **out)
{
    struct noa_logql_expr *e = new_expr(NOA_LOGQL_LOG);
    int rc = parse_selector(e, p);
    if (rc == 0)
        rc = parse_stages(p, e);
    if (rc < 0) {
        noa_logql_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

/* ---- metric expressions ------------------------------------------------------------ */

static int parse_expr(struct parser *p, struct noa_logql_expr **out, int min_prec);

/* '(' [IDENT (',' IDENT)*] ')' */
static int parse_label_list(struct parser *p, struct noa_logql_labels *l)
{
    int rc = expect_punct(p, "(", "(");
    if (rc < 0)
        return rc;
    if (is_punct(cur(p), ")")) {
        next(p);
        return 0;
    }
    for (;;) {
        struct noa_logql_tok *t = cur(p);
        if (!t || t->type != NOA_LOGQL_T_IDENT)
            return syntax(p, "IDENTIFIER or )");
        labels_push(l, tok_text(p, t));
        next(p);
        if (is_punct(cur(p), ")")) {
            next(p);
            return 0;
        }
        if (!is_punct(cur(p), ","))
            return syntax(p, ", or )");
        next(p);
    }
}

static int parse_grouping(struct parser *p, struct noa_logql_grouping *g)
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
static int parse_unwrap(struct parser *p, struct noa_logql_expr *ra)
{
    static const char *const convs[] = {"", "bytes", "duration", "duration_seconds", NULL};
    int rc;
    next(p);
    next(p);
    struct noa_logql_tok *t = cur(p);
    ra->has_unwrap = 1;
    if (t && t->type == NOA_LOGQL_T_FUNCTION && find_name(convs, t->op) > 0) {
        ra->unwrap_conv = (enum noa_logql_unwrap_conv)find_name(convs, t->op);
        next(p);
        if ((rc = expect_punct(p, "(", "(")) < 0)
            return rc;
        t = cur(p);
        if (!t || t->type != NOA_LOGQL_T_IDENT)
            return syntax(p, "IDENTIFIER");
        ra->unwrap_label = tok_text(p, t);
        next(p);
        if ((rc = expect_punct(p, ")", ")")) < 0)
            return rc;
    } else if (t && t->type == NOA_LOGQL_T_IDENT) {
        ra->unwrap_label = tok_text(p, t);
        next(p);
    } else {
        return syntax(p, "IDENTIFIER or BYTES_CONV or DURATION_CONV or DURATION_SECONDS_CONV");
    }
    while (is_punct(cur(p), "|")) {
        struct noa_logql_label_filter *f = NULL;
        next(p);
        if ((rc = parse_lf_or(p, &f)) < 0)
            return rc;
        ra->post_filters = noa_xrealloc(ra->post_filters,
                                        (ra->n_post_filters + 1) * sizeof(*ra->post_filters));
        ra->post_filters[ra->n_post_filters++] = f;
    }
    return cur(p) ? 0 : NOA_EINVAL;
}

static int at_unwrap(struct parser *p)
{
    return is_punct(cur(p), "|") && is_kw(ahead(p), "unwrap");
}

/*
 * The log range inside a range aggregation, in every shape Loki accepts:
 * S R, S P R, S U R, S P U R, S R P, S R P U, S R U (O after R), each
 * optionally parenthesised.
 */
static int parse_range_body(struct parser *p, struct noa_logql_expr *ra, int *have_range)
{
    struct noa_logql_tok *t = cur(p);
    int rc;
    if (is_punct(t, "(")) {
        if ((rc = enter(p)) < 0)
            return rc;
        next(p);
        if ((rc = parse_range_body(p, ra, have_range)) < 0)
            return rc;
        if ((rc = expect_punct(p, ")", ")")) < 0)
            return rc;
        p->depth--;
    } else if (is_punct(t, "{")) {
        if ((rc = parse_log(p, &ra->log)) < 0)
            return rc;
        if (at_unwrap(p) && (rc = parse_unwrap(p, ra)) < 0)
            return rc;
    } else {
        return syntax(p, ra->log ? NULL : "{ or (");
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
                return syntax(p, "DURATION");
            ra->offset_ns = t->duration_ns;
            next(p);
        }
        if (ra->log && ra->log->n_stages == 0 && !ra->has_unwrap &&
            (rc = parse_stages(p, ra->log)) < 0)
            return rc;
        if (!ra->has_unwrap && at_unwrap(p) && (rc = parse_unwrap(p, ra)) < 0)
            return rc;
    }
    return cur(p) ? 0 : NOA_EINVAL;
}

static int range_check(struct parser *p, struct noa_logql_expr *e, const char *param)
{
    enum noa_logql_range_op op = e->range_op;
    const char *name = range_names[op];
    if (param && op != NOA_LOGQL_RANGE_QUANTILE)
        return invalid(p, "parameter %s not supported for operation %s", param, name);
    if (!param && op == NOA_LOGQL_RANGE_QUANTILE)
        return invalid(p, "parameter required for operation %s", name);
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
            return invalid(p, "grouping not allowed for %s aggregation", name);
        }
    }
    if (e->has_unwrap) {
        if (op == NOA_LOGQL_RANGE_COUNT || op == NOA_LOGQL_RANGE_BYTES ||
            op == NOA_LOGQL_RANGE_BYTES_RATE)
            return invalid(p, "invalid aggregation %s with unwrap", name);
        return 0;
    }
    if (op == NOA_LOGQL_RANGE_COUNT || op == NOA_LOGQL_RANGE_RATE ||
        op == NOA_LOGQL_RANGE_BYTES || op == NOA_LOGQL_RANGE_BYTES_RATE ||
        op == NOA_LOGQL_RANGE_ABSENT)
        return 0;
    return invalid(p, "invalid aggregation %s without unwrap", name);
}

/* NUMBER ',' at the start of an argument list: returns its text or NULL. */
static char *take_param(struct parser *p)
{
    struct noa_logql_tok *t = cur(p), *a = ahead(p);
    if (!t || !a || t->type != NOA_LOGQL_T_NUMBER || !is_punct(a, ","))
        return NULL;
    char *s = tok_text(p, t);
    next(p);
    next(p);
    return s;
}

static int parse_range_agg(struct parser *p, struct noa_logql_expr **out)
{
    struct noa_logql_expr *e = new_expr(NOA_LOGQL_RANGE_AGG);
    char *param = NULL;
    int have_range = 0, rc;
    e->range_op = (enum noa_logql_range_op)find_name(range_names, cur(p)->op);
    next(p);
    if ((rc = expect_punct(p, "(", "(")) < 0)
        goto fail;
    param = take_param(p);
    if (!cur(p)) {
        rc = NOA_EINVAL;
        goto fail;
    }
    if ((rc = parse_range_body(p, e, &have_range)) < 0)
        goto fail;
    if (!have_range) {
        rc = syntax(p, "RANGE");
        goto fail;
    }
    if ((rc = expect_punct(p, ")", ")")) < 0)
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

static int vector_check(struct parser *p, struct noa_logql_expr *e, const char *param)
{
    enum noa_logql_vector_op op = e->vector_op;
    const char *name = vector_names[op];
    if (op == NOA_LOGQL_VEC_TOPK || op == NOA_LOGQL_VEC_BOTTOMK ||
        op == NOA_LOGQL_VEC_APPROX_TOPK) {
        long long k;
        if (!param)
            return invalid(p, "parameter required for operation %s", name);
        if (go_atoi(param, &k) < 0)
            return invalid(p, "invalid parameter %s(%s,", name, param);
        if (k <= 0)
            return invalid(p, "invalid parameter (must be greater than 0) %s(%s", name, param);
        e->has_param = 1;
        e->param = (double)k;
    } else if (param) {
        return invalid(p, "unsupported parameter for operation %s(%s,", name, param);
    }
    if (op == NOA_LOGQL_VEC_APPROX_TOPK && e->grouping.present)
        return invalid(p, "grouping not allowed for approx_topk aggregation");
    if ((op == NOA_LOGQL_VEC_SORT || op == NOA_LOGQL_VEC_SORT_DESC) &&
        e->grouping.labels.n > 0)
        return invalid(p, "sort and sort_desc doesn't allow grouping by");
    return 0;
}

/* A metric expression argument: a log query there is a syntax error at
 * the token after it, as in Loki's grammar. */
static int parse_metric_arg(struct parser *p, struct noa_logql_expr **out)
{
    int rc = parse_expr(p, out, 1);
    if (rc < 0)
        return rc;
    if ((*out)->kind == NOA_LOGQL_LOG) {
        noa_logql_free(*out);
        *out = NULL;
        return syntax(p, NULL);
    }
    return 0;
}

static int parse_vector_agg(struct parser *p, struct noa_logql_expr **out)
{
    struct noa_logql_expr *e = new_expr(NOA_LOGQL_VECTOR_AGG);
    char *param = NULL;
    int rc;
    e->vector_op = (enum noa_logql_vector_op)find_name(vector_names, cur(p)->op);
    next(p);
    if (is_grouping_kw(cur(p)) && (rc = parse_grouping(p, &e->grouping)) < 0)
        goto fail;
    if ((rc = expect_punct(p, "(", "(")) < 0)
        goto fail;
    param = take_param(p);
    if ((rc = parse_metric_arg(p, &e->inner)) < 0)
        goto fail;
    if ((rc = expect_punct(p, ")", ")")) < 0)
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

static int parse_vector_fn(struct parser *p, struct noa_logql_expr **out)
{
    int rc;
    next(p);
    if ((rc = expect_punct(p, "(", "(")) < 0)
        return rc;
    struct noa_logql_tok *t = cur(p);
    if (!t || t->type != NOA_LOGQL_T_NUMBER)
        return syntax(p, "NUMBER");
    double v = t->num;
    next(p);
    if ((rc = expect_punct(p, ")", ")")) < 0)
        return rc;
    *out = new_expr(NOA_LOGQL_VECTOR);
    (*out)->value = v;
    return 0;
}

static int parse_label_replace(struct parser *p, struct noa_logql_expr **out)
{
    struct noa_logql_expr *e = new_expr(NOA_LOGQL_LABEL_REPLACE);
    struct noa_logql_str *args[4] = {&e->dst, &e->replacement, &e->src, &e->regex};
    int rc;
    next(p);
    if ((rc = expect_punct(p, "(", "(")) < 0)
        goto fail;
    if ((rc = parse_metric_arg(p, &e->inner)) < 0)
        goto fail;
    for (int i = 0; i < 4; i++) {
        if ((rc = expect_punct(p, ",", ",")) < 0)
            goto fail;
        struct noa_logql_tok *t = cur(p);
        if (!t || t->type != NOA_LOGQL_T_STRING) {
            rc = syntax(p, "STRING");
            goto fail;
        }
        *args[i] = take_str(t);
        next(p);
    }
    if ((rc = expect_punct(p, ")", ")")) < 0)
        goto fail;
    struct noa_error rerr = {0};
    if (noa_regex_compile(e->regex.p, e->regex.len, NOA_REGEX_ANCHORED, &e->re, &rerr) < 0) {
        rc = invalid(p, "invalid regex in label_replace: %s", rerr.msg);
        goto fail;
    }
    *out = e;
    return 0;
fail:
    noa_logql_free(e);
    return rc;
}

static int parse_primary(struct parser *p, struct noa_logql_expr **out)
{
    struct noa_logql_tok *t = cur(p);
    int rc;
    if (!t)
        return NOA_EINVAL;
    if (is_punct(t, "(")) {
        next(p);
        if ((rc = parse_expr(p, out, 1)) < 0)
            return rc;
        if ((rc = expect_punct(p, ")", ")")) < 0) {
            noa_logql_free(*out);
            *out = NULL;
        }
        return rc;
    }
    if (is_punct(t, "{"))
        return parse_log(p, out);
    if (t->type == NOA_LOGQL_T_NUMBER || is_punct(t, "-") || is_punct(t, "+")) {
        double sign = 1;
        if (t->type == NOA_LOGQL_T_PUNCT) {
            sign = t->op[0] == '-' ? -1 : 1;
            next(p);
            t = cur(p);
            if (!t || t->type != NOA_LOGQL_T_NUMBER)
                return syntax(p, "NUMBER");
        }
        *out = new_expr(NOA_LOGQL_LITERAL);
        (*out)->value = sign * t->num;
        next(p);
        return 0;
    }
    if (t->type == NOA_LOGQL_T_FUNCTION) {
        if (find_name(range_names, t->op) >= 0)
            return parse_range_agg(p, out);
        if (find_name(vector_names, t->op) >= 0)
            return parse_vector_agg(p, out);
        if (!strcmp(t->op, "vector"))
            return parse_vector_fn(p, out);
        if (!strcmp(t->op, "label_replace"))
            return parse_label_replace(p, out);
    }
    return syntax(p, NULL);
}

static int bin_prec(const struct noa_logql_tok *t, enum noa_logql_bin_op *op)
{
    static const int prec[] = {1, 2, 2, 3, 3, 3, 3, 3, 3, 4, 4, 5, 5, 5, 6};
    if (!t || (t->type != NOA_LOGQL_T_PUNCT && t->type != NOA_LOGQL_T_KEYWORD))
        return 0;
    int i = find_name(bin_names, t->op);
    if (i < 0)
        return 0;
    *op = (enum noa_logql_bin_op)i;
    return prec[i];
}

static int parse_bin_modifiers(struct parser *p, struct noa_logql_expr *b)
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
    b->card = is_kw(cur(p), "group_left") ? NOA_LOGQL_CARD_MANY_TO_ONE
                                          : NOA_LOGQL_CARD_ONE_TO_MANY;
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

static double fold(enum noa_logql_bin_op op, double l, double r)
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
static int finish_binop(struct parser *p, struct noa_logql_expr **bp)
{
    struct noa_logql_expr *b = *bp;
    const char *name = bin_names[b->bin_op];
    int set_op = b->bin_op <= NOA_LOGQL_BIN_UNLESS;
    if (b->lhs->kind == NOA_LOGQL_LOG)
        return invalid(p, "unexpected type for left leg of binary operation (%s): %s", name,
                       b->lhs->n_stages ? "*syntax.PipelineExpr" : "*syntax.MatchersExpr");
    if (b->rhs->kind == NOA_LOGQL_LOG)
        return invalid(p, "unexpected type for right leg of binary operation (%s): %s", name,
                       b->rhs->n_stages ? "*syntax.PipelineExpr" : "*syntax.MatchersExpr");
    if (set_op && b->lhs->kind == NOA_LOGQL_LITERAL)
        return invalid(p, "unexpected literal for left leg of logical/set binary operation (%s): %f",
                       name, b->lhs->value);
    if (set_op && b->rhs->kind == NOA_LOGQL_LITERAL)
        return invalid(p,
                       "unexpected literal for right leg of logical/set binary operation (%s): %f",
                       name, b->rhs->value);
    if (b->lhs->kind == NOA_LOGQL_LITERAL && b->rhs->kind == NOA_LOGQL_LITERAL) {
        struct noa_logql_expr *lit = new_expr(NOA_LOGQL_LITERAL);
        lit->value = fold(b->bin_op, b->lhs->value, b->rhs->value);
        noa_logql_free(b);
        *bp = lit;
    }
    return 0;
}

static int parse_expr(struct parser *p, struct noa_logql_expr **out, int min_prec)
{
    struct noa_logql_expr *lhs = NULL;
    int rc;
    if ((rc = enter(p)) < 0)
        return rc;
    if ((rc = parse_primary(p, &lhs)) < 0)
        return rc;
    for (;;) {
        enum noa_logql_bin_op op;
        int prec = bin_prec(cur(p), &op);
        if (prec == 0 || prec < min_prec)
            break;
        next(p);
        struct noa_logql_expr *b = new_expr(NOA_LOGQL_BINOP);
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

int noa_logql_parse(const char *q, size_t len, struct noa_logql_expr **out,
                    struct noa_error *err)
{
    struct parser p;
    struct noa_logql_expr *e = NULL;
    int rc;
    *out = NULL;
    if (len >= NOA_LOGQL_MAX_INPUT)
        return noa_error_set(err, NOA_EINVAL, "parse error : input size too long (%zu > %d)",
                             len, NOA_LOGQL_MAX_INPUT);
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
            rc = syntax(&p, NULL);
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

static void collect(const struct noa_logql_expr *e, const struct noa_logql_expr **out,
                    unsigned max, unsigned *n)
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
