/*
 * The shipper's configuration file: Promtail's YAML (`-config.file`) as C
 * structs. Keys, types and defaults are Promtail's (clients/pkg/promtail/
 * config, scrapeconfig, client/config.go, positions, server; dskit's server
 * block; Prometheus's HTTP client, relabel, static/file/kubernetes SD
 * blocks). Unknown keys are errors with file:line:col, as Promtail's strict
 * decoder makes them. Fixed blocks are read through common/config.h tables;
 * lists (clients, scrape_configs, the SD blocks) and label maps are read
 * here item by item with the same error style.
 *
 * Accepted and not acted on (type-checked, warned once at load where a user
 * would expect an effect): the gRPC and most dskit server keys, tracing,
 * wal, client tls_config.server_name and the other HTTP client knobs
 * (tls_config ca_file, cert_file, key_file, insecure_skip_verify and
 * proxy_url are applied through libcurl), kubernetes_sd_configs' api_server / kubeconfig /
 * selectors / auth (noa discovers pods from the kubelet's log directory,
 * see shipper/discovery.h). Refused with "not supported by noa-shipper":
 * receivers and SD mechanisms noa does not implement (syslog, gcplog,
 * windows_events, kafka, azure_event_hubs, gelf, cloudflare, heroku_drain,
 * docker_sd_configs, consul/dns/ec2/... SD), oauth2, decompression.enabled,
 * scrape `encoding` other than UTF-8, kubernetes roles other than pod.
 *
 * noa extensions (not in Promtail):
 *  - clients[].encoding: snappy (default; Loki's protobuf, what a real Loki
 *    accepts) | zstd (protobuf with Content-Encoding: zstd, which noa's
 *    server accepts: smaller and cheaper to compress);
 *  - kubernetes_sd_configs[].pods_dir: the kubelet's pod log directory
 *    (default /var/log/pods; also env NOA_PODS_DIR).
 *  - clients[].backoff_config.max_retries defaults to 0 = retry for ever
 *    (Promtail's default is 10, after which a batch is silently lost).
 *
 * Lifetime: the parsed YAML document stays alive inside the config until
 * noa_shipper_config_free, because each scrape config's pipeline_stages is
 * handed to the stages compiler as a node of that document (compile the
 * pipelines, per reader thread, any time before freeing the config).
 *
 * Loading runs on the caller's thread; a loaded config is immutable and may
 * be read from any thread.
 */
#ifndef NOA_SHIPPER_SHIPPER_CONFIG_H
#define NOA_SHIPPER_SHIPPER_CONFIG_H

#include "common/buf.h"
#include "common/config.h"
#include "common/err.h"
#include "common/labels.h"
#include "common/yaml.h"
#include "shipper/client.h"
#include "shipper/kvlist.h"
#include "shipper/positions.h"
#include "shipper/relabel.h"

#include <stdint.h>

/* Promtail's default HTTP port (dskit's); the Helm chart sets 3101 and the
 * docs' examples 9080. */
#define NOA_SHIPPER_CONFIG_DEFAULT_HTTP_PORT 80
#define NOA_SHIPPER_CONFIG_DEFAULT_PODS_DIR "/var/log/pods"
/* Limits on list sizes read from the file (a config is written by a human). */
#define NOA_SHIPPER_CONFIG_MAX_CLIENTS 64
#define NOA_SHIPPER_CONFIG_MAX_SCRAPES 4096
#define NOA_SHIPPER_CONFIG_MAX_LABELS 1024

/* dskit's server block (top-level `server`, and loki_push_api's `server`).
 * Every field public, read-only after load. */
struct noa_shipper_server_config {
    int disable;                          /* disable [false]: no HTTP server */
    char *http_listen_address;            /* [""]: all addresses */
    int http_listen_port;                 /* [80] */
    int grpc_listen_port;                 /* [9095]; accepted, noa serves no gRPC */
    int register_instrumentation;         /* [true]: /metrics */
    int64_t graceful_shutdown_timeout_ns; /* [30s] */
    int64_t http_server_read_timeout_ns;  /* [30s] */
    int64_t http_server_write_timeout_ns; /* [30s] */
    int64_t http_server_idle_timeout_ns;  /* [2m] */
    char *log_level;                      /* [info]: debug|info|warn|error */
    char *log_format;                     /* [logfmt]: logfmt|json */
    char *http_path_prefix;               /* [""] */
    int health_check_target;              /* [true]: /ready needs a tailed file */
    int enable_runtime_reload;            /* [false]: POST /reload */
    int profiling_enabled;                /* [false]; accepted */
    /* http_tls_config (common/tls_server.h): HTTPS when tls_cert_file is set */
    char *tls_cert_file, *tls_key_file;   /* [""] */
    char *tls_client_auth_type;           /* [""] = NoClientCert */
    char *tls_client_ca_file;             /* [""] */
    char *tls_min_version;                /* tls_min_version [""] = VersionTLS12 */
};

