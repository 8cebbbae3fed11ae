/*
 * noa-logcli's `query` / `instant-query`: decoding a query response, the
 * per-batch printing of log streams (common labels, label filters,
 * padding, merge-sort by time) and logcli's paging loop over query_range,
 * which moves the boundary to the last printed timestamp and drops the
 * entries at that timestamp it already printed. The network is behind a
 * callback so the pager is tested without sockets. Main thread only.
 */
#ifndef NOA_LOGCLI_CLI_QUERY_H
#define NOA_LOGCLI_CLI_QUERY_H

#include "common/buf.h"
#include "logcli/cli_output.h"

#include <stddef.h>
#include <stdint.h>

enum noa_cli_query_kind {
    NOA_CLI_QUERY_STREAMS = 0,
    NOA_CLI_QUERY_MATRIX,
    NOA_CLI_QUERY_VECTOR,
    NOA_CLI_QUERY_SCALAR,
};

struct noa_cli_query_entry {
    int64_t ts_ns;
    const char *line; /* borrowed from the result */
    size_t line_len;
    size_t stream; /* index into streams */
};

/* One entry a tail follower missed (labels borrowed from the result). */
struct noa_cli_query_dropped {
    int64_t ts_ns;
    const char *labels; /* "{a=\"b\"}": as the server sent it when a string
                         * (the legacy form), formatted from the label
                         * object otherwise; NULL when absent */
};

/* One decoded response. All strings live in the result (private arena). */
struct noa_cli_query_result {
    enum noa_cli_query_kind kind;
    struct noa_cli_labels *streams; /* as returned, names sorted */
    size_t n_streams;
    struct noa_cli_query_entry *entries; /* all streams' entries */
    size_t n_entries;
    char *result_json; /* metric kinds: data.result, compact JSON */
    struct noa_cli_query_dropped *dropped; /* tail messages: dropped_entries */
    size_t n_dropped;
    void *priv;        /* private: the decoded document */
    char **owned;      /* private: formatted dropped-entry labels */
};

/*
 * Decodes a query or query_range response body. Returns 0, or NOA_EINVAL
 * with a message in err (not JSON, unknown resultType, bad entry).
 * Release with _result_fini even on failure.
 */
int noa_cli_query_parse(const char *body, size_t len, struct noa_cli_query_result *out,
                        struct noa_buf *err);
void noa_cli_query_result_fini(struct noa_cli_query_result *r);

/* Decodes one live-tail message ({"streams":[...],"dropped_entries":[...]})
 * as a streams result plus its dropped entries. Same ownership as _parse. */
int noa_cli_query_parse_tail(const char *msg, size_t len, struct noa_cli_query_result *out,
                             struct noa_buf *err);

/* Decodes a /series response ({"data":[{labels},...]}) into r->streams
 * (no entries). Same ownership as _parse. */
int noa_cli_query_parse_series(const char *body, size_t len, struct noa_cli_query_result *out,
                               struct noa_buf *err);

/*
 * Appends `series --analyze-labels` as logcli prints it: "Total Streams:
 * N", "Unique Labels: M", a blank line, then a space-aligned table "Label
 * Name  Unique Values  Found In Streams" sorted by unique values (most
 * first; ties by name, where Go's order is unspecified).
 */
void noa_cli_query_analyze_labels(const struct noa_cli_query_result *r, struct noa_buf *out);

/* The entries printed at the latest timestamp of the previous batch. */
struct noa_cli_query_last {
    int64_t ts_ns;
    size_t n;
    char **keys; /* owned: labels text + '\0' + line, per entry */
    size_t *key_lens;
};
void noa_cli_query_last_fini(struct noa_cli_query_last *l);

struct noa_cli_query_opts {
    struct noa_cli_output_opts out;
    int forward;
    int quiet;
    int include_common_labels;
    const char *const *exclude; /* --exclude-label names */
    size_t n_exclude;
    const char *const *include; /* --include-label names */
    size_t n_include;
    size_t labels_length; /* --labels-length */
};

/*
 * Prints one batch of log streams as logcli's printStream does: entries to
 * out, metadata ("Common labels: ...", "Ignoring labels key: ...", "Print
 * only labels key: ...", each line prefixed with log_prefix) to meta.
 * Skips entries equal (timestamp, stream, line) to those in *last, then
 * replaces *last with this batch's entries at its final timestamp.
 * Returns the number of entries printed.
 */
size_t noa_cli_query_print_streams(const struct noa_cli_query_opts *o,
                                   const struct noa_cli_query_result *r,
                                   struct noa_cli_query_last *last, const char *log_prefix,
                                   struct noa_buf *out, struct noa_buf *meta);

/*
 * Appends what logcli's --stats prints for a query response body: the
 * data.stats keys of stats.Result.Log (Ingester.*, Querier.*, Cache.*,
 * Summary.*) as `key \t value` lines aligned by Go's tabwriter (tabs,
 * width 8), one block per group; values humanized as Loki does. Nothing
 * when the body has no stats.
 */
void noa_cli_query_print_stats(const char *body, size_t len, struct noa_buf *out);

/* Fetches one query_range batch into body (a 2xx response body). Returns 0
 * or a negative code; the callback has already reported the error. */
typedef int (*noa_cli_query_fetch_cb)(void *ctx, int64_t limit, int64_t start_ns, int64_t end_ns,
                                      struct noa_buf *body);
/* Called with text ready for stdout / stderr after each batch. */
typedef void (*noa_cli_query_emit_cb)(void *ctx, struct noa_buf *out, struct noa_buf *meta,
                                      uint64_t total_printed);

struct noa_cli_query_pager {
    int64_t limit; /* 0: unlimited */
    int64_t batch;
    int64_t start_ns, end_ns;
    noa_cli_query_fetch_cb fetch_cb;
    noa_cli_query_emit_cb emit_cb;
    void *ctx;
    const char *(*prefix_cb)(void *ctx); /* the log prefix for metadata */
};

/*
 * logcli's paging loop: requests min(limit, batch), then keeps asking with
 * end = last_ts + 1 ns (backward) or start = last_ts (forward) until a
 * batch prints nothing, the limit is reached or the result is a metric
 * (printed whole, as JSON). Returns 0, the fetch callback's error, or
 * NOA_EINVAL with err set (undecodable response, or more entries share one
 * timestamp than --batch can page past, logcli's "Invalid batch size").
 */
int noa_cli_query_run(const struct noa_cli_query_opts *o, const struct noa_cli_query_pager *p,
                      struct noa_buf *err);

#endif
