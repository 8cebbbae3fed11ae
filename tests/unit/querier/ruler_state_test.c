/* Unit tests for querier/ruler_state.c and noa_ruler_alerts_restore: the
 * state file round trip, corruption refused at every byte, atomic save /
 * load / remove, Prometheus's restore rules case by case, and a ruler that
 * is stopped while an alert fires and started again over the same state
 * directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/labels.h"
#include "common/mem.h"
#include "common/selector.h"
#include "querier/ruler.h"
#include "querier/ruler_alerts.h"
#include "querier/ruler_state.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S(x) ((int64_t)(x) * 1000000000LL)
#define T0 S(1700000040)

static void rm_dir(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* An alert with labels {alertname=name, app=app}. */
static void make_alert(struct noa_ruler_alert *a, const char *name, const char *app,
                       enum noa_ruler_alert_state st, int64_t active, int64_t fired)
{
    memset(a, 0, sizeof(*a));
    a->labels = noa_xcalloc(2, sizeof(*a->labels));
    a->labels[0] = (struct noa_ruler_kv){noa_xstrdup("alertname"), noa_xstrdup(name)};
    a->labels[1] = (struct noa_ruler_kv){noa_xstrdup("app"), noa_xstrdup(app)};
    a->n_labels = 2;
    a->annotations = noa_xcalloc(1, sizeof(*a->annotations));
    a->annotations[0] = (struct noa_ruler_kv){noa_xstrdup("summary"), noa_xstrdup("s\n\"x\"")};
    a->n_annotations = 1;
    a->state = st;
    a->active_at_ns = active;
    a->fired_at_ns = fired;
    a->value = 6.5;
}

static void push(struct noa_ruler_alerts *st, const struct noa_ruler_alert *a)
{
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 4;
        st->v = noa_xrealloc(st->v, st->cap * sizeof(*st->v));
    }
    st->v[st->n++] = *a;
}

