/* Tests for compiled pipelines (shipper/stages.c) and the match stage
 * (shipper/stage_match.c): YAML errors with positions, the extracted map
 * seeded from labels, drop counting, nested stages and what they release. */
#include "tests/unit/shipper/stage_testutil.h"

#include "common/metrics.h"

#include <stdlib.h>

static void test_empty_pipeline(void **state)
{
    (void)state;
    struct noa_stages *p = tu_compile("~\n");
    struct tu_sink s;
    tu_sink_init(&s);
    assert_int_equal(tu_run(p, &s, "job=a,filename=/x", "hello", "f", 3), NOA_STAGE_PASS);
    assert_int_equal(s.n, 1);
    assert_string_equal(tu_line(&s.out[0]), "hello");
    /* labels are copied into the extracted map before the first stage */
    assert_string_equal(tu_get(&s.out[0].extracted, "job"), "a");
    assert_string_equal(tu_get(&s.out[0].extracted, "filename"), "/x");
    assert_int_equal(noa_stages_holding(p, NULL), 0);
    noa_stages_tick(p, 0, &s.sink);
    noa_stages_flush(p, NULL, &s.sink);
    assert_int_equal(s.n, 1);
    tu_sink_fini(&s);
    tu_free(p);
}

static void test_yaml_errors(void **state)
{
    (void)state;
    const char *m = tu_compile_err("- regex:\n    expression: a\n- regx:\n    expression: b\n");
    assert_non_null(strstr(m, "test.yaml:3:3: unknown stage type \"regx\" (known: docker, cri, "));
    assert_non_null(strstr(m, "multiline, match, labels,"));
    assert_non_null(strstr(m, "metrics)"));
    m = tu_compile_err("- regex:\n    expression: a\n  json:\n    expressions: {a: a}\n");
    assert_non_null(strstr(m, "test.yaml:1:3: pipeline stage must contain only one key"));
    m = tu_compile_err("- {}\n");
    assert_non_null(strstr(m, "test.yaml:1:3: pipeline stage must contain only one key"));
    m = tu_compile_err("- cri\n");
    assert_non_null(strstr(m, "test.yaml:1:3: pipeline stage must contain only one key"));
    m = tu_compile_err("cri: {}\n");
    assert_non_null(strstr(m, "test.yaml:1:1: pipeline_stages must be a list"));
    m = tu_compile_err("- output: [a]\n");
    assert_non_null(strstr(m, "test.yaml:1:11: cannot unmarshal !!seq"));
    /* errors inside a nested pipeline keep their positions */
    m = tu_compile_err("- match:\n    selector: '{a=\"b\"}'\n    stages:\n    - nope: {}\n");
    assert_non_null(strstr(m, "test.yaml:4:7: unknown stage type \"nope\""));
}

static double counter(struct noa_metrics *reg, const char *series)
{
    struct noa_buf out = {0};
    noa_metrics_write(reg, &out);
    const char *p = strstr(noa_buf_cstr(&out), series);
    double v = p ? atof(p + strlen(series)) : -1;
    noa_buf_fini(&out);
    return v;
}

static void test_match_keep(void **state)
{
    (void)state;
    struct noa_stages *p = tu_compile("- match:\n"
                                      "    selector: '{app=\"api\"} |= \"level\" != \"debug\"'\n"
                                      "    pipeline_name: api\n"
                                      "    stages:\n"
                                      "    - logfmt:\n"
                                      "        mapping: {level: }\n"
                                      "    - labels:\n"
                                      "        level:\n"
                                      "- output:\n"
                                      "    source: nothing\n");
    struct tu_sink s;
    tu_sink_init(&s);
    assert_int_equal(tu_run(p, &s, "app=api", "level=warn msg=x", NULL, 0), NOA_STAGE_PASS);
    assert_string_equal(tu_get(&s.out[0].labels, "level"), "warn");
    /* the line filters decide too */
    assert_int_equal(tu_run(p, &s, "app=api", "level=debug msg=x", NULL, 0), NOA_STAGE_PASS);
    assert_null(tu_get(&s.out[1].labels, "level"));
    assert_int_equal(tu_run(p, &s, "app=web", "level=warn", NULL, 0), NOA_STAGE_PASS);
    assert_null(tu_get(&s.out[2].labels, "level"));
    assert_int_equal(s.n, 3);
    tu_sink_fini(&s);
    tu_free(p);
}

