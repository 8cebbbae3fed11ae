/*
 * The metric engine's source over storage (querier/metric_source.h): the
 * streams of one or several tenants that match a log expression's
 * selector, found in the index and the ingester's memory, each read in
 * time order by querier/streamread.h. With several tenants every stream
 * gains `__tenant_id__` (Loki's MultiTenantQuerier), so one evaluation
 * covers them all.
 *
 * A store lives for one query and is used on that query's worker thread
 * (its parallel form also on threads it starts and joins per call).
 */
#ifndef NOA_QUERIER_METRIC_STORE_H
#define NOA_QUERIER_METRIC_STORE_H

#include "common/err.h"
#include "common/logql.h"
#include "ingester/ingester.h"
#include "querier/metric_range.h"
#include "querier/metric_source.h"
#include "querier/streamread.h"
#include "querier/tenants.h"

#include <stdint.h>

struct noa_metric_store_sel; /* private */

struct noa_metric_store {
    struct noa_ingester *ing;          /* borrowed */
    const struct noa_tenants *tenants; /* borrowed: sorted, distinct */
    int64_t deadline_ns;               /* CLOCK_MONOTONIC ns; 0 = none */
    struct noa_streamread_stats st;    /* figures, summed over every read */
    uint64_t streams;                  /* streams read */
    struct noa_error err;              /* a storage error's text */
    /* private */
    struct noa_metric_store_sel *sels;
    unsigned n_sels;
    struct noa_label *relabel;
    uint32_t cap_relabel;
};

/*
 * Initialises s for a query over tenants (several: multi-tenant, streams
 * relabelled). For a multi-tenant query the `__tenant_id__` matchers of
 * every selector of e are applied to the tenants and removed from the
 * selector (e is modified, as Loki rewrites the query); fails with
 * NOA_EINVAL and Loki's message when a selector is left without a matcher
 * that rejects the empty value. Call _fini whatever the result.
 */
int noa_metric_store_init(struct noa_metric_store *s, struct noa_ingester *ing,
                          const struct noa_tenants *tenants, struct noa_logql_expr *e,
                          int64_t deadline_ns, struct noa_error *err);

/* The engine's view of s (valid while s is), with its parallel form: the
 * streams of each tenant listed once and read by n threads, each stream
 * whole by one (metric_range.h); the store's figures are summed after the
 * threads are joined. */
struct noa_metric_source noa_metric_store_source(struct noa_metric_store *s);

void noa_metric_store_fini(struct noa_metric_store *s);

#endif
