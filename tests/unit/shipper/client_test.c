/*
 * Tests for shipper/client.c against a small HTTP/1.1 server on loopback
 * (one thread per connection, scripted answers, every request kept):
 * batching by size and time, label grouping and external labels, the
 * snappy protobuf body decoded back, headers, retries (429 + Retry-After,
 * 5xx, connection refused), 4xx drops, tenant isolation, the bounded
 * queue, and ack order.
 */
#include "common/clock.h"
#include "common/compress.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/pushproto.h"
#include "shipper/client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define SRV_MAXREQ 64
#define SRV_MAXCONN 32

struct srv_req {
    char *head;
    char *body;
    size_t body_len;
    int64_t at_ns;
};

struct srv {
    int lfd, port;
    pthread_t th;
    pthread_t conns[SRV_MAXCONN];
    int cfds[SRV_MAXCONN];
    int n_conns;
    pthread_mutex_t mu;
    int script[SRV_MAXREQ];  /* status per request index; 0 = default_status */
    int retry_after;         /* sent with 429 when > 0 */
    int default_status;      /* 0 = 200 */
    const char *fail_tenant; /* requests carrying this X-Scope-OrgID get 500 */
    struct srv_req req[SRV_MAXREQ];
    int n_req;
};

struct conn_arg {
    struct srv *s;
    int fd;
};

static void *conn_main(void *arg)
{
    struct conn_arg *ca = arg;
    struct srv *s = ca->s;
    int fd = ca->fd;
    free(ca);
    size_t cap = 1 << 16, have = 0;
    char *buf = malloc(cap);
    for (;;) {
        char *end;
        while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
            if (have == cap)
                buf = realloc(buf, cap *= 2);
            ssize_t r = read(fd, buf + have, cap - have);
            if (r <= 0)
                goto done;
            have += (size_t)r;
        }
        size_t hl = (size_t)(end - buf) + 4, cl = 0;
        char *head = strndup(buf, hl);
        char *p = strcasestr(head, "Content-Length:");
        if (p)
            cl = strtoul(p + 15, NULL, 10);
        while (have < hl + cl) {
            if (have == cap)
                buf = realloc(buf, cap *= 2);
            ssize_t r = read(fd, buf + have, cap - have);
            if (r <= 0) {
                free(head);
                goto done;
            }
            have += (size_t)r;
        }
        pthread_mutex_lock(&s->mu);
        int i = s->n_req;
        int status = 200;
        if (i < SRV_MAXREQ) {
            s->req[i].head = head;
            s->req[i].body = malloc(cl + 1);
            memcpy(s->req[i].body, buf + hl, cl);
            s->req[i].body_len = cl;
            s->req[i].at_ns = noa_clock_mono_ns();
            s->n_req++;
            status = s->script[i] ? s->script[i] : s->default_status ? s->default_status : 200;
        } else {
            free(head);
        }
        if (s->fail_tenant) {
            char hdr[128];
            snprintf(hdr, sizeof(hdr), "X-Scope-OrgID: %s\r\n", s->fail_tenant);
            if (i < SRV_MAXREQ && strstr(s->req[i].head, hdr))
                status = 500;
        }
        int ra = s->retry_after;
        pthread_mutex_unlock(&s->mu);
        const char *msg = status == 400 ? "entry for stream has bad labels" : "";
        char resp[512];
        int n;
        if (status == 429 && ra > 0)
            n = snprintf(
                resp, sizeof(resp),
                "HTTP/1.1 429 Too Many Requests\r\nRetry-After: %d\r\nContent-Length: 0\r\n\r\n",
                ra);
        else
            n = snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n\r\n%s",
                         status, strlen(msg), msg);
        if (write(fd, resp, (size_t)n) != n)
            goto done;
        memmove(buf, buf + hl + cl, have - hl - cl);
        have -= hl + cl;
    }
done:
    free(buf);
    return NULL;
}

static void *accept_main(void *arg)
{
    struct srv *s = arg;
    for (;;) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            return NULL;
        pthread_mutex_lock(&s->mu);
        if (s->n_conns == SRV_MAXCONN) {
            pthread_mutex_unlock(&s->mu);
            close(fd);
            continue;
        }
        struct conn_arg *ca = malloc(sizeof(*ca));
        ca->s = s;
        ca->fd = fd;
        s->cfds[s->n_conns] = fd;
        pthread_create(&s->conns[s->n_conns++], NULL, conn_main, ca);
        pthread_mutex_unlock(&s->mu);
    }
}

