/* Unit tests for ingester/enrich.c: service_name and detected_level, case
 * by case against what Loki 3.x's push parser and field detection yield. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/labels.h"
#include "common/mem.h"
#include "ingester/enrich.h"

static char *discover_list[] = {
    "service",
    "app",
    "application",
    "app_name",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
    "k8s_job_name",
};

static void limits_for_test(struct noa_limits *l)
{
    memset(l, 0, sizeof(*l));
    l->discover_service_name = discover_list;
    l->n_discover_service_name = (int)(sizeof(discover_list) / sizeof(discover_list[0]));
    l->discover_log_levels = 1;
    l->allow_structured_metadata = 1;
}

static void assert_str(struct noa_str got, const char *want)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%.*s", (int)got.len, got.p ? got.p : "");
    assert_string_equal(buf, want);
}

/* Parses label text into ls (arena a). */
static void labels(const char *text, struct noa_arena *a, struct noa_labels *ls)
{
    struct noa_error err = {0};
    assert_int_equal(noa_labels_parse(noa_str_c(text), a, ls, &err), 0);
}

/* ---- line levels ---------------------------------------------------------- */

struct line_case {
    const char *line;
    const char *want;
};

static void check_lines(const struct line_case *cases, size_t n,
                        const struct noa_enrich_level_opts *opts)
{
    for (size_t i = 0; i < n; i++) {
        struct noa_str got = noa_enrich_line_level(opts, noa_str_c(cases[i].line));
        char buf[64];
        snprintf(buf, sizeof(buf), "%.*s", (int)got.len, got.p);
        if (strcmp(buf, cases[i].want))
            fail_msg("line %zu [%s]: got %s, want %s", i, cases[i].line, buf, cases[i].want);
    }
}

static void test_keyword_scan(void **state)
{
    (void)state;
    static const struct line_case cases[] = {
        {"", "unknown"},
        {"hello world", "unknown"},
        {"an error occurred", "error"},
        {"ERROR: disk full", "error"},
        {"[WARN] low memory", "warn"},
        {"Warning: deprecated", "warn"},
        {"connection err", "error"},
        {"DEBUG cache miss", "debug"},
        {"trace id=abc", "trace"},
        {"CRITICAL failure", "critical"},
        {"fatal: cannot start", "fatal"},
        {"info ready", "info"},
        /* rank beats position: trace outranks error */
        {"error in trace", "trace"},
        /* only the FIRST occurrence of a word counts */
        {"errors happen, error", "unknown"},
        {"information only", "unknown"},
        {"xerror", "unknown"},
        {"error_code", "unknown"},
        {"error2", "unknown"},
        {"warnings: 3, warn", "unknown"},
        {"debugging, then info", "info"},
        /* non-ASCII neighbours are judged as Go does on the lowered bytes */
        {"caf\xc3\xa9"
         "error",
         "error"},                    /* byte before is 0xA9: not a letter */
        {"error\xc3\xa9", "unknown"}, /* byte after is 0xC3: a letter */
        {"\xff"
         "error",
         "error"}, /* invalid byte lowers to U+FFFD: ends in 0xBD */
        {"\xc3\x9a"
         "error",
         "unknown"},                   /* U+00DA lowers to U+00FA: ends in 0xBA, a letter */
        {"\xc4\xb0NFO ready", "info"}, /* U+0130 lowers to 'i' */
        {"\xd0\x9a"
         "error",
         "unknown"}, /* Cyrillic capital KA lowers to D0 BA */
        {"line with \x01 control error", "error"},
    };
    check_lines(cases, sizeof(cases) / sizeof(cases[0]), NULL);
    assert_str(noa_enrich_keyword_level(noa_str_c("a FATAL b")), "fatal");
}

/* Loki's algorithm written plainly, for ASCII lines: lowercase, then for
 * each keyword in rank order, its first occurrence must stand as a word. */
static const char *reference_keyword_level(const char *line)
{
    static const char *const words[] = {"trace", "debug",   "fatal", "critical", "error",
                                        "err",   "warning", "warn",  "info"};
    static const char *const levels[] = {"trace", "debug", "fatal", "critical", "error",
                                         "error", "warn",  "warn",  "info"};
    char low[128];
    size_t n = strlen(line);
    for (size_t i = 0; i <= n; i++)
        low[i] = (line[i] >= 'A' && line[i] <= 'Z') ? (char)(line[i] + 32) : line[i];
    for (size_t k = 0; k < 9; k++) {
        const char *at = strstr(low, words[k]);
        if (!at)
            continue;
        size_t pos = (size_t)(at - low), end = pos + strlen(words[k]);
#define WORDCH(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= '0' && (c) <= '9') || (c) == '_')
        if ((pos == 0 || !WORDCH(low[pos - 1])) && (end == n || !WORDCH(low[end])))
            return levels[k];
#undef WORDCH
    }
    return "unknown";
}

