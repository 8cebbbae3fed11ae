/*
 * noa-logcli's `query --tail`: a blocking websocket client for GET
 * /loki/api/v1/tail (plain ws:// only) and the printing of each message
 * as logcli's TailQuery does it (labels filtered but not elided, no
 * padding, dropped entries reported on stderr). Reconnects from the last
 * timestamp when the connection drops without a close frame, at most 5
 * times, as logcli. Main thread.
 */
#ifndef NOA_LOGCLI_CLI_TAIL_H
#define NOA_LOGCLI_CLI_TAIL_H

#include "common/buf.h"
#include "logcli/cli_query.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Prints one decoded tail message: entries to out, "Server dropped
 * following entries due to slow client" and one line per dropped entry to
 * meta (each prefixed with log_prefix). *last_ts becomes the last printed
 * entry's timestamp. Returns the number of entries printed.
 */
size_t noa_cli_tail_print(const struct noa_cli_query_opts *o, const struct noa_cli_query_result *r,
                          const char *log_prefix, struct noa_buf *out, struct noa_buf *meta,
                          int64_t *last_ts);

struct noa_cli_tail_opts {
    const struct noa_cli_query_opts *query;
    const char *addr;  /* http://host[:port][/prefix] */
    const char *logql;
    int64_t start_ns;
    int64_t limit;
    int64_t delay_for_s;
    const char *const *headers; /* "Name: value", borrowed */
    size_t n_headers;
    int quiet;
    const char *(*prefix_cb)(void);
};

/*
 * Follows the query until the server closes the websocket (returns 0) or
 * the connection cannot be (re)established (returns a negative code with
 * err set, e.g. "websocket: bad handshake (400: <body>)"). Writes entries
 * to stdout and metadata to stderr as they arrive.
 */
int noa_cli_tail_run(const struct noa_cli_tail_opts *t, struct noa_buf *err);

#endif
