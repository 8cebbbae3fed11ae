/*
 * Tests for common/yaml: tree shape and positions, yaml.v2 scalar rules,
 * anchors/aliases/merges, errors with file:line:col, limits, and
 * environment expansion. Single-threaded.
 */
#include "common/yaml.h"
#include "common/mem.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static struct noa_yaml_doc *parse_ok(const char *text)
{
    struct noa_yaml_doc *doc = NULL;
    struct noa_error err = {0};
    int rc = noa_yaml_parse(text, strlen(text), "t.yaml", NULL, &doc, &err);
    if (rc)
        fail_msg("unexpected parse error: %s", err.msg);
    return doc;
}

static int parse_err(const char *text, struct noa_error *err)
{
    struct noa_yaml_doc *doc = NULL;
    memset(err, 0, sizeof(*err));
    int rc = noa_yaml_parse(text, strlen(text), "t.yaml", NULL, &doc, err);
    assert_null(doc);
    return rc;
}

static void test_tree_and_positions(void **state)
{
    (void)state;
    struct noa_yaml_doc *doc = parse_ok("server:\n"
                                        "  http_listen_port: 3100\n"
                                        "  name: 'quoted'\n"
                                        "list:\n"
                                        "  - a\n"
                                        "  - \"b\"\n"
                                        "flow: {x: 1, y: [2, 3]}\n");
    const struct noa_yaml_node *root = doc->root;
    assert_int_equal(root->kind, NOA_YAML_MAP);
    assert_int_equal(root->n, 3);
    assert_string_equal(root->pairs[0].key->str, "server");
    assert_int_equal(root->pairs[0].key->line, 1);
    assert_int_equal(root->pairs[0].key->col, 1);
    const struct noa_yaml_node *port = noa_yaml_path(root, "server.http_listen_port");
    assert_non_null(port);
    assert_string_equal(port->str, "3100");
    assert_int_equal(port->line, 2);
    assert_int_equal(port->col, 21);
    assert_string_equal(port->file, "t.yaml");
    assert_int_equal(port->style, NOA_YAML_PLAIN);
    const struct noa_yaml_node *name = noa_yaml_path(root, "server.name");
    assert_int_equal(name->style, NOA_YAML_SINGLE_QUOTED);
    assert_string_equal(name->str, "quoted");
    const struct noa_yaml_node *list = noa_yaml_get(root, "list");
    assert_int_equal(list->kind, NOA_YAML_SEQ);
    assert_int_equal(list->n, 2);
    assert_int_equal(list->items[1]->style, NOA_YAML_DOUBLE_QUOTED);
    assert_int_equal(list->items[1]->line, 6);
    const struct noa_yaml_node *y = noa_yaml_path(root, "flow.y");
    assert_int_equal(y->kind, NOA_YAML_SEQ);
    assert_string_equal(y->items[1]->str, "3");
    assert_null(noa_yaml_path(root, "server.nope"));
    assert_null(noa_yaml_path(root, "list.a"));
    noa_yaml_free(doc);
}

static void test_empty_document(void **state)
{
    (void)state;
    struct noa_yaml_doc *doc = parse_ok("# only a comment\n");
    assert_null(doc->root);
    noa_yaml_free(doc);
    doc = parse_ok("");
    assert_null(doc->root);
    noa_yaml_free(doc);
    doc = parse_ok("---\nx: 1\n...\n");
    assert_string_equal(noa_yaml_get(doc->root, "x")->str, "1");
    noa_yaml_free(doc);
    noa_yaml_free(NULL);
}

