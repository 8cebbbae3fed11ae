/*
 * noa-server's configuration table (Loki's keys, flags and defaults) and its
 * loader: defaults, then the YAML file, then flags; then validation and the
 * derived directories. Owns the strings in struct noa_server_config and the
 * loaded YAML document. Main thread at start-up.
 */
#include "querier/server_config.h"
#include "common/log.h"
#include "common/mem.h"
#include "querier/ruler_relabel.h"
#include "querier/ruler_remote_write.h"
#include "ingester/retention.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OFF(f) offsetof(struct noa_server_config, f)
#define UNENF (NOA_CONFIG_UNENFORCED | NOA_CONFIG_NOFIELD)

static const char *const targets[] = {"all", "ingester", "querier", "ruler", NULL};
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
static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_formats[] = {"logfmt", "json", NULL};
static const char *const encodings[] = {"none", "gzip", "lz4-64k", "snappy", "lz4-256k",
                                        "lz4-1M", "lz4", "flate", "zstd", NULL};
static const char *const rate_strategies[] = {"global", "local", NULL};
static const char *const eval_modes[] = {"local", "remote", NULL};

/* An ignored block or key: accepted with one warning. */
#define IGNORED(p, d) {.path = (p), .type = NOA_CONFIG_IGNORED, .desc = (d)}
#define BLOCK(p, tn, d) {.path = (p), .type = NOA_CONFIG_BLOCK, .type_name = (tn), .desc = (d)}
#define RAW(p, d) {.path = (p), .type = NOA_CONFIG_RAW, .desc = (d)}

