/* Tests for shipper/jmespath.c: a table of expressions over documents with
 * the text Promtail's json stage would store, and compile errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "shipper/jmespath.h"

#include <stdio.h>
#include <string.h>

struct jcase {
    const char *doc;
    const char *expr;
    int rc;             /* 1 value, 0 null, negative eval error */
    const char *want;   /* with rc 1 */
};

static const struct jcase cases[] = {
    {"{\"a\":\"x\"}", "a", 1, "x"},
    {"{\"a\":{\"b\":{\"c\":\"d\"}}}", "a.b.c", 1, "d"},
    {"{\"a\":{\"b\":1}}", "a.x", 0, NULL},
    {"{\"a-b\":\"v\"}", "\"a-b\"", 1, "v"},
    {"{\"n\":42}", "n", 1, "42"},
    {"{\"n\":1.5}", "n", 1, "1.5"},
    {"{\"n\":1e21}", "n", 1, "1000000000000000000000"},
    {"{\"n\":-0.000001}", "n", 1, "-0.000001"},
    {"{\"n\":12345678901234567890}", "n", 1, "12345678901234567000"},
    {"{\"t\":true,\"f\":false}", "t", 1, "true"},
    {"{\"t\":true,\"f\":false}", "f", 1, "false"},
    {"{\"z\":null}", "z", 0, NULL},
    {"{\"o\":{\"b\":2,\"a\":\"<&>\"}}", "o", 1, "{\"a\":\"\\u003c\\u0026\\u003e\",\"b\":2}"},
    {"{\"l\":[1,2.5,\"x\",null,{\"k\":1e-7}]}", "l", 1, "[1,2.5,\"x\",null,{\"k\":1e-7}]"},
    {"{\"l\":[\"a\",\"b\",\"c\"]}", "l[0]", 1, "a"},
    {"{\"l\":[\"a\",\"b\",\"c\"]}", "l[-1]", 1, "c"},
    {"{\"l\":[\"a\",\"b\",\"c\"]}", "l[5]", 0, NULL},
    {"{\"l\":[0,1,2,3,4,5]}", "l[1:3]", 1, "[1,2]"},
    {"{\"l\":[0,1,2,3,4,5]}", "l[::2]", 1, "[0,2,4]"},
    {"{\"l\":[0,1,2,3,4,5]}", "l[::-1]", 1, "[5,4,3,2,1,0]"},
    {"{\"l\":[0,1,2,3,4,5]}", "l[-2:]", 1, "[4,5]"},
    {"{\"p\":[{\"n\":\"a\"},{\"n\":\"b\"},{\"x\":1}]}", "p[*].n", 1, "[\"a\",\"b\"]"},
    {"{\"o\":{\"a\":{\"n\":1},\"b\":{\"n\":1}}}", "o.*.n", 1, "[1,1]"},
    {"{\"l\":[[1,2],[3],4]}", "l[]", 1, "[1,2,3,4]"},
    {"{\"p\":[{\"s\":\"up\",\"n\":\"a\"},{\"s\":\"down\",\"n\":\"b\"}]}", "p[?s=='down'].n", 1,
     "[\"b\"]"},
    {"{\"p\":[{\"v\":1},{\"v\":5},{\"v\":9}]}", "p[?v > `3`].v", 1, "[5,9]"},
    {"{\"p\":[{\"v\":1},{\"v\":5},{\"v\":9}]}", "p[?v > `3` && v < `9`].v | [0]", 1, "5"},
    {"{\"p\":[{\"a\":1,\"b\":true},{\"a\":2}]}", "p[?!b].a", 1, "[2]"},
    {"{\"a\":\"x\",\"b\":\"y\"}", "[a, b]", 1, "[\"x\",\"y\"]"},
    {"{\"a\":\"x\",\"b\":\"y\"}", "{one: a, two: b}", 1, "{\"one\":\"x\",\"two\":\"y\"}"},
    {"{\"a\":{\"b\":\"x\"}}", "a | b", 1, "x"},
    {"{\"a\":null,\"b\":\"y\"}", "a || b", 1, "y"},
    {"{\"a\":\"héllo\"}", "length(a)", 1, "5"},
    {"{\"o\":{\"b\":1,\"a\":2}}", "sort(keys(o))", 1, "[\"a\",\"b\"]"},
    {"{\"o\":{\"a\":2}}", "values(o)", 1, "[2]"},
    {"{\"n\":3}", "to_string(n)", 1, "3"},
    {"{\"l\":[\"a\",\"b\"]}", "join(', ', l)", 1, "a, b"},
    {"{\"l\":[\"a\",1]}", "join(', ', l)", NOA_EINVAL, NULL},
    {"{\"s\":\"foobar\"}", "contains(s, 'oba')", 1, "true"},
    {"{\"s\":\"foobar\"}", "starts_with(s, 'foo')", 1, "true"},
    {"{\"s\":\"foobar\"}", "ends_with(s, 'foo')", 1, "false"},
    {"{\"l\":[3,1,2]}", "max(l)", 1, "3"},
    {"{\"l\":[3,1,2]}", "min(l)", 1, "1"},
    {"{\"l\":[\"b\",\"a\"]}", "sort(l)", 1, "[\"a\",\"b\"]"},
    {"{\"l\":[]}", "max(l)", 0, NULL},
    {"{\"a\":1}", "`\"lit\"`", 1, "lit"},
    {"{\"a\":1}", "'raw'", 1, "raw"},
    {"{\"a\":1}", "@.a", 1, "1"},
    {"{\"a\":1}", "not_null(b, a)", 1, "1"},
    {"[1,2]", "[0]", 1, "1"},
    {"{\"a\":{\"b\":[{\"c\":[1,2]},{\"c\":[3]}]}}", "a.b[*].c[]", 1, "[1,2,3]"},
    {"{\"a\":1}", "length(a)", NOA_EINVAL, NULL}, /* a number has no length */
};

