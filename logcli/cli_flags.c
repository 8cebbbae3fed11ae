/*
 * noa-logcli's command line (see cli_flags.h): one table of flags (name,
 * short form, type, which commands take it, environment variable, help),
 * read by the parser and by --help alike. Main thread.
 */
#include "logcli/cli_flags.h"

#include "common/err.h"
#include "common/logql.h"
#include "common/mem.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum ftype { T_BOOL, T_STR, T_INT, T_DUR, T_LIST, T_OUTPUT, T_TZ, T_TSFMT };

#define C(x) (1u << NOA_CLI_CMD_##x)
#define RANGE_CMDS (C(QUERY) | C(LABELS) | C(SERIES) | C(STATS) | C(VOLUME) | C(VOLUME_RANGE) | C(DETECTED_FIELDS))
#define LOGQ_CMDS (C(QUERY) | C(INSTANT))
#define OFF(f) offsetof(struct noa_cli_flags, f)

struct fdef {
    const char *name;
    char shortc;
    enum ftype type;
    unsigned cmds; /* 0: global */
    size_t off;
    const char *env; /* comma-separated, first set wins */
    const char *help;
};

static const struct fdef k_flags[] = {
    {"help", 'h', T_BOOL, 0, OFF(help), NULL, "Show context-sensitive help."},
    {"version", 0, T_BOOL, 0, OFF(version), NULL, "Show application version."},
    {"quiet", 'q', T_BOOL, 0, OFF(quiet), NULL, "Suppress query metadata"},
    {"stats", 0, T_BOOL, 0, OFF(stats), NULL, "Show query statistics"},
    {"output", 'o', T_OUTPUT, 0, OFF(output), NULL, "Specify output mode [default, raw, jsonl]. raw suppresses log labels and timestamp."},
    {"timezone", 'z', T_TZ, 0, OFF(utc), NULL, "Specify the timezone to use when formatting output timestamps [Local, UTC]"},
    {"output-timestamp-format", 0, T_TSFMT, 0, OFF(tsfmt), NULL, "Specify the format of timestamps in the default output mode [rfc3339, rfc3339nano, rfc822z, rfc1123z, stampmicro, stampmilli, stampnano, unixdate]"},
    {"addr", 0, T_STR, 0, OFF(addr), "NOA_ADDR,LOKI_ADDR", "Server address. Can also be set using NOA_ADDR or LOKI_ADDR env var."},
    {"username", 0, T_STR, 0, OFF(username), "LOKI_USERNAME", "Username for HTTP basic auth. Can also be set using LOKI_USERNAME env var."},
    {"password", 0, T_STR, 0, OFF(password), "LOKI_PASSWORD", "Password for HTTP basic auth. Can also be set using LOKI_PASSWORD env var."},
    {"ca-cert", 0, T_STR, 0, OFF(ca_cert), "LOKI_CA_CERT_PATH", "Path to the server Certificate Authority. Can also be set using LOKI_CA_CERT_PATH env var."},
    {"tls-skip-verify", 0, T_BOOL, 0, OFF(tls_skip_verify), "LOKI_TLS_SKIP_VERIFY", "Server certificate TLS skip verify. Can also be set using LOKI_TLS_SKIP_VERIFY env var."},
    {"cert", 0, T_STR, 0, OFF(cert), "LOKI_CLIENT_CERT_PATH", "Path to the client certificate. Can also be set using LOKI_CLIENT_CERT_PATH env var."},
    {"key", 0, T_STR, 0, OFF(key), "LOKI_CLIENT_KEY_PATH", "Path to the client certificate key. Can also be set using LOKI_CLIENT_KEY_PATH env var."},
    {"tls-server-name", 0, T_STR, 0, OFF(tls_server_name), "LOKI_CLIENT_TLS_SERVER_NAME", "Server name override for TLS (accepted, not applied: the host name of --addr is verified)."},
    {"org-id", 0, T_STR, 0, OFF(org_id), "LOKI_ORG_ID", "adds X-Scope-OrgID to API requests for representing tenant ID. Useful for requesting tenant data when bypassing an auth gateway. Can also be set using LOKI_ORG_ID env var."},
    {"query-tags", 0, T_STR, 0, OFF(query_tags), "LOKI_QUERY_TAGS", "adds X-Query-Tags http header to API requests. Can also be set using LOKI_QUERY_TAGS env var."},
    {"nocache", 0, T_BOOL, 0, OFF(nocache), "LOKI_NO_CACHE", "adds Cache-Control: no-cache http header to API requests."},
    {"bearer-token", 0, T_STR, 0, OFF(bearer_token), "LOKI_BEARER_TOKEN", "adds the Authorization header to API requests for authentication purposes. Can also be set using LOKI_BEARER_TOKEN env var."},
    {"bearer-token-file", 0, T_STR, 0, OFF(bearer_token_file), "LOKI_BEARER_TOKEN_FILE", "adds the Authorization header to API requests for authentication purposes. Can also be set using LOKI_BEARER_TOKEN_FILE env var."},
    {"retries", 0, T_INT, 0, OFF(retries), "LOKI_CLIENT_RETRIES", "How many times to retry each query when getting an error response from Loki. Can also be set using LOKI_CLIENT_RETRIES env var."},
    {"min-backoff", 0, T_INT, 0, OFF(min_backoff_s), "LOKI_CLIENT_MIN_BACKOFF", "Minimum backoff time between retries (seconds). Can also be set using LOKI_CLIENT_MIN_BACKOFF env var."},
    {"max-backoff", 0, T_INT, 0, OFF(max_backoff_s), "LOKI_CLIENT_MAX_BACKOFF", "Maximum backoff time between retries (seconds). Can also be set using LOKI_CLIENT_MAX_BACKOFF env var."},
    {"auth-header", 0, T_STR, 0, OFF(auth_header), "LOKI_AUTH_HEADER", "The authorization header used. Can also be set using LOKI_AUTH_HEADER env var."},
    {"header", 0, T_LIST, 0, OFF(headers), NULL, "Add a header \"Name: value\" to every request (repeatable)."},
    {"proxy-url", 0, T_STR, 0, OFF(proxy_url), "LOKI_HTTP_PROXY_URL", "The http or https proxy to use."},
    {"compress", 0, T_BOOL, 0, OFF(compress), "LOKI_HTTP_COMPRESSION", "Request that Loki compress returned data in transit. (accepted, not applied)"},
    {"cpuprofile", 0, T_STR, 0, OFF(cpuprofile), NULL, "Specify the location for writing a CPU profile. (accepted, ignored)"},
    {"memprofile", 0, T_STR, 0, OFF(memprofile), NULL, "Specify the location for writing a memory profile. (accepted, ignored)"},

    {"limit", 0, T_INT, LOGQ_CMDS | C(VOLUME) | C(VOLUME_RANGE) | C(DETECTED_FIELDS), OFF(limit), NULL, "Limit on number of entries to print. Setting it to 0 will fetch all entries."},
    {"batch", 0, T_INT, C(QUERY), OFF(batch), NULL, "Query batch size to use until 'limit' is reached"},
    {"since", 0, T_DUR, RANGE_CMDS, OFF(since_ns), NULL, "Lookback window."},
    {"from", 0, T_STR, RANGE_CMDS, OFF(from), NULL, "Start looking for logs at this absolute time (inclusive)"},
    {"to", 0, T_STR, RANGE_CMDS, OFF(to), NULL, "Stop looking for logs at this absolute time (exclusive)"},
    {"now", 0, T_STR, C(INSTANT), OFF(now), NULL, "Time at which to execute the instant query."},
    {"step", 0, T_DUR, C(QUERY) | C(VOLUME_RANGE) | C(DETECTED_FIELDS), OFF(step_ns), NULL, "Query resolution step width, for metric queries. Evaluate the query at the specified step over the time range."},
    {"interval", 0, T_DUR, C(QUERY), OFF(interval_ns), NULL, "Query interval, for log queries. Return entries at the specified interval, ignoring those between."},
    {"parallel-duration", 0, T_DUR, C(QUERY), OFF(parallel_duration_ns), NULL, "Split the range into jobs of this length. (accepted; noa-logcli queries sequentially)"},
    {"parallel-max-workers", 0, T_INT, C(QUERY), OFF(parallel_max_workers), NULL, "Max number of workers to start up for parallel jobs. (accepted; noa-logcli queries sequentially)"},
    {"forward", 0, T_BOOL, LOGQ_CMDS, OFF(forward), NULL, "Scan forwards through logs."},
    {"no-labels", 0, T_BOOL, LOGQ_CMDS, OFF(no_labels), NULL, "Do not print any labels"},
    {"exclude-label", 0, T_LIST, LOGQ_CMDS, OFF(exclude), NULL, "Exclude labels given the provided key during output."},
    {"include-label", 0, T_LIST, LOGQ_CMDS, OFF(include), NULL, "Include labels given the provided key during output."},
    {"include-common-labels", 0, T_BOOL, LOGQ_CMDS, OFF(include_common_labels), NULL, "Include common labels in output for each log line."},
    {"labels-length", 0, T_INT, LOGQ_CMDS, OFF(labels_length), NULL, "Set a fixed padding to labels"},
    {"colored-output", 0, T_BOOL, LOGQ_CMDS, OFF(colored), NULL, "Show output with colored labels"},
    {"tail", 't', T_BOOL, C(QUERY), OFF(tail), NULL, "Tail the logs"},
    {"follow", 'f', T_BOOL, C(QUERY), OFF(tail), NULL, "Alias for --tail"},
    {"delay-for", 0, T_INT, C(QUERY), OFF(delay_for), NULL, "Delay in tailing by number of seconds to accumulate logs for re-ordering"},
    {"analyze-labels", 0, T_BOOL, C(SERIES), OFF(analyze_labels), NULL, "Printout more details about labels"},
    {"targetLabels", 0, T_LIST, C(VOLUME) | C(VOLUME_RANGE), OFF(target_labels), NULL, "List of labels to aggregate results into."},
    {"aggregateByLabels", 0, T_BOOL, C(VOLUME) | C(VOLUME_RANGE), OFF(aggregate_by_labels), NULL, "Whether to aggregate results by label name only."},
    {"line-limit", 0, T_INT, C(DETECTED_FIELDS), OFF(line_limit), NULL, "Limit on number of lines to scan per sub-query."},
};
#define N_FLAGS (sizeof(k_flags) / sizeof(k_flags[0]))

