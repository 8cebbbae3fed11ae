/*
 * Remote-write 1.0 encoding, sending with retries, the per-client queue
 * and its sender thread, and the client settings. See
 * querier/ruler_remote_write.h for the threads and the lock.
 */
#include "querier/ruler_remote_write.h"

#include "common/clock.h"
#include "common/compress.h"
#include "common/config.h"
#include "common/http_client.h"
#include "common/log.h"
#include "common/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

struct request {
    char *tenant;          /* owned; may be NULL */
    struct noa_buf proto;  /* owned */
    unsigned n_samples;
};

struct noa_ruler_remote_write {
    struct noa_ruler_remote_write_options o; /* url, name and headers owned */
    struct noa_http_client *http;
    /* the queue: a ring of cap requests from head, n used (guarded by mu) */
    uv_mutex_t mu;
    uv_cond_t cond;
    uv_thread_t thread;
    int started, stop;
    int64_t drain_until; /* monotonic ns, set at stop */
    struct request *ring;
    unsigned cap, head, n, in_flight;
    uint64_t sent, dropped, failed;
    struct noa_metric_child *m_sent, *m_dropped, *m_failed, *m_len;
};

static void put_tag(struct noa_buf *b, unsigned field, unsigned wire)
{
    noa_buf_put_uvarint(b, (uint64_t)field << 3 | wire);
}

static void put_bytes(struct noa_buf *b, unsigned field, const void *p, size_t n)
{
    put_tag(b, field, 2);
    noa_buf_put_uvarint(b, n);
    noa_buf_append(b, p, n);
}

void noa_ruler_remote_write_encode(const struct noa_ruler_rw_series *series, unsigned n,
                                   struct noa_buf *out)
{
    struct noa_buf ts = {0}, tmp = {0};
    for (unsigned i = 0; i < n; i++) {
        const struct noa_ruler_rw_series *s = &series[i];
        noa_buf_reset(&ts);
        for (unsigned k = 0; k < s->n_labels; k++) {
            noa_buf_reset(&tmp);
            put_bytes(&tmp, 1, s->labels[k].name, strlen(s->labels[k].name));
            put_bytes(&tmp, 2, s->labels[k].value, strlen(s->labels[k].value));
            put_bytes(&ts, 1, tmp.data, tmp.len);
        }
        noa_buf_reset(&tmp);
        uint64_t bits;
        memcpy(&bits, &s->value, 8);
        put_tag(&tmp, 1, 1);
        for (int k = 0; k < 8; k++)
            noa_buf_putc(&tmp, (char)(bits >> (8 * k)));
        put_tag(&tmp, 2, 0);
        noa_buf_put_uvarint(&tmp, (uint64_t)s->ts_ms);
        put_bytes(&ts, 2, tmp.data, tmp.len);
        put_bytes(out, 1, ts.data, ts.len);
    }
    noa_buf_fini(&ts);
    noa_buf_fini(&tmp);
}

int noa_ruler_remote_write_new(const struct noa_ruler_remote_write_options *o,
                               struct noa_ruler_remote_write **out)
{
    if (!o->url || (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0))
        return NOA_EINVAL;
    if (o->n_headers > 32)
        return NOA_EINVAL;
    struct noa_ruler_remote_write *rw = noa_xcalloc(1, sizeof(*rw));
    uv_mutex_init(&rw->mu);
    uv_cond_init(&rw->cond);
    rw->o = *o;
    rw->o.url = noa_xstrdup(o->url);
    rw->o.name = o->name ? noa_xstrdup(o->name) : NULL;
    char **h = noa_xcalloc(o->n_headers + 1, sizeof(*h));
    for (unsigned i = 0; i < o->n_headers; i++)
        h[i] = noa_xstrdup(o->headers[i]);
    rw->o.headers = (const char *const *)h;
    if (!rw->o.timeout_ms)
        rw->o.timeout_ms = 30000;
    if (!rw->o.max_retries)
        rw->o.max_retries = 3;
    if (!rw->o.min_backoff_ms)
        rw->o.min_backoff_ms = 30;
    if (!rw->o.max_backoff_ms)
        rw->o.max_backoff_ms = 5000;
    int rc = noa_http_client_new(&rw->http);
    if (rc != 0) {
        noa_ruler_remote_write_free(rw);
        return rc;
    }
    *out = rw;
    return 0;
}

