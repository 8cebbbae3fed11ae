/*
 * Tests for shipper/stage_timestamp.c: Promtail's documented examples,
 * fallback formats, locations, the no-year rule through the stage's clock,
 * action_on_failure fudge (per label set, chained, LRU-bounded) and skip,
 * and the validation errors.
 */
#include "shipper/stage.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define S 1000000000LL
#define READ_TIME (1700000000LL * S) /* 2023-11-14T22:13:20Z */

static int build(const char *yaml, struct noa_stage **out, struct noa_error *err)
{
    struct noa_yaml_doc *doc = NULL;
    struct noa_error perr = {0};
    if (noa_yaml_parse(yaml, strlen(yaml), "cfg.yaml", NULL, &doc, &perr) != 0)
        fail_msg("yaml: %s", perr.msg);
    int rc = noa_stage_timestamp_new(doc->root->pairs[0].value, NULL, out, err);
    noa_yaml_free(doc);
    return rc;
}

static struct noa_stage *must_build(const char *yaml)
{
    struct noa_stage *st = NULL;
    struct noa_error err = {0};
    if (build(yaml, &st, &err) != 0)
        fail_msg("build %s: %s", yaml, err.msg);
    return st;
}

static void expect_error(const char *yaml, const char *msg)
{
    struct noa_stage *st = NULL;
    struct noa_error err = {0};
    assert_int_equal(build(yaml, &st, &err), NOA_EINVAL);
    assert_null(st);
    if (strcmp(err.msg, msg) != 0)
        fail_msg("yaml %s: got error '%s', want '%s'", yaml, err.msg, msg);
}

/* Runs one entry with labels {stream=<stream>} and extracted time=<value>
 * (NULL: absent) read at READ_TIME; returns its timestamp. */
static int64_t run(struct noa_stage *st, const char *stream, const char *value, int64_t now)
{
    struct noa_entry e;
    noa_entry_init(&e);
    noa_kvlist_set(&e.labels, NOA_STR("stream"), noa_str_c(stream));
    noa_kvlist_copy(&e.extracted, &e.labels);
    if (value)
        noa_kvlist_set(&e.extracted, NOA_STR("time"), noa_str_c(value));
    e.ts_ns = READ_TIME;
    assert_int_equal(st->ops->process(st, &e, NULL, now), NOA_STAGE_PASS);
    int64_t ts = e.ts_ns;
    noa_entry_fini(&e);
    return ts;
}

static void test_doc_examples(void **state)
{
    (void)state;
    struct noa_stage *st = must_build("timestamp:\n  source: time\n  format: RFC3339Nano\n");
    assert_string_equal(st->ops->name, "timestamp");
    assert_int_equal(run(st, "a", "2019-07-09T22:48:36.123456789Z", READ_TIME),
                     1562712516123456789LL);
    st->ops->free(st);
    /* a custom layout in a location (Promtail's doc: America/New_York) */
    st = must_build("timestamp:\n  source: time\n  format: \"2006-01-02 15:04:05.000\"\n"
                    "  location: America/New_York\n");
    assert_int_equal(run(st, "a", "2023-07-05 12:34:56.789", READ_TIME),
                     1688574896LL * S + 789000000);
    st->ops->free(st);
    st = must_build("timestamp:\n  source: time\n  format: UnixMs\n");
    assert_int_equal(run(st, "a", "1562708916414", READ_TIME), 1562708916414000000LL);
    st->ops->free(st);
}

static void test_fallbacks_and_no_year(void **state)
{
    (void)state;
    struct noa_stage *st = must_build("timestamp:\n  source: time\n  format: RFC3339\n"
                                      "  fallback_formats:\n    - UnixNs\n"
                                      "    - \"Jan _2 15:04:05\"\n");
    assert_int_equal(run(st, "a", "2023-10-05T12:34:56Z", READ_TIME), 1696509296LL * S);
    assert_int_equal(run(st, "a", "1696509296000000001", READ_TIME), 1696509296LL * S + 1);
    /* the year comes from the processing time */
    assert_int_equal(run(st, "a", "Oct  5 12:34:56", READ_TIME), 1696509296LL * S);
    int64_t jan2024 = 1704153600LL * S;
    assert_int_equal(run(st, "a", "Dec 31 23:59:58", jan2024), 1704067198LL * S);
    st->ops->free(st);
}

