/*
 * Unit tests for shipper/shipper_config.c: every block's defaults, every
 * key read into its field, Promtail configs from the docs and the Helm
 * chart loading unchanged, config/shipper.yaml loading, errors with their
 * file:line:col, environment expansion, secrets from files and masked in
 * the printed config, the mapping onto struct noa_client_config, the
 * packaged packaging/noa-shipper.yaml, and that docs/shipper-configuration.md
 * matches the tables (NOA_REGEN_DOCS=1 rewrites it). Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "shipper/shipper_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEC 1000000000LL
#define MS 1000000LL

static struct noa_shipper_config *parse_ok(const char *text)
{
    struct noa_shipper_config *cfg = NULL;
    struct noa_error err = {0};
    int rc = noa_shipper_config_parse(text, strlen(text), "promtail.yaml", 0, &cfg, &err);
    if (rc != 0)
        fail_msg("parse failed: %s", err.msg);
    return cfg;
}

static void parse_err(const char *text, int code, const char *msg, int line, int col)
{
    struct noa_shipper_config *cfg = NULL;
    struct noa_error err = {0};
    int rc = noa_shipper_config_parse(text, strlen(text), "promtail.yaml", 0, &cfg, &err);
    if (rc != code)
        fail_msg("rc %d want %d (%s) for:\n%s", rc, code, err.msg, text);
    assert_null(cfg);
    if (!strstr(err.msg, msg))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, msg);
    if (line && (err.line != line || err.col != col))
        fail_msg("at %d:%d want %d:%d (%s)", err.line, err.col, line, col, err.msg);
    char pos[64];
    snprintf(pos, sizeof(pos), "promtail.yaml:%d:%d: ", err.line, err.col);
    if (line && !strstr(err.msg, pos))
        fail_msg("message \"%s\" lacks its position %s", err.msg, pos);
}

static const char *kv(const struct noa_kvlist *l, const char *name)
{
    static char buf[256];
    struct noa_str v;
    if (!noa_kvlist_get(l, noa_str_c(name), &v))
        return NULL;
    snprintf(buf, sizeof(buf), "%.*s", (int)v.len, v.p);
    return buf;
}

static void test_tables(void **state)
{
    (void)state;
    struct noa_error err = {0};
    if (noa_shipper_config_check_tables(&err) != 0)
        fail_msg("bad table: %s", err.msg);
}

static void test_defaults(void **state)
{
    (void)state;
    struct noa_shipper_config *cfg = parse_ok("");
    assert_int_equal(cfg->server.http_listen_port, 80);
    assert_int_equal(cfg->server.grpc_listen_port, 9095);
    assert_string_equal(cfg->server.http_listen_address, "");
    assert_string_equal(cfg->server.log_level, "info");
    assert_string_equal(cfg->server.log_format, "logfmt");
    assert_int_equal(cfg->server.register_instrumentation, 1);
    assert_int_equal(cfg->server.health_check_target, 1);
    assert_int_equal(cfg->server.enable_runtime_reload, 0);
    assert_int_equal(cfg->server.disable, 0);
    assert_int_equal(cfg->server.graceful_shutdown_timeout_ns, 30 * SEC);
    assert_int_equal(cfg->server.http_server_idle_timeout_ns, 120 * SEC);
    assert_string_equal(cfg->positions.filename, "/var/log/positions.yaml");
    assert_int_equal(cfg->positions.sync_period_ns, 10 * SEC);
    assert_int_equal(cfg->positions.ignore_invalid_yaml, 0);
    assert_int_equal(cfg->n_clients, 0);
    assert_int_equal(cfg->n_scrape, 0);
    assert_int_equal(cfg->target_sync_period_ns, 10 * SEC);
    assert_int_equal(cfg->file_watch_min_poll_ns, 250 * MS);
    assert_int_equal(cfg->file_watch_max_poll_ns, 250 * MS);
    assert_int_equal(cfg->limits.readline_rate_enabled, 0);
    assert_true(cfg->limits.readline_rate == 10000.0);
    assert_int_equal(cfg->limits.readline_burst, 10000);
    assert_int_equal(cfg->limits.readline_rate_drop, 1);
    assert_int_equal(cfg->limits.max_streams, 0);
    assert_int_equal(cfg->limits.max_line_size, 0);
    assert_int_equal(cfg->limits.max_line_size_truncate, 0);
    assert_int_equal(cfg->stream_lag_labels.n, 1);
    assert_string_equal(cfg->stream_lag_labels.v[0], "filename");
    noa_shipper_config_free(cfg);
}

static const char full[] = "server:\n"
                           "  http_listen_address: 127.0.0.1\n"
                           "  http_listen_port: 9080\n"
                           "  grpc_listen_port: 0\n"
                           "  log_level: debug\n"
                           "  log_format: json\n"
                           "  register_instrumentation: false\n"
                           "  graceful_shutdown_timeout: 5s\n"
                           "  http_server_read_timeout: 1m\n"
                           "  http_server_write_timeout: 2m\n"
                           "  http_server_idle_timeout: 3m\n"
                           "  http_path_prefix: /promtail\n"
                           "  health_check_target: false\n"
                           "  enable_runtime_reload: true\n"
                           "  profiling_enabled: true\n"
                           "  grpc_server_max_recv_msg_size: 100\n"
                           "positions:\n"
                           "  filename: /tmp/positions.yaml\n"
                           "  sync_period: 3s\n"
                           "  ignore_invalid_yaml: true\n"
                           "clients:\n"
                           "  - url: http://loki:3100/loki/api/v1/push\n"
                           "    name: main\n"
                           "    tenant_id: tenant1\n"
                           "    batchwait: 2s\n"
                           "    batchsize: 2048\n"
                           "    timeout: 7s\n"
                           "    drop_rate_limited_batches: true\n"
                           "    encoding: zstd\n"
                           "    backoff_config:\n"
                           "      min_period: 100ms\n"
                           "      max_period: 10s\n"
                           "      max_retries: 3\n"
                           "    external_labels:\n"
                           "      cluster: c1\n"
                           "      env: prod\n"
                           "    headers:\n"
                           "      X-Custom: yes please\n"
                           "    basic_auth:\n"
                           "      username: user\n"
                           "      password: hunter2\n"
                           "    follow_redirects: false\n"
                           "client:\n"
                           "  url: https://other/loki/api/v1/push\n"
                           "  bearer_token: tok\n"
                           "scrape_configs:\n"
                           "  - job_name: system\n"
                           "    pipeline_stages:\n"
                           "      - regex:\n"
                           "          expression: '^(?P<level>\\w+) '\n"
                           "      - labels:\n"
                           "          level:\n"
                           "    static_configs:\n"
                           "      - targets:\n"
                           "          - localhost\n"
                           "        labels:\n"
                           "          job: varlogs\n"
                           "          __path__: /var/log/*log\n"
                           "    file_sd_configs:\n"
                           "      - files: [/etc/promtail/targets/*.json, /etc/t.yml]\n"
                           "        refresh_interval: 1m\n"
                           "    relabel_configs:\n"
                           "      - source_labels: [job]\n"
                           "        target_label: j\n"
                           "  - job_name: journal\n"
                           "    journal:\n"
                           "      json: true\n"
                           "      max_age: 12h\n"
                           "      path: /var/log/journal\n"
                           "      matches: _TRANSPORT=kernel\n"
                           "      labels:\n"
                           "        job: systemd-journal\n"
                           "  - job_name: push1\n"
                           "    loki_push_api:\n"
                           "      server:\n"
                           "        http_listen_port: 3500\n"
                           "        grpc_listen_port: 3600\n"
                           "      labels:\n"
                           "        pushserver: push1\n"
                           "      use_incoming_timestamp: true\n"
                           "  - job_name: kubernetes-pods\n"
                           "    kubernetes_sd_configs:\n"
                           "      - role: pod\n"
                           "        namespaces:\n"
                           "          names: [default, kube-system]\n"
                           "        pods_dir: /host/var/log/pods\n"
                           "        api_server: https://k8s\n"
                           "        selectors:\n"
                           "          - role: pod\n"
                           "            field: spec.nodeName=n1\n"
                           "limits_config:\n"
                           "  readline_rate_enabled: true\n"
                           "  readline_rate: 50.5\n"
                           "  readline_burst: 60\n"
                           "  readline_rate_drop: false\n"
                           "  max_streams: 7\n"
                           "  max_line_size: 256KB\n"
                           "  max_line_size_truncate: true\n"
                           "target_config:\n"
                           "  sync_period: 20s\n"
                           "global:\n"
                           "  file_watch_config:\n"
                           "    min_poll_frequency: 100ms\n"
                           "    max_poll_frequency: 5s\n"
                           "options:\n"
                           "  stream_lag_labels: [a, b]\n"
                           "tracing:\n"
                           "  enabled: false\n";

static void test_every_key(void **state)
{
    (void)state;
    struct noa_shipper_config *cfg = parse_ok(full);
    assert_string_equal(cfg->server.http_listen_address, "127.0.0.1");
    assert_int_equal(cfg->server.http_listen_port, 9080);
    assert_int_equal(cfg->server.grpc_listen_port, 0);
    assert_string_equal(cfg->server.log_level, "debug");
    assert_string_equal(cfg->server.log_format, "json");
    assert_int_equal(cfg->server.register_instrumentation, 0);
    assert_int_equal(cfg->server.graceful_shutdown_timeout_ns, 5 * SEC);
    assert_int_equal(cfg->server.http_server_read_timeout_ns, 60 * SEC);
    assert_int_equal(cfg->server.http_server_write_timeout_ns, 120 * SEC);
    assert_int_equal(cfg->server.http_server_idle_timeout_ns, 180 * SEC);
    assert_string_equal(cfg->server.http_path_prefix, "/promtail");
    assert_int_equal(cfg->server.health_check_target, 0);
    assert_int_equal(cfg->server.enable_runtime_reload, 1);
    assert_int_equal(cfg->server.profiling_enabled, 1);
    assert_string_equal(cfg->positions.filename, "/tmp/positions.yaml");
    assert_int_equal(cfg->positions.sync_period_ns, 3 * SEC);
    assert_int_equal(cfg->positions.ignore_invalid_yaml, 1);

    assert_int_equal(cfg->n_clients, 2);
    const struct noa_shipper_client_config *c = &cfg->clients[0];
    assert_string_equal(c->url, "http://loki:3100/loki/api/v1/push");
    assert_string_equal(c->name, "main");
    assert_string_equal(c->tenant_id, "tenant1");
    assert_int_equal(c->batchwait_ns, 2 * SEC);
    assert_int_equal(c->batchsize, 2048);
    assert_int_equal(c->timeout_ns, 7 * SEC);
    assert_int_equal(c->drop_rate_limited_batches, 1);
    assert_int_equal(c->encoding, NOA_SHIPPER_ENCODING_ZSTD);
    assert_int_equal(c->backoff_min_period_ns, 100 * MS);
    assert_int_equal(c->backoff_max_period_ns, 10 * SEC);
    assert_int_equal(c->backoff_max_retries, 3);
    assert_string_equal(kv(&c->external_labels, "cluster"), "c1");
    assert_string_equal(kv(&c->external_labels, "env"), "prod");
    assert_string_equal(kv(&c->headers, "X-Custom"), "yes please");
    assert_string_equal(c->basic_auth_username, "user");
    assert_string_equal(c->resolved_password, "hunter2");
    assert_int_equal(c->follow_redirects, 0);
    /* The legacy `client` block comes after `clients`. */
    assert_string_equal(cfg->clients[1].url, "https://other/loki/api/v1/push");
    assert_string_equal(cfg->clients[1].resolved_token, "tok");
    assert_int_equal(cfg->clients[1].encoding, NOA_SHIPPER_ENCODING_SNAPPY);
    assert_int_equal(cfg->clients[1].backoff_max_retries, 0);

    assert_int_equal(cfg->n_scrape, 4);
    const struct noa_shipper_scrape_config *s = &cfg->scrape[0];
    assert_string_equal(s->job_name, "system");
    assert_non_null(s->pipeline_stages);
    assert_int_equal(s->pipeline_stages->kind, NOA_YAML_SEQ);
    assert_int_equal(s->pipeline_stages->n, 2);
    assert_string_equal(s->pipeline_stages->items[0]->pairs[0].key->str, "regex");
    assert_int_equal(s->n_static, 1);
    assert_int_equal(s->static_configs[0].targets.n, 1);
    assert_string_equal(s->static_configs[0].targets.v[0], "localhost");
    assert_string_equal(kv(&s->static_configs[0].labels, "__path__"), "/var/log/*log");
    assert_string_equal(kv(&s->static_configs[0].labels, "job"), "varlogs");
    assert_int_equal(s->n_file_sd, 1);
    assert_int_equal(s->file_sd[0].files.n, 2);
    assert_int_equal(s->file_sd[0].refresh_interval_ns, 60 * SEC);
    assert_int_equal(s->relabel->n, 1);
    assert_null(s->journal);
    assert_null(s->push);

    s = &cfg->scrape[1];
    assert_non_null(s->journal);
    assert_int_equal(s->journal->json, 1);
    assert_int_equal(s->journal->max_age_ns, 12 * 3600 * SEC);
    assert_string_equal(s->journal->path, "/var/log/journal");
    assert_string_equal(s->journal->matches, "_TRANSPORT=kernel");
    assert_string_equal(kv(&s->journal->labels, "job"), "systemd-journal");
    assert_null(s->pipeline_stages);
    assert_int_equal(s->relabel->n, 0);

    s = &cfg->scrape[2];
    assert_non_null(s->push);
    assert_int_equal(s->push->server.http_listen_port, 3500);
    assert_int_equal(s->push->server.grpc_listen_port, 3600);
    assert_int_equal(s->push->use_incoming_timestamp, 1);
    assert_string_equal(kv(&s->push->labels, "pushserver"), "push1");

    s = &cfg->scrape[3];
    assert_int_equal(s->n_k8s_sd, 1);
    assert_string_equal(s->k8s_sd[0].role, "pod");
    assert_int_equal(s->k8s_sd[0].namespaces.n, 2);
    assert_string_equal(s->k8s_sd[0].namespaces.v[1], "kube-system");
    assert_string_equal(s->k8s_sd[0].pods_dir, "/host/var/log/pods");

    assert_int_equal(cfg->limits.readline_rate_enabled, 1);
    assert_true(cfg->limits.readline_rate == 50.5);
    assert_int_equal(cfg->limits.readline_burst, 60);
    assert_int_equal(cfg->limits.readline_rate_drop, 0);
    assert_int_equal(cfg->limits.max_streams, 7);
    assert_int_equal(cfg->limits.max_line_size, 256 * 1024);
    assert_int_equal(cfg->limits.max_line_size_truncate, 1);
    assert_int_equal(cfg->target_sync_period_ns, 20 * SEC);
    assert_int_equal(cfg->file_watch_min_poll_ns, 100 * MS);
    assert_int_equal(cfg->file_watch_max_poll_ns, 5 * SEC);
    assert_int_equal(cfg->stream_lag_labels.n, 2);
    noa_shipper_config_free(cfg);
}

