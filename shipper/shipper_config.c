/*
 * Promtail's configuration file for noa-shipper (see shipper_config.h):
 * the declarative tables for the fixed blocks, the item-by-item readers for
 * lists and label maps, validation Promtail and Prometheus do at load, the
 * effective-config printer, and the Markdown reference generated from the
 * tables (docs/shipper-configuration.md). Owns every string of struct
 * noa_shipper_config and the YAML document. Runs on the caller's thread
 * (start-up, reload).
 */
#include "shipper/shipper_config.h"

#include "common/log.h"
#include "common/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define UNENF (NOA_CONFIG_UNENFORCED | NOA_CONFIG_NOFIELD)
#define IGNORED(p, d)                                                                              \
    {                                                                                              \
        .path = (p), .type = NOA_CONFIG_IGNORED, .desc = (d)                                       \
    }
#define BLOCK(p, tn, d)                                                                            \
    {                                                                                              \
        .path = (p), .type = NOA_CONFIG_BLOCK, .type_name = (tn), .desc = (d)                      \
    }
#define RAW(p, d)                                                                                  \
    {                                                                                              \
        .path = (p), .type = NOA_CONFIG_RAW, .desc = (d)                                           \
    }
#define ACCEPT(p, t)                                                                               \
    {                                                                                              \
        .path = (p), .type = (t), .flags = UNENF, .desc = "Accepted, not used."                    \
    }

/* Largest secret file read (a password or a token). */
#define MAX_SECRET_FILE 65536

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_formats[] = {"logfmt", "json", NULL};
static const char *const encodings[] = {"snappy", "zstd", NULL};
/* Go's tls.ClientAuthType names, as dskit takes them ("" = NoClientCert). */
static const char *const tls_client_auths[] = {"",
                                               "NoClientCert",
                                               "RequestClientCert",
                                               "RequireAnyClientCert",
                                               "RequireClientCert",
                                               "VerifyClientCertIfGiven",
                                               "RequireAndVerifyClientCert",
                                               NULL};
static const char *const tls_versions[] = {
    "", "VersionTLS10", "VersionTLS11", "VersionTLS12", "VersionTLS13", NULL};

/* ---- server (dskit server.Config; top level and loki_push_api) ------------------ */

#define SOFF(f) offsetof(struct noa_shipper_server_config, f)
static const struct noa_config_entry server_entries[] = {
    {.path = "disable",
     .type = NOA_CONFIG_BOOL,
     .def = "false",
     .offset = SOFF(disable),
     .desc = "Run no HTTP server."},
    {.path = "http_listen_network",
     .type = NOA_CONFIG_STRING,
     .def = "tcp",
     .flags = UNENF,
     .desc = "Accepted; noa listens on TCP."},
    {.path = "http_listen_address",
     .type = NOA_CONFIG_STRING,
     .def = "",
     .offset = SOFF(http_listen_address),
     .desc = "HTTP listen address (empty: all)."},
    {.path = "http_listen_port",
     .type = NOA_CONFIG_INT,
     .def = "80",
     .offset = SOFF(http_listen_port),
     .desc = "HTTP listen port."},
    ACCEPT("http_listen_conn_limit", NOA_CONFIG_INT),
    ACCEPT("grpc_listen_network", NOA_CONFIG_STRING),
    ACCEPT("grpc_listen_address", NOA_CONFIG_STRING),
    {.path = "grpc_listen_port",
     .type = NOA_CONFIG_INT,
     .def = "9095",
     .offset = SOFF(grpc_listen_port),
     .flags = NOA_CONFIG_UNENFORCED,
     .desc = "gRPC listen port; noa serves no gRPC."},
    ACCEPT("grpc_listen_conn_limit", NOA_CONFIG_INT),
    ACCEPT("grpc_collect_max_streams_by_conn", NOA_CONFIG_BOOL),
    ACCEPT("proxy_protocol_enabled", NOA_CONFIG_BOOL),
    ACCEPT("tls_cipher_suites", NOA_CONFIG_STRING),
    {.path = "tls_min_version",
     .type = NOA_CONFIG_STRING,
     .def = "",
     .offset = SOFF(tls_min_version),
     .choices = tls_versions,
     .desc = "Minimum TLS version: VersionTLS12 or VersionTLS13 (VersionTLS10 and VersionTLS11 "
             "are raised to 1.2). Empty: TLS 1.2."},
    ACCEPT("report_grpc_codes_in_instrumentation_label_enabled", NOA_CONFIG_BOOL),
    {.path = "register_instrumentation",
     .type = NOA_CONFIG_BOOL,
     .def = "true",
     .offset = SOFF(register_instrumentation),
     .desc = "Serve /metrics."},
    {.path = "graceful_shutdown_timeout",
     .type = NOA_CONFIG_DURATION,
     .def = "30s",
     .offset = SOFF(graceful_shutdown_timeout_ns),
     .desc = "Time allowed for a clean stop."},
    {.path = "http_server_read_timeout",
     .type = NOA_CONFIG_DURATION,
     .def = "30s",
     .offset = SOFF(http_server_read_timeout_ns),
     .desc = "HTTP read timeout."},
    ACCEPT("http_server_read_header_timeout", NOA_CONFIG_DURATION),
    {.path = "http_server_write_timeout",
     .type = NOA_CONFIG_DURATION,
     .def = "30s",
     .offset = SOFF(http_server_write_timeout_ns),
     .desc = "HTTP write timeout."},
    {.path = "http_server_idle_timeout",
     .type = NOA_CONFIG_DURATION,
     .def = "2m",
     .offset = SOFF(http_server_idle_timeout_ns),
     .desc = "HTTP keep-alive idle timeout."},
    ACCEPT("http_log_closed_connections_without_response_enabled", NOA_CONFIG_BOOL),
    ACCEPT("grpc_server_max_recv_msg_size", NOA_CONFIG_INT),
    ACCEPT("grpc_server_max_send_msg_size", NOA_CONFIG_INT),
    ACCEPT("grpc_server_max_concurrent_streams", NOA_CONFIG_INT),
    ACCEPT("grpc_server_max_connection_idle", NOA_CONFIG_DURATION),
    ACCEPT("grpc_server_max_connection_age", NOA_CONFIG_DURATION),
    ACCEPT("grpc_server_max_connection_age_grace", NOA_CONFIG_DURATION),
    ACCEPT("grpc_server_keepalive_time", NOA_CONFIG_DURATION),
    ACCEPT("grpc_server_keepalive_timeout", NOA_CONFIG_DURATION),
    ACCEPT("grpc_server_min_time_between_pings", NOA_CONFIG_DURATION),
    ACCEPT("grpc_server_ping_without_stream_allowed", NOA_CONFIG_BOOL),
    ACCEPT("grpc_server_num_workers", NOA_CONFIG_INT),
    ACCEPT("grpc_server_stats_tracking_enabled", NOA_CONFIG_BOOL),
    ACCEPT("grpc_server_recv_buffer_pools_enabled", NOA_CONFIG_BOOL),
    ACCEPT("grpc_server_read_buffer_size", NOA_CONFIG_INT),
    ACCEPT("grpc_server_write_buffer_size", NOA_CONFIG_INT),
    {.path = "log_format",
     .type = NOA_CONFIG_STRING,
     .def = "logfmt",
     .offset = SOFF(log_format),
     .choices = log_formats,
     .desc = "Log format: logfmt or json."},
    {.path = "log_level",
     .type = NOA_CONFIG_STRING,
     .def = "info",
     .offset = SOFF(log_level),
     .choices = log_levels,
     .desc = "Log level: debug, info, warn or error."},
    ACCEPT("log_source_ips_enabled", NOA_CONFIG_BOOL),
    ACCEPT("log_source_ips_full", NOA_CONFIG_BOOL),
    ACCEPT("log_source_ips_header", NOA_CONFIG_STRING),
    ACCEPT("log_source_ips_regex", NOA_CONFIG_STRING),
    ACCEPT("log_request_headers", NOA_CONFIG_BOOL),
    ACCEPT("log_request_at_info_level_enabled", NOA_CONFIG_BOOL),
    ACCEPT("log_request_exclude_headers_list", NOA_CONFIG_STRING),
    {.path = "http_path_prefix",
     .type = NOA_CONFIG_STRING,
     .def = "",
     .offset = SOFF(http_path_prefix),
     .desc = "Prefix of every HTTP route."},
    ACCEPT("trace_request_headers", NOA_CONFIG_BOOL),
    ACCEPT("trace_request_exclude_headers_list", NOA_CONFIG_STRING),
    ACCEPT("create_new_traces", NOA_CONFIG_BOOL),
    ACCEPT("enable_open_metrics_text_created_samples", NOA_CONFIG_BOOL),
    RAW("cluster_validation", "Accepted, not used."),
    ACCEPT("external_url", NOA_CONFIG_STRING),
    BLOCK("http_tls_config", "server.TLSConfig",
          "TLS for the HTTP server: on when cert_file is set."),
    {.path = "http_tls_config.cert_file",
     .type = NOA_CONFIG_STRING,
     .def = "",
     .offset = SOFF(tls_cert_file),
     .desc = "Server certificate path (PEM, chain allowed). Setting it serves HTTPS."},
    {.path = "http_tls_config.key_file",
     .type = NOA_CONFIG_STRING,
     .def = "",
     .offset = SOFF(tls_key_file),
     .desc = "Server key path (PEM)."},
    {.path = "http_tls_config.client_auth_type",
     .type = NOA_CONFIG_STRING,
     .def = "",
     .offset = SOFF(tls_client_auth_type),
     .choices = tls_client_auths,
     .desc = "Client certificate policy: NoClientCert, RequestClientCert, RequireAnyClientCert, "
             "VerifyClientCertIfGiven or RequireAndVerifyClientCert (Go's names)."},
    {.path = "http_tls_config.client_ca_file",
     .type = NOA_CONFIG_STRING,
     .def = "",
     .offset = SOFF(tls_client_ca_file),
     .desc = "CA path that verifies client certificates (needs a client_auth_type)."},
    {.path = "http_tls_config.cert",
     .type = NOA_CONFIG_STRING,
     .flags = UNENF,
     .desc = "Inline server certificate (PEM); a value stops start-up: use cert_file."},
    {.path = "http_tls_config.key",
     .type = NOA_CONFIG_STRING,
     .flags = UNENF,
     .desc = "Inline server key (PEM); a value stops start-up: use key_file."},
    {.path = "http_tls_config.client_ca",
     .type = NOA_CONFIG_STRING,
     .flags = UNENF,
     .desc = "Inline client CA (PEM); a value stops start-up: use client_ca_file."},
    IGNORED("grpc_tls_config", "gRPC TLS; noa serves no gRPC."),
    {.path = "health_check_target",
     .type = NOA_CONFIG_BOOL,
     .def = "true",
     .offset = SOFF(health_check_target),
     .desc = "/ready needs at least one tailed file."},
    {.path = "enable_runtime_reload",
     .type = NOA_CONFIG_BOOL,
     .def = "false",
     .offset = SOFF(enable_runtime_reload),
     .desc = "Serve POST /reload."},
    {.path = "profiling_enabled",
     .type = NOA_CONFIG_BOOL,
     .def = "false",
     .offset = SOFF(profiling_enabled),
     .flags = NOA_CONFIG_UNENFORCED,
     .desc = "Accepted; noa has no pprof endpoints."},
};
static const struct noa_config_table server_table = {
    "server.Config", server_entries, sizeof(server_entries) / sizeof(server_entries[0])};

