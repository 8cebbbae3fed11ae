/*
 * HTTP/1.1 server on libuv (behaviour in http_server.h).
 *
 * Owns the listening socket, one struct noa__http_conn per connection (TCP
 * handle, timer, parser, input buffer) and the request in flight on each.
 * A connection handles one request at a time: while a handler works, bytes
 * of pipelined requests wait in the connection's input buffer, so answers
 * keep their order. A connection is freed only when both its handles are
 * closed and no request refers to it; the server frees itself when its
 * listener is closed and no connection is left. Everything on the loop
 * thread.
 */
#include "common/http_server.h"
#include "common/err.h"
#include "common/form.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/tls_server.h"

#include <assert.h>
#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_BUF_SIZE 65536
/* How long a closing connection drains input after our FIN, so the kernel
 * does not answer unread bytes with a RST that could destroy our response
 * (Go waits 500 ms for the same reason). */
#define LINGER_MS 500
/* Pipelined bytes buffered while a request is in flight before reading pauses. */
#define MAX_PENDING_INPUT ((size_t)1 << 20)
/* Response bytes waiting in libuv's write queue above which the next
 * pipelined request is not parsed yet. */
#define WRITE_HIGH_WATER ((size_t)4 << 20)
/* Bodies up to this size go into the same write buffer as the head. */
#define SMALL_BODY 16384

#define CONTAINER_OF(ptr, type, field) ((type *)((char *)(ptr)-offsetof(type, field)))

enum { REQ_NEW = 0, REQ_STREAMING = 1, REQ_DONE = 2 };
enum { TIMER_NONE = 0, TIMER_IDLE, TIMER_READ, TIMER_LINGER };

struct seg {
    char *text; /* literal text, or the parameter's name */
    size_t len;
    int param;
};

struct route {
    unsigned methods;
    char *name;
    struct seg *segs;
    size_t n_segs, n_params;
    void (*cb)(struct noa_http_request *req, void *ctx);
    void *ctx;
};

struct noa_http_server {
    uv_loop_t *loop;
    uv_tcp_t tcp; /* the listener; always initialised */
    struct noa_http_server_options opt;
    char *host;
    struct route *routes;
    size_t n_routes;
    struct noa__http_conn *conns; /* every live connection */
    size_t n_conns;
    uint64_t next_id;
    int port;
    int closing, listener_closed;
    void (*close_cb)(void *ctx);
    void *close_ctx;
    uv_thread_t thread;
    time_t date_sec;
    char date[40];
    struct noa_tls_server *tls;  /* NULL: plain HTTP; owned */
    struct noa_buf plainbuf;     /* TLS: decrypted input, consumed like readbuf */
    char readbuf[READ_BUF_SIZE]; /* shared: each read is consumed before the next */
};

struct noa__http_conn {
    struct noa_http_server *srv;
    struct noa__http_conn *prev, *next;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown_req;
    int handles_open;
    struct noa_http_parser parser;
    struct noa_buf inbuf; /* bytes not yet fed to the parser, from in_off */
    size_t in_off;
    struct noa_http_request *req;    /* the request in flight */
    struct noa_tls_server_conn *tls; /* NULL on plain connections; freed with c */
    uint64_t id;
    uint64_t req_start_ns;
    int timer_mode;
    unsigned reading : 1, closing : 1, eof : 1, in_process : 1, lingering : 1;
};

struct wpart {
    char *p;
    size_t len;
    int owned; /* freed with noa_free once written */
};

struct wreq {
    uv_write_t req;
    struct noa__http_conn *c;
    unsigned n;
    uv_buf_t bufs[3];
    char *owned[3];
};

static void conn_close(struct noa__http_conn *c);
static void conn_shutdown(struct noa__http_conn *c);
static void tls_flush(struct noa__http_conn *c);
static void conn_resume(struct noa__http_conn *c);
static void dispatch(struct noa__http_conn *c);

/* ---- small helpers ---------------------------------------------------- */

static const char *http_date(struct noa_http_server *s)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    if (now != s->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        snprintf(s->date, sizeof(s->date), "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
                 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                 tm.tm_sec);
        s->date_sec = now;
    }
    return s->date;
}

#ifndef NDEBUG
/* Only asserts use it: every reply must come from the loop thread. */
static int on_loop_thread(const struct noa_http_server *s)
{
    uv_thread_t self = uv_thread_self();
    return uv_thread_equal(&self, &s->thread);
}
#endif

/* Statuses whose responses carry no body (RFC 9110 6.4.1). */
static int no_body_status(int status)
{
    return (status >= 100 && status < 200) || status == 204 || status == 304;
}

/* Go's content sniffing, reduced to its text/binary decision. */
static const char *sniff(const char *b, size_t n)
{
    size_t m = n < 512 ? n : 512;
    for (size_t i = 0; i < m; i++) {
        unsigned char c = (unsigned char)b[i];
        if (c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1A) || (c >= 0x1C && c <= 0x1F))
            return "application/octet-stream";
    }
    return "text/plain; charset=utf-8";
}

/* ---- connection timers and lifetime ---------------------------------- */

static void on_timer(uv_timer_t *t)
{
    struct noa__http_conn *c = t->data;
    /* Idle, read and linger timeouts all end in a silent close, as Go's
     * deadlines do. */
    conn_close(c);
}

