/*
 * The shipper's push client: Promtail's `clients[]` entry. Entries are
 * queued per tenant, batched (batch_size bytes of lines or batch_wait after
 * the batch's first entry, whichever comes first), grouped by label set,
 * encoded as Loki's snappy-compressed protobuf PushRequest and POSTed to
 * `url`. Each tenant has its own sender thread, so a tenant whose server
 * fails never delays another.
 *
 * Never lose a line: 429, 5xx and connection failures are retried with
 * exponential backoff (Retry-After honoured, up to max(max_backoff, 5 min))
 * for ever unless max_retries is
 * set. While a tenant's queue is full (queue_bytes), noa_client_add answers
 * NOA_ELIMIT and the caller stops reading that source. Other 4xx answers
 * drop the batch (counted per reason, logged with the server's message).
 * After every batch is settled (sent, or dropped for good) the ack callback
 * lists, per source, the highest offset the batch covered, so positions
 * only advance past data the server has accepted or definitively refused.
 *
 * Threads: noa_client_add/_stats from any thread; max_inflight sender
 * threads per tenant (created on its first entry) make the HTTP calls and
 * run the ack callback, one call at a time per tenant, in batch order.
 */
#ifndef NOA_SHIPPER_CLIENT_H
#define NOA_SHIPPER_CLIENT_H

#include "common/buf.h"
#include "common/http_client.h"
#include "common/labels.h"

#include <stddef.h>
#include <stdint.h>

struct noa_client;

/* One source position a settled batch covered. */
struct noa_client_ack {
    struct noa_str source; /* borrowed for the callback */
    uint64_t offset;       /* the highest offset added for this source */
};

struct noa_client_config {
    const char *url;        /* http://host:port/loki/api/v1/push (required) */
    const char *tenant_id;  /* default tenant; NULL/"" = no X-Scope-OrgID */
    size_t batch_size;      /* bytes of lines + structured metadata; 0 = 1 MiB */
    int64_t batch_wait_ms;  /* 0 = 1000 */
    int64_t timeout_ms;     /* per request; 0 = 10 s */
    int64_t min_backoff_ms; /* 0 = 500 */
    int64_t max_backoff_ms; /* 0 = 5 min */
    int max_retries;        /* 0 = retry for ever (the default, unlike Promtail) */
    size_t queue_bytes;     /* per tenant, queued + in flight; 0 = (max_inflight
                             * + 2) * batch_size */
    size_t max_tenants;     /* distinct tenants (one sender thread each); 0 = 64 */
    const struct noa_label *external_labels; /* added unless the stream has them */
    uint32_t n_external_labels;
    const char *basic_user; /* basic auth when non-NULL */
    const char *basic_pass;
    const char *bearer_token;   /* Authorization: Bearer when non-NULL */
    const char *user_agent;     /* NULL = "noa-shipper/1.0" */
    const char *const *headers; /* extra "Name: value" lines (at most 32);
                                 * X-Scope-OrgID, Content-Type, Content-Length
                                 * and, with auth set, Authorization are ours
                                 * and refused (NOA_EINVAL), as Promtail does */
    size_t n_headers;
    int drop_rate_limited; /* 1: a 429 drops the batch instead of retrying
                            * (Promtail's drop_rate_limited_batches) */
    int max_inflight;      /* batches of one tenant sent at once, each on its
                            * own connection; 0 = 2. Acks still come in batch
                            * order. (Promtail sends one at a time: with the
                            * server's fsync per push, one connection caps
                            * throughput at a batch per round trip.) */
    struct noa_http_client_tls tls; /* tls_config and proxy_url (strings copied) */
    int zstd;              /* 1: bodies are zstd-compressed protobuf with
                            * Content-Encoding: zstd (noa's server accepts it;
                            * smaller and cheaper than snappy); 0: Loki's
                            * snappy protobuf, what any Loki accepts */
    /* Called once per settled batch, on the tenant's sender thread, in the
     * tenant's batch order. status: 0 = accepted by the server; < 0 =
     * dropped for good (-http_status for a refused batch, NOA_ELIMIT after
     * max_retries). May be NULL. */
    void (*ack)(void *ud, const char *tenant, int status, const struct noa_client_ack *acks,
                size_t n);
    void *ack_ud;
    /* Called after settled batches gave their queue room back (on a sender
     * thread, no lock held), so a reader paused on NOA_ELIMIT can go on at
     * once. May be NULL. */
    void (*room)(void *ud);
    void *room_ud;
};

struct noa_client_entry {
    const char *tenant;    /* NULL or "": the config's tenant_id; at most
                            * 150 bytes, no control characters */
    struct noa_str labels; /* `{a="b", c="d"}` */
    int64_t ts_ns;
    struct noa_str line;
    const struct noa_label *meta; /* structured metadata, may be NULL */
    uint32_t n_meta;
    struct noa_str source; /* position key (e.g. file path); may be empty */
    uint64_t offset;       /* position after this entry */
};

enum noa_client_drop_reason {
    NOA_CLIENT_DROP_HTTP_4XX = 0, /* server refused (400, 413, ...) */
    NOA_CLIENT_DROP_MAX_RETRIES,  /* configured retry limit reached */
    NOA_CLIENT_DROP_RATE_LIMITED, /* 429 with drop_rate_limited set */
    NOA_CLIENT_DROP_N,
};

/* Upper bounds (seconds) of the request duration histogram: Prometheus's
 * default buckets, as Promtail's promtail_request_duration_seconds. */
#define NOA_CLIENT_LATENCY_BUCKETS 11
extern const double noa_client_latency_bounds[NOA_CLIENT_LATENCY_BUCKETS];

struct noa_client_stats {
    uint64_t sent_batches, sent_entries, sent_bytes; /* bytes: compressed bodies */
    uint64_t retries;
    uint64_t dropped_batches[NOA_CLIENT_DROP_N];
    uint64_t dropped_entries[NOA_CLIENT_DROP_N];
    /* Every push request (any outcome): counts per bucket (not
     * cumulative; the last slot counts those over every bound), sum. */
    uint64_t latency_buckets[NOA_CLIENT_LATENCY_BUCKETS + 1];
    double latency_sum;
    uint64_t queued_bytes; /* charged against queue_bytes, all tenants (entries
                            * count their line, labels, metadata + 64) */
};

/* Copies the config. Returns 0, NOA_EINVAL (no url, bad external label,
 * reserved or malformed header, too many headers, bad tenant_id). */
int noa_client_new(const struct noa_client_config *cfg, struct noa_client **out);

/*
 * Queues one entry (copied). Returns 0; NOA_ELIMIT when the tenant's queue
 * is full (retry later: nothing was taken); NOA_EINVAL for unparsable or empty labels or a bad
 * tenant; NOA_ETOOBIG when the entry alone exceeds queue_bytes or it names a tenant
 * past max_tenants; NOA_EUNAVAIL after noa_client_stop.
 */
int noa_client_add(struct noa_client *c, const struct noa_client_entry *e);

/* Sends what every tenant has batched now, without waiting for batch_wait. */
void noa_client_flush(struct noa_client *c);

/*
 * Flushes and waits up to drain_ms for every queue to empty, then stops the
 * senders. Batches still unsent are abandoned without an ack (they will be
 * re-read from the positions). Returns 0, or NOA_ETIMEOUT when something was
 * abandoned.
 */
int noa_client_stop(struct noa_client *c, int64_t drain_ms);

void noa_client_stats(struct noa_client *c, struct noa_client_stats *out);

/* Stops (drain_ms 0) if needed and frees; NULL is a no-op. */
void noa_client_free(struct noa_client *c);

#endif
