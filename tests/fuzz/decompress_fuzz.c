/*
 * Fuzz target for common/compress. Input: byte 0 picks the codec (mod 5),
 * byte 1 the output limit (in KiB), the rest is the compressed body. The
 * decompressor must stay within the limit and fail only with the documented
 * codes; the body also goes through compress + decompress and must come
 * back unchanged.
 */
#include "common/compress.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    enum noa_compress_codec codec = (enum noa_compress_codec)(data[0] % 5);
    size_t limit = (size_t)data[1] << 10;
    const uint8_t *body = data + 2;
    size_t n = size - 2;
    struct noa_buf out = {0}, z = {0};
    struct noa_error err;
    noa_buf_append(&out, "keep", 4);
    int rc = noa_compress_decompress(codec, body, n, limit, &out, &err);
    if (rc == 0) {
        if (out.len - 4 > limit)
            abort();
    } else if (rc != NOA_EINVAL && rc != NOA_ETOOBIG && rc != NOA_ENOMEM) {
        abort();
    } else if (out.len != 4 || !memchr(err.msg, '\0', sizeof(err.msg))) {
        abort(); /* a failure appends nothing */
    }
    if (memcmp(out.data, "keep", 4) != 0)
        abort();

    noa_buf_reset(&out);
    if (noa_compress_compress(codec, body, n, 1, &z) != 0)
        abort();
    if (noa_compress_decompress(codec, z.data, z.len, n, &out, &err) != 0 || out.len != n ||
        (n && memcmp(out.data, body, n) != 0))
        abort();
    noa_buf_fini(&out);
    noa_buf_fini(&z);
    return 0;
}
