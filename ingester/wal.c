/*
 * Write-ahead log (format and contract in wal.h).
 *
 * The loop thread queues items (records, roll markers, checkpoint markers);
 * the writer thread takes the whole queue at once, writes it with pwritev,
 * fdatasyncs once and hands the group back through uv_async; the loop
 * thread then runs the callbacks in queue order. Replay, the checkpoint
 * writer and segment removal are blocking file code run by their caller.
 */
#include "ingester/wal.h"

#include "common/log.h"
#include "common/mem.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#define WAL_IOV_MAX 1024      /* stays within IOV_MAX (1024 on Linux) */
#define READ_CHUNK (1u << 20) /* replay reads this much at a time */
#define CK_BUFFER (1u << 20)  /* checkpoint writes are buffered to this */
#define NAME_MAX_LEN 32       /* "checkpoint.4294967295.tmp" fits */

enum item_kind { ITEM_RECORD, ITEM_ROLL, ITEM_CHECKPOINT };

/* One queued append or marker. Built on the loop thread, filled in by the
 * writer (hdr, status, segment, ck), completed and freed on the loop thread. */
struct wal_item {
    struct wal_item *next;
    enum item_kind kind;
    const unsigned char *data; /* payload: inline after the struct, or `owned` */
    size_t len;
    void *owned; /* a stolen noa_buf array, freed with the item */
    void (*done_cb)(int status, uint32_t segment, void *ctx);
    void (*ck_cb)(int status, struct noa_wal_checkpoint *ck, uint32_t segment, void *ctx);
    void *ctx;
    struct noa_wal_checkpoint *ck;
    int status;
    uint32_t segment;
    unsigned char hdr[NOA_WAL_RECORD_HEADER];
};

struct item_list {
    struct wal_item *head, *tail;
};

/*
 * THREAD SAFETY. Created, completed and freed on the loop thread.
 * - `mu` guards queue, done, stopping, exited, writer_idle.
 * - Writer thread only: fd, seg_*, iov, niov.
 * - Loop thread only: pending, closing, used, referenced, close_cb/ctx.
 * - Atomics (any thread): the figures, failed, segment_cur, seg_floor,
 *   ck_open.
 * - Immutable after open: options, dir, dirfd.
 * One lock; callbacks never run under it.
 */
struct noa_wal {
    uv_loop_t *loop;
    uv_async_t async;
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cond;

    char *dir;
    int dirfd; /* holds the flock; base of every *at call */
    uint64_t segment_size;
    uint64_t max_queue;
    uint32_t max_record;
    int no_sync;
    struct noa_wal_options opts; /* the hooks */

    struct item_list queue, done;
    int stopping, exited, writer_idle;

    uint64_t pending;
    int closing, used, replayed, referenced;
    void (*close_cb)(void *ctx);
    void *close_ctx;

    int fd;            /* open segment, or -1 */
    uint32_t seg_next; /* number of the next segment created */
    uint32_t seg_open; /* number of the open segment */
    uint64_t seg_size; /* bytes written + queued in iov */
    uint64_t seg_written;
    uint64_t seg_synced; /* end of the last completed group */
    struct iovec iov[WAL_IOV_MAX];
    int niov;

    atomic_uint_fast64_t bytes_written, records, fsyncs, fsync_ns_total, fsync_ns_max;
    atomic_uint_fast64_t write_errors, queue_bytes, queue_records;
    atomic_int failed;
    atomic_uint segment_cur;
    atomic_uint seg_floor; /* lowest segment that may still be written */
    atomic_int ck_open;
};

struct noa_wal_checkpoint {
    struct noa_wal *w;
    int fd;
    uint32_t num;
    int err; /* sticky: the first write error */
    uint64_t count;
    struct noa_buf buf;
};

static const unsigned char seg_header[NOA_WAL_FILE_HEADER] = {'N', 'W', 'A', 'L', 1, 0, 0, 0};
static const unsigned char ck_header[NOA_WAL_FILE_HEADER] = {'N', 'W', 'C', 'K', 1, 0, 0, 0};

/* ---- small helpers ---------------------------------------------------- */

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Fills a record header; the CRC covers length, type and payload. */
static void record_header(unsigned char hdr[NOA_WAL_RECORD_HEADER], int type, const void *p,
                          size_t len)
{
    put_le32(hdr + 4, (uint32_t)len);
    hdr[8] = (unsigned char)type;
    uint32_t crc = noa_crc32c(0, hdr + 4, 5);
    put_le32(hdr, noa_crc32c(crc, p, len));
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void seg_name(char *out, uint32_t num)
{
    snprintf(out, NAME_MAX_LEN, "%08u", num);
}

static void ck_name(char *out, uint32_t num, int tmp)
{
    snprintf(out, NAME_MAX_LEN, "checkpoint.%08u%s", num, tmp ? ".tmp" : "");
}

enum name_kind { NAME_OTHER, NAME_SEGMENT, NAME_CHECKPOINT, NAME_CKTMP };

/* Reads a canonical "%08u" number (8 to 10 digits) of exactly n bytes. */
static int parse_num(const char *s, size_t n, uint32_t *out)
{
    char canon[NAME_MAX_LEN];
    uint64_t v = 0;
    if (n < 8 || n > 10)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > UINT32_MAX)
        return 0;
    seg_name(canon, (uint32_t)v);
    if (strlen(canon) != n || memcmp(canon, s, n) != 0)
        return 0;
    *out = (uint32_t)v;
    return 1;
}

