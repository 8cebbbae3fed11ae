/* Unit tests for querier/metric_range.c and metric_overtime.c: range
 * aggregations over fixed data, expected values worked out by hand from
 * /work/shared/reference/logql.md (§4.12 unwrap, §6.1 range ops, §7.1
 * window bounds, §7.2 step grid, §7.6 worked examples). Also: parsers
 * pruned to the labels a query reads give the same results and errors as
 * full parsing, on tricky lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "metric_testdata.h"
#include "querier/metric_overtime.h"

#include <math.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* {app="foo"}: a 4-byte line every 10 s from 0 to 120 s (§7.6 example 1);
 * {app="bar"}: 5-byte lines at 5, 15, 25 s. */
static const struct mt_entry basic[] = {
    {"{app=\"foo\", env=\"prod\"}", 0, "abcd", NULL},
    {"{app=\"foo\", env=\"prod\"}", 10000, "abcd", NULL},
    {"{app=\"foo\", env=\"prod\"}", 20000, "abcd", NULL},
    {"{app=\"foo\", env=\"prod\"}", 30000, "abcd", NULL},
    {"{app=\"foo\", env=\"prod\"}", 40000, "abcd", NULL},
    {"{app=\"foo\", env=\"prod\"}", 50000, "abcd", NULL},
    {"{app=\"foo\", env=\"prod\"}", 60000, "abcd", NULL},
    {"{app=\"foo\", env=\"prod\"}", 70000, "abcd", NULL},
    {"{app=\"foo\", env=\"prod\"}", 80000, "abcd", NULL},
    {"{app=\"foo\", env=\"prod\"}", 90000, "abcd", NULL},
    {"{app=\"foo\", env=\"prod\"}", 100000, "abcd", NULL},
    {"{app=\"foo\", env=\"prod\"}", 110000, "abcd", NULL},
    {"{app=\"foo\", env=\"prod\"}", 120000, "abcd", NULL},
    {"{app=\"bar\", env=\"dev\"}", 5000, "hello", NULL},
    {"{app=\"bar\", env=\"dev\"}", 15000, "hello", NULL},
    {"{app=\"bar\", env=\"dev\"}", 25000, "hello", NULL},
};

#define FOO "{app=\"foo\", env=\"prod\"}"
#define BAR "{app=\"bar\", env=\"dev\"}"

static void test_counting(void **state)
{
    (void)state;
    static const struct mt_case cases[] = {
        /* §7.6.2: (0, 60] holds 10..60 s: 6 lines, the one at 0 s is out. */
        {"count_over_time({app=\"foo\"}[1m])", 60, 0, 0, FOO ": 60=6"},
        /* §7.6.1: lines at 40, 50, 60 over 30 s. */
        {"rate({app=\"foo\"}[30s])", 60, 0, 0, FOO ": 60=0.1"},
        {"rate({app=\"foo\"}[30s])", 60, 120, 15, FOO ": 60=0.1 75=0.1 90=0.1 105=0.1 120=0.1"},
        {"bytes_over_time({app=\"foo\"}[30s])", 60, 0, 0, FOO ": 60=12"},
        {"bytes_rate({app=\"foo\"}[30s])", 60, 0, 0, FOO ": 60=0.4"},
        /* [500ms] divides by 0.5: only the line at 60 s. */
        {"rate({app=\"foo\"}[500ms])", 60, 0, 0, FOO ": 60=2"},
        /* Upper bound inclusive, lower exclusive: (50, 60] is one line. */
        {"count_over_time({app=\"foo\"}[10s])", 60, 0, 0, FOO ": 60=1"},
        /* Empty windows give no point (§6.1): 0 and 40 s have none. */
        {"count_over_time({app=\"bar\"}[10s])", 0, 40, 10, BAR ": 10=1 20=1 30=1"},
        /* offset: (0, 30] at 60 s, stamped 60 s (§7.1). */
        {"count_over_time({app=\"foo\"}[30s] offset 30s)", 60, 0, 0, FOO ": 60=3"},
        /* A negative offset looks ahead: (30, 60] at 30 s. */
        {"count_over_time({app=\"foo\"}[30s] offset -30s)", 30, 0, 0, FOO ": 30=3"},
        /* Step larger than range: samples between windows are in none. */
        {"count_over_time({app=\"foo\"}[5s])", 0, 120, 30,
         FOO ": 0=1 30=1 60=1 90=1 120=1"},
        /* The last step is the largest one <= end (§7.2): 0, 20, 40. */
        {"count_over_time({app=\"foo\"}[20s])", 0, 50, 20, FOO ": 0=1 20=2 40=2"},
        /* Series sorted by labels: app="bar" first. */
        {"count_over_time({app=~\"foo|bar\"}[1m])", 30, 0, 0, BAR ": 30=3\n" FOO ": 30=4"},
        /* A line filter that keeps nothing: no series at all. */
        {"count_over_time({app=\"foo\"} |= \"zzz\" [1m])", 60, 0, 0, ""},
        {"count_over_time({app=\"none\"}[1m])", 60, 0, 0, ""},
        /* bytes are counted after the pipeline (line_format rewrites). */
        {"bytes_over_time({app=\"bar\"} | line_format \"x\" [1m])", 30, 0, 0, BAR ": 30=3"},
        /* The pipeline's labels are the series: label_format splits nothing
         * here but renames. */
        {"count_over_time({app=\"bar\"} | label_format e=\"{{.env}}\" | drop env [1m])", 30, 0, 0,
         "{app=\"bar\", e=\"dev\"}: 30=3"},
    };
    mt_run_cases(basic, N(basic), cases, N(cases));
}

