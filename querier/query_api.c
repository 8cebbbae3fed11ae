/*
 * Loki's query endpoints over stream selectors. Parameters are parsed on
 * the loop thread; the selection and JSON encoding run on a worker. A log
 * query naming several tenants (`X-Scope-OrgID: a|b`) runs once per tenant
 * and the answers are merged as Loki's MultiTenantQuerier merges them
 * (querier/tenants.h); a metric query is evaluated once by the metric
 * engine (querier/metric_eval.h) over every tenant's streams, relabelled
 * with __tenant_id__ (querier/metric_store.h). Limits (limits_config) are
 * checked on the loop thread before any work is queued; query_timeout
 * bounds the worker.
 */
#include "querier/query_api.h"
#include "common/clock.h"
#include "common/form.h"
#include "common/logql.h"
#include "common/mem.h"
#include "common/lbuilder.h"
#include "common/pipeline.h"
#include "common/selector.h"
#include "common/strset.h"
#include "ingester/index.h"
#include "querier/logsel.h"
#include "querier/metric_eval.h"
#include "querier/metric_json.h"
#include "querier/metric_store.h"
#include "querier/params.h"
#include "querier/request.h"
#include "querier/stats_json.h"
#include "querier/tenants.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct noa_query_api {
    const struct noa_read_api_context *ctx; /* the server's */
};

enum job_kind { JOB_RANGE, JOB_LABELS, JOB_VALUES, JOB_SERIES, JOB_STATS };

struct query_job {
    uv_work_t work;
    struct noa_query_api *api;
    struct noa_http_request *req;
    enum job_kind kind;
    struct noa_tenants tenants; /* owned: sorted, distinct */
    const char *tenant;         /* the tenant being queried (one of tenants) */
    struct noa_selector *sels;  /* owned: labels/series selectors */
    unsigned n_sels;
    struct noa_logql_expr *expr;   /* owned: the parsed query (query_range) */
    struct noa_pipeline *pipeline; /* owned: its log pipeline */
    int64_t start_ns, end_ns;
    uint32_t limit;
    int backward;
    int categorize;
    int empty;               /* the range is outside max_query_lookback: answer empty */
    int multi;               /* the header named several tenants (Loki relabels then) */
    int metric;              /* a metric query for the engine (not constant) */
    int64_t step_ns;         /* metric: the step; 0 = instant query */
    struct noa_buf err_full; /* metric: an error longer than err.msg holds */
    int64_t deadline;        /* CLOCK_MONOTONIC ns after which the query has timed out; 0 = none */
    char *label_name;        /* owned, for JOB_VALUES */
    struct noa_buf out;
    struct noa_error err;
    int status;
    int64_t t0;     /* CLOCK_MONOTONIC ns when the request was taken */
    int64_t t_work; /* CLOCK_MONOTONIC ns when the worker started */
};

/* Loki's answer to a query that ran past query_timeout (a 504). */
static const char timeout_msg[] =
    "request timed out, decrease the duration of the request or add more label matchers "
    "(prefer exact match over regex match) to reduce the amount of data processed";

static void job_free(struct query_job *j)
{
    noa_tenants_fini(&j->tenants);
    for (unsigned i = 0; i < j->n_sels; i++)
        noa_selector_fini(&j->sels[i]);
    noa_free(j->sels);
    noa_pipeline_free(j->pipeline);
    noa_logql_free(j->expr);
    noa_free(j->label_name);
    noa_buf_fini(&j->out);
    noa_buf_fini(&j->err_full);
    noa_free(j);
}

/* ---- JSON encoding ----------------------------------------------------------- */

static void put_labels_object(struct noa_buf *b, const struct noa_label *v, uint32_t n)
{
    noa_buf_putc(b, '{');
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            noa_buf_putc(b, ',');
        noa_buf_put_json_str(b, v[i].name.p, v[i].name.len);
        noa_buf_putc(b, ':');
        noa_buf_put_json_str(b, v[i].value.p, v[i].value.len);
    }
    noa_buf_putc(b, '}');
}

struct out_stream {
    struct noa_buf key;    /* canonical text of the output labels */
    struct noa_buf labels; /* JSON object */
    struct noa_buf values; /* JSON array elements */
};

/* The labels of one category of a pipeline's output. */
static uint32_t labels_of_cat(const struct noa_logsel_entry *e, uint8_t cat, struct noa_label *out,
                              uint32_t cap)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < e->n_labels && n < cap; i++)
        if (e->labels[i].cat == cat)
            out[n++] = e->labels[i].l;
    return n;
}

/* The third element of a categorize-labels value: {} or
 * {"structuredMetadata":{...},"parsed":{...}} with empty parts left out. */