static enum name_kind classify(const char *name, uint32_t *num)
{
    size_t n = strlen(name);
    if (parse_num(name, n, num))
        return NAME_SEGMENT;
    if (n < 11 || memcmp(name, "checkpoint.", 11) != 0)
        return NAME_OTHER;
    name += 11;
    n -= 11;
    if (parse_num(name, n, num))
        return NAME_CHECKPOINT;
    if (n > 4 && memcmp(name + n - 4, ".tmp", 4) == 0 && parse_num(name, n - 4, num))
        return NAME_CKTMP;
    return NAME_OTHER;
}

/* What a directory holds, sorted by number. */
struct listing {
    uint32_t *segs, *cks, *tmps;
    size_t nsegs, ncks, ntmps;
};

static void push_num(uint32_t **arr, size_t *n, uint32_t v)
{
    *arr = noa_xrealloc(*arr, (*n + 1) * sizeof(**arr));
    (*arr)[(*n)++] = v;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void listing_fini(struct listing *l)
{
    noa_free(l->segs);
    noa_free(l->cks);
    noa_free(l->tmps);
    memset(l, 0, sizeof(*l));
}

static int list_dir(int dirfd, struct listing *l)
{
    memset(l, 0, sizeof(*l));
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        int rc = -errno;
        if (fd >= 0)
            close(fd);
        return rc;
    }
    struct dirent *e;
    uint32_t num;
    while ((e = readdir(d)) != NULL) {
        switch (classify(e->d_name, &num)) {
        case NAME_SEGMENT:
            push_num(&l->segs, &l->nsegs, num);
            break;
        case NAME_CHECKPOINT:
            push_num(&l->cks, &l->ncks, num);
            break;
        case NAME_CKTMP:
            push_num(&l->tmps, &l->ntmps, num);
            break;
        case NAME_OTHER:
            break;
        }
    }
    closedir(d);
    if (l->nsegs)
        qsort(l->segs, l->nsegs, sizeof(uint32_t), cmp_u32);
    if (l->ncks)
        qsort(l->cks, l->ncks, sizeof(uint32_t), cmp_u32);
    return 0;
}

static int sync_dir(int dirfd)
{
    return fsync(dirfd) == 0 ? 0 : -errno;
}

static int mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -errno;
        buf[i] = c;
    }
    return 0;
}

static int fault(struct noa_wal *w, enum noa_wal_op op)
{
    return w->opts.fault_cb ? w->opts.fault_cb(op, w->opts.fault_ctx) : 0;
}

/* ---- writer thread ------------------------------------------------------ */

static void floor_update(struct noa_wal *w)
{
    atomic_store(&w->seg_floor, w->fd >= 0 ? w->seg_open : w->seg_next);
}

static int add_iov(struct noa_wal *w, const void *p, size_t n);

static int open_segment(struct noa_wal *w)
{
    char name[NAME_MAX_LEN];
    uint32_t num = w->seg_next;
    int fd = -1;
    int rc = fault(w, NOA_WAL_OP_CREATE);
    seg_name(name, num);
    if (!rc) {
        fd = openat(w->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
            rc = -errno;
    }
    if (rc == -EEXIST)
        w->seg_next = num + 1; /* never overwrite a file we did not list */
    if (rc)
        goto fail;
    w->seg_next = num + 1;
    /* The new name must be durable before records in it are acknowledged. */
    if (!w->no_sync && (rc = sync_dir(w->dirfd)) != 0) {
        atomic_store(&w->failed, rc);
        goto fail;
    }
    w->fd = fd;
    w->seg_open = num;
    w->seg_size = w->seg_written = w->seg_synced = 0;
    atomic_store(&w->segment_cur, num);
    floor_update(w);
    return add_iov(w, seg_header, sizeof(seg_header));
fail:
    if (fd >= 0)
        close(fd);
    atomic_fetch_add(&w->write_errors, 1);
    return rc;
}

/* Writes the queued iovecs at the end of the segment, resuming short writes. */
static int flush_iov(struct noa_wal *w)
{
    struct iovec *v = w->iov;
    int n = w->niov;
    int rc = 0;
    while (n > 0) {
        ssize_t k = pwritev(w->fd, v, n, (off_t)w->seg_written);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            rc = k < 0 ? -errno : -EIO;
            break;
        }
        w->seg_written += (uint64_t)k;
        atomic_fetch_add(&w->bytes_written, (uint64_t)k);
        while (n > 0 && (size_t)k >= v->iov_len) {
            k -= (ssize_t)v->iov_len;
            v++;
            n--;
        }
        if (n > 0) {
            v->iov_base = (char *)v->iov_base + k;
            v->iov_len -= (size_t)k;
        }
    }
    if (!rc && w->niov)
        rc = fault(w, NOA_WAL_OP_WRITE); /* after the bytes landed: a partial write */
    w->niov = 0;
    if (rc)
        atomic_fetch_add(&w->write_errors, 1);
    return rc;
}

static int add_iov(struct noa_wal *w, const void *p, size_t n)
{
    int rc = 0;
    if (n == 0)
        return 0;
    if (w->niov == WAL_IOV_MAX && (rc = flush_iov(w)) != 0)
        return rc;
    w->iov[w->niov].iov_base = (void *)p;
    w->iov[w->niov].iov_len = n;
    w->niov++;
    w->seg_size += n;
    return 0;
}

/* Makes everything written so far durable. A failed fdatasync is sticky:
 * after one, Linux may have dropped the dirty pages and reports success on
 * a retry, so nothing written since can be trusted. */
