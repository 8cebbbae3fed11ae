/*
 * Ingest-time enrichment, as Loki 3.x does it in its push parser and
 * distributor: the `service_name` stream label (discover_service_name) and
 * the `detected_level` structured metadata (discover_log_levels).
 *
 * Level detection runs on every accepted line, so it allocates nothing and
 * uses no regex: a hand-written scan that follows Loki's field_detection.go
 * step by step (level-like stream label, then level-like metadata, then the
 * OTLP severity_number, then a JSON or logfmt level field, then a keyword
 * scan of the line). Loki does not bound the scan, and neither do we: every
 * step is a single linear pass.
 *
 * Pure functions; any thread. Returned slices are either static strings or
 * borrow from the arguments.
 */
#ifndef NOA_INGESTER_ENRICH_H
#define NOA_INGESTER_ENRICH_H

#include "common/buf.h"
#include "common/labels.h"
#include "ingester/limits.h"

#include <stdint.h>

#define NOA_ENRICH_SERVICE_NAME "service_name"
#define NOA_ENRICH_UNKNOWN_SERVICE "unknown_service"
#define NOA_ENRICH_LEVEL_LABEL "detected_level"
/* Loki's log_level_from_json_max_depth default: the top object and one nested level. */
#define NOA_ENRICH_JSON_MAX_DEPTH 2
/* Nesting we follow when the depth is "unlimited" (<= 0): Go grows its
 * stack, we do not, so a hostile line cannot recurse without bound. */
#define NOA_ENRICH_JSON_HARD_DEPTH 64

/* Loki's normalised level values. */
#define NOA_ENRICH_TRACE "trace"
#define NOA_ENRICH_DEBUG "debug"
#define NOA_ENRICH_INFO "info"
#define NOA_ENRICH_WARN "warn"
#define NOA_ENRICH_ERROR "error"
#define NOA_ENRICH_CRITICAL "critical"
#define NOA_ENRICH_FATAL "fatal"
#define NOA_ENRICH_UNKNOWN "unknown"

/* Options for level detection (Loki's log_level_fields and
 * log_level_from_json_max_depth). Zero-initialised means Loki's defaults
 * except json_max_depth, where 0 means unlimited as in Loki: use
 * noa_enrich_level_opts_default() for the defaults. */
struct noa_enrich_level_opts {
    const struct noa_str *fields; /* borrowed; NULL or n_fields == 0: Loki's 14 defaults */
    uint32_t n_fields;
    int json_max_depth; /* <= 0: unlimited (capped at NOA_ENRICH_JSON_HARD_DEPTH) */
};

/* {NULL, 0, NOA_ENRICH_JSON_MAX_DEPTH}. */
struct noa_enrich_level_opts noa_enrich_level_opts_default(void);

/*
 * service_name discovery (Loki push.go). ls must be sorted. Returns 1 and
 * sets *value when a service_name label must be added: the value of the
 * first label of lim->discover_service_name present in ls, else
 * "unknown_service". Returns 0 when nothing is added: ls already has
 * service_name, the discovery list is empty, or the stream is one of Loki's
 * internal streams (__aggregated_metric__ / __pattern__ labels).
 * *value borrows from ls or is static.
 */
int noa_enrich_service_name(const struct noa_limits *lim, const struct noa_labels *ls,
                            struct noa_str *value);

/*
 * Loki's normalizeLogLevel: case-insensitive trace/trc, debug/dbg,
 * info/inf/information, warn/wrn/warning, error/err, critical, fatal map to
 * the lowercase canonical names; anything else is returned unchanged
 * (borrowed).
 */
struct noa_str noa_enrich_normalize_level(struct noa_str v);

/*
 * The level Loki derives for one entry that has no detected_level yet:
 * a level-like stream label (normalised), else level-like metadata
 * (normalised), else from severity_number metadata (OTLP ranges), else from
 * the line (JSON field, logfmt field, keyword scan), else "unknown".
 * A returned empty slice means "add nothing" (Loki does so when the
 * level-like label or metadata is present but empty).
 */
struct noa_str noa_enrich_detect_level(const struct noa_enrich_level_opts *opts,
                                       const struct noa_labels *stream,
                                       const struct noa_label *meta, uint32_t n_meta,
                                       struct noa_str line);

/* Only the line part of the above: JSON / logfmt field, then keyword scan.
 * Always returns one of the canonical names (never empty). */
struct noa_str noa_enrich_line_level(const struct noa_enrich_level_opts *opts, struct noa_str line);

/* Loki's keyword scan alone (detectLevelFromLogLine): the first of trace,
 * debug, fatal, critical, error, err, warning, warn, info whose first
 * occurrence in the lowercased line stands as a word; else "unknown". */
struct noa_str noa_enrich_keyword_level(struct noa_str line);

/* 1 when the stream's labels hold a level field, so detection must look at
 * them; validation asks once per stream and passes NULL labels otherwise,
 * which keeps the per-entry path free of label lookups. */
int noa_enrich_stream_has_level(const struct noa_enrich_level_opts *opts,
                                const struct noa_labels *stream);

/*
 * Applies detected_level to one entry's metadata, as Loki's distributor:
 * when meta already holds detected_level, its value is normalised in place
 * and 0 is returned; otherwise the detected level is appended at
 * meta[*n_meta] (the caller guarantees room for one more pair) and 1 is
 * returned, or 0 when the detected level is empty.
 */
int noa_enrich_apply_level(const struct noa_enrich_level_opts *opts,
                           const struct noa_labels *stream, struct noa_label *meta,
                           uint32_t *n_meta, struct noa_str line);

#endif