static void conn_set_timer(struct noa__http_conn *c, int mode)
{
    if (c->closing || c->timer_mode == mode)
        return;
    uv_timer_stop(&c->timer);
    c->timer_mode = mode;
    const struct noa_http_server_options *o = &c->srv->opt;
    uint64_t ms = mode == TIMER_IDLE   ? o->idle_timeout_ms
                  : mode == TIMER_READ ? o->read_timeout_ms
                                       : LINGER_MS;
    if (mode != TIMER_NONE)
        uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* The timer a connection needs when no request is in flight. */
static void conn_arm_timer(struct noa__http_conn *c)
{
    if (c->lingering)
        return;
    if (c->req)
        conn_set_timer(c, TIMER_NONE);
    else if (noa_http_parser_started(&c->parser))
        conn_set_timer(c, TIMER_READ);
    else
        conn_set_timer(c, TIMER_IDLE);
}

static void server_maybe_done(struct noa_http_server *s)
{
    if (!s->closing || !s->listener_closed || s->n_conns)
        return;
    void (*cb)(void *) = s->close_cb;
    void *ctx = s->close_ctx;
    for (size_t i = 0; i < s->n_routes; i++) {
        for (size_t k = 0; k < s->routes[i].n_segs; k++)
            noa_free(s->routes[i].segs[k].text);
        noa_free(s->routes[i].segs);
        noa_free(s->routes[i].name);
    }
    noa_free(s->routes);
    noa_free(s->host);
    noa_tls_server_free(s->tls);
    noa_buf_fini(&s->plainbuf);
    noa_free(s);
    if (cb)
        cb(ctx);
}

static void conn_free(struct noa__http_conn *c)
{
    struct noa_http_server *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n_conns--;
    noa_http_parser_fini(&c->parser);
    noa_buf_fini(&c->inbuf);
    noa_tls_server_conn_free(c->tls);
    noa_free(c);
    server_maybe_done(s);
}

static void on_conn_close(uv_handle_t *h)
{
    struct noa__http_conn *c = h->data;
    if (--c->handles_open == 0 && !c->req)
        conn_free(c);
}

static void conn_close(struct noa__http_conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->tcp, on_conn_close);
    uv_close((uv_handle_t *)&c->timer, on_conn_close);
    struct noa_http_request *r = c->req;
    if (r && r->upgraded && !r->gone_notified) {
        /* The owner ends the request; the connection is freed after that
         * and after both handles closed, whichever comes last. */
        r->gone_notified = 1;
        r->upgrade.gone_cb(r, r->upgrade.ctx);
    }
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct noa__http_conn *c = CONTAINER_OF(req, struct noa__http_conn, shutdown_req);
    if (c->closing)
        return;
    if (status < 0 || c->eof) {
        conn_close(c);
        return;
    }
    /* Our side is flushed and closed; drain the peer's until its EOF. */
    c->timer_mode = TIMER_NONE;
    conn_set_timer(c, TIMER_LINGER);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    struct noa__http_conn *c = h->data;
    *buf = uv_buf_init(c->srv->readbuf, READ_BUF_SIZE);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static void conn_read_start(struct noa__http_conn *c)
{
    if (c->reading || c->closing || c->eof)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = 1;
    else
        conn_close(c);
}

static void conn_read_stop(struct noa__http_conn *c)
{
    if (c->reading)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
}

/* Ends the connection after what is queued: FIN once the writes are out,
 * then a short drain of the peer's bytes. */
static void conn_shutdown(struct noa__http_conn *c)
{
    if (c->closing || c->lingering)
        return;
    c->lingering = 1;
    /* Bound the flush too: a peer that never reads must not pin us. */
    c->timer_mode = TIMER_NONE;
    conn_set_timer(c, TIMER_READ);
    if (c->tls) {
        /* close_notify goes out before our FIN, as Go's tls.Conn.Close. */
        noa_tls_server_conn_shutdown(c->tls);
        tls_flush(c);
        if (c->closing)
            return;
    }
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        conn_close(c);
        return;
    }
    conn_read_start(c);
}

/* ---- writing ---------------------------------------------------------- */

static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = CONTAINER_OF(req, struct wreq, req);
    struct noa__http_conn *c = w->c;
    for (unsigned i = 0; i < w->n; i++)
        noa_free(w->owned[i]);
    noa_free(w);
    if (status < 0) {
        conn_close(c);
        return;
    }
    conn_resume(c);
}

/* Queues parts on the socket in order; takes ownership of the owned ones
 * either way. */
static void conn_write_sock(struct noa__http_conn *c, const struct wpart *parts, unsigned n)
{
    if (c->closing) {
        for (unsigned i = 0; i < n; i++)
            if (parts[i].owned)
                noa_free(parts[i].p);
        return;
    }
    struct wreq *w = noa_xcalloc(1, sizeof(*w));
    w->c = c;
    for (unsigned i = 0; i < n; i++) {
        if (!parts[i].len) {
            if (parts[i].owned)
                noa_free(parts[i].p);
            continue;
        }
        w->owned[w->n] = parts[i].owned ? parts[i].p : NULL;
        w->bufs[w->n++] = uv_buf_init(parts[i].p, (unsigned)parts[i].len);
    }
    if (!w->n) {
        noa_free(w);
        return;
    }
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, w->bufs, w->n, on_write) != 0) {
        for (unsigned i = 0; i < w->n; i++)
            noa_free(w->owned[i]);
        noa_free(w);
        conn_close(c);
    }
}

