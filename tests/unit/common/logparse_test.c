/* Unit tests for common/logparse.c: json (flatten, expressions), logfmt
 * (strict, keep-empty, extraction), regexp, pattern, unpack, sanitizing.
 * Expected label sets follow Loki's parser_test.go cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/logparse.h"
#include "common/mem.h"

#include <string.h>

static struct noa_arena arena;
static struct noa_buf outbuf;

/* Runs one parser over line with the given stream labels and returns the
 * final label set as text. ex is "name=expr,name2=expr2" or NULL. */
static const char *run_full(struct noa_logparse_opts o, const char *stream, const char *line,
                            const char **new_line)
{
    struct noa_logparse_extract ex[8];
    struct noa_error err = {0};
    struct noa_logparse *p = NULL;
    if (noa_logparse_new(&o, &p, &err))
        fail_msg("new: %s", err.msg);
    (void)ex;
    struct noa_labels ls;
    assert_int_equal(noa_labels_parse(noa_str_c(stream), &arena, &ls, &err), 0);
    struct noa_lbuilder b;
    noa_lbuilder_init(&b);
    noa_lbuilder_reset_stream(&b, &ls);
    struct noa_str l = noa_str_c(line);
    assert_int_equal(noa_logparse_run(p, &l, &b), 0);
    struct noa_labels out;
    noa_lbuilder_labels(&b, &out);
    noa_buf_reset(&outbuf);
    noa_labels_format(&out, &outbuf);
    if (new_line)
        *new_line = noa_arena_strndup(&arena, l.p, l.len);
    noa_lbuilder_fini(&b);
    noa_logparse_free(p);
    return noa_buf_cstr(&outbuf);
}

static const char *run(enum noa_logparse_kind kind, const char *stream, const char *line)
{
    struct noa_logparse_opts o = {.kind = kind};
    return run_full(o, stream, line, NULL);
}

static void test_json_flatten(void **state)
{
    (void)state;
    assert_string_equal(
        run(NOA_LOGPARSE_JSON, "{}",
            "{\"app\":\"foo\",\"namespace\":\"prod\",\"pod\":{\"uuid\":\"foo\","
            "\"deployment\":{\"ref\":\"foobar\"}}}"),
        "{app=\"foo\", namespace=\"prod\", pod_deployment_ref=\"foobar\", pod_uuid=\"foo\"}");
    assert_string_equal(run(NOA_LOGPARSE_JSON, "{}", "{\"counter\":1, \"price\": {\"_net_\":5.56909}}"),
                        "{counter=\"1\", price__net_=\"5.56909\"}");
    assert_string_equal(run(NOA_LOGPARSE_JSON, "{}", "{\" \": {\"foo\":\"bar\"}}"), "{foo=\"bar\"}");
    assert_string_equal(run(NOA_LOGPARSE_JSON, "{}", "{\"\": {\"\":\"bar\"}}"), "{=\"bar\"}");
    assert_string_equal(run(NOA_LOGPARSE_JSON, "{}",
                            "{\"counter\":1,\"foo\":\"foo\\\\\\\"bar\", \"price\": {\"_net_\":5.56909}}"),
                        "{counter=\"1\", foo=\"foo\\\\\\\"bar\", price__net_=\"5.56909\"}");
    /* U+FFFD and invalid UTF-8 become a space */
    assert_string_equal(run(NOA_LOGPARSE_JSON, "{}", "{\"foo\":\"\xef\xbf\xbd\",\"b\":\"a\xffz\"}"),
                        "{b=\"a z\", foo=\" \"}");
    /* arrays skipped, nulls skipped, bools and numbers as text */
    assert_string_equal(run(NOA_LOGPARSE_JSON, "{}",
                            "{\"a\":[1,{\"x\":2}],\"n\":null,\"t\":true,\"f\":false,\"e\":-1.5e3}"),
                        "{e=\"-1.5e3\", f=\"false\", t=\"true\"}");
    /* sanitizing and the leading digit only on the first part */
    assert_string_equal(run(NOA_LOGPARSE_JSON, "{}", "{\"a.b\":{\"c-d\":\"1\"},\"9x\":{\"8y\":\"2\"}}"),
                        "{_9x_8y=\"2\", a_b_c_d=\"1\"}");
    /* duplicates: first wins; stream clash: _extracted */
    assert_string_equal(run(NOA_LOGPARSE_JSON, "{app=\"foo\"}", "{\"app\":\"bar\",\"k\":\"1\",\"k\":\"2\"}"),
                        "{app=\"foo\", app_extracted=\"bar\", k=\"1\"}");
    /* escapes: unicode and surrogate pairs */
    assert_string_equal(run(NOA_LOGPARSE_JSON, "{}", "{\"u\":\"\\u00e9\\ud83d\\ude00\\n\"}"),
                        "{u=\"é😀\\n\"}");
}

