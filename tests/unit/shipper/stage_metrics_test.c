/*
 * Tests for shipper/stage_metrics.c: Promtail's documented counter, gauge
 * and histogram examples with the /metrics text checked exactly, value
 * filters and conversions (numbers, durations, booleans), per-label-set
 * series (reserved labels left out, values escaped), idle expiry at scrape
 * time, sharing between pipeline copies and release, validation errors.
 */
#include "common/metrics.h"
#include "shipper/stage.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define S 1000000000LL

static int64_t fake_now = 1700000000LL * S;

static int64_t clock_fn(void)
{
    return fake_now;
}

static int build(const char *yaml, struct noa_metrics *reg, struct noa_stage **out,
                 struct noa_error *err)
{
    struct noa_yaml_doc *doc = NULL;
    struct noa_error perr = {0};
    if (noa_yaml_parse(yaml, strlen(yaml), "cfg.yaml", NULL, &doc, &perr) != 0)
        fail_msg("yaml: %s", perr.msg);
    struct noa_stage_ctx ctx = {.metrics = reg, .job_name = "job", .now_ns = clock_fn};
    int rc = noa_stage_metrics_new(doc->root->pairs[0].value, &ctx, out, err);
    noa_yaml_free(doc);
    return rc;
}

static struct noa_stage *must_build(const char *yaml, struct noa_metrics *reg)
{
    struct noa_stage *st = NULL;
    struct noa_error err = {0};
    if (build(yaml, reg, &st, &err) != 0)
        fail_msg("build %s: %s", yaml, err.msg);
    return st;
}

static void expect_error(const char *yaml, const char *msg)
{
    struct noa_metrics *reg = noa_metrics_new();
    struct noa_stage *st = NULL;
    struct noa_error err = {0};
    assert_int_equal(build(yaml, reg, &st, &err), NOA_EINVAL);
    assert_null(st);
    if (strcmp(err.msg, msg) != 0)
        fail_msg("yaml %s: got error '%s', want '%s'", yaml, err.msg, msg);
    noa_metrics_free(reg);
}

/* Runs an entry with the given labels, extracted pairs and line. */
static void run(struct noa_stage *st, const char *const *labels, const char *const *extracted,
                const char *line)
{
    struct noa_entry e;
    noa_entry_init(&e);
    for (; labels && labels[0]; labels += 2)
        noa_kvlist_set(&e.labels, noa_str_c(labels[0]), noa_str_c(labels[1]));
    noa_kvlist_copy(&e.extracted, &e.labels);
    for (; extracted && extracted[0]; extracted += 2)
        noa_kvlist_set(&e.extracted, noa_str_c(extracted[0]), noa_str_c(extracted[1]));
    noa_buf_append(&e.line, line, strlen(line));
    assert_int_equal(st->ops->process(st, &e, NULL, fake_now), NOA_STAGE_PASS);
    noa_entry_fini(&e);
}

static char scraped[8192];

static const char *scrape(struct noa_metrics *reg)
{
    struct noa_buf b = {0};
    noa_metrics_write(reg, &b);
    snprintf(scraped, sizeof(scraped), "%s", b.len ? noa_buf_cstr(&b) : "");
    noa_buf_fini(&b);
    return scraped;
}

static const char *const APP_A[] = {"app", "a", NULL};
static const char *const APP_B[] = {"app", "b", "__tenant_id__", "t", NULL};

