/*
 * Fuzz target for common/pushjson: decodes the input as a JSON push body.
 * A failure must be a clean EINVAL/ENOMEM with an empty request; a success
 * must survive a protobuf round trip (encode, decode, compare).
 */
#include "common/pushjson.h"
#include "common/pushproto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct noa_push_request req, again;
    struct noa_error err;
    int rc = noa_pushjson_decode(data, size, &req, &err);
    if (rc) {
        if ((rc != NOA_EINVAL && rc != NOA_ENOMEM) || req.n_streams || req.arena.head ||
            !memchr(err.msg, '\0', sizeof(err.msg)))
            abort();
        return 0;
    }
    struct noa_buf b = {0};
    noa_pushproto_encode(&req, &b);
    if (noa_pushproto_decode(b.data, b.len, NULL, &again, &err) != 0 ||
        again.n_streams != req.n_streams)
        abort();
    for (uint32_t i = 0; i < req.n_streams; i++) {
        const struct noa_push_stream *x = &req.streams[i], *y = &again.streams[i];
        /* JSON label text is always {...} or empty */
        if (x->labels.len && (x->labels.p[0] != '{' || x->labels.p[x->labels.len - 1] != '}'))
            abort();
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
    noa_push_request_fini(&again);
    noa_push_request_fini(&req);
    noa_buf_fini(&b);
    return 0;
}
