/*
 * Exponential backoff with jitter for the shipper's push retries (Promtail's
 * backoff_config: min_period, max_period, max_retries). The n-th delay is
 * drawn from [base, 2*base) with base = min << n, capped at max, so
 * concurrent senders that failed together spread out. A struct belongs to
 * one thread (the tenant's sender); no shared state.
 */
#ifndef NOA_SHIPPER_BACKOFF_H
#define NOA_SHIPPER_BACKOFF_H

#include <stdint.h>

struct noa_backoff {
    int64_t min_ms;  /* first delay's lower bound (> 0) */
    int64_t max_ms;  /* no delay exceeds this */
    int max_retries; /* 0 = retry for ever */
    int attempts;    /* delays handed out since the last reset */
    uint64_t rng;    /* xorshift state for the jitter */
};

/* Sets the bounds; min_ms <= 0 becomes 500, max_ms < min_ms becomes min_ms. */
void noa_backoff_init(struct noa_backoff *b, int64_t min_ms, int64_t max_ms, int max_retries,
                      uint64_t seed);
/* The next delay in milliseconds, and counts one attempt. */
int64_t noa_backoff_next(struct noa_backoff *b);
/* 1 while another retry is allowed (always 1 when max_retries is 0). */
int noa_backoff_ongoing(const struct noa_backoff *b);
/* Starts over after a success. */
void noa_backoff_reset(struct noa_backoff *b);

#endif
