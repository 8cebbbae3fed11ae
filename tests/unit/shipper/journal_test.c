/*
 * Unit tests for shipper/journal.c against real journal files written by
 * systemd-journal-remote from the export format into a mkdtemp directory:
 * lines, Promtail's __journal_* labels, JSON mode, matches, max_age, the
 * cursor kept across a restart (no loss, no duplicate), following new
 * entries, backpressure and the bounded cursor table. The reader runs on
 * its own thread; the test thread waits with deadlines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/mem.h"
#include "shipper/journal.h"
#include "shipper/positions.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define JREMOTE "/lib/systemd/systemd-journal-remote"
#define BOOT "0123456789abcdef0123456789abcdef"

struct got {
    char *line;
    char *labels; /* noa_kvlist_format of the labels */
    char *source;
    int64_t ts_ns;
    uint64_t offset;
};

struct fx {
    char dir[64];
    char file[128];
    uint64_t mono;
    pthread_mutex_t mu;
    struct got got[4096];
    size_t n;
    int limit_first; /* answer NOA_ELIMIT this many times */
    int limit_calls;
    int answer; /* what emit answers otherwise (0 or 1) */
    int ticks;
    int flushed;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/noa-journal-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->file, sizeof(f->file), "%s/system.journal", f->dir);
    pthread_mutex_init(&f->mu, NULL);
    *state = f;
    return 0;
}

static void clear_got(struct fx *f)
{
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->n; i++) {
        free(f->got[i].line);
        free(f->got[i].labels);
        free(f->got[i].source);
    }
    f->n = 0;
    pthread_mutex_unlock(&f->mu);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    clear_got(f);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    pthread_mutex_destroy(&f->mu);
    free(f);
    return 0;
}

/* Appends entries in export format ("FIELD=value\n" lines, blank line
 * between entries) to the test's journal file. us = realtime of each entry,
 * increasing from base_us. */
static void write_journal(struct fx *f, const char *const *entries, size_t n, uint64_t base_us)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), JREMOTE " -o %s - 2>/dev/null", f->file);
    FILE *p = popen(cmd, "w");
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) {
        f->mono++;
        fprintf(p,
                "__REALTIME_TIMESTAMP=%llu\n__MONOTONIC_TIMESTAMP=%llu\n_BOOT_ID=" BOOT "\n%s\n\n",
                (unsigned long long)(base_us + i), (unsigned long long)f->mono, entries[i]);
    }
    assert_int_equal(pclose(p), 0);
}

static uint64_t now_us(void)
{
    return (uint64_t)noa_clock_real_ns() / 1000;
}

static int emit_cb(struct noa_entry *e, void *ctx)
{
    struct fx *f = ctx;
    pthread_mutex_lock(&f->mu);
    if (f->limit_calls < f->limit_first) {
        f->limit_calls++;
        /* a pipeline may have changed the entry before the queue said no */
        noa_buf_reset(&e->line);
        noa_buf_append(&e->line, "MANGLED", 7);
        pthread_mutex_unlock(&f->mu);
        return NOA_ELIMIT;
    }
    struct got *g = &f->got[f->n++];
    g->line = strndup(e->line.data ? e->line.data : "", e->line.len);
    struct noa_buf b = {0};
    noa_kvlist_format(&e->labels, &b);
    g->labels = strdup(noa_buf_cstr(&b));
    noa_buf_fini(&b);
    g->source = strndup(e->source.data ? e->source.data : "", e->source.len);
    g->ts_ns = e->ts_ns;
    g->offset = e->offset;
    int a = f->answer;
    pthread_mutex_unlock(&f->mu);
    return a;
}

static void tick_cb(int64_t now_ns, void *ctx)
{
    struct fx *f = ctx;
    (void)now_ns;
    pthread_mutex_lock(&f->mu);
    f->ticks++;
    pthread_mutex_unlock(&f->mu);
}

static void flush_cb(void *ctx)
{
    struct fx *f = ctx;
    pthread_mutex_lock(&f->mu);
    f->flushed++;
    pthread_mutex_unlock(&f->mu);
}

