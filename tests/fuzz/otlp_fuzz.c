/*
 * Fuzz target for common/otlp: decodes the input as a protobuf
 * ExportLogsServiceRequest and as OTLP JSON, with a small memory limit so
 * both the limit and the unlimited paths run. A failure must leave the
 * request empty with a NUL-terminated message; a success must hold only
 * well-formed streams (every entry and metadata slice readable).
 */
#include "common/otlp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char *discover[] = {"service_name", "k8s_container_name"};

static void check(int rc, const struct noa_push_request *req, const struct noa_error *err)
{
    if (rc) {
        if ((rc != NOA_EINVAL && rc != NOA_ETOOBIG && rc != NOA_ENOMEM) || req->n_streams ||
            req->arena.head || !memchr(err->msg, '\0', sizeof(err->msg)))
            abort();
        return;
    }
    volatile unsigned sum = 0;
    for (uint32_t i = 0; i < req->n_streams; i++) {
        const struct noa_push_stream *s = &req->streams[i];
        for (size_t k = 0; k < s->labels.len; k++)
            sum += (unsigned char)s->labels.p[k];
        if (!s->n_entries)
            abort(); /* streams exist only for records */
        for (uint32_t j = 0; j < s->n_entries; j++) {
            const struct noa_push_entry *e = &s->entries[j];
            for (size_t k = 0; k < e->line.len; k++)
                sum += (unsigned char)e->line.p[k];
            for (uint32_t m = 0; m < e->n_meta; m++) {
                if (!e->meta[m].name.len && e->meta[m].name.p == NULL && e->meta[m].value.len)
                    abort();
                for (size_t k = 0; k < e->meta[m].value.len; k++)
                    sum += (unsigned char)e->meta[m].value.p[k];
            }
        }
    }
    (void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct noa_otlp_opts opts = {.max_mem = 1u << 20,
                                 .max_depth = 32,
                                 .discover_service_name = discover,
                                 .n_discover_service_name = 2,
                                 .now_ns = 1};
    struct noa_push_request req;
    struct noa_error err;
    int rc = noa_otlp_decode_proto(data, size, &opts, &req, &err);
    check(rc, &req, &err);
    noa_push_request_fini(&req);
    rc = noa_otlp_decode_json(data, size, &opts, &req, &err);
    check(rc, &req, &err);
    noa_push_request_fini(&req);
    return 0;
}
