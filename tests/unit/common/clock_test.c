/*
 * Tests for common/clock.c: the calendar arithmetic against known dates
 * (epoch, leap days, centuries, negative years), a round trip over a wide
 * range of day numbers, Go-style overflowing days, and the clocks moving.
 */
#include "common/clock.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static void test_known_dates(void **state)
{
    (void)state;
    assert_int_equal(noa_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(noa_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(noa_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(noa_days_from_civil(2000, 2, 29), 11016);
    assert_int_equal(noa_days_from_civil(2024, 2, 29), 19782);
    assert_int_equal(noa_days_from_civil(1900, 3, 1), -25508); /* 1900 is not leap */
    assert_int_equal(noa_days_from_civil(1, 1, 1), -719162);    /* Go's zero time */
    /* a day past the month's end runs on, as Go's time.Date */
    assert_int_equal(noa_days_from_civil(2023, 2, 29), noa_days_from_civil(2023, 3, 1));
    assert_int_equal(noa_days_from_civil(2023, 1, 32), noa_days_from_civil(2023, 2, 1));
    int64_t y;
    int m, d;
    noa_civil_from_days(-719162, &y, &m, &d);
    assert_int_equal(y, 1);
    assert_int_equal(m, 1);
    assert_int_equal(d, 1);
    noa_civil_from_days(19782, &y, &m, &d);
    assert_int_equal(y, 2024);
    assert_int_equal(m, 2);
    assert_int_equal(d, 29);
}

static void test_round_trip(void **state)
{
    (void)state;
    int64_t prev_y = 0;
    int prev_m = 0, prev_d = 0;
    for (int64_t z = -1000000; z <= 1000000; z += 7) {
        int64_t y;
        int m, d;
        noa_civil_from_days(z, &y, &m, &d);
        assert_true(m >= 1 && m <= 12);
        assert_true(d >= 1 && d <= 31);
        assert_int_equal(noa_days_from_civil(y, m, d), z);
        /* dates only move forward */
        if (z > -1000000)
            assert_true(y > prev_y || (y == prev_y && (m > prev_m || (m == prev_m && d > prev_d))));
        prev_y = y;
        prev_m = m;
        prev_d = d;
    }
}

static void test_clocks_move(void **state)
{
    (void)state;
    int64_t m0 = noa_clock_mono_ns(), r0 = noa_clock_real_ns();
    int64_t m1 = noa_clock_mono_ns();
    assert_true(m1 >= m0);
    assert_true(r0 > 1600000000LL * 1000000000LL); /* after 2020 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_dates),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_clocks_move),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