static const struct noa_config_entry entries[] = {
    /* ---- command line only ---- */
    {.flag = "config.file", .type = NOA_CONFIG_STRING, .offset = OFF(config_file),
     .desc = "Configuration file to load; a comma-separated list loads the first that exists. "
             "Without it, ./config.yaml and ./config/config.yaml are tried."},
    {.flag = "config.expand-env", .type = NOA_CONFIG_BOOL, .offset = OFF(expand_env),
     .desc = "Expand ${VAR} and ${VAR:-default} references to environment variables in the "
             "configuration file before parsing it."},
    {.flag = "config.verify", .type = NOA_CONFIG_BOOL, .offset = OFF(verify),
     .desc = "Load and validate the configuration, then exit: 0 when valid, 1 otherwise."},
    {.flag = "print-config-stderr", .type = NOA_CONFIG_BOOL, .offset = OFF(print_config),
     .desc = "Print the effective configuration to stderr at start-up."},
    {.flag = "log-config-reverse-order", .type = NOA_CONFIG_BOOL, .offset = OFF(print_config),
     .desc = "Accepted for Loki compatibility: prints the effective configuration like "
             "-print-config-stderr."},
    {.flag = "help", .type = NOA_CONFIG_BOOL, .offset = OFF(show_help),
     .desc = "Print this usage text and exit (also -h and --help)."},
    {.flag = "h", .type = NOA_CONFIG_BOOL, .offset = OFF(show_help), .flags = NOA_CONFIG_HIDDEN,
     .desc = "Same as -help."},
    {.flag = "version", .type = NOA_CONFIG_BOOL, .offset = OFF(show_version),
     .desc = "Print the version and exit."},

    /* ---- top level ---- */
    {.path = "target", .type = NOA_CONFIG_STRING, .def = "all", .offset = OFF(target),
     .flag = "target", .choices = targets,
     .desc = "Which component to run: all (ingester, querier and ruler in one process over one "
             "data directory), ingester, querier or ruler."},
    {.path = "auth_enabled", .type = NOA_CONFIG_BOOL, .def = "true", .offset = OFF(auth_enabled),
     .flag = "auth.enabled",
     .desc = "Require the X-Scope-OrgID header on every request. When false, the tenant is "
             "always 'fake'."},
    {.path = "ballast_bytes", .type = NOA_CONFIG_INT64, .def = "0", .flag = "config.ballast-bytes",
     .flags = UNENF, .desc = "Go heap ballast; meaningless for noa."},
    {.path = "shutdown_delay", .type = NOA_CONFIG_DURATION, .def = "0s",
     .offset = OFF(shutdown_delay_ns), .flag = "shutdown-delay",
     .desc = "How long to keep serving after SIGTERM while /ready reports 503."},
    {.path = "metrics_namespace", .type = NOA_CONFIG_STRING, .def = "loki", .flags = UNENF,
     .desc = "Namespace of metrics that were once named cortex_*."},
    {.path = "tenant_limits_allow_publish", .type = NOA_CONFIG_STRINGS, .flags = UNENF,
     .desc = "Limit fields the tenant limits endpoint publishes."},

    /* ---- server ---- */
    BLOCK("server", "server.Config", "Configures the HTTP server (and accepts Loki's gRPC "
                                     "settings, which noa does not use)."),
    {.path = "server.http_listen_network", .type = NOA_CONFIG_STRING, .def = "tcp",
     .flag = "server.http-listen-network", .flags = UNENF, .desc = "HTTP server listen network."},
    {.path = "server.http_listen_address", .type = NOA_CONFIG_STRING, .def = "",
     .offset = OFF(server.http_listen_address), .flag = "server.http-listen-address",
     .desc = "HTTP server listen address; empty listens on every interface."},
    {.path = "server.http_listen_port", .type = NOA_CONFIG_INT, .def = "3100",
     .offset = OFF(server.http_listen_port), .flag = "server.http-listen-port",
     .desc = "HTTP server listen port."},
    {.path = "server.http_listen_conn_limit", .type = NOA_CONFIG_INT, .def = "0",
     .offset = OFF(server.http_listen_conn_limit), .flag = "server.http-conn-limit",
     .desc = "Maximum number of simultaneous HTTP connections; 0 for no limit."},
    {.path = "server.grpc_listen_network", .type = NOA_CONFIG_STRING, .def = "tcp",
     .flag = "server.grpc-listen-network", .flags = UNENF, .desc = "gRPC server listen network."},
    {.path = "server.grpc_listen_address", .type = NOA_CONFIG_STRING, .def = "",
     .offset = OFF(server.grpc_listen_address), .flag = "server.grpc-listen-address",
     .flags = NOA_CONFIG_UNENFORCED, .desc = "gRPC server listen address; noa serves no gRPC."},
    {.path = "server.grpc_listen_port", .type = NOA_CONFIG_INT, .def = "9095",
     .offset = OFF(server.grpc_listen_port), .flag = "server.grpc-listen-port",
     .flags = NOA_CONFIG_UNENFORCED, .desc = "gRPC server listen port; noa serves no gRPC."},
    {.path = "server.grpc_listen_conn_limit", .type = NOA_CONFIG_INT, .def = "0",
     .flag = "server.grpc-conn-limit", .flags = UNENF,
     .desc = "Maximum number of simultaneous gRPC connections."},
    {.path = "server.register_instrumentation", .type = NOA_CONFIG_BOOL, .def = "true",
     .offset = OFF(server.register_instrumentation), .flag = "server.register-instrumentation",
     .desc = "Serve /metrics (and the other instrumentation handlers)."},
    {.path = "server.graceful_shutdown_timeout", .type = NOA_CONFIG_DURATION, .def = "30s",
     .offset = OFF(server.graceful_shutdown_timeout_ns), .flag = "server.graceful-shutdown-timeout",
     .desc = "Timeout for graceful shutdowns."},
    {.path = "server.http_server_read_timeout", .type = NOA_CONFIG_DURATION, .def = "30s",
     .offset = OFF(server.http_server_read_timeout_ns), .flag = "server.http-read-timeout",
     .desc = "Read timeout for an entire HTTP request, headers and body."},
    {.path = "server.http_server_read_header_timeout", .type = NOA_CONFIG_DURATION, .def = "0s",
     .offset = OFF(server.http_server_read_header_timeout_ns),
     .flag = "server.http-read-header-timeout",
     .desc = "Read timeout for HTTP request headers; 0 uses the read timeout."},
    {.path = "server.http_server_write_timeout", .type = NOA_CONFIG_DURATION, .def = "30s",
     .offset = OFF(server.http_server_write_timeout_ns), .flag = "server.http-write-timeout",
     .desc = "Write timeout for HTTP responses."},
    {.path = "server.http_server_idle_timeout", .type = NOA_CONFIG_DURATION, .def = "2m",
     .offset = OFF(server.http_server_idle_timeout_ns), .flag = "server.http-idle-timeout",
     .desc = "Idle timeout for HTTP keep-alive connections."},
    {.path = "server.http_log_closed_connections_without_response", .type = NOA_CONFIG_BOOL,
     .def = "false", .flags = UNENF,
     .desc = "Log connections closed before a response was sent."},
    {.path = "server.grpc_server_max_recv_msg_size", .type = NOA_CONFIG_INT, .def = "4194304",
     .flag = "server.grpc-max-recv-msg-size-bytes", .flags = UNENF,
     .desc = "Largest gRPC message the server accepts, in bytes."},
    {.path = "server.grpc_server_max_send_msg_size", .type = NOA_CONFIG_INT, .def = "4194304",
     .flag = "server.grpc-max-send-msg-size-bytes", .flags = UNENF,
     .desc = "Largest gRPC message the server sends, in bytes."},
    {.path = "server.grpc_server_max_concurrent_streams", .type = NOA_CONFIG_INT, .def = "100",
     .flag = "server.grpc-max-concurrent-streams", .flags = UNENF,
     .desc = "Concurrent gRPC streams per connection."},
    IGNORED("server.grpc_server_max_connection_idle", "gRPC keep-alive setting."),
    IGNORED("server.grpc_server_max_connection_age", "gRPC keep-alive setting."),
    IGNORED("server.grpc_server_max_connection_age_grace", "gRPC keep-alive setting."),
    IGNORED("server.grpc_server_keepalive_time", "gRPC keep-alive setting."),
    IGNORED("server.grpc_server_keepalive_timeout", "gRPC keep-alive setting."),
    IGNORED("server.grpc_server_min_time_between_pings", "gRPC keep-alive setting."),
    IGNORED("server.grpc_server_ping_without_stream_allowed", "gRPC keep-alive setting."),
    BLOCK("server.http_tls_config", "server.TLSConfig",
          "TLS for the HTTP server: on when cert_file is set."),
    {.path = "server.http_tls_config.cert_file", .type = NOA_CONFIG_STRING, .def = "",
     .offset = OFF(server.http_tls_cert_file), .flag = "server.http-tls-cert-path",
     .desc = "HTTP server cert path (PEM, chain allowed). Setting it serves HTTPS."},
    {.path = "server.http_tls_config.key_file", .type = NOA_CONFIG_STRING, .def = "",
     .offset = OFF(server.http_tls_key_file), .flag = "server.http-tls-key-path",
     .desc = "HTTP server key path (PEM)."},
    {.path = "server.http_tls_config.client_auth_type", .type = NOA_CONFIG_STRING, .def = "",
     .offset = OFF(server.http_tls_client_auth_type), .flag = "server.http-tls-client-auth",
     .choices = tls_client_auths,
     .desc = "HTTP TLS Client Auth type: NoClientCert, RequestClientCert, RequireAnyClientCert, "
             "VerifyClientCertIfGiven or RequireAndVerifyClientCert (Go's names)."},
    {.path = "server.http_tls_config.client_ca_file", .type = NOA_CONFIG_STRING, .def = "",
     .offset = OFF(server.http_tls_client_ca_file), .flag = "server.http-tls-ca-path",
     .desc = "HTTP TLS Client CA path: verifies client certificates (needs a client_auth_type)."},
    {.path = "server.http_tls_config.cert", .type = NOA_CONFIG_STRING, .def = "", .flags = UNENF,
     .desc = "Inline server certificate (PEM); a value stops start-up: use cert_file."},
    {.path = "server.http_tls_config.key", .type = NOA_CONFIG_STRING, .def = "", .flags = UNENF,
     .desc = "Inline server key (PEM); a value stops start-up: use key_file."},
    {.path = "server.http_tls_config.client_ca", .type = NOA_CONFIG_STRING, .def = "",
     .flags = UNENF, .desc = "Inline client CA (PEM); a value stops start-up: use client_ca_file."},
    {.path = "server.tls_cipher_suites", .type = NOA_CONFIG_STRING, .def = "",
     .flag = "server.tls-cipher-suites", .flags = UNENF,
     .desc = "Comma-separated Go cipher suite names; noa uses OpenSSL's secure defaults."},
    {.path = "server.tls_min_version", .type = NOA_CONFIG_STRING, .def = "",
     .offset = OFF(server.tls_min_version), .flag = "server.tls-min-version",
     .choices = tls_versions,
     .desc = "Minimum TLS version: VersionTLS12 or VersionTLS13 (VersionTLS10 and "
             "VersionTLS11 are raised to 1.2). Empty: TLS 1.2."},
    IGNORED("server.grpc_tls_config", "TLS for the gRPC server."),
    {.path = "server.log_format", .type = NOA_CONFIG_STRING, .def = "logfmt",
     .offset = OFF(server.log_format), .flag = "log.format", .choices = log_formats,
     .flags = NOA_CONFIG_UNENFORCED, .desc = "Log format: logfmt or json (noa writes logfmt)."},
    {.path = "server.log_level", .type = NOA_CONFIG_STRING, .def = "info",
     .offset = OFF(server.log_level), .flag = "log.level", .choices = log_levels,
     .desc = "Only log messages at this level or above: debug, info, warn, error."},
    {.path = "server.log_source_ips_enabled", .type = NOA_CONFIG_BOOL, .def = "false",
     .flag = "server.log-source-ips-enabled", .flags = UNENF,
     .desc = "Log the source IPs of requests."},
    {.path = "server.log_request_headers", .type = NOA_CONFIG_BOOL, .def = "false",
     .flag = "server.log-request-headers", .flags = UNENF, .desc = "Log request headers."},
    {.path = "server.log_request_at_info_level_enabled", .type = NOA_CONFIG_BOOL,
     .def = "false", .flags = UNENF, .desc = "Log requests at info level."},
    {.path = "server.http_path_prefix", .type = NOA_CONFIG_STRING, .def = "",
     .offset = OFF(server.http_path_prefix), .flag = "server.path-prefix",
     .flags = NOA_CONFIG_UNENFORCED, .desc = "Base path under which every HTTP route is served."},

    /* ---- common ---- */
    BLOCK("common", "common.Config", "Settings shared by every component."),
    {.path = "common.path_prefix", .type = NOA_CONFIG_STRING, .def = "data",
     .offset = OFF(common.path_prefix), .flag = "common.path-prefix",
     .desc = "Directory under which noa keeps its data: wal/, chunks/, index/, rules/ and "
             "ruler-wal/ unless set one by one. noa's default is 'data' under the working "
             "directory (Loki has none)."},
    BLOCK("common.storage", "common.Storage", "Where chunks and rules are stored."),
    BLOCK("common.storage.filesystem", "local.FSConfig", "Local directories."),
    {.path = "common.storage.filesystem.chunks_directory", .type = NOA_CONFIG_STRING, .def = "",
     .offset = OFF(common.chunks_directory), .flag = "common.storage.filesystem.chunk-directory",
     .desc = "Directory to store chunks in; empty: <path_prefix>/chunks."},
    {.path = "common.storage.filesystem.rules_directory", .type = NOA_CONFIG_STRING, .def = "",
     .offset = OFF(common.rules_directory), .flag = "common.storage.filesystem.rules-directory",
     .desc = "Directory to store rules in; empty: <path_prefix>/rules."},
    IGNORED("common.storage.s3", "S3 object storage (not yet supported by noa)."),
    IGNORED("common.storage.gcs", "Google Cloud Storage."),
    IGNORED("common.storage.azure", "Azure object storage."),
    IGNORED("common.storage.alibabacloud", "Alibaba Cloud object storage."),
    IGNORED("common.storage.bos", "Baidu object storage."),
    IGNORED("common.storage.swift", "OpenStack Swift object storage."),
    IGNORED("common.storage.cos", "IBM Cloud object storage."),
    IGNORED("common.storage.hedging", "Object storage request hedging."),
    IGNORED("common.storage.congestion_control", "Object storage congestion control."),
    IGNORED("common.storage.object_store", "Thanos object store clients."),
    {.path = "common.persist_tokens", .type = NOA_CONFIG_BOOL, .def = "false", .flags = UNENF,
     .desc = "Persist ring tokens."},
    {.path = "common.replication_factor", .type = NOA_CONFIG_INT, .def = "1",
     .offset = OFF(common.replication_factor), .flags = NOA_CONFIG_UNENFORCED,
     .desc = "How many ingesters keep each stream; a single noa-server keeps one copy."},
    IGNORED("common.ring", "The hash ring and its key-value store (noa single-node needs none)."),
    {.path = "common.instance_interface_names", .type = NOA_CONFIG_STRINGS, .flags = UNENF,
     .desc = "Network interfaces to read the advertised address from."},
    {.path = "common.instance_addr", .type = NOA_CONFIG_STRING, .def = "",
     .offset = OFF(common.instance_addr), .flags = NOA_CONFIG_UNENFORCED,
     .desc = "Address to advertise in the ring."},
    {.path = "common.compactor_address", .type = NOA_CONFIG_STRING, .def = "", .flags = UNENF,
     .flag = "common.compactor-address", .desc = "HTTP address of the compactor."},
    {.path = "common.compactor_grpc_address", .type = NOA_CONFIG_STRING, .def = "",
     .flags = UNENF, .flag = "common.compactor-grpc-address",
     .desc = "gRPC address of the compactor."},
    {.path = "common.scratch_path", .type = NOA_CONFIG_STRING, .def = "", .flags = UNENF,
     .desc = "Path for temporary data."},

    /* ---- distributor ---- */
    BLOCK("distributor", "distributor.Config", "Configures the push path."),
    IGNORED("distributor.ring", "The distributors' ring."),
    {.path = "distributor.push_worker_count", .type = NOA_CONFIG_INT, .def = "256",
     .flag = "distributor.push-worker-count", .flags = UNENF,
     .desc = "Workers pushing batches to ingesters."},
    {.path = "distributor.max_recv_msg_size", .type = NOA_CONFIG_INT64, .def = "104857600",
     .offset = OFF(distributor.max_recv_msg_size), .flag = "distributor.max-recv-msg-size",
     .desc = "Largest push request body accepted, in bytes (413 beyond it)."},
    {.path = "distributor.max_decompressed_size", .type = NOA_CONFIG_INT64, .def = "5242880000",
     .offset = OFF(distributor.max_decompressed_size), .flag = "distributor.max-decompressed-size",
     .desc = "Largest push request body after decompression, in bytes."},
    IGNORED("distributor.rate_store", "Stream rate collection from ingesters."),
    IGNORED("distributor.write_failures_logging", "Rate of write-failure logging."),
    IGNORED("distributor.otlp_config", "OTLP ingestion defaults."),
    IGNORED("distributor.tenant_topic", "Kafka tenant topics."),
    IGNORED("distributor.default_policy_stream_mappings", "Policy stream mappings."),
    IGNORED("distributor.dataobj_tee", "Data object tee."),
    {.path = "distributor.kafka_writes_enabled", .type = NOA_CONFIG_BOOL, .def = "false",
     .flags = UNENF, .desc = "Write pushes to Kafka."},
    {.path = "distributor.ingester_writes_enabled", .type = NOA_CONFIG_BOOL, .def = "true",
     .flags = UNENF, .desc = "Write pushes to ingesters."},

    /* ---- ingester ---- */
    BLOCK("ingester", "ingester.Config", "Configures the ingester: stream heads, chunks, "
                                         "flushing and the write-ahead log."),
    IGNORED("ingester.lifecycler", "Ring membership of the ingester (noa single-node needs none)."),
    {.path = "ingester.concurrent_flushes", .type = NOA_CONFIG_INT, .def = "32",
     .offset = OFF(ingester.concurrent_flushes), .flag = "ingester.concurrent-flushes",
     .desc = "How many flushes can run at once."},
    {.path = "ingester.flush_check_period", .type = NOA_CONFIG_DURATION, .def = "30s",
     .offset = OFF(ingester.flush_check_period_ns), .flag = "ingester.flush-check-period",
     .desc = "How often to look for chunks to flush."},
    BLOCK("ingester.flush_op_backoff", "ingester.FlushOpBackoff", "Retries of failed flushes."),
    {.path = "ingester.flush_op_backoff.min_period", .type = NOA_CONFIG_DURATION, .def = "10s",
     .offset = OFF(ingester.flush_op_backoff_min_ns), .flag = "ingester.flush-op-backoff-min-period",
     .desc = "Minimum backoff after a failed flush."},
    {.path = "ingester.flush_op_backoff.max_period", .type = NOA_CONFIG_DURATION, .def = "1m",
     .offset = OFF(ingester.flush_op_backoff_max_ns), .flag = "ingester.flush-op-backoff-max-period",
     .desc = "Maximum backoff after a failed flush."},
    {.path = "ingester.flush_op_backoff.max_retries", .type = NOA_CONFIG_INT, .def = "10",
     .offset = OFF(ingester.flush_op_backoff_retries), .flag = "ingester.flush-op-backoff-retries",
     .desc = "Retries of a failed flush."},
    {.path = "ingester.flush_op_timeout", .type = NOA_CONFIG_DURATION, .def = "10m",
     .offset = OFF(ingester.flush_op_timeout_ns), .flag = "ingester.flush-op-timeout",
     .desc = "Timeout of one flush."},
    {.path = "ingester.chunk_retain_period", .type = NOA_CONFIG_DURATION, .def = "0s",
     .offset = OFF(ingester.chunk_retain_period_ns), .flag = "ingester.chunks-retain-period",
     .desc = "How long flushed chunks stay in memory."},
    {.path = "ingester.chunk_idle_period", .type = NOA_CONFIG_DURATION, .def = "30m",
     .offset = OFF(ingester.chunk_idle_period_ns), .flag = "ingester.chunks-idle-period",
     .desc = "Flush a chunk that received nothing for this long."},
    {.path = "ingester.chunk_block_size", .type = NOA_CONFIG_INT, .def = "262144",
     .offset = OFF(ingester.chunk_block_size), .flag = "ingester.chunks-block-size",
     .desc = "Target uncompressed size of a chunk block, in bytes."},
    {.path = "ingester.chunk_target_size", .type = NOA_CONFIG_INT, .def = "1572864",
     .offset = OFF(ingester.chunk_target_size), .flag = "ingester.chunk-target-size",
     .desc = "Target compressed size of a chunk, in bytes."},
    {.path = "ingester.chunk_encoding", .type = NOA_CONFIG_STRING, .def = "gzip",
     .offset = OFF(ingester.chunk_encoding), .flag = "ingester.chunk-encoding",
     .choices = encodings,
     .desc = "Compression of new chunks, by Loki's names (none, gzip, lz4-64k, snappy, "
             "lz4-256k, lz4-1M, lz4, flate, zstd). lz4, lz4-64k, lz4-256k and lz4-1M write "
             "lz4 blocks (faster to query, larger on disk); every other name writes zstd, "
             "noa's default. Chunks of either codec stay readable whatever this says."},
    {.path = "ingester.max_chunk_age", .type = NOA_CONFIG_DURATION, .def = "2h",
     .offset = OFF(ingester.max_chunk_age_ns), .flag = "ingester.max-chunk-age",
     .desc = "Longest time span of one chunk; also sets the out-of-order window (half of it)."},
    {.path = "ingester.autoforget_unhealthy", .type = NOA_CONFIG_BOOL, .def = "false",
     .flags = UNENF, .desc = "Forget unhealthy ingesters in the ring."},
    {.path = "ingester.sync_period", .type = NOA_CONFIG_DURATION, .def = "1h", .flags = UNENF,
     .desc = "Period to synchronise chunk cuts across ingesters."},
    {.path = "ingester.sync_min_utilization", .type = NOA_CONFIG_FLOAT, .def = "0.1",
     .flags = UNENF, .desc = "Minimum chunk utilisation for a synchronised cut."},
    {.path = "ingester.max_returned_stream_errors", .type = NOA_CONFIG_INT, .def = "10",
     .flags = UNENF, .desc = "Stream errors reported per failed push."},
    {.path = "ingester.query_store_max_look_back_period", .type = NOA_CONFIG_DURATION,
     .def = "0s", .flags = UNENF, .desc = "How far back an ingester queries the store."},
    BLOCK("ingester.wal", "ingester.WALConfig", "The write-ahead log: acknowledged pushes "
                                                "survive a crash."),
    {.path = "ingester.wal.enabled", .type = NOA_CONFIG_BOOL, .def = "true",
     .offset = OFF(ingester.wal.enabled), .flag = "ingester.wal-enabled",
     .desc = "Write every accepted push to the WAL before acknowledging it."},
    {.path = "ingester.wal.dir", .type = NOA_CONFIG_STRING, .def = "wal",
     .offset = OFF(ingester.wal.dir), .flag = "ingester.wal-dir",
     .desc = "WAL directory; the default 'wal' lives under common.path_prefix."},
    {.path = "ingester.wal.checkpoint_duration", .type = NOA_CONFIG_DURATION, .def = "5m",
     .offset = OFF(ingester.wal.checkpoint_duration_ns), .flag = "ingester.checkpoint-duration",
     .desc = "Interval between checkpoints."},
    {.path = "ingester.wal.flush_on_shutdown", .type = NOA_CONFIG_BOOL, .def = "false",
     .offset = OFF(ingester.wal.flush_on_shutdown), .flag = "ingester.flush-on-shutdown",
     .desc = "Flush every chunk to the store on shutdown."},
    {.path = "ingester.wal.replay_memory_ceiling", .type = NOA_CONFIG_BYTES, .def = "4GB",
     .offset = OFF(ingester.wal.replay_memory_ceiling), .flag = "ingester.wal-replay-memory-ceiling",
     .desc = "Memory the WAL replay may use before it flushes."},
    {.path = "ingester.wal.disk_full_threshold", .type = NOA_CONFIG_FLOAT, .def = "0.9",
     .offset = OFF(ingester.wal.disk_full_threshold), .flag = "ingester.wal-disk-full-threshold",
     .desc = "Fraction (0 to 1) of the WAL's filesystem in use at which pushes are refused "
             "with a retryable 503 until space is freed (checked every flush_check_period); "
             "0 disables."},
    {.path = "ingester.index_shards", .type = NOA_CONFIG_INT, .def = "32", .flags = UNENF,
     .desc = "Shards of the in-memory inverted index."},
    {.path = "ingester.max_dropped_streams", .type = NOA_CONFIG_INT, .def = "10", .flags = UNENF,
     .desc = "Dropped streams remembered while tailing."},
    {.path = "ingester.shutdown_marker_path", .type = NOA_CONFIG_STRING, .def = "",
     .flags = UNENF, .desc = "Where the shutdown marker file is kept."},
    {.path = "ingester.owned_streams_check_interval", .type = NOA_CONFIG_DURATION, .def = "30s",
     .flags = UNENF, .desc = "How often owned streams are recounted."},
    IGNORED("ingester.kafka_ingestion", "Kafka ingestion."),

    /* ---- ruler ---- */
    BLOCK("ruler", "ruler.Config", "Configures the ruler: alerting and recording rules."),
    {.path = "ruler.external_url", .type = NOA_CONFIG_STRING, .def = "",
     .offset = OFF(ruler.external_url), .flag = "ruler.external.url",
     .desc = "Base URL for links in alerts (the generator URL)."},
    RAW("ruler.external_labels", "Labels added to every alert."),
    {.path = "ruler.datasource_uid", .type = NOA_CONFIG_STRING, .def = "",
     .offset = OFF(ruler.datasource_uid), .flag = "ruler.datasource-uid",
     .desc = "Grafana data source UID used in alert generator URLs."},
    {.path = "ruler.evaluation_interval", .type = NOA_CONFIG_DURATION, .def = "1m",
     .offset = OFF(ruler.evaluation_interval_ns), .flag = "ruler.evaluation-interval",
     .desc = "Default evaluation interval of rule groups."},
    {.path = "ruler.poll_interval", .type = NOA_CONFIG_DURATION, .def = "1m",
     .offset = OFF(ruler.poll_interval_ns), .flag = "ruler.poll-interval",
     .desc = "How often rule files are re-read."},
    BLOCK("ruler.storage", "rulestore.Config", "Where rule files are read from."),
    {.path = "ruler.storage.type", .type = NOA_CONFIG_STRING, .def = "",
     .offset = OFF(ruler.storage_type), .flag = "ruler.storage.type",
     .desc = "Rule storage backend; noa reads 'local' directories."},
    BLOCK("ruler.storage.local", "local.Config", "Local rule directory."),
    {.path = "ruler.storage.local.directory", .type = NOA_CONFIG_STRING, .def = "",
     .offset = OFF(ruler.storage_local_directory), .flag = "ruler.storage.local.directory",
     .desc = "Directory of rule files (<dir>/<tenant>/*.yaml)."},
    IGNORED("ruler.storage.s3", "S3 rule storage."),
    IGNORED("ruler.storage.gcs", "GCS rule storage."),
    IGNORED("ruler.storage.azure", "Azure rule storage."),
    IGNORED("ruler.storage.swift", "Swift rule storage."),
    IGNORED("ruler.storage.bos", "BOS rule storage."),
    IGNORED("ruler.storage.cos", "COS rule storage."),
    IGNORED("ruler.storage.alibabacloud", "Alibaba Cloud rule storage."),
    IGNORED("ruler.storage.hedging", "Rule storage request hedging."),
    {.path = "ruler.rule_path", .type = NOA_CONFIG_STRING, .def = "/rules",
     .offset = OFF(ruler.rule_path), .flag = "ruler.rule-path", .flags = NOA_CONFIG_UNENFORCED,
     .desc = "Scratch directory for rule files in Loki; noa reads rules in place."},
    {.path = "ruler.alertmanager_url", .type = NOA_CONFIG_STRING, .def = "",
     .offset = OFF(ruler.alertmanager_url), .flag = "ruler.alertmanager-url",
     .desc = "Comma-separated Alertmanager URLs to send alerts to; empty sends none."},
    {.path = "ruler.enable_alertmanager_discovery", .type = NOA_CONFIG_BOOL, .def = "false",
     .flag = "ruler.alertmanager-discovery", .flags = UNENF,
     .desc = "Discover Alertmanagers through DNS SRV records."},
    {.path = "ruler.alertmanager_refresh_interval", .type = NOA_CONFIG_DURATION, .def = "1m",
     .flag = "ruler.alertmanager-refresh-interval", .flags = UNENF,
     .desc = "How often Alertmanager DNS names are resolved."},
    {.path = "ruler.enable_alertmanager_v2", .type = NOA_CONFIG_BOOL, .def = "true",
     .flag = "ruler.alertmanager-use-v2", .flags = UNENF,
     .desc = "Use Alertmanager's v2 API (noa speaks only v2)."},
    RAW("ruler.alert_relabel_configs", "Relabelling applied to alerts before sending."),
    {.path = "ruler.notification_queue_capacity", .type = NOA_CONFIG_INT, .def = "10000",
     .offset = OFF(ruler.notification_queue_capacity), .flag = "ruler.notification-queue-capacity",
     .desc = "Alerts queued for Alertmanager."},
    {.path = "ruler.notification_timeout", .type = NOA_CONFIG_DURATION, .def = "10s",
     .offset = OFF(ruler.notification_timeout_ns), .flag = "ruler.notification-timeout",
     .desc = "HTTP timeout when sending alerts."},
    IGNORED("ruler.alertmanager_client", "TLS and auth for the Alertmanager client."),
    {.path = "ruler.for_outage_tolerance", .type = NOA_CONFIG_DURATION, .def = "1h",
     .offset = OFF(ruler.for_outage_tolerance_ns), .flag = "ruler.for-outage-tolerance",
     .desc = "Longest outage over which the 'for' state of alerts is restored."},
    {.path = "ruler.for_grace_period", .type = NOA_CONFIG_DURATION, .def = "10m",
     .offset = OFF(ruler.for_grace_period_ns), .flag = "ruler.for-grace-period",
     .desc = "Minimum 'for' duration between a restart and an alert firing."},
    {.path = "ruler.resend_delay", .type = NOA_CONFIG_DURATION, .def = "1m",
     .offset = OFF(ruler.resend_delay_ns), .flag = "ruler.resend-delay",
     .desc = "Minimum delay before an alert is sent again."},
    {.path = "ruler.enable_sharding", .type = NOA_CONFIG_BOOL, .def = "false",
     .flag = "ruler.enable-sharding", .flags = UNENF, .desc = "Shard rule groups across rulers."},
    {.path = "ruler.sharding_strategy", .type = NOA_CONFIG_STRING, .def = "default",
     .flags = UNENF, .desc = "Ruler sharding strategy."},
    {.path = "ruler.sharding_algo", .type = NOA_CONFIG_STRING, .def = "by-group", .flags = UNENF,
     .desc = "Ruler sharding algorithm."},
    {.path = "ruler.search_pending_for", .type = NOA_CONFIG_DURATION, .def = "5m",
     .flags = UNENF, .desc = "Time to look for a pending ruler."},
    IGNORED("ruler.ring", "The rulers' ring."),
    {.path = "ruler.flush_period", .type = NOA_CONFIG_DURATION, .def = "1m", .flags = UNENF,
     .desc = "Period of rule state flushes."},
    {.path = "ruler.enable_api", .type = NOA_CONFIG_BOOL, .def = "true",
     .offset = OFF(ruler.enable_api), .flag = "ruler.enable-api",
     .desc = "Serve the rules API (/loki/api/v1/rules, /prometheus/api/v1/rules, ...)."},
    {.path = "ruler.enabled_tenants", .type = NOA_CONFIG_STRINGS, .flags = UNENF,
     .desc = "Tenants whose rules are evaluated (empty: all)."},
    {.path = "ruler.disabled_tenants", .type = NOA_CONFIG_STRINGS, .flags = UNENF,
     .desc = "Tenants whose rules are not evaluated."},
    {.path = "ruler.query_stats_enabled", .type = NOA_CONFIG_BOOL, .def = "false",
     .flags = UNENF, .desc = "Report query statistics of rule evaluations."},
    {.path = "ruler.disable_rule_group_label", .type = NOA_CONFIG_BOOL, .def = "false",
     .flags = UNENF, .desc = "Leave out the rule_group label on ruler metrics."},
    BLOCK("ruler.wal", "ruler.WALConfig", "The recording rules' write-ahead log."),
    {.path = "ruler.wal.dir", .type = NOA_CONFIG_STRING, .def = "ruler-wal",
     .offset = OFF(ruler.wal_dir), .flag = "ruler.wal.dir",
     .desc = "Ruler WAL directory; the default lives under common.path_prefix."},
    {.path = "ruler.wal.truncate_frequency", .type = NOA_CONFIG_DURATION, .def = "1h",
     .offset = OFF(ruler.wal_truncate_frequency_ns), .flag = "ruler.wal.truncate-frequency",
     .desc = "How often the ruler WAL is truncated."},
    {.path = "ruler.wal.min_age", .type = NOA_CONFIG_DURATION, .def = "5m", .flags = UNENF,
     .desc = "Minimum age of samples kept in the ruler WAL."},
    {.path = "ruler.wal.max_age", .type = NOA_CONFIG_DURATION, .def = "4h", .flags = UNENF,
     .desc = "Maximum age of samples kept in the ruler WAL."},
    IGNORED("ruler.wal_cleaner", "Cleaner of abandoned ruler WALs."),
    BLOCK("ruler.remote_write", "ruler.RemoteWriteConfig",
          "Where recording rule results are remote-written (Prometheus remote write)."),
    {.path = "ruler.remote_write.enabled", .type = NOA_CONFIG_BOOL, .def = "false",
     .offset = OFF(ruler.remote_write_enabled), .flag = "ruler.remote-write.enabled",
     .desc = "Remote-write recording rule results."},
    RAW("ruler.remote_write.client", "One remote-write client (deprecated in Loki for 'clients')."),
    RAW("ruler.remote_write.clients", "Remote-write clients by name (url, headers, ...)."),
    {.path = "ruler.remote_write.config_refresh_period", .type = NOA_CONFIG_DURATION,
     .def = "10s", .offset = OFF(ruler.remote_write_config_refresh_period_ns),
     .flag = "ruler.remote-write.config-refresh-period",
     .desc = "How often per-tenant remote-write settings are re-read."},
    {.path = "ruler.remote_write.add_org_id_header", .type = NOA_CONFIG_BOOL, .def = "true",
     .offset = OFF(ruler.remote_write_add_org_id_header),
     .flag = "ruler.remote-write.add-org-id-header",
     .desc = "Send X-Scope-OrgID with remote-write requests."},
    BLOCK("ruler.evaluation", "ruler.EvaluationConfig", "How rules are evaluated."),
    {.path = "ruler.evaluation.mode", .type = NOA_CONFIG_STRING, .def = "local",
     .offset = OFF(ruler.evaluation_mode), .flag = "ruler.evaluation.mode", .choices = eval_modes,
     .desc = "local evaluates in-process; remote (a query frontend) is accepted, not used."},
    {.path = "ruler.evaluation.max_jitter", .type = NOA_CONFIG_DURATION, .def = "0s",
     .offset = OFF(ruler.evaluation_max_jitter_ns), .flag = "ruler.evaluation.max-jitter",
     .desc = "Random delay before each evaluation, up to this long."},
    IGNORED("ruler.evaluation.query_frontend", "Remote evaluation client."),
    IGNORED("ruler.ruler_client", "gRPC client between rulers."),

    /* ---- ruler_storage (Loki 3.x's newer home for rule storage) ---- */
    BLOCK("ruler_storage", "rulestore.BucketConfig", "Where rule files are read from (the newer "
                                                     "form of ruler.storage)."),
    {.path = "ruler_storage.backend", .type = NOA_CONFIG_STRING, .def = "filesystem",
     .offset = OFF(ruler_storage.backend), .flag = "ruler-storage.backend",
     .desc = "Rule storage backend; noa reads local directories."},
    BLOCK("ruler_storage.local", "local.Config", "Local rule directory."),
    {.path = "ruler_storage.local.directory", .type = NOA_CONFIG_STRING, .def = "",
     .offset = OFF(ruler_storage.local_directory), .flag = "ruler-storage.local.directory",
     .desc = "Directory of rule files (<dir>/<tenant>/*.yaml)."},
    IGNORED("ruler_storage.filesystem", "Filesystem bucket."),
    IGNORED("ruler_storage.s3", "S3 rule storage."),
    IGNORED("ruler_storage.gcs", "GCS rule storage."),
    IGNORED("ruler_storage.azure", "Azure rule storage."),
    IGNORED("ruler_storage.swift", "Swift rule storage."),

    /* ---- limits_config ---- */
    BLOCK("limits_config", "validation.Limits",
          "Limits applied to every tenant (per-tenant overrides are not supported yet)."),
    {.path = "limits_config.ingestion_rate_strategy", .type = NOA_CONFIG_STRING, .def = "global",
     .flag = "distributor.ingestion-rate-limit-strategy", .choices = rate_strategies,
     .flags = UNENF, .desc = "local or global rate limiting (one noa-server: the same)."},
    {.path = "limits_config.ingestion_rate_mb", .type = NOA_CONFIG_FLOAT, .def = "4",
     .offset = OFF(ingestion_rate_mb), .flag = "distributor.ingestion-rate-limit-mb",
     .desc = "Per-tenant ingestion rate in MiB per second (lines plus structured metadata)."},
    {.path = "limits_config.ingestion_burst_size_mb", .type = NOA_CONFIG_FLOAT, .def = "6",
     .offset = OFF(ingestion_burst_size_mb), .flag = "distributor.ingestion-burst-size-mb",
     .desc = "Per-tenant ingestion burst in MiB."},
    {.path = "limits_config.max_label_name_length", .type = NOA_CONFIG_INT, .def = "1024",
     .offset = OFF(limits.max_label_name_length), .flag = "validation.max-length-label-name",
     .desc = "Longest label name accepted."},
    {.path = "limits_config.max_label_value_length", .type = NOA_CONFIG_INT, .def = "2048",
     .offset = OFF(limits.max_label_value_length), .flag = "validation.max-length-label-value",
     .desc = "Longest label value accepted."},
    {.path = "limits_config.max_label_names_per_series", .type = NOA_CONFIG_INT, .def = "15",
     .offset = OFF(limits.max_label_names_per_series),
     .flag = "validation.max-label-names-per-series", .desc = "Most labels per stream."},
    {.path = "limits_config.reject_old_samples", .type = NOA_CONFIG_BOOL, .def = "true",
     .offset = OFF(limits.reject_old_samples), .flag = "validation.reject-old-samples",
     .desc = "Reject entries older than reject_old_samples_max_age."},
    {.path = "limits_config.reject_old_samples_max_age", .type = NOA_CONFIG_MDURATION,
     .def = "1w", .offset = OFF(limits.reject_old_samples_max_age_ns),
     .flag = "validation.reject-old-samples.max-age", .desc = "Oldest entry accepted."},
    {.path = "limits_config.creation_grace_period", .type = NOA_CONFIG_MDURATION, .def = "10m",
     .offset = OFF(limits.creation_grace_period_ns), .flag = "validation.create-grace-period",
     .desc = "How far in the future an entry may be."},
    {.path = "limits_config.max_line_size", .type = NOA_CONFIG_BYTES, .def = "256KB",
     .offset = OFF(limits.max_line_size), .flag = "distributor.max-line-size",
     .desc = "Longest line accepted; 0 for no limit."},
    {.path = "limits_config.max_line_size_truncate", .type = NOA_CONFIG_BOOL, .def = "false",
     .offset = OFF(limits.max_line_size_truncate), .flag = "distributor.max-line-size-truncate",
     .desc = "Truncate longer lines instead of rejecting them."},
    {.path = "limits_config.max_line_size_truncate_identifier", .type = NOA_CONFIG_STRING,
     .def = "", .flag = "distributor.max-line-size-truncate-identifier", .flags = UNENF,
     .desc = "Suffix added to truncated lines."},
    {.path = "limits_config.increment_duplicate_timestamp", .type = NOA_CONFIG_BOOL,
     .def = "false", .offset = OFF(limits.increment_duplicate_timestamp),
     .flag = "validation.increment-duplicate-timestamps",
     .desc = "Add 1ns to an entry whose timestamp equals the previous one of its stream."},
    {.path = "limits_config.simulated_push_latency", .type = NOA_CONFIG_DURATION, .def = "0s",
     .flags = UNENF, .desc = "Artificial push latency, for tests."},
    {.path = "limits_config.enable_multi_variant_queries", .type = NOA_CONFIG_BOOL,
     .def = "false", .flags = UNENF, .desc = "Multi-variant queries."},
    IGNORED("limits_config.discover_generic_fields", "Generic field discovery."),
    {.path = "limits_config.discover_service_name", .type = NOA_CONFIG_STRINGS,
     .def = "service,app,application,app_name,name,app_kubernetes_io_name,container,"
            "container_name,k8s_container_name,component,workload,job,k8s_job_name",
     .offset = OFF(discover_service_name), .flag = "validation.discover-service-name",
     .desc = "Labels tried in order to set service_name when a stream has none; empty "
             "disables it."},
    {.path = "limits_config.discover_log_levels", .type = NOA_CONFIG_BOOL, .def = "true",
     .offset = OFF(limits.discover_log_levels), .flag = "validation.discover-log-levels",
     .desc = "Detect the level of each line into the detected_level structured metadata."},
    {.path = "limits_config.log_level_fields", .type = NOA_CONFIG_STRINGS,
     .def = "level,LEVEL,Level,log.level,severity,SEVERITY,Severity,SeverityText,lvl,LVL,Lvl,"
            "severity_text,Severity_Text,SEVERITY_TEXT",
     .offset = OFF(log_level_fields), .flag = "validation.log-level-fields",
     .desc = "Fields that carry the level."},
    {.path = "limits_config.log_level_from_json_max_depth", .type = NOA_CONFIG_INT, .def = "2",
     .flags = UNENF, .desc = "Depth searched for level fields in JSON lines."},
    {.path = "limits_config.use_owned_stream_count", .type = NOA_CONFIG_BOOL, .def = "false",
     .flags = UNENF, .desc = "Count only owned streams against the stream limit."},
    {.path = "limits_config.max_streams_per_user", .type = NOA_CONFIG_INT, .def = "0",
     .offset = OFF(limits.max_streams_per_user), .flag = "ingester.max-streams-per-user",
     .desc = "Active streams per tenant in one ingester; 0 for no limit."},
    {.path = "limits_config.max_global_streams_per_user", .type = NOA_CONFIG_INT, .def = "5000",
     .offset = OFF(limits.max_global_streams_per_user),
     .flag = "ingester.max-global-streams-per-user",
     .desc = "Active streams per tenant across the cluster; 0 for no limit."},
    {.path = "limits_config.unordered_writes", .type = NOA_CONFIG_BOOL, .def = "true",
     .offset = OFF(limits.unordered_writes), .flag = "ingester.unordered-writes",
     .desc = "Accept out-of-order entries within the window (max_chunk_age / 2)."},
    {.path = "limits_config.per_stream_rate_limit", .type = NOA_CONFIG_BYTES, .def = "3MB",
     .offset = OFF(per_stream_rate_limit), .flag = "ingester.per-stream-rate-limit",
     .desc = "Bytes per second per stream."},
    {.path = "limits_config.per_stream_rate_limit_burst", .type = NOA_CONFIG_BYTES,
     .def = "15MB", .offset = OFF(per_stream_rate_limit_burst),
     .flag = "ingester.per-stream-rate-limit-burst", .desc = "Burst bytes per stream."},
    {.path = "limits_config.max_chunks_per_query", .type = NOA_CONFIG_INT, .def = "2000000",
     .offset = OFF(limits.max_chunks_per_query), .flag = "store.query-chunk-limit",
     .desc = "Most chunks one query may fetch."},
    {.path = "limits_config.max_query_series", .type = NOA_CONFIG_INT, .def = "500",
     .offset = OFF(limits.max_query_series), .flag = "querier.max-query-series",
     .desc = "Most series a metric query may return (as in Loki, log queries and /series are not "
             "bound by it)."},
    {.path = "limits_config.max_query_lookback", .type = NOA_CONFIG_MDURATION, .def = "0s",
     .offset = OFF(limits.max_query_lookback_ns), .flag = "querier.max-query-lookback",
     .desc = "How far back queries may reach: an older start moves up to now minus this; a "
             "query_range wholly older is empty, labels/series refuse it (400); 0 for no limit."},
    {.path = "limits_config.max_query_length", .type = NOA_CONFIG_MDURATION, .def = "721h",
     .offset = OFF(limits.max_query_length_ns), .flag = "store.max-query-length",
     .desc = "Longest time range of a query_range, labels, label values, series or index/stats "
             "request (400 past it); 0 for no limit."},
    {.path = "limits_config.max_query_range", .type = NOA_CONFIG_MDURATION, .def = "0s",
     .offset = OFF(limits.max_query_range_ns), .flag = "querier.max-query-range",
     .desc = "Longest [range] in a range query; 0 for no limit."},
    {.path = "limits_config.max_query_parallelism", .type = NOA_CONFIG_INT, .def = "32",
     .offset = OFF(limits.max_query_parallelism), .flag = "querier.max-query-parallelism",
     .desc = "Sub-queries of one query run in parallel."},
    {.path = "limits_config.tsdb_max_query_parallelism", .type = NOA_CONFIG_INT, .def = "128",
     .flags = UNENF, .desc = "Parallelism for TSDB schemas."},
    {.path = "limits_config.tsdb_max_bytes_per_shard", .type = NOA_CONFIG_BYTES, .def = "600MB",
     .flags = UNENF, .desc = "Target bytes per query shard."},
    {.path = "limits_config.tsdb_sharding_strategy", .type = NOA_CONFIG_STRING,
     .def = "power_of_two", .flags = UNENF, .desc = "Query sharding strategy."},
    {.path = "limits_config.tsdb_precompute_chunks", .type = NOA_CONFIG_BOOL, .def = "false",
     .flags = UNENF, .desc = "Precompute chunks during planning."},
    {.path = "limits_config.cardinality_limit", .type = NOA_CONFIG_INT, .def = "100000",
     .flags = UNENF, .desc = "Cardinality limit of index queries."},
    {.path = "limits_config.max_streams_matchers_per_query", .type = NOA_CONFIG_INT,
     .def = "1000", .offset = OFF(limits.max_streams_matchers_per_query),
     .flag = "querier.max-streams-matcher-per-query", .desc = "Most stream matchers per query."},
    {.path = "limits_config.max_concurrent_tail_requests", .type = NOA_CONFIG_INT, .def = "10",
     .offset = OFF(limits.max_concurrent_tail_requests),
     .flag = "querier.max-concurrent-tail-requests",
     .desc = "Live tails open at once per tenant."},
    {.path = "limits_config.max_entries_limit_per_query", .type = NOA_CONFIG_INT, .def = "5000",
     .offset = OFF(limits.max_entries_limit_per_query), .flag = "validation.max-entries-limit",
     .desc = "Largest limit a log query may ask for (400 past it); 0 for no limit."},
    {.path = "limits_config.max_cache_freshness_per_query", .type = NOA_CONFIG_MDURATION,
     .def = "10m", .flags = UNENF, .desc = "Results newer than this are not cached."},
    {.path = "limits_config.max_metadata_cache_freshness", .type = NOA_CONFIG_MDURATION,
     .def = "1d", .flags = UNENF, .desc = "Metadata results newer than this are not cached."},
    {.path = "limits_config.max_stats_cache_freshness", .type = NOA_CONFIG_MDURATION,
     .def = "10m", .flags = UNENF, .desc = "Stats results newer than this are not cached."},
    {.path = "limits_config.max_queriers_per_tenant", .type = NOA_CONFIG_INT, .def = "0",
     .flags = UNENF, .desc = "Queriers one tenant may use."},
    {.path = "limits_config.max_query_capacity", .type = NOA_CONFIG_FLOAT, .def = "0",
     .flags = UNENF, .desc = "Share of queriers one tenant may use."},
    {.path = "limits_config.query_ready_index_num_days", .type = NOA_CONFIG_INT, .def = "0",
     .flags = UNENF, .desc = "Days of index kept downloaded."},
    {.path = "limits_config.query_timeout", .type = NOA_CONFIG_MDURATION, .def = "1m",
     .offset = OFF(limits.query_timeout_ns), .flag = "querier.query-timeout",
     .desc = "Longest a query may run, from the request's arrival (504 past it); 0 for no limit."},
    {.path = "limits_config.split_queries_by_interval", .type = NOA_CONFIG_MDURATION,
     .def = "1h", .offset = OFF(limits.split_queries_by_interval_ns),
     .flag = "querier.split-queries-by-interval", .flags = NOA_CONFIG_UNENFORCED,
     .desc = "Split queries into intervals this long; noa reads every matching stream in one pass "
             "on both cores instead."},
    {.path = "limits_config.split_metadata_queries_by_interval", .type = NOA_CONFIG_MDURATION,
     .def = "1d", .flags = UNENF, .desc = "Split interval of metadata queries."},
    {.path = "limits_config.split_recent_metadata_queries_by_interval",
     .type = NOA_CONFIG_MDURATION, .def = "1h", .flags = UNENF,
     .desc = "Split interval of recent metadata queries."},
    {.path = "limits_config.recent_metadata_query_window", .type = NOA_CONFIG_MDURATION,
     .def = "0s", .flags = UNENF, .desc = "Window of recent metadata queries."},
    {.path = "limits_config.split_instant_metric_queries_by_interval",
     .type = NOA_CONFIG_MDURATION, .def = "1h", .flags = UNENF,
     .desc = "Split interval of instant metric queries."},
    {.path = "limits_config.split_ingester_queries_by_interval", .type = NOA_CONFIG_MDURATION,
     .def = "0s", .flags = UNENF, .desc = "Split interval of ingester queries."},
    {.path = "limits_config.min_sharding_lookback", .type = NOA_CONFIG_MDURATION, .def = "0s",
     .flags = UNENF, .desc = "Queries newer than this are not sharded."},
    {.path = "limits_config.max_query_bytes_read", .type = NOA_CONFIG_BYTES, .def = "0B",
     .offset = OFF(limits.max_query_bytes_read), .flag = "frontend.max-query-bytes-read",
     .desc = "Most bytes one query may read; 0 for no limit."},
    {.path = "limits_config.max_querier_bytes_read", .type = NOA_CONFIG_BYTES, .def = "150GB",
     .flags = UNENF, .desc = "Most bytes one sub-query may read."},
    {.path = "limits_config.volume_enabled", .type = NOA_CONFIG_BOOL, .def = "true",
     .offset = OFF(limits.volume_enabled), .flag = "limits.volume-enabled",
     .desc = "Serve the volume endpoints."},
    {.path = "limits_config.volume_max_series", .type = NOA_CONFIG_INT, .def = "1000",
     .offset = OFF(limits.volume_max_series), .flag = "limits.volume-max-series",
     .desc = "Most series in a volume response."},
    {.path = "limits_config.ruler_max_rules_per_rule_group", .type = NOA_CONFIG_INT, .def = "0",
     .offset = OFF(limits.ruler_max_rules_per_rule_group), .flag = "ruler.max-rules-per-rule-group",
     .desc = "Most rules per rule group; 0 for no limit."},
    {.path = "limits_config.ruler_max_rule_groups_per_tenant", .type = NOA_CONFIG_INT,
     .def = "0", .offset = OFF(limits.ruler_max_rule_groups_per_tenant),
     .flag = "ruler.max-rule-groups-per-tenant",
     .desc = "Most rule groups per tenant; 0 for no limit."},
    {.path = "limits_config.ruler_tenant_shard_size", .type = NOA_CONFIG_INT, .def = "0",
     .flags = UNENF, .desc = "Rulers per tenant when sharding."},
    {.path = "limits_config.ruler_enable_wal_replay", .type = NOA_CONFIG_BOOL, .def = "true",
     .flags = UNENF, .desc = "Replay the ruler WAL at start-up."},
    {.path = "limits_config.ruler_remote_write_disabled", .type = NOA_CONFIG_BOOL,
     .def = "false", .flags = UNENF, .desc = "Disable remote write for the tenant."},
    RAW("limits_config.ruler_remote_write_config", "Per-tenant remote-write clients."),
    IGNORED("limits_config.ruler_remote_write_url", "Deprecated remote-write URL."),
    IGNORED("limits_config.ruler_remote_write_timeout", "Deprecated remote-write setting."),
    IGNORED("limits_config.ruler_remote_write_headers", "Deprecated remote-write setting."),
    IGNORED("limits_config.ruler_remote_write_relabel_configs", "Deprecated remote-write setting."),
    IGNORED("limits_config.ruler_remote_write_sigv4_config", "Deprecated remote-write setting."),
    {.path = "limits_config.ruler_remote_evaluation_timeout", .type = NOA_CONFIG_DURATION,
     .def = "0s", .flags = UNENF, .desc = "Timeout of remote rule evaluations."},
    {.path = "limits_config.ruler_remote_evaluation_max_response_size", .type = NOA_CONFIG_INT64,
     .def = "0", .flags = UNENF, .desc = "Largest remote evaluation response."},
    {.path = "limits_config.deletion_mode", .type = NOA_CONFIG_STRING,
     .def = "filter-and-delete", .flag = "compactor.deletion-mode", .flags = UNENF,
     .desc = "Log deletion mode."},
    {.path = "limits_config.retention_period", .type = NOA_CONFIG_MDURATION, .def = "0s",
     .offset = OFF(limits.retention_period_ns), .flag = "store.retention",
     .desc = "Delete data older than this (chunks whose newest entry is older) when "
             "compactor.retention_enabled is true; 0 keeps everything."},
    RAW("limits_config.retention_stream",
        "Per-stream retention when compactor.retention_enabled is true: a list of {selector, "
        "priority, period (>= 24h)}. Of the rules whose selector matches a stream, the highest "
        "priority wins, then the shortest period; streams no rule matches use "
        "retention_period."),
    {.path = "limits_config.per_tenant_override_config", .type = NOA_CONFIG_STRING, .def = "",
     .flag = "limits.per-user-override-config", .flags = UNENF,
     .desc = "Runtime overrides file (per-tenant limits are not supported yet)."},
    {.path = "limits_config.per_tenant_override_period", .type = NOA_CONFIG_MDURATION,
     .def = "10s", .flag = "limits.per-user-override-period", .flags = UNENF,
     .desc = "How often the overrides file is re-read."},
    {.path = "limits_config.allow_deletes", .type = NOA_CONFIG_BOOL, .def = "false",
     .flags = UNENF, .desc = "Deprecated switch for log deletion."},
    BLOCK("limits_config.shard_streams", "shardstreams.Config", "Automatic stream sharding."),
    {.path = "limits_config.shard_streams.enabled", .type = NOA_CONFIG_BOOL, .def = "true",
     .flag = "shard-streams.enabled", .flags = UNENF, .desc = "Shard streams over the rate."},
    {.path = "limits_config.shard_streams.time_sharding_enabled", .type = NOA_CONFIG_BOOL,
     .def = "false", .flags = UNENF, .desc = "Shard streams by time."},
    {.path = "limits_config.shard_streams.time_sharding_ignore_recent",
     .type = NOA_CONFIG_DURATION, .def = "40m", .flags = UNENF,
     .desc = "Entries newer than this are not time-sharded."},
    {.path = "limits_config.shard_streams.logging_enabled", .type = NOA_CONFIG_BOOL,
     .def = "false", .flags = UNENF, .desc = "Log stream sharding."},
    {.path = "limits_config.shard_streams.desired_rate", .type = NOA_CONFIG_BYTES,
     .def = "1536KB", .flags = UNENF, .desc = "Rate above which a stream is split."},
    RAW("limits_config.blocked_queries", "Queries refused for the tenant."),
    {.path = "limits_config.required_labels", .type = NOA_CONFIG_STRINGS, .flags = UNENF,
     .desc = "Labels every query selector must use."},
    {.path = "limits_config.minimum_labels_number", .type = NOA_CONFIG_INT, .def = "0",
     .flags = UNENF, .desc = "Fewest label matchers a query must have."},
    {.path = "limits_config.index_gateway_shard_size", .type = NOA_CONFIG_INT, .def = "0",
     .flags = UNENF, .desc = "Index gateways per tenant."},
    {.path = "limits_config.index_gateway_max_capacity", .type = NOA_CONFIG_FLOAT, .def = "1",
     .flags = UNENF, .desc = "Share of index gateways per tenant."},
    IGNORED("limits_config.bloom_gateway_enable_filtering", "Bloom filters."),
    IGNORED("limits_config.bloom_creation_enabled", "Bloom filters."),
    IGNORED("limits_config.bloom_build_max_builders", "Bloom filters."),
    IGNORED("limits_config.bloom_planning_strategy", "Bloom filters."),
    IGNORED("limits_config.bloom_split_series_keyspace_by", "Bloom filters."),
    IGNORED("limits_config.bloom_block_encoding", "Bloom filters."),
    IGNORED("limits_config.bloom_max_block_size", "Bloom filters."),
    IGNORED("limits_config.bloom_max_bloom_size", "Bloom filters."),
    {.path = "limits_config.allow_structured_metadata", .type = NOA_CONFIG_BOOL, .def = "true",
     .offset = OFF(limits.allow_structured_metadata),
     .flag = "validation.allow-structured-metadata",
     .desc = "Accept structured metadata in pushes."},
    {.path = "limits_config.max_structured_metadata_size", .type = NOA_CONFIG_BYTES,
     .def = "64KB", .offset = OFF(limits.max_structured_metadata_size),
     .flag = "limits.max-structured-metadata-size",
     .desc = "Most structured metadata bytes per line."},
    {.path = "limits_config.max_structured_metadata_entries_count", .type = NOA_CONFIG_INT,
     .def = "128", .offset = OFF(limits.max_structured_metadata_entries_count),
     .flag = "limits.max-structured-metadata-entries-count",
     .desc = "Most structured metadata entries per line."},
    IGNORED("limits_config.otlp_config", "OTLP attribute mapping (OTLP ingestion is not "
                                         "supported yet)."),
    IGNORED("limits_config.block_ingestion_policy_until", "Per-policy ingestion blocks."),
    {.path = "limits_config.block_ingestion_until", .type = NOA_CONFIG_STRING, .def = "",
     .flags = UNENF, .desc = "Refuse ingestion until this RFC 3339 time."},
    {.path = "limits_config.block_ingestion_status_code", .type = NOA_CONFIG_INT, .def = "260",
     .flags = UNENF, .desc = "Status returned while ingestion is blocked."},
    {.path = "limits_config.enforced_labels", .type = NOA_CONFIG_STRINGS, .flags = UNENF,
     .desc = "Labels every stream must have."},
    IGNORED("limits_config.policy_enforced_labels", "Per-policy enforced labels."),
    IGNORED("limits_config.policy_stream_mapping", "Stream policies."),
    {.path = "limits_config.ingestion_partitions_tenant_shard_size", .type = NOA_CONFIG_INT,
     .def = "0", .flags = UNENF, .desc = "Kafka partitions per tenant."},
    {.path = "limits_config.shard_aggregations", .type = NOA_CONFIG_STRINGS, .flags = UNENF,
     .desc = "Aggregations that are sharded."},
    {.path = "limits_config.metric_aggregation_enabled", .type = NOA_CONFIG_BOOL,
     .def = "false", .flags = UNENF, .desc = "Aggregate metrics from pushes (pattern ingester)."},
    {.path = "limits_config.pattern_persistence_enabled", .type = NOA_CONFIG_BOOL,
     .def = "false", .flags = UNENF, .desc = "Persist detected patterns."},
    IGNORED("limits_config.pattern_ingester_tokenizable_json_fields_default", "Patterns."),
    IGNORED("limits_config.pattern_ingester_tokenizable_json_fields_append", "Patterns."),
    IGNORED("limits_config.pattern_ingester_tokenizable_json_fields_delete", "Patterns."),

    /* ---- blocks noa accepts and ignores, one warning each ---- */
    IGNORED("ui", "Loki's experimental UI."),
    IGNORED("querier", "Querier tuning (noa's querier has its own limits in limits_config)."),
    IGNORED("query_engine", "Loki's next-generation query engine."),
    IGNORED("query_scheduler", "Query scheduler."),
    IGNORED("frontend", "Query frontend."),
    IGNORED("query_range", "Query splitting and results cache of the frontend."),
    IGNORED("ingester_client", "gRPC client to ingesters."),
    IGNORED("pattern_ingester", "Pattern ingester."),
    IGNORED("index_gateway", "Index gateway."),
    IGNORED("bloom_build", "Bloom building."),
    IGNORED("bloom_gateway", "Bloom gateway."),
    IGNORED("bloom_compactor", "Bloom compactor (older Loki)."),
    IGNORED("storage_config", "Index and object stores: noa keeps its own index (RocksDB) and "
                              "chunk directory under common.path_prefix."),
    IGNORED("chunk_store_config", "Chunk caches."),
    IGNORED("schema_config", "Index schema periods: noa has one schema."),
    /* Retention is real (ingester/retention.c); noa has no index files to
     * compact, so the rest of the block is accepted and not acted on. */
    BLOCK("compactor", "compactor.Config",
          "Configures retention. noa keeps one embedded index, so there is nothing to compact: "
          "with retention_enabled, a sweep every compaction_interval removes chunks older than "
          "limits_config.retention_period from the index and deletes their files "
          "retention_delete_delay later."),
    {.path = "compactor.working_directory", .type = NOA_CONFIG_STRING, .def = "compactor",
     .offset = OFF(compactor.working_directory), .flag = "compactor.working-directory",
     .desc = "Directory for the compactor's state: retention keeps its pending deletions "
             "(marker files) in <dir>/retention. The default lives under common.path_prefix."},
    {.path = "compactor.compaction_interval", .type = NOA_CONFIG_DURATION, .def = "10m",
     .offset = OFF(compactor.compaction_interval_ns), .flag = "compactor.compaction-interval",
     .desc = "Interval between retention sweeps (noa has nothing else to compact); a sweep "
             "also runs at start-up."},
    {.path = "compactor.apply_retention_interval", .type = NOA_CONFIG_DURATION, .def = "0s",
     .offset = OFF(compactor.apply_retention_interval_ns),
     .flag = "compactor.apply-retention-interval",
     .desc = "Interval between retention sweeps; 0 uses compaction_interval."},
    {.path = "compactor.retention_enabled", .type = NOA_CONFIG_BOOL, .def = "false",
     .offset = OFF(compactor.retention_enabled), .flag = "compactor.retention-enabled",
     .desc = "Apply limits_config.retention_period: without it (Loki's default) nothing is "
             "ever deleted. Unlike Loki, no delete_request_store is needed."},
    {.path = "compactor.retention_delete_delay", .type = NOA_CONFIG_DURATION, .def = "2h",
     .offset = OFF(compactor.retention_delete_delay_ns), .flag = "compactor.retention-delete-delay",
     .desc = "How long after an expired chunk left the index its file is deleted, so queries "
             "that already found it can still read it. Pending deletions survive restarts."},
    {.path = "compactor.retention_delete_worker_count", .type = NOA_CONFIG_INT, .def = "150",
     .flag = "compactor.retention-delete-worker-count", .flags = UNENF,
     .desc = "Chunk delete workers (noa deletes from one thread)."},
    {.path = "compactor.retention_table_timeout", .type = NOA_CONFIG_DURATION, .def = "0s",
     .flag = "compactor.retention-table-timeout", .flags = UNENF,
     .desc = "Timeout of retention on one table."},
    IGNORED("compactor.retention_backoff_config", "Backoff of retention retries."),
    {.path = "compactor.delete_request_store", .type = NOA_CONFIG_STRING, .def = "",
     .flag = "compactor.delete-request-store", .flags = UNENF,
     .desc = "Store for log deletion requests (the delete API is not supported yet)."},
    {.path = "compactor.delete_request_store_key_prefix", .type = NOA_CONFIG_STRING,
     .def = "index/", .flag = "compactor.delete-request-store.key-prefix", .flags = UNENF,
     .desc = "Key prefix of delete requests."},
    {.path = "compactor.delete_request_store_db_type", .type = NOA_CONFIG_STRING,
     .def = "boltdb", .flag = "compactor.delete-request-store.db-type", .flags = UNENF,
     .desc = "Database type of delete requests."},
    {.path = "compactor.delete_batch_size", .type = NOA_CONFIG_INT, .def = "70",
     .flag = "compactor.delete-batch-size", .flags = UNENF,
     .desc = "Delete requests processed per batch."},
    {.path = "compactor.delete_request_cancel_period", .type = NOA_CONFIG_DURATION,
     .def = "24h", .flag = "compactor.delete-request-cancel-period", .flags = UNENF,
     .desc = "How long a delete request can be cancelled."},
    {.path = "compactor.delete_max_interval", .type = NOA_CONFIG_DURATION, .def = "24h",
     .flag = "compactor.delete-max-interval", .flags = UNENF,
     .desc = "Largest interval a delete request is split into."},
    {.path = "compactor.max_compaction_parallelism", .type = NOA_CONFIG_INT, .def = "1",
     .flag = "compactor.max-compaction-parallelism", .flags = UNENF,
     .desc = "Tables compacted in parallel."},
    {.path = "compactor.upload_parallelism", .type = NOA_CONFIG_INT, .def = "10",
     .flag = "compactor.upload-parallelism", .flags = UNENF,
     .desc = "Parallel uploads of compacted index files."},
    IGNORED("compactor.compactor_ring", "The compactors' ring (noa runs one compactor)."),
    {.path = "compactor.run_once", .type = NOA_CONFIG_BOOL, .def = "false",
     .flag = "compactor.run-once", .flags = UNENF, .desc = "Run one compaction and exit."},
    {.path = "compactor.tables_to_compact", .type = NOA_CONFIG_INT, .def = "0",
     .flag = "compactor.tables-to-compact", .flags = UNENF,
     .desc = "Most recent tables to compact; 0 for all."},
    {.path = "compactor.skip_latest_n_tables", .type = NOA_CONFIG_INT, .def = "0",
     .flag = "compactor.skip-latest-n-tables", .flags = UNENF,
     .desc = "Most recent tables left uncompacted."},
    {.path = "compactor.horizontal_scaling_mode", .type = NOA_CONFIG_STRING, .def = "disabled",
     .flag = "compactor.horizontal-scaling-mode", .flags = UNENF,
     .desc = "Compactor horizontal scaling mode."},
    IGNORED("compactor.worker_config", "Compactor workers of horizontal scaling."),
    IGNORED("compactor.jobs_config", "Compactor jobs of horizontal scaling."),
    IGNORED("compactor_grpc_client", "gRPC client to the compactor."),
    IGNORED("frontend_worker", "Querier worker of the frontend."),
    IGNORED("table_manager", "Table manager (older Loki)."),
    IGNORED("memberlist", "Gossip membership."),
    IGNORED("kafka_config", "Kafka."),
    IGNORED("dataobj", "Data objects."),
    IGNORED("rate_service", "Rate service."),
    IGNORED("rate_service_client", "Rate service client."),
    IGNORED("ingest_limits", "Ingest limits service."),
    IGNORED("ingest_limits_frontend", "Ingest limits frontend."),
    IGNORED("ingest_limits_frontend_client", "Ingest limits frontend client."),
    IGNORED("block_builder", "Block builder."),
    IGNORED("block_scheduler", "Block scheduler."),
    IGNORED("partition_ring", "Partition ring."),
    IGNORED("ingester_rf1", "Experimental ingester."),
    IGNORED("metastore", "Metastore."),
    IGNORED("metastore_client", "Metastore client."),
    IGNORED("runtime_config", "Runtime configuration file (per-tenant overrides are not "
                              "supported yet)."),
    IGNORED("overrides", "Per-tenant limits belong in the runtime configuration file."),
    IGNORED("operational_config", "Operational logging switches."),
    IGNORED("tracing", "Tracing."),
    IGNORED("analytics", "Anonymous usage reporting (noa never reports)."),
    IGNORED("profiling", "Profiling."),
};

