/*
 * Unit tests for querier/streamread's lens_only reads: entries read from
 * block entry columns (ingester/blockcol.h) must be exactly those the
 * decompressing path delivers (same times, lengths and duplicates
 * removed), on random memory blocks with out-of-order appends, equal
 * timestamps, exact duplicates within and across blocks, metadata blocks
 * (no column), blocks without a column (as sealed before columns existed)
 * and a head; a block read from its column is never decompressed unless
 * another block has an entry at the same instant; a damaged column fails
 * the read. Also the block-wide search for a single required literal.
 * Single-threaded.
 */
#include "querier/streamread.h"

#include "common/mem.h"
#include "ingester/block.h"
#include "ingester/blockcol.h"
#include "ingester/chunk.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* One entry as a model keeps it. */
struct ment {
    int64_t ts;
    const char *line;
    const char *meta; /* value of the one pair "k", or NULL */
};

/* What a read delivered. */
struct got {
    int64_t ts;
    size_t len;
    uint32_t n_meta;
};

struct sink {
    struct got *v;
    size_t n, cap;
    int64_t last;
    int null_lines; /* entries delivered with line.p == NULL */
};

static int collect_cb(void *arg, int64_t ts, struct noa_str line, const struct noa_label *meta,
                      uint32_t n_meta)
{
    struct sink *k = arg;
    (void)meta;
    assert_true(ts >= k->last); /* time order */
    k->last = ts;
    if (!line.p)
        k->null_lines++;
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 64;
        k->v = noa_xrealloc(k->v, k->cap * sizeof(*k->v));
    }
    k->v[k->n++] = (struct got){ts, line.len, n_meta};
    return 0;
}

static int got_cmp(const void *a, const void *b)
{
    const struct got *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->n_meta < y->n_meta ? -1 : x->n_meta > y->n_meta;
}

static int ment_cmp(const void *a, const void *b)
{
    const struct ment *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    int c = strcmp(x->line, y->line);
    if (c)
        return c;
    if (!x->meta || !y->meta)
        return (x->meta != NULL) - (y->meta != NULL);
    return strcmp(x->meta, y->meta);
}

static void append(struct noa_buf *raw, const struct ment *m)
{
    struct noa_label l = {NOA_STR("k"), noa_str_c(m->meta ? m->meta : "")};
    noa_chunk_block_append(raw, m->ts, noa_str_c(m->line), &l, m->meta ? 1 : 0);
}

static int run(const struct noa_mem_stream *mem, int64_t from, int64_t through, int lens,
               struct sink *out, struct noa_streamread_stats *st, struct noa_error *err)
{
    memset(out, 0, sizeof(*out));
    out->last = INT64_MIN;
    struct noa_streamread_query q = {.mem = mem,
                                     .from_ns = from,
                                     .through_ns = through,
                                     .lens_only = lens,
                                     .entry_cb = collect_cb,
                                     .arg = out};
    return noa_streamread_run(&q, st, err);
}

static const char *const lines[] = {"a",
                                    "bb",
                                    "level=error msg=boom",
                                    "level=info msg=\"request handled\" path=/api/v1/users",
                                    "GET /healthz 200",
                                    "",
                                    "level=warn msg=slow duration=1234ms",
                                    "x",
                                    "yy",
                                    "zzz"};
static const char *const metas[] = {"t1", "t2", "", "trace-0123456789"};

/* The pools build_stream draws from (test_literal_random swaps them). */
static const char *const *pool_lines = lines;
static size_t pool_n = sizeof(lines) / sizeof(lines[0]);
static const char *const *pool_metas = metas;

/* A random stream: blocks (some with metadata, some stripped of their
 * column), exact duplicates within and across blocks, a head. The model
 * (all entries) goes to *all. */
