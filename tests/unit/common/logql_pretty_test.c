/*
 * Unit tests for common/logql_pretty.c: Loki's prettier test table
 * (width 20, as Loki's tests set it) plus the other node kinds laid out
 * by the same rules, short queries equal to their canonical text at the
 * default width, and a round-trip property over the LogQL fuzz corpus:
 * the pretty text parses back to the same canonical text at any width.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/logql.h"
#include "common/mem.h"

struct pretty_case {
    const char *name;
    size_t width;
    const char *q;
    const char *want;
};

static const struct pretty_case cases[] = {
    {"basic stream selector", 20,
     "{job=\"loki\", instance=\"localhost\"}",
     "{job=\"loki\", instance=\"localhost\"}"},
    {"pipeline_label_filter", 20,
     "{job=\"loki\", instance=\"localhost\"}|logfmt|level=\"error\" ",
     "{job=\"loki\", instance=\"localhost\"}\n"
     "  | logfmt\n"
     "  | level=\"error\""},
    {"pipeline_line_filter", 20,
     "{job=\"loki\", instance=\"localhost\"}|= \"error\" != \"memcached\" |= ip(\"192.168.0.1\") |logfmt",
     "{job=\"loki\", instance=\"localhost\"}\n"
     "  |= \"error\"\n"
     "  != \"memcached\"\n"
     "  |= ip(\"192.168.0.1\")\n"
     "  | logfmt"},
    {"pipeline_line_format", 20,
     "{job=\"loki\", instance=\"localhost\"}|logfmt|line_format \"{{.error}}\"",
     "{job=\"loki\", instance=\"localhost\"}\n"
     "  | logfmt\n"
     "  | line_format \"{{.error}}\""},
    {"pipeline_label_format", 20,
     "{job=\"loki\", instance=\"localhost\"}|logfmt|label_format dst=\"{{.src}}\"",
     "{job=\"loki\", instance=\"localhost\"}\n"
     "  | logfmt\n"
     "  | label_format dst=\"{{.src}}\""},
    {"aggregation", 20,
     "count_over_time({job=\"loki\", instance=\"localhost\"}|logfmt[1m])",
     "count_over_time(\n"
     "  {job=\"loki\", instance=\"localhost\"}\n"
     "    | logfmt [1m]\n"
     ")"},
    {"aggregation_with_offset", 20,
     "count_over_time({job=\"loki\", instance=\"localhost\"}|= \"error\"[5m] offset 20m)",
     "count_over_time(\n"
     "  {job=\"loki\", instance=\"localhost\"}\n"
     "    |= \"error\" [5m] offset 20m\n"
     ")"},
    {"unwrap", 20,
     "quantile_over_time(0.99,{container=\"ingress-nginx\",service=\"hosted-grafana\"}| json| unwrap response_latency_seconds| __error__=\"\"[1m]) by (cluster)",
     "quantile_over_time(\n"
     "  0.99,\n"
     "  {container=\"ingress-nginx\", service=\"hosted-grafana\"}\n"
     "    | json\n"
     "    | unwrap response_latency_seconds\n"
     "    | __error__=\"\" [1m]\n"
     ") by (cluster)"},
    {"pipeline_aggregation_line_filter", 20,
     "count_over_time({job=\"loki\", instance=\"localhost\"}|= \"error\" != \"memcached\" |= ip(\"192.168.0.1\") |logfmt[1m])",
     "count_over_time(\n"
     "  {job=\"loki\", instance=\"localhost\"}\n"
     "    |= \"error\"\n"
     "    != \"memcached\"\n"
     "    |= ip(\"192.168.0.1\")\n"
     "    | logfmt [1m]\n"
     ")"},
    {"jsonparserExpr", 20,
     "{job=\"loki\", namespace=\"loki-prod\", container=\"nginx-ingress\"}| json first_server=\"servers[0]\", ua=\"request.headers[\\\"User-Agent\\\"]\" | level=\"error\"",
     "{job=\"loki\", namespace=\"loki-prod\", container=\"nginx-ingress\"}\n"
     "  | json first_server=\"servers[0]\",ua=\"request.headers[\\\"User-Agent\\\"]\"\n"
     "  | level=\"error\""},
    {"vector sum", 20,
     "sum(count_over_time({foo=\"bar\",namespace=\"loki\",instance=\"localhost\"}[5m])) by (container)",
     "sum by (container)(\n"
     "  count_over_time(\n"
     "    {foo=\"bar\", namespace=\"loki\", instance=\"localhost\"} [5m]\n"
     "  )\n"
     ")"},
    {"vector topk", 20,
     "topk(5, count_over_time({foo=\"bar\",namespace=\"loki\",instance=\"localhost\"}[5m])) by (container)",
     "topk by (container)(\n"
     "  5,\n"
     "  count_over_time(\n"
     "    {foo=\"bar\", namespace=\"loki\", instance=\"localhost\"} [5m]\n"
     "  )\n"
     ")"},
    {"label_replace", 20,
     "label_replace(rate({job=\"api-server\",service=\"a:c\"}|= \"err\" [5m]), \"foo\", \"$1\", \"service\", \"(.*):.*\")",
     "label_replace(\n"
     "  rate(\n"
     "    {job=\"api-server\", service=\"a:c\"}\n"
     "      |= \"err\" [5m]\n"
     "  ),\n"
     "  \"foo\",\n"
     "  \"$1\",\n"
     "  \"service\",\n"
     "  \"(.*):.*\"\n"
     ")"},
    {"label_replace_nested", 20,
     "label_replace(label_replace(rate({job=\"api-server\",service=\"a:c\"}|= \"err\" [5m]), \"foo\", \"$1\", \"service\", \"(.*):.*\"), \"foo\", \"$1\", \"service\", \"(.*):.*\")",
     "label_replace(\n"
     "  label_replace(\n"
     "    rate(\n"
     "      {job=\"api-server\", service=\"a:c\"}\n"
     "        |= \"err\" [5m]\n"
     "    ),\n"
     "    \"foo\",\n"
     "    \"$1\",\n"
     "    \"service\",\n"
     "    \"(.*):.*\"\n"
     "  ),\n"
     "  \"foo\",\n"
     "  \"$1\",\n"
     "  \"service\",\n"
     "  \"(.*):.*\"\n"
     ")"},
    {"single binop", 20,
     "sum(rate({job=\"loki\", namespace=\"loki-prod\", instance=\"localhost\"}[5m]))/sum(count_over_time({job=\"loki\", namespace=\"loki-prod\", instance=\"localhost\"}[5m]))",
     "  sum(\n"
     "    rate(\n"
     "      {job=\"loki\", namespace=\"loki-prod\", instance=\"localhost\"} [5m]\n"
     "    )\n"
     "  )\n"
     "/\n"
     "  sum(\n"
     "    count_over_time(\n"
     "      {job=\"loki\", namespace=\"loki-prod\", instance=\"localhost\"} [5m]\n"
     "    )\n"
     "  )"},
    {"multiple binops", 20,
     "sum(rate({job=\"loki\"}[5m])) + sum(rate({job=\"loki-dev\"}[5m])) / sum(rate({job=\"loki-prod\"}[5m]))",
     "  sum(\n"
     "    rate(\n"
     "      {job=\"loki\"} [5m]\n"
     "    )\n"
     "  )\n"
     "+\n"
     "    sum(\n"
     "      rate(\n"
     "        {job=\"loki-dev\"} [5m]\n"
     "      )\n"
     "    )\n"
     "  /\n"
     "    sum(\n"
     "      rate(\n"
     "        {job=\"loki-prod\"} [5m]\n"
     "      )\n"
     "    )"},
    {"binops precedence", 20,
     "sum(rate({job=\"loki\"}[5m])) / sum(rate({job=\"loki-dev\"}[5m])) + sum(rate({job=\"loki-prod\"}[5m]))",
     "    sum(\n"
     "      rate(\n"
     "        {job=\"loki\"} [5m]\n"
     "      )\n"
     "    )\n"
     "  /\n"
     "    sum(\n"
     "      rate(\n"
     "        {job=\"loki-dev\"} [5m]\n"
     "      )\n"
     "    )\n"
     "+\n"
     "  sum(\n"
     "    rate(\n"
     "      {job=\"loki-prod\"} [5m]\n"
     "    )\n"
     "  )"},
    {"binops precedence2", 20,
     "sum(rate({job=\"loki\"}[5m])) - sum(rate({job=\"loki-stage\"}[5m])) / sum(rate({job=\"loki-dev\"}[5m])) + sum(rate({job=\"loki-prod\"}[5m]))",
     "    sum(\n"
     "      rate(\n"
     "        {job=\"loki\"} [5m]\n"
     "      )\n"
     "    )\n"
     "  -\n"
     "      sum(\n"
     "        rate(\n"
     "          {job=\"loki-stage\"} [5m]\n"
     "        )\n"
     "      )\n"
     "    /\n"
     "      sum(\n"
     "        rate(\n"
     "          {job=\"loki-dev\"} [5m]\n"
     "        )\n"
     "      )\n"
     "+\n"
     "  sum(\n"
     "    rate(\n"
     "      {job=\"loki-prod\"} [5m]\n"
     "    )\n"
     "  )"},
    {"binops precedence3", 20,
     "sum(rate({job=\"loki\"}[5m])) - sum(rate({job=\"loki-stage\"}[5m])) % sum(rate({job=\"loki-dev\"}[5m])) + sum(rate({job=\"loki-prod\"}[5m]))",
     "    sum(\n"
     "      rate(\n"
     "        {job=\"loki\"} [5m]\n"
     "      )\n"
     "    )\n"
     "  -\n"
     "      sum(\n"
     "        rate(\n"
     "          {job=\"loki-stage\"} [5m]\n"
     "        )\n"
     "      )\n"
     "    %\n"
     "      sum(\n"
     "        rate(\n"
     "          {job=\"loki-dev\"} [5m]\n"
     "        )\n"
     "      )\n"
     "+\n"
     "  sum(\n"
     "    rate(\n"
     "      {job=\"loki-prod\"} [5m]\n"
     "    )\n"
     "  )"},
    {"binops precedence4", 20,
     "sum(rate({job=\"loki\"}[5m])) / sum(rate({job=\"loki-stage\"}[5m])) % sum(rate({job=\"loki-dev\"}[5m])) + sum(rate({job=\"loki-prod\"}[5m]))",
     "      sum(\n"
     "        rate(\n"
     "          {job=\"loki\"} [5m]\n"
     "        )\n"
     "      )\n"
     "    /\n"
     "      sum(\n"
     "        rate(\n"
     "          {job=\"loki-stage\"} [5m]\n"
     "        )\n"
     "      )\n"
     "  %\n"
     "    sum(\n"
     "      rate(\n"
     "        {job=\"loki-dev\"} [5m]\n"
     "      )\n"
     "    )\n"
     "+\n"
     "  sum(\n"
     "    rate(\n"
     "      {job=\"loki-prod\"} [5m]\n"
     "    )\n"
     "  )"},
    {"binops precedence5", 20,
     "sum(rate({job=\"loki\"}[5m])) / sum(rate({job=\"loki-stage\"}[5m])) % sum(rate({job=\"loki-dev\"}[5m])) * sum(rate({job=\"loki-prod\"}[5m]))",
     "      sum(\n"
     "        rate(\n"
     "          {job=\"loki\"} [5m]\n"
     "        )\n"
     "      )\n"
     "    /\n"
     "      sum(\n"
     "        rate(\n"
     "          {job=\"loki-stage\"} [5m]\n"
     "        )\n"
     "      )\n"
     "  %\n"
     "    sum(\n"
     "      rate(\n"
     "        {job=\"loki-dev\"} [5m]\n"
     "      )\n"
     "    )\n"
     "*\n"
     "  sum(\n"
     "    rate(\n"
     "      {job=\"loki-prod\"} [5m]\n"
     "    )\n"
     "  )"},
    {"binops with options", 20,
     "sum(rate({job=\"loki\"}[5m])) * on(instance, job) group_left (node) sum(rate({job=\"loki-prod\"}[5m]))",
     "  sum(\n"
     "    rate(\n"
     "      {job=\"loki\"} [5m]\n"
     "    )\n"
     "  )\n"
     "* on (instance, job) group_left (node)\n"
     "  sum(\n"
     "    rate(\n"
     "      {job=\"loki-prod\"} [5m]\n"
     "    )\n"
     "  )"},
    {"drop keep decolorize", 20,
     "{app=\"foo\"} | logfmt | drop a, b=\"x\" | keep c | decolorize",
     "{app=\"foo\"}\n"
     "  | logfmt\n"
     "  | drop a,b=\"x\"\n"
     "  | keep c\n"
     "| decolorize"},
    {"parsers", 20,
     "{app=\"foo\"} | logfmt --strict x=\"y\" | regexp \"(?P<a>.)\" | pattern \"<b> <_>\" | unpack | json",
     "{app=\"foo\"}\n"
     "  | logfmt --strict x=\"y\"\n"
     "  | regexp \"(?P<a>.)\"\n"
     "  | pattern \"<b> <_>\"\n"
     "  | unpack\n"
     "  | json"},
    {"label filter expression", 20,
     "{app=\"foo\"} | json | duration > 1s or status=~\"5..\" | size >= 20MB",
     "{app=\"foo\"}\n"
     "  | json\n"
     "  | ( duration>1s or status=~\"5..\" )\n"
     "  | size>=20MB"},
    {"line filter or", 20,
     "{app=\"foo\"} |= \"error\" or \"warn\" != \"debug\" |~ \"x\"",
     "{app=\"foo\"}\n"
     "  |= \"error\" or \"warn\"\n"
     "  != \"debug\"\n"
     "  |~ \"x\""},
    {"line filters fitting", 20,
     "{app=\"foo\", env=\"production\"} |= \"a\" != \"b\" | logfmt",
     "{app=\"foo\", env=\"production\"}\n"
     "  |= \"a\" != \"b\"\n"
     "  | logfmt"},
    {"without", 20,
     "sum without (a, b) (rate({app=\"foo\"}[5m]))",
     "sum without (a, b)(\n"
     "  rate(\n"
     "    {app=\"foo\"} [5m]\n"
     "  )\n"
     ")"},
    {"unwrap conversion", 20,
     "max_over_time({app=\"foo\"} | logfmt | unwrap bytes(size) | __error__=\"\" [5m] offset 1h) by (host)",
     "max_over_time(\n"
     "  {app=\"foo\"} | logfmt\n"
     "    | unwrap bytes(size)\n"
     "    | __error__=\"\" [5m] offset 1h\n"
     ") by (host)"},
    {"unwrap duration", 20,
     "avg_over_time({app=\"foo\"} | unwrap duration_seconds(d) [1m])",
     "avg_over_time(\n"
     "  {app=\"foo\"}\n"
     "    | unwrap duration_seconds(d) [1m]\n"
     ")"},
    {"topk nested", 20,
     "topk(3, sum by (app) (rate({app=\"foo\"}[5m])))",
     "topk(\n"
     "  3,\n"
     "  sum by (app)(\n"
     "    rate(\n"
     "      {app=\"foo\"} [5m]\n"
     "    )\n"
     "  )\n"
     ")"},
    {"bool", 20,
     "count_over_time({app=\"foo\"}[5m]) > bool 10",
     "  count_over_time(\n"
     "    {app=\"foo\"} [5m]\n"
     "  )\n"
     "> bool\n"
     "  10"},
    {"ignoring group_right", 20,
     "sum by (a) (rate({app=\"foo\"}[1m])) / ignoring (b) group_right (c) sum by (a) (rate({app=\"bar\"}[1m]))",
     "  sum by (a)(\n"
     "    rate(\n"
     "      {app=\"foo\"} [1m]\n"
     "    )\n"
     "  )\n"
     "/ ignoring (b) group_right (c)\n"
     "  sum by (a)(\n"
     "    rate(\n"
     "      {app=\"bar\"} [1m]\n"
     "    )\n"
     "  )"},
    {"on without group", 20,
     "sum by (a) (rate({app=\"foo\"}[1m])) - on (a) sum by (a) (rate({app=\"bar\"}[1m]))",
     "  sum by (a)(\n"
     "    rate(\n"
     "      {app=\"foo\"} [1m]\n"
     "    )\n"
     "  )\n"
     "- on (a) \n"
     "  sum by (a)(\n"
     "    rate(\n"
     "      {app=\"bar\"} [1m]\n"
     "    )\n"
     "  )"},
    {"vector", 20,
     "sum(rate({app=\"foo\"}[1m])) or vector(0)",
     "  sum(\n"
     "    rate(\n"
     "      {app=\"foo\"} [1m]\n"
     "    )\n"
     "  )\n"
     "or\n"
     "  vector(0.000000)"},
    {"parenthesised operand", 20,
     "(sum(rate({a=\"b\"}[1m])) + sum(rate({a=\"c\"}[1m]))) * sum(rate({a=\"d\"}[1m]))",
     "  (\n"
     "      sum(\n"
     "        rate({a=\"b\"}[1m])\n"
     "      )\n"
     "    +\n"
     "      sum(\n"
     "        rate({a=\"c\"}[1m])\n"
     "      )\n"
     "  )\n"
     "*\n"
     "  sum(\n"
     "    rate({a=\"d\"}[1m])\n"
     "  )"},
    {"literal", 20,
     "1.5",
     "1.5"},
    {"literal fold", 20,
     "2 * 3",
     "6"},
    {"negative offset", 20,
     "count_over_time({app=\"foo\"}[5m] offset -30s)",
     "count_over_time(\n"
     "  {app=\"foo\"} [5m] offset -30s\n"
     ")"},
    {"sub-millisecond offset", 20,
     "count_over_time({app=\"foo\"}[5m] offset 1500us)",
     "count_over_time(\n"
     "  {app=\"foo\"} [5m] offset 1.5ms\n"
     ")"},
    {"empty without", 20,
     "sum without () (rate({app=\"foo\"}[5m]))",
     "sum without ()(\n"
     "  rate(\n"
     "    {app=\"foo\"} [5m]\n"
     "  )\n"
     ")"},
    {"empty by on a range aggregation", 20,
     "max_over_time({app=\"foo\"} | unwrap x [5m]) by ()",
     "max_over_time(\n"
     "  {app=\"foo\"}\n"
     "    | unwrap x [5m]\n"
     ") by ()"},
    {"empty by on a vector aggregation", 20,
     "sum by () (rate({app=\"foo\"}[5m]))",
     "sum(\n"
     "  rate(\n"
     "    {app=\"foo\"} [5m]\n"
     "  )\n"
     ")"},
    {"on ()", 20,
     "sum(rate({app=\"foo\"}[1m])) * on () group_left sum(rate({app=\"bar\"}[1m]))",
     "  sum(\n"
     "    rate(\n"
     "      {app=\"foo\"} [1m]\n"
     "    )\n"
     "  )\n"
     "* on () group_left\n"
     "  sum(\n"
     "    rate(\n"
     "      {app=\"bar\"} [1m]\n"
     "    )\n"
     "  )"},
    {"split filter keeps or", 20,
     "{app=\"foo\"} |= \"aaaaaaaaaa\" or \"bbbbbbbbbb\" |= \"c\"",
     "{app=\"foo\"}\n"
     "  |= \"aaaaaaaaaa\" or \"bbbbbbbbbb\"\n"
     "  |= \"c\""},
    {"right operand of the same precedence", 20,
     "sum(rate({a=\"b\"}[1m])) - (sum(rate({a=\"c\"}[1m])) - sum(rate({a=\"d\"}[1m])))",
     "  sum(\n"
     "    rate({a=\"b\"}[1m])\n"
     "  )\n"
     "-\n"
     "  (\n"
     "      sum(\n"
     "        rate({a=\"c\"}[1m])\n"
     "      )\n"
     "    -\n"
     "      sum(\n"
     "        rate({a=\"d\"}[1m])\n"
     "      )\n"
     "  )"},
    {"power groups right", 20,
     "sum(rate({a=\"b\"}[1m])) ^ sum(rate({a=\"c\"}[1m])) ^ sum(rate({a=\"d\"}[1m]))",
     "  sum(\n"
     "    rate({a=\"b\"}[1m])\n"
     "  )\n"
     "^\n"
     "    sum(\n"
     "      rate({a=\"c\"}[1m])\n"
     "    )\n"
     "  ^\n"
     "    sum(\n"
     "      rate({a=\"d\"}[1m])\n"
     "    )"},
    {"short pipeline", 100,
     "{app=\"foo\"}|=\"x\"|logfmt|level=\"error\"",
     "{app=\"foo\"} |= \"x\" | logfmt | level=\"error\""},
    {"short vector", 100,
     "sum by(a)(rate({app=\"x\"}|=\"b\"[5m]))",
     "sum by (a)(rate({app=\"x\"} |= \"b\"[5m]))"},
    {"short binop", 100,
     "sum(rate({app=\"x\"}[5m])) / 2",
     "(sum(rate({app=\"x\"}[5m])) / 2)"},
    {"short label_replace", 100,
     "label_replace(rate({a=\"b\"}[1m]), \"d\", \"$1\", \"s\", \"(.*)\")",
     "label_replace(rate({a=\"b\"}[1m]),\"d\",\"$1\",\"s\",\"(.*)\")"},
    {"long at 100", 100,
     "sum by (namespace, cluster) (count_over_time({namespace=\"loki-prod\", container=\"ingester\"} |= \"level=error\" | logfmt [5m]))",
     "sum by (namespace, cluster)(\n"
     "  count_over_time({namespace=\"loki-prod\", container=\"ingester\"} |= \"level=error\" | logfmt[5m])\n"
     ")"},
};

/* Parses q (asserting success) and returns its canonical text. */
static char *canonical_of(const char *q, size_t len, struct noa_logql_expr **out)
{
    struct noa_error err = {0};
    struct noa_logql_expr *e = NULL;
    int rc = noa_logql_parse(q, len, &e, &err);
    if (rc != 0)
        fail_msg("parse failed: %s: %s", q, err.msg);
    struct noa_buf b = {0};
    noa_logql_format(e, &b);
    char *s = noa_xmalloc(b.len + 1);
    memcpy(s, b.data, b.len);
    s[b.len] = 0;
    noa_buf_fini(&b);
    *out = e;
    return s;
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct pretty_case *c = &cases[i];
        struct noa_logql_expr *e = NULL;
        char *canon = canonical_of(c->q, strlen(c->q), &e);
        struct noa_buf b = {0};
        noa_logql_pretty_width(e, c->width, &b);
        const char *got = noa_buf_cstr(&b);
        if (strcmp(got, c->want) != 0)
            fail_msg("case %s:\n--- want\n%s\n--- got\n%s\n", c->name, c->want, got);
        /* the pretty text reads back as the same query */
        struct noa_logql_expr *e2 = NULL;
        char *canon2 = canonical_of(b.data, b.len, &e2);
        assert_string_equal(canon, canon2);
        noa_free(canon2);
        noa_logql_free(e2);
        noa_buf_fini(&b);
        noa_free(canon);
        noa_logql_free(e);
    }
}

