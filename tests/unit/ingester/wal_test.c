/*
 * Unit tests for ingester/wal: append/replay round trips, group commit,
 * rolling and removal, torn tails at every byte of the last record,
 * corruption in the middle, checkpoints, injected write and fsync failures,
 * close with pending appends and the append limits. Real files in a
 * mkdtemp directory and a real uv loop; callbacks on the test thread.
 */
#include "ingester/wal.h"

#include "common/log.h"
#include "common/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#define MAXR 4096

struct fixture {
    char root[128];
    char dir[160];
    uv_loop_t loop;
};

/* ---- helpers ------------------------------------------------------------ */

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/noa-wal-test-XXXXXX");
    if (!mkdtemp(f->root))
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/data/wal", f->root);
    uv_loop_init(&f->loop);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    nftw(f->root, rm_cb, 16, FTW_DEPTH | FTW_PHYS); /* first, even after a failure */
    int rc = uv_loop_close(&f->loop);
    free(f);
    assert_int_equal(rc, 0);
    return 0;
}

/* Record i: its id in the first 4 bytes, then a pattern depending on i. */
static void rec_fill(struct noa_buf *b, int id, size_t len)
{
    noa_buf_reset(b);
    noa_buf_reserve(b, len);
    for (size_t k = 0; k < len; k++)
        b->data[k] = (char)((unsigned)id * 31u + (unsigned)k * 7u);
    if (len >= 4)
        memcpy(b->data, &id, 4);
    b->len = len;
}

static size_t rec_len(int id)
{
    static const size_t lens[] = {4, 5, 17, 100, 4096, 70000, 9, 300};
    return lens[(unsigned)id % 8];
}

static struct {
    int n;
    int ids[MAXR];
    int status[MAXR];
    uint32_t seg[MAXR];
} done;

static void on_done(int status, uint32_t segment, void *ctx)
{
    assert_true(done.n < MAXR);
    done.ids[done.n] = (int)(intptr_t)ctx;
    done.status[done.n] = status;
    done.seg[done.n] = segment;
    done.n++;
}

static void append_len(struct noa_wal *w, int id, size_t len)
{
    struct noa_buf b = {0};
    rec_fill(&b, id, len);
    assert_int_equal(noa_wal_append(w, b.data, b.len, on_done, (void *)(intptr_t)id), 0);
    noa_buf_fini(&b);
}

static void append_ids(struct noa_wal *w, int from, int to)
{
    for (int id = from; id < to; id++)
        append_len(w, id, rec_len(id));
}

struct got {
    int n;
    int ids[MAXR];
    int ck[MAXR];
    uint32_t seg[MAXR];
    int stop_at; /* return -42 at this record when > 0 */
};

static int on_rec(const void *rec, size_t len, int from_checkpoint, uint32_t segment, void *ctx)
{
    struct got *g = ctx;
    struct noa_buf b = {0};
    int id = -1;
    if (g->stop_at && g->n == g->stop_at)
        return -42;
    if (len >= 4) {
        memcpy(&id, rec, 4);
        rec_fill(&b, id, len);
        assert_memory_equal(b.data, rec, len);
        noa_buf_fini(&b);
    }
    assert_true(g->n < MAXR);
    g->ids[g->n] = id;
    g->ck[g->n] = from_checkpoint;
    g->seg[g->n] = segment;
    g->n++;
    return 0;
}

static struct noa_wal *wal_open_opts(struct fixture *f, struct noa_wal_options *o)
{
    struct noa_wal *w = NULL;
    struct noa_error err = {0};
    o->dir = f->dir;
    int rc = noa_wal_open(&f->loop, o, &w, &err);
    if (rc)
        fprintf(stderr, "open: %s\n", err.msg);
    assert_int_equal(rc, 0);
    return w;
}

static struct noa_wal *wal_open(struct fixture *f)
{
    struct noa_wal_options o = {0};
    return wal_open_opts(f, &o);
}

static void on_wal_closed(void *ctx)
{
    (*(int *)ctx)++;
}

static void wal_close(struct fixture *f, struct noa_wal *w)
{
    int closed = 0;
    noa_wal_close(w, on_wal_closed, &closed);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(closed, 1);
}

static void replay(struct noa_wal *w, struct got *g, struct noa_wal_replay_stats *st)
{
    struct noa_error err = {0};
    memset(g, 0, sizeof(*g));
    assert_int_equal(noa_wal_replay(w, on_rec, g, st, &err), 0);
}

/* Opens, replays everything into g and closes. */
static void replay_dir(struct fixture *f, struct got *g, struct noa_wal_replay_stats *st)
{
    struct noa_wal *w = wal_open(f);
    replay(w, g, st);
    wal_close(f, w);
}

static void path_of(struct fixture *f, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", f->dir, name);
}

static int file_exists(struct fixture *f, const char *name)
{
    char p[256];
    struct stat sb;
    path_of(f, name, p, sizeof(p));
    return stat(p, &sb) == 0;
}

