/*
 * Unit tests for shipper/relabel.c: Prometheus relabelling semantics, table
 * driven (cases modelled on the behaviours Prometheus's relabel tests pin
 * down, written afresh), Go Regexp.Expand rules, and the validation
 * messages. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/yaml.h"
#include "shipper/kvlist.h"
#include "shipper/relabel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fills l from "a=foo\nb=bar" (values may hold anything but '\n'). */
static void labels_from(struct noa_kvlist *l, const char *spec)
{
    noa_kvlist_reset(l);
    const char *p = spec;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        assert_non_null(eq);
        noa_kvlist_set(l, (struct noa_str){p, (size_t)(eq - p)},
                       (struct noa_str){eq + 1, n - (size_t)(eq - p) - 1});
        p += n;
        if (*p == '\n')
            p++;
    }
}

/* The labels sorted, as "a=foo,b=bar". */
static void labels_str(struct noa_kvlist *l, struct noa_buf *out)
{
    struct noa_labels ls;
    noa_buf_reset(out);
    noa_kvlist_labels(l, &ls);
    for (uint32_t i = 0; i < ls.n; i++) {
        if (i)
            noa_buf_putc(out, ',');
        noa_buf_append_str(out, ls.v[i].name);
        noa_buf_putc(out, '=');
        noa_buf_append_str(out, ls.v[i].value);
    }
    noa_buf_cstr(out);
}

static int compile(const char *yaml, struct noa_relabel **out, struct noa_error *err)
{
    struct noa_yaml_doc *doc = NULL;
    int rc = noa_yaml_parse(yaml, strlen(yaml), "relabel.yaml", NULL, &doc, err);
    if (rc == 0)
        rc = noa_relabel_parse(doc->root, out, err);
    noa_yaml_free(doc);
    return rc;
}

struct tcase {
    const char *name;
    const char *input;
    const char *rules;
    const char *output; /* NULL: dropped */
};

