/*
 * The per-line label builder (see lbuilder.h). Entries live in one array:
 * the stream labels first (borrowed slices, deletable by flag), then the
 * line's metadata and parsed labels, whose bytes are appended to a store
 * that is rewound per line. Offsets, not pointers, name the stored bytes,
 * so growing the store never invalidates an entry. Every entry carries
 * the hash of its name: line entries are found through an open-addressing
 * index (emptied per line by a generation bump), stream entries through a
 * 64-bit bloom word and a short walk. Single-threaded.
 */
#include "common/lbuilder.h"
#include "common/mem.h"

#include <stdlib.h>

struct noa_lb_ent {
    const char *np, *vp; /* borrowed bytes, when !owned */
    size_t noff, voff;   /* offsets into store, when owned */
    size_t nlen, vlen;
    uint32_t hash; /* of the name */
    uint8_t cat;
    uint8_t del;       /* stream entries only: hidden for this line */
    uint8_t owned;
    uint8_t by_parser; /* parsed entries written by a parser (first wins) */
    uint8_t kill;      /* marked by noa_lbuilder_retain */
};

struct noa_lb_slot {
    uint32_t gen; /* the builder's gen when the slot was filled */
    uint32_t idx; /* entry index */
};

/* A hash of a label name, eight bytes at a time (names are short). */
static uint32_t name_hash(struct noa_str s)
{
    const char *p = s.p;
    size_t n = s.len;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    if (n) {
        /* The tail by whole-word loads that cover every byte (overlapping
         * for 4..7, three picks for 1..3): a variable-length copy into a
         * stack word stalls on store-to-load forwarding. The length is
         * already in h, so covering each byte once is enough. */
        uint64_t w;
        if (n >= 4) {
            uint32_t lo, hi;
            memcpy(&lo, p, 4);
            memcpy(&hi, p + n - 4, 4);
            w = lo | (uint64_t)hi << 32;
        } else {
            w = (uint64_t)(unsigned char)p[0] | (uint64_t)(unsigned char)p[n / 2] << 8 |
                (uint64_t)(unsigned char)p[n - 1] << 16;
        }
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 29;
    }
    h *= 0x94d049bb133111ebull;
    return (uint32_t)(h >> 32);
}

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
    noa_free(b->slot);
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
    b->stream_bloom = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct noa_lb_ent *e = &b->ent[i];
        memset(e, 0, sizeof(*e));
        e->np = stream->v[i].name.p;
        e->nlen = stream->v[i].name.len;
        e->vp = stream->v[i].value.p;
        e->vlen = stream->v[i].value.len;
        e->cat = NOA_LB_STREAM;
        e->hash = name_hash(stream->v[i].name);
        b->stream_bloom |= 1ull << (e->hash & 63);
    }
    b->nstream = b->n = n;
    noa_lbuilder_reset(b);
}

/* Empties the index (a new generation) without touching the table. */
static void index_clear(struct noa_lbuilder *b)
{
    if (++b->gen == 0) { /* wrapped: old slots could look current */
        if (b->slot)
            memset(b->slot, 0, b->slot_cap * sizeof(*b->slot));
        b->gen = 1;
    }
}

static void index_put(struct noa_lbuilder *b, uint32_t idx)
{
    uint32_t mask = b->slot_cap - 1;
    uint32_t i = b->ent[idx].hash & mask;
    while (b->slot[i].gen == b->gen)
        i = (i + 1) & mask;
    b->slot[i] = (struct noa_lb_slot){b->gen, idx};
}

/* Re-indexes the line entries (after the array was compacted or cut). */
static void index_rebuild(struct noa_lbuilder *b)
{
    index_clear(b);
    for (uint32_t i = b->nstream; i < b->n; i++)
        index_put(b, i);
}

/* Makes room in the index for `lines` line entries (load <= 1/2). */
static void index_reserve(struct noa_lbuilder *b, uint32_t lines)
{
    if ((uint64_t)lines * 2 <= b->slot_cap)
        return;
    uint32_t cap = b->slot_cap ? b->slot_cap : 64;
    while ((uint64_t)cap < (uint64_t)lines * 2)
        cap *= 2;
    noa_free(b->slot);
    b->slot = noa_xcalloc(cap, sizeof(*b->slot));
    b->slot_cap = cap;
    b->gen = 1;
    for (uint32_t i = b->nstream; i < b->n; i++)
        index_put(b, i);
}