static const struct {
    const char *name;
    const char *args; /* usage of positional arguments */
    size_t min_args, max_args;
    const char *help;
} k_cmds[NOA_CLI_CMD_COUNT] = {
    [NOA_CLI_CMD_QUERY] = {"query", "<query>", 1, 1, "Run a LogQL query."},
    [NOA_CLI_CMD_INSTANT] = {"instant-query", "<query>", 1, 1, "Run an instant LogQL query."},
    [NOA_CLI_CMD_LABELS] = {"labels", "[<label>]", 0, 1, "Find values for a given label."},
    [NOA_CLI_CMD_SERIES] = {"series", "<matcher>", 1, 1, "Run series query."},
    [NOA_CLI_CMD_STATS] = {"stats", "<query>", 1, 1, "Run a stats query."},
    [NOA_CLI_CMD_VOLUME] = {"volume", "<query>", 1, 1, "Run a volume query."},
    [NOA_CLI_CMD_VOLUME_RANGE] = {"volume_range", "<query>", 1, 1, "Run a volume query and return timeseries data."},
    [NOA_CLI_CMD_DETECTED_FIELDS] = {"detected-fields", "<query> [<field>]", 1, 2, "Run a query for detected fields."},
    [NOA_CLI_CMD_FMT] = {"fmt", "", 0, 0, "Formats a LogQL query."},
};