static void test_absent(void **state)
{
    (void)state;
    static const struct mt_case cases[] = {
        /* Data up to 120 s: windows from 180 s on are empty (§6.1). */
        {"absent_over_time({app=\"foo\"}[1m])", 0, 300, 60,
         "{app=\"foo\"}: 180=1 240=1 300=1"},
        {"absent_over_time({app=\"foo\"}[1m])", 60, 0, 0, ""},
        /* Labels: single `=` matchers only (evaluator.go absentLabels). */
        {"absent_over_time({app=\"foo\", env=~\"p.*\"}[1m])", 500, 0, 0, "{app=\"foo\"}: 500=1"},
        {"absent_over_time({app=\"nope\", app!=\"x\"}[1m])", 60, 0, 0, "{}: 60=1"},
        {"absent_over_time({app=\"nope\", env=\"a\"}[1m])", 60, 0, 0,
         "{app=\"nope\", env=\"a\"}: 60=1"},
        /* offset moves the window: (120, 180] is empty at 300 s, (60, 120]
         * is not at 240 s. */
        {"absent_over_time({app=\"foo\"}[1m] offset 2m)", 240, 300, 60, "{app=\"foo\"}: 300=1"},
        /* §7.6.6: a filter that matches nothing. */
        {"absent_over_time(({app=\"foo\"} |~ \".+bar\")[1m])", 0, 60, 30,
         "{app=\"foo\"}: 0=1 30=1 60=1"},
    };
    mt_run_cases(basic, N(basic), cases, N(cases));
}

/* §7.6.3: v = 1..5 at 10..50 s and 6 at 110 s; svc2 adds 10 and 20. */
static const struct mt_entry unwrap_data[] = {
    {"{app=\"svc\"}", 10000, "v=1", NULL},
    {"{app=\"svc\"}", 20000, "v=2", NULL},
    {"{app=\"svc\"}", 30000, "v=3", NULL},
    {"{app=\"svc\"}", 40000, "v=4", NULL},
    {"{app=\"svc\"}", 50000, "v=5", NULL},
    {"{app=\"svc\"}", 110000, "v=6", NULL},
    {"{app=\"svc2\", pod=\"b\"}", 5000, "v=10", NULL},
    {"{app=\"svc2\", pod=\"b\"}", 55000, "v=20", NULL},
    {"{app=\"nan\"}", 10000, "v=NaN", NULL},
    {"{app=\"nan\"}", 20000, "v=3", NULL},
    {"{app=\"nan\"}", 30000, "v=1", NULL},
    {"{app=\"inf\"}", 10000, "v=+Inf", NULL},
    {"{app=\"inf\"}", 20000, "v=-Inf", NULL},
    {"{app=\"inf\"}", 30000, "v=1", NULL},
    {"{app=\"conv\"}", 10000, "d=1.5s b=1KiB x=abc", NULL},
    {"{app=\"conv\"}", 20000, "d=250ms b=2KB x=2", NULL},
    {"{app=\"conv\"}", 30000, "d= b= x=", NULL},
    {"{app=\"ctr\"}", 450000, "c=580", NULL},
    {"{app=\"ctr\"}", 480000, "c=640", NULL},
    {"{app=\"ctr2\"}", 10000, "c=10", NULL},
    {"{app=\"ctr2\"}", 20000, "c=20", NULL},
    {"{app=\"ctr2\"}", 30000, "c=5", NULL},
    {"{app=\"ctr2\"}", 40000, "c=15", NULL},
    {"{app=\"ctr3\"}", 10000, "c=5", NULL},
    {"{app=\"ctr3\"}", 20000, "c=3", NULL},
    {"{app=\"ctr3\"}", 30000, "c=1", NULL},
    {"{app=\"ctr3\"}", 40000, "c=4", NULL},
};

