/*
 * Label summary for /detected_labels (see detected_labels.h). Labels are
 * kept in an array sorted by name; a query touches at most the tenant's
 * label names, so the binary search and insertion stay cheap. One thread.
 */
#include "querier/detected_labels.h"
#include "common/mem.h"
#include "common/strset.h"
#include "querier/fieldtype.h"

#include <string.h>

struct dlabel {
    struct noa_str name; /* in the arena */
    struct noa_strset values;
};

struct noa_detected_labels {
    struct dlabel *v; /* sorted by name */
    size_t n, cap;
    struct noa_arena arena;
};

struct noa_detected_labels *noa_detected_labels_new(void)
{
    return noa_xcalloc(1, sizeof(struct noa_detected_labels));
}

void noa_detected_labels_free(struct noa_detected_labels *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        noa_strset_fini(&d->v[i].values);
    noa_free(d->v);
    noa_arena_fini(&d->arena);
    noa_free(d);
}

static struct dlabel *label_get(struct noa_detected_labels *d, struct noa_str name)
{
    size_t lo = 0, hi = d->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = noa_str_cmp(d->v[mid].name, name);
        if (c == 0)
            return &d->v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->v = noa_xrealloc(d->v, d->cap * sizeof(*d->v));
    }
    memmove(&d->v[lo + 1], &d->v[lo], (d->n - lo) * sizeof(*d->v));
    d->n++;
    struct dlabel *l = &d->v[lo];
    l->name = noa_arena_str(&d->arena, name);
    noa_strset_init(&l->values);
    return l;
}

void noa_detected_labels_add(struct noa_detected_labels *d, const struct noa_labels *ls)
{
    for (uint32_t i = 0; i < ls->n; i++) {
        /* Internal labels (`__stream_shard__` and the like) are Loki's
         * bookkeeping, which its label answers never show. */
        if (ls->v[i].name.len >= 2 && !memcmp(ls->v[i].name.p, "__", 2))
            continue;
        noa_strset_add(&label_get(d, ls->v[i].name)->values, ls->v[i].value);
    }
}

/* Loki's containsAllIDTypes: every value parses as a float or a UUID. */
static int all_ids(const struct noa_str *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!noa_fieldtype_is_float(values[i]) && !noa_fieldtype_is_uuid(values[i]))
            return 0;
    return 1;
}

int noa_detected_labels_keep(const struct noa_str *values, size_t n)
{
    if (!n)
        return 0;
    if (n > 2)
        return !all_ids(values, n);
    /* One or two values that are all 0/1 read as a flag, not an ID. */
    for (size_t i = 0; i < n; i++)
        if (!noa_str_eq_c(values[i], "0") && !noa_str_eq_c(values[i], "1"))
            return !all_ids(values, n);
    return 1;
}

static int is_static(struct noa_str name)
{
    return noa_str_eq_c(name, "cluster") || noa_str_eq_c(name, "namespace") ||
           noa_str_eq_c(name, "instance") || noa_str_eq_c(name, "pod");
}

void noa_detected_labels_encode(const struct noa_detected_labels *d, struct noa_buf *out)
{
    size_t kept = 0;
    for (size_t i = 0; i < d->n; i++) {
        const struct dlabel *l = &d->v[i];
        struct noa_str *vals = noa_strset_sorted(&l->values);
        int keep = (is_static(l->name) && l->values.n) || noa_detected_labels_keep(vals, l->values.n);
        noa_free(vals);
        if (!keep)
            continue;
        noa_buf_append_str(out, kept ? NOA_STR(",{\"label\":") : NOA_STR("{\"detectedLabels\":[{\"label\":"));
        noa_buf_put_json_str(out, l->name.p, l->name.len);
        noa_buf_printf(out, ",\"cardinality\":%zu}", l->values.n);
        kept++;
    }
    noa_buf_append_str(out, kept ? NOA_STR("]}\n") : NOA_STR("{}\n"));
}