static void test_client_mapping(void **state)
{
    (void)state;
    struct noa_shipper_config *cfg = parse_ok(full);
    struct noa_client_config cc;
    noa_shipper_config_client(cfg, 0, &cc);
    assert_string_equal(cc.url, "http://loki:3100/loki/api/v1/push");
    assert_string_equal(cc.tenant_id, "tenant1");
    assert_int_equal(cc.batch_size, 2048);
    assert_int_equal(cc.batch_wait_ms, 2000);
    assert_int_equal(cc.timeout_ms, 7000);
    assert_int_equal(cc.min_backoff_ms, 100);
    assert_int_equal(cc.max_backoff_ms, 10000);
    assert_int_equal(cc.max_retries, 3);
    assert_int_equal(cc.n_external_labels, 2);
    assert_int_equal(cc.external_labels[0].name.len, 7);
    assert_memory_equal(cc.external_labels[0].name.p, "cluster", 7);
    assert_memory_equal(cc.external_labels[1].value.p, "prod", 4);
    assert_string_equal(cc.basic_user, "user");
    assert_string_equal(cc.basic_pass, "hunter2");
    assert_null(cc.bearer_token);
    assert_int_equal(cc.n_headers, 1);
    assert_string_equal(cc.headers[0], "X-Custom: yes please");
    assert_int_equal(cc.drop_rate_limited, 1);
    noa_shipper_config_client(cfg, 1, &cc);
    assert_null(cc.tenant_id);
    assert_string_equal(cc.bearer_token, "tok");
    assert_null(cc.basic_user);
    assert_int_equal(cc.batch_size, 1048576);
    assert_int_equal(cc.batch_wait_ms, 1000);
    assert_int_equal(cc.max_retries, 0);
    noa_shipper_config_free(cfg);

    /* A non-Bearer authorization scheme travels as a header. */
    cfg = parse_ok("clients:\n  - url: http://x/y\n    authorization:\n      type: Token\n"
                   "      credentials: abc\n");
    noa_shipper_config_client(cfg, 0, &cc);
    assert_null(cc.bearer_token);
    assert_int_equal(cc.n_headers, 1);
    assert_string_equal(cc.headers[0], "Authorization: Token abc");
    noa_shipper_config_free(cfg);
    cfg = parse_ok("clients:\n  - url: http://x/y\n    authorization:\n      credentials: abc\n");
    noa_shipper_config_client(cfg, 0, &cc);
    assert_string_equal(cc.bearer_token, "abc");
    assert_int_equal(cc.n_headers, 0);
    noa_shipper_config_free(cfg);
}

