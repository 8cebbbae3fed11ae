/*
 * The push receiver: its own libuv loop and thread, serving Loki's push
 * API to applications and handing the entries to the shipper's pipeline
 * through an emit callback. A request is answered only when all of its
 * entries are acknowledged downstream (see pushrecv.h for the status codes).
 *
 * Owns the loop, the HTTP server, the requests waiting for acks (a FIFO in
 * sequence order) and one scratch entry reused for every emitted line.
 */
#include "shipper/pushrecv.h"
#include "common/clock.h"
#include "common/compress.h"
#include "common/http_server.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/pushjson.h"
#include "common/pushproto.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#define TICK_MS 100
#define RETRY_MIN_MS 10
#define RETRY_MAX_MS 200
#define QUEUE_FULL_MSG "push receiver: the shipper's queue is full, retry later"

enum { KIND_PUSH, KIND_RAW };

/* One request between its arrival and its response. */
struct pending {
    struct pending *next;
    struct noa_http_request *req;
    int kind;
    struct noa_push_request pr; /* KIND_PUSH: the decoded body */
    struct noa_buf body;        /* decompressed body the request points into */
    struct noa_kvlist *streams; /* KIND_PUSH: each stream's labels (+ config labels) */
    uint32_t si, ei;            /* next entry to emit */
    size_t raw_pos;             /* KIND_RAW: next byte of the body */
    struct noa_str tenant;      /* from X-Scope-OrgID when configured; borrowed from req */
    int emitted_all;
    int taken_any;       /* an entry was emitted: no 429 any more */
    uint64_t need_seq;   /* highest sequence taken that needs an ack */
    int64_t deadline_ns; /* monotonic */
};

/*
 * THREAD SAFETY: everything except `acked` and the stats belongs to the loop
 * thread (or to the controlling thread while the loop thread is not running).
 * `acked` is atomic; `stats_mu` guards `stats`; `async_mu` guards
 * `async_live`, so noa_pushrecv_acked never signals a closed handle.
 */
struct noa_pushrecv {
    struct noa_pushrecv_config cfg; /* pointers below are our copies */
    char *job;
    char *source; /* "push-<job>" */
    char *host;
    struct noa_label *labels;
    struct noa_pushrecv_callbacks cb;
    struct noa_tls_server *tls; /* until handed to the HTTP server, which owns it then */

    uv_loop_t loop;
    int loop_init;
    struct noa_http_server *srv;
    uv_timer_t tick;
    uv_timer_t retry;
    uv_async_t ack_async;
    uv_async_t stop_async;
    int handles_open; /* handles not yet closed */
    pthread_t thread;
    int running;
    int stopping;
    int port;

    pthread_mutex_t async_mu; /* also guards the start handshake below */
    int async_live;
    pthread_cond_t start_cv;
    int start_done;
    int start_rc;
    struct noa_error start_err;

    _Atomic uint64_t acked;
    uint64_t seq;    /* last sequence emitted (loop thread) */
    int64_t last_ts; /* last receive timestamp handed out */
    unsigned retry_ms;
    unsigned inflight;
    struct pending *head, *tail; /* FIFO: sequence order */

    struct noa_entry entry; /* scratch */

    pthread_mutex_t stats_mu;
    struct noa_pushrecv_stats stats;
};

static void stat_add(struct noa_pushrecv *r, uint64_t *field, uint64_t n)
{
    pthread_mutex_lock(&r->stats_mu);
    *field += n;
    pthread_mutex_unlock(&r->stats_mu);
}

/* ---- replies ------------------------------------------------------------------ */

static void pending_free(struct pending *p)
{
    if (p->streams) {
        for (uint32_t i = 0; i < p->pr.n_streams; i++)
            noa_kvlist_fini(&p->streams[i]);
        noa_free(p->streams);
    }
    noa_push_request_fini(&p->pr);
    noa_buf_fini(&p->body);
    noa_free(p);
}

/* Removes p from the FIFO (it may be anywhere in it). */
static void unlink_pending(struct noa_pushrecv *r, struct pending *p)
{
    struct pending **pp = &r->head, *prev = NULL;
    while (*pp && *pp != p) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp)
        return;
    *pp = p->next;
    if (r->tail == p)
        r->tail = prev;
    r->inflight--;
}

