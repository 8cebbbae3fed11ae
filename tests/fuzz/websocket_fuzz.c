/*
 * Fuzz target for websocket framing (common/websocket.h): a stream of
 * client bytes is cut into frames as the server reads them. Every header is
 * complete, incomplete or a violation with a close code in 1002..1009,
 * never a crash; a complete frame's declared size is within the limit and
 * its header length is what the length encoding says; unmasking twice gives
 * the payload back; and a frame rebuilt with put_frame parses to the same
 * header.
 */
#include "common/buf.h"
#include "common/websocket.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PAYLOAD (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 20)
        return 0;
    size_t at = 0;
    while (at < size) {
        struct noa_websocket_frame f;
        int rc = noa_websocket_parse_header(data + at, size - at, 1, MAX_PAYLOAD, &f);
        if (rc == 0)
            break; /* needs more bytes */
        if (rc < 0) {
            if (-rc < 1002 || -rc > 1009)
                abort();
            break; /* the connection would close */
        }
        if (f.len > MAX_PAYLOAD || f.header_len < 6 || f.header_len > 14 || !f.masked)
            abort();
        size_t avail = size - at - f.header_len;
        size_t n = f.len < avail ? (size_t)f.len : avail;
        uint8_t *p = malloc(n ? n : 1);
        memcpy(p, data + at + f.header_len, n);
        noa_websocket_unmask(p, n, f.mask, 0);
        uint8_t *q = malloc(n ? n : 1);
        memcpy(q, p, n);
        noa_websocket_unmask(q, n, f.mask, 0);
        if (n && memcmp(q, data + at + f.header_len, n) != 0)
            abort();
        if (f.fin && n == f.len) {
            struct noa_buf out = {0};
            noa_websocket_put_frame(&out, f.opcode, p, n, f.mask);
            struct noa_websocket_frame g;
            if (noa_websocket_parse_header((const uint8_t *)out.data, out.len, 1, MAX_PAYLOAD,
                                           &g) != 1 ||
                g.opcode != f.opcode || g.len != f.len || !g.fin)
                abort();
            noa_buf_fini(&out);
        }
        free(p);
        free(q);
        if (n < f.len)
            break;
        at += f.header_len + (size_t)f.len;
    }
    return 0;
}
