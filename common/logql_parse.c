/*
 * LogQL parser, log half: stream selectors, line filters, parsers, label
 * filters and the other pipeline stages, with the checks Loki's ParseExpr
 * makes on them (empty-compatible selectors, regexp and pattern captures).
 * Recursive descent over the lexer's tokens (logql_parser.h). Pure; runs
 * on the caller's thread.
 */
#include "common/logql_parser.h"
#include "common/mem.h"
#include "common/regex.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- matchers and selectors
 * ------------------------------------------------------ */

static const char *const empty_selector_msg =
    "queries require at least one regexp or equality matcher that does not "
    "have an "
    "empty-compatible value. For instance, app=~\".*\" does not meet this "
    "requirement, but "
    "app=~\".+\" will";

/* Fills m from name (taken), op text and the current STRING token. */
static int make_matcher(struct noa_logql_parser *p, struct noa_matcher *m, char *name,
                        const char *op)
{
    struct noa_logql_tok *t = cur(p);
    memset(m, 0, sizeof(*m));
    m->name = name;
    m->type = !strcmp(op, "=")    ? NOA_MATCH_EQ
              : !strcmp(op, "!=") ? NOA_MATCH_NEQ
              : !strcmp(op, "=~") ? NOA_MATCH_RE
                                  : NOA_MATCH_NRE;
    struct noa_logql_str v = noa_logql_parser_take_str(t);
    m->value = v.p;
    m->value_len = v.len;
    next(p);
    if (m->type == NOA_MATCH_RE || m->type == NOA_MATCH_NRE) {
        struct noa_error rerr = {0};
        if (noa_regex_compile(m->value, m->value_len, NOA_REGEX_ANCHORED, &m->re, &rerr) < 0) {
            noa_logql_parser_matcher_fini(m);
            return noa_logql_parser_invalid(p, "%s", rerr.msg);
        }
    }
    return 0;
}

/* IDENT op STRING inside a selector. */
static int parse_matcher(struct noa_logql_parser *p, struct noa_matcher *m)
{
    struct noa_logql_tok *t = cur(p);
    if (!t || t->type != NOA_LOGQL_T_IDENT)
        return noa_logql_parser_syntax(p, "IDENTIFIER");
    char *name = noa_logql_parser_tok_text(p, t);
    next(p);
    t = cur(p);
    if (!t || !(is_punct(t, "=") || is_punct(t, "!=") || is_punct(t, "=~") || is_punct(t, "!~"))) {
        noa_free(name);
        return noa_logql_parser_syntax(p, "= or != or =~ or !~");
    }
    char op[24];
    snprintf(op, sizeof(op), "%s", t->op);
    next(p);
    t = cur(p);
    if (!t || t->type != NOA_LOGQL_T_STRING) {
        noa_free(name);
        return noa_logql_parser_syntax(p, "STRING");
    }
    return make_matcher(p, m, name, op);
}

static int parse_selector(struct noa_logql_expr *e, struct noa_logql_parser *p)
{
    struct noa_selector *sel = &e->selector;
    unsigned cap = 0;
    int rc;
    next(p); /* { */
    if (is_punct(cur(p), "}")) {
        next(p);
        return noa_logql_parser_invalid(p, "%s", empty_selector_msg);
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
            return noa_logql_parser_syntax(p, "} or ,");
        next(p);
    }
    for (unsigned i = 0; i < sel->n; i++)
        if (!noa_matcher_matches_empty(&sel->m[i]))
            return 0;
    return noa_logql_parser_invalid(p, "%s", empty_selector_msg);
}

/* ---- label filters
 * --------------------------------------------------------------- */

static int cmp_of(const char *op, enum noa_logql_cmp *c)
{
    static const char *const ops[] = {"==", "!=", ">", ">=", "<", "<=", NULL};
    if (!strcmp(op, "=")) {
        *c = NOA_LOGQL_CMP_EQ;
        return 0;
    }
    int i = noa_logql_parser_find_name(ops, op);
    if (i < 0)
        return -1;
    *c = (enum noa_logql_cmp)i;
    return 0;
}

