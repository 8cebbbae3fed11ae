/*
 * Tests for shipper/tailer.c with real files in a temp directory and the
 * real reader thread: appends, rename rotation while writing, several
 * rotations while paused, copytruncate, truncation, deletion while open,
 * partial last lines, restarts from positions (same, grown, truncated,
 * replaced), a thousand files, and polling mode. Every test checks the
 * exact sequence of lines per file: nothing lost, nothing twice.
 */
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "shipper/positions.h"
#include "shipper/tailer.h"

#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[256];

/* ---- collector ---- */

struct rec {
    char *path;
    char *line;
    uint64_t off;
    int64_t read_ns;
};

struct coll {
    pthread_mutex_t mu;
    struct rec *v;
    size_t n, cap;
    int refuse; /* answer NOA_ELIMIT to every line */
    int done_calls;
    int ticks;
    char last_label_job[64];
    char last_label_filename[512];
    struct noa_tailer *t;
    int commit; /* commit every line's offset */
};

static int on_line(void *ud, const struct noa_tailer_file *f, struct noa_str line, uint64_t offset,
                   int64_t read_ns)
{
    struct coll *c = ud;
    pthread_mutex_lock(&c->mu);
    if (c->refuse) {
        pthread_mutex_unlock(&c->mu);
        return NOA_ELIMIT;
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 1024;
        c->v = realloc(c->v, c->cap * sizeof(*c->v));
    }
    c->v[c->n].path = strndup(f->path, f->path_len);
    c->v[c->n].line = strndup(line.p, line.len);
    c->v[c->n].off = offset;
    c->v[c->n].read_ns = read_ns;
    c->n++;
    for (uint32_t i = 0; i < f->n_labels; i++) {
        if (noa_str_eq_c(f->labels[i].name, "job"))
            snprintf(c->last_label_job, sizeof c->last_label_job, "%.*s",
                     (int)f->labels[i].value.len, f->labels[i].value.p);
        if (noa_str_eq_c(f->labels[i].name, "filename"))
            snprintf(c->last_label_filename, sizeof c->last_label_filename, "%.*s",
                     (int)f->labels[i].value.len, f->labels[i].value.p);
    }
    int commit = c->commit;
    pthread_mutex_unlock(&c->mu);
    if (commit)
        assert_int_equal(noa_tailer_commit(c->t, (struct noa_str){f->path, f->path_len}, offset),
                         0);
    return 0;
}

static void on_done(void *ud, const struct noa_tailer_file *f)
{
    struct coll *c = ud;
    (void)f;
    pthread_mutex_lock(&c->mu);
    c->done_calls++;
    pthread_mutex_unlock(&c->mu);
}

static void on_tick(void *ud, int64_t now)
{
    struct coll *c = ud;
    (void)now;
    pthread_mutex_lock(&c->mu);
    c->ticks++;
    pthread_mutex_unlock(&c->mu);
}

static size_t coll_n(struct coll *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static void coll_free(struct coll *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].path);
        free(c->v[i].line);
    }
    free(c->v);
    memset(c, 0, sizeof(*c));
}

/* Waits (deadline 20 s) until the collector holds n lines. */
static void wait_lines(struct coll *c, size_t n)
{
    int64_t end = noa_clock_mono_ns() + 20LL * 1000000000LL;
    while (coll_n(c) < n && noa_clock_mono_ns() < end)
        usleep(2000);
    if (coll_n(c) != n)
        fail_msg("wanted %zu lines, have %zu", n, coll_n(c));
}

/* Waits for a condition on the tailer's stats. */
static void wait_files_active(struct noa_tailer *t, uint64_t n)
{
    struct noa_tailer_stats st;
    int64_t end = noa_clock_mono_ns() + 20LL * 1000000000LL;
    do {
        noa_tailer_stats(t, &st);
        if (st.files_active == n)
            return;
        usleep(2000);
    } while (noa_clock_mono_ns() < end);
    fail_msg("files_active %llu, wanted %llu", (unsigned long long)st.files_active,
             (unsigned long long)n);
}