static void test_keyword_scan_matches_reference(void **state)
{
    (void)state;
    static const char *const frags[] = {"err",     "or",    "ERROR", "warn",  "ing",  "info",
                                        "rmation", "trace", "debug", "fatal", "crit", "ical",
                                        " ",       "_",     "x",     "9",     ":",    "[",
                                        "]",       "e",     "t",     "i",     "W"};
    unsigned seed = 12345;
    char line[100];
    for (int it = 0; it < 200000; it++) {
        size_t n = 0;
        seed = seed * 1103515245u + 12345u;
        int parts = (int)((seed >> 16) % 8);
        for (int i = 0; i < parts; i++) {
            seed = seed * 1103515245u + 12345u;
            const char *f = frags[(seed >> 16) % (sizeof(frags) / sizeof(frags[0]))];
            size_t l = strlen(f);
            memcpy(line + n, f, l);
            n += l;
        }
        line[n] = '\0';
        struct noa_str got = noa_enrich_keyword_level((struct noa_str){line, n});
        const char *want = reference_keyword_level(line);
        if (got.len != strlen(want) || memcmp(got.p, want, got.len))
            fail_msg("[%s]: got %.*s, want %s", line, (int)got.len, got.p, want);
    }
}

static void test_json_levels(void **state)
{
    (void)state;
    static const struct line_case cases[] = {
        {"{\"level\":\"error\",\"msg\":\"x\"}", "error"},
        {"  {\"lvl\": \"DBG\"}  ", "debug"},
        {"{\"severity\":\"Information\"}", "info"},
        {"{\"log.level\":\"wrn\"}", "warn"},
        {"{\"msg\":{\"level\":\"trc\"}}", "trace"},
        /* depth 2 is beyond Loki's default of 2 levels: falls back to keywords */
        {"{\"a\":{\"b\":{\"level\":\"wrn\"}}}", "unknown"},
        /* depth first, in document order */
        {"{\"msg\":{\"level\":\"dbg\"},\"level\":\"wrn\"}", "debug"},
        /* a non-string level is skipped */
        {"{\"level\":5,\"lvl\":\"dbg\"}", "debug"},
        /* keys are unescaped, values are compared raw */
        {"{\"lev\\u0065l\":\"wrn\"}", "warn"},
        {"{\"level\":\"\\u0077rn\"}", "unknown"},
        /* an unknown value falls back to the keyword scan of the whole line */
        {"{\"level\":\"notice\",\"msg\":\"disk error\"}", "error"},
        {"{\"level\":\"notice\"}", "unknown"},
        /* a key match is kept even when the object breaks later */
        {"{\"level\":\"dbg\" x}", "debug"},
        /* malformed before the key: nothing found */
        {"{\"a\" 1, \"level\":\"dbg\"}", "unknown"},
        /* arrays are not searched */
        {"{\"a\":[{\"level\":\"wrn\"}]}", "unknown"},
        /* a leading NBSP passes isJSON but jsonparser does not skip it */
        {"\xc2\xa0{\"level\":\"wrn\"}", "unknown"},
        /* a trailing NBSP: 0xA0 counts as space, but then 0xC2 is the last byte */
        {"{\"level\":\"wrn\"}\xc2\xa0", "unknown"},
        {"{\"Level\":\"FATAL\"}", "fatal"},
        {"{\"LEVEL\":\"critical\"}", "critical"},
        /* field names are case-sensitive in JSON */
        {"{\"lEvEl\":\"wrn\"}", "unknown"},
    };
    check_lines(cases, sizeof(cases) / sizeof(cases[0]), NULL);
}

static void test_json_depth_option(void **state)
{
    (void)state;
    const char *deep = "{\"a\":{\"b\":{\"c\":{\"level\":\"wrn\"}}}}";
    struct noa_enrich_level_opts unlimited = {NULL, 0, 0};
    struct noa_enrich_level_opts three = {NULL, 0, 3};
    struct noa_enrich_level_opts four = {NULL, 0, 4};
    assert_str(noa_enrich_line_level(&unlimited, noa_str_c(deep)), "warn");
    assert_str(noa_enrich_line_level(&three, noa_str_c(deep)), "unknown");
    assert_str(noa_enrich_line_level(&four, noa_str_c(deep)), "warn");
    /* Deeper than the hard cap: not followed, no crash. */
    char buf[1024] = "";
    for (int i = 0; i < 100; i++)
        strcat(buf, "{\"a\":");
    strcat(buf, "{\"level\":\"wrn\"}");
    for (int i = 0; i < 100; i++)
        strcat(buf, "}");
    assert_str(noa_enrich_line_level(&unlimited, noa_str_c(buf)), "unknown");
    /* Custom fields replace the defaults. */
    struct noa_str fields[] = {NOA_STR("priority")};
    struct noa_enrich_level_opts custom = {fields, 1, 2};
    assert_str(noa_enrich_line_level(&custom, noa_str_c("{\"priority\":\"INF\"}")), "info");
    assert_str(noa_enrich_line_level(&custom, noa_str_c("{\"level\":\"wrn\"}")), "unknown");
    assert_str(noa_enrich_line_level(&custom, noa_str_c("priority=dbg")), "debug");
}

