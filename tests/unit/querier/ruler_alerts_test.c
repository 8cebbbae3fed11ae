/* Unit tests for querier/ruler_alerts.c: the alert state machine across
 * evaluations with a fake clock (for, keep_firing_for, resolution and its
 * 15-minute retention, re-sending), limits, and template expansion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/mem.h"
#include "querier/ruler_alerts.h"

#include <math.h>
#include <string.h>

#define S(x) ((int64_t)(x) * 1000000000LL)
#define MIN(x) S((x) * 60)

/* A rule from YAML so it is built as the loader builds it. */
static void load_rule(const char *yaml, struct noa_ruler_group *g)
{
    struct noa_buf errs = {0};
    if (noa_ruler_rules_parse_group(yaml, strlen(yaml), "t", g, &errs) != 0)
        fail_msg("%s", noa_buf_cstr(&errs));
    noa_buf_fini(&errs);
}

static struct noa_label lab_a[] = {{NOA_STR("app"), NOA_STR("a")}, {NOA_STR("level"), NOA_STR("error")}};
static struct noa_label lab_b[] = {{NOA_STR("app"), NOA_STR("b")}, {NOA_STR("level"), NOA_STR("error")}};

static const char *label(const struct noa_ruler_alert *a, const char *name)
{
    for (unsigned i = 0; i < a->n_labels; i++)
        if (!strcmp(a->labels[i].name, name))
            return a->labels[i].value;
    return NULL;
}

static void test_pending_firing_resolved(void **state)
{
    (void)state;
    struct noa_ruler_group g;
    load_rule("name: g\nrules:\n- alert: HighErrors\n  expr: vector(1)\n  for: 2m\n"
              "  labels: {severity: page, app_copy: \"{{ $labels.app }}\"}\n"
              "  annotations: {summary: \"{{ $labels.app }} at {{ $value }}\"}\n",
              &g);
    const struct noa_ruler_rule *r = &g.rules[0];
    struct noa_ruler_alerts st = {0};
    struct noa_error err = {0};
    struct noa_ruler_sample s[2] = {{{lab_a, 2}, 5}, {{lab_b, 2}, 7}};
    const struct noa_ruler_alert *due[4];
    int64_t t0 = S(1700000000);

    /* t0: both pending, nothing to send. */
    assert_int_equal(noa_ruler_alerts_eval(&st, r, s, 2, t0, 0, &err), 0);
    assert_int_equal(st.n, 2);
    assert_int_equal(st.v[0].state, NOA_RULER_ALERT_PENDING);
    assert_int_equal(st.v[0].active_at_ns, t0);
    assert_string_equal(label(&st.v[0], "alertname"), "HighErrors");
    assert_string_equal(label(&st.v[0], "severity"), "page");
    assert_string_equal(label(&st.v[0], "app_copy"), "a");
    assert_string_equal(st.v[0].annotations[0].value, "a at 5");
    assert_int_equal(noa_ruler_alerts_state(&st), NOA_RULER_ALERT_PENDING);
    assert_int_equal(noa_ruler_alerts_due(&st, t0, MIN(1), MIN(1), due, 4), 0);

    /* t0+1m: b disappears while pending: dropped at once. a still pending. */
    assert_int_equal(noa_ruler_alerts_eval(&st, r, s, 1, t0 + MIN(1), 0, &err), 0);
    assert_int_equal(st.n, 1);
    assert_int_equal(st.v[0].state, NOA_RULER_ALERT_PENDING);

    /* t0+2m: `for` elapsed: firing, sent with endsAt = ts + 4 * 1m. */
    s[0].value = 9;
    assert_int_equal(noa_ruler_alerts_eval(&st, r, s, 1, t0 + MIN(2), 0, &err), 0);
    assert_int_equal(st.v[0].state, NOA_RULER_ALERT_FIRING);
    assert_int_equal(st.v[0].fired_at_ns, t0 + MIN(2));
    assert_int_equal(st.v[0].active_at_ns, t0);
    assert_string_equal(st.v[0].annotations[0].value, "a at 9");
    assert_int_equal(noa_ruler_alerts_due(&st, t0 + MIN(2), MIN(1), MIN(1), due, 4), 1);
    assert_int_equal(due[0]->valid_until_ns, t0 + MIN(6));
    /* Not again before the resend delay, again after it. */
    assert_int_equal(noa_ruler_alerts_due(&st, t0 + MIN(2) + S(30), MIN(1), MIN(1), due, 4), 0);
    assert_int_equal(noa_ruler_alerts_eval(&st, r, s, 1, t0 + MIN(3) + S(1), 0, &err), 0);
    assert_int_equal(noa_ruler_alerts_due(&st, t0 + MIN(3) + S(1), MIN(1), MIN(1), due, 4), 1);

    /* t0+4m: condition gone: resolved (inactive, kept), sent once with endsAt. */
    assert_int_equal(noa_ruler_alerts_eval(&st, r, s, 0, t0 + MIN(4), 0, &err), 0);
    assert_int_equal(st.n, 1);
    assert_int_equal(st.v[0].state, NOA_RULER_ALERT_INACTIVE);
    assert_int_equal(st.v[0].resolved_at_ns, t0 + MIN(4));
    assert_int_equal(noa_ruler_alerts_state(&st), NOA_RULER_ALERT_INACTIVE);
    assert_int_equal(noa_ruler_alerts_due(&st, t0 + MIN(4), MIN(1), MIN(1), due, 4), 1);
    assert_int_equal(due[0]->resolved_at_ns, t0 + MIN(4));
    assert_int_equal(noa_ruler_alerts_due(&st, t0 + MIN(4) + S(10), MIN(1), MIN(1), due, 4), 0);
    /* Re-sent as resolved while retained. */
    assert_int_equal(noa_ruler_alerts_eval(&st, r, s, 0, t0 + MIN(10), 0, &err), 0);
    assert_int_equal(noa_ruler_alerts_due(&st, t0 + MIN(10), MIN(1), MIN(1), due, 4), 1);
    /* Dropped once past 15 minutes after resolution. */
    assert_int_equal(noa_ruler_alerts_eval(&st, r, s, 0, t0 + MIN(19), 0, &err), 0);
    assert_int_equal(st.n, 1);
    assert_int_equal(noa_ruler_alerts_eval(&st, r, s, 0, t0 + MIN(19) + S(1), 0, &err), 0);
    assert_int_equal(st.n, 0);

    /* A resolved alert that comes back starts over as pending. */
    assert_int_equal(noa_ruler_alerts_eval(&st, r, s, 1, t0 + MIN(30), 0, &err), 0);
    assert_int_equal(noa_ruler_alerts_eval(&st, r, s, 1, t0 + MIN(32), 0, &err), 0);
    assert_int_equal(st.v[0].state, NOA_RULER_ALERT_FIRING);
    assert_int_equal(noa_ruler_alerts_eval(&st, r, s, 0, t0 + MIN(33), 0, &err), 0);
    assert_int_equal(st.v[0].state, NOA_RULER_ALERT_INACTIVE);
    assert_int_equal(noa_ruler_alerts_eval(&st, r, s, 1, t0 + MIN(34), 0, &err), 0);
    assert_int_equal(st.n, 1);
    assert_int_equal(st.v[0].state, NOA_RULER_ALERT_PENDING);
    assert_int_equal(st.v[0].active_at_ns, t0 + MIN(34));
    assert_int_equal(st.v[0].resolved_at_ns, 0);

    noa_ruler_alerts_fini(&st);
    noa_ruler_rules_group_fini(&g);
}

