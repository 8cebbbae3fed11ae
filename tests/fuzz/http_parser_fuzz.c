/*
 * Fuzz target for common/http_parser: parses the input as a stream of
 * pipelined requests twice, once whole and once in pieces whose size comes
 * from the first byte, and aborts when the two disagree or an invariant
 * breaks (consumed bytes, body limit, sticky errors). Small limits make the
 * 413/431 paths reachable.
 */
#include "common/buf.h"
#include "common/http_parser.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REQUESTS 64

struct result {
    int rc, status, saw_head;
    size_t used, body_len, n_headers;
    uint32_t body_crc;
    int keep_alive, chunked;
    int64_t content_length;
};

static const struct noa_http_parser_options opts = {.max_header_bytes = 2048,
                                                    .max_body_bytes = 4096};

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

/* Parses data as consecutive requests, feeding at most `step` bytes a time. */
static size_t parse_all(const uint8_t *data, size_t size, size_t step, struct result *out)
{
    struct noa_http_parser p;
    noa_http_parser_init(&p, &opts);
    size_t off = 0, n = 0;
    struct result cur = {0};
    size_t start = 0;
    while (n < MAX_REQUESTS) {
        size_t chunk = size - off;
        if (step && chunk > step)
            chunk = step;
        size_t used = 0;
        int rc = noa_http_parser_feed(&p, data + off, chunk, &used);
        CHECK(used <= chunk);
        off += used;
        CHECK(p.body.len <= opts.max_body_bytes);
        if (rc == NOA_HTTP_PARSER_HEAD) {
            CHECK(!cur.saw_head);
            cur.saw_head = 1;
            continue;
        }
        if (rc == NOA_HTTP_PARSER_MORE) {
            CHECK(used == chunk);
            if (off == size)
                break;
            continue;
        }
        cur.rc = rc;
        cur.used = off - start;
        cur.status = p.status;
        if (rc < 0) {
            CHECK(p.status >= 400 && p.status <= 505);
            size_t u = 1;
            CHECK(noa_http_parser_feed(&p, "x", 1, &u) == rc && u == 0);
            out[n++] = cur;
            break;
        }
        CHECK(rc == NOA_HTTP_PARSER_DONE);
        CHECK(p.head.path.len > 0);
        CHECK(p.head.chunked || p.head.content_length < 0 ||
              (uint64_t)p.head.content_length == p.body.len);
        cur.body_len = p.body.len;
        cur.body_crc = noa_crc32c(0, p.body.data, p.body.len);
        cur.n_headers = p.head.n_headers;
        cur.keep_alive = p.head.keep_alive;
        cur.chunked = p.head.chunked;
        cur.content_length = p.head.content_length;
        struct noa_http_head h;
        struct noa_buf body;
        noa_http_parser_take(&p, &h, &body);
        for (size_t i = 0; i < h.n_headers; i++)
            CHECK(h.headers[i].name.p >= h.raw && h.headers[i].name.p < h.raw + h.raw_len);
        noa_http_head_fini(&h);
        noa_buf_fini(&body);
        out[n++] = cur;
        memset(&cur, 0, sizeof(cur));
        start = off;
        if (off == size)
            break;
    }
    noa_http_parser_fini(&p);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct result whole[MAX_REQUESTS], pieces[MAX_REQUESTS];
    if (size == 0)
        return 0;
    size_t step = (size_t)(data[0] % 13) + 1;
    size_t a = parse_all(data, size, 0, whole);
    size_t b = parse_all(data, size, step, pieces);
    CHECK(a == b);
    for (size_t i = 0; i < a; i++) {
        CHECK(whole[i].rc == pieces[i].rc);
        CHECK(whole[i].status == pieces[i].status);
        CHECK(whole[i].saw_head == pieces[i].saw_head);
        if (whole[i].rc < 0)
            continue;
        CHECK(whole[i].used == pieces[i].used);
        CHECK(whole[i].body_len == pieces[i].body_len);
        CHECK(whole[i].body_crc == pieces[i].body_crc);
        CHECK(whole[i].n_headers == pieces[i].n_headers);
        CHECK(whole[i].keep_alive == pieces[i].keep_alive);
        CHECK(whole[i].chunked == pieces[i].chunked);
        CHECK(whole[i].content_length == pieces[i].content_length);
    }
    return 0;
}
