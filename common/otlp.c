/*
 * OTLP logs into a push request (format and mapping in otlp.h). Both wire
 * forms are first decoded into a small model of the request (resources,
 * scopes, records, AnyValue trees) held in the request's arena; one
 * converter then maps the model onto streams and entries as Loki does, so
 * the two encodings cannot drift apart. This file holds that converter,
 * the rendering of values as the collector's AsString, the memory bound
 * and the entry points; the decoders are otlp_proto.c and otlp_json.c,
 * the model otlp_int.h. Pure functions; any thread.
 */
#include "common/otlp_int.h"
#include "common/labels.h"
#include "common/mem.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const noa_otlp_default_index_labels[] = {
    "service.name",
    "service.namespace",
    "service.instance.id",
    "deployment.environment",
    "deployment.environment.name",
    "cloud.region",
    "cloud.availability_zone",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
    "container.name",
    "k8s.replicaset.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.cronjob.name",
    "k8s.job.name",
    NULL,
};

/* ---- memory ----------------------------------------------------------- */

/* Bytes held in both arenas. */
static size_t used(const struct noa__otlp_ctx *c)
{
    return c->arena->total + c->model.total;
}

/* Zeroed room for count items in arena a, within max_mem. */
static void *alloc_in(struct noa__otlp_ctx *c, struct noa_arena *a, size_t count, size_t size)
{
    if (count == 0)
        return NULL;
    if (count > SIZE_MAX / size ||
        (c->max_mem && (count * size > c->max_mem || used(c) > c->max_mem - count * size))) {
        noa_error_set(c->err, NOA_ETOOBIG, "otlp: request needs more than %zu bytes of memory",
                      c->max_mem);
        return NULL;
    }
    void *p = noa_arena_alloc(a, count * size);
    memset(p, 0, count * size);
    return p;
}

/* Model structs (freed after conversion). */
void *noa__otlp_model_alloc(struct noa__otlp_ctx *c, size_t count, size_t size)
{
    return alloc_in(c, &c->model, count, size);
}

/* Output arrays (live as long as the request). */
void *noa__otlp_out_alloc(struct noa__otlp_ctx *c, size_t count, size_t size)
{
    return alloc_in(c, c->arena, count, size);
}

/* ---- rendering values as pdata's AsString --------------------------------- */

/* Go's strconv.AppendFloat(f, fmt, -1, 64) for 'f' and 'e' with the
 * ES6-style choice and exponent cleanup of pdata / encoding/json. f finite. */
static void put_go_float(struct noa_buf *b, double f)
{
    if (f == 0) {
        noa_buf_append(b, signbit(f) ? "-0" : "0", signbit(f) ? 2 : 1);
        return;
    }
    char tmp[48];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f)
            break;
    }
    /* tmp is [-]d[.ddd]e[+-]XX: pull out the digits and the exponent. */
    char digits[24];
    int nd = 0, neg = tmp[0] == '-';
    const char *p = tmp + neg;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    int exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    double a = fabs(f);
    if (neg)
        noa_buf_putc(b, '-');
    if (a < 1e-6 || a >= 1e21) {
        noa_buf_putc(b, digits[0]);
        if (nd > 1) {
            noa_buf_putc(b, '.');
            noa_buf_append(b, digits + 1, (size_t)nd - 1);
        }
        /* Go writes at least two exponent digits; pdata then drops the
         * leading zero of a negative one-digit exponent ("e-07" -> "e-7"). */
        int e = exp10 < 0 ? -exp10 : exp10;
        if (exp10 < 0 && e < 10)
            noa_buf_printf(b, "e-%d", e);
        else
            noa_buf_printf(b, "e%c%02d", exp10 < 0 ? '-' : '+', e);
        return;
    }
    if (exp10 < 0) {
        noa_buf_append(b, "0.", 2);
        for (int i = 0; i < -exp10 - 1; i++)
            noa_buf_putc(b, '0');
        noa_buf_append(b, digits, (size_t)nd);
        return;
    }
    for (int i = 0; i <= exp10; i++)
        noa_buf_putc(b, i < nd ? digits[i] : '0');
    if (nd > exp10 + 1) {
        noa_buf_putc(b, '.');
        noa_buf_append(b, digits + exp10 + 1, (size_t)(nd - exp10 - 1));
    }
}