static void test_zero_for_and_keep_firing(void **state)
{
    (void)state;
    struct noa_ruler_group g;
    load_rule("name: g\nrules:\n- alert: A\n  expr: vector(1)\n  keep_firing_for: 3m\n", &g);
    struct noa_ruler_alerts st = {0};
    struct noa_error err = {0};
    struct noa_ruler_sample s = {{lab_a, 2}, 1};
    int64_t t0 = S(1000);
    /* for: 0 fires on the first evaluation. */
    assert_int_equal(noa_ruler_alerts_eval(&st, &g.rules[0], &s, 1, t0, 0, &err), 0);
    assert_int_equal(st.v[0].state, NOA_RULER_ALERT_FIRING);
    /* Kept firing for 3 minutes after the condition ends. */
    assert_int_equal(noa_ruler_alerts_eval(&st, &g.rules[0], &s, 0, t0 + MIN(1), 0, &err), 0);
    assert_int_equal(st.v[0].state, NOA_RULER_ALERT_FIRING);
    assert_int_equal(st.v[0].keep_firing_since_ns, t0 + MIN(1));
    assert_int_equal(noa_ruler_alerts_eval(&st, &g.rules[0], &s, 0, t0 + MIN(3), 0, &err), 0);
    assert_int_equal(st.v[0].state, NOA_RULER_ALERT_FIRING);
    assert_int_equal(noa_ruler_alerts_eval(&st, &g.rules[0], &s, 0, t0 + MIN(4), 0, &err), 0);
    assert_int_equal(st.v[0].state, NOA_RULER_ALERT_INACTIVE);
    assert_int_equal(st.v[0].resolved_at_ns, t0 + MIN(4));
    noa_ruler_alerts_fini(&st);
    noa_ruler_rules_group_fini(&g);
}

