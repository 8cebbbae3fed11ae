/*
 * The label index: which streams exist (series), which streams carry a
 * label pair (postings), and which chunks hold a stream's entries for a
 * time range (chunk refs). Kept in RocksDB; ingester/index.c is the only
 * file that includes rocksdb/c.h.
 *
 * Everything is partitioned by UTC day so a lookup for a time range touches
 * only those days, and retention can drop a whole day with range deletes.
 * A chunk is indexed under every day it overlaps (series, postings and its
 * ref), so any one day is self-contained.
 *
 * ---------------------------------------------------------------------------
 * Key layout (one column family, the type byte first; sorted bytewise):
 *
 *   prefix P0 = type (1 byte) | esc(tenant) | 0x00 | day (4 bytes, BE, sign bit flipped)
 *
 *   | type | key after P0                                                  | value            |
 *   |------|---------------------------------------------------------------|------------------|
 *   | 'S'  | fp (8, BE)                                                    | labels (below)   |
 *   | 'P'  | esc(name) 0x00 esc(value) 0x00 fp (8, BE)                     | empty            |
 *   | 'C'  | fp (8, BE) from_ns (8) through_ns (8) checksum (4, BE)        | chunk ref (below)|
 *   | 'Q'  | (no day) esc(tenant) 0x00 fp (8, BE)                          | seq (8, BE)      |
 *   | 'M'  | (no P0) "format"                                              | "1"              |
 *
 *   esc() maps 0x00 -> 0x01 0x01 and 0x01 -> 0x01 0x02 and copies other
 *   bytes: it keeps bytewise order and makes 0x00 a terminator, so names and
 *   values of any bytes sort correctly and "name\0" is a prefix of exactly
 *   that name's postings. day = floor(ns / 86400e9); timestamps and days are
 *   written big-endian with the sign bit flipped so negative values sort
 *   first. The RocksDB prefix extractor (bloom filters) is P0.
 *
 *   labels value:  0x01 (version) | uvarint n | n x (uvarint len, name, uvarint len, value)
 *   chunk ref value: 0x01 (version) | uvarint entries | uvarint raw_bytes |
 *                    uvarint compressed_bytes | uvarint seq | uvarint key_len | key
 *   'Q' holds the highest push sequence flushed for a stream (not
 *   day-partitioned: WAL replay asks it before knowing any time range).
 *
 * Label names are not stored separately: they are read from postings by
 * skipping from one name to the next (one seek per distinct name per day).
 * A value that fails to decode is skipped, logged once per occurrence at
 * warn, and counted (noa_index_corrupt_count) so a damaged record degrades
 * a query instead of failing it.
 * ---------------------------------------------------------------------------
 *
 * Time ranges are inclusive on both ends, in Unix ns; a chunk overlaps
 * [from, through] when chunk.from <= through and chunk.through >= from.
 *
 * THREAD SAFETY: a struct noa_index is shared by the flush workers (writes)
 * and query workers (reads); RocksDB handles its own locking and the struct
 * is read-only after open apart from an atomic counter and a mutex that
 * makes add_chunk's read-modify-write of a stream's flushed sequence atomic
 * (and keeps prune_day from racing a flush into the day). Callbacks run on the
 * calling thread and may call back into the index. _close must not race
 * with other calls.
 */
#ifndef NOA_INGESTER_INDEX_H
#define NOA_INGESTER_INDEX_H

#include "common/buf.h"
#include "common/err.h"
#include "common/labels.h"
#include "common/selector.h"
#include "ingester/chunk.h"

#include <stddef.h>
#include <stdint.h>

#define NOA_INDEX_DAY_NS 86400000000000LL
/* A chunk spanning more days than this is refused: the flusher must cut it. */
#define NOA_INDEX_MAX_CHUNK_DAYS 400

struct noa_index;

/* A chunk as the index knows it. */
struct noa_chunk_ref {
    uint64_t fp;
    int64_t from_ns;    /* first entry */
    int64_t through_ns; /* last entry */
    uint32_t checksum;  /* CRC32C of the chunk file */
    uint64_t entries;
    uint64_t raw_bytes;          /* uncompressed line + metadata bytes */
    uint64_t compressed_bytes;   /* the object's size */
    uint64_t seq;                /* the ingester's push sequence up to which this chunk holds
                                  * the stream's entries; 0 = not tracked */
    char key[NOA_CHUNK_KEY_MAX]; /* object key in the chunk store, NUL-terminated */
};

