/*
 * go-humanize's byte sizes (see humanize.h). Pure; any thread.
 */
#include "common/humanize.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    double mult;
} size_units[] = {
    {"", 1},
    {"b", 1},
    {"k", 1e3},
    {"kb", 1e3},
    {"ki", 1024.0},
    {"kib", 1024.0},
    {"m", 1e6},
    {"mb", 1e6},
    {"mi", 1048576.0},
    {"mib", 1048576.0},
    {"g", 1e9},
    {"gb", 1e9},
    {"gi", 1073741824.0},
    {"gib", 1073741824.0},
    {"t", 1e12},
    {"tb", 1e12},
    {"ti", 1099511627776.0},
    {"tib", 1099511627776.0},
    {"p", 1e15},
    {"pb", 1e15},
    {"pi", 1125899906842624.0},
    {"pib", 1125899906842624.0},
    {"e", 1e18},
    {"eb", 1e18},
    {"ei", 1152921504606846976.0},
    {"eib", 1152921504606846976.0},
};

/* What strconv.ParseFloat accepts of digits and dots: one dot at most and
 * at least one digit. */
static int plain_decimal(const char *s, size_t n)
{
    size_t digits = 0, dots = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.')
            dots++;
        else
            digits++;
    }
    return digits > 0 && dots <= 1;
}

int noa_humanize_parse_bytes(struct noa_str s, uint64_t *out, struct noa_error *err)
{
    char num[64];
    size_t i = 0, k = 0;
    for (; i < s.len && (isdigit((unsigned char)s.p[i]) || s.p[i] == '.' || s.p[i] == ','); i++) {
        if (s.p[i] == ',')
            continue;
        if (k + 1 >= sizeof(num))
            return noa_error_set(err, NOA_EINVAL, "strconv.ParseFloat: parsing \"%.*s\": value "
                                 "out of range", (int)k, num);
        num[k++] = s.p[i];
    }
    num[k] = '\0';
    if (!plain_decimal(num, k))
        return noa_error_set(err, NOA_EINVAL,
                             "strconv.ParseFloat: parsing \"%s\": invalid syntax", num);
    double f = strtod(num, NULL);
    const char *u = s.p + i;
    size_t n = s.len - i;
    while (n && isspace((unsigned char)u[0]))
        u++, n--;
    while (n && isspace((unsigned char)u[n - 1]))
        n--;
    for (size_t t = 0; t < sizeof(size_units) / sizeof(size_units[0]); t++) {
        if (strlen(size_units[t].name) != n || strncasecmp(u, size_units[t].name, n) != 0)
            continue;
        f *= size_units[t].mult;
        if (f >= 18446744073709551615.0)
            return noa_error_set(err, NOA_EINVAL, "too large: %.*s", (int)s.len, s.p);
        *out = (uint64_t)f;
        return 0;
    }
    char lower[32];
    size_t ln = n < sizeof(lower) - 1 ? n : sizeof(lower) - 1;
    for (size_t c = 0; c < ln; c++)
        lower[c] = (char)tolower((unsigned char)u[c]);
    lower[ln] = '\0';
    return noa_error_set(err, NOA_EINVAL, "unhandled size name: %s", lower);
}

void noa_humanize_bytes(uint64_t v, int space, struct noa_buf *out)
{
    static const char *const sizes[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
    const char *sp = space ? " " : "";
    if (v < 10) {
        noa_buf_printf(out, "%llu%sB", (unsigned long long)v, sp);
        return;
    }
    /* The exponent by integer division: exact at powers of 1000, where
     * humanize gives "1.0 MB" for 10^6. */
    unsigned e = 0;
    uint64_t p = 1;
    while (e < 6 && v / p >= 1000) {
        p *= 1000;
        e++;
    }
    /* Rounded to one decimal first, then printed with none from 10 up: so
     * 999,900 prints as "1000kB", as Loki prints it. */
    double val = floor((double)v / (double)p * 10 + 0.5) / 10;
    noa_buf_printf(out, val < 10 ? "%.1f%s%s" : "%.0f%s%s", val, sp, sizes[e]);
}
