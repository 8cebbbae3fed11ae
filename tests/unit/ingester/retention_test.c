/*
 * Unit tests for ingester/retention: sweeps over a real index and directory
 * chunk store in a temporary directory. Expired chunks lose their index
 * refs first and their files only after the delete delay; newer chunks and
 * chunks straddling the cutoff stay; other tenants are untouched; sweeps are
 * idempotent; pending deletions survive a restart; a marker left by a crash
 * before the index delete is completed; period 0 keeps everything; small
 * batches; corrupt markers are set aside; metrics count what was done.
 */
#include "ingester/retention.h"

#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"

#include <dirent.h>
#include <pthread.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define DAY NOA_INDEX_DAY_NS
#define HOUR 3600000000000LL
#define D0 20000LL /* first day of the data set */
/* "Now" of the tests: day D0 + 10, 12:00; the period is 3 days, so the
 * cutoff is D0 + 7, 12:00. */
#define NOW ((D0 + 10) * DAY + 12 * HOUR)
#define PERIOD (3 * DAY)
#define CUTOFF (NOW - PERIOD)
#define DELAY (2 * HOUR)

struct fixture {
    char dir[128];
    char idx_dir[160], chunks_dir[160], work_dir[160];
    struct noa_index *idx;
    struct noa_chunkstore *cs;
    struct noa_retention *r;
};

static void rm_rf(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", dir);
}

static void open_retention_rules(struct fixture *f, int64_t period, unsigned batch,
                                 struct noa_metrics *m, struct noa_retention_rules *rules)
{
    struct noa_error err = {0};
    struct noa_retention_options o = {.period_ns = period,
                                      .rules = rules,
                                      .interval_ns = HOUR,
                                      .delete_delay_ns = DELAY,
                                      .work_dir = f->work_dir,
                                      .batch_chunks = batch,
                                      .metrics = m};
    assert_int_equal(noa_retention_new(f->idx, f->cs, &o, &f->r, &err), 0);
}

