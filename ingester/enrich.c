/*
 * service_name and detected_level enrichment (Loki 3.x push.go and
 * distributor/field_detection.go), without allocation or regex.
 *
 * The line scans reproduce the Go building blocks Loki relies on, because
 * their quirks decide the result: buger/jsonparser's ObjectEach (raw string
 * values, unescaped keys, depth-first), Loki's logfmt decoder (stops at the
 * first syntax error), strings.ToLower + a byte-wise word-boundary test for
 * the keyword scan, and Go's case folding in EqualFold. Pure functions; any
 * thread.
 */
#include "ingester/enrich.h"

#include <limits.h>
#include <string.h>

typedef unsigned char uchar; /* local shorthand for byte arithmetic */

static const struct noa_str default_level_fields[] = {
    NOA_STR("level"),         NOA_STR("LEVEL"),         NOA_STR("Level"),
    NOA_STR("log.level"),     NOA_STR("severity"),      NOA_STR("SEVERITY"),
    NOA_STR("Severity"),      NOA_STR("SeverityText"),  NOA_STR("lvl"),
    NOA_STR("LVL"),           NOA_STR("Lvl"),           NOA_STR("severity_text"),
    NOA_STR("Severity_Text"), NOA_STR("SEVERITY_TEXT"),
};

struct noa_enrich_level_opts noa_enrich_level_opts_default(void)
{
    return (struct noa_enrich_level_opts){NULL, 0, NOA_ENRICH_JSON_MAX_DEPTH};
}

static void level_fields(const struct noa_enrich_level_opts *o, const struct noa_str **f,
                         uint32_t *n)
{
    if (o && o->fields && o->n_fields) {
        *f = o->fields;
        *n = o->n_fields;
    } else {
        *f = default_level_fields;
        *n = sizeof(default_level_fields) / sizeof(default_level_fields[0]);
    }
}

/* ---- UTF-8 and case, as Go sees them ------------------------------------ */

/* Go's rune decoding (width 0 = invalid: Go yields U+FFFD of width 1). */
static size_t decode_rune(const uchar *p, size_t n, uint32_t *cp)
{
    return noa_utf8_decode(p, n, cp);
}

/*
 * unicode.ToLower for the scripts a log line realistically mixes with level
 * words: Latin-1, Latin Extended-A, basic Greek and Cyrillic, plus the two
 * runes whose lowercase is ASCII (U+0130 -> 'i', U+212A KELVIN -> 'k').
 * Other runes are left as they are; that only matters for a non-Latin
 * capital letter glued to a level word, where the boundary byte could differ.
 */
static uint32_t lower_rune(uint32_t r)
{
    if (r < 0x80)
        return (r >= 'A' && r <= 'Z') ? r + 32 : r;
    if (r >= 0xC0 && r <= 0xDE && r != 0xD7)
        return r + 0x20;
    if (r == 0x130)
        return 'i';
    if (r == 0x212A)
        return 'k';
    if (r == 0x178)
        return 0xFF;
    if ((r >= 0x100 && r <= 0x12F) || (r >= 0x132 && r <= 0x137) || (r >= 0x14A && r <= 0x177))
        return (r & 1) ? r : r + 1;
    if ((r >= 0x139 && r <= 0x148) || (r >= 0x179 && r <= 0x17E))
        return (r & 1) ? r + 1 : r;
    if (r >= 0x391 && r <= 0x3A9 && r != 0x3A2)
        return r + 0x20;
    if (r >= 0x410 && r <= 0x42F)
        return r + 0x20;
    if (r >= 0x400 && r <= 0x40F)
        return r + 0x50;
    return r;
}

/* First and last byte of r's UTF-8 encoding. */
static void rune_edges(uint32_t r, uchar *first, uchar *last)
{
    if (r < 0x80) {
        *first = *last = (uchar)r;
    } else if (r < 0x800) {
        *first = (uchar)(0xC0 | (r >> 6));
        *last = (uchar)(0x80 | (r & 0x3F));
    } else if (r < 0x10000) {
        *first = (uchar)(0xE0 | (r >> 12));
        *last = (uchar)(0x80 | (r & 0x3F));
    } else {
        *first = (uchar)(0xF0 | (r >> 18));
        *last = (uchar)(0x80 | (r & 0x3F));
    }
}

