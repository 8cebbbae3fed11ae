/*
 * Tests for shipper/stage_labels.c: labels, static_labels,
 * structured_metadata, labelallow, labeldrop and tenant, with Promtail's
 * documented examples, its validation errors (file:line:col) and the
 * run-time edge cases (missing sources, invalid UTF-8, empty values).
 */
#include "shipper/stage.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

typedef int (*ctor_fn)(const struct noa_yaml_node *, const struct noa_stage_ctx *,
                       struct noa_stage **, struct noa_error *);

/* Builds the stage from YAML "<name>: <config>" (the node under the name). */
static int build(ctor_fn ctor, const char *yaml, struct noa_stage **out, struct noa_error *err)
{
    struct noa_yaml_doc *doc = NULL;
    struct noa_error perr = {0};
    if (noa_yaml_parse(yaml, strlen(yaml), "cfg.yaml", NULL, &doc, &perr) != 0)
        fail_msg("yaml: %s", perr.msg);
    assert_non_null(doc->root);
    assert_int_equal(doc->root->kind, NOA_YAML_MAP);
    int rc = ctor(doc->root->pairs[0].value, NULL, out, err);
    noa_yaml_free(doc);
    return rc;
}

static struct noa_stage *must_build(ctor_fn ctor, const char *yaml)
{
    struct noa_stage *st = NULL;
    struct noa_error err = {0};
    if (build(ctor, yaml, &st, &err) != 0)
        fail_msg("build %s: %s", yaml, err.msg);
    return st;
}

static void expect_error(ctor_fn ctor, const char *yaml, const char *msg)
{
    struct noa_stage *st = NULL;
    struct noa_error err = {0};
    assert_int_equal(build(ctor, yaml, &st, &err), NOA_EINVAL);
    assert_null(st);
    if (strcmp(err.msg, msg) != 0)
        fail_msg("yaml %s: got error '%s', want '%s'", yaml, err.msg, msg);
}

/* An entry with labels "a=b,c=d" style and extracted seeded from them. */
static void entry_with(struct noa_entry *e, const char *const *labels, const char *const *extra)
{
    noa_entry_init(e);
    for (; labels && labels[0]; labels += 2)
        noa_kvlist_set(&e->labels, noa_str_c(labels[0]), noa_str_c(labels[1]));
    noa_kvlist_copy(&e->extracted, &e->labels);
    for (; extra && extra[0]; extra += 2)
        noa_kvlist_set(&e->extracted, noa_str_c(extra[0]), noa_str_c(extra[1]));
}

static char fmt_buf[1024];

static const char *labels_of(struct noa_kvlist *l)
{
    struct noa_buf b = {0};
    noa_kvlist_format(l, &b);
    snprintf(fmt_buf, sizeof(fmt_buf), "%s", b.len ? noa_buf_cstr(&b) : "{}");
    noa_buf_fini(&b);
    return fmt_buf;
}

static void run(struct noa_stage *st, struct noa_entry *e)
{
    assert_int_equal(st->ops->process(st, e, NULL, 0), NOA_STAGE_PASS);
}

static void test_labels(void **state)
{
    (void)state;
    /* Promtail's doc example: labels from extracted, empty source = same name */
    struct noa_stage *st =
        must_build(noa_stage_labels_new, "labels:\n  stream:\n  lvl: level\n  missing:\n");
    assert_string_equal(st->ops->name, "labels");
    struct noa_entry e;
    entry_with(&e, (const char *[]){"job", "varlogs", NULL},
               (const char *[]){"stream", "stderr", "level", "warn", NULL});
    run(st, &e);
    assert_string_equal(labels_of(&e.labels), "{job=\"varlogs\", lvl=\"warn\", stream=\"stderr\"}");
    /* overwrite an existing label; invalid UTF-8 is skipped; empty removes */
    noa_entry_fini(&e);
    entry_with(&e, (const char *[]){"stream", "old", "lvl", "info", NULL},
               (const char *[]){"stream", "", "level", "\xff\xfe", NULL});
    run(st, &e);
    assert_string_equal(labels_of(&e.labels), "{lvl=\"info\"}");
    noa_entry_fini(&e);
    st->ops->free(st);
    /* numbers as sources keep their text */
    st = must_build(noa_stage_labels_new, "labels: {code: status}\n");
    entry_with(&e, NULL, (const char *[]){"status", "500", NULL});
    run(st, &e);
    assert_string_equal(labels_of(&e.labels), "{code=\"500\"}");
    noa_entry_fini(&e);
    st->ops->free(st);
    /* an empty map is allowed (a no-op) */
    st = must_build(noa_stage_labels_new, "labels: {}\n");
    st->ops->free(st);
}