static void test_counters(void **state)
{
    (void)state;
    struct noa_metrics *reg = noa_metrics_new();
    struct noa_stage *st = must_build("metrics:\n"
                                      "  log_lines_total:\n"
                                      "    type: Counter\n"
                                      "    description: \"total number of log lines\"\n"
                                      "    prefix: my_promtail_custom_\n"
                                      "    max_idle_duration: 24h\n"
                                      "    config:\n"
                                      "      match_all: true\n"
                                      "      action: inc\n"
                                      "  log_bytes_total:\n"
                                      "    type: Counter\n"
                                      "    description: \"total bytes of log lines\"\n"
                                      "    prefix: my_promtail_custom_\n"
                                      "    config:\n"
                                      "      match_all: true\n"
                                      "      count_entry_bytes: true\n"
                                      "      action: add\n"
                                      "  panics:\n"
                                      "    type: counter\n"
                                      "    source: level\n"
                                      "    config:\n"
                                      "      value: panic\n"
                                      "      action: inc\n"
                                      "  bytes_out:\n"
                                      "    type: Counter\n"
                                      "    description: sent\n"
                                      "    config:\n"
                                      "      action: add\n",
                                      reg);
    assert_string_equal(st->ops->name, "metrics");
    run(st, APP_A, (const char *[]){"level", "panic", "bytes_out", "10", NULL}, "hello");
    run(st, APP_A, (const char *[]){"level", "info", "bytes_out", "2.5", NULL}, "hi");
    run(st, APP_B, (const char *[]){"level", "panic", "bytes_out", "nope", NULL}, "");
    /* negative adds cannot lower a counter */
    run(st, APP_A, (const char *[]){"bytes_out", "-100", NULL}, "x");
    assert_string_equal(scrape(reg),
                        "# HELP my_promtail_custom_log_bytes_total total bytes of log lines\n"
                        "# TYPE my_promtail_custom_log_bytes_total counter\n"
                        "my_promtail_custom_log_bytes_total{app=\"a\"} 8\n"
                        "my_promtail_custom_log_bytes_total{app=\"b\"} 0\n"
                        "# HELP my_promtail_custom_log_lines_total total number of log lines\n"
                        "# TYPE my_promtail_custom_log_lines_total counter\n"
                        "my_promtail_custom_log_lines_total{app=\"a\"} 3\n"
                        "my_promtail_custom_log_lines_total{app=\"b\"} 1\n"
                        "# HELP promtail_custom_bytes_out sent\n"
                        "# TYPE promtail_custom_bytes_out counter\n"
                        "promtail_custom_bytes_out{app=\"a\"} 12.5\n"
                        "# HELP promtail_custom_panics \n"
                        "# TYPE promtail_custom_panics counter\n"
                        "promtail_custom_panics{app=\"a\"} 1\n"
                        "promtail_custom_panics{app=\"b\"} 1\n");
    st->ops->free(st);
    /* the last stage gone, the metrics go (Promtail resets them on reload) */
    assert_string_equal(scrape(reg), "");
    noa_metrics_free(reg);
}

static void test_gauges(void **state)
{
    (void)state;
    struct noa_metrics *reg = noa_metrics_new();
    struct noa_stage *st = must_build("metrics:\n"
                                      "  queue_elements:\n"
                                      "    type: Gauge\n"
                                      "    description: \"elements in queue\"\n"
                                      "    source: queue\n"
                                      "    config:\n"
                                      "      action: set\n"
                                      "  up:\n"
                                      "    type: Gauge\n"
                                      "    config: {action: INC}\n"
                                      "  down:\n"
                                      "    type: Gauge\n"
                                      "    source: up\n"
                                      "    config: {action: sub}\n",
                                      reg);
    run(st, NULL, (const char *[]){"queue", "5", "up", "1.5", NULL}, "");
    run(st, NULL, (const char *[]){"queue", "true", "up", "2", NULL}, "");
    run(st, NULL, (const char *[]){"queue", "1m30s", NULL}, "");
    run(st, NULL, (const char *[]){"queue", "lots", NULL}, ""); /* not a number: ignored */
    assert_string_equal(scrape(reg), "# HELP promtail_custom_down \n"
                                     "# TYPE promtail_custom_down gauge\n"
                                     "promtail_custom_down -3.5\n"
                                     "# HELP promtail_custom_queue_elements elements in queue\n"
                                     "# TYPE promtail_custom_queue_elements gauge\n"
                                     "promtail_custom_queue_elements 90\n"
                                     "# HELP promtail_custom_up \n"
                                     "# TYPE promtail_custom_up gauge\n"
                                     "promtail_custom_up 2\n");
    st->ops->free(st);
    noa_metrics_free(reg);
}

