/*
 * Tests for logcli/cli_query.c: response decoding, one batch printed as
 * logcli prints it (common labels on stderr, elision, include/exclude,
 * padding, merge order), and the pager against an in-memory server that
 * honours limit, direction and [start, end): runs of equal timestamps
 * across batch edges come out exactly once, in order, both directions.
 */
#include "logcli/cli_query.h"

#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define N_ENTRIES 2500

struct fake {
    int64_t ts[N_ENTRIES];
    int stream[N_ENTRIES];
    int forward;
    int requests;
    int64_t last_limit;
    struct noa_buf out, meta;
};

/* The server side: entries with start <= ts < end, the newest (backward)
 * or oldest (forward) `limit` of them, grouped by stream. */
static int fake_fetch(void *arg, int64_t limit, int64_t start, int64_t end, struct noa_buf *body)
{
    struct fake *f = arg;
    int *pick = calloc(N_ENTRIES, sizeof(int));
    int n = 0;
    f->requests++;
    f->last_limit = limit;
    /* Entries are stored in ascending (ts, index) order. */
    if (f->forward) {
        for (int i = 0; i < N_ENTRIES && n < limit; i++)
            if (f->ts[i] >= start && f->ts[i] < end)
                pick[n++] = i;
    } else {
        for (int i = N_ENTRIES - 1; i >= 0 && n < limit; i--)
            if (f->ts[i] >= start && f->ts[i] < end)
                pick[n++] = i;
    }
    noa_buf_printf(body, "{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":[");
    for (int s = 0; s < 2; s++) {
        noa_buf_printf(body, "%s{\"stream\":{\"job\":\"j\",\"s\":\"%d\"},\"values\":[", s ? "," : "", s);
        int first = 1;
        for (int k = 0; k < n; k++) {
            if (f->stream[pick[k]] != s)
                continue;
            noa_buf_printf(body, "%s[\"%lld\",\"line %d\"]", first ? "" : ",",
                           (long long)f->ts[pick[k]], pick[k]);
            first = 0;
        }
        noa_buf_printf(body, "]}");
    }
    noa_buf_printf(body, "]}}");
    free(pick);
    return 0;
}

static void fake_emit(void *arg, struct noa_buf *out, struct noa_buf *meta, uint64_t total)
{
    struct fake *f = arg;
    (void)total;
    noa_buf_append(&f->out, out->data, out->len);
    noa_buf_append(&f->meta, meta->data, meta->len);
}

static void fill(struct fake *f, int group)
{
    /* Groups of `group` entries share one timestamp, alternating streams. */
    for (int i = 0; i < N_ENTRIES; i++) {
        f->ts[i] = 1000000000LL + (i / group) * 10;
        f->stream[i] = i % 2;
    }
}

static void check_all_once(struct fake *f, int forward, int64_t expect_n)
{
    char *seen = calloc(N_ENTRIES, 1);
    int64_t prev = forward ? INT64_MIN : INT64_MAX, n = 0;
    const char *p = noa_buf_cstr(&f->out);
    while (*p) {
        /* Raw mode: each output line is "line <index>". */
        assert_memory_equal(p, "line ", 5);
        int idx = atoi(p + 5);
        assert_true(idx >= 0 && idx < N_ENTRIES);
        assert_int_equal(seen[idx], 0);
        seen[idx] = 1;
        if (forward)
            assert_true(f->ts[idx] >= prev);
        else
            assert_true(f->ts[idx] <= prev);
        prev = f->ts[idx];
        n++;
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    assert_int_equal(n, expect_n);
    free(seen);
}

static void run_paging(int forward, int group, int64_t limit, int64_t batch, int64_t expect)
{
    struct fake *f = calloc(1, sizeof(*f));
    struct noa_buf err = {0};
    fill(f, group);
    f->forward = forward;
    struct noa_cli_query_opts o = {
        .out = {.mode = NOA_CLI_OUTPUT_RAW, .utc = 1}, .forward = forward, .quiet = 1};
    struct noa_cli_query_pager p = {.limit = limit, .batch = batch, .start_ns = 0,
                                    .end_ns = INT64_MAX / 2, .fetch_cb = fake_fetch,
                                    .emit_cb = fake_emit, .ctx = f};
    assert_int_equal(noa_cli_query_run(&o, &p, &err), 0);
    check_all_once(f, forward, expect);
    if (limit == 0)
        assert_true(f->requests >= N_ENTRIES / batch);
    noa_buf_fini(&f->out);
    noa_buf_fini(&f->meta);
    noa_buf_fini(&err);
    free(f);
}

static void test_paging_unlimited(void **state)
{
    (void)state;
    run_paging(0, 7, 0, 100, N_ENTRIES);
    run_paging(1, 7, 0, 100, N_ENTRIES);
    run_paging(0, 1, 0, 100, N_ENTRIES);
    run_paging(1, 1, 0, 100, N_ENTRIES);
    run_paging(0, 99, 0, 100, N_ENTRIES); /* overlap one short of the batch */
    run_paging(1, 99, 0, 100, N_ENTRIES);
}

static void test_paging_limits(void **state)
{
    (void)state;
    run_paging(0, 7, 30, 1000, 30);   /* one request: limit below batch */
    run_paging(1, 7, 250, 100, 250);  /* last batch asks remainder + overlap */
    run_paging(0, 13, 1234, 100, 1234);
    run_paging(1, 3, 5000, 1000, N_ENTRIES); /* fewer entries than the limit */
}

static void test_paging_overlap_too_big(void **state)
{
    (void)state;
    struct fake *f = calloc(1, sizeof(*f));
    struct noa_buf err = {0};
    fill(f, 150);
    struct noa_cli_query_opts o = {.out = {.mode = NOA_CLI_OUTPUT_RAW}, .quiet = 1};
    struct noa_cli_query_pager p = {.limit = 0, .batch = 100, .start_ns = 0, .end_ns = INT64_MAX / 2,
                                    .fetch_cb = fake_fetch, .emit_cb = fake_emit, .ctx = f};
    assert_int_equal(noa_cli_query_run(&o, &p, &err), NOA_EINVAL);
    assert_non_null(strstr(noa_buf_cstr(&err), "Invalid batch size 100"));
    noa_buf_fini(&f->out);
    noa_buf_fini(&f->meta);
    noa_buf_fini(&err);
    free(f);
}

static const char *k_two_streams =
    "{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":["
    "{\"stream\":{\"job\":\"api\",\"level\":\"info\",\"env\":\"prod\"},"
    "\"values\":[[\"1700000003000000000\",\"three\"],[\"1700000001000000000\",\"one \"]]},"
    "{\"stream\":{\"job\":\"api\",\"level\":\"error\",\"env\":\"prod\"},"
    "\"values\":[[\"1700000002000000000\",\"two\"]]}]}}";

static void print_one(const struct noa_cli_query_opts *o, const char *body, struct noa_buf *out,
                      struct noa_buf *meta)
{
    struct noa_cli_query_result r = {0};
    struct noa_cli_query_last last = {0};
    struct noa_buf err = {0};
    assert_int_equal(noa_cli_query_parse(body, strlen(body), &r, &err), 0);
    noa_cli_query_print_streams(o, &r, &last, "P ", out, meta);
    assert_int_equal(last.n, 1);
    noa_cli_query_last_fini(&last);
    noa_cli_query_result_fini(&r);
    noa_buf_fini(&err);
}

static void test_print_batch(void **state)
{
    (void)state;
    struct noa_buf out = {0}, meta = {0};
    struct noa_cli_query_opts o = {.out = {.mode = NOA_CLI_OUTPUT_DEFAULT, .utc = 1}};
    print_one(&o, k_two_streams, &out, &meta);
    assert_string_equal(noa_buf_cstr(&meta), "P Common labels: {env=\"prod\", job=\"api\"}\n");
    assert_string_equal(noa_buf_cstr(&out), "2023-11-14T22:13:23Z {level=\"info\"}  three\n"
                                            "2023-11-14T22:13:22Z {level=\"error\"} two\n"
                                            "2023-11-14T22:13:21Z {level=\"info\"}  one\n");
    out.len = meta.len = 0;
    const char *ex[] = {"level"}, *in[] = {"env"};
    o.forward = 1;
    o.exclude = ex;
    o.n_exclude = 1;
    o.include_common_labels = 1;
    print_one(&o, k_two_streams, &out, &meta);
    assert_string_equal(noa_buf_cstr(&meta), "P Common labels: {env=\"prod\", job=\"api\"}\n"
                                             "P Ignoring labels key: level\n");
    assert_string_equal(noa_buf_cstr(&out), "2023-11-14T22:13:21Z {env=\"prod\", job=\"api\"} one\n"
                                            "2023-11-14T22:13:22Z {env=\"prod\", job=\"api\"} two\n"
                                            "2023-11-14T22:13:23Z {env=\"prod\", job=\"api\"} three\n");
    out.len = meta.len = 0;
    o = (struct noa_cli_query_opts){.out = {.mode = NOA_CLI_OUTPUT_DEFAULT, .utc = 1},
                                    .include = in, .n_include = 1, .labels_length = 20};
    print_one(&o, k_two_streams, &out, &meta);
    assert_string_equal(noa_buf_cstr(&meta), "P Common labels: {job=\"api\"}\n"
                                             "P Print only labels key: env\n");
    assert_string_equal(noa_buf_cstr(&out), "2023-11-14T22:13:23Z {env=\"prod\"}         three\n"
                                            "2023-11-14T22:13:22Z {env=\"prod\"}         two\n"
                                            "2023-11-14T22:13:21Z {env=\"prod\"}         one\n");
    out.len = meta.len = 0;
    o = (struct noa_cli_query_opts){.out = {.mode = NOA_CLI_OUTPUT_DEFAULT, .utc = 1}, .quiet = 1};
    print_one(&o, k_two_streams, &out, &meta);
    assert_int_equal(meta.len, 0);
    noa_buf_fini(&out);
    noa_buf_fini(&meta);
}

static int metric_fetch(void *arg, int64_t limit, int64_t start, int64_t end, struct noa_buf *body)
{
    (void)limit, (void)start, (void)end;
    ++*(int *)((struct fake *)arg)->ts;
    noa_buf_printf(body, "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":"
                         "[{\"metric\":{\"a\":\"b\"},\"values\":[[1700000000.5,\"3\"]]}]}}");
    return 0;
}

static void test_metric_and_errors(void **state)
{
    (void)state;
    struct fake *f = calloc(1, sizeof(*f));
    struct noa_buf err = {0};
    struct noa_cli_query_opts o = {.quiet = 1};
    struct noa_cli_query_pager p = {.limit = 30, .batch = 10, .end_ns = 1,
                                    .fetch_cb = metric_fetch, .emit_cb = fake_emit, .ctx = f};
    assert_int_equal(noa_cli_query_run(&o, &p, &err), 0);
    assert_int_equal(f->ts[0], 1); /* a metric result ends the paging */
    assert_string_equal(noa_buf_cstr(&f->out),
                        "[\n  {\n    \"metric\": {\n      \"a\": \"b\"\n    },\n    \"values\": [\n"
                        "      [\n        1700000000.5,\n        \"3\"\n      ]\n    ]\n  }\n]");
    struct noa_cli_query_result r = {0};
    assert_int_equal(noa_cli_query_parse("nope", 4, &r, &err), NOA_EINVAL);
    noa_cli_query_result_fini(&r);
    const char *bad = "{\"data\":{\"resultType\":\"streams\",\"result\":[{\"stream\":{},"
                      "\"values\":[[\"x\",\"l\"]]}]}}";
    assert_int_equal(noa_cli_query_parse(bad, strlen(bad), &r, &err), NOA_EINVAL);
    noa_cli_query_result_fini(&r);
    noa_buf_fini(&f->out);
    noa_buf_fini(&f->meta);
    noa_buf_fini(&err);
    free(f);
}

static void test_series(void **state)
{
    (void)state;
    struct noa_cli_query_result r = {0};
    struct noa_buf out = {0}, err = {0};
    const char *body = "{\"status\":\"success\",\"data\":[{\"job\":\"a\",\"env\":\"prod\","
                       "\"pod\":\"p1\"},{\"pod\":\"p2\",\"job\":\"a\"},{\"job\":\"b\"}]}";
    assert_int_equal(noa_cli_query_parse_series(body, strlen(body), &r, &err), 0);
    assert_int_equal(r.n_streams, 3);
    noa_cli_output_labels(&out, &r.streams[1]);
    assert_string_equal(noa_buf_cstr(&out), "{job=\"a\", pod=\"p2\"}");
    out.len = 0;
    noa_cli_query_analyze_labels(&r, &out);
    assert_string_equal(noa_buf_cstr(&out), "Total Streams:  3\n"
                                            "Unique Labels:  3\n"
                                            "\n"
                                            "Label Name Unique Values Found In Streams \n"
                                            "job        2             3                \n"
                                            "pod        2             2                \n"
                                            "env        1             1                \n");
    noa_cli_query_result_fini(&r);
    /* Loki leaves "data" out when there is nothing. */
    assert_int_equal(noa_cli_query_parse_series("{\"status\":\"success\"}", 20, &r, &err), 0);
    assert_int_equal(r.n_streams, 0);
    noa_cli_query_result_fini(&r);
    assert_int_equal(noa_cli_query_parse_series("{\"data\":[{\"a\":1}]}", 18, &r, &err), NOA_EINVAL);
    noa_cli_query_result_fini(&r);
    noa_buf_fini(&out);
    noa_buf_fini(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paging_unlimited),  cmocka_unit_test(test_paging_limits),
        cmocka_unit_test(test_paging_overlap_too_big), cmocka_unit_test(test_print_batch),
        cmocka_unit_test(test_metric_and_errors), cmocka_unit_test(test_series),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
