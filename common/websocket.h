/*
 * RFC 6455 websockets, server side, over common/http_server.h's upgrade
 * hook: the opening handshake (checked and refused as Go's
 * gorilla/websocket does, which Loki runs on), framing (server frames
 * unmasked, client frames masked), fragmented messages, ping -> pong,
 * close handshake, and size limits. Garbage from the client ends the
 * connection with the close code RFC 6455 prescribes; it never crashes.
 *
 * The frame functions are pure (any thread); a struct noa_websocket lives
 * and is used on the HTTP server's loop thread only.
 */
#ifndef NOA_COMMON_WEBSOCKET_H
#define NOA_COMMON_WEBSOCKET_H

#include "common/buf.h"
#include "common/http_server.h"

#include <stddef.h>
#include <stdint.h>

enum noa_websocket_opcode {
    NOA_WEBSOCKET_CONTINUATION = 0x0,
    NOA_WEBSOCKET_TEXT = 0x1,
    NOA_WEBSOCKET_BINARY = 0x2,
    NOA_WEBSOCKET_CLOSE = 0x8,
    NOA_WEBSOCKET_PING = 0x9,
    NOA_WEBSOCKET_PONG = 0xA,
};

/* Close codes (RFC 6455 section 7.4.1). */
enum {
    NOA_WEBSOCKET_CLOSE_NORMAL = 1000,
    NOA_WEBSOCKET_CLOSE_GOING_AWAY = 1001,
    NOA_WEBSOCKET_CLOSE_PROTOCOL = 1002,
    NOA_WEBSOCKET_CLOSE_UNSUPPORTED = 1003,
    NOA_WEBSOCKET_CLOSE_NO_STATUS = 1005, /* never sent: a close without a code */
    NOA_WEBSOCKET_CLOSE_ABNORMAL = 1006,  /* never sent: the connection just ended */
    NOA_WEBSOCKET_CLOSE_INVALID_DATA = 1007,
    NOA_WEBSOCKET_CLOSE_POLICY = 1008,
    NOA_WEBSOCKET_CLOSE_TOO_BIG = 1009,
    NOA_WEBSOCKET_CLOSE_INTERNAL = 1011,
};

/* Length of a Sec-WebSocket-Accept value, plus its NUL. */
#define NOA_WEBSOCKET_ACCEPT_LEN 29
/* Control frames carry at most this much payload. */
#define NOA_WEBSOCKET_MAX_CONTROL 125

/* ---- pure helpers ------------------------------------------------------ */

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)). */
void noa_websocket_accept_key(struct noa_str key, char out[NOA_WEBSOCKET_ACCEPT_LEN]);

/*
 * Checks an upgrade request as gorilla/websocket's Upgrader does, in its
 * order: Connection has the "upgrade" token, Upgrade the "websocket" token
 * (case-insensitive, comma lists, repeated headers), method GET (405),
 * Sec-WebSocket-Version has "13", Sec-WebSocket-Key is base64 of 16 bytes.
 * Returns 0, or the HTTP status (400/405) with gorilla's reason in *reason
 * (static text, for the log).
 */
int noa_websocket_check(const struct noa_http_request *req, const char **reason);

/* One frame's header as parsed. */
struct noa_websocket_frame {
    int fin;
    int opcode;
    int masked;
    uint8_t mask[4];
    uint64_t len;      /* payload length */
    size_t header_len; /* bytes before the payload */
};

/*
 * Parses the frame header at d[0..n) sent by a client (RFC 6455 5.2).
 * Returns 1 with *f filled when the header is complete (the payload may
 * not all be there yet: it is f->header_len + f->len bytes in all), 0 when
 * more bytes are needed, or minus a close code for a violation: reserved
 * bits or opcodes, an unmasked frame when require_mask, a fragmented or
 * over-125-byte control frame, a non-minimal or 2^63+ length (1002), or a
 * data frame longer than max_payload (1009).
 */
int noa_websocket_parse_header(const uint8_t *d, size_t n, int require_mask, uint64_t max_payload,
                               struct noa_websocket_frame *f);

/* XORs p[0..n) with mask, starting at byte `offset` of the payload. */
void noa_websocket_unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset);

/* Appends one final frame (FIN set) with opcode and payload; masked with
 * mask when mask is non-NULL (what a client sends), unmasked otherwise. */
void noa_websocket_put_frame(struct noa_buf *out, int opcode, const void *payload, size_t len,
                             const uint8_t *mask);

/* ---- a server-side connection ------------------------------------------ */

struct noa_websocket;

struct noa_websocket_options {
    size_t max_message; /* largest message accepted from the client; 0 = 64 KiB */
    /* A complete text or binary message (reassembled from fragments).
     * data is borrowed for the call. NULL: messages are ignored. May call
     * noa_websocket_send or noa_websocket_close. */
    void (*message_cb)(struct noa_websocket *ws, int opcode, const char *data, size_t len,
                       void *ctx);
    /* The websocket ended from the client's side: its close frame (code
     * as sent, 1005 for none), a protocol violation (the code we sent), or
     * the connection dropping (1006). Runs once, never after
     * noa_websocket_close; ws is freed when it returns. */
    void (*closed_cb)(struct noa_websocket *ws, int code, void *ctx);
    void *ctx;
};

/*
 * Answers an upgrade request: when noa_websocket_check refuses it, replies
 * as gorilla does (the status's text, e.g. "Bad Request\n", with
 * "Sec-Websocket-Version: 13") and returns NOA_EINVAL (req is finished).
 * Otherwise sends the 101 and returns 0 with *out, which now owns req.
 * Returns NOA_EUNAVAIL (req finished, *out unset) if the client is gone.
 */
int noa_websocket_accept(struct noa_http_request *req, const struct noa_websocket_options *opts,
                         struct noa_websocket **out);

/*
 * Sends one unfragmented message (text: NOA_WEBSOCKET_TEXT) or a ping.
 * _buf takes the payload's bytes. Returns 0, or NOA_EUNAVAIL when the
 * connection failed during the call: ws is then freed (at once, or when
 * the callback running now returns) and closed_cb will not run for it.
 */
int noa_websocket_send(struct noa_websocket *ws, int opcode, const void *data, size_t len);
int noa_websocket_send_buf(struct noa_websocket *ws, int opcode, struct noa_buf *payload);

/* Bytes sent but not yet taken by the kernel (for back-pressure). */
size_t noa_websocket_queued(const struct noa_websocket *ws);

/*
 * Sends a close frame with code and reason (reason cut to fit 123 bytes;
 * code 0: a close frame without a code), flushes, ends the connection and
 * frees ws. closed_cb does not run. Safe inside message_cb.
 */
void noa_websocket_close(struct noa_websocket *ws, int code, const char *reason);

/* Drops the connection at once without a close frame, discarding what
 * the client has not read, and frees ws; closed_cb does not run. For a
 * peer that stopped reading, at shutdown. Safe inside message_cb. */
void noa_websocket_abort(struct noa_websocket *ws);

/* The connection's number (for logs). */
uint64_t noa_websocket_conn_id(const struct noa_websocket *ws);

#endif