static void test_roundtrip_and_corruption(void **state)
{
    (void)state;
    struct noa_ruler_alerts al = {0};
    struct noa_ruler_alert a;
    make_alert(&a, "A", "api", NOA_RULER_ALERT_FIRING, T0 - S(600), T0 - S(300));
    a.last_sent_ns = T0 - S(30);
    a.valid_until_ns = T0 + S(210);
    a.value = -0.25;
    push(&al, &a);
    make_alert(&a, "A", "web", NOA_RULER_ALERT_INACTIVE, T0 - S(900), T0 - S(800));
    a.resolved_at_ns = T0 - S(60);
    push(&al, &a);
    struct noa_ruler_state_rule rules[1] = {{3, "A", al}};
    struct noa_ruler_state s = {.tenant = "t1", .ns = "ns.yaml", .group = "g", .saved_ns = T0,
                                .rules = rules, .n_rules = 1};
    struct noa_buf img = {0};
    noa_ruler_state_encode(&s, &img);

    struct noa_ruler_state d;
    struct noa_error err = {0};
    assert_int_equal(noa_ruler_state_decode(img.data, img.len, &d, &err), 0);
    assert_string_equal(d.tenant, "t1");
    assert_string_equal(d.ns, "ns.yaml");
    assert_string_equal(d.group, "g");
    assert_true(d.saved_ns == T0);
    assert_int_equal(d.n_rules, 1);
    assert_int_equal(d.rules[0].index, 3);
    assert_int_equal(d.rules[0].alerts.n, 2);
    const struct noa_ruler_alert *x = &d.rules[0].alerts.v[0];
    assert_int_equal(x->state, NOA_RULER_ALERT_FIRING);
    assert_true(x->active_at_ns == T0 - S(600) && x->fired_at_ns == T0 - S(300));
    assert_true(x->last_sent_ns == T0 - S(30) && x->valid_until_ns == T0 + S(210));
    assert_true(x->value == -0.25);
    assert_string_equal(x->labels[1].value, "api");
    assert_string_equal(x->annotations[0].value, "s\n\"x\"");
    assert_true(d.rules[0].alerts.v[1].resolved_at_ns == T0 - S(60));
    /* Re-encoding the decoded state gives the same bytes. */
    struct noa_buf again = {0};
    noa_ruler_state_encode(&d, &again);
    assert_int_equal(again.len, img.len);
    assert_memory_equal(again.data, img.data, img.len);
    noa_buf_fini(&again);
    noa_ruler_state_fini(&d);

    /* Every truncation and every flipped byte is refused, never crashes. */
    for (size_t n = 0; n < img.len; n++)
        assert_int_equal(noa_ruler_state_decode(img.data, n, &d, &err), NOA_ECORRUPT);
    for (size_t i = 0; i < img.len; i++) {
        img.data[i] ^= 0x40;
        assert_int_equal(noa_ruler_state_decode(img.data, img.len, &d, &err), NOA_ECORRUPT);
        img.data[i] ^= 0x40;
    }
    /* A huge count with a valid CRC is refused before allocating. */
    struct noa_buf evil = {0};
    noa_buf_append(&evil, "NOARST01\0\0\0\0", 12);
    noa_buf_put_uvarint(&evil, 1);
    noa_buf_append(&evil, "t", 1);
    noa_buf_put_uvarint(&evil, 0);
    noa_buf_put_uvarint(&evil, 0);
    noa_buf_put_varint(&evil, 0);
    noa_buf_put_uvarint(&evil, (uint64_t)1 << 40);
    uint32_t crc = noa_crc32c(0, evil.data + 12, evil.len - 12);
    for (int k = 0; k < 4; k++)
        evil.data[8 + k] = (char)(crc >> (24 - 8 * k));
    assert_int_equal(noa_ruler_state_decode(evil.data, evil.len, &d, &err), NOA_ECORRUPT);
    assert_non_null(strstr(err.msg, "rule count"));
    noa_buf_fini(&evil);

    /* Files: save creates the directory, load checks the names, remove. */
    char dir[] = "/tmp/noa_ruler_state_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[300];
    snprintf(sub, sizeof(sub), "%s/a/b", dir);
    assert_int_equal(noa_ruler_state_save(sub, &s, &err), 0);
    assert_int_equal(noa_ruler_state_load(sub, "t1", "ns.yaml", "g", &d, &err), 0);
    assert_int_equal(d.rules[0].alerts.n, 2);
    noa_ruler_state_fini(&d);
    assert_int_equal(noa_ruler_state_load(sub, "t1", "ns.yaml", "other", &d, &err), NOA_ENOTFOUND);
    struct noa_buf path = {0};
    noa_ruler_state_path(sub, "t1", "ns.yaml", "g", &path);
    struct stat stt;
    assert_int_equal(stat(path.data, &stt), 0);
    noa_buf_printf(&path, ".tmp");
    assert_int_not_equal(stat(noa_buf_cstr(&path), &stt), 0); /* no temporary left */
    /* A damaged file is reported as corrupt. */
    noa_buf_reset(&path);
    noa_ruler_state_path(sub, "t1", "ns.yaml", "g", &path);
    FILE *f = fopen(path.data, "r+");
    assert_non_null(f);
    fseek(f, 20, SEEK_SET);
    fputc('Z', f);
    fclose(f);
    assert_int_equal(noa_ruler_state_load(sub, "t1", "ns.yaml", "g", &d, &err), NOA_ECORRUPT);
    assert_int_equal(noa_ruler_state_remove(sub, "t1", "ns.yaml", "g"), 0);
    assert_int_equal(noa_ruler_state_remove(sub, "t1", "ns.yaml", "g"), 0);
    assert_int_equal(noa_ruler_state_load(sub, "t1", "ns.yaml", "g", &d, &err), NOA_ENOTFOUND);
    noa_buf_fini(&path);
    rm_dir(dir);
    noa_buf_fini(&img);
    noa_ruler_alerts_fini(&al);
}

