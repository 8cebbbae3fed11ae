/*
 * Loki's "detected" endpoints, which Grafana's Logs Drilldown and Explore
 * call: GET|POST /loki/api/v1/detected_labels, /detected_fields,
 * /detected_field/{name}/values, and /loki/api/v1/patterns answered 404
 * as a Loki without pattern ingesters answers it. Handlers parse on the
 * loop thread; selection, detection and JSON encoding run on a uv worker.
 */
#ifndef NOA_QUERIER_DETECTED_API_H
#define NOA_QUERIER_DETECTED_API_H

#include "common/http_server.h"
#include "ingester/ingester.h"
#include "ingester/limits.h"
#include "querier/request.h"

struct noa_detected_api;

/* Registers the routes on srv; ctx is borrowed (the server's). Returns 0 or a negative
 * code from noa_http_server_route. */
int noa_detected_api_new(struct noa_http_server *srv, const struct noa_read_api_context *ctx,
                         struct noa_detected_api **out);
/* After the HTTP server has closed (no request in flight). NULL is a no-op. */
void noa_detected_api_free(struct noa_detected_api *api);

#endif
