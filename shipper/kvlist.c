/*
 * The shipper's small name/value map (see kvlist.h): pairs as offsets into
 * one byte store, linear lookups, sorted export on demand.
 */
#include "shipper/kvlist.h"

#include "common/mem.h"

#include <stdlib.h>

void noa_kvlist_init(struct noa_kvlist *l)
{
    memset(l, 0, sizeof(*l));
}

void noa_kvlist_fini(struct noa_kvlist *l)
{
    noa_free(l->v);
    noa_free(l->sorted);
    noa_buf_fini(&l->store);
    memset(l, 0, sizeof(*l));
}

void noa_kvlist_reset(struct noa_kvlist *l)
{
    l->n = 0;
    noa_buf_reset(&l->store);
}

static int64_t find(const struct noa_kvlist *l, struct noa_str name)
{
    /* lengths first: most names differ in length, and memcmp is a call */
    for (uint32_t i = 0; i < l->n; i++)
        if (l->v[i].name_len == name.len &&
            (name.len == 0 || memcmp(l->store.data + l->v[i].name_off, name.p, name.len) == 0))
            return i;
    return -1;
}

/* A string to copy into the store. It may live in the store itself (a
 * value copied from another pair), so it is remembered by offset: the
 * store may move while the pair is being added. */
struct src {
    struct noa_str s; /* outside the store */
    int64_t off;      /* >= 0: inside the store at this offset */
};

static struct src src_of(const struct noa_kvlist *l, struct noa_str s)
{
    if (s.len && l->store.data && s.p >= l->store.data && s.p < l->store.data + l->store.len)
        return (struct src){s, s.p - l->store.data};
    return (struct src){s, -1};
}

/* Room for n more bytes (noa_buf_reserve only when it must grow). */
static inline void store_room(struct noa_kvlist *l, size_t n)
{
    if (l->store.cap - l->store.len <= n)
        noa_buf_reserve(&l->store, n);
}

/* Appends the bytes (room already made) and returns their offset in the
 * store. */
static size_t store_put(struct noa_kvlist *l, struct src x)
{
    size_t off = l->store.len;
    if (x.s.len == 0)
        return off;
    const char *from = x.off >= 0 ? l->store.data + x.off : x.s.p;
    memcpy(l->store.data + off, from, x.s.len);
    l->store.len += x.s.len;
    return off;
}

void noa_kvlist_set(struct noa_kvlist *l, struct noa_str name, struct noa_str value)
{
    int64_t i = find(l, name);
    if (i >= 0) {
        struct noa_kv *kv = &l->v[i];
        if (value.len <= kv->value_len) {
            /* Fits where the old value was (memmove: value may overlap it). */
            if (value.len)
                memmove(l->store.data + kv->value_off, value.p, value.len);
            kv->value_len = value.len;
            return;
        }
        struct src vs = src_of(l, value);
        store_room(l, value.len);
        size_t off = store_put(l, vs);
        l->v[i].value_off = off;
        l->v[i].value_len = value.len;
        return;
    }
    noa_kvlist_append(l, name, value);
}

void noa_kvlist_append(struct noa_kvlist *l, struct noa_str name, struct noa_str value)
{
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 8;
        l->v = noa_xrealloc(l->v, (size_t)cap * sizeof(*l->v));
        l->cap = cap;
    }
    struct src n = src_of(l, name), v = src_of(l, value);
    store_room(l, name.len + value.len); /* once for both */
    size_t noff = store_put(l, n);
    size_t voff = store_put(l, v);
    l->v[l->n++] = (struct noa_kv){noff, name.len, voff, value.len};
}

int noa_kvlist_get(const struct noa_kvlist *l, struct noa_str name, struct noa_str *value)
{
    int64_t i = find(l, name);
    if (i < 0)
        return 0;
    *value = noa_kvlist_value(l, (uint32_t)i);
    return 1;
}

int noa_kvlist_del(struct noa_kvlist *l, struct noa_str name)
{
    int64_t i = find(l, name);
    if (i < 0)
        return 0;
    memmove(&l->v[i], &l->v[i + 1], (l->n - (uint32_t)i - 1) * sizeof(*l->v));
    l->n--;
    return 1;
}

void noa_kvlist_copy(struct noa_kvlist *dst, const struct noa_kvlist *src)
{
    noa_kvlist_reset(dst);
    if (src->n > dst->cap) {
        dst->v = noa_xrealloc(dst->v, (size_t)src->n * sizeof(*dst->v));
        dst->cap = src->n;
    }
    if (src->store.len)
        noa_buf_append(&dst->store, src->store.data, src->store.len);
    if (src->n)
        memcpy(dst->v, src->v, (size_t)src->n * sizeof(*src->v));
    dst->n = src->n;
}

static int label_cmp(const void *a, const void *b)
{
    return noa_str_cmp(((const struct noa_label *)a)->name, ((const struct noa_label *)b)->name);
}

void noa_kvlist_labels(struct noa_kvlist *l, struct noa_labels *out)
{
    if (l->n > l->sorted_cap) {
        l->sorted = noa_xrealloc(l->sorted, (size_t)l->n * sizeof(*l->sorted));
        l->sorted_cap = l->n;
    }
    for (uint32_t i = 0; i < l->n; i++)
        l->sorted[i] = (struct noa_label){noa_kvlist_name(l, i), noa_kvlist_value(l, i)};
    if (l->n > 1)
        qsort(l->sorted, l->n, sizeof(*l->sorted), label_cmp);
    out->v = l->sorted;
    out->n = l->n;
}

void noa_kvlist_format(struct noa_kvlist *l, struct noa_buf *out)
{
    struct noa_labels ls;
    noa_kvlist_labels(l, &ls);
    noa_labels_format(&ls, out);
}
