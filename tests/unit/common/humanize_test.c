/* Unit tests for common/humanize.c: go-humanize's ParseBytes and Bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/humanize.h"

#include <string.h>

static void test_parse_bytes(void **state)
{
    (void)state;
    uint64_t b = 0;
    assert_int_equal(noa_humanize_parse_bytes(NOA_STR("42"), &b, NULL), 0);
    assert_true(b == 42);
    assert_int_equal(noa_humanize_parse_bytes(NOA_STR("1.5 KiB"), &b, NULL), 0);
    assert_true(b == 1536);
    assert_int_equal(noa_humanize_parse_bytes(NOA_STR("2mb"), &b, NULL), 0);
    assert_true(b == 2000000);
    assert_int_equal(noa_humanize_parse_bytes(NOA_STR("20EB"), &b, NULL), NOA_EINVAL); /* too large */
    assert_int_equal(noa_humanize_parse_bytes(NOA_STR("MB"), &b, NULL), NOA_EINVAL);
    assert_int_equal(noa_humanize_parse_bytes(NOA_STR("5 parsecs"), &b, NULL), NOA_EINVAL);
    assert_int_equal(noa_humanize_parse_bytes(NOA_STR("1,024 kb"), &b, NULL), 0);
    assert_true(b == 1024000);
    assert_int_equal(noa_humanize_parse_bytes(NOA_STR(".5k"), &b, NULL), 0);
    assert_true(b == 500);
    struct noa_error err = {0};
    assert_int_equal(noa_humanize_parse_bytes(NOA_STR("1.2.3MB"), &b, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "strconv.ParseFloat: parsing \"1.2.3\": invalid syntax");
    assert_int_equal(noa_humanize_parse_bytes(NOA_STR("5 Parsecs"), &b, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "unhandled size name: parsecs");
    assert_int_equal(noa_humanize_parse_bytes(NOA_STR("20EB"), &b, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "too large: 20EB");
}

static void fmt_eq(uint64_t n, const char *want)
{
    struct noa_buf b = {0};
    noa_humanize_bytes(n, 0, &b);
    if (b.len != strlen(want) || memcmp(b.data, want, b.len))
        fail_msg("%llu: got %.*s, want %s", (unsigned long long)n, (int)b.len, b.data, want);
    noa_buf_fini(&b);
}

static void test_format_bytes(void **state)
{
    (void)state;
    fmt_eq(0, "0B");
    fmt_eq(9, "9B");
    fmt_eq(10, "10B");
    fmt_eq(999, "999B");
    fmt_eq(1000, "1.0kB");
    fmt_eq(1536, "1.5kB");
    fmt_eq(82854982, "83MB");
    fmt_eq(1000000, "1.0MB");
    fmt_eq(1024000, "1.0MB");
    fmt_eq(999999, "1000kB");
    fmt_eq(1000000000000000000ULL, "1.0EB");
    fmt_eq(999900, "1000kB"); /* as Loki prints it; it reads back as 1MB */
    struct noa_buf b = {0};
    noa_humanize_bytes(82854982, 1, &b);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "83 MB", 5);
    noa_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_bytes),
        cmocka_unit_test(test_format_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