static size_t got_n(struct fx *f)
{
    pthread_mutex_lock(&f->mu);
    size_t n = f->n;
    pthread_mutex_unlock(&f->mu);
    return n;
}

/* Waits until n entries arrived (5 s deadline); returns how many did. */
static size_t wait_for(struct fx *f, size_t n)
{
    int64_t end = noa_clock_mono_ns() + 5000000000LL;
    while (got_n(f) < n && noa_clock_mono_ns() < end)
        usleep(2000);
    return got_n(f);
}

/* Lets the reader run a while more, to see that nothing else comes. */
static void settle(void)
{
    usleep(300000);
}

static struct noa_journal *open_target(struct fx *f, const struct noa_journal_config *c,
                                       struct noa_positions *pos)
{
    struct noa_journal_callbacks cb = {
        .emit_cb = emit_cb, .tick_cb = tick_cb, .flush_cb = flush_cb, .ctx = f};
    struct noa_journal *j = NULL;
    struct noa_error err = {0};
    int rc = noa_journal_new(c, &cb, pos, &j, &err);
    if (rc < 0)
        fail_msg("noa_journal_new: %s", err.msg);
    assert_int_equal(noa_journal_start(j), 0);
    return j;
}

static void test_entries_and_labels(void **state)
{
    struct fx *f = *state;
    const char *e[] = {
        "MESSAGE=hello world\n_SYSTEMD_UNIT=nginx.service\n_HOSTNAME=node1\nPRIORITY=3\n"
        "SYSLOG_IDENTIFIER=nginx\nENV=x",
        "MESSAGE=no priority\n_SYSTEMD_UNIT=cron.service",
        "_SYSTEMD_UNIT=nomsg.service\nCODE_LINE=1", /* no MESSAGE: skipped */
        "MESSAGE=first\nMESSAGE=second\nPRIORITY=9",
    };
    uint64_t base = now_us() - 1000000;
    write_journal(f, e, 4, base);
    struct noa_label labels[] = {{NOA_STR("job"), NOA_STR("systemd-journal")},
                                 {NOA_STR("__journal__hostname"), NOA_STR("override")}};
    struct noa_journal_config c = {
        .job_name = "sys", .path = f->dir, .labels = labels, .n_labels = 2};
    struct noa_journal *j = open_target(f, &c, NULL);
    assert_int_equal(wait_for(f, 3), 3);
    settle();
    noa_journal_free(j);
    assert_int_equal(f->n, 3);
    assert_string_equal(f->got[0].line, "hello world");
    assert_string_equal(f->got[0].labels,
                        "{__journal__boot_id=\"" BOOT "\", __journal__hostname=\"override\", "
                        "__journal__systemd_unit=\"nginx.service\", __journal_env=\"x\", "
                        "__journal_message=\"hello world\", __journal_priority=\"3\", "
                        "__journal_priority_keyword=\"error\", "
                        "__journal_syslog_identifier=\"nginx\", job=\"systemd-journal\"}");
    assert_string_equal(f->got[0].source, "journal-sys");
    assert_int_equal(f->got[0].offset, 1);
    assert_int_equal(f->got[0].ts_ns, (int64_t)base * 1000);
    assert_string_equal(f->got[1].line, "no priority");
    assert_null(strstr(f->got[1].labels, "__journal_priority"));
    assert_int_equal(f->got[1].offset, 2);
    assert_int_equal(f->got[1].ts_ns, (int64_t)(base + 1) * 1000);
    /* a repeated field: the last value, as Promtail's map keeps it */
    assert_string_equal(f->got[2].line, "second");
    assert_non_null(strstr(f->got[2].labels, "__journal_priority_keyword=\"9\""));
    assert_int_equal(f->got[2].offset, 3);
    assert_int_equal(f->ticks > 0, 1);
    assert_int_equal(f->flushed, 1);
}

