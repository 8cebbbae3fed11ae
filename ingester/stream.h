/*
 * One stream's unflushed data: the head (entries as they arrived, not yet
 * compressed), the sealed blocks of the open chunk, and the chunks cut but
 * not yet written to the store. Queries read all three; the flush moves
 * data from the first two into the third and then drops it.
 *
 * THREAD SAFETY: a stream belongs to its ingester instance (instance.h).
 * Only the loop thread mutates it, holding the instance write lock; query
 * workers read it holding the read lock, and copy out what they need
 * (block references, head bytes) before letting go.
 */
#ifndef NOA_INGESTER_STREAM_H
#define NOA_INGESTER_STREAM_H

#include "common/buf.h"
#include "common/labels.h"
#include "common/push.h"
#include "ingester/block.h"
#include "ingester/ratelimit.h"

#include <stdint.h>

/* Where an entry of the head sits in head_raw. */
struct noa_head_entry {
    int64_t ts;   /* ns */
    uint32_t off; /* offset of the encoded entry in head_raw */
    uint32_t len; /* encoded length */
};

/* A chunk cut from the stream, being written to the store. */
struct noa_cut_chunk {
    struct noa_cut_chunk *next;
    struct noa_block **blocks; /* owned references */
    uint32_t n_blocks;
    uint64_t seq;              /* highest WAL sequence the chunk holds */
    uint32_t oldest_segment;   /* oldest WAL segment holding its entries */
    int flushing;              /* 1 while a worker writes it */
};

struct noa_stream {
    struct noa_stream *hash_next; /* private: instance's fingerprint table chain */
    struct noa_stream *list_next; /* private: instance's list of streams */
    struct noa_stream *list_prev; /* private */
    struct noa_tenant *tenant;    /* read-only */
    uint64_t fp;                  /* read-only */
    struct noa_labels labels;     /* read-only, owned (one heap block) */
    char *canonical;              /* read-only, owned: `{a="1", b="2"}` */
    size_t canonical_len;

    /* The head: entries in arrival order, encoded as in a chunk block, and
     * an index of them sorted by time (arrival order among equal times). */
    struct noa_buf head_raw;
    struct noa_head_entry *head;
    uint32_t n_head, cap_head;
    int head_sorted; /* 1 while head_raw itself is in time order */

    /* A full head being compressed on a worker (empty when none): still
     * part of the open chunk, readable, immutable until noa_stream_end_seal. */
    struct noa_buf sealing_raw;
    uint32_t sealing_entries;
    int64_t sealing_min_ts, sealing_max_ts;
    int cut_requested; /* cut (and flush) as soon as the sealing ends */

    /* The open chunk's sealed blocks. */
    struct noa_block **blocks; /* owned references */
    uint32_t n_blocks, cap_blocks;
    uint64_t chunk_bytes;      /* compressed bytes of the sealed blocks */
    int64_t chunk_start_ns;    /* wall clock of the open chunk's first append; 0 = empty */
    int64_t last_append_ns;    /* wall clock of the last append */

    struct noa_cut_chunk *cut; /* oldest first */

    int64_t max_ts;            /* newest entry time seen (ns) */
    int64_t last_ts;           /* time of the last appended entry */
    uint64_t last_hash;        /* hash of the last appended entry's line + metadata */
    uint64_t applied_seq;      /* highest WAL sequence applied or flushed */
    uint64_t open_seq;         /* highest WAL sequence in the open chunk */
    uint32_t oldest_segment;   /* oldest WAL segment with entries in the open chunk; 0 = none */
    struct noa_ratelimit rate; /* per-stream limit */
};

struct noa_stream_options {
    uint32_t block_size; /* raw bytes at which the head is sealed */
    int zstd_level;
    int defer_seal;      /* 1: append leaves full heads for the caller to seal */
    int codec;           /* NOA_CHUNK_CODEC_* for sealed blocks; 0 = zstd */
};

/* Creates a stream for a sorted label set (copied). */
struct noa_stream *noa_stream_new(uint64_t fp, const struct noa_labels *labels,
                                  struct noa_str canonical);
void noa_stream_free(struct noa_stream *s);

/*
 * Appends one entry (copied). Drops it and returns 0 when it repeats an
 * entry the head already holds (same time, line and metadata). Seals the
 * head into a block when it reaches opts->block_size. Returns 1 when the
 * entry was stored, 0 when it was a duplicate, negative on failure.
 */
int noa_stream_append(struct noa_stream *s, const struct noa_stream_options *opts,
                      const struct noa_push_entry *e, uint64_t seq, uint32_t segment,
                      int64_t now_ns);

/* Seals the head (if not empty) into a block. */
int noa_stream_seal(struct noa_stream *s, const struct noa_stream_options *opts);

/* Moves a full head into the sealing slot so a worker can compress it
 * (noa_block_seal on s->sealing_raw). Returns 1, or 0 when the slot is busy
 * or the head empty. */
int noa_stream_begin_seal(struct noa_stream *s);

/* Takes the block compressed from the sealing slot (one reference) as the
 * open chunk's next block and empties the slot. */
void noa_stream_end_seal(struct noa_stream *s, struct noa_block *b);

/* Cuts the open chunk (sealing the head first) into a cut chunk appended to
 * s->cut; returns it, or NULL when the stream holds nothing unflushed or a
 * head is being sealed (cut again once it is). */
struct noa_cut_chunk *noa_stream_cut(struct noa_stream *s, const struct noa_stream_options *opts);

/* Drops a cut chunk once it is durable in the store. */
void noa_stream_drop_cut(struct noa_stream *s, struct noa_cut_chunk *c);

/* 1 when the stream holds no unflushed data at all. */
int noa_stream_empty(const struct noa_stream *s);

/* Oldest WAL segment still needed by this stream (0 = none). */
uint32_t noa_stream_oldest_segment(const struct noa_stream *s);

/* Head raw bytes sorted by time (for sealing and for queries): appends the
 * head's entries, stably sorted, to out, and returns min/max ts. */
void noa_stream_head_sorted(const struct noa_stream *s, struct noa_buf *out, int64_t *min_ts,
                            int64_t *max_ts);

#endif
