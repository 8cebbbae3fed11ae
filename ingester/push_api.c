/*
 * The push endpoints (/loki/api/v1/push, /api/prom/push and OTLP's
 * /otlp/v1/logs). The loop thread checks the tenant and the headers,
 * a worker decompresses, decodes, validates and encodes the WAL record,
 * and the loop thread hands the result to the ingester and replies. OTLP
 * requests take the same path; only their decoder and the shape of their
 * error bodies (a protobuf google.rpc.Status, as Loki sends) differ.
 */
#include "ingester/push_api.h"
#include "common/clock.h"
#include "common/compress.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/otlp.h"
#include "common/pushjson.h"
#include "common/pushproto.h"
#include "ingester/validate.h"
#include "ingester/walrec.h"

#include <stdio.h>
#include <strings.h>
#include <time.h>

struct noa_push_api {
    struct noa_push_api_options opts;
    struct noa_metric *lines_received;   /* {tenant} */
    struct noa_metric *bytes_received;   /* {tenant} */
    struct noa_metric *discarded_lines;  /* {reason, tenant} */
    struct noa_metric *discarded_bytes;  /* {reason, tenant} */
};

enum body_kind { BODY_JSON, BODY_PROTO_SNAPPY, BODY_PROTO, BODY_OTLP_PROTO, BODY_OTLP_JSON };

struct push_job {
    uv_work_t work;
    struct noa_push_api *api;
    struct noa_http_request *req;
    char tenant[160];
    enum body_kind kind;
    enum noa_compress_codec codec; /* Content-Encoding to undo first */
    int has_codec;
    struct noa_buf body;           /* decompressed body, when it had to be */
    struct noa_push_request pr;
    struct noa_validated v;
    struct noa_arena arena;        /* validation's */
    struct noa_buf record;         /* the WAL record */
    struct noa_error err;
    int status;                    /* decode/validate outcome */
    int otlp;                      /* an /otlp/v1/logs request: OTLP error bodies */
};


static void job_free(struct push_job *j)
{
    noa_validated_fini(&j->v);
    noa_push_request_fini(&j->pr);
    noa_arena_fini(&j->arena);
    noa_buf_fini(&j->body);
    noa_buf_fini(&j->record);
    noa_free(j);
}

static void decode_work(uv_work_t *w)
{
    struct push_job *j = w->data;
    struct noa_str in = j->req->body;
    size_t max = j->api->opts.max_decompressed_bytes;
    if (j->has_codec) {
        j->status = noa_compress_decompress(j->codec, in.p, in.len, max, &j->body, &j->err);
        if (j->status < 0)
            return;
        in = (struct noa_str){j->body.data, j->body.len};
    }
    /* Decoded arrays cost up to 20x the body for tiny entries: bound them
     * separately so one request cannot take more than this much memory. */
    struct noa_pushproto_opts po = {.max_mem = (size_t)64 << 20, .max_decompressed = max};
    switch (j->kind) {
    case BODY_JSON:
        j->status = noa_pushjson_decode(in.p, in.len, &j->pr, &j->err);
        break;
    case BODY_PROTO:
        j->status = noa_pushproto_decode(in.p, in.len, &po, &j->pr, &j->err);
        break;
    case BODY_PROTO_SNAPPY:
        j->status = noa_pushproto_decode_snappy(in.p, in.len, &po, &j->body, &j->pr, &j->err);
        break;
    case BODY_OTLP_PROTO:
    case BODY_OTLP_JSON: {
        const struct noa_limits *lim = j->api->opts.limits;
        struct noa_otlp_opts oo = {
            .max_mem = po.max_mem,
            .discover_service_name = lim ? lim->discover_service_name : NULL,
            .n_discover_service_name = lim ? lim->n_discover_service_name : 0,
            .now_ns = noa_clock_real_ns(),
        };
        if (j->kind == BODY_OTLP_PROTO)
            j->status = noa_otlp_decode_proto(in.p, in.len, &oo, &j->pr, &j->err);
        else
            j->status = noa_otlp_decode_json(in.p, in.len, &oo, &j->pr, &j->err);
        break;
    }
    }
    if (j->status < 0)
        return;
    j->status = noa_validate_push(j->api->opts.limits, noa_clock_real_ns(), &j->pr, &j->arena, &j->v);
    if (j->status < 0) {
        noa_error_set(&j->err, j->status, "%s",
                      j->v.errors.len ? noa_buf_cstr(&j->v.errors) : noa_strerror(j->status));
        return;
    }
    if (j->v.n)
        noa_walrec_encode_push(j->tenant, &j->v, &j->record);
}

