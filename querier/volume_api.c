/*
 * Loki's index/volume and index/volume_range (see volume_api.h). The loop
 * thread parses the tenant and parameters in Loki's order
 * (loghttp.ParseVolume*Query, the frontend's feature flag and time-range
 * limits, then the querier's syntax.ParseMatchers); a uv worker walks the
 * index (series, then each series' chunk refs) and the ingester's memory
 * (block and head bounds and sizes) into querier/volume.h and encodes the
 * answer. Nothing is decompressed. A job is owned by the loop thread
 * except while its work runs.
 *
 * Multi-tenant requests (`a|b`) sum every tenant's volumes by name, as
 * Loki's MultiTenantQuerier.Volume merges them: no `__tenant_id__` label.
 */
#include "querier/volume_api.h"
#include "common/clock.h"
#include "common/form.h"
#include "common/logql.h"
#include "common/mem.h"
#include "ingester/block.h"
#include "ingester/index.h"
#include "querier/params.h"
#include "querier/request.h"
#include "querier/tenants.h"
#include "querier/volume.h"

#include <string.h>

struct noa_volume_api {
    const struct noa_read_api_context *ctx; /* the server's */
};

struct volume_job {
    uv_work_t work;
    struct noa_volume_api *api;
    struct noa_http_request *req;
    struct noa_tenants tenants;  /* owned */
    struct noa_logql_expr *expr; /* owned; NULL for `{}` */
    struct noa_volume *vol;      /* owned */
    int empty;                   /* the range lies past max_query_lookback */
    /* worker state */
    const char *tenant;
    int64_t from_ns, through_ns;
    struct noa_volume_chunk *chunks;
    size_t n_chunks, cap_chunks;
    struct noa_buf out;
    struct noa_error err;
    int status;
};

static void job_free(struct volume_job *j)
{
    noa_tenants_fini(&j->tenants);
    noa_logql_free(j->expr);
    noa_volume_free(j->vol);
    noa_free(j->chunks);
    noa_buf_fini(&j->out);
    noa_free(j);
}

/* ---- worker ------------------------------------------------------------------ */

static void push_chunk(struct volume_job *j, struct noa_volume_chunk c)
{
    if (j->n_chunks == j->cap_chunks) {
        j->cap_chunks = j->cap_chunks ? j->cap_chunks * 2 : 32;
        j->chunks = noa_xrealloc(j->chunks, j->cap_chunks * sizeof(*j->chunks));
    }
    j->chunks[j->n_chunks++] = c;
}

static int chunk_cb(const struct noa_chunk_ref *ref, void *ctx)
{
    push_chunk(ctx, (struct noa_volume_chunk){.from_ns = ref->from_ns,
                                               .through_ns = ref->through_ns,
                                               .bytes = ref->raw_bytes,
                                               .entries = ref->entries,
                                               .flushed = 1});
    return 0;
}

static int series_cb(uint64_t fp, const struct noa_labels *ls, void *ctx)
{
    struct volume_job *j = ctx;
    j->n_chunks = 0;
    int rc = noa_index_chunks(noa_ingester_index(j->api->ctx->ingester), j->tenant, fp,
                              j->from_ns, j->through_ns, chunk_cb, j);
    if (rc == 0)
        rc = noa_volume_add(j->vol, ls, j->chunks, j->n_chunks, &j->err);
    return rc;
}

/* One tenant: flushed chunks from the index, then what is still in
 * memory (sealed blocks and the head, each with its own time bounds). */
static int volume_tenant(struct volume_job *j, const struct noa_selector *sel)
{
    struct noa_ingester *ing = j->api->ctx->ingester;
    struct noa_mem_stream *mem = NULL;
    size_t n_mem = 0;
    int rc = noa_index_series(noa_ingester_index(ing), j->tenant, j->from_ns, j->through_ns, sel,
                              series_cb, j);
    if (rc == 0)
        rc = noa_ingester_snapshot(ing, j->tenant, sel, j->from_ns, j->through_ns, 1, &mem,
                                   &n_mem);
    for (size_t i = 0; rc == 0 && i < n_mem; i++) {
        j->n_chunks = 0;
        for (uint32_t b = 0; b < mem[i].n_blocks; b++) {
            const struct noa_chunk_block *cb = &mem[i].blocks[b]->cb;
            push_chunk(j, (struct noa_volume_chunk){.from_ns = cb->min_ts,
                                                     .through_ns = cb->max_ts,
                                                     .bytes = cb->raw_len,
                                                     .entries = cb->n_entries});
        }
        if (mem[i].head_entries)
            push_chunk(j, (struct noa_volume_chunk){.from_ns = mem[i].head_min_ts,
                                                     .through_ns = mem[i].head_max_ts,
                                                     .bytes = mem[i].head.len,
                                                     .entries = mem[i].head_entries});
        rc = noa_volume_add(j->vol, &mem[i].labels, j->chunks, j->n_chunks, &j->err);
    }
    noa_mem_streams_free(mem, n_mem);
    return rc;
}

