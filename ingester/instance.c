/*
 * Tenants and their stream tables. Mutations on the loop thread under the
 * write lock; lookups under either lock (see instance.h).
 */
#include "ingester/instance.h"
#include "common/mem.h"

void noa_instance_init(struct noa_instance *in)
{
    memset(in, 0, sizeof(*in));
    pthread_rwlock_init(&in->lock, NULL);
}

void noa_instance_fini(struct noa_instance *in)
{
    struct noa_tenant *t = in->tenants;
    while (t) {
        struct noa_tenant *nt = t->next;
        struct noa_stream *s = t->streams;
        while (s) {
            struct noa_stream *ns = s->list_next;
            noa_stream_free(s);
            s = ns;
        }
        noa_free(t->table);
        noa_free(t->name);
        noa_free(t);
        t = nt;
    }
    pthread_rwlock_destroy(&in->lock);
    memset(in, 0, sizeof(*in));
}

void noa_instance_wrlock(struct noa_instance *in)
{
    pthread_rwlock_wrlock(&in->lock);
}

void noa_instance_rdlock(struct noa_instance *in)
{
    pthread_rwlock_rdlock(&in->lock);
}

void noa_instance_unlock(struct noa_instance *in)
{
    pthread_rwlock_unlock(&in->lock);
}

struct noa_tenant *noa_instance_tenant(struct noa_instance *in, const char *name)
{
    for (struct noa_tenant *t = in->tenants; t; t = t->next)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

struct noa_tenant *noa_instance_tenant_get(struct noa_instance *in, const char *name)
{
    struct noa_tenant *t = noa_instance_tenant(in, name);
    if (t)
        return t;
    t = noa_xcalloc(1, sizeof(*t));
    t->name = noa_xstrdup(name);
    t->table_size = 64;
    t->table = noa_xcalloc(t->table_size, sizeof(*t->table));
    t->next = in->tenants;
    in->tenants = t;
    in->n_tenants++;
    return t;
}

struct noa_stream *noa_instance_find(struct noa_tenant *t, uint64_t fp,
                                     const struct noa_labels *labels)
{
    for (struct noa_stream *s = t->table[fp & (t->table_size - 1)]; s; s = s->hash_next)
        if (s->fp == fp && noa_labels_cmp(&s->labels, labels) == 0)
            return s;
    return NULL;
}

static void grow(struct noa_tenant *t)
{
    uint32_t size = t->table_size * 2;
    struct noa_stream **table = noa_xcalloc(size, sizeof(*table));
    for (struct noa_stream *s = t->streams; s; s = s->list_next) {
        uint32_t b = (uint32_t)(s->fp & (size - 1));
        s->hash_next = table[b];
        table[b] = s;
    }
    noa_free(t->table);
    t->table = table;
    t->table_size = size;
}

void noa_instance_add(struct noa_instance *in, struct noa_tenant *t, struct noa_stream *s)
{
    s->tenant = t;
    s->list_prev = NULL;
    s->list_next = t->streams;
    if (t->streams)
        t->streams->list_prev = s;
    t->streams = s;
    t->n_streams++;
    in->n_streams++;
    if (t->n_streams > t->table_size)
        grow(t); /* relinks every stream, s included */
    else {
        uint32_t b = (uint32_t)(s->fp & (t->table_size - 1));
        s->hash_next = t->table[b];
        t->table[b] = s;
    }
}

void noa_instance_remove(struct noa_instance *in, struct noa_tenant *t, struct noa_stream *s)
{
    for (struct noa_stream **p = &t->table[s->fp & (t->table_size - 1)]; *p; p = &(*p)->hash_next)
        if (*p == s) {
            *p = s->hash_next;
            break;
        }
    if (s->list_prev)
        s->list_prev->list_next = s->list_next;
    else
        t->streams = s->list_next;
    if (s->list_next)
        s->list_next->list_prev = s->list_prev;
    t->n_streams--;
    in->n_streams--;
    noa_stream_free(s);
}
