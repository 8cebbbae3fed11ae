/*
 * Tests for common/metrics: registration rules, child lookup, atomic updates
 * from several threads, and the exact text exposition (checked with
 * promtool when it is installed). Single test thread except where noted.
 */
#include "common/metrics.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"

#include <fcntl.h>

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char *scrape(struct noa_metrics *reg)
{
    struct noa_buf b = {0};
    noa_metrics_write(reg, &b);
    noa_buf_cstr(&b);
    return noa_buf_steal(&b, NULL);
}

static void test_counter_basics(void **state)
{
    (void)state;
    struct noa_metrics *reg = noa_metrics_new();
    struct noa_metric *m =
        noa_metrics_counter(reg, "noa_lines_received_total", "Lines received.", 1,
                            (const char *[]){"tenant"});
    assert_non_null(m);
    struct noa_metric_child *a = noa_metric_child(m, (const char *[]){"a"});
    struct noa_metric_child *b = noa_metric_child(m, (const char *[]){"b"});
    assert_ptr_not_equal(a, b);
    assert_ptr_equal(a, noa_metric_child(m, (const char *[]){"a"}));
    noa_metric_add(a, 2.5);
    noa_metric_inc(a);
    noa_metric_add(a, -10); /* counters never go down */
    noa_metric_add(a, NAN);
    noa_metric_set(a, 100); /* not a gauge: ignored */
    assert_true(noa_metric_value(a) == 3.5);
    assert_true(noa_metric_value(b) == 0);
    /* The same registration again gives the same family. */
    assert_ptr_equal(m, noa_metrics_counter(reg, "noa_lines_received_total", "x", 1,
                                            (const char *[]){"tenant"}));
    noa_metrics_free(reg);
}

static void test_registration_rules(void **state)
{
    (void)state;
    /* Every refused registration logs an error; keep them off the test output. */
    int devnull = open("/dev/null", O_WRONLY);
    noa_log_set_fd(devnull);
    struct noa_metrics *reg = noa_metrics_new();
    assert_null(noa_metrics_counter(reg, "no_suffix", "h", 0, NULL));
    assert_null(noa_metrics_gauge(reg, "1bad", "h", 0, NULL));
    assert_null(noa_metrics_gauge(reg, "bad-name", "h", 0, NULL));
    assert_null(noa_metrics_gauge(reg, "", "h", 0, NULL));
    assert_null(noa_metrics_gauge(reg, "g", "h", 1, (const char *[]){"__reserved"}));
    assert_null(noa_metrics_gauge(reg, "g", "h", 1, (const char *[]){"a:b"}));
    assert_null(noa_metrics_gauge(reg, "g", "h", 2, (const char *[]){"a", "a"}));
    assert_null(noa_metrics_histogram(reg, "h", "h", 1, (const char *[]){"le"}, NULL, 0));
    assert_null(noa_metrics_histogram(reg, "h", "h", 0, NULL, (const double[]){2, 1}, 2));
    assert_null(noa_metrics_histogram(reg, "h", "h", 0, NULL, (const double[]){1, INFINITY}, 2));
    assert_non_null(noa_metrics_gauge(reg, "ns:g", "h", 1, (const char *[]){"a"}));
    /* Same name, other type or labels: refused. */
    assert_non_null(noa_metrics_counter(reg, "y_total", "h", 1, (const char *[]){"a"}));
    assert_null(noa_metrics_gauge(reg, "y_total", "h", 1, (const char *[]){"a"}));
    assert_null(noa_metrics_counter(reg, "y_total", "h", 1, (const char *[]){"b"}));
    assert_null(noa_metrics_counter(reg, "y_total", "h", 0, NULL));
    assert_int_equal(noa_metrics_gauge_func(reg, "y_total", "h", NULL, NULL), NOA_EINVAL);
    /* NULL family degrades to no-ops. */
    assert_null(noa_metric_child(NULL, NULL));
    noa_metric_add(NULL, 1);
    noa_metric_observe(NULL, 1);
    assert_true(noa_metric_value(NULL) == 0);
    noa_metrics_free(reg);
    noa_metrics_free(NULL);
    noa_log_set_fd(2);
    close(devnull);
}

