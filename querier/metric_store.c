/*
 * The metric engine's source over the index and the ingester's memory
 * (see metric_store.h). Runs on the query's worker thread; one stream is
 * read at a time, so memory is one stream's open blocks plus the label
 * sets of the matching streams of one tenant. The parallel form
 * (each_stream_par) lists a tenant's streams once and hands them out to
 * reading threads it starts and joins, one stream at a time each.
 */
#include "querier/metric_store.h"
#include "common/clock.h"
#include "common/mem.h"
#include "common/pipeline.h"
#include "ingester/index.h"

#include <pthread.h>
#include <stdatomic.h>
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
    int lens_only;                             /* the sinks read no line bytes */
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

/* The labels a stream shows the engine: its own, or with __tenant_id__
 * (built in *buf, grown as needed: one per reading thread). */
static const struct noa_labels *stream_labels(const struct noa_metric_store *s, const char *tenant,
                                              const struct noa_labels *ls, struct noa_label **buf,
                                              uint32_t *cap, struct noa_labels *tmp)
{
    if (s->tenants->n < 2)
        return ls;
    if (*cap < ls->n + 1) {
        *cap = ls->n + 1;
        *buf = noa_xrealloc(*buf, *cap * sizeof(**buf));
    }
    tmp->v = *buf;
    tmp->n = noa_tenants_relabel(ls, tenant, *buf, *cap);
    return tmp;
}

/* Lists the matching streams of w->tenant into w->v (sorted by
 * fingerprint, memory-only ones after): the order every read follows.
 * *mem holds the memory snapshot the entries point to. */
static int list_streams(struct walk *w, const struct noa_logql_expr *log, int64_t from,
                        int64_t through, struct noa_mem_stream **mem_out, size_t *n_mem_out)
{
    struct noa_metric_store *s = w->s;
    struct noa_mem_stream *mem = NULL;
    size_t n_mem = 0;
    int rc = noa_ingester_snapshot(s->ing, w->tenant, &log->selector, from, through - 1, 1, &mem,
                                   &n_mem);
    *mem_out = mem;
    *n_mem_out = n_mem;
    if (rc < 0)
        return noa_error_set(&s->err, rc, "memory lookup failed: %s", noa_strerror(rc));
    rc = noa_index_series(noa_ingester_index(s->ing), w->tenant, from, through - 1, &log->selector,
                          series_cb, w);
    if (rc < 0)
        return noa_error_set(&s->err, rc, "index lookup failed: %s", noa_strerror(rc));
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
    return 0;
}

static void release_streams(struct walk *w, struct noa_mem_stream *mem, size_t n_mem)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->v[i].owned)
            noa_free(w->v[i].labels.v);
    w->n = 0;
    noa_mem_streams_free(mem, n_mem);
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
    int rc = list_streams(w, log, from, through, &mem, &n_mem);
    if (rc < 0)
        goto done;
    for (size_t i = 0; i < w->n && rc == 0; i++) {
        if (deadline_passed(s)) {
            rc = noa_error_set(&s->err, NOA_ETIMEOUT, "context deadline exceeded");
            break;
        }
        struct mstream *m = &w->v[i];
        w->labels = stream_labels(s, w->tenant, &m->labels, &s->relabel, &s->cap_relabel, &tmp);
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
                                         .lens_only = w->lens_only,
                                         .entry_cb = entry_cb,
                                         .arg = w};
        rc = noa_streamread_run(&q, &s->st, &s->err);
    }
done:
    release_streams(w, mem, n_mem);
    return rc;
}

