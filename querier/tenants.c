/*
 * Multi-tenant query helpers (querier/tenants.h): parse `a|b` as dskit's
 * TenantIDs, apply `__tenant_id__` matchers as Loki's
 * filterValuesByMatchers, relabel streams as Loki's TenantEntryIterator.
 * Pure; any thread. Owns the tenant strings it returns.
 */
#include "querier/tenants.h"
#include "common/mem.h"
#include "ingester/validate.h"

#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void noa_tenants_fini(struct noa_tenants *t)
{
    for (unsigned i = 0; i < t->n; i++)
        noa_free(t->ids[i]);
    noa_free(t->ids);
    t->ids = NULL;
    t->n = 0;
}

int noa_tenants_parse(const char *header, size_t len, int auth_enabled, struct noa_tenants *out,
                      struct noa_error *err)
{
    char one[NOA_VALIDATE_TENANT_MAX + 1];
    char *part = NULL;
    int rc = 0;
    memset(out, 0, sizeof(*out));
    if (!auth_enabled) {
        out->ids = noa_xmalloc(sizeof(*out->ids));
        out->ids[0] = noa_xstrdup("fake");
        out->n = 1;
        return 0;
    }
    if (!header || !len)
        return noa_error_set(err, NOA_EAUTH, "no org id");
    /* At most one tenant per byte pair ("a|"), so this bounds the array. */
    size_t cap = len / 2 + 1;
    out->ids = noa_xmalloc(cap * sizeof(*out->ids));
    for (size_t i = 0; i <= len;) {
        const char *bar = memchr(header + i, '|', len - i);
        size_t n = bar ? (size_t)(bar - (header + i)) : len - i;
        if (n) {
            part = noa_xstrndup(header + i, n);
            rc = noa_validate_tenant(part, 1, one, sizeof(one), err);
            noa_free(part);
            if (rc < 0)
                goto fail;
            out->ids[out->n++] = noa_xstrdup(one);
        }
        i += n + 1;
    }
    if (!out->n) {
        rc = noa_error_set(err, NOA_EAUTH, "no org id");
        goto fail;
    }
    qsort(out->ids, out->n, sizeof(*out->ids), cmp_str);
    unsigned w = 1;
    for (unsigned r = 1; r < out->n; r++) {
        if (strcmp(out->ids[r], out->ids[w - 1]) == 0)
            noa_free(out->ids[r]);
        else
            out->ids[w++] = out->ids[r];
    }
    out->n = w;
    return 0;
fail:
    noa_tenants_fini(out);
    return rc;
}

int noa_tenants_filter_selector(struct noa_tenants *t, struct noa_selector *sel,
                                struct noa_error *err)
{
    struct noa_selector dropped = {0};
    unsigned w = 0;
    dropped.m = noa_xmalloc((sel->n ? sel->n : 1) * sizeof(*dropped.m));
    for (unsigned r = 0; r < sel->n; r++) {
        struct noa_matcher *m = &sel->m[r];
        if (strcmp(m->name, NOA_TENANTS_LABEL) == 0) {
            unsigned keep = 0;
            for (unsigned i = 0; i < t->n; i++) {
                if (noa_matcher_matches(m, noa_str_c(t->ids[i])))
                    t->ids[keep++] = t->ids[i];
                else
                    noa_free(t->ids[i]);
            }
            t->n = keep;
            dropped.m[dropped.n++] = *m;
            continue;
        }
        if (strcmp(m->name, NOA_TENANTS_ORIGINAL_LABEL) == 0) {
            noa_free(m->name);
            m->name = noa_xstrdup(NOA_TENANTS_LABEL);
        }
        sel->m[w++] = *m;
    }
    sel->n = w;
    noa_selector_fini(&dropped);
    /* What is left must still be a valid selector, as Loki re-parses it. */
    for (unsigned i = 0; i < sel->n; i++)
        if (!noa_matcher_matches_empty(&sel->m[i]))
            return 0;
    return noa_error_set(err, NOA_EINVAL,
                         "log selector is invalid after matcher update: parse error : queries "
                         "require at least one regexp or equality matcher that does not have an "
                         "empty-compatible value. For instance, app=~\".*\" does not meet this "
                         "requirement, but app=~\".+\" will");
}

uint32_t noa_tenants_relabel(const struct noa_labels *in, const char *tenant,
                             struct noa_label *out, uint32_t cap)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < in->n && n + 1 < cap; i++) {
        out[n] = in->v[i];
        if (noa_str_eq(in->v[i].name, NOA_STR(NOA_TENANTS_LABEL)))
            out[n].name = NOA_STR(NOA_TENANTS_ORIGINAL_LABEL);
        n++;
    }
    if (n < cap)
        out[n++] = (struct noa_label){NOA_STR(NOA_TENANTS_LABEL), noa_str_c(tenant)};
    struct noa_labels tmp = {out, n};
    noa_labels_sort(&tmp);
    return n;
}