/* At the default width a query that fits prints exactly its canonical
 * text, and noa_logql_pretty is the width-100 form. */
static void test_default_width(void **state)
{
    (void)state;
    assert_int_equal(NOA_LOGQL_PRETTY_WIDTH, 100);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct noa_logql_expr *e = NULL;
        char *canon = canonical_of(cases[i].q, strlen(cases[i].q), &e);
        struct noa_buf a = {0}, b = {0};
        noa_logql_pretty(e, &a);
        noa_logql_pretty_width(e, 100, &b);
        assert_string_equal(noa_buf_cstr(&a), noa_buf_cstr(&b));
        if (strlen(canon) <= 100)
            assert_string_equal(noa_buf_cstr(&a), canon);
        else
            assert_non_null(strchr(noa_buf_cstr(&a), '\n'));
        noa_buf_fini(&a);
        noa_buf_fini(&b);
        noa_free(canon);
        noa_logql_free(e);
    }
}

/* Appends to out (does not reset) so several calls compose. */
static void test_appends(void **state)
{
    (void)state;
    struct noa_logql_expr *e = NULL;
    char *canon = canonical_of("{a=\"b\"}", 7, &e);
    struct noa_buf b = {0};
    noa_buf_append(&b, "x:", 2);
    noa_logql_pretty(e, &b);
    assert_string_equal(noa_buf_cstr(&b), "x:{a=\"b\"}");
    noa_buf_fini(&b);
    noa_free(canon);
    noa_logql_free(e);
}

