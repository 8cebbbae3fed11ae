/*
 * Fuzz target for the ruler's alert-state files (querier/ruler_state.h):
 * any bytes are decoded or refused with a message, never crash; what
 * decodes re-encodes to an image that decodes to the same image again
 * (a fixed point), so a state restored after a restart is saved intact.
 * Inputs starting with '!' are a body: the magic and a correct CRC are put
 * in front, so the fuzzer reaches the body's decoder past the checksum.
 */
#include "common/buf.h"
#include "common/err.h"
#include "querier/ruler_state.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 20)
        return 0;
    struct noa_buf framed = {0};
    if (size > 0 && data[0] == '!') {
        noa_buf_append(&framed, "NOARST01", 8);
        noa_buf_put_be32(&framed, noa_crc32c(0, data + 1, size - 1));
        noa_buf_append(&framed, data + 1, size - 1);
        data = (const uint8_t *)framed.data;
        size = framed.len;
    }
    struct noa_ruler_state s;
    struct noa_error err = {0};
    int rc = noa_ruler_state_decode(data, size, &s, &err);
    noa_buf_fini(&framed);
    if (rc != 0) {
        if (!err.msg[0])
            abort(); /* a refusal says why */
        return 0;
    }
    struct noa_buf a = {0}, b = {0};
    noa_ruler_state_encode(&s, &a);
    struct noa_ruler_state s2;
    if (noa_ruler_state_decode(a.data, a.len, &s2, &err) != 0)
        abort(); /* our own image must decode */
    noa_ruler_state_encode(&s2, &b);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        abort();
    noa_ruler_state_fini(&s2);
    noa_ruler_state_fini(&s);
    noa_buf_fini(&a);
    noa_buf_fini(&b);
    return 0;
}