/* ---- top level ---------------------------------------------------------------------- */

#define TOFF(f) offsetof(struct noa_shipper_config, f)
static const struct noa_config_entry top_entries[] = {
    RAW("server", "HTTP server (dskit's server block; see `server` below)."),
    RAW("clients", "Push clients (see `clients[]` below)."),
    RAW("client", "Legacy single push client, appended to clients."),
    RAW("scrape_configs", "What to read and how to label it (see `scrape_configs[]` below)."),
    BLOCK("positions", "positions.Config", "Where read positions are saved."),
    {.path = "positions.filename",
     .type = NOA_CONFIG_STRING,
     .def = "/var/log/positions.yaml",
     .offset = TOFF(positions.filename),
     .desc = "Positions file."},
    {.path = "positions.sync_period",
     .type = NOA_CONFIG_DURATION,
     .def = "10s",
     .offset = TOFF(positions.sync_period_ns),
     .desc = "How often positions are saved."},
    {.path = "positions.ignore_invalid_yaml",
     .type = NOA_CONFIG_BOOL,
     .def = "false",
     .offset = TOFF(positions.ignore_invalid_yaml),
     .desc = "Start empty instead of failing on a corrupt positions file."},
    BLOCK("target_config", "file.Config", "File target discovery."),
    {.path = "target_config.sync_period",
     .type = NOA_CONFIG_DURATION,
     .def = "10s",
     .offset = TOFF(target_sync_period_ns),
     .desc = "How often targets are re-discovered."},
    {.path = "target_config.stdin",
     .type = NOA_CONFIG_BOOL,
     .def = "false",
     .offset = TOFF(target_stdin),
     .desc = "Read from standard input."},
    BLOCK("limits_config", "limit.Config", "Global limits."),
    {.path = "limits_config.readline_rate",
     .type = NOA_CONFIG_FLOAT,
     .def = "10000",
     .offset = TOFF(limits.readline_rate),
     .desc = "Lines per second when enabled."},
    {.path = "limits_config.readline_burst",
     .type = NOA_CONFIG_INT,
     .def = "10000",
     .offset = TOFF(limits.readline_burst),
     .desc = "Burst of the line rate limit."},
    {.path = "limits_config.readline_rate_enabled",
     .type = NOA_CONFIG_BOOL,
     .def = "false",
     .offset = TOFF(limits.readline_rate_enabled),
     .desc = "Enable the line rate limit."},
    {.path = "limits_config.readline_rate_drop",
     .type = NOA_CONFIG_BOOL,
     .def = "true",
     .offset = TOFF(limits.readline_rate_drop),
     .desc = "Drop lines over the rate (false: wait, pushing back on readers)."},
    {.path = "limits_config.max_streams",
     .type = NOA_CONFIG_INT,
     .def = "0",
     .offset = TOFF(limits.max_streams),
     .desc = "Streams per batch (0: no limit)."},
    {.path = "limits_config.max_line_size",
     .type = NOA_CONFIG_BYTES,
     .def = "0",
     .offset = TOFF(limits.max_line_size),
     .desc = "Longest line sent (0: no limit)."},
    {.path = "limits_config.max_line_size_truncate",
     .type = NOA_CONFIG_BOOL,
     .def = "false",
     .offset = TOFF(limits.max_line_size_truncate),
     .desc = "Truncate longer lines instead of dropping them."},
    BLOCK("global", "config.GlobalConfig", "Global settings."),
    BLOCK("global.file_watch_config", "file.WatchConfig", "File polling."),
    {.path = "global.file_watch_config.min_poll_frequency",
     .type = NOA_CONFIG_DURATION,
     .def = "250ms",
     .offset = TOFF(file_watch_min_poll_ns),
     .desc = "Fastest file poll."},
    {.path = "global.file_watch_config.max_poll_frequency",
     .type = NOA_CONFIG_DURATION,
     .def = "250ms",
     .offset = TOFF(file_watch_max_poll_ns),
     .desc = "Slowest file poll."},
    BLOCK("options", "config.Options", "Deprecated options."),
    {.path = "options.stream_lag_labels",
     .type = NOA_CONFIG_STRINGS,
     .def = "filename",
     .offset = TOFF(stream_lag_labels),
     .flags = NOA_CONFIG_UNENFORCED,
     .desc = "Deprecated in Promtail; accepted."},
    BLOCK("tracing", "tracing.Config", "Tracing."),
    {.path = "tracing.enabled",
     .type = NOA_CONFIG_BOOL,
     .def = "false",
     .offset = TOFF(tracing_enabled),
     .flags = NOA_CONFIG_UNENFORCED,
     .desc = "Accepted; noa does not trace."},
    IGNORED("wal", "Promtail's experimental WAL; noa's positions follow acknowledgements."),
};
static const struct noa_config_table top_table = {"config.Config", top_entries,
                                                  sizeof(top_entries) / sizeof(top_entries[0])};

static int unsupported(const struct noa_yaml_node *k, const char *what, struct noa_error *err)
{
    return noa_error_set_at(err, NOA_EUNSUPP, k->line, k->col,
                            "%s:%d:%d: %s is not supported by noa-shipper", k->file, k->line,
                            k->col, what);
}

/* ---- clients[] ------------------------------------------------------------------------ */

#define COFF(f) offsetof(struct noa_shipper_client_config, f)
static const struct noa_config_entry client_entries[] = {
    {.path = "url",
     .type = NOA_CONFIG_STRING,
     .offset = COFF(url),
     .desc = "Where batches are pushed (required): http(s)://host:port/loki/api/v1/push."},
    {.path = "name",
     .type = NOA_CONFIG_STRING,
     .def = "",
     .offset = COFF(name),
     .desc = "Client name for metrics."},
    {.path = "tenant_id",
     .type = NOA_CONFIG_STRING,
     .def = "",
     .offset = COFF(tenant_id),
     .desc = "Default tenant (X-Scope-OrgID)."},
    {.path = "batchwait",
     .type = NOA_CONFIG_DURATION,
     .def = "1s",
     .offset = COFF(batchwait_ns),
     .desc = "Longest a batch waits."},
    {.path = "batchsize",
     .type = NOA_CONFIG_INT64,
     .def = "1048576",
     .offset = COFF(batchsize),
     .desc = "Batch size in bytes."},
    {.path = "timeout",
     .type = NOA_CONFIG_DURATION,
     .def = "10s",
     .offset = COFF(timeout_ns),
     .desc = "Request timeout."},
    BLOCK("backoff_config", "backoff.Config", "Retry backoff."),
    {.path = "backoff_config.min_period",
     .type = NOA_CONFIG_DURATION,
     .def = "500ms",
     .offset = COFF(backoff_min_period_ns),
     .desc = "First retry delay."},
    {.path = "backoff_config.max_period",
     .type = NOA_CONFIG_DURATION,
     .def = "5m",
     .offset = COFF(backoff_max_period_ns),
     .desc = "Longest retry delay."},
    {.path = "backoff_config.max_retries",
     .type = NOA_CONFIG_INT,
     .def = "0",
     .offset = COFF(backoff_max_retries),
     .desc = "Retries before a batch is dropped (0: retry for ever; Promtail's default is 10)."},
    RAW("external_labels", "Labels added to every stream."),
    RAW("headers", "Extra HTTP headers."),
    BLOCK("basic_auth", "config.BasicAuth", "HTTP basic authentication."),
    {.path = "basic_auth.username",
     .type = NOA_CONFIG_STRING,
     .offset = COFF(basic_auth_username),
     .desc = "User."},
    ACCEPT("basic_auth.username_file", NOA_CONFIG_STRING),
    {.path = "basic_auth.password",
     .type = NOA_CONFIG_STRING,
     .offset = COFF(basic_auth_password),
     .desc = "Password."},
    {.path = "basic_auth.password_file",
     .type = NOA_CONFIG_STRING,
     .offset = COFF(basic_auth_password_file),
     .desc = "File holding the password."},
    {.path = "bearer_token",
     .type = NOA_CONFIG_STRING,
     .offset = COFF(bearer_token),
     .desc = "Bearer token."},
    {.path = "bearer_token_file",
     .type = NOA_CONFIG_STRING,
     .offset = COFF(bearer_token_file),
     .desc = "File holding the bearer token."},
    BLOCK("authorization", "config.Authorization", "Authorization header."),
    {.path = "authorization.type",
     .type = NOA_CONFIG_STRING,
     .offset = COFF(authorization_type),
     .desc = "Scheme (Bearer when empty)."},
    {.path = "authorization.credentials",
     .type = NOA_CONFIG_STRING,
     .offset = COFF(authorization_credentials),
     .desc = "Credentials."},
    {.path = "authorization.credentials_file",
     .type = NOA_CONFIG_STRING,
     .offset = COFF(authorization_credentials_file),
     .desc = "File holding the credentials."},
    RAW("oauth2", "OAuth 2 (refused)."),
    BLOCK("tls_config", "config.TLSConfig", "TLS settings of the push requests."),
    {.path = "tls_config.ca_file",
     .type = NOA_CONFIG_STRING,
     .offset = COFF(tls_ca_file),
     .desc = "CA file."},
    {.path = "tls_config.cert_file",
     .type = NOA_CONFIG_STRING,
     .offset = COFF(tls_cert_file),
     .desc = "Client certificate."},
    {.path = "tls_config.key_file",
     .type = NOA_CONFIG_STRING,
     .offset = COFF(tls_key_file),
     .desc = "Client key."},
    {.path = "tls_config.server_name",
     .type = NOA_CONFIG_STRING,
     .offset = COFF(tls_server_name),
     .flags = NOA_CONFIG_UNENFORCED,
     .desc = "Server name."},
    {.path = "tls_config.insecure_skip_verify",
     .type = NOA_CONFIG_BOOL,
     .def = "false",
     .offset = COFF(tls_insecure_skip_verify),
     .desc = "Skip verification."},
    ACCEPT("tls_config.ca", NOA_CONFIG_STRING),
    ACCEPT("tls_config.cert", NOA_CONFIG_STRING),
    ACCEPT("tls_config.key", NOA_CONFIG_STRING),
    ACCEPT("tls_config.min_version", NOA_CONFIG_STRING),
    ACCEPT("tls_config.max_version", NOA_CONFIG_STRING),
    {.path = "proxy_url",
     .type = NOA_CONFIG_STRING,
     .offset = COFF(proxy_url),
     .desc = "Proxy for the push requests (default: the proxy environment variables)."},
    ACCEPT("no_proxy", NOA_CONFIG_STRING),
    ACCEPT("proxy_from_environment", NOA_CONFIG_BOOL),
    RAW("proxy_connect_header", "Accepted, not used."),
    RAW("http_headers", "Accepted, not used."),
    {.path = "follow_redirects",
     .type = NOA_CONFIG_BOOL,
     .def = "true",
     .offset = COFF(follow_redirects),
     .desc = "Follow redirects."},
    {.path = "enable_http2",
     .type = NOA_CONFIG_BOOL,
     .def = "true",
     .offset = COFF(enable_http2),
     .flags = NOA_CONFIG_UNENFORCED,
     .desc = "Accepted; noa speaks HTTP/1.1."},
    {.path = "drop_rate_limited_batches",
     .type = NOA_CONFIG_BOOL,
     .def = "false",
     .offset = COFF(drop_rate_limited_batches),
     .desc = "Drop batches answered 429."},
    ACCEPT("stream_lag_labels", NOA_CONFIG_STRINGS),
    {.path = "encoding",
     .type = NOA_CONFIG_STRING,
     .def = "snappy",
     .offset = COFF(encoding_name),
     .choices = encodings,
     .desc = "noa: body encoding, snappy (Loki's protobuf) or zstd (noa's server)."},
};
static const struct noa_config_table client_table = {
    "client.Config", client_entries, sizeof(client_entries) / sizeof(client_entries[0])};

