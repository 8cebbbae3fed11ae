/*
 * Series sets of the metric engine (querier/metric_series.h): a growable
 * array of series with a chained hash index by label set, values in the
 * evaluation's arena. Owned by one query thread.
 */
#include "querier/metric_series.h"

#include "common/mem.h"

#include <stdlib.h>
#include <string.h>

void noa_metric_set_init(struct noa_metric_set *set, struct noa_arena *arena, uint32_t nsteps,
                         uint32_t max_series)
{
    memset(set, 0, sizeof(*set));
    set->arena = arena;
    set->nsteps = nsteps;
    set->max_series = max_series;
}

void noa_metric_set_init_scalar(struct noa_metric_set *set, struct noa_arena *arena,
                                uint32_t nsteps)
{
    noa_metric_set_init(set, arena, nsteps, 0);
    set->is_scalar = 1;
    set->scalar_v = noa_arena_alloc(arena, sizeof(double) * (nsteps ? nsteps : 1));
    memset(set->scalar_v, 0, sizeof(double) * nsteps);
}

void noa_metric_set_fini(struct noa_metric_set *set)
{
    noa_free(set->s);
    noa_free(set->bucket);
    set->s = NULL;
    set->bucket = NULL;
    set->n = set->cap = set->nbucket = 0;
}

static void reindex(struct noa_metric_set *set, uint32_t nbucket)
{
    noa_free(set->bucket);
    set->bucket = noa_xcalloc(nbucket, sizeof(uint32_t));
    set->nbucket = nbucket;
    for (uint32_t i = 0; i < set->n; i++) {
        uint32_t b = (uint32_t)(set->s[i].hash & (nbucket - 1));
        set->s[i].next = set->bucket[b];
        set->bucket[b] = i + 1;
    }
}

int noa_metric_set_get(struct noa_metric_set *set, const struct noa_labels *ls, uint64_t hash,
                       uint32_t *idx, struct noa_error *err)
{
    if (set->nbucket) {
        for (uint32_t i = set->bucket[hash & (set->nbucket - 1)]; i; i = set->s[i - 1].next) {
            const struct noa_metric_series *s = &set->s[i - 1];
            if (s->hash == hash && noa_labels_cmp(&s->labels, ls) == 0) {
                *idx = i - 1;
                return 0;
            }
        }
    }
    if (set->max_series && set->n >= set->max_series)
        return noa_error_set(err, NOA_EINVAL, NOA_METRIC_SERIES_LIMIT_FMT,
                             set->shown_limit ? set->shown_limit : set->max_series);
    if (set->n == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 16;
        set->s = noa_xrealloc(set->s, sizeof(*set->s) * set->cap);
    }
    struct noa_metric_series *s = &set->s[set->n];
    memset(s, 0, sizeof(*s));
    s->hash = hash;
    s->labels.n = ls->n;
    s->labels.v = noa_arena_alloc(set->arena, sizeof(struct noa_label) * (ls->n ? ls->n : 1));
    for (uint32_t i = 0; i < ls->n; i++) {
        s->labels.v[i].name = noa_arena_str(set->arena, ls->v[i].name);
        s->labels.v[i].value = noa_arena_str(set->arena, ls->v[i].value);
    }
    size_t steps = set->nsteps ? set->nsteps : 1;
    s->v = noa_arena_alloc(set->arena, sizeof(double) * steps);
    s->has = noa_arena_alloc(set->arena, steps);
    memset(s->v, 0, sizeof(double) * steps);
    memset(s->has, 0, steps);
    *idx = set->n++;
    /* Keep the load factor at or below 1/2. */
    if (set->n * 2 > set->nbucket)
        reindex(set, set->nbucket ? set->nbucket * 2 : 32);
    else {
        uint32_t b = (uint32_t)(hash & (set->nbucket - 1));
        s->next = set->bucket[b];
        set->bucket[b] = set->n;
    }
    return 0;
}

static int series_cmp(const void *a, const void *b)
{
    const struct noa_metric_series *x = a, *y = b;
    return noa_labels_cmp(&x->labels, &y->labels);
}

void noa_metric_set_sort(struct noa_metric_set *set)
{
    if (set->n > 1)
        qsort(set->s, set->n, sizeof(*set->s), series_cmp);
    if (set->nbucket)
        reindex(set, set->nbucket);
}

uint64_t noa_metric_set_points(const struct noa_metric_set *set)
{
    if (set->is_scalar)
        return set->nsteps;
    uint64_t n = 0;
    for (uint32_t i = 0; i < set->n; i++)
        for (uint32_t k = 0; k < set->nsteps; k++)
            n += set->s[i].has[k];
    return n;
}

int noa_metric_names_has(const struct noa_logql_labels *l, struct noa_str name)
{
    for (unsigned i = 0; i < l->n; i++)
        if (noa_str_eq_c(name, l->v[i]))
            return 1;
    return 0;
}

void noa_metric_group(const struct noa_labels *in, const struct noa_logql_grouping *g,
                      const char *drop1, struct noa_labels *out)
{
    uint32_t k = 0;
    int by = g && g->present && !g->without;
    for (uint32_t i = 0; i < in->n; i++) {
        struct noa_str name = in->v[i].name;
        int keep;
        if (by)
            keep = noa_metric_names_has(&g->labels, name);
        else
            keep = !(g && g->present && noa_metric_names_has(&g->labels, name)) &&
                   !(drop1 && noa_str_eq_c(name, drop1));
        if (keep)
            out->v[k++] = in->v[i];
    }
    out->n = k;
}
