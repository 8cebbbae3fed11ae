/*
 * The records noa writes into its WAL (ingester/wal.c frames and checksums
 * them; this file owns their payload). Pure encode/decode; any thread.
 *
 * Every record starts with a type byte and a fixed 8-byte sequence number,
 * so the sequence can be stamped after encoding, on the thread that orders
 * appends. Sequences rise across restarts; each stream remembers the highest
 * sequence it has applied (or flushed to a chunk), and replay skips what a
 * stream already holds. That is what makes replay after a checkpoint or a
 * flush exactly-once.
 *
 * PUSH record (entries accepted by one push request, one tenant):
 *
 * | offset | size     | meaning                                              |
 * |--------|----------|------------------------------------------------------|
 * | 0      | 1        | type = 1                                             |
 * | 1      | 8        | sequence, little-endian u64                          |
 * | 9      | uvarint  | tenant length, then the tenant bytes                 |
 * |        | uvarint  | number of streams                                    |
 * |        | per stream: uvarint length + canonical label text             |
 * |        |            uvarint entry count, then entries encoded as in a  |
 * |        |            chunk block (ingester/chunk.h: ts, line, metadata) |
 *
 * SNAPSHOT record (all unflushed data of one stream, written by a
 * checkpoint so older segments can be deleted; replaces what replay built
 * for that stream so far):
 *
 * | offset | size     | meaning                                              |
 * |--------|----------|------------------------------------------------------|
 * | 0      | 1        | type = 2                                             |
 * | 1      | 8        | the stream's applied sequence, little-endian u64     |
 * | 9      | uvarint  | tenant length + bytes                                |
 * |        | uvarint  | label text length + canonical label text             |
 * |        | varint   | chunk start (wall-clock ns of the chunk's first append) |
 * |        | uvarint  | number of sealed blocks, then per block:             |
 * |        |            varint min_ts, varint max_ts, uvarint entries,     |
 * |        |            uvarint raw length, uvarint compressed length,     |
 * |        |            compressed bytes (zstd)                            |
 * |        | uvarint  | entry count of the head, then the head's entries   |
 * |        |            encoded as in a chunk block                        |
 */
#ifndef NOA_INGESTER_WALREC_H
#define NOA_INGESTER_WALREC_H

#include "common/buf.h"
#include "common/err.h"

#include <stdint.h>

enum {
    NOA_WALREC_PUSH = 1,
    NOA_WALREC_SNAPSHOT = 2,
};

#define NOA_WALREC_SEQ_OFFSET 1

/* Overwrites the sequence of an encoded record. */
void noa_walrec_set_seq(char *rec, uint64_t seq);

/* Reads type and sequence; returns 0 or NOA_ECORRUPT. */
int noa_walrec_header(const char *rec, size_t len, int *type, uint64_t *seq);

/* A cursor over an encoded record's fields. */
struct noa_walrec_reader {
    const unsigned char *p; /* borrowed record bytes */
    size_t len;
    size_t pos; /* read-only: offset of the next field */
};

void noa_walrec_reader_init(struct noa_walrec_reader *r, const char *rec, size_t len);
int noa_walrec_get_uvarint(struct noa_walrec_reader *r, uint64_t *v);
int noa_walrec_get_varint(struct noa_walrec_reader *r, int64_t *v);
/* A length-prefixed byte string, borrowed from the record. */
int noa_walrec_get_str(struct noa_walrec_reader *r, struct noa_str *s);
/* n raw bytes, borrowed. */
int noa_walrec_get_bytes(struct noa_walrec_reader *r, size_t n, struct noa_str *s);

struct noa_validated;

/* Encodes the PUSH record of every accepted entry of v (ingester/validate.h)
 * for tenant into b (appended), with a zero sequence. */
void noa_walrec_encode_push(const char *tenant, const struct noa_validated *v, struct noa_buf *b);

/* Encoding helpers: a length-prefixed string. */
void noa_walrec_put_str(struct noa_buf *b, struct noa_str s);
/* Starts a record of `type` with a zero sequence. */
void noa_walrec_begin(struct noa_buf *b, int type);

#endif
