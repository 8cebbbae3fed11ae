/* Unit tests for shipper/cri.c: CRI line decoding and RFC3339Nano times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "shipper/cri.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse(const char *s, struct noa_cri_line *l, struct noa_error *err)
{
    memset(l, 0x5A, sizeof(*l));
    return noa_cri_parse(s, strlen(s), l, err);
}

static int64_t ts(const char *s)
{
    int64_t ns = 0;
    struct noa_error err = {0};
    int rc = noa_cri_parse_time(s, strlen(s), &ns, &err);
    if (rc)
        fail_msg("time %s: %s", s, err.msg);
    return ns;
}

static void bad_time(const char *s, const char *want_in_msg)
{
    int64_t ns = 0;
    struct noa_error err = {0};
    assert_int_equal(noa_cri_parse_time(s, strlen(s), &ns, &err), NOA_EINVAL);
    if (!strstr(err.msg, want_in_msg))
        fail_msg("time %s: message '%s' lacks '%s'", s, err.msg, want_in_msg);
}

static void test_full_line(void **state)
{
    (void)state;
    struct noa_cri_line l;
    const char *s = "2019-01-01T00:00:00.123456789Z stdout F hello  world\twith tabs";
    assert_int_equal(parse(s, &l, NULL), 0);
    assert_true(l.ts_ns == INT64_C(1546300800123456789));
    assert_int_equal(l.stream, NOA_CRI_STDOUT);
    assert_int_equal(l.partial, 0);
    assert_true(noa_str_eq_c(l.tags, "F"));
    assert_true(noa_str_eq_c(l.content, "hello  world\twith tabs"));
    /* content borrows the input */
    assert_ptr_equal(l.content.p, s + 40);
    assert_string_equal(noa_cri_stream_name(l.stream), "stdout");
}

static void test_partial_and_tags(void **state)
{
    (void)state;
    struct noa_cri_line l;
    assert_int_equal(parse("2019-01-01T00:00:00Z stderr P part one ", &l, NULL), 0);
    assert_int_equal(l.stream, NOA_CRI_STDERR);
    assert_int_equal(l.partial, 1);
    assert_true(noa_str_eq_c(l.content, "part one "));
    assert_int_equal(parse("2019-01-01T00:00:00Z stdout P:future:tag x", &l, NULL), 0);
    assert_int_equal(l.partial, 1);
    assert_true(noa_str_eq_c(l.tags, "P:future:tag"));
    assert_true(noa_str_eq_c(l.content, "x"));
    assert_int_equal(parse("2019-01-01T00:00:00Z stdout F:x y", &l, NULL), 0);
    assert_int_equal(l.partial, 0);
    assert_string_equal(noa_cri_stream_name(0), "");
}

static void test_empty_content_and_newlines(void **state)
{
    (void)state;
    struct noa_cri_line l;
    assert_int_equal(parse("2019-01-01T00:00:00Z stdout F ", &l, NULL), 0);
    assert_int_equal(l.content.len, 0);
    assert_int_equal(parse("2019-01-01T00:00:00Z stdout F", &l, NULL), 0);
    assert_int_equal(l.content.len, 0);
    assert_true(noa_str_eq_c(l.tags, "F"));
    assert_int_equal(parse("2019-01-01T00:00:00Z stdout F \n", &l, NULL), 0);
    assert_int_equal(l.content.len, 0);
    assert_int_equal(parse("2019-01-01T00:00:00Z stdout F msg\n", &l, NULL), 0);
    assert_true(noa_str_eq_c(l.content, "msg"));
    assert_int_equal(parse("2019-01-01T00:00:00Z stdout F msg\r\n", &l, NULL), 0);
    assert_true(noa_str_eq_c(l.content, "msg"));
    /* Only the final terminator goes; inner CR and a lone CR stay. */
    assert_int_equal(parse("2019-01-01T00:00:00Z stdout F a\rb\r", &l, NULL), 0);
    assert_true(noa_str_eq_c(l.content, "a\rb\r"));
    /* Content may itself contain what looks like another CRI prefix. */
    assert_int_equal(parse("2019-01-01T00:00:00Z stdout F 2019 stderr P x", &l, NULL), 0);
    assert_true(noa_str_eq_c(l.content, "2019 stderr P x"));
    /* Leading spaces of the content are kept. */
    assert_int_equal(parse("2019-01-01T00:00:00Z stdout F   indented", &l, NULL), 0);
    assert_true(noa_str_eq_c(l.content, "  indented"));
}

static void test_long_line(void **state)
{
    (void)state;
    size_t n = 1 << 20;
    char *s = malloc(n + 64);
    assert_non_null(s);
    int k = snprintf(s, 64, "2019-01-01T00:00:00Z stdout P ");
    memset(s + k, 'x', n);
    struct noa_cri_line l;
    assert_int_equal(noa_cri_parse(s, (size_t)k + n, &l, NULL), 0);
    assert_int_equal(l.content.len, n);
    assert_int_equal(l.partial, 1);
    free(s);
}

