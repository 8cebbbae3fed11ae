/*
 * Tests for common/config: the table engine on a small test table (defaults,
 * YAML application and its errors, flags, warnings for ignored blocks, dumps,
 * help and reference text) and the duration/size syntax. Single-threaded.
 */
#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

struct tcfg {
    char *name;
    char *level;
    int port;
    int enabled;
    double ratio;
    int64_t timeout_ns;
    int64_t age_ns;
    int64_t size;
    int64_t count;
    struct noa_config_strings labels;
};

#define OFF(f) offsetof(struct tcfg, f)
static const char *const levels[] = {"debug", "info", "warn", NULL};

static const struct noa_config_entry entries[] = {
    {.path = "name", .type = NOA_CONFIG_STRING, .def = "noa", .offset = OFF(name),
     .flag = "name", .desc = "The name."},
    {.path = "level", .type = NOA_CONFIG_STRING, .def = "info", .offset = OFF(level),
     .flag = "log.level", .choices = levels, .desc = "Log level."},
    {.path = "server", .type = NOA_CONFIG_BLOCK, .type_name = "server.Config",
     .desc = "The server."},
    {.path = "server.port", .type = NOA_CONFIG_INT, .def = "3100", .offset = OFF(port),
     .flag = "server.port", .desc = "Listen port."},
    {.path = "server.enabled", .type = NOA_CONFIG_BOOL, .def = "true", .offset = OFF(enabled),
     .flag = "server.enabled", .desc = "Serve at all."},
    {.path = "server.tls", .type = NOA_CONFIG_IGNORED, .desc = "TLS."},
    {.path = "limits", .type = NOA_CONFIG_BLOCK, .type_name = "validation.Limits",
     .desc = "Limits."},
    {.path = "limits.ratio", .type = NOA_CONFIG_FLOAT, .def = "0.5", .offset = OFF(ratio),
     .desc = "A ratio."},
    {.path = "limits.timeout", .type = NOA_CONFIG_DURATION, .def = "1m", .offset = OFF(timeout_ns),
     .flag = "limits.timeout", .desc = "A Go duration."},
    {.path = "limits.age", .type = NOA_CONFIG_MDURATION, .def = "1w", .offset = OFF(age_ns),
     .desc = "A Prometheus duration."},
    {.path = "limits.size", .type = NOA_CONFIG_BYTES, .def = "256KB", .offset = OFF(size),
     .flag = "limits.size", .desc = "A size."},
    {.path = "limits.count", .type = NOA_CONFIG_INT64, .def = "0", .offset = OFF(count),
     .desc = "A count."},
    {.path = "limits.labels", .type = NOA_CONFIG_STRINGS, .def = "service,app",
     .offset = OFF(labels), .flag = "limits.labels", .desc = "Labels."},
    {.path = "limits.unused", .type = NOA_CONFIG_INT, .def = "7",
     .flags = NOA_CONFIG_UNENFORCED | NOA_CONFIG_NOFIELD, .flag = "limits.unused",
     .desc = "Accepted, checked, dropped."},
    {.path = "limits.raw", .type = NOA_CONFIG_RAW, .desc = "Anything."},
    {.path = "schema_config", .type = NOA_CONFIG_IGNORED, .desc = "Schemas."},
};

static const struct noa_config_table table = {"test.Config", entries,
                                              sizeof(entries) / sizeof(entries[0])};

static struct noa_yaml_doc *parse(const char *text)
{
    struct noa_yaml_doc *doc = NULL;
    struct noa_error err = {0};
    if (noa_yaml_parse(text, strlen(text), "t.yaml", NULL, &doc, &err))
        fail_msg("yaml: %s", err.msg);
    return doc;
}

/* Applies text to a fresh struct; returns the code, message in err. */
static int apply(const char *text, struct tcfg *c, struct noa_error *err)
{
    memset(c, 0, sizeof(*c));
    noa_config_defaults(&table, c);
    struct noa_yaml_doc *doc = parse(text);
    memset(err, 0, sizeof(*err));
    int rc = noa_config_apply(&table, c, doc->root, err);
    noa_yaml_free(doc);
    return rc;
}