static void build_stream(uint64_t *seed, struct noa_mem_stream *mem, struct ment **all,
                         size_t *n_all, int64_t base, int64_t scale, int64_t span)
{
    size_t cap = 0;
    memset(mem, 0, sizeof(*mem));
    *all = NULL;
    *n_all = 0;
    unsigned nb = 1 + (unsigned)(rng_next(seed) % 6);
    mem->blocks = noa_xcalloc(nb, sizeof(*mem->blocks));
    for (unsigned b = 0; b <= nb; b++) {
        int with_meta = rng_next(seed) % 4 == 0;
        unsigned n = 1 + (unsigned)(rng_next(seed) % 120);
        struct noa_buf raw = {0};
        int64_t off = (int64_t)(rng_next(seed) % (uint64_t)span);
        for (unsigned i = 0; i < n; i++) {
            struct ment m;
            uint64_t r = rng_next(seed);
            if (*n_all && r % 5 == 0) {
                m = (*all)[rng_next(seed) % *n_all]; /* exact duplicate */
                if (!with_meta)
                    m.meta = NULL;
            } else {
                m.ts = base + (off + (int64_t)(rng_next(seed) % (uint64_t)span)) * scale;
                m.line = pool_lines[rng_next(seed) % pool_n];
                m.meta = with_meta && r % 3 ? pool_metas[rng_next(seed) % 4] : NULL;
            }
            append(&raw, &m);
            if (*n_all == cap) {
                cap = cap ? 2 * cap : 64;
                *all = noa_xrealloc(*all, cap * sizeof(**all));
            }
            (*all)[(*n_all)++] = m;
        }
        if (b == nb) { /* the head: unsorted as appended */
            mem->head = raw;
            mem->head_entries = n;
            break;
        }
        struct noa_block *blk;
        assert_int_equal(noa_block_seal(raw.data, raw.len, 0, &blk, NULL), 0);
        noa_buf_fini(&raw);
        if (rng_next(seed) % 4 == 0)
            noa_buf_fini(&blk->cb.col); /* sealed before columns existed */
        mem->blocks[mem->n_blocks++] = blk;
    }
}

static void free_stream(struct noa_mem_stream *mem)
{
    for (uint32_t b = 0; b < mem->n_blocks; b++)
        noa_block_unref(mem->blocks[b]);
    noa_free(mem->blocks);
    noa_buf_fini(&mem->head);
}

/* The model: distinct entries in [from, through), as (ts, len, n_meta). */
static size_t model(struct ment *all, size_t n, int64_t from, int64_t through, struct got *out)
{
    qsort(all, n, sizeof(*all), ment_cmp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (all[i].ts < from || all[i].ts >= through)
            continue;
        if (i && ment_cmp(&all[i - 1], &all[i]) == 0)
            continue;
        out[k++] = (struct got){all[i].ts, strlen(all[i].line), all[i].meta ? 1 : 0};
    }
    if (k)
        qsort(out, k, sizeof(*out), got_cmp);
    return k;
}

static void test_random_equivalence(void **state)
{
    (void)state;
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    uint64_t col_total = 0, inflated = 0, dup_total = 0;
    for (int round = 0; round < 400; round++) {
        struct noa_mem_stream mem;
        struct ment *all;
        size_t n_all;
        /* Narrow spans make many equal timestamps; ms-like scales exercise
         * the column's timestamp exponent. */
        int64_t scale = round % 3 == 0 ? 1000000 : round % 3 == 1 ? 1 : 7;
        int64_t span = round % 2 ? 40 : 5000;
        int64_t base = 1700000000000000000LL;
        build_stream(&seed, &mem, &all, &n_all, base, scale, span);
        int64_t from = base, through = base + 3 * span * scale;
        if (round % 4 == 1) { /* a random sub-range */
            from = base + (int64_t)(rng_next(&seed) % (uint64_t)(2 * span)) * scale;
            through = from + (int64_t)(rng_next(&seed) % (uint64_t)span + 1) * scale;
        }
        struct got *want = noa_xcalloc(n_all ? n_all : 1, sizeof(*want));
        size_t n_want = model(all, n_all, from, through, want);

        struct sink a, b;
        struct noa_streamread_stats sa = {0}, sb = {0};
        struct noa_error err = {0};
        assert_int_equal(run(&mem, from, through, 0, &a, &sa, &err), 0);
        assert_int_equal(run(&mem, from, through, 1, &b, &sb, &err), 0);
        assert_int_equal(a.n, n_want);
        assert_int_equal(b.n, n_want);
        assert_int_equal(a.null_lines, 0);
        if (n_want) { /* qsort wants a non-null array */
            qsort(a.v, a.n, sizeof(*a.v), got_cmp);
            qsort(b.v, b.n, sizeof(*b.v), got_cmp);
        }
        for (size_t i = 0; i < n_want; i++) {
            assert_int_equal(got_cmp(&a.v[i], &want[i]), 0);
            assert_int_equal(got_cmp(&b.v[i], &want[i]), 0);
        }
        assert_int_equal(sa.duplicates, sb.duplicates);
        assert_int_equal(sa.entries, sb.entries);
        assert_int_equal(sa.bytes, sb.bytes);
        assert_int_equal(sa.column_entries, 0);
        col_total += sb.column_entries;
        inflated += sb.column_blocks_inflated;
        dup_total += sb.duplicates;
        noa_free(a.v);
        noa_free(b.v);
        noa_free(want);
        noa_free(all);
        free_stream(&mem);
    }
    /* The rounds did exercise columns, duplicates and the inflate path. */
    assert_true(col_total > 1000);
    assert_true(inflated > 10);
    assert_true(dup_total > 100);
}

