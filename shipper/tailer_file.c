/*
 * The tailer's files (see tailer.h): the table of tailed paths and their
 * generations, reading with pread into the shared buffer, rotation,
 * truncation and release, and discovery (glob rescans and inotify). Runs
 * on the reader thread only, except where it takes the commit table's lock
 * through tailer.c.
 */
#include "shipper/tailer_int.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the file table ---------------------------------------------------------------- */

static struct noa__tailer_tfile *file_find(struct noa_tailer *t, const char *p, size_t n)
{
    if (!t->hcap)
        return NULL;
    uint64_t h = noa__tailer_hash_path(p, n);
    for (struct noa__tailer_tfile *f = t->htab[h & (t->hcap - 1)]; f; f = f->hnext)
        if (f->hash == h && f->path_len == n && memcmp(f->path, p, n) == 0)
            return f;
    return NULL;
}

static void htab_insert(struct noa_tailer *t, struct noa__tailer_tfile *f)
{
    if (t->n_files * 2 >= t->hcap) {
        size_t ncap = t->hcap ? t->hcap * 2 : 256;
        struct noa__tailer_tfile **nt = noa_xcalloc(ncap, sizeof(*nt));
        for (size_t i = 0; i < t->n_files; i++) {
            struct noa__tailer_tfile *x = t->files[i];
            x->hnext = nt[x->hash & (ncap - 1)];
            nt[x->hash & (ncap - 1)] = x;
        }
        noa_free(t->htab);
        t->htab = nt;
        t->hcap = ncap;
    }
    f->hnext = t->htab[f->hash & (t->hcap - 1)];
    t->htab[f->hash & (t->hcap - 1)] = f;
}

void noa__tailer_enqueue(struct noa_tailer *t, struct noa__tailer_tfile *f)
{
    if (f->queued || f->paused || f->n_gens == 0)
        return;
    if (t->ring_n == t->ring_cap) {
        size_t ncap = t->ring_cap ? t->ring_cap * 2 : 64;
        struct noa__tailer_tfile **nr = noa_xmalloc(ncap * sizeof(*nr));
        for (size_t i = 0; i < t->ring_n; i++)
            nr[i] = t->ring[(t->ring_head + i) % t->ring_cap];
        noa_free(t->ring);
        t->ring = nr;
        t->ring_cap = ncap;
        t->ring_head = 0;
    }
    t->ring[(t->ring_head + t->ring_n) % t->ring_cap] = f;
    t->ring_n++;
    f->queued = 1;
}

struct noa__tailer_tfile *noa__tailer_dequeue(struct noa_tailer *t)
{
    while (t->ring_n) {
        struct noa__tailer_tfile *f = t->ring[t->ring_head];
        t->ring_head = (t->ring_head + 1) % t->ring_cap;
        t->ring_n--;
        if (f) {
            f->queued = 0;
            return f;
        }
    }
    return NULL;
}

static struct noa__tailer_gen *gen_open(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE) {
            /* once a minute at most: the next rescan retries the file */
            static int64_t last_ns;
            int64_t now = noa_clock_mono_ns();
            if (now - last_ns > 60LL * 1000000000LL) {
                last_ns = now;
                noa_log(NOA_LOG_WARN, "tailer",
                        "msg=\"out of file descriptors, file not tailed yet (raise ulimit -n)\" "
                        "path=%s",
                        path);
            }
        }
        return NULL;
    }
    struct noa__tailer_gen *g = noa_xcalloc(1, sizeof(*g));
    g->fd = fd;
    if (noa_fileid_from_fd(fd, &g->id, &g->size) < 0) {
        close(fd);
        noa_free(g);
        return NULL;
    }
    g->change_ns = noa_clock_mono_ns();
    return g;
}

static size_t ino_bucket(const struct noa_fileid *id, size_t cap)
{
    return (size_t)((id->ino * 0x9e3779b97f4a7c15ull) ^ id->dev) & (cap - 1);
}

static void itab_add(struct noa_tailer *t, struct noa__tailer_gen *g)
{
    if (t->in * 2 >= t->icap) {
        size_t ncap = t->icap ? t->icap * 2 : 256;
        struct noa__tailer_gen **nt = noa_xcalloc(ncap, sizeof(*nt));
        for (size_t i = 0; i < t->icap; i++) {
            struct noa__tailer_gen *x = t->itab[i];
            while (x) {
                struct noa__tailer_gen *nx = x->inext;
                size_t b = ino_bucket(&x->id, ncap);
                x->inext = nt[b];
                nt[b] = x;
                x = nx;
            }
        }
        noa_free(t->itab);
        t->itab = nt;
        t->icap = ncap;
    }
    size_t b = ino_bucket(&g->id, t->icap);
    g->inext = t->itab[b];
    t->itab[b] = g;
    g->in_itab = 1;
    t->in++;
}