static void test_check_table(void **state)
{
    (void)state;
    struct noa_error err = {0};
    assert_int_equal(noa_config_check_table(&table, &err), 0);

    struct noa_config_entry bad[3] = {
        {.path = "a", .type = NOA_CONFIG_BLOCK, .type_name = "A", .desc = "a"},
        {.path = "b.x", .type = NOA_CONFIG_INT, .def = "1", .desc = "x"},
    };
    struct noa_config_table t = {"T", bad, 2};
    assert_int_equal(noa_config_check_table(&t, &err), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "b.x"));

    /* Children of a block must be contiguous. */
    bad[1] = (struct noa_config_entry){.path = "c", .type = NOA_CONFIG_INT, .def = "1",
                                       .desc = "c"};
    bad[2] = (struct noa_config_entry){.path = "a.x", .type = NOA_CONFIG_INT, .def = "1",
                                       .desc = "x"};
    t.n = 3;
    assert_int_equal(noa_config_check_table(&t, &err), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "a.x"));

    /* Defaults must parse. */
    bad[1] = (struct noa_config_entry){.path = "a.y", .type = NOA_CONFIG_DURATION, .def = "10",
                                       .desc = "y"};
    t.n = 2;
    assert_int_equal(noa_config_check_table(&t, &err), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "default \"10\""));

    /* Flags are unique. */
    bad[1] = (struct noa_config_entry){.path = "a.y", .type = NOA_CONFIG_INT, .def = "1",
                                       .flag = "f", .desc = "y"};
    bad[2] = (struct noa_config_entry){.path = "a.z", .type = NOA_CONFIG_INT, .def = "1",
                                       .flag = "f", .desc = "z"};
    t.n = 3;
    assert_int_equal(noa_config_check_table(&t, &err), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "duplicate flag"));
}

static void test_defaults(void **state)
{
    (void)state;
    int64_t before = noa_mem_in_use();
    struct tcfg c = {0};
    noa_config_defaults(&table, &c);
    assert_string_equal(c.name, "noa");
    assert_int_equal(c.port, 3100);
    assert_int_equal(c.enabled, 1);
    assert_true(c.ratio == 0.5);
    assert_int_equal(c.timeout_ns, 60000000000LL);
    assert_int_equal(c.age_ns, 7LL * 86400 * 1000000000LL);
    assert_int_equal(c.size, 262144);
    assert_int_equal(c.labels.n, 2);
    assert_string_equal(c.labels.v[1], "app");
    noa_config_fini(&table, &c);
    assert_null(c.name);
    assert_int_equal(noa_mem_in_use(), before);
}

