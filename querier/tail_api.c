/*
 * Live tail as Loki's querier serves it (pkg/querier/http.go TailHandler,
 * pkg/querier/tail): parameters as loghttp.ParseTailQuery reads them
 * (errors are plain-text 400s before the upgrade), the tenant and
 * readiness as every read endpoint, then the websocket. After the upgrade,
 * Loki's Tail errors (the concurrent tail limit, a metric query, several
 * tenants, max_entries_limit_per_query) end the socket with close code
 * 1011 and the error's text.
 *
 * A follower owns its parsed query, its queue of encoded entries and its
 * dropped-entry records. Live entries reach it from the ingester's tail
 * hook, are filtered by selector and pipeline and queued; the queue is
 * written out as soon as the socket drains. Queue and records are bounded
 * (MAX_QUEUE_*, MAX_DROPPED): a follower that does not read loses entries
 * and is told which in its next message's dropped_entries. A 100 ms timer
 * runs while anyone follows: it releases entries held by delay_for and
 * sends a ping every second, as Loki does.
 *
 * Loop thread, except history_work on a libuv worker, which reads only
 * its job and thread-safe ingester handles.
 */
#include "querier/tail_api.h"

#include "common/clock.h"
#include "common/form.h"
#include "common/lbuilder.h"
#include "common/log.h"
#include "common/logql.h"
#include "common/mem.h"
#include "common/pipeline.h"
#include "common/websocket.h"
#include "querier/logsel.h"
#include "querier/params.h"
#include "querier/tenants.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TICK_MS 100
#define PING_EVERY_NS 1000000000LL
/* Loki's limits: entries per message, dropped records per message,
 * delay_for in seconds. */
#define MAX_ENTRIES_PER_MSG 100
#define MAX_DROPPED 1000
#define MAX_DELAY_FOR_S 5
/* Loki's querier.tail-max-duration default: a tail ends after an hour. */
#define TAIL_MAX_DURATION_NS (3600LL * 1000000000LL)
/* A follower's socket counts as slow above this many unsent bytes. */
#define SLOW_BYTES ((size_t)1 << 20)
/* A follower's queue of entries waiting for its socket. */
#define MAX_QUEUE_ENTRIES 2000
#define MAX_QUEUE_BYTES ((size_t)4 << 20)

/* One encoded entry: `{"stream":{labels},"values":[["ts","line"]]}`. */
struct item {
    int64_t ts;
    uint32_t len;
    uint32_t labels_len; /* the labels object starts at data + 10 */
    char data[];
};
#define ITEM_LABELS_AT 10 /* strlen("{\"stream\":"), strlen("{\"labels\":") */

struct follower {
    struct follower *prev, *next;
    struct noa_tail_api *api;
    struct noa_websocket *ws; /* NULL once closed */
    char *tenant;             /* owned */
    struct noa_logql_expr *expr;
    struct noa_pipeline *pipeline;
    int64_t start_ns, delay_ns;
    uint32_t limit;
    /* queue: items[head .. head + n) of cap, circular */
    struct item **items;
    size_t head, n, cap, bytes;
    struct noa_buf dropped; /* JSON objects, comma-separated */
    uint32_t n_dropped;
    uint64_t total_dropped;
    int legacy;          /* /api/prom/tail: the legacy message format */
    int64_t started;     /* CLOCK_MONOTONIC ns */
    int history_pending; /* the initial batch is being read */
    /* the initial batch job */
    uv_work_t work;
    int64_t hist_end_ns;
    struct noa_buf hist; /* encoded items, oldest first: u32 len, u32 labels_len, i64 ts, data */
    int hist_status;
    struct noa_error hist_err;
};

struct noa_tail_api {
    const struct noa_read_api_context *ctx;
    struct noa_ingester *hooked; /* the ingester whose tail hook points here */
    uv_timer_t tick;
    int tick_init, tick_running, closing;
    int64_t last_ping_ns;
    struct follower *followers;
    size_t n_followers;
    struct noa_pipeline_state ps; /* live filtering, loop thread */
    struct noa_buf scratch;
};

/* ---- queue -------------------------------------------------------------- */

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