static void test_scalar_rules(void **state)
{
    (void)state;
    struct noa_yaml_doc *doc = parse_ok("a: yes\n"
                                        "b: \"yes\"\n"
                                        "c: Off\n"
                                        "d: !!bool \"true\"\n"
                                        "e: 0x1F\n"
                                        "f: 1_000\n"
                                        "g: 0o17\n"
                                        "h: 017\n"
                                        "i: '12'\n"
                                        "j: 1.5\n"
                                        "k: 1e3\n"
                                        "l: .inf\n"
                                        "m: -12\n"
                                        "n: ~\n"
                                        "o:\n"
                                        "p: !!str null\n"
                                        "q: 0b101\n"
                                        "r: 9223372036854775808\n"
                                        "s: hello\n"
                                        "t: nan\n"
                                        "u: 'null'\n");
    const struct noa_yaml_node *r = doc->root;
    int b = -1;
    int64_t i = 0;
    double d = 0;
    assert_int_equal(noa_yaml_bool(noa_yaml_get(r, "a"), &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(noa_yaml_bool(noa_yaml_get(r, "b"), &b), NOA_EINVAL);
    assert_int_equal(noa_yaml_bool(noa_yaml_get(r, "c"), &b), 0);
    assert_int_equal(b, 0);
    assert_int_equal(noa_yaml_bool(noa_yaml_get(r, "d"), &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(noa_yaml_int64(noa_yaml_get(r, "e"), &i), 0);
    assert_int_equal(i, 31);
    assert_int_equal(noa_yaml_int64(noa_yaml_get(r, "f"), &i), 0);
    assert_int_equal(i, 1000);
    assert_int_equal(noa_yaml_int64(noa_yaml_get(r, "g"), &i), 0);
    assert_int_equal(i, 15);
    assert_int_equal(noa_yaml_int64(noa_yaml_get(r, "h"), &i), 0);
    assert_int_equal(i, 15);
    assert_int_equal(noa_yaml_int64(noa_yaml_get(r, "i"), &i), NOA_EINVAL);
    assert_int_equal(noa_yaml_int64(noa_yaml_get(r, "j"), &i), NOA_EINVAL);
    assert_int_equal(noa_yaml_int64(noa_yaml_get(r, "k"), &i), 0);
    assert_int_equal(i, 1000);
    assert_int_equal(noa_yaml_int64(noa_yaml_get(r, "m"), &i), 0);
    assert_int_equal(i, -12);
    assert_int_equal(noa_yaml_int64(noa_yaml_get(r, "q"), &i), 0);
    assert_int_equal(i, 5);
    assert_int_equal(noa_yaml_int64(noa_yaml_get(r, "r"), &i), NOA_EINVAL);
    assert_int_equal(noa_yaml_int64(noa_yaml_get(r, "s"), &i), NOA_EINVAL);
    assert_int_equal(noa_yaml_double(noa_yaml_get(r, "j"), &d), 0);
    assert_true(d == 1.5);
    assert_int_equal(noa_yaml_double(noa_yaml_get(r, "l"), &d), 0);
    assert_true(d > 1e308);
    assert_int_equal(noa_yaml_double(noa_yaml_get(r, "t"), &d), NOA_EINVAL);
    assert_int_equal(noa_yaml_double(noa_yaml_get(r, "e"), &d), 0);
    assert_true(d == 31);
    assert_true(noa_yaml_is_null(noa_yaml_get(r, "n")));
    assert_true(noa_yaml_is_null(noa_yaml_get(r, "o")));
    assert_false(noa_yaml_is_null(noa_yaml_get(r, "p")));
    assert_false(noa_yaml_is_null(noa_yaml_get(r, "s")));
    assert_false(noa_yaml_is_null(noa_yaml_get(r, "u")));
    assert_true(noa_yaml_is_null(NULL));
    assert_string_equal(noa_yaml_type_name(noa_yaml_get(r, "a")), "!!bool");
    assert_string_equal(noa_yaml_type_name(noa_yaml_get(r, "b")), "!!str");
    assert_string_equal(noa_yaml_type_name(noa_yaml_get(r, "e")), "!!int");
    assert_string_equal(noa_yaml_type_name(noa_yaml_get(r, "j")), "!!float");
    assert_string_equal(noa_yaml_type_name(noa_yaml_get(r, "n")), "!!null");
    assert_string_equal(noa_yaml_type_name(noa_yaml_get(r, "p")), "!!str");
    assert_string_equal(noa_yaml_type_name(noa_yaml_get(r, "s")), "!!str");
    assert_string_equal(noa_yaml_type_name(r), "!!map");
    noa_yaml_free(doc);
}

static void test_anchors_and_merges(void **state)
{
    (void)state;
    struct noa_yaml_doc *doc = parse_ok("base: &b\n"
                                        "  x: 1\n"
                                        "  y: 2\n"
                                        "other: &o {z: 3}\n"
                                        "copy: *b\n"
                                        "merged:\n"
                                        "  <<: [*b, *o]\n"
                                        "  y: 20\n"
                                        "s: &s scalar\n"
                                        "t: *s\n");
    const struct noa_yaml_node *r = doc->root;
    assert_ptr_equal(noa_yaml_get(r, "copy"), noa_yaml_get(r, "base"));
    const struct noa_yaml_node *m = noa_yaml_get(r, "merged");
    assert_int_equal(m->n, 3);
    assert_string_equal(noa_yaml_get(m, "x")->str, "1");
    assert_string_equal(noa_yaml_get(m, "y")->str, "20"); /* explicit keys win */
    assert_string_equal(noa_yaml_get(m, "z")->str, "3");
    assert_null(noa_yaml_get(m, "<<"));
    assert_string_equal(noa_yaml_get(r, "t")->str, "scalar");
    noa_yaml_free(doc);
}

static void test_errors_have_positions(void **state)
{
    (void)state;
    struct noa_error err;
    assert_int_equal(parse_err("a: 1\nb: *nope\n", &err), NOA_EINVAL);
    assert_string_equal(err.msg, "t.yaml:2:4: unknown anchor 'nope' referenced");
    assert_int_equal(err.line, 2);
    assert_int_equal(err.col, 4);

    assert_int_equal(parse_err("a: 1\nb: 2\na: 3\n", &err), NOA_EINVAL);
    assert_string_equal(err.msg, "t.yaml:3:1: mapping key \"a\" already defined at line 1");

    assert_int_equal(parse_err("a: 1\n  b: 2\n", &err), NOA_EINVAL);
    assert_int_equal(strncmp(err.msg, "t.yaml:2:", 9), 0);
    assert_int_equal(err.line, 2);

    assert_int_equal(parse_err("a: [1, 2\n", &err), NOA_EINVAL);
    assert_int_equal(strncmp(err.msg, "t.yaml:", 7), 0);
    assert_true(err.line >= 1);

    assert_int_equal(parse_err("? [a]\n: 1\n", &err), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "complex mapping keys"));

    assert_int_equal(parse_err("a: 1\n---\nb: 2\n", &err), NOA_EINVAL);
    assert_string_equal(err.msg,
                        "t.yaml:2:1: more than one YAML document in the input (only one is "
                        "allowed)");

    assert_int_equal(parse_err("a: &x [*x]\n", &err), NOA_EINVAL); /* self-reference */
    assert_non_null(strstr(err.msg, "unknown anchor 'x'"));

    assert_int_equal(parse_err("a:\n  <<: 5\n", &err), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "map merge"));

    /* Invalid UTF-8 is a reader error, still with a position. */
    assert_int_equal(parse_err("a: 1\nb: \xff\xfe\n", &err), NOA_EINVAL);
    assert_int_equal(err.line, 2);
}

static void test_limits(void **state)
{
    (void)state;
    struct noa_error err = {0};
    struct noa_yaml_doc *doc = NULL;
    /* Depth. */
    char deep[300];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    deep[200] = '\0';
    assert_int_equal(parse_err(deep, &err), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "nesting deeper than 64 levels"));
    struct noa_yaml_limits lim = {.max_depth = 200};
    assert_int_equal(noa_yaml_parse(deep, 200, "d", &lim, &doc, &err), 0);
    noa_yaml_free(doc);

    /* Alias expansion ("billion laughs") is counted, not performed. */
    const char *laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                         "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                         "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                         "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                         "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                         "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
    assert_int_equal(parse_err(laughs, &err), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "document too large"));

    /* Bytes. */
    lim = (struct noa_yaml_limits){.max_bytes = 8};
    assert_int_equal(noa_yaml_parse("a: 123456789", 12, "s", &lim, &doc, &err), NOA_ETOOBIG);
    assert_null(doc);
}

