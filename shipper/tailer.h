/*
 * The file tailer: Promtail's file targets. One reader thread tails every
 * file matched by the current targets, without losing or repeating a line
 * across appends, rename rotation, copytruncate, truncation, deletion and
 * restarts.
 *
 * Owns: the reader thread, one fd per tailed file generation, the inotify
 * instance and its directory watches, the compiled globs. Files are read
 * with pread at the offset of the first line not yet consumed, into one
 * read buffer shared by all files (no buffer per file: a thousand idle
 * files cost a thousand fds and a few hundred bytes each). A partial last
 * line is simply read again later; only a line longer than the read buffer
 * is assembled in a per-file buffer (bounded by the line limit).
 *
 * Discovery: targets are expanded (shipper/glob.h) at start, at every
 * sync_period (10 s, Promtail's target_config.sync_period) and whenever
 * inotify reports a new name in a watched directory. Directories are
 * watched (one watch each, IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM |
 * IN_DELETE | IN_MODIFY: a directory watch also reports writes to the files
 * in it, so no per-file watch is needed). When inotify is unavailable or
 * its watch limit is reached, the tailer warns once and polls every file
 * (fstat) each poll_period instead.
 *
 * Rules (a "generation" is one inode read under one path):
 *  - new files are read from offset 0 (Promtail); a file with a saved
 *    position resumes there when fileid says it is the same file (SAME,
 *    GROWN, COPY: min(offset, size)), else from 0 (TRUNCATED, DIFFERENT);
 *    a position saved by Promtail (no identity) is trusted when the file is
 *    at least that long (Promtail's rule);
 *  - rename rotation (the path now names another inode, or nothing): the
 *    old generation is read to EOF, then kept until the new generation has
 *    data or it has been idle for idle_flush (so lines the writer adds
 *    before it reopens are not lost), then released; the new generation is
 *    opened at once (its fd kept, so a second rotation cannot lose it) and
 *    read from 0 after the old one is released. Any number of rotations
 *    while behind (up to NOA_TAILER_MAX_GENS per path) are drained in order;
 *  - copytruncate / truncation: size < read offset (or the head changed) is
 *    a new generation from 0. What the writer appended after our last read
 *    and before the truncation is lost: with inotify the tailer reads on
 *    every write, so nothing is lost while it keeps up; when it is behind
 *    (paused by backpressure) the unread tail of the old content is gone;
 *  - a deleted file (path gone, st_nlink 0) is read to EOF and released
 *    after idle_flush without growth: deleted files never pin the disk;
 *  - a last line without "\n" is sent once the file has been idle for
 *    idle_flush (default 1 s; Promtail never sends it), or when its
 *    generation is released (rotation, deletion, stop);
 *  - lines: the "\n" is removed, a "\r" before it is kept (Promtail's
 *    ReadString keeps it); a line longer than max_line_size is truncated to
 *    it (rest skipped up to the newline) when max_line_truncate, else
 *    dropped; both are counted;
 *  - an inode is read under one path at a time: a rotated file renamed to
 *    a name a glob matches (x.log.1 under "x.log*", logrotate shifting .1
 *    to .2) continues where the old name ended, in the process (a handoff
 *    kept for 5 min) and across restarts (a position saved under another
 *    name with the same identity), instead of being read again (loki
 *    #2353); hard links to one tailed inode are read once;
 *  - a path that stops matching (target removed, file deleted) is read to
 *    EOF and released; once its last line is committed its position entry
 *    is removed, as Promtail deletes it. A file a rescan merely failed to
 *    list (EMFILE, EACCES) but that still exists and matches is kept.
 *  - fairness: each turn reads at most one read buffer (read_chunk) from a
 *    file before moving to the next ready file;
 *  - open files: every tailed generation keeps its fd (identity is the
 *    fd's inode; closing idle files would reopen the door to inode reuse);
 *    max_files bounds the paths tailed. Rotated generations are released
 *    as soon as they are drained, so deleted files never pin the disk.
 *
 * Offsets handed to on_line are "virtual": per path, a generation's bytes
 * are numbered after the previous generation's (base + file offset), so a
 * path's offsets only grow across rotations and truncations and the router
 * can compare them. noa_tailer_commit maps one back to (identity, file
 * offset) for the positions file.
 *
 * THREAD SAFETY: _new/_start/_stop/_free from one controlling thread;
 * _set_targets, _resume, _commit and _stats from any thread. Callbacks run
 * on the reader thread.
 */
#ifndef NOA_SHIPPER_TAILER_H
#define NOA_SHIPPER_TAILER_H

#include "common/buf.h"
#include "common/err.h"
#include "common/labels.h"
#include "shipper/fileid.h"
#include "shipper/positions.h"

#include <stddef.h>
#include <stdint.h>

/* Generations (rotated files still open) kept per path. */
#define NOA_TAILER_MAX_GENS 16

/* One scrape target: borrowed during noa_tailer_set_targets (copied). */
struct noa_tailer_target {
    const char *include;            /* __path__ glob (required) */
    const char *exclude;            /* __path_exclude__ glob, or NULL */
    const struct noa_label *labels; /* the target's labels (job, discovery's) */
    uint32_t n_labels;
    void *user; /* opaque (the scrape config's pipeline) */
};

/* A tailed file as callbacks see it; read-only, borrowed for the call. */
struct noa_tailer_file {
    const char *path; /* NUL-terminated */
    size_t path_len;
    const struct noa_label *labels; /* the target's labels plus filename=path,
                                     * sorted by name */
    uint32_t n_labels;
    void *user;           /* the target's user pointer */
    struct noa_fileid id; /* the generation being read */
};

