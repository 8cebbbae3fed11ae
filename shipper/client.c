/*
 * The shipper's push client (see client.h). Owns the per-tenant queues and
 * one sender thread per tenant. One mutex guards every queue; the HTTP
 * exchange and the ack callback run outside it on the sender thread, so
 * noa_client_add never waits for the network.
 */
#include "shipper/client.h"

#include "common/clock.h"
#include "common/compress.h"
#include "common/err.h"
#include "common/http_client.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/push.h"
#include "common/pushproto.h"
#include "shipper/backoff.h"

#include <errno.h>
#include <pthread.h>
#include <xxhash.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Rough per-entry bookkeeping charged against queue_bytes, so a flood of
 * empty lines is bounded too. */
#define ENTRY_OVERHEAD 64
/* Canonical label forms remembered (see noa_client.lc). */
#define LABEL_MEMO 8
/* Sender threads (batches in flight) per tenant, at most. */
#define MAX_INFLIGHT 16
/* Longest Retry-After honoured as given (longer ones wait this long). */
#define RETRY_AFTER_CAP_MS (5 * 60 * 1000)

struct cl_stream {
    struct noa_str labels; /* canonical text, in the batch arena */
    uint64_t hash;
    struct noa_push_entry *entries;
    uint32_t n, cap;
};

struct cl_batch {
    struct cl_batch *next;
    struct noa_arena arena; /* lines, labels, metadata, source keys */
    struct cl_stream *streams;
    uint32_t n_streams, cap_streams, last_stream, prev_stream;
    struct noa_client_ack *acks;
    size_t n_acks, cap_acks;
    size_t line_bytes; /* what batch_size compares against */
    size_t mem;        /* what queue_bytes is charged */
    uint64_t n_entries;
    int64_t first_ns; /* monotonic time of the first entry */
    struct cl_batch *onext; /* in flight, in send order */
    int done, status;       /* settled, and how (the ack's status) */
};

struct cl_tenant {
    struct cl_tenant *next;
    struct noa_client *c;
    char *name; /* "" for no tenant */
    pthread_t th[MAX_INFLIGHT];
    int n_th;
    struct cl_batch *cur;           /* being filled */
    struct cl_batch *qhead, *qtail; /* sealed, in send order */
    struct cl_batch *ohead, *otail; /* taken by a sender, in send order */
    size_t mem;                     /* cur + queue + in flight */
    /* Serialises ack callbacks, so they run in batch order even when a
     * later batch finishes first (lock order: settle_mu, then mu). */
    pthread_mutex_t settle_mu;
};

struct noa_client {
    struct noa_client_config cfg; /* strings below are owned copies */
    char *url, *tenant_id, *user_agent, *auth_header;
    char *tls_strs[4]; /* ca, cert, key, proxy (owned copies) */
    char **headers; /* extra header lines, owned */
    size_t n_headers;
    struct noa_label *ext;
    uint32_t n_ext;
    struct noa_arena ext_arena;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct cl_tenant *tenants;
    int stopping; /* no more adds; senders seal and drain */
    int abandon;  /* senders quit now, even mid-retry */
    int stopped;
    struct noa_client_stats st;
    /* Recent label texts added and their canonical forms (under mu): lines
     * come in runs from one file, each with one or two label sets (stream
     * stdout/stderr), so most adds skip parsing labels. */
    struct cl_lcache {
        struct noa_buf in, out;
        int rc, valid;
    } lc[LABEL_MEMO];
    unsigned lc_last, lc_next;
};

static void batch_free(struct cl_batch *b)
{
    if (!b)
        return;
    for (uint32_t i = 0; i < b->n_streams; i++)
        noa_free(b->streams[i].entries);
    noa_free(b->streams);
    noa_free(b->acks);
    noa_arena_fini(&b->arena);
    noa_free(b);
}

static void base64(struct noa_buf *out, const unsigned char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        noa_buf_putc(out, tab[(v >> 18) & 63]);
        noa_buf_putc(out, tab[(v >> 12) & 63]);
        noa_buf_putc(out, i + 1 < n ? tab[(v >> 6) & 63] : '=');
        noa_buf_putc(out, i + 2 < n ? tab[v & 63] : '=');
    }
}

#define MAX_TENANT_LEN 150 /* Loki's limit on an org ID */
#define MAX_EXTRA_HEADERS 32

