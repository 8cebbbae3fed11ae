/*
 * The template function map, part 1: shared helpers for the function
 * files (argument checks, Go's spf13/cast conversions, made strings),
 * Go's logic and comparison builtins, len/index/slice, and sprig's math.
 * The lookup spans the tables of gotmpl_strings.c, gotmpl_time.c and
 * gotmpl_fmt.c too. Pure functions; run on the executing thread.
 */
#include "common/gotmpl_int.h"
#include "common/humanize.h"
#include "common/mem.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------- helpers */

int noa__gotmpl_fail(struct noa__gotmpl_exec *x, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->msg, sizeof(x->msg), fmt, ap);
    va_end(ap);
    return code;
}

const char *noa__gotmpl_type(const struct noa__gotmpl_val *v)
{
    switch (v->kind) {
    case NOA_GOTMPL_STR:
        return "string";
    case NOA_GOTMPL_INT:
        return "int";
    case NOA_GOTMPL_FLOAT:
        return "float64";
    case NOA_GOTMPL_BOOL:
        return "bool";
    case NOA_GOTMPL_TIME:
        return "time.Time";
    case NOA_GOTMPL_MAP:
        return "map[string]string";
    case NOA_GOTMPL_UINT8:
        return "uint8";
    case NOA_GOTMPL_NIL:
        break;
    }
    return "<nil>";
}

int noa__gotmpl_truth(const struct noa__gotmpl_val *v)
{
    switch (v->kind) {
    case NOA_GOTMPL_STR:
        return v->u.s.len > 0;
    case NOA_GOTMPL_INT:
    case NOA_GOTMPL_UINT8:
    case NOA_GOTMPL_BOOL:
        return v->u.i != 0;
    case NOA_GOTMPL_FLOAT:
        return v->u.f != 0;
    case NOA_GOTMPL_TIME:
    case NOA_GOTMPL_MAP:
        return 1;
    case NOA_GOTMPL_NIL:
        break;
    }
    return 0;
}

/* Room for a made string of n bytes, or NULL (with the error set) when n
 * is over the output cap. */
char *noa__gotmpl_mk(struct noa__gotmpl_exec *x, size_t n)
{
    if (n > x->max_str) {
        noa__gotmpl_fail(x, NOA_ETOOBIG, "string of %zu bytes over the size limit", n);
        return NULL;
    }
    /* Made strings live until the execution ends, so a loop that keeps
     * making them is bounded in total too. */
    if (x->made + n > NOA_GOTMPL_MADE_FACTOR * x->max_str) {
        noa__gotmpl_fail(x, NOA_ETOOBIG, "template made more than %zu bytes of strings",
                         NOA_GOTMPL_MADE_FACTOR * x->max_str);
        return NULL;
    }
    x->made += n;
    return noa__gotmpl_alloc(x, n + 1);
}

/* Turns a buffer's bytes into an arena string (the buffer is released). */
int noa__gotmpl_from_buf(struct noa__gotmpl_exec *x, struct noa_buf *b, struct noa__gotmpl_val *out)
{
    char *d = noa__gotmpl_mk(x, b->len);
    int rc = 0;
    if (!d) {
        rc = NOA_ETOOBIG;
        goto done;
    }
    if (b->len)
        memcpy(d, b->data, b->len);
    *out = noa__gotmpl_str((struct noa_str){d, b->len});
done:
    noa__gotmpl_buf_give(x, b);
    return rc;
}

int noa__gotmpl_want_str(struct noa__gotmpl_exec *x, const struct noa__gotmpl_val *v,
                         struct noa_str *s)
{
    if (v->kind != NOA_GOTMPL_STR)
        return noa__gotmpl_fail(x, NOA_EINVAL, "wrong type for value; expected string; got %s",
                                noa__gotmpl_type(v));
    *s = v->u.s;
    return 0;
}

int noa__gotmpl_want_int(struct noa__gotmpl_exec *x, const struct noa__gotmpl_val *v, int64_t *i)
{
    if (v->kind == NOA_GOTMPL_INT || v->kind == NOA_GOTMPL_UINT8) {
        *i = v->u.i;
        return 0;
    }
    /* Go converts an integral number constant to an int parameter. */
    if (v->kind == NOA_GOTMPL_FLOAT && v->u.f == floor(v->u.f) && fabs(v->u.f) < 9e18) {
        *i = (int64_t)v->u.f;
        return 0;
    }
    return noa__gotmpl_fail(x, NOA_EINVAL, "wrong type for value; expected int; got %s",
                            noa__gotmpl_type(v));
}

