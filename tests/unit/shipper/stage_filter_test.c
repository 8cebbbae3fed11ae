/*
 * Tests for shipper/stage_filter.c: drop (every option, ANDed conditions,
 * list sources with a separator, byte sizes, ages), limit (token bucket,
 * per-label buckets and their generations, blocking mode) and sampling,
 * plus Promtail's validation errors.
 */
#include "common/clock.h"
#include "common/metrics.h"
#include "shipper/stage.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

typedef int (*ctor_fn)(const struct noa_yaml_node *, const struct noa_stage_ctx *,
                       struct noa_stage **, struct noa_error *);

static int build_ctx(ctor_fn ctor, const char *yaml, const struct noa_stage_ctx *ctx,
                     struct noa_stage **out, struct noa_error *err)
{
    struct noa_yaml_doc *doc = NULL;
    struct noa_error perr = {0};
    if (noa_yaml_parse(yaml, strlen(yaml), "cfg.yaml", NULL, &doc, &perr) != 0)
        fail_msg("yaml: %s", perr.msg);
    int rc = ctor(doc->root->pairs[0].value, ctx, out, err);
    noa_yaml_free(doc);
    return rc;
}

static struct noa_stage *must_build_ctx(ctor_fn ctor, const char *yaml,
                                        const struct noa_stage_ctx *ctx)
{
    struct noa_stage *st = NULL;
    struct noa_error err = {0};
    if (build_ctx(ctor, yaml, ctx, &st, &err) != 0)
        fail_msg("build %s: %s", yaml, err.msg);
    return st;
}

static struct noa_stage *must_build(ctor_fn ctor, const char *yaml)
{
    return must_build_ctx(ctor, yaml, NULL);
}

static void expect_error(ctor_fn ctor, const char *yaml, const char *msg)
{
    struct noa_stage *st = NULL;
    struct noa_error err = {0};
    assert_int_equal(build_ctx(ctor, yaml, NULL, &st, &err), NOA_EINVAL);
    assert_null(st);
    if (strncmp(err.msg, msg, strlen(msg)) != 0)
        fail_msg("yaml %s: got error '%s', want '%s'", yaml, err.msg, msg);
}

#define NOW (1700000000LL * 1000000000LL)

static enum noa_stage_verdict run_line(struct noa_stage *st, const char *line,
                                       const char *const *extracted, int64_t ts)
{
    struct noa_entry e;
    noa_entry_init(&e);
    noa_buf_append(&e.line, line, strlen(line));
    for (; extracted && extracted[0]; extracted += 2)
        noa_kvlist_set(&e.extracted, noa_str_c(extracted[0]), noa_str_c(extracted[1]));
    e.ts_ns = ts;
    enum noa_stage_verdict v = st->ops->process(st, &e, NULL, NOW);
    noa_entry_fini(&e);
    return v;
}

#define PASS NOA_STAGE_PASS
#define DROP NOA_STAGE_DROP

static void test_drop_source(void **state)
{
    (void)state;
    /* source alone: drop when the key exists */
    struct noa_stage *st = must_build(noa_stage_drop_new, "drop:\n  source: debug\n");
    assert_string_equal(st->ops->name, "drop");
    assert_string_equal(st->drop_reason, "drop_stage");
    assert_int_equal(run_line(st, "x", (const char *[]){"debug", "", NULL}, NOW), DROP);
    assert_int_equal(run_line(st, "x", (const char *[]){"other", "1", NULL}, NOW), PASS);
    st->ops->free(st);
    /* source + value: exact match only */
    st = must_build(noa_stage_drop_new,
                    "drop:\n  source: level\n  value: debug\n  drop_counter_reason: noisy\n");
    assert_string_equal(st->drop_reason, "noisy");
    assert_int_equal(run_line(st, "x", (const char *[]){"level", "debug", NULL}, NOW), DROP);
    assert_int_equal(run_line(st, "x", (const char *[]){"level", "debugx", NULL}, NOW), PASS);
    assert_int_equal(run_line(st, "x", NULL, NOW), PASS);
    st->ops->free(st);
    /* a list of sources is joined by the separator; all must exist */
    st = must_build(noa_stage_drop_new,
                    "drop:\n  source: [level, app]\n  separator: \"|\"\n  value: info|web\n");
    assert_int_equal(run_line(st, "x", (const char *[]){"app", "web", "level", "info", NULL}, NOW),
                     DROP);
    assert_int_equal(run_line(st, "x", (const char *[]){"app", "api", "level", "info", NULL}, NOW),
                     PASS);
    assert_int_equal(run_line(st, "x", (const char *[]){"level", "info", NULL}, NOW), PASS);
    st->ops->free(st);
    /* the default separator is ';', and the expression tests the joined text */
    st = must_build(noa_stage_drop_new,
                    "drop:\n  source:\n    - level\n    - app\n  expression: \"^info;w\"\n");
    assert_int_equal(run_line(st, "x", (const char *[]){"app", "web", "level", "info", NULL}, NOW),
                     DROP);
    assert_int_equal(run_line(st, "x", (const char *[]){"app", "api", "level", "info", NULL}, NOW),
                     PASS);
    st->ops->free(st);
}