#define SVC "{app=\"svc\"}"
#define U(op, range) op "({app=\"svc\"} | logfmt | unwrap v [" range "])"

static void test_unwrap_ops(void **state)
{
    (void)state;
    static const struct mt_case cases[] = {
        /* §7.6.3: rank 0.4*4 = 1.6 between 2 and 3. */
        {"quantile_over_time(0.4, {app=\"svc\"} | logfmt | unwrap v [1m])", 60, 0, 0,
         SVC ": 60=2.6"},
        {"quantile_over_time(0.5, {app=\"svc\"} | logfmt | unwrap v [15s])", 50, 0, 0,
         SVC ": 50=4.5"},
        {"quantile_over_time(0.5, {app=\"svc\"} | logfmt | unwrap v [15s] offset 20s)", 50, 0, 0,
         SVC ": 50=2.5"},
        {"quantile_over_time(0.5, {app=\"svc\"} | logfmt | unwrap v [15s])", 50, 110, 30,
         SVC ": 50=4.5 110=6"},
        {"quantile_over_time(2, {app=\"svc\"} | logfmt | unwrap v [1m])", 60, 0, 0,
         SVC ": 60=+Inf"},
        {U("sum_over_time", "1m"), 60, 0, 0, SVC ": 60=15"},
        {U("avg_over_time", "1m"), 60, 0, 0, SVC ": 60=3"},
        {U("min_over_time", "1m"), 60, 0, 0, SVC ": 60=1"},
        {U("max_over_time", "1m"), 60, 0, 0, SVC ": 60=5"},
        /* Population variance of 1..5: 10 / 5. */
        {U("stdvar_over_time", "1m"), 60, 0, 0, SVC ": 60=2"},
        {U("stddev_over_time", "1m"), 60, 0, 0, SVC ": 60=1.4142135623730951"},
        /* One sample: variance 0. */
        {U("stdvar_over_time", "5s"), 50, 0, 0, SVC ": 50=0"},
        /* rate of unwrapped values is sum / seconds (§11.4). */
        {U("rate", "1m"), 60, 0, 0, SVC ": 60=0.25"},
        /* §7.6.4 shape: first/last of the window, and with offset. */
        {U("first_over_time", "1m"), 60, 0, 0, SVC ": 60=1"},
        {U("last_over_time", "1m"), 60, 0, 0, SVC ": 60=5"},
        {"first_over_time({app=\"svc\"} | logfmt | unwrap v [20s] offset 30s)", 60, 0, 0,
         SVC ": 60=2"},
        {"last_over_time({app=\"svc\"} | logfmt | unwrap v [20s] offset 30s)", 60, 0, 0,
         SVC ": 60=3"},
        /* (40, 60] holds only the 5 at 50 s; (90, 120] the 6 at 110 s. */
        {U("sum_over_time", "20s"), 0, 120, 30, SVC ": 30=5 60=5 120=6"},
    };
    mt_run_cases(unwrap_data, N(unwrap_data), cases, N(cases));
}

static void test_unwrap_grouping(void **state)
{
    (void)state;
    static const struct mt_case cases[] = {
        /* Grouping merges samples of both streams before aggregating (§6.1). */
        {"max_over_time({app=~\"svc.*\"} | logfmt | unwrap v [1m]) by (app)", 60, 0, 0,
         "{app=\"svc\"}: 60=5\n{app=\"svc2\"}: 60=20"},
        {"quantile_over_time(0.5, {app=~\"svc.*\"} | logfmt | unwrap v [1m]) by ()", 60, 0, 0,
         "{}: 60=4"},
        /* sum_over_time takes no grouping: an outer sum pushes its own in. */
        {"sum by (app) (sum_over_time({app=~\"svc.*\"} | logfmt | unwrap v [1m]))", 60, 0, 0,
         "{app=\"svc\"}: 60=15\n{app=\"svc2\"}: 60=30"},
        {"sum(sum_over_time({app=~\"svc.*\"} | logfmt | unwrap v [1m]))", 60, 0, 0,
         "{}: 60=45"},
        {"max_over_time({app=~\"svc.*\"} | logfmt | unwrap v [1m]) without (pod)", 60, 0, 0,
         "{app=\"svc\"}: 60=5\n{app=\"svc2\"}: 60=20"},
        {"avg_over_time({app=\"svc2\"} | logfmt | unwrap v [1m]) by (app)", 60, 0, 0,
         "{app=\"svc2\"}: 60=15"},
        /* Without grouping the unwrapped label is dropped, other labels stay. */
        {"max_over_time({app=\"svc2\"} | logfmt | unwrap v [1m])", 60, 0, 0,
         "{app=\"svc2\", pod=\"b\"}: 60=20"},
        /* `without` drops its labels and the unwrapped one. */
        {"max_over_time({app=\"svc2\"} | logfmt | unwrap v [1m]) without (app)", 60, 0, 0,
         "{pod=\"b\"}: 60=20"},
        /* `by (v)` keeps what is listed, even the unwrapped label. */
        {"max_over_time({app=\"svc2\"} | logfmt | unwrap v [1m]) by (v)", 60, 0, 0,
         "{v=\"10\"}: 60=10\n{v=\"20\"}: 60=20"},
        /* Samples of two streams interleave in time: first/last see the
         * merged order (5 s: 10 from svc2, then 10..50 s from svc, 55 s: 20). */
        {"first_over_time({app=~\"svc.*\"} | logfmt | unwrap v [1m]) by ()", 60, 0, 0,
         "{}: 60=10"},
        {"last_over_time({app=~\"svc.*\"} | logfmt | unwrap v [1m]) by ()", 60, 0, 0,
         "{}: 60=20"},
        {"min_over_time({app=~\"svc.*\"} | logfmt | unwrap v [1m]) by ()", 60, 0, 0,
         "{}: 60=1"},
    };
    mt_run_cases(unwrap_data, N(unwrap_data), cases, N(cases));
}