static void test_json_mode(void **state)
{
    struct fx *f = *state;
    const char *e[] = {"MESSAGE=a <b> & \"c\"\n_SYSTEMD_UNIT=x.service\nA_B=1\nAB=2",
                       "_SYSTEMD_UNIT=nomsg.service"};
    write_journal(f, e, 2, now_us() - 1000);
    struct noa_journal_config c = {.job_name = "j", .path = f->dir, .json = 1};
    struct noa_journal *j = open_target(f, &c, NULL);
    assert_int_equal(wait_for(f, 2), 2);
    noa_journal_free(j);
    /* Go's encoding/json: keys sorted bytewise, HTML-safe escapes */
    assert_string_equal(f->got[0].line,
                        "{\"AB\":\"2\",\"A_B\":\"1\","
                        "\"MESSAGE\":\"a \\u003cb\\u003e \\u0026 \\\"c\\\"\","
                        "\"_BOOT_ID\":\"" BOOT "\",\"_SYSTEMD_UNIT\":\"x.service\"}");
    /* JSON mode keeps entries without MESSAGE */
    assert_string_equal(f->got[1].line,
                        "{\"_BOOT_ID\":\"" BOOT "\",\"_SYSTEMD_UNIT\":\"nomsg.service\"}");
}

/* Go's (jsoniter's) escaping of what only the binary export form can carry:
 * newlines, control bytes, invalid UTF-8, U+2028. */
static void test_json_escapes(void **state)
{
    struct fx *f = *state;
    static const char msg[] = "a\nb\t\x01\xff\xe2\x80\xa8z";
    char cmd[256];
    snprintf(cmd, sizeof(cmd), JREMOTE " -o %s - 2>/dev/null", f->file);
    FILE *p = popen(cmd, "w");
    assert_non_null(p);
    fprintf(p, "__REALTIME_TIMESTAMP=%llu\n__MONOTONIC_TIMESTAMP=1\n_BOOT_ID=" BOOT "\nMESSAGE\n",
            (unsigned long long)(now_us() - 1000));
    uint64_t len = sizeof(msg) - 1; /* little-endian length, then the bytes */
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(len >> (8 * i));
    fwrite(le, 1, 8, p);
    fwrite(msg, 1, len, p);
    fprintf(p, "\n\n");
    assert_int_equal(pclose(p), 0);
    struct noa_journal_config c = {.job_name = "esc", .path = f->dir, .json = 1};
    struct noa_journal *j = open_target(f, &c, NULL);
    assert_int_equal(wait_for(f, 1), 1);
    noa_journal_free(j);
    assert_string_equal(f->got[0].line, "{\"MESSAGE\":\"a\\nb\\t\\u0001\\ufffd\\u2028z\","
                                        "\"_BOOT_ID\":\"" BOOT "\"}");
    clear_got(f);
    /* plain mode: the line is the bytes as they are */
    c.json = 0;
    j = open_target(f, &c, NULL);
    assert_int_equal(wait_for(f, 1), 1);
    noa_journal_free(j);
    assert_memory_equal(f->got[0].line, msg, sizeof(msg));
}

static void test_matches(void **state)
{
    struct fx *f = *state;
    const char *e[] = {"MESSAGE=1\n_SYSTEMD_UNIT=a.service", "MESSAGE=2\n_SYSTEMD_UNIT=b.service",
                       "MESSAGE=3\n_SYSTEMD_UNIT=c.service\nPRIORITY=3",
                       "MESSAGE=4\n_SYSTEMD_UNIT=a.service\nPRIORITY=6"};
    write_journal(f, e, 4, now_us() - 1000);

    struct noa_journal_config c = {
        .job_name = "m", .path = f->dir, .matches = "_SYSTEMD_UNIT=a.service"};
    struct noa_journal *j = open_target(f, &c, NULL);
    assert_int_equal(wait_for(f, 2), 2);
    settle();
    noa_journal_free(j);
    assert_int_equal(f->n, 2);
    assert_string_equal(f->got[0].line, "1");
    assert_string_equal(f->got[1].line, "4");
    clear_got(f);

    /* same field twice: OR; "+" between groups: OR of ANDs */
    c.matches = "_SYSTEMD_UNIT=a.service PRIORITY=6 + _SYSTEMD_UNIT=c.service";
    j = open_target(f, &c, NULL);
    assert_int_equal(wait_for(f, 2), 2);
    settle();
    noa_journal_free(j);
    assert_int_equal(f->n, 2);
    assert_string_equal(f->got[0].line, "3");
    assert_string_equal(f->got[1].line, "4");
}

