/* Unit tests for querier/volume.c: Loki's volume aggregation (grouping by
 * matchers, targetLabels, aggregateBy=labels, limit, ordering, buckets and
 * the prorating of chunks, the flushed-chunk KB rules, max series). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/mem.h"
#include "querier/volume.h"

#include <string.h>

#define S 1000000000LL
#define T0 (1700000000LL * S) /* a whole minute: 1700000000 = 28333333 * 60 + 20 */

/* The stats object of an empty query (checked once, then cut off). */
static const char *body(struct noa_buf *b)
{
    const char *p = noa_buf_cstr(b);
    const char *st = strstr(p, "],\"stats\":{");
    assert_non_null(st);
    assert_non_null(strstr(st, "\"summary\""));
    b->data[st - p + 1] = 0; /* keep up to and including ']' */
    return b->data;
}

struct fx {
    struct noa_selector sel;
    struct noa_volume *v;
    struct noa_buf out;
    struct noa_error err;
};

static void fx_new(struct fx *f, const char *sel, const struct noa_volume_opts *o_in)
{
    memset(f, 0, sizeof(*f));
    struct noa_volume_opts o = *o_in;
    if (sel) {
        assert_int_equal(noa_selector_parse_str(sel, &f->sel, &f->err), 0);
        o.sel = &f->sel;
    }
    assert_int_equal(noa_volume_new(&o, &f->v, &f->err), 0);
}

static void fx_free(struct fx *f)
{
    noa_volume_free(f->v);
    noa_selector_fini(&f->sel);
    noa_buf_fini(&f->out);
}

/* Adds a stream given as "a=1,b=2" (sorted) with one in-memory piece. */
static int add(struct fx *f, const char *labels, int64_t from, int64_t through, uint64_t bytes,
               int flushed)
{
    struct noa_label l[8];
    char buf[256];
    uint32_t n = 0;
    strcpy(buf, labels);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        *eq = 0;
        l[n].name = noa_str_c(tok);
        l[n].value = noa_str_c(eq + 1);
        n++;
    }
    struct noa_labels ls = {l, n};
    struct noa_volume_chunk c = {.from_ns = from, .through_ns = through, .bytes = bytes,
                                 .entries = 10, .flushed = flushed};
    return noa_volume_add(f->v, &ls, &c, 1, &f->err);
}

static void test_group_by_matchers(void **state)
{
    (void)state;
    struct fx f;
    fx_new(&f, "{job=~\"a|b\"}", &(struct noa_volume_opts){.start_ns = T0, .end_ns = T0 + 3600 * S});
    assert_int_equal(add(&f, "job=a,pod=1", T0 + S, T0 + 10 * S, 100, 0), 0);
    assert_int_equal(add(&f, "job=a,pod=2", T0 + S, T0 + 10 * S, 50, 0), 0);
    assert_int_equal(add(&f, "job=b,pod=1", T0 + S, T0 + 10 * S, 120, 0), 0);
    noa_volume_encode(f.v, &f.out);
    assert_string_equal(body(&f.out),
                        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
                        "{\"metric\":{\"job\":\"a\"},\"value\":[1700003600,\"150\"]},"
                        "{\"metric\":{\"job\":\"b\"},\"value\":[1700003600,\"120\"]}]");
    fx_free(&f);
}

static void test_match_any_keeps_all_labels(void **state)
{
    (void)state;
    struct fx f;
    fx_new(&f, NULL, &(struct noa_volume_opts){.start_ns = T0, .end_ns = T0 + 60 * S});
    assert_int_equal(add(&f, "__tenant_id__=x,job=a,pod=1", T0 + S, T0 + 2 * S, 7, 0), 0);
    noa_volume_encode(f.v, &f.out);
    assert_string_equal(body(&f.out),
                        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
                        "{\"metric\":{\"job\":\"a\",\"pod\":\"1\"},\"value\":[1700000060,\"7\"]}]");
    fx_free(&f);
}

static void test_target_labels(void **state)
{
    (void)state;
    struct fx f;
    struct noa_str t[] = {NOA_STR("pod")};
    fx_new(&f, "{job=\"a\"}",
           &(struct noa_volume_opts){.start_ns = T0, .end_ns = T0 + 60 * S, .targets = t,
                                     .n_targets = 1});
    assert_int_equal(add(&f, "job=a,pod=1", T0 + S, T0 + 2 * S, 10, 0), 0);
    assert_int_equal(add(&f, "job=a,pod=1,x=y", T0 + S, T0 + 2 * S, 5, 0), 0);
    assert_int_equal(add(&f, "job=a", T0 + S, T0 + 2 * S, 1000, 0), 0); /* no pod: skipped */
    assert_int_equal(add(&f, "job=a,pod=2", T0 + S, T0 + 2 * S, 15, 0), 0);
    noa_volume_encode(f.v, &f.out);
    assert_string_equal(body(&f.out),
                        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
                        "{\"metric\":{\"pod\":\"1\"},\"value\":[1700000060,\"15\"]},"
                        "{\"metric\":{\"pod\":\"2\"},\"value\":[1700000060,\"15\"]}]");
    fx_free(&f);
}

