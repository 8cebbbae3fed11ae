/*
 * The template function map, part 4: Go's fmt as templates use it -
 * printing values (strconv's shortest floats, time.Time's String form,
 * maps), %-verbs with flags, width and precision for printf, and the
 * print/println/printf builtins. Pure functions; run on the executing
 * thread.
 */
#include "common/gotmpl_int.h"
#include "common/mem.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------ printing */

/* Go's strconv.FormatFloat(f, 'g', -1, 64) as fmt's %v uses it. */
static void put_float(struct noa_buf *b, double f)
{
    if (isnan(f)) {
        noa_buf_append(b, "NaN", 3);
        return;
    }
    if (isinf(f)) {
        noa_buf_append(b, f > 0 ? "+Inf" : "-Inf", 4);
        return;
    }
    char e[40];
    int prec;
    for (prec = 0; prec < 17; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec, f);
        if (strtod(e, NULL) == f)
            break;
    }
    int exp = atoi(strchr(e, 'e') + 1);
    if (exp < -4 || exp >= 6) { /* Go: shortest %g switches at 1e6 */
        noa_buf_printf(b, "%s", e);
        return;
    }
    int fd = prec - exp;
    noa_buf_printf(b, "%.*f", fd > 0 ? fd : 0, f);
}

static void put_time(struct noa_buf *b, const struct noa__gotmpl_val *v)
{
    static const char layout[] = "2006-01-02 15:04:05.999999999 -0700 MST";
    noa__gotmpl_time_format(v, layout, sizeof(layout) - 1, b);
}

struct each_ctx {
    struct noa_buf *b;
    int first;
};

static void emit_label(void *ectx, struct noa_str name, struct noa_str v)
{
    struct each_ctx *c = ectx;
    if (!c->first)
        noa_buf_putc(c->b, ' ');
    c->first = 0;
    noa_buf_append_str(c->b, name);
    noa_buf_putc(c->b, ':');
    noa_buf_append_str(c->b, v);
}

void noa__gotmpl_print(struct noa__gotmpl_exec *x, const struct noa__gotmpl_val *v,
                       struct noa_buf *b)
{
    switch (v->kind) {
    case NOA_GOTMPL_STR:
        noa_buf_append_str(b, v->u.s);
        break;
    case NOA_GOTMPL_INT:
    case NOA_GOTMPL_UINT8:
        noa_buf_printf(b, "%" PRId64, v->u.i);
        break;
    case NOA_GOTMPL_FLOAT:
        put_float(b, v->u.f);
        break;
    case NOA_GOTMPL_BOOL:
        noa_buf_printf(b, "%s", v->u.i ? "true" : "false");
        break;
    case NOA_GOTMPL_TIME:
        put_time(b, v);
        break;
    case NOA_GOTMPL_NIL:
        noa_buf_printf(b, "<no value>");
        break;
    case NOA_GOTMPL_MAP: {
        struct each_ctx c = {b, 1};
        noa_buf_append(b, "map[", 4);
        if (x->data->each_cb)
            x->data->each_cb(x->data->ctx, emit_label, &c);
        noa_buf_putc(b, ']');
        break;
    }
    }
}

/* Go's strconv.Quote for the bytes of s (non-printable and invalid UTF-8
 * escaped; printable UTF-8 kept). */
static void put_quoted(struct noa_buf *b, struct noa_str s)
{
    noa_buf_putc(b, '"');
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        switch (c) {
        case '"':
            noa_buf_append(b, "\\\"", 2);
            continue;
        case '\\':
            noa_buf_append(b, "\\\\", 2);
            continue;
        case '\n':
            noa_buf_append(b, "\\n", 2);
            continue;
        case '\r':
            noa_buf_append(b, "\\r", 2);
            continue;
        case '\t':
            noa_buf_append(b, "\\t", 2);
            continue;
        case '\a':
            noa_buf_append(b, "\\a", 2);
            continue;
        case '\b':
            noa_buf_append(b, "\\b", 2);
            continue;
        case '\f':
            noa_buf_append(b, "\\f", 2);
            continue;
        case '\v':
            noa_buf_append(b, "\\v", 2);
            continue;
        default:
            break;
        }
        if (c >= 0x80) {
            size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
            if (k > 1 && i + k <= s.len && noa_utf8_valid(s.p + i, k)) {
                noa_buf_append(b, s.p + i, k);
                i += k - 1;
                continue;
            }
            noa_buf_printf(b, "\\x%02x", c);
        } else if (c < 0x20 || c == 0x7F) {
            noa_buf_printf(b, "\\x%02x", c);
        } else {
            noa_buf_putc(b, (char)c);
        }
    }
    noa_buf_putc(b, '"');
}

