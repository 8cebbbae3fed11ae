/*
 * noa-logcli's command line, parsed as kingpin (logcli's parser) does:
 * `--flag value`, `--flag=value`, `-o value` / `-ojsonl`, `--no-<bool>`,
 * repeatable flags, the command and its flags in any order, environment
 * defaults, `--help` per command and an error for unknown flags.
 * Pure (the environment comes through a callback); main thread.
 */
#ifndef NOA_LOGCLI_CLI_FLAGS_H
#define NOA_LOGCLI_CLI_FLAGS_H

#include "common/buf.h"
#include "logcli/cli_output.h"

#include <stddef.h>
#include <stdint.h>

enum noa_cli_flags_cmd {
    NOA_CLI_CMD_NONE = 0,
    NOA_CLI_CMD_QUERY,
    NOA_CLI_CMD_INSTANT,
    NOA_CLI_CMD_LABELS,
    NOA_CLI_CMD_SERIES,
    NOA_CLI_CMD_STATS,
    NOA_CLI_CMD_VOLUME,
    NOA_CLI_CMD_VOLUME_RANGE,
    NOA_CLI_CMD_DETECTED_FIELDS,
    NOA_CLI_CMD_FMT,
    NOA_CLI_CMD_COUNT,
};

/* A repeatable flag's values (borrowed from argv/environment). */
struct noa_cli_flags_list {
    const char **v;
    size_t n;
};

/* Every option; strings are borrowed from argv or the environment. */
struct noa_cli_flags {
    enum noa_cli_flags_cmd cmd;
    int help;    /* --help given: print help for cmd and exit 0 */
    int version; /* --version */
    const char *args[2]; /* positional arguments of the command */
    size_t n_args;

    /* Global. */
    const char *addr;
    const char *org_id;
    const char *username, *password;
    const char *bearer_token, *bearer_token_file;
    struct noa_cli_flags_list headers; /* "Name: value" */
    const char *query_tags;
    int nocache;
    int64_t retries;
    int64_t min_backoff_s, max_backoff_s; /* whole seconds, as logcli */
    const char *auth_header;
    int tls_skip_verify;
    const char *ca_cert, *cert, *key, *tls_server_name, *proxy_url;
    int compress;
    const char *cpuprofile, *memprofile; /* accepted for compatibility, unused */
    int quiet;
    int stats;
    enum noa_cli_output_mode output;
    int utc;
    enum noa_cli_output_tsfmt tsfmt;

    /* query / instant-query / others. */
    int64_t limit; /* -1: the command's default */
    int64_t batch;
    int64_t since_ns;
    const char *from, *to, *now;
    int forward;
    int64_t step_ns, interval_ns;
    int no_labels;
    struct noa_cli_flags_list exclude, include;
    int include_common_labels;
    int64_t labels_length;
    int colored;
    int tail;
    int64_t delay_for;
    int analyze_labels;
    struct noa_cli_flags_list target_labels;
    int aggregate_by_labels;
    int64_t line_limit;
    int64_t parallel_duration_ns; /* accepted; paging is sequential */
    int64_t parallel_max_workers;
};

/* getenv-like lookup; NULL when unset. */
typedef const char *(*noa_cli_flags_env_cb)(const char *name);

/*
 * Parses argv[1..argc) into f (zeroed and defaulted first). env may be NULL
 * (no environment). Returns 0, or NOA_EINVAL with kingpin's message in err
 * (e.g. "unknown long flag '--x'", "expected command but got \"x\"",
 * "required argument 'query' not provided"). f borrows argv's strings and
 * owns the lists' arrays (release with _fini).
 */
int noa_cli_flags_parse(int argc, char **argv, noa_cli_flags_env_cb env, struct noa_cli_flags *f,
                        struct noa_buf *err);
void noa_cli_flags_fini(struct noa_cli_flags *f);

/* Appends the help text for cmd (NOA_CLI_CMD_NONE: the application). */
void noa_cli_flags_help(enum noa_cli_flags_cmd cmd, struct noa_buf *out);

#endif
