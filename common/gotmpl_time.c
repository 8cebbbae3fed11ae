/*
 * The template function map, part 3: time. Go's layout-based formatting
 * and parsing ("2006-01-02T15:04:05.000Z07:00"), civil-date arithmetic,
 * and the functions __timestamp__, now, date, toDate, toDateInZone,
 * unixEpoch(/Millis/Nanos) and unixToTime. The server's zone (Go's Local)
 * is taken as UTC. Pure functions; run on the executing thread.
 */
#include "common/gotmpl_int.h"
#include "common/clock.h"
#include "common/mem.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------- time and zones */



static int64_t floordiv(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && ((a < 0) != (b < 0)));
}

struct noa__gotmpl_val noa__gotmpl_time_make(int64_t sec, int64_t nsec)
{
    sec += floordiv(nsec, 1000000000);
    nsec -= floordiv(nsec, 1000000000) * 1000000000;
    struct noa__gotmpl_val v = {.kind = NOA_GOTMPL_TIME};
    v.u.t.sec = sec;
    v.u.t.nsec = (int32_t)nsec;
    v.u.t.off = 0;
    return v;
}

static const char *const month_names[] = {"January",   "February", "March",    "April",
                                          "May",       "June",     "July",     "August",
                                          "September", "October",  "November", "December"};
static const char *const day_names[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                        "Thursday", "Friday", "Saturday"};

enum std {
    S_NONE,
    S_LONGMONTH,
    S_MONTH,
    S_NUMMONTH,
    S_ZEROMONTH,
    S_LONGWEEKDAY,
    S_WEEKDAY,
    S_DAY,
    S_UNDERDAY,
    S_ZERODAY,
    S_UNDERYDAY,
    S_ZEROYDAY,
    S_HOUR,
    S_HOUR12,
    S_ZEROHOUR12,
    S_MINUTE,
    S_ZEROMINUTE,
    S_SECOND,
    S_ZEROSECOND,
    S_LONGYEAR,
    S_YEAR,
    S_PM,
    S_pm,
    S_TZ,
    S_ISO8601TZ,
    S_ISO8601COLONTZ,
    S_ISO8601SHORTTZ,
    S_NUMTZ,
    S_NUMCOLONTZ,
    S_NUMSHORTTZ,
    S_FRAC0,
    S_FRAC9,
};

/* Layout elements, longest first among those sharing a first byte. */
static const struct {
    const char *lit;
    enum std std;
} stds[] = {
    {"January", S_LONGMONTH},
    {"Jan", S_MONTH},
    {"Monday", S_LONGWEEKDAY},
    {"Mon", S_WEEKDAY},
    {"MST", S_TZ},
    {"002", S_ZEROYDAY},
    {"01", S_ZEROMONTH},
    {"02", S_ZERODAY},
    {"03", S_ZEROHOUR12},
    {"04", S_ZEROMINUTE},
    {"05", S_ZEROSECOND},
    {"06", S_YEAR},
    {"15", S_HOUR},
    {"1", S_NUMMONTH},
    {"2006", S_LONGYEAR},
    {"2", S_DAY},
    {"__2", S_UNDERYDAY},
    {"_2", S_UNDERDAY},
    {"3", S_HOUR12},
    {"4", S_MINUTE},
    {"5", S_SECOND},
    {"PM", S_PM},
    {"pm", S_pm},
    {"-07:00", S_NUMCOLONTZ},
    {"-0700", S_NUMTZ},
    {"-07", S_NUMSHORTTZ},
    {"Z07:00", S_ISO8601COLONTZ},
    {"Z0700", S_ISO8601TZ},
    {"Z07", S_ISO8601SHORTTZ},
};

/* Finds the next layout element in l[0..n): returns its offset, sets *std
 * and *len (and *digits for fractions); returns n when there is none. */
