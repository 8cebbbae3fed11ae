/* Unit tests for common/http_parser: request lines, headers, bodies, limits,
 * keep-alive rules and pipelining, each fed whole and byte by byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/http_parser.h"
#include "common/mem.h"

#include <stdio.h>
#include <string.h>

/* One request's outcome. */
struct outcome {
    int rc;       /* DONE or the error code */
    int saw_head; /* NOA_HTTP_PARSER_HEAD was reported */
    size_t used;  /* bytes consumed up to DONE / the error */
    int status;
};

static struct noa_http_parser_options opts = {.max_header_bytes = 1024, .max_body_bytes = 64};

/* Feeds s in pieces of `step` bytes (0 = all at once) until DONE or an error. */
static struct outcome run(struct noa_http_parser *p, const char *s, size_t len, size_t step)
{
    struct outcome o = {0};
    size_t off = 0;
    for (;;) {
        size_t n = len - off;
        if (step && n > step)
            n = step;
        size_t used = 99999;
        int rc = noa_http_parser_feed(p, s + off, n, &used);
        assert_true(used <= n);
        off += used;
        if (rc == NOA_HTTP_PARSER_HEAD) {
            assert_false(o.saw_head);
            o.saw_head = 1;
            continue;
        }
        if (rc == NOA_HTTP_PARSER_DONE || rc < 0) {
            o.rc = rc;
            o.used = off;
            o.status = p->status;
            return o;
        }
        assert_int_equal(rc, NOA_HTTP_PARSER_MORE);
        assert_int_equal(used, n); /* MORE means everything was taken */
        if (off == len) {
            o.rc = NOA_HTTP_PARSER_MORE;
            o.used = off;
            return o;
        }
    }
}

/* Parses s whole and byte by byte; both must agree. Leaves p holding the
 * whole-input result. */
static struct outcome parse(struct noa_http_parser *p, const char *s)
{
    size_t len = strlen(s);
    struct noa_http_parser q;
    noa_http_parser_init(&q, &opts);
    struct outcome one = run(&q, s, len, 1);
    noa_http_parser_init(p, &opts);
    struct outcome all = run(p, s, len, 0);
    assert_int_equal(one.rc, all.rc);
    assert_int_equal(one.saw_head, all.saw_head);
    assert_int_equal(one.status, all.status);
    if (all.rc == NOA_HTTP_PARSER_DONE) {
        assert_int_equal(one.used, all.used);
        assert_int_equal(q.body.len, p->body.len);
        assert_true(q.body.len == 0 || memcmp(q.body.data, p->body.data, q.body.len) == 0);
        assert_int_equal(q.head.n_headers, p->head.n_headers);
        assert_int_equal(q.head.keep_alive, p->head.keep_alive);
    }
    noa_http_parser_fini(&q);
    return all;
}

static void expect_error(const char *req, int status)
{
    struct noa_http_parser p;
    struct outcome o = parse(&p, req);
    assert_true(o.rc < 0);
    assert_int_equal(o.status, status);
    assert_int_equal(o.rc, status == 413 || status == 431 ? NOA_ETOOBIG : NOA_EINVAL);
    assert_true(p.reason[0] != '\0');
    /* Errors are sticky. */
    size_t used = 1;
    assert_int_equal(noa_http_parser_feed(&p, "GET", 3, &used), o.rc);
    assert_int_equal(used, 0);
    noa_http_parser_fini(&p);
}

static void expect_ok(const char *req)
{
    struct noa_http_parser p;
    struct outcome o = parse(&p, req);
    assert_int_equal(o.rc, NOA_HTTP_PARSER_DONE);
    noa_http_parser_fini(&p);
}

