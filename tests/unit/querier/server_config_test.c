/*
 * Tests for querier/server_config: Loki's defaults, the shipped example
 * configs (config/noa.yaml, config/loki-local.yaml), flags over the file,
 * errors with file:line:col, derived directories, dumps, and that
 * docs/configuration.md matches the table (NOA_REGEN_DOCS=1 rewrites it).
 * Single-threaded; works in a temporary directory.
 */
#include "querier/server_config.h"
#include "common/log.h"
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

static char src_root[4096]; /* absolute path of the source tree */
static char tmp_dir[256];

static void path_in_src(char *out, size_t cap, const char *rel)
{
    snprintf(out, cap, "%s/%s", src_root, rel);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Runs the loader over a NULL-terminated argument list. */
static int load(struct noa_server_config *cfg, struct noa_error *err, ...)
{
    char *argv[64] = {"noa-server"};
    int argc = 1;
    va_list ap;
    va_start(ap, err);
    const char *a;
    while ((a = va_arg(ap, const char *)) && argc < 63)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    memset(err, 0, sizeof(*err));
    return noa_server_config_load(argc, argv, cfg, err);
}

/* Captures noa_log output while loading. */
static char *log_path_buf;
static int log_fd = -1;

static void capture_log(void)
{
    static char path[] = "/tmp/noa_sc_log_XXXXXX";
    strcpy(path, "/tmp/noa_sc_log_XXXXXX");
    log_fd = mkstemp(path);
    assert_true(log_fd >= 0);
    log_path_buf = path;
    noa_log_set_fd(log_fd);
}

static char *end_capture(void)
{
    noa_log_set_fd(2);
    struct noa_buf b = {0};
    char tmp[4096];
    lseek(log_fd, 0, SEEK_SET);
    ssize_t n;
    while ((n = read(log_fd, tmp, sizeof(tmp))) > 0)
        noa_buf_append(&b, tmp, (size_t)n);
    close(log_fd);
    unlink(log_path_buf);
    noa_buf_cstr(&b);
    return noa_buf_steal(&b, NULL);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static int setup(void **state)
{
    (void)state;
    const char *src = getenv("NOA_SRC");
    if (!realpath(src ? src : ".", src_root))
        return -1;
    strcpy(tmp_dir, "/tmp/noa_sc_XXXXXX");
    if (!mkdtemp(tmp_dir) || chdir(tmp_dir) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink("config.yaml");
    if (chdir("/") != 0 || rmdir(tmp_dir) != 0)
        return -1;
    return 0;
}

static void test_table_is_well_formed(void **state)
{
    (void)state;
    struct noa_error err = {0};
    int rc = noa_config_check_table(noa_server_config_table(), &err);
    if (rc)
        fail_msg("%s", err.msg);
}

static void test_defaults_match_loki(void **state)
{
    (void)state;
    int64_t before = noa_mem_in_use();
    struct noa_server_config c;
    struct noa_error err;
    assert_int_equal(load(&c, &err, NULL), 0);
    assert_int_equal(c.action, NOA_SERVER_RUN);
    assert_null(c.config_file);
    assert_string_equal(c.target, "all");
    assert_int_equal(c.target_id, NOA_TARGET_ALL);
    assert_int_equal(c.auth_enabled, 1);
    assert_string_equal(c.server.http_listen_address, "");
    assert_int_equal(c.server.http_listen_port, 3100);
    assert_int_equal(c.server.grpc_listen_port, 9095);
    assert_string_equal(c.server.log_level, "info");
    assert_int_equal(c.server.http_server_read_timeout_ns, 30000000000LL);
    assert_int_equal(c.server.http_server_write_timeout_ns, 30000000000LL);
    assert_int_equal(c.server.http_server_idle_timeout_ns, 120000000000LL);
    assert_int_equal(c.server.register_instrumentation, 1);
    assert_int_equal(c.ingester.chunk_idle_period_ns, 1800000000000LL);
    assert_int_equal(c.ingester.chunk_block_size, 262144);
    assert_int_equal(c.ingester.chunk_target_size, 1572864);
    assert_int_equal(c.ingester.max_chunk_age_ns, 7200000000000LL);
    assert_int_equal(c.ingester.flush_check_period_ns, 30000000000LL);
    assert_int_equal(c.ingester.concurrent_flushes, 32);
    assert_int_equal(c.ingester.wal.enabled, 1);
    assert_int_equal(c.ingester.wal.checkpoint_duration_ns, 300000000000LL);
    assert_int_equal(c.ingester.wal.flush_on_shutdown, 0);
    assert_int_equal(c.ingester.wal.replay_memory_ceiling, 4LL << 30);
    assert_int_equal(c.distributor.max_recv_msg_size, 104857600);
    assert_int_equal(c.ruler.evaluation_interval_ns, 60000000000LL);
    assert_string_equal(c.wal_dir, "data/wal");
    assert_string_equal(c.chunks_dir, "data/chunks");
    assert_string_equal(c.index_dir, "data/index");
    assert_string_equal(c.rules_dir, "data/rules");
    assert_string_equal(c.ruler_wal_dir, "data/ruler-wal");

    /* limits_config gives exactly ingester/limits.c's defaults. */
    struct noa_limits d;
    noa_limits_defaults(&d);
    const struct noa_limits *l = &c.limits;
    assert_true(l->ingestion_rate_bytes == d.ingestion_rate_bytes);
    assert_true(l->ingestion_burst_bytes == d.ingestion_burst_bytes);
    assert_true(l->per_stream_rate_bytes == d.per_stream_rate_bytes);
    assert_true(l->per_stream_burst_bytes == d.per_stream_burst_bytes);
    assert_int_equal(l->max_line_size, d.max_line_size);
    assert_int_equal(l->max_line_size_truncate, d.max_line_size_truncate);
    assert_int_equal(l->max_label_names_per_series, d.max_label_names_per_series);
    assert_int_equal(l->max_label_name_length, d.max_label_name_length);
    assert_int_equal(l->max_label_value_length, d.max_label_value_length);
    assert_int_equal(l->reject_old_samples, d.reject_old_samples);
    assert_int_equal(l->reject_old_samples_max_age_ns, d.reject_old_samples_max_age_ns);
    assert_int_equal(l->creation_grace_period_ns, d.creation_grace_period_ns);
    assert_int_equal(l->max_global_streams_per_user, d.max_global_streams_per_user);
    assert_int_equal(l->max_streams_per_user, d.max_streams_per_user);
    assert_int_equal(l->allow_structured_metadata, d.allow_structured_metadata);
    assert_int_equal(l->max_structured_metadata_size, d.max_structured_metadata_size);
    assert_int_equal(l->max_structured_metadata_entries_count,
                     d.max_structured_metadata_entries_count);
    assert_int_equal(l->discover_log_levels, d.discover_log_levels);
    assert_int_equal(l->n_discover_service_name, d.n_discover_service_name);
    for (int i = 0; i < d.n_discover_service_name; i++)
        assert_string_equal(l->discover_service_name[i], d.discover_service_name[i]);
    assert_int_equal(l->n_log_level_fields, d.n_log_level_fields);
    for (int i = 0; i < d.n_log_level_fields; i++)
        assert_string_equal(l->log_level_fields[i], d.log_level_fields[i]);
    assert_int_equal(l->max_query_length_ns, d.max_query_length_ns);
    assert_int_equal(l->max_entries_limit_per_query, d.max_entries_limit_per_query);
    assert_int_equal(l->max_query_series, d.max_query_series);
    assert_int_equal(l->query_timeout_ns, d.query_timeout_ns);
    assert_int_equal(l->max_query_lookback_ns, d.max_query_lookback_ns);
    assert_int_equal(l->max_streams_matchers_per_query, d.max_streams_matchers_per_query);
    assert_int_equal(l->unordered_window_ns, d.unordered_window_ns);
    assert_int_equal(l->increment_duplicate_timestamp, d.increment_duplicate_timestamp);
    assert_int_equal(l->unordered_writes, d.unordered_writes);
    assert_int_equal(l->max_query_range_ns, d.max_query_range_ns);
    assert_int_equal(l->max_query_parallelism, d.max_query_parallelism);
    assert_int_equal(l->max_concurrent_tail_requests, d.max_concurrent_tail_requests);
    assert_int_equal(l->max_chunks_per_query, d.max_chunks_per_query);
    assert_int_equal(l->max_query_bytes_read, d.max_query_bytes_read);
    assert_int_equal(l->split_queries_by_interval_ns, d.split_queries_by_interval_ns);
    assert_int_equal(l->volume_enabled, d.volume_enabled);
    assert_int_equal(l->volume_max_series, d.volume_max_series);
    assert_int_equal(l->retention_period_ns, d.retention_period_ns);
    assert_int_equal(l->ruler_max_rules_per_rule_group, d.ruler_max_rules_per_rule_group);
    assert_int_equal(l->ruler_max_rule_groups_per_tenant, d.ruler_max_rule_groups_per_tenant);
    noa_server_config_fini(&c);
    noa_server_config_fini(&c); /* twice is harmless */
    assert_int_equal(noa_mem_in_use(), before);
}

static void test_loki_local_config(void **state)
{
    (void)state;
    char path[4200];
    path_in_src(path, sizeof(path), "config/loki-local.yaml");
    struct noa_server_config c;
    struct noa_error err;
    capture_log();
    int rc = load(&c, &err, "-config.file", path, NULL);
    char *log = end_capture();
    if (rc)
        fail_msg("%s", err.msg);
    /* Only warnings, one per block noa ignores, and nothing else. */
    static const char *const ignored[] = {"common.ring", "query_range", "schema_config",
                                          "pattern_ingester", "frontend", "analytics"};
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        char needle[64];
        snprintf(needle, sizeof(needle), "key=%s ", ignored[i]);
        if (count(log, needle) != 1)
            fail_msg("expected one warning for %s in:\n%s", ignored[i], log);
    }
    assert_int_equal(count(log, "level=warn"), 6);
    assert_int_equal(count(log, "\n"), 6);
    assert_string_equal(c.config_file, path);
    assert_int_equal(c.auth_enabled, 0);
    assert_int_equal(c.server.http_listen_port, 3100);
    assert_int_equal(c.server.grpc_listen_port, 9096);
    assert_string_equal(c.server.log_level, "debug");
    assert_string_equal(c.common.path_prefix, "/tmp/loki");
    assert_string_equal(c.common.instance_addr, "127.0.0.1");
    assert_int_equal(c.common.replication_factor, 1);
    assert_string_equal(c.chunks_dir, "/tmp/loki/chunks");
    assert_string_equal(c.rules_dir, "/tmp/loki/rules");
    assert_string_equal(c.wal_dir, "/tmp/loki/wal");
    assert_string_equal(c.index_dir, "/tmp/loki/index");
    assert_string_equal(c.ruler.alertmanager_url, "http://localhost:9093");
    noa_free(log);
    noa_server_config_fini(&c);
}

static void test_misspelt_key_has_position(void **state)
{
    (void)state;
    char src[4200];
    path_in_src(src, sizeof(src), "config/loki-local.yaml");
    FILE *f = fopen(src, "r");
    assert_non_null(f);
    struct noa_buf text = {0};
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        noa_buf_append(&text, tmp, n);
    fclose(f);
    int lines = 0;
    for (size_t i = 0; i < text.len; i++)
        lines += text.data[i] == '\n';
    noa_buf_printf(&text, "ingester:\n  max_chunk_age: 1h\n  chunk_idle_perod: 1h\n");
    write_file("bad.yaml", noa_buf_cstr(&text));
    noa_buf_fini(&text);

    struct noa_server_config c;
    struct noa_error err;
    capture_log();
    int rc = load(&c, &err, "-config.file=bad.yaml", NULL);
    noa_free(end_capture());
    unlink("bad.yaml");
    assert_int_equal(rc, NOA_EINVAL);
    char want[256];
    snprintf(want, sizeof(want), "bad.yaml:%d:3: field chunk_idle_perod not found in type "
                                 "ingester.Config",
             lines + 3);
    assert_string_equal(err.msg, want);
    assert_int_equal(err.line, lines + 3);
    assert_int_equal(err.col, 3);
}

static void test_noa_yaml(void **state)
{
    (void)state;
    char path[4200];
    path_in_src(path, sizeof(path), "config/noa.yaml");
    struct noa_server_config c;
    struct noa_error err;
    capture_log();
    int rc = load(&c, &err, "--config.file=", NULL);
    noa_free(end_capture());
    assert_int_equal(rc, 0); /* an empty -config.file falls back like none */
    noa_server_config_fini(&c);
    capture_log();
    rc = load(&c, &err, "--config.file", path, NULL);
    char *log = end_capture();
    if (rc)
        fail_msg("%s", err.msg);
    assert_string_equal(log, ""); /* nothing ignored, nothing to warn about */
    noa_free(log);
    assert_int_equal(c.auth_enabled, 0);
    assert_string_equal(c.server.http_listen_address, "127.0.0.1");
    assert_int_equal(c.server.http_listen_port, 3100);
    assert_string_equal(c.wal_dir, "./data/wal");
    struct noa_buf b = {0};
    noa_server_config_dump(&c, NOA_CONFIG_DUMP_DIFFS, &b);
    assert_string_equal(noa_buf_cstr(&b), "auth_enabled: false\n"
                                          "server:\n"
                                          "  http_listen_address: 127.0.0.1\n"
                                          "common:\n"
                                          "  path_prefix: ./data\n"
                                          "compactor:\n"
                                          "  retention_enabled: true\n");
    noa_buf_fini(&b);
    noa_server_config_fini(&c);
}

static void test_flags_override_file(void **state)
{
    (void)state;
    write_file("f.yaml", "server:\n  http_listen_port: 3200\n  log_level: warn\n"
                         "limits_config:\n  ingestion_rate_mb: 8\n  per_stream_rate_limit: 5MB\n"
                         "  discover_service_name: [svc]\n"
                         "ingester:\n  max_chunk_age: 4h\n  wal:\n    dir: /var/noa-wal\n"
                         "common:\n  storage:\n    filesystem:\n      chunks_directory: ch\n"
                         "ruler:\n  storage:\n    local:\n      directory: /etc/rules\n"
                         "  remote_write:\n    enabled: true\n    clients:\n      prom:\n"
                         "        url: http://p:9090/api/v1/write\n");
    struct noa_server_config c;
    struct noa_error err;
    int rc = load(&c, &err, "-server.http-listen-port=4000", "-config.file", "f.yaml",
                  "--log.level", "debug", "-auth.enabled=false", "-target=querier",
                  "-common.path-prefix", "/srv/noa", "-validation.max-label-names-per-series=20",
                  NULL);
    if (rc)
        fail_msg("%s", err.msg);
    assert_int_equal(c.server.http_listen_port, 4000);
    assert_string_equal(c.server.log_level, "debug");
    assert_int_equal(c.auth_enabled, 0);
    assert_int_equal(c.target_id, NOA_TARGET_QUERIER);
    assert_int_equal(c.limits.max_label_names_per_series, 20);
    assert_true(c.limits.ingestion_rate_bytes == 8.0 * 1048576);
    assert_true(c.limits.per_stream_rate_bytes == 5.0 * 1048576);
    assert_int_equal(c.limits.n_discover_service_name, 1);
    assert_string_equal(c.limits.discover_service_name[0], "svc");
    assert_int_equal(c.limits.unordered_window_ns, 7200000000000LL);
    assert_string_equal(c.wal_dir, "/var/noa-wal");
    assert_string_equal(c.chunks_dir, "ch");
    assert_string_equal(c.index_dir, "/srv/noa/index");
    assert_string_equal(c.rules_dir, "/etc/rules");
    assert_int_equal(c.ruler.remote_write_enabled, 1);
    const struct noa_yaml_node *url = noa_server_config_raw(&c, "ruler.remote_write.clients.prom.url");
    assert_non_null(url);
    assert_string_equal(url->str, "http://p:9090/api/v1/write");
    assert_null(noa_server_config_raw(&c, "ruler.remote_write.nope"));
    noa_server_config_fini(&c);
    unlink("f.yaml");
}

static void expect_load_error(const char *msg, ...)
{
    char *argv[16] = {"noa-server"};
    int argc = 1;
    va_list ap;
    va_start(ap, msg);
    const char *a;
    while ((a = va_arg(ap, const char *)) && argc < 15)
        argv[argc++] = (char *)a;
    va_end(ap);
    struct noa_server_config c;
    struct noa_error err = {0};
    int64_t before = noa_mem_in_use();
    capture_log();
    int rc = noa_server_config_load(argc, argv, &c, &err);
    noa_free(end_capture());
    assert_int_not_equal(rc, 0);
    if (strcmp(err.msg, msg) != 0)
        fail_msg("got \"%s\", want \"%s\"", err.msg, msg);
    assert_int_equal(noa_mem_in_use(), before);
}

static void test_bad_command_lines(void **state)
{
    (void)state;
    expect_load_error("flag provided but not defined: -nope", "-nope", NULL);
    expect_load_error("flag needs an argument: -server.http-listen-port",
                      "-server.http-listen-port", NULL);
    expect_load_error("invalid value \"abc\" for flag -server.http-listen-port: invalid syntax",
                      "-server.http-listen-port=abc", NULL);
    expect_load_error("invalid value \"distributor\" for flag -target: not one of the allowed "
                      "values",
                      "-target=distributor", NULL);
    expect_load_error("unexpected argument \"extra\" (flags start with -)", "extra", NULL);
    expect_load_error("-config.file: /nonexistent/a.yaml,/nonexistent/b.yaml: no such file",
                      "-config.file=/nonexistent/a.yaml,/nonexistent/b.yaml", NULL);
    expect_load_error("invalid configuration: server.http_listen_port must be between 0 and "
                      "65535",
                      "-server.http-listen-port=70000", NULL);
    expect_load_error("invalid value \"x\" for flag -auth.enabled: invalid syntax",
                      "-auth.enabled=x", NULL);
    write_file("t.yaml", "server:\n  http_listen_port: 3100\n  log_level: loud\n");
    expect_load_error("t.yaml:3:14: cannot unmarshal !!str `loud` into string "
                      "(server.log_level): not one of the allowed values",
                      "-config.file=t.yaml", NULL);
    write_file("t.yaml", "ingester:\n  chunk_idle_period: 30\n");
    expect_load_error("t.yaml:2:22: cannot unmarshal !!int `30` into duration "
                      "(ingester.chunk_idle_period): not a duration (e.g. 30s, 5m, 1h30m, 1d)",
                      "-config.file=t.yaml", NULL);
    write_file("t.yaml", "server:\n  http_listen_port: 3100\n    bad: indent\n");
    expect_load_error("t.yaml:3:8: mapping values are not allowed in this context",
                      "-config.file=t.yaml", NULL);
    unlink("t.yaml");
}

static void test_actions(void **state)
{
    (void)state;
    struct noa_server_config c;
    struct noa_error err;
    /* -help works even when the named file is missing. */
    assert_int_equal(load(&c, &err, "-config.file=/nonexistent.yaml", "-help", NULL), 0);
    assert_int_equal(c.action, NOA_SERVER_HELP);
    noa_server_config_fini(&c);
    assert_int_equal(load(&c, &err, "--help", NULL), 0);
    assert_int_equal(c.action, NOA_SERVER_HELP);
    noa_server_config_fini(&c);
    assert_int_equal(load(&c, &err, "-h", NULL), 0);
    assert_int_equal(c.action, NOA_SERVER_HELP);
    noa_server_config_fini(&c);
    assert_int_equal(load(&c, &err, "-version", NULL), 0);
    assert_int_equal(c.action, NOA_SERVER_VERSION);
    noa_server_config_fini(&c);
    assert_int_equal(load(&c, &err, "-config.verify", NULL), 0);
    assert_int_equal(c.action, NOA_SERVER_VERIFY);
    noa_server_config_fini(&c);
    assert_int_equal(load(&c, &err, "-config.verify=false", "-print-config-stderr", NULL), 0);
    assert_int_equal(c.action, NOA_SERVER_RUN);
    assert_int_equal(c.print_config, 1);
    noa_server_config_fini(&c);

    struct noa_buf b = {0};
    noa_server_config_usage(&b);
    noa_buf_cstr(&b);
    assert_non_null(strstr(b.data, "Usage of noa-server:"));
    assert_non_null(strstr(b.data, "  -server.http-listen-port int\n"));
    assert_non_null(strstr(b.data, "(default 3100)"));
    assert_non_null(strstr(b.data, "  -config.file string\n"));
    assert_null(strstr(b.data, "  -h\n")); /* hidden alias */
    noa_buf_fini(&b);
}

static void test_expand_env_and_fallback_file(void **state)
{
    (void)state;
    write_file("config.yaml", "server:\n  http_listen_port: ${NOA_T_SC_PORT:-3999}\n");
    struct noa_server_config c;
    struct noa_error err;
    unsetenv("NOA_T_SC_PORT");
    /* Without -config.file, ./config.yaml is used, as Loki does. */
    assert_int_equal(load(&c, &err, "-config.expand-env=true", NULL), 0);
    assert_string_equal(c.config_file, "config.yaml");
    assert_int_equal(c.server.http_listen_port, 3999);
    noa_server_config_fini(&c);
    setenv("NOA_T_SC_PORT", "4001", 1);
    assert_int_equal(load(&c, &err, "-config.expand-env", NULL), 0);
    assert_int_equal(c.server.http_listen_port, 4001);
    noa_server_config_fini(&c);
    /* Without expansion the reference is text, which is not an int. */
    assert_int_equal(load(&c, &err, NULL), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "config.yaml:2:21: cannot unmarshal !!str"));
    /* A comma-separated list picks the first that exists. */
    assert_int_equal(load(&c, &err, "-config.file=/nonexistent.yaml,config.yaml",
                          "-config.expand-env", NULL),
                     0);
    assert_string_equal(c.config_file, "config.yaml");
    noa_server_config_fini(&c);
    unlink("config.yaml");
    unsetenv("NOA_T_SC_PORT");
}

static void test_dump_round_trip(void **state)
{
    (void)state;
    write_file("r.yaml", "auth_enabled: false\nserver:\n  http_listen_port: 3300\n"
                         "limits_config:\n  max_line_size: 1MB\n  discover_service_name: []\n"
                         "  reject_old_samples_max_age: 2w\n");
    struct noa_server_config c, d;
    struct noa_error err;
    assert_int_equal(load(&c, &err, "-config.file=r.yaml", NULL), 0);
    struct noa_buf all = {0}, again = {0};
    noa_server_config_dump(&c, NOA_CONFIG_DUMP_ALL, &all);
    write_file("r.yaml", noa_buf_cstr(&all));
    assert_int_equal(load(&d, &err, "-config.file=r.yaml", NULL), 0);
    noa_server_config_dump(&d, NOA_CONFIG_DUMP_ALL, &again);
    assert_string_equal(noa_buf_cstr(&again), all.data);
    assert_non_null(strstr(all.data, "  max_line_size: 1MB\n"));
    assert_non_null(strstr(all.data, "  reject_old_samples_max_age: 2w\n"));
    assert_non_null(strstr(all.data, "  discover_service_name: []\n"));
    assert_int_equal(d.limits.n_discover_service_name, 0);
    noa_buf_reset(&all);
    noa_server_config_dump(&c, NOA_CONFIG_DUMP_DEFAULTS, &all);
    assert_non_null(strstr(noa_buf_cstr(&all), "auth_enabled: true\n"));
    assert_non_null(strstr(all.data, "  max_line_size: 256KB\n"));
    noa_buf_fini(&all);
    noa_buf_fini(&again);
    noa_server_config_fini(&c);
    noa_server_config_fini(&d);
    unlink("r.yaml");
}

/* docs/configuration.md is generated from the table; keep it in step. */
static void test_reference_doc_is_current(void **state)
{
    (void)state;
    char path[4200];
    path_in_src(path, sizeof(path), "docs/configuration.md");
    struct noa_buf want = {0};
    noa_server_config_markdown(&want);
    if (getenv("NOA_REGEN_DOCS")) {
        write_file(path, noa_buf_cstr(&want));
        noa_buf_fini(&want);
        return;
    }
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("%s missing: run with NOA_REGEN_DOCS=1", path);
    struct noa_buf got = {0};
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        noa_buf_append(&got, tmp, n);
    fclose(f);
    noa_buf_cstr(&want);
    noa_buf_cstr(&got);
    if (strcmp(want.data, got.data) != 0)
        fail_msg("%s is stale: run this test with NOA_REGEN_DOCS=1", path);
    assert_non_null(strstr(got.data, "[http_listen_port: <int> | default = 3100]"));
    noa_buf_fini(&want);
    noa_buf_fini(&got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_is_well_formed),
        cmocka_unit_test(test_defaults_match_loki),
        cmocka_unit_test(test_loki_local_config),
        cmocka_unit_test(test_misspelt_key_has_position),
        cmocka_unit_test(test_noa_yaml),
        cmocka_unit_test(test_flags_override_file),
        cmocka_unit_test(test_bad_command_lines),
        cmocka_unit_test(test_actions),
        cmocka_unit_test(test_expand_env_and_fallback_file),
        cmocka_unit_test(test_dump_round_trip),
        cmocka_unit_test(test_reference_doc_is_current),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
