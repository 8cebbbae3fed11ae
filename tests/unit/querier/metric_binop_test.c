/* Unit tests for querier/metric_binop.c and metric_func.c: binary
 * operators, vector matching, label_replace and vector(), expected values
 * by hand from /work/shared/reference/logql.md §6.3, §6.4 and §7.6. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "metric_testdata.h"
#include "querier/metric_binop.h"
#include "querier/metric_func.h"

#include <math.h>

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
#define SJ "sum by (job) (" C ")"
#define A1 "{inst=\"1\", job=\"a\"}"
#define A2 "{inst=\"2\", job=\"a\"}"
#define B1 "{inst=\"1\", job=\"b\"}"
#define B2 "{inst=\"2\", job=\"b\"}"
#define C1 "{inst=\"1\", job=\"c\"}"

static void test_scalar_ops(void **state)
{
    (void)state;
    static const struct mt_case cases[] = {
        /* §7.6.8 */
        {"10 / 0", 60, 0, 0, "scalar: NaN"},
        {"-10 / 0", 60, 0, 0, "scalar: NaN"},
        {"10 % 0", 60, 0, 0, "scalar: NaN"},
        {"2^3^2", 60, 0, 0, "scalar: 512"},
        {"1+1--1", 60, 0, 0, "scalar: 3"},
        {"2 * 3 + 1", 60, 0, 0, "scalar: 7"},
        /* Comparisons of scalars always give 0 or 1. */
        {"1 > 2", 60, 0, 0, "scalar: 0"},
        {"2 > bool 1", 60, 0, 0, "scalar: 1"},
        /* A range query over a scalar: one series {} at every step. */
        {"1 + 1", 0, 20, 10, "{}: 0=2 10=2 20=2"},
        {"vector(1) + vector(1)", 60, 0, 0, "{}: 60=2"},
        {"vector(3) > 2", 60, 0, 0, "{}: 60=3"},
        {"vector(1) > 2", 60, 0, 0, ""},
        {"vector(0)", 0, 20, 10, "{}: 0=0 10=0 20=0"},
    };
    mt_run_cases(jobs, N(jobs), cases, N(cases));
}

static void test_vector_scalar(void **state)
{
    (void)state;
    static const struct mt_case cases[] = {
        {C " * 2", 60, 0, 0, A1 ": 60=2\n" B1 ": 60=4\n" C1 ": 60=10\n" A2 ": 60=6\n" B2 ": 60=4"},
        {"10 - " C, 60, 0, 0, A1 ": 60=9\n" B1 ": 60=8\n" C1 ": 60=5\n" A2 ": 60=7\n" B2 ": 60=8"},
        {C " % 2", 60, 0, 0, A1 ": 60=1\n" B1 ": 60=0\n" C1 ": 60=1\n" A2 ": 60=1\n" B2 ": 60=0"},
        {C " ^ 2", 60, 0, 0, A1 ": 60=1\n" B1 ": 60=4\n" C1 ": 60=25\n" A2 ": 60=9\n" B2 ": 60=4"},
        {C " / 0", 60, 0, 0,
         A1 ": 60=NaN\n" B1 ": 60=NaN\n" C1 ": 60=NaN\n" A2 ": 60=NaN\n" B2 ": 60=NaN"},
        /* Filtering keeps the vector's value, whichever side it is on (§6.3). */
        {C " > 2", 60, 0, 0, C1 ": 60=5\n" A2 ": 60=3"},
        {"2 < " C, 60, 0, 0, C1 ": 60=5\n" A2 ": 60=3"},
        {C " == 2", 60, 0, 0, B1 ": 60=2\n" B2 ": 60=2"},
        {C " != 2", 60, 0, 0, A1 ": 60=1\n" C1 ": 60=5\n" A2 ": 60=3"},
        {C " >= 3", 60, 0, 0, C1 ": 60=5\n" A2 ": 60=3"},
        {C " <= 1", 60, 0, 0, A1 ": 60=1"},
        {C " < bool 2", 60, 0, 0, A1 ": 60=1\n" B1 ": 60=0\n" C1 ": 60=0\n" A2 ": 60=0\n" B2 ": 60=0"},
        /* NaN fails every comparison but != (kept, value NaN). */
        {"(" C " / 0) != 1", 60, 0, 0,
         A1 ": 60=NaN\n" B1 ": 60=NaN\n" C1 ": 60=NaN\n" A2 ": 60=NaN\n" B2 ": 60=NaN"},
        {"(" C " / 0) == 1", 60, 0, 0, ""},
        {"(" C " / 0) > bool 1", 60, 0, 0,
         A1 ": 60=0\n" B1 ": 60=0\n" C1 ": 60=0\n" A2 ": 60=0\n" B2 ": 60=0"},
        /* §7.6.2: + 1 on a count. */
        {"count_over_time({job=\"c\"}[1m]) + 1", 60, 0, 0, C1 ": 60=6"},
    };
    mt_run_cases(jobs, N(jobs), cases, N(cases));
}

