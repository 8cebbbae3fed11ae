/*
 * Internals shared by the tailer's files: tailer.c (targets, commit table,
 * the reader thread's loop, the API) and tailer_file.c (the file table,
 * reading, rotation and truncation, discovery and inotify). Not for use
 * outside the tailer.
 */
#ifndef NOA_SHIPPER_TAILER_INT_H
#define NOA_SHIPPER_TAILER_INT_H

#include "common/buf.h"
#include "common/labels.h"
#include "shipper/fileid.h"
#include "shipper/glob.h"
#include "shipper/tailer.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define NOA__TAILER_DEF_SYNC_NS (10LL * 1000000000LL)
#define NOA__TAILER_DEF_POLL_NS (250LL * 1000000LL)
#define NOA__TAILER_DEF_TICK_NS (100LL * 1000000LL)
#define NOA__TAILER_DEF_IDLE_NS (1000LL * 1000000LL)
#define NOA__TAILER_DEF_MAX_LINE (1u << 20)
#define NOA__TAILER_DEF_CHUNK (256u << 10)
#define NOA__TAILER_DEF_MAX_FILES 65536u
#define NOA__TAILER_HANDOFFS 64
#define NOA__TAILER_HANDOFF_TTL_NS (300LL * 1000000000LL)

struct noa__tailer_target {
    struct noa_glob *include, *exclude;
    struct noa_label *labels; /* owned, strings in store */
    uint32_t n_labels;
    char *store;
    void *user;
};

/* One inode read under one path. */
struct noa__tailer_gen {
    int fd;
    struct noa_fileid id;
    uint64_t off;                  /* file offset of the first byte not consumed */
    uint64_t scan;                 /* file offset of the next read (> off only in long-line mode) */
    uint64_t base;                 /* virtual offset of file offset 0 (set when reading starts) */
    uint64_t size;                 /* last known size */
    uint64_t head_size;            /* size when the fingerprint was last compared */
    int64_t change_ns;             /* when size or off last moved */
    int rotated;                   /* no longer the file at its path */
    int started;                   /* base assigned, in the commit table */
    struct noa__tailer_gen *inext; /* chain in the inode table */
    int in_itab;
    struct noa_buf longbuf; /* head of a line longer than the read chunk */
    uint64_t long_len;      /* bytes of that line seen so far (may exceed longbuf) */
};

/* One path. */
struct noa__tailer_tfile {
    char *path;
    size_t path_len;
    uint64_t hash;
    struct noa__tailer_tfile *hnext;
    size_t idx;    /* in t->files */
    uint32_t mark; /* rescan number that last matched it */
    int gone;      /* no longer matched: drain and release */
    int paused;    /* on_line refused a line */
    int retrying;  /* unpaused: ask can_read before reading again */
    int queued;    /* in the ready ring */
    struct noa__tailer_gen *gens[NOA_TAILER_MAX_GENS];
    int n_gens;
    struct noa_label *labels; /* target labels + filename, sorted */
    uint32_t n_labels;
    char *lstore;
    void *user;
};

/* Commit table entry: a path's generations as virtual ranges. */
struct noa__tailer_cgen {
    uint64_t base;
    struct noa_fileid id;
};

struct noa__tailer_centry {
    char *path;
    size_t path_len;
    struct noa__tailer_centry *next;
    struct noa__tailer_cgen gens[NOA_TAILER_MAX_GENS + 1];
    int n;
    int released;       /* the path is no longer tailed */
    uint64_t vend;      /* virtual end of the last released generation */
    uint64_t committed; /* last virtual offset committed */
    int has_committed;
};

/*
 * THREAD SAFETY: the reader thread owns files, dirs, targets and the ring.
 * mu guards pending targets, the wake flags and the stop flag; cmu guards
 * the commit table (and is taken while calling into positions, which has
 * its own lock after it). Counters are atomics.
 */
struct noa_tailer {
    struct noa_tailer_config cfg;
    struct noa_tailer_callbacks cb;
    pthread_t th;
    int running;
    int efd; /* eventfd: wake the reader */
    int ifd; /* inotify, -1 when polling */
    int polling;

    pthread_mutex_t mu;
    struct noa__tailer_target *pending; /* set_targets hands over here */
    size_t n_pending;
    int have_pending, stop, resume;

