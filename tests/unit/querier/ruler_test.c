/* Unit tests for querier/ruler.c: evaluations over an in-memory metric
 * source with a fake clock, alerts reaching a fake Alertmanager (firing,
 * then resolved), recording results reaching a fake remote-write
 * receiver, and the API bodies (Prometheus JSON, Loki YAML). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/compress.h"
#include "common/labels.h"
#include "common/mem.h"
#include "common/selector.h"
#include "common/yaml.h"
#include "querier/ruler.h"
#include "querier/ruler_rules.h"
#include "ruler_fakehttp.h"

#include <jansson.h>
#include <stdio.h>
#include <sys/stat.h>

#define S(x) ((int64_t)(x) * 1000000000LL)
#define T0 S(1700000040) /* a multiple of 60 s */

/* One stream {app="api", level="error"}: an "error" line every 10 s from
 * T0-60s to T0+120s, so each 1m window up to T0+120s holds 6 lines. */
struct memsrc {
    struct noa_label lv[2];
    struct noa_labels ls;
    unsigned opens, closes;
};

static int mem_each_stream(void *ctx, const struct noa_logql_expr *log, int64_t from_ns,
                           int64_t through_ns, const struct noa_metric_sink *sink)
{
    struct memsrc *m = ctx;
    if (!noa_selector_matches(&log->selector, &m->ls))
        return 0;
    int started = 0;
    for (int64_t t = T0 - S(60); t <= T0 + S(120); t += S(10)) {
        if (t < from_ns || t >= through_ns)
            continue;
        int rc = started ? 0 : sink->stream_cb(sink->arg, &m->ls);
        started = 1;
        if (rc == 0)
            rc = sink->entry_cb(sink->arg, t, NOA_STR("an error happened"), NULL, 0);
        if (rc)
            return rc;
    }
    return 0;
}

static int open_cb(void *ctx, const char *tenant, struct noa_logql_expr *e,
                   struct noa_metric_source *src, void **handle, struct noa_error *err)
{
    struct memsrc *m = ctx;
    (void)e;
    (void)err;
    assert_string_equal(tenant, "fake");
    m->opens++;
    *src = (struct noa_metric_source){.each_stream = mem_each_stream, .ctx = m};
    *handle = m;
    return 0;
}

static void close_cb(void *ctx, void *handle)
{
    struct memsrc *m = ctx;
    assert_ptr_equal(handle, m);
    m->closes++;
}

static const char rules_yaml[] =
    "groups:\n"
    "  - name: errors\n"
    "    rules:\n"
    "      - alert: ManyErrors\n"
    "        expr: sum by (app) (count_over_time({app=\"api\"} |= \"error\" [1m])) > 2\n"
    "        for: 1m\n"
    "        labels: {severity: page}\n"
    "        annotations: {summary: \"{{ $labels.app }}: {{ $value }} errors\"}\n"
    "      - record: app:lines:count1m\n"
    "        expr: sum by (app) (count_over_time({app=~\".+\"}[1m]))\n"
    "        labels: {source: noa}\n";

static json_t *json_of(const struct noa_buf *b)
{
    json_error_t je;
    json_t *j = json_loadb(b->data, b->len, 0, &je);
    if (!j)
        fail_msg("bad JSON: %s in %.*s", je.text, (int)b->len, b->data);
    return j;
}

