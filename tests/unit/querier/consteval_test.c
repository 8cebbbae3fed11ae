/* Unit tests for querier/consteval.c: constant LogQL metric expressions
 * (Grafana's health check) and Prometheus' value and time formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "querier/consteval.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int eval(const char *q, struct noa_consteval_value *v)
{
    struct noa_logql_expr *e = NULL;
    struct noa_error err = {0};
    if (noa_logql_parse(q, strlen(q), &e, &err) < 0)
        fail_msg("%s: %s", q, err.msg);
    int rc = noa_consteval_eval(e, v);
    noa_logql_free(e);
    return rc;
}

static void test_eval(void **state)
{
    (void)state;
    struct noa_consteval_value v;
    assert_int_equal(eval("vector(1)+vector(1)", &v), 0);
    assert_true(v.is_vector && !v.empty && v.v == 2);
    assert_int_equal(eval("vector(3) * 2 - 1", &v), 0);
    assert_true(v.is_vector && v.v == 5);
    assert_int_equal(eval("2 ^ 10", &v), 0);
    assert_true(!v.is_vector && v.v == 1024);
    assert_int_equal(eval("vector(1) > 2", &v), 0);
    assert_true(v.is_vector && v.empty);
    assert_int_equal(eval("vector(3) > bool 2", &v), 0);
    assert_true(v.is_vector && !v.empty && v.v == 1);
    assert_int_equal(eval("vector(5) > 2", &v), 0);
    assert_true(!v.empty && v.v == 5);
    assert_int_equal(eval("(vector(1) > 2) or vector(7)", &v), 0);
    assert_true(!v.empty && v.v == 7);
    assert_int_equal(eval("vector(1) unless vector(2)", &v), 0);
    assert_true(v.empty);
    assert_int_equal(eval("vector(1) / 0", &v), 0);
    assert_true(isinf(v.v));
    assert_int_equal(eval("count_over_time({app=\"x\"}[1m])", &v), NOA_EUNSUPP);
    assert_int_equal(eval("sum(vector(1))", &v), NOA_EUNSUPP);
}

static char *fmt_value(double d, char *out, size_t cap)
{
    struct noa_buf b = {0};
    noa_consteval_put_value(&b, d);
    snprintf(out, cap, "%.*s", (int)b.len, b.data);
    noa_buf_fini(&b);
    return out;
}

static char *fmt_time(int64_t ns, char *out, size_t cap)
{
    struct noa_buf b = {0};
    noa_consteval_put_time(&b, ns);
    snprintf(out, cap, "%.*s", (int)b.len, b.data);
    noa_buf_fini(&b);
    return out;
}

static void test_format(void **state)
{
    (void)state;
    char s[512];
    assert_string_equal(fmt_value(2, s, sizeof(s)), "\"2\"");
    assert_string_equal(fmt_value(0.5, s, sizeof(s)), "\"0.5\"");
    assert_string_equal(fmt_value(0.1, s, sizeof(s)), "\"0.1\"");
    assert_string_equal(fmt_value(-3.25, s, sizeof(s)), "\"-3.25\"");
    assert_string_equal(fmt_value(1e21, s, sizeof(s)), "\"1000000000000000000000\"");
    assert_string_equal(fmt_value(INFINITY, s, sizeof(s)), "\"+Inf\"");
    assert_string_equal(fmt_value(-INFINITY, s, sizeof(s)), "\"-Inf\"");
    assert_string_equal(fmt_value(NAN, s, sizeof(s)), "\"NaN\"");
    assert_string_equal(fmt_time(4000000000LL, s, sizeof(s)), "4");
    assert_string_equal(fmt_time(1700000000123456789LL, s, sizeof(s)), "1700000000.123");
    assert_string_equal(fmt_time(1700000000500000000LL, s, sizeof(s)), "1700000000.5");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
