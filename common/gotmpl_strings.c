/*
 * The template function map, part 2: string functions (Loki's Go-order
 * ToLower/Replace/Trim..., sprig's lower/trunc/substr/replace..., url and
 * base64 codecs, html/js escapes, alignLeft/alignRight) and the regex
 * functions over the PCRE2 adapter (regexReplaceAll with Go's $1/${name}
 * expansion and empty-match rules, count). Pure functions; run on the
 * executing thread.
 */
#include "common/gotmpl_int.h"
#include "common/mem.h"
#include "common/regex.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int f_line(NOA_GOTMPL_FN_ARGS)
{
    (void)a;
    (void)n;
    *out = noa__gotmpl_str(x->data->line);
    return 0;
}

/* The string-to-string functions of one argument. */
enum s1 {
    S1_LOWER,
    S1_UPPER,
    S1_TITLE,
    S1_TRIMSPACE,
    S1_B64ENC,
    S1_B64DEC,
    S1_URLENC,
    S1_URLDEC,
    S1_HTML,
    S1_JS
};

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_decode(struct noa__gotmpl_exec *x, struct noa_str s, struct noa_buf *o)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t i;
    for (i = 0; i < s.len; i++) {
        char c = s.p[i];
        if (c == '\r' || c == '\n')
            continue;
        if (c == '=')
            break;
        const char *q = memchr(b64, c, 64);
        if (!q || c == '\0')
            return noa__gotmpl_fail(x, NOA_EINVAL, "illegal base64 data at input byte %zu", i);
        acc = (acc << 6) | (uint32_t)(q - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            noa_buf_putc(o, (char)(acc >> bits));
        }
    }
    if (i < s.len) {
        /* Padding: only "=" may follow, and it must complete the quantum. */
        size_t pads = 0;
        for (; i < s.len; i++) {
            if (s.p[i] == '\r' || s.p[i] == '\n')
                continue;
            if (s.p[i] != '=')
                return noa__gotmpl_fail(x, NOA_EINVAL, "illegal base64 data at input byte %zu", i);
            pads++;
        }
        if ((bits == 4 && pads != 2) || (bits == 2 && pads != 1) || bits == 0)
            return noa__gotmpl_fail(x, NOA_EINVAL, "illegal base64 data at input byte %zu",
                                    s.len - pads);
    } else if (bits >= 6) {
        return noa__gotmpl_fail(x, NOA_EINVAL, "illegal base64 data at input byte %zu", s.len);
    }
    return 0;
}

/* Simple case mapping for the scripts logs carry besides ASCII (Latin-1,
 * Latin Extended-A, Greek, Cyrillic), limited to mappings that keep the
 * UTF-8 length so strings convert in place. Other code points are left
 * as they are. */
static uint32_t fold(uint32_t c, int upper)
{
    if (c < 0x80)
        return (uint32_t)(upper ? toupper((int)c) : tolower((int)c));
    if (upper) {
        if ((c >= 0xE0 && c <= 0xFE && c != 0xF7) || (c >= 0x3B1 && c <= 0x3CB && c != 0x3C2) ||
            (c >= 0x430 && c <= 0x44F))
            return c - 0x20;
        if (c == 0xFF)
            return 0x178;
        if (c == 0x3C2)
            return 0x3A3;
        if (c == 0x3AC)
            return 0x386;
        if (c >= 0x3AD && c <= 0x3AF)
            return c - 0x25;
        if (c == 0x3CC)
            return 0x38C;
        if (c >= 0x3CD && c <= 0x3CE)
            return c - 0x3F;
        if (c >= 0x450 && c <= 0x45F)
            return c - 0x50;
        if (c == 0x4CF)
            return 0x4C0;
    } else {
        if ((c >= 0xC0 && c <= 0xDE && c != 0xD7) || (c >= 0x391 && c <= 0x3AB && c != 0x3A2) ||
            (c >= 0x410 && c <= 0x42F))
            return c + 0x20;
        if (c == 0x178)
            return 0xFF;
        if (c == 0x386)
            return 0x3AC;
        if (c >= 0x388 && c <= 0x38A)
            return c + 0x25;
        if (c == 0x38C)
            return 0x3CC;
        if (c >= 0x38E && c <= 0x38F)
            return c + 0x3F;
        if (c >= 0x400 && c <= 0x40F)
            return c + 0x50;
        if (c == 0x4C0)
            return 0x4CF;
    }
    /* Alternating upper/lower pairs. */
    int even_upper = (c >= 0x100 && c <= 0x12F) || (c >= 0x132 && c <= 0x137) ||
                     (c >= 0x14A && c <= 0x177) || (c >= 0x460 && c <= 0x481) ||
                     (c >= 0x48A && c <= 0x4BF) || (c >= 0x4D0 && c <= 0x4FF);
    int odd_upper =
        (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E) || (c >= 0x4C1 && c <= 0x4CE);
    if (even_upper || odd_upper) {
        int is_upper = (c % 2 == 0) == even_upper;
        if (upper && !is_upper)
            return c - 1;
        if (!upper && is_upper)
            return c + 1;
    }
    return c;
}

