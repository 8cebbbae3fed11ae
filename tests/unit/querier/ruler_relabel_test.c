/* Unit tests for querier/ruler_relabel.c: every action over alert label
 * sets with the results Prometheus's relabel package gives (hashmod
 * against MD5 values from Python's hashlib), Go's
 * replacement expansion ($1, ${1}, $name, $$, "$1_x" naming a group
 * "1_x"), anchoring, and the config errors with their positions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/mem.h"
#include "common/yaml.h"
#include "querier/ruler_relabel.h"

#include <stdio.h>
#include <string.h>

static struct noa_ruler_relabel *compile(const char *yaml, struct noa_error *err, int *rc)
{
    struct noa_yaml_doc *doc = NULL;
    struct noa_ruler_relabel *rl = NULL;
    assert_int_equal(noa_yaml_parse(yaml, strlen(yaml), "cfg.yaml", NULL, &doc, err), 0);
    *rc = noa_ruler_relabel_new(doc->root, &rl, err);
    noa_yaml_free(doc);
    return rl;
}

/* "a=1,b=2" -> owned kv array (unsorted as written). */
static struct noa_ruler_kv *kvs(const char *spec, unsigned *n)
{
    struct noa_ruler_kv *v = noa_xcalloc(16, sizeof(*v));
    *n = 0;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", spec);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        v[*n].name = noa_xstrndup(t, (size_t)(eq - t));
        v[*n].value = noa_xstrdup(eq + 1);
        (*n)++;
    }
    return v;
}

static void kvs_free(struct noa_ruler_kv *v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        noa_free(v[i].name);
        noa_free(v[i].value);
    }
    noa_free(v);
}

/* Applies rl to spec; "DROP" when dropped, else the sorted labels as a=1,b=2. */
static void run(const struct noa_ruler_relabel *rl, const char *spec, char *out, size_t cap)
{
    unsigned n;
    struct noa_ruler_kv *v = kvs(spec, &n);
    int keep = noa_ruler_relabel_apply(rl, &v, &n);
    out[0] = 0;
    if (!keep)
        snprintf(out, cap, "DROP");
    for (unsigned i = 0; keep && i < n; i++)
        snprintf(out + strlen(out), cap - strlen(out), "%s%s=%s", i ? "," : "", v[i].name,
                 v[i].value);
    kvs_free(v, n);
}

struct tcase {
    const char *yaml;
    const char *in;
    const char *want;
};

