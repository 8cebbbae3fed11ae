/*
 * `| decolorize`: removes ANSI escape sequences (colours, cursor moves,
 * OSC titles) from a log line the way Loki's stripansi expression does
 * (pkg/logql/log/fmt.go). Pure function; any thread.
 */
#ifndef NOA_COMMON_DECOLOR_H
#define NOA_COMMON_DECOLOR_H

#include "common/buf.h"

/* Returns the line without escape sequences: `line` itself when it has
 * none, else a view of scratch (reset first), borrowed until the next use
 * of scratch. */
struct noa_str noa_decolor_run(struct noa_str line, struct noa_buf *scratch);

#endif
