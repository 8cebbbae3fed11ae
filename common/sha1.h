/*
 * SHA-1 (FIPS 180-4), only for the websocket handshake's
 * Sec-WebSocket-Accept (RFC 6455 section 4.2.2), where it is a protocol
 * requirement rather than a security measure. Pure functions; any thread.
 */
#ifndef NOA_COMMON_SHA1_H
#define NOA_COMMON_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define NOA_SHA1_LEN 20

struct noa_sha1 {
    /* private */
    uint32_t h[5];
    uint64_t total;    /* bytes hashed so far */
    uint8_t block[64]; /* partial block */
    size_t used;
};

void noa_sha1_init(struct noa_sha1 *s);
void noa_sha1_update(struct noa_sha1 *s, const void *data, size_t len);
/* Writes the 20-byte digest; s must be re-initialised before reuse. */
void noa_sha1_final(struct noa_sha1 *s, uint8_t out[NOA_SHA1_LEN]);

/* One-shot digest of data[0..len). */
void noa_sha1_digest(const void *data, size_t len, uint8_t out[NOA_SHA1_LEN]);

#endif
