/*
 * Tests for logcli/cli_flags.c: kingpin-style parsing (both value forms,
 * short flags, --no-<bool>, repeatable flags, flags before and after the
 * command), defaults per command, the environment (NOA_ADDR over
 * LOKI_ADDR, flags over both), and kingpin's errors.
 */
#include "logcli/cli_flags.h"

#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define SEC 1000000000LL

static const char *const *g_env; /* NULL-terminated name, value pairs */

static const char *fake_env(const char *name)
{
    for (size_t i = 0; g_env && g_env[i]; i += 2)
        if (!strcmp(g_env[i], name))
            return g_env[i + 1];
    return NULL;
}

static int parse(struct noa_cli_flags *f, struct noa_buf *err, int argc, char **argv)
{
    err->len = 0;
    return noa_cli_flags_parse(argc, argv, fake_env, f, err);
}

#define PARSE(f, err, ...)                                                                          \
    parse((f), (err), (int)(sizeof((char *[]){"logcli", __VA_ARGS__}) / sizeof(char *)),            \
          (char *[]){"logcli", __VA_ARGS__})

static void test_query_flags(void **state)
{
    (void)state;
    struct noa_cli_flags f;
    struct noa_buf err = {0};
    g_env = NULL;
    assert_int_equal(PARSE(&f, &err, "-q", "query", "--limit", "5", "{a=\"b\"}", "--batch=7",
                           "--forward", "-ojsonl", "-z", "UTC", "--since=2h30m", "--step", "1.5s",
                           "--exclude-label", "x", "--exclude-label=y", "--no-labels",
                           "--no-forward", "--from", "2024-01-02T03:04:05Z"),
                     0);
    assert_int_equal(f.cmd, NOA_CLI_CMD_QUERY);
    assert_string_equal(f.args[0], "{a=\"b\"}");
    assert_int_equal(f.quiet, 1);
    assert_int_equal(f.limit, 5);
    assert_int_equal(f.batch, 7);
    assert_int_equal(f.forward, 0); /* --no-forward came last */
    assert_int_equal(f.output, NOA_CLI_OUTPUT_JSONL);
    assert_int_equal(f.utc, 1);
    assert_int_equal(f.since_ns, 9000 * SEC);
    assert_int_equal(f.step_ns, 1500000000LL);
    assert_int_equal(f.exclude.n, 2);
    assert_string_equal(f.exclude.v[1], "y");
    assert_int_equal(f.no_labels, 1);
    assert_string_equal(f.from, "2024-01-02T03:04:05Z");
    assert_string_equal(f.addr, "http://localhost:3100");
    noa_cli_flags_fini(&f);

    /* Defaults. */
    assert_int_equal(PARSE(&f, &err, "query", "{a=\"b\"}"), 0);
    assert_int_equal(f.limit, 30);
    assert_int_equal(f.batch, 1000);
    assert_int_equal(f.since_ns, 3600 * SEC);
    assert_int_equal(f.output, NOA_CLI_OUTPUT_DEFAULT);
    assert_int_equal(f.utc, 0);
    assert_int_equal(f.tsfmt, NOA_CLI_OUTPUT_TS_RFC3339);
    noa_cli_flags_fini(&f);
    assert_int_equal(PARSE(&f, &err, "detected-fields", "{a=\"b\"}", "level"), 0);
    assert_int_equal(f.limit, 100);
    assert_int_equal(f.step_ns, 10 * SEC);
    assert_int_equal(f.n_args, 2);
    noa_cli_flags_fini(&f);
    assert_int_equal(PARSE(&f, &err, "volume_range", "{a=\"b\"}", "--targetLabels", "a",
                           "--targetLabels", "b", "--aggregateByLabels"),
                     0);
    assert_int_equal(f.step_ns, 3600 * SEC);
    assert_int_equal(f.target_labels.n, 2);
    assert_int_equal(f.aggregate_by_labels, 1);
    noa_cli_flags_fini(&f);
    assert_int_equal(PARSE(&f, &err, "labels"), 0);
    assert_int_equal(f.n_args, 0);
    noa_cli_flags_fini(&f);
    assert_int_equal(PARSE(&f, &err, "--output-timestamp-format", "rfc3339nano", "query", "x",
                           "--", "-not-a-flag"),
                     NOA_EINVAL); /* a second positional argument */
    assert_string_equal(noa_buf_cstr(&err), "unexpected -not-a-flag");
    noa_cli_flags_fini(&f);
    noa_buf_fini(&err);
}

