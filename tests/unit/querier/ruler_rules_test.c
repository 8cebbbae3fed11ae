/* Unit tests for querier/ruler_rules.c: rulefmt parsing, every validation
 * error with its file:line:col, the local store layout (load, store,
 * delete) and the shipped config/rules files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/mem.h"
#include "querier/ruler_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char good[] =
    "groups:\n"
    "  - name: g1\n"
    "    interval: 30s\n"
    "    limit: 5\n"
    "    rules:\n"
    "      - alert: HighErrors\n"
    "        expr: sum(rate({app=\"a\"} |= \"error\" [5m])) > 1\n"
    "        for: 5m\n"
    "        keep_firing_for: 1m\n"
    "        labels:\n"
    "          severity: page\n"
    "          team: a\n"
    "        annotations:\n"
    "          summary: \"{{ $labels.app }} fails\"\n"
    "      - record: app:lines:rate1m\n"
    "        expr: sum by (app) (rate({app=~\".+\"}[1m]))\n"
    "  - name: g2\n"
    "    rules: []\n";

static void test_parse_good(void **state)
{
    (void)state;
    struct noa_ruler_file f;
    struct noa_buf errs = {0};
    assert_int_equal(noa_ruler_rules_parse(good, strlen(good), "ns.yaml", &f, &errs), 0);
    assert_int_equal(errs.len, 0);
    assert_int_equal(f.n_groups, 2);
    assert_string_equal(f.groups[0].name, "g1");
    assert_int_equal(f.groups[0].interval_ns, 30000000000LL);
    assert_int_equal(f.groups[0].limit, 5);
    assert_int_equal(f.groups[0].n_rules, 2);
    const struct noa_ruler_rule *a = &f.groups[0].rules[0], *r = &f.groups[0].rules[1];
    assert_true(a->is_alert);
    assert_string_equal(a->name, "HighErrors");
    assert_int_equal(a->for_ns, 300000000000LL);
    assert_int_equal(a->keep_firing_for_ns, 60000000000LL);
    assert_int_equal(a->n_labels, 2);
    assert_string_equal(a->labels[0].name, "severity");
    assert_string_equal(a->labels[1].value, "a");
    assert_string_equal(a->annotations[0].value, "{{ $labels.app }} fails");
    assert_non_null(a->parsed);
    assert_false(r->is_alert);
    assert_string_equal(r->name, "app:lines:rate1m");
    assert_int_equal(f.groups[1].n_rules, 0);
    assert_int_equal(f.groups[1].interval_ns, 0);
    noa_ruler_rules_file_fini(&f);
    noa_buf_fini(&errs);
}

/* Parses text that must fail and checks the errors contain want. */
static void expect_error(const char *text, const char *want)
{
    struct noa_ruler_file f;
    struct noa_buf errs = {0};
    int rc = noa_ruler_rules_parse(text, strlen(text), "r.yaml", &f, &errs);
    if (rc == 0 || !strstr(noa_buf_cstr(&errs), want))
        fail_msg("want error containing [%s], got rc=%d [%s]", want, rc, noa_buf_cstr(&errs));
    assert_int_equal(f.n_groups, 0);
    assert_null(f.groups);
    noa_buf_fini(&errs);
}

#define RULE_HDR "groups:\n- name: g\n  rules:\n"