static void test_drop_line_age_size(void **state)
{
    (void)state;
    /* expression without source: the line */
    struct noa_stage *st = must_build(noa_stage_drop_new, "drop:\n  expression: \".*debug.*\"\n");
    assert_int_equal(run_line(st, "a debug line", NULL, NOW), DROP);
    assert_int_equal(run_line(st, "an info line", NULL, NOW), PASS);
    st->ops->free(st);
    /* older_than compares the entry's timestamp with now */
    st = must_build(noa_stage_drop_new, "drop:\n  older_than: 24h\n  drop_counter_reason: old\n");
    int64_t day = 86400LL * 1000000000LL;
    assert_int_equal(run_line(st, "x", NULL, NOW - day - 1), DROP);
    assert_int_equal(run_line(st, "x", NULL, NOW - day), PASS);
    assert_int_equal(run_line(st, "x", NULL, NOW), PASS);
    st->ops->free(st);
    /* longer_than takes Loki's byte sizes: 8kb = 8192 */
    st = must_build(noa_stage_drop_new, "drop:\n  longer_than: 8kb\n");
    static char big[8194];
    memset(big, 'x', 8193);
    assert_int_equal(run_line(st, big, NULL, NOW), DROP);
    big[8192] = 0;
    assert_int_equal(run_line(st, big, NULL, NOW), PASS);
    st->ops->free(st);
    /* conditions are ANDed */
    st = must_build(noa_stage_drop_new, "drop:\n  longer_than: 10\n  expression: secret\n");
    assert_int_equal(run_line(st, "a secret line, long", NULL, NOW), DROP);
    assert_int_equal(run_line(st, "secret", NULL, NOW), PASS);
    assert_int_equal(run_line(st, "a public line, long", NULL, NOW), PASS);
    st->ops->free(st);
}

static void test_drop_errors(void **state)
{
    (void)state;
    expect_error(noa_stage_drop_new, "drop:\n",
                 "cfg.yaml:1:6: drop stage config must contain at least one of `source`, "
                 "`expression`, `older_than` or `longer_than`");
    expect_error(noa_stage_drop_new, "drop:\n  drop_counter_reason: x\n",
                 "cfg.yaml:2:3: drop stage config must contain at least one of");
    expect_error(noa_stage_drop_new, "drop:\n  source: a\n  value: b\n  expression: c\n",
                 "cfg.yaml:2:3: drop stage config error, `value` and `expression` cannot both "
                 "be defined at the same time.");
    expect_error(noa_stage_drop_new, "drop:\n  expression: a\n  value: b\n",
                 "cfg.yaml:2:3: drop stage config error, `value` and `expression`");
    expect_error(noa_stage_drop_new, "drop:\n  longer_than: 1\n  value: b\n",
                 "cfg.yaml:2:3: drop stage config must contain `source` if `value` is specified");
    expect_error(noa_stage_drop_new, "drop:\n  expression: \"(a\"\n",
                 "cfg.yaml:2:15: drop stage regex compilation error: ");
    expect_error(noa_stage_drop_new, "drop:\n  older_than: soon\n", "cfg.yaml:2:15: ");
    expect_error(noa_stage_drop_new, "drop:\n  longer_than: huge\n", "cfg.yaml:2:16: ");
    expect_error(noa_stage_drop_new, "drop:\n  sources: a\n",
                 "cfg.yaml:2:3: field sources not found in type stages.DropConfig");
    expect_error(noa_stage_drop_new, "drop:\n  source: {a: b}\n",
                 "cfg.yaml:2:11: cannot unmarshal !!map into string or []string");
}

static enum noa_stage_verdict run_at(struct noa_stage *st, const char *app, int64_t now)
{
    struct noa_entry e;
    noa_entry_init(&e);
    if (app)
        noa_kvlist_set(&e.labels, NOA_STR("app"), noa_str_c(app));
    enum noa_stage_verdict v = st->ops->process(st, &e, NULL, now);
    noa_entry_fini(&e);
    return v;
}