/* The docs' examples and the Helm chart's rendered config load unchanged. */
static const char docs_static[] =
    "server:\n  http_listen_port: 9080\n  grpc_listen_port: 0\n\n"
    "positions:\n  filename: /tmp/positions.yaml\n\n"
    "clients:\n  - url: http://ip_or_hostname_where_loki_runs:3100/loki/api/v1/push\n\n"
    "scrape_configs:\n - job_name: system\n   pipeline_stages:\n   static_configs:\n"
    "   - targets:\n      - localhost\n     labels:\n      job: varlogs  # A `job` label is "
    "fairly standard in prometheus and useful for linking metrics and logs.\n"
    "      host: yourhost # A `host` label will help identify logs from this machine vs others\n"
    "      __path__: /var/log/*.log  # The path matching uses a third party library: "
    "https://github.com/bmatcuk/doublestar\n";

static const char docs_no_targets[] =
    "server:\n  http_listen_port: 9080\n  grpc_listen_port: 0\n\n"
    "positions:\n  filename: /tmp/positions.yaml\n\n"
    "clients:\n  - url: http://ip_or_hostname_where_Loki_run:3100/loki/api/v1/push\n\n"
    "scrape_configs:\n - job_name: system\n   pipeline_stages:\n   static_configs:\n"
    "   - labels:\n      job: varlogs  # A `job` label is fairly standard in prometheus\n"
    "      host: yourhost # A `host` label will help identify logs from this machine\n"
    "      __path__: /var/log/*.log  # The path matching uses a third party library\n";