size_t noa__gotmpl_fmt_rune_count(const char *s, size_t n)
{
    size_t r = 0;
    for (size_t i = 0; i < n; i++)
        r += ((unsigned char)s[i] & 0xC0) != 0x80;
    return r;
}

/* Byte length of the first `runes` runes of s. */
size_t noa__gotmpl_fmt_rune_prefix(const char *s, size_t n, size_t runes)
{
    size_t i = 0, r = 0;
    while (i < n) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (r == runes)
                break;
            r++;
        }
        i++;
    }
    return i;
}

struct spec {
    int minus, plus, sharp, space, zero;
    int width, prec; /* -1: not given */
    char verb;
};

static void pad_put(struct noa_buf *b, const struct spec *sp, const char *s, size_t n)
{
    size_t w = noa__gotmpl_fmt_rune_count(s, n);
    size_t pad = sp->width > 0 && (size_t)sp->width > w ? (size_t)sp->width - w : 0;
    if (!sp->minus)
        for (size_t i = 0; i < pad; i++)
            noa_buf_putc(b, sp->zero ? '0' : ' ');
    noa_buf_append(b, s, n);
    if (sp->minus)
        for (size_t i = 0; i < pad; i++)
            noa_buf_putc(b, ' ');
}

/* A C format for one numeric conversion with the spec's flags. */
static void c_fmt(char *f, size_t cap, const struct spec *sp, const char *len_mod, char conv)
{
    char flags[8];
    size_t k = 0;
    if (sp->minus)
        flags[k++] = '-';
    if (sp->plus)
        flags[k++] = '+';
    if (sp->sharp)
        flags[k++] = '#';
    if (sp->space)
        flags[k++] = ' ';
    if (sp->zero && !sp->minus)
        flags[k++] = '0';
    flags[k] = '\0';
    if (sp->prec >= 0)
        snprintf(f, cap, "%%%s%d.%d%s%c", flags, sp->width > 0 ? sp->width : 0, sp->prec, len_mod,
                 conv);
    else
        snprintf(f, cap, "%%%s%d%s%c", flags, sp->width > 0 ? sp->width : 0, len_mod, conv);
}

