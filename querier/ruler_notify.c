/*
 * Alertmanager v2 client: JSON encoding of alerts, the bounded queue and
 * its sender thread, and the POST to every configured Alertmanager. See
 * querier/ruler_notify.h for the threads and the lock.
 */
#include "querier/ruler_notify.h"

#include "common/clock.h"
#include "common/http_client.h"
#include "common/log.h"
#include "common/mem.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <uv.h>

struct item {
    char *json; /* owned: one alert's JSON object */
    size_t len;
};

struct noa_ruler_notify {
    char **urls; /* owned: "<base>/api/v2/alerts" */
    unsigned n_urls;
    long timeout_ms;
    struct noa_http_client *http;
    /* the queue: a ring of cap items from head, n of them used (guarded by mu) */
    uv_mutex_t mu;
    uv_cond_t cond;      /* signalled on new items, on stop and when a batch ends */
    uv_thread_t thread;
    int started, stop;
    int64_t drain_until; /* monotonic ns: set at stop, the end of the final drain */
    struct item *ring;
    unsigned cap, head, n;
    unsigned in_flight;  /* alerts of the batch being sent */
    unsigned errors_last; /* failed POSTs of the last _send (its caller's thread) */
    uint64_t dropped, sent, errors;
    const struct noa_ruler_relabel *relabel; /* borrowed; read-only */
    struct noa_metric_child *m_len, *m_cap, *m_dropped, *m_sent, *m_errors;
};

/* Go's strfmt.DateTime layout: 2006-01-02T15:04:05.000Z (UTC). */
static void put_time(struct noa_buf *out, int64_t ns)
{
    time_t s = (time_t)(ns / 1000000000);
    int64_t ms = (ns % 1000000000) / 1000000;
    if (ns < 0 && ns % 1000000000) {
        s--;
        ms += 1000;
    }
    struct tm tm;
    gmtime_r(&s, &tm);
    noa_buf_printf(out, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
                   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
}

static void put_pair(struct noa_buf *out, const struct noa_ruler_kv *kv, int first)
{
    if (!first)
        noa_buf_putc(out, ',');
    noa_buf_put_json_str(out, kv->name, strlen(kv->name));
    noa_buf_putc(out, ':');
    noa_buf_put_json_str(out, kv->value, strlen(kv->value));
}

/* v, then the ext pairs whose names v lacks. */
static void put_map(struct noa_buf *out, const struct noa_ruler_kv *v, unsigned n,
                    const struct noa_ruler_kv *ext, unsigned n_ext)
{
    noa_buf_putc(out, '{');
    for (unsigned i = 0; i < n; i++)
        put_pair(out, &v[i], i == 0);
    for (unsigned k = 0; k < n_ext; k++) {
        int have = 0;
        for (unsigned i = 0; i < n && !have; i++)
            have = !strcmp(v[i].name, ext[k].name);
        if (!have)
            put_pair(out, &ext[k], n == 0 && k == 0);
    }
    noa_buf_putc(out, '}');
}

void noa_ruler_notify_encode(const struct noa_ruler_alert *const *alerts, unsigned n,
                             const char *generator_url, const struct noa_ruler_kv *ext,
                             unsigned n_ext, struct noa_buf *out)
{
    noa_buf_putc(out, '[');
    for (unsigned i = 0; i < n; i++) {
        const struct noa_ruler_alert *a = alerts[i];
        if (i)
            noa_buf_putc(out, ',');
        noa_buf_printf(out, "{\"labels\":");
        put_map(out, a->labels, a->n_labels, ext, n_ext);
        noa_buf_printf(out, ",\"annotations\":");
        put_map(out, a->annotations, a->n_annotations, NULL, 0);
        noa_buf_printf(out, ",\"startsAt\":");
        put_time(out, a->fired_at_ns ? a->fired_at_ns : a->active_at_ns);
        noa_buf_printf(out, ",\"endsAt\":");
        put_time(out, a->resolved_at_ns ? a->resolved_at_ns : a->valid_until_ns);
        if (generator_url) {
            noa_buf_printf(out, ",\"generatorURL\":");
            noa_buf_put_json_str(out, generator_url, strlen(generator_url));
        }
        noa_buf_putc(out, '}');
    }
    noa_buf_putc(out, ']');
}

void noa_ruler_notify_generator_url(const char *external_url, const char *expr,
                                    struct noa_buf *out)
{
    size_t l = external_url ? strlen(external_url) : 0;
    while (l && external_url[l - 1] == '/')
        l--;
    noa_buf_append(out, external_url, l);
    noa_buf_printf(out, "/graph?g0.expr=");
    for (const unsigned char *p = (const unsigned char *)expr; *p; p++) {
        if (isalnum(*p) || strchr("-_.~", *p))
            noa_buf_putc(out, (char)*p);
        else
            noa_buf_printf(out, "%%%02X", *p);
    }
    noa_buf_printf(out, "&g0.tab=1");
}

int noa_ruler_notify_new(const char *urls, long timeout_ms, struct noa_ruler_notify **out)
{
    struct noa_ruler_notify *n = noa_xcalloc(1, sizeof(*n));
    int rc = 0;
    uv_mutex_init(&n->mu);
    uv_cond_init(&n->cond);
    n->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    const char *p = urls ? urls : "";
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *s = p;
        while (len && isspace((unsigned char)*s)) {
            s++;
            len--;
        }
        while (len && (isspace((unsigned char)s[len - 1]) || s[len - 1] == '/'))
            len--;
        if (len) {
            if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0) {
                rc = NOA_EINVAL;
                goto fail;
            }
            struct noa_buf b = {0};
            noa_buf_append(&b, s, len);
            noa_buf_printf(&b, "/api/v2/alerts");
            noa_buf_cstr(&b);
            n->urls = noa_xrealloc(n->urls, (n->n_urls + 1) * sizeof(*n->urls));
            n->urls[n->n_urls++] = noa_buf_steal(&b, NULL);
        }
        p = e ? e + 1 : p + strlen(p);
    }
    if (!n->n_urls) {
        rc = NOA_EINVAL;
        goto fail;
    }
    rc = noa_http_client_new(&n->http);
    if (rc != 0)
        goto fail;
    *out = n;
    return 0;