static const char *const k_outputs[] = {"default", "raw", "jsonl"};
static const char *const k_tsfmts[] = {"rfc3339",    "rfc3339nano", "rfc822z",  "rfc1123z",
                                       "stampmicro", "stampmilli",  "stampnano", "unixdate"};

static int pick(const char *v, const char *const *vals, size_t n, const char *list,
                struct noa_buf *err)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v, vals[i]))
            return (int)i;
    noa_buf_printf(err, "enum value must be one of %s, got '%s'", list, v);
    return NOA_EINVAL;
}

/* Stores value v for flag d (v NULL only for booleans given bare). */
static int set_flag(struct noa_cli_flags *f, const struct fdef *d, const char *v, int neg,
                    struct noa_buf *err)
{
    char *p = (char *)f + d->off;
    char *end;
    switch (d->type) {
    case T_BOOL:
        if (v && strcmp(v, "true") && strcmp(v, "false") && strcmp(v, "1") && strcmp(v, "0")) {
            noa_buf_printf(err, "strconv.ParseBool: parsing \"%s\": invalid syntax", v);
            return NOA_EINVAL;
        }
        *(int *)p = v ? (!strcmp(v, "true") || !strcmp(v, "1")) : !neg;
        return 0;
    case T_STR:
        *(const char **)p = v;
        return 0;
    case T_INT: {
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (!*v || *end || errno) {
            noa_buf_printf(err, "strconv.ParseInt: parsing \"%s\": invalid syntax", v);
            return NOA_EINVAL;
        }
        *(int64_t *)p = (int64_t)n;
        return 0;
    }
    case T_DUR:
        if (noa_logql_lex_go_duration(v, strlen(v), (int64_t *)p) < 0) {
            noa_buf_printf(err, "time: invalid duration \"%s\"", v);
            return NOA_EINVAL;
        }
        return 0;
    case T_LIST: {
        struct noa_cli_flags_list *l = (struct noa_cli_flags_list *)p;
        l->v = noa_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
        l->v[l->n++] = v;
        return 0;
    }
    case T_OUTPUT: {
        int k = pick(v, k_outputs, 3, "default,raw,jsonl", err);
        if (k < 0)
            return k;
        *(enum noa_cli_output_mode *)p = (enum noa_cli_output_mode)k;
        return 0;
    }
    case T_TZ: {
        static const char *const tz[] = {"Local", "UTC"};
        int k = pick(v, tz, 2, "Local,UTC", err);
        if (k < 0)
            return k;
        *(int *)p = k;
        return 0;
    }
    case T_TSFMT: {
        int k = pick(v, k_tsfmts, 8,
                     "rfc3339,rfc3339nano,rfc822z,rfc1123z,stampmicro,stampmilli,stampnano,unixdate",
                     err);
        if (k < 0)
            return k;
        *(enum noa_cli_output_tsfmt *)p = (enum noa_cli_output_tsfmt)k;
        return 0;
    }
    }
    return NOA_EINVAL;
}

