/*
 * Loki's detected endpoints (see detected_api.h). The loop thread parses
 * the tenant and parameters and compiles the query; a uv worker selects
 * the sample (querier/logsel.h), feeds the collectors
 * (querier/detected.h, querier/detected_labels.h) and encodes the answer.
 * A job is owned by the loop thread except while its work runs.
 *
 * Multi-tenant requests (`X-Scope-OrgID: a|b`, querier/tenants.h) run per
 * tenant and merge as Loki does: detected_labels unions the tenants'
 * labels; detected_fields samples the newest lines across the tenants,
 * their streams told apart by tenant as `__tenant_id__` does in Loki.
 */
#include "querier/detected_api.h"
#include "common/clock.h"
#include "common/form.h"
#include "common/lbuilder.h"
#include "common/logql.h"
#include "common/mem.h"
#include "common/pipeline.h"
#include "ingester/index.h"
#include "querier/detected.h"
#include "querier/detected_labels.h"
#include "querier/logsel.h"
#include "querier/params.h"
#include "querier/request.h"
#include "querier/tenants.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DETECTED_DEFAULT_LIMIT 1000 /* Loki's defaultLimit for fields and values */

struct noa_detected_api {
    const struct noa_read_api_context *ctx; /* the server's */
};

enum job_kind { JOB_LABELS, JOB_FIELDS, JOB_VALUES };

struct detected_job {
    uv_work_t work;
    struct noa_detected_api *api;
    struct noa_http_request *req;
    enum job_kind kind;
    struct noa_tenants tenants;    /* owned: sorted, distinct */
    int have_sel;                  /* detected_labels: a selector was given */
    struct noa_logql_expr *expr;   /* owned: the query */
    struct noa_pipeline *pipeline; /* owned: its pipeline */
    int64_t start_ns, end_ns;
    uint32_t line_limit, limit;
    int empty;        /* the range lies past max_query_lookback: answer {} */
    char *field_name; /* owned: values mode */
    struct noa_buf out;
    struct noa_error err;
    int status;
};


static void job_free(struct detected_job *j)
{
    noa_tenants_fini(&j->tenants);
    noa_pipeline_free(j->pipeline);
    noa_logql_free(j->expr);
    noa_free(j->field_name);
    noa_buf_fini(&j->out);
    noa_free(j);
}

/* ---- detected_labels (worker) ---- */

static int labels_mem_cb(const struct noa_labels *ls, void *ctx)
{
    noa_detected_labels_add(ctx, ls);
    return 0;
}

static int labels_index_cb(uint64_t fp, const struct noa_labels *ls, void *ctx)
{
    (void)fp;
    noa_detected_labels_add(ctx, ls);
    return 0;
}

/* The labels of every matching stream, from memory and from the index;
 * the collector folds the values of streams seen in both. */
static int run_labels(struct detected_job *j)
{
    struct noa_ingester *ing = j->api->ctx->ingester;
    const struct noa_selector *sel = j->have_sel ? &j->expr->selector : NULL;
    struct noa_detected_labels *d = noa_detected_labels_new();
    int rc = 0;
    for (unsigned t = 0; rc == 0 && t < j->tenants.n; t++) {
        const char *tenant = j->tenants.ids[t];
        rc = noa_ingester_each_stream(ing, tenant, sel, j->start_ns, j->end_ns, labels_mem_cb, d);
        if (rc == 0)
            rc = noa_index_series(noa_ingester_index(ing), tenant, j->start_ns, j->end_ns, sel,
                                  labels_index_cb, d);
    }
    if (rc == 0)
        noa_detected_labels_encode(d, &j->out);
    noa_detected_labels_free(d);
    return rc;
}

/* ---- detected_fields and values (worker) ---- */

/* A sampled entry: which tenant's result, which entry, and its place in
 * Loki's visiting order. */
struct visit {
    uint32_t t; /* tenant index */
    size_t i;   /* entry index in that tenant's result */
    int64_t ts;
    size_t pos;         /* rank in the merged sample, newest first */
    struct noa_str key; /* tenant and canonical text of the stream labels */
};

/* Newest first; ties in tenant then result order. */
static int visit_by_time(const void *a, const void *b)
{
    const struct visit *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts > y->ts ? -1 : 1;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

static int visit_by_stream(const void *a, const void *b)
{
    const struct visit *x = a, *y = b;
    int c = noa_str_cmp(x->key, y->key);
    if (c)
        return c;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* The labels of one category of a pipeline's output, in the arena. */
static uint32_t labels_of_cat(struct noa_arena *a, const struct noa_logsel_entry *e, uint8_t cat,
                              struct noa_label **out)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < e->n_labels; i++)
        n += e->labels[i].cat == cat;
    *out = noa_arena_alloc(a, (n ? n : 1) * sizeof(**out));
    n = 0;
    for (uint32_t i = 0; i < e->n_labels; i++)
        if (e->labels[i].cat == cat)
            (*out)[n++] = e->labels[i].l;
    return n;
}