static void put_categories(struct noa_buf *v, const struct noa_label *meta, uint32_t n_meta,
                           const struct noa_label *parsed, uint32_t n_parsed)
{
    noa_buf_putc(v, '{');
    if (n_meta) {
        noa_buf_append_str(v, NOA_STR("\"structuredMetadata\":"));
        put_labels_object(v, meta, n_meta);
    }
    if (n_parsed) {
        if (n_meta)
            noa_buf_putc(v, ',');
        noa_buf_append_str(v, NOA_STR("\"parsed\":"));
        put_labels_object(v, parsed, n_parsed);
    }
    noa_buf_putc(v, '}');
}

/* The output stream with these labels, appended when new. */
static size_t out_stream_find(struct out_stream **os, size_t *n_os, size_t *cap_os,
                              const struct noa_labels *ls)
{
    struct noa_buf key = {0};
    noa_labels_format(ls, &key);
    size_t k;
    for (k = 0; k < *n_os; k++)
        if ((*os)[k].key.len == key.len && !memcmp((*os)[k].key.data, key.data, key.len))
            break;
    if (k < *n_os) {
        noa_buf_fini(&key);
        return k;
    }
    if (*n_os == *cap_os) {
        *cap_os = *cap_os ? *cap_os * 2 : 8;
        *os = noa_xrealloc(*os, *cap_os * sizeof(**os));
    }
    memset(&(*os)[k], 0, sizeof((*os)[k]));
    (*os)[k].key = key;
    put_labels_object(&(*os)[k].labels, ls->v, ls->n);
    (*n_os)++;
    return k;
}

/* The next entry of a multi-tenant merge: the newest (backward) or oldest
 * (forward) head among the results, the first tenant winning ties. */
static int next_result(const struct noa_logsel_result *rs, const size_t *pos, unsigned n,
                       int backward)
{
    int best = -1;
    for (unsigned t = 0; t < n; t++) {
        if (pos[t] >= rs[t].n_entries)
            continue;
        int64_t ts = rs[t].entries[pos[t]].ts;
        if (best < 0 ||
            (backward ? ts > rs[best].entries[pos[best]].ts : ts < rs[best].entries[pos[best]].ts))
            best = (int)t;
    }
    return best;
}

/*
 * Loki's streams answer over one result per tenant (n == 1 for a plain
 * query), merged in the query direction and cut at the limit. With
 * several tenants each stream gains __tenant_id__ (querier/tenants.h).
 */
static void encode_streams(struct query_job *j, const struct noa_logsel_result *rs, unsigned n,
                           int multi)
{
    enum { MAXL = 256 };
    struct out_stream *os = NULL;
    size_t n_os = 0, cap_os = 0, returned = 0;
    size_t *pos = noa_xcalloc(n ? n : 1, sizeof(*pos));
    size_t *first = noa_xcalloc(n + 1, sizeof(*first)); /* memo offset per result */
    for (unsigned t0 = 0; t0 < n; t0++)
        first[t0 + 1] = first[t0] + rs[t0].n_streams;
    size_t *memo = noa_xcalloc(first[n] + 1, sizeof(*memo)); /* output stream + 1; 0 = unknown */
    struct noa_label *sl = noa_xmalloc(4 * MAXL * sizeof(*sl)), *ml = sl + MAXL, *pl = ml + MAXL;
    struct noa_label *tl = pl + MAXL;
    int t;
    while (returned < j->limit && (t = next_result(rs, pos, n, j->backward)) >= 0) {
        const struct noa_logsel_result *r = &rs[t];
        const struct noa_logsel_entry *e = &r->entries[pos[t]++];
        returned++;
        const struct noa_labels *ls = &r->streams[e->stream].labels;
        struct noa_labels out_ls = *ls;
        const struct noa_label *meta = e->meta, *parsed = NULL;
        uint32_t n_meta = e->n_meta, n_parsed = 0;
        if (e->labels && j->categorize) {
            out_ls = (struct noa_labels){sl, labels_of_cat(e, NOA_LB_STREAM, sl, MAXL)};
            n_meta = labels_of_cat(e, NOA_LB_META, ml, MAXL);
            meta = ml;
            n_parsed = labels_of_cat(e, NOA_LB_PARSED, pl, MAXL);
            parsed = pl;
        } else if (e->labels) {
            uint32_t k, nl = e->n_labels < 3 * MAXL ? e->n_labels : 3 * MAXL;
            for (k = 0; k < nl; k++)
                sl[k] = e->labels[k].l;
            out_ls = (struct noa_labels){sl, nl};
        } else if (!j->categorize && e->n_meta) {
            out_ls = (struct noa_labels){sl, noa_logsel_merged_labels(ls, e, sl, 3 * MAXL)};
        }
        if (multi)
            out_ls =
                (struct noa_labels){tl, noa_tenants_relabel(&out_ls, j->tenants.ids[t], tl, MAXL)};
        /* An entry whose labels are its stream's (no pipeline change, no
         * metadata folded in) lands where the stream's first one did. */
        int plain = !e->labels && (j->categorize || !e->n_meta);
        size_t *slot = plain ? &memo[first[t] + e->stream] : NULL;
        size_t k = slot && *slot ? *slot - 1 : out_stream_find(&os, &n_os, &cap_os, &out_ls);
        if (slot)
            *slot = k + 1;
        struct noa_buf *v = &os[k].values;
        if (v->len)
            noa_buf_putc(v, ',');
        noa_buf_printf(v, "[\"%lld\",", (long long)e->ts);
        noa_buf_put_json_str(v, e->line.p, e->line.len);
        if (j->categorize) {
            noa_buf_putc(v, ',');
            put_categories(v, meta, n_meta, parsed, n_parsed);
        }
        noa_buf_putc(v, ']');
    }
    noa_free(sl);
    noa_free(pos);
    noa_free(first);
    noa_free(memo);
    struct noa_buf *b = &j->out;
    noa_buf_append_str(b, NOA_STR("{\"status\":\"success\",\"data\":{\"resultType\":\"streams\","));
    if (j->categorize)
        noa_buf_append_str(b, NOA_STR("\"encodingFlags\":[\"categorize-labels\"],"));
    noa_buf_append_str(b, NOA_STR("\"result\":["));
    for (size_t k = 0; k < n_os; k++) {
        if (k)
            noa_buf_putc(b, ',');
        noa_buf_append_str(b, NOA_STR("{\"stream\":"));
        noa_buf_append(b, os[k].labels.data, os[k].labels.len);
        noa_buf_append_str(b, NOA_STR(",\"values\":["));
        noa_buf_append(b, os[k].values.data, os[k].values.len);
        noa_buf_append_str(b, NOA_STR("]}"));
        noa_buf_fini(&os[k].key);
        noa_buf_fini(&os[k].labels);
        noa_buf_fini(&os[k].values);
    }
    noa_free(os);
    noa_buf_append_str(b, NOA_STR("],\"stats\":"));
    struct noa_stats_json st = {.entries_returned = returned};
    for (unsigned k = 0; k < n; k++)
        noa_stats_json_add(&st, &rs[k]);
    st.exec_s = (double)(noa_clock_mono_ns() - j->t_work) / 1e9;
    st.queue_s = (double)(j->t_work - j->t0) / 1e9;
    noa_stats_json_put(b, &st);
    noa_buf_append_str(b, NOA_STR("}}\n"));
}