static size_t next_std(const char *l, size_t n, enum std *std, size_t *len, int *digits)
{
    for (size_t i = 0; i < n; i++) {
        const char *p = l + i;
        size_t r = n - i;
        /* "_2006" is a literal "_" and a year, not "_2" and "006". */
        if (r >= 5 && memcmp(p, "_2006", 5) == 0)
            continue;
        if ((p[0] == '.' || p[0] == ',') && r >= 2 && (p[1] == '0' || p[1] == '9')) {
            size_t j = 1;
            while (j < r && p[j] == p[1])
                j++;
            if (!(j < r && isdigit((unsigned char)p[j]))) {
                *std = p[1] == '0' ? S_FRAC0 : S_FRAC9;
                *len = j;
                *digits = (int)j - 1;
                return i;
            }
        }
        for (size_t k = 0; k < sizeof(stds) / sizeof(stds[0]); k++) {
            size_t ll = strlen(stds[k].lit);
            if (stds[k].lit[0] == p[0] && r >= ll && memcmp(p, stds[k].lit, ll) == 0) {
                *std = stds[k].std;
                *len = ll;
                return i;
            }
        }
    }
    return n;
}

/* Appends the time in v formatted with the Go layout l. */
void noa__gotmpl_time_format(const struct noa__gotmpl_val *v, const char *l, size_t n,
                             struct noa_buf *b)
{
    int64_t local = v->u.t.sec + v->u.t.off;
    int64_t days = floordiv(local, 86400);
    int64_t secs = local - days * 86400;
    int64_t year;
    int mon, day;
    noa_civil_from_days(days, &year, &mon, &day);
    int hour = (int)(secs / 3600), min = (int)(secs / 60 % 60), sec = (int)(secs % 60);
    int wday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
    int yday = (int)(days - noa_days_from_civil(year, 1, 1)) + 1;
    int off = v->u.t.off;
    while (n > 0) {
        enum std s;
        size_t len = 0;
        int digits = 0;
        size_t at = next_std(l, n, &s, &len, &digits);
        noa_buf_append(b, l, at);
        if (at == n)
            break;
        int h12 = hour % 12 == 0 ? 12 : hour % 12;
        int aoff = off < 0 ? -off : off;
        char sign = off < 0 ? '-' : '+';
        switch (s) {
        case S_LONGMONTH:
            noa_buf_printf(b, "%s", month_names[mon - 1]);
            break;
        case S_MONTH:
            noa_buf_printf(b, "%.3s", month_names[mon - 1]);
            break;
        case S_NUMMONTH:
            noa_buf_printf(b, "%d", mon);
            break;
        case S_ZEROMONTH:
            noa_buf_printf(b, "%02d", mon);
            break;
        case S_LONGWEEKDAY:
            noa_buf_printf(b, "%s", day_names[wday]);
            break;
        case S_WEEKDAY:
            noa_buf_printf(b, "%.3s", day_names[wday]);
            break;
        case S_DAY:
            noa_buf_printf(b, "%d", day);
            break;
        case S_UNDERDAY:
            noa_buf_printf(b, "%2d", day);
            break;
        case S_ZERODAY:
            noa_buf_printf(b, "%02d", day);
            break;
        case S_UNDERYDAY:
            noa_buf_printf(b, "%3d", yday);
            break;
        case S_ZEROYDAY:
            noa_buf_printf(b, "%03d", yday);
            break;
        case S_HOUR:
            noa_buf_printf(b, "%02d", hour);
            break;
        case S_HOUR12:
            noa_buf_printf(b, "%d", h12);
            break;
        case S_ZEROHOUR12:
            noa_buf_printf(b, "%02d", h12);
            break;
        case S_MINUTE:
            noa_buf_printf(b, "%d", min);
            break;
        case S_ZEROMINUTE:
            noa_buf_printf(b, "%02d", min);
            break;
        case S_SECOND:
            noa_buf_printf(b, "%d", sec);
            break;
        case S_ZEROSECOND:
            noa_buf_printf(b, "%02d", sec);
            break;
        case S_LONGYEAR:
            noa_buf_printf(b, "%04" PRId64, year);
            break;
        case S_YEAR:
            noa_buf_printf(b, "%02d", (int)(((year % 100) + 100) % 100));
            break;
        case S_PM:
            noa_buf_append(b, hour >= 12 ? "PM" : "AM", 2);
            break;
        case S_pm:
            noa_buf_append(b, hour >= 12 ? "pm" : "am", 2);
            break;
        case S_TZ:
            if (off == 0)
                noa_buf_append(b, "UTC", 3);
            else if (aoff % 3600 == 0)
                noa_buf_printf(b, "%c%02d", sign, aoff / 3600);
            else
                noa_buf_printf(b, "%c%02d%02d", sign, aoff / 3600, aoff / 60 % 60);
            break;
        case S_ISO8601TZ:
        case S_ISO8601COLONTZ:
        case S_ISO8601SHORTTZ:
            if (off == 0) {
                noa_buf_putc(b, 'Z');
                break;
            }
            __attribute__((fallthrough));
        case S_NUMTZ:
        case S_NUMCOLONTZ:
        case S_NUMSHORTTZ:
            noa_buf_printf(b, "%c%02d", sign, aoff / 3600);
            if (s == S_NUMCOLONTZ || s == S_ISO8601COLONTZ)
                noa_buf_printf(b, ":%02d", aoff / 60 % 60);
            else if (s == S_NUMTZ || s == S_ISO8601TZ)
                noa_buf_printf(b, "%02d", aoff / 60 % 60);
            break;
        case S_FRAC0:
        case S_FRAC9: {
            char f[16];
            snprintf(f, sizeof(f), "%09d", (int)v->u.t.nsec);
            int nd = digits > 9 ? 9 : digits;
            if (s == S_FRAC9) {
                while (nd > 0 && f[nd - 1] == '0')
                    nd--;
                if (nd == 0)
                    break;
            }
            noa_buf_putc(b, l[at]);
            noa_buf_append(b, f, (size_t)nd);
            break;
        }
        case S_NONE:
            break;
        }
        l += at + len;
        n -= at + len;
    }
}

