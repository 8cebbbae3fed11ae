/*
 * Compression adapters over libzstd, libsnappy (C API) and zlib: bounded
 * decompression into struct noa_buf and plain compression. Owns no global
 * state; struct noa_zstd_ctx owns its ZSTD contexts. Any thread.
 */
#include "common/compress.h"
#include "common/mem.h"

#include <limits.h>
#include <snappy-c.h>
#include <stdint.h>
#include <zlib.h>

#include <zstd.h>
#include <zstd_errors.h>

/* First output step of a streaming decompressor, before doubling. */
#define FIRST_STEP_MIN (64u * 1024u)
#define FIRST_STEP_MAX (4u * 1024u * 1024u)
/* Smallest zstd window we always allow (2^23 = 8 MiB, what levels <= 19 use)
 * and the largest (libzstd's default decoder limit, 2^27). */
#define ZSTD_WINDOW_LOG_FLOOR 23
#define ZSTD_WINDOW_LOG_CEIL 27
/* Largest zstd frame header (libzstd's ZSTD_FRAMEHEADERSIZE_MAX, static-only). */
#define ZSTD_HEADER_MAX 18
/* zlib counts in uInt: feed it at most this much at a time. */
#define ZLIB_CHUNK ((size_t)1 << 30)

/* ---- output growth, exact and non-aborting ---- */

/* Makes room for `extra` more bytes without the doubling of noa_buf_reserve,
 * so a bounded decompressor never holds more than its bound. */
static int buf_room(struct noa_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    if (extra > SIZE_MAX - b->len)
        return NOA_ENOMEM;
    size_t cap = b->len + extra;
    char *p = noa_realloc(b->data, cap ? cap : 1);
    if (!p)
        return NOA_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

/* Grows the output of a streaming decompressor that has produced `produced`
 * bytes under a `max_out` bound: doubles, starting from a guess based on the
 * input size, never past the bound. *room gets the bytes that may be written
 * now: the spare capacity (the caller's included) capped by the bound, 0 at
 * the bound. */
static int grow_step(struct noa_buf *b, size_t produced, size_t max_out, size_t in_len,
                     size_t *room)
{
    size_t left = max_out - produced;
    *room = 0;
    if (left == 0)
        return 0;
    if (b->cap == b->len) {
        size_t step = produced;
        if (step == 0) {
            step = in_len > FIRST_STEP_MAX / 4 ? FIRST_STEP_MAX : in_len * 4;
            if (step < FIRST_STEP_MIN)
                step = FIRST_STEP_MIN;
        }
        if (step > left)
            step = left;
        int rc = buf_room(b, step);
        if (rc)
            return rc;
    }
    *room = b->cap - b->len < left ? b->cap - b->len : left;
    return 0;
}

/* Where to write the next byte; a real pointer even for an empty, unallocated
 * buffer (libraries get no NULL + 0, which C leaves undefined). */
static char *out_at(struct noa_buf *b, char *dummy)
{
    return b->data ? b->data + b->len : dummy;
}

static int too_big(struct noa_error *err, const char *codec, size_t max_out)
{
    return noa_error_set(err, NOA_ETOOBIG, "%s: decompressed size exceeds the limit of %zu bytes",
                         codec, max_out);
}

static int no_memory(struct noa_error *err, const char *codec)
{
    return noa_error_set(err, NOA_ENOMEM, "%s: out of memory while decompressing", codec);
}

/* ---- codec names ---- */

int noa_compress_codec_from_name(struct noa_str name, enum noa_compress_codec *out)
{
    /* Exact, case-sensitive tokens, as Loki's push handler compares them. */
    static const enum noa_compress_codec codecs[] = {NOA_COMPRESS_NONE, NOA_COMPRESS_ZSTD,
                                                     NOA_COMPRESS_SNAPPY, NOA_COMPRESS_GZIP,
                                                     NOA_COMPRESS_DEFLATE};
    for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
        if (noa_str_eq_c(name, noa_compress_codec_name(codecs[i]))) {
            *out = codecs[i];
            return 0;
        }
    }
    return NOA_EUNSUPP;
}

const char *noa_compress_codec_name(enum noa_compress_codec codec)
{
    switch (codec) {
    case NOA_COMPRESS_ZSTD:
        return "zstd";
    case NOA_COMPRESS_SNAPPY:
        return "snappy";
    case NOA_COMPRESS_GZIP:
        return "gzip";
    case NOA_COMPRESS_DEFLATE:
        return "deflate";
    case NOA_COMPRESS_NONE:
        break;
    }
    return "";
}