static const struct tcase cases[] = {
    {"replace with ${1} twice", "a=foo\nb=bar\nc=baz",
     "- source_labels: [a]\n  regex: f(.*)\n  target_label: d\n  replacement: ch${1}-ch${1}\n",
     "a=foo,b=bar,c=baz,d=choo-choo"},
    {"chained replaces over joined sources", "a=foo\nb=bar\nc=baz",
     "- source_labels: [a, b]\n  regex: f(.*);(.*)r\n  target_label: a\n  replacement: b${1}${2}m\n"
     "- source_labels: [c, a]\n  regex: (b).*b(.*)ba(.*)\n  target_label: d\n"
     "  replacement: $1$2$2$3\n",
     "a=boobam,b=bar,c=baz,d=boooom"},
    {"drop on match", "a=foo", "- source_labels: [a]\n  regex: .*o.*\n  action: drop\n", NULL},
    {"drop without match keeps", "a=foo", "- source_labels: [a]\n  regex: x.*\n  action: drop\n",
     "a=foo"},
    {"keep without match drops", "a=foo",
     "- source_labels: [a]\n  regex: no-match\n  action: keep\n", NULL},
    {"keep is anchored", "a=foo", "- source_labels: [a]\n  regex: o\n  action: keep\n", NULL},
    {"keep with match", "a=foo", "- source_labels: [a]\n  regex: f.*\n  action: keep\n", "a=foo"},
    {"dot matches newline", "a=x",
     "- source_labels: [a]\n  regex: x\n  target_label: m\n"
     "  replacement: \"1\\n2\"\n- source_labels: [m]\n  regex: 1.2\n  action: keep\n",
     "a=x,m=1\n2"},
    {"missing source is empty", "a=boo",
     "- source_labels: [notexists]\n  regex: (.*)\n  target_label: d\n  replacement: xyz\n",
     "a=boo,d=xyz"},
    {"missing source not matching", "a=boo",
     "- source_labels: [notexists]\n  regex: f(.*)\n  target_label: d\n  replacement: xyz\n",
     "a=boo"},
    {"empty result deletes target", "a=foo\nb=keep",
     "- source_labels: [a]\n  regex: (f).*\n  target_label: b\n  replacement: \"\"\n", "a=foo"},
    {"defaults copy value", "a=foo", "- source_labels: [a]\n  target_label: b\n", "a=foo,b=foo"},
    {"regex without groups gives empty $1: delete", "a=foo\nb=old",
     "- source_labels: [a]\n  regex: f.*\n  target_label: b\n", "a=foo"},
    {"hashmod", "a=foo\nb=bar\nc=baz",
     "- source_labels: [c]\n  target_label: d\n  modulus: 1000\n  action: hashmod\n",
     "a=foo,b=bar,c=baz,d=976"},
    {"hashmod of joined", "a=foo\nb=bar",
     "- source_labels: [a, b]\n  target_label: h\n  modulus: 7\n  action: HashMod\n",
     "a=foo,b=bar,h=6"},
    {"labelmap literal", "a=foo\nb=bar\nc=baz",
     "- regex: a\n  replacement: foo\n  action: labelmap\n", "a=foo,b=bar,c=baz,foo=foo"},
    {"labelmap meta",
     "__meta_kubernetes_pod_label_app=web\n__meta_kubernetes_pod_label_tier=fe\nx=1",
     "- regex: __meta_kubernetes_pod_label_(.+)\n  action: labelmap\n",
     "__meta_kubernetes_pod_label_app=web,__meta_kubernetes_pod_label_tier=fe,app=web,tier=fe,x=1"},
    {"labelmap walks a snapshot", "a=1\nb=2",
     "- regex: (.*)\n  replacement: x_$1\n  action: labelmap\n", "a=1,b=2,x_a=1,x_b=2"},
    {"labeldrop", "a=foo\nb=bar\nc=baz", "- regex: (b|c)\n  action: labeldrop\n", "a=foo"},
    {"labelkeep", "a=foo\nb=bar\nc=baz", "- regex: (b|c)\n  action: labelkeep\n", "b=bar,c=baz"},
    {"labeldrop anchored", "abc=1\nb=2", "- regex: b\n  action: labeldrop\n", "abc=1"},
    {"lowercase", "foo=bAr123Foo",
     "- source_labels: [foo]\n  target_label: foo\n  action: lowercase\n", "foo=bar123foo"},
    {"uppercase joined", "foo=bAr\nbaz=x",
     "- source_labels: [foo, baz]\n  target_label: up\n  action: uppercase\n",
     "baz=x,foo=bAr,up=BAR;X"},
    {"keepequal equal", "a=foo\nb=foo",
     "- source_labels: [a]\n  target_label: b\n  action: keepequal\n", "a=foo,b=foo"},
    {"keepequal differs", "a=foo\nb=bar",
     "- source_labels: [a]\n  target_label: b\n  action: keepequal\n", NULL},
    {"dropequal equal", "a=foo\nb=foo",
     "- source_labels: [a]\n  target_label: b\n  action: dropequal\n", NULL},
    {"dropequal differs", "a=foo\nb=bar",
     "- source_labels: [a]\n  target_label: b\n  action: dropequal\n", "a=foo,b=bar"},
    {"target from groups", "a=some-name-value",
     "- source_labels: [a]\n  regex: some-([^-]+)-([^,]+)\n  target_label: ${1}\n"
     "  replacement: ${2}\n",
     "a=some-name-value,name=value"},
    {"target invalid after expansion", "a=some-name-0",
     "- source_labels: [a]\n  regex: some-([^-]+)-([^,]+)\n  target_label: ${3}\n"
     "  replacement: ${1}\n",
     "a=some-name-0"},
    {"target starting with digit after expansion", "a=some-name-0",
     "- source_labels: [a]\n  regex: some-([^-]+)-([^,]+)\n  target_label: ${2}\n"
     "  replacement: ${1}\n",
     "a=some-name-0"},
    {"$1x names group 1x", "a=foo",
     "- source_labels: [a]\n  regex: (f)oo\n  target_label: b\n  replacement: $1x\n", "a=foo"},
    {"${1}x", "a=foo",
     "- source_labels: [a]\n  regex: (f)oo\n  target_label: b\n  replacement: ${1}x\n",
     "a=foo,b=fx"},
    {"named group", "a=foo",
     "- source_labels: [a]\n  regex: (?P<first>f)(?P<rest>o+)\n  target_label: b\n"
     "  replacement: $rest-${first}\n",
     "a=foo,b=oo-f"},
    {"$$ and malformed $", "a=foo",
     "- source_labels: [a]\n  regex: (f)oo\n  target_label: b\n  replacement: $$1-$-${x\n",
     "a=foo,b=$1-$-${x"},
    {"helm app fallback to pod name", "__meta_kubernetes_pod_name=web-abcde",
     "- source_labels: [__meta_kubernetes_pod_label_app, __meta_kubernetes_pod_name]\n"
     "  regex: ^;*([^;]+)(;.*)?$\n  target_label: app\n",
     "__meta_kubernetes_pod_name=web-abcde,app=web-abcde"},
    {"helm path rule", "__meta_kubernetes_pod_uid=u-1\n__meta_kubernetes_pod_container_name=c",
     "- source_labels: [__meta_kubernetes_pod_uid, __meta_kubernetes_pod_container_name]\n"
     "  separator: /\n  target_label: __path__\n  replacement: /var/log/pods/*$1/*.log\n",
     "__meta_kubernetes_pod_container_name=c,__meta_kubernetes_pod_uid=u-1,"
     "__path__=/var/log/pods/*u-1/c/*.log"},
    {"helm hash rule does not fire without annotation", "__meta_kubernetes_pod_container_name=c",
     "- source_labels: [__meta_kubernetes_pod_annotationpresent_kubernetes_io_config_hash,"
     " __meta_kubernetes_pod_annotation_kubernetes_io_config_hash,"
     " __meta_kubernetes_pod_container_name]\n"
     "  separator: /\n  regex: true/(.*)\n  target_label: __path__\n"
     "  replacement: /var/log/pods/*$1/*.log\n",
     "__meta_kubernetes_pod_container_name=c"},
    {"controller hash strip", "__meta_kubernetes_pod_controller_name=web-5d8f9c7b6f",
     "- source_labels: [__meta_kubernetes_pod_controller_name]\n"
     "  regex: ([0-9a-z-.]+?)(-[0-9a-f]{8,10})?\n  target_label: __tmp_controller_name\n",
     "__meta_kubernetes_pod_controller_name=web-5d8f9c7b6f,__tmp_controller_name=web"},
    {"empty input values vanish", "a=\nb=x", "", "b=x"},
    {"no rules keeps", "a=1", "[]", "a=1"},
};

