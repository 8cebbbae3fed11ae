/* Unit tests for common/selector.c: selector syntax, errors, matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/mem.h"
#include "common/selector.h"

static int matches(const char *sel_text, const char *labels_text)
{
    struct noa_selector sel;
    struct noa_error err = {0};
    struct noa_arena a = {0};
    struct noa_labels ls;
    if (noa_selector_parse_str(sel_text, &sel, &err) < 0)
        fail_msg("parse %s: %s", sel_text, err.msg);
    assert_int_equal(noa_labels_parse(noa_str_c(labels_text), &a, &ls, &err), 0);
    int m = noa_selector_matches(&sel, &ls);
    noa_selector_fini(&sel);
    noa_arena_fini(&a);
    return m;
}

static void test_match_types(void **state)
{
    (void)state;
    assert_true(matches("{app=\"api\"}", "{app=\"api\", env=\"p\"}"));
    assert_false(matches("{app=\"api\"}", "{app=\"apix\"}"));
    assert_true(matches("{app=\"api\", env!=\"dev\"}", "{app=\"api\"}"));
    assert_false(matches("{app=\"api\", env!=\"dev\"}", "{app=\"api\", env=\"dev\"}"));
    assert_true(matches("{app=~\"a.*\"}", "{app=\"api\"}"));
    assert_false(matches("{app=~\"p\"}", "{app=\"api\"}")); /* anchored */
    assert_true(matches("{app=~\"api|web\"}", "{app=\"web\"}"));
    assert_true(matches("{app=\"api\", env!~\"dev|test\"}", "{app=\"api\", env=\"prod\"}"));
    assert_false(matches("{app=\"api\", env!~\"dev|test\"}", "{app=\"api\", env=\"test\"}"));
    /* A missing label is the empty string. */
    assert_true(matches("{app=\"api\", env=~\"|x\"}", "{app=\"api\"}"));
    assert_true(matches("{app=~\".+\", v=~\"a.b\"}", "{app=\"x\", v=\"a\\nb\"}")); /* dotall */
}

static void test_errors(void **state)
{
    (void)state;
    const char *bad[] = {"",          "app=\"x\"",       "{app=\"x\"",  "{app}",
                         "{app=x}",   "{=\"x\"}",        "{}",          "{app=~\".*\"}",
                         "{a!=\"x\"}", "{app=~\"(\"}",   "{a=\"x\"} z", "{a=\"x\",}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct noa_selector sel;
        struct noa_error err = {0};
        if (noa_selector_parse_str(bad[i], &sel, &err) != NOA_EINVAL)
            fail_msg("accepted: %s", bad[i]);
        assert_non_null(strstr(err.msg, "parse error"));
    }
}

static void test_error_position(void **state)
{
    (void)state;
    struct noa_selector sel;
    struct noa_error err = {0};
    assert_int_equal(noa_selector_parse_str("{app=\"x\",\n  b}", &sel, &err), NOA_EINVAL);
    assert_int_equal(err.line, 2);
    assert_int_equal(err.col, 4);
    assert_string_equal(err.msg,
                        "parse error at line 2, col 4: syntax error: unexpected }, expecting = or "
                        "!= or =~ or !~");
}

static void test_format(void **state)
{
    (void)state;
    struct noa_selector sel;
    struct noa_error err = {0};
    struct noa_buf b = {0};
    assert_int_equal(noa_selector_parse_str(" { a = `x\"y` ,b=~\"c+\" } ", &sel, &err), 0);
    noa_selector_format(&sel, &b);
    assert_string_equal(noa_buf_cstr(&b), "{a=\"x\\\"y\", b=~\"c+\"}");
    noa_buf_fini(&b);
    noa_selector_fini(&sel);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_types),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_position),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