/* The format is built by c_fmt from a fixed set of flags and one
 * conversion that matches the argument's type, so the unchecked format
 * is safe. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void put_c_int(struct noa_buf *b, const char *f, long long v)
{
    noa_buf_printf(b, f, v);
}

static void put_c_float(struct noa_buf *b, const char *f, double v)
{
    noa_buf_printf(b, f, v);
}
#pragma GCC diagnostic pop

static void bad_verb(struct noa__gotmpl_exec *x, struct noa_buf *b, char verb,
                     const struct noa__gotmpl_val *v)
{
    noa_buf_printf(b, "%%!%c(", verb);
    if (v->kind == NOA_GOTMPL_NIL) {
        noa_buf_append(b, "<nil>", 5);
    } else {
        noa_buf_printf(b, "%s=", noa__gotmpl_type(v));
        noa__gotmpl_print(x, v, b);
    }
    noa_buf_putc(b, ')');
}

/* One conversion of Go's fmt for our value kinds. */
static void fmt_one(struct noa__gotmpl_exec *x, struct noa_buf *b, struct spec *sp,
                    const struct noa__gotmpl_val *v)
{
    char f[48];
    struct noa_buf tmp = noa__gotmpl_buf_take(x);
    char verb = sp->verb;
    enum noa__gotmpl_kind k = v->kind;
    int isint = k == NOA_GOTMPL_INT || k == NOA_GOTMPL_UINT8;
    if (verb == 'v' || (verb == 's' && (k == NOA_GOTMPL_STR || k == NOA_GOTMPL_TIME))) {
        if (isint || k == NOA_GOTMPL_FLOAT) {
            if (k == NOA_GOTMPL_FLOAT && sp->prec < 0 && !sp->plus) {
                put_float(&tmp, v->u.f);
                pad_put(b, sp, tmp.data, tmp.len);
            } else {
                c_fmt(f, sizeof(f), sp, isint ? "ll" : "", isint ? 'd' : 'g');
                if (isint)
                    put_c_int(b, f, (long long)v->u.i);
                else
                    put_c_float(b, f, v->u.f);
            }
        } else {
            sp->zero = 0;
            noa__gotmpl_print(x, v, &tmp);
            size_t n = tmp.len;
            if (sp->prec >= 0 && k == NOA_GOTMPL_STR)
                n = noa__gotmpl_fmt_rune_prefix(tmp.data, tmp.len, (size_t)sp->prec);
            pad_put(b, sp, tmp.data, n);
        }
        goto done;
    }
    switch (verb) {
    case 'd':
    case 'o':
    case 'b':
    case 'c':
    case 'U':
        if (!isint)
            break;
        if (verb == 'b') {
            char bits[72];
            int i = 71;
            uint64_t u = v->u.i < 0 ? (uint64_t)0 - (uint64_t)v->u.i : (uint64_t)v->u.i;
            bits[i] = '\0';
            do {
                bits[--i] = (char)('0' + (u & 1));
                u >>= 1;
            } while (u);
            if (v->u.i < 0)
                bits[--i] = '-';
            pad_put(b, sp, bits + i, strlen(bits + i));
        } else if (verb == 'c') {
            char c[4];
            int64_t cp = v->u.i;
            /* Go prints an invalid rune as U+FFFD */
            size_t n = noa_utf8_encode(cp < 0 || cp > 0x10FFFF ? 0xFFFD : (uint32_t)cp, c);
            pad_put(b, sp, c, n);
        } else if (verb == 'U') {
            noa_buf_printf(b, "U+%04" PRIX64, (uint64_t)v->u.i);
        } else {
            c_fmt(f, sizeof(f), sp, "ll", verb == 'o' ? 'o' : 'd');
            put_c_int(b, f, (long long)v->u.i);
        }
        goto done;
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G':
        if (k != NOA_GOTMPL_FLOAT)
            break;
        if ((verb == 'g' || verb == 'G') && sp->prec < 0) {
            put_float(&tmp, v->u.f);
            pad_put(b, sp, tmp.data, tmp.len);
            goto done;
        }
        if (sp->prec < 0 && (verb == 'e' || verb == 'E' || verb == 'f' || verb == 'F'))
            sp->prec = 6;
        c_fmt(f, sizeof(f), sp, "", verb);
        put_c_float(b, f, v->u.f);
        goto done;
    case 't':
        if (k != NOA_GOTMPL_BOOL)
            break;
        pad_put(b, sp, v->u.i ? "true" : "false", v->u.i ? 4 : 5);
        goto done;
    case 'q':
        if (k == NOA_GOTMPL_STR || k == NOA_GOTMPL_TIME) {
            struct noa_buf s = noa__gotmpl_buf_take(x);
            noa__gotmpl_print(x, v, &s);
            put_quoted(&tmp, (struct noa_str){s.data, s.len});
            noa__gotmpl_buf_give(x, &s);
        } else if (isint) {
            noa_buf_printf(&tmp, "'%c'", (char)v->u.i);
        } else {
            break;
        }
        pad_put(b, sp, tmp.data, tmp.len);
        goto done;
    case 'x':
    case 'X':
        if (k == NOA_GOTMPL_STR || k == NOA_GOTMPL_TIME) {
            struct noa_buf s = noa__gotmpl_buf_take(x);
            noa__gotmpl_print(x, v, &s);
            for (size_t i = 0; i < s.len; i++)
                noa_buf_printf(&tmp, verb == 'x' ? "%02x" : "%02X", (unsigned char)s.data[i]);
            noa__gotmpl_buf_give(x, &s);
            pad_put(b, sp, tmp.data, tmp.len);
        } else if (isint) {
            /* Go prints negative hex with a sign, not two's complement. */
            uint64_t u = v->u.i < 0 ? (uint64_t)0 - (uint64_t)v->u.i : (uint64_t)v->u.i;
            noa_buf_printf(&tmp, verb == 'x' ? "%s%s%" PRIx64 : "%s%s%" PRIX64,
                           v->u.i < 0 ? "-" : (sp->plus ? "+" : ""),
                           sp->sharp ? (verb == 'x' ? "0x" : "0X") : "", u);
            pad_put(b, sp, tmp.data, tmp.len);
        } else {
            break;
        }
        goto done;
    default:
        break;
    }
    bad_verb(x, b, verb, v);
done:
    noa__gotmpl_buf_give(x, &tmp);
}