static void test_invalid_utf8_label(void **state)
{
    (void)state;
    struct noa_metrics *reg = noa_metrics_new();
    struct noa_metric *m = noa_metrics_counter(reg, "u_total", "u", 1, (const char *[]){"tenant"});
    struct noa_metric_child *c = noa_metric_child(m, (const char *[]){"a\xff\xc3\xa9" "b\xe2\x82"});
    /* The raw bytes still identify the child. */
    assert_ptr_equal(c, noa_metric_child(m, (const char *[]){"a\xff\xc3\xa9" "b\xe2\x82"}));
    noa_metric_inc(c);
    char *text = scrape(reg);
    assert_non_null(strstr(text, "u_total{tenant=\"a\xef\xbf\xbd\xc3\xa9" "b\xef\xbf\xbd\xef\xbf\xbd\"} 1\n"));
    noa_free(text);
    noa_metrics_free(reg);
}

static void test_gauge(void **state)
{
    (void)state;
    struct noa_metrics *reg = noa_metrics_new();
    struct noa_metric_child *g = noa_metrics_gauge_solo(reg, "noa_streams", "Streams.");
    noa_metric_set(g, 10);
    noa_metric_add(g, -3);
    noa_metric_sub(g, 2);
    assert_true(noa_metric_value(g) == 5);
    noa_metric_observe(g, 1); /* not a histogram: ignored */
    assert_true(noa_metric_value(g) == 5);
    char *text = scrape(reg);
    assert_string_equal(text, "# HELP noa_streams Streams.\n"
                              "# TYPE noa_streams gauge\n"
                              "noa_streams 5\n");
    noa_free(text);
    noa_metrics_free(reg);
}

static void test_histogram_exposition(void **state)
{
    (void)state;
    struct noa_metrics *reg = noa_metrics_new();
    struct noa_metric *h =
        noa_metrics_histogram(reg, "noa_req_seconds", "Request time.", 1,
                              (const char *[]){"route"}, (const double[]){0.1, 1, 5}, 3);
    assert_non_null(h);
    struct noa_metric_child *c = noa_metric_child(h, (const char *[]){"push"});
    noa_metric_observe(c, 0.05);
    noa_metric_observe(c, 0.1); /* le is inclusive */
    noa_metric_observe(c, 3);
    noa_metric_observe(c, 7);
    assert_true(noa_metric_value(c) == 4);
    assert_true(fabs(noa_metric_sum(c) - 10.15) < 1e-9);
    char *text = scrape(reg);
    assert_string_equal(text, "# HELP noa_req_seconds Request time.\n"
                              "# TYPE noa_req_seconds histogram\n"
                              "noa_req_seconds_bucket{route=\"push\",le=\"0.1\"} 2\n"
                              "noa_req_seconds_bucket{route=\"push\",le=\"1\"} 2\n"
                              "noa_req_seconds_bucket{route=\"push\",le=\"5\"} 3\n"
                              "noa_req_seconds_bucket{route=\"push\",le=\"+Inf\"} 4\n"
                              "noa_req_seconds_sum{route=\"push\"} 10.15\n"
                              "noa_req_seconds_count{route=\"push\"} 4\n");
    noa_free(text);
    noa_metrics_free(reg);
}

static void test_default_buckets(void **state)
{
    (void)state;
    struct noa_metrics *reg = noa_metrics_new();
    struct noa_metric_child *c = noa_metrics_histogram_solo(reg, "d_seconds", "d", NULL, 0);
    noa_metric_observe(c, 0.3);
    char *text = scrape(reg);
    assert_non_null(strstr(text, "d_seconds_bucket{le=\"0.005\"} 0\n"));
    assert_non_null(strstr(text, "d_seconds_bucket{le=\"0.25\"} 0\n"));
    assert_non_null(strstr(text, "d_seconds_bucket{le=\"0.5\"} 1\n"));
    assert_non_null(strstr(text, "d_seconds_bucket{le=\"10\"} 1\n"));
    assert_non_null(strstr(text, "d_seconds_bucket{le=\"+Inf\"} 1\n"));
    noa_free(text);
    noa_metrics_free(reg);
}