/* 1 when unicode.IsSpace(r). */
static int is_space_rune(uint32_t r)
{
    if (r < 0x100)
        return r == ' ' || (r >= '\t' && r <= '\r') || r == 0x85 || r == 0xA0;
    return r == 0x1680 || (r >= 0x2000 && r <= 0x200A) || r == 0x2028 || r == 0x2029 ||
           r == 0x202F || r == 0x205F || r == 0x3000;
}

/* unicode.IsLetter / IsDigit on a byte taken as a rune (U+0000..U+00FF), as
 * Loki's isWordBoundary does with rune(s[pos]). */
static int is_word_byte(uchar b)
{
    if (b < 0x80)
        return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
               b == '_';
    return b == 0xAA || b == 0xB5 || b == 0xBA || (b >= 0xC0 && b != 0xD7 && b != 0xF7);
}

/* Go's EqualFold(s, word) for an ASCII word: ASCII case-insensitive, plus
 * the two non-ASCII runes that fold onto ASCII letters. */
static int fold_eq(struct noa_str s, struct noa_str word)
{
    const uchar *p = (const uchar *)s.p;
    size_t i = 0, j = 0;
    while (i < s.len && j < word.len) {
        uchar w = (uchar)word.p[j];
        uchar wl = (w >= 'A' && w <= 'Z') ? w + 32 : w;
        if (p[i] < 0x80) {
            uchar c = (p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i];
            if (c != wl)
                return 0;
            i++;
        } else if (wl == 'k' && i + 3 <= s.len && !memcmp(p + i, "\xE2\x84\xAA", 3)) {
            i += 3;
        } else if (wl == 's' && i + 2 <= s.len && !memcmp(p + i, "\xC5\xBF", 2)) {
            i += 2;
        } else if (w >= 0x80 && p[i] == w) {
            i++; /* a non-ASCII configured name: compare bytes */
        } else {
            return 0;
        }
        j++;
    }
    return i == s.len && j == word.len;
}

/* ---- level names --------------------------------------------------------- */

static const struct noa_str lv_trace = NOA_STR(NOA_ENRICH_TRACE);
static const struct noa_str lv_debug = NOA_STR(NOA_ENRICH_DEBUG);
static const struct noa_str lv_info = NOA_STR(NOA_ENRICH_INFO);
static const struct noa_str lv_warn = NOA_STR(NOA_ENRICH_WARN);
static const struct noa_str lv_error = NOA_STR(NOA_ENRICH_ERROR);
static const struct noa_str lv_critical = NOA_STR(NOA_ENRICH_CRITICAL);
static const struct noa_str lv_fatal = NOA_STR(NOA_ENRICH_FATAL);
static const struct noa_str lv_unknown = NOA_STR(NOA_ENRICH_UNKNOWN);

/* The canonical level for v, or {NULL,0} when v is no known level word. */
static struct noa_str known_level(struct noa_str v)
{
    if (v.len < 3 || v.len > 11)
        return (struct noa_str){NULL, 0};
    if (fold_eq(v, NOA_STR("trace")) || fold_eq(v, NOA_STR("trc")))
        return lv_trace;
    if (fold_eq(v, NOA_STR("debug")) || fold_eq(v, NOA_STR("dbg")))
        return lv_debug;
    if (fold_eq(v, NOA_STR("info")) || fold_eq(v, NOA_STR("inf")) ||
        fold_eq(v, NOA_STR("information")))
        return lv_info;
    if (fold_eq(v, NOA_STR("warn")) || fold_eq(v, NOA_STR("wrn")) || fold_eq(v, NOA_STR("warning")))
        return lv_warn;
    if (fold_eq(v, NOA_STR("error")) || fold_eq(v, NOA_STR("err")))
        return lv_error;
    if (fold_eq(v, NOA_STR("critical")))
        return lv_critical;
    if (fold_eq(v, NOA_STR("fatal")))
        return lv_fatal;
    return (struct noa_str){NULL, 0};
}

struct noa_str noa_enrich_normalize_level(struct noa_str v)
{
    struct noa_str k = known_level(v);
    return k.p ? k : v;
}

/* ---- keyword scan ----------------------------------------------------- */

/* One rune (or invalid byte) of the line after strings.ToLower. */
struct unit {
    uchar ascii;  /* the lowered rune when it is ASCII, else 0 */
    uchar first;  /* first byte of the lowered encoding */
    uchar last;   /* last byte of the lowered encoding */
    size_t width; /* bytes consumed from the raw line */
};

