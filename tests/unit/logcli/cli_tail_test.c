/*
 * Tests for logcli/cli_tail.c's printing: a tail message decoded and
 * printed as logcli's TailQuery prints it (labels filtered, not elided,
 * no padding, entries in message order, the last timestamp remembered,
 * dropped entries reported on stderr), and malformed messages refused.
 */
#include "logcli/cli_tail.h"

#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

static const char *k_msg =
    "{\"streams\":[{\"stream\":{\"job\":\"a\",\"pod\":\"p1\"},\"values\":["
    "[\"1700000001000000000\",\"first\"],[\"1700000002000000000\",\"second\"]]},"
    "{\"stream\":{\"job\":\"a\",\"pod\":\"p22\"},\"values\":[[\"1700000000500000000\",\"third\"]]}],"
    "\"dropped_entries\":[{\"labels\":\"{job=\\\"a\\\"}\",\"timestamp\":\"1700000000000000001\"}]}";

/* The server sends each dropped entry's labels as an object (Loki's
 * DroppedEntry label set): printed as {a="b", c="d"}, names sorted. */
static void test_dropped_label_object(void **state)
{
    (void)state;
    const char *msg = "{\"streams\":[],\"dropped_entries\":[{\"labels\":{\"pod\":\"p\",\"job\":"
                      "\"api\"},\"timestamp\":\"1700000000000000000\"}]}";
    struct noa_cli_query_result r = {0};
    struct noa_buf out = {0}, meta = {0}, err = {0};
    int64_t last = 0;
    setenv("TZ", "UTC0", 1);
    tzset();
    assert_int_equal(noa_cli_query_parse_tail(msg, strlen(msg), &r, &err), 0);
    assert_int_equal(r.n_dropped, 1);
    assert_string_equal(r.dropped[0].labels, "{job=\"api\", pod=\"p\"}");
    struct noa_cli_query_opts o = {.out = {.mode = NOA_CLI_OUTPUT_DEFAULT, .utc = 1}};
    noa_cli_tail_print(&o, &r, "", &out, &meta, &last);
    assert_non_null(strstr(noa_buf_cstr(&meta), " UTC {job=\"api\", pod=\"p\"}\n"));
    noa_cli_query_result_fini(&r);
    noa_buf_fini(&out);
    noa_buf_fini(&meta);
    noa_buf_fini(&err);
}

static void test_print(void **state)
{
    (void)state;
    struct noa_cli_query_result r = {0};
    struct noa_buf out = {0}, meta = {0}, err = {0};
    int64_t last = 0;
    setenv("TZ", "UTC0", 1);
    tzset();
    assert_int_equal(noa_cli_query_parse_tail(k_msg, strlen(k_msg), &r, &err), 0);
    assert_int_equal(r.n_dropped, 1);
    struct noa_cli_query_opts o = {.out = {.mode = NOA_CLI_OUTPUT_DEFAULT, .utc = 1}};
    assert_int_equal(noa_cli_tail_print(&o, &r, "P ", &out, &meta, &last), 3);
    assert_string_equal(noa_buf_cstr(&out),
                        "2023-11-14T22:13:21Z {job=\"a\", pod=\"p1\"} first\n"
                        "2023-11-14T22:13:22Z {job=\"a\", pod=\"p1\"} second\n"
                        "2023-11-14T22:13:20Z {job=\"a\", pod=\"p22\"} third\n");
    assert_int_equal(last, 1700000000500000000LL);
    assert_string_equal(noa_buf_cstr(&meta),
                        "P Server dropped following entries due to slow client\n"
                        "P 2023-11-14 22:13:20.000000001 +0000 UTC {job=\"a\"}\n");
    out.len = meta.len = 0;
    const char *ex[] = {"pod"};
    o.exclude = ex;
    o.n_exclude = 1;
    o.out.mode = NOA_CLI_OUTPUT_JSONL;
    noa_cli_tail_print(&o, &r, "", &out, &meta, &last);
    assert_non_null(strstr(noa_buf_cstr(&out),
                           "{\"labels\":{\"job\":\"a\"},\"line\":\"third\",\"timestamp\":"
                           "\"2023-11-14T22:13:20.5Z\"}\n"));
    noa_cli_query_result_fini(&r);

    /* No streams at all: only dropped entries. */
    const char *only = "{\"dropped_entries\":[]}";
    assert_int_equal(noa_cli_query_parse_tail(only, strlen(only), &r, &err), 0);
    out.len = meta.len = 0;
    assert_int_equal(noa_cli_tail_print(&o, &r, "", &out, &meta, &last), 0);
    assert_int_equal(out.len + meta.len, 0);
    noa_cli_query_result_fini(&r);
    noa_buf_fini(&out);
    noa_buf_fini(&meta);
    noa_buf_fini(&err);
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *bad[] = {
        "not json",
        "{\"streams\":{}}",
        "{\"streams\":[{\"stream\":{\"a\":1},\"values\":[]}]}",
        "{\"streams\":[{\"stream\":{},\"values\":[[\"12x\",\"l\"]]}]}",
        "{\"streams\":[{\"stream\":{},\"values\":[[\"12\"]]}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct noa_cli_query_result r = {0};
        struct noa_buf err = {0};
        assert_int_equal(noa_cli_query_parse_tail(bad[i], strlen(bad[i]), &r, &err), NOA_EINVAL);
        assert_true(err.len > 0);
        noa_cli_query_result_fini(&r);
        noa_buf_fini(&err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_print),
        cmocka_unit_test(test_dropped_label_object),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