/* Disjoint blocks, each with equal timestamps and exact duplicates inside:
 * everything comes from the columns, nothing is decompressed. */
static void test_no_decompression(void **state)
{
    (void)state;
    struct noa_mem_stream mem = {0};
    struct noa_block *blk[2];
    mem.blocks = blk;
    int64_t base = 1700000000000000000LL;
    for (int b = 0; b < 2; b++) {
        struct noa_buf raw = {0};
        for (int i = 9; i >= 0; i--) { /* out of order */
            struct ment m = {base + b * 1000 + i / 2 * 10, lines[i % 4], NULL};
            append(&raw, &m);
            if (i == 4)
                append(&raw, &m); /* exact duplicate */
        }
        assert_int_equal(noa_block_seal(raw.data, raw.len, 0, &blk[b], NULL), 0);
        assert_true(blk[b]->cb.col.len > 0);
        noa_buf_fini(&raw);
    }
    mem.n_blocks = 2;
    struct sink a, b;
    struct noa_streamread_stats sa = {0}, sb = {0};
    assert_int_equal(run(&mem, base, base + 5000, 0, &a, &sa, NULL), 0);
    assert_int_equal(run(&mem, base, base + 5000, 1, &b, &sb, NULL), 0);
    assert_int_equal(a.n, 20);
    assert_int_equal(b.n, 20);
    assert_int_equal(sb.duplicates, 2);
    assert_int_equal(sb.column_entries, 22);
    assert_int_equal(sb.decompressed_bytes, 0);
    assert_int_equal(b.null_lines, 20);
    assert_true(sa.decompressed_bytes > 0);
    for (size_t i = 0; i < a.n; i++) { /* same order too */
        assert_int_equal(a.v[i].ts, b.v[i].ts);
        assert_int_equal(a.v[i].len, b.v[i].len);
    }
    /* The first block twice (a chunk read from memory and store): its
     * entries all share their time with a neighbour, so their stored
     * hashes deduplicate without decompressing. */
    noa_block_unref(blk[1]);
    blk[1] = noa_block_ref(blk[0]);
    noa_free(a.v);
    noa_free(b.v);
    memset(&sb, 0, sizeof(sb));
    assert_int_equal(run(&mem, base, base + 5000, 1, &b, &sb, NULL), 0);
    assert_int_equal(b.n, 10);
    assert_int_equal(sb.duplicates, 12);
    assert_int_equal(sb.column_blocks_inflated, 0);
    noa_free(b.v);
    noa_block_unref(blk[0]);
    noa_block_unref(blk[1]);
    /* A block of distinct times twice: every entry collides with the
     * other copy, both blocks are decompressed and deduplicated. */
    struct noa_buf raw = {0};
    for (int i = 0; i < 10; i++) {
        struct ment m = {base + i * 10, lines[i], NULL};
        append(&raw, &m);
    }
    assert_int_equal(noa_block_seal(raw.data, raw.len, 0, &blk[0], NULL), 0);
    noa_buf_fini(&raw);
    blk[1] = noa_block_ref(blk[0]);
    memset(&sb, 0, sizeof(sb));
    assert_int_equal(run(&mem, base, base + 5000, 1, &b, &sb, NULL), 0);
    assert_int_equal(b.n, 10);
    assert_int_equal(sb.duplicates, 10);
    assert_int_equal(sb.column_blocks_inflated, 2);
    noa_free(b.v);
    noa_block_unref(blk[0]);
    noa_block_unref(blk[1]);
}