static void lower_unit(const uchar *p, size_t n, struct unit *u)
{
    uint32_t r;
    if (p[0] < 0x80) {
        uchar l = (p[0] >= 'A' && p[0] <= 'Z') ? p[0] + 32 : p[0];
        u->ascii = u->first = u->last = l;
        u->width = 1;
        return;
    }
    u->width = decode_rune(p, n, &r);
    if (!u->width) {
        u->width = 1;
        r = 0xFFFD; /* ToLower rewrites an invalid byte as U+FFFD */
    } else {
        r = lower_rune(r);
    }
    u->ascii = r < 0x80 ? (uchar)r : 0;
    rune_edges(r, &u->first, &u->last);
}

static const struct {
    const char *word;
    size_t len;
    const struct noa_str *level;
} keywords[] = {
    {"trace", 5, &lv_trace},       {"debug", 5, &lv_debug}, {"fatal", 5, &lv_fatal},
    {"critical", 8, &lv_critical}, {"error", 5, &lv_error}, {"err", 3, &lv_error},
    {"warning", 7, &lv_warn},      {"warn", 4, &lv_warn},   {"info", 4, &lv_info},
};
#define N_KEYWORDS (sizeof(keywords) / sizeof(keywords[0]))

enum { KW_UNSEEN = 0, KW_BOUNDED = 1, KW_EMBEDDED = 2 };

/* The answer once every keyword ranked above the best bounded one has been
 * seen; NULL while it may still change. */
static const struct noa_str *keyword_decided(const uchar *state, int final)
{
    for (size_t k = 0; k < N_KEYWORDS; k++) {
        if (state[k] == KW_BOUNDED)
            return keywords[k].level;
        if (state[k] == KW_UNSEEN && !final)
            return NULL;
    }
    return final ? &lv_unknown : NULL;
}

/* Per byte: the keywords (bit k = keywords[k]) an ASCII byte starts, either
 * case; KW_SLOW for bytes >= 0x80, which need rune decoding (U+0130 lowers
 * to 'i'). */
#define KW_SLOW (1u << 15)
#define KW_HI4(b) [b] = KW_SLOW, [b + 1] = KW_SLOW, [b + 2] = KW_SLOW, [b + 3] = KW_SLOW
#define KW_HI16(b) KW_HI4(b), KW_HI4(b + 4), KW_HI4(b + 8), KW_HI4(b + 12)
static const unsigned short keyword_starts[256] = {
    ['t'] = 1u << 0, ['T'] = 1u << 0, ['d'] = 1u << 1, ['D'] = 1u << 1, ['f'] = 1u << 2,
    ['F'] = 1u << 2, ['c'] = 1u << 3, ['C'] = 1u << 3, ['e'] = 3u << 4, ['E'] = 3u << 4,
    ['w'] = 3u << 6, ['W'] = 3u << 6, ['i'] = 1u << 8, ['I'] = 1u << 8, KW_HI16(0x80),
    KW_HI16(0x90),   KW_HI16(0xA0),   KW_HI16(0xB0),   KW_HI16(0xC0),   KW_HI16(0xD0),
    KW_HI16(0xE0),   KW_HI16(0xF0),
};

/* Whether keyword k occurs at p (in lowered form); *end gets the offset
 * just past it. */
static int keyword_at(size_t k, const uchar *p, size_t n, size_t *end)
{
    const uchar *w = (const uchar *)keywords[k].word;
    size_t q = 0;
    for (size_t j = 0; j < keywords[k].len; j++) {
        if (q >= n)
            return 0;
        if (p[q] < 0x80) {
            /* w[j] is a lowercase letter: b | 0x20 equals it only for w[j] and its capital */
            if ((p[q] | 0x20) != w[j])
                return 0;
            q++;
            continue;
        }
        struct unit v;
        lower_unit(p + q, n - q, &v);
        if (v.ascii != w[j])
            return 0;
        q += v.width;
    }
    *end = q;
    return 1;
}

/*
 * Loki lowercases the line and, for each keyword in rank order, takes its
 * FIRST occurrence and accepts it only if both neighbours are word
 * boundaries. One pass finds every keyword's first occurrence; bytes that
 * start no unseen keyword are skipped in a tight loop, and the scan stops
 * as soon as the ranking can no longer change.
 */
