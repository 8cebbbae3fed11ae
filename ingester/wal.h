/*
 * Write-ahead log: every accepted push is appended here and acknowledged
 * only once it is durable (written and fdatasync'd). One dedicated writer
 * thread takes every queued record at once, writes the group with pwritev
 * and syncs once (group commit); completions come back to the loop thread
 * through one uv_async handle, in append order. On start the newest
 * checkpoint and the segments after it are replayed synchronously.
 *
 * Owns: the directory <dir> (segments, checkpoints, an flock on the
 * directory itself so two processes never share a WAL), the writer thread,
 * the append queue. Threads: noa_wal_open/append/roll/checkpoint_begin/
 * close and every callback run on the loop thread; replay runs on the
 * caller's thread before any append; stats, remove_segments_before and
 * the checkpoint writer functions are callable from any thread (the last
 * two block on disk I/O: run them on a worker).
 *
 * ON-DISK FORMAT (version 1). Integers are little-endian.
 *
 * Directory <dir>:
 *   00000001, 00000002, ...   segments: decimal, zero-padded to 8 digits
 *                              (more digits once past 99999999), as Loki's
 *                              and Prometheus's WAL name them.
 *   checkpoint.NNNNNNNN        a committed checkpoint: the state of every
 *                              record in segments <= NNNNNNNN.
 *   checkpoint.NNNNNNNN.tmp    a checkpoint being written; never replayed,
 *                              deleted by replay.
 *   Other names are ignored.
 *
 * File header (segments and checkpoints), 8 bytes:
 *   offset size meaning
 *   0      4    magic: "NWAL" in a segment, "NWCK" in a checkpoint
 *   4      1    format version, 1
 *   5      3    zero
 *
 * Record, 9 + len bytes, packed back to back after the file header:
 *   offset size meaning
 *   0      4    CRC-32C (Castagnoli) of bytes [4, 9 + len): length, type, payload
 *   4      4    len: payload length in bytes, <= NOA_WAL_RECORD_MAX
 *   8      1    type: 1 = data (an appended record); 2 = end of checkpoint
 *                (checkpoints only: the last record, payload u64 count of
 *                data records before it)
 *   9      len  payload, opaque to the WAL
 *
 * A record never spans two files. A segment rolls before a record would take
 * it past segment_size (a record bigger than segment_size gets a segment of
 * its own). The CRC covers the length, so a flipped length bit is caught.
 *
 * Replay rules. Only the LAST segment may end in a torn tail: what a crash
 * in the middle of a group leaves (never acknowledged). The first bad
 * record at offset o of the last segment is a torn tail when fewer than 9
 * bytes remain, when its length runs past the end of the file, when every
 * byte from o to the end is zero, or when it fails its CRC and nothing but
 * zeros follows its declared end. A torn tail is truncated away (one
 * warning). Anything else that fails - a CRC mismatch, a length above
 * NOA_WAL_RECORD_MAX, an unknown type, a bad file header, a checkpoint
 * without its end record - is corruption: logged with the file and byte
 * offset, counted, the records before it are kept, the rest of that file
 * is skipped and replay continues with the next file. An empty segment
 * (created, crash before its first write) holds no records and is fine
 * anywhere; a file header cut short counts as a torn tail in the last
 * segment. One ambiguity is resolved towards "torn": a length corrupted in
 * the last record of the last segment so that it points past the end.
 *
 * Durability (a decision: Loki itself acks after write() without fsync).
 * A record is acknowledged after the fdatasync of its group; a new segment
 * is acknowledged only after the directory is fsynced too. A failed write
 * is cut off again (ftruncate to the end of the last good group) so the
 * segment still ends on a record boundary; a failed fdatasync is sticky.
 * no_sync = 1 gives Loki's behaviour (survives a process crash, not a
 * machine crash).
 */
#ifndef NOA_INGESTER_WAL_H
#define NOA_INGESTER_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define NOA_WAL_FILE_HEADER 8
#define NOA_WAL_RECORD_HEADER 9
/* Format limit: a length field above this is impossible (corruption). */
#define NOA_WAL_RECORD_MAX (1u << 30)
#define NOA_WAL_REC_DATA 1
#define NOA_WAL_REC_END 2

#define NOA_WAL_DEFAULT_SEGMENT_SIZE (128u << 20)
#define NOA_WAL_DEFAULT_MAX_RECORD (128u << 20)
#define NOA_WAL_DEFAULT_MAX_QUEUE (256u << 20)