static void put_base64(struct noa_buf *b, struct noa_str s)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *)s.p;
    size_t i = 0;
    for (; i + 3 <= s.len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        char o[4] = {tab[v >> 18], tab[(v >> 12) & 63], tab[(v >> 6) & 63], tab[v & 63]};
        noa_buf_append(b, o, 4);
    }
    if (s.len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        char o[4] = {tab[v >> 18], tab[(v >> 12) & 63], '=', '='};
        noa_buf_append(b, o, 4);
    } else if (s.len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        char o[4] = {tab[v >> 18], tab[(v >> 12) & 63], tab[(v >> 6) & 63], '='};
        noa_buf_append(b, o, 4);
    }
}

/* A string as Go's encoding/json writes it (HTML-safe escaping on). */
static void put_go_json_str(struct noa_buf *b, struct noa_str s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s.p;
    noa_buf_putc(b, '"');
    for (size_t i = 0; i < s.len;) {
        unsigned char ch = p[i];
        if (ch < 0x80) {
            i++;
            if (ch >= 0x20 && ch != '"' && ch != '\\' && ch != '<' && ch != '>' && ch != '&') {
                noa_buf_putc(b, (char)ch);
                continue;
            }
            const char *esc = ch == '"'    ? "\\\""
                              : ch == '\\' ? "\\\\"
                              : ch == '\n' ? "\\n"
                              : ch == '\r' ? "\\r"
                              : ch == '\t' ? "\\t"
                              : ch == '\b' ? "\\b"
                              : ch == '\f' ? "\\f"
                                           : NULL;
            if (esc) {
                noa_buf_append(b, esc, 2);
            } else {
                char u[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
                noa_buf_append(b, u, 6);
            }
            continue;
        }
        uint32_t cp;
        size_t w = noa_utf8_decode(p + i, s.len - i, &cp);
        if (!w) {
            noa_buf_append(b, "\\ufffd", 6);
            i++;
            continue;
        }
        if (cp == 0x2028 || cp == 0x2029)
            noa_buf_append(b, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
        else
            noa_buf_append(b, p + i, w);
        i += w;
    }
    noa_buf_putc(b, '"');
}

static int kv_key_cmp(const void *x, const void *y)
{
    const struct noa__otlp_kv *a = *(const struct noa__otlp_kv *const *)x,
                              *b = *(const struct noa__otlp_kv *const *)y;
    int r = noa_str_cmp(a->key, b->key);
    return r ? r : (a < b ? -1 : a > b); /* stable: later duplicates sort after */
}

/* Go's json.Marshal of Value.AsRaw(); returns -1 on a NaN or an infinity
 * (Marshal fails and AsString yields ""). */
static int put_go_json(struct noa_buf *b, const struct noa__otlp_val *v)
{
    switch (v->kind) {
    case NOA__OTLP_EMPTY:
        noa_buf_append(b, "null", 4);
        return 0;
    case NOA__OTLP_STR:
        put_go_json_str(b, v->s);
        return 0;
    case NOA__OTLP_BOOL:
        noa_buf_append(b, v->i ? "true" : "false", v->i ? 4 : 5);
        return 0;
    case NOA__OTLP_INT:
        noa_buf_printf(b, "%" PRId64, v->i);
        return 0;
    case NOA__OTLP_DOUBLE:
        if (!isfinite(v->d))
            return -1;
        put_go_float(b, v->d);
        return 0;
    case NOA__OTLP_BYTES:
        noa_buf_putc(b, '"');
        put_base64(b, v->s);
        noa_buf_putc(b, '"');
        return 0;
    case NOA__OTLP_ARRAY:
        noa_buf_putc(b, '[');
        for (uint32_t i = 0; i < v->n; i++) {
            if (i)
                noa_buf_putc(b, ',');
            if (put_go_json(b, &v->arr[i]))
                return -1;
        }
        noa_buf_putc(b, ']');
        return 0;
    case NOA__OTLP_KVLIST: {
        /* A Go map: keys sorted, a repeated key keeps its last value. */
        const struct noa__otlp_kv **order = v->n ? noa_xmalloc(v->n * sizeof(*order)) : NULL;
        for (uint32_t i = 0; i < v->n; i++)
            order[i] = &v->kvs[i];
        if (v->n)
            qsort(order, v->n, sizeof(*order), kv_key_cmp);
        int rc = 0, first = 1;
        noa_buf_putc(b, '{');
        for (uint32_t i = 0; i < v->n && !rc; i++) {
            if (i + 1 < v->n && noa_str_eq(order[i]->key, order[i + 1]->key))
                continue;
            if (!first)
                noa_buf_putc(b, ',');
            first = 0;
            put_go_json_str(b, order[i]->key);
            noa_buf_putc(b, ':');
            rc = put_go_json(b, &order[i]->val);
        }
        noa_buf_putc(b, '}');
        noa_free(order);
        return rc;
    }
    }
    return 0;
}

/* ---- the converter ------------------------------------------------------- */

struct tentry {
    uint32_t stream;
    struct noa_push_entry e;
};

struct stream_acc {
    struct noa_str labels;
    uint32_t n_entries;
};

/* A growable vector of name/value pairs on the heap. */
struct lvec {
    struct noa_label *v;
    size_t n, cap;
};

struct conv {
    struct noa__otlp_ctx *c;
    const struct noa_otlp_opts *opts;
    struct noa_buf tmp;
    struct lvec lab;   /* a resource's index labels (duplicates until deduplicated) */
    struct lvec rmeta; /* a resource's structured metadata */
    struct lvec tail;  /* resource + scope metadata, appended to every entry of the scope */
    struct lvec meta;  /* one record's metadata */
    struct stream_acc *streams;
    size_t n_streams, cap_streams;
    uint32_t *slots; /* open addressing over streams, by label text */
    size_t cap_slots;
    struct tentry *entries;
    size_t n_entries, cap_entries;
    size_t heap; /* bytes of the arrays above, counted against max_mem */
};

static int grow(struct conv *v, void **arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    size_t max = v->c->max_mem;
    if (ncap > SIZE_MAX / size / 2 || (max && (v->heap + (ncap - *cap) * size > max ||
                                               used(v->c) + v->heap + (ncap - *cap) * size > max)))
        return noa_error_set(v->c->err, NOA_ETOOBIG,
                             "otlp: request needs more than %zu bytes of memory", max);
    void *p = noa_realloc(*arr, ncap * size);
    if (!p)
        return noa_error_set(v->c->err, NOA_ENOMEM, "otlp: out of memory");
    v->heap += (ncap - *cap) * size;
    *arr = p;
    *cap = ncap;
    return 0;
}

static int lpush(struct conv *v, struct lvec *l, struct noa_str name, struct noa_str value)
{
    if (grow(v, (void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v)))
        return -1;
    l->v[l->n++] = (struct noa_label){name, value};
    return 0;
}

static int name_byte_ok(unsigned char b)
{
    return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '_';
}

/* Prometheus' otlptranslator.NormalizeLabel (into the arena unless the
 * name is already clean and need not be copied): each rune
 * outside [A-Za-z0-9_] becomes '_' (an invalid byte is one rune), then a
 * leading digit gets "key_" and a single leading '_' gets "key". */
static struct noa_str normalize(struct noa_arena *a, const char *s, size_t n, int must_copy)
{
    const unsigned char *p = (const unsigned char *)s;
    int clean = !must_copy && n > 0 && !(p[0] >= '0' && p[0] <= '9') &&
                !(p[0] == '_' && (n == 1 || p[1] != '_'));
    for (size_t i = 0; clean && i < n; i++)
        clean = name_byte_ok(p[i]);
    if (clean)
        return (struct noa_str){s, n}; /* already a label name: borrow it */
    char *o = noa_arena_alloc(a, n + 5);
    size_t w = 4;
    for (size_t i = 0; i < n;) {
        if (name_byte_ok(p[i])) {
            o[w++] = (char)p[i++];
            continue;
        }
        uint32_t cp;
        size_t len = noa_utf8_decode(p + i, n - i, &cp);
        o[w++] = '_';
        i += len ? len : 1;
    }
    size_t start = 4;
    if (w > 4 && o[4] >= '0' && o[4] <= '9')
        memcpy(o + (start = 0), "key_", 4);
    else if (w > 4 && o[4] == '_' && (w == 5 || o[5] != '_'))
        memcpy(o + (start = 1), "key", 3);
    return (struct noa_str){o + start, w - start};
}

static struct noa_str arena_buf(struct conv *v)
{
    return noa_arena_str(v->c->arena, (struct noa_str){v->tmp.data, v->tmp.len});
}

/* pdata's Value.AsString. */
static struct noa_str as_string(struct conv *v, const struct noa__otlp_val *x)
{
    noa_buf_reset(&v->tmp);
    switch (x->kind) {
    case NOA__OTLP_EMPTY:
        return (struct noa_str){"", 0};
    case NOA__OTLP_STR:
        return x->s;
    case NOA__OTLP_BOOL:
        return x->i ? NOA_STR("true") : NOA_STR("false");
    case NOA__OTLP_INT:
        noa_buf_printf(&v->tmp, "%" PRId64, x->i);
        break;
    case NOA__OTLP_DOUBLE:
        if (isnan(x->d))
            return NOA_STR("json: unsupported value: NaN");
        if (isinf(x->d))
            return x->d > 0 ? NOA_STR("json: unsupported value: +Inf")
                            : NOA_STR("json: unsupported value: -Inf");
        put_go_float(&v->tmp, x->d);
        break;
    case NOA__OTLP_BYTES:
        put_base64(&v->tmp, x->s);
        break;
    case NOA__OTLP_ARRAY:
    case NOA__OTLP_KVLIST:
        if (put_go_json(&v->tmp, x))
            return (struct noa_str){"", 0};
        break;
    }
    return arena_buf(v);
}

/* Loki's attributeToLabels: kvlists flatten into prefix_key names. */
static int flatten(struct conv *v, struct noa_str prefix, const struct noa__otlp_kv *kv,
                   struct lvec *to)
{
    /* Nested kvlists repeat their prefix in every leaf's name, so a small
     * body can ask for names of quadratic size: bound them by max_mem. */
    size_t max = v->c->max_mem;
    if (max && used(v->c) + prefix.len + kv->key.len + v->heap > max)
        return noa_error_set(v->c->err, NOA_ETOOBIG,
                             "otlp: request needs more than %zu bytes of memory", max);
    struct noa_str name;
    if (prefix.len) {
        noa_buf_reset(&v->tmp);
        noa_buf_append_str(&v->tmp, prefix);
        noa_buf_putc(&v->tmp, '_');
        noa_buf_append_str(&v->tmp, kv->key);
        name = normalize(v->c->arena, v->tmp.data, v->tmp.len, 1);
    } else {
        name = normalize(v->c->arena, kv->key.p, kv->key.len, 0);
    }
    if (kv->val.kind == NOA__OTLP_KVLIST) {
        for (uint32_t i = 0; i < kv->val.n; i++)
            if (flatten(v, name, &kv->val.kvs[i], to))
                return -1;
        return 0;
    }
    return lpush(v, to, name, as_string(v, &kv->val));
}

static int is_index_attr(struct noa_str key)
{
    for (const char *const *p = noa_otlp_default_index_labels; *p; p++)
        if (noa_str_eq_c(key, *p))
            return 1;
    return 0;
}

struct ordered_label {
    struct noa_label l;
    size_t pos;
};

static int ordered_cmp(const void *x, const void *y)
{
    const struct ordered_label *a = x, *b = y;
    int r = noa_str_cmp(a->l.name, b->l.name);
    return r ? r : (a->pos < b->pos ? -1 : a->pos > b->pos);
}

/* Sorts v->lab by name and keeps the last value of each name, as the Go map
 * Loki fills would. */
static int lab_dedupe(struct conv *v)
{
    size_t n = v->lab.n;
    if (n < 2)
        return 0;
    struct ordered_label *o = noa_malloc(n * sizeof(*o));
    if (!o)
        return noa_error_set(v->c->err, NOA_ENOMEM, "otlp: out of memory");
    for (size_t i = 0; i < n; i++)
        o[i] = (struct ordered_label){v->lab.v[i], i};
    qsort(o, n, sizeof(*o), ordered_cmp);
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (i + 1 == n || !noa_str_eq(o[i].l.name, o[i + 1].l.name))
            v->lab.v[w++] = o[i].l;
    v->lab.n = w;
    noa_free(o);
    return 0;
}

/* A resource's stream label text (Loki's otlpToLokiPushRequest), leaving
 * its structured metadata in v->rmeta. */
static int resource_labels(struct conv *v, const struct noa__otlp_res *r, struct noa_str *text)
{
    const struct noa_otlp_opts *o = v->opts;
    int discover = o && o->n_discover_service_name > 0;
    int has_svc = 0;
    v->lab.n = v->rmeta.n = 0;
    for (uint32_t i = 0; i < r->n_attrs; i++) {
        if (noa_str_eq_c(r->attrs[i].key, "service.name")) {
            has_svc = as_string(v, &r->attrs[i].val).len > 0;
            break;
        }
    }
    for (uint32_t i = 0; i < r->n_attrs; i++) {
        const struct noa__otlp_kv *kv = &r->attrs[i];
        if (!is_index_attr(kv->key)) {
            if (flatten(v, (struct noa_str){0}, kv, &v->rmeta))
                return -1;
            continue;
        }
        size_t before = v->lab.n;
        if (flatten(v, (struct noa_str){0}, kv, &v->lab))
            return -1;
        size_t end = v->lab.n;
        for (size_t k = before; k < end && discover && !has_svc; k++) {
            for (int d = 0; d < o->n_discover_service_name; d++) {
                if (!noa_str_eq_c(v->lab.v[k].name, o->discover_service_name[d]))
                    continue;
                if (lpush(v, &v->lab, NOA_STR("service_name"), v->lab.v[k].value))
                    return -1;
                has_svc = 1;
                break;
            }
        }
    }
    if (discover && !has_svc &&
        lpush(v, &v->lab, NOA_STR("service_name"), NOA_STR("unknown_service")))
        return -1;
    if (lab_dedupe(v))
        return -1;
    if (!v->lab.n) {
        *text = (struct noa_str){"", 0}; /* Loki leaves such a stream's labels empty */
        return 0;
    }
    noa_buf_reset(&v->tmp);
    noa_labels_format(&(struct noa_labels){v->lab.v, (uint32_t)v->lab.n}, &v->tmp);
    *text = arena_buf(v);
    return 0;
}

static uint64_t str_hash(struct noa_str s)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < s.len; i++)
        h = (h ^ (unsigned char)s.p[i]) * 1099511628211ull;
    return h;
}