    struct noa__tailer_target *targets;
    size_t n_targets;

    struct noa__tailer_tfile **files; /* dense */
    size_t n_files, cap_files;
    struct noa__tailer_tfile **htab;
    size_t hcap;

    struct noa__tailer_tfile **ring; /* ready files */
    size_t ring_cap, ring_head, ring_n;

    char **wdirs; /* wd -> dir path */
    int n_wdirs;

    long n_rotated; /* generations flagged rotated (renamed, deleted) */
    /* Every open generation by (dev, ino): an inode is read under one path
     * at a time, so a renamed file that still matches is not read twice. */
    struct noa__tailer_gen **itab;
    size_t icap, in;
    /* Rotated generations released while their inode still has a name:
     * where they ended, so a renamed file that matches a glob (x.log.1
     * under "*.log*") continues there instead of being read again. */
    struct noa__tailer_handoff {
        struct noa_fileid id;
        uint64_t off;
        int64_t at_ns;
    } handoff[NOA__TAILER_HANDOFFS];
    unsigned n_handoff; /* ring: next slot is n_handoff % NOA__TAILER_HANDOFFS */

    uint32_t scan_mark;
    uint64_t vclock; /* highest virtual offset handed out */
    int64_t next_sync, next_poll, next_tick;
    int rescan_soon;
    char *rbuf;

    pthread_mutex_t cmu;
    struct noa__tailer_centry **ctab;
    size_t ccap, cn;

    struct noa_tailer_stats st;

    /* What noa_tailer_foreach shows: every file's state, copied by the
     * reader at most once a second (records: u32 path length, path, u64
     * size, u64 offset, u32 generations). */
    pthread_mutex_t snap_mu;
    struct noa_buf snap;
    int64_t next_snap;
};

#define NOA__TAILER_ST_ADD(t, f, v) __atomic_fetch_add(&(t)->st.f, (v), __ATOMIC_RELAXED)

static inline uint64_t noa__tailer_hash_path(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

enum { NOA__TAILER_RD_MORE = 0, NOA__TAILER_RD_EOF = 1, NOA__TAILER_RD_PAUSED = 2 };

/* tailer_file.c: the ready ring (files with data to read) */
void noa__tailer_enqueue(struct noa_tailer *t, struct noa__tailer_tfile *f);
struct noa__tailer_tfile *noa__tailer_dequeue(struct noa_tailer *t);
/* tailer_file.c: generations and files */
void noa__tailer_gen_free(struct noa_tailer *t, struct noa__tailer_gen *g);
void noa__tailer_file_info(const struct noa__tailer_tfile *f, const struct noa__tailer_gen *g,
                           struct noa_tailer_file *fi);
void noa__tailer_file_remove(struct noa_tailer *t, struct noa__tailer_tfile *f);
/* tailer_file.c: one chunk of gens[0]: NOA__TAILER_RD_* */
int noa__tailer_read_gen(struct noa_tailer *t, struct noa__tailer_tfile *f,
                         struct noa__tailer_gen *g, int64_t now);
/* tailer_file.c: rotation/truncation checks, per-tick release, discovery */
void noa__tailer_check_file(struct noa_tailer *t, struct noa__tailer_tfile *f, int check_path,
                            int check_head, int64_t now);
int noa__tailer_tick_file(struct noa_tailer *t, struct noa__tailer_tfile *f, int64_t now);
void noa__tailer_rescan(struct noa_tailer *t, int64_t now);
void noa__tailer_inotify_drain(struct noa_tailer *t, int64_t now);
void noa__tailer_unpause_all(struct noa_tailer *t);
/* tailer.c: label copies and the commit table (takes cmu) */
void noa__tailer_copy_labels(const struct noa_label *in, uint32_t n, const char *path,
                             struct noa_label **out, uint32_t *n_out, char **store);
void noa__tailer_commit_push(struct noa_tailer *t, const struct noa__tailer_tfile *f,
                             const struct noa__tailer_gen *g);
void noa__tailer_commit_update_id(struct noa_tailer *t, const struct noa__tailer_tfile *f,
                                  const struct noa__tailer_gen *g);
void noa__tailer_commit_release(struct noa_tailer *t, const struct noa__tailer_tfile *f,
                                uint64_t vend, int final);

#endif