static void test_eval_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct jcase *c = &cases[i];
        struct noa_jmespath *q = NULL;
        struct noa_jmespath_doc *d = NULL;
        struct noa_error err = {0};
        int rc = noa_jmespath_compile(c->expr, strlen(c->expr), &q, &err);
        if (rc != 0)
            fprintf(stderr, "compile %s: %s\n", c->expr, err.msg);
        assert_int_equal(rc, 0);
        assert_int_equal(noa_jmespath_doc_parse(c->doc, strlen(c->doc), &d, &err), 0);
        struct noa_buf out = {0};
        rc = noa_jmespath_eval(q, d, &out);
        if (rc != c->rc || (c->want && (out.len != strlen(c->want) ||
                                        memcmp(out.data, c->want, out.len) != 0)))
            fprintf(stderr, "case %zu %s: rc %d out '%.*s'\n", i, c->expr, rc, (int)out.len,
                    out.data ? out.data : "");
        assert_int_equal(rc, c->rc);
        if (c->want) {
            assert_int_equal(out.len, strlen(c->want));
            assert_memory_equal(out.data, c->want, out.len);
        } else {
            assert_int_equal(out.len, 0);
        }
        noa_buf_fini(&out);
        noa_jmespath_doc_free(d);
        noa_jmespath_free(q);
    }
}

static void test_compile_errors(void **state)
{
    (void)state;
    static const struct {
        const char *expr;
        int col;
    } bad[] = {
        {"a.", 3}, {"a[", 3}, {"[?a==]", 6}, {"a.b)", 4}, {"\"unterminated", 1},
        {"a[1:2:3:4]", 8}, {"{a b}", 4}, {"a == == b", 6}, {"", 1}, {"a[::0]", 7},
        {"\"q\"(a)", 4}, {"a.[", 4}, {"length(a, a)", 7}, {"nosuch(a)", 7}, {"f(a b)", 5},
        {"length(a,)", 10}, {"not_null()", 9},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct noa_jmespath *q = NULL;
        struct noa_error err = {0};
        int rc = noa_jmespath_compile(bad[i].expr, strlen(bad[i].expr), &q, &err);
        if (rc != NOA_EINVAL || err.col != bad[i].col)
            fprintf(stderr, "%s: rc %d col %d %s\n", bad[i].expr, rc, err.col, err.msg);
        assert_int_equal(rc, NOA_EINVAL);
        assert_null(q);
        assert_int_equal(err.col, bad[i].col);
        assert_non_null(strstr(err.msg, "jmespath"));
    }
}

static void test_doc(void **state)
{
    (void)state;
    struct noa_jmespath_doc *d = NULL;
    struct noa_error err = {0};
    assert_int_equal(noa_jmespath_doc_parse("{\"a\":", 5, &d, &err), NOA_EINVAL);
    assert_null(d);
    assert_int_equal(noa_jmespath_doc_parse("[1]", 3, &d, &err), 0);
    assert_int_equal(noa_jmespath_doc_is_object(d), 0);
    noa_jmespath_doc_free(d);
    assert_int_equal(noa_jmespath_doc_parse(" {\"a\":1} ", 9, &d, &err), 0);
    assert_int_equal(noa_jmespath_doc_is_object(d), 1);
    noa_jmespath_doc_free(d);
}