static const struct noa_config_table table = {
    .type_name = "loki.Config",
    .entries = entries,
    .n = sizeof(entries) / sizeof(entries[0]),
};

const struct noa_config_table *noa_server_config_table(void)
{
    return &table;
}

/* ---- loading ------------------------------------------------------------------------ */

/* "a" + "/" + "b", or b alone when a is empty or b is absolute. */
static char *path_join(const char *a, const char *b)
{
    size_t la = strlen(a);
    if (!la || b[0] == '/')
        return noa_xstrdup(b);
    struct noa_buf out = {0};
    noa_buf_append(&out, a, la);
    if (a[la - 1] != '/')
        noa_buf_putc(&out, '/');
    noa_buf_append(&out, b, strlen(b));
    noa_buf_cstr(&out);
    return noa_buf_steal(&out, NULL);
}

/* A directory setting whose default sits under path_prefix: the default
 * name moves under the prefix, anything the user wrote is kept as written. */
static char *under_prefix(const char *prefix, const char *value, const char *def)
{
    if (strcmp(value, def) == 0)
        return path_join(prefix, def);
    return noa_xstrdup(value);
}

static void derive(struct noa_server_config *cfg)
{
    const char *prefix = cfg->common.path_prefix;
    struct noa_limits *l = &cfg->limits;

    for (int i = 0; targets[i]; i++)
        if (strcmp(cfg->target, targets[i]) == 0)
            cfg->target_id = (enum noa_server_target)i;

    l->ingestion_rate_bytes = cfg->ingestion_rate_mb * 1048576.0;
    l->ingestion_burst_bytes = cfg->ingestion_burst_size_mb * 1048576.0;
    l->per_stream_rate_bytes = (double)cfg->per_stream_rate_limit;
    l->per_stream_burst_bytes = (double)cfg->per_stream_rate_limit_burst;
    l->discover_service_name = cfg->discover_service_name.v;
    l->n_discover_service_name = cfg->discover_service_name.n;
    l->log_level_fields = cfg->log_level_fields.v;
    l->n_log_level_fields = cfg->log_level_fields.n;
    /* Loki accepts out-of-order entries within half the max chunk age. */
    l->unordered_window_ns = cfg->ingester.max_chunk_age_ns / 2;

    cfg->wal_dir = under_prefix(prefix, cfg->ingester.wal.dir, "wal");
    cfg->chunks_dir = *cfg->common.chunks_directory ? noa_xstrdup(cfg->common.chunks_directory)
                                                    : path_join(prefix, "chunks");
    cfg->index_dir = path_join(prefix, "index");
    if (*cfg->ruler_storage.local_directory)
        cfg->rules_dir = noa_xstrdup(cfg->ruler_storage.local_directory);
    else if (*cfg->ruler.storage_local_directory)
        cfg->rules_dir = noa_xstrdup(cfg->ruler.storage_local_directory);
    else if (*cfg->common.rules_directory)
        cfg->rules_dir = noa_xstrdup(cfg->common.rules_directory);
    else
        cfg->rules_dir = path_join(prefix, "rules");
    cfg->ruler_wal_dir = under_prefix(prefix, cfg->ruler.wal_dir, "ruler-wal");
    cfg->compactor_dir = under_prefix(prefix, cfg->compactor.working_directory, "compactor");
}

