/*
 * The file tailer (see tailer.h): targets, the commit table that maps
 * virtual offsets back to (identity, file offset), the reader thread's
 * loop and the API. Owns the reader thread, the eventfd and the inotify
 * instance; the per-file work is in tailer_file.c.
 */
#include "shipper/tailer_int.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---- targets ------------------------------------------------------------------- */

static void targets_free(struct noa__tailer_target *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        noa_glob_free(v[i].include);
        noa_glob_free(v[i].exclude);
        noa_free(v[i].labels);
        noa_free(v[i].store);
    }
    noa_free(v);
}

/* Copies labels (plus filename=path when path is non-NULL) into one
 * allocation of strings, sorted by name. */
void noa__tailer_copy_labels(const struct noa_label *in, uint32_t n, const char *path,
                             struct noa_label **out, uint32_t *n_out, char **store)
{
    size_t bytes = path ? strlen("filename") + strlen(path) : 0;
    for (uint32_t i = 0; i < n; i++)
        bytes += in[i].name.len + in[i].value.len;
    char *s = noa_xmalloc(bytes + 1);
    struct noa_label *v = noa_xcalloc(n + 1, sizeof(*v));
    uint32_t k = 0;
    size_t pos = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (path && noa_str_eq_c(in[i].name, "filename"))
            continue; /* the path wins, as Promtail sets it last */
        memcpy(s + pos, in[i].name.p, in[i].name.len);
        v[k].name = (struct noa_str){s + pos, in[i].name.len};
        pos += in[i].name.len;
        if (in[i].value.len)
            memcpy(s + pos, in[i].value.p, in[i].value.len);
        v[k].value = (struct noa_str){s + pos, in[i].value.len};
        pos += in[i].value.len;
        k++;
    }
    if (path) {
        size_t pl = strlen(path);
        memcpy(s + pos, "filename", 8);
        v[k].name = (struct noa_str){s + pos, 8};
        pos += 8;
        memcpy(s + pos, path, pl);
        v[k].value = (struct noa_str){s + pos, pl};
        k++;
    }
    struct noa_labels ls = {v, k};
    noa_labels_sort(&ls);
    *out = v;
    *n_out = k;
    *store = s;
}

int noa_tailer_set_targets(struct noa_tailer *t, const struct noa_tailer_target *targets, size_t n,
                           struct noa_error *err)
{
    struct noa__tailer_target *v = noa_xcalloc(n ? n : 1, sizeof(*v));
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        rc = noa_glob_new(targets[i].include ? targets[i].include : "", &v[i].include, err);
        if (rc < 0)
            goto fail;
        if (targets[i].exclude && targets[i].exclude[0]) {
            rc = noa_glob_new(targets[i].exclude, &v[i].exclude, err);
            if (rc < 0)
                goto fail;
        }
        noa__tailer_copy_labels(targets[i].labels, targets[i].n_labels, NULL, &v[i].labels,
                                &v[i].n_labels, &v[i].store);
        v[i].user = targets[i].user;
    }
    pthread_mutex_lock(&t->mu);
    targets_free(t->pending, t->n_pending);
    t->pending = v;
    t->n_pending = n;
    t->have_pending = 1;
    pthread_mutex_unlock(&t->mu);
    uint64_t one = 1;
    if (write(t->efd, &one, sizeof one) < 0) {
        /* the counter is saturated: the reader is awake anyway */
    }
    return 0;
fail:
    targets_free(v, n);
    return rc;
}

/* ---- the commit table ------------------------------------------------------------ */

static struct noa__tailer_centry **ctab_slot(struct noa_tailer *t, const char *p, size_t n)
{
    size_t b = noa__tailer_hash_path(p, n) & (t->ccap - 1);
    struct noa__tailer_centry **pp = &t->ctab[b];
    while (*pp && !((*pp)->path_len == n && memcmp((*pp)->path, p, n) == 0))
        pp = &(*pp)->next;
    return pp;
}