static void finish(struct noa_pushrecv *r, struct pending *p, int status, const char *msg)
{
    unlink_pending(r, p);
    /* counted before the reply, so a client that saw it sees the count */
    pthread_mutex_lock(&r->stats_mu);
    r->stats.requests++;
    if (status == 429)
        r->stats.limited++;
    else if (status == 503)
        r->stats.timeouts++;
    else if (status >= 400 && status < 500)
        r->stats.bad_requests++;
    pthread_mutex_unlock(&r->stats_mu);
    if (status == 204)
        noa_http_reply(p->req, 204, NULL, NULL, 0);
    else
        noa_http_reply_error(p->req, status, msg);
    pending_free(p);
}

/* Answers 204 to every request, oldest first, whose entries were all emitted
 * and acknowledged. */
static void complete_acked(struct noa_pushrecv *r)
{
    uint64_t acked = atomic_load(&r->acked);
    struct pending *p = r->head;
    while (p) {
        struct pending *next = p->next;
        if (p->emitted_all && p->need_seq <= acked)
            finish(r, p, 204, NULL);
        p = next;
    }
}

/* ---- emitting ------------------------------------------------------------------ */

static int64_t entry_ts(struct noa_pushrecv *r, int64_t incoming)
{
    if (r->cfg.use_incoming_timestamp)
        return incoming;
    /* the receive time, strictly increasing: two equal lines pushed in
     * the same nanosecond must not look like one to Loki's dedup */
    int64_t now = noa_clock_real_ns();
    if (now <= r->last_ts)
        now = r->last_ts + 1;
    r->last_ts = now;
    return now;
}

/* Offers one prepared entry (r->entry). Returns 0 taken or finished, or
 * NOA_ELIMIT. */
static int offer(struct noa_pushrecv *r, struct pending *p)
{
    struct noa_entry *e = &r->entry;
    uint64_t seq = r->seq + 1;
    e->offset = seq;
    noa_buf_append(&e->source, r->source, strlen(r->source));
    int rc = r->cb.emit_cb(e, r->cb.ctx);
    if (rc == NOA_ELIMIT)
        return rc;
    r->seq = seq;
    p->taken_any = 1;
    pthread_mutex_lock(&r->stats_mu);
    r->stats.emitted_seq = seq;
    if (rc == 0)
        r->stats.entries++;
    pthread_mutex_unlock(&r->stats_mu);
    if (rc == 0)
        p->need_seq = seq;
    else if (rc != 1)
        noa_log(NOA_LOG_WARN, "pushrecv", "job=%s msg=\"emit failed\" err=\"%s\"", r->job,
                noa_strerror(rc));
    return 0;
}

static void set_common_labels(struct noa_pushrecv *r, struct pending *p, struct noa_kvlist *l)
{
    for (size_t i = 0; i < r->cfg.n_labels; i++)
        noa_kvlist_set(l, r->labels[i].name, r->labels[i].value);
    if (p->tenant.len)
        noa_kvlist_set(l, NOA_STR(NOA_ENTRY_TENANT_LABEL), p->tenant);
}

/* Emits what is left of p. Returns 0 when all of it was emitted, NOA_ELIMIT
 * when the downstream is full. */
