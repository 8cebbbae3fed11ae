/* Status endpoints (see status_api.h). Loop thread. */
#include "common/status_api.h"
#include "common/form.h"
#include "common/log.h"
#include "common/mem.h"

#include <stdio.h>
#include <string.h>

#ifndef NOA_REVISION
#define NOA_REVISION "unknown"
#endif

struct noa_status_api {
    struct noa_status_api_options opts;
};

static void ready_handler(struct noa_http_request *req, void *ctx)
{
    struct noa_status_api *api = ctx;
    char why[256] = "Ingester not ready";
    if (api->opts.ready_cb && !api->opts.ready_cb(api->opts.ready_ctx, why, sizeof(why))) {
        noa_http_reply_error(req, 503, why);
        return;
    }
    noa_http_reply(req, 200, "text/plain; charset=utf-8", "ready\n", 6);
}

static void metrics_handler(struct noa_http_request *req, void *ctx)
{
    struct noa_status_api *api = ctx;
    struct noa_buf b = {0};
    noa_metrics_write(api->opts.metrics, &b);
    noa_http_reply_buf(req, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}

static void buildinfo_handler(struct noa_http_request *req, void *ctx)
{
    (void)ctx;
    char body[512];
    int n = snprintf(body, sizeof(body),
                     "{\"version\":\"%s\",\"revision\":\"%s\",\"branch\":\"main\","
                     "\"buildUser\":\"noa\",\"buildDate\":\"%s\",\"goVersion\":\"\"}\n",
                     NOA_VERSION, NOA_REVISION, __DATE__);
    noa_http_reply(req, 200, "application/json", body, (size_t)n);
}

static void config_handler(struct noa_http_request *req, void *ctx)
{
    struct noa_status_api *api = ctx;
    struct noa_form form = {0};
    struct noa_error err = {0};
    noa_form_parse(&form, &req->arena, req->query, &err);
    const struct noa_str *mode = noa_form_get(&form, "mode");
    char m[16] = "";
    if (mode)
        snprintf(m, sizeof(m), "%.*s", (int)mode->len, mode->p);
    struct noa_buf b = {0};
    if (api->opts.config_cb)
        api->opts.config_cb(api->opts.config_ctx, m, &b);
    noa_http_reply_buf(req, 200, "text/plain; charset=utf-8", &b);
}

static void services_handler(struct noa_http_request *req, void *ctx)
{
    struct noa_status_api *api = ctx;
    const char *s = api->opts.services ? api->opts.services : "";
    noa_http_reply(req, 200, "text/plain; charset=utf-8", s, strlen(s));
}

static void log_level_handler(struct noa_http_request *req, void *ctx)
{
    (void)ctx;
    struct noa_form form = {0};
    struct noa_error err = {0};
    noa_form_parse_request(&form, &req->arena, req, &err);
    const struct noa_str *lv = noa_form_get(&form, "log_level");
    if (lv && lv->len) {
        enum noa_log_level level;
        char name[16];
        snprintf(name, sizeof(name), "%.*s", (int)lv->len, lv->p);
        if (noa_log_parse_level(name, &level) < 0) {
            noa_http_reply_error(req, 400, "invalid log level");
            return;
        }
        noa_log_set_level(level);
    }
    char body[64];
    int n = snprintf(body, sizeof(body), "{\"message\":\"Current log level is %s\"}\n",
                     noa_log_enabled(NOA_LOG_DEBUG)  ? "debug"
                     : noa_log_enabled(NOA_LOG_INFO) ? "info"
                     : noa_log_enabled(NOA_LOG_WARN) ? "warn"
                                                     : "error");
    noa_http_reply(req, 200, "application/json", body, (size_t)n);
}

int noa_status_api_new(struct noa_http_server *srv, const struct noa_status_api_options *opts,
                       struct noa_status_api **out)
{
    static const struct noa_http_route_spec routes[] = {
        {NOA_HTTP_GET, "/ready", "ready", ready_handler},
        {NOA_HTTP_GET, "/metrics", "metrics", metrics_handler},
        {NOA_HTTP_GET, "/loki/api/v1/status/buildinfo", "loki_api_v1_status_buildinfo",
         buildinfo_handler},
        {NOA_HTTP_GET, "/config", "config", config_handler},
        {NOA_HTTP_GET, "/services", "services", services_handler},
        {NOA_HTTP_GET | NOA_HTTP_POST, "/log_level", "log_level", log_level_handler},
    };
    struct noa_status_api *api = noa_xcalloc(1, sizeof(*api));
    api->opts = *opts;
    int rc = noa_http_server_routes(srv, routes, sizeof(routes) / sizeof(routes[0]), api);
    if (rc < 0) {
        noa_free(api);
        return rc;
    }
    *out = api;
    return 0;
}

void noa_status_api_free(struct noa_status_api *api)
{
    noa_free(api);
}