void noa_ruler_remote_write_free(struct noa_ruler_remote_write *rw)
{
    if (!rw)
        return;
    if (rw->started) {
        uv_mutex_lock(&rw->mu);
        rw->stop = 1;
        rw->drain_until = noa_clock_mono_ns() + (int64_t)rw->o.timeout_ms * 1000000;
        uv_cond_broadcast(&rw->cond);
        uv_mutex_unlock(&rw->mu);
        uv_thread_join(&rw->thread);
    }
    for (unsigned i = 0; i < rw->n; i++) {
        struct request *q = &rw->ring[(rw->head + i) % rw->cap];
        noa_free(q->tenant);
        noa_buf_fini(&q->proto);
    }
    noa_free(rw->ring);
    uv_cond_destroy(&rw->cond);
    uv_mutex_destroy(&rw->mu);
    noa_free((char *)rw->o.url);
    noa_free((char *)rw->o.name);
    for (unsigned i = 0; i < rw->o.n_headers; i++)
        noa_free((char *)rw->o.headers[i]);
    noa_free((void *)rw->o.headers);
    noa_http_client_free(rw->http);
    noa_free(rw);
}

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0)
        ;
}

/* Shutting down and the final drain's time is up: no more retries. */
static int past_drain(struct noa_ruler_remote_write *rw)
{
    uv_mutex_lock(&rw->mu);
    int past = rw->stop && noa_clock_mono_ns() > rw->drain_until;
    uv_mutex_unlock(&rw->mu);
    return past;
}

int noa_ruler_remote_write_send(struct noa_ruler_remote_write *rw, const char *tenant,
                                const struct noa_buf *proto, struct noa_error *err)
{
    struct noa_buf body = {0};
    char org[300];
    const char *headers[5 + 32] = {"Content-Encoding: snappy", "Content-Type: application/x-protobuf",
                                   "X-Prometheus-Remote-Write-Version: 0.1.0",
                                   "User-Agent: noa-ruler"};
    size_t nh = 4;
    for (unsigned i = 0; i < rw->o.n_headers; i++) /* at most 32: checked in _new */
        headers[nh++] = rw->o.headers[i];
    int rc = noa_compress_snappy_compress(proto->data ? proto->data : "", proto->len, &body);
    if (rc != 0) {
        noa_error_set(err, rc, "remote write: snappy: %s", noa_strerror(rc));
        goto fail;
    }
    if (rw->o.add_org_id_header && tenant) {
        snprintf(org, sizeof(org), "X-Scope-OrgID: %s", tenant);
        headers[nh++] = org;
    }
    long backoff = rw->o.min_backoff_ms;
    for (unsigned attempt = 0;; attempt++) {
        struct noa_http_client_request req = {
            .method = "POST",
            .url = rw->o.url,
            .headers = headers,
            .n_headers = nh,
            .body = body.data,
            .body_len = body.len,
            .timeout_ms = rw->o.timeout_ms,
            .max_response_bytes = 1 << 20,
        };
        struct noa_http_client_response resp = {0};
        int r = noa_http_client_do(rw->http, &req, &resp);
        int status = resp.status;
        long retry_after = resp.retry_after_s;
        if (r == 0 && status / 100 == 2) {
            rc = 0;
        } else if (r == 0 && status != 429 && status / 100 == 4) {
            rc = noa_error_set(err, NOA_EINVAL, "remote write %s: server returned HTTP status %d: %.*s",
                               rw->o.url, status, (int)(resp.body.len > 200 ? 200 : resp.body.len),
                               resp.body.data ? resp.body.data : "");
        } else if (r == 0) {
            rc = noa_error_set(err, NOA_EUNAVAIL, "remote write %s: server returned HTTP status %d",
                               rw->o.url, status);
        } else {
            rc = noa_error_set(err, r, "remote write %s: %s", rw->o.url, resp.error);
        }
        noa_http_client_response_fini(&resp);
        if (r != 0 || rc != 0) {
            uv_mutex_lock(&rw->mu);
            rw->failed++;
            uv_mutex_unlock(&rw->mu);
            noa_metric_inc(rw->m_failed);
        }
        if (rc == 0 || rc == NOA_EINVAL || attempt >= rw->o.max_retries || past_drain(rw))
            break;
        long wait = backoff;
        if (status == 429 && retry_after > 0 && retry_after * 1000 < rw->o.max_backoff_ms)
            wait = retry_after * 1000;
        sleep_ms(wait);
        backoff = backoff * 2 > rw->o.max_backoff_ms ? rw->o.max_backoff_ms : backoff * 2;
    }
fail:
    noa_buf_fini(&body);
    return rc;
}

