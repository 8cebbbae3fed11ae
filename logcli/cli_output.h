/*
 * noa-logcli's printing, byte-for-byte as Loki's logcli prints: timestamps
 * in Go layouts, label sets as loghttp.LabelSet.String(), the default / raw
 * / jsonl entry formats, common-label elision and padding for one batch of
 * streams, Go's JSON string escaping and json.MarshalIndent layout for
 * metric results. Pure functions over buffers (no I/O); any thread.
 */
#ifndef NOA_LOGCLI_CLI_OUTPUT_H
#define NOA_LOGCLI_CLI_OUTPUT_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

enum noa_cli_output_mode {
    NOA_CLI_OUTPUT_DEFAULT = 0,
    NOA_CLI_OUTPUT_RAW,
    NOA_CLI_OUTPUT_JSONL,
};

/* --output-timestamp-format values (Go layout names). */
enum noa_cli_output_tsfmt {
    NOA_CLI_OUTPUT_TS_RFC3339 = 0,
    NOA_CLI_OUTPUT_TS_RFC3339NANO,
    NOA_CLI_OUTPUT_TS_RFC822Z,
    NOA_CLI_OUTPUT_TS_RFC1123Z,
    NOA_CLI_OUTPUT_TS_STAMPMICRO,
    NOA_CLI_OUTPUT_TS_STAMPMILLI,
    NOA_CLI_OUTPUT_TS_STAMPNANO,
    NOA_CLI_OUTPUT_TS_UNIXDATE,
};

/* A label set: parallel arrays of NUL-terminated names and values, sorted
 * by name. Strings are borrowed from whoever built the set. */
struct noa_cli_labels {
    const char **names;
    const char **values;
    size_t n;
};

struct noa_cli_output_opts {
    enum noa_cli_output_mode mode;
    enum noa_cli_output_tsfmt tsfmt; /* default mode only */
    int utc;                         /* 1: -z UTC, 0: the process's local zone */
    int no_labels;
    int colored;  /* --colored-output: a colour per label set (FNV-32a) */
    int tty;      /* 1: stdout is a terminal, so fatih/color would colour */
};

/* Appends ts (Unix ns) in Go layout fmt, in UTC or local time. */
void noa_cli_output_time(struct noa_buf *out, int64_t ts_ns, enum noa_cli_output_tsfmt fmt, int utc);

/* Appends s as Go's strconv.Quote does (quotes included). */
void noa_cli_output_goquote(struct noa_buf *out, const char *s, size_t n);

/* Appends s as a JSON string as Go's encoding/json writes it (HTML-safe
 * escapes \u003c \u003e \u0026, U+2028/9 escaped, invalid UTF-8 -> U+FFFD). */
void noa_cli_output_json_str(struct noa_buf *out, const char *s, size_t n);

/* Appends `{a="b", c="d"}` (LabelSet.String()). */
void noa_cli_output_labels(struct noa_buf *out, const struct noa_cli_labels *ls);

/* Appends one entry line, with its newline, in the chosen mode. labels is
 * the reduced set to show; max_labels_len the batch's padding width. */
void noa_cli_output_entry(struct noa_buf *out, const struct noa_cli_output_opts *o, int64_t ts_ns,
                          const struct noa_cli_labels *labels, size_t max_labels_len,
                          const char *line, size_t line_len);

/*
 * Appends the JSON text `json` re-indented as Go's json.MarshalIndent(v,
 * "", "  ") prints it (objects and arrays one member per line, empty ones
 * as {} / [], `"key": value`), without a trailing newline. Returns 0, or
 * NOA_EINVAL when json is not valid JSON.
 */
int noa_cli_output_indent(struct noa_buf *out, const char *json, size_t len);

/* The `YYYY/MM/DD HH:MM:SS ` prefix of Go's standard logger (local time). */
void noa_cli_output_logprefix(struct noa_buf *out, int64_t now_ns);

#endif