/* Maps the character at p in place; returns the extra bytes it spans
 * beyond the first (so callers can skip them). */
static size_t case_at(char *p, size_t n, int upper)
{
    unsigned char c = (unsigned char)p[0];
    if (c < 0x80) {
        p[0] = (char)fold(c, upper);
        return 0;
    }
    if ((c & 0xE0) == 0xC0 && n >= 2 && ((unsigned char)p[1] & 0xC0) == 0x80) {
        uint32_t cp = ((uint32_t)(c & 0x1F) << 6) | ((unsigned char)p[1] & 0x3F);
        uint32_t m = fold(cp, upper);
        if (m >= 0x80 && m < 0x800) {
            p[0] = (char)(0xC0 | (m >> 6));
            p[1] = (char)(0x80 | (m & 0x3F));
        }
        return 1;
    }
    size_t k = 1;
    while (k < n && ((unsigned char)p[k] & 0xC0) == 0x80)
        k++;
    return k - 1;
}

static int str1(struct noa__gotmpl_exec *x, enum s1 op, struct noa_str s,
                struct noa__gotmpl_val *out)
{
    int rc = 0;
    if (s.len > x->max_str / 4)
        return noa__gotmpl_fail(x, NOA_ETOOBIG, "string of %zu bytes over the size limit", s.len);
    if (op == S1_TRIMSPACE) {
        size_t b = 0, e = s.len;
        while (b < e && isspace((unsigned char)s.p[b]))
            b++;
        while (e > b && isspace((unsigned char)s.p[e - 1]))
            e--;
        *out = noa__gotmpl_str((struct noa_str){s.p + b, e - b});
        return 0;
    }
    struct noa_buf o = noa__gotmpl_buf_take(x);
    switch (op) {
    case S1_LOWER:
    case S1_UPPER:
        noa_buf_append(&o, s.p, s.len);
        for (size_t i = 0; i < o.len; i++)
            i += case_at(o.data + i, o.len - i, op == S1_UPPER);
        break;
    case S1_TITLE: {
        int prev_sep = 1;
        noa_buf_append(&o, s.p, s.len);
        for (size_t i = 0; i < o.len; i++) {
            unsigned char c = (unsigned char)o.data[i];
            size_t extra = prev_sep ? case_at(o.data + i, o.len - i, 1) : 0;
            prev_sep = !(isalnum(c) || c == '_' || c >= 0x80);
            i += extra;
        }
        break;
    }
    case S1_TRIMSPACE:
        break; /* handled above: no copy needed */
    case S1_B64ENC:
        for (size_t i = 0; i < s.len; i += 3) {
            uint32_t v = (uint32_t)(unsigned char)s.p[i] << 16;
            if (i + 1 < s.len)
                v |= (uint32_t)(unsigned char)s.p[i + 1] << 8;
            if (i + 2 < s.len)
                v |= (unsigned char)s.p[i + 2];
            noa_buf_putc(&o, b64[v >> 18]);
            noa_buf_putc(&o, b64[(v >> 12) & 63]);
            noa_buf_putc(&o, i + 1 < s.len ? b64[(v >> 6) & 63] : '=');
            noa_buf_putc(&o, i + 2 < s.len ? b64[v & 63] : '=');
        }
        break;
    case S1_B64DEC:
        /* Loki pads the input to a multiple of 4 first; a decoding error
         * becomes the output text, as sprig does. */
        rc = b64_decode(x, s, &o);
        if (rc) {
            o.len = 0;
            noa_buf_printf(&o, "%s", x->msg);
            x->msg[0] = '\0';
            rc = 0;
        }
        break;
    case S1_URLENC:
        for (size_t i = 0; i < s.len; i++) {
            unsigned char c = (unsigned char)s.p[i];
            if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
                noa_buf_putc(&o, (char)c);
            else if (c == ' ')
                noa_buf_putc(&o, '+');
            else
                noa_buf_printf(&o, "%%%02X", c);
        }
        break;
    case S1_URLDEC:
        for (size_t i = 0; i < s.len; i++) {
            char c = s.p[i];
            if (c == '+') {
                noa_buf_putc(&o, ' ');
            } else if (c == '%') {
                if (i + 2 >= s.len + 0 || !isxdigit((unsigned char)s.p[i + 1]) ||
                    !isxdigit((unsigned char)s.p[i + 2])) {
                    size_t l = s.len - i < 3 ? s.len - i : 3;
                    rc = noa__gotmpl_fail(x, NOA_EINVAL,
                                          "error calling urldecode: invalid URL escape \"%.*s\"",
                                          (int)l, s.p + i);
                    goto out;
                }
                char h[3] = {s.p[i + 1], s.p[i + 2], 0};
                noa_buf_putc(&o, (char)strtol(h, NULL, 16));
                i += 2;
            } else {
                noa_buf_putc(&o, c);
            }
        }
        break;
    case S1_HTML:
        for (size_t i = 0; i < s.len; i++) {
            switch (s.p[i]) {
            case '<':
                noa_buf_append(&o, "&lt;", 4);
                break;
            case '>':
                noa_buf_append(&o, "&gt;", 4);
                break;
            case '&':
                noa_buf_append(&o, "&amp;", 5);
                break;
            case '\'':
                noa_buf_append(&o, "&#39;", 5);
                break;
            case '"':
                noa_buf_append(&o, "&#34;", 5);
                break;
            case '\0':
                noa_buf_append(&o, "\xEF\xBF\xBD", 3);
                break;
            default:
                noa_buf_putc(&o, s.p[i]);
            }
        }
        break;
    case S1_JS:
        for (size_t i = 0; i < s.len; i++) {
            unsigned char c = (unsigned char)s.p[i];
            switch (c) {
            case '\\':
                noa_buf_append(&o, "\\\\", 2);
                break;
            case '\'':
                noa_buf_append(&o, "\\'", 2);
                break;
            case '"':
                noa_buf_append(&o, "\\\"", 2);
                break;
            case '<':
                noa_buf_append(&o, "\\u003C", 6);
                break;
            case '>':
                noa_buf_append(&o, "\\u003E", 6);
                break;
            case '&':
                noa_buf_append(&o, "\\u0026", 6);
                break;
            case '=':
                noa_buf_append(&o, "\\u003D", 6);
                break;
            case '`':
                noa_buf_append(&o, "\\u0060", 6);
                break;
            case '\n':
                noa_buf_append(&o, "\\n", 2);
                break;
            case '\r':
                noa_buf_append(&o, "\\r", 2);
                break;
            case '\t':
                noa_buf_append(&o, "\\t", 2);
                break;
            default:
                if (c < 0x20)
                    noa_buf_printf(&o, "\\u%04X", c);
                else
                    noa_buf_putc(&o, (char)c);
            }
        }
        break;
    }
    return noa__gotmpl_from_buf(x, &o, out);
out:
    noa__gotmpl_buf_give(x, &o);
    return rc;
}