static void test_apply_values(void **state)
{
    (void)state;
    struct tcfg c;
    struct noa_error err;
    int rc = apply("name: 'yes'\n"
                   "server:\n"
                   "  port: 3200\n"
                   "  enabled: off\n"
                   "limits:\n"
                   "  ratio: 1e-1\n"
                   "  timeout: 1h30m\n"
                   "  age: 30d1h\n"
                   "  size: 1.5MiB\n"
                   "  count: 0x10\n"
                   "  labels: [a, \"b\"]\n"
                   "  unused: 12\n"
                   "  raw: {anything: [goes, here]}\n",
                   &c, &err);
    assert_int_equal(rc, 0);
    assert_string_equal(c.name, "yes"); /* a quoted yes is a string */
    assert_int_equal(c.port, 3200);
    assert_int_equal(c.enabled, 0);
    assert_true(c.ratio == 0.1);
    assert_int_equal(c.timeout_ns, 5400LL * 1000000000LL);
    assert_int_equal(c.age_ns, 721LL * 3600 * 1000000000LL);
    assert_int_equal(c.size, 1572864);
    assert_int_equal(c.count, 16);
    assert_int_equal(c.labels.n, 2);
    assert_string_equal(c.labels.v[0], "a");
    assert_string_equal(c.labels.v[1], "b");
    noa_config_fini(&table, &c);

    /* A plain integer is a string for a string field; a CSV string is a list. */
    assert_int_equal(apply("name: 123\nlimits: {labels: 'x, y ,z'}\n", &c, &err), 0);
    assert_string_equal(c.name, "123");
    assert_int_equal(c.labels.n, 3);
    assert_string_equal(c.labels.v[1], "y");
    noa_config_fini(&table, &c);

    /* Null: scalars take their zero value, blocks stay as they are. */
    assert_int_equal(apply("name:\nserver:\nlimits:\n  labels: ~\n  size:\n", &c, &err), 0);
    assert_string_equal(c.name, "");
    assert_int_equal(c.port, 3100);
    assert_int_equal(c.labels.n, 0);
    assert_int_equal(c.size, 0);
    noa_config_fini(&table, &c);

    /* An empty document changes nothing. */
    assert_int_equal(apply("# nothing\n", &c, &err), 0);
    assert_string_equal(c.name, "noa");
    noa_config_fini(&table, &c);
}

static void expect_error(const char *text, const char *msg)
{
    struct tcfg c;
    struct noa_error err;
    int64_t before = noa_mem_in_use();
    assert_int_equal(apply(text, &c, &err), NOA_EINVAL);
    noa_config_fini(&table, &c);
    assert_string_equal(err.msg, msg);
    assert_int_equal(noa_mem_in_use(), before);
}

static void test_apply_errors(void **state)
{
    (void)state;
    expect_error("server:\n  port: 1\n  prot: 2\n",
                 "t.yaml:3:3: field prot not found in type server.Config");
    expect_error("nmae: x\n", "t.yaml:1:1: field nmae not found in type test.Config");
    expect_error("limits:\n  labels: []\n  server.port: 1\n",
                 "t.yaml:3:3: field server.port not found in type validation.Limits");
    expect_error("server:\n  port: abc\n",
                 "t.yaml:2:9: cannot unmarshal !!str `abc` into int (server.port)");
    expect_error("server:\n  port: 99999999999\n",
                 "t.yaml:2:9: cannot unmarshal !!int `99999999999` into int (server.port)");
    expect_error("server:\n  enabled: \"yes\"\n",
                 "t.yaml:2:12: cannot unmarshal !!str `yes` into bool (server.enabled)");
    expect_error("limits:\n  timeout: 10\n",
                 "t.yaml:2:12: cannot unmarshal !!int `10` into duration (limits.timeout): not "
                 "a duration (e.g. 30s, 5m, 1h30m, 1d)");
    expect_error("limits:\n  size: 12XB\n",
                 "t.yaml:2:9: cannot unmarshal !!str `12XB` into bytes (limits.size): not a size "
                 "(e.g. 1048576, 256KB, 4MB, 1GiB)");
    expect_error("level: verbose\n",
                 "t.yaml:1:8: cannot unmarshal !!str `verbose` into string (level): not one of "
                 "the allowed values");
    expect_error("server: [1, 2]\n", "t.yaml:1:9: cannot unmarshal !!seq into server.Config");
    expect_error("server:\n  port: [1]\n",
                 "t.yaml:2:9: cannot unmarshal !!seq into int (server.port)");
    expect_error("limits:\n  labels: [a, {b: c}]\n",
                 "t.yaml:2:15: cannot unmarshal !!map into string (limits.labels)");
    expect_error("limits:\n  unused: x\n",
                 "t.yaml:2:11: cannot unmarshal !!str `x` into int (limits.unused)");
    expect_error("- a\n", "t.yaml:1:1: cannot unmarshal !!seq into test.Config");
}

