/*
 * Fuzz target for relabelling (shipper/relabel.c). Input: YAML rules, then
 * a line "---labels", then name=value lines. Rules must parse or fail with
 * a message; applying them must never crash, and a kept label set holds
 * only valid names with non-empty values.
 */
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/yaml.h"
#include "shipper/kvlist.h"
#include "shipper/relabel.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void load_labels(struct noa_kvlist *l, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t len = nl ? (size_t)(nl - p) : n;
        const char *eq = memchr(p, '=', len);
        if (eq && noa_relabel_valid_name(p, (size_t)(eq - p)))
            noa_kvlist_set(l, (struct noa_str){p, (size_t)(eq - p)},
                           (struct noa_str){eq + 1, len - (size_t)(eq - p) - 1});
        p += len;
        n -= len;
        if (n) {
            p++;
            n--;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *sep = NULL;
    for (size_t i = 0; i + 9 <= size && !sep; i++)
        if (memcmp(text + i, "---labels", 9) == 0)
            sep = text + i;
    size_t ylen = sep ? (size_t)(sep - text) : size;
    struct noa_error err = {0};
    struct noa_yaml_doc *doc = NULL;
    struct noa_relabel *r = NULL;
    noa_log_set_level(NOA_LOG_ERROR);
    if (noa_yaml_parse(text, ylen, "fuzz", NULL, &doc, &err) != 0)
        return 0;
    int rc = noa_relabel_parse(doc->root, &r, &err);
    if (rc != 0) {
        if (r || err.msg[0] == '\0')
            abort();
        noa_yaml_free(doc);
        return 0;
    }
    struct noa_kvlist l;
    noa_kvlist_init(&l);
    if (sep)
        load_labels(&l, sep + 9, size - (size_t)(sep + 9 - text));
    if (noa_relabel_process(r, &l)) {
        for (uint32_t i = 0; i < l.n; i++) {
            struct noa_str n = noa_kvlist_name(&l, i);
            if (!noa_relabel_valid_name(n.p, n.len) || noa_kvlist_value(&l, i).len == 0)
                abort();
        }
    }
    struct noa_buf out = {0};
    noa_relabel_print(r, 0, &out);
    noa_buf_fini(&out);
    noa_kvlist_fini(&l);
    noa_relabel_free(r);
    noa_yaml_free(doc);
    return 0;
}
