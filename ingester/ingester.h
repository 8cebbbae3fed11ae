/*
 * The ingester: accepts validated pushes, makes them durable in the WAL,
 * keeps them in stream heads, cuts chunks and flushes them to the chunk
 * store and the index, checkpoints the WAL, and replays it on start.
 *
 * THREAD SAFETY: created, driven and closed on the loop thread. Flushes,
 * checkpoints and index/store writes run on libuv worker threads; their
 * results come back to the loop thread. Readers (query workers) use
 * noa_ingester_snapshot and the store/index handles, which are thread-safe.
 */
#ifndef NOA_INGESTER_INGESTER_H
#define NOA_INGESTER_INGESTER_H

#include "common/buf.h"
#include "common/err.h"
#include "common/labels.h"
#include "common/selector.h"
#include "ingester/block.h"
#include "ingester/chunkstore.h"
#include "ingester/index.h"
#include "ingester/instance.h"
#include "ingester/limits.h"
#include "ingester/validate.h"

#include <stdint.h>
#include <uv.h>

struct noa_metrics;

struct noa_ingester_options {
    const char *wal_dir;
    const char *chunks_dir;
    const char *index_dir;
    int wal_enabled;              /* 1: every push is durable before its 2xx */
    uint64_t wal_segment_size;    /* bytes */
    int64_t checkpoint_period_ns; /* checkpoint_duration */
    uint32_t block_size;          /* chunk_block_size, raw bytes */
    uint64_t target_size;         /* chunk_target_size, compressed bytes */
    int64_t idle_period_ns;       /* chunk_idle_period */
    int64_t max_chunk_age_ns;     /* max_chunk_age */
    int64_t flush_check_period_ns;
    int flush_on_shutdown;        /* cut and flush everything on close */
    double disk_full_threshold;   /* refuse pushes while the WAL's filesystem is this
                                     full (0..1); 0 = never */
    int zstd_level;
    /* NOA_CHUNK_CODEC_* for new blocks and chunks (chunk_encoding); 0 = zstd.
     * Chunks and WAL snapshots of either codec are read whatever it is. */
    int chunk_codec;
    const struct noa_limits *limits; /* borrowed for the ingester's lifetime */
    /* Optional, borrowed; must outlive the ingester. Open registers
     * noa_ingester_wal_fsync_duration_seconds there (the WAL writer thread
     * observes every fdatasync into it). NULL: no fsync histogram. */
    struct noa_metrics *metrics;
};

struct noa_ingester;

/* Opens storage (chunk store, index, WAL). Not ready yet. Loop thread. */
int noa_ingester_open(uv_loop_t *loop, const struct noa_ingester_options *opts,
                      struct noa_ingester **out, struct noa_error *err);

/* Replays the WAL on a worker thread; cb runs on the loop thread with 0
 * (the ingester is then ready) or an error. Until then pushes and queries
 * get 503. Returns 0 or a libuv error (cb will not run). */
int noa_ingester_recover(struct noa_ingester *ing,
                         void (*cb)(int status, const struct noa_error *err, void *ctx), void *ctx);

/* Starts flush and checkpoint timers. */
void noa_ingester_start(struct noa_ingester *ing);

/* 1 once replay finished and until close begins. */
int noa_ingester_ready(const struct noa_ingester *ing);

/*
 * Ingests a validated request for `tenant`. `wal_record` is the encoded
 * PUSH record (ingester/walrec.h) of every accepted entry; its bytes are
 * taken (the buffer is left empty). Applies the stream and rate limits,
 * appends to the WAL, and once durable adds the entries to the heads and
 * calls done_cb(status, ctx) on the loop thread. Entries older than a
 * stream's out-of-order window are dropped first, with Loki's message
 * appended to v->errors (the caller answers 400 after storing the rest).
 * done_cb gets 0, NOA_ELIMIT with msg
 * (429), NOA_EUNAVAIL (503: not ready / closing), or an I/O error (500).
 * `msg` receives the message for a non-zero status. done_cb runs exactly
 * once, possibly before this returns.
 */
