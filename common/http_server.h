/*
 * The HTTP/1.1 server every noa program serves its API from: libuv TCP,
 * our own parser (common/http_parser.h), a gorilla/mux-style router, and
 * replies that may be given later than the handler call (after work on a
 * worker thread) or streamed in chunks.
 *
 * Behaves as Go's net/http + gorilla/mux (what Loki runs on), so clients
 * cannot tell the difference:
 *   - unknown path -> 404 "404 page not found\n" (text/plain); a known path
 *     with a method no route allows -> 405 with an empty body; HEAD is
 *     served by GET routes with the body left off;
 *   - a path that is not clean ("//a", "/a/./b", "/a/../b") -> 301 to the
 *     cleaned path (gorilla's cleanPath redirect), query kept;
 *   - route patterns are matched against the %-decoded path; {name}
 *     segments match one non-empty segment;
 *   - malformed requests -> 400 (431, 413, 417, 501, 505 as the parser
 *     decides) with "<code> <text>: <reason>" and the connection closed;
 *   - "Expect: 100-continue" gets "HTTP/1.1 100 Continue" before the body
 *     is read (unless the declared length is over the limit: 413);
 *   - keep-alive and pipelining (requests on one connection are answered in
 *     order, one at a time), idle timeout between requests, read timeout
 *     while a request arrives; every response has Date and Content-Length
 *     (chunked transfer encoding for streamed replies to HTTP/1.1; neither
 *     for 1xx, 204 and 304, which have no body).
 *
 * Threads: everything runs on the loop thread, including every reply call.
 * A handler may return without replying and reply later from the loop
 * thread (e.g. from a uv_queue_work after-callback): the request stays
 * valid until it is replied to exactly once. If the client went away
 * meanwhile, the reply is dropped and the request freed then.
 */
#ifndef NOA_COMMON_HTTP_SERVER_H
#define NOA_COMMON_HTTP_SERVER_H

#include "common/buf.h"
#include "common/http_parser.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct noa_http_server;
struct noa__http_conn;
struct noa_tls_server;

struct noa_http_request;

/* A protocol upgrade's callbacks (see noa_http_reply_upgrade). */
struct noa_http_upgrade {
    const char *protocol; /* the Upgrade header's value, e.g. "websocket" */
    /* Bytes the client sent after the request; data is borrowed for the
     * call only. May call noa_http_reply_end. */
    void (*data_cb)(struct noa_http_request *req, const char *data, size_t len, void *ctx);
    /* The connection ended from the client's side or failed; runs at most
     * once. The request must still be ended with noa_http_reply_end (here
     * or later). */
    void (*gone_cb)(struct noa_http_request *req, void *ctx);
    void *ctx;
};

struct noa_http_param {
    struct noa_str name;  /* from the route pattern */
    struct noa_str value; /* %-decoded path segment */
};

struct noa_http_request {
    /* read-only for handlers; valid until the request is replied to */
    unsigned method;                       /* one enum noa_http_method bit */
    const char *method_name;               /* "GET", ... NUL-terminated */
    struct noa_str target;                 /* as sent, e.g. "/a/b?x=1" */
    struct noa_str path;                   /* %-decoded, without the query */
    struct noa_str query;                  /* raw (still encoded), after '?' */
    const struct noa_http_header *headers; /* as received, in order */
    size_t n_headers;
    struct noa_str body; /* complete and de-chunked */
    int http_minor;      /* 0: HTTP/1.0, 1: HTTP/1.1 */
    const char *route_name;
    uint64_t conn_id; /* the connection's number, starting at 1 */
    /* public: scratch memory for the handler, freed with the request */
    struct noa_arena arena;
    /* private */
    struct noa__http_conn *conn; /* kept alive by the request, even when closed */
    struct noa_http_head head;
    struct noa_buf body_buf;
    struct noa_http_param *params;
    size_t n_params;
    struct noa_buf reply_headers;
    int state;       /* 0 new, 1 streaming, 2 done */
    int status;      /* what was replied */
    int close_after; /* close the connection after this response */
    int chunked_out; /* streaming with chunked encoding */
    uint64_t start_ns;
    struct noa_http_upgrade upgrade; /* valid when upgraded */
    int upgraded, gone_notified;
};

/*
 * Looks up a request header by name, case-insensitively. Returns the first
 * one, NULL when absent. Borrowed until the request is replied to.
 */
const struct noa_str *noa_http_request_header(const struct noa_http_request *r, const char *name);

/* The value of a {name} segment of the matched route pattern (%-decoded);
 * an empty slice when the pattern has no such parameter. */
struct noa_str noa_http_request_param(const struct noa_http_request *r, const char *name);

/* 1 when the client has closed or the connection failed, so a reply would
 * be dropped: long work may stop early (Go's request context). */
int noa_http_request_gone(const struct noa_http_request *r);

/*
 * Adds a response header (before noa_http_reply* / _reply_start). CR and LF
 * in either string are replaced by spaces. Content-Length, Transfer-Encoding
 * and Date are the server's and are ignored here; "Connection: close" makes
 * the server close the connection after this response.
 */
void noa_http_reply_header(struct noa_http_request *req, const char *name, const char *value);

/*
 * Replies with status and a copy of body[0..len). content_type NULL: none
 * for an empty body, otherwise sniffed (text/plain; charset=utf-8 or
 * application/octet-stream, as Go). Finishes the request: req is invalid
 * after the call.
 */
void noa_http_reply(struct noa_http_request *req, int status, const char *content_type,
                    const void *body, size_t len);

/* Like noa_http_reply, taking body's bytes without copying them; body is
 * left empty. */