static const char docs_journal[] =
    "server:\n  http_listen_port: 9080\n  grpc_listen_port: 0\n\n"
    "positions:\n  filename: /tmp/positions.yaml\n\n"
    "clients:\n  - url: http://localhost:3100/loki/api/v1/push\n\n"
    "scrape_configs:\n  - job_name: journal\n    journal:\n      json: false\n"
    "      max_age: 12h\n      path: /var/log/journal\n      matches: _TRANSPORT=kernel\n"
    "      labels:\n        job: systemd-journal\n    relabel_configs:\n"
    "      - source_labels: ['__journal__systemd_unit']\n        target_label: 'unit'\n";

static const char docs_push[] =
    "server:\n  http_listen_port: 9080\n  grpc_listen_port: 0\n\n"
    "positions:\n  filename: /tmp/positions.yaml\n\n"
    "clients:\n  - url: http://ip_or_hostname_where_Loki_run:3100/loki/api/v1/push\n\n"
    "scrape_configs:\n- job_name: push1\n  loki_push_api:\n    server:\n"
    "      http_listen_port: 3500\n      grpc_listen_port: 3600\n    labels:\n"
    "      pushserver: push1\n";

static const char helm[] =
    "server:\n  log_level: info\n  log_format: logfmt\n  http_listen_port: 3101\n  \n\n"
    "clients:\n  - url: http://loki-gateway/loki/api/v1/push\n\n"
    "positions:\n  filename: /run/promtail/positions.yaml\n\n"
    "scrape_configs:\n  # See also https://github.com/grafana/loki/blob/master/production/ksonnet/"
    "promtail/scrape_config.libsonnet for reference\n"
    "  - job_name: kubernetes-pods\n    pipeline_stages:\n      - cri: {}\n"
    "    kubernetes_sd_configs:\n      - role: pod\n    relabel_configs:\n"
    "      - source_labels:\n          - __meta_kubernetes_pod_controller_name\n"
    "        regex: ([0-9a-z-.]+?)(-[0-9a-f]{8,10})?\n        action: replace\n"
    "        target_label: __tmp_controller_name\n"
    "      - source_labels:\n          - __meta_kubernetes_pod_label_app_kubernetes_io_name\n"
    "          - __meta_kubernetes_pod_label_app\n          - __tmp_controller_name\n"
    "          - __meta_kubernetes_pod_name\n        regex: ^;*([^;]+)(;.*)?$\n"
    "        action: replace\n        target_label: app\n"
    "      - action: replace\n        replacement: $1\n        separator: /\n"
    "        source_labels:\n        - namespace\n        - app\n        target_label: job\n"
    "      - action: replace\n        replacement: /var/log/pods/*$1/*.log\n"
    "        separator: /\n        source_labels:\n        - __meta_kubernetes_pod_uid\n"
    "        - __meta_kubernetes_pod_container_name\n        target_label: __path__\n\n"
    "limits_config:\n\n"
    "tracing:\n  enabled: false\n";