static void test_fudge(void **state)
{
    (void)state;
    struct noa_stage *st = must_build("timestamp:\n  source: time\n  format: RFC3339\n");
    int64_t t = 1696509296LL * S;
    /* no good time yet: the read time stays */
    assert_int_equal(run(st, "a", "garbage", READ_TIME), READ_TIME);
    assert_int_equal(run(st, "a", "2023-10-05T12:34:56Z", READ_TIME), t);
    /* failures (bad value, missing source) chain 1 ns apart */
    assert_int_equal(run(st, "a", "garbage", READ_TIME), t + 1);
    assert_int_equal(run(st, "a", NULL, READ_TIME), t + 2);
    /* per label set */
    assert_int_equal(run(st, "b", "nope", READ_TIME), READ_TIME);
    assert_int_equal(run(st, "b", "2023-10-05T12:00:00Z", READ_TIME), 1696507200LL * S);
    assert_int_equal(run(st, "b", "nope", READ_TIME), 1696507200LL * S + 1);
    assert_int_equal(run(st, "a", "nope", READ_TIME), t + 3);
    /* a good time resets the chain */
    assert_int_equal(run(st, "a", "2023-10-05T12:34:57Z", READ_TIME), t + S);
    assert_int_equal(run(st, "a", "nope", READ_TIME), t + S + 1);
    st->ops->free(st);
}

static void test_fudge_lru(void **state)
{
    (void)state;
    struct noa_stage *st =
        must_build("timestamp:\n  source: time\n  format: Unix\n  action_on_failure: fudge\n");
    char name[32];
    /* 10,001 label sets: "s0" (touched again halfway) survives, "s1" is evicted */
    for (int i = 0; i <= 10000; i++) {
        snprintf(name, sizeof(name), "s%d", i);
        assert_int_equal(run(st, name, "1000", READ_TIME), 1000 * S);
        if (i == 5000)
            assert_int_equal(run(st, "s0", "x", READ_TIME), 1000 * S + 1);
    }
    assert_int_equal(run(st, "s0", "x", READ_TIME), 1000 * S + 2);
    assert_int_equal(run(st, "s1", "x", READ_TIME), READ_TIME);
    assert_int_equal(run(st, "s2", "x", READ_TIME), 1000 * S + 1);
    assert_int_equal(run(st, "s10000", "x", READ_TIME), 1000 * S + 1);
    /* churn far past the bound keeps working */
    for (int i = 0; i < 30000; i++) {
        snprintf(name, sizeof(name), "t%d", i);
        assert_int_equal(run(st, name, "2000", READ_TIME), 2000 * S);
    }
    assert_int_equal(run(st, "t29999", "x", READ_TIME), 2000 * S + 1);
    assert_int_equal(run(st, "t20000", "x", READ_TIME), 2000 * S + 1);
    assert_int_equal(run(st, "t19999", "x", READ_TIME), READ_TIME);
    assert_int_equal(run(st, "s0", "x", READ_TIME), READ_TIME);
    st->ops->free(st);
}

static void test_skip(void **state)
{
    (void)state;
    struct noa_stage *st =
        must_build("timestamp:\n  source: time\n  format: RFC3339\n  action_on_failure: skip\n");
    assert_int_equal(run(st, "a", "2023-10-05T12:34:56Z", READ_TIME), 1696509296LL * S);
    assert_int_equal(run(st, "a", "garbage", READ_TIME), READ_TIME);
    st->ops->free(st);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("timestamp:\n", "cfg.yaml:1:11: timestamp stage config cannot be empty");
    expect_error("timestamp:\n  format: RFC3339\n",
                 "cfg.yaml:2:3: timestamp source value is required if timestamp is specified");
    expect_error("timestamp:\n  source: time\n", "cfg.yaml:2:3: timestamp format is required");
    expect_error("timestamp:\n  source: time\n  format: RFC3339\n  location: Mars/Olympus\n",
                 "cfg.yaml:4:13: invalid location specified: unknown time zone Mars/Olympus");
    expect_error("timestamp:\n  source: time\n  format: RFC3339\n  action_on_failure: panic\n",
                 "cfg.yaml:4:22: invalid action on failure (supported values are [skip fudge])");
    expect_error("timestamp:\n  source: time\n  format: RFC3339\n  fallback_formats: [\"\"]\n",
                 "cfg.yaml:4:21: timestamp format is required");
    expect_error("timestamp:\n  source: time\n  formats: RFC3339\n",
                 "cfg.yaml:3:3: field formats not found in type stages.TimestampConfig");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doc_examples), cmocka_unit_test(test_fallbacks_and_no_year),
        cmocka_unit_test(test_fudge),        cmocka_unit_test(test_fudge_lru),
        cmocka_unit_test(test_skip),         cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