/* ---- the queue ------------------------------------------------------------------ */

static void count_dropped(struct noa_ruler_remote_write *rw, uint64_t samples)
{
    rw->dropped += samples;
    noa_metric_add(rw->m_dropped, (double)samples);
}

static void sender_main(void *arg)
{
    struct noa_ruler_remote_write *rw = arg;
    uv_mutex_lock(&rw->mu);
    for (;;) {
        while (!rw->n && !rw->stop)
            uv_cond_wait(&rw->cond, &rw->mu);
        if (!rw->n || (rw->stop && noa_clock_mono_ns() > rw->drain_until))
            break;
        struct request q = rw->ring[rw->head];
        memset(&rw->ring[rw->head], 0, sizeof(q));
        rw->head = (rw->head + 1) % rw->cap;
        rw->n--;
        rw->in_flight = 1;
        noa_metric_set(rw->m_len, rw->n + 1);
        uv_mutex_unlock(&rw->mu);
        struct noa_error err = {0};
        int rc = noa_ruler_remote_write_send(rw, q.tenant, &q.proto, &err);
        if (rc != 0)
            noa_log(NOA_LOG_WARN, "ruler",
                    "msg=\"remote write failed, samples dropped\" client=%s samples=%u err=\"%s\"",
                    rw->o.name ? rw->o.name : rw->o.url, q.n_samples, err.msg);
        noa_free(q.tenant);
        noa_buf_fini(&q.proto);
        uv_mutex_lock(&rw->mu);
        rw->in_flight = 0;
        if (rc == 0) {
            rw->sent += q.n_samples;
            noa_metric_add(rw->m_sent, q.n_samples);
        } else {
            count_dropped(rw, q.n_samples);
        }
        noa_metric_set(rw->m_len, rw->n);
        uv_cond_broadcast(&rw->cond);
    }
    for (; rw->n; rw->n--) { /* the drain ran out of time */
        struct request *q = &rw->ring[rw->head];
        count_dropped(rw, q->n_samples);
        noa_free(q->tenant);
        noa_buf_fini(&q->proto);
        memset(q, 0, sizeof(*q));
        rw->head = (rw->head + 1) % rw->cap;
    }
    noa_metric_set(rw->m_len, 0);
    uv_cond_broadcast(&rw->cond);
    uv_mutex_unlock(&rw->mu);
}