static void srv_start_port(struct srv *s, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)port)};
    socklen_t al = sizeof(a);
    int one = 1;
    pthread_mutex_init(&s->mu, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s->lfd, 16) != 0 ||
        getsockname(s->lfd, (struct sockaddr *)&a, &al) != 0)
        abort();
    s->port = ntohs(a.sin_port);
    pthread_create(&s->th, NULL, accept_main, s);
}

static void srv_start(struct srv *s)
{
    srv_start_port(s, 0);
}

/* Call after the client is freed (its connections closed). */
static void srv_stop(struct srv *s)
{
    shutdown(s->lfd, SHUT_RDWR);
    pthread_join(s->th, NULL);
    close(s->lfd);
    for (int i = 0; i < s->n_conns; i++) {
        shutdown(s->cfds[i], SHUT_RDWR);
        pthread_join(s->conns[i], NULL);
        close(s->cfds[i]);
    }
    for (int i = 0; i < s->n_req; i++) {
        free(s->req[i].head);
        free(s->req[i].body);
    }
    pthread_mutex_destroy(&s->mu);
}

static int srv_n(struct srv *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->n_req;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Acks seen, in order. */
#define MAX_ACKS 256
struct acks {
    pthread_mutex_t mu;
    int n;
    char tenant[MAX_ACKS][16];
    int status[MAX_ACKS];
    uint64_t offset[MAX_ACKS]; /* of the first pair */
    size_t n_pairs[MAX_ACKS];
};

static void on_ack(void *ud, const char *tenant, int status, const struct noa_client_ack *a,
                   size_t n)
{
    struct acks *k = ud;
    pthread_mutex_lock(&k->mu);
    if (k->n < MAX_ACKS) {
        snprintf(k->tenant[k->n], sizeof(k->tenant[0]), "%s", tenant);
        k->status[k->n] = status;
        k->offset[k->n] = n ? a[0].offset : 0;
        k->n_pairs[k->n] = n;
        k->n++;
    }
    pthread_mutex_unlock(&k->mu);
}

static int acks_n(struct acks *k)
{
    pthread_mutex_lock(&k->mu);
    int n = k->n;
    pthread_mutex_unlock(&k->mu);
    return n;
}

static int wait_acks(struct acks *k, int n, int ms)
{
    int64_t until = noa_clock_mono_ns() + (int64_t)ms * 1000000;
    while (acks_n(k) < n && noa_clock_mono_ns() < until)
        sleep_ms(5);
    return acks_n(k) >= n;
}

static void cfg_init(struct noa_client_config *cfg, char *url, size_t cap, struct srv *s,
                     struct acks *k)
{
    snprintf(url, cap, "http://127.0.0.1:%d/loki/api/v1/push", s->port);
    memset(cfg, 0, sizeof(*cfg));
    cfg->url = url;
    cfg->batch_wait_ms = 10000; /* tests flush explicitly unless they test time */
    cfg->min_backoff_ms = 10;
    cfg->max_backoff_ms = 50;
    cfg->ack = on_ack;
    cfg->ack_ud = k;
    memset(k, 0, sizeof(*k));
    pthread_mutex_init(&k->mu, NULL);
}

static int add(struct noa_client *c, const char *tenant, const char *labels, int64_t ts,
               const char *line, const char *src, uint64_t off)
{
    struct noa_client_entry e = {
        .tenant = tenant,
        .labels = noa_str_c(labels),
        .ts_ns = ts,
        .line = noa_str_c(line),
        .source = noa_str_c(src ? src : ""),
        .offset = off,
    };
    return noa_client_add(c, &e);
}

/* Decodes request i's body; the caller finishes req and scratch. */
static void decode(struct srv *s, int i, struct noa_buf *scratch, struct noa_push_request *req)
{
    struct noa_error err = {0};
    assert_int_equal(
        noa_pushproto_decode_snappy(s->req[i].body, s->req[i].body_len, NULL, scratch, req, &err),
        0);
}

static uint32_t total_entries(const struct noa_push_request *r)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < r->n_streams; i++)
        n += r->streams[i].n_entries;
    return n;
}

