/*
 * The log pipeline of a LogQL query, compiled from the parsed stages
 * (common/logql.h) and run line by line: line filters, parsers (json,
 * logfmt, regexp, pattern, unpack), label filters, line_format,
 * label_format, drop, keep, decolorize. The same pipeline runs wherever
 * lines are (the querier now; ingester push-down and shipper stages later).
 *
 * A compiled pipeline is immutable and shareable across threads; each
 * thread runs it with its own state (label builder and line buffers).
 * Running allocates nothing per line once the state has warmed up. A
 * json or logfmt parser directly followed by label filters runs "filter
 * first" (pipeline.c): lines are parsed for the filters' names only and
 * fully parsed when the filters keep them, with the same results. A
 * caller that reads only some labels after a run (a metric query's `by`)
 * can have the last json or logfmt parser extract just those
 * (noa_pipeline_new_want).
 */
#ifndef NOA_COMMON_PIPELINE_H
#define NOA_COMMON_PIPELINE_H

#include "common/buf.h"
#include "common/err.h"
#include "common/gotmpl.h"
#include "common/lbuilder.h"
#include "common/logql.h"

#include <stdint.h>

struct noa_pipeline;

/* One thread's per-line state. Zero-initialise or _init; _fini frees. */
struct noa_pipeline_state {
    struct noa_lbuilder lb;   /* public: the line's labels after a run */
    struct noa_buf lines[2];  /* private: rewritten lines (formatters, decolorize) */
    struct noa_buf scratch;   /* private */
    struct noa_gotmpl_scratch tmpl; /* private: template working memory, reused */
    uint64_t prefiltered; /* read-only: lines dropped by filter-first parsing */
};

void noa_pipeline_state_init(struct noa_pipeline_state *st);
void noa_pipeline_state_fini(struct noa_pipeline_state *st);

/*
 * Compiles the stages of a LOG expression (borrowed: the pipeline keeps
 * pointers into it, so it must outlive the pipeline). Returns 0 or
 * NOA_EINVAL for an invalid stage (a bad regex, pattern, template...; err
 * says which, in Loki's words).
 */
int noa_pipeline_new(const struct noa_logql_expr *log, struct noa_pipeline **out,
                     struct noa_error *err);
void noa_pipeline_free(struct noa_pipeline *p);

/*
 * Like noa_pipeline_new, for a caller that reads only some labels after a
 * run (a metric query grouping `by` names, unwrapping one, filtering after
 * unwrap): names (borrowed, copied; NULL = every label matters) are those
 * it reads. When the last parser is `| json` or `| logfmt` without
 * extraction expressions and only line filters, label filters and drop
 * follow it, that parser extracts just names, the names later
 * filters read and their `_extracted` forms, while still validating the
 * whole line: which lines are kept, the error pair, the stream labels,
 * metadata and every label in names are exactly those of a full run;
 * other parsed labels may be missing (or, for an `x_extracted` name not in
 * names, hold another value: the line's own key `x_extracted` skipped
 * leaves that name to the renamed `x`).
 */
int noa_pipeline_new_want(const struct noa_logql_expr *log, const struct noa_str *names, unsigned n,
                          struct noa_pipeline **out, struct noa_error *err);

/* 1 when noa_pipeline_new_want pruned a parser (runs may then miss labels
 * outside its names: rebuild with noa_pipeline_new to show all labels). */
int noa_pipeline_pruned(const struct noa_pipeline *p);

/* 1 when no stage can change a line's text or labels (filters only): the
 * caller may then keep lines and stream labels as they are. */
int noa_pipeline_filters_only(const struct noa_pipeline *p);

/*
 * Runs the pipeline over one line. st->lb must hold the line's stream
 * labels and metadata (noa_lbuilder_reset_stream / _reset, _add_meta).
 * Returns 1 when the line is kept, with *out_line the (possibly rewritten)
 * line, valid until the next run on this state, and st->lb its labels;
 * 0 when a stage dropped it.
 */
int noa_pipeline_run(const struct noa_pipeline *p, struct noa_pipeline_state *st, int64_t ts_ns,
                     struct noa_str line, struct noa_str *out_line);

/*
 * The literals every line the pipeline keeps must contain, as stored:
 * calls group_cb once per positive literal line filter (`|= "a" or "b"`,
 * or a `|~` the line filter simplified to literals) that runs before any
 * stage that rewrites the line (line_format, decolorize, unpack). Each
 * call is one group, a disjunction: a kept line contains at least one of
 * alts[0..n) (borrowed until the pipeline is freed). Groups are a
 * conjunction. Filters that guarantee nothing (negative ones, ip(),
 * patterns, real regexes) give no group. A non-zero return from group_cb
 * stops the walk and is returned; otherwise returns 0.
 */
struct noa_linefilter_literal;
int noa_pipeline_required_literals(const struct noa_pipeline *p,
                                   int (*group_cb)(void *ctx,
                                                   const struct noa_linefilter_literal *alts,
                                                   unsigned n),
                                   void *ctx);

#endif