static void test_labels_errors(void **state)
{
    (void)state;
    expect_error(noa_stage_labels_new, "labels:\n",
                 "cfg.yaml:1:8: label stage config cannot be empty");
    expect_error(noa_stage_labels_new, "labels:\n  good: x\n  0bad: y\n",
                 "cfg.yaml:3:3: invalid label name: 0bad");
    expect_error(noa_stage_labels_new, "labels:\n  a-b:\n",
                 "cfg.yaml:2:3: invalid label name: a-b");
    expect_error(noa_stage_labels_new, "labels: [a, b]\n",
                 "cfg.yaml:1:9: cannot unmarshal !!seq into map[string]string");
    expect_error(noa_stage_labels_new, "labels:\n  a: {x: 1}\n",
                 "cfg.yaml:2:6: cannot unmarshal !!map into string");
    expect_error(noa_stage_static_labels_new, "static_labels:\n",
                 "cfg.yaml:1:15: static_labels stage config cannot be empty");
    expect_error(noa_stage_static_labels_new, "static_labels: {\"a.b\": x}\n",
                 "cfg.yaml:1:17: invalid label name: a.b");
    expect_error(noa_stage_structured_metadata_new, "structured_metadata: {\"9\": x}\n",
                 "cfg.yaml:1:23: invalid label name: 9");
}

static void test_static_labels(void **state)
{
    (void)state;
    struct noa_stage *st =
        must_build(noa_stage_static_labels_new, "static_labels:\n  custom: value\n  port: 8080\n"
                                                "  skipped: \"\"\n  nothing:\n");
    struct noa_entry e;
    entry_with(&e, (const char *[]){"job", "x", "skipped", "keep", NULL}, NULL);
    run(st, &e);
    /* empty and null values are skipped (the label stays as it was) */
    assert_string_equal(labels_of(&e.labels),
                        "{custom=\"value\", job=\"x\", port=\"8080\", skipped=\"keep\"}");
    noa_entry_fini(&e);
    st->ops->free(st);
}

static void test_structured_metadata(void **state)
{
    (void)state;
    struct noa_stage *st = must_build(noa_stage_structured_metadata_new,
                                      "structured_metadata:\n  trace_id:\n  pod: pod\n"
                                      "  user: uid\n  absent:\n");
    struct noa_entry e;
    entry_with(&e, (const char *[]){"job", "x", "pod", "web-1", NULL},
               (const char *[]){"trace_id", "abc123", "uid", "42", NULL});
    run(st, &e);
    /* pod moved from labels into metadata (same value), others from extracted */
    assert_string_equal(labels_of(&e.labels), "{job=\"x\"}");
    assert_string_equal(labels_of(&e.meta), "{pod=\"web-1\", trace_id=\"abc123\", user=\"42\"}");
    noa_entry_fini(&e);
    /* a label added after seeding (not in extracted) is taken from labels */
    entry_with(&e, NULL, NULL);
    noa_kvlist_set(&e.labels, NOA_STR("pod"), NOA_STR("late"));
    run(st, &e);
    assert_string_equal(labels_of(&e.labels), "{}");
    assert_string_equal(labels_of(&e.meta), "{pod=\"late\"}");
    noa_entry_fini(&e);
    /* a label with another value than the extracted one stays */
    entry_with(&e, (const char *[]){"pod", "a", NULL}, NULL);
    noa_kvlist_set(&e.extracted, NOA_STR("pod"), NOA_STR("b"));
    run(st, &e);
    assert_string_equal(labels_of(&e.labels), "{pod=\"a\"}");
    assert_string_equal(labels_of(&e.meta), "{pod=\"b\"}");
    noa_entry_fini(&e);
    st->ops->free(st);
}