static void test_batch_by_size(void **state)
{
    (void)state;
    struct srv s = {0};
    srv_start(&s);
    struct noa_client_config cfg;
    struct acks k;
    char url[128];
    cfg_init(&cfg, url, sizeof(url), &s, &k);
    cfg.batch_size = 100;
    cfg.queue_bytes = 10000;
    struct noa_client *c;
    assert_int_equal(noa_client_new(&cfg, &c), 0);
    char line[31];
    memset(line, 'x', 30);
    line[30] = 0;
    for (int i = 0; i < 5; i++)
        assert_int_equal(add(c, NULL, "{job=\"a\"}", 1000 + i, line, "f", (uint64_t)(i + 1) * 31),
                         0);
    /* 3 lines fill 90 bytes; the 4th would pass 100, so the first 3 go */
    assert_true(wait_acks(&k, 1, 3000));
    assert_int_equal(srv_n(&s), 1);
    assert_int_equal(noa_client_stop(c, 3000), 0);
    assert_int_equal(acks_n(&k), 2);
    assert_int_equal(k.offset[0], 3 * 31);
    assert_int_equal(k.offset[1], 5 * 31);
    noa_client_free(c);
    assert_int_equal(s.n_req, 2);
    struct noa_buf sc = {0};
    struct noa_push_request r = {0};
    decode(&s, 0, &sc, &r);
    assert_int_equal(total_entries(&r), 3);
    assert_int_equal(r.streams[0].entries[0].ts_ns, 1000);
    assert_int_equal(r.streams[0].entries[2].ts_ns, 1002);
    noa_push_request_fini(&r);
    decode(&s, 1, &sc, &r);
    assert_int_equal(total_entries(&r), 2);
    assert_int_equal(r.streams[0].entries[1].ts_ns, 1004);
    assert_int_equal(r.streams[0].entries[1].line.len, 30);
    noa_push_request_fini(&r);
    noa_buf_fini(&sc);
    srv_stop(&s);
}

static void test_batch_by_time(void **state)
{
    (void)state;
    struct srv s = {0};
    srv_start(&s);
    struct noa_client_config cfg;
    struct acks k;
    char url[128];
    cfg_init(&cfg, url, sizeof(url), &s, &k);
    cfg.batch_wait_ms = 200;
    struct noa_client *c;
    assert_int_equal(noa_client_new(&cfg, &c), 0);
    int64_t t0 = noa_clock_mono_ns();
    assert_int_equal(add(c, NULL, "{job=\"a\"}", 1, "hello", "f", 6), 0);
    sleep_ms(100);
    assert_int_equal(srv_n(&s), 0); /* not yet: neither full nor old */
    assert_true(wait_acks(&k, 1, 3000));
    pthread_mutex_lock(&s.mu);
    int64_t at = s.req[0].at_ns;
    pthread_mutex_unlock(&s.mu);
    assert_true(at - t0 >= 190 * 1000000ll);
    assert_true(at - t0 < 2000 * 1000000ll);
    noa_client_free(c);
    assert_int_equal(s.n_req, 1);
    srv_stop(&s);
}

