/*
 * Byte slices, growable buffers and arenas: the vocabulary of the hot paths.
 *
 * struct noa_str is a borrowed view (pointer + length, not NUL-terminated);
 * struct noa_buf owns a growable byte array; struct noa_arena hands out
 * memory for one request or one query and frees it all at once.
 * Not thread-safe: each value belongs to one thread at a time.
 */
#ifndef NOA_COMMON_BUF_H
#define NOA_COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct noa_str {
    const char *p; /* borrowed; may be NULL when len == 0 */
    size_t len;
};

#define NOA_STR(lit) ((struct noa_str){(lit), sizeof(lit) - 1})

static inline struct noa_str noa_str_c(const char *s)
{
    return (struct noa_str){s, s ? strlen(s) : 0};
}

static inline int noa_str_eq(struct noa_str a, struct noa_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static inline int noa_str_eq_c(struct noa_str a, const char *s)
{
    return noa_str_eq(a, noa_str_c(s));
}

/* memcmp order, shorter first on a common prefix. */
static inline int noa_str_cmp(struct noa_str a, struct noa_str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    if (c)
        return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

struct noa_buf {
    char *data; /* owned; NULL until the first write */
    size_t len;
    size_t cap;
};

/* noa_buf starts zeroed ({0}); _fini releases it. */
void noa_buf_fini(struct noa_buf *b);
/* Ensures room for `extra` more bytes; aborts on OOM (callers bound sizes first). */
void noa_buf_reserve(struct noa_buf *b, size_t extra);
/* Like noa_buf_reserve, but the capacity doubles from 4 KiB only up to
 * `limit`, and beyond it grows to exactly what is needed: a buffer that
 * fills to about `limit` and is then reused never holds twice that. */
void noa_buf_reserve_upto(struct noa_buf *b, size_t extra, size_t limit);
void noa_buf_append(struct noa_buf *b, const void *p, size_t n);
void noa_buf_append_str(struct noa_buf *b, struct noa_str s);
void noa_buf_putc(struct noa_buf *b, char c);
void noa_buf_printf(struct noa_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void noa_buf_vprintf(struct noa_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Appends LEB128 unsigned / zigzag signed varints. */
void noa_buf_put_uvarint(struct noa_buf *b, uint64_t v);
void noa_buf_put_varint(struct noa_buf *b, int64_t v);
void noa_buf_put_be32(struct noa_buf *b, uint32_t v);
void noa_buf_put_be64(struct noa_buf *b, uint64_t v);
/* Appends s as a JSON string literal, quotes included (UTF-8 passed through,
 * invalid bytes replaced by U+FFFD, controls escaped). */
void noa_buf_put_json_str(struct noa_buf *b, const char *s, size_t n);
/* Makes data a NUL-terminated C string (the NUL is not counted in len). */
const char *noa_buf_cstr(struct noa_buf *b);
static inline void noa_buf_reset(struct noa_buf *b)
{
    b->len = 0;
}
/* Takes the bytes out of b (caller frees with noa_free); b is left empty. */
char *noa_buf_steal(struct noa_buf *b, size_t *len);

/* Reading varints from a buffer: return bytes consumed, 0 on truncation or overflow. */
size_t noa_get_uvarint(const unsigned char *p, size_t n, uint64_t *out);
size_t noa_get_varint(const unsigned char *p, size_t n, int64_t *out);
static inline uint32_t noa_get_be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t noa_get_be64(const unsigned char *p)
{
    return ((uint64_t)noa_get_be32(p) << 32) | noa_get_be32(p + 4);
}

/* An arena: bump allocation in chunks, freed at once. Zero-initialise. */
struct noa_arena {
    struct noa_arena_chunk *head; /* private */
    size_t total;                 /* read-only: bytes handed out */
};
/* Never fails for sizes below the limit the caller checked; aborts on OOM. */
void *noa_arena_alloc(struct noa_arena *a, size_t n);
char *noa_arena_strndup(struct noa_arena *a, const char *s, size_t n);
struct noa_str noa_arena_str(struct noa_arena *a, struct noa_str s);
void noa_arena_fini(struct noa_arena *a);
/* Moves every allocation of src into dst (src is left empty): what src
 * handed out stays valid until dst is finalised. */
void noa_arena_adopt(struct noa_arena *dst, struct noa_arena *src);

/* CRC-32C (Castagnoli), as Loki's chunks and our WAL use it. */
uint32_t noa_crc32c(uint32_t crc, const void *p, size_t n);

/* The value of a hex digit, or -1 when c is not one. */
static inline int noa_hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes the rune at p[0..n) (n >= 1) with Go's rules: returns its width
 * (1..4) and sets *cp, or 0 when the bytes start no valid sequence
 * (overlong forms, surrogates and values past U+10FFFF included). */
size_t noa_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp);

/* Encodes cp as UTF-8 into out and returns its length (1..4); as Go's
 * utf8.EncodeRune, a surrogate or a value past U+10FFFF becomes U+FFFD. */
size_t noa_utf8_encode(uint32_t cp, char out[4]);
/* Appends cp encoded as noa_utf8_encode does. */
void noa_buf_put_utf8(struct noa_buf *b, uint32_t cp);

/* 1 when s is valid UTF-8. */
int noa_utf8_valid(const char *s, size_t n);

#endif