static void itab_del(struct noa_tailer *t, struct noa__tailer_gen *g)
{
    if (!g->in_itab)
        return;
    struct noa__tailer_gen **pp = &t->itab[ino_bucket(&g->id, t->icap)];
    while (*pp && *pp != g)
        pp = &(*pp)->inext;
    if (*pp)
        *pp = g->inext;
    g->in_itab = 0;
    t->in--;
}

/* 1 when g's inode is already open (under this or another path). */
static int inode_open(struct noa_tailer *t, const struct noa__tailer_gen *g)
{
    if (!t->icap)
        return 0;
    for (const struct noa__tailer_gen *x = t->itab[ino_bucket(&g->id, t->icap)]; x; x = x->inext)
        if (x != g && noa_fileid_same_inode(&x->id, &g->id))
            return 1;
    return 0;
}

void noa__tailer_gen_free(struct noa_tailer *t, struct noa__tailer_gen *g)
{
    if (!g)
        return;
    itab_del(t, g);
    if (g->rotated)
        t->n_rotated--;
    if (g->fd >= 0)
        close(g->fd);
    noa_buf_fini(&g->longbuf);
    noa_free(g);
}

void noa__tailer_file_info(const struct noa__tailer_tfile *f, const struct noa__tailer_gen *g,
                           struct noa_tailer_file *fi)
{
    fi->path = f->path;
    fi->path_len = f->path_len;
    fi->labels = f->labels;
    fi->n_labels = f->n_labels;
    fi->user = f->user;
    fi->id = g->id;
}

/* Gives gens[0] its virtual base and registers it for commits. */
static void gen_start(struct noa_tailer *t, struct noa__tailer_tfile *f, struct noa__tailer_gen *g,
                      uint64_t base)
{
    g->base = base;
    g->started = 1;
    if (base + g->off > t->vclock)
        t->vclock = base + g->off;
    noa__tailer_commit_push(t, f, g);
}

/* Resume offset of g from the handoffs of released rotated generations. */
static int handoff_find(struct noa_tailer *t, struct noa__tailer_gen *g, uint64_t *off)
{
    int64_t now = noa_clock_mono_ns();
    unsigned n = t->n_handoff < NOA__TAILER_HANDOFFS ? t->n_handoff : NOA__TAILER_HANDOFFS;
    for (unsigned i = 0; i < n; i++) {
        struct noa__tailer_handoff *h = &t->handoff[i];
        if (now - h->at_ns > NOA__TAILER_HANDOFF_TTL_NS || !noa_fileid_same_inode(&h->id, &g->id))
            continue;
        enum noa_fileid_verdict v;
        if (noa_fileid_compare(&h->id, h->off, g->fd, NULL, NULL, &v) == 0 &&
            (v == NOA_FILEID_SAME || v == NOA_FILEID_GROWN)) {
            *off = h->off;
            h->at_ns = INT64_MIN / 2; /* used */
            return 1;
        }
    }
    return 0;
}

struct pos_match {
    const char *path;
    struct noa_fileid want;
    struct noa_fileid id;
    uint64_t off;
    int found;
};

static int pos_match_cb(const struct noa_positions_entry *e, void *arg)
{
    struct pos_match *m = arg;
    if (e->cursor || !e->has_id || !noa_fileid_same_inode(&e->id, &m->want))
        return 0;
    if (strlen(m->path) == e->key_len && memcmp(m->path, e->key, e->key_len) == 0)
        return 0;
    m->id = e->id;
    m->off = e->offset;
    m->found = 1;
    return 1;
}

/* Resume offset of g from a position saved under another name with the
 * same identity (renamed while the shipper was down). */
static int positions_find(struct noa_tailer *t, const char *path, struct noa__tailer_gen *g,
                          uint64_t *off)
{
    struct pos_match m = {.path = path, .want = g->id};
    noa_positions_foreach(t->cfg.positions, pos_match_cb, &m);
    if (!m.found)
        return 0;
    enum noa_fileid_verdict v;
    if (noa_fileid_compare(&m.id, m.off, g->fd, NULL, NULL, &v) != 0 ||
        (v != NOA_FILEID_SAME && v != NOA_FILEID_GROWN))
        return 0;
    *off = m.off;
    return 1;
}

