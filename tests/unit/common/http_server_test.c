/*
 * Tests for common/http_server (and common/http_client against it) with real
 * sockets on 127.0.0.1: the server's loop runs on the test's main thread, a
 * client thread talks raw HTTP (or libcurl) and records what it saw; the
 * main thread asserts after joining it. Every test closes the server and
 * checks uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/http_client.h"
#include "common/http_server.h"
#include "common/mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_RESP 8

/* ---- what a client saw ----------------------------------------------- */

struct resp {
    int status;
    char status_line[128];
    char headers[4096];
    char *body;
    size_t body_len;
    int chunked;
};

static void resp_fini(struct resp *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* A header of a response, or NULL. Returns a static copy (test only). */
static const char *hdr(const struct resp *r, const char *name)
{
    static char out[512];
    size_t n = strlen(name);
    const char *p = r->headers;
    while (*p) {
        const char *e = strstr(p, "\r\n");
        if (!e)
            break;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            snprintf(out, sizeof(out), "%.*s", (int)(e - v), v);
            return out;
        }
        p = e + 2;
    }
    return NULL;
}

/* ---- a blocking client connection ------------------------------------ */

struct cconn {
    int fd;
    char buf[1 << 18];
    size_t len;
    int eof;       /* no more bytes will come */
    int timed_out; /* ... because the receive timeout passed, not a close */
};

static int cconn_open(struct cconn *c, int port)
{
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {10, 0}; /* a hung test fails instead of hanging */
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(c->fd);
        c->fd = -1;
        return -errno;
    }
    return 0;
}

static void cconn_close(struct cconn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static void csend(struct cconn *c, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t k = send(c->fd, s, n, MSG_NOSIGNAL);
        if (k <= 0)
            return;
        s += k;
        n -= (size_t)k;
    }
}

static void csends(struct cconn *c, const char *s)
{
    csend(c, s, strlen(s));
}

/* Reads more bytes; 0 at EOF or on error. */
static int cfill(struct cconn *c)
{
    if (c->eof || c->len == sizeof(c->buf))
        return 0;
    ssize_t k = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
    if (k <= 0) {
        c->eof = 1;
        c->timed_out = k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
        return 0;
    }
    c->len += (size_t)k;
    return 1;
}