static void test_exp_buckets(void **state)
{
    (void)state;
    double b[4];
    assert_int_equal(noa_metrics_exp_buckets(1, 2, 4, b), 0);
    assert_true(b[0] == 1 && b[1] == 2 && b[2] == 4 && b[3] == 8);
    assert_int_equal(noa_metrics_exp_buckets(0, 2, 4, b), NOA_EINVAL);
    assert_int_equal(noa_metrics_exp_buckets(1, 1, 4, b), NOA_EINVAL);
    assert_int_equal(noa_metrics_exp_buckets(1, 2, 0, b), NOA_EINVAL);
    assert_int_equal(noa_metrics_exp_buckets(1, 2, NOA_METRICS_MAX_BUCKETS + 1, b),
                     NOA_EINVAL);
}

static void test_sorting_and_escaping(void **state)
{
    (void)state;
    struct noa_metrics *reg = noa_metrics_new();
    struct noa_metric *z = noa_metrics_counter(reg, "zz_total", "Last\\one\nline2.", 2,
                                               (const char *[]){"a", "b"});
    noa_metrics_gauge_solo(reg, "aa", "First.");
    noa_metric_add(noa_metric_child(z, (const char *[]){"y", "1"}), 1);
    noa_metric_add(noa_metric_child(z, (const char *[]){"x", "q\"uo\\te\nnl"}), 2);
    char *text = scrape(reg);
    assert_string_equal(text, "# HELP aa First.\n"
                              "# TYPE aa gauge\n"
                              "aa 0\n"
                              "# HELP zz_total Last\\\\one\\nline2.\n"
                              "# TYPE zz_total counter\n"
                              "zz_total{a=\"x\",b=\"q\\\"uo\\\\te\\nnl\"} 2\n"
                              "zz_total{a=\"y\",b=\"1\"} 1\n");
    noa_free(text);
    noa_metrics_free(reg);
}

static void test_format_double(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0, "0"},          {1, "1"},           {-2, "-2"},          {0.1, "0.1"},
        {10.15, "10.15"},  {123456, "123456"}, {1e6, "1e+06"},      {2.1856256e7, "2.1856256e+07"},
        {0.0001, "0.0001"}, {1e-5, "1e-05"},   {1.0 / 3, "0.3333333333333333"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct noa_buf b = {0};
        noa_metrics_format_double(&b, cases[i].v);
        assert_string_equal(noa_buf_cstr(&b), cases[i].want);
        noa_buf_fini(&b);
    }
    struct noa_buf b = {0};
    noa_metrics_format_double(&b, INFINITY);
    noa_metrics_format_double(&b, -INFINITY);
    noa_metrics_format_double(&b, NAN);
    assert_string_equal(noa_buf_cstr(&b), "+Inf-InfNaN");
    noa_buf_fini(&b);
}

static double seven(void *ctx)
{
    return *(double *)ctx;
}

static void test_gauge_func(void **state)
{
    (void)state;
    struct noa_metrics *reg = noa_metrics_new();
    double v = 7;
    assert_int_equal(noa_metrics_gauge_func(reg, "fn_gauge", "From a callback.", seven, &v), 0);
    assert_int_equal(noa_metrics_counter_func(reg, "fn_total", "Counted elsewhere.", seven, &v),
                     0);
    assert_int_equal(noa_metrics_counter_func(reg, "fn_bad", "no suffix", seven, &v),
                     NOA_EINVAL);
    /* A name may be registered once. */
    assert_int_equal(noa_metrics_gauge_func(reg, "fn_gauge", "again", seven, &v), NOA_EINVAL);
    char *text = scrape(reg);
    assert_non_null(strstr(text, "\nfn_gauge 7\n"));
    assert_non_null(strstr(text, "\nfn_total 7\n"));
    noa_free(text);
    v = 8.5;
    text = scrape(reg);
    assert_non_null(strstr(text, "\nfn_gauge 8.5\n"));
    noa_free(text);
    v = NAN; /* the sample is left out, the family header stays */
    text = scrape(reg);
    assert_non_null(strstr(text, "# TYPE fn_gauge gauge\n# HELP"));
    noa_free(text);
    noa_metrics_free(reg);
}

struct thread_arg {
    struct noa_metric_child *counter;
    struct noa_metric_child *hist;
    struct noa_metric *family;
};

