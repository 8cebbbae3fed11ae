/* Tests for the regex, json and logfmt stages (shipper/stage_parse.c),
 * mostly Promtail's documented examples: input line, config, extracted. */
#include "tests/unit/shipper/stage_testutil.h"

#include "common/metrics.h"

static void test_regex_doc_example(void **state)
{
    (void)state;
    struct noa_stages *p = tu_compile(
        "- regex:\n"
        "    expression: \"^(?s)(?P<time>\\\\S+?) (?P<stream>stdout|stderr) (?P<flags>\\\\S+?) "
        "(?P<content>.*)$\"\n"
        "- regex:\n"
        "    expression: \"^(?P<year>\\\\d+)(?P<opt>X)?\"\n"
        "    source: time\n");
    struct tu_sink s;
    tu_sink_init(&s);
    tu_run(p, &s, "", "2019-01-01T01:00:00.000000001Z stderr P i'm a log message!", NULL, 0);
    assert_int_equal(s.n, 1);
    struct noa_kvlist *x = &s.out[0].extracted;
    assert_string_equal(tu_get(x, "time"), "2019-01-01T01:00:00.000000001Z");
    assert_string_equal(tu_get(x, "stream"), "stderr");
    assert_string_equal(tu_get(x, "flags"), "P");
    assert_string_equal(tu_get(x, "content"), "i'm a log message!");
    assert_string_equal(tu_get(x, "year"), "2019");
    assert_string_equal(tu_get(x, "opt"), ""); /* a group that took no part: "" */
    assert_string_equal(tu_line(&s.out[0]),
                        "2019-01-01T01:00:00.000000001Z stderr P i'm a log message!");
    /* no match: nothing extracted, entry unchanged */
    tu_run(p, &s, "", "short", NULL, 0);
    assert_null(tu_get(&s.out[1].extracted, "time"));
    tu_sink_fini(&s);
    tu_free(p);
}

static void test_regex_source_missing(void **state)
{
    (void)state;
    struct noa_stages *p = tu_compile("- regex:\n    expression: '(?P<a>.)'\n    source: nope\n");
    struct tu_sink s;
    tu_sink_init(&s);
    assert_int_equal(tu_run(p, &s, "", "line", NULL, 0), NOA_STAGE_PASS);
    assert_null(tu_get(&s.out[0].extracted, "a"));
    tu_sink_fini(&s);
    tu_free(p);
    /* labels are in the extracted map from the start: a label can be a source */
    p = tu_compile("- regex:\n    expression: '^/var/log/(?P<app>[a-z]+)'\n    source: filename\n");
    tu_sink_init(&s);
    tu_run(p, &s, "filename=/var/log/nginx.log", "x", NULL, 0);
    assert_string_equal(tu_get(&s.out[0].extracted, "app"), "nginx");
    tu_sink_fini(&s);
    tu_free(p);
}

static void test_regex_errors(void **state)
{
    (void)state;
    assert_non_null(strstr(tu_compile_err("- regex:\n    source: x\n"),
                           "test.yaml:2:5: expression is required"));
    assert_non_null(strstr(tu_compile_err("- regex:\n    expression: '(?P<a>'\n"),
                           "test.yaml:2:17: could not compile regular expression"));
    assert_non_null(strstr(tu_compile_err("- regex:\n    expression: a\n    source: ''\n"),
                           "test.yaml:3:13: empty source"));
    assert_non_null(strstr(tu_compile_err("- regex:\n    expresion: a\n"),
                           "test.yaml:2:5: field expresion not found"));
}