static void test_histogram(void **state)
{
    (void)state;
    struct noa_metrics *reg = noa_metrics_new();
    struct noa_stage *st = must_build("metrics:\n"
                                      "  response_time_seconds:\n"
                                      "    type: Histogram\n"
                                      "    description: \"response time\"\n"
                                      "    source: response_time\n"
                                      "    config:\n"
                                      "      buckets: [0.001,0.0025,0.005,0.010,0.025,0.050]\n",
                                      reg);
    const char *const pod[] = {"pod", "w\"e\nb\\", NULL};
    run(st, pod, (const char *[]){"response_time", "0.002", NULL}, "");
    run(st, pod, (const char *[]){"response_time", "10ms", NULL}, "");
    run(st, pod, (const char *[]){"response_time", "2", NULL}, "");
    assert_string_equal(
        scrape(reg),
        "# HELP promtail_custom_response_time_seconds response time\n"
        "# TYPE promtail_custom_response_time_seconds histogram\n"
        "promtail_custom_response_time_seconds_bucket{pod=\"w\\\"e\\nb\\\\\",le=\"0.001\"} 0\n"
        "promtail_custom_response_time_seconds_bucket{pod=\"w\\\"e\\nb\\\\\",le=\"0.0025\"} 1\n"
        "promtail_custom_response_time_seconds_bucket{pod=\"w\\\"e\\nb\\\\\",le=\"0.005\"} 1\n"
        "promtail_custom_response_time_seconds_bucket{pod=\"w\\\"e\\nb\\\\\",le=\"0.01\"} 2\n"
        "promtail_custom_response_time_seconds_bucket{pod=\"w\\\"e\\nb\\\\\",le=\"0.025\"} 2\n"
        "promtail_custom_response_time_seconds_bucket{pod=\"w\\\"e\\nb\\\\\",le=\"0.05\"} 2\n"
        "promtail_custom_response_time_seconds_bucket{pod=\"w\\\"e\\nb\\\\\",le=\"+Inf\"} 3\n"
        "promtail_custom_response_time_seconds_sum{pod=\"w\\\"e\\nb\\\\\"} 2.012\n"
        "promtail_custom_response_time_seconds_count{pod=\"w\\\"e\\nb\\\\\"} 3\n");
    st->ops->free(st);
    /* default buckets */
    st = must_build("metrics:\n  h:\n    type: Histogram\n", reg);
    run(st, NULL, (const char *[]){"h", "0.3", NULL}, "");
    const char *text = scrape(reg);
    assert_non_null(strstr(text, "promtail_custom_h_bucket{le=\"0.25\"} 0\n"
                                 "promtail_custom_h_bucket{le=\"0.5\"} 1\n"));
    assert_non_null(strstr(text, "promtail_custom_h_bucket{le=\"10\"} 1\n"
                                 "promtail_custom_h_bucket{le=\"+Inf\"} 1\n"));
    st->ops->free(st);
    noa_metrics_free(reg);
}