static void test_limit_and_duplicates(void **state)
{
    (void)state;
    struct noa_ruler_group g;
    load_rule("name: g\nrules:\n- alert: A\n  expr: vector(1)\n  labels: {app: fixed}\n", &g);
    struct noa_ruler_alerts st = {0};
    struct noa_error err = {0};
    struct noa_ruler_sample s[2] = {{{lab_a, 2}, 1}, {{lab_b, 2}, 2}};
    /* The rule's app label makes both samples the same alert. */
    assert_int_equal(noa_ruler_alerts_eval(&st, &g.rules[0], s, 2, S(1), 0, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "vector contains metrics with the same labelset after applying alert labels");
    noa_ruler_alerts_fini(&st);
    noa_ruler_rules_group_fini(&g);

    load_rule("name: g\nrules:\n- alert: A\n  expr: vector(1)\n", &g);
    assert_int_equal(noa_ruler_alerts_eval(&st, &g.rules[0], s, 2, S(1), 1, &err), NOA_ELIMIT);
    assert_string_equal(err.msg, "exceeded limit of 1 with 2 alerts");
    assert_int_equal(st.n, 0);
    assert_int_equal(noa_ruler_alerts_eval(&st, &g.rules[0], s, 2, S(2), 2, &err), 0);
    assert_int_equal(st.n, 2);
    noa_ruler_alerts_fini(&st);
    noa_ruler_rules_group_fini(&g);
}

static void expand_ok(const char *tmpl, double v, const char *want)
{
    struct noa_ruler_kv labels[] = {{"app", "api"}, {"code", "503"}};
    struct noa_buf out = {0};
    struct noa_error err = {0};
    int rc = noa_ruler_alerts_expand(tmpl, labels, 2, v, &out, &err);
    if (rc != 0)
        fail_msg("%s: %s", tmpl, err.msg);
    assert_string_equal(noa_buf_cstr(&out), want);
    noa_buf_fini(&out);
}

static void test_templates(void **state)
{
    (void)state;
    expand_ok("plain", 1, "plain");
    expand_ok("{{ $labels.app }} {{$labels.code}} {{ .Labels.app }}", 1, "api 503 api");
    expand_ok("{{ $labels.missing }}|", 1, "|");
    expand_ok("v={{ $value }} V={{ .Value }}", 0.25, "v=0.25 V=0.25");
    expand_ok("{{ $value }}", 1e6, "1000000");
    expand_ok("{{ $value }}", 1e21, "1e+21");
    expand_ok("{{ $value }}", 0.00001, "1e-05");
    expand_ok("{{ $value }}", NAN, "NaN");
    expand_ok("{{ $value | humanize }}", 1234567, "1.235M");
    expand_ok("{{ humanize $value }}", 0.005, "5m");
    expand_ok("{{ $value | humanizePercentage }}", 0.0567, "5.67%");
    expand_ok("{{ printf \"%.2f\" $value }}s", 2.3456, "2.35s");
    expand_ok("{{ printf \"%s=%d\" $labels.app $value }}", 42, "api=42");
    expand_ok("{{ $labels.app | toUpper }}", 1, "API");
    expand_ok("a  {{- $labels.app -}}  b", 1, "aapib");
    expand_ok("{{ \"lit\" }}{{/* comment */}}", 1, "lit");
    expand_ok("{{ $externalLabels.cluster }}.", 1, ".");

    struct noa_buf out = {0};
    struct noa_error err = {0};
    noa_buf_printf(&out, "keep");
    assert_int_equal(noa_ruler_alerts_expand("x {{ $labels.app", NULL, 0, 1, &out, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "template: unclosed action");
    assert_int_equal(noa_ruler_alerts_expand("{{ nosuch $value }}", NULL, 0, 1, &out, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "template: function \"nosuch\" not defined");
    assert_string_equal(noa_buf_cstr(&out), "keep"); /* nothing appended on error */
    noa_buf_fini(&out);

    /* A bad annotation template becomes Prometheus's error text, not a failure. */
    struct noa_ruler_group g;
    load_rule("name: g\nrules:\n- alert: A\n  expr: vector(1)\n  annotations: {x: \"{{ bogus }}\"}\n", &g);
    struct noa_ruler_alerts st = {0};
    struct noa_ruler_sample s = {{lab_a, 2}, 1};
    assert_int_equal(noa_ruler_alerts_eval(&st, &g.rules[0], &s, 1, S(1), 0, &err), 0);
    assert_non_null(strstr(st.v[0].annotations[0].value, "<error expanding template: "));
    noa_ruler_alerts_fini(&st);
    noa_ruler_rules_group_fini(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pending_firing_resolved),
        cmocka_unit_test(test_zero_for_and_keep_firing),
        cmocka_unit_test(test_limit_and_duplicates),
        cmocka_unit_test(test_templates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