/* ---- label and series collection -------------------------------------------- */

struct collect {
    struct query_job *j;
    struct noa_strset set;
    struct noa_buf scratch;
    int multi; /* several tenants: series gain __tenant_id__ */
};

static int names_cb(const struct noa_labels *ls, void *arg)
{
    struct collect *c = arg;
    for (uint32_t i = 0; i < ls->n; i++)
        noa_strset_add(&c->set, ls->v[i].name);
    return 0;
}

static int values_cb(const struct noa_labels *ls, void *arg)
{
    struct collect *c = arg;
    struct noa_str v = noa_labels_get(ls, noa_str_c(c->j->label_name));
    if (v.len)
        noa_strset_add(&c->set, v);
    return 0;
}

static int series_cb(const struct noa_labels *ls, void *arg)
{
    struct collect *c = arg;
    noa_buf_reset(&c->scratch);
    /* Loki's MultiTenantQuerier.Series adds the tenant unless the series
     * already has a __tenant_id__ label. */
    if (c->multi && !noa_labels_get(ls, NOA_STR(NOA_TENANTS_LABEL)).len) {
        struct noa_label *v = noa_xmalloc((ls->n + 1) * sizeof(*v));
        memcpy(v, ls->v, ls->n * sizeof(*v));
        v[ls->n] = (struct noa_label){NOA_STR(NOA_TENANTS_LABEL), noa_str_c(c->j->tenant)};
        struct noa_labels tmp = {v, ls->n + 1};
        noa_labels_sort(&tmp);
        put_labels_object(&c->scratch, tmp.v, tmp.n);
        noa_free(v);
    } else {
        put_labels_object(&c->scratch, ls->v, ls->n);
    }
    noa_strset_add(&c->set, (struct noa_str){c->scratch.data, c->scratch.len});
    return 0;
}

static int index_str_cb(struct noa_str s, void *arg)
{
    noa_strset_add(&((struct collect *)arg)->set, s);
    return 0;
}

static int index_series_cb(uint64_t fp, const struct noa_labels *ls, void *arg)
{
    (void)fp;
    return series_cb(ls, arg);
}

/* One selector (or none) over memory, then the index, into c->set. */
static int collect_one(struct query_job *j, struct collect *c, const struct noa_selector *sel)
{
    struct noa_ingester *ing = j->api->ctx->ingester;
    struct noa_index *idx = noa_ingester_index(ing);
    int (*mem_cb)(const struct noa_labels *, void *) = j->kind == JOB_LABELS   ? names_cb
                                                       : j->kind == JOB_VALUES ? values_cb
                                                                               : series_cb;
    int rc = noa_ingester_each_stream(ing, j->tenant, sel, j->start_ns, j->end_ns, mem_cb, c);
    if (rc < 0)
        return rc;
    switch (j->kind) {
    case JOB_LABELS:
        return noa_index_label_names(idx, j->tenant, j->start_ns, j->end_ns, sel, index_str_cb, c);
    case JOB_VALUES:
        return noa_index_label_values(idx, j->tenant, noa_str_c(j->label_name), j->start_ns,
                                      j->end_ns, sel, index_str_cb, c);
    default:
        return noa_index_series(idx, j->tenant, j->start_ns, j->end_ns, sel, index_series_cb, c);
    }
}

