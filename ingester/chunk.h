/*
 * The chunk format: how one stream's entries are laid out in blocks, how
 * blocks are sealed (sorted, zstd- or lz4-compressed, checksummed), and how sealed
 * blocks are assembled into a chunk file and read back.
 *
 * Owns no global state. Every function is pure over caller-owned buffers,
 * so any thread may call it (head blocks seal on the ingest path, flush
 * workers encode, query workers open and decompress). zstd and lz4 are
 * used directly (libzstd, liblz4 block API), not through common/compress.h,
 * because chunk blocks need single-frame compression with a known content
 * size and nothing else. A zstd block is one frame; an lz4 block is one LZ4
 * block whose raw size comes only from the block meta.
 *
 * ---------------------------------------------------------------------------
 * 1. Raw block (what a block holds before compression)
 *
 * A raw block is a sequence of entries with no header and no padding; its
 * length is known from the block meta (raw_len). One entry:
 *
 *   | size     | meaning                                   | encoding          |
 *   |----------|-------------------------------------------|-------------------|
 *   | 1..10    | ts_ns, Unix nanoseconds                   | zigzag varint     |
 *   | 1..10    | line_len                                  | LEB128 uvarint    |
 *   | line_len | line bytes (not NUL-terminated)           | raw               |
 *   | 1..10    | n_meta, structured-metadata pairs         | LEB128 uvarint    |
 *   | per pair | name_len, name, value_len, value          | uvarint/raw x2    |
 *
 * This matches Loki's v3 entry (ts, len, line) followed by metadata written
 * inline rather than as indexes into a chunk-wide symbol table (Loki v4):
 * inline pairs keep every block self-contained and decodable zero-copy.
 * In a sealed block, entries are sorted by ts_ns (stable: entries with equal
 * timestamps keep their append order). Blocks of one chunk may overlap.
 *
 * 2. Chunk file (all offsets absolute from the chunk's first byte)
 *
 *   | offset         | size     | meaning                      | endianness | checksum scope |
 *   |----------------|----------|------------------------------|------------|----------------|
 *   | 0              | 4        | magic 0x012EE56A             | big        | -              |
 *   | 4              | 1        | format version (0x81)        | -          | -              |
 *   | 5              | 1        | codec (9 zstd, 7 lz4: Loki's)| -          | -              |
 *   | 6              | c_0      | block 0, compressed          | -          | CRC 0          |
 *   | 6+c_0          | 4        | CRC 0: CRC32C of block 0     | big        | -              |
 *   | ...            | c_i + 4  | block i and its CRC32C       | big (CRC)  | its block      |
 *   | extra_offset   | x        | extra section, optional      | (below)    | its last 4 B   |
 *   | metas_offset   | m        | block metas (below)          | varints    | metas CRC      |
 *   | +m             | 4        | metas CRC: CRC32C of m bytes | big        | -              |
 *   | len-32         | 8        | x: extra length (0 = none)   | big        | -              |
 *   | len-24         | 8        | extra_offset (0 when none)   | big        | -              |
 *   | len-16         | 8        | m = metas_len (without CRC)  | big        | -              |
 *   | len-8          | 8        | metas_offset                 | big        | -              |
 *
 * Block metas (m bytes):
 *
 *   | encoding | meaning                                                   |
 *   |----------|-----------------------------------------------------------|
 *   | uvarint  | n_blocks                                                  |
 *   | per block: uvarint n_entries, varint min_ts_ns, varint max_ts_ns,    |
 *   |   uvarint offset, uvarint raw_len, uvarint compressed_len (no CRC)   |
 *
 * The layout is Loki's v4 chunk (header, blocks each followed by CRC32C,
 * metas + CRC32C, a 32-byte footer whose first two words locate an extra
 * section) with noa's own entry encoding, hence a version byte of its own:
 * 0x81 ("noa format 1") has the high bit set so a Loki reader, which knows
 * versions 1..4, rejects the file instead of misreading the metadata. The
 * metas must end exactly where the footer starts.
 *
 * The extra section (located by the first two footer words, lying between
 * the header and the metas; writers put it after the last block's CRC)
 * carries chunk-wide tables. Chunks written before it existed have both
 * words zero and stay readable. Every extra section ends with a CRC32C of
 * its other bytes and starts with a kind byte; a reader checks the CRC,
 * then reads the kinds it knows and ignores the others (room for later
 * tables). Kind 1, block summaries (ingester/blocksum.h):
 *
 *   | size     | meaning                                                  |
 *   |----------|----------------------------------------------------------|
 *   | 1        | kind = 1                                                 |
 *   | uvarint  | n_blocks, equal to the metas' count                      |
 *   | per block, in metas order: uvarint len (0 = no summary), then len  |
 *   |   bytes, a summary in blocksum.h's serialized form                 |
 *   | 4        | CRC32C of every byte above, big-endian                   |
 *
 * Kind 2, block summaries and entry columns (written since the columns
 * exist; kind 1 chunks stay readable, their blocks simply have no column):
 *
 *   | size     | meaning                                                  |
 *   |----------|----------------------------------------------------------|
 *   | 1        | kind = 2                                                 |
 *   | uvarint  | n_blocks, equal to the metas' count                      |
 *   | per block, in metas order: uvarint len (0 = no summary), then len  |
 *   |   bytes of summary (blocksum.h); uvarint clen (0 = no column),     |
 *   |   then clen bytes, the block's entry column (blockcol.h)           |
 *   | 4        | CRC32C of every byte above, big-endian                   |
 *
 * A malformed section of a known kind (bad CRC, count, length or summary)
 * makes the whole chunk corrupt. A block without a summary is always read;
 * a column is checked against its block meta only when it is read (a bad
 * one fails that query with NOA_ECORRUPT). A block without a column is
 * decompressed by every query.
 *
 * 3. Object key: "<tenant>/<fp, 16 hex>/<from ms hex>:<through ms hex>:<CRC32C 8 hex>"
 * (Loki's v12+ key shape), from = first entry floored to ms, through = last
 * entry rounded up to ms, checksum = CRC32C of the whole chunk file. Hex is
 * lowercase; a negative ms value is written as '-' and its magnitude, as Go
 * prints an int64 with %x. The key is content-addressed: replicas that cut
 * identical chunks write the same object.
 * ---------------------------------------------------------------------------
 */