struct noa_str noa_enrich_keyword_level(struct noa_str line)
{
    const uchar *p = (const uchar *)line.p;
    size_t n = line.len, pos = 0;
    uchar state[N_KEYWORDS] = {0};
    unsigned unseen = (1u << N_KEYWORDS) - 1;
    int prev_last = -1; /* last lowered byte before pos; -1 at the start */
    while (pos < n && unseen) {
        /* Skip ASCII bytes that start no unseen keyword (most of a line). */
        size_t from = pos;
        unsigned stop = unseen | KW_SLOW;
        while (pos < n && !(keyword_starts[p[pos]] & stop))
            pos++;
        if (pos > from)
            prev_last = (p[pos - 1] >= 'A' && p[pos - 1] <= 'Z') ? p[pos - 1] + 32 : p[pos - 1];
        if (pos >= n)
            break;
        struct unit u;
        lower_unit(p + pos, n - pos, &u);
        unsigned cand = u.ascii ? keyword_starts[u.ascii] & unseen : 0;
        while (cand) {
            size_t k = (size_t)__builtin_ctz(cand), end; /* lowest rank first */
            cand &= cand - 1;
            if (!keyword_at(k, p + pos, n - pos, &end))
                continue;
            int before = prev_last < 0 || !is_word_byte((uchar)prev_last);
            int after = 1;
            if (pos + end < n) {
                struct unit v;
                lower_unit(p + pos + end, n - pos - end, &v);
                after = !is_word_byte(v.first);
            }
            state[k] = (before && after) ? KW_BOUNDED : KW_EMBEDDED;
            unseen &= ~(1u << k);
            const struct noa_str *d = keyword_decided(state, 0);
            if (d)
                return *d;
        }
        prev_last = u.last;
        pos += u.width;
    }
    return *keyword_decided(state, 1);
}

/* ---- JSON (buger/jsonparser ObjectEach semantics) ------------------------ */

/* jsonparser's tokenEnd delimiters (a NUL byte is not one). */
static int json_token_end(uchar c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == ',' || c == '}' || c == ']';
}

static long json_next_token(const uchar *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\n' && p[i] != '\r' && p[i] != '\t')
            return (long)i;
    return -1;
}

/* Offset just past the closing quote of a string whose body starts at p;
 * *escaped tells whether a backslash was seen. -1 when unterminated. */
static long json_string_end(const uchar *p, size_t n, int *escaped)
{
    *escaped = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\') {
            *escaped = 1;
        } else if (p[i] == '"') {
            if (!*escaped)
                return (long)i + 1;
            size_t bs = 0;
            while (bs < i && p[i - 1 - bs] == '\\')
                bs++;
            if (bs % 2 == 0)
                return (long)i + 1;
        }
    }
    return -1;
}

static long json_block_end(const uchar *p, size_t n, uchar open, uchar close)
{
    long level = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"') {
            int esc;
            long se = json_string_end(p + i + 1, n - i - 1, &esc);
            if (se < 0)
                return -1;
            i += (size_t)se;
        } else if (p[i] == open) {
            level++;
        } else if (p[i] == close) {
            if (--level == 0)
                return (long)i + 1;
        }
    }
    return -1;
}