/* Encodes one entry into b (reset first); returns the labels' length.
 * v1: {"stream":{labels},"values":[["ns","line"]]}; legacy
 * (/api/prom/tail): {"labels":"{a=\"b\"}","entries":[{"ts":"RFC3339Nano","line":"..."}]}.
 * Both put the labels at ITEM_LABELS_AT. */
static uint32_t encode_entry(struct noa_buf *b, int legacy, const struct noa_label *labels,
                             uint32_t n, int64_t ts, struct noa_str line)
{
    noa_buf_reset(b);
    if (legacy) {
        struct noa_buf text = {0};
        struct noa_labels ls = {(struct noa_label *)labels, n};
        char t[64];
        noa_labels_format(&ls, &text);
        noa_params_format_rfc3339(ts, t, sizeof(t));
        noa_buf_append_str(b, NOA_STR("{\"labels\":"));
        noa_buf_put_json_str(b, text.data ? text.data : "", text.len);
        noa_buf_fini(&text);
        uint32_t ll = (uint32_t)(b->len - ITEM_LABELS_AT);
        noa_buf_printf(b, ",\"entries\":[{\"ts\":\"%s\",\"line\":", t);
        noa_buf_put_json_str(b, line.p, line.len);
        noa_buf_append_str(b, NOA_STR("}]}"));
        return ll;
    }
    noa_buf_append_str(b, NOA_STR("{\"stream\":"));
    put_labels_object(b, labels, n);
    uint32_t ll = (uint32_t)(b->len - ITEM_LABELS_AT);
    noa_buf_printf(b, ",\"values\":[[\"%lld\",", (long long)ts);
    noa_buf_put_json_str(b, line.p, line.len);
    noa_buf_append_str(b, NOA_STR("]]}"));
    return ll;
}

static struct item *item_new(const char *data, size_t len, uint32_t labels_len, int64_t ts)
{
    struct item *it = noa_xmalloc(sizeof(*it) + len);
    it->ts = ts;
    it->len = (uint32_t)len;
    it->labels_len = labels_len;
    memcpy(it->data, data, len);
    return it;
}

/* Records an entry the follower will never get (Loki's DroppedEntry);
 * past MAX_DROPPED records the oldest are forgotten. */
static void record_dropped(struct follower *f, const struct item *it)
{
    f->total_dropped++;
    if (f->n_dropped >= MAX_DROPPED) {
        /* forget the oldest record: up to the first separator */
        char *sep = memmem(f->dropped.data, f->dropped.len, "},{\"labels\"", 11);
        if (!sep)
            return;
        size_t cut = (size_t)(sep - f->dropped.data) + 2;
        memmove(f->dropped.data, f->dropped.data + cut, f->dropped.len - cut);
        f->dropped.len -= cut;
        f->n_dropped--;
    }
    if (f->n_dropped)
        noa_buf_putc(&f->dropped, ',');
    noa_buf_append_str(&f->dropped, NOA_STR("{\"labels\":"));
    noa_buf_append(&f->dropped, it->data + ITEM_LABELS_AT, it->labels_len);
    if (f->legacy) {
        char t[64];
        noa_params_format_rfc3339(it->ts, t, sizeof(t));
        noa_buf_printf(&f->dropped, ",\"timestamp\":\"%s\"}", t);
    } else {
        noa_buf_printf(&f->dropped, ",\"timestamp\":\"%lld\"}", (long long)it->ts);
    }
    f->n_dropped++;
}

static struct item *queue_pop(struct follower *f)
{
    struct item *it = f->items[f->head];
    f->head = (f->head + 1) % f->cap;
    f->n--;
    f->bytes -= it->len;
    return it;
}

static void queue_grow(struct follower *f)
{
    size_t ncap = f->cap ? f->cap * 2 : 64;
    struct item **v = noa_xmalloc(ncap * sizeof(*v));
    for (size_t i = 0; i < f->n; i++)
        v[i] = f->items[(f->head + i) % f->cap];
    noa_free(f->items);
    f->items = v;
    f->head = 0;
    f->cap = ncap;
}