static void test_grouping_headers_external(void **state)
{
    (void)state;
    struct srv s = {0};
    srv_start(&s);
    struct noa_client_config cfg;
    struct acks k;
    char url[128];
    cfg_init(&cfg, url, sizeof(url), &s, &k);
    struct noa_label ext[] = {{NOA_STR("cluster"), NOA_STR("c1")},
                              {NOA_STR("job"), NOA_STR("ext")}};
    cfg.external_labels = ext;
    cfg.n_external_labels = 2;
    cfg.tenant_id = "t1";
    cfg.basic_user = "u";
    cfg.basic_pass = "p";
    struct noa_client *c;
    assert_int_equal(noa_client_new(&cfg, &c), 0);
    assert_int_equal(add(c, NULL, "{job=\"a\"}", 1, "l1", "f", 3), 0);
    assert_int_equal(add(c, NULL, "{job=\"b\"}", 2, "l2", "g", 3), 0);
    /* same set, spelled differently: one stream */
    assert_int_equal(add(c, NULL, "{ job = \"a\" }", 3, "l3", "f", 6), 0);
    assert_int_equal(add(c, NULL, "{}", 4, "nolabels", "f", 9), 0);
    assert_int_equal(add(c, NULL, "{job=", 5, "bad", "f", 9), NOA_EINVAL);
    noa_client_flush(c);
    assert_true(wait_acks(&k, 1, 3000));
    assert_int_equal(k.n_pairs[0], 2);
    assert_string_equal(k.tenant[0], "t1");
    noa_client_free(c);
    assert_int_equal(s.n_req, 1);
    const char *h = s.req[0].head;
    assert_non_null(strstr(h, "POST /loki/api/v1/push "));
    assert_non_null(strstr(h, "X-Scope-OrgID: t1\r\n"));
    assert_non_null(strstr(h, "Authorization: Basic dTpw\r\n"));
    assert_non_null(strstr(h, "User-Agent: noa-shipper/"));
    assert_non_null(strstr(h, "Content-Type: application/x-protobuf\r\n"));
    struct noa_buf sc = {0};
    struct noa_push_request r = {0};
    decode(&s, 0, &sc, &r);
    assert_int_equal(r.n_streams, 3);
    int seen = 0;
    for (uint32_t i = 0; i < r.n_streams; i++) {
        struct noa_push_stream *st = &r.streams[i];
        if (noa_str_eq_c(st->labels, "{cluster=\"c1\", job=\"a\"}")) {
            assert_int_equal(st->n_entries, 2);
            assert_true(noa_str_eq_c(st->entries[0].line, "l1"));
            assert_true(noa_str_eq_c(st->entries[1].line, "l3"));
            seen |= 1;
        } else if (noa_str_eq_c(st->labels, "{cluster=\"c1\", job=\"b\"}")) {
            assert_int_equal(st->n_entries, 1);
            seen |= 2;
        } else if (noa_str_eq_c(st->labels, "{cluster=\"c1\", job=\"ext\"}")) {
            /* "{}" got the external labels alone */
            assert_true(noa_str_eq_c(st->entries[0].line, "nolabels"));
            seen |= 4;
        }
    }
    assert_int_equal(seen, 7);
    noa_push_request_fini(&r);
    noa_buf_fini(&sc);
    srv_stop(&s);
}

/* zstd: the body is zstd-compressed protobuf with Content-Encoding: zstd,
 * and a Content-Encoding header of the user's is refused. */
static void test_zstd_encoding(void **state)
{
    (void)state;
    struct srv s = {0};
    srv_start(&s);
    struct noa_client_config cfg;
    struct acks k;
    char url[128];
    cfg_init(&cfg, url, sizeof(url), &s, &k);
    const char *bad[] = {"Content-Encoding: gzip"};
    cfg.headers = bad;
    cfg.n_headers = 1;
    struct noa_client *c;
    assert_int_equal(noa_client_new(&cfg, &c), NOA_EINVAL);
    cfg.headers = NULL;
    cfg.n_headers = 0;
    cfg.zstd = 1;
    assert_int_equal(noa_client_new(&cfg, &c), 0);
    assert_int_equal(add(c, NULL, "{job=\"z\"}", 1, "zstd line one", "f", 14), 0);
    assert_int_equal(add(c, NULL, "{job=\"z\"}", 2, "zstd line two", "f", 28), 0);
    noa_client_flush(c);
    assert_true(wait_acks(&k, 1, 3000));
    noa_client_free(c);
    assert_int_equal(s.n_req, 1);
    assert_non_null(strstr(s.req[0].head, "Content-Encoding: zstd\r\n"));
    struct noa_buf raw = {0}, sc = {0};
    struct noa_error err = {0};
    assert_int_equal(noa_compress_zstd_decompress(s.req[0].body, s.req[0].body_len, 1 << 20, &raw,
                                                  &err),
                     0);
    struct noa_push_request r = {0};
    assert_int_equal(noa_pushproto_decode(raw.data, raw.len, NULL, &r, &err), 0);
    assert_int_equal(r.n_streams, 1);
    assert_int_equal(r.streams[0].n_entries, 2);
    assert_true(noa_str_eq_c(r.streams[0].entries[1].line, "zstd line two"));
    noa_push_request_fini(&r);
    noa_buf_fini(&raw);
    noa_buf_fini(&sc);
    srv_stop(&s);
}