int noa_ruler_remote_write_start(struct noa_ruler_remote_write *rw,
                                 const struct noa_ruler_remote_write_queue_options *o)
{
    rw->cap = o && o->capacity ? o->capacity : 1024;
    rw->ring = noa_xcalloc(rw->cap, sizeof(*rw->ring));
    if (o && o->metrics) {
        const char *ln[] = {"client"};
        const char *lv[] = {rw->o.name ? rw->o.name : rw->o.url};
        rw->m_sent = noa_metric_child(
            noa_metrics_counter(o->metrics, "noa_ruler_remote_write_samples_total",
                                "Recording-rule samples accepted by a remote-write client.", 1, ln),
            lv);
        rw->m_dropped = noa_metric_child(
            noa_metrics_counter(o->metrics, "noa_ruler_remote_write_samples_dropped_total",
                                "Recording-rule samples dropped: queue full, refused, or failed "
                                "past the retries.",
                                1, ln),
            lv);
        rw->m_failed = noa_metric_child(
            noa_metrics_counter(o->metrics, "noa_ruler_remote_write_failed_requests_total",
                                "Remote-write attempts that failed (each retry counts).", 1, ln),
            lv);
        rw->m_len = noa_metric_child(
            noa_metrics_gauge(o->metrics, "noa_ruler_remote_write_queue_length",
                              "Remote-write requests waiting to be sent.", 1, ln),
            lv);
    }
    int rc = uv_thread_create(&rw->thread, sender_main, rw);
    if (rc == 0)
        rw->started = 1;
    return rc;
}

void noa_ruler_remote_write_enqueue(struct noa_ruler_remote_write *rw, const char *tenant,
                                    const struct noa_buf *proto, unsigned n_samples)
{
    if (!rw->started)
        return;
    struct request q = {.tenant = tenant ? noa_xstrdup(tenant) : NULL, .n_samples = n_samples};
    noa_buf_append(&q.proto, proto->data, proto->len);
    uv_mutex_lock(&rw->mu);
    if (rw->n == rw->cap) { /* full: the oldest request goes */
        struct request *old = &rw->ring[rw->head];
        count_dropped(rw, old->n_samples);
        noa_free(old->tenant);
        noa_buf_fini(&old->proto);
        rw->head = (rw->head + 1) % rw->cap;
        rw->n--;
    }
    rw->ring[(rw->head + rw->n) % rw->cap] = q;
    rw->n++;
    noa_metric_set(rw->m_len, rw->n + rw->in_flight);
    uv_cond_broadcast(&rw->cond);
    uv_mutex_unlock(&rw->mu);
}

int noa_ruler_remote_write_flush(struct noa_ruler_remote_write *rw, long timeout_ms)
{
    int64_t until = noa_clock_mono_ns() + (int64_t)timeout_ms * 1000000;
    int rc = 0;
    uv_mutex_lock(&rw->mu);
    while (rw->started && (rw->n || rw->in_flight)) {
        int64_t now = noa_clock_mono_ns();
        if (now >= until) {
            rc = NOA_ETIMEOUT;
            break;
        }
        uv_cond_timedwait(&rw->cond, &rw->mu, (uint64_t)(until - now));
    }
    uv_mutex_unlock(&rw->mu);
    return rc;
}

void noa_ruler_remote_write_stats(struct noa_ruler_remote_write *rw,
                                  struct noa_ruler_remote_write_stats *out)
{
    uv_mutex_lock(&rw->mu);
    *out = (struct noa_ruler_remote_write_stats){
        .queue_length = rw->n + rw->in_flight,
        .in_flight = rw->in_flight,
        .samples_sent = rw->sent,
        .samples_dropped = rw->dropped,
        .failed_requests = rw->failed,
    };
    uv_mutex_unlock(&rw->mu);
}

/* ---- configuration ----------------------------------------------------------- */

static void base64(struct noa_buf *out, const char *s, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        noa_buf_putc(out, tab[v >> 18 & 63]);
        noa_buf_putc(out, tab[v >> 12 & 63]);
        noa_buf_putc(out, i + 1 < n ? tab[v >> 6 & 63] : '=');
        noa_buf_putc(out, i + 2 < n ? tab[v & 63] : '=');
    }
}