enum noa_shipper_encoding {
    NOA_SHIPPER_ENCODING_SNAPPY = 0, /* Loki's snappy protobuf (Promtail's) */
    NOA_SHIPPER_ENCODING_ZSTD = 1,   /* protobuf + Content-Encoding: zstd (noa) */
};

/* One `clients[]` entry. Fields public, read-only after load. */
struct noa_shipper_client_config {
    char *url;                         /* required: http(s)://host:port/loki/api/v1/push */
    char *name;                        /* [""] */
    char *tenant_id;                   /* [""]: no X-Scope-OrgID */
    int64_t batchwait_ns;              /* [1s] */
    int64_t batchsize;                 /* [1048576] bytes */
    int64_t timeout_ns;                /* [10s] */
    int64_t backoff_min_period_ns;     /* backoff_config.min_period [500ms] */
    int64_t backoff_max_period_ns;     /* backoff_config.max_period [5m] */
    int backoff_max_retries;           /* backoff_config.max_retries [0 = for ever] */
    int drop_rate_limited_batches;     /* [false] */
    struct noa_kvlist external_labels; /* [{}] */
    struct noa_kvlist headers;         /* [{}] */
    /* Authentication (Prometheus HTTP client config, inlined). Secrets read
     * from *_file keys at load time land in the resolved fields. */
    char *basic_auth_username;
    char *basic_auth_password;
    char *basic_auth_password_file;
    char *bearer_token;
    char *bearer_token_file;
    char *authorization_type; /* [Bearer] when credentials are given */
    char *authorization_credentials;
    char *authorization_credentials_file;
    char *resolved_password; /* basic_auth password or its file's content */
    char *resolved_token;    /* bearer_token / authorization credentials or file */
    /* tls_config (server_name kept, not applied) and proxy_url. */
    char *tls_ca_file, *tls_cert_file, *tls_key_file, *tls_server_name;
    int tls_insecure_skip_verify;
    char *proxy_url;
    int follow_redirects; /* [true] */
    int enable_http2;     /* [true]; noa speaks HTTP/1.1 */
    char *encoding_name;  /* [snappy] */
    enum noa_shipper_encoding encoding;
    /* private: built at load for noa_shipper_config_client */
    struct noa_label *ext_v;
    char **header_lines;
    uint32_t n_header_lines;
    char *auth_header_type; /* "Bearer" or authorization.type */
};

/* `static_configs[]`. */
struct noa_shipper_static_config {
    struct noa_config_strings targets; /* [] (Prometheus fills "localhost" when empty) */
    struct noa_kvlist labels;
};

/* `file_sd_configs[]`. */
struct noa_shipper_file_sd_config {
    struct noa_config_strings files; /* *.json, *.yml, *.yaml; the last path
                                      * segment may hold a glob */
    int64_t refresh_interval_ns;     /* [5m] */
};

/* `kubernetes_sd_configs[]` (role pod, read from the kubelet's log dir). */
struct noa_shipper_k8s_sd_config {
    char *role;                           /* required; only "pod" */
    struct noa_config_strings namespaces; /* namespaces.names: [] = all */
    char *pods_dir;                       /* noa: [""] = $NOA_PODS_DIR or /var/log/pods */
};

/* `journal`. */
struct noa_shipper_journal_config {
    int json;           /* [false] */
    int64_t max_age_ns; /* [7h] */
    char *path;         /* [""]: the system journal */
    char *matches;      /* [""]: "FIELD=value FIELD=value" (ANDed) */
    struct noa_kvlist labels;
};

/* `loki_push_api`. */
struct noa_shipper_push_config {
    struct noa_shipper_server_config server; /* its own listener */
    struct noa_kvlist labels;
    int use_incoming_timestamp; /* [false] */
};