/* Range checks a Loki user would expect to fail at start-up, not later. */
static int validate(const struct noa_server_config *cfg, struct noa_error *err)
{
    const struct noa_limits *l = &cfg->limits;
    struct {
        int bad;
        const char *what;
    } checks[] = {
        {cfg->server.http_listen_port < 0 || cfg->server.http_listen_port > 65535,
         "server.http_listen_port must be between 0 and 65535"},
        {cfg->server.grpc_listen_port < 0 || cfg->server.grpc_listen_port > 65535,
         "server.grpc_listen_port must be between 0 and 65535"},
        {cfg->server.http_listen_conn_limit < 0, "server.http_listen_conn_limit must be >= 0"},
        {cfg->server.http_server_read_timeout_ns < 0 || cfg->server.http_server_write_timeout_ns < 0 ||
             cfg->server.http_server_idle_timeout_ns < 0 ||
             cfg->server.http_server_read_header_timeout_ns < 0,
         "server HTTP timeouts must not be negative"},
        {cfg->ingester.chunk_block_size <= 0, "ingester.chunk_block_size must be > 0"},
        {cfg->ingester.chunk_target_size < 0, "ingester.chunk_target_size must be >= 0"},
        {cfg->ingester.max_chunk_age_ns <= 0, "ingester.max_chunk_age must be > 0"},
        {cfg->ingester.chunk_idle_period_ns < 0, "ingester.chunk_idle_period must be >= 0"},
        {cfg->ingester.flush_check_period_ns <= 0, "ingester.flush_check_period must be > 0"},
        {cfg->ingester.concurrent_flushes <= 0, "ingester.concurrent_flushes must be > 0"},
        {cfg->ingester.wal.enabled && cfg->ingester.wal.checkpoint_duration_ns <= 0,
         "ingester.wal.checkpoint_duration must be > 0"},
        {cfg->ingester.wal.enabled && !*cfg->ingester.wal.dir,
         "ingester.wal.dir must be set when the WAL is enabled"},
        {cfg->distributor.max_recv_msg_size <= 0, "distributor.max_recv_msg_size must be > 0"},
        {cfg->distributor.max_decompressed_size <= 0,
         "distributor.max_decompressed_size must be > 0"},
        {cfg->ingestion_rate_mb < 0 || cfg->ingestion_burst_size_mb < 0,
         "limits_config.ingestion_rate_mb and ingestion_burst_size_mb must be >= 0"},
        {cfg->per_stream_rate_limit < 0 || cfg->per_stream_rate_limit_burst < 0,
         "limits_config.per_stream_rate_limit(_burst) must be >= 0"},
        {l->max_line_size < 0, "limits_config.max_line_size must be >= 0"},
        {l->max_label_names_per_series <= 0,
         "limits_config.max_label_names_per_series must be > 0"},
        {l->max_label_name_length <= 0 || l->max_label_value_length <= 0,
         "limits_config.max_label_name_length and max_label_value_length must be > 0"},
        {l->max_entries_limit_per_query < 0,
         "limits_config.max_entries_limit_per_query must be >= 0"},
        {l->reject_old_samples_max_age_ns < 0 || l->creation_grace_period_ns < 0 ||
             l->max_query_length_ns < 0 || l->max_query_lookback_ns < 0 ||
             l->query_timeout_ns < 0 || l->retention_period_ns < 0,
         "limits_config durations must not be negative"},
        {cfg->ruler.evaluation_interval_ns <= 0, "ruler.evaluation_interval must be > 0"},
        {cfg->compactor.compaction_interval_ns <= 0, "compactor.compaction_interval must be > 0"},
        {cfg->compactor.apply_retention_interval_ns < 0 ||
             cfg->compactor.retention_delete_delay_ns < 0,
         "compactor durations must not be negative"},
        {cfg->ruler.notification_queue_capacity < 0,
         "ruler.notification_queue_capacity must be >= 0"},
        {cfg->ruler.notification_timeout_ns < 0 || cfg->ruler.for_outage_tolerance_ns < 0 ||
             cfg->ruler.for_grace_period_ns < 0 || cfg->ruler.resend_delay_ns < 0,
         "ruler durations must not be negative"},
    };
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
        if (checks[i].bad)
            return noa_error_set(err, NOA_EINVAL, "invalid configuration: %s", checks[i].what);
    /* Compiled once here so a bad relabel config fails -config.verify with
     * its position; the ruler compiles it again when it starts. */
    struct noa_ruler_relabel *rl = NULL;
    int rc = noa_ruler_relabel_new(noa_server_config_raw(cfg, "ruler.alert_relabel_configs"), &rl,
                                   err);
    noa_ruler_relabel_free(rl);
    struct noa_ruler_remote_write_options *rw = NULL;
    unsigned n_rw = 0;
    if (rc == 0)
        rc = noa_ruler_remote_write_configs(noa_server_config_raw(cfg, "ruler.remote_write.client"),
                                            noa_server_config_raw(cfg, "ruler.remote_write.clients"),
                                            &rw, &n_rw, err);
    noa_ruler_remote_write_configs_free(rw, n_rw);
    /* Loki validates retention_stream rules at start-up (matchers, >= 24h). */
    struct noa_retention_rules rules;
    if (rc == 0)
        rc = noa_retention_rules_parse(noa_server_config_raw(cfg, "limits_config.retention_stream"),
                                       &rules, err);
    if (rc == 0)
        noa_retention_rules_fini(&rules);
    return rc;
}