/* Appends an item; the oldest entries overflow into dropped_entries. */
static void queue_push(struct follower *f, struct item *it, int bounded)
{
    while (bounded && f->n && (f->n >= MAX_QUEUE_ENTRIES || f->bytes + it->len > MAX_QUEUE_BYTES)) {
        struct item *old = queue_pop(f);
        record_dropped(f, old);
        noa_free(old);
    }
    if (f->n == f->cap)
        queue_grow(f);
    f->items[(f->head + f->n) % f->cap] = it;
    f->n++;
    f->bytes += it->len;
}

/* ---- followers ---------------------------------------------------------- */

static void tick_cb(uv_timer_t *t);

static void follower_free(struct follower *f)
{
    struct noa_tail_api *api = f->api;
    if (f->prev)
        f->prev->next = f->next;
    else
        api->followers = f->next;
    if (f->next)
        f->next->prev = f->prev;
    api->n_followers--;
    while (f->n)
        noa_free(queue_pop(f));
    noa_free(f->items);
    noa_buf_fini(&f->dropped);
    noa_buf_fini(&f->hist);
    noa_pipeline_free(f->pipeline);
    noa_logql_free(f->expr);
    noa_free(f->tenant);
    noa_free(f);
    if (!api->n_followers && api->tick_running) {
        uv_timer_stop(&api->tick);
        api->tick_running = 0;
    }
}

/* The websocket is gone (closed by either side): the follower goes too,
 * once no worker holds it. */
static void follower_closed(struct follower *f)
{
    f->ws = NULL;
    if (!f->history_pending)
        follower_free(f);
}

/* Ends the follower with a close frame. */
static void follower_close(struct follower *f, int code, const char *reason)
{
    if (f->ws)
        noa_websocket_close(f->ws, code, reason);
    follower_closed(f);
}

static int releasable(const struct follower *f, const struct item *it, int64_t now)
{
    /* Loki's tailer waits until now is past an entry's time plus
     * delay_for (so late entries of other ingesters can be merged in). */
    return f->delay_ns <= 0 ? it->ts <= now : it->ts + f->delay_ns < now;
}

/* Sends what the follower may have now, while its socket keeps up.
 * Returns -1 when the follower was freed. */
static int follower_flush(struct follower *f)
{
    if (!f->ws || f->history_pending)
        return 0;
    int64_t now = noa_clock_real_ns();
    while (f->n && noa_websocket_queued(f->ws) <= SLOW_BYTES) {
        struct noa_buf msg = {0};
        unsigned k = 0;
        noa_buf_append_str(&msg, NOA_STR("{\"streams\":["));
        while (f->n && k < MAX_ENTRIES_PER_MSG && releasable(f, f->items[f->head], now)) {
            struct item *it = queue_pop(f);
            if (k++)
                noa_buf_putc(&msg, ',');
            noa_buf_append(&msg, it->data, it->len);
            noa_free(it);
        }
        if (!k) {
            noa_buf_fini(&msg);
            break;
        }
        noa_buf_putc(&msg, ']');
        if (f->n_dropped) {
            noa_buf_append_str(&msg, NOA_STR(",\"dropped_entries\":["));
            noa_buf_append(&msg, f->dropped.data, f->dropped.len);
            noa_buf_putc(&msg, ']');
            noa_buf_reset(&f->dropped);
            f->n_dropped = 0;
        }
        noa_buf_putc(&msg, '}');
        if (noa_websocket_send_buf(f->ws, NOA_WEBSOCKET_TEXT, &msg) < 0) {
            f->ws = NULL; /* freed by the websocket; no closed_cb follows */
            follower_closed(f);
            return -1;
        }
    }
    return 0;
}

static void tick_cb(uv_timer_t *t)
{
    struct noa_tail_api *api = t->data;
    int64_t now = noa_clock_mono_ns();
    int ping = now - api->last_ping_ns >= PING_EVERY_NS;
    if (ping)
        api->last_ping_ns = now;
    for (struct follower *f = api->followers, *next; f; f = next) {
        next = f->next;
        if (f->ws && now - f->started >= TAIL_MAX_DURATION_NS) {
            follower_close(f, NOA_WEBSOCKET_CLOSE_INTERNAL, "reached tail max duration limit");
            continue;
        }
        if (follower_flush(f) < 0 || !f->ws)
            continue;
        if (ping && noa_websocket_send(f->ws, NOA_WEBSOCKET_PING, "", 0) < 0) {
            f->ws = NULL;
            follower_closed(f);
        }
    }
}