/* ---- scrape_configs[] and its blocks -------------------------------------------------- */

#define SCOFF(f) offsetof(struct noa_shipper_scrape_config, f)
static const struct noa_config_entry scrape_entries[] = {
    {.path = "job_name",
     .type = NOA_CONFIG_STRING,
     .offset = SCOFF(job_name),
     .desc = "Job name (unique)."},
    RAW("pipeline_stages", "Stages every line goes through (see shipper.md)."),
    RAW("relabel_configs", "Prometheus relabelling of the discovered targets."),
    RAW("static_configs", "Targets with fixed labels; __path__ is the glob of files to tail."),
    RAW("file_sd_configs", "File discovery."),
    RAW("kubernetes_sd_configs", "Kubernetes pods."),
    RAW("journal", "systemd journal."),
    RAW("loki_push_api", "Push receiver."),
    RAW("decompression", "Compressed files (refused when enabled)."),
    {.path = "encoding",
     .type = NOA_CONFIG_STRING,
     .def = "",
     .offset = SCOFF(encoding),
     .desc = "Encoding of the files (UTF-8 only)."},
#define REFUSED(p) RAW(p, "Refused: not supported by noa-shipper.")
    REFUSED("syslog"),
    REFUSED("gcplog"),
    REFUSED("windows_events"),
    REFUSED("kafka"),
    REFUSED("azure_event_hubs"),
    REFUSED("gelf"),
    REFUSED("cloudflare"),
    REFUSED("heroku_drain"),
    REFUSED("docker_sd_configs"),
    REFUSED("dns_sd_configs"),
    REFUSED("consul_sd_configs"),
    REFUSED("consulagent_sd_configs"),
    REFUSED("digitalocean_sd_configs"),
    REFUSED("dockerswarm_sd_configs"),
    REFUSED("serverset_sd_configs"),
    REFUSED("nerve_sd_configs"),
    REFUSED("marathon_sd_configs"),
    REFUSED("gce_sd_configs"),
    REFUSED("ec2_sd_configs"),
    REFUSED("openstack_sd_configs"),
    REFUSED("azure_sd_configs"),
    REFUSED("triton_sd_configs"),
#undef REFUSED
};
static const struct noa_config_table scrape_table = {
    "scrapeconfig.Config", scrape_entries, sizeof(scrape_entries) / sizeof(scrape_entries[0])};

/* Keys noa refuses in a scrape config (receivers and SD it does not have). */
static const char *const unsupported_keys[] = {"syslog",
                                               "gcplog",
                                               "windows_events",
                                               "kafka",
                                               "azure_event_hubs",
                                               "gelf",
                                               "cloudflare",
                                               "heroku_drain",
                                               "docker_sd_configs",
                                               "dns_sd_configs",
                                               "consul_sd_configs",
                                               "consulagent_sd_configs",
                                               "digitalocean_sd_configs",
                                               "dockerswarm_sd_configs",
                                               "serverset_sd_configs",
                                               "nerve_sd_configs",
                                               "marathon_sd_configs",
                                               "gce_sd_configs",
                                               "ec2_sd_configs",
                                               "openstack_sd_configs",
                                               "azure_sd_configs",
                                               "triton_sd_configs",
                                               NULL};

#define FOFF(f) offsetof(struct noa_shipper_file_sd_config, f)
static const struct noa_config_entry file_sd_entries[] = {
    {.path = "files",
     .type = NOA_CONFIG_STRINGS,
     .offset = FOFF(files),
     .desc = "Files of target groups (JSON or YAML; the last path segment may be a glob)."},
    {.path = "refresh_interval",
     .type = NOA_CONFIG_MDURATION,
     .def = "5m",
     .offset = FOFF(refresh_interval_ns),
     .desc = "Re-read period."},
};
static const struct noa_config_table file_sd_table = {
    "file.SDConfig", file_sd_entries, sizeof(file_sd_entries) / sizeof(file_sd_entries[0])};

#define KOFF(f) offsetof(struct noa_shipper_k8s_sd_config, f)
static const struct noa_config_entry k8s_entries[] = {
    {.path = "role", .type = NOA_CONFIG_STRING, .offset = KOFF(role), .desc = "Role (pod)."},
    ACCEPT("api_server", NOA_CONFIG_STRING),
    ACCEPT("kubeconfig_file", NOA_CONFIG_STRING),
    BLOCK("namespaces", "kubernetes.NamespaceDiscovery", "Namespaces."),
    {.path = "namespaces.names",
     .type = NOA_CONFIG_STRINGS,
     .offset = KOFF(namespaces),
     .desc = "Only these namespaces."},
    ACCEPT("namespaces.own_namespace", NOA_CONFIG_BOOL),
    RAW("selectors", "Accepted: pod labels and fields are unknown without the API server."),
    RAW("attach_metadata", "Accepted, not used."),
    RAW("basic_auth", "Accepted, not used."),
    RAW("authorization", "Accepted, not used."),
    RAW("oauth2", "Accepted, not used."),
    RAW("tls_config", "Accepted, not used."),
    ACCEPT("bearer_token", NOA_CONFIG_STRING),
    ACCEPT("bearer_token_file", NOA_CONFIG_STRING),
    ACCEPT("proxy_url", NOA_CONFIG_STRING),
    ACCEPT("no_proxy", NOA_CONFIG_STRING),
    ACCEPT("proxy_from_environment", NOA_CONFIG_BOOL),
    RAW("proxy_connect_header", "Accepted, not used."),
    RAW("http_headers", "Accepted, not used."),
    ACCEPT("follow_redirects", NOA_CONFIG_BOOL),
    ACCEPT("enable_http2", NOA_CONFIG_BOOL),
    {.path = "pods_dir",
     .type = NOA_CONFIG_STRING,
     .def = "",
     .offset = KOFF(pods_dir),
     .desc = "noa: the kubelet's pod log directory (empty: $NOA_PODS_DIR or /var/log/pods)."},
};
static const struct noa_config_table k8s_table = {"kubernetes.SDConfig", k8s_entries,
                                                  sizeof(k8s_entries) / sizeof(k8s_entries[0])};

#define JOFF(f) offsetof(struct noa_shipper_journal_config, f)
static const struct noa_config_entry journal_entries[] = {
    {.path = "json",
     .type = NOA_CONFIG_BOOL,
     .def = "false",
     .offset = JOFF(json),
     .desc = "Send entries as JSON."},
    {.path = "max_age",
     .type = NOA_CONFIG_DURATION,
     .def = "7h",
     .offset = JOFF(max_age_ns),
     .desc = "Oldest entry read without a cursor."},
    {.path = "path",
     .type = NOA_CONFIG_STRING,
     .def = "",
     .offset = JOFF(path),
     .desc = "Journal directory."},
    {.path = "matches",
     .type = NOA_CONFIG_STRING,
     .def = "",
     .offset = JOFF(matches),
     .desc = "FIELD=value matches, ANDed."},
    RAW("labels", "Labels added to every entry (a map)."),
};
static const struct noa_config_table journal_table = {
    "scrapeconfig.JournalTargetConfig", journal_entries,
    sizeof(journal_entries) / sizeof(journal_entries[0])};

