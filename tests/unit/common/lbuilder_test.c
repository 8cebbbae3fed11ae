/* Unit tests for common/lbuilder.c: categories, _extracted collisions,
 * precedence in the final set, deletes, the error pair, per-line reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/lbuilder.h"
#include "common/mem.h"

#include <stdio.h>
#include <string.h>

static struct noa_arena arena;

static struct noa_labels stream_of(const char *text)
{
    struct noa_labels ls;
    struct noa_error err;
    assert_int_equal(noa_labels_parse(noa_str_c(text), &arena, &ls, &err), 0);
    return ls;
}

/* The final set in canonical text. */
static const char *final(struct noa_lbuilder *b)
{
    static struct noa_buf out;
    struct noa_labels ls;
    noa_lbuilder_labels(b, &ls);
    noa_buf_reset(&out);
    noa_labels_format(&ls, &out);
    return noa_buf_cstr(&out);
}

static void test_parsed_collides_with_stream(void **state)
{
    (void)state;
    struct noa_lbuilder b;
    noa_lbuilder_init(&b);
    struct noa_labels s = stream_of("{app=\"foo\", env=\"prod\"}");
    noa_lbuilder_reset_stream(&b, &s);
    assert_int_equal(noa_lbuilder_add_parsed(&b, NOA_STR("app"), NOA_STR("bar")), 1);
    assert_int_equal(noa_lbuilder_add_parsed(&b, NOA_STR("level"), NOA_STR("info")), 1);
    assert_string_equal(final(&b),
                        "{app=\"foo\", app_extracted=\"bar\", env=\"prod\", level=\"info\"}");
    /* First value wins for a second parser write of the same name. */
    assert_int_equal(noa_lbuilder_add_parsed(&b, NOA_STR("level"), NOA_STR("debug")), 0);
    struct noa_str v;
    assert_true(noa_lbuilder_get(&b, NOA_STR("level"), &v));
    assert_true(noa_str_eq_c(v, "info"));
    noa_lbuilder_fini(&b);
}

static void test_three_way_clash(void **state)
{
    (void)state;
    struct noa_lbuilder b;
    noa_lbuilder_init(&b);
    struct noa_labels s = stream_of("{k=\"stream\"}");
    noa_lbuilder_reset_stream(&b, &s);
    noa_lbuilder_add_meta(&b, NOA_STR("k"), NOA_STR("meta"));
    assert_string_equal(final(&b), "{k=\"stream\", k_extracted=\"meta\"}");
    noa_lbuilder_add_parsed(&b, NOA_STR("k"), NOA_STR("parsed"));
    /* stream keeps k, parsed takes the one k_extracted slot, meta is lost */
    assert_string_equal(final(&b), "{k=\"stream\", k_extracted=\"parsed\"}");
    /* The suffix is never stacked. */
    noa_lbuilder_reset(&b);
    noa_lbuilder_add_meta(&b, NOA_STR("m"), NOA_STR("1"));
    noa_lbuilder_add_parsed(&b, NOA_STR("m"), NOA_STR("2"));
    noa_lbuilder_add_parsed(&b, NOA_STR("m_extracted"), NOA_STR("3"));
    assert_string_equal(final(&b), "{k=\"stream\", m=\"1\", m_extracted=\"2\"}");
    noa_lbuilder_fini(&b);
}

static void test_set_overrides_and_delete(void **state)
{
    (void)state;
    struct noa_lbuilder b;
    noa_lbuilder_init(&b);
    struct noa_labels s = stream_of("{app=\"foo\", env=\"prod\"}");
    noa_lbuilder_reset_stream(&b, &s);
    /* label_format writes the base name and hides the stream value. */
    noa_lbuilder_set(&b, NOA_LB_PARSED, NOA_STR("app"), NOA_STR("renamed"));
    assert_string_equal(final(&b), "{app=\"renamed\", env=\"prod\"}");
    struct noa_str v;
    assert_true(noa_lbuilder_get(&b, NOA_STR("app"), &v));
    assert_true(noa_str_eq_c(v, "renamed"));
    assert_true(noa_lbuilder_get_cat(&b, NOA_LB_STREAM, NOA_STR("app"), &v));
    assert_true(noa_str_eq_c(v, "foo"));
    noa_lbuilder_del(&b, NOA_STR("app"));
    noa_lbuilder_del(&b, NOA_STR("nothere"));
    assert_false(noa_lbuilder_has(&b, NOA_STR("app")));
    assert_string_equal(final(&b), "{env=\"prod\"}");
    /* Setting again undeletes. */
    noa_lbuilder_set(&b, NOA_LB_META, NOA_STR("app"), NOA_STR("m"));
    assert_true(noa_lbuilder_has(&b, NOA_STR("app")));
    /* A new line restores the stream labels. */
    noa_lbuilder_reset(&b);
    assert_string_equal(final(&b), "{app=\"foo\", env=\"prod\"}");
    noa_lbuilder_fini(&b);
}

