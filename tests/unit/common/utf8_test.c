/* Unit tests for the UTF-8 helpers of common/buf.h: encoding as Go's
 * utf8.EncodeRune (invalid code points become U+FFFD) and its round trip
 * through noa_utf8_decode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/buf.h"

#include <string.h>

static void enc_eq(uint32_t cp, const char *want)
{
    char out[4];
    size_t n = noa_utf8_encode(cp, out);
    if (n != strlen(want) || memcmp(out, want, n) != 0)
        fail_msg("U+%04X: wrong encoding", (unsigned)cp);
}

static void test_encode(void **state)
{
    (void)state;
    enc_eq(0x41, "A");
    enc_eq(0xE9, "\xC3\xA9");
    enc_eq(0x20AC, "\xE2\x82\xAC");
    enc_eq(0x1F600, "\xF0\x9F\x98\x80");
    enc_eq(0x10FFFF, "\xF4\x8F\xBF\xBF");
    enc_eq(0xD800, "\xEF\xBF\xBD"); /* a surrogate: U+FFFD */
    enc_eq(0x110000, "\xEF\xBF\xBD");
    struct noa_buf b = {0};
    noa_buf_put_utf8(&b, 0x20AC);
    noa_buf_put_utf8(&b, 0x41);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "\xE2\x82\xAC" "A", 4);
    noa_buf_fini(&b);
}

static void test_round_trip(void **state)
{
    (void)state;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp += (cp < 0x1000 ? 1 : 97)) {
        if (cp >= 0xD800 && cp < 0xE000)
            continue;
        char out[4];
        uint32_t back = 0;
        size_t n = noa_utf8_encode(cp, out);
        assert_int_equal(noa_utf8_decode((const unsigned char *)out, n, &back), n);
        assert_int_equal(back, cp);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
