/*
 * Fuzz target for push label text and stream selectors: the first byte
 * picks the parser (labels or selector); the rest is the text. Parsed
 * results are formatted and, for labels, re-parsed: the canonical form must
 * parse back to the same set.
 */
#include "common/labels.h"
#include "common/mem.h"
#include "common/selector.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1 << 16)
        return 0;
    char *text = noa_xstrndup((const char *)data + 1, size - 1);
    struct noa_error err;
    if (data[0] & 1) {
        struct noa_selector sel;
        if (noa_selector_parse_str(text, &sel, &err) == 0) {
            struct noa_buf b = {0};
            noa_selector_format(&sel, &b);
            struct noa_selector again;
            if (noa_selector_parse_str(noa_buf_cstr(&b), &again, &err) != 0)
                abort(); /* the canonical form must parse */
            noa_selector_fini(&again);
            noa_buf_fini(&b);
            noa_selector_fini(&sel);
        }
    } else {
        struct noa_arena a = {0};
        struct noa_labels ls, back;
        if (noa_labels_parse((struct noa_str){text, size - 1}, &a, &ls, &err) == 0) {
            struct noa_buf b = {0};
            noa_labels_format(&ls, &b);
            if (noa_labels_parse((struct noa_str){b.data, b.len}, &a, &back, &err) != 0 ||
                noa_labels_cmp(&ls, &back) != 0)
                abort(); /* canonical text must round-trip */
            noa_buf_fini(&b);
        }
        noa_arena_fini(&a);
    }
    noa_free(text);
    return 0;
}