static void test_unwrap_special_values(void **state)
{
    (void)state;
    static const struct mt_case cases[] = {
        /* A leading NaN is replaced by min/max; sum, avg and first keep it. */
        {"min_over_time({app=\"nan\"} | logfmt | unwrap v [1m])", 60, 0, 0, "{app=\"nan\"}: 60=1"},
        {"max_over_time({app=\"nan\"} | logfmt | unwrap v [1m])", 60, 0, 0, "{app=\"nan\"}: 60=3"},
        {"sum_over_time({app=\"nan\"} | logfmt | unwrap v [1m])", 60, 0, 0,
         "{app=\"nan\"}: 60=NaN"},
        {"avg_over_time({app=\"nan\"} | logfmt | unwrap v [1m])", 60, 0, 0,
         "{app=\"nan\"}: 60=NaN"},
        {"stdvar_over_time({app=\"nan\"} | logfmt | unwrap v [1m])", 60, 0, 0,
         "{app=\"nan\"}: 60=NaN"},
        {"first_over_time({app=\"nan\"} | logfmt | unwrap v [1m])", 60, 0, 0,
         "{app=\"nan\"}: 60=NaN"},
        {"last_over_time({app=\"nan\"} | logfmt | unwrap v [1m])", 60, 0, 0,
         "{app=\"nan\"}: 60=1"},
        /* +Inf with -Inf: NaN for sum; avg's infinite mean meets -Inf: NaN. */
        {"sum_over_time({app=\"inf\"} | logfmt | unwrap v [1m])", 60, 0, 0,
         "{app=\"inf\"}: 60=NaN"},
        {"avg_over_time({app=\"inf\"} | logfmt | unwrap v [15s])", 30, 0, 0,
         "{app=\"inf\"}: 30=-Inf"},
        {"max_over_time({app=\"inf\"} | logfmt | unwrap v [1m])", 60, 0, 0,
         "{app=\"inf\"}: 60=+Inf"},
        {"min_over_time({app=\"inf\"} | logfmt | unwrap v [1m])", 60, 0, 0,
         "{app=\"inf\"}: 60=-Inf"},
    };
    mt_run_cases(unwrap_data, N(unwrap_data), cases, N(cases));
}