int noa__gotmpl_want_time(struct noa__gotmpl_exec *x, const struct noa__gotmpl_val *v)
{
    if (v->kind != NOA_GOTMPL_TIME)
        return noa__gotmpl_fail(x, NOA_EINVAL, "wrong type for value; expected time.Time; got %s",
                                noa__gotmpl_type(v));
    return 0;
}

/* spf13/cast ToInt64: strings parse with base prefixes (a ".0" tail is
 * dropped), anything unparsable is 0. */
int64_t noa__gotmpl_cast_int(const struct noa__gotmpl_val *v)
{
    char b[64];
    switch (v->kind) {
    case NOA_GOTMPL_INT:
    case NOA_GOTMPL_UINT8:
    case NOA_GOTMPL_BOOL:
        return v->u.i;
    case NOA_GOTMPL_FLOAT:
        return isfinite(v->u.f) && fabs(v->u.f) < 9.2e18 ? (int64_t)v->u.f : 0;
    case NOA_GOTMPL_STR: {
        if (v->u.s.len == 0 || v->u.s.len >= sizeof(b))
            return 0;
        memcpy(b, v->u.s.p, v->u.s.len);
        b[v->u.s.len] = '\0';
        char *dot = strchr(b, '.');
        if (dot && dot[1 + strspn(dot + 1, "0")] == '\0')
            *dot = '\0';
        char *end;
        errno = 0;
        long long r = strtoll(b, &end, 0);
        return *end || errno ? 0 : r;
    }
    default:
        return 0;
    }
}

double noa__gotmpl_cast_float(const struct noa__gotmpl_val *v)
{
    char b[64];
    switch (v->kind) {
    case NOA_GOTMPL_INT:
    case NOA_GOTMPL_UINT8:
    case NOA_GOTMPL_BOOL:
        return (double)v->u.i;
    case NOA_GOTMPL_FLOAT:
        return v->u.f;
    case NOA_GOTMPL_STR: {
        if (v->u.s.len == 0 || v->u.s.len >= sizeof(b))
            return 0;
        memcpy(b, v->u.s.p, v->u.s.len);
        b[v->u.s.len] = '\0';
        char *end;
        double r = strtod(b, &end);
        return *end ? 0 : r;
    }
    default:
        return 0;
    }
}