static int sync_segment(struct noa_wal *w)
{
    int rc = flush_iov(w);
    if (rc || w->fd < 0 || w->seg_written == w->seg_synced)
        return rc;
    if (!w->no_sync) {
        rc = fault(w, NOA_WAL_OP_SYNC);
        uint64_t t0 = now_ns();
        if (!rc && fdatasync(w->fd) != 0)
            rc = -errno;
        uint64_t ns = now_ns() - t0;
        atomic_fetch_add(&w->fsyncs, 1);
        atomic_fetch_add(&w->fsync_ns_total, ns);
        if (ns > atomic_load(&w->fsync_ns_max))
            atomic_store(&w->fsync_ns_max, ns);
        if (w->opts.fsync_observe_cb)
            w->opts.fsync_observe_cb((double)ns / 1e9, w->opts.observe_ctx);
        if (rc) {
            atomic_fetch_add(&w->write_errors, 1);
            atomic_store(&w->failed, rc);
            noa_log(
                NOA_LOG_ERROR, "wal",
                "msg=\"fdatasync failed, refusing appends until restart\" segment=%u err=\"%s\"",
                w->seg_open, noa_strerror(rc));
            return rc;
        }
    }
    w->seg_synced = w->seg_written;
    return 0;
}

static void close_segment(struct noa_wal *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    floor_update(w);
}

/* After a failed write: cut the partial group off so the segment ends at a
 * record boundary, or leave the segment for a new one if that fails too. */
static void recover_write(struct noa_wal *w)
{
    w->niov = 0;
    if (w->fd < 0 || atomic_load(&w->failed))
        return;
    if (ftruncate(w->fd, (off_t)w->seg_synced) == 0 && w->seg_synced >= NOA_WAL_FILE_HEADER) {
        w->seg_size = w->seg_written = w->seg_synced;
        return;
    }
    close_segment(w);
}

static int ck_create(struct noa_wal *w, uint32_t num, struct noa_wal_checkpoint **out);

static int write_marker(struct noa_wal *w, struct wal_item *it)
{
    int rc = sync_segment(w);
    if (rc)
        return rc;
    close_segment(w);
    it->segment = w->seg_next;
    if (it->kind == ITEM_CHECKPOINT)
        it->status = ck_create(w, w->seg_next - 1, &it->ck);
    return 0;
}

static int write_record(struct noa_wal *w, struct wal_item *it, struct wal_item **unsynced)
{
    int rc = 0;
    uint64_t need = NOA_WAL_RECORD_HEADER + (uint64_t)it->len;
    if (w->fd >= 0 && w->seg_size > NOA_WAL_FILE_HEADER && w->seg_size + need > w->segment_size) {
        if ((rc = sync_segment(w)) != 0)
            return rc;
        close_segment(w);
        *unsynced = it; /* everything before is durable in the old segment */
    }
    if (w->fd < 0 && (rc = open_segment(w)) != 0)
        return rc;
    record_header(it->hdr, NOA_WAL_REC_DATA, it->data, it->len);
    it->segment = w->seg_open;
    if ((rc = add_iov(w, it->hdr, sizeof(it->hdr))) != 0)
        return rc;
    return add_iov(w, it->data, it->len);
}

/* Writes one group and sets every item's status. */
static void write_group(struct noa_wal *w, struct wal_item *head)
{
    struct wal_item *unsynced = head, *it;
    int rc = 0;
    for (it = head; it && !rc; it = it->next) {
        if ((rc = atomic_load(&w->failed)) != 0)
            break;
        if (it->kind == ITEM_RECORD) {
            rc = write_record(w, it, &unsynced);
        } else if ((rc = write_marker(w, it)) == 0) {
            unsynced = it->next;
        }
    }
    if (!rc)
        rc = sync_segment(w);
    if (rc) {
        recover_write(w);
        for (it = unsynced; it; it = it->next)
            it->status = rc;
    }
    uint64_t n = 0;
    for (it = head; it; it = it->next)
        n += it->kind == ITEM_RECORD && it->status == 0;
    atomic_fetch_add(&w->records, n);
}

static void writer_main(void *arg)
{
    struct noa_wal *w = arg;
    uv_mutex_lock(&w->mu);
    for (;;) {
        while (!w->queue.head && !w->stopping) {
            w->writer_idle = 1;
            uv_cond_wait(&w->cond, &w->mu);
        }
        w->writer_idle = 0;
        if (!w->queue.head)
            break;
        struct item_list batch = w->queue;
        w->queue.head = w->queue.tail = NULL;
        uv_mutex_unlock(&w->mu);

        write_group(w, batch.head);

        uv_mutex_lock(&w->mu);
        if (w->done.tail)
            w->done.tail->next = batch.head;
        else
            w->done.head = batch.head;
        w->done.tail = batch.tail;
        uv_mutex_unlock(&w->mu);
        uv_async_send(&w->async);
        uv_mutex_lock(&w->mu);
    }
    uv_mutex_unlock(&w->mu);
    close_segment(w); /* every group was synced before it completed */
    uv_mutex_lock(&w->mu);
    w->exited = 1;
    uv_mutex_unlock(&w->mu);
    uv_async_send(&w->async);
}

/* ---- loop thread ------------------------------------------------------- */

static void on_closed(uv_handle_t *h)
{
    struct noa_wal *w = h->data;
    void (*cb)(void *) = w->close_cb;
    void *ctx = w->close_ctx;
    uv_mutex_destroy(&w->mu);
    uv_cond_destroy(&w->cond);
    if (w->dirfd >= 0)
        close(w->dirfd); /* releases the flock */
    noa_free(w->dir);
    noa_free(w);
    if (cb)
        cb(ctx);
}