/* ---- zstd ---- */

static int zstd_fail(struct noa_error *err, size_t code, size_t max_out)
{
    switch (ZSTD_getErrorCode(code)) {
    case ZSTD_error_srcSize_wrong:
        return noa_error_set(err, NOA_EINVAL, "zstd: truncated frame");
    case ZSTD_error_frameParameter_windowTooLarge:
        return noa_error_set(err, NOA_ETOOBIG,
                             "zstd: frame window too large for the limit of %zu bytes", max_out);
    case ZSTD_error_dstSize_tooSmall:
        return too_big(err, "zstd", max_out);
    case ZSTD_error_memory_allocation:
        return no_memory(err, "zstd");
    default:
        return noa_error_set(err, NOA_EINVAL, "zstd: corrupt input (%s)", ZSTD_getErrorName(code));
    }
}

/* 1 when p starts with a zstd or skippable frame magic (or is a prefix of
 * one), so a short input can be called truncated rather than foreign. */
static int zstd_magic_ok(const unsigned char *p, size_t n)
{
    static const unsigned char zmagic[4] = {0x28, 0xB5, 0x2F, 0xFD};
    size_t k = n < 4 ? n : 4;
    if (memcmp(p, zmagic, k) == 0)
        return 1;
    /* Skippable frames: 0x184D2A5? little-endian. */
    static const unsigned char smagic[3] = {0x2A, 0x4D, 0x18};
    if (n >= 1 && (p[0] & 0xF0) != 0x50)
        return 0;
    return n <= 1 || memcmp(p + 1, smagic, n - 1 < 3 ? n - 1 : 3) == 0;
}

/*
 * Sums the content sizes the frames declare. Returns 1 with *total when
 * every frame declares one, 0 when some frame does not (stream instead), or
 * a negative code for a malformed frame sequence.
 */
static int zstd_declared_size(const unsigned char *p, size_t n, unsigned long long *total,
                              struct noa_error *err)
{
    unsigned long long sum = 0;
    while (n > 0) {
        unsigned long long cs = ZSTD_getFrameContentSize(p, n);
        if (cs == ZSTD_CONTENTSIZE_UNKNOWN)
            return 0;
        if (cs == ZSTD_CONTENTSIZE_ERROR) {
            /* Either too few bytes for a header or not a zstd frame at all. */
            if (n < ZSTD_HEADER_MAX && zstd_magic_ok(p, n))
                return noa_error_set(err, NOA_EINVAL, "zstd: truncated frame");
            return noa_error_set(err, NOA_EINVAL, "zstd: corrupt input (not a zstd frame)");
        }
        size_t fl = ZSTD_findFrameCompressedSize(p, n);
        if (ZSTD_isError(fl))
            return zstd_fail(err, fl, 0);
        if (cs > ULLONG_MAX - sum)
            return noa_error_set(err, NOA_EINVAL, "zstd: corrupt input (content size overflow)");
        sum += cs;
        p += fl;
        n -= fl;
    }
    *total = sum;
    return 1;
}

static int zstd_window_log_max(size_t max_out)
{
    int lg = 0;
    while (lg < 62 && ((size_t)1 << (lg + 1)) <= max_out)
        lg++;
    if (lg < ZSTD_WINDOW_LOG_FLOOR)
        lg = ZSTD_WINDOW_LOG_FLOOR;
    if (lg > ZSTD_WINDOW_LOG_CEIL)
        lg = ZSTD_WINDOW_LOG_CEIL;
    return lg;
}

/* Frames without a declared size: stream with a running bound. */
static int zstd_stream_inner(ZSTD_DCtx *d, const unsigned char *src, size_t n, size_t max_out,
                             struct noa_buf *out, struct noa_error *err)
{
    size_t start = out->len;
    ZSTD_DCtx_reset(d, ZSTD_reset_session_and_parameters);
    size_t r = ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, zstd_window_log_max(max_out));
    if (ZSTD_isError(r))
        return noa_error_set(err, NOA_EINTERNAL, "zstd: %s", ZSTD_getErrorName(r));
    ZSTD_inBuffer in = {src, n, 0};
    for (;;) {
        size_t room;
        if (grow_step(out, out->len - start, max_out, n, &room))
            return no_memory(err, "zstd");
        unsigned char sink;
        int probing = room == 0; /* at the bound: any byte more is too much */
        ZSTD_outBuffer o = probing ? (ZSTD_outBuffer){&sink, 1, 0}
                                   : (ZSTD_outBuffer){out->data + out->len, room, 0};
        size_t in_before = in.pos;
        r = ZSTD_decompressStream(d, &o, &in);
        if (ZSTD_isError(r))
            return zstd_fail(err, r, max_out);
        if (probing && o.pos)
            return too_big(err, "zstd", max_out);
        if (!probing)
            out->len += o.pos;
        if (r == 0 && in.pos == in.size)
            return 0; /* the last frame is decoded and flushed */
        if (o.pos < o.size) {
            /* The decoder flushed everything it had and wants input. */
            if (in.pos == in.size)
                return noa_error_set(err, NOA_EINVAL, "zstd: truncated frame");
            if (in.pos == in_before && o.pos == 0)
                return noa_error_set(err, NOA_EINVAL, "zstd: corrupt input (no progress)");
        }
    }
}