static int tenant_valid(const char *t)
{
    size_t n = strlen(t);
    if (n > MAX_TENANT_LEN)
        return 0;
    /* a CR or LF would end the header line and inject another */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f)
            return 0;
    return 1;
}

static int header_ok(const char *h, int have_auth)
{
    static const char *const reserved[] = {"X-Scope-OrgID", "Content-Type", "Content-Length",
                                           "Content-Encoding"};
    const char *colon = strchr(h, ':');
    if (!colon || colon == h || strpbrk(h, "\r\n"))
        return 0;
    size_t n = (size_t)(colon - h);
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strlen(reserved[i]) == n && !strncasecmp(h, reserved[i], n))
            return 0;
    if (have_auth && n == 13 && !strncasecmp(h, "Authorization", n))
        return 0;
    return 1;
}

int noa_client_new(const struct noa_client_config *cfg, struct noa_client **out)
{
    *out = NULL;
    if (!cfg || !cfg->url || !*cfg->url)
        return NOA_EINVAL;
    if (cfg->tenant_id && !tenant_valid(cfg->tenant_id))
        return NOA_EINVAL;
    if (cfg->n_headers > MAX_EXTRA_HEADERS)
        return NOA_EINVAL;
    for (size_t i = 0; i < cfg->n_headers; i++)
        if (!header_ok(cfg->headers[i], cfg->bearer_token || cfg->basic_user))
            return NOA_EINVAL;
    for (uint32_t i = 0; i < cfg->n_external_labels; i++)
        if (!noa_label_name_valid(cfg->external_labels[i].name))
            return NOA_EINVAL;
    struct noa_client *c = noa_xcalloc(1, sizeof(*c));
    c->cfg = *cfg;
    if (!c->cfg.batch_size)
        c->cfg.batch_size = (size_t)1 << 20;
    if (c->cfg.batch_wait_ms <= 0)
        c->cfg.batch_wait_ms = 1000;
    if (c->cfg.timeout_ms <= 0)
        c->cfg.timeout_ms = 10000;
    if (c->cfg.min_backoff_ms <= 0)
        c->cfg.min_backoff_ms = 500;
    if (c->cfg.max_backoff_ms <= 0)
        c->cfg.max_backoff_ms = 5 * 60 * 1000;
    if (!c->cfg.max_tenants)
        c->cfg.max_tenants = 64;
    if (c->cfg.max_inflight <= 0)
        c->cfg.max_inflight = 2;
    if (c->cfg.max_inflight > MAX_INFLIGHT)
        c->cfg.max_inflight = MAX_INFLIGHT;
    if (!c->cfg.queue_bytes)
        c->cfg.queue_bytes = (size_t)(c->cfg.max_inflight + 2) * c->cfg.batch_size;
    c->url = noa_xstrdup(cfg->url);
    /* TLS strings are copied: the caller's config may go away */
    c->tls_strs[0] = cfg->tls.ca_file ? noa_xstrdup(cfg->tls.ca_file) : NULL;
    c->tls_strs[1] = cfg->tls.cert_file ? noa_xstrdup(cfg->tls.cert_file) : NULL;
    c->tls_strs[2] = cfg->tls.key_file ? noa_xstrdup(cfg->tls.key_file) : NULL;
    c->tls_strs[3] = cfg->tls.proxy_url ? noa_xstrdup(cfg->tls.proxy_url) : NULL;
    c->cfg.tls = (struct noa_http_client_tls){.ca_file = c->tls_strs[0],
                                              .cert_file = c->tls_strs[1],
                                              .key_file = c->tls_strs[2],
                                              .insecure_skip_verify = cfg->tls.insecure_skip_verify,
                                              .proxy_url = c->tls_strs[3]};
    c->tenant_id = noa_xstrdup(cfg->tenant_id ? cfg->tenant_id : "");
    c->user_agent = noa_xstrdup(cfg->user_agent ? cfg->user_agent : "noa-shipper/1.0");
    struct noa_buf h = {0};
    if (cfg->bearer_token) {
        noa_buf_printf(&h, "Authorization: Bearer %s", cfg->bearer_token);
    } else if (cfg->basic_user) {
        struct noa_buf cred = {0};
        noa_buf_printf(&cred, "%s:%s", cfg->basic_user, cfg->basic_pass ? cfg->basic_pass : "");
        noa_buf_printf(&h, "Authorization: Basic ");
        base64(&h, (const unsigned char *)cred.data, cred.len);
        noa_buf_fini(&cred);
    }
    c->auth_header = h.len ? noa_xstrdup(noa_buf_cstr(&h)) : NULL;
    noa_buf_fini(&h);
    c->n_headers = cfg->n_headers;
    if (c->n_headers) {
        c->headers = noa_xcalloc(c->n_headers, sizeof(*c->headers));
        for (size_t i = 0; i < c->n_headers; i++)
            c->headers[i] = noa_xstrdup(cfg->headers[i]);
    }
    c->n_ext = cfg->n_external_labels;
    if (c->n_ext) {
        c->ext = noa_xcalloc(c->n_ext, sizeof(*c->ext));
        for (uint32_t i = 0; i < c->n_ext; i++) {
            c->ext[i].name = noa_arena_str(&c->ext_arena, cfg->external_labels[i].name);
            c->ext[i].value = noa_arena_str(&c->ext_arena, cfg->external_labels[i].value);
        }
    }
    c->cfg.url = c->url;
    c->cfg.tenant_id = c->tenant_id;
    c->cfg.user_agent = c->user_agent;
    c->cfg.external_labels = c->ext;
    c->cfg.basic_user = c->cfg.basic_pass = c->cfg.bearer_token = NULL;
    c->cfg.headers = NULL; /* c->headers holds the copies */
    pthread_mutex_init(&c->mu, NULL);
    /* deadlines are monotonic (noa_clock_mono_ns): a wall-clock step must
     * neither stall nor rush batch_wait and backoff */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    *out = c;
    return 0;
}