static void complete(struct noa_wal *w, struct wal_item *it)
{
    w->pending--;
    if (it->kind == ITEM_RECORD) {
        atomic_fetch_sub(&w->queue_bytes, it->len);
        atomic_fetch_sub(&w->queue_records, 1);
        it->done_cb(it->status, it->status ? 0 : it->segment, it->ctx);
    } else if (it->kind == ITEM_CHECKPOINT) {
        if (it->status || !it->ck) {
            noa_wal_checkpoint_abort(it->ck);
            it->ck = NULL;
            atomic_store(&w->ck_open, 0);
        }
        it->ck_cb(it->status, it->ck, it->segment, it->ctx);
    }
    noa_free(it->owned);
    noa_free(it);
}

static void on_async(uv_async_t *h)
{
    struct noa_wal *w = h->data;
    for (;;) {
        uv_mutex_lock(&w->mu);
        struct wal_item *it = w->done.head;
        int exited = w->exited;
        w->done.head = w->done.tail = NULL;
        uv_mutex_unlock(&w->mu);
        if (!it) {
            if (w->closing && exited) {
                uv_thread_join(&w->thread);
                uv_close((uv_handle_t *)&w->async, on_closed);
                return;
            }
            break;
        }
        while (it) {
            struct wal_item *next = it->next;
            complete(w, it);
            it = next;
        }
    }
    if (w->pending == 0 && !w->closing && w->referenced) {
        uv_unref((uv_handle_t *)&w->async);
        w->referenced = 0;
    }
}

static int check_accepting(struct noa_wal *w)
{
    if (w->closing)
        return NOA_EUNAVAIL;
    return atomic_load(&w->failed);
}

static void enqueue(struct noa_wal *w, struct wal_item *it)
{
    w->used = 1;
    if (w->pending++ == 0 && !w->referenced) {
        uv_ref((uv_handle_t *)&w->async);
        w->referenced = 1;
    }
    uv_mutex_lock(&w->mu);
    if (w->queue.tail)
        w->queue.tail->next = it;
    else
        w->queue.head = it;
    w->queue.tail = it;
    if (w->writer_idle)
        uv_cond_signal(&w->cond);
    uv_mutex_unlock(&w->mu);
}

static int check_record(struct noa_wal *w, size_t len)
{
    int rc = check_accepting(w);
    if (rc)
        return rc;
    if (len > w->max_record)
        return NOA_ETOOBIG;
    uint64_t queued = atomic_load(&w->queue_bytes);
    if (queued > 0 && queued + len > w->max_queue)
        return NOA_ELIMIT;
    return 0;
}

static void enqueue_record(struct noa_wal *w, struct wal_item *it)
{
    it->kind = ITEM_RECORD;
    atomic_fetch_add(&w->queue_bytes, it->len);
    atomic_fetch_add(&w->queue_records, 1);
    enqueue(w, it);
}

int noa_wal_append(struct noa_wal *w, const void *rec, size_t len,
                   void (*done_cb)(int status, uint32_t segment, void *ctx), void *ctx)
{
    int rc = check_record(w, len);
    if (rc)
        return rc;
    struct wal_item *it = noa_malloc(sizeof(*it) + len);
    if (!it)
        return NOA_ENOMEM;
    memset(it, 0, sizeof(*it));
    if (len)
        memcpy(it + 1, rec, len);
    it->data = (const unsigned char *)(it + 1);
    it->len = len;
    it->done_cb = done_cb;
    it->ctx = ctx;
    enqueue_record(w, it);
    return 0;
}

int noa_wal_append_buf(struct noa_wal *w, struct noa_buf *b,
                       void (*done_cb)(int status, uint32_t segment, void *ctx), void *ctx)
{
    int rc = check_record(w, b->len);
    if (rc)
        return rc;
    struct wal_item *it = noa_malloc(sizeof(*it));
    if (!it)
        return NOA_ENOMEM;
    memset(it, 0, sizeof(*it));
    it->owned = noa_buf_steal(b, &it->len);
    it->data = it->owned;
    it->done_cb = done_cb;
    it->ctx = ctx;
    enqueue_record(w, it);
    return 0;
}

void noa_wal_roll(struct noa_wal *w)
{
    if (check_accepting(w))
        return; /* nothing more will be written anyway */
    struct wal_item *it = noa_xcalloc(1, sizeof(*it));
    it->kind = ITEM_ROLL;
    enqueue(w, it);
}

int noa_wal_checkpoint_begin(struct noa_wal *w,
                             void (*cb)(int status, struct noa_wal_checkpoint *ck, uint32_t segment,
                                        void *ctx),
                             void *ctx)
{
    int rc = check_accepting(w);
    if (rc)
        return rc;
    if (atomic_exchange(&w->ck_open, 1))
        return NOA_EUNAVAIL;
    struct wal_item *it = noa_xcalloc(1, sizeof(*it));
    it->kind = ITEM_CHECKPOINT;
    it->ck_cb = cb;
    it->ctx = ctx;
    enqueue(w, it);
    return 0;
}

uint32_t noa_wal_segment_current(struct noa_wal *w)
{
    return atomic_load(&w->segment_cur);
}

void noa_wal_stats(struct noa_wal *w, struct noa_wal_stats *out)
{
    out->bytes_written = atomic_load(&w->bytes_written);
    out->records = atomic_load(&w->records);
    out->fsyncs = atomic_load(&w->fsyncs);
    out->fsync_ns_total = atomic_load(&w->fsync_ns_total);
    out->fsync_ns_max = atomic_load(&w->fsync_ns_max);
    out->write_errors = atomic_load(&w->write_errors);
    out->queue_bytes = atomic_load(&w->queue_bytes);
    out->queue_records = atomic_load(&w->queue_records);
    out->segment = atomic_load(&w->segment_cur);
    out->failed = atomic_load(&w->failed);
}