#define POFF(f) offsetof(struct noa_shipper_push_config, f)
static const struct noa_config_entry push_entries[] = {
    RAW("server", "The receiver's own HTTP listener (a server block)."),
    RAW("labels", "Labels added to every entry (a map)."),
    {.path = "use_incoming_timestamp",
     .type = NOA_CONFIG_BOOL,
     .def = "false",
     .offset = POFF(use_incoming_timestamp),
     .desc = "Keep the pushed timestamps."},
};
static const struct noa_config_table push_table = {"scrapeconfig.PushTargetConfig", push_entries,
                                                   sizeof(push_entries) / sizeof(push_entries[0])};

/* ---- helpers ----------------------------------------------------------------------------- */

/* The buffer's bytes as an owned C string (b is left empty). */
static char *buf_take(struct noa_buf *b)
{
    noa_buf_cstr(b);
    return noa_buf_steal(b, NULL);
}

static int str_set(const char *s)
{
    return s && *s;
}

/* A model.LabelSet map into l. */
static int read_labels(const struct noa_yaml_node *m, struct noa_kvlist *l, struct noa_error *err)
{
    if (noa_yaml_is_null(m))
        return 0;
    if (m->kind != NOA_YAML_MAP)
        return noa_yaml_error(err, m, "cannot unmarshal %s into model.LabelSet",
                              noa_yaml_type_name(m));
    if (m->n > NOA_SHIPPER_CONFIG_MAX_LABELS)
        return noa_yaml_error(err, m, "too many labels (at most %d)",
                              NOA_SHIPPER_CONFIG_MAX_LABELS);
    for (size_t i = 0; i < m->n; i++) {
        const struct noa_yaml_node *k = m->pairs[i].key, *v = m->pairs[i].value;
        if (!noa_relabel_valid_name(k->str, k->len))
            return noa_yaml_error(err, k, "\"%.*s\" is not a valid label name",
                                  (int)(k->len > 100 ? 100 : k->len), k->str);
        if (v->kind != NOA_YAML_SCALAR)
            return noa_yaml_error(err, v, "cannot unmarshal %s into model.LabelValue",
                                  noa_yaml_type_name(v));
        if (!noa_utf8_valid(v->str, v->len) || memchr(v->str, '\0', v->len))
            return noa_yaml_error(err, v, "\"%.*s\" is not a valid label value",
                                  (int)(v->len > 100 ? 100 : v->len), v->str);
        struct noa_str val =
            noa_yaml_is_null(v) ? (struct noa_str){"", 0} : (struct noa_str){v->str, v->len};
        noa_kvlist_set(l, (struct noa_str){k->str, k->len}, val);
    }
    return 0;
}

/* A map[string]string (headers). */
static int read_headers(const struct noa_yaml_node *m, struct noa_kvlist *l, struct noa_error *err)
{
    if (noa_yaml_is_null(m))
        return 0;
    if (m->kind != NOA_YAML_MAP)
        return noa_yaml_error(err, m, "cannot unmarshal %s into map[string]string",
                              noa_yaml_type_name(m));
    if (m->n > 32)
        return noa_yaml_error(err, m, "too many headers (at most 32)");
    for (size_t i = 0; i < m->n; i++) {
        const struct noa_yaml_node *k = m->pairs[i].key, *v = m->pairs[i].value;
        if (v->kind != NOA_YAML_SCALAR)
            return noa_yaml_error(err, v, "cannot unmarshal %s into string", noa_yaml_type_name(v));
        int bad = k->len == 0;
        for (size_t j = 0; j < k->len && !bad; j++)
            bad = (unsigned char)k->str[j] <= ' ' || k->str[j] == ':' || k->str[j] == 0x7f;
        for (size_t j = 0; j < v->len && !bad; j++)
            bad = v->str[j] == '\r' || v->str[j] == '\n' || v->str[j] == '\0';
        if (bad)
            return noa_yaml_error(err, k, "invalid HTTP header \"%.*s\"",
                                  (int)(k->len > 100 ? 100 : k->len), k->str);
        noa_kvlist_set(l, (struct noa_str){k->str, k->len},
                       noa_yaml_is_null(v) ? (struct noa_str){"", 0}
                                           : (struct noa_str){v->str, v->len});
    }
    return 0;
}

/* Reads a secret file as Prometheus does (content with surrounding
 * whitespace trimmed). */
static int read_secret(const char *path, const struct noa_yaml_node *at, char **out,
                       struct noa_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return noa_yaml_error(err, at, "unable to read %s: %s", path, strerror(errno));
    char *buf = noa_xmalloc(MAX_SECRET_FILE + 1);
    size_t n = 0;
    int rc = 0;
    struct stat st;
    /* Only regular files: a FIFO or a device could block or never end. */
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = noa_yaml_error(err, at, "unable to read %s: not a regular file", path);
        goto done;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, MAX_SECRET_FILE + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = noa_yaml_error(err, at, "unable to read %s: %s", path, strerror(errno));
            goto done;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > MAX_SECRET_FILE) {
            rc = noa_yaml_error(err, at, "%s is larger than %d bytes", path, MAX_SECRET_FILE);
            goto done;
        }
    }
    size_t b = 0, e = n;
    while (b < e && strchr(" \t\r\n", buf[b]))
        b++;
    while (e > b && strchr(" \t\r\n", buf[e - 1]))
        e--;
    noa_free(*out);
    *out = noa_xstrndup(buf + b, e - b);
done:
    close(fd);
    noa_free(buf);
    return rc;
}

static const struct noa_yaml_node *key_node(const struct noa_yaml_node *m, const char *key)
{
    for (size_t i = 0; m && m->kind == NOA_YAML_MAP && i < m->n; i++)
        if (strcmp(m->pairs[i].key->str, key) == 0)
            return m->pairs[i].key;
    return NULL;
}

/* ---- clients ------------------------------------------------------------------------------ */

static void client_fini(struct noa_shipper_client_config *c)
{
    noa_config_fini(&client_table, c);
    noa_kvlist_fini(&c->external_labels);
    noa_kvlist_fini(&c->headers);
    noa_free(c->resolved_password);
    noa_free(c->resolved_token);
    noa_free(c->ext_v);
    for (uint32_t i = 0; i < c->n_header_lines; i++)
        noa_free(c->header_lines[i]);
    noa_free(c->header_lines);
    noa_free(c->auth_header_type);
}

/* Prometheus HTTPClientConfig.Validate plus the secret files. */
static int client_auth(struct noa_shipper_client_config *c, const struct noa_yaml_node *m,
                       struct noa_error *err)
{
    int basic = str_set(c->basic_auth_username) || str_set(c->basic_auth_password) ||
                str_set(c->basic_auth_password_file);
    int bearer = str_set(c->bearer_token) || str_set(c->bearer_token_file);
    int authz = str_set(c->authorization_type) || str_set(c->authorization_credentials) ||
                str_set(c->authorization_credentials_file);
    if (key_node(m, "oauth2"))
        return unsupported(key_node(m, "oauth2"), "oauth2", err);
    if (str_set(c->bearer_token) && str_set(c->bearer_token_file))
        return noa_yaml_error(err, m,
                              "at most one of bearer_token & bearer_token_file must be configured");
    if (basic + bearer + authz > 1)
        return noa_yaml_error(
            err, m,
            bearer && authz
                ? "authorization is not compatible with bearer_token & bearer_token_file"
                : "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be "
                  "configured");
    if (str_set(c->basic_auth_password) && str_set(c->basic_auth_password_file))
        return noa_yaml_error(
            err, m, "at most one of basic_auth password & password_file must be configured");
    if (str_set(c->authorization_credentials) && str_set(c->authorization_credentials_file))
        return noa_yaml_error(
            err, m,
            "at most one of authorization credentials & credentials_file must be configured");
    if (str_set(c->authorization_type) && strcasecmp(c->authorization_type, "basic") == 0)
        return noa_yaml_error(
            err, m, "authorization type cannot be set to \"basic\", use \"basic_auth\" instead");
    int rc = 0;
    if (basic) {
        if (str_set(c->basic_auth_password_file))
            rc = read_secret(c->basic_auth_password_file,
                             noa_yaml_path(m, "basic_auth.password_file"), &c->resolved_password,
                             err);
        else
            c->resolved_password =
                noa_xstrdup(c->basic_auth_password ? c->basic_auth_password : "");
    } else if (bearer) {
        c->auth_header_type = noa_xstrdup("Bearer");
        if (str_set(c->bearer_token_file))
            rc = read_secret(c->bearer_token_file, noa_yaml_get(m, "bearer_token_file"),
                             &c->resolved_token, err);
        else
            c->resolved_token = noa_xstrdup(c->bearer_token);
    } else if (authz) {
        c->auth_header_type =
            noa_xstrdup(str_set(c->authorization_type) ? c->authorization_type : "Bearer");
        if (str_set(c->authorization_credentials_file))
            rc = read_secret(c->authorization_credentials_file,
                             noa_yaml_path(m, "authorization.credentials_file"), &c->resolved_token,
                             err);
        else
            c->resolved_token =
                noa_xstrdup(c->authorization_credentials ? c->authorization_credentials : "");
    }
    return rc;
}

/* Builds what noa_shipper_config_client hands out. */
static void client_derive(struct noa_shipper_client_config *c)
{
    struct noa_kvlist *el = &c->external_labels;
    c->ext_v = noa_xcalloc(el->n ? el->n : 1, sizeof(*c->ext_v));
    for (uint32_t i = 0; i < el->n; i++)
        c->ext_v[i] = (struct noa_label){noa_kvlist_name(el, i), noa_kvlist_value(el, i)};
    uint32_t n = c->headers.n + 1;
    c->header_lines = noa_xcalloc(n, sizeof(char *));
    for (uint32_t i = 0; i < c->headers.n; i++) {
        struct noa_str k = noa_kvlist_name(&c->headers, i), v = noa_kvlist_value(&c->headers, i);
        struct noa_buf b = {0};
        noa_buf_printf(&b, "%.*s: %.*s", (int)k.len, k.p, (int)v.len, v.p);
        c->header_lines[c->n_header_lines++] = buf_take(&b);
    }
    /* client.h sends only Bearer itself; another scheme travels as a header. */
    if (c->auth_header_type && strcasecmp(c->auth_header_type, "Bearer") != 0) {
        struct noa_buf b = {0};
        noa_buf_printf(&b, "Authorization: %s %s", c->auth_header_type,
                       c->resolved_token ? c->resolved_token : "");
        c->header_lines[c->n_header_lines++] = buf_take(&b);
    }
    c->encoding = strcmp(c->encoding_name, "zstd") == 0 ? NOA_SHIPPER_ENCODING_ZSTD
                                                        : NOA_SHIPPER_ENCODING_SNAPPY;
}

