/* Unit tests for shipper/dockerlog.c: Docker json-file line decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/mem.h"
#include "shipper/dockerlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 "2019-01-01T00:00:00.123456789Z"
#define T0_NS INT64_C(1546300800123456789)

static struct noa_dockerlog dec;

static int setup(void **state)
{
    (void)state;
    noa_dockerlog_init(&dec);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    noa_dockerlog_fini(&dec);
    return 0;
}

static int parse(const char *s, struct noa_dockerlog_line *l, struct noa_error *err)
{
    memset(l, 0x5A, sizeof(*l));
    return noa_dockerlog_parse(&dec, s, strlen(s), l, err);
}

/* Decodes a line whose "log" is `log` (JSON text, quotes excluded). */
static struct noa_dockerlog_line decode_log(const char *log)
{
    char line[512];
    snprintf(line, sizeof(line), "{\"log\":\"%s\",\"stream\":\"stdout\",\"time\":\"" T0 "\"}", log);
    struct noa_dockerlog_line l;
    struct noa_error err = {0};
    if (parse(line, &l, &err) != 0)
        fail_msg("%s: %s", line, err.msg);
    return l;
}

static void expect_error(const char *line, const char *msg)
{
    struct noa_dockerlog_line l;
    struct noa_error err = {0};
    assert_int_equal(parse(line, &l, &err), NOA_EINVAL);
    assert_int_equal(err.code, NOA_EINVAL);
    if (!strstr(err.msg, msg))
        fail_msg("%s: message '%s' lacks '%s'", line, err.msg, msg);
    assert_true(err.col >= 1 && (size_t)err.col <= strlen(line) + 1);
    assert_int_equal(parse(line, &l, NULL), NOA_EINVAL);
}

static void test_basic(void **state)
{
    (void)state;
    const char *s = "{\"log\":\"hello world\\n\",\"stream\":\"stderr\",\"time\":\"" T0 "\"}";
    struct noa_dockerlog_line l;
    assert_int_equal(parse(s, &l, NULL), 0);
    assert_true(l.ts_ns == T0_NS);
    assert_int_equal(l.stream, NOA_CRI_STDERR);
    assert_int_equal(l.partial, 0);
    assert_true(noa_str_eq_c(l.content, "hello world"));
    /* The hot case borrows the input instead of copying. */
    assert_ptr_equal(l.content.p, s + 8);
    /* Trailing newline after the object, whitespace around members. */
    assert_int_equal(parse(" { \"log\" : \"x\\n\" , \"stream\" : \"stdout\" , \"time\" : \"" T0
                           "\" }\r\n",
                           &l, NULL),
                     0);
    assert_true(noa_str_eq_c(l.content, "x"));
    assert_int_equal(l.stream, NOA_CRI_STDOUT);
}

static void test_partial(void **state)
{
    (void)state;
    struct noa_dockerlog_line l = decode_log("first 16k chunk");
    assert_int_equal(l.partial, 1);
    assert_true(noa_str_eq_c(l.content, "first 16k chunk"));
    l = decode_log("");
    assert_int_equal(l.partial, 1);
    assert_int_equal(l.content.len, 0);
    l = decode_log("\\n");
    assert_int_equal(l.partial, 0);
    assert_int_equal(l.content.len, 0);
    /* A newline in the middle does not end the record. */
    l = decode_log("a\\nb");
    assert_int_equal(l.partial, 1);
    assert_true(noa_str_eq_c(l.content, "a\nb"));
    /* Only one newline is the terminator. */
    l = decode_log("a\\n\\n");
    assert_int_equal(l.partial, 0);
    assert_true(noa_str_eq_c(l.content, "a\n"));
}

static void test_crlf(void **state)
{
    (void)state;
    struct noa_dockerlog_line l = decode_log("windows\\r\\n");
    assert_int_equal(l.partial, 0);
    assert_true(noa_str_eq_c(l.content, "windows"));
    l = decode_log("cr only\\r");
    assert_int_equal(l.partial, 1);
    assert_true(noa_str_eq_c(l.content, "cr only\r"));
}