static void setup_dir(char *dir)
{
    char p[300];
    assert_non_null(mkdtemp(dir));
    snprintf(p, sizeof(p), "%s/fake", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/fake/app.yaml", dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(rules_yaml, f);
    fclose(f);
}

static void rm_dir(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_evaluate_notify_write(void **state)
{
    (void)state;
    char dir[] = "/tmp/noa_ruler_test_XXXXXX";
    setup_dir(dir);
    struct memsrc m = {.lv = {{NOA_STR("app"), NOA_STR("api")}, {NOA_STR("level"), NOA_STR("error")}}};
    m.ls = (struct noa_labels){m.lv, 2};
    struct fakehttp am = {.statuses = {200, 200, 200, 200}}, prom = {.statuses = {204, 204, 204, 204, 204}};
    fh_start(&am);
    fh_start(&prom);
    char am_url[64], rw_url[80];
    snprintf(am_url, sizeof(am_url), "http://127.0.0.1:%d", am.port);
    snprintf(rw_url, sizeof(rw_url), "http://127.0.0.1:%d/api/v1/write", prom.port);
    struct noa_ruler_options o = {
        .directory = dir,
        .alertmanager_url = am_url,
        .remote_write_url = rw_url,
        .external_url = "http://noa:3100",
        .enable_api = 1,
        .source = {open_cb, close_cb, &m},
    };
    struct noa_ruler *r = NULL;
    assert_int_equal(noa_ruler_new(&o, &r), 0);

    struct noa_buf out = {0};
    /* Before any evaluation: health unknown, state inactive. */
    assert_int_equal(noa_ruler_rules_json(r, "fake", NULL, &out), 0);
    json_t *j = json_of(&out);
    json_t *g = json_array_get(json_object_get(json_object_get(j, "data"), "groups"), 0);
    assert_string_equal(json_string_value(json_object_get(g, "name")), "errors");
    assert_string_equal(json_string_value(json_object_get(g, "file")), "app.yaml");
    assert_int_equal(json_integer_value(json_object_get(g, "interval")), 60);
    json_t *rule0 = json_array_get(json_object_get(g, "rules"), 0);
    assert_string_equal(json_string_value(json_object_get(rule0, "health")), "unknown");
    assert_string_equal(json_string_value(json_object_get(rule0, "state")), "inactive");
    assert_string_equal(json_string_value(json_object_get(rule0, "type")), "alerting");
    assert_int_equal(json_integer_value(json_object_get(rule0, "duration")), 60);
    json_decref(j);

    noa_ruler_eval_all(r, T0); /* pending */
    noa_buf_reset(&out);
    noa_ruler_alerts_json(r, "fake", &out);
    j = json_of(&out);
    json_t *a = json_array_get(json_object_get(json_object_get(j, "data"), "alerts"), 0);
    assert_string_equal(json_string_value(json_object_get(a, "state")), "pending");
    assert_string_equal(json_string_value(json_object_get(a, "value")), "6e+00");
    assert_string_equal(json_string_value(json_object_get(json_object_get(a, "annotations"), "summary")), "api: 6 errors");
    assert_string_equal(json_string_value(json_object_get(json_object_get(a, "labels"), "alertname")), "ManyErrors");
    json_decref(j);

    noa_ruler_eval_all(r, T0 + S(60));  /* firing: sent */
    assert_int_equal(noa_ruler_flush(r, 10000), 0); /* one POST per evaluation */
    noa_ruler_eval_all(r, T0 + S(120)); /* firing: not re-sent within 1m */
    noa_buf_reset(&out);
    struct noa_ruler_filter f = {.type = "alert"};
    assert_int_equal(noa_ruler_rules_json(r, "fake", &f, &out), 0);
    j = json_of(&out);
    g = json_array_get(json_object_get(json_object_get(j, "data"), "groups"), 0);
    assert_int_equal(json_array_size(json_object_get(g, "rules")), 1);
    rule0 = json_array_get(json_object_get(g, "rules"), 0);
    assert_string_equal(json_string_value(json_object_get(rule0, "state")), "firing");
    assert_string_equal(json_string_value(json_object_get(rule0, "health")), "ok");
    assert_string_equal(json_string_value(json_object_get(rule0, "lastEvaluation")), "2023-11-14T22:16:00Z");
    assert_int_equal(json_array_size(json_object_get(rule0, "alerts")), 1);
    json_decref(j);

    noa_ruler_eval_all(r, T0 + S(180)); /* no lines: resolved, sent */
    noa_buf_reset(&out);
    noa_ruler_alerts_json(r, "fake", &out);
    j = json_of(&out);
    assert_int_equal(json_array_size(json_object_get(json_object_get(j, "data"), "alerts")), 0);
    json_decref(j);

    /* Name filters: several values match any; groups emptied by a rule filter go. */
    const char *names[] = {"nope", "app:lines:count1m"};
    const char *files[] = {"app.yaml"};
    struct noa_ruler_filter nf = {.files = files, .n_files = 1, .rule_names = names, .n_rule_names = 2};
    noa_buf_reset(&out);
    assert_int_equal(noa_ruler_rules_json(r, "fake", &nf, &out), 0);
    j = json_of(&out);
    g = json_array_get(json_object_get(json_object_get(j, "data"), "groups"), 0);
    assert_int_equal(json_array_size(json_object_get(g, "rules")), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(g, "rules"), 0), "type")), "recording");
    json_decref(j);
    names[1] = "absent";
    noa_buf_reset(&out);
    assert_int_equal(noa_ruler_rules_json(r, "fake", &nf, &out), 0);
    assert_non_null(strstr(noa_buf_cstr(&out), "\"groups\":[]"));
    files[0] = "other.yaml";
    nf.n_rule_names = 0;
    noa_buf_reset(&out);
    assert_int_equal(noa_ruler_rules_json(r, "fake", &nf, &out), 0);
    assert_non_null(strstr(noa_buf_cstr(&out), "\"groups\":[]"));

    /* Other tenants see nothing; a bad type is a 400 body. */
    noa_buf_reset(&out);
    assert_int_equal(noa_ruler_rules_json(r, "other", NULL, &out), 0);
    assert_string_equal(noa_buf_cstr(&out), "{\"status\":\"success\",\"data\":{\"groups\":[]},\"errorType\":\"\",\"error\":\"\"}");
    noa_buf_reset(&out);
    f.type = "x";
    assert_int_equal(noa_ruler_rules_json(r, "fake", &f, &out), NOA_EINVAL);
    assert_string_equal(noa_buf_cstr(&out), "{\"status\":\"error\",\"data\":null,\"errorType\":\"bad_data\",\"error\":\"not supported value \\\"x\\\"\"}");

    noa_ruler_free(r); /* closes the client connections */
    fh_stop(&am);
    fh_stop(&prom);
    assert_int_equal(m.opens, 8);
    assert_int_equal(m.closes, 8);

    /* Alertmanager: firing at T0+60s, resolved at T0+180s. */
    assert_int_equal(am.n_req, 2);
    j = json_loadb(am.body[0], am.body_len[0], 0, NULL);
    assert_non_null(j);
    a = json_array_get(j, 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(a, "labels"), "severity")), "page");
    assert_string_equal(json_string_value(json_object_get(json_object_get(a, "labels"), "app")), "api");
    assert_string_equal(json_string_value(json_object_get(a, "startsAt")), "2023-11-14T22:15:00.000Z");
    assert_string_equal(json_string_value(json_object_get(a, "endsAt")), "2023-11-14T22:19:00.000Z");
    assert_non_null(strstr(json_string_value(json_object_get(a, "generatorURL")), "http://noa:3100/graph?g0.expr=sum"));
    json_decref(j);
    j = json_loadb(am.body[1], am.body_len[1], 0, NULL);
    a = json_array_get(j, 0);
    assert_string_equal(json_string_value(json_object_get(a, "endsAt")), "2023-11-14T22:17:00.000Z");
    json_decref(j);

    /* Remote write: one request per evaluation with samples (T0..T0+120s). */
    assert_int_equal(prom.n_req, 3);
    struct noa_buf raw = {0};
    struct noa_error err = {0};
    assert_int_equal(noa_compress_snappy_decompress(prom.body[0], prom.body_len[0], 1 << 20, &raw, &err), 0);
    assert_non_null(memmem(raw.data, raw.len, "app:lines:count1m", 17));
    assert_non_null(memmem(raw.data, raw.len, "source", 6));
    noa_buf_fini(&raw);
    fh_free(&am);
    fh_free(&prom);
    noa_buf_fini(&out);
    rm_dir(dir);
}