#define STR1(fname, op)                                                                            \
    static int fname(NOA_GOTMPL_FN_ARGS)                                                           \
    {                                                                                              \
        struct noa_str s = {0};                                                                    \
        (void)n;                                                                                   \
        int rc = noa__gotmpl_want_str(x, &a[0], &s);                                               \
        return rc ? rc : str1(x, op, s, out);                                                      \
    }
STR1(f_lower, S1_LOWER)
STR1(f_upper, S1_UPPER)
STR1(f_title, S1_TITLE)
STR1(f_trimspace, S1_TRIMSPACE)
STR1(f_b64enc, S1_B64ENC)
STR1(f_b64dec, S1_B64DEC)
STR1(f_urlencode, S1_URLENC)
STR1(f_urldecode, S1_URLDEC)

/* html, js and urlquery take any values and print them first, as Go does. */
static int escape_any(struct noa__gotmpl_exec *x, const struct noa__gotmpl_val *a, int n,
                      enum s1 op, struct noa__gotmpl_val *out)
{
    struct noa_buf b = noa__gotmpl_buf_take(x);
    for (int i = 0; i < n; i++)
        noa__gotmpl_print(x, &a[i], &b);
    char *d = noa__gotmpl_mk(x, b.len);
    if (!d) {
        noa__gotmpl_buf_give(x, &b);
        return NOA_ETOOBIG;
    }
    if (b.len)
        memcpy(d, b.data, b.len);
    struct noa_str s = {d, b.len};
    noa__gotmpl_buf_give(x, &b);
    return str1(x, op, s, out);
}