static int get_num(const char **p, const char *e, int min, int max, int *out)
{
    int v = 0, k = 0;
    while (*p < e && k < max && isdigit((unsigned char)**p)) {
        v = v * 10 + (**p - '0');
        (*p)++;
        k++;
    }
    if (k < min)
        return -1;
    *out = v;
    return 0;
}

static int get_name(const char **p, const char *e, const char *const *names, int count, int abbr)
{
    for (int i = 0; i < count; i++) {
        size_t l = abbr ? 3 : strlen(names[i]);
        if ((size_t)(e - *p) >= l && strncasecmp(*p, names[i], l) == 0) {
            *p += l;
            return i;
        }
    }
    return -1;
}

/* Go's time.Parse for the layouts above; zone abbreviations other than
 * UTC are read as UTC (Go does the same for unknown ones). Returns 0 or
 * -1 when value does not match layout. */
static int time_parse(const char *l, size_t ln, const char *s, size_t sn,
                      struct noa__gotmpl_val *out, int *had_zone)
{
    *had_zone = 0;
    const char *p = s, *e = s + sn;
    int64_t year = 0; /* Go: omitted elements are zero, or one where zero is impossible */
    int mon = 1, day = 1, hour = 0, min = 0, sec = 0, pm = -1, off = 0, yday = -1;
    int64_t nsec = 0;
    while (ln > 0) {
        enum std st;
        size_t len = 0;
        int digits = 0, v = 0;
        size_t at = next_std(l, ln, &st, &len, &digits);
        if ((size_t)(e - p) < at || memcmp(p, l, at) != 0)
            return -1;
        p += at;
        if (at == ln)
            break;
        int rc = 0;
        switch (st) {
        case S_LONGMONTH:
        case S_MONTH:
            v = get_name(&p, e, month_names, 12, st == S_MONTH);
            rc = v < 0 ? -1 : 0;
            mon = v + 1;
            break;
        case S_LONGWEEKDAY:
        case S_WEEKDAY:
            rc = get_name(&p, e, day_names, 7, st == S_WEEKDAY) < 0 ? -1 : 0;
            break;
        case S_NUMMONTH:
            rc = get_num(&p, e, 1, 2, &mon);
            break;
        case S_ZEROMONTH:
            rc = get_num(&p, e, 2, 2, &mon);
            break;
        case S_UNDERDAY:
            if (p < e && *p == ' ')
                p++;
            __attribute__((fallthrough));
        case S_DAY:
            rc = get_num(&p, e, 1, 2, &day);
            break;
        case S_ZERODAY:
            rc = get_num(&p, e, 2, 2, &day);
            break;
        case S_UNDERYDAY:
            while (p < e && *p == ' ')
                p++;
            rc = get_num(&p, e, 1, 3, &yday);
            break;
        case S_ZEROYDAY:
            rc = get_num(&p, e, 3, 3, &yday);
            break;
        case S_HOUR:
            rc = get_num(&p, e, 2, 2, &hour);
            break;
        case S_HOUR12:
            rc = get_num(&p, e, 1, 2, &hour);
            break;
        case S_ZEROHOUR12:
            rc = get_num(&p, e, 2, 2, &hour);
            break;
        case S_MINUTE:
            rc = get_num(&p, e, 1, 2, &min);
            break;
        case S_ZEROMINUTE:
            rc = get_num(&p, e, 2, 2, &min);
            break;
        case S_SECOND:
        case S_ZEROSECOND:
            rc = get_num(&p, e, st == S_SECOND ? 1 : 2, 2, &sec);
            /* Go accepts a fraction after seconds even when the layout has none. */
            if (rc == 0 && p + 1 < e && (*p == '.' || *p == ',') && isdigit((unsigned char)p[1]) &&
                !(ln > at + len && (l[at + len] == '.' || l[at + len] == ','))) {
                p++;
                int64_t scale = 100000000;
                while (p < e && isdigit((unsigned char)*p)) {
                    nsec += (*p - '0') * scale;
                    scale /= 10;
                    p++;
                }
            }
            break;
        case S_LONGYEAR:
            rc = get_num(&p, e, 4, 4, &v);
            year = v;
            break;
        case S_YEAR:
            rc = get_num(&p, e, 2, 2, &v);
            year = v >= 69 ? 1900 + v : 2000 + v;
            break;
        case S_PM:
        case S_pm:
            if (e - p >= 2 && strncasecmp(p, "PM", 2) == 0)
                pm = 1;
            else if (e - p >= 2 && strncasecmp(p, "AM", 2) == 0)
                pm = 0;
            else
                rc = -1;
            p += 2;
            break;
        case S_TZ:
            if (e - p >= 3 && strncmp(p, "UTC", 3) == 0) {
                p += 3;
                *had_zone = 1;
                break;
            }
            while (p < e && isupper((unsigned char)*p))
                p++;
            break;
        case S_ISO8601TZ:
        case S_ISO8601COLONTZ:
        case S_ISO8601SHORTTZ:
            if (p < e && *p == 'Z') {
                p++;
                *had_zone = 1;
                break;
            }
            __attribute__((fallthrough));
        case S_NUMTZ:
        case S_NUMCOLONTZ:
        case S_NUMSHORTTZ: {
            if (p >= e || (*p != '+' && *p != '-'))
                return -1;
            int sign = *p++ == '-' ? -1 : 1, hh = 0, mm = 0;
            rc = get_num(&p, e, 2, 2, &hh);
            if (rc == 0 && (st == S_NUMCOLONTZ || st == S_ISO8601COLONTZ)) {
                if (p >= e || *p != ':')
                    return -1;
                p++;
            }
            if (rc == 0 && st != S_NUMSHORTTZ && st != S_ISO8601SHORTTZ)
                rc = get_num(&p, e, 2, 2, &mm);
            off = sign * (hh * 3600 + mm * 60);
            *had_zone = 1;
            break;
        }
        case S_FRAC0:
        case S_FRAC9: {
            if (p >= e || (*p != '.' && *p != ',')) {
                if (st == S_FRAC9)
                    break;
                return -1;
            }
            p++;
            int64_t scale = 100000000;
            int k = 0;
            while (p < e && isdigit((unsigned char)*p)) {
                nsec += (*p - '0') * scale;
                scale /= 10;
                p++;
                k++;
            }
            if (k == 0 || (st == S_FRAC0 && k != digits))
                return -1;
            break;
        }
        case S_NONE:
            break;
        }
        if (rc)
            return -1;
        l += at + len;
        ln -= at + len;
    }
    if (p != e)
        return -1;
    if (pm == 1 && hour < 12)
        hour += 12;
    else if (pm == 0 && hour == 12)
        hour = 0;
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 59)
        return -1;
    int64_t days =
        yday > 0 ? noa_days_from_civil(year, 1, 1) + yday - 1 : noa_days_from_civil(year, mon, day);
    *out = noa__gotmpl_time_make(days * 86400 + hour * 3600 + min * 60 + sec - off, nsec);
    out->u.t.off = off;
    return 0;
}

