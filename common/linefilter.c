/*
 * Line filters (see linefilter.h). Each stage compiles to a flat list of
 * alternatives (substring, case-folded substring, regex, pattern, ip);
 * the line passes when any alternative matches, inverted for the negative
 * operators. Regexes that are plain literals, `(?i)literal`, `a|b` or
 * `.*a.*` become substring searches, as Loki's simplifier does.
 * Immutable after _new; any thread.
 */
#include "common/linefilter.h"
#include "common/logparse.h"
#include "common/mem.h"
#include "common/regex.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define NOA_LF_AVX2 1
#endif

enum { K_CONTAINS, K_FOLD, K_REGEX, K_PATTERN, K_IP };

struct lf_item {
    int kind;
    char *lit; /* owned; K_CONTAINS (as is) and K_FOLD (lower-cased) */
    size_t len;
    struct noa_regex *re;
    struct noa_pattern pat;
    struct noa_ipmatch ip;
};

struct noa_linefilter {
    int negate;
    struct lf_item *item;
    unsigned n, cap;
};

static struct lf_item *add_item(struct noa_linefilter *f, int kind)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 4;
        f->item = noa_xrealloc(f->item, f->cap * sizeof(*f->item));
    }
    struct lf_item *it = &f->item[f->n++];
    memset(it, 0, sizeof(*it));
    it->kind = kind;
    return it;
}

static inline unsigned char ascii_lower(unsigned char c)
{
    return (unsigned char)(c + (((unsigned)(c - 'A') < 26u) << 5));
}

static int fold_eq(const unsigned char *a, const unsigned char *b, size_t m)
{
    for (size_t k = 0; k < m; k++)
        if (ascii_lower(a[k]) != ascii_lower(b[k]))
            return 0;
    return 1;
}

/* First case-folded occurrence of needle in hay, or NULL. Candidates come
 * from memchr (vectorized in libc) on an anchor byte of the needle: one
 * that has no case when there is one (a single memchr), else the first
 * byte in both cases (two memchr cursors, each advanced past the other). */
static const char *find_fold(const char *hay, size_t n, const char *needle, size_t m)
{
    const unsigned char *h = (const unsigned char *)hay, *nd = (const unsigned char *)needle;
    if (m == 0)
        return hay;
    if (m > n)
        return NULL;
    size_t a = 0;
    while (a < m && (unsigned)((nd[a] | 0x20) - 'a') < 26u)
        a++;
    size_t last = n - m; /* the last possible start */
    if (a < m) {
        const unsigned char *p = h + a, *end = h + last + a + 1;
        while (p < end && (p = memchr(p, nd[a], (size_t)(end - p))) != NULL) {
            if (fold_eq(p - a, nd, m))
                return (const char *)(p - a);
            p++;
        }
        return NULL;
    }
    unsigned char lo = ascii_lower(nd[0]), up = (unsigned char)(lo - 32);
    const unsigned char *end = h + last + 1, *pl = h, *pu = h;
    pl = memchr(pl, lo, (size_t)(end - pl));
    pu = memchr(pu, up, (size_t)(end - pu));
    while (pl || pu) {
        const unsigned char *p = !pu || (pl && pl < pu) ? pl : pu;
        if (fold_eq(p, nd, m))
            return (const char *)p;
        if (p == pl)
            pl = p + 1 < end ? memchr(p + 1, lo, (size_t)(end - p - 1)) : NULL;
        else
            pu = p + 1 < end ? memchr(p + 1, up, (size_t)(end - p - 1)) : NULL;
    }
    return NULL;
}

/* needle's inner bytes [1, m-1) at a candidate whose ends matched: a
 * byte loop, the needles being short (a libc memcmp call costs more). */
static inline int inner_eq(const char *at, const char *needle, size_t m)
{
    for (size_t j = 1; j + 1 < m; j++)
        if (at[j] != needle[j])
            return 0;
    return 1;
}

#if defined(NOA_LF_AVX2)
/* find_bytes with 32 candidate starts per step, for CPUs with AVX2
 * (chosen at run time; the result is the same). m >= 2, m <= n. */