static void test_error_pair(void **state)
{
    (void)state;
    struct noa_lbuilder b;
    noa_lbuilder_init(&b);
    struct noa_labels s = stream_of("{app=\"x\"}");
    noa_lbuilder_reset_stream(&b, &s);
    assert_false(noa_lbuilder_has_err(&b));
    assert_false(noa_lbuilder_has(&b, NOA_STR("__error__")));
    noa_lbuilder_set_err(&b, NOA_STR("JSONParserErr"), NOA_STR("bad"));
    assert_string_equal(final(&b),
                        "{__error__=\"JSONParserErr\", __error_details__=\"bad\", app=\"x\"}");
    struct noa_str v;
    assert_true(noa_lbuilder_get(&b, NOA_STR("__error__"), &v));
    assert_true(noa_str_eq_c(v, "JSONParserErr"));
    noa_lbuilder_del(&b, NOA_STR("__error_details__"));
    assert_string_equal(final(&b), "{__error__=\"JSONParserErr\", app=\"x\"}");
    noa_lbuilder_del(&b, NOA_STR("__error__"));
    assert_false(noa_lbuilder_has_err(&b));
    noa_lbuilder_set_err(&b, NOA_STR("E"), NOA_STR(""));
    noa_lbuilder_reset(&b);
    assert_false(noa_lbuilder_has_err(&b));
    noa_lbuilder_fini(&b);
}

/* Values copied from the builder itself (label_format a="{{.b}}"-like). */
static void test_aliasing_and_growth(void **state)
{
    (void)state;
    struct noa_lbuilder b;
    noa_lbuilder_init(&b);
    noa_lbuilder_reset_stream(&b, NULL);
    char name[32];
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "k%03d", i);
        noa_lbuilder_add_parsed(&b, noa_str_c(name), noa_str_c(name));
    }
    for (int i = 0; i < 50; i++) {
        struct noa_str v;
        assert_true(noa_lbuilder_get(&b, NOA_STR("k007"), &v));
        noa_lbuilder_set(&b, NOA_LB_PARSED, NOA_STR("k008"), v);
    }
    /* new names whose value (and name) live in the store while it grows */
    for (int i = 0; i < 200; i++) {
        struct noa_str v, n;
        snprintf(name, sizeof(name), "k%03d", i);
        assert_true(noa_lbuilder_get(&b, noa_str_c(name), &v));
        snprintf(name, sizeof(name), "z%03d", i);
        noa_lbuilder_set(&b, NOA_LB_META, noa_str_c(name), v);
        assert_true(noa_lbuilder_get_cat(&b, NOA_LB_META, noa_str_c(name), &n));
        snprintf(name, sizeof(name), "k%03d", i == 8 ? 7 : i); /* k008 holds k007 */
        assert_true(noa_str_eq_c(n, name));
    }
    struct noa_str v;
    assert_true(noa_lbuilder_get(&b, NOA_STR("k008"), &v));
    assert_true(noa_str_eq_c(v, "k007"));
    struct noa_labels ls;
    noa_lbuilder_labels(&b, &ls);
    assert_int_equal(ls.n, 400);
    assert_true(noa_str_eq_c(ls.v[0].name, "k000"));
    assert_true(noa_str_eq_c(ls.v[199].name, "k199"));
    assert_true(noa_str_eq_c(ls.v[399].name, "z199"));
    /* Steady state: a warmed builder does not allocate per line. */
    int64_t before = 0;
    for (int line = 0; line < 11; line++) {
        if (line == 1) { /* line 0 warms the buffers up */
            before = noa_mem_in_use();
            noa_mem_fail_after(0);
        }
        noa_lbuilder_reset(&b);
        noa_lbuilder_add_parsed(&b, NOA_STR("a"), NOA_STR("1"));
        noa_lbuilder_add_meta(&b, NOA_STR("b"), NOA_STR("2"));
        noa_lbuilder_set_err(&b, NOA_STR("E"), NOA_STR("d"));
        noa_lbuilder_labels(&b, &ls);
    }
    noa_mem_fail_after(-1);
    assert_int_equal(noa_mem_in_use(), before);
    assert_int_equal(ls.n, 4);
    noa_lbuilder_fini(&b);
}

struct each_ctx {
    int n;
    int saw_stream_app; /* the hidden stream value must not be visited */
};

static int each_cb(void *ctx, enum noa_lb_cat cat, struct noa_str name, struct noa_str value)
{
    struct each_ctx *c = ctx;
    c->n++;
    if (cat == NOA_LB_STREAM && noa_str_eq_c(name, "app"))
        c->saw_stream_app = 1;
    (void)value;
    return 0;
}