static void test_json_errors(void **state)
{
    (void)state;
    assert_string_equal(
        run(NOA_LOGPARSE_JSON, "{app=\"x\"}", "{\"a\":\"b\""),
        "{__error__=\"JSONParserErr\", __error_details__=\"Value looks like object, but can't "
        "find closing '}' symbol\", a=\"b\", app=\"x\"}");
    assert_non_null(strstr(run(NOA_LOGPARSE_JSON, "{}", "[1,2]"), "JSONParserErr"));
    assert_non_null(strstr(run(NOA_LOGPARSE_JSON, "{}", "hello"), "JSONParserErr"));
    assert_non_null(strstr(run(NOA_LOGPARSE_JSON, "{}", "{\"a\":tru}"), "JSONParserErr"));
    assert_non_null(strstr(run(NOA_LOGPARSE_JSON, "{}", "{\"a\":\"x}"), "closing '\\\"'"));
    /* numbers are not grammar-checked, as in Loki's reader; bad escapes give "" */
    assert_string_equal(run(NOA_LOGPARSE_JSON, "{}", "{\"a\":01,\"b\":\"x\\qy\",\"c\":1e}"),
                        "{a=\"01\", b=\"\", c=\"1e\"}");
    assert_non_null(strstr(run(NOA_LOGPARSE_JSON, "{}", ""), "JSONParserErr"));
    /* deep nesting is an error, not a stack overflow */
    char deep[5001];
    size_t k = 0;
    for (int i = 0; i < 1000; i++) {
        memcpy(deep + k, "{\"a\":", 5);
        k += 5;
    }
    deep[k] = 0;
    assert_non_null(strstr(run(NOA_LOGPARSE_JSON, "{}", deep), "JSONParserErr"));
    assert_string_equal(run(NOA_LOGPARSE_JSON, "{}", "  {\"a\":\"b\"}  trailing"), "{a=\"b\"}");
}

static const char *run_json_expr(const char *stream, const char *line, const char *name,
                                 const char *expr)
{
    struct noa_logparse_extract ex[1] = {{noa_str_c(name), noa_str_c(expr)}};
    struct noa_logparse_opts o = {.kind = NOA_LOGPARSE_JSON, .extract = ex, .nextract = 1};
    return run_full(o, stream, line, NULL);
}

static void test_json_expressions(void **state)
{
    (void)state;
    const char *line = "{\"app\":\"foo\",\"pod\":{\"uuid\":\"u1\",\"deployment\":{\"ref\":\"r\"}},"
                       "\"list\":[1,{\"f\":\"v\"},\"s\"],\"n\":null,\"obj\":{\"a\": 1}}";
    assert_string_equal(run_json_expr("{}", line, "x", "pod.uuid"), "{x=\"u1\"}");
    assert_string_equal(run_json_expr("{}", line, "x", "pod[\"deployment\"].ref"), "{x=\"r\"}");
    assert_string_equal(run_json_expr("{}", line, "x", "[\"pod\"][\"uuid\"]"), "{x=\"u1\"}");
    assert_string_equal(run_json_expr("{}", line, "x", "list[1].f"), "{x=\"v\"}");
    assert_string_equal(run_json_expr("{}", line, "x", "list[0]"), "{x=\"1\"}");
    assert_string_equal(run_json_expr("{}", line, "x", "list"), "{x=\"[1,{\\\"f\\\":\\\"v\\\"},\\\"s\\\"]\"}");
    assert_string_equal(run_json_expr("{}", line, "x", "obj"), "{x=\"{\\\"a\\\": 1}\"}");
    assert_string_equal(run_json_expr("{}", line, "x", "missing.path"), "{x=\"\"}");
    assert_string_equal(run_json_expr("{}", line, "x", "list[9]"), "{x=\"\"}");
    assert_string_equal(run_json_expr("{}", line, "x", "n"), "{x=\"\"}");
    assert_string_equal(run_json_expr("{app=\"s\"}", line, "app", "app"),
                        "{app=\"s\", app_extracted=\"foo\"}");
    /* Loki's TestJSONExpressionParser line */
    const char *tl = "{\"app\":\"foo\",\"field with space\":\"value\",\"field with \xc3\x9c"
                     "FT8\xf0\x9f\x91\x8c\":\"value\",\"null_field\":null,\"bool_field\":false,"
                     "\"namespace\":\"prod\",\"pod\":{\"uuid\":\"foo\",\"deployment\":"
                     "{\"ref\":\"foobar\", \"params\": [1,2,3]}}}";
    assert_string_equal(run_json_expr("{}", tl, "test", "[\"field with space\"]"), "{test=\"value\"}");
    assert_string_equal(run_json_expr("{}", tl, "utf8", "[\"field with \xc3\x9c" "FT8\xf0\x9f\x91\x8c\"]"),
                        "{utf8=\"value\"}");
    assert_string_equal(run_json_expr("{}", tl, "uuid", "[\"pod\"].uuid"), "{uuid=\"foo\"}");
    assert_string_equal(run_json_expr("{}", tl, "param", "pod.deployment.params[0]"),
                        "{param=\"1\"}");
    assert_string_equal(run_json_expr("{}", tl, "params", "pod.deployment.params"),
                        "{params=\"[1,2,3]\"}");
    assert_string_equal(run_json_expr("{}", tl, "d", "pod.deployment"),
                        "{d=\"{\\\"ref\\\":\\\"foobar\\\", \\\"params\\\": [1,2,3]}\"}");
    assert_string_equal(run_json_expr("{}", tl, "bool", "bool_field"), "{bool=\"false\"}");
    assert_string_equal(run_json_expr("{uuid=\"bar\"}", tl, "uuid", "pod.uuid"),
                        "{uuid=\"bar\", uuid_extracted=\"foo\"}");
    assert_string_equal(run_json_expr("{foo=\"bar\"}", tl, "request_size", "request.size.invalid"),
                        "{foo=\"bar\", request_size=\"\"}");
    assert_string_equal(run_json_expr("{}", "", "x", "a"), "{}");
    assert_string_equal(run_json_expr("{}", "{}", "x", "a"), "{x=\"\"}");
    assert_string_equal(run_json_expr("{}", "not json", "x", "a"), "{__error__=\"JSONParserErr\"}");
    /* bad expressions fail at build time */
    const char *bad[] = {"a..b", "[\"a\"", "\"a\"]", "field with space", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct noa_logparse_extract ex[1] = {{NOA_STR("x"), noa_str_c(bad[i])}};
        struct noa_logparse_opts o = {.kind = NOA_LOGPARSE_JSON, .extract = ex, .nextract = 1};
        struct noa_logparse *p = NULL;
        struct noa_error err = {0};
        assert_int_equal(noa_logparse_new(&o, &p, &err), NOA_EINVAL);
        assert_non_null(strstr(err.msg, "cannot parse expression"));
    }
}