static int f_html(NOA_GOTMPL_FN_ARGS)
{
    return escape_any(x, a, n, S1_HTML, out);
}

static int f_js(NOA_GOTMPL_FN_ARGS)
{
    return escape_any(x, a, n, S1_JS, out);
}

static int f_urlquery(NOA_GOTMPL_FN_ARGS)
{
    return escape_any(x, a, n, S1_URLENC, out);
}

/* Go's strings.Trim family: cutset is a set of bytes (ASCII in practice). */
static struct noa_str cut(struct noa_str s, struct noa_str set, int left, int right)
{
    while (left && s.len && set.len && memchr(set.p, s.p[0], set.len)) {
        s.p++;
        s.len--;
    }
    while (right && s.len && set.len && memchr(set.p, s.p[s.len - 1], set.len))
        s.len--;
    return s;
}

enum trim { TR_BOTH, TR_LEFT, TR_RIGHT, TR_PREFIX, TR_SUFFIX };

static int trim_op(struct noa__gotmpl_exec *x, struct noa_str s, struct noa_str arg, enum trim op,
                   struct noa__gotmpl_val *out)
{
    switch (op) {
    case TR_BOTH:
        s = cut(s, arg, 1, 1);
        break;
    case TR_LEFT:
        s = cut(s, arg, 1, 0);
        break;
    case TR_RIGHT:
        s = cut(s, arg, 0, 1);
        break;
    case TR_PREFIX:
        if (s.len >= arg.len && memcmp(s.p, arg.p, arg.len) == 0) {
            s.p += arg.len;
            s.len -= arg.len;
        }
        break;
    case TR_SUFFIX:
        if (s.len >= arg.len && memcmp(s.p + s.len - arg.len, arg.p, arg.len) == 0)
            s.len -= arg.len;
        break;
    }
    (void)x;
    *out = noa__gotmpl_str(s);
    return 0;
}

/* Loki's Go-order functions take (s, arg); sprig's take (arg, s). */
#define TRIM(fname, op, go_order)                                                                  \
    static int fname(NOA_GOTMPL_FN_ARGS)                                                           \
    {                                                                                              \
        struct noa_str s[2] = {{0}};                                                               \
        int rc = noa__gotmpl_want_strs(x, a, n, s);                                                \
        if (rc)                                                                                    \
            return rc;                                                                             \
        return go_order ? trim_op(x, s[0], s[1], op, out) : trim_op(x, s[1], s[0], op, out);       \
    }
TRIM(f_Trim, TR_BOTH, 1)
TRIM(f_TrimLeft, TR_LEFT, 1)
TRIM(f_TrimRight, TR_RIGHT, 1)
TRIM(f_TrimPrefix, TR_PREFIX, 1)
TRIM(f_TrimSuffix, TR_SUFFIX, 1)
TRIM(f_trimAll, TR_BOTH, 0)
TRIM(f_trimPrefix, TR_PREFIX, 0)
TRIM(f_trimSuffix, TR_SUFFIX, 0)

/* strings.Replace(s, old, new, limit); limit < 0 replaces all. An empty
 * old matches before every rune and at the end, as in Go. */
static int replace(struct noa__gotmpl_exec *x, struct noa_str s, struct noa_str old,
                   struct noa_str nw, int64_t limit, struct noa__gotmpl_val *out)
{
    size_t i = 0;
    int64_t done = 0;
    if (limit == 0 || (old.len > 0 && !memmem(s.p ? s.p : "", s.len, old.p, old.len))) {
        *out = noa__gotmpl_str(s);
        return 0;
    }
    struct noa_buf o = noa__gotmpl_buf_take(x);
    while (i <= s.len && (limit < 0 || done < limit)) {
        const char *hit;
        if (old.len == 0) {
            hit = s.p + i;
        } else {
            hit = memmem(s.p + i, s.len - i, old.p, old.len);
            if (!hit)
                break;
        }
        size_t at = (size_t)(hit - s.p);
        noa_buf_append(&o, s.p + i, at - i);
        noa_buf_append_str(&o, nw);
        done++;
        if (o.len > x->max_str) {
            noa__gotmpl_buf_give(x, &o);
            return noa__gotmpl_fail(x, NOA_ETOOBIG, "string over the size limit");
        }
        if (old.len == 0) {
            if (at >= s.len) {
                i = s.len + 1;
                break;
            }
            size_t k = 1;
            while (at + k < s.len && ((unsigned char)s.p[at + k] & 0xC0) == 0x80)
                k++;
            noa_buf_append(&o, s.p + at, k);
            i = at + k;
        } else {
            i = at + old.len;
        }
    }
    if (i < s.len)
        noa_buf_append(&o, s.p + i, s.len - i);
    return noa__gotmpl_from_buf(x, &o, out);
}