static long file_size(struct fixture *f, const char *name)
{
    char p[256];
    struct stat sb;
    path_of(f, name, p, sizeof(p));
    assert_int_equal(stat(p, &sb), 0);
    return (long)sb.st_size;
}

static unsigned char *read_whole(struct fixture *f, const char *name, size_t *n)
{
    char p[256];
    path_of(f, name, p, sizeof(p));
    FILE *fp = fopen(p, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    *n = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc(*n + 1);
    assert_int_equal(fread(buf, 1, *n, fp), *n);
    fclose(fp);
    return buf;
}

static void write_whole(struct fixture *f, const char *name, const void *p, size_t n)
{
    char path[256];
    path_of(f, name, path, sizeof(path));
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(p, 1, n, fp), n);
    fclose(fp);
}

static void flip_byte(struct fixture *f, const char *name, long off)
{
    size_t n;
    unsigned char *b = read_whole(f, name, &n);
    assert_true((size_t)off < n);
    b[off] ^= 0x40;
    write_whole(f, name, b, n);
    free(b);
}

/* Offset of the i-th record of a segment whose records have these lengths. */
static long record_offset(const size_t *lens, int i)
{
    long off = NOA_WAL_FILE_HEADER;
    for (int k = 0; k < i; k++)
        off += NOA_WAL_RECORD_HEADER + (long)lens[k];
    return off;
}

/* Log capture: lines go to a temp file while a test looks for them. */
static int log_fd = -1;
static char log_path[192];

static void log_capture(struct fixture *f)
{
    snprintf(log_path, sizeof(log_path), "%s/log.txt", f->root);
    log_fd = open(log_path, O_CREAT | O_TRUNC | O_RDWR, 0644);
    assert_true(log_fd >= 0);
    noa_log_set_fd(log_fd);
}

static char *log_release(void)
{
    noa_log_set_fd(2);
    off_t n = lseek(log_fd, 0, SEEK_END);
    char *s = calloc(1, (size_t)n + 1);
    assert_int_equal(pread(log_fd, s, (size_t)n, 0), n);
    close(log_fd);
    log_fd = -1;
    return s;
}

/* Fault injection: the next fail[op] calls, or call number fail_at[op]
 * (0-based, when >= 0), fail with code[op]; optionally hold the first sync
 * until the test posts the semaphore. */
static struct {
    atomic_int fail[4];
    int fail_at[4];
    int code[4];
    atomic_int calls[4];
    int hold_first_sync;
    uv_sem_t sem;     /* posted by the test to release the held sync */
    uv_sem_t holding; /* posted by the writer once it holds */
} faults;

static int fault_cb(enum noa_wal_op op, void *ctx)
{
    (void)ctx;
    int n = atomic_fetch_add(&faults.calls[op], 1);
    if (op == NOA_WAL_OP_SYNC && n == 0 && faults.hold_first_sync) {
        uv_sem_post(&faults.holding);
        uv_sem_wait(&faults.sem);
    }
    if (n == faults.fail_at[op])
        return faults.code[op];
    if (atomic_load(&faults.fail[op]) > 0) {
        atomic_fetch_sub(&faults.fail[op], 1);
        return faults.code[op];
    }
    return 0;
}

static void faults_reset(void)
{
    for (int i = 0; i < 4; i++) {
        atomic_store(&faults.fail[i], 0);
        atomic_store(&faults.calls[i], 0);
        faults.code[i] = 0;
        faults.fail_at[i] = -1;
    }
    faults.hold_first_sync = 0;
}

static struct noa_wal *wal_open_faulty(struct fixture *f)
{
    struct noa_wal_options o = {.fault_cb = fault_cb};
    return wal_open_opts(f, &o);
}

/* ---- tests -------------------------------------------------------------- */

static void test_roundtrip(void **state)
{
    struct fixture *f = *state;
    static struct got g;
    struct noa_wal_replay_stats st;
    struct noa_wal_stats ws;
    memset(&done, 0, sizeof(done));

    struct noa_wal *w = wal_open(f);
    replay(w, &g, &st);
    assert_int_equal(st.records, 0);
    assert_int_equal(st.segments, 0);
    assert_int_equal(noa_wal_segment_current(w), 0);
    append_ids(w, 0, 16);
    assert_int_equal(noa_wal_append(w, "", 0, on_done, (void *)(intptr_t)-1), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT); /* returns once nothing is pending */
    assert_int_equal(done.n, 17);
    for (int i = 0; i < 16; i++) {
        assert_int_equal(done.ids[i], i);
        assert_int_equal(done.status[i], 0);
        assert_int_equal(done.seg[i], 1);
    }
    noa_wal_stats(w, &ws);
    assert_int_equal(ws.records, 17);
    assert_int_equal(ws.queue_records, 0);
    assert_int_equal(ws.queue_bytes, 0);
    assert_true(ws.fsyncs >= 1 && ws.fsyncs <= 17);
    assert_int_equal(ws.segment, 1);
    assert_int_equal((long)ws.bytes_written, file_size(f, "00000001"));
    wal_close(f, w);

    w = wal_open(f);
    replay(w, &g, &st);
    assert_int_equal(g.n, 17);
    for (int i = 0; i < 16; i++) {
        assert_int_equal(g.ids[i], i);
        assert_int_equal(g.ck[i], 0);
        assert_int_equal(g.seg[i], 1);
    }
    assert_int_equal(g.ids[16], -1);
    assert_int_equal(st.records, 17);
    assert_int_equal(st.segments, 1);
    assert_int_equal(st.first_segment, 1);
    assert_int_equal(st.torn_tails, 0);
    assert_int_equal(st.corruptions, 0);
    assert_int_equal(st.has_checkpoint, 0);
    /* A second replay on the same handle is refused. */
    assert_int_equal(noa_wal_replay(w, on_rec, &g, NULL, NULL), NOA_EINVAL);
    /* After replay, appends go to a new segment. */
    memset(&done, 0, sizeof(done));
    append_ids(w, 100, 101);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(done.seg[0], 2);
    wal_close(f, w);
    replay_dir(f, &g, &st);
    assert_int_equal(g.n, 18);
    assert_int_equal(g.ids[17], 100);
    assert_int_equal(g.seg[17], 2);
    assert_int_equal(st.segments, 2);
}