static char *expand_ok(const char *in)
{
    struct noa_buf out = {0};
    struct noa_error err = {0};
    int rc = noa_yaml_expand_env(in, strlen(in), "e.yaml", &out, &err);
    if (rc)
        fail_msg("expand failed: %s", err.msg);
    noa_buf_cstr(&out);
    return noa_buf_steal(&out, NULL);
}

static void check_expand(const char *in, const char *want)
{
    char *got = expand_ok(in);
    assert_string_equal(got, want);
    noa_free(got);
}

static void test_expand_env(void **state)
{
    (void)state;
    setenv("NOA_T_PORT", "3200", 1);
    setenv("NOA_T_EMPTY", "", 1);
    unsetenv("NOA_T_UNSET");
    check_expand("port: ${NOA_T_PORT}\n", "port: 3200\n");
    check_expand("port: $NOA_T_PORT.\n", "port: 3200.\n");
    check_expand("a: ${NOA_T_UNSET}|", "a: |");
    check_expand("a: ${NOA_T_UNSET:-dflt}", "a: dflt");
    check_expand("a: ${NOA_T_EMPTY:-dflt}", "a: dflt");
    check_expand("a: ${NOA_T_EMPTY-dflt}", "a: ");
    check_expand("a: ${NOA_T_UNSET-dflt}", "a: dflt");
    check_expand("a: ${NOA_T_PORT:-dflt}", "a: 3200");
    check_expand("a: ${NOA_T_UNSET:-${NOA_T_PORT}}", "a: 3200");
    check_expand("a: ${NOA_T_UNSET:-/var/${NOA_T_UNSET:-x}/y}", "a: /var/x/y");
}

