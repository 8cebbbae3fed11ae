/*
 * Fuzz target for shipper/glob.c: the input is "pattern\npath"; any
 * pattern must compile or fail cleanly, and matching must terminate
 * without reading out of bounds. A literal pattern must match itself.
 */
#include "common/err.h"
#include "shipper/glob.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char *nl = memchr(s, '\n', size);
    const char *path = "";
    if (nl) {
        *nl = '\0';
        path = nl + 1;
    }
    struct noa_glob *g = NULL;
    struct noa_error err = {0};
    if (noa_glob_new(s, &g, &err) == 0) {
        (void)noa_glob_match(g, path, strlen(path));
        if (noa_glob_is_literal(g) && !noa_glob_match(g, s, strlen(s)))
            abort();
        noa_glob_free(g);
    }
    free(s);
    return 0;
}