void noa_wal_close(struct noa_wal *w, void (*cb)(void *ctx), void *ctx)
{
    assert(!w->closing);
    w->closing = 1;
    w->close_cb = cb;
    w->close_ctx = ctx;
    if (!w->referenced) {
        uv_ref((uv_handle_t *)&w->async); /* keep the loop alive until closed */
        w->referenced = 1;
    }
    uv_mutex_lock(&w->mu);
    w->stopping = 1;
    uv_cond_signal(&w->cond);
    uv_mutex_unlock(&w->mu);
}

int noa_wal_open(struct uv_loop_s *loop, const struct noa_wal_options *opts, struct noa_wal **out,
                 struct noa_error *err)
{
    struct noa_wal *w = noa_xcalloc(1, sizeof(*w));
    struct listing l = {0};
    int rc = 0, sync_init = 0, async_init = 0;
    w->dirfd = w->fd = -1;
    w->loop = loop;
    w->opts = *opts;
    w->opts.dir = NULL;
    w->segment_size = opts->segment_size ? opts->segment_size : NOA_WAL_DEFAULT_SEGMENT_SIZE;
    w->max_record = opts->max_record ? opts->max_record : NOA_WAL_DEFAULT_MAX_RECORD;
    if (w->max_record > NOA_WAL_RECORD_MAX)
        w->max_record = NOA_WAL_RECORD_MAX;
    w->max_queue = opts->max_queue ? opts->max_queue : NOA_WAL_DEFAULT_MAX_QUEUE;
    w->no_sync = opts->no_sync;
    if (!opts->dir || !*opts->dir) {
        rc = noa_error_set(err, NOA_EINVAL, "wal: no directory configured");
        goto fail;
    }
    w->dir = noa_xstrdup(opts->dir);
    if ((rc = mkdir_p(w->dir)) != 0) {
        noa_error_set(err, rc, "wal: cannot create %s: %s", w->dir, noa_strerror(rc));
        goto fail;
    }
    w->dirfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->dirfd < 0) {
        rc = -errno;
        noa_error_set(err, rc, "wal: cannot open %s: %s", w->dir, noa_strerror(rc));
        goto fail;
    }
    if (flock(w->dirfd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? NOA_EUNAVAIL : -errno;
        noa_error_set(err, rc, "wal: %s is in use by another process", w->dir);
        goto fail;
    }
    if ((rc = list_dir(w->dirfd, &l)) != 0) {
        noa_error_set(err, rc, "wal: cannot list %s: %s", w->dir, noa_strerror(rc));
        goto fail;
    }
    w->seg_next = 1;
    if (l.nsegs && l.segs[l.nsegs - 1] >= w->seg_next)
        w->seg_next = l.segs[l.nsegs - 1] + 1;
    if (l.ncks && l.cks[l.ncks - 1] >= w->seg_next)
        w->seg_next = l.cks[l.ncks - 1] + 1;
    if (w->seg_next == 0) {
        rc = noa_error_set(err, NOA_EINVAL, "wal: segment numbers exhausted in %s", w->dir);
        goto fail;
    }
    floor_update(w);
    if (uv_mutex_init(&w->mu) || uv_cond_init(&w->cond)) {
        rc = noa_error_set(err, NOA_EINTERNAL, "wal: cannot create lock");
        goto fail;
    }
    sync_init = 1;
    if ((rc = uv_async_init(loop, &w->async, on_async)) != 0) {
        noa_error_set(err, NOA_EINTERNAL, "wal: uv_async_init: %s", uv_strerror(rc));
        goto fail;
    }
    async_init = 1;
    w->async.data = w;
    uv_unref((uv_handle_t *)&w->async);
    if ((rc = uv_thread_create(&w->thread, writer_main, w)) != 0) {
        noa_error_set(err, NOA_EINTERNAL, "wal: cannot start writer: %s", uv_strerror(rc));
        goto fail;
    }
    listing_fini(&l);
    *out = w;
    return 0;
fail:
    listing_fini(&l);
    if (async_init) {
        /* The handle is freed in its close callback, which finishes the job. */
        w->exited = 1;
        uv_close((uv_handle_t *)&w->async, on_closed);
        return rc;
    }
    if (sync_init) {
        uv_mutex_destroy(&w->mu);
        uv_cond_destroy(&w->cond);
    }
    if (w->dirfd >= 0)
        close(w->dirfd);
    noa_free(w->dir);
    noa_free(w);
    return rc;
}