static int count_term(struct noa_str field, struct noa_str value, void *ctx)
{
    int *n = ctx;
    (void)field;
    (void)value;
    (*n)++;
    return 0;
}

static int count_or(void *ctx)
{
    int *n = ctx;
    *n += 100;
    return 0;
}

static void test_parse_matches(void **state)
{
    (void)state;
    struct noa_error err = {0};
    int n = 0;
    assert_int_equal(
        noa_journal_parse_matches("  A=1\tB=x=y + _C=  ", count_term, count_or, &n, &err), 0);
    assert_int_equal(n, 103);
    assert_int_equal(noa_journal_parse_matches(NULL, count_term, count_or, &n, &err), 0);
    assert_int_equal(noa_journal_parse_matches("A", NULL, NULL, NULL, &err), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "\"A\" is not FIELD=value"));
    assert_int_equal(noa_journal_parse_matches("unit=x", NULL, NULL, NULL, &err), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "bad field name \"unit\""));
    assert_int_equal(noa_journal_parse_matches("=x", NULL, NULL, NULL, &err), NOA_EINVAL);
    assert_int_equal(noa_journal_parse_matches("1A=x", NULL, NULL, NULL, &err), NOA_EINVAL);

    struct noa_journal *j = NULL;
    struct noa_journal_callbacks cb = {.emit_cb = emit_cb};
    struct noa_journal_config c = {.job_name = "x", .path = "/nonexistent", .matches = "bad"};
    assert_int_equal(noa_journal_new(&c, &cb, NULL, &j, &err), NOA_EINVAL);
    assert_null(j);
    c.job_name = "";
    assert_int_equal(noa_journal_new(&c, &cb, NULL, &j, &err), NOA_EINVAL);

    assert_true(noa_str_eq_c(noa_journal_priority_keyword(NOA_STR("0")), "emerg"));
    assert_true(noa_str_eq_c(noa_journal_priority_keyword(NOA_STR("4")), "warning"));
    assert_true(noa_str_eq_c(noa_journal_priority_keyword(NOA_STR("7")), "debug"));
    assert_true(noa_str_eq_c(noa_journal_priority_keyword(NOA_STR("10")), "10"));
}

static void test_max_age(void **state)
{
    struct fx *f = *state;
    uint64_t now = now_us();
    const char *old[] = {"MESSAGE=old1", "MESSAGE=old2"};
    write_journal(f, old, 2, now - 7200ull * 1000000); /* two hours ago */
    const char *young[] = {"MESSAGE=young"};
    write_journal(f, young, 1, now - 60ull * 1000000);
    struct noa_journal_config c = {
        .job_name = "age", .path = f->dir, .max_age_ns = 3600LL * 1000000000LL};
    struct noa_journal *j = open_target(f, &c, NULL);
    assert_int_equal(wait_for(f, 1), 1);
    settle();
    assert_int_equal(f->n, 1);
    assert_string_equal(f->got[0].line, "young");
    struct noa_journal_stats st;
    noa_journal_stats(j, &st);
    assert_int_equal(st.entries, 1); /* the seek passed the old ones */
    /* once caught up, a new entry with an old timestamp (a clock set
     * back) is not skipped */
    const char *back[] = {"MESSAGE=backdated"};
    write_journal(f, back, 1, now - 7000ull * 1000000);
    assert_int_equal(wait_for(f, 2), 2);
    noa_journal_free(j);
    assert_string_equal(f->got[1].line, "backdated");
    clear_got(f);

    /* the default (7h) takes all four */
    c.max_age_ns = 0;
    j = open_target(f, &c, NULL);
    assert_int_equal(wait_for(f, 4), 4);
    noa_journal_free(j);
}

static char *saved_cursor(struct noa_positions *pos, const char *key)
{
    char *c = NULL;
    if (noa_positions_get_cursor(pos, key, &c) < 0)
        return NULL;
    return c;
}