struct noa_index_opts {
    size_t block_cache_bytes;  /* 0 = 8 MiB: shared LRU for blocks, indexes and filters */
    size_t write_buffer_bytes; /* 0 = 4 MiB per memtable (two at most) */
};

struct noa_index_stats {
    uint64_t streams;
    uint64_t chunks;
    uint64_t bytes; /* raw (uncompressed) bytes of those chunks */
    uint64_t entries;
};

/* UTC day number of a Unix-ns timestamp (floor division). */
static inline int32_t noa_index_day(int64_t ns)
{
    int64_t d = ns / NOA_INDEX_DAY_NS;
    return (int32_t)((ns % NOA_INDEX_DAY_NS < 0) ? d - 1 : d);
}

/*
 * Opens (creating when missing) the index in directory dir. opts may be
 * NULL for defaults. Returns 0 with *out set, or NOA_EUNAVAIL / -EIO /
 * NOA_ECORRUPT with err saying why (RocksDB's message, e.g. a lock held by
 * another process, or an index written by an incompatible format).
 */
int noa_index_open(const char *dir, const struct noa_index_opts *opts, struct noa_index **out,
                   struct noa_error *err);

/* Closes the index (NULL is a no-op). */
void noa_index_close(struct noa_index *idx);

/*
 * Records a flushed chunk of stream fp: for every day in [day(from),
 * day(through)] the series (fp -> labels), a posting per label pair and the
 * chunk ref, in one synced WriteBatch, so the chunk is findable after a
 * crash once this returns 0 (the caller may then drop the WAL data).
 * ls must be sorted with non-empty names; fp must identify this label set
 * within the tenant (the caller resolves hash collisions). ref->fp is
 * ignored (fp is used). When ref->seq > 0, the stream's flushed sequence
 * (noa_index_stream_seq) is raised to it in the same batch. Idempotent.
 * Returns 0; NOA_EINVAL for an empty tenant, unsorted labels, from >
 * through, an empty or unterminated key, or a chunk spanning more than
 * NOA_INDEX_MAX_CHUNK_DAYS days; -EIO when RocksDB fails (err has its
 * message).
 */
int noa_index_add_chunk(struct noa_index *idx, const char *tenant, const struct noa_labels *ls,
                        uint64_t fp, const struct noa_chunk_ref *ref, struct noa_error *err);

/*
 * Calls cb(fp, labels, ctx) once per stream of tenant that has a chunk
 * overlapping [from_ns, through_ns] and matches every matcher of sel (NULL
 * = every stream). Equality matchers, and regex matchers that do not match
 * the empty string (their values are enumerated from postings), narrow the
 * candidates; every matcher is then checked with noa_selector_matches.
 * Streams of days wholly inside the range are taken as they are; in the
 * first and last (partial) days each candidate's chunk refs are checked for
 * overlap, so the answer is exact, as Loki's. Streams are reported in
 * ascending fp order within a day, each once even when it spans days. ls is
 * borrowed until cb returns. cb returns 0 to go on; a nonzero value stops
 * the walk and is returned. Returns 0, that value, or -EIO.
 */
int noa_index_series(struct noa_index *idx, const char *tenant, int64_t from_ns, int64_t through_ns,
                     const struct noa_selector *sel,
                     int (*cb)(uint64_t fp, const struct noa_labels *ls, void *ctx), void *ctx);

/*
 * Calls cb(ref, ctx) once per chunk of stream fp overlapping [from_ns,
 * through_ns], in ascending (from, through, checksum) order within a day
 * (a chunk crossing midnight is reported with the first day it is found
 * in). ref is borrowed until cb returns. Returns as noa_index_series.
 */
int noa_index_chunks(struct noa_index *idx, const char *tenant, uint64_t fp, int64_t from_ns,
                     int64_t through_ns, int (*cb)(const struct noa_chunk_ref *ref, void *ctx),
                     void *ctx);

/*
 * Calls cb(name, ctx) for every distinct label name of tenant's streams in
 * the days overlapping [from_ns, through_ns] (days are the granularity, as
 * in Loki's index), in bytewise order. With sel, only names of streams that
 * match sel and overlap the range. name is borrowed until cb returns.
 * Returns as noa_index_series (NOA_ENOMEM possible).
 */