/* The lines of path, in order, must be exactly prefix + 0..n-1. */
static void check_seq(struct coll *c, const char *path, const char *prefix, int n)
{
    int k = 0;
    char want[128];
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n; i++) {
        if (path && strcmp(c->v[i].path, path) != 0)
            continue;
        snprintf(want, sizeof want, "%s%06d", prefix, k);
        if (strcmp(c->v[i].line, want) != 0) {
            pthread_mutex_unlock(&c->mu);
            fail_msg("line %d of %s: got '%s' want '%s'", k, path ? path : "*", c->v[i].line, want);
        }
        k++;
    }
    pthread_mutex_unlock(&c->mu);
    if (k != n)
        fail_msg("%s: %d lines, want %d", path ? path : "*", k, n);
}

/* Across every path: each of prefix + 0..n-1 exactly once, nothing else. */
static void check_set(struct coll *c, const char *prefix, int n)
{
    int *seen = calloc((size_t)n, sizeof(int));
    size_t pl = strlen(prefix);
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n; i++) {
        int k = atoi(c->v[i].line + pl);
        if (strncmp(c->v[i].line, prefix, pl) != 0 || k < 0 || k >= n)
            fail_msg("unexpected line '%s'", c->v[i].line);
        if (seen[k]++)
            fail_msg("line '%s' twice (second from %s)", c->v[i].line, c->v[i].path);
    }
    pthread_mutex_unlock(&c->mu);
    for (int k = 0; k < n; k++)
        if (!seen[k])
            fail_msg("line %s%06d missing", prefix, k);
    free(seen);
}

