/*
 * Loki's log volume (index/volume, index/volume_range) as pure
 * aggregation: the caller feeds each matching stream's chunk metadata
 * (sizes and time bounds, never the data) and gets Loki's Prometheus-style
 * answer. Owns the per-request accumulator; one thread at a time (the
 * query worker).
 *
 * What it reproduces, from Loki 3.x:
 * - Buckets (pkg/querier/queryrange/volume.go + util.ForInterval): an
 *   instant volume is one bucket [start, end]; volume_range cuts the range
 *   at multiples of step (the first bucket keeps the real start, every
 *   bucket but the last ends 1 ms before the next boundary, the last ends
 *   at end). Each bucket is queried over [start, end] truncated to whole
 *   seconds, and its sample is stamped with the bucket's end (ms).
 * - Attribution: a chunk counts in a bucket when it overlaps the bucket's
 *   query range, prorated by the share of its [first, last] time span
 *   inside it (util.GetFactorOfTime; a single-instant chunk counts fully).
 *   Flushed chunks follow the TSDB index: milliseconds, size in KB
 *   (round(bytes / 1024)), truncated to whole KB after prorating, and a
 *   stream counts only when its prorated entries are > 0. In-memory data
 *   follows the ingester: nanoseconds, exact bytes, strict overlap, and a
 *   stream whose time bounds touch the bucket counts even with 0 bytes.
 * - Grouping (util.PrepareLabelsAndMatchers, TSDBIndex.Volume): without
 *   targetLabels, by the label names of the query's matchers (all labels
 *   for `{}`); with targetLabels, by those, and a stream must carry a
 *   non-empty value for every target the query does not match on.
 *   aggregateBy=labels sums per label name instead. `__tenant_id__` is
 *   never a group label.
 * - Per bucket: volume descending, then name ascending, cut to limit
 *   (seriesvolume.MapToVolumeResponse); more than max_series distinct
 *   names in a bucket fails with Loki's message.
 * - Answer: series sorted by their first sample's value descending, then
 *   name; "vector" when no series has two samples, else "matrix"; an empty
 *   stats object, as the query frontend's LokiPromResponse.
 */
#ifndef NOA_QUERIER_VOLUME_H
#define NOA_QUERIER_VOLUME_H

#include "common/buf.h"
#include "common/err.h"
#include "common/labels.h"
#include "common/selector.h"

#include <stddef.h>
#include <stdint.h>

#define NOA_VOLUME_DEFAULT_LIMIT 100

/* A piece of a stream's data as the storage describes it. */
struct noa_volume_chunk {
    int64_t from_ns, through_ns; /* first and last entry */
    uint64_t bytes;              /* uncompressed line + metadata bytes */
    uint64_t entries;
    int flushed; /* 1: a chunk from the index; 0: data still in memory */
};

struct noa_volume_opts {
    int64_t start_ns, end_ns; /* the request's range */
    int64_t step_ns;          /* 0: instant volume (one bucket) */
    uint32_t limit;           /* per bucket; 0 = NOA_VOLUME_DEFAULT_LIMIT */
    uint32_t max_series;      /* distinct names per bucket; 0 = unlimited */
    int by_labels;            /* aggregateBy=labels */
    const struct noa_str *targets; /* targetLabels (copied) */
    uint32_t n_targets;
    const struct noa_selector *sel; /* the query's matchers (names copied); NULL = `{}` */
};

struct noa_volume;

/* Builds the accumulator and its buckets. Returns 0, or NOA_EINVAL when
 * step_ns is below 1 ms or the range needs more than 11001 buckets (the
 * caller validates step as Loki does first). */
int noa_volume_new(const struct noa_volume_opts *o, struct noa_volume **out,
                   struct noa_error *err);
void noa_volume_free(struct noa_volume *v); /* NULL is a no-op */

/* The time range the storage must be asked for: every chunk that can
 * count in some bucket overlaps it (inclusive bounds, ns). */
void noa_volume_span(const struct noa_volume *v, int64_t *from_ns, int64_t *through_ns);

/*
 * Adds one stream (labels sorted; borrowed) with n pieces of its data. The
 * caller has applied the query's selector; this applies the targetLabels
 * requirement. The same stream may be added several times (flushed chunks
 * and memory apart, or per tenant): volumes add up. Returns 0, or
 * NOA_EINVAL "the query hit the max number of series limit (limit: N
 * series)".
 */
int noa_volume_add(struct noa_volume *v, const struct noa_labels *ls,
                   const struct noa_volume_chunk *c, size_t n, struct noa_error *err);

/* Appends Loki's JSON answer ({"status":"success","data":{...}}) to out.
 * The last call on v (it reorders the accumulator): only _free may follow. */
void noa_volume_encode(struct noa_volume *v, struct noa_buf *out);

#endif
