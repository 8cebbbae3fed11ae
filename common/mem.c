/*
 * Counted allocation. Each block carries a 16-byte prefix holding its size
 * so noa_free can subtract it; the counter is a relaxed atomic because it is
 * a statistic, not a synchronisation point. Any thread.
 */
#include "common/mem.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX 16 /* keeps malloc's 16-byte alignment for the caller */

static atomic_llong in_use;
static atomic_long fail_after = -1;

static int injected_failure(void)
{
    long left = atomic_load_explicit(&fail_after, memory_order_relaxed);
    if (left < 0)
        return 0;
    if (left == 0)
        return 1;
    atomic_fetch_sub_explicit(&fail_after, 1, memory_order_relaxed);
    return 0;
}

void *noa_malloc(size_t size)
{
    if (size > SIZE_MAX - PREFIX || injected_failure())
        return NULL;
    unsigned char *p = malloc(size + PREFIX);
    if (!p)
        return NULL;
    memcpy(p, &size, sizeof(size));
    atomic_fetch_add_explicit(&in_use, (long long)size, memory_order_relaxed);
    return p + PREFIX;
}

void *noa_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = noa_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *noa_realloc(void *p, size_t size)
{
    if (!p)
        return noa_malloc(size);
    if (size > SIZE_MAX - PREFIX || injected_failure())
        return NULL;
    unsigned char *base = (unsigned char *)p - PREFIX;
    size_t old;
    memcpy(&old, base, sizeof(old));
    unsigned char *nb = realloc(base, size + PREFIX);
    if (!nb)
        return NULL;
    memcpy(nb, &size, sizeof(size));
    atomic_fetch_add_explicit(&in_use, (long long)size - (long long)old, memory_order_relaxed);
    return nb + PREFIX;
}

void noa_free(void *p)
{
    if (!p)
        return;
    unsigned char *base = (unsigned char *)p - PREFIX;
    size_t size;
    memcpy(&size, base, sizeof(size));
    atomic_fetch_sub_explicit(&in_use, (long long)size, memory_order_relaxed);
    free(base);
}

static void *oom(size_t size)
{
    fprintf(stderr, "level=error component=mem msg=\"out of memory\" bytes=%zu\n", size);
    abort();
}

void *noa_xmalloc(size_t size)
{
    void *p = noa_malloc(size);
    return p ? p : oom(size);
}

void *noa_xcalloc(size_t n, size_t size)
{
    void *p = noa_calloc(n, size);
    return p ? p : oom(n * size);
}

void *noa_xrealloc(void *p, size_t size)
{
    void *np = noa_realloc(p, size);
    return np ? np : oom(size);
}

char *noa_xstrndup(const char *s, size_t n)
{
    char *d = noa_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *noa_xstrdup(const char *s)
{
    return noa_xstrndup(s, strlen(s));
}

int64_t noa_mem_in_use(void)
{
    return atomic_load_explicit(&in_use, memory_order_relaxed);
}

void noa_mem_fail_after(long after)
{
    atomic_store_explicit(&fail_after, after, memory_order_relaxed);
}