static void test_cases(void **state)
{
    (void)state;
    struct noa_kvlist l;
    struct noa_buf got = {0};
    noa_kvlist_init(&l);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct tcase *c = &cases[i];
        struct noa_relabel *r = NULL;
        struct noa_error err = {0};
        int rc = compile(c->rules, &r, &err);
        if (rc != 0)
            fail_msg("case %s: compile failed: %s", c->name, err.msg);
        labels_from(&l, c->input);
        int keep = noa_relabel_process(r, &l);
        if (!c->output) {
            if (keep)
                fail_msg("case %s: expected drop", c->name);
        } else {
            if (!keep)
                fail_msg("case %s: unexpected drop", c->name);
            labels_str(&l, &got);
            if (strcmp(got.data, c->output) != 0)
                fail_msg("case %s: got %s want %s", c->name, got.data, c->output);
        }
        noa_relabel_free(r);
    }
    noa_buf_fini(&got);
    noa_kvlist_fini(&l);
}

struct ecase {
    const char *rules;
    const char *msg; /* substring of the error */
    int line, col;
};

static const struct ecase errors[] = {
    {"- source_labels: [a]\n  action: hashmod\n  target_label: x\n",
     "relabel configuration for hashmod requires non-zero modulus", 1, 3},
    {"- source_labels: [a]\n",
     "relabel configuration for replace action requires 'target_label' value", 1, 3},
    {"- source_labels: [a]\n  action: lowercase\n",
     "relabel configuration for lowercase action requires 'target_label' value", 1, 3},
    {"- source_labels: [a]\n  target_label: \"1bad\"\n",
     "\"1bad\" is invalid 'target_label' for replace action", 1, 3},
    {"- source_labels: [a]\n  target_label: x\n  replacement: y\n  action: uppercase\n",
     "'replacement' can not be set for uppercase action", 1, 3},
    {"- regex: (.*)\n  replacement: \"a-b\"\n  action: labelmap\n",
     "\"a-b\" is invalid 'replacement' for labelmap action", 1, 3},
    {"- source_labels: [a]\n  target_label: ${1}\n  modulus: 3\n  action: hashmod\n",
     "\"${1}\" is invalid 'target_label' for hashmod action", 1, 3},
    {"- source_labels: [a]\n  target_label: b\n  regex: x\n  action: keepequal\n",
     "keepequal action requires only 'source_labels' and `target_label`, and no other fields", 1,
     3},
    {"- source_labels: [a]\n  regex: x\n  action: labeldrop\n",
     "labeldrop action requires only 'regex', and no other fields", 1, 3},
    {"- target_label: x\n  action: labelkeep\n",
     "labelkeep action requires only 'regex', and no other fields", 1, 3},
    {"- action: frobnicate\n", "unknown relabel action \"frobnicate\"", 1, 11},
    {"- action: ~\n  target_label: x\n", "relabel action cannot be empty", 1, 11},
    {"- source_labels: [a]\n  target_label: ${1}\n  action: lowercase\n",
     "\"${1}\" is invalid 'target_label' for lowercase action", 1, 3},
    {"- source_labels: [a]\n  target_label: x\n  separator: \"\"\n  action: dropequal\n",
     "dropequal action requires only", 1, 3},
    {"- source_labels: [a, 1b]\n  target_label: x\n", "1b is not a valid label name", 1, 22},
    {"- source_labels: a\n  target_label: x\n", "cannot unmarshal !!str into model.LabelNames", 1,
     18},
    {"- regex: \"(\"\n  target_label: x\n", "error parsing regexp", 1, 10},
    {"- regex: a(?=b)\n  target_label: x\n", "error parsing regexp", 1, 10},
    {"- target_label: x\n  sourcelabels: [a]\n",
     "field sourcelabels not found in type relabel.plain", 2, 3},
    {"- modulus: -1\n  target_label: x\n", "into uint64 (modulus)", 1, 12},
    {"relabel: 1\n", "cannot unmarshal !!map into []*relabel.Config", 1, 1},
    {"- 5\n", "cannot unmarshal !!int into relabel.Config", 1, 3},
};

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
        struct noa_relabel *r = NULL;
        struct noa_error err = {0};
        int rc = compile(errors[i].rules, &r, &err);
        if (rc != NOA_EINVAL)
            fail_msg("error case %zu: rc %d, want NOA_EINVAL", i, rc);
        assert_null(r);
        if (!strstr(err.msg, errors[i].msg))
            fail_msg("error case %zu: message \"%s\" lacks \"%s\"", i, err.msg, errors[i].msg);
        if (err.line != errors[i].line || err.col != errors[i].col)
            fail_msg("error case %zu: at %d:%d, want %d:%d (%s)", i, err.line, err.col,
                     errors[i].line, errors[i].col, err.msg);
        assert_non_null(strstr(err.msg, "relabel.yaml:"));
    }
}

