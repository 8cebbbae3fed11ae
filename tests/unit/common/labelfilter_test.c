/* Unit tests for common/labelfilter.c: string, numeric, duration, bytes
 * and ip filters, and/or evaluation order, conversion errors, and the Go
 * value parsers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/labelfilter.h"
#include "common/mem.h"

#include <math.h>
#include <string.h>

static struct noa_lbuilder lb;
static struct noa_arena arena;

/* Fresh line: stream labels from text, then parsed "k=v" pairs. */
static void line_with(const char *stream, const char *const *parsed)
{
    struct noa_labels ls;
    struct noa_error err;
    assert_int_equal(noa_labels_parse(noa_str_c(stream), &arena, &ls, &err), 0);
    noa_lbuilder_reset_stream(&lb, &ls);
    for (; parsed && *parsed; parsed += 2)
        noa_lbuilder_add_parsed(&lb, noa_str_c(parsed[0]), noa_str_c(parsed[1]));
}

static struct noa_labelfilter *leaf(struct noa_labelfilter_opts o)
{
    struct noa_labelfilter *f = NULL;
    struct noa_error err = {0};
    if (noa_labelfilter_new(&o, &f, &err))
        fail_msg("new: %s", err.msg);
    return f;
}

static struct noa_labelfilter *num(const char *name, enum noa_labelfilter_cmp c, double v)
{
    return leaf((struct noa_labelfilter_opts){.kind = NOA_LABELFILTER_NUMBER,
                                              .name = noa_str_c(name), .cmp = c, .number = v});
}

static struct noa_labelfilter *str(const char *name, enum noa_match_type m, const char *v)
{
    return leaf((struct noa_labelfilter_opts){.kind = NOA_LABELFILTER_STRING,
                                              .name = noa_str_c(name), .match = m,
                                              .value = noa_str_c(v)});
}

static int eval1(struct noa_labelfilter *f)
{
    int k = noa_labelfilter_eval(f, &lb);
    noa_labelfilter_free(f);
    return k;
}

static void test_string(void **state)
{
    (void)state;
    const char *p[] = {"method", "GET", NULL};
    line_with("{app=\"api\"}", p);
    assert_true(eval1(str("method", NOA_MATCH_EQ, "GET")));
    assert_false(eval1(str("method", NOA_MATCH_NEQ, "GET")));
    assert_true(eval1(str("app", NOA_MATCH_RE, "a.i")));
    assert_false(eval1(str("app", NOA_MATCH_RE, "a"))); /* anchored */
    assert_true(eval1(str("missing", NOA_MATCH_NEQ, "1")));
    assert_true(eval1(str("missing", NOA_MATCH_EQ, "")));
    assert_false(eval1(str("missing", NOA_MATCH_RE, ".+")));
    assert_true(eval1(str("missing", NOA_MATCH_RE, ".*")));
    assert_true(eval1(str("__error__", NOA_MATCH_EQ, "")));
    noa_lbuilder_set_err(&lb, NOA_STR("JSONParserErr"), NOA_STR("x"));
    assert_false(eval1(str("__error__", NOA_MATCH_EQ, "")));
    assert_true(eval1(str("__error__", NOA_MATCH_NEQ, "")));
    assert_false(eval1(str("__error__", NOA_MATCH_NEQ, "JSONParserErr")));
    struct noa_labelfilter *f = NULL;
    struct noa_error err = {0};
    struct noa_labelfilter_opts bad = {.kind = NOA_LABELFILTER_STRING, .name = NOA_STR("a"),
                                       .match = NOA_MATCH_RE, .value = NOA_STR("(")};
    assert_int_equal(noa_labelfilter_new(&bad, &f, &err), NOA_EINVAL);
}