static int zstd_stream(ZSTD_DCtx *d, const unsigned char *src, size_t n, size_t max_out,
                       struct noa_buf *out, struct noa_error *err)
{
    size_t start = out->len;
    int rc = zstd_stream_inner(d, src, n, max_out, out, err);
    if (rc)
        out->len = start; /* the contract: a failure appends nothing */
    return rc;
}

static int zstd_decompress_with(ZSTD_DCtx *d, const void *in, size_t n, size_t max_out,
                                struct noa_buf *out, struct noa_error *err)
{
    if (n == 0)
        return 0; /* no frames, no bytes: what Go's zstd decoders return too */
    unsigned long long total = 0;
    int known = zstd_declared_size(in, n, &total, err);
    if (known < 0)
        return known;
    if (!known)
        return zstd_stream(d, in, n, max_out, out, err);
    if (total > max_out)
        return noa_error_set(err, NOA_ETOOBIG,
                             "zstd: decompressed size %llu exceeds the limit of %zu bytes", total,
                             max_out);
    if (buf_room(out, (size_t)total))
        return no_memory(err, "zstd");
    ZSTD_DCtx_reset(d, ZSTD_reset_session_and_parameters);
    char dummy;
    size_t r = ZSTD_decompressDCtx(d, out_at(out, &dummy), (size_t)total, in, n);
    if (ZSTD_isError(r))
        return zstd_fail(err, r, max_out);
    if (r != total)
        return noa_error_set(err, NOA_EINVAL, "zstd: corrupt input (content size mismatch)");
    out->len += r;
    return 0;
}

void noa_compress_zstd_ctx_init(struct noa_zstd_ctx *z, int level)
{
    z->cctx = NULL;
    z->dctx = NULL;
    z->level = level;
}

void noa_compress_zstd_ctx_fini(struct noa_zstd_ctx *z)
{
    ZSTD_freeCCtx(z->cctx);
    ZSTD_freeDCtx(z->dctx);
    z->cctx = NULL;
    z->dctx = NULL;
}

int noa_compress_zstd_ctx_decompress(struct noa_zstd_ctx *z, const void *in, size_t n,
                                     size_t max_out, struct noa_buf *out, struct noa_error *err)
{
    if (!z->dctx && !(z->dctx = ZSTD_createDCtx()))
        return no_memory(err, "zstd");
    return zstd_decompress_with(z->dctx, in, n, max_out, out, err);
}

int noa_compress_zstd_ctx_compress(struct noa_zstd_ctx *z, const void *in, size_t n,
                                   struct noa_buf *out)
{
    if (!z->cctx && !(z->cctx = ZSTD_createCCtx()))
        return NOA_ENOMEM;
    size_t bound = ZSTD_compressBound(n);
    if (ZSTD_isError(bound))
        return NOA_ETOOBIG;
    noa_buf_reserve(out, bound);
    int level = z->level ? z->level : NOA_COMPRESS_ZSTD_DEFAULT_LEVEL;
    size_t r = ZSTD_compressCCtx(z->cctx, out->data + out->len, bound, in, n, level);
    if (ZSTD_isError(r))
        return NOA_EINTERNAL;
    out->len += r;
    return 0;
}

int noa_compress_zstd_decompress(const void *in, size_t n, size_t max_out, struct noa_buf *out,
                                 struct noa_error *err)
{
    struct noa_zstd_ctx z;
    noa_compress_zstd_ctx_init(&z, 0);
    int rc = noa_compress_zstd_ctx_decompress(&z, in, n, max_out, out, err);
    noa_compress_zstd_ctx_fini(&z);
    return rc;
}

