/* Unit tests for common/form: Go's query-string and urlencoded-body rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/form.h"
#include "common/http_server.h"

#include <stdlib.h>
#include <string.h>

static void assert_str(const struct noa_str *s, const char *want)
{
    assert_non_null(s);
    assert_int_equal(s->len, strlen(want));
    assert_memory_equal(s->p, want, s->len);
    assert_int_equal(s->p[s->len], '\0'); /* decoded strings are C strings too */
}

static void test_unescape(void **state)
{
    (void)state;
    char out[64];
    size_t n = 0;
    const char *in = "a%20b+c%2Bd%e2%82%AC";
    assert_int_equal(noa_form_unescape(in, strlen(in), 1, out, &n, NULL), 0);
    assert_int_equal(n, 10);
    assert_memory_equal(out, "a b c+d\xe2\x82\xac", 10);
    assert_int_equal(noa_form_unescape(in, strlen(in), 0, out, &n, NULL), 0);
    assert_int_equal(n, 10);
    assert_memory_equal(out, "a b+c+d\xe2\x82\xac", 10);

    struct noa_error err = {0};
    assert_int_equal(noa_form_unescape("x%zz", 4, 1, out, &n, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "invalid URL escape \"%zz\"");
    assert_int_equal(noa_form_unescape("x%4", 3, 1, out, &n, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "invalid URL escape \"%4\"");
    assert_int_equal(noa_form_unescape("%", 1, 1, out, &n, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "invalid URL escape \"%\"");
    assert_int_equal(noa_form_unescape("%4g", 3, 1, out, &n, &err), NOA_EINVAL);
    /* %00 decodes to a NUL byte inside the value. */
    assert_int_equal(noa_form_unescape("a%00b", 5, 1, out, &n, NULL), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "a\0b", 3);
}

static void test_unescape_path(void **state)
{
    (void)state;
    struct noa_arena a = {0};
    struct noa_str out;
    assert_int_equal(noa_form_unescape_path(&a, NOA_STR("/label/a%2Fb+c/values"), &out, NULL), 0);
    assert_str(&out, "/label/a/b+c/values");
    assert_int_equal(noa_form_unescape_path(&a, NOA_STR("/%G0"), &out, NULL), NOA_EINVAL);
    noa_arena_fini(&a);
}

static void test_clean_path(void **state)
{
    (void)state;
    struct noa_arena a = {0};
    struct {
        const char *in, *out;
    } cases[] = {
        {"/", "/"},
        {"", "/"},
        {"//", "/"},
        {"/a/b", "/a/b"},
        {"/a/b/", "/a/b/"},
        {"//loki/api/v1/labels", "/loki/api/v1/labels"},
        {"/a/./b", "/a/b"},
        {"/a/../b", "/b"},
        {"/a/b/..", "/a"},
        {"/a/../", "/"},
        {"/../../x", "/x"},
        {"/a/b/../../..", "/"},
        {"/a//b///", "/a/b/"},
        {"/..a/.b./...", "/..a/.b./..."},
        {"*", "/*"},
        {"a/b", "/a/b"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct noa_str in = noa_str_c(cases[i].in);
        struct noa_str out = noa_form_clean_path(&a, in);
        assert_int_equal(out.len, strlen(cases[i].out));
        assert_memory_equal(out.p, cases[i].out, out.len);
        /* Already clean: the very same slice comes back. */
        if (!strcmp(cases[i].in, cases[i].out))
            assert_ptr_equal(out.p, in.p);
    }
    noa_arena_fini(&a);
}

static void test_escape_path(void **state)
{
    (void)state;
    struct noa_buf b = {0};
    noa_form_escape_path(&b, NOA_STR("/a b/{x}/%/\xc3\xa9/$&+,:;=@-_.~?#"));
    assert_string_equal(noa_buf_cstr(&b), "/a%20b/%7Bx%7D/%25/%C3%A9/$&+,:;=@-_.~%3F%23");
    noa_buf_reset(&b);
    noa_form_escape_path(&b, (struct noa_str){"a\0b", 3});
    assert_string_equal(noa_buf_cstr(&b), "a%00b");
    noa_buf_fini(&b);
}

static void test_parse_query(void **state)
{
    (void)state;
    struct noa_arena a = {0};
    struct noa_form f = {0};
    const char *q = "query=%7Bjob%3D%22api%22%7D+%7C%3D+%22x+y%22&limit=10&empty=&flag"
                    "&&match[]=%7Ba%3D%221%22%7D&match%5B%5D=%7Bb%3D%222%22%7D&limit=20&sp=a+b";
    assert_int_equal(noa_form_parse(&f, &a, noa_str_c(q), NULL), 0);
    assert_int_equal(f.n, 8);
    assert_str(noa_form_get(&f, "query"), "{job=\"api\"} |= \"x y\"");
    assert_str(noa_form_get(&f, "limit"), "10");
    assert_str(noa_form_get_last(&f, "limit"), "20");
    assert_str(noa_form_get(&f, "empty"), "");
    assert_str(noa_form_get(&f, "flag"), "");
    assert_str(noa_form_get(&f, "sp"), "a b");
    assert_null(noa_form_get(&f, "missing"));
    assert_null(noa_form_get_last(&f, "missing"));
    assert_int_equal(noa_form_count(&f, "match[]"), 2);
    assert_int_equal(noa_form_count(&f, "missing"), 0);
    size_t it = 0;
    assert_str(noa_form_next(&f, "match[]", &it), "{a=\"1\"}");
    assert_str(noa_form_next(&f, "match[]", &it), "{b=\"2\"}");
    assert_null(noa_form_next(&f, "match[]", &it));
    assert_null(noa_form_next(&f, "match[]", &it));
    /* Order is kept. */
    assert_str(&f.pairs[0].name, "query");
    assert_str(&f.pairs[7].name, "sp");
    noa_arena_fini(&a);
}

static void test_parse_errors_keep_good_pairs(void **state)
{
    (void)state;
    struct noa_arena a = {0};
    struct noa_form f = {0};
    struct noa_error err = {0};
    int rc = noa_form_parse(&f, &a, NOA_STR("a=1&b=%zz&c=3&d%=4&e=5"), &err);
    assert_int_equal(rc, NOA_EINVAL);
    assert_string_equal(err.msg, "invalid URL escape \"%zz\""); /* the first error */
    assert_int_equal(f.n, 3);
    assert_str(noa_form_get(&f, "a"), "1");
    assert_null(noa_form_get(&f, "b"));
    assert_str(noa_form_get(&f, "c"), "3");
    assert_null(noa_form_get(&f, "d"));
    assert_str(noa_form_get(&f, "e"), "5");

    struct noa_form g = {0};
    rc = noa_form_parse(&g, &a, NOA_STR("a=1;b=2&c=3"), &err);
    assert_int_equal(rc, NOA_EINVAL);
    assert_string_equal(err.msg, "invalid semicolon separator in query");
    assert_int_equal(g.n, 1);
    assert_str(noa_form_get(&g, "c"), "3");
    /* Go rejects a ';' in the value too; an encoded one is fine. */
    struct noa_form h = {0};
    assert_int_equal(noa_form_parse(&h, &a, NOA_STR("x=a;b&y=a%3Bb"), NULL), NOA_EINVAL);
    assert_null(noa_form_get(&h, "x"));
    assert_str(noa_form_get(&h, "y"), "a;b");
    noa_arena_fini(&a);
}

static void test_parse_edge_cases(void **state)
{
    (void)state;
    struct noa_arena a = {0};
    struct noa_form f = {0};
    assert_int_equal(noa_form_parse(&f, &a, NOA_STR(""), NULL), 0);
    assert_int_equal(f.n, 0);
    assert_int_equal(noa_form_parse(&f, &a, NOA_STR("&&&"), NULL), 0);
    assert_int_equal(f.n, 0);
    assert_int_equal(noa_form_parse(&f, &a, NOA_STR("=v&k==x"), NULL), 0);
    assert_int_equal(f.n, 2);
    assert_str(noa_form_get(&f, ""), "v");
    assert_str(noa_form_get(&f, "k"), "=x");
    /* Appending keeps what was there. */
    assert_int_equal(noa_form_parse(&f, &a, NOA_STR("z=1"), NULL), 0);
    assert_int_equal(f.n, 3);
    assert_str(noa_form_get(&f, ""), "v");
    assert_str(noa_form_get(&f, "z"), "1");
    noa_arena_fini(&a);
}

/* A request as the server would hand it over. */
static struct noa_http_request make_request(unsigned method, const char *query, const char *ct,
                                            const char *body, struct noa_http_header *hdr)
{
    struct noa_http_request r;
    memset(&r, 0, sizeof(r));
    r.method = method;
    r.query = noa_str_c(query);
    r.body = noa_str_c(body);
    if (ct) {
        hdr->name = NOA_STR("content-type");
        hdr->value = noa_str_c(ct);
        r.headers = hdr;
        r.n_headers = 1;
    }
    return r;
}

static void test_parse_request_precedence(void **state)
{
    (void)state;
    struct noa_arena a = {0};
    struct noa_http_header hdr;
    struct noa_http_request r = make_request(NOA_HTTP_POST, "query=url&limit=5&match[]=u",
                                             "Application/X-WWW-Form-Urlencoded; charset=utf-8",
                                             "query=%7Bjob%3D%22body%22%7D&match[]=b", &hdr);
    struct noa_form f = {0};
    assert_int_equal(noa_form_parse_request(&f, &a, &r, NULL), 0);
    /* r.Form.Get: the body's value wins; URL-only values are still there. */
    assert_str(noa_form_get(&f, "query"), "{job=\"body\"}");
    assert_str(noa_form_get(&f, "limit"), "5");
    size_t it = 0;
    assert_str(noa_form_next(&f, "match[]", &it), "b");
    assert_str(noa_form_next(&f, "match[]", &it), "u");

    /* GET bodies and other content types are not parsed. */
    struct noa_form g = {0};
    r = make_request(NOA_HTTP_GET, "query=url", "application/x-www-form-urlencoded", "query=b",
                     &hdr);
    assert_int_equal(noa_form_parse_request(&g, &a, &r, NULL), 0);
    assert_str(noa_form_get(&g, "query"), "url");
    assert_int_equal(g.n, 1);
    struct noa_form h = {0};
    r = make_request(NOA_HTTP_POST, "query=url", "application/json", "query=b", &hdr);
    assert_int_equal(noa_form_parse_request(&h, &a, &r, NULL), 0);
    assert_int_equal(h.n, 1);
    struct noa_form k = {0};
    r = make_request(NOA_HTTP_POST, "query=url", NULL, "query=b", &hdr);
    assert_int_equal(noa_form_parse_request(&k, &a, &r, NULL), 0);
    assert_int_equal(k.n, 1);
    noa_arena_fini(&a);
}

static void test_parse_request_errors(void **state)
{
    (void)state;
    struct noa_arena a = {0};
    struct noa_http_header hdr;
    struct noa_error err = {0};
    /* The body's error is reported before the URL's; both are parsed. */
    struct noa_http_request r = make_request(
        NOA_HTTP_POST, "a=1&u=%zy", "application/x-www-form-urlencoded", "b=%zz&c=2", &hdr);
    struct noa_form f = {0};
    assert_int_equal(noa_form_parse_request(&f, &a, &r, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "invalid URL escape \"%zz\"");
    assert_str(noa_form_get(&f, "a"), "1");
    assert_str(noa_form_get(&f, "c"), "2");

    /* A form body over 10 MiB is refused, the URL still parsed. */
    size_t big = NOA_FORM_MAX_BODY + 1;
    char *body = malloc(big + 1);
    memset(body, 'x', big);
    body[big] = '\0';
    r = make_request(NOA_HTTP_PUT, "q=1", "application/x-www-form-urlencoded", body, &hdr);
    struct noa_form g = {0};
    assert_int_equal(noa_form_parse_request(&g, &a, &r, &err), NOA_ETOOBIG);
    assert_string_equal(err.msg, "http: POST too large");
    assert_str(noa_form_get(&g, "q"), "1");
    assert_int_equal(g.n, 1);
    free(body);
    noa_arena_fini(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_unescape_path),
        cmocka_unit_test(test_clean_path),
        cmocka_unit_test(test_escape_path),
        cmocka_unit_test(test_parse_query),
        cmocka_unit_test(test_parse_errors_keep_good_pairs),
        cmocka_unit_test(test_parse_edge_cases),
        cmocka_unit_test(test_parse_request_precedence),
        cmocka_unit_test(test_parse_request_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