/* The index of the stream with this label text, created when new. */
static int stream_for(struct conv *v, struct noa_str labels, uint32_t *out)
{
    if ((v->n_streams + 1) * 2 > v->cap_slots) {
        size_t ncap = v->cap_slots ? v->cap_slots * 2 : 64;
        uint32_t *ns = NULL;
        size_t got = 0;
        if (grow(v, (void **)&ns, &got, ncap, sizeof(*ns)))
            return -1;
        ncap = got;
        for (size_t i = 0; i < ncap; i++)
            ns[i] = UINT32_MAX;
        for (size_t i = 0; i < v->n_streams; i++) {
            size_t h = str_hash(v->streams[i].labels) & (ncap - 1);
            while (ns[h] != UINT32_MAX)
                h = (h + 1) & (ncap - 1);
            ns[h] = (uint32_t)i;
        }
        v->heap -= v->cap_slots * sizeof(*ns);
        noa_free(v->slots);
        v->slots = ns;
        v->cap_slots = ncap;
    }
    size_t h = str_hash(labels) & (v->cap_slots - 1);
    while (v->slots[h] != UINT32_MAX) {
        if (noa_str_eq(v->streams[v->slots[h]].labels, labels)) {
            *out = v->slots[h];
            return 0;
        }
        h = (h + 1) & (v->cap_slots - 1);
    }
    if (grow(v, (void **)&v->streams, &v->cap_streams, v->n_streams + 1, sizeof(*v->streams)))
        return -1;
    v->streams[v->n_streams] = (struct stream_acc){labels, 0};
    v->slots[h] = (uint32_t)v->n_streams;
    *out = (uint32_t)v->n_streams++;
    return 0;
}