static void test_escapes(void **state)
{
    (void)state;
    struct noa_dockerlog_line l = decode_log("q\\\"b\\\\s\\/f\\bff\\fn\\tt\\n");
    assert_int_equal(l.partial, 0);
    assert_true(noa_str_eq_c(l.content, "q\"b\\s/f\bff\fn\tt"));
    l = decode_log("caf\\u00e9 \\u20AC\\n");
    assert_true(noa_str_eq_c(l.content, "caf\xc3\xa9 \xe2\x82\xac"));
    /* Raw UTF-8 passes through untouched (and is borrowed). */
    l = decode_log("caf\xc3\xa9 \xf0\x9f\x98\x80\\n");
    assert_true(noa_str_eq_c(l.content, "caf\xc3\xa9 \xf0\x9f\x98\x80"));
    /* An escaped NUL is kept as a byte. */
    l = decode_log("a\\u0000b");
    assert_int_equal(l.content.len, 3);
    assert_memory_equal(l.content.p, "a\0b", 3);
}

static void test_surrogates(void **state)
{
    (void)state;
    struct noa_dockerlog_line l = decode_log("\\ud83d\\ude00\\n");
    assert_true(noa_str_eq_c(l.content, "\xf0\x9f\x98\x80"));
    l = decode_log("\\uD83D\\uDE00");
    assert_true(noa_str_eq_c(l.content, "\xf0\x9f\x98\x80"));
    /* Lone surrogates become U+FFFD, as Go's decoder does. */
    l = decode_log("a\\ud83db");
    assert_true(noa_str_eq_c(l.content, "a\xef\xbf\xbd"
                                        "b"));
    l = decode_log("\\ude00");
    assert_true(noa_str_eq_c(l.content, "\xef\xbf\xbd"));
    /* A high surrogate followed by a non-low escape: both decoded apart. */
    l = decode_log("\\ud83d\\u0041");
    assert_true(noa_str_eq_c(l.content, "\xef\xbf\xbd"
                                        "A"));
    l = decode_log("\\ud83d\\n");
    assert_int_equal(l.partial, 0);
    assert_true(noa_str_eq_c(l.content, "\xef\xbf\xbd"));
    /* Invalid raw UTF-8 is replaced per byte. */
    l = decode_log("x\xff\xc3y\\n");
    assert_true(noa_str_eq_c(l.content, "x\xef\xbf\xbd\xef\xbf\xbdy"));
}

