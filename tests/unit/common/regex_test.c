/* Unit tests for common/regex.c: Go syntax rules, Go matching semantics,
 * and pathological patterns that must neither stall nor change answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/mem.h"
#include "common/regex.h"

#include <pthread.h>
#include <string.h>

/* Compiles (failing the test on error), matches once, frees. */
static int match(const char *pattern, int flags, const char *subject, size_t len)
{
    struct noa_regex *re = NULL;
    struct noa_error err = {0};
    if (noa_regex_compile(pattern, strlen(pattern), flags, &re, &err) < 0)
        fail_msg("compile %s: %s", pattern, err.msg);
    int m = noa_regex_match(re, subject, len);
    noa_regex_free(re);
    return m;
}

static int match_c(const char *pattern, int flags, const char *subject)
{
    return match(pattern, flags, subject, strlen(subject));
}

/* Expects compile to fail with a message containing want. */
static void rejects(const char *pattern, const char *want)
{
    struct noa_regex *re = NULL;
    struct noa_error err = {0};
    int rc = noa_regex_compile(pattern, strlen(pattern), 0, &re, &err);
    if (rc != NOA_EINVAL)
        fail_msg("%s: accepted, Go rejects it", pattern);
    if (!strstr(err.msg, want))
        fail_msg("%s: message %s lacks %s", pattern, err.msg, want);
}

static void test_go_rejects_perl_syntax(void **state)
{
    (void)state;
    rejects("(?=a)b", "invalid or unsupported Perl syntax: `(?=`");
    rejects("a(?!b)", "invalid or unsupported Perl syntax: `(?!`");
    rejects("(?<=a)b", "invalid or unsupported Perl syntax");
    rejects("(?<!a)b", "invalid or unsupported Perl syntax");
    rejects("(?>ab)", "invalid or unsupported Perl syntax: `(?>`");
    rejects("(?#comment)a", "invalid or unsupported Perl syntax");
    rejects("(?x)a b", "invalid or unsupported Perl syntax");
    rejects("(a)(?1)", "invalid or unsupported Perl syntax");
    rejects("(?R)", "invalid or unsupported Perl syntax");
    rejects("(a)\\1", "invalid escape sequence: `\\1`");
    rejects("a\\K", "invalid escape sequence: `\\K`");
    rejects("a\\Z", "invalid escape sequence: `\\Z`");
    rejects("\\g1", "invalid escape sequence: `\\g`");
    rejects("a++", "invalid nested repetition operator: `++`");
    rejects("a*+", "invalid nested repetition operator: `*+`");
    rejects("a**", "invalid nested repetition operator: `**`");
    rejects("a{2}{3}", "invalid nested repetition operator: `{2}{3}`");
    rejects("a\\", "trailing backslash");
}

static void test_go_accepts(void **state)
{
    (void)state;
    static const char *ok[] = {
        "(?P<n>a)",  "(?<n>a)", "(?i)abc", "(?i:abc)", "(?s).", "(?U)a+", "(?i-s:a.)",
        "a{2,3}",    "a{2,}",   "a{,3}",   "[[:alpha:]]+", "[]a]+", "[^]a]", "\\d+\\s\\w",
        "\\Q(?=\\E", "\\x41",   "\\p{L}+", "a*?b+?c??", "\\012", "[(?=]", "a\\.b\\*",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct noa_regex *re = NULL;
        struct noa_error err = {0};
        if (noa_regex_compile(ok[i], strlen(ok[i]), 0, &re, &err) < 0)
            fail_msg("%s rejected: %s", ok[i], err.msg);
        noa_regex_free(re);
    }
    assert_true(match_c("\\Q(?=\\E", 0, "x(?=y"));
    assert_true(match_c("[(?=]", 0, "="));
    assert_true(match_c("a{,3}", 0, "a{,3}")); /* a literal in Go */
}

