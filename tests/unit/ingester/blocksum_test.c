/*
 * Unit tests for ingester/blocksum: no false negatives (property checks on
 * random lines and needles with random case), trigrams never span lines
 * or come from metadata, a useful false-positive rate, and the serialized
 * form's checks. Single-threaded.
 */
#include "ingester/blocksum.h"
#include "ingester/block.h"
#include "ingester/chunk.h"

#include "common/mem.h"

#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static uint64_t rng_s = 0x243F6A8885A308D3ull;

static uint32_t rnd(void)
{
    rng_s ^= rng_s << 13;
    rng_s ^= rng_s >> 7;
    rng_s ^= rng_s << 17;
    return (uint32_t)(rng_s >> 16);
}

static void add(struct noa_buf *raw, const char *line)
{
    noa_chunk_block_append(raw, 1, noa_str_c(line), NULL, 0);
}

static int may(const struct noa_buf *sum, const char *needle)
{
    return noa_blocksum_may_contain(sum->data, sum->len, needle, strlen(needle));
}

static void test_layout_and_sizes(void **state)
{
    (void)state;
    struct noa_buf raw = {0}, sum = {0};
    add(&raw, "hello");
    noa_buf_append(&sum, "X", 1); /* appends after what is there */
    assert_int_equal(noa_blocksum_build(raw.data, raw.len, &sum), 0);
    assert_int_equal(sum.data[0], 'X');
    assert_int_equal((unsigned char)sum.data[1], NOA_BLOCKSUM_MIN_LOG2);
    assert_int_equal(sum.len, 1 + 1 + (1u << NOA_BLOCKSUM_MIN_LOG2) / 8);
    assert_int_equal(noa_blocksum_check(sum.data + 1, sum.len - 1), 0);
    /* "hello" has two trigrams at even offsets: at most two bits, at least one */
    double fill = noa_blocksum_fill(sum.data + 1, sum.len - 1);
    assert_true(fill > 0 && fill <= 2.0 / (1u << NOA_BLOCKSUM_MIN_LOG2));

    assert_int_equal(noa_blocksum_log2_for(0), NOA_BLOCKSUM_MIN_LOG2);
    assert_int_equal(noa_blocksum_log2_for(256 * 1024 - 8), 14);
    assert_int_equal(noa_blocksum_log2_for(256 * 1024), 15);
    assert_int_equal(noa_blocksum_log2_for(256 * 1024 + 300), 15);
    assert_int_equal(noa_blocksum_log2_for(512 * 1024), 16);
    assert_int_equal(noa_blocksum_log2_for(64u << 20), NOA_BLOCKSUM_MAX_LOG2);
    noa_buf_fini(&raw);
    noa_buf_fini(&sum);
}

static void test_case_and_short(void **state)
{
    (void)state;
    struct noa_buf raw = {0}, sum = {0};
    add(&raw, "GET /api/v1/Users HTTP/1.1 200");
    add(&raw, "level=ERROR msg=\"disk full\"");
    assert_int_equal(noa_blocksum_build(raw.data, raw.len, &sum), 0);
    assert_true(may(&sum, "GET"));
    assert_true(may(&sum, "get"));
    assert_true(may(&sum, "/aPI/V1/users"));
    assert_true(may(&sum, "error"));
    assert_true(may(&sum, "Disk Full\""));
    assert_false(may(&sum, "rare-token-xyz"));
    assert_false(may(&sum, "warning"));
    /* shorter than four bytes: cannot be proven absent */
    assert_true(may(&sum, "qzq"));
    assert_true(may(&sum, "qz"));
    assert_true(may(&sum, ""));
    noa_buf_fini(&raw);
    noa_buf_fini(&sum);
}

/* Trigrams come from line text only: not across two lines, not from
 * structured metadata. */