/* Canonical label text of e->labels with the external labels merged in
 * (the stream's own value wins, as in Promtail). */
static int canonical_labels(struct noa_client *c, struct noa_str text, struct noa_buf *out)
{
    struct noa_arena a = {0};
    struct noa_labels ls = {0};
    struct noa_error err = {0};
    int rc = noa_labels_parse(text, &a, &ls, &err);
    if (rc)
        goto done;
    if (c->n_ext) {
        struct noa_label *v = noa_arena_alloc(&a, (ls.n + c->n_ext) * sizeof(*v));
        if (ls.n)
            memcpy(v, ls.v, ls.n * sizeof(*v));
        uint32_t n = ls.n;
        for (uint32_t i = 0; i < c->n_ext; i++)
            if (!noa_labels_get(&ls, c->ext[i].name).p && c->ext[i].value.len)
                v[n++] = c->ext[i];
        ls.v = v;
        ls.n = n;
        noa_labels_sort(&ls);
    }
    if (!ls.n) {
        rc = NOA_EINVAL; /* Loki refuses a stream without labels */
        goto done;
    }
    noa_labels_format(&ls, out);
done:
    noa_arena_fini(&a);
    return rc;
}

static int lcache_is(const struct cl_lcache *lc, struct noa_str labels)
{
    return lc->valid && noa_str_eq(labels, (struct noa_str){lc->in.data, lc->in.len});
}

/* The canonical form of a label text, from the recent ones or computed
 * into the oldest slot. Caller holds mu. */
static struct cl_lcache *lcache_get(struct noa_client *c, struct noa_str labels)
{
    if (lcache_is(&c->lc[c->lc_last], labels))
        return &c->lc[c->lc_last];
    for (unsigned i = 0; i < LABEL_MEMO; i++) {
        if (i != c->lc_last && lcache_is(&c->lc[i], labels)) {
            c->lc_last = i;
            return &c->lc[i];
        }
    }
    unsigned k = c->lc_next;
    c->lc_next = (k + 1) % LABEL_MEMO;
    struct cl_lcache *lc = &c->lc[k];
    noa_buf_reset(&lc->in);
    noa_buf_reset(&lc->out);
    noa_buf_append_str(&lc->in, labels);
    lc->rc = canonical_labels(c, labels, &lc->out);
    lc->valid = 1;
    c->lc_last = k;
    return lc;
}

static uint64_t str_hash(struct noa_str s)
{
    return XXH3_64bits(s.p, s.len);
}

static void *tenant_main(void *arg);