/* A long run of line filters: the longest prefix that fits on the first
 * line, then one filter per line (and in linear time: 10000 filters). */
static void test_long_filter_run(void **state)
{
    (void)state;
    struct noa_buf q = {0}, p = {0};
    noa_buf_append(&q, "{a=\"b\"}", 7);
    for (int i = 0; i < 10000; i++)
        noa_buf_append(&q, " |= \"ab\"", 8);
    struct noa_logql_expr *e = NULL;
    char *canon = canonical_of(q.data, q.len, &e);
    noa_logql_pretty(e, &p);
    const char *t = noa_buf_cstr(&p);
    unsigned lines = 1;
    for (const char *x = t; *x; x++)
        lines += *x == '\n';
    /* 12 filters of 7 bytes fit in 100 (95 with spaces), 13 do not */
    assert_int_equal(lines, 1 + 1 + (10000 - 12));
    assert_memory_equal(t, "{a=\"b\"}\n  |= \"ab\" |= \"ab\"", 25);
    const char *l2 = strchr(t, '\n') + 1;
    assert_int_equal(strchr(l2, '\n') - l2, 2 + 95);
    struct noa_logql_expr *e2 = NULL;
    char *canon2 = canonical_of(p.data, p.len, &e2);
    assert_string_equal(canon, canon2);
    noa_free(canon);
    noa_free(canon2);
    noa_logql_free(e);
    noa_logql_free(e2);
    noa_buf_fini(&q);
    noa_buf_fini(&p);
}

