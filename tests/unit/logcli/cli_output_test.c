/*
 * Tests for logcli/cli_output.c: each output mode (default, raw, jsonl)
 * against the text Loki's logcli prints for the same entry, in UTC and in
 * a fixed local zone, every timestamp layout, label quoting, padding,
 * colours, Go's JSON escaping and json.MarshalIndent's layout.
 */
#include "logcli/cli_output.h"

#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

/* 2024-11-26T10:39:52.521602Z */
#define TS 1732617592521602000LL

static const char *names2[] = {"package_id", "state"};
static const char *values2[] = {"PKG79755", "Texas"};

static void use_cet(void)
{
    /* A POSIX zone string needs no tzdata: CET in winter, CEST in summer. */
    setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
    tzset();
}

static const char *fmt_time(struct noa_buf *b, int64_t ts, enum noa_cli_output_tsfmt f, int utc)
{
    b->len = 0;
    noa_cli_output_time(b, ts, f, utc);
    return noa_buf_cstr(b);
}

static void test_time_layouts(void **state)
{
    (void)state;
    struct noa_buf b = {0};
    use_cet();
    assert_string_equal(fmt_time(&b, TS, NOA_CLI_OUTPUT_TS_RFC3339, 1), "2024-11-26T10:39:52Z");
    assert_string_equal(fmt_time(&b, TS, NOA_CLI_OUTPUT_TS_RFC3339, 0), "2024-11-26T11:39:52+01:00");
    assert_string_equal(fmt_time(&b, TS, NOA_CLI_OUTPUT_TS_RFC3339NANO, 1),
                        "2024-11-26T10:39:52.521602Z");
    assert_string_equal(fmt_time(&b, 1732617592000000000LL, NOA_CLI_OUTPUT_TS_RFC3339NANO, 1),
                        "2024-11-26T10:39:52Z");
    assert_string_equal(fmt_time(&b, 1732617592000000001LL, NOA_CLI_OUTPUT_TS_RFC3339NANO, 0),
                        "2024-11-26T11:39:52.000000001+01:00");
    assert_string_equal(fmt_time(&b, TS, NOA_CLI_OUTPUT_TS_RFC822Z, 1), "26 Nov 24 10:39 +0000");
    assert_string_equal(fmt_time(&b, TS, NOA_CLI_OUTPUT_TS_RFC1123Z, 0),
                        "Tue, 26 Nov 2024 11:39:52 +0100");
    assert_string_equal(fmt_time(&b, TS, NOA_CLI_OUTPUT_TS_STAMPMILLI, 1), "Nov 26 10:39:52.521");
    assert_string_equal(fmt_time(&b, TS, NOA_CLI_OUTPUT_TS_STAMPMICRO, 1), "Nov 26 10:39:52.521602");
    assert_string_equal(fmt_time(&b, TS, NOA_CLI_OUTPUT_TS_STAMPNANO, 1),
                        "Nov 26 10:39:52.521602000");
    /* "_2": the day is space-padded. */
    assert_string_equal(fmt_time(&b, 1704164645000000000LL, NOA_CLI_OUTPUT_TS_STAMPMILLI, 1),
                        "Jan  2 03:04:05.000");
    assert_string_equal(fmt_time(&b, TS, NOA_CLI_OUTPUT_TS_UNIXDATE, 1),
                        "Tue Nov 26 10:39:52 UTC 2024");
    /* Summer time in the local zone. */
    assert_string_equal(fmt_time(&b, 1719792000000000000LL, NOA_CLI_OUTPUT_TS_RFC3339, 0),
                        "2024-07-01T02:00:00+02:00");
    assert_string_equal(fmt_time(&b, 1719792000000000000LL, NOA_CLI_OUTPUT_TS_UNIXDATE, 0),
                        "Mon Jul  1 02:00:00 CEST 2024");
    /* Before the epoch. */
    assert_string_equal(fmt_time(&b, -1, NOA_CLI_OUTPUT_TS_RFC3339NANO, 1),
                        "1969-12-31T23:59:59.999999999Z");
    noa_buf_fini(&b);
}

static void test_default_mode(void **state)
{
    (void)state;
    struct noa_buf b = {0};
    struct noa_cli_labels ls = {names2, values2, 2};
    struct noa_cli_labels none = {NULL, NULL, 0};
    struct noa_cli_output_opts o = {.mode = NOA_CLI_OUTPUT_DEFAULT, .utc = 1};
    use_cet();
    noa_cli_output_entry(&b, &o, TS, &ls, 39, "  {\"city\":\"Dallas\"}\n", 20);
    assert_string_equal(noa_buf_cstr(&b),
                        "2024-11-26T10:39:52Z {package_id=\"PKG79755\", state=\"Texas\"}  "
                        "{\"city\":\"Dallas\"}\n");
    /* A single stream shows {} padded to the fixed length. */
    b.len = 0;
    o.utc = 0;
    noa_cli_output_entry(&b, &o, TS, &none, 4, "hello", 5);
    assert_string_equal(noa_buf_cstr(&b), "2024-11-26T11:39:52+01:00 {}   hello\n");
    b.len = 0;
    o.no_labels = 1;
    noa_cli_output_entry(&b, &o, TS, &ls, 39, "hello\t", 6);
    assert_string_equal(noa_buf_cstr(&b), "2024-11-26T11:39:52+01:00 hello\n");
    /* On a terminal: blue timestamp, red padded labels. */
    b.len = 0;
    o = (struct noa_cli_output_opts){.mode = NOA_CLI_OUTPUT_DEFAULT, .utc = 1, .tty = 1};
    noa_cli_output_entry(&b, &o, TS, &none, 3, "x", 1);
    assert_string_equal(noa_buf_cstr(&b),
                        "\x1b[34m2024-11-26T10:39:52Z\x1b[0m \x1b[31m{} \x1b[0m x\n");
    noa_buf_fini(&b);
}

