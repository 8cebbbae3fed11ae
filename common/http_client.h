/*
 * Blocking HTTP client for tools, benchmarks, tests and the shipper: the
 * one adapter around libcurl (nothing else includes curl.h).
 *
 * A struct noa_http_client wraps one curl easy handle, so consecutive
 * requests to the same host reuse the keep-alive connection. Blocking: call
 * it from a worker or tool thread, never from the event loop. One client
 * per thread at a time (clients on different threads are independent).
 */
#ifndef NOA_COMMON_HTTP_CLIENT_H
#define NOA_COMMON_HTTP_CLIENT_H

#include "common/buf.h"

#include <stddef.h>

struct noa_http_client;

/* TLS and proxy settings of a request (Prometheus's tls_config keys).
 * NULL fields keep libcurl's defaults: the system CA store, no client
 * certificate, full verification, proxies from the environment. */
struct noa_http_client_tls {
    const char *ca_file;      /* PEM bundle the server certificate must chain to */
    const char *cert_file;    /* client certificate (PEM) */
    const char *key_file;     /* its private key (PEM) */
    int insecure_skip_verify; /* 1: accept any certificate and host name */
    const char *proxy_url;    /* http(s)://host:port of a proxy */
};

struct noa_http_client_request {
    const char *method;         /* NULL: GET, or POST when there is a body */
    const char *url;            /* http://host:port/path?query */
    const char *const *headers; /* "Name: value" strings, borrowed */
    size_t n_headers;
    const void *body; /* borrowed for the call; NULL for none */
    size_t body_len;
    long timeout_ms;           /* whole exchange; 0 = no limit */
    long connect_timeout_ms;   /* 0 = 10 s */
    size_t max_response_bytes; /* body limit; 0 = 256 MiB */
    int expect_continue;       /* 1: let curl send "Expect: 100-continue" for
                                * bodies over 1 KiB (default off: it costs a
                                * round trip per request) */
    int follow_redirects;      /* 1: follow 3xx Location (at most 5) */
    const struct noa_http_client_tls *tls; /* NULL: defaults */
};

struct noa_http_client_response {
    int status;             /* 0 when no response arrived */
    struct noa_buf body;    /* owned; as received (no decompression) */
    struct noa_buf headers; /* owned: the final response's "Name: value\r\n" lines */
    char content_type[128]; /* "" when absent */
    long retry_after_s;     /* Retry-After in seconds (an HTTP-date is turned
                             * into a delay); -1 when absent or invalid */
    char error[256];        /* libcurl's explanation when _do fails */
};

/* Creates a client (initialising libcurl once per process). Returns 0 or
 * NOA_ENOMEM / NOA_EINTERNAL. */
int noa_http_client_new(struct noa_http_client **out);
/* Closes its connections; NULL is a no-op. */
void noa_http_client_free(struct noa_http_client *c);

/*
 * Performs one request and fills resp (zero it first, or reuse one after
 * _response_fini). Any HTTP status is success: check resp->status. Returns
 * 0, or NOA_EINVAL (bad URL), -ECONNREFUSED, NOA_EUNAVAIL (resolve or
 * network failure), -ECONNRESET (connection dropped mid-exchange),
 * NOA_ETIMEOUT, NOA_ETOOBIG (response over max_response_bytes),
 * NOA_ENOMEM or NOA_EINTERNAL; resp->error says more.
 */
int noa_http_client_do(struct noa_http_client *c, const struct noa_http_client_request *req,
                       struct noa_http_client_response *resp);

/* A header of the final response (case-insensitive), or an empty slice
 * with p == NULL when absent. Borrowed from resp. */
struct noa_str noa_http_client_response_header(const struct noa_http_client_response *resp,
                                               const char *name);

/* Releases the response's buffers; it can be reused afterwards. */
void noa_http_client_response_fini(struct noa_http_client_response *resp);

#endif