/* TLS: sends the records the TLS layer has produced (handshake messages,
 * encrypted data, alerts). */
static void tls_flush(struct noa__http_conn *c)
{
    size_t len;
    char *p = noa_tls_server_conn_take_output(c->tls, &len);
    if (p) {
        struct wpart part = {p, len, 1};
        conn_write_sock(c, &part, 1);
    }
}

/* Every response byte goes through here: straight to the socket on plain
 * connections (no copy), encrypted first on TLS ones. Takes ownership of
 * the owned parts either way. */
static void conn_write(struct noa__http_conn *c, const struct wpart *parts, unsigned n)
{
    if (!c->tls) {
        conn_write_sock(c, parts, n);
        return;
    }
    int rc = 0;
    for (unsigned i = 0; i < n; i++) {
        if (!c->closing && rc == 0 && parts[i].len)
            rc = noa_tls_server_conn_write(c->tls, parts[i].p, parts[i].len);
        if (parts[i].owned)
            noa_free(parts[i].p);
    }
    if (c->closing)
        return;
    /* After our close_notify (lingering) nothing more may be sent: drop,
     * as the socket's write after shutdown would. */
    if (rc < 0 && !c->lingering) {
        conn_close(c);
        return;
    }
    tls_flush(c);
}

static void conn_write_buf(struct noa__http_conn *c, struct noa_buf *b)
{
    size_t len;
    char *p = noa_buf_steal(b, &len);
    struct wpart part = {p, len, 1};
    conn_write(c, &part, 1);
}

/* The response to a request the parser rejected; then the connection ends. */
static void send_parse_error(struct noa__http_conn *c)
{
    const struct noa_http_parser *p = &c->parser;
    const char *text = noa_http_parser_status_text(p->status);
    struct noa_buf body = {0}, out = {0};
    if (p->status != 417) /* Go's 417 has an empty body */
        noa_buf_printf(&body, "%d %s: %s", p->status, text, p->reason);
    noa_buf_printf(&out,
                   "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   "Content-Length: %zu\r\nDate: %s\r\nConnection: close\r\n\r\n",
                   p->status, text, body.len, http_date(c->srv));
    noa_buf_append(&out, body.data, body.len);
    noa_buf_fini(&body);
    noa_log(NOA_LOG_DEBUG, "http", "msg=\"bad request\" status=%d reason=\"%s\"", p->status,
            p->reason);
    conn_write_buf(c, &out);
    conn_shutdown(c);
}

/* ---- input ------------------------------------------------------------ */

/* Feeds bytes to the parser until a request is in flight or they run out;
 * returns how many were consumed. */
static size_t feed_span(struct noa__http_conn *c, const char *d, size_t len)
{
    size_t off = 0;
    while (off < len && !c->req && !c->closing && !c->lingering) {
        if (!noa_http_parser_started(&c->parser))
            c->req_start_ns = uv_hrtime();
        size_t used = 0;
        int rc = noa_http_parser_feed(&c->parser, d + off, len - off, &used);
        off += used;
        if (rc < 0) {
            send_parse_error(c);
            break;
        }
        if (rc == NOA_HTTP_PARSER_HEAD && c->parser.head.expect_continue) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            struct wpart part = {(char *)cont, sizeof(cont) - 1, 0};
            conn_write(c, &part, 1);
        } else if (rc == NOA_HTTP_PARSER_DONE) {
            dispatch(c);
        }
    }
    return off;
}

/* After input was processed: timers, reading, and the end of the peer's data. */
static void conn_after_input(struct noa__http_conn *c)
{
    if (c->closing || c->lingering || c->req)
        return;
    if (c->srv->closing && !noa_http_parser_started(&c->parser)) {
        conn_shutdown(c);
        return;
    }
    if (c->eof) {
        /* Nothing more will come: a half-received request is dropped, as
         * Go does on an unexpected EOF; otherwise finish what is queued. */
        if (noa_http_parser_started(&c->parser))
            conn_close(c);
        else
            conn_shutdown(c);
        return;
    }
    conn_arm_timer(c);
    conn_read_start(c);
}

/* Hands bytes read past an upgraded request to its owner. */
static void upgraded_drain(struct noa__http_conn *c)
{
    struct noa_http_request *r = c->req;
    if (!r || !r->upgraded || c->closing || c->lingering || c->in_process ||
        c->in_off >= c->inbuf.len)
        return;
    struct noa_buf b = c->inbuf;
    size_t off = c->in_off;
    memset(&c->inbuf, 0, sizeof(c->inbuf));
    c->in_off = 0;
    r->upgrade.data_cb(r, b.data + off, b.len - off, r->upgrade.ctx);
    noa_buf_fini(&b);
}

