/*
 * The LogQL parser's machinery: token access with one token of lookahead,
 * errors in Loki's words (goyacc's "syntax error: unexpected X"), the
 * nesting bound, and the tree's allocation and freeing. Pure; runs on the
 * caller's thread.
 */
#include "common/logql_parser.h"
#include "common/mem.h"
#include "common/regex.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int noa_logql_parser_find_name(const char *const *list, const char *w)
{
    for (int i = 0; list[i]; i++)
        if (!strcmp(list[i], w))
            return i;
    return -1;
}

/* ---- token access -----------------------------------------------------------
 */

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
int noa_logql_parser_syntax(struct noa_logql_parser *p, const char *expecting)
{
    struct noa_logql_tok *t = cur(p);
    char name[32];
    if (!t)
        return NOA_EINVAL; /* the lexer already reported */
    tok_name(t, p->lx.q, name, sizeof(name));
    int line = t->line, col = t->col;
    if (t->type == NOA_LOGQL_T_EOF && t->off == 0)
        /* Go's scanner has no position before its first character */
        return noa_error_set(p->err, NOA_EINVAL, "parse error : syntax error: unexpected %s%s%s",
                             name, expecting ? ", expecting " : "", expecting ? expecting : "");
    return noa_error_set_at(p->err, NOA_EINVAL, line, col,
                            "parse error at line %d, col %d: syntax error: unexpected %s%s%s", line,
                            col, name, expecting ? ", expecting " : "", expecting ? expecting : "");
}

/* A check after parsing: Loki's "parse error : msg" with no position. */
int noa_logql_parser_invalid(struct noa_logql_parser *p, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return noa_error_set(p->err, NOA_EINVAL, "parse error : %s", msg);
}

int noa_logql_parser_expect_punct(struct noa_logql_parser *p, const char *op, const char *expecting)
{
    if (!is_punct(cur(p), op))
        return noa_logql_parser_syntax(p, expecting ? expecting : op);
    next(p);
    return 0;
}

int noa_logql_parser_enter(struct noa_logql_parser *p)
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

struct noa_logql_str noa_logql_parser_take_str(struct noa_logql_tok *t)
{
    struct noa_logql_str s;
    s.len = t->sval.len;
    s.p = noa_xmalloc(s.len + 1);
    if (s.len)
        memcpy(s.p, t->sval.data, s.len);
    s.p[s.len] = 0;
    return s;
}

char *noa_logql_parser_tok_text(const struct noa_logql_parser *p, const struct noa_logql_tok *t)
{
    return noa_xstrndup(p->lx.q + t->off, t->len);
}

void noa_logql_parser_labels_push(struct noa_logql_labels *l, char *name)
{
    l->v = noa_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = name;
}

/* ---- freeing
 * ------------------------------------------------------------------ */

static void labels_fini(struct noa_logql_labels *l)
{
    for (unsigned i = 0; i < l->n; i++)
        noa_free(l->v[i]);
    noa_free(l->v);
    l->v = NULL;
    l->n = 0;
}

void noa_logql_parser_matcher_fini(struct noa_matcher *m)
{
    noa_free(m->name);
    noa_free(m->value);
    noa_regex_free(m->re);
    memset(m, 0, sizeof(*m));
}

void noa_logql_parser_lf_free(struct noa_logql_label_filter *f)
{
    if (!f)
        return;
    noa_logql_parser_lf_free(f->left);
    noa_logql_parser_lf_free(f->right);
    noa_free(f->name);
    noa_logql_parser_matcher_fini(&f->matcher);
    noa_free(f->ip.p);
    noa_free(f);
}

static void stage_fini(struct noa_logql_stage *s)
{
    for (unsigned i = 0; i < s->line.n; i++)
        noa_free(s->line.v[i].value.p);
    noa_free(s->line.v);
    noa_logql_parser_lf_free(s->filter);
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
        noa_logql_parser_matcher_fini(&s->names[i].matcher);
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
        noa_logql_parser_lf_free(e->post_filters[i]);
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

struct noa_logql_expr *noa_logql_parser_new_expr(enum noa_logql_kind kind)
{
    struct noa_logql_expr *e = noa_xcalloc(1, sizeof(*e));
    e->kind = kind;
    return e;
}
