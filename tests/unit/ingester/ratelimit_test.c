/* Unit tests for ingester/ratelimit.c: x/time/rate AllowN semantics, Loki's
 * stream limit arithmetic and its 429 texts. Time is passed in, so nothing
 * here depends on the clock. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ingester/ratelimit.h"

#define SEC 1000000000LL
#define T0 (1700000000LL * SEC)

static void test_starts_full_all_or_nothing(void **state)
{
    (void)state;
    struct noa_ratelimit rl;
    noa_ratelimit_init(&rl, 10, 100);
    assert_true(noa_ratelimit_tokens(&rl, T0) == 100);
    assert_int_equal(noa_ratelimit_allow(&rl, T0, 60), 1);
    /* 40 left: a request for 41 fails and takes nothing */
    assert_int_equal(noa_ratelimit_allow(&rl, T0, 41), 0);
    assert_true(noa_ratelimit_tokens(&rl, T0) == 40);
    assert_int_equal(noa_ratelimit_allow(&rl, T0, 40), 1);
    assert_int_equal(noa_ratelimit_allow(&rl, T0, 1), 0);
    assert_int_equal(noa_ratelimit_allow(&rl, T0, 0), 1);
}

static void test_cost_above_burst_never_passes(void **state)
{
    (void)state;
    struct noa_ratelimit rl;
    noa_ratelimit_init(&rl, 1e9, 100);
    assert_int_equal(noa_ratelimit_allow(&rl, T0, 101), 0);
    assert_int_equal(noa_ratelimit_allow(&rl, T0 + 3600 * SEC, 101), 0);
    assert_int_equal(noa_ratelimit_allow(&rl, T0 + 3600 * SEC, 100), 1);
}

static void test_refill(void **state)
{
    (void)state;
    struct noa_ratelimit rl;
    noa_ratelimit_init(&rl, 10, 100);
    assert_int_equal(noa_ratelimit_allow(&rl, T0, 100), 1);
    assert_int_equal(noa_ratelimit_allow(&rl, T0 + SEC / 2, 6), 0); /* 5 tokens */
    assert_int_equal(noa_ratelimit_allow(&rl, T0 + SEC / 2, 5), 1);
    assert_int_equal(noa_ratelimit_allow(&rl, T0 + SEC, 5), 1); /* 5 more */
    assert_int_equal(noa_ratelimit_allow(&rl, T0 + SEC, 1), 0);
    /* refill is capped at burst */
    assert_true(noa_ratelimit_tokens(&rl, T0 + 3600 * SEC) == 100);
}

static void test_clock_going_back(void **state)
{
    (void)state;
    struct noa_ratelimit rl;
    noa_ratelimit_init(&rl, 10, 100);
    assert_int_equal(noa_ratelimit_allow(&rl, T0, 100), 1);
    assert_int_equal(noa_ratelimit_allow(&rl, T0 - 10 * SEC, 1), 0); /* no refill backwards */
    assert_true(noa_ratelimit_tokens(&rl, T0 - 10 * SEC) == 0);
    assert_int_equal(noa_ratelimit_allow(&rl, T0 + SEC, 10), 1);
}

static void test_set_keeps_accrued_tokens(void **state)
{
    (void)state;
    struct noa_ratelimit rl;
    noa_ratelimit_init(&rl, 10, 100);
    assert_int_equal(noa_ratelimit_allow(&rl, T0, 100), 1);
    noa_ratelimit_set(&rl, T0 + 2 * SEC, 1000, 50); /* 20 accrued at the old rate */
    assert_true(noa_ratelimit_tokens(&rl, T0 + 2 * SEC) == 20);
    assert_int_equal(noa_ratelimit_allow(&rl, T0 + 2 * SEC, 21), 0);
    assert_true(noa_ratelimit_tokens(&rl, T0 + 3 * SEC) == 50); /* new rate, new burst */
    assert_int_equal(noa_ratelimit_allow(&rl, T0 + 3 * SEC, 51), 0);

    /* set before first use keeps the bucket full */
    noa_ratelimit_init(&rl, 10, 100);
    noa_ratelimit_set(&rl, T0, 10, 200);
    assert_true(noa_ratelimit_tokens(&rl, T0) == 100);
}