static int f_timestamp(NOA_GOTMPL_FN_ARGS)
{
    (void)a;
    (void)n;
    int64_t ns = x->data->ts_ns;
    *out =
        noa__gotmpl_time_make(floordiv(ns, 1000000000), ns - floordiv(ns, 1000000000) * 1000000000);
    return 0;
}

/* ----------------------------------------------------------------- time */

static int f_now(NOA_GOTMPL_FN_ARGS)
{
    struct timespec ts;
    (void)x;
    (void)a;
    (void)n;
    clock_gettime(CLOCK_REALTIME, &ts);
    *out = noa__gotmpl_time_make(ts.tv_sec, ts.tv_nsec);
    return 0;
}

/* sprig date(layout, t): t may be a time or Unix seconds; anything else
 * is "now". The server's zone (Local) is taken as UTC. */
static int f_date(NOA_GOTMPL_FN_ARGS)
{
    struct noa_str l = {0};
    struct noa__gotmpl_val t;
    (void)n;
    int rc = noa__gotmpl_want_str(x, &a[0], &l);
    if (rc)
        return rc;
    if (a[1].kind == NOA_GOTMPL_TIME) {
        t = noa__gotmpl_time_make(a[1].u.t.sec, a[1].u.t.nsec);
    } else if (a[1].kind == NOA_GOTMPL_INT) {
        t = noa__gotmpl_time_make(a[1].u.i, 0);
    } else {
        f_now(x, a, 0, &t);
    }
    if (l.len > 4096)
        return noa__gotmpl_fail(x, NOA_ETOOBIG, "error calling date: layout too long");
    struct noa_buf b = noa__gotmpl_buf_take(x);
    noa__gotmpl_time_format(&t, l.p, l.len, &b);
    return noa__gotmpl_from_buf(x, &b, out);
}