static void test_promtail_configs(void **state)
{
    (void)state;
    struct noa_shipper_config *cfg = parse_ok(docs_static);
    assert_int_equal(cfg->n_scrape, 1);
    assert_null(cfg->scrape[0].pipeline_stages); /* `pipeline_stages:` is null */
    assert_string_equal(kv(&cfg->scrape[0].static_configs[0].labels, "host"), "yourhost");
    noa_shipper_config_free(cfg);
    cfg = parse_ok(docs_no_targets);
    assert_int_equal(cfg->scrape[0].static_configs[0].targets.n, 0);
    assert_string_equal(kv(&cfg->scrape[0].static_configs[0].labels, "job"), "varlogs");
    noa_shipper_config_free(cfg);
    cfg = parse_ok(docs_journal);
    assert_non_null(cfg->scrape[0].journal);
    assert_int_equal(cfg->scrape[0].relabel->n, 1);
    noa_shipper_config_free(cfg);
    cfg = parse_ok(docs_push);
    assert_int_equal(cfg->scrape[0].push->server.http_listen_port, 3500);
    noa_shipper_config_free(cfg);
    cfg = parse_ok(helm);
    assert_int_equal(cfg->server.http_listen_port, 3101);
    assert_string_equal(cfg->positions.filename, "/run/promtail/positions.yaml");
    assert_int_equal(cfg->scrape[0].relabel->n, 4);
    assert_string_equal(cfg->scrape[0].k8s_sd[0].role, "pod");
    noa_shipper_config_free(cfg);
}

static void test_example_file(void **state)
{
    (void)state;
    const char *src = getenv("NOA_SRC");
    char path[1024];
    snprintf(path, sizeof(path), "%s/config/shipper.yaml", src ? src : ".");
    struct noa_shipper_config *cfg = NULL;
    struct noa_error err = {0};
    int rc = noa_shipper_config_load(path, 0, &cfg, &err);
    if (rc)
        fail_msg("%s: %s", path, err.msg);
    assert_int_equal(cfg->n_scrape, 3);
    assert_string_equal(cfg->scrape[0].job_name, "kubernetes-pods");
    assert_int_equal(cfg->scrape[0].relabel->n, 11);
    assert_non_null(cfg->scrape[1].journal);
    assert_int_equal(cfg->clients[0].encoding, NOA_SHIPPER_ENCODING_ZSTD);
    assert_int_equal(cfg->limits.max_line_size, 262144);
    noa_shipper_config_free(cfg);
    /* A missing file is -ENOENT with the path in the message. */
    rc = noa_shipper_config_load("/nonexistent/promtail.yaml", 0, &cfg, &err);
    assert_int_equal(rc, -2);
    assert_null(cfg);
    assert_non_null(strstr(err.msg, "/nonexistent/promtail.yaml"));
}