static void cconsume(struct cconn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Waits for the peer to close; 1 when it did (EOF or reset), 0 when the
 * receive timeout passed first. */
static int cwait_eof(struct cconn *c)
{
    while (cfill(c))
        ;
    return c->eof && !c->timed_out;
}

/* The bytes of the next line (CRLF excluded), or -1 at EOF. */
static long cline(struct cconn *c, char *out, size_t cap)
{
    for (;;) {
        char *e = memmem(c->buf, c->len, "\r\n", 2);
        if (e) {
            size_t n = (size_t)(e - c->buf);
            snprintf(out, cap, "%.*s", (int)n, c->buf);
            cconsume(c, n + 2);
            return (long)n;
        }
        if (!cfill(c))
            return -1;
    }
}

static int cread_n(struct cconn *c, char *out, size_t n)
{
    while (c->len < n)
        if (!cfill(c))
            return -1;
    memcpy(out, c->buf, n);
    cconsume(c, n);
    return 0;
}

/* Reads one response; head_only for HEAD requests. Returns 0 or -1. */
static int cread_resp(struct cconn *c, struct resp *r, int head_only)
{
    memset(r, 0, sizeof(*r));
    if (cline(c, r->status_line, sizeof(r->status_line)) < 0)
        return -1;
    if (sscanf(r->status_line, "HTTP/1.%*d %d", &r->status) != 1)
        return -1;
    char line[2048];
    size_t hl = 0;
    for (;;) {
        long n = cline(c, line, sizeof(line));
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        hl += (size_t)snprintf(r->headers + hl, sizeof(r->headers) - hl, "%s\r\n", line);
    }
    if (head_only || (r->status >= 100 && r->status < 200) || r->status == 204 || r->status == 304)
        return 0;
    const char *te = hdr(r, "Transfer-Encoding");
    const char *cl = hdr(r, "Content-Length");
    if (te && !strcasecmp(te, "chunked")) {
        r->chunked = 1;
        for (;;) {
            if (cline(c, line, sizeof(line)) < 0)
                return -1;
            size_t n = strtoul(line, NULL, 16);
            if (n == 0) {
                cline(c, line, sizeof(line)); /* the blank line after the last chunk */
                return 0;
            }
            r->body = realloc(r->body, r->body_len + n + 1);
            if (cread_n(c, r->body + r->body_len, n) < 0)
                return -1;
            r->body_len += n;
            r->body[r->body_len] = '\0';
            cline(c, line, sizeof(line));
        }
    }
    if (cl) {
        size_t n = strtoul(cl, NULL, 10);
        r->body = malloc(n + 1);
        if (cread_n(c, r->body, n) < 0)
            return -1;
        r->body_len = n;
        r->body[n] = '\0';
        return 0;
    }
    /* Until the connection closes (HTTP/1.0 streaming). */
    while (cfill(c))
        ;
    r->body = malloc(c->len + 1);
    memcpy(r->body, c->buf, c->len);
    r->body_len = c->len;
    r->body[c->len] = '\0';
    c->len = 0;
    return 0;
}

/* ---- the fixture: server + client thread ----------------------------- */

struct fixture {
    uv_loop_t loop;
    struct noa_http_server *srv;
    int port;
    uv_async_t done;
    uv_thread_t thread;
    void (*client_fn)(struct fixture *f);
    int server_closing, server_closed;
    /* loop-thread observations */
    int observed;
    char last_route[64];
    char last_method[16];
    int last_status;
    char routes_seen[512];
    /* deferred requests */
    uv_timer_t defer_timer;
    struct noa_http_request *deferred;
    uint64_t defer_ms;
    int gone_polls, gone_replied;
    atomic_int deferred_seen;
    int stream_step;
    uv_work_t work;
    int work_thread_differs;
    uv_thread_t loop_thread;
    /* client results */
    struct resp r[MAX_RESP];
    int n_resp;
    int ints[16];
    char text[4][256];
    struct noa_http_client_response cresp[6];
    int crc[6];
};

static void on_observe(const char *route, const char *method, int status, double secs, void *ctx)
{
    struct fixture *f = ctx;
    f->observed++;
    snprintf(f->last_route, sizeof(f->last_route), "%s", route);
    snprintf(f->last_method, sizeof(f->last_method), "%s", method);
    f->last_status = status;
    size_t n = strlen(f->routes_seen);
    snprintf(f->routes_seen + n, sizeof(f->routes_seen) - n, "%s:%d ", route, status);
    assert_true(secs >= 0 && secs < 60);
}

static void on_server_closed(void *ctx)
{
    struct fixture *f = ctx;
    f->server_closed = 1;
}

static void close_server(struct fixture *f)
{
    if (f->server_closing)
        return;
    f->server_closing = 1;
    noa_http_server_close(f->srv, on_server_closed, f);
}

static void on_client_done(uv_async_t *a)
{
    struct fixture *f = a->data;
    uv_close((uv_handle_t *)a, NULL);
    close_server(f);
}

static void client_thread(void *arg)
{
    struct fixture *f = arg;
    f->client_fn(f);
    uv_async_send(&f->done);
}

/* ---- handlers --------------------------------------------------------- */

static void put_conn_id(struct noa_http_request *req)
{
    char id[32];
    snprintf(id, sizeof(id), "%llu", (unsigned long long)req->conn_id);
    noa_http_reply_header(req, "X-Conn-Id", id);
}

static void h_hello(struct noa_http_request *req, void *ctx)
{
    (void)ctx;
    put_conn_id(req);
    noa_http_reply(req, 200, "text/plain; charset=utf-8", "hello\n", 6);
}

static void h_echo(struct noa_http_request *req, void *ctx)
{
    (void)ctx;
    put_conn_id(req);
    noa_http_reply_header(req, "X-Method", req->method_name);
    const struct noa_str *ct = noa_http_request_header(req, "content-type");
    char ctbuf[128] = "";
    if (ct)
        snprintf(ctbuf, sizeof(ctbuf), "%.*s", (int)ct->len, ct->p);
    noa_http_reply(req, 200, ct ? ctbuf : NULL, req->body.p, req->body.len);
}

static void h_echo_buf(struct noa_http_request *req, void *ctx)
{
    (void)ctx;
    struct noa_buf b = {0};
    noa_buf_append_str(&b, req->body);
    noa_http_reply_buf(req, 201, NULL, &b);
    assert_null(b.data); /* taken */
}

static void h_values(struct noa_http_request *req, void *ctx)
{
    (void)ctx;
    struct noa_str name = noa_http_request_param(req, "name");
    struct noa_str none = noa_http_request_param(req, "nope");
    assert_int_equal(none.len, 0);
    struct noa_buf b = {0};
    noa_buf_printf(&b, "name=%.*s query=%.*s", (int)name.len, name.p, (int)req->query.len,
                   req->query.p);
    noa_http_reply_buf(req, 200, "text/plain", &b);
}

static void on_defer_timer(uv_timer_t *t)
{
    struct fixture *f = t->data;
    struct noa_http_request *req = f->deferred;
    f->deferred = NULL;
    noa_http_reply(req, 200, "text/plain", "deferred", 8);
}

static void h_defer(struct noa_http_request *req, void *ctx)
{
    struct fixture *f = ctx;
    assert_null(f->deferred);
    f->deferred = req;
    uv_timer_start(&f->defer_timer, on_defer_timer, f->defer_ms, 0);
}

/* Replies only once the server has noticed that the client left. */
static void on_gone_poll(uv_timer_t *t)
{
    struct fixture *f = t->data;
    f->gone_polls++;
    if (!noa_http_request_gone(f->deferred) && f->gone_polls < 2500)
        return;
    uv_timer_stop(t);
    struct noa_http_request *req = f->deferred;
    f->deferred = NULL;
    f->gone_replied = noa_http_request_gone(req) ? 1 : -1;
    /* A big reply, to make sure nothing is written to a freed connection. */
    struct noa_buf b = {0};
    for (int i = 0; i < 10000; i++)
        noa_buf_printf(&b, "line %d\n", i);
    noa_http_reply_buf(req, 200, "text/plain", &b);
}

static void h_defer_gone(struct noa_http_request *req, void *ctx)
{
    struct fixture *f = ctx;
    f->deferred = req;
    atomic_store(&f->deferred_seen, 1);
    uv_timer_start(&f->defer_timer, on_gone_poll, 2, 2);
}

static void on_stream_timer(uv_timer_t *t)
{
    struct fixture *f = t->data;
    struct noa_http_request *req = f->deferred;
    char piece[64];
    int n = snprintf(piece, sizeof(piece), "{\"part\":%d}\n", f->stream_step);
    if (f->stream_step == 1) {
        struct noa_buf b = {0};
        noa_buf_append(&b, piece, (size_t)n);
        noa_http_reply_chunk_buf(req, &b);
    } else {
        noa_http_reply_chunk(req, piece, (size_t)n);
    }
    noa_http_reply_chunk(req, "", 0); /* ignored, must not end the stream */
    if (++f->stream_step == 3) {
        uv_timer_stop(t);
        f->deferred = NULL;
        noa_http_reply_end(req);
    }
}

static void h_stream(struct noa_http_request *req, void *ctx)
{
    struct fixture *f = ctx;
    f->deferred = req;
    f->stream_step = 0;
    noa_http_reply_header(req, "X-Stream", "yes");
    noa_http_reply_start(req, 200, "application/json");
    uv_timer_start(&f->defer_timer, on_stream_timer, 1, 1);
}

static void on_work(uv_work_t *w)
{
    struct fixture *f = w->data;
    uv_thread_t self = uv_thread_self();
    f->work_thread_differs = !uv_thread_equal(&self, &f->loop_thread);
}

static void on_work_done(uv_work_t *w, int status)
{
    struct fixture *f = w->data;
    assert_int_equal(status, 0);
    struct noa_http_request *req = f->deferred;
    f->deferred = NULL;
    noa_http_reply(req, 202, "text/plain", "worked", 6);
}

static void h_work(struct noa_http_request *req, void *ctx)
{
    struct fixture *f = ctx;
    f->deferred = req;
    f->work.data = f;
    assert_int_equal(uv_queue_work(&f->loop, &f->work, on_work, on_work_done), 0);
}

/* Starts the graceful close while its own request is in flight. */
static void h_inflight(struct noa_http_request *req, void *ctx)
{
    struct fixture *f = ctx;
    f->deferred = req;
    close_server(f);
    uv_timer_start(&f->defer_timer, on_defer_timer, 5, 0);
}

/* Starts a streamed reply, then the graceful close, then streams on. */
static void h_stream_close(struct noa_http_request *req, void *ctx)
{
    struct fixture *f = ctx;
    h_stream(req, ctx);
    close_server(f);
}

static void h_retry(struct noa_http_request *req, void *ctx)
{
    (void)ctx;
    noa_http_reply_header(req, "Retry-After", "7");
    noa_http_reply_header(req, "X-Evil", "a\r\nInjected: yes");
    noa_http_reply_error(req, 429, "slow down");
}

static void h_close(struct noa_http_request *req, void *ctx)
{
    (void)ctx;
    noa_http_reply_header(req, "Connection", "close");
    noa_http_reply(req, 204, NULL, NULL, 0);
}

/* ---- fixture lifecycle ----------------------------------------------- */

static void setup_server(struct fixture *f, unsigned idle_ms)
{
    memset(f, 0, sizeof(*f));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->loop_thread = uv_thread_self();
    struct noa_http_server_options o = {
        .host = "127.0.0.1",
        .port = 0,
        .max_body_bytes = 256 * 1024,
        .max_header_bytes = 4096,
        .idle_timeout_ms = idle_ms,
        .observe_cb = on_observe,
        .observe_ctx = f,
    };
    assert_int_equal(noa_http_server_new(&f->loop, &o, &f->srv), 0);
    struct noa_http_server *s = f->srv;
    assert_int_equal(noa_http_server_port(s), -1);
    assert_int_equal(noa_http_server_route(s, NOA_HTTP_GET, "/hello", "hello", h_hello, f), 0);
    assert_int_equal(
        noa_http_server_route(s, NOA_HTTP_POST | NOA_HTTP_PUT, "/echo", NULL, h_echo, f), 0);
    assert_int_equal(noa_http_server_route(s, NOA_HTTP_POST, "/echo_buf", NULL, h_echo_buf, f), 0);
    assert_int_equal(noa_http_server_route(s, NOA_HTTP_GET | NOA_HTTP_POST,
                                           "/loki/api/v1/label/{name}/values", NULL, h_values, f),
                     0);
    assert_int_equal(noa_http_server_route(s, NOA_HTTP_GET, "/defer", "defer", h_defer, f), 0);
    assert_int_equal(noa_http_server_route(s, NOA_HTTP_GET, "/defer_gone", "gone", h_defer_gone, f),
                     0);
    assert_int_equal(noa_http_server_route(s, NOA_HTTP_GET, "/stream", "stream", h_stream, f), 0);
    assert_int_equal(noa_http_server_route(s, NOA_HTTP_GET, "/work", "work", h_work, f), 0);
    assert_int_equal(noa_http_server_route(s, NOA_HTTP_GET, "/inflight", "inflight", h_inflight, f),
                     0);
    assert_int_equal(
        noa_http_server_route(s, NOA_HTTP_GET, "/stream_close", NULL, h_stream_close, f), 0);
    assert_int_equal(noa_http_server_route(s, NOA_HTTP_ANY, "/retry", "retry", h_retry, f), 0);
    assert_int_equal(noa_http_server_route(s, NOA_HTTP_GET, "/close", "close", h_close, f), 0);
    assert_int_equal(noa_http_server_route(s, NOA_HTTP_GET, "/", NULL, h_hello, f), 0);
    assert_int_equal(noa_http_server_listen(s), 0);
    f->port = noa_http_server_port(s);
    assert_true(f->port > 0);
    uv_timer_init(&f->loop, &f->defer_timer);
    f->defer_timer.data = f;
    f->defer_ms = 10;
}

/* Runs client_fn on its own thread while the loop serves; then closes. */
static void run_client(struct fixture *f, void (*client_fn)(struct fixture *f))
{
    f->client_fn = client_fn;
    uv_async_init(&f->loop, &f->done, on_client_done);
    f->done.data = f;
    assert_int_equal(uv_thread_create(&f->thread, client_thread, f), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    /* The server is gone; only the test's timer is left. */
    uv_close((uv_handle_t *)&f->defer_timer, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_thread_join(&f->thread), 0);
    assert_true(f->server_closed);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void teardown(struct fixture *f)
{
    for (int i = 0; i < MAX_RESP; i++)
        resp_fini(&f->r[i]);
    for (int i = 0; i < 6; i++)
        noa_http_client_response_fini(&f->cresp[i]);
}

/* ---- tests ------------------------------------------------------------ */

static void c_keep_alive(struct fixture *f)
{
    struct cconn *c = malloc(sizeof(*c));
    cconn_open(c, f->port);
    csends(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    cread_resp(c, &f->r[0], 0);
    csends(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
              "Content-Length: 13\r\n\r\n{\"a\":\"b c\"} \n");
    cread_resp(c, &f->r[1], 0);
    csends(c, "GET /loki/api/v1/label/service%20name/values?since=1h&x=%41 HTTP/1.1\r\n"
              "Host: t\r\n\r\n");
    cread_resp(c, &f->r[2], 0);
    csends(c, "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    cread_resp(c, &f->r[3], 0);
    csends(c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    cread_resp(c, &f->r[4], 0);
    cconn_close(c);
    free(c);
}

static void test_keep_alive(void **state)
{
    (void)state;
    struct fixture *f = malloc(sizeof(*f));
    setup_server(f, 0);
    run_client(f, c_keep_alive);
    assert_int_equal(f->r[0].status, 200);
    assert_string_equal(f->r[0].status_line, "HTTP/1.1 200 OK");
    assert_string_equal(f->r[0].body, "hello\n");
    assert_string_equal(hdr(&f->r[0], "Content-Length"), "6");
    assert_string_equal(hdr(&f->r[0], "Content-Type"), "text/plain; charset=utf-8");
    const char *date = hdr(&f->r[0], "Date");
    assert_non_null(date);
    assert_int_equal(strlen(date), 29); /* "Mon, 02 Jan 2006 15:04:05 GMT" */
    assert_string_equal(date + 26, "GMT");
    assert_null(hdr(&f->r[0], "Connection"));
    char id[32];
    snprintf(id, sizeof(id), "%s", hdr(&f->r[0], "X-Conn-Id"));
    assert_int_equal(f->r[1].status, 200);
    assert_string_equal(f->r[1].body, "{\"a\":\"b c\"} \n");
    assert_string_equal(hdr(&f->r[1], "Content-Type"), "application/json");
    assert_string_equal(hdr(&f->r[1], "X-Method"), "POST");
    assert_string_equal(hdr(&f->r[1], "X-Conn-Id"), id); /* same connection */
    assert_int_equal(f->r[2].status, 200);
    assert_string_equal(f->r[2].body, "name=service name query=since=1h&x=%41");
    assert_int_equal(f->r[3].status, 200);
    assert_string_equal(hdr(&f->r[3], "X-Method"), "PUT");
    assert_string_equal(hdr(&f->r[3], "Content-Length"), "0");
    assert_null(hdr(&f->r[3], "Content-Type")); /* empty body: none */
    assert_string_equal(f->r[4].body, "hello\n");
    assert_int_equal(f->observed, 5);
    assert_string_equal(f->routes_seen, "hello:200 echo:200 loki_api_v1_label_name_values:200 "
                                        "echo:200 root:200 ");
    assert_string_equal(f->last_method, "GET");
    teardown(f);
    free(f);
}

static void c_pipelining(struct fixture *f)
{
    struct cconn *c = malloc(sizeof(*c));
    cconn_open(c, f->port);
    /* One write, three requests; the middle one is answered late. */
    csends(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
              "GET /defer HTTP/1.1\r\nHost: t\r\n\r\n"
              "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nthird"
              "GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    for (int i = 0; i < 4; i++)
        cread_resp(c, &f->r[i], 0);
    f->ints[0] = cwait_eof(c);
    cconn_close(c);
    free(c);
}

static void test_pipelining(void **state)
{
    (void)state;
    struct fixture *f = malloc(sizeof(*f));
    setup_server(f, 0);
    run_client(f, c_pipelining);
    assert_string_equal(f->r[0].body, "hello\n");
    assert_string_equal(f->r[1].body, "deferred");
    assert_string_equal(f->r[2].body, "third");
    assert_int_equal(f->r[3].status, 404);
    assert_string_equal(hdr(&f->r[3], "Connection"), "close");
    assert_int_equal(f->ints[0], 1); /* closed after the last one */
    assert_string_equal(f->routes_seen, "hello:200 defer:200 echo:200 notfound:404 ");
    teardown(f);
    free(f);
}

static void c_chunked_upload(struct fixture *f)
{
    struct cconn *c = malloc(sizeof(*c));
    cconn_open(c, f->port);
    csends(c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
              "Content-Type: text/plain\r\n\r\n");
    csends(c, "5\r\nhello\r\n");
    csends(c, "1;ext=x\r\n \r\n");
    csends(c, "6\r\nchunks\r\n0\r\nX-Trailer: 1\r\n\r\n");
    cread_resp(c, &f->r[0], 0);
    /* A big chunked upload through the zero-copy reply path. */
    char *piece = malloc(10000);
    memset(piece, 'z', 10000);
    csends(c, "POST /echo_buf HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 20; i++) {
        csends(c, "2710\r\n");
        csend(c, piece, 10000);
        csends(c, "\r\n");
    }
    csends(c, "0\r\n\r\n");
    cread_resp(c, &f->r[1], 0);
    free(piece);
    cconn_close(c);
    free(c);
}

static void test_chunked_upload(void **state)
{
    (void)state;
    struct fixture *f = malloc(sizeof(*f));
    setup_server(f, 0);
    run_client(f, c_chunked_upload);
    assert_int_equal(f->r[0].status, 200);
    assert_string_equal(f->r[0].body, "hello chunks");
    assert_int_equal(f->r[1].status, 201);
    assert_int_equal(f->r[1].body_len, 200000);
    assert_int_equal(f->r[1].body[199999], 'z');
    assert_string_equal(hdr(&f->r[1], "Content-Type"), "text/plain; charset=utf-8"); /* sniffed */
    teardown(f);
    free(f);
}

static void c_expect_continue(struct fixture *f)
{
    struct cconn *c = malloc(sizeof(*c));
    cconn_open(c, f->port);
    csends(c,
           "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    cread_resp(c, &f->r[0], 0); /* the interim 100 */
    csends(c, "body");
    cread_resp(c, &f->r[1], 0);
    /* Over the limit: 413 at once, no 100, and the connection ends. */
    csends(c, "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
              "Content-Length: 300000\r\n\r\n");
    cread_resp(c, &f->r[2], 0);
    f->ints[0] = cwait_eof(c);
    cconn_close(c);
    free(c);
}

static void test_expect_continue(void **state)
{
    (void)state;
    struct fixture *f = malloc(sizeof(*f));
    setup_server(f, 0);
    run_client(f, c_expect_continue);
    assert_int_equal(f->r[0].status, 100);
    assert_string_equal(f->r[0].status_line, "HTTP/1.1 100 Continue");
    assert_int_equal(f->r[1].status, 200);
    assert_string_equal(f->r[1].body, "body");
    assert_int_equal(f->r[2].status, 413);
    assert_string_equal(hdr(&f->r[2], "Connection"), "close");
    assert_non_null(strstr(f->r[2].body, "413 Request Entity Too Large"));
    assert_int_equal(f->ints[0], 1);
    teardown(f);
    free(f);
}

static void c_errors(struct fixture *f)
{
    struct cconn *c = malloc(sizeof(*c));
    cconn_open(c, f->port);
    csends(c, "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n");
    cread_resp(c, &f->r[0], 0);
    csends(c, "DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    cread_resp(c, &f->r[1], 0);
    csends(c, "GET //hello/./x/..?a=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    cread_resp(c, &f->r[2], 0);
    csends(c, "GET /hello/ HTTP/1.1\r\nHost: t\r\n\r\n"); /* trailing slash: another path */
    cread_resp(c, &f->r[3], 0);
    csends(c, "GARBAGE\r\n\r\n");
    cread_resp(c, &f->r[4], 0);
    f->ints[0] = cwait_eof(c);
    cconn_close(c);

    cconn_open(c, f->port);
    char big[6000];
    memset(big, 'a', sizeof(big));
    csends(c, "GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: ");
    csend(c, big, sizeof(big));
    csends(c, "\r\n\r\n");
    cread_resp(c, &f->r[5], 0);
    f->ints[1] = cwait_eof(c);
    cconn_close(c);

    /* A body over the limit sent without waiting: 413, then the close. */
    cconn_open(c, f->port);
    csends(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 262145\r\n\r\n");
    char *body = calloc(1, 262145);
    csend(c, body, 262145);
    free(body);
    cread_resp(c, &f->r[6], 0);
    f->ints[2] = cwait_eof(c);
    cconn_close(c);
    free(c);
}

static void test_errors(void **state)
{
    (void)state;
    struct fixture *f = malloc(sizeof(*f));
    setup_server(f, 0);
    run_client(f, c_errors);
    /* gorilla/mux's 404 */
    assert_int_equal(f->r[0].status, 404);
    assert_string_equal(f->r[0].body, "404 page not found\n");
    assert_string_equal(hdr(&f->r[0], "Content-Type"), "text/plain; charset=utf-8");
    assert_string_equal(hdr(&f->r[0], "X-Content-Type-Options"), "nosniff");
    /* 405 with an empty body */
    assert_int_equal(f->r[1].status, 405);
    assert_string_equal(f->r[1].status_line, "HTTP/1.1 405 Method Not Allowed");
    assert_string_equal(hdr(&f->r[1], "Content-Length"), "0");
    assert_int_equal(f->r[1].body_len, 0);
    /* cleanPath redirect, query kept */
    assert_int_equal(f->r[2].status, 301);
    assert_string_equal(hdr(&f->r[2], "Location"), "/hello?a=1");
    assert_int_equal(f->r[3].status, 404);
    /* malformed: 400 with a reason, then the close */
    assert_int_equal(f->r[4].status, 400);
    assert_string_equal(hdr(&f->r[4], "Connection"), "close");
    assert_string_equal(f->r[4].body, "400 Bad Request: malformed HTTP request");
    assert_int_equal(f->ints[0], 1);
    assert_int_equal(f->r[5].status, 431);
    assert_int_equal(f->ints[1], 1);
    assert_int_equal(f->r[6].status, 413);
    assert_int_equal(f->ints[2], 1);
    /* Parse errors never reach the router, so they are not observed. */
    assert_string_equal(f->routes_seen, "notfound:404 other:405 other:301 notfound:404 ");
    teardown(f);
    free(f);
}

static void c_head_and_http10(struct fixture *f)
{
    struct cconn *c = malloc(sizeof(*c));
    cconn_open(c, f->port);
    csends(c, "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    cread_resp(c, &f->r[0], 1);
    csends(c, "HEAD /echo HTTP/1.1\r\nHost: t\r\n\r\n"); /* POST-only route */
    cread_resp(c, &f->r[1], 1);
    csends(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    cread_resp(c, &f->r[2], 0); /* parses only if HEAD sent no body */
    cconn_close(c);

    cconn_open(c, f->port);
    csends(c, "GET /hello HTTP/1.0\r\n\r\n");
    cread_resp(c, &f->r[3], 0);
    f->ints[0] = cwait_eof(c);
    cconn_close(c);

    cconn_open(c, f->port);
    csends(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    cread_resp(c, &f->r[4], 0);
    csends(c, "GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    cread_resp(c, &f->r[5], 0); /* no chunking for 1.0: the body ends with the close */
    cconn_close(c);
    free(c);
}

static void test_head_and_http10(void **state)
{
    (void)state;
    struct fixture *f = malloc(sizeof(*f));
    setup_server(f, 0);
    run_client(f, c_head_and_http10);
    assert_int_equal(f->r[0].status, 200);
    assert_string_equal(hdr(&f->r[0], "Content-Length"), "6");
    assert_int_equal(f->r[1].status, 405);
    assert_string_equal(f->r[2].body, "hello\n");
    assert_string_equal(f->r[3].status_line, "HTTP/1.0 200 OK");
    assert_null(hdr(&f->r[3], "Connection"));
    assert_int_equal(f->ints[0], 1);
    assert_string_equal(hdr(&f->r[4], "Connection"), "keep-alive");
    assert_string_equal(f->r[5].status_line, "HTTP/1.0 200 OK");
    assert_null(hdr(&f->r[5], "Transfer-Encoding"));
    assert_string_equal(f->r[5].body, "{\"part\":0}\n{\"part\":1}\n{\"part\":2}\n");
    teardown(f);
    free(f);
}

static void c_deferred_and_work(struct fixture *f)
{
    struct cconn *c = malloc(sizeof(*c));
    cconn_open(c, f->port);
    csends(c, "GET /defer HTTP/1.1\r\nHost: t\r\n\r\n");
    cread_resp(c, &f->r[0], 0);
    csends(c, "GET /work HTTP/1.1\r\nHost: t\r\n\r\n");
    cread_resp(c, &f->r[1], 0);
    csends(c, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
    cread_resp(c, &f->r[2], 0);
    csends(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"); /* the stream ended cleanly */
    cread_resp(c, &f->r[3], 0);
    cconn_close(c);
    free(c);
}

static void test_deferred_and_work(void **state)
{
    (void)state;
    struct fixture *f = malloc(sizeof(*f));
    setup_server(f, 0);
    run_client(f, c_deferred_and_work);
    assert_string_equal(f->r[0].body, "deferred");
    assert_int_equal(f->r[1].status, 202);
    assert_string_equal(f->r[1].body, "worked");
    assert_true(f->work_thread_differs);
    assert_int_equal(f->r[2].chunked, 1);
    assert_string_equal(hdr(&f->r[2], "X-Stream"), "yes");
    assert_string_equal(hdr(&f->r[2], "Content-Type"), "application/json");
    assert_null(hdr(&f->r[2], "Content-Length"));
    assert_string_equal(f->r[2].body, "{\"part\":0}\n{\"part\":1}\n{\"part\":2}\n");
    assert_string_equal(f->r[3].body, "hello\n");
    assert_string_equal(f->routes_seen, "defer:200 work:202 stream:200 hello:200 ");
    teardown(f);
    free(f);
}

static void c_disconnect(struct fixture *f)
{
    struct cconn *c = malloc(sizeof(*c));
    cconn_open(c, f->port);
    csends(c, "GET /defer_gone HTTP/1.1\r\nHost: t\r\n\r\n");
    /* Wait (with a deadline) until the handler holds the request. */
    for (int i = 0; i < 5000 && !atomic_load(&f->deferred_seen); i++)
        usleep(1000);
    f->ints[0] = atomic_load(&f->deferred_seen);
    cconn_close(c);
    free(c);
}

static void test_disconnect_before_deferred_reply(void **state)
{
    (void)state;
    struct fixture *f = malloc(sizeof(*f));
    setup_server(f, 0);
    run_client(f, c_disconnect);
    assert_int_equal(f->ints[0], 1);
    assert_int_equal(f->gone_replied, 1); /* the server saw the client leave */
    assert_int_equal(f->observed, 1);     /* the dropped reply still counts once */
    assert_string_equal(f->last_route, "gone");
    teardown(f);
    free(f);
}

static void c_graceful_close(struct fixture *f)
{
    struct cconn *idle = malloc(sizeof(*idle)), *c = malloc(sizeof(*c));
    cconn_open(idle, f->port);
    csends(idle, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    cread_resp(idle, &f->r[0], 0);
    cconn_open(c, f->port);
    csends(c, "GET /inflight HTTP/1.1\r\nHost: t\r\n\r\n");
    cread_resp(c, &f->r[1], 0);
    f->ints[0] = cwait_eof(c);
    f->ints[1] = cwait_eof(idle); /* the idle keep-alive connection was closed */
    struct cconn *late = malloc(sizeof(*late));
    f->ints[2] = cconn_open(late, f->port); /* no longer accepting */
    cconn_close(late);
    cconn_close(c);
    cconn_close(idle);
    free(late);
    free(c);
    free(idle);
}

static void test_graceful_close(void **state)
{
    (void)state;
    struct fixture *f = malloc(sizeof(*f));
    setup_server(f, 0);
    run_client(f, c_graceful_close);
    assert_int_equal(f->r[0].status, 200);
    assert_int_equal(f->r[1].status, 200);
    assert_string_equal(f->r[1].body, "deferred");
    assert_string_equal(hdr(&f->r[1], "Connection"), "close");
    assert_int_equal(f->ints[0], 1);
    assert_int_equal(f->ints[1], 1);
    assert_int_equal(f->ints[2], -ECONNREFUSED);
    teardown(f);
    free(f);
}

static void c_close_during_stream(struct fixture *f)
{
    struct cconn *c = malloc(sizeof(*c));
    cconn_open(c, f->port);
    csends(c, "GET /stream_close HTTP/1.1\r\nHost: t\r\n\r\n");
    cread_resp(c, &f->r[0], 0);
    f->ints[0] = cwait_eof(c);
    cconn_close(c);
    free(c);
}

static void test_close_during_stream(void **state)
{
    (void)state;
    struct fixture *f = malloc(sizeof(*f));
    setup_server(f, 0);
    run_client(f, c_close_during_stream);
    assert_int_equal(f->r[0].status, 200);
    assert_int_equal(f->r[0].chunked, 1);
    assert_null(hdr(&f->r[0], "Connection")); /* sent before the close began */
    assert_string_equal(f->r[0].body, "{\"part\":0}\n{\"part\":1}\n{\"part\":2}\n");
    assert_int_equal(f->ints[0], 1);
    assert_string_equal(f->last_route, "stream_close");
    teardown(f);
    free(f);
}

static void c_idle_timeout(struct fixture *f)
{
    struct cconn *c = malloc(sizeof(*c));
    cconn_open(c, f->port);
    csends(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    cread_resp(c, &f->r[0], 0);
    f->ints[0] = cwait_eof(c); /* the server's idle timeout ends it */
    cconn_close(c);
    cconn_open(c, f->port);
    csends(c, "GET /close HTTP/1.1\r\nHost: t\r\n\r\n");
    cread_resp(c, &f->r[1], 0);
    f->ints[1] = cwait_eof(c); /* the handler asked for the close */
    cconn_close(c);
    free(c);
}

static void test_idle_timeout_and_handler_close(void **state)
{
    (void)state;
    struct fixture *f = malloc(sizeof(*f));
    setup_server(f, 50);
    run_client(f, c_idle_timeout);
    assert_int_equal(f->r[0].status, 200);
    assert_int_equal(f->ints[0], 1);
    assert_int_equal(f->r[1].status, 204);
    assert_null(hdr(&f->r[1], "Content-Length"));
    assert_string_equal(hdr(&f->r[1], "Connection"), "close");
    assert_int_equal(f->ints[1], 1);
    teardown(f);
    free(f);
}

static void c_http_client(struct fixture *f)
{
    struct noa_http_client *cl = NULL;
    f->ints[0] = noa_http_client_new(&cl);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hello", f->port);
    struct noa_http_client_request rq = {.url = url, .timeout_ms = 10000};
    f->crc[0] = noa_http_client_do(cl, &rq, &f->cresp[0]);
    f->crc[1] = noa_http_client_do(cl, &rq, &f->cresp[1]);

    /* A 100 KiB body with Expect: 100-continue, as curl does by default. */
    size_t big = 100 * 1024;
    char *body = malloc(big);
    for (size_t i = 0; i < big; i++)
        body[i] = (char)('a' + i % 26);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", f->port);
    const char *hdrs[] = {"Content-Type: application/x-protobuf", "X-Scope-OrgID: t1"};
    struct noa_http_client_request post = {.url = url,
                                           .headers = hdrs,
                                           .n_headers = 2,
                                           .body = body,
                                           .body_len = big,
                                           .timeout_ms = 10000,
                                           .expect_continue = 1};
    f->crc[2] = noa_http_client_do(cl, &post, &f->cresp[2]);
    f->ints[1] = f->cresp[2].body.len == big && memcmp(f->cresp[2].body.data, body, big) == 0;
    free(body);

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/retry", f->port);
    struct noa_http_client_request r429 = {.url = url, .method = "DELETE"};
    f->crc[3] = noa_http_client_do(cl, &r429, &f->cresp[3]);

    /* The response limit. */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hello", f->port);
    struct noa_http_client_request small = {.url = url, .max_response_bytes = 3};
    struct noa_http_client_response tmp = {0};
    f->ints[2] = noa_http_client_do(cl, &small, &tmp);
    noa_http_client_response_fini(&tmp);

    /* A timeout against a slow handler. */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/defer", f->port);
    struct noa_http_client_request slow = {.url = url, .timeout_ms = 50};
    f->ints[3] = noa_http_client_do(cl, &slow, &tmp);
    noa_http_client_response_fini(&tmp);

    /* Redirects are followed only on request. */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d//hello", f->port);
    struct noa_http_client_request redir = {.url = url, .follow_redirects = 1};
    f->crc[4] = noa_http_client_do(cl, &redir, &f->cresp[4]);
    noa_http_client_free(cl);

    /* Nobody listening. */
    struct noa_http_client *c2 = NULL;
    noa_http_client_new(&c2);
    struct noa_http_client_request refused = {.url = "http://127.0.0.1:1/x"};
    f->ints[4] = noa_http_client_do(c2, &refused, &tmp);
    noa_http_client_response_fini(&tmp);
    struct noa_http_client_request bad = {.url = "nope://x"};
    f->ints[5] = noa_http_client_do(c2, &bad, &tmp);
    noa_http_client_response_fini(&tmp);
    noa_http_client_free(c2);
    noa_http_client_free(NULL);
}

static void test_http_client(void **state)
{
    (void)state;
    struct fixture *f = malloc(sizeof(*f));
    setup_server(f, 0);
    f->defer_ms = 300;
    run_client(f, c_http_client);
    assert_int_equal(f->ints[0], 0);
    assert_int_equal(f->crc[0], 0);
    assert_int_equal(f->crc[1], 0);
    assert_int_equal(f->cresp[0].status, 200);
    assert_string_equal(f->cresp[0].content_type, "text/plain; charset=utf-8");
    assert_int_equal(f->cresp[0].body.len, 6);
    assert_memory_equal(f->cresp[0].body.data, "hello\n", 6);
    assert_int_equal(f->cresp[0].retry_after_s, -1);
    /* Keep-alive: both requests came over the same connection. */
    struct noa_str id0 = noa_http_client_response_header(&f->cresp[0], "x-conn-id");
    struct noa_str id1 = noa_http_client_response_header(&f->cresp[1], "X-Conn-Id");
    assert_non_null(id0.p);
    assert_true(noa_str_eq(id0, id1));
    assert_null(noa_http_client_response_header(&f->cresp[0], "X-Nope").p);

    assert_int_equal(f->crc[2], 0);
    assert_int_equal(f->cresp[2].status, 200);
    assert_int_equal(f->ints[1], 1);
    assert_string_equal(f->cresp[2].content_type, "application/x-protobuf");

    assert_int_equal(f->crc[3], 0);
    assert_int_equal(f->cresp[3].status, 429);
    assert_int_equal(f->cresp[3].retry_after_s, 7);
    assert_int_equal(f->cresp[3].body.len, 10);
    assert_memory_equal(f->cresp[3].body.data, "slow down\n", 10);
    /* A CRLF in a header value cannot inject a header. */
    assert_null(noa_http_client_response_header(&f->cresp[3], "Injected").p);

    assert_int_equal(f->ints[2], NOA_ETOOBIG);
    assert_int_equal(f->ints[3], NOA_ETIMEOUT);
    assert_int_equal(f->crc[4], 0);
    assert_int_equal(f->cresp[4].status, 200);
    assert_int_equal(f->ints[4], -ECONNREFUSED);
    assert_int_equal(f->ints[5], NOA_EINVAL);
    teardown(f);
    free(f);
}

static void noop_handler(struct noa_http_request *req, void *ctx)
{
    (void)ctx;
    noa_http_reply(req, 200, NULL, NULL, 0);
}

static void on_closed_flag(void *ctx)
{
    *(int *)ctx = 1;
}

static void test_route_patterns_and_listen_errors(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct noa_http_server *s = NULL, *s2 = NULL;
    assert_int_equal(
        noa_http_server_new(&loop, &(struct noa_http_server_options){.host = "127.0.0.1"}, &s), 0);
    const char *bad[] = {"nope",          "",        "/a/{x", "/a/x}",
                         "/a/{x:[a-z]+}", "/a/b{x}", "/a/{}", "/a/{x}{y}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(noa_http_server_route(s, NOA_HTTP_GET, bad[i], NULL, noop_handler, NULL),
                         NOA_EINVAL);
    assert_int_equal(noa_http_server_route(s, 0, "/a", NULL, noop_handler, NULL), NOA_EINVAL);
    assert_int_equal(noa_http_server_route(s, NOA_HTTP_GET, "/a", NULL, NULL, NULL), NOA_EINVAL);
    assert_int_equal(noa_http_server_route(s, NOA_HTTP_GET, "/a/{x}/{y}", NULL, noop_handler, NULL),
                     0);
    assert_int_equal(noa_http_server_listen(s), 0);
    /* The same port twice fails cleanly. */
    struct noa_http_server_options o2 = {.host = "127.0.0.1", .port = noa_http_server_port(s)};
    assert_int_equal(noa_http_server_new(&loop, &o2, &s2), 0);
    assert_int_equal(noa_http_server_listen(s2), UV_EADDRINUSE);
    int c1 = 0, c2 = 0;
    noa_http_server_close(s, on_closed_flag, &c1);
    noa_http_server_close(s2, on_closed_flag, &c2);
    assert_int_equal(c1, 0); /* never from inside the call */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(c1, 1);
    assert_int_equal(c2, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_pipelining),
        cmocka_unit_test(test_chunked_upload),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_head_and_http10),
        cmocka_unit_test(test_deferred_and_work),
        cmocka_unit_test(test_disconnect_before_deferred_reply),
        cmocka_unit_test(test_graceful_close),
        cmocka_unit_test(test_close_during_stream),
        cmocka_unit_test(test_idle_timeout_and_handler_close),
        cmocka_unit_test(test_http_client),
        cmocka_unit_test(test_route_patterns_and_listen_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
