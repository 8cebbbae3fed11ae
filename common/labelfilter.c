/*
 * Label filters (see labelfilter.h): a small tree of leaves and and/or
 * nodes evaluated against a line's label builder, plus the Go-compatible
 * value parsers the comparisons need. Immutable after construction; the
 * only per-line state is the builder the caller passes in.
 */
#include "common/labelfilter.h"
#include "common/humanize.h"
#include "common/linefilter.h"
#include "common/mem.h"
#include "common/regex.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct noa_labelfilter {
    enum noa_labelfilter_kind kind;
    struct noa_labelfilter_opts o; /* name/value point into text */
    char *text;                    /* owned copy of name and value */
    struct noa_matcher m;          /* STRING (m.name/m.value owned) */
    int noop;                      /* STRING =~ ".*": always true */
    struct noa_ipmatch ip;
    struct noa_labelfilter *left, *right;
};

/* Appends s quoted the way Go's %q / strconv.Quote does for the common
 * cases (printable ASCII as is, escapes for quotes, backslash, controls). */
static size_t go_quote(char *dst, size_t cap, struct noa_str s)
{
    size_t k = 0;
    if (cap < 8)
        return 0;
    dst[k++] = '"';
    for (size_t i = 0; i < s.len && k + 6 < cap; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c == '"' || c == '\\') {
            dst[k++] = '\\';
            dst[k++] = (char)c;
        } else if (c == '\n') {
            dst[k++] = '\\';
            dst[k++] = 'n';
        } else if (c == '\t') {
            dst[k++] = '\\';
            dst[k++] = 't';
        } else if (c < 0x20 || c == 0x7f) {
            static const char hex[] = "0123456789abcdef";
            dst[k++] = '\\';
            dst[k++] = 'x';
            dst[k++] = hex[c >> 4];
            dst[k++] = hex[c & 15];
        } else {
            dst[k++] = (char)c;
        }
    }
    dst[k++] = '"';
    dst[k] = 0;
    return k;
}

static int ci_eq(const char *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    if (n != l)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)p[i]) != lit[i])
            return 0;
    return 1;
}

static size_t digits(const char *p, size_t n, size_t i, int hex)
{
    while (i < n && (hex ? isxdigit((unsigned char)p[i]) : isdigit((unsigned char)p[i])))
        i++;
    return i;
}

/* 1 when s has the syntax Go's ParseFloat accepts (without underscores). */
static int float_syntax(const char *p, size_t n)
{
    size_t i = 0;
    if (i < n && (p[i] == '+' || p[i] == '-'))
        i++;
    if (ci_eq(p + i, n - i, "inf") || ci_eq(p + i, n - i, "infinity") || ci_eq(p, n, "nan"))
        return 1;
    int hex = n - i > 2 && p[i] == '0' && (p[i + 1] == 'x' || p[i + 1] == 'X');
    if (hex)
        i += 2;
    size_t a = i;
    i = digits(p, n, i, hex);
    size_t mant = i - a;
    if (i < n && p[i] == '.') {
        size_t b = ++i;
        i = digits(p, n, i, hex);
        mant += i - b;
    }
    if (!mant)
        return 0;
    if (i < n && (hex ? (p[i] == 'p' || p[i] == 'P') : (p[i] == 'e' || p[i] == 'E'))) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        size_t b = i;
        i = digits(p, n, i, 0);
        if (i == b)
            return 0;
    } else if (hex) {
        return 0; /* Go: a hexadecimal mantissa requires a 'p' exponent */
    }
    return i == n;
}

int noa_labelfilter_parse_float(struct noa_str s, double *out, struct noa_error *err)
{
    char q[160];
    char tmp[128];
    const char *why = "invalid syntax";
    if (s.len && s.len < sizeof(tmp) && float_syntax(s.p, s.len)) {
        memcpy(tmp, s.p, s.len);
        tmp[s.len] = 0;
        errno = 0;
        double v = strtod(tmp, NULL);
        if (!(errno == ERANGE && isinf(v))) {
            *out = v;
            return 0;
        }
        why = "value out of range";
    }
    go_quote(q, sizeof(q), s);
    return noa_error_set(err, NOA_EINVAL, "strconv.ParseFloat: parsing %s: %s", q, why);
}

static int64_t unit_ns(const char *u, size_t n)
{
    static const struct {
        const char *name;
        int64_t ns;
    } units[] = {
        {"ns", 1},           {"us", 1000},           {"\xc2\xb5s", 1000}, {"\xce\xbcs", 1000},
        {"ms", 1000000},     {"s", 1000000000},      {"m", 60000000000LL},
        {"h", 3600000000000LL},
    };
    for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++)
        if (strlen(units[k].name) == n && !memcmp(units[k].name, u, n))
            return units[k].ns;
    return 0;
}