/* Every tenant, every selector (or none), into c->set, as Loki's
 * MultiTenantQuerier merges label and series answers. */
static int run_collect(struct query_job *j, struct collect *c)
{
    c->multi = j->tenants.n > 1;
    if (j->kind == JOB_VALUES && strcmp(j->label_name, NOA_TENANTS_LABEL) == 0) {
        /* Loki answers the tenant label's values from the header alone. */
        for (unsigned t = 0; t < j->tenants.n; t++)
            noa_strset_add(&c->set, noa_str_c(j->tenants.ids[t]));
        return 0;
    }
    for (unsigned t = 0; t < j->tenants.n; t++) {
        j->tenant = j->tenants.ids[t];
        int rc = 0;
        if (!j->n_sels)
            rc = collect_one(j, c, NULL);
        for (unsigned i = 0; rc == 0 && i < j->n_sels; i++)
            rc = collect_one(j, c, &j->sels[i]);
        if (rc == 0 && j->deadline && noa_clock_mono_ns() > j->deadline)
            rc = NOA_ETIMEOUT;
        if (rc < 0)
            return rc;
    }
    if (j->kind == JOB_LABELS && c->multi)
        noa_strset_add(&c->set, NOA_STR(NOA_TENANTS_LABEL));
    return 0;
}

/* Loki's answer: names and values as a sorted JSON array of strings, series
 * as an array of label objects (already JSON). An empty list of names or
 * values has no "data" key at all (Loki's LabelResponse omits it). */
static void encode_strset(struct query_job *j, const struct noa_strset *s, int raw_json)
{
    if (!s->n && !raw_json) {
        noa_buf_append_str(&j->out, NOA_STR("{\"status\":\"success\"}\n"));
        return;
    }
    struct noa_str *v = noa_strset_sorted(s);
    noa_buf_append(&j->out, "{\"status\":\"success\",\"data\":[", 28);
    for (size_t i = 0; i < s->n; i++) {
        if (i)
            noa_buf_putc(&j->out, ',');
        if (raw_json)
            noa_buf_append_str(&j->out, v[i]);
        else
            noa_buf_put_json_str(&j->out, v[i].p, v[i].len);
    }
    noa_free(v);
    noa_buf_append(&j->out, "]}\n", 3);
}

/* ---- index/stats --------------------------------------------------------------- */

struct stats_acc {
    struct query_job *j;
    struct noa_strset streams; /* fingerprints seen, as 8-byte strings */
    uint64_t chunks, bytes, entries;
};

static int stats_chunk_cb(const struct noa_chunk_ref *ref, void *arg)
{
    struct stats_acc *a = arg;
    a->chunks++;
    a->bytes += ref->raw_bytes;
    a->entries += ref->entries;
    return 0;
}

static int stats_series_cb(uint64_t fp, const struct noa_labels *ls, void *arg)
{
    struct stats_acc *a = arg;
    (void)ls;
    noa_strset_add(&a->streams, (struct noa_str){(const char *)&fp, sizeof(fp)});
    return noa_index_chunks(noa_ingester_index(a->j->api->ctx->ingester), a->j->tenant, fp,
                            a->j->start_ns, a->j->end_ns, stats_chunk_cb, a);
}

/* One tenant's index/stats figures, added to *a (streams counted per
 * tenant: the same labels in two tenants are two streams). */
static int stats_one(struct query_job *j, const struct noa_selector *sel, struct stats_acc *a,
                     uint64_t *streams)
{
    struct noa_ingester *ing = j->api->ctx->ingester;
    struct noa_mem_stream *mem = NULL;
    size_t n_mem = 0;
    noa_strset_init(&a->streams);
    int rc = noa_index_series(noa_ingester_index(ing), j->tenant, j->start_ns, j->end_ns, sel,
                              stats_series_cb, a);
    if (rc == 0)
        rc = noa_ingester_snapshot(ing, j->tenant, sel, j->start_ns, j->end_ns, 1, &mem, &n_mem);
    for (size_t i = 0; rc == 0 && i < n_mem; i++) {
        noa_strset_add(&a->streams, (struct noa_str){(const char *)&mem[i].fp, sizeof(mem[i].fp)});
        for (uint32_t b = 0; b < mem[i].n_blocks; b++) {
            a->entries += mem[i].blocks[b]->cb.n_entries;
            a->bytes += mem[i].blocks[b]->cb.raw_len;
        }
        a->entries += mem[i].head_entries;
        a->bytes += mem[i].head.len;
    }
    noa_mem_streams_free(mem, n_mem);
    *streams += a->streams.n;
    noa_strset_fini(&a->streams);
    return rc;
}

