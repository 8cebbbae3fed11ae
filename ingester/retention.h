/*
 * Retention: deletes flushed chunks older than limits_config.retention_period
 * (or the period of the limits_config.retention_stream rule that applies to
 * their stream), as Loki's compactor does when compactor.retention_enabled
 * is true.
 *
 * A sweep runs every compactor.compaction_interval (and once at start) on
 * the module's own thread, so pushes and queries never wait for it. It has
 * two phases:
 *
 *   mark    for every tenant, every chunk whose whole time range is older
 *           than now - period (through < cutoff, Loki's expiry rule; the
 *           period of the chunk's stream, from its labels) is
 *           written to a marker file (fsynced), then its refs are removed
 *           from the index in one synced batch per marker. A stream left
 *           without refs in a day loses its series and postings there. A
 *           chunk straddling the cutoff is kept whole.
 *   sweep   a marker older than compactor.retention_delete_delay has its
 *           index deletes applied again (idempotent: covers a crash between
 *           writing the marker and deleting the refs), then its chunk files
 *           are deleted, then the marker is removed.
 *
 * So the index entry always disappears before the file, and a query that
 * read the refs just before a mark has the delete delay to read the files.
 * Markers make pending deletions survive a restart. Chunks still in memory
 * or in the WAL are untouched; they are marked once flushed, by a later
 * sweep. Work is bounded: at most batch_chunks refs are held in memory and
 * deleted per index write.
 *
 * Marker files: <work_dir>/<created_unix_ns, 20 digits>-<seq, 6 digits>.mrk,
 * written as a temporary file, fsynced and renamed. Text lines:
 *
 *   | line   | content                                                            |
 *   |--------|--------------------------------------------------------------------|
 *   | first  | "noa-retention-marker 1"                                           |
 *   | others | hex(tenant) SP fp (16 hex) SP from_ns SP through_ns SP checksum    |
 *   |        | (8 hex) SP compressed_bytes SP chunk key (rest of the line)        |
 *
 * THREAD SAFETY: _new, _start and _free on one thread (the server's loop
 * thread). Sweeps run on the retention thread or, for tests and tools, on
 * the caller's thread via noa_retention_run; a mutex keeps two sweeps from
 * overlapping. _stats may be called from any thread. The index and chunk
 * store are thread-safe and shared with flushes and queries.
 */
#ifndef NOA_INGESTER_RETENTION_H
#define NOA_INGESTER_RETENTION_H

#include "common/err.h"
#include "common/labels.h"
#include "common/selector.h"
#include "common/yaml.h"
#include "ingester/chunkstore.h"
#include "ingester/index.h"

#include <stdint.h>

struct noa_metrics;

/* Defaults (Loki's compactor defaults). */
#define NOA_RETENTION_DEFAULT_INTERVAL_NS (600LL * 1000000000LL) /* 10m */
#define NOA_RETENTION_DEFAULT_BATCH 1000u

/* One limits_config.retention_stream rule. */
struct noa_retention_rule {
    struct noa_selector sel; /* owned */
    int64_t priority;
    int64_t period_ns; /* >= 24h */
};

/* The rules in configuration order. */
struct noa_retention_rules {
    struct noa_retention_rule *v; /* owned */
    size_t n;
};

struct noa_retention_options {
    int64_t period_ns;       /* retention_period; 0 keeps every stream no rule
                              * matches (without rules, sweeps only finish
                              * pending deletions) */
    int64_t interval_ns;     /* time between sweeps; 0 = 10m */
    int64_t delete_delay_ns; /* marker age before its files are deleted; >= 0 */
    const char *work_dir;    /* marker directory, created when missing */
    unsigned batch_chunks;   /* refs per marker and index batch; 0 = 1000 */
    /* Optional per-stream periods; taken: moved into the module (and left
     * empty) by a successful _new. */
    struct noa_retention_rules *rules;
    /* Optional, borrowed, must outlive the module: registers
     * noa_compactor_* metrics there. */
    struct noa_metrics *metrics;
};

/*
 * Parses limits_config.retention_stream: a sequence of maps with selector
 * (a stream selector), priority (int, default 0) and period (a duration).
 * NULL or null is no rules. Loki's checks and messages, prefixed with the
 * node's file:line:col: "invalid labels matchers: <parse error>" and
 * "retention period must be >= 24h was 5h". Unknown keys are refused as in
 * any Loki block. Returns 0 with *out filled (caller's storage, release
 * with _rules_fini) or NOA_EINVAL (nothing to release).
 */
int noa_retention_rules_parse(const struct noa_yaml_node *n, struct noa_retention_rules *out,
                              struct noa_error *err);
void noa_retention_rules_fini(struct noa_retention_rules *rules);

/*
 * The period that applies to a stream (Loki's RetentionPeriodFor): among
 * the rules whose selector matches ls, the highest priority wins and, at
 * equal priority, the shortest period; without a match, global_ns. A
 * period <= 0 means keep forever.
 */
int64_t noa_retention_period_for(const struct noa_retention_rules *rules, int64_t global_ns,
                                 const struct noa_labels *ls);

/* Figures since _new (counters) and of the last sweep. */
struct noa_retention_stats {
    uint64_t sweeps;          /* successful sweeps */
    uint64_t failures;        /* sweeps that stopped on an error */
    uint64_t marked_chunks;   /* chunks removed from the index */
    uint64_t deleted_chunks;  /* chunk files deleted */
    uint64_t deleted_bytes;   /* their compressed size */
    uint64_t pending_markers; /* markers waiting for the delete delay (last sweep) */
    int64_t last_success_ns;  /* Unix ns of the last successful sweep; 0 = none */
};

struct noa_retention;

/*
 * Creates the module over idx and cs (borrowed; they must outlive it) and
 * the marker directory. Leftover temporary markers (a crash while writing
 * one: their refs were never deleted) are removed. Does not start the
 * thread. Returns 0 with *out set, NOA_EINVAL for bad options, or -errno
 * with err filled.
 */
int noa_retention_new(struct noa_index *idx, struct noa_chunkstore *cs,
                      const struct noa_retention_options *opts, struct noa_retention **out,
                      struct noa_error *err);

/* Starts the sweep thread: a sweep now, then one every interval. Returns 0
 * or -errno. */
int noa_retention_start(struct noa_retention *r);

/*
 * One sweep at time now_ns (Unix ns): mark, then delete what is due. Runs
 * on the caller's thread; waits for a sweep in progress. Logs one info line
 * with its counts (component=compactor). Returns 0, or the first error
 * (-EIO, -errno) with err filled; what was done before it stays done and
 * the next sweep resumes.
 */
int noa_retention_run(struct noa_retention *r, int64_t now_ns, struct noa_error *err);

/* Copies the figures. Any thread. */
void noa_retention_stats(struct noa_retention *r, struct noa_retention_stats *out);

/* Stops the thread (waiting for a sweep in progress to finish its current
 * batch) and frees the module. NULL is a no-op. */
void noa_retention_free(struct noa_retention *r);

#endif