static void test_validation_errors(void **state)
{
    (void)state;
    expect_error(RULE_HDR "  - alert: A\n    record: b\n    expr: vector(1)\n",
                 "r.yaml:4:5: group \"g\", rule 1, \"A\": only one of 'record' and 'alert' must be set");
    expect_error(RULE_HDR "  - expr: vector(1)\n",
                 "r.yaml:4:5: group \"g\", rule 1, \"\": one of 'record' or 'alert' must be set");
    expect_error(RULE_HDR "  - record: bad-name\n    expr: vector(1)\n",
                 "r.yaml:4:13: group \"g\", rule 1, \"bad-name\": invalid recording rule name: bad-name");
    expect_error(RULE_HDR "  - alert: A\n    expr: vector(1)\n    labels:\n      0bad: x\n",
                 "r.yaml:7:7: group \"g\", rule 1, \"A\": invalid label name: 0bad");
    expect_error(RULE_HDR "  - alert: A\n    expr: vector(1)\n    annotations:\n      a-b: x\n",
                 "r.yaml:7:7: group \"g\", rule 1, \"A\": invalid annotation name: a-b");
    expect_error(RULE_HDR "  - alert: A\n    expr: sum(rate({app=\"a\"}[5m])\n",
                 "r.yaml:5:11: group \"g\", rule 1, \"A\": could not parse expression: parse error at "
                 "line 1, col 24: syntax error: unexpected $end, expecting )");
    expect_error(RULE_HDR "  - alert: A\n    expr: '{app=\"a\"} |= \"x\"'\n",
                 "r.yaml:5:11: group \"g\", rule 1, \"A\": invalid rule expression: a log query is not "
                 "a metric query");
    expect_error(RULE_HDR "  - alert: A\n    expr: vector(1)\n    for: 5 minutes\n",
                 "r.yaml:6:10: group \"g\", rule 1, \"A\": not a valid duration string: \"5 minutes\"");
    expect_error(RULE_HDR "  - record: r\n    expr: vector(1)\n    for: 5m\n",
                 "r.yaml:6:10: group \"g\", rule 1, \"r\": invalid field 'for' in recording rule");
    expect_error(RULE_HDR "  - record: r\n    expr: vector(1)\n    annotations: {a: b}\n",
                 "r.yaml:6:18: group \"g\", rule 1, \"r\": invalid field 'annotations' in recording rule");
    expect_error(RULE_HDR "  - alert: A\n",
                 "r.yaml:4:5: group \"g\", rule 1, \"A\": field 'expr' must be set in rule");
    expect_error(RULE_HDR "  - alert: A\n    expr: vector(1)\n    severity: x\n",
                 "r.yaml:6:5: group \"g\", rule 1, \"A\": field severity not found in type rulefmt.RuleNode");
    expect_error("groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n",
                 "r.yaml:4:3: groupname: \"g\" is repeated in the same file");
    expect_error("groups:\n- rules: []\n", "r.yaml:2:3: groupname must not be empty");
    expect_error("groups:\n- name: g\n  interval: often\n", "r.yaml:3:13: group \"g\": not a valid duration string");
    expect_error("groups:\n- name: g\n  bogus: 1\n", "r.yaml:3:3: field bogus not found in type rulefmt.RuleGroup");
    expect_error("groups: [\n", "r.yaml:");
    expect_error("rules: []\n", "r.yaml:1:1: field rules not found in type rulefmt.RuleGroups");
    /* Several errors are all reported, one per line. */
    struct noa_ruler_file f;
    struct noa_buf errs = {0};
    const char *two = RULE_HDR "  - record: a-b\n    expr: vector(1)\n  - alert: X\n    expr: nope(\n";
    assert_int_not_equal(noa_ruler_rules_parse(two, strlen(two), "r.yaml", &f, &errs), 0);
    assert_non_null(strstr(noa_buf_cstr(&errs), "rule 1, \"a-b\""));
    assert_non_null(strstr(errs.data, "\nr.yaml:7:11: group \"g\", rule 2, \"X\": could not parse"));
    noa_buf_fini(&errs);
}

