/*
 * Joining container log fragments back into lines: CRI "P ... P F"
 * sequences and Docker json-file records whose text lacks the trailing
 * newline. Fragments are keyed by (key, stream), where key is the caller's
 * identity for the source (a file id or a label-set fingerprint, as
 * Promtail's cri stage keys by labels), so stdout and stderr fragments that
 * interleave in one file join separately.
 *
 * Promtail's cri stage semantics, with its defaults:
 *  - max_partial_lines (100) bounds how many (key, stream) pairs may hold a
 *    partial at once; when a new pair needs room and the bound is reached,
 *    every pending partial is emitted as it is and the table is emptied.
 *  - max_partial_line_size_truncate (false) with max_partial_line_size:
 *    a joined line is cut to that many bytes; further fragments are
 *    dropped until the line ends.
 *  - the emitted line carries the timestamp of its LAST fragment (the F
 *    line), as Promtail's stage does (opts.ts selects the first instead).
 * Additions of ours, so that memory stays bounded and nothing waits
 * forever: max_bytes caps a pending line even without truncation (what has
 * been joined is emitted and a new line starts), and a partial idle for
 * idle_ns is emitted (the tailer arms a timer at next_deadline).
 *
 * Pure over the caller's clock (now_ns arguments, monotonic); one thread
 * owns a joiner. Emission goes through opts.emit_cb, which must not call
 * back into the same joiner.
 */
#ifndef NOA_SHIPPER_LINEJOIN_H
#define NOA_SHIPPER_LINEJOIN_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

enum noa_linejoin_ts {
    NOA_LINEJOIN_TS_LAST = 0,  /* Promtail's cri stage: the final fragment's time */
    NOA_LINEJOIN_TS_FIRST = 1, /* the time the line started */
};

/* Why a line was emitted. */
enum noa_linejoin_why {
    NOA_LINEJOIN_COMPLETE = 0, /* its final fragment arrived (or it was never split) */
    NOA_LINEJOIN_LIMIT = 1,    /* max_partial_lines reached: emitted unfinished */
    NOA_LINEJOIN_OVERSIZE = 2, /* max_bytes reached: emitted unfinished */
    NOA_LINEJOIN_IDLE = 3,     /* no fragment for idle_ns: emitted unfinished */
    NOA_LINEJOIN_FLUSH = 4,    /* the caller flushed it (rotation, close) */
};

/* A line handed to emit_cb; line borrows joiner memory (or the input
 * fragment) and is valid only during the callback. */
struct noa_linejoin_out {
    uint64_t key;
    int stream;
    int64_t ts_ns;       /* per opts.ts */
    struct noa_str line; /* joined content, no newline */
    int why;             /* enum noa_linejoin_why */
    int truncated;       /* 1 when max_partial_line_size cut it */
    uint32_t fragments;  /* how many fragments it was joined from (>= 1) */
};

struct noa_linejoin_opts {
    int max_partial_lines;        /* 0 = 100; at most 1,000,000 */
    size_t max_partial_line_size; /* bytes, only with truncate; 0 = no cut */
    int truncate;                 /* max_partial_line_size_truncate */
    size_t max_bytes;             /* cap on one pending line; 0 = 4 MiB */
    int64_t idle_ns;              /* 0 = 5 s; negative = never (Promtail) */
    int ts;                       /* enum noa_linejoin_ts */
    void (*emit_cb)(void *arg, const struct noa_linejoin_out *out); /* required */
    void *arg;
};

/* One fragment (or whole line) as decoded by cri.h / dockerlog.h. */
struct noa_linejoin_in {
    uint64_t key;
    int stream;
    int64_t ts_ns;
    struct noa_str content; /* borrowed for the call */
    int partial;            /* 1: more fragments follow (CRI P, Docker without \n) */
};

struct noa_linejoin; /* opaque */

/* Creates a joiner. Returns 0, or NOA_EINVAL for a missing emit_cb or a
 * max_partial_lines out of range. */
int noa_linejoin_new(const struct noa_linejoin_opts *opts, struct noa_linejoin **out);
/* Frees without emitting pending partials (flush_all first to keep them).
 * NULL is a no-op. */
void noa_linejoin_free(struct noa_linejoin *j);

/* Feeds one fragment read at monotonic time now_ns; emits 0..n lines
 * (a full line, or lines pushed out by a limit) before returning. */
void noa_linejoin_add(struct noa_linejoin *j, const struct noa_linejoin_in *in, int64_t now_ns);

/* Emits (why IDLE) every partial whose last fragment came idle_ns or more
 * before now_ns. Returns how many were emitted. */
size_t noa_linejoin_flush_idle(struct noa_linejoin *j, int64_t now_ns);
/* Emits (why FLUSH) the partials of one key, both streams: for rotation,
 * truncation or closing a file. Returns how many. */
size_t noa_linejoin_flush_key(struct noa_linejoin *j, uint64_t key);
/* Emits (why FLUSH) every partial: at shutdown. Returns how many. */
size_t noa_linejoin_flush_all(struct noa_linejoin *j);

/* Monotonic time at which flush_idle has work, INT64_MAX when nothing is
 * pending or idle flushing is off. */
int64_t noa_linejoin_next_deadline(const struct noa_linejoin *j);
/* Number of (key, stream) pairs holding a partial. */
size_t noa_linejoin_pending(const struct noa_linejoin *j);

#endif
