/* Unit tests for common/compress.c: round trips, limits (bombs), truncated
 * and corrupt inputs, concatenated frames/members, context reuse. The zstd
 * and zlib APIs are used directly here only to build unusual inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/compress.h"
#include "common/mem.h"

#include <stdio.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

static const enum noa_compress_codec all_codecs[] = {
    NOA_COMPRESS_NONE, NOA_COMPRESS_ZSTD,    NOA_COMPRESS_SNAPPY,
    NOA_COMPRESS_GZIP, NOA_COMPRESS_DEFLATE,
};
#define N_CODECS (sizeof(all_codecs) / sizeof(all_codecs[0]))

/* Log-like text: compressible, but not trivially. */
static char *make_text(size_t n)
{
    static const char *const words[] = {"level=info",        "level=warn", "msg=\"request done\"",
                                        "path=/api/v1/push", "status=200", "status=500",
                                        "user=alice",        "user=bob"};
    char *p = noa_xmalloc(n + 64);
    uint32_t x = 12345;
    size_t i = 0;
    while (i < n) {
        x = x * 1103515245u + 12345u;
        const char *w = words[(x >> 16) % 8];
        size_t l = strlen(w);
        memcpy(p + i, w, l);
        i += l;
        i += (size_t)snprintf(p + i, 12, " %u%c", (x >> 8) % 1000, (x & 7) ? ' ' : '\n');
    }
    return p;
}

/* Incompressible bytes. */
static char *make_random(size_t n)
{
    char *p = noa_xmalloc(n ? n : 1);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (char)x;
    }
    return p;
}

static void compress_or_fail(enum noa_compress_codec c, const void *in, size_t n,
                             struct noa_buf *out)
{
    assert_int_equal(noa_compress_compress(c, in, n, 0, out), 0);
}

static void round_trip(enum noa_compress_codec c, const char *in, size_t n)
{
    struct noa_buf z = {0}, out = {0};
    struct noa_error err = {0};
    compress_or_fail(c, in, n, &z);
    /* Appends after what is already there. */
    noa_buf_append(&out, "prefix", 6);
    int rc = noa_compress_decompress(c, z.data, z.len, n, &out, &err);
    if (rc)
        fail_msg("codec %s size %zu: %s", noa_compress_codec_name(c), n, err.msg);
    assert_int_equal(out.len, n + 6);
    assert_memory_equal(out.data, "prefix", 6);
    if (n)
        assert_memory_equal(out.data + 6, in, n);
    noa_buf_fini(&z);
    noa_buf_fini(&out);
}

static void test_round_trips(void **state)
{
    (void)state;
    const size_t sizes[] = {0, 1, 100, 65536, 1000003};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        char *text = make_text(sizes[s]), *rnd = make_random(sizes[s]);
        for (size_t c = 0; c < N_CODECS; c++) {
            /* Empty gzip/deflate/snappy streams still carry a header. */
            round_trip(all_codecs[c], text, sizes[s]);
            round_trip(all_codecs[c], rnd, sizes[s]);
        }
        noa_free(text);
        noa_free(rnd);
    }
}

static void test_compression_shrinks(void **state)
{
    (void)state;
    char *text = make_text(100000);
    for (size_t c = 1; c < N_CODECS; c++) {
        struct noa_buf z = {0};
        compress_or_fail(all_codecs[c], text, 100000, &z);
        assert_true(z.len < 100000 / 2);
        noa_buf_fini(&z);
    }
    noa_free(text);
}

/* Exactly at the limit passes; one byte under fails with a named codec. */
static void test_limit_exact(void **state)
{
    (void)state;
    size_t n = 300000;
    char *text = make_text(n);
    for (size_t c = 0; c < N_CODECS; c++) {
        struct noa_buf z = {0}, out = {0};
        struct noa_error err = {0};
        compress_or_fail(all_codecs[c], text, n, &z);
        assert_int_equal(noa_compress_decompress(all_codecs[c], z.data, z.len, n, &out, &err), 0);
        assert_int_equal(out.len, n);
        noa_buf_fini(&out);
        int rc = noa_compress_decompress(all_codecs[c], z.data, z.len, n - 1, &out, &err);
        assert_int_equal(rc, NOA_ETOOBIG);
        assert_int_equal(err.code, NOA_ETOOBIG);
        assert_non_null(strstr(err.msg, "limit"));
        if (c)
            assert_non_null(strstr(err.msg, noa_compress_codec_name(all_codecs[c])));
        assert_true(out.cap <= n - 1);
        assert_int_equal(out.len, 0);
        noa_buf_fini(&z);
        noa_buf_fini(&out);
    }
    noa_free(text);
}