static struct noa__gotmpl_val zero_time(void)
{
    return noa__gotmpl_time_make(noa_days_from_civil(1, 1, 1) * 86400, 0);
}

static int f_toDate(NOA_GOTMPL_FN_ARGS)
{
    struct noa_str s[2] = {{0}};
    int had_zone;
    (void)n;
    int rc = noa__gotmpl_want_strs(x, a, 2, s);
    if (rc)
        return rc;
    if (time_parse(s[0].p, s[0].len, s[1].p, s[1].len, out, &had_zone))
        *out = zero_time();
    return 0;
}

/* ------------------------------------------------------------- zones */

/* A zone loaded from a TZif file: transitions (Unix seconds, ascending)
 * and the UTC offset in force from each. */
struct noa__gotmpl_zone {
    int64_t *trans;
    int32_t *off; /* off[i] applies from trans[i]; */
    int ntrans;
    int32_t first; /* the offset before the first transition */
};

#define ZONE_MAX_FILE (256 * 1024)

static uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Parses the TZif data in b[0..n): the 64-bit block of version 2+ files,
 * else the 32-bit one. */
static int zone_parse(const unsigned char *b, size_t n, struct noa__gotmpl_zone *z)
{
    if (n < 44 || memcmp(b, "TZif", 4) != 0)
        return -1;
    int ver2 = b[4] >= '2';
    size_t tsize = 4;
    const unsigned char *h = b;
    for (int pass = 0; pass < 2; pass++) {
        uint32_t isut = be32(h + 20), isstd = be32(h + 24), leap = be32(h + 28),
                 timecnt = be32(h + 32), typecnt = be32(h + 36), charcnt = be32(h + 40);
        if (timecnt > 10000 || typecnt == 0 || typecnt > 256 || charcnt > 10000 || leap > 10000 ||
            isut > 256 || isstd > 256)
            return -1;
        size_t body =
            timecnt * tsize + timecnt + typecnt * 6 + charcnt + leap * (tsize + 4) + isstd + isut;
        if ((size_t)(h - b) + 44 + body > n)
            return -1;
        if (pass == 0 && ver2) {
            h += 44 + body; /* skip the 32-bit block */
            tsize = 8;
            if ((size_t)(h - b) + 44 > n || memcmp(h, "TZif", 4) != 0)
                return -1;
            continue;
        }
        const unsigned char *t = h + 44, *ix = t + timecnt * tsize, *ty = ix + timecnt;
        z->trans = noa_xcalloc(timecnt + 1, sizeof(*z->trans));
        z->off = noa_xcalloc(timecnt + 1, sizeof(*z->off));
        z->ntrans = (int)timecnt;
        for (uint32_t i = 0; i < timecnt; i++) {
            uint64_t v = tsize == 8 ? ((uint64_t)be32(t + 8 * i) << 32) | be32(t + 8 * i + 4)
                                    : (uint64_t)(int64_t)(int32_t)be32(t + 4 * i);
            z->trans[i] = (int64_t)v;
            if (ix[i] >= typecnt)
                return -1;
            z->off[i] = (int32_t)be32(ty + 6 * ix[i]);
        }
        /* Before the first transition: the first standard-time type. */
        z->first = (int32_t)be32(ty);
        for (uint32_t k = 0; k < typecnt; k++)
            if (ty[6 * k + 4] == 0) {
                z->first = (int32_t)be32(ty + 6 * k);
                break;
            }
        return 0;
    }
    return -1;
}

