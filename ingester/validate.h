/*
 * Push validation: turns a decoded push request (common/push.h) into the
 * streams the ingester may accept, as Loki 3.x's push parser and distributor
 * do, with their error texts, order of checks and discard reasons. Also the
 * tenant (X-Scope-OrgID) rules of dskit.
 *
 * What happens to a request, in Loki's order:
 *   1. no streams at all                -> NOA_EEMPTY (422)
 *   2. every stream's labels parse      -> else NOA_EINVAL (400) "couldn't parse labels: ..."
 *      (a single bad stream fails the whole request, as in Loki's push parser);
 *      service_name is added (ingester/enrich.h)
 *   3. per stream with entries: lines truncated when max_line_size_truncate;
 *      label checks (missing, count, name/value length, duplicates) reject
 *      the whole stream; per entry: too old, too new, line too long,
 *      structured metadata disallowed / too large / too many reject the entry;
 *      accepted entries get their metadata names sanitised and a
 *      detected_level added.
 *   4. streams with identical canonical labels are merged.
 * Rejections in step 3 do not fail the call: the caller stores what was
 * accepted, then answers 400 with out->errors when it is not empty (Loki
 * stores the valid remainder before it answers 400).
 *
 * Pure logic, no I/O; any thread, one call at a time per output.
 */
#ifndef NOA_INGESTER_VALIDATE_H
#define NOA_INGESTER_VALIDATE_H

#include "common/buf.h"
#include "common/err.h"
#include "common/labels.h"
#include "common/push.h"
#include "ingester/limits.h"

#include <stddef.h>
#include <stdint.h>

/* Loki's discard reasons (the `reason` label of loki_discarded_samples_total
 * and loki_discarded_bytes_total). The last five are raised outside this
 * module (rate limiter, ingester) and listed here so one table names them. */
enum noa_validate_reason {
    NOA_VALIDATE_INVALID_LABELS = 0,    /* invalid_labels */
    NOA_VALIDATE_MISSING_LABELS,        /* missing_labels */
    NOA_VALIDATE_MAX_LABEL_NAMES,       /* max_label_names_per_series */
    NOA_VALIDATE_LABEL_NAME_TOO_LONG,   /* label_name_too_long */
    NOA_VALIDATE_LABEL_VALUE_TOO_LONG,  /* label_value_too_long */
    NOA_VALIDATE_DUPLICATE_LABEL_NAMES, /* duplicate_label_names */
    NOA_VALIDATE_TOO_OLD,               /* greater_than_max_sample_age */
    NOA_VALIDATE_TOO_NEW,               /* too_far_in_future */
    NOA_VALIDATE_LINE_TOO_LONG,         /* line_too_long */
    NOA_VALIDATE_SM_DISALLOWED,         /* disallowed_structured_metadata */
    NOA_VALIDATE_SM_TOO_LARGE,          /* structured_metadata_too_large */
    NOA_VALIDATE_SM_TOO_MANY,           /* structured_metadata_too_many */
    NOA_VALIDATE_RATE_LIMITED,          /* rate_limited */
    NOA_VALIDATE_STREAM_RATE_LIMIT,     /* per_stream_rate_limit */
    NOA_VALIDATE_STREAM_LIMIT,          /* stream_limit */
    NOA_VALIDATE_TOO_FAR_BEHIND,        /* too_far_behind */
    NOA_VALIDATE_BODY_TOO_LARGE,        /* request_body_too_large */
    NOA_VALIDATE_REASON_COUNT
};

/* At most this many distinct messages are spelled out in the 400 body;
 * further distinct ones are counted in a closing "; N more errors not
 * shown" (Loki prints them all; we bound the response). */
#define NOA_VALIDATE_MAX_ERRORS 10

/* Loki's hard limit on one stream's label text (push.go), a 413. */
#define NOA_VALIDATE_MAX_LABELS_TEXT (1u << 24)