static void test_numeric(void **state)
{
    (void)state;
    const char *p[] = {"status", "404", "lat", "0.25", "word", "abc", "empty", "", NULL};
    line_with("{app=\"api\"}", p);
    assert_true(eval1(num("status", NOA_LABELFILTER_GE, 400)));
    assert_false(eval1(num("status", NOA_LABELFILTER_LT, 400)));
    assert_true(eval1(num("status", NOA_LABELFILTER_EQ, 404)));
    assert_true(eval1(num("lat", NOA_LABELFILTER_GT, 0.2)));
    assert_true(eval1(num("lat", NOA_LABELFILTER_NE, 0.2)));
    assert_false(eval1(num("lat", NOA_LABELFILTER_LE, 0.2)));
    /* absent: dropped, no error */
    assert_false(eval1(num("nothere", NOA_LABELFILTER_NE, 1)));
    assert_false(noa_lbuilder_has_err(&lb));
    /* not a number: kept, LabelFilterErr with Go's text */
    assert_true(eval1(num("word", NOA_LABELFILTER_GT, 1)));
    struct noa_str v;
    assert_true(noa_lbuilder_get(&lb, NOA_STR("__error__"), &v));
    assert_true(noa_str_eq_c(v, "LabelFilterErr"));
    assert_true(noa_lbuilder_get(&lb, NOA_STR("__error_details__"), &v));
    assert_true(noa_str_eq_c(v, "strconv.ParseFloat: parsing \"abc\": invalid syntax"));
    /* the first error is kept */
    assert_true(eval1(num("empty", NOA_LABELFILTER_GT, 1)));
    assert_true(noa_lbuilder_get(&lb, NOA_STR("__error_details__"), &v));
    assert_true(noa_str_eq_c(v, "strconv.ParseFloat: parsing \"abc\": invalid syntax"));
    /* numeric filters cannot see __error__ */
    assert_false(eval1(num("__error__", NOA_LABELFILTER_GT, 0)));
    /* a parser error set before is not overwritten */
    line_with("{}", p);
    noa_lbuilder_set_err(&lb, NOA_STR("JSONParserErr"), NOA_STR("d"));
    assert_true(eval1(num("word", NOA_LABELFILTER_GT, 1)));
    assert_true(noa_str_eq(noa_lbuilder_err(&lb), NOA_STR("JSONParserErr")));
}

static void test_duration_bytes(void **state)
{
    (void)state;
    const char *p[] = {"took", "1.5s", "bare", "5", "size", "3 kB", "big", "2MiB", "odd", "3 zz",
                       NULL};
    line_with("{}", p);
    struct noa_labelfilter_opts d = {.kind = NOA_LABELFILTER_DURATION, .name = NOA_STR("took"),
                                     .cmp = NOA_LABELFILTER_GT, .duration_ns = 1000000000};
    assert_true(eval1(leaf(d)));
    d.cmp = NOA_LABELFILTER_LE;
    assert_false(eval1(leaf(d)));
    d.name = NOA_STR("bare");
    assert_true(eval1(leaf(d)));
    struct noa_str v;
    assert_true(noa_lbuilder_get(&lb, NOA_STR("__error_details__"), &v));
    assert_true(noa_str_eq_c(v, "time: missing unit in duration \"5\""));
    line_with("{}", p);
    struct noa_labelfilter_opts b = {.kind = NOA_LABELFILTER_BYTES, .name = NOA_STR("size"),
                                     .cmp = NOA_LABELFILTER_EQ, .bytes = 3000};
    assert_true(eval1(leaf(b)));
    b.name = NOA_STR("big");
    b.cmp = NOA_LABELFILTER_GE;
    b.bytes = 2000000;
    assert_true(eval1(leaf(b)));
    b.bytes = 3000000;
    assert_false(eval1(leaf(b)));
    b.name = NOA_STR("odd");
    assert_true(eval1(leaf(b)));
    assert_true(noa_lbuilder_get(&lb, NOA_STR("__error_details__"), &v));
    assert_true(noa_str_eq_c(v, "unhandled size name: zz"));
}