/* A zstd frame without a content size: compressed as a stream. */
static void zstd_stream_frame(const void *in, size_t n, int window_log, struct noa_buf *out)
{
    ZSTD_CCtx *c = ZSTD_createCCtx();
    assert_non_null(c);
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0)));
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)));
    if (window_log)
        assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, window_log)));
    ZSTD_inBuffer ib = {in, n, 0};
    for (int mode = 0; mode < 2; mode++) {
        size_t left;
        do {
            noa_buf_reserve(out, 1 << 16);
            ZSTD_outBuffer ob = {out->data + out->len, out->cap - out->len, 0};
            left = ZSTD_compressStream2(c, &ob, &ib, mode ? ZSTD_e_end : ZSTD_e_continue);
            assert_false(ZSTD_isError(left));
            out->len += ob.pos;
        } while (mode ? left != 0 : ib.pos < ib.size);
    }
    ZSTD_freeCCtx(c);
}

static void check_bomb(enum noa_compress_codec c, const struct noa_buf *z, size_t limit)
{
    struct noa_buf out = {0};
    struct noa_error err = {0};
    int64_t before = noa_mem_in_use();
    int rc = noa_compress_decompress(c, z->data, z->len, limit, &out, &err);
    assert_int_equal(rc, NOA_ETOOBIG);
    /* Never more than the limit held for output. */
    assert_true(out.cap <= limit);
    assert_true(noa_mem_in_use() - before <= (int64_t)limit);
    assert_non_null(strstr(err.msg, c == NOA_COMPRESS_ZSTD     ? "zstd:"
                                    : c == NOA_COMPRESS_SNAPPY ? "snappy:"
                                    : c == NOA_COMPRESS_GZIP   ? "gzip:"
                                                               : "deflate:"));
    noa_buf_fini(&out);
}

static void test_bombs(void **state)
{
    (void)state;
    size_t n = 64u << 20, limit = 1u << 20;
    char *zeros = noa_xcalloc(1, n);
    for (size_t c = 1; c < N_CODECS; c++) {
        struct noa_buf z = {0};
        compress_or_fail(all_codecs[c], zeros, n, &z);
        check_bomb(all_codecs[c], &z, limit);
        noa_buf_fini(&z);
    }
    /* zstd without a declared size goes through the bounded stream. */
    struct noa_buf z = {0};
    zstd_stream_frame(zeros, n, 0, &z);
    assert_int_equal(ZSTD_getFrameContentSize(z.data, z.len), ZSTD_CONTENTSIZE_UNKNOWN);
    check_bomb(NOA_COMPRESS_ZSTD, &z, limit);
    /* A limit of zero admits nothing but empty output. */
    check_bomb(NOA_COMPRESS_ZSTD, &z, 0);
    noa_buf_fini(&z);
    noa_free(zeros);
}

static void test_zstd_stream_and_concatenation(void **state)
{
    (void)state;
    size_t n = 500000;
    char *text = make_text(n);
    struct noa_buf z = {0}, out = {0};
    struct noa_error err = {0};
    /* unknown-size frame, then a known-size frame, then a skippable frame */
    zstd_stream_frame(text, n / 2, 0, &z);
    assert_int_equal(noa_compress_zstd_compress(text + n / 2, n - n / 2, 1, &z), 0);
    static const unsigned char skippable[] = {0x50, 0x2A, 0x4D, 0x18, 3, 0, 0, 0, 'a', 'b', 'c'};
    noa_buf_append(&z, skippable, sizeof(skippable));
    assert_int_equal(noa_compress_zstd_decompress(z.data, z.len, n, &out, &err), 0);
    assert_int_equal(out.len, n);
    assert_memory_equal(out.data, text, n);
    /* Two known-size frames take the one-shot path and are summed. */
    noa_buf_reset(&z);
    noa_buf_reset(&out);
    assert_int_equal(noa_compress_zstd_compress(text, n / 2, 3, &z), 0);
    assert_int_equal(noa_compress_zstd_compress(text + n / 2, n - n / 2, 3, &z), 0);
    assert_int_equal(noa_compress_zstd_decompress(z.data, z.len, n, &out, &err), 0);
    assert_memory_equal(out.data, text, n);
    noa_buf_fini(&out);
    assert_int_equal(noa_compress_zstd_decompress(z.data, z.len, n - 1, &out, &err), NOA_ETOOBIG);
    assert_int_equal(out.cap, 0); /* refused before allocating */
    noa_buf_fini(&z);
    noa_buf_fini(&out);
    noa_free(text);
}

