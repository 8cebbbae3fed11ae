/*
 * noa-server's configuration in Loki's shape: the same YAML file a Loki
 * single binary reads (auth_enabled, server, common, ingester, limits_config,
 * distributor, ruler, ...), the same -flags, the same defaults. Blocks noa
 * does not implement (schema_config, storage_config, memberlist, ...) are
 * accepted with one warning each; unknown keys are errors with their
 * file:line:col. Owns every string in the struct. Loaded once at start-up on
 * the main thread; read-only afterwards, so any thread may read it.
 */
#ifndef NOA_QUERIER_SERVER_CONFIG_H
#define NOA_QUERIER_SERVER_CONFIG_H

#include "common/buf.h"
#include "common/config.h"
#include "common/err.h"
#include "common/yaml.h"
#include "ingester/limits.h"

#include <stdint.h>

/* What main should do after noa_server_config_load returns 0. */
enum noa_server_action {
    NOA_SERVER_RUN = 0,
    NOA_SERVER_HELP = 1,    /* -h, -help, --help: print noa_server_config_usage, exit 0 */
    NOA_SERVER_VERSION = 2, /* -version: print the version, exit 0 */
    NOA_SERVER_VERIFY = 3,  /* -config.verify: the config loaded and validated, exit 0 */
};

enum noa_server_target {
    NOA_TARGET_ALL = 0, /* ingester + querier + ruler over one data directory */
    NOA_TARGET_INGESTER = 1,
    NOA_TARGET_QUERIER = 2,
    NOA_TARGET_RULER = 3,
};

struct noa_server_config {
    /* ---- command line only (public, read-only) ---- */
    char *config_file;    /* the file loaded, or NULL when none */
    int expand_env;       /* -config.expand-env */
    int verify;           /* -config.verify */
    int print_config;     /* -print-config-stderr / -log-config-reverse-order */
    int show_help;        /* private: -help seen */
    int show_version;     /* private: -version seen */
    enum noa_server_action action;

    /* ---- top level ---- */
    char *target;                     /* "all" | "ingester" | "querier" | "ruler" */
    enum noa_server_target target_id; /* derived from target */
    int auth_enabled;                 /* default true: X-Scope-OrgID required */
    int64_t shutdown_delay_ns;        /* default 0 */

    struct {
        char *http_listen_address;      /* "" = every interface */
        int http_listen_port;           /* 3100 */
        int http_listen_conn_limit;     /* 0 = no limit */
        char *grpc_listen_address;      /* accepted, unused */
        int grpc_listen_port;           /* accepted, unused (9095) */
        int register_instrumentation;   /* true: serve /metrics */
        int64_t graceful_shutdown_timeout_ns;  /* 30s */
        int64_t http_server_read_timeout_ns;   /* 30s */
        int64_t http_server_read_header_timeout_ns; /* 0 = read timeout */
        int64_t http_server_write_timeout_ns;  /* 30s */
        int64_t http_server_idle_timeout_ns;   /* 2m */
        char *log_level;                /* debug | info | warn | error */
        char *log_format;               /* logfmt (json accepted, not honoured) */
        char *http_path_prefix;         /* "" */
        /* http_tls_config (common/tls_server.h): HTTPS when cert_file is set */
        char *http_tls_cert_file, *http_tls_key_file; /* "" */
        char *http_tls_client_auth_type;              /* "" = NoClientCert */
        char *http_tls_client_ca_file;                /* "" */
        char *tls_min_version;                        /* "" = VersionTLS12 */
    } server;

    struct {
        char *path_prefix;      /* "data": every derived directory lives under it */
        char *chunks_directory; /* common.storage.filesystem.chunks_directory */
        char *rules_directory;  /* common.storage.filesystem.rules_directory */
        int replication_factor; /* 1 */
        char *instance_addr;
    } common;

    struct {
        int64_t chunk_idle_period_ns;   /* 30m */
        int chunk_block_size;           /* 262144 bytes, uncompressed */
        int chunk_target_size;          /* 1572864 bytes, compressed */
        char *chunk_encoding;           /* Loki's names: lz4(-64k/-256k/-1M) or zstd */
        int64_t max_chunk_age_ns;       /* 2h */
        int64_t chunk_retain_period_ns; /* 0s */
        int64_t flush_check_period_ns;  /* 30s */
        int concurrent_flushes;         /* 32 */
        int64_t flush_op_timeout_ns;    /* 10m */
        int64_t flush_op_backoff_min_ns; /* 10s */
        int64_t flush_op_backoff_max_ns; /* 1m */
        int flush_op_backoff_retries;   /* 10 */
        struct {
            int enabled;                /* true */
            char *dir;                  /* "wal" (under path_prefix) */
            int64_t checkpoint_duration_ns; /* 5m */
            int flush_on_shutdown;      /* false */
            int64_t replay_memory_ceiling;  /* bytes, 4GB */
            double disk_full_threshold; /* 0.9 */
        } wal;
    } ingester;

    /* limits_config: the global limits, in ingester/limits.h's units. */
    struct noa_limits limits;

    struct {
        int64_t max_recv_msg_size;     /* bytes of a push body, 100 MiB */
        int64_t max_decompressed_size; /* bytes after decompression, 50x the above */
    } distributor;