/* A flag usable here: global, or belonging to the command (or any command
 * when none is known yet, as kingpin accepts flags before the command). */
static const struct fdef *find_long(const char *name, size_t n, enum noa_cli_flags_cmd cmd)
{
    for (size_t i = 0; i < N_FLAGS; i++) {
        const struct fdef *d = &k_flags[i];
        if (strlen(d->name) != n || memcmp(d->name, name, n))
            continue;
        if (d->cmds == 0 || (cmd != NOA_CLI_CMD_NONE && (d->cmds & (1u << cmd))))
            return d;
    }
    return NULL;
}

static const struct fdef *find_short(char c, enum noa_cli_flags_cmd cmd)
{
    for (size_t i = 0; i < N_FLAGS; i++) {
        const struct fdef *d = &k_flags[i];
        if (d->shortc == c && (d->cmds == 0 || (cmd != NOA_CLI_CMD_NONE && (d->cmds & (1u << cmd)))))
            return d;
    }
    return NULL;
}

static void set_defaults(struct noa_cli_flags *f, noa_cli_flags_env_cb env, struct noa_buf *err)
{
    memset(f, 0, sizeof(*f));
    f->addr = "http://localhost:3100";
    f->limit = -1;
    f->batch = 1000;
    f->since_ns = 3600LL * 1000000000LL;
    f->auth_header = "Authorization";
    f->line_limit = 1000;
    if (!env)
        return;
    for (size_t i = 0; i < N_FLAGS; i++) {
        const char *e = k_flags[i].env;
        while (e && *e) {
            const char *comma = strchr(e, ',');
            size_t n = comma ? (size_t)(comma - e) : strlen(e);
            char name[64];
            if (n < sizeof(name)) {
                memcpy(name, e, n);
                name[n] = 0;
                const char *v = env(name);
                if (v && *v) {
                    /* A bad environment value is reported like a flag. */
                    (void)set_flag(f, &k_flags[i], v, 0, err);
                    break;
                }
            }
            e = comma ? comma + 1 : NULL;
        }
    }
}

