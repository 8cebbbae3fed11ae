/*
 * Byte sizes as go-humanize reads and writes them, which is how Loki reads
 * bytes in LogQL (`size > 20MB`), templates (`bytes`) and detected fields,
 * and how it prints them back. Pure; any thread.
 */
#ifndef NOA_COMMON_HUMANIZE_H
#define NOA_COMMON_HUMANIZE_H

#include "common/buf.h"
#include "common/err.h"

#include <stdint.h>

/*
 * humanize.ParseBytes: a number (digits, '.', ',' which is ignored) then
 * optional spaces and a unit, case-insensitive: none or b, k/kb (1000),
 * ki/kib (1024), and the same for m, g, t, p, e. Returns 0, or NOA_EINVAL
 * with go-humanize's message in err: "strconv.ParseFloat: parsing "x":
 * invalid syntax", "unhandled size name: x", "too large: x".
 */
int noa_humanize_parse_bytes(struct noa_str s, uint64_t *out, struct noa_error *err);

/* humanize.Bytes: "9B", "1.0kB", "82kB", "1000kB", "1.2MB" (base 1000, one
 * decimal below 10, none above), without humanize's space when space is 0. */
void noa_humanize_bytes(uint64_t v, int space, struct noa_buf *out);

#endif