static void test_match_drop_counted(void **state)
{
    (void)state;
    struct noa_metrics *reg = noa_metrics_new();
    struct noa_stage_ctx ctx = {.metrics = reg, .now_ns = tu_clock};
    struct noa_stages *p = NULL;
    struct noa_error err = {0};
    assert_int_equal(tu_compile_ctx("- match:\n"
                                    "    selector: '{app=~\"a|b\"} |~ \"(?i)healthz\"'\n"
                                    "    action: drop\n"
                                    "- match:\n"
                                    "    selector: '{app=\"c\"}'\n"
                                    "    action: drop\n"
                                    "    drop_counter_reason: noisy\n"
                                    "- match:\n"
                                    "    selector: '{app=\"d\"}'\n"
                                    "    stages:\n"
                                    "    - json:\n"
                                    "        expressions: {a: a}\n"
                                    "        drop_malformed: true\n",
                                    &ctx, &p, &err),
                     0);
    struct tu_sink s;
    tu_sink_init(&s);
    assert_int_equal(tu_run(p, &s, "app=a", "GET /HEALTHZ", NULL, 0), NOA_STAGE_DROP);
    assert_int_equal(tu_run(p, &s, "app=b", "GET /healthz", NULL, 0), NOA_STAGE_DROP);
    assert_int_equal(tu_run(p, &s, "app=b", "GET /api", NULL, 0), NOA_STAGE_PASS);
    assert_int_equal(tu_run(p, &s, "app=c", "x", NULL, 0), NOA_STAGE_DROP);
    assert_int_equal(tu_run(p, &s, "app=d", "not json", NULL, 0), NOA_STAGE_DROP);
    assert_int_equal(tu_run(p, &s, "app=d", "{\"a\":1}", NULL, 0), NOA_STAGE_PASS);
    assert_int_equal(s.n, 2);
    assert_true(counter(reg, "logentry_dropped_lines_total{reason=\"match_stage\"} ") == 2);
    assert_true(counter(reg, "logentry_dropped_lines_total{reason=\"noisy\"} ") == 1);
    /* a drop inside nested stages is counted once */
    assert_true(counter(reg, "logentry_dropped_lines_total{reason=\"malformed_json\"} ") == 1);
    tu_sink_fini(&s);
    tu_free(p);
    noa_metrics_free(reg);
}

static void test_match_nested_holding(void **state)
{
    (void)state;
    /* a block held inside match is released through the rest of the outer
     * pipeline (the template after match runs on it) */
    struct noa_stages *p = tu_compile("- match:\n"
                                      "    selector: '{app=\"java\"}'\n"
                                      "    stages:\n"
                                      "    - multiline:\n"
                                      "        firstline: '^\\d'\n"
                                      "- template:\n"
                                      "    source: seen\n"
                                      "    template: 'yes'\n");
    struct tu_sink s;
    tu_sink_init(&s);
    assert_int_equal(tu_run(p, &s, "app=java", "1 start", "f", 10), NOA_STAGE_HELD);
    assert_int_equal(tu_run(p, &s, "app=java", " more", "f", 20), NOA_STAGE_HELD);
    assert_int_equal(noa_stages_holding(p, "f"), 1);
    assert_int_equal(tu_run(p, &s, "app=java", "2 next", "f", 30), NOA_STAGE_HELD);
    assert_int_equal(s.n, 1);
    assert_string_equal(tu_line(&s.out[0]), "1 start\n more");
    assert_string_equal(tu_get(&s.out[0].extracted, "seen"), "yes");
    assert_int_equal(s.out[0].offset, 20);
    noa_stages_tick(p, tu_now + 3000000000LL, &s.sink);
    assert_int_equal(s.n, 2);
    assert_string_equal(tu_line(&s.out[1]), "2 next");
    assert_string_equal(tu_get(&s.out[1].extracted, "seen"), "yes");
    assert_int_equal(noa_stages_holding(p, NULL), 0);
    tu_sink_fini(&s);
    tu_free(p);
}

static void test_match_errors(void **state)
{
    (void)state;
    assert_non_null(strstr(tu_compile_err("- match:\n    stages: [{output: {source: a}}]\n"),
                           "selector statement required for match stage"));
    assert_non_null(strstr(tu_compile_err("- match:\n    selector: '{a=\"b\"}'\n"),
                           "match stage requires at least one additional stage"));
    assert_non_null(strstr(tu_compile_err("- match:\n    selector: '{a=\"b\"}'\n    action: drop\n"
                                          "    stages: [{output: {source: a}}]\n"),
                           "test.yaml:4:13: match stage configured to drop entries cannot"));
    assert_non_null(strstr(tu_compile_err("- match:\n    selector: '{a=\"b\"'\n    action: drop\n"),
                           "test.yaml:2:15: invalid selector syntax for match stage"));
    assert_non_null(strstr(tu_compile_err("- match:\n    selector: '{a=\"b\"} | json'\n"
                                          "    action: drop\n"),
                           "only line filters"));
    assert_non_null(strstr(tu_compile_err("- match:\n    selector: '{a=\"b\"}'\n    action: maybe\n"),
                           "test.yaml:3:13"));
    assert_non_null(strstr(tu_compile_err("- match:\n    selector: '{a=\"b\"}'\n    action: drop\n"
                                          "    pipeline_name: ''\n"),
                           "pipeline name can be omitted but cannot be an empty string"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_pipeline),       cmocka_unit_test(test_yaml_errors),
        cmocka_unit_test(test_match_keep),           cmocka_unit_test(test_match_drop_counted),
        cmocka_unit_test(test_match_nested_holding), cmocka_unit_test(test_match_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