int noa_cli_flags_parse(int argc, char **argv, noa_cli_flags_env_cb env, struct noa_cli_flags *f,
                        struct noa_buf *err)
{
    int rc = 0;
    int only_args = 0;
    set_defaults(f, env, err);
    if (err->len)
        return NOA_EINVAL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_args && !strcmp(a, "--")) {
            only_args = 1;
        } else if (!only_args && a[0] == '-' && a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t n = eq ? (size_t)(eq - name) : strlen(name);
            int neg = 0;
            const struct fdef *d = find_long(name, n, f->cmd);
            if (!d && n > 3 && !memcmp(name, "no-", 3)) {
                d = find_long(name + 3, n - 3, f->cmd);
                neg = d && d->type == T_BOOL;
                if (!neg)
                    d = NULL;
            }
            if (!d) {
                noa_buf_printf(err, "unknown long flag '--%.*s'", (int)n, name);
                return NOA_EINVAL;
            }
            const char *v = eq ? eq + 1 : NULL;
            if (!v && d->type != T_BOOL) {
                if (i + 1 >= argc) {
                    noa_buf_printf(err, "expected argument for flag '--%s'", d->name);
                    return NOA_EINVAL;
                }
                v = argv[++i];
            }
            if ((rc = set_flag(f, d, v, neg, err)) < 0)
                return rc;
        } else if (!only_args && a[0] == '-' && a[1]) {
            const char *p = a + 1;
            while (*p) {
                const struct fdef *d = find_short(*p, f->cmd);
                if (!d) {
                    noa_buf_printf(err, "unknown short flag '-%c'", *p);
                    return NOA_EINVAL;
                }
                if (d->type == T_BOOL) {
                    if ((rc = set_flag(f, d, NULL, 0, err)) < 0)
                        return rc;
                    p++;
                    continue;
                }
                const char *v = p[1] ? p + 1 : NULL;
                if (!v) {
                    if (i + 1 >= argc) {
                        noa_buf_printf(err, "expected argument for flag '-%c'", *p);
                        return NOA_EINVAL;
                    }
                    v = argv[++i];
                }
                if ((rc = set_flag(f, d, v, 0, err)) < 0)
                    return rc;
                break;
            }
        } else if (f->cmd == NOA_CLI_CMD_NONE) {
            for (int c = 1; c < NOA_CLI_CMD_COUNT; c++)
                if (!strcmp(a, k_cmds[c].name))
                    f->cmd = (enum noa_cli_flags_cmd)c;
            if (f->cmd == NOA_CLI_CMD_NONE) {
                noa_buf_printf(err, "expected command but got \"%s\"", a);
                return NOA_EINVAL;
            }
        } else {
            if (f->n_args >= k_cmds[f->cmd].max_args) {
                noa_buf_printf(err, "unexpected %s", a);
                return NOA_EINVAL;
            }
            f->args[f->n_args++] = a;
        }
    }
    if (f->help || f->version)
        return 0;
    if (f->cmd == NOA_CLI_CMD_NONE) {
        noa_buf_printf(err, "command not specified");
        return NOA_EINVAL;
    }
    if (f->n_args < k_cmds[f->cmd].min_args) {
        noa_buf_printf(err, "required argument '%s' not provided",
                       f->cmd == NOA_CLI_CMD_SERIES ? "matcher" : "query");
        return NOA_EINVAL;
    }
    if (f->limit < 0)
        f->limit = f->cmd == NOA_CLI_CMD_DETECTED_FIELDS ? 100 : 30;
    if (f->step_ns == 0 && f->cmd == NOA_CLI_CMD_VOLUME_RANGE)
        f->step_ns = 3600LL * 1000000000LL;
    if (f->step_ns == 0 && f->cmd == NOA_CLI_CMD_DETECTED_FIELDS)
        f->step_ns = 10LL * 1000000000LL;
    if (f->batch <= 0) {
        noa_buf_printf(err, "batch size must be positive");
        return NOA_EINVAL;
    }
    return 0;
}

void noa_cli_flags_fini(struct noa_cli_flags *f)
{
    struct noa_cli_flags_list *lists[] = {&f->headers, &f->exclude, &f->include, &f->target_labels};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        noa_free(lists[i]->v);
        lists[i]->v = NULL;
        lists[i]->n = 0;
    }
}