int noa_labelfilter_parse_duration(struct noa_str s, int64_t *ns, struct noa_error *err)
{
    char q[160], uq[64];
    const char *p = s.p;
    size_t n = s.len, i = 0;
    int neg = 0;
    uint64_t d = 0;
    const uint64_t lim = (uint64_t)1 << 63;
    if (i < n && (p[i] == '-' || p[i] == '+'))
        neg = p[i++] == '-';
    if (n - i == 1 && p[i] == '0') {
        *ns = 0;
        return 0;
    }
    if (i == n)
        goto invalid;
    while (i < n) {
        if (p[i] != '.' && !isdigit((unsigned char)p[i]))
            goto invalid;
        uint64_t v = 0;
        size_t b = i;
        for (; i < n && isdigit((unsigned char)p[i]); i++) {
            if (v > (lim - 1) / 10)
                goto invalid;
            v = v * 10 + (uint64_t)(p[i] - '0');
            if (v > lim)
                goto invalid;
        }
        int pre = i != b, post = 0;
        double frac = 0, scale = 1;
        if (i < n && p[i] == '.') {
            b = ++i;
            for (; i < n && isdigit((unsigned char)p[i]); i++) {
                if (scale < 1e18) {
                    frac = frac * 10 + (p[i] - '0');
                    scale *= 10;
                }
            }
            post = i != b;
        }
        if (!pre && !post)
            goto invalid;
        b = i;
        while (i < n && p[i] != '.' && !isdigit((unsigned char)p[i]))
            i++;
        if (i == b) {
            go_quote(q, sizeof(q), s);
            return noa_error_set(err, NOA_EINVAL, "time: missing unit in duration %s", q);
        }
        int64_t unit = unit_ns(p + b, i - b);
        if (!unit) {
            go_quote(uq, sizeof(uq), (struct noa_str){p + b, i - b});
            go_quote(q, sizeof(q), s);
            return noa_error_set(err, NOA_EINVAL, "time: unknown unit %s in duration %s", uq, q);
        }
        if (v > lim / (uint64_t)unit)
            goto invalid;
        v *= (uint64_t)unit;
        if (frac > 0) {
            v += (uint64_t)(frac * ((double)unit / scale));
            if (v > lim)
                goto invalid;
        }
        d += v;
        if (d > lim)
            goto invalid;
    }
    if (neg) {
        *ns = d == lim ? INT64_MIN : -(int64_t)d;
        return 0;
    }
    if (d > lim - 1)
        goto invalid;
    *ns = (int64_t)d;
    return 0;
invalid:
    go_quote(q, sizeof(q), s);
    return noa_error_set(err, NOA_EINVAL, "time: invalid duration %s", q);
}

int noa_labelfilter_parse_bytes(struct noa_str s, uint64_t *out, struct noa_error *err)
{
    return noa_humanize_parse_bytes(s, out, err);
}

int noa_labelfilter_new(const struct noa_labelfilter_opts *opts, struct noa_labelfilter **out,
                        struct noa_error *err)
{
    int rc = 0;
    struct noa_labelfilter *f = noa_xcalloc(1, sizeof(*f));
    f->kind = opts->kind;
    f->o = *opts;
    f->text = noa_xmalloc(opts->name.len + opts->value.len + 1);
    if (opts->name.len)
        memcpy(f->text, opts->name.p, opts->name.len);
    if (opts->value.len)
        memcpy(f->text + opts->name.len, opts->value.p, opts->value.len);
    f->o.name = (struct noa_str){f->text, opts->name.len};
    f->o.value = (struct noa_str){f->text + opts->name.len, opts->value.len};
    switch (opts->kind) {
    case NOA_LABELFILTER_STRING:
        f->m.type = opts->match;
        f->m.name = noa_xstrndup(f->o.name.p, f->o.name.len);
        f->m.value = noa_xstrndup(f->o.value.p, f->o.value.len);
        f->m.value_len = f->o.value.len;
        if (opts->match == NOA_MATCH_RE || opts->match == NOA_MATCH_NRE) {
            rc = noa_regex_compile(f->m.value, f->m.value_len, NOA_REGEX_ANCHORED, &f->m.re, err);
            if (rc)
                goto fail;
            f->noop = opts->match == NOA_MATCH_RE && noa_str_eq_c(f->o.value, ".*");
        }
        break;
    case NOA_LABELFILTER_IP:
        if (opts->cmp != NOA_LABELFILTER_EQ && opts->cmp != NOA_LABELFILTER_NE) {
            rc = noa_error_set(err, NOA_EINVAL, "ip: invalid operation");
            goto fail;
        }
        rc = noa_linefilter_ip_parse(f->o.value, &f->ip, err);
        if (rc)
            goto fail;
        break;
    case NOA_LABELFILTER_NUMBER:
    case NOA_LABELFILTER_DURATION:
    case NOA_LABELFILTER_BYTES:
        break;
    default:
        rc = noa_error_set(err, NOA_EINVAL, "not a leaf label filter");
        goto fail;
    }
    *out = f;
    return 0;
fail:
    noa_labelfilter_free(f);
    return rc;
}

