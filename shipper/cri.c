/*
 * CRI log line decoder and the RFC3339Nano parser (see cri.h). Hand-written
 * rather than a regex because it runs once per tailed line: one pass, no
 * allocation, no state. Any thread.
 */
#include "shipper/cri.h"

#include <string.h>

/* Reads exactly `w` decimal digits at p; -1 when any is not a digit. */
static int digits(const char *p, int w)
{
    int v = 0;
    for (int i = 0; i < w; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9)
            return -1;
        v = v * 10 + (int)d;
    }
    return v;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar,
 * counting in eras of 400 years so the arithmetic stays in integers. */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t mp = (m + 9) % 12; /* March = 0, so February ends the year */
    int64_t doy = (153 * mp + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int noa_cri_parse_time(const char *p, size_t n, int64_t *ns, struct noa_error *err)
{
    /* Fixed part: "2006-01-02T15:04:05" is 19 bytes, then at least "Z". */
    if (n < 20)
        return noa_error_set(err, NOA_EINVAL, "time: %s", n ? "too short for RFC3339" : "empty");
    if (p[4] != '-' || p[7] != '-' || p[10] != 'T' || p[13] != ':' || p[16] != ':')
        return noa_error_set(err, NOA_EINVAL, "time: not RFC3339 (want YYYY-MM-DDTHH:MM:SS)");
    int y = digits(p, 4), mo = digits(p + 5, 2), d = digits(p + 8, 2);
    int h = digits(p + 11, 2), mi = digits(p + 14, 2), s = digits(p + 17, 2);
    if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || s < 0)
        return noa_error_set(err, NOA_EINVAL, "time: non-digit in date or clock");
    if (mo < 1 || mo > 12)
        return noa_error_set(err, NOA_EINVAL, "time: month %d out of range", mo);
    if (d < 1 || d > days_in_month(y, mo))
        return noa_error_set(err, NOA_EINVAL, "time: day %d out of range for month %d", d, mo);
    if (h > 23 || mi > 59 || s > 59)
        return noa_error_set(err, NOA_EINVAL, "time: clock %02d:%02d:%02d out of range", h, mi, s);

    size_t i = 19;
    int64_t frac = 0;
    if (p[i] == '.' || p[i] == ',') {
        size_t start = ++i;
        int kept = 0;
        while (i < n && (unsigned)((unsigned char)p[i] - '0') <= 9) {
            if (kept < 9) {
                frac = frac * 10 + (p[i] - '0');
                kept++;
            }
            i++;
        }
        if (i == start)
            return noa_error_set(err, NOA_EINVAL, "time: no digits after the decimal point");
        for (; kept < 9; kept++)
            frac *= 10;
    }
    int64_t off = 0;
    if (i < n && p[i] == 'Z') {
        i++;
    } else if (i < n && (p[i] == '+' || p[i] == '-')) {
        if (n - i < 6 || p[i + 3] != ':')
            return noa_error_set(err, NOA_EINVAL, "time: offset must be +hh:mm or -hh:mm");
        int oh = digits(p + i + 1, 2), om = digits(p + i + 4, 2);
        if (oh < 0 || om < 0 || oh > 23 || om > 59)
            return noa_error_set(err, NOA_EINVAL, "time: bad offset %.6s", p + i);
        off = (int64_t)(oh * 3600 + om * 60) * (p[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return noa_error_set(err, NOA_EINVAL, "time: missing zone (Z or +hh:mm)");
    }
    if (i != n)
        return noa_error_set(err, NOA_EINVAL, "time: unexpected text after the zone");

    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - off;
    int64_t out;
    /* Borrow a second for negative times so the very first representable
     * instant (1677-09-21T00:12:43.145224192Z) does not overflow midway. */
    if (secs < 0 && frac > 0) {
        secs++;
        frac -= 1000000000;
    }
    if (__builtin_mul_overflow(secs, (int64_t)1000000000, &out) ||
        __builtin_add_overflow(out, frac, &out))
        return noa_error_set(err, NOA_EINVAL, "time: year %d outside the nanosecond range", y);
    *ns = out;
    return 0;
}

const char *noa_cri_stream_name(int stream)
{
    return stream == NOA_CRI_STDOUT ? "stdout" : stream == NOA_CRI_STDERR ? "stderr" : "";
}

int noa_cri_parse(const char *p, size_t n, struct noa_cri_line *out, struct noa_error *err)
{
    if (n && p[n - 1] == '\n') {
        n--;
        if (n && p[n - 1] == '\r')
            n--;
    }
    const char *end = p + n;
    const char *sp = n ? memchr(p, ' ', n) : NULL;
    if (!sp)
        return noa_error_set_at(err, NOA_EINVAL, 1, 1,
                                "cri: expected '<time> <stream> <tags> <content>'");
    struct noa_error terr;
    if (noa_cri_parse_time(p, (size_t)(sp - p), &out->ts_ns, &terr) != 0)
        return noa_error_set_at(err, NOA_EINVAL, 1, 1, "cri: %s", terr.msg);

    const char *q = sp + 1;
    if (end - q >= 6 && memcmp(q, "stdout", 6) == 0)
        out->stream = NOA_CRI_STDOUT;
    else if (end - q >= 6 && memcmp(q, "stderr", 6) == 0)
        out->stream = NOA_CRI_STDERR;
    else
        return noa_error_set_at(err, NOA_EINVAL, 1, (int)(q - p) + 1,
                                "cri: stream must be stdout or stderr");
    q += 6;
    if (q == end || *q != ' ')
        return noa_error_set_at(err, NOA_EINVAL, 1, (int)(q - p) + 1,
                                "cri: expected a space and tags after the stream");
    q++;

    const char *tags = q;
    const char *tend = memchr(q, ' ', (size_t)(end - q));
    if (!tend)
        tend = end; /* "... stdout F" without the space: empty content */
    size_t tlen = (size_t)(tend - tags);
    if (tlen == 0 || (tags[0] != 'P' && tags[0] != 'F') || (tlen > 1 && tags[1] != ':'))
        return noa_error_set_at(err, NOA_EINVAL, 1, (int)(tags - p) + 1,
                                "cri: first tag must be P (partial) or F (full)");
    out->partial = tags[0] == 'P';
    out->tags = (struct noa_str){tags, tlen};
    const char *c = tend < end ? tend + 1 : end;
    out->content = (struct noa_str){c, (size_t)(end - c)};
    return 0;
}
