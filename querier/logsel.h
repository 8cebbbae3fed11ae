/*
 * Log selection: the entries of every stream matching a selector in
 * [start, end), from flushed chunks (index + chunk store) and from the
 * ingester's memory, merged per stream with exact duplicates removed, and
 * the `limit` newest (backward) or oldest (forward) across streams kept.
 * Runs on a worker thread; reads only thread-safe handles.
 *
 * Memory is bounded by the largest single stream's data in the range plus
 * `limit` entries per stream (a streaming k-way merge replaces this when
 * the full LogQL engine lands).
 */
#ifndef NOA_QUERIER_LOGSEL_H
#define NOA_QUERIER_LOGSEL_H

#include "common/buf.h"
#include "common/labels.h"
#include "common/selector.h"
#include "ingester/ingester.h"

#include <stdint.h>

/* Label categories of a pipeline's output (common/lbuilder.h). */
struct noa_logsel_label {
    struct noa_label l;
    uint8_t cat; /* enum noa_lb_cat */
};

struct noa_logsel_entry {
    int64_t ts;
    struct noa_str line; /* in the result's arena */
    struct noa_label *meta; /* structured metadata, in the arena */
    uint32_t n_meta;
    uint32_t stream;     /* index into result streams */
    /* When the pipeline changes labels: the entry's final label set (sorted,
     * in the arena) with each label's category; NULL otherwise (the labels
     * are then the stream's plus meta). */
    struct noa_logsel_label *labels;
    uint32_t n_labels;
};

struct noa_logsel_stream {
    struct noa_labels labels; /* in the arena */
};

struct noa_logsel_result {
    struct noa_logsel_stream *streams;
    uint32_t n_streams;
    struct noa_logsel_entry *entries; /* ordered by time in the query direction */
    size_t n_entries;
    struct noa_arena arena;
    /* figures for stats */
    uint64_t bytes_processed, lines_processed, chunks_read, chunks_matched;
    uint64_t post_filter_lines; /* lines in range that the pipeline kept */
    uint64_t head_lines, head_bytes, decompressed_lines, decompressed_bytes, compressed_bytes;
    uint64_t duplicates;
    /* blocks (sealed, in chunks or memory) overlapping the range; of those,
     * skipped: never decompressed, their summary proved that no line can
     * pass the query's literal line filters; presearched: decompressed,
     * but one search of the whole block proved the same, so no entry was
     * decoded. Entries of both count in neither lines nor bytes processed. */
    uint64_t blocks_total, blocks_skipped, blocks_presearched;
};

struct noa_pipeline;

struct noa_logsel_query {
    const char *tenant;
    const struct noa_selector *sel;
    const struct noa_pipeline *pipeline; /* NULL = no stages; applied to every entry */
    int64_t start_ns; /* inclusive */
    int64_t end_ns;   /* exclusive */
    uint32_t limit;
    int backward;
    int64_t deadline_ns; /* CLOCK_MONOTONIC ns; 0 = none */
    int no_skip;         /* measuring: 1 reads every block (no summaries), 2 also searches
                          * every line on its own (no block-wide search); 0 = both on, or
                          * what NOA_LOGSEL_NO_SKIP in the environment says */
};

/*
 * Runs q over the ingester's memory and store into *out (initialised here;
 * _fini it whatever the result). Blocks that cannot hold a line passing
 * the pipeline's literal line filters (noa_pipeline_required_literals) are
 * not read. Returns 0, NOA_ETIMEOUT ("context deadline exceeded", Loki's
 * words) once q->deadline_ns has passed (checked between blocks and
 * streams), or the error of the index, the store or a corrupt chunk.
 */
int noa_logsel_run(struct noa_ingester *ing, const struct noa_logsel_query *q,
                   struct noa_logsel_result *out, struct noa_error *err);
void noa_logsel_result_fini(struct noa_logsel_result *r);

/* The stream's labels plus the entry's metadata into out (at most cap),
 * sorted, metadata winning on a clash: how Loki folds structured metadata
 * into the stream without categorize-labels. Returns the count. */
uint32_t noa_logsel_merged_labels(const struct noa_labels *ls, const struct noa_logsel_entry *e,
                                  struct noa_label *out, uint32_t cap);

#endif