static struct cl_tenant *tenant_get(struct noa_client *c, const char *name, int *rc)
{
    size_t n = 0;
    for (struct cl_tenant *t = c->tenants; t; t = t->next, n++)
        if (!strcmp(t->name, name))
            return t;
    /* each tenant costs a thread: a tenant stage fed by log content must
     * not be able to create thousands */
    if (n >= c->cfg.max_tenants) {
        *rc = NOA_ETOOBIG;
        return NULL;
    }
    struct cl_tenant *t = noa_xcalloc(1, sizeof(*t));
    t->c = c;
    t->name = noa_xstrdup(name);
    pthread_mutex_init(&t->settle_mu, NULL);
    for (int i = 0; i < c->cfg.max_inflight; i++) {
        int e = pthread_create(&t->th[i], NULL, tenant_main, t);
        if (e == 0) {
            t->n_th++;
            continue;
        }
        if (t->n_th)
            break; /* fewer senders than asked: still correct */
        pthread_mutex_destroy(&t->settle_mu);
        noa_free(t->name);
        noa_free(t);
        *rc = -e;
        return NULL;
    }
    t->next = c->tenants;
    c->tenants = t;
    return t;
}

/* Moves the batch being filled to the send queue. Caller holds mu. */
static void seal(struct cl_tenant *t)
{
    struct cl_batch *b = t->cur;
    if (!b)
        return;
    t->cur = NULL;
    if (t->qtail)
        t->qtail->next = b;
    else
        t->qhead = b;
    t->qtail = b;
    pthread_cond_broadcast(&t->c->cv);
}

/* What batch_size counts, as Promtail: line plus structured metadata. */
static size_t entry_size(const struct noa_client_entry *e)
{
    size_t n = e->line.len;
    for (uint32_t i = 0; i < e->n_meta; i++)
        n += e->meta[i].name.len + e->meta[i].value.len;
    return n;
}

static void batch_add(struct cl_batch *b, struct noa_str labels, const struct noa_client_entry *e)
{
    struct cl_stream *s = NULL;
    uint64_t h = 0;
    /* consecutive entries usually come from the same file, whose lines
     * alternate between one or two streams (stdout/stderr): try the last
     * two streams (by content, without hashing) before the search */
    if (b->n_streams && noa_str_eq(b->streams[b->last_stream].labels, labels)) {
        s = &b->streams[b->last_stream];
    } else if (b->n_streams > 1 && noa_str_eq(b->streams[b->prev_stream].labels, labels)) {
        s = &b->streams[b->prev_stream];
    } else {
        h = str_hash(labels);
        for (uint32_t i = 0; !s && i < b->n_streams; i++)
            if (b->streams[i].hash == h && noa_str_eq(b->streams[i].labels, labels))
                s = &b->streams[i];
    }
    if (!s) {
        if (b->n_streams == b->cap_streams) {
            b->cap_streams = b->cap_streams ? 2 * b->cap_streams : 8;
            b->streams = noa_xrealloc(b->streams, b->cap_streams * sizeof(*b->streams));
        }
        s = &b->streams[b->n_streams++];
        memset(s, 0, sizeof(*s));
        s->labels = noa_arena_str(&b->arena, labels);
        s->hash = h;
    }
    uint32_t si = (uint32_t)(s - b->streams);
    if (si != b->last_stream) {
        b->prev_stream = b->last_stream;
        b->last_stream = si;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->entries = noa_xrealloc(s->entries, s->cap * sizeof(*s->entries));
    }
    struct noa_push_entry *pe = &s->entries[s->n++];
    pe->ts_ns = e->ts_ns;
    pe->line = noa_arena_str(&b->arena, e->line);
    pe->n_meta = e->n_meta;
    pe->meta = NULL;
    if (e->n_meta) {
        pe->meta = noa_arena_alloc(&b->arena, e->n_meta * sizeof(*pe->meta));
        for (uint32_t i = 0; i < e->n_meta; i++) {
            pe->meta[i].name = noa_arena_str(&b->arena, e->meta[i].name);
            pe->meta[i].value = noa_arena_str(&b->arena, e->meta[i].value);
        }
    }
    if (e->source.len) {
        struct noa_client_ack *a = NULL;
        for (size_t i = b->n_acks; i-- > 0;) /* newest source first */
            if (noa_str_eq(b->acks[i].source, e->source)) {
                a = &b->acks[i];
                break;
            }
        if (!a) {
            if (b->n_acks == b->cap_acks) {
                b->cap_acks = b->cap_acks ? 2 * b->cap_acks : 4;
                b->acks = noa_xrealloc(b->acks, b->cap_acks * sizeof(*b->acks));
            }
            a = &b->acks[b->n_acks++];
            a->source = noa_arena_str(&b->arena, e->source);
            a->offset = e->offset;
        }
        if (e->offset > a->offset)
            a->offset = e->offset;
    }
    b->line_bytes += entry_size(e);
    b->n_entries++;
}

