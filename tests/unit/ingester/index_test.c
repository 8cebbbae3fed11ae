/*
 * Unit tests for ingester/index: many series over several days, every
 * matcher type, dedup across days, exact partial-day answers, chunk refs,
 * label names/values (including bytes that need escaping), stats,
 * retention helpers, durability across close/reopen, a second opener being
 * refused, and corrupt records being skipped and counted. Each test opens
 * its own index in a temporary directory.
 */
#include "ingester/index.h"

#include "common/mem.h"
#include "common/selector.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define NSERIES 200
#define DAY NOA_INDEX_DAY_NS
#define HOUR 3600000000000LL
#define D0 19700LL /* first day of the data set */

struct fixture {
    char dir[128];
    struct noa_index *idx;
};

static void rm_rf(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", dir);
}

/* Builds sorted labels app/env/pod for series i. */
struct series_labels {
    char app[16], env[8], pod[16];
    struct noa_label v[3];
    struct noa_labels ls;
};

static void series_labels(int i, struct series_labels *s)
{
    snprintf(s->app, sizeof(s->app), "app%d", i % 5);
    snprintf(s->env, sizeof(s->env), "%s", i % 2 ? "prod" : "dev");
    snprintf(s->pod, sizeof(s->pod), "pod-%d", i);
    s->v[0] = (struct noa_label){NOA_STR("app"), noa_str_c(s->app)};
    s->v[1] = (struct noa_label){NOA_STR("env"), noa_str_c(s->env)};
    s->v[2] = (struct noa_label){NOA_STR("pod"), noa_str_c(s->pod)};
    s->ls = (struct noa_labels){s->v, 3};
}

static struct noa_chunk_ref make_ref(const char *tenant, uint64_t fp, int64_t from, int64_t through,
                                     uint32_t cksum)
{
    struct noa_chunk_ref r = {.fp = fp,
                              .from_ns = from,
                              .through_ns = through,
                              .checksum = cksum,
                              .entries = 100 + fp,
                              .raw_bytes = 1000 * fp,
                              .compressed_bytes = 100 * fp};
    struct noa_chunk_summary sum = {.from_ns = from, .through_ns = through, .checksum = cksum};
    assert_int_equal(noa_chunk_key(r.key, sizeof(r.key), tenant, fp, &sum), 0);
    return r;
}

/* Series i (fp = i + 1) has a chunk in day D0 + i%3, 01:00-02:00; every
 * tenth series also has one crossing midnight D0+3 -> D0+4. */