/* A path newly matched: open it and find where to start. */
static void file_add(struct noa_tailer *t, const char *path, const struct noa__tailer_target *tg)
{
    if (t->n_files >= t->cfg.max_files) {
        static int warned;
        if (!warned++)
            noa_log(NOA_LOG_WARN, "tailer", "msg=\"max_files reached, not tailing more\" max=%zu",
                    t->cfg.max_files);
        return;
    }
    struct noa__tailer_gen *g = gen_open(path);
    if (!g)
        return; /* vanished or unreadable: the next rescan tries again */
    if (inode_open(t, g)) {
        /* renamed while we still read it under its old name: once that
         * generation is released, the handoff says where to go on */
        noa__tailer_gen_free(t, g);
        return;
    }
    uint64_t off = 0, saved = 0;
    struct noa_fileid sid;
    int has_id = 0;
    if (t->cfg.positions && noa_positions_get(t->cfg.positions, path, &saved, &sid, &has_id) == 0) {
        if (has_id) {
            enum noa_fileid_verdict v;
            struct noa_fileid now;
            uint64_t size;
            if (noa_fileid_compare(&sid, saved, g->fd, &now, &size, &v) == 0) {
                if (v == NOA_FILEID_SAME || v == NOA_FILEID_GROWN)
                    off = saved;
                else if (v == NOA_FILEID_COPY)
                    off = saved < size ? saved : size;
                noa_log(NOA_LOG_DEBUG, "tailer", "msg=\"resuming\" path=%s verdict=%s offset=%llu",
                        path, noa_fileid_verdict_name(v), (unsigned long long)off);
            }
        } else if (saved <= g->size) {
            off = saved; /* a Promtail position: trusted when the file is that long */
        }
    } else if (handoff_find(t, g, &off) || (t->cfg.positions && positions_find(t, path, g, &off))) {
        /* no position under this name, but a file we knew under another */
        noa_log(NOA_LOG_INFO, "tailer",
                "msg=\"renamed file continues where it was read\" path=%s offset=%llu", path,
                (unsigned long long)off);
    }
    g->off = g->scan = off;
    itab_add(t, g);
    struct noa__tailer_tfile *f = noa_xcalloc(1, sizeof(*f));
    f->path_len = strlen(path);
    f->path = noa_xstrndup(path, f->path_len);
    f->hash = noa__tailer_hash_path(path, f->path_len);
    f->mark = t->scan_mark;
    f->user = tg->user;
    noa__tailer_copy_labels(tg->labels, tg->n_labels, path, &f->labels, &f->n_labels, &f->lstore);
    f->gens[0] = g;
    f->n_gens = 1;
    if (t->n_files == t->cap_files) {
        t->cap_files = t->cap_files ? t->cap_files * 2 : 64;
        t->files = noa_xrealloc(t->files, t->cap_files * sizeof(*t->files));
    }
    htab_insert(t, f); /* before f joins files[]: a resize rehashes files[] */
    f->idx = t->n_files;
    t->files[t->n_files++] = f;
    gen_start(t, f, g, t->vclock);
    NOA__TAILER_ST_ADD(t, paths_active, 1);
    NOA__TAILER_ST_ADD(t, files_active, 1);
    noa__tailer_enqueue(t, f);
}

void noa__tailer_file_remove(struct noa_tailer *t, struct noa__tailer_tfile *f)
{
    struct noa__tailer_tfile **pp = &t->htab[f->hash & (t->hcap - 1)];
    while (*pp != f)
        pp = &(*pp)->hnext;
    *pp = f->hnext;
    t->files[f->idx] = t->files[--t->n_files];
    t->files[f->idx]->idx = f->idx;
    for (size_t i = 0; i < t->ring_n; i++)
        if (t->ring[(t->ring_head + i) % t->ring_cap] == f)
            t->ring[(t->ring_head + i) % t->ring_cap] = NULL;
    for (int i = 0; i < f->n_gens; i++)
        noa__tailer_gen_free(t, f->gens[i]);
    NOA__TAILER_ST_ADD(t, files_active, (uint64_t) - (int64_t)f->n_gens);
    NOA__TAILER_ST_ADD(t, paths_active, (uint64_t)-1);
    noa_free(f->labels);
    noa_free(f->lstore);
    noa_free(f->path);
    noa_free(f);
}