int noa_client_add(struct noa_client *c, const struct noa_client_entry *e)
{
    const char *tn = e->tenant && *e->tenant ? e->tenant : c->tenant_id;
    if (!tenant_valid(tn))
        return NOA_EINVAL;
    pthread_mutex_lock(&c->mu);
    int rc = 0;
    struct cl_lcache *lc = lcache_get(c, e->labels);
    struct noa_str lbl = {lc->out.data, lc->out.len};
    size_t mem = e->line.len + lbl.len + e->source.len + ENTRY_OVERHEAD;
    for (uint32_t i = 0; i < e->n_meta; i++)
        mem += e->meta[i].name.len + e->meta[i].value.len + sizeof(struct noa_label);
    struct cl_tenant *t = NULL;
    if (lc->rc) {
        rc = lc->rc;
    } else if (mem > c->cfg.queue_bytes) {
        rc = NOA_ETOOBIG;
    } else if (c->stopping) {
        rc = NOA_EUNAVAIL;
    } else if (!(t = tenant_get(c, tn, &rc))) {
        /* rc set */
    } else if (t->mem + mem > c->cfg.queue_bytes) {
        rc = NOA_ELIMIT; /* the caller pauses this source until acks free room */
    } else {
        /* Promtail sends the current batch first when this line would take
         * it past batch_size, so a batch only exceeds it by a lone line. */
        if (t->cur && t->cur->n_entries && t->cur->line_bytes + entry_size(e) > c->cfg.batch_size)
            seal(t);
        if (!t->cur) {
            t->cur = noa_xcalloc(1, sizeof(*t->cur));
            t->cur->first_ns = noa_clock_mono_ns();
            pthread_cond_broadcast(&c->cv); /* the sender starts its batch_wait timer */
        }
        batch_add(t->cur, lbl, e);
        t->cur->mem += mem;
        t->mem += mem;
        c->st.queued_bytes += mem;
        if (t->cur->line_bytes >= c->cfg.batch_size)
            seal(t);
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void noa_client_flush(struct noa_client *c)
{
    pthread_mutex_lock(&c->mu);
    for (struct cl_tenant *t = c->tenants; t; t = t->next)
        seal(t);
    pthread_mutex_unlock(&c->mu);
}

static void deadline_ts(int64_t mono_ns, struct timespec *ts)
{
    ts->tv_sec = (time_t)(mono_ns / 1000000000);
    ts->tv_nsec = (long)(mono_ns % 1000000000);
}

/* Sleeps until mono deadline or abandon. Caller holds mu. Returns 1 when
 * abandoned. */
static int wait_until(struct noa_client *c, int64_t until_ns)
{
    while (!c->abandon) {
        if (noa_clock_mono_ns() >= until_ns)
            return 0;
        struct timespec ts;
        deadline_ts(until_ns, &ts);
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    return 1;
}

struct cl_sender {
    struct noa_http_client *http;
    const char *headers[6 + MAX_EXTRA_HEADERS];
    size_t n_headers;
    char tenant_hdr[320];
    struct noa_buf raw, body;
    struct noa_push_stream *streams;
    uint32_t cap_streams;
    uint64_t seed;
};

/*
 * A batch is settled (sent, or dropped for good). Acks go out in batch
 * order: the batches settled at the head of the in-flight list are taken
 * off it, acknowledged and freed; a batch settled before an earlier one
 * waits for it. Runs without mu.
 */
const double noa_client_latency_bounds[NOA_CLIENT_LATENCY_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

static void observe_latency(struct noa_client *c, double secs)
{
    int i = 0;
    while (i < NOA_CLIENT_LATENCY_BUCKETS && secs > noa_client_latency_bounds[i])
        i++;
    pthread_mutex_lock(&c->mu);
    c->st.latency_buckets[i]++;
    c->st.latency_sum += secs;
    pthread_mutex_unlock(&c->mu);
}

static void settle(struct cl_tenant *t, struct cl_batch *b, int status)
{
    struct noa_client *c = t->c;
    pthread_mutex_lock(&t->settle_mu);
    pthread_mutex_lock(&c->mu);
    b->done = 1;
    b->status = status;
    struct cl_batch *ready = NULL, **tail = &ready;
    while (t->ohead && t->ohead->done) {
        struct cl_batch *x = t->ohead;
        t->ohead = x->onext;
        if (!t->ohead)
            t->otail = NULL;
        x->onext = NULL;
        *tail = x;
        tail = &x->onext;
    }
    pthread_mutex_unlock(&c->mu);
    for (struct cl_batch *x = ready; x; x = x->onext)
        if (c->cfg.ack)
            c->cfg.ack(c->cfg.ack_ud, t->name, x->status, x->acks, x->n_acks);
    int freed = ready != NULL;
    pthread_mutex_lock(&c->mu);
    while (ready) {
        struct cl_batch *x = ready;
        ready = x->onext;
        t->mem -= x->mem;
        c->st.queued_bytes -= x->mem;
        batch_free(x);
    }
    pthread_cond_broadcast(&c->cv); /* room for adds; stop may be waiting */
    pthread_mutex_unlock(&c->mu);
    pthread_mutex_unlock(&t->settle_mu);
    if (freed && c->cfg.room)
        c->cfg.room(c->cfg.room_ud);
}

static void drop(struct cl_tenant *t, struct cl_batch *b, enum noa_client_drop_reason why)
{
    struct noa_client *c = t->c;
    pthread_mutex_lock(&c->mu);
    c->st.dropped_batches[why]++;
    c->st.dropped_entries[why] += b->n_entries;
    pthread_mutex_unlock(&c->mu);
}

/* Sends one batch until it is settled. Runs without mu. Returns 1 when
 * the client was abandoned mid-retry (no ack). */
static int send_batch(struct cl_tenant *t, struct cl_sender *s, struct cl_batch *b)
{
    struct noa_client *c = t->c;
    if (b->n_streams > s->cap_streams) {
        s->cap_streams = b->n_streams;
        s->streams = noa_xrealloc(s->streams, s->cap_streams * sizeof(*s->streams));
    }
    for (uint32_t i = 0; i < b->n_streams; i++) {
        s->streams[i].labels = b->streams[i].labels;
        s->streams[i].entries = b->streams[i].entries;
        s->streams[i].n_entries = b->streams[i].n;
    }
    struct noa_push_request req = {.streams = s->streams, .n_streams = b->n_streams};
    noa_buf_reset(&s->raw);
    noa_buf_reset(&s->body);
    noa_pushproto_encode(&req, &s->raw);
    int crc = c->cfg.zstd ? noa_compress_compress(NOA_COMPRESS_ZSTD, s->raw.data, s->raw.len, 1,
                                                  &s->body)
                          : noa_compress_snappy_compress(s->raw.data, s->raw.len, &s->body);
    if (crc != 0) {
        noa_log(NOA_LOG_ERROR, "client",
                "msg=\"batch too large to compress; dropped\" tenant=%s entries=%llu", t->name,
                (unsigned long long)b->n_entries);
        drop(t, b, NOA_CLIENT_DROP_HTTP_4XX);
        settle(t, b, NOA_ETOOBIG);
        return 0;
    }
    struct noa_backoff bo;
    noa_backoff_init(&bo, c->cfg.min_backoff_ms, c->cfg.max_backoff_ms, c->cfg.max_retries,
                     s->seed);
    int logged = 0;
    for (;;) {
        struct noa_http_client_request hr = {
            .method = "POST",
            .url = c->url,
            .headers = s->headers,
            .n_headers = s->n_headers,
            .body = s->body.data,
            .body_len = s->body.len,
            .timeout_ms = (long)c->cfg.timeout_ms,
            .max_response_bytes = 1 << 20, /* only error messages come back */
            .tls = &c->cfg.tls,
        };
        struct noa_http_client_response resp = {0};
        int64_t t0 = noa_clock_mono_ns();
        int rc = noa_http_client_do(s->http, &hr, &resp);
        observe_latency(c, (double)(noa_clock_mono_ns() - t0) / 1e9);
        /* an answer whose body passed our limit still has a status: a huge
         * 400 message must not turn into endless retries */
        int status = rc == 0 || (rc == NOA_ETOOBIG && resp.status > 0) ? resp.status : 0;
        if (status >= 200 && status < 300) {
            noa_http_client_response_fini(&resp);
            pthread_mutex_lock(&c->mu);
            c->st.sent_batches++;
            c->st.sent_entries += b->n_entries;
            c->st.sent_bytes += s->body.len;
            pthread_mutex_unlock(&c->mu);
            settle(t, b, 0);
            return 0;
        }
        if (status == 429 && c->cfg.drop_rate_limited) {
            noa_log(NOA_LOG_WARN, "client",
                    "msg=\"rate limited; batch dropped (drop_rate_limited_batches)\" tenant=%s "
                    "entries=%llu",
                    t->name, (unsigned long long)b->n_entries);
            noa_http_client_response_fini(&resp);
            drop(t, b, NOA_CLIENT_DROP_RATE_LIMITED);
            settle(t, b, -429);
            return 0;
        }
        int retryable = status == 0 || status == 429 || status >= 500;
        if (!retryable) {
            /* The server will refuse this batch however often we send it
             * (bad labels, too old, too large): drop it, say why once. */
            noa_log(NOA_LOG_ERROR, "client",
                    "msg=\"final error sending batch; dropped\" tenant=%s status=%d entries=%llu "
                    "error=\"%.*s\"",
                    t->name, status, (unsigned long long)b->n_entries,
                    (int)(resp.body.len > 512 ? 512 : resp.body.len),
                    resp.body.data ? resp.body.data : "");
            noa_http_client_response_fini(&resp);
            drop(t, b, NOA_CLIENT_DROP_HTTP_4XX);
            settle(t, b, -status);
            return 0;
        }
        if (!noa_backoff_ongoing(&bo)) {
            noa_log(NOA_LOG_ERROR, "client",
                    "msg=\"batch dropped after max_retries\" tenant=%s status=%d entries=%llu",
                    t->name, status, (unsigned long long)b->n_entries);
            noa_http_client_response_fini(&resp);
            drop(t, b, NOA_CLIENT_DROP_MAX_RETRIES);
            settle(t, b, NOA_ELIMIT);
            return 0;
        }
        int64_t delay = noa_backoff_next(&bo);
        if (status && resp.retry_after_s >= 0) {
            /* the server knows when it has room; the cap keeps a bogus
             * header from parking the tenant for days */
            int64_t cap = c->cfg.max_backoff_ms > RETRY_AFTER_CAP_MS ? c->cfg.max_backoff_ms
                                                                     : RETRY_AFTER_CAP_MS;
            delay = resp.retry_after_s > cap / 1000 ? cap : resp.retry_after_s * 1000;
        }
        if (!logged) {
            noa_log(NOA_LOG_WARN, "client",
                    "msg=\"error sending batch, will retry\" tenant=%s status=%d error=\"%s\"",
                    t->name, status, status == 0 ? resp.error : "");
            logged = 1;
        }
        noa_http_client_response_fini(&resp);
        pthread_mutex_lock(&c->mu);
        c->st.retries++;
        int gone = wait_until(c, noa_clock_mono_ns() + delay * 1000000);
        pthread_mutex_unlock(&c->mu);
        if (gone)
            return 1;
    }
}

static void *tenant_main(void *arg)
{
    struct cl_tenant *t = arg;
    struct noa_client *c = t->c;
    struct cl_sender s = {.seed = (uint64_t)noa_clock_mono_ns() ^ (uint64_t)(uintptr_t)t};
    if (noa_http_client_new(&s.http) != 0) {
        noa_log(NOA_LOG_ERROR, "client", "msg=\"cannot create http client\" tenant=%s", t->name);
        s.http = NULL;
    }
    char ua[300];
    snprintf(ua, sizeof(ua), "User-Agent: %s", c->user_agent);
    s.headers[s.n_headers++] = "Content-Type: application/x-protobuf";
    if (c->cfg.zstd)
        s.headers[s.n_headers++] = "Content-Encoding: zstd";
    s.headers[s.n_headers++] = ua;
    if (*t->name) {
        snprintf(s.tenant_hdr, sizeof(s.tenant_hdr), "X-Scope-OrgID: %s", t->name);
        s.headers[s.n_headers++] = s.tenant_hdr;
    }
    if (c->auth_header)
        s.headers[s.n_headers++] = c->auth_header;
    for (size_t i = 0; i < c->n_headers; i++)
        s.headers[s.n_headers++] = c->headers[i];

    pthread_mutex_lock(&c->mu);
    while (!c->abandon) {
        if (t->qhead && s.http) {
            struct cl_batch *b = t->qhead;
            t->qhead = b->next;
            if (!t->qhead)
                t->qtail = NULL;
            b->next = NULL;
            /* in flight, in send order: settle acks in this order */
            if (t->otail)
                t->otail->onext = b;
            else
                t->ohead = b;
            t->otail = b;
            pthread_mutex_unlock(&c->mu);
            int gone = send_batch(t, &s, b); /* settles b unless abandoned */
            pthread_mutex_lock(&c->mu);
            if (gone)
                break; /* b stays on the in-flight list; noa_client_free frees it */
            continue;
        }
        if (t->cur && (c->stopping ||
                       noa_clock_mono_ns() - t->cur->first_ns >= c->cfg.batch_wait_ms * 1000000)) {
            seal(t);
            continue;
        }
        if (c->stopping && !t->qhead)
            break;
        if (t->cur) {
            /* one wait, not wait_until: a seal, flush or stop must wake us
             * before batch_wait ends */
            struct timespec ts;
            deadline_ts(t->cur->first_ns + c->cfg.batch_wait_ms * 1000000, &ts);
            pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        } else {
            pthread_cond_wait(&c->cv, &c->mu);
        }
    }
    pthread_mutex_unlock(&c->mu);
    noa_http_client_free(s.http);
    noa_buf_fini(&s.raw);
    noa_buf_fini(&s.body);
    noa_free(s.streams);
    return NULL;
}

int noa_client_stop(struct noa_client *c, int64_t drain_ms)
{
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    if (c->stopped) {
        pthread_mutex_unlock(&c->mu);
        return 0;
    }
    c->stopping = 1;
    pthread_cond_broadcast(&c->cv);
    int64_t until = noa_clock_mono_ns() + (drain_ms > 0 ? drain_ms : 0) * 1000000;
    for (;;) {
        size_t left = 0;
        for (struct cl_tenant *t = c->tenants; t; t = t->next)
            left += t->mem;
        if (!left)
            break;
        if (noa_clock_mono_ns() >= until) {
            rc = NOA_ETIMEOUT;
            break;
        }
        struct timespec ts;
        deadline_ts(until, &ts);
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    c->abandon = 1;
    c->stopped = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    /* Senders no longer touch the list once stopping is set, and adds
     * refuse, so the list is stable. */
    for (struct cl_tenant *t = c->tenants; t; t = t->next)
        for (int i = 0; i < t->n_th; i++)
            pthread_join(t->th[i], NULL);
    return rc;
}

void noa_client_stats(struct noa_client *c, struct noa_client_stats *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    pthread_mutex_unlock(&c->mu);
}

void noa_client_free(struct noa_client *c)
{
    if (!c)
        return;
    noa_client_stop(c, 0);
    struct cl_tenant *t = c->tenants;
    while (t) {
        struct cl_tenant *n = t->next;
        batch_free(t->cur);
        for (struct cl_batch *b = t->qhead; b;) {
            struct cl_batch *bn = b->next;
            batch_free(b);
            b = bn;
        }
        for (struct cl_batch *b = t->ohead; b;) { /* abandoned in flight */
            struct cl_batch *bn = b->onext;
            batch_free(b);
            b = bn;
        }
        pthread_mutex_destroy(&t->settle_mu);
        noa_free(t->name);
        noa_free(t);
        t = n;
    }
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    for (unsigned i = 0; i < LABEL_MEMO; i++) {
        noa_buf_fini(&c->lc[i].in);
        noa_buf_fini(&c->lc[i].out);
    }
    for (int i = 0; i < 4; i++)
        noa_free(c->tls_strs[i]);
    noa_free(c->url);
    noa_free(c->tenant_id);
    noa_free(c->user_agent);
    noa_free(c->auth_header);
    for (size_t i = 0; i < c->n_headers; i++)
        noa_free(c->headers[i]);
    noa_free(c->headers);
    noa_free(c->ext);
    noa_arena_fini(&c->ext_arena);
    noa_free(c);
}