static void test_zstd_window_limit(void **state)
{
    (void)state;
    char *text = make_text(10000);
    struct noa_buf z = {0}, out = {0};
    struct noa_error err = {0};
    zstd_stream_frame(text, 10000, 27, &z); /* asks for a 128 MiB window */
    assert_int_equal(noa_compress_zstd_decompress(z.data, z.len, 1u << 20, &out, &err),
                     NOA_ETOOBIG);
    assert_non_null(strstr(err.msg, "zstd: frame window"));
    assert_int_equal(noa_compress_zstd_decompress(z.data, z.len, 256u << 20, &out, &err), 0);
    assert_int_equal(out.len, 10000);
    assert_memory_equal(out.data, text, 10000);
    noa_buf_fini(&z);
    noa_buf_fini(&out);
    noa_free(text);
}

static void gzip_concat(void)
{
    struct noa_buf z = {0}, out = {0};
    struct noa_error err = {0};
    assert_int_equal(noa_compress_gzip_compress("hello ", 6, 0, &z), 0);
    assert_int_equal(noa_compress_gzip_compress("world", 5, 9, &z), 0);
    assert_int_equal(noa_compress_gzip_decompress(z.data, z.len, 100, &out, &err), 0);
    assert_int_equal(out.len, 11);
    assert_memory_equal(out.data, "hello world", 11);
    /* Garbage after a member is a bad header, as Go's reader says. */
    noa_buf_append(&z, "junkjunkjunk", 12);
    noa_buf_reset(&out);
    assert_int_equal(noa_compress_gzip_decompress(z.data, z.len, 100, &out, &err), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "gzip: corrupt input"));
    noa_buf_fini(&z);
    noa_buf_fini(&out);
}

static void test_gzip_members_and_deflate_trailer(void **state)
{
    (void)state;
    gzip_concat();
    /* Raw deflate stops at its final block; trailing bytes are ignored. */
    struct noa_buf z = {0}, out = {0};
    struct noa_error err = {0};
    assert_int_equal(noa_compress_deflate_compress("abcabcabc", 9, 0, &z), 0);
    noa_buf_append(&z, "trailer", 7);
    assert_int_equal(noa_compress_deflate_decompress(z.data, z.len, 100, &out, &err), 0);
    assert_int_equal(out.len, 9);
    noa_buf_fini(&z);
    noa_buf_fini(&out);
}

static void expect_invalid(enum noa_compress_codec c, const void *in, size_t n, const char *msg)
{
    struct noa_buf out = {0};
    struct noa_error err = {0};
    int rc = noa_compress_decompress(c, in, n, 1u << 20, &out, &err);
    if (rc != NOA_EINVAL)
        fail_msg("%s len %zu: rc %d (%s)", noa_compress_codec_name(c), n, rc, err.msg);
    if (!strstr(err.msg, msg))
        fail_msg("%s len %zu: message '%s' lacks '%s'", noa_compress_codec_name(c), n, err.msg,
                 msg);
    noa_buf_fini(&out);
}

static void test_truncated(void **state)
{
    (void)state;
    size_t n = 100000;
    char *text = make_text(n);
    static const char *const want[] = {"", "zstd: truncated frame", "snappy: corrupt input",
                                       "gzip: truncated input", "deflate: truncated input"};
    for (size_t c = 1; c < N_CODECS; c++) {
        struct noa_buf z = {0};
        compress_or_fail(all_codecs[c], text, n, &z);
        const size_t cuts[] = {1, 2, 5, 17, z.len / 2, z.len - 1};
        for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++)
            expect_invalid(all_codecs[c], z.data, cuts[k],
                           c == 1 && cuts[k] < 5 ? "zstd: " : want[c]);
        noa_buf_fini(&z);
    }
    /* A streamed zstd frame cut short is also truncated. */
    struct noa_buf z = {0};
    zstd_stream_frame(text, n, 0, &z);
    expect_invalid(NOA_COMPRESS_ZSTD, z.data, z.len - 3, "zstd: truncated frame");
    expect_invalid(NOA_COMPRESS_ZSTD, z.data, z.len / 2, "zstd: truncated frame");
    noa_buf_fini(&z);
    noa_free(text);
}

