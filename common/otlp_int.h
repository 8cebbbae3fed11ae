/*
 * What the OTLP files of common/ share (otlp.c, otlp_proto.c, otlp_json.c):
 * the decoded model of an ExportLogsServiceRequest (resources, scopes,
 * records, AnyValue trees) that both wire decoders fill and the one
 * converter in otlp.c maps onto streams, the decoding context with its
 * memory bound, and the two decoders' entry points. Not for use outside
 * those files.
 */
#ifndef NOA_COMMON_OTLP_INT_H
#define NOA_COMMON_OTLP_INT_H

#include "common/otlp.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum noa__otlp_kind {
    NOA__OTLP_EMPTY = 0,
    NOA__OTLP_STR,
    NOA__OTLP_BOOL,
    NOA__OTLP_INT,
    NOA__OTLP_DOUBLE,
    NOA__OTLP_BYTES,
    NOA__OTLP_ARRAY,
    NOA__OTLP_KVLIST
};

struct noa__otlp_kv;
struct noa__otlp_val {
    enum noa__otlp_kind kind;
    struct noa_str s;          /* NOA__OTLP_STR, NOA__OTLP_BYTES */
    int64_t i;                 /* NOA__OTLP_INT, NOA__OTLP_BOOL */
    double d;                  /* NOA__OTLP_DOUBLE */
    struct noa__otlp_val *arr; /* NOA__OTLP_ARRAY */
    struct noa__otlp_kv *kvs;  /* NOA__OTLP_KVLIST */
    uint32_t n;                /* elements of arr / kvs */
};

struct noa__otlp_kv {
    struct noa_str key;
    struct noa__otlp_val val;
};

struct noa__otlp_rec {
    uint64_t time_ns, observed_ns;
    int32_t severity;
    struct noa_str severity_text;
    struct noa__otlp_val body;
    struct noa__otlp_kv *attrs;
    uint32_t n_attrs;
    uint32_t dropped;
    uint32_t flags;
    unsigned char trace[16], span[8];
    int has_trace, has_span; /* non-zero ids */
};

struct noa__otlp_scope {
    struct noa_str name, version;
    struct noa__otlp_kv *attrs;
    uint32_t n_attrs;
    uint32_t dropped;
    struct noa__otlp_rec *recs;
    uint32_t n_recs;
};

struct noa__otlp_res {
    struct noa__otlp_kv *attrs;
    uint32_t n_attrs;
    struct noa__otlp_scope *scopes;
    uint32_t n_scopes;
};

struct noa__otlp_req {
    struct noa__otlp_res *res;
    uint32_t n_res;
};

struct noa__otlp_ctx {
    struct noa_arena *arena; /* the request's: what the output refers to */
    struct noa_arena model;  /* the decoded model's structs, freed after conversion */
    size_t max_mem;
    uint32_t max_depth;
    struct noa_error *err;
    const unsigned char *base; /* proto: offsets count from here */
};

/* Zeroed room for count model structs (freed after conversion), within
 * max_mem; NULL with c->err set when over it (or when count is 0). */
void *noa__otlp_model_alloc(struct noa__otlp_ctx *c, size_t count, size_t size);
/* The same for output arrays, which live as long as the request. */
void *noa__otlp_out_alloc(struct noa__otlp_ctx *c, size_t count, size_t size);

/* Decodes a protobuf ExportLogsServiceRequest (otlp_proto.c); c->base is
 * the start of the body, for offsets in messages. */
int noa__otlp_proto_request(struct noa__otlp_ctx *c, struct noa_str msg, struct noa__otlp_req *o);
/* Decodes the OTLP JSON form from a parsed document (otlp_json.c). */
int noa__otlp_json_request(struct noa__otlp_ctx *c, json_t *root, struct noa__otlp_req *o);

#endif
