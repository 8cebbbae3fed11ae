/*
 * Sealed blocks in memory: a stream's head entries, sorted by time and
 * compressed (ingester/chunk.h), shared by reference between the stream
 * that owns them, queries reading them on worker threads and the flush
 * that writes them into a chunk. Immutable once built; the reference count
 * is atomic, so any thread may hold and release a block.
 */
#ifndef NOA_INGESTER_BLOCK_H
#define NOA_INGESTER_BLOCK_H

#include "common/buf.h"
#include "common/err.h"
#include "ingester/chunk.h"

#include <stdatomic.h>

struct noa_block {
    atomic_int refs;           /* private */
    struct noa_chunk_block cb; /* read-only: times, counts, compressed bytes */
};

/* Seals raw entries (any order) into a new zstd block holding one reference. */
int noa_block_seal(const void *raw, size_t len, int level, struct noa_block **out,
                   struct noa_error *err);
/* As noa_block_seal with the codec (NOA_CHUNK_CODEC_ZSTD or 0, or
 * NOA_CHUNK_CODEC_LZ4): the block remembers it in cb.codec. */
int noa_block_seal_codec(const void *raw, size_t len, int codec, int level, struct noa_block **out,
                         struct noa_error *err);
/* Builds a block from already-compressed bytes (WAL snapshots); copies them,
 * takes meta->codec, or when it is 0 (snapshots record none) recognises
 * the codec from the bytes (noa_chunk_codec_sniff), computes their CRC, and rebuilds the block summary and column when the bytes
 * decompress to valid entries (else the block has none and is always
 * read). Returns 0 or NOA_ECORRUPT (no data or no entries). */
int noa_block_from_compressed(const struct noa_chunk_block *meta, const void *data, size_t len,
                              struct noa_block **out, struct noa_error *err);
struct noa_block *noa_block_ref(struct noa_block *b);
/* Drops a reference; frees at zero. NULL is a no-op. */
void noa_block_unref(struct noa_block *b);
/* Decompresses into raw (replacing its contents) and checks the entries
 * against the block's meta. */
int noa_block_decompress(const struct noa_block *b, struct noa_buf *raw, struct noa_error *err);
/* As noa_block_decompress without the walk over the entries (the CRC and
 * the size are checked): see noa_chunk_block_inflate. */
int noa_block_inflate(const struct noa_block *b, struct noa_buf *raw, struct noa_error *err);

#endif