static void test_vector_vector(void **state)
{
    (void)state;
    static const struct mt_case cases[] = {
        /* Full-label matching. */
        {C " - " C, 60, 0, 0, A1 ": 60=0\n" B1 ": 60=0\n" C1 ": 60=0\n" A2 ": 60=0\n" B2 ": 60=0"},
        {C " / on (job) group_left " SJ, 60, 0, 0,
         A1 ": 60=0.25\n" B1 ": 60=0.5\n" C1 ": 60=1\n" A2 ": 60=0.75\n" B2 ": 60=0.5"},
        /* group_right: labels from the right (many) side. */
        {SJ " / on (job) group_right " C, 60, 0, 0,
         A1 ": 60=4\n" B1 ": 60=2\n" C1 ": 60=1\n" A2 ": 60=1.3333333333333333\n" B2 ": 60=2"},
        /* group_right comparison keeps the left ("one") value (§6.3 quirk). */
        {SJ " > on (job) group_right " C, 60, 0, 0,
         A1 ": 60=4\n" B1 ": 60=4\n" A2 ": 60=4\n" B2 ": 60=4"},
        /* group_left comparison keeps the left (many) value. */
        {C " < on (job) group_left " SJ, 60, 0, 0,
         A1 ": 60=1\n" B1 ": 60=2\n" A2 ": 60=3\n" B2 ": 60=2"},
        /* Extra labels from the one side; the many side's are replaced. */
        {C " * on (job) group_left (team) label_replace(" SJ ", \"team\", \"t-$1\", \"job\", "
           "\"(.*)\")",
         60, 0, 0,
         "{inst=\"1\", job=\"a\", team=\"t-a\"}: 60=4\n{inst=\"1\", job=\"b\", team=\"t-b\"}: 60=8\n"
         "{inst=\"1\", job=\"c\", team=\"t-c\"}: 60=25\n{inst=\"2\", job=\"a\", team=\"t-a\"}: 60=12\n"
         "{inst=\"2\", job=\"b\", team=\"t-b\"}: 60=8"},
        /* An include label the one side lacks is deleted from the result... */
        {"count_over_time({job=\"c\"}[1m]) * on (job) group_left (inst) " SJ, 60, 0, 0,
         "{job=\"c\"}: 60=25"},
        /* ... so a1 and a2 both become {job="a"}. */
        {C " * on (job) group_left (inst) " SJ, 60, 0, 0,
         "error: multiple matches for labels: grouping labels must ensure unique matches"},
        /* One-to-one on(...) reduces the result to the on labels (§11.8). */
        {"label_replace(" SJ ", \"x\", \"1\", \"\", \"\") + on (job) " SJ, 60, 0, 0,
         "{job=\"a\"}: 60=8\n{job=\"b\"}: 60=8\n{job=\"c\"}: 60=10"},
        {"label_replace(" SJ ", \"x\", \"1\", \"\", \"\") + ignoring (x) " SJ, 60, 0, 0,
         "{job=\"a\"}: 60=8\n{job=\"b\"}: 60=8\n{job=\"c\"}: 60=10"},
        /* No match: dropped. */
        {"label_replace(" SJ ", \"x\", \"1\", \"\", \"\") + " SJ, 60, 0, 0, ""},
        /* Matching errors, in Loki's words. */
        {C " / on (job) " SJ, 60, 0, 0,
         "error: multiple matches for labels: many-to-one matching must be explicit "
         "(group_left/group_right)"},
        {SJ " + on (job) " C, 60, 0, 0,
         "error: found duplicate series on the right hand-side;many-to-many matching not "
         "allowed: matching labels must be unique on one side"},
        {C " + on (job) group_right " SJ, 60, 0, 0,
         "error: found duplicate series on the left hand-side;many-to-many matching not "
         "allowed: matching labels must be unique on one side"},
        {C " * on (inst) group_left (job) " SJ, 60, 0, 0,
         "error: found duplicate series on the right hand-side"},
        /* §7.6.9: many-to-one needs group_left. */
        {"sum by (job, inst) (" C ") > bool ignoring (inst) " SJ, 60, 0, 0,
         "error: multiple matches for labels: many-to-one matching must be explicit"},
        {"sum by (job, inst) (" C ") > bool ignoring (inst) group_left " SJ, 60, 0, 0,
         A1 ": 60=0\n" B1 ": 60=0\n" C1 ": 60=0\n" A2 ": 60=0\n" B2 ": 60=0"},
    };
    mt_run_cases(jobs, N(jobs), cases, N(cases));
}