/* Processes buffered input when no request is in flight. */
static void conn_resume(struct noa__http_conn *c)
{
    if (c->closing || c->req || c->in_process || c->lingering)
        return;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > WRITE_HIGH_WATER) {
        /* on_write calls again; the read timeout doubles as a write
         * timeout for a client that pipelines but never reads. */
        conn_set_timer(c, TIMER_READ);
        return;
    }
    c->in_process = 1;
    if (c->in_off < c->inbuf.len)
        c->in_off += feed_span(c, c->inbuf.data + c->in_off, c->inbuf.len - c->in_off);
    if (c->in_off == c->inbuf.len) {
        c->inbuf.len = c->in_off = 0;
    } else if (c->in_off > READ_BUF_SIZE) {
        memmove(c->inbuf.data, c->inbuf.data + c->in_off, c->inbuf.len - c->in_off);
        c->inbuf.len -= c->in_off;
        c->in_off = 0;
    }
    c->in_process = 0;
    upgraded_drain(c);
    conn_after_input(c);
}

/* The peer will send nothing more (TCP EOF, or TLS close_notify). */
static void conn_input_eof(struct noa__http_conn *c, int clean)
{
    conn_read_stop(c);
    if (!clean || c->lingering || (c->req && c->req->upgraded)) {
        conn_close(c);
        return;
    }
    c->eof = 1;
    conn_resume(c);
}

/* Plaintext from the peer: base is borrowed for the call. */
static void conn_input(struct noa__http_conn *c, const char *base, size_t n)
{
    if (c->req && c->req->upgraded) {
        upgraded_drain(c);
        if (c->req && c->req->upgraded && !c->closing && !c->lingering)
            c->req->upgrade.data_cb(c->req, base, n, c->req->upgrade.ctx);
        return;
    }
    if (c->req || c->in_off < c->inbuf.len) {
        noa_buf_append(&c->inbuf, base, n);
        if (c->inbuf.len - c->in_off > MAX_PENDING_INPUT)
            conn_read_stop(c);
        conn_resume(c);
        return;
    }
    /* Fast path: parse straight from the read buffer, keep only leftovers. */
    c->in_process = 1;
    size_t used = feed_span(c, base, n);
    c->in_process = 0;
    if (used < n && !c->closing && !c->lingering) {
        noa_buf_append(&c->inbuf, base + used, n - used);
        if (c->inbuf.len - c->in_off > MAX_PENDING_INPUT)
            conn_read_stop(c);
    }
    if (!c->req)
        conn_resume(c);
    else
        conn_arm_timer(c);
    upgraded_drain(c);
}

/* TLS: decrypts what was read, answers the handshake, hands plaintext on.
 * One read's worth of records decrypts to at most about as many bytes, so
 * the input bounds stay those of plain connections. */
static void tls_input(struct noa__http_conn *c, const char *base, size_t n)
{
    struct noa_http_server *s = c->srv;
    struct noa_buf *plain = &s->plainbuf;
    plain->len = 0;
    int rc = noa_tls_server_conn_input(c->tls, base, n, plain);
    if (rc == NOA_TLS_SERVER_PLAIN_HTTP) {
        static const char msg[] = NOA_TLS_SERVER_PLAIN_HTTP_REPLY;
        struct wpart part = {(char *)msg, sizeof(msg) - 1, 0};
        conn_write_sock(c, &part, 1);
        conn_shutdown(c);
        return;
    }
    /* Handshake messages, session tickets and alerts go out first. */
    tls_flush(c);
    if (rc < 0) {
        /* Go logs these too ("http: TLS handshake error from ..."). */
        noa_log(NOA_LOG_INFO, "http", "msg=\"%s\" conn=%llu err=\"%s\"",
                noa_tls_server_conn_established(c->tls) ? "TLS error" : "TLS handshake error",
                (unsigned long long)c->id, noa_tls_server_conn_error(c->tls));
        conn_shutdown(c); /* flushes the alert, then FIN */
        return;
    }
    if (plain->len && !c->closing)
        conn_input(c, plain->data, plain->len);
    /* A huge burst must not pin the shared buffer's memory. */
    if (plain->cap > 4 * READ_BUF_SIZE)
        noa_buf_fini(plain);
    if (rc == NOA_TLS_SERVER_EOF && !c->closing)
        conn_input_eof(c, 1);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct noa__http_conn *c = st->data;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        conn_input_eof(c, nread == UV_EOF);
        return;
    }
    if (c->lingering)
        return; /* draining: the bytes are dropped */
    if (c->tls)
        tls_input(c, buf->base, (size_t)nread);
    else
        conn_input(c, buf->base, (size_t)nread);
}