static void open_retention(struct fixture *f, int64_t period, unsigned batch, struct noa_metrics *m)
{
    open_retention_rules(f, period, batch, m, NULL);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct noa_error err = {0};
    snprintf(f->dir, sizeof(f->dir), "/tmp/noa-retention-test-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->idx_dir, sizeof(f->idx_dir), "%s/index", f->dir);
    snprintf(f->chunks_dir, sizeof(f->chunks_dir), "%s/chunks", f->dir);
    snprintf(f->work_dir, sizeof(f->work_dir), "%s/compactor/retention", f->dir);
    if (noa_index_open(f->idx_dir, NULL, &f->idx, &err) != 0 ||
        noa_chunkstore_dir_new(f->chunks_dir, &f->cs, &err) != 0) {
        fprintf(stderr, "open: %s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    noa_retention_free(f->r);
    noa_chunkstore_free(f->cs);
    noa_index_close(f->idx);
    rm_rf(f->dir);
    free(f);
    return 0;
}

/* Stores a chunk file of `size` bytes and indexes it for stream fp of
 * tenant (labels app=<tenant>-<fp>). */
static struct noa_chunk_ref add_chunk(struct fixture *f, const char *tenant, uint64_t fp,
                                      int64_t from, int64_t through, uint64_t size)
{
    struct noa_error err = {0};
    char app[64];
    snprintf(app, sizeof(app), "%s-%" PRIu64, tenant, fp);
    struct noa_label l[1] = {{NOA_STR("app"), noa_str_c(app)}};
    struct noa_labels ls = {l, 1};
    struct noa_chunk_ref r = {.fp = fp,
                              .from_ns = from,
                              .through_ns = through,
                              .checksum = (uint32_t)(from / 1000) ^ (uint32_t)fp,
                              .entries = 10,
                              .raw_bytes = size * 4,
                              .compressed_bytes = size};
    snprintf(r.key, sizeof(r.key), "%s/%016" PRIx64 "/%" PRIx64 ":%" PRIx64 ":%08" PRIx32, tenant,
             fp, (uint64_t)from / 1000000, (uint64_t)through / 1000000, r.checksum);
    char *data = calloc(1, size);
    assert_int_equal(noa_chunkstore_put(f->cs, r.key, data, size), 0);
    free(data);
    assert_int_equal(noa_index_add_chunk(f->idx, tenant, &ls, fp, &r, &err), 0);
    return r;
}

static int file_exists(struct fixture *f, const struct noa_chunk_ref *r)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", f->chunks_dir, r->key);
    return stat(path, &st) == 0;
}

struct count {
    int n;
    uint32_t checksums[64];
};

static int count_cb(const struct noa_chunk_ref *ref, void *ctx)
{
    struct count *c = ctx;
    if (c->n < 64)
        c->checksums[c->n] = ref->checksum;
    c->n++;
    return 0;
}

/* Chunk refs the index holds for one stream over all time. */
static int indexed(struct fixture *f, const char *tenant, uint64_t fp)
{
    struct count c = {0};
    assert_int_equal(
        noa_index_chunks(f->idx, tenant, fp, INT64_MIN / 2, INT64_MAX / 2, count_cb, &c), 0);
    return c.n;
}

static int is_indexed(struct fixture *f, const char *tenant, const struct noa_chunk_ref *r)
{
    struct count c = {0};
    assert_int_equal(
        noa_index_chunks(f->idx, tenant, r->fp, INT64_MIN / 2, INT64_MAX / 2, count_cb, &c), 0);
    for (int i = 0; i < c.n && i < 64; i++)
        if (c.checksums[i] == r->checksum)
            return 1;
    return 0;
}

static int series_cb(uint64_t fp, const struct noa_labels *ls, void *ctx)
{
    (void)fp;
    (void)ls;
    (*(int *)ctx)++;
    return 0;
}

static int series_in(struct fixture *f, const char *tenant, int64_t from, int64_t through)
{
    int n = 0;
    assert_int_equal(noa_index_series(f->idx, tenant, from, through, NULL, series_cb, &n), 0);
    return n;
}

static int count_files(const char *dir, const char *suffix)
{
    int n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    size_t sl = strlen(suffix);
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > sl && strcmp(e->d_name + l - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static void run(struct fixture *f, int64_t now)
{
    struct noa_error err = {0};
    int rc = noa_retention_run(f->r, now, &err);
    if (rc != 0)
        fprintf(stderr, "run: %s\n", err.msg);
    assert_int_equal(rc, 0);
}

/* The data set of most tests. */
struct data {
    struct noa_chunk_ref old1, old2, old_multi, straddle, fresh, other_old, other_fresh;
};

static void load(struct fixture *f, struct data *d)
{
    d->old1 = add_chunk(f, "a", 1, D0 * DAY + HOUR, D0 * DAY + 2 * HOUR, 100);
    d->old2 = add_chunk(f, "a", 1, (D0 + 1) * DAY + HOUR, (D0 + 1) * DAY + 2 * HOUR, 200);
    /* crosses midnight D0+2 -> D0+3, all before the cutoff */
    d->old_multi = add_chunk(f, "a", 2, (D0 + 3) * DAY - HOUR, (D0 + 3) * DAY + HOUR, 300);
    /* ends a day after the cutoff: kept whole */
    d->straddle = add_chunk(f, "a", 2, CUTOFF - 2 * HOUR, CUTOFF + DAY, 400);
    d->fresh = add_chunk(f, "a", 3, NOW - HOUR, NOW - 1, 500);
    /* tenant b: the same fingerprint and an old time range, and a fresh one */
    d->other_old = add_chunk(f, "b", 1, D0 * DAY + HOUR, D0 * DAY + 3 * HOUR, 600);
    d->other_fresh = add_chunk(f, "b", 2, NOW - 2 * HOUR, NOW - HOUR, 700);
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_sweep_deletes_expired_only(void **state)
{
    struct fixture *f = *state;
    struct data d;
    struct noa_retention_stats st;
    load(f, &d);
    open_retention(f, PERIOD, 0, NULL);

    run(f, NOW);
    /* index entries of expired chunks are gone at once... */
    assert_false(is_indexed(f, "a", &d.old1));
    assert_false(is_indexed(f, "a", &d.old2));
    assert_false(is_indexed(f, "a", &d.old_multi));
    assert_false(is_indexed(f, "b", &d.other_old));
    /* ...but their files wait for the delete delay (queries in flight) */
    assert_true(file_exists(f, &d.old1));
    assert_true(file_exists(f, &d.old_multi));
    assert_true(file_exists(f, &d.other_old));
    /* the straddling and fresh chunks stay */
    assert_true(is_indexed(f, "a", &d.straddle));
    assert_true(is_indexed(f, "a", &d.fresh));
    assert_true(is_indexed(f, "b", &d.other_fresh));
    assert_int_equal(indexed(f, "a", 1), 0);
    assert_int_equal(indexed(f, "a", 2), 1);
    /* the emptied days lost their series too, the second day of the chunk
     * crossing midnight included (whole days: series are not re-checked
     * against chunks there) */
    assert_int_equal(series_in(f, "a", D0 * DAY, (D0 + 4) * DAY - 1), 0);
    assert_int_equal(series_in(f, "b", D0 * DAY, (D0 + 1) * DAY), 0);
    assert_int_equal(series_in(f, "a", NOW - HOUR, NOW), 1);
    noa_retention_stats(f->r, &st);
    assert_int_equal(st.marked_chunks, 4);
    assert_int_equal(st.deleted_chunks, 0);
    assert_int_equal(st.pending_markers, 4); /* one per tenant-day with expired chunks */
    assert_int_equal(st.sweeps, 1);
    assert_true(st.last_success_ns == NOW);

    /* before the delay: nothing deleted */
    run(f, NOW + DELAY - 1);
    assert_true(file_exists(f, &d.old1));
    noa_retention_stats(f->r, &st);
    assert_int_equal(st.deleted_chunks, 0);

    /* after it: the files go, the markers too */
    run(f, NOW + DELAY);
    assert_false(file_exists(f, &d.old1));
    assert_false(file_exists(f, &d.old2));
    assert_false(file_exists(f, &d.old_multi));
    assert_false(file_exists(f, &d.other_old));
    assert_true(file_exists(f, &d.straddle));
    assert_true(file_exists(f, &d.fresh));
    assert_true(file_exists(f, &d.other_fresh));
    noa_retention_stats(f->r, &st);
    assert_int_equal(st.deleted_chunks, 4);
    assert_int_equal(st.deleted_bytes, 100 + 200 + 300 + 600);
    assert_int_equal(st.pending_markers, 0);
    assert_int_equal(count_files(f->work_dir, ".mrk"), 0);
}

static void test_idempotent(void **state)
{
    struct fixture *f = *state;
    struct data d;
    struct noa_retention_stats st;
    load(f, &d);
    open_retention(f, PERIOD, 0, NULL);
    run(f, NOW);
    run(f, NOW);
    noa_retention_stats(f->r, &st);
    assert_int_equal(st.marked_chunks, 4);
    run(f, NOW + DELAY);
    run(f, NOW + DELAY + 1);
    noa_retention_stats(f->r, &st);
    assert_int_equal(st.marked_chunks, 4);
    assert_int_equal(st.deleted_chunks, 4);
    assert_int_equal(st.sweeps, 4);
    assert_true(is_indexed(f, "a", &d.straddle));
    assert_true(file_exists(f, &d.straddle));
    /* the straddling chunk expires once its end is older than the period */
    run(f, CUTOFF + DAY + PERIOD + 1);
    assert_false(is_indexed(f, "a", &d.straddle));
    assert_true(is_indexed(f, "a", &d.fresh));
    noa_retention_stats(f->r, &st);
    assert_int_equal(st.marked_chunks, 5);
}

static void test_pending_survive_restart(void **state)
{
    struct fixture *f = *state;
    struct data d;
    struct noa_retention_stats st;
    load(f, &d);
    open_retention(f, PERIOD, 0, NULL);
    run(f, NOW);
    assert_int_equal(count_files(f->work_dir, ".mrk"), 4);
    noa_retention_free(f->r);
    f->r = NULL;
    /* retention switched off after the restart: pending deletions still finish */
    open_retention(f, 0, 0, NULL);
    run(f, NOW + DELAY);
    assert_false(file_exists(f, &d.old1));
    assert_false(file_exists(f, &d.other_old));
    assert_true(file_exists(f, &d.straddle));
    noa_retention_stats(f->r, &st);
    assert_int_equal(st.marked_chunks, 0);
    assert_int_equal(st.deleted_chunks, 4);
}

static void test_period_zero_keeps_everything(void **state)
{
    struct fixture *f = *state;
    struct data d;
    struct noa_retention_stats st;
    load(f, &d);
    open_retention(f, 0, 0, NULL);
    run(f, NOW + 1000 * DAY);
    assert_true(is_indexed(f, "a", &d.old1));
    assert_true(file_exists(f, &d.old1));
    noa_retention_stats(f->r, &st);
    assert_int_equal(st.marked_chunks, 0);
    assert_int_equal(st.sweeps, 1);
}

/* A crash after a marker was renamed into place but before the index
 * delete: the marker is completed (index first, then files). */
static void test_crash_after_marker(void **state)
{
    struct fixture *f = *state;
    struct noa_chunk_ref r = add_chunk(f, "c", 9, D0 * DAY, D0 * DAY + HOUR, 50);
    struct noa_chunk_ref keep = add_chunk(f, "c", 9, NOW - HOUR, NOW, 60);
    char path[300];
    snprintf(path, sizeof(path), "%s", f->work_dir);
    open_retention(f, 0, 0, NULL); /* creates the directory; period 0 marks nothing */
    snprintf(path, sizeof(path), "%s/%020lld-000000.mrk", f->work_dir, (long long)NOW);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp,
            "noa-retention-marker 1\n63 %016" PRIx64 " %" PRId64 " %" PRId64 " %08" PRIx32
            " %" PRIu64 " %s\n",
            r.fp, r.from_ns, r.through_ns, r.checksum, r.compressed_bytes, r.key);
    fclose(fp);
    /* and a temporary marker of a crash while writing one: removed on open */
    char tmp[300];
    snprintf(tmp, sizeof(tmp), "%s/tmp-%020lld-000001", f->work_dir, (long long)NOW);
    fp = fopen(tmp, "w");
    assert_non_null(fp);
    fputs("noa-retention-marker 1\n", fp);
    fclose(fp);
    noa_retention_free(f->r);
    f->r = NULL;
    open_retention(f, 0, 0, NULL);
    assert_int_equal(access(tmp, F_OK), -1);

    run(f, NOW + 1); /* not due: untouched */
    assert_true(is_indexed(f, "c", &r));
    assert_true(file_exists(f, &r));
    run(f, NOW + DELAY);
    assert_false(is_indexed(f, "c", &r));
    assert_false(file_exists(f, &r));
    assert_true(is_indexed(f, "c", &keep));
    assert_true(file_exists(f, &keep));
    assert_int_equal(access(path, F_OK), -1);
}

/* Markers are written before the refs go: after the mark phase, every
 * chunk missing from the index is listed in a marker and still on disk. */
static void test_index_before_file(void **state)
{
    struct fixture *f = *state;
    struct data d;
    struct noa_buf all = {0};
    load(f, &d);
    open_retention(f, PERIOD, 0, NULL);
    run(f, NOW);
    DIR *dir = opendir(f->work_dir);
    assert_non_null(dir);
    struct dirent *e;
    while ((e = readdir(dir))) {
        char path[600], line[1024];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", f->work_dir, e->d_name);
        FILE *fp = fopen(path, "r");
        assert_non_null(fp);
        while (fgets(line, sizeof(line), fp))
            noa_buf_append(&all, line, strlen(line));
        fclose(fp);
    }
    closedir(dir);
    noa_buf_putc(&all, 0);
    const struct noa_chunk_ref *gone[] = {&d.old1, &d.old2, &d.old_multi, &d.other_old};
    for (size_t i = 0; i < 4; i++) {
        assert_non_null(strstr(all.data, gone[i]->key));
        assert_true(file_exists(f, gone[i]));
    }
    assert_null(strstr(all.data, d.straddle.key));
    assert_null(strstr(all.data, d.fresh.key));
    noa_buf_fini(&all);
}

static void test_small_batches(void **state)
{
    struct fixture *f = *state;
    struct noa_retention_stats st;
    struct noa_chunk_ref refs[7];
    for (int i = 0; i < 7; i++)
        refs[i] = add_chunk(f, "a", (uint64_t)(i % 3 + 1), D0 * DAY + i * HOUR,
                            D0 * DAY + i * HOUR + 10, 10);
    struct noa_chunk_ref keep = add_chunk(f, "a", 1, D0 * DAY + 20 * HOUR, NOW, 10);
    open_retention(f, PERIOD, 2, NULL);
    run(f, NOW);
    assert_int_equal(count_files(f->work_dir, ".mrk"), 4);
    noa_retention_stats(f->r, &st);
    assert_int_equal(st.marked_chunks, 7);
    /* the day keeps only the series of the chunk that crosses the cutoff */
    assert_int_equal(series_in(f, "a", D0 * DAY, D0 * DAY + DAY - 1), 1);
    run(f, NOW + DELAY);
    for (int i = 0; i < 7; i++) {
        assert_false(file_exists(f, &refs[i]));
        assert_false(is_indexed(f, "a", &refs[i]));
    }
    assert_true(file_exists(f, &keep));
    assert_true(is_indexed(f, "a", &keep));
    noa_retention_stats(f->r, &st);
    assert_int_equal(st.deleted_chunks, 7);
    assert_int_equal(st.deleted_bytes, 70);
}

static void test_corrupt_marker_set_aside(void **state)
{
    struct fixture *f = *state;
    struct noa_chunk_ref r = add_chunk(f, "a", 1, D0 * DAY, D0 * DAY + 1, 10);
    open_retention(f, 0, 0, NULL);
    char path[300], bad[320];
    snprintf(path, sizeof(path), "%s/%020lld-000000.mrk", f->work_dir, (long long)NOW);
    snprintf(bad, sizeof(bad), "%s.corrupt", path);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "noa-retention-marker 1\n61 zz 1 2 3 4 %s\n", r.key);
    fclose(fp);
    run(f, NOW + DELAY);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(access(bad, F_OK), 0);
    /* nothing of it was applied */
    assert_true(is_indexed(f, "a", &r));
    assert_true(file_exists(f, &r));
    run(f, NOW + DELAY + 1);
    assert_int_equal(access(bad, F_OK), 0);
}

static void test_metrics(void **state)
{
    struct fixture *f = *state;
    struct data d;
    struct noa_metrics *m = noa_metrics_new();
    struct noa_buf out = {0};
    load(f, &d);
    open_retention(f, PERIOD, 0, m);
    run(f, NOW);
    run(f, NOW + DELAY);
    noa_metrics_write(m, &out);
    noa_buf_putc(&out, 0);
    assert_non_null(strstr(out.data, "\nnoa_compactor_marked_chunks_total 4\n"));
    assert_non_null(strstr(out.data, "\nnoa_compactor_deleted_chunks_total 4\n"));
    assert_non_null(strstr(out.data, "\nnoa_compactor_deleted_bytes_total 1200\n"));
    assert_non_null(strstr(
        out.data, "\nnoa_compactor_apply_retention_operation_total{status=\"success\"} 2\n"));
    const char *g =
        strstr(out.data, "\nnoa_compactor_apply_retention_last_successful_run_timestamp_seconds ");
    assert_non_null(g);
    double ts = strtod(strchr(g + 1, ' ') + 1, NULL);
    assert_true(ts == (double)((NOW + DELAY) / 1000000000LL));
    noa_buf_fini(&out);
    noa_retention_free(f->r);
    f->r = NULL;
    noa_metrics_free(m);
}

static void test_thread_start_stop(void **state)
{
    struct fixture *f = *state;
    struct data d;
    struct noa_retention_stats st;
    load(f, &d);
    /* real time is far past NOW: the whole data set has expired */
    open_retention(f, PERIOD, 0, NULL);
    assert_int_equal(noa_retention_start(f->r), 0);
    /* the first sweep runs at start; wait for it (bounded) */
    for (int i = 0; i < 500; i++) {
        noa_retention_stats(f->r, &st);
        if (st.sweeps + st.failures > 0)
            break;
        usleep(10000);
    }
    noa_retention_stats(f->r, &st);
    assert_int_equal(st.sweeps, 1);
    assert_int_equal(st.marked_chunks, 7);
    noa_retention_free(f->r); /* wakes the thread and joins it */
    f->r = NULL;
}

static void test_bad_options(void **state)
{
    struct fixture *f = *state;
    struct noa_error err = {0};
    struct noa_retention *r = NULL;
    struct noa_retention_options o = {.period_ns = -1, .work_dir = f->work_dir};
    assert_int_equal(noa_retention_new(f->idx, f->cs, &o, &r, &err), NOA_EINVAL);
    assert_null(r);
    o = (struct noa_retention_options){.period_ns = DAY, .work_dir = ""};
    assert_int_equal(noa_retention_new(f->idx, f->cs, &o, &r, &err), NOA_EINVAL);
    noa_retention_free(NULL);
}

/* A reader walking the index and reading every chunk it finds while a
 * sweep marks: every ref it got must still be readable (the files wait for
 * the delete delay). */
struct reader {
    struct fixture *f;
    atomic_int stop;
    int reads, failures;
};

static int read_cb(const struct noa_chunk_ref *ref, void *ctx)
{
    struct reader *rd = ctx;
    struct noa_buf b = {0};
    if (noa_chunkstore_get(rd->f->cs, ref->key, &b) != 0 || b.len != ref->compressed_bytes)
        rd->failures++;
    rd->reads++;
    noa_buf_fini(&b);
    return 0;
}

static void *reader_main(void *arg)
{
    struct reader *rd = arg;
    do {
        for (uint64_t fp = 1; fp <= 40; fp++)
            if (noa_index_chunks(rd->f->idx, "a", fp, INT64_MIN / 2, INT64_MAX / 2, read_cb, rd) !=
                0)
                rd->failures++;
    } while (!atomic_load(&rd->stop));
    return NULL;
}

static void test_sweep_racing_reads(void **state)
{
    struct fixture *f = *state;
    struct noa_retention_stats st;
    static struct noa_chunk_ref refs[400];
    for (int i = 0; i < 400; i++)
        refs[i] = add_chunk(f, "a", (uint64_t)(i % 40) + 1, D0 * DAY + i * 1000000000LL,
                            D0 * DAY + i * 1000000000LL + 10, 64 + (uint64_t)i);
    open_retention(f, PERIOD, 16, NULL);
    struct reader rd = {.f = f};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reader_main, &rd), 0);
    run(f, NOW);
    atomic_store(&rd.stop, 1);
    pthread_join(t, NULL);
    assert_int_equal(rd.failures, 0);
    assert_true(rd.reads > 0);
    noa_retention_stats(f->r, &st);
    assert_int_equal(st.marked_chunks, 400);
    assert_int_equal(st.pending_markers, 25);
    run(f, NOW + DELAY);
    for (int i = 0; i < 400; i++)
        assert_false(file_exists(f, &refs[i]));
    noa_retention_stats(f->r, &st);
    assert_int_equal(st.deleted_chunks, 400);
}

/* ---- retention_stream ------------------------------------------------------------- */

static int parse_rules(const char *yaml, struct noa_retention_rules *out, struct noa_error *err)
{
    struct noa_yaml_doc *doc = NULL;
    struct noa_error perr = {0};
    assert_int_equal(noa_yaml_parse(yaml, strlen(yaml), "cfg.yaml", NULL, &doc, &perr), 0);
    int rc = noa_retention_rules_parse(doc->root, out, err);
    noa_yaml_free(doc);
    return rc;
}

static void test_rules_parse(void **state)
{
    (void)state;
    struct noa_retention_rules rules;
    struct noa_error err = {0};
    assert_int_equal(parse_rules("- selector: '{app=\"a\"}'\n  priority: 2\n  period: 48h\n"
                                 "- selector: '{env=~\"dev|test\"}'\n  period: 1w\n",
                                 &rules, &err),
                     0);
    assert_int_equal(rules.n, 2);
    assert_int_equal(rules.v[0].priority, 2);
    assert_true(rules.v[0].period_ns == 2 * DAY);
    assert_int_equal(rules.v[1].priority, 0);
    assert_true(rules.v[1].period_ns == 7 * DAY);
    noa_retention_rules_fini(&rules);

    assert_int_equal(parse_rules("~\n", &rules, &err), 0);
    assert_int_equal(rules.n, 0);

    assert_int_equal(parse_rules("- selector: '{app=\"a\"}'\n  period: 5h\n", &rules, &err),
                     NOA_EINVAL);
    assert_string_equal(err.msg, "cfg.yaml:2:11: retention period must be >= 24h was 5h");
    assert_int_equal(parse_rules("- selector: '{app=\"a\"}'\n", &rules, &err), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "retention period must be >= 24h was 0s"));
    assert_int_equal(parse_rules("- selector: 'app=a'\n  period: 48h\n", &rules, &err), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "cfg.yaml:1:13: invalid labels matchers: "));
    assert_int_equal(
        parse_rules("- selector: '{app=\"a\"}'\n  period: 48h\n  prio: 1\n", &rules, &err),
        NOA_EINVAL);
    assert_non_null(strstr(err.msg, "field prio not found"));
    assert_int_equal(parse_rules("selector: x\n", &rules, &err), NOA_EINVAL);
    assert_int_equal(parse_rules("- selector: '{a=\"b\"}'\n  period: soon\n", &rules, &err),
                     NOA_EINVAL);
}

