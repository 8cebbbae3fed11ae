/*
 * The Go text/template subset that LogQL's line_format and label_format
 * run, with Loki's function map (Loki fmt.go + the sprig functions it
 * selects + Go's builtins).
 *
 * A template is parsed once (at query-plan time) into an immutable tree,
 * owned by struct noa_gotmpl, that any number of threads may execute at
 * once. Execution renders into a caller's buffer; the values it makes on
 * the way live in a struct noa_gotmpl_scratch the caller may provide (so a
 * scan loop allocates nothing per line once it and the buffer have grown).
 *
 * Semantics follow Go with the option missingkey=zero over a
 * map[string]string of labels: {{ .missing }} renders "".
 */
#ifndef NOA_COMMON_GOTMPL_H
#define NOA_COMMON_GOTMPL_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/* Default cap on rendered output and on any intermediate string. */
#define NOA_GOTMPL_MAX_OUTPUT (1024 * 1024)

struct noa_gotmpl;

#define NOA_GOTMPL_NBUFS 4

/* Reusable working memory for executions, owned by the caller (one per
 * thread, e.g. per query pipeline state; by default each thread has one
 * of its own). It keeps its memory between
 * calls and is reset at the start of each, so a scan loop allocates
 * nothing once it has grown to the largest line's needs. Values it holds
 * are valid until the next execution that uses it. Zero-initialise;
 * release with noa_gotmpl_scratch_fini. */
struct noa_gotmpl_scratch {
    struct noa_gotmpl_block *blocks;       /* private */
    struct noa_buf bufs[NOA_GOTMPL_NBUFS]; /* private: spare buffers */
};

void noa_gotmpl_scratch_fini(struct noa_gotmpl_scratch *s);

/* What a template sees while it runs. Zero-initialise, then fill. */
struct noa_gotmpl_data {
    /* Looks up label `name`; returns 1 and sets *val (borrowed for the
     * whole execution) when present, 0 when absent. NULL: no labels. */
    int (*lookup_cb)(void *ctx, const char *name, size_t len, struct noa_str *val);
    void *ctx; /* public; passed to lookup_cb */
    /* Optional: lists all labels in name order, for {{ . }} (printed as
     * Go prints a map), {{ range $k, $v := . }} and {{ len . }}; NULL
     * acts as an empty map. It calls emit_cb for each label (the strings
     * borrowed for the whole execution) and returns 0. */
    int (*each_cb)(void *ctx, void (*emit_cb)(void *ectx, struct noa_str name, struct noa_str val),
                   void *ectx);
    struct noa_str line;             /* public; __line__; borrowed for the call */
    int64_t ts_ns;                   /* public; __timestamp__, Unix nanoseconds */
    struct noa_gotmpl_scratch *work; /* public, optional; NULL: one per thread,
                                        kept for the thread's life */
    size_t max_output;               /* public; bytes; 0: NOA_GOTMPL_MAX_OUTPUT */
    long max_steps;                  /* public; executed nodes and calls; 0: 10 million */
};

/* Parses a template; the error names the template "line" as Loki's
 * line_format does. Same as noa_gotmpl_parse_named("line", ...). */
int noa_gotmpl_parse(const char *text, size_t len, struct noa_gotmpl **out, struct noa_error *err);

/* Parses text into *out (caller frees with noa_gotmpl_free). name appears
 * in error messages ("template: <name>:1: unclosed action"); Loki uses
 * "line" for line_format and "label" for label_format. Errors carry the
 * 1-based line and column. Returns 0 or NOA_EINVAL / NOA_ETOOBIG (nesting
 * deeper than 100 levels, templates over 1 MiB). */
int noa_gotmpl_parse_named(const char *name, const char *text, size_t len, struct noa_gotmpl **out,
                           struct noa_error *err);

void noa_gotmpl_free(struct noa_gotmpl *t);

/* Renders t with data, appending to out. On error returns NOA_EINVAL,
 * NOA_ETOOBIG (output or a made string over max_output) or NOA_ELIMIT
 * (max_steps spent), fills err with a Go-style message ("template:
 * line:1:2: executing \"line\" at <.foo>: ..."; Loki puts it in
 * __error_details__), and out->len is restored to its value on entry.
 * Thread-safe for distinct data/out/work. Callbacks must not execute
 * templates themselves (the thread's default scratch is in use). */
int noa_gotmpl_exec(const struct noa_gotmpl *t, const struct noa_gotmpl_data *data,
                    struct noa_buf *out, struct noa_error *err);

/* 1 when the template is plain text without actions (callers may skip
 * executing it); *text gets the text, borrowed until noa_gotmpl_free. */
int noa_gotmpl_literal(const struct noa_gotmpl *t, struct noa_str *text);

#endif