struct flag {
    char name[128];
    const char *value; /* borrowed from argv, or a literal */
};

/* Reads the flag at argv[*i] (advancing *i past a separate value).
 * Returns 0, or NOA_EINVAL with Go flag's wording. */
static int next_flag(int argc, char **argv, int *i, struct flag *f, struct noa_error *err)
{
    const char *a = argv[*i];
    if (a[0] != '-' || a[1] == '\0')
        return noa_error_set(err, NOA_EINVAL, "unexpected argument \"%s\" (flags start with -)",
                             a);
    a += a[1] == '-' ? 2 : 1;
    const char *eq = strchr(a, '=');
    size_t n = eq ? (size_t)(eq - a) : strlen(a);
    if (n == 0 || n >= sizeof(f->name) || a[0] == '-')
        return noa_error_set(err, NOA_EINVAL, "bad flag syntax: %s", argv[*i]);
    memcpy(f->name, a, n);
    f->name[n] = '\0';
    const struct noa_config_entry *e = noa_config_find_flag(&table, f->name);
    if (!e)
        return noa_error_set(err, NOA_EINVAL, "flag provided but not defined: -%s", f->name);
    if (eq) {
        f->value = eq + 1;
    } else if (e->type == NOA_CONFIG_BOOL) {
        f->value = "true"; /* as Go's flag package: a bool flag never takes the next word */
    } else if (*i + 1 < argc) {
        f->value = argv[++*i];
    } else {
        return noa_error_set(err, NOA_EINVAL, "flag needs an argument: -%s", f->name);
    }
    return 0;
}

