/*
 * The per-line label builder of the log pipeline: one line's labels in
 * Loki's three categories (stream labels, structured metadata, parsed
 * labels) plus the error pair (__error__, __error_details__), with Loki's
 * precedence and `_extracted` collision rules (pkg/logql/log/labels.go).
 *
 * Stream labels are borrowed for the life of the stream; metadata and
 * parsed labels are copied into a reused byte store, so a builder that
 * has warmed up does no allocation per line. Lookups by name go through
 * a per-line hash index, so a parser adding dozens of labels per line
 * does not pay a quadratic walk. Owned by one query thread.
 */
#ifndef NOA_COMMON_LBUILDER_H
#define NOA_COMMON_LBUILDER_H

#include "common/buf.h"
#include "common/labels.h"

#include <stdint.h>

enum noa_lb_cat {
    NOA_LB_STREAM = 0, /* indexed stream labels (borrowed) */
    NOA_LB_META = 1,   /* structured metadata of the entry */
    NOA_LB_PARSED = 2, /* set by parsers and formatters */
};

#define NOA_LB_ERROR "__error__"
#define NOA_LB_ERROR_DETAILS "__error_details__"
#define NOA_LB_DUP_SUFFIX "_extracted"

#define NOA_LB_ERR_JSON "JSONParserErr"
#define NOA_LB_ERR_LOGFMT "LogfmtParserErr"
#define NOA_LB_ERR_LABELFILTER "LabelFilterErr"
#define NOA_LB_ERR_SAMPLE "SampleExtractionErr"
#define NOA_LB_ERR_TEMPLATE "TemplateFormatErr"

struct noa_lb_ent;  /* private */
struct noa_lb_slot; /* private */

#define NOA_LB_SCRATCH 16

struct noa_lbuilder {
    /* all private; use the functions below */
    struct noa_lb_ent *ent; /* stream entries first, then metadata and parsed */
    uint32_t n, cap;
    uint32_t nstream;       /* entries [0, nstream) are the stream labels */
    struct noa_buf store;   /* bytes of metadata and parsed names/values */
    struct noa_buf err;     /* __error__ value; empty = no error */
    struct noa_buf details; /* __error_details__ value */
    struct noa_label *out;  /* scratch for noa_lbuilder_labels */
    uint32_t out_cap;
    /* A hash index of the line's entries (metadata and parsed), so that
     * adding or finding a label does not walk the others; a slot whose
     * gen is not the current one is empty, so a new line bumps gen
     * instead of clearing the table. */
    struct noa_lb_slot *slot;
    uint32_t slot_cap; /* a power of two, or 0 */
    uint32_t gen;
    uint64_t stream_bloom; /* bit (hash & 63) per stream label name */
    uint64_t meta_bloom;   /* the same for the line's metadata (may be stale) */
    /* Public: scratch buffers for the pipeline stages run with this
     * builder. Compiled stages keep no per-line state, so one compiled
     * pipeline serves many threads, each with its own builder. Indices
     * 0-7 belong to common/logparse.c; 8-15 are free for other stages. */
    struct noa_buf scratch[NOA_LB_SCRATCH];
};

/* Zero-initialise, or call _init; _fini releases everything. */
void noa_lbuilder_init(struct noa_lbuilder *b);
void noa_lbuilder_fini(struct noa_lbuilder *b);

/* Starts a new stream: `stream` (borrowed until the next reset_stream or
 * _fini) becomes the stream category, and the line state is cleared. */
void noa_lbuilder_reset_stream(struct noa_lbuilder *b, const struct noa_labels *stream);
/* Starts a new line of the current stream: drops metadata and parsed
 * labels, undeletes stream labels and clears the error. No allocation. */
void noa_lbuilder_reset(struct noa_lbuilder *b);

/* Raw set in one category: replaces the value of `name` in that category
 * (or adds it) and undeletes the name. Bytes are copied. Setting a stream
 * label stores an override in the parsed category (label_format's rule:
 * the base name is written directly and hides the stream value). */
void noa_lbuilder_set(struct noa_lbuilder *b, enum noa_lb_cat cat, struct noa_str name,
                      struct noa_str value);
/* Adds an entry's structured metadata pair: a name held by a stream label
 * goes to name_extracted. */