static void ws_message_cb(struct noa_websocket *ws, int opcode, const char *data, size_t len,
                          void *ctx)
{
    /* Loki reads client messages only to notice a close. */
    (void)ws, (void)opcode, (void)data, (void)len, (void)ctx;
}

static void ws_closed_cb(struct noa_websocket *ws, int code, void *ctx)
{
    (void)ws;
    struct follower *f = ctx;
    noa_log(NOA_LOG_DEBUG, "tail", "msg=\"tail closed by client\" code=%d dropped=%llu", code,
            (unsigned long long)f->total_dropped);
    follower_closed(f);
}

/* ---- live entries (the ingester's hook) --------------------------------- */

static int hook_wants(const char *tenant, void *ctx)
{
    struct noa_tail_api *api = ctx;
    for (struct follower *f = api->followers; f; f = f->next)
        if (f->ws && !strcmp(f->tenant, tenant))
            return 1;
    return 0;
}

static void hook_append(const char *tenant, const struct noa_labels *labels,
                        const struct noa_push_entry *e, const uint8_t *appended, uint32_t n,
                        void *ctx)
{
    struct noa_tail_api *api = ctx;
    struct noa_pipeline_state *ps = &api->ps;
    for (struct follower *f = api->followers, *next; f; f = next) {
        next = f->next;
        if (!f->ws || strcmp(f->tenant, tenant) ||
            !noa_selector_matches(&f->expr->selector, labels))
            continue;
        int queued = 0;
        noa_lbuilder_reset_stream(&ps->lb, labels);
        for (uint32_t i = 0; i < n; i++) {
            if (appended && !appended[i])
                continue;
            noa_lbuilder_reset(&ps->lb);
            for (uint32_t m = 0; m < e[i].n_meta; m++)
                noa_lbuilder_add_meta(&ps->lb, e[i].meta[m].name, e[i].meta[m].value);
            struct noa_str out;
            if (!noa_pipeline_run(f->pipeline, ps, e[i].ts_ns, e[i].line, &out))
                continue;
            struct noa_labels fin;
            noa_lbuilder_labels(&ps->lb, &fin);
            uint32_t ll = encode_entry(&api->scratch, f->legacy, fin.v, fin.n, e[i].ts_ns, out);
            queue_push(f, item_new(api->scratch.data, api->scratch.len, ll, e[i].ts_ns), 1);
            queued = 1;
        }
        if (queued)
            follower_flush(f);
    }
}

/* ---- the initial batch -------------------------------------------------- */

