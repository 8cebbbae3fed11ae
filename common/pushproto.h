/*
 * Loki's protobuf PushRequest: a zero-copy decoder into struct
 * noa_push_request and the matching encoder. This is the body Promtail,
 * Alloy and noa-shipper send (snappy- or zstd-compressed on the wire; the
 * codecs live in common/compress.h). Pure functions; any thread.
 *
 * Wire format (proto3, package logproto, pkg/push/push.proto). Every field
 * is a tag varint (field << 3 | wire type) followed by its value; fields may
 * come in any order and repeat.
 *
 *   message          field  wire type   meaning
 *   PushRequest      1      2 (len)     StreamAdapter streams (repeated)
 *                    2      2 (len)     string format (internal; ignored)
 *   StreamAdapter    1      2 (len)     string labels: `{a="b", c="d"}`
 *                    2      2 (len)     EntryAdapter entries (repeated)
 *                    3      0 (varint)  uint64 hash (internal; ignored)
 *   EntryAdapter     1      2 (len)     google.protobuf.Timestamp timestamp
 *                    2      2 (len)     string line (raw bytes, no UTF-8 check)
 *                    3      2 (len)     LabelPairAdapter structuredMetadata (repeated)
 *                    4      2 (len)     LabelPairAdapter parsed (checked, then dropped)
 *   LabelPairAdapter 1      2 (len)     string name
 *                    2      2 (len)     string value
 *   Timestamp        1      0 (varint)  int64 seconds, two's complement
 *                    2      0 (varint)  int32 nanos, in [0, 1e9)
 *
 * Decoding follows Loki's gogo-generated code: a known field with the wrong
 * wire type, tag 0, a stray end-group, a varint longer than 10 bytes, or a
 * length running past its enclosing message is an error; unknown fields are
 * skipped by wire type (groups included); a repeated singular field keeps
 * its last value (a repeated timestamp replaces the earlier one whole).
 * Timestamps are validated as Go does (seconds in [0001-01-01, 10000-01-01),
 * nanos in [0, 1e9)); valid ones outside int64 nanoseconds (before 1677 or
 * after 2262) are clamped to INT64_MIN / INT64_MAX so push validation
 * rejects that entry as too old / too new, as Loki would. An entry without a
 * timestamp gets INT64_MIN (Go's zero time, year 1).
 *
 * Encoding writes what Loki's marshaller writes: fields in number order,
 * empty strings and zero numbers omitted, the timestamp always present.
 */
#ifndef NOA_COMMON_PUSHPROTO_H
#define NOA_COMMON_PUSHPROTO_H

#include "common/buf.h"
#include "common/err.h"
#include "common/push.h"

#include <stddef.h>

/* Loki's default for the decompressed body (distributor max recv size). */
#define NOA_PUSHPROTO_DEFAULT_MAX_DECOMPRESSED ((size_t)100 << 20)

struct noa_pushproto_opts {
    /* Most bytes the arrays of the decoded request (streams, entries,
     * metadata pairs) may take in its arena; a body needing more is
     * NOA_ETOOBIG before anything is allocated. An entry costs 40 bytes of
     * array against as little as 2 bytes of body, so the ingester sets this
     * to bound memory per request. 0 = no limit. */
    size_t max_mem;
    /* For noa_pushproto_decode_snappy: most bytes the body may decompress
     * to. 0 = NOA_PUSHPROTO_DEFAULT_MAX_DECOMPRESSED. */
    size_t max_decompressed;
};

/*
 * Decodes `n` bytes of a PushRequest into `out`, which the call initialises
 * (an earlier request in it must have been finished with
 * noa_push_request_fini). Labels, lines and metadata strings point into
 * `buf`, which the caller keeps alive and unchanged as long as `out`; the
 * arrays live in out->arena. `opts` may be NULL (no limits).
 * Returns 0; NOA_EINVAL with err->msg naming the byte offset and the fault;
 * NOA_ETOOBIG when opts->max_mem is exceeded. On failure `out` is left
 * empty (nothing to free).
 */
int noa_pushproto_decode(const void *buf, size_t n, const struct noa_pushproto_opts *opts,
                         struct noa_push_request *out, struct noa_error *err);

/*
 * Promtail's body: snappy (block format) then noa_pushproto_decode. The
 * decompressed bytes replace the contents of `scratch`, which the caller
 * keeps alive as long as `out`; `body` may point into `scratch` (a body whose
 * gzip layer was undone into it). Errors as both steps report them
 * ("snappy: corrupt input", NOA_ETOOBIG past opts->max_decompressed).
 */
int noa_pushproto_decode_snappy(const void *body, size_t n, const struct noa_pushproto_opts *opts,
                                struct noa_buf *scratch, struct noa_push_request *out,
                                struct noa_error *err);

/*
 * Appends the protobuf encoding of `req` to `out` (no compression).
 * Returns 0. Aborts on OOM like noa_buf: the request is data the caller
 * already holds.
 */
int noa_pushproto_encode(const struct noa_push_request *req, struct noa_buf *out);

/* The number of bytes noa_pushproto_encode would append. */
size_t noa_pushproto_encoded_size(const struct noa_push_request *req);

#endif