/* Loki's index/stats: streams, chunks, bytes and entries a selector covers
 * in the range, summed over the tenants (Loki's MergeStats). Flushed chunks
 * come from the index; data still in memory adds its streams, entries and
 * raw bytes (it is in no chunk yet). */
static int run_stats(struct query_job *j)
{
    const struct noa_logql_expr *log = NULL;
    if (j->expr)
        noa_logql_selectors(j->expr, &log, 1);
    const struct noa_selector *sel = log ? &log->selector : NULL;
    struct stats_acc a = {.j = j};
    uint64_t streams = 0;
    int rc = 0;
    for (unsigned t = 0; rc == 0 && t < j->tenants.n; t++) {
        j->tenant = j->tenants.ids[t];
        rc = stats_one(j, sel, &a, &streams);
        if (rc == 0 && j->deadline && noa_clock_mono_ns() > j->deadline)
            rc = NOA_ETIMEOUT;
    }
    if (rc == 0)
        noa_buf_printf(&j->out,
                       "{\"streams\":%llu,\"chunks\":%llu,\"bytes\":%llu,\"entries\":%llu}\n",
                       (unsigned long long)streams, (unsigned long long)a.chunks,
                       (unsigned long long)a.bytes, (unsigned long long)a.entries);
    return rc;
}

/* Samples unwrap aggregations may hold at once (about 16 bytes each):
 * 10M bounds one query near 160 MB. */
#define METRIC_MAX_SAMPLES 10000000u

static int empty_each_stream(void *ctx, const struct noa_logql_expr *log, int64_t from_ns,
                             int64_t through_ns, const struct noa_metric_sink *sink)
{
    (void)ctx, (void)log, (void)from_ns, (void)through_ns, (void)sink;
    return 0;
}

/* A metric query: one evaluation over every tenant's streams, encoded as
 * Loki's matrix, vector or scalar with the stats object. */
static void run_metric(struct query_job *j)
{
    const struct noa_limits *lim = j->api->ctx->limits;
    struct noa_metric_store ms;
    struct noa_metric_result res;
    int evaluated = 0;
    struct noa_metric_opts o = {
        .start_ns = j->start_ns,
        .end_ns = j->end_ns,
        .step_ns = j->step_ns,
        .max_series = lim->max_query_series > 0 ? (uint32_t)lim->max_query_series : 0,
        .max_samples = METRIC_MAX_SAMPLES,
        .err_full = &j->err_full,
    };
    j->status = noa_metric_store_init(&ms, j->api->ctx->ingester, &j->tenants, j->expr, j->deadline,
                                      &j->err);
    if (j->status == 0) {
        struct noa_metric_source src = noa_metric_store_source(&ms);
        if (j->empty) /* outside max_query_lookback: nothing to read */
            src = (struct noa_metric_source){.each_stream = empty_each_stream};
        j->status = noa_metric_eval(j->expr, &src, &o, &res, &j->err);
        evaluated = 1;
    }
    if (j->status < 0 && !j->err.msg[0] && ms.err.msg[0])
        j->err = ms.err; /* the storage's own error */
    if (j->status == 0) {
        struct noa_stats_json st = {0};
        const struct noa_streamread_stats *rs = &ms.st;
        st.bytes_processed = rs->bytes;
        st.lines_processed = rs->entries;
        st.chunks_ref = rs->chunks_ref;
        st.chunks_downloaded = rs->chunks_downloaded;
        st.decompressed_bytes = rs->decompressed_bytes;
        st.decompressed_lines = rs->decompressed_lines;
        st.compressed_bytes = rs->compressed_bytes;
        st.duplicates = rs->duplicates;
        st.head_bytes = rs->head_bytes;
        st.head_lines = rs->head_lines;
        st.streams = ms.streams;
        st.blocks_skipped = rs->blocks_skipped;
        st.ingester_reached = j->empty ? 0 : j->tenants.n;
        st.exec_s = (double)(noa_clock_mono_ns() - j->t_work) / 1e9;
        st.queue_s = (double)(j->t_work - j->t0) / 1e9;
        noa_metric_json_encode(&res, &st, &j->out);
        noa_buf_putc(&j->out, '\n');
    }
    if (evaluated)
        noa_metric_result_fini(&res);
    noa_metric_store_fini(&ms);
}

/* A log query over every tenant (one selection each), merged. */
static void run_range(struct query_job *j)
{
    struct noa_ingester *ing = j->api->ctx->ingester;
    unsigned n = j->empty ? 0 : j->tenants.n;
    struct noa_logsel_result *rs = noa_xcalloc(n ? n : 1, sizeof(*rs));
    unsigned done = 0;
    j->status = 0;
    for (; done < n && j->status == 0; done++) {
        struct noa_logsel_query q = {.tenant = j->tenants.ids[done],
                                     .sel = &j->expr->selector,
                                     .pipeline = j->pipeline,
                                     .start_ns = j->start_ns,
                                     .end_ns = j->end_ns,
                                     .limit = j->limit,
                                     .backward = j->backward,
                                     .deadline_ns = j->deadline};
        j->status = noa_logsel_run(ing, &q, &rs[done], &j->err);
        if (j->status == 0 && j->deadline && noa_clock_mono_ns() > j->deadline)
            j->status = NOA_ETIMEOUT;
    }
    if (j->status == 0)
        encode_streams(j, rs, n, j->multi);
    for (unsigned t = 0; t < done; t++)
        noa_logsel_result_fini(&rs[t]);
    noa_free(rs);
}

