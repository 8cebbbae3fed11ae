/*
 * Fuzz target for multi-tenant query headers: the input up to the first
 * newline is an X-Scope-OrgID value, the rest a stream selector. Parsed
 * tenants must come out sorted, distinct and valid; filtering them with the
 * selector's __tenant_id__ matchers must keep a subset, in order, and
 * rename every original___tenant_id__ matcher.
 */
#include "common/mem.h"
#include "querier/tenants.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    const char *text = (const char *)data;
    const char *nl = memchr(text, '\n', size);
    size_t hlen = nl ? (size_t)(nl - text) : size;
    struct noa_tenants t;
    struct noa_error err;
    if (noa_tenants_parse(text, hlen, 1, &t, &err) != 0)
        return 0;
    if (t.n == 0)
        abort();
    for (unsigned i = 0; i < t.n; i++) {
        if (!t.ids[i][0] || strlen(t.ids[i]) > 150 || strchr(t.ids[i], '|'))
            abort();
        if (i && strcmp(t.ids[i - 1], t.ids[i]) >= 0)
            abort(); /* sorted and distinct */
    }
    if (nl) {
        char *sel_text = noa_xstrndup(nl + 1, size - hlen - 1);
        struct noa_selector sel;
        if (noa_selector_parse_str(sel_text, &sel, &err) == 0) {
            unsigned before = t.n;
            noa_tenants_filter_selector(&t, &sel, &err);
            if (t.n > before)
                abort();
            for (unsigned i = 1; i < t.n; i++)
                if (strcmp(t.ids[i - 1], t.ids[i]) >= 0)
                    abort();
            for (unsigned i = 0; i < sel.n; i++)
                if (strcmp(sel.m[i].name, NOA_TENANTS_ORIGINAL_LABEL) == 0)
                    abort(); /* every original___tenant_id__ matcher is renamed */
            noa_selector_fini(&sel);
        }
        noa_free(sel_text);
    }
    noa_tenants_fini(&t);
    return 0;
}