static void test_group_commit(void **state)
{
    struct fixture *f = *state;
    static struct got g;
    struct noa_wal_stats ws;
    memset(&done, 0, sizeof(done));
    faults_reset();
    faults.hold_first_sync = 1;
    uv_sem_init(&faults.sem, 0);
    uv_sem_init(&faults.holding, 0);

    struct noa_wal *w = wal_open_faulty(f);
    /* The writer takes the first record(s) and holds in the first sync
     * while everything else queues up behind it: two groups at most. */
    append_ids(w, 0, 200);
    noa_wal_stats(w, &ws);
    assert_int_equal(ws.queue_records, 200);
    assert_true(ws.queue_bytes > 0);
    uv_sem_post(&faults.sem);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(done.n, 200);
    for (int i = 0; i < 200; i++) {
        assert_int_equal(done.ids[i], i);
        assert_int_equal(done.status[i], 0);
    }
    noa_wal_stats(w, &ws);
    assert_int_equal(ws.records, 200);
    assert_true(ws.fsyncs >= 1 && ws.fsyncs <= 2);
    assert_true(ws.fsyncs < ws.records);
    assert_int_equal(ws.queue_records, 0);
    wal_close(f, w);
    uv_sem_destroy(&faults.sem);
    uv_sem_destroy(&faults.holding);
    faults_reset();
    replay_dir(f, &g, NULL);
    assert_int_equal(g.n, 200);
}

static void test_roll_and_remove(void **state)
{
    struct fixture *f = *state;
    static struct got g;
    struct noa_wal_replay_stats st;
    char name[32];
    memset(&done, 0, sizeof(done));
    struct noa_wal_options o = {.segment_size = 4096};
    struct noa_wal *w = wal_open_opts(f, &o);
    replay(w, &g, NULL);

    /* 4 records of 1009 bytes fit after the 8-byte header: 5 segments. */
    for (int i = 0; i < 20; i++)
        append_len(w, i, 1000);
    append_len(w, 20, 10000); /* bigger than a segment: one of its own */
    append_len(w, 21, 1000);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(done.n, 22);
    for (int i = 0; i < 20; i++)
        assert_int_equal(done.seg[i], 1 + i / 4);
    assert_int_equal(done.seg[20], 6);
    assert_int_equal(done.seg[21], 7);
    for (unsigned s = 1; s <= 5; s++) {
        snprintf(name, sizeof(name), "%08u", s);
        assert_int_equal(file_size(f, name), 8 + 4 * 1009);
    }
    assert_int_equal(noa_wal_segment_current(w), 7);

    noa_wal_roll(w);
    append_len(w, 22, 50);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(done.seg[22], 8);
    assert_int_equal(noa_wal_segment_current(w), 8);

    assert_int_equal(noa_wal_remove_segments_before(w, 3), 0);
    assert_false(file_exists(f, "00000001"));
    assert_false(file_exists(f, "00000002"));
    assert_true(file_exists(f, "00000003"));
    /* Never the open segment, whatever the caller asks. */
    assert_int_equal(noa_wal_remove_segments_before(w, 1000), 0);
    assert_false(file_exists(f, "00000007"));
    assert_true(file_exists(f, "00000008"));
    wal_close(f, w);

    replay_dir(f, &g, &st);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.ids[0], 22);
    assert_int_equal(st.segments, 1);
    assert_int_equal(st.first_segment, 8);
    assert_int_equal(st.last_segment, 8);
}

/* Writes ids 0..4 (the last one 300 bytes) and returns segment 1's bytes. */
static unsigned char *five_records(struct fixture *f, size_t *n, size_t *last_start)
{
    static const size_t lens[] = {10, 2000, 5, 77, 300};
    struct noa_wal *w = wal_open(f);
    for (int i = 0; i < 5; i++)
        append_len(w, i, lens[i]);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    wal_close(f, w);
    unsigned char *b = read_whole(f, "00000001", n);
    *last_start = (size_t)record_offset(lens, 4);
    assert_int_equal(*n, *last_start + NOA_WAL_RECORD_HEADER + 300);
    return b;
}

