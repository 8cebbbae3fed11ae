/*
 * The one door to the heap. Every allocation in noa goes through these so
 * that bytes in use are counted (exported on /metrics as
 * noa_memory_allocated_bytes) and tests can inject failures.
 *
 * Small, bounded allocations use the noa_x* forms, which abort on OOM (a
 * process that cannot allocate 100 bytes cannot do anything useful). Sizes
 * that come from input must be checked against a limit first and use the
 * non-aborting forms, which return NULL. Thread-safe (atomic counters).
 */
#ifndef NOA_COMMON_MEM_H
#define NOA_COMMON_MEM_H

#include <stddef.h>
#include <stdint.h>

/* Returns NULL on failure (or an injected failure). */
void *noa_malloc(size_t size);
void *noa_calloc(size_t n, size_t size);
void *noa_realloc(void *p, size_t size);
/* Aborting forms for small, bounded sizes. */
void *noa_xmalloc(size_t size);
void *noa_xcalloc(size_t n, size_t size);
void *noa_xrealloc(void *p, size_t size);
char *noa_xstrdup(const char *s);
char *noa_xstrndup(const char *s, size_t n);
/* noa_free(NULL) is a no-op. */
void noa_free(void *p);

/* Bytes currently allocated through this module. */
int64_t noa_mem_in_use(void);

/* Test hook: the next `after` allocations succeed, then every one fails
 * until called again with a negative value (disables injection). */
void noa_mem_fail_after(long after);

#endif
