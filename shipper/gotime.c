/*
 * Go time layouts and IANA zones (see gotime.h).
 *
 * The layout parser follows the rules of Go's time.Parse: the layout is cut
 * into literal text and "std" chunks (Jan, 01, _2, 15, .000, -07:00, MST...);
 * literal spaces match runs of spaces; chunks read one or two digits unless
 * zero-padded; a fractional second after the seconds is accepted even when
 * the layout has none; a zone abbreviation is looked up in the location and
 * otherwise means "wall clock as UTC". Zones come from TZif files read here
 * (v1 and v2+ data, and the POSIX TZ rule of the footer for later times),
 * with Go's lookup rules, so no libc time zone state is touched and any
 * thread may parse at any time.
 *
 * Zones and formats are immutable after construction; any thread.
 */
#include "shipper/gotime.h"
#include "common/clock.h"
#include "common/buf.h"
#include "common/mem.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZ_MAX_FILE (1u << 20) /* no real TZif file comes near 1 MiB */
#define TZ_MAX_TYPES 256
#define TZ_MAX_ABBR 16

/* ---- calendar -------------------------------------------------------------- */

static int is_leap(int64_t y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int days_in(int month, int64_t year)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap(year) ? 29 : dm[month - 1];
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}


/* ---- zones ----------------------------------------------------------------- */

struct tz_type {
    int32_t off; /* seconds east of UTC */
    int isdst;
    char abbr[TZ_MAX_ABBR];
};

enum rule_kind { RULE_JULIAN, RULE_DOY, RULE_MWD };

struct tz_rule {
    enum rule_kind kind;
    int day, week, mon;
    int32_t time; /* seconds after local midnight */
};

/* The POSIX TZ string of a TZif footer, for times after the last transition. */
struct tz_posix {
    int present;
    int has_dst;
    char std_abbr[TZ_MAX_ABBR], dst_abbr[TZ_MAX_ABBR];
    int32_t std_off, dst_off; /* seconds east of UTC */
    struct tz_rule start, end;
};

struct noa_gotime_zone {
    char *name;
    int n_types;
    struct tz_type *types;
    size_t n_trans;
    int64_t *trans;     /* ascending Unix seconds */
    uint8_t *trans_idx; /* type of each transition */
    struct tz_posix posix;
};

static const char *posix_name(const char *s, char *out)
{
    size_t n = 0;
    if (*s == '<') {
        s++;
        while (s[n] && s[n] != '>')
            n++;
        if (s[n] != '>' || n < 3 || n >= TZ_MAX_ABBR)
            return NULL;
        memcpy(out, s, n);
        out[n] = 0;
        return s + n + 1;
    }
    while (s[n] && ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z')))
        n++;
    if (n < 3 || n >= TZ_MAX_ABBR)
        return NULL;
    memcpy(out, s, n);
    out[n] = 0;
    return s + n;
}

/* [+-]hh[:mm[:ss]] as seconds (sign kept as written). */
static const char *posix_offset(const char *s, int32_t *out)
{
    int neg = 0;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    int32_t parts[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (i > 0) {
            if (*s != ':')
                break;
            s++;
        }
        if (*s < '0' || *s > '9')
            return NULL;
        int32_t v = 0;
        int nd = 0;
        while (*s >= '0' && *s <= '9' && nd < 3) {
            v = v * 10 + (*s++ - '0');
            nd++;
        }
        parts[i] = v;
    }
    if (parts[0] > 167 || parts[1] > 59 || parts[2] > 59)
        return NULL;
    int32_t v = parts[0] * 3600 + parts[1] * 60 + parts[2];
    *out = neg ? -v : v;
    return s;
}

static const char *posix_num(const char *s, int *out, int lo, int hi)
{
    if (*s < '0' || *s > '9')
        return NULL;
    int v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s++ - '0');
        if (v > hi)
            return NULL;
    }
    if (v < lo)
        return NULL;
    *out = v;
    return s;
}

static const char *posix_rule(const char *s, struct tz_rule *r)
{
    memset(r, 0, sizeof(*r));
    if (*s == 'J') {
        r->kind = RULE_JULIAN;
        s = posix_num(s + 1, &r->day, 1, 365);
    } else if (*s == 'M') {
        r->kind = RULE_MWD;
        s = posix_num(s + 1, &r->mon, 1, 12);
        if (s && *s == '.')
            s = posix_num(s + 1, &r->week, 1, 5);
        else
            s = NULL;
        if (s && *s == '.')
            s = posix_num(s + 1, &r->day, 0, 6);
        else
            s = NULL;
    } else {
        r->kind = RULE_DOY;
        s = posix_num(s, &r->day, 0, 365);
    }
    if (!s)
        return NULL;
    r->time = 2 * 3600;
    if (*s == '/')
        s = posix_offset(s + 1, &r->time);
    return s;
}

static int posix_parse(const char *s, struct tz_posix *p)
{
    memset(p, 0, sizeof(*p));
    int32_t off;
    if (!(s = posix_name(s, p->std_abbr)) || !(s = posix_offset(s, &off)))
        return -1;
    p->std_off = -off;
    p->present = 1;
    if (!*s)
        return 0;
    if (!(s = posix_name(s, p->dst_abbr)))
        return -1;
    p->has_dst = 1;
    p->dst_off = p->std_off + 3600;
    if (*s && *s != ',') {
        if (!(s = posix_offset(s, &off)))
            return -1;
        p->dst_off = -off;
    }
    /* A DST zone without rules takes the US rules, as Go and glibc do. */
    if (!*s)
        s = ",M3.2.0,M11.1.0";
    if (*s != ',' || !(s = posix_rule(s + 1, &p->start)) || *s != ',' ||
        !(s = posix_rule(s + 1, &p->end)) || *s)
        return -1;
    return 0;
}