fail:
    noa_ruler_notify_free(n);
    return rc;
}

static void drop_locked(struct noa_ruler_notify *n, unsigned count)
{
    for (unsigned i = 0; i < count && n->n; i++) {
        noa_free(n->ring[n->head].json);
        n->ring[n->head].json = NULL;
        n->head = (n->head + 1) % n->cap;
        n->n--;
    }
    n->dropped += count;
    noa_metric_add(n->m_dropped, count);
}

/* Sends one batch: items joined into a JSON array. Sender thread. */
static void send_batch(struct noa_ruler_notify *n, struct item *items, unsigned count)
{
    struct noa_buf body = {0};
    struct noa_error err = {0};
    noa_buf_putc(&body, '[');
    for (unsigned i = 0; i < count; i++) {
        if (i)
            noa_buf_putc(&body, ',');
        noa_buf_append(&body, items[i].json, items[i].len);
    }
    noa_buf_putc(&body, ']');
    int rc = noa_ruler_notify_send(n, &body, &err);
    /* _send reports the last failure only; count each Alertmanager's. */
    unsigned fails = n->errors_last;
    uv_mutex_lock(&n->mu);
    n->errors += fails;
    noa_metric_add(n->m_errors, fails);
    if (rc == 0) {
        n->sent += count;
        noa_metric_add(n->m_sent, count);
    } else {
        n->dropped += count;
        noa_metric_add(n->m_dropped, count);
    }
    n->in_flight = 0;
    uv_cond_broadcast(&n->cond);
    uv_mutex_unlock(&n->mu);
    if (rc != 0)
        noa_log(NOA_LOG_WARN, "ruler", "msg=\"sending alerts failed\" alerts=%u err=\"%s\"", count,
                err.msg);
    noa_buf_fini(&body);
}

