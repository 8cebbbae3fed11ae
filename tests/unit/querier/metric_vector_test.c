/* Unit tests for querier/metric_vector.c: vector aggregations over
 * count_over_time results, expected values by hand from
 * /work/shared/reference/logql.md §6.2 (grouping, result labels, topk ties,
 * sort orders) and §7.3 (instant result order). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "metric_testdata.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* count_over_time(...[1m]) at 60 s: a1=1, a2=3, b1=2, b2=2, c1=5. */
static const struct mt_entry jobs[] = {
    {"{job=\"a\", inst=\"1\"}", 10000, "x", NULL},
    {"{job=\"a\", inst=\"2\"}", 10000, "x", NULL},
    {"{job=\"a\", inst=\"2\"}", 20000, "x", NULL},
    {"{job=\"a\", inst=\"2\"}", 30000, "x", NULL},
    {"{job=\"b\", inst=\"1\"}", 10000, "x", NULL},
    {"{job=\"b\", inst=\"1\"}", 20000, "x", NULL},
    {"{job=\"b\", inst=\"2\"}", 30000, "x", NULL},
    {"{job=\"b\", inst=\"2\"}", 40000, "x", NULL},
    {"{job=\"c\", inst=\"1\"}", 10000, "x", NULL},
    {"{job=\"c\", inst=\"1\"}", 20000, "x", NULL},
    {"{job=\"c\", inst=\"1\"}", 30000, "x", NULL},
    {"{job=\"c\", inst=\"1\"}", 40000, "x", NULL},
    {"{job=\"c\", inst=\"1\"}", 50000, "x", NULL},
};

#define C "count_over_time({job=~\".+\"}[1m])"
#define A1 "{inst=\"1\", job=\"a\"}"
#define A2 "{inst=\"2\", job=\"a\"}"
#define B1 "{inst=\"1\", job=\"b\"}"
#define B2 "{inst=\"2\", job=\"b\"}"
#define C1 "{inst=\"1\", job=\"c\"}"

static void test_aggregations(void **state)
{
    (void)state;
    static const struct mt_case cases[] = {
        {C, 60, 0, 0, A1 ": 60=1\n" B1 ": 60=2\n" C1 ": 60=5\n" A2 ": 60=3\n" B2 ": 60=2"},
        {"sum(" C ")", 60, 0, 0, "{}: 60=13"},
        {"sum by () (" C ")", 60, 0, 0, "{}: 60=13"},
        {"sum by (job) (" C ")", 60, 0, 0, "{job=\"a\"}: 60=4\n{job=\"b\"}: 60=4\n{job=\"c\"}: 60=5"},
        {"sum without (inst) (" C ")", 60, 0, 0,
         "{job=\"a\"}: 60=4\n{job=\"b\"}: 60=4\n{job=\"c\"}: 60=5"},
        /* without () keeps every series as its own group. */
        {"sum without () (" C ")", 60, 0, 0,
         A1 ": 60=1\n" B1 ": 60=2\n" C1 ": 60=5\n" A2 ": 60=3\n" B2 ": 60=2"},
        /* by a label nobody has: one group {}. */
        {"sum by (nope) (" C ")", 60, 0, 0, "{}: 60=13"},
        {"avg by (job) (" C ")", 60, 0, 0, "{job=\"a\"}: 60=2\n{job=\"b\"}: 60=2\n{job=\"c\"}: 60=5"},
        {"avg(" C ")", 60, 0, 0, "{}: 60=2.6"},
        {"min by (job) (" C ")", 60, 0, 0, "{job=\"a\"}: 60=1\n{job=\"b\"}: 60=2\n{job=\"c\"}: 60=5"},
        {"max by (job) (" C ")", 60, 0, 0, "{job=\"a\"}: 60=3\n{job=\"b\"}: 60=2\n{job=\"c\"}: 60=5"},
        {"count by (job) (" C ")", 60, 0, 0,
         "{job=\"a\"}: 60=2\n{job=\"b\"}: 60=2\n{job=\"c\"}: 60=1"},
        {"count without (job) (" C ")", 60, 0, 0, "{inst=\"1\"}: 60=3\n{inst=\"2\"}: 60=2"},
        /* Population values: a = {1, 3}: variance 1. */
        {"stdvar by (job) (" C ")", 60, 0, 0,
         "{job=\"a\"}: 60=1\n{job=\"b\"}: 60=0\n{job=\"c\"}: 60=0"},
        {"stddev by (job) (" C ")", 60, 0, 0,
         "{job=\"a\"}: 60=1\n{job=\"b\"}: 60=0\n{job=\"c\"}: 60=0"},
        /* {1,2,5,3,2}: mean 2.6, variance 9.2/5 (Welford's rounding). */
        {"stdvar(" C ")", 60, 0, 0, "{}: 60=1.8399999999999999"},
        {"stddev(" C ")", 60, 0, 0, "{}: 60=1.3564659966250536"},
        /* Over a range: groups appear only where their inputs have points. */
        {"sum by (job) (count_over_time({job=~\"a|c\"}[10s]))", 10, 50, 20,
         "{job=\"a\"}: 10=2 30=1\n{job=\"c\"}: 10=1 30=1 50=1"},
        /* Nested aggregations. */
        {"max(sum by (job) (" C "))", 60, 0, 0, "{}: 60=5"},
        {"count(count by (job) (" C "))", 60, 0, 0, "{}: 60=3"},
    };
    mt_run_cases(jobs, N(jobs), cases, N(cases));
}