static void query_work(uv_work_t *w)
{
    struct query_job *j = w->data;
    j->t_work = noa_clock_mono_ns();
    if (j->deadline && j->t_work > j->deadline) {
        j->status = NOA_ETIMEOUT;
    } else if (j->kind == JOB_RANGE && j->metric) {
        run_metric(j);
    } else if (j->kind == JOB_RANGE) {
        run_range(j);
    } else if (j->kind == JOB_STATS) {
        j->status = run_stats(j);
    } else {
        struct collect c = {.j = j};
        noa_strset_init(&c.set);
        j->status = run_collect(j, &c);
        if (j->status == 0)
            encode_strset(j, &c.set, j->kind == JOB_SERIES);
        noa_strset_fini(&c.set);
        noa_buf_fini(&c.scratch);
    }
    if (j->status == NOA_ETIMEOUT)
        noa_error_set(&j->err, NOA_ETIMEOUT, "%s", timeout_msg);
    else if (j->status < 0 && !j->err.msg[0])
        noa_error_set(&j->err, j->status, "%s", noa_strerror(j->status));
}

static void query_after(uv_work_t *w, int status)
{
    struct query_job *j = w->data;
    if (status < 0 || j->status < 0) {
        int code = status < 0 ? 500 : noa_err_http_status(j->status);
        noa_http_reply_header(j->req, "X-Content-Type-Options", "nosniff");
        if (status == 0 && j->status != NOA_ETIMEOUT && j->err_full.len)
            noa_http_reply(j->req, code, "text/plain; charset=utf-8", j->err_full.data,
                           j->err_full.len);
        else
            noa_http_reply(j->req, code, "text/plain; charset=utf-8", j->err.msg,
                           strlen(j->err.msg));
    } else {
        noa_http_reply_buf(j->req, 200, "application/json; charset=UTF-8", &j->out);
    }
    job_free(j);
}

/* ---- handlers ---------------------------------------------------------------- */

static int add_selector(struct query_job *j, const struct noa_str *text, struct noa_error *err)
{
    j->sels = noa_xrealloc(j->sels, (j->n_sels + 1) * sizeof(*j->sels));
    char *s = noa_xstrndup(text->p, text->len);
    int rc = noa_selector_parse_str(s, &j->sels[j->n_sels], err);
    noa_free(s);
    if (rc == 0)
        j->n_sels++;
    return rc;
}

/* Parses a LogQL query; a log query gets its pipeline compiled into the
 * job, a metric query (constant ones such as Grafana's health check
 * `vector(1)+vector(1)` included) is marked for the metric engine. */
static int parse_log_query(struct query_job *j, const struct noa_str *q, struct noa_error *err)
{
    int rc = noa_logql_parse(q->p, q->len, &j->expr, err);
    if (rc < 0)
        return rc;
    if (!noa_logql_is_log(j->expr)) {
        j->metric = 1;
        return 0;
    }
    return noa_pipeline_new(j->expr, &j->pipeline, err);
}

/* Common start of every handler: tenant, form, time bounds. */
static int job_begin(struct noa_query_api *api, struct noa_http_request *req, enum job_kind kind,
                     struct noa_form *form, struct query_job **out, struct noa_error *err)
{
    struct query_job *j = noa_xcalloc(1, sizeof(*j));
    int rc;
    j->api = api;
    j->req = req;
    j->kind = kind;
    j->t0 = noa_clock_mono_ns();
    j->work.data = j;
    *out = j;
    rc = noa_request_tenants(req, api->ctx->auth_enabled, api->ctx->ingester, &j->tenants, err);
    if (rc < 0)
        return rc;
    j->tenant = j->tenants.ids[0];
    j->multi = j->tenants.n > 1;
    rc = noa_form_parse_request(form, &req->arena, req, err);
    if (rc < 0)
        return rc;
    return noa_params_bounds(noa_form_get(form, "start"), noa_form_get(form, "end"),
                             noa_form_get(form, "since"), noa_clock_real_ns(), &j->start_ns,
                             &j->end_ns, err);
}

/* Queues the job; query_timeout starts counting when the request was
 * taken, as Loki's context deadline does. */
static void job_submit(struct noa_query_api *api, struct query_job *j)
{
    if (api->ctx->limits->query_timeout_ns > 0)
        j->deadline = j->t0 + api->ctx->limits->query_timeout_ns;
    int rc = uv_queue_work(api->ctx->loop, &j->work, query_work, query_after);
    if (rc < 0) {
        noa_request_reply_error(j->req, 500, uv_strerror(rc));
        job_free(j);
    }
}