static void *hammer(void *p)
{
    struct thread_arg *a = p;
    for (int i = 0; i < 50000; i++) {
        noa_metric_inc(a->counter);
        noa_metric_observe(a->hist, 0.5);
        if (i % 1000 == 0) {
            char v[16];
            snprintf(v, sizeof(v), "%d", i / 1000);
            noa_metric_inc(noa_metric_child(a->family, (const char *[]){v}));
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    struct noa_metrics *reg = noa_metrics_new();
    struct thread_arg a = {
        .counter = noa_metrics_counter_solo(reg, "t_total", "t"),
        .hist = noa_metrics_histogram_solo(reg, "t_seconds", "t", NULL, 0),
        .family = noa_metrics_counter(reg, "t_by_total", "t", 1, (const char *[]){"k"}),
    };
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &a), 0);
    /* Scrapes while the writers run must not crash or deadlock. */
    for (int i = 0; i < 20; i++)
        noa_free(scrape(reg));
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_true(noa_metric_value(a.counter) == 200000);
    assert_true(noa_metric_value(a.hist) == 200000);
    assert_true(noa_metric_sum(a.hist) == 100000);
    assert_true(noa_metric_value(noa_metric_child(a.family, (const char *[]){"7"})) == 4);
    noa_metrics_free(reg);
}

static void test_child_cap(void **state)
{
    (void)state;
    struct noa_metrics *reg = noa_metrics_new();
    struct noa_metric *m = noa_metrics_counter(reg, "many_total", "m", 1, (const char *[]){"v"});
    char v[32];
    for (int i = 0; i < NOA_METRICS_MAX_CHILDREN; i++) {
        snprintf(v, sizeof(v), "%d", i);
        noa_metric_inc(noa_metric_child(m, (const char *[]){v}));
    }
    struct noa_metric_child *o1 = noa_metric_child(m, (const char *[]){"over1"});
    struct noa_metric_child *o2 = noa_metric_child(m, (const char *[]){"over2"});
    assert_non_null(o1);
    assert_ptr_equal(o1, o2);
    noa_metric_inc(o1);
    /* Existing children still resolve to themselves. */
    struct noa_metric_child *c5 = noa_metric_child(m, (const char *[]){"5"});
    assert_true(noa_metric_value(c5) == 1);
    char *text = scrape(reg);
    assert_null(strstr(text, "over1"));
    assert_non_null(strstr(text, "many_total{v=\"99999\"} 1\n"));
    noa_free(text);
    noa_metrics_free(reg);
}

static void test_process_metrics(void **state)
{
    (void)state;
    struct noa_metrics *reg = noa_metrics_default();
    assert_ptr_equal(reg, noa_metrics_default());
    noa_metrics_add_process(reg); /* idempotent */
    char *text = scrape(reg);
    static const char *const names[] = {
        "\nprocess_cpu_seconds_total ", "\nprocess_resident_memory_bytes ",
        "\nprocess_open_fds ",          "\nprocess_start_time_seconds ",
        "\nnoa_memory_allocated_bytes ", "\nprocess_max_fds ",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_non_null(strstr(text, names[i]));
    double start = atof(strstr(text, "\nprocess_start_time_seconds ") + 28);
    assert_true(start > 1.5e9);
    double rss = atof(strstr(text, "\nprocess_resident_memory_bytes ") + 31);
    assert_true(rss > 0);
    assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\n"));
    noa_free(text);
}

/* The whole exposition of a varied registry passes `promtool check metrics`. */
static void test_promtool(void **state)
{
    (void)state;
    if (access("/usr/bin/promtool", X_OK) != 0)
        skip();
    struct noa_metrics *reg = noa_metrics_new();
    noa_metrics_add_process(reg);
    struct noa_metric *c = noa_metrics_counter(reg, "noa_distributor_lines_received_total",
                                               "The total number of lines received.", 1,
                                               (const char *[]){"tenant"});
    noa_metric_add(noa_metric_child(c, (const char *[]){"fake"}), 12);
    noa_metric_add(noa_metric_child(c, (const char *[]){"we\"ird\\\nname"}), 3);
    noa_metric_add(noa_metric_child(c, (const char *[]){"bad\xff"}), 1);
    struct noa_metric *h = noa_metrics_histogram(
        reg, "noa_request_duration_seconds", "Time (in seconds) spent serving HTTP requests.",
        2, (const char *[]){"method", "route"}, NULL, 0);
    noa_metric_observe(noa_metric_child(h, (const char *[]){"GET", "loki_api_v1_query"}), 0.2);
    noa_metric_set(noa_metrics_gauge_solo(reg, "noa_ingester_streams", "Streams in memory."),
                   42);
    noa_metrics_gauge(reg, "noa_unused", "Family with no children.", 1,
                      (const char *[]){"x"});
    char *text = scrape(reg);
    char path[] = "/tmp/noa_metrics_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s > %s.out 2>&1", path, path);
    int rc = system(cmd);
    if (rc != 0) {
        snprintf(cmd, sizeof(cmd), "cat %s.out; cat %s", path, path);
        assert_int_equal(system(cmd), 0);
    }
    snprintf(cmd, sizeof(cmd), "%s.out", path);
    unlink(cmd);
    unlink(path);
    assert_int_equal(rc, 0);
    noa_free(text);
    noa_metrics_free(reg);
}

