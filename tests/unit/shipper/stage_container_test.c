/* Tests for the cri and docker stages (shipper/stage_container.c): decoded
 * fields, partial lines held and joined with the offset of the last
 * fragment, Promtail's max_partial_lines and truncation, idle release on
 * tick, flush by source, and a micro-benchmark. */
#include "tests/unit/shipper/stage_testutil.h"

#include "common/clock.h"

#include <time.h>

#define TS "2019-04-30T02:12:41.8443515Z"
#define TS_NS 1556590361844351500LL

static void test_cri_full_line(void **state)
{
    (void)state;
    struct noa_stages *p = tu_compile("- cri: {}\n");
    struct tu_sink s;
    tu_sink_init(&s);
    assert_int_equal(tu_run(p, &s, "job=x", TS " stderr F hello world", "f", 10), NOA_STAGE_PASS);
    assert_int_equal(s.n, 1);
    struct noa_entry *e = &s.out[0];
    assert_string_equal(tu_line(e), "hello world");
    assert_string_equal(tu_get(&e->labels, "stream"), "stderr");
    assert_string_equal(tu_get(&e->labels, "job"), "x");
    assert_string_equal(tu_get(&e->extracted, "time"), TS);
    assert_string_equal(tu_get(&e->extracted, "flags"), "F");
    assert_string_equal(tu_get(&e->extracted, "content"), "hello world");
    assert_string_equal(tu_get(&e->extracted, "stream"), "stderr");
    assert_true(e->ts_ns == TS_NS);
    assert_int_equal(e->offset, 10);
    /* An empty message is a line too. */
    assert_int_equal(tu_run(p, &s, "job=x", TS " stdout F ", "f", 11), NOA_STAGE_PASS);
    assert_string_equal(tu_line(&s.out[1]), "");
    tu_sink_fini(&s);
    tu_free(p);
}

static void test_cri_bad_line_passes(void **state)
{
    (void)state;
    struct noa_stages *p = tu_compile("- cri: {}\n");
    struct tu_sink s;
    tu_sink_init(&s);
    assert_int_equal(tu_run(p, &s, "job=x", "not a cri line", "f", 1), NOA_STAGE_PASS);
    assert_int_equal(s.n, 1);
    assert_string_equal(tu_line(&s.out[0]), "not a cri line");
    assert_null(tu_get(&s.out[0].labels, "stream"));
    assert_true(s.out[0].ts_ns == 42);
    tu_sink_fini(&s);
    tu_free(p);
}

static void test_cri_partials(void **state)
{
    (void)state;
    struct noa_stages *p = tu_compile("- cri: {}\n");
    struct tu_sink s;
    tu_sink_init(&s);
    assert_int_equal(tu_run(p, &s, "job=x", TS " stdout P part1 ", "f", 100), NOA_STAGE_HELD);
    assert_int_equal(noa_stages_holding(p, "f"), 1);
    assert_int_equal(noa_stages_holding(p, "g"), 0);
    assert_int_equal(noa_stages_holding(p, NULL), 1);
    /* stderr interleaves and joins on its own */
    assert_int_equal(tu_run(p, &s, "job=x", TS " stderr P err1 ", "f", 150), NOA_STAGE_HELD);
    assert_int_equal(tu_run(p, &s, "job=x", "2019-04-30T02:12:42Z stdout P part2 ", "f", 200),
                     NOA_STAGE_HELD);
    assert_int_equal(s.n, 0);
    assert_int_equal(tu_run(p, &s, "job=x", "2019-04-30T02:12:43Z stdout F end", "f", 300),
                     NOA_STAGE_PASS);
    assert_int_equal(s.n, 1);
    assert_string_equal(tu_line(&s.out[0]), "part1 part2 end");
    assert_int_equal(s.out[0].offset, 300);
    assert_true(s.out[0].ts_ns == 1556590363000000000LL); /* the last fragment's */
    assert_int_equal(noa_stages_holding(p, "f"), 1);   /* stderr still held */
    assert_int_equal(tu_run(p, &s, "job=x", TS " stderr F err2", "f", 400), NOA_STAGE_PASS);
    assert_string_equal(tu_line(&s.out[1]), "err1 err2");
    assert_string_equal(tu_get(&s.out[1].labels, "stream"), "stderr");
    assert_int_equal(noa_stages_holding(p, NULL), 0);
    tu_sink_fini(&s);
    tu_free(p);
}

