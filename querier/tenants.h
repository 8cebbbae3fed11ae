/*
 * Multi-tenant queries as Loki's MultiTenantQuerier runs them: the
 * X-Scope-OrgID of a query may name several tenants (`a|b`); each is
 * queried on its own and the results merged, log streams gaining a
 * `__tenant_id__` label. Pure functions over the caller's data; any thread.
 */
#ifndef NOA_QUERIER_TENANTS_H
#define NOA_QUERIER_TENANTS_H

#include "common/err.h"
#include "common/labels.h"
#include "common/selector.h"

#include <stddef.h>
#include <stdint.h>

/* The label Loki adds to every stream of a multi-tenant query. */
#define NOA_TENANTS_LABEL "__tenant_id__"
/* An existing `__tenant_id__` label is kept under this name. */
#define NOA_TENANTS_ORIGINAL_LABEL "original___tenant_id__"

struct noa_tenants {
    char **ids; /* owned, sorted, distinct, NUL-terminated */
    unsigned n; /* >= 1 after a successful parse */
};

/*
 * dskit's tenant.TenantIDs over the header value (NULL when absent): split
 * on '|', every part checked with dskit's rules (noa_validate_tenant's:
 * letters, digits and !-_.*'(); at most 150 bytes; not "." or ".."), then
 * sorted and deduplicated. Empty parts ("a||b") are skipped: no data is
 * ever stored under an empty tenant. With auth disabled the header is
 * ignored and the single tenant is "fake", as Loki.
 * Errors: NOA_EAUTH "no org id" for a missing/empty header (401),
 * NOA_EINVAL with dskit's text for a bad part. out needs no
 * initialisation; call noa_tenants_fini on success.
 */
int noa_tenants_parse(const char *header, size_t len, int auth_enabled, struct noa_tenants *out,
                      struct noa_error *err);

void noa_tenants_fini(struct noa_tenants *t);

/*
 * Loki's filterValuesByMatchers for a multi-tenant log query: tenants that
 * fail a `__tenant_id__` matcher are dropped from t, those matchers are
 * removed from sel, and `original___tenant_id__` matchers are renamed to
 * `__tenant_id__` (they then match the streams' own label). Call only when
 * t->n > 1 (a single tenant leaves the query untouched in Loki).
 * Returns 0, or NOA_EINVAL with Loki's message when what is left of sel
 * no longer has a matcher that rejects the empty value.
 */
int noa_tenants_filter_selector(struct noa_tenants *t, struct noa_selector *sel,
                                struct noa_error *err);

/*
 * Loki's relabel of a stream from tenant `tenant`: in (sorted) plus
 * `__tenant_id__="tenant"`, an existing `__tenant_id__` moved to
 * `original___tenant_id__`. Writes up to cap labels to out, sorted, and
 * returns the count; strings are borrowed from in and tenant.
 */
uint32_t noa_tenants_relabel(const struct noa_labels *in, const char *tenant,
                             struct noa_label *out, uint32_t cap);

#endif