static void test_config_yaml(void **state)
{
    (void)state;
    char dir[] = "/tmp/noa_ruler_test_XXXXXX";
    setup_dir(dir);
    struct memsrc m = {0};
    struct noa_ruler_options o = {.directory = dir, .source = {open_cb, close_cb, &m}};
    struct noa_ruler *r = NULL;
    struct noa_buf out = {0}, errs = {0};
    struct noa_error err = {0};
    assert_int_equal(noa_ruler_new(&o, &r), 0);
    assert_int_equal(noa_ruler_config_yaml(r, "fake", NULL, NULL, &out, &err), 0);
    assert_non_null(strstr(noa_buf_cstr(&out), "\"app.yaml\":\n    - name: \"errors\"\n"));
    noa_buf_reset(&out);
    assert_int_equal(noa_ruler_config_yaml(r, "fake", "app.yaml", "errors", &out, &err), 0);
    struct noa_ruler_group g;
    assert_int_equal(noa_ruler_rules_parse_group(out.data, out.len, "x", &g, &errs), 0);
    assert_int_equal(g.n_rules, 2);
    assert_string_equal(g.rules[1].labels[0].value, "noa");
    noa_ruler_rules_group_fini(&g);
    noa_buf_reset(&out);
    assert_int_equal(noa_ruler_config_yaml(r, "fake", "app.yaml", "nope", &out, &err), NOA_ENOTFOUND);
    assert_string_equal(err.msg, "group does not exist");
    assert_int_equal(noa_ruler_config_yaml(r, "other", NULL, NULL, &out, &err), NOA_ENOTFOUND);
    assert_string_equal(err.msg, "no rule groups found");
    /* A group stored through the API shows up after a reload. */
    const char *y = "name: added\nrules:\n- record: x:y\n  expr: vector(1)\n";
    assert_int_equal(noa_ruler_rules_parse_group(y, strlen(y), "x", &g, &errs), 0);
    assert_int_equal(noa_ruler_rules_store(dir, "fake", "new.yaml", g.name, &g, &err), 0);
    noa_ruler_rules_group_fini(&g);
    assert_int_equal(noa_ruler_reload(r, NULL), 0);
    noa_buf_reset(&out);
    assert_int_equal(noa_ruler_rules_json(r, "fake", NULL, &out), 0);
    assert_non_null(strstr(noa_buf_cstr(&out), "\"name\":\"added\",\"file\":\"new.yaml\""));
    noa_ruler_free(r);
    noa_buf_fini(&out);
    noa_buf_fini(&errs);
    rm_dir(dir);
}

