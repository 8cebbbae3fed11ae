/*
 * Tests for logcli/cli_http.c's pure parts: URLs as Go's url.Values.Encode
 * builds them (sorted keys, QueryEscape), RFC3339Nano parsing of --from /
 * --to / --now, and the step formats logcli sends (FormatFloat seconds
 * for query_range, time.Duration.String() for detected_fields).
 */
#include "logcli/cli_http.h"

#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static void test_url(void **state)
{
    (void)state;
    struct noa_buf b = {0};
    struct noa_cli_http_param p[] = {
        {"start", "1"}, {"query", "{job=\"a b\"} |~ `x+` & ~é"}, {"direction", "BACKWARD"}};
    noa_cli_http_url(&b, "http://h:3100/", "/loki/api/v1/query_range", p, 3);
    assert_string_equal(noa_buf_cstr(&b),
                        "http://h:3100/loki/api/v1/query_range?direction=BACKWARD&query=%7Bjob%3D%"
                        "22a+b%22%7D+%7C~+%60x%2B%60+%26+~%C3%A9&start=1");
    b.len = 0;
    noa_cli_http_url(&b, "http://h", "/ready", NULL, 0);
    assert_string_equal(noa_buf_cstr(&b), "http://h/ready");
    noa_buf_fini(&b);
}

static void test_parse_time(void **state)
{
    (void)state;
    int64_t t;
    assert_int_equal(noa_cli_http_parse_time("2024-11-26T10:39:52Z", &t), 0);
    assert_int_equal(t, 1732617592000000000LL);
    assert_int_equal(noa_cli_http_parse_time("2024-11-26T10:39:52.521602Z", &t), 0);
    assert_int_equal(t, 1732617592521602000LL);
    assert_int_equal(noa_cli_http_parse_time("2024-11-26T11:39:52.000000001+01:00", &t), 0);
    assert_int_equal(t, 1732617592000000001LL);
    assert_int_equal(noa_cli_http_parse_time("1970-01-01T00:00:00-00:30", &t), 0);
    assert_int_equal(t, 1800000000000LL);
    assert_int_equal(noa_cli_http_parse_time("2024-11-26", &t), NOA_EINVAL);
    assert_int_equal(noa_cli_http_parse_time("2024-11-26T10:39:52", &t), NOA_EINVAL);
    assert_int_equal(noa_cli_http_parse_time("2024-13-26T10:39:52Z", &t), NOA_EINVAL);
    assert_int_equal(noa_cli_http_parse_time("2024-11-26T10:39:52.Z", &t), NOA_EINVAL);
    assert_int_equal(noa_cli_http_parse_time("2024-11-26T10:39:52Zjunk", &t), NOA_EINVAL);
    assert_int_equal(noa_cli_http_parse_time("1732617592", &t), NOA_EINVAL);
}

static const char *dur(struct noa_buf *b, int64_t ns, int go)
{
    b->len = 0;
    if (go)
        noa_cli_http_go_duration(b, ns);
    else
        noa_cli_http_seconds(b, ns);
    return noa_buf_cstr(b);
}

static void test_durations(void **state)
{
    (void)state;
    struct noa_buf b = {0};
    assert_string_equal(dur(&b, 10000000000LL, 1), "10s");
    assert_string_equal(dur(&b, 90000000000LL, 1), "1m30s");
    assert_string_equal(dur(&b, 3600000000000LL, 1), "1h0m0s");
    assert_string_equal(dur(&b, 1500000000LL, 1), "1.5s");
    assert_string_equal(dur(&b, 500000000LL, 1), "500ms");
    assert_string_equal(dur(&b, 1500LL, 1), "1.5\xc2\xb5s");
    assert_string_equal(dur(&b, 0, 1), "0s");
    assert_string_equal(dur(&b, 60000000000LL, 0), "60");
    assert_string_equal(dur(&b, 500000000LL, 0), "0.5");
    assert_string_equal(dur(&b, 1, 0), "0.000000001");
    noa_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_durations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