/* ---- reading ------------------------------------------------------------------------ */

/* Per-line counters have one writer, the tailer thread: a relaxed load and
 * store (readers still see whole values) instead of a locked add, which
 * costs more than the rest of the line's bookkeeping. */
#define ST_ADD_1W(t, f, v)                                                                         \
    __atomic_store_n(&(t)->st.f, __atomic_load_n(&(t)->st.f, __ATOMIC_RELAXED) + (v),             \
                     __ATOMIC_RELAXED)

/* Offers one line (n bytes; total: its length in the file, which is larger
 * than n for a long line kept in part). end: file offset past it. real:
 * the line's read time (wall clock). Returns 0 or NOA_ELIMIT. */
static int emit(struct noa_tailer *t, struct noa__tailer_tfile *f, struct noa__tailer_gen *g,
                const char *p, size_t n, uint64_t total, uint64_t end, int64_t real)
{
    size_t max = t->cfg.max_line_size;
    if (total > max) {
        if (!t->cfg.max_line_truncate) {
            NOA__TAILER_ST_ADD(t, dropped_lines, 1);
            return 0;
        }
        if (n > max)
            n = max;
    }
    struct noa_tailer_file fi;
    noa__tailer_file_info(f, g, &fi);
    int rc = t->cb.on_line(t->cb.ud, &fi, (struct noa_str){p, n}, g->base + end, real);
    if (rc == NOA_ELIMIT)
        return rc;
    if (total > max)
        ST_ADD_1W(t, truncated_lines, 1);
    ST_ADD_1W(t, lines, 1);
    ST_ADD_1W(t, bytes, end - g->off);
    return 0;
}

/* Keeps the head of a long line: at most max_line_size bytes are stored. */
static void long_append(struct noa_tailer *t, struct noa__tailer_gen *g, const char *p, size_t n)
{
    size_t max = t->cfg.max_line_size;
    size_t room = g->longbuf.len < max ? max - g->longbuf.len : 0;
    noa_buf_append(&g->longbuf, p, n < room ? n : room);
    g->long_len += n;
}

static void long_reset(struct noa__tailer_gen *g)
{
    g->longbuf.len = 0;
    g->long_len = 0;
    if (g->longbuf.cap > (1u << 20)) {
        /* do not pin a huge buffer for a file that had one huge line */
        noa_buf_fini(&g->longbuf);
    }
}

/* Reads one chunk of gens[0] and offers its complete lines. */
int noa__tailer_read_gen(struct noa_tailer *t, struct noa__tailer_tfile *f,
                         struct noa__tailer_gen *g, int64_t now)
{
    size_t chunk = t->cfg.read_chunk;
    ssize_t n = pread(g->fd, t->rbuf, chunk, (off_t)g->scan);
    if (n < 0) {
        if (errno != EINTR && errno != EAGAIN)
            noa_log(NOA_LOG_WARN, "tailer", "msg=\"read failed\" path=%s err=\"%s\"", f->path,
                    strerror(errno));
        return NOA__TAILER_RD_EOF;
    }
    if (n == 0)
        return NOA__TAILER_RD_EOF;
    uint64_t at = g->scan;
    if (at + (uint64_t)n > g->size) {
        g->size = at + (uint64_t)n;
        g->change_ns = now;
    }
    const char *buf = t->rbuf, *p = buf, *end = buf + n;
    /* The lines of one read were read at one instant: one clock call per
     * chunk, not per line. Each line still gets its own nanosecond (the
     * read time plus its index), so identical lines of a file without a
     * timestamp stage never share a timestamp (Loki would drop all but
     * one as duplicates). */
    int64_t real = noa_clock_real_ns();
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        uint64_t line_end = at + (uint64_t)(nl + 1 - buf);
        int rc;
        if (g->long_len) {
            size_t keep = g->longbuf.len;
            uint64_t keep_total = g->long_len;
            long_append(t, g, p, (size_t)(nl - p));
            rc = emit(t, f, g, g->longbuf.data, g->longbuf.len, g->long_len, line_end, real++);
            if (rc == NOA_ELIMIT) {
                g->longbuf.len = keep;
                g->long_len = keep_total;
                return NOA__TAILER_RD_PAUSED;
            }
            long_reset(g);
        } else {
            rc = emit(t, f, g, p, (size_t)(nl - p), (size_t)(nl - p), line_end, real++);
            if (rc == NOA_ELIMIT) {
                g->scan = g->off;
                return NOA__TAILER_RD_PAUSED;
            }
        }
        g->off = g->scan = line_end;
        g->change_ns = now;
        p = nl + 1;
    }
    if (p < end) {
        if (g->long_len || (p == buf && (size_t)n == chunk)) {
            /* no newline in a whole chunk: a line longer than the buffer */
            long_append(t, g, p, (size_t)(end - p));
            g->scan = at + (uint64_t)n;
        } else {
            g->scan = g->off; /* a partial line: read it again when it grows */
        }
    }
    return (size_t)n == chunk ? NOA__TAILER_RD_MORE : NOA__TAILER_RD_EOF;
}