static struct noa_str fmt_num(struct conv *v, int is_signed, uint64_t x)
{
    noa_buf_reset(&v->tmp);
    if (is_signed)
        noa_buf_printf(&v->tmp, "%" PRId64, (int64_t)x);
    else
        noa_buf_printf(&v->tmp, "%" PRIu64, x);
    return arena_buf(v);
}

static struct noa_str hex_id(struct conv *v, const unsigned char *id, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char *o = noa_arena_alloc(v->c->arena, 2 * n);
    for (size_t i = 0; i < n; i++) {
        o[2 * i] = hex[id[i] >> 4];
        o[2 * i + 1] = hex[id[i] & 15];
    }
    return (struct noa_str){o, 2 * n};
}

/* Loki's otlpLogToPushEntry, then the resource and scope metadata. */
static int record_entry(struct conv *v, const struct noa__otlp_rec *r, uint32_t stream)
{
    struct lvec *m = &v->meta;
    m->n = 0;
    for (uint32_t i = 0; i < r->n_attrs; i++)
        if (flatten(v, (struct noa_str){0}, &r->attrs[i], m))
            return -1;
    int rc = 0;
    if (r->time_ns && r->observed_ns)
        rc = lpush(v, m, NOA_STR("observed_timestamp"), fmt_num(v, 1, r->observed_ns));
    if (!rc && r->severity)
        rc = lpush(v, m, NOA_STR("severity_number"), fmt_num(v, 1, (uint64_t)(int64_t)r->severity));
    if (!rc && r->severity_text.len)
        rc = lpush(v, m, NOA_STR("severity_text"), r->severity_text);
    if (!rc && r->dropped)
        rc = lpush(v, m, NOA_STR("dropped_attributes_count"), fmt_num(v, 0, r->dropped));
    if (!rc && r->flags)
        rc = lpush(v, m, NOA_STR("flags"), fmt_num(v, 0, r->flags));
    if (!rc && r->has_trace)
        rc = lpush(v, m, NOA_STR("trace_id"), hex_id(v, r->trace, 16));
    if (!rc && r->has_span)
        rc = lpush(v, m, NOA_STR("span_id"), hex_id(v, r->span, 8));
    for (size_t i = 0; i < v->tail.n && !rc; i++)
        rc = lpush(v, m, v->tail.v[i].name, v->tail.v[i].value);
    if (rc || grow(v, (void **)&v->entries, &v->cap_entries, v->n_entries + 1, sizeof(*v->entries)))
        return -1;
    struct tentry *t = &v->entries[v->n_entries];
    t->stream = stream;
    t->e.ts_ns = r->time_ns       ? (int64_t)r->time_ns
                 : r->observed_ns ? (int64_t)r->observed_ns
                                  : (v->opts ? v->opts->now_ns : 0);
    t->e.line = as_string(v, &r->body);
    t->e.n_meta = (uint32_t)m->n;
    t->e.meta = noa__otlp_out_alloc(v->c, m->n, sizeof(*t->e.meta));
    if (m->n && !t->e.meta)
        return -1;
    if (m->n)
        memcpy(t->e.meta, m->v, m->n * sizeof(*m->v));
    v->n_entries++;
    v->streams[stream].n_entries++;
    return 0;
}