static void test_period_for(void **state)
{
    (void)state;
    struct noa_retention_rules rules;
    struct noa_error err = {0};
    assert_int_equal(parse_rules("- selector: '{app=\"a\"}'\n  priority: 1\n  period: 10d\n"
                                 "- selector: '{app=~\"a|b\"}'\n  priority: 1\n  period: 5d\n"
                                 "- selector: '{env=\"prod\"}'\n  priority: 5\n  period: 30d\n"
                                 "- selector: '{app=\"c\"}'\n  period: 2d\n",
                                 &rules, &err),
                     0);
    struct noa_label a[2] = {{NOA_STR("app"), NOA_STR("a")}, {NOA_STR("env"), NOA_STR("dev")}};
    struct noa_label ap[2] = {{NOA_STR("app"), NOA_STR("a")}, {NOA_STR("env"), NOA_STR("prod")}};
    struct noa_label c[1] = {{NOA_STR("app"), NOA_STR("c")}};
    struct noa_label z[1] = {{NOA_STR("app"), NOA_STR("z")}};
    struct noa_labels la = {a, 2}, lap = {ap, 2}, lc = {c, 1}, lz = {z, 1};
    /* equal priority: the shortest period */
    assert_true(noa_retention_period_for(&rules, 0, &la) == 5 * DAY);
    /* the highest priority wins even with a longer period */
    assert_true(noa_retention_period_for(&rules, 0, &lap) == 30 * DAY);
    assert_true(noa_retention_period_for(&rules, 0, &lc) == 2 * DAY);
    /* no rule: the global period */
    assert_true(noa_retention_period_for(&rules, 3 * DAY, &lz) == 3 * DAY);
    assert_true(noa_retention_period_for(NULL, 3 * DAY, &la) == 3 * DAY);
    noa_retention_rules_fini(&rules);
}

