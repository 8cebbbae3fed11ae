/* Unit tests for querier/detected.c: Loki's field detection over sampled
 * entries (JSON, logfmt, plain lines, structured metadata, the query's own
 * parsed labels, limits, JSON paths, values mode). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/mem.h"
#include "querier/detected.h"

#include <string.h>

#define L(n, v) {NOA_STR(n), NOA_STR(v)}

static struct noa_label stream_v[] = {L("app", "api"), L("service_name", "api")};
static const struct noa_labels stream = {stream_v, 2};

static struct noa_detected *mk(uint32_t limit, const char *name)
{
    struct noa_detected *d = NULL;
    struct noa_detected_options o = {.limit = limit, .name = name};
    assert_int_equal(noa_detected_new(&o, &d), 0);
    return d;
}

static void add(struct noa_detected *d, const char *line, const struct noa_label *meta,
                uint32_t n_meta)
{
    noa_detected_add(d, &stream, meta, n_meta, NULL, 0, noa_str_c(line));
}

static void expect(struct noa_detected *d, const char *want)
{
    struct noa_buf b = {0};
    noa_detected_encode(d, &b);
    if (b.len != strlen(want) || memcmp(b.data, want, b.len))
        fail_msg("got  %.*s\nwant %s", (int)b.len, b.data, want);
    noa_buf_fini(&b);
}

static void test_json_fields(void **state)
{
    (void)state;
    struct noa_detected *d = mk(1000, NULL);
    add(d, "{\"level\":\"info\",\"user\":{\"id\":7,\"a.b\":true},\"tags\":[1,2],\"n\":null,"
           "\"app\":\"x\",\"took\":\"12ms\"}", NULL, 0);
    add(d, "{\"level\":\"error\",\"user\":{\"id\":8},\"size\":\"10KB\"}", NULL, 0);
    expect(d, "{\"fields\":["
              "{\"label\":\"app_extracted\",\"type\":\"string\",\"cardinality\":1,\"parsers\":[\"json\"],\"jsonPath\":[\"app\"]},"
              "{\"label\":\"level\",\"type\":\"string\",\"cardinality\":2,\"parsers\":[\"json\"],\"jsonPath\":[\"level\"]},"
              "{\"label\":\"size\",\"type\":\"bytes\",\"cardinality\":1,\"parsers\":[\"json\"],\"jsonPath\":[\"size\"]},"
              "{\"label\":\"took\",\"type\":\"duration\",\"cardinality\":1,\"parsers\":[\"json\"],\"jsonPath\":[\"took\"]},"
              "{\"label\":\"user_a_b\",\"type\":\"boolean\",\"cardinality\":1,\"parsers\":[\"json\"],\"jsonPath\":[\"user\",\"a.b\"]},"
              "{\"label\":\"user_id\",\"type\":\"int\",\"cardinality\":2,\"parsers\":[\"json\"],\"jsonPath\":[\"user\",\"id\"]}"
              "],\"limit\":1000}\n");
    assert_int_equal(noa_detected_count(d), 6);
    noa_detected_free(d);
}

static void test_logfmt_meta_plain(void **state)
{
    (void)state;
    struct noa_detected *d = mk(1000, NULL);
    struct noa_label meta[] = {L("trace_id", "abc"), L("detected_level", "info")};
    add(d, "level=info msg=\"hello world\" duration=1.5s", meta, 2);
    add(d, "level=warn status=500 ratio=0.5", NULL, 0);
    add(d, "just some plain text", NULL, 0);
    expect(d, "{\"fields\":["
              "{\"label\":\"detected_level\",\"type\":\"string\",\"cardinality\":1,\"parsers\":null},"
              "{\"label\":\"duration\",\"type\":\"duration\",\"cardinality\":1,\"parsers\":[\"logfmt\"]},"
              "{\"label\":\"level\",\"type\":\"string\",\"cardinality\":2,\"parsers\":[\"logfmt\"]},"
              "{\"label\":\"msg\",\"type\":\"string\",\"cardinality\":1,\"parsers\":[\"logfmt\"]},"
              "{\"label\":\"ratio\",\"type\":\"float\",\"cardinality\":1,\"parsers\":[\"logfmt\"]},"
              "{\"label\":\"status\",\"type\":\"int\",\"cardinality\":1,\"parsers\":[\"logfmt\"]},"
              "{\"label\":\"trace_id\",\"type\":\"string\",\"cardinality\":1,\"parsers\":null}"
              "],\"limit\":1000}\n");
    noa_detected_free(d);
}

static void test_mixed_parsers_and_type_rule(void **state)
{
    (void)state;
    struct noa_detected *d = mk(1000, NULL);
    /* The same field from both parsers lists both, in the order seen; the
     * type is the one of the last entry visited (Loki re-decides it). */
    add(d, "{\"code\":\"abc\"}", NULL, 0);
    add(d, "code=200", NULL, 0);
    expect(d, "{\"fields\":[{\"label\":\"code\",\"type\":\"int\",\"cardinality\":2,"
              "\"parsers\":[\"json\",\"logfmt\"],\"jsonPath\":[\"code\"]}],\"limit\":1000}\n");
    noa_detected_free(d);
}