static void test_unwrap_conversions(void **state)
{
    (void)state;
    static const struct mt_case cases[] = {
        /* duration(): seconds; the empty value at 30 s is dropped (§4.12). */
        {"sum by (app) (sum_over_time({app=\"conv\"} | logfmt | unwrap duration(d) [1m]))", 60, 0, 0,
         "{app=\"conv\"}: 60=1.75"},
        {"sum by (app) (sum_over_time({app=\"conv\"} | logfmt | unwrap duration_seconds(d) [1m]))", 60,
         0, 0, "{app=\"conv\"}: 60=1.75"},
        /* bytes(): humanize, KiB = 1024 and KB = 1000. */
        {"sum by (app) (sum_over_time({app=\"conv\"} | logfmt | unwrap bytes(b) [1m]))", 60, 0, 0,
         "{app=\"conv\"}: 60=3024"},
        /* A failed conversion fails the query, with every label of the sample. */
        {"sum by (app) (sum_over_time({app=\"conv\"} | logfmt | unwrap x [1m]))", 60, 0, 0,
         "error: pipeline error: 'SampleExtractionErr' for series: "
         "'{__error__=\"SampleExtractionErr\", __error_details__=\"strconv.ParseFloat: parsing "
         "\\\"abc\\\": invalid syntax\", app=\"conv\", b=\"1KiB\", d=\"1.5s\", x=\"abc\"}'.\n"
         "Use a label filter to intentionally skip this error. (e.g | "
         "__error__!=\"SampleExtractionErr\").\n"},
        /* ... unless a filter after unwrap drops it. */
        {"sum by (app) (sum_over_time({app=\"conv\"} | logfmt | unwrap x | __error__=\"\" [1m]))", 60,
         0, 0, "{app=\"conv\"}: 60=2"},
        /* An errored sample in no window never fails the query. */
        {"sum by (app) (sum_over_time({app=\"conv\"} | logfmt | unwrap x [5s]))", 20, 0, 0,
         "{app=\"conv\"}: 20=2"},
        /* Post-filters see the value's label before it is dropped. */
        {"sum by (app) (sum_over_time({app=\"conv\"} | logfmt | unwrap duration(d) | d=\"250ms\" [1m]))",
         60, 0, 0, "{app=\"conv\"}: 60=0.25"},
        /* A parser error fails metric queries too (§5.4), and is filterable. */
        {"count_over_time({app=\"conv\"} | json [1m])", 60, 0, 0,
         "error: pipeline error: 'JSONParserErr' for series: '{__error__=\"JSONParserErr\""},
        {"count_over_time({app=\"conv\"} | json | __error__=\"\" [1m])", 60, 0, 0, ""},
        {"sum by (app) (count_over_time({app=\"conv\"} | json | drop __error__, "
         "__error_details__ [1m]))",
         60, 0, 0, "{app=\"conv\"}: 60=3"},
    };
    mt_run_cases(unwrap_data, N(unwrap_data), cases, N(cases));
}

static void test_rate_counter(void **state)
{
    (void)state;
    static const struct mt_case cases[] = {
        /* §7.6.5: 60 over 30 s extrapolated to the window start, / 60 s. */
        {"rate_counter({app=\"ctr\"} | logfmt | unwrap c [1m])", 480, 0, 0,
         "{app=\"ctr\"}: 480=2"},
        /* One sample: 0; no sample: no point. */
        {"rate_counter({app=\"ctr\"} | logfmt | unwrap c [10s])", 480, 0, 0,
         "{app=\"ctr\"}: 480=0"},
        {"rate_counter({app=\"ctr\"} | logfmt | unwrap c [10s])", 400, 0, 0, ""},
        /* A reset (20 -> 5) adds 20 back: increase 25 over 30 s, the start
         * gap (10 s) under 1.1 x the mean gap, extrapolated over 40 s:
         * 25 * 40/30 / 40 (range_vector.go extrapolatedRate). */
        {"rate_counter({app=\"ctr2\"} | logfmt | unwrap c [40s])", 40, 0, 0,
         "{app=\"ctr2\"}: 40=0.8333333333333333"},
        /* Two resets (5 -> 3 -> 1): 4 - 5 + 5 + 3 = 7, same extrapolation. */
        {"rate_counter({app=\"ctr3\"} | logfmt | unwrap c [40s])", 40, 0, 0,
         "{app=\"ctr3\"}: 40=0.2333333333333333"},
    };
    mt_run_cases(unwrap_data, N(unwrap_data), cases, N(cases));
}

