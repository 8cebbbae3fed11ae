/* Unit tests for shipper/linejoin.c: joining CRI / Docker partial lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "shipper/cri.h"
#include "shipper/linejoin.h"

#include <stdlib.h>
#include <string.h>

/* What the callback saw, copied out (lines borrow joiner memory). */
struct seen {
    uint64_t key;
    int stream;
    int64_t ts_ns;
    char line[256];
    size_t len;
    int why;
    int truncated;
    uint32_t fragments;
    const char *ptr; /* the borrowed pointer, to check zero-copy */
};

static struct seen out[64];
static size_t n_out;   /* every emitted line, even past the 64 kept */
static size_t n_bytes; /* total bytes emitted */

static void collect_cb(void *arg, const struct noa_linejoin_out *o)
{
    assert_ptr_equal(arg, &n_out);
    assert_true(o->fragments >= 1);
    n_bytes += o->line.len;
    if (n_out >= 64) {
        n_out++;
        return;
    }
    struct seen *s = &out[n_out++];
    s->key = o->key;
    s->stream = o->stream;
    s->ts_ns = o->ts_ns;
    s->len = o->line.len;
    size_t keep = o->line.len < sizeof(s->line) ? o->line.len : sizeof(s->line) - 1;
    if (keep)
        memcpy(s->line, o->line.p, keep);
    s->line[keep] = 0;
    s->why = o->why;
    s->truncated = o->truncated;
    s->fragments = o->fragments;
    s->ptr = o->line.p;
}

static struct noa_linejoin *mk(struct noa_linejoin_opts o)
{
    struct noa_linejoin *j = NULL;
    o.emit_cb = collect_cb;
    o.arg = &n_out;
    assert_int_equal(noa_linejoin_new(&o, &j), 0);
    assert_non_null(j);
    n_out = 0;
    n_bytes = 0;
    return j;
}

static void add(struct noa_linejoin *j, uint64_t key, int stream, int64_t ts, const char *s,
                int partial, int64_t now)
{
    struct noa_linejoin_in in = {
        .key = key, .stream = stream, .ts_ns = ts, .content = noa_str_c(s), .partial = partial};
    noa_linejoin_add(j, &in, now);
}

#define OUT 1
#define ERR 2

static void test_new_rejects(void **state)
{
    (void)state;
    struct noa_linejoin *j = (struct noa_linejoin *)&n_out;
    struct noa_linejoin_opts o = {0};
    assert_int_equal(noa_linejoin_new(&o, &j), NOA_EINVAL);
    assert_null(j);
    o.emit_cb = collect_cb;
    o.max_partial_lines = -1;
    assert_int_equal(noa_linejoin_new(&o, &j), NOA_EINVAL);
    o.max_partial_lines = 2000000;
    assert_int_equal(noa_linejoin_new(&o, &j), NOA_EINVAL);
    noa_linejoin_free(NULL);
}

static void test_full_line_passthrough(void **state)
{
    (void)state;
    struct noa_linejoin *j = mk((struct noa_linejoin_opts){0});
    const char *s = "whole line";
    struct noa_linejoin_in in = {.key = 7, .stream = OUT, .ts_ns = 42, .content = noa_str_c(s)};
    noa_linejoin_add(j, &in, 0);
    assert_int_equal(n_out, 1);
    assert_string_equal(out[0].line, "whole line");
    assert_ptr_equal(out[0].ptr, s); /* no copy */
    assert_int_equal(out[0].why, NOA_LINEJOIN_COMPLETE);
    assert_int_equal(out[0].fragments, 1);
    assert_true(out[0].ts_ns == 42 && out[0].key == 7 && out[0].stream == OUT);
    assert_int_equal(noa_linejoin_pending(j), 0);
    assert_true(noa_linejoin_next_deadline(j) == INT64_MAX);
    noa_linejoin_free(j);
}

