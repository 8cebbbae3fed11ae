/*
 * A small ordered map of byte-string names to byte-string values, for the
 * shipper's per-entry label sets, extracted maps and structured metadata.
 *
 * Names and values are copied into one reusable byte store, so an entry
 * that is reset and refilled allocates nothing once it has warmed up. A
 * replaced or deleted value leaves its old bytes in the store until the
 * next reset (entries are short-lived; the waste is bounded by the entry).
 * Lookups are linear: a shipper entry holds a handful to a few dozen
 * pairs, where a scan beats hashing.
 *
 * Owned by one thread at a time.
 */
#ifndef NOA_SHIPPER_KVLIST_H
#define NOA_SHIPPER_KVLIST_H

#include "common/buf.h"
#include "common/labels.h"

#include <stddef.h>
#include <stdint.h>

struct noa_kv {
    /* private offsets into the store; read through noa_kvlist_name/_value */
    size_t name_off, name_len;
    size_t value_off, value_len;
};

struct noa_kvlist {
    struct noa_kv *v; /* private */
    uint32_t n;       /* read-only: pairs held */
    uint32_t cap;     /* private */
    struct noa_buf store; /* private */
    struct noa_label *sorted; /* private: scratch for noa_kvlist_labels */
    uint32_t sorted_cap;      /* private */
};

/* Zero-initialise, or call _init; _fini releases everything. */
void noa_kvlist_init(struct noa_kvlist *l);
void noa_kvlist_fini(struct noa_kvlist *l);
/* Empties the list, keeping its memory. */
void noa_kvlist_reset(struct noa_kvlist *l);
/* Makes dst a copy of src (dst's previous pairs are dropped). */
void noa_kvlist_copy(struct noa_kvlist *dst, const struct noa_kvlist *src);

/* Sets name to value (both copied), replacing an existing value in place
 * (insertion order is kept). */
void noa_kvlist_set(struct noa_kvlist *l, struct noa_str name, struct noa_str value);
/* Appends a pair without looking for name (the caller knows it is not
 * there yet: filling a fresh list from a label set). */
void noa_kvlist_append(struct noa_kvlist *l, struct noa_str name, struct noa_str value);
/* The value of name: 1 and *value (borrowed until the list changes) when
 * present, 0 when absent. */
int noa_kvlist_get(const struct noa_kvlist *l, struct noa_str name, struct noa_str *value);
/* Removes name; 1 when it was present. */
int noa_kvlist_del(struct noa_kvlist *l, struct noa_str name);

/* The i-th pair in insertion order (i < l->n), borrowed until the list
 * changes. Inline: every stage and the router read pairs per line. */
static inline struct noa_str noa_kvlist_name(const struct noa_kvlist *l, uint32_t i)
{
    return (struct noa_str){l->store.data + l->v[i].name_off, l->v[i].name_len};
}

static inline struct noa_str noa_kvlist_value(const struct noa_kvlist *l, uint32_t i)
{
    return (struct noa_str){l->store.data + l->v[i].value_off, l->v[i].value_len};
}

/* The pairs as a label set sorted by name (borrowed until the list changes). */
void noa_kvlist_labels(struct noa_kvlist *l, struct noa_labels *out);
/* Appends the sorted pairs in Prometheus text form `{a="b", c="d"}` (Go
 * quoting, as the push client and Loki parse it). */
void noa_kvlist_format(struct noa_kvlist *l, struct noa_buf *out);

#endif
