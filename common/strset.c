/* Open-addressing string set (see strset.h). Single-threaded. */
#include "common/strset.h"
#include "common/mem.h"

#include <stdlib.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

void noa_strset_init(struct noa_strset *s)
{
    memset(s, 0, sizeof(*s));
}

void noa_strset_fini(struct noa_strset *s)
{
    noa_free(s->slots);
    noa_free(s->hashes);
    noa_arena_fini(&s->arena);
    memset(s, 0, sizeof(*s));
}

/* The slot holding x, or the free slot where it would go. */
static size_t find(const struct noa_strset *s, struct noa_str x, uint64_t h)
{
    size_t i = (size_t)h & (s->cap - 1);
    while (s->slots[i].p && !(s->hashes[i] == h && noa_str_eq(s->slots[i], x)))
        i = (i + 1) & (s->cap - 1);
    return i;
}

static void grow(struct noa_strset *s)
{
    size_t old_cap = s->cap;
    struct noa_str *old = s->slots;
    uint64_t *old_h = s->hashes;
    s->cap = old_cap ? old_cap * 2 : 64;
    s->slots = noa_xcalloc(s->cap, sizeof(*s->slots));
    s->hashes = noa_xcalloc(s->cap, sizeof(*s->hashes));
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].p)
            continue;
        size_t j = find(s, old[i], old_h[i]);
        s->slots[j] = old[i];
        s->hashes[j] = old_h[i];
    }
    noa_free(old);
    noa_free(old_h);
}

int noa_strset_add(struct noa_strset *s, struct noa_str x)
{
    if ((s->n + 1) * 2 > s->cap)
        grow(s);
    uint64_t h = XXH3_64bits(x.p ? x.p : "", x.len);
    size_t i = find(s, x, h);
    if (s->slots[i].p)
        return 0;
    /* The arena copy is NUL-terminated, so even "" gets a non-NULL pointer. */
    s->slots[i] = (struct noa_str){noa_arena_strndup(&s->arena, x.p, x.len), x.len};
    s->hashes[i] = h;
    s->n++;
    return 1;
}

int noa_strset_has(const struct noa_strset *s, struct noa_str x)
{
    if (!s->cap)
        return 0;
    uint64_t h = XXH3_64bits(x.p ? x.p : "", x.len);
    return s->slots[find(s, x, h)].p != NULL;
}

static int str_cmp(const void *a, const void *b)
{
    return noa_str_cmp(*(const struct noa_str *)a, *(const struct noa_str *)b);
}

struct noa_str *noa_strset_sorted(const struct noa_strset *s)
{
    struct noa_str *v = noa_xmalloc((s->n ? s->n : 1) * sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i].p)
            v[k++] = s->slots[i];
    if (k > 1)
        qsort(v, k, sizeof(*v), str_cmp);
    return v;
}
