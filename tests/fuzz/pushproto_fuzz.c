/*
 * Fuzz target for common/pushproto: decodes the input as a PushRequest; a
 * body that decodes must re-encode to exactly noa_pushproto_encoded_size()
 * bytes, decode again to the same request, and re-encode to the same bytes.
 */
#include "common/pushproto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void same_request(const struct noa_push_request *a, const struct noa_push_request *b)
{
    if (a->n_streams != b->n_streams)
        abort();
    for (uint32_t i = 0; i < a->n_streams; i++) {
        const struct noa_push_stream *x = &a->streams[i], *y = &b->streams[i];
        if (!noa_str_eq(x->labels, y->labels) || x->n_entries != y->n_entries)
            abort();
        for (uint32_t j = 0; j < x->n_entries; j++) {
            const struct noa_push_entry *e = &x->entries[j], *f = &y->entries[j];
            if (e->ts_ns != f->ts_ns || !noa_str_eq(e->line, f->line) || e->n_meta != f->n_meta)
                abort();
            for (uint32_t k = 0; k < e->n_meta; k++)
                if (!noa_str_eq(e->meta[k].name, f->meta[k].name) ||
                    !noa_str_eq(e->meta[k].value, f->meta[k].value))
                    abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct noa_pushproto_opts opts = {.max_mem = 64u << 20};
    struct noa_push_request req, again;
    struct noa_error err;
    int rc = noa_pushproto_decode(data, size, &opts, &req, &err);
    if (rc) {
        if ((rc != NOA_EINVAL && rc != NOA_ETOOBIG) || req.n_streams || req.arena.head ||
            !memchr(err.msg, '\0', sizeof(err.msg)))
            abort();
        return 0;
    }
    struct noa_buf b1 = {0}, b2 = {0};
    noa_pushproto_encode(&req, &b1);
    if (b1.len != noa_pushproto_encoded_size(&req))
        abort();
    if (noa_pushproto_decode(b1.data, b1.len, NULL, &again, &err) != 0)
        abort();
    same_request(&req, &again);
    noa_pushproto_encode(&again, &b2);
    if (b1.len != b2.len || (b1.len && memcmp(b1.data, b2.data, b1.len) != 0))
        abort();
    noa_push_request_fini(&again);
    noa_push_request_fini(&req);
    noa_buf_fini(&b1);
    noa_buf_fini(&b2);
    return 0;
}