static void test_cursor_resume(void **state)
{
    struct fx *f = *state;
    const char *e[] = {"MESSAGE=l1", "MESSAGE=l2", "MESSAGE=l3", "MESSAGE=l4"};
    uint64_t base = now_us() - 10000;
    write_journal(f, e, 4, base);
    struct noa_positions *pos = noa_positions_new_empty();
    struct noa_journal_config c = {.job_name = "res", .path = f->dir};
    struct noa_journal *j = open_target(f, &c, pos);
    assert_string_equal(noa_journal_cursor_key(j), "cursor-res");
    assert_int_equal(wait_for(f, 4), 4);
    /* nothing acknowledged: no cursor */
    assert_null(saved_cursor(pos, "cursor-res"));
    noa_journal_acked(j, 2);
    char *cur = saved_cursor(pos, "cursor-res");
    assert_non_null(cur);
    assert_non_null(strstr(cur, ";i=2;")); /* the second entry of the file */
    noa_free(cur);
    /* an older ack never moves the cursor back */
    noa_journal_acked(j, 1);
    cur = saved_cursor(pos, "cursor-res");
    assert_non_null(strstr(cur, ";i=2;"));
    noa_free(cur);
    struct noa_journal_stats st;
    noa_journal_stats(j, &st);
    assert_int_equal(st.entries, 4);
    assert_int_equal(st.acked_seq, 2);
    assert_int_equal(st.emitted_seq, 4);
    noa_journal_free(j); /* "crash" with l3, l4 unacknowledged */
    clear_got(f);

    /* restart: l3 and l4 again (they were not acknowledged), not l1/l2 */
    j = open_target(f, &c, pos);
    assert_int_equal(wait_for(f, 2), 2);
    settle();
    assert_int_equal(f->n, 2);
    assert_string_equal(f->got[0].line, "l3");
    assert_string_equal(f->got[1].line, "l4");
    assert_int_equal(f->got[0].offset, 1); /* sequence numbers restart */
    noa_journal_acked(j, 2);
    /* follow: entries written while running arrive */
    const char *more[] = {"MESSAGE=l5", "MESSAGE=l6"};
    write_journal(f, more, 2, base + 100);
    assert_int_equal(wait_for(f, 4), 4);
    assert_string_equal(f->got[2].line, "l5");
    assert_string_equal(f->got[3].line, "l6");
    noa_journal_acked(j, 4);
    noa_journal_free(j);
    clear_got(f);

    /* everything acknowledged: a restart sends nothing, then only new lines */
    j = open_target(f, &c, pos);
    settle();
    assert_int_equal(got_n(f), 0);
    const char *last[] = {"MESSAGE=l7"};
    write_journal(f, last, 1, base + 200);
    assert_int_equal(wait_for(f, 1), 1);
    settle();
    noa_journal_free(j);
    assert_int_equal(f->n, 1);
    assert_string_equal(f->got[0].line, "l7");
    clear_got(f);

    /* Promtail's older key is read when the current one is absent */
    cur = saved_cursor(pos, "cursor-res");
    assert_int_equal(noa_positions_remove(pos, "cursor-res"), 0);
    assert_int_equal(noa_positions_set_cursor(pos, "journal-res", cur), 0);
    noa_free(cur);
    j = open_target(f, &c, pos);
    assert_int_equal(wait_for(f, 1), 1);
    settle();
    assert_int_equal(f->n, 1);
    assert_string_equal(f->got[0].line, "l7"); /* l6 was saved under the old key */
    /* the old key gives way to the current one at the next save */
    noa_journal_acked(j, 1);
    cur = saved_cursor(pos, "cursor-res");
    assert_non_null(cur);
    noa_free(cur);
    assert_null(saved_cursor(pos, "journal-res"));
    noa_journal_free(j);
    noa_positions_free(pos);
}

static void test_dropped_entries_move_cursor(void **state)
{
    struct fx *f = *state;
    const char *e[] = {"MESSAGE=d1", "MESSAGE=d2"};
    write_journal(f, e, 2, now_us() - 1000);
    struct noa_positions *pos = noa_positions_new_empty();
    f->answer = 1; /* the pipeline drops everything: no ack will come */
    struct noa_journal_config c = {.job_name = "drop", .path = f->dir};
    struct noa_journal *j = open_target(f, &c, pos);
    assert_int_equal(wait_for(f, 2), 2);
    settle();
    noa_journal_free(j);
    char *cur = saved_cursor(pos, "cursor-drop");
    assert_non_null(cur);
    assert_non_null(strstr(cur, ";i=2;"));
    noa_free(cur);
    noa_positions_free(pos);
}

