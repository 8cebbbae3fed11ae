/* Unit tests for common/strset.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/mem.h"
#include "common/strset.h"

#include <stdio.h>

static void test_add_dedup_sorted(void **state)
{
    (void)state;
    struct noa_strset s;
    noa_strset_init(&s);
    assert_int_equal(noa_strset_add(&s, NOA_STR("b")), 1);
    assert_int_equal(noa_strset_add(&s, NOA_STR("a")), 1);
    assert_int_equal(noa_strset_add(&s, NOA_STR("b")), 0);
    assert_int_equal(noa_strset_add(&s, NOA_STR("")), 1);
    assert_int_equal(noa_strset_add(&s, (struct noa_str){NULL, 0}), 0); /* same as "" */
    assert_true(noa_strset_has(&s, NOA_STR("a")));
    assert_false(noa_strset_has(&s, NOA_STR("c")));
    struct noa_str *v = noa_strset_sorted(&s);
    assert_int_equal(s.n, 3);
    assert_true(noa_str_eq_c(v[0], "") && noa_str_eq_c(v[1], "a") && noa_str_eq_c(v[2], "b"));
    noa_free(v);
    noa_strset_fini(&s);
}

static void test_many(void **state)
{
    (void)state;
    struct noa_strset s;
    noa_strset_init(&s);
    char buf[32];
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 20000; i++) {
            int n = snprintf(buf, sizeof(buf), "pod-%d", i);
            assert_int_equal(noa_strset_add(&s, (struct noa_str){buf, (size_t)n}), round == 0);
        }
    assert_int_equal(s.n, 20000);
    struct noa_str *v = noa_strset_sorted(&s);
    for (size_t i = 1; i < s.n; i++)
        assert_true(noa_str_cmp(v[i - 1], v[i]) < 0);
    noa_free(v);
    noa_strset_fini(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_dedup_sorted),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