/* The window functions on their own, for the cases data cannot express. */
static void test_overtime_direct(void **state)
{
    (void)state;
    double scratch[8];
    struct noa_metric_sample s[] = {{1, 5}, {2, NAN}, {3, 2}};
    /* max: a NaN after a number is not taken (v > NaN is false). */
    assert_true(noa_metric_overtime_apply(NOA_LOGQL_RANGE_MAX, s, 3, 1, 3, 0, scratch) == 5);
    assert_true(noa_metric_overtime_apply(NOA_LOGQL_RANGE_MIN, s, 3, 1, 3, 0, scratch) == 2);
    /* quantile: NaN sorts first (Go's sort.Float64s). */
    assert_true(noa_metric_overtime_apply(NOA_LOGQL_RANGE_QUANTILE, s, 3, 1, 3, 1, scratch) == 5);
    assert_true(isnan(noa_metric_overtime_apply(NOA_LOGQL_RANGE_QUANTILE, s, 3, 1, 3, 0, scratch)));
    assert_true(noa_metric_overtime_apply(NOA_LOGQL_RANGE_QUANTILE, s, 3, 1, 3, -0.5, scratch) ==
                -INFINITY);
    assert_true(isnan(noa_metric_overtime_apply(NOA_LOGQL_RANGE_QUANTILE, s, 3, 1, 3, NAN,
                                                scratch)));
    /* The stable sort keeps arrival order among equal timestamps. */
    struct noa_metric_sample u[] = {{3, 1}, {1, 2}, {3, 3}, {2, 4}, {1, 5}}, tmp[5];
    noa_metric_overtime_sort(u, 5, tmp);
    double want[] = {2, 5, 4, 1, 3};
    for (int i = 0; i < 5; i++)
        assert_true(u[i].v == want[i]);
    /* A counter starting near zero is extrapolated at most to zero:
     * samples 1 then 11 at 30 s and 40 s of (0, 40]: increase 10 over
     * 10 s; the zero point is 1 s before the first sample, so the start
     * adds 1 s (not the 30 s gap): 10 * 11/10 / 40. */
    struct noa_metric_sample c[] = {{30000000000LL, 1}, {40000000000LL, 11}};
    double r = noa_metric_overtime_apply(NOA_LOGQL_RANGE_RATE_COUNTER, c, 2, 40000000000LL,
                                         40000000000LL, 0, scratch);
    assert_true(fabs(r - 10.0 * 11 / 10 / 40) < 1e-12);
}

/* ---- pruned parsers == full parsing ---- */

/* Like mt_run, with the engine's test switches. */
static const char *run_opts(const struct mt_entry *data, size_t n, const char *q, int no_prune,
                            char *text, size_t cap)
{
    struct mt_source src;
    mt_source_init(&src, data, n);
    struct noa_metric_source ms = {.each_stream = mt_each_stream, .ctx = &src};
    struct noa_logql_expr *e = NULL;
    struct noa_error err = {0};
    struct noa_buf out = {0}, full = {0};
    if (noa_logql_parse(q, strlen(q), &e, &err) < 0)
        fail_msg("%s: %s", q, err.msg);
    struct noa_metric_opts o = {.start_ns = 0,
                                .end_ns = 60000000000LL,
                                .step_ns = 20000000000LL,
                                .max_series = 500,
                                .err_full = &full,
                                .no_prune = no_prune};
    struct noa_metric_result res;
    int rc = noa_metric_eval(e, &ms, &o, &res, &err);
    if (rc < 0)
        noa_buf_printf(&out, "error %d: %s", rc, full.len ? noa_buf_cstr(&full) : err.msg);
    else
        mt_dump(&res, &out);
    snprintf(text, cap, "%.*s", (int)out.len, out.data ? out.data : "");
    noa_buf_fini(&out);
    noa_buf_fini(&full);
    noa_metric_result_fini(&res);
    noa_logql_free(e);
    mt_source_fini(&src);
    return text;
}

#define PJ "{app=\"pj\", env=\"prod\"}"
#define PJ2 "{app=\"pj\", level=\"warn\"}"
#define PJ3 "{app=\"pj\", level=\"error\", level_extracted=\"s\"}"
#define PL "{app=\"pl\"}"
#define PL2 "{app=\"pl\", level=\"warn\"}"

static const struct mt_entry prune_data[] = {
    {PJ, 1000, "{\"level\":\"error\",\"msg\":\"boom\",\"status\":503,\"size\":\"3KB\"}", NULL},
    {PJ, 2000, "{\"level\":\"info\",\"status\":200}", "detected_level=info"},
    {PJ, 3000, "{\"http\":{\"status\":500},\"tags\":[1,{\"level\":\"x\"}],\"level\":\"error\"}",
     NULL},
    {PJ, 4000, "{\"level\":\"info\",\"level\":\"error\"}", "level=m"},
    {PJ, 5000, "{\"level\":null,\"level\":\"error\",\"status\":\"7\"}", NULL},
    {PJ, 6000, "{\"lev\\u0065l\":\"error\",\" status \":1}", NULL},
    {PJ, 7000, "{\"level\":\"error\",\"x\":tru}", NULL},
    {PJ, 8000, "{\"x\":tru,\"level\":\"error\"}", NULL},
    {PJ, 9000, "not json level=error", NULL},
    {PJ, 10000, "{\"app\":\"y\",\"level\":\"error\",\"app_extracted\":\"z\"}", NULL},
    {PJ, 11000, "{\"__error__\":\"mine\",\"level\":\"debug\",\"status\":\"1\"}", NULL},
    {PJ, 12000, "{\"a\":{\"b\":{\"level\":\"e\"}},\"a_b_level\":\"first\"}", NULL},
    {PJ, 25000, "{\"level\":\"info\",\"status\":\"x9\"}", NULL},
    {PJ2, 1500, "{\"level_extracted\":\"error\",\"level\":\"info\",\"status\":2}", NULL},
    {PJ2, 2500, "{\"level\":\"error\",\"status\":4}", "detected_level=error"},
    {PJ2, 30000, "{\"level\":\"info\",\"status\":\"8\",\"y\":[}", NULL},
    {PJ3, 1700, "{\"level_extracted\":\"error\",\"level\":\"info\",\"status\":3}", NULL},
    {PJ3, 41000, "{\"level\":\"debug\"}", NULL},
    {PL, 1000, "level=error msg=\"boom\" status=503", NULL},
    {PL, 2000, "level=info level=error status=2", NULL},
    {PL, 3000, "level= level=error status=1", NULL},
    {PL, 4000, "a=1 bar=bu=zz level=error status=9", NULL},
    {PL, 5000, "level=\"err\\u006fr\" x=\"open", NULL},
    {PL, 6000, "lev.el=error 9level=2 status=5", "detected_level=warn"},
    {PL, 7000, "status=5xx level=error", NULL},
    {PL, 26000, "level=debug status=4", NULL},
    {PL2, 1000, "app=y level=error app_extracted=z status=1", NULL},
    {PL2, 2000, "level_extracted=error level=info status=6", NULL},
    {PL2, 45000, "k\xff=1 level=error status=2", NULL},
};

