/*
 * Loki's volume endpoints, which Grafana's Logs Drilldown calls on every
 * view: GET|POST /loki/api/v1/index/volume (one sample per series at the
 * end of the range) and /loki/api/v1/index/volume_range (one per step).
 * Handlers parse on the loop thread; the index and memory metadata walk
 * (querier/volume.h, no chunk is read) and the JSON run on a uv worker.
 */
#ifndef NOA_QUERIER_VOLUME_API_H
#define NOA_QUERIER_VOLUME_API_H

#include "common/http_server.h"
#include "ingester/ingester.h"
#include "ingester/limits.h"
#include "querier/request.h"

struct noa_volume_api;

/* Registers the routes on srv; ctx is borrowed (the server's). Returns 0 or a negative
 * code from noa_http_server_routes. */
int noa_volume_api_new(struct noa_http_server *srv, const struct noa_read_api_context *ctx,
                       struct noa_volume_api **out);
/* After the HTTP server has closed (no request in flight). NULL is a no-op. */
void noa_volume_api_free(struct noa_volume_api *api);

#endif