int noa_index_label_names(struct noa_index *idx, const char *tenant, int64_t from_ns,
                          int64_t through_ns, const struct noa_selector *sel,
                          int (*cb)(struct noa_str name, void *ctx), void *ctx);

/* Like noa_index_label_names, for the distinct values of label `name`. */
int noa_index_label_values(struct noa_index *idx, const char *tenant, struct noa_str name,
                           int64_t from_ns, int64_t through_ns, const struct noa_selector *sel,
                           int (*cb)(struct noa_str value, void *ctx), void *ctx);

/*
 * Sums, over streams matching sel (NULL = all) and their chunks overlapping
 * [from_ns, through_ns], what Loki's /index/stats reports: streams, chunks,
 * bytes and entries (whole chunks are counted). Returns 0 or -EIO.
 */
int noa_index_stats(struct noa_index *idx, const char *tenant, int64_t from_ns, int64_t through_ns,
                    const struct noa_selector *sel, struct noa_index_stats *out);

/*
 * The highest ref->seq flushed for stream fp of tenant, so WAL replay can
 * skip entries already in flushed chunks. Returns 0 with *seq set,
 * NOA_ENOTFOUND (with *seq = 0) when the stream never flushed a tracked
 * chunk, or -EIO.
 */
int noa_index_stream_seq(struct noa_index *idx, const char *tenant, uint64_t fp, uint64_t *seq);

/* The highest flushed sequence over every stream of every tenant (0 when
 * none), so sequences keep rising across restarts. Scans one key per
 * stream: meant for startup. Returns 0 or -EIO. */
int noa_index_max_seq(struct noa_index *idx, uint64_t *seq);

/* --- retention and maintenance ---------------------------------------------- */

/* Calls cb(tenant, ctx) once per tenant with any series, in bytewise order. */
int noa_index_tenants(struct noa_index *idx, int (*cb)(struct noa_str tenant, void *ctx),
                      void *ctx);

/* Calls cb(ref, ctx) for every chunk ref stored under one day of tenant
 * (a chunk overlapping several days is seen from each of them). */
int noa_index_day_chunks(struct noa_index *idx, const char *tenant, int32_t day,
                         int (*cb)(const struct noa_chunk_ref *ref, void *ctx), void *ctx);

/* Removes everything stored under one day of tenant (series, postings,
 * chunk refs) with synced range deletes. Returns 0 or -EIO. */
int noa_index_drop_day(struct noa_index *idx, const char *tenant, int32_t day,
                       struct noa_error *err);

/* Removes one chunk's refs from every day it covers (synced); its series
 * and postings stay. Returns 0 (also when absent) or -EIO. */
int noa_index_delete_chunk(struct noa_index *idx, const char *tenant,
                           const struct noa_chunk_ref *ref, struct noa_error *err);

/* Removes the refs of n chunks (refs[i].fp names each one's stream) from
 * every day each covers, in one synced batch; series and postings stay.
 * Absent refs are no error (idempotent). Returns 0, NOA_EINVAL for a bad
 * ref (nothing is deleted) or -EIO. */
int noa_index_delete_chunks(struct noa_index *idx, const char *tenant,
                            const struct noa_chunk_ref *refs, size_t n, struct noa_error *err);

/* Removes, from one day of tenant, the series (and their postings) that
 * have no chunk ref left in that day, so /series and label queries stop
 * naming streams whose data retention removed. A day without refs loses all
 * its series with range deletes. Holds the lock add_chunk takes around its
 * writes (for up to 256 series at a time) so a concurrent flush into the
 * day keeps its series. Returns 0 or -EIO (err filled). */
int noa_index_prune_day(struct noa_index *idx, const char *tenant, int32_t day,
                        struct noa_error *err);

/* The first day >= from_day under which tenant has a series or a chunk ref:
 * lets retention walk only the days that hold data. Returns 0 with *day
 * set, NOA_ENOTFOUND when there is none, or -EIO. */
int noa_index_next_day(struct noa_index *idx, const char *tenant, int32_t from_day, int32_t *day);

/* Records that failed to decode since open (exported on /metrics). */
uint64_t noa_index_corrupt_count(const struct noa_index *idx);

/* Writes one raw key/value, bypassing every check: for tests (corruption)
 * and repair tools only. Returns 0 or -EIO. */
int noa_index_put_raw(struct noa_index *idx, const void *key, size_t klen, const void *val,
                      size_t vlen);

#endif