/* The entry as Loki's categorize-labels response carries it: the stream
 * labels, structured metadata and the query's parsed labels apart. */
struct split {
    struct noa_labels stream;
    struct noa_label *meta, *parsed;
    uint32_t n_meta, n_parsed;
};

static void split_entry(struct noa_arena *a, const struct noa_logsel_result *r,
                        const struct noa_logsel_entry *e, struct split *s)
{
    if (!e->labels) {
        s->stream = r->streams[e->stream].labels;
        s->meta = e->meta;
        s->n_meta = e->n_meta;
        s->parsed = NULL;
        s->n_parsed = 0;
        return;
    }
    struct noa_label *sl;
    uint32_t n = labels_of_cat(a, e, NOA_LB_STREAM, &sl);
    s->stream = (struct noa_labels){sl, n};
    s->n_meta = labels_of_cat(a, e, NOA_LB_META, &s->meta);
    s->n_parsed = labels_of_cat(a, e, NOA_LB_PARSED, &s->parsed);
}

/* Each tenant's newest line_limit entries, merged newest first and cut to
 * line_limit: the sample Loki's query_range would return. */
static int select_sample(struct detected_job *j, struct noa_logsel_result *rs, unsigned n_t,
                         struct visit **out, size_t *n_out)
{
    size_t total = 0;
    for (unsigned t = 0; t < n_t; t++) {
        struct noa_logsel_query q = {.tenant = j->tenants.ids[t],
                                     .sel = &j->expr->selector,
                                     .pipeline = j->pipeline,
                                     .start_ns = j->start_ns,
                                     .end_ns = j->end_ns,
                                     .limit = j->line_limit,
                                     .backward = 1};
        int rc = noa_logsel_run(j->api->ctx->ingester, &q, &rs[t], &j->err);
        if (rc < 0)
            return rc;
        total += rs[t].n_entries;
    }
    struct visit *v = noa_xmalloc((total ? total : 1) * sizeof(*v));
    size_t n = 0;
    for (unsigned t = 0; t < n_t; t++)
        for (size_t i = 0; i < rs[t].n_entries; i++)
            v[n++] = (struct visit){.t = t, .i = i, .ts = rs[t].entries[i].ts};
    qsort(v, n, sizeof(*v), visit_by_time);
    *out = v;
    *n_out = n < j->line_limit ? n : j->line_limit;
    return 0;
}

static int run_fields(struct detected_job *j)
{
    unsigned n_t = j->empty ? 0 : j->tenants.n;
    struct noa_logsel_result *rs = noa_xcalloc(n_t ? n_t : 1, sizeof(*rs));
    struct noa_detected *d = NULL;
    struct visit *v = NULL;
    struct split *sp = NULL;
    struct noa_buf key = {0};
    size_t n = 0;
    int rc;
    struct noa_detected_options o = {.limit = j->limit, .name = j->field_name};
    if ((rc = noa_detected_new(&o, &d)) < 0 || (rc = select_sample(j, rs, n_t, &v, &n)) < 0)
        goto fail;
    /* Loki walks the sample stream by stream, streams ordered by their
     * label text and entries newest first; the order decides a field's
     * type (the last value seen) and which fields fit under the limit. */
    sp = noa_xmalloc((n ? n : 1) * sizeof(*sp));
    for (size_t k = 0; k < n; k++) {
        struct noa_logsel_result *r = &rs[v[k].t];
        split_entry(&r->arena, r, &r->entries[v[k].i], &sp[k]);
        noa_buf_reset(&key);
        if (n_t > 1) /* __tenant_id__ sorts first among a stream's labels */
            noa_buf_printf(&key, "%s%c", j->tenants.ids[v[k].t], 1);
        noa_labels_format(&sp[k].stream, &key);
        v[k].pos = k;
        v[k].key = noa_arena_str(&r->arena, (struct noa_str){key.data, key.len});
    }
    qsort(v, n, sizeof(*v), visit_by_stream);
    for (size_t k = 0; k < n; k++) {
        const struct split *s = &sp[v[k].pos];
        noa_detected_add(d, &s->stream, s->meta, s->n_meta, s->parsed, s->n_parsed,
                         rs[v[k].t].entries[v[k].i].line);
    }
    noa_detected_encode(d, &j->out);
fail:
    noa_buf_fini(&key);
    noa_free(sp);
    noa_free(v);
    noa_detected_free(d);
    for (unsigned t = 0; t < n_t; t++)
        noa_logsel_result_fini(&rs[t]);
    noa_free(rs);
    return rc;
}