static void test_simple_get(void **state)
{
    (void)state;
    struct noa_http_parser p;
    const char *req = "GET /loki/api/v1/query?query=%7Bjob%3D%22a%22%7D&limit=5 HTTP/1.1\r\n"
                      "Host: localhost:3100\r\n"
                      "User-Agent: curl/8.0\r\n"
                      "X-Scope-OrgID:   tenant-1  \r\n"
                      "Empty:\r\n"
                      "\r\n";
    struct outcome o = parse(&p, req);
    assert_int_equal(o.rc, NOA_HTTP_PARSER_DONE);
    assert_false(o.saw_head);
    assert_int_equal(o.used, strlen(req));
    assert_int_equal(p.head.method, NOA_HTTP_GET);
    assert_true(noa_str_eq_c(p.head.method_name, "GET"));
    assert_true(noa_str_eq_c(p.head.path, "/loki/api/v1/query"));
    assert_true(noa_str_eq_c(p.head.query, "query=%7Bjob%3D%22a%22%7D&limit=5"));
    assert_true(
        noa_str_eq_c(p.head.target, "/loki/api/v1/query?query=%7Bjob%3D%22a%22%7D&limit=5"));
    assert_int_equal(p.head.minor, 1);
    assert_int_equal(p.head.n_headers, 4);
    assert_true(noa_str_eq_c(p.head.headers[2].name, "X-Scope-OrgID"));
    assert_true(noa_str_eq_c(p.head.headers[2].value, "tenant-1"));
    assert_true(noa_str_eq_c(p.head.headers[3].name, "Empty"));
    assert_int_equal(p.head.headers[3].value.len, 0);
    assert_int_equal(p.head.keep_alive, 1);
    assert_int_equal(p.head.content_length, -1);
    assert_int_equal(p.head.chunked, 0);
    assert_int_equal(p.body.len, 0);
    noa_http_parser_fini(&p);
}

