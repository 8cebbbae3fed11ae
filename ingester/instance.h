/*
 * The in-memory side of the ingester: tenants, and per tenant the streams
 * that hold unflushed data, found by fingerprint.
 *
 * THREAD SAFETY: the loop thread is the only writer; it takes the write
 * lock (noa_instance_wrlock) around every mutation of tenants, streams and
 * heads. Query workers take the read lock while they look streams up and
 * copy out what they need. Lock order: the instance lock is a leaf (never
 * hold it while taking another lock or doing I/O).
 */
#ifndef NOA_INGESTER_INSTANCE_H
#define NOA_INGESTER_INSTANCE_H

#include "common/buf.h"
#include "common/labels.h"
#include "ingester/ratelimit.h"
#include "ingester/stream.h"

#include <pthread.h>
#include <stdint.h>

struct noa_tenant {
    struct noa_tenant *next;   /* private */
    char *name;                /* read-only, owned */
    struct noa_stream **table; /* private: open hashing by fingerprint, chained */
    uint32_t table_size;       /* private: power of two */
    uint32_t n_streams;        /* read-only */
    struct noa_stream *streams; /* read-only: every stream, via list_next */
    struct noa_ratelimit rate; /* tenant ingestion rate limit */
};

struct noa_instance {
    pthread_rwlock_t lock;      /* guards everything below and every stream */
    struct noa_tenant *tenants; /* list */
    uint32_t n_tenants;
    uint64_t n_streams;         /* across tenants */
};

void noa_instance_init(struct noa_instance *in);
void noa_instance_fini(struct noa_instance *in);

void noa_instance_wrlock(struct noa_instance *in);
void noa_instance_rdlock(struct noa_instance *in);
void noa_instance_unlock(struct noa_instance *in);

/* Finds a tenant; NULL when absent. Caller holds a lock. */
struct noa_tenant *noa_instance_tenant(struct noa_instance *in, const char *name);
/* Finds or creates a tenant. Loop thread, write lock held. */
struct noa_tenant *noa_instance_tenant_get(struct noa_instance *in, const char *name);

/* Finds the stream with exactly these sorted labels; NULL when absent. */
struct noa_stream *noa_instance_find(struct noa_tenant *t, uint64_t fp,
                                     const struct noa_labels *labels);
/* Adds a new stream (which must not exist). Write lock held. */
void noa_instance_add(struct noa_instance *in, struct noa_tenant *t, struct noa_stream *s);
/* Removes and frees a stream (empty ones, after their last flush). */
void noa_instance_remove(struct noa_instance *in, struct noa_tenant *t, struct noa_stream *s);

#endif