static int f_Replace(NOA_GOTMPL_FN_ARGS)
{
    struct noa_str s[3] = {{0}};
    int64_t lim;
    (void)n;
    int rc = noa__gotmpl_want_strs(x, a, 3, s);
    if (rc == 0)
        rc = noa__gotmpl_want_int(x, &a[3], &lim);
    return rc ? rc : replace(x, s[0], s[1], s[2], lim, out);
}

static int f_replace(NOA_GOTMPL_FN_ARGS)
{
    struct noa_str s[3] = {{0}};
    int rc = noa__gotmpl_want_strs(x, a, n, s);
    return rc ? rc : replace(x, s[2], s[0], s[1], -1, out);
}

static int f_contains(NOA_GOTMPL_FN_ARGS)
{
    struct noa_str s[2] = {{0}};
    int rc = noa__gotmpl_want_strs(x, a, n, s);
    if (rc == 0)
        *out = noa__gotmpl_bool(s[0].len == 0 ||
                                (s[1].len && memmem(s[1].p, s[1].len, s[0].p, s[0].len)));
    return rc;
}

static int f_hasPrefix(NOA_GOTMPL_FN_ARGS)
{
    struct noa_str s[2] = {{0}};
    int rc = noa__gotmpl_want_strs(x, a, n, s);
    if (rc == 0)
        *out = noa__gotmpl_bool(s[1].len >= s[0].len &&
                                (s[0].len == 0 || !memcmp(s[1].p, s[0].p, s[0].len)));
    return rc;
}

static int f_hasSuffix(NOA_GOTMPL_FN_ARGS)
{
    struct noa_str s[2] = {{0}};
    int rc = noa__gotmpl_want_strs(x, a, n, s);
    if (rc == 0)
        *out = noa__gotmpl_bool(
            s[1].len >= s[0].len &&
            (s[0].len == 0 || !memcmp(s[1].p + s[1].len - s[0].len, s[0].p, s[0].len)));
    return rc;
}

/* Loki's trunc: counts runes, keeps the head (c >= 0) or the tail. */
static int f_trunc(NOA_GOTMPL_FN_ARGS)
{
    int64_t c;
    struct noa_str s = {0};
    (void)n;
    int rc = noa__gotmpl_want_int(x, &a[0], &c);
    if (rc == 0)
        rc = noa__gotmpl_want_str(x, &a[1], &s);
    if (rc)
        return rc;
    int64_t l = (int64_t)noa__gotmpl_fmt_rune_count(s.p, s.len);
    if (c < 0 && l + c > 0) {
        size_t skip = noa__gotmpl_fmt_rune_prefix(s.p, s.len, (size_t)(l + c));
        s.p += skip;
        s.len -= skip;
    } else if (c >= 0 && l > c) {
        s.len = noa__gotmpl_fmt_rune_prefix(s.p, s.len, (size_t)c);
    }
    *out = noa__gotmpl_str(s);
    return 0;
}

/* Loki's substr over runes: out-of-range bounds are clamped, never fail. */
static int f_substr(NOA_GOTMPL_FN_ARGS)
{
    int64_t st, en;
    struct noa_str s = {0};
    (void)n;
    int rc = noa__gotmpl_want_int(x, &a[0], &st);
    if (rc == 0)
        rc = noa__gotmpl_want_int(x, &a[1], &en);
    if (rc == 0)
        rc = noa__gotmpl_want_str(x, &a[2], &s);
    if (rc)
        return rc;
    int64_t l = (int64_t)noa__gotmpl_fmt_rune_count(s.p, s.len);
    if (en > l)
        en = l;
    if (st > l)
        st = l;
    if (st < 0)
        st = 0;
    else if (en < 0)
        en = l;
    if (en < 0 || st > en) {
        *out = noa__gotmpl_str((struct noa_str){"", 0});
        return 0;
    }
    size_t b = noa__gotmpl_fmt_rune_prefix(s.p, s.len, (size_t)st),
           e = noa__gotmpl_fmt_rune_prefix(s.p, s.len, (size_t)en);
    *out = noa__gotmpl_str((struct noa_str){s.p + b, e - b});
    return 0;
}