/* The "=value" kingpin shows after a flag: its default, or the flag's
 * name upper-cased as a placeholder when it has none. */
static void default_text(struct noa_buf *out, const struct fdef *d, enum noa_cli_flags_cmd cmd)
{
    static const struct {
        const char *name;
        int cmd; /* NOA_CLI_CMD_NONE: any */
        const char *text;
    } known[] = {
        {"output", 0, "default"},
        {"timezone", 0, "Local"},
        {"output-timestamp-format", 0, "rfc3339"},
        {"addr", 0, "\"http://localhost:3100\""},
        {"auth-header", 0, "\"Authorization\""},
        {"retries", 0, "0"},
        {"min-backoff", 0, "0"},
        {"max-backoff", 0, "0"},
        {"limit", NOA_CLI_CMD_DETECTED_FIELDS, "100"},
        {"limit", 0, "30"},
        {"batch", 0, "1000"},
        {"since", 0, "1h"},
        {"step", NOA_CLI_CMD_VOLUME_RANGE, "1h"},
        {"step", NOA_CLI_CMD_DETECTED_FIELDS, "10s"},
        {"labels-length", 0, "0"},
        {"delay-for", 0, "0"},
        {"line-limit", 0, "1000"},
        {"parallel-duration", 0, "1h"},
        {"parallel-max-workers", 0, "1"},
    };
    if (d->type == T_BOOL)
        return;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(known[i].name, d->name) || (known[i].cmd && known[i].cmd != (int)cmd))
            continue;
        noa_buf_printf(out, "=%s", known[i].text);
        return;
    }
    if (d->cmds == 0 && d->type == T_STR) {
        noa_buf_printf(out, "=\"\"");
        return;
    }
    noa_buf_putc(out, '=');
    for (const char *p = d->name; *p; p++)
        noa_buf_putc(out, (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p));
    if (d->type == T_LIST)
        noa_buf_printf(out, " ...");
}

/* kingpin's two-column layout: indent 2, the left column as wide as its
 * widest entry under 30 characters, 2 spaces, then the help; a wider
 * entry puts its help on the next line. */
static void help_flags(struct noa_buf *out, enum noa_cli_flags_cmd cmd)
{
    struct noa_buf left = {0};
    size_t width = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < N_FLAGS; i++) {
            const struct fdef *d = &k_flags[i];
            if (d->cmds != 0 && (cmd == NOA_CLI_CMD_NONE || !(d->cmds & (1u << cmd))))
                continue;
            left.len = 0;
            if (d->shortc)
                noa_buf_printf(&left, "-%c, --%s", d->shortc, d->name);
            else
                noa_buf_printf(&left, "    --%s", d->name);
            default_text(&left, d, cmd);
            if (pass == 0) {
                if (left.len > width && left.len < 30)
                    width = left.len;
                continue;
            }
            noa_buf_printf(out, "  %-*s  ", (int)width, noa_buf_cstr(&left));
            if (left.len >= 30)
                noa_buf_printf(out, "\n  %*s  ", (int)width, "");
            noa_buf_printf(out, "%s\n", d->help);
        }
    }
    noa_buf_fini(&left);
}

void noa_cli_flags_help(enum noa_cli_flags_cmd cmd, struct noa_buf *out)
{
    if (cmd == NOA_CLI_CMD_NONE) {
        noa_buf_printf(out, "usage: logcli [<flags>] <command> [<args> ...]\n\n"
                            "A command-line for loki (noa-logcli).\n\nFlags:\n");
        help_flags(out, NOA_CLI_CMD_NONE);
        noa_buf_printf(out, "\nCommands:\n");
        for (int c = 1; c < NOA_CLI_CMD_COUNT; c++)
            noa_buf_printf(out, "  %s %s\n    %s\n\n", k_cmds[c].name, k_cmds[c].args,
                           k_cmds[c].help);
        return;
    }
    noa_buf_printf(out, "usage: logcli %s [<flags>] %s\n\n%s\n\nFlags:\n", k_cmds[cmd].name,
                   k_cmds[cmd].args, k_cmds[cmd].help);
    help_flags(out, cmd);
}