#ifndef NOA_INGESTER_CHUNK_H
#define NOA_INGESTER_CHUNK_H

#include "common/buf.h"
#include "common/err.h"
#include "common/labels.h"

#include <stddef.h>
#include <stdint.h>

#define NOA_CHUNK_MAGIC 0x012EE56Au
#define NOA_CHUNK_FORMAT_V1 0x81
#define NOA_CHUNK_CODEC_ZSTD 9
/* Loki's id for "lz4" (lz4-4M); noa stores one LZ4 block (no frame) per
 * chunk block, so its lz4 chunks are not Loki's lz4 chunks, whose blocks
 * are LZ4 frames. */
#define NOA_CHUNK_CODEC_LZ4 7
#define NOA_CHUNK_HEADER_SIZE 6
#define NOA_CHUNK_FOOTER_SIZE 32
/* Kind byte of the extra section that holds block summaries. */
#define NOA_CHUNK_EXTRA_SUMMARIES 1
/* Kind byte of the extra section that holds summaries and entry columns. */
#define NOA_CHUNK_EXTRA_SUMCOL 2
/* Default zstd level for sealing: measured best speed/ratio trade-off for logs. */
#define NOA_CHUNK_ZSTD_LEVEL 1
/* Largest raw block a reader accepts (a block is cut at ~256 KiB, plus one line). */
#define NOA_CHUNK_MAX_BLOCK_RAW (256u << 20)
/* Longest key noa_chunk_key writes, NUL included (Loki tenants are <= 150 bytes). */
#define NOA_CHUNK_KEY_MAX 256

/* One decoded entry; every slice borrows from the raw block. */
struct noa_chunk_entry {
    int64_t ts_ns;
    struct noa_str line;
    uint32_t n_meta;     /* structured-metadata pairs */
    struct noa_str meta; /* the encoded pairs; walk with noa_chunk_meta_next */
};