static void test_cri_max_partial_lines(void **state)
{
    (void)state;
    struct noa_stages *p = tu_compile("- cri:\n    max_partial_lines: 2\n");
    struct tu_sink s;
    tu_sink_init(&s);
    assert_int_equal(tu_run(p, &s, "app=a", TS " stdout P a1", "f", 1), NOA_STAGE_HELD);
    assert_int_equal(tu_run(p, &s, "app=b", TS " stdout P b1", "f", 2), NOA_STAGE_HELD);
    /* a fragment of a label set already holding never forces others out */
    assert_int_equal(tu_run(p, &s, "app=b", TS " stdout P b2", "f", 3), NOA_STAGE_HELD);
    assert_int_equal(s.n, 0);
    /* a third label set: at the bound every partial goes out as it is */
    assert_int_equal(tu_run(p, &s, "app=c", TS " stdout P c1", "f", 4), NOA_STAGE_HELD);
    assert_int_equal(s.n, 2);
    assert_string_equal(tu_line(&s.out[0]), "a1");
    assert_string_equal(tu_line(&s.out[1]), "b1b2");
    assert_int_equal(s.out[1].offset, 3);
    assert_int_equal(tu_run(p, &s, "app=c", TS " stdout F c2", "f", 5), NOA_STAGE_PASS);
    assert_string_equal(tu_line(&s.out[2]), "c1c2");
    tu_sink_fini(&s);
    tu_free(p);
}

static void test_cri_many_streams(void **state)
{
    (void)state;
    /* more label sets than the first slot table holds: it grows */
    struct noa_stages *p = tu_compile("- cri: {}\n");
    struct tu_sink s;
    tu_sink_init(&s);
    char labels[32], line[96];
    for (int i = 0; i < 40; i++) {
        snprintf(labels, sizeof(labels), "pod=p%d", i);
        snprintf(line, sizeof(line), TS " stdout P head%d-", i);
        assert_int_equal(tu_run(p, &s, labels, line, "f", (uint64_t)i), NOA_STAGE_HELD);
    }
    assert_int_equal(s.n, 0);
    for (int i = 39; i >= 0; i--) {
        snprintf(labels, sizeof(labels), "pod=p%d", i);
        snprintf(line, sizeof(line), TS " stdout F tail%d", i);
        assert_int_equal(tu_run(p, &s, labels, line, "f", 100 + (uint64_t)i), NOA_STAGE_PASS);
        snprintf(line, sizeof(line), "head%d-tail%d", i, i);
        assert_string_equal(tu_line(&s.out[s.n - 1]), line);
        assert_string_equal(tu_get(&s.out[s.n - 1].labels, "pod"), labels + 4);
    }
    assert_int_equal(noa_stages_holding(p, NULL), 0);
    tu_sink_fini(&s);
    tu_free(p);
}

static void test_cri_truncate(void **state)
{
    (void)state;
    struct noa_stages *p = tu_compile("- cri:\n    max_partial_line_size: 10\n"
                                      "    max_partial_line_size_truncate: true\n");
    struct tu_sink s;
    tu_sink_init(&s);
    tu_run(p, &s, "", TS " stdout P aaaaaaaa", "f", 1);
    tu_run(p, &s, "", TS " stdout P bbbbbbbb", "f", 2);
    tu_run(p, &s, "", TS " stdout F cc", "f", 3);
    assert_int_equal(s.n, 1);
    assert_string_equal(tu_line(&s.out[0]), "aaaaaaaabb");
    tu_sink_fini(&s);
    tu_free(p);
    /* without truncate the size is ignored */
    p = tu_compile("- cri:\n    max_partial_line_size: 10\n");
    tu_sink_init(&s);
    tu_run(p, &s, "", TS " stdout P aaaaaaaa", "f", 1);
    tu_run(p, &s, "", TS " stdout F bbbbbbbb", "f", 2);
    assert_string_equal(tu_line(&s.out[0]), "aaaaaaaabbbbbbbb");
    tu_sink_fini(&s);
    tu_free(p);
}

static void test_cri_tick_and_flush(void **state)
{
    (void)state;
    struct noa_stages *p = tu_compile("- cri: {}\n");
    struct tu_sink s;
    tu_sink_init(&s);
    tu_now = 1000000000LL;
    tu_run(p, &s, "", TS " stdout P one", "f1", 7);
    tu_run(p, &s, "app=2", TS " stdout P two", "f2", 8);
    noa_stages_tick(p, tu_now + 4000000000LL, &s.sink);
    assert_int_equal(s.n, 0);
    noa_stages_flush(p, "f2", &s.sink);
    assert_int_equal(s.n, 1);
    assert_string_equal(tu_line(&s.out[0]), "two");
    assert_int_equal(s.out[0].offset, 8);
    assert_int_equal(noa_stages_holding(p, "f2"), 0);
    assert_int_equal(noa_stages_holding(p, "f1"), 1);
    noa_stages_tick(p, tu_now + 5000000000LL, &s.sink);
    assert_int_equal(s.n, 2);
    assert_string_equal(tu_line(&s.out[1]), "one");
    assert_int_equal(noa_stages_holding(p, NULL), 0);
    tu_sink_fini(&s);
    tu_free(p);
}