static void test_limit_drop(void **state)
{
    (void)state;
    struct noa_stage *st =
        must_build(noa_stage_limit_new, "limit:\n  rate: 10\n  burst: 3\n  drop: true\n");
    assert_string_equal(st->drop_reason, "ratelimit_drop_stage");
    for (int i = 0; i < 3; i++)
        assert_int_equal(run_at(st, NULL, NOW), PASS);
    assert_int_equal(run_at(st, NULL, NOW), DROP);
    /* 10/s: one token back after 100 ms, not before */
    assert_int_equal(run_at(st, NULL, NOW + 99000000), DROP);
    assert_int_equal(run_at(st, NULL, NOW + 100000000), PASS);
    assert_int_equal(run_at(st, NULL, NOW + 100000000), DROP);
    /* the bucket never holds more than burst */
    int64_t later = NOW + 3600LL * 1000000000LL;
    for (int i = 0; i < 3; i++)
        assert_int_equal(run_at(st, NULL, later), PASS);
    assert_int_equal(run_at(st, NULL, later), DROP);
    st->ops->free(st);
}

static void test_limit_by_label(void **state)
{
    (void)state;
    struct noa_metrics *reg = noa_metrics_new();
    struct noa_stage_ctx ctx = {.metrics = reg};
    struct noa_stage *st =
        must_build_ctx(noa_stage_limit_new,
                       "limit:\n  rate: 1\n  burst: 1\n  drop: true\n  by_label_name: app\n"
                       "  max_distinct_labels: 5\n",
                       &ctx);
    assert_int_equal(run_at(st, "a", NOW), PASS);
    assert_int_equal(run_at(st, "a", NOW), DROP);
    assert_int_equal(run_at(st, "b", NOW), PASS);
    assert_int_equal(run_at(st, "b", NOW), DROP);
    assert_int_equal(run_at(st, "a", NOW), DROP);
    /* entries without the label are never limited */
    for (int i = 0; i < 5; i++)
        assert_int_equal(run_at(st, NULL, NOW), PASS);
    struct noa_buf out = {0};
    noa_metrics_write(reg, &out);
    const char *text = noa_buf_cstr(&out);
    assert_non_null(strstr(text, "logentry_dropped_lines_by_label_total{label_name=\"app\","
                                 "label_value=\"a\"} 2\n"));
    assert_non_null(strstr(text, "logentry_dropped_lines_by_label_total{label_name=\"app\","
                                 "label_value=\"b\"} 1\n"));
    noa_buf_fini(&out);
    /* max_distinct_labels is raised to 10000; a value in use keeps its
     * bucket across generations while 25000 other values pass through */
    char name[32];
    for (int i = 0; i < 25000; i++) {
        snprintf(name, sizeof(name), "v%d", i);
        assert_int_equal(run_at(st, name, NOW), PASS);
        if (i % 4000 == 0)
            assert_int_equal(run_at(st, "a", NOW), DROP);
    }
    /* a value unseen for two generations starts afresh */
    assert_int_equal(run_at(st, "b", NOW), PASS);
    st->ops->free(st);
    noa_metrics_free(reg);
}

static void test_limit_blocks(void **state)
{
    (void)state;
    /* drop: false waits for the token: at a fixed "now", 100/s and burst 1
     * make the 2nd entry wait 10 ms and the 3rd 20 ms, and none is dropped */
    struct noa_stage *st = must_build(noa_stage_limit_new, "limit:\n  rate: 100\n  burst: 1\n");
    int64_t t0 = noa_clock_mono_ns();
    for (int i = 0; i < 3; i++)
        assert_int_equal(run_at(st, NULL, NOW), PASS);
    int64_t took = noa_clock_mono_ns() - t0;
    assert_true(took >= 29000000);
    assert_true(took < 5000000000LL);
    st->ops->free(st);
}

static void test_limit_errors(void **state)
{
    (void)state;
    expect_error(noa_stage_limit_new, "limit:\n  rate: 0\n  burst: 1\n",
                 "cfg.yaml:2:3: limit stage failed to parse rate or burst");
    expect_error(noa_stage_limit_new, "limit:\n  rate: 5\n",
                 "cfg.yaml:2:3: limit stage failed to parse rate or burst");
    expect_error(noa_stage_limit_new, "limit:\n",
                 "cfg.yaml:1:7: limit stage failed to parse rate or burst");
    expect_error(noa_stage_limit_new, "limit:\n  rate: 5\n  burst: 5\n  by_label_name: app\n",
                 "cfg.yaml:2:3: When ratelimiting by label, drop must be true");
    expect_error(noa_stage_limit_new, "limit:\n  rate: 5\n  burst: 5\n  drops: true\n",
                 "cfg.yaml:4:3: field drops not found in type stages.LimitConfig");
}