static void test_pruned_matches_full(void **state)
{
    (void)state;
    static const char *const qs[] = {
        "sum by (level) (count_over_time({app=\"pj\"} | json [1m]))",
        "sum by (level) (count_over_time({app=\"pj\"} | json | __error__=\"\" [1m]))",
        "sum(count_over_time({app=\"pj\"} | json | __error__=\"\" [1m]))",
        "sum by (level_extracted, app_extracted) (count_over_time({app=\"pj\"} | json | "
        "__error__=\"\" [1m]))",
        "sum by (__error__, level) (count_over_time({app=\"pj\"} | json [1m]))",
        "sum by (__error__, __error_details__) (count_over_time({app=~\"p.\"} | json [1m]))",
        "sum by (http_status, a_b_level) (bytes_over_time({app=\"pj\"} | json | level=~\"e.*\" "
        "[1m]))",
        "sum by (level) (rate({app=\"pj\"} | json | drop __error__, __error_details__ [1m]))",
        "sum by (level, detected_level) (count_over_time({app=\"pj\"} | json | drop __error__ "
        "[1m]))",
        "avg_over_time({app=\"pj\"} | json | unwrap status | __error__=\"\" [1m]) by (level)",
        "sum by (level) (sum_over_time({app=\"pj\"} | json | __error__=\"\" | unwrap status "
        "[1m]))",
        "max_over_time({app=\"pj\"} | json | __error__=\"\" | unwrap status | status > 2 [1m]) "
        "by (level_extracted)",
        "absent_over_time({app=\"pj\"} | json | level=\"nope\" [1m])",
        "sum without (level) (count_over_time({app=\"pj\"} | json | __error__=\"\" [1m]))",
        "topk(2, sum by (level) (count_over_time({app=\"pj\"} | json | __error__=\"\" [1m])))",
        "sum by (level) (count_over_time({app=\"pj\"} | json | status > 100 or level=\"info\" "
        "[1m]))",
        "sum by (level) (count_over_time({app=~\"pl\"} | logfmt [1m]))",
        "sum by (level) (count_over_time({app=\"pl\"} | logfmt | __error__=\"\" [1m]))",
        "sum by (level) (count_over_time({app=\"pl\"} | logfmt --strict | __error__=\"\" [1m]))",
        "sum by (level) (count_over_time({app=\"pl\"} | logfmt --keep-empty | __error__=\"\" "
        "[1m]))",
        "sum by (lev_el, _9level) (count_over_time({app=\"pl\"} | logfmt | __error__=\"\" [1m]))",
        "sum by (level_extracted, app_extracted) (count_over_time({app=\"pl\"} | logfmt [1m]))",
        "sum(sum_over_time({app=\"pl\"} | logfmt | unwrap status [1m]))",
        "sum by (level) (sum_over_time({app=\"pl\"} | logfmt | __error__=\"\" | unwrap status "
        "[1m]))",
        "sum by (level) (count_over_time({app=~\"p.\"} | json | logfmt | __error__=\"\" [1m]))",
        "sum by (level) (count_over_time({app=~\"p.\"} | logfmt | drop __error__ | json | "
        "drop __error__ [1m]))",
    };
    char a[8192], b[8192];
    unsigned errors = 0;
    for (size_t i = 0; i < N(qs); i++) {
        run_opts(prune_data, N(prune_data), qs[i], 0, a, sizeof(a));
        run_opts(prune_data, N(prune_data), qs[i], 1, b, sizeof(b));
        if (strcmp(a, b) != 0)
            fail_msg("%s\n pruned: %s\n full:   %s", qs[i], a, b);
        assert_true(strlen(a) > 0 || strstr(qs[i], "absent"));
        errors += strncmp(a, "error", 5) == 0;
    }
    assert_true(errors >= 3); /* the error texts (full labels) were compared too */
    /* Golden: the error text names every label even when pruned. */
    run_opts(prune_data, N(prune_data),
             "sum by (level) (count_over_time({app=\"pl\"} | logfmt | level=\"info\" [1m]))", 0, a,
             sizeof(a));
    assert_string_equal(a, "{level=\"info\"}: 20=1 40=1 60=1");
    run_opts(prune_data, N(prune_data), "sum(count_over_time({app=\"pj\"} | json [1m]))", 0, a,
             sizeof(a));
    assert_non_null(strstr(a, "pipeline error: 'JSONParserErr' for series: '{__error__="
                              "\"JSONParserErr\", __error_details__=\"Unknown value type\", "
                              "app=\"pj\", env=\"prod\", level=\"error\"}'"));
}