static int warn_unenforced_client(const struct noa_shipper_client_config *c,
                                  const struct noa_yaml_node *m)
{
    (void)m;
    if (str_set(c->tls_server_name))
        noa_log(NOA_LOG_WARN, "config",
                "msg=\"client tls_config.server_name is not applied: the URL's host name is "
                "verified\" url=%s file=%s line=%d",
                c->url, m->file, m->line);
    return 0;
}

static int read_client(const struct noa_yaml_node *m, struct noa_shipper_client_config *c,
                       struct noa_error *err)
{
    noa_kvlist_init(&c->external_labels);
    noa_kvlist_init(&c->headers);
    noa_config_defaults(&client_table, c);
    if (m->kind != NOA_YAML_MAP)
        return noa_yaml_error(err, m, "cannot unmarshal %s into client.Config",
                              noa_yaml_type_name(m));
    int rc = noa_config_apply(&client_table, c, m, err);
    if (rc == 0)
        rc = read_labels(noa_yaml_get(m, "external_labels"), &c->external_labels, err);
    if (rc == 0)
        rc = read_headers(noa_yaml_get(m, "headers"), &c->headers, err);
    if (rc)
        return rc;
    if (!str_set(c->url))
        return noa_yaml_error(err, m, "client needs target URL");
    if (strncmp(c->url, "http://", 7) != 0 && strncmp(c->url, "https://", 8) != 0)
        return noa_yaml_error(err, noa_yaml_get(m, "url"),
                              "client url \"%s\" must start with http:// or https://", c->url);
    if (c->batchsize <= 0)
        return noa_yaml_error(err, noa_yaml_get(m, "batchsize") ? noa_yaml_get(m, "batchsize") : m,
                              "batchsize must be positive");
    if (c->backoff_max_retries < 0)
        return noa_yaml_error(err, noa_yaml_path(m, "backoff_config.max_retries"),
                              "max_retries must not be negative");
    rc = client_auth(c, m, err);
    if (rc)
        return rc;
    client_derive(c);
    return warn_unenforced_client(c, m);
}

static int read_clients(struct noa_shipper_config *cfg, const struct noa_yaml_node *root,
                        struct noa_error *err)
{
    const struct noa_yaml_node *list = noa_yaml_get(root, "clients");
    const struct noa_yaml_node *single = noa_yaml_get(root, "client");
    size_t n = 0;
    if (!noa_yaml_is_null(list)) {
        if (list->kind != NOA_YAML_SEQ)
            return noa_yaml_error(err, list, "cannot unmarshal %s into []client.Config",
                                  noa_yaml_type_name(list));
        n = list->n;
    }
    int has_single = !noa_yaml_is_null(single);
    if (n + (size_t)has_single > NOA_SHIPPER_CONFIG_MAX_CLIENTS)
        return noa_yaml_error(err, list, "too many clients (at most %d)",
                              NOA_SHIPPER_CONFIG_MAX_CLIENTS);
    cfg->clients = noa_xcalloc(n + 1, sizeof(*cfg->clients));
    for (size_t i = 0; i < n + (size_t)has_single; i++) {
        const struct noa_yaml_node *m = i < n ? list->items[i] : single;
        cfg->n_clients++;
        int rc = read_client(m, &cfg->clients[i], err);
        if (rc)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (str_set(cfg->clients[i].name) &&
                strcmp(cfg->clients[i].name, cfg->clients[j].name) == 0)
                return noa_yaml_error(err, m,
                                      "duplicate client configs are not allowed, found duplicate "
                                      "for name: %s",
                                      cfg->clients[i].name);
    }
    return 0;
}

/* ---- scrape configs -------------------------------------------------------------------- */

static void scrape_fini(struct noa_shipper_scrape_config *s)
{
    noa_config_fini(&scrape_table, s);
    noa_relabel_free(s->relabel);
    for (uint32_t i = 0; i < s->n_static; i++) {
        for (int j = 0; j < s->static_configs[i].targets.n; j++)
            noa_free(s->static_configs[i].targets.v[j]);
        noa_free(s->static_configs[i].targets.v);
        noa_kvlist_fini(&s->static_configs[i].labels);
    }
    noa_free(s->static_configs);
    for (uint32_t i = 0; i < s->n_file_sd; i++)
        noa_config_fini(&file_sd_table, &s->file_sd[i]);
    noa_free(s->file_sd);
    for (uint32_t i = 0; i < s->n_k8s_sd; i++)
        noa_config_fini(&k8s_table, &s->k8s_sd[i]);
    noa_free(s->k8s_sd);
    if (s->journal) {
        noa_config_fini(&journal_table, s->journal);
        noa_kvlist_fini(&s->journal->labels);
        noa_free(s->journal);
    }
    if (s->push) {
        noa_config_fini(&push_table, s->push);
        noa_config_fini(&server_table, &s->push->server);
        noa_kvlist_fini(&s->push->labels);
        noa_free(s->push);
    }
}

/* A sequence of maps, checked and sized; *n gets the count. */
static int seq_of(const struct noa_yaml_node *v, const char *type, size_t max, size_t *n,
                  struct noa_error *err)
{
    *n = 0;
    if (noa_yaml_is_null(v))
        return 0;
    if (v->kind != NOA_YAML_SEQ)
        return noa_yaml_error(err, v, "cannot unmarshal %s into []%s", noa_yaml_type_name(v), type);
    if (v->n > max)
        return noa_yaml_error(err, v, "too many %s entries (at most %zu)", type, max);
    for (size_t i = 0; i < v->n; i++)
        if (v->items[i]->kind != NOA_YAML_MAP && !noa_yaml_is_null(v->items[i]))
            return noa_yaml_error(err, v->items[i], "cannot unmarshal %s into %s",
                                  noa_yaml_type_name(v->items[i]), type);
    *n = v->n;
    return 0;
}

