/*
 * The metric engine's source over the index and the ingester's memory
 * (see metric_store.h). Runs on the query's worker thread; one stream is
 * read at a time, so memory is one stream's open blocks plus the label
 * sets of the matching streams of one tenant.
 */
#include "querier/metric_store.h"
#include "common/clock.h"
#include "common/mem.h"
#include "common/pipeline.h"
#include "ingester/index.h"

#include <stdlib.h>
#include <string.h>

/* Which tenants one selector of the query still reads (multi-tenant). */
struct noa_metric_store_sel {
    const struct noa_logql_expr *log;
    unsigned char *tenant_on; /* per tenant of s->tenants */
};

/* A matching stream of one tenant. */
struct mstream {
    uint64_t fp;
    struct noa_labels labels; /* owned copy (index) or borrowed (memory only) */
    int owned, indexed;
    const struct noa_mem_stream *mem;
};

struct walk {
    struct noa_metric_store *s;
    const struct noa_metric_sink *sink;
    const char *tenant;
    const struct noa_streamread_required *req; /* lines the pipeline may keep */
    const struct noa_labels *labels;           /* what stream_cb gets */
    int started;                               /* stream_cb called for this stream */
    struct mstream *v;
    size_t n, cap;
};

#define MAX_SELECTORS 64

