/*
 * The per-line label builder (see lbuilder.h). Entries live in one array:
 * the stream labels first (borrowed slices, deletable by flag), then the
 * line's metadata and parsed labels, whose bytes are appended to a store
 * that is rewound per line. Offsets, not pointers, name the stored bytes,
 * so growing the store never invalidates an entry. Single-threaded.
 */
#include "common/lbuilder.h"
#include "common/mem.h"

#include <stdlib.h>

struct noa_lb_ent {
    const char *np, *vp; /* borrowed bytes, when !owned */
    size_t noff, voff;   /* offsets into store, when owned */
    size_t nlen, vlen;
    uint8_t cat;
    uint8_t del;       /* stream entries only: hidden for this line */
    uint8_t owned;
    uint8_t by_parser; /* parsed entries written by a parser (first wins) */
    uint8_t kill;      /* marked by noa_lbuilder_retain */
};

static struct noa_str ent_name(const struct noa_lbuilder *b, const struct noa_lb_ent *e)
{
    return e->owned ? (struct noa_str){b->store.data + e->noff, e->nlen}
                    : (struct noa_str){e->np, e->nlen};
}

static struct noa_str ent_value(const struct noa_lbuilder *b, const struct noa_lb_ent *e)
{
    return e->owned ? (struct noa_str){b->store.data + e->voff, e->vlen}
                    : (struct noa_str){e->vp, e->vlen};
}

void noa_lbuilder_init(struct noa_lbuilder *b)
{
    memset(b, 0, sizeof(*b));
}

void noa_lbuilder_fini(struct noa_lbuilder *b)
{
    noa_free(b->ent);
    noa_free(b->out);
    noa_buf_fini(&b->store);
    noa_buf_fini(&b->err);
    noa_buf_fini(&b->details);
    for (int i = 0; i < NOA_LB_SCRATCH; i++)
        noa_buf_fini(&b->scratch[i]);
    memset(b, 0, sizeof(*b));
}

static void reserve(struct noa_lbuilder *b, uint32_t n)
{
    if (n <= b->cap)
        return;
    uint32_t cap = b->cap ? b->cap : 16;
    while (cap < n)
        cap *= 2;
    b->ent = noa_xrealloc(b->ent, cap * sizeof(*b->ent));
    b->cap = cap;
}

void noa_lbuilder_reset_stream(struct noa_lbuilder *b, const struct noa_labels *stream)
{
    uint32_t n = stream ? stream->n : 0;
    reserve(b, n);
    for (uint32_t i = 0; i < n; i++) {
        struct noa_lb_ent *e = &b->ent[i];
        memset(e, 0, sizeof(*e));
        e->np = stream->v[i].name.p;
        e->nlen = stream->v[i].name.len;
        e->vp = stream->v[i].value.p;
        e->vlen = stream->v[i].value.len;
        e->cat = NOA_LB_STREAM;
    }
    b->nstream = b->n = n;
    noa_lbuilder_reset(b);
}

void noa_lbuilder_reset(struct noa_lbuilder *b)
{
    for (uint32_t i = 0; i < b->nstream; i++)
        b->ent[i].del = 0;
    b->n = b->nstream;
    noa_buf_reset(&b->store);
    noa_buf_reset(&b->err);
    noa_buf_reset(&b->details);
}

static struct noa_lb_ent *find(const struct noa_lbuilder *b, enum noa_lb_cat cat,
                               struct noa_str name)
{
    uint32_t lo = cat == NOA_LB_STREAM ? 0 : b->nstream;
    uint32_t hi = cat == NOA_LB_STREAM ? b->nstream : b->n;
    for (uint32_t i = lo; i < hi; i++) {
        struct noa_lb_ent *e = &b->ent[i];
        if (e->cat == cat && noa_str_eq(ent_name(b, e), name))
            return e;
    }
    return NULL;
}

static int is_err_name(struct noa_str n)
{
    return noa_str_eq_c(n, NOA_LB_ERROR);
}

static int is_details_name(struct noa_str n)
{
    return noa_str_eq_c(n, NOA_LB_ERROR_DETAILS);
}

/* Appends s to the store and returns its offset; s may point into the
 * store itself (a label copied from another), which growing would move. */
static size_t store_put(struct noa_lbuilder *b, struct noa_str s)
{
    size_t off = b->store.len;
    if (!s.len)
        return off;
    int alias = b->store.data && s.p >= b->store.data && s.p < b->store.data + b->store.len;
    size_t aoff = alias ? (size_t)(s.p - b->store.data) : 0;
    noa_buf_reserve(&b->store, s.len);
    memmove(b->store.data + off, alias ? b->store.data + aoff : s.p, s.len);
    b->store.len += s.len;
    return off;
}