static int convert_resource(struct conv *v, const struct noa__otlp_res *r)
{
    uint64_t records = 0;
    for (uint32_t j = 0; j < r->n_scopes; j++)
        records += r->scopes[j].n_recs;
    if (!records)
        return 0; /* a resource without records adds no stream (documented gap) */
    struct noa_str text;
    uint32_t stream;
    if (resource_labels(v, r, &text) || stream_for(v, text, &stream))
        return -1;
    for (uint32_t j = 0; j < r->n_scopes; j++) {
        const struct noa__otlp_scope *s = &r->scopes[j];
        struct lvec *t = &v->tail;
        t->n = 0;
        for (size_t k = 0; k < v->rmeta.n; k++)
            if (lpush(v, t, v->rmeta.v[k].name, v->rmeta.v[k].value))
                return -1;
        for (uint32_t k = 0; k < s->n_attrs; k++)
            if (flatten(v, (struct noa_str){0}, &s->attrs[k], t))
                return -1;
        if (s->name.len && lpush(v, t, NOA_STR("scope_name"), s->name))
            return -1;
        if (s->version.len && lpush(v, t, NOA_STR("scope_version"), s->version))
            return -1;
        if (s->dropped &&
            lpush(v, t, NOA_STR("scope_dropped_attributes_count"), fmt_num(v, 0, s->dropped)))
            return -1;
        for (uint32_t k = 0; k < s->n_recs; k++)
            if (record_entry(v, &s->recs[k], stream))
                return -1;
    }
    return 0;
}