/* Windows by brute force: counts at random times over many step, range
 * and offset combinations (entries in time order reuse the last window
 * bounds; they must equal a fresh computation). */
static void test_windows_brute_force(void **state)
{
    (void)state;
    enum { NE = 400, NE2 = 2 * NE };
    static struct mt_entry e[NE2];
    int64_t ts_ms[NE2];
    uint64_t x = 88172645463325252ull;
    int64_t t = -20000, k = -80;
    for (int i = 0; i < NE; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* Every window bound is a multiple of 250 ms: entries just before,
         * on and after them, in time order, with ties. */
        k += x % 4 != 0;
        int64_t c = k * 250 + (int64_t)((x >> 8) % 3) - 1;
        t = c > t ? c : t;
        ts_ms[i] = t;
        e[i] = (struct mt_entry){"{app=\"w\"}", t, "x", NULL};
    }
    /* A second stream read after the first, starting earlier in time: the
     * bounds of the first stream's last window must not leak into it. */
    for (int i = 0; i < NE; i++) {
        ts_ms[NE + i] = ts_ms[i] - 37250 + (i % 2);
        e[NE + i] = (struct mt_entry){"{app=\"w\", s=\"2\"}", ts_ms[NE + i], "x", NULL};
    }
    static const int64_t steps[] = {1, 3, 10, 60};
    static const char *const ranges[] = {"500ms", "1s", "7s", "10s", "25s", "1m"};
    static const int64_t range_ms[] = {500, 1000, 7000, 10000, 25000, 60000};
    static const char *const offs[] = {"", " offset 3s", " offset -7s", " offset 500ms"};
    static const int64_t off_ms[] = {0, 3000, -7000, 500};
    char q[256], want[65536], got[65536];
    for (size_t si = 0; si < N(steps); si++)
        for (size_t ri = 0; ri < N(ranges); ri++)
            for (size_t oi = 0; oi < N(offs); oi++) {
                int64_t start = -50, end = t / 1000 + 20, step = steps[si];
                snprintf(q, sizeof(q), "sum(count_over_time({app=\"w\"}[%s]%s))", ranges[ri],
                         offs[oi]);
                size_t used = (size_t)snprintf(want, sizeof(want), "{}:");
                for (int64_t at = start; at <= end; at += step) {
                    int64_t hi = at * 1000 - off_ms[oi], lo = hi - range_ms[ri], c = 0;
                    for (int i = 0; i < NE2; i++)
                        c += ts_ms[i] > lo && ts_ms[i] <= hi;
                    if (c)
                        used += (size_t)snprintf(want + used, sizeof(want) - used,
                                                 " %lld=%lld", (long long)at, (long long)c);
                }
                snprintf(got, sizeof(got), "%s", mt_run(e, NE2, q, start, end, step));
                if (strcmp(got, want) != 0)
                    fail_msg("%s step %llds\n want %s\n got  %s", q, (long long)step, want, got);
            }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counting),
        cmocka_unit_test(test_absent),
        cmocka_unit_test(test_unwrap_ops),
        cmocka_unit_test(test_unwrap_grouping),
        cmocka_unit_test(test_unwrap_special_values),
        cmocka_unit_test(test_unwrap_conversions),
        cmocka_unit_test(test_rate_counter),
        cmocka_unit_test(test_overtime_direct),
        cmocka_unit_test(test_pruned_matches_full),
        cmocka_unit_test(test_windows_brute_force),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