/* Longest tenant ID dskit accepts. */
#define NOA_VALIDATE_TENANT_MAX 150

struct noa_valid_stream {
    struct noa_labels labels;       /* sorted, with service_name; in the arena */
    struct noa_str canonical;       /* `{a="1", b="2"}`; in the arena */
    uint64_t fp;                    /* noa_labels_hash(&labels) */
    struct noa_push_entry *entries; /* in the arena; lines and metadata strings borrow from
                                     * the request (sanitised / added ones live in the arena) */
    uint32_t n_entries;
    uint64_t bytes; /* sum of line + metadata name + value bytes */
};

struct noa_validated {
    struct noa_valid_stream *streams; /* in the arena */
    uint32_t n;
    uint64_t accepted_lines;
    uint64_t accepted_bytes; /* line + metadata bytes, detected_level included: what the
                              * rate limits charge (Loki's EntryTotalSize) */
    uint64_t rejected_lines;
    /* Per reason, as Loki counts them: a stream rejected for its labels also
     * counts under invalid_labels (Loki adds both), and missing_labels counts
     * one sample and no bytes. */
    uint64_t discarded_lines[NOA_VALIDATE_REASON_COUNT];
    uint64_t discarded_bytes[NOA_VALIDATE_REASON_COUNT];
    /* Lines cut by max_line_size_truncate (loki_mutated_*{reason="line_too_long"}). */
    uint64_t truncated_lines;
    uint64_t truncated_bytes;
    /* The response body for a non-204 answer (no trailing newline; the
     * HTTP layer adds it as Go's http.Error does). Owned; see _fini. */
    struct noa_buf errors;
};

/*
 * Validates req against lim at time now_ns (Unix ns) and fills *out (which
 * needs no initialisation). All output memory except out->errors comes from
 * arena, which must outlive the use of *out; lines stay borrowed from req,
 * so req must live as long too.
 *
 * Returns 0 when the request was processed: out->n streams are accepted
 * (possibly none) and out->errors holds the 400 body when anything was
 * rejected. Otherwise nothing is accepted and out->errors holds the body:
 * NOA_EEMPTY (422) for a request without streams, NOA_EINVAL (400) when a
 * stream's labels do not parse, NOA_ETOOBIG (413) for label text over
 * NOA_VALIDATE_MAX_LABELS_TEXT. Call noa_validated_fini in every case.
 */
int noa_validate_push(const struct noa_limits *lim, int64_t now_ns,
                      const struct noa_push_request *req, struct noa_arena *arena,
                      struct noa_validated *out);

/* Releases out->errors. The arena memory belongs to the arena. */
void noa_validated_fini(struct noa_validated *out);

/* Loki's name for a reason ("greater_than_max_sample_age", ...). */
const char *noa_validate_reason_name(enum noa_validate_reason r);

/*
 * The tenant of a push, as Loki resolves it. With auth off the header is
 * ignored and the tenant is "fake". With auth on: a missing or empty header
 * is NOA_EAUTH (401, "no org id"); otherwise the value is split on '|',
 * each part checked with dskit's rules (letters, digits and !-_.*'();
 * at most 150 bytes; not "." or "..") and duplicates folded; more than one
 * distinct tenant is NOA_EINVAL "multiple org IDs present" (a push names
 * one tenant). Check failures are NOA_EINVAL with dskit's text in err->msg.
 * out receives the NUL-terminated tenant; cap must be at least
 * NOA_VALIDATE_TENANT_MAX + 1 (-ENOSPC otherwise).
 */
int noa_validate_tenant(const char *org_id_header, int auth_enabled, char *out, size_t cap,
                        struct noa_error *err);

/* Formats Unix ns as Go's time.RFC3339 in UTC ("2024-01-02T03:04:05Z",
 * fractional seconds dropped), as Loki prints timestamps in its messages.
 * Writes at most cap bytes including the NUL; returns out. */
char *noa_validate_rfc3339(int64_t ns, char *out, size_t cap);

#endif
