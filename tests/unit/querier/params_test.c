/* Unit tests for querier/params.c: Loki's timestamp, duration and bounds rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "querier/params.h"

static int64_t ts(const char *s)
{
    int64_t v = 0;
    struct noa_error err = {0};
    if (noa_params_timestamp(noa_str_c(s), &v, &err) < 0)
        fail_msg("rejected %s: %s", s, err.msg);
    return v;
}

static void test_timestamps(void **state)
{
    (void)state;
    assert_true(ts("1700000000") == 1700000000LL * 1000000000);
    assert_true(ts("1700000000000000000") == 1700000000000000000LL);
    /* 13 digits are nanoseconds, as Loki reads them. */
    assert_true(ts("1700000000000") == 1700000000000LL);
    assert_true(ts("1700000000.5") == 1700000000500000000LL);
    assert_true(ts("1700000000.1234") == 1700000000123000000LL);
    assert_true(ts("2023-11-14T22:13:20Z") == 1700000000LL * 1000000000);
    assert_true(ts("2023-11-14T22:13:20.123456789Z") == 1700000000123456789LL);
    assert_true(ts("2023-11-15T00:13:20+02:00") == 1700000000LL * 1000000000);
    int64_t v;
    struct noa_error err = {0};
    assert_int_equal(noa_params_timestamp(NOA_STR("yesterday"), &v, &err), NOA_EINVAL);
    assert_int_equal(noa_params_timestamp(NOA_STR("2023-13-01T00:00:00Z"), &v, &err), NOA_EINVAL);
}

static void test_durations(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(noa_params_prom_duration(NOA_STR("1h30m"), &v), 0);
    assert_true(v == 5400LL * 1000000000);
    assert_int_equal(noa_params_prom_duration(NOA_STR("500ms"), &v), 0);
    assert_true(v == 500000000LL);
    assert_int_equal(noa_params_prom_duration(NOA_STR("2d"), &v), 0);
    assert_true(v == 172800LL * 1000000000);
    assert_int_equal(noa_params_prom_duration(NOA_STR("30m1h"), &v), -1);
    assert_int_equal(noa_params_prom_duration(NOA_STR("1.5s"), &v), -1);
    assert_int_equal(noa_params_prom_duration(NOA_STR("h"), &v), -1);
    struct noa_error err = {0};
    assert_int_equal(noa_params_step(NOA_STR("0.5"), &v, &err), 0);
    assert_true(v == 500000000LL);
    assert_int_equal(noa_params_step(NOA_STR("1m"), &v, &err), 0);
    assert_true(v == 60LL * 1000000000);
    assert_int_equal(noa_params_step(NOA_STR("x"), &v, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "cannot parse \"x\" to a valid duration");
}

static void test_bounds(void **state)
{
    (void)state;
    int64_t now = 1700000000LL * 1000000000, s, e;
    struct noa_error err = {0};
    assert_int_equal(noa_params_bounds(NULL, NULL, NULL, now, &s, &e, &err), 0);
    assert_true(e == now && s == now - 3600LL * 1000000000);
    struct noa_str since = NOA_STR("10m");
    assert_int_equal(noa_params_bounds(NULL, NULL, &since, now, &s, &e, &err), 0);
    assert_true(s == now - 600LL * 1000000000);
    /* An end in the future anchors `since` at now. */
    struct noa_str end = NOA_STR("1800000000");
    assert_int_equal(noa_params_bounds(NULL, &end, NULL, now, &s, &e, &err), 0);
    assert_true(s == now - 3600LL * 1000000000);
    struct noa_str start = NOA_STR("1600000000");
    assert_int_equal(noa_params_bounds(&start, NULL, &since, now, &s, &e, &err), 0);
    assert_true(s == 1600000000LL * 1000000000);
    struct noa_str bad = NOA_STR("1x");
    assert_int_equal(noa_params_bounds(NULL, NULL, &bad, now, &s, &e, &err), NOA_EINVAL);
}

static void test_limit_direction(void **state)
{
    (void)state;
    uint32_t limit;
    int backward;
    struct noa_error err = {0};
    assert_int_equal(noa_params_limit(NULL, &limit, &err), 0);
    assert_int_equal(limit, 100);
    struct noa_str l = NOA_STR("0");
    assert_int_equal(noa_params_limit(&l, &limit, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "limit must be a positive value");
    struct noa_str x = NOA_STR("x");
    assert_int_equal(noa_params_limit(&x, &limit, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "strconv.Atoi: parsing \"x\": invalid syntax");
    struct noa_str f = NOA_STR("FORWARD");
    assert_int_equal(noa_params_direction(&f, &backward, &err), 0);
    assert_int_equal(backward, 0);
    struct noa_str b = NOA_STR("backward");
    assert_int_equal(noa_params_direction(&b, &backward, &err), 0);
    assert_int_equal(backward, 1);
    struct noa_str u = NOA_STR("up");
    assert_int_equal(noa_params_direction(&u, &backward, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "invalid direction 'up'");
}

static void test_rfc3339(void **state)
{
    (void)state;
    char out[64];
    noa_params_format_rfc3339(1700000000123000000LL, out, sizeof(out));
    assert_string_equal(out, "2023-11-14T22:13:20.123Z");
    noa_params_format_rfc3339(1700000000LL * 1000000000, out, sizeof(out));
    assert_string_equal(out, "2023-11-14T22:13:20Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timestamps), cmocka_unit_test(test_durations),
        cmocka_unit_test(test_bounds), cmocka_unit_test(test_limit_direction),
        cmocka_unit_test(test_rfc3339),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
