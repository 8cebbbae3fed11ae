/*
 * Unit tests for ingester/blockcol: columns round-trip a sealed block's
 * times and lengths, pick the timestamp exponent, flag (and hash) exactly
 * the entries that share their time with a neighbour, keep metadata sets
 * (none past the set limit), and a reader rejects damaged columns without reading outside
 * them. Single-threaded.
 */
#include "ingester/blockcol.h"

#include "common/mem.h"
#include "ingester/chunk.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* Seals n entries at ts[i] (any order) and returns the sealed block. */
static void seal(const int64_t *ts, const char *const *line, int n, struct noa_chunk_block *b)
{
    struct noa_buf raw = {0};
    for (int i = 0; i < n; i++)
        noa_chunk_block_append(&raw, ts[i], noa_str_c(line[i]), NULL, 0);
    assert_int_equal(noa_chunk_block_seal(raw.data, raw.len, 0, b, NULL), 0);
    noa_buf_fini(&raw);
}

static void test_roundtrip(void **state)
{
    (void)state;
    const int64_t base = 1700000000123000000LL;
    const int64_t ts[] = {base + 5000000, base, base + 2000000, base + 2000000, base + 9000000};
    const char *const line[] = {"e", "first", "dup-time-a", "dup-time-bb", ""};
    struct noa_chunk_block b;
    seal(ts, line, 5, &b);
    assert_true(b.col.len > 0);
    assert_int_equal((unsigned char)b.col.data[0], 6); /* every offset a whole ms */

    struct noa_blockcol_iter it;
    struct noa_blockcol_entry e;
    assert_int_equal(noa_blockcol_iter_init(&it, b.col.data, b.col.len, b.n_entries, b.min_ts,
                                            b.max_ts, NULL),
                     0);
    const int64_t want_ts[] = {base, base + 2000000, base + 2000000, base + 5000000,
                               base + 9000000};
    const char *const want_line[] = {"first", "dup-time-a", "dup-time-bb", "e", ""};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(noa_blockcol_next(&it, &e, NULL), 1);
        assert_int_equal(e.ts_ns, want_ts[i]);
        assert_int_equal(e.line_len, strlen(want_line[i]));
        assert_int_equal(e.has_hash, i == 1 || i == 2);
        if (e.has_hash)
            assert_true(e.hash == noa_blockcol_hash(noa_str_c(want_line[i]),
                                                    (struct noa_str){NULL, 0}, 0));
    }
    assert_int_equal(noa_blockcol_next(&it, &e, NULL), 0);
    /* Every truncation and every single-byte change is refused or read
     * within bounds (ASan checks the bounds). */
    for (size_t cut = 0; cut < b.col.len; cut++) {
        int rc = noa_blockcol_iter_init(&it, b.col.data, cut, b.n_entries, b.min_ts, b.max_ts,
                                        NULL);
        if (rc == 0)
            while ((rc = noa_blockcol_next(&it, &e, NULL)) == 1)
                ;
        assert_int_equal(rc, NOA_ECORRUPT);
    }
    for (size_t at = 0; at < b.col.len; at++) {
        struct noa_buf c = {0};
        noa_buf_append(&c, b.col.data, b.col.len);
        c.data[at] ^= 0x41;
        int rc = noa_blockcol_iter_init(&it, c.data, c.len, b.n_entries, b.min_ts, b.max_ts, NULL);
        if (rc == 0)
            while ((rc = noa_blockcol_next(&it, &e, NULL)) == 1)
                assert_true(e.ts_ns >= b.min_ts && e.ts_ns <= b.max_ts);
        assert_true(rc == 0 || rc == NOA_ECORRUPT);
        noa_buf_fini(&c);
    }
    /* A count or first time that disagrees with the meta is refused. */
    assert_int_equal(noa_blockcol_iter_init(&it, b.col.data, b.col.len, 4, b.min_ts, b.max_ts,
                                            NULL),
                     NOA_ECORRUPT);
    assert_int_equal(noa_blockcol_iter_init(&it, b.col.data, b.col.len, 5, b.min_ts + 1,
                                            b.max_ts, NULL),
                     NOA_ECORRUPT);
    noa_chunk_block_fini(&b);
}

static void test_exponent_and_extremes(void **state)
{
    (void)state;
    const int64_t ts[] = {INT64_MIN, -7, 0, INT64_MAX};
    const char *const line[] = {"a", "b", "c", "d"};
    struct noa_chunk_block b;
    seal(ts, line, 4, &b);
    assert_int_equal((unsigned char)b.col.data[0], 0);
    struct noa_blockcol_iter it;
    struct noa_blockcol_entry e;
    assert_int_equal(noa_blockcol_iter_init(&it, b.col.data, b.col.len, 4, INT64_MIN, INT64_MAX,
                                            NULL),
                     0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(noa_blockcol_next(&it, &e, NULL), 1);
        assert_true(e.ts_ns == ts[i]);
        assert_int_equal(e.has_hash, 0);
    }
    assert_int_equal(noa_blockcol_next(&it, &e, NULL), 0);
    noa_chunk_block_fini(&b);

    /* The widest jump: INT64_MIN to INT64_MAX in one delta. */
    const int64_t ts3[] = {INT64_MAX, INT64_MIN};
    seal(ts3, line, 2, &b);
    assert_int_equal(noa_blockcol_iter_init(&it, b.col.data, b.col.len, 2, INT64_MIN, INT64_MAX,
                                            NULL),
                     0);
    assert_int_equal(noa_blockcol_next(&it, &e, NULL), 1);
    assert_true(e.ts_ns == INT64_MIN);
    assert_int_equal(noa_blockcol_next(&it, &e, NULL), 1);
    assert_true(e.ts_ns == INT64_MAX);
    assert_int_equal(noa_blockcol_next(&it, &e, NULL), 0);
    /* a block meta with a lower max_ts makes the same column corrupt */
    assert_int_equal(noa_blockcol_iter_init(&it, b.col.data, b.col.len, 2, INT64_MIN,
                                            INT64_MAX - 1, NULL),
                     0);
    assert_int_equal(noa_blockcol_next(&it, &e, NULL), 1);
    assert_int_equal(noa_blockcol_next(&it, &e, NULL), NOA_ECORRUPT);
    noa_chunk_block_fini(&b);

    /* One entry; whole seconds apart: exponent 9. */
    const int64_t ts2[] = {3000000000LL, 1000000000LL};
    seal(ts2, line, 2, &b);
    assert_int_equal((unsigned char)b.col.data[0], 9);
    noa_chunk_block_fini(&b);
}