static void test_aggregate_by_labels(void **state)
{
    (void)state;
    struct fx f;
    fx_new(&f, "{job=~\".+\"}",
           &(struct noa_volume_opts){.start_ns = T0, .end_ns = T0 + 60 * S, .by_labels = 1});
    assert_int_equal(add(&f, "job=a,pod=1", T0 + S, T0 + 2 * S, 10, 0), 0);
    assert_int_equal(add(&f, "env=p,job=b", T0 + S, T0 + 2 * S, 30, 0), 0);
    noa_volume_encode(f.v, &f.out);
    assert_string_equal(body(&f.out),
                        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
                        "{\"metric\":{\"job\":\"\"},\"value\":[1700000060,\"40\"]},"
                        "{\"metric\":{\"env\":\"\"},\"value\":[1700000060,\"30\"]},"
                        "{\"metric\":{\"pod\":\"\"},\"value\":[1700000060,\"10\"]}]");
    fx_free(&f);

    /* With targetLabels, only those names. */
    struct noa_str t[] = {NOA_STR("pod")};
    fx_new(&f, "{job=~\".+\"}",
           &(struct noa_volume_opts){.start_ns = T0, .end_ns = T0 + 60 * S, .by_labels = 1,
                                     .targets = t, .n_targets = 1});
    assert_int_equal(add(&f, "job=a,pod=1", T0 + S, T0 + 2 * S, 10, 0), 0);
    assert_int_equal(add(&f, "env=p,job=b", T0 + S, T0 + 2 * S, 30, 0), 0);
    noa_volume_encode(f.v, &f.out);
    assert_string_equal(body(&f.out),
                        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
                        "{\"metric\":{\"pod\":\"\"},\"value\":[1700000060,\"10\"]}]");
    fx_free(&f);
}

static void test_limit_and_ties(void **state)
{
    (void)state;
    struct fx f;
    fx_new(&f, "{job=~\".+\"}",
           &(struct noa_volume_opts){.start_ns = T0, .end_ns = T0 + 60 * S, .limit = 2});
    assert_int_equal(add(&f, "job=c", T0 + S, T0 + 2 * S, 10, 0), 0);
    assert_int_equal(add(&f, "job=b", T0 + S, T0 + 2 * S, 10, 0), 0);
    assert_int_equal(add(&f, "job=a", T0 + S, T0 + 2 * S, 5, 0), 0);
    noa_volume_encode(f.v, &f.out);
    assert_string_equal(body(&f.out),
                        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
                        "{\"metric\":{\"job\":\"b\"},\"value\":[1700000060,\"10\"]},"
                        "{\"metric\":{\"job\":\"c\"},\"value\":[1700000060,\"10\"]}]");
    fx_free(&f);
}

/* Buckets of 60 s from T0 + 10 s: [T0+10, T0+19.999] is cut at the first
 * boundary after the aligned start (T0 is 20 s past a minute). */
static void test_range_buckets_and_prorating(void **state)
{
    (void)state;
    struct fx f;
    int64_t start = T0 - 20 * S; /* a whole minute */
    fx_new(&f, "{job=~\".+\"}",
           &(struct noa_volume_opts){.start_ns = start, .end_ns = start + 150 * S,
                                     .step_ns = 60 * S});
    int64_t lo, hi;
    noa_volume_span(f.v, &lo, &hi);
    assert_true(lo == start && hi == start + 150 * S);
    /* Memory: a piece over [start, start+100s] of 1000 bytes: buckets
     * query [0,59], [60,119] (seconds) and [120,150]. */
    assert_int_equal(add(&f, "job=a", start, start + 100 * S, 1000, 0), 0);
    /* Flushed: 10 KB over [start+120s, start+140s]: all in bucket 3. */
    assert_int_equal(add(&f, "job=b", start + 120 * S, start + 140 * S, 10 * 1024 + 300, 1), 0);
    noa_volume_encode(f.v, &f.out);
    /* job=a: 59/100 -> 590, (100-60)/100 -> 400, nothing in [120, 150];
     * sorted by first value: job=b's 10 KB first. */
    assert_string_equal(body(&f.out),
                        "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
                        "{\"metric\":{\"job\":\"b\"},\"values\":[[1700000130,\"10240\"]]},"
                        "{\"metric\":{\"job\":\"a\"},\"values\":[[1700000039.999,\"590\"],"
                        "[1700000099.999,\"400\"]]}]");
    fx_free(&f);
}