static int repeat_into(struct noa__gotmpl_exec *x, struct noa_buf *o, struct noa_str s,
                       int64_t count)
{
    if (count < 0)
        return noa__gotmpl_fail(x, NOA_EINVAL,
                                "error calling repeat: strings: negative Repeat count");
    if (s.len == 0)
        return 0; /* nothing to repeat, however large the count */
    if (s.len && (uint64_t)count > x->max_str / s.len)
        return noa__gotmpl_fail(x, NOA_ETOOBIG, "error calling repeat: result over the size limit");
    for (int64_t i = 0; i < count; i++)
        noa_buf_append_str(o, s);
    return 0;
}

static int f_repeat(NOA_GOTMPL_FN_ARGS)
{
    int64_t c;
    struct noa_str s = {0};
    struct noa_buf o = noa__gotmpl_buf_take(x);
    (void)n;
    int rc = noa__gotmpl_want_int(x, &a[0], &c);
    if (rc == 0)
        rc = noa__gotmpl_want_str(x, &a[1], &s);
    if (rc == 0)
        rc = repeat_into(x, &o, s, c);
    if (rc) {
        noa__gotmpl_buf_give(x, &o);
        return rc;
    }
    return noa__gotmpl_from_buf(x, &o, out);
}

static int indent(struct noa__gotmpl_exec *x, const struct noa__gotmpl_val *a, int nl,
                  struct noa__gotmpl_val *out)
{
    int64_t c;
    struct noa_str s = {0};
    struct noa_buf pad = noa__gotmpl_buf_take(x), o = noa__gotmpl_buf_take(x);
    int rc = noa__gotmpl_want_int(x, &a[0], &c);
    if (rc == 0)
        rc = noa__gotmpl_want_str(x, &a[1], &s);
    if (rc == 0)
        rc = repeat_into(x, &pad, NOA_STR(" "), c < 0 ? 0 : c);
    if (rc)
        goto fail;
    struct noa_str p = {pad.data, pad.len};
    if (nl)
        noa_buf_putc(&o, '\n');
    noa_buf_append_str(&o, p);
    for (size_t i = 0; i < s.len; i++) {
        noa_buf_putc(&o, s.p[i]);
        if (s.p[i] == '\n')
            noa_buf_append_str(&o, p);
        if (o.len > x->max_str) {
            rc = noa__gotmpl_fail(x, NOA_ETOOBIG, "string over the size limit");
            goto fail;
        }
    }
    noa__gotmpl_buf_give(x, &pad);
    return noa__gotmpl_from_buf(x, &o, out);
fail:
    noa__gotmpl_buf_give(x, &pad);
    noa__gotmpl_buf_give(x, &o);
    return rc;
}

static int f_indent(NOA_GOTMPL_FN_ARGS)
{
    (void)n;
    return indent(x, a, 0, out);
}

static int f_nindent(NOA_GOTMPL_FN_ARGS)
{
    (void)n;
    return indent(x, a, 1, out);
}

/* Loki's alignLeft/alignRight: pad with spaces or cut to count runes. */
static int align(struct noa__gotmpl_exec *x, const struct noa__gotmpl_val *a, int right,
                 struct noa__gotmpl_val *out)
{
    int64_t c;
    struct noa_str s = {0};
    int rc = noa__gotmpl_want_int(x, &a[0], &c);
    if (rc == 0)
        rc = noa__gotmpl_want_str(x, &a[1], &s);
    if (rc)
        return rc;
    size_t runes = noa__gotmpl_fmt_rune_count(s.p, s.len);
    if (c < 0 || (uint64_t)c == runes) {
        *out = noa__gotmpl_str(s);
        return 0;
    }
    if ((uint64_t)c > runes) {
        size_t pad = (size_t)c - runes;
        if (pad > x->max_str)
            return noa__gotmpl_fail(x, NOA_ETOOBIG, "string over the size limit");
        char *d = noa__gotmpl_mk(x, s.len + pad);
        if (!d)
            return NOA_ETOOBIG;
        memset(right ? d : d + s.len, ' ', pad);
        if (s.len)
            memcpy(right ? d + pad : d, s.p, s.len);
        *out = noa__gotmpl_str((struct noa_str){d, s.len + pad});
        return 0;
    }
    size_t keep = right ? noa__gotmpl_fmt_rune_prefix(s.p, s.len, runes - (size_t)c)
                        : noa__gotmpl_fmt_rune_prefix(s.p, s.len, (size_t)c);
    *out = right ? noa__gotmpl_str((struct noa_str){s.p + keep, s.len - keep})
                 : noa__gotmpl_str((struct noa_str){s.p, keep});
    return 0;
}