static void ctab_grow(struct noa_tailer *t)
{
    size_t ncap = t->ccap ? t->ccap * 2 : 256;
    struct noa__tailer_centry **nt = noa_xcalloc(ncap, sizeof(*nt));
    for (size_t i = 0; i < t->ccap; i++) {
        struct noa__tailer_centry *e = t->ctab[i];
        while (e) {
            struct noa__tailer_centry *nx = e->next;
            size_t b = noa__tailer_hash_path(e->path, e->path_len) & (ncap - 1);
            e->next = nt[b];
            nt[b] = e;
            e = nx;
        }
    }
    noa_free(t->ctab);
    t->ctab = nt;
    t->ccap = ncap;
}

/* A generation of path starts being read at virtual base. */
void noa__tailer_commit_push(struct noa_tailer *t, const struct noa__tailer_tfile *f,
                             const struct noa__tailer_gen *g)
{
    pthread_mutex_lock(&t->cmu);
    if (t->cn * 2 >= t->ccap)
        ctab_grow(t);
    struct noa__tailer_centry **pp = ctab_slot(t, f->path, f->path_len);
    struct noa__tailer_centry *e = *pp;
    if (!e) {
        e = noa_xcalloc(1, sizeof(*e));
        e->path = noa_xstrndup(f->path, f->path_len);
        e->path_len = f->path_len;
        *pp = e;
        t->cn++;
    }
    if (e->n == NOA_TAILER_MAX_GENS + 1) {
        /* commits lag far behind: forget the oldest range (its offsets then
         * map to nothing and are not committed, which only repeats lines) */
        memmove(&e->gens[0], &e->gens[1], (size_t)(e->n - 1) * sizeof(e->gens[0]));
        e->n--;
    }
    e->gens[e->n].base = g->base;
    e->gens[e->n].id = g->id;
    e->n++;
    e->released = 0;
    pthread_mutex_unlock(&t->cmu);
}

/* The generation starting at base has a new identity (its fingerprint grew). */
void noa__tailer_commit_update_id(struct noa_tailer *t, const struct noa__tailer_tfile *f,
                                  const struct noa__tailer_gen *g)
{
    pthread_mutex_lock(&t->cmu);
    struct noa__tailer_centry *e = t->ccap ? *ctab_slot(t, f->path, f->path_len) : NULL;
    for (int i = 0; e && i < e->n; i++)
        if (e->gens[i].base == g->base)
            e->gens[i].id = g->id;
    pthread_mutex_unlock(&t->cmu);
}

/* The path was released for good and everything is delivered: forget it
 * and its position, as Promtail deletes the positions of stopped files.
 * Called with cmu held. */
static int forget(struct noa_tailer *t, struct noa__tailer_centry *e)
{
    int rc = 0;
    if (t->cfg.positions) {
        rc = noa_positions_remove(t->cfg.positions, e->path);
        if (rc == NOA_ENOTFOUND)
            rc = 0;
    }
    struct noa__tailer_centry **pp = ctab_slot(t, e->path, e->path_len);
    *pp = e->next;
    noa_free(e->path);
    noa_free(e);
    t->cn--;
    return rc;
}

void noa__tailer_commit_release(struct noa_tailer *t, const struct noa__tailer_tfile *f,
                                uint64_t vend, int final)
{
    pthread_mutex_lock(&t->cmu);
    struct noa__tailer_centry *e = t->ccap ? *ctab_slot(t, f->path, f->path_len) : NULL;
    if (e) {
        if (vend > e->vend)
            e->vend = vend;
        if (final)
            e->released = 1;
        if (final && e->has_committed && e->committed >= vend)
            forget(t, e); /* everything was delivered before the release */
    }
    pthread_mutex_unlock(&t->cmu);
}

int noa_tailer_commit(struct noa_tailer *t, struct noa_str path, uint64_t voff)
{
    int rc = NOA_ENOTFOUND;
    char *p = NULL;
    pthread_mutex_lock(&t->cmu);
    if (!t->ccap)
        goto out;
    struct noa__tailer_centry **pp = ctab_slot(t, path.p, path.len);
    struct noa__tailer_centry *e = *pp;
    if (!e)
        goto out;
    int k = -1;
    for (int i = 0; i < e->n; i++)
        if (e->gens[i].base <= voff)
            k = i;
    if (k < 0)
        goto out;
    if (e->released && voff >= e->vend && k == e->n - 1) {
        rc = forget(t, e);
        goto out;
    }
    e->committed = voff;
    e->has_committed = 1;
    p = noa_xstrndup(path.p, path.len);
    rc = t->cfg.positions
             ? noa_positions_set(t->cfg.positions, p, voff - e->gens[k].base, &e->gens[k].id)
             : 0;
    if (k > 0) {
        memmove(&e->gens[0], &e->gens[k], (size_t)(e->n - k) * sizeof(e->gens[0]));
        e->n -= k;
    }
out:
    pthread_mutex_unlock(&t->cmu);
    noa_free(p);
    return rc;
}