/* A damaged column fails the read instead of giving wrong counts. */
static void test_corrupt_column(void **state)
{
    (void)state;
    struct noa_mem_stream mem = {0};
    struct noa_block *blk;
    struct noa_buf raw = {0};
    int64_t base = 1700000000000000000LL;
    for (int i = 0; i < 5; i++) {
        struct ment m = {base + i, lines[i], NULL};
        append(&raw, &m);
    }
    assert_int_equal(noa_block_seal(raw.data, raw.len, 0, &blk, NULL), 0);
    noa_buf_fini(&raw);
    mem.blocks = &blk;
    mem.n_blocks = 1;
    struct sink b;
    struct noa_error err = {0};
    blk->cb.col.data[1] = 9; /* entry count */
    assert_int_equal(run(&mem, base, base + 100, 1, &b, NULL, &err), NOA_ECORRUPT);
    assert_non_null(strstr(err.msg, "column"));
    noa_free(b.v);
    blk->cb.col.data[1] = 5;
    blk->cb.col.len--; /* truncated: the last entry's length is lost */
    assert_int_equal(run(&mem, base, base + 100, 1, &b, NULL, &err), NOA_ECORRUPT);
    noa_free(b.v);
    blk->cb.col.len++;
    assert_int_equal(run(&mem, base, base + 100, 1, &b, NULL, &err), 0);
    assert_int_equal(b.n, 5);
    noa_free(b.v);
    noa_block_unref(blk);
}

/* A single required literal: the block-wide search keeps exactly the
 * lines holding it (occurrences in metadata or across entry boundaries do
 * not count), case-folded too, against a per-line check. */
static void test_literal_search(void **state)
{
    (void)state;
    static const char *const pool[] = {"error", "an error here", "errorerror", "no match",
                                       "err", "rorer", "xerro", "ERROR upper", "",
                                       "tail error"};
    uint64_t seed = 42;
    for (int round = 0; round < 60; round++) {
        int fold = round % 2;
        struct noa_streamread_required rq;
        memset(&rq, 0, sizeof(rq));
        rq.lits[0] = (struct noa_linefilter_literal){NOA_STR("error"), fold};
        rq.n_lits = 1;
        rq.groups[0].first = 0;
        rq.groups[0].n = 1;
        rq.n_groups = 1;
        struct noa_mem_stream mem = {0};
        struct noa_block *blk[3];
        mem.blocks = blk;
        size_t want = 0;
        int64_t base = 1700000000000000000LL;
        for (int b = 0; b < 3; b++) {
            struct noa_buf raw = {0};
            for (int i = 0; i < 50; i++) {
                const char *ln = pool[rng_next(&seed) % 10];
                /* metadata and lines that end just before an "error" */
                struct ment m = {base + b * 100000 + i, ln, rng_next(&seed) % 3 ? NULL : "error"};
                append(&raw, &m);
                if (fold ? strcasestr(ln, "error") != NULL : strstr(ln, "error") != NULL)
                    want++;
            }
            assert_int_equal(noa_block_seal(raw.data, raw.len, 0, &blk[b], NULL), 0);
            noa_buf_fini(&raw);
        }
        mem.n_blocks = 3;
        struct sink k = {0};
        k.last = INT64_MIN;
        struct noa_streamread_query q = {.mem = &mem,
                                         .from_ns = base,
                                         .through_ns = base + 1000000,
                                         .req = &rq,
                                         .entry_cb = collect_cb,
                                         .arg = &k};
        assert_int_equal(noa_streamread_run(&q, NULL, NULL), 0);
        assert_int_equal(k.n, want);
        noa_free(k.v);
        for (int b = 0; b < 3; b++)
            noa_block_unref(blk[b]);
    }
}

static int has_lit(const char *line, int fold)
{
    return fold ? strcasestr(line, "error") != NULL : strstr(line, "error") != NULL;
}

static void one_literal(struct noa_streamread_required *rq, unsigned copies, int fold)
{
    memset(rq, 0, sizeof(*rq));
    for (unsigned g = 0; g < copies; g++) {
        rq->lits[g] = (struct noa_linefilter_literal){NOA_STR("error"), fold};
        rq->groups[g].first = g;
        rq->groups[g].n = 1;
    }
    rq->n_lits = rq->n_groups = copies;
}

