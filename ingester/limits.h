/*
 * Per-tenant limits, with Loki's `limits_config` names and defaults, and the
 * push validation that applies them. The struct is filled by the config
 * loader (querier/server_config.c); validation functions are pure.
 */
#ifndef NOA_INGESTER_LIMITS_H
#define NOA_INGESTER_LIMITS_H

#include <stdint.h>

struct noa_limits {
    /* ingestion_rate_mb (default 4) and ingestion_burst_size_mb (6), in bytes */
    double ingestion_rate_bytes;   /* bytes per second */
    double ingestion_burst_bytes;  /* bytes */
    double per_stream_rate_bytes;  /* per_stream_rate_limit, default 3MB */
    double per_stream_burst_bytes; /* per_stream_rate_limit_burst, default 15MB */
    int64_t max_line_size;         /* bytes, default 256KB; 0 = unlimited */
    int max_line_size_truncate;    /* default false */
    int max_label_names_per_series;   /* default 15 */
    int max_label_name_length;        /* default 1024 */
    int max_label_value_length;       /* default 2048 */
    int reject_old_samples;           /* default true */
    int64_t reject_old_samples_max_age_ns; /* default 1w */
    int64_t creation_grace_period_ns;      /* default 10m */
    int max_global_streams_per_user;  /* default 5000; 0 = unlimited */
    int max_streams_per_user;         /* default 0 (off) */
    int allow_structured_metadata;    /* default true */
    int64_t max_structured_metadata_size; /* bytes, default 64KB */
    int max_structured_metadata_entries_count; /* default 128 */
    int discover_log_levels;          /* default true */
    /* discover_service_name: labels tried in order; n == 0 disables */
    char **discover_service_name;
    int n_discover_service_name;
    int64_t max_query_length_ns;      /* default 721h */
    int max_entries_limit_per_query;  /* default 5000 */
    int max_query_series;             /* default 500 */
    int64_t query_timeout_ns;         /* default 1m */
    int64_t max_query_lookback_ns;    /* default 0 (off) */
    int max_streams_matchers_per_query; /* default 1000 */
    int64_t unordered_window_ns;      /* derived: max_chunk_age / 2 */

    /* Added with the config loader (querier/server_config.c); Loki's names. */
    int increment_duplicate_timestamp; /* default false */
    int unordered_writes;              /* default true (Loki deprecated the switch) */
    /* log_level_fields: structured-metadata/JSON fields read for the level,
     * borrowed like discover_service_name; n == 0 uses the built-in list */
    char **log_level_fields;
    int n_log_level_fields;
    int64_t max_query_range_ns;        /* max_query_range, default 0 (off) */
    int max_query_parallelism;         /* default 32 */
    int max_concurrent_tail_requests;  /* default 10 */
    int max_chunks_per_query;          /* default 2000000 */
    int64_t max_query_bytes_read;      /* bytes, default 0 (off) */
    int64_t split_queries_by_interval_ns; /* default 1h */
    int volume_enabled;                /* default true */
    int volume_max_series;             /* default 1000 */
    int64_t retention_period_ns;       /* default 0 (keep forever) */
    int ruler_max_rules_per_rule_group;   /* default 0 (off) */
    int ruler_max_rule_groups_per_tenant; /* default 0 (off) */
};

/* Fills l with Loki's defaults (discover_service_name gets Loki's list,
 * borrowed static strings). */
void noa_limits_defaults(struct noa_limits *l);

#endif
