/*
 * A decoded push request: what every push wire format (Loki's snappy
 * protobuf, noa's zstd protobuf, Loki's JSON) turns into, and what the
 * ingester validates. Strings are borrowed: they point into the decoded
 * body buffer or into the request's arena, which the caller keeps alive as
 * long as the request. One thread at a time.
 */
#ifndef NOA_COMMON_PUSH_H
#define NOA_COMMON_PUSH_H

#include "common/buf.h"
#include "common/labels.h"

#include <stdint.h>

struct noa_push_entry {
    int64_t ts_ns;             /* Unix nanoseconds */
    struct noa_str line;       /* borrowed */
    struct noa_label *meta;    /* structured metadata, in received order; arena */
    uint32_t n_meta;
};

struct noa_push_stream {
    struct noa_str labels;          /* Prometheus label text `{a="b", c="d"}` as received */
    struct noa_push_entry *entries; /* arena */
    uint32_t n_entries;
};

struct noa_push_request {
    struct noa_push_stream *streams; /* arena */
    uint32_t n_streams;
    struct noa_arena arena; /* owns the arrays above and any unescaped strings */
};

/* Releases the arena; the request may be reused after. */
void noa_push_request_fini(struct noa_push_request *req);

#endif