static void test_set_ops(void **state)
{
    (void)state;
    static const struct mt_case cases[] = {
        {C " and on (job) (" C " > 4)", 60, 0, 0, C1 ": 60=5"},
        {C " unless on (job) (" C " > 4)", 60, 0, 0,
         A1 ": 60=1\n" B1 ": 60=2\n" A2 ": 60=3\n" B2 ": 60=2"},
        {"(" C " > 2) or " C, 60, 0, 0,
         A1 ": 60=1\n" B1 ": 60=2\n" C1 ": 60=5\n" A2 ": 60=3\n" B2 ": 60=2"},
        /* `or` keeps the left value where both sides have the series. */
        {"(" C " * 10) or " C, 60, 0, 0,
         A1 ": 60=10\n" B1 ": 60=20\n" C1 ": 60=50\n" A2 ": 60=30\n" B2 ": 60=20"},
        {C " and on () vector(1)", 60, 0, 0,
         A1 ": 60=1\n" B1 ": 60=2\n" C1 ": 60=5\n" A2 ": 60=3\n" B2 ": 60=2"},
        {C " unless on () vector(1)", 60, 0, 0, ""},
        {C " and (" C " > 100)", 60, 0, 0, ""},
        /* The usual gap filler: steps without data get vector(0). */
        {"sum(count_over_time({job=\"c\"}[10s])) or vector(0)", 40, 70, 10,
         "{}: 40=1 50=1 60=0 70=0"},
    };
    mt_run_cases(jobs, N(jobs), cases, N(cases));
}