/* IDENT cmp value, or '(' filter ')'. */
static int parse_lf_leaf(struct noa_logql_parser *p, struct noa_logql_label_filter **out)
{
    struct noa_logql_tok *t = cur(p);
    struct noa_logql_label_filter *f = NULL;
    int rc;
    if (is_punct(t, "(")) {
        if ((rc = noa_logql_parser_enter(p)) < 0)
            return rc;
        next(p);
        if ((rc = noa_logql_parse_label_filter(p, out)) < 0)
            return rc;
        p->depth--;
        if ((rc = noa_logql_parser_expect_punct(p, ")", ")")) < 0) {
            noa_logql_parser_lf_free(*out);
            *out = NULL;
        }
        return rc;
    }
    if (!t || t->type != NOA_LOGQL_T_IDENT)
        return noa_logql_parser_syntax(p, "IDENTIFIER");
    f = noa_xcalloc(1, sizeof(*f));
    f->name = noa_logql_parser_tok_text(p, t);
    next(p);
    t = cur(p);
    if (!t || t->type != NOA_LOGQL_T_PUNCT || cmp_of(t->op, &f->cmp) < 0) {
        if (is_punct(t, "=~") || is_punct(t, "!~"))
            goto string_filter;
        rc = noa_logql_parser_syntax(p, "= or != or =~ or !~ or == or > or >= or < or <=");
        goto fail;
    }
    char op[24];
    snprintf(op, sizeof(op), "%s", t->op);
    next(p);
    t = cur(p);
    if (t && t->type == NOA_LOGQL_T_STRING) {
        if (strcmp(op, "=") && strcmp(op, "!=")) {
            rc = noa_logql_parser_syntax(p, NULL);
            goto fail;
        }
        f->kind = NOA_LOGQL_LF_STRING;
        rc = make_matcher(p, &f->matcher, f->name, op);
        f->name = NULL;
        if (rc < 0)
            goto fail;
    } else if (is_func(t, "ip")) {
        if (strcmp(op, "=") && strcmp(op, "!=")) {
            rc = noa_logql_parser_syntax(p, NULL);
            goto fail;
        }
        f->kind = NOA_LOGQL_LF_IP;
        next(p);
        if ((rc = noa_logql_parser_expect_punct(p, "(", "(")) < 0)
            goto fail;
        t = cur(p);
        if (!t || t->type != NOA_LOGQL_T_STRING) {
            rc = noa_logql_parser_syntax(p, "STRING");
            goto fail;
        }
        f->ip = noa_logql_parser_take_str(t);
        next(p);
        if ((rc = noa_logql_parser_expect_punct(p, ")", ")")) < 0)
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
                rc = noa_logql_parser_syntax(p, "NUMBER");
                goto fail;
            }
        }
        f->kind = NOA_LOGQL_LF_NUMBER;
        f->number = sign * t->num;
        next(p);
    } else {
        rc = noa_logql_parser_syntax(p, "STRING or NUMBER or DURATION or BYTES or ip");
        goto fail;
    }
    *out = f;
    return 0;
string_filter:
    snprintf(op, sizeof(op), "%s", t->op);
    next(p);
    if (!cur(p) || cur(p)->type != NOA_LOGQL_T_STRING) {
        rc = noa_logql_parser_syntax(p, "STRING");
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
    noa_logql_parser_lf_free(f);
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
static int parse_lf_and(struct noa_logql_parser *p, struct noa_logql_label_filter **out)
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
            noa_logql_parser_lf_free(l);
            return rc;
        }
        l = lf_join(NOA_LOGQL_LF_AND, l, r);
    }
    *out = l;
    return 0;
}

int noa_logql_parse_label_filter(struct noa_logql_parser *p, struct noa_logql_label_filter **out)
{
    struct noa_logql_label_filter *l = NULL, *r = NULL;
    int rc = parse_lf_and(p, &l);
    if (rc < 0)
        return rc;
    while (is_kw(cur(p), "or")) {
        next(p);
        if ((rc = parse_lf_and(p, &r)) < 0) {
            noa_logql_parser_lf_free(l);
            return rc;
        }
        l = lf_join(NOA_LOGQL_LF_OR, l, r);
    }
    *out = l;
    return 0;
}