static void test_each_and_long_names(void **state)
{
    (void)state;
    struct noa_lbuilder b;
    noa_lbuilder_init(&b);
    struct noa_labels s = stream_of("{a=\"1\"}");
    noa_lbuilder_reset_stream(&b, &s);
    char longname[400];
    memset(longname, 'x', sizeof(longname));
    struct noa_str ln = {longname, sizeof(longname)};
    noa_lbuilder_add_meta(&b, ln, NOA_STR("m"));
    noa_lbuilder_add_parsed(&b, ln, NOA_STR("p"));
    struct noa_buf want = {0};
    noa_buf_append(&want, longname, sizeof(longname));
    noa_buf_append(&want, "_extracted", 10);
    struct noa_str v;
    assert_true(noa_lbuilder_get(&b, (struct noa_str){want.data, want.len}, &v));
    assert_true(noa_str_eq_c(v, "p"));
    noa_buf_fini(&want);
    /* each visits visible labels only */
    noa_lbuilder_set(&b, NOA_LB_PARSED, NOA_STR("a"), NOA_STR("over"));
    struct each_ctx c = {0};
    noa_lbuilder_each(&b, each_cb, &c);
    assert_int_equal(c.n, 3); /* a (parsed), long name (meta), long_extracted */
    assert_false(c.saw_stream_app);
    noa_lbuilder_fini(&b);
}

static int keep_cb(void *ctx, struct noa_str name, struct noa_str value)
{
    (void)ctx;
    (void)value;
    return noa_str_eq_c(name, "env") || noa_str_eq_c(name, "lvl");
}

static void test_retain(void **state)
{
    (void)state;
    struct noa_lbuilder b;
    noa_lbuilder_init(&b);
    struct noa_labels s = stream_of("{app=\"a\", env=\"prod\", job=\"j\"}");
    noa_lbuilder_reset_stream(&b, &s);
    noa_lbuilder_add_meta(&b, NOA_STR("trace"), NOA_STR("t"));
    noa_lbuilder_add_parsed(&b, NOA_STR("lvl"), NOA_STR("info"));
    noa_lbuilder_set(&b, NOA_LB_PARSED, NOA_STR("app"), NOA_STR("over")); /* hides stream app */
    noa_lbuilder_add_parsed(&b, NOA_STR("x"), NOA_STR("1"));
    noa_lbuilder_set_err(&b, NOA_STR("E"), NOA_STR(""));
    noa_lbuilder_retain(&b, keep_cb, NULL);
    assert_string_equal(final(&b), "{__error__=\"E\", env=\"prod\", lvl=\"info\"}");
    assert_false(noa_lbuilder_has(&b, NOA_STR("app"))); /* both app values are gone */
    noa_lbuilder_fini(&b);
}

/* mark/rewind: what the filter-first path uses to parse a line twice. */
static void test_mark_rewind(void **state)
{
    (void)state;
    struct noa_lbuilder b;
    noa_lbuilder_init(&b);
    struct noa_labels s = stream_of("{app=\"a\", env=\"prod\"}");
    noa_lbuilder_reset_stream(&b, &s);
    for (int line = 0; line < 3; line++) {
        noa_lbuilder_reset(&b);
        noa_lbuilder_add_meta(&b, NOA_STR("trace"), NOA_STR("t1"));
        struct noa_lbuilder_mark m;
        assert_int_equal(noa_lbuilder_mark(&b, &m), 1);
        noa_lbuilder_add_parsed(&b, NOA_STR("app"), NOA_STR("p"));
        noa_lbuilder_add_parsed(&b, NOA_STR("trace"), NOA_STR("p2"));
        /* enough labels to grow the index past its first size */
        for (int i = 0; i < 100; i++) {
            char n[16];
            snprintf(n, sizeof(n), "k%d", i);
            noa_lbuilder_add_parsed(&b, noa_str_c(n), NOA_STR("v"));
        }
        noa_lbuilder_set_err(&b, NOA_STR("E"), NOA_STR("D"));
        noa_lbuilder_rewind(&b, &m);
        assert_string_equal(final(&b), "{app=\"a\", env=\"prod\", trace=\"t1\"}");
        struct noa_str v;
        assert_false(noa_lbuilder_get(&b, NOA_STR("k5"), &v));
        assert_true(noa_lbuilder_get(&b, NOA_STR("trace"), &v) && noa_str_eq_c(v, "t1"));
        /* a full parse after the rewind: first wins again from scratch */
        assert_int_equal(noa_lbuilder_add_parsed(&b, NOA_STR("k5"), NOA_STR("w")), 1);
        assert_int_equal(noa_lbuilder_add_parsed(&b, NOA_STR("k5"), NOA_STR("x")), 0);
        noa_lbuilder_add_parsed(&b, NOA_STR("app"), NOA_STR("q"));
        assert_string_equal(final(&b), "{app=\"a\", app_extracted=\"q\", env=\"prod\", "
                                       "k5=\"w\", trace=\"t1\"}");
        /* not markable: parsed labels, an error, a deleted stream label */
        assert_int_equal(noa_lbuilder_mark(&b, &m), 0);
        noa_lbuilder_reset(&b);
        noa_lbuilder_set_err(&b, NOA_STR("E"), NOA_STR(""));
        assert_int_equal(noa_lbuilder_mark(&b, &m), 0);
        noa_lbuilder_reset(&b);
        noa_lbuilder_del(&b, NOA_STR("env"));
        assert_int_equal(noa_lbuilder_mark(&b, &m), 0);
    }
    noa_lbuilder_fini(&b);
}