/* Metadata sets are kept per entry; past NOA_BLOCKCOL_MAX_SETS distinct
 * sets the block gets no column. */
static void test_metadata(void **state)
{
    (void)state;
    struct noa_buf raw = {0}, col = {0};
    struct noa_label m[2] = {{NOA_STR("detected_level"), NOA_STR("info")},
                             {NOA_STR("trace_id"), NOA_STR("x")}};
    noa_chunk_block_append(&raw, 1, NOA_STR("a"), NULL, 0);
    noa_chunk_block_append(&raw, 2, NOA_STR("b"), m, 2);
    noa_chunk_block_append(&raw, 3, NOA_STR("c"), m, 1);
    noa_chunk_block_append(&raw, 3, NOA_STR("d"), m, 2);
    assert_int_equal(noa_blockcol_build(raw.data, raw.len, &col), 1);
    struct noa_blockcol_iter it;
    struct noa_blockcol_entry e;
    assert_int_equal(noa_blockcol_iter_init(&it, col.data, col.len, 4, 1, 3, NULL), 0);
    const uint32_t want_n[] = {0, 2, 1, 2};
    struct noa_chunk_iter ri;
    struct noa_chunk_entry re;
    noa_chunk_iter_init(&ri, raw.data, raw.len);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(noa_blockcol_next(&it, &e, NULL), 1);
        assert_int_equal(noa_chunk_iter_next(&ri, &re, NULL), 1);
        assert_int_equal(e.n_meta, want_n[i]);
        assert_true(noa_str_eq(e.meta, re.meta));
        assert_int_equal(e.has_hash, i >= 2);
        if (e.has_hash)
            assert_true(e.hash == noa_blockcol_hash(re.line, re.meta, re.n_meta));
        /* the pairs walk as a raw entry's */
        struct noa_chunk_entry ce = {.meta = e.meta, .n_meta = e.n_meta};
        struct noa_label l;
        size_t pos = 0;
        uint32_t k = 0;
        while (noa_chunk_meta_next(&ce, &pos, &l)) {
            assert_true(noa_str_eq(l.name, m[k].name) && noa_str_eq(l.value, m[k].value));
            k++;
        }
        assert_int_equal(k, want_n[i]);
    }
    assert_int_equal(noa_blockcol_next(&it, &e, NULL), 0);
    struct noa_chunk_block b;
    assert_int_equal(noa_chunk_block_seal(raw.data, raw.len, 0, &b, NULL), 0);
    assert_memory_equal(b.col.data, col.data, col.len);
    noa_chunk_block_fini(&b);

    /* NOA_BLOCKCOL_MAX_SETS + 1 distinct sets: no column */
    noa_buf_reset(&raw);
    noa_buf_reset(&col);
    for (int i = 0; i <= NOA_BLOCKCOL_MAX_SETS; i++) {
        char v[16];
        int k = snprintf(v, sizeof(v), "t%d", i);
        struct noa_label t = {NOA_STR("trace_id"), {v, (size_t)k}};
        noa_chunk_block_append(&raw, i, NOA_STR("line"), &t, 1);
    }
    assert_int_equal(noa_blockcol_build(raw.data, raw.len, &col), 0);
    assert_int_equal(col.len, 0);
    assert_int_equal(noa_chunk_block_seal(raw.data, raw.len, 0, &b, NULL), 0);
    assert_int_equal(b.col.len, 0);
    assert_true(b.sum.len > 0);
    noa_chunk_block_fini(&b);
    /* one set fewer fits */
    noa_buf_reset(&raw);
    for (int i = 0; i < NOA_BLOCKCOL_MAX_SETS; i++) {
        char v[16];
        int k = snprintf(v, sizeof(v), "t%d", i);
        struct noa_label t = {NOA_STR("trace_id"), {v, (size_t)k}};
        noa_chunk_block_append(&raw, i, NOA_STR("line"), &t, 1);
    }
    assert_int_equal(noa_blockcol_build(raw.data, raw.len, &col), 1);
    noa_buf_reset(&col);

    /* Unsorted or malformed input is refused. */
    noa_buf_reset(&raw);
    noa_chunk_block_append(&raw, 2, NOA_STR("a"), NULL, 0);
    noa_chunk_block_append(&raw, 1, NOA_STR("b"), NULL, 0);
    assert_int_equal(noa_blockcol_build(raw.data, raw.len, &col), NOA_EINVAL);
    assert_int_equal(noa_blockcol_build(raw.data, raw.len - 1, &col), NOA_EINVAL);
    assert_int_equal(col.len, 0);
    noa_buf_fini(&raw);
    noa_buf_fini(&col);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_exponent_and_extremes),
        cmocka_unit_test(test_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