static void sender_main(void *arg)
{
    struct noa_ruler_notify *n = arg;
    struct item batch[NOA_RULER_NOTIFY_BATCH];
    uv_mutex_lock(&n->mu);
    for (;;) {
        while (!n->n && !n->stop)
            uv_cond_wait(&n->cond, &n->mu);
        if (!n->n || (n->stop && noa_clock_mono_ns() > n->drain_until))
            break;
        unsigned k = 0;
        while (n->n && k < NOA_RULER_NOTIFY_BATCH) {
            batch[k++] = n->ring[n->head];
            n->ring[n->head].json = NULL;
            n->head = (n->head + 1) % n->cap;
            n->n--;
        }
        n->in_flight = k;
        noa_metric_set(n->m_len, n->n);
        uv_mutex_unlock(&n->mu);
        send_batch(n, batch, k);
        for (unsigned i = 0; i < k; i++)
            noa_free(batch[i].json);
        uv_mutex_lock(&n->mu);
    }
    if (n->n) /* shutting down and the drain ran out of time */
        drop_locked(n, n->n);
    noa_metric_set(n->m_len, 0);
    uv_cond_broadcast(&n->cond);
    uv_mutex_unlock(&n->mu);
}

int noa_ruler_notify_start(struct noa_ruler_notify *n,
                           const struct noa_ruler_notify_queue_options *o)
{
    n->cap = o && o->capacity ? o->capacity : 10000;
    n->relabel = o ? o->relabel : NULL;
    n->ring = noa_xcalloc(n->cap, sizeof(*n->ring));
    if (o && o->metrics) {
        struct noa_metrics *m = o->metrics;
        n->m_len = noa_metrics_gauge_solo(m, "noa_ruler_notifications_queue_length",
                                          "Alerts waiting in the ruler's notification queue.");
        n->m_cap = noa_metrics_gauge_solo(m, "noa_ruler_notifications_queue_capacity",
                                          "Capacity of the ruler's notification queue.");
        n->m_dropped = noa_metrics_counter_solo(
            m, "noa_ruler_notifications_dropped_total",
            "Alerts dropped: notification queue full, or no Alertmanager accepted them.");
        n->m_sent = noa_metrics_counter_solo(m, "noa_ruler_notifications_sent_total",
                                             "Alerts accepted by at least one Alertmanager.");
        n->m_errors = noa_metrics_counter_solo(m, "noa_ruler_notifications_errors_total",
                                               "Failed POSTs to an Alertmanager.");
        noa_metric_set(n->m_cap, n->cap);
        noa_metric_set(n->m_len, 0);
    }
    int rc = uv_thread_create(&n->thread, sender_main, n);
    if (rc == 0)
        n->started = 1;
    return rc;
}

void noa_ruler_notify_enqueue(struct noa_ruler_notify *n, const struct noa_ruler_alert *const *alerts,
                              unsigned count, const char *generator_url,
                              const struct noa_ruler_kv *ext, unsigned n_ext)
{
    if (!n->started || !count) /* a caller's bug (not started): nothing to queue into */
        return;
    struct item *items = noa_xcalloc(count + 1, sizeof(*items));
    struct noa_buf b = {0};
    unsigned kept = 0;
    /* Labelled and encoded before taking the lock: the sender never waits on this. */
    for (unsigned i = 0; i < count; i++) {
        const struct noa_ruler_alert *a = alerts[i];
        unsigned nl = a->n_labels;
        struct noa_ruler_kv *lv = noa_xcalloc(nl + n_ext + 1, sizeof(*lv));
        for (unsigned k = 0; k < a->n_labels; k++) {
            lv[k].name = noa_xstrdup(a->labels[k].name);
            lv[k].value = noa_xstrdup(a->labels[k].value);
        }
        for (unsigned e = 0; e < n_ext; e++) {
            int have = 0;
            for (unsigned k = 0; k < a->n_labels && !have; k++)
                have = !strcmp(a->labels[k].name, ext[e].name);
            if (!have) {
                lv[nl].name = noa_xstrdup(ext[e].name);
                lv[nl].value = noa_xstrdup(ext[e].value);
                nl++;
            }
        }
        int keep = noa_ruler_relabel_apply(n->relabel, &lv, &nl);
        if (keep) {
            struct noa_ruler_alert copy = *a;
            const struct noa_ruler_alert *cp = &copy;
            copy.labels = lv;
            copy.n_labels = nl;
            noa_buf_reset(&b);
            noa_ruler_notify_encode(&cp, 1, generator_url, NULL, 0, &b);
            /* One alert's object without the array's brackets. */
            items[kept].json = noa_xstrndup(b.data + 1, b.len - 2);
            items[kept].len = b.len - 2;
            kept++;
        }
        for (unsigned k = 0; k < nl; k++) {
            noa_free(lv[k].name);
            noa_free(lv[k].value);
        }
        noa_free(lv);
    }
    unsigned skip = kept > n->cap ? kept - n->cap : 0;
    for (unsigned i = 0; i < skip; i++)
        noa_free(items[i].json);
    noa_buf_fini(&b);
    uv_mutex_lock(&n->mu);
    if (skip) {
        n->dropped += skip;
        noa_metric_add(n->m_dropped, skip);
    }
    unsigned add = kept - skip;
    if (n->n + add > n->cap)
        drop_locked(n, n->n + add - n->cap);
    for (unsigned i = 0; i < add; i++) {
        n->ring[(n->head + n->n) % n->cap] = items[skip + i];
        n->n++;
    }
    noa_metric_set(n->m_len, n->n);
    uv_cond_broadcast(&n->cond);
    uv_mutex_unlock(&n->mu);
    noa_free(items);
}