/* ---- stages
 * ------------------------------------------------------------------------ */

static const char *const line_ops[] = {"|=", "!=", "|~", "!~", "|>", "!>", NULL};

static int line_operand(struct noa_logql_parser *p, struct noa_logql_line_filter *lf)
{
    struct noa_logql_tok *t = cur(p);
    struct noa_logql_line_operand o = {{0}, 0};
    if (is_func(t, "ip")) {
        next(p);
        int rc = noa_logql_parser_expect_punct(p, "(", "(");
        if (rc < 0)
            return rc;
        t = cur(p);
        if (!t || t->type != NOA_LOGQL_T_STRING)
            return noa_logql_parser_syntax(p, "STRING");
        o.is_ip = 1;
        o.value = noa_logql_parser_take_str(t);
        next(p);
        if ((rc = noa_logql_parser_expect_punct(p, ")", ")")) < 0) {
            noa_free(o.value.p);
            return rc;
        }
    } else if (t && t->type == NOA_LOGQL_T_STRING) {
        o.value = noa_logql_parser_take_str(t);
        next(p);
    } else {
        return noa_logql_parser_syntax(p, "STRING or ip");
    }
    lf->v = noa_xrealloc(lf->v, (lf->n + 1) * sizeof(*lf->v));
    lf->v[lf->n++] = o;
    return 0;
}