/* One restore case: the rule's `for`, the saved alert, the outage; checks
 * the resulting state and activeAt. */
struct rcase {
    const char *what;
    int64_t for_ns;
    enum noa_ruler_alert_state saved_state;
    int64_t saved_active, saved_fired; /* relative to saved time */
    int64_t outage;                    /* ts - saved */
    int64_t tolerance, grace;
    enum noa_ruler_alert_state want_state;
    int64_t want_active; /* relative to ts */
    unsigned want_restored;
};

static void test_restore_rules(void **state)
{
    (void)state;
    const int64_t H = S(3600), M = S(60);
    const struct rcase cases[] = {
        /* firing before: keeps activeAt (ts-outage-20m), fires at once */
        {"firing", 15 * M, NOA_RULER_ALERT_FIRING, -20 * M, -5 * M, 5 * M, H, 10 * M,
         NOA_RULER_ALERT_FIRING, -25 * M, 1},
        /* the outage is longer than the tolerance: a new pending alert */
        {"outage too long", 15 * M, NOA_RULER_ALERT_FIRING, -20 * M, -5 * M, 2 * H, H, 10 * M,
         NOA_RULER_ALERT_PENDING, 0, 0},
        /* firing with a for shorter than the grace period: restored too */
        {"short for firing", 5 * M, NOA_RULER_ALERT_FIRING, -20 * M, -15 * M, 5 * M, H, 10 * M,
         NOA_RULER_ALERT_FIRING, -25 * M, 1},
        /* pending with a for shorter than the grace period: waits its for again */
        {"short for pending", 5 * M, NOA_RULER_ALERT_PENDING, -2 * M, 0, 5 * M, H, 10 * M,
         NOA_RULER_ALERT_PENDING, 0, 0},
        /* pending with 3m left < grace 10m: fires grace after ts */
        {"grace", 15 * M, NOA_RULER_ALERT_PENDING, -12 * M, 0, 5 * M, H, 10 * M,
         NOA_RULER_ALERT_PENDING, 10 * M - 15 * M, 1},
        /* pending with 25m left: activeAt moves by the outage */
        {"shifted", 30 * M, NOA_RULER_ALERT_PENDING, -5 * M, 0, 7 * M, H, 10 * M,
         NOA_RULER_ALERT_PENDING, -5 * M, 1},
        /* grace 0 (allowed): for 0 firing keeps its activeAt */
        {"for 0", 0, NOA_RULER_ALERT_FIRING, -3 * M, -3 * M, M, H, 0,
         NOA_RULER_ALERT_FIRING, -4 * M, 1},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const struct rcase *k = &cases[c];
        int64_t saved = T0, ts = T0 + k->outage;
        struct noa_ruler_rule rule = {.is_alert = 1, .name = "A", .for_ns = k->for_ns};
        struct noa_ruler_alerts sv = {0}, st = {0};
        struct noa_ruler_alert a;
        make_alert(&a, "A", "api", k->saved_state, saved + k->saved_active,
                   k->saved_fired ? saved + k->saved_fired : 0);
        a.last_sent_ns = saved - S(10);
        push(&sv, &a);
        /* The first evaluation after the restart made it pending at ts
         * (or firing, for a zero `for`). */
        make_alert(&a, "A", "api",
                   k->for_ns ? NOA_RULER_ALERT_PENDING : NOA_RULER_ALERT_FIRING, ts,
                   k->for_ns ? 0 : ts);
        push(&st, &a);
        struct noa_ruler_alerts_restore_opts o = {saved, ts, k->tolerance, k->grace};
        unsigned n = noa_ruler_alerts_restore(&st, &rule, &sv, &o);
        if (n != k->want_restored || st.v[0].state != k->want_state ||
            st.v[0].active_at_ns != ts + k->want_active)
            fail_msg("%s: restored %u state %d activeAt %+lld s", k->what, n, st.v[0].state,
                     (long long)((st.v[0].active_at_ns - ts) / S(1)));
        if (k->want_state == NOA_RULER_ALERT_FIRING && k->want_restored) {
            /* Same firedAt and last send as before: Alertmanager sees the same alert. */
            assert_true(st.v[0].fired_at_ns == saved + k->saved_fired);
            assert_true(st.v[0].last_sent_ns == saved - S(10));
        }
        noa_ruler_alerts_fini(&sv);
        noa_ruler_alerts_fini(&st);
    }

    /* Saved alerts the first evaluation did not produce: a firing one is
     * resolved now, a recently resolved one is kept, a pending one and an
     * old resolved one are dropped. */
    struct noa_ruler_rule rule = {.is_alert = 1, .name = "A", .for_ns = S(900)};
    struct noa_ruler_alerts sv = {0}, st = {0};
    struct noa_ruler_alert a;
    make_alert(&a, "A", "firing", NOA_RULER_ALERT_FIRING, T0 - S(1200), T0 - S(300));
    a.last_sent_ns = T0 - S(30);
    push(&sv, &a);
    make_alert(&a, "A", "pending", NOA_RULER_ALERT_PENDING, T0 - S(100), 0);
    push(&sv, &a);
    make_alert(&a, "A", "resolved", NOA_RULER_ALERT_INACTIVE, T0 - S(1200), T0 - S(600));
    a.resolved_at_ns = T0 - S(120);
    a.last_sent_ns = T0 - S(60);
    push(&sv, &a);
    make_alert(&a, "A", "old", NOA_RULER_ALERT_INACTIVE, T0 - S(3000), T0 - S(2000));
    a.resolved_at_ns = T0 - S(1000);
    push(&sv, &a);
    struct noa_ruler_alerts_restore_opts o = {T0, T0 + S(60), S(3600), S(600)};
    assert_int_equal(noa_ruler_alerts_restore(&st, &rule, &sv, &o), 0);
    assert_int_equal(st.n, 2);
    assert_string_equal(st.v[0].labels[1].value, "firing");
    assert_int_equal(st.v[0].state, NOA_RULER_ALERT_INACTIVE);
    assert_true(st.v[0].resolved_at_ns == T0 + S(60));
    assert_string_equal(st.v[1].labels[1].value, "resolved");
    /* The new resolution is due at once; the old one only after its resend delay. */
    const struct noa_ruler_alert *due[4];
    assert_int_equal(noa_ruler_alerts_due(&st, T0 + S(60), S(600), S(60), due, 4), 1);
    assert_ptr_equal(due[0], &st.v[0]);
    assert_int_equal(noa_ruler_alerts_due(&st, T0 + S(120), S(600), S(60), due, 4), 0);
    assert_int_equal(noa_ruler_alerts_due(&st, T0 + S(541), S(600), S(60), due, 4), 1);
    assert_ptr_equal(due[0], &st.v[1]);
    noa_ruler_alerts_fini(&sv);
    noa_ruler_alerts_fini(&st);
}