/* ---- fixtures ---- */

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/noa_tailer_XXXXXX");
    assert_non_null(mkdtemp(dir));
    noa_log_set_level(getenv("NOA_DEBUG") ? NOA_LOG_DEBUG : NOA_LOG_ERROR);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void pathf(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static void append_lines(const char *path, const char *prefix, int from, int to)
{
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    for (int i = from; i < to; i++)
        fprintf(f, "%s%06d\n", prefix, i);
    fclose(f);
}

static void append_raw(const char *path, const char *s)
{
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fputs(s, f);
    fclose(f);
}

static struct noa_tailer *start(struct coll *c, const char *glob, const char *exclude,
                                struct noa_tailer_config *cfg_in)
{
    struct noa_tailer_config cfg = {0};
    if (cfg_in)
        cfg = *cfg_in;
    if (!cfg.poll_period_ns)
        cfg.poll_period_ns = 50LL * 1000000;
    if (!cfg.tick_period_ns)
        cfg.tick_period_ns = 20LL * 1000000;
    if (!cfg.idle_flush_ns)
        cfg.idle_flush_ns = 200LL * 1000000;
    struct noa_tailer_callbacks cb = {
        .on_line = on_line, .on_file_done = on_done, .on_tick = on_tick, .ud = c};
    struct noa_tailer *t;
    pthread_mutex_init(&c->mu, NULL);
    assert_int_equal(noa_tailer_new(&cfg, &cb, &t), 0);
    c->t = t;
    char pat[512], ex[512];
    snprintf(pat, sizeof pat, "%s/%s", dir, glob);
    if (exclude)
        snprintf(ex, sizeof ex, "%s/%s", dir, exclude);
    struct noa_label lab[1] = {{noa_str_c("job"), noa_str_c("varlogs")}};
    struct noa_tailer_target tg = {
        .include = pat, .exclude = exclude ? ex : NULL, .labels = lab, .n_labels = 1};
    struct noa_error err = {0};
    assert_int_equal(noa_tailer_set_targets(t, &tg, 1, &err), 0);
    assert_int_equal(noa_tailer_start(t), 0);
    return t;
}

/* ---- tests ---- */

static void test_append(void **state)
{
    (void)state;
    char p[512];
    pathf(p, sizeof p, "a.log");
    append_lines(p, "a", 0, 3);
    struct coll c = {0};
    struct noa_tailer *t = start(&c, "*.log", NULL, NULL);
    wait_lines(&c, 3);
    append_lines(p, "a", 3, 10);
    wait_lines(&c, 10);
    check_seq(&c, p, "a", 10);
    assert_string_equal(c.last_label_job, "varlogs");
    assert_string_equal(c.last_label_filename, p);
    /* the first path's virtual offsets start at 0: the last is the size */
    assert_int_equal(c.v[9].off, 10 * 8);
    /* lines read in one chunk share one clock reading, yet each has its
     * own read time (identical lines must not collide in Loki) */
    for (int i = 1; i < 10; i++)
        assert_true(c.v[i].read_ns > c.v[i - 1].read_ns);
    assert_true(c.v[0].read_ns > 1600000000000000000LL); /* wall clock */
    noa_tailer_free(t);
    assert_true(c.done_calls >= 1);
    assert_true(c.ticks >= 1);
    coll_free(&c);
}

static void test_exclude_and_crlf(void **state)
{
    (void)state;
    char p[512], q[512];
    pathf(p, sizeof p, "keep.log");
    pathf(q, sizeof q, "skip.log");
    append_raw(p, "one\r\ntwo\n\nthree\n");
    append_lines(q, "q", 0, 5);
    struct coll c = {0};
    struct noa_tailer *t = start(&c, "*.log", "skip*", NULL);
    wait_lines(&c, 4);
    usleep(100000);
    assert_int_equal(coll_n(&c), 4);
    assert_string_equal(c.v[0].line, "one\r"); /* Promtail keeps the \r */
    assert_string_equal(c.v[1].line, "two");
    assert_string_equal(c.v[2].line, "");
    assert_string_equal(c.v[3].line, "three");
    noa_tailer_free(t);
    coll_free(&c);
}

struct writer_arg {
    const char *path;
    int total, per_file;
    int copytruncate;
};

static void *rotating_writer(void *arg)
{
    struct writer_arg *w = arg;
    char rot[600];
    int gen = 0;
    FILE *f = fopen(w->path, "a");
    for (int i = 0; i < w->total; i++) {
        fprintf(f, "r%06d\n", i);
        fflush(f);
        if ((i + 1) % w->per_file == 0) {
            gen++;
            if (w->copytruncate) {
                snprintf(rot, sizeof rot, "%s.%d", w->path, gen);
                /* logrotate copytruncate: copy, then truncate in place */
                char cmd[1400];
                snprintf(cmd, sizeof cmd, "cp '%s' '%s'", w->path, rot);
                if (system(cmd) != 0)
                    abort();
                if (ftruncate(fileno(f), 0) != 0)
                    abort();
                rewind(f);
            } else {
                fclose(f);
                snprintf(rot, sizeof rot, "%s.%d", w->path, gen);
                if (rename(w->path, rot) != 0)
                    abort();
                f = fopen(w->path, "a");
            }
        }
        if (i % 50 == 0)
            usleep(1000);
    }
    fclose(f);
    return NULL;
}

static void test_rename_rotation_while_writing(void **state)
{
    (void)state;
    char p[512];
    pathf(p, sizeof p, "app.log");
    append_raw(p, "");
    struct coll c = {0};
    struct noa_tailer *t = start(&c, "*.log", NULL, NULL);
    struct writer_arg w = {.path = p, .total = 5000, .per_file = 700};
    pthread_t th;
    pthread_create(&th, NULL, rotating_writer, &w);
    pthread_join(th, NULL);
    wait_lines(&c, 5000);
    check_seq(&c, p, "r", 5000);
    /* all but the current generation are released */
    wait_files_active(t, 1);
    struct noa_tailer_stats st;
    noa_tailer_stats(t, &st);
    assert_true(st.rotations >= 1);
    noa_tailer_free(t);
    coll_free(&c);
}

static void test_rotated_name_matches_glob(void **state)
{
    (void)state;
    char p[512];
    pathf(p, sizeof p, "gm.log");
    append_raw(p, "");
    struct coll c = {0};
    struct noa_tailer *t = start(&c, "gm.log*", NULL, NULL);
    struct writer_arg w = {.path = p, .total = 2000, .per_file = 400};
    pthread_t th;
    pthread_create(&th, NULL, rotating_writer, &w);
    pthread_join(th, NULL);
    wait_lines(&c, 2000);
    /* the rotated names are tailed too, from where the old name ended */
    usleep(1500000);
    assert_int_equal(coll_n(&c), 2000);
    check_set(&c, "r", 2000);
    struct noa_tailer_stats st;
    noa_tailer_stats(t, &st);
    assert_int_equal(st.paths_active, 6); /* gm.log and gm.log.1 .. .5 */
    noa_tailer_free(t);
    coll_free(&c);
}

/* logrotate's default: x.log.1 -> x.log.2, x.log -> x.log.1, new x.log,
 * with a glob that matches every name. */
static void *shifting_writer(void *arg)
{
    struct writer_arg *w = arg;
    char a[600], b[600];
    FILE *f = fopen(w->path, "a");
    for (int i = 0; i < w->total; i++) {
        fprintf(f, "r%06d\n", i);
        fflush(f);
        if ((i + 1) % w->per_file == 0) {
            fclose(f);
            for (int k = 3; k >= 1; k--) {
                snprintf(a, sizeof a, "%s.%d", w->path, k);
                snprintf(b, sizeof b, "%s.%d", w->path, k + 1);
                if (k == 3)
                    unlink(a);
                else
                    rename(a, b);
            }
            snprintf(a, sizeof a, "%s.1", w->path);
            if (rename(w->path, a) != 0)
                abort();
            f = fopen(w->path, "a");
            usleep(20000);
        }
        if (i % 50 == 0)
            usleep(1000);
    }
    fclose(f);
    return NULL;
}

static void test_logrotate_shifting(void **state)
{
    (void)state;
    char p[512];
    pathf(p, sizeof p, "sh.log");
    append_raw(p, "");
    struct coll c = {0};
    struct noa_tailer *t = start(&c, "sh.log*", NULL, NULL);
    struct writer_arg w = {.path = p, .total = 2000, .per_file = 300};
    pthread_t th;
    pthread_create(&th, NULL, shifting_writer, &w);
    pthread_join(th, NULL);
    wait_lines(&c, 2000);
    usleep(1500000);
    assert_int_equal(coll_n(&c), 2000);
    check_set(&c, "r", 2000);
    noa_tailer_free(t);
    coll_free(&c);
}

static void test_restart_after_rename(void **state)
{
    (void)state;
    char p[512], r[600];
    pathf(p, sizeof p, "rr.log");
    append_lines(p, "q", 0, 10);
    struct noa_positions *pos = noa_positions_new_empty();
    struct noa_tailer_config cfg = {.positions = pos};
    struct coll c = {0};
    c.commit = 1;
    struct noa_tailer *t = start(&c, "rr.log*", NULL, &cfg);
    wait_lines(&c, 10);
    noa_tailer_free(t);
    coll_free(&c);
    /* while stopped: more lines, a rename, a new file */
    append_lines(p, "q", 10, 15);
    snprintf(r, sizeof r, "%s.1", p);
    assert_int_equal(rename(p, r), 0);
    append_lines(p, "q", 15, 20);
    memset(&c, 0, sizeof c);
    t = start(&c, "rr.log*", NULL, &cfg);
    wait_lines(&c, 10);
    usleep(200000);
    assert_int_equal(coll_n(&c), 10);
    noa_tailer_free(t);
    /* ... so the lines are q10..q19, each once */
    int seen[20] = {0};
    for (size_t i = 0; i < c.n; i++)
        seen[atoi(c.v[i].line + 1)]++;
    for (int k = 0; k < 20; k++)
        assert_int_equal(seen[k], k < 10 ? 0 : 1);
    coll_free(&c);
    noa_positions_free(pos);
}

static void test_rotations_while_paused(void **state)
{
    (void)state;
    char p[512], r[600];
    pathf(p, sizeof p, "p.log");
    append_raw(p, "");
    struct coll c = {0};
    c.refuse = 1;
    struct noa_tailer *t = start(&c, "*.log", NULL, NULL);
    /* three generations written while the shipper refuses everything */
    for (int g = 0; g < 3; g++) {
        append_lines(p, "p", g * 100, g * 100 + 100);
        usleep(100000); /* let the reader notice each generation */
        snprintf(r, sizeof r, "%s.%d", p, g + 1);
        assert_int_equal(rename(p, r), 0);
        append_raw(p, "");
        usleep(100000);
    }
    append_lines(p, "p", 300, 350);
    usleep(100000);
    struct noa_tailer_stats st;
    noa_tailer_stats(t, &st);
    assert_int_equal(st.files_active, 4); /* every generation kept open */
    assert_int_equal(coll_n(&c), 0);
    pthread_mutex_lock(&c.mu);
    c.refuse = 0;
    pthread_mutex_unlock(&c.mu);
    noa_tailer_resume(t);
    wait_lines(&c, 350);
    check_seq(&c, p, "p", 350);
    wait_files_active(t, 1);
    /* offsets only grow across generations */
    for (size_t i = 1; i < c.n; i++)
        assert_true(c.v[i].off > c.v[i - 1].off);
    noa_tailer_free(t);
    coll_free(&c);
}

static void test_copytruncate(void **state)
{
    (void)state;
    char p[512];
    pathf(p, sizeof p, "ct.log");
    append_raw(p, "");
    struct coll c = {0};
    struct noa_tailer *t = start(&c, "*.log", NULL, NULL);
    struct writer_arg w = {.path = p, .total = 3000, .per_file = 500, .copytruncate = 1};
    pthread_t th;
    pthread_create(&th, NULL, rotating_writer, &w);
    pthread_join(th, NULL);
    wait_lines(&c, 3000);
    check_seq(&c, p, "r", 3000);
    struct noa_tailer_stats st;
    noa_tailer_stats(t, &st);
    assert_true(st.truncations >= 1);
    noa_tailer_free(t);
    coll_free(&c);
}

static void test_truncate_shorter(void **state)
{
    (void)state;
    char p[512];
    pathf(p, sizeof p, "tr.log");
    append_lines(p, "t", 0, 50);
    struct coll c = {0};
    struct noa_tailer *t = start(&c, "*.log", NULL, NULL);
    wait_lines(&c, 50);
    assert_int_equal(truncate(p, 0), 0);
    append_lines(p, "u", 0, 5);
    wait_lines(&c, 55);
    pthread_mutex_lock(&c.mu);
    assert_string_equal(c.v[50].line, "u000000");
    assert_string_equal(c.v[54].line, "u000004");
    assert_true(c.v[50].off > c.v[49].off);
    pthread_mutex_unlock(&c.mu);
    noa_tailer_free(t);
    coll_free(&c);
}

static void test_delete_while_open(void **state)
{
    (void)state;
    char p[512];
    pathf(p, sizeof p, "del.log");
    append_lines(p, "d", 0, 20);
    struct coll c = {0};
    c.refuse = 1;
    struct noa_tailer *t = start(&c, "*.log", NULL, NULL);
    usleep(100000);
    append_lines(p, "d", 20, 40);
    assert_int_equal(unlink(p), 0);
    usleep(100000);
    pthread_mutex_lock(&c.mu);
    c.refuse = 0;
    pthread_mutex_unlock(&c.mu);
    noa_tailer_resume(t);
    wait_lines(&c, 40);
    check_seq(&c, p, "d", 40);
    /* drained, then released: the deleted file is not kept open */
    wait_files_active(t, 0);
    pthread_mutex_lock(&c.mu);
    int done_calls = c.done_calls;
    pthread_mutex_unlock(&c.mu);
    assert_int_equal(done_calls, 1);
    noa_tailer_free(t);
    coll_free(&c);
}

static void test_partial_line(void **state)
{
    (void)state;
    char p[512];
    pathf(p, sizeof p, "part.log");
    append_raw(p, "full\nhalf");
    struct coll c = {0};
    struct noa_tailer *t = start(&c, "*.log", NULL, NULL);
    wait_lines(&c, 1);
    int64_t t0 = noa_clock_mono_ns();
    wait_lines(&c, 2); /* after idle_flush (200 ms) */
    assert_true(noa_clock_mono_ns() - t0 >= 100LL * 1000000);
    append_raw(p, "next\n");
    wait_lines(&c, 3);
    pthread_mutex_lock(&c.mu);
    assert_string_equal(c.v[1].line, "half");
    assert_int_equal(c.v[1].off, 9);
    assert_string_equal(c.v[2].line, "next");
    pthread_mutex_unlock(&c.mu);
    noa_tailer_free(t);
    coll_free(&c);
}

static void test_partial_line_not_sent_without_idle_flush(void **state)
{
    (void)state;
    char p[512];
    pathf(p, sizeof p, "part2.log");
    append_raw(p, "full\nhal");
    struct coll c = {0};
    struct noa_tailer_config cfg = {.idle_flush_ns = -1};
    struct noa_tailer *t = start(&c, "*.log", NULL, &cfg);
    wait_lines(&c, 1);
    usleep(300000);
    assert_int_equal(coll_n(&c), 1);
    append_raw(p, "f\n");
    wait_lines(&c, 2);
    assert_string_equal(c.v[1].line, "half");
    noa_tailer_free(t);
    coll_free(&c);
}

static void test_long_lines(void **state)
{
    (void)state;
    char p[512];
    pathf(p, sizeof p, "long.log");
    size_t big = 20000;
    char *s = malloc(big + 1);
    memset(s, 'x', big);
    s[big] = '\0';
    FILE *f = fopen(p, "w");
    fprintf(f, "short\n%s\nafter\n", s);
    fclose(f);
    struct coll c = {0};
    struct noa_tailer_config cfg = {
        .read_chunk = 4096, .max_line_size = 10000, .max_line_truncate = 1};
    struct noa_tailer *t = start(&c, "*.log", NULL, &cfg);
    wait_lines(&c, 3);
    assert_string_equal(c.v[0].line, "short");
    assert_int_equal(strlen(c.v[1].line), 10000);
    assert_string_equal(c.v[2].line, "after");
    assert_int_equal(c.v[2].off, 6 + big + 1 + 6);
    /* a line between chunk and limit is kept whole */
    f = fopen(p, "a");
    fprintf(f, "%.*s\n", 9000, s);
    fclose(f);
    wait_lines(&c, 4);
    assert_int_equal(strlen(c.v[3].line), 9000);
    noa_tailer_free(t);
    coll_free(&c);
    /* drop mode */
    struct coll d = {0};
    cfg.max_line_truncate = 0;
    t = start(&d, "*.log", NULL, &cfg);
    wait_lines(&d, 3);
    assert_string_equal(d.v[0].line, "short");
    assert_string_equal(d.v[1].line, "after");
    assert_int_equal(strlen(d.v[2].line), 9000);
    struct noa_tailer_stats st;
    noa_tailer_stats(t, &st);
    assert_int_equal(st.dropped_lines, 1);
    noa_tailer_free(t);
    coll_free(&d);
    free(s);
}

/* Runs a tailer until it has n new lines, committing each. */
static void run_once(struct noa_positions *pos, size_t n, struct coll *c)
{
    struct noa_tailer_config cfg = {.positions = pos};
    memset(c, 0, sizeof(*c));
    c->commit = 1;
    struct noa_tailer *t = start(c, "*.log", NULL, &cfg);
    wait_lines(c, n);
    usleep(50000);
    assert_int_equal(coll_n(c), n);
    noa_tailer_free(t);
}

static void test_restart_positions(void **state)
{
    (void)state;
    char p[512];
    pathf(p, sizeof p, "pos.log");
    append_lines(p, "s", 0, 10);
    struct noa_positions *pos = noa_positions_new_empty();
    struct coll c;
    run_once(pos, 10, &c);
    check_seq(&c, p, "s", 10);
    coll_free(&c);
    uint64_t off;
    assert_int_equal(noa_positions_get(pos, p, &off, NULL, NULL), 0);
    assert_int_equal(off, 80);
    /* same file, grown: only the new lines */
    append_lines(p, "s", 10, 15);
    run_once(pos, 5, &c);
    assert_string_equal(c.v[0].line, "s000010");
    assert_string_equal(c.v[4].line, "s000014");
    coll_free(&c);
    /* unchanged: nothing */
    {
        struct noa_tailer_config cfg = {.positions = pos};
        memset(&c, 0, sizeof c);
        struct noa_tailer *t = start(&c, "*.log", NULL, &cfg);
        usleep(300000);
        assert_int_equal(coll_n(&c), 0);
        noa_tailer_free(t);
        coll_free(&c);
    }
    /* truncated while stopped: from 0 */
    assert_int_equal(truncate(p, 0), 0);
    append_lines(p, "n", 0, 3);
    run_once(pos, 3, &c);
    check_seq(&c, p, "n", 3);
    coll_free(&c);
    /* replaced by another file, longer than the offset: from 0 */
    assert_int_equal(unlink(p), 0);
    append_lines(p, "m", 0, 20);
    run_once(pos, 20, &c);
    check_seq(&c, p, "m", 20);
    coll_free(&c);
    noa_positions_free(pos);
}

static void test_target_removed_forgets(void **state)
{
    (void)state;
    char p[512], q[512];
    pathf(p, sizeof p, "keep.log");
    pathf(q, sizeof q, "drop.txt");
    append_lines(p, "k", 0, 5);
    append_lines(q, "d", 0, 5);
    struct noa_positions *pos = noa_positions_new_empty();
    struct noa_tailer_config cfg = {.positions = pos};
    struct coll c = {0};
    c.commit = 1;
    struct noa_tailer *t = start(&c, "*.log", NULL, &cfg);
    char pat2[512];
    snprintf(pat2, sizeof pat2, "%s/*.txt", dir);
    struct noa_tailer_target two[2] = {{.include = p}, {.include = pat2}};
    assert_int_equal(noa_tailer_set_targets(t, two, 2, NULL), 0);
    wait_lines(&c, 10);
    uint64_t off;
    assert_int_equal(noa_positions_get(pos, q, &off, NULL, NULL), 0);
    assert_int_equal(off, 40);
    /* the .txt target goes away: its file is released and forgotten */
    assert_int_equal(noa_tailer_set_targets(t, two, 1, NULL), 0);
    wait_files_active(t, 1);
    assert_int_equal(noa_positions_get(pos, q, &off, NULL, NULL), NOA_ENOTFOUND);
    assert_int_equal(noa_positions_get(pos, p, &off, NULL, NULL), 0);
    /* a deleted file too */
    assert_int_equal(unlink(p), 0);
    wait_files_active(t, 0);
    assert_int_equal(noa_positions_get(pos, p, &off, NULL, NULL), NOA_ENOTFOUND);
    noa_tailer_free(t);
    check_seq(&c, p, "k", 5);
    check_seq(&c, q, "d", 5);
    pthread_mutex_lock(&c.mu);
    assert_int_equal(c.done_calls, 2);
    pthread_mutex_unlock(&c.mu);
    coll_free(&c);
    noa_positions_free(pos);
}

static void test_thousand_files(void **state)
{
    (void)state;
    char p[512];
    char sub[512];
    pathf(sub, sizeof sub, "many");
    assert_int_equal(mkdir(sub, 0755), 0);
    for (int i = 0; i < 1000; i++) {
        snprintf(p, sizeof p, "%s/many/f%04d.log", dir, i);
        append_lines(p, "k", 0, 10);
    }
    struct coll c = {0};
    struct noa_tailer *t = start(&c, "many/*.log", NULL, NULL);
    wait_lines(&c, 10000);
    for (int i = 0; i < 1000; i += 97) {
        snprintf(p, sizeof p, "%s/many/f%04d.log", dir, i);
        check_seq(&c, p, "k", 10);
    }
    /* new files appear through inotify without a rescan */
    snprintf(p, sizeof p, "%s/many/late.log", dir);
    append_lines(p, "k", 0, 10);
    wait_lines(&c, 10010);
    check_seq(&c, p, "k", 10);
    struct noa_tailer_stats st;
    noa_tailer_stats(t, &st);
    assert_int_equal(st.paths_active, 1001);
    noa_tailer_free(t);
    coll_free(&c);
}

static void test_polling_mode(void **state)
{
    (void)state;
    char p[512], r[600];
    char sub[512];
    pathf(sub, sizeof sub, "d1");
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(p, sizeof p, "%s/d1/x.log", dir);
    append_lines(p, "x", 0, 5);
    struct coll c = {0};
    struct noa_tailer_config cfg = {.no_inotify = 1, .sync_period_ns = 100LL * 1000000};
    struct noa_tailer *t = start(&c, "**/*.log", NULL, &cfg);
    wait_lines(&c, 5);
    struct noa_tailer_stats st;
    noa_tailer_stats(t, &st);
    assert_int_equal(st.polling, 1);
    append_lines(p, "x", 5, 10);
    wait_lines(&c, 10);
    snprintf(r, sizeof r, "%s.1", p);
    assert_int_equal(rename(p, r), 0);
    append_lines(p, "x", 10, 15);
    wait_lines(&c, 15);
    check_seq(&c, p, "x", 15);
    /* a new directory and file found by the rescan */
    pathf(sub, sizeof sub, "d1/d2");
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(p, sizeof p, "%s/d1/d2/y.log", dir);
    append_lines(p, "y", 0, 3);
    wait_lines(&c, 18);
    check_seq(&c, p, "y", 3);
    noa_tailer_free(t);
    coll_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exclude_and_crlf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_rotation_while_writing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotations_while_paused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotated_name_matches_glob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_after_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logrotate_shifting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copytruncate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_shorter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_while_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_line_not_sent_without_idle_flush, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_long_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_positions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_target_removed_forgets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thousand_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_polling_mode, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