static void test_unlimited_and_zero_rate(void **state)
{
    (void)state;
    struct noa_ratelimit rl;
    noa_ratelimit_init(&rl, INFINITY, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(noa_ratelimit_allow(&rl, T0, 1e12), 1);

    noa_ratelimit_init(&rl, 0, 10); /* no refill: the burst is all there is */
    assert_int_equal(noa_ratelimit_allow(&rl, T0, 6), 1);
    assert_int_equal(noa_ratelimit_allow(&rl, T0 + 3600 * SEC, 5), 0);
    assert_int_equal(noa_ratelimit_allow(&rl, T0 + 3600 * SEC, 4), 1);
}

static void test_subnanosecond_deficit_passes(void **state)
{
    (void)state;
    struct noa_ratelimit rl;
    /* 1e9 tokens/s: a deficit of half a token is a 0.5 ns wait, which Go's
     * time.Duration truncates to 0, so x/time/rate lets it through. */
    noa_ratelimit_init(&rl, 1e9, 10);
    assert_int_equal(noa_ratelimit_allow(&rl, T0, 10), 1);
    assert_int_equal(noa_ratelimit_allow(&rl, T0, 0.5), 1);
    assert_int_equal(noa_ratelimit_allow(&rl, T0, 2), 0);
}

static void test_stream_limit(void **state)
{
    (void)state;
    struct noa_limits l;
    memset(&l, 0, sizeof(l));
    l.max_global_streams_per_user = 5000;
    assert_int_equal(noa_ratelimit_stream_limit(&l, 1, 1), 5000);
    assert_int_equal(noa_ratelimit_stream_limit(&l, 3, 3), 5000);
    assert_int_equal(noa_ratelimit_stream_limit(&l, 4, 1), 1250);
    assert_int_equal(noa_ratelimit_stream_limit(&l, 0, 1), 0);
    l.max_streams_per_user = 100;
    assert_int_equal(noa_ratelimit_stream_limit(&l, 1, 1), 100);
    l.max_streams_per_user = 9000;
    assert_int_equal(noa_ratelimit_stream_limit(&l, 1, 1), 5000);
    l.max_global_streams_per_user = 0;
    assert_int_equal(noa_ratelimit_stream_limit(&l, 1, 1), 9000);
    l.max_streams_per_user = 0;
    assert_int_equal(noa_ratelimit_stream_limit(&l, 1, 1), 0);
    /* Loki truncates: 1 stream over 3 ingesters is 0, i.e. unlimited */
    l.max_global_streams_per_user = 1;
    assert_int_equal(noa_ratelimit_stream_limit(&l, 3, 1), 0);
}

static void test_sizes(void **state)
{
    (void)state;
    static const struct {
        uint64_t b;
        const char *want;
    } cases[] = {
        {0, "0B"},
        {1, "1B"},
        {100, "100B"},
        {1024, "1KB"},
        {1536, "1536B"},
        {3 << 20, "3MB"},
        {1536 * 1024, "1536KB"},
        {15ull << 20, "15MB"},
        {1ull << 30, "1GB"},
        {1ull << 40, "1TB"},
        {1ull << 50, "1PB"},
        {1ull << 60, "1EB"},
        {(1ull << 20) + 1, "1048577B"},
    };
    char b[32];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(noa_ratelimit_format_size(b, sizeof(b), cases[i].b), cases[i].want);
}

static void test_messages(void **state)
{
    (void)state;
    struct noa_buf b = {0};
    noa_ratelimit_format_tenant(&b, "fake", 4194304.7, 1, 100);
    assert_string_equal(noa_buf_cstr(&b),
                        "Ingestion rate limit exceeded for user fake (limit: 4194304 bytes/sec) "
                        "while attempting to ingest '1' lines totaling '100' bytes, reduce log "
                        "volume or contact your Loki administrator to see if the limit can be "
                        "increased");
    noa_buf_reset(&b);
    noa_ratelimit_format_stream(&b, 3 << 20, NOA_STR("{app=\"a\"}"), 100);
    assert_string_equal(noa_buf_cstr(&b),
                        "Per stream rate limit exceeded (limit: 3MB/sec) while attempting to "
                        "ingest for stream '{app=\"a\"}' totaling 100B, consider splitting a "
                        "stream via additional labels or contact your Loki administrator to see "
                        "if the limit can be increased");
    noa_buf_reset(&b);
    noa_ratelimit_format_stream(&b, 1536.9 * 1024, NOA_STR("{}"), 2048);
    assert_non_null(strstr(noa_buf_cstr(&b), "(limit: 1573785B/sec)"));
    assert_non_null(strstr(noa_buf_cstr(&b), "totaling 2KB,"));
    noa_buf_reset(&b);
    noa_ratelimit_format_stream_limit(&b, NOA_STR("{app=\"a\"}"), "fake");
    assert_string_equal(noa_buf_cstr(&b),
                        "Maximum active stream limit exceeded when trying to create stream "
                        "{app=\"a\"}, reduce the number of active streams (reduce labels or "
                        "reduce label values), or contact your Loki administrator to see if the "
                        "limit can be increased, user: 'fake'");
    noa_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_starts_full_all_or_nothing),
        cmocka_unit_test(test_cost_above_burst_never_passes),
        cmocka_unit_test(test_refill),
        cmocka_unit_test(test_clock_going_back),
        cmocka_unit_test(test_set_keeps_accrued_tokens),
        cmocka_unit_test(test_unlimited_and_zero_rate),
        cmocka_unit_test(test_subnanosecond_deficit_passes),
        cmocka_unit_test(test_stream_limit),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
