/*
 * Loki's live tail, GET /loki/api/v1/tail (and the legacy /api/prom/tail
 * path with the v1 message format): a websocket (common/websocket.h) that
 * first carries the newest `limit` entries since `start`, oldest first,
 * then every entry appended afterwards to a stream of the tenant that the
 * query's selector and pipeline keep, as Loki's
 * {"streams":[...],"dropped_entries":[...]} text messages.
 *
 * The ingester tells this module of appended entries through its tail
 * hook (ingester.h) on the loop thread, only for tenants someone follows;
 * each follower filters and queues them. A follower whose socket does not
 * drain has a bounded queue: what overflows is reported in
 * dropped_entries instead of buffered. Everything runs on the loop
 * thread except the initial batch, read on a worker.
 */
#ifndef NOA_QUERIER_TAIL_API_H
#define NOA_QUERIER_TAIL_API_H

#include "common/http_server.h"
#include "querier/request.h"

struct noa_tail_api;

/* Registers the tail routes on srv. ctx is borrowed for the api's life. */
int noa_tail_api_new(struct noa_http_server *srv, const struct noa_read_api_context *ctx,
                     struct noa_tail_api **out);

/* Server shutdown: every follower gets a close frame (1000) and its
 * connection ends; new tails are refused (503). Call before
 * noa_http_server_close, which waits for them. Loop thread. */
void noa_tail_api_shutdown(struct noa_tail_api *api);

/* Frees the api after the loop has run out (shutdown first). NULL: no-op. */
void noa_tail_api_free(struct noa_tail_api *api);

/* Followers now open (for tests and metrics). */
size_t noa_tail_api_followers(const struct noa_tail_api *api);

#endif