void noa_ingester_push(struct noa_ingester *ing, const char *tenant,
                       struct noa_validated *v, struct noa_buf *wal_record,
                       void (*done_cb)(int status, const char *msg, void *ctx), void *ctx);

/*
 * Live tail (querier/tail_api.h). Once a hook is set, after a push's
 * entries were appended to the stream heads (on the loop thread, before the
 * push is acknowledged) append_cb gets, per stream of the push, its sorted
 * labels and entries, with appended[i] = 1 for those stored (0 for exact
 * duplicates) — but only when wants_cb(tenant) says someone follows the
 * tenant, so pushes cost one call when nobody tails. Everything passed is
 * borrowed for the call. Replayed entries are never passed. Loop thread.
 */
struct noa_ingester_tail_hook {
    int (*wants_cb)(const char *tenant, void *ctx);
    void (*append_cb)(const char *tenant, const struct noa_labels *labels,
                      const struct noa_push_entry *entries, const uint8_t *appended, uint32_t n,
                      void *ctx);
    void *ctx;
};

/* Sets (or with NULL clears) the tail hook; copied. Loop thread. */
void noa_ingester_set_tail_hook(struct noa_ingester *ing,
                                const struct noa_ingester_tail_hook *hook);

/* Cuts every stream's open chunk and flushes it now (POST /flush). */
void noa_ingester_flush_all(struct noa_ingester *ing);

/* Graceful stop: stops timers, optionally flushes, waits for flushes and
 * the WAL, then cb. Loop thread. */
void noa_ingester_close(struct noa_ingester *ing, void (*cb)(void *ctx), void *ctx);

/* Read side, any thread. */
struct noa_index *noa_ingester_index(struct noa_ingester *ing);
struct noa_chunkstore *noa_ingester_store(struct noa_ingester *ing);

/* What a query needs of one in-memory stream, copied out under the lock. */
struct noa_mem_stream {
    uint64_t fp;
    struct noa_labels labels;  /* owned (one heap block) */
    struct noa_block **blocks; /* owned references: sealed and cut blocks */
    uint32_t n_blocks;
    struct noa_buf head;       /* owned: head entries sorted by time */
    uint32_t head_entries;
    int64_t head_min_ts, head_max_ts;
};

/* Copies out every in-memory stream of `tenant` matching sel (NULL = all)
 * that holds data in [from_ns, through_ns]. include_data = 0 copies only
 * labels (for label/series queries). Any thread. */
int noa_ingester_snapshot(struct noa_ingester *ing, const char *tenant,
                          const struct noa_selector *sel, int64_t from_ns, int64_t through_ns,
                          int include_data, struct noa_mem_stream **out, size_t *n);
void noa_mem_streams_free(struct noa_mem_stream *v, size_t n);

/* Calls cb(labels, ctx) for every in-memory stream of tenant matching sel
 * (NULL = all) with data in [from_ns, through_ns], holding the read lock:
 * cb must be quick and must not call back into the ingester. A non-zero
 * return stops the walk and is returned. Any thread. */
int noa_ingester_each_stream(struct noa_ingester *ing, const char *tenant,
                             const struct noa_selector *sel, int64_t from_ns, int64_t through_ns,
                             int (*cb)(const struct noa_labels *ls, void *ctx), void *ctx);

/* Figures for /metrics. */
struct noa_ingester_stats {
    uint64_t streams, tenants;
    uint64_t lines_appended, bytes_appended, duplicates_dropped;
    uint64_t chunks_flushed, chunk_bytes_flushed, flush_failures, flush_queue;
    uint64_t checkpoints, checkpoint_failures;
    uint64_t wal_write_errors;  /* failed WAL writes, syncs or segment creations */
    uint64_t replayed_records, wal_corruptions;
    double last_flush_seconds;
    double wal_disk_used;       /* fraction of the WAL filesystem in use at the last check */
    int wal_disk_full;          /* 1 while pushes are refused for it */
};
void noa_ingester_stats(struct noa_ingester *ing, struct noa_ingester_stats *st);

#endif