/* ---- the reader thread ------------------------------------------------------------------ */

/* Copies every file's state for noa_tailer_foreach (reader thread). */
static void snapshot(struct noa_tailer *t)
{
    struct noa_buf b = {0};
    for (size_t i = 0; i < t->n_files; i++) {
        const struct noa__tailer_tfile *f = t->files[i];
        if (!f->n_gens)
            continue;
        const struct noa__tailer_gen *g = f->gens[0];
        uint32_t len = (uint32_t)f->path_len, gens = (uint32_t)f->n_gens;
        uint64_t size = g->size, off = g->off;
        noa_buf_append(&b, &len, sizeof len);
        noa_buf_append(&b, f->path, f->path_len);
        noa_buf_append(&b, &size, sizeof size);
        noa_buf_append(&b, &off, sizeof off);
        noa_buf_append(&b, &gens, sizeof gens);
    }
    pthread_mutex_lock(&t->snap_mu);
    struct noa_buf old = t->snap;
    t->snap = b;
    pthread_mutex_unlock(&t->snap_mu);
    noa_buf_fini(&old);
}

void noa_tailer_foreach(struct noa_tailer *t,
                        void (*cb)(void *ud, const struct noa_tailer_file_state *s), void *ud)
{
    pthread_mutex_lock(&t->snap_mu);
    const char *p = t->snap.data, *end = p + t->snap.len;
    while (p && p < end) {
        struct noa_tailer_file_state st;
        uint32_t len, gens;
        memcpy(&len, p, sizeof len);
        p += sizeof len;
        st.path = p;
        st.path_len = len;
        p += len;
        memcpy(&st.size, p, sizeof st.size);
        p += sizeof st.size;
        memcpy(&st.offset, p, sizeof st.offset);
        p += sizeof st.offset;
        memcpy(&gens, p, sizeof gens);
        p += sizeof gens;
        st.generations = (int)gens;
        cb(ud, &st);
    }
    pthread_mutex_unlock(&t->snap_mu);
}