static void test_defaults_and_names(void **state)
{
    (void)state;
    struct noa_relabel *r = NULL;
    struct noa_error err = {0};
    assert_int_equal(compile("- action: Replace\n  target_label: x\n", &r, &err), 0);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->v[0].action, NOA_RELABEL_REPLACE);
    assert_string_equal(r->v[0].separator, ";");
    assert_string_equal(r->v[0].regex_text, "(.*)");
    assert_string_equal(r->v[0].replacement, "$1");
    assert_int_equal(r->v[0].has_source, 0);
    noa_relabel_free(r);
    /* A null list is an empty rule list; NULL rules keep everything. */
    assert_int_equal(compile("~\n", &r, &err), 0);
    assert_int_equal(r->n, 0);
    noa_relabel_free(r);
    struct noa_kvlist l;
    noa_kvlist_init(&l);
    labels_from(&l, "a=1");
    assert_int_equal(noa_relabel_process(NULL, &l), 1);
    assert_int_equal(l.n, 1);
    noa_kvlist_fini(&l);
    assert_true(noa_relabel_valid_name("_a1", 3));
    assert_false(noa_relabel_valid_name("1a", 2));
    assert_false(noa_relabel_valid_name("a-b", 3));
    assert_false(noa_relabel_valid_name("", 0));
    assert_string_equal(noa_relabel_action_name(NOA_RELABEL_DROPEQUAL), "dropequal");
}

