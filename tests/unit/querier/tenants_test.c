/* Unit tests for querier/tenants.c: dskit's TenantIDs and Loki's
 * multi-tenant matcher filtering and relabelling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/mem.h"
#include "querier/tenants.h"

#include <string.h>

static int parse(const char *h, int auth, struct noa_tenants *t, struct noa_error *err)
{
    return noa_tenants_parse(h, h ? strlen(h) : 0, auth, t, err);
}

static void test_parse_sorted_distinct(void **state)
{
    (void)state;
    struct noa_tenants t;
    struct noa_error err = {0};
    assert_int_equal(parse("team-b|team-a|team-b||x.y", 1, &t, &err), 0);
    assert_int_equal(t.n, 3);
    assert_string_equal(t.ids[0], "team-a");
    assert_string_equal(t.ids[1], "team-b");
    assert_string_equal(t.ids[2], "x.y");
    noa_tenants_fini(&t);
    assert_int_equal(parse("solo", 1, &t, &err), 0);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.ids[0], "solo");
    noa_tenants_fini(&t);
}

static void test_parse_errors(void **state)
{
    (void)state;
    struct noa_tenants t;
    struct noa_error err = {0};
    assert_int_equal(parse(NULL, 1, &t, &err), NOA_EAUTH);
    assert_string_equal(err.msg, "no org id");
    assert_int_equal(parse("|", 1, &t, &err), NOA_EAUTH);
    assert_int_equal(parse("a|b c", 1, &t, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "tenant ID 'b c' contains unsupported character ' '");
    assert_int_equal(parse("a|..", 1, &t, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "tenant ID is '.' or '..'");
    char longid[200];
    memset(longid, 'x', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    assert_int_equal(parse(longid, 1, &t, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "tenant ID is too long: max 150 characters");
    /* auth off: the header is ignored */
    assert_int_equal(parse("a|b", 0, &t, &err), 0);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.ids[0], "fake");
    noa_tenants_fini(&t);
}

static void test_filter_selector(void **state)
{
    (void)state;
    struct noa_tenants t;
    struct noa_selector sel;
    struct noa_error err = {0};
    assert_int_equal(parse("a|b|c", 1, &t, &err), 0);
    assert_int_equal(noa_selector_parse_str(
                         "{app=\"web\", __tenant_id__=~\"a|c\", original___tenant_id__=\"z\"}",
                         &sel, &err),
                     0);
    assert_int_equal(noa_tenants_filter_selector(&t, &sel, &err), 0);
    assert_int_equal(t.n, 2);
    assert_string_equal(t.ids[0], "a");
    assert_string_equal(t.ids[1], "c");
    assert_int_equal(sel.n, 2);
    assert_string_equal(sel.m[0].name, "app");
    assert_string_equal(sel.m[1].name, "__tenant_id__");
    assert_string_equal(sel.m[1].value, "z");
    noa_selector_fini(&sel);
    noa_tenants_fini(&t);

    /* Only the tenant matcher: nothing valid is left, as Loki refuses. */
    assert_int_equal(parse("a|b", 1, &t, &err), 0);
    assert_int_equal(noa_selector_parse_str("{__tenant_id__=\"b\"}", &sel, &err), 0);
    assert_int_equal(noa_tenants_filter_selector(&t, &sel, &err), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "log selector is invalid after matcher update"));
    noa_selector_fini(&sel);
    noa_tenants_fini(&t);

    /* A matcher no tenant satisfies leaves no tenant. */
    assert_int_equal(parse("a|b", 1, &t, &err), 0);
    assert_int_equal(noa_selector_parse_str("{app=\"x\", __tenant_id__=\"q\"}", &sel, &err), 0);
    assert_int_equal(noa_tenants_filter_selector(&t, &sel, &err), 0);
    assert_int_equal(t.n, 0);
    noa_selector_fini(&sel);
    noa_tenants_fini(&t);
}

static void test_relabel(void **state)
{
    (void)state;
    struct noa_label in[] = {{NOA_STR("__tenant_id__"), NOA_STR("mine")},
                             {NOA_STR("app"), NOA_STR("web")}};
    struct noa_labels ls = {in, 2};
    struct noa_label out[8];
    uint32_t n = noa_tenants_relabel(&ls, "t1", out, 8);
    assert_int_equal(n, 3);
    assert_true(noa_str_eq(out[0].name, NOA_STR("__tenant_id__")));
    assert_true(noa_str_eq(out[0].value, NOA_STR("t1")));
    assert_true(noa_str_eq(out[1].name, NOA_STR("app")));
    assert_true(noa_str_eq(out[2].name, NOA_STR("original___tenant_id__")));
    assert_true(noa_str_eq(out[2].value, NOA_STR("mine")));
    struct noa_labels empty = {NULL, 0};
    assert_int_equal(noa_tenants_relabel(&empty, "t2", out, 8), 1);
    assert_true(noa_str_eq(out[0].value, NOA_STR("t2")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_sorted_distinct),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_filter_selector),
        cmocka_unit_test(test_relabel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