/* A scalar string value without control characters (they would split headers). */
static int str_of(const struct noa_yaml_node *v, const char *what, const char **out,
                  struct noa_error *err)
{
    if (!v || v->kind != NOA_YAML_SCALAR)
        return noa_yaml_error(err, v, "%s: expected a string", what);
    for (size_t i = 0; i < v->len; i++)
        if ((unsigned char)v->str[i] < 0x20 || v->str[i] == 0x7f)
            return noa_yaml_error(err, v, "%s: control characters are not allowed", what);
    *out = v->str;
    return 0;
}

static void add_header(struct noa_ruler_remote_write_options *o, struct noa_buf *line)
{
    char **h = (char **)o->headers;
    h = noa_xrealloc(h, (o->n_headers + 1) * sizeof(*h));
    noa_buf_cstr(line);
    h[o->n_headers++] = noa_buf_steal(line, NULL);
    o->headers = (const char *const *)h;
}

/* Prometheus RemoteWriteConfig keys noa accepts without using them. */
static const char *const unused_keys[] = {
    "queue_config", "metadata_config", "tls_config", "proxy_url", "no_proxy",
    "proxy_from_environment", "proxy_connect_header", "follow_redirects", "enable_http2",
    "send_exemplars", "send_native_histograms", "sigv4", "azuread", "google_iam", "oauth2",
    "round_robin_dns", "protobuf_message", "http_headers", NULL};

static int parse_client(const char *key, const struct noa_yaml_node *m,
                        struct noa_ruler_remote_write_options *o, struct noa_error *err)
{
    const char *s = NULL;
    struct noa_buf line = {0};
    int rc = 0;
    if (!m || m->kind != NOA_YAML_MAP)
        return noa_yaml_error(err, m, "remote-write client %s: expected a map", key);
    o->name = noa_xstrdup(key);
    o->add_org_id_header = 1;
    for (size_t i = 0; i < m->n && rc == 0; i++) {
        const char *k = m->pairs[i].key->str;
        const struct noa_yaml_node *v = m->pairs[i].value;
        int unused = 0;
        for (unsigned u = 0; unused_keys[u]; u++)
            unused |= !strcmp(k, unused_keys[u]);
        if (unused)
            continue;
        if (!strcmp(k, "url")) {
            if ((rc = str_of(v, "url", &s, err)) == 0) {
                if (strncmp(s, "http://", 7) && strncmp(s, "https://", 8))
                    rc = noa_yaml_error(err, v, "url: unsupported scheme in \"%s\"", s);
                else
                    o->url = noa_xstrdup(s);
            }
        } else if (!strcmp(k, "name")) {
            if ((rc = str_of(v, "name", &s, err)) == 0) {
                noa_free((char *)o->name);
                o->name = noa_xstrdup(s);
            }
        } else if (!strcmp(k, "remote_timeout")) {
            int64_t ns = 0;
            if ((rc = str_of(v, "remote_timeout", &s, err)) == 0 &&
                (noa_config_parse_duration(s, &ns) != 0 || ns <= 0))
                rc = noa_yaml_error(err, v, "remote_timeout: bad duration \"%s\"", s);
            o->timeout_ms = (long)(ns / 1000000);
            if (rc == 0 && o->timeout_ms == 0)
                o->timeout_ms = 1;
        } else if (!strcmp(k, "headers")) {
            if (noa_yaml_is_null(v))
                continue;
            if (v->kind != NOA_YAML_MAP) {
                rc = noa_yaml_error(err, v, "headers: expected a map");
                break;
            }
            for (size_t j = 0; j < v->n && rc == 0; j++) {
                const char *hv = NULL;
                if ((rc = str_of(v->pairs[j].value, "header value", &hv, err)) != 0)
                    break;
                noa_buf_printf(&line, "%s: %s", v->pairs[j].key->str, hv);
                add_header(o, &line);
            }
        } else if (!strcmp(k, "basic_auth")) {
            const char *user = "", *pass = "";
            const struct noa_yaml_node *u = noa_yaml_get(v, "username"), *pw = noa_yaml_get(v, "password");
            if ((u && (rc = str_of(u, "username", &user, err))) ||
                (pw && (rc = str_of(pw, "password", &pass, err))))
                break;
            struct noa_buf cred = {0};
            noa_buf_printf(&cred, "%s:%s", user, pass);
            noa_buf_printf(&line, "Authorization: Basic ");
            base64(&line, cred.data, cred.len);
            noa_buf_fini(&cred);
            add_header(o, &line);
        } else if (!strcmp(k, "authorization")) {
            const char *type = "Bearer", *cred = "";
            const struct noa_yaml_node *t = noa_yaml_get(v, "type"), *c = noa_yaml_get(v, "credentials");
            if ((t && (rc = str_of(t, "type", &type, err))) ||
                (c && (rc = str_of(c, "credentials", &cred, err))))
                break;
            noa_buf_printf(&line, "Authorization: %s %s", type, cred);
            add_header(o, &line);
        } else if (!strcmp(k, "write_relabel_configs")) {
            struct noa_ruler_relabel *rl = NULL;
            if ((rc = noa_ruler_relabel_new(v, &rl, err)) == 0)
                o->write_relabel = rl;
        } else {
            rc = noa_yaml_error(err, m->pairs[i].key,
                                "field %s not found in type config.RemoteWriteConfig", k);
        }
    }
    if (rc == 0 && !o->url)
        rc = noa_yaml_error(err, m, "url for remote_write is empty");
    noa_buf_fini(&line);
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(((const struct noa_ruler_remote_write_options *)a)->name,
                  ((const struct noa_ruler_remote_write_options *)b)->name);
}