static long json_u4(const uchar *p, size_t n)
{
    if (n < 6 || p[0] != '\\' || p[1] != 'u')
        return -1;
    long v = 0;
    for (int i = 2; i < 6; i++) {
        int h = noa_hexval((unsigned char)p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

static size_t put_rune(uchar *out, size_t cap, size_t w, uint32_t r)
{
    char b[4];
    size_t len = noa_utf8_encode(r, b);
    for (size_t i = 0; i < len; i++)
        if (w + i < cap)
            out[w + i] = b[i];
    return len;
}

/* jsonparser.Unescape of a key: writes at most cap bytes, returns the full
 * decoded length, or -1 on a malformed escape (which ends ObjectEach). */
static long json_unescape(const uchar *in, size_t n, uchar *out, size_t cap)
{
    size_t r = 0, w = 0;
    while (r < n) {
        if (in[r] != '\\') {
            if (w < cap)
                out[w] = in[r];
            w++;
            r++;
            continue;
        }
        if (r + 1 >= n)
            return -1;
        uchar e = in[r + 1];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            if (w < cap)
                out[w] = (uchar)map[simple - "\"\\/bfnrt"];
            w++;
            r += 2;
            continue;
        }
        if (e != 'u')
            return -1;
        long hi = json_u4(in + r, n - r);
        if (hi < 0)
            return -1;
        uint32_t rune = (uint32_t)hi;
        size_t used = 6;
        if (hi >= 0xD800 && hi <= 0xDFFF) {
            long lo = json_u4(in + r + 6, n - r - 6);
            if (lo < 0xDC00)
                return -1;
            rune = 0x10000 + (((uint32_t)hi - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
            used = 12;
        }
        w += put_rune(out, cap, w, rune);
        r += used;
    }
    return (long)w;
}

struct json_scan {
    const struct noa_str *fields;
    uint32_t n_fields;
    int max_depth;
    struct noa_str result;
};

static int json_key_allowed(const struct json_scan *js, const uchar *key, size_t len)
{
    for (uint32_t i = 0; i < js->n_fields; i++)
        if (js->fields[i].len == len && !memcmp(js->fields[i].p, key, len))
            return 1;
    return 0;
}

/* jsonparser's getType: the end of the value starting at p[vs] in *ve, or
 * -1 when it is malformed. */
static int json_value_end(const uchar *p, size_t n, size_t vs, size_t *ve)
{
    uchar c = p[vs];
    int esc;
    long e;
    if (c == '"') {
        e = json_string_end(p + vs + 1, n - vs - 1, &esc);
        *ve = vs + 1 + (size_t)e;
        return e < 0 ? -1 : 0;
    }
    if (c == '{' || c == '[') {
        e = json_block_end(p + vs, n - vs, c, c == '{' ? '}' : ']');
        *ve = vs + (size_t)e;
        return e < 0 ? -1 : 0;
    }
    size_t end = vs;
    while (end < n && !json_token_end(p[end]))
        end++;
    size_t len = end - vs;
    *ve = end;
    if ((c == 't' && len == 4 && !memcmp(p + vs, "true", 4)) ||
        (c == 'f' && len == 5 && !memcmp(p + vs, "false", 5)) ||
        (c == 'n' && len == 4 && !memcmp(p + vs, "null", 4)) || c == '-' || (c >= '0' && c <= '9'))
        return 0;
    return -1;
}

/* Skips whitespace at p[*off]; -1 when nothing but whitespace is left. */
static int json_skip_ws(const uchar *p, size_t n, size_t *off)
{
    long t = json_next_token(p + *off, n - *off);
    if (t < 0)
        return -1;
    *off += (size_t)t;
    return 0;
}

/* ObjectEach over p[0..n) looking for an allowed key with a string value,
 * descending into object values. 1 found, 0 not found, -1 malformed (which
 * stops the whole search, as the error propagates in Loki). */
static int json_find(struct json_scan *js, const uchar *p, size_t n, int depth)
{
    size_t off = 0;
    if (depth >= js->max_depth)
        return 0;
    if (json_skip_ws(p, n, &off) < 0 || p[off++] != '{' || json_skip_ws(p, n, &off) < 0)
        return -1;
    while (off < n) {
        if (p[off] == '}')
            return 0;
        if (p[off++] != '"')
            return -1;
        int esc;
        long se = json_string_end(p + off, n - off, &esc);
        if (se < 0)
            return -1;
        const uchar *key = p + off;
        size_t klen = (size_t)se - 1;
        uchar kbuf[256];
        off += (size_t)se;
        if (esc) {
            long kl = json_unescape(key, klen, kbuf, sizeof(kbuf));
            if (kl < 0)
                return -1;
            key = kbuf;
            klen = (size_t)kl > sizeof(kbuf) ? sizeof(kbuf) + 1 : (size_t)kl;
        }
        if (json_skip_ws(p, n, &off) < 0 || p[off++] != ':' || json_skip_ws(p, n, &off) < 0)
            return -1;
        size_t vs = off, ve;
        if (json_value_end(p, n, vs, &ve) < 0)
            return -1;
        if (p[vs] == '"' && klen <= sizeof(kbuf) && json_key_allowed(js, key, klen)) {
            js->result = (struct noa_str){(const char *)p + vs + 1, ve - vs - 2};
            return 1;
        }
        if (p[vs] == '{') {
            int r = json_find(js, p + vs, ve - vs, depth + 1);
            if (r)
                return r;
        }
        off = ve;
        if (json_skip_ws(p, n, &off) < 0)
            return -1;
        if (p[off] == '}')
            return 0;
        if (p[off++] != ',' || json_skip_ws(p, n, &off) < 0)
            return -1;
    }
    return -1;
}

/* Loki's isJSON: first non-space rune '{' and last non-space byte '}'. */
static int looks_json(const uchar *p, size_t n)
{
    size_t i = 0;
    uint32_t first = 0;
    while (i < n) {
        uint32_t r;
        size_t w = decode_rune(p + i, n - i, &r);
        if (!w) {
            first = 0xFFFD;
            break;
        }
        if (!is_space_rune(r)) {
            first = r;
            break;
        }
        i += w;
    }
    if (first != '{')
        return 0;
    size_t j = n;
    while (j > 0 && is_space_rune(p[j - 1]))
        j--;
    return j > 0 && p[j - 1] == '}';
}

/* ---- logfmt (Loki's pkg/logql/log/logfmt decoder) ------------------------- */

struct logfmt {
    const uchar *p;
    size_t n, pos;
    struct noa_str key;
    struct noa_str value; /* raw slice, or the decoded text in vbuf */
    int value_long;       /* the decoded value did not fit vbuf */
    uchar vbuf[32];
};

static int has_rune_error(const uchar *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t r;
        size_t w = decode_rune(p + i, n - i, &r);
        if (!w || r == 0xFFFD)
            return 1;
        i += w;
    }
    return 0;
}

/* go-logfmt's unquoteBytes on the body between the quotes: 1 ok, 0 invalid. */
static int logfmt_unquote(struct logfmt *d, const uchar *s, size_t n)
{
    size_t r = 0, w = 0;
    while (r < n) {
        uchar c = s[r];
        if (c == '\\') {
            if (++r >= n)
                return 0;
            c = s[r];
            const char *simple = strchr("\"\\/'bfnrt", c);
            if (c && simple) {
                static const char map[] = "\"\\/'\b\f\n\r\t";
                w += put_rune(d->vbuf, sizeof(d->vbuf), w, (uchar)map[simple - "\"\\/'bfnrt"]);
                r++;
                continue;
            }
            if (c != 'u')
                return 0;
            long hi = json_u4(s + r - 1, n - r + 1);
            if (hi < 0)
                return 0;
            r += 5;
            uint32_t rune = (uint32_t)hi;
            if (hi >= 0xD800 && hi < 0xE000) {
                long lo = json_u4(s + r, n - r);
                if (hi < 0xDC00 && lo >= 0xDC00 && lo < 0xE000) {
                    rune = 0x10000 + (((uint32_t)hi - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
                    r += 6;
                } else {
                    rune = 0xFFFD;
                }
            }
            w += put_rune(d->vbuf, sizeof(d->vbuf), w, rune);
        } else if (c == '"' || c < ' ') {
            return 0;
        } else if (c < 0x80) {
            w += put_rune(d->vbuf, sizeof(d->vbuf), w, c);
            r++;
        } else {
            uint32_t rune;
            size_t width = decode_rune(s + r, n - r, &rune);
            if (!width) {
                width = 1;
                rune = 0xFFFD;
            }
            w += put_rune(d->vbuf, sizeof(d->vbuf), w, rune);
            r += width;
        }
    }
    d->value_long = w > sizeof(d->vbuf);
    d->value = (struct noa_str){(const char *)d->vbuf, d->value_long ? sizeof(d->vbuf) : w};
    return 1;
}

static int logfmt_skip_value(struct logfmt *d)
{
    while (d->pos < d->n && d->p[d->pos] > ' ')
        d->pos++;
    return 0;
}

static int logfmt_key_ok(struct logfmt *d, size_t start, int multibyte)
{
    d->key = (struct noa_str){(const char *)d->p + start, d->pos - start};
    return !(multibyte && has_rune_error(d->p + start, d->pos - start));
}

/* ScanKeyval: 1 with key (and maybe value) set, 0 at the end or on error. */
static int logfmt_next(struct logfmt *d)
{
    const uchar *p = d->p;
    d->key = d->value = (struct noa_str){NULL, 0};
    d->value_long = 0;
    while (d->pos < d->n && p[d->pos] <= ' ')
        d->pos++;
    if (d->pos >= d->n)
        return 0;
    size_t start = d->pos;
    int multibyte = 0;
    for (; d->pos < d->n; d->pos++) {
        uchar c = p[d->pos];
        if (c == '=') {
            if (d->pos == start || !logfmt_key_ok(d, start, multibyte))
                return logfmt_skip_value(d);
            goto equal;
        }
        if (c == '"')
            return logfmt_skip_value(d);
        if (c <= ' ')
            return logfmt_key_ok(d, start, multibyte);
        if (c >= 0x80)
            multibyte = 1;
    }
    return logfmt_key_ok(d, start, multibyte);

equal:
    if (++d->pos >= d->n || p[d->pos] <= ' ')
        return 1;
    if (p[d->pos] == '"') {
        int esc = 0, has_esc = 0;
        for (size_t i = d->pos + 1; i < d->n; i++) {
            if (esc) {
                esc = 0;
            } else if (p[i] == '\\') {
                has_esc = esc = 1;
            } else if (p[i] == '"') {
                size_t body = d->pos + 1;
                d->pos = i + 1;
                if (has_esc)
                    return logfmt_unquote(d, p + body, i - body);
                d->value = (struct noa_str){(const char *)p + body, i - body};
                return 1;
            }
        }
        d->pos = d->n;
        return 0;
    }
    start = d->pos;
    for (; d->pos < d->n; d->pos++) {
        uchar c = p[d->pos];
        if (c == '=' || c == '"')
            return logfmt_skip_value(d);
        if (c <= ' ')
            break;
    }
    d->value = (struct noa_str){(const char *)p + start, d->pos - start};
    return 1;
}

/*
 * getValueUsingLogfmtParser: the value of the key matching the
 * lowest-indexed hint (case-insensitively) anywhere in the line; the first
 * hint ends the scan at once. The winning value is copied into *buf when it
 * was decoded, since the decoder reuses its buffer.
 */
static struct noa_str logfmt_level(const uchar *p, size_t n, const struct noa_str *hints,
                                   uint32_t n_hints, uchar *buf, size_t cap)
{
    struct logfmt d = {.p = p, .n = n};
    struct noa_str res = {NULL, 0};
    uint32_t best = n_hints;
    while (d.pos < d.n && logfmt_next(&d)) {
        /* An ASCII key can only fold onto a name of its own length: most
         * keys are rejected here without a case-folding compare. */
        int ascii = 1;
        for (size_t i = 0; i < d.key.len && ascii; i++)
            ascii = (uchar)d.key.p[i] < 0x80;
        for (uint32_t x = 0; x < best; x++) {
            if ((ascii && d.key.len != hints[x].len) || !fold_eq(d.key, hints[x]))
                continue;
            best = x;
            res = d.value;
            if (d.value_long) {
                res = (struct noa_str){NULL, 0}; /* longer than any level word */
            } else if (res.p == (const char *)d.vbuf) {
                memcpy(buf, d.vbuf, res.len < cap ? res.len : cap);
                res.p = (const char *)buf;
            }
            break;
        }
        if (best == 0)
            break;
    }
    return res;
}

/* ---- putting it together ------------------------------------------------ */

struct noa_str noa_enrich_line_level(const struct noa_enrich_level_opts *opts, struct noa_str line)
{
    const uchar *p = (const uchar *)line.p;
    size_t n = line.len;
    struct noa_str v = {NULL, 0};
    uchar buf[32];
    if (n && looks_json(p, n)) {
        struct json_scan js = {.max_depth = NOA_ENRICH_JSON_MAX_DEPTH};
        level_fields(opts, &js.fields, &js.n_fields);
        if (opts)
            js.max_depth =
                opts->json_max_depth > 0 ? opts->json_max_depth : NOA_ENRICH_JSON_HARD_DEPTH;
        if (json_find(&js, p, n, 0) == 1)
            v = js.result;
    } else if (n && memchr(p, '=', n)) {
        const struct noa_str *f;
        uint32_t nf;
        level_fields(opts, &f, &nf);
        v = logfmt_level(p, n, f, nf, buf, sizeof(buf));
    }
    struct noa_str k = known_level(v);
    return k.p ? k : noa_enrich_keyword_level(line);
}

/* strconv.Atoi: optional sign, decimal digits, int64 range. */
static int go_atoi(struct noa_str s, long long *out)
{
    size_t i = 0;
    int neg = 0;
    unsigned long long v = 0, lim = (unsigned long long)LLONG_MAX;
    if (i < s.len && (s.p[i] == '+' || s.p[i] == '-'))
        neg = s.p[i++] == '-';
    if (i == s.len)
        return -1;
    if (neg)
        lim += 1;
    for (; i < s.len; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return -1;
        unsigned d = (unsigned)(s.p[i] - '0');
        if (v > (lim - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = neg ? (long long)(0 - v) : (long long)v;
    return 0;
}

/* OTLP SeverityNumber ranges (1-4 trace ... 21-24 fatal). */
static struct noa_str severity_level(struct noa_str num)
{
    long long v;
    if (go_atoi(num, &v) < 0)
        return lv_info; /* Loki's choice for an unparsable number */
    if (v == 0)
        return lv_unknown;
    if (v <= 4)
        return lv_trace;
    if (v <= 8)
        return lv_debug;
    if (v <= 12)
        return lv_info;
    if (v <= 16)
        return lv_warn;
    if (v <= 20)
        return lv_error;
    if (v <= 24)
        return lv_fatal;
    return lv_unknown;
}

static const struct noa_label *meta_find(const struct noa_label *meta, uint32_t n,
                                         struct noa_str name)
{
    for (uint32_t i = 0; i < n; i++)
        if (noa_str_eq(meta[i].name, name))
            return &meta[i];
    return NULL;
}

struct noa_str noa_enrich_detect_level(const struct noa_enrich_level_opts *opts,
                                       const struct noa_labels *stream,
                                       const struct noa_label *meta, uint32_t n_meta,
                                       struct noa_str line)
{
    const struct noa_str *f;
    uint32_t nf;
    level_fields(opts, &f, &nf);
    for (uint32_t i = 0; stream && i < nf; i++) {
        struct noa_str v = noa_labels_get(stream, f[i]);
        if (v.p)
            return noa_enrich_normalize_level(v);
    }
    for (uint32_t i = 0; i < nf; i++) {
        const struct noa_label *m = meta_find(meta, n_meta, f[i]);
        if (m)
            return noa_enrich_normalize_level(m->value);
    }
    const struct noa_label *sev = meta_find(meta, n_meta, NOA_STR("severity_number"));
    if (sev && sev->value.len)
        return severity_level(sev->value);
    return noa_enrich_line_level(opts, line);
}

int noa_enrich_stream_has_level(const struct noa_enrich_level_opts *opts,
                                const struct noa_labels *stream)
{
    const struct noa_str *f;
    uint32_t nf;
    level_fields(opts, &f, &nf);
    for (uint32_t i = 0; i < nf; i++)
        if (noa_labels_get(stream, f[i]).p)
            return 1;
    return 0;
}

int noa_enrich_apply_level(const struct noa_enrich_level_opts *opts,
                           const struct noa_labels *stream, struct noa_label *meta,
                           uint32_t *n_meta, struct noa_str line)
{
    for (uint32_t i = 0; i < *n_meta; i++) {
        if (noa_str_eq_c(meta[i].name, NOA_ENRICH_LEVEL_LABEL)) {
            meta[i].value = noa_enrich_normalize_level(meta[i].value);
            return 0;
        }
    }
    struct noa_str v = noa_enrich_detect_level(opts, stream, meta, *n_meta, line);
    if (!v.len)
        return 0;
    meta[*n_meta] = (struct noa_label){NOA_STR(NOA_ENRICH_LEVEL_LABEL), v};
    (*n_meta)++;
    return 1;
}

int noa_enrich_service_name(const struct noa_limits *lim, const struct noa_labels *ls,
                            struct noa_str *value)
{
    if (!lim->n_discover_service_name || noa_labels_get(ls, NOA_STR(NOA_ENRICH_SERVICE_NAME)).p)
        return 0;
    /* Loki's own aggregated-metric and pattern streams keep their labels. */
    if (noa_labels_get(ls, NOA_STR("__aggregated_metric__")).p ||
        noa_labels_get(ls, NOA_STR("__pattern__")).p)
        return 0;
    for (int i = 0; i < lim->n_discover_service_name; i++) {
        struct noa_str v = noa_labels_get(ls, noa_str_c(lim->discover_service_name[i]));
        if (v.len) {
            *value = v;
            return 1;
        }
    }
    *value = NOA_STR(NOA_ENRICH_UNKNOWN_SERVICE);
    return 1;
}
