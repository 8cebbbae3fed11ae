/*
 * Token buckets for Loki's ingestion limits, and the 429 texts Loki sends
 * when one is hit.
 *
 * The bucket behaves as golang.org/x/time/rate's Limiter.AllowN, which
 * Loki uses through dskit: it starts full (burst tokens), refills at `rate`
 * tokens per second up to `burst`, and a request either takes all its
 * tokens or none (a cost above burst can never pass). Loki's distributor
 * charges a whole push (line + structured metadata bytes) against the
 * tenant bucket (ingestion_rate_mb / ingestion_burst_size_mb) and rejects
 * the whole push on failure; its ingester keeps one bucket per stream
 * (per_stream_rate_limit / _burst).
 *
 * THREAD SAFETY: a bucket has no lock. Its owner (the thread that handles
 * the tenant's pushes, or the stream's owner) serialises calls.
 */
#ifndef NOA_INGESTER_RATELIMIT_H
#define NOA_INGESTER_RATELIMIT_H

#include "common/buf.h"
#include "ingester/limits.h"

#include <stddef.h>
#include <stdint.h>

struct noa_ratelimit {
    double rate;     /* read-only: tokens (bytes) per second; INFINITY = unlimited,
                      * <= 0 = no refill */
    double burst;    /* read-only: bucket size (bytes) */
    double tokens;   /* private */
    int64_t last_ns; /* private: time tokens was computed for */
    int started;     /* private: 0 until the first call (the bucket is then full) */
};

/* A full bucket of `burst` tokens refilled at `rate` per second. */
void noa_ratelimit_init(struct noa_ratelimit *rl, double rate, double burst);

/*
 * Changes rate and burst at now_ns, keeping the tokens accrued so far under
 * the old rate (x/time/rate SetLimitAt + SetBurstAt; Loki re-reads a
 * tenant's limits this way every 10 s).
 */
void noa_ratelimit_set(struct noa_ratelimit *rl, int64_t now_ns, double rate, double burst);

/*
 * Takes `cost` tokens at now_ns if they are all there: returns 1 and
 * consumes them, or returns 0 and consumes nothing (a predicate, so callers
 * write `if (!noa_ratelimit_allow(...))`). A clock that steps back counts
 * as no time passing.
 */
int noa_ratelimit_allow(struct noa_ratelimit *rl, int64_t now_ns, double cost);

/* Tokens available at now_ns (no state change). */
double noa_ratelimit_tokens(const struct noa_ratelimit *rl, int64_t now_ns);

/*
 * The per-ingester active stream limit Loki derives from the limits:
 * max_global_streams_per_user spread over n_ingesters with the replication
 * factor (global / n_ingesters * rf), then the smaller non-zero of that and
 * max_streams_per_user. 0 means unlimited. A single-node server passes 1, 1.
 */
uint64_t noa_ratelimit_stream_limit(const struct noa_limits *lim, int n_ingesters, int rf);

/* Loki's sizes as its flagext.ByteSize prints them: the largest binary unit
 * that divides exactly ("3MB", "1536KB", "100B", "0B"). Returns out. */
char *noa_ratelimit_format_size(char *out, size_t cap, uint64_t bytes);

/*
 * Appends Loki's 429 body for the tenant ingestion limit (limit truncated
 * to an integer as Loki does): "Ingestion rate limit exceeded for user fake
 * (limit: 4194304 bytes/sec) while attempting to ingest '1' lines totaling
 * '100' bytes, reduce log volume or contact your Loki administrator to see
 * if the limit can be increased".
 */
void noa_ratelimit_format_tenant(struct noa_buf *out, const char *tenant, double limit,
                                 uint64_t lines, uint64_t bytes);

/*
 * Appends Loki's per-stream rate limit text: "Per stream rate limit
 * exceeded (limit: 3MB/sec) while attempting to ingest for stream
 * '{app="a"}' totaling 100B, consider splitting a stream via additional
 * labels or contact your Loki administrator to see if the limit can be
 * increased". labels is the stream's canonical text.
 */
void noa_ratelimit_format_stream(struct noa_buf *out, double limit, struct noa_str labels,
                                 uint64_t bytes);

/*
 * Appends Loki's active stream limit text, naming one stream that could
 * not be created: "Maximum active stream limit exceeded when trying to
 * create stream {app="a"}, reduce the number of active streams (reduce
 * labels or reduce label values), or contact your Loki administrator to see
 * if the limit can be increased, user: 'fake'".
 */
void noa_ratelimit_format_stream_limit(struct noa_buf *out, struct noa_str labels,
                                       const char *tenant);

#endif
