/*
 * Fuzz target for shipper/gotime: the input is "layout\0value" (or, with
 * no NUL, a value tried against every named Promtail format and a few
 * layouts, the first byte choosing "now"). Parsing must never read out of
 * bounds, must give the same answer twice, and a result must survive the
 * no-year path's year arithmetic without overflow. The RFC 3339 fast path
 * must agree with the general layout parser whenever it answers.
 */
#include "shipper/gotime.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const formats[] = {
    "ANSIC",
    "UnixDate",
    "RubyDate",
    "RFC822",
    "RFC822Z",
    "RFC850",
    "RFC1123",
    "RFC1123Z",
    "RFC3339",
    "RFC3339Nano",
    "Unix",
    "UnixMs",
    "UnixUs",
    "UnixNs",
    "Jan _2 15:04:05",
    "2006-002 __2 3:04:05.999 PM MST -07:00:00",
    "Monday, January 2 2006 15:04:05,000 Z070000",
};

static void check(const struct noa_gotime_format *f, const char *v, size_t n, int64_t now)
{
    int64_t a = 0, b = 0;
    int ra = noa_gotime_parse(f, v, n, now, &a);
    int rb = noa_gotime_parse(f, v, n, now, &b);
    if (ra != rb || (ra == 0 && a != b) || (ra != 0 && ra != NOA_EINVAL))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    const char *nul = memchr(p, '\0', size);
    struct noa_error err;
    struct noa_gotime_format *f = NULL;
    int64_t now = size ? (int64_t)data[0] * 86400LL * 1000000000LL * 30 : 0;
    if (nul) {
        if (noa_gotime_format_new(p, NULL, &f, &err) == 0) {
            check(f, nul + 1, size - (size_t)(nul + 1 - p), now);
            noa_gotime_format_free(f);
        }
        return 0;
    }
    static const char *const rfc[] = {"2006-01-02T15:04:05Z07:00",
                                      "2006-01-02T15:04:05.999999999Z07:00"};
    for (int i = 0; i < 2; i++) {
        int64_t fast = 0, slow = 0;
        if (noa_gotime_format_new(i ? "RFC3339Nano" : "RFC3339", NULL, &f, &err) != 0)
            abort();
        int rf = noa_gotime_parse(f, p, size, now, &fast);
        int rs = noa_gotime_parse_layout(rfc[i], strlen(rfc[i]), p, size, NULL, &slow);
        if (rf != rs || (rf == 0 && fast != slow))
            abort();
        noa_gotime_format_free(f);
    }
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        if (noa_gotime_format_new(formats[i], NULL, &f, &err) != 0)
            abort();
        check(f, p, size, now);
        noa_gotime_format_free(f);
    }
    return 0;
}