/* A single required literal over random streams (overlapping blocks,
 * duplicates within and across them, literals in metadata and spanning
 * entry boundaries, ranges that cut blocks, a head): exactly the distinct
 * entries in range whose line holds it, and the same figures as the same
 * literal required twice (two groups: the line-by-line check). */
static void test_literal_random(void **state)
{
    (void)state;
    static const char *const elines[] = {"error",      "an error here", "errorerror", "no match",
                                         "err",        "ror",           "xerro",      "ERROR up",
                                         "",           "tail error",    "e",          "rror x"};
    static const char *const emetas[] = {"error", "err", "or", "ERROR"};
    pool_lines = elines;
    pool_n = sizeof(elines) / sizeof(elines[0]);
    pool_metas = emetas;
    uint64_t seed = 1234567;
    uint64_t delivered = 0;
    for (int round = 0; round < 400; round++) {
        struct noa_mem_stream mem;
        struct ment *all;
        size_t n_all;
        int64_t scale = round % 2 ? 1000 : 1, span = round % 3 ? 60 : 4000;
        int64_t base = 1700000000000000000LL;
        build_stream(&seed, &mem, &all, &n_all, base, scale, span);
        int64_t from = base, through = base + 3 * span * scale;
        if (round % 3 == 1) {
            from = base + (int64_t)(rng_next(&seed) % (uint64_t)(2 * span)) * scale;
            through = from + (int64_t)(rng_next(&seed) % (uint64_t)span + 1) * scale;
        }
        int fold = round % 4 == 3;
        struct got *want = noa_xcalloc(n_all ? n_all : 1, sizeof(*want));
        size_t n_want = model(all, n_all, from, through, want), k = 0;
        /* model() sorted all: keep the distinct in-range entries with the literal */
        n_want = 0;
        for (size_t i = 0; i < n_all; i++) {
            if (all[i].ts < from || all[i].ts >= through || !has_lit(all[i].line, fold))
                continue;
            if (i && ment_cmp(&all[i - 1], &all[i]) == 0)
                continue;
            want[n_want++] = (struct got){all[i].ts, strlen(all[i].line), all[i].meta ? 1 : 0};
        }
        if (n_want)
            qsort(want, n_want, sizeof(*want), got_cmp);
        struct sink a, b;
        struct noa_streamread_stats sa = {0}, sb = {0};
        struct noa_streamread_required r1, r2;
        one_literal(&r1, 1, fold);
        one_literal(&r2, 2, fold);
        struct sink *sinks[2] = {&a, &b};
        struct noa_streamread_required *rqs[2] = {&r1, &r2};
        struct noa_streamread_stats *sts[2] = {&sa, &sb};
        for (int v = 0; v < 2; v++) {
            memset(sinks[v], 0, sizeof(struct sink));
            sinks[v]->last = INT64_MIN;
            struct noa_streamread_query q = {.mem = &mem,
                                             .from_ns = from,
                                             .through_ns = through,
                                             .req = rqs[v],
                                             .entry_cb = collect_cb,
                                             .arg = sinks[v]};
            assert_int_equal(noa_streamread_run(&q, sts[v], NULL), 0);
            assert_int_equal(sinks[v]->n, n_want);
            if (n_want)
                qsort(sinks[v]->v, n_want, sizeof(struct got), got_cmp);
            for (k = 0; k < n_want; k++)
                assert_int_equal(got_cmp(&sinks[v]->v[k], &want[k]), 0);
        }
        assert_memory_equal(&sa, &sb, sizeof(sa));
        delivered += n_want;
        noa_free(a.v);
        noa_free(b.v);
        noa_free(want);
        noa_free(all);
        free_stream(&mem);
    }
    pool_lines = lines;
    pool_n = sizeof(lines) / sizeof(lines[0]);
    pool_metas = metas;
    assert_true(delivered > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_equivalence),
        cmocka_unit_test(test_no_decompression),
        cmocka_unit_test(test_corrupt_column),
        cmocka_unit_test(test_literal_search),
        cmocka_unit_test(test_literal_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
