/*
 * A set of byte strings: open addressing on XXH3 hashes, strings copied
 * into an arena, sorted export. For collecting distinct label names,
 * values and series in queries. One thread at a time.
 */
#ifndef NOA_COMMON_STRSET_H
#define NOA_COMMON_STRSET_H

#include "common/buf.h"

#include <stdint.h>

struct noa_strset {
    struct noa_str *slots; /* private: capacity entries, p == NULL when free */
    uint64_t *hashes;      /* private */
    size_t cap;            /* private: power of two */
    size_t n;              /* read-only: distinct strings */
    struct noa_arena arena; /* private: the copies */
};

/* Zero-initialise, or call _init. */
void noa_strset_init(struct noa_strset *s);
void noa_strset_fini(struct noa_strset *s);
/* Adds a copy of x unless present. Returns 1 when added, 0 when present. */
int noa_strset_add(struct noa_strset *s, struct noa_str x);
int noa_strset_has(const struct noa_strset *s, struct noa_str x);
/* The strings in bytewise order, borrowed from the set: an array of s->n
 * slices that the caller frees with noa_free. */
struct noa_str *noa_strset_sorted(const struct noa_strset *s);

#endif