static void test_keep_alive_rules(void **state)
{
    (void)state;
    struct {
        const char *req;
        int keep;
    } cases[] = {
        {"GET / HTTP/1.0\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1},
        {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1},
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", 1},
        {"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 1}, /* 1.x is 1.1 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct noa_http_parser p;
        struct outcome o = parse(&p, cases[i].req);
        assert_int_equal(o.rc, NOA_HTTP_PARSER_DONE);
        assert_int_equal(p.head.keep_alive, cases[i].keep);
        noa_http_parser_fini(&p);
    }
}

static void test_host_rules(void **state)
{
    (void)state;
    expect_error("GET / HTTP/1.1\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400);
    expect_ok("GET / HTTP/1.0\r\n\r\n");
}

static void test_content_length_body(void **state)
{
    (void)state;
    struct noa_http_parser p;
    const char *req = "POST /loki/api/v1/push HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n"
                      "Content-Type: application/json\r\n\r\nhello world";
    struct outcome o = parse(&p, req);
    assert_int_equal(o.rc, NOA_HTTP_PARSER_DONE);
    assert_true(o.saw_head);
    assert_int_equal(p.head.method, NOA_HTTP_POST);
    assert_int_equal(p.head.content_length, 11);
    assert_int_equal(p.body.len, 11);
    assert_memory_equal(p.body.data, "hello world", 11);
    noa_http_parser_fini(&p);

    /* A zero length means no body and no HEAD event. */
    o = parse(&p, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    assert_int_equal(o.rc, NOA_HTTP_PARSER_DONE);
    assert_false(o.saw_head);
    assert_int_equal(p.head.content_length, 0);
    noa_http_parser_fini(&p);

    /* Identical duplicates are accepted (Go does too). */
    expect_ok("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab");
}

static void test_content_length_errors(void **state)
{
    (void)state;
    expect_error("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab",
                 400);
    expect_error("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: +2\r\n\r\nab", 400);
    expect_error("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400);
    expect_error("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2 2\r\n\r\n", 400);
    expect_error("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400);
    expect_error("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400);
    expect_error("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 9999999999999999999\r\n\r\n", 400);
    expect_error("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n",
                 400);
}

static void test_body_limit_before_buffering(void **state)
{
    (void)state;
    struct noa_http_parser p;
    noa_http_parser_init(&p, &opts);
    /* Only the head is fed: the 413 must come before any body byte. */
    const char *head = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 65\r\n\r\n";
    size_t used = 0;
    int rc = noa_http_parser_feed(&p, head, strlen(head), &used);
    assert_int_equal(rc, NOA_ETOOBIG);
    assert_int_equal(p.status, 413);
    assert_int_equal(p.body.cap, 0); /* nothing reserved for it */
    noa_http_parser_fini(&p);

    /* Exactly the limit is fine. */
    char req[256];
    snprintf(req, sizeof(req), "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 64\r\n\r\n%064d", 7);
    expect_ok(req);

    /* Chunked: the running total decides. */
    expect_error("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "20\r\n01234567890123456789012345678901\r\n"
                 "21\r\n012345678901234567890123456789012\r\n0\r\n\r\n",
                 413);
    expect_ok("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
              "20\r\n01234567890123456789012345678901\r\n"
              "20\r\n01234567890123456789012345678901\r\n0\r\n\r\n");
}

static void test_chunked(void **state)
{
    (void)state;
    struct noa_http_parser p;
    const char *req = "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
                      "4\r\nWiki\r\n"
                      "5;name=value;x\r\npedia\r\n"
                      "E  \r\n in\r\n\r\nchunks.\r\n"
                      "0\r\n"
                      "Expires: never\r\n"
                      "X-Trailer: 1\r\n"
                      "\r\n"
                      "GET /next HTTP/1.1\r\n";
    struct outcome o = parse(&p, req);
    assert_int_equal(o.rc, NOA_HTTP_PARSER_DONE);
    assert_true(o.saw_head);
    assert_int_equal(p.head.chunked, 1);
    assert_int_equal(p.head.content_length, -1);
    assert_int_equal(p.body.len, 23);
    assert_memory_equal(p.body.data, "Wikipedia in\r\n\r\nchunks.", 23);
    /* The next request's bytes are left alone. */
    assert_int_equal(o.used, strlen(req) - strlen("GET /next HTTP/1.1\r\n"));
    noa_http_parser_fini(&p);

    /* LF-only chunk lines, as Go accepts them. */
    o = parse(&p, "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "3\nabc\r\n0\n\n");
    assert_int_equal(o.rc, NOA_HTTP_PARSER_DONE);
    assert_int_equal(p.body.len, 3);
    noa_http_parser_fini(&p);
}

static void test_chunked_errors(void **state)
{
    (void)state;
    const char *h = "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    const char *bodies[] = {
        "zz\r\nab\r\n0\r\n\r\n",         /* not hex */
        "\r\n0\r\n\r\n",                 /* empty size */
        " 3\r\nabc\r\n0\r\n\r\n",        /* leading blank */
        "3 4\r\nabc\r\n0\r\n\r\n",       /* junk after the size */
        "3\r\nabcX\r\n0\r\n\r\n",        /* no CRLF after data */
        "3\r\nabc\n0\r\n\r\n",           /* bare LF after data */
        "3\rX\nabc\r\n0\r\n\r\n",        /* CR not followed by LF */
        "10000000000000000\r\n",         /* 17 digits: overflow */
        "3;ext\x01\r\nabc\r\n0\r\n\r\n", /* control byte in an extension */
        ";ext\r\n",                      /* extension without a size */
    };
    char buf[512];
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        snprintf(buf, sizeof(buf), "%s%s", h, bodies[i]);
        expect_error(buf, 400);
    }
    /* 16 digits is still a number, but far over the limit. */
    snprintf(buf, sizeof(buf), "%s%s", h, "ffffffffffffffff\r\n");
    expect_error(buf, 413);
    /* A chunk-size line that never ends. */
    char longline[6000];
    memset(longline, 'a', sizeof(longline));
    memcpy(longline, "1;", 2);
    longline[sizeof(longline) - 1] = '\0';
    char big[7000];
    snprintf(big, sizeof(big), "%s%s", h, longline);
    expect_error(big, 400);
}

static void test_transfer_encoding_unsupported(void **state)
{
    (void)state;
    expect_error("POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
    expect_error("POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501);
    expect_error("POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n",
                 501);
}

static void test_expect(void **state)
{
    (void)state;
    struct noa_http_parser p;
    struct outcome o = parse(&p, "PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
                                 "Content-Length: 3\r\n\r\nabc");
    assert_int_equal(o.rc, NOA_HTTP_PARSER_DONE);
    assert_true(o.saw_head);
    assert_int_equal(p.head.expect_continue, 1);
    assert_int_equal(p.head.method, NOA_HTTP_PUT);
    noa_http_parser_fini(&p);

    o = parse(&p, "POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n");
    assert_int_equal(o.rc, NOA_HTTP_PARSER_DONE);
    assert_int_equal(p.head.expect_continue, 1);
    noa_http_parser_fini(&p);

    /* As Go: a 100-continue without a body, on HTTP/1.0, or any other
     * expectation is answered 417. */
    expect_error("GET /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", 417);
    expect_error("POST /x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\na", 417);
    expect_error("POST /x HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\na",
                 417);
}

static void test_pipelined(void **state)
{
    (void)state;
    const char *two = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
                      "GET /b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
                      "\r\nDELETE /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    size_t len = strlen(two), off = 0;
    struct noa_http_parser p;
    noa_http_parser_init(&p, &opts);
    const char *paths[] = {"/a", "/b", "/c"};
    unsigned methods[] = {NOA_HTTP_POST, NOA_HTTP_GET, NOA_HTTP_DELETE};
    for (int i = 0; i < 3; i++) {
        struct outcome o = run(&p, two + off, len - off, 0);
        assert_int_equal(o.rc, NOA_HTTP_PARSER_DONE);
        off += o.used;
        struct noa_http_head h;
        struct noa_buf body;
        noa_http_parser_take(&p, &h, &body);
        assert_true(noa_str_eq_c(h.path, paths[i]));
        assert_int_equal(h.method, methods[i]);
        assert_int_equal(h.keep_alive, i < 2);
        if (i == 0)
            assert_memory_equal(body.data, "abc", 3);
        if (i == 1)
            assert_true(noa_str_eq_c(h.query, "x=1"));
        /* The taken head outlives the parser's next use. */
        assert_non_null(h.raw);
        assert_true(h.path.p >= h.raw && h.path.p < h.raw + h.raw_len);
        noa_http_head_fini(&h);
        noa_buf_fini(&body);
        assert_false(noa_http_parser_started(&p));
    }
    assert_int_equal(off, len);
    noa_http_parser_fini(&p);
}

static void test_request_line_errors(void **state)
{
    (void)state;
    expect_error("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400);
    expect_error("GET /\r\nHost: a\r\n\r\n", 400);
    expect_error("GET\r\n\r\n", 400);
    expect_error("G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_error("GET / HTTP/1\r\nHost: a\r\n\r\n", 400);
    expect_error("GET / http/1.1\r\nHost: a\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400);
    expect_error("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    expect_error("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505);
    expect_error("GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_error("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_error("GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_error("GET /a%4 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    /* The query is not decoded by the server: bad escapes there are the
     * handler's (form) business, as in Go. */
    expect_ok("GET /a?q=%zz HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_error("\x16\x03\x01\x02\x01\x01\xfc\x03\x03\r\n\r\n", 400); /* TLS hello */
}

static void test_targets(void **state)
{
    (void)state;
    struct noa_http_parser p;
    struct outcome o = parse(&p, "GET http://loki:3100/loki/api/v1/labels?since=1h HTTP/1.1\r\n"
                                 "Host: loki\r\n\r\n");
    assert_int_equal(o.rc, NOA_HTTP_PARSER_DONE);
    assert_true(noa_str_eq_c(p.head.path, "/loki/api/v1/labels"));
    assert_true(noa_str_eq_c(p.head.query, "since=1h"));
    noa_http_parser_fini(&p);

    o = parse(&p, "GET http://loki HTTP/1.1\r\nHost: loki\r\n\r\n");
    assert_int_equal(o.rc, NOA_HTTP_PARSER_DONE);
    assert_true(noa_str_eq_c(p.head.path, "/"));
    noa_http_parser_fini(&p);

    o = parse(&p, "OPTIONS * HTTP/1.1\r\nHost: loki\r\n\r\n");
    assert_int_equal(o.rc, NOA_HTTP_PARSER_DONE);
    assert_int_equal(p.head.method, NOA_HTTP_OPTIONS);
    assert_true(noa_str_eq_c(p.head.path, "*"));
    noa_http_parser_fini(&p);

    o = parse(&p, "GET /a%20b/c?x HTTP/1.1\r\nHost: loki\r\n\r\n");
    assert_int_equal(o.rc, NOA_HTTP_PARSER_DONE);
    assert_true(noa_str_eq_c(p.head.path, "/a%20b/c")); /* raw */
    assert_true(noa_str_eq_c(p.head.query, "x"));
    noa_http_parser_fini(&p);
}

static void test_methods(void **state)
{
    (void)state;
    struct {
        const char *line;
        unsigned bit;
    } cases[] = {
        {"GET", NOA_HTTP_GET},         {"HEAD", NOA_HTTP_HEAD},      {"POST", NOA_HTTP_POST},
        {"PUT", NOA_HTTP_PUT},         {"DELETE", NOA_HTTP_DELETE},  {"PATCH", NOA_HTTP_PATCH},
        {"OPTIONS", NOA_HTTP_OPTIONS}, {"PROPFIND", NOA_HTTP_OTHER}, {"get", NOA_HTTP_OTHER},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char req[128];
        snprintf(req, sizeof(req), "%s / HTTP/1.1\r\nHost: a\r\n\r\n", cases[i].line);
        struct noa_http_parser p;
        struct outcome o = parse(&p, req);
        assert_int_equal(o.rc, NOA_HTTP_PARSER_DONE);
        assert_int_equal(p.head.method, cases[i].bit);
        assert_true(noa_str_eq_c(p.head.method_name, cases[i].line));
        noa_http_parser_fini(&p);
    }
}

static void test_header_errors(void **state)
{
    (void)state;
    expect_error("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  folded\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x01b\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x7f\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nHost: a\r\n: empty-name\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nHost: a\r\nX(A): 1\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\r\n\r\n", 400);
    /* A tab inside a value and UTF-8 bytes are fine. */
    expect_ok("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\tb \xc3\xa9\r\n\r\n");
}

static void test_line_endings_and_leading_blank_lines(void **state)
{
    (void)state;
    struct noa_http_parser p;
    struct outcome o = parse(&p, "\r\n\r\nGET /x HTTP/1.1\nHost: a\nX: y\n\n");
    assert_int_equal(o.rc, NOA_HTTP_PARSER_DONE);
    assert_true(noa_str_eq_c(p.head.path, "/x"));
    assert_int_equal(p.head.n_headers, 2);
    assert_true(noa_str_eq_c(p.head.headers[1].value, "y"));
    noa_http_parser_fini(&p);
}

static void test_header_limit(void **state)
{
    (void)state;
    char req[2048];
    /* Exactly at the limit (1024 bytes including the blank line) passes. */
    const char *pre = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
    size_t fill = 1024 - strlen(pre) - 4;
    memcpy(req, pre, strlen(pre));
    memset(req + strlen(pre), 'v', fill);
    memcpy(req + strlen(pre) + fill, "\r\n\r\n", 5);
    assert_int_equal(strlen(req), 1024);
    expect_ok(req);
    /* One byte more is a 431. */
    memset(req + strlen(pre), 'v', fill + 1);
    memcpy(req + strlen(pre) + fill + 1, "\r\n\r\n", 5);
    expect_error(req, 431);
    /* A head that never ends is a 431 once it passes the limit. */
    memset(req, 'a', sizeof(req) - 1);
    memcpy(req, "GET /", 5);
    req[sizeof(req) - 1] = '\0';
    expect_error(req, 431);
    /* So are endless blank lines before the request line. */
    memset(req, '\n', sizeof(req) - 1);
    expect_error(req, 431);
}

static void test_incomplete(void **state)
{
    (void)state;
    struct noa_http_parser p;
    noa_http_parser_init(&p, &opts);
    assert_false(noa_http_parser_started(&p));
    const char *part = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab";
    struct outcome o = run(&p, part, strlen(part), 0);
    assert_int_equal(o.rc, NOA_HTTP_PARSER_MORE);
    assert_true(o.saw_head);
    assert_true(noa_http_parser_started(&p));
    size_t used;
    assert_int_equal(noa_http_parser_feed(&p, "cdeGET", 6, &used), NOA_HTTP_PARSER_DONE);
    assert_int_equal(used, 3);
    /* DONE is repeated without consuming until the request is taken. */
    assert_int_equal(noa_http_parser_feed(&p, "GET", 3, &used), NOA_HTTP_PARSER_DONE);
    assert_int_equal(used, 0);
    assert_memory_equal(p.body.data, "abcde", 5);
    noa_http_parser_reset(&p);
    assert_false(noa_http_parser_started(&p));
    assert_int_equal(noa_http_parser_feed(&p, "", 0, &used), NOA_HTTP_PARSER_MORE);
    noa_http_parser_fini(&p);
}

static void test_body_allocation_failure(void **state)
{
    (void)state;
    struct noa_http_parser p;
    noa_http_parser_init(&p, &opts);
    const char *head = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r";
    size_t used;
    assert_int_equal(noa_http_parser_feed(&p, head, strlen(head), &used), NOA_HTTP_PARSER_MORE);
    /* The last byte needs no room in the head buffer, so the next two
     * allocations are the header array (allowed) and the body (failed). */
    assert_true(p.rawbuf.cap - p.rawbuf.len > 1);
    noa_mem_fail_after(1);
    int rc = noa_http_parser_feed(&p, "\n", 1, &used);
    noa_mem_fail_after(-1);
    assert_int_equal(rc, NOA_ENOMEM);
    assert_int_equal(p.status, 503);
    assert_int_equal(noa_http_parser_feed(&p, "x", 1, &used), NOA_ENOMEM);
    noa_http_parser_fini(&p);
}

static void test_status_text(void **state)
{
    (void)state;
    assert_string_equal(noa_http_parser_status_text(404), "Not Found");
    assert_string_equal(noa_http_parser_status_text(413), "Request Entity Too Large");
    assert_string_equal(noa_http_parser_status_text(431), "Request Header Fields Too Large");
    assert_null(noa_http_parser_status_text(299));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_keep_alive_rules),
        cmocka_unit_test(test_host_rules),
        cmocka_unit_test(test_content_length_body),
        cmocka_unit_test(test_content_length_errors),
        cmocka_unit_test(test_body_limit_before_buffering),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_chunked_errors),
        cmocka_unit_test(test_transfer_encoding_unsupported),
        cmocka_unit_test(test_expect),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_request_line_errors),
        cmocka_unit_test(test_targets),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_header_errors),
        cmocka_unit_test(test_line_endings_and_leading_blank_lines),
        cmocka_unit_test(test_header_limit),
        cmocka_unit_test(test_incomplete),
        cmocka_unit_test(test_body_allocation_failure),
        cmocka_unit_test(test_status_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