static void test_bad_lines(void **state)
{
    (void)state;
    static const struct {
        const char *line, *msg;
        int col;
    } cases[] = {
        {"", "expected '<time>", 1},
        {"garbage", "expected '<time>", 1},
        {"notatime stdout F x", "too short", 1},
        {"2019-01-01T00:00:00Z stdin F x", "stream must be stdout or stderr", 22},
        {"2019-01-01T00:00:00Z  stdout F x", "stream must be", 22},
        {"2019-01-01T00:00:00Z stdoutF x", "expected a space", 28},
        {"2019-01-01T00:00:00Z stdout", "expected a space", 28},
        {"2019-01-01T00:00:00Z stdout ", "first tag must be P", 29},
        {"2019-01-01T00:00:00Z stdout X msg", "first tag must be P", 29},
        {"2019-01-01T00:00:00Z stdout FF msg", "first tag must be P", 29},
        {"2019-01-01T00:00:00Z stdout  msg", "first tag must be P", 29},
        {"2019-13-01T00:00:00Z stdout F x", "month 13", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct noa_cri_line l;
        struct noa_error err = {0};
        assert_int_equal(parse(cases[i].line, &l, &err), NOA_EINVAL);
        assert_int_equal(err.code, NOA_EINVAL);
        if (!strstr(err.msg, cases[i].msg) || err.col != cases[i].col)
            fail_msg("%s: got '%s' col %d", cases[i].line, err.msg, err.col);
        assert_int_equal(parse(cases[i].line, &l, NULL), NOA_EINVAL);
    }
}

static void test_times(void **state)
{
    (void)state;
    assert_true(ts("1970-01-01T00:00:00Z") == 0);
    assert_true(ts("1970-01-01T00:00:00.000000001Z") == 1);
    assert_true(ts("1969-12-31T23:59:59.5Z") == -500000000);
    assert_true(ts("2019-01-01T00:00:00Z") == INT64_C(1546300800000000000));
    assert_true(ts("2019-01-01T00:00:00.1Z") == INT64_C(1546300800100000000));
    assert_true(ts("2019-01-01T00:00:00,25Z") == INT64_C(1546300800250000000));
    /* Digits past nanoseconds are truncated, not rounded. */
    assert_true(ts("2019-01-01T00:00:00.1234567899Z") == INT64_C(1546300800123456789));
    /* Offsets: CRI-O writes local time. */
    assert_true(ts("2019-01-01T03:00:00+03:00") == INT64_C(1546300800000000000));
    assert_true(ts("2018-12-31T18:30:00.5-05:30") == INT64_C(1546300800500000000));
    assert_true(ts("2019-05-07T18:57:50.904275087+00:00") == INT64_C(1557255470904275087));
    /* Leap years. */
    assert_true(ts("2020-02-29T00:00:00Z") == INT64_C(1582934400000000000));
    assert_true(ts("2000-02-29T00:00:00Z") == INT64_C(951782400000000000));
    assert_true(ts("2262-04-11T23:47:16.854775807Z") == INT64_MAX);
    assert_true(ts("1677-09-21T00:12:43.145224192Z") == INT64_MIN);
}

static void test_bad_times(void **state)
{
    (void)state;
    bad_time("", "empty");
    bad_time("2019-01-01", "too short");
    bad_time("2019-01-01 00:00:00Z", "not RFC3339");
    bad_time("2019-01-01t00:00:00Z", "not RFC3339");
    bad_time("2019-0a-01T00:00:00Z", "non-digit");
    bad_time("2019-00-01T00:00:00Z", "month 0");
    bad_time("2019-02-29T00:00:00Z", "day 29");
    bad_time("1900-02-29T00:00:00Z", "day 29");
    bad_time("2019-04-31T00:00:00Z", "day 31");
    bad_time("2019-01-00T00:00:00Z", "day 0");
    bad_time("2019-01-01T24:00:00Z", "clock");
    bad_time("2019-01-01T00:60:00Z", "clock");
    bad_time("2019-01-01T00:00:60Z", "clock");
    bad_time("2019-01-01T00:00:00", "too short");
    bad_time("2019-01-01T00:00:00.Z", "no digits");
    bad_time("2019-01-01T00:00:00.123", "missing zone");
    bad_time("2019-01-01T00:00:00z", "missing zone");
    bad_time("2019-01-01T00:00:00ZZ", "after the zone");
    bad_time("2019-01-01T00:00:00+0300", "offset must be");
    bad_time("2019-01-01T00:00:00+3:00", "offset must be");
    bad_time("2019-01-01T00:00:00+24:00", "bad offset");
    bad_time("2019-01-01T00:00:00+03:60", "bad offset");
    bad_time("2019-01-01T00:00:00+03:00x", "after the zone");
    bad_time("2262-04-11T23:47:16.854775808Z", "outside");
    bad_time("9999-12-31T23:59:59Z", "outside");
    bad_time("0001-01-01T00:00:00Z", "outside");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_line),
        cmocka_unit_test(test_partial_and_tags),
        cmocka_unit_test(test_empty_content_and_newlines),
        cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_bad_times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
