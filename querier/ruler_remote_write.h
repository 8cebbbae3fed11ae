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
 * Labels are sent sorted by name, __name__ included. Sending is blocking
 * and retried with exponential backoff on 5xx, 429 and network errors;
 * the ruler thread calls it.
 */
#ifndef NOA_QUERIER_RULER_REMOTE_WRITE_H
#define NOA_QUERIER_RULER_REMOTE_WRITE_H

#include "common/buf.h"
#include "common/err.h"
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
    const char *url;         /* the receiver, e.g. http://prom:9090/api/v1/write */
    long timeout_ms;         /* per attempt; 0 = 30 s (Prometheus's remote_timeout) */
    unsigned max_retries;    /* retries after the first attempt; 0 = 3 */
    long min_backoff_ms;     /* 0 = 30 ms */
    long max_backoff_ms;     /* 0 = 5 s */
    int add_org_id_header;   /* 1: X-Scope-OrgID: <tenant> (Loki's default) */
};

struct noa_ruler_remote_write;

int noa_ruler_remote_write_new(const struct noa_ruler_remote_write_options *o,
                               struct noa_ruler_remote_write **out);
void noa_ruler_remote_write_free(struct noa_ruler_remote_write *rw);

/*
 * Compresses proto (from _encode) and posts it for tenant (may be NULL).
 * Returns 0 on a 2xx, NOA_EINVAL on another 4xx (not retried: the data is
 * refused), else the last failure after the retries; err says which.
 */
int noa_ruler_remote_write_send(struct noa_ruler_remote_write *rw, const char *tenant,
                                const struct noa_buf *proto, struct noa_error *err);

#endif