    struct {
        char *external_url;
        char *datasource_uid;
        int64_t evaluation_interval_ns; /* 1m */
        int64_t poll_interval_ns;       /* 1m */
        char *storage_type;             /* ruler.storage.type: "local" or "" */
        char *storage_local_directory;  /* ruler.storage.local.directory */
        char *rule_path;                /* "/rules": scratch space in Loki */
        char *alertmanager_url;         /* comma-separated; "" = no notifications */
        int notification_queue_capacity; /* 10000 */
        int64_t notification_timeout_ns; /* 10s */
        int64_t for_outage_tolerance_ns; /* 1h */
        int64_t for_grace_period_ns;     /* 10m */
        int64_t resend_delay_ns;         /* 1m */
        int enable_api;                  /* true */
        char *wal_dir;                   /* "ruler-wal" (under path_prefix) */
        int64_t wal_truncate_frequency_ns; /* 1h */
        int remote_write_enabled;        /* false; clients: see noa_server_config_raw */
        int64_t remote_write_config_refresh_period_ns; /* 10s */
        int remote_write_add_org_id_header; /* true */
        char *evaluation_mode;           /* "local" */
        int64_t evaluation_max_jitter_ns; /* 0 */
    } ruler;

    struct {
        char *backend;         /* ruler_storage.backend */
        char *local_directory; /* ruler_storage.local.directory */
    } ruler_storage;

    struct {
        char *working_directory;            /* "compactor" (under path_prefix) */
        int64_t compaction_interval_ns;     /* 10m: between retention sweeps */
        int64_t apply_retention_interval_ns; /* 0 = compaction_interval */
        int retention_enabled;              /* false: never delete (Loki's default) */
        int64_t retention_delete_delay_ns;  /* 2h: index entry gone -> file deleted */
    } compactor;

    /* ---- derived by noa_server_config_load (owned, never NULL after it) ---- */
    char *wal_dir;        /* ingester.wal.dir, under path_prefix when relative default */
    char *chunks_dir;     /* chunks_directory or <path_prefix>/chunks */
    char *index_dir;      /* <path_prefix>/index */
    char *rules_dir;      /* ruler_storage.local / ruler.storage.local / common rules / <prefix>/rules */
    char *ruler_wal_dir;  /* ruler.wal.dir under path_prefix when the default */
    char *compactor_dir;  /* compactor.working_directory under path_prefix when the default */

    /* ---- private ---- */
    double ingestion_rate_mb;          /* staged, converted into limits */
    double ingestion_burst_size_mb;
    int64_t per_stream_rate_limit;
    int64_t per_stream_rate_limit_burst;
    struct noa_config_strings discover_service_name;
    struct noa_config_strings log_level_fields;
    struct noa_yaml_doc *doc;          /* the loaded file, for noa_server_config_raw */
};

/* The table (for docs and tests). */
const struct noa_config_table *noa_server_config_table(void);

/*
 * Fills cfg (caller's storage, need not be zeroed) from defaults, the config
 * file and the command line, in that order of precedence (flags win), then
 * validates and derives the directories.
 *
 * Command line: -name=value, -name value, --name=value and --name value;
 * bool flags also as -name. Handled here: -config.file=F (comma-separated:
 * the first that exists is used; without it ./config.yaml then
 * ./config/config.yaml are tried, and without any file noa runs on
 * defaults), -config.expand-env, -config.verify, -print-config-stderr,
 * -log-config-reverse-order, -h/-help/--help, -version, and every flag of the
 * table (-server.http-listen-port, -target, -auth.enabled, -log.level,
 * -common.path-prefix, ...). Unknown flags and stray arguments are errors.
 *
 * Returns 0 (see cfg->action for what to do) or NOA_EINVAL / -errno with a
 * message in err ("file:line:col: ..." for file errors, "invalid value ...
 * for flag -x" for flags). On error cfg is finalised (nothing to free).
 * Logs one warning per ignored block (component config).
 */
int noa_server_config_load(int argc, char **argv, struct noa_server_config *cfg,
                           struct noa_error *err);

/* Releases everything cfg owns. Safe on a zeroed or already finalised struct. */
void noa_server_config_fini(struct noa_server_config *cfg);

/* Appends the usage text (-help) generated from the table. */
void noa_server_config_usage(struct noa_buf *out);

/* Appends the effective configuration as YAML (GET /config and
 * -print-config-stderr): mode ALL, DEFAULTS (?mode=defaults) or DIFFS
 * (?mode=diffs). */
void noa_server_config_dump(const struct noa_server_config *cfg, enum noa_config_dump_mode mode,
                            struct noa_buf *out);

/* Appends docs/configuration.md: an introduction and the reference. */
void noa_server_config_markdown(struct noa_buf *out);

/*
 * A raw subtree of the loaded file for settings kept as YAML (RAW entries:
 * ruler.remote_write.clients, ruler.external_labels, limits_config.
 * retention_stream, ...): noa_server_config_raw(cfg, "ruler.remote_write.clients").
 * NULL when absent or when no file was loaded. Borrowed until _fini.
 */
const struct noa_yaml_node *noa_server_config_raw(const struct noa_server_config *cfg,
                                                  const char *path);

#endif
