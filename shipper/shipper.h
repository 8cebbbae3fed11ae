/*
 * The shipper at run time: one loaded configuration (shipper_config.h)
 * turned into running parts and wired together:
 *
 *   discovery (per scrape config, on the controller thread, every
 *   target_config.sync_period) -> the file tailer (one reader thread)
 *   journal targets (one reader thread each)     \
 *   loki_push_api receivers (one loop thread each) -> pipeline stages
 *     (compiled once per reader thread and scrape config)
 *     -> the router (shipper/route.h) -> the push clients (one sender
 *        thread per tenant and client)
 *
 * Positions: the router tells, per source, the offset below which every
 * line is settled (acknowledged by every client, or dropped by the
 * pipeline); the controller commits it to the positions map (files through
 * the tailer, which knows each file's identity; journal cursors through
 * the journal target; push receivers answer their clients) and saves the
 * positions file every positions.sync_period and at stop.
 *
 * -dry-run: entries that pass the pipelines are printed (Promtail's format:
 * time, labels and line separated by tabs) instead of being sent, and the
 * positions file is read but never written.
 *
 * Threads: _new, _start, _stop and _free from one controlling thread;
 * _ready, _targets and _stats from any thread.
 */
#ifndef NOA_SHIPPER_SHIPPER_H
#define NOA_SHIPPER_SHIPPER_H

#include "common/buf.h"
#include "common/err.h"
#include "common/metrics.h"
#include "shipper/shipper_config.h"
#include "shipper/tailer.h"

#include <stdint.h>
#include <stdio.h>

struct noa_shipper_options {
    const struct noa_shipper_config *cfg; /* borrowed for the shipper's life */
    struct noa_metrics *metrics;          /* registry for /metrics; NULL: none */
    int dry_run;                          /* print instead of sending; read-only positions */
    FILE *dry_out;                        /* NULL: stdout */
    int no_inotify;                       /* poll files only (tests, network filesystems) */
};

/* Counters for /metrics and tests. */
struct noa_shipper_stats {
    uint64_t read_lines, read_bytes;   /* lines the tailer handed over */
    uint64_t entries_routed;           /* entries handed to the clients */
    uint64_t entries_rate_limited;     /* dropped by limits_config readline_rate */
    uint64_t sent_entries, sent_bytes; /* accepted by the servers, all clients */
    uint64_t dropped_entries;          /* refused for good by the servers */
    uint64_t retries;                  /* batch retries, all clients */
    uint64_t targets_active;           /* gauge: file targets from discovery */
    uint64_t files_active;             /* gauge: files being tailed */
    uint64_t positions_saves, positions_save_errors;
    uint64_t queued_bytes;             /* gauge: entries waiting in the clients' queues */
    /* push request durations, all clients (see noa_client_latency_bounds) */
    uint64_t latency_buckets[NOA_CLIENT_LATENCY_BUCKETS + 1];
    double latency_sum;
};

struct noa_shipper;

/*
 * Opens the positions file, compiles every scrape config's relabel rules and
 * pipelines (to check them: each reader thread compiles its own copy at
 * start) and prepares the clients. Nothing runs yet. Returns 0, or
 * NOA_EINVAL / NOA_ECORRUPT / -errno with err saying what is wrong
 * ("file:line:col: ..." for configuration errors).
 */
int noa_shipper_new(const struct noa_shipper_options *opts, struct noa_shipper **out,
                    struct noa_error *err);

/* Starts discovery, readers, receivers and senders. 0 or a negative code
 * (err says which part failed, e.g. a push receiver's port in use). */
int noa_shipper_start(struct noa_shipper *s, struct noa_error *err);

/*
 * Graceful stop: stops reading (a partial last line is left for the next
 * start), releases what stages hold, lets the clients send what they have
 * for up to drain_ms, commits settled positions and saves the positions
 * file. Idempotent.
 */
void noa_shipper_stop(struct noa_shipper *s, int64_t drain_ms);

/* Stops (drain 0) if needed and frees; NULL is a no-op. */
void noa_shipper_free(struct noa_shipper *s);

/* 1 when ready (started, and with server.health_check_target a target
 * exists); else 0 and why. */
int noa_shipper_ready(struct noa_shipper *s, char *why, size_t cap);

/* Appends what is tailed and how far: JSON (json = 1) or a plain HTML
 * page, as /targets serves it. */
void noa_shipper_targets(struct noa_shipper *s, int json, struct noa_buf *out);

void noa_shipper_stats(struct noa_shipper *s, struct noa_shipper_stats *out);

/* Every tailed file's size and read offset (noa_tailer_foreach); nothing
 * without file targets. */
void noa_shipper_files(struct noa_shipper *s,
                       void (*cb)(void *ud, const struct noa_tailer_file_state *f), void *ud);

#endif