static void test_unaligned_start_and_empty(void **state)
{
    (void)state;
    struct fx f;
    fx_new(&f, "{job=~\".+\"}",
           &(struct noa_volume_opts){.start_ns = T0 + 500 * 1000000LL, .end_ns = T0 + 70 * S,
                                     .step_ns = 60 * S});
    /* aligned to T0 - 20 s: buckets [T0+0.5, T0+39.999] and [T0+40, T0+70] */
    assert_int_equal(add(&f, "job=a", T0 + 5 * S, T0 + 5 * S, 33, 0), 0);
    assert_int_equal(add(&f, "job=a", T0 + 50 * S, T0 + 50 * S, 44, 0), 0);
    noa_volume_encode(f.v, &f.out);
    assert_string_equal(body(&f.out),
                        "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
                        "{\"metric\":{\"job\":\"a\"},\"values\":[[1700000039.999,\"33\"],"
                        "[1700000070,\"44\"]]}]");
    fx_free(&f);

    /* start == end on a step boundary: Loki's split loop runs zero
     * times: no bucket, an empty vector. */
    fx_new(&f, "{job=~\".+\"}",
           &(struct noa_volume_opts){.start_ns = T0 - 20 * S, .end_ns = T0 - 20 * S,
                                     .step_ns = 60 * S});
    assert_int_equal(add(&f, "job=a", T0 - 30 * S, T0, 33, 0), 0);
    noa_volume_encode(f.v, &f.out);
    assert_string_equal(body(&f.out), "{\"status\":\"success\",\"data\":{\"resultType\":"
                                      "\"vector\",\"result\":[]");
    fx_free(&f);
}

static void test_flushed_rules(void **state)
{
    (void)state;
    struct fx f;
    fx_new(&f, "{job=~\".+\"}", &(struct noa_volume_opts){.start_ns = T0, .end_ns = T0 + 60 * S});
    /* 1535 bytes round to 1 KB; 1536 to 2 KB (math.Round). */
    assert_int_equal(add(&f, "job=a", T0 + S, T0 + 2 * S, 1535, 1), 0);
    assert_int_equal(add(&f, "job=b", T0 + S, T0 + 2 * S, 1536, 1), 0);
    /* A chunk ending exactly at the range's start still overlaps (from <= last). */
    assert_int_equal(add(&f, "job=c", T0 - 10 * S, T0, 4096, 1), 0);
    /* One starting at the range's end does not (through is exclusive). */
    assert_int_equal(add(&f, "job=d", T0 + 60 * S, T0 + 70 * S, 4096, 1), 0);
    noa_volume_encode(f.v, &f.out);
    /* job=c: factor 0 -> 0 entries: not reported at all. */
    assert_string_equal(body(&f.out),
                        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
                        "{\"metric\":{\"job\":\"b\"},\"value\":[1700000060,\"2048\"]},"
                        "{\"metric\":{\"job\":\"a\"},\"value\":[1700000060,\"1024\"]}]");
    fx_free(&f);
}

static void test_memory_presence_with_zero_bytes(void **state)
{
    (void)state;
    struct fx f;
    fx_new(&f, "{job=~\".+\"}", &(struct noa_volume_opts){.start_ns = T0, .end_ns = T0 + 60 * S});
    /* A single entry exactly at the start: the ingester's strict overlap
     * misses it, but the stream is considered: reported with 0 bytes. */
    assert_int_equal(add(&f, "job=a", T0, T0, 99, 0), 0);
    noa_volume_encode(f.v, &f.out);
    assert_string_equal(body(&f.out),
                        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
                        "{\"metric\":{\"job\":\"a\"},\"value\":[1700000060,\"0\"]}]");
    fx_free(&f);
}

static void test_max_series(void **state)
{
    (void)state;
    struct fx f;
    fx_new(&f, "{job=~\".+\"}",
           &(struct noa_volume_opts){.start_ns = T0, .end_ns = T0 + 60 * S, .max_series = 2});
    assert_int_equal(add(&f, "job=a", T0 + S, T0 + 2 * S, 1, 0), 0);
    assert_int_equal(add(&f, "job=b", T0 + S, T0 + 2 * S, 1, 0), 0);
    assert_int_equal(add(&f, "job=a", T0 + S, T0 + 2 * S, 1, 0), 0); /* not a new name */
    assert_int_equal(add(&f, "job=c", T0 + S, T0 + 2 * S, 1, 0), NOA_EINVAL);
    assert_string_equal(f.err.msg, "the query hit the max number of series limit (limit: 2 series)");
    fx_free(&f);
}

static void test_bad_step(void **state)
{
    (void)state;
    struct noa_volume *v = NULL;
    struct noa_error err = {0};
    assert_int_equal(noa_volume_new(&(struct noa_volume_opts){.start_ns = 0, .end_ns = S,
                                                              .step_ns = 1000},
                                    &v, &err),
                     NOA_EINVAL);
    assert_null(v);
    assert_int_equal(noa_volume_new(&(struct noa_volume_opts){.start_ns = 0,
                                                              .end_ns = 100000 * S,
                                                              .step_ns = S},
                                    &v, &err),
                     NOA_EINVAL);
    noa_volume_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_by_matchers),
        cmocka_unit_test(test_match_any_keeps_all_labels),
        cmocka_unit_test(test_target_labels),
        cmocka_unit_test(test_aggregate_by_labels),
        cmocka_unit_test(test_limit_and_ties),
        cmocka_unit_test(test_range_buckets_and_prorating),
        cmocka_unit_test(test_unaligned_start_and_empty),
        cmocka_unit_test(test_flushed_rules),
        cmocka_unit_test(test_memory_presence_with_zero_bytes),
        cmocka_unit_test(test_max_series),
        cmocka_unit_test(test_bad_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
