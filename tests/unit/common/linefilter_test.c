/* Unit tests for common/linefilter.c: contains, regex and its literal
 * rewrites, `or` chains, |> patterns, ip() and build errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/decolor.h"
#include "common/linefilter.h"
#include "common/logql.h"
#include "common/mem.h"
#include "common/pipeline.h"

#include <string.h>

/* Builds a filter of op over up to 4 operands (ip when prefixed "ip:"). */
static struct noa_linefilter *build(enum noa_linefilter_op op, const char *a, const char *b,
                                    const char *c, int *rc_out, struct noa_error *err)
{
    struct noa_linefilter_operand ops[3];
    const char *v[3] = {a, b, c};
    unsigned n = 0;
    for (int i = 0; i < 3 && v[i]; i++) {
        int ip = !strncmp(v[i], "ip:", 3);
        ops[n++] = (struct noa_linefilter_operand){noa_str_c(v[i] + (ip ? 3 : 0)), ip};
    }
    struct noa_linefilter_opts o = {.op = op, .operands = ops, .n = n};
    struct noa_linefilter *f = NULL;
    *rc_out = noa_linefilter_new(&o, &f, err);
    return f;
}

static int keep(enum noa_linefilter_op op, const char *a, const char *b, const char *line)
{
    struct noa_error err = {0};
    int rc;
    struct noa_linefilter *f = build(op, a, b, NULL, &rc, &err);
    if (rc)
        fail_msg("build %s: %s", a, err.msg);
    int k = noa_linefilter_match(f, line, strlen(line));
    noa_linefilter_free(f);
    return k;
}

static void test_contains(void **state)
{
    (void)state;
    assert_true(keep(NOA_LINEFILTER_CONTAINS, "error", NULL, "level=error msg=x"));
    assert_false(keep(NOA_LINEFILTER_CONTAINS, "Error", NULL, "level=error msg=x"));
    assert_false(keep(NOA_LINEFILTER_NCONTAINS, "error", NULL, "level=error"));
    assert_true(keep(NOA_LINEFILTER_NCONTAINS, "error", NULL, "level=info"));
    /* |= "" keeps everything, != "" keeps nothing */
    assert_true(keep(NOA_LINEFILTER_CONTAINS, "", NULL, ""));
    assert_true(keep(NOA_LINEFILTER_CONTAINS, "", NULL, "x"));
    assert_false(keep(NOA_LINEFILTER_NCONTAINS, "", NULL, "x"));
    /* or chains: positive = any; negative = none */
    assert_true(keep(NOA_LINEFILTER_CONTAINS, "foo", "bar", "xx bar"));
    assert_false(keep(NOA_LINEFILTER_CONTAINS, "foo", "bar", "xx baz"));
    assert_false(keep(NOA_LINEFILTER_NCONTAINS, "foo", "bar", "xx bar"));
    assert_true(keep(NOA_LINEFILTER_NCONTAINS, "foo", "bar", "xx baz"));
    /* bytewise on non-UTF-8 */
    assert_true(keep(NOA_LINEFILTER_CONTAINS, "\xff\xfe", NULL, "a\xff\xfe"));
}

static void test_regex(void **state)
{
    (void)state;
    assert_true(keep(NOA_LINEFILTER_REGEX, "err(or)?", NULL, "an error"));
    assert_true(keep(NOA_LINEFILTER_REGEX, "^an", NULL, "an error"));
    assert_false(keep(NOA_LINEFILTER_REGEX, "^error", NULL, "an error")); /* unanchored, ^ kept */
    assert_true(keep(NOA_LINEFILTER_REGEX, "(?i)ERROR", NULL, "an error"));
    assert_true(keep(NOA_LINEFILTER_REGEX, "(?i)Err|warn", NULL, "WARN here"));
    assert_false(keep(NOA_LINEFILTER_REGEX, "(?i)err|warn", NULL, "info"));
    assert_true(keep(NOA_LINEFILTER_REGEX, "foo|bar", NULL, "a bar"));
    assert_true(keep(NOA_LINEFILTER_REGEX, ".*foo.*", NULL, "a foo b"));
    assert_true(keep(NOA_LINEFILTER_REGEX, "a\\.b", NULL, "xa.by"));
    assert_false(keep(NOA_LINEFILTER_REGEX, "a\\.b", NULL, "xaxby"));
    assert_true(keep(NOA_LINEFILTER_REGEX, "a.b", NULL, "xaxby"));
    assert_true(keep(NOA_LINEFILTER_REGEX, "foo|", NULL, "anything")); /* empty alternative */
    assert_false(keep(NOA_LINEFILTER_NREGEX, "\\d{3}", NULL, "code 404"));
    assert_true(keep(NOA_LINEFILTER_NREGEX, "\\d{3}", NULL, "code x"));
    assert_true(keep(NOA_LINEFILTER_REGEX, "nope", "\\d+", "code 4"));
    assert_true(keep(NOA_LINEFILTER_REGEX, "(?i)ünï", NULL, "xÜNÏx") ||
                keep(NOA_LINEFILTER_REGEX, "(?i)ünï", NULL, "xünïx"));
}