static void test_cri_config_errors(void **state)
{
    (void)state;
    assert_non_null(strstr(tu_compile_err("- cri:\n    max_partial_lines: -1\n"),
                           "test.yaml:2:24: max_partial_lines"));
    assert_non_null(strstr(tu_compile_err("- cri:\n    bogus: 1\n"),
                           "test.yaml:2:5: field bogus not found"));
    assert_non_null(strstr(tu_compile_err("- docker:\n    x: 1\n"), "field x not found"));
}

static void test_docker(void **state)
{
    (void)state;
    struct noa_stages *p = tu_compile("- docker: {}\n");
    struct tu_sink s;
    tu_sink_init(&s);
    assert_int_equal(tu_run(p, &s, "job=d",
                            "{\"log\":\"log message\\n\",\"stream\":\"stderr\",\"time\":\"" TS "\"}",
                            "f", 5),
                     NOA_STAGE_PASS);
    assert_int_equal(s.n, 1);
    assert_string_equal(tu_line(&s.out[0]), "log message");
    assert_string_equal(tu_get(&s.out[0].labels, "stream"), "stderr");
    assert_string_equal(tu_get(&s.out[0].extracted, "output"), "log message");
    assert_string_equal(tu_get(&s.out[0].extracted, "timestamp"), TS);
    assert_string_equal(tu_get(&s.out[0].extracted, "stream"), "stderr");
    assert_true(s.out[0].ts_ns == TS_NS);
    /* Docker's 16 KiB splits are joined */
    assert_int_equal(tu_run(p, &s, "job=d",
                            "{\"log\":\"part \\\"1\\\" \",\"stream\":\"stdout\",\"time\":\"" TS "\"}",
                            "f", 6),
                     NOA_STAGE_HELD);
    assert_int_equal(tu_run(p, &s, "job=d",
                            "{\"log\":\"end\\n\",\"stream\":\"stdout\",\"time\":\"" TS "\"}", "f", 9),
                     NOA_STAGE_PASS);
    assert_string_equal(tu_line(&s.out[1]), "part \"1\" end");
    assert_int_equal(s.out[1].offset, 9);
    /* not JSON: passes unchanged */
    assert_int_equal(tu_run(p, &s, "job=d", "plain", "f", 10), NOA_STAGE_PASS);
    assert_string_equal(tu_line(&s.out[2]), "plain");
    tu_sink_fini(&s);
    tu_free(p);
}

struct null_sink {
    struct noa_stages_sink sink;
    long n;
};
static void null_cb(struct noa_stages_sink *self, struct noa_entry *e)
{
    (void)e;
    ((struct null_sink *)self)->n++;
}

static double bench(struct noa_stages *p, const char *line, long iters, int check_alloc)
{
    struct null_sink s = {{null_cb}, 0};
    struct noa_entry e;
    noa_entry_init(&e);
    size_t n = strlen(line);
    struct timespec a, b;
    for (long i = -100; i < iters; i++) {
        if (i == 0) {
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
            if (check_alloc)
                noa_mem_fail_after(0); /* warmed up: any allocation now fails */
        }
        noa_entry_reset(&e);
        noa_kvlist_set(&e.labels, NOA_STR("job"), NOA_STR("bench"));
        noa_kvlist_set(&e.labels, NOA_STR("filename"), NOA_STR("/var/log/pods/x/0.log"));
        noa_buf_append(&e.line, line, n);
        noa_stages_run(p, &e, &s.sink, 0);
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    noa_mem_fail_after(-1);
    assert_int_equal(s.n, iters + 100);
    noa_entry_fini(&e);
    return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)iters;
}

static void test_bench(void **state)
{
    (void)state;
    const char *line = TS " stdout F {\"level\":\"info\",\"msg\":\"request served\","
                          "\"path\":\"/api/v1/items\",\"status\":200,\"duration_ms\":12.5}";
    struct noa_stages *p = tu_compile("- cri: {}\n");
    double cri = bench(p, line, 50000, 1);
    tu_free(p);
    p = tu_compile("- cri: {}\n- json:\n    expressions:\n      level: level\n- labels:\n"
                   "    level:\n");
    double full = bench(p, line, 20000, 0);
    tu_free(p);
    /* the json fast path allocates nothing per line either, numbers included */
    p = tu_compile("- cri: {}\n- json:\n    expressions:\n      level: level\n"
                   "      status: status\n      d: duration_ms\n      msg:\n");
    bench(p, line, 2000, 1);
    tu_free(p);
    fprintf(stderr, "bench: cri %.0f ns/line (%.0f MB/s), cri+json+labels %.0f ns/line\n", cri,
            (double)strlen(line) / cri * 1e3, full);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cri_full_line),      cmocka_unit_test(test_cri_bad_line_passes),
        cmocka_unit_test(test_cri_partials),       cmocka_unit_test(test_cri_max_partial_lines),
        cmocka_unit_test(test_cri_many_streams), cmocka_unit_test(test_cri_truncate),       cmocka_unit_test(test_cri_tick_and_flush),
        cmocka_unit_test(test_cri_config_errors),  cmocka_unit_test(test_docker),
        cmocka_unit_test(test_bench),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