static void test_lines_only(void **state)
{
    (void)state;
    struct noa_buf raw = {0}, sum = {0};
    struct noa_label meta[1] = {{NOA_STR("trace_id"), NOA_STR("quuxfrobnicate")}};
    noa_chunk_block_append(&raw, 5, NOA_STR("wxyzab"), NULL, 0);
    noa_chunk_block_append(&raw, 6, NOA_STR("cdefgh"), meta, 1);
    assert_int_equal(noa_blocksum_build(raw.data, raw.len, &sum), 0);
    assert_true(may(&sum, "xyza")); /* at an odd offset: only "yza" was indexed */
    assert_true(may(&sum, "cdefgh"));
    assert_false(may(&sum, "zabc"));
    assert_false(may(&sum, "abcd"));
    assert_false(may(&sum, "frobnicate"));
    assert_false(may(&sum, "trace_id"));
    noa_buf_fini(&raw);
    noa_buf_fini(&sum);
}

static void test_malformed(void **state)
{
    (void)state;
    struct noa_buf raw = {0}, sum = {0};
    add(&raw, "a fine line");
    raw.len--; /* truncated entry */
    noa_buf_append(&sum, "keep", 4);
    assert_int_equal(noa_blocksum_build(raw.data, raw.len, &sum), NOA_EINVAL);
    assert_int_equal(sum.len, 4);

    unsigned char s[1 + 64] = {NOA_BLOCKSUM_MIN_LOG2};
    assert_int_equal(noa_blocksum_check(s, sizeof(s)), 0);
    assert_int_equal(noa_blocksum_check(s, sizeof(s) - 1), NOA_ECORRUPT);
    assert_int_equal(noa_blocksum_check(s, 0), NOA_ECORRUPT);
    s[0] = NOA_BLOCKSUM_MIN_LOG2 - 1;
    assert_int_equal(noa_blocksum_check(s, sizeof(s)), NOA_ECORRUPT);
    s[0] = NOA_BLOCKSUM_MAX_LOG2 + 1;
    assert_int_equal(noa_blocksum_check(s, sizeof(s)), NOA_ECORRUPT);
    /* a malformed summary proves nothing */
    assert_int_equal(noa_blocksum_may_contain(s, sizeof(s), "abcdef", 6), 1);
    /* an all-zero one proves every needle absent */
    s[0] = NOA_BLOCKSUM_MIN_LOG2;
    assert_int_equal(noa_blocksum_may_contain(s, sizeof(s), "abcdef", 6), 0);
    noa_buf_fini(&raw);
    noa_buf_fini(&sum);
}

/* Random case flips of an ASCII string. */
static void flip_case(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (rnd() & 1)
            s[i] = (char)(isupper((unsigned char)s[i]) ? tolower((unsigned char)s[i])
                                                       : toupper((unsigned char)s[i]));
}

/* Property: every substring of every line, in any ASCII case, "may be
 * present", whatever the bytes (binary, UTF-8, upper case) and block size. */
static void test_no_false_negatives(void **state)
{
    (void)state;
    static const char alpha[] = "abcXYZ019 -_=\"{}:.\x80\xc3\xa9\xff\t";
    for (int round = 0; round < 40; round++) {
        struct noa_buf raw = {0}, sum = {0};
        int n = 1 + (int)(rnd() % (round < 20 ? 20 : 3000));
        char **lines = noa_xcalloc((size_t)n, sizeof(*lines));
        size_t *lens = noa_xcalloc((size_t)n, sizeof(*lens));
        for (int i = 0; i < n; i++) {
            size_t len = rnd() % 200;
            lines[i] = noa_xmalloc(len + 1);
            for (size_t k = 0; k < len; k++)
                lines[i][k] = (round & 1) ? (char)(rnd() & 0xff)
                                          : alpha[rnd() % (sizeof(alpha) - 1)];
            lens[i] = len;
            noa_chunk_block_append(&raw, (int64_t)rnd(), (struct noa_str){lines[i], len}, NULL, 0);
        }
        assert_int_equal(noa_blocksum_build(raw.data, raw.len, &sum), 0);
        assert_int_equal(noa_blocksum_check(sum.data, sum.len), 0);
        for (int q = 0; q < 2000; q++) {
            int i = (int)(rnd() % (uint32_t)n);
            if (lens[i] == 0)
                continue;
            size_t off = rnd() % lens[i], len = 1 + rnd() % (lens[i] - off);
            char needle[256];
            memcpy(needle, lines[i] + off, len);
            flip_case(needle, len);
            if (!noa_blocksum_may_contain(sum.data, sum.len, needle, len))
                fail_msg("round %d: needle of %zu bytes from line %d reported absent", round,
                         len, i);
        }
        for (int i = 0; i < n; i++)
            noa_free(lines[i]);
        noa_free(lines);
        noa_free(lens);
        noa_buf_fini(&raw);
        noa_buf_fini(&sum);
    }
}

