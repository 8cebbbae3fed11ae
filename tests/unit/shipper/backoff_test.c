/*
 * Tests for shipper/backoff.c: delays grow from min, stay within
 * [base, 2*base), are capped at max, the retry limit, and reset.
 */
#include "shipper/backoff.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static void test_growth_and_cap(void **state)
{
    (void)state;
    struct noa_backoff b;
    noa_backoff_init(&b, 500, 300000, 0, 42);
    int64_t base = 500;
    for (int i = 0; i < 20; i++) {
        int64_t d = noa_backoff_next(&b);
        if (base >= 300000) {
            assert_int_equal(d, 300000);
        } else {
            assert_true(d >= base);
            assert_true(d < 2 * base || d == 300000);
            assert_true(d <= 300000);
        }
        base = base * 2 > 300000 ? 300000 : base * 2;
        assert_true(noa_backoff_ongoing(&b)); /* unlimited by default */
    }
    noa_backoff_reset(&b);
    int64_t d = noa_backoff_next(&b);
    assert_true(d >= 500 && d < 1000);
}

static void test_jitter_varies(void **state)
{
    (void)state;
    struct noa_backoff a, b;
    noa_backoff_init(&a, 1000, 60000, 0, 1);
    noa_backoff_init(&b, 1000, 60000, 0, 2);
    int differ = 0;
    for (int i = 0; i < 5; i++)
        differ |= noa_backoff_next(&a) != noa_backoff_next(&b);
    assert_true(differ);
}

static void test_limits_and_defaults(void **state)
{
    (void)state;
    struct noa_backoff b;
    noa_backoff_init(&b, 0, 0, 2, 0);
    assert_int_equal(b.min_ms, 500);
    assert_int_equal(b.max_ms, 500);
    assert_true(noa_backoff_ongoing(&b));
    assert_int_equal(noa_backoff_next(&b), 500);
    assert_true(noa_backoff_ongoing(&b));
    assert_int_equal(noa_backoff_next(&b), 500);
    assert_false(noa_backoff_ongoing(&b));
    noa_backoff_reset(&b);
    assert_true(noa_backoff_ongoing(&b));
    /* many attempts never overflow */
    noa_backoff_init(&b, 1, INT64_MAX / 4, 0, 7);
    for (int i = 0; i < 200; i++)
        assert_true(noa_backoff_next(&b) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_growth_and_cap),
        cmocka_unit_test(test_jitter_varies),
        cmocka_unit_test(test_limits_and_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