static void test_errors(void **state)
{
    (void)state;
    parse_err("servr:\n  x: 1\n", NOA_EINVAL, "field servr not found in type config.Config", 1, 1);
    parse_err("server:\n  http_port: 1\n", NOA_EINVAL,
              "field http_port not found in type server.Config", 2, 3);
    parse_err("server:\n  http_listen_port: abc\n", NOA_EINVAL, "cannot unmarshal !!str `abc`", 2,
              21);
    parse_err("server:\n  log_level: loud\n", NOA_EINVAL, "log_level", 2, 14);
    parse_err("positions:\n  sync_period: 10 parsecs\n", NOA_EINVAL, "into duration", 2, 16);
    parse_err("clients:\n  - url: http://x\n    batch_wait: 1s\n", NOA_EINVAL,
              "field batch_wait not found in type client.Config", 3, 5);
    parse_err("clients:\n  - tenant_id: a\n", NOA_EINVAL, "client needs target URL", 2, 5);
    parse_err("clients:\n  - url: loki:3100\n", NOA_EINVAL, "must start with http:// or https://",
              2, 10);
    parse_err("clients:\n  - url: http://x\n    encoding: gzip\n", NOA_EINVAL, "encoding", 3, 15);
    parse_err("clients:\n  - url: http://x\n    external_labels:\n      bad-name: x\n", NOA_EINVAL,
              "\"bad-name\" is not a valid label name", 4, 7);
    parse_err("clients:\n  - url: http://x\n    bearer_token: a\n    basic_auth:\n"
              "      username: u\n",
              NOA_EINVAL, "at most one of basic_auth, oauth2, bearer_token & bearer_token_file", 2,
              5);
    parse_err("clients:\n  - url: http://x\n    bearer_token: a\n    bearer_token_file: /f\n",
              NOA_EINVAL, "at most one of bearer_token & bearer_token_file", 2, 5);
    parse_err("clients:\n  - url: http://x\n    authorization:\n      type: Basic\n"
              "      credentials: x\n",
              NOA_EINVAL, "use \"basic_auth\" instead", 2, 5);
    parse_err("clients:\n  - url: http://x\n    oauth2:\n      client_id: a\n", NOA_EUNSUPP,
              "oauth2 is not supported by noa-shipper", 3, 5);
    parse_err("clients:\n  - url: http://x\n    bearer_token_file: /nonexistent/token\n",
              NOA_EINVAL, "unable to read /nonexistent/token", 3, 24);
    parse_err("clients:\n  - url: http://x\n    name: a\n  - url: http://y\n    name: a\n",
              NOA_EINVAL, "found duplicate for name: a", 4, 5);
    parse_err("clients: {url: http://x}\n", NOA_EINVAL,
              "cannot unmarshal !!map into []client.Config", 1, 10);
    parse_err("scrape_configs:\n  - static_configs: []\n", NOA_EINVAL, "job_name is empty", 2, 5);
    parse_err("scrape_configs:\n  - job_name: a\n  - job_name: a\n", NOA_EINVAL,
              "found multiple scrape configs with job name \"a\"", 3, 5);
    parse_err("scrape_configs:\n  - job_name: a\n    static_config:\n      - targets: [x]\n",
              NOA_EINVAL, "field static_config not found in type scrapeconfig.Config", 3, 5);
    parse_err("scrape_configs:\n  - job_name: a\n    static_configs:\n      - target: [x]\n",
              NOA_EINVAL, "field target not found in type targetgroup.Group", 4, 9);
    parse_err("scrape_configs:\n  - job_name: a\n    static_configs:\n      - labels:\n"
              "          job: [x]\n",
              NOA_EINVAL, "cannot unmarshal !!seq into model.LabelValue", 5, 16);
    parse_err("scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: nope\n",
              NOA_EINVAL, "unknown relabel action \"nope\"", 4, 17);
    parse_err("scrape_configs:\n  - job_name: a\n    syslog:\n      listen_address: 0.0.0.0:1514\n",
              NOA_EUNSUPP, "syslog is not supported by noa-shipper", 3, 5);
    parse_err("scrape_configs:\n  - job_name: a\n    consul_sd_configs:\n      - server: x\n",
              NOA_EUNSUPP, "consul_sd_configs is not supported by noa-shipper", 3, 5);
    parse_err("scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs:\n      - role: node\n",
              NOA_EUNSUPP, "role node is not supported", 4, 9);
    parse_err("scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs:\n      - rolee: pod\n",
              NOA_EINVAL, "field rolee not found in type kubernetes.SDConfig", 4, 9);
    parse_err("scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: [/x.txt]\n",
              NOA_EINVAL, "path name \"/x.txt\" is not valid for file discovery", 4, 9);
    parse_err("scrape_configs:\n  - job_name: a\n    journal:\n      max_age: forever\n",
              NOA_EINVAL, "into duration", 4, 16);
    parse_err("scrape_configs:\n  - job_name: a\n    journal:\n      jsn: true\n", NOA_EINVAL,
              "field jsn not found in type scrapeconfig.JournalTargetConfig", 4, 7);
    parse_err("scrape_configs:\n  - job_name: a\n    loki_push_api:\n      server:\n"
              "        port: 1\n",
              NOA_EINVAL, "field port not found in type server.Config", 5, 9);
    parse_err("scrape_configs:\n  - job_name: a\n    encoding: UTF-16LE\n", NOA_EUNSUPP,
              "an encoding other than UTF-8 is not supported", 3, 5);
    parse_err("scrape_configs:\n  - job_name: a\n    decompression:\n      enabled: true\n",
              NOA_EUNSUPP, "decompression is not supported", 3, 5);
    parse_err("scrape_configs:\n  - job_name: a\n    pipeline_stages:\n      regex: {}\n",
              NOA_EINVAL, "cannot unmarshal !!map into stages.PipelineStages", 4, 7);
    parse_err("limits_config:\n  readline_rate_enabled: true\n  readline_rate: 0\n", NOA_EINVAL,
              "readline_rate and readline_burst must be positive", 2, 3);
    parse_err("server:\n  http_listen_port: 70000\n", NOA_EINVAL, "out of range", 2, 21);
    parse_err("a: [\n", NOA_EINVAL, "promtail.yaml:", 0, 0);
    parse_err("- 1\n", NOA_EINVAL, "cannot unmarshal !!seq into config.Config", 1, 1);
}