static void fail(struct noa_http_request *req, struct query_job *j, int rc,
                 const struct noa_error *err)
{
    noa_request_fail(req, rc, err);
    job_free(j);
}

/* An empty query is the parser's error at its first position, as Loki's. */
static int require_query(const struct noa_str *q, struct noa_error *err)
{
    if (q && q->len)
        return 0;
    return noa_error_set(err, NOA_EINVAL, "parse error : syntax error: unexpected $end");
}

static void query_range_handler(struct noa_http_request *req, void *ctx)
{
    struct noa_query_api *api = ctx;
    struct noa_form form = {0};
    struct noa_error err = {0};
    struct query_job *j;
    int rc = job_begin(api, req, JOB_RANGE, &form, &j, &err);
    if (rc < 0)
        goto fail;
    /* Loki's order: the parameters (loghttp.ParseRangeQuery), the query
     * text, then the frontend's limits. */
    const struct noa_str *q = noa_form_get(&form, "query");
    int64_t step;
    if (j->end_ns < j->start_ns) {
        rc = noa_error_set(&err, NOA_EINVAL,
                           "end timestamp must not be before or equal to start time");
        goto fail;
    }
    if ((rc = noa_params_limit(noa_form_get(&form, "limit"), &j->limit, &err)) < 0 ||
        (rc = noa_params_direction(noa_form_get(&form, "direction"), &j->backward, &err)) < 0 ||
        (rc = noa_params_range_step(noa_form_get(&form, "step"), j->start_ns, j->end_ns, &step,
                                    &err)) < 0)
        goto fail;
    if ((rc = require_query(q, &err)) < 0 || (rc = parse_log_query(j, q, &err)) < 0)
        goto fail;
    const struct noa_limits *lim = api->ctx->limits;
    if ((rc = noa_params_check_limit(lim, j->limit, &err)) < 0 ||
        (rc = noa_params_check_range(lim, noa_clock_real_ns(), &j->start_ns, &j->end_ns, &j->empty,
                                     &err)) < 0)
        goto fail;
    if (j->metric) { /* multi-tenant matchers are handled by the metric store */
        j->step_ns = step;
        job_submit(api, j);
        return;
    }
    if (j->multi && (rc = noa_tenants_filter_selector(&j->tenants, &j->expr->selector, &err)) < 0)
        goto fail;
    const struct noa_str *flags = noa_http_request_header(req, "X-Loki-Response-Encoding-Flags");
    j->categorize = flags && memmem(flags->p, flags->len, "categorize-labels", 17) != NULL;
    job_submit(api, j);
    return;
fail:
    fail(req, j, rc, &err);
}

static void instant_query_handler(struct noa_http_request *req, void *ctx)
{
    struct noa_query_api *api = ctx;
    struct noa_form form = {0};
    struct noa_error err = {0};
    struct query_job *j;
    int rc = job_begin(api, req, JOB_RANGE, &form, &j, &err);
    if (rc < 0)
        goto fail;
    const struct noa_str *q = noa_form_get(&form, "query");
    const struct noa_str *t = noa_form_get(&form, "time");
    j->end_ns = noa_clock_real_ns();
    if (t && t->len && (rc = noa_params_timestamp(*t, &j->end_ns, &err)) < 0)
        goto fail;
    if ((rc = noa_params_limit(noa_form_get(&form, "limit"), &j->limit, &err)) < 0 ||
        (rc = noa_params_direction(noa_form_get(&form, "direction"), &j->backward, &err)) < 0)
        goto fail;
    if ((rc = require_query(q, &err)) < 0)
        goto fail;
    if ((rc = noa_logql_parse(q->p, q->len, &j->expr, &err)) < 0)
        goto fail;
    if (noa_logql_is_log(j->expr)) {
        rc = noa_error_set(&err, NOA_EINVAL,
                           "log queries are not supported as an instant query type, please "
                           "change your query to a range query type");
    } else {
        /* One evaluation at `time`: step 0. */
        j->metric = 1;
        j->start_ns = j->end_ns;
        j->step_ns = 0;
        job_submit(api, j);
        return;
    }
fail:
    fail(req, j, rc, &err);
}