/* Offers what is left after the last newline of g as a line. */
static int flush_partial(struct noa_tailer *t, struct noa__tailer_tfile *f,
                         struct noa__tailer_gen *g, int64_t now)
{
    if (g->size <= g->off && !g->long_len)
        return 0;
    uint64_t end = g->size;
    int rc;
    if (g->long_len) {
        /* the rest after scan goes after what longbuf kept */
        while (g->scan < end) {
            size_t want =
                end - g->scan < t->cfg.read_chunk ? (size_t)(end - g->scan) : t->cfg.read_chunk;
            ssize_t n = pread(g->fd, t->rbuf, want, (off_t)g->scan);
            if (n <= 0)
                break;
            long_append(t, g, t->rbuf, (size_t)n);
            g->scan += (uint64_t)n;
        }
        end = g->scan;
        rc = emit(t, f, g, g->longbuf.data, g->longbuf.len, g->long_len, end, noa_clock_real_ns());
        if (rc == NOA_ELIMIT)
            return rc;
        long_reset(g);
    } else {
        size_t want = (size_t)(end - g->off);
        if (want > t->cfg.read_chunk)
            want = t->cfg.read_chunk;
        ssize_t n = pread(g->fd, t->rbuf, want, (off_t)g->off);
        if (n <= 0)
            return 0;
        if (memchr(t->rbuf, '\n', (size_t)n))
            return 0; /* a newline arrived meanwhile: the reader takes it */
        end = g->off + (uint64_t)n;
        rc = emit(t, f, g, t->rbuf, (size_t)n, (size_t)n, end, noa_clock_real_ns());
        if (rc == NOA_ELIMIT)
            return rc;
    }
    g->off = g->scan = end;
    if (g->base + end > t->vclock)
        t->vclock = g->base + end;
    g->change_ns = now;
    return 0;
}

/* ---- rotation, truncation, release --------------------------------------------------- */

static void truncated(struct noa_tailer *t, struct noa__tailer_tfile *f, struct noa__tailer_gen *g,
                      uint64_t size)
{
    if (g->size > g->off)
        noa_log(NOA_LOG_WARN, "tailer",
                "msg=\"file truncated before it was read to its end\" path=%s unread_bytes=%llu",
                f->path, (unsigned long long)(g->size - g->off));
    else
        noa_log(NOA_LOG_INFO, "tailer", "msg=\"file truncated, reading from 0\" path=%s", f->path);
    uint64_t vend = g->base + g->off;
    long_reset(g);
    noa__tailer_commit_release(t, f, vend, 0);
    g->off = g->scan = 0;
    g->size = g->head_size = size;
    noa_fileid_from_fd(g->fd, &g->id, NULL);
    gen_start(t, f, g, vend);
    NOA__TAILER_ST_ADD(t, truncations, 1);
    noa__tailer_enqueue(t, f);
}

/* Flags g as no longer (or again) the file at its path, keeping count of
 * the flagged generations (file_add looks for renamed ones among them). */
static void set_rotated(struct noa_tailer *t, struct noa__tailer_gen *g, int rotated)
{
    if (g->rotated == rotated)
        return;
    g->rotated = rotated;
    t->n_rotated += rotated ? 1 : -1;
}

/* Looks at f: the path's inode (rotation) when check_path, then the size
 * of the generation being read (growth, truncation, deletion) and, when
 * check_head, its fingerprint (a truncation that regrew past our offset). */