static void on_connection(uv_stream_t *l, int status)
{
    struct noa_http_server *s = l->data;
    if (status < 0) {
        noa_log(NOA_LOG_WARN, "http", "msg=\"accept failed\" err=\"%s\"", uv_strerror(status));
        return;
    }
    struct noa__http_conn *c = noa_xcalloc(1, sizeof(*c));
    c->srv = s;
    c->id = ++s->next_id;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles_open = 2;
    struct noa_http_parser_options po = {s->opt.max_header_bytes, s->opt.max_body_bytes};
    noa_http_parser_init(&c->parser, &po);
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    if (s->tls && noa_tls_server_conn_new(s->tls, &c->tls) != 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    /* The first request gets the read timeout from accept on, as in Go. */
    conn_set_timer(c, TIMER_READ);
    conn_read_start(c);
}

/* ---- replies ---------------------------------------------------------- */

static void request_free(struct noa_http_request *r)
{
    noa_http_head_fini(&r->head);
    noa_buf_fini(&r->body_buf);
    noa_buf_fini(&r->reply_headers);
    noa_arena_fini(&r->arena);
    noa_free(r);
}

/* Completes a request: metrics, then the connection goes on or ends. */
static void finish(struct noa_http_request *r)
{
    struct noa__http_conn *c = r->conn;
    struct noa_http_server *s = c->srv;
    r->state = REQ_DONE;
    if (s->opt.observe_cb && r->route_name)
        s->opt.observe_cb(r->route_name, r->method_name, r->status,
                          (double)(uv_hrtime() - r->start_ns) / 1e9, s->opt.observe_ctx);
    int close_after = r->close_after;
    request_free(r);
    c->req = NULL;
    if (c->handles_open == 0) {
        conn_free(c);
        return;
    }
    if (c->closing)
        return;
    /* A streamed reply may have started before the server began closing,
     * so its head could not say Connection: close; end it here anyway. */
    if (close_after || s->closing)
        conn_shutdown(c);
    else
        conn_resume(c);
}

static int req_gone(const struct noa_http_request *r)
{
    return r->conn->closing || r->conn->lingering;
}

static void put_lit(struct noa_buf *b, const char *s)
{
    noa_buf_append(b, s, strlen(s));
}

static void put_uint(struct noa_buf *b, uint64_t v)
{
    char d[24];
    int i = sizeof(d);
    do
        d[--i] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    noa_buf_append(b, d + i, sizeof(d) - (size_t)i);
}

/* Status line and headers; clen < 0 sends no Content-Length. Plain appends
 * rather than printf: this runs for every response. */
static void put_head(struct noa_http_request *r, struct noa_buf *b, int status, const char *ct,
                     int64_t clen)
{
    struct noa__http_conn *c = r->conn;
    if (!r->head.keep_alive || c->srv->closing)
        r->close_after = 1;
    const char *text = noa_http_parser_status_text(status);
    noa_buf_reserve(b, 160 + r->reply_headers.len);
    put_lit(b, r->http_minor ? "HTTP/1.1 " : "HTTP/1.0 ");
    put_uint(b, (uint64_t)status);
    noa_buf_putc(b, ' ');
    if (text) {
        put_lit(b, text);
    } else {
        put_lit(b, "status code ");
        put_uint(b, (uint64_t)status);
    }
    put_lit(b, "\r\n");
    noa_buf_append(b, r->reply_headers.data, r->reply_headers.len);
    if (ct) {
        put_lit(b, "Content-Type: ");
        put_lit(b, ct);
        put_lit(b, "\r\n");
    }
    if (r->chunked_out) {
        put_lit(b, "Transfer-Encoding: chunked\r\n");
    } else if (clen >= 0) {
        put_lit(b, "Content-Length: ");
        put_uint(b, (uint64_t)clen);
        put_lit(b, "\r\n");
    }
    put_lit(b, "Date: ");
    put_lit(b, http_date(c->srv));
    put_lit(b, "\r\n");
    if (r->close_after && r->http_minor)
        put_lit(b, "Connection: close\r\n");
    else if (!r->close_after && !r->http_minor)
        put_lit(b, "Connection: keep-alive\r\n");
    put_lit(b, "\r\n");
}

/* The one path of every complete reply: body is owned when body_owned. */
static void reply_common(struct noa_http_request *r, int status, const char *ct, char *body,
                         size_t len, int body_owned)
{
    assert(on_loop_thread(r->conn->srv));
    assert(r->state == REQ_NEW);
    if (r->state != REQ_NEW) {
        if (body_owned)
            noa_free(body);
        return;
    }
    r->status = status;
    if (!req_gone(r)) {
        int nobody = no_body_status(status);
        if (!ct && len && !nobody)
            ct = sniff(body, len);
        struct noa_buf head = {0};
        put_head(r, &head, status, ct, nobody ? -1 : (int64_t)len);
        int send = !nobody && r->method != NOA_HTTP_HEAD && len;
        if (send && (!body_owned || len <= SMALL_BODY)) {
            noa_buf_append(&head, body, len);
            send = 0;
        }
        size_t hlen;
        char *hp = noa_buf_steal(&head, &hlen);
        struct wpart parts[2] = {{hp, hlen, 1}, {body, send ? len : 0, body_owned}};
        conn_write(r->conn, parts, body_owned ? 2 : 1);
    } else if (body_owned) {
        noa_free(body);
    }
    finish(r);
}

void noa_http_reply(struct noa_http_request *req, int status, const char *content_type,
                    const void *body, size_t len)
{
    reply_common(req, status, content_type, (char *)body, len, 0);
}

void noa_http_reply_buf(struct noa_http_request *req, int status, const char *content_type,
                        struct noa_buf *body)
{
    size_t len;
    char *p = noa_buf_steal(body, &len);
    reply_common(req, status, content_type, p, len, 1);
}

void noa_http_reply_error(struct noa_http_request *req, int status, const char *msg)
{
    struct noa_buf b = {0};
    noa_buf_printf(&b, "%s\n", msg);
    noa_http_reply_header(req, "X-Content-Type-Options", "nosniff");
    noa_http_reply_buf(req, status, "text/plain; charset=utf-8", &b);
}

void noa_http_reply_header(struct noa_http_request *req, const char *name, const char *value)
{
    assert(req->state == REQ_NEW);
    if (!strcasecmp(name, "Content-Length") || !strcasecmp(name, "Transfer-Encoding") ||
        !strcasecmp(name, "Date"))
        return;
    if (!strcasecmp(name, "Connection")) {
        if (strcasestr(value, "close"))
            req->close_after = 1;
        return;
    }
    struct noa_buf *b = &req->reply_headers;
    size_t start = b->len;
    noa_buf_printf(b, "%s: %s", name, value);
    /* Header injection guard, as Go's headerNewlineToSpace. */
    for (size_t i = start; i < b->len; i++)
        if (b->data[i] == '\r' || b->data[i] == '\n')
            b->data[i] = ' ';
    noa_buf_append(b, "\r\n", 2);
}

void noa_http_reply_start(struct noa_http_request *req, int status, const char *content_type)
{
    assert(on_loop_thread(req->conn->srv));
    assert(req->state == REQ_NEW);
    req->state = REQ_STREAMING;
    req->status = status;
    if (req_gone(req))
        return;
    int nobody = no_body_status(status) || req->method == NOA_HTTP_HEAD;
    if (!nobody && req->http_minor)
        req->chunked_out = 1;
    else if (!nobody)
        req->close_after = 1; /* HTTP/1.0: the close ends the body */
    struct noa_buf head = {0};
    put_head(req, &head, status, content_type, -1);
    conn_write_buf(req->conn, &head);
}

/* Writes one chunk; data is owned when owned. */
static void chunk_common(struct noa_http_request *req, char *data, size_t len, int owned)
{
    assert(req->state == REQ_STREAMING);
    int nobody = !req->upgraded && (no_body_status(req->status) || req->method == NOA_HTTP_HEAD);
    if (req->state != REQ_STREAMING || req_gone(req) || nobody || !len) {
        if (owned)
            noa_free(data);
        return;
    }
    if (!req->chunked_out) {
        struct wpart part = {data, len, owned};
        if (!owned) {
            part.p = noa_xmalloc(len);
            memcpy(part.p, data, len);
            part.owned = 1;
        }
        conn_write(req->conn, &part, 1);
        return;
    }
    char *line = noa_xmalloc(24);
    int n = snprintf(line, 24, "%zx\r\n", len);
    static const char crlf[] = "\r\n";
    if (!owned) {
        /* One allocation for the whole chunk: size line, data, CRLF. */
        char *all = noa_xrealloc(line, (size_t)n + len + 2);
        memcpy(all + n, data, len);
        memcpy(all + n + len, crlf, 2);
        struct wpart part = {all, (size_t)n + len + 2, 1};
        conn_write(req->conn, &part, 1);
        return;
    }
    struct wpart parts[3] = {{line, (size_t)n, 1}, {data, len, 1}, {(char *)crlf, 2, 0}};
    conn_write(req->conn, parts, 3);
}

void noa_http_reply_chunk(struct noa_http_request *req, const void *data, size_t len)
{
    chunk_common(req, (char *)data, len, 0);
}

void noa_http_reply_chunk_buf(struct noa_http_request *req, struct noa_buf *data)
{
    size_t len;
    char *p = noa_buf_steal(data, &len);
    chunk_common(req, p, len, 1);
}

void noa_http_reply_end(struct noa_http_request *req)
{
    assert(on_loop_thread(req->conn->srv));
    assert(req->state == REQ_STREAMING);
    if (req->state != REQ_STREAMING)
        return;
    if (!req_gone(req) && req->chunked_out) {
        static const char last[] = "0\r\n\r\n";
        struct wpart part = {(char *)last, sizeof(last) - 1, 0};
        conn_write(req->conn, &part, 1);
    }
    finish(req);
}

void noa_http_reply_upgrade(struct noa_http_request *req, const struct noa_http_upgrade *up)
{
    assert(on_loop_thread(req->conn->srv));
    assert(req->state == REQ_NEW);
    struct noa__http_conn *c = req->conn;
    req->state = REQ_STREAMING;
    req->status = 101;
    req->upgraded = 1;
    req->upgrade = *up;
    req->chunked_out = 0;
    req->close_after = 1; /* the byte stream ends with the connection */
    if (req_gone(req))
        return;
    struct noa_buf head = {0};
    put_lit(&head, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: ");
    put_lit(&head, up->protocol);
    put_lit(&head, "\r\nConnection: Upgrade\r\n");
    noa_buf_append(&head, req->reply_headers.data, req->reply_headers.len);
    put_lit(&head, "\r\n");
    conn_write_buf(c, &head);
    conn_set_timer(c, TIMER_NONE);
    conn_read_start(c);
}

void noa_http_reply_abort(struct noa_http_request *req)
{
    assert(on_loop_thread(req->conn->srv));
    assert(req->state == REQ_STREAMING);
    struct noa__http_conn *c = req->conn;
    if (c->closing) { /* already closing: finish may free c */
        finish(req);
        return;
    }
    req->close_after = 1;
    finish(req);
    conn_close(c); /* pending writes are cancelled; c goes with its handles */
}

size_t noa_http_reply_queued(const struct noa_http_request *req)
{
    if (req_gone(req))
        return 0;
    return uv_stream_get_write_queue_size((const uv_stream_t *)&req->conn->tcp);
}

const struct noa_str *noa_http_request_header(const struct noa_http_request *r, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < r->n_headers; i++) {
        const struct noa_http_header *h = &r->headers[i];
        if (h->name.len == n && strncasecmp(h->name.p, name, n) == 0)
            return &h->value;
    }
    return NULL;
}

struct noa_str noa_http_request_param(const struct noa_http_request *r, const char *name)
{
    for (size_t i = 0; i < r->n_params; i++)
        if (noa_str_eq_c(r->params[i].name, name))
            return r->params[i].value;
    return (struct noa_str){"", 0};
}

int noa_http_request_gone(const struct noa_http_request *r)
{
    return req_gone(r) || r->conn->eof;
}

/* ---- routing ---------------------------------------------------------- */

/* Matches path against a route; fills vals (n_params) on success. */
static int route_match(const struct route *rt, struct noa_str path, struct noa_str *vals)
{
    if (!path.len || path.p[0] != '/')
        return 0;
    const char *p = path.p + 1, *end = path.p + path.len;
    size_t k = 0;
    for (size_t i = 0; i < rt->n_segs; i++) {
        if (p > end)
            return 0;
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *se = slash ? slash : end;
        struct noa_str seg = {p, (size_t)(se - p)};
        if (rt->segs[i].param) {
            if (!seg.len)
                return 0;
            vals[k++] = seg;
        } else if (seg.len != rt->segs[i].len ||
                   (seg.len && memcmp(seg.p, rt->segs[i].text, seg.len) != 0)) {
            return 0;
        }
        p = slash ? slash + 1 : end + 1;
    }
    return p == end + 1;
}

static void reply_redirect(struct noa_http_request *r, struct noa_str clean)
{
    struct noa_buf loc = {0};
    noa_form_escape_path(&loc, clean);
    if (memchr(r->target.p, '?', r->target.len)) {
        noa_buf_putc(&loc, '?');
        noa_buf_append_str(&loc, r->query);
    }
    noa_http_reply_header(r, "Location", noa_buf_cstr(&loc));
    noa_buf_fini(&loc);
    r->route_name = "other";
    noa_http_reply(r, 301, NULL, NULL, 0);
}

static void dispatch(struct noa__http_conn *c)
{
    struct noa_http_server *s = c->srv;
    struct noa_http_request *r = noa_xcalloc(1, sizeof(*r));
    noa_http_parser_take(&c->parser, &r->head, &r->body_buf);
    c->req = r;
    conn_set_timer(c, TIMER_NONE);
    r->conn = c;
    r->conn_id = c->id;
    r->start_ns = c->req_start_ns;
    r->method = r->head.method;
    r->method_name = noa_arena_strndup(&r->arena, r->head.method_name.p, r->head.method_name.len);
    r->target = r->head.target;
    r->query = r->head.query;
    r->headers = r->head.headers;
    r->n_headers = r->head.n_headers;
    r->body = (struct noa_str){r->body_buf.data, r->body_buf.len};
    r->http_minor = r->head.minor;
    /* The parser checked the escapes, so decoding cannot fail. */
    if (noa_form_unescape_path(&r->arena, r->head.path, &r->path, NULL) != 0)
        r->path = r->head.path;
    struct noa_str clean = noa_form_clean_path(&r->arena, r->path);
    if (clean.p != r->path.p) {
        reply_redirect(r, clean);
        return;
    }
    unsigned want = r->method == NOA_HTTP_HEAD ? (NOA_HTTP_HEAD | NOA_HTTP_GET) : r->method;
    int path_matched = 0;
    for (size_t i = 0; i < s->n_routes; i++) {
        const struct route *rt = &s->routes[i];
        struct noa_str *vals =
            rt->n_params ? noa_arena_alloc(&r->arena, rt->n_params * sizeof(*vals)) : NULL;
        if (!route_match(rt, r->path, vals))
            continue;
        path_matched = 1;
        if (!(rt->methods & want))
            continue;
        r->route_name = rt->name;
        r->n_params = rt->n_params;
        r->params =
            rt->n_params ? noa_arena_alloc(&r->arena, rt->n_params * sizeof(*r->params)) : NULL;
        for (size_t k = 0, j = 0; k < rt->n_segs; k++) {
            if (!rt->segs[k].param)
                continue;
            r->params[j].name = (struct noa_str){rt->segs[k].text, rt->segs[k].len};
            r->params[j].value = vals[j];
            j++;
        }
        rt->cb(r, rt->ctx); /* r may be gone when this returns */
        return;
    }
    if (path_matched) {
        r->route_name = "other";
        noa_http_reply(r, 405, NULL, NULL, 0);
        return;
    }
    r->route_name = "notfound";
    noa_http_reply_error(r, 404, "404 page not found");
}

/* dskit's MakeLabelValue: runs of non-alphanumerics become '_', trimmed,
 * lower-cased; "" becomes "root". */
static char *route_label(const char *pattern)
{
    size_t n = strlen(pattern);
    char *out = noa_xmalloc(n + 5);
    size_t o = 0;
    int gap = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)pattern[i];
        if (isalnum(ch)) {
            if (gap && o)
                out[o++] = '_';
            gap = 0;
            out[o++] = (char)tolower(ch);
        } else {
            gap = 1;
        }
    }
    if (!o) {
        memcpy(out, "root", 4);
        o = 4;
    }
    out[o] = '\0';
    return out;
}

