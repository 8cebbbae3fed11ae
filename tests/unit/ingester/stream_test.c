/* Unit tests for ingester/stream.c: appends, duplicates, sealing, cutting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/mem.h"
#include "ingester/chunk.h"
#include "ingester/stream.h"

#include <stdio.h>
#include <string.h>

static const struct noa_stream_options opts = {.block_size = 1024, .zstd_level = 1};

static struct noa_stream *new_stream(void)
{
    struct noa_arena a = {0};
    struct noa_labels ls;
    assert_int_equal(noa_labels_parse(NOA_STR("{app=\"x\"}"), &a, &ls, NULL), 0);
    struct noa_stream *s = noa_stream_new(noa_labels_hash(&ls), &ls, NOA_STR("{app=\"x\"}"));
    noa_arena_fini(&a);
    return s;
}

static int append(struct noa_stream *s, int64_t ts, const char *line)
{
    struct noa_push_entry e = {.ts_ns = ts, .line = noa_str_c(line)};
    return noa_stream_append(s, &opts, &e, 7, 3, 1000);
}

/* Collects the head's entries in time order as "ts:line," text. */
static void head_text(const struct noa_stream *s, char *out, size_t cap)
{
    struct noa_buf raw = {0};
    int64_t lo, hi;
    noa_stream_head_sorted(s, &raw, &lo, &hi);
    struct noa_chunk_iter it;
    struct noa_chunk_entry e;
    size_t n = 0;
    out[0] = '\0';
    noa_chunk_iter_init(&it, raw.data, raw.len);
    while (noa_chunk_iter_next(&it, &e, NULL) == 1)
        n += (size_t)snprintf(out + n, cap - n, "%lld:%.*s,", (long long)e.ts_ns,
                              (int)e.line.len, e.line.p);
    noa_buf_fini(&raw);
}

static void test_duplicates_and_order(void **state)
{
    (void)state;
    struct noa_stream *s = new_stream();
    char text[256];
    assert_int_equal(append(s, 10, "a"), 1);
    assert_int_equal(append(s, 20, "b"), 1);
    assert_int_equal(append(s, 20, "b"), 0); /* exact repeat */
    assert_int_equal(append(s, 20, "c"), 1); /* same time, other line */
    assert_int_equal(append(s, 15, "d"), 1); /* out of order */
    assert_int_equal(append(s, 10, "a"), 0); /* older repeat */
    assert_int_equal(s->n_head, 4);
    head_text(s, text, sizeof(text));
    assert_string_equal(text, "10:a,15:d,20:b,20:c,");
    assert_true(s->applied_seq == 7);
    assert_int_equal(noa_stream_oldest_segment(s), 3);
    noa_stream_free(s);
}

static void test_seal_and_cut(void **state)
{
    (void)state;
    struct noa_stream *s = new_stream();
    char line[100];
    memset(line, 'x', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\0';
    for (int i = 0; i < 25; i++)
        assert_int_equal(append(s, 100 + i, line), 1);
    assert_true(s->n_blocks >= 2); /* 1024-byte blocks */
    assert_true(s->chunk_bytes > 0);
    struct noa_cut_chunk *c = noa_stream_cut(s, &opts);
    assert_non_null(c);
    assert_int_equal(s->n_head, 0);
    assert_int_equal(s->n_blocks, 0);
    uint64_t entries = 0;
    for (uint32_t i = 0; i < c->n_blocks; i++)
        entries += c->blocks[i]->cb.n_entries;
    assert_true(entries == 25);
    assert_true(c->seq == 7);
    assert_false(noa_stream_empty(s));
    struct noa_buf raw = {0};
    assert_int_equal(noa_block_decompress(c->blocks[0], &raw, NULL), 0);
    assert_true(raw.len == c->blocks[0]->cb.raw_len);
    noa_buf_fini(&raw);
    noa_stream_drop_cut(s, c);
    assert_true(noa_stream_empty(s));
    assert_null(noa_stream_cut(s, &opts));
    noa_stream_free(s);
}

/* Entries arriving in a shuffled order, each twice: every second copy is
 * dropped, and the head reads back in time order, equal times by arrival. */
static void test_shuffled_with_repeats(void **state)
{
    (void)state;
    struct noa_stream *s = new_stream();
    struct noa_stream_options big = {.block_size = 1u << 30, .zstd_level = 1};
    enum { N = 1000 };
    int order[N];
    for (int i = 0; i < N; i++)
        order[i] = i;
    unsigned r = 12345;
    for (int i = N - 1; i > 0; i--) {
        r = r * 1103515245u + 12345u;
        int k = (int)(r % (unsigned)(i + 1)), t = order[i];
        order[i] = order[k];
        order[k] = t;
    }
    int stored = 0, dropped = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < N; i++) {
            char line[32];
            snprintf(line, sizeof(line), "line %d", order[i] % 10);
            /* Times repeat every other entry: (t, "line x") pairs are unique. */
            struct noa_push_entry e = {.ts_ns = order[i] / 2, .line = noa_str_c(line)};
            int rc = noa_stream_append(s, &big, &e, 1, 1, 1000);
            stored += rc == 1;
            dropped += rc == 0;
        }
    assert_int_equal(stored, N);
    assert_int_equal(dropped, N);
    struct noa_buf raw = {0};
    int64_t lo, hi;
    noa_stream_head_sorted(s, &raw, &lo, &hi);
    assert_true(lo == 0 && hi == (N - 1) / 2);
    struct noa_chunk_iter it;
    struct noa_chunk_entry e;
    int64_t prev = -1;
    int n = 0;
    noa_chunk_iter_init(&it, raw.data, raw.len);
    while (noa_chunk_iter_next(&it, &e, NULL) == 1) {
        assert_true(e.ts_ns >= prev);
        prev = e.ts_ns;
        n++;
    }
    assert_int_equal(n, N);
    noa_buf_fini(&raw);
    noa_stream_free(s);
}

/* An idle stream with one short line holds a few KiB of head, not a block's
 * worth; a head filled line by line never grows past one block plus the
 * last line (it used to reserve twice the block size up front). */
static void test_head_memory_bounded(void **state)
{
    (void)state;
    const struct noa_stream_options big = {.block_size = 262144, .zstd_level = 1};
    struct noa_stream *s = new_stream();
    struct noa_push_entry e = {.ts_ns = 1, .line = NOA_STR("one short line")};
    assert_int_equal(noa_stream_append(s, &big, &e, 1, 1, 1000), 1);
    assert_true(s->head_raw.cap <= 4096);
    char line[3000];
    memset(line, 'y', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\0';
    size_t most = 0;
    for (int i = 0; i < 400; i++) { /* about 4.5 blocks */
        e = (struct noa_push_entry){.ts_ns = 2 + i, .line = noa_str_c(line)};
        assert_int_equal(noa_stream_append(s, &big, &e, 1, 1, 1000), 1);
        if (s->head_raw.cap > most)
            most = s->head_raw.cap;
    }
    assert_true(s->n_blocks >= 4);
    assert_true(most >= big.block_size);
    assert_true(most <= big.block_size + 4096 + sizeof(line) + 64);
    noa_stream_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duplicates_and_order),
        cmocka_unit_test(test_seal_and_cut),
        cmocka_unit_test(test_shuffled_with_repeats),
        cmocka_unit_test(test_head_memory_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