/* ---- a ruler stopped and started over the same state directory ----------------- */

struct memsrc {
    struct noa_label lv[1];
    struct noa_labels ls;
    int64_t until; /* lines up to this time */
};

static int mem_each_stream(void *ctx, const struct noa_logql_expr *log, int64_t from_ns,
                           int64_t through_ns, const struct noa_metric_sink *sink)
{
    struct memsrc *m = ctx;
    if (!noa_selector_matches(&log->selector, &m->ls))
        return 0;
    int started = 0;
    for (int64_t t = T0 - S(120); t <= m->until; t += S(10)) {
        if (t < from_ns || t >= through_ns)
            continue;
        int rc = started ? 0 : sink->stream_cb(sink->arg, &m->ls);
        started = 1;
        if (rc == 0)
            rc = sink->entry_cb(sink->arg, t, NOA_STR("error"), NULL, 0);
        if (rc)
            return rc;
    }
    return 0;
}

static int open_cb(void *ctx, const char *tenant, struct noa_logql_expr *e,
                   struct noa_metric_source *src, void **handle, struct noa_error *err)
{
    (void)tenant;
    (void)e;
    (void)err;
    *src = (struct noa_metric_source){.each_stream = mem_each_stream, .ctx = ctx};
    *handle = ctx;
    return 0;
}