static void test_members(void **state)
{
    (void)state;
    struct noa_dockerlog_line l;
    /* Any order, attrs and unknown members of every JSON type skipped. */
    assert_int_equal(parse("{\"attrs\":{\"tag\":\"a\",\"n\":[1,-2.5e+3,true,false,null,{}]},"
                           "\"time\":\"" T0 "\",\"x\":0,\"stream\":\"stdout\",\"log\":\"m\\n\"}",
                           &l, NULL),
                     0);
    assert_true(noa_str_eq_c(l.content, "m"));
    assert_true(l.ts_ns == T0_NS);
    /* A repeated member takes its last value (Go semantics). */
    assert_int_equal(parse("{\"log\":\"a\\n\",\"log\":\"b\\tc\\n\",\"stream\":\"stdout\","
                           "\"stream\":\"stderr\",\"time\":\"" T0 "\"}",
                           &l, NULL),
                     0);
    assert_true(noa_str_eq_c(l.content, "b\tc"));
    assert_int_equal(l.stream, NOA_CRI_STDERR);
    /* Escaped member names and values still match. */
    assert_int_equal(
        parse("{\"\\u006cog\":\"k\\n\",\"stream\":\"std\\u006fut\",\"tim\\u0065\":\"" T0 "\"}", &l,
              NULL),
        0);
    assert_true(noa_str_eq_c(l.content, "k"));
    assert_int_equal(l.stream, NOA_CRI_STDOUT);
    /* Offsets in the time. */
    assert_int_equal(parse("{\"log\":\"x\\n\",\"stream\":\"stdout\","
                           "\"time\":\"2019-01-01T03:00:00+03:00\"}",
                           &l, NULL),
                     0);
    assert_true(l.ts_ns == INT64_C(1546300800000000000));
    assert_int_equal(
        parse("{\"log\":\"x\\n\",\"stream\":\"stdout\",\"time\":\"2019-01-01T00:00:00Z\"}", &l,
              NULL),
        0);
    assert_true(l.ts_ns == INT64_C(1546300800000000000));
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("", "not a JSON object");
    expect_error("garbage", "not a JSON object");
    expect_error("[\"log\"]", "not a JSON object");
    expect_error("{}", "missing \"log\"");
    expect_error("{\"log\":\"x\\n\",\"time\":\"" T0 "\"}", "missing \"stream\"");
    expect_error("{\"log\":\"x\\n\",\"stream\":\"stdout\"}", "missing \"time\"");
    expect_error("{\"log\":5,\"stream\":\"stdout\",\"time\":\"" T0 "\"}",
                 "\"log\" must be a string");
    expect_error("{\"log\":null,\"stream\":\"stdout\",\"time\":\"" T0 "\"}",
                 "\"log\" must be a string");
    expect_error("{\"log\":\"x\",\"stream\":1,\"time\":\"" T0 "\"}", "\"stream\" must be a string");
    expect_error("{\"log\":\"x\",\"stream\":\"stdout\",\"time\":1546300800}",
                 "\"time\" must be a string");
    expect_error("{\"log\":\"x\",\"stream\":\"stdin\",\"time\":\"" T0 "\"}",
                 "\"stdout\" or \"stderr\"");
    expect_error("{\"log\":\"x\",\"stream\":\"stdout\",\"time\":\"yesterday\"}", "time");
    expect_error("{\"log\":\"x\",\"stream\":\"stdout\",\"time\":\"2019-02-30T00:00:00Z\"}",
                 "day 30");
    expect_error("{\"log\":\"bad \\x escape\",\"stream\":\"stdout\",\"time\":\"" T0 "\"}",
                 "invalid escape '\\x'");
    expect_error("{\"log\":\"\\u12\",\"stream\":\"stdout\",\"time\":\"" T0 "\"}",
                 "four hex digits");
    expect_error("{\"log\":\"\\u12g4\",\"stream\":\"stdout\",\"time\":\"" T0 "\"}",
                 "four hex digits");
    expect_error("{\"log\":\"raw\ttab\",\"stream\":\"stdout\",\"time\":\"" T0 "\"}",
                 "control character 0x09");
    expect_error("{\"log\":\"cut", "unterminated string");
    expect_error("{\"log\":\"cut\\", "unterminated string");
    expect_error("{\"log\":\"x\"", "expected ',' or '}'");
    expect_error("{\"log\" \"x\"}", "expected ':'");
    expect_error("{\"log\":\"x\",}", "expected a member name");
    expect_error("{log:\"x\"}", "expected a member name");
    expect_error("{\"log\":\"x\\n\",\"stream\":\"stdout\",\"time\":\"" T0 "\"} trailing",
                 "unexpected text after");
    expect_error("{\"log\":\"x\\n\",\"stream\":\"stdout\",\"time\":\"" T0 "\"}{}",
                 "unexpected text after");
    expect_error("{\"a\":tru}", "invalid literal");
    expect_error("{\"a\":01}", "expected ',' or '}'");
    expect_error("{\"a\":-}", "invalid number");
    expect_error("{\"a\":1.}", "invalid number");
    expect_error("{\"a\":1e}", "invalid number");
    expect_error("{\"a\":[1 2]}", "expected ',' or ']'");
    expect_error("{\"a\":{\"b\"}}", "expected ':'");
    expect_error("{\"a\":@}", "unexpected character '@'");
    expect_error("{\"a\":", "unexpected end of line");
}