/* Iterator over a raw block. Zero-initialise with noa_chunk_iter_init;
 * fields are private. */
struct noa_chunk_iter {
    const unsigned char *p;
    size_t len;
    size_t off;
    int err; /* sticky error code after a failure */
};

/* A sealed block: public, read-only after noa_chunk_block_seal. */
struct noa_chunk_block {
    int64_t min_ts; /* ns, first entry */
    int64_t max_ts; /* ns, last entry */
    uint32_t n_entries;
    uint32_t raw_len;    /* bytes before compression */
    uint32_t crc;        /* CRC32C of data */
    uint8_t codec;       /* NOA_CHUNK_CODEC_*; 0 reads as zstd */
    struct noa_buf data; /* owned: the compressed bytes (zstd frame or LZ4 block) */
    struct noa_buf sum;  /* owned: block summary (ingester/blocksum.h); empty = none */
    struct noa_buf col;  /* owned: entry column (ingester/blockcol.h); empty = none */
};

/* What noa_chunk_encode produced. */
struct noa_chunk_summary {
    int64_t from_ns;    /* min over blocks' min_ts */
    int64_t through_ns; /* max over blocks' max_ts */
    uint64_t entries;
    uint64_t raw_bytes;        /* sum of raw block lengths */
    uint64_t compressed_bytes; /* the chunk file's length */
    uint32_t checksum;         /* CRC32C of the whole chunk file */
    uint32_t n_blocks;
};

/* A block's meta as read from a chunk file (read-only). */
struct noa_chunk_block_meta {
    int64_t min_ts; /* ns */
    int64_t max_ts; /* ns */
    uint64_t n_entries;
    uint64_t offset;         /* of the compressed bytes, from the chunk start */
    uint64_t raw_len;        /* bytes */
    uint64_t compressed_len; /* bytes, CRC excluded */
    const unsigned char *sum; /* block summary, borrowed from the chunk data; NULL = none */
    size_t sum_len;           /* bytes */
    const unsigned char *col; /* entry column, borrowed from the chunk data; NULL = none */
    size_t col_len;           /* bytes */
};

/* An opened chunk. data is borrowed; blocks is owned (noa_chunk_reader_fini). */
struct noa_chunk_reader {
    const unsigned char *data; /* borrowed for the reader's lifetime */
    size_t len;
    uint8_t version;
    uint8_t codec;
    struct noa_chunk_block_meta *blocks; /* n_blocks entries, file order */
    size_t n_blocks;
    int64_t from_ns;    /* min over blocks */
    int64_t through_ns; /* max over blocks */
    uint64_t entries;
    uint64_t raw_bytes;
};

/* --- raw blocks ------------------------------------------------------------ */

/* Appends one entry to a raw block (aborts on OOM like noa_buf; callers
 * bound line and metadata sizes with the push limits first). */
void noa_chunk_block_append(struct noa_buf *raw, int64_t ts_ns, struct noa_str line,
                            const struct noa_label *meta, uint32_t n_meta);

/* Starts iterating raw[0..len) (borrowed until iteration ends). */
void noa_chunk_iter_init(struct noa_chunk_iter *it, const void *raw, size_t len);

/*
 * Decodes the next entry into *e (slices borrow from the raw block).
 * Returns 1 for an entry, 0 at the end, NOA_ECORRUPT (with the byte offset
 * in err->msg) for a truncated or malformed entry; the error is sticky.
 * The entry's metadata is fully validated here, so walking it cannot fail.
 * err may be NULL.
 */
int noa_chunk_iter_next(struct noa_chunk_iter *it, struct noa_chunk_entry *e,
                        struct noa_error *err);

/*
 * Skips the entries whose line ends before byte offset upto of the raw
 * block (line offset + length < upto), validating them as
 * noa_chunk_iter_next does, and stops before the first one that does
 * not (the next noa_chunk_iter_next returns it). Adds the skipped
 * entries and their line bytes to *n and *bytes. Returns 1 when an entry
 * is left, 0 at the end of the block, or NOA_ECORRUPT (sticky). For a
 * search that found a literal at some offset: every line before it lacks
 * the literal, and is passed over without a call per entry.
 */