/* A Prometheus target group: `targets` (strings) and `labels`. */
static int read_static(const struct noa_yaml_node *m, struct noa_shipper_static_config *sc,
                       struct noa_error *err)
{
    noa_kvlist_init(&sc->labels);
    for (size_t i = 0; m && m->kind == NOA_YAML_MAP && i < m->n; i++) {
        const struct noa_yaml_node *k = m->pairs[i].key, *v = m->pairs[i].value;
        int rc = 0;
        if (strcmp(k->str, "targets") == 0) {
            if (!noa_yaml_is_null(v) && v->kind != NOA_YAML_SEQ)
                return noa_yaml_error(err, v, "cannot unmarshal %s into []string",
                                      noa_yaml_type_name(v));
            for (size_t j = 0; !noa_yaml_is_null(v) && j < v->n; j++) {
                const struct noa_yaml_node *t = v->items[j];
                if (t->kind != NOA_YAML_SCALAR || memchr(t->str, '\0', t->len))
                    return noa_yaml_error(err, t, "cannot unmarshal %s into string",
                                          noa_yaml_type_name(t));
                sc->targets.v =
                    noa_xrealloc(sc->targets.v, (size_t)(sc->targets.n + 1) * sizeof(char *));
                sc->targets.v[sc->targets.n++] = noa_xstrndup(t->str, t->len);
            }
        } else if (strcmp(k->str, "labels") == 0) {
            rc = read_labels(v, &sc->labels, err);
        } else {
            rc = noa_yaml_error(err, k, "field %.*s not found in type targetgroup.Group",
                                (int)(k->len > 100 ? 100 : k->len), k->str);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int read_k8s(const struct noa_yaml_node *m, struct noa_shipper_k8s_sd_config *k,
                    struct noa_error *err)
{
    noa_config_defaults(&k8s_table, k);
    int rc = noa_config_apply(&k8s_table, k, m, err);
    if (rc)
        return rc;
    if (!str_set(k->role))
        return noa_yaml_error(err, m,
                              "role missing (one of: pod, service, endpoints, "
                              "endpointslice, node, ingress)");
    /* Field selectors on the node name hold by construction (the kubelet's
     * directory holds this node's pods); label selectors cannot be honoured. */
    if (!noa_yaml_is_null(noa_yaml_get(m, "selectors")) || noa_yaml_get(m, "api_server") ||
        noa_yaml_get(m, "kubeconfig_file"))
        noa_log(NOA_LOG_WARN, "config",
                "msg=\"kubernetes_sd_configs selectors, api_server and kubeconfig_file are not "
                "used: pods come from the kubelet's log directory\" file=%s line=%d",
                m->file, m->line);
    if (strcasecmp(k->role, "pod") != 0)
        return noa_error_set_at(err, NOA_EUNSUPP, m->line, m->col,
                                "%s:%d:%d: kubernetes_sd_configs role %s is not supported by "
                                "noa-shipper (only pod, read from the kubelet's log directory)",
                                m->file, m->line, m->col, k->role);
    return 0;
}

static int read_sd_blocks(const struct noa_yaml_node *m, struct noa_shipper_scrape_config *s,
                          struct noa_error *err)
{
    size_t n;
    int rc = seq_of(noa_yaml_get(m, "static_configs"), "targetgroup.Group", 65536, &n, err);
    if (rc)
        return rc;
    s->static_configs = noa_xcalloc(n ? n : 1, sizeof(*s->static_configs));
    for (size_t i = 0; i < n; i++) {
        s->n_static++;
        rc = read_static(noa_yaml_get(m, "static_configs")->items[i], &s->static_configs[i], err);
        if (rc)
            return rc;
    }
    rc = seq_of(noa_yaml_get(m, "file_sd_configs"), "file.SDConfig", 1024, &n, err);
    if (rc)
        return rc;
    s->file_sd = noa_xcalloc(n ? n : 1, sizeof(*s->file_sd));
    for (size_t i = 0; i < n; i++) {
        const struct noa_yaml_node *it = noa_yaml_get(m, "file_sd_configs")->items[i];
        s->n_file_sd++;
        noa_config_defaults(&file_sd_table, &s->file_sd[i]);
        rc = noa_config_apply(&file_sd_table, &s->file_sd[i], it, err);
        if (rc)
            return rc;
        if (s->file_sd[i].files.n == 0)
            return noa_yaml_error(err, it,
                                  "file service discovery config must contain at least "
                                  "one path name");
        for (int j = 0; j < s->file_sd[i].files.n; j++) {
            const char *f = s->file_sd[i].files.v[j];
            size_t fl = strlen(f);
            int ok = (fl > 5 && strcmp(f + fl - 5, ".json") == 0) ||
                     (fl > 4 && strcmp(f + fl - 4, ".yml") == 0) ||
                     (fl > 5 && strcmp(f + fl - 5, ".yaml") == 0);
            if (!ok)
                return noa_yaml_error(err, it, "path name \"%s\" is not valid for file discovery",
                                      f);
        }
        if (s->file_sd[i].refresh_interval_ns <= 0)
            s->file_sd[i].refresh_interval_ns = 300LL * 1000000000LL;
    }
    rc = seq_of(noa_yaml_get(m, "kubernetes_sd_configs"), "kubernetes.SDConfig", 1024, &n, err);
    if (rc)
        return rc;
    s->k8s_sd = noa_xcalloc(n ? n : 1, sizeof(*s->k8s_sd));
    for (size_t i = 0; i < n; i++) {
        s->n_k8s_sd++;
        rc = read_k8s(noa_yaml_get(m, "kubernetes_sd_configs")->items[i], &s->k8s_sd[i], err);
        if (rc)
            return rc;
    }
    return 0;
}

static int refuse_inline_pem(const struct noa_yaml_node *server, struct noa_error *err);

static int read_receivers(const struct noa_yaml_node *m, struct noa_shipper_scrape_config *s,
                          struct noa_error *err)
{
    const struct noa_yaml_node *j = noa_yaml_get(m, "journal");
    const struct noa_yaml_node *p = noa_yaml_get(m, "loki_push_api");
    int rc = 0;
    if (j && !noa_yaml_is_null(j)) {
        s->journal = noa_xcalloc(1, sizeof(*s->journal));
        noa_kvlist_init(&s->journal->labels);
        noa_config_defaults(&journal_table, s->journal);
        rc = noa_config_apply(&journal_table, s->journal, j, err);
        if (rc == 0)
            rc = read_labels(noa_yaml_get(j, "labels"), &s->journal->labels, err);
        if (rc == 0 && s->journal->max_age_ns <= 0)
            s->journal->max_age_ns = 7LL * 3600 * 1000000000LL;
        if (rc)
            return rc;
    }
    if (p && !noa_yaml_is_null(p)) {
        s->push = noa_xcalloc(1, sizeof(*s->push));
        noa_kvlist_init(&s->push->labels);
        noa_config_defaults(&push_table, s->push);
        noa_config_defaults(&server_table, &s->push->server);
        rc = noa_config_apply(&push_table, s->push, p, err);
        if (rc == 0)
            rc = noa_config_apply(&server_table, &s->push->server, noa_yaml_get(p, "server"), err);
        if (rc == 0)
            rc = refuse_inline_pem(noa_yaml_get(p, "server"), err);
        if (rc == 0)
            rc = read_labels(noa_yaml_get(p, "labels"), &s->push->labels, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* dskit also takes the server's PEM inline (http_tls_config cert, key,
 * client_ca); noa reads the _file keys only, and serving plain HTTP
 * because of that would be a security surprise. */
static int refuse_inline_pem(const struct noa_yaml_node *server, struct noa_error *err)
{
    static const char *const keys[] = {"http_tls_config.cert", "http_tls_config.key",
                                       "http_tls_config.client_ca"};
    for (size_t i = 0; server && i < sizeof(keys) / sizeof(keys[0]); i++) {
        const struct noa_yaml_node *n = noa_yaml_path(server, keys[i]);
        if (n && n->kind == NOA_YAML_SCALAR && n->len)
            return noa_error_set_at(err, NOA_EUNSUPP, n->line, n->col,
                                    "server.%s (inline PEM) is not supported: use %s_file",
                                    keys[i], keys[i]);
    }
    return 0;
}

static int read_scrape(const struct noa_yaml_node *m, struct noa_shipper_scrape_config *s,
                       struct noa_error *err)
{
    s->line = m->line;
    s->col = m->col;
    noa_config_defaults(&scrape_table, s);
    if (m->kind != NOA_YAML_MAP)
        return noa_yaml_error(err, m, "cannot unmarshal %s into scrapeconfig.Config",
                              noa_yaml_type_name(m));
    int rc = noa_config_apply(&scrape_table, s, m, err);
    if (rc)
        return rc;
    for (size_t i = 0; unsupported_keys[i]; i++) {
        const struct noa_yaml_node *k = key_node(m, unsupported_keys[i]);
        if (k && !noa_yaml_is_null(noa_yaml_get(m, unsupported_keys[i])))
            return unsupported(k, unsupported_keys[i], err);
    }
    if (!str_set(s->job_name))
        return noa_yaml_error(err, m, "job_name is empty");
    if (str_set(s->encoding) && strcasecmp(s->encoding, "utf-8") != 0 &&
        strcasecmp(s->encoding, "utf8") != 0)
        return unsupported(key_node(m, "encoding"), "an encoding other than UTF-8", err);
    const struct noa_yaml_node *dec = noa_yaml_get(m, "decompression");
    if (dec && !noa_yaml_is_null(dec)) {
        const struct noa_yaml_node *en = noa_yaml_get(dec, "enabled");
        int on = 0;
        if (dec->kind != NOA_YAML_MAP)
            return noa_yaml_error(err, dec,
                                  "cannot unmarshal %s into scrapeconfig.DecompressionConfig",
                                  noa_yaml_type_name(dec));
        if (en && noa_yaml_bool(en, &on) == 0 && on)
            return unsupported(key_node(m, "decompression"), "decompression", err);
    }
    const struct noa_yaml_node *ps = noa_yaml_get(m, "pipeline_stages");
    if (ps && !noa_yaml_is_null(ps)) {
        if (ps->kind != NOA_YAML_SEQ)
            return noa_yaml_error(err, ps, "cannot unmarshal %s into stages.PipelineStages",
                                  noa_yaml_type_name(ps));
        s->pipeline_stages = ps;
    }
    rc = noa_relabel_parse(noa_yaml_get(m, "relabel_configs"), &s->relabel, err);
    if (rc == 0)
        rc = read_sd_blocks(m, s, err);
    if (rc == 0)
        rc = read_receivers(m, s, err);
    return rc;
}

static int read_scrapes(struct noa_shipper_config *cfg, const struct noa_yaml_node *root,
                        struct noa_error *err)
{
    const struct noa_yaml_node *list = noa_yaml_get(root, "scrape_configs");
    size_t n = 0;
    if (!noa_yaml_is_null(list)) {
        if (list->kind != NOA_YAML_SEQ)
            return noa_yaml_error(err, list, "cannot unmarshal %s into []scrapeconfig.Config",
                                  noa_yaml_type_name(list));
        n = list->n;
        if (n > NOA_SHIPPER_CONFIG_MAX_SCRAPES)
            return noa_yaml_error(err, list, "too many scrape configs (at most %d)",
                                  NOA_SHIPPER_CONFIG_MAX_SCRAPES);
    }
    cfg->scrape = noa_xcalloc(n ? n : 1, sizeof(*cfg->scrape));
    for (size_t i = 0; i < n; i++) {
        cfg->n_scrape++;
        int rc = read_scrape(list->items[i], &cfg->scrape[i], err);
        if (rc)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->scrape[i].job_name, cfg->scrape[j].job_name) == 0)
                return noa_yaml_error(err, list->items[i],
                                      "found multiple scrape configs with job name \"%s\"",
                                      cfg->scrape[i].job_name);
    }
    return 0;
}

/* ---- load / free --------------------------------------------------------------------------- */

void noa_shipper_config_free(struct noa_shipper_config *cfg)
{
    if (!cfg)
        return;
    for (uint32_t i = 0; i < cfg->n_clients; i++)
        client_fini(&cfg->clients[i]);
    noa_free(cfg->clients);
    for (uint32_t i = 0; i < cfg->n_scrape; i++)
        scrape_fini(&cfg->scrape[i]);
    noa_free(cfg->scrape);
    noa_config_fini(&server_table, &cfg->server);
    noa_config_fini(&top_table, cfg);
    noa_yaml_free(cfg->doc);
    noa_free(cfg->file);
    noa_free(cfg);
}

static int build(struct noa_shipper_config *cfg, struct noa_error *err)
{
    const struct noa_yaml_node *root = cfg->doc ? cfg->doc->root : NULL;
    int rc = noa_config_apply(&top_table, cfg, root, err);
    if (rc == 0)
        rc = noa_config_apply(&server_table, &cfg->server, noa_yaml_get(root, "server"), err);
    if (rc == 0)
        rc = refuse_inline_pem(noa_yaml_get(root, "server"), err);
    if (rc == 0)
        rc = read_clients(cfg, root, err);
    if (rc == 0)
        rc = read_scrapes(cfg, root, err);
    if (rc == 0 && cfg->positions.sync_period_ns <= 0)
        cfg->positions.sync_period_ns = NOA_POSITIONS_DEFAULT_SYNC_PERIOD_NS;
    if (rc == 0 && cfg->target_sync_period_ns <= 0)
        cfg->target_sync_period_ns = 10LL * 1000000000LL;
    if (rc == 0 && cfg->limits.readline_rate_enabled &&
        (cfg->limits.readline_rate <= 0 || cfg->limits.readline_burst <= 0))
        rc = noa_yaml_error(err, noa_yaml_get(root, "limits_config"),
                            "readline_rate and readline_burst must be positive");
    if (rc == 0 && (cfg->server.http_listen_port < 0 || cfg->server.http_listen_port > 65535))
        rc = noa_yaml_error(err, noa_yaml_path(root, "server.http_listen_port"),
                            "http_listen_port %d out of range", cfg->server.http_listen_port);
    return rc;
}

static struct noa_shipper_config *config_new(const char *file)
{
    struct noa_shipper_config *cfg = noa_xcalloc(1, sizeof(*cfg));
    cfg->file = noa_xstrdup(file ? file : "<input>");
    noa_config_defaults(&top_table, cfg);
    noa_config_defaults(&server_table, &cfg->server);
    return cfg;
}

int noa_shipper_config_parse(const char *text, size_t len, const char *file, int expand_env,
                             struct noa_shipper_config **out, struct noa_error *err)
{
    struct noa_shipper_config *cfg = config_new(file);
    struct noa_buf expanded = {0};
    int rc;
    *out = NULL;
    if (expand_env) {
        rc = noa_yaml_expand_env(text, len, file, &expanded, err);
        if (rc)
            goto fail;
        text = expanded.data ? expanded.data : "";
        len = expanded.len;
    }
    rc = noa_yaml_parse(text, len, cfg->file, NULL, &cfg->doc, err);
    if (rc == 0)
        rc = build(cfg, err);
    if (rc)
        goto fail;
    noa_buf_fini(&expanded);
    *out = cfg;
    return 0;
fail:
    noa_buf_fini(&expanded);
    noa_shipper_config_free(cfg);
    return rc;
}

int noa_shipper_config_load(const char *path, int expand_env, struct noa_shipper_config **out,
                            struct noa_error *err)
{
    struct noa_shipper_config *cfg = config_new(path);
    *out = NULL;
    int rc = noa_yaml_load_file(path, expand_env, NULL, &cfg->doc, err);
    if (rc == 0)
        rc = build(cfg, err);
    if (rc) {
        noa_shipper_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

void noa_shipper_config_client(const struct noa_shipper_config *cfg, uint32_t i,
                               struct noa_client_config *out)
{
    const struct noa_shipper_client_config *c = &cfg->clients[i];
    memset(out, 0, sizeof(*out));
    out->url = c->url;
    out->tenant_id = str_set(c->tenant_id) ? c->tenant_id : NULL;
    out->batch_size = (size_t)c->batchsize;
    out->batch_wait_ms = c->batchwait_ns / 1000000;
    out->timeout_ms = c->timeout_ns / 1000000;
    out->min_backoff_ms = c->backoff_min_period_ns / 1000000;
    out->max_backoff_ms = c->backoff_max_period_ns / 1000000;
    out->max_retries = c->backoff_max_retries;
    out->external_labels = c->ext_v;
    out->n_external_labels = c->external_labels.n;
    if (c->resolved_password || str_set(c->basic_auth_username)) {
        out->basic_user = c->basic_auth_username ? c->basic_auth_username : "";
        out->basic_pass = c->resolved_password ? c->resolved_password : "";
    }
    if (c->auth_header_type && strcasecmp(c->auth_header_type, "Bearer") == 0)
        out->bearer_token = c->resolved_token;
    out->headers = (const char *const *)c->header_lines;
    out->n_headers = c->n_header_lines;
    out->drop_rate_limited = c->drop_rate_limited_batches;
    out->tls = (struct noa_http_client_tls){.ca_file = c->tls_ca_file,
                                            .cert_file = c->tls_cert_file,
                                            .key_file = c->tls_key_file,
                                            .insecure_skip_verify = c->tls_insecure_skip_verify,
                                            .proxy_url = c->proxy_url};
}

int noa_shipper_config_check_tables(struct noa_error *err)
{
    const struct noa_config_table *const tables[] = {&server_table,  &top_table,     &client_table,
                                                     &scrape_table,  &file_sd_table, &k8s_table,
                                                     &journal_table, &push_table};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        int rc = noa_config_check_table(tables[i], err);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- -print-config-stderr ------------------------------------------------------------ */

/* Keys whose values are secrets (Prometheus's config.Secret fields). */
static int secret_key(const char *line, size_t n)
{
    static const char *const keys[] = {"password: ", "bearer_token: ", "credentials: ", NULL};
    while (n && *line == ' ') {
        line++;
        n--;
    }
    for (size_t i = 0; keys[i]; i++)
        if (n >= strlen(keys[i]) && strncmp(line, keys[i], strlen(keys[i])) == 0)
            return (int)strlen(keys[i]);
    return 0;
}

/* Appends src's lines indented; the first line gets "- " (a list item) when
 * item is set. Secret values are masked. */
static void put_lines(struct noa_buf *out, const struct noa_buf *src, int indent, int item)
{
    size_t off = 0;
    int first = 1;
    while (off < src->len) {
        const char *l = src->data + off;
        const char *nl = memchr(l, '\n', src->len - off);
        size_t n = nl ? (size_t)(nl - l) : src->len - off;
        if (first && item)
            noa_buf_printf(out, "%*s- ", indent > 2 ? indent - 2 : 0, "");
        else
            noa_buf_printf(out, "%*s", indent, "");
        int k = secret_key(l, n);
        size_t lead = 0;
        while (lead < n && l[lead] == ' ')
            lead++;
        if (k && n - lead - (size_t)k > 0 && !(n - lead - (size_t)k == 2 && l[n - 1] == '"'))
            noa_buf_printf(out, "%.*s<secret>\n", (int)(lead + (size_t)k), l);
        else
            noa_buf_printf(out, "%.*s\n", (int)n, l);
        off += n + 1;
        first = 0;
    }
}

static void put_table(struct noa_buf *out, const struct noa_config_table *t, const void *obj,
                      int indent, int item)
{
    struct noa_buf tmp = {0};
    noa_config_dump(t, obj, NOA_CONFIG_DUMP_ALL, &tmp);
    put_lines(out, &tmp, indent, item);
    noa_buf_fini(&tmp);
}

static void put_kvlist(struct noa_buf *out, const char *key, const struct noa_kvlist *l, int indent)
{
    noa_buf_printf(out, "%*s%s:%s\n", indent, "", key, l->n ? "" : " {}");
    for (uint32_t i = 0; i < l->n; i++) {
        struct noa_str k = noa_kvlist_name(l, i), v = noa_kvlist_value(l, i);
        noa_buf_printf(out, "%*s", indent + 2, "");
        noa_buf_put_json_str(out, k.p, k.len);
        noa_buf_append(out, ": ", 2);
        noa_buf_put_json_str(out, v.p, v.len);
        noa_buf_putc(out, '\n');
    }
}

/* A plain scalar that reads back the same in flow context. */
static int flow_plain(const struct noa_yaml_node *n)
{
    if (n->style != NOA_YAML_PLAIN || n->len == 0)
        return 0;
    for (size_t i = 0; i < n->len; i++) {
        unsigned char c = (unsigned char)n->str[i];
        if (!(c == '_' || c == '.' || c == '-' || c == '+' || c == '/' || (c >= '0' && c <= '9') ||
              (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
            return 0;
    }
    return n->str[0] != '-' || n->len > 1;
}

/* A YAML node in flow style (JSON-like), for pipeline_stages. */
static void put_node(struct noa_buf *out, const struct noa_yaml_node *n, int depth)
{
    if (depth > 64) {
        noa_buf_append(out, "null", 4);
        return;
    }
    if (n->kind == NOA_YAML_SCALAR) {
        if (flow_plain(n))
            noa_buf_append(out, n->str, n->len);
        else
            noa_buf_put_json_str(out, n->str, n->len);
    } else if (n->kind == NOA_YAML_SEQ) {
        noa_buf_putc(out, '[');
        for (size_t i = 0; i < n->n; i++) {
            if (i)
                noa_buf_append(out, ", ", 2);
            put_node(out, n->items[i], depth + 1);
        }
        noa_buf_putc(out, ']');
    } else {
        noa_buf_putc(out, '{');
        for (size_t i = 0; i < n->n; i++) {
            if (i)
                noa_buf_append(out, ", ", 2);
            put_node(out, n->pairs[i].key, depth + 1);
            noa_buf_append(out, ": ", 2);
            put_node(out, n->pairs[i].value, depth + 1);
        }
        noa_buf_putc(out, '}');
    }
}

static void put_strings(struct noa_buf *out, const char *key, const struct noa_config_strings *l,
                        int indent)
{
    noa_buf_printf(out, "%*s%s: [", indent, "", key);
    for (int i = 0; i < l->n; i++) {
        if (i)
            noa_buf_append(out, ", ", 2);
        noa_buf_put_json_str(out, l->v[i], strlen(l->v[i]));
    }
    noa_buf_append(out, "]\n", 2);
}

static void put_scrape(struct noa_buf *out, const struct noa_shipper_scrape_config *s)
{
    put_table(out, &scrape_table, s, 4, 1);
    if (s->pipeline_stages) {
        noa_buf_append(out, "    pipeline_stages: ", 21);
        put_node(out, s->pipeline_stages, 0);
        noa_buf_putc(out, '\n');
    }
    if (s->relabel && s->relabel->n) {
        noa_buf_append(out, "    relabel_configs:\n", 21);
        noa_relabel_print(s->relabel, 6, out);
    }
    if (s->n_static)
        noa_buf_append(out, "    static_configs:\n", 20);
    for (uint32_t i = 0; i < s->n_static; i++) {
        noa_buf_append(out, "      - ", 8);
        put_strings(out, "targets", &s->static_configs[i].targets, 0);
        put_kvlist(out, "labels", &s->static_configs[i].labels, 8);
    }
    if (s->n_file_sd)
        noa_buf_append(out, "    file_sd_configs:\n", 21);
    for (uint32_t i = 0; i < s->n_file_sd; i++)
        put_table(out, &file_sd_table, &s->file_sd[i], 8, 1);
    if (s->n_k8s_sd)
        noa_buf_append(out, "    kubernetes_sd_configs:\n", 27);
    for (uint32_t i = 0; i < s->n_k8s_sd; i++)
        put_table(out, &k8s_table, &s->k8s_sd[i], 8, 1);
    if (s->journal) {
        noa_buf_append(out, "    journal:\n", 13);
        put_table(out, &journal_table, s->journal, 6, 0);
        put_kvlist(out, "labels", &s->journal->labels, 6);
    }
    if (s->push) {
        noa_buf_append(out, "    loki_push_api:\n      server:\n", 33);
        put_table(out, &server_table, &s->push->server, 8, 0);
        put_table(out, &push_table, s->push, 6, 0);
        put_kvlist(out, "labels", &s->push->labels, 6);
    }
}

void noa_shipper_config_print(const struct noa_shipper_config *cfg, struct noa_buf *out)
{
    noa_buf_append(out, "server:\n", 8);
    put_table(out, &server_table, &cfg->server, 2, 0);
    noa_buf_printf(out, "clients:%s\n", cfg->n_clients ? "" : " []");
    for (uint32_t i = 0; i < cfg->n_clients; i++) {
        const struct noa_shipper_client_config *c = &cfg->clients[i];
        put_table(out, &client_table, c, 4, 1);
        put_kvlist(out, "external_labels", &c->external_labels, 4);
        put_kvlist(out, "headers", &c->headers, 4);
    }
    noa_buf_printf(out, "scrape_configs:%s\n", cfg->n_scrape ? "" : " []");
    for (uint32_t i = 0; i < cfg->n_scrape; i++)
        put_scrape(out, &cfg->scrape[i]);
    put_table(out, &top_table, cfg, 0, 0);
}

/* ---- the Markdown reference (docs/shipper-configuration.md) --------------------------- */

/* The flags main_shipper.c accepts, in Go's flag.PrintDefaults layout. */
void noa_shipper_config_usage(struct noa_buf *out)
{
    noa_buf_printf(
        out, "Usage of noa-shipper:\n"
             "  noa-shipper -config.file=FILE [-flag=value ...]\n"
             "\n"
             "Flags accept -name=value, -name value, --name=value; bool flags also -name.\n"
             "\n"
             "  -check-syntax\n"
             "    \tLoad the configuration, compile every pipeline and exit (0 valid, 1 not). "
             "Alias: -config.verify.\n"
             "  -config.expand-env\n"
             "    \tReplace ${VAR} and ${VAR:-default} in the file before parsing it.\n"
             "  -config.file string\n"
             "    \tConfiguration file (required).\n"
             "  -dry-run\n"
             "    \tPrint the entries instead of sending them; the positions file is read but "
             "never written.\n"
             "  -help\n"
             "    \tPrint the flags and exit.\n"
             "  -log.level string\n"
             "    \tdebug, info, warn or error; overrides server.log_level.\n"
             "  -positions.file string\n"
             "    \tOverrides positions.filename.\n"
             "  -print-config-stderr\n"
             "    \tPrint the effective configuration (secrets masked) to stderr at start.\n"
             "  -server.http-listen-address string\n"
             "    \tOverrides server.http_listen_address.\n"
             "  -server.http-listen-port int\n"
             "    \tOverrides server.http_listen_port (0: any free port).\n"
             "  -tail.no-inotify\n"
             "    \tPoll files instead of using inotify (network filesystems).\n"
             "  -version\n"
             "    \tPrint the version and exit.\n"
             "\n"
             "HTTP endpoints: /ready, /metrics, /config, /targets (?format=json), "
             "/loki/api/v1/status/buildinfo.\n");
}

/* Appends text, naming Promtail where the generic renderer (written for
 * noa-server) says a key is there for compatibility with Loki. */
static void put_promtail(struct noa_buf *out, const char *p, size_t n)
{
    static const char from[] = "compatibility with Loki";
    const size_t fl = sizeof(from) - 1;
    while (n) {
        const char *hit = memmem(p, n, from, fl);
        size_t k = hit ? (size_t)(hit - p) : n;
        noa_buf_append(out, p, k);
        if (!hit)
            break;
        noa_buf_printf(out, "compatibility with Promtail");
        p = hit + fl;
        n -= k + fl;
    }
}

/*
 * Appends one table's reference. The generic renderer titles every table
 * "Top level"; here only the file's root is that. Other tables are a block
 * or a list item of the file, so (prefix set) their title is their place in
 * the file and their sub-blocks' titles become "#### prefix.block".
 */
static void markdown_table(struct noa_buf *out, const struct noa_config_table *t,
                           const char *prefix, const char *intro)
{
    struct noa_buf tmp = {0};
    noa_config_markdown(t, &tmp);
    noa_buf_cstr(&tmp);
    const char *p = tmp.data;
    if (prefix) {
        noa_buf_printf(out, "\n### `%s` (`%s`)\n\n%s\n", prefix, t->type_name, intro);
        /* Skip the generic first heading line; keep its code block. */
        p = strchr(p, '\n');
        p = p ? p + 1 : tmp.data + tmp.len;
    }
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
        if (prefix && n > 4 && strncmp(p, "### ", 4) == 0)
            noa_buf_printf(out, "#### `%s.%.*s`\n", prefix, (int)(n - 5), p + 4);
        else
            put_promtail(out, p, n);
        p += n;
    }
    noa_buf_fini(&tmp);
}

void noa_shipper_config_markdown(struct noa_buf *out)
{
    noa_buf_printf(
        out, "# noa-shipper configuration reference\n\n"
             "<!-- Generated from the tables in shipper/shipper_config.c by "
             "noa_shipper_config_markdown(); do not edit. Regenerate with "
             "`NOA_REGEN_DOCS=1 build/tests/test_shipper_shipper_config`. -->\n\n"
             "noa-shipper reads Promtail's YAML configuration file: the keys, their types and "
             "defaults below are Promtail's (and, for the `server` block, dskit's; for "
             "relabelling and discovery, Prometheus's), so a Promtail file starts unchanged "
             "unless it uses a receiver noa does not have. Pass it with `-config.file=FILE`; "
             "the command-line flags below override what the file says. "
             "[shipper.md](shipper.md) explains what the shipper does with it; "
             "`config/shipper-local.yaml` (what `make run` starts) and `config/shipper.yaml` "
             "(a Kubernetes node) are examples.\n\n"
             "- **Environment variables**: with `-config.expand-env`, `${VAR}` and "
             "`${VAR:-default}` are replaced before the YAML is parsed.\n"
             "- **Unknown keys are errors**, reported as `file:line:col: field X not found in "
             "type T`, as Promtail's strict decoder makes them.\n"
             "- **Accepted, not used**: keys marked *not enforced by noa yet* are Promtail's, "
             "are type-checked and have no effect (most of them gRPC and dskit server knobs). "
             "Blocks marked *ignored* log one warning at start-up.\n"
             "- **Refused**: receivers and service discovery noa does not implement (`syslog`, "
             "`gcplog`, `windows_events`, `kafka`, `azure_event_hubs`, `gelf`, `cloudflare`, "
             "`heroku_drain`, `docker_sd_configs`, `consul_sd_configs`, `ec2_sd_configs`, "
             "...), `oauth2`, `decompression.enabled: true` and file encodings other than "
             "UTF-8 fail the load with \"not supported by noa-shipper\" and their position, "
             "rather than running without them.\n"
             "- **Durations** take Go's form (`1h30m`, `1.5s`, `500ms`) and Prometheus's units "
             "(`1d`, `1w`); **sizes** take `1048576`, `256KB`, `4MB`, `1GiB` (powers of 1024).\n"
             "- **noa extensions**: `clients[].encoding` (`snappy`, Promtail's and Loki's "
             "default, or `zstd`, which noa-server accepts: smaller bodies, cheaper to "
             "compress), `kubernetes_sd_configs[].pods_dir` (pods are discovered from the "
             "kubelet's log directory, without the API server), and "
             "`clients[].backoff_config.max_retries` defaulting to 0, retry for ever "
             "(Promtail's 10 drops a batch after about 8 minutes of outage).\n"
             "- `-print-config-stderr` and `GET /config` show the effective configuration "
             "with every default filled in and secrets written as `<secret>`; "
             "`-check-syntax` loads the file, compiles every pipeline and exits.\n\n"
             "## Command-line flags\n\n```\n");
    noa_shipper_config_usage(out);
    noa_buf_printf(out, "```\n\n## Configuration file\n\n");
    markdown_table(out, &top_table, NULL, NULL);
    markdown_table(out, &server_table, "server",
                   "The HTTP server: `/ready`, `/metrics`, `/config`, `/targets`, and "
                   "`POST /reload` when `enable_runtime_reload` is set. The same block "
                   "configures a `loki_push_api` receiver's own listener.");
    markdown_table(out, &client_table, "clients[]",
                   "One entry per server the logs are sent to; every entry receives every "
                   "line. A legacy single `client:` block is read as one more entry. "
                   "`external_labels` is a map of labels added to every stream; "
                   "`headers` a map of extra HTTP headers.");
    markdown_table(out, &scrape_table, "scrape_configs[]",
                   "One entry per job: where lines come from (`static_configs`, "
                   "`file_sd_configs`, `kubernetes_sd_configs`, `journal`, "
                   "`loki_push_api`), how targets are relabelled (`relabel_configs`, "
                   "Prometheus's relabel_config: `source_labels`, `separator`, `regex`, "
                   "`modulus`, `target_label`, `replacement`, `action`) and which "
                   "`pipeline_stages` every line goes through (see shipper.md). A "
                   "`static_configs` entry is `{targets: [...], labels: {...}}`, where "
                   "the `__path__` label is a glob of files to tail and `__path_exclude__` "
                   "a glob to leave out.");
    markdown_table(out, &file_sd_table, "scrape_configs[].file_sd_configs[]",
                   "Targets read from JSON or YAML files in Prometheus's file_sd format "
                   "(`[{targets: [...], labels: {...}}]`), re-read every `refresh_interval`; "
                   "each target gets the `__meta_filepath` label.");
    markdown_table(out, &k8s_table, "scrape_configs[].kubernetes_sd_configs[]",
                   "Pods of this node, discovered from the kubelet's log directory "
                   "(`/var/log/pods/<namespace>_<pod>_<uid>/<container>/N.log`) instead of "
                   "the API server; the `__meta_kubernetes_*` labels that can be known from "
                   "the path are set (namespace, pod name and uid, container name, node name, "
                   "a guessed controller name), so the Helm chart's relabel rules work.");
    markdown_table(out, &journal_table, "scrape_configs[].journal",
                   "Reads the systemd journal (the system's, or the directory in `path`); "
                   "`labels` is a map of labels added to every entry, and every journal "
                   "field is available to relabelling as `__journal_<field>` (lower case).");
    markdown_table(out, &push_table, "scrape_configs[].loki_push_api",
                   "Receives Loki push requests (`POST /loki/api/v1/push`, protobuf or "
                   "JSON) on its own listener, configured by `server` (the `server` block "
                   "above); `labels` is a map of labels added to every pushed stream.");
}