static void count_discarded(struct push_job *j)
{
    struct noa_push_api *api = j->api;
    if (!api->discarded_lines)
        return;
    for (int r = 0; r < NOA_VALIDATE_REASON_COUNT; r++) {
        if (!j->v.discarded_lines[r])
            continue;
        const char *dv[] = {noa_validate_reason_name((enum noa_validate_reason)r), j->tenant};
        noa_metric_add(noa_metric_child(api->discarded_lines, dv),
                       (double)j->v.discarded_lines[r]);
        noa_metric_add(noa_metric_child(api->discarded_bytes, dv),
                       (double)j->v.discarded_bytes[r]);
    }
}

static void count_received(struct push_job *j)
{
    struct noa_push_api *api = j->api;
    if (!api->lines_received)
        return;
    const char *lv[] = {j->tenant};
    noa_metric_add(noa_metric_child(api->lines_received, lv), (double)j->v.accepted_lines);
    noa_metric_add(noa_metric_child(api->bytes_received, lv), (double)j->v.accepted_bytes);
    count_discarded(j);
}

/*
 * An error reply. OTLP clients get what Loki's OTLPError writes: the status
 * (500 turned into 503 so that exporters retry) and a protobuf
 * google.rpc.Status carrying the message; everyone else gets text.
 */
static void reply_error(struct noa_http_request *req, int otlp, int code, const char *msg)
{
    if (!otlp) {
        noa_http_reply_error(req, code, msg);
        return;
    }
    struct noa_buf b = {0};
    noa_otlp_encode_status(msg, strlen(msg), &b);
    noa_http_reply(req, code == 500 ? 503 : code, "application/octet-stream", b.data, b.len);
    noa_buf_fini(&b);
}

static void pushed_cb(int status, const char *msg, void *arg)
{
    struct push_job *j = arg;
    struct noa_http_request *req = j->req;
    if (status == 0) {
        count_received(j);
        if (j->v.errors.len)
            reply_error(req, j->otlp, 400, noa_buf_cstr(&j->v.errors));
        else
            noa_http_reply(req, 204, NULL, NULL, 0);
    } else {
        /* A limit refusal (429) discards the whole push, counted by reason. */
        if (status == NOA_ELIMIT)
            count_discarded(j);
        int code = status == NOA_ELIMIT ? 429 : status == NOA_EUNAVAIL ? 503 : 500;
        reply_error(req, j->otlp, code, msg ? msg : noa_strerror(status));
    }
    job_free(j);
}

static void decode_after(uv_work_t *w, int status)
{
    struct push_job *j = w->data;
    if (status < 0 || j->status < 0) {
        int code = status < 0 ? 500 : noa_err_http_status(j->status);
        if (code == 500)
            noa_log(NOA_LOG_ERROR, "push", "msg=\"push failed\" tenant=%s err=\"%s\"", j->tenant,
                    j->err.msg);
        reply_error(j->req, j->otlp, code, j->err.msg[0] ? j->err.msg : noa_strerror(j->status));
        job_free(j);
        return;
    }
    struct noa_ingester *ing = j->api->opts.ingester;
    if (!ing) {
        reply_error(j->req, j->otlp, 503, "Ingester not ready: WAL replay in progress");
        job_free(j);
        return;
    }
    noa_ingester_push(ing, j->tenant, &j->v, &j->record, pushed_cb, j);
}