int noa_ruler_remote_write_configs(const struct noa_yaml_node *client,
                                   const struct noa_yaml_node *clients,
                                   struct noa_ruler_remote_write_options **out, unsigned *n,
                                   struct noa_error *err)
{
    int has_client = client && !noa_yaml_is_null(client);
    int has_clients = clients && !noa_yaml_is_null(clients) &&
                      !(clients->kind == NOA_YAML_MAP && clients->n == 0);
    struct noa_ruler_remote_write_options *v = NULL;
    unsigned k = 0;
    int rc = 0;
    *out = NULL;
    *n = 0;
    if (has_client && has_clients)
        return noa_yaml_error(err, client,
                              "ruler remote write config: both 'client' and 'clients' options are "
                              "defined; 'client' is deprecated, please only use 'clients'");
    if (has_client) {
        v = noa_xcalloc(1, sizeof(*v));
        k = 1;
        rc = parse_client("default", client, &v[0], err);
    } else if (has_clients) {
        if (clients->kind != NOA_YAML_MAP)
            return noa_yaml_error(err, clients, "clients: expected a map of clients by name");
        v = noa_xcalloc(clients->n, sizeof(*v));
        for (size_t i = 0; i < clients->n && rc == 0; i++, k++)
            rc = parse_client(clients->pairs[i].key->str, clients->pairs[i].value, &v[i], err);
        /* Go ranges over the map in random order; names give a stable one. */
        if (rc == 0)
            qsort(v, k, sizeof(*v), name_cmp);
    }
    if (rc != 0) {
        noa_ruler_remote_write_configs_free(v, k);
        return rc;
    }
    *out = v;
    *n = k;
    return 0;
}

void noa_ruler_remote_write_configs_free(struct noa_ruler_remote_write_options *v, unsigned n)
{
    for (unsigned i = 0; v && i < n; i++) {
        noa_free((char *)v[i].name);
        noa_free((char *)v[i].url);
        for (unsigned h = 0; h < v[i].n_headers; h++)
            noa_free((char *)v[i].headers[h]);
        noa_free((void *)v[i].headers);
        noa_ruler_relabel_free((struct noa_ruler_relabel *)v[i].write_relabel);
    }
    noa_free(v);
}