__attribute__((target("avx2"))) static const char *find_bytes_avx2(const char *hay, size_t n,
                                                                   const char *needle, size_t m)
{
    /* A third byte from the middle (the last again for 2-byte needles)
     * rules out most false candidates ("server" for "error") before the
     * branchy check. */
    size_t mid = m / 2;
    const __m256i first = _mm256_set1_epi8(needle[0]), last = _mm256_set1_epi8(needle[m - 1]),
                  middle = _mm256_set1_epi8(needle[mid]);
    size_t i = 0, starts = n - m + 1;
    for (; i + 32 <= starts; i += 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(hay + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(hay + i + m - 1));
        __m256i c = _mm256_loadu_si256((const __m256i *)(const void *)(hay + i + mid));
        unsigned mask = (unsigned)_mm256_movemask_epi8(_mm256_and_si256(
            _mm256_and_si256(_mm256_cmpeq_epi8(a, first), _mm256_cmpeq_epi8(b, last)),
            _mm256_cmpeq_epi8(c, middle)));
        while (mask) {
            unsigned k = (unsigned)__builtin_ctz(mask);
            if (inner_eq(hay + i + k, needle, m))
                return hay + i + k;
            mask &= mask - 1;
        }
    }
    for (; i < starts; i++)
        if (hay[i] == needle[0] && hay[i + m - 1] == needle[m - 1] && inner_eq(hay + i, needle, m))
            return hay + i;
    return NULL;
}
#endif

/*
 * First occurrence of needle in hay, or NULL. On x86-64 (SSE2 is always
 * there) 16 candidate starts are tested at once on the needle's first and
 * last bytes, and only starts where both match are compared in full:
 * libc's memmem is a general two-way search, about twice as slow on the
 * short needles of line filters, and this search runs over every byte a
 * filtered query reads. With AVX2 (checked at run time) 32 starts are
 * tested at once, on a middle byte too.
 */
static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t m)
{
    if (m == 0)
        return hay;
    if (m > n)
        return NULL;
    if (m == 1)
        return memchr(hay, needle[0], n);
#if defined(NOA_LF_AVX2)
    if (n >= 64 && __builtin_cpu_supports("avx2"))
        return find_bytes_avx2(hay, n, needle, m);
#endif
#if defined(__SSE2__)
    const __m128i first = _mm_set1_epi8(needle[0]), last = _mm_set1_epi8(needle[m - 1]);
    size_t i = 0, starts = n - m + 1; /* candidate starts are [0, starts) */
    for (; i + 16 <= starts; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(hay + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(hay + i + m - 1));
        unsigned mask = (unsigned)_mm_movemask_epi8(
            _mm_and_si128(_mm_cmpeq_epi8(a, first), _mm_cmpeq_epi8(b, last)));
        while (mask) {
            unsigned k = (unsigned)__builtin_ctz(mask);
            if (inner_eq(hay + i + k, needle, m))
                return hay + i + k;
            mask &= mask - 1;
        }
    }
    for (; i < starts; i++)
        if (hay[i] == needle[0] && memcmp(hay + i + 1, needle + 1, m - 1) == 0)
            return hay + i;
    return NULL;
#else
    return memmem(hay, n, needle, m);
#endif
}

int noa_linefilter_contains_fold(const char *hay, size_t n, const char *needle, size_t m)
{
    return find_fold(hay, n, needle, m) != NULL;
}

const char *noa_linefilter_find(const struct noa_linefilter_literal *lit, const char *hay,
                                size_t n)
{
    if (lit->fold)
        return find_fold(hay, n, lit->s.p, lit->s.len);
    return find_bytes(hay, n, lit->s.p, lit->s.len);
}

/* Splits a regex into literal alternatives when it is one of the shapes
 * Loki rewrites; returns 1 and adds the items, 0 when a real regex is
 * needed (nothing added). */
static int simplify_regex(struct noa_linefilter *f, struct noa_str re)
{
    int fold = 0;
    const char *p = re.p;
    size_t n = re.len;
    if (n >= 4 && !memcmp(p, "(?i)", 4)) {
        fold = 1;
        p += 4;
        n -= 4;
    }
    /* First pass validates; the second emits. */
    for (int emit = 0; emit < 2; emit++) {
        size_t i = 0;
        for (;;) {
            size_t j = i;
            while (j < n && p[j] != '|') {
                if (p[j] == '\\')
                    j++;
                j++;
            }
            if (j > n)
                return 0; /* trailing backslash */
            const char *a = p + i;
            size_t alen = j - i;
            if (alen >= 2 && a[0] == '.' && a[1] == '*') {
                a += 2;
                alen -= 2;
            }
            if (alen >= 2 && a[alen - 2] == '.' && a[alen - 1] == '*' &&
                (alen < 3 || a[alen - 3] != '\\')) {
                alen -= 2;
            }
            char *lit = emit ? noa_xmalloc(alen + 1) : NULL;
            size_t ll = 0;
            for (size_t k = 0; k < alen; k++) {
                unsigned char c = (unsigned char)a[k];
                if (c == '\\') {
                    unsigned char e = (unsigned char)a[k + 1];
                    if (isalnum(e) || e >= 0x80)
                        goto fail;
                    c = e;
                    k++;
                } else if (strchr("^$.|?*+()[]{}", c)) {
                    goto fail;
                }
                if (fold && c >= 0x80)
                    goto fail;
                if (lit)
                    lit[ll++] = fold ? (char)tolower(c) : (char)c;
            }
            if (emit) {
                struct lf_item *it = add_item(f, fold ? K_FOLD : K_CONTAINS);
                it->lit = lit;
                it->len = ll;
            }
            if (j >= n)
                break;
            i = j + 1;
            continue;
        fail:
            noa_free(lit);
            return 0;
        }
    }
    return 1;
}