static void test_join_ts_last(void **state)
{
    (void)state;
    struct noa_linejoin *j = mk((struct noa_linejoin_opts){0});
    add(j, 1, OUT, 100, "partial line 1 ", 1, 0);
    add(j, 1, OUT, 200, "partial line 2 ", 1, 0);
    assert_int_equal(n_out, 0);
    assert_int_equal(noa_linejoin_pending(j), 1);
    add(j, 1, OUT, 300, "log finished", 0, 0);
    assert_int_equal(n_out, 1);
    assert_string_equal(out[0].line, "partial line 1 partial line 2 log finished");
    assert_true(out[0].ts_ns == 300); /* Promtail: the final fragment's time */
    assert_int_equal(out[0].fragments, 3);
    assert_int_equal(out[0].why, NOA_LINEJOIN_COMPLETE);
    assert_int_equal(out[0].truncated, 0);
    assert_int_equal(noa_linejoin_pending(j), 0);
    /* The next full line is independent. */
    add(j, 1, OUT, 400, "another full log", 0, 0);
    assert_int_equal(n_out, 2);
    assert_string_equal(out[1].line, "another full log");
    noa_linejoin_free(j);
}

static void test_join_ts_first(void **state)
{
    (void)state;
    struct noa_linejoin *j = mk((struct noa_linejoin_opts){.ts = NOA_LINEJOIN_TS_FIRST});
    add(j, 1, OUT, 100, "a", 1, 0);
    add(j, 1, OUT, 200, "b", 1, 0);
    add(j, 1, OUT, 300, "c", 0, 0);
    assert_int_equal(n_out, 1);
    assert_string_equal(out[0].line, "abc");
    assert_true(out[0].ts_ns == 100);
    noa_linejoin_free(j);
}

static void test_interleaved_streams_and_keys(void **state)
{
    (void)state;
    struct noa_linejoin *j = mk((struct noa_linejoin_opts){0});
    add(j, 1, OUT, 1, "out-a ", 1, 0);
    add(j, 1, ERR, 2, "err-a ", 1, 0);
    add(j, 2, OUT, 3, "k2-a ", 1, 0);
    add(j, 1, OUT, 4, "out-b ", 1, 0);
    add(j, 1, ERR, 5, "err-end", 0, 0);
    assert_int_equal(n_out, 1);
    assert_string_equal(out[0].line, "err-a err-end");
    assert_int_equal(out[0].stream, ERR);
    add(j, 2, OUT, 6, "k2-end", 0, 0);
    add(j, 1, OUT, 7, "out-end", 0, 0);
    assert_int_equal(n_out, 3);
    assert_string_equal(out[1].line, "k2-a k2-end");
    assert_true(out[1].key == 2);
    assert_string_equal(out[2].line, "out-a out-b out-end");
    assert_int_equal(out[2].fragments, 3);
    assert_int_equal(noa_linejoin_pending(j), 0);
    noa_linejoin_free(j);
}

static void test_empty_fragments(void **state)
{
    (void)state;
    struct noa_linejoin *j = mk((struct noa_linejoin_opts){0});
    add(j, 1, OUT, 1, "", 1, 0);
    add(j, 1, OUT, 2, "", 0, 0);
    assert_int_equal(n_out, 1);
    assert_int_equal(out[0].len, 0);
    assert_int_equal(out[0].fragments, 2);
    add(j, 1, OUT, 3, "", 0, 0);
    assert_int_equal(n_out, 2);
    assert_int_equal(out[1].len, 0);
    noa_linejoin_free(j);
}

static void test_max_partial_lines(void **state)
{
    (void)state;
    struct noa_linejoin *j = mk((struct noa_linejoin_opts){.max_partial_lines = 2});
    add(j, 1, OUT, 1, "one", 1, 0);
    add(j, 2, OUT, 2, "two", 1, 0);
    add(j, 1, OUT, 3, "+", 1, 0); /* an existing pair needs no new room */
    assert_int_equal(n_out, 0);
    add(j, 3, OUT, 4, "three", 1, 0);
    /* Both pending partials pushed out unfinished, the new one kept. */
    assert_int_equal(n_out, 2);
    assert_int_equal(out[0].why, NOA_LINEJOIN_LIMIT);
    assert_int_equal(out[1].why, NOA_LINEJOIN_LIMIT);
    int one = strcmp(out[0].line, "one+") == 0 ? 0 : 1;
    assert_string_equal(out[one].line, "one+");
    assert_true(out[one].ts_ns == 3);
    assert_string_equal(out[1 - one].line, "two");
    assert_int_equal(noa_linejoin_pending(j), 1);
    add(j, 3, OUT, 5, "!", 0, 0);
    assert_int_equal(n_out, 3);
    assert_string_equal(out[2].line, "three!");
    noa_linejoin_free(j);
}