void noa_lbuilder_reset(struct noa_lbuilder *b)
{
    for (uint32_t i = 0; i < b->nstream; i++)
        b->ent[i].del = 0;
    b->n = b->nstream;
    noa_buf_reset(&b->store);
    noa_buf_reset(&b->err);
    noa_buf_reset(&b->details);
    b->meta_bloom = 0;
    index_clear(b);
}

static struct noa_lb_ent *find_h(const struct noa_lbuilder *b, enum noa_lb_cat cat,
                                 struct noa_str name, uint32_t h)
{
    if (cat == NOA_LB_META && !(b->meta_bloom >> (h & 63) & 1))
        return NULL;
    if (cat == NOA_LB_STREAM) {
        if (!(b->stream_bloom >> (h & 63) & 1))
            return NULL;
        for (uint32_t i = 0; i < b->nstream; i++) {
            struct noa_lb_ent *e = &b->ent[i];
            if (e->hash == h && noa_str_eq(ent_name(b, e), name))
                return e;
        }
        return NULL;
    }
    if (!b->slot_cap)
        return NULL;
    uint32_t mask = b->slot_cap - 1;
    for (uint32_t i = h & mask; b->slot[i].gen == b->gen; i = (i + 1) & mask) {
        struct noa_lb_ent *e = &b->ent[b->slot[i].idx];
        if (e->hash == h && e->cat == cat && noa_str_eq(ent_name(b, e), name))
            return e;
    }
    return NULL;
}

static struct noa_lb_ent *find(const struct noa_lbuilder *b, enum noa_lb_cat cat,
                               struct noa_str name)
{
    return find_h(b, cat, name, name_hash(name));
}

static int is_err_name(struct noa_str n)
{
    return noa_str_eq_c(n, NOA_LB_ERROR);
}

static int is_details_name(struct noa_str n)
{
    return noa_str_eq_c(n, NOA_LB_ERROR_DETAILS);
}

/* Makes room for `extra` more bytes in the store. x and y may point into
 * the store itself (a label copied from another): growing moves it, so
 * they are re-pointed at the new copy. */
static void store_room(struct noa_lbuilder *b, size_t extra, struct noa_str *x, struct noa_str *y)
{
    if (b->store.cap - b->store.len >= extra)
        return;
    uintptr_t lo = (uintptr_t)b->store.data, hi = lo + b->store.len;
    uintptr_t px = (uintptr_t)x->p, py = (uintptr_t)y->p;
    int ax = lo && px >= lo && px < hi, ay = lo && py >= lo && py < hi;
    noa_buf_reserve(&b->store, extra);
    if (ax)
        x->p = b->store.data + (px - lo);
    if (ay)
        y->p = b->store.data + (py - lo);
}

/* Appends s to the store (room made first) and returns its offset. */
static size_t store_put(struct noa_lbuilder *b, struct noa_str s)
{
    size_t off = b->store.len;
    if (s.len)
        memcpy(b->store.data + off, s.p, s.len);
    b->store.len += s.len;
    return off;
}

/* Adds a line entry for a name not in category cat. */
static struct noa_lb_ent *append(struct noa_lbuilder *b, enum noa_lb_cat cat, struct noa_str name,
                                 uint32_t h, struct noa_str value)
{
    if (b->n + 1 > b->cap)
        reserve(b, b->n + 1);
    if ((uint64_t)(b->n + 1 - b->nstream) * 2 > b->slot_cap)
        index_reserve(b, b->n + 1 - b->nstream);
    store_room(b, name.len + value.len, &name, &value);
    struct noa_lb_ent *e = &b->ent[b->n++];
    *e = (struct noa_lb_ent){.cat = (uint8_t)cat, .owned = 1, .hash = h, .nlen = name.len,
                             .vlen = value.len};
    e->noff = store_put(b, name);
    e->voff = store_put(b, value);
    index_put(b, b->n - 1);
    if (cat == NOA_LB_META)
        b->meta_bloom |= 1ull << (h & 63);
    return e;
}

static struct noa_lb_ent *set_raw_h(struct noa_lbuilder *b, enum noa_lb_cat cat,
                                    struct noa_str name, uint32_t h, struct noa_str value)
{
    struct noa_lb_ent *s = find_h(b, NOA_LB_STREAM, name, h);
    if (s)
        s->del = 0; /* Loki's Set undeletes the name */
    struct noa_lb_ent *e = find_h(b, cat, name, h);
    if (!e)
        return append(b, cat, name, h, value);
    store_room(b, value.len, &value, &value);
    e->vlen = value.len;
    e->voff = store_put(b, value);
    return e;
}