static void test_labelallow_labeldrop(void **state)
{
    (void)state;
    struct noa_stage *allow =
        must_build(noa_stage_labelallow_new, "labelallow:\n  - kubernetes_pod_name\n  - app\n");
    struct noa_stage *drop =
        must_build(noa_stage_labeldrop_new, "labeldrop:\n  - kubernetes_pod_name\n  - nothere\n");
    struct noa_entry e;
    entry_with(&e,
               (const char *[]){"kubernetes_pod_name", "p", "kubernetes_container_name", "c", "app",
                                "web", "__tenant_id__", "t1", "zone", "z", NULL},
               NULL);
    run(allow, &e);
    assert_string_equal(labels_of(&e.labels),
                        "{__tenant_id__=\"t1\", app=\"web\", kubernetes_pod_name=\"p\"}");
    run(drop, &e);
    assert_string_equal(labels_of(&e.labels), "{__tenant_id__=\"t1\", app=\"web\"}");
    /* extracted data is not touched */
    struct noa_str v;
    assert_true(noa_kvlist_get(&e.extracted, NOA_STR("zone"), &v));
    noa_entry_fini(&e);
    allow->ops->free(allow);
    drop->ops->free(drop);
    expect_error(noa_stage_labelallow_new, "labelallow:\n",
                 "cfg.yaml:1:12: labelallow stage config cannot be empty");
    expect_error(noa_stage_labeldrop_new, "labeldrop: {a: b}\n",
                 "cfg.yaml:1:12: cannot unmarshal !!map into []string");
}

static void test_tenant(void **state)
{
    (void)state;
    struct noa_stage *st = must_build(noa_stage_tenant_new, "tenant:\n  source: customer_id\n");
    struct noa_entry e;
    entry_with(&e, (const char *[]){"job", "x", NULL},
               (const char *[]){"customer_id", "team-a", NULL});
    run(st, &e);
    assert_string_equal(labels_of(&e.labels), "{__tenant_id__=\"team-a\", job=\"x\"}");
    noa_entry_fini(&e);
    /* missing source: the entry keeps the client's tenant */
    entry_with(&e, (const char *[]){"job", "x", NULL}, NULL);
    run(st, &e);
    assert_string_equal(labels_of(&e.labels), "{job=\"x\"}");
    noa_entry_fini(&e);
    st->ops->free(st);

    st = must_build(noa_stage_tenant_new, "tenant:\n  value: fixed\n");
    entry_with(&e, (const char *[]){"__tenant_id__", "old", NULL}, NULL);
    run(st, &e);
    assert_string_equal(labels_of(&e.labels), "{__tenant_id__=\"fixed\"}");
    noa_entry_fini(&e);
    st->ops->free(st);

    st = must_build(noa_stage_tenant_new, "tenant:\n  label: namespace\n");
    entry_with(&e, (const char *[]){"namespace", "prod", NULL}, NULL);
    run(st, &e);
    assert_string_equal(labels_of(&e.labels), "{__tenant_id__=\"prod\", namespace=\"prod\"}");
    noa_entry_fini(&e);
    st->ops->free(st);

    expect_error(noa_stage_tenant_new, "tenant:\n  source: a\n  value: b\n",
                 "cfg.yaml:2:3: label, source and value are mutually exclusive: you should set "
                 "source, value or label but not all");
    expect_error(noa_stage_tenant_new, "tenant:\n  source: \"\"\n",
                 "cfg.yaml:2:3: label, source or value config are required");
    expect_error(noa_stage_tenant_new, "tenant:\n  sauce: a\n",
                 "cfg.yaml:2:3: field sauce not found in type stages.TenantConfig");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_labels_errors),
        cmocka_unit_test(test_static_labels),
        cmocka_unit_test(test_structured_metadata),
        cmocka_unit_test(test_labelallow_labeldrop),
        cmocka_unit_test(test_tenant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
