/* Tests for replace, template, output, decolorize and pack
 * (shipper/stage_text.c), with Promtail's documented examples. */
#include "tests/unit/shipper/stage_testutil.h"

static void test_replace_doc_examples(void **state)
{
    (void)state;
    struct noa_stages *p = tu_compile("- replace:\n"
                                      "    expression: \"password (\\\\S+)\"\n"
                                      "    replace: \"****\"\n");
    struct tu_sink s;
    tu_sink_init(&s);
    tu_run(p, &s, "",
           "2019-01-01T01:00:00.000000001Z stderr P i'm a log message who has sensitive "
           "information with password xyz!",
           NULL, 0);
    assert_string_equal(tu_line(&s.out[0]),
                        "2019-01-01T01:00:00.000000001Z stderr P i'm a log message who has "
                        "sensitive information with password ****");
    tu_sink_fini(&s);
    tu_free(p);

    p = tu_compile(
        "- replace:\n"
        "    expression: '^(?P<ip>\\S+) (?P<identd>\\S+) (?P<user>\\S+) \\[(?P<timestamp>[\\w:/]+\\s"
        "[+\\-]\\d{4})\\] \"(?P<action>\\S+)\\s?(?P<path>\\S+)?\\s?(?P<protocol>\\S+)?\" "
        "(?P<status>\\d{3}|-) (\\d+|-)'\n"
        "    replace: '{{ if eq .Value \"200\" }}{{ Replace .Value \"200\" \"HttpStatusOk\" -1 }}"
        "{{ else }}{{ .Value | ToUpper }}{{ end }}'\n");
    tu_sink_init(&s);
    tu_run(p, &s, "",
           "11.11.11.11 - frank [25/Jan/2000:14:00:01 -0500] \"GET /1986.js HTTP/1.1\" 200 932 "
           "\"-\"",
           NULL, 0);
    assert_string_equal(tu_line(&s.out[0]),
                        "11.11.11.11 - FRANK [25/JAN/2000:14:00:01 -0500] \"GET /1986.JS "
                        "HTTP/1.1\" HttpStatusOk 932 \"-\"");
    struct noa_kvlist *x = &s.out[0].extracted;
    assert_string_equal(tu_get(x, "user"), "FRANK");
    assert_string_equal(tu_get(x, "status"), "HttpStatusOk");
    assert_string_equal(tu_get(x, "path"), "/1986.JS");
    tu_sink_fini(&s);
    tu_free(p);
}

static void test_replace_every_match_and_source(void **state)
{
    (void)state;
    /* every match is replaced; an empty replace deletes the capture */
    struct noa_stages *p = tu_compile("- replace:\n"
                                      "    expression: '(token=\\w+)'\n"
                                      "    replace: ''\n"
                                      "- replace:\n"
                                      "    expression: '(\\d+)'\n"
                                      "    source: nums\n"
                                      "    replace: '<{{ .Value }}{{ .tag }}>'\n");
    struct tu_sink s;
    tu_sink_init(&s);
    tu_run(p, &s, "nums=a1b22c,tag=!", "x token=abc y token=def z", NULL, 0);
    assert_string_equal(tu_line(&s.out[0]), "x  y  z");
    assert_string_equal(tu_get(&s.out[0].extracted, "nums"), "a<1!>b<22!>c");
    /* no match: untouched */
    tu_run(p, &s, "nums=abc", "plain", NULL, 0);
    assert_string_equal(tu_line(&s.out[1]), "plain");
    assert_string_equal(tu_get(&s.out[1].extracted, "nums"), "abc");
    tu_sink_fini(&s);
    tu_free(p);
    assert_non_null(strstr(tu_compile_err("- replace:\n    replace: x\n"),
                           "expression is required"));
    assert_non_null(strstr(tu_compile_err("- replace:\n    expression: a\n    replace: '{{'\n"),
                           "test.yaml:3:14: could not compile template"));
}