/* The I/O steps the fault hook can fail, for tests. */
enum noa_wal_op {
    NOA_WAL_OP_CREATE = 1, /* creating a segment file */
    NOA_WAL_OP_WRITE = 2,  /* after one pwritev of a group: the bytes are in the file, the
                              error makes it a failed (partial) write */
    NOA_WAL_OP_SYNC = 3,   /* the fdatasync of a group (or of a segment before it rolls) */
};

struct noa_wal_options {
    const char *dir;       /* created (with parents) when missing; copied */
    uint64_t segment_size; /* bytes; 0 = NOA_WAL_DEFAULT_SEGMENT_SIZE */
    uint32_t max_record;   /* bytes; 0 = NOA_WAL_DEFAULT_MAX_RECORD (capped at
                              NOA_WAL_RECORD_MAX); bigger appends get NOA_ETOOBIG */
    uint64_t max_queue;    /* bytes queued or in flight before appends get NOA_ELIMIT;
                              0 = NOA_WAL_DEFAULT_MAX_QUEUE. A record alone is always
                              accepted (up to max_record). */
    int no_sync;           /* 1 = never fdatasync: survives a process crash only
                              (Loki's own behaviour); 0 (default) = acked means synced */
    /* Optional, writer thread: called after every fdatasync with its duration. */
    void (*fsync_observe_cb)(double seconds, void *ctx);
    void *observe_ctx;
    /* Optional, writer thread, for tests: called before each I/O step; a
     * negative errno return makes that step fail as if the syscall had. It
     * may block (tests use that to hold a group back). */
    int (*fault_cb)(enum noa_wal_op op, void *ctx);
    void *fault_ctx;
};

/* Figures for /metrics; counters since open. */
struct noa_wal_stats {
    uint64_t bytes_written;  /* bytes written to segments, headers included */
    uint64_t records;        /* records made durable */
    uint64_t fsyncs;         /* fdatasync calls */
    uint64_t fsync_ns_total; /* nanoseconds spent in fdatasync */
    uint64_t fsync_ns_max;   /* the slowest fdatasync, nanoseconds */
    uint64_t write_errors;   /* failed writes, syncs or segment creations */
    uint64_t queue_bytes;    /* payload bytes appended and not yet completed */
    uint64_t queue_records;  /* records appended and not yet completed */
    uint32_t segment;        /* current segment number (0: none yet) */
    int failed;              /* 0, or the sticky error after a failed fsync */
};

struct noa_wal_replay_stats {
    uint64_t records;            /* data records delivered, checkpoint included */
    uint64_t bytes;              /* their payload bytes */
    uint64_t checkpoint_records; /* of which from the checkpoint */
    uint32_t checkpoint;         /* NNNNNNNN of the checkpoint replayed, 0 if none */
    int has_checkpoint;          /* 1 when a checkpoint was replayed */
    uint32_t segments;           /* segment files read */
    uint32_t first_segment;      /* first and last segment read (0 if none) */
    uint32_t last_segment;
    uint32_t torn_tails;  /* 0 or 1 */
    uint32_t corruptions; /* files in which corruption stopped the reading */
};

struct noa_wal;
struct noa_wal_checkpoint;
struct uv_loop_s; /* libuv's uv_loop_t */

/*
 * Opens (creating when missing) the WAL directory, locks it (flock) and
 * starts the writer thread. Loop thread. Returns 0 and *out, or -errno /
 * NOA_EUNAVAIL (directory locked by another opener) with err filled.
 * Nothing is read yet: call noa_wal_replay before the first append to
 * recover; appends always go to a segment numbered after every existing
 * one. The uv_async handle is unreferenced while nothing is pending, so
 * an idle WAL does not keep uv_run alive.
 */
int noa_wal_open(struct uv_loop_s *loop, const struct noa_wal_options *opts, struct noa_wal **out,
                 struct noa_error *err);

/*
 * Replays the newest committed checkpoint, then every segment after it in
 * order, calling cb for each data record: rec is borrowed for the call;
 * from_checkpoint is 1 for checkpoint records (segment is then the
 * checkpoint's NNNNNNNN); a non-zero return stops replay, which returns
 * it. Synchronous, blocking I/O, at most once and only before the first
 * append/roll/checkpoint (else NOA_EINVAL).
 * Truncates a torn tail of the last segment, deletes .tmp checkpoints,
 * older checkpoints and segments the checkpoint covers. Corruption does not
 * fail replay (see the format comment); I/O errors and a non-zero cb
 * return do. st (optional) is filled either way.
 */
