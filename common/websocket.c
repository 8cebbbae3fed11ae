/*
 * RFC 6455 server side: handshake checks as gorilla/websocket words them,
 * the accept key, frame parsing and writing, and a connection object that
 * reassembles fragments, answers pings, echoes closes and refuses garbage
 * with the right close code. Owns each struct noa_websocket and its input
 * buffers. Loop thread (the frame helpers are pure).
 */
#include "common/websocket.h"

#include "common/err.h"
#include "common/mem.h"
#include "common/sha1.h"

#include <string.h>
#include <strings.h>

#define DEFAULT_MAX_MESSAGE ((size_t)64 << 10)
/* Pongs are skipped while this much output waits for the client. */
#define PONG_QUEUE_LIMIT ((size_t)1 << 20)

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* ---- handshake ---------------------------------------------------------- */

static size_t base64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

void noa_websocket_accept_key(struct noa_str key, char out[NOA_WEBSOCKET_ACCEPT_LEN])
{
    struct noa_sha1 s;
    uint8_t d[NOA_SHA1_LEN];
    noa_sha1_init(&s);
    noa_sha1_update(&s, key.p, key.len);
    noa_sha1_update(&s, ws_guid, sizeof(ws_guid) - 1);
    noa_sha1_final(&s, d);
    base64_encode(d, sizeof(d), out);
}

static int is_b64(char c)
{
    return c && strchr(b64, c) != NULL;
}

/* Go's base64.StdEncoding decoding to exactly 16 bytes: 22 symbols and
 * "==" (Go's non-strict decoder tolerates stray trailing bits). */
static int valid_challenge_key(const struct noa_str *k)
{
    if (!k || k->len != 24 || k->p[22] != '=' || k->p[23] != '=')
        return 0;
    for (size_t i = 0; i < 22; i++)
        if (!is_b64(k->p[i]))
            return 0;
    return 1;
}

/* gorilla's tokenListContainsValue: any header named name whose
 * comma-separated tokens include value, case-insensitively. */
static int header_has_token(const struct noa_http_request *req, const char *name, const char *value)
{
    size_t vl = strlen(value);
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct noa_http_header *h = &req->headers[i];
        if (h->name.len != strlen(name) || strncasecmp(h->name.p, name, h->name.len) != 0)
            continue;
        const char *p = h->value.p, *end = p + h->value.len;
        while (p <= end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *te = comma ? comma : end;
            const char *ts = p;
            while (ts < te && (*ts == ' ' || *ts == '\t'))
                ts++;
            const char *tz = te;
            while (tz > ts && (tz[-1] == ' ' || tz[-1] == '\t'))
                tz--;
            if ((size_t)(tz - ts) == vl && strncasecmp(ts, value, vl) == 0)
                return 1;
            if (!comma)
                break;
            p = comma + 1;
        }
    }
    return 0;
}

int noa_websocket_check(const struct noa_http_request *req, const char **reason)
{
    if (!header_has_token(req, "Connection", "upgrade")) {
        *reason = "websocket: the client is not using the websocket protocol: 'upgrade' token "
                  "not found in 'Connection' header";
        return 400;
    }
    if (!header_has_token(req, "Upgrade", "websocket")) {
        *reason = "websocket: the client is not using the websocket protocol: 'websocket' token "
                  "not found in 'Upgrade' header";
        return 400;
    }
    if (req->method != NOA_HTTP_GET) {
        *reason = "websocket: the client is not using the websocket protocol: request method is "
                  "not GET";
        return 405;
    }
    if (!header_has_token(req, "Sec-Websocket-Version", "13")) {
        *reason = "websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header";
        return 400;
    }
    if (!valid_challenge_key(noa_http_request_header(req, "Sec-Websocket-Key"))) {
        *reason = "websocket: not a websocket handshake: 'Sec-WebSocket-Key' header must be "
                  "Base64 encoded value of 16-byte length";
        return 400;
    }
    *reason = NULL;
    return 0;
}

/* ---- frames ------------------------------------------------------------- */