static int each_stream(void *ctx, const struct noa_logql_expr *log, int64_t from_ns,
                       int64_t through_ns, const struct noa_metric_sink *sink)
{
    struct noa_metric_store *s = ctx;
    const unsigned char *on = NULL;
    struct walk w = {.s = s, .sink = sink, .lens_only = sink->lens_only};
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

/* ---- the parallel form ---- */

/* One reading thread: takes the next stream of the shared list until none
 * is left or some thread failed. Everything it writes is its own. */
struct pworker {
    struct noa_metric_store *s; /* read-only here (deadline, tenants) */
    const struct noa_metric_psink *sink;
    const struct walk *list; /* the tenant's streams, read-only */
    const struct noa_streamread_required *req;
    int64_t from, through;
    uint64_t seq_base;
    atomic_size_t *next;
    atomic_int *stop;
    struct noa_streamread_stats st;
    uint64_t streams;
    struct noa_error err;
    struct noa_label *relabel;
    uint32_t cap_relabel;
    const struct noa_labels *labels;
    uint64_t seq;
    int started;
    int rc;
};

static int pentry_cb(void *arg, int64_t ts, struct noa_str line, const struct noa_label *meta,
                     uint32_t n_meta)
{
    struct pworker *p = arg;
    if (!p->started) {
        p->started = 1;
        p->streams++;
        int rc = p->sink->stream_cb(p->sink->arg, p->seq, p->labels);
        if (rc)
            return rc;
    }
    return p->sink->entry_cb(p->sink->arg, ts, line, meta, n_meta);
}

static void *pworker_run(void *arg)
{
    struct pworker *p = arg;
    struct noa_labels tmp;
    while (p->rc == 0 && !atomic_load_explicit(p->stop, memory_order_relaxed)) {
        size_t i = atomic_fetch_add(p->next, 1);
        if (i >= p->list->n)
            break;
        if (deadline_passed(p->s)) {
            p->rc = noa_error_set(&p->err, NOA_ETIMEOUT, "context deadline exceeded");
            break;
        }
        const struct mstream *m = &p->list->v[i];
        p->labels =
            stream_labels(p->s, p->list->tenant, &m->labels, &p->relabel, &p->cap_relabel, &tmp);
        p->started = 0;
        p->seq = p->seq_base + i;
        struct noa_streamread_query q = {.ing = p->s->ing,
                                         .tenant = p->list->tenant,
                                         .fp = m->fp,
                                         .indexed = m->indexed,
                                         .mem = m->mem,
                                         .from_ns = p->from,
                                         .through_ns = p->through,
                                         .deadline_ns = p->s->deadline_ns,
                                         .req = p->req,
                                         .lens_only = p->list->lens_only,
                                         .entry_cb = pentry_cb,
                                         .arg = p};
        p->rc = noa_streamread_run(&q, &p->st, &p->err);
    }
    if (p->rc)
        atomic_store(p->stop, 1);
    return NULL;
}

/* Every figure of struct noa_streamread_stats is a uint64_t counter. */
_Static_assert(sizeof(struct noa_streamread_stats) % sizeof(uint64_t) == 0, "stats layout");
static void stats_add(struct noa_streamread_stats *to, const struct noa_streamread_stats *from)
{
    uint64_t v[sizeof(*to) / sizeof(uint64_t)], w[sizeof(*to) / sizeof(uint64_t)];
    memcpy(v, to, sizeof(v));
    memcpy(w, from, sizeof(w));
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        v[i] += w[i];
    memcpy(to, v, sizeof(v));
}

/* The tenant's streams over n threads (this one and n - 1 started here);
 * seq numbers each stream by its place in each_stream's order. */
static int tenant_par(struct walk *w, struct pworker *pw, unsigned n,
                      const struct noa_logql_expr *log, int64_t from, int64_t through,
                      uint64_t *seq_base)
{
    struct noa_mem_stream *mem = NULL;
    size_t n_mem = 0;
    int rc = list_streams(w, log, from, through, &mem, &n_mem);
    if (rc < 0)
        goto done;
    atomic_size_t next = 0;
    atomic_int stop = 0;
    pthread_t th[NOA_METRIC_RANGE_THREADS * 4];
    unsigned created = 0;
    if (n > sizeof(th) / sizeof(th[0]))
        n = sizeof(th) / sizeof(th[0]);
    for (unsigned k = 0; k < n; k++) {
        pw[k].list = w;
        pw[k].req = w->req;
        pw[k].from = from;
        pw[k].through = through;
        pw[k].seq_base = *seq_base;
        pw[k].next = &next;
        pw[k].stop = &stop;
    }
    /* A thread that cannot start leaves its share to the others. */
    for (unsigned k = 1; k < n && k < w->n; k++) {
        if (pthread_create(&th[created], NULL, pworker_run, &pw[k]) != 0)
            break;
        created++;
    }
    pworker_run(&pw[0]);
    for (unsigned k = 0; k < created; k++)
        pthread_join(th[k], NULL);
    for (unsigned k = 0; k < n && rc == 0; k++) {
        if (pw[k].rc) {
            rc = pw[k].rc;
            if (pw[k].err.code)
                w->s->err = pw[k].err;
        }
    }
    *seq_base += w->n;
done:
    release_streams(w, mem, n_mem);
    return rc;
}

static int each_stream_par(void *ctx, const struct noa_logql_expr *log, int64_t from_ns,
                           int64_t through_ns, const struct noa_metric_psink *sinks, unsigned n)
{
    struct noa_metric_store *s = ctx;
    const unsigned char *on = NULL;
    struct walk w = {.s = s, .lens_only = n && sinks[0].lens_only};
    struct noa_pipeline *pipe = NULL;
    struct noa_streamread_required req;
    struct pworker *pw = noa_xcalloc(n ? n : 1, sizeof(*pw));
    uint64_t seq_base = 0;
    int rc = 0;
    if (through_ns <= from_ns || n == 0)
        goto done;
    struct noa_error perr = {0}; /* see each_stream */
    if (noa_pipeline_new(log, &pipe, &perr) < 0)
        pipe = NULL;
    noa_streamread_required_init(&req, pipe);
    w.req = &req;
    for (unsigned k = 0; k < n; k++) {
        pw[k].s = s;
        pw[k].sink = &sinks[k];
    }
    for (unsigned i = 0; i < s->n_sels; i++)
        if (s->sels[i].log == log)
            on = s->sels[i].tenant_on;
    for (unsigned t = 0; t < s->tenants->n && rc == 0; t++) {
        if (on && !on[t])
            continue;
        w.tenant = s->tenants->ids[t];
        rc = tenant_par(&w, pw, n, log, from_ns, through_ns, &seq_base);
    }
done:
    for (unsigned k = 0; k < n; k++) {
        stats_add(&s->st, &pw[k].st);
        s->streams += pw[k].streams;
        noa_free(pw[k].relabel);
    }
    noa_free(pw);
    noa_free(w.v);
    noa_pipeline_free(pipe);
    return rc;
}

struct noa_metric_source noa_metric_store_source(struct noa_metric_store *s)
{
    return (struct noa_metric_source){each_stream, s, each_stream_par};
}