static void *reader_main(void *arg)
{
    struct noa_tailer *t = arg;
    int64_t now = noa_clock_mono_ns();
    t->next_sync = t->next_poll = t->next_tick = now;
    t->rescan_soon = 1;
    for (;;) {
        pthread_mutex_lock(&t->mu);
        int stop = t->stop, resume = t->resume;
        struct noa__tailer_target *nt = NULL;
        size_t nn = 0;
        int have = t->have_pending;
        if (have) {
            nt = t->pending;
            nn = t->n_pending;
            t->pending = NULL;
            t->n_pending = 0;
            t->have_pending = 0;
        }
        t->resume = 0;
        pthread_mutex_unlock(&t->mu);
        if (stop)
            break;
        if (have) {
            targets_free(t->targets, t->n_targets);
            t->targets = nt;
            t->n_targets = nn;
            t->rescan_soon = 1;
        }
        if (resume)
            noa__tailer_unpause_all(t);
        now = noa_clock_mono_ns();
        if (t->rescan_soon || now >= t->next_sync) {
            noa__tailer_rescan(t, now);
            t->rescan_soon = 0;
            t->next_sync = now + t->cfg.sync_period_ns;
        }
        if (now >= t->next_poll) {
            for (size_t i = 0; i < t->n_files; i++)
                noa__tailer_check_file(t, t->files[i], 1, 1, now);
            t->next_poll = now + t->cfg.poll_period_ns;
        }
        if (now >= t->next_tick) {
            noa__tailer_unpause_all(t);
            for (size_t i = 0; i < t->n_files;)
                if (!noa__tailer_tick_file(t, t->files[i], now))
                    i++;
            if (t->cb.on_tick)
                t->cb.on_tick(t->cb.ud, noa_clock_mono_ns());
            if (now >= t->next_snap) {
                snapshot(t);
                t->next_snap = now + 1000000000LL;
            }
            t->next_tick = now + t->cfg.tick_period_ns;
        }
        /* one turn: every ready file gets one chunk */
        for (size_t k = t->ring_n; k > 0; k--) {
            struct noa__tailer_tfile *f = noa__tailer_dequeue(t);
            if (!f)
                break;
            if (f->retrying && t->cb.can_read) {
                /* A paused file is asked first: reading a chunk only to
                 * have its first line refused again costs a copy of the
                 * chunk per paused file per retry. */
                struct noa_tailer_file fi;
                noa__tailer_file_info(f, f->gens[0], &fi);
                if (!t->cb.can_read(t->cb.ud, &fi)) {
                    f->paused = 1;
                    continue;
                }
            }
            f->retrying = 0;
            int r = noa__tailer_read_gen(t, f, f->gens[0], now);
            if (r == NOA__TAILER_RD_MORE)
                noa__tailer_enqueue(t, f);
            else if (r == NOA__TAILER_RD_PAUSED)
                f->paused = 1;
        }
        int64_t next = t->next_tick;
        if (t->next_poll < next)
            next = t->next_poll;
        if (t->next_sync < next)
            next = t->next_sync;
        int64_t wait = t->ring_n || t->rescan_soon ? 0 : next - noa_clock_mono_ns();
        int timeout = wait <= 0 ? 0 : (int)(wait / 1000000) + 1;
        struct pollfd pf[2] = {{.fd = t->efd, .events = POLLIN}, {.fd = t->ifd, .events = POLLIN}};
        int np = poll(pf, t->ifd >= 0 ? 2 : 1, timeout);
        if (np > 0 && (pf[0].revents & POLLIN)) {
            uint64_t v;
            if (read(t->efd, &v, sizeof v) < 0) {
                /* nothing to drain */
            }
        }
        if (np > 0 && t->ifd >= 0 && (pf[1].revents & POLLIN))
            noa__tailer_inotify_drain(t, noa_clock_mono_ns());
    }
    /* stop: every generation ends; partial lines are left for the restart */
    while (t->n_files) {
        struct noa__tailer_tfile *f = t->files[t->n_files - 1];
        while (f->n_gens) {
            struct noa_tailer_file fi;
            noa__tailer_file_info(f, f->gens[0], &fi);
            if (t->cb.on_file_done)
                t->cb.on_file_done(t->cb.ud, &fi);
            noa__tailer_gen_free(t, f->gens[0]);
            NOA__TAILER_ST_ADD(t, files_active, (uint64_t)-1);
            memmove(&f->gens[0], &f->gens[1], (size_t)(f->n_gens - 1) * sizeof(f->gens[0]));
            f->n_gens--;
        }
        noa__tailer_file_remove(t, f);
    }
    return NULL;
}

/* ---- API ---------------------------------------------------------------------------------- */

int noa_tailer_new(const struct noa_tailer_config *cfg, const struct noa_tailer_callbacks *cb,
                   struct noa_tailer **out)
{
    struct noa_tailer *t = noa_xcalloc(1, sizeof(*t));
    int rc;
    t->cfg = *cfg;
    t->cb = *cb;
    t->ifd = -1;
    if (t->cfg.sync_period_ns <= 0)
        t->cfg.sync_period_ns = NOA__TAILER_DEF_SYNC_NS;
    if (t->cfg.poll_period_ns <= 0)
        t->cfg.poll_period_ns = NOA__TAILER_DEF_POLL_NS;
    if (t->cfg.tick_period_ns <= 0)
        t->cfg.tick_period_ns = NOA__TAILER_DEF_TICK_NS;
    if (t->cfg.idle_flush_ns == 0)
        t->cfg.idle_flush_ns = NOA__TAILER_DEF_IDLE_NS;
    if (t->cfg.max_line_size == 0)
        t->cfg.max_line_size = NOA__TAILER_DEF_MAX_LINE;
    if (t->cfg.read_chunk < 4096)
        t->cfg.read_chunk = t->cfg.read_chunk ? 4096 : NOA__TAILER_DEF_CHUNK;
    if (t->cfg.max_files == 0)
        t->cfg.max_files = NOA__TAILER_DEF_MAX_FILES;
    pthread_mutex_init(&t->mu, NULL);
    pthread_mutex_init(&t->cmu, NULL);
    pthread_mutex_init(&t->snap_mu, NULL);
    /* one fd per tailed file: take the hard limit, as thousands of files
     * are normal on a Kubernetes node */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    t->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (t->efd < 0) {
        rc = -errno;
        goto fail;
    }
    if (!t->cfg.no_inotify) {
        t->ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (t->ifd < 0)
            noa_log(NOA_LOG_WARN, "tailer",
                    "msg=\"inotify unavailable (fs.inotify.max_user_instances?), polling\" "
                    "err=\"%s\"",
                    strerror(errno));
    }
    t->polling = t->ifd < 0;
    t->st.polling = t->polling;
    t->rbuf = noa_xmalloc(t->cfg.read_chunk);
    *out = t;
    return 0;
fail:
    noa_tailer_free(t);
    *out = NULL;
    return rc;
}