int noa_ruler_notify_flush(struct noa_ruler_notify *n, long timeout_ms)
{
    int64_t until = noa_clock_mono_ns() + (int64_t)timeout_ms * 1000000;
    int rc = 0;
    uv_mutex_lock(&n->mu);
    while (n->started && (n->n || n->in_flight)) {
        int64_t now = noa_clock_mono_ns();
        if (now >= until) {
            rc = NOA_ETIMEOUT;
            break;
        }
        uv_cond_timedwait(&n->cond, &n->mu, (uint64_t)(until - now));
    }
    uv_mutex_unlock(&n->mu);
    return rc;
}

void noa_ruler_notify_stats(struct noa_ruler_notify *n, struct noa_ruler_notify_stats *out)
{
    uv_mutex_lock(&n->mu);
    *out = (struct noa_ruler_notify_stats){
        .queue_length = n->n + n->in_flight,
        .in_flight = n->in_flight,
        .capacity = n->cap,
        .dropped = n->dropped,
        .sent = n->sent,
        .errors = n->errors,
    };
    uv_mutex_unlock(&n->mu);
}

void noa_ruler_notify_free(struct noa_ruler_notify *n)
{
    if (!n)
        return;
    if (n->started) {
        uv_mutex_lock(&n->mu);
        n->stop = 1;
        /* Prometheus drains the queue at shutdown; a dead Alertmanager
         * gets one notification timeout for it, not one per batch. */
        n->drain_until = noa_clock_mono_ns() + (int64_t)n->timeout_ms * 1000000;
        uv_cond_broadcast(&n->cond);
        uv_mutex_unlock(&n->mu);
        uv_thread_join(&n->thread);
    }
    for (unsigned i = 0; i < n->n; i++)
        noa_free(n->ring[(n->head + i) % n->cap].json);
    noa_free(n->ring);
    uv_cond_destroy(&n->cond);
    uv_mutex_destroy(&n->mu);
    for (unsigned i = 0; i < n->n_urls; i++)
        noa_free(n->urls[i]);
    noa_free(n->urls);
    noa_http_client_free(n->http);
    noa_free(n);
}

int noa_ruler_notify_send(struct noa_ruler_notify *n, const struct noa_buf *json,
                          struct noa_error *err)
{
    static const char *const headers[] = {"Content-Type: application/json",
                                          "User-Agent: noa-ruler"};
    int ok = 0, rc = NOA_EUNAVAIL;
    n->errors_last = 0;
    for (unsigned i = 0; i < n->n_urls; i++) {
        struct noa_http_client_request req = {
            .method = "POST",
            .url = n->urls[i],
            .headers = headers,
            .n_headers = 2,
            .body = json->data,
            .body_len = json->len,
            .timeout_ms = n->timeout_ms,
            .max_response_bytes = 1 << 20,
        };
        struct noa_http_client_response resp = {0};
        int r = noa_http_client_do(n->http, &req, &resp);
        if (r != 0 || resp.status / 100 != 2)
            n->errors_last++;
        if (r == 0 && resp.status / 100 == 2)
            ok = 1;
        else if (r == 0)
            rc = noa_error_set(err, NOA_EUNAVAIL, "%s: bad response status %d", n->urls[i],
                               resp.status);
        else
            rc = noa_error_set(err, r, "%s: %s", n->urls[i], resp.error);
        noa_http_client_response_fini(&resp);
    }
    return ok ? 0 : rc;
}