static const char *run_logfmt(const char *stream, const char *line, int strict, int keep)
{
    struct noa_logparse_opts o = {.kind = NOA_LOGPARSE_LOGFMT, .strict = strict, .keep_empty = keep};
    return run_full(o, stream, line, NULL);
}

static void test_logfmt(void **state)
{
    (void)state;
    assert_string_equal(run_logfmt("{}", "level=info msg=\"hello world\" dur=1.5s", 0, 0),
                        "{dur=\"1.5s\", level=\"info\", msg=\"hello world\"}");
    assert_string_equal(run_logfmt("{}", "foo.bar=1 test-dash=2 9x=3", 0, 0),
                        "{_9x=\"3\", foo_bar=\"1\", test_dash=\"2\"}");
    assert_string_equal(run_logfmt("{}", "a=1 a=2 b", 0, 0), "{a=\"1\"}");
    assert_string_equal(run_logfmt("{}", "a= b c=\"\" d=x", 0, 1),
                        "{a=\"\", b=\"\", c=\"\", d=\"x\"}");
    assert_string_equal(run_logfmt("{}", "e=\"a\\\"b\\n\\u00e9\"", 0, 0), "{e=\"a\\\"b\\né\"}");
    assert_string_equal(run_logfmt("{}", "e=\"x\ny\"", 0, 0), "{e=\"x\\ny\"}");
    /* Loki's Test_logfmtParser_Parse cases */
    assert_string_equal(run_logfmt("{a=\"b\"}", "foobar=\"foo bar\nb\\\\az\"", 0, 0),
                        "{a=\"b\", foobar=\"foo bar\\nb\\\\az\"}");
    assert_string_equal(run_logfmt("{a=\"b\"}", "foobar=\"foo ba\\\\r baz\"", 0, 0),
                        "{a=\"b\", foobar=\"foo ba\\\\r baz\"}");
    assert_string_equal(run_logfmt("{a=\"b\"}", "foobar=\"foo\\nbar\\tbaz\"", 0, 0),
                        "{a=\"b\", foobar=\"foo\\nbar\\tbaz\"}");
    assert_string_equal(run_logfmt("{foo=\"bar\"}", "foo=\"foo bar\" foo.bar=10ms test-dash=foo", 0, 0),
                        "{foo=\"bar\", foo_bar=\"10ms\", foo_extracted=\"foo bar\", test_dash=\"foo\"}");
    assert_string_equal(run_logfmt("{}", "buzz=foo bar=\xef\xbf\xbd" "f", 0, 0),
                        "{bar=\" f\", buzz=\"foo\"}");
    assert_string_equal(run_logfmt("{}", "", 1, 1), "{}");
    /* non-strict: bad pairs are skipped silently */
    assert_string_equal(run_logfmt("{}", "foobar====wqe=sdad1r", 0, 0), "{}");
    assert_string_equal(run_logfmt("{}", "a=1 bar=bu=zz c=3", 0, 0), "{a=\"1\", c=\"3\"}");
    assert_string_equal(run_logfmt("{}", "a\"b=1 c=2", 0, 0), "{c=\"2\"}");
    /* strict: stop at the first error, keep what came before */
    assert_string_equal(
        run_logfmt("{}", "a=1 bar=bu=zz c=3", 1, 0),
        "{__error__=\"LogfmtParserErr\", __error_details__=\"logfmt syntax error at pos 11 : "
        "unexpected '='\", a=\"1\"}");
    assert_string_equal(
        run_logfmt("{}", "a=1 b=\"open", 1, 0),
        "{__error__=\"LogfmtParserErr\", __error_details__=\"logfmt syntax error at pos 12 : "
        "unterminated quoted value\", a=\"1\"}");
    assert_string_equal(run_logfmt("{app=\"x\"}", "app=y v=\"a\xff\"", 0, 0),
                        "{app=\"x\", app_extracted=\"y\", v=\"a \"}");
    assert_non_null(strstr(run_logfmt("{}", "k\xff=1", 1, 0), "invalid key"));
}