void noa__gotmpl_time_zone_free(struct noa__gotmpl_zone *z)
{
    if (!z)
        return;
    noa_free(z->trans);
    noa_free(z->off);
    noa_free(z);
}

int noa__gotmpl_time_zone_load(const char *name, size_t len, struct noa__gotmpl_zone **out)
{
    char path[300];
    unsigned char *b = NULL;
    FILE *f = NULL;
    struct noa__gotmpl_zone *z = NULL;
    int rc = -1;
    *out = NULL;
    /* Zone names are relative paths under the zoneinfo tree, nothing else. */
    if (len == 0 || len > 200 || name[0] == '/' || memchr(name, '\0', len) ||
        memmem(name, len, "..", 2))
        goto fail;
    snprintf(path, sizeof(path), "/usr/share/zoneinfo/%.*s", (int)len, name);
    f = fopen(path, "rb");
    if (!f)
        goto fail;
    b = noa_xmalloc(ZONE_MAX_FILE);
    size_t n = fread(b, 1, ZONE_MAX_FILE, f);
    z = noa_xcalloc(1, sizeof(*z));
    if (zone_parse(b, n, z))
        goto fail;
    *out = z;
    z = NULL;
    rc = 0;
fail:
    noa__gotmpl_time_zone_free(z);
    noa_free(b);
    if (f)
        fclose(f);
    return rc;
}

static int32_t zone_offset(const struct noa__gotmpl_zone *z, int64_t utc)
{
    int lo = 0, hi = z->ntrans; /* first transition after utc */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (z->trans[mid] <= utc)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? z->first : z->off[lo - 1];
}

/* Loki's toDateInZone(layout, zone, value): the value is read as wall
 * time in zone (a TZif file under /usr/share/zoneinfo) unless it carries
 * its own offset. Unknown zones, "", "UTC" and "Local" are UTC. A value
 * that does not parse gives the zero time, as Go ignores the error. */
static int f_toDateInZone(NOA_GOTMPL_FN_ARGS)
{
    struct noa_str s[3] = {{0}};
    struct noa__gotmpl_zone *owned = NULL;
    int had_zone;
    (void)n;
    int rc = noa__gotmpl_want_strs(x, a, 3, s);
    if (rc)
        return rc;
    if (time_parse(s[0].p, s[0].len, s[2].p, s[2].len, out, &had_zone)) {
        *out = zero_time();
        return 0;
    }
    const struct noa__gotmpl_zone *z = x->zone_hint;
    if (!z && !noa_str_eq_c(s[1], "UTC") && !noa_str_eq_c(s[1], "Local") &&
        noa__gotmpl_time_zone_load(s[1].p, s[1].len, &owned) == 0)
        z = owned;
    if (z && !had_zone) {
        /* Wall time to UTC: the offset in force at the resulting instant. */
        int64_t wall = out->u.t.sec;
        int32_t off = zone_offset(z, wall);
        off = zone_offset(z, wall - off);
        out->u.t.sec = wall - off;
        out->u.t.off = off;
    } else if (z) {
        out->u.t.off = zone_offset(z, out->u.t.sec);
    }
    noa__gotmpl_time_zone_free(owned);
    return 0;
}

