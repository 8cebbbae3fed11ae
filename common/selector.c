/*
 * Stream selector parsing and label matching. A parsed selector owns its
 * strings and compiled regexes; matching is read-only and thread-safe.
 */
#include "common/selector.h"
#include "common/mem.h"
#include "common/regex.h"

#include <stdio.h>

struct cursor {
    const char *t;
    size_t len;
    size_t i;
};

static void position(const struct cursor *c, size_t at, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t k = 0; k < at && k < c->len; k++) {
        if (c->t[k] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static int syntax_error(struct noa_error *err, const struct cursor *c, const char *what)
{
    int line, col;
    position(c, c->i, &line, &col);
    if (c->i >= c->len)
        return noa_error_set_at(err, NOA_EINVAL, line, col,
                                "parse error at line %d, col %d: syntax error: unexpected $end%s%s",
                                line, col, *what ? ", " : "", what);
    return noa_error_set_at(err, NOA_EINVAL, line, col,
                            "parse error at line %d, col %d: syntax error: unexpected %c%s%s", line,
                            col, c->t[c->i], *what ? ", " : "", what);
}

static void skip_ws(struct cursor *c)
{
    while (c->i < c->len) {
        char ch = c->t[c->i];
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
            c->i++;
        } else if (ch == '#') { /* LogQL comments run to the end of the line */
            while (c->i < c->len && c->t[c->i] != '\n')
                c->i++;
        } else {
            break;
        }
    }
}

static int is_name_start(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static int is_name_char(char ch)
{
    return is_name_start(ch) || (ch >= '0' && ch <= '9');
}

static void matcher_fini(struct noa_matcher *m)
{
    noa_free(m->name);
    noa_free(m->value);
    noa_regex_free(m->re);
}

void noa_selector_fini(struct noa_selector *sel)
{
    for (unsigned k = 0; k < sel->n; k++)
        matcher_fini(&sel->m[k]);
    noa_free(sel->m);
    sel->m = NULL;
    sel->n = 0;
}

static int parse_matcher(struct cursor *c, struct noa_matcher *m, struct noa_error *err)
{
    struct noa_buf val = {0};
    int rc;
    size_t ns = c->i;
    if (c->i >= c->len || !is_name_start(c->t[c->i]))
        return syntax_error(err, c, "expecting IDENTIFIER");
    while (c->i < c->len && is_name_char(c->t[c->i]))
        c->i++;
    size_t ne = c->i;
    skip_ws(c);
    if (c->i + 1 < c->len && c->t[c->i] == '=' && c->t[c->i + 1] == '~') {
        m->type = NOA_MATCH_RE;
        c->i += 2;
    } else if (c->i + 1 < c->len && c->t[c->i] == '!' && c->t[c->i + 1] == '~') {
        m->type = NOA_MATCH_NRE;
        c->i += 2;
    } else if (c->i + 1 < c->len && c->t[c->i] == '!' && c->t[c->i + 1] == '=') {
        m->type = NOA_MATCH_NEQ;
        c->i += 2;
    } else if (c->i < c->len && c->t[c->i] == '=') {
        m->type = NOA_MATCH_EQ;
        c->i += 1;
    } else {
        return syntax_error(err, c, "expecting = or != or =~ or !~");
    }
    skip_ws(c);
    if (c->i >= c->len || (c->t[c->i] != '"' && c->t[c->i] != '`'))
        return syntax_error(err, c, "expecting STRING");
    size_t vs = c->i;
    if (noa_labels_unquote(c->t, c->len, &c->i, &val) < 0) {
        c->i = vs;
        rc = syntax_error(err, c, "invalid string literal");
        goto fail;
    }
    m->name = noa_xstrndup(c->t + ns, ne - ns);
    m->value_len = val.len;
    m->value = noa_xstrndup(val.data ? val.data : "", val.len);
    if (m->type == NOA_MATCH_RE || m->type == NOA_MATCH_NRE) {
        struct noa_error rerr = {0};
        rc = noa_regex_compile(m->value, m->value_len, NOA_REGEX_ANCHORED, &m->re, &rerr);
        if (rc < 0) {
            int line, col;
            c->i = vs;
            position(c, vs, &line, &col);
            rc = noa_error_set_at(err, NOA_EINVAL, line, col,
                                  "parse error at line %d, col %d: %s", line, col, rerr.msg);
            goto fail;
        }
    }
    noa_buf_fini(&val);
    return 0;
fail:
    noa_buf_fini(&val);
    matcher_fini(m);
    memset(m, 0, sizeof(*m));
    return rc;
}

int noa_selector_parse(const char *text, size_t len, size_t *pos, struct noa_selector *out,
                       struct noa_error *err)
{
    struct cursor c = {text, len, *pos};
    unsigned cap = 0;
    int rc;
    out->m = NULL;
    out->n = 0;
    skip_ws(&c);
    if (c.i >= c.len || c.t[c.i] != '{')
        return syntax_error(err, &c, "expecting {");
    c.i++;
    for (;;) {
        skip_ws(&c);
        if (c.i < c.len && c.t[c.i] == '}' && out->n > 0) {
            c.i++;
            break;
        }
        if (out->n > 0) {
            if (c.i >= c.len || c.t[c.i] != ',') {
                rc = syntax_error(err, &c, "expecting , or }");
                goto fail;
            }
            c.i++;
            skip_ws(&c);
        }
        if (c.i < c.len && c.t[c.i] == '}' && out->n == 0) {
            rc = noa_error_set(err, NOA_EINVAL,
                               "parse error : queries require at least one regexp or equality "
                               "matcher that does not have an empty-compatible value. For "
                               "instance, app=~\".*\" does not meet this requirement, but "
                               "app=~\".+\" will");
            goto fail;
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 4;
            out->m = noa_xrealloc(out->m, cap * sizeof(*out->m));
        }
        memset(&out->m[out->n], 0, sizeof(out->m[0]));
        rc = parse_matcher(&c, &out->m[out->n], err);
        if (rc < 0)
            goto fail;
        out->n++;
    }
    int any_selective = 0;
    for (unsigned k = 0; k < out->n; k++)
        if (!noa_matcher_matches_empty(&out->m[k]))
            any_selective = 1;
    if (!any_selective) {
        rc = noa_error_set(err, NOA_EINVAL,
                           "parse error : queries require at least one regexp or equality matcher "
                           "that does not have an empty-compatible value. For instance, "
                           "app=~\".*\" does not meet this requirement, but app=~\".+\" will");
        goto fail;
    }
    *pos = c.i;
    return 0;
fail:
    noa_selector_fini(out);
    return rc;
}

int noa_selector_parse_str(const char *text, struct noa_selector *out, struct noa_error *err)
{
    size_t len = strlen(text), pos = 0;
    int rc = noa_selector_parse(text, len, &pos, out, err);
    if (rc < 0)
        return rc;
    struct cursor c = {text, len, pos};
    skip_ws(&c);
    if (c.i != len) {
        noa_selector_fini(out);
        return syntax_error(err, &c, "");
    }
    return 0;
}

int noa_matcher_matches(const struct noa_matcher *m, struct noa_str value)
{
    switch (m->type) {
    case NOA_MATCH_EQ:
        return value.len == m->value_len && (!value.len || !memcmp(value.p, m->value, value.len));
    case NOA_MATCH_NEQ:
        return !(value.len == m->value_len &&
                 (!value.len || !memcmp(value.p, m->value, value.len)));
    case NOA_MATCH_RE:
        return noa_regex_match(m->re, value.p ? value.p : "", value.len);
    case NOA_MATCH_NRE:
        return !noa_regex_match(m->re, value.p ? value.p : "", value.len);
    }
    return 0;
}

int noa_matcher_matches_empty(const struct noa_matcher *m)
{
    return noa_matcher_matches(m, (struct noa_str){"", 0});
}

int noa_selector_matches(const struct noa_selector *sel, const struct noa_labels *ls)
{
    for (unsigned k = 0; k < sel->n; k++) {
        const struct noa_matcher *m = &sel->m[k];
        struct noa_str v = noa_labels_get(ls, noa_str_c(m->name));
        if (!noa_matcher_matches(m, v))
            return 0;
    }
    return 1;
}

void noa_selector_format(const struct noa_selector *sel, struct noa_buf *out)
{
    static const char *const ops[] = {"=", "!=", "=~", "!~"};
    noa_buf_putc(out, '{');
    for (unsigned k = 0; k < sel->n; k++) {
        if (k)
            noa_buf_append(out, ", ", 2);
        noa_buf_printf(out, "%s%s", sel->m[k].name, ops[sel->m[k].type]);
        noa_buf_put_go_quoted(out, (struct noa_str){sel->m[k].value, sel->m[k].value_len});
    }
    noa_buf_putc(out, '}');
}