static struct noa_lb_ent *set_raw(struct noa_lbuilder *b, enum noa_lb_cat cat,
                                  struct noa_str name, struct noa_str value)
{
    struct noa_lb_ent *s = find(b, NOA_LB_STREAM, name);
    if (s)
        s->del = 0; /* Loki's Set undeletes the name */
    struct noa_lb_ent *e = find(b, cat, name);
    if (!e) {
        reserve(b, b->n + 1);
        e = &b->ent[b->n++];
        memset(e, 0, sizeof(*e));
        e->cat = (uint8_t)cat;
        e->owned = 1;
        e->nlen = name.len;
        e->noff = store_put(b, name);
    }
    e->vlen = value.len;
    e->voff = store_put(b, value);
    return e;
}

void noa_lbuilder_set(struct noa_lbuilder *b, enum noa_lb_cat cat, struct noa_str name,
                      struct noa_str value)
{
    if (is_err_name(name)) {
        noa_buf_reset(&b->err);
        noa_buf_append(&b->err, value.p, value.len);
        return;
    }
    if (is_details_name(name)) {
        noa_buf_reset(&b->details);
        noa_buf_append(&b->details, value.p, value.len);
        return;
    }
    if (cat == NOA_LB_STREAM)
        cat = NOA_LB_PARSED;
    set_raw(b, cat, name, value);
}

/* Builds name + "_extracted" in a small stack buffer when it fits, else
 * in the store's tail (names are short in practice). */
static struct noa_str suffixed(struct noa_lbuilder *b, struct noa_str name, char *tmp,
                               size_t tmpcap)
{
    size_t sl = sizeof(NOA_LB_DUP_SUFFIX) - 1;
    if (name.len >= sl && !memcmp(name.p + name.len - sl, NOA_LB_DUP_SUFFIX, sl))
        return name; /* never stacked */
    if (name.len + sl <= tmpcap) {
        memcpy(tmp, name.p, name.len);
        memcpy(tmp + name.len, NOA_LB_DUP_SUFFIX, sl);
        return (struct noa_str){tmp, name.len + sl};
    }
    /* Rare long name: a scratch copy in the store (wasted until reset). */
    size_t off = store_put(b, name);
    store_put(b, (struct noa_str){NOA_LB_DUP_SUFFIX, sl});
    return (struct noa_str){b->store.data + off, name.len + sl};
}

static int stream_has(const struct noa_lbuilder *b, struct noa_str name)
{
    const struct noa_lb_ent *e = find(b, NOA_LB_STREAM, name);
    return e != NULL;
}

void noa_lbuilder_add_meta(struct noa_lbuilder *b, struct noa_str name, struct noa_str value)
{
    char tmp[256];
    if (stream_has(b, name))
        name = suffixed(b, name, tmp, sizeof(tmp));
    set_raw(b, NOA_LB_META, name, value);
}

void noa_lbuilder_parsed_name(const struct noa_lbuilder *b, struct noa_str name,
                              struct noa_buf *out)
{
    noa_buf_reset(out);
    noa_buf_append(out, name.p, name.len);
    size_t sl = sizeof(NOA_LB_DUP_SUFFIX) - 1;
    if (stream_has(b, name) || find(b, NOA_LB_META, name)) {
        if (!(name.len >= sl && !memcmp(name.p + name.len - sl, NOA_LB_DUP_SUFFIX, sl)))
            noa_buf_append(out, NOA_LB_DUP_SUFFIX, sl);
    }
}

int noa_lbuilder_add_parsed(struct noa_lbuilder *b, struct noa_str name, struct noa_str value)
{
    char tmp[256];
    if (stream_has(b, name) || find(b, NOA_LB_META, name))
        name = suffixed(b, name, tmp, sizeof(tmp));
    struct noa_lb_ent *e = find(b, NOA_LB_PARSED, name);
    if (e && e->by_parser)
        return 0;
    e = set_raw(b, NOA_LB_PARSED, name, value);
    e->by_parser = 1;
    return 1;
}

void noa_lbuilder_set_parsed(struct noa_lbuilder *b, struct noa_str name, struct noa_str value)
{
    char tmp[256];
    if (stream_has(b, name) || find(b, NOA_LB_META, name))
        name = suffixed(b, name, tmp, sizeof(tmp));
    set_raw(b, NOA_LB_PARSED, name, value)->by_parser = 1;
}

int noa_lbuilder_get_cat(const struct noa_lbuilder *b, enum noa_lb_cat cat, struct noa_str name,
                         struct noa_str *value)
{
    const struct noa_lb_ent *e = find(b, cat, name);
    if (!e || e->del)
        return 0;
    *value = ent_value(b, e);
    return 1;
}