static void test_ip(void **state)
{
    (void)state;
    const char *p[] = {"addr", "10.1.2.3", NULL};
    line_with("{}", p);
    struct noa_labelfilter_opts o = {.kind = NOA_LABELFILTER_IP, .name = NOA_STR("addr"),
                                     .cmp = NOA_LABELFILTER_EQ, .value = NOA_STR("10.0.0.0/8")};
    assert_true(eval1(leaf(o)));
    o.cmp = NOA_LABELFILTER_NE;
    assert_false(eval1(leaf(o)));
    o.name = NOA_STR("nothere");
    assert_false(eval1(leaf(o))); /* absent drops, even for != */
    noa_lbuilder_set_err(&lb, NOA_STR("E"), NOA_STR(""));
    assert_true(eval1(leaf(o))); /* Loki quirk: an error makes ip filters pass */
    struct noa_labelfilter *f = NULL;
    struct noa_error err = {0};
    o.cmp = NOA_LABELFILTER_GT;
    assert_int_equal(noa_labelfilter_new(&o, &f, &err), NOA_EINVAL);
    o.cmp = NOA_LABELFILTER_EQ;
    o.value = NOA_STR("nope");
    assert_int_equal(noa_labelfilter_new(&o, &f, &err), NOA_EINVAL);
}

static void test_and_or(void **state)
{
    (void)state;
    const char *p[] = {"a", "x", "n", "5", NULL};
    line_with("{}", p);
    /* or short-circuits: the right side never sets an error */
    struct noa_labelfilter *f = noa_labelfilter_bin(
        NOA_LABELFILTER_OR, str("a", NOA_MATCH_EQ, "x"), num("a", NOA_LABELFILTER_GT, 1));
    assert_true(eval1(f));
    assert_false(noa_lbuilder_has_err(&lb));
    /* and evaluates both sides even when the left is false */
    f = noa_labelfilter_bin(NOA_LABELFILTER_AND, str("a", NOA_MATCH_EQ, "y"),
                            num("a", NOA_LABELFILTER_GT, 1));
    assert_false(eval1(f));
    assert_true(noa_lbuilder_has_err(&lb));
    line_with("{}", p);
    /* (a="y" or n > 4) and n < 10 */
    f = noa_labelfilter_bin(
        NOA_LABELFILTER_AND,
        noa_labelfilter_bin(NOA_LABELFILTER_OR, str("a", NOA_MATCH_EQ, "y"),
                            num("n", NOA_LABELFILTER_GT, 4)),
        num("n", NOA_LABELFILTER_LT, 10));
    assert_true(eval1(f));
}

static void collect(void *ctx, struct noa_str name, enum noa_labelfilter_kind kind)
{
    struct noa_buf *b = ctx;
    noa_buf_printf(b, "%.*s:%d,", (int)name.len, name.p, (int)kind);
}

/* The names (and kinds) a filter tree reads, for the filter-first path. */
static void test_names(void **state)
{
    (void)state;
    struct noa_error err = {0};
    struct noa_labelfilter *ip = NULL;
    struct noa_labelfilter_opts o = {.kind = NOA_LABELFILTER_IP, .name = NOA_STR("addr"),
                                     .cmp = NOA_LABELFILTER_EQ, .value = NOA_STR("10.0.0.0/8")};
    assert_int_equal(noa_labelfilter_new(&o, &ip, &err), 0);
    struct noa_labelfilter *f = noa_labelfilter_bin(
        NOA_LABELFILTER_AND, str("level", NOA_MATCH_EQ, "error"),
        noa_labelfilter_bin(NOA_LABELFILTER_OR, num("status", NOA_LABELFILTER_GE, 500), ip));
    struct noa_buf b = {0};
    noa_labelfilter_names(f, collect, &b);
    assert_string_equal(noa_buf_cstr(&b), "level:0,status:1,addr:4,");
    noa_buf_reset(&b);
    struct noa_labelfilter *e = str("__error__", NOA_MATCH_EQ, "");
    noa_labelfilter_names(e, collect, &b);
    assert_string_equal(noa_buf_cstr(&b), "__error__:0,");
    noa_labelfilter_free(e);
    noa_labelfilter_free(f);
    noa_buf_fini(&b);
}