static void test_label_replace(void **state)
{
    (void)state;
    static const struct mt_case cases[] = {
        {"label_replace(" SJ ", \"dst\", \"$1-x\", \"job\", \"(.)\")", 60, 0, 0,
         "{dst=\"a-x\", job=\"a\"}: 60=4\n{dst=\"b-x\", job=\"b\"}: 60=4\n"
         "{dst=\"c-x\", job=\"c\"}: 60=5"},
        /* No match: unchanged (the regex is anchored). */
        {"label_replace(" SJ ", \"dst\", \"x\", \"job\", \"a.\")", 60, 0, 0,
         "{job=\"a\"}: 60=4\n{job=\"b\"}: 60=4\n{job=\"c\"}: 60=5"},
        /* An empty expansion deletes dst; dst == src rewrites in place. */
        {"label_replace(" SJ ", \"job\", \"\", \"job\", \"a\")", 60, 0, 0,
         "{}: 60=4\n{job=\"b\"}: 60=4\n{job=\"c\"}: 60=5"},
        {"label_replace(" SJ ", \"job\", \"j${1}\", \"job\", \"(?P<x>[ab])\")", 60, 0, 0,
         "{job=\"c\"}: 60=5\n{job=\"ja\"}: 60=4\n{job=\"jb\"}: 60=4"},
        {"label_replace(" SJ ", \"n\", \"$x$$\", \"job\", \"(?P<x>c)\")", 60, 0, 0,
         "{job=\"a\"}: 60=4\n{job=\"b\"}: 60=4\n{job=\"c\", n=\"c$\"}: 60=5"},
        /* An absent source reads as "": a regex matching "" adds dst. */
        {"label_replace(" SJ ", \"new\", \"v\", \"nope\", \"\")", 60, 0, 0,
         "{job=\"a\", new=\"v\"}: 60=4\n{job=\"b\", new=\"v\"}: 60=4\n{job=\"c\", new=\"v\"}: 60=5"},
    };
    mt_run_cases(jobs, N(jobs), cases, N(cases));
}

/* Go's Regexp.Expand rules on their own. */
static void test_expand(void **state)
{
    (void)state;
    struct noa_regex *re = NULL;
    struct noa_error err = {0};
    assert_int_equal(noa_regex_compile("(?P<first>a)(b)", 15, NOA_REGEX_ANCHORED, &re, &err), 0);
    struct noa_str g[3] = {NOA_STR("ab"), NOA_STR("a"), NOA_STR("b")};
    static const struct {
        const char *tpl, *want;
    } cases[] = {
        {"$1-$2", "a-b"},          {"${1}x", "ax"},   {"$1x", ""},  {"$first.", "a."},
        {"${first}${2}", "ab"},    {"$$1", "$1"},     {"$", "$"},   {"${1", "${1"},
        {"$9", ""},                {"$nope|", "|"},   {"a$-b", "a$-b"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        struct noa_buf out = {0};
        noa_metric_func_expand(re, noa_str_c(cases[i].tpl), g, 3, &out);
        if (out.len != strlen(cases[i].want) ||
            (out.len && memcmp(out.data, cases[i].want, out.len) != 0))
            fail_msg("%s: got %.*s want %s", cases[i].tpl, (int)out.len, out.data,
                     cases[i].want);
        noa_buf_fini(&out);
    }
    noa_regex_free(re);
}

static void test_apply(void **state)
{
    (void)state;
    assert_true(noa_logql_bin_apply(NOA_LOGQL_BIN_POW, NAN, 0) == 1);
    assert_true(noa_logql_bin_apply(NOA_LOGQL_BIN_POW, 0, -1) == INFINITY);
    assert_true(isnan(noa_logql_bin_apply(NOA_LOGQL_BIN_POW, -8, 1.0 / 3)));
    assert_true(noa_logql_bin_apply(NOA_LOGQL_BIN_MOD, -7, 3) == -1);
    assert_true(isnan(noa_logql_bin_apply(NOA_LOGQL_BIN_DIV, 0, 0)));
    assert_true(noa_logql_bin_apply(NOA_LOGQL_BIN_NEQ, NAN, NAN) == 1);
    assert_true(noa_logql_bin_apply(NOA_LOGQL_BIN_EQ, NAN, NAN) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalar_ops),  cmocka_unit_test(test_vector_scalar),
        cmocka_unit_test(test_vector_vector), cmocka_unit_test(test_set_ops),
        cmocka_unit_test(test_label_replace), cmocka_unit_test(test_expand),
        cmocka_unit_test(test_apply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