void noa_http_reply_buf(struct noa_http_request *req, int status, const char *content_type,
                        struct noa_buf *body);

/* Go's http.Error: msg plus "\n" as text/plain; charset=utf-8 with
 * X-Content-Type-Options: nosniff. Finishes the request. */
void noa_http_reply_error(struct noa_http_request *req, int status, const char *msg);

/*
 * Streaming: sends the status line and headers now, then each
 * noa_http_reply_chunk as it comes (chunked encoding for HTTP/1.1; raw
 * bytes and a close for HTTP/1.0), and noa_http_reply_end finishes the
 * request. A zero-length chunk is ignored (it would end the stream).
 * _chunk copies data; _chunk_buf takes the buffer's bytes.
 */
void noa_http_reply_start(struct noa_http_request *req, int status, const char *content_type);
void noa_http_reply_chunk(struct noa_http_request *req, const void *data, size_t len);
void noa_http_reply_chunk_buf(struct noa_http_request *req, struct noa_buf *data);
void noa_http_reply_end(struct noa_http_request *req);

/* Bytes written but not yet taken by the kernel on the request's
 * connection, for streaming back-pressure (0 when gone). */
size_t noa_http_reply_queued(const struct noa_http_request *req);

/*
 * Protocol upgrade (the websocket handshake's answer): sends
 * "HTTP/1.1 101 Switching Protocols" with "Upgrade: <protocol>",
 * "Connection: Upgrade" and the headers added by noa_http_reply_header (no
 * Date or Content-Length), then the connection carries raw bytes until the
 * request ends: up->data_cb gets every byte the client sends after the
 * request (bytes already read first), noa_http_reply_chunk/_chunk_buf write
 * raw bytes (no chunk framing), noa_http_reply_queued tells what waits, and
 * noa_http_reply_end flushes and closes the connection. up->gone_cb runs if
 * the client leaves first (not when the client had already gone before this
 * call: check noa_http_request_gone after it). No timeouts apply meanwhile.
 * The server's close waits for upgraded requests as for streams.
 */
void noa_http_reply_upgrade(struct noa_http_request *req, const struct noa_http_upgrade *up);

/* Ends a streamed or upgraded request and drops its connection at once,
 * discarding what the client has not taken yet (a peer that stopped
 * reading must not hold up a shutdown). gone_cb does not run. */
void noa_http_reply_abort(struct noa_http_request *req);

struct noa_http_server_options {
    const char *host;         /* NULL or "" = every interface (dual-stack when possible) */
    int port;                 /* 0 = ephemeral */
    size_t max_body_bytes;    /* 0 = 100 MiB */
    size_t max_header_bytes;  /* 0 = 1 MiB (Go's DefaultMaxHeaderBytes) */
    unsigned idle_timeout_ms; /* between keep-alive requests; 0 = 120 s */
    unsigned read_timeout_ms; /* to receive one whole request; 0 = 30 s */
    /* Called once per request that reached the router, when its response
     * is complete (or dropped): route_name is the route's, "notfound" for a
     * 404 and "other" for 405 and redirects. seconds from the first byte. */
    void (*observe_cb)(const char *route_name, const char *method, int status, double seconds,
                       void *ctx);
    void *observe_ctx;
    /* TLS (common/tls_server.h): NULL serves plain HTTP. The server takes
     * ownership (also when noa_http_server_new fails) and frees it with
     * itself. Every byte in and out, upgraded connections included, then
     * goes through TLS; plain HTTP sent to the port gets Go's 400 answer. */
    struct noa_tls_server *tls;
};

/*
 * Creates a server on loop (not yet listening); options are copied. Must be
 * called on the loop's thread. Returns 0 or a negative code.
 */
int noa_http_server_new(uv_loop_t *loop, const struct noa_http_server_options *opts,
                        struct noa_http_server **out);

/*
 * Adds a route: methods is a mask of enum noa_http_method bits (HEAD is
 * implied by GET), pattern a path such as "/loki/api/v1/label/{name}/values"
 * whose {name} segments become parameters, route_name the metrics label
 * (NULL: derived from the pattern as dskit does, e.g.
 * "loki_api_v1_label_name_values"). Routes are tried in the order added.
 * Returns 0 or NOA_EINVAL for a bad pattern.
 */
int noa_http_server_route(struct noa_http_server *s, unsigned methods, const char *pattern,
                          const char *route_name,
                          void (*handler_cb)(struct noa_http_request *req, void *ctx), void *ctx);

/* One row of a route table (see noa_http_server_routes). */
struct noa_http_route_spec {
    unsigned methods;
    const char *pattern;
    const char *name;
    void (*handler_cb)(struct noa_http_request *req, void *ctx);
};

/* Adds every route of a table with one ctx, in order. Returns 0 or the
 * first failure of noa_http_server_route. */
int noa_http_server_routes(struct noa_http_server *s, const struct noa_http_route_spec *routes,
                           size_t n, void *ctx);

/* Binds and listens. Returns 0 or a negative code (-EADDRINUSE, ...). */
int noa_http_server_listen(struct noa_http_server *s);

/* The bound port (useful with port 0), or -1 before listening. */
int noa_http_server_port(const struct noa_http_server *s);

/*
 * Graceful close: stops accepting, closes idle connections, lets requests
 * in progress finish (their responses carry Connection: close), then frees
 * the server and calls cb(ctx) (cb may be NULL). Runs cb exactly once, on
 * the loop thread, never from inside this call. It waits for every request
 * in flight to be replied to: owners of long streams (live tail) end them
 * first. Also the way to free a server whose listen failed.
 */
void noa_http_server_close(struct noa_http_server *s, void (*cb)(void *ctx), void *ctx);

#endif