static json_t *first_alert(struct noa_ruler *r)
{
    struct noa_buf out = {0};
    noa_ruler_alerts_json(r, "fake", &out);
    json_t *j = json_loadb(out.data, out.len, 0, NULL);
    noa_buf_fini(&out);
    assert_non_null(j);
    json_t *a = json_incref(json_array_get(json_object_get(json_object_get(j, "data"), "alerts"), 0));
    json_decref(j);
    return a;
}

static void test_ruler_restart(void **state)
{
    (void)state;
    char dir[] = "/tmp/noa_ruler_state_XXXXXX", p[400], sdir[400];
    assert_non_null(mkdtemp(dir));
    snprintf(p, sizeof(p), "%s/rules", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/rules/fake", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/rules/fake/a.yaml", dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("groups:\n- name: g\n  rules:\n  - alert: Errors\n"
          "    expr: count_over_time({app=\"api\"}[1m]) > 2\n    for: 2m\n", f);
    fclose(f);
    snprintf(sdir, sizeof(sdir), "%s/state", dir);
    struct memsrc m = {.lv = {{NOA_STR("app"), NOA_STR("api")}}, .until = T0 + S(100000)};
    m.ls = (struct noa_labels){m.lv, 1};
    snprintf(p, sizeof(p), "%s/rules", dir);
    struct noa_ruler_options o = {
        .directory = p,
        .source = {open_cb, NULL, &m},
        .state_dir = sdir,
        .for_outage_tolerance_ns = S(3600),
        .for_grace_period_ns = S(60),
    };
    struct noa_ruler *r = NULL;
    assert_int_equal(noa_ruler_new(&o, &r), 0);
    noa_ruler_eval_all(r, T0);           /* pending */
    noa_ruler_eval_all(r, T0 + S(120));  /* firing */
    json_t *a = first_alert(r);
    assert_string_equal(json_string_value(json_object_get(a, "state")), "firing");
    char *active = noa_xstrdup(json_string_value(json_object_get(a, "activeAt")));
    json_decref(a);
    noa_ruler_free(r);

    /* Down for 5 minutes, then the first evaluation: still firing, same activeAt. */
    assert_int_equal(noa_ruler_new(&o, &r), 0);
    noa_ruler_eval_all(r, T0 + S(420));
    a = first_alert(r);
    assert_string_equal(json_string_value(json_object_get(a, "state")), "firing");
    assert_string_equal(json_string_value(json_object_get(a, "activeAt")), active);
    json_decref(a);
    noa_ruler_free(r);

    /* Down longer than the tolerance: the alert starts over as pending. */
    assert_int_equal(noa_ruler_new(&o, &r), 0);
    noa_ruler_eval_all(r, T0 + S(420) + S(3601));
    a = first_alert(r);
    assert_string_equal(json_string_value(json_object_get(a, "state")), "pending");
    assert_string_not_equal(json_string_value(json_object_get(a, "activeAt")), active);
    json_decref(a);

    /* The condition ends: resolved, then forgotten after the retention; the
     * state file goes with the last alert. */
    struct noa_buf path = {0};
    struct stat st;
    noa_ruler_state_path(sdir, "fake", "a.yaml", "g", &path);
    assert_int_equal(stat(path.data, &st), 0);
    m.until = 0;
    noa_ruler_eval_all(r, T0 + S(8000));
    assert_int_equal(stat(path.data, &st), -1); /* a pending alert that ends is dropped */
    noa_ruler_free(r);
    noa_buf_fini(&path);
    noa_free(active);
    rm_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_and_corruption),
        cmocka_unit_test(test_restore_rules),
        cmocka_unit_test(test_ruler_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