int noa_chunk_iter_skip(struct noa_chunk_iter *it, size_t upto, uint64_t *n, uint64_t *bytes,
                        struct noa_error *err);

/* Walks e's metadata: *pos starts at 0. Returns 1 with *out set (borrowed
 * from the block), 0 after the last pair. */
int noa_chunk_meta_next(const struct noa_chunk_entry *e, size_t *pos, struct noa_label *out);

/*
 * Checks a raw block against what its meta claims: exactly n_entries
 * well-formed entries, timestamps sorted and inside [min_ts, max_ts] with
 * both bounds reached. Returns 0 or NOA_ECORRUPT (err says where).
 */
int noa_chunk_block_check(const void *raw, size_t len, uint64_t n_entries, int64_t min_ts,
                          int64_t max_ts, struct noa_error *err);

/* --- sealing and encoding --------------------------------------------------- */

/*
 * Seals raw[0..len) into *out: validates every entry, sorts entries by
 * timestamp (stable) when they are not already in order, compresses with
 * zstd at `level` (0 = NOA_CHUNK_ZSTD_LEVEL), computes the CRC32C, the
 * block summary (ingester/blocksum.h) and the entry column
 * (ingester/blockcol.h; none when an entry has metadata).
 * *out is initialised here (its previous contents are not freed).
 * Returns 0; NOA_EINVAL for an empty or malformed raw block; NOA_ETOOBIG
 * when len > NOA_CHUNK_MAX_BLOCK_RAW; NOA_ENOMEM; NOA_EINTERNAL if zstd
 * fails. On failure *out is empty (safe to _fini).
 */
int noa_chunk_block_seal(const void *raw, size_t len, int level, struct noa_chunk_block *out,
                         struct noa_error *err);

/* As noa_chunk_block_seal with the codec chosen: NOA_CHUNK_CODEC_ZSTD (or
 * 0) compresses with zstd at `level`, NOA_CHUNK_CODEC_LZ4 with one LZ4
 * block (level ignored). NOA_EINVAL for any other codec. */
int noa_chunk_block_seal_codec(const void *raw, size_t len, int codec, int level,
                               struct noa_chunk_block *out, struct noa_error *err);

/* Maps a Loki `chunk_encoding` name to the codec noa writes: lz4, lz4-64k,
 * lz4-256k and lz4-1M give NOA_CHUNK_CODEC_LZ4, every other name (gzip,
 * snappy, none, flate, zstd, ...) NOA_CHUNK_CODEC_ZSTD. NULL = zstd. */
int noa_chunk_codec_from_name(const char *name);

/* Guesses the codec of compressed block bytes that carry no codec byte
 * (WAL snapshots): a zstd frame announcing exactly raw_len bytes is zstd,
 * anything else LZ4 (whose decompression then checks it). */
int noa_chunk_codec_sniff(const void *data, size_t len, size_t raw_len);

/* Releases a sealed block's data, summary and column; the struct may be reused. */
void noa_chunk_block_fini(struct noa_chunk_block *b);

/*
 * Appends a chunk file made of blocks[0..n) (in the given order) to out;
 * offsets are relative to the chunk's first byte, i.e. out->len on entry.
 * The chunk takes the codec of its last block (the newest: sealed under
 * the current configuration); a block of another codec (from a WAL
 * snapshot written under an older one) is decompressed and recompressed,
 * so that all of a chunk's blocks share its codec byte.
 * When any block has a summary or a column, the chunk gets a summaries-
 * and-columns section (kind 2).
 * Fills *sum when non-NULL. Returns 0, or NOA_EINVAL when n == 0 or a block
 * is empty or inconsistent, NOA_ECORRUPT or NOA_ENOMEM when recompressing
 * a block fails (out is then left as it was).
 */
int noa_chunk_encode(const struct noa_chunk_block *blocks, size_t n, struct noa_buf *out,
                     struct noa_chunk_summary *sum);

/* --- reading -------------------------------------------------------------- */