/* The one-pass scanner must agree with the document path on every
 * document: same values, same nulls, same verdict on malformed text. */
static void test_scan_matches_eval(void **state)
{
    (void)state;
    static const char *const exprs[] = {"a", "b.c", "\"x-y\"", "n", "b.d.e", "t", "z", "s"};
    static const char *const docs[] = {
        "{\"a\":\"x\",\"b\":{\"c\":\"y\",\"d\":{\"e\":false}},\"x-y\":1.50,\"n\":-12}",
        " { \"a\" : \"esc\\\"\\u00e9\\ud83d\\ude00\\n\" , \"n\": 1e3 , \"t\": true } ",
        "{\"a\":1,\"a\":2,\"b\":{\"c\":1},\"b\":{\"x\":1}}",
        "{\"n\":123456789012345678,\"s\":\"\",\"z\":null,\"a\":[1,{\"a\":2}]}",
        "{\"n\":0.1,\"t\":-0,\"a\":-0.0,\"s\":1E-7,\"z\":12345678901234567890123}",
        "{\"\\u0061\":\"via escape\",\"b\":{\"\\u0063\":2,\"d\":{\"e\\n\":1}},\"x-\\u0079\":\"q\"}",
        "{\"a\":{\"k\":1}}", /* an object result: unsupported on the fast path */
        "{\"b\":[1,2]}",
        "{}",
        "[1]", "\"str\"", "{\"a\":1", "{\"a\":1}x", "{\"a\":01}", "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\q\"}", "{\"a\":1e400}", "{\"b\":1e400}", "{\"a\":\"\xff\"}",
        "{\"a\":tru}", "{\"a\":\"raw\ttab\"}", "{\"a\" 1}", "{\"a\":1,}", "",
        "{\"a\":[1,]}", "{\"a\":1.}", "{\"a\":-}", "{\"a\":\"\\u00\"}",
    };
    const size_t ne = sizeof(exprs) / sizeof(exprs[0]);
    struct noa_jmespath *q[8];
    for (size_t k = 0; k < ne; k++) {
        assert_int_equal(noa_jmespath_compile(exprs[k], strlen(exprs[k]), &q[k], NULL), 0);
        assert_int_equal(noa_jmespath_is_path(q[k]), 1);
    }
    struct noa_jmespath *notpath = NULL;
    assert_int_equal(noa_jmespath_compile("a[0]", 4, &notpath, NULL), 0);
    assert_int_equal(noa_jmespath_is_path(notpath), 0);
    noa_jmespath_free(notpath);
    int unsupp = 0;
    for (size_t d = 0; d < sizeof(docs) / sizeof(docs[0]); d++) {
        struct noa_buf out = {0}, one = {0};
        size_t off[8], vlen[8];
        int found[8];
        int rc = noa_jmespath_scan(docs[d], strlen(docs[d]), (const struct noa_jmespath *const *)q,
                                   ne, &out, off, vlen, found);
        struct noa_jmespath_doc *doc = NULL;
        int ok = noa_jmespath_doc_parse(docs[d], strlen(docs[d]), &doc, NULL) == 0 &&
                 noa_jmespath_doc_is_object(doc);
        if ((rc == NOA_EINVAL) != !ok)
            fprintf(stderr, "doc %zu: scan %d doc %d\n", d, rc, ok);
        assert_int_equal(rc == NOA_EINVAL, !ok);
        if (rc == NOA_EUNSUPP)
            unsupp++;
        for (size_t k = 0; rc == 0 && k < ne; k++) {
            noa_buf_reset(&one);
            int e = noa_jmespath_eval(q[k], doc, &one);
            if (e != found[k] || one.len != vlen[k] ||
                (one.len && memcmp(one.data, out.data + off[k], one.len) != 0))
                fprintf(stderr, "doc %zu expr %s: eval %d '%.*s' scan %d '%.*s'\n", d, exprs[k],
                        e, (int)one.len, one.data ? one.data : "", found[k], (int)vlen[k],
                        out.data ? out.data + off[k] : "");
            assert_int_equal(e, found[k]);
            assert_int_equal(one.len, vlen[k]);
            if (one.len)
                assert_memory_equal(one.data, out.data + off[k], one.len);
        }
        noa_jmespath_doc_free(doc);
        noa_buf_fini(&out);
        noa_buf_fini(&one);
    }
    assert_int_equal(unsupp, 2);
    for (size_t k = 0; k < ne; k++)
        noa_jmespath_free(q[k]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_table),
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_doc),
        cmocka_unit_test(test_scan_matches_eval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