/* Many labels, deletes in the middle: lookups stay right (hash index). */
static void test_many_labels_and_deletes(void **state)
{
    (void)state;
    struct noa_lbuilder b;
    noa_lbuilder_init(&b);
    struct noa_labels s = stream_of("{k7=\"s\"}");
    noa_lbuilder_reset_stream(&b, &s);
    char n[16], val[16];
    for (int line = 0; line < 2; line++) {
        noa_lbuilder_reset(&b);
        for (int i = 0; i < 300; i++) {
            snprintf(n, sizeof(n), "k%d", i);
            snprintf(val, sizeof(val), "v%d", i);
            noa_lbuilder_add_parsed(&b, noa_str_c(n), noa_str_c(val));
        }
        for (int i = 0; i < 300; i += 3) {
            snprintf(n, sizeof(n), "k%d", i);
            noa_lbuilder_del(&b, noa_str_c(n));
        }
        for (int i = 0; i < 300; i++) {
            struct noa_str v;
            snprintf(n, sizeof(n), "k%d", i);
            snprintf(val, sizeof(val), "v%d", i);
            int has = noa_lbuilder_get(&b, noa_str_c(n), &v);
            if (i == 7) /* the stream label wins; the parsed one was renamed */
                assert_true(has && noa_str_eq_c(v, "s"));
            else if (i % 3 == 0)
                assert_false(has);
            else
                assert_true(has && noa_str_eq_c(v, val));
        }
        struct noa_str v;
        assert_true(noa_lbuilder_get(&b, NOA_STR("k7_extracted"), &v) && noa_str_eq_c(v, "v7"));
        struct noa_labels out;
        noa_lbuilder_labels(&b, &out);
        assert_int_equal(out.n, 201); /* 200 kept parsed + the stream k7 */
    }
    noa_lbuilder_fini(&b);
}

/* The final set is sorted by name, for small sets (insertion sort) and
 * large ones (qsort), names sharing prefixes included. */
static void test_labels_sorted(void **state)
{
    (void)state;
    struct noa_lbuilder b;
    noa_lbuilder_init(&b);
    struct noa_labels s = stream_of("{a=\"1\", ab=\"2\", z=\"3\"}");
    noa_lbuilder_reset_stream(&b, &s);
    static const unsigned counts[] = {0, 1, 5, 45, 46, 47, 60, 300};
    char n[32];
    for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
        noa_lbuilder_reset(&b);
        for (unsigned i = 0; i < counts[c]; i++) {
            /* a scrambled order; names share prefixes (a, ab, abc...) */
            unsigned k = (i * 7919u) % (counts[c] ? counts[c] : 1);
            snprintf(n, sizeof(n), "%.*s%u", (int)(k % 4 + 1), "abcd", k);
            noa_lbuilder_add_parsed(&b, noa_str_c(n), NOA_STR("v"));
        }
        struct noa_labels out;
        noa_lbuilder_labels(&b, &out);
        assert_int_equal(out.n, counts[c] + 3); /* + the stream labels */
        for (uint32_t i = 1; i < out.n; i++)
            assert_true(noa_str_cmp(out.v[i - 1].name, out.v[i].name) < 0);
    }
    noa_lbuilder_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parsed_collides_with_stream),
        cmocka_unit_test(test_three_way_clash),
        cmocka_unit_test(test_set_overrides_and_delete),
        cmocka_unit_test(test_error_pair),
        cmocka_unit_test(test_aliasing_and_growth),
        cmocka_unit_test(test_each_and_long_names),
        cmocka_unit_test(test_retain),
        cmocka_unit_test(test_mark_rewind),
        cmocka_unit_test(test_many_labels_and_deletes),
        cmocka_unit_test(test_labels_sorted),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    noa_arena_fini(&arena);
    return rc;
}