static void test_sampling(void **state)
{
    (void)state;
    struct noa_stage *st = must_build(noa_stage_sampling_new, "sampling:\n  rate: 0\n");
    assert_string_equal(st->drop_reason, "sampling_stage");
    for (int i = 0; i < 1000; i++)
        assert_int_equal(run_line(st, "x", NULL, NOW), DROP);
    st->ops->free(st);
    st = must_build(noa_stage_sampling_new, "sampling:\n  rate: 1\n");
    for (int i = 0; i < 1000; i++)
        assert_int_equal(run_line(st, "x", NULL, NOW), PASS);
    st->ops->free(st);
    st = must_build(noa_stage_sampling_new,
                    "sampling:\n  rate: 0.25\n  drop_counter_reason: sampled_out\n");
    assert_string_equal(st->drop_reason, "sampled_out");
    int kept = 0;
    for (int i = 0; i < 20000; i++)
        kept += run_line(st, "x", NULL, NOW) == PASS;
    /* 5000 expected; the bounds are over 10 standard deviations away */
    assert_true(kept > 4400 && kept < 5600);
    st->ops->free(st);
    expect_error(noa_stage_sampling_new, "sampling:\n  rate: 1.5\n",
                 "cfg.yaml:2:3: sampling stage failed to parse rate,Sampling Rate must be "
                 "between 0.0 and 1.0, received 1.500000");
    expect_error(noa_stage_sampling_new, "sampling:\n  rate: fast\n", "cfg.yaml:2:9: ");
}

struct sink {
    struct noa_stages_sink base;
    int n;
    char last[256];
};

static void sink_cb(struct noa_stages_sink *self, struct noa_entry *e)
{
    struct sink *k = (struct sink *)self;
    k->n++;
    struct noa_buf b = {0};
    noa_kvlist_format(&e->labels, &b);
    snprintf(k->last, sizeof(k->last), "%lld %s", (long long)e->ts_ns,
             b.len ? noa_buf_cstr(&b) : "{}");
    noa_buf_fini(&b);
}

/* The stages in a compiled pipeline (shipper/stages.c): labels are seeded
 * into extracted, drops are counted under each stage's reason. */
static void test_in_pipeline(void **state)
{
    (void)state;
    static const char yaml[] = "pipeline_stages:\n"
                               "  - static_labels: {env: prod}\n"
                               "  - drop:\n"
                               "      source: filename\n"
                               "      expression: \"\\\\.gz$\"\n"
                               "      drop_counter_reason: compressed\n"
                               "  - timestamp: {source: filename, format: Unix}\n"
                               "  - sampling: {rate: 0}\n";
    struct noa_yaml_doc *doc = NULL;
    struct noa_error err = {0};
    assert_int_equal(noa_yaml_parse(yaml, strlen(yaml), "cfg.yaml", NULL, &doc, &err), 0);
    struct noa_metrics *reg = noa_metrics_new();
    struct noa_stage_ctx ctx = {.metrics = reg};
    struct noa_stages *p = NULL;
    if (noa_stages_new(doc->root->pairs[0].value, &ctx, &p, &err) != 0)
        fail_msg("pipeline: %s", err.msg);
    struct sink k = {{sink_cb}, 0, ""};
    struct noa_entry e;
    noa_entry_init(&e);
    noa_kvlist_set(&e.labels, NOA_STR("filename"), NOA_STR("/var/log/a.log.gz"));
    assert_int_equal(noa_stages_run(p, &e, &k.base, NOW), NOA_STAGE_DROP);
    noa_entry_reset(&e);
    noa_kvlist_set(&e.labels, NOA_STR("filename"), NOA_STR("/var/log/a.log"));
    assert_int_equal(noa_stages_run(p, &e, &k.base, NOW), NOA_STAGE_DROP);
    assert_int_equal(k.n, 0);
    struct noa_buf out = {0};
    noa_metrics_write(reg, &out);
    assert_non_null(
        strstr(noa_buf_cstr(&out), "logentry_dropped_lines_total{reason=\"compressed\"} 1\n"));
    assert_non_null(
        strstr(noa_buf_cstr(&out), "logentry_dropped_lines_total{reason=\"sampling_stage\"} 1\n"));
    noa_buf_fini(&out);
    noa_entry_fini(&e);
    noa_stages_free(p);
    noa_metrics_free(reg);
    noa_yaml_free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drop_source),    cmocka_unit_test(test_drop_line_age_size),
        cmocka_unit_test(test_drop_errors),    cmocka_unit_test(test_limit_drop),
        cmocka_unit_test(test_limit_by_label), cmocka_unit_test(test_limit_blocks),
        cmocka_unit_test(test_limit_errors),   cmocka_unit_test(test_sampling),
        cmocka_unit_test(test_in_pipeline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