/* The summary is worth having: on a ~256 KiB block of log-like lines, most
 * needles that are not there are proven absent. */
static void test_false_positive_rate(void **state)
{
    (void)state;
    struct noa_buf raw = {0}, sum = {0};
    char line[256];
    static const char *paths[] = {"/api/v1/users", "/login", "/static/app.js", "/healthz"};
    static const char *lvl[] = {"info", "warn", "error", "debug"};
    while (raw.len < 256 * 1024) {
        int k = snprintf(line, sizeof(line),
                         "ts=2024-05-%02u level=%s method=GET path=%s status=%u dur=%ums "
                         "trace=%08x%08x user=u%u",
                         1 + rnd() % 28, lvl[rnd() % 4], paths[rnd() % 4], 200 + rnd() % 300,
                         rnd() % 5000, rnd(), rnd(), rnd() % 100000);
        noa_chunk_block_append(&raw, 1, (struct noa_str){line, (size_t)k}, NULL, 0);
    }
    assert_int_equal(noa_blocksum_build(raw.data, raw.len, &sum), 0);
    double fill = noa_blocksum_fill(sum.data, sum.len);
    assert_true(fill > 0.01 && fill < 0.5);
    int hits = 0;
    for (int q = 0; q < 1000; q++) {
        char needle[32];
        int k = snprintf(needle, sizeof(needle), "rare-token-%c%c%c", 'g' + rnd() % 20,
                         'g' + rnd() % 20, 'g' + rnd() % 20);
        hits += noa_blocksum_may_contain(sum.data, sum.len, needle, (size_t)k);
    }
    assert_true(hits < 50);
    noa_buf_fini(&raw);
    noa_buf_fini(&sum);
}

/* Blocks rebuilt from WAL snapshot bytes get the summary sealing gave them;
 * bytes that do not decompress give a block without one (always read). */
static void test_block_from_compressed(void **state)
{
    (void)state;
    struct noa_buf raw = {0};
    struct noa_block *sealed, *back, *bad;
    for (int i = 0; i < 200; i++) {
        char line[64];
        int k = snprintf(line, sizeof(line), "GET /item/%d rare-%d", i, i * 7);
        noa_chunk_block_append(&raw, i, (struct noa_str){line, (size_t)k}, NULL, 0);
    }
    assert_int_equal(noa_block_seal(raw.data, raw.len, 0, &sealed, NULL), 0);
    assert_true(sealed->cb.sum.len > 0);
    assert_int_equal(noa_block_from_compressed(&sealed->cb, sealed->cb.data.data,
                                               sealed->cb.data.len, &back, NULL),
                     0);
    assert_int_equal(back->cb.sum.len, sealed->cb.sum.len);
    assert_memory_equal(back->cb.sum.data, sealed->cb.sum.data, sealed->cb.sum.len);
    assert_true(noa_blocksum_may_contain(back->cb.sum.data, back->cb.sum.len, "rare-1393", 9));

    char junk[32];
    memset(junk, 'j', sizeof(junk));
    assert_int_equal(noa_block_from_compressed(&sealed->cb, junk, sizeof(junk), &bad, NULL), 0);
    assert_int_equal(bad->cb.sum.len, 0);
    noa_block_unref(bad);
    noa_block_unref(back);
    noa_block_unref(sealed);
    noa_buf_fini(&raw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_and_sizes),  cmocka_unit_test(test_case_and_short),
        cmocka_unit_test(test_lines_only),        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_no_false_negatives), cmocka_unit_test(test_false_positive_rate),
        cmocka_unit_test(test_block_from_compressed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