static int f_alignLeft(NOA_GOTMPL_FN_ARGS)
{
    (void)n;
    return align(x, a, 0, out);
}

static int f_alignRight(NOA_GOTMPL_FN_ARGS)
{
    (void)n;
    return align(x, a, 1, out);
}

/* ------------------------------------------------------------- regexes */

/* Compiles a regex argument, with Go's panic message on failure; *owned
 * is set when the caller must free it. */
static int get_regex(struct noa__gotmpl_exec *x, const char *fname, const struct noa__gotmpl_val *v,
                     const struct noa_regex **re, struct noa_regex **owned)
{
    struct noa_str p = {0};
    struct noa_error e = {0};
    int rc = noa__gotmpl_want_str(x, v, &p);
    if (rc)
        return rc;
    *owned = NULL;
    if (x->re_hint) {
        *re = x->re_hint;
        return 0;
    }
    rc = noa_regex_compile(p.p, p.len, 0, owned, &e);
    if (rc)
        return noa__gotmpl_fail(x, NOA_EINVAL, "error calling %s: %s", fname, e.msg);
    *re = *owned;
    return 0;
}

static size_t rune_width(struct noa_str s, size_t pos)
{
    if (pos >= s.len)
        return 0;
    size_t k = 1;
    while (pos + k < s.len && ((unsigned char)s.p[pos + k] & 0xC0) == 0x80)
        k++;
    return k;
}

/* Go's Regexp.Expand of template t for one match. */
static void expand(struct noa_buf *o, const struct noa_regex *re, struct noa_str t,
                   struct noa_str s, const long *ov, int nov)
{
    for (size_t i = 0; i < t.len; i++) {
        if (t.p[i] != '$' || i + 1 >= t.len) {
            noa_buf_putc(o, t.p[i]);
            continue;
        }
        if (t.p[i + 1] == '$') {
            noa_buf_putc(o, '$');
            i++;
            continue;
        }
        size_t b = i + 1, e;
        int brace = t.p[b] == '{';
        if (brace)
            b++;
        e = b;
        while (e < t.len && (isalnum((unsigned char)t.p[e]) || t.p[e] == '_'))
            e++;
        if (e == b || (brace && (e >= t.len || t.p[e] != '}'))) {
            noa_buf_putc(o, '$'); /* malformed: the $ is plain text */
            continue;
        }
        int g = -1;
        int digits = 1;
        for (size_t k = b; k < e; k++)
            digits &= isdigit((unsigned char)t.p[k]) != 0;
        if (digits) {
            long num = 0;
            for (size_t k = b; k < e && num < 100000; k++)
                num = num * 10 + (t.p[k] - '0');
            g = (int)num;
        } else {
            g = noa_regex_group_index(re, t.p + b, e - b);
        }
        if (g >= 0 && g < nov && ov[2 * g] >= 0)
            noa_buf_append(o, s.p + ov[2 * g], (size_t)(ov[2 * g + 1] - ov[2 * g]));
        i = brace ? e : e - 1;
    }
}

static int regex_replace(struct noa__gotmpl_exec *x, const char *fname,
                         const struct noa__gotmpl_val *a, int literal, struct noa__gotmpl_val *out)
{
    const struct noa_regex *re = NULL;
    struct noa_regex *owned = NULL;
    struct noa_str s = {0}, repl = {0};
    struct noa_buf o = noa__gotmpl_buf_take(x);
    long ov[2 * 32];
    int rc = get_regex(x, fname, &a[0], &re, &owned);
    if (rc == 0)
        rc = noa__gotmpl_want_str(x, &a[1], &s);
    if (rc == 0)
        rc = noa__gotmpl_want_str(x, &a[2], &repl);
    if (rc)
        goto fail;
    size_t pos = 0, last = 0;
    while (pos <= s.len) {
        int nov = noa_regex_find(re, s.p ? s.p : "", s.len, pos, ov, 32);
        if (nov <= 0)
            break;
        size_t mb = (size_t)ov[0], me = (size_t)ov[1];
        noa_buf_append(&o, s.p + last, mb - last);
        if (me > last || mb == 0) {
            if (literal)
                noa_buf_append_str(&o, repl);
            else
                expand(&o, re, repl, s, ov, nov);
        }
        last = me;
        size_t w = rune_width(s, pos);
        if (pos + w > me)
            pos += w;
        else if (pos + 1 > me)
            pos++;
        else
            pos = me;
        if (o.len > x->max_str) {
            rc = noa__gotmpl_fail(x, NOA_ETOOBIG, "error calling %s: result over the size limit",
                                  fname);
            goto fail;
        }
    }
    if (last < s.len)
        noa_buf_append(&o, s.p + last, s.len - last);
    noa_regex_free(owned);
    return noa__gotmpl_from_buf(x, &o, out);
fail:
    noa_regex_free(owned);
    noa__gotmpl_buf_give(x, &o);
    return rc;
}