int noa_http_server_route(struct noa_http_server *s, unsigned methods, const char *pattern,
                          const char *route_name,
                          void (*handler_cb)(struct noa_http_request *req, void *ctx), void *ctx)
{
    if (!pattern || pattern[0] != '/' || !handler_cb || !methods)
        return NOA_EINVAL;
    size_t n_segs = 1;
    for (const char *p = pattern + 1; *p; p++)
        n_segs += *p == '/';
    struct seg *segs = noa_xcalloc(n_segs, sizeof(*segs));
    size_t n_params = 0, i = 0;
    const char *p = pattern + 1;
    for (; i < n_segs; i++) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        const char *open = memchr(p, '{', len), *close = memchr(p, '}', len);
        if (open || close) {
            /* Only whole-segment {name} parameters; no gorilla regexps. */
            if (len < 3 || p[0] != '{' || p[len - 1] != '}' || memchr(p + 1, '{', len - 1) ||
                memchr(p + 1, ':', len - 2) || memchr(p, '}', len - 1))
                goto fail;
            segs[i].text = noa_xstrndup(p + 1, len - 2);
            segs[i].len = len - 2;
            segs[i].param = 1;
            n_params++;
        } else {
            segs[i].text = noa_xstrndup(p, len);
            segs[i].len = len;
        }
        p = slash ? slash + 1 : p + len;
    }
    s->routes = noa_xrealloc(s->routes, (s->n_routes + 1) * sizeof(*s->routes));
    s->routes[s->n_routes++] = (struct route){
        .methods = methods,
        .name = route_name ? noa_xstrdup(route_name) : route_label(pattern),
        .segs = segs,
        .n_segs = n_segs,
        .n_params = n_params,
        .cb = handler_cb,
        .ctx = ctx,
    };
    return 0;