void noa_lbuilder_add_meta(struct noa_lbuilder *b, struct noa_str name, struct noa_str value);
/* What parsers call: a name held by a stream label or by structured
 * metadata goes to name_extracted (never stacked). Returns 1 when the value
 * was stored, 0 when skipped because a parser already extracted the final
 * name on this line (first value wins, across parser stages too). */
int noa_lbuilder_add_parsed(struct noa_lbuilder *b, struct noa_str name, struct noa_str value);
/* What regexp and pattern call: the same renaming as add_parsed, but the
 * value always replaces an earlier one (Loki's plain Set). */
void noa_lbuilder_set_parsed(struct noa_lbuilder *b, struct noa_str name, struct noa_str value);
/* The name a parser would write for `name` (name or name_extracted),
 * formatted into out (reset first). */
void noa_lbuilder_parsed_name(const struct noa_lbuilder *b, struct noa_str name,
                              struct noa_buf *out);

/* Current value: parsed > metadata > stream, deleted ones skipped.
 * "__error__" / "__error_details__" read the error pair (absent when
 * empty). Returns 1 and fills *value (borrowed until the builder changes)
 * when present, 0 when absent. */
int noa_lbuilder_get(const struct noa_lbuilder *b, struct noa_str name, struct noa_str *value);
/* Like get, limited to one category. */
int noa_lbuilder_get_cat(const struct noa_lbuilder *b, enum noa_lb_cat cat, struct noa_str name,
                         struct noa_str *value);
static inline int noa_lbuilder_has(const struct noa_lbuilder *b, struct noa_str name)
{
    struct noa_str v;
    return noa_lbuilder_get(b, name, &v);
}
/* Deletes `name` from every category; "__error__" and "__error_details__"
 * clear the error value / details. */
void noa_lbuilder_del(struct noa_lbuilder *b, struct noa_str name);

/* The error pair. set_err overwrites (parsers); callers wanting
 * "first error wins" (label filters) check has_err first. */
void noa_lbuilder_set_err(struct noa_lbuilder *b, struct noa_str err, struct noa_str details);
static inline int noa_lbuilder_has_err(const struct noa_lbuilder *b)
{
    return b->err.len > 0;
}
static inline struct noa_str noa_lbuilder_err(const struct noa_lbuilder *b)
{
    return (struct noa_str){b->err.data, b->err.len};
}
void noa_lbuilder_clear_err(struct noa_lbuilder *b);

/* A point in a line's life to come back to (the pipeline's filter-first
 * path parses a line for its filters, then rewinds and parses it fully). */
struct noa_lbuilder_mark {
    uint32_t n;       /* private */
    size_t store_len; /* private */
};

/* Records the current line state in *m and returns 1 when it can be
 * rewound to: no parsed labels, no error, no deleted stream label (what
 * a line holds before its first label-changing stage). Returns 0
 * otherwise; *m must not be used then. */
int noa_lbuilder_mark(const struct noa_lbuilder *b, struct noa_lbuilder_mark *m);
/* Drops every label added since the mark and clears the error. Between
 * the two calls, only add parsed labels and set or clear the error. */
void noa_lbuilder_rewind(struct noa_lbuilder *b, const struct noa_lbuilder_mark *m);

/* Visits every visible label (no error pair), unsorted. The callback
 * returns nonzero to stop; it must not change the builder. */
void noa_lbuilder_each(const struct noa_lbuilder *b,
                       int (*cb)(void *ctx, enum noa_lb_cat cat, struct noa_str name,
                                 struct noa_str value),
                       void *ctx);

/* Keeps only the visible labels for which keep_cb returns nonzero and
 * deletes the others by name from every category (the `| keep` stage).
 * The error pair is not visited and stays. Do not change the builder
 * from the callback. */
void noa_lbuilder_retain(struct noa_lbuilder *b,
                         int (*keep_cb)(void *ctx, struct noa_str name, struct noa_str value),
                         void *ctx);

/* The final label set, sorted by name: one label per name (parsed >
 * metadata > stream), then __error__ and __error_details__ when set. The
 * array and strings are borrowed until the builder changes. */
void noa_lbuilder_labels(struct noa_lbuilder *b, struct noa_labels *out);

#endif
