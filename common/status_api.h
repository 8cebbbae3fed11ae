/*
 * The status endpoints every noa program serves: /ready, /metrics,
 * /loki/api/v1/status/buildinfo, /config, /services, /log_level. Loop thread.
 */
#ifndef NOA_COMMON_STATUS_API_H
#define NOA_COMMON_STATUS_API_H

#include "common/http_server.h"
#include "common/metrics.h"

struct noa_status_api_options {
    struct noa_metrics *metrics;            /* borrowed */
    int (*ready_cb)(void *ctx, char *why, size_t cap); /* 1 ready; else fills why */
    void *ready_ctx;
    /* Writes the effective config as YAML; mode "" / "defaults" / "diffs". */
    void (*config_cb)(void *ctx, const char *mode, struct noa_buf *out);
    void *config_ctx;
    const char *services; /* "ingester => Running\n..." */
};

struct noa_status_api;

int noa_status_api_new(struct noa_http_server *srv, const struct noa_status_api_options *opts,
                       struct noa_status_api **out);
void noa_status_api_free(struct noa_status_api *api);

#endif