static void test_pattern(void **state)
{
    (void)state;
    assert_false(keep(NOA_LINEFILTER_PATTERN, "GET /api", NULL, "GET /api 200"));
    assert_true(keep(NOA_LINEFILTER_PATTERN, "GET <_>", NULL, "GET /api 200"));
    assert_true(keep(NOA_LINEFILTER_PATTERN, "<_> /api <_>", NULL, "GET /api 200"));
    assert_false(keep(NOA_LINEFILTER_PATTERN, "<_> bar <_>", NULL, " bar "));
    assert_false(keep(NOA_LINEFILTER_PATTERN, "<_> bar", NULL, "foo bar baz"));
    assert_true(keep(NOA_LINEFILTER_PATTERN, "<_> baz", NULL, "foo bar baz"));
    assert_true(keep(NOA_LINEFILTER_PATTERN, "foo <_>", NULL, "foo bar baz"));
    assert_false(keep(NOA_LINEFILTER_PATTERN, "GET <_>", NULL, "GET "));
    assert_true(keep(NOA_LINEFILTER_PATTERN, "", NULL, ""));
    assert_false(keep(NOA_LINEFILTER_PATTERN, "", NULL, "x"));
    assert_false(keep(NOA_LINEFILTER_PATTERN, "x", NULL, ""));
    assert_true(keep(NOA_LINEFILTER_NPATTERN, "GET <_>", NULL, "POST /"));
    assert_true(keep(NOA_LINEFILTER_PATTERN, "a<b c", NULL, "a<b c")); /* '<' literal */
}

static void test_ip(void **state)
{
    (void)state;
    assert_true(keep(NOA_LINEFILTER_CONTAINS, "ip:192.168.0.1", NULL, "from 192.168.0.1 ok"));
    assert_false(keep(NOA_LINEFILTER_CONTAINS, "ip:192.168.0.1", NULL, "from 192.168.0.10 ok"));
    assert_true(keep(NOA_LINEFILTER_CONTAINS, "ip:10.0.0.0/8", NULL, "x=10.3.4.5"));
    assert_false(keep(NOA_LINEFILTER_CONTAINS, "ip:10.0.0.0/8", NULL, "x=11.3.4.5"));
    assert_true(keep(NOA_LINEFILTER_CONTAINS, "ip:192.168.0.1-192.168.0.9", NULL,
                     "a 192.168.0.5 b"));
    assert_false(keep(NOA_LINEFILTER_CONTAINS, "ip:192.168.0.1-192.168.0.9", NULL,
                      "a 192.168.0.50 b"));
    assert_true(keep(NOA_LINEFILTER_CONTAINS, "ip:2001:db8::/32", NULL, "v6 2001:db8::1 here"));
    assert_true(keep(NOA_LINEFILTER_CONTAINS, "ip:::1", NULL, "lo ::1 here"));
    assert_true(keep(NOA_LINEFILTER_NCONTAINS, "ip:10.0.0.0/8", NULL, "no address"));
    assert_false(keep(NOA_LINEFILTER_NCONTAINS, "ip:10.0.0.0/8", NULL, "10.1.1.1"));
    assert_true(keep(NOA_LINEFILTER_CONTAINS, "ip:1.2.3.4", "ip:5.6.7.8", "5.6.7.8"));
    assert_true(keep(NOA_LINEFILTER_CONTAINS, "nomatch", "ip:5.6.7.8", "5.6.7.8"));
}

static void test_errors(void **state)
{
    (void)state;
    struct noa_error err = {0};
    int rc;
    assert_null(build(NOA_LINEFILTER_REGEX, "(", NULL, NULL, &rc, &err));
    assert_int_equal(rc, NOA_EINVAL);
    assert_null(build(NOA_LINEFILTER_PATTERN, "<verb> x", NULL, NULL, &rc, &err));
    assert_string_equal(err.msg, "named captures are not allowed");
    assert_null(build(NOA_LINEFILTER_PATTERN, "<_><_>", NULL, NULL, &rc, &err));
    assert_int_equal(rc, NOA_EINVAL);
    assert_null(build(NOA_LINEFILTER_CONTAINS, "ip:300.1.1.1", NULL, NULL, &rc, &err));
    assert_non_null(strstr(err.msg, "ip: invalid pattern"));
    assert_null(build(NOA_LINEFILTER_CONTAINS, "ip:10.0.0.0/33", NULL, NULL, &rc, &err));
    assert_null(build(NOA_LINEFILTER_CONTAINS, "ip:1.2.3.9-1.2.3.1", NULL, NULL, &rc, &err));
    assert_null(build(NOA_LINEFILTER_REGEX, "ip:1.2.3.4", NULL, NULL, &rc, &err));
    assert_string_equal(err.msg, "ip: invalid operation");
    /* a good first operand and a bad second one: nothing leaks (ASan) */
    assert_null(build(NOA_LINEFILTER_REGEX, "ok", "[", NULL, &rc, &err));
}