static void history_work(uv_work_t *w)
{
    struct follower *f = w->data;
    const struct noa_read_api_context *ctx = f->api->ctx;
    struct noa_logsel_query q = {.tenant = f->tenant,
                                 .sel = &f->expr->selector,
                                 .pipeline = f->pipeline,
                                 .start_ns = f->start_ns,
                                 .end_ns = f->hist_end_ns,
                                 .limit = f->limit,
                                 .backward = 1};
    if (ctx->limits->query_timeout_ns > 0)
        q.deadline_ns = noa_clock_mono_ns() + ctx->limits->query_timeout_ns;
    struct noa_logsel_result r;
    f->hist_status = noa_logsel_run(ctx->ingester, &q, &r, &f->hist_err);
    if (f->hist_status == 0) {
        struct noa_buf one = {0};
        struct noa_label *tmp = NULL;
        uint32_t tmp_cap = 0;
        /* backward: newest first; Loki re-emits them oldest first */
        for (size_t i = r.n_entries; i-- > 0;) {
            const struct noa_logsel_entry *e = &r.entries[i];
            uint32_t ll;
            if (e->labels) {
                if (tmp_cap < e->n_labels) {
                    tmp_cap = e->n_labels;
                    tmp = noa_xrealloc(tmp, tmp_cap * sizeof(*tmp));
                }
                for (uint32_t k = 0; k < e->n_labels; k++)
                    tmp[k] = e->labels[k].l;
                ll = encode_entry(&one, f->legacy, tmp, e->n_labels, e->ts, e->line);
            } else {
                const struct noa_labels *ls = &r.streams[e->stream].labels;
                uint32_t cap = ls->n + e->n_meta;
                if (tmp_cap < cap + 1) {
                    tmp_cap = cap + 1;
                    tmp = noa_xrealloc(tmp, tmp_cap * sizeof(*tmp));
                }
                uint32_t n = noa_logsel_merged_labels(ls, e, tmp, cap);
                ll = encode_entry(&one, f->legacy, tmp, n, e->ts, e->line);
            }
            uint32_t len = (uint32_t)one.len;
            noa_buf_append(&f->hist, &len, sizeof(len));
            noa_buf_append(&f->hist, &ll, sizeof(ll));
            noa_buf_append(&f->hist, &e->ts, sizeof(e->ts));
            noa_buf_append(&f->hist, one.data, one.len);
        }
        noa_free(tmp);
        noa_buf_fini(&one);
    }
    noa_logsel_result_fini(&r);
}

static void history_after(uv_work_t *w, int status)
{
    struct follower *f = w->data;
    f->history_pending = 0;
    if (!f->ws) { /* closed meanwhile */
        follower_free(f);
        return;
    }
    if (status < 0 || f->hist_status < 0) {
        const char *msg = status < 0           ? uv_strerror(status)
                          : f->hist_err.msg[0] ? f->hist_err.msg
                                               : noa_strerror(f->hist_status);
        follower_close(f, NOA_WEBSOCKET_CLOSE_INTERNAL, msg);
        return;
    }
    /* History goes before the live entries queued meanwhile. */
    struct item **live = noa_xmalloc((f->n ? f->n : 1) * sizeof(*live));
    size_t n_live = 0;
    while (f->n)
        live[n_live++] = queue_pop(f);
    for (size_t off = 0; off + 16 <= f->hist.len;) {
        uint32_t len, ll;
        int64_t ts;
        memcpy(&len, f->hist.data + off, 4);
        memcpy(&ll, f->hist.data + off + 4, 4);
        memcpy(&ts, f->hist.data + off + 8, 8);
        queue_push(f, item_new(f->hist.data + off + 16, len, ll, ts), 0);
        off += 16 + len;
    }
    noa_buf_fini(&f->hist);
    /* A live entry pushed while the history was read may be in both, as
     * in Loki (which also starts following before it reads history). */
    for (size_t i = 0; i < n_live; i++)
        queue_push(f, live[i], 1);
    noa_free(live);
    follower_flush(f);
}

/* ---- the handler -------------------------------------------------------- */

/* loghttp's tailDelay: strconv.ParseUint(value, 10, 32) with Go's text. */
static int parse_delay(const struct noa_str *s, int64_t *out, struct noa_error *err)
{
    *out = 0;
    if (!s || !s->len)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < s->len; i++) {
        if (s->p[i] < '0' || s->p[i] > '9')
            return noa_error_set(err, NOA_EINVAL,
                                 "strconv.ParseUint: parsing \"%.*s\": invalid syntax", (int)s->len,
                                 s->p);
        v = v * 10 + (uint64_t)(s->p[i] - '0');
        if (v > UINT32_MAX)
            return noa_error_set(err, NOA_EINVAL,
                                 "strconv.ParseUint: parsing \"%.*s\": value out of range",
                                 (int)s->len, s->p);
    }
    if (v > MAX_DELAY_FOR_S)
        return noa_error_set(err, NOA_EINVAL, "delay_for can't be greater than %d",
                             MAX_DELAY_FOR_S);
    *out = (int64_t)v * 1000000000LL;
    return 0;
}