/* Replays a directory holding only segment 1 = bytes, expects `records`
 * records and `torn` torn tails, then checks an append lands after them. */
static void check_torn(struct fixture *f, const unsigned char *bytes, size_t n, int records,
                       int torn, size_t good_end)
{
    static struct got g;
    struct noa_wal_replay_stats st;
    char p[256];
    path_of(f, "00000002", p, sizeof(p)); /* the directory holds segment 1 only */
    unlink(p);
    write_whole(f, "00000001", bytes, n);

    struct noa_wal *w = wal_open(f);
    replay(w, &g, &st);
    assert_int_equal(g.n, records);
    for (int i = 0; i < records; i++)
        assert_int_equal(g.ids[i], i);
    assert_int_equal(st.torn_tails, torn);
    assert_int_equal(st.corruptions, 0);
    assert_int_equal(file_size(f, "00000001"), (long)good_end);
    memset(&done, 0, sizeof(done));
    append_len(w, 100, 33);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(done.status[0], 0);
    assert_int_equal(done.seg[0], 2);
    wal_close(f, w);

    replay_dir(f, &g, &st);
    assert_int_equal(g.n, records + 1);
    assert_int_equal(g.ids[records], 100);
    assert_int_equal(st.torn_tails, 0);
    assert_int_equal(st.corruptions, 0);
}

static void test_torn_tail_every_offset(void **state)
{
    struct fixture *f = *state;
    size_t n, start;
    noa_log_set_level(NOA_LOG_ERROR); /* one warning per case is expected */
    unsigned char *b = five_records(f, &n, &start);
    check_torn(f, b, start, 4, 0, start); /* cut on the record boundary: clean */
    for (size_t cut = start + 1; cut < n; cut++)
        check_torn(f, b, cut, 4, 1, start);
    free(b);
    noa_log_set_level(NOA_LOG_INFO);
}

static void test_torn_tail_zeros(void **state)
{
    struct fixture *f = *state;
    size_t n, start;
    noa_log_set_level(NOA_LOG_ERROR);
    unsigned char *b = five_records(f, &n, &start);
    unsigned char *z = malloc(n + 8192);
    /* A crash can leave the file extended but its last pages unwritten. */
    const size_t from[] = {start, start + 3, start + 9, start + 150, n - 1};
    for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++) {
        memcpy(z, b, n);
        memset(z + from[i], 0, n - from[i]);
        check_torn(f, z, n, 4, 1, start);
    }
    /* Zeros after a complete last record. */
    memcpy(z, b, n);
    memset(z + n, 0, 8192);
    check_torn(f, z, n + 8192, 5, 1, n);
    /* Only part of the file header made it. */
    for (size_t k = 1; k < NOA_WAL_FILE_HEADER; k++)
        check_torn(f, b, k, 0, 1, 0);
    /* An empty last segment is simply empty. */
    check_torn(f, b, 0, 0, 0, 0);
    free(z);
    free(b);
    noa_log_set_level(NOA_LOG_INFO);
}

/* Segments 1 (ids 0..5), 2 (6..8) and 3 (9..11). */
static void three_segments(struct fixture *f, size_t lens1[6])
{
    struct noa_wal *w = wal_open(f);
    for (int i = 0; i < 6; i++)
        lens1[i] = rec_len(i);
    append_ids(w, 0, 6);
    noa_wal_roll(w);
    append_ids(w, 6, 9);
    noa_wal_roll(w);
    append_ids(w, 9, 12);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    wal_close(f, w);
}

static void test_corruption_middle(void **state)
{
    struct fixture *f = *state;
    static struct got g;
    struct noa_wal_replay_stats st;
    size_t lens[6];
    char want[256];
    three_segments(f, lens);
    long off = record_offset(lens, 2);
    flip_byte(f, "00000001", off + NOA_WAL_RECORD_HEADER + 2);

    log_capture(f);
    replay_dir(f, &g, &st);
    char *log = log_release();
    const int expect[] = {0, 1, 6, 7, 8, 9, 10, 11};
    assert_int_equal(g.n, 8);
    for (int i = 0; i < 8; i++)
        assert_int_equal(g.ids[i], expect[i]);
    assert_int_equal(st.corruptions, 1);
    assert_int_equal(st.torn_tails, 0);
    assert_int_equal(st.segments, 3);
    snprintf(want, sizeof(want), "file=%s/00000001 offset=%ld", f->dir, off);
    assert_non_null(strstr(log, want));
    assert_non_null(strstr(log, "checksum mismatch"));
    free(log);
    /* Corruption is not truncated away: the next replay sees it again. */
    noa_log_set_level(NOA_LOG_ERROR + 1);
    replay_dir(f, &g, &st);
    noa_log_set_level(NOA_LOG_INFO);
    assert_int_equal(g.n, 8);
    assert_int_equal(st.corruptions, 1);
}