int noa_compress_zstd_compress(const void *in, size_t n, int level, struct noa_buf *out)
{
    struct noa_zstd_ctx z;
    noa_compress_zstd_ctx_init(&z, level);
    int rc = noa_compress_zstd_ctx_compress(&z, in, n, out);
    noa_compress_zstd_ctx_fini(&z);
    return rc;
}

/* ---- snappy (block format) ---- */

int noa_compress_snappy_decompress(const void *in, size_t n, size_t max_out, struct noa_buf *out,
                                   struct noa_error *err)
{
    size_t len = 0;
    if (snappy_uncompressed_length(in, n, &len) != SNAPPY_OK)
        return noa_error_set(err, NOA_EINVAL, "snappy: corrupt input");
    if (len > max_out)
        return noa_error_set(err, NOA_ETOOBIG,
                             "snappy: decompressed size %zu exceeds the limit of %zu bytes", len,
                             max_out);
    if (buf_room(out, len))
        return no_memory(err, "snappy");
    size_t got = len;
    char dummy;
    /* snappy_uncompress checks that the input produces exactly `len` bytes. */
    if (snappy_uncompress(in, n, out_at(out, &dummy), &got) != SNAPPY_OK || got != len)
        return noa_error_set(err, NOA_EINVAL, "snappy: corrupt input");
    out->len += len;
    return 0;
}

int noa_compress_snappy_compress(const void *in, size_t n, struct noa_buf *out)
{
    /* The block format stores the length as a 32-bit varint. */
    if (n > UINT32_MAX)
        return NOA_ETOOBIG;
    size_t bound = snappy_max_compressed_length(n);
    noa_buf_reserve(out, bound);
    size_t got = bound;
    if (snappy_compress(in, n, out->data + out->len, &got) != SNAPPY_OK)
        return NOA_EINTERNAL;
    out->len += got;
    return 0;
}

/* ---- gzip and raw deflate (zlib) ---- */

/* window_bits: 16 + MAX_WBITS for gzip, -MAX_WBITS for raw deflate. */
static int inflate_bounded(const char *codec, int window_bits, const unsigned char *src, size_t n,
                           size_t max_out, struct noa_buf *out, struct noa_error *err)
{
    int gzip = window_bits > MAX_WBITS;
    if (n == 0)
        return noa_error_set(err, NOA_EINVAL, "%s: empty input", codec);
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, window_bits) != Z_OK)
        return no_memory(err, codec);
    int rc = 0;
    size_t start = out->len, fed = 0;
    for (;;) {
        size_t room;
        if (grow_step(out, out->len - start, max_out, n, &room)) {
            rc = no_memory(err, codec);
            goto done;
        }
        if (zs.avail_in == 0 && fed < n) {
            size_t chunk = n - fed < ZLIB_CHUNK ? n - fed : ZLIB_CHUNK;
            zs.next_in = (Bytef *)(uintptr_t)(src + fed);
            zs.avail_in = (uInt)chunk;
            fed += chunk;
        }
        unsigned char sink;
        int probing = room == 0;
        if (probing)
            room = 1;
        if (room > ZLIB_CHUNK)
            room = ZLIB_CHUNK;
        zs.next_out = probing ? &sink : (Bytef *)out->data + out->len;
        zs.avail_out = (uInt)room;
        int zr = inflate(&zs, Z_NO_FLUSH);
        size_t got = room - zs.avail_out;
        if (probing && got) {
            rc = too_big(err, codec, max_out);
            goto done;
        }
        if (!probing)
            out->len += got;
        size_t left = zs.avail_in + (n - fed);
        if (zr == Z_STREAM_END) {
            /* Go's gzip reader reads concatenated members; flate stops at
             * the final block and ignores what follows. */
            if (!gzip || left == 0)
                goto done;
            if (inflateReset(&zs) != Z_OK) {
                rc = noa_error_set(err, NOA_EINTERNAL, "%s: inflateReset failed", codec);
                goto done;
            }
            continue;
        }
        if (zr == Z_DATA_ERROR || zr == Z_NEED_DICT) {
            rc = noa_error_set(err, NOA_EINVAL, "%s: corrupt input (%s)", codec,
                               zs.msg ? zs.msg : "bad data");
            goto done;
        }
        if (zr == Z_MEM_ERROR) {
            rc = no_memory(err, codec);
            goto done;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = noa_error_set(err, NOA_EINTERNAL, "%s: inflate failed (%d)", codec, zr);
            goto done;
        }
        /* Output space left over means zlib starved for input. */
        if (zs.avail_out > 0 && left == 0) {
            rc = noa_error_set(err, NOA_EINVAL, "%s: truncated input", codec);
            goto done;
        }
    }
