/*
 * Loki's limits_config defaults for struct noa_limits. Pure: fills the
 * caller's struct; the lists point at static strings. Any thread.
 */
#include "ingester/limits.h"

#include <string.h>

/* Loki's -validation.discover-service-name default, in order. */
static char *default_service_name_labels[] = {
    "service",   "app",         "application",       "app_name",  "name",
    "app_kubernetes_io_name", "container", "container_name", "k8s_container_name",
    "component", "workload",    "job",               "k8s_job_name",
};

/* Loki's -validation.log-level-fields default, in order. */
static char *default_log_level_fields[] = {
    "level",    "LEVEL",    "Level", "log.level", "severity",      "SEVERITY",      "Severity",
    "SeverityText", "lvl",  "LVL",   "Lvl",       "severity_text", "Severity_Text", "SEVERITY_TEXT",
};

#define NS_PER_S 1000000000LL
#define MB (1024.0 * 1024.0)

void noa_limits_defaults(struct noa_limits *l)
{
    memset(l, 0, sizeof(*l));
    /* ingestion_rate_mb and ingestion_burst_size_mb are in MiB in Loki
     * (the value is multiplied by 1<<20). */
    l->ingestion_rate_bytes = 4 * MB;
    l->ingestion_burst_bytes = 6 * MB;
    l->per_stream_rate_bytes = 3 * MB;   /* per_stream_rate_limit: 3MB (ByteSize, 1024-based) */
    l->per_stream_burst_bytes = 15 * MB; /* per_stream_rate_limit_burst: 15MB */
    l->max_line_size = 256 * 1024;       /* 256KB */
    l->max_line_size_truncate = 0;
    l->max_label_names_per_series = 15;
    l->max_label_name_length = 1024;
    l->max_label_value_length = 2048;
    l->reject_old_samples = 1;
    l->reject_old_samples_max_age_ns = 7LL * 24 * 3600 * NS_PER_S; /* 1w */
    l->creation_grace_period_ns = 10LL * 60 * NS_PER_S;            /* 10m */
    l->max_global_streams_per_user = 5000;
    l->max_streams_per_user = 0;
    l->allow_structured_metadata = 1;
    l->max_structured_metadata_size = 64 * 1024; /* 64KB */
    l->max_structured_metadata_entries_count = 128;
    l->discover_log_levels = 1;
    l->discover_service_name = default_service_name_labels;
    l->n_discover_service_name =
        (int)(sizeof(default_service_name_labels) / sizeof(default_service_name_labels[0]));
    l->max_query_length_ns = 721LL * 3600 * NS_PER_S; /* 30d1h */
    l->max_entries_limit_per_query = 5000;
    l->max_query_series = 500;
    l->query_timeout_ns = 60 * NS_PER_S;
    l->max_query_lookback_ns = 0;
    l->max_streams_matchers_per_query = 1000;
    l->unordered_window_ns = 3600 * NS_PER_S; /* max_chunk_age (2h) / 2 */

    l->increment_duplicate_timestamp = 0;
    l->unordered_writes = 1;
    l->log_level_fields = default_log_level_fields;
    l->n_log_level_fields =
        (int)(sizeof(default_log_level_fields) / sizeof(default_log_level_fields[0]));
    l->max_query_range_ns = 0;
    l->max_query_parallelism = 32;
    l->max_concurrent_tail_requests = 10;
    l->max_chunks_per_query = 2000000;
    l->max_query_bytes_read = 0;
    l->split_queries_by_interval_ns = 3600 * NS_PER_S;
    l->volume_enabled = 1;
    l->volume_max_series = 1000;
    l->retention_period_ns = 0;
    l->ruler_max_rules_per_rule_group = 0;
    l->ruler_max_rule_groups_per_tenant = 0;
}
