/*
 * Incremental HTTP/1.1 request parser (rules in http_parser.h).
 *
 * The head is accumulated until its blank line and then parsed in one pass,
 * so header slices can point into one buffer; the body goes through a small
 * state machine (fixed length or chunked) into the body buffer. Owns the
 * buffers of the request in progress. Pure; one thread per parser.
 */
#include "common/http_parser.h"
#include "common/err.h"
#include "common/mem.h"

#include <ctype.h>
#include <stdio.h>
#include <strings.h>

#define DEFAULT_MAX_HEADER ((size_t)1 << 20)
#define DEFAULT_MAX_BODY ((size_t)100 << 20)
/* Longest chunk-size line (size + extensions), as Go's chunked reader. */
#define MAX_CHUNK_LINE 4096

enum {
    ST_HEAD = 0,
    ST_BODY,       /* Content-Length body */
    ST_CHUNK_SIZE, /* chunk-size [ext] line */
    ST_CHUNK_DATA,
    ST_CHUNK_CR, /* the CRLF after chunk data */
    ST_CHUNK_LF,
    ST_TRAILER, /* trailer lines up to the blank one */
    ST_DONE,
    ST_ERROR,
};

void noa_http_head_fini(struct noa_http_head *h)
{
    noa_free(h->headers);
    noa_free(h->raw);
    memset(h, 0, sizeof(*h));
}

void noa_http_parser_init(struct noa_http_parser *p, const struct noa_http_parser_options *opt)
{
    memset(p, 0, sizeof(*p));
    if (opt)
        p->opt = *opt;
    if (!p->opt.max_header_bytes)
        p->opt.max_header_bytes = DEFAULT_MAX_HEADER;
    if (!p->opt.max_body_bytes)
        p->opt.max_body_bytes = DEFAULT_MAX_BODY;
    p->head.content_length = -1;
}

void noa_http_parser_reset(struct noa_http_parser *p)
{
    struct noa_http_parser_options opt = p->opt;
    noa_free(p->head.headers);
    noa_buf_fini(&p->rawbuf);
    noa_buf_fini(&p->body);
    noa_http_parser_init(p, &opt);
}

void noa_http_parser_fini(struct noa_http_parser *p)
{
    noa_http_parser_reset(p);
}

int noa_http_parser_started(const struct noa_http_parser *p)
{
    return p->state != ST_HEAD || p->rawbuf.len > 0;
}

void noa_http_parser_take(struct noa_http_parser *p, struct noa_http_head *head,
                          struct noa_buf *body)
{
    *head = p->head;
    head->raw = noa_buf_steal(&p->rawbuf, &head->raw_len);
    *body = p->body;
    p->head.headers = NULL;
    p->body = (struct noa_buf){0};
    noa_http_parser_reset(p);
}