void noa__tailer_check_file(struct noa_tailer *t, struct noa__tailer_tfile *f, int check_path,
                            int check_head, int64_t now)
{
    struct noa__tailer_gen *head = f->gens[f->n_gens - 1];
    struct stat st;
    if (check_path && !f->gone) {
        if (stat(f->path, &st) != 0) {
            set_rotated(t, head, 1);
        } else if ((uint64_t)st.st_dev != head->id.dev || (uint64_t)st.st_ino != head->id.ino) {
            if (!head->rotated)
                NOA__TAILER_ST_ADD(t, rotations, 1);
            set_rotated(t, head, 1);
            if (f->n_gens < NOA_TAILER_MAX_GENS && S_ISREG(st.st_mode)) {
                struct noa__tailer_gen *g = gen_open(f->path);
                if (g && inode_open(t, g)) {
                    /* a file we read under another name was renamed here
                     * (logrotate shifting x.1 to x.2): wait until that
                     * generation is released, then continue where it ended */
                    noa__tailer_gen_free(t, g);
                } else if (g) {
                    uint64_t off;
                    if (handoff_find(t, g, &off))
                        g->off = g->scan = off;
                    itab_add(t, g);
                    f->gens[f->n_gens++] = g;
                    NOA__TAILER_ST_ADD(t, files_active, 1);
                }
            } else if (f->n_gens >= NOA_TAILER_MAX_GENS) {
                noa_log(NOA_LOG_WARN, "tailer",
                        "msg=\"too many rotated generations open, waiting\" path=%s", f->path);
            }
        } else if (head->rotated && f->n_gens == 1) {
            set_rotated(t, head, 0); /* renamed back */
        }
    }
    struct noa__tailer_gen *g = f->gens[0];
    if (fstat(g->fd, &st) != 0)
        return;
    if (st.st_nlink == 0)
        set_rotated(t, g, 1);
    uint64_t size = (uint64_t)st.st_size;
    if (size < g->off || size < g->scan) {
        truncated(t, f, g, size);
        return;
    }
    if (check_head && size != g->head_size) {
        g->head_size = size;
        /* the head may have been replaced in place (truncated and regrown
         * past our offset between two looks): the fingerprint tells */
        enum noa_fileid_verdict v;
        struct noa_fileid now_id;
        if (noa_fileid_compare(&g->id, g->off, g->fd, &now_id, NULL, &v) == 0) {
            if (v == NOA_FILEID_TRUNCATED || v == NOA_FILEID_DIFFERENT) {
                truncated(t, f, g, size);
                return;
            }
            if (now_id.fp_len != g->id.fp_len) {
                g->id = now_id;
                noa__tailer_commit_update_id(t, f, g);
            }
        }
    }
    if (size != g->size) {
        g->size = size;
        g->change_ns = now;
    }
    if (size > g->scan)
        noa__tailer_enqueue(t, f);
}

static int64_t idle_ns(const struct noa_tailer *t)
{
    return t->cfg.idle_flush_ns < 0 ? NOA__TAILER_DEF_IDLE_NS : t->cfg.idle_flush_ns;
}

/* Releases gens[0]: flush stages, close, start the next generation. */
static void release_head(struct noa_tailer *t, struct noa__tailer_tfile *f)
{
    struct noa__tailer_gen *g = f->gens[0];
    struct noa_tailer_file fi;
    noa__tailer_file_info(f, g, &fi);
    if (t->cb.on_file_done)
        t->cb.on_file_done(t->cb.ud, &fi);
    uint64_t vend = g->base + g->off;
    if (vend > t->vclock)
        t->vclock = vend;
    noa__tailer_commit_release(t, f, vend, f->n_gens == 1);
    struct stat st;
    if (g->rotated && fstat(g->fd, &st) == 0 && st.st_nlink > 0) {
        /* renamed, not deleted: another name may match a glob */
        struct noa__tailer_handoff *h = &t->handoff[t->n_handoff++ % NOA__TAILER_HANDOFFS];
        h->id = g->id;
        h->off = g->off;
        h->at_ns = noa_clock_mono_ns();
        t->rescan_soon = 1;
    }
    noa__tailer_gen_free(t, g);
    NOA__TAILER_ST_ADD(t, files_active, (uint64_t)-1);
    memmove(&f->gens[0], &f->gens[1], (size_t)(f->n_gens - 1) * sizeof(f->gens[0]));
    f->n_gens--;
    f->gens[f->n_gens] = NULL;
    if (f->n_gens) {
        gen_start(t, f, f->gens[0], vend);
        noa__tailer_enqueue(t, f);
    }
}