static void test_accepted_blocks(void **state)
{
    (void)state;
    /* Keys Promtail users carry over, accepted without effect. */
    struct noa_shipper_config *cfg = parse_ok(
        "server:\n  http_tls_config:\n    cert_file: /c\n  grpc_server_max_concurrent_streams: 5\n"
        "wal:\n  enabled: false\n"
        "clients:\n  - url: https://x/y\n    tls_config:\n      ca_file: /ca\n"
        "      insecure_skip_verify: true\n    proxy_url: http://proxy:3128\n"
        "    stream_lag_labels: [filename]\n"
        "scrape_configs:\n  - job_name: k\n    encoding: UTF-8\n    decompression:\n"
        "      enabled: false\n      format: gz\n"
        "    kubernetes_sd_configs:\n      - role: pod\n        kubeconfig_file: /k\n"
        "        tls_config: {insecure_skip_verify: true}\n        namespaces:\n"
        "          own_namespace: true\n");
    assert_string_equal(cfg->clients[0].tls_ca_file, "/ca");
    assert_int_equal(cfg->clients[0].tls_insecure_skip_verify, 1);
    assert_string_equal(cfg->clients[0].proxy_url, "http://proxy:3128");
    assert_int_equal(cfg->scrape[0].n_k8s_sd, 1);
    noa_shipper_config_free(cfg);
}

static void test_expand_env(void **state)
{
    (void)state;
    const char *text =
        "clients:\n  - url: ${NOA_TEST_LOKI_URL}\n    tenant_id: ${NOA_TEST_UNSET:-dflt}\n";
    setenv("NOA_TEST_LOKI_URL", "http://envloki:3100/loki/api/v1/push", 1);
    struct noa_shipper_config *cfg = NULL;
    struct noa_error err = {0};
    assert_int_equal(noa_shipper_config_parse(text, strlen(text), "e.yaml", 1, &cfg, &err), 0);
    assert_string_equal(cfg->clients[0].url, "http://envloki:3100/loki/api/v1/push");
    assert_string_equal(cfg->clients[0].tenant_id, "dflt");
    noa_shipper_config_free(cfg);
    /* Without expansion the reference stays, and is not a URL. */
    assert_int_equal(noa_shipper_config_parse(text, strlen(text), "e.yaml", 0, &cfg, &err),
                     NOA_EINVAL);
    assert_non_null(strstr(err.msg, "must start with http://"));
    unsetenv("NOA_TEST_LOKI_URL");
}

static void test_secret_files_and_print(void **state)
{
    (void)state;
    char pw[] = "/tmp/noa-cfg-pw-XXXXXX";
    int fd = mkstemp(pw);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "  s3cret\n", 9), 9);
    close(fd);
    char text[1024];
    snprintf(text, sizeof(text),
             "clients:\n  - url: http://x/y\n    basic_auth:\n      username: u\n"
             "      password_file: %s\n"
             "  - url: http://z/y\n    bearer_token: tokval\n"
             "scrape_configs:\n  - job_name: j\n    pipeline_stages:\n      - regex:\n"
             "          expression: \"a: (?P<x>.*)\"\n      - cri: {}\n"
             "    static_configs:\n      - targets: [localhost]\n        labels:\n"
             "          __path__: /var/log/*.log\n    relabel_configs:\n"
             "      - source_labels: [a]\n        target_label: b\n",
             pw);
    struct noa_shipper_config *cfg = parse_ok(text);
    assert_string_equal(cfg->clients[0].resolved_password, "s3cret");
    struct noa_client_config cc;
    noa_shipper_config_client(cfg, 0, &cc);
    assert_string_equal(cc.basic_pass, "s3cret");
    struct noa_buf out = {0};
    noa_shipper_config_print(cfg, &out);
    noa_buf_cstr(&out);
    assert_null(strstr(out.data, "s3cret"));
    assert_null(strstr(out.data, "tokval"));
    assert_non_null(strstr(out.data, "bearer_token: <secret>"));
    assert_non_null(strstr(out.data, "http_listen_port: 80\n"));
    assert_non_null(strstr(out.data, "  - url: http://x/y\n"));
    assert_non_null(strstr(out.data, "    backoff_config:\n      min_period: 500ms\n"));
    assert_non_null(strstr(out.data, "  - job_name: j\n"));
    assert_non_null(strstr(out.data, "\"__path__\": \"/var/log/*.log\""));
    assert_non_null(strstr(out.data, "sync_period: 10s"));
    /* The printed config is itself a valid config with the same meaning. */
    struct noa_shipper_config *again = parse_ok(out.data);
    assert_int_equal(again->n_clients, 2);
    assert_int_equal(again->n_scrape, 1);
    assert_string_equal(again->scrape[0].job_name, "j");
    assert_int_equal(again->scrape[0].pipeline_stages->n, 2);
    const struct noa_yaml_node *expr =
        noa_yaml_path(again->scrape[0].pipeline_stages->items[0], "regex.expression");
    assert_non_null(expr);
    assert_string_equal(expr->str, "a: (?P<x>.*)");
    assert_int_equal(again->scrape[0].relabel->n, 1);
    assert_string_equal(kv(&again->scrape[0].static_configs[0].labels, "__path__"),
                        "/var/log/*.log");
    noa_shipper_config_free(again);
    noa_buf_fini(&out);
    noa_shipper_config_free(cfg);
    unlink(pw);
}