/* Reads what noa_log wrote to fd since offset 0. */
static char *slurp_fd(int fd)
{
    struct noa_buf b = {0};
    char tmp[4096];
    lseek(fd, 0, SEEK_SET);
    ssize_t n;
    while ((n = read(fd, tmp, sizeof(tmp))) > 0)
        noa_buf_append(&b, tmp, (size_t)n);
    noa_buf_cstr(&b);
    return noa_buf_steal(&b, NULL);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void test_ignored_blocks_warn_once(void **state)
{
    (void)state;
    char path[] = "/tmp/noa_config_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    noa_log_set_fd(fd);
    struct tcfg c;
    struct noa_error err;
    int rc = apply("server:\n"
                   "  tls:\n"
                   "    cert: x\n"
                   "    key: y\n"
                   "schema_config:\n"
                   "  configs:\n"
                   "    - from: 2020-10-24\n"
                   "      store: tsdb\n",
                   &c, &err);
    noa_log_set_fd(2);
    assert_int_equal(rc, 0);
    noa_config_fini(&table, &c);
    char *log = slurp_fd(fd);
    close(fd);
    unlink(path);
    assert_int_equal(count(log, "level=warn"), 2);
    assert_int_equal(count(log, "key=server.tls "), 1);
    assert_int_equal(count(log, "key=schema_config "), 1);
    assert_non_null(strstr(log, "file=t.yaml line=5"));
    noa_free(log);
}

static void test_set_from_flags(void **state)
{
    (void)state;
    struct tcfg c = {0};
    struct noa_error err = {0};
    noa_config_defaults(&table, &c);
    const struct noa_config_entry *e = noa_config_find_flag(&table, "server.port");
    assert_non_null(e);
    assert_ptr_equal(e, noa_config_find_path(&table, "server.port"));
    assert_null(noa_config_find_flag(&table, "nope"));
    assert_int_equal(noa_config_set(e, &c, "8080", &err), 0);
    assert_int_equal(c.port, 8080);
    assert_int_equal(noa_config_set(e, &c, "80x", &err), NOA_EINVAL);
    assert_string_equal(err.msg, "invalid value \"80x\" for flag -server.port: invalid syntax");
    assert_int_equal(noa_config_set(e, &c, "99999999999", &err), NOA_EINVAL);
    assert_int_equal(noa_config_set(noa_config_find_flag(&table, "server.enabled"), &c, "false",
                                    &err),
                     0);
    assert_int_equal(c.enabled, 0);
    assert_int_equal(noa_config_set(noa_config_find_flag(&table, "limits.timeout"), &c, "2m",
                                    &err),
                     0);
    assert_int_equal(c.timeout_ns, 120000000000LL);
    assert_int_equal(noa_config_set(noa_config_find_flag(&table, "limits.size"), &c, "1MB",
                                    &err),
                     0);
    assert_int_equal(c.size, 1048576);
    assert_int_equal(noa_config_set(noa_config_find_flag(&table, "limits.labels"), &c, "q, r",
                                    &err),
                     0);
    assert_int_equal(c.labels.n, 2);
    assert_string_equal(c.labels.v[1], "r");
    assert_int_equal(noa_config_set(noa_config_find_flag(&table, "log.level"), &c, "loud", &err),
                     NOA_EINVAL);
    assert_int_equal(noa_config_set(noa_config_find_flag(&table, "limits.unused"), &c, "3",
                                    &err),
                     0);
    assert_int_equal(noa_config_set(noa_config_find_path(&table, "server"), &c, "x", &err),
                     NOA_EINVAL);
    noa_config_fini(&table, &c);
}

static void test_dump(void **state)
{
    (void)state;
    struct tcfg c;
    struct noa_error err;
    assert_int_equal(apply("name: 'two words: here'\nserver:\n  port: 3200\nlimits:\n  size: 1MB\n"
                           "  labels: [x, 'true']\n",
                           &c, &err),
                     0);
    struct noa_buf b = {0};
    noa_config_dump(&table, &c, NOA_CONFIG_DUMP_ALL, &b);
    assert_string_equal(noa_buf_cstr(&b), "name: \"two words: here\"\n"
                                          "level: info\n"
                                          "server:\n"
                                          "  port: 3200\n"
                                          "  enabled: true\n"
                                          "limits:\n"
                                          "  ratio: 0.5\n"
                                          "  timeout: 1m0s\n"
                                          "  age: 1w\n"
                                          "  size: 1MB\n"
                                          "  count: 0\n"
                                          "  labels: [x, \"true\"]\n");
    noa_buf_reset(&b);
    noa_config_dump(&table, &c, NOA_CONFIG_DUMP_DIFFS, &b);
    assert_string_equal(noa_buf_cstr(&b), "name: \"two words: here\"\n"
                                          "server:\n"
                                          "  port: 3200\n"
                                          "limits:\n"
                                          "  size: 1MB\n"
                                          "  labels: [x, \"true\"]\n");
    noa_buf_reset(&b);
    noa_config_dump(&table, &c, NOA_CONFIG_DUMP_DEFAULTS, &b);
    assert_non_null(strstr(noa_buf_cstr(&b), "name: noa\n"));
    assert_non_null(strstr(b.data, "  port: 3100\n"));
    assert_non_null(strstr(b.data, "  labels: [service, app]\n"));

    /* The dump reads back to the same values. */
    noa_buf_reset(&b);
    noa_config_dump(&table, &c, NOA_CONFIG_DUMP_ALL, &b);
    struct tcfg d;
    assert_int_equal(apply(noa_buf_cstr(&b), &d, &err), 0);
    assert_string_equal(d.name, c.name);
    assert_int_equal(d.port, c.port);
    assert_int_equal(d.size, c.size);
    assert_int_equal(d.age_ns, c.age_ns);
    assert_string_equal(d.labels.v[1], "true");
    noa_config_fini(&table, &d);
    noa_config_fini(&table, &c);
    noa_buf_fini(&b);
}

static void test_help_and_markdown(void **state)
{
    (void)state;
    struct noa_buf b = {0};
    noa_config_help(&table, &b);
    noa_buf_cstr(&b);
    assert_non_null(strstr(b.data, "  -server.port int\n    \tListen port. (default 3100)\n"));
    assert_non_null(strstr(b.data, "  -server.enabled\n    \tServe at all. (default true)\n"));
    assert_non_null(strstr(b.data, "  -limits.size bytes\n    \tA size. (default 256KB)\n"));
    assert_non_null(strstr(b.data, "(accepted, not enforced by noa yet) (default 7)"));
    /* Sorted by flag name. */
    assert_true(strstr(b.data, "-limits.labels") < strstr(b.data, "-log.level"));
    assert_true(strstr(b.data, "-log.level") < strstr(b.data, "-name "));
    noa_buf_reset(&b);
    noa_config_markdown(&table, &b);
    noa_buf_cstr(&b);
    assert_non_null(strstr(b.data, "### server\n"));
    assert_non_null(strstr(b.data, "# CLI flag: -server.port\n[port: <int> | default = 3100]\n"));
    assert_non_null(strstr(b.data, "[timeout: <duration> | default = 1m]"));
    assert_non_null(strstr(b.data, "[schema_config: <ignored>]"));
    assert_non_null(strstr(b.data, "[raw: <yaml>]"));
    assert_non_null(strstr(b.data, "not enforced by noa yet"));
    noa_buf_fini(&b);
}

static void test_parse_duration(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int64_t ns;
    } ok[] = {
        {"0", 0},
        {"30s", 30000000000LL},
        {"1h30m", 5400000000000LL},
        {"1.5s", 1500000000LL},
        {".5s", 500000000LL},
        {"500ms", 500000000LL},
        {"10us", 10000LL},
        {"1\xc2\xb5s", 1000LL},
        {"7ns", 7LL},
        {"1d", 86400000000000LL},
        {"1w", 604800000000000LL},
        {"1y", 31536000000000000LL},
        {"30d1h", 721LL * 3600000000000LL},
        {"-1m", -60000000000LL},
        {"2h0m0s", 7200000000000LL},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t ns = -42;
        if (noa_config_parse_duration(ok[i].in, &ns) != 0)
            fail_msg("rejected %s", ok[i].in);
        assert_int_equal(ns, ok[i].ns);
    }
    static const char *const bad[] = {"", "10", "1x", "s", "1.2.3s", "h", "1h 30m", "300y", "--1s",
                                      "1..s", "."};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ns;
        if (noa_config_parse_duration(bad[i], &ns) != NOA_EINVAL)
            fail_msg("accepted %s", bad[i]);
    }
}