int noa_websocket_parse_header(const uint8_t *d, size_t n, int require_mask, uint64_t max_payload,
                               struct noa_websocket_frame *f)
{
    if (n < 2)
        return 0;
    f->fin = d[0] >> 7;
    f->opcode = d[0] & 0x0F;
    f->masked = d[1] >> 7;
    if (d[0] & 0x70) /* RSV1-3: no extension was negotiated */
        return -NOA_WEBSOCKET_CLOSE_PROTOCOL;
    switch (f->opcode) {
    case NOA_WEBSOCKET_CONTINUATION:
    case NOA_WEBSOCKET_TEXT:
    case NOA_WEBSOCKET_BINARY:
    case NOA_WEBSOCKET_CLOSE:
    case NOA_WEBSOCKET_PING:
    case NOA_WEBSOCKET_PONG:
        break;
    default:
        return -NOA_WEBSOCKET_CLOSE_PROTOCOL;
    }
    if (require_mask && !f->masked)
        return -NOA_WEBSOCKET_CLOSE_PROTOCOL;
    int control = f->opcode >= NOA_WEBSOCKET_CLOSE;
    uint64_t len = d[1] & 0x7F;
    size_t hl = 2;
    if (control && (!f->fin || len > NOA_WEBSOCKET_MAX_CONTROL))
        return -NOA_WEBSOCKET_CLOSE_PROTOCOL;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = (uint64_t)d[2] << 8 | d[3];
        if (len < 126)
            return -NOA_WEBSOCKET_CLOSE_PROTOCOL;
        hl = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | d[2 + i];
        if (len >> 63 || len <= 0xFFFF)
            return -NOA_WEBSOCKET_CLOSE_PROTOCOL;
        hl = 10;
    }
    if (f->masked) {
        if (n < hl + 4)
            return 0;
        memcpy(f->mask, d + hl, 4);
        hl += 4;
    } else {
        memset(f->mask, 0, 4);
    }
    if (!control && len > max_payload)
        return -NOA_WEBSOCKET_CLOSE_TOO_BIG;
    f->len = len;
    f->header_len = hl;
    return 1;
}

void noa_websocket_unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset)
{
    for (size_t i = 0; i < n; i++)
        p[i] ^= mask[(offset + i) & 3];
}

void noa_websocket_put_frame(struct noa_buf *out, int opcode, const void *payload, size_t len,
                             const uint8_t *mask)
{
    uint8_t h[14];
    size_t hl = 2;
    h[0] = (uint8_t)(0x80 | (opcode & 0x0F));
    uint8_t mbit = mask ? 0x80 : 0;
    if (len < 126) {
        h[1] = (uint8_t)(mbit | len);
    } else if (len <= 0xFFFF) {
        h[1] = mbit | 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
        hl = 4;
    } else {
        h[1] = mbit | 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        hl = 10;
    }
    if (mask) {
        memcpy(h + hl, mask, 4);
        hl += 4;
    }
    noa_buf_reserve(out, hl + len);
    noa_buf_append(out, h, hl);
    size_t at = out->len;
    if (len)
        noa_buf_append(out, payload, len);
    if (mask)
        noa_websocket_unmask((uint8_t *)out->data + at, len, mask, 0);
}

/* ---- connection --------------------------------------------------------- */

struct noa_websocket {
    struct noa_http_request *req; /* until ended */
    struct noa_websocket_options opt;
    uint64_t conn_id;
    struct noa_buf in;  /* unparsed input */
    struct noa_buf msg; /* a fragmented message being reassembled */
    int msg_opcode;     /* its opcode; 0 when none is in progress */
    int depth;          /* our calls on the stack: free only at depth 0 */
    int sending;        /* inside noa_websocket_send */
    int ended;          /* the HTTP request is finished */
    int dead;           /* free when depth drops to 0 */
};

static void ws_free(struct noa_websocket *ws)
{
    noa_buf_fini(&ws->in);
    noa_buf_fini(&ws->msg);
    noa_free(ws);
}

/* Drops one nesting level; frees ws when it is dead and nothing holds it.
 * Returns 1 when ws was freed. */
static int ws_leave(struct noa_websocket *ws)
{
    if (--ws->depth == 0 && ws->dead) {
        ws_free(ws);
        return 1;
    }
    return 0;
}

static void ws_end(struct noa_websocket *ws)
{
    if (ws->ended)
        return;
    ws->ended = 1;
    noa_http_reply_end(ws->req);
    ws->req = NULL;
}

static void write_frame(struct noa_websocket *ws, int opcode, const void *p, size_t len)
{
    if (ws->ended)
        return;
    struct noa_buf b = {0};
    noa_websocket_put_frame(&b, opcode, p, len, NULL);
    noa_http_reply_chunk_buf(ws->req, &b);
}