/* Streams app=a-1 (2-day rule), app=a-2 (no rule) and app=a-3 (30-day
 * rule) with chunks 5 and 10 days old; the global period varies. */
static void test_sweep_with_rules(void **state)
{
    struct fixture *f = *state;
    struct noa_retention_rules rules;
    struct noa_error err = {0};
    struct noa_chunk_ref c[3][2];
    for (int i = 0; i < 3; i++) {
        c[i][0] = add_chunk(f, "a", (uint64_t)i + 1, NOW - 10 * DAY, NOW - 10 * DAY + HOUR, 10);
        c[i][1] = add_chunk(f, "a", (uint64_t)i + 1, NOW - 5 * DAY, NOW - 5 * DAY + HOUR, 10);
    }
    assert_int_equal(parse_rules("- selector: '{app=\"a-1\"}'\n  period: 2d\n"
                                 "- selector: '{app=\"a-3\"}'\n  period: 30d\n",
                                 &rules, &err),
                     0);
    /* global 0: only the stream with a rule that expired loses data */
    open_retention_rules(f, 0, 0, NULL, &rules);
    assert_int_equal(rules.n, 0); /* moved into the module */
    run(f, NOW);
    assert_false(is_indexed(f, "a", &c[0][0]));
    assert_false(is_indexed(f, "a", &c[0][1]));
    for (int i = 1; i < 3; i++) {
        assert_true(is_indexed(f, "a", &c[i][0]));
        assert_true(is_indexed(f, "a", &c[i][1]));
    }
    noa_retention_free(f->r);
    f->r = NULL;

    /* global 7 days: stream 2 loses its 10-day-old chunk, stream 3 keeps both */
    assert_int_equal(parse_rules("- selector: '{app=\"a-1\"}'\n  period: 2d\n"
                                 "- selector: '{app=\"a-3\"}'\n  period: 30d\n",
                                 &rules, &err),
                     0);
    open_retention_rules(f, 7 * DAY, 0, NULL, &rules);
    run(f, NOW);
    assert_false(is_indexed(f, "a", &c[1][0]));
    assert_true(is_indexed(f, "a", &c[1][1]));
    assert_true(is_indexed(f, "a", &c[2][0]));
    assert_true(is_indexed(f, "a", &c[2][1]));
    /* the day 10 days back keeps only stream 3's series */
    assert_int_equal(series_in(f, "a", NOW - 10 * DAY, NOW - 10 * DAY + HOUR), 1);
    run(f, NOW + DELAY);
    assert_false(file_exists(f, &c[0][0]));
    assert_false(file_exists(f, &c[1][0]));
    assert_true(file_exists(f, &c[1][1]));
    assert_true(file_exists(f, &c[2][0]));
}

int main(void)
{
    noa_log_set_level(NOA_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sweep_deletes_expired_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_survive_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_period_zero_keeps_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_after_marker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_before_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_marker_set_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thread_start_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_racing_reads, setup, teardown),
        cmocka_unit_test(test_rules_parse),
        cmocka_unit_test(test_period_for),
        cmocka_unit_test_setup_teardown(test_sweep_with_rules, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