int noa_lbuilder_get(const struct noa_lbuilder *b, struct noa_str name, struct noa_str *value)
{
    if (is_err_name(name) || is_details_name(name)) {
        const struct noa_buf *s = is_err_name(name) ? &b->err : &b->details;
        if (!s->len)
            return 0;
        *value = (struct noa_str){s->data, s->len};
        return 1;
    }
    return noa_lbuilder_get_cat(b, NOA_LB_PARSED, name, value) ||
           noa_lbuilder_get_cat(b, NOA_LB_META, name, value) ||
           noa_lbuilder_get_cat(b, NOA_LB_STREAM, name, value);
}

void noa_lbuilder_del(struct noa_lbuilder *b, struct noa_str name)
{
    if (is_err_name(name)) {
        noa_buf_reset(&b->err);
        return;
    }
    if (is_details_name(name)) {
        noa_buf_reset(&b->details);
        return;
    }
    struct noa_lb_ent *s = find(b, NOA_LB_STREAM, name);
    if (s)
        s->del = 1;
    /* Line entries are removed outright; their store bytes stay until reset. */
    uint32_t w = b->nstream;
    for (uint32_t i = b->nstream; i < b->n; i++) {
        if (noa_str_eq(ent_name(b, &b->ent[i]), name))
            continue;
        b->ent[w++] = b->ent[i];
    }
    b->n = w;
}

void noa_lbuilder_set_err(struct noa_lbuilder *b, struct noa_str err, struct noa_str details)
{
    noa_buf_reset(&b->err);
    noa_buf_append(&b->err, err.p, err.len);
    noa_buf_reset(&b->details);
    noa_buf_append(&b->details, details.p, details.len);
}

void noa_lbuilder_clear_err(struct noa_lbuilder *b)
{
    noa_buf_reset(&b->err);
    noa_buf_reset(&b->details);
}

/* 1 when e is the visible holder of its name (no higher category has it). */
static int visible(const struct noa_lbuilder *b, const struct noa_lb_ent *e)
{
    if (e->del)
        return 0;
    struct noa_str n = ent_name(b, e);
    for (int c = e->cat + 1; c <= NOA_LB_PARSED; c++)
        if (find(b, (enum noa_lb_cat)c, n))
            return 0;
    return 1;
}

void noa_lbuilder_each(const struct noa_lbuilder *b,
                       int (*cb)(void *ctx, enum noa_lb_cat cat, struct noa_str name,
                                 struct noa_str value),
                       void *ctx)
{
    for (uint32_t i = 0; i < b->n; i++) {
        const struct noa_lb_ent *e = &b->ent[i];
        if (visible(b, e) && cb(ctx, (enum noa_lb_cat)e->cat, ent_name(b, e), ent_value(b, e)))
            return;
    }
}

void noa_lbuilder_retain(struct noa_lbuilder *b,
                         int (*keep_cb)(void *ctx, struct noa_str name, struct noa_str value),
                         void *ctx)
{
    int any = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        struct noa_lb_ent *e = &b->ent[i];
        e->kill = visible(b, e) && !keep_cb(ctx, ent_name(b, e), ent_value(b, e));
        any |= e->kill;
    }
    /* Deleting compacts the array, so rescan after each name; the names
     * stay valid (store bytes are only rewound per line). */
    while (any) {
        any = 0;
        for (uint32_t i = 0; i < b->n; i++) {
            if (!b->ent[i].kill)
                continue;
            b->ent[i].kill = 0;
            noa_lbuilder_del(b, ent_name(b, &b->ent[i]));
            any = 1;
            break;
        }
    }
}

static int cmp_label(const void *x, const void *y)
{
    const struct noa_label *a = x, *c = y;
    return noa_str_cmp(a->name, c->name);
}

void noa_lbuilder_labels(struct noa_lbuilder *b, struct noa_labels *out)
{
    uint32_t need = b->n + 2;
    if (need > b->out_cap) {
        b->out = noa_xrealloc(b->out, need * sizeof(*b->out));
        b->out_cap = need;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        const struct noa_lb_ent *e = &b->ent[i];
        if (visible(b, e))
            b->out[k++] = (struct noa_label){ent_name(b, e), ent_value(b, e)};
    }
    if (b->err.len) {
        b->out[k++] = (struct noa_label){NOA_STR(NOA_LB_ERROR), {b->err.data, b->err.len}};
        if (b->details.len)
            b->out[k++] =
                (struct noa_label){NOA_STR(NOA_LB_ERROR_DETAILS), {b->details.data, b->details.len}};
    }
    qsort(b->out, k, sizeof(*b->out), cmp_label);
    out->v = b->out;
    out->n = k;
}