/* One `scrape_configs[]` entry; fields read-only after load. */
struct noa_shipper_scrape_config {
    char *job_name;                              /* required, unique */
    const struct noa_yaml_node *pipeline_stages; /* borrowed from the config's
                                                  * document; NULL when absent */
    struct noa_relabel *relabel;                 /* never NULL (may hold 0 rules) */
    struct noa_shipper_static_config *static_configs;
    uint32_t n_static;
    struct noa_shipper_file_sd_config *file_sd;
    uint32_t n_file_sd;
    struct noa_shipper_k8s_sd_config *k8s_sd;
    uint32_t n_k8s_sd;
    struct noa_shipper_journal_config *journal; /* NULL unless `journal:` is set */
    struct noa_shipper_push_config *push;       /* NULL unless `loki_push_api:` is set */
    char *encoding;                             /* [""]: UTF-8 */
    int line, col;                              /* where the item starts */
};

/* `limits_config`. */
struct noa_shipper_limits_config {
    int readline_rate_enabled;  /* [false] */
    double readline_rate;       /* [10000] lines/s */
    int readline_burst;         /* [10000] */
    int readline_rate_drop;     /* [true]; false = block (backpressure) */
    int max_streams;            /* [0] = unlimited */
    int64_t max_line_size;      /* [0] bytes = unlimited */
    int max_line_size_truncate; /* [false] */
};

struct noa_shipper_config {
    char *file; /* the name it was loaded from */
    struct noa_shipper_server_config server;
    struct noa_positions_config positions;     /* filename, sync_period, ignore_invalid_yaml */
    struct noa_shipper_client_config *clients; /* `clients` plus legacy `client` */
    uint32_t n_clients;
    struct noa_shipper_scrape_config *scrape;
    uint32_t n_scrape;
    struct noa_shipper_limits_config limits;
    int64_t target_sync_period_ns;  /* target_config.sync_period [10s] */
    int target_stdin;               /* target_config.stdin [false] */
    int64_t file_watch_min_poll_ns; /* global.file_watch_config.min_poll_frequency [250ms] */
    int64_t file_watch_max_poll_ns; /* global.file_watch_config.max_poll_frequency [250ms] */
    struct noa_config_strings stream_lag_labels; /* options.stream_lag_labels [filename] */
    int tracing_enabled;                         /* tracing.enabled; accepted */
    struct noa_yaml_doc *doc;                    /* private: owns pipeline_stages nodes */
};

/*
 * Reads and parses path (expand_env: ${VAR}, ${VAR:-default} replaced first,
 * as -config.expand-env). Returns 0, -errno when the file cannot be read,
 * or NOA_EINVAL / NOA_ETOOBIG / NOA_EUNSUPP with err as "file:line:col:
 * what is wrong". *out belongs to the caller (noa_shipper_config_free).
 */
int noa_shipper_config_load(const char *path, int expand_env, struct noa_shipper_config **out,
                            struct noa_error *err);

/* The same from text (file names it in messages; NULL: "<input>"). An
 * empty text gives every default and no clients or scrape configs. */
int noa_shipper_config_parse(const char *text, size_t len, const char *file, int expand_env,
                             struct noa_shipper_config **out, struct noa_error *err);

/* Frees the config and its document; NULL is a no-op. */
void noa_shipper_config_free(struct noa_shipper_config *cfg);

/*
 * Fills a push client config for clients[i] with pointers borrowed from cfg
 * (valid until noa_shipper_config_free); the caller adds ack/ack_ud,
 * queue_bytes and user_agent. The body encoding is c->encoding (client.h
 * has no field for it yet).
 */
void noa_shipper_config_client(const struct noa_shipper_config *cfg, uint32_t i,
                               struct noa_client_config *out);

/* Checks every declarative table this module uses (noa_config_check_table):
 * 0, or NOA_EINVAL naming the bad entry. For unit tests. */
int noa_shipper_config_check_tables(struct noa_error *err);

/*
 * Appends the effective configuration as YAML (-print-config-stderr, GET
 * /config): every block with its defaults filled in, secrets (passwords,
 * tokens, credentials) written as <secret> as Promtail does. Pipeline
 * stages are copied from the document as written.
 */
void noa_shipper_config_print(const struct noa_shipper_config *cfg, struct noa_buf *out);

/* Appends the command-line flags of noa-shipper in Go's flag.PrintDefaults
 * layout (the same text `noa-shipper -help` should print). */
void noa_shipper_config_usage(struct noa_buf *out);

/*
 * Appends the Markdown configuration reference (docs/shipper-configuration.md):
 * an introduction, the flags, then every table this module reads the file
 * with, each as a fenced YAML sketch with every key's description, type and
 * default (common/config.h noa_config_markdown). Deterministic: the unit
 * test compares it with the committed file.
 */
void noa_shipper_config_markdown(struct noa_buf *out);

#endif