static void test_default_max_partial_lines_is_100(void **state)
{
    (void)state;
    struct noa_linejoin *j = mk((struct noa_linejoin_opts){0});
    for (uint64_t k = 0; k < 100; k++)
        add(j, k, OUT, 1, "p", 1, 0);
    assert_int_equal(n_out, 0);
    assert_int_equal(noa_linejoin_pending(j), 100);
    add(j, 100, OUT, 1, "p", 1, 0);
    assert_int_equal(n_out, 100);
    assert_int_equal(out[0].why, NOA_LINEJOIN_LIMIT);
    assert_int_equal(noa_linejoin_pending(j), 1);
    noa_linejoin_free(j);
}

static void test_truncate_as_promtail(void **state)
{
    (void)state;
    /* Promtail's "tag P multi-stream with truncation" case. */
    struct noa_linejoin *j =
        mk((struct noa_linejoin_opts){.truncate = 1, .max_partial_line_size = 11});
    add(j, 1, OUT, 1, "partial line 1 ", 1, 0);
    add(j, 2, OUT, 1, "partial", 1, 0);
    add(j, 1, OUT, 2, "log finished", 0, 0);
    add(j, 2, OUT, 2, "full", 0, 0);
    assert_int_equal(n_out, 2);
    assert_string_equal(out[0].line, "partial lin");
    assert_int_equal(out[0].truncated, 1);
    assert_int_equal(out[0].fragments, 2);
    assert_string_equal(out[1].line, "partialfull");
    assert_int_equal(out[1].truncated, 0);
    /* A full line with nothing pending is not cut (as in Promtail). */
    add(j, 1, OUT, 3, "a full line longer than eleven", 0, 0);
    assert_string_equal(out[2].line, "a full line longer than eleven");
    noa_linejoin_free(j);
}

static void test_truncate_utf8_boundary(void **state)
{
    (void)state;
    struct noa_linejoin *j =
        mk((struct noa_linejoin_opts){.truncate = 1, .max_partial_line_size = 5});
    /* "abcd" + "é" (2 bytes) would cut the rune in half at 5 bytes. */
    add(j, 1, OUT, 1, "abcd", 1, 0);
    add(j, 1, OUT, 1, "\xc3\xa9xyz", 0, 0);
    assert_string_equal(out[0].line, "abcd");
    assert_int_equal(out[0].truncated, 1);
    /* A rune that fits whole is kept. */
    add(j, 1, OUT, 1, "abc", 1, 0);
    add(j, 1, OUT, 1, "\xc3\xa9xyz", 0, 0);
    assert_string_equal(out[1].line, "abc\xc3\xa9");
    /* After a cut, the byte of room left by the trimmed rune stays empty. */
    add(j, 1, OUT, 1, "abcd", 1, 0);
    add(j, 1, OUT, 1, "\xc3\xa9", 1, 0);
    add(j, 1, OUT, 1, "x", 0, 0);
    assert_string_equal(out[2].line, "abcd");
    assert_int_equal(out[2].truncated, 1);
    assert_int_equal(out[2].fragments, 3);
    noa_linejoin_free(j);
}

