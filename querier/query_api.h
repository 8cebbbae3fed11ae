/*
 * The read half of Loki's HTTP API over a stream selector: query_range,
 * query, labels, label values and series. Handlers parse on the loop
 * thread and run the selection on a worker thread.
 */
#ifndef NOA_QUERIER_QUERY_API_H
#define NOA_QUERIER_QUERY_API_H

#include "common/http_server.h"
#include "ingester/ingester.h"
#include "ingester/limits.h"
#include "querier/request.h"

struct noa_query_api;

int noa_query_api_new(struct noa_http_server *srv, const struct noa_read_api_context *ctx,
                      struct noa_query_api **out);
void noa_query_api_free(struct noa_query_api *api);

#endif
