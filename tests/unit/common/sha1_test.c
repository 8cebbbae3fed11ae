/* Tests for common/sha1: FIPS 180 / RFC 3174 test vectors, split updates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/sha1.h"

#include <stdio.h>
#include <string.h>

static void hex(const uint8_t d[NOA_SHA1_LEN], char out[41])
{
    for (unsigned i = 0; i < NOA_SHA1_LEN; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void check(const char *msg, size_t len, const char *want)
{
    uint8_t d[NOA_SHA1_LEN];
    char h[41];
    noa_sha1_digest(msg, len, d);
    hex(d, h);
    assert_string_equal(h, want);
}

static void test_vectors(void **state)
{
    (void)state;
    check("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    check("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check(m, strlen(m), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    check("The quick brown fox jumps over the lazy dog", 43,
          "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12");
}

/* A million 'a's fed in odd-sized pieces crosses every block boundary case. */
static void test_million_a_split(void **state)
{
    (void)state;
    static char a[1024];
    memset(a, 'a', sizeof(a));
    struct noa_sha1 s;
    noa_sha1_init(&s);
    size_t left = 1000000, step = 1;
    while (left) {
        size_t n = step < left ? step : left;
        noa_sha1_update(&s, a, n);
        left -= n;
        step = step % 997 + 7;
    }
    uint8_t d[NOA_SHA1_LEN];
    char h[41];
    noa_sha1_final(&s, d);
    hex(d, h);
    assert_string_equal(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

/* Lengths around the padding edge (55, 56, 63, 64 bytes). */
static void test_padding_edges(void **state)
{
    (void)state;
    char m[64];
    memset(m, 'a', sizeof(m));
    check(m, 55, "c1c8bbdc22796e28c0e15163d20899b65621d65a");
    check(m, 56, "c2db330f6083854c99d4b5bfb6e8f29f201be699");
    check(m, 64, "0098ba824b5c16427bd7a1122a5a442a25ec644d");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_million_a_split),
        cmocka_unit_test(test_padding_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
