/*
 * An incremental HTTP/1.1 request parser of our own: feed it bytes as they
 * arrive and it reports when a request head is complete and when the whole
 * request (body de-chunked) is complete. It owns the bytes of the request it
 * is parsing (head and body buffers) until the caller takes them.
 *
 * What it enforces, following Go's net/http server (what Loki runs on):
 *   - request line `METHOD SP target SP HTTP/1.x`, single spaces, method a
 *     token, target origin-form (`/...`), absolute-form or `*`; no control
 *     bytes; %XX escapes in the path must be valid. HTTP/2+ or 0.x -> 505.
 *   - header lines `name: value`, name a token with no space before ':',
 *     no obsolete line folding, no control bytes in values (HTAB allowed).
 *     CRLF or bare LF line ends; blank lines before the request line are
 *     skipped. Head (request line + headers) over max_header_bytes -> 431.
 *   - HTTP/1.1 needs exactly one Host header (400).
 *   - Content-Length: digits only; repeated headers must agree (400).
 *     Over max_body_bytes -> 413 before any body byte is buffered.
 *   - Transfer-Encoding: only a single `chunked` (others -> 501); with a
 *     Content-Length as well -> 400 (a request-smuggling shape). Chunk
 *     sizes are hex with optional extensions; trailers are read and
 *     dropped; the running total over max_body_bytes -> 413.
 *   - Expect: `100-continue` on HTTP/1.1 with a body is reported in
 *     expect_continue; any other Expect (or one without a body) -> 417.
 *   - keep-alive: HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with
 *     `Connection: keep-alive`.
 * Bytes after a complete request are not consumed: they belong to the next
 * (pipelined) request. Pure: no I/O, no globals; one parser per connection,
 * used by one thread.
 */
#ifndef NOA_COMMON_HTTP_PARSER_H
#define NOA_COMMON_HTTP_PARSER_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

/* Methods as bits, so routes can allow several at once. */
enum noa_http_method {
    NOA_HTTP_GET = 1u << 0,
    NOA_HTTP_HEAD = 1u << 1,
    NOA_HTTP_POST = 1u << 2,
    NOA_HTTP_PUT = 1u << 3,
    NOA_HTTP_DELETE = 1u << 4,
    NOA_HTTP_PATCH = 1u << 5,
    NOA_HTTP_OPTIONS = 1u << 6,
    NOA_HTTP_OTHER = 1u << 7, /* any other token (method_name has it) */
};
#define NOA_HTTP_ANY 0xffu
/* Loki's read endpoints take both (a POST carries its parameters as a form). */
#define NOA_HTTP_GET_POST (NOA_HTTP_GET | NOA_HTTP_POST)

struct noa_http_header {
    struct noa_str name;  /* as sent; compare case-insensitively */
    struct noa_str value; /* leading/trailing blanks trimmed */
};

/* A parsed request head. Every slice points into raw. */
struct noa_http_head {
    unsigned method;                 /* one enum noa_http_method bit */
    struct noa_str method_name;      /* "GET", ... */
    struct noa_str target;           /* as sent: "/a/b?x=1" */
    struct noa_str path;             /* raw (still %-encoded), without the query */
    struct noa_str query;            /* raw, after '?', without '?'; empty when absent */
    int minor;                       /* 0 for HTTP/1.0, 1 for HTTP/1.1 (and 1.x) */
    struct noa_http_header *headers; /* owned (noa_free) */
    size_t n_headers;
    int64_t content_length; /* -1 when absent (or chunked) */
    int chunked;            /* Transfer-Encoding: chunked */
    int keep_alive;         /* the connection may carry another request */
    int expect_continue;    /* the client waits for "100 Continue" */
    char *raw;              /* owned (noa_free): the head bytes */
    size_t raw_len;
};

/* Releases what a head owns; leaves it zeroed. */
void noa_http_head_fini(struct noa_http_head *h);

struct noa_http_parser_options {
    size_t max_header_bytes; /* request line + headers (and trailers); 0 = 1 MiB */
    size_t max_body_bytes;   /* 0 = 100 MiB */
};

/* Return values of noa_http_parser_feed besides errors. */
enum {
    NOA_HTTP_PARSER_MORE = 0, /* everything was consumed; feed more */
    NOA_HTTP_PARSER_HEAD = 1, /* the head is complete and a body follows */
    NOA_HTTP_PARSER_DONE = 2, /* the request is complete (head + body) */
};

struct noa_http_parser {
    /* read-only: valid from NOA_HTTP_PARSER_HEAD / _DONE on */
    struct noa_http_head head;
    struct noa_buf body; /* the de-chunked body so far */
    /* read-only: set when feed fails */
    int status;      /* 400, 413, 417, 431, 501 or 505 */
    char reason[96]; /* short text for the error body */
    /* private */
    struct noa_http_parser_options opt;
    int state;
    size_t scan;          /* head bytes already searched for the end */
    uint64_t remaining;   /* body bytes left in the current chunk / body */
    size_t line_len;      /* bytes of the current chunk-size or trailer line */
    int size_digits;      /* hex digits seen in the current chunk size */
    int size_done;        /* 0 digits, 1 blanks, 2 after CR, 3 extensions */
    size_t trailer_bytes; /* bytes of trailers so far */
    struct noa_buf rawbuf;
};

void noa_http_parser_init(struct noa_http_parser *p, const struct noa_http_parser_options *opt);
void noa_http_parser_fini(struct noa_http_parser *p);

/*
 * Consumes bytes of data[0..len) and sets *used to how many it took.
 * Returns NOA_HTTP_PARSER_MORE when everything was taken without finishing,
 * NOA_HTTP_PARSER_HEAD once when the head is complete and a body follows
 * (the caller may send "100 Continue", then feeds on; len may be 0),
 * NOA_HTTP_PARSER_DONE when the request is complete (the rest of data is
 * the next request's), or a negative code: NOA_EINVAL (status 400, 417, 501
 * or 505), NOA_ETOOBIG (413 or 431) or NOA_ENOMEM (503: the body could not
 * be allocated), with status and reason set. After an
 * error the parser only fails; after DONE call noa_http_parser_take or
 * noa_http_parser_reset before feeding the next request.
 */
int noa_http_parser_feed(struct noa_http_parser *p, const void *data, size_t len, size_t *used);

/* 1 when bytes of a request have been fed since the last reset. */
int noa_http_parser_started(const struct noa_http_parser *p);

/* Moves the completed request's head and body out (the caller owns them and
 * frees them with noa_http_head_fini / noa_buf_fini) and resets the parser
 * for the next request. */
void noa_http_parser_take(struct noa_http_parser *p, struct noa_http_head *head,
                          struct noa_buf *body);

/* Drops the current request and readies the parser for the next one. */
void noa_http_parser_reset(struct noa_http_parser *p);

/* Go's status text for a code ("Not Found"), or NULL for unknown codes. */
const char *noa_http_parser_status_text(int status);

#endif
