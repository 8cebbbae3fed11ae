/*
 * Tests for common/websocket: the RFC 6455 accept key vector, frame
 * header parsing (every split point, every violation), round trips of
 * masked frames, and a real server (common/http_server on 127.0.0.1, loop
 * on the main thread) driven by a raw-socket client thread: handshake and
 * refusals, echo of text, fragmented and large messages, ping -> pong,
 * close echo, garbage frames closed with the right code, client vanishing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/http_server.h"
#include "common/mem.h"
#include "common/websocket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* ---- pure functions ---------------------------------------------------- */

static void test_accept_key_rfc_vector(void **state)
{
    (void)state;
    char out[NOA_WEBSOCKET_ACCEPT_LEN];
    noa_websocket_accept_key(NOA_STR("dGhlIHNhbXBsZSBub25jZQ=="), out);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_frame_round_trip(void **state)
{
    (void)state;
    static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t sizes[] = {0, 5, 125, 126, 65535, 65536, 70000};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t n = sizes[k];
        char *payload = malloc(n + 1);
        for (size_t i = 0; i < n; i++)
            payload[i] = (char)('a' + i % 26);
        struct noa_buf b = {0};
        noa_websocket_put_frame(&b, NOA_WEBSOCKET_TEXT, payload, n, mask);
        /* Every proper prefix of the header asks for more bytes. */
        struct noa_websocket_frame f;
        size_t hl = n < 126 ? 6 : n <= 65535 ? 8 : 14;
        for (size_t cut = 0; cut < hl; cut++)
            assert_int_equal(noa_websocket_parse_header((uint8_t *)b.data, cut, 1, 1 << 20, &f), 0);
        assert_int_equal(noa_websocket_parse_header((uint8_t *)b.data, b.len, 1, 1 << 20, &f), 1);
        assert_int_equal(f.header_len, hl);
        assert_int_equal(f.len, n);
        assert_true(f.fin);
        assert_true(f.masked);
        assert_int_equal(f.opcode, NOA_WEBSOCKET_TEXT);
        assert_int_equal(b.len, hl + n);
        uint8_t *p = (uint8_t *)b.data + hl;
        if (n)
            assert_memory_not_equal(p, payload, n < 4 ? n : 4);
        noa_websocket_unmask(p, n, f.mask, 0);
        if (n)
            assert_memory_equal(p, payload, n);
        noa_buf_fini(&b);
        free(payload);
    }
    /* The reference example of RFC 6455 5.7: a masked "Hello". */
    static const uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                    0x7f, 0x9f, 0x4d, 0x51, 0x58};
    struct noa_buf b = {0};
    noa_websocket_put_frame(&b, NOA_WEBSOCKET_TEXT, "Hello", 5, mask);
    assert_int_equal(b.len, sizeof(hello));
    assert_memory_equal(b.data, hello, sizeof(hello));
    noa_buf_fini(&b);
    /* Unmasked server frame. */
    noa_websocket_put_frame(&b, NOA_WEBSOCKET_TEXT, "Hello", 5, NULL);
    static const uint8_t plain[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
    assert_int_equal(b.len, sizeof(plain));
    assert_memory_equal(b.data, plain, sizeof(plain));
    noa_buf_fini(&b);
    /* Unmasking from an offset continues the mask cycle. */
    uint8_t x[6] = {1, 2, 3, 4, 5, 6}, y[6];
    memcpy(y, x, 6);
    noa_websocket_unmask(x, 6, mask, 0);
    noa_websocket_unmask(y, 3, mask, 0);
    noa_websocket_unmask(y + 3, 3, mask, 3);
    assert_memory_equal(x, y, 6);
}

static int parse(const uint8_t *d, size_t n)
{
    struct noa_websocket_frame f;
    return noa_websocket_parse_header(d, n, 1, 1000, &f);
}