struct noa_tailer_callbacks {
    /*
     * One line (without its "\n"); offset is the virtual offset just past
     * the line's newline (or last byte). Return 0 when consumed, NOA_ELIMIT
     * to refuse it: the file pauses and the SAME line is offered again at
     * the next tick or after noa_tailer_resume. Other values are treated as
     * consumed. Required.
     */
    int (*on_line)(void *ud, const struct noa_tailer_file *f, struct noa_str line, uint64_t offset,
                   int64_t read_ns);
    /* A generation is drained and released (rotated away and read to EOF,
     * deleted, no longer matched, or stop): flush what stages hold for
     * f->path. May be NULL. */
    void (*on_file_done)(void *ud, const struct noa_tailer_file *f);
    /* About every tick_period (100 ms). May be NULL. */
    void (*on_tick)(void *ud, int64_t now_ns);
    /* Asked before a paused file is read again: 0 keeps it paused without
     * reading (the reader would refuse its line anyway). A cheap check,
     * e.g. whether the file's destination has room. May be NULL. */
    int (*can_read)(void *ud, const struct noa_tailer_file *f);
    void *ud;
};

/* All fields public; zero means the default shown. */
struct noa_tailer_config {
    int64_t sync_period_ns;          /* target_config.sync_period [10 s]: glob rescan */
    int64_t poll_period_ns;          /* file_watch_config poll [250 ms]: fstat of every
                                      * file (the safety net; the only signal
                                      * without inotify) */
    int64_t tick_period_ns;          /* on_tick and paused-file retry [100 ms] */
    int64_t idle_flush_ns;           /* partial last line / rotated release delay [1 s];
                                      * < 0: never send a partial line while the file
                                      * lives (Promtail) */
    size_t max_line_size;            /* limits_config.max_line_size [0 = 1 MiB hard cap] */
    int max_line_truncate;           /* limits_config.max_line_size_truncate */
    size_t read_chunk;               /* shared read buffer, bytes per file per turn [256 KiB] */
    size_t max_files;                /* paths tailed at once [65536]; more are skipped
                                      * with a warning */
    int no_inotify;                  /* 1: polling only (tests, NFS) */
    struct noa_positions *positions; /* where positions come from and go (borrowed;
                                      * may be NULL: everything from 0) */
};

/* Counters (all monotonic except the gauges marked). */
struct noa_tailer_stats {
    uint64_t lines, bytes;    /* lines offered and consumed, bytes consumed */
    uint64_t truncated_lines; /* over max_line_size, truncated */
    uint64_t dropped_lines;   /* over max_line_size, dropped */
    uint64_t rotations, truncations, rescans;
    uint64_t files_active; /* gauge: generations open */
    uint64_t paths_active; /* gauge: paths tailed */
    int polling;           /* gauge: 1 when inotify is not used */
};

struct noa_tailer;

/* Copies cfg and cb, and raises the process's soft RLIMIT_NOFILE to its
 * hard limit (one fd per tailed file). Returns 0 or -errno (eventfd). */
int noa_tailer_new(const struct noa_tailer_config *cfg, const struct noa_tailer_callbacks *cb,
                   struct noa_tailer **out);

/*
 * Replaces the target list (copied; globs compiled here). Files of targets
 * that disappear are drained and released at the reader's next turn. Two
 * targets matching one path: the first wins (Promtail ignores duplicates).
 * Returns 0 or NOA_EINVAL (err names the bad glob; nothing changed).
 */
int noa_tailer_set_targets(struct noa_tailer *t, const struct noa_tailer_target *targets, size_t n,
                           struct noa_error *err);

/* Starts the reader thread. 0 or -errno. */
int noa_tailer_start(struct noa_tailer *t);

/*
 * Stops the reader: the current turn finishes, partial last lines are NOT
 * sent (they are re-read after restart: a graceful stop never cuts a line
 * a writer is still writing), every generation gets on_file_done, and the
 * thread is joined. Positions are committed by the router and saved by the
 * caller. Idempotent.
 */
void noa_tailer_stop(struct noa_tailer *t);

/* Wakes the reader so paused files are offered their line again now. */
void noa_tailer_resume(struct noa_tailer *t);

/*
 * Records that every line of path up to virtual offset voff is delivered:
 * maps it to the generation it falls in and calls noa_positions_set with
 * that generation's identity and file offset (a generation's end maps to
 * the next generation's start when there is one). Forgets generations
 * left behind; removes the path's position when the path was released for
 * good and voff reaches its end. Any thread (the router's commit callback).
 * Returns 0, NOA_ENOTFOUND (unknown path or offset before every known
 * generation), or as noa_positions_set.
 */
int noa_tailer_commit(struct noa_tailer *t, struct noa_str path, uint64_t voff);

void noa_tailer_stats(struct noa_tailer *t, struct noa_tailer_stats *out);

/* One tailed path as noa_tailer_foreach shows it (borrowed for the call). */
struct noa_tailer_file_state {
    const char *path; /* not NUL-terminated */
    size_t path_len;
    uint64_t size;    /* of the generation being read, when last seen */
    uint64_t offset;  /* read up to here in that generation */
    int generations;  /* 1, or more while rotated files are drained */
};

/* Calls cb for every tailed path, as of the reader's last snapshot (taken
 * at most once a second); cb runs under a lock and must not call back into
 * the tailer. Any thread (/metrics, /targets). */
void noa_tailer_foreach(struct noa_tailer *t,
                        void (*cb)(void *ud, const struct noa_tailer_file_state *s), void *ud);

/* Stops if needed and frees; NULL is a no-op. */
void noa_tailer_free(struct noa_tailer *t);

#endif