static int add_operand(struct noa_linefilter *f, enum noa_linefilter_op op,
                       const struct noa_linefilter_operand *o, struct noa_error *err)
{
    if (o->ip) {
        if (op != NOA_LINEFILTER_CONTAINS && op != NOA_LINEFILTER_NCONTAINS)
            return noa_error_set(err, NOA_EINVAL, "ip: invalid operation");
        struct noa_ipmatch m;
        int rc = noa_linefilter_ip_parse(o->value, &m, err);
        if (rc)
            return rc;
        add_item(f, K_IP)->ip = m;
        return 0;
    }
    switch (op) {
    case NOA_LINEFILTER_CONTAINS:
    case NOA_LINEFILTER_NCONTAINS: {
        struct lf_item *it = add_item(f, K_CONTAINS);
        it->lit = noa_xstrndup(o->value.p ? o->value.p : "", o->value.len);
        it->len = o->value.len;
        return 0;
    }
    case NOA_LINEFILTER_REGEX:
    case NOA_LINEFILTER_NREGEX: {
        struct noa_regex *re = NULL;
        /* Compile first so a bad regex fails even when it would simplify. */
        int rc = noa_regex_compile(o->value.p ? o->value.p : "", o->value.len, 0, &re, err);
        if (rc)
            return rc;
        if (simplify_regex(f, o->value)) {
            noa_regex_free(re);
            return 0;
        }
        add_item(f, K_REGEX)->re = re;
        return 0;
    }
    case NOA_LINEFILTER_PATTERN:
    case NOA_LINEFILTER_NPATTERN: {
        struct noa_pattern pat;
        int rc = noa_logparse_pattern_compile(o->value, 1, &pat, err);
        if (rc)
            return rc;
        add_item(f, K_PATTERN)->pat = pat;
        return 0;
    }
    }
    return noa_error_set(err, NOA_EINVAL, "unknown line filter operator");
}

int noa_linefilter_new(const struct noa_linefilter_opts *opts, struct noa_linefilter **out,
                       struct noa_error *err)
{
    int rc = 0;
    struct noa_linefilter *f = noa_xcalloc(1, sizeof(*f));
    f->negate = opts->op == NOA_LINEFILTER_NCONTAINS || opts->op == NOA_LINEFILTER_NREGEX ||
                opts->op == NOA_LINEFILTER_NPATTERN;
    if (opts->n == 0) {
        rc = noa_error_set(err, NOA_EINVAL, "line filter without operand");
        goto fail;
    }
    for (unsigned i = 0; i < opts->n; i++) {
        rc = add_operand(f, opts->op, &opts->operands[i], err);
        if (rc)
            goto fail;
    }
    *out = f;
    return 0;
fail:
    noa_linefilter_free(f);
    return rc;
}

void noa_linefilter_free(struct noa_linefilter *f)
{
    if (!f)
        return;
    for (unsigned i = 0; i < f->n; i++) {
        noa_free(f->item[i].lit);
        noa_regex_free(f->item[i].re);
        if (f->item[i].kind == K_PATTERN)
            noa_logparse_pattern_fini(&f->item[i].pat);
    }
    noa_free(f->item);
    noa_free(f);
}

static int item_match(const struct lf_item *it, const char *line, size_t len)
{
    switch (it->kind) {
    case K_CONTAINS:
        return find_bytes(line, len, it->lit, it->len) != NULL;
    case K_FOLD:
        return find_fold(line, len, it->lit, it->len) != NULL;
    case K_REGEX:
        return noa_regex_match(it->re, line ? line : "", len);
    case K_PATTERN:
        return noa_logparse_pattern_test(&it->pat, line, len);
    case K_IP:
        return noa_linefilter_ip_find(&it->ip, line, len);
    }
    return 0;
}

int noa_linefilter_match(const struct noa_linefilter *f, const char *line, size_t len)
{
    for (unsigned i = 0; i < f->n; i++)
        if (item_match(&f->item[i], line, len))
            return !f->negate;
    return f->negate;
}

unsigned noa_linefilter_literals(const struct noa_linefilter *f,
                                 struct noa_linefilter_literal *out, unsigned cap)
{
    if (f->negate)
        return 0;
    for (unsigned i = 0; i < f->n; i++) {
        const struct lf_item *it = &f->item[i];
        if ((it->kind != K_CONTAINS && it->kind != K_FOLD) || it->len == 0)
            return 0;
        if (i < cap)
            out[i] = (struct noa_linefilter_literal){{it->lit, it->len}, it->kind == K_FOLD};
    }
    return f->n;
}

