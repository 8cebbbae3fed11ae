/*
 * Reads ONE stream's entries in [from, through) in time order, exact
 * duplicates (same time, line and metadata) removed, from the ingester's
 * memory (a snapshot: sealed blocks and the head) and from flushed chunks
 * (index + chunk store), with bounded memory: a k-way merge over the
 * stream's sorted blocks that opens a block (or fetches a chunk) only when
 * the merge reaches its first timestamp and releases it once exhausted.
 * Blocks outside the range are never decompressed.
 *
 * Runs on the calling (worker) thread; reads only thread-safe handles.
 * Entries are handed to the callback borrowed (line and metadata point
 * into a decompressed block): no allocation per entry.
 */
#ifndef NOA_QUERIER_STREAMREAD_H
#define NOA_QUERIER_STREAMREAD_H

#include "common/buf.h"
#include "common/err.h"
#include "common/labels.h"
#include "common/linefilter.h"
#include "ingester/ingester.h"

#include <stdint.h>

/* Figures for the stats object (added to, never reset). */
struct noa_streamread_stats {
    uint64_t chunks_ref, chunks_downloaded, compressed_bytes;
    uint64_t decompressed_bytes, decompressed_lines;
    uint64_t head_bytes, head_lines;
    uint64_t duplicates;
    uint64_t entries, bytes; /* entries read in the range (before the literal
                              * check) and their line bytes */
    uint64_t blocks_skipped; /* never decompressed: their summary excluded them */
    uint64_t column_entries; /* read from a block's entry column (lens_only) */
    uint64_t column_blocks_inflated; /* column blocks decompressed after all (dedup) */
};

/* Literals every line a pipeline keeps contains (noa_pipeline_required_
 * literals): a conjunction of groups, each a disjunction. Entries whose
 * line lacks one group are never delivered, and blocks whose summary
 * proves none of their lines has one are never decompressed. */
#define NOA_STREAMREAD_MAX_LITS 32

struct noa_streamread_required {
    struct noa_linefilter_literal lits[NOA_STREAMREAD_MAX_LITS]; /* borrowed from the pipeline */
    unsigned n_lits;
    struct {
        unsigned first, n; /* into lits */
    } groups[NOA_STREAMREAD_MAX_LITS];
    unsigned n_groups;
};

struct noa_pipeline;

/* Collects p's required literals into rq (borrowed from p: rq is valid
 * while p is). Groups that do not fit are left out: fewer skips, never a
 * wrong answer. */
void noa_streamread_required_init(struct noa_streamread_required *rq, const struct noa_pipeline *p);

struct noa_streamread_query {
    struct noa_ingester *ing;
    const char *tenant;
    uint64_t fp;                               /* the stream's fingerprint in the index */
    int indexed;                               /* 1: look for flushed chunks of fp */
    const struct noa_mem_stream *mem;          /* its memory snapshot; NULL = none */
    int64_t from_ns;                           /* inclusive */
    int64_t through_ns;                        /* exclusive */
    int64_t deadline_ns;                       /* CLOCK_MONOTONIC ns; 0 = none */
    const struct noa_streamread_required *req; /* NULL or no groups: every entry */
    /* 1: the callback reads only the timestamp and line.len of an entry
     * (count-type metric queries with an empty pipeline). Blocks with an
     * entry column (ingester/blockcol.h) are then read from the column
     * without decompressing: their entries come with line.p == NULL (and
     * their metadata from the column). Duplicates are
     * still removed (by hash: equal 64-bit hashes and lengths count as
     * equal entries). */
    int lens_only;
    /* Called once per entry in time order (entries lacking a required
     * literal left out); a non-zero return stops the read and is returned.
     * line and meta are borrowed for the call. */
    int (*entry_cb)(void *arg, int64_t ts_ns, struct noa_str line, const struct noa_label *meta,
                    uint32_t n_meta);
    void *arg;
};

/*
 * Reads the stream q describes. Returns 0 after the last entry, the
 * callback's non-zero value, NOA_ETIMEOUT ("context deadline exceeded")
 * once q->deadline_ns has passed (checked before each block or chunk is
 * opened), or the index's, the store's or a corrupt chunk's error (err
 * says which). st may be NULL.
 */
int noa_streamread_run(const struct noa_streamread_query *q, struct noa_streamread_stats *st,
                       struct noa_error *err);

#endif
