/* Buffers, varints, arenas, CRC-32C and UTF-8 checks. Single-threaded values. */
#include "common/buf.h"
#include "common/mem.h"

#include <pthread.h>
#include <stdio.h>

void noa_buf_fini(struct noa_buf *b)
{
    noa_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void noa_buf_reserve(struct noa_buf *b, size_t extra)
{
    if (b->cap - b->len > extra)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len <= extra)
        cap *= 2;
    b->data = noa_xrealloc(b->data, cap);
    b->cap = cap;
}

void noa_buf_reserve_upto(struct noa_buf *b, size_t extra, size_t limit)
{
    if (b->cap - b->len > extra)
        return;
    size_t need = b->len + extra + 1;
    size_t cap = b->cap ? b->cap * 2 : 4096;
    if (cap > limit)
        cap = limit;
    if (cap < need)
        cap = need;
    b->data = noa_xrealloc(b->data, cap);
    b->cap = cap;
}

void noa_buf_append(struct noa_buf *b, const void *p, size_t n)
{
    if (!n)
        return;
    noa_buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void noa_buf_append_str(struct noa_buf *b, struct noa_str s)
{
    noa_buf_append(b, s.p, s.len);
}

void noa_buf_putc(struct noa_buf *b, char c)
{
    noa_buf_reserve(b, 1);
    b->data[b->len++] = c;
}

void noa_buf_vprintf(struct noa_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    noa_buf_reserve(b, 128);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    if (n >= 0 && (size_t)n >= b->cap - b->len) {
        noa_buf_reserve(b, (size_t)n + 1);
        n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
    }
    va_end(ap2);
    if (n > 0)
        b->len += (size_t)n;
}

void noa_buf_printf(struct noa_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    noa_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void noa_buf_put_uvarint(struct noa_buf *b, uint64_t v)
{
    noa_buf_reserve(b, 10);
    while (v >= 0x80) {
        b->data[b->len++] = (char)(v | 0x80);
        v >>= 7;
    }
    b->data[b->len++] = (char)v;
}

void noa_buf_put_varint(struct noa_buf *b, int64_t v)
{
    noa_buf_put_uvarint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void noa_buf_put_be32(struct noa_buf *b, uint32_t v)
{
    unsigned char p[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    noa_buf_append(b, p, 4);
}

void noa_buf_put_be64(struct noa_buf *b, uint64_t v)
{
    noa_buf_put_be32(b, (uint32_t)(v >> 32));
    noa_buf_put_be32(b, (uint32_t)v);
}

size_t noa_utf8_encode(uint32_t cp, char out[4])
{
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000))
        cp = 0xFFFD;
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

void noa_buf_put_utf8(struct noa_buf *b, uint32_t cp)
{
    char u[4];
    noa_buf_append(b, u, noa_utf8_encode(cp, u));
}

size_t noa_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
    unsigned char c = p[0];
    size_t len;
    uint32_t v;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    if ((len == 3 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) ||
        (len == 4 && (v < 0x10000 || v > 0x10FFFF)))
        return 0;
    *cp = v;
    return len;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    uint32_t cp;
    return noa_utf8_decode(p, n, &cp);
}

int noa_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = utf8_seq(p + i, n - i);
        if (!l)
            return 0;
        i += l;
    }
    return 1;
}

void noa_buf_put_json_str(struct noa_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    noa_buf_reserve(b, n + 2);
    noa_buf_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        noa_buf_append(b, p + i, run - i);
        i = run;
        if (i >= n)
            break;
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            noa_buf_append(b, esc, 2);
            i++;
        } else if (c < 0x20) {
            const char *e = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : NULL;
            if (e) {
                noa_buf_append(b, e, 2);
            } else {
                char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                noa_buf_append(b, u, 6);
            }
            i++;
        } else {
            size_t l = utf8_seq(p + i, n - i);
            if (l) {
                noa_buf_append(b, p + i, l);
                i += l;
            } else {
                noa_buf_append(b, "\xEF\xBF\xBD", 3); /* U+FFFD, as Go's encoder does */
                i++;
            }
        }
    }
    noa_buf_putc(b, '"');
}

const char *noa_buf_cstr(struct noa_buf *b)
{
    noa_buf_reserve(b, 1);
    b->data[b->len] = '\0';
    return b->data;
}

char *noa_buf_steal(struct noa_buf *b, size_t *len)
{
    char *d = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

size_t noa_get_uvarint(const unsigned char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n && i < 10; i++) {
        uint64_t c = p[i];
        if (i == 9 && c > 1)
            return 0;
        v |= (c & 0x7F) << (7 * i);
        if (c < 0x80) {
            *out = v;
            return i + 1;
        }
    }
    return 0;
}

size_t noa_get_varint(const unsigned char *p, size_t n, int64_t *out)
{
    uint64_t u;
    size_t k = noa_get_uvarint(p, n, &u);
    if (k)
        *out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
    return k;
}

struct noa_arena_chunk {
    struct noa_arena_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void *noa_arena_alloc(struct noa_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct noa_arena_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 32768 ? n : 32768;
        c = noa_xmalloc(sizeof(*c) + cap);
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    a->total += n;
    return p;
}

char *noa_arena_strndup(struct noa_arena *a, const char *s, size_t n)
{
    char *d = noa_arena_alloc(a, n + 1);
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

struct noa_str noa_arena_str(struct noa_arena *a, struct noa_str s)
{
    return (struct noa_str){noa_arena_strndup(a, s.p, s.len), s.len};
}

void noa_arena_adopt(struct noa_arena *dst, struct noa_arena *src)
{
    struct noa_arena_chunk *c = src->head;
    if (!c)
        return;
    while (c->next)
        c = c->next;
    /* src's chunks go behind dst's current one, which keeps being filled. */
    if (dst->head) {
        c->next = dst->head->next;
        dst->head->next = src->head;
    } else {
        dst->head = src->head;
    }
    dst->total += src->total;
    src->head = NULL;
    src->total = 0;
}

void noa_arena_fini(struct noa_arena *a)
{
    struct noa_arena_chunk *c = a->head;
    while (c) {
        struct noa_arena_chunk *n = c->next;
        noa_free(c);
        c = n;
    }
    a->head = NULL;
    a->total = 0;
}

/* CRC-32C with the SSE4.2 instruction when the CPU has it, a table otherwise. */
static uint32_t crc_table[8][256];
static int crc_mode; /* 1 hardware, 2 table; set once by crc_init */
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc_mode = __builtin_cpu_supports("sse4.2") ? 1 : 2;
#else
    crc_mode = 2;
#endif
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const unsigned char *p,
                                                         size_t n)
{
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

static uint32_t crc_sw(uint32_t crc, const unsigned char *p, size_t n)
{
    while (n >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        crc = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^
              crc_table[5][(lo >> 16) & 0xFF] ^ crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^
              crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xFF];
    return crc;
}

uint32_t noa_crc32c(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc_once, crc_init);
    crc = ~crc;
#if defined(__x86_64__)
    if (crc_mode == 1)
        return ~crc_hw(crc, data, n);
#endif
    return ~crc_sw(crc, data, n);
}
