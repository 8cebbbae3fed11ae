/*
 * Token buckets with golang.org/x/time/rate's AllowN semantics, Loki's
 * per-ingester stream limit arithmetic and its 429 texts. No locks: each
 * bucket belongs to one thread at a time (see ratelimit.h).
 */
#include "ingester/ratelimit.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

void noa_ratelimit_init(struct noa_ratelimit *rl, double rate, double burst)
{
    *rl = (struct noa_ratelimit){.rate = rate, .burst = burst};
}

static int unlimited(const struct noa_ratelimit *rl)
{
    return isinf(rl->rate) && rl->rate > 0;
}

/* Tokens at now_ns: what was left plus the refill since, capped at burst. */
static double advance(const struct noa_ratelimit *rl, int64_t now_ns)
{
    if (!rl->started || unlimited(rl))
        return rl->burst; /* a fresh bucket is full, as x/time/rate's zero `last` makes it */
    int64_t last = rl->last_ns < now_ns ? rl->last_ns : now_ns;
    double tokens = rl->tokens;
    if (rl->rate > 0)
        tokens += (double)(now_ns - last) / 1e9 * rl->rate;
    return tokens > rl->burst ? rl->burst : tokens;
}

double noa_ratelimit_tokens(const struct noa_ratelimit *rl, int64_t now_ns)
{
    return advance(rl, now_ns);
}

void noa_ratelimit_set(struct noa_ratelimit *rl, int64_t now_ns, double rate, double burst)
{
    rl->tokens = advance(rl, now_ns);
    rl->last_ns = now_ns;
    rl->started = 1;
    rl->rate = rate;
    rl->burst = burst;
}

int noa_ratelimit_allow(struct noa_ratelimit *rl, int64_t now_ns, double cost)
{
    if (unlimited(rl))
        return 1;
    double left = advance(rl, now_ns) - cost;
    int ok = cost <= rl->burst;
    /* x/time/rate allows a deficit whose wait rounds down to 0 ns. */
    if (ok && left < 0)
        ok = rl->rate > 0 && -left * 1e9 / rl->rate < 1.0;
    if (!ok)
        return 0;
    rl->tokens = left;
    rl->last_ns = now_ns;
    rl->started = 1;
    return 1;
}

uint64_t noa_ratelimit_stream_limit(const struct noa_limits *lim, int n_ingesters, int rf)
{
    uint64_t local = lim->max_streams_per_user > 0 ? (uint64_t)lim->max_streams_per_user : 0;
    uint64_t global = 0;
    if (lim->max_global_streams_per_user > 0 && n_ingesters > 0)
        global = (uint64_t)((double)lim->max_global_streams_per_user / n_ingesters * rf);
    if (!local)
        return global;
    if (!global)
        return local;
    return local < global ? local : global;
}

char *noa_ratelimit_format_size(char *out, size_t cap, uint64_t b)
{
    static const char *const units[] = {"EB", "PB", "TB", "GB", "MB", "KB"};
    if (b == 0) {
        snprintf(out, cap, "0B");
        return out;
    }
    for (int i = 0; i < 6; i++) {
        uint64_t unit = 1ull << (10 * (6 - i));
        if (b % unit == 0) {
            snprintf(out, cap, "%" PRIu64 "%s", b / unit, units[i]);
            return out;
        }
    }
    snprintf(out, cap, "%" PRIu64 "B", b);
    return out;
}

/* Go's int(float64) for the values a limit can take. */
static int64_t go_int(double v)
{
    if (isnan(v) || v >= 9.2e18 || v <= -9.2e18)
        return INT64_MIN; /* what amd64 yields for out-of-range conversions */
    return (int64_t)v;
}

void noa_ratelimit_format_tenant(struct noa_buf *out, const char *tenant, double limit,
                                 uint64_t lines, uint64_t bytes)
{
    noa_buf_printf(out,
                   "Ingestion rate limit exceeded for user %s (limit: %" PRId64
                   " bytes/sec) while attempting to ingest '%" PRIu64 "' lines totaling '%" PRIu64
                   "' bytes, reduce log volume or contact your Loki administrator to see if the "
                   "limit can be increased",
                   tenant, go_int(limit), lines, bytes);
}

void noa_ratelimit_format_stream(struct noa_buf *out, double limit, struct noa_str labels,
                                 uint64_t bytes)
{
    char lim[32], tot[32];
    /* flagext.ByteSize is a uint64: a fractional limit prints truncated. */
    noa_ratelimit_format_size(lim, sizeof(lim), limit > 0 && limit < 1.8e19 ? (uint64_t)limit : 0);
    noa_ratelimit_format_size(tot, sizeof(tot), bytes);
    noa_buf_printf(out,
                   "Per stream rate limit exceeded (limit: %s/sec) while attempting to ingest "
                   "for stream '",
                   lim);
    noa_buf_append_str(out, labels);
    noa_buf_printf(out,
                   "' totaling %s, consider splitting a stream via additional labels or "
                   "contact your Loki administrator to see if the limit can be increased",
                   tot);
}

void noa_ratelimit_format_stream_limit(struct noa_buf *out, struct noa_str labels,
                                       const char *tenant)
{
    noa_buf_append_str(out, NOA_STR("Maximum active stream limit exceeded when trying to create "
                                    "stream "));
    noa_buf_append_str(out, labels);
    noa_buf_printf(out,
                   ", reduce the number of active streams (reduce labels or reduce label "
                   "values), or contact your Loki administrator to see if the limit can be "
                   "increased, user: '%s'",
                   tenant);
}