static void test_logfmt_levels(void **state)
{
    (void)state;
    static const struct line_case cases[] = {
        {"level=warn msg=x", "warn"},
        {"lvl=dbg", "debug"},
        {"LEVEL=INFO msg=started", "info"},
        {"LeVeL=trc", "trace"},
        /* the earliest hint wins wherever it appears */
        {"severity=error level=info", "info"},
        {"lvl=error severity=dbg", "debug"},
        {"msg=\"a \\\"b\\\"\" level=fatal", "fatal"},
        {"level=\"\\u0064bg\"", "debug"}, /* escaped quoted values are decoded */
        {"level=\"wrn\"", "warn"},
        /* a syntax error stops the decoder; then the keyword scan decides */
        {"a\"b=1 level=dbg", "unknown"},
        {"a=1 level=dbg", "debug"},
        {"a=b=c level=dbg", "unknown"},
        {"level=\"\\q\" lvl=dbg", "unknown"}, /* bad escape ends the scan */
        {"msg=\"unterminated level=dbg", "unknown"},
        /* a key without value leaves no level */
        {"level= msg=x", "unknown"},
        {"level msg=error", "error"},
        {"x=1 level=notice error", "error"},
        /* KELVIN SIGN and long s fold onto k and s in Go's EqualFold */
        {"\xc5\xbf"
         "everity=wrn",
         "warn"},
    };
    check_lines(cases, sizeof(cases) / sizeof(cases[0]), NULL);
}

/* ---- level from labels and metadata ------------------------------------- */

static void test_detect_level_sources(void **state)
{
    (void)state;
    struct noa_arena a = {0};
    struct noa_labels ls;
    struct noa_enrich_level_opts o = noa_enrich_level_opts_default();

    labels("{app=\"x\", level=\"WARN\"}", &a, &ls);
    assert_str(noa_enrich_detect_level(&o, &ls, NULL, 0, noa_str_c("an error")), "warn");
    labels("{app=\"x\", level=\"custom\"}", &a, &ls);
    assert_str(noa_enrich_detect_level(&o, &ls, NULL, 0, noa_str_c("an error")), "custom");
    labels("{app=\"x\", severity=\"err\", lvl=\"dbg\"}", &a, &ls);
    /* fields are tried in Loki's order: severity (4) before lvl (8) */
    assert_str(noa_enrich_detect_level(&o, &ls, NULL, 0, noa_str_c("")), "error");

    labels("{app=\"x\"}", &a, &ls);
    struct noa_label meta[3] = {
        {NOA_STR("trace_id"), NOA_STR("abc")},
        {NOA_STR("Severity"), NOA_STR("Fatal")},
        {NOA_STR("level"), NOA_STR("info")},
    };
    /* metadata: the first field name in Loki's order wins (level before Severity) */
    assert_str(noa_enrich_detect_level(&o, &ls, meta, 3, noa_str_c("")), "info");
    assert_str(noa_enrich_detect_level(&o, &ls, meta, 2, noa_str_c("")), "fatal");
    /* present but empty: nothing is added */
    struct noa_label empty[1] = {{NOA_STR("level"), NOA_STR("")}};
    assert_int_equal(noa_enrich_detect_level(&o, &ls, empty, 1, noa_str_c("error")).len, 0);

    static const struct {
        const char *num;
        const char *want;
    } sev[] = {
        {"0", "unknown"},  {"1", "trace"},  {"4", "trace"},
        {"5", "debug"},    {"8", "debug"},  {"9", "info"},
        {"12", "info"},    {"13", "warn"},  {"17", "error"},
        {"20", "error"},   {"21", "fatal"}, {"24", "fatal"},
        {"25", "unknown"}, {"-3", "trace"}, {"+17", "error"},
        {"abc", "info"},   {"1.5", "info"}, {"99999999999999999999", "info"},
    };
    for (size_t i = 0; i < sizeof(sev) / sizeof(sev[0]); i++) {
        struct noa_label m[1] = {{NOA_STR("severity_number"), noa_str_c(sev[i].num)}};
        struct noa_str got = noa_enrich_detect_level(&o, &ls, m, 1, noa_str_c("error"));
        char buf[32];
        snprintf(buf, sizeof(buf), "%.*s", (int)got.len, got.p);
        if (strcmp(buf, sev[i].want))
            fail_msg("severity_number %s: got %s want %s", sev[i].num, buf, sev[i].want);
    }
    /* an empty severity_number is ignored: the line decides */
    struct noa_label m0[1] = {{NOA_STR("severity_number"), NOA_STR("")}};
    assert_str(noa_enrich_detect_level(&o, &ls, m0, 1, noa_str_c("an error")), "error");
    noa_arena_fini(&a);
}

