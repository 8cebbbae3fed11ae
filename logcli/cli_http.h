/*
 * noa-logcli's requests: URL building as Go's url.Values.Encode (keys
 * sorted, QueryEscape), RFC3339Nano parsing of --from/--to/--now, Go
 * duration and float formatting of step parameters, and the request loop
 * with logcli's headers, retries and messages. Main thread.
 */
#ifndef NOA_LOGCLI_CLI_HTTP_H
#define NOA_LOGCLI_CLI_HTTP_H

#include "common/buf.h"
#include "logcli/cli_flags.h"

#include <stdint.h>

/* One query parameter; values are borrowed. */
struct noa_cli_http_param {
    const char *key;
    const char *value;
};

/* Appends Go's url.QueryEscape(s). */
void noa_cli_http_escape(struct noa_buf *out, const char *s);

/* Appends base + path + "?" + params sorted by key (url.Values.Encode). */
void noa_cli_http_url(struct noa_buf *out, const char *base, const char *path,
                      struct noa_cli_http_param *params, size_t n);

/* Parses RFC3339 / RFC3339Nano into Unix ns. Returns 0 or NOA_EINVAL. */
int noa_cli_http_parse_time(const char *s, int64_t *out_ns);

/* Appends time.Duration.String() ("10s", "1m30s", "500ms", "0s"). */
void noa_cli_http_go_duration(struct noa_buf *out, int64_t ns);

/* Appends strconv.FormatFloat(ns / 1e9, 'f', -1, 64) ("60", "0.5"). */
void noa_cli_http_seconds(struct noa_buf *out, int64_t ns);

struct noa_cli_http;

/* Creates the client from the flags (headers, auth, proxy). Returns 0,
 * NOA_EINVAL with err (unreadable --bearer-token-file) or NOA_ENOMEM. */
int noa_cli_http_new(const struct noa_cli_flags *f, struct noa_cli_http **out,
                     struct noa_buf *err);
void noa_cli_http_free(struct noa_cli_http *h);

/*
 * GETs addr + path with params into body, as logcli's client: logs the URL
 * on stderr unless quiet, tries 1 + --retries times, and on failure logs
 * each attempt's error ("error response from server: <body> (<nil>)
 * attempts remaining: N") and returns NOA_EUNAVAIL.
 */
int noa_cli_http_get(struct noa_cli_http *h, const char *path, struct noa_cli_http_param *params,
                     size_t n, struct noa_buf *body);

/* The request headers every request carries ("Name: value"), borrowed
 * until _free; *n receives their count. */
const char *const *noa_cli_http_headers(const struct noa_cli_http *h, size_t *n);

/* The Go log prefix for now, valid until the next call. */
const char *noa_cli_http_logprefix(void);

#endif