/* Per tick: partial last lines of idle files, release of drained
 * generations. Returns 1 when f was removed. */
int noa__tailer_tick_file(struct noa_tailer *t, struct noa__tailer_tfile *f, int64_t now)
{
    struct noa__tailer_gen *g = f->gens[0];
    if (f->queued || f->paused)
        return 0;
    int idle = now - g->change_ns >= idle_ns(t);
    if (!g->rotated && !f->gone) {
        if (t->cfg.idle_flush_ns >= 0 && idle && (g->size > g->off || g->long_len)) {
            if (flush_partial(t, f, g, now) == NOA_ELIMIT)
                f->paused = 1;
        }
        return 0;
    }
    /* rotated away, deleted or no longer matched: drain, then release */
    struct stat st;
    if (!f->gone && fstat(g->fd, &st) == 0 && (uint64_t)st.st_size > g->scan) {
        if ((uint64_t)st.st_size != g->size) {
            g->size = (uint64_t)st.st_size;
            g->change_ns = now;
        }
        noa__tailer_enqueue(t, f);
        return 0;
    }
    int next_has_data = 0;
    if (f->n_gens > 1 && fstat(f->gens[1]->fd, &st) == 0 && st.st_size > 0)
        next_has_data = 1;
    if (!f->gone && !idle && !next_has_data)
        return 0; /* the writer may still add to the old file before it reopens */
    if (flush_partial(t, f, g, now) == NOA_ELIMIT) {
        f->paused = 1;
        return 0;
    }
    release_head(t, f);
    if (f->n_gens == 0) {
        noa__tailer_file_remove(t, f);
        return 1;
    }
    return 0;
}

/* ---- discovery ------------------------------------------------------------------------ */

static void watch_dir(struct noa_tailer *t, const char *dir)
{
    if (t->ifd < 0 || t->polling)
        return;
    int wd = inotify_add_watch(t->ifd, dir,
                               IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_MODIFY |
                                   IN_ATTRIB | IN_ONLYDIR);
    if (wd < 0) {
        if (errno == ENOSPC || errno == ENOMEM) {
            noa_log(NOA_LOG_WARN, "tailer",
                    "msg=\"inotify watch limit reached (fs.inotify.max_user_watches), "
                    "falling back to polling\" dir=%s",
                    dir);
            t->polling = 1;
            __atomic_store_n(&t->st.polling, 1, __ATOMIC_RELAXED);
        }
        return;
    }
    if (wd >= t->n_wdirs) {
        int n = wd + 64;
        t->wdirs = noa_xrealloc(t->wdirs, (size_t)n * sizeof(*t->wdirs));
        memset(t->wdirs + t->n_wdirs, 0, (size_t)(n - t->n_wdirs) * sizeof(*t->wdirs));
        t->n_wdirs = n;
    }
    if (!t->wdirs[wd] || strcmp(t->wdirs[wd], dir) != 0) {
        noa_free(t->wdirs[wd]);
        t->wdirs[wd] = noa_xstrdup(dir);
    }
}

static void watch_parent(struct noa_tailer *t, const char *path)
{
    const char *sl = strrchr(path, '/');
    if (!sl)
        return;
    char dir[PATH_MAX];
    size_t n = sl == path ? 1 : (size_t)(sl - path);
    if (n >= sizeof dir)
        return;
    memcpy(dir, path, n);
    dir[n] = '\0';
    watch_dir(t, dir);
}

struct noa__tailer_scan_ctx {
    struct noa_tailer *t;
    const struct noa__tailer_target *tg;
};

static int scan_on_dir(void *ud, const char *path)
{
    struct noa__tailer_scan_ctx *c = ud;
    watch_dir(c->t, path);
    return 0;
}

static int scan_on_file(void *ud, const char *path)
{
    struct noa__tailer_scan_ctx *c = ud;
    struct noa_tailer *t = c->t;
    size_t n = strlen(path);
    if (c->tg->exclude && noa_glob_match(c->tg->exclude, path, n))
        return 0;
    struct noa__tailer_tfile *f = file_find(t, path, n);
    if (f) {
        if (f->mark != t->scan_mark) {
            f->mark = t->scan_mark;
            f->gone = 0;
        }
        return 0;
    }
    if (noa_glob_is_literal(c->tg->include))
        watch_parent(t, path);
    file_add(t, path, c->tg);
    return 0;
}