static void test_429_retry_after(void **state)
{
    (void)state;
    struct srv s = {0};
    s.script[0] = 429;
    s.retry_after = 1;
    srv_start(&s);
    struct noa_client_config cfg;
    struct acks k;
    char url[128];
    cfg_init(&cfg, url, sizeof(url), &s, &k);
    cfg.bearer_token = "tok";
    struct noa_client *c;
    assert_int_equal(noa_client_new(&cfg, &c), 0);
    assert_int_equal(add(c, NULL, "{job=\"a\"}", 1, "x", "f", 2), 0);
    noa_client_flush(c);
    assert_true(wait_acks(&k, 1, 5000));
    assert_int_equal(k.status[0], 0);
    struct noa_client_stats st;
    noa_client_stats(c, &st);
    assert_int_equal(st.retries, 1);
    assert_int_equal(st.sent_batches, 1);
    noa_client_free(c);
    assert_int_equal(s.n_req, 2);
    /* min_backoff is 10 ms: only Retry-After explains a 1 s gap */
    assert_true(s.req[1].at_ns - s.req[0].at_ns >= 950 * 1000000ll);
    assert_non_null(strstr(s.req[0].head, "Authorization: Bearer tok\r\n"));
    assert_null(strstr(s.req[0].head, "X-Scope-OrgID"));
    srv_stop(&s);
}

static void test_500_then_success(void **state)
{
    (void)state;
    struct srv s = {0};
    s.script[0] = 500;
    s.script[1] = 503;
    srv_start(&s);
    struct noa_client_config cfg;
    struct acks k;
    char url[128];
    cfg_init(&cfg, url, sizeof(url), &s, &k);
    struct noa_client *c;
    assert_int_equal(noa_client_new(&cfg, &c), 0);
    assert_int_equal(add(c, NULL, "{job=\"a\"}", 1, "x", "f", 2), 0);
    assert_int_equal(add(c, NULL, "{job=\"a\"}", 2, "y", "f", 4), 0);
    noa_client_flush(c);
    assert_true(wait_acks(&k, 1, 5000));
    sleep_ms(100);
    assert_int_equal(acks_n(&k), 1); /* acked once */
    assert_int_equal(k.status[0], 0);
    assert_int_equal(k.offset[0], 4);
    noa_client_free(c);
    assert_int_equal(s.n_req, 3); /* no duplicate after the success */
    assert_int_equal(s.req[0].body_len, s.req[2].body_len);
    assert_memory_equal(s.req[0].body, s.req[2].body, s.req[0].body_len);
    struct noa_buf sc = {0};
    struct noa_push_request r = {0};
    decode(&s, 2, &sc, &r);
    assert_int_equal(total_entries(&r), 2);
    noa_push_request_fini(&r);
    noa_buf_fini(&sc);
    srv_stop(&s);
}

static void test_400_dropped(void **state)
{
    (void)state;
    struct srv s = {0};
    s.script[0] = 400;
    srv_start(&s);
    struct noa_client_config cfg;
    struct acks k;
    char url[128];
    cfg_init(&cfg, url, sizeof(url), &s, &k);
    struct noa_client *c;
    assert_int_equal(noa_client_new(&cfg, &c), 0);
    assert_int_equal(add(c, NULL, "{job=\"a\"}", 1, "x", "f", 2), 0);
    assert_int_equal(add(c, NULL, "{job=\"a\"}", 2, "y", "f", 4), 0);
    noa_client_flush(c);
    assert_true(wait_acks(&k, 1, 3000));
    assert_int_equal(k.status[0], -400);
    assert_int_equal(k.offset[0], 4);
    struct noa_client_stats st;
    noa_client_stats(c, &st);
    assert_int_equal(st.dropped_batches[NOA_CLIENT_DROP_HTTP_4XX], 1);
    assert_int_equal(st.dropped_entries[NOA_CLIENT_DROP_HTTP_4XX], 2);
    assert_int_equal(st.retries, 0);
    assert_int_equal(st.sent_batches, 0);
    /* later batches still go */
    assert_int_equal(add(c, NULL, "{job=\"a\"}", 3, "z", "f", 6), 0);
    noa_client_flush(c);
    assert_true(wait_acks(&k, 2, 3000));
    assert_int_equal(k.status[1], 0);
    noa_client_free(c);
    assert_int_equal(s.n_req, 2);
    srv_stop(&s);
}