static int emit_pending(struct noa_pushrecv *r, struct pending *p)
{
    struct noa_entry *e = &r->entry;
    if (p->kind == KIND_PUSH) {
        for (; p->si < p->pr.n_streams; p->si++, p->ei = 0) {
            struct noa_push_stream *s = &p->pr.streams[p->si];
            for (; p->ei < s->n_entries; p->ei++) {
                struct noa_push_entry *pe = &s->entries[p->ei];
                noa_entry_reset(e);
                noa_kvlist_copy(&e->labels, &p->streams[p->si]);
                for (uint32_t m = 0; m < pe->n_meta; m++)
                    noa_kvlist_set(&e->meta, pe->meta[m].name, pe->meta[m].value);
                noa_buf_append(&e->line, pe->line.p, pe->line.len);
                e->ts_ns = entry_ts(r, pe->ts_ns);
                if (offer(r, p) < 0)
                    return NOA_ELIMIT;
            }
        }
    } else {
        struct noa_str b = p->req->body;
        while (p->raw_pos < b.len) {
            const char *s = b.p + p->raw_pos;
            const char *nl = memchr(s, '\n', b.len - p->raw_pos);
            size_t n = nl ? (size_t)(nl - s) : b.len - p->raw_pos;
            size_t next = p->raw_pos + n + (nl ? 1 : 0);
            size_t l = n;
            while (l && (s[l - 1] == '\r' || s[l - 1] == '\n'))
                l--;
            if (l) {
                noa_entry_reset(e);
                set_common_labels(r, p, &e->labels);
                noa_buf_append(&e->line, s, l);
                e->ts_ns = entry_ts(r, 0);
                if (offer(r, p) < 0)
                    return NOA_ELIMIT;
            }
            p->raw_pos = next;
        }
    }
    p->emitted_all = 1;
    return 0;
}

/* The first request in the FIFO that still has entries to emit. */
static struct pending *first_unemitted(struct noa_pushrecv *r)
{
    for (struct pending *p = r->head; p; p = p->next)
        if (!p->emitted_all)
            return p;
    return NULL;
}

static void retry_cb(uv_timer_t *t);

/* Runs emission for the blocked request (if any) and then completions. */
static void pump(struct noa_pushrecv *r)
{
    struct pending *p = first_unemitted(r);
    if (p) {
        if (emit_pending(r, p) == NOA_ELIMIT) {
            uv_timer_start(&r->retry, retry_cb, r->retry_ms, 0);
            r->retry_ms = r->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : r->retry_ms * 2;
        } else {
            r->retry_ms = RETRY_MIN_MS;
        }
    }
    complete_acked(r);
}

static void retry_cb(uv_timer_t *t)
{
    pump(t->data);
}

/* ---- handlers ------------------------------------------------------------------ */