static void test_print(void **state)
{
    (void)state;
    struct noa_relabel *r = NULL;
    struct noa_error err = {0};
    struct noa_buf out = {0};
    assert_int_equal(compile("- source_labels: [a, b]\n  separator: /\n  target_label: job\n"
                             "- regex: x\n  action: labeldrop\n",
                             &r, &err),
                     0);
    noa_relabel_print(r, 2, &out);
    noa_buf_cstr(&out);
    assert_string_equal(out.data, "  - source_labels: [a, b]\n"
                                  "    separator: \"/\"\n"
                                  "    target_label: \"job\"\n"
                                  "    regex: \"(.*)\"\n"
                                  "    replacement: \"$1\"\n"
                                  "    action: replace\n"
                                  "  - separator: \";\"\n"
                                  "    regex: \"x\"\n"
                                  "    replacement: \"$1\"\n"
                                  "    action: labeldrop\n");
    /* What print writes parses back to the same rules. */
    struct noa_relabel *r2 = NULL;
    assert_int_equal(compile(out.data, &r2, &err), 0);
    assert_int_equal(r2->n, 2);
    assert_string_equal(r2->v[0].separator, "/");
    assert_int_equal(r2->v[1].action, NOA_RELABEL_LABELDROP);
    noa_relabel_free(r2);
    noa_relabel_free(r);
    noa_buf_fini(&out);
}

/* The per-entry form allocates nothing once its scratch and the label set
 * have warmed up (an allocation under injected failure aborts the test). */
static void test_apply_no_alloc(void **state)
{
    (void)state;
    struct noa_relabel *r = NULL;
    struct noa_error err = {0};
    assert_int_equal(compile("- source_labels: [__journal__systemd_unit]\n  target_label: unit\n"
                             "- source_labels: [__journal_priority]\n  target_label: prio\n"
                             "  regex: '([0-7])'\n  replacement: p$1\n"
                             "- regex: __journal_(.+)\n  replacement: j_$1\n  action: labelmap\n"
                             "- source_labels: [unit]\n  modulus: 4\n  target_label: shard\n"
                             "  action: hashmod\n"
                             "- regex: __.*\n  action: labeldrop\n",
                             &r, &err),
                     0);
    const char *in = "__journal__systemd_unit=ssh.service\n__journal_priority=6\n"
                     "__journal__hostname=h1\njob=journal";
    struct noa_relabel_scratch s = {0};
    struct noa_kvlist l;
    struct noa_buf got = {0};
    noa_kvlist_init(&l);
    for (int i = 0; i < 2; i++) {
        labels_from(&l, in);
        assert_int_equal(noa_relabel_apply(r, &l, &s), 1);
    }
    labels_from(&l, in);
    noa_mem_fail_after(0);
    int keep = noa_relabel_apply(r, &l, &s);
    noa_mem_fail_after(-1);
    assert_int_equal(keep, 1);
    labels_str(&l, &got);
    assert_string_equal(got.data, "j__hostname=h1,j__systemd_unit=ssh.service,j_priority=6,"
                                  "job=journal,prio=p6,shard=2,unit=ssh.service");
    noa_buf_fini(&got);
    noa_kvlist_fini(&l);
    noa_relabel_scratch_fini(&s);
    noa_relabel_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_defaults_and_names),
        cmocka_unit_test(test_print),
        cmocka_unit_test(test_apply_no_alloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
