/* Query parameter parsing as Loki's pkg/loghttp does it, and the
 * limits_config checks of the query frontend and querier over the parsed
 * range, with Loki's messages. Pure; any thread. */
#include "querier/params.h"
#include "common/clock.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static int parse_int64(struct noa_str s, int64_t *out)
{
    if (!s.len || s.len > 20)
        return -1;
    size_t i = 0;
    int neg = 0;
    if (s.p[0] == '-' || s.p[0] == '+') {
        neg = s.p[0] == '-';
        i = 1;
        if (s.len == 1)
            return -1;
    }
    uint64_t v = 0;
    for (; i < s.len; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s.p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v > (uint64_t)INT64_MAX + (uint64_t)neg)
        return -1;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static int parse_float(struct noa_str s, double *out)
{
    char buf[64];
    if (!s.len || s.len >= sizeof(buf))
        return -1;
    memcpy(buf, s.p, s.len);
    buf[s.len] = '\0';
    char *end;
    double v = strtod(buf, &end);
    if (*end || isnan(v) || isinf(v))
        return -1;
    *out = v;
    return 0;
}

static int digits(const char *p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 0;
}

/* RFC3339 with optional fraction: 2006-01-02T15:04:05.999999999Z07:00 */
static int parse_rfc3339(struct noa_str s, int64_t *out)
{
    const char *p = s.p;
    size_t n = s.len;
    int Y, M, D, h, m, sec;
    if (n < 20 || p[4] != '-' || p[7] != '-' || (p[10] != 'T' && p[10] != 't') || p[13] != ':' ||
        p[16] != ':')
        return -1;
    if (digits(p, 4, &Y) || digits(p + 5, 2, &M) || digits(p + 8, 2, &D) ||
        digits(p + 11, 2, &h) || digits(p + 14, 2, &m) || digits(p + 17, 2, &sec))
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 59)
        return -1;
    size_t i = 19;
    int64_t frac = 0;
    if (i < n && p[i] == '.') {
        i++;
        int nd = 0;
        while (i < n && p[i] >= '0' && p[i] <= '9') {
            if (nd < 9) {
                frac = frac * 10 + (p[i] - '0');
                nd++;
            }
            i++;
        }
        if (!nd)
            return -1;
        while (nd++ < 9)
            frac *= 10;
    }
    int64_t offset = 0;
    if (i < n && (p[i] == 'Z' || p[i] == 'z')) {
        i++;
    } else if (i + 6 == n && (p[i] == '+' || p[i] == '-') && p[i + 3] == ':') {
        int oh, om;
        if (digits(p + i + 1, 2, &oh) || digits(p + i + 4, 2, &om))
            return -1;
        offset = (int64_t)(oh * 3600 + om * 60) * (p[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return -1;
    }
    if (i != n)
        return -1;
    int64_t secs = noa_days_from_civil(Y, M, D) * 86400 + h * 3600 + m * 60 +
                   sec - offset;
    *out = secs * 1000000000 + frac;
    return 0;
}

int noa_params_timestamp(struct noa_str s, int64_t *out_ns, struct noa_error *err)
{
    double f;
    int64_t v;
    if (memchr(s.p, '.', s.len) && parse_float(s, &f) == 0) {
        double secs = floor(f);
        double ms = round((f - secs) * 1000.0);
        *out_ns = (int64_t)secs * 1000000000 + (int64_t)ms * 1000000;
        return 0;
    }
    if (parse_int64(s, &v) == 0) {
        *out_ns = s.len <= 10 ? v * 1000000000 : v;
        return 0;
    }
    if (parse_rfc3339(s, out_ns) == 0)
        return 0;
    return noa_error_set(err, NOA_EINVAL, "cannot parse \"%.*s\" to a valid timestamp",
                         (int)s.len, s.p);
}

int noa_params_prom_duration(struct noa_str s, int64_t *out_ns)
{
    static const struct {
        const char *unit;
        int64_t ns;
    } units[] = {{"ms", 1000000LL},          {"s", 1000000000LL},
                 {"m", 60000000000LL},        {"h", 3600000000000LL},
                 {"d", 86400000000000LL},     {"w", 604800000000000LL},
                 {"y", 31536000000000000LL}};
    size_t i = 0;
    int64_t total = 0;
    int last_unit = -1;
    if (!s.len)
        return -1;
    if (s.len == 1 && s.p[0] == '0') {
        *out_ns = 0;
        return 0;
    }
    while (i < s.len) {
        int64_t v = 0;
        size_t st = i;
        while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9') {
            if (v > INT64_MAX / 10)
                return -1;
            v = v * 10 + (s.p[i++] - '0');
        }
        if (i == st)
            return -1;
        int u = -1;
        for (int k = 0; k < 7; k++) {
            size_t ul = strlen(units[k].unit);
            if (i + ul <= s.len && memcmp(s.p + i, units[k].unit, ul) == 0 &&
                !(ul == 1 && units[k].unit[0] == 'm' && i + 1 < s.len && s.p[i + 1] == 's')) {
                u = k;
                i += ul;
                break;
            }
        }
        /* Units must appear largest first, each at most once ("1h30m", not
         * "30m1h"); the table is ordered smallest first. */
        if (u < 0 || (last_unit >= 0 && u >= last_unit))
            return -1;
        last_unit = u;
        if (v > INT64_MAX / units[u].ns || total > INT64_MAX - v * units[u].ns)
            return -1;
        total += v * units[u].ns;
    }
    *out_ns = total;
    return 0;
}

int noa_params_step(struct noa_str s, int64_t *out_ns, struct noa_error *err)
{
    double f;
    if (parse_float(s, &f) == 0) {
        *out_ns = (int64_t)(f * 1e9);
        return 0;
    }
    if (noa_params_prom_duration(s, out_ns) == 0)
        return 0;
    return noa_error_set(err, NOA_EINVAL, "cannot parse \"%.*s\" to a valid duration",
                         (int)s.len, s.p);
}

int noa_params_bounds(const struct noa_str *start, const struct noa_str *end,
                      const struct noa_str *since, int64_t now_ns, int64_t *start_ns,
                      int64_t *end_ns, struct noa_error *err)
{
    int64_t since_ns = 3600LL * 1000000000;
    int rc;
    *end_ns = now_ns;
    if (end && end->len && (rc = noa_params_timestamp(*end, end_ns, err)) < 0)
        return rc;
    if (since && since->len && noa_params_prom_duration(*since, &since_ns) < 0)
        return noa_error_set(err, NOA_EINVAL,
                             "could not parse 'since' parameter: not a valid duration string: "
                             "\"%.*s\"",
                             (int)since->len, since->p);
    int64_t anchor = *end_ns < now_ns ? *end_ns : now_ns;
    *start_ns = anchor - since_ns;
    if (start && start->len && (rc = noa_params_timestamp(*start, start_ns, err)) < 0)
        return rc;
    return 0;
}

int noa_params_limit(const struct noa_str *s, uint32_t *out, struct noa_error *err)
{
    int64_t v;
    *out = 100;
    if (!s || !s->len)
        return 0;
    if (parse_int64(*s, &v) < 0)
        return noa_error_set(err, NOA_EINVAL, "strconv.Atoi: parsing \"%.*s\": invalid syntax",
                             (int)s->len, s->p);
    if (v <= 0)
        return noa_error_set(err, NOA_EINVAL, "limit must be a positive value");
    *out = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    return 0;
}

int noa_params_direction(const struct noa_str *s, int *backward, struct noa_error *err)
{
    *backward = 1;
    if (!s || !s->len)
        return 0;
    if (s->len == 7 && strncasecmp(s->p, "forward", 7) == 0) {
        *backward = 0;
        return 0;
    }
    if (s->len == 8 && strncasecmp(s->p, "backward", 8) == 0)
        return 0;
    return noa_error_set(err, NOA_EINVAL, "invalid direction '%.*s'", (int)s->len, s->p);
}

void noa_params_format_rfc3339(int64_t ns, char *out, size_t cap)
{
    int64_t secs = ns / 1000000000, frac = ns % 1000000000;
    if (frac < 0) {
        frac += 1000000000;
        secs--;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac && n < cap) {
        char f[16];
        snprintf(f, sizeof(f), ".%09lld", (long long)frac);
        size_t fl = strlen(f);
        while (fl > 1 && f[fl - 1] == '0')
            f[--fl] = '\0';
        n += (size_t)snprintf(out + n, cap - n, "%s", f);
    }
    if (n < cap)
        snprintf(out + n, cap - n, "Z");
}

void noa_params_format_go_duration(int64_t ns, char *out, size_t cap)
{
    /* Go prints whole units down to the largest fitting one below a second,
     * and h/m/s with a trimmed fraction of seconds above it. */
    uint64_t u = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    const char *sign = ns < 0 ? "-" : "";
    char frac[16] = "";
    if (u == 0) {
        snprintf(out, cap, "0s");
        return;
    }
    if (u < 1000) {
        snprintf(out, cap, "%s%lluns", sign, (unsigned long long)u);
        return;
    }
    uint64_t unit = u < 1000000 ? 1000 : u < 1000000000 ? 1000000 : 1000000000;
    int digits = unit == 1000 ? 3 : unit == 1000000 ? 6 : 9;
    uint64_t whole = u / unit, rest = u % unit;
    if (rest) {
        snprintf(frac, sizeof(frac), ".%0*llu", digits, (unsigned long long)rest);
        size_t n = strlen(frac);
        while (n > 1 && frac[n - 1] == '0')
            frac[--n] = '\0';
    }
    if (unit == 1000) {
        snprintf(out, cap, "%s%llu%s\xc2\xb5s", sign, (unsigned long long)whole, frac);
        return;
    }
    if (unit == 1000000) {
        snprintf(out, cap, "%s%llu%sms", sign, (unsigned long long)whole, frac);
        return;
    }
    uint64_t h = whole / 3600, m = whole / 60 % 60, s = whole % 60;
    if (h)
        snprintf(out, cap, "%s%lluh%llum%llu%ss", sign, (unsigned long long)h,
                 (unsigned long long)m, (unsigned long long)s, frac);
    else if (m)
        snprintf(out, cap, "%s%llum%llu%ss", sign, (unsigned long long)m, (unsigned long long)s,
                 frac);
    else
        snprintf(out, cap, "%s%llu%ss", sign, (unsigned long long)s, frac);
}

int64_t noa_params_default_step(int64_t start_ns, int64_t end_ns)
{
    int64_t secs = (int64_t)floor((double)(end_ns - start_ns) / 1e9 / 250.0);
    return (secs < 1 ? 1 : secs) * 1000000000LL;
}

int noa_params_range_step(const struct noa_str *s, int64_t start_ns, int64_t end_ns,
                          int64_t *out_ns, struct noa_error *err)
{
    int rc;
    if (s && s->len) {
        if ((rc = noa_params_step(*s, out_ns, err)) < 0)
            return rc;
    } else {
        *out_ns = noa_params_default_step(start_ns, end_ns);
    }
    if (*out_ns <= 0)
        return noa_error_set(err, NOA_EINVAL,
                             "zero or negative query resolution step widths are not accepted. "
                             "Try a positive integer");
    if ((end_ns - start_ns) / *out_ns > 11000)
        return noa_error_set(err, NOA_EINVAL,
                             "exceeded maximum resolution of 11,000 points per timeseries. Try "
                             "decreasing the query resolution (?step=XX)");
    return 0;
}

int noa_params_check_range(const struct noa_limits *lim, int64_t now_ns, int64_t *start_ns,
                           int64_t *end_ns, int *empty, struct noa_error *err)
{
    *empty = 0;
    if (lim->max_query_lookback_ns > 0) {
        int64_t min_start = now_ns - lim->max_query_lookback_ns;
        if (*end_ns < min_start) {
            *empty = 1;
            return 0;
        }
        if (*start_ns < min_start)
            *start_ns = min_start;
    }
    if (lim->max_query_length_ns > 0) {
        /* The frontend measures the range in whole milliseconds. */
        int64_t len_ns = (*end_ns / 1000000 - *start_ns / 1000000) * 1000000;
        if (len_ns > lim->max_query_length_ns) {
            char got[48], max[48];
            noa_params_format_go_duration(len_ns, got, sizeof(got));
            noa_params_format_go_duration(lim->max_query_length_ns, max, sizeof(max));
            return noa_error_set(err, NOA_EINVAL,
                                 "the query time range exceeds the limit (query length: %s, "
                                 "limit: %s)",
                                 got, max);
        }
    }
    return 0;
}

int noa_params_check_limit(const struct noa_limits *lim, uint32_t limit, struct noa_error *err)
{
    if (lim->max_entries_limit_per_query > 0 && limit > (uint32_t)lim->max_entries_limit_per_query)
        return noa_error_set(err, NOA_EINVAL,
                             "max entries limit per query exceeded, limit > "
                             "max_entries_limit_per_query (%u > %d)",
                             limit, lim->max_entries_limit_per_query);
    return 0;
}

void noa_params_format_prom_duration(int64_t ns, char *out, size_t cap)
{
    static const struct {
        const char *unit;
        int64_t ms;
        int exact; /* years and weeks only when they divide evenly, as Prometheus */
    } units[] = {{"y", 365LL * 86400000, 1}, {"w", 7LL * 86400000, 1}, {"d", 86400000, 0},
                 {"h", 3600000, 0},          {"m", 60000, 0},           {"s", 1000, 0},
                 {"ms", 1, 0}};
    int64_t ms = ns / 1000000;
    size_t n = 0;
    if (cap)
        out[0] = '\0';
    if (ms <= 0) {
        snprintf(out, cap, "0s");
        return;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && n < cap; i++) {
        if (units[i].exact && ms % units[i].ms)
            continue;
        int64_t v = ms / units[i].ms;
        if (v <= 0)
            continue;
        int w = snprintf(out + n, cap - n, "%lld%s", (long long)v, units[i].unit);
        if (w < 0)
            return;
        n += (size_t)w;
        ms -= v * units[i].ms;
    }
}

int noa_params_check_metadata_range(const struct noa_limits *lim, int64_t now_ns,
                                    int64_t *start_ns, int64_t *end_ns, struct noa_error *err)
{
    char a[48], b[48];
    if (lim->max_query_lookback_ns > 0 && *start_ns < now_ns - lim->max_query_lookback_ns)
        *start_ns = now_ns - lim->max_query_lookback_ns;
    if (lim->max_query_length_ns > 0 && *end_ns - *start_ns > lim->max_query_length_ns) {
        noa_params_format_go_duration(*end_ns - *start_ns, a, sizeof(a));
        noa_params_format_prom_duration(lim->max_query_length_ns, b, sizeof(b));
        return noa_error_set(err, NOA_EINVAL,
                             "the query time range exceeds the limit (query length: %s, limit: "
                             "%s)",
                             a, b);
    }
    if (*end_ns < *start_ns) {
        noa_params_format_prom_duration(lim->max_query_lookback_ns, b, sizeof(b));
        return noa_error_set(err, NOA_EINVAL,
                             "this data is no longer available, it is past now - "
                             "max_query_lookback (%s)",
                             b);
    }
    return 0;
}