static void collect_two(void *ctx, struct noa_buf *out)
{
    int *calls = ctx;
    (*calls)++;
    noa_buf_printf(out, "custom_lines{app=\"a\"} 1\ncustom_lines{pod=\"p\",zone=\"z\"} %d\n",
                   *calls);
}

static void test_collector(void **state)
{
    (void)state;
    struct noa_metrics *reg = noa_metrics_new();
    int calls = 0;
    assert_non_null(noa_metrics_counter_solo(reg, "a_total", "First."));
    assert_non_null(noa_metrics_counter_solo(reg, "z_total", "Last."));
    /* collectors' counters may do without _total (users name them) */
    assert_int_equal(noa_metrics_collector(reg, "custom_lines", "Lines seen.",
                                           NOA_METRIC_COUNTER, collect_two, &calls),
                     0);
    /* a name is taken once, by a collector or a family */
    assert_int_equal(noa_metrics_collector(reg, "custom_lines", "again", NOA_METRIC_COUNTER,
                                           collect_two, &calls),
                     NOA_EINVAL);
    assert_null(noa_metrics_counter(reg, "custom_lines", "x", 0, NULL));
    assert_int_equal(noa_metrics_collector(reg, "a_total", "x", NOA_METRIC_COUNTER, collect_two,
                                           &calls),
                     NOA_EINVAL);
    assert_int_equal(noa_metrics_collector(reg, "bad name", "x", NOA_METRIC_GAUGE, collect_two,
                                           &calls),
                     NOA_EINVAL);
    assert_int_equal(noa_metrics_collector(reg, "no_fn", "x", NOA_METRIC_GAUGE, NULL, NULL),
                     NOA_EINVAL);
    char *text = scrape(reg);
    /* in name order, with the registry's HELP and TYPE lines */
    assert_string_equal(text, "# HELP a_total First.\n# TYPE a_total counter\na_total 0\n"
                              "# HELP custom_lines Lines seen.\n# TYPE custom_lines counter\n"
                              "custom_lines{app=\"a\"} 1\ncustom_lines{pod=\"p\",zone=\"z\"} 1\n"
                              "# HELP z_total Last.\n# TYPE z_total counter\nz_total 0\n");
    noa_free(text);
    assert_int_equal(calls, 1);
    /* removal needs the same ctx; afterwards the callback is not called */
    int other = 0;
    assert_int_equal(noa_metrics_collector_remove(reg, "custom_lines", &other), NOA_ENOTFOUND);
    assert_int_equal(noa_metrics_collector_remove(reg, "a_total", NULL), NOA_ENOTFOUND);
    assert_int_equal(noa_metrics_collector_remove(reg, "custom_lines", &calls), 0);
    text = scrape(reg);
    assert_null(strstr(text, "custom_lines"));
    noa_free(text);
    assert_int_equal(calls, 1);
    /* and the name is free again */
    assert_int_equal(noa_metrics_collector(reg, "custom_lines", "h", NOA_METRIC_HISTOGRAM,
                                           collect_two, &calls),
                     0);
    noa_metrics_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_basics),  cmocka_unit_test(test_registration_rules),
        cmocka_unit_test(test_gauge),           cmocka_unit_test(test_histogram_exposition),
        cmocka_unit_test(test_default_buckets), cmocka_unit_test(test_exp_buckets),
        cmocka_unit_test(test_sorting_and_escaping), cmocka_unit_test(test_format_double),
        cmocka_unit_test(test_gauge_func),      cmocka_unit_test(test_threads),
        cmocka_unit_test(test_child_cap),       cmocka_unit_test(test_process_metrics),
        cmocka_unit_test(test_promtool),        cmocka_unit_test(test_invalid_utf8_label),
        cmocka_unit_test(test_collector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