static void write_close(struct noa_websocket *ws, int code, const char *reason)
{
    uint8_t p[NOA_WEBSOCKET_MAX_CONTROL];
    size_t n = 0;
    if (code > 0 && code != NOA_WEBSOCKET_CLOSE_NO_STATUS) {
        p[0] = (uint8_t)(code >> 8);
        p[1] = (uint8_t)code;
        n = 2;
        size_t rl = reason ? strlen(reason) : 0;
        if (rl > sizeof(p) - 2)
            rl = sizeof(p) - 2;
        if (rl)
            memcpy(p + 2, reason, rl);
        n += rl;
    }
    write_frame(ws, NOA_WEBSOCKET_CLOSE, p, n);
}

/* The websocket ends from the client's side (or by its fault): tell the
 * owner once. */
static void notify_closed(struct noa_websocket *ws, int code)
{
    if (ws->dead)
        return;
    ws->dead = 1;
    if (ws->opt.closed_cb)
        ws->opt.closed_cb(ws, code, ws->opt.ctx);
}

/* A violation: close frame with the code, end, tell the owner. */
static void fail(struct noa_websocket *ws, int code)
{
    write_close(ws, code, NULL);
    ws_end(ws);
    notify_closed(ws, code);
}

/* gorilla's isValidReceivedCloseCode. */
static int valid_close_code(int code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

static void on_close_frame(struct noa_websocket *ws, const uint8_t *p, size_t n)
{
    int code = NOA_WEBSOCKET_CLOSE_NO_STATUS;
    if (n == 1) {
        fail(ws, NOA_WEBSOCKET_CLOSE_PROTOCOL);
        return;
    }
    if (n >= 2) {
        code = p[0] << 8 | p[1];
        if (!valid_close_code(code)) {
            fail(ws, NOA_WEBSOCKET_CLOSE_PROTOCOL);
            return;
        }
    }
    /* Echo the code, as gorilla's default close handler does. */
    write_close(ws, code, NULL);
    ws_end(ws);
    notify_closed(ws, code);
}

static void deliver(struct noa_websocket *ws, int opcode, const char *p, size_t n)
{
    if (ws->opt.message_cb && !ws->dead)
        ws->opt.message_cb(ws, opcode, p, n, ws->opt.ctx);
}

/* Handles one complete frame; payload already unmasked. */
static void on_frame(struct noa_websocket *ws, const struct noa_websocket_frame *f, uint8_t *p)
{
    size_t n = (size_t)f->len;
    switch (f->opcode) {
    case NOA_WEBSOCKET_PING:
        /* A client that pings but never reads must not grow our queue. */
        if (noa_http_reply_queued(ws->req) <= PONG_QUEUE_LIMIT)
            write_frame(ws, NOA_WEBSOCKET_PONG, p, n);
        return;
    case NOA_WEBSOCKET_PONG:
        return;
    case NOA_WEBSOCKET_CLOSE:
        on_close_frame(ws, p, n);
        return;
    case NOA_WEBSOCKET_CONTINUATION:
        if (!ws->msg_opcode) {
            fail(ws, NOA_WEBSOCKET_CLOSE_PROTOCOL);
            return;
        }
        if (ws->msg.len + n > ws->opt.max_message) {
            fail(ws, NOA_WEBSOCKET_CLOSE_TOO_BIG);
            return;
        }
        noa_buf_append(&ws->msg, p, n);
        if (f->fin) {
            int op = ws->msg_opcode;
            ws->msg_opcode = 0;
            deliver(ws, op, ws->msg.data ? ws->msg.data : "", ws->msg.len);
            ws->msg.len = 0;
        }
        return;
    default: /* text or binary */
        if (ws->msg_opcode) {
            fail(ws, NOA_WEBSOCKET_CLOSE_PROTOCOL);
            return;
        }
        if (f->fin) {
            deliver(ws, f->opcode, (const char *)p, n);
        } else {
            ws->msg_opcode = f->opcode;
            noa_buf_append(&ws->msg, p, n);
        }
        return;
    }
}

static void on_data(struct noa_http_request *req, const char *data, size_t len, void *ctx)
{
    (void)req;
    struct noa_websocket *ws = ctx;
    if (ws->ended || ws->dead)
        return;
    ws->depth++;
    noa_buf_append(&ws->in, data, len);
    size_t off = 0;
    while (!ws->ended && !ws->dead) {
        struct noa_websocket_frame f;
        uint8_t *d = (uint8_t *)ws->in.data + off;
        size_t avail = ws->in.len - off;
        int rc = noa_websocket_parse_header(d, avail, 1, ws->opt.max_message, &f);
        if (rc < 0) {
            fail(ws, -rc);
            break;
        }
        if (rc == 0 || avail - f.header_len < f.len)
            break;
        uint8_t *p = d + f.header_len;
        noa_websocket_unmask(p, (size_t)f.len, f.mask, 0);
        off += f.header_len + (size_t)f.len;
        on_frame(ws, &f, p);
    }
    if (!ws->dead && off) {
        memmove(ws->in.data, ws->in.data + off, ws->in.len - off);
        ws->in.len -= off;
    }
    ws_leave(ws);
}

static void on_gone(struct noa_http_request *req, void *ctx)
{
    (void)req;
    struct noa_websocket *ws = ctx;
    ws->depth++;
    ws_end(ws);
    if (ws->sending)
        ws->dead = 1; /* noa_websocket_send tells the owner */
    else
        notify_closed(ws, NOA_WEBSOCKET_CLOSE_ABNORMAL);
    ws_leave(ws);
}

int noa_websocket_accept(struct noa_http_request *req, const struct noa_websocket_options *opts,
                         struct noa_websocket **out)
{
    const char *reason = NULL;
    int status = noa_websocket_check(req, &reason);
    if (status) {
        noa_http_reply_header(req, "Sec-Websocket-Version", "13");
        noa_http_reply_error(req, status, status == 405 ? "Method Not Allowed" : "Bad Request");
        return NOA_EINVAL;
    }
    char accept[NOA_WEBSOCKET_ACCEPT_LEN];
    noa_websocket_accept_key(*noa_http_request_header(req, "Sec-Websocket-Key"), accept);
    struct noa_websocket *ws = noa_xcalloc(1, sizeof(*ws));
    ws->opt = *opts;
    if (!ws->opt.max_message)
        ws->opt.max_message = DEFAULT_MAX_MESSAGE;
    ws->req = req;
    ws->conn_id = req->conn_id;
    noa_http_reply_header(req, "Sec-WebSocket-Accept", accept);
    struct noa_http_upgrade up = {"websocket", on_data, on_gone, ws};
    noa_http_reply_upgrade(req, &up);
    if (noa_http_request_gone(req)) {
        noa_http_reply_end(req);
        ws_free(ws);
        return NOA_EUNAVAIL;
    }
    *out = ws;
    return 0;
}

int noa_websocket_send(struct noa_websocket *ws, int opcode, const void *data, size_t len)
{
    struct noa_buf b = {0};
    noa_buf_append(&b, data, len);
    return noa_websocket_send_buf(ws, opcode, &b);
}

int noa_websocket_send_buf(struct noa_websocket *ws, int opcode, struct noa_buf *payload)
{
    if (ws->ended || ws->dead) {
        noa_buf_fini(payload);
        return NOA_EUNAVAIL;
    }
    struct noa_buf b = {0};
    noa_websocket_put_frame(&b, opcode, payload->data, payload->len, NULL);
    noa_buf_fini(payload);
    ws->depth++;
    ws->sending++;
    noa_http_reply_chunk_buf(ws->req, &b);
    ws->sending--;
    int gone = ws->dead;
    ws_leave(ws);
    return gone ? NOA_EUNAVAIL : 0;
}

size_t noa_websocket_queued(const struct noa_websocket *ws)
{
    return ws->ended ? 0 : noa_http_reply_queued(ws->req);
}

void noa_websocket_close(struct noa_websocket *ws, int code, const char *reason)
{
    ws->depth++;
    write_close(ws, code, reason);
    ws_end(ws);
    ws->dead = 1;
    ws_leave(ws);
}

void noa_websocket_abort(struct noa_websocket *ws)
{
    ws->depth++;
    if (!ws->ended) {
        ws->ended = 1;
        noa_http_reply_abort(ws->req);
        ws->req = NULL;
    }
    ws->dead = 1;
    ws_leave(ws);
}

uint64_t noa_websocket_conn_id(const struct noa_websocket *ws)
{
    return ws->conn_id;
}