static void test_globals_and_env(void **state)
{
    (void)state;
    struct noa_cli_flags f;
    struct noa_buf err = {0};
    static const char *const env1[] = {"LOKI_ADDR", "http://loki:1", "LOKI_ORG_ID", "t1",
                                       "LOKI_USERNAME", "u", NULL};
    static const char *const env2[] = {"LOKI_ADDR", "http://loki:1", "NOA_ADDR", "http://noa:2",
                                       NULL};
    g_env = env1;
    assert_int_equal(PARSE(&f, &err, "labels"), 0);
    assert_string_equal(f.addr, "http://loki:1");
    assert_string_equal(f.org_id, "t1");
    assert_string_equal(f.username, "u");
    noa_cli_flags_fini(&f);
    g_env = env2;
    assert_int_equal(PARSE(&f, &err, "labels"), 0);
    assert_string_equal(f.addr, "http://noa:2"); /* NOA_ADDR wins */
    noa_cli_flags_fini(&f);
    assert_int_equal(PARSE(&f, &err, "labels", "--addr=http://flag:3", "--org-id", "x",
                           "--header", "A: b", "--header", "C: d", "--nocache", "--retries", "2",
                           "--tls-skip-verify", "--bearer-token", "tok", "--stats"),
                     0);
    assert_string_equal(f.addr, "http://flag:3");
    assert_string_equal(f.org_id, "x");
    assert_int_equal(f.headers.n, 2);
    assert_string_equal(f.headers.v[1], "C: d");
    assert_int_equal(f.nocache, 1);
    assert_int_equal(f.retries, 2);
    assert_int_equal(f.tls_skip_verify, 1);
    assert_string_equal(f.bearer_token, "tok");
    assert_int_equal(f.stats, 1);
    noa_cli_flags_fini(&f);
    g_env = NULL;
    noa_buf_fini(&err);
}

static void expect_error(const char *msg, int argc, char **argv)
{
    struct noa_cli_flags f;
    struct noa_buf err = {0};
    assert_int_equal(noa_cli_flags_parse(argc, argv, NULL, &f, &err), NOA_EINVAL);
    assert_string_equal(noa_buf_cstr(&err), msg);
    noa_cli_flags_fini(&f);
    noa_buf_fini(&err);
}

#define ERR(msg, ...)                                                                               \
    expect_error((msg), (int)(sizeof((char *[]){"logcli", __VA_ARGS__}) / sizeof(char *)),          \
                 (char *[]){"logcli", __VA_ARGS__})

static void test_errors(void **state)
{
    (void)state;
    ERR("unknown long flag '--bogus'", "query", "--bogus", "x");
    ERR("unknown long flag '--limit'", "--limit", "3", "query", "x"); /* before its command */
    ERR("unknown long flag '--batch'", "labels", "--batch", "3");     /* not labels' flag */
    ERR("unknown short flag '-x'", "query", "-x");
    ERR("expected argument for flag '--limit'", "query", "x", "--limit");
    ERR("strconv.ParseInt: parsing \"ten\": invalid syntax", "query", "x", "--limit", "ten");
    ERR("enum value must be one of default,raw,jsonl, got 'xml'", "-o", "xml", "query", "x");
    ERR("enum value must be one of Local,UTC, got 'CET'", "--timezone=CET", "query", "x");
    ERR("time: invalid duration \"1x\"", "query", "x", "--since", "1x");
    ERR("expected command but got \"nope\"", "nope");
    ERR("command not specified", "-q");
    ERR("required argument 'query' not provided", "query");
    ERR("unexpected b", "labels", "a", "b");
    ERR("unknown long flag '--no-limit'", "query", "x", "--no-limit");
    ERR("unknown long flag '--parallel-duration'", "labels", "--parallel-duration", "1h");
}

static void test_help(void **state)
{
    (void)state;
    struct noa_cli_flags f;
    struct noa_buf err = {0}, out = {0};
    g_env = NULL;
    assert_int_equal(PARSE(&f, &err, "query", "--help"), 0);
    assert_int_equal(f.help, 1);
    assert_int_equal(f.cmd, NOA_CLI_CMD_QUERY);
    noa_cli_flags_help(f.cmd, &out);
    assert_non_null(strstr(noa_buf_cstr(&out), "usage: logcli query [<flags>] <query>"));
    /* kingpin's columns: defaults shown, help aligned after the widest
     * left column under 30 characters. */
    assert_non_null(strstr(noa_buf_cstr(&out), "\n      --batch=1000              Query batch size"));
    assert_non_null(strstr(noa_buf_cstr(&out), "\n      --from=FROM               Start looking"));
    assert_non_null(strstr(noa_buf_cstr(&out), "\n  -q, --quiet                   Suppress"));
    assert_non_null(strstr(noa_buf_cstr(&out), "\n      --exclude-label=EXCLUDE-LABEL ...  \n"
                                                "                                Exclude labels"));
    assert_non_null(strstr(noa_buf_cstr(&out), "      --addr=\"http://localhost:3100\"  \n")); /* globals too */
    assert_null(strstr(noa_buf_cstr(&out), "--targetLabels"));
    noa_cli_flags_fini(&f);
    out.len = 0;
    assert_int_equal(PARSE(&f, &err, "-h"), 0);
    noa_cli_flags_help(f.cmd, &out);
    assert_non_null(strstr(noa_buf_cstr(&out), "  volume_range <query>"));
    assert_null(strstr(noa_buf_cstr(&out), "--batch"));
    noa_cli_flags_fini(&f);
    noa_buf_fini(&out);
    noa_buf_fini(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_flags),
        cmocka_unit_test(test_globals_and_env),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