static void test_truncate_off_or_zero(void **state)
{
    (void)state;
    /* max_partial_line_size without truncate does nothing (Promtail). */
    struct noa_linejoin *j = mk((struct noa_linejoin_opts){.max_partial_line_size = 3});
    add(j, 1, OUT, 1, "abcdef", 1, 0);
    add(j, 1, OUT, 1, "gh", 0, 0);
    assert_string_equal(out[0].line, "abcdefgh");
    assert_int_equal(out[0].truncated, 0);
    noa_linejoin_free(j);
    /* truncate with size 0: no cut rather than empty lines. */
    j = mk((struct noa_linejoin_opts){.truncate = 1});
    add(j, 1, OUT, 1, "abc", 1, 0);
    add(j, 1, OUT, 1, "def", 0, 0);
    assert_string_equal(out[0].line, "abcdef");
    noa_linejoin_free(j);
}

static void test_oversize(void **state)
{
    (void)state;
    struct noa_linejoin *j = mk((struct noa_linejoin_opts){.max_bytes = 10});
    add(j, 1, OUT, 1, "123456", 1, 0);
    add(j, 1, OUT, 2, "7890", 1, 0); /* exactly 10: fits */
    assert_int_equal(n_out, 0);
    add(j, 1, OUT, 3, "abc", 1, 0);
    assert_int_equal(n_out, 1);
    assert_string_equal(out[0].line, "1234567890");
    assert_int_equal(out[0].why, NOA_LINEJOIN_OVERSIZE);
    add(j, 1, OUT, 4, "def", 0, 0);
    assert_int_equal(n_out, 2);
    assert_string_equal(out[1].line, "abcdef");
    assert_int_equal(out[1].why, NOA_LINEJOIN_COMPLETE);
    assert_true(out[1].ts_ns == 4);
    noa_linejoin_free(j);
}

static void test_idle_flush(void **state)
{
    (void)state;
    struct noa_linejoin *j = mk((struct noa_linejoin_opts){.idle_ns = 1000});
    add(j, 1, OUT, 1, "a", 1, 100);
    add(j, 2, OUT, 1, "b", 1, 500);
    assert_true(noa_linejoin_next_deadline(j) == 1100);
    assert_int_equal(noa_linejoin_flush_idle(j, 1099), 0);
    assert_int_equal(n_out, 0);
    assert_int_equal(noa_linejoin_flush_idle(j, 1100), 1);
    assert_int_equal(n_out, 1);
    assert_string_equal(out[0].line, "a");
    assert_int_equal(out[0].why, NOA_LINEJOIN_IDLE);
    assert_true(noa_linejoin_next_deadline(j) == 1500);
    /* A fragment restarts the idle clock. */
    add(j, 2, OUT, 2, "c", 1, 1400);
    assert_true(noa_linejoin_next_deadline(j) == 2400);
    assert_int_equal(noa_linejoin_flush_idle(j, 2000), 0);
    assert_int_equal(noa_linejoin_flush_idle(j, 5000), 1);
    assert_string_equal(out[1].line, "bc");
    assert_int_equal(noa_linejoin_pending(j), 0);
    assert_true(noa_linejoin_next_deadline(j) == INT64_MAX);
    noa_linejoin_free(j);

    /* Default idle is 5 s; negative turns idle flushing off. */
    j = mk((struct noa_linejoin_opts){0});
    add(j, 1, OUT, 1, "a", 1, 0);
    assert_true(noa_linejoin_next_deadline(j) == INT64_C(5000000000));
    noa_linejoin_free(j);
    j = mk((struct noa_linejoin_opts){.idle_ns = -1});
    add(j, 1, OUT, 1, "a", 1, 0);
    assert_true(noa_linejoin_next_deadline(j) == INT64_MAX);
    assert_int_equal(noa_linejoin_flush_idle(j, INT64_MAX / 2), 0);
    assert_int_equal(noa_linejoin_pending(j), 1);
    noa_linejoin_free(j); /* pending freed, not leaked */
}