/* ---- ip("...") ---- */

/* Parses one address as netip.ParseAddr does (no zones). */
static int parse_addr(const char *s, size_t n, int *v6, uint8_t out[16])
{
    char tmp[64];
    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    memset(out, 0, 16);
    if (memchr(tmp, ':', n)) {
        *v6 = 1;
        return inet_pton(AF_INET6, tmp, out) == 1 ? 0 : -1;
    }
    *v6 = 0;
    return inet_pton(AF_INET, tmp, out) == 1 ? 0 : -1;
}

int noa_linefilter_ip_parse(struct noa_str pattern, struct noa_ipmatch *out,
                            struct noa_error *err)
{
    memset(out, 0, sizeof(*out));
    const char *p = pattern.p ? pattern.p : "";
    size_t n = pattern.len;
    if (parse_addr(p, n, &out->v6, out->lo) == 0) {
        out->kind = 0;
        return 0;
    }
    const char *slash = memchr(p, '/', n);
    if (slash) {
        size_t bl = n - (size_t)(slash - p) - 1;
        unsigned bits = 0;
        int ok = bl > 0 && bl <= 3 && !(bl > 1 && slash[1] == '0');
        for (size_t i = 0; ok && i < bl; i++) {
            if (!isdigit((unsigned char)slash[1 + i]))
                ok = 0;
            else
                bits = bits * 10 + (unsigned)(slash[1 + i] - '0');
        }
        if (ok && parse_addr(p, (size_t)(slash - p), &out->v6, out->lo) == 0 &&
            bits <= (out->v6 ? 128u : 32u)) {
            out->kind = 1;
            out->bits = bits;
            return 0;
        }
    }
    const char *dash = memchr(p, '-', n);
    if (dash) {
        int v6b = 0;
        if (parse_addr(p, (size_t)(dash - p), &out->v6, out->lo) == 0 &&
            parse_addr(dash + 1, n - (size_t)(dash - p) - 1, &v6b, out->hi) == 0 &&
            v6b == out->v6 && memcmp(out->lo, out->hi, out->v6 ? 16 : 4) <= 0) {
            out->kind = 2;
            return 0;
        }
    }
    return noa_error_set(err, NOA_EINVAL, "ip: invalid pattern: \"%.*s\"", (int)n, p);
}

static int ip_contains(const struct noa_ipmatch *m, int v6, const uint8_t a[16])
{
    if (v6 != m->v6)
        return 0;
    size_t w = v6 ? 16 : 4;
    switch (m->kind) {
    case 0:
        return memcmp(a, m->lo, w) == 0;
    case 1: {
        unsigned full = m->bits / 8, rem = m->bits % 8;
        if (memcmp(a, m->lo, full))
            return 0;
        if (rem) {
            uint8_t mask = (uint8_t)(0xff << (8 - rem));
            return (a[full] & mask) == (m->lo[full] & mask);
        }
        return 1;
    }
    case 2:
        return memcmp(a, m->lo, w) >= 0 && memcmp(a, m->hi, w) <= 0;
    }
    return 0;
}

static int is_hex(unsigned char c)
{
    return isdigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static size_t span(const char *s, size_t n, int v6)
{
    size_t i = 0;
    while (i < n && (v6 ? (is_hex((unsigned char)s[i]) || s[i] == ':' || s[i] == '.')
                        : (isdigit((unsigned char)s[i]) || s[i] == '.')))
        i++;
    return i;
}

int noa_linefilter_ip_find(const struct noa_ipmatch *m, const char *line, size_t n)
{
    /* The scan mirrors Loki's: cheap prefix hints pick candidate starts,
     * the run of address characters is parsed, and a failed candidate
     * skips its run plus one byte. */
    for (size_t i = 0; i < n; i++) {
        const unsigned char *c = (const unsigned char *)line + i;
        int v6;
        if (i + 3 < n && isdigit(c[0]) && (c[1] == '.' || c[2] == '.' || c[3] == '.'))
            v6 = 0;
        else if (i + 4 < n &&
                 ((c[0] == ':' && c[1] == ':' && is_hex(c[2])) || (is_hex(c[0]) && c[1] == ':') ||
                  (is_hex(c[0]) && is_hex(c[1]) && c[2] == ':') ||
                  (is_hex(c[0]) && is_hex(c[1]) && is_hex(c[2]) && c[3] == ':') ||
                  (is_hex(c[0]) && is_hex(c[1]) && is_hex(c[2]) && is_hex(c[3]) && c[4] == ':')))
            v6 = 1;
        else
            continue;
        size_t len = span(line + i, n - i, v6);
        uint8_t a[16];
        int fam;
        if (parse_addr(line + i, len, &fam, a) == 0 && ip_contains(m, fam, a))
            return 1;
        i += len;
    }
    return 0;
}