fail:
    for (size_t k = 0; k < i; k++)
        noa_free(segs[k].text);
    noa_free(segs);
    return NOA_EINVAL;
}

/* ---- server lifetime -------------------------------------------------- */

int noa_http_server_new(uv_loop_t *loop, const struct noa_http_server_options *opts,
                        struct noa_http_server **out)
{
    struct noa_http_server *s = noa_xcalloc(1, sizeof(*s));
    s->loop = loop;
    if (opts)
        s->opt = *opts;
    s->tls = s->opt.tls;
    s->opt.tls = NULL;
    s->host = s->opt.host ? noa_xstrdup(s->opt.host) : NULL;
    s->opt.host = s->host;
    if (!s->opt.idle_timeout_ms)
        s->opt.idle_timeout_ms = 120000;
    if (!s->opt.read_timeout_ms)
        s->opt.read_timeout_ms = 30000;
    s->port = -1;
    s->thread = uv_thread_self();
    int rc = uv_tcp_init(loop, &s->tcp);
    if (rc) {
        noa_tls_server_free(s->tls);
        noa_free(s->host);
        noa_free(s);
        return rc;
    }
    s->tcp.data = s;
    *out = s;
    return 0;
}

/* 1 when this host can bind a dual-stack IPv6 wildcard socket. */
static int dual_stack_ok(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    int off = 0;
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT};
    int ok = setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) == 0 &&
             bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