static void test_max_retries(void **state)
{
    (void)state;
    struct srv s = {0};
    s.default_status = 500;
    srv_start(&s);
    struct noa_client_config cfg;
    struct acks k;
    char url[128];
    cfg_init(&cfg, url, sizeof(url), &s, &k);
    cfg.max_retries = 2;
    struct noa_client *c;
    assert_int_equal(noa_client_new(&cfg, &c), 0);
    assert_int_equal(add(c, NULL, "{job=\"a\"}", 1, "x", "f", 2), 0);
    noa_client_flush(c);
    assert_true(wait_acks(&k, 1, 3000));
    assert_int_equal(k.status[0], NOA_ELIMIT);
    struct noa_client_stats st;
    noa_client_stats(c, &st);
    assert_int_equal(st.dropped_batches[NOA_CLIENT_DROP_MAX_RETRIES], 1);
    noa_client_free(c);
    assert_int_equal(s.n_req, 3); /* first try + 2 retries */
    srv_stop(&s);
}

static void test_connection_refused(void **state)
{
    (void)state;
    /* a port with nobody listening */
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    int port = ntohs(a.sin_port);
    close(fd);
    struct srv s = {0};
    s.port = port;
    struct noa_client_config cfg;
    struct acks k;
    char url[128];
    cfg_init(&cfg, url, sizeof(url), &s, &k);
    struct noa_client *c;
    assert_int_equal(noa_client_new(&cfg, &c), 0);
    assert_int_equal(add(c, NULL, "{job=\"a\"}", 1, "x", "f", 2), 0);
    noa_client_flush(c);
    sleep_ms(300);
    assert_int_equal(acks_n(&k), 0);
    struct noa_client_stats st;
    noa_client_stats(c, &st);
    assert_true(st.retries >= 2);
    srv_start_port(&s, port);
    assert_true(wait_acks(&k, 1, 3000));
    assert_int_equal(k.status[0], 0);
    noa_client_free(c);
    assert_int_equal(s.n_req, 1);
    srv_stop(&s);
}

static void test_tenant_isolation(void **state)
{
    (void)state;
    struct srv s = {0};
    s.fail_tenant = "A";
    srv_start(&s);
    struct noa_client_config cfg;
    struct acks k;
    char url[128];
    cfg_init(&cfg, url, sizeof(url), &s, &k);
    cfg.max_backoff_ms = 20;
    cfg.max_tenants = 2;
    struct noa_client *c;
    assert_int_equal(noa_client_new(&cfg, &c), 0);
    assert_int_equal(add(c, "A", "{job=\"a\"}", 1, "x", "fa", 2), 0);
    noa_client_flush(c);
    sleep_ms(50);
    assert_int_equal(add(c, "B", "{job=\"b\"}", 1, "y", "fb", 2), 0);
    noa_client_flush(c);
    assert_true(wait_acks(&k, 1, 3000));
    assert_string_equal(k.tenant[0], "B");
    assert_int_equal(k.status[0], 0);
    assert_int_equal(add(c, "C", "{job=\"c\"}", 1, "z", "fc", 2), NOA_ETOOBIG); /* max_tenants */
    /* A is still retrying; stopping abandons it without an ack */
    assert_int_equal(noa_client_stop(c, 100), NOA_ETIMEOUT);
    assert_int_equal(acks_n(&k), 1);
    assert_int_equal(add(c, "B", "{job=\"b\"}", 1, "y", "fb", 4), NOA_EUNAVAIL);
    noa_client_free(c);
    assert_true(s.n_req >= 3);
    srv_stop(&s);
}

static void test_queue_full(void **state)
{
    (void)state;
    struct srv s = {0};
    s.default_status = 503;
    srv_start(&s);
    struct noa_client_config cfg;
    struct acks k;
    char url[128];
    cfg_init(&cfg, url, sizeof(url), &s, &k);
    cfg.batch_size = 200;
    cfg.queue_bytes = 1000;
    struct noa_client *c;
    assert_int_equal(noa_client_new(&cfg, &c), 0);
    char line[101];
    memset(line, 'q', 100);
    line[100] = 0;
    int added = 0, rc = 0;
    for (int i = 0; i < 100; i++) {
        rc = add(c, NULL, "{job=\"a\"}", i, line, "f", (uint64_t)(i + 1) * 101);
        if (rc)
            break;
        added++;
    }
    assert_int_equal(rc, NOA_ELIMIT);
    assert_true(added >= 3 && added < 10);
    struct noa_client_stats st;
    noa_client_stats(c, &st);
    assert_true(st.queued_bytes <= 1000);
    char big[1200];
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    assert_int_equal(add(c, NULL, "{job=\"a\"}", 0, big, "f", 1), NOA_ETOOBIG);
    /* the server recovers: everything queued is delivered, room returns */
    pthread_mutex_lock(&s.mu);
    s.default_status = 200;
    pthread_mutex_unlock(&s.mu);
    noa_client_flush(c);
    int64_t until = noa_clock_mono_ns() + 3000 * 1000000ll;
    while (noa_clock_mono_ns() < until) {
        noa_client_stats(c, &st);
        if (st.queued_bytes == 0)
            break;
        sleep_ms(5);
    }
    assert_int_equal(st.queued_bytes, 0);
    assert_int_equal(st.sent_entries, (uint64_t)added);
    assert_int_equal(add(c, NULL, "{job=\"a\"}", 0, line, "f", 99999), 0);
    assert_int_equal(noa_client_stop(c, 3000), 0);
    noa_client_free(c);
    srv_stop(&s);
}