/* The packaged /etc/noa/noa-shipper.yaml (packaging/) loads and keeps its
 * state where the systemd unit lets it write. */
static void test_packaged_config(void **state)
{
    (void)state;
    const char *src = getenv("NOA_SRC");
    char path[1024];
    snprintf(path, sizeof(path), "%s/packaging/noa-shipper.yaml", src ? src : ".");
    struct noa_shipper_config *cfg = NULL;
    struct noa_error err = {0};
    int rc = noa_shipper_config_load(path, 0, &cfg, &err);
    if (rc)
        fail_msg("%s: %s", path, err.msg);
    assert_string_equal(cfg->positions.filename, "/var/lib/noa-shipper/positions.yaml");
    assert_int_equal(cfg->server.http_listen_port, 9080);
    assert_int_equal(cfg->n_clients, 1);
    assert_string_equal(cfg->clients[0].url, "http://127.0.0.1:3100/loki/api/v1/push");
    int journal = 0, varlog = 0;
    for (uint32_t i = 0; i < cfg->n_scrape; i++) {
        journal += cfg->scrape[i].journal != NULL;
        for (uint32_t j = 0; j < cfg->scrape[i].n_static; j++) {
            const char *glob = kv(&cfg->scrape[i].static_configs[j].labels, "__path__");
            varlog += glob && strncmp(glob, "/var/log/", 9) == 0;
        }
    }
    assert_int_equal(journal, 1);
    assert_true(varlog >= 1);
    noa_shipper_config_free(cfg);
}

static int read_text(const char *path, struct noa_buf *out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        noa_buf_append(out, tmp, n);
    fclose(f);
    noa_buf_cstr(out);
    return 0;
}

/* docs/shipper-configuration.md is generated from the tables; keep it in
 * step (NOA_REGEN_DOCS=1 rewrites it), and check that every table made it
 * in under its own heading with its keys and defaults. */
static void test_reference_doc_is_current(void **state)
{
    (void)state;
    const char *src = getenv("NOA_SRC");
    char path[1024];
    snprintf(path, sizeof(path), "%s/docs/shipper-configuration.md", src ? src : ".");
    struct noa_buf want = {0};
    noa_shipper_config_markdown(&want);
    noa_buf_cstr(&want);
    static const char *const must[] = {
        "## Command-line flags",
        "  -check-syntax\n",
        "  -config.file string\n",
        "### Top level (`config.Config`)",
        "### positions\n",
        "[filename: <string> | default = \"/var/log/positions.yaml\"]",
        "[sync_period: <duration> | default = 10s]",
        "### `server` (`server.Config`)",
        "[http_listen_port: <int> | default = 80]",
        "[log_level: <string> | default = \"info\"]",
        "### `clients[]` (`client.Config`)",
        "#### `clients[].backoff_config`",
        "[max_period: <duration> | default = 5m]",
        "[encoding: <string> | default = \"snappy\"]",
        "#### `clients[].tls_config`",
        "### `scrape_configs[]` (`scrapeconfig.Config`)",
        "### `scrape_configs[].file_sd_configs[]` (`file.SDConfig`)",
        "[refresh_interval: <duration> | default = 5m]",
        "### `scrape_configs[].kubernetes_sd_configs[]` (`kubernetes.SDConfig`)",
        "#### `scrape_configs[].kubernetes_sd_configs[].namespaces`",
        "### `scrape_configs[].journal` (`scrapeconfig.JournalTargetConfig`)",
        "[max_age: <duration> | default = 7h]",
        "### `scrape_configs[].loki_push_api` (`scrapeconfig.PushTargetConfig`)",
        "[use_incoming_timestamp: <boolean> | default = false]",
        NULL,
    };
    for (int i = 0; must[i]; i++)
        if (!strstr(want.data, must[i]))
            fail_msg("the reference lacks \"%s\"", must[i]);
    /* The generic "Top level" title is used once only: the other tables got
     * their place in the file as title. */
    const char *first = strstr(want.data, "### Top level");
    assert_non_null(first);
    assert_null(strstr(first + 1, "### Top level"));
    /* Accepted-only keys are there for Promtail's sake, not Loki's. */
    assert_non_null(strstr(want.data, "compatibility with Promtail"));
    assert_null(strstr(want.data, "compatibility with Loki"));
    if (getenv("NOA_REGEN_DOCS")) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(want.data, f);
        fclose(f);
        noa_buf_fini(&want);
        return;
    }
    struct noa_buf got = {0};
    if (read_text(path, &got) < 0)
        fail_msg("%s missing: run this test with NOA_REGEN_DOCS=1", path);
    if (strcmp(want.data, got.data) != 0)
        fail_msg("%s is stale: run this test with NOA_REGEN_DOCS=1", path);
    noa_buf_fini(&want);
    noa_buf_fini(&got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables),           cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_key),        cmocka_unit_test(test_client_mapping),
        cmocka_unit_test(test_promtail_configs), cmocka_unit_test(test_example_file),
        cmocka_unit_test(test_errors),           cmocka_unit_test(test_accepted_blocks),
        cmocka_unit_test(test_expand_env),       cmocka_unit_test(test_secret_files_and_print),
        cmocka_unit_test(test_packaged_config),  cmocka_unit_test(test_reference_doc_is_current),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
