/*
 * Block summaries (see blocksum.h for the format): built once when a block
 * is sealed, tested per block by queries with literal line filters.
 * No state; any thread.
 */
#include "ingester/blocksum.h"
#include "ingester/chunk.h"

#include <string.h>

/* ASCII lowercase without a table or a branch. */
static inline uint32_t lower(unsigned char c)
{
    return (uint32_t)c + ((uint32_t)((unsigned)(c - 'A') < 26u) << 5);
}

#define LOW_RUN 1024

/* ASCII-lowercases eight bytes at once: a byte's high bit after adding
 * 0x3f (resp. 0x25) to its low seven bits says it is >= 'A' (resp. > 'Z');
 * no carry crosses bytes, and bytes >= 0x80 are left alone. */
static inline uint64_t lower8(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x80 * ones;
    uint64_t x = w & ~high;
    uint64_t upper = (x + 0x3f * ones) & ~(x + 0x25 * ones) & ~w & high;
    return w | (upper >> 2);
}

static void lower_run(unsigned char *restrict d, const unsigned char *restrict p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        w = lower8(w);
        memcpy(d + i, &w, 8);
    }
    for (; i < n; i++)
        d[i] = (unsigned char)lower(p[i]);
}

/* The bit of the (lowercased) trigram p[0..3). */
static inline uint32_t tri_bit(const unsigned char *p, unsigned shift)
{
    uint32_t t = lower(p[0]) | lower(p[1]) << 8 | lower(p[2]) << 16;
    return (t * 0x9E3779B1u) >> shift;
}

unsigned noa_blocksum_log2_for(size_t len)
{
    /* About one bit per 8 raw bytes, rounded down: a 256 KiB block gets
     * 2^15 bits (4 KiB, about 8% of its compressed size), about 15% of
     * them set by typical log text. */
    size_t want = len / 8;
    unsigned k = NOA_BLOCKSUM_MIN_LOG2;
    while (k < NOA_BLOCKSUM_MAX_LOG2 && ((size_t)2 << k) <= want)
        k++;
    return k;
}

/* Sets the bit of every trigram of one line that starts at an even
 * offset. Every other trigram only: setting a bit costs about as much as
 * the rest of sealing a byte, and a needle of four bytes or more still
 * has trigrams of both parities to test (see may_contain). */
static void add_line(unsigned char *bits, unsigned shift, const unsigned char *p, size_t n)
{
    /* Lowercasing a run first, eight bytes at a time, halves the cost of
     * lowercasing three bytes per trigram. The run length is even so that
     * offsets keep their parity. */
    unsigned char low[LOW_RUN + 4];
    for (size_t at = 0; at + 3 <= n; at += LOW_RUN) {
        size_t k = n - at < LOW_RUN + 2 ? n - at : LOW_RUN + 2;
        lower_run(low, p + at, k);
        low[k] = 0;
        for (size_t i = 0; i + 3 <= k; i += 2) {
            uint32_t t = (uint32_t)low[i] | (uint32_t)low[i + 1] << 8 | (uint32_t)low[i + 2] << 16;
            uint32_t h = (t * 0x9E3779B1u) >> shift;
            bits[h >> 3] |= (unsigned char)(1u << (h & 7));
        }
    }
}

int noa_blocksum_build(const void *raw, size_t len, struct noa_buf *out)
{
    unsigned k = noa_blocksum_log2_for(len), shift = 32 - k;
    size_t nbytes = ((size_t)1 << k) / 8, start = out->len;
    struct noa_chunk_iter it;
    struct noa_chunk_entry e;
    int rc;

    noa_buf_reserve(out, 1 + nbytes);
    unsigned char *s = (unsigned char *)out->data + start;
    s[0] = (unsigned char)k;
    memset(s + 1, 0, nbytes);
    noa_chunk_iter_init(&it, raw, len);
    while ((rc = noa_chunk_iter_next(&it, &e, NULL)) == 1)
        add_line(s + 1, shift, (const unsigned char *)e.line.p, e.line.len);
    if (rc < 0)
        return NOA_EINVAL;
    out->len = start + 1 + nbytes;
    return 0;
}

int noa_blocksum_check(const void *sum, size_t n)
{
    const unsigned char *s = sum;
    if (n < 1 || s[0] < NOA_BLOCKSUM_MIN_LOG2 || s[0] > NOA_BLOCKSUM_MAX_LOG2 ||
        n != 1 + ((size_t)1 << s[0]) / 8)
        return NOA_ECORRUPT;
    return 0;
}

int noa_blocksum_may_contain(const void *sum, size_t n, const char *needle, size_t len)
{
    const unsigned char *s = sum, *p = (const unsigned char *)needle;
    if (len < 4 || noa_blocksum_check(sum, n) < 0)
        return 1;
    /* Wherever the needle sits in a line, either all its even-offset
     * trigrams or all its odd-offset ones were indexed: it is absent when
     * both classes have a clear bit. */
    unsigned shift = 32 - s[0];
    const unsigned char *bits = s + 1;
    int clear[2] = {0, 0};
    for (size_t i = 0; i + 3 <= len && !(clear[0] && clear[1]); i++) {
        uint32_t h = tri_bit(p + i, shift);
        if (!(bits[h >> 3] & (1u << (h & 7))))
            clear[i & 1] = 1;
    }
    return !(clear[0] && clear[1]);
}

double noa_blocksum_fill(const void *sum, size_t n)
{
    const unsigned char *s = sum;
    if (noa_blocksum_check(sum, n) < 0)
        return 0;
    size_t set = 0;
    for (size_t i = 1; i < n; i++)
        set += (size_t)__builtin_popcount(s[i]);
    return (double)set / (double)((n - 1) * 8);
}
