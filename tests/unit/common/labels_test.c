/* Unit tests for common/labels.c: parsing, canonical form, hashing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/labels.h"
#include "common/mem.h"

static int parse(const char *text, struct noa_arena *a, struct noa_labels *ls,
                 struct noa_error *err)
{
    return noa_labels_parse(noa_str_c(text), a, ls, err);
}

static char *canonical(const char *text)
{
    struct noa_arena a = {0};
    struct noa_labels ls;
    struct noa_error err = {0};
    struct noa_buf b = {0};
    assert_int_equal(parse(text, &a, &ls, &err), 0);
    noa_labels_format(&ls, &b);
    noa_arena_fini(&a);
    noa_buf_cstr(&b);
    return noa_buf_steal(&b, NULL);
}

static void test_canonical_sorted(void **state)
{
    (void)state;
    char *s = canonical("{job=\"api\",app=`web`,  env = \"prod\"}");
    assert_string_equal(s, "{app=\"web\", env=\"prod\", job=\"api\"}");
    noa_free(s);
}

static void test_escapes_round_trip(void **state)
{
    (void)state;
    char *s = canonical("{a=\"q\\\"b\\\\s\\nnl\\u00e9\"}");
    assert_string_equal(s, "{a=\"q\\\"b\\\\s\\nnl\xc3\xa9\"}");
    noa_free(s);
}

static void test_empty_values_dropped(void **state)
{
    (void)state;
    char *s = canonical("{a=\"\", b=\"1\"}");
    assert_string_equal(s, "{b=\"1\"}");
    noa_free(s);
    s = canonical("{}");
    assert_string_equal(s, "{}");
    noa_free(s);
}

static void test_invalid(void **state)
{
    (void)state;
    const char *bad[] = {"",         "job=\"x\"",       "{job=\"x\"",   "{job=x}",
                         "{1a=\"x\"}", "{a=~\"x\"}",     "{a=\"x\"} y",
                         "{a-b=\"x\"}", "{a=\"\\q\"}",    "{a=\"\n\"}",  "{a=\"x\" b=\"y\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct noa_arena a = {0};
        struct noa_labels ls;
        struct noa_error err = {0};
        int rc = parse(bad[i], &a, &ls, &err);
        if (rc != NOA_EINVAL)
            fail_msg("accepted: %s", bad[i]);
        assert_true(err.msg[0] != '\0');
        noa_arena_fini(&a);
    }
}

static void test_hash_depends_on_pairs(void **state)
{
    (void)state;
    struct noa_arena a = {0};
    struct noa_labels x, y, z;
    struct noa_error err;
    assert_int_equal(parse("{a=\"1\", b=\"2\"}", &a, &x, &err), 0);
    assert_int_equal(parse("{b=\"2\", a=\"1\"}", &a, &y, &err), 0);
    assert_int_equal(parse("{a=\"12\"}", &a, &z, &err), 0);
    assert_true(noa_labels_hash(&x) == noa_labels_hash(&y));
    assert_true(noa_labels_hash(&x) != noa_labels_hash(&z));
    assert_int_equal(noa_labels_cmp(&x, &y), 0);
    assert_true(noa_labels_cmp(&x, &z) != 0);
    struct noa_labels d = noa_labels_dup(&x);
    assert_int_equal(noa_labels_cmp(&x, &d), 0);
    assert_true(noa_str_eq_c(noa_labels_get(&d, NOA_STR("b")), "2"));
    assert_null(noa_labels_get(&d, NOA_STR("c")).p);
    noa_free(d.v);
    noa_arena_fini(&a);
}

static void test_duplicates_kept_adjacent(void **state)
{
    (void)state;
    struct noa_arena a = {0};
    struct noa_labels ls;
    struct noa_error err = {0};
    assert_int_equal(parse("{b=\"1\", a=\"x\", b=\"2\"}", &a, &ls, &err), 0);
    assert_int_equal(ls.n, 3);
    assert_true(noa_str_eq_c(ls.v[0].name, "a"));
    assert_true(noa_str_eq_c(ls.v[1].name, "b") && noa_str_eq_c(ls.v[2].name, "b"));
    noa_arena_fini(&a);
}

static void test_name_valid(void **state)
{
    (void)state;
    assert_true(noa_label_name_valid(NOA_STR("_a9")));
    assert_false(noa_label_name_valid(NOA_STR("9a")));
    assert_false(noa_label_name_valid(NOA_STR("")));
    assert_false(noa_label_name_valid(NOA_STR("a.b")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_sorted),    cmocka_unit_test(test_escapes_round_trip),
        cmocka_unit_test(test_empty_values_dropped), cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_hash_depends_on_pairs), cmocka_unit_test(test_name_valid),
        cmocka_unit_test(test_duplicates_kept_adjacent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
