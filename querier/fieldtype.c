/*
 * Go-compatible value checks for the detected endpoints (see fieldtype.h).
 * Every function is a grammar check written from the Go library's
 * documented behaviour; strtod is used only for the range of a float that
 * already passed Go's grammar. Pure; any thread.
 */
#include "querier/fieldtype.h"
#include "common/humanize.h"
#include "common/mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive ASCII equality of s and the lower-case literal lit. */
static int eq_fold(const char *s, size_t n, const char *lit)
{
    size_t m = strlen(lit);
    if (n != m)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower(s[i]) != lit[i])
            return 0;
    return 1;
}

int noa_fieldtype_is_int(struct noa_str v)
{
    const char *p = v.p;
    size_t n = v.len, i = 0;
    int neg = 0;
    if (n && (p[0] == '+' || p[0] == '-')) {
        neg = p[0] == '-';
        i = 1;
    }
    if (i == n)
        return 0;
    /* Magnitude limit: 2^63 - 1, or 2^63 when negative. */
    uint64_t lim = neg ? (uint64_t)1 << 63 : ((uint64_t)1 << 63) - 1, x = 0;
    for (; i < n; i++) {
        if (!is_digit(p[i]))
            return 0;
        unsigned d = (unsigned)(p[i] - '0');
        if (x > (lim - d) / 10)
            return 0;
        x = x * 10 + d;
    }
    return 1;
}

/* Go's special(): the whole of s is [+-]inf, [+-]infinity or nan (any case). */
static int float_special(const char *p, size_t n)
{
    size_t i = 0;
    if (n && (p[0] == '+' || p[0] == '-'))
        i = 1;
    if (eq_fold(p + i, n - i, "inf") || eq_fold(p + i, n - i, "infinity"))
        return 1;
    return i == 0 && eq_fold(p, n, "nan");
}

/* Go's readFloat grammar over the whole string: decimal mantissa with an
 * optional e-exponent, or 0x hex mantissa with a mandatory p-exponent. */
static int float_syntax(const char *p, size_t n)
{
    size_t i = 0;
    if (i < n && (p[i] == '+' || p[i] == '-'))
        i++;
    int hex = 0;
    if (i + 1 < n && p[i] == '0' && lower(p[i + 1]) == 'x') {
        hex = 1;
        i += 2;
    }
    int digits = 0, dot = 0;
    for (; i < n; i++) {
        char c = p[i];
        if (c == '.') {
            if (dot)
                return 0;
            dot = 1;
        } else if (is_digit(c) || (hex && lower(c) >= 'a' && lower(c) <= 'f')) {
            digits = 1;
        } else {
            break;
        }
    }
    if (!digits)
        return 0;
    if (i < n && lower(p[i]) == (hex ? 'p' : 'e')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        if (i == n || !is_digit(p[i]))
            return 0;
        while (i < n && is_digit(p[i]))
            i++;
    } else if (hex) {
        return 0;
    }
    return i == n;
}

int noa_fieldtype_is_float(struct noa_str v)
{
    if (!v.len)
        return 0;
    if (float_special(v.p, v.len))
        return 1;
    if (!float_syntax(v.p, v.len))
        return 0;
    /* Go fails with ErrRange when the value rounds past the largest
     * double; strtod then gives HUGE_VAL (underflow is not an error in Go). */
    char stackbuf[128];
    char *s = v.len < sizeof(stackbuf) ? stackbuf : noa_malloc(v.len + 1);
    if (!s)
        return 0;
    memcpy(s, v.p, v.len);
    s[v.len] = 0;
    double d = strtod(s, NULL);
    if (s != stackbuf)
        noa_free(s);
    return !isinf(d);
}