/* Go's StatusText for the codes noa sends or receives. */
static const struct {
    int code;
    const char *text;
} status_texts[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {206, "Partial Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {413, "Request Entity Too Large"},
    {414, "Request URI Too Long"},
    {415, "Unsupported Media Type"},
    {417, "Expectation Failed"},
    {422, "Unprocessable Entity"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

const char *noa_http_parser_status_text(int status)
{
    for (size_t i = 0; i < sizeof(status_texts) / sizeof(status_texts[0]); i++)
        if (status_texts[i].code == status)
            return status_texts[i].text;
    return NULL;
}

/* The code feed returns for an error status. */
static int status_code(int status)
{
    if (status == 413 || status == 431)
        return NOA_ETOOBIG;
    return status == 503 ? NOA_ENOMEM : NOA_EINVAL;
}

/* Records an error; the parser stays failed until reset. */
static int fail(struct noa_http_parser *p, int status, const char *reason)
{
    p->state = ST_ERROR;
    p->status = status;
    snprintf(p->reason, sizeof(p->reason), "%s", reason);
    return status_code(status);
}

/*
 * Room for `extra` more body bytes. The size comes from the client, so this
 * fails with a 503 (clients retry it) instead of aborting on OOM: exact for
 * a declared length, doubling up to the limit for chunks.
 */
static int body_room(struct noa_http_parser *p, size_t extra, int exact)
{
    struct noa_buf *b = &p->body;
    if (b->cap - b->len > extra)
        return 0;
    size_t want = b->len + extra + 1, cap = want;
    if (!exact) {
        cap = b->cap ? b->cap : 4096;
        while (cap < want)
            cap *= 2;
        if (cap > p->opt.max_body_bytes + 1)
            cap = want > p->opt.max_body_bytes + 1 ? want : p->opt.max_body_bytes + 1;
    }
    char *d = noa_realloc(b->data, cap);
    if (!d)
        return fail(p, 503, "out of memory for the request body");
    b->data = d;
    b->cap = cap;
    return 0;
}

static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_token(struct noa_str s)
{
    if (!s.len)
        return 0;
    for (size_t i = 0; i < s.len; i++)
        if (!is_tchar((unsigned char)s.p[i]))
            return 0;
    return 1;
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static int hex_value(unsigned char c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static int str_ieq(struct noa_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && strncasecmp(s.p, lit, n) == 0;
}

static unsigned method_bit(struct noa_str m)
{
    static const struct {
        const char *name;
        unsigned bit;
    } tab[] = {
        {"GET", NOA_HTTP_GET},         {"HEAD", NOA_HTTP_HEAD},     {"POST", NOA_HTTP_POST},
        {"PUT", NOA_HTTP_PUT},         {"DELETE", NOA_HTTP_DELETE}, {"PATCH", NOA_HTTP_PATCH},
        {"OPTIONS", NOA_HTTP_OPTIONS},
    };
    /* Methods are case-sensitive: "get" is some other method. */
    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
        if (noa_str_eq_c(m, tab[i].name))
            return tab[i].bit;
    return NOA_HTTP_OTHER;
}

/* "HTTP/1.1" -> minor 1. Returns 0, or the status to fail with. */
static int parse_version(struct noa_str v, int *minor)
{
    if (v.len < 8 || memcmp(v.p, "HTTP/", 5) != 0)
        return 400;
    size_t i = 5;
    long major = 0, min = 0;
    size_t start = i;
    while (i < v.len && v.p[i] >= '0' && v.p[i] <= '9' && i - start < 7)
        major = major * 10 + (v.p[i++] - '0');
    if (i == start || i >= v.len || v.p[i] != '.')
        return 400;
    start = ++i;
    while (i < v.len && v.p[i] >= '0' && v.p[i] <= '9' && i - start < 7)
        min = min * 10 + (v.p[i++] - '0');
    if (i == start || i != v.len)
        return 400;
    if (major != 1)
        return 505;
    *minor = min >= 1 ? 1 : 0;
    return 0;
}

/* Splits the target into path and query; checks bytes and escapes. */
static int parse_target(struct noa_http_parser *p, struct noa_str t)
{
    struct noa_http_head *h = &p->head;
    for (size_t i = 0; i < t.len; i++) {
        unsigned char c = (unsigned char)t.p[i];
        if (c <= 0x20 || c == 0x7f)
            return fail(p, 400, "invalid control character in URL");
    }
    struct noa_str rest = t;
    if (t.len == 1 && t.p[0] == '*') {
        h->path = t;
        return 0;
    }
    if (t.p[0] != '/') {
        /* absolute-form: scheme "://" authority [path] */
        size_t i = 0;
        while (i < t.len && (isalnum((unsigned char)t.p[i]) || strchr("+-.", t.p[i])))
            i++;
        if (i == 0 || !isalpha((unsigned char)t.p[0]) || t.len - i < 3 ||
            memcmp(t.p + i, "://", 3) != 0)
            return fail(p, 400, "invalid request target");
        i += 3;
        while (i < t.len && t.p[i] != '/' && t.p[i] != '?')
            i++;
        rest = (struct noa_str){t.p + i, t.len - i};
    }
    const char *q = rest.len ? memchr(rest.p, '?', rest.len) : NULL;
    size_t plen = q ? (size_t)(q - rest.p) : rest.len;
    h->path = plen ? (struct noa_str){rest.p, plen} : NOA_STR("/");
    if (q)
        h->query = (struct noa_str){q + 1, rest.len - plen - 1};
    for (size_t i = 0; i < plen; i++) {
        if (rest.p[i] != '%')
            continue;
        if (i + 2 >= plen || !is_hex((unsigned char)rest.p[i + 1]) ||
            !is_hex((unsigned char)rest.p[i + 2]))
            return fail(p, 400, "invalid URL escape in path");
        i += 2;
    }
    return 0;
}

static int parse_request_line(struct noa_http_parser *p, struct noa_str line)
{
    struct noa_http_head *h = &p->head;
    const char *sp1 = memchr(line.p, ' ', line.len);
    if (!sp1)
        return fail(p, 400, "malformed HTTP request");
    const char *after = sp1 + 1;
    const char *end = line.p + line.len;
    const char *sp2 = memchr(after, ' ', (size_t)(end - after));
    if (!sp2)
        return fail(p, 400, "malformed HTTP request");
    h->method_name = (struct noa_str){line.p, (size_t)(sp1 - line.p)};
    h->target = (struct noa_str){after, (size_t)(sp2 - after)};
    struct noa_str version = {sp2 + 1, (size_t)(end - sp2 - 1)};
    if (!is_token(h->method_name))
        return fail(p, 400, "invalid method");
    h->method = method_bit(h->method_name);
    int st = parse_version(version, &h->minor);
    if (st == 505)
        return fail(p, 505, "unsupported protocol version");
    if (st)
        return fail(p, 400, "malformed HTTP version");
    if (!h->target.len)
        return fail(p, 400, "empty request target");
    return parse_target(p, h->target);
}

/* Comma-separated tokens of a Connection header. */
static void connection_tokens(struct noa_str v, int *close, int *keep)
{
    size_t i = 0;
    while (i < v.len) {
        while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
            i++;
        size_t s = i;
        while (i < v.len && v.p[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
            e--;
        struct noa_str tok = {v.p + s, e - s};
        if (str_ieq(tok, "close"))
            *close = 1;
        else if (str_ieq(tok, "keep-alive"))
            *keep = 1;
    }
}

/* What the header pass collects for the checks after it. */
struct head_facts {
    int hosts, te_count, has_close, has_keep, has_expect, expect_100;
};

/* Applies one header's meaning. Returns 0 or a fail() code. */
static int header_semantics(struct noa_http_parser *p, const struct noa_http_header *hd,
                            struct head_facts *f)
{
    struct noa_http_head *h = &p->head;
    if (str_ieq(hd->name, "Content-Length")) {
        struct noa_str v = hd->value;
        if (!v.len || v.len > 18)
            return fail(p, 400, "bad Content-Length");
        int64_t n = 0;
        for (size_t i = 0; i < v.len; i++) {
            if (v.p[i] < '0' || v.p[i] > '9')
                return fail(p, 400, "bad Content-Length");
            n = n * 10 + (v.p[i] - '0');
        }
        if (h->content_length >= 0 && h->content_length != n)
            return fail(p, 400, "conflicting Content-Length headers");
        h->content_length = n;
    } else if (str_ieq(hd->name, "Transfer-Encoding")) {
        if (++f->te_count > 1 || !str_ieq(hd->value, "chunked"))
            return fail(p, 501, "unsupported transfer encoding");
        h->chunked = 1;
    } else if (str_ieq(hd->name, "Host")) {
        if (++f->hosts > 1)
            return fail(p, 400, "too many Host headers");
    } else if (str_ieq(hd->name, "Connection")) {
        connection_tokens(hd->value, &f->has_close, &f->has_keep);
    } else if (str_ieq(hd->name, "Expect")) {
        f->has_expect = 1;
        if (str_ieq(hd->value, "100-continue"))
            f->expect_100 = 1;
    }
    return 0;
}

/* Parses one "name: value" line into hd. */
static int parse_header_line(struct noa_http_parser *p, struct noa_str line,
                             struct noa_http_header *hd)
{
    if (line.p[0] == ' ' || line.p[0] == '\t')
        return fail(p, 400, "obsolete line folding is not supported");
    const char *colon = memchr(line.p, ':', line.len);
    if (!colon)
        return fail(p, 400, "malformed header line");
    hd->name = (struct noa_str){line.p, (size_t)(colon - line.p)};
    if (!is_token(hd->name))
        return fail(p, 400, "invalid header name");
    const char *v = colon + 1, *e = line.p + line.len;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    for (const char *c = v; c < e; c++) {
        unsigned char u = (unsigned char)*c;
        if ((u < 0x20 && u != '\t') || u == 0x7f)
            return fail(p, 400, "invalid header value");
    }
    hd->value = (struct noa_str){v, (size_t)(e - v)};
    return 0;
}

/* Next line of the head starting at *pos, without its CRLF / LF. */
static struct noa_str next_line(const char *raw, size_t len, size_t *pos)
{
    const char *s = raw + *pos;
    const char *nl = memchr(s, '\n', len - *pos);
    size_t n = nl ? (size_t)(nl - s) : len - *pos;
    *pos += n + (nl != NULL);
    if (n && s[n - 1] == '\r')
        n--;
    return (struct noa_str){s, n};
}

/* Parses the complete head in rawbuf[0..len). Returns 0 or a fail() code. */
static int parse_head(struct noa_http_parser *p, size_t len)
{
    struct noa_http_head *h = &p->head;
    const char *raw = p->rawbuf.data;
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += raw[i] == '\n';
    /* Bounded by the header limit the caller enforced. */
    h->headers = noa_xmalloc(lines * sizeof(*h->headers));
    size_t pos = 0;
    int rc = parse_request_line(p, next_line(raw, len, &pos));
    if (rc)
        return rc;
    struct head_facts f = {0};
    for (;;) {
        struct noa_str line = next_line(raw, len, &pos);
        if (!line.len)
            break;
        struct noa_http_header *hd = &h->headers[h->n_headers];
        if ((rc = parse_header_line(p, line, hd)) || (rc = header_semantics(p, hd, &f)))
            return rc;
        h->n_headers++;
    }
    if (h->minor >= 1 && f.hosts == 0)
        return fail(p, 400, "missing required Host header");
    if (h->chunked && h->content_length >= 0)
        return fail(p, 400, "both Content-Length and Transfer-Encoding");
    h->keep_alive = h->minor >= 1 ? !f.has_close : f.has_keep && !f.has_close;
    int has_body = h->chunked || h->content_length > 0;
    if (f.has_expect) {
        /* Go answers 417 to any Expect it will not honour, including a
         * 100-continue on HTTP/1.0 or on a request without a body. */
        if (!f.expect_100 || h->minor < 1 || !has_body)
            return fail(p, 417, "unsupported Expect header");
        h->expect_continue = 1;
    }
    if (h->content_length > 0 && (uint64_t)h->content_length > p->opt.max_body_bytes)
        return fail(p, 413, "request body too large");
    return 0;
}

/*
 * Head state: takes bytes until the blank line that ends the head.
 * Returns MORE, HEAD, DONE or an error, with *used set.
 */
static int feed_head(struct noa_http_parser *p, const char *d, size_t len, size_t *used)
{
    size_t i = 0;
    /* Blank lines before a request line are skipped (RFC 9112 2.2): some
     * clients send a CRLF after a POST body. They count toward the limit. */
    while (p->rawbuf.len == 0 && i < len && (d[i] == '\r' || d[i] == '\n')) {
        i++;
        if (++p->line_len > p->opt.max_header_bytes) {
            *used = i;
            return fail(p, 431, "request header too large");
        }
    }
    size_t limit = p->opt.max_header_bytes;
    size_t room = limit + 1 > p->rawbuf.len ? limit + 1 - p->rawbuf.len : 0;
    size_t take = len - i < room ? len - i : room;
    noa_buf_append(&p->rawbuf, d + i, take);
    const char *raw = p->rawbuf.data;
    size_t rlen = p->rawbuf.len;
    size_t end = 0;
    while (p->scan < rlen) {
        const char *nl = memchr(raw + p->scan, '\n', rlen - p->scan);
        if (!nl) {
            p->scan = rlen;
            break;
        }
        size_t k = (size_t)(nl - raw);
        if (k + 1 < rlen && raw[k + 1] == '\n') {
            end = k + 2;
            break;
        }
        if (k + 2 < rlen && raw[k + 1] == '\r' && raw[k + 2] == '\n') {
            end = k + 3;
            break;
        }
        if (k + 2 >= rlen) {
            p->scan = k; /* look at this newline again with more bytes */
            break;
        }
        p->scan = k + 1;
    }
    if (!end) {
        *used = i + take;
        if (rlen > limit)
            return fail(p, 431, "request header too large");
        return NOA_HTTP_PARSER_MORE;
    }
    if (end > limit) {
        *used = i + take;
        return fail(p, 431, "request header too large");
    }
    /* Bytes past the head were appended but not consumed: give them back. */
    *used = i + take - (rlen - end);
    p->rawbuf.len = end;
    int rc = parse_head(p, end);
    if (rc)
        return rc;
    struct noa_http_head *h = &p->head;
    if (h->chunked) {
        p->state = ST_CHUNK_SIZE;
        return NOA_HTTP_PARSER_HEAD;
    }
    if (h->content_length > 0) {
        p->remaining = (uint64_t)h->content_length;
        if ((rc = body_room(p, (size_t)h->content_length, 1)) != 0)
            return rc;
        p->state = ST_BODY;
        return NOA_HTTP_PARSER_HEAD;
    }
    p->state = ST_DONE;
    return NOA_HTTP_PARSER_DONE;
}

/* One byte of a chunk-size line. Returns 0 to go on, 1 at its end, or an error. */
static int chunk_size_byte(struct noa_http_parser *p, unsigned char c)
{
    if (++p->line_len > MAX_CHUNK_LINE)
        return fail(p, 400, "chunk size line too long");
    if (p->size_done == 2) { /* after CR only LF may come */
        if (c != '\n')
            return fail(p, 400, "malformed chunked encoding");
        return 1;
    }
    if (c == '\n' || c == '\r') {
        if (p->size_digits == 0)
            return fail(p, 400, "empty chunk size");
        if (c == '\n')
            return 1;
        p->size_done = 2;
        return 0;
    }
    if (p->size_done == 3) { /* inside extensions, which we skip */
        if (c < 0x20 && c != '\t')
            return fail(p, 400, "malformed chunk extension");
        return 0;
    }
    if (c == ';' && p->size_digits > 0) {
        p->size_done = 3;
        return 0;
    }
    if (c == ' ' || c == '\t') { /* blanks may follow the size, nothing else */
        if (p->size_digits == 0)
            return fail(p, 400, "bad chunk size");
        p->size_done = 1;
        return 0;
    }
    if (p->size_done == 1)
        return fail(p, 400, "bad chunk size");
    if (is_hex(c)) {
        if (++p->size_digits > 16)
            return fail(p, 400, "chunk size overflow");
        p->remaining = p->remaining << 4 | (uint64_t)hex_value(c);
        return 0;
    }
    return fail(p, 400, "bad chunk size");
}

/* The end of a chunk-size line: on to data, or to the trailers after 0. */
static int chunk_size_end(struct noa_http_parser *p)
{
    p->line_len = 0;
    p->size_digits = 0;
    p->size_done = 0;
    if (p->remaining == 0) {
        p->state = ST_TRAILER;
        return 0;
    }
    if (p->remaining > p->opt.max_body_bytes - p->body.len)
        return fail(p, 413, "request body too large");
    int rc = body_room(p, (size_t)p->remaining, 0);
    if (rc)
        return rc;
    p->state = ST_CHUNK_DATA;
    return 0;
}

/* One byte of the trailer section. Returns 0, 1 at the blank line, or an error. */
static int trailer_byte(struct noa_http_parser *p, unsigned char c)
{
    if (++p->trailer_bytes > p->opt.max_header_bytes)
        return fail(p, 431, "request trailers too large");
    if (c == '\n') {
        int blank = p->line_len == 0;
        p->line_len = 0;
        return blank;
    }
    if (c != '\r')
        p->line_len++;
    return 0;
}

static int feed_body(struct noa_http_parser *p, const char *d, size_t len, size_t *used)
{
    size_t i = 0;
    int rc = 0;
    while (i < len && p->state != ST_DONE) {
        switch (p->state) {
        case ST_BODY:
        case ST_CHUNK_DATA: {
            size_t n = len - i;
            if ((uint64_t)n > p->remaining)
                n = (size_t)p->remaining;
            noa_buf_append(&p->body, d + i, n);
            i += n;
            p->remaining -= n;
            if (p->remaining == 0)
                p->state = p->state == ST_BODY ? ST_DONE : ST_CHUNK_CR;
            break;
        }
        case ST_CHUNK_SIZE:
            rc = chunk_size_byte(p, (unsigned char)d[i++]);
            if (rc == 1)
                rc = chunk_size_end(p);
            break;
        case ST_CHUNK_CR:
        case ST_CHUNK_LF: {
            char want = p->state == ST_CHUNK_CR ? '\r' : '\n';
            if (d[i++] != want)
                rc = fail(p, 400, "malformed chunked encoding");
            else
                p->state = p->state == ST_CHUNK_CR ? ST_CHUNK_LF : ST_CHUNK_SIZE;
            break;
        }
        case ST_TRAILER:
            rc = trailer_byte(p, (unsigned char)d[i++]);
            if (rc == 1) {
                p->state = ST_DONE;
                rc = 0;
            }
            break;
        default:
            rc = fail(p, 400, "parser state");
            break;
        }
        if (rc < 0)
            break;
    }
    *used = i;
    if (rc < 0)
        return rc;
    return p->state == ST_DONE ? NOA_HTTP_PARSER_DONE : NOA_HTTP_PARSER_MORE;
}

int noa_http_parser_feed(struct noa_http_parser *p, const void *data, size_t len, size_t *used)
{
    *used = 0;
    switch (p->state) {
    case ST_ERROR:
        return status_code(p->status);
    case ST_DONE:
        return NOA_HTTP_PARSER_DONE;
    case ST_HEAD:
        if (!len)
            return NOA_HTTP_PARSER_MORE;
        return feed_head(p, data, len, used);
    default:
        return feed_body(p, data, len, used);
    }
}