static void test_fold_helper(void **state)
{
    (void)state;
    assert_true(noa_linefilter_contains_fold("Hello World", 11, "world", 5));
    assert_false(noa_linefilter_contains_fold("Hello", 5, "worlds", 6));
    assert_true(noa_linefilter_contains_fold("x", 1, "", 0));
}

/* The literals a filter guarantees (used to skip blocks): only positive
 * filters made of non-empty literals give any. */
static void test_literals(void **state)
{
    (void)state;
    struct noa_linefilter_literal out[4];
    struct noa_error err = {0};
    int rc;
    struct noa_linefilter *f = build(NOA_LINEFILTER_CONTAINS, "GET", "Put", NULL, &rc, &err);
    assert_int_equal(noa_linefilter_literals(f, out, 4), 2);
    assert_true(noa_str_eq_c(out[0].s, "GET") && !out[0].fold);
    assert_true(noa_str_eq_c(out[1].s, "Put") && !out[1].fold);
    assert_int_equal(noa_linefilter_literals(f, out, 1), 2); /* more than fit */
    noa_linefilter_free(f);

    f = build(NOA_LINEFILTER_REGEX, "(?i)Error|WARN", NULL, NULL, &rc, &err);
    assert_int_equal(noa_linefilter_literals(f, out, 4), 2);
    assert_true(noa_str_eq_c(out[0].s, "error") && out[0].fold);
    assert_true(noa_str_eq_c(out[1].s, "warn") && out[1].fold);
    noa_linefilter_free(f);

    static const struct {
        enum noa_linefilter_op op;
        const char *a, *b;
    } none[] = {
        {NOA_LINEFILTER_NCONTAINS, "x", NULL}, {NOA_LINEFILTER_CONTAINS, "", NULL},
        {NOA_LINEFILTER_CONTAINS, "a", ""},    {NOA_LINEFILTER_CONTAINS, "ip:10.0.0.1", NULL},
        {NOA_LINEFILTER_REGEX, "err.r", NULL}, {NOA_LINEFILTER_REGEX, ".*", NULL},
        {NOA_LINEFILTER_NREGEX, "abc", NULL},  {NOA_LINEFILTER_PATTERN, "<_> x", NULL},
        {NOA_LINEFILTER_CONTAINS, "abc", "ip:10.0.0.1"},
    };
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        f = build(none[i].op, none[i].a, none[i].b, NULL, &rc, &err);
        assert_int_equal(rc, 0);
        assert_int_equal(noa_linefilter_literals(f, out, 4), 0);
        noa_linefilter_free(f);
    }
}

/* noa_linefilter_find (and the fold search behind |~ "(?i)...") against a
 * naive search, on random text over a small alphabet. */
static const char *naive_find(const char *h, size_t n, const char *nd, size_t m, int fold)
{
    for (size_t i = 0; i + m <= n; i++) {
        size_t k = 0;
        while (k < m && (fold ? (h[i + k] >= 'A' && h[i + k] <= 'Z' ? h[i + k] + 32 : h[i + k]) ==
                                    nd[k]
                              : h[i + k] == nd[k]))
            k++;
        if (k == m)
            return h + i;
    }
    return NULL;
}

static void test_find(void **state)
{
    (void)state;
    static const char alpha[] = "aAbB-1\xc3";
    uint64_t x = 88172645463325252ull;
    /* Haystacks past 64 bytes take the 32-wide path where the CPU has
     * AVX2; needles up to 8 bytes compare inner bytes at candidates. */
    char hay[400], nd[9];
    for (int round = 0; round < 40000; round++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t n = x % sizeof(hay), m = (x >> 8) % sizeof(nd);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            hay[i] = alpha[x % (sizeof(alpha) - 1)];
        }
        for (size_t i = 0; i < m; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            nd[i] = alpha[x % (sizeof(alpha) - 1)];
        }
        int fold = (int)(x >> 40) & 1;
        if (fold)
            for (size_t i = 0; i < m; i++)
                nd[i] = (char)(nd[i] >= 'A' && nd[i] <= 'Z' ? nd[i] + 32 : nd[i]);
        struct noa_linefilter_literal lit = {{nd, m}, fold};
        const char *want = naive_find(hay, n, nd, m, fold);
        if (noa_linefilter_find(&lit, hay, n) != want)
            fail_msg("round %d: find of %zu-byte needle (fold %d) in %zu bytes", round, m, fold,
                     n);
        if (fold)
            assert_int_equal(noa_linefilter_contains_fold(hay, n, nd, m), want != NULL);
    }
}