/* Directory of the fuzz corpus: under $NOA_SRC (set by CTest), else
 * found from this file's path. */
static void corpus_dir(char *dir, size_t n)
{
    const char *src = getenv("NOA_SRC");
    if (src && *src) {
        snprintf(dir, n, "%s/tests/fuzz/corpus/logql", src);
        return;
    }
    const char *f = __FILE__;
    const char *tail = strstr(f, "tests/unit/common/");
    size_t pre = tail ? (size_t)(tail - f) : 0;
    snprintf(dir, n, "%.*stests/fuzz/corpus/logql", (int)pre, f);
}

static void round_trip_one(const char *q, size_t len, unsigned *checked)
{
    struct noa_error err = {0};
    struct noa_logql_expr *e = NULL;
    if (noa_logql_parse(q, len, &e, &err) != 0)
        return; /* invalid inputs have nothing to print */
    /* Compare with the canonical text read back once: a few canonical
     * forms (rounded byte sizes) are not fixed points themselves. */
    struct noa_buf canon = {0}, first = {0};
    noa_logql_format(e, &first);
    noa_logql_free(e);
    e = NULL;
    if (noa_logql_parse(first.data, first.len, &e, &err) != 0)
        fail_msg("canonical text does not parse: %s", noa_buf_cstr(&first));
    noa_buf_fini(&first);
    noa_logql_format(e, &canon);
    static const size_t widths[] = {0, 1, 20, 40, 100, 100000};
    for (size_t w = 0; w < sizeof(widths) / sizeof(widths[0]); w++) {
        struct noa_buf p = {0}, c2 = {0};
        noa_logql_pretty_width(e, widths[w], &p);
        struct noa_logql_expr *e2 = NULL;
        struct noa_error err2 = {0};
        if (noa_logql_parse(p.data ? p.data : "", p.len, &e2, &err2) != 0)
            fail_msg("width %zu: pretty text does not parse (%s):\n%s\n", widths[w], err2.msg,
                     noa_buf_cstr(&p));
        noa_logql_format(e2, &c2);
        if (strcmp(noa_buf_cstr(&canon), noa_buf_cstr(&c2)) != 0)
            fail_msg("width %zu: round trip changed the query:\n%s\n--- pretty\n%s\n--- back\n%s\n",
                     widths[w], noa_buf_cstr(&canon), noa_buf_cstr(&p), noa_buf_cstr(&c2));
        if (canon.len <= widths[w])
            assert_string_equal(noa_buf_cstr(&p), noa_buf_cstr(&canon));
        noa_logql_free(e2);
        noa_buf_fini(&p);
        noa_buf_fini(&c2);
    }
    (*checked)++;
    noa_buf_fini(&canon);
    noa_logql_free(e);
}

static void test_round_trip_corpus(void **state)
{
    (void)state;
    char dir[4096];
    corpus_dir(dir, sizeof(dir));
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot open %s", dir);
    unsigned checked = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        static char data[NOA_LOGQL_MAX_INPUT + 1];
        size_t n = fread(data, 1, sizeof(data), f);
        fclose(f);
        round_trip_one(data, n, &checked);
    }
    closedir(d);
    /* the corpus holds dozens of valid queries; an empty run is a failure */
    assert_true(checked >= 20);
}

/* The table's own inputs round-trip at every width too. */
static void test_round_trip_table(void **state)
{
    (void)state;
    unsigned checked = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        round_trip_one(cases[i].q, strlen(cases[i].q), &checked);
    assert_int_equal(checked, sizeof(cases) / sizeof(cases[0]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_default_width),
        cmocka_unit_test(test_appends),
        cmocka_unit_test(test_long_filter_run),
        cmocka_unit_test(test_round_trip_corpus),
        cmocka_unit_test(test_round_trip_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
