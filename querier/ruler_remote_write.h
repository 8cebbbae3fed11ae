/*
 * Remote write of recording rules' results to Prometheus (or any
 * remote-write 1.0 receiver), as Loki's ruler does it.
 *
 * Wire format (protobuf, prometheus/prompb/remote.proto, then one snappy
 * block, Content-Encoding: snappy):
 *
 *   WriteRequest  field 1 timeseries  repeated TimeSeries (length-delimited)
 *   TimeSeries    field 1 labels      repeated Label      (length-delimited)
 *                 field 2 samples     repeated Sample     (length-delimited)
 *   Label         field 1 name  string; field 2 value string
 *   Sample        field 1 value double (fixed64, little-endian IEEE 754)
 *                 field 2 timestamp int64 (varint, milliseconds since epoch)
 *
 * Labels are sent sorted by name, __name__ included. Requests are retried
 * with exponential backoff on 5xx, 429 and network errors; the ruler
 * queues them per configured client and a sender thread per client posts
 * them (see "asynchronous sending" below).
 */
#ifndef NOA_QUERIER_RULER_REMOTE_WRITE_H
#define NOA_QUERIER_RULER_REMOTE_WRITE_H

#include "common/buf.h"
#include "common/err.h"
#include "common/metrics.h"
#include "common/yaml.h"
#include "querier/ruler_relabel.h"
#include "querier/ruler_rules.h"

#include <stdint.h>

struct noa_ruler_rw_series {
    const struct noa_ruler_kv *labels; /* borrowed, sorted by name */
    unsigned n_labels;
    double value;
    int64_t ts_ms;
};

/* Appends the WriteRequest protobuf for series[0..n) (one sample each). */
void noa_ruler_remote_write_encode(const struct noa_ruler_rw_series *series, unsigned n,
                                   struct noa_buf *out);

struct noa_ruler_remote_write_options {
    const char *name;        /* the client's name in ruler.remote_write.clients (logs); may be NULL */
    const char *url;         /* the receiver, e.g. http://prom:9090/api/v1/write */
    long timeout_ms;         /* per attempt; 0 = 30 s (Prometheus's remote_timeout) */
    unsigned max_retries;    /* retries after the first attempt; 0 = 3 */
    long min_backoff_ms;     /* 0 = 30 ms */
    long max_backoff_ms;     /* 0 = 5 s */
    int add_org_id_header;   /* 1: X-Scope-OrgID: <tenant> (Loki's default) */
    const char *const *headers; /* extra "Name: value" lines (headers, basic_auth, authorization) */
    unsigned n_headers;
    /* write_relabel_configs: applied to each series before it is sent to
     * this client (noa_ruler_remote_write_relabel); borrowed until _free. */
    const struct noa_ruler_relabel *write_relabel;
};

struct noa_ruler_remote_write;

/*
 * Reads Loki's remote-write client settings: `client` (deprecated: one
 * client, named "default") or `clients` (a map of Prometheus
 * remote_write configs by name, in name order). Both set is Loki's error.
 * Per client: url (required), name, remote_timeout, headers, basic_auth
 * (username, password), authorization (type, credentials),
 * write_relabel_configs; Prometheus's other keys (queue_config, tls_config,
 * ...) are accepted and not used; unknown keys are errors with their
 * position. Fills *out (an array of *n, owned: free with _configs_free)
 * whose strings, headers and relabel steps it owns. Returns 0 (*n = 0 when
 * neither is set) or NOA_EINVAL with err.
 */
int noa_ruler_remote_write_configs(const struct noa_yaml_node *client,
                                   const struct noa_yaml_node *clients,
                                   struct noa_ruler_remote_write_options **out, unsigned *n,
                                   struct noa_error *err);
void noa_ruler_remote_write_configs_free(struct noa_ruler_remote_write_options *v, unsigned n);

int noa_ruler_remote_write_new(const struct noa_ruler_remote_write_options *o,
                               struct noa_ruler_remote_write **out);
/* Stops the sender (if started) after it drained the queue for at most one
 * remote timeout (retries are cut short then; what is left is dropped) and
 * frees the client. NULL is a no-op. */
void noa_ruler_remote_write_free(struct noa_ruler_remote_write *rw);

/*
 * Compresses proto (from _encode) and posts it for tenant (may be NULL).
 * Returns 0 on a 2xx, NOA_EINVAL on another 4xx (not retried: the data is
 * refused), else the last failure after the retries; err says which.
 */
int noa_ruler_remote_write_send(struct noa_ruler_remote_write *rw, const char *tenant,
                                const struct noa_buf *proto, struct noa_error *err);

/* ---- asynchronous sending ----------------------------------------------------
 * As Loki's ruler (which appends to a WAL and remote-writes from it), the
 * ruler thread never waits for a receiver: it queues requests, and a sender
 * thread per client posts them in order with the retries of _send. A full
 * queue drops its oldest request; a request refused (4xx) or failing past
 * its retries is dropped too; both are counted in
 * noa_ruler_remote_write_samples_dropped_total{client}.
 *
 * THREAD SAFETY: `mu` guards the queue and counters; the HTTP client
 * belongs to the sender thread once started (no _send from other threads
 * then).
 */

struct noa_ruler_remote_write_queue_options {
    unsigned capacity;           /* requests (one per rule evaluation); 0 = 1024 */
    struct noa_metrics *metrics; /* may be NULL */
};

/* Starts the sender thread. Returns 0 or a uv error code. */
int noa_ruler_remote_write_start(struct noa_ruler_remote_write *rw,
                                 const struct noa_ruler_remote_write_queue_options *o);

/* Queues proto (copied) with its n_samples for tenant (copied; may be NULL).
 * Never blocks on the network. The client must be started. */
void noa_ruler_remote_write_enqueue(struct noa_ruler_remote_write *rw, const char *tenant,
                                    const struct noa_buf *proto, unsigned n_samples);

/* Waits until the queue is empty and nothing is in flight, at most
 * timeout_ms. Returns 0 or NOA_ETIMEOUT. */
int noa_ruler_remote_write_flush(struct noa_ruler_remote_write *rw, long timeout_ms);

struct noa_ruler_remote_write_stats {
    uint64_t queue_length;    /* requests waiting, the one in flight included */
    uint64_t in_flight;       /* 1 while a request is being sent */
    uint64_t samples_sent;    /* accepted by the receiver */
    uint64_t samples_dropped; /* queue overflow, refused, or failed past the retries */
    uint64_t failed_requests; /* attempts that failed (each retry counts) */
};

void noa_ruler_remote_write_stats(struct noa_ruler_remote_write *rw,
                                  struct noa_ruler_remote_write_stats *out);

#endif