static int parse_line_filter(struct noa_logql_parser *p, struct noa_logql_stage *s)
{
    int rc;
    s->kind = NOA_LOGQL_STAGE_LINE_FILTER;
    s->line.op = (enum noa_logql_line_op)noa_logql_parser_find_name(line_ops, cur(p)->op);
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
static int parse_extracts(struct noa_logql_parser *p, struct noa_logql_stage *s)
{
    while (cur(p) && cur(p)->type == NOA_LOGQL_T_IDENT) {
        struct noa_logql_tok *t = cur(p);
        struct noa_logql_extract x;
        x.name = noa_logql_parser_tok_text(p, t);
        next(p);
        if (is_punct(cur(p), "=")) {
            next(p);
            t = cur(p);
            if (!t || t->type != NOA_LOGQL_T_STRING) {
                noa_free(x.name);
                return noa_logql_parser_syntax(p, "STRING");
            }
            x.expr = noa_logql_parser_take_str(t);
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
            return noa_logql_parser_syntax(p, "IDENTIFIER");
    }
    return cur(p) ? 0 : NOA_EINVAL;
}

static int parse_label_fmt(struct noa_logql_parser *p, struct noa_logql_stage *s)
{
    for (;;) {
        struct noa_logql_tok *t = cur(p);
        struct noa_logql_label_fmt f = {0};
        if (!t || t->type != NOA_LOGQL_T_IDENT)
            return noa_logql_parser_syntax(p, "IDENTIFIER");
        f.dst = noa_logql_parser_tok_text(p, t);
        next(p);
        int rc = noa_logql_parser_expect_punct(p, "=", "=");
        t = cur(p);
        if (rc == 0 && t && t->type == NOA_LOGQL_T_IDENT) {
            f.rename = 1;
            f.value.p = noa_logql_parser_tok_text(p, t);
            f.value.len = t->len;
        } else if (rc == 0 && t && t->type == NOA_LOGQL_T_STRING) {
            f.value = noa_logql_parser_take_str(t);
        } else {
            noa_free(f.dst);
            return rc < 0 ? rc : noa_logql_parser_syntax(p, "STRING or IDENTIFIER");
        }
        next(p);
        s->fmts = noa_xrealloc(s->fmts, (s->n_fmts + 1) * sizeof(*s->fmts));
        s->fmts[s->n_fmts++] = f;
        if (!is_punct(cur(p), ","))
            return cur(p) ? 0 : NOA_EINVAL;
        next(p);
    }
}

static int parse_named(struct noa_logql_parser *p, struct noa_logql_stage *s)
{
    for (;;) {
        struct noa_logql_tok *t = cur(p);
        struct noa_logql_named nm;
        memset(&nm, 0, sizeof(nm));
        if (!t || t->type != NOA_LOGQL_T_IDENT)
            return noa_logql_parser_syntax(p, "IDENTIFIER");
        nm.name = noa_logql_parser_tok_text(p, t);
        next(p);
        t = cur(p);
        if (t &&
            (is_punct(t, "=") || is_punct(t, "!=") || is_punct(t, "=~") || is_punct(t, "!~"))) {
            char op[24];
            snprintf(op, sizeof(op), "%s", t->op);
            next(p);
            if (!cur(p) || cur(p)->type != NOA_LOGQL_T_STRING) {
                noa_free(nm.name);
                return noa_logql_parser_syntax(p, "STRING");
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
static int check_regexp(struct noa_logql_parser *p, const struct noa_logql_str *re)
{
    struct noa_regex *rx = NULL;
    struct noa_error rerr = {0};
    if (noa_regex_compile(re->p, re->len, 0, &rx, &rerr) < 0)
        return noa_logql_parser_invalid(p, "invalid regexp parser: %s", rerr.msg);
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
        return noa_logql_parser_invalid(
            p, "invalid regexp parser: at least one named capture must be supplied");
    return 0;
}

/* `| pattern`: >= 1 named capture, no two captures adjacent, unique names. */
static int check_pattern(struct noa_logql_parser *p, const struct noa_logql_str *pat)
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
            return noa_logql_parser_invalid(p, "invalid pattern parser: consecutive capture found");
        size_t nl = j - i - 1;
        const char *nm = pat->p + i + 1;
        if (!(nl == 1 && nm[0] == '_')) {
            for (unsigned k = 0; k < n_named; k++)
                if (lens[k] == nl && !memcmp(names[k], nm, nl))
                    return noa_logql_parser_invalid(
                        p, "invalid pattern parser: duplicate capture name (%.*s)", (int)nl, nm);
            if (n_named < 64) {
                names[n_named] = nm;
                lens[n_named++] = nl;
            }
        }
        prev_capture = 1;
        i = j + 1;
    }
    if (!n_named)
        return noa_logql_parser_invalid(p,
                                        "invalid pattern parser: at least one capture is required");
    return 0;
}

static int parse_string_arg(struct noa_logql_parser *p, struct noa_logql_stage *s)
{
    struct noa_logql_tok *t = cur(p);
    if (!t || t->type != NOA_LOGQL_T_STRING)
        return noa_logql_parser_syntax(p, "STRING");
    s->text = noa_logql_parser_take_str(t);
    next(p);
    return 0;
}

/* One stage after '|' (the '|' already consumed). */
static int parse_pipe_stage(struct noa_logql_parser *p, struct noa_logql_stage *s)
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
        return noa_logql_parse_label_filter(p, &s->filter);
    }
    return noa_logql_parser_syntax(p, NULL);
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
    return t && t->type == NOA_LOGQL_T_PUNCT && noa_logql_parser_find_name(line_ops, t->op) >= 0;
}

/*
 * Stages until something that is not a stage. A '|' followed by `unwrap`
 * stops the loop (with the '|' not consumed) so range parsing can take it.
 */
int noa_logql_parse_stages(struct noa_logql_parser *p, struct noa_logql_expr *e)
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
            if (rc == 0 && s.line.n > 1 &&
                (s.line.op == NOA_LOGQL_LINE_NOT_CONTAINS ||
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
int noa_logql_parse_log(struct noa_logql_parser *p, struct noa_logql_expr **out)
{
    struct noa_logql_expr *e = noa_logql_parser_new_expr(NOA_LOGQL_LOG);
    int rc = parse_selector(e, p);
    if (rc == 0)
        rc = noa_logql_parse_stages(p, e);
    if (rc < 0) {
        noa_logql_free(e);
        return rc;
    }
    *out = e;
    return 0;
}
