/*
 * The ruler inside noa-server: builds the ruler's options from the server
 * config (ruler.*, the derived rules directory) and gives it a metric
 * source over the real storage (querier/metric_store.h), one tenant per
 * rule group. Created on the loop thread with the other APIs; the ruler
 * thread starts once the ingester has replayed its WAL and stops before
 * the ingester closes.
 */
#ifndef NOA_QUERIER_RULER_STORE_H
#define NOA_QUERIER_RULER_STORE_H

#include "common/http_server.h"
#include "ingester/ingester.h"
#include "querier/ruler.h"
#include "querier/server_config.h"

struct noa_ruler_store;

/* Creates the ruler from c and registers its routes on srv. Returns 0 or
 * a negative code (bad alertmanager or remote-write URL: NOA_EINVAL). */
int noa_ruler_store_new(const struct noa_server_config *c, struct noa_http_server *srv,
                        struct noa_ruler_store **out);

/* Hands over the ready ingester (borrowed until _free) and starts evaluating. */
int noa_ruler_store_start(struct noa_ruler_store *rs, struct noa_ingester *ing);

/* Stops the ruler thread (waiting for an evaluation in progress) and frees
 * everything; call before the ingester closes. NULL is a no-op. */
void noa_ruler_store_free(struct noa_ruler_store *rs);

#endif