int noa_wal_replay(struct noa_wal *w,
                   int (*cb)(const void *rec, size_t len, int from_checkpoint, uint32_t segment,
                             void *ctx),
                   void *ctx, struct noa_wal_replay_stats *st, struct noa_error *err);

/*
 * Queues a copy of rec. Loop thread. Returns 0 and done_cb runs exactly once
 * later on the loop thread, in append order, with status 0 and the segment
 * the record is durable in, or a negative code (-ENOSPC, -EIO, ...).
 * Returns without calling done_cb: NOA_ETOOBIG (len > max_record),
 * NOA_ELIMIT (queue full: back off and retry), NOA_EUNAVAIL
 * (closing), NOA_ENOMEM, or the sticky error of an earlier failed fsync
 * (the WAL must be reopened: fsync failures are not retryable on Linux).
 */
int noa_wal_append(struct noa_wal *w, const void *rec, size_t len,
                   void (*done_cb)(int status, uint32_t segment, void *ctx), void *ctx);

/* Like noa_wal_append, but takes ownership of b's bytes on success (b is
 * left empty; no copy). On failure b is untouched. */
int noa_wal_append_buf(struct noa_wal *w, struct noa_buf *b,
                       void (*done_cb)(int status, uint32_t segment, void *ctx), void *ctx);

/* The segment the newest record went to (the open one), or 0 when none
 * was written since open. Any thread. */
uint32_t noa_wal_segment_current(struct noa_wal *w);

/* Records appended after this call go to a new segment. Loop thread. */
void noa_wal_roll(struct noa_wal *w);

/*
 * Deletes segment files numbered < segment (never the open one or later)
 * and fsyncs the directory. Use once their data is flushed to chunks or
 * checkpointed. Any thread; blocks. Returns 0 or -errno.
 */
int noa_wal_remove_segments_before(struct noa_wal *w, uint32_t segment);

/*
 * Starts a checkpoint: queues a roll, and once every record appended before
 * this call has completed (its done_cb has run), cb runs on the loop thread
 * with status 0, a writer for checkpoint.<S-1> and S, the first segment
 * holding records appended after this call (or an error and NULL). So
 * the state the owner snapshots already holds every record of the segments
 * the checkpoint will replace (provided done_cb applies a record before it
 * returns). Loop thread. Returns
 * 0 (cb runs once) or NOA_EUNAVAIL (closing, or a checkpoint is already
 * open), or the sticky fsync error.
 */
int noa_wal_checkpoint_begin(struct noa_wal *w,
                             void (*cb)(int status, struct noa_wal_checkpoint *ck, uint32_t segment,
                                        void *ctx),
                             void *ctx);

/* Adds one record to the checkpoint (buffered, 1 MiB writes). Any one
 * thread at a time; blocks. Returns 0, NOA_ETOOBIG or -errno. */
int noa_wal_checkpoint_add(struct noa_wal_checkpoint *ck, const void *rec, size_t len);

/*
 * Finishes the checkpoint: end record, fsync, rename .tmp to final, fsync
 * the directory, then deletes older checkpoints and segments <= S-1.
 * Always consumes ck. Returns 0 or -errno (then the .tmp is removed and the
 * old checkpoint and segments stay). Same thread rules as _add.
 */
int noa_wal_checkpoint_commit(struct noa_wal_checkpoint *ck);

/* Drops the checkpoint (.tmp deleted) and frees ck. NULL is a no-op. */
void noa_wal_checkpoint_abort(struct noa_wal_checkpoint *ck);

/* Copies the current figures. Any thread. */
void noa_wal_stats(struct noa_wal *w, struct noa_wal_stats *out);

/*
 * Stops accepting appends, lets the writer drain the queue (pending appends
 * complete normally, their done_cbs run), joins the thread, closes the
 * handle and frees w, then calls cb (optional). Loop thread. An open
 * checkpoint must be committed or aborted first.
 */
void noa_wal_close(struct noa_wal *w, void (*cb)(void *ctx), void *ctx);

#endif