/* 1 when f's path still names a regular file some target matches. */
static int still_matches(struct noa_tailer *t, const struct noa__tailer_tfile *f)
{
    struct stat st;
    if (stat(f->path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    for (size_t i = 0; i < t->n_targets; i++) {
        const struct noa__tailer_target *tg = &t->targets[i];
        if (noa_glob_match(tg->include, f->path, f->path_len) &&
            !(tg->exclude && noa_glob_match(tg->exclude, f->path, f->path_len)))
            return 1;
    }
    return 0;
}

void noa__tailer_rescan(struct noa_tailer *t, int64_t now)
{
    t->scan_mark++;
    for (size_t i = 0; i < t->n_targets; i++) {
        struct noa__tailer_scan_ctx c = {t, &t->targets[i]};
        struct noa_glob_walk w = {.on_file = scan_on_file, .on_dir = scan_on_dir, .ud = &c};
        noa_glob_expand(t->targets[i].include, &w);
        if (noa_glob_is_literal(t->targets[i].include))
            watch_parent(t, noa_glob_pattern(t->targets[i].include));
    }
    for (size_t i = 0; i < t->n_files; i++) {
        struct noa__tailer_tfile *f = t->files[i];
        if (f->mark != t->scan_mark && !f->gone && still_matches(t, f)) {
            /* the walk missed it (a directory that could not be listed:
             * EMFILE, EACCES for a moment): releasing it would forget its
             * position and read it again from 0 */
            f->mark = t->scan_mark;
            continue;
        }
        if (f->mark != t->scan_mark && !f->gone) {
            f->gone = 1;
            /* the path may have been rotated away: let the check see it */
            noa__tailer_check_file(t, f, 0, 0, now);
        }
    }
    NOA__TAILER_ST_ADD(t, rescans, 1);
}

/* A new name in a watched directory: add it when a target matches. */
static void try_add(struct noa_tailer *t, const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < t->n_targets; i++) {
        const struct noa__tailer_target *tg = &t->targets[i];
        if (!noa_glob_match(tg->include, path, n))
            continue;
        if (tg->exclude && noa_glob_match(tg->exclude, path, n))
            continue;
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            return;
        file_add(t, path, tg);
        return;
    }
}

void noa__tailer_inotify_drain(struct noa_tailer *t, int64_t now)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    char path[PATH_MAX];
    for (;;) {
        ssize_t n = read(t->ifd, buf, sizeof buf);
        if (n <= 0)
            return;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            p += sizeof(*ev) + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                t->rescan_soon = 1;
                t->next_poll = now;
                continue;
            }
            if (ev->wd < 0 || ev->wd >= t->n_wdirs || !t->wdirs[ev->wd])
                continue;
            if (ev->mask & IN_IGNORED) {
                noa_free(t->wdirs[ev->wd]);
                t->wdirs[ev->wd] = NULL;
                continue;
            }
            if (!ev->len)
                continue;
            int pl = snprintf(path, sizeof path, "%s%s%s", t->wdirs[ev->wd],
                              strcmp(t->wdirs[ev->wd], "/") ? "/" : "", ev->name);
            if (pl < 0 || (size_t)pl >= sizeof path)
                continue;
            struct noa__tailer_tfile *f = file_find(t, path, (size_t)pl);
            if (ev->mask & IN_ISDIR) {
                if (ev->mask & (IN_CREATE | IN_MOVED_TO))
                    t->rescan_soon = 1; /* a new directory a glob may reach */
                continue;
            }
            if (ev->mask & IN_MODIFY) {
                /* a write: read it (truncation is seen by the read's fstat);
                 * writes to rotated generations under other names are
                 * picked up by the tick, so unmatched busy files cost
                 * nothing here */
                if (f)
                    noa__tailer_check_file(t, f, 0, 0, now);
                continue;
            }
            if (f)
                noa__tailer_check_file(t, f, 1, 0, now);
            else if (ev->mask & (IN_CREATE | IN_MOVED_TO))
                try_add(t, path);
        }
    }
}

void noa__tailer_unpause_all(struct noa_tailer *t)
{
    for (size_t i = 0; i < t->n_files; i++) {
        struct noa__tailer_tfile *f = t->files[i];
        if (f->paused) {
            f->paused = 0;
            f->retrying = 1;
            noa__tailer_enqueue(t, f);
        }
    }
}