static int groups_cb(void *ctx, const struct noa_linefilter_literal *alts, unsigned n)
{
    struct noa_buf *b = ctx;
    noa_buf_putc(b, '[');
    for (unsigned i = 0; i < n; i++)
        noa_buf_printf(b, "%s%s%.*s", i ? "|" : "", alts[i].fold ? "i:" : "",
                       (int)alts[i].s.len, alts[i].s.p);
    noa_buf_putc(b, ']');
    return 0;
}

/* The groups of literals a pipeline guarantees, as "[a|b][c]". */
static const char *required(const char *query)
{
    static struct noa_buf out;
    struct noa_logql_expr *e = NULL;
    struct noa_pipeline *p = NULL;
    struct noa_error err = {0};
    if (noa_logql_parse(query, strlen(query), &e, &err) != 0)
        fail_msg("parse %s: %s", query, err.msg);
    if (noa_pipeline_new(e, &p, &err) != 0)
        fail_msg("compile %s: %s", query, err.msg);
    noa_buf_reset(&out);
    assert_int_equal(noa_pipeline_required_literals(p, groups_cb, &out), 0);
    noa_pipeline_free(p);
    noa_logql_free(e);
    return noa_buf_cstr(&out);
}

static void test_pipeline_required(void **state)
{
    (void)state;
    assert_string_equal(required("{a=\"b\"}"), "");
    assert_string_equal(required("{a=\"b\"} |= \"rare-token\""), "[rare-token]");
    assert_string_equal(required("{a=\"b\"} |= \"x\" or \"yy\" != \"z\" |~ \"(?i)Err\""),
                        "[x|yy][i:err]");
    /* parsers, label filters and label changes leave the line alone */
    assert_string_equal(required("{a=\"b\"} | json | level=\"error\" | drop x | keep a "
                                 "| label_format y=a |= \"disk\""),
                        "[disk]");
    /* after a stage that rewrites the line, filters see another line */
    assert_string_equal(required("{a=\"b\"} |= \"a1\" | line_format \"{{.a}}\" |= \"b2\""),
                        "[a1]");
    assert_string_equal(required("{a=\"b\"} | decolorize |= \"b2\""), "");
    assert_string_equal(required("{a=\"b\"} | unpack |= \"b2\""), "");
    /* filters that guarantee nothing */
    assert_string_equal(required("{a=\"b\"} != \"x\" |~ \"a.c\" |> \"<_> x\" "
                                 "|= ip(\"10.0.0.0/8\") |= \"\""),
                        "");
}

/* decolorize lives next to the line filters: both work on the line only. */
static const char *decolor(const char *in)
{
    static struct noa_buf scratch, out;
    struct noa_str r = noa_decolor_run(noa_str_c(in), &scratch);
    noa_buf_reset(&out);
    noa_buf_append(&out, r.p, r.len);
    return noa_buf_cstr(&out);
}

static void test_decolor(void **state)
{
    (void)state;
    assert_string_equal(decolor("plain line"), "plain line");
    assert_string_equal(decolor("\x1b[31mred\x1b[0m text"), "red text");
    assert_string_equal(decolor("\x1b[1;32;40mbold\x1b[m"), "bold");
    assert_string_equal(decolor("\x1b]0;title\x07" "after"), "after");
    assert_string_equal(decolor("a\xc2\x9b" "31mb"), "ab");
    assert_string_equal(decolor("\x1b[12345x"), "x");   /* 4 digits + final digit */
    assert_string_equal(decolor("\x1b[?25l hide"), " hide");
    assert_string_equal(decolor("lone \x1b"), "lone \x1b"); /* nothing to match */
    assert_string_equal(decolor("caf\xc3\xa9"), "caf\xc3\xa9");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contains), cmocka_unit_test(test_regex),
        cmocka_unit_test(test_pattern),  cmocka_unit_test(test_ip),
        cmocka_unit_test(test_errors),   cmocka_unit_test(test_fold_helper),
        cmocka_unit_test(test_decolor),  cmocka_unit_test(test_literals),
        cmocka_unit_test(test_find),     cmocka_unit_test(test_pipeline_required),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