/* Media type without parameters, lower-cased into out; 0 when missing. */
static int media_type(const struct noa_str *h, char *out, size_t cap)
{
    size_t n = 0, i = 0;
    if (h) {
        while (i < h->len && (h->p[i] == ' ' || h->p[i] == '\t'))
            i++;
        while (i < h->len && h->p[i] != ';' && h->p[i] != ' ' && n + 1 < cap) {
            char c = h->p[i++];
            out[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
    }
    out[n] = '\0';
    return n > 0 && strchr(out, '/') != NULL;
}

/* Admits a request: 429 when too many wait, or when another request is
 * blocked on a full downstream (nothing of this one would be taken). */
static struct pending *admit(struct noa_pushrecv *r, struct noa_http_request *req, int kind)
{
    if (r->stopping) {
        stat_add(r, &r->stats.requests, 1);
        noa_http_reply_error(req, 503, "push receiver is stopping");
        return NULL;
    }
    if (r->inflight >= r->cfg.max_inflight || first_unemitted(r)) {
        pthread_mutex_lock(&r->stats_mu);
        r->stats.requests++;
        r->stats.limited++;
        pthread_mutex_unlock(&r->stats_mu);
        noa_http_reply_error(req, 429, QUEUE_FULL_MSG);
        return NULL;
    }
    struct pending *p = noa_xcalloc(1, sizeof(*p));
    p->req = req;
    p->kind = kind;
    p->deadline_ns = noa_clock_mono_ns() + r->cfg.ack_timeout_ns;
    if (r->cfg.tenant_from_header) {
        const struct noa_str *org = noa_http_request_header(req, "X-Scope-OrgID");
        if (org)
            p->tenant = *org;
    }
    return p;
}

/* Queues p and emits it; answers at once when it is finished or refused. */
static void run(struct noa_pushrecv *r, struct pending *p)
{
    if (r->tail)
        r->tail->next = p;
    else
        r->head = p;
    r->tail = p;
    r->inflight++;
    if (emit_pending(r, p) == NOA_ELIMIT) {
        if (!p->taken_any) {
            finish(r, p, 429, QUEUE_FULL_MSG);
            return;
        }
        r->retry_ms = RETRY_MIN_MS;
        uv_timer_start(&r->retry, retry_cb, r->retry_ms, 0);
        r->retry_ms *= 2;
        return;
    }
    complete_acked(r);
}

static int decode_push(struct noa_pushrecv *r, struct pending *p, struct noa_error *err)
{
    struct noa_http_request *req = p->req;
    enum noa_compress_codec codec = NOA_COMPRESS_NONE;
    int has_codec = 0;
    const struct noa_str *ce = noa_http_request_header(req, "Content-Encoding");
    if (ce && ce->len && !noa_str_eq_c(*ce, "snappy")) {
        if (noa_compress_codec_from_name(*ce, &codec) < 0)
            return noa_error_set(err, NOA_EINVAL, "Content-Encoding \"%.*s\" not supported",
                                 (int)ce->len, ce->p);
        has_codec = 1;
    }
    char mt[128];
    if (!media_type(noa_http_request_header(req, "Content-Type"), mt, sizeof(mt)))
        return noa_error_set(err, NOA_EINVAL, "mime: no media type");
    struct noa_str in = req->body;
    size_t max = r->cfg.max_body_bytes;
    int rc;
    if (has_codec) {
        rc = noa_compress_decompress(codec, in.p, in.len, max, &p->body, err);
        if (rc < 0)
            return rc;
        in = (struct noa_str){p->body.data, p->body.len};
    }
    /* bound the decoded arrays as noa-server does */
    struct noa_pushproto_opts po = {.max_mem = (size_t)64 << 20, .max_decompressed = max};
    if (strcmp(mt, "application/json") == 0)
        rc = noa_pushjson_decode(in.p, in.len, &p->pr, err);
    else if (has_codec && codec == NOA_COMPRESS_ZSTD)
        rc = noa_pushproto_decode(in.p, in.len, &po, &p->pr, err);
    else
        rc = noa_pushproto_decode_snappy(in.p, in.len, &po, &p->body, &p->pr, err);
    if (rc < 0)
        return rc;
    /* Every stream's labels parse before anything is emitted: a bad one
     * fails the whole request, as Loki's push parser does. */
    if (p->pr.n_streams) {
        p->streams = noa_calloc(p->pr.n_streams, sizeof(*p->streams));
        if (!p->streams)
            return noa_error_set(err, NOA_ENOMEM, "out of memory");
    }
    struct noa_arena arena = {0};
    for (uint32_t i = 0; i < p->pr.n_streams; i++) {
        struct noa_labels ls;
        struct noa_error lerr = {0};
        rc = noa_labels_parse(p->pr.streams[i].labels, &arena, &ls, &lerr);
        if (rc < 0) {
            noa_arena_fini(&arena);
            return noa_error_set(err, NOA_EINVAL, "couldn't parse labels: %s", lerr.msg);
        }
        for (uint32_t k = 0; k < ls.n; k++)
            noa_kvlist_set(&p->streams[i], ls.v[k].name, ls.v[k].value);
        set_common_labels(r, p, &p->streams[i]);
    }
    noa_arena_fini(&arena);
    return 0;
}

static void push_handler(struct noa_http_request *req, void *ctx)
{
    struct noa_pushrecv *r = ctx;
    struct pending *p = admit(r, req, KIND_PUSH);
    if (!p)
        return;
    struct noa_error err = {0};
    int rc = decode_push(r, p, &err);
    if (rc < 0) {
        int status = noa_err_http_status(rc);
        noa_log(NOA_LOG_WARN, "pushrecv",
                "job=%s msg=\"failed to parse incoming push request\" status=%d", r->job, status);
        pthread_mutex_lock(&r->stats_mu);
        r->stats.requests++;
        if (status >= 400 && status < 500)
            r->stats.bad_requests++;
        pthread_mutex_unlock(&r->stats_mu);
        noa_http_reply_error(req, status, err.msg[0] ? err.msg : noa_strerror(rc));
        pending_free(p);
        return;
    }
    run(r, p);
}

static void raw_handler(struct noa_http_request *req, void *ctx)
{
    struct noa_pushrecv *r = ctx;
    struct pending *p = admit(r, req, KIND_RAW);
    if (p)
        run(r, p);
}

static void ready_handler(struct noa_http_request *req, void *ctx)
{
    (void)ctx;
    noa_http_reply(req, 200, "text/plain; charset=utf-8", "ready", 5);
}

/* ---- loop plumbing ---------------------------------------------------------------- */

static void tick_cb(uv_timer_t *t)
{
    struct noa_pushrecv *r = t->data;
    if (r->cb.tick_cb)
        r->cb.tick_cb(noa_clock_real_ns(), r->cb.ctx);
    complete_acked(r);
    int64_t now = noa_clock_mono_ns();
    struct pending *p = r->head;
    while (p) {
        struct pending *next = p->next;
        if (now >= p->deadline_ns)
            finish(r, p, 503,
                   "push receiver: timed out waiting for the entries to be acknowledged "
                   "downstream, retry later");
        p = next;
    }
}

static void ack_async_cb(uv_async_t *a)
{
    complete_acked(a->data);
}

static void handle_closed_cb(uv_handle_t *h)
{
    struct noa_pushrecv *r = h->data;
    r->handles_open--;
}

static void server_closed_cb(void *ctx)
{
    struct noa_pushrecv *r = ctx;
    r->srv = NULL;
    pthread_mutex_lock(&r->async_mu);
    r->async_live = 0;
    pthread_mutex_unlock(&r->async_mu);
    uv_close((uv_handle_t *)&r->tick, handle_closed_cb);
    uv_close((uv_handle_t *)&r->retry, handle_closed_cb);
    uv_close((uv_handle_t *)&r->ack_async, handle_closed_cb);
    uv_close((uv_handle_t *)&r->stop_async, handle_closed_cb);
}

static void stop_async_cb(uv_async_t *a)
{
    struct noa_pushrecv *r = a->data;
    if (r->stopping)
        return;
    r->stopping = 1;
    uv_timer_stop(&r->retry);
    uv_timer_stop(&r->tick);
    complete_acked(r);
    while (r->head)
        finish(r, r->head, 503, "push receiver is stopping");
    noa_http_server_close(r->srv, server_closed_cb, r);
}

/* The loop thread: creates the server (its replies must come from this
 * thread), reports to noa_pushrecv_start, then runs until stopped. */
static void *loop_main(void *arg)
{
    struct noa_pushrecv *r = arg;
    struct noa_http_server_options ho = {
        .host = r->host, .port = r->cfg.port, .max_body_bytes = r->cfg.max_body_bytes,
        .tls = r->tls};
    r->tls = NULL; /* the server frees it, even when it fails to start */
    static const struct noa_http_route_spec routes[] = {
        {NOA_HTTP_POST, "/loki/api/v1/push", "loki_api_v1_push", push_handler},
        {NOA_HTTP_POST, "/promtail/api/v1/raw", "promtail_api_v1_raw", raw_handler},
        {NOA_HTTP_POST, "/loki/api/v1/raw", "loki_api_v1_raw", raw_handler},
        {NOA_HTTP_GET, "/ready", "ready", ready_handler},
    };
    int rc = noa_http_server_new(&r->loop, &ho, &r->srv);
    if (rc < 0) {
        r->srv = NULL;
        noa_error_set(&r->start_err, rc, "loki_push_api: %s", noa_strerror(rc));
    } else {
        rc = noa_http_server_routes(r->srv, routes, sizeof(routes) / sizeof(routes[0]), r);
        if (rc == 0)
            rc = noa_http_server_listen(r->srv);
        if (rc < 0)
            noa_error_set(&r->start_err, rc, "loki_push_api: listening on %s:%d: %s",
                          r->host ? r->host : "", r->cfg.port, noa_strerror(rc));
    }
    if (rc == 0) {
        r->port = noa_http_server_port(r->srv);
        uv_timer_start(&r->tick, tick_cb, TICK_MS, TICK_MS);
    }
    pthread_mutex_lock(&r->async_mu);
    r->start_rc = rc;
    r->start_done = 1;
    r->async_live = rc == 0;
    pthread_cond_signal(&r->start_cv);
    pthread_mutex_unlock(&r->async_mu);
    if (rc < 0) {
        /* close what exists; the loop below runs the close callbacks */
        r->stopping = 1;
        if (r->srv)
            noa_http_server_close(r->srv, server_closed_cb, r);
        else
            server_closed_cb(r);
    }
    uv_run(&r->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------- */

int noa_pushrecv_new(const struct noa_pushrecv_config *cfg, const struct noa_pushrecv_callbacks *cb,
                     struct noa_pushrecv **out, struct noa_error *err)
{
    if (!cfg || !cfg->job_name || !cfg->job_name[0])
        return noa_error_set(err, NOA_EINVAL, "loki_push_api: job_name is required");
    if (strlen(cfg->job_name) > 1024)
        return noa_error_set(err, NOA_EINVAL, "loki_push_api: job_name too long");
    if (!cb || !cb->emit_cb)
        return noa_error_set(err, NOA_EINVAL, "loki_push_api: no emit callback");
    if (cfg->port < 0 || cfg->port > 65535)
        return noa_error_set(err, NOA_EINVAL, "loki_push_api: port %d out of range", cfg->port);
    for (size_t i = 0; i < cfg->n_labels; i++)
        if (!noa_label_name_valid(cfg->labels[i].name))
            return noa_error_set(err, NOA_EINVAL, "loki_push_api: invalid label name \"%.*s\"",
                                 (int)cfg->labels[i].name.len, cfg->labels[i].name.p);
    struct noa_tls_server *tls = NULL;
    if (cfg->tls && cfg->tls->cert_file && cfg->tls->cert_file[0]) {
        int trc = noa_tls_server_new(cfg->tls, &tls, err);
        if (trc < 0)
            return trc;
    }
    struct noa_pushrecv *r = noa_xcalloc(1, sizeof(*r));
    r->tls = tls;
    r->cfg = *cfg;
    r->cfg.tls = NULL; /* borrowed options: not kept */
    r->job = noa_xstrdup(cfg->job_name);
    size_t jl = strlen(cfg->job_name);
    r->source = noa_xmalloc(jl + 6);
    snprintf(r->source, jl + 6, "push-%s", cfg->job_name);
    r->host = cfg->host && cfg->host[0] ? noa_xstrdup(cfg->host) : NULL;
    r->cfg.host = r->host;
    if (cfg->n_labels) {
        r->labels = noa_xcalloc(cfg->n_labels, sizeof(*r->labels));
        for (size_t i = 0; i < cfg->n_labels; i++) {
            struct noa_label l = cfg->labels[i];
            r->labels[i].name.p = noa_xstrndup(l.name.p ? l.name.p : "", l.name.len);
            r->labels[i].name.len = l.name.len;
            r->labels[i].value.p = noa_xstrndup(l.value.p ? l.value.p : "", l.value.len);
            r->labels[i].value.len = l.value.len;
        }
    }
    r->cfg.labels = r->labels;
    r->cfg.job_name = r->job;
    if (!r->cfg.max_body_bytes)
        r->cfg.max_body_bytes = NOA_PUSHRECV_DEFAULT_MAX_BODY;
    if (r->cfg.ack_timeout_ns <= 0)
        r->cfg.ack_timeout_ns = NOA_PUSHRECV_DEFAULT_ACK_TIMEOUT_NS;
    if (!r->cfg.max_inflight)
        r->cfg.max_inflight = NOA_PUSHRECV_DEFAULT_MAX_INFLIGHT;
    r->cb = *cb;
    r->port = -1;
    r->retry_ms = RETRY_MIN_MS;
    noa_entry_init(&r->entry);
    pthread_mutex_init(&r->stats_mu, NULL);
    pthread_mutex_init(&r->async_mu, NULL);
    pthread_cond_init(&r->start_cv, NULL);
    *out = r;
    return 0;
}

int noa_pushrecv_start(struct noa_pushrecv *r, struct noa_error *err)
{
    if (r->running)
        return 0;
    if (r->loop_init)
        return noa_error_set(err, NOA_EINVAL, "loki_push_api: a stopped receiver cannot restart");
    int rc = uv_loop_init(&r->loop);
    if (rc < 0)
        return noa_error_set(err, rc, "loki_push_api: %s", uv_strerror(rc));
    r->loop_init = 1;
    /* handles are set up here, before the loop thread exists */
    uv_timer_init(&r->loop, &r->tick);
    uv_timer_init(&r->loop, &r->retry);
    uv_async_init(&r->loop, &r->ack_async, ack_async_cb);
    uv_async_init(&r->loop, &r->stop_async, stop_async_cb);
    r->tick.data = r->retry.data = r->ack_async.data = r->stop_async.data = r;
    r->handles_open = 4;
    rc = pthread_create(&r->thread, NULL, loop_main, r);
    if (rc != 0) {
        rc = -rc;
        noa_error_set(err, rc, "loki_push_api: starting the thread: %s", strerror(-rc));
        r->stopping = 1;
        server_closed_cb(r);
        uv_run(&r->loop, UV_RUN_DEFAULT);
        return rc;
    }
    pthread_mutex_lock(&r->async_mu);
    while (!r->start_done)
        pthread_cond_wait(&r->start_cv, &r->async_mu);
    rc = r->start_rc;
    pthread_mutex_unlock(&r->async_mu);
    if (rc < 0) {
        pthread_join(r->thread, NULL);
        r->port = -1;
        if (err)
            *err = r->start_err;
        return rc;
    }
    r->running = 1;
    noa_log(NOA_LOG_INFO, "pushrecv", "job=%s msg=\"push receiver listening\" port=%d", r->job,
            r->port);
    return 0;
}

int noa_pushrecv_port(const struct noa_pushrecv *r)
{
    return r->running ? r->port : -1;
}

void noa_pushrecv_stop(struct noa_pushrecv *r)
{
    if (!r || !r->running)
        return;
    uv_async_send(&r->stop_async);
    pthread_join(r->thread, NULL);
    r->running = 0;
    r->port = -1;
}

void noa_pushrecv_free(struct noa_pushrecv *r)
{
    if (!r)
        return;
    noa_pushrecv_stop(r);
    if (r->loop_init) {
        uv_run(&r->loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&r->loop) != 0)
            noa_log(NOA_LOG_WARN, "pushrecv", "job=%s msg=\"loop not closed cleanly\"", r->job);
    }
    for (size_t i = 0; i < r->cfg.n_labels; i++) {
        noa_free((void *)r->labels[i].name.p);
        noa_free((void *)r->labels[i].value.p);
    }
    noa_free(r->labels);
    noa_tls_server_free(r->tls); /* never handed to a server */
    noa_entry_fini(&r->entry);
    noa_free(r->job);
    noa_free(r->source);
    noa_free(r->host);
    pthread_mutex_destroy(&r->stats_mu);
    pthread_mutex_destroy(&r->async_mu);
    pthread_cond_destroy(&r->start_cv);
    noa_free(r);
}

void noa_pushrecv_acked(struct noa_pushrecv *r, uint64_t seq)
{
    uint64_t cur = atomic_load(&r->acked);
    while (seq > cur && !atomic_compare_exchange_weak(&r->acked, &cur, seq))
        ;
    pthread_mutex_lock(&r->stats_mu);
    if (seq > r->stats.acked_seq)
        r->stats.acked_seq = seq;
    pthread_mutex_unlock(&r->stats_mu);
    pthread_mutex_lock(&r->async_mu);
    if (r->async_live)
        uv_async_send(&r->ack_async);
    pthread_mutex_unlock(&r->async_mu);
}

const char *noa_pushrecv_source(const struct noa_pushrecv *r)
{
    return r->source;
}

void noa_pushrecv_stats(struct noa_pushrecv *r, struct noa_pushrecv_stats *out)
{
    pthread_mutex_lock(&r->stats_mu);
    *out = r->stats;
    pthread_mutex_unlock(&r->stats_mu);
}
