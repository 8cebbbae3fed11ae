/*
 * Exponential backoff with jitter (see backoff.h). Pure arithmetic on the
 * caller's struct; any thread that owns it.
 */
#include "shipper/backoff.h"

void noa_backoff_init(struct noa_backoff *b, int64_t min_ms, int64_t max_ms, int max_retries,
                      uint64_t seed)
{
    if (min_ms <= 0)
        min_ms = 500;
    if (max_ms < min_ms)
        max_ms = min_ms;
    b->min_ms = min_ms;
    b->max_ms = max_ms;
    b->max_retries = max_retries < 0 ? 0 : max_retries;
    b->attempts = 0;
    /* xorshift must never hold 0 */
    b->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
}

static uint64_t rnd(struct noa_backoff *b)
{
    uint64_t x = b->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b->rng = x;
    return x;
}

int64_t noa_backoff_next(struct noa_backoff *b)
{
    int64_t base = b->min_ms;
    /* double until the cap; stop early so the shift cannot overflow */
    for (int i = 0; i < b->attempts && base < b->max_ms; i++)
        base *= 2;
    if (base >= b->max_ms)
        base = b->max_ms;
    int64_t d = base;
    if (base < b->max_ms)
        d = base + (int64_t)(rnd(b) % (uint64_t)base);
    if (d > b->max_ms)
        d = b->max_ms;
    if (b->attempts < 1000000)
        b->attempts++;
    return d;
}

int noa_backoff_ongoing(const struct noa_backoff *b)
{
    return b->max_retries == 0 || b->attempts < b->max_retries;
}

void noa_backoff_reset(struct noa_backoff *b)
{
    b->attempts = 0;
}