static int f_regexReplaceAll(NOA_GOTMPL_FN_ARGS)
{
    (void)n;
    return regex_replace(x, "regexReplaceAll", a, 0, out);
}

static int f_regexReplaceAllLiteral(NOA_GOTMPL_FN_ARGS)
{
    (void)n;
    return regex_replace(x, "regexReplaceAllLiteral", a, 1, out);
}

static int f_count(NOA_GOTMPL_FN_ARGS)
{
    const struct noa_regex *re = NULL;
    struct noa_regex *owned = NULL;
    struct noa_str s = {0};
    long ov[2];
    (void)n;
    int rc = get_regex(x, "count", &a[0], &re, &owned);
    if (rc == 0)
        rc = noa__gotmpl_want_str(x, &a[1], &s);
    if (rc)
        goto done;
    int64_t count = 0;
    long prev_end = -1;
    size_t pos = 0;
    while (pos <= s.len) {
        if (noa_regex_find(re, s.p ? s.p : "", s.len, pos, ov, 1) <= 0)
            break;
        int accept = 1;
        if ((size_t)ov[1] == pos) {
            if (ov[0] == prev_end)
                accept = 0;
            size_t w = rune_width(s, pos);
            pos += w ? w : 1;
        } else {
            pos = (size_t)ov[1];
        }
        prev_end = ov[1];
        count += accept;
    }
    *out = noa__gotmpl_int(count);
done:
    noa_regex_free(owned);
    return rc;
}

const struct noa__gotmpl_func noa__gotmpl_strings_funcs[] = {
    {"__line__", 0, 0, f_line},
    {"ToLower", 1, 1, f_lower},
    {"ToUpper", 1, 1, f_upper},
    {"Replace", 4, 4, f_Replace},
    {"Trim", 2, 2, f_Trim},
    {"TrimLeft", 2, 2, f_TrimLeft},
    {"TrimRight", 2, 2, f_TrimRight},
    {"TrimPrefix", 2, 2, f_TrimPrefix},
    {"TrimSuffix", 2, 2, f_TrimSuffix},
    {"TrimSpace", 1, 1, f_trimspace},
    {"regexReplaceAll", 3, 3, f_regexReplaceAll},
    {"regexReplaceAllLiteral", 3, 3, f_regexReplaceAllLiteral},
    {"count", 2, 2, f_count},
    {"urlencode", 1, 1, f_urlencode},
    {"urldecode", 1, 1, f_urldecode},
    {"b64enc", 1, 1, f_b64enc},
    {"b64dec", 1, 1, f_b64dec},
    {"alignLeft", 2, 2, f_alignLeft},
    {"alignRight", 2, 2, f_alignRight},
    {"lower", 1, 1, f_lower},
    {"upper", 1, 1, f_upper},
    {"title", 1, 1, f_title},
    {"trunc", 2, 2, f_trunc},
    {"substr", 3, 3, f_substr},
    {"contains", 2, 2, f_contains},
    {"hasPrefix", 2, 2, f_hasPrefix},
    {"hasSuffix", 2, 2, f_hasSuffix},
    {"indent", 2, 2, f_indent},
    {"nindent", 2, 2, f_nindent},
    {"replace", 3, 3, f_replace},
    {"repeat", 2, 2, f_repeat},
    {"trim", 1, 1, f_trimspace},
    {"trimAll", 2, 2, f_trimAll},
    {"trimSuffix", 2, 2, f_trimSuffix},
    {"trimPrefix", 2, 2, f_trimPrefix},
    {"html", 0, -1, f_html},
    {"js", 0, -1, f_js},
    {"urlquery", 0, -1, f_urlquery},
    {NULL, 0, 0, NULL},
};