static void test_ack_order(void **state)
{
    (void)state;
    struct srv s = {0};
    s.script[1] = 500; /* the second batch needs a retry */
    srv_start(&s);
    struct noa_client_config cfg;
    struct acks k;
    char url[128];
    cfg_init(&cfg, url, sizeof(url), &s, &k);
    cfg.batch_size = 20;
    cfg.queue_bytes = 2000;
    struct noa_client *c;
    assert_int_equal(noa_client_new(&cfg, &c), 0);
    uint64_t off = 0;
    for (int i = 0; i < 40; i++) {
        off += 11;
        int rc;
        while ((rc = add(c, NULL, "{job=\"a\"}", i, "0123456789", "f", off)) == NOA_ELIMIT)
            sleep_ms(2);
        assert_int_equal(rc, 0);
    }
    assert_int_equal(noa_client_stop(c, 5000), 0);
    assert_int_equal(acks_n(&k), 20); /* two lines per batch */
    for (int i = 0; i < k.n; i++) {
        assert_int_equal(k.status[i], 0);
        assert_int_equal(k.offset[i], (uint64_t)(i + 1) * 22);
    }
    struct noa_client_stats st;
    noa_client_stats(c, &st);
    assert_int_equal(st.sent_entries, 40);
    noa_client_free(c);
    srv_stop(&s);
}

/* Eight batches in flight at once, several needing retries: later batches
 * finish first, yet acks come one per batch, in batch order, and every
 * entry is sent once. */
static void test_parallel_ack_order(void **state)
{
    (void)state;
    struct srv s = {0};
    s.script[1] = 500;
    s.script[3] = 503;
    s.script[6] = 500;
    s.script[7] = 500;
    srv_start(&s);
    struct noa_client_config cfg;
    struct acks k;
    char url[128];
    cfg_init(&cfg, url, sizeof(url), &s, &k);
    cfg.batch_size = 20;
    cfg.queue_bytes = 4000;
    cfg.max_inflight = 8;
    struct noa_client *c;
    assert_int_equal(noa_client_new(&cfg, &c), 0);
    uint64_t off = 0;
    for (int i = 0; i < 60; i++) {
        off += 11;
        int rc;
        while ((rc = add(c, NULL, "{job=\"p\"}", i, "0123456789", "f", off)) == NOA_ELIMIT)
            sleep_ms(2);
        assert_int_equal(rc, 0);
    }
    assert_int_equal(noa_client_stop(c, 10000), 0);
    assert_int_equal(acks_n(&k), 30);
    for (int i = 0; i < k.n; i++) {
        assert_int_equal(k.status[i], 0);
        assert_int_equal(k.offset[i], (uint64_t)(i + 1) * 22);
    }
    struct noa_client_stats st;
    noa_client_stats(c, &st);
    assert_int_equal(st.sent_entries, 60);
    assert_int_equal(st.retries, 4);
    noa_client_free(c);
    srv_stop(&s);
}

static void test_new_invalid(void **state)
{
    (void)state;
    struct noa_client_config cfg = {0};
    struct noa_client *c = (struct noa_client *)1;
    assert_int_equal(noa_client_new(&cfg, &c), NOA_EINVAL);
    assert_null(c);
    struct noa_label ext[] = {{NOA_STR("bad-name"), NOA_STR("x")}};
    cfg.url = "http://127.0.0.1:1/";
    cfg.external_labels = ext;
    cfg.n_external_labels = 1;
    assert_int_equal(noa_client_new(&cfg, &c), NOA_EINVAL);
    noa_client_free(NULL);
}

