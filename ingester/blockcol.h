/*
 * Block entry columns: per sealed block, every entry's timestamp, line
 * length and structured metadata (as an index into the block's distinct
 * metadata sets), plus, for entries that share their timestamp with a
 * neighbour, a hash of line and metadata. Count-type metric queries with
 * no line filter and no parser (count_over_time, rate, bytes_over_time,
 * bytes_rate, absent_over_time) read a few bytes per entry instead of
 * decompressing the block. A block with more than NOA_BLOCKCOL_MAX_SETS
 * distinct metadata sets (trace ids as metadata, say) gets no column and
 * is always decompressed.
 *
 * Serialized form (the same bytes in memory and in the chunk file's
 * summaries-and-columns section, ingester/chunk.h):
 *
 *   | size    | meaning                                                   |
 *   |---------|-----------------------------------------------------------|
 *   | 1       | e, 0..9: every timestamp minus the first is a multiple    |
 *   |         | of 10^e (ms timestamps store deltas in ms)                |
 *   | uvarint | n, the block's entry count                                |
 *   | varint  | first timestamp, Unix ns (zigzag)                         |
 *   | uvarint | d, 1..NOA_BLOCKCOL_MAX_SETS distinct metadata sets        |
 *   | per set: uvarint n_meta, uvarint len, len bytes: the n_meta pairs |
 *   |   encoded exactly as in a raw entry (ingester/chunk.h); the empty |
 *   |   set is 0, 0                                                     |
 *   | per entry, in the sealed block's (time) order:                      |
 *   |  uvarint | (ts - previous ts) / 10^e; 0 for the first entry       |
 *   |  uvarint | line_len << (b + 1) | set << 1 | h, where set is the |
 *   |          | entry's metadata set (0..d-1) and b the bits it needs  |
 *   |          | (the least b with 2^b >= d; 0 when d = 1)              |
 *   |  8       | if h: noa_blockcol_hash of the entry, little-endian     |
 *
 * h is set exactly when the entry's timestamp equals the previous or the
 * next entry's: a reader removing exact duplicates (same time, line and
 * metadata) then compares hashes within a block without the lines, and
 * decompresses a block only when another block has an entry at the same
 * instant. Equal 64-bit hashes (with equal lengths and metadata counts)
 * are taken as equal entries.
 *
 * Pure functions over caller buffers; any thread.
 */
#ifndef NOA_INGESTER_BLOCKCOL_H
#define NOA_INGESTER_BLOCKCOL_H

#include "common/buf.h"
#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

/* Most distinct metadata sets a block's column holds. */
#define NOA_BLOCKCOL_MAX_SETS 64

/* The hash duplicate removal compares: XXH3 of the line, then of the
 * encoded metadata pairs seeded with that hash xor the pair count. */
uint64_t noa_blockcol_hash(struct noa_str line, struct noa_str meta, uint32_t n_meta);

/*
 * Builds the column of a sealed (time-sorted) raw block raw[0..len) and
 * appends it to col. Returns 1 when built, 0 when the block gets none
 * (too many metadata sets; col is left as it was), NOA_EINVAL for a
 * malformed or unsorted block.
 */
int noa_blockcol_build(const void *raw, size_t len, struct noa_buf *col);

/* Iterator over a column; fields are private. */
struct noa_blockcol_iter {
    const unsigned char *p;
    size_t len, off;
    uint64_t left; /* entries not read yet */
    uint64_t mult; /* 10^e */
    int64_t ts;    /* previous entry's */
    int64_t max_ts;
    int first;
    uint32_t n_sets;
    unsigned set_bits;
    struct noa_str set_meta[NOA_BLOCKCOL_MAX_SETS]; /* borrowed from the column */
    uint32_t set_n[NOA_BLOCKCOL_MAX_SETS];
};

/* One column entry. */
struct noa_blockcol_entry {
    int64_t ts_ns;
    uint64_t line_len;
    int has_hash;
    uint64_t hash;       /* when has_hash */
    struct noa_str meta; /* the encoded pairs (as noa_chunk_entry.meta), borrowed */
    uint32_t n_meta;
    uint32_t set; /* the metadata set's index in the column, < NOA_BLOCKCOL_MAX_SETS */
};

/*
 * Starts reading col[0..len) (borrowed) of a block whose meta says
 * n_entries entries in [min_ts, max_ts]. Returns 0 or NOA_ECORRUPT when
 * the header disagrees with the meta or a metadata set is malformed.
 */
int noa_blockcol_iter_init(struct noa_blockcol_iter *it, const void *col, size_t len,
                           uint64_t n_entries, int64_t min_ts, int64_t max_ts,
                           struct noa_error *err);

/*
 * Reads the next entry: 1, 0 after the last (the column must then be
 * consumed exactly), or NOA_ECORRUPT (truncated, a timestamp past the
 * block's bounds or out of order, trailing bytes).
 */
int noa_blockcol_next(struct noa_blockcol_iter *it, struct noa_blockcol_entry *e,
                      struct noa_error *err);

#endif