/* Media type without parameters, lower-cased into out; "" when missing. */
static int media_type(const struct noa_str *h, char *out, size_t cap)
{
    size_t n = 0;
    if (!h)
        goto done;
    size_t i = 0;
    while (i < h->len && (h->p[i] == ' ' || h->p[i] == '\t'))
        i++;
    while (i < h->len && h->p[i] != ';' && h->p[i] != ' ' && n + 1 < cap) {
        char c = h->p[i++];
        out[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
done:
    out[n] = '\0';
    return n > 0 && strchr(out, '/') != NULL;
}

/*
 * OTLP content negotiation, as Loki's extractLogs: only "gzip" is undone
 * (any other Content-Encoding reaches the decoder as is), and the
 * Content-Type header must be exactly one of the two OTLP media types.
 */
static int otlp_negotiate(struct noa_http_request *req, struct push_job *j, struct noa_error *err)
{
    const struct noa_str *ce = noa_http_request_header(req, "Content-Encoding");
    if (ce && noa_str_eq_c(*ce, "gzip")) {
        j->codec = NOA_COMPRESS_GZIP;
        j->has_codec = 1;
    }
    const struct noa_str *ct = noa_http_request_header(req, "Content-Type");
    struct noa_str t = ct ? *ct : (struct noa_str){"", 0};
    if (noa_str_eq_c(t, "application/x-protobuf"))
        j->kind = BODY_OTLP_PROTO;
    else if (noa_str_eq_c(t, "application/json"))
        j->kind = BODY_OTLP_JSON;
    else
        return noa_error_set(err, NOA_EINVAL, "content type: %.*s is not supported", (int)t.len,
                             t.p);
    return 0;
}

static void handle(struct noa_http_request *req, struct noa_push_api *api, int otlp)
{
    struct push_job *j = noa_xcalloc(1, sizeof(*j));
    struct noa_error err = {0};
    j->api = api;
    j->req = req;
    j->otlp = otlp;
    const struct noa_str *org = noa_http_request_header(req, "X-Scope-OrgID");
    char org_buf[256] = "";
    if (org)
        snprintf(org_buf, sizeof(org_buf), "%.*s", (int)org->len, org->p);
    int rc = noa_validate_tenant(org ? org_buf : NULL, api->opts.auth_enabled, j->tenant,
                                 sizeof(j->tenant), &err);
    if (rc < 0)
        goto reject;
    if (!api->opts.ingester || !noa_ingester_ready(api->opts.ingester)) {
        rc = noa_error_set(&err, NOA_EUNAVAIL, "Ingester not ready: WAL replay in progress");
        goto reject;
    }
    if (otlp) {
        rc = otlp_negotiate(req, j, &err);
        if (rc < 0)
            goto reject;
        goto queue;
    }
    const struct noa_str *ce = noa_http_request_header(req, "Content-Encoding");
    if (ce && ce->len && !noa_str_eq_c(*ce, "snappy")) {
        if (noa_compress_codec_from_name(*ce, &j->codec) < 0) {
            rc = noa_error_set(&err, NOA_EINVAL, "Content-Encoding \"%.*s\" not supported",
                               (int)ce->len, ce->p);
            goto reject;
        }
        j->has_codec = 1;
    }
    char mt[128];
    if (!media_type(noa_http_request_header(req, "Content-Type"), mt, sizeof(mt))) {
        rc = noa_error_set(&err, NOA_EINVAL, "mime: no media type");
        goto reject;
    }
    if (strcmp(mt, "application/json") == 0)
        j->kind = BODY_JSON;
    else if (j->has_codec && j->codec == NOA_COMPRESS_ZSTD)
        j->kind = BODY_PROTO; /* noa's native form: zstd instead of snappy */
    else
        j->kind = BODY_PROTO_SNAPPY;
queue:
    j->work.data = j;
    rc = uv_queue_work(api->opts.loop, &j->work, decode_work, decode_after);
    if (rc < 0) {
        noa_error_set(&err, NOA_EINTERNAL, "%s", uv_strerror(rc));
        rc = NOA_EINTERNAL;
        goto reject;
    }
    return;
reject:
    reply_error(req, otlp, noa_err_http_status(rc), err.msg);
    noa_free(j);
}

static void push_handler(struct noa_http_request *req, void *ctx)
{
    handle(req, ctx, 0);
}

static void otlp_handler(struct noa_http_request *req, void *ctx)
{
    handle(req, ctx, 1);
}

int noa_push_api_new(struct noa_http_server *srv, const struct noa_push_api_options *opts,
                     struct noa_push_api **out)
{
    struct noa_push_api *api = noa_xcalloc(1, sizeof(*api));
    api->opts = *opts;
    if (!api->opts.max_decompressed_bytes)
        api->opts.max_decompressed_bytes = (size_t)100 << 20;
    if (opts->metrics) {
        const char *t[] = {"tenant"};
        const char *rt[] = {"reason", "tenant"};
        api->lines_received = noa_metrics_counter(
            opts->metrics, "noa_distributor_lines_received_total",
            "Log lines accepted by the push API, per tenant.", 1, t);
        api->bytes_received = noa_metrics_counter(
            opts->metrics, "noa_distributor_bytes_received_total",
            "Bytes of accepted log lines and structured metadata, per tenant.", 1, t);
        api->discarded_lines = noa_metrics_counter(
            opts->metrics, "noa_discarded_samples_total",
            "Log lines rejected by validation, per reason and tenant.", 2, rt);
        api->discarded_bytes = noa_metrics_counter(
            opts->metrics, "noa_discarded_bytes_total",
            "Bytes of log lines rejected by validation, per reason and tenant.", 2, rt);
    }
    int rc = noa_http_server_route(srv, NOA_HTTP_POST, "/loki/api/v1/push", "loki_api_v1_push",
                                   push_handler, api);
    if (rc == 0)
        rc = noa_http_server_route(srv, NOA_HTTP_POST, "/api/prom/push", "api_prom_push",
                                   push_handler, api);
    if (rc == 0)
        rc = noa_http_server_route(srv, NOA_HTTP_POST, "/otlp/v1/logs", "otlp_v1_logs",
                                   otlp_handler, api);
    if (rc < 0) {
        noa_free(api);
        return rc;
    }
    *out = api;
    return 0;
}

void noa_push_api_set_ingester(struct noa_push_api *api, struct noa_ingester *ing)
{
    api->opts.ingester = ing;
}

void noa_push_api_free(struct noa_push_api *api)
{
    noa_free(api);
}