/* ---- checkpoints and segment removal (blocking, caller's thread) -------- */

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t k = write(fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return k < 0 ? -errno : -EIO;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Writer thread: opens checkpoint.<num>.tmp, truncating a leftover one. */
static int ck_create(struct noa_wal *w, uint32_t num, struct noa_wal_checkpoint **out)
{
    char name[NAME_MAX_LEN];
    ck_name(name, num, 1);
    int fd = openat(w->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    struct noa_wal_checkpoint *ck = noa_xcalloc(1, sizeof(*ck));
    ck->w = w;
    ck->fd = fd;
    ck->num = num;
    noa_buf_append(&ck->buf, ck_header, sizeof(ck_header));
    *out = ck;
    return 0;
}

static int ck_flush(struct noa_wal_checkpoint *ck)
{
    int rc = write_all(ck->fd, ck->buf.data, ck->buf.len);
    noa_buf_reset(&ck->buf);
    return rc;
}

/* Appends one record; big payloads skip the buffer. */
static int ck_put(struct noa_wal_checkpoint *ck, int type, const void *rec, size_t len)
{
    unsigned char hdr[NOA_WAL_RECORD_HEADER];
    int rc = 0;
    record_header(hdr, type, rec, len);
    if (ck->buf.len + sizeof(hdr) + len > CK_BUFFER)
        rc = ck_flush(ck);
    if (!rc && sizeof(hdr) + len > CK_BUFFER) {
        rc = write_all(ck->fd, hdr, sizeof(hdr));
        if (!rc)
            rc = write_all(ck->fd, rec, len);
    } else if (!rc) {
        noa_buf_append(&ck->buf, hdr, sizeof(hdr));
        noa_buf_append(&ck->buf, rec, len);
    }
    if (rc)
        ck->err = rc;
    return rc;
}

int noa_wal_checkpoint_add(struct noa_wal_checkpoint *ck, const void *rec, size_t len)
{
    if (ck->err)
        return ck->err;
    if (len > NOA_WAL_RECORD_MAX)
        return NOA_ETOOBIG;
    int rc = ck_put(ck, NOA_WAL_REC_DATA, rec, len);
    if (!rc)
        ck->count++;
    return rc;
}

/* Deletes segments < seg_below and checkpoints < ck_below; fsyncs the
 * directory when something went. Returns the first error. */
static int remove_files(int dirfd, uint32_t seg_below, uint32_t ck_below)
{
    struct listing l;
    char name[NAME_MAX_LEN];
    int rc = list_dir(dirfd, &l), removed = 0;
    for (size_t i = 0; !rc && i < l.nsegs && l.segs[i] < seg_below; i++) {
        seg_name(name, l.segs[i]);
        if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT)
            rc = -errno;
        removed++;
    }
    for (size_t i = 0; !rc && i < l.ncks && l.cks[i] < ck_below; i++) {
        ck_name(name, l.cks[i], 0);
        if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT)
            rc = -errno;
        removed++;
    }
    if (removed) {
        int src = sync_dir(dirfd);
        rc = rc ? rc : src;
    }
    listing_fini(&l);
    return rc;
}

int noa_wal_checkpoint_commit(struct noa_wal_checkpoint *ck)
{
    char tmp[NAME_MAX_LEN], final[NAME_MAX_LEN];
    unsigned char end[8];
    int dirfd = ck->w->dirfd, renamed = 0;
    int rc = ck->err;
    for (int i = 0; i < 8; i++)
        end[i] = (unsigned char)(ck->count >> (8 * i));
    ck_name(tmp, ck->num, 1);
    ck_name(final, ck->num, 0);
    if (!rc)
        rc = ck_put(ck, NOA_WAL_REC_END, end, sizeof(end));
    if (!rc)
        rc = ck_flush(ck);
    if (!rc && fsync(ck->fd) != 0)
        rc = -errno;
    close(ck->fd);
    ck->fd = -1;
    if (!rc && renameat(dirfd, tmp, dirfd, final) != 0)
        rc = -errno;
    renamed = !rc;
    if (!rc)
        rc = sync_dir(dirfd);
    if (!renamed)
        unlinkat(dirfd, tmp, 0);
    if (!rc) {
        /* The checkpoint holds everything of segments <= num: they can go. */
        int drc = remove_files(dirfd, ck->num + 1, ck->num);
        if (drc)
            noa_log(NOA_LOG_WARN, "wal",
                    "msg=\"cannot remove files covered by checkpoint\" checkpoint=%u err=\"%s\"",
                    ck->num, noa_strerror(drc));
    }
    atomic_store(&ck->w->ck_open, 0);
    noa_buf_fini(&ck->buf);
    noa_free(ck);
    return rc;
}

void noa_wal_checkpoint_abort(struct noa_wal_checkpoint *ck)
{
    char tmp[NAME_MAX_LEN];
    if (!ck)
        return;
    ck_name(tmp, ck->num, 1);
    if (ck->fd >= 0)
        close(ck->fd);
    unlinkat(ck->w->dirfd, tmp, 0);
    atomic_store(&ck->w->ck_open, 0);
    noa_buf_fini(&ck->buf);
    noa_free(ck);
}

int noa_wal_remove_segments_before(struct noa_wal *w, uint32_t segment)
{
    uint32_t floor = atomic_load(&w->seg_floor);
    return remove_files(w->dirfd, segment < floor ? segment : floor, 0);
}

/* ---- replay (blocking, caller's thread) ------------------------------- */

/* A window over one file read with pread, so a record is one contiguous
 * slice and memory stays bounded by the largest record. */
struct reader {
    int fd;
    uint64_t size;
    unsigned char *buf;
    size_t cap;
    uint64_t off; /* file offset of buf[0] */
    size_t len;   /* valid bytes in buf */
};