static int epoch(struct noa__gotmpl_exec *x, const struct noa__gotmpl_val *a, int64_t div,
                 struct noa__gotmpl_val *out)
{
    int rc = noa__gotmpl_want_time(x, &a[0]);
    if (rc)
        return rc;
    char b[32];
    int64_t v;
    if (div == 1)
        v = a[0].u.t.sec;
    else if (div == 1000)
        v = a[0].u.t.sec * 1000 + a[0].u.t.nsec / 1000000;
    else
        v = a[0].u.t.sec * 1000000000 + a[0].u.t.nsec;
    int len = snprintf(b, sizeof(b), "%" PRId64, v);
    char *d = noa__gotmpl_mk(x, (size_t)len);
    if (!d)
        return NOA_ETOOBIG;
    memcpy(d, b, (size_t)len);
    *out = noa__gotmpl_str((struct noa_str){d, (size_t)len});
    return 0;
}

static int f_unixEpoch(NOA_GOTMPL_FN_ARGS)
{
    (void)n;
    return epoch(x, a, 1, out);
}

static int f_unixEpochMillis(NOA_GOTMPL_FN_ARGS)
{
    (void)n;
    return epoch(x, a, 1000, out);
}

static int f_unixEpochNanos(NOA_GOTMPL_FN_ARGS)
{
    (void)n;
    return epoch(x, a, 1000000000, out);
}

/* Loki's unixToTime: the digit count picks days, s, ms, µs or ns. */
static int f_unixToTime(NOA_GOTMPL_FN_ARGS)
{
    struct noa_str s = {0};
    char b[32];
    (void)n;
    int rc = noa__gotmpl_want_str(x, &a[0], &s);
    if (rc)
        return rc;
    char *end = b;
    long long v = 0;
    if (s.len > 0 && s.len < sizeof(b)) {
        memcpy(b, s.p, s.len);
        b[s.len] = '\0';
        errno = 0;
        v = strtoll(b, &end, 10);
        if (errno || isspace((unsigned char)b[0]))
            end = b;
    }
    if (s.len == 0 || s.len >= sizeof(b) || *end)
        return noa__gotmpl_fail(x, NOA_EINVAL,
                                "error calling unixToTime: unable to parse time '%.*s': "
                                "strconv.ParseInt: parsing \"%.*s\": invalid syntax",
                                (int)(s.len > 40 ? 40 : s.len), s.p, (int)(s.len > 40 ? 40 : s.len),
                                s.p);
    switch (s.len) {
    case 5:
        *out = noa__gotmpl_time_make(v * 86400, 0);
        return 0;
    case 10:
        *out = noa__gotmpl_time_make(v, 0);
        return 0;
    case 13:
        *out = noa__gotmpl_time_make(0, v * 1000000);
        return 0;
    case 16:
        *out = noa__gotmpl_time_make(0, v * 1000);
        return 0;
    case 19:
        *out = noa__gotmpl_time_make(0, v);
        return 0;
    default:
        /* Loki wraps a nil error here, which Go prints as %!w(<nil>). */
        return noa__gotmpl_fail(x, NOA_EINVAL,
                                "error calling unixToTime: unable to parse time '%.*s': "
                                "%%!w(<nil>)",
                                (int)s.len, s.p);
    }
}

const struct noa__gotmpl_func noa__gotmpl_time_funcs[] = {
    {"__timestamp__", 0, 0, f_timestamp},
    {"unixEpoch", 1, 1, f_unixEpoch},
    {"unixEpochMillis", 1, 1, f_unixEpochMillis},
    {"unixEpochNanos", 1, 1, f_unixEpochNanos},
    {"unixToTime", 1, 1, f_unixToTime},
    {"toDateInZone", 3, 3, f_toDateInZone},
    {"date", 2, 2, f_date},
    {"toDate", 2, 2, f_toDate},
    {"now", 0, 0, f_now},
    {NULL, 0, 0, NULL},
};
