/*
 * `| regexp "re"` and `| pattern "p"` (see logparse.h), and Loki's
 * pattern language, which the `|>` line filter shares: a pattern compiles
 * to literals and captures, matched left to right with memmem. Compiled
 * parsers are immutable; runs use the caller's builder and thread.
 */
#include "common/labels.h"
#include "common/logparse_int.h"
#include "common/mem.h"
#include "common/regex.h"

#include <string.h>

/* ---- pattern language ---- */

static int ident_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int ident_char(unsigned char c)
{
    return ident_start(c) || (c >= '0' && c <= '9');
}

/* Length of a capture `<name>` at p, 0 when p does not start one. */
static size_t capture_len(const char *p, size_t n)
{
    if (n < 3 || p[0] != '<' || !ident_start((unsigned char)p[1]))
        return 0;
    size_t i = 2;
    while (i < n && ident_char((unsigned char)p[i]))
        i++;
    return i < n && p[i] == '>' ? i + 1 : 0;
}

int noa_logparse_pattern_compile(struct noa_str src, int for_line_filter, struct noa_pattern *out,
                                 struct noa_error *err)
{
    int rc = 0;
    memset(out, 0, sizeof(*out));
    out->src = noa_xstrndup(src.p ? src.p : "", src.len);
    out->node = noa_xcalloc(src.len + 1, sizeof(*out->node));
    const char *p = out->src;
    size_t n = src.len;
    for (size_t i = 0; i < n;) {
        size_t cl = capture_len(p + i, n - i);
        struct noa_pattern_node *prev = out->n ? &out->node[out->n - 1] : NULL;
        if (!cl) {
            if (prev && prev->kind == NOA_PATTERN_LIT) {
                prev->text.len++;
            } else {
                out->node[out->n++] = (struct noa_pattern_node){NOA_PATTERN_LIT, {p + i, 1}};
            }
            i++;
            continue;
        }
        struct noa_str name = {p + i + 1, cl - 2};
        int skip = noa_str_eq_c(name, "_");
        if (prev && prev->kind != NOA_PATTERN_LIT) {
            rc = noa_error_set(err, NOA_EINVAL, "found consecutive capture: invalid expression");
            goto fail;
        }
        if (!skip && for_line_filter) {
            rc = noa_error_set(err, NOA_EINVAL, "named captures are not allowed");
            goto fail;
        }
        for (unsigned k = 0; !skip && k < out->n; k++) {
            if (out->node[k].kind == NOA_PATTERN_CAPTURE && noa_str_eq(out->node[k].text, name)) {
                rc = noa_error_set(err, NOA_EINVAL,
                                   "duplicate capture name (%.*s): invalid expression",
                                   (int)name.len, name.p);
                goto fail;
            }
        }
        out->node[out->n++] =
            (struct noa_pattern_node){skip ? NOA_PATTERN_SKIP : NOA_PATTERN_CAPTURE, name};
        if (!skip)
            out->ncaptures++;
        i += cl;
    }
    if (!for_line_filter && out->ncaptures == 0) {
        rc = noa_error_set(err, NOA_EINVAL, "at least one capture is required");
        goto fail;
    }
    return 0;
fail:
    noa_logparse_pattern_fini(out);
    return rc;
}

void noa_logparse_pattern_fini(struct noa_pattern *p)
{
    noa_free(p->src);
    noa_free(p->node);
    memset(p, 0, sizeof(*p));
}

int noa_logparse_pattern_test(const struct noa_pattern *p, const char *line, size_t len)
{
    if (len == 0 || p->n == 0)
        return len == 0 && p->n == 0;
    size_t off = 0;
    for (unsigned i = 0; i < p->n; i++) {
        const struct noa_pattern_node *nd = &p->node[i];
        if (nd->kind != NOA_PATTERN_LIT)
            continue;
        const char *hit = memmem(line + off, len - off, nd->text.p, nd->text.len);
        if (!hit)
            return 0;
        size_t j = (size_t)(hit - (line + off));
        /* A literal right at the cursor (after the first node) means an
         * empty capture between literals: no match. */
        if (i != 0 && j == 0)
            return 0;
        off += j + nd->text.len;
    }
    int ends_lit = p->node[p->n - 1].kind == NOA_PATTERN_LIT;
    return (len - off == 0) == ends_lit;
}

void noa__logparse_pattern_run(struct noa__logparse_run *ps, struct noa_str line,
                               struct noa_lbuilder *lb)
{
    const struct noa_pattern *p = &ps->cfg->pat;
    if (line.len == 0)
        return;
    size_t pos = 0;
    unsigned i = 0;
    if (p->node[0].kind == NOA_PATTERN_LIT) {
        struct noa_str lit = p->node[0].text;
        if (line.len < lit.len || memcmp(line.p, lit.p, lit.len))
            return;
        pos = lit.len;
        i = 1;
    }
    for (; i < p->n; i++) {
        const struct noa_pattern_node *cap = &p->node[i];
        if (cap->kind == NOA_PATTERN_LIT)
            continue; /* consumed with the capture before it */
        struct noa_str val = {line.p + pos, line.len - pos};
        int stop = 1;
        if (i + 1 < p->n) {
            struct noa_str lit = p->node[i + 1].text;
            const char *hit = memmem(line.p + pos, line.len - pos, lit.p, lit.len);
            if (hit) {
                val.len = (size_t)(hit - (line.p + pos));
                pos += val.len + lit.len;
                stop = 0;
            }
        }
        if (cap->kind == NOA_PATTERN_CAPTURE)
            noa_lbuilder_set_parsed(lb, cap->text, noa__logparse_clean_value(val, ps->val));
        if (stop)
            return;
    }
}

/* ---- | regexp ---- */

void noa__logparse_regexp_run(struct noa__logparse_run *ps, struct noa_str line,
                              struct noa_lbuilder *lb)
{
    if (!noa_regex_exec(ps->cfg->re, line.p, line.len, ps->groups, ps->cfg->ngroups))
        return;
    for (unsigned i = 1; i < ps->cfg->ngroups; i++) {
        if (!ps->cfg->gname[i].p)
            continue;
        struct noa_str v = ps->groups[i].p ? ps->groups[i] : (struct noa_str){"", 0};
        noa_lbuilder_set_parsed(lb, ps->cfg->gname[i], noa__logparse_clean_value(v, ps->line));
    }
}

int noa__logparse_regexp_setup(struct noa_logparse *ps, struct noa_str src,
                               struct noa_error *err)
{
    int rc = noa_regex_compile(src.p ? src.p : "", src.len, 0, &ps->re, err);
    if (rc)
        return rc;
    ps->ngroups = noa_regex_groups(ps->re) + 1;
    ps->gname = noa_xcalloc(ps->ngroups, sizeof(*ps->gname));
    ps->gnamebuf = noa_xmalloc(src.len + ps->ngroups + 1);
    size_t used = 0;
    unsigned named = 0;
    for (unsigned i = 1; i < ps->ngroups; i++) {
        struct noa_str nm;
        if (!noa_regex_group_name(ps->re, i, &nm))
            continue;
        if (!noa_label_name_valid(nm))
            return noa_error_set(err, NOA_EINVAL, "invalid extracted label name '%.*s'",
                                 (int)nm.len, nm.p);
        memcpy(ps->gnamebuf + used, nm.p, nm.len);
        ps->gname[i] = (struct noa_str){ps->gnamebuf + used, nm.len};
        used += nm.len;
        named++;
    }
    if (!named)
        return noa_error_set(err, NOA_EINVAL, "at least one named capture must be supplied");
    return 0;
}
