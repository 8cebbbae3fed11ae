/*
 * Fuzz target for the positions-file loader (shipper/positions.c): any
 * bytes must load or fail cleanly, and whatever loads must survive a save
 * and reload unchanged (serialize, parse, serialize gives the same bytes).
 */
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "shipper/positions.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct noa_error err = {0};
    struct noa_buf a = {0}, b = {0};
    struct noa_positions *p = noa_positions_new_empty();
    struct noa_positions *q = noa_positions_new_empty();
    noa_log_set_level(NOA_LOG_ERROR);
    if (noa_positions_parse(p, (const char *)data, size, "fuzz", NULL, &err) == 0) {
        noa_positions_serialize(p, &a);
        if (noa_positions_parse(q, a.data, a.len, "again", NULL, &err) != 0)
            abort(); /* noa must read what it writes */
        noa_positions_serialize(q, &b);
        if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0 ||
            noa_positions_count(p) != noa_positions_count(q))
            abort();
    } else if (err.code != NOA_ECORRUPT || err.msg[0] == '\0') {
        abort(); /* every failure is a reported corruption */
    }
    noa_buf_fini(&a);
    noa_buf_fini(&b);
    noa_positions_free(p);
    noa_positions_free(q);
    return 0;
}