static void test_json_doc_examples(void **state)
{
    (void)state;
    struct noa_stages *p = tu_compile("- json:\n"
                                      "    expressions:\n"
                                      "      output: log\n"
                                      "      stream: stream\n"
                                      "      timestamp: time\n");
    struct tu_sink s;
    tu_sink_init(&s);
    tu_run(p, &s, "",
           "{\"log\":\"log message\\n\",\"stream\":\"stderr\",\"time\":\"2019-04-30T02:12:41.8443515Z\"}",
           NULL, 0);
    struct noa_kvlist *x = &s.out[0].extracted;
    assert_string_equal(tu_get(x, "output"), "log message\n");
    assert_string_equal(tu_get(x, "stream"), "stderr");
    assert_string_equal(tu_get(x, "timestamp"), "2019-04-30T02:12:41.8443515Z");
    tu_sink_fini(&s);
    tu_free(p);

    p = tu_compile("- json:\n"
                   "    expressions:\n"
                   "      output: log\n"
                   "      extra:\n"
                   "- json:\n"
                   "    expressions:\n"
                   "      user:\n"
                   "    source: extra\n");
    tu_sink_init(&s);
    tu_run(p, &s, "", "{\"log\":\"log message\\n\",\"extra\":\"{\\\"user\\\":\\\"marco\\\"}\"}", NULL,
           0);
    x = &s.out[0].extracted;
    assert_string_equal(tu_get(x, "output"), "log message\n");
    assert_string_equal(tu_get(x, "extra"), "{\"user\":\"marco\"}");
    assert_string_equal(tu_get(x, "user"), "marco");
    tu_sink_fini(&s);
    tu_free(p);
}

static void test_json_values(void **state)
{
    (void)state;
    struct noa_stages *p = tu_compile("- json:\n"
                                      "    expressions:\n"
                                      "      obj: o\n"
                                      "      num: n\n"
                                      "      flag: b\n"
                                      "      missing: nope\n"
                                      "      dash: '\"a-b\"'\n"
                                      "      first: l[0].k\n"
                                      "      down: \"p[?s=='down'].n | [0]\"\n");
    struct tu_sink s;
    tu_sink_init(&s);
    tu_run(p, &s, "",
           "{\"o\":{\"z\":1,\"a\":[true,null]},\"n\":3.0,\"b\":false,\"a-b\":\"dash\","
           "\"l\":[{\"k\":\"v\"}],\"p\":[{\"s\":\"up\",\"n\":\"x\"},{\"s\":\"down\",\"n\":\"y\"}]}",
           NULL, 0);
    struct noa_kvlist *x = &s.out[0].extracted;
    assert_string_equal(tu_get(x, "obj"), "{\"a\":[true,null],\"z\":1}");
    assert_string_equal(tu_get(x, "num"), "3");
    assert_string_equal(tu_get(x, "flag"), "false");
    assert_string_equal(tu_get(x, "missing"), ""); /* Promtail stores nil */
    assert_string_equal(tu_get(x, "dash"), "dash");
    assert_string_equal(tu_get(x, "first"), "v");
    assert_string_equal(tu_get(x, "down"), "y");
    tu_sink_fini(&s);
    tu_free(p);
}

static void test_json_malformed(void **state)
{
    (void)state;
    struct noa_metrics *reg = noa_metrics_new();
    struct noa_stage_ctx ctx = {.metrics = reg, .now_ns = tu_clock};
    struct noa_stages *p = NULL;
    struct noa_error err = {0};
    assert_int_equal(tu_compile_ctx("- json:\n    expressions: {a: a}\n    drop_malformed: true\n",
                                    &ctx, &p, &err),
                     0);
    struct tu_sink s;
    tu_sink_init(&s);
    assert_int_equal(tu_run(p, &s, "", "not json", NULL, 0), NOA_STAGE_DROP);
    assert_int_equal(tu_run(p, &s, "", "[1,2]", NULL, 0), NOA_STAGE_DROP);
    assert_int_equal(tu_run(p, &s, "", "{\"a\":\"ok\"}", NULL, 0), NOA_STAGE_PASS);
    assert_int_equal(s.n, 1);
    struct noa_buf out = {0};
    noa_metrics_write(reg, &out);
    assert_non_null(strstr(noa_buf_cstr(&out),
                           "logentry_dropped_lines_total{reason=\"malformed_json\"} 2"));
    noa_buf_fini(&out);
    tu_sink_fini(&s);
    tu_free(p);
    noa_metrics_free(reg);
    /* without drop_malformed the entry goes on */
    p = tu_compile("- json:\n    expressions: {a: a}\n");
    tu_sink_init(&s);
    assert_int_equal(tu_run(p, &s, "", "not json", NULL, 0), NOA_STAGE_PASS);
    assert_null(tu_get(&s.out[0].extracted, "a"));
    tu_sink_fini(&s);
    tu_free(p);
}