static void test_deep_nesting(void **state)
{
    (void)state;
    size_t depth = 100000;
    char *s = malloc(depth * 2 + 16);
    assert_non_null(s);
    size_t k = 0;
    k += (size_t)sprintf(s, "{\"a\":");
    memset(s + k, '[', depth);
    k += depth;
    memset(s + k, ']', depth);
    k += depth;
    s[k++] = '}';
    struct noa_dockerlog_line l;
    struct noa_error err = {0};
    assert_int_equal(noa_dockerlog_parse(&dec, s, k, &l, &err), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "nesting deeper"));
    free(s);
    /* Within the limit nesting is fine. */
    assert_int_equal(parse("{\"a\":[[[[{\"b\":[{}]}]]]],\"log\":\"x\\n\",\"stream\":\"stdout\","
                           "\"time\":\"" T0 "\"}",
                           &l, NULL),
                     0);
}

static void test_long_line_and_reuse(void **state)
{
    (void)state;
    /* 64 KiB of text with an escape every 100 bytes forces the copy path. */
    size_t body = 64 << 10;
    char *s = malloc(body * 2 + 128);
    assert_non_null(s);
    size_t k = (size_t)sprintf(s, "{\"stream\":\"stdout\",\"time\":\"" T0 "\",\"log\":\"");
    size_t want = 0;
    for (size_t i = 0; i < body; i++) {
        if (i % 100 == 99) {
            s[k++] = '\\';
            s[k++] = 't';
        } else {
            s[k++] = 'a';
        }
        want++;
    }
    k += (size_t)sprintf(s + k, "\\n\"}");
    struct noa_dockerlog_line l;
    assert_int_equal(noa_dockerlog_parse(&dec, s, k, &l, NULL), 0);
    assert_int_equal(l.content.len, want);
    assert_int_equal(l.content.p[99], '\t');
    assert_int_equal(l.partial, 0);
    /* The second decode of the same shape reuses the buffer: no growth. */
    int64_t before = noa_mem_in_use();
    for (int r = 0; r < 10; r++)
        assert_int_equal(noa_dockerlog_parse(&dec, s, k, &l, NULL), 0);
    assert_true(noa_mem_in_use() == before);
    free(s);
}

static void test_special_at_every_offset(void **state)
{
    (void)state;
    /* The scanner reads 8 bytes at a time: put each kind of special byte at
     * every offset of a few words and check nothing slips through. */
    for (int pos = 0; pos < 24; pos++) {
        char log[128], want[64];
        memset(log, 0, sizeof(log));
        memset(log, 'a', (size_t)pos);
        strcat(log, "\\t");
        memset(log + strlen(log), 'b', (size_t)(24 - pos));
        strcat(log, "\\n");
        memset(want, 0, sizeof(want));
        memset(want, 'a', (size_t)pos);
        want[pos] = '\t';
        memset(want + pos + 1, 'b', (size_t)(24 - pos));
        struct noa_dockerlog_line l = decode_log(log);
        assert_int_equal(l.partial, 0);
        assert_true(noa_str_eq_c(l.content, want));

        memset(log, 0, sizeof(log));
        memset(log, 'a', (size_t)pos);
        strcat(log, "\xc3\xa9");
        memset(log + strlen(log), 'b', (size_t)(24 - pos));
        l = decode_log(log);
        assert_int_equal(l.partial, 1);
        assert_true(noa_str_eq_c(l.content, log));
        assert_true(l.content.len == 26);

        char line[256];
        memset(log, 0, sizeof(log));
        memset(log, 'a', 30);
        log[pos] = '\x01';
        snprintf(line, sizeof(line), "{\"log\":\"%s\",\"stream\":\"stdout\",\"time\":\"" T0 "\"}",
                 log);
        struct noa_error err = {0};
        assert_int_equal(parse(line, &l, &err), NOA_EINVAL);
        assert_int_equal(err.col, 9 + pos);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crlf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_surrogates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deep_nesting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_special_at_every_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_line_and_reuse, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