static void detected_work(uv_work_t *w)
{
    struct detected_job *j = w->data;
    j->status = j->kind == JOB_LABELS ? run_labels(j) : run_fields(j);
    if (j->status < 0 && !j->err.msg[0])
        noa_error_set(&j->err, j->status, "%s", noa_strerror(j->status));
}

static void detected_after(uv_work_t *w, int status)
{
    struct detected_job *j = w->data;
    if (status < 0)
        noa_request_reply_error(j->req, 500, uv_strerror(status));
    else if (j->status < 0)
        noa_request_reply_error(j->req, noa_err_http_status(j->status), j->err.msg);
    else
        noa_http_reply_buf(j->req, 200, "application/json; charset=UTF-8", &j->out);
    job_free(j);
}

/* ---- handlers (loop thread) ---- */

/* Common start: tenant, form, bounds (start, end, since) and end >= start. */
static int job_begin(struct noa_detected_api *api, struct noa_http_request *req, enum job_kind kind,
                     struct noa_form *form, struct detected_job **out, struct noa_error *err)
{
    struct detected_job *j = noa_xcalloc(1, sizeof(*j));
    int rc;
    j->api = api;
    j->req = req;
    j->kind = kind;
    j->work.data = j;
    *out = j;
    if ((rc = noa_request_tenants(req, api->ctx->auth_enabled, api->ctx->ingester, &j->tenants,
                                   err)) < 0)
        return rc;
    if ((rc = noa_form_parse_request(form, &req->arena, req, err)) < 0)
        return rc;
    rc = noa_params_bounds(noa_form_get(form, "start"), noa_form_get(form, "end"),
                           noa_form_get(form, "since"), noa_clock_real_ns(), &j->start_ns, &j->end_ns, err);
    if (rc < 0)
        return rc;
    if (j->end_ns < j->start_ns)
        return noa_error_set(err, NOA_EINVAL,
                             "end timestamp must not be before or equal to start time");
    return 0;
}

static void job_submit(struct noa_detected_api *api, struct detected_job *j)
{
    int rc = uv_queue_work(api->ctx->loop, &j->work, detected_work, detected_after);
    if (rc < 0) {
        noa_request_reply_error(j->req, 500, uv_strerror(rc));
        job_free(j);
    }
}

static void job_fail(struct noa_http_request *req, struct detected_job *j, int rc,
                     const struct noa_error *err)
{
    noa_request_fail(req, rc, err);
    job_free(j);
}

static void labels_handler(struct noa_http_request *req, void *ctx)
{
    struct noa_detected_api *api = ctx;
    struct noa_form form = {0};
    struct noa_error err = {0};
    struct detected_job *j;
    int rc = job_begin(api, req, JOB_LABELS, &form, &j, &err);
    if (rc < 0)
        goto fail;
    /* Loki reads `query` with syntax.ParseMatchers: any LogQL is parsed
     * and validated, then all but a bare stream selector is refused. */
    const struct noa_str *q = noa_form_get(&form, "query");
    if (q && q->len) {
        if ((rc = noa_logql_parse(q->p, q->len, &j->expr, &err)) < 0)
            goto fail;
        if (!noa_logql_is_log(j->expr) || j->expr->n_stages) {
            rc = noa_error_set(&err, NOA_EINVAL, "only label matchers are supported");
            goto fail;
        }
        j->have_sel = 1;
    }
    /* The querier's time-range limits for metadata queries. */
    if ((rc = noa_params_check_metadata_range(api->ctx->limits, noa_clock_real_ns(), &j->start_ns, &j->end_ns,
                                              &err)) < 0)
        goto fail;
    job_submit(api, j);
    return;
fail:
    job_fail(req, j, rc, &err);
}

/* The step Loki validates for detected fields, though detection ignores it. */
static int check_step(const struct noa_form *form, const struct detected_job *j,
                      struct noa_error *err)
{
    const struct noa_str *s = noa_form_get(form, "step");
    int64_t step;
    int rc;
    if (s && s->len) {
        if ((rc = noa_params_step(*s, &step, err)) < 0)
            return rc;
    } else {
        int64_t secs = (j->end_ns - j->start_ns) / 1000000000 / 250;
        step = (secs < 1 ? 1 : secs) * 1000000000;
    }
    /* Loki keeps the step in milliseconds. */
    if (step / 1000000 <= 0)
        return noa_error_set(err, NOA_EINVAL,
                             "zero or negative query resolution step widths are not accepted. "
                             "Try a positive integer");
    if ((j->end_ns - j->start_ns) / step > 11000)
        return noa_error_set(err, NOA_EINVAL,
                             "exceeded maximum resolution of 11,000 points per time series. Try "
                             "increasing the value of the step parameter");
    return 0;
}

