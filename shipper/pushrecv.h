/*
 * The push receiver (Promtail's `loki_push_api` scrape config): an HTTP
 * server on its own address and port, on its own libuv loop and thread,
 * that takes Loki push requests from applications and hands every entry to
 * an emit callback as a shipper entry.
 *
 * Routes (as Promtail's push target, plus noa's spelling of the raw route):
 *   POST /loki/api/v1/push     protobuf (snappy, or zstd as noa-server takes
 *                              it) or JSON (Content-Type application/json),
 *                              Content-Encoding gzip/deflate/zstd undone
 *                              first: the same decoders, size limits and
 *                              error texts as noa-server's push endpoint
 *   POST /promtail/api/v1/raw  newline-delimited lines (plain text or NDJSON),
 *   POST /loki/api/v1/raw      one entry per non-empty line, "\r\n" trimmed
 *   GET  /ready                200 "ready"
 *
 * Entries: labels = the stream's labels, then the configured labels (which
 * win on a clash); raw lines get the configured labels only. The caller
 * applies relabel_configs, drops labels starting with "__" and drops the
 * entry when none is left (as Promtail). Timestamp: the entry's own with
 * use_incoming_timestamp, else the receive time (strictly increasing per
 * receiver, so two equal lines are never collapsed by Loki's dedup).
 * Structured metadata is kept. X-Scope-OrgID is ignored, as in Promtail
 * (entries go out under the client's tenant), unless tenant_from_header is
 * set: then it becomes the __tenant_id__ label. source = "push-<job>";
 * offset = a sequence number starting at 1, one per entry.
 *
 * Guarantee (at least once, end to end): a request is answered 204 only
 * when every entry of it was acknowledged downstream (the router calls
 * noa_pushrecv_acked), so a client that got 204 knows its lines are stored.
 * Status codes:
 *   204  every entry acknowledged (or dropped by the pipeline);
 *   400  the body does not decode or a stream's labels do not parse
 *        ("couldn't parse labels: ..."), nothing is emitted;
 *   413  the body (or its decompressed form) is over max_body_bytes;
 *   429  the downstream is full (emit answered NOA_ELIMIT on the first entry
 *        of the request) or max_inflight requests already wait: nothing of
 *        this request was taken, the client backs off and retries. When the
 *        queue fills in the middle of a request, the rest is offered again
 *        every 10-200 ms until it fits (the response simply comes later);
 *   503  the acknowledgements (or the rest of the entries) did not come
 *        within ack_timeout: the client retries (entries that were already
 *        taken may then arrive twice), or the receiver is stopping.
 *
 * THREAD SAFETY: _new/_start/_stop/_free on one controlling thread. Every
 * HTTP handler and every callback (emit, tick) runs on the receiver's own
 * loop thread. noa_pushrecv_acked and noa_pushrecv_stats may be called
 * from any thread (an atomic and uv_async wake the loop).
 */
#ifndef NOA_SHIPPER_PUSHRECV_H
#define NOA_SHIPPER_PUSHRECV_H

#include "common/err.h"
#include "common/labels.h"
#include "common/tls_server.h"
#include "shipper/entry.h"

#include <stddef.h>
#include <stdint.h>

#define NOA_PUSHRECV_DEFAULT_MAX_BODY ((size_t)100 << 20)
#define NOA_PUSHRECV_DEFAULT_ACK_TIMEOUT_NS (30LL * 1000000000LL)
#define NOA_PUSHRECV_DEFAULT_MAX_INFLIGHT 64u

/* The receiver's configuration. Pointers are borrowed for the duration of
 * noa_pushrecv_new only. */
struct noa_pushrecv_config {
    const char *job_name;           /* required */
    const char *host;               /* server.http_listen_address; NULL/"": all */
    int port;                       /* server.http_listen_port; 0: ephemeral */
    const struct noa_label *labels; /* loki_push_api.labels */
    size_t n_labels;
    int use_incoming_timestamp; /* loki_push_api.use_incoming_timestamp */
    int tenant_from_header;     /* noa: X-Scope-OrgID -> __tenant_id__ */
    size_t max_body_bytes;      /* 0: 100 MiB (compressed and decompressed) */
    int64_t ack_timeout_ns;     /* <= 0: 30 s */
    unsigned max_inflight;      /* requests waiting for acks; 0: 64 */
    /* server.http_tls_config of the receiver: NULL or no cert_file serves
     * plain HTTP. The files are loaded by noa_pushrecv_new, so a bad one
     * fails there, named. */
    const struct noa_tls_server_options *tls;
};

struct noa_pushrecv_callbacks {
    /* Required; runs on the loop thread. The entry is borrowed for the call.
     * Returns 0 when taken (an ack for e->offset will come through
     * noa_pushrecv_acked), 1 when finished without an ack (dropped by the
     * pipeline), NOA_ELIMIT when the downstream is full (the same entry is
     * offered again later, or the request answered 429). Other negative
     * values are treated as 1 and logged. */
    int (*emit_cb)(struct noa_entry *e, void *ctx);
    /* Optional: about every 100 ms on the loop thread (pipeline timeouts). */
    void (*tick_cb)(int64_t now_ns, void *ctx);
    void *ctx;
};

struct noa_pushrecv_stats {
    uint64_t requests;     /* push and raw requests answered */
    uint64_t entries;      /* entries emitted (taken) */
    uint64_t bad_requests; /* 4xx other than 429 */
    uint64_t limited;      /* 429s */
    uint64_t timeouts;     /* 503s after ack_timeout */
    uint64_t acked_seq;    /* highest sequence acknowledged */
    uint64_t emitted_seq;  /* highest sequence emitted */
};

struct noa_pushrecv;

/* Checks cfg and prepares a receiver (nothing listens yet). 0 or NOA_EINVAL
 * (err says which field). */
int noa_pushrecv_new(const struct noa_pushrecv_config *cfg, const struct noa_pushrecv_callbacks *cb,
                     struct noa_pushrecv **out, struct noa_error *err);

/* Binds, listens and starts the loop thread. Returns 0, or -errno
 * (-EADDRINUSE, ...) with err naming the address; nothing runs then. */
int noa_pushrecv_start(struct noa_pushrecv *r, struct noa_error *err);

/* The bound port after a successful start (useful with port 0), else -1. */
int noa_pushrecv_port(const struct noa_pushrecv *r);

/* Stops accepting, answers every waiting request 503, closes the server
 * and joins the thread. Safe when never started; idempotent. */
void noa_pushrecv_stop(struct noa_pushrecv *r);

/* Stops if running and frees; NULL is a no-op. */
void noa_pushrecv_free(struct noa_pushrecv *r);

/* Every entry emitted with offset <= seq is acknowledged. Any thread. */
void noa_pushrecv_acked(struct noa_pushrecv *r, uint64_t seq);

/* "push-<job>", borrowed for the receiver's life. */
const char *noa_pushrecv_source(const struct noa_pushrecv *r);

/* A snapshot of the counters. Any thread. */
void noa_pushrecv_stats(struct noa_pushrecv *r, struct noa_pushrecv_stats *out);

#endif