static void test_json_errors(void **state)
{
    (void)state;
    assert_non_null(strstr(tu_compile_err("- json:\n    source: x\n"),
                           "JMES expression is required"));
    assert_non_null(strstr(tu_compile_err("- json:\n    expressions: {}\n"),
                           "test.yaml:2:18: JMES expression is required"));
    assert_non_null(strstr(tu_compile_err("- json:\n    expressions:\n      a: 'b.'\n"),
                           "test.yaml:3:10: could not compile JMES expression"));
    assert_non_null(strstr(tu_compile_err("- json:\n    expressions:\n      a-b:\n"),
                           "test.yaml:3:7: could not compile JMES expression"));
    assert_non_null(strstr(tu_compile_err("- json:\n    expressions: {a: a}\n    source: ''\n"),
                           "empty source"));
}

static void test_logfmt_doc_example(void **state)
{
    (void)state;
    struct noa_stages *p = tu_compile("- logfmt:\n"
                                      "    mapping:\n"
                                      "      timestamp: time\n"
                                      "      app:\n"
                                      "      duration:\n"
                                      "      unknown:\n"
                                      "      msg: message\n"
                                      "      flag:\n"
                                      "      extra:\n"
                                      "- logfmt:\n"
                                      "    mapping:\n"
                                      "      user:\n"
                                      "    source: extra\n");
    struct tu_sink s;
    tu_sink_init(&s);
    tu_run(p, &s, "",
           "time=2012-11-01T22:08:41+00:00 app=loki level=WARN duration=125 "
           "message=\"this is a \\\"log\\\" line\" flag extra=\"user=foo\"",
           NULL, 0);
    struct noa_kvlist *x = &s.out[0].extracted;
    assert_string_equal(tu_get(x, "timestamp"), "2012-11-01T22:08:41+00:00");
    assert_string_equal(tu_get(x, "app"), "loki");
    assert_string_equal(tu_get(x, "duration"), "125");
    assert_string_equal(tu_get(x, "msg"), "this is a \"log\" line");
    assert_string_equal(tu_get(x, "flag"), "");
    assert_string_equal(tu_get(x, "user"), "foo");
    assert_null(tu_get(x, "unknown"));
    assert_null(tu_get(x, "level"));
    /* a decoding error keeps what came before it */
    tu_run(p, &s, "", "app=a duration=\"unterminated", NULL, 0);
    assert_string_equal(tu_get(&s.out[1].extracted, "app"), "a");
    assert_null(tu_get(&s.out[1].extracted, "duration"));
    tu_sink_fini(&s);
    tu_free(p);
}

static void test_logfmt_errors(void **state)
{
    (void)state;
    assert_non_null(strstr(tu_compile_err("- logfmt:\n    source: x\n"),
                           "logfmt mapping is required"));
    assert_non_null(strstr(tu_compile_err("- logfmt:\n    mapping: [a]\n"),
                           "test.yaml:2:14: mapping must be a map"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regex_doc_example), cmocka_unit_test(test_regex_source_missing),
        cmocka_unit_test(test_regex_errors),      cmocka_unit_test(test_json_doc_examples),
        cmocka_unit_test(test_json_values),       cmocka_unit_test(test_json_malformed),
        cmocka_unit_test(test_json_errors),       cmocka_unit_test(test_logfmt_doc_example),
        cmocka_unit_test(test_logfmt_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