static void volume_work(uv_work_t *w)
{
    struct volume_job *j = w->data;
    const struct noa_selector *sel = j->expr ? &j->expr->selector : NULL;
    int rc = 0;
    noa_volume_span(j->vol, &j->from_ns, &j->through_ns);
    for (unsigned t = 0; rc == 0 && !j->empty && j->from_ns <= j->through_ns && t < j->tenants.n;
         t++) {
        j->tenant = j->tenants.ids[t];
        rc = volume_tenant(j, sel);
    }
    if (rc == 0)
        noa_volume_encode(j->vol, &j->out);
    else if (!j->err.msg[0])
        noa_error_set(&j->err, rc, "%s", noa_strerror(rc));
    j->status = rc;
}

static void volume_after(uv_work_t *w, int status)
{
    struct volume_job *j = w->data;
    if (status < 0)
        noa_request_reply_error(j->req, 500, uv_strerror(status));
    else if (j->status < 0)
        noa_request_reply_error(j->req, noa_err_http_status(j->status), j->err.msg);
    else
        noa_http_reply_buf(j->req, 200, "application/json; charset=UTF-8", &j->out);
    job_free(j);
}

/* ---- handlers (loop thread) --------------------------------------------------- */

/* loghttp's volumeLimit: "0" (any spelling Atoi reads as zero) means the
 * default; then the usual positive-integer rule. */
static int parse_limit(const struct noa_str *s, uint32_t *out, struct noa_error *err)
{
    if (s && s->len) {
        size_t i = (s->p[0] == '+' || s->p[0] == '-') ? 1 : 0;
        int zero = i < s->len;
        for (; i < s->len && zero; i++)
            zero = s->p[i] == '0';
        if (zero) {
            *out = NOA_VOLUME_DEFAULT_LIMIT;
            return 0;
        }
    }
    return noa_params_limit(s, out, err);
}

/* aggregateBy: "series" (default) or "labels". */
static int parse_aggregate_by(const struct noa_str *s, int *by_labels, struct noa_error *err)
{
    *by_labels = 0;
    if (!s || !s->len || noa_str_eq_c(*s, "series"))
        return 0;
    if (noa_str_eq_c(*s, "labels")) {
        *by_labels = 1;
        return 0;
    }
    return noa_error_set(err, NOA_EINVAL, "invalid aggregation option");
}

static int parse_bounds(const struct noa_form *form, int64_t *start, int64_t *end,
                        struct noa_error *err)
{
    int rc = noa_params_bounds(noa_form_get(form, "start"), noa_form_get(form, "end"),
                               noa_form_get(form, "since"), noa_clock_real_ns(), start, end, err);
    if (rc == 0 && *end < *start)
        rc = noa_error_set(err, NOA_EINVAL,
                           "end timestamp must not be before or equal to start time");
    return rc;
}

/* targetLabels: split on commas as strings.Split does (no trimming); an
 * absent or empty parameter means none. Slices point into the form. */
static uint32_t split_targets(const struct noa_str *s, struct noa_arena *a, struct noa_str **out)
{
    *out = NULL;
    if (!s || !s->len)
        return 0;
    uint32_t n = 1;
    for (size_t i = 0; i < s->len; i++)
        n += s->p[i] == ',';
    struct noa_str *v = noa_arena_alloc(a, n * sizeof(*v));
    const char *p = s->p, *end = s->p + s->len;
    for (uint32_t k = 0; k < n; k++) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        if (!c)
            c = end;
        v[k] = (struct noa_str){p, (size_t)(c - p)};
        p = c + 1;
    }
    *out = v;
    return n;
}