/* The query text: `query`, plus the legacy `regexp` as a line filter. */
static void query_text(const struct noa_form *form, struct noa_buf *out)
{
    const struct noa_str *q = noa_form_get(form, "query");
    const struct noa_str *re = noa_form_get(form, "regexp");
    if (q)
        noa_buf_append_str(out, *q);
    if (re && re->len) {
        noa_buf_append_str(out, NOA_STR(" |~ "));
        noa_buf_put_go_quoted(out, *re);
    }
}

static void ensure_hook(struct noa_tail_api *api)
{
    struct noa_ingester *ing = api->ctx->ingester;
    if (!ing || api->hooked == ing)
        return;
    struct noa_ingester_tail_hook h = {hook_wants, hook_append, api};
    noa_ingester_set_tail_hook(ing, &h);
    api->hooked = ing;
}

static size_t tenant_followers(const struct noa_tail_api *api, const char *tenant)
{
    size_t n = 0;
    for (const struct follower *f = api->followers; f; f = f->next)
        if (f->ws && !strcmp(f->tenant, tenant))
            n++;
    return n;
}

static void tail_handler(struct noa_http_request *req, void *ctx)
{
    struct noa_tail_api *api = ctx;
    struct noa_form form = {0};
    struct noa_error err = {0};
    struct noa_tenants tenants = {0};
    struct noa_buf qtext = {0};
    struct noa_logql_expr *expr = NULL;
    struct noa_pipeline *pipeline = NULL;
    int have_tenants = 0;
    uint32_t limit = 100;
    int64_t start_ns, end_ns, delay_ns;
    int64_t now = noa_clock_real_ns();
    int rc;
    if (api->closing) {
        rc = noa_error_set(&err, NOA_EUNAVAIL, "server is shutting down");
        goto fail;
    }
    /* loghttp.ParseTailQuery's order: query (+ regexp), limit, start,
     * delay_for, then the query's syntax. */
    if ((rc = noa_form_parse_request(&form, &req->arena, req, &err)) < 0)
        goto fail;
    query_text(&form, &qtext);
    if ((rc = noa_params_limit(noa_form_get(&form, "limit"), &limit, &err)) < 0 ||
        (rc = noa_params_bounds(noa_form_get(&form, "start"), noa_form_get(&form, "end"),
                                noa_form_get(&form, "since"), now, &start_ns, &end_ns, &err)) < 0 ||
        (rc = parse_delay(noa_form_get(&form, "delay_for"), &delay_ns, &err)) < 0 ||
        (rc = noa_logql_parse(qtext.data ? qtext.data : "", qtext.len, &expr, &err)) < 0)
        goto fail;
    if ((rc = noa_request_tenants(req, api->ctx->auth_enabled, api->ctx->ingester, &tenants,
                                  &err)) < 0)
        goto fail;
    have_tenants = 1;
    /* Errors past this point come after the upgrade, as in Loki. */
    const char *after = NULL;
    char after_buf[256];
    const struct noa_limits *lim = api->ctx->limits;
    if (tenants.n > 1) {
        after = "Tail not supported for multiple tenants";
    } else if (tenant_followers(api, tenants.ids[0]) >=
               (size_t)(lim->max_concurrent_tail_requests > 0 ? lim->max_concurrent_tail_requests
                                                              : 0)) {
        size_t cnt = tenant_followers(api, tenants.ids[0]);
        snprintf(after_buf, sizeof(after_buf),
                 "rpc error: code = Code(400) desc = max concurrent tail requests limit "
                 "exceeded, count > limit (%zu > %d)",
                 cnt + 1, lim->max_concurrent_tail_requests);
        after = after_buf;
    } else if (!noa_logql_is_log(expr)) {
        after = "only log selector is supported";
    } else if (noa_params_check_limit(lim, limit, &err) < 0 ||
               noa_pipeline_new(expr, &pipeline, &err) < 0) {
        after = err.msg;
    }
    struct follower *f = noa_xcalloc(1, sizeof(*f));
    struct noa_websocket_options wo = {
        .max_message = 64 << 10, .message_cb = ws_message_cb, .closed_cb = ws_closed_cb, .ctx = f};
    rc = noa_websocket_accept(req, &wo, &f->ws);
    if (rc < 0) { /* answered (400) or gone */
        noa_free(f);
        goto out;
    }
    f->api = api;
    f->started = noa_clock_mono_ns();
    f->next = api->followers;
    if (api->followers)
        api->followers->prev = f;
    api->followers = f;
    api->n_followers++;
    if (after) {
        follower_close(f, NOA_WEBSOCKET_CLOSE_INTERNAL, after);
        goto out;
    }
    f->tenant = noa_xstrdup(tenants.ids[0]);
    f->expr = expr;
    f->pipeline = pipeline;
    expr = NULL;
    pipeline = NULL;
    f->limit = limit;
    f->legacy = noa_str_eq_c(req->path, "/api/prom/tail");
    f->delay_ns = delay_ns;
    f->start_ns = start_ns;
    /* max_query_lookback moves the start up, as validateQueryRequest */
    int empty = 0;
    int64_t s = start_ns, e = now;
    if (noa_params_check_range(lim, now, &s, &e, &empty, &err) == 0)
        f->start_ns = s;
    f->hist_end_ns = now;
    if (!api->tick_init) {
        uv_timer_init(api->ctx->loop, &api->tick);
        api->tick.data = api;
        api->tick_init = 1;
    }
    if (!api->tick_running) {
        uv_timer_start(&api->tick, tick_cb, TICK_MS, TICK_MS);
        api->tick_running = 1;
    }
    ensure_hook(api);
    f->work.data = f;
    f->history_pending = 1;
    if (empty || f->start_ns >= f->hist_end_ns) {
        history_after(&f->work, 0);
        goto out;
    }
    rc = uv_queue_work(api->ctx->loop, &f->work, history_work, history_after);
    if (rc < 0) {
        f->history_pending = 0;
        follower_close(f, NOA_WEBSOCKET_CLOSE_INTERNAL, uv_strerror(rc));
    }
    goto out;
fail:
    noa_request_fail(req, rc, &err);
out:
    if (have_tenants)
        noa_tenants_fini(&tenants);
    noa_pipeline_free(pipeline);
    noa_logql_free(expr);
    noa_buf_fini(&qtext);
}