static void load(struct noa_index *idx)
{
    struct noa_error err = {0};
    for (int i = 0; i < NSERIES; i++) {
        struct series_labels s;
        uint64_t fp = (uint64_t)i + 1;
        series_labels(i, &s);
        int64_t day = (D0 + i % 3) * DAY;
        struct noa_chunk_ref r = make_ref("t1", fp, day + HOUR, day + 2 * HOUR, (uint32_t)fp);
        assert_int_equal(noa_index_add_chunk(idx, "t1", &s.ls, fp, &r, &err), 0);
        if (i % 10 == 0) {
            r = make_ref("t1", fp, (D0 + 4) * DAY - HOUR, (D0 + 4) * DAY + HOUR,
                         0xabc0000u + (uint32_t)i);
            assert_int_equal(noa_index_add_chunk(idx, "t1", &s.ls, fp, &r, &err), 0);
        }
    }
    /* another tenant reusing fp 1 with other labels */
    struct noa_label o[1] = {{NOA_STR("job"), NOA_STR("other")}};
    struct noa_labels ol = {o, 1};
    struct noa_chunk_ref r = make_ref("t2", 1, D0 * DAY, D0 * DAY + 5, 77);
    assert_int_equal(noa_index_add_chunk(idx, "t2", &ol, 1, &r, &err), 0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct noa_error err = {0};
    snprintf(f->dir, sizeof(f->dir), "/tmp/noa-index-test-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    if (noa_index_open(f->dir, NULL, &f->idx, &err) != 0) {
        fprintf(stderr, "open: %s\n", err.msg);
        return -1;
    }
    load(f->idx);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    noa_index_close(f->idx);
    rm_rf(f->dir);
    free(f);
    return 0;
}

/* ---- series ---------------------------------------------------------------- */

struct got {
    int count[NSERIES + 2]; /* by fp */
    int total;
    int stop_at;
};

static int got_cb(uint64_t fp, const struct noa_labels *ls, void *ctx)
{
    struct got *g = ctx;
    assert_true(fp >= 1 && fp <= NSERIES);
    /* the labels handed over are the series' own */
    struct series_labels want;
    series_labels((int)fp - 1, &want);
    assert_int_equal(noa_labels_cmp(ls, &want.ls), 0);
    g->count[fp]++;
    g->total++;
    return g->stop_at && g->total == g->stop_at ? 7 : 0;
}

static void check_once(const struct got *g)
{
    for (int i = 0; i < NSERIES + 2; i++)
        assert_true(g->count[i] <= 1);
}

/* Runs a selector over the whole data set; returns how many series matched. */
static int run_sel(struct fixture *f, const char *text, int64_t from, int64_t through,
                   struct got *g)
{
    struct noa_selector sel;
    struct noa_error err = {0};
    memset(g, 0, sizeof(*g));
    if (noa_selector_parse_str(text, &sel, &err) != 0)
        fail_msg("selector %s: %s", text, err.msg);
    assert_int_equal(noa_index_series(f->idx, "t1", from, through, &sel, got_cb, g), 0);
    noa_selector_fini(&sel);
    check_once(g);
    return g->total;
}

static void test_series_all(void **state)
{
    struct fixture *f = *state;
    struct got g = {0};
    assert_int_equal(noa_index_series(f->idx, "t1", INT64_MIN, INT64_MAX, NULL, got_cb, &g), 0);
    assert_int_equal(g.total, NSERIES);
    check_once(&g);

    /* one whole day: the series whose chunk falls in it */
    memset(&g, 0, sizeof(g));
    assert_int_equal(
        noa_index_series(f->idx, "t1", (D0 + 1) * DAY, (D0 + 2) * DAY - 1, NULL, got_cb, &g), 0);
    for (int i = 0; i < NSERIES; i++)
        assert_int_equal(g.count[i + 1], i % 3 == 1);

    /* tenants are isolated, unknown tenants are empty */
    memset(&g, 0, sizeof(g));
    assert_int_equal(noa_index_series(f->idx, "nobody", INT64_MIN, INT64_MAX, NULL, got_cb, &g), 0);
    assert_int_equal(g.total, 0);
    /* an empty or inverted range finds nothing */
    assert_int_equal(noa_index_series(f->idx, "t1", 10, 5, NULL, got_cb, &g), 0);
    assert_int_equal(noa_index_series(f->idx, "t1", 0, DAY, NULL, got_cb, &g), 0);
    assert_int_equal(g.total, 0);

    /* a nonzero callback result stops the walk and comes back */
    memset(&g, 0, sizeof(g));
    g.stop_at = 5;
    assert_int_equal(noa_index_series(f->idx, "t1", INT64_MIN, INT64_MAX, NULL, got_cb, &g), 7);
    assert_int_equal(g.total, 5);
}

static void test_series_matchers(void **state)
{
    struct fixture *f = *state;
    struct got g;
    int64_t a = INT64_MIN, z = INT64_MAX;

    assert_int_equal(run_sel(f, "{app=\"app1\"}", a, z, &g), NSERIES / 5);
    for (int i = 0; i < NSERIES; i++)
        assert_int_equal(g.count[i + 1], i % 5 == 1);

    assert_int_equal(run_sel(f, "{app=\"app1\", env!=\"prod\"}", a, z, &g), NSERIES / 10);
    for (int i = 0; i < NSERIES; i++)
        assert_int_equal(g.count[i + 1], i % 5 == 1 && i % 2 == 0);

    assert_int_equal(run_sel(f, "{app=\"app1\", env=\"prod\"}", a, z, &g), NSERIES / 10);
    assert_int_equal(run_sel(f, "{app=~\"app[12]\"}", a, z, &g), 2 * NSERIES / 5);
    int want = 0;
    run_sel(f, "{app=~\"app1|app2\", pod!~\"pod-1.*\"}", a, z, &g);
    for (int i = 0; i < NSERIES; i++) {
        char pod[16];
        snprintf(pod, sizeof(pod), "%d", i);
        int in = (i % 5 == 1 || i % 5 == 2) && pod[0] != '1';
        assert_int_equal(g.count[i + 1], in);
        want += in;
    }
    assert_int_equal(g.total, want);
    assert_int_equal(want, 35); /* 80 minus pod-1, pod-1x and pod-1xx ones */
    assert_int_equal(run_sel(f, "{pod=~\"pod-1[0-9]\"}", a, z, &g), 10);
    assert_int_equal(run_sel(f, "{app=\"nope\"}", a, z, &g), 0);
    assert_int_equal(run_sel(f, "{nolabel=\"x\"}", a, z, &g), 0);
    assert_int_equal(run_sel(f, "{app=~\"zz.*\"}", a, z, &g), 0);
    /* a matcher that accepts "" cannot narrow but still filters */
    assert_int_equal(run_sel(f, "{app=\"app3\", env=~\"prod|\"}", a, z, &g), NSERIES / 10);
    assert_int_equal(run_sel(f, "{app=\"app3\", missing=\"\"}", a, z, &g), NSERIES / 5);
    assert_int_equal(run_sel(f, "{app=\"app3\", missing!=\"\"}", a, z, &g), 0);
    /* only regexes: values enumerated from postings */
    assert_int_equal(run_sel(f, "{env=~\".+\"}", a, z, &g), NSERIES);
    assert_int_equal(run_sel(f, "{env=~\"pr.*\", app!~\"app[0-3]\"}", a, z, &g), NSERIES / 10);
}

/* Series 0, 10, ... have chunks in two separate days and one crossing
 * midnight: each is reported once. */
static void test_series_dedup_across_days(void **state)
{
    struct fixture *f = *state;
    struct got g;
    assert_int_equal(run_sel(f, "{pod=~\"pod-[0-9]*0\"}", INT64_MIN, INT64_MAX, &g), NSERIES / 10);
    /* days D0+3 and D0+4 hold only the midnight chunks */
    assert_int_equal(run_sel(f, "{env=~\".+\"}", (D0 + 3) * DAY, (D0 + 5) * DAY - 1, &g),
                     NSERIES / 10);
    struct got all = {0};
    assert_int_equal(
        noa_index_series(f->idx, "t1", (D0 + 3) * DAY, (D0 + 5) * DAY - 1, NULL, got_cb, &all), 0);
    assert_int_equal(all.total, NSERIES / 10);
    check_once(&all);
}

/* In a partial day the answer depends on chunk times, not just the day. */
static void test_series_partial_days(void **state)
{
    struct fixture *f = *state;
    struct got g;
    int64_t day = D0 * DAY;
    /* 00:00-00:30 of D0: chunks there run 01:00-02:00 */
    assert_int_equal(run_sel(f, "{env=~\".+\"}", day, day + HOUR / 2, &g), 0);
    memset(&g, 0, sizeof(g));
    assert_int_equal(noa_index_series(f->idx, "t1", day, day + HOUR / 2, NULL, got_cb, &g), 0);
    assert_int_equal(g.total, 0);
    /* 01:30-01:40 */
    assert_int_equal(
        run_sel(f, "{env=~\".+\"}", day + HOUR + HOUR / 2, day + HOUR + HOUR / 2 + 1, &g),
        (NSERIES + 2) / 3);
    /* exactly the chunk's last nanosecond */
    assert_int_equal(run_sel(f, "{app=\"app0\"}", day + 2 * HOUR, day + 2 * HOUR, &g),
                     (NSERIES / 5 + 2) / 3);
    /* 23:30 of D0+3: only the midnight chunks */
    assert_int_equal(run_sel(f, "{env=~\".+\"}", (D0 + 4) * DAY - HOUR / 2, (D0 + 4) * DAY - 1, &g),
                     NSERIES / 10);
}

/* ---- chunk refs ------------------------------------------------------------ */

struct refs {
    struct noa_chunk_ref v[16];
    int n;
};

static int refs_cb(const struct noa_chunk_ref *r, void *ctx)
{
    struct refs *s = ctx;
    assert_true(s->n < 16);
    s->v[s->n++] = *r;
    return 0;
}

static void test_chunks(void **state)
{
    struct fixture *f = *state;
    struct refs s = {0};
    /* series index 10 (fp 11): a chunk in D0+1 and the midnight one */
    assert_int_equal(noa_index_chunks(f->idx, "t1", 11, INT64_MIN, INT64_MAX, refs_cb, &s), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.v[0].from_ns, (D0 + 1) * DAY + HOUR);
    assert_int_equal(s.v[0].through_ns, (D0 + 1) * DAY + 2 * HOUR);
    assert_int_equal(s.v[0].checksum, 11);
    assert_int_equal(s.v[0].fp, 11);
    assert_int_equal(s.v[0].entries, 111);
    assert_int_equal(s.v[0].raw_bytes, 11000);
    assert_int_equal(s.v[0].compressed_bytes, 1100);
    struct noa_chunk_ref want = make_ref("t1", 11, s.v[0].from_ns, s.v[0].through_ns, 11);
    assert_string_equal(s.v[0].key, want.key);
    assert_int_equal(s.v[1].from_ns, (D0 + 4) * DAY - HOUR);
    assert_int_equal(s.v[1].checksum, 0xabc0000u + 10);

    /* only the second half of the midnight chunk's range */
    memset(&s, 0, sizeof(s));
    assert_int_equal(noa_index_chunks(f->idx, "t1", 11, (D0 + 4) * DAY, INT64_MAX, refs_cb, &s), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.v[0].checksum, 0xabc0000u + 10);
    /* touching the boundaries counts (inclusive range) */
    memset(&s, 0, sizeof(s));
    assert_int_equal(noa_index_chunks(f->idx, "t1", 11, (D0 + 1) * DAY + 2 * HOUR,
                                      (D0 + 1) * DAY + 2 * HOUR, refs_cb, &s),
                     0);
    assert_int_equal(s.n, 1);
    memset(&s, 0, sizeof(s));
    assert_int_equal(noa_index_chunks(f->idx, "t1", 11, (D0 + 1) * DAY + 2 * HOUR + 1,
                                      (D0 + 4) * DAY - HOUR - 1, refs_cb, &s),
                     0);
    assert_int_equal(s.n, 0);
    /* other streams and tenants are not mixed in */
    assert_int_equal(noa_index_chunks(f->idx, "t1", 999, INT64_MIN, INT64_MAX, refs_cb, &s), 0);
    assert_int_equal(noa_index_chunks(f->idx, "t2", 11, INT64_MIN, INT64_MAX, refs_cb, &s), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(noa_index_chunks(f->idx, "t2", 1, INT64_MIN, INT64_MAX, refs_cb, &s), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.v[0].checksum, 77);

    /* re-adding the same chunk changes nothing (idempotent) */
    struct series_labels sl;
    series_labels(10, &sl);
    struct noa_chunk_ref again =
        make_ref("t1", 11, (D0 + 1) * DAY + HOUR, (D0 + 1) * DAY + 2 * HOUR, 11);
    assert_int_equal(noa_index_add_chunk(f->idx, "t1", &sl.ls, 11, &again, NULL), 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(noa_index_chunks(f->idx, "t1", 11, INT64_MIN, INT64_MAX, refs_cb, &s), 0);
    assert_int_equal(s.n, 2);
}

/* ---- label names / values -------------------------------------------------- */

struct strs {
    char v[300][32];
    size_t len[300];
    int n;
};

static int strs_cb(struct noa_str s, void *ctx)
{
    struct strs *o = ctx;
    assert_true(o->n < 300 && s.len < 32);
    memcpy(o->v[o->n], s.p, s.len);
    o->len[o->n] = s.len;
    o->n++;
    return 0;
}

static void test_label_names(void **state)
{
    struct fixture *f = *state;
    struct strs s = {0};
    assert_int_equal(noa_index_label_names(f->idx, "t1", INT64_MIN, INT64_MAX, NULL, strs_cb, &s),
                     0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.v[0], "app");
    assert_string_equal(s.v[1], "env");
    assert_string_equal(s.v[2], "pod");

    memset(&s, 0, sizeof(s));
    assert_int_equal(noa_index_label_names(f->idx, "t2", INT64_MIN, INT64_MAX, NULL, strs_cb, &s),
                     0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.v[0], "job");

    struct noa_selector sel;
    assert_int_equal(noa_selector_parse_str("{app=\"app2\"}", &sel, NULL), 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(noa_index_label_names(f->idx, "t1", INT64_MIN, INT64_MAX, &sel, strs_cb, &s),
                     0);
    assert_int_equal(s.n, 3);
    memset(&s, 0, sizeof(s));
    /* day granularity without a selector, exact with one */
    assert_int_equal(noa_index_label_names(f->idx, "t1", D0 * DAY, D0 * DAY + 1, &sel, strs_cb, &s),
                     0);
    assert_int_equal(s.n, 0);
    assert_int_equal(noa_index_label_names(f->idx, "t1", D0 * DAY, D0 * DAY + 1, NULL, strs_cb, &s),
                     0);
    assert_int_equal(s.n, 3);
    noa_selector_fini(&sel);
    memset(&s, 0, sizeof(s));
    assert_int_equal(noa_index_label_names(f->idx, "t1", 0, 1, NULL, strs_cb, &s), 0);
    assert_int_equal(s.n, 0);
}

static void test_label_values(void **state)
{
    struct fixture *f = *state;
    struct strs s = {0};
    assert_int_equal(noa_index_label_values(f->idx, "t1", NOA_STR("app"), INT64_MIN, INT64_MAX,
                                            NULL, strs_cb, &s),
                     0);
    assert_int_equal(s.n, 5);
    for (int i = 0; i < 5; i++) {
        char want[8];
        snprintf(want, sizeof(want), "app%d", i);
        assert_string_equal(s.v[i], want);
    }
    memset(&s, 0, sizeof(s));
    assert_int_equal(noa_index_label_values(f->idx, "t1", NOA_STR("pod"), INT64_MIN, INT64_MAX,
                                            NULL, strs_cb, &s),
                     0);
    assert_int_equal(s.n, NSERIES);
    for (int i = 1; i < s.n; i++)
        assert_true(strcmp(s.v[i - 1], s.v[i]) < 0);

    /* values of one day */
    memset(&s, 0, sizeof(s));
    assert_int_equal(noa_index_label_values(f->idx, "t1", NOA_STR("pod"), (D0 + 2) * DAY,
                                            (D0 + 3) * DAY - 1, NULL, strs_cb, &s),
                     0);
    assert_int_equal(s.n, NSERIES / 3);

    struct noa_selector sel;
    assert_int_equal(noa_selector_parse_str("{app=\"app1\"}", &sel, NULL), 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(noa_index_label_values(f->idx, "t1", NOA_STR("env"), INT64_MIN, INT64_MAX,
                                            &sel, strs_cb, &s),
                     0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.v[0], "dev");
    assert_string_equal(s.v[1], "prod");
    memset(&s, 0, sizeof(s));
    assert_int_equal(noa_index_label_values(f->idx, "t1", NOA_STR("app"), INT64_MIN, INT64_MAX,
                                            &sel, strs_cb, &s),
                     0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.v[0], "app1");
    noa_selector_fini(&sel);

    memset(&s, 0, sizeof(s));
    assert_int_equal(noa_index_label_values(f->idx, "t1", NOA_STR("nope"), INT64_MIN, INT64_MAX,
                                            NULL, strs_cb, &s),
                     0);
    assert_int_equal(
        noa_index_label_values(f->idx, "t1", NOA_STR(""), INT64_MIN, INT64_MAX, NULL, strs_cb, &s),
        0);
    assert_int_equal(s.n, 0);
}

/* Values with bytes 0x00 and 0x01 (and names sharing prefixes) must come
 * back intact, in bytewise order, and never match each other. */
static void test_escaping(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *p;
        size_t n;
    } vals[] = {{"a", 1}, {"a\0", 2}, {"a\0b", 3}, {"a\1", 2}, {"a\2", 2}, {"ab", 2}, {"\1\1", 2}};
    const int nv = 7;
    for (int i = 0; i < nv; i++) {
        struct noa_label l[2] = {{NOA_STR("k"), {vals[i].p, vals[i].n}},
                                 {NOA_STR("kk"), NOA_STR("x")}};
        struct noa_labels ls = {l, 2};
        struct noa_chunk_ref r = make_ref("esc", 500 + (uint64_t)i, DAY, DAY + 1, 1);
        assert_int_equal(noa_index_add_chunk(f->idx, "esc", &ls, 500 + (uint64_t)i, &r, NULL), 0);
    }
    struct strs s = {0};
    assert_int_equal(noa_index_label_values(f->idx, "esc", NOA_STR("k"), INT64_MIN, INT64_MAX, NULL,
                                            strs_cb, &s),
                     0);
    assert_int_equal(s.n, nv);
    static const int order[] = {6, 0, 1, 2, 3, 4, 5}; /* bytewise */
    for (int i = 0; i < nv; i++) {
        assert_int_equal(s.len[i], vals[order[i]].n);
        assert_memory_equal(s.v[i], vals[order[i]].p, vals[order[i]].n);
    }
    memset(&s, 0, sizeof(s));
    assert_int_equal(noa_index_label_names(f->idx, "esc", INT64_MIN, INT64_MAX, NULL, strs_cb, &s),
                     0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.v[0], "k");
    assert_string_equal(s.v[1], "kk");

    /* k="a" matches exactly one series, not "a\0", "a\0b" or "ab" */
    struct noa_selector sel;
    assert_int_equal(noa_selector_parse_str("{k=\"a\"}", &sel, NULL), 0);
    struct noa_index_stats st;
    assert_int_equal(noa_index_stats(f->idx, "esc", INT64_MIN, INT64_MAX, &sel, &st), 0);
    assert_int_equal(st.streams, 1);
    assert_int_equal(st.chunks, 1);
    noa_selector_fini(&sel);
}

static void test_stats(void **state)
{
    struct fixture *f = *state;
    struct noa_index_stats st;
    struct noa_selector sel;
    assert_int_equal(noa_selector_parse_str("{app=\"app0\"}", &sel, NULL), 0);
    assert_int_equal(noa_index_stats(f->idx, "t1", INT64_MIN, INT64_MAX, &sel, &st), 0);
    /* app0: i = 0, 5, 10, ...; i%10 == 0 ones have a second chunk */
    uint64_t chunks = 0, bytes = 0, entries = 0;
    for (int i = 0; i < NSERIES; i += 5) {
        uint64_t fp = (uint64_t)i + 1, n = i % 10 == 0 ? 2 : 1;
        chunks += n;
        bytes += n * 1000 * fp;
        entries += n * (100 + fp);
    }
    assert_int_equal(st.streams, NSERIES / 5);
    assert_int_equal(st.chunks, chunks);
    assert_int_equal(st.bytes, bytes);
    assert_int_equal(st.entries, entries);
    noa_selector_fini(&sel);

    assert_int_equal(noa_index_stats(f->idx, "t1", INT64_MIN, INT64_MAX, NULL, &st), 0);
    assert_int_equal(st.streams, NSERIES);
    assert_int_equal(st.chunks, NSERIES + NSERIES / 10);
    assert_int_equal(noa_index_stats(f->idx, "none", INT64_MIN, INT64_MAX, NULL, &st), 0);
    assert_int_equal(st.streams, 0);
}

/* ---- maintenance ----------------------------------------------------------- */

static void test_tenants_and_days(void **state)
{
    struct fixture *f = *state;
    struct strs s = {0};
    assert_int_equal(noa_index_tenants(f->idx, strs_cb, &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.v[0], "t1");
    assert_string_equal(s.v[1], "t2");

    int n = 0;
    struct got g = {0};
    struct noa_error err = {0};
    assert_int_equal(noa_index_drop_day(f->idx, "t1", (int32_t)D0, &err), 0);
    assert_int_equal(noa_index_series(f->idx, "t1", D0 * DAY, (D0 + 1) * DAY - 1, NULL, got_cb, &g),
                     0);
    assert_int_equal(g.total, 0);
    memset(&g, 0, sizeof(g));
    assert_int_equal(noa_index_series(f->idx, "t1", INT64_MIN, INT64_MAX, NULL, got_cb, &g), 0);
    /* what remains: series with i%3 != 0, plus i%3 == 0 ones that also cross midnight */
    for (int i = 0; i < NSERIES; i++)
        n += i % 3 != 0 || i % 10 == 0;
    assert_int_equal(g.total, n);
    /* the other tenant's same day is untouched */
    struct refs t2 = {0};
    assert_int_equal(noa_index_chunks(f->idx, "t2", 1, INT64_MIN, INT64_MAX, refs_cb, &t2), 0);
    assert_int_equal(t2.n, 1);

    /* a chunk crossing midnight whose first day was dropped is still found */
    assert_int_equal(noa_index_drop_day(f->idx, "t1", (int32_t)(D0 + 3), &err), 0);
    memset(&t2, 0, sizeof(t2));
    assert_int_equal(noa_index_chunks(f->idx, "t1", 1, INT64_MIN, INT64_MAX, refs_cb, &t2), 0);
    assert_int_equal(t2.n, 1);
    assert_int_equal(t2.v[0].from_ns, (D0 + 4) * DAY - HOUR);

    /* deleting that chunk removes it from every day */
    assert_int_equal(noa_index_delete_chunk(f->idx, "t1", &t2.v[0], &err), 0);
    memset(&t2, 0, sizeof(t2));
    assert_int_equal(noa_index_chunks(f->idx, "t1", 1, INT64_MIN, INT64_MAX, refs_cb, &t2), 0);
    assert_int_equal(t2.n, 0);
}

static int count_refs_cb(const struct noa_chunk_ref *r, void *ctx)
{
    assert_true(r->fp >= 1 && r->fp <= NSERIES);
    (*(int *)ctx)++;
    return 0;
}

static void test_day_chunks(void **state)
{
    struct fixture *f = *state;
    int n = 0;
    assert_int_equal(noa_index_day_chunks(f->idx, "t1", (int32_t)(D0 + 1), count_refs_cb, &n), 0);
    assert_int_equal(n, 67); /* i % 3 == 1 for i in [0, 200) */
    n = 0;
    assert_int_equal(noa_index_day_chunks(f->idx, "t1", (int32_t)(D0 + 3), count_refs_cb, &n), 0);
    assert_int_equal(n, NSERIES / 10);
    n = 0;
    assert_int_equal(noa_index_day_chunks(f->idx, "t1", (int32_t)(D0 + 4), count_refs_cb, &n), 0);
    assert_int_equal(n, NSERIES / 10);
    n = 0;
    assert_int_equal(noa_index_day_chunks(f->idx, "t1", (int32_t)(D0 + 9), count_refs_cb, &n), 0);
    assert_int_equal(n, 0);
}

/* ---- durability and errors ------------------------------------------------- */

static void test_reopen(void **state)
{
    struct fixture *f = *state;
    struct noa_error err = {0};
    struct noa_index *second = NULL;
    /* one process at a time: the second opener is told, not corrupted */
    assert_int_equal(noa_index_open(f->dir, NULL, &second, &err), NOA_EUNAVAIL);
    assert_null(second);
    assert_true(err.msg[0] != 0);

    noa_index_close(f->idx);
    struct noa_index_opts o = {.block_cache_bytes = 1 << 20, .write_buffer_bytes = 1 << 20};
    assert_int_equal(noa_index_open(f->dir, &o, &f->idx, &err), 0);
    struct got g = {0};
    assert_int_equal(noa_index_series(f->idx, "t1", INT64_MIN, INT64_MAX, NULL, got_cb, &g), 0);
    assert_int_equal(g.total, NSERIES);
    struct refs s = {0};
    assert_int_equal(noa_index_chunks(f->idx, "t1", 11, INT64_MIN, INT64_MAX, refs_cb, &s), 0);
    assert_int_equal(s.n, 2);
}

static void test_format_stamp(void **state)
{
    struct fixture *f = *state;
    struct noa_error err = {0};
    assert_int_equal(noa_index_put_raw(f->idx, "Mformat", 7, "9", 1), 0);
    noa_index_close(f->idx);
    f->idx = NULL;
    assert_int_equal(noa_index_open(f->dir, NULL, &f->idx, &err), NOA_ECORRUPT);
    assert_null(f->idx);
    assert_non_null(strstr(err.msg, "format"));
}

static void test_add_errors(void **state)
{
    struct fixture *f = *state;
    struct noa_error err = {0};
    struct noa_label l[2] = {{NOA_STR("b"), NOA_STR("1")}, {NOA_STR("a"), NOA_STR("2")}};
    struct noa_labels ls = {l, 2};
    struct noa_chunk_ref r = make_ref("t1", 5, 0, 10, 1);
    assert_int_equal(noa_index_add_chunk(f->idx, "t1", &ls, 5, &r, &err), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "sorted"));
    ls.n = 1;
    assert_int_equal(noa_index_add_chunk(f->idx, "", &ls, 5, &r, &err), NOA_EINVAL);
    r.from_ns = 11;
    assert_int_equal(noa_index_add_chunk(f->idx, "t1", &ls, 5, &r, &err), NOA_EINVAL);
    r.from_ns = 0;
    r.through_ns = NOA_INDEX_MAX_CHUNK_DAYS * DAY;
    assert_int_equal(noa_index_add_chunk(f->idx, "t1", &ls, 5, &r, &err), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "days"));
    r.through_ns = (NOA_INDEX_MAX_CHUNK_DAYS - 1) * DAY;
    r.key[0] = 0;
    assert_int_equal(noa_index_add_chunk(f->idx, "t1", &ls, 5, &r, &err), NOA_EINVAL);
}

/* Pre-1970 timestamps: day -1 sorts before day 0. */
static void test_negative_time(void **state)
{
    struct fixture *f = *state;
    struct noa_label l[1] = {{NOA_STR("old"), NOA_STR("yes")}};
    struct noa_labels ls = {l, 1};
    struct noa_chunk_ref r = make_ref("neg", 9, -5, 5, 3);
    assert_int_equal(noa_index_day(-1), -1);
    assert_int_equal(noa_index_day(-DAY), -1);
    assert_int_equal(noa_index_day(-DAY - 1), -2);
    assert_int_equal(noa_index_add_chunk(f->idx, "neg", &ls, 9, &r, NULL), 0);
    struct refs s = {0};
    assert_int_equal(noa_index_chunks(f->idx, "neg", 9, -DAY, -1, refs_cb, &s), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.v[0].from_ns, -5);
    memset(&s, 0, sizeof(s));
    assert_int_equal(noa_index_chunks(f->idx, "neg", 9, -DAY, -6, refs_cb, &s), 0);
    assert_int_equal(s.n, 0);
    struct strs v = {0};
    assert_int_equal(
        noa_index_label_values(f->idx, "neg", NOA_STR("old"), -10, -9, NULL, strs_cb, &v), 0);
    assert_int_equal(v.n, 1);
}

static void put_key(struct noa_buf *k, char type, const char *tenant, int32_t day)
{
    k->len = 0;
    noa_buf_putc(k, type);
    noa_buf_append(k, tenant, strlen(tenant)); /* no byte needs escaping */
    noa_buf_putc(k, 0);
    noa_buf_put_be32(k, (uint32_t)day ^ 0x80000000u);
}

/* Damaged records are skipped and counted; the rest of the answer stands.
 * Keys are built from the layout documented in index.h. */
static void test_corrupt_records(void **state)
{
    struct fixture *f = *state;
    struct noa_buf k = {0};
    uint64_t before = noa_index_corrupt_count(f->idx);

    /* a series whose labels value is garbage */
    put_key(&k, 'S', "t1", (int32_t)D0);
    noa_buf_put_be64(&k, 100000);
    assert_int_equal(noa_index_put_raw(f->idx, k.data, k.len, "\x01\x05zz", 4), 0);
    /* a series key of the wrong length */
    put_key(&k, 'S', "t1", (int32_t)D0);
    noa_buf_append(&k, "abc", 3);
    assert_int_equal(noa_index_put_raw(f->idx, k.data, k.len, "", 0), 0);
    struct got g = {0};
    assert_int_equal(noa_index_series(f->idx, "t1", INT64_MIN, INT64_MAX, NULL, got_cb, &g), 0);
    assert_int_equal(g.total, NSERIES);
    assert_int_equal(noa_index_corrupt_count(f->idx), before + 2);

    /* a chunk ref with a truncated value for fp 11 */
    put_key(&k, 'C', "t1", (int32_t)(D0 + 1));
    noa_buf_put_be64(&k, 11);
    noa_buf_put_be64(&k, (uint64_t)((D0 + 1) * DAY) ^ 0x8000000000000000ull);
    noa_buf_put_be64(&k, (uint64_t)((D0 + 1) * DAY + 1) ^ 0x8000000000000000ull);
    noa_buf_put_be32(&k, 5);
    assert_int_equal(noa_index_put_raw(f->idx, k.data, k.len, "\x01\x01\x02", 3), 0);
    struct refs s = {0};
    assert_int_equal(noa_index_chunks(f->idx, "t1", 11, INT64_MIN, INT64_MAX, refs_cb, &s), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(noa_index_corrupt_count(f->idx), before + 3);

    /* a posting with a broken escape and one without its fp */
    put_key(&k, 'P', "t1", (int32_t)D0);
    noa_buf_append(&k, "app\0\x01\x07\0", 7);
    noa_buf_put_be64(&k, 1);
    assert_int_equal(noa_index_put_raw(f->idx, k.data, k.len, "", 0), 0);
    put_key(&k, 'P', "t1", (int32_t)D0);
    noa_buf_append(&k, "app\0app1\0\x01", 10);
    assert_int_equal(noa_index_put_raw(f->idx, k.data, k.len, "", 0), 0);
    struct strs v = {0};
    assert_int_equal(noa_index_label_values(f->idx, "t1", NOA_STR("app"), INT64_MIN, INT64_MAX,
                                            NULL, strs_cb, &v),
                     0);
    assert_int_equal(v.n, 5);
    struct got g2;
    assert_int_equal(run_sel(f, "{app=\"app1\"}", INT64_MIN, INT64_MAX, &g2), NSERIES / 5);
    assert_int_equal(run_sel(f, "{app=~\"app1|x\"}", INT64_MIN, INT64_MAX, &g2), NSERIES / 5);
    assert_true(noa_index_corrupt_count(f->idx) >= before + 5);
    noa_buf_fini(&k);
}

/* The flushed sequence per stream: raised, never lowered, durable. */
static void test_stream_seq(void **state)
{
    struct fixture *f = *state;
    struct noa_label l[1] = {{NOA_STR("s"), NOA_STR("1")}};
    struct noa_labels ls = {l, 1};
    uint64_t seq = 99, max = 99;

    /* chunks loaded without a sequence leave nothing behind */
    assert_int_equal(noa_index_stream_seq(f->idx, "t1", 1, &seq), NOA_ENOTFOUND);
    assert_int_equal(seq, 0);
    assert_int_equal(noa_index_max_seq(f->idx, &max), 0);
    assert_int_equal(max, 0);

    struct noa_chunk_ref r = make_ref("sq", 42, DAY, DAY + 10, 1);
    r.seq = 5;
    assert_int_equal(noa_index_add_chunk(f->idx, "sq", &ls, 42, &r, NULL), 0);
    assert_int_equal(noa_index_stream_seq(f->idx, "sq", 42, &seq), 0);
    assert_int_equal(seq, 5);
    /* a retried older flush does not lower it */
    r = make_ref("sq", 42, DAY - 100, DAY - 50, 2);
    r.seq = 3;
    assert_int_equal(noa_index_add_chunk(f->idx, "sq", &ls, 42, &r, NULL), 0);
    assert_int_equal(noa_index_stream_seq(f->idx, "sq", 42, &seq), 0);
    assert_int_equal(seq, 5);
    r = make_ref("sq", 42, DAY + 20, DAY + 30, 3);
    r.seq = 9;
    assert_int_equal(noa_index_add_chunk(f->idx, "sq", &ls, 42, &r, NULL), 0);
    /* another stream and another tenant */
    r = make_ref("sq", 43, DAY, DAY, 4);
    r.seq = 7;
    assert_int_equal(noa_index_add_chunk(f->idx, "sq", &ls, 43, &r, NULL), 0);
    r = make_ref("sq2", 42, DAY, DAY, 4);
    r.seq = 12;
    assert_int_equal(noa_index_add_chunk(f->idx, "sq2", &ls, 42, &r, NULL), 0);
    assert_int_equal(noa_index_stream_seq(f->idx, "sq", 42, &seq), 0);
    assert_int_equal(seq, 9);
    assert_int_equal(noa_index_stream_seq(f->idx, "sq", 43, &seq), 0);
    assert_int_equal(seq, 7);
    assert_int_equal(noa_index_stream_seq(f->idx, "sq", 44, &seq), NOA_ENOTFOUND);

    /* each ref carries its own sequence */
    struct refs s = {0};
    assert_int_equal(noa_index_chunks(f->idx, "sq", 42, INT64_MIN, INT64_MAX, refs_cb, &s), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.v[0].seq, 3);
    assert_int_equal(s.v[1].seq, 5);
    assert_int_equal(s.v[2].seq, 9);

    /* survives a reopen */
    noa_index_close(f->idx);
    assert_int_equal(noa_index_open(f->dir, NULL, &f->idx, NULL), 0);
    assert_int_equal(noa_index_stream_seq(f->idx, "sq", 42, &seq), 0);
    assert_int_equal(seq, 9);
    assert_int_equal(noa_index_max_seq(f->idx, &max), 0);
    assert_int_equal(max, 12);
}

/* ---- concurrency smoke test ------------------------------------------------ */

struct writer {
    struct noa_index *idx;
    int id;
    int failures;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    for (int i = 0; i < 50; i++) {
        char v[16];
        snprintf(v, sizeof(v), "w%d-%d", w->id, i);
        struct noa_label l[1] = {{NOA_STR("conc"), noa_str_c(v)}};
        struct noa_labels ls = {l, 1};
        uint64_t fp = 10000 + (uint64_t)w->id * 1000 + (uint64_t)i;
        struct noa_chunk_ref r = make_ref("conc", fp, D0 * DAY + i, D0 * DAY + i + 1, 1);
        r.seq = fp;
        if (noa_index_add_chunk(w->idx, "conc", &ls, fp, &r, NULL) != 0)
            w->failures++;
        struct noa_index_stats st;
        if (noa_index_stats(w->idx, "conc", INT64_MIN, INT64_MAX, NULL, &st) != 0 || st.streams < 1)
            w->failures++;
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    struct fixture *f = *state;
    pthread_t th[3];
    struct writer w[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (struct writer){f->idx, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    struct noa_index_stats st;
    assert_int_equal(noa_index_stats(f->idx, "conc", INT64_MIN, INT64_MAX, NULL, &st), 0);
    assert_int_equal(st.streams, 150);
    assert_int_equal(st.chunks, 150);
    uint64_t max = 0;
    assert_int_equal(noa_index_max_seq(f->idx, &max), 0);
    assert_int_equal(max, 10000 + 2 * 1000 + 49);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_series_all),          T(test_series_matchers), T(test_series_dedup_across_days),
        T(test_series_partial_days), T(test_chunks),          T(test_label_names),
        T(test_label_values),        T(test_escaping),        T(test_stats),
        T(test_tenants_and_days),    T(test_day_chunks),      T(test_reopen),
        T(test_format_stamp),        T(test_add_errors),      T(test_negative_time),
        T(test_corrupt_records),     T(test_stream_seq),      T(test_concurrent),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