/* Go's fmt.Sprintf over template values, with its %!verb(...) reports. */
static void go_sprintf(struct noa__gotmpl_exec *x, struct noa_buf *b, struct noa_str f,
                       const struct noa__gotmpl_val *a, int n)
{
    int ai = 0;
    for (size_t i = 0; i < f.len; i++) {
        char c = f.p[i];
        if (c != '%') {
            noa_buf_putc(b, c);
            continue;
        }
        struct spec sp = {.width = -1, .prec = -1};
        for (i++; i < f.len; i++) {
            c = f.p[i];
            if (c == '-')
                sp.minus = 1;
            else if (c == '+')
                sp.plus = 1;
            else if (c == '#')
                sp.sharp = 1;
            else if (c == ' ')
                sp.space = 1;
            else if (c == '0')
                sp.zero = 1;
            else
                break;
        }
        if (i < f.len && f.p[i] == '*') {
            if (ai < n && (a[ai].kind == NOA_GOTMPL_INT)) {
                sp.width = (int)(a[ai].u.i > 1000000 ? 1000000 : a[ai].u.i);
                if (sp.width < 0) {
                    sp.minus = 1;
                    sp.width = sp.width < -1000000 ? 1000000 : -sp.width;
                }
            } else {
                noa_buf_append(b, "%!(BADWIDTH)", 12);
            }
            ai++;
            i++;
        } else {
            while (i < f.len && isdigit((unsigned char)f.p[i])) {
                sp.width = (sp.width < 0 ? 0 : sp.width) * 10 + (f.p[i] - '0');
                if (sp.width > 1000000)
                    sp.width = 1000000;
                i++;
            }
        }
        if (i < f.len && f.p[i] == '.') {
            sp.prec = 0;
            i++;
            while (i < f.len && isdigit((unsigned char)f.p[i])) {
                sp.prec = sp.prec * 10 + (f.p[i] - '0');
                if (sp.prec > 1000)
                    sp.prec = 1000;
                i++;
            }
        }
        if (i >= f.len) {
            noa_buf_append(b, "%!(NOVERB)", 10);
            break;
        }
        sp.verb = f.p[i];
        if (sp.verb == '%') {
            noa_buf_putc(b, '%');
            continue;
        }
        if (ai >= n) {
            noa_buf_printf(b, "%%!%c(MISSING)", sp.verb);
            continue;
        }
        fmt_one(x, b, &sp, &a[ai++]);
        /* Bounded by the caller's cap: stop formatting a runaway width. */
        if (b->len > x->max_str)
            return;
    }
    if (ai < n) {
        noa_buf_append(b, "%!(EXTRA ", 9);
        for (int k = ai; k < n; k++) {
            if (k > ai)
                noa_buf_append(b, ", ", 2);
            noa_buf_printf(b, "%s=", noa__gotmpl_type(&a[k]));
            noa__gotmpl_print(x, &a[k], b);
        }
        noa_buf_putc(b, ')');
    }
}

static int f_print(NOA_GOTMPL_FN_ARGS)
{
    struct noa_buf b = noa__gotmpl_buf_take(x);
    for (int i = 0; i < n; i++) {
        if (i > 0 && a[i].kind != NOA_GOTMPL_STR && a[i - 1].kind != NOA_GOTMPL_STR)
            noa_buf_putc(&b, ' ');
        noa__gotmpl_print(x, &a[i], &b);
    }
    return noa__gotmpl_from_buf(x, &b, out);
}

static int f_println(NOA_GOTMPL_FN_ARGS)
{
    struct noa_buf b = noa__gotmpl_buf_take(x);
    for (int i = 0; i < n; i++) {
        if (i > 0)
            noa_buf_putc(&b, ' ');
        noa__gotmpl_print(x, &a[i], &b);
    }
    noa_buf_putc(&b, '\n');
    return noa__gotmpl_from_buf(x, &b, out);
}

static int f_printf(NOA_GOTMPL_FN_ARGS)
{
    struct noa_str f = {0};
    int rc = noa__gotmpl_want_str(x, &a[0], &f);
    if (rc)
        return rc;
    struct noa_buf b = noa__gotmpl_buf_take(x);
    go_sprintf(x, &b, f, a + 1, n - 1);
    return noa__gotmpl_from_buf(x, &b, out);
}

const struct noa__gotmpl_func noa__gotmpl_fmt_funcs[] = {
    {"print", 0, -1, f_print},
    {"println", 0, -1, f_println},
    {"printf", 1, -1, f_printf},
    {NULL, 0, 0, NULL},
};