static void test_raw_and_jsonl(void **state)
{
    (void)state;
    struct noa_buf b = {0};
    struct noa_cli_labels ls = {names2, values2, 2};
    struct noa_cli_output_opts o = {.mode = NOA_CLI_OUTPUT_RAW, .utc = 1};
    noa_cli_output_entry(&b, &o, TS, &ls, 99, "  raw line \n", 12);
    assert_string_equal(noa_buf_cstr(&b), "  raw line \n");
    b.len = 0;
    o.mode = NOA_CLI_OUTPUT_JSONL;
    noa_cli_output_entry(&b, &o, TS, &ls, 99, "a<b>&\"c\"\n", 9);
    assert_string_equal(noa_buf_cstr(&b),
                        "{\"labels\":{\"package_id\":\"PKG79755\",\"state\":\"Texas\"},"
                        "\"line\":\"a\\u003cb\\u003e\\u0026\\\"c\\\"\\n\","
                        "\"timestamp\":\"2024-11-26T10:39:52.521602Z\"}\n");
    b.len = 0;
    o.no_labels = 1;
    o.utc = 0;
    use_cet();
    noa_cli_output_entry(&b, &o, TS, &ls, 0, "x", 1);
    assert_string_equal(noa_buf_cstr(&b),
                        "{\"line\":\"x\",\"timestamp\":\"2024-11-26T11:39:52.521602+01:00\"}\n");
    noa_buf_fini(&b);
}

static void test_quoting(void **state)
{
    (void)state;
    struct noa_buf b = {0};
    noa_cli_output_goquote(&b, "a\"b\\c\n\x01\x7f\xff\xc3\xa9", 11);
    assert_string_equal(noa_buf_cstr(&b), "\"a\\\"b\\\\c\\n\\x01\\x7f\\xff\xc3\xa9\"");
    b.len = 0;
    noa_cli_output_json_str(&b, "\x01\xff\xe2\x80\xa8\xc3\xa9\t", 8);
    assert_string_equal(noa_buf_cstr(&b), "\"\\u0001\\ufffd\\u2028\xc3\xa9\\t\"");
    b.len = 0;
    const char *n[] = {"a", "b"}, *v[] = {"x y", "\"q\""};
    struct noa_cli_labels ls = {n, v, 2};
    noa_cli_output_labels(&b, &ls);
    assert_string_equal(noa_buf_cstr(&b), "{a=\"x y\", b=\"\\\"q\\\"\"}");
    noa_buf_fini(&b);
}

static void test_indent(void **state)
{
    (void)state;
    struct noa_buf b = {0};
    const char *vec = "[{\"metric\":{},\"value\":[1700000000,\"2\"]}]";
    assert_int_equal(noa_cli_output_indent(&b, vec, strlen(vec)), 0);
    assert_string_equal(noa_buf_cstr(&b), "[\n  {\n    \"metric\": {},\n    \"value\": [\n"
                                          "      1700000000,\n      \"2\"\n    ]\n  }\n]");
    b.len = 0;
    const char *mat = " [ {\"metric\":{\"a\":\"x,y:[\"},\"values\":[[1.5,\"1\"]]} , [] ] ";
    assert_int_equal(noa_cli_output_indent(&b, mat, strlen(mat)), 0);
    assert_string_equal(noa_buf_cstr(&b),
                        "[\n  {\n    \"metric\": {\n      \"a\": \"x,y:[\"\n    },\n    \"values\": [\n"
                        "      [\n        1.5,\n        \"1\"\n      ]\n    ]\n  },\n  []\n]");
    b.len = 0;
    assert_int_equal(noa_cli_output_indent(&b, "[]", 2), 0);
    assert_string_equal(noa_buf_cstr(&b), "[]");
    b.len = 0;
    assert_int_equal(noa_cli_output_indent(&b, "[{]", 3), NOA_EINVAL);
    assert_int_equal(noa_cli_output_indent(&b, "[\"x]", 4), NOA_EINVAL);
    assert_int_equal(noa_cli_output_indent(&b, "", 0), NOA_EINVAL);
    assert_int_equal(b.len, 0);
    noa_buf_fini(&b);
}

static void test_logprefix(void **state)
{
    (void)state;
    struct noa_buf b = {0};
    use_cet();
    noa_cli_output_logprefix(&b, TS);
    assert_string_equal(noa_buf_cstr(&b), "2024/11/26 11:39:52 ");
    noa_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_layouts), cmocka_unit_test(test_default_mode),
        cmocka_unit_test(test_raw_and_jsonl), cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_indent),       cmocka_unit_test(test_logprefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
