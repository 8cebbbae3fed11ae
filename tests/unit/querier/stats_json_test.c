/* Unit tests for querier/stats_json.c: Loki 3.x's stats object, its
 * sections and where noa's figures land. (The full key list is compared
 * with Loki's golden in tests/integration/test_grafana.py.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "querier/stats_json.h"

#include <jansson.h>
#include <string.h>

static json_t *render(const struct noa_stats_json *s)
{
    struct noa_buf b = {0};
    noa_stats_json_put(&b, s);
    json_error_t e;
    json_t *j = json_loadb(b.data, b.len, 0, &e);
    if (!j)
        fail_msg("not JSON (%s): %.*s", e.text, (int)b.len, b.data);
    noa_buf_fini(&b);
    return j;
}

static json_int_t geti(json_t *root, const char *a, const char *b, const char *c, const char *d)
{
    json_t *v = json_object_get(root, a);
    if (b)
        v = json_object_get(v, b);
    if (c)
        v = json_object_get(v, c);
    if (d)
        v = json_object_get(v, d);
    if (!json_is_integer(v))
        fail_msg("%s.%s.%s.%s is not an integer", a, b ? b : "", c ? c : "", d ? d : "");
    return json_integer_value(v);
}

static void test_sections_and_figures(void **state)
{
    (void)state;
    struct noa_logsel_result r = {0};
    r.bytes_processed = 1000;
    r.lines_processed = 10;
    r.chunks_read = 2;
    r.compressed_bytes = 300;
    r.decompressed_bytes = 900;
    r.head_bytes = 100;
    r.head_lines = 1;
    r.duplicates = 3;
    r.n_streams = 4;
    r.blocks_skipped = 1;
    struct noa_stats_json s = {.exec_s = 0.5, .queue_s = 0.001, .entries_returned = 7};
    noa_stats_json_add(&s, &r);
    noa_stats_json_add(&s, &r); /* a second tenant */
    json_t *j = render(&s);
    const char *sections[] = {"summary", "querier", "ingester", "cache", "index"};
    assert_int_equal(json_object_size(j), 5);
    for (size_t i = 0; i < 5; i++)
        assert_non_null(json_object_get(j, sections[i]));
    assert_int_equal(json_object_size(json_object_get(j, "summary")), 12);
    assert_int_equal(json_object_size(json_object_get(j, "cache")), 10);
    assert_int_equal(geti(j, "summary", "totalBytesProcessed", NULL, NULL), 2000);
    assert_int_equal(geti(j, "summary", "totalLinesProcessed", NULL, NULL), 20);
    assert_int_equal(geti(j, "summary", "bytesProcessedPerSecond", NULL, NULL), 4000);
    assert_int_equal(geti(j, "summary", "linesProcessedPerSecond", NULL, NULL), 40);
    assert_int_equal(geti(j, "summary", "totalEntriesReturned", NULL, NULL), 7);
    assert_true(json_real_value(json_object_get(json_object_get(j, "summary"), "execTime")) == 0.5);
    assert_true(json_real_value(json_object_get(json_object_get(j, "summary"), "queueTime")) ==
                0.001);
    assert_int_equal(geti(j, "querier", "store", "totalChunksRef", NULL), 4);
    assert_int_equal(geti(j, "querier", "store", "chunk", "compressedBytes"), 600);
    assert_int_equal(geti(j, "querier", "store", "chunk", "decompressedBytes"), 1800);
    assert_int_equal(geti(j, "querier", "store", "chunk", "totalDuplicates"), 6);
    assert_int_equal(geti(j, "ingester", "totalReached", NULL, NULL), 2);
    assert_int_equal(geti(j, "ingester", "store", "chunk", "headChunkBytes"), 200);
    assert_int_equal(geti(j, "ingester", "store", "chunk", "headChunkLines"), 2);
    assert_int_equal(geti(j, "index", "totalStreams", NULL, NULL), 8);
    assert_true(json_is_false(
        json_object_get(json_object_get(json_object_get(j, "querier"), "store"), "queryUsedV2Engine")));
    assert_true(json_is_true(json_object_get(json_object_get(j, "index"), "usedBloomFilters")));
    json_decref(j);
}

static void test_zero_exec_time(void **state)
{
    (void)state;
    struct noa_stats_json s = {.bytes_processed = 5};
    json_t *j = render(&s);
    /* No division by zero: the rates are 0, times print as integers. */
    assert_int_equal(geti(j, "summary", "bytesProcessedPerSecond", NULL, NULL), 0);
    assert_int_equal(geti(j, "summary", "execTime", NULL, NULL), 0);
    assert_true(json_is_false(json_object_get(json_object_get(j, "index"), "usedBloomFilters")));
    json_decref(j);
}

static void test_seconds_format(void **state)
{
    (void)state;
    struct {
        double v;
        const char *want;
    } cases[] = {{0, "0"}, {2, "2"}, {0.095202, "0.095202"}, {1.5, "1.5"}, {-1, "0"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct noa_buf b = {0};
        noa_stats_json_put_seconds(&b, cases[i].v);
        noa_buf_putc(&b, '\0');
        assert_string_equal(b.data, cases[i].want);
        noa_buf_fini(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sections_and_figures),
        cmocka_unit_test(test_zero_exec_time),
        cmocka_unit_test(test_seconds_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
