/*
 * Compression adapters: zstd, snappy (block format), gzip and raw deflate.
 * The one file that includes zstd.h, snappy-c.h and zlib.h; the rest of noa
 * sees these functions and struct noa_buf.
 *
 * Every decompressor takes `max_out`, the most bytes it may append to `out`,
 * and fails with NOA_ETOOBIG before allocating past it: snappy and zstd
 * frames that declare their size are checked up front, everything else is
 * inflated in bounded steps. Output buffers grow by exact, non-aborting
 * reallocations (an allocation failure is NOA_ENOMEM, never an abort), so a
 * decompression bomb costs at most `max_out` bytes of output. Corrupt or
 * truncated input is NOA_EINVAL with a message naming the codec
 * ("snappy: corrupt input", "zstd: truncated frame", ...). On failure `out`
 * keeps its previous length (bytes past it are unspecified).
 *
 * The zstd streaming decoder also needs a window buffer: it is capped at
 * max(8 MiB, the largest power of two <= max_out) and never above 128 MiB
 * (libzstd's default); a frame asking for more is NOA_ETOOBIG. Frames that declare their content
 * size (everything noa and the zstd CLI write) are decoded in one shot with no window.
 *
 * Pure functions over buffers; any thread. A struct noa_zstd_ctx belongs to
 * one thread at a time.
 */
#ifndef NOA_COMMON_COMPRESS_H
#define NOA_COMMON_COMPRESS_H

#include "common/buf.h"
#include "common/err.h"

#include <stddef.h>

enum noa_compress_codec {
    NOA_COMPRESS_NONE = 0, /* identity */
    NOA_COMPRESS_ZSTD,     /* zstd frames (one or more, concatenated) */
    NOA_COMPRESS_SNAPPY,   /* snappy block format, not the framed format */
    NOA_COMPRESS_GZIP,     /* gzip members (one or more, concatenated) */
    NOA_COMPRESS_DEFLATE,  /* raw DEFLATE, no zlib header (Go's compress/flate) */
};

/* Level noa uses for zstd when nothing else is configured. */
#define NOA_COMPRESS_ZSTD_DEFAULT_LEVEL 3

/*
 * Maps a Content-Encoding token to a codec: "" (none), "zstd", "snappy",
 * "gzip", "deflate", compared exactly as Loki does (so "GZIP" and
 * "identity" are unsupported there and here). Returns 0, or NOA_EUNSUPP
 * for anything else (*out untouched). Which codecs a route applies is the
 * caller's business (Loki passes a snappy Content-Encoding through).
 */
int noa_compress_codec_from_name(struct noa_str name, enum noa_compress_codec *out);

/* The Content-Encoding token of a codec ("" for none); never NULL. */
const char *noa_compress_codec_name(enum noa_compress_codec codec);

/*
 * Decompresses `n` bytes of `in` with `codec`, appending at most `max_out`
 * bytes to `out`. NOA_COMPRESS_NONE copies (still bounded by max_out).
 * Returns 0, NOA_ETOOBIG (output would pass max_out), NOA_EINVAL (corrupt,
 * truncated or empty input where the codec needs some), NOA_ENOMEM, or
 * NOA_EINTERNAL (a library failure); err (may be NULL) gets the message.
 */
int noa_compress_decompress(enum noa_compress_codec codec, const void *in, size_t n, size_t max_out,
                            struct noa_buf *out, struct noa_error *err);

/*
 * Compresses `n` bytes of `in` with `codec`, appending to `out`. `level` is
 * used by zstd (1..22, 0 = NOA_COMPRESS_ZSTD_DEFAULT_LEVEL) and gzip/deflate
 * (1..9, 0 = zlib's default 6); snappy ignores it. Returns 0,
 * NOA_ETOOBIG (input too large for the codec) or NOA_EINTERNAL.
 * Aborts on OOM like noa_buf (callers compress data they already hold).
 */
int noa_compress_compress(enum noa_compress_codec codec, const void *in, size_t n, int level,
                          struct noa_buf *out);

/* The per-codec forms of the two functions above. */
int noa_compress_zstd_decompress(const void *in, size_t n, size_t max_out, struct noa_buf *out,
                                 struct noa_error *err);
int noa_compress_snappy_decompress(const void *in, size_t n, size_t max_out, struct noa_buf *out,
                                   struct noa_error *err);
int noa_compress_gzip_decompress(const void *in, size_t n, size_t max_out, struct noa_buf *out,
                                 struct noa_error *err);
int noa_compress_deflate_decompress(const void *in, size_t n, size_t max_out, struct noa_buf *out,
                                    struct noa_error *err);
int noa_compress_zstd_compress(const void *in, size_t n, int level, struct noa_buf *out);
int noa_compress_snappy_compress(const void *in, size_t n, struct noa_buf *out);
int noa_compress_gzip_compress(const void *in, size_t n, int level, struct noa_buf *out);
int noa_compress_deflate_compress(const void *in, size_t n, int level, struct noa_buf *out);

/*
 * Reusable zstd contexts for a caller that compresses or decompresses
 * repeatedly on one thread (the shipper's batcher, chunk and WAL writers):
 * creating a ZSTD context costs far more than compressing a small block.
 * Zero-initialise or call _init; the contexts are created on first use.
 */
struct noa_zstd_ctx {
    void *cctx; /* private: ZSTD_CCtx */
    void *dctx; /* private: ZSTD_DCtx */
    int level;  /* public: compression level, 0 = NOA_COMPRESS_ZSTD_DEFAULT_LEVEL */
};

void noa_compress_zstd_ctx_init(struct noa_zstd_ctx *z, int level);
/* Frees both contexts; the struct may be reused after _init. */
void noa_compress_zstd_ctx_fini(struct noa_zstd_ctx *z);
/* As noa_compress_zstd_compress, at z->level. */
int noa_compress_zstd_ctx_compress(struct noa_zstd_ctx *z, const void *in, size_t n,
                                   struct noa_buf *out);
/* As noa_compress_zstd_decompress. */
int noa_compress_zstd_ctx_decompress(struct noa_zstd_ctx *z, const void *in, size_t n,
                                     size_t max_out, struct noa_buf *out, struct noa_error *err);

#endif
