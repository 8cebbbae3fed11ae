/*
 * Tests for shipper/gotime.c: every named Promtail format, custom Go
 * layouts with expected Unix nanoseconds (values checked against Python's
 * zoneinfo and Go's documented rules), zones and DST (transitions from the
 * TZif data and from the POSIX footer rule), the no-year rule, failures.
 */
#include "shipper/gotime.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define S 1000000000LL

struct tcase {
    const char *format;
    const char *loc;
    const char *value;
    int64_t want; /* ns; INT64_MIN: must fail */
};

#define FAIL INT64_MIN

/* 2023-11-01T00:00:00Z, the "now" for formats without a year. */
#define NOW_NOV_2023 (1698796800LL * S)

static void run(const struct tcase *c, int64_t now)
{
    struct noa_error err = {0};
    struct noa_gotime_zone *z = NULL;
    struct noa_gotime_format *f = NULL;
    if (c->loc)
        assert_int_equal(noa_gotime_zone_load(c->loc, &z, &err), 0);
    assert_int_equal(noa_gotime_format_new(c->format, z, &f, &err), 0);
    int64_t got = 0;
    int rc = noa_gotime_parse(f, c->value, strlen(c->value), now, &got);
    if (c->want == FAIL) {
        if (rc == 0)
            fail_msg("format %s value '%s': parsed as %lld, want failure", c->format, c->value,
                     (long long)got);
    } else {
        if (rc != 0)
            fail_msg("format %s value '%s': failed", c->format, c->value);
        if (got != c->want)
            fail_msg("format %s value '%s' loc %s: got %lld want %lld", c->format, c->value,
                     c->loc ? c->loc : "-", (long long)got, (long long)c->want);
    }
    noa_gotime_format_free(f);
    noa_gotime_zone_free(z);
}