static struct noa_lb_ent *set_raw(struct noa_lbuilder *b, enum noa_lb_cat cat,
                                  struct noa_str name, struct noa_str value)
{
    return set_raw_h(b, cat, name, name_hash(name), value);
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
    struct noa_str suffix = {NOA_LB_DUP_SUFFIX, sl};
    store_room(b, name.len + sl, &name, &suffix);
    size_t off = store_put(b, name);
    store_put(b, suffix);
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

/* The name a parser writes for `name` (renamed on a clash with a stream
 * label or metadata) and its hash. */
static struct noa_str parsed_name(struct noa_lbuilder *b, struct noa_str name, uint32_t *h,
                                  char *tmp, size_t tmpcap)
{
    *h = name_hash(name);
    /* Both bloom words first: most parsed names clash with nothing. */
    if (((b->stream_bloom | b->meta_bloom) >> (*h & 63) & 1) &&
        (find_h(b, NOA_LB_STREAM, name, *h) || find_h(b, NOA_LB_META, name, *h))) {
        struct noa_str renamed = suffixed(b, name, tmp, tmpcap);
        if (renamed.p != name.p || renamed.len != name.len)
            *h = name_hash(renamed);
        name = renamed;
    }
    return name;
}

int noa_lbuilder_add_parsed(struct noa_lbuilder *b, struct noa_str name, struct noa_str value)
{
    char tmp[256];
    uint32_t h;
    struct noa_str final = parsed_name(b, name, &h, tmp, sizeof(tmp));
    struct noa_lb_ent *e = find_h(b, NOA_LB_PARSED, final, h);
    if (e && e->by_parser)
        return 0;
    /* The common case, a new name that no stream label holds, skips
     * set_raw's lookups: they would find nothing. */
    if (!e && final.p == name.p && !(b->stream_bloom >> (h & 63) & 1))
        e = append(b, NOA_LB_PARSED, final, h, value);
    else
        e = set_raw_h(b, NOA_LB_PARSED, final, h, value);
    e->by_parser = 1;
    return 1;
}

void noa_lbuilder_set_parsed(struct noa_lbuilder *b, struct noa_str name, struct noa_str value)
{
    char tmp[256];
    uint32_t h;
    name = parsed_name(b, name, &h, tmp, sizeof(tmp));
    set_raw_h(b, NOA_LB_PARSED, name, h, value)->by_parser = 1;
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
    if (w != b->n) {
        b->n = w;
        index_rebuild(b);
    }
}

int noa_lbuilder_mark(const struct noa_lbuilder *b, struct noa_lbuilder_mark *m)
{
    if (b->err.len || b->details.len)
        return 0;
    for (uint32_t i = 0; i < b->nstream; i++)
        if (b->ent[i].del)
            return 0;
    for (uint32_t i = b->nstream; i < b->n; i++)
        if (b->ent[i].cat == NOA_LB_PARSED)
            return 0;
    m->n = b->n;
    m->store_len = b->store.len;
    return 1;
}

void noa_lbuilder_rewind(struct noa_lbuilder *b, const struct noa_lbuilder_mark *m)
{
    /* Parsers only append entries (and undelete stream labels, which
     * were all visible at the mark), so cutting the array is enough. */
    b->n = m->n;
    b->store.len = m->store_len;
    noa_buf_reset(&b->err);
    noa_buf_reset(&b->details);
    index_rebuild(b);
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
        if (find_h(b, (enum noa_lb_cat)c, n, e->hash))
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

/* a's name sorts before c's; most names differ in their first byte. */
static int label_before(const struct noa_label *a, const struct noa_label *c)
{
    if (a->name.len && c->name.len && a->name.p[0] != c->name.p[0])
        return (unsigned char)a->name.p[0] < (unsigned char)c->name.p[0];
    return noa_str_cmp(a->name, c->name) < 0;
}

/* Sorts by name (stably up to 48): an insertion sort for the usual few dozen
 * labels, which beats qsort's indirect compares; qsort beyond that. */
static void sort_labels(struct noa_label *v, uint32_t n)
{
    if (n > 48) {
        qsort(v, n, sizeof(*v), cmp_label);
        return;
    }
    for (uint32_t i = 1; i < n; i++) {
        struct noa_label x = v[i];
        uint32_t j = i;
        for (; j > 0 && label_before(&x, &v[j - 1]); j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
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
            b->out[k++] = (struct noa_label){NOA_STR(NOA_LB_ERROR_DETAILS),
                                             {b->details.data, b->details.len}};
    }
    sort_labels(b->out, k);
    out->v = b->out;
    out->n = k;
}