/* Applies flags; with only_early, just those that decide what to load. */
static int apply_flags(int argc, char **argv, struct noa_server_config *cfg, int only_early,
                       struct noa_error *err)
{
    static const char *const early[] = {"config.file", "config.expand-env", "help", "h",
                                        "version", NULL};
    for (int i = 1; i < argc; i++) {
        struct flag f;
        int rc = next_flag(argc, argv, &i, &f, err);
        if (rc)
            return rc;
        int is_early = 0;
        for (int k = 0; early[k]; k++)
            is_early |= strcmp(f.name, early[k]) == 0;
        if (only_early != is_early)
            continue;
        rc = noa_config_set(noa_config_find_flag(&table, f.name), cfg, f.value, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* The first existing file of a comma-separated list (or of Loki's fallbacks
 * when none was given); NULL (and 0) when there is none to load. */
static int pick_file(const char *list, char **out, struct noa_error *err)
{
    *out = NULL;
    if (!*list) {
        static const char *const fallbacks[] = {"config.yaml", "config/config.yaml", NULL};
        for (int i = 0; fallbacks[i]; i++)
            if (access(fallbacks[i], F_OK) == 0)
                return *out = noa_xstrdup(fallbacks[i]), 0;
        return 0;
    }
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char *name = noa_xstrndup(p, n);
        if (n && access(name, F_OK) == 0)
            return *out = name, 0;
        noa_free(name);
        p += n + (comma ? 1 : 0);
    }
    return noa_error_set(err, -ENOENT, "-config.file: %s: no such file", list);
}

int noa_server_config_load(int argc, char **argv, struct noa_server_config *cfg,
                           struct noa_error *err)
{
    char *file = NULL;
    memset(cfg, 0, sizeof(*cfg));
    noa_config_defaults(&table, cfg);
    int rc = apply_flags(argc, argv, cfg, 1, err);
    if (rc)
        goto fail;
    if (cfg->show_help) {
        cfg->action = NOA_SERVER_HELP;
        return 0;
    }
    if (cfg->show_version) {
        cfg->action = NOA_SERVER_VERSION;
        return 0;
    }
    if ((rc = pick_file(cfg->config_file, &file, err)) != 0)
        goto fail;
    noa_free(cfg->config_file);
    cfg->config_file = file; /* NULL when running on defaults */
    if (file) {
        rc = noa_yaml_load_file(file, cfg->expand_env, NULL, &cfg->doc, err);
        if (rc == 0)
            rc = noa_config_apply(&table, cfg, cfg->doc->root, err);
        if (rc)
            goto fail;
    }
    if ((rc = apply_flags(argc, argv, cfg, 0, err)) != 0)
        goto fail;
    if ((rc = validate(cfg, err)) != 0)
        goto fail;
    derive(cfg);
    cfg->action = cfg->verify ? NOA_SERVER_VERIFY : NOA_SERVER_RUN;
    return 0;
fail:
    noa_server_config_fini(cfg);
    return rc;
}

void noa_server_config_fini(struct noa_server_config *cfg)
{
    noa_config_fini(&table, cfg);
    noa_free(cfg->wal_dir);
    noa_free(cfg->chunks_dir);
    noa_free(cfg->index_dir);
    noa_free(cfg->rules_dir);
    noa_free(cfg->ruler_wal_dir);
    noa_free(cfg->compactor_dir);
    noa_yaml_free(cfg->doc);
    memset(cfg, 0, sizeof(*cfg));
}

void noa_server_config_usage(struct noa_buf *out)
{
    noa_buf_printf(out, "Usage of noa-server:\n"
                        "  noa-server [-config.file=FILE] [-flag=value ...]\n\n"
                        "Flags override the configuration file, which overrides the defaults.\n"
                        "Flags accept -name=value, -name value, --name=value; bool flags also "
                        "-name.\n\n");
    noa_config_help(&table, out);
}

void noa_server_config_dump(const struct noa_server_config *cfg, enum noa_config_dump_mode mode,
                            struct noa_buf *out)
{
    noa_config_dump(&table, cfg, mode, out);
}

const struct noa_yaml_node *noa_server_config_raw(const struct noa_server_config *cfg,
                                                  const char *path)
{
    return cfg->doc ? noa_yaml_path(cfg->doc->root, path) : NULL;
}

void noa_server_config_markdown(struct noa_buf *out)
{
    noa_buf_printf(
        out,
        "# noa-server configuration reference\n\n"
        "<!-- Generated from the table in querier/server_config.c by "
        "noa_server_config_markdown(); do not edit. Regenerate with "
        "`NOA_REGEN_DOCS=1 build/tests/test_querier_server_config`. -->\n\n"
        "noa-server reads the same YAML file as a Loki 3.x single binary: the keys, the "
        "`-flags` and the defaults below are Loki's. Pass the file with "
        "`-config.file=FILE` (a comma-separated list loads the first that exists; without "
        "the flag `./config.yaml` and then `./config/config.yaml` are tried, and without "
        "any file noa runs on the defaults). Flags override the file, the file overrides "
        "the defaults.\n\n"
        "- **Environment variables**: with `-config.expand-env=true`, `${VAR}`, `$VAR`, "
        "`${VAR:-default}` (default when unset or empty), `${VAR-default}` (default when "
        "unset) and `${VAR:?message}` (fail when unset or empty) are replaced before the "
        "YAML is parsed; `$$` is a literal `$`.\n"
        "- **Unknown keys are errors**, reported as `file:line:col: field X not found in "
        "type T`, as Loki does. Type errors name the position and the expected type.\n"
        "- **Blocks noa does not implement** (`schema_config`, `storage_config`, "
        "`memberlist`, `common.ring`, `ingester.lifecycler`, ...) are accepted so that a "
        "Loki configuration starts unchanged; each one present logs one warning at "
        "start-up. Keys marked *not enforced by noa yet* are Loki's, are type-checked, and "
        "have no effect.\n"
        "- **Durations** take Go's form (`1h30m`, `1.5s`, `500ms`, `10us`) and "
        "Prometheus's units (`1d`, `1w`, `1y`); `0` needs no unit. **Sizes** take Loki's "
        "form: `1048576`, `256KB`, `4MB`, `1GiB` (KB, MB, ... are powers of 1024, any "
        "case; fractions such as `1.5MiB` are accepted too).\n"
        "- **Directories**: everything lives under `common.path_prefix` (noa's default is "
        "`data` in the working directory): the WAL in `wal/` (`ingester.wal.dir`), chunks "
        "in `chunks/` (`common.storage.filesystem.chunks_directory`), the index in "
        "`index/`, rules in `rules/` (`ruler_storage.local.directory`, "
        "`ruler.storage.local.directory` or `common.storage.filesystem.rules_directory`), "
        "the ruler WAL in `ruler-wal/` and retention's pending deletions in "
        "`compactor/retention/` (`compactor.working_directory`).\n"
        "- **Retention**, as in Loki, needs `compactor.retention_enabled: true` besides "
        "`limits_config.retention_period` (or `retention_stream`).\n"
        "- **Chunk encoding**: `ingester.chunk_encoding` accepts Loki's names; the lz4 "
        "names (`lz4`, `lz4-64k`, `lz4-256k`, `lz4-1M`) make new chunks lz4, every other "
        "name zstd (the default). Existing chunks of either codec are always readable, so "
        "the setting can be changed on a running store.\n"
        "- `GET /config` returns the effective configuration as YAML; `?mode=defaults` "
        "returns the defaults and `?mode=diffs` only what differs from them. "
        "`-print-config-stderr` prints it at start-up; `-config.verify` loads and "
        "validates the configuration and exits (0 valid, 1 not).\n\n"
        "Examples: `config/noa.yaml` (the embedded default used by `make run`) and "
        "`config/loki-local.yaml` (Loki's single-binary local configuration, which noa "
        "starts with unchanged).\n\n"
        "## Command-line flags\n\n```\n");
    noa_server_config_usage(out);
    noa_buf_printf(out, "```\n\n## Configuration file\n\n");
    noa_config_markdown(&table, out);
}