static void test_idle_and_sharing(void **state)
{
    (void)state;
    struct noa_metrics *reg = noa_metrics_new();
    const char *cfg = "metrics:\n  lines_total:\n    type: Counter\n"
                      "    max_idle_duration: 1m\n    config: {match_all: true, action: inc}\n";
    /* two reader threads' copies of one pipeline count into the same series */
    struct noa_stage *a = must_build(cfg, reg);
    struct noa_stage *b = must_build(cfg, reg);
    run(a, APP_A, NULL, "");
    run(b, APP_A, NULL, "");
    fake_now += 30 * S;
    run(b, (const char *[]){"app", "c", NULL}, NULL, "");
    assert_string_equal(scrape(reg), "# HELP promtail_custom_lines_total \n"
                                     "# TYPE promtail_custom_lines_total counter\n"
                                     "promtail_custom_lines_total{app=\"a\"} 2\n"
                                     "promtail_custom_lines_total{app=\"c\"} 1\n");
    /* a's series is idle for 60 s: written once more, then gone */
    fake_now += 30 * S;
    assert_string_equal(scrape(reg), "# HELP promtail_custom_lines_total \n"
                                     "# TYPE promtail_custom_lines_total counter\n"
                                     "promtail_custom_lines_total{app=\"a\"} 2\n"
                                     "promtail_custom_lines_total{app=\"c\"} 1\n");
    assert_string_equal(scrape(reg), "# HELP promtail_custom_lines_total \n"
                                     "# TYPE promtail_custom_lines_total counter\n"
                                     "promtail_custom_lines_total{app=\"c\"} 1\n");
    a->ops->free(a);
    run(b, APP_A, NULL, "");
    assert_non_null(strstr(scrape(reg), "promtail_custom_lines_total{app=\"a\"} 1\n"));
    /* the same name with another type is refused while the first lives */
    struct noa_stage *c = NULL;
    struct noa_error err = {0};
    assert_int_equal(build("metrics:\n  lines_total:\n    type: Gauge\n    config: {action: set}\n",
                           reg, &c, &err),
                     NOA_EINVAL);
    assert_string_equal(err.msg, "cfg.yaml:2:3: metric promtail_custom_lines_total is already "
                                 "defined with another type or buckets");
    b->ops->free(b);
    c = must_build("metrics:\n  lines_total:\n    type: Gauge\n    config: {action: set}\n", reg);
    c->ops->free(c);
    noa_metrics_free(reg);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("metrics:\n", "cfg.yaml:1:9: empty metric stage configuration");
    expect_error("metrics:\n  x:\n    type: Summary\n",
                 "cfg.yaml:3:11: invalid metric type 'summary', metric type must be one of "
                 "'counter', 'gauge', or 'histogram'");
    expect_error("metrics:\n  x:\n    type: Counter\n",
                 "cfg.yaml:3:5: counter action must be defined as either `inc` or `add`");
    expect_error("metrics:\n  x:\n    type: Counter\n    config:\n      action: set\n",
                 "cfg.yaml:5:7: action set is not valid, action must be either `inc` or `add`");
    expect_error("metrics:\n  x:\n    type: Counter\n    config:\n      action: inc\n"
                 "      match_all: true\n      value: a\n",
                 "cfg.yaml:5:7: `match_all: true` cannot be combined with `value`, please remove "
                 "`match_all` or `value`");
    expect_error("metrics:\n  x:\n    type: Counter\n    config:\n      action: add\n"
                 "      count_entry_bytes: true\n",
                 "cfg.yaml:5:7: `count_entry_bytes: true` can only be set with `match_all: true`");
    expect_error("metrics:\n  x:\n    type: Counter\n    config:\n      action: inc\n"
                 "      match_all: true\n      count_entry_bytes: true\n",
                 "cfg.yaml:5:7: `count_entry_bytes: true` can only be used with `action: add`");
    expect_error("metrics:\n  x:\n    type: Gauge\n    config: {action: mul}\n",
                 "cfg.yaml:4:13: action mul is not valid, action must be `set`, `inc`, `dec`, "
                 "`add`, or `sub`");
    expect_error("metrics:\n  x:\n    type: Gauge\n",
                 "cfg.yaml:3:5: gauge action must be defined as `set`, `inc`, `dec`, `add`, or "
                 "`sub`");
    expect_error("metrics:\n  x:\n    type: Histogram\n    config: {buckets: [1, 0.5]}\n",
                 "cfg.yaml:4:27: histogram buckets must be in increasing order");
    expect_error("metrics:\n  x:\n    type: Gauge\n    max_idle_duration: 500ms\n"
                 "    config: {action: set}\n",
                 "cfg.yaml:4:24: max_idle_duration less than 1s not allowed");
    expect_error("metrics:\n  x:\n    type: Gauge\n    max_idle_duration: 5 minutes\n"
                 "    config: {action: set}\n",
                 "cfg.yaml:4:24: max_idle_duration could not be parsed as a time.Duration: '5 "
                 "minutes'");
    expect_error("metrics:\n  x-y:\n    type: Gauge\n    config: {action: set}\n",
                 "cfg.yaml:2:3: invalid metric name promtail_custom_x-y");
    expect_error("metrics:\n  x:\n    type: Gauge\n    kind: a\n",
                 "cfg.yaml:4:5: field kind not found in type stages.MetricConfig");
    expect_error("metrics:\n  x:\n    type: Gauge\n    config: {action: set, buckets: [1]}\n",
                 "cfg.yaml:4:27: field buckets not found in type metric.GaugeConfig");
}

static void *count_thread(void *arg)
{
    struct noa_stage *st = arg;
    for (int i = 0; i < 20000; i++)
        run(st, APP_A, NULL, "");
    return NULL;
}

/* Reader threads with their own copies of a pipeline update one series. */
static void test_threads(void **state)
{
    (void)state;
    struct noa_metrics *reg = noa_metrics_new();
    const char *cfg = "metrics:\n  seen_total:\n    type: Counter\n"
                      "    config: {match_all: true, action: inc}\n";
    struct noa_stage *st[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        st[i] = must_build(cfg, reg);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, count_thread, st[i]), 0);
    for (int i = 0; i < 4; i++) {
        /* scrapes may run while the threads count */
        assert_non_null(strstr(scrape(reg), "# TYPE promtail_custom_seen_total counter\n"));
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_non_null(strstr(scrape(reg), "promtail_custom_seen_total{app=\"a\"} 80000\n"));
    for (int i = 0; i < 4; i++)
        st[i]->ops->free(st[i]);
    noa_metrics_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters),  cmocka_unit_test(test_gauges),
        cmocka_unit_test(test_histogram), cmocka_unit_test(test_idle_and_sharing),
        cmocka_unit_test(test_errors),    cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