static void test_options(void **state)
{
    (void)state;
    struct srv s = {0};
    s.script[0] = 429;
    srv_start(&s);
    struct noa_client_config cfg;
    struct acks k;
    char url[128];
    cfg_init(&cfg, url, sizeof(url), &s, &k);
    const char *bad1[] = {"X-Scope-OrgID: other"};
    const char *bad2[] = {"NoColon"};
    const char *bad3[] = {"Authorization: x"};
    struct noa_client *c;
    cfg.headers = bad1;
    cfg.n_headers = 1;
    assert_int_equal(noa_client_new(&cfg, &c), NOA_EINVAL);
    cfg.headers = bad2;
    assert_int_equal(noa_client_new(&cfg, &c), NOA_EINVAL);
    cfg.headers = bad3;
    cfg.bearer_token = "t";
    assert_int_equal(noa_client_new(&cfg, &c), NOA_EINVAL);
    cfg.bearer_token = NULL;
    cfg.tenant_id = "bad\r\nX-Evil: 1";
    cfg.headers = NULL;
    cfg.n_headers = 0;
    assert_int_equal(noa_client_new(&cfg, &c), NOA_EINVAL);
    cfg.tenant_id = NULL;

    const char *good[] = {"X-Extra: yes"};
    cfg.headers = good;
    cfg.n_headers = 1;
    cfg.drop_rate_limited = 1;
    cfg.batch_size = 10; /* line 4 bytes + metadata 6: one entry fills it */
    cfg.queue_bytes = 10000;
    assert_int_equal(noa_client_new(&cfg, &c), 0);
    struct noa_label meta[] = {{NOA_STR("tr"), NOA_STR("abcd")}};
    struct noa_client_entry e = {
        .labels = NOA_STR("{job=\"a\"}"),
        .ts_ns = 7,
        .line = NOA_STR("line"),
        .meta = meta,
        .n_meta = 1,
        .source = NOA_STR("f"),
        .offset = 5,
    };
    e.tenant = "x\ny";
    assert_int_equal(noa_client_add(c, &e), NOA_EINVAL);
    e.tenant = NULL;
    assert_int_equal(noa_client_add(c, &e), 0); /* sealed by size: 429, dropped */
    assert_true(wait_acks(&k, 1, 3000));
    assert_int_equal(k.status[0], -429);
    e.offset = 10;
    assert_int_equal(noa_client_add(c, &e), 0);
    assert_true(wait_acks(&k, 2, 3000));
    assert_int_equal(k.status[1], 0);
    struct noa_client_stats st;
    noa_client_stats(c, &st);
    assert_int_equal(st.dropped_batches[NOA_CLIENT_DROP_RATE_LIMITED], 1);
    assert_int_equal(st.retries, 0);
    noa_client_free(c);
    assert_int_equal(s.n_req, 2);
    assert_non_null(strstr(s.req[1].head, "X-Extra: yes\r\n"));
    struct noa_buf sc = {0};
    struct noa_push_request r = {0};
    decode(&s, 1, &sc, &r);
    assert_int_equal(r.n_streams, 1);
    assert_int_equal(r.streams[0].n_entries, 1);
    assert_int_equal(r.streams[0].entries[0].ts_ns, 7);
    assert_int_equal(r.streams[0].entries[0].n_meta, 1);
    assert_true(noa_str_eq_c(r.streams[0].entries[0].meta[0].name, "tr"));
    assert_true(noa_str_eq_c(r.streams[0].entries[0].meta[0].value, "abcd"));
    noa_push_request_fini(&r);
    noa_buf_fini(&sc);
    srv_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_invalid),
        cmocka_unit_test(test_batch_by_size),
        cmocka_unit_test(test_batch_by_time),
        cmocka_unit_test(test_grouping_headers_external),
        cmocka_unit_test(test_429_retry_after),
        cmocka_unit_test(test_500_then_success),
        cmocka_unit_test(test_400_dropped),
        cmocka_unit_test(test_max_retries),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_tenant_isolation),
        cmocka_unit_test(test_queue_full),
        cmocka_unit_test(test_ack_order),
        cmocka_unit_test(test_parallel_ack_order),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_zstd_encoding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