static void test_normalize(void **state)
{
    (void)state;
    static const struct line_case cases[] = {
        {"TRACE", "trace"},
        {"Trc", "trace"},
        {"debug", "debug"},
        {"DBG", "debug"},
        {"info", "info"},
        {"INF", "info"},
        {"INFORMATION", "info"},
        {"warn", "warn"},
        {"WRN", "warn"},
        {"Warning", "warn"},
        {"error", "error"},
        {"ERR", "error"},
        {"critical", "critical"},
        {"FATAL", "fatal"},
        {"notice", "notice"},
        {"", ""},
        {"in", "in"},
        {"informations", "informations"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct noa_str got = noa_enrich_normalize_level(noa_str_c(cases[i].line));
        char buf[32];
        snprintf(buf, sizeof(buf), "%.*s", (int)got.len, got.p ? got.p : "");
        if (strcmp(buf, cases[i].want))
            fail_msg("normalize %s: got %s", cases[i].line, buf);
    }
}

static void test_apply_level(void **state)
{
    (void)state;
    struct noa_arena a = {0};
    struct noa_labels ls;
    labels("{app=\"x\"}", &a, &ls);
    struct noa_enrich_level_opts o = noa_enrich_level_opts_default();

    struct noa_label meta[3] = {{NOA_STR("detected_level"), NOA_STR("Warning")}};
    uint32_t n = 1;
    assert_int_equal(noa_enrich_apply_level(&o, &ls, meta, &n, noa_str_c("an error")), 0);
    assert_int_equal(n, 1);
    assert_str(meta[0].value, "warn");

    struct noa_label meta2[3] = {{NOA_STR("user"), NOA_STR("u1")}};
    n = 1;
    assert_int_equal(noa_enrich_apply_level(&o, &ls, meta2, &n, noa_str_c("level=dbg")), 1);
    assert_int_equal(n, 2);
    assert_str(meta2[1].name, "detected_level");
    assert_str(meta2[1].value, "debug");

    struct noa_label meta3[2] = {{NOA_STR("level"), NOA_STR("")}};
    n = 1;
    assert_int_equal(noa_enrich_apply_level(&o, &ls, meta3, &n, noa_str_c("error")), 0);
    assert_int_equal(n, 1);
    noa_arena_fini(&a);
}

/* ---- service_name --------------------------------------------------------- */

static void test_service_name(void **state)
{
    (void)state;
    struct noa_limits lim;
    limits_for_test(&lim);
    struct noa_arena a = {0};
    struct noa_labels ls;
    struct noa_str v = {0};

    static const struct {
        const char *labels;
        int add;
        const char *value;
    } cases[] = {
        {"{job=\"api\"}", 1, "api"},
        {"{job=\"api\", app=\"web\"}", 1, "web"}, /* app ranks before job */
        {"{container=\"c\", service=\"s\"}", 1, "s"},
        {"{k8s_job_name=\"j\"}", 1, "j"},
        {"{env=\"prod\"}", 1, "unknown_service"},
        {"{}", 1, "unknown_service"},
        {"{app=\"\", job=\"api\"}", 1, "api"}, /* empty values were dropped */
        {"{service_name=\"svc\", app=\"web\"}", 0, ""},
        {"{__pattern__=\"p\", app=\"web\"}", 0, ""},
        {"{__aggregated_metric__=\"m\"}", 0, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        labels(cases[i].labels, &a, &ls);
        v = (struct noa_str){NULL, 0};
        int add = noa_enrich_service_name(&lim, &ls, &v);
        if (add != cases[i].add)
            fail_msg("%s: add %d", cases[i].labels, add);
        if (add)
            assert_str(v, cases[i].value);
    }
    lim.n_discover_service_name = 0;
    labels("{job=\"api\"}", &a, &ls);
    assert_int_equal(noa_enrich_service_name(&lim, &ls, &v), 0);
    noa_arena_fini(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyword_scan),  cmocka_unit_test(test_keyword_scan_matches_reference),
        cmocka_unit_test(test_json_levels),   cmocka_unit_test(test_json_depth_option),
        cmocka_unit_test(test_logfmt_levels), cmocka_unit_test(test_detect_level_sources),
        cmocka_unit_test(test_normalize),     cmocka_unit_test(test_apply_level),
        cmocka_unit_test(test_service_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