int noa_http_server_routes(struct noa_http_server *s, const struct noa_http_route_spec *routes,
                           size_t n, void *ctx)
{
    for (size_t i = 0; i < n; i++) {
        int rc = noa_http_server_route(s, routes[i].methods, routes[i].pattern, routes[i].name,
                                       routes[i].handler_cb, ctx);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int noa_http_server_listen(struct noa_http_server *s)
{
    struct sockaddr_storage ss;
    int rc;
    if (!s->host || !*s->host) {
        if (dual_stack_ok())
            rc = uv_ip6_addr("::", s->opt.port, (struct sockaddr_in6 *)&ss);
        else
            rc = uv_ip4_addr("0.0.0.0", s->opt.port, (struct sockaddr_in *)&ss);
    } else {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res = NULL;
        char port[16];
        snprintf(port, sizeof(port), "%d", s->opt.port);
        rc = getaddrinfo(s->host, port, &hints, &res);
        if (rc != 0)
            return NOA_EINVAL;
        memcpy(&ss, res->ai_addr, res->ai_addrlen);
        freeaddrinfo(res);
    }
    if (rc)
        return rc;
    if ((rc = uv_tcp_bind(&s->tcp, (struct sockaddr *)&ss, 0)) != 0)
        return rc;
    if ((rc = uv_listen((uv_stream_t *)&s->tcp, 511, on_connection)) != 0)
        return rc;
    int len = sizeof(ss);
    if ((rc = uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&ss, &len)) != 0)
        return rc;
    s->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                       : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

int noa_http_server_port(const struct noa_http_server *s)
{
    return s->port;
}

static void on_listener_close(uv_handle_t *h)
{
    struct noa_http_server *s = h->data;
    s->listener_closed = 1;
    server_maybe_done(s);
}

void noa_http_server_close(struct noa_http_server *s, void (*cb)(void *ctx), void *ctx)
{
    assert(!s->closing);
    s->closing = 1;
    s->close_cb = cb;
    s->close_ctx = ctx;
    for (struct noa__http_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        /* Idle keep-alive connections go now; the others after their
         * response, which says Connection: close. */
        if (!c->req && !c->lingering && !noa_http_parser_started(&c->parser))
            conn_close(c);
    }
    uv_close((uv_handle_t *)&s->tcp, on_listener_close);
}