static void handle(struct noa_http_request *req, struct noa_volume_api *api, int range)
{
    struct noa_form form = {0};
    struct noa_error err = {0};
    struct volume_job *j = noa_xcalloc(1, sizeof(*j));
    int64_t start = 0, end = 0, step = 0, ts;
    uint32_t limit = 0, ignored;
    int by_labels = 0, backward;
    int rc;
    j->api = api;
    j->req = req;
    j->work.data = j;
    if ((rc = noa_request_tenants(req, api->ctx->auth_enabled, api->ctx->ingester, &j->tenants,
                                  &err)) < 0 ||
        (rc = noa_form_parse_request(&form, &req->arena, req, &err)) < 0)
        goto fail;
    /* loghttp.ParseVolumeRangeQuery / ParseVolumeInstantQuery, in order. */
    if ((rc = parse_limit(noa_form_get(&form, "limit"), &limit, &err)) < 0)
        goto fail;
    if (range) {
        if ((rc = parse_bounds(&form, &start, &end, &err)) < 0 ||
            (rc = noa_params_limit(noa_form_get(&form, "limit"), &ignored, &err)) < 0 ||
            (rc = noa_params_direction(noa_form_get(&form, "direction"), &backward, &err)) < 0 ||
            (rc = noa_params_range_step(noa_form_get(&form, "step"), start, end, &step, &err)) <
                0 ||
            (rc = parse_aggregate_by(noa_form_get(&form, "aggregateBy"), &by_labels, &err)) < 0)
            goto fail;
    } else {
        const struct noa_str *t = noa_form_get(&form, "time");
        if ((t && t->len && (rc = noa_params_timestamp(*t, &ts, &err)) < 0) ||
            (rc = noa_params_direction(noa_form_get(&form, "direction"), &backward, &err)) < 0 ||
            (rc = parse_aggregate_by(noa_form_get(&form, "aggregateBy"), &by_labels, &err)) < 0 ||
            (rc = parse_bounds(&form, &start, &end, &err)) < 0)
            goto fail;
    }
    (void)ignored;
    /* The frontend: the feature flag, then max_query_lookback/length. */
    const struct noa_limits *lim = api->ctx->limits;
    if (!lim->volume_enabled) {
        rc = noa_error_set(&err, NOA_ENOTFOUND, "not found");
        goto fail;
    }
    if ((rc = noa_params_check_range(lim, noa_clock_real_ns(), &start, &end, &j->empty, &err)) <
        0)
        goto fail;
    /* The querier: syntax.ParseMatchers, except the match-all `{}`. */
    const struct noa_str *q = noa_form_get(&form, "query");
    if (!q || !noa_str_eq_c(*q, "{}")) {
        struct noa_str text = q ? *q : (struct noa_str){"", 0};
        if ((rc = noa_logql_parse(text.p, text.len, &j->expr, &err)) < 0)
            goto fail;
        if (!noa_logql_is_log(j->expr) || j->expr->n_stages) {
            rc = noa_error_set(&err, NOA_EINVAL, "only label matchers are supported");
            goto fail;
        }
    }
    struct noa_str *targets;
    uint32_t n_targets = split_targets(noa_form_get(&form, "targetLabels"), &req->arena, &targets);
    struct noa_volume_opts o = {
        .start_ns = start,
        .end_ns = end,
        .step_ns = range ? step : 0,
        .limit = limit,
        .max_series = lim->volume_max_series > 0 ? (uint32_t)lim->volume_max_series : 0,
        .by_labels = by_labels,
        .targets = targets,
        .n_targets = n_targets,
        .sel = j->expr ? &j->expr->selector : NULL,
    };
    if ((rc = noa_volume_new(&o, &j->vol, &err)) < 0)
        goto fail;
    if ((rc = uv_queue_work(api->ctx->loop, &j->work, volume_work, volume_after)) < 0) {
        noa_request_reply_error(req, 500, uv_strerror(rc));
        job_free(j);
    }
    return;
fail:
    noa_request_fail(req, rc, &err);
    job_free(j);
}

static void volume_handler(struct noa_http_request *req, void *ctx)
{
    handle(req, ctx, 0);
}

static void volume_range_handler(struct noa_http_request *req, void *ctx)
{
    handle(req, ctx, 1);
}

int noa_volume_api_new(struct noa_http_server *srv, const struct noa_read_api_context *ctx,
                       struct noa_volume_api **out)
{
    static const struct noa_http_route_spec routes[] = {
        {NOA_HTTP_GET_POST, "/loki/api/v1/index/volume", "loki_api_v1_index_volume",
         volume_handler},
        {NOA_HTTP_GET_POST, "/loki/api/v1/index/volume_range", "loki_api_v1_index_volume_range",
         volume_range_handler},
    };
    struct noa_volume_api *api = noa_xcalloc(1, sizeof(*api));
    api->ctx = ctx;
    int rc = noa_http_server_routes(srv, routes, sizeof(routes) / sizeof(routes[0]), api);
    if (rc < 0) {
        noa_free(api);
        return rc;
    }
    *out = api;
    return 0;
}

void noa_volume_api_free(struct noa_volume_api *api)
{
    noa_free(api);
}