/* Several remote-write clients: each gets the recording results after its
 * own write_relabel_configs; one whose steps drop every series gets no
 * request at all. */
static void test_remote_write_clients(void **state)
{
    (void)state;
    char dir[] = "/tmp/noa_ruler_test_XXXXXX";
    setup_dir(dir);
    struct memsrc m = {.lv = {{NOA_STR("app"), NOA_STR("api")}, {NOA_STR("level"), NOA_STR("error")}}};
    m.ls = (struct noa_labels){m.lv, 2};
    struct fakehttp a = {.statuses = {204}}, b = {.statuses = {204}}, c = {.statuses = {204}};
    fh_start(&a);
    fh_start(&b);
    fh_start(&c);
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "clients:\n"
             "  a: {url: 'http://127.0.0.1:%d/w'}\n"
             "  b:\n    url: 'http://127.0.0.1:%d/w'\n"
             "    write_relabel_configs: [{target_label: replica, replacement: b}]\n"
             "  c:\n    url: 'http://127.0.0.1:%d/w'\n"
             "    write_relabel_configs: [{source_labels: [__name__], regex: 'nope.*', action: keep}]\n",
             a.port, b.port, c.port);
    struct noa_yaml_doc *doc = NULL;
    struct noa_error err = {0};
    assert_int_equal(noa_yaml_parse(yaml, strlen(yaml), NULL, NULL, &doc, &err), 0);
    struct noa_ruler_remote_write_options *rw = NULL;
    unsigned n_rw = 0;
    assert_int_equal(noa_ruler_remote_write_configs(NULL, noa_yaml_get(doc->root, "clients"), &rw,
                                                    &n_rw, &err), 0);
    noa_yaml_free(doc);
    assert_int_equal(n_rw, 3);
    struct noa_ruler_options o = {
        .directory = dir,
        .source = {open_cb, close_cb, &m},
        .remote_write_clients = rw,
        .n_remote_write_clients = n_rw,
    };
    struct noa_ruler *r = NULL;
    assert_int_equal(noa_ruler_new(&o, &r), 0);
    noa_ruler_eval_all(r, T0);
    struct noa_buf out = {0};
    assert_int_equal(noa_ruler_rules_json(r, "fake", NULL, &out), 0);
    assert_non_null(strstr(noa_buf_cstr(&out), "\"health\":\"ok\",\"lastError\":\"\",\"type\":\"recording\""));
    noa_ruler_free(r);
    fh_stop(&a);
    fh_stop(&b);
    fh_stop(&c);
    assert_int_equal(a.n_req, 1);
    assert_int_equal(b.n_req, 1);
    assert_int_equal(c.n_req, 0);
    struct noa_buf raw = {0};
    assert_int_equal(noa_compress_snappy_decompress(a.body[0], a.body_len[0], 1 << 20, &raw, &err), 0);
    assert_non_null(memmem(raw.data, raw.len, "app:lines:count1m", 17));
    assert_null(memmem(raw.data, raw.len, "replica", 7));
    noa_buf_reset(&raw);
    assert_int_equal(noa_compress_snappy_decompress(b.body[0], b.body_len[0], 1 << 20, &raw, &err), 0);
    assert_non_null(memmem(raw.data, raw.len, "app:lines:count1m", 17));
    assert_non_null(memmem(raw.data, raw.len, "replica", 7));
    noa_buf_fini(&raw);
    noa_buf_fini(&out);
    fh_free(&a);
    fh_free(&b);
    fh_free(&c);
    rm_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evaluate_notify_write),
        cmocka_unit_test(test_config_yaml),
        cmocka_unit_test(test_remote_write_clients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