static void test_corrupt(void **state)
{
    (void)state;
    const char junk[] = "this is not compressed at all, just text in a body";
    expect_invalid(NOA_COMPRESS_ZSTD, junk, sizeof(junk) - 1, "zstd: corrupt input");
    expect_invalid(NOA_COMPRESS_GZIP, junk, sizeof(junk) - 1, "gzip: corrupt input");
    expect_invalid(NOA_COMPRESS_DEFLATE, "\xff\xff\xff\xff", 4, "deflate: corrupt input");
    /* snappy: a declared length the data cannot produce */
    expect_invalid(NOA_COMPRESS_SNAPPY,
                   "\x10\x00"
                   "abc",
                   5, "snappy: corrupt input");
    expect_invalid(NOA_COMPRESS_SNAPPY, "\xff\xff\xff\xff\xff\xff", 6, "snappy: corrupt input");
    /* Empty input: only zstd (no frames) and none accept it. */
    expect_invalid(NOA_COMPRESS_SNAPPY, "", 0, "snappy: corrupt input");
    expect_invalid(NOA_COMPRESS_GZIP, "", 0, "gzip: empty input");
    expect_invalid(NOA_COMPRESS_DEFLATE, "", 0, "deflate: empty input");
    struct noa_buf out = {0};
    assert_int_equal(noa_compress_zstd_decompress("", 0, 10, &out, NULL), 0);
    assert_int_equal(out.len, 0);

    /* A flipped byte inside checksummed zstd data is caught. */
    char *text = make_text(50000);
    struct noa_buf z = {0};
    zstd_stream_frame(text, 50000, 0, &z);
    z.data[z.len / 2] ^= 0x55;
    struct noa_error err = {0};
    int rc = noa_compress_zstd_decompress(z.data, z.len, 1u << 20, &out, &err);
    assert_int_equal(rc, NOA_EINVAL);
    assert_non_null(strstr(err.msg, "zstd: "));
    noa_buf_fini(&z);
    /* And in gzip (CRC-32 trailer or a bad block). */
    compress_or_fail(NOA_COMPRESS_GZIP, text, 50000, &z);
    z.data[z.len - 6] ^= 0x01;
    noa_buf_reset(&out);
    assert_int_equal(noa_compress_gzip_decompress(z.data, z.len, 1u << 20, &out, &err), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "gzip: corrupt input"));
    noa_buf_fini(&z);
    noa_buf_fini(&out);
    noa_free(text);
}

static void test_out_of_memory(void **state)
{
    (void)state;
    char *text = make_text(10000);
    for (size_t c = 0; c < N_CODECS; c++) {
        struct noa_buf z = {0}, out = {0};
        struct noa_error err = {0};
        compress_or_fail(all_codecs[c], text, 10000, &z);
        noa_mem_fail_after(0);
        int rc = noa_compress_decompress(all_codecs[c], z.data, z.len, 1u << 20, &out, &err);
        noa_mem_fail_after(-1);
        assert_int_equal(rc, NOA_ENOMEM);
        assert_int_equal(out.len, 0);
        noa_buf_fini(&z);
        noa_buf_fini(&out);
    }
    noa_free(text);
}

/* Spare capacity already in the caller's buffer must not let output past
 * the limit (a fuzzer find: the streaming paths wrote into it unbounded). */
static void test_spare_capacity_respects_limit(void **state)
{
    (void)state;
    size_t n = 10000;
    char *text = make_text(n);
    for (size_t c = 0; c < N_CODECS + 1; c++) {
        struct noa_buf z = {0}, out = {0};
        struct noa_error err = {0};
        enum noa_compress_codec codec = c < N_CODECS ? all_codecs[c] : NOA_COMPRESS_ZSTD;
        if (c < N_CODECS)
            compress_or_fail(codec, text, n, &z);
        else
            zstd_stream_frame(text, n, 0, &z);
        noa_buf_reserve(&out, 1u << 20);
        noa_buf_append(&out, "keep", 4);
        for (size_t limit = 0; limit < 300; limit += 100) {
            int rc = noa_compress_decompress(codec, z.data, z.len, limit, &out, &err);
            if (rc != NOA_ETOOBIG)
                fail_msg("case %zu limit %zu: %d %s", c, limit, rc, err.msg);
            assert_int_equal(out.len, 4);
        }
        int rc = noa_compress_decompress(codec, z.data, z.len, n, &out, &err);
        if (rc)
            fail_msg("case %zu: %d %s", c, rc, err.msg);
        assert_int_equal(out.len, 4 + n);
        assert_memory_equal(out.data + 4, text, n);
        noa_buf_fini(&z);
        noa_buf_fini(&out);
    }
    noa_free(text);
}