static void test_logfmt_expressions(void **state)
{
    (void)state;
    struct noa_logparse_extract ex[3] = {
        {NOA_STR("lvl"), NOA_STR("level")},
        {NOA_STR("app"), NOA_STR("app")},
        {NOA_STR("missing"), NOA_STR("missing")},
    };
    struct noa_logparse_opts o = {.kind = NOA_LOGPARSE_LOGFMT, .extract = ex, .nextract = 3};
    assert_string_equal(run_full(o, "{app=\"s\", level=\"x\"}", "level=warn app=a level=err other=1", NULL),
                        "{app=\"s\", app_extracted=\"a\", level=\"x\", lvl=\"warn\", missing=\"\"}");
}

static void test_regexp(void **state)
{
    (void)state;
    struct noa_logparse_opts o = {
        .kind = NOA_LOGPARSE_REGEXP,
        .pattern = NOA_STR("(?P<ip>\\S+) (?<method>[A-Z]+) (?:x)?(?<opt>z)?"),
    };
    assert_string_equal(run_full(o, "{}", "1.2.3.4 GET /", NULL),
                        "{ip=\"1.2.3.4\", method=\"GET\", opt=\"\"}");
    assert_string_equal(run_full(o, "{method=\"m\"}", "1.2.3.4 GET xz", NULL),
                        "{ip=\"1.2.3.4\", method=\"m\", method_extracted=\"GET\", opt=\"z\"}");
    assert_string_equal(run_full(o, "{}", "nomatch", NULL), "{}");
    struct noa_logparse *p = NULL;
    struct noa_error err = {0};
    o.pattern = NOA_STR("(\\d+)");
    assert_int_equal(noa_logparse_new(&o, &p, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "at least one named capture must be supplied");
    o.pattern = NOA_STR("(?<a>");
    assert_int_equal(noa_logparse_new(&o, &p, &err), NOA_EINVAL);
    /* Loki's TestNewRegexpParser */
    const char *bad[] = {"w.*", "f(.*) (foo|bar|buzz)", "blah (.*) (?P<foo$>foo)(?P<bar>barr)",
                         "blah (.*) (?P<foo>foo)(?P<foo>barr)"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o.pattern = noa_str_c(bad[i]);
        assert_int_equal(noa_logparse_new(&o, &p, &err), NOA_EINVAL);
    }
    const char *good[] = {"blah (.*) (?P<foo>)", "blah (.*) (?P<foo>foo)(?P<bar>barr)"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        o.pattern = noa_str_c(good[i]);
        assert_int_equal(noa_logparse_new(&o, &p, &err), 0);
        noa_logparse_free(p);
    }
}

static const char *run_pattern(const char *pat, const char *line)
{
    struct noa_logparse_opts o = {.kind = NOA_LOGPARSE_PATTERN, .pattern = noa_str_c(pat)};
    return run_full(o, "{}", line, NULL);
}

static void test_pattern(void **state)
{
    (void)state;
    assert_string_equal(
        run_pattern("<ip> <userid> <user> [<_>] \"<method> <path> <_>\" <status> <size>",
                    "127.0.0.1 user-identifier frank [10/Oct/2000:13:55:36 -0700] \"GET "
                    "/apache_pb.gif HTTP/1.0\" 200 2326"),
        "{ip=\"127.0.0.1\", method=\"GET\", path=\"/apache_pb.gif\", size=\"2326\", "
        "status=\"200\", user=\"frank\", userid=\"user-identifier\"}");
    assert_string_equal(run_pattern("<foo>foo <bar> bar", "foo buzz bar"),
                        "{bar=\"buzz\", foo=\"\"}");
    assert_string_equal(run_pattern("foo <f>\"", "bar"), "{}");
    /* literal not found: the capture takes the rest, later ones unset */
    assert_string_equal(run_pattern("<a> | <b> | <c>", "x | y"), "{a=\"x\", b=\"y\"}");
    assert_string_equal(run_pattern("<a> end", "v end trailing"), "{a=\"v\"}");
    assert_string_equal(run_pattern("<a>", ""), "{}");
    struct noa_pattern p;
    struct noa_error err = {0};
    assert_int_equal(noa_logparse_pattern_compile(NOA_STR("<_> x"), 0, &p, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "at least one capture is required");
    assert_int_equal(noa_logparse_pattern_compile(NOA_STR("<a><b>"), 0, &p, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "found consecutive capture: invalid expression");
    assert_int_equal(noa_logparse_pattern_compile(NOA_STR("<a> <a>"), 0, &p, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "duplicate capture name (a): invalid expression");
    assert_int_equal(noa_logparse_pattern_compile(NOA_STR("<a> <1b> <>"), 0, &p, &err), 0);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.ncaptures, 1);
    noa_logparse_pattern_fini(&p);
}

/* Fixtures from Loki's pattern_test.go (expected values as label sets). */
static void test_pattern_fixtures(void **state)
{
    (void)state;
    static const char *const fx[][3] = {
        {"foo <foo> bar<fuzz>", "foo buzz bar", "{foo=\"buzz\", fuzz=\"\"}"},
        {"<foo> bar<fuzz>", " bar", "{foo=\"\", fuzz=\"\"}"},
        {"<path>?<_>", "/api/plugins/versioncheck?slugIn=snuids&grafanaVersion=7.0.0-beta1",
         "{path=\"/api/plugins/versioncheck\"}"},
        {"<path>?<_>", "/api/plugins/status", "{path=\"/api/plugins/status\"}"},
        {"<_> <id> [<level>] [<no>] [<component>] ",
         "2020-08-06T14:25:02.835618Z 0 [Note] [MY-012487] [InnoDB] DDL log recovery : begin",
         "{component=\"InnoDB\", id=\"0\", level=\"Note\", no=\"MY-012487\"}"},
        {"<level>  [<component>]<_> in <duration>.<_>",
         "INFO  [Service Thread] 2021-05-19 07:40:12,130 GCInspector.java:284 - ParNew GC in "
         "248ms.  CMS Old Gen: 5043436640 -> 5091062064",
         "{component=\"Service Thread\", duration=\"248ms\", level=\"INFO\"}"},
        {"<_> msg=\"<method> <path> (<status>) <duration>\"",
         "level=debug ts=2021-05-19T07:54:26.864644382Z caller=logging.go:66 "
         "traceID=7fbb92fd0eb9c65d msg=\"POST /loki/api/v1/push (204) 1.238734ms\"",
         "{duration=\"1.238734ms\", method=\"POST\", path=\"/loki/api/v1/push\", "
         "status=\"204\"}"},
        {"<_> <_> <level> | <component>: <_> peer <peer_id> <_> tcp <ip>:<_>",
         "2021-05-19 08:16:50.181436 W | rafthttp: health check for peer fd8275e521cfb532 "
         "could not connect: dial tcp 10.32.85.85:2380: connect: connection refused",
         "{component=\"rafthttp\", ip=\"10.32.85.85\", level=\"W\", "
         "peer_id=\"fd8275e521cfb532\"}"},
        {"<_>] <level> [Log partition=<part>, dir=<dir>] ",
         "[2021-05-19 08:35:28,681] INFO [Log partition=p-636-L-fs-117, dir=/data/kafka-logs] "
         "Deleting segment 455976081 (kafka.log.Log)",
         "{dir=\"/data/kafka-logs\", level=\"INFO\", part=\"p-636-L-fs-117\"}"},
        {"<_>][<level>][<component>] [<id>] [<index>]",
         "[2021-05-19T06:54:06,994][INFO ][o.e.c.m.MetaDataMappingService] "
         "[1f605d47-8454-4bfb-a67f-49f318bf837a] [usage-stats-2021.05.19/O2Je9IbmR8CqFyUvNpTttA] "
         "update_mapping [report]",
         "{component=\"o.e.c.m.MetaDataMappingService\", "
         "id=\"1f605d47-8454-4bfb-a67f-49f318bf837a\", "
         "index=\"usage-stats-2021.05.19/O2Je9IbmR8CqFyUvNpTttA\", level=\"INFO \"}"},
    };
    for (size_t i = 0; i < sizeof(fx) / sizeof(fx[0]); i++)
        assert_string_equal(run_pattern(fx[i][0], fx[i][1]), fx[i][2]);
    /* Loki's Test_Error cases */
    struct noa_pattern p;
    struct noa_error err = {0};
    const char *bad[] = {"", "<_>", "foo <_> bar <_>", "foo bar buzz", "<f><f>", "<f> f<d><b>",
                         "<f> f<f>"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(noa_logparse_pattern_compile(noa_str_c(bad[i]), 0, &p, &err), NOA_EINVAL);
    assert_int_equal(noa_logparse_pattern_compile(NOA_STR("<f> <a>"), 0, &p, &err), 0);
    noa_logparse_pattern_fini(&p);
}

static void test_unpack(void **state)
{
    (void)state;
    struct noa_logparse_opts o = {.kind = NOA_LOGPARSE_UNPACK};
    const char *nl = NULL;
    assert_string_equal(
        run_full(o, "{app=\"x\"}",
                 "{\"_entry\":\"level=info \\\"q\\\"\",\"app\":\"y\",\"pod\":\"p\",\"n\":1}", &nl),
        "{app=\"x\", app_extracted=\"y\", pod=\"p\"}");
    assert_string_equal(nl, "level=info \"q\"");
    /* without _entry nothing happens */
    assert_string_equal(run_full(o, "{}", "{\"a\":\"b\"}", &nl), "{}");
    assert_string_equal(nl, "{\"a\":\"b\"}");
    assert_string_equal(run_full(o, "{}", "[1]", &nl),
                        "{__error__=\"JSONParserErr\", __error_details__=\"expecting json "
                        "object(6), but it is not\"}");
    assert_string_equal(run_full(o, "{}", "", &nl), "{}");
    assert_string_equal(
        run_full(o, "{app=\"bar\"}",
                 "{\"_entry\":\"I0303 17:49:45.976518    1526 kubelet_getters.go:178] \\\"Pod "
                 "status updated\\\" status=Running\"}",
                 &nl),
        "{app=\"bar\"}");
    assert_string_equal(nl, "I0303 17:49:45.976518    1526 kubelet_getters.go:178] \"Pod status "
                            "updated\" status=Running");
    assert_string_equal(
        run_full(o, "{cluster=\"us-central1\"}",
                 "{\"bar\":1,\"app\":\"foo\",\"namespace\":\"prod\",\"_entry\":\"some "
                 "message\",\"pod\":{\"uid\":\"1\"}}",
                 &nl),
        "{app=\"foo\", cluster=\"us-central1\", namespace=\"prod\"}");
    assert_string_equal(nl, "some message");
    assert_non_null(strstr(run_full(o, "{}", " {\"_entry\":\"x\"}", &nl), "JSONParserErr"));
    assert_string_equal(run_full(o, "{}", "{\"_entry\":\"a\",\"_entry\":\"b\"}", &nl), "{}");
    assert_string_equal(nl, "b");
    assert_non_null(strstr(run_full(o, "{}", "{\"_entry\":\"a\",", &nl), "JSONParserErr"));
    assert_string_equal(nl, "{\"_entry\":\"a\",");
}

static void test_sanitize(void **state)
{
    (void)state;
    struct noa_buf b = {0};
    noa_logparse_sanitize(NOA_STR("  cou-nter "), 1, &b);
    assert_string_equal(noa_buf_cstr(&b), "cou_nter");
    noa_logparse_sanitize(NOA_STR("User-Agent"), 1, &b);
    assert_string_equal(noa_buf_cstr(&b), "User_Agent");
    noa_logparse_sanitize(NOA_STR("9x"), 1, &b);
    assert_string_equal(noa_buf_cstr(&b), "_9x");
    noa_logparse_sanitize(NOA_STR("9x"), 0, &b);
    assert_string_equal(noa_buf_cstr(&b), "9x");
    noa_logparse_sanitize(NOA_STR("a:b\xc3\xa9z"), 1, &b);
    assert_string_equal(noa_buf_cstr(&b), "a_b_z");
    noa_logparse_sanitize(NOA_STR("   "), 1, &b);
    assert_int_equal(b.len, 0);
    noa_buf_fini(&b);
}

/* Two parsers in one pipeline: the first extraction of a name wins. */
static void test_chain_first_wins(void **state)
{
    (void)state;
    struct noa_error err = {0};
    struct noa_logparse *u = NULL, *l = NULL;
    struct noa_logparse_opts uo = {.kind = NOA_LOGPARSE_UNPACK};
    struct noa_logparse_opts lo = {.kind = NOA_LOGPARSE_LOGFMT};
    assert_int_equal(noa_logparse_new(&uo, &u, &err), 0);
    assert_int_equal(noa_logparse_new(&lo, &l, &err), 0);
    struct noa_lbuilder b;
    noa_lbuilder_init(&b);
    noa_lbuilder_reset_stream(&b, NULL);
    for (int line = 0; line < 3; line++) {
        noa_lbuilder_reset(&b);
        struct noa_str s = NOA_STR("{\"_entry\":\"level=debug x=1\",\"level\":\"info\"}");
        noa_logparse_run(u, &s, &b);
        noa_logparse_run(l, &s, &b);
        struct noa_str v;
        assert_true(noa_lbuilder_get(&b, NOA_STR("level"), &v));
        assert_true(noa_str_eq_c(v, "info"));
        assert_true(noa_lbuilder_get(&b, NOA_STR("x"), &v));
        assert_true(noa_str_eq_c(v, "1"));
    }
    noa_lbuilder_fini(&b);
    noa_logparse_free(u);
    noa_logparse_free(l);
}

/* | unpack | unpack reads one scratch line while writing the other. */
static void test_unpack_twice_and_no_alloc(void **state)
{
    (void)state;
    struct noa_error err = {0};
    struct noa_logparse *u = NULL, *j = NULL, *l = NULL;
    struct noa_logparse_opts uo = {.kind = NOA_LOGPARSE_UNPACK};
    struct noa_logparse_opts jo = {.kind = NOA_LOGPARSE_JSON};
    struct noa_logparse_opts lo = {.kind = NOA_LOGPARSE_LOGFMT, .strict = 1};
    assert_int_equal(noa_logparse_new(&uo, &u, &err), 0);
    assert_int_equal(noa_logparse_new(&jo, &j, &err), 0);
    assert_int_equal(noa_logparse_new(&lo, &l, &err), 0);
    struct noa_lbuilder b;
    noa_lbuilder_init(&b);
    noa_lbuilder_reset_stream(&b, NULL);
    int64_t before = 0;
    for (int line = 0; line < 6; line++) {
        if (line == 2) { /* two warm-up lines, then no allocation at all */
            before = noa_mem_in_use();
            noa_mem_fail_after(0);
        }
        noa_lbuilder_reset(&b);
        struct noa_str s = NOA_STR(
            "{\"_entry\":\"{\\\"_entry\\\":\\\"k=v x=\\\\\\\"q\\\\\\\"\\\","
            "\\\"b\\\":\\\"2\\\"}\",\"a\":\"1\"}");
        noa_logparse_run(u, &s, &b);
        noa_logparse_run(u, &s, &b);
        noa_logparse_run(l, &s, &b);
        struct noa_str v;
        assert_true(noa_str_eq_c(s, "k=v x=\"q\""));
        assert_true(noa_lbuilder_get(&b, NOA_STR("a"), &v) && noa_str_eq_c(v, "1"));
        assert_true(noa_lbuilder_get(&b, NOA_STR("b"), &v) && noa_str_eq_c(v, "2"));
        assert_true(noa_lbuilder_get(&b, NOA_STR("x"), &v) && noa_str_eq_c(v, "q"));
        struct noa_str js = NOA_STR("{\"n\":{\"m\":\"\\u00e9\"},\"z\":[1],\"t\":true}");
        noa_logparse_run(j, &js, &b);
        assert_true(noa_lbuilder_get(&b, NOA_STR("n_m"), &v) && noa_str_eq_c(v, "é"));
        assert_false(noa_lbuilder_has_err(&b));
    }
    noa_mem_fail_after(-1);
    assert_int_equal(noa_mem_in_use(), before);
    noa_lbuilder_fini(&b);
    noa_logparse_free(u);
    noa_logparse_free(j);
    noa_logparse_free(l);
}

/* Runs p for the names in want (filter first) and returns the labels. */
static const char *run_want(const struct noa_logparse_opts *o, const char *stream,
                            const char *line, const char *const *names, unsigned n,
                            int stop_early)
{
    struct noa_error err = {0};
    struct noa_logparse *p = NULL;
    if (noa_logparse_new(o, &p, &err))
        fail_msg("new: %s", err.msg);
    assert_true(noa_logparse_can_want(p));
    struct noa_str nv[8];
    for (unsigned i = 0; i < n; i++)
        nv[i] = noa_str_c(names[i]);
    struct noa_logparse_want w;
    noa_logparse_want_init(&w, nv, n, stop_early);
    struct noa_labels ls;
    assert_int_equal(noa_labels_parse(noa_str_c(stream), &arena, &ls, &err), 0);
    struct noa_lbuilder b;
    noa_lbuilder_init(&b);
    noa_lbuilder_reset_stream(&b, &ls);
    noa_logparse_run_want(p, noa_str_c(line), &b, &w);
    struct noa_labels out;
    noa_lbuilder_labels(&b, &out);
    noa_buf_reset(&outbuf);
    noa_labels_format(&out, &outbuf);
    noa_lbuilder_fini(&b);
    noa_logparse_want_fini(&w);
    noa_logparse_free(p);
    return noa_buf_cstr(&outbuf);
}

static void test_want(void **state)
{
    (void)state;
    struct noa_logparse_opts json = {.kind = NOA_LOGPARSE_JSON};
    struct noa_logparse_opts lf = {.kind = NOA_LOGPARSE_LOGFMT, .strict = 1};
    const char *level[] = {"level"}, *lx[] = {"level_extracted"}, *ab[] = {"a_b", "q"};
    const char *line = "{\"ts\":1,\"level\":\"info\",\"level\":\"error\",\"x\":{\"level\":2},"
                       "\"\":{\"level\":\"deep\"},\"a\":{\"b\":\"c\",\"d\":[1]}}";
    /* only wanted names, first wins, nested under an empty key counts */
    assert_string_equal(run_want(&json, "{}", line, level, 1, 0), "{level=\"info\"}");
    assert_string_equal(run_want(&json, "{}", line, ab, 2, 0), "{a_b=\"c\"}");
    /* a filter on x_extracted wants x too (renamed on a stream clash) */
    assert_string_equal(run_want(&json, "{level=\"s\"}", line, lx, 1, 0),
                        "{level=\"s\", level_extracted=\"info\"}");
    /* errors as a full run: after the wanted key, and in a skipped object */
    assert_string_equal(run_want(&json, "{}", "{\"level\":\"e\",\"o\":{\"k\\q\":1}}", level, 1, 0),
                        "{__error__=\"JSONParserErr\", __error_details__=\"Value looks like "
                        "object, but can't find closing '}' symbol\", level=\"e\"}");
    /* stop early: the scan ends at the last wanted name, the error unseen */
    assert_string_equal(run_want(&json, "{}", "{\"level\":\"e\",\"o\":{\"k\\q\":1}}", level, 1, 1),
                        "{level=\"e\"}");
    assert_string_equal(run_want(&lf, "{}", "a=1 level=warn b==", level, 1, 0),
                        "{__error__=\"LogfmtParserErr\", __error_details__=\"logfmt syntax error "
                        "at pos 18 : unexpected '='\", level=\"warn\"}");
    assert_string_equal(run_want(&lf, "{}", "a=1 level=warn b==", level, 1, 1), "{level=\"warn\"}");
    /* parsers with expressions, and the others, are selective already */
    struct noa_logparse_extract ex[1] = {{NOA_STR("x"), NOA_STR("a")}};
    struct noa_logparse_opts o = {.kind = NOA_LOGPARSE_JSON, .extract = ex, .nextract = 1};
    struct noa_logparse *p = NULL;
    struct noa_error err = {0};
    assert_int_equal(noa_logparse_new(&o, &p, &err), 0);
    assert_false(noa_logparse_can_want(p));
    noa_logparse_free(p);
    o = (struct noa_logparse_opts){.kind = NOA_LOGPARSE_UNPACK};
    assert_int_equal(noa_logparse_new(&o, &p, &err), 0);
    assert_false(noa_logparse_can_want(p));
    noa_logparse_free(p);
}

/* Once every wanted name is found, json only validates the rest of the
 * line (a fast pass, else the walk): the labels and the error pair must be
 * those of a run whose want set never completes (a name absent from every
 * line), which reads the whole line the old way. */
static void test_want_rest(void **state)
{
    (void)state;
    struct noa_logparse_opts json = {.kind = NOA_LOGPARSE_JSON};
    const char *deep = "{\"level\":\"d\",\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                       "[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
                       "]]]]]]]]]]]]]]]]]]]]]]]]]}";
    const char *lines[] = {
        "{\"level\":\"i\", \"a\" : [1, {\"k\\q\":2}, \"x\\\"y\"], \"b\":{\"c\":null,\"d\":[[]]},"
        " \"t\":true, \"f\":false, \"e\":{}}",
        "{\"level\":\"e\",\"k\\q\":1}",
        "{\"level\":\"e\",\"k\\n\":1}",
        "{\"level\":\"e\",\"m\":\"abc",
        "{\"level\":\"e\",\"m\":\"abc\"",
        "{\"level\":\"e\",\"m\":\"abc\",}",
        "{\"level\":\"e\"} xyz",
        "{\"level\":\"e\",\"n\":nullx}",
        "{\"level\":\"e\",\"n\":-abc,\"o\":0.5e3}",
        "{\"level\":\"e\",\"n\":tru}",
        "{\"level\":\"e\",\"a\":[1,]}",
        "{\"level\":\"e\",\"a\":[1 2]}",
        "{\"level\":\"e\",\"a\":{\"b\":1]}",
        "{\"level\":\"e\",\"__error__\":\"x\",\"__error_details__\":\"y\"}",
        "{\"level\":\"e\",\" __error__\":\"x\"}",
        "{\"level\":\"e\",\"..error__\":\"x\"}",
        "{\"level\":\"e\",\"\":{\"__error__\":\"x\"}}",
        "{\"level\":\"e\",\"_\":{\"error__\":\"x\"}}",
        "{\"x\":{\"level\":\"n\",\"q\":[}},\"level\":\"t\"}",
        "{\"\":{\"level\":\"n\",\"z\":1},\"k\":\"v\"}",
        "{\"level\":\"e\",\"s\":\"caf\xc3\xa9 \\u00e9\"}",
        deep,
    };
    const char *one[] = {"level"}, *one_never[] = {"level", "never_there"};
    const char *err[] = {"level", "__error__"},
               *err_never[] = {"level", "__error__", "never_there"};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        char want[1024];
        snprintf(want, sizeof(want), "%s", run_want(&json, "{}", lines[i], one_never, 2, 0));
        assert_string_equal(run_want(&json, "{}", lines[i], one, 1, 0), want);
        snprintf(want, sizeof(want), "%s", run_want(&json, "{}", lines[i], err_never, 3, 0));
        assert_string_equal(run_want(&json, "{}", lines[i], err, 2, 0), want);
    }
    /* and what the old walk gives, spelled out for two of them */
    assert_string_equal(run_want(&json, "{}", lines[0], one, 1, 0), "{level=\"i\"}");
    assert_string_equal(run_want(&json, "{}", lines[1], one, 1, 0),
                        "{__error__=\"JSONParserErr\", __error_details__=\"Value looks like "
                        "object, but can't find closing '}' symbol\", level=\"e\"}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_flatten),     cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_json_expressions), cmocka_unit_test(test_logfmt),
        cmocka_unit_test(test_logfmt_expressions), cmocka_unit_test(test_regexp),
        cmocka_unit_test(test_pattern),          cmocka_unit_test(test_unpack),
        cmocka_unit_test(test_pattern_fixtures),
        cmocka_unit_test(test_sanitize),         cmocka_unit_test(test_chain_first_wins),
        cmocka_unit_test(test_unpack_twice_and_no_alloc),
        cmocka_unit_test(test_want),
        cmocka_unit_test(test_want_rest),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    noa_buf_fini(&outbuf);
    noa_arena_fini(&arena);
    return rc;
}