static void test_parse_bytes(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int64_t n;
    } ok[] = {
        {"1048576", 1048576},   {"256KB", 262144},       {"256kb", 262144},
        {"256K", 262144},       {"1.5MiB", 1572864},     {"4GB", 4LL << 30},
        {"1 MB", 1048576},      {"0B", 0},               {"0", 0},
        {"3mb", 3145728},       {"1TiB", 1LL << 40},     {"7 bytes", 7},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t n = -42;
        if (noa_config_parse_bytes(ok[i].in, &n) != 0)
            fail_msg("rejected %s", ok[i].in);
        assert_int_equal(n, ok[i].n);
    }
    static const char *const bad[] = {"", "MB", "1.5.5MB", "-1", "1XB", "9999999999999EB",
                                      "1.MB", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t n;
        if (noa_config_parse_bytes(bad[i], &n) != NOA_EINVAL)
            fail_msg("accepted %s", bad[i]);
    }
}

static void test_formats(void **state)
{
    (void)state;
    static const struct {
        int64_t ns;
        const char *go, *prom;
    } d[] = {
        {0, "0s", "0s"},
        {1500000000LL, "1.5s", "1s500ms"},
        {500000000LL, "500ms", "500ms"},
        {3600000000000LL, "1h0m0s", "1h"},
        {90000000000LL, "1m30s", "1m30s"},
        {1500LL, "1.5\xc2\xb5s", "0s"},
        {999LL, "999ns", "0s"},
        {721LL * 3600000000000LL, "721h0m0s", "30d1h"},
        {168LL * 3600000000000LL, "168h0m0s", "1w"},
        {24LL * 3600000000000LL, "24h0m0s", "1d"},
        {8760LL * 3600000000000LL, "8760h0m0s", "1y"},
        {-60000000000LL, "-1m0s", "-1m"},
    };
    struct noa_buf b = {0};
    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
        noa_buf_reset(&b);
        noa_config_format_duration(&b, d[i].ns);
        assert_string_equal(noa_buf_cstr(&b), d[i].go);
        noa_buf_reset(&b);
        noa_config_format_mduration(&b, d[i].ns);
        assert_string_equal(noa_buf_cstr(&b), d[i].prom);
    }
    static const struct {
        int64_t n;
        const char *s;
    } s[] = {{262144, "256KB"}, {1572864, "1536KB"}, {3145728, "3MB"}, {1000, "1000B"},
             {0, "0B"},         {4LL << 30, "4GB"},  {1LL << 60, "1EB"}};
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
        noa_buf_reset(&b);
        noa_config_format_bytes(&b, s[i].n);
        assert_string_equal(noa_buf_cstr(&b), s[i].s);
    }
    noa_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_table),     cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_apply_values),    cmocka_unit_test(test_apply_errors),
        cmocka_unit_test(test_ignored_blocks_warn_once), cmocka_unit_test(test_set_from_flags),
        cmocka_unit_test(test_dump),            cmocka_unit_test(test_help_and_markdown),
        cmocka_unit_test(test_parse_duration),  cmocka_unit_test(test_parse_bytes),
        cmocka_unit_test(test_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