/* Arguments as strings, in order; fails on the first non-string. */
int noa__gotmpl_want_strs(struct noa__gotmpl_exec *x, const struct noa__gotmpl_val *a, int n,
                          struct noa_str *s)
{
    for (int i = 0; i < n; i++) {
        int rc = noa__gotmpl_want_str(x, &a[i], &s[i]);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---------------------------------------------------------------- logic */

static int empty(const struct noa__gotmpl_val *v)
{
    return v->kind != NOA_GOTMPL_TIME && !noa__gotmpl_truth(v);
}

static int f_default(NOA_GOTMPL_FN_ARGS)
{
    (void)x;
    *out = n < 2 || empty(&a[1]) ? a[0] : a[1];
    return 0;
}

static int f_not(NOA_GOTMPL_FN_ARGS)
{
    (void)x;
    (void)n;
    *out = noa__gotmpl_bool(!noa__gotmpl_truth(&a[0]));
    return 0;
}

/* The executor evaluates and/or itself (lazily); these never run. */
static int f_andor(NOA_GOTMPL_FN_ARGS)
{
    (void)x;
    *out = a[n - 1];
    return 0;
}

enum basic { B_BAD, B_BOOL, B_INT, B_UINT, B_FLOAT, B_STR };

static enum basic basic(const struct noa__gotmpl_val *v)
{
    switch (v->kind) {
    case NOA_GOTMPL_BOOL:
        return B_BOOL;
    case NOA_GOTMPL_INT:
        return B_INT;
    case NOA_GOTMPL_UINT8:
        return B_UINT;
    case NOA_GOTMPL_FLOAT:
        return B_FLOAT;
    case NOA_GOTMPL_STR:
        return B_STR;
    default:
        return B_BAD;
    }
}

/* Go's comparison builtins: returns -1/0/1 in *cmp, or an error. */
static int compare(struct noa__gotmpl_exec *x, const char *fname, const struct noa__gotmpl_val *l,
                   const struct noa__gotmpl_val *r, int ordered, int *cmp)
{
    enum basic kl = basic(l), kr = basic(r);
    if (kl == B_BAD || kr == B_BAD || (ordered && (kl == B_BOOL || kr == B_BOOL))) {
        if (!ordered && (l->kind == NOA_GOTMPL_NIL || r->kind == NOA_GOTMPL_NIL)) {
            *cmp = l->kind == r->kind ? 0 : 1;
            return 0;
        }
        return noa__gotmpl_fail(x, NOA_EINVAL, "error calling %s: invalid type for comparison",
                                fname);
    }
    int ints = (kl == B_INT || kl == B_UINT) && (kr == B_INT || kr == B_UINT);
    if (kl != kr && !ints)
        return noa__gotmpl_fail(x, NOA_EINVAL,
                                "error calling %s: incompatible types for comparison", fname);
    switch (kl) {
    case B_STR:
        *cmp = noa_str_cmp(l->u.s, r->u.s);
        break;
    case B_FLOAT:
        *cmp = l->u.f < r->u.f ? -1 : l->u.f > r->u.f ? 1 : (l->u.f == r->u.f ? 0 : 2);
        break;
    default:
        *cmp = l->u.i < r->u.i ? -1 : l->u.i > r->u.i;
        break;
    }
    return 0;
}

static int f_eq(NOA_GOTMPL_FN_ARGS)
{
    for (int i = 1; i < n; i++) {
        int c = 0;
        int rc = compare(x, "eq", &a[0], &a[i], 0, &c);
        if (rc)
            return rc;
        if (c == 0) {
            *out = noa__gotmpl_bool(1);
            return 0;
        }
    }
    *out = noa__gotmpl_bool(0);
    return 0;
}

static int f_ne(NOA_GOTMPL_FN_ARGS)
{
    int c = 0;
    (void)n;
    int rc = compare(x, "ne", &a[0], &a[1], 0, &c);
    if (rc == 0)
        *out = noa__gotmpl_bool(c != 0);
    return rc;
}

#define ORDER(fname, name, test)                                                                   \
    static int fname(NOA_GOTMPL_FN_ARGS)                                                           \
    {                                                                                              \
        int c = 0;                                                                                 \
        (void)n;                                                                                   \
        int rc = compare(x, name, &a[0], &a[1], 1, &c);                                            \
        if (rc == 0)                                                                               \
            *out = noa__gotmpl_bool(c != 2 && (test));                                             \
        return rc;                                                                                 \
    }
ORDER(f_lt, "lt", c < 0)
ORDER(f_le, "le", c <= 0)
ORDER(f_gt, "gt", c > 0)
ORDER(f_ge, "ge", c >= 0)

struct count_ctx {
    int64_t n;
};

static void count_label(void *ectx, struct noa_str name, struct noa_str v)
{
    (void)name;
    (void)v;
    ((struct count_ctx *)ectx)->n++;
}

static int f_len(NOA_GOTMPL_FN_ARGS)
{
    (void)n;
    if (a[0].kind == NOA_GOTMPL_STR) {
        *out = noa__gotmpl_int((int64_t)a[0].u.s.len);
        return 0;
    }
    if (a[0].kind == NOA_GOTMPL_MAP) {
        struct count_ctx c = {0};
        if (x->data->each_cb)
            x->data->each_cb(x->data->ctx, count_label, &c);
        *out = noa__gotmpl_int(c.n);
        return 0;
    }
    return noa__gotmpl_fail(x, NOA_EINVAL, "error calling len: len of type %s",
                            noa__gotmpl_type(&a[0]));
}

static int f_index(NOA_GOTMPL_FN_ARGS)
{
    struct noa__gotmpl_val v = a[0];
    for (int i = 1; i < n; i++) {
        if (v.kind == NOA_GOTMPL_MAP) {
            struct noa_str key = {0}, val = {"", 0};
            if (a[i].kind != NOA_GOTMPL_STR)
                return noa__gotmpl_fail(x, NOA_EINVAL,
                                        "error calling index: value has type %s; should be string",
                                        noa__gotmpl_type(&a[i]));
            key = a[i].u.s;
            const struct noa_gotmpl_data *d = x->data;
            if (d->lookup_cb && !d->lookup_cb(d->ctx, key.p, key.len, &val))
                val = (struct noa_str){"", 0};
            v = noa__gotmpl_str(val);
        } else if (v.kind == NOA_GOTMPL_STR) {
            int64_t k = 0;
            if (noa__gotmpl_want_int(x, &a[i], &k))
                return noa__gotmpl_fail(
                    x, NOA_EINVAL, "error calling index: cannot index slice/array with type %s",
                    noa__gotmpl_type(&a[i]));
            if (k < 0 || (uint64_t)k >= v.u.s.len)
                return noa__gotmpl_fail(x, NOA_EINVAL,
                                        "error calling index: index out of range: %" PRId64, k);
            v = (struct noa__gotmpl_val){.kind = NOA_GOTMPL_UINT8,
                                         .u.i = (unsigned char)v.u.s.p[k]};
        } else if (v.kind == NOA_GOTMPL_NIL) {
            return noa__gotmpl_fail(x, NOA_EINVAL, "error calling index: index of untyped nil");
        } else {
            return noa__gotmpl_fail(x, NOA_EINVAL,
                                    "error calling index: can't index item of type %s",
                                    noa__gotmpl_type(&v));
        }
    }
    *out = v;
    return 0;
}

static int f_slice(NOA_GOTMPL_FN_ARGS)
{
    if (a[0].kind != NOA_GOTMPL_STR)
        return noa__gotmpl_fail(x, NOA_EINVAL, "error calling slice: can't slice item of type %s",
                                noa__gotmpl_type(&a[0]));
    if (n > 3)
        return noa__gotmpl_fail(x, NOA_EINVAL,
                                "error calling slice: cannot 3-index slice a string");
    int64_t idx[2] = {0, (int64_t)a[0].u.s.len};
    for (int i = 1; i < n; i++) {
        if (noa__gotmpl_want_int(x, &a[i], &idx[i - 1]))
            return noa__gotmpl_fail(x, NOA_EINVAL,
                                    "error calling slice: cannot index slice/array with type %s",
                                    noa__gotmpl_type(&a[i]));
        if (idx[i - 1] < 0 || idx[i - 1] > (int64_t)a[0].u.s.len)
            return noa__gotmpl_fail(
                x, NOA_EINVAL, "error calling slice: index out of range: %" PRId64, idx[i - 1]);
    }
    if (idx[0] > idx[1])
        return noa__gotmpl_fail(x, NOA_EINVAL,
                                "error calling slice: invalid slice index: %" PRId64 " > %" PRId64,
                                idx[0], idx[1]);
    *out = noa__gotmpl_str((struct noa_str){a[0].u.s.p + idx[0], (size_t)(idx[1] - idx[0])});
    return 0;
}

/* ----------------------------------------------------------------- math */

/* sprig's float functions compute with shopspring/decimal: each operand
 * becomes its shortest decimal form, the arithmetic is exact (division
 * rounds half away from zero to 16 decimal places) and the result is
 * rounded to the nearest float64 once. So 0.1 + 0.2 is 0.3 and 20.2 / 5.25
 * is 3.8476190476190477. Values too far apart to align in 128 bits fall
 * back to binary arithmetic. */
struct decnum {
    __int128 m; /* value is m * 10^e */
    int e;
};

static int to_dec(double f, struct decnum *d)
{
    char b[40];
    int prec;
    if (!isfinite(f))
        return -1;
    for (prec = 0; prec < 17; prec++) {
        snprintf(b, sizeof(b), "%.*e", prec, f);
        if (strtod(b, NULL) == f)
            break;
    }
    __int128 m = 0;
    const char *q = b;
    int neg = *q == '-';
    q += neg;
    for (; *q && *q != 'e'; q++)
        if (isdigit((unsigned char)*q))
            m = m * 10 + (*q - '0');
    d->m = neg ? -m : m;
    d->e = atoi(q + 1) - prec;
    return 0;
}

static double from_dec(struct decnum d)
{
    char b[64];
    int i = (int)sizeof(b) - 1;
    __int128 m = d.m < 0 ? -d.m : d.m;
    b[i] = '\0';
    do {
        b[--i] = (char)('0' + (int)(m % 10));
        m /= 10;
    } while (m);
    if (d.m < 0)
        b[--i] = '-';
    char s[96];
    snprintf(s, sizeof(s), "%se%d", b + i, d.e);
    return strtod(s, NULL);
}

static const __int128 pow10_max = (__int128)100000000000000000LL * 100000000000000000LL; /* 1e34 */

/* m * 10^k for 0 <= k, or -1 when that would leave 1e34 behind. */
static int scale_up(__int128 *m, int k)
{
    for (; k > 0; k--) {
        if (*m > pow10_max / 10 || *m < -pow10_max / 10)
            return -1;
        *m *= 10;
    }
    return 0;
}

enum dec_op { DA_ADD, DA_SUB, DA_MUL, DA_DIV };

static int dec_op(enum dec_op op, double a, double b, double *r)
{
    struct decnum x, y, z;
    if (to_dec(a, &x) || to_dec(b, &y))
        return -1;
    switch (op) {
    case DA_ADD:
    case DA_SUB:
        if (x.e > y.e ? scale_up(&x.m, x.e - y.e) : scale_up(&y.m, y.e - x.e))
            return -1;
        z.e = x.e < y.e ? x.e : y.e;
        z.m = op == DA_ADD ? x.m + y.m : x.m - y.m;
        break;
    case DA_MUL:
        z.m = x.m * y.m; /* both below 1e17 */
        z.e = x.e + y.e;
        break;
    case DA_DIV: {
        /* q = x / y to 16 places: (x.m * 10^(x.e - y.e + 16)) / y.m. */
        int k = x.e - y.e + 16;
        __int128 num = x.m, den = y.m;
        if (k >= 0 ? scale_up(&num, k) : scale_up(&den, -k))
            return -1;
        __int128 q = num / den, rem = num % den;
        __int128 arem = rem < 0 ? -rem : rem, aden = den < 0 ? -den : den;
        if (2 * arem >= aden)
            q += ((num < 0) != (den < 0)) ? -1 : 1;
        z.m = q;
        z.e = -16;
        break;
    }
    }
    *r = from_dec(z);
    return 0;
}

enum arith { AR_ADD, AR_SUB, AR_MUL, AR_DIV, AR_MOD, AR_MAX, AR_MIN };

static int arith_int(struct noa__gotmpl_exec *x, const char *fname, enum arith op,
                     const struct noa__gotmpl_val *a, int n, struct noa__gotmpl_val *out)
{
    int64_t r = n > 0 ? noa__gotmpl_cast_int(&a[0]) : 0;
    for (int i = 1; i < n; i++) {
        int64_t v = noa__gotmpl_cast_int(&a[i]);
        uint64_t ur = (uint64_t)r, uv = (uint64_t)v;
        switch (op) {
        /* Go integers wrap on overflow: compute unsigned to match. */
        case AR_ADD:
            r = (int64_t)(ur + uv);
            break;
        case AR_SUB:
            r = (int64_t)(ur - uv);
            break;
        case AR_MUL:
            r = (int64_t)(ur * uv);
            break;
        case AR_DIV:
        case AR_MOD:
            if (v == 0)
                return noa__gotmpl_fail(x, NOA_EINVAL,
                                        "error calling %s: runtime error: integer divide by zero",
                                        fname);
            if (v == -1)
                r = op == AR_DIV ? (int64_t)(0 - ur) : 0;
            else
                r = op == AR_DIV ? r / v : r % v;
            break;
        case AR_MAX:
            r = v > r ? v : r;
            break;
        case AR_MIN:
            r = v < r ? v : r;
            break;
        }
    }
    *out = noa__gotmpl_int(r);
    return 0;
}

#define ARITH(fname, name, op)                                                                     \
    static int fname(NOA_GOTMPL_FN_ARGS)                                                           \
    {                                                                                              \
        return arith_int(x, name, op, a, n, out);                                                  \
    }
ARITH(f_add, "add", AR_ADD)
ARITH(f_sub, "sub", AR_SUB)
ARITH(f_mul, "mul", AR_MUL)
ARITH(f_div, "div", AR_DIV)
ARITH(f_mod, "mod", AR_MOD)
ARITH(f_max, "max", AR_MAX)
ARITH(f_min, "min", AR_MIN)

static int arith_float(struct noa__gotmpl_exec *x, const char *fname, enum arith op,
                       const struct noa__gotmpl_val *a, int n, struct noa__gotmpl_val *out)
{
    double r = n > 0 ? noa__gotmpl_cast_float(&a[0]) : 0;
    for (int i = 1; i < n; i++) {
        double v = noa__gotmpl_cast_float(&a[i]);
        switch (op) {
        case AR_ADD:
            if (dec_op(DA_ADD, r, v, &r))
                r += v;
            break;
        case AR_SUB:
            if (dec_op(DA_SUB, r, v, &r))
                r -= v;
            break;
        case AR_MUL:
            if (dec_op(DA_MUL, r, v, &r))
                r *= v;
            break;
        case AR_DIV:
            if (v == 0)
                return noa__gotmpl_fail(x, NOA_EINVAL, "error calling %s: decimal division by 0",
                                        fname);
            if (dec_op(DA_DIV, r, v, &r))
                r /= v;
            break;
        case AR_MOD:
            r = fmod(r, v);
            break;
        case AR_MAX:
            r = fmax(r, v);
            break;
        case AR_MIN:
            r = fmin(r, v);
            break;
        }
    }
    *out = noa__gotmpl_float(r);
    return 0;
}

#define ARITHF(fname, name, op)                                                                    \
    static int fname(NOA_GOTMPL_FN_ARGS)                                                           \
    {                                                                                              \
        return arith_float(x, name, op, a, n, out);                                                \
    }
ARITHF(f_addf, "addf", AR_ADD)
ARITHF(f_subf, "subf", AR_SUB)
ARITHF(f_mulf, "mulf", AR_MUL)
ARITHF(f_divf, "divf", AR_DIV)
ARITHF(f_maxf, "maxf", AR_MAX)
ARITHF(f_minf, "minf", AR_MIN)

static int f_ceil(NOA_GOTMPL_FN_ARGS)
{
    (void)x;
    (void)n;
    *out = noa__gotmpl_float(ceil(noa__gotmpl_cast_float(&a[0])));
    return 0;
}

static int f_floor(NOA_GOTMPL_FN_ARGS)
{
    (void)x;
    (void)n;
    *out = noa__gotmpl_float(floor(noa__gotmpl_cast_float(&a[0])));
    return 0;
}

/* sprig round(a, places [, roundOn=.5]). */
static int f_round(NOA_GOTMPL_FN_ARGS)
{
    int64_t places = 0;
    int rc = noa__gotmpl_want_int(x, &a[1], &places);
    if (rc)
        return rc;
    double on = 0.5;
    if (n > 2) {
        if (a[2].kind != NOA_GOTMPL_FLOAT && a[2].kind != NOA_GOTMPL_INT)
            return noa__gotmpl_fail(x, NOA_EINVAL, "wrong type for value; expected float64; got %s",
                                    noa__gotmpl_type(&a[2]));
        on = noa__gotmpl_cast_float(&a[2]);
    }
    if (places > 300)
        places = 300;
    if (places < -300)
        places = -300;
    double v = noa__gotmpl_cast_float(&a[0]);
    double pow10 = pow(10, (double)places);
    double digit = pow10 * v;
    double whole;
    double frac = modf(digit, &whole);
    double r = frac >= on ? ceil(digit) : floor(digit);
    *out = noa__gotmpl_float(r / pow10);
    return 0;
}

static int f_int(NOA_GOTMPL_FN_ARGS)
{
    (void)x;
    (void)n;
    *out = noa__gotmpl_int(noa__gotmpl_cast_int(&a[0]));
    return 0;
}

static int f_float64(NOA_GOTMPL_FN_ARGS)
{
    (void)x;
    (void)n;
    *out = noa__gotmpl_float(noa__gotmpl_cast_float(&a[0]));
    return 0;
}

/* go-humanize ParseBytes: "10 KB" is 10000, "10 KiB" is 10240. */
static int f_bytes(NOA_GOTMPL_FN_ARGS)
{
    struct noa_str s = {0};
    struct noa_error e = {0};
    uint64_t v;
    (void)n;
    int rc = noa__gotmpl_want_str(x, &a[0], &s);
    if (rc)
        return rc;
    if (noa_humanize_parse_bytes(s, &v, &e) < 0)
        return noa__gotmpl_fail(x, NOA_EINVAL, "error calling bytes: %s", e.msg);
    *out = noa__gotmpl_float((double)v);
    return 0;
}

/* Go's time.ParseDuration, in seconds. */
static int parse_duration(struct noa_str s, double *secs)
{
    size_t i = 0;
    int neg = 0;
    double total = 0;
    if (i < s.len && (s.p[i] == '-' || s.p[i] == '+'))
        neg = s.p[i++] == '-';
    if (s.len - i == 1 && s.p[i] == '0') {
        *secs = 0;
        return 0;
    }
    if (i == s.len)
        return -1;
    while (i < s.len) {
        size_t st = i;
        double v = 0, scale = 1;
        int digits = 0;
        while (i < s.len && isdigit((unsigned char)s.p[i])) {
            v = v * 10 + (s.p[i++] - '0');
            digits++;
        }
        if (i < s.len && s.p[i] == '.') {
            i++;
            while (i < s.len && isdigit((unsigned char)s.p[i])) {
                scale /= 10;
                v += (s.p[i++] - '0') * scale;
                digits++;
            }
        }
        if (!digits)
            return -1;
        size_t us = i;
        while (i < s.len && s.p[i] != '.' && !isdigit((unsigned char)s.p[i]))
            i++;
        struct noa_str u = {s.p + us, i - us};
        double m;
        if (u.len == 0)
            return -2;
        if (noa_str_eq_c(u, "ns"))
            m = 1e-9;
        else if (noa_str_eq_c(u, "us") || noa_str_eq_c(u, "\xC2\xB5s") ||
                 noa_str_eq_c(u, "\xCE\xBCs"))
            m = 1e-6;
        else if (noa_str_eq_c(u, "ms"))
            m = 1e-3;
        else if (noa_str_eq_c(u, "s"))
            m = 1;
        else if (noa_str_eq_c(u, "m"))
            m = 60;
        else if (noa_str_eq_c(u, "h"))
            m = 3600;
        else
            return -3;
        (void)st;
        total += v * m;
    }
    *secs = neg ? -total : total;
    return 0;
}

static int f_duration(NOA_GOTMPL_FN_ARGS)
{
    struct noa_str s = {0};
    double secs;
    (void)n;
    int rc = noa__gotmpl_want_str(x, &a[0], &s);
    if (rc)
        return rc;
    rc = parse_duration(s, &secs);
    if (rc == -2)
        return noa__gotmpl_fail(x, NOA_EINVAL,
                                "error calling duration: time: missing unit in duration \"%.*s\"",
                                (int)s.len, s.p);
    if (rc)
        return noa__gotmpl_fail(x, NOA_EINVAL,
                                "error calling duration: time: invalid duration \"%.*s\"",
                                (int)s.len, s.p);
    *out = noa__gotmpl_float(secs);
    return 0;
}

/* ---------------------------------------------------------------- table */

const struct noa__gotmpl_func noa__gotmpl_funcs_funcs[] = {
    {"bytes", 1, 1, f_bytes},
    {"duration", 1, 1, f_duration},
    {"duration_seconds", 1, 1, f_duration},
    {"int", 1, 1, f_int},
    {"float64", 1, 1, f_float64},
    {"add", 0, -1, f_add},
    {"sub", 2, 2, f_sub},
    {"mul", 1, -1, f_mul},
    {"div", 2, 2, f_div},
    {"mod", 2, 2, f_mod},
    {"addf", 0, -1, f_addf},
    {"subf", 1, -1, f_subf},
    {"mulf", 1, -1, f_mulf},
    {"divf", 1, -1, f_divf},
    {"max", 1, -1, f_max},
    {"min", 1, -1, f_min},
    {"maxf", 1, -1, f_maxf},
    {"minf", 1, -1, f_minf},
    {"ceil", 1, 1, f_ceil},
    {"floor", 1, 1, f_floor},
    {"round", 2, 3, f_round},
    {"default", 1, -1, f_default},
    {"and", 1, -1, f_andor},
    {"or", 1, -1, f_andor},
    {"not", 1, 1, f_not},
    {"eq", 1, -1, f_eq},
    {"ne", 2, 2, f_ne},
    {"lt", 2, 2, f_lt},
    {"le", 2, 2, f_le},
    {"gt", 2, 2, f_gt},
    {"ge", 2, 2, f_ge},
    {"len", 1, 1, f_len},
    {"index", 1, -1, f_index},
    {"slice", 1, -1, f_slice},
    {NULL, 0, 0, NULL},
};

const struct noa__gotmpl_func *noa__gotmpl_func_find(struct noa_str s)
{
    static const struct noa__gotmpl_func *const tables[] = {
        noa__gotmpl_funcs_funcs, noa__gotmpl_strings_funcs, noa__gotmpl_time_funcs,
        noa__gotmpl_fmt_funcs};
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
        for (const struct noa__gotmpl_func *f = tables[t]; f->name; f++)
            if (noa_str_eq_c(s, f->name))
                return f;
    return NULL;
}