static void test_named_formats(void **state)
{
    (void)state;
    static const struct tcase cases[] = {
        {"ANSIC", NULL, "Mon Jan  2 15:04:05 2006", 1136214245 * S},
        {"ANSIC", NULL, "Mon Jan 12 15:04:05 2006", (1136214245 + 10 * 86400) * S},
        {"UnixDate", NULL, "Mon Jan  2 15:04:05 MST 2006", 1136214245 * S},
        {"UnixDate", NULL, "Mon Jan  2 15:04:05 UTC 2006", 1136214245 * S},
        {"RubyDate", NULL, "Mon Jan 02 15:04:05 -0700 2006", 1136239445 * S},
        {"RFC822", NULL, "02 Jan 06 15:04 MST", 1136214240 * S},
        {"RFC822Z", NULL, "02 Jan 06 15:04 -0700", 1136239440 * S},
        {"RFC850", NULL, "Monday, 02-Jan-06 15:04:05 MST", 1136214245 * S},
        {"RFC1123", NULL, "Mon, 02 Jan 2006 15:04:05 MST", 1136214245 * S},
        {"RFC1123Z", NULL, "Mon, 02 Jan 2006 15:04:05 -0700", 1136239445 * S},
        {"RFC3339", NULL, "2006-01-02T15:04:05Z", 1136214245 * S},
        {"RFC3339", NULL, "2006-01-02T15:04:05+07:00", 1136189045 * S},
        {"RFC3339", NULL, "2006-01-02T15:04:05.5Z", 1136214245 * S + 500000000},
        {"RFC3339Nano", NULL, "2006-01-02T15:04:05.999999999-07:00", 1136239445 * S + 999999999},
        {"RFC3339Nano", NULL, "2006-01-02T15:04:05Z", 1136214245 * S},
        {"RFC3339Nano", NULL, "2023-10-05T12:34:56.123456Z", 1696509296 * S + 123456000},
        {"Unix", NULL, "1562708916", 1562708916 * S},
        {"Unix", NULL, "1562708916.000000123", 1562708916 * S + 123},
        {"Unix", NULL, "1562708916.414", 1562708916 * S + 414000000},
        {"Unix", NULL, "-1", -1 * S},
        {"UnixMs", NULL, "1562708916414", 1562708916414000000LL},
        {"UnixUs", NULL, "1562708916414123", 1562708916414123000LL},
        {"UnixNs", NULL, "1562708916000000123", 1562708916000000123LL},
        /* failures */
        {"RFC3339", NULL, "2006-01-02 15:04:05Z", FAIL},
        {"RFC3339", NULL, "2006-01-02T15:04:05", FAIL},
        {"RFC3339", NULL, "2006-02-30T15:04:05Z", FAIL},
        {"RFC3339", NULL, "2006-01-02T25:04:05Z", FAIL},
        {"RFC3339", NULL, "2006-01-02T15:04:05Zjunk", FAIL},
        {"Unix", NULL, "1562708916.", FAIL},
        {"Unix", NULL, "1.2.3", FAIL},
        {"Unix", NULL, "abc", FAIL},
        {"Unix", NULL, "", FAIL},
        {"UnixMs", NULL, "1562708916414.5", FAIL},
        {"UnixMs", NULL, "99999999999999999", FAIL}, /* overflows int64 ns */
        {"UnixNs", NULL, "99999999999999999999", FAIL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run(&cases[i], NOW_NOV_2023);
}

static void test_custom_layouts(void **state)
{
    (void)state;
    static const struct tcase cases[] = {
        {"2006-01-02 15:04:05.000", NULL, "2023-10-05 12:34:56.789", 1696509296 * S + 789000000},
        {"2006-01-02 15:04:05,000", NULL, "2023-10-05 12:34:56,789", 1696509296 * S + 789000000},
        /* .000 demands exactly that many digits */
        {"2006-01-02 15:04:05.000", NULL, "2023-10-05 12:34:56.78", FAIL},
        {"2006-01-02 15:04:05.000", NULL, "2023-10-05 12:34:56.7891", FAIL},
        /* .999 takes any number of digits, or none */
        {"2006-01-02 15:04:05.999", NULL, "2023-10-05 12:34:56", 1696509296 * S},
        {"2006-01-02 15:04:05.999", NULL, "2023-10-05 12:34:56.1", 1696509296 * S + 100000000},
        /* a fraction the layout does not show is accepted */
        {"2006-01-02 15:04:05", NULL, "2023-10-05 12:34:56.123456", 1696509296 * S + 123456000},
        {"02/Jan/2006:15:04:05 -0700", NULL, "10/Oct/2000:13:55:36 -0700", 971211336 * S},
        {"2006/01/02 15:04:05", NULL, "2023/10/05 12:34:56", 1696509296 * S},
        {"20060102150405", NULL, "20231005123456", 1696509296 * S},
        {"2006-01-02 03:04:05 PM", NULL, "2023-10-05 01:34:56 PM", 1696512896 * S},
        {"2006-01-02 03:04:05 PM", NULL, "2023-10-05 12:34:56 AM", (1696509296 - 12 * 3600) * S},
        {"2006-01-02 3:04:05pm", NULL, "2023-10-05 1:34:56pm", 1696512896 * S},
        {"Jan 2, 2006 at 3:04pm (MST)", NULL, "Oct 5, 2023 at 1:34pm (UTC)", 1696512840 * S},
        {"January 2 2006 15:04:05", NULL, "october 5 2023 12:34:56", 1696509296 * S},
        {"Monday 02 Jan 2006 15h04", NULL, "Thursday 05 Oct 2023 12h34", 1696509240 * S},
        {"2006-01-02T15:04:05Z0700", NULL, "2023-10-05T12:34:56+0530", 1696489496 * S},
        {"2006-01-02T15:04:05Z07", NULL, "2023-10-05T12:34:56-03", (1696509296 + 3 * 3600) * S},
        {"2006-01-02T15:04:05-07:00:00", NULL, "2023-10-05T12:34:56+01:00:30",
         (1696509296 - 3630) * S},
        {"2006-01-02 15:04:05 MST", NULL, "2023-10-05 12:34:56 UTC", 1696509296 * S},
        {"2006-01-02 15:04:05 MST", NULL, "2023-10-05 12:34:56 XYZ", 1696509296 * S},
        {"2006-002 15:04", NULL, "2023-278 12:34", 1696509240 * S},
        {"2006-01-02", NULL, "2023-10-05", 1696464000 * S},
        /* spaces in the layout match runs of spaces */
        {"2006-01-02  15:04", NULL, "2023-10-05 12:34", 1696509240 * S},
        {"01/02/06 15:04", NULL, "10/05/69 12:34", -7557960 * S},
        {"01/02/06 15:04", NULL, "10/05/68 12:34", 3116666040LL * S},
        {"2006-01-02", NULL, "2023-1-05", FAIL},
        {"2006-1-2", NULL, "2023-1-5", 1672876800 * S},
        {"2006-01-02", NULL, "23-10-05", FAIL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run(&cases[i], NOW_NOV_2023);
}

static void test_locations_and_dst(void **state)
{
    (void)state;
    static const struct tcase cases[] = {
        {"2006-01-02 15:04:05", "America/New_York", "2023-07-05 12:34:56", 1688574896 * S},
        {"2006-01-02 15:04:05", "America/New_York", "2023-01-05 12:34:56", 1672940096 * S},
        /* in the spring gap Go moves forward: 02:30 does not exist, 06:30Z */
        {"2006-01-02 15:04:05", "America/New_York", "2023-03-12 02:30:00", 1678602600 * S},
        /* in the autumn overlap the first (daylight) reading wins */
        {"2006-01-02 15:04:05", "America/New_York", "2023-11-05 01:30:00", 1699162200 * S},
        /* past the file's transitions: the POSIX footer rule */
        {"2006-01-02 15:04", "America/New_York", "2045-07-04 12:00", 2382796800LL * S},
        {"2006-01-02 15:04", "America/New_York", "2045-12-04 12:00", 2396019600LL * S},
        {"2006-01-02 15:04", "Australia/Sydney", "2045-01-15 12:00", 2368054800LL * S},
        {"2006-01-02 15:04", "Australia/Sydney", "2045-07-15 12:00", 2383696800LL * S},
        {"2006-01-02 15:04:05", "Europe/Berlin", "2040-03-25 01:59:59", 2216249999LL * S},
        {"2006-01-02 15:04:05", "Europe/Berlin", "2040-03-25 03:00:00", 2216250000LL * S},
        {"2006-01-02 15:04:05", "Asia/Kolkata", "2023-10-05 12:34:56", 1696489496 * S},
        /* an explicit offset beats the location */
        {"2006-01-02 15:04:05 -0700", "America/New_York", "2023-10-05 12:34:56 +0000",
         1696509296 * S},
        /* abbreviations are looked up in the location */
        {"2006-01-02 15:04:05 MST", "America/New_York", "2023-07-05 12:34:56 EDT", 1688574896 * S},
        {"2006-01-02 15:04:05 MST", "America/New_York", "2023-01-05 12:34:56 EST", 1672940096 * S},
        {"2006-01-02 15:04:05 MST", "America/New_York", "2023-01-05 12:34:56 UTC",
         (1672940096 - 5 * 3600) * S},
        /* named formats ignore the location, as Promtail's time.Parse does */
        {"RFC3339", "America/New_York", "2023-10-05T12:34:56Z", 1696509296 * S},
        {"2006-01-02 15:04:05", "UTC", "2023-10-05 12:34:56", 1696509296 * S},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run(&cases[i], NOW_NOV_2023);
}

static void test_no_year(void **state)
{
    (void)state;
    /* now = 2023-11-01: the current year */
    struct tcase c = {"Jan _2 15:04:05", NULL, "Oct  5 12:34:56", 1696509296 * S};
    run(&c, NOW_NOV_2023);
    struct tcase c2 = {"Jan 2 15:04:05", NULL, "Oct 5 12:34:56", 1696509296 * S};
    run(&c2, NOW_NOV_2023);
    /* a December date read in January belongs to the year before */
    int64_t jan2024 = 1704153600LL * S; /* 2024-01-02 */
    struct tcase c3 = {"Jan _2 15:04:05", NULL, "Dec 31 23:59:58", 1704067198 * S};
    run(&c3, jan2024);
    /* a January date read in December belongs to the next year */
    int64_t dec2023 = 1703980800LL * S; /* 2023-12-31 */
    struct tcase c4 = {"Jan _2 15:04:05", NULL, "Jan  1 00:00:01", 1704067201 * S};
    run(&c4, dec2023);
    /* Feb 29 parses (year 0 is leap) and rolls into March of a common year */
    struct tcase c5 = {"01-02 15:04", NULL, "02-29 10:00", 1677664800 * S};
    run(&c5, 1685577600LL * S); /* 2023-06-01 */
    /* the location applies with the year found */
    struct tcase c6 = {"Jan _2 15:04:05", "America/New_York", "Jul  5 12:34:56", 1688574896 * S};
    run(&c6, NOW_NOV_2023);
    struct tcase c7 = {"Jan _2 15:04:05", NULL, "Oct  5 12:34", FAIL};
    run(&c7, NOW_NOV_2023);
}

static void test_zones(void **state)
{
    (void)state;
    struct noa_error err = {0};
    struct noa_gotime_zone *z = NULL;
    assert_int_equal(noa_gotime_zone_load("Nowhere/Atlantis", &z, &err), NOA_EINVAL);
    assert_null(z);
    assert_string_equal(err.msg, "unknown time zone Nowhere/Atlantis");
    assert_int_equal(noa_gotime_zone_load("../../etc/passwd", &z, &err), NOA_EINVAL);
    assert_int_equal(noa_gotime_zone_load("/etc/localtime", &z, &err), NOA_EINVAL);
    assert_int_equal(noa_gotime_zone_load("UTC", &z, &err), 0);
    assert_int_equal(noa_gotime_zone_offset(z, 1688574896, NULL), 0);
    noa_gotime_zone_free(z);
    assert_int_equal(noa_gotime_zone_load("Local", &z, &err), 0);
    noa_gotime_zone_free(z);
    /* Local follows $TZ as Go does: a name, a path after ':', else UTC */
    static const struct {
        const char *tz;
        int32_t off; /* at 2023-07-05T12:34:56Z */
    } locals[] = {
        {"America/New_York", -4 * 3600},
        {":/usr/share/zoneinfo/Asia/Kolkata", 19800},
        {"Bogus/Zone", 0},
        {"", 0},
        {"UTC", 0},
    };
    const char *saved = getenv("TZ");
    char *saved_copy = saved ? strdup(saved) : NULL;
    for (size_t i = 0; i < sizeof(locals) / sizeof(locals[0]); i++) {
        setenv("TZ", locals[i].tz, 1);
        assert_int_equal(noa_gotime_zone_load("Local", &z, &err), 0);
        assert_int_equal(noa_gotime_zone_offset(z, 1688574896, NULL), locals[i].off);
        noa_gotime_zone_free(z);
    }
    if (saved_copy)
        setenv("TZ", saved_copy, 1);
    else
        unsetenv("TZ");
    free(saved_copy);
    assert_int_equal(noa_gotime_zone_load("America/New_York", &z, &err), 0);
    const char *abbr = NULL;
    assert_int_equal(noa_gotime_zone_offset(z, 1688574896, &abbr), -4 * 3600);
    assert_string_equal(abbr, "EDT");
    assert_int_equal(noa_gotime_zone_offset(z, 1672940096, &abbr), -5 * 3600);
    assert_string_equal(abbr, "EST");
    /* before the first transition: local mean time */
    assert_int_equal(noa_gotime_zone_offset(z, -3000000000LL, &abbr), -17762);
    assert_string_equal(abbr, "LMT");
    noa_gotime_zone_free(z);
    noa_gotime_zone_free(NULL);
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* A "slim" zone file with no transitions: only the POSIX rule decides. */
static void test_slim_zone_posix_rule(void **state)
{
    (void)state;
    char dir[] = "/tmp/gotime_test_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/Test", dir);
    unsigned char buf[256];
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        unsigned char *h = buf + n;
        memset(h, 0, 44);
        memcpy(h, "TZif2", 5);
        put32(h + 36, 1); /* typecnt */
        put32(h + 40, 4); /* charcnt */
        n += 44;
        put32(buf + n, (uint32_t)(-5 * 3600));
        buf[n + 4] = 0;
        buf[n + 5] = 0;
        n += 6;
        memcpy(buf + n, "EST", 4);
        n += 4;
    }
    const char *footer = "\nEST5EDT,M3.2.0,M11.1.0\n";
    memcpy(buf + n, footer, strlen(footer));
    n += strlen(footer);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    fclose(f);
    setenv("ZONEINFO", dir, 1);
    struct noa_error err = {0};
    struct noa_gotime_zone *z = NULL;
    assert_int_equal(noa_gotime_zone_load("Test", &z, &err), 0);
    const char *abbr;
    assert_int_equal(noa_gotime_zone_offset(z, 1688574896, &abbr), -4 * 3600);
    assert_string_equal(abbr, "EDT");
    assert_int_equal(noa_gotime_zone_offset(z, 1672940096, &abbr), -5 * 3600);
    /* 2023-03-12 06:59:59Z is EST, 07:00:00Z is EDT */
    assert_int_equal(noa_gotime_zone_offset(z, 1678604399, NULL), -5 * 3600);
    assert_int_equal(noa_gotime_zone_offset(z, 1678604400, NULL), -4 * 3600);
    /* 2023-11-05 05:59:59Z is EDT, 06:00:00Z is EST */
    assert_int_equal(noa_gotime_zone_offset(z, 1699163999, NULL), -4 * 3600);
    assert_int_equal(noa_gotime_zone_offset(z, 1699164000, NULL), -5 * 3600);
    noa_gotime_zone_free(z);
    /* a corrupt file is refused */
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, 30, f), 30);
    fclose(f);
    assert_int_equal(noa_gotime_zone_load("Test", &z, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "invalid time zone file Test");
    unsetenv("ZONEINFO");
    unlink(path);
    rmdir(dir);
}

static void test_parse_layout_direct(void **state)
{
    (void)state;
    int64_t ns = 0;
    const char *l = "2006-01-02T15:04:05Z07:00";
    assert_int_equal(noa_gotime_parse_layout(l, strlen(l), "2262-04-11T23:47:16Z", 20, NULL, &ns),
                     0);
    assert_int_equal(ns, 9223372036000000000LL);
    /* past int64 nanoseconds */
    assert_int_equal(noa_gotime_parse_layout(l, strlen(l), "2263-01-01T00:00:00Z", 20, NULL, &ns),
                     NOA_EINVAL);
    /* without a year in the layout the year is 0, which int64 nanoseconds
     * cannot hold (noa_gotime_parse supplies the year instead) */
    const char *l2 = "01-02";
    assert_int_equal(noa_gotime_parse_layout(l2, 5, "01-01", 5, NULL, &ns), NOA_EINVAL);
    assert_int_equal(noa_gotime_parse_layout("2006-01-02", 10, "1677-09-21", 10, NULL, &ns),
                     NOA_EINVAL);
    assert_int_equal(noa_gotime_parse_layout("2006-01-02", 10, "1677-09-22", 10, NULL, &ns), 0);
    struct noa_error err = {0};
    struct noa_gotime_format *f = NULL;
    assert_int_equal(noa_gotime_format_new("", NULL, &f, &err), NOA_EINVAL);
    assert_null(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_named_formats),
        cmocka_unit_test(test_custom_layouts),
        cmocka_unit_test(test_locations_and_dst),
        cmocka_unit_test(test_no_year),
        cmocka_unit_test(test_zones),
        cmocka_unit_test(test_slim_zone_posix_rule),
        cmocka_unit_test(test_parse_layout_direct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