static int convert(struct noa__otlp_ctx *c, const struct noa_otlp_opts *opts,
                   const struct noa__otlp_req *q, struct noa_push_request *out)
{
    struct conv v = {.c = c, .opts = opts};
    int rc = 0;
    for (uint32_t i = 0; i < q->n_res && !rc; i++)
        rc = convert_resource(&v, &q->res[i]);
    if (rc)
        goto done;
    out->n_streams = (uint32_t)v.n_streams;
    out->streams = noa__otlp_out_alloc(c, v.n_streams, sizeof(*out->streams));
    if (v.n_streams && !out->streams) {
        rc = -1;
        goto done;
    }
    for (size_t i = 0; i < v.n_streams; i++) {
        out->streams[i].labels = v.streams[i].labels;
        out->streams[i].entries =
            noa__otlp_out_alloc(c, v.streams[i].n_entries, sizeof(*out->streams[i].entries));
        if (v.streams[i].n_entries && !out->streams[i].entries) {
            rc = -1;
            goto done;
        }
    }
    for (size_t i = 0; i < v.n_entries; i++) {
        struct noa_push_stream *s = &out->streams[v.entries[i].stream];
        s->entries[s->n_entries++] = v.entries[i].e;
    }
done:
    noa_buf_fini(&v.tmp);
    noa_free(v.meta.v);
    noa_free(v.lab.v);
    noa_free(v.rmeta.v);
    noa_free(v.tail.v);
    noa_free(v.streams);
    noa_free(v.slots);
    noa_free(v.entries);
    return rc;
}