/* Seconds from the start of year (UTC) to the rule's moment. */
static int64_t rule_time(int64_t year, const struct tz_rule *r, int32_t off)
{
    int64_t d = 0;
    switch (r->kind) {
    case RULE_JULIAN:
        d = r->day - 1 + (is_leap(year) && r->day >= 60);
        break;
    case RULE_DOY:
        d = r->day;
        break;
    case RULE_MWD: {
        int64_t first = noa_days_from_civil(year, r->mon, 1);
        int dow = (int)(((first % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
        int md = r->day - dow;
        if (md < 0)
            md += 7;
        for (int i = 1; i < r->week; i++) {
            if (md + 7 >= days_in(r->mon, year))
                break;
            md += 7;
        }
        d = first - noa_days_from_civil(year, 1, 1) + md;
        break;
    }
    }
    return d * 86400 + r->time - off;
}

static void posix_lookup(const struct tz_posix *p, int64_t sec, int32_t *off, const char **abbr)
{
    if (!p->has_dst) {
        *off = p->std_off;
        *abbr = p->std_abbr;
        return;
    }
    int64_t y;
    int m, d;
    int64_t days = floor_div(sec, 86400);
    noa_civil_from_days(days, &y, &m, &d);
    int64_t ystart = noa_days_from_civil(y, 1, 1) * 86400;
    int64_t ysec = sec - ystart;
    int64_t start = rule_time(y, &p->start, p->std_off);
    int64_t end = rule_time(y, &p->end, p->dst_off);
    const char *sn = p->std_abbr, *dn = p->dst_abbr;
    int32_t so = p->std_off, dof = p->dst_off;
    /* Southern hemisphere: the "DST" period wraps the year end. */
    if (end < start) {
        int64_t t = start;
        start = end;
        end = t;
        sn = p->dst_abbr;
        dn = p->std_abbr;
        so = p->dst_off;
        dof = p->std_off;
    }
    if (ysec < start || ysec >= end) {
        *off = so;
        *abbr = sn;
    } else {
        *off = dof;
        *abbr = dn;
    }
}

static int first_zone(const struct noa_gotime_zone *z)
{
    int used = 0;
    for (size_t i = 0; i < z->n_trans && !used; i++)
        used = z->trans_idx[i] == 0;
    if (!used)
        return 0;
    if (z->n_trans > 0 && z->types[z->trans_idx[0]].isdst)
        for (int zi = z->trans_idx[0] - 1; zi >= 0; zi--)
            if (!z->types[zi].isdst)
                return zi;
    for (int zi = 0; zi < z->n_types; zi++)
        if (!z->types[zi].isdst)
            return zi;
    return 0;
}

int noa_gotime_zone_offset(const struct noa_gotime_zone *z, int64_t sec, const char **abbr)
{
    const char *a = "UTC";
    int32_t off = 0;
    if (!z || z->n_types == 0) {
        if (z && z->posix.present)
            posix_lookup(&z->posix, sec, &off, &a);
    } else if (z->n_trans == 0 || sec < z->trans[0]) {
        const struct tz_type *t = &z->types[first_zone(z)];
        off = t->off;
        a = t->abbr;
    } else {
        size_t lo = 0, hi = z->n_trans;
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (z->trans[mid] <= sec)
                lo = mid;
            else
                hi = mid;
        }
        const struct tz_type *t = &z->types[z->trans_idx[lo]];
        off = t->off;
        a = t->abbr;
        if (lo == z->n_trans - 1 && z->posix.present)
            posix_lookup(&z->posix, sec, &off, &a);
    }
    if (abbr)
        *abbr = a;
    return off;
}

void noa_gotime_zone_free(struct noa_gotime_zone *z)
{
    if (!z)
        return;
    noa_free(z->name);
    noa_free(z->types);
    noa_free(z->trans);
    noa_free(z->trans_idx);
    noa_free(z);
}

static uint32_t be32(const unsigned char *p)
{
    return noa_get_be32(p);
}

/* Parses TZif data into z. Returns 0 or -1. */
static int tzif_parse(const unsigned char *p, size_t n, struct noa_gotime_zone *z)
{
    if (n < 44 || memcmp(p, "TZif", 4) != 0)
        return -1;
    int version = p[4] ? p[4] - '0' : 1;
    size_t tsize = 4;
    for (int pass = 0; pass < 2; pass++) {
        if (n < 44 || memcmp(p, "TZif", 4) != 0)
            return -1;
        uint32_t isut = be32(p + 20), isstd = be32(p + 24), leap = be32(p + 28);
        uint32_t timecnt = be32(p + 32), typecnt = be32(p + 36), charcnt = be32(p + 40);
        if (typecnt == 0 || typecnt > TZ_MAX_TYPES || timecnt > 100000 || charcnt > 65536 ||
            leap > 100000 || isut > TZ_MAX_TYPES || isstd > TZ_MAX_TYPES)
            return -1;
        size_t need = 44 + (size_t)timecnt * (tsize + 1) + (size_t)typecnt * 6 + charcnt +
                      (size_t)leap * (tsize + 4) + isstd + isut;
        if (need > n)
            return -1;
        if (pass == 0 && version >= 2) {
            /* Skip the 32-bit block: the 64-bit one follows. */
            p += need;
            n -= need;
            tsize = 8;
            continue;
        }
        const unsigned char *q = p + 44;
        z->n_trans = timecnt;
        z->trans = noa_xmalloc((timecnt ? timecnt : 1) * sizeof(int64_t));
        z->trans_idx = noa_xmalloc(timecnt ? timecnt : 1);
        for (uint32_t i = 0; i < timecnt; i++, q += tsize)
            z->trans[i] = tsize == 8 ? (int64_t)noa_get_be64(q) : (int64_t)(int32_t)be32(q);
        for (uint32_t i = 0; i < timecnt; i++) {
            if (*q >= typecnt)
                return -1;
            z->trans_idx[i] = *q++;
        }
        const unsigned char *types = q;
        const char *chars = (const char *)(q + typecnt * 6);
        z->n_types = (int)typecnt;
        z->types = noa_xcalloc(typecnt, sizeof(struct tz_type));
        for (uint32_t i = 0; i < typecnt; i++) {
            const unsigned char *t = types + i * 6;
            z->types[i].off = (int32_t)be32(t);
            z->types[i].isdst = t[4] != 0;
            uint32_t ai = t[5];
            if (ai >= charcnt && charcnt > 0)
                return -1;
            size_t al = 0;
            while (ai + al < charcnt && chars[ai + al] && al + 1 < TZ_MAX_ABBR)
                al++;
            memcpy(z->types[i].abbr, chars + ai, al);
        }
        p += need;
        n -= need;
        if (tsize == 8 && n >= 2 && p[0] == '\n') {
            const unsigned char *nl = memchr(p + 1, '\n', n - 1);
            if (nl && nl - p - 1 < 64) {
                char tz[64];
                size_t tl = (size_t)(nl - p - 1);
                memcpy(tz, p + 1, tl);
                tz[tl] = 0;
                /* An unusable footer is ignored: the transitions still hold. */
                if (tl && posix_parse(tz, &z->posix) != 0)
                    memset(&z->posix, 0, sizeof(z->posix));
            }
        }
        break;
    }
    return 0;
}

static int read_file(const char *path, struct noa_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    char tmp[8192];
    size_t r;
    int rc = 0;
    while ((r = fread(tmp, 1, sizeof(tmp), f)) > 0) {
        if (out->len + r > TZ_MAX_FILE) {
            rc = NOA_ETOOBIG;
            break;
        }
        noa_buf_append(out, tmp, r);
    }
    if (!rc && ferror(f))
        rc = -EIO;
    fclose(f);
    return rc;
}

static int valid_zone_name(const char *name)
{
    if (name[0] == '/' || strstr(name, ".."))
        return 0;
    for (const char *s = name; *s; s++)
        if (*s == '\\')
            return 0;
    return 1;
}

/* Empties z back to UTC (after a failed parse). */
static void zone_clear(struct noa_gotime_zone *z)
{
    noa_free(z->types);
    noa_free(z->trans);
    noa_free(z->trans_idx);
    z->types = NULL;
    z->trans = NULL;
    z->trans_idx = NULL;
    z->n_types = 0;
    z->n_trans = 0;
    memset(&z->posix, 0, sizeof(z->posix));
}

/* Loads a TZif file into z: 0, -1 when it cannot be read, -2 when it is not
 * a valid zone file (z is left as UTC). */
static int load_path(struct noa_gotime_zone *z, const char *path, struct noa_buf *data)
{
    noa_buf_reset(data);
    if (read_file(path, data) != 0)
        return -1;
    if (tzif_parse((const unsigned char *)data->data, data->len, z) != 0) {
        zone_clear(z);
        return -2;
    }
    return 0;
}

/* Loads zone `name` from the tz database directories, as load_path. */
static int load_named(struct noa_gotime_zone *z, const char *name, struct noa_buf *data)
{
    const char *dirs[4] = {getenv("ZONEINFO"), "/usr/share/zoneinfo", "/usr/share/lib/zoneinfo",
                           "/usr/lib/locale/TZ"};
    struct noa_buf path = {0};
    int rc = -1;
    for (int i = 0; i < 4 && rc == -1; i++) {
        if (!dirs[i] || !*dirs[i])
            continue;
        noa_buf_reset(&path);
        noa_buf_printf(&path, "%s/%s", dirs[i], name);
        rc = load_path(z, noa_buf_cstr(&path), data);
    }
    noa_buf_fini(&path);
    return rc;
}

/* Go's initLocal: $TZ (a zone name, or an absolute path after an optional
 * ':'), else /etc/localtime; UTC whenever that does not work out. */
static void load_local(struct noa_gotime_zone *z, struct noa_buf *data)
{
    const char *tz = getenv("TZ");
    if (!tz) {
        load_path(z, "/etc/localtime", data);
        return;
    }
    if (*tz == ':')
        tz++;
    if (*tz == '/')
        load_path(z, tz, data);
    else if (*tz && strcmp(tz, "UTC") != 0 && valid_zone_name(tz))
        load_named(z, tz, data);
}

int noa_gotime_zone_load(const char *name, struct noa_gotime_zone **out, struct noa_error *err)
{
    struct noa_buf data = {0};
    struct noa_gotime_zone *z = noa_xcalloc(1, sizeof(*z));
    int rc = 0;
    *out = NULL;
    if (!name)
        name = "";
    z->name = noa_xstrdup(*name ? name : "UTC");
    if (!*name || strcmp(name, "UTC") == 0) {
        /* no types: UTC */
    } else if (strcmp(name, "Local") == 0) {
        load_local(z, &data);
    } else {
        int r = valid_zone_name(name) ? load_named(z, name, &data) : -1;
        if (r == -1) {
            rc = noa_error_set(err, NOA_EINVAL, "unknown time zone %s", name);
            goto fail;
        }
        if (r == -2) {
            rc = noa_error_set(err, NOA_EINVAL, "invalid time zone file %s", name);
            goto fail;
        }
    }
    /* Go's loader: without transitions, one that covers all time, so the
     * footer rule (if any) applies everywhere. */
    if (z->n_types > 0 && z->n_trans == 0) {
        noa_free(z->trans);
        noa_free(z->trans_idx);
        z->trans = noa_xmalloc(sizeof(int64_t));
        z->trans_idx = noa_xmalloc(1);
        z->trans[0] = INT64_MIN;
        z->trans_idx[0] = 0;
        z->n_trans = 1;
    }
    noa_buf_fini(&data);
    *out = z;
    return 0;
fail:
    noa_buf_fini(&data);
    noa_gotime_zone_free(z);
    return rc;
}

/* Go's Location.lookupName: the offset of abbreviation name near time sec. */
static int zone_lookup_name(const struct noa_gotime_zone *z, const char *name, size_t len,
                            int64_t sec, int32_t *off)
{
    if (!z)
        return 0;
    for (int i = 0; i < z->n_types; i++) {
        const struct tz_type *t = &z->types[i];
        if (strlen(t->abbr) != len || memcmp(t->abbr, name, len) != 0)
            continue;
        const char *a;
        int32_t o = noa_gotime_zone_offset(z, sec - t->off, &a);
        if (strcmp(a, t->abbr) == 0) {
            *off = o;
            return 1;
        }
    }
    for (int i = 0; i < z->n_types; i++) {
        const struct tz_type *t = &z->types[i];
        if (strlen(t->abbr) == len && memcmp(t->abbr, name, len) == 0) {
            *off = t->off;
            return 1;
        }
    }
    return 0;
}

/* ---- layouts ----------------------------------------------------------------- */

enum std {
    STD_NONE = 0,
    STD_LONG_MONTH,
    STD_MONTH,
    STD_NUM_MONTH,
    STD_ZERO_MONTH,
    STD_LONG_WEEKDAY,
    STD_WEEKDAY,
    STD_DAY,
    STD_UNDER_DAY,
    STD_ZERO_DAY,
    STD_UNDER_YDAY,
    STD_ZERO_YDAY,
    STD_HOUR,
    STD_HOUR12,
    STD_ZERO_HOUR12,
    STD_MINUTE,
    STD_ZERO_MINUTE,
    STD_SECOND,
    STD_ZERO_SECOND,
    STD_LONG_YEAR,
    STD_YEAR,
    STD_PM,
    STD_pm,
    STD_TZ,
    STD_ISO_TZ,
    STD_ISO_SECONDS_TZ,
    STD_ISO_SHORT_TZ,
    STD_ISO_COLON_TZ,
    STD_ISO_COLON_SECONDS_TZ,
    STD_NUM_TZ,
    STD_NUM_SECONDS_TZ,
    STD_NUM_SHORT_TZ,
    STD_NUM_COLON_TZ,
    STD_NUM_COLON_SECONDS_TZ,
    STD_FRAC0,
    STD_FRAC9,
};

struct chunk {
    size_t start;  /* offset of the literal text in the layout (compiled chunks) */
    size_t prefix; /* literal bytes before the chunk */
    enum std std;
    size_t len; /* layout bytes of the chunk */
    int digits; /* fractional seconds: digits in the layout */
};

static int starts(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n >= l && memcmp(s, lit, l) == 0;
}

static int is_digit_at(const char *s, size_t n, size_t i)
{
    return i < n && s[i] >= '0' && s[i] <= '9';
}

/* Go's nextStdChunk: finds the first std chunk of layout[0..n). */
static struct chunk next_chunk(const char *l, size_t n)
{
    static const struct {
        const char *lit;
        enum std std;
    } tz[] = {
        {"Z070000", STD_ISO_SECONDS_TZ},
        {"Z07:00:00", STD_ISO_COLON_SECONDS_TZ},
        {"Z0700", STD_ISO_TZ},
        {"Z07:00", STD_ISO_COLON_TZ},
        {"Z07", STD_ISO_SHORT_TZ},
        {"-070000", STD_NUM_SECONDS_TZ},
        {"-07:00:00", STD_NUM_COLON_SECONDS_TZ},
        {"-0700", STD_NUM_TZ},
        {"-07:00", STD_NUM_COLON_TZ},
        {"-07", STD_NUM_SHORT_TZ},
    };
    for (size_t i = 0; i < n; i++) {
        const char *s = l + i;
        size_t r = n - i;
        struct chunk c = {0, i, STD_NONE, 0, 0};
        switch (s[0]) {
        case 'J':
            if (starts(s, r, "Jan")) {
                c.std = starts(s, r, "January") ? STD_LONG_MONTH : STD_MONTH;
                c.len = c.std == STD_LONG_MONTH ? 7 : 3;
                return c;
            }
            break;
        case 'M':
            if (starts(s, r, "Mon")) {
                c.std = starts(s, r, "Monday") ? STD_LONG_WEEKDAY : STD_WEEKDAY;
                c.len = c.std == STD_LONG_WEEKDAY ? 6 : 3;
                return c;
            }
            if (starts(s, r, "MST")) {
                c.std = STD_TZ;
                c.len = 3;
                return c;
            }
            break;
        case '0':
            if (r >= 2 && s[1] >= '1' && s[1] <= '6') {
                static const enum std z[] = {STD_ZERO_MONTH,  STD_ZERO_DAY,    STD_ZERO_HOUR12,
                                             STD_ZERO_MINUTE, STD_ZERO_SECOND, STD_YEAR};
                c.std = z[s[1] - '1'];
                c.len = 2;
                return c;
            }
            if (starts(s, r, "002")) {
                c.std = STD_ZERO_YDAY;
                c.len = 3;
                return c;
            }
            break;
        case '1':
            if (r >= 2 && s[1] == '5') {
                c.std = STD_HOUR;
                c.len = 2;
            } else {
                c.std = STD_NUM_MONTH;
                c.len = 1;
            }
            return c;
        case '2':
            if (starts(s, r, "2006")) {
                c.std = STD_LONG_YEAR;
                c.len = 4;
            } else {
                c.std = STD_DAY;
                c.len = 1;
            }
            return c;
        case '_':
            if (r >= 2 && s[1] == '2') {
                /* "_2006" is a literal underscore before a year. */
                if (starts(s + 1, r - 1, "2006")) {
                    c.prefix = i + 1;
                    c.std = STD_LONG_YEAR;
                    c.len = 4;
                    return c;
                }
                c.std = STD_UNDER_DAY;
                c.len = 2;
                return c;
            }
            if (starts(s, r, "__2")) {
                c.std = STD_UNDER_YDAY;
                c.len = 3;
                return c;
            }
            break;
        case '3':
        case '4':
        case '5':
            c.std = s[0] == '3' ? STD_HOUR12 : s[0] == '4' ? STD_MINUTE : STD_SECOND;
            c.len = 1;
            return c;
        case 'P':
            if (r >= 2 && s[1] == 'M') {
                c.std = STD_PM;
                c.len = 2;
                return c;
            }
            break;
        case 'p':
            if (r >= 2 && s[1] == 'm') {
                c.std = STD_pm;
                c.len = 2;
                return c;
            }
            break;
        case '-':
        case 'Z':
            for (size_t k = 0; k < sizeof(tz) / sizeof(tz[0]); k++) {
                if (starts(s, r, tz[k].lit)) {
                    c.std = tz[k].std;
                    c.len = strlen(tz[k].lit);
                    return c;
                }
            }
            break;
        case '.':
        case ',':
            if (r >= 2 && (s[1] == '0' || s[1] == '9')) {
                char ch = s[1];
                size_t j = 1;
                while (j < r && s[j] == ch)
                    j++;
                if (!is_digit_at(s, r, j)) {
                    c.std = ch == '0' ? STD_FRAC0 : STD_FRAC9;
                    c.len = j;
                    c.digits = (int)(j - 1);
                    return c;
                }
            }
            break;
        default:
            break;
        }
    }
    struct chunk none = {0, n, STD_NONE, 0, 0};
    return none;
}

/* Cuts a layout into its chunks once, so parsing does not rescan it: out
 * has room for n + 1 chunks; the last one (std NONE) holds the trailing
 * literal. Returns the number of chunks. */
static size_t compile_layout(const char *l, size_t n, struct chunk *out)
{
    size_t k = 0, off = 0;
    for (;;) {
        struct chunk c = next_chunk(l + off, n - off);
        c.start = off;
        out[k++] = c;
        if (c.std == STD_NONE)
            return k;
        off += c.prefix + c.len;
    }
}

struct fields {
    int64_t year;
    int month, day, yday;
    int hour, min, sec;
    int32_t nsec;
    int pm_set, am_set;
    int has_utc; /* 'Z' or "UTC" */
    int has_offset;
    int32_t offset; /* seconds east */
    const char *zname;
    size_t zlen;
};

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Go's lookup: the first table name that prefixes v (ASCII case-insensitive). */
static int lookup_name(const char *const *tab, int n, const char **v, size_t *vn)
{
    for (int i = 0; i < n; i++) {
        size_t l = strlen(tab[i]);
        if (*vn < l)
            continue;
        size_t k = 0;
        while (k < l && lower((unsigned char)(*v)[k]) == lower((unsigned char)tab[i][k]))
            k++;
        if (k == l) {
            *v += l;
            *vn -= l;
            return i;
        }
    }
    return -1;
}

static const char *const long_months[] = {"January",   "February", "March",    "April",
                                          "May",       "June",     "July",     "August",
                                          "September", "October",  "November", "December"};
static const char *const short_months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const long_days[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                        "Thursday", "Friday", "Saturday"};
static const char *const short_days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

/* One or two digits (exactly two when fixed). */
static int getnum(const char **v, size_t *vn, int fixed, int *out)
{
    if (!is_digit_at(*v, *vn, 0))
        return -1;
    if (!is_digit_at(*v, *vn, 1)) {
        if (fixed)
            return -1;
        *out = (*v)[0] - '0';
        *v += 1;
        *vn -= 1;
        return 0;
    }
    *out = ((*v)[0] - '0') * 10 + ((*v)[1] - '0');
    *v += 2;
    *vn -= 2;
    return 0;
}

/* One to three digits (exactly three when fixed). */
static int getnum3(const char **v, size_t *vn, int fixed, int *out)
{
    int n = 0, i = 0;
    for (; i < 3 && is_digit_at(*v, *vn, (size_t)i); i++)
        n = n * 10 + ((*v)[i] - '0');
    if (i == 0 || (fixed && i != 3))
        return -1;
    *v += i;
    *vn -= (size_t)i;
    *out = n;
    return 0;
}

/* Go's parseNanoseconds over value[0..nbytes): a separator then digits. */
static int parse_nanos(const char *v, size_t nbytes, int32_t *out)
{
    if (nbytes < 2 || (v[0] != '.' && v[0] != ','))
        return -1;
    if (nbytes > 10)
        nbytes = 10;
    int32_t ns = 0;
    for (size_t i = 1; i < nbytes; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        ns = ns * 10 + (v[i] - '0');
    }
    for (size_t i = nbytes; i < 10; i++)
        ns *= 10;
    *out = ns;
    return 0;
}

/* Go's skip: literal layout text against the value; a space matches a run. */
static int skip_literal(const char *p, size_t pn, const char **v, size_t *vn)
{
    while (pn > 0) {
        if (p[0] == ' ') {
            if (*vn > 0 && (*v)[0] != ' ')
                return -1;
            while (pn > 0 && p[0] == ' ') {
                p++;
                pn--;
            }
            while (*vn > 0 && (*v)[0] == ' ') {
                (*v)++;
                (*vn)--;
            }
            continue;
        }
        if (*vn == 0 || (*v)[0] != p[0])
            return -1;
        p++;
        pn--;
        (*v)++;
        (*vn)--;
    }
    return 0;
}

/* Go's parseTimeZone: the length of a zone abbreviation at v, or 0. */
static size_t zone_len(const char *v, size_t n)
{
    if (n < 3)
        return 0;
    if (n >= 4 && (memcmp(v, "ChST", 4) == 0 || memcmp(v, "MeST", 4) == 0))
        return 4;
    if (memcmp(v, "GMT", 3) == 0) {
        /* GMT, or GMT followed by a signed hour offset -23..+23. */
        if (n == 3 || (v[3] != '+' && v[3] != '-'))
            return 3;
        size_t i = 4;
        int h = 0;
        while (i < n && v[i] >= '0' && v[i] <= '9' && h <= 24) {
            h = h * 10 + (v[i] - '0');
            i++;
        }
        if (i == 4 || h > 23)
            return 3;
        return i;
    }
    if (v[0] == '+' || v[0] == '-') {
        /* Go's parseSignedOffset: a sign and a decimal hour. */
        size_t i = 1;
        int h = 0;
        while (i < n && v[i] >= '0' && v[i] <= '9' && h <= 24) {
            h = h * 10 + (v[i] - '0');
            i++;
        }
        return (i == 1 || h > 23) ? 0 : i;
    }
    size_t up = 0;
    while (up < 6 && up < n && v[up] >= 'A' && v[up] <= 'Z')
        up++;
    switch (up) {
    case 3:
        return 3;
    case 4:
        return (v[3] == 'T' || memcmp(v, "WITA", 4) == 0) ? 4 : 0;
    case 5:
        return v[4] == 'T' ? 5 : 0;
    default:
        return 0;
    }
}

static int parse_tz_offset(enum std std, const char **v, size_t *vn, struct fields *f)
{
    const char *s = *v;
    size_t n = *vn;
    int iso = std >= STD_ISO_TZ && std <= STD_ISO_COLON_SECONDS_TZ;
    if (iso && n >= 1 && s[0] == 'Z') {
        *v += 1;
        *vn -= 1;
        f->has_utc = 1;
        return 0;
    }
    const char *hh, *mm = "00", *ss = "00";
    size_t used;
    switch (std) {
    case STD_ISO_COLON_TZ:
    case STD_NUM_COLON_TZ:
        if (n < 6 || s[3] != ':')
            return -1;
        hh = s + 1;
        mm = s + 4;
        used = 6;
        break;
    case STD_ISO_SHORT_TZ:
    case STD_NUM_SHORT_TZ:
        if (n < 3)
            return -1;
        hh = s + 1;
        used = 3;
        break;
    case STD_ISO_COLON_SECONDS_TZ:
    case STD_NUM_COLON_SECONDS_TZ:
        if (n < 9 || s[3] != ':' || s[6] != ':')
            return -1;
        hh = s + 1;
        mm = s + 4;
        ss = s + 7;
        used = 9;
        break;
    case STD_ISO_SECONDS_TZ:
    case STD_NUM_SECONDS_TZ:
        if (n < 7)
            return -1;
        hh = s + 1;
        mm = s + 3;
        ss = s + 5;
        used = 7;
        break;
    default:
        if (n < 5)
            return -1;
        hh = s + 1;
        mm = s + 3;
        used = 5;
        break;
    }
    int h, m, sec;
    const char *p;
    size_t pn;
    p = hh, pn = 2;
    if (getnum(&p, &pn, 1, &h))
        return -1;
    p = mm, pn = 2;
    if (getnum(&p, &pn, 1, &m))
        return -1;
    p = ss, pn = 2;
    if (getnum(&p, &pn, 1, &sec))
        return -1;
    if (h > 24 || m > 60 || sec > 60)
        return -1;
    int32_t off = (h * 60 + m) * 60 + sec;
    if (s[0] == '-')
        off = -off;
    else if (s[0] != '+')
        return -1;
    f->has_offset = 1;
    f->offset = off;
    *v += used;
    *vn -= used;
    return 0;
}

/* Go's time.parse up to the fields: 0 or -1. */
static int parse_fields(const char *l, const struct chunk *cs, size_t ncs, const char *v, size_t vn,
                        struct fields *f)
{
    memset(f, 0, sizeof(*f));
    f->month = -1;
    f->day = -1;
    f->yday = -1;
    for (size_t ci = 0; ci < ncs; ci++) {
        struct chunk c = cs[ci];
        if (skip_literal(l + c.start, c.prefix, &v, &vn))
            return -1;
        if (c.std == STD_NONE) {
            if (vn != 0)
                return -1; /* extra text */
            break;
        }
        int x;
        switch (c.std) {
        case STD_YEAR:
            if (vn < 2 || getnum(&v, &vn, 1, &x))
                return -1;
            f->year = x >= 69 ? 1900 + x : 2000 + x;
            break;
        case STD_LONG_YEAR:
            if (vn < 4 || !is_digit_at(v, vn, 0))
                return -1;
            x = 0;
            for (int i = 0; i < 4; i++) {
                if (!is_digit_at(v, vn, (size_t)i))
                    return -1;
                x = x * 10 + (v[i] - '0');
            }
            f->year = x;
            v += 4;
            vn -= 4;
            break;
        case STD_MONTH:
            if ((x = lookup_name(short_months, 12, &v, &vn)) < 0)
                return -1;
            f->month = x + 1;
            break;
        case STD_LONG_MONTH:
            if ((x = lookup_name(long_months, 12, &v, &vn)) < 0)
                return -1;
            f->month = x + 1;
            break;
        case STD_NUM_MONTH:
        case STD_ZERO_MONTH:
            if (getnum(&v, &vn, c.std == STD_ZERO_MONTH, &x) || x <= 0 || x > 12)
                return -1;
            f->month = x;
            break;
        case STD_WEEKDAY:
            if (lookup_name(short_days, 7, &v, &vn) < 0)
                return -1;
            break;
        case STD_LONG_WEEKDAY:
            if (lookup_name(long_days, 7, &v, &vn) < 0)
                return -1;
            break;
        case STD_DAY:
        case STD_UNDER_DAY:
        case STD_ZERO_DAY:
            if (c.std == STD_UNDER_DAY && vn > 0 && v[0] == ' ') {
                v++;
                vn--;
            }
            if (getnum(&v, &vn, c.std == STD_ZERO_DAY, &x))
                return -1;
            f->day = x;
            break;
        case STD_UNDER_YDAY:
        case STD_ZERO_YDAY:
            for (int i = 0; i < 2 && c.std == STD_UNDER_YDAY && vn > 0 && v[0] == ' '; i++) {
                v++;
                vn--;
            }
            if (getnum3(&v, &vn, c.std == STD_ZERO_YDAY, &x) || x < 1 || x > 366)
                return -1;
            f->yday = x;
            break;
        case STD_HOUR:
            if (getnum(&v, &vn, 0, &x) || x >= 24)
                return -1;
            f->hour = x;
            break;
        case STD_HOUR12:
        case STD_ZERO_HOUR12:
            if (getnum(&v, &vn, c.std == STD_ZERO_HOUR12, &x) || x > 12)
                return -1;
            f->hour = x;
            break;
        case STD_MINUTE:
        case STD_ZERO_MINUTE:
            if (getnum(&v, &vn, c.std == STD_ZERO_MINUTE, &x) || x >= 60)
                return -1;
            f->min = x;
            break;
        case STD_SECOND:
        case STD_ZERO_SECOND:
            if (getnum(&v, &vn, c.std == STD_ZERO_SECOND, &x) || x >= 60)
                return -1;
            f->sec = x;
            /* A fraction the layout does not show is still accepted, unless
             * the layout's next chunk is the fraction itself. */
            if (vn >= 2 && (v[0] == '.' || v[0] == ',') && is_digit_at(v, vn, 1)) {
                enum std nstd = ci + 1 < ncs ? cs[ci + 1].std : STD_NONE;
                if (nstd == STD_FRAC0 || nstd == STD_FRAC9)
                    break;
                size_t k = 2;
                while (is_digit_at(v, vn, k))
                    k++;
                if (parse_nanos(v, k, &f->nsec))
                    return -1;
                v += k;
                vn -= k;
            }
            break;
        case STD_PM:
        case STD_pm:
            if (vn < 2)
                return -1;
            if (memcmp(v, c.std == STD_PM ? "PM" : "pm", 2) == 0)
                f->pm_set = 1;
            else if (memcmp(v, c.std == STD_PM ? "AM" : "am", 2) == 0)
                f->am_set = 1;
            else
                return -1;
            v += 2;
            vn -= 2;
            break;
        case STD_TZ: {
            if (vn >= 3 && memcmp(v, "UTC", 3) == 0) {
                f->has_utc = 1;
                v += 3;
                vn -= 3;
                break;
            }
            size_t zl = zone_len(v, vn);
            if (!zl)
                return -1;
            f->zname = v;
            f->zlen = zl;
            v += zl;
            vn -= zl;
            break;
        }
        case STD_FRAC0: {
            size_t nd = 1 + (size_t)c.digits;
            if (vn < nd || parse_nanos(v, nd, &f->nsec))
                return -1;
            v += nd;
            vn -= nd;
            break;
        }
        case STD_FRAC9: {
            if (vn < 2 || (v[0] != '.' && v[0] != ',') || !is_digit_at(v, vn, 1))
                break; /* the fraction is optional */
            size_t k = 1;
            while (is_digit_at(v, vn, k))
                k++;
            if (parse_nanos(v, k, &f->nsec))
                return -1;
            v += k;
            vn -= k;
            break;
        }
        default:
            if (parse_tz_offset(c.std, &v, &vn, f))
                return -1;
            break;
        }
    }
    return 0;
}

#define NS_MAX_SEC (INT64_MAX / 1000000000)

/* Turns parsed fields into Unix nanoseconds, with the year given. */
static int fields_to_ns(struct fields *f, int64_t year, const struct noa_gotime_zone *loc,
                        int64_t *out)
{
    if (f->pm_set && f->hour < 12)
        f->hour += 12;
    else if (f->am_set && f->hour == 12)
        f->hour = 0;
    int month = f->month, day = f->day;
    if (f->yday >= 0) {
        /* The day of the year decides month and day (and must agree). */
        if (f->yday > 365 + is_leap(f->year))
            return -1;
        int d = f->yday, m = 1;
        while (m < 12 && d > days_in(m, f->year)) {
            d -= days_in(m, f->year);
            m++;
        }
        if ((month >= 0 && month != m) || (day >= 0 && day != d))
            return -1;
        month = m;
        day = d;
    } else {
        if (month < 0)
            month = 1;
        if (day < 0)
            day = 1;
    }
    if (day < 1 || day > days_in(month, f->year))
        return -1;
    if (year < -300000 || year > 300000)
        return -1;
    int64_t wall =
        noa_days_from_civil(year, month, day) * 86400 + f->hour * 3600 + f->min * 60 + f->sec;
    int64_t utc;
    int32_t off;
    if (f->has_utc) {
        utc = wall;
    } else if (f->has_offset) {
        utc = wall - f->offset;
    } else if (f->zname) {
        if (!zone_lookup_name(loc, f->zname, f->zlen, wall, &off))
            utc = wall; /* an unknown abbreviation: Go keeps the wall clock as UTC */
        else if (year == f->year)
            utc = wall - off;
        else /* Go's AddDate re-resolves the wall clock in the location */
            utc = wall -
                  noa_gotime_zone_offset(loc, wall - noa_gotime_zone_offset(loc, wall, NULL), NULL);
    } else if (loc) {
        int32_t o1 = noa_gotime_zone_offset(loc, wall, NULL);
        utc = wall - noa_gotime_zone_offset(loc, wall - o1, NULL);
    } else {
        utc = wall;
    }
    if (utc > NS_MAX_SEC || utc < -NS_MAX_SEC - 1)
        return -1;
    int64_t ns = utc * 1000000000;
    if (ns > INT64_MAX - f->nsec)
        return -1;
    *out = ns + f->nsec;
    return 0;
}

int noa_gotime_parse_layout(const char *layout, size_t layout_len, const char *value,
                            size_t value_len, const struct noa_gotime_zone *loc, int64_t *out_ns)
{
    struct fields f;
    struct chunk *cs = noa_xmalloc((layout_len + 1) * sizeof(*cs));
    size_t ncs = compile_layout(layout, layout_len, cs);
    int rc = parse_fields(layout, cs, ncs, value, value_len, &f) ||
             fields_to_ns(&f, f.year, loc, out_ns);
    noa_free(cs);
    return rc ? NOA_EINVAL : 0;
}

/* Two digits at v as a number, or -1. */
static int two(const char *v)
{
    if (v[0] < '0' || v[0] > '9' || v[1] < '0' || v[1] > '9')
        return -1;
    return (v[0] - '0') * 10 + (v[1] - '0');
}

/* RFC 3339 at fixed positions (what Go's time.Parse tries first for the
 * RFC3339 layouts): the common case of CRI, Docker and JSON logs, without
 * the general machinery. Returns -1 for anything unusual, which then goes
 * through the general parser and gets the same answer or error. */
static int fast_rfc3339(const char *v, size_t n, int64_t *out)
{
    if (n < 20 || v[4] != '-' || v[7] != '-' || v[10] != 'T' || v[13] != ':' || v[16] != ':')
        return -1;
    int y1 = two(v), y2 = two(v + 2), mo = two(v + 5), d = two(v + 8);
    int h = two(v + 11), mi = two(v + 14), se = two(v + 17);
    if (y1 < 0 || y2 < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        se < 0 || se > 59)
        return -1;
    int64_t year = y1 * 100 + y2;
    if (d > days_in(mo, year))
        return -1;
    size_t i = 19;
    int32_t ns = 0;
    if (v[i] == '.' || v[i] == ',') {
        size_t k = i + 1;
        while (k < n && v[k] >= '0' && v[k] <= '9')
            k++;
        if (k == i + 1 || parse_nanos(v + i, k - i, &ns))
            return -1;
        i = k;
    }
    int32_t off = 0;
    if (i < n && v[i] == 'Z') {
        i++;
    } else if (i + 6 <= n && (v[i] == '+' || v[i] == '-') && v[i + 3] == ':') {
        int oh = two(v + i + 1), om = two(v + i + 4);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -1;
        off = (oh * 60 + om) * 60;
        if (v[i] == '-')
            off = -off;
        i += 6;
    } else {
        return -1;
    }
    if (i != n)
        return -1;
    int64_t sec = noa_days_from_civil(year, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
    if (sec > NS_MAX_SEC || sec < -NS_MAX_SEC - 1)
        return -1;
    int64_t t = sec * 1000000000;
    if (t > INT64_MAX - ns)
        return -1;
    *out = t + ns;
    return 0;
}

/* ---- Promtail formats ------------------------------------------------------- */

enum fmt_kind { FMT_LAYOUT, FMT_UNIX, FMT_UNIX_MS, FMT_UNIX_US, FMT_UNIX_NS };

struct noa_gotime_format {
    enum fmt_kind kind;
    char *layout;
    size_t layout_len;
    struct chunk *chunks; /* the layout cut once */
    size_t n_chunks;
    int rfc3339; /* RFC3339 or RFC3339Nano: try the fast path first */
    int no_year;
    const struct noa_gotime_zone *loc; /* borrowed; NULL for named Go layouts */
};

static const struct {
    const char *name;
    const char *layout;
} named_layouts[] = {
    {"ANSIC", "Mon Jan _2 15:04:05 2006"},
    {"UnixDate", "Mon Jan _2 15:04:05 MST 2006"},
    {"RubyDate", "Mon Jan 02 15:04:05 -0700 2006"},
    {"RFC822", "02 Jan 06 15:04 MST"},
    {"RFC822Z", "02 Jan 06 15:04 -0700"},
    {"RFC850", "Monday, 02-Jan-06 15:04:05 MST"},
    {"RFC1123", "Mon, 02 Jan 2006 15:04:05 MST"},
    {"RFC1123Z", "Mon, 02 Jan 2006 15:04:05 -0700"},
    {"RFC3339", "2006-01-02T15:04:05Z07:00"},
    {"RFC3339Nano", "2006-01-02T15:04:05.999999999Z07:00"},
};

int noa_gotime_format_new(const char *format, const struct noa_gotime_zone *loc,
                          struct noa_gotime_format **out, struct noa_error *err)
{
    *out = NULL;
    if (!format || !*format)
        return noa_error_set(err, NOA_EINVAL, "timestamp format is required");
    struct noa_gotime_format *f = noa_xcalloc(1, sizeof(*f));
    f->kind = FMT_LAYOUT;
    f->loc = loc;
    const char *layout = format;
    if (strcmp(format, "Unix") == 0) {
        f->kind = FMT_UNIX;
    } else if (strcmp(format, "UnixMs") == 0) {
        f->kind = FMT_UNIX_MS;
    } else if (strcmp(format, "UnixUs") == 0) {
        f->kind = FMT_UNIX_US;
    } else if (strcmp(format, "UnixNs") == 0) {
        f->kind = FMT_UNIX_NS;
    } else {
        for (size_t i = 0; i < sizeof(named_layouts) / sizeof(named_layouts[0]); i++) {
            if (strcmp(format, named_layouts[i].name) == 0) {
                /* Promtail parses named layouts with time.Parse: no location. */
                layout = named_layouts[i].layout;
                f->loc = NULL;
                f->rfc3339 = strncmp(format, "RFC3339", 7) == 0;
                break;
            }
        }
        f->no_year = layout == format && !strstr(format, "06");
    }
    f->layout = noa_xstrdup(layout);
    f->layout_len = strlen(layout);
    f->chunks = noa_xmalloc((f->layout_len + 1) * sizeof(*f->chunks));
    f->n_chunks = compile_layout(f->layout, f->layout_len, f->chunks);
    *out = f;
    return 0;
}

void noa_gotime_format_free(struct noa_gotime_format *f)
{
    if (!f)
        return;
    noa_free(f->layout);
    noa_free(f->chunks);
    noa_free(f);
}

/* Go's strconv.ParseInt(s, 10, 64). */
static int parse_int64(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n)
        return -1;
    uint64_t v = 0;
    uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (lim - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static int mul_ns(int64_t v, int64_t unit, int64_t *out)
{
    if (__builtin_mul_overflow(v, unit, out))
        return NOA_EINVAL;
    return 0;
}

static int parse_unix(const char *s, size_t n, int64_t *out)
{
    const char *dot = memchr(s, '.', n);
    int64_t sec, frac, ns;
    if (dot && !memchr(dot + 1, '.', n - (size_t)(dot + 1 - s))) {
        size_t fl = n - (size_t)(dot + 1 - s);
        if (parse_int64(s, (size_t)(dot - s), &sec) || parse_int64(dot + 1, fl, &frac))
            return NOA_EINVAL;
        /* Promtail scales the fraction's digits to nanoseconds; digits past
         * the ninth are cut. */
        ns = frac;
        for (size_t i = fl; i < 9; i++)
            ns *= 10;
        for (size_t i = 9; i < fl; i++)
            ns /= 10;
    } else {
        if (parse_int64(s, n, &sec))
            return NOA_EINVAL;
        ns = 0;
    }
    int64_t t;
    if (mul_ns(sec, 1000000000, &t) || __builtin_add_overflow(t, ns, out))
        return NOA_EINVAL;
    return 0;
}

int noa_gotime_parse(const struct noa_gotime_format *f, const char *value, size_t len,
                     int64_t now_ns, int64_t *out_ns)
{
    int64_t v;
    switch (f->kind) {
    case FMT_UNIX:
        return parse_unix(value, len, out_ns);
    case FMT_UNIX_MS:
        return parse_int64(value, len, &v) ? NOA_EINVAL : mul_ns(v, 1000000, out_ns);
    case FMT_UNIX_US:
        return parse_int64(value, len, &v) ? NOA_EINVAL : mul_ns(v, 1000, out_ns);
    case FMT_UNIX_NS:
        return parse_int64(value, len, out_ns) ? NOA_EINVAL : 0;
    case FMT_LAYOUT:
        break;
    }
    if (f->rfc3339 && fast_rfc3339(value, len, out_ns) == 0)
        return 0;
    struct fields fl;
    if (parse_fields(f->layout, f->chunks, f->n_chunks, value, len, &fl))
        return NOA_EINVAL;
    if (!f->no_year)
        return fields_to_ns(&fl, fl.year, f->loc, out_ns) ? NOA_EINVAL : 0;
    /* Promtail: a layout without a year must not have parsed one; the year
     * is now's, shifted when the date and now straddle New Year. */
    if (fl.year != 0)
        return NOA_EINVAL;
    int64_t ny;
    int nm, nd;
    noa_civil_from_days(floor_div(now_ns, 86400 * (int64_t)1000000000), &ny, &nm, &nd);
    int month = fl.month < 0 ? 1 : fl.month;
    int64_t year = ny;
    if (month == 12 && nm == 1)
        year = ny - 1;
    else if (month == 1 && nm == 12)
        year = ny + 1;
    return fields_to_ns(&fl, year, f->loc, out_ns) ? NOA_EINVAL : 0;
}