static void test_zstd_ctx_reuse(void **state)
{
    (void)state;
    struct noa_zstd_ctx ctx;
    noa_compress_zstd_ctx_init(&ctx, 5);
    char *text = make_text(20000);
    for (int i = 0; i < 50; i++) {
        struct noa_buf z = {0}, out = {0};
        struct noa_error err = {0};
        size_t n = 1000 + (size_t)i * 300;
        assert_int_equal(noa_compress_zstd_ctx_compress(&ctx, text + i, n, &z), 0);
        assert_int_equal(ZSTD_getFrameContentSize(z.data, z.len), n);
        assert_int_equal(noa_compress_zstd_ctx_decompress(&ctx, z.data, z.len, n, &out, &err), 0);
        assert_int_equal(out.len, n);
        assert_memory_equal(out.data, text + i, n);
        /* An error leaves the context usable for the next call. */
        noa_buf_reset(&out);
        assert_int_equal(noa_compress_zstd_ctx_decompress(&ctx, z.data, z.len / 2, n, &out, &err),
                         NOA_EINVAL);
        noa_buf_fini(&z);
        noa_buf_fini(&out);
    }
    noa_compress_zstd_ctx_fini(&ctx);
    noa_compress_zstd_ctx_fini(&ctx); /* idempotent */
    noa_free(text);
}

static void test_codec_names(void **state)
{
    (void)state;
    enum noa_compress_codec c = NOA_COMPRESS_DEFLATE;
    assert_int_equal(noa_compress_codec_from_name(NOA_STR(""), &c), 0);
    assert_int_equal(c, NOA_COMPRESS_NONE);
    assert_int_equal(noa_compress_codec_from_name(NOA_STR("zstd"), &c), 0);
    assert_int_equal(c, NOA_COMPRESS_ZSTD);
    assert_int_equal(noa_compress_codec_from_name(NOA_STR("ZSTD"), &c), NOA_EUNSUPP);
    assert_int_equal(noa_compress_codec_from_name(NOA_STR("identity"), &c), NOA_EUNSUPP);
    assert_int_equal(noa_compress_codec_from_name(NOA_STR("gzip"), &c), 0);
    assert_int_equal(c, NOA_COMPRESS_GZIP);
    assert_int_equal(noa_compress_codec_from_name(NOA_STR("snappy"), &c), 0);
    assert_int_equal(c, NOA_COMPRESS_SNAPPY);
    assert_int_equal(noa_compress_codec_from_name(NOA_STR("deflate"), &c), 0);
    assert_int_equal(c, NOA_COMPRESS_DEFLATE);
    assert_int_equal(noa_compress_codec_from_name(NOA_STR("br"), &c), NOA_EUNSUPP);
    assert_int_equal(c, NOA_COMPRESS_DEFLATE);
    assert_int_equal(noa_compress_codec_from_name(NOA_STR("gzipx"), &c), NOA_EUNSUPP);
    assert_string_equal(noa_compress_codec_name(NOA_COMPRESS_SNAPPY), "snappy");
    assert_string_equal(noa_compress_codec_name(NOA_COMPRESS_NONE), "");
}

/* Snappy output is the block format Go's snappy.Decode reads: a varint
 * length, then elements (checked against a known encoding of "aaaa..."). */
static void test_snappy_block_format(void **state)
{
    (void)state;
    struct noa_buf z = {0}, out = {0};
    assert_int_equal(noa_compress_snappy_compress("hello", 5, &z), 0);
    static const unsigned char want[] = {5, 4 << 2, 'h', 'e', 'l', 'l', 'o'};
    assert_int_equal(z.len, sizeof(want));
    assert_memory_equal(z.data, want, sizeof(want));
    /* A literal of 3 bytes then a copy (offset 3, length 6): "abcabcabc". */
    static const unsigned char block[] = {9, 2 << 2, 'a', 'b', 'c', 0x09, 3};
    assert_int_equal(noa_compress_snappy_decompress(block, sizeof(block), 9, &out, NULL), 0);
    assert_int_equal(out.len, 9);
    assert_memory_equal(out.data, "abcabcabc", 9);
    noa_buf_fini(&z);
    noa_buf_fini(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_compression_shrinks),
        cmocka_unit_test(test_limit_exact),
        cmocka_unit_test(test_bombs),
        cmocka_unit_test(test_zstd_stream_and_concatenation),
        cmocka_unit_test(test_zstd_window_limit),
        cmocka_unit_test(test_gzip_members_and_deflate_trailer),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_spare_capacity_respects_limit),
        cmocka_unit_test(test_zstd_ctx_reuse),
        cmocka_unit_test(test_codec_names),
        cmocka_unit_test(test_snappy_block_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