static void test_parse_group(void **state)
{
    (void)state;
    struct noa_ruler_group g;
    struct noa_buf errs = {0};
    const char *y = "name: posted\ninterval: 2m\nrules:\n- alert: A\n  expr: vector(1) > 0\n";
    assert_int_equal(noa_ruler_rules_parse_group(y, strlen(y), "ns", &g, &errs), 0);
    assert_string_equal(g.name, "posted");
    assert_int_equal(g.interval_ns, 120000000000LL);
    assert_int_equal(g.n_rules, 1);
    /* Formatted YAML parses back to the same group. */
    struct noa_buf out = {0};
    noa_ruler_rules_format_group(&g, 0, 0, &out);
    struct noa_ruler_group g2;
    assert_int_equal(noa_ruler_rules_parse_group(out.data, out.len, "ns", &g2, &errs), 0);
    assert_string_equal(g2.name, "posted");
    assert_int_equal(g2.interval_ns, g.interval_ns);
    assert_string_equal(g2.rules[0].expr, "vector(1) > 0");
    noa_ruler_rules_group_fini(&g2);
    noa_ruler_rules_group_fini(&g);
    assert_int_not_equal(noa_ruler_rules_parse_group("", 0, "ns", &g, &errs), 0);
    noa_buf_fini(&out);
    noa_buf_fini(&errs);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_load_dir_and_store(void **state)
{
    (void)state;
    char dir[] = "/tmp/noa_ruler_rules_XXXXXX", p[512];
    assert_non_null(mkdtemp(dir));
    snprintf(p, sizeof(p), "%s/t1", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/t2", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/t1/good.yaml", dir);
    write_file(p, good);
    snprintf(p, sizeof(p), "%s/t1/bad.yaml", dir);
    write_file(p, RULE_HDR "  - alert: A\n    expr: rate(\n");
    snprintf(p, sizeof(p), "%s/t2/other", dir);
    write_file(p, "groups:\n- name: x\n  rules:\n  - record: r\n    expr: vector(2)\n");

    struct noa_ruler_set set;
    struct noa_buf errs = {0};
    unsigned bad = 0;
    assert_int_equal(noa_ruler_rules_load_dir(dir, &set, &bad, &errs), 0);
    assert_int_equal(bad, 1);
    assert_non_null(strstr(noa_buf_cstr(&errs), "/t1/bad.yaml:5:11: group \"g\", rule 1, \"A\": could not parse expression"));
    assert_int_equal(set.n_files, 2);
    assert_string_equal(set.files[0].tenant, "t1");
    assert_string_equal(set.files[0].ns, "good.yaml");
    assert_string_equal(set.files[1].tenant, "t2");
    assert_string_equal(set.files[1].ns, "other");
    noa_ruler_rules_set_fini(&set);

    /* Replace a group, add one, delete one, delete the namespace. */
    struct noa_ruler_group g;
    struct noa_error err = {0};
    const char *y = "name: g2\nrules:\n- record: new_rec\n  expr: vector(3)\n";
    assert_int_equal(noa_ruler_rules_parse_group(y, strlen(y), "x", &g, &errs), 0);
    assert_int_equal(noa_ruler_rules_store(dir, "t1", "good.yaml", g.name, &g, &err), 0);
    assert_int_equal(noa_ruler_rules_store(dir, "t3", "fresh", g.name, &g, &err), 0);
    noa_ruler_rules_group_fini(&g);
    noa_buf_reset(&errs);
    assert_int_equal(noa_ruler_rules_load_dir(dir, &set, &bad, &errs), 0);
    assert_int_equal(set.n_files, 3);
    assert_int_equal(set.files[0].n_groups, 2);
    assert_string_equal(set.files[0].groups[0].name, "g1");
    assert_int_equal(set.files[0].groups[0].n_rules, 2); /* untouched */
    assert_string_equal(set.files[0].groups[1].rules[0].name, "new_rec");
    assert_string_equal(set.files[2].tenant, "t3");
    noa_ruler_rules_set_fini(&set);

    assert_int_equal(noa_ruler_rules_store(dir, "t1", "good.yaml", "nope", NULL, &err), NOA_ENOTFOUND);
    assert_string_equal(err.msg, "group does not exist");
    assert_int_equal(noa_ruler_rules_store(dir, "t1", "good.yaml", "g1", NULL, &err), 0);
    assert_int_equal(noa_ruler_rules_store(dir, "t3", "fresh", "g2", NULL, &err), 0);
    snprintf(p, sizeof(p), "%s/t3/fresh", dir);
    assert_int_not_equal(access(p, F_OK), 0); /* last group removed: file gone */
    assert_int_equal(noa_ruler_rules_store(dir, "t3", "fresh", NULL, NULL, &err), NOA_ENOTFOUND);
    assert_string_equal(err.msg, "group namespace does not exist");
    assert_int_equal(noa_ruler_rules_store(dir, "t2", "other", NULL, NULL, &err), 0);
    assert_int_equal(noa_ruler_rules_store(dir, "t2", "../x", NULL, NULL, &err), NOA_EINVAL);
    assert_int_equal(noa_ruler_rules_store(dir, "..", "x", NULL, NULL, &err), NOA_EINVAL);
    noa_buf_reset(&errs);
    assert_int_equal(noa_ruler_rules_load_dir(dir, &set, &bad, &errs), 0);
    assert_int_equal(set.n_files, 1);
    assert_int_equal(set.files[0].n_groups, 1);
    assert_string_equal(set.files[0].groups[0].name, "g2");
    noa_ruler_rules_set_fini(&set);

    /* A missing directory is an empty store. */
    assert_int_equal(noa_ruler_rules_load_dir("/nonexistent/noa/rules", &set, &bad, &errs), 0);
    assert_int_equal(set.n_files, 0);
    noa_buf_fini(&errs);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* The shipped rules load without errors and contain what issue 4 asks for. */
static void test_shipped_rules(void **state)
{
    (void)state;
    const char *src = getenv("NOA_SRC");
    char dir[512], link[600], cmd[1300];
    char tmp[] = "/tmp/noa_ruler_cfg_XXXXXX";
    assert_non_null(mkdtemp(tmp));
    snprintf(dir, sizeof(dir), "%s/config/rules", src ? src : ".");
    snprintf(link, sizeof(link), "%s/fake", tmp);
    assert_int_equal(symlink(dir, link), 0);
    struct noa_ruler_set set;
    struct noa_buf errs = {0};
    unsigned bad = 0;
    assert_int_equal(noa_ruler_rules_load_dir(tmp, &set, &bad, &errs), 0);
    if (bad)
        fail_msg("%s", noa_buf_cstr(&errs));
    const char *want[] = {"HighHTTPErrorRate", "UnauthorizedAccessAttempts", "HighRequestLatency",
                          "RepeatedFailedLogins", "ServiceSilent"};
    for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
        int found = 0;
        for (unsigned i = 0; i < set.n_files; i++)
            for (unsigned g = 0; g < set.files[i].n_groups; g++)
                for (unsigned r = 0; r < set.files[i].groups[g].n_rules; r++)
                    found |= !strcmp(set.files[i].groups[g].rules[r].name, want[w]);
        if (!found)
            fail_msg("rule %s not shipped", want[w]);
    }
    assert_true(set.n_files >= 3);
    noa_ruler_rules_set_fini(&set);
    noa_buf_fini(&errs);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_validation_errors),
        cmocka_unit_test(test_parse_group),
        cmocka_unit_test(test_load_dir_and_store),
        cmocka_unit_test(test_shipped_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
