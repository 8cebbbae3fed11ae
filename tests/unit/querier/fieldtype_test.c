/* Unit tests for querier/fieldtype.c: Loki's detected-field type inference
 * (Go's strconv/time/humanize acceptance rules), the ID test of
 * detected_labels and humanize's byte formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/mem.h"
#include "querier/fieldtype.h"

#include <string.h>

static const char *type_of(const char *s)
{
    return noa_fieldtype_name(noa_fieldtype_of(noa_str_c(s)));
}

static void test_determine_type(void **state)
{
    (void)state;
    static const struct {
        const char *in, *type;
    } cases[] = {
        {"200", "int"},          {"-17", "int"},          {"+5", "int"},
        {"007", "int"},          {"9223372036854775807", "int"},
        /* One past int64 still parses as a float. */
        {"9223372036854775808", "float"},
        {"0.5", "float"},        {"1e3", "float"},        {".5", "float"},
        {"5.", "float"},         {"-1.5E-3", "float"},    {"NaN", "float"},
        {"inf", "float"},        {"-Infinity", "float"},  {"0x1p-2", "float"},
        {"true", "boolean"},     {"False", "boolean"},    {"t", "boolean"},
        {"TRUE", "boolean"},
        {"10ms", "duration"},    {"1.5s", "duration"},    {"1h30m", "duration"},
        {"-2m", "duration"},     {"5\xc2\xb5s", "duration"}, {".5h", "duration"},
        {"10KB", "bytes"},       {"10 MB", "bytes"},      {"1.5GiB", "bytes"},
        {"1,000", "bytes"},      {"512b", "bytes"},       {"3ki", "bytes"},
        {"abc", "string"},       {"", "string"},          {"1_000", "string"},
        {"+nan", "string"},      {"1e400", "string"},     {"0x10", "string"},
        {"TRue", "string"},      {"yes", "string"},       {"5d", "string"},
        {"1.2.3", "string"},     {"10 XB", "string"},     {"info", "string"},
        {"1s2", "string"},       {".s", "string"},        {"99999999999999999999h", "string"},
        {"2562047h", "duration"}, {"2562048h", "string"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (strcmp(type_of(cases[i].in), cases[i].type))
            fail_msg("%s: got %s, want %s", cases[i].in, type_of(cases[i].in), cases[i].type);
}

static void test_uuid_and_float(void **state)
{
    (void)state;
    assert_true(noa_fieldtype_is_uuid(NOA_STR("123e4567-e89b-12d3-a456-426614174000")));
    assert_true(noa_fieldtype_is_uuid(NOA_STR("{123E4567-E89B-12D3-A456-426614174000}")));
    assert_true(noa_fieldtype_is_uuid(NOA_STR("urn:uuid:123e4567-e89b-12d3-a456-426614174000")));
    assert_true(noa_fieldtype_is_uuid(NOA_STR("123e4567e89b12d3a456426614174000")));
    assert_false(noa_fieldtype_is_uuid(NOA_STR("123e4567-e89b-12d3-a456-42661417400g")));
    assert_false(noa_fieldtype_is_uuid(NOA_STR("123e4567+e89b-12d3-a456-426614174000")));
    assert_false(noa_fieldtype_is_uuid(NOA_STR("api")));
    assert_true(noa_fieldtype_is_float(NOA_STR("3")));
    assert_false(noa_fieldtype_is_float(NOA_STR("3a")));
    assert_false(noa_fieldtype_is_float(NOA_STR(" 3")));
    /* Long inputs take the heap path. */
    char big[300];
    memset(big, '1', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    assert_true(noa_fieldtype_is_float(noa_str_c(big)));
    assert_false(noa_fieldtype_is_int(noa_str_c(big)));
}

static void test_is_size(void **state)
{
    (void)state;
    uint64_t b;
    assert_true(noa_fieldtype_is_size(NOA_STR("10KB"), &b));
    assert_true(b == 10000);
    assert_true(noa_fieldtype_is_size(NOA_STR("5m"), &b)); /* Loki's quirk: m is a size unit */
    assert_false(noa_fieldtype_is_size(NOA_STR("42"), &b)); /* no unit: left alone */
    assert_false(noa_fieldtype_is_size(NOA_STR("web"), &b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_determine_type),
        cmocka_unit_test(test_uuid_and_float),
        cmocka_unit_test(test_is_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
