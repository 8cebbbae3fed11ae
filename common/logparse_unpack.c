/*
 * `| unpack` (see logparse.h): the string members of a JSON object
 * become labels, and an `_entry` member replaces the line (Promtail's
 * pack stage undone). Uses the JSON scanner of logparse_json.c; the new
 * line lives in the caller's builder scratch. Caller's thread.
 */
#include "common/logparse_int.h"

#include <string.h>

struct junpack {
    struct noa__logparse_run *ps;
    struct noa_lbuilder *lb; /* NULL on the first pass */
    int has_entry;
};

static int junpack_member(void *ctx, struct noa__logparse_jscan *s, struct noa_str key, int esc,
                          int depth)
{
    struct junpack *u = ctx;
    struct noa__logparse_run *ps = u->ps;
    if (s->p[s->i] != '"')
        return noa__logparse_jskip(s, depth + 1); /* only string values are unpacked */
    struct noa_str raw;
    int vfl;
    if (noa__logparse_jstring(s, &raw, &vfl))
        return -1;
    int vesc = vfl & NOA__JSTR_ESC;
    if (esc) {
        if (noa__logparse_unescape(key, ps->tmp))
            return noa__logparse_jfail(s, NOA__JERR_OBJ);
        key = noa__logparse_bstr(ps->tmp);
    }
    int is_entry = noa_str_eq_c(key, "_entry");
    if (!u->lb) {
        if (is_entry) { /* a repeated _entry overwrites, as Loki's loop does */
            u->has_entry = 1;
            if (vesc && noa__logparse_unescape(raw, ps->line_out))
                return noa__logparse_jfail(s, NOA__JERR_STR);
            if (!vesc) {
                noa_buf_reset(ps->line_out);
                noa_buf_append(ps->line_out, raw.p, raw.len);
            }
        }
        return 0;
    }
    if (is_entry)
        return 0;
    if (vesc) {
        if (noa__logparse_unescape(raw, ps->val))
            return noa__logparse_jfail(s, NOA__JERR_STR);
        raw = noa__logparse_bstr(ps->val);
    }
    noa_logparse_sanitize(key, 1, ps->key);
    if (ps->key->len)
        noa_lbuilder_add_parsed(u->lb, noa__logparse_bstr(ps->key),
                                noa__logparse_clean_value(raw, ps->name));
    return 0;
}

void noa__logparse_unpack_run(struct noa__logparse_run *ps, struct noa_str *line,
                              struct noa_lbuilder *lb)
{
    if (line->len == 0)
        return;
    struct noa__logparse_jscan s = {line->p, line->len, 0, NULL};
    struct junpack u = {ps, NULL, 0};
    if (line->p[0] != '{') { /* the first byte, no whitespace allowed */
        noa__logparse_set_error(lb, NOA_LB_ERR_JSON, "expecting json object(6), but it is not");
        return;
    }
    size_t start = s.i;
    if (noa__logparse_jobject(&s, junpack_member, &u, 0)) {
        noa__logparse_set_error(lb, NOA_LB_ERR_JSON, s.err ? s.err : NOA__JERR_OBJ);
        return;
    }
    if (!u.has_entry)
        return;
    s.i = start;
    u.lb = lb;
    noa__logparse_jobject(&s, junpack_member, &u, 0);
    *line = noa__logparse_bstr(ps->line_out);
}
