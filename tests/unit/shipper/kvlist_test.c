/*
 * Tests for shipper/kvlist.c and entry.c: set/replace/delete keep order
 * and values, values copied from the list itself survive store growth,
 * sorted export and text form, copies are deep, reset keeps memory.
 */
#include "shipper/entry.h"
#include "shipper/kvlist.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

static void check_value(const struct noa_kvlist *l, const char *name, const char *want)
{
    struct noa_str v;
    if (!want) {
        assert_int_equal(noa_kvlist_get(l, noa_str_c(name), &v), 0);
        return;
    }
    assert_int_equal(noa_kvlist_get(l, noa_str_c(name), &v), 1);
    assert_int_equal(v.len, strlen(want));
    assert_memory_equal(v.p, want, v.len);
}

static void test_set_get_replace_delete(void **state)
{
    (void)state;
    struct noa_kvlist l;
    noa_kvlist_init(&l);
    noa_kvlist_set(&l, NOA_STR("job"), NOA_STR("varlogs"));
    noa_kvlist_set(&l, NOA_STR("filename"), NOA_STR("/var/log/syslog"));
    noa_kvlist_set(&l, NOA_STR("empty"), NOA_STR(""));
    assert_int_equal(l.n, 3);
    check_value(&l, "job", "varlogs");
    check_value(&l, "empty", "");
    check_value(&l, "absent", NULL);

    noa_kvlist_set(&l, NOA_STR("job"), NOA_STR("v")); /* shorter: in place */
    check_value(&l, "job", "v");
    noa_kvlist_set(&l, NOA_STR("job"), NOA_STR("a much longer value than before"));
    check_value(&l, "job", "a much longer value than before");
    assert_int_equal(l.n, 3);
    assert_true(noa_str_eq_c(noa_kvlist_name(&l, 0), "job")); /* order kept */

    assert_int_equal(noa_kvlist_del(&l, NOA_STR("filename")), 1);
    assert_int_equal(noa_kvlist_del(&l, NOA_STR("filename")), 0);
    assert_int_equal(l.n, 2);
    assert_true(noa_str_eq_c(noa_kvlist_name(&l, 1), "empty"));
    check_value(&l, "filename", NULL);
    noa_kvlist_fini(&l);
}

static void test_self_copy_survives_growth(void **state)
{
    (void)state;
    struct noa_kvlist l;
    noa_kvlist_init(&l);
    noa_kvlist_set(&l, NOA_STR("a"), NOA_STR("first value"));
    /* Copy a value held by the list into new names many times, so the
     * store reallocates while the source points into it. */
    for (int i = 0; i < 200; i++) {
        char name[16];
        snprintf(name, sizeof(name), "n%d", i);
        struct noa_str v;
        assert_int_equal(noa_kvlist_get(&l, NOA_STR("a"), &v), 1);
        noa_kvlist_set(&l, noa_str_c(name), v);
    }
    check_value(&l, "n0", "first value");
    check_value(&l, "n199", "first value");
    /* Replacing a value with a longer one taken from the list itself. */
    struct noa_str v;
    noa_kvlist_set(&l, NOA_STR("b"), NOA_STR("x"));
    assert_int_equal(noa_kvlist_get(&l, NOA_STR("a"), &v), 1);
    noa_kvlist_set(&l, NOA_STR("b"), v);
    check_value(&l, "b", "first value");
    assert_int_equal(l.n, 202);
    noa_kvlist_fini(&l);
}

static void test_sorted_and_format(void **state)
{
    (void)state;
    struct noa_kvlist l;
    noa_kvlist_init(&l);
    noa_kvlist_set(&l, NOA_STR("zone"), NOA_STR("eu"));
    noa_kvlist_set(&l, NOA_STR("app"), NOA_STR("say \"hi\"\n"));
    noa_kvlist_set(&l, NOA_STR("job"), NOA_STR("j"));
    struct noa_labels ls;
    noa_kvlist_labels(&l, &ls);
    assert_int_equal(ls.n, 3);
    assert_true(noa_str_eq_c(ls.v[0].name, "app"));
    assert_true(noa_str_eq_c(ls.v[1].name, "job"));
    assert_true(noa_str_eq_c(ls.v[2].name, "zone"));
    struct noa_buf out = {0};
    noa_kvlist_format(&l, &out);
    const char *want = "{app=\"say \\\"hi\\\"\\n\", job=\"j\", zone=\"eu\"}";
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.data, want, out.len);
    /* insertion order is unchanged by the sorted export */
    assert_true(noa_str_eq_c(noa_kvlist_name(&l, 0), "zone"));
    noa_buf_fini(&out);
    noa_kvlist_fini(&l);
}

static void test_entry_copy_is_deep(void **state)
{
    (void)state;
    struct noa_entry a, b;
    noa_entry_init(&a);
    noa_entry_init(&b);
    noa_kvlist_set(&a.labels, NOA_STR("job"), NOA_STR("x"));
    noa_kvlist_set(&a.extracted, NOA_STR("level"), NOA_STR("info"));
    noa_kvlist_set(&a.meta, NOA_STR("trace_id"), NOA_STR("abc"));
    noa_buf_append(&a.line, "hello", 5);
    noa_buf_append(&a.source, "/var/log/a.log", 14);
    a.ts_ns = 42;
    a.offset = 6;
    noa_entry_copy(&b, &a);
    noa_entry_reset(&a);
    noa_kvlist_set(&a.labels, NOA_STR("job"), NOA_STR("overwritten"));
    check_value(&b.labels, "job", "x");
    check_value(&b.extracted, "level", "info");
    check_value(&b.meta, "trace_id", "abc");
    assert_int_equal(b.line.len, 5);
    assert_memory_equal(b.line.data, "hello", 5);
    assert_int_equal(b.source.len, 14);
    assert_int_equal(b.ts_ns, 42);
    assert_int_equal(b.offset, 6);
    assert_int_equal(a.ts_ns, 0);
    assert_int_equal(a.line.len, 0);
    noa_entry_fini(&a);
    noa_entry_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_get_replace_delete),
        cmocka_unit_test(test_self_copy_survives_growth),
        cmocka_unit_test(test_sorted_and_format),
        cmocka_unit_test(test_entry_copy_is_deep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