/* Points *out at bytes [off, off + n) of the file; off + n <= size. */
static int rd_get(struct reader *r, uint64_t off, size_t n, const unsigned char **out)
{
    if (off >= r->off && off + n <= r->off + r->len) {
        *out = r->buf + (off - r->off);
        return 0;
    }
    size_t want = n > READ_CHUNK ? n : READ_CHUNK;
    if (want > r->size - off)
        want = (size_t)(r->size - off);
    r->len = 0;
    if (want > r->cap) {
        unsigned char *p = noa_realloc(r->buf, want);
        if (!p)
            return NOA_ENOMEM;
        r->buf = p;
        r->cap = want;
    }
    for (size_t got = 0; got < want;) {
        ssize_t k = pread(r->fd, r->buf + got, want - got, (off_t)(off + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return k < 0 ? -errno : -EIO; /* the file shrank under us */
        got += (size_t)k;
    }
    r->off = off;
    r->len = want;
    *out = r->buf;
    return 0;
}

/* 1 when bytes [from, size) are all zero, 0 when not, or an error. */
static int rd_all_zero(struct reader *r, uint64_t from)
{
    const unsigned char *p;
    while (from < r->size) {
        size_t n = r->size - from > READ_CHUNK ? READ_CHUNK : (size_t)(r->size - from);
        int rc = rd_get(r, from, n, &p);
        if (rc)
            return rc;
        for (size_t i = 0; i < n; i++)
            if (p[i])
                return 0;
        from += n;
    }
    return 1;
}

struct replay {
    int (*cb)(const void *rec, size_t len, int from_checkpoint, uint32_t segment, void *ctx);
    void *ctx;
    struct noa_wal_replay_stats *st;
    struct reader r;
    int dir_dirty; /* a file was truncated or removed */
};

/* Where a file stopped making sense. */
struct scan_problem {
    uint64_t off;
    const char *reason;
    int torn; /* what a write interrupted by a crash can leave */
};

static int problem(struct scan_problem *pb, uint64_t off, const char *reason, int torn)
{
    pb->off = off;
    pb->reason = reason;
    pb->torn = torn;
    return 0;
}

/* Delivers the records of one open file. Returns 0 (pb->reason set when
 * the file stops early), an I/O error, or the callback's non-zero return. */
static int scan_file(struct replay *rp, int is_ck, uint32_t num, struct scan_problem *pb)
{
    struct reader *r = &rp->r;
    const unsigned char *p;
    const unsigned char *want = is_ck ? ck_header : seg_header;
    uint64_t off = NOA_WAL_FILE_HEADER, count = 0;
    int rc;
    if (r->size == 0)
        return is_ck ? problem(pb, 0, "empty checkpoint", 0) : 0;
    if (r->size < NOA_WAL_FILE_HEADER)
        return problem(pb, 0, "truncated file header", 1);
    if ((rc = rd_get(r, 0, NOA_WAL_FILE_HEADER, &p)) != 0)
        return rc;
    if (memcmp(p, want, NOA_WAL_FILE_HEADER) != 0)
        return problem(pb, 0, "bad file header", 0);
    while (off < r->size) {
        uint64_t rem = r->size - off;
        if (rem < NOA_WAL_RECORD_HEADER)
            return problem(pb, off, "truncated record header", 1);
        if ((rc = rd_get(r, off, NOA_WAL_RECORD_HEADER, &p)) != 0)
            return rc;
        uint32_t crc = get_le32(p), len = get_le32(p + 4);
        int type = p[8];
        if (len > NOA_WAL_RECORD_MAX)
            return problem(pb, off, "impossible record length", 0);
        if (len > rem - NOA_WAL_RECORD_HEADER)
            return problem(pb, off, "record runs past the end of the file", 1);
        if ((rc = rd_get(r, off, NOA_WAL_RECORD_HEADER + (size_t)len, &p)) != 0)
            return rc;
        if (noa_crc32c(noa_crc32c(0, p + 4, 5), p + NOA_WAL_RECORD_HEADER, len) != crc) {
            rc = rd_all_zero(r, off + NOA_WAL_RECORD_HEADER + len);
            return rc < 0 ? rc : problem(pb, off, "checksum mismatch", rc);
        }
        p += NOA_WAL_RECORD_HEADER;
        if (type == NOA_WAL_REC_END && is_ck && len == 8) {
            uint64_t n = (uint64_t)get_le32(p) | ((uint64_t)get_le32(p + 4) << 32);
            off += NOA_WAL_RECORD_HEADER + len;
            if (n != count)
                return problem(pb, off - NOA_WAL_RECORD_HEADER - len, "bad end record count", 0);
            return off == r->size ? 0 : problem(pb, off, "data after the end record", 0);
        }
        if (type != NOA_WAL_REC_DATA)
            return problem(pb, off, "unknown record type", 0);
        if ((rc = rp->cb(p, len, is_ck, num, rp->ctx)) != 0)
            return rc;
        count++;
        rp->st->records++;
        rp->st->bytes += len;
        rp->st->checkpoint_records += (uint64_t)is_ck;
        off += NOA_WAL_RECORD_HEADER + len;
    }
    return is_ck ? problem(pb, off, "checkpoint has no end record", 0) : 0;
}

/* Cuts a torn tail off the last segment so it ends on a record boundary. */
static int truncate_tail(int dirfd, const char *name, uint64_t off)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC);
    int rc = fd < 0 ? -errno : 0;
    if (!rc && ftruncate(fd, (off_t)(off < NOA_WAL_FILE_HEADER ? 0 : off)) != 0)
        rc = -errno;
    if (!rc && fsync(fd) != 0)
        rc = -errno;
    if (fd >= 0)
        close(fd);
    return rc;
}