int noa_metric_store_init(struct noa_metric_store *s, struct noa_ingester *ing,
                          const struct noa_tenants *tenants, struct noa_logql_expr *e,
                          int64_t deadline_ns, struct noa_error *err)
{
    memset(s, 0, sizeof(*s));
    s->ing = ing;
    s->tenants = tenants;
    s->deadline_ns = deadline_ns;
    if (tenants->n < 2)
        return 0;
    const struct noa_logql_expr *logs[MAX_SELECTORS];
    unsigned n = noa_logql_selectors(e, logs, MAX_SELECTORS);
    if (n > MAX_SELECTORS)
        return noa_error_set(err, NOA_EINVAL, "too many stream selectors in one query (max %d)",
                             MAX_SELECTORS);
    s->sels = noa_xcalloc(n ? n : 1, sizeof(*s->sels));
    for (unsigned i = 0; i < n; i++) {
        struct noa_tenants t = {noa_xmalloc(tenants->n * sizeof(char *)), tenants->n};
        for (unsigned k = 0; k < tenants->n; k++)
            t.ids[k] = noa_xstrdup(tenants->ids[k]);
        /* The query owns its expression: rewriting its selectors is how
         * Loki's multi-tenant querier handles __tenant_id__ matchers. */
        int rc = noa_tenants_filter_selector(&t, (struct noa_selector *)&logs[i]->selector, err);
        struct noa_metric_store_sel *ms = &s->sels[s->n_sels++];
        ms->log = logs[i];
        ms->tenant_on = noa_xcalloc(tenants->n, 1);
        for (unsigned k = 0; rc == 0 && k < tenants->n; k++)
            for (unsigned x = 0; x < t.n; x++)
                if (strcmp(t.ids[x], tenants->ids[k]) == 0)
                    ms->tenant_on[k] = 1;
        noa_tenants_fini(&t);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void noa_metric_store_fini(struct noa_metric_store *s)
{
    for (unsigned i = 0; i < s->n_sels; i++)
        noa_free(s->sels[i].tenant_on);
    noa_free(s->sels);
    noa_free(s->relabel);
    s->sels = NULL;
    s->relabel = NULL;
    s->n_sels = 0;
}

static int deadline_passed(const struct noa_metric_store *s)
{
    return s->deadline_ns && noa_clock_mono_ns() >= s->deadline_ns;
}

static int series_cb(uint64_t fp, const struct noa_labels *ls, void *arg)
{
    struct walk *w = arg;
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        w->v = noa_xrealloc(w->v, w->cap * sizeof(*w->v));
    }
    w->v[w->n++] = (struct mstream){fp, noa_labels_dup(ls), 1, 1, NULL};
    return 0;
}

static int mstream_cmp(const void *a, const void *b)
{
    const struct mstream *x = a, *y = b;
    if (x->fp != y->fp)
        return x->fp < y->fp ? -1 : 1;
    return noa_labels_cmp(&x->labels, &y->labels);
}

/* The stream's first entry announces it (streams with nothing in the range
 * are never announced, as the source contract asks). */
static int entry_cb(void *arg, int64_t ts, struct noa_str line, const struct noa_label *meta,
                    uint32_t n_meta)
{
    struct walk *w = arg;
    if (!w->started) {
        w->started = 1;
        w->s->streams++;
        int rc = w->sink->stream_cb(w->sink->arg, w->labels);
        if (rc)
            return rc;
    }
    return w->sink->entry_cb(w->sink->arg, ts, line, meta, n_meta);
}

/* The labels a stream shows the engine: its own, or with __tenant_id__. */
static const struct noa_labels *stream_labels(struct noa_metric_store *s, const char *tenant,
                                              const struct noa_labels *ls, struct noa_labels *tmp)
{
    if (s->tenants->n < 2)
        return ls;
    if (s->cap_relabel < ls->n + 1) {
        s->cap_relabel = ls->n + 1;
        s->relabel = noa_xrealloc(s->relabel, s->cap_relabel * sizeof(*s->relabel));
    }
    tmp->v = s->relabel;
    tmp->n = noa_tenants_relabel(ls, tenant, s->relabel, s->cap_relabel);
    return tmp;
}

/* Every matching stream of one tenant: memory first, then the index (a
 * chunk flushed in between is then read twice and deduplicated). */
static int one_tenant(struct walk *w, const struct noa_logql_expr *log, int64_t from,
                      int64_t through)
{
    struct noa_metric_store *s = w->s;
    struct noa_mem_stream *mem = NULL;
    size_t n_mem = 0;
    struct noa_labels tmp;
    int rc = noa_ingester_snapshot(s->ing, w->tenant, &log->selector, from, through - 1, 1, &mem,
                                   &n_mem);
    if (rc < 0) {
        noa_error_set(&s->err, rc, "memory lookup failed: %s", noa_strerror(rc));
        goto done;
    }
    rc = noa_index_series(noa_ingester_index(s->ing), w->tenant, from, through - 1, &log->selector,
                          series_cb, w);
    if (rc < 0) {
        noa_error_set(&s->err, rc, "index lookup failed: %s", noa_strerror(rc));
        goto done;
    }
    if (w->n > 1)
        qsort(w->v, w->n, sizeof(*w->v), mstream_cmp);
    size_t indexed = w->n;
    for (size_t i = 0; i < n_mem; i++) {
        struct mstream key = {mem[i].fp, mem[i].labels, 0, 0, NULL};
        struct mstream *hit =
            indexed ? bsearch(&key, w->v, indexed, sizeof(*w->v), mstream_cmp) : NULL;
        if (hit) {
            hit->mem = &mem[i];
            continue;
        }
        if (w->n == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 64;
            w->v = noa_xrealloc(w->v, w->cap * sizeof(*w->v));
        }
        w->v[w->n++] = (struct mstream){mem[i].fp, mem[i].labels, 0, 0, &mem[i]};
    }
    for (size_t i = 0; i < w->n && rc == 0; i++) {
        if (deadline_passed(s)) {
            rc = noa_error_set(&s->err, NOA_ETIMEOUT, "context deadline exceeded");
            break;
        }
        struct mstream *m = &w->v[i];
        w->labels = stream_labels(s, w->tenant, &m->labels, &tmp);
        w->started = 0;
        struct noa_streamread_query q = {.ing = s->ing,
                                         .tenant = w->tenant,
                                         .fp = m->fp,
                                         .indexed = m->indexed,
                                         .mem = m->mem,
                                         .from_ns = from,
                                         .through_ns = through,
                                         .deadline_ns = s->deadline_ns,
                                         .req = w->req,
                                         .entry_cb = entry_cb,
                                         .arg = w};
        rc = noa_streamread_run(&q, &s->st, &s->err);
    }
done:
    for (size_t i = 0; i < w->n; i++)
        if (w->v[i].owned)
            noa_free(w->v[i].labels.v);
    w->n = 0;
    noa_mem_streams_free(mem, n_mem);
    return rc;
}

static int each_stream(void *ctx, const struct noa_logql_expr *log, int64_t from_ns,
                       int64_t through_ns, const struct noa_metric_sink *sink)
{
    struct noa_metric_store *s = ctx;
    const unsigned char *on = NULL;
    struct walk w = {.s = s, .sink = sink};
    struct noa_pipeline *pipe = NULL;
    struct noa_streamread_required req;
    int rc = 0;
    if (through_ns <= from_ns)
        return 0;
    /* The engine runs the whole pipeline; this copy only tells which
     * literals a kept line must hold, so that blocks and lines without
     * them are skipped. A pipeline that does not build gives no skips (the
     * engine reports the error itself). */
    struct noa_error perr = {0};
    if (noa_pipeline_new(log, &pipe, &perr) < 0)
        pipe = NULL;
    noa_streamread_required_init(&req, pipe);
    w.req = &req;
    for (unsigned i = 0; i < s->n_sels; i++)
        if (s->sels[i].log == log)
            on = s->sels[i].tenant_on;
    for (unsigned t = 0; t < s->tenants->n && rc == 0; t++) {
        if (on && !on[t])
            continue;
        w.tenant = s->tenants->ids[t];
        rc = one_tenant(&w, log, from_ns, through_ns);
    }
    noa_free(w.v);
    noa_pipeline_free(pipe);
    return rc;
}

struct noa_metric_source noa_metric_store_source(struct noa_metric_store *s)
{
    return (struct noa_metric_source){each_stream, s};
}