static void test_bad_frame_headers(void **state)
{
    (void)state;
    const int P = -NOA_WEBSOCKET_CLOSE_PROTOCOL;
    uint8_t rsv[] = {0xC1, 0x80, 0, 0, 0, 0};
    assert_int_equal(parse(rsv, sizeof(rsv)), P);
    uint8_t opcode3[] = {0x83, 0x80, 0, 0, 0, 0};
    assert_int_equal(parse(opcode3, sizeof(opcode3)), P);
    uint8_t opcodeB[] = {0x8B, 0x80, 0, 0, 0, 0};
    assert_int_equal(parse(opcodeB, sizeof(opcodeB)), P);
    uint8_t unmasked[] = {0x81, 0x01, 'x'};
    assert_int_equal(parse(unmasked, sizeof(unmasked)), P);
    struct noa_websocket_frame f;
    assert_int_equal(noa_websocket_parse_header(unmasked, sizeof(unmasked), 0, 1000, &f), 1);
    uint8_t frag_ping[] = {0x09, 0x80, 0, 0, 0, 0};
    assert_int_equal(parse(frag_ping, sizeof(frag_ping)), P);
    uint8_t long_ping[] = {0x89, 0xFE, 0x00, 0x7E, 0, 0, 0, 0};
    assert_int_equal(parse(long_ping, sizeof(long_ping)), P);
    uint8_t nonminimal16[] = {0x81, 0xFE, 0x00, 0x05, 0, 0, 0, 0};
    assert_int_equal(parse(nonminimal16, sizeof(nonminimal16)), P);
    uint8_t nonminimal64[] = {0x81, 0xFF, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0, 0, 0, 0};
    assert_int_equal(parse(nonminimal64, sizeof(nonminimal64)), P);
    uint8_t huge[] = {0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(parse(huge, sizeof(huge)), P);
    uint8_t toobig[] = {0x82, 0xFE, 0x03, 0xE9, 0, 0, 0, 0}; /* 1001 > 1000 */
    assert_int_equal(parse(toobig, sizeof(toobig)), -NOA_WEBSOCKET_CLOSE_TOO_BIG);
    uint8_t fits[] = {0x82, 0xFE, 0x03, 0xE8, 0, 0, 0, 0}; /* 1000 */
    assert_int_equal(parse(fits, sizeof(fits)), 1);
    /* Random bytes never crash the parser. */
    srand(7);
    for (int i = 0; i < 20000; i++) {
        uint8_t r[16];
        size_t n = (size_t)(rand() % 17);
        for (size_t k = 0; k < n; k++)
            r[k] = (uint8_t)rand();
        int rc = parse(r, n);
        assert_true(rc == 0 || rc == 1 || rc == P || rc == -NOA_WEBSOCKET_CLOSE_TOO_BIG);
    }
}

/* ---- a live server ----------------------------------------------------- */

struct fix {
    uv_loop_t loop;
    uv_async_t done;
    struct noa_http_server *srv;
    int port;
    pthread_t th;
    void (*client)(struct fix *f);
    /* server side observations */
    int closed_code; /* from closed_cb; 0 when it has not run */
    int accepted;
    int messages;
    /* client side observations */
    char status_line[256];
    char headers[2048];
    char body[256];
    int got_op[16];
    char got[16][256];
    size_t got_len[16];
    int n_got;
    int eof;
    size_t big_len;
};

static void on_message(struct noa_websocket *ws, int opcode, const char *data, size_t len,
                       void *ctx)
{
    struct fix *f = ctx;
    f->messages++;
    if (len == 8 && !memcmp(data, "close-me", 8)) {
        noa_websocket_close(ws, NOA_WEBSOCKET_CLOSE_INTERNAL, "bye now");
        return;
    }
    if (len == 8 && !memcmp(data, "abort-me", 8)) {
        noa_websocket_abort(ws);
        return;
    }
    noa_websocket_send(ws, opcode, data, len);
}

static void on_closed(struct noa_websocket *ws, int code, void *ctx)
{
    (void)ws;
    struct fix *f = ctx;
    f->closed_code = code;
}

static void ws_handler(struct noa_http_request *req, void *ctx)
{
    struct fix *f = ctx;
    struct noa_websocket_options o = {
        .max_message = 100000, .message_cb = on_message, .closed_cb = on_closed, .ctx = f};
    struct noa_websocket *ws;
    if (noa_websocket_accept(req, &o, &ws) == 0)
        f->accepted++;
}

static void on_server_closed(void *ctx)
{
    (void)ctx;
}

static void on_done(uv_async_t *a)
{
    struct fix *f = a->data;
    noa_http_server_close(f->srv, on_server_closed, f);
    uv_close((uv_handle_t *)&f->done, NULL);
}

static void *client_main(void *arg)
{
    struct fix *f = arg;
    f->client(f);
    uv_async_send(&f->done);
    return NULL;
}

static void run(struct fix *f, void (*client)(struct fix *f))
{
    memset(f, 0, sizeof(*f));
    f->client = client;
    assert_int_equal(uv_loop_init(&f->loop), 0);
    struct noa_http_server_options o = {.host = "127.0.0.1"};
    assert_int_equal(noa_http_server_new(&f->loop, &o, &f->srv), 0);
    assert_int_equal(noa_http_server_route(f->srv, NOA_HTTP_GET, "/ws", NULL, ws_handler, f), 0);
    assert_int_equal(noa_http_server_listen(f->srv), 0);
    f->port = noa_http_server_port(f->srv);
    uv_async_init(&f->loop, &f->done, on_done);
    f->done.data = f;
    pthread_create(&f->th, NULL, client_main, f);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    pthread_join(f->th, NULL);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* client helpers (client thread) */

struct cl {
    int fd;
    uint8_t buf[1 << 18];
    size_t len;
};

static int cl_open(struct cl *c, int port)
{
    c->len = 0;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {5, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    return connect(c->fd, (struct sockaddr *)&a, sizeof(a));
}

static void cl_send(struct cl *c, const void *p, size_t n)
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

static int cl_fill(struct cl *c)
{
    if (c->len == sizeof(c->buf))
        return 0;
    ssize_t k = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
    if (k <= 0)
        return 0;
    c->len += (size_t)k;
    return 1;
}

static void cl_consume(struct cl *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Reads the response head (and a short body when Content-Length says so). */
static void cl_read_head(struct cl *c, struct fix *f)
{
    uint8_t *e;
    while (!(e = memmem(c->buf, c->len, "\r\n\r\n", 4)))
        if (!cl_fill(c))
            return;
    size_t hl = (size_t)(e - c->buf) + 4;
    char *head = strndup((char *)c->buf, hl);
    char *nl = strstr(head, "\r\n");
    snprintf(f->status_line, sizeof(f->status_line), "%.*s", (int)(nl - head), head);
    snprintf(f->headers, sizeof(f->headers), "%s", nl + 2);
    cl_consume(c, hl);
    char *cl = strcasestr(f->headers, "Content-Length: ");
    if (cl) {
        size_t n = (size_t)atol(cl + 16);
        while (c->len < n)
            if (!cl_fill(c))
                break;
        snprintf(f->body, sizeof(f->body), "%.*s", (int)(n < c->len ? n : c->len), c->buf);
    }
    free(head);
}

static void cl_handshake(struct cl *c, struct fix *f, const char *extra)
{
    char req[1024];
    snprintf(req, sizeof(req),
             "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, "
             "Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n%s\r\n",
             extra ? extra : "Sec-WebSocket-Version: 13\r\n");
    cl_send(c, req, strlen(req));
    cl_read_head(c, f);
}

static void cl_frame(struct cl *c, int fin, int opcode, const void *p, size_t n)
{
    static const uint8_t mask[4] = {1, 2, 3, 4};
    struct noa_buf b = {0};
    noa_websocket_put_frame(&b, opcode, p, n, mask);
    if (!fin)
        b.data[0] &= 0x7F;
    cl_send(c, b.data, b.len);
    noa_buf_fini(&b);
}

/* Reads one server frame into f->got[]; 0 at EOF/timeout. */
static int cl_read_frame(struct cl *c, struct fix *f)
{
    struct noa_websocket_frame fr;
    for (;;) {
        int rc = noa_websocket_parse_header(c->buf, c->len, 0, 1 << 20, &fr);
        if (rc == 1 && c->len >= fr.header_len + fr.len)
            break;
        if (rc < 0 || !cl_fill(c)) {
            f->eof = 1;
            return 0;
        }
    }
    if (fr.masked)
        return 0; /* servers never mask: fail the test through got_op */
    int i = f->n_got < 16 ? f->n_got++ : 15;
    f->got_op[i] = fr.opcode;
    f->got_len[i] = (size_t)fr.len;
    memcpy(f->got[i], c->buf + fr.header_len, fr.len < 255 ? fr.len : 255);
    if (fr.len > 255)
        f->big_len = (size_t)fr.len;
    cl_consume(c, fr.header_len + (size_t)fr.len);
    return 1;
}

static void cl_wait_eof(struct cl *c, struct fix *f)
{
    while (cl_fill(c))
        c->len = 0;
    char x;
    f->eof = recv(c->fd, &x, 1, 0) == 0;
}

/* ---- scenarios ---------------------------------------------------------- */

static void client_echo(struct fix *f)
{
    struct cl *c = calloc(1, sizeof(*c));
    if (cl_open(c, f->port) != 0)
        goto out;
    cl_handshake(c, f, NULL);
    cl_frame(c, 1, NOA_WEBSOCKET_TEXT, "hello", 5);
    cl_read_frame(c, f);
    /* fragmented: "frag" + "men" + "ted" with a ping in between */
    cl_frame(c, 0, NOA_WEBSOCKET_TEXT, "frag", 4);
    cl_frame(c, 0, NOA_WEBSOCKET_CONTINUATION, "men", 3);
    cl_frame(c, 1, NOA_WEBSOCKET_PING, "pp", 2);
    cl_frame(c, 1, NOA_WEBSOCKET_CONTINUATION, "ted", 3);
    cl_read_frame(c, f); /* pong */
    cl_read_frame(c, f); /* fragmented */
    /* a large binary message, sent in two writes split inside the header */
    size_t n = 70000;
    char *big = malloc(n);
    memset(big, 'z', n);
    struct noa_buf b = {0};
    static const uint8_t mask[4] = {9, 8, 7, 6};
    noa_websocket_put_frame(&b, NOA_WEBSOCKET_BINARY, big, n, mask);
    cl_send(c, b.data, 5);
    usleep(20000);
    cl_send(c, b.data + 5, b.len - 5);
    noa_buf_fini(&b);
    free(big);
    cl_read_frame(c, f);
    /* close handshake: our 1000 is echoed, then the server closes */
    uint8_t cp[] = {0x03, 0xE8, 'o', 'k'};
    cl_frame(c, 1, NOA_WEBSOCKET_CLOSE, cp, sizeof(cp));
    cl_read_frame(c, f);
    cl_wait_eof(c, f);
out:
    close(c->fd);
    free(c);
}

static void test_server_echo(void **state)
{
    (void)state;
    struct fix *f = calloc(1, sizeof(*f));
    run(f, client_echo);
    assert_string_equal(f->status_line, "HTTP/1.1 101 Switching Protocols");
    assert_non_null(strstr(f->headers, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert_non_null(strstr(f->headers, "Upgrade: websocket\r\n"));
    assert_non_null(strstr(f->headers, "Connection: Upgrade\r\n"));
    assert_int_equal(f->accepted, 1);
    assert_int_equal(f->n_got, 5);
    assert_int_equal(f->got_op[0], NOA_WEBSOCKET_TEXT);
    assert_int_equal(f->got_len[0], 5);
    assert_memory_equal(f->got[0], "hello", 5);
    assert_int_equal(f->got_op[1], NOA_WEBSOCKET_PONG);
    assert_memory_equal(f->got[1], "pp", 2);
    assert_int_equal(f->got_op[2], NOA_WEBSOCKET_TEXT);
    assert_int_equal(f->got_len[2], 10);
    assert_memory_equal(f->got[2], "fragmented", 10);
    assert_int_equal(f->got_op[3], NOA_WEBSOCKET_BINARY);
    assert_int_equal(f->big_len, 70000);
    assert_int_equal(f->got_op[4], NOA_WEBSOCKET_CLOSE);
    assert_int_equal(f->got_len[4], 2);
    assert_memory_equal(f->got[4], "\x03\xE8", 2);
    assert_true(f->eof);
    assert_int_equal(f->closed_code, 1000);
    assert_int_equal(f->messages, 3);
    free(f);
}

/* Each garbage sequence gets a close frame with its code, then EOF. */
static const struct {
    uint8_t bytes[16];
    size_t n;
    int code;
} garbage[] = {
    {{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'}, 7, 1002},                  /* unmasked */
    {{0xF1, 0x80, 1, 2, 3, 4}, 6, 1002},                               /* RSV bits */
    {{0x83, 0x80, 1, 2, 3, 4}, 6, 1002},                               /* opcode 3 */
    {{0x80, 0x81, 1, 2, 3, 4, 'x'}, 7, 1002},                          /* continuation first */
    {{0x09, 0x80, 1, 2, 3, 4}, 6, 1002},                               /* fragmented ping */
    {{0x88, 0x81, 0, 0, 0, 0, 'x'}, 7, 1002},                          /* 1-byte close */
    {{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xED}, 8, 1002},                   /* close code 1005 */
    {{0x82, 0xFF, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4}, 14, 1009},   /* 1 MiB > limit */
    {{0x01, 0x81, 0, 0, 0, 0, 'a', 0x81, 0x80, 0, 0, 0, 0}, 13, 1002}, /* new text mid-message */
};
static size_t garbage_i;

static void client_garbage(struct fix *f)
{
    struct cl *c = calloc(1, sizeof(*c));
    if (cl_open(c, f->port) != 0)
        goto out;
    cl_handshake(c, f, NULL);
    cl_send(c, garbage[garbage_i].bytes, garbage[garbage_i].n);
    cl_read_frame(c, f);
    cl_wait_eof(c, f);
out:
    close(c->fd);
    free(c);
}

static void test_server_garbage(void **state)
{
    (void)state;
    for (garbage_i = 0; garbage_i < sizeof(garbage) / sizeof(garbage[0]); garbage_i++) {
        struct fix *f = calloc(1, sizeof(*f));
        run(f, client_garbage);
        assert_int_equal(f->accepted, 1);
        assert_int_equal(f->n_got, 1);
        assert_int_equal(f->got_op[0], NOA_WEBSOCKET_CLOSE);
        assert_int_equal(f->got_len[0], 2);
        int code = (uint8_t)f->got[0][0] << 8 | (uint8_t)f->got[0][1];
        assert_int_equal(code, garbage[garbage_i].code);
        assert_int_equal(f->closed_code, garbage[garbage_i].code);
        assert_true(f->eof);
        assert_int_equal(f->messages, 0);
        free(f);
    }
}

static const char *bad_extra;
static const char *bad_raw;

static void client_bad(struct fix *f)
{
    struct cl *c = calloc(1, sizeof(*c));
    if (cl_open(c, f->port) != 0)
        goto out;
    if (bad_raw) {
        cl_send(c, bad_raw, strlen(bad_raw));
        cl_read_head(c, f);
    } else {
        cl_handshake(c, f, bad_extra);
    }
out:
    close(c->fd);
    free(c);
}

static void test_bad_handshakes(void **state)
{
    (void)state;
    const char *extras[] = {
        "", /* no version */
        "Sec-WebSocket-Version: 8\r\n",
        "Sec-WebSocket-Version: 7, 8\r\n",
    };
    for (size_t i = 0; i < 3; i++) {
        struct fix *f = calloc(1, sizeof(*f));
        bad_extra = extras[i];
        bad_raw = NULL;
        run(f, client_bad);
        assert_string_equal(f->status_line, "HTTP/1.1 400 Bad Request");
        assert_string_equal(f->body, "Bad Request\n");
        assert_non_null(strstr(f->headers, "Sec-Websocket-Version: 13\r\n"));
        assert_int_equal(f->accepted, 0);
        free(f);
    }
    const char *raws[] = {
        /* no Connection: upgrade */
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        /* no Upgrade: websocket */
        "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        /* key missing */
        "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n",
        /* key of 15 bytes */
        "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25j\r\n\r\n",
        /* key not base64 */
        "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub2%jZQ==\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(raws) / sizeof(raws[0]); i++) {
        struct fix *f = calloc(1, sizeof(*f));
        bad_raw = raws[i];
        run(f, client_bad);
        assert_string_equal(f->status_line, "HTTP/1.1 400 Bad Request");
        assert_string_equal(f->body, "Bad Request\n");
        assert_int_equal(f->accepted, 0);
        free(f);
    }
    /* HEAD reaches the GET route and gets gorilla's 405. */
    struct fix *f = calloc(1, sizeof(*f));
    bad_raw = "HEAD /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
              "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    run(f, client_bad);
    assert_string_equal(f->status_line, "HTTP/1.1 405 Method Not Allowed");
    free(f);
    bad_raw = NULL;
}

/* The server closes with a reason; the client just vanishes in another. */
static void client_server_close(struct fix *f)
{
    struct cl *c = calloc(1, sizeof(*c));
    if (cl_open(c, f->port) != 0)
        goto out;
    cl_handshake(c, f, NULL);
    cl_frame(c, 1, NOA_WEBSOCKET_TEXT, "close-me", 8);
    cl_read_frame(c, f);
    cl_wait_eof(c, f);
out:
    close(c->fd);
    free(c);
}

static void client_abort(struct fix *f)
{
    struct cl *c = calloc(1, sizeof(*c));
    if (cl_open(c, f->port) != 0)
        goto out;
    cl_handshake(c, f, NULL);
    cl_frame(c, 1, NOA_WEBSOCKET_TEXT, "abort-me", 8);
    cl_read_frame(c, f); /* none: EOF */
out:
    close(c->fd);
    free(c);
}

static void client_vanish(struct fix *f)
{
    struct cl *c = calloc(1, sizeof(*c));
    if (cl_open(c, f->port) != 0)
        goto out;
    /* the handshake and a first frame in one write: pipelined bytes reach
     * the websocket too */
    static const char req[] =
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    struct noa_buf b = {0};
    noa_buf_append(&b, req, sizeof(req) - 1);
    static const uint8_t mask[4] = {5, 6, 7, 8};
    noa_websocket_put_frame(&b, NOA_WEBSOCKET_TEXT, "early", 5, mask);
    cl_send(c, b.data, b.len);
    noa_buf_fini(&b);
    cl_read_head(c, f);
    cl_read_frame(c, f);
out:
    close(c->fd);
    free(c);
    usleep(100000); /* let the server notice before the test closes it */
}

static void test_server_close_and_vanish(void **state)
{
    (void)state;
    struct fix *f = calloc(1, sizeof(*f));
    run(f, client_server_close);
    assert_int_equal(f->n_got, 1);
    assert_int_equal(f->got_op[0], NOA_WEBSOCKET_CLOSE);
    assert_int_equal(f->got_len[0], 9);
    assert_memory_equal(f->got[0],
                        "\x03\xF3"
                        "bye now",
                        9);
    assert_true(f->eof);
    assert_int_equal(f->closed_code, 0); /* closed by us: no callback */
    free(f);

    f = calloc(1, sizeof(*f));
    run(f, client_abort);
    assert_int_equal(f->n_got, 0);
    assert_true(f->eof);
    assert_int_equal(f->closed_code, 0);
    free(f);

    f = calloc(1, sizeof(*f));
    run(f, client_vanish);
    assert_string_equal(f->status_line, "HTTP/1.1 101 Switching Protocols");
    assert_int_equal(f->n_got, 1);
    assert_memory_equal(f->got[0], "early", 5);
    assert_int_equal(f->closed_code, NOA_WEBSOCKET_CLOSE_ABNORMAL);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key_rfc_vector),   cmocka_unit_test(test_frame_round_trip),
        cmocka_unit_test(test_bad_frame_headers),       cmocka_unit_test(test_server_echo),
        cmocka_unit_test(test_server_garbage),          cmocka_unit_test(test_bad_handshakes),
        cmocka_unit_test(test_server_close_and_vanish),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