static void test_flush_key_and_all(void **state)
{
    (void)state;
    struct noa_linejoin *j = mk((struct noa_linejoin_opts){0});
    add(j, 1, OUT, 1, "1o", 1, 0);
    add(j, 1, ERR, 1, "1e", 1, 0);
    add(j, 2, OUT, 1, "2o", 1, 0);
    add(j, 3, OUT, 1, "3o", 1, 0);
    assert_int_equal(noa_linejoin_flush_key(j, 1), 2);
    assert_int_equal(n_out, 2);
    assert_true(out[0].key == 1 && out[1].key == 1);
    assert_true(out[0].stream != out[1].stream);
    assert_int_equal(out[0].why, NOA_LINEJOIN_FLUSH);
    assert_int_equal(noa_linejoin_flush_key(j, 9), 0);
    assert_int_equal(noa_linejoin_pending(j), 2);
    assert_int_equal(noa_linejoin_flush_all(j), 2);
    assert_int_equal(n_out, 4);
    assert_int_equal(noa_linejoin_pending(j), 0);
    assert_int_equal(noa_linejoin_flush_all(j), 0);
    noa_linejoin_free(j);
}

static void test_cri_sequence(void **state)
{
    (void)state;
    /* Decoder and joiner together, as the cri stage uses them. */
    static const char *lines[] = {
        "2019-05-07T18:57:50.904275087+00:00 stdout P partial line 1 ",
        "2019-05-07T18:57:50.904275087+00:00 stderr P err part ",
        "2019-05-07T18:57:51.904275087+00:00 stdout P partial line 2 ",
        "2019-05-07T18:57:55.904275087+00:00 stdout F log finished",
        "2019-05-07T18:57:56.904275087+00:00 stderr F err end",
    };
    struct noa_linejoin *j = mk((struct noa_linejoin_opts){0});
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        struct noa_cri_line l;
        assert_int_equal(noa_cri_parse(lines[i], strlen(lines[i]), &l, NULL), 0);
        struct noa_linejoin_in in = {.key = 5,
                                     .stream = l.stream,
                                     .ts_ns = l.ts_ns,
                                     .content = l.content,
                                     .partial = l.partial};
        noa_linejoin_add(j, &in, 0);
    }
    assert_int_equal(n_out, 2);
    assert_string_equal(out[0].line, "partial line 1 partial line 2 log finished");
    assert_true(out[0].ts_ns == INT64_C(1557255475904275087));
    assert_string_equal(out[1].line, "err part err end");
    assert_int_equal(out[1].stream, NOA_CRI_STDERR);
    noa_linejoin_free(j);
}

static void test_big_joins(void **state)
{
    (void)state;
    /* 20 containerd-sized fragments per line, several lines in a row: the
     * slot buffer is released after each (past its keep size) and reused. */
    struct noa_linejoin *j = mk((struct noa_linejoin_opts){0});
    char *frag = malloc(16384);
    assert_non_null(frag);
    memset(frag, 'z', 16384);
    for (int r = 0; r < 3; r++) {
        for (int i = 0; i < 20; i++) {
            struct noa_linejoin_in in = {
                .key = 1, .stream = OUT, .ts_ns = i, .content = {frag, 16384}, .partial = i < 19};
            noa_linejoin_add(j, &in, 0);
        }
        assert_int_equal(n_out, (size_t)r + 1);
        assert_int_equal(out[r].len, 20 * 16384);
        assert_int_equal(out[r].fragments, 20);
        assert_true(out[r].ts_ns == 19);
    }
    assert_int_equal(n_bytes, 3 * 20 * 16384);
    assert_int_equal(noa_linejoin_pending(j), 0);
    free(frag);
    noa_linejoin_free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_rejects),
        cmocka_unit_test(test_full_line_passthrough),
        cmocka_unit_test(test_join_ts_last),
        cmocka_unit_test(test_join_ts_first),
        cmocka_unit_test(test_interleaved_streams_and_keys),
        cmocka_unit_test(test_empty_fragments),
        cmocka_unit_test(test_max_partial_lines),
        cmocka_unit_test(test_default_max_partial_lines_is_100),
        cmocka_unit_test(test_truncate_as_promtail),
        cmocka_unit_test(test_truncate_utf8_boundary),
        cmocka_unit_test(test_truncate_off_or_zero),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_idle_flush),
        cmocka_unit_test(test_flush_key_and_all),
        cmocka_unit_test(test_cri_sequence),
        cmocka_unit_test(test_big_joins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