static void test_go_semantics(void **state)
{
    (void)state;
    /* `.` does not match a newline in line filters; label matchers are
     * ^(?s:re)$ since Prometheus 3 */
    assert_false(match_c("a.b", 0, "a\nb"));
    assert_true(match_c("(?s)a.b", 0, "a\nb"));
    assert_true(match_c("a.b", NOA_REGEX_ANCHORED, "a\nb"));
    /* `$` is the end of the text, not before a final newline */
    assert_false(match_c("abc$", 0, "abc\n"));
    assert_true(match_c("(?m)abc$", 0, "abc\n"));
    assert_true(match_c("abc$", 0, "xabc"));
    /* anchored matchers match the whole value */
    assert_false(match_c("ap", NOA_REGEX_ANCHORED, "api"));
    assert_true(match_c("ap.*", NOA_REGEX_ANCHORED, "api"));
    assert_true(match_c("API", NOA_REGEX_CASELESS, "the api"));
    assert_true(match_c("(?i)straße", 0, "STRASSE straße"));
}

/* A run of `a` then `!x`: the classic exponential backtracking subject. */
static char *pathological_subject(size_t n_a, size_t *len)
{
    char *s = noa_xmalloc(n_a + 3);
    memset(s, 'a', n_a);
    memcpy(s + n_a, "!x", 3);
    *len = n_a + 2;
    return s;
}

/* Nested repeats over a long run of `a`: without a bound each line would
 * take exponential time. The limit stops it: lines without a match are
 * answered correctly, and a match the backtracking cannot reach in time
 * counts as none (Go's engine would find it), visibly in the counter. */
static void test_pathological_patterns_are_bounded(void **state)
{
    (void)state;
    size_t len;
    char *s = pathological_subject(5000, &len);
    unsigned long long hits = atomic_load(&noa_regex_limit_hits);
    assert_false(match("(a+)+$", 0, s, len));
    assert_false(match("(a|aa)+$", 0, s, len));
    assert_false(match("(a|a)+b", 0, s, len));
    assert_false(match("(a+)+", NOA_REGEX_ANCHORED, s, len));
    assert_true(atomic_load(&noa_regex_limit_hits) > hits);
    /* matches found before the limit are answered */
    assert_true(match("(a+)+!x", NOA_REGEX_ANCHORED, s, len));
    assert_true(match("(a+)+!x$", 0, s, len));
    /* the known difference: the exponential branch is tried first at offset 0 */
    hits = atomic_load(&noa_regex_limit_hits);
    assert_false(match("(a+)+$|x", 0, s, len));
    assert_int_equal(atomic_load(&noa_regex_limit_hits), hits + 1);
    /* many such lines cost a bounded time each (the test would hang otherwise) */
    for (int i = 0; i < 200; i++)
        assert_false(match("(x+x+)+y", 0, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 55));
    noa_free(s);
}

static void *thread_main(void *arg)
{
    size_t len;
    char *s = pathological_subject(3000, &len);
    *(int *)arg = match("(a+)+!x$", 0, s, len) && !match("(a+)+$", 0, s, len);
    noa_free(s);
    return NULL;
}

/* Threads that match and exit release their match state (ASan's leak
 * check fails this test otherwise). */
static void test_thread_state_released(void **state)
{
    (void)state;
    for (int i = 0; i < 4; i++) {
        pthread_t th;
        int ok = 0;
        assert_int_equal(pthread_create(&th, NULL, thread_main, &ok), 0);
        assert_int_equal(pthread_join(th, NULL), 0);
        assert_true(ok);
    }
}

static void test_captures(void **state)
{
    (void)state;
    struct noa_regex *re = NULL;
    struct noa_error err = {0};
    const char *pat = "(?P<k>\\w+)=(?P<v>\\d+)";
    assert_int_equal(noa_regex_compile(pat, strlen(pat), 0, &re, &err), 0);
    struct noa_str g[3];
    const char *subj = "x k=12 y";
    assert_int_equal(noa_regex_exec(re, subj, strlen(subj), g, 3), 1);
    assert_int_equal(g[1].len, 1);
    assert_memory_equal(g[1].p, "k", 1);
    assert_int_equal(g[2].len, 2);
    assert_memory_equal(g[2].p, "12", 2);
    assert_int_equal(noa_regex_group_index(re, "v", 1), 2);
    long ov[6];
    assert_int_equal(noa_regex_find(re, subj, strlen(subj), 1, ov, 3), 3);
    assert_int_equal(ov[0], 2);
    assert_int_equal(ov[1], 6);
    noa_regex_free(re);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_go_rejects_perl_syntax),
        cmocka_unit_test(test_go_accepts),
        cmocka_unit_test(test_go_semantics),
        cmocka_unit_test(test_pathological_patterns_are_bounded),
        cmocka_unit_test(test_thread_state_released),
        cmocka_unit_test(test_captures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