done:
    inflateEnd(&zs);
    if (rc)
        out->len = start; /* the contract: a failure appends nothing */
    return rc;
}

int noa_compress_gzip_decompress(const void *in, size_t n, size_t max_out, struct noa_buf *out,
                                 struct noa_error *err)
{
    return inflate_bounded("gzip", 16 + MAX_WBITS, in, n, max_out, out, err);
}

int noa_compress_deflate_decompress(const void *in, size_t n, size_t max_out, struct noa_buf *out,
                                    struct noa_error *err)
{
    return inflate_bounded("deflate", -MAX_WBITS, in, n, max_out, out, err);
}

static int deflate_all(int window_bits, const unsigned char *src, size_t n, int level,
                       struct noa_buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (level == 0)
        level = Z_DEFAULT_COMPRESSION;
    if (deflateInit2(&zs, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NOA_EINTERNAL;
    int rc = 0;
    size_t fed = 0;
    for (;;) {
        if (zs.avail_in == 0 && fed < n) {
            size_t chunk = n - fed < ZLIB_CHUNK ? n - fed : ZLIB_CHUNK;
            zs.next_in = (Bytef *)(uintptr_t)(src + fed);
            zs.avail_in = (uInt)chunk;
            fed += chunk;
        }
        int flush = fed == n ? Z_FINISH : Z_NO_FLUSH;
        size_t want = deflateBound(&zs, zs.avail_in);
        if (want > ZLIB_CHUNK)
            want = ZLIB_CHUNK;
        noa_buf_reserve(out, want);
        size_t room = out->cap - out->len;
        if (room > ZLIB_CHUNK)
            room = ZLIB_CHUNK;
        zs.next_out = (Bytef *)out->data + out->len;
        zs.avail_out = (uInt)room;
        int zr = deflate(&zs, flush);
        out->len += room - zs.avail_out;
        if (zr == Z_STREAM_END)
            break;
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = NOA_EINTERNAL;
            break;
        }
    }
    deflateEnd(&zs);
    return rc;
}

int noa_compress_gzip_compress(const void *in, size_t n, int level, struct noa_buf *out)
{
    return deflate_all(16 + MAX_WBITS, in, n, level, out);
}

int noa_compress_deflate_compress(const void *in, size_t n, int level, struct noa_buf *out)
{
    return deflate_all(-MAX_WBITS, in, n, level, out);
}

/* ---- dispatch ---- */

int noa_compress_decompress(enum noa_compress_codec codec, const void *in, size_t n, size_t max_out,
                            struct noa_buf *out, struct noa_error *err)
{
    switch (codec) {
    case NOA_COMPRESS_NONE:
        if (n > max_out)
            return noa_error_set(err, NOA_ETOOBIG, "body size %zu exceeds the limit of %zu bytes",
                                 n, max_out);
        if (buf_room(out, n))
            return noa_error_set(err, NOA_ENOMEM, "out of memory copying the body");
        if (n)
            memcpy(out->data + out->len, in, n);
        out->len += n;
        return 0;
    case NOA_COMPRESS_ZSTD:
        return noa_compress_zstd_decompress(in, n, max_out, out, err);
    case NOA_COMPRESS_SNAPPY:
        return noa_compress_snappy_decompress(in, n, max_out, out, err);
    case NOA_COMPRESS_GZIP:
        return noa_compress_gzip_decompress(in, n, max_out, out, err);
    case NOA_COMPRESS_DEFLATE:
        return noa_compress_deflate_decompress(in, n, max_out, out, err);
    }
    return noa_error_set(err, NOA_EUNSUPP, "unknown codec %d", (int)codec);
}

int noa_compress_compress(enum noa_compress_codec codec, const void *in, size_t n, int level,
                          struct noa_buf *out)
{
    switch (codec) {
    case NOA_COMPRESS_NONE:
        noa_buf_append(out, in, n);
        return 0;
    case NOA_COMPRESS_ZSTD:
        return noa_compress_zstd_compress(in, n, level, out);
    case NOA_COMPRESS_SNAPPY:
        return noa_compress_snappy_compress(in, n, out);
    case NOA_COMPRESS_GZIP:
        return noa_compress_gzip_compress(in, n, level, out);
    case NOA_COMPRESS_DEFLATE:
        return noa_compress_deflate_compress(in, n, level, out);
    }
    return NOA_EUNSUPP;
}