static int replay_file(struct noa_wal *w, struct replay *rp, uint32_t num, int is_ck, int is_last,
                       struct noa_error *err)
{
    char name[NAME_MAX_LEN];
    struct scan_problem pb = {0};
    struct stat sb;
    int rc = 0;
    if (is_ck)
        ck_name(name, num, 0);
    else
        seg_name(name, num);
    rp->r.fd = openat(w->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (rp->r.fd < 0 || fstat(rp->r.fd, &sb) != 0) {
        rc =
            noa_error_set(err, -errno, "wal: cannot read %s/%s: %s", w->dir, name, strerror(errno));
        goto out;
    }
    rp->r.size = (uint64_t)sb.st_size;
    rp->r.off = rp->r.len = 0;
    if ((rc = scan_file(rp, is_ck, num, &pb)) != 0) {
        if (rc < 0)
            noa_error_set(err, rc, "wal: reading %s/%s: %s", w->dir, name, noa_strerror(rc));
        goto out;
    }
    if (!pb.reason)
        goto out;
    int torn = is_last && !is_ck && pb.torn;
    if (is_last && !is_ck && !torn && (rc = rd_all_zero(&rp->r, pb.off)) > 0)
        torn = 1;
    if (rc < 0) {
        noa_error_set(err, rc, "wal: reading %s/%s: %s", w->dir, name, noa_strerror(rc));
        goto out;
    }
    rc = 0;
    if (torn) {
        rp->st->torn_tails++;
        noa_log(NOA_LOG_WARN, "wal",
                "msg=\"torn tail truncated (unacknowledged records of a crash)\" segment=%u "
                "offset=%llu dropped_bytes=%llu",
                num, (unsigned long long)pb.off, (unsigned long long)(rp->r.size - pb.off));
        int trc = truncate_tail(w->dirfd, name, pb.off);
        if (trc)
            noa_log(NOA_LOG_ERROR, "wal", "msg=\"cannot truncate torn tail\" segment=%u err=\"%s\"",
                    num, noa_strerror(trc));
        rp->dir_dirty = 1;
    } else {
        rp->st->corruptions++;
        noa_log(NOA_LOG_ERROR, "wal",
                "msg=\"corrupt WAL, skipping the rest of the file\" file=%s/%s offset=%llu "
                "reason=\"%s\"",
                w->dir, name, (unsigned long long)pb.off, pb.reason);
    }
out:
    if (rp->r.fd >= 0)
        close(rp->r.fd);
    rp->r.fd = -1;
    return rc;
}

/* Deletes a leftover file, noting that the directory changed. */
static void remove_leftover(struct noa_wal *w, struct replay *rp, const char *name, const char *why)
{
    if (unlinkat(w->dirfd, name, 0) != 0 && errno != ENOENT) {
        noa_log(NOA_LOG_WARN, "wal", "msg=\"cannot remove %s\" file=%s/%s err=\"%s\"", why, w->dir,
                name, strerror(errno));
        return;
    }
    noa_log(NOA_LOG_INFO, "wal", "msg=\"removed %s\" file=%s/%s", why, w->dir, name);
    rp->dir_dirty = 1;
}

static int replay_segments(struct noa_wal *w, struct replay *rp, const struct listing *l,
                           struct noa_error *err)
{
    struct noa_wal_replay_stats *st = rp->st;
    char name[NAME_MAX_LEN];
    uint32_t prev = 0;
    for (size_t i = 0; i < l->nsegs; i++) {
        uint32_t s = l->segs[i];
        if (st->has_checkpoint && s <= st->checkpoint) {
            seg_name(name, s);
            remove_leftover(w, rp, name, "segment covered by the checkpoint");
            continue;
        }
        if (prev && s != prev + 1)
            noa_log(NOA_LOG_WARN, "wal", "msg=\"segments missing\" after=%u next=%u", prev, s);
        int rc = replay_file(w, rp, s, 0, i + 1 == l->nsegs, err);
        if (rc)
            return rc;
        if (!st->segments++)
            st->first_segment = s;
        st->last_segment = s;
        prev = s;
    }
    return 0;
}

int noa_wal_replay(struct noa_wal *w,
                   int (*cb)(const void *rec, size_t len, int from_checkpoint, uint32_t segment,
                             void *ctx),
                   void *ctx, struct noa_wal_replay_stats *st, struct noa_error *err)
{
    struct noa_wal_replay_stats local;
    struct replay rp = {.cb = cb, .ctx = ctx, .st = st ? st : &local, .r = {.fd = -1}};
    struct listing l = {0};
    char name[NAME_MAX_LEN];
    int rc;
    memset(rp.st, 0, sizeof(*rp.st));
    if (w->used || w->replayed)
        return noa_error_set(err, NOA_EINVAL, "wal: replay runs once, before any append");
    w->replayed = 1;
    if ((rc = list_dir(w->dirfd, &l)) != 0) {
        noa_error_set(err, rc, "wal: cannot list %s: %s", w->dir, noa_strerror(rc));
        goto out;
    }
    for (size_t i = 0; i < l.ntmps; i++) {
        ck_name(name, l.tmps[i], 1);
        remove_leftover(w, &rp, name, "unfinished checkpoint");
    }
    if (l.ncks) {
        rp.st->has_checkpoint = 1;
        rp.st->checkpoint = l.cks[l.ncks - 1];
        for (size_t i = 0; i + 1 < l.ncks; i++) {
            ck_name(name, l.cks[i], 0);
            remove_leftover(w, &rp, name, "older checkpoint");
        }
        if ((rc = replay_file(w, &rp, rp.st->checkpoint, 1, 0, err)) != 0)
            goto out;
    }
    rc = replay_segments(w, &rp, &l, err);
out:
    if (rp.dir_dirty && sync_dir(w->dirfd) != 0)
        noa_log(NOA_LOG_WARN, "wal", "msg=\"cannot fsync directory\" dir=%s err=\"%s\"", w->dir,
                strerror(errno));
    noa_free(rp.r.buf);
    listing_fini(&l);
    return rc;
}