/*
 * Opens a chunk file held in data[0..len) (borrowed; must outlive r):
 * checks magic, version, codec, footer, every offset and length, the metas
 * CRC and the extra section (block summaries and columns: each block
 * meta's sum and col then point into data), without ever reading outside [0, len). A block's own
 * CRC is checked when it is decompressed, so that blocks a query skips
 * cost nothing.
 * Returns 0; NOA_ECORRUPT (err names the field and offset); NOA_EUNSUPP
 * for a Loki chunk version or a codec noa does not read; NOA_ENOMEM.
 * On failure r needs no _fini (but _fini is harmless).
 */
int noa_chunk_open(const void *data, size_t len, struct noa_chunk_reader *r, struct noa_error *err);

void noa_chunk_reader_fini(struct noa_chunk_reader *r);

/*
 * Decompresses block i into raw (its previous contents are replaced; the
 * buffer is grown to the block's raw_len, which open bounded by
 * NOA_CHUNK_MAX_BLOCK_RAW) after checking its CRC, and checks the entries
 * against the block meta (noa_chunk_block_check). Returns 0, NOA_EINVAL for
 * i out of range, NOA_ECORRUPT, or NOA_ENOMEM.
 */
int noa_chunk_block_decompress(const struct noa_chunk_reader *r, size_t i, struct noa_buf *raw,
                               struct noa_error *err);

/*
 * As noa_chunk_block_decompress without the walk over the entries: only
 * the CRC, the frame and its size are checked. For readers that iterate the block
 * anyway (noa_chunk_iter_next checks every entry it decodes) or skip it
 * after one search, where a second walk would cost as much as the search.
 * Entry order and time bounds are then not checked.
 */
int noa_chunk_block_inflate(const struct noa_chunk_reader *r, size_t i, struct noa_buf *raw,
                            struct noa_error *err);

/*
 * Decompresses src[0..n) compressed with codec (NOA_CHUNK_CODEC_ZSTD or 0,
 * NOA_CHUNK_CODEC_LZ4) that must hold exactly raw_len bytes (the caller
 * bounds raw_len) into raw, replacing its contents. An LZ4 block is decoded
 * with LZ4_decompress_safe into exactly raw_len bytes: no size inside it is
 * trusted. Returns 0, NOA_ECORRUPT (also for an unknown codec) or NOA_ENOMEM.
 */
int noa_chunk_codec_decompress(int codec, const void *src, size_t n, size_t raw_len,
                               struct noa_buf *raw, struct noa_error *err);

/*
 * Decompresses one zstd frame src[0..n) that must hold exactly raw_len
 * bytes (the caller bounds raw_len) into raw, replacing its contents, with
 * a decompression context kept per thread. Returns 0, NOA_ECORRUPT or
 * NOA_ENOMEM (err->msg says what, without a location).
 */
int noa_chunk_frame_decompress(const void *src, size_t n, size_t raw_len, struct noa_buf *raw,
                               struct noa_error *err);

/* CRC32C of a whole chunk file: the checksum in its object key. */
uint32_t noa_chunk_checksum(const void *data, size_t len);

/* --- object keys ---------------------------------------------------------- */

/* Unix ns -> the ms values in keys and Loki chunk refs (floor / ceiling). */
int64_t noa_chunk_from_ms(int64_t from_ns);
int64_t noa_chunk_through_ms(int64_t through_ns);

/*
 * Writes the object key for a chunk of stream fp into out[cap] (NUL-
 * terminated). Returns 0; NOA_EINVAL for an empty tenant or one containing
 * '/' or a control byte; NOA_ETOOBIG when it does not fit.
 */
int noa_chunk_key(char *out, size_t cap, const char *tenant, uint64_t fp,
                  const struct noa_chunk_summary *sum);

/* The parts of an object key (tenant borrows from the key). */
struct noa_chunk_key_parts {
    struct noa_str tenant;
    uint64_t fp;
    int64_t from_ms;
    int64_t through_ms;
    uint32_t checksum;
};

/* Parses a key written by noa_chunk_key. Returns 0 or NOA_EINVAL. */
int noa_chunk_key_parse(struct noa_str key, struct noa_chunk_key_parts *out);

#endif