static void labels_like_handler(struct noa_http_request *req, struct noa_query_api *api,
                                enum job_kind kind)
{
    struct noa_form form = {0};
    struct noa_error err = {0};
    struct query_job *j;
    int rc = job_begin(api, req, kind, &form, &j, &err);
    if (rc < 0)
        goto fail;
    if (kind == JOB_SERIES) {
        const char *keys[] = {"match[]", "match"};
        for (int k = 0; k < 2; k++) {
            size_t it = 0;
            const struct noa_str *m;
            while ((m = noa_form_next(&form, keys[k], &it)))
                if (m->len && (rc = add_selector(j, m, &err)) < 0)
                    goto fail;
        }
    } else if (kind == JOB_STATS) {
        /* Loki takes the matchers of any LogQL expression here. */
        const struct noa_str *q = noa_form_get(&form, "query");
        if (q && q->len && (rc = noa_logql_parse(q->p, q->len, &j->expr, &err)) < 0)
            goto fail;
    } else {
        const struct noa_str *q = noa_form_get(&form, "query");
        if (q && q->len && (rc = add_selector(j, q, &err)) < 0)
            goto fail;
    }
    if (kind == JOB_VALUES) {
        struct noa_str name = noa_http_request_param(req, "name");
        j->label_name = noa_xstrndup(name.p, name.len);
    }
    rc = noa_params_check_metadata_range(api->ctx->limits, noa_clock_real_ns(), &j->start_ns,
                                         &j->end_ns, &err);
    if (rc < 0)
        goto fail;
    job_submit(api, j);
    return;
fail:
    fail(req, j, rc, &err);
}

static void labels_handler(struct noa_http_request *req, void *ctx)
{
    labels_like_handler(req, ctx, JOB_LABELS);
}

static void values_handler(struct noa_http_request *req, void *ctx)
{
    labels_like_handler(req, ctx, JOB_VALUES);
}

static void series_handler(struct noa_http_request *req, void *ctx)
{
    labels_like_handler(req, ctx, JOB_SERIES);
}

static void stats_handler(struct noa_http_request *req, void *ctx)
{
    labels_like_handler(req, ctx, JOB_STATS);
}

/* GET|POST /loki/api/v1/format_query: the query as Loki's
 * syntax.Prettify() prints it (the canonical one-line text, split over
 * indented lines when longer than 100 bytes). Not tenant-scoped; parsing
 * is quick, so it runs on the loop thread. */
static void format_query_handler(struct noa_http_request *req, void *ctx)
{
    (void)ctx;
    struct noa_form form = {0};
    struct noa_error err = {0};
    struct noa_buf out = {0};
    struct noa_logql_expr *e = NULL;
    int status = 200;
    noa_form_parse_request(&form, &req->arena, req, &err);
    const struct noa_str *q = noa_form_get(&form, "query");
    struct noa_str text = q ? *q : (struct noa_str){"", 0};
    if (noa_logql_parse(text.p, text.len, &e, &err) == 0) {
        struct noa_buf f = {0};
        noa_logql_pretty(e, &f);
        noa_buf_append_str(&out, NOA_STR("{\"status\":\"success\",\"data\":"));
        noa_buf_put_json_str(&out, f.data, f.len);
        noa_buf_fini(&f);
    } else {
        status = 400;
        noa_buf_append_str(&out, NOA_STR("{\"status\":\"invalid-query\",\"error\":"));
        noa_buf_put_json_str(&out, err.msg, strlen(err.msg));
    }
    noa_buf_append(&out, "}\n", 2);
    noa_logql_free(e);
    noa_http_reply_buf(req, status, "application/json; charset=utf-8", &out);
}

int noa_query_api_new(struct noa_http_server *srv, const struct noa_read_api_context *ctx,
                      struct noa_query_api **out)
{
    static const struct noa_http_route_spec routes[] = {
        {NOA_HTTP_GET_POST, "/loki/api/v1/query_range", "loki_api_v1_query_range",
         query_range_handler},
        {NOA_HTTP_GET_POST, "/api/prom/query", "api_prom_query", query_range_handler},
        {NOA_HTTP_GET_POST, "/loki/api/v1/query", "loki_api_v1_query", instant_query_handler},
        {NOA_HTTP_GET_POST, "/loki/api/v1/labels", "loki_api_v1_labels", labels_handler},
        {NOA_HTTP_GET_POST, "/loki/api/v1/label", "loki_api_v1_label", labels_handler},
        {NOA_HTTP_GET_POST, "/api/prom/label", "api_prom_label", labels_handler},
        {NOA_HTTP_GET_POST, "/loki/api/v1/label/{name}/values", "loki_api_v1_label_name_values",
         values_handler},
        {NOA_HTTP_GET_POST, "/api/prom/label/{name}/values", "api_prom_label_name_values",
         values_handler},
        {NOA_HTTP_GET_POST, "/loki/api/v1/series", "loki_api_v1_series", series_handler},
        {NOA_HTTP_GET_POST, "/api/prom/series", "api_prom_series", series_handler},
        {NOA_HTTP_GET_POST, "/loki/api/v1/format_query", "loki_api_v1_format_query",
         format_query_handler},
        {NOA_HTTP_GET_POST, "/loki/api/v1/index/stats", "loki_api_v1_index_stats", stats_handler},
    };
    struct noa_query_api *api = noa_xcalloc(1, sizeof(*api));
    api->ctx = ctx;
    int rc = noa_http_server_routes(srv, routes, sizeof(routes) / sizeof(routes[0]), api);
    if (rc < 0) {
        noa_free(api);
        return rc;
    }
    *out = api;
    return 0;
}

void noa_query_api_free(struct noa_query_api *api)
{
    noa_free(api);
}
