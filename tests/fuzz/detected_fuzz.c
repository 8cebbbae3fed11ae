/*
 * Fuzz target for querier/detected and querier/fieldtype: the input is
 * split at newlines into sampled lines; each line is fed to a fields
 * collector and to a values collector (field "a"), with the line's first
 * word also given as structured metadata and as a query-parsed label, and
 * classified by noa_fieldtype_of. Both answers must be valid-looking JSON
 * objects ending in a newline; no crash, leak or unbounded work.
 */
#include "common/buf.h"
#include "common/mem.h"
#include "querier/detected.h"
#include "querier/fieldtype.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_json(const struct noa_buf *b)
{
    if (b->len < 3 || b->data[0] != '{' || b->data[b->len - 1] != '\n' || b->data[b->len - 2] != '}')
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct noa_detected *fields = NULL, *values = NULL;
    struct noa_detected_options fo = {.limit = 50}, vo = {.limit = 50, .name = "a"};
    struct noa_label sl[] = {{NOA_STR("app"), NOA_STR("x")}, {NOA_STR("level"), NOA_STR("info")}};
    struct noa_labels stream = {sl, 2};
    struct noa_buf out = {0};
    if (noa_detected_new(&fo, &fields) < 0 || noa_detected_new(&vo, &values) < 0)
        abort();
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        struct noa_str line = {p, len};
        const char *sp = memchr(p, ' ', len);
        struct noa_str word = {p, sp ? (size_t)(sp - p) : len};
        struct noa_label kv[] = {{NOA_STR("trace_id"), word}, {NOA_STR("a"), word}};
        (void)noa_fieldtype_of(line);
        (void)noa_fieldtype_of(word);
        noa_detected_add(fields, &stream, kv, 1, kv + 1, 1, line);
        noa_detected_add(values, &stream, kv + 1, 1, NULL, 0, line);
        p += len + (nl != NULL);
    }
    noa_detected_encode(fields, &out);
    check_json(&out);
    noa_buf_reset(&out);
    noa_detected_encode(values, &out);
    check_json(&out);
    noa_buf_fini(&out);
    noa_detected_free(fields);
    noa_detected_free(values);
    return 0;
}
