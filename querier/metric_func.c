/*
 * label_replace and vector() (querier/metric_func.h). label_replace maps
 * each series once (labels do not depend on the step) and copies its
 * points; two series that end up with the same labels share one output
 * series, the later one's points winning. Owned by one query thread.
 */
#include "querier/metric_func.h"

#include "common/mem.h"

#include <string.h>

static int name_char(unsigned char c)
{
    return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

void noa_metric_func_expand(const struct noa_regex *re, struct noa_str tpl,
                            const struct noa_str *groups, unsigned ngroups, struct noa_buf *out)
{
    size_t i = 0;
    while (i < tpl.len) {
        char c = tpl.p[i];
        if (c != '$') {
            noa_buf_putc(out, c);
            i++;
            continue;
        }
        if (i + 1 < tpl.len && tpl.p[i + 1] == '$') {
            noa_buf_putc(out, '$');
            i += 2;
            continue;
        }
        /* Go's extract: $name or ${name}, name = [A-Za-z0-9_]+. */
        int brace = i + 1 < tpl.len && tpl.p[i + 1] == '{';
        size_t start = i + 1 + (size_t)brace, end = start;
        while (end < tpl.len && name_char((unsigned char)tpl.p[end]))
            end++;
        int ok = end > start && (!brace || (end < tpl.len && tpl.p[end] == '}'));
        if (!ok) {
            noa_buf_putc(out, '$');
            i++;
            continue;
        }
        struct noa_str name = {tpl.p + start, end - start};
        i = end + (size_t)brace;
        long num = -1;
        int digits = 1;
        for (size_t k = 0; k < name.len; k++)
            digits &= name.p[k] >= '0' && name.p[k] <= '9';
        if (digits) {
            num = 0;
            for (size_t k = 0; k < name.len && num >= 0; k++) {
                num = num * 10 + (name.p[k] - '0');
                if (num > 100000000)
                    num = -1; /* Go gives up on huge numbers: no such group */
            }
        } else {
            num = noa_regex_group_index(re, name.p, name.len);
        }
        if (num >= 0 && (unsigned long)num < ngroups && groups[num].p)
            noa_buf_append_str(out, groups[num]);
    }
}

static int relabel(const struct noa_logql_expr *e, const struct noa_labels *in,
                   struct noa_str *groups, unsigned ngroups, struct noa_buf *val,
                   struct noa_labels *out)
{
    struct noa_str src = noa_labels_get(in, (struct noa_str){e->src.p, e->src.len});
    memcpy(out->v, in->v, sizeof(*in->v) * in->n);
    out->n = in->n;
    for (unsigned k = 0; k < ngroups; k++)
        groups[k] = (struct noa_str){0};
    if (!noa_regex_exec(e->re, src.p ? src.p : "", src.len, groups, ngroups))
        return 0;
    noa_buf_reset(val);
    noa_metric_func_expand(e->re, (struct noa_str){e->replacement.p, e->replacement.len}, groups,
                           ngroups, val);
    struct noa_str dst = {e->dst.p, e->dst.len}, v = {val->data, val->len};
    uint32_t j = 0;
    while (j < out->n && noa_str_cmp(out->v[j].name, dst) < 0)
        j++;
    int found = j < out->n && noa_str_eq(out->v[j].name, dst);
    if (v.len == 0) {
        /* An empty value deletes the label, as Prometheus' builder does. */
        if (found) {
            memmove(&out->v[j], &out->v[j + 1], sizeof(*out->v) * (out->n - j - 1));
            out->n--;
        }
    } else if (found) {
        out->v[j].value = v;
    } else {
        memmove(&out->v[j + 1], &out->v[j], sizeof(*out->v) * (out->n - j));
        out->v[j] = (struct noa_label){dst, v};
        out->n++;
    }
    return 1;
}

int noa_metric_func_label_replace(const struct noa_logql_expr *e, const struct noa_metric_set *in,
                                  struct noa_arena *arena, uint32_t max_series,
                                  struct noa_metric_set *out, struct noa_error *err)
{
    noa_metric_set_init(out, arena, in->nsteps, max_series);
    if (in->is_scalar)
        return noa_error_set(err, NOA_EINVAL, "unexpected scalar operand of label_replace");
    unsigned ngroups = noa_regex_groups(e->re) + 1;
    struct noa_str *groups = noa_xmalloc(sizeof(*groups) * ngroups);
    struct noa_buf val = {0};
    struct noa_labels ls = {0};
    uint32_t cap = 0;
    int rc = 0;
    out->sort_dir = in->sort_dir;
    for (uint32_t i = 0; i < in->n && rc == 0; i++) {
        const struct noa_metric_series *s = &in->s[i];
        if (s->labels.n + 1 > cap) {
            cap = s->labels.n + 1;
            ls.v = noa_xrealloc(ls.v, sizeof(*ls.v) * cap);
        }
        uint64_t h = s->hash;
        if (relabel(e, &s->labels, groups, ngroups, &val, &ls))
            h = noa_labels_hash(&ls);
        uint32_t idx;
        rc = noa_metric_set_get(out, &ls, h, &idx, err);
        for (uint32_t t = 0; rc == 0 && t < in->nsteps; t++) {
            if (!s->has[t])
                continue;
            out->s[idx].has[t] = 1;
            out->s[idx].v[t] = s->v[t];
        }
    }
    noa_free(ls.v);
    noa_buf_fini(&val);
    noa_free(groups);
    return rc;
}

void noa_metric_func_vector(double s, struct noa_arena *arena, uint32_t nsteps,
                            struct noa_metric_set *out)
{
    noa_metric_set_init(out, arena, nsteps, 0);
    struct noa_labels none = {0};
    uint32_t idx;
    struct noa_error ignored;
    noa_metric_set_get(out, &none, noa_labels_hash(&none), &idx, &ignored);
    for (uint32_t t = 0; t < nsteps; t++) {
        out->s[idx].has[t] = 1;
        out->s[idx].v[t] = s;
    }
}