static void test_parse_float(void **state)
{
    (void)state;
    struct noa_error err = {0};
    double v;
    assert_int_equal(noa_labelfilter_parse_float(NOA_STR("1e3"), &v, &err), 0);
    assert_true(v == 1000);
    assert_int_equal(noa_labelfilter_parse_float(NOA_STR("-.5"), &v, &err), 0);
    assert_true(v == -0.5);
    assert_int_equal(noa_labelfilter_parse_float(NOA_STR("0x1p-2"), &v, &err), 0);
    assert_true(v == 0.25);
    assert_int_equal(noa_labelfilter_parse_float(NOA_STR("+Inf"), &v, &err), 0);
    assert_true(isinf(v));
    assert_int_equal(noa_labelfilter_parse_float(NOA_STR("NaN"), &v, &err), 0);
    assert_true(isnan(v));
    const char *bad[] = {"", " 1", "1 ", "0x10", "1e", "abc", "1_000", "--1", "."};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(noa_labelfilter_parse_float(noa_str_c(bad[i]), &v, &err), NOA_EINVAL);
    assert_int_equal(noa_labelfilter_parse_float(NOA_STR("1e400"), &v, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "strconv.ParseFloat: parsing \"1e400\": value out of range");
}

static void test_parse_duration(void **state)
{
    (void)state;
    struct noa_error err = {0};
    int64_t ns;
    assert_int_equal(noa_labelfilter_parse_duration(NOA_STR("1h2m3.5s"), &ns, &err), 0);
    assert_true(ns == 3723500000000LL);
    assert_int_equal(noa_labelfilter_parse_duration(NOA_STR("-250ms"), &ns, &err), 0);
    assert_true(ns == -250000000LL);
    assert_int_equal(noa_labelfilter_parse_duration(NOA_STR("1\xc2\xb5s"), &ns, &err), 0);
    assert_true(ns == 1000);
    assert_int_equal(noa_labelfilter_parse_duration(NOA_STR("0"), &ns, &err), 0);
    assert_true(ns == 0);
    assert_int_equal(noa_labelfilter_parse_duration(NOA_STR(".5us"), &ns, &err), 0);
    assert_true(ns == 500);
    assert_int_equal(noa_labelfilter_parse_duration(NOA_STR("1d"), &ns, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "time: unknown unit \"d\" in duration \"1d\"");
    assert_int_equal(noa_labelfilter_parse_duration(NOA_STR(""), &ns, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "time: invalid duration \"\"");
    assert_int_equal(noa_labelfilter_parse_duration(NOA_STR("9999999999h"), &ns, &err),
                     NOA_EINVAL);
    assert_int_equal(noa_labelfilter_parse_duration(NOA_STR("s"), &ns, &err), NOA_EINVAL);
}

static void test_parse_bytes(void **state)
{
    (void)state;
    struct noa_error err = {0};
    uint64_t b;
    assert_int_equal(noa_labelfilter_parse_bytes(NOA_STR("42"), &b, &err), 0);
    assert_true(b == 42);
    assert_int_equal(noa_labelfilter_parse_bytes(NOA_STR("3 kB"), &b, &err), 0);
    assert_true(b == 3000);
    assert_int_equal(noa_labelfilter_parse_bytes(NOA_STR("1.5KiB"), &b, &err), 0);
    assert_true(b == 1536);
    assert_int_equal(noa_labelfilter_parse_bytes(NOA_STR("1,024 b"), &b, &err), 0);
    assert_true(b == 1024);
    assert_int_equal(noa_labelfilter_parse_bytes(NOA_STR("3mb"), &b, &err), 0);
    assert_true(b == 3000000);
    assert_int_equal(noa_labelfilter_parse_bytes(NOA_STR("kb"), &b, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "strconv.ParseFloat: parsing \"\": invalid syntax");
    assert_int_equal(noa_labelfilter_parse_bytes(NOA_STR("99999999EB"), &b, &err), NOA_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_string),         cmocka_unit_test(test_numeric),
        cmocka_unit_test(test_duration_bytes), cmocka_unit_test(test_ip),
        cmocka_unit_test(test_and_or),         cmocka_unit_test(test_names),
        cmocka_unit_test(test_parse_float),
        cmocka_unit_test(test_parse_duration), cmocka_unit_test(test_parse_bytes),
    };
    noa_lbuilder_init(&lb);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    noa_lbuilder_fini(&lb);
    noa_arena_fini(&arena);
    return rc;
}
