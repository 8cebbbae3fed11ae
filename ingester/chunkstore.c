/*
 * Chunk store dispatch: validates keys and arguments once, then calls the
 * backend's vtable. Owns nothing; any thread (backends are thread-safe).
 */
#include "ingester/chunkstore.h"

#include <string.h>

/* ".noatmp" names belong to the dir backend's temporary files. */
static int component_ok(const char *c, size_t n)
{
    if (n == 0 || n > 255)
        return 0;
    if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
        return 0;
    if (n >= 7 && memcmp(c, ".noatmp", 7) == 0)
        return 0;
    return 1;
}

int noa_chunkstore_key_valid(const char *key)
{
    size_t n = key ? strlen(key) : 0, start = 0;

    if (n == 0 || n > NOA_CHUNKSTORE_KEY_MAX)
        return 0;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)key[i];
        if (i == n || c == '/') {
            if (!component_ok(key + start, i - start))
                return 0;
            start = i + 1;
            continue;
        }
        if (c < 0x20 || c == 0x7f || c == '\\')
            return 0;
    }
    return 1;
}

int noa_chunkstore_put(struct noa_chunkstore *cs, const char *key, const void *data, size_t len)
{
    if (!noa_chunkstore_key_valid(key) || (len && !data))
        return NOA_EINVAL;
    return cs->ops->put(cs, key, data, len);
}

int noa_chunkstore_get(struct noa_chunkstore *cs, const char *key, struct noa_buf *out)
{
    if (!noa_chunkstore_key_valid(key))
        return NOA_EINVAL;
    noa_buf_reset(out);
    return cs->ops->get(cs, key, out);
}

int noa_chunkstore_get_range(struct noa_chunkstore *cs, const char *key, uint64_t off, size_t len,
                             struct noa_buf *out)
{
    if (!noa_chunkstore_key_valid(key))
        return NOA_EINVAL;
    if (len > NOA_CHUNKSTORE_MAX_GET)
        return NOA_ETOOBIG;
    noa_buf_reset(out);
    return cs->ops->get_range(cs, key, off, len, out);
}

int noa_chunkstore_delete(struct noa_chunkstore *cs, const char *key)
{
    if (!noa_chunkstore_key_valid(key))
        return NOA_EINVAL;
    return cs->ops->del(cs, key);
}

int noa_chunkstore_list(struct noa_chunkstore *cs, const char *prefix,
                        int (*cb)(const char *key, uint64_t size, void *ctx), void *ctx)
{
    size_t n = strlen(prefix);
    if (n > NOA_CHUNKSTORE_KEY_MAX)
        return NOA_EINVAL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)prefix[i];
        if (c < 0x20 || c == 0x7f || c == '\\')
            return NOA_EINVAL;
    }
    return cs->ops->list(cs, prefix, cb, ctx);
}

void noa_chunkstore_free(struct noa_chunkstore *cs)
{
    if (cs)
        cs->ops->free(cs);
}
