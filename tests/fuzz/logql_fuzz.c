/*
 * Fuzz target for the LogQL parser: any input must parse or fail cleanly;
 * a query that parses must format to text that parses again, and
 * formatting must reach a fixed point by the second round (byte sizes are
 * printed rounded, as Loki prints them, so the first round may move a
 * value: 999900B prints as 1000kB, which prints as 1.0MB); with no leak
 * (allocation count back to where it started).
 */
#include "common/logql.h"
#include "common/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    int64_t before = noa_mem_in_use();
    struct noa_logql_expr *e = NULL, *again = NULL, *third = NULL;
    struct noa_error err = {0};
    if (noa_logql_parse((const char *)data, size, &e, &err) == 0) {
        struct noa_buf a = {0}, b = {0}, c = {0};
        noa_logql_format(e, &a);
        if (noa_logql_parse(a.data ? a.data : "", a.len, &again, &err) != 0)
            abort(); /* the canonical form must parse */
        noa_logql_format(again, &b);
        if (noa_logql_parse(b.data ? b.data : "", b.len, &third, &err) != 0)
            abort();
        noa_logql_format(third, &c);
        if (b.len != c.len || (b.len && memcmp(b.data, c.data, b.len) != 0))
            abort(); /* and print the same */
        noa_buf_fini(&a);
        noa_buf_fini(&b);
        noa_buf_fini(&c);
        noa_logql_free(third);
        noa_logql_free(again);
        noa_logql_free(e);
    } else if (e != NULL || err.code != NOA_EINVAL || err.msg[0] == 0) {
        abort(); /* failures leave no tree and always explain themselves */
    }
    if (noa_mem_in_use() != before)
        abort();
    return 0;
}
