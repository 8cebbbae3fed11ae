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

static void test_go_prom_durations(void **state)
{
    (void)state;
    struct {
        int64_t ns;
        const char *go, *prom;
    } cases[] = {
        {0, "0s", "0s"},
        {721LL * 3600 * 1000000000, "721h0m0s", "30d1h"},
        {744LL * 3600 * 1000000000, "744h0m0s", "31d"},
        {90LL * 1000000000, "1m30s", "1m30s"},
        {1500000000LL, "1.5s", "1s500ms"},
        {250000000LL, "250ms", "250ms"},
        {1500LL, "1.5\xc2\xb5s", "0s"},
        {7LL * 86400 * 1000000000, "168h0m0s", "1w"},
        {365LL * 86400 * 1000000000, "8760h0m0s", "1y"},
        {3600LL * 1000000000, "1h0m0s", "1h"},
    };
    char out[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        noa_params_format_go_duration(cases[i].ns, out, sizeof(out));
        assert_string_equal(out, cases[i].go);
        noa_params_format_prom_duration(cases[i].ns, out, sizeof(out));
        assert_string_equal(out, cases[i].prom);
    }
}

static void test_range_step(void **state)
{
    (void)state;
    const int64_t S = 1000000000;
    int64_t step;
    struct noa_error err = {0};
    /* Loki's default: range / 250 in whole seconds, at least 1s. */
    assert_int_equal(noa_params_range_step(NULL, 0, 3600 * S, &step, &err), 0);
    assert_true(step == 14 * S);
    assert_int_equal(noa_params_range_step(NULL, 0, 10 * S, &step, &err), 0);
    assert_true(step == S);
    struct noa_str ms = NOA_STR("500ms");
    assert_int_equal(noa_params_range_step(&ms, 0, 10 * S, &step, &err), 0);
    assert_true(step == S / 2);
    struct noa_str zero = NOA_STR("0");
    assert_int_equal(noa_params_range_step(&zero, 0, 10 * S, &step, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "zero or negative query resolution step widths are not "
                                 "accepted. Try a positive integer");
    struct noa_str one = NOA_STR("1");
    assert_int_equal(noa_params_range_step(&one, 0, 11000 * S, &step, &err), 0);
    assert_int_equal(noa_params_range_step(&one, 0, 11001 * S, &step, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "exceeded maximum resolution of 11,000 points per timeseries. "
                                 "Try decreasing the query resolution (?step=XX)");
}

static void test_range_limits(void **state)
{
    (void)state;
    const int64_t S = 1000000000, H = 3600 * S;
    struct noa_limits lim;
    struct noa_error err = {0};
    int64_t now = 1700000000 * S, s, e;
    int empty;
    noa_limits_defaults(&lim);
    s = now - 721 * H;
    e = now;
    assert_int_equal(noa_params_check_range(&lim, now, &s, &e, &empty, &err), 0);
    assert_int_equal(empty, 0);
    s = now - 744 * H;
    assert_int_equal(noa_params_check_range(&lim, now, &s, &e, &empty, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "the query time range exceeds the limit (query length: "
                                 "744h0m0s, limit: 721h0m0s)");
    s = now - 744 * H;
    assert_int_equal(noa_params_check_metadata_range(&lim, now, &s, &e, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "the query time range exceeds the limit (query length: "
                                 "744h0m0s, limit: 30d1h)");
    /* max_query_lookback moves the start up, or empties the answer. */
    lim.max_query_lookback_ns = 24 * H;
    s = now - 48 * H;
    e = now;
    assert_int_equal(noa_params_check_range(&lim, now, &s, &e, &empty, &err), 0);
    assert_true(s == now - 24 * H && !empty);
    s = now - 48 * H;
    e = now - 30 * H;
    assert_int_equal(noa_params_check_range(&lim, now, &s, &e, &empty, &err), 0);
    assert_int_equal(empty, 1);
    s = now - 48 * H;
    e = now - 30 * H;
    assert_int_equal(noa_params_check_metadata_range(&lim, now, &s, &e, &err), NOA_EINVAL);
    assert_string_equal(err.msg,
                        "this data is no longer available, it is past now - max_query_lookback (1d)");
    /* max_entries_limit_per_query */
    assert_int_equal(noa_params_check_limit(&lim, 5000, &err), 0);
    assert_int_equal(noa_params_check_limit(&lim, 5001, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "max entries limit per query exceeded, limit > "
                                 "max_entries_limit_per_query (5001 > 5000)");
    lim.max_entries_limit_per_query = 0;
    assert_int_equal(noa_params_check_limit(&lim, 1000000, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timestamps), cmocka_unit_test(test_durations),
        cmocka_unit_test(test_bounds), cmocka_unit_test(test_limit_direction),
        cmocka_unit_test(test_rfc3339), cmocka_unit_test(test_go_prom_durations),
        cmocka_unit_test(test_range_step), cmocka_unit_test(test_range_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