/* ---- entry points -------------------------------------------------------- */

static void ctx_init(struct noa__otlp_ctx *c, const struct noa_otlp_opts *opts,
                     struct noa_push_request *out, struct noa_error *err)
{
    memset(out, 0, sizeof(*out));
    *c = (struct noa__otlp_ctx){.arena = &out->arena, .err = err};
    c->max_mem = opts ? opts->max_mem : 0;
    c->max_depth = opts && opts->max_depth ? opts->max_depth : NOA_OTLP_DEFAULT_MAX_DEPTH;
    if (err)
        memset(err, 0, sizeof(*err));
}

static int finish(struct noa__otlp_ctx *c, int rc, struct noa_push_request *out)
{
    noa_arena_fini(&c->model);
    if (rc == 0)
        return 0;
    int code = c->err && c->err->code ? c->err->code : NOA_EINVAL;
    noa_push_request_fini(out);
    memset(out, 0, sizeof(*out));
    return code;
}

int noa_otlp_decode_proto(const void *buf, size_t n, const struct noa_otlp_opts *opts,
                          struct noa_push_request *out, struct noa_error *err)
{
    struct noa_error local;
    struct noa__otlp_ctx c;
    ctx_init(&c, opts, out, err ? err : &local);
    c.base = buf;
    struct noa__otlp_req q = {0};
    int rc = noa__otlp_proto_request(&c, (struct noa_str){buf, n}, &q);
    if (!rc)
        rc = convert(&c, opts, &q, out);
    return finish(&c, rc, out);
}

int noa_otlp_decode_json(const void *body, size_t n, const struct noa_otlp_opts *opts,
                         struct noa_push_request *out, struct noa_error *err)
{
    struct noa_error local;
    struct noa__otlp_ctx c;
    ctx_init(&c, opts, out, err ? err : &local);
    json_error_t je;
    json_t *root = json_loadb(body, n, JSON_ALLOW_NUL, &je);
    int rc;
    if (!root) {
        rc = noa_error_set_at(c.err, NOA_EINVAL, je.line, je.column,
                              "otlp json: %s (line %d, column %d)", je.text, je.line, je.column);
        return finish(&c, rc, out);
    }
    struct noa__otlp_req q = {0};
    rc = noa__otlp_json_request(&c, root, &q);
    if (!rc)
        rc = convert(&c, opts, &q, out);
    json_decref(root);
    return finish(&c, rc, out);
}

void noa_otlp_encode_status(const char *msg, size_t len, struct noa_buf *out)
{
    if (!len)
        return;              /* every field at its zero value: an empty message */
    noa_buf_putc(out, 0x12); /* field 2 (message), wire type 2 */
    noa_buf_put_uvarint(out, len);
    noa_buf_append(out, msg, len);
}