int noa_fieldtype_is_bool(struct noa_str v)
{
    static const char *const ok[] = {"1", "t", "T", "TRUE", "true", "True",
                                     "0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (noa_str_eq_c(v, ok[i]))
            return 1;
    return 0;
}

/* Unit of a duration component, in ns; 0 when unknown. */
static uint64_t duration_unit(const char *u, size_t n)
{
    static const struct {
        const char *name;
        uint64_t ns;
    } units[] = {
        {"ns", 1}, {"us", 1000}, {"\xc2\xb5s", 1000}, {"\xce\xbcs", 1000}, {"ms", 1000000},
        {"s", 1000000000ULL}, {"m", 60000000000ULL}, {"h", 3600000000000ULL},
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strlen(units[i].name) == n && !memcmp(units[i].name, u, n))
            return units[i].ns;
    return 0;
}

int noa_fieldtype_is_duration(struct noa_str v)
{
    const char *p = v.p;
    size_t n = v.len, i = 0;
    const uint64_t top = (uint64_t)1 << 63;
    int neg = 0;
    if (n && (p[0] == '+' || p[0] == '-')) {
        neg = p[0] == '-';
        i = 1;
    }
    if (n - i == 1 && p[i] == '0')
        return 1;
    if (i == n)
        return 0;
    uint64_t total = 0;
    while (i < n) {
        if (p[i] != '.' && !is_digit(p[i]))
            return 0;
        uint64_t whole = 0, frac = 0;
        double scale = 1;
        size_t st = i;
        for (; i < n && is_digit(p[i]); i++) {
            if (whole > top / 10)
                return 0; /* overflow, as Go's leadingInt */
            whole = whole * 10 + (uint64_t)(p[i] - '0');
            if (whole > top)
                return 0;
        }
        int pre = i > st, post = 0;
        if (i < n && p[i] == '.') {
            i++;
            st = i;
            int overflow = 0;
            for (; i < n && is_digit(p[i]); i++) {
                if (overflow)
                    continue;
                if (frac > (top - 1) / 10) {
                    overflow = 1; /* Go drops the remaining precision */
                    continue;
                }
                uint64_t y = frac * 10 + (uint64_t)(p[i] - '0');
                if (y > top) {
                    overflow = 1;
                    continue;
                }
                frac = y;
                scale *= 10;
            }
            post = i > st;
        }
        if (!pre && !post)
            return 0;
        st = i;
        while (i < n && p[i] != '.' && !is_digit(p[i]))
            i++;
        if (i == st)
            return 0; /* missing unit */
        uint64_t unit = duration_unit(p + st, i - st);
        if (!unit)
            return 0;
        if (whole > top / unit)
            return 0;
        whole *= unit;
        if (frac > 0) {
            whole += (uint64_t)((double)frac * ((double)unit / scale));
            if (whole > top)
                return 0;
        }
        total += whole;
        if (total > top)
            return 0;
    }
    return neg || total <= top - 1;
}

static int hexv(char c)
{
    return noa_hexval((unsigned char)c);
}

int noa_fieldtype_is_uuid(struct noa_str v)
{
    const char *s = v.p;
    switch (v.len) {
    case 36:
        break;
    case 36 + 9:
        if (!eq_fold(s, 9, "urn:uuid:"))
            return 0;
        s += 9;
        break;
    case 36 + 2:
        s += 1; /* google/uuid does not look at the braces themselves */
        break;
    case 32:
        for (size_t i = 0; i < 32; i++)
            if (hexv(s[i]) < 0)
                return 0;
        return 1;
    default:
        return 0;
    }
    if (s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
        return 0;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            continue;
        if (hexv(s[i]) < 0)
            return 0;
    }
    return 1;
}

enum noa_fieldtype noa_fieldtype_of(struct noa_str v)
{
    uint64_t b;
    if (noa_fieldtype_is_int(v))
        return NOA_FIELDTYPE_INT;
    if (noa_fieldtype_is_float(v))
        return NOA_FIELDTYPE_FLOAT;
    if (noa_fieldtype_is_bool(v))
        return NOA_FIELDTYPE_BOOLEAN;
    if (noa_fieldtype_is_duration(v))
        return NOA_FIELDTYPE_DURATION;
    if (noa_humanize_parse_bytes(v, &b, NULL) == 0)
        return NOA_FIELDTYPE_BYTES;
    return NOA_FIELDTYPE_STRING;
}

const char *noa_fieldtype_name(enum noa_fieldtype t)
{
    switch (t) {
    case NOA_FIELDTYPE_INT: return "int";
    case NOA_FIELDTYPE_FLOAT: return "float";
    case NOA_FIELDTYPE_BOOLEAN: return "boolean";
    case NOA_FIELDTYPE_DURATION: return "duration";
    case NOA_FIELDTYPE_BYTES: return "bytes";
    case NOA_FIELDTYPE_STRING: break;
    }
    return "string";
}

int noa_fieldtype_is_size(struct noa_str v, uint64_t *bytes)
{
    static const char *const units[] = {"b",  "kib", "kb", "mib", "mb", "gib", "gb", "tib", "tb",
                                        "pib", "pb", "eib", "eb", "ki", "k",  "mi", "m",  "gi",
                                        "g",  "ti", "t",  "pi", "p",  "ei", "e"};
    if (noa_humanize_parse_bytes(v, bytes, NULL) < 0)
        return 0;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        size_t m = strlen(units[i]);
        if (v.len >= m && eq_fold(v.p + v.len - m, m, units[i]))
            return 1;
    }
    return 0;
}