/* Loki's ParseDetectedFieldsQuery and the frontend's checks, in order. */
static int parse_fields_request(struct noa_detected_api *api, struct noa_http_request *req,
                                const struct noa_form *form, struct detected_job *j,
                                struct noa_error *err)
{
    int rc;
    if ((rc = noa_params_limit(noa_form_get(form, "line_limit"), &j->line_limit, err)) < 0)
        return rc;
    const struct noa_str *lim = noa_form_get(form, "limit");
    if (!lim || !lim->len)
        lim = noa_form_get(form, "field_limit"); /* the older name */
    if ((rc = noa_params_limit(lim, &j->limit, err)) < 0)
        return rc;
    if (!lim || !lim->len)
        j->limit = DETECTED_DEFAULT_LIMIT;
    if ((rc = check_step(form, j, err)) < 0)
        return rc;
    /* An empty query fails in Loki's lexer before any position is set,
     * hence no line and column (Go's text/scanner reports line 0). */
    const struct noa_str *q = noa_form_get(form, "query");
    if (!q || !q->len)
        return noa_error_set(err, NOA_EINVAL, "parse error : syntax error: unexpected $end");
    if ((rc = noa_logql_parse(q->p, q->len, &j->expr, err)) < 0)
        return rc;
    if (!noa_logql_is_log(j->expr))
        return noa_error_set(err, NOA_EINVAL, "only log selector is supported");
    /* Several tenants: __tenant_id__ matchers pick tenants, as in query_range. */
    if (j->tenants.n > 1 &&
        (rc = noa_tenants_filter_selector(&j->tenants, &j->expr->selector, err)) < 0)
        return rc;
    if ((rc = noa_params_check_limit(api->ctx->limits, j->line_limit, err)) < 0)
        return rc;
    if ((rc = noa_pipeline_new(j->expr, &j->pipeline, err)) < 0)
        return rc;
    /* The sample is a query_range: the frontend's time-range limits. */
    if ((rc = noa_params_check_range(api->ctx->limits, noa_clock_real_ns(), &j->start_ns, &j->end_ns,
                                     &j->empty, err)) < 0)
        return rc;
    if (j->kind == JOB_VALUES) {
        struct noa_str name = noa_http_request_param(req, "name");
        j->field_name = noa_xstrndup(name.p, name.len);
    }
    return 0;
}

static void fields_like_handler(struct noa_http_request *req, struct noa_detected_api *api,
                                enum job_kind kind)
{
    struct noa_form form = {0};
    struct noa_error err = {0};
    struct detected_job *j;
    int rc = job_begin(api, req, kind, &form, &j, &err);
    if (rc < 0 || (rc = parse_fields_request(api, req, &form, j, &err)) < 0) {
        job_fail(req, j, rc, &err);
        return;
    }
    job_submit(api, j);
}

static void fields_handler(struct noa_http_request *req, void *ctx)
{
    fields_like_handler(req, ctx, JOB_FIELDS);
}

static void values_handler(struct noa_http_request *req, void *ctx)
{
    fields_like_handler(req, ctx, JOB_VALUES);
}

/* A Loki without pattern ingesters answers the tenant check, then 404 with
 * an empty body (the querier's httpgrpc NotFound). */
static void patterns_handler(struct noa_http_request *req, void *ctx)
{
    struct noa_detected_api *api = ctx;
    struct noa_error err = {0};
    struct noa_tenants tenants = {0};
    const struct noa_str *org = noa_http_request_header(req, "X-Scope-OrgID");
    int rc = noa_tenants_parse(org ? org->p : NULL, org ? org->len : 0, api->ctx->auth_enabled,
                               &tenants, &err);
    noa_tenants_fini(&tenants);
    if (rc < 0)
        noa_request_fail(req, rc, &err);
    else
        noa_request_reply_error(req, 404, "");
}

int noa_detected_api_new(struct noa_http_server *srv, const struct noa_read_api_context *ctx,
                         struct noa_detected_api **out)
{
    static const struct noa_http_route_spec routes[] = {
        {NOA_HTTP_GET_POST, "/loki/api/v1/detected_labels", "loki_api_v1_detected_labels",
         labels_handler},
        {NOA_HTTP_GET_POST, "/loki/api/v1/detected_fields", "loki_api_v1_detected_fields",
         fields_handler},
        {NOA_HTTP_GET_POST, "/loki/api/v1/detected_field/{name}/values",
         "loki_api_v1_detected_field_name_values", values_handler},
        {NOA_HTTP_GET_POST, "/loki/api/v1/patterns", "loki_api_v1_patterns", patterns_handler},
    };
    struct noa_detected_api *api = noa_xcalloc(1, sizeof(*api));
    api->ctx = ctx;
    int rc = noa_http_server_routes(srv, routes, sizeof(routes) / sizeof(routes[0]), api);
    if (rc < 0) {
        noa_free(api);
        return rc;
    }
    *out = api;
    return 0;
}

void noa_detected_api_free(struct noa_detected_api *api)
{
    noa_free(api);
}