static void test_backpressure(void **state)
{
    struct fx *f = *state;
    const char *e[] = {"MESSAGE=bp1", "MESSAGE=bp2"};
    write_journal(f, e, 2, now_us() - 1000);
    f->limit_first = 3;
    struct noa_journal_config c = {.job_name = "bp", .path = f->dir};
    int64_t t0 = noa_clock_mono_ns();
    struct noa_journal *j = open_target(f, &c, NULL);
    assert_int_equal(wait_for(f, 2), 2);
    int64_t took = noa_clock_mono_ns() - t0;
    settle();
    struct noa_journal_stats st;
    noa_journal_stats(j, &st);
    noa_journal_free(j);
    assert_int_equal(f->n, 2);
    /* the same entry, rebuilt after the pipeline changed it, once */
    assert_string_equal(f->got[0].line, "bp1");
    assert_int_equal(f->got[0].offset, 1);
    assert_string_equal(f->got[1].line, "bp2");
    assert_int_equal(f->got[1].offset, 2);
    assert_int_equal(st.limited, 3);
    /* waited 10 + 20 + 40 ms, not a busy loop */
    assert_true(took >= 70000000LL);
}

static void test_cursor_table_bounded(void **state)
{
    struct fx *f = *state;
    enum { N = 3000 };
    static char bufs[N][24];
    static const char *e[N];
    for (int i = 0; i < N; i++) {
        snprintf(bufs[i], sizeof(bufs[i]), "MESSAGE=n%d", i + 1);
        e[i] = bufs[i];
    }
    write_journal(f, e, N, now_us() - 100000);
    struct noa_positions *pos = noa_positions_new_empty();
    struct noa_journal_config c = {.job_name = "big", .path = f->dir};
    struct noa_journal *j = open_target(f, &c, pos);
    assert_int_equal(wait_for(f, N), N);
    for (int i = 0; i < N; i++)
        assert_int_equal(f->got[i].offset, (uint64_t)i + 1);
    /* an ack in the compacted past saves a cursor at or before it */
    noa_journal_acked(j, 1001);
    char *cur = saved_cursor(pos, "cursor-big");
    assert_non_null(cur);
    const char *ip = strstr(cur, ";i=");
    assert_non_null(ip);
    unsigned long long i = strtoull(ip + 3, NULL, 16);
    assert_true(i <= 1001);
    assert_true(i >= 1);
    noa_free(cur);
    /* the newest entry is always remembered exactly */
    noa_journal_acked(j, N);
    cur = saved_cursor(pos, "cursor-big");
    char want[32];
    snprintf(want, sizeof(want), ";i=%x;", N);
    assert_non_null(strstr(cur, want));
    noa_free(cur);
    noa_journal_free(j);
    noa_positions_free(pos);
}

static void test_open_errors(void **state)
{
    (void)state;
    struct noa_journal *j = NULL;
    struct noa_error err = {0};
    struct noa_journal_callbacks cb = {.emit_cb = emit_cb};
    struct noa_journal_config c = {.job_name = "x", .path = "/nonexistent/dir"};
    int rc = noa_journal_new(&c, &cb, NULL, &j, &err);
    assert_true(rc < 0);
    assert_null(j);
    assert_non_null(strstr(err.msg, "/nonexistent/dir"));
    cb.emit_cb = NULL;
    c.path = "/tmp";
    assert_int_equal(noa_journal_new(&c, &cb, NULL, &j, &err), NOA_EINVAL);
    noa_journal_free(NULL);
}

int main(void)
{
    if (access(JREMOTE, X_OK) != 0) {
        printf("skipping: %s not installed\n", JREMOTE);
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_entries_and_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_matches, setup, teardown),
        cmocka_unit_test(test_parse_matches),
        cmocka_unit_test_setup_teardown(test_max_age, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cursor_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dropped_entries_move_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cursor_table_bounded, setup, teardown),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