/* ---- lifecycle ---------------------------------------------------------- */

int noa_tail_api_new(struct noa_http_server *srv, const struct noa_read_api_context *ctx,
                     struct noa_tail_api **out)
{
    struct noa_tail_api *api = noa_xcalloc(1, sizeof(*api));
    api->ctx = ctx;
    noa_pipeline_state_init(&api->ps);
    int rc;
    if ((rc = noa_http_server_route(srv, NOA_HTTP_GET, "/loki/api/v1/tail", NULL, tail_handler,
                                    api)) < 0 ||
        (rc = noa_http_server_route(srv, NOA_HTTP_GET, "/api/prom/tail", NULL, tail_handler, api)) <
            0) {
        noa_tail_api_free(api);
        return rc;
    }
    *out = api;
    return 0;
}

void noa_tail_api_shutdown(struct noa_tail_api *api)
{
    if (!api || api->closing)
        return;
    api->closing = 1;
    for (struct follower *f = api->followers, *next; f; f = next) {
        next = f->next;
        if (!f->ws)
            continue;
        if (noa_websocket_queued(f->ws) > SLOW_BYTES) {
            /* it stopped reading: a close frame would wait behind the
             * queue for the read timeout */
            noa_websocket_abort(f->ws);
            follower_closed(f);
        } else {
            follower_close(f, NOA_WEBSOCKET_CLOSE_NORMAL, "");
        }
    }
    if (api->hooked) {
        noa_ingester_set_tail_hook(api->hooked, NULL);
        api->hooked = NULL;
    }
    if (api->tick_init) {
        uv_timer_stop(&api->tick);
        api->tick_running = 0;
        uv_close((uv_handle_t *)&api->tick, NULL);
    }
}

void noa_tail_api_free(struct noa_tail_api *api)
{
    if (!api)
        return;
    noa_pipeline_state_fini(&api->ps);
    noa_buf_fini(&api->scratch);
    noa_free(api);
}

size_t noa_tail_api_followers(const struct noa_tail_api *api)
{
    return api->n_followers;
}
