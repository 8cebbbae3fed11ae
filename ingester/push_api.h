/*
 * POST /loki/api/v1/push (and the legacy /api/prom/push): content
 * negotiation, decoding and validation on a worker thread, then the
 * ingester's limits and WAL, then Loki's status codes. Loop thread, except
 * the decode job.
 */
#ifndef NOA_INGESTER_PUSH_API_H
#define NOA_INGESTER_PUSH_API_H

#include "common/http_server.h"
#include "common/metrics.h"
#include "ingester/ingester.h"
#include "ingester/limits.h"

struct noa_push_api_options {
    struct noa_ingester *ingester;  /* borrowed; may be NULL while starting (503) */
    const struct noa_limits *limits; /* borrowed */
    int auth_enabled;
    size_t max_decompressed_bytes;  /* bound on a decompressed body */
    struct noa_metrics *metrics;    /* borrowed; NULL = no metrics */
    uv_loop_t *loop;
};

struct noa_push_api;

/* Registers the push routes on srv. The returned object lives until
 * noa_push_api_free (after the server is closed). */
int noa_push_api_new(struct noa_http_server *srv, const struct noa_push_api_options *opts,
                     struct noa_push_api **out);
/* Sets the ingester once it has replayed its WAL. */
void noa_push_api_set_ingester(struct noa_push_api *api, struct noa_ingester *ing);
void noa_push_api_free(struct noa_push_api *api);

#endif
