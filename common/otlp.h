/*
 * OpenTelemetry logs (OTLP/HTTP, POST /otlp/v1/logs) turned into a push
 * request, as Loki 3.x's distributor does it (pkg/loghttp/push/otlp.go).
 * Decodes an ExportLogsServiceRequest in protobuf (hand-written, zero-copy)
 * or in the OTLP JSON encoding (jansson), then maps it onto
 * struct noa_push_request so the push path (validation, limits, WAL) is the
 * same as for /loki/api/v1/push. Pure functions; any thread.
 *
 * Protobuf schema (opentelemetry/proto, logs v1), the fields read:
 *
 *   message                   field  wire   meaning
 *   ExportLogsServiceRequest  1      len    ResourceLogs (repeated)
 *   ResourceLogs              1      len    Resource (occurrences merge)
 *                             2      len    ScopeLogs (repeated)
 *                             3      len    schema_url (ignored)
 *   Resource                  1      len    KeyValue attributes (repeated)
 *                             2      varint dropped_attributes_count (ignored)
 *   ScopeLogs                 1      len    InstrumentationScope (occurrences merge)
 *                             2      len    LogRecord (repeated)
 *                             3      len    schema_url (ignored)
 *   InstrumentationScope      1/2    len    name / version
 *                             3      len    KeyValue attributes (repeated)
 *                             4      varint dropped_attributes_count
 *   LogRecord                 1      fixed64 time_unix_nano
 *                             11     fixed64 observed_time_unix_nano
 *                             2      varint severity_number (enum, int32)
 *                             3      len    severity_text
 *                             5      len    AnyValue body
 *                             6      len    KeyValue attributes (repeated)
 *                             7      varint dropped_attributes_count
 *                             8      fixed32 flags
 *                             9/10   len    trace_id (0 or 16 bytes) / span_id (0 or 8)
 *                             12     len    event_name (ignored, as Loki does)
 *   KeyValue                  1      len    key;  2 len AnyValue value
 *   AnyValue (oneof; last wins) 1 len string, 2 varint bool, 3 varint int64,
 *                             4 fixed64 double, 5 len ArrayValue,
 *                             6 len KeyValueList, 7 len bytes
 *   ArrayValue / KeyValueList 1      len    AnyValue / KeyValue (repeated)
 *
 * A known field with the wrong wire type, tag 0, a stray end-group, an
 * over-long varint or a length past its message is an error; unknown fields
 * are skipped. AnyValue nesting deeper than opts->max_depth is an error.
 *
 * Mapping (Loki's defaults): resource attributes named in
 * noa_otlp_default_index_labels become stream labels, every other
 * attribute becomes structured metadata; names go through Prometheus'
 * NormalizeLabel (dots and other non [A-Za-z0-9_] runes become '_', a
 * leading digit gets "key_", a single leading '_' gets "key"); kvlist
 * values are flattened into name_subkey pairs; other values are rendered
 * as pdata's AsString does (bool "true", int decimal, double in ES6 form,
 * bytes base64, arrays and kvlists as Go's encoding/json would print them).
 * service_name is taken from service.name, else the first index label
 * named in opts->discover_service_name, else "unknown_service" (only when
 * that list is non-empty). Each entry's metadata, in Loki's order: log
 * attributes, observed_timestamp (when both timestamps are set),
 * severity_number, severity_text, dropped_attributes_count, flags, trace_id,
 * span_id (lower-case hex), then resource metadata, then scope attributes,
 * scope_name, scope_version, scope_dropped_attributes_count. The line is
 * the body rendered by AsString; the timestamp is time_unix_nano, else
 * observed_time_unix_nano, else opts->now_ns. Entries of resources with the
 * same labels share one stream, in first-seen order; a resource without
 * log records adds no stream (Loki sends its labels with no entries, which
 * changes nothing but label checks on an empty stream). A resource with no
 * index label at all gives empty label text, as in Loki (the push path
 * then rejects that stream's labels).
 */
#ifndef NOA_COMMON_OTLP_H
#define NOA_COMMON_OTLP_H

#include "common/buf.h"
#include "common/err.h"
#include "common/push.h"

#include <stddef.h>
#include <stdint.h>

/* AnyValue nesting allowed when opts->max_depth is 0 (protobuf's default
 * recursion limit). */
#define NOA_OTLP_DEFAULT_MAX_DEPTH 100

struct noa_otlp_opts {
    /* Most bytes the decoded request may take in its arena (and scratch);
     * more is NOA_ETOOBIG. 0 = no limit. */
    size_t max_mem;
    /* AnyValue nesting limit; 0 = NOA_OTLP_DEFAULT_MAX_DEPTH. */
    uint32_t max_depth;
    /* Loki's discover_service_name (label names, borrowed); n == 0: no
     * service_name is added. */
    char *const *discover_service_name;
    int n_discover_service_name;
    /* Timestamp for records that carry neither timestamp (Unix ns). */
    int64_t now_ns;
};

/* Loki 3.x's default resource attributes stored as index labels
 * (distributor.otlp.default_resource_attributes_as_index_labels), NULL
 * terminated. */
extern const char *const noa_otlp_default_index_labels[];

/*
 * Decodes `n` bytes of a protobuf ExportLogsServiceRequest into `out`
 * (which the call initialises). Strings point into `buf` (kept alive and
 * unchanged by the caller as long as `out`) or into out->arena. `opts` may
 * be NULL (no limits, no service_name, now = 0). Returns 0, NOA_EINVAL
 * (err->msg names the byte offset and the fault) or NOA_ETOOBIG. On failure
 * `out` is empty.
 */
int noa_otlp_decode_proto(const void *buf, size_t n, const struct noa_otlp_opts *opts,
                          struct noa_push_request *out, struct noa_error *err);

/*
 * Same for the OTLP JSON encoding (camelCase or snake_case field names,
 * trace/span ids in hex, 64-bit integers as strings or numbers, enums as
 * numbers). Every string is copied into out->arena, so `body` may be freed
 * after the call. Returns 0, NOA_EINVAL or NOA_ETOOBIG.
 */
int noa_otlp_decode_json(const void *body, size_t n, const struct noa_otlp_opts *opts,
                         struct noa_push_request *out, struct noa_error *err);

/*
 * Appends the body Loki sends with an OTLP error: a protobuf google.rpc.Status
 * whose code is omitted (0) and whose message is `msg`.
 */
void noa_otlp_encode_status(const char *msg, size_t len, struct noa_buf *out);

#endif
