/*
 * What every read endpoint does with a request before and after its work,
 * in the order Loki's middlewares do it: the tenants of X-Scope-OrgID
 * (401 "no org id" when absent), readiness (503 while the WAL replays),
 * and errors as plain text. Loop thread.
 */
#ifndef NOA_QUERIER_REQUEST_H
#define NOA_QUERIER_REQUEST_H

#include "common/err.h"
#include "common/http_server.h"
#include "ingester/ingester.h"
#include "ingester/limits.h"
#include "querier/tenants.h"

/* What every read-endpoint module (query, detected, volume) works with;
 * owned by the server, shared by the modules. ingester is NULL until the
 * WAL has been replayed (requests answer 503 until then); it is set once,
 * on the loop thread. */
struct noa_read_api_context {
    uv_loop_t *loop;
    struct noa_ingester *ingester;
    const struct noa_limits *limits;
    int auth_enabled;
};

/* Parses the tenants (see noa_tenants_parse) and checks the ingester is
 * ready. On success tenants must be released with noa_tenants_fini. */
int noa_request_tenants(struct noa_http_request *req, int auth_enabled,
                        struct noa_ingester *ing, struct noa_tenants *tenants,
                        struct noa_error *err);

/* Loki's query-path error: plain text without a trailing newline. */
void noa_request_reply_error(struct noa_http_request *req, int status, const char *msg);

/* Answers a failed request: 401 "no org id" for NOA_EAUTH, otherwise the
 * code's status with err's message (or the code's text). */
void noa_request_fail(struct noa_http_request *req, int rc, const struct noa_error *err);

#endif