static void test_topk_sort(void **state)
{
    (void)state;
    static const struct mt_case cases[] = {
        /* Original labels kept; an instant result is re-sorted by labels. */
        {"topk(2, " C ")", 60, 0, 0, C1 ": 60=5\n" A2 ": 60=3"},
        /* Ties: b1 and b2 both 2; the first in label order stays (a later
         * equal value does not replace it; Loki leaves tie order open). */
        {"topk(1, " C ") by (job)", 60, 0, 0, B1 ": 60=2\n" C1 ": 60=5\n" A2 ": 60=3"},
        {"topk(1, " C ") without (inst)", 60, 0, 0, B1 ": 60=2\n" C1 ": 60=5\n" A2 ": 60=3"},
        {"bottomk(2, " C ")", 60, 0, 0, A1 ": 60=1\n" B1 ": 60=2"},
        {"bottomk(1, " C ") by (inst)", 60, 0, 0, A1 ": 60=1\n" B2 ": 60=2"},
        {"topk(10, " C ")", 60, 0, 0,
         A1 ": 60=1\n" B1 ": 60=2\n" C1 ": 60=5\n" A2 ": 60=3\n" B2 ": 60=2"},
        /* sort / sort_desc order an instant vector by value (ties by labels). */
        {"sort(" C ")", 60, 0, 0, A1 ": 60=1\n" B1 ": 60=2\n" B2 ": 60=2\n" A2 ": 60=3\n" C1 ": 60=5"},
        {"sort_desc(" C ")", 60, 0, 0,
         C1 ": 60=5\n" A2 ": 60=3\n" B1 ": 60=2\n" B2 ": 60=2\n" A1 ": 60=1"},
        /* The order survives an operation on top (§6.2 Sortable). */
        {"sort_desc(" C ") * 2", 60, 0, 0,
         C1 ": 60=10\n" A2 ": 60=6\n" B1 ": 60=4\n" B2 ": 60=4\n" A1 ": 60=2"},
        /* NaN goes last in both directions. */
        {"sort(" C " / (" C " > bool 4))", 60, 0, 0,
         C1 ": 60=5\n" A1 ": 60=NaN\n" B1 ": 60=NaN\n" A2 ": 60=NaN\n" B2 ": 60=NaN"},
        {"sort_desc(" C " / (" C " > bool 4))", 60, 0, 0,
         C1 ": 60=5\n" A1 ": 60=NaN\n" B1 ": 60=NaN\n" A2 ": 60=NaN\n" B2 ": 60=NaN"},
        /* Range queries: sort has no effect on series order (labels). */
        {"sort_desc(" C ")", 60, 60, 10,
         A1 ": 60=1\n" B1 ": 60=2\n" C1 ": 60=5\n" A2 ": 60=3\n" B2 ": 60=2"},
        /* topk per step in a range query. */
        {"topk(1, count_over_time({job=\"a\"}[10s]))", 10, 30, 10,
         A1 ": 10=1\n" A2 ": 20=1 30=1"},
        {"approx_topk(1, " C ")", 60, 0, 0, C1 ": 60=5"},
        {"approx_topk(1, " C ")", 60, 120, 60,
         "error: count min sketches are only supported on instant queries"},
    };
    mt_run_cases(jobs, N(jobs), cases, N(cases));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aggregations),
        cmocka_unit_test(test_topk_sort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
