/*
 * Block summaries: a small bitmap per sealed block that can prove a
 * literal absent from every line of the block, so a query for
 * `|= "rare-token"` never decompresses blocks that cannot match.
 *
 * The summary is a one-hash Bloom filter over the block's line text: every
 * run of three consecutive bytes that starts at an even offset of a line
 * (never across lines, never in entry headers or metadata),
 * ASCII-lowercased, sets one bit. Wherever a needle sits in a line, either
 * all its trigrams at even offsets of the needle or all those at odd
 * offsets were indexed, so a needle of four bytes or more is certainly
 * absent when both classes have a trigram whose bit is clear. Indexing
 * every other trigram halves the build cost (about 1 ns per raw byte).
 * Lowercasing keeps one summary valid for the case-sensitive `|=` and the
 * case-insensitive `|~ "(?i)..."` filters. Shorter needles always "may be
 * present".
 *
 * Serialized form (the same bytes in memory, in the WAL-rebuilt block and
 * in the chunk file's summary section, ingester/chunk.h):
 *
 *   | offset | size        | meaning                                        |
 *   |--------|-------------|------------------------------------------------|
 *   | 0      | 1           | k = log2 of the bit count, 9..16               |
 *   | 1      | 2^k / 8     | bitmap; bit i is byte 1 + i/8, mask 1 << (i%8) |
 *
 * Trigram t = b0 | b1<<8 | b2<<16 (lowercased bytes) sets bit
 * (t * 0x9E3779B1 mod 2^32) >> (32 - k). The bit count grows with the raw
 * block (one bit per 8 to 16 raw bytes, so a 256 KiB block gets 4 KiB),
 * which keeps the fill, hence the false-positive rate, roughly constant.
 * Any change to the hash or to which trigrams are indexed needs a new
 * section kind in ingester/chunk.h: read with the new rules, an old
 * summary would report present text absent and queries would miss lines.
 *
 * Pure functions over caller buffers; any thread.
 */
#ifndef NOA_INGESTER_BLOCKSUM_H
#define NOA_INGESTER_BLOCKSUM_H

#include "common/buf.h"
#include "common/err.h"

#include <stddef.h>

#define NOA_BLOCKSUM_MIN_LOG2 9
#define NOA_BLOCKSUM_MAX_LOG2 16
/* Largest serialized summary: the log2 byte plus 2^16 bits. */
#define NOA_BLOCKSUM_MAX_SIZE (1 + (1u << NOA_BLOCKSUM_MAX_LOG2) / 8)

/*
 * Builds the summary of the raw block raw[0..len) (ingester/chunk.h
 * entries) and appends its serialized form to out. Returns 0, or
 * NOA_EINVAL when the block is malformed (out is then left as it was).
 */
int noa_blocksum_build(const void *raw, size_t len, struct noa_buf *out);

/* The bit count's log2 noa_blocksum_build picks for a raw block of len bytes. */
unsigned noa_blocksum_log2_for(size_t len);

/*
 * 0 when the summary sum[0..n) proves that no line of its block contains
 * needle[0..len) (ASCII case-insensitively, hence also case-sensitively);
 * 1 when it may. Needles shorter than four bytes, and an empty or
 * malformed summary, give 1.
 */
int noa_blocksum_may_contain(const void *sum, size_t n, const char *needle, size_t len);

/* Checks that sum[0..n) is a well-formed summary: 0 or NOA_ECORRUPT. */
int noa_blocksum_check(const void *sum, size_t n);

/* Fraction of bits set, 0..1 (for tuning and tests). */
double noa_blocksum_fill(const void *sum, size_t n);

#endif