static void test_template_doc_examples(void **state)
{
    (void)state;
    struct noa_stages *p = tu_compile("- regex:\n"
                                      "    expression: 'app=(?P<app>\\w+) level=(?P<level>\\w+)'\n"
                                      "- template:\n"
                                      "    source: new_key\n"
                                      "    template: 'hello world!'\n"
                                      "- template:\n"
                                      "    source: suffixed\n"
                                      "    template: '{{ .app }}_some_suffix'\n"
                                      "- template:\n"
                                      "    source: level\n"
                                      "    template: '{{ ToUpper .Value }}'\n"
                                      "- template:\n"
                                      "    source: output_msg\n"
                                      "    template: '{{ .level }} for app {{ ToUpper .app }}'\n"
                                      "- template:\n"
                                      "    source: bloki\n"
                                      "    template: '{{ Replace .app \"loki\" \"bloki\" 1 }}'\n"
                                      "- template:\n"
                                      "    source: entry\n"
                                      "    template: '{{ .Entry }}'\n"
                                      "- template:\n"
                                      "    source: keys\n"
                                      "    template: '{{ range $k, $v := . }}{{ $k }},{{ end }}'\n"
                                      "- template:\n"
                                      "    source: app\n"
                                      "    template: '{{ if eq .Value \"nope\" }}x{{ end }}'\n");
    struct tu_sink s;
    tu_sink_init(&s);
    tu_run(p, &s, "", "app=loki level=warn", NULL, 0);
    struct noa_kvlist *x = &s.out[0].extracted;
    assert_string_equal(tu_get(x, "new_key"), "hello world!");
    assert_string_equal(tu_get(x, "suffixed"), "loki_some_suffix");
    assert_string_equal(tu_get(x, "level"), "WARN");
    assert_string_equal(tu_get(x, "output_msg"), "WARN for app LOKI");
    assert_string_equal(tu_get(x, "bloki"), "bloki");
    assert_string_equal(tu_get(x, "entry"), "app=loki level=warn");
    /* the data ranges in key order, with .Entry (and no .Value: keys is new) */
    assert_string_equal(tu_get(x, "keys"),
                        "Entry,app,bloki,entry,level,new_key,output_msg,suffixed,");
    assert_null(tu_get(x, "app")); /* an empty result removes the key */
    tu_sink_fini(&s);
    tu_free(p);
    assert_non_null(strstr(tu_compile_err("- template:\n    template: x\n"),
                           "template source value is required"));
    assert_non_null(strstr(tu_compile_err("- template:\n    source: x\n"), "template is required"));
}

static void test_output_and_decolorize(void **state)
{
    (void)state;
    struct noa_stages *p = tu_compile("- json:\n"
                                      "    expressions:\n"
                                      "      user:\n"
                                      "      message:\n"
                                      "- output:\n"
                                      "    source: message\n"
                                      "- decolorize:\n");
    struct tu_sink s;
    tu_sink_init(&s);
    tu_run(p, &s, "", "{\"user\": \"alexis\", \"message\": \"hello, \\u001b[31mworld\\u001b[0m\"}",
           NULL, 0);
    assert_string_equal(tu_line(&s.out[0]), "hello, world");
    tu_run(p, &s, "", "no json \x1b[1;32mgreen\x1b[0m", NULL, 0);
    assert_string_equal(tu_line(&s.out[1]), "no json green"); /* no message: line kept */
    tu_sink_fini(&s);
    tu_free(p);
    assert_non_null(strstr(tu_compile_err("- output: {}\n"), "output source value is required"));
    assert_non_null(strstr(tu_compile_err("- decolorize: {a: 1}\n"), "field a not found"));
}

static void test_pack(void **state)
{
    (void)state;
    struct noa_stages *p = tu_compile("- pack:\n"
                                      "    labels: [pod, container, missing, container]\n");
    struct tu_sink s;
    tu_sink_init(&s);
    tu_now = 7000000000LL;
    tu_run(p, &s, "container=myapp,pod=p-1,job=j", "something \"quoted\" <b>", NULL, 0);
    assert_string_equal(tu_line(&s.out[0]),
                        "{\"container\":\"myapp\",\"pod\":\"p-1\",\"_entry\":\"something "
                        "\\\"quoted\\\" \\u003cb\\u003e\"}");
    assert_null(tu_get(&s.out[0].labels, "container"));
    assert_null(tu_get(&s.out[0].labels, "pod"));
    assert_string_equal(tu_get(&s.out[0].labels, "job"), "j");
    assert_true(s.out[0].ts_ns == 7000000000LL);
    tu_sink_fini(&s);
    tu_free(p);
    p = tu_compile("- pack:\n    labels: [nope]\n    ingest_timestamp: false\n");
    tu_sink_init(&s);
    tu_run(p, &s, "", "x", NULL, 0);
    assert_string_equal(tu_line(&s.out[0]), "{\"_entry\":\"x\"}");
    assert_true(s.out[0].ts_ns == 42);
    tu_sink_fini(&s);
    tu_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replace_doc_examples),
        cmocka_unit_test(test_replace_every_match_and_source),
        cmocka_unit_test(test_template_doc_examples),
        cmocka_unit_test(test_output_and_decolorize),
        cmocka_unit_test(test_pack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