static void test_query_parsed_labels(void **state)
{
    (void)state;
    struct noa_detected *d = mk(1000, NULL);
    /* Labels from the query's own parser (here a regexp on a plain line):
     * logfmt still "succeeds" on the line, so they are credited to it. */
    struct noa_label parsed[] = {L("verb", "GET"), L("__error__", "x")};
    noa_detected_add(d, &stream, NULL, 0, parsed, 2, NOA_STR("GET /index.html"));
    /* Non-strict logfmt skips syntax errors, so even a broken line counts
     * as logfmt (Loki 3.x): its fields never end up without a parser. */
    struct noa_label parsed2[] = {L("word", "a")};
    noa_detected_add(d, &stream, NULL, 0, parsed2, 1, NOA_STR("a=b=c"));
    expect(d, "{\"fields\":["
              "{\"label\":\"verb\",\"type\":\"string\",\"cardinality\":1,\"parsers\":[\"logfmt\"]},"
              "{\"label\":\"word\",\"type\":\"string\",\"cardinality\":1,\"parsers\":[\"logfmt\"]}"
              "],\"limit\":1000}\n");
    noa_detected_free(d);
}

static void test_limit_and_empty(void **state)
{
    (void)state;
    struct noa_detected *d = mk(2, NULL);
    expect(d, "{}\n");
    add(d, "a=1 b=2 c=3", NULL, 0);
    add(d, "d=1", NULL, 0);
    assert_int_equal(noa_detected_count(d), 2);
    struct noa_buf b = {0};
    noa_detected_encode(d, &b);
    assert_non_null(memmem(b.data, b.len, "\"limit\":2}", 10));
    noa_buf_fini(&b);
    noa_detected_free(d);
    struct noa_detected *bad = NULL;
    struct noa_detected_options o = {.limit = 0};
    assert_int_equal(noa_detected_new(&o, &bad), NOA_EINVAL);
}

static void test_values_mode(void **state)
{
    (void)state;
    struct noa_detected *d = mk(1000, "size");
    struct noa_label meta[] = {L("size", "meta-value")};
    add(d, "size=1024KB", meta, 1);
    add(d, "{\"size\":\"42\"}", NULL, 0);
    add(d, "size=512b other=1", NULL, 0);
    add(d, "unrelated=1", NULL, 0);
    expect(d, "{\"limit\":1000,\"values\":[\"1.0MB\",\"42\",\"512B\",\"meta-value\"]}\n");
    noa_detected_free(d);

    d = mk(2, "level");
    add(d, "level=a", NULL, 0);
    add(d, "level=b", NULL, 0);
    add(d, "level=c", NULL, 0);
    expect(d, "{\"limit\":2,\"values\":[\"a\",\"b\"]}\n");
    noa_detected_free(d);

    d = mk(10, "nothing");
    add(d, "level=a", NULL, 0);
    expect(d, "{}\n");
    noa_detected_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_fields),     cmocka_unit_test(test_logfmt_meta_plain),
        cmocka_unit_test(test_mixed_parsers_and_type_rule),
        cmocka_unit_test(test_query_parsed_labels), cmocka_unit_test(test_limit_and_empty),
        cmocka_unit_test(test_values_mode),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    return rc;
}
