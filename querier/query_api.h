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

struct noa_query_api_options {
    uv_loop_t *loop;
    struct noa_ingester *ingester;   /* borrowed; NULL while starting (503) */
    const struct noa_limits *limits; /* borrowed */
    int auth_enabled;
};

struct noa_query_api;

int noa_query_api_new(struct noa_http_server *srv, const struct noa_query_api_options *opts,
                      struct noa_query_api **out);
void noa_query_api_set_ingester(struct noa_query_api *api, struct noa_ingester *ing);
void noa_query_api_free(struct noa_query_api *api);

#endif