static void test_corruption_length_and_last_segment(void **state)
{
    struct fixture *f = *state;
    static struct got g;
    struct noa_wal_replay_stats st;
    size_t lens[6];
    noa_log_set_level(NOA_LOG_ERROR + 1);
    three_segments(f, lens);
    /* A flipped length is caught by the CRC (it covers the length). */
    flip_byte(f, "00000002", NOA_WAL_FILE_HEADER + 4);
    /* In the middle of the last segment, with intact records after it, a
     * bad record is corruption, not a torn tail. */
    flip_byte(f, "00000003", NOA_WAL_FILE_HEADER + NOA_WAL_RECORD_HEADER + 1);
    long size3 = file_size(f, "00000003");
    replay_dir(f, &g, &st);
    assert_int_equal(g.n, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(g.ids[i], i);
    assert_int_equal(st.corruptions, 2);
    assert_int_equal(st.torn_tails, 0);
    assert_int_equal(file_size(f, "00000003"), size3);
    /* A bad file header in the middle. */
    flip_byte(f, "00000002", 0);
    replay_dir(f, &g, &st);
    assert_int_equal(g.n, 6);
    assert_int_equal(st.corruptions, 2);
    /* A cut record is a torn tail only in the last segment: elsewhere it is
     * corruption, and the file is left as found. */
    char p[256];
    long size1 = file_size(f, "00000001");
    path_of(f, "00000001", p, sizeof(p));
    assert_int_equal(truncate(p, size1 - 3), 0);
    replay_dir(f, &g, &st);
    assert_int_equal(g.n, 5);
    assert_int_equal(st.corruptions, 3);
    assert_int_equal(st.torn_tails, 0);
    assert_int_equal(file_size(f, "00000001"), size1 - 3);
    noa_log_set_level(NOA_LOG_INFO);
}

static struct {
    int calls;
    int status;
    uint32_t segment;
    int done_at_cb;
    struct noa_wal_checkpoint *ck;
} ckr;

static void on_ck(int status, struct noa_wal_checkpoint *ck, uint32_t segment, void *ctx)
{
    (void)ctx;
    ckr.calls++;
    ckr.status = status;
    ckr.segment = segment;
    ckr.ck = ck;
    ckr.done_at_cb = done.n;
}

static void add_ck_records(struct noa_wal_checkpoint *ck, int from, int to)
{
    struct noa_buf b = {0};
    for (int id = from; id < to; id++) {
        rec_fill(&b, id, id == from ? (2u << 20) : rec_len(id)); /* one above the buffer */
        assert_int_equal(noa_wal_checkpoint_add(ck, b.data, b.len), 0);
    }
    noa_buf_fini(&b);
}

static void test_checkpoint(void **state)
{
    struct fixture *f = *state;
    static struct got g;
    struct noa_wal_replay_stats st;
    memset(&done, 0, sizeof(done));
    memset(&ckr, 0, sizeof(ckr));

    struct noa_wal *w = wal_open(f);
    replay(w, &g, NULL);
    append_ids(w, 0, 5);
    assert_int_equal(noa_wal_checkpoint_begin(w, on_ck, NULL), 0);
    assert_int_equal(noa_wal_checkpoint_begin(w, on_ck, NULL), NOA_EUNAVAIL);
    append_ids(w, 5, 8);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(ckr.calls, 1);
    assert_int_equal(ckr.status, 0);
    assert_non_null(ckr.ck);
    assert_int_equal(ckr.segment, 2);
    /* Every record before the roll completed before the writer was handed
     * over; none after it. */
    assert_int_equal(ckr.done_at_cb, 5);
    assert_int_equal(done.n, 8);
    for (int i = 0; i < 8; i++)
        assert_int_equal(done.seg[i], i < 5 ? 1 : 2);
    assert_true(file_exists(f, "checkpoint.00000001.tmp"));

    add_ck_records(ckr.ck, 100, 104);
    assert_int_equal(noa_wal_checkpoint_commit(ckr.ck), 0);
    assert_false(file_exists(f, "checkpoint.00000001.tmp"));
    assert_true(file_exists(f, "checkpoint.00000001"));
    assert_false(file_exists(f, "00000001"));
    assert_true(file_exists(f, "00000002"));
    wal_close(f, w);

    w = wal_open(f);
    replay(w, &g, &st);
    const int expect[] = {100, 101, 102, 103, 5, 6, 7};
    assert_int_equal(g.n, 7);
    for (int i = 0; i < 7; i++) {
        assert_int_equal(g.ids[i], expect[i]);
        assert_int_equal(g.ck[i], i < 4);
        assert_int_equal(g.seg[i], i < 4 ? 1 : 2);
    }
    assert_int_equal(st.has_checkpoint, 1);
    assert_int_equal(st.checkpoint, 1);
    assert_int_equal(st.checkpoint_records, 4);
    assert_int_equal(st.records, 7);
    assert_int_equal(st.corruptions, 0);

    /* An aborted checkpoint leaves nothing behind and frees the slot. */
    memset(&ckr, 0, sizeof(ckr));
    assert_int_equal(noa_wal_checkpoint_begin(w, on_ck, NULL), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(ckr.segment, 3);
    add_ck_records(ckr.ck, 200, 202);
    noa_wal_checkpoint_abort(ckr.ck);
    assert_false(file_exists(f, "checkpoint.00000002.tmp"));
    assert_true(file_exists(f, "checkpoint.00000001"));
    memset(&ckr, 0, sizeof(ckr));
    assert_int_equal(noa_wal_checkpoint_begin(w, on_ck, NULL), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(ckr.status, 0);
    assert_int_equal(noa_wal_checkpoint_commit(ckr.ck), 0);
    /* Nothing was written since: the new, empty checkpoint covers it all. */
    assert_true(file_exists(f, "checkpoint.00000002"));
    assert_false(file_exists(f, "checkpoint.00000001"));
    assert_false(file_exists(f, "00000002"));
    wal_close(f, w);
    replay_dir(f, &g, &st);
    assert_int_equal(g.n, 0);
    assert_int_equal(st.checkpoint, 2);
    assert_int_equal(st.corruptions, 0);
}

static void test_checkpoint_leftovers(void **state)
{
    struct fixture *f = *state;
    static struct got g;
    struct noa_wal_replay_stats st;
    memset(&done, 0, sizeof(done));
    memset(&ckr, 0, sizeof(ckr));
    noa_log_set_level(NOA_LOG_ERROR + 1);

    struct noa_wal *w = wal_open(f);
    append_ids(w, 0, 3);
    assert_int_equal(noa_wal_checkpoint_begin(w, on_ck, NULL), 0);
    append_ids(w, 3, 5);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    add_ck_records(ckr.ck, 50, 52);
    assert_int_equal(noa_wal_checkpoint_commit(ckr.ck), 0);
    wal_close(f, w);

    /* A crash mid-checkpoint, an older checkpoint that was not deleted and
     * a covered segment that survived: all ignored and removed. */
    write_whole(f, "checkpoint.00000007.tmp", "garbage", 7);
    write_whole(f, "checkpoint.00000000", "old", 3);
    write_whole(f, "00000001", "NWAL\1\0\0\0", 8);
    write_whole(f, "unrelated.txt", "x", 1);
    replay_dir(f, &g, &st);
    const int expect[] = {50, 51, 3, 4};
    assert_int_equal(g.n, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(g.ids[i], expect[i]);
    assert_int_equal(st.corruptions, 0);
    assert_false(file_exists(f, "checkpoint.00000007.tmp"));
    assert_false(file_exists(f, "checkpoint.00000000"));
    assert_false(file_exists(f, "00000001"));
    assert_true(file_exists(f, "unrelated.txt"));

    /* A checkpoint that lost its end record is corruption: the records
     * before the damage are kept. */
    size_t n;
    unsigned char *orig = read_whole(f, "checkpoint.00000001", &n);
    char p[256];
    path_of(f, "checkpoint.00000001", p, sizeof(p));
    assert_int_equal(truncate(p, (off_t)n - NOA_WAL_RECORD_HEADER - 8), 0);
    replay_dir(f, &g, &st);
    assert_int_equal(g.n, 4);
    assert_int_equal(st.corruptions, 1);
    assert_int_equal(st.torn_tails, 0);
    /* Bytes after the end record are corruption too (all records kept). */
    memcpy(orig + n, "x", 1);
    write_whole(f, "checkpoint.00000001", orig, n + 1);
    replay_dir(f, &g, &st);
    assert_int_equal(g.n, 4);
    assert_int_equal(st.corruptions, 1);
    write_whole(f, "checkpoint.00000001", orig, n);
    replay_dir(f, &g, &st);
    assert_int_equal(g.n, 4);
    assert_int_equal(st.corruptions, 0);
    free(orig);
    noa_log_set_level(NOA_LOG_INFO);
}

static void test_checkpoint_commit_failure(void **state)
{
    struct fixture *f = *state;
    static struct got g;
    struct noa_wal_replay_stats st;
    char p[256];
    memset(&done, 0, sizeof(done));
    memset(&ckr, 0, sizeof(ckr));
    struct noa_wal *w = wal_open(f);
    append_ids(w, 0, 3);
    assert_int_equal(noa_wal_checkpoint_begin(w, on_ck, NULL), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    add_ck_records(ckr.ck, 60, 62);
    /* A non-empty directory in the way makes the rename fail. */
    path_of(f, "checkpoint.00000001", p, sizeof(p));
    assert_int_equal(mkdir(p, 0755), 0);
    write_whole(f, "checkpoint.00000001/x", "x", 1);
    assert_true(noa_wal_checkpoint_commit(ckr.ck) < 0);
    assert_false(file_exists(f, "checkpoint.00000001.tmp"));
    assert_true(file_exists(f, "00000001"));
    /* The slot is free again. */
    memset(&ckr, 0, sizeof(ckr));
    assert_int_equal(noa_wal_checkpoint_begin(w, on_ck, NULL), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(ckr.status, 0);
    noa_wal_checkpoint_abort(ckr.ck);
    wal_close(f, w);
    path_of(f, "checkpoint.00000001/x", p, sizeof(p));
    unlink(p);
    path_of(f, "checkpoint.00000001", p, sizeof(p));
    rmdir(p);
    replay_dir(f, &g, &st);
    assert_int_equal(g.n, 3);
    assert_int_equal(st.has_checkpoint, 0);
}

static void test_write_error(void **state)
{
    struct fixture *f = *state;
    static struct got g;
    struct noa_wal_replay_stats st;
    struct noa_wal_stats ws;
    memset(&done, 0, sizeof(done));
    faults_reset();

    struct noa_wal *w = wal_open_faulty(f);
    append_ids(w, 0, 3);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    /* The writer may split 3..5 into several groups: fail them all. The
     * bytes reach the file each time; the WAL must cut them off again. */
    faults.code[NOA_WAL_OP_WRITE] = -ENOSPC;
    atomic_store(&faults.fail[NOA_WAL_OP_WRITE], 1000);
    append_ids(w, 3, 6);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    atomic_store(&faults.fail[NOA_WAL_OP_WRITE], 0);
    for (int i = 3; i < 6; i++)
        assert_int_equal(done.status[i], -ENOSPC);
    /* A full disk is not sticky: later appends succeed, in the same
     * segment, right after the last good record. */
    append_ids(w, 6, 8);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(done.n, 8);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(done.status[i], i >= 3 && i < 6 ? -ENOSPC : 0);
        if (!done.status[i])
            assert_int_equal(done.seg[i], 1);
    }
    /* A failed segment creation fails its group only. */
    noa_wal_roll(w);
    faults.code[NOA_WAL_OP_CREATE] = -EMFILE;
    atomic_store(&faults.fail[NOA_WAL_OP_CREATE], 1);
    append_ids(w, 8, 9);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(done.status[8], -EMFILE);
    append_ids(w, 9, 10);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(done.status[9], 0);
    assert_int_equal(done.seg[9], 2);
    noa_wal_stats(w, &ws);
    assert_true(ws.write_errors >= 2 && ws.write_errors <= 4);
    assert_int_equal(ws.failed, 0);
    assert_int_equal(ws.records, 6);
    wal_close(f, w);
    faults_reset();

    replay_dir(f, &g, &st);
    const int expect[] = {0, 1, 2, 6, 7, 9};
    assert_int_equal(g.n, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(g.ids[i], expect[i]);
    assert_int_equal(st.corruptions, 0);
    assert_int_equal(st.torn_tails, 0);
}

static void test_error_after_midgroup_roll(void **state)
{
    struct fixture *f = *state;
    static struct got g;
    struct noa_wal_replay_stats st;
    memset(&done, 0, sizeof(done));
    faults_reset();
    faults.hold_first_sync = 1;
    uv_sem_init(&faults.sem, 0);
    uv_sem_init(&faults.holding, 0);
    struct noa_wal_options o = {.segment_size = 4096, .fault_cb = fault_cb};
    struct noa_wal *w = wal_open_opts(f, &o);
    /* Group 1 is record 0 (held in its sync); group 2 is 1..6: 1..3 fill
     * segment 1, which is synced before the roll, and the write of 4..6 in
     * segment 2 (the third write) fails. Only 4..6 may fail. */
    faults.code[NOA_WAL_OP_WRITE] = -EIO;
    faults.fail_at[NOA_WAL_OP_WRITE] = 2;
    append_len(w, 0, 1000);
    uv_sem_wait(&faults.holding);
    for (int i = 1; i < 7; i++)
        append_len(w, i, 1000);
    uv_sem_post(&faults.sem);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(done.n, 7);
    for (int i = 0; i < 7; i++) {
        assert_int_equal(done.status[i], i < 4 ? 0 : -EIO);
        assert_int_equal(done.seg[i], i < 4 ? 1 : 0);
    }
    append_len(w, 7, 1000);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    /* Segment 2 lost its only group, header included: it is left empty
     * and the WAL moves on to a fresh segment. */
    assert_int_equal(done.status[7], 0);
    assert_int_equal(done.seg[7], 3);
    assert_int_equal(file_size(f, "00000002"), 0);
    wal_close(f, w);
    uv_sem_destroy(&faults.sem);
    uv_sem_destroy(&faults.holding);
    faults_reset();
    replay_dir(f, &g, &st);
    const int expect[] = {0, 1, 2, 3, 7};
    assert_int_equal(g.n, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(g.ids[i], expect[i]);
    assert_int_equal(st.corruptions, 0);
}

static void test_fsync_failure_is_sticky(void **state)
{
    struct fixture *f = *state;
    static struct got g;
    struct noa_wal_stats ws;
    memset(&done, 0, sizeof(done));
    memset(&ckr, 0, sizeof(ckr));
    faults_reset();
    noa_log_set_level(NOA_LOG_ERROR + 1);

    struct noa_wal *w = wal_open_faulty(f);
    faults.code[NOA_WAL_OP_SYNC] = -EIO;
    atomic_store(&faults.fail[NOA_WAL_OP_SYNC], 1);
    append_ids(w, 0, 3);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(done.n, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(done.status[i], -EIO);
    assert_int_equal(noa_wal_append(w, "abcd", 4, on_done, NULL), -EIO);
    assert_int_equal(noa_wal_checkpoint_begin(w, on_ck, NULL), -EIO);
    noa_wal_stats(w, &ws);
    assert_int_equal(ws.failed, -EIO);
    assert_int_equal(ws.records, 0);
    wal_close(f, w);
    assert_int_equal(done.n, 3);

    /* Reopening clears it. */
    w = wal_open(f);
    replay(w, &g, NULL);
    append_ids(w, 10, 11);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(done.status[3], 0);
    assert_int_equal(done.seg[3], 2);
    wal_close(f, w);
    faults_reset();
    noa_log_set_level(NOA_LOG_INFO);
}

static int closed_after;

static void on_closed_count(void *ctx)
{
    (void)ctx;
    closed_after = done.n;
}

static void test_close_with_pending(void **state)
{
    struct fixture *f = *state;
    static struct got g;
    memset(&done, 0, sizeof(done));
    closed_after = -1;
    struct noa_wal *w = wal_open(f);
    append_ids(w, 0, 40);
    noa_wal_close(w, on_closed_count, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(closed_after, 40);
    for (int i = 0; i < 40; i++)
        assert_int_equal(done.status[i], 0);
    replay_dir(f, &g, NULL);
    assert_int_equal(g.n, 40);
}

static void test_limits_and_misuse(void **state)
{
    struct fixture *f = *state;
    static struct got g;
    struct noa_error err = {0};
    struct noa_wal *w2 = NULL;
    struct noa_buf b = {0};
    memset(&done, 0, sizeof(done));
    struct noa_wal_options o = {.max_record = 1000, .max_queue = 2000};
    struct noa_wal *w = wal_open_opts(f, &o);

    /* One process per WAL directory. */
    assert_int_equal(noa_wal_open(&f->loop, &o, &w2, &err), NOA_EUNAVAIL);
    assert_non_null(strstr(err.msg, "in use"));
    struct noa_wal_options none = {0};
    assert_int_equal(noa_wal_open(&f->loop, &none, &w2, &err), NOA_EINVAL);

    rec_fill(&b, 1, 1001);
    assert_int_equal(noa_wal_append(w, b.data, b.len, on_done, NULL), NOA_ETOOBIG);
    assert_int_equal(noa_wal_append_buf(w, &b, on_done, NULL), NOA_ETOOBIG);
    assert_int_equal(b.len, 1001); /* untouched on failure */
    rec_fill(&b, 1, 1000);
    assert_int_equal(noa_wal_append_buf(w, &b, on_done, (void *)(intptr_t)1), 0);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    append_len(w, 2, 900);
    rec_fill(&b, 3, 101);
    assert_int_equal(noa_wal_append(w, b.data, b.len, on_done, NULL), NOA_ELIMIT);
    append_len(w, 3, 100);
    /* Replay after appends is refused. */
    assert_int_equal(noa_wal_replay(w, on_rec, &g, NULL, &err), NOA_EINVAL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(done.n, 3);
    append_len(w, 4, 1000); /* the queue drained */
    noa_wal_close(w, NULL, NULL);
    assert_int_equal(noa_wal_append(w, "abcd", 4, on_done, NULL), NOA_EUNAVAIL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(done.n, 4);
    noa_buf_fini(&b);

    /* A failing replay callback stops replay with its code. */
    w = wal_open(f);
    memset(&g, 0, sizeof(g));
    g.stop_at = 2;
    assert_int_equal(noa_wal_replay(w, on_rec, &g, NULL, &err), -42);
    assert_int_equal(g.n, 2);
    wal_close(f, w);
}

static void observe(double seconds, void *ctx)
{
    assert_true(seconds >= 0);
    (*(int *)ctx)++;
}

static void test_observe_and_no_sync(void **state)
{
    struct fixture *f = *state;
    static struct got g;
    struct noa_wal_stats ws;
    int observed = 0;
    memset(&done, 0, sizeof(done));
    struct noa_wal_options o = {.fsync_observe_cb = observe, .observe_ctx = &observed};
    struct noa_wal *w = wal_open_opts(f, &o);
    append_ids(w, 0, 3);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    noa_wal_stats(w, &ws);
    assert_true(observed >= 1);
    assert_int_equal((uint64_t)observed, ws.fsyncs);
    assert_true(ws.fsync_ns_max <= ws.fsync_ns_total);
    wal_close(f, w);

    struct noa_wal_options ns = {.no_sync = 1};
    w = wal_open_opts(f, &ns);
    append_ids(w, 3, 6);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    noa_wal_stats(w, &ws);
    assert_int_equal(ws.fsyncs, 0);
    assert_int_equal(ws.records, 3);
    wal_close(f, w);
    replay_dir(f, &g, NULL);
    assert_int_equal(g.n, 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roll_and_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_every_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_zeros, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corruption_middle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corruption_length_and_last_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_leftovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_commit_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_after_midgroup_roll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsync_failure_is_sticky, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_with_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_and_misuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_observe_and_no_sync, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
