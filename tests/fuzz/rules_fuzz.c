/*
 * Fuzz target for the ruler's rule files (querier/ruler_rules.c): any input
 * must parse or fail with at least one "file:line:col" error; a file that
 * parses must format, group by group, to YAML that parses again and
 * formats to the same text; nothing may leak.
 */
#include "common/mem.h"
#include "querier/ruler_rules.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const struct noa_ruler_group *g)
{
    struct noa_buf a = {0}, b = {0}, errs = {0};
    struct noa_ruler_group again = {0};
    noa_ruler_rules_format_group(g, 0, 0, &a);
    if (noa_ruler_rules_parse_group(a.data ? a.data : "", a.len, "formatted", &again, &errs) != 0)
        abort(); /* what we print must read back */
    noa_ruler_rules_format_group(&again, 0, 0, &b);
    if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0))
        abort(); /* and print the same */
    noa_ruler_rules_group_fini(&again);
    noa_buf_fini(&a);
    noa_buf_fini(&b);
    noa_buf_fini(&errs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    int64_t before = noa_mem_in_use();
    struct noa_ruler_file f = {0};
    struct noa_buf errs = {0};
    if (noa_ruler_rules_parse((const char *)data, size, "fuzz.yaml", &f, &errs) == 0) {
        for (unsigned i = 0; i < f.n_groups; i++)
            round_trip(&f.groups[i]);
        noa_ruler_rules_file_fini(&f);
    } else if (errs.len == 0 || !memmem(errs.data, errs.len, "fuzz.yaml:", 10)) {
        abort(); /* a failure always says where */
    }
    noa_buf_fini(&errs);
    if (noa_mem_in_use() != before)
        abort();
    return 0;
}