static void test_actions(void **state)
{
    (void)state;
    static const struct tcase cases[] = {
        /* a static label (no source labels: "" matches (.*)) */
        {"- target_label: team\n  replacement: ops\n", "alertname=A,app=api", "alertname=A,app=api,team=ops"},
        /* source labels joined by the separator, groups by number and brace */
        {"- source_labels: [app, severity]\n  separator: ':'\n  regex: '(.+):(page)'\n"
         "  target_label: route\n  replacement: '${1}_$2'\n",
         "app=api,severity=page", "app=api,route=api_page,severity=page"},
        /* no match: unchanged */
        {"- source_labels: [severity]\n  regex: page\n  target_label: route\n  replacement: x\n",
         "severity=info", "severity=info"},
        /* Go: "$1_x" names a group "1_x", which does not exist: empty, so no label */
        {"- source_labels: [app]\n  regex: '(.*)'\n  target_label: t\n  replacement: '$1_x'\n",
         "app=api", "app=api"},
        /* named groups, $$ and a malformed $ */
        {"- source_labels: [app]\n  regex: '(?P<svc>.*)'\n  target_label: t\n  replacement: 'a$$b-$svc-${svc}-$'\n",
         "app=api", "app=api,t=a$b-api-api-$"},
        /* target label from a group */
        {"- source_labels: [kind]\n  regex: '(.*)'\n  target_label: 'is_$1'\n  replacement: 'yes'\n",
         "kind=db", "is_db=yes,kind=db"},
        /* an invalid expanded target is skipped */
        {"- source_labels: [kind]\n  regex: '(.*)'\n  target_label: '$1'\n  replacement: 'yes'\n",
         "kind=1db", "kind=1db"},
        /* an empty result deletes the target */
        {"- source_labels: [nope]\n  target_label: app\n", "alertname=A,app=api", "alertname=A"},
        /* drop and keep, anchored */
        {"- source_labels: [severity]\n  regex: info\n  action: drop\n", "severity=info", "DROP"},
        {"- source_labels: [severity]\n  regex: info\n  action: drop\n", "severity=information",
         "severity=information"},
        {"- source_labels: [severity]\n  regex: 'page|critical'\n  action: keep\n", "severity=page",
         "severity=page"},
        {"- source_labels: [severity]\n  regex: pag\n  action: Keep\n", "severity=page", "DROP"},
        /* the dot matches a newline as in Prometheus 3's (?s:...) */
        {"- source_labels: [m]\n  regex: 'a.b'\n  action: keep\n", "m=a\nb", "m=a\nb"},
        /* labelmap over the names; the originals stay */
        {"- regex: 'ext_(.+)'\n  action: labelmap\n", "ext_dc=eu,ext_zone=a,app=x",
         "app=x,dc=eu,ext_dc=eu,ext_zone=a,zone=a"},
        {"- regex: 'ext_.*'\n  action: labeldrop\n", "ext_dc=eu,ext_zone=a,app=x", "app=x"},
        {"- regex: 'alertname|app'\n  action: labelkeep\n", "alertname=A,app=x,pod=p1",
         "alertname=A,app=x"},
        {"- source_labels: [app]\n  target_label: app_lc\n  action: lowercase\n", "app=MiXed",
         "app=MiXed,app_lc=mixed"},
        {"- source_labels: [app]\n  target_label: app\n  action: uppercase\n", "app=MiXed", "app=MIXED"},
        {"- source_labels: [a]\n  target_label: b\n  action: keepequal\n", "a=1,b=1", "a=1,b=1"},
        {"- source_labels: [a]\n  target_label: b\n  action: keepequal\n", "a=1,b=2", "DROP"},
        {"- source_labels: [a]\n  target_label: b\n  action: dropequal\n", "a=1,b=1", "DROP"},
        /* steps run in order; a drop stops the rest */
        {"- target_label: team\n  replacement: ops\n- source_labels: [team]\n  regex: ops\n"
         "  target_label: route\n  replacement: pager\n",
         "a=1", "a=1,route=pager,team=ops"},
        {"- source_labels: [a]\n  regex: '1'\n  action: drop\n- target_label: never\n  replacement: x\n",
         "a=1", "DROP"},
        /* hashmod: the MD5's last 8 bytes, big-endian, modulo (values from Python's hashlib) */
        {"- source_labels: [app, severity]\n  modulus: 7\n  target_label: shard\n  action: hashmod\n",
         "app=api,severity=page", "app=api,severity=page,shard=6"},
        {"- source_labels: [nope]\n  modulus: 1000\n  target_label: shard\n  action: hashmod\n",
         "a=1", "a=1,shard=958"},
        {"- source_labels: [v]\n  modulus: 1000\n  target_label: shard\n  action: hashmod\n",
         "v=abc", "shard=458,v=abc"},
        {"- source_labels: [v]\n  modulus: 1000000007\n  target_label: s\n  action: hashmod\n",
         "v=yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy", /* 60 bytes: two padding blocks */
         "s=393546235,v=yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"},
        {"- source_labels: [v]\n  modulus: 97\n  target_label: s\n  action: hashmod\n",
         "v=zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", /* exactly one block */
         "s=19,v=zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"},
        /* no steps */
        {"[]\n", "b=2,a=1", "a=1,b=2"},
    };
    char out[512];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct noa_error err = {0};
        int rc;
        struct noa_ruler_relabel *rl = compile(cases[i].yaml, &err, &rc);
        if (rc != 0)
            fail_msg("case %zu: %s", i, err.msg);
        run(rl, cases[i].in, out, sizeof(out));
        if (strcmp(out, cases[i].want))
            fail_msg("case %zu: got [%s] want [%s]", i, out, cases[i].want);
        noa_ruler_relabel_free(rl);
    }
    /* NULL: everything kept, sorted */
    run(NULL, "b=2,a=1", out, sizeof(out));
    assert_string_equal(out, "a=1,b=2");
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *yaml, *msg;
    } cases[] = {
        {"- target_label: a\n  foo: b\n", "cfg.yaml:2:3: field foo not found in type relabel.Config"},
        {"- action: hashmod\n  target_label: a\n", "relabel configuration for hashmod requires non-zero modulus"},
        {"- action: hashmod\n  modulus: 4\n", "relabel configuration for hashmod action requires 'target_label' value"},
        {"- action: bogus\n", "unknown relabel action \"bogus\""},
        {"- action: ''\n", "relabel action cannot be empty"},
        {"- source_labels: [a]\n", "relabel configuration for replace action requires 'target_label' value"},
        {"- target_label: '1abc'\n", "\"1abc\" is invalid 'target_label' for replace action"},
        {"- source_labels: [a]\n  action: labeldrop\n", "labeldrop action requires only 'regex', and no other fields"},
        {"- regex: 'x'\n  replacement: '-'\n  action: labelmap\n", "\"-\" is invalid 'replacement' for labelmap action"},
        {"- source_labels: [a]\n  target_label: b\n  regex: x\n  action: keepequal\n",
         "keepequal action requires only 'source_labels' and `target_label`, and no other fields"},
        {"- source_labels: [a]\n  target_label: b\n  replacement: x\n  action: lowercase\n",
         "'replacement' can not be set for lowercase action"},
        {"- regex: '(?<=a)b'\n  action: labeldrop\n", "cfg.yaml:1:3:"},
        {"- source_labels: ['a-b']\n  target_label: x\n", "a-b is not a valid label name"},
        {"a: 1\n", "alert_relabel_configs: expected a list"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct noa_error err = {0};
        int rc;
        struct noa_ruler_relabel *rl = compile(cases[i].yaml, &err, &rc);
        if (rc != NOA_EINVAL || !strstr(err.msg, cases[i].msg))
            fail_msg("case %zu: rc %d msg [%s]", i, rc, err.msg);
        assert_null(rl);
    }
    /* Positions point at the offending config. */
    struct noa_error err = {0};
    int rc;
    assert_null(compile("- target_label: a\n- action: bogus\n", &err, &rc));
    assert_int_equal(err.line, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_actions),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