struct noa_labelfilter *noa_labelfilter_bin(enum noa_labelfilter_kind and_or,
                                            struct noa_labelfilter *left,
                                            struct noa_labelfilter *right)
{
    struct noa_labelfilter *f = noa_xcalloc(1, sizeof(*f));
    f->kind = and_or == NOA_LABELFILTER_OR ? NOA_LABELFILTER_OR : NOA_LABELFILTER_AND;
    f->left = left;
    f->right = right;
    return f;
}

void noa_labelfilter_free(struct noa_labelfilter *f)
{
    if (!f)
        return;
    noa_labelfilter_free(f->left);
    noa_labelfilter_free(f->right);
    noa_free(f->m.name);
    noa_free(f->m.value);
    noa_regex_free(f->m.re);
    noa_free(f->text);
    noa_free(f);
}

static int compare(enum noa_labelfilter_cmp c, int sign, int unordered)
{
    if (unordered) /* NaN: only != holds */
        return c == NOA_LABELFILTER_NE;
    switch (c) {
    case NOA_LABELFILTER_EQ: return sign == 0;
    case NOA_LABELFILTER_NE: return sign != 0;
    case NOA_LABELFILTER_GT: return sign > 0;
    case NOA_LABELFILTER_GE: return sign >= 0;
    case NOA_LABELFILTER_LT: return sign < 0;
    case NOA_LABELFILTER_LE: return sign <= 0;
    }
    return 0;
}

/* The error pair is not a label for the converting filters. */
static int get_plain(const struct noa_lbuilder *lb, struct noa_str name, struct noa_str *v)
{
    if (noa_str_eq_c(name, NOA_LB_ERROR) || noa_str_eq_c(name, NOA_LB_ERROR_DETAILS))
        return 0;
    return noa_lbuilder_get(lb, name, v);
}

static int eval_convert(const struct noa_labelfilter *f, struct noa_lbuilder *lb)
{
    struct noa_str v;
    struct noa_error e;
    if (!get_plain(lb, f->o.name, &v))
        return 0;
    int rc, sign = 0, unordered = 0;
    if (f->kind == NOA_LABELFILTER_NUMBER) {
        double x = 0;
        rc = noa_labelfilter_parse_float(v, &x, &e);
        unordered = isnan(x) || isnan(f->o.number);
        sign = (x > f->o.number) - (x < f->o.number);
    } else if (f->kind == NOA_LABELFILTER_DURATION) {
        int64_t x = 0;
        rc = noa_labelfilter_parse_duration(v, &x, &e);
        sign = (x > f->o.duration_ns) - (x < f->o.duration_ns);
    } else {
        uint64_t x = 0;
        rc = noa_labelfilter_parse_bytes(v, &x, &e);
        sign = (x > f->o.bytes) - (x < f->o.bytes);
    }
    if (rc) {
        /* Keep the line; the first error is usually the more useful one. */
        if (!noa_lbuilder_has_err(lb))
            noa_lbuilder_set_err(lb, NOA_STR(NOA_LB_ERR_LABELFILTER), noa_str_c(e.msg));
        return 1;
    }
    return compare(f->o.cmp, sign, unordered);
}

int noa_labelfilter_eval(const struct noa_labelfilter *f, struct noa_lbuilder *lb)
{
    struct noa_str v = {"", 0};
    switch (f->kind) {
    case NOA_LABELFILTER_AND: {
        int l = noa_labelfilter_eval(f->left, lb);
        int r = noa_labelfilter_eval(f->right, lb);
        return l && r;
    }
    case NOA_LABELFILTER_OR:
        return noa_labelfilter_eval(f->left, lb) || noa_labelfilter_eval(f->right, lb);
    case NOA_LABELFILTER_STRING:
        if (f->noop)
            return 1;
        if (noa_str_eq_c(f->o.name, NOA_LB_ERROR))
            v = noa_lbuilder_err(lb);
        else if (!get_plain(lb, f->o.name, &v))
            v = (struct noa_str){"", 0};
        return noa_matcher_matches(&f->m, v);
    case NOA_LABELFILTER_IP:
        if (noa_lbuilder_has_err(lb))
            return 1; /* Loki: with an error only string filters may drop */
        if (!get_plain(lb, f->o.name, &v))
            return 0;
        return noa_linefilter_ip_find(&f->ip, v.p, v.len) == (f->o.cmp == NOA_LABELFILTER_EQ);
    case NOA_LABELFILTER_NUMBER:
    case NOA_LABELFILTER_DURATION:
    case NOA_LABELFILTER_BYTES:
        return eval_convert(f, lb);
    }
    return 0;
}

void noa_labelfilter_names(const struct noa_labelfilter *f,
                           void (*cb)(void *ctx, struct noa_str name,
                                      enum noa_labelfilter_kind kind),
                           void *ctx)
{
    if (f->kind == NOA_LABELFILTER_AND || f->kind == NOA_LABELFILTER_OR) {
        noa_labelfilter_names(f->left, cb, ctx);
        noa_labelfilter_names(f->right, cb, ctx);
        return;
    }
    cb(ctx, f->o.name, f->kind);
}