int noa_tailer_start(struct noa_tailer *t)
{
    if (t->running)
        return 0;
    int rc = pthread_create(&t->th, NULL, reader_main, t);
    if (rc)
        return -rc;
    t->running = 1;
    return 0;
}

static void wake(struct noa_tailer *t)
{
    uint64_t one = 1;
    if (write(t->efd, &one, sizeof one) < 0) {
        /* saturated: the reader is awake anyway */
    }
}

void noa_tailer_stop(struct noa_tailer *t)
{
    if (!t || !t->running)
        return;
    pthread_mutex_lock(&t->mu);
    t->stop = 1;
    pthread_mutex_unlock(&t->mu);
    wake(t);
    pthread_join(t->th, NULL);
    t->running = 0;
}

void noa_tailer_resume(struct noa_tailer *t)
{
    pthread_mutex_lock(&t->mu);
    t->resume = 1;
    pthread_mutex_unlock(&t->mu);
    wake(t);
}

void noa_tailer_stats(struct noa_tailer *t, struct noa_tailer_stats *out)
{
    out->lines = __atomic_load_n(&t->st.lines, __ATOMIC_RELAXED);
    out->bytes = __atomic_load_n(&t->st.bytes, __ATOMIC_RELAXED);
    out->truncated_lines = __atomic_load_n(&t->st.truncated_lines, __ATOMIC_RELAXED);
    out->dropped_lines = __atomic_load_n(&t->st.dropped_lines, __ATOMIC_RELAXED);
    out->rotations = __atomic_load_n(&t->st.rotations, __ATOMIC_RELAXED);
    out->truncations = __atomic_load_n(&t->st.truncations, __ATOMIC_RELAXED);
    out->rescans = __atomic_load_n(&t->st.rescans, __ATOMIC_RELAXED);
    out->files_active = __atomic_load_n(&t->st.files_active, __ATOMIC_RELAXED);
    out->paths_active = __atomic_load_n(&t->st.paths_active, __ATOMIC_RELAXED);
    out->polling = __atomic_load_n(&t->st.polling, __ATOMIC_RELAXED);
}

void noa_tailer_free(struct noa_tailer *t)
{
    if (!t)
        return;
    noa_tailer_stop(t);
    while (t->n_files)
        noa__tailer_file_remove(t, t->files[t->n_files - 1]);
    targets_free(t->targets, t->n_targets);
    targets_free(t->pending, t->n_pending);
    for (size_t i = 0; i < t->ccap; i++) {
        struct noa__tailer_centry *e = t->ctab[i];
        while (e) {
            struct noa__tailer_centry *nx = e->next;
            noa_free(e->path);
            noa_free(e);
            e = nx;
        }
    }
    noa_free(t->ctab);
    for (int i = 0; i < t->n_wdirs; i++)
        noa_free(t->wdirs[i]);
    noa_free(t->wdirs);
    noa_free(t->files);
    noa_free(t->htab);
    noa_free(t->itab);
    noa_free(t->ring);
    noa_free(t->rbuf);
    if (t->ifd >= 0)
        close(t->ifd);
    if (t->efd >= 0)
        close(t->efd);
    pthread_mutex_destroy(&t->mu);
    pthread_mutex_destroy(&t->cmu);
    pthread_mutex_destroy(&t->snap_mu);
    noa_buf_fini(&t->snap);
    noa_free(t);
}