static void test_expand_env_literals(void **state)
{
    (void)state;
    setenv("NOA_T_PORT", "3200", 1);
    check_expand("a: $$NOA_T_PORT $$ $5 a$ \"^x$\"", "a: $NOA_T_PORT $ $5 a$ \"^x$\"");
    struct noa_buf out = {0};
    struct noa_error err = {0};
    const char *bad = "a: 1\nb: ${NOA_T_PORT\n";
    assert_int_equal(noa_yaml_expand_env(bad, strlen(bad), "e.yaml", &out, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "e.yaml:2:4: unterminated ${ (missing '}')");
    assert_int_equal(out.len, 0);
    const char *req = "x: ${NOA_T_UNSET:?must be set}";
    assert_int_equal(noa_yaml_expand_env(req, strlen(req), "e.yaml", &out, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "e.yaml:1:4: NOA_T_UNSET: must be set");
    const char *badname = "x: ${1ABC}";
    assert_int_equal(noa_yaml_expand_env(badname, strlen(badname), NULL, &out, &err),
                     NOA_EINVAL);
    assert_int_equal(strncmp(err.msg, "<input>:1:4: bad environment variable", 37), 0);
    noa_buf_fini(&out);
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/noa_yaml_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "server:\n  http_listen_port: ${NOA_T_LOAD:-3999}\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    unsetenv("NOA_T_LOAD");
    struct noa_yaml_doc *doc = NULL;
    struct noa_error err = {0};
    assert_int_equal(noa_yaml_load_file(path, 1, NULL, &doc, &err), 0);
    assert_string_equal(noa_yaml_path(doc->root, "server.http_listen_port")->str, "3999");
    assert_string_equal(doc->file, path);
    noa_yaml_free(doc);
    assert_int_equal(noa_yaml_load_file(path, 0, NULL, &doc, &err), 0);
    assert_string_equal(noa_yaml_path(doc->root, "server.http_listen_port")->str,
                        "${NOA_T_LOAD:-3999}");
    noa_yaml_free(doc);
    unlink(path);
    assert_int_equal(noa_yaml_load_file(path, 0, NULL, &doc, &err), -ENOENT);
    assert_null(doc);
    assert_non_null(strstr(err.msg, "No such file"));
    assert_int_equal(noa_yaml_load_file("/tmp", 0, NULL, &doc, &err), -EISDIR);
}

static void test_error_helper(void **state)
{
    (void)state;
    struct noa_yaml_doc *doc = parse_ok("a:\n  b: x\n");
    struct noa_error err = {0};
    assert_int_equal(noa_yaml_error(&err, noa_yaml_path(doc->root, "a.b"), "bad %s", "thing"),
                     NOA_EINVAL);
    assert_string_equal(err.msg, "t.yaml:2:6: bad thing");
    assert_int_equal(err.code, NOA_EINVAL);
    noa_yaml_free(doc);
}

static void test_no_leaks_on_errors(void **state)
{
    (void)state;
    int64_t before = noa_mem_in_use();
    struct noa_error err;
    parse_err("a: &x {b: [1, 2, {c: *y}]}\n", &err);
    parse_err("a:\n  b: 1\n  b: 2\n", &err);
    parse_err("[[[[[[", &err);
    assert_int_equal(noa_mem_in_use(), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_and_positions), cmocka_unit_test(test_empty_document),
        cmocka_unit_test(test_scalar_rules),       cmocka_unit_test(test_anchors_and_merges),
        cmocka_unit_test(test_errors_have_positions), cmocka_unit_test(test_limits),
        cmocka_unit_test(test_expand_env),         cmocka_unit_test(test_expand_env_literals),
        cmocka_unit_test(test_load_file),          cmocka_unit_test(test_error_helper),
        cmocka_unit_test(test_no_leaks_on_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
