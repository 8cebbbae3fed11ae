/*
 * Tenants, readiness and errors of read requests (see request.h). Loop
 * thread.
 */
#include "querier/request.h"

#include <string.h>

int noa_request_tenants(struct noa_http_request *req, int auth_enabled,
                        struct noa_ingester *ing, struct noa_tenants *tenants,
                        struct noa_error *err)
{
    const struct noa_str *org = noa_http_request_header(req, "X-Scope-OrgID");
    int rc = noa_tenants_parse(org ? org->p : NULL, org ? org->len : 0, auth_enabled, tenants,
                               err);
    if (rc < 0)
        return rc;
    if (!ing || !noa_ingester_ready(ing)) {
        noa_tenants_fini(tenants);
        return noa_error_set(err, NOA_EUNAVAIL, "Ingester not ready: WAL replay in progress");
    }
    return 0;
}

void noa_request_reply_error(struct noa_http_request *req, int status, const char *msg)
{
    noa_http_reply_header(req, "X-Content-Type-Options", "nosniff");
    noa_http_reply(req, status, "text/plain; charset=utf-8", msg, strlen(msg));
}

void noa_request_fail(struct noa_http_request *req, int rc, const struct noa_error *err)
{
    if (rc == NOA_EAUTH)
        noa_http_reply_error(req, 401, "no org id");
    else
        noa_request_reply_error(req, noa_err_http_status(rc),
                                err && err->msg[0] ? err->msg : noa_strerror(rc));
}
