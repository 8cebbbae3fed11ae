/*
 * Unit tests for common/logql_{lex,parse,format}.c: a table of valid
 * queries with their canonical text (format(parse(q)) and the round trip
 * through a second parse), a table of invalid queries with Loki's error
 * text and position, AST shape checks, lexer units and resource limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/logql.h"
#include "common/mem.h"

struct valid_case {
    const char *q;
    const char *canonical;
};

/* Canonical forms follow Loki's syntax.Expr.String(). */
static const struct valid_case valid[] = {
    {"{app=\"foo\"}",
     "{app=\"foo\"}"},
    {"{ app = \"foo\" , env != \"dev\" }",
     "{app=\"foo\", env!=\"dev\"}"},
    {"{app=~\"api|web\", env!~\"test.*\"}",
     "{app=~\"api|web\", env!~\"test.*\"}"},
    {"{app=\"foo\", env=\"\"}",
     "{app=\"foo\", env=\"\"}"},
    {"{app=`raw\\d`}",
     "{app=\"raw\\\\d\"}"},
    {"{app=\"a\\\"b\\\\c\\n\"}",
     "{app=\"a\\\"b\\\\c\\n\"}"},
    {"{app=\"foo\"} |= \"error\"",
     "{app=\"foo\"} |= \"error\""},
    {"{app=\"foo\"} != \"debug\"",
     "{app=\"foo\"} != \"debug\""},
    {"{app=\"foo\"} |~ \"err(or)?\"",
     "{app=\"foo\"} |~ \"err(or)?\""},
    {"{app=\"foo\"} !~ `\\d+`",
     "{app=\"foo\"} !~ \"\\\\d+\""},
    {"{app=\"foo\"} |> \"<_> GET <_>\"",
     "{app=\"foo\"} |> \"<_> GET <_>\""},
    {"{app=\"foo\"} !> \"<_> health <_>\"",
     "{app=\"foo\"} !> \"<_> health <_>\""},
    {"{app=\"foo\"} |= \"a\" or \"b\"",
     "{app=\"foo\"} |= \"a\" or \"b\""},
    {"{app=\"foo\"} != \"a\" or \"b\" or \"c\"",
     "{app=\"foo\"} != \"a\" != \"b\" != \"c\""},
    {"{app=\"foo\"} |= ip(\"10.0.0.0/8\")",
     "{app=\"foo\"} |= ip(\"10.0.0.0/8\")"},
    {"{app=\"foo\"} != ip(\"192.168.0.1-192.168.0.9\") or \"x\"",
     "{app=\"foo\"} != ip(\"192.168.0.1-192.168.0.9\") != \"x\""},
    {"{app=\"foo\"} |= \"x\" |= \"y\" != \"z\"",
     "{app=\"foo\"} |= \"x\" |= \"y\" != \"z\""},
    {"{app=\"foo\"} | json",
     "{app=\"foo\"} | json"},
    {"{app=\"foo\"} | json first=\"a.b\", second=\"c[0]\", third",
     "{app=\"foo\"} | json first=\"a.b\",second=\"c[0]\",third=\"third\""},
    {"{app=\"foo\"} | json x=`[\"a b\"]`",
     "{app=\"foo\"} | json x=\"[\\\"a b\\\"]\""},
    {"{app=\"foo\"} | logfmt",
     "{app=\"foo\"} | logfmt"},
    {"{app=\"foo\"} | logfmt --strict",
     "{app=\"foo\"} | logfmt --strict"},
    {"{app=\"foo\"} | logfmt --keep-empty --strict",
     "{app=\"foo\"} | logfmt --strict --keep-empty"},
    {"{app=\"foo\"} | logfmt lvl=\"level\", msg",
     "{app=\"foo\"} | logfmt lvl=\"level\",msg=\"msg\""},
    {"{app=\"foo\"} | logfmt --strict a",
     "{app=\"foo\"} | logfmt --strict a=\"a\""},
    {"{app=\"foo\"} | regexp \"(?P<method>\\\\w+) (?P<path>[^ ]+)\"",
     "{app=\"foo\"} | regexp \"(?P<method>\\\\w+) (?P<path>[^ ]+)\""},
    {"{app=\"foo\"} | regexp `(?<ip>\\S+)`",
     "{app=\"foo\"} | regexp \"(?<ip>\\\\S+)\""},
    {"{app=\"foo\"} | pattern \"<ip> - - [<_>] \\\"<method> <path> <_>\\\" <status>\"",
     "{app=\"foo\"} | pattern \"<ip> - - [<_>] \\\"<method> <path> <_>\\\" <status>\""},
    {"{app=\"foo\"} | unpack",
     "{app=\"foo\"} | unpack"},
    {"{app=\"foo\"} | decolorize",
     "{app=\"foo\"} | decolorize"},
    {"{app=\"foo\"} | line_format \"{{.status}} {{.msg | ToUpper}}\"",
     "{app=\"foo\"} | line_format \"{{.status}} {{.msg | ToUpper}}\""},
    {"{app=\"foo\"} | label_format new=old",
     "{app=\"foo\"} | label_format new=old"},
    {"{app=\"foo\"} | label_format a=b, c=\"{{.d}}-x\"",
     "{app=\"foo\"} | label_format a=b,c=\"{{.d}}-x\""},
    {"{app=\"foo\"} | drop a",
     "{app=\"foo\"} | drop a"},
    {"{app=\"foo\"} | drop a, b=\"x\", c=~\"y.*\"",
     "{app=\"foo\"} | drop a,b=\"x\",c=~\"y.*\""},
    {"{app=\"foo\"} | keep a, b!=\"x\"",
     "{app=\"foo\"} | keep a,b!=\"x\""},
    {"{app=\"foo\"} | level=\"error\"",
     "{app=\"foo\"} | level=\"error\""},
    {"{app=\"foo\"} | level!=\"debug\" | msg=~\".+timeout.+\" | x!~\"y\"",
     "{app=\"foo\"} | level!=\"debug\" | msg=~\".+timeout.+\" | x!~\"y\""},
    {"{app=\"foo\"} | status >= 500",
     "{app=\"foo\"} | status>=500"},
    {"{app=\"foo\"} | status == 200",
     "{app=\"foo\"} | status==200"},
    {"{app=\"foo\"} | status = 200",
     "{app=\"foo\"} | status==200"},
    {"{app=\"foo\"} | status != 200",
     "{app=\"foo\"} | status!=200"},
    {"{app=\"foo\"} | x > -1.5",
     "{app=\"foo\"} | x>-1.5"},
    {"{app=\"foo\"} | x < +3",
     "{app=\"foo\"} | x<3"},
    {"{app=\"foo\"} | latency > 250ms",
     "{app=\"foo\"} | latency>250ms"},
    {"{app=\"foo\"} | latency <= 1m30s",
     "{app=\"foo\"} | latency<=1m30s"},
    {"{app=\"foo\"} | took > 1.5s",
     "{app=\"foo\"} | took>1.5s"},
    {"{app=\"foo\"} | size > 20MB",
     "{app=\"foo\"} | size>20MB"},
    {"{app=\"foo\"} | size <= 1KiB",
     "{app=\"foo\"} | size<=1.0kB"},
    {"{app=\"foo\"} | size < 5B",
     "{app=\"foo\"} | size<5B"},
    {"{app=\"foo\"} | addr = ip(\"10.0.0.0/8\")",
     "{app=\"foo\"} | addr=ip(\"10.0.0.0/8\")"},
    {"{app=\"foo\"} | addr != ip(\"::1\")",
     "{app=\"foo\"} | addr!=ip(\"::1\")"},
    {"{app=\"foo\"} | a=\"1\" and b=\"2\"",
     "{app=\"foo\"} | ( a=\"1\" , b=\"2\" )"},
    {"{app=\"foo\"} | a=\"1\", b=\"2\"",
     "{app=\"foo\"} | ( a=\"1\" , b=\"2\" )"},
    {"{app=\"foo\"} | a=\"1\" b=\"2\"",
     "{app=\"foo\"} | ( a=\"1\" , b=\"2\" )"},
    {"{app=\"foo\"} | a=\"1\" or b=\"2\" and c=\"3\"",
     "{app=\"foo\"} | ( a=\"1\" or ( b=\"2\" , c=\"3\" ) )"},
    {"{app=\"foo\"} | (a=\"1\" or b=\"2\") and c=\"3\"",
     "{app=\"foo\"} | ( ( a=\"1\" or b=\"2\" ) , c=\"3\" )"},
    {"{app=\"foo\"} | json | __error__=\"\" | line_format \"{{.msg}}\" | status>=400",
     "{app=\"foo\"} | json | __error__=\"\" | line_format \"{{.msg}}\" | status>=400"},
    {"(({app=\"foo\"} |= \"x\"))",
     "{app=\"foo\"} |= \"x\""},
    {"{app=\"foo\"} # a comment",
     "{app=\"foo\"}"},
    {"{app=\"foo\"} | JSON | LOGFMT",
     "{app=\"foo\"} | json | logfmt"},
    {"count_over_time({app=\"foo\"}[5m])",
     "count_over_time({app=\"foo\"}[5m])"},
    {"COUNT_OVER_TIME({app=\"foo\"}[5m])",
     "count_over_time({app=\"foo\"}[5m])"},
    {"rate({app=\"foo\"} |= \"error\" [1m])",
     "rate({app=\"foo\"} |= \"error\"[1m])"},
    {"rate({app=\"foo\"}[1m] |= \"error\")",
     "rate({app=\"foo\"} |= \"error\"[1m])"},
    {"rate(({app=\"foo\"} |= \"error\")[1m])",
     "rate({app=\"foo\"} |= \"error\"[1m])"},
    {"rate(({app=\"foo\"})[1m])",
     "rate({app=\"foo\"}[1m])"},
    {"bytes_over_time({app=\"foo\"}[1h30m])",
     "bytes_over_time({app=\"foo\"}[1h30m])"},
    {"bytes_rate({app=\"foo\"}[30s])",
     "bytes_rate({app=\"foo\"}[30s])"},
    {"absent_over_time({app=\"foo\"}[5m])",
     "absent_over_time({app=\"foo\"}[5m])"},
    {"count_over_time({app=\"foo\"}[5m] offset 1h)",
     "count_over_time({app=\"foo\"}[5m] offset 1h0m0s)"},
    {"count_over_time({app=\"foo\"}[7d])",
     "count_over_time({app=\"foo\"}[1w])"},
    {"count_over_time({app=\"foo\"}[500ms] offset -5m)",
     "count_over_time({app=\"foo\"}[500ms] offset -5m0s)"},
    {"sum_over_time({app=\"foo\"} | logfmt | unwrap bytes_sent [5m])",
     "sum_over_time({app=\"foo\"} | logfmt | unwrap bytes_sent[5m])"},
    {"sum_over_time({app=\"foo\"} | unwrap x [5m] offset 10m)",
     "sum_over_time({app=\"foo\"} | unwrap x[5m] offset 10m0s)"},
    {"avg_over_time({app=\"foo\"} | json | unwrap duration(latency) | __error__=\"\" [5m]) by (pod)",
     "avg_over_time({app=\"foo\"} | json | unwrap duration(latency) | __error__=\"\"[5m]) by (pod)"},
    {"max_over_time({app=\"foo\"} | unwrap duration_seconds(t) [1m]) without (host)",
     "max_over_time({app=\"foo\"} | unwrap duration_seconds(t)[1m]) without (host)"},
    {"min_over_time({app=\"foo\"} | unwrap bytes(size) | size > 0 | __error__=\"\" [1m])",
     "min_over_time({app=\"foo\"} | unwrap bytes(size) | size>0 | __error__=\"\"[1m])"},
    {"first_over_time({app=\"foo\"} | unwrap x [1m]) by (a, b)",
     "first_over_time({app=\"foo\"} | unwrap x[1m]) by (a,b)"},
    {"last_over_time({app=\"foo\"}[1m] | logfmt | unwrap x)",
     "last_over_time({app=\"foo\"} | logfmt | unwrap x[1m])"},
    {"stddev_over_time({app=\"foo\"} | unwrap x [1m])",
     "stddev_over_time({app=\"foo\"} | unwrap x[1m])"},
    {"stdvar_over_time(({app=\"foo\"} | unwrap x)[1m])",
     "stdvar_over_time({app=\"foo\"} | unwrap x[1m])"},
    {"quantile_over_time(0.99, {app=\"foo\"} | unwrap latency [5m]) by (route)",
     "quantile_over_time(0.99,{app=\"foo\"} | unwrap latency[5m]) by (route)"},
    {"rate_counter({app=\"foo\"} | unwrap counter [5m])",
     "rate_counter({app=\"foo\"} | unwrap counter[5m])"},
    {"rate({app=\"foo\"} | unwrap bytes [5m])",
     "rate({app=\"foo\"} | unwrap bytes[5m])"},
    {"sum(rate({app=\"foo\"}[1m]))",
     "sum(rate({app=\"foo\"}[1m]))"},
    {"sum by (app) (rate({app=\"foo\"}[1m]))",
     "sum by (app)(rate({app=\"foo\"}[1m]))"},
    {"sum(rate({app=\"foo\"}[1m])) by (app, env)",
     "sum by (app,env)(rate({app=\"foo\"}[1m]))"},
    {"sum without (pod) (rate({app=\"foo\"}[1m]))",
     "sum without (pod)(rate({app=\"foo\"}[1m]))"},
    {"sum without () (rate({app=\"foo\"}[1m]))",
     "sum without ()(rate({app=\"foo\"}[1m]))"},
    {"sum by () (rate({app=\"foo\"}[1m]))",
     "sum(rate({app=\"foo\"}[1m]))"},
    {"avg(count_over_time({app=\"foo\"}[1m]))",
     "avg(count_over_time({app=\"foo\"}[1m]))"},
    {"min(count_over_time({app=\"foo\"}[1m])) by (a)",
     "min by (a)(count_over_time({app=\"foo\"}[1m]))"},
    {"max by (a) (count_over_time({app=\"foo\"}[1m]))",
     "max by (a)(count_over_time({app=\"foo\"}[1m]))"},
    {"count(count_over_time({app=\"foo\"}[1m]))",
     "count(count_over_time({app=\"foo\"}[1m]))"},
    {"stddev(count_over_time({app=\"foo\"}[1m]))",
     "stddev(count_over_time({app=\"foo\"}[1m]))"},
    {"stdvar(count_over_time({app=\"foo\"}[1m]))",
     "stdvar(count_over_time({app=\"foo\"}[1m]))"},
    {"topk(5, rate({app=\"foo\"}[1m]))",
     "topk(5,rate({app=\"foo\"}[1m]))"},
    {"topk by (app) (3, rate({app=\"foo\"}[1m]))",
     "topk by (app)(3,rate({app=\"foo\"}[1m]))"},
    {"bottomk(2, rate({app=\"foo\"}[1m])) by (app)",
     "bottomk by (app)(2,rate({app=\"foo\"}[1m]))"},
    {"sort(rate({app=\"foo\"}[1m]))",
     "sort(rate({app=\"foo\"}[1m]))"},
    {"sort_desc(sum by (a) (rate({app=\"foo\"}[1m])))",
     "sort_desc(sum by (a)(rate({app=\"foo\"}[1m])))"},
    {"sort(rate({app=\"foo\"}[1m])) by ()",
     "sort(rate({app=\"foo\"}[1m]))"},
    {"approx_topk(10, sum by (x) (rate({app=\"foo\"}[1m])))",
     "approx_topk(10,sum by (x)(rate({app=\"foo\"}[1m])))"},
    {"vector(1)",
     "vector(1.000000)"},
    {"vector(0.5)",
     "vector(0.500000)"},
    {"1",
     "1"},
    {"-2.5",
     "-2.5"},
    {"1e3",
     "1000"},
    {"1e10",
     "1e+10"},
    {"0.0001",
     "0.0001"},
    {"0.00001",
     "1e-05"},
    {"1234567",
     "1.234567e+06"},
    {"1 + 2 * 3",
     "7"},
    {"(1 + 2) * 3",
     "9"},
    {"2 ^ 3 ^ 2",
     "512"},
    {"-2 ^ 2",
     "4"},
    {"10 % 3",
     "1"},
    {"1 > 1 > bool 1",
     "0"},
    {"2 > bool 1",
     "1"},
    {"10 / 0",
     "(0 / 0)"},
    {"0x1p3 + 1",
     "9"},
    {"sum(rate({app=\"foo\"}[1m])) / sum(rate({app=\"bar\"}[1m]))",
     "(sum(rate({app=\"foo\"}[1m])) / sum(rate({app=\"bar\"}[1m])))"},
    {"sum(rate({app=\"foo\"}[1m])) * 100",
     "(sum(rate({app=\"foo\"}[1m])) * 100)"},
    {"100 * sum(rate({app=\"foo\"}[1m]))",
     "(100 * sum(rate({app=\"foo\"}[1m])))"},
    {"rate({a=\"b\"}[1m]) + rate({c=\"d\"}[1m]) * 2",
     "(rate({a=\"b\"}[1m]) + (rate({c=\"d\"}[1m]) * 2))"},
    {"rate({a=\"b\"}[1m]) - rate({c=\"d\"}[1m]) - rate({e=\"f\"}[1m])",
     "((rate({a=\"b\"}[1m]) - rate({c=\"d\"}[1m])) - rate({e=\"f\"}[1m]))"},
    {"rate({a=\"b\"}[1m]) ^ 2 ^ 3",
     "(rate({a=\"b\"}[1m]) ^ 8)"},
    {"rate({a=\"b\"}[1m]) > 10",
     "(rate({a=\"b\"}[1m]) > 10)"},
    {"rate({a=\"b\"}[1m]) > bool 10",
     "(rate({a=\"b\"}[1m]) > bool 10)"},
    {"rate({a=\"b\"}[1m]) == on (x) rate({c=\"d\"}[1m])",
     "(rate({a=\"b\"}[1m]) == on (x)  rate({c=\"d\"}[1m]))"},
    {"rate({a=\"b\"}[1m]) * ignoring (y) rate({c=\"d\"}[1m])",
     "(rate({a=\"b\"}[1m]) * ignoring (y)  rate({c=\"d\"}[1m]))"},
    {"rate({a=\"b\"}[1m]) * on () group_left rate({c=\"d\"}[1m])",
     "(rate({a=\"b\"}[1m]) * on () group_left rate({c=\"d\"}[1m]))"},
    {"rate({a=\"b\"}[1m]) * on (x) group_left (y, z) rate({c=\"d\"}[1m])",
     "(rate({a=\"b\"}[1m]) * on (x) group_left (y,z) rate({c=\"d\"}[1m]))"},
    {"rate({a=\"b\"}[1m]) / ignoring (x) group_right () rate({c=\"d\"}[1m])",
     "(rate({a=\"b\"}[1m]) / ignoring (x) group_right () rate({c=\"d\"}[1m]))"},
    {"rate({a=\"b\"}[1m]) > bool on (x) group_left (y) rate({c=\"d\"}[1m])",
     "(rate({a=\"b\"}[1m]) > bool on (x) group_left (y) rate({c=\"d\"}[1m]))"},
    {"rate({a=\"b\"}[1m]) or vector(0)",
     "(rate({a=\"b\"}[1m]) or vector(0.000000))"},
    {"rate({a=\"b\"}[1m]) and rate({c=\"d\"}[1m]) or rate({e=\"f\"}[1m])",
     "((rate({a=\"b\"}[1m]) and rate({c=\"d\"}[1m])) or rate({e=\"f\"}[1m]))"},
    {"rate({a=\"b\"}[1m]) or rate({c=\"d\"}[1m]) and rate({e=\"f\"}[1m])",
     "(rate({a=\"b\"}[1m]) or (rate({c=\"d\"}[1m]) and rate({e=\"f\"}[1m])))"},
    {"rate({a=\"b\"}[1m]) unless on (x) rate({c=\"d\"}[1m])",
     "(rate({a=\"b\"}[1m]) unless on (x)  rate({c=\"d\"}[1m]))"},
    {"label_replace(rate({a=\"b\"}[1m]), \"dst\", \"$1\", \"src\", \"(.*)\")",
     "label_replace(rate({a=\"b\"}[1m]),\"dst\",\"$1\",\"src\",\"(.*)\")"},
    {"label_replace(sum by (src) (rate({a=\"b\"}[1m])), \"d\", \"x-$1\", \"src\", \"a(.)c\")",
     "label_replace(sum by (src)(rate({a=\"b\"}[1m])),\"d\",\"x-$1\",\"src\",\"a(.)c\")"},
    {"sum by (bytes, duration) (rate({a=\"b\"}[1m]))",
     "sum by (bytes,duration)(rate({a=\"b\"}[1m]))"},
    {"{a=\"b\"} | bytes > 1KB | duration > 1s",
     "{a=\"b\"} | bytes>1.0kB | duration>1s"},
    {"count_over_time({a=\"b\"}\n  |= \"x\" # trailing comment\n  [5m])",
     "count_over_time({a=\"b\"} |= \"x\"[5m])"},
    {"rate({a=\"b\"}[1m]) / ignoring () rate({c=\"d\"}[1m])",
     "(rate({a=\"b\"}[1m]) / rate({c=\"d\"}[1m]))"},
    {"{a=\"b\"} |= \"a\" or \"b\" !~ \"c\" or \"d\"",
     "{a=\"b\"} |= \"a\" or \"b\" !~ \"c\" !~ \"d\""},
    {"{a=\"b\"} != ip(\"1.1.1.1\") or \"x\"",
     "{a=\"b\"} != ip(\"1.1.1.1\") != \"x\""},
};

struct invalid_case {
    const char *q;
    int line, col; /* 0, 0 for validation errors ("parse error : ...") */
    const char *msg; /* expected prefix of the message */
};

static const struct invalid_case invalid[] = {
    {"{foo=\"bar\"", 1, 11,
     "parse error at line 1, col 11: syntax error: unexpected $end, expecting } or ,"},
    {"{foo=\"bar\"} |~", 1, 15,
     "parse error at line 1, col 15: syntax error: unexpected $end, expecting STRING or ip"},
    {"{foo=\"bar\"} \"foo\"", 1, 13,
     "parse error at line 1, col 13: syntax error: unexpected STRING"},
    {"count without (rate({a=\"b\"}[1m]))", 1, 16,
     "parse error at line 1, col 16: syntax error: unexpected RATE, expecting IDENTIFIER or )"},
    {"bool 1 > 1 > bool 1", 1, 1,
     "parse error at line 1, col 1: syntax error: unexpected bool"},
    {"rate({ foo = \"bar\" }[5)", 1, 21,
     "parse error at line 1, col 21: missing closing ']' in duration"},
    {"{foo!=\"bar\"}", 0, 0,
     "parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible v"},
    {"{app=~\".*\"}", 0, 0,
     "parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible v"},
    {"{}", 0, 0,
     "parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible v"},
    {"{foo=\"\"}", 0, 0,
     "parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible v"},
    {"{a!~\"x\"}", 0, 0,
     "parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible v"},
    {"sum_over_time({a=\"b\"}[5m])", 0, 0,
     "parse error : invalid aggregation sum_over_time without unwrap"},
    {"count_over_time({a=\"b\"} | unwrap x [5m])", 0, 0,
     "parse error : invalid aggregation count_over_time with unwrap"},
    {"bytes_rate({a=\"b\"} | unwrap x [5m])", 0, 0,
     "parse error : invalid aggregation bytes_rate with unwrap"},
    {"rate({a=\"b\"}[5m]) by (x)", 0, 0,
     "parse error : grouping not allowed for rate aggregation"},
    {"sum_over_time({a=\"b\"} | unwrap x [5m]) by (x)", 0, 0,
     "parse error : grouping not allowed for sum_over_time aggregation"},
    {"quantile_over_time({a=\"b\"} | unwrap x [5m])", 0, 0,
     "parse error : parameter required for operation quantile_over_time"},
    {"rate(0.5, {a=\"b\"}[5m])", 0, 0,
     "parse error : parameter 0.5 not supported for operation rate"},
    {"topk(rate({a=\"b\"}[5m]))", 0, 0,
     "parse error : parameter required for operation topk"},
    {"topk(1.2, rate({a=\"b\"}[5m]))", 0, 0,
     "parse error : invalid parameter topk(1.2,"},
    {"topk(0, rate({a=\"b\"}[5m]))", 0, 0,
     "parse error : invalid parameter (must be greater than 0) topk(0"},
    {"sum(3, rate({a=\"b\"}[5m]))", 0, 0,
     "parse error : unsupported parameter for operation sum(3,"},
    {"approx_topk(5, rate({a=\"b\"}[5m])) by (x)", 0, 0,
     "parse error : grouping not allowed for approx_topk aggregation"},
    {"sort(rate({a=\"b\"}[5m])) by (x)", 0, 0,
     "parse error : sort and sort_desc doesn't allow grouping by"},
    {"rate({a=\"b\"}[5m]) and 1", 0, 0,
     "parse error : unexpected literal for right leg of logical/set binary operation (and): 1.000000"},
    {"1 or rate({a=\"b\"}[5m])", 0, 0,
     "parse error : unexpected literal for left leg of logical/set binary operation (or): 1.000000"},
    {"{a=\"b\"} + 1", 0, 0,
     "parse error : unexpected type for left leg of binary operation (+): *syntax.MatchersExpr"},
    {"1 + {a=\"b\"} |= \"x\"", 0, 0,
     "parse error : unexpected type for right leg of binary operation (+): *syntax.PipelineExpr"},
    {"-count_over_time({a=\"b\"}[5m])", 1, 2,
     "parse error at line 1, col 2: syntax error: unexpected COUNT_OVER_TIME, expecting NUMBER"},
    {"vector(-1)", 1, 8,
     "parse error at line 1, col 8: syntax error: unexpected -, expecting NUMBER"},
    {"vector()", 1, 8,
     "parse error at line 1, col 8: syntax error: unexpected ), expecting NUMBER"},
    {"{a=\"b\"} | regexp \"(\\\\w+)\"", 0, 0,
     "parse error : invalid regexp parser: at least one named capture must be supplied"},
    {"{a=\"b\"} | regexp \"(?P<x>\"", 0, 0,
     "parse error : invalid regexp parser: error parsing regexp: missing closing parenthesis at offset 6 in `(?P<x>`"},
    {"{a=\"b\"} | pattern \"<a><b>\"", 0, 0,
     "parse error : invalid pattern parser: consecutive capture found"},
    {"{a=\"b\"} | pattern \"foo\"", 0, 0,
     "parse error : invalid pattern parser: at least one capture is required"},
    {"{a=\"b\"} | pattern \"<a> <a>\"", 0, 0,
     "parse error : invalid pattern parser: duplicate capture name (a)"},
    {"label_replace(rate({a=\"b\"}[1m]), \"d\", \"r\", \"s\", \"(\")", 0, 0,
     "parse error : invalid regex in label_replace: error parsing regexp: missing closing parenthesis at offset 1 in"},
    {"{a=\"b\"} | code == \"200\"", 1, 19,
     "parse error at line 1, col 19: syntax error: unexpected STRING"},
    {"{a=\"b\"} | x > 0x10", 0, 0,
     "parse error : unable to parse literal as a float: strconv.ParseFloat: parsing \"0x10\": invalid syntax"},
    {"{a=\"b\"} | x >= ip(\"1.2.3.4\")", 1, 16,
     "parse error at line 1, col 16: syntax error: unexpected ip"},
    {"{or=\"x\"}", 1, 2,
     "parse error at line 1, col 2: syntax error: unexpected or, expecting IDENTIFIER"},
    {"{foo=\"bar}", 1, 6,
     "parse error at line 1, col 6: literal not terminated"},
    {"{a=\"b\"} |= \"x\" | unwrap y", 1, 16,
     "parse error at line 1, col 16: syntax error: unexpected |"},
    {"count_over_time({a=\"b\"})", 1, 24,
     "parse error at line 1, col 24: syntax error: unexpected ), expecting RANGE"},
    {"count_over_time({a=\"b\"}[5m]) offset 5m", 1, 30,
     "parse error at line 1, col 30: syntax error: unexpected offset"},
    {"rate({a=\"b\"}[5minutes])", 1, 13,
     "parse error at line 1, col 13: not a valid duration string: \"5minutes\""},
    {"sum({a=\"b\"})", 1, 12,
     "parse error at line 1, col 12: syntax error: unexpected )"},
    {"{a=\"b\"} |= \"\\q\"", 1, 12,
     "parse error at line 1, col 12: invalid char escape"},
    {"# only a comment", 1, 17,
     "parse error at line 1, col 17: syntax error: unexpected $end"},
    {"", 0, 0, "parse error : syntax error: unexpected $end"},
    {"{a=\"b\"} | json a=", 1, 18,
     "parse error at line 1, col 18: syntax error: unexpected $end, expecting STRING"},
    {"{a=\"b\"} | label_format a", 1, 25,
     "parse error at line 1, col 25: syntax error: unexpected $end, expecting ="},
    {"rate({a=\"b\"}[1m]) * group_left rate({c=\"d\"}[1m])", 1, 21,
     "parse error at line 1, col 21: syntax error: unexpected group_left"},
    {"{a=\"b\"} | drop", 1, 15,
     "parse error at line 1, col 15: syntax error: unexpected $end, expecting IDENTIFIER"},
    {"1mb", 1, 1,
     "parse error at line 1, col 1: syntax error: unexpected DURATION"},
    {"{a=\"b\"} !=", 1, 11,
     "parse error at line 1, col 11: syntax error: unexpected $end, expecting STRING or ip"},
    {"sum by (a) (rate({a=\"b\"}[1m])) by (b)", 1, 32,
     "parse error at line 1, col 32: syntax error: unexpected by"},
    {"{a=~\"(\"}", 0, 0,
     "parse error : error parsing regexp: missing closing parenthesis at offset 1 in `(`"},
    {"{a=\"b\"} | x > 1mb", 1, 18,
     "parse error at line 1, col 18: syntax error: unexpected $end, expecting = or != or =~ or !~ or == or > or >= o"},
};

static char *format_str(const struct noa_logql_expr *e)
{
    struct noa_buf b = {0};
    noa_logql_format(e, &b);
    noa_buf_cstr(&b);
    return noa_buf_steal(&b, NULL);
}

static struct noa_logql_expr *parse_ok(const char *q)
{
    struct noa_logql_expr *e = NULL;
    struct noa_error err = {0};
    if (noa_logql_parse(q, strlen(q), &e, &err) < 0)
        fail_msg("parse %s: %s", q, err.msg);
    return e;
}

static void test_valid_table(void **state)
{
    (void)state;
    int64_t before = noa_mem_in_use();
    assert_true(sizeof(valid) / sizeof(valid[0]) >= 80);
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        struct noa_logql_expr *e = parse_ok(valid[i].q);
        char *s = format_str(e);
        if (strcmp(s, valid[i].canonical))
            fail_msg("query %zu %s\n  got  %s\n  want %s", i, valid[i].q, s,
                     valid[i].canonical);
        /* The canonical text parses back to a tree that prints the same. */
        struct noa_logql_expr *e2 = parse_ok(s);
        char *s2 = format_str(e2);
        assert_string_equal(s2, s);
        noa_free(s2);
        noa_logql_free(e2);
        noa_free(s);
        noa_logql_free(e);
    }
    assert_int_equal(noa_mem_in_use(), before);
}

static void test_invalid_table(void **state)
{
    (void)state;
    int64_t before = noa_mem_in_use();
    assert_true(sizeof(invalid) / sizeof(invalid[0]) >= 40);
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        struct noa_logql_expr *e = (struct noa_logql_expr *)1;
        struct noa_error err = {0};
        int rc = noa_logql_parse(invalid[i].q, strlen(invalid[i].q), &e, &err);
        if (rc != NOA_EINVAL)
            fail_msg("query %zu %s: rc %d", i, invalid[i].q, rc);
        assert_null(e);
        if (strncmp(err.msg, invalid[i].msg, strlen(invalid[i].msg)))
            fail_msg("query %zu %s\n  got  %s\n  want %s", i, invalid[i].q, err.msg,
                     invalid[i].msg);
        assert_int_equal(err.line, invalid[i].line);
        assert_int_equal(err.col, invalid[i].col);
        assert_int_equal(err.code, NOA_EINVAL);
    }
    assert_int_equal(noa_mem_in_use(), before);
}

static void test_positions_multiline(void **state)
{
    (void)state;
    struct noa_logql_expr *e = NULL;
    struct noa_error err = {0};
    const char *q = "sum(\n  rate({a=\"b\"}[1m]) # per second\n) by (x) )";
    assert_int_equal(noa_logql_parse(q, strlen(q), &e, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "parse error at line 3, col 10: syntax error: unexpected )");
    /* Columns count characters, not bytes. */
    q = "{a=\"\xc3\xa9\xc3\xa9\"} 1";
    assert_int_equal(noa_logql_parse(q, strlen(q), &e, &err), NOA_EINVAL);
    assert_string_equal(err.msg, "parse error at line 1, col 10: syntax error: unexpected NUMBER");
}

static void test_ast_shape(void **state)
{
    (void)state;
    struct noa_logql_expr *e = parse_ok(
        "sum by (app) (rate({app=\"foo\", env=~\"p.*\"} |= \"err\" | json | status >= 500 "
        "[5m])) / on (app) group_left (team) sum by (app) (count_over_time({app=\"bar\"}[5m] "
        "offset 1h))");
    assert_false(noa_logql_is_log(e));
    assert_int_equal(e->kind, NOA_LOGQL_BINOP);
    assert_int_equal(e->bin_op, NOA_LOGQL_BIN_DIV);
    assert_true(e->has_matching && e->on);
    assert_int_equal(e->card, NOA_LOGQL_CARD_MANY_TO_ONE);
    assert_int_equal(e->include.n, 1);
    assert_string_equal(e->include.v[0], "team");
    const struct noa_logql_expr *sels[4];
    assert_int_equal(noa_logql_selectors(e, sels, 4), 2);
    assert_int_equal(sels[0]->selector.n, 2);
    assert_string_equal(sels[0]->selector.m[1].name, "env");
    assert_int_equal(sels[0]->selector.m[1].type, NOA_MATCH_RE);
    assert_int_equal(sels[0]->n_stages, 3);
    assert_int_equal(sels[0]->stages[0].kind, NOA_LOGQL_STAGE_LINE_FILTER);
    assert_int_equal(sels[0]->stages[0].line.op, NOA_LOGQL_LINE_CONTAINS);
    assert_string_equal(sels[0]->stages[0].line.v[0].value.p, "err");
    assert_int_equal(sels[0]->stages[1].kind, NOA_LOGQL_STAGE_JSON);
    assert_int_equal(sels[0]->stages[2].kind, NOA_LOGQL_STAGE_LABEL_FILTER);
    assert_int_equal(sels[0]->stages[2].filter->kind, NOA_LOGQL_LF_NUMBER);
    assert_int_equal(sels[0]->stages[2].filter->cmp, NOA_LOGQL_CMP_GTE);
    assert_true(sels[0]->stages[2].filter->number == 500);
    const struct noa_logql_expr *l = e->lhs->inner;
    assert_int_equal(l->kind, NOA_LOGQL_RANGE_AGG);
    assert_int_equal(l->range_op, NOA_LOGQL_RANGE_RATE);
    assert_int_equal(l->range_ns, 300000000000LL);
    const struct noa_logql_expr *r = e->rhs->inner;
    assert_int_equal(r->offset_ns, 3600000000000LL);
    assert_int_equal(noa_logql_selectors(e, sels, 1), 2); /* counts beyond max */
    noa_logql_free(e);

    e = parse_ok("{a=\"b\"} |= \"x\"");
    assert_true(noa_logql_is_log(e));
    noa_logql_free(e);

    e = parse_ok("quantile_over_time(0.9, {a=\"b\"} | unwrap duration(t) | t > 1s [1m]) by (x)");
    assert_true(e->has_param);
    assert_true(e->param == 0.9);
    assert_true(e->has_unwrap);
    assert_int_equal(e->unwrap_conv, NOA_LOGQL_CONV_DURATION);
    assert_string_equal(e->unwrap_label, "t");
    assert_int_equal(e->n_post_filters, 1);
    assert_int_equal(e->post_filters[0]->kind, NOA_LOGQL_LF_DURATION);
    assert_int_equal(e->post_filters[0]->duration_ns, 1000000000LL);
    assert_true(e->grouping.present && !e->grouping.without);
    noa_logql_free(e);

    e = parse_ok("topk(3, rate({a=\"b\"}[1m]))");
    assert_int_equal(e->vector_op, NOA_LOGQL_VEC_TOPK);
    assert_true(e->param == 3);
    noa_logql_free(e);

    e = parse_ok("{a=\"b\"} | size > 1KiB | d < 1m30s | x = ip(\"10.0.0.0/8\")");
    assert_int_equal(e->stages[0].filter->bytes, 1024);
    assert_int_equal(e->stages[1].filter->duration_ns, 90000000000LL);
    assert_int_equal(e->stages[2].filter->kind, NOA_LOGQL_LF_IP);
    assert_string_equal(e->stages[2].filter->ip.p, "10.0.0.0/8");
    noa_logql_free(e);

    /* Literal folding: division by zero is NaN, comparisons give 0/1. */
    e = parse_ok("1 / 0");
    assert_true(isnan(e->value));
    noa_logql_free(e);
    e = parse_ok("(3 > 2) + 2 ^ 3 ^ 2");
    assert_true(e->value == 513);
    noa_logql_free(e);
}

static void test_strings(void **state)
{
    (void)state;
    struct noa_logql_expr *e =
        parse_ok("{a=\"x\\ty\\u00e9\\x41\\101\"} |= `C:\\path` |= \"\\x00z\"");
    assert_string_equal(e->selector.m[0].value, "x\ty\xc3\xa9" "AA");
    assert_string_equal(e->stages[0].line.v[0].value.p, "C:\\path");
    assert_int_equal(e->stages[1].line.v[0].value.len, 2);
    char *s = format_str(e);
    assert_string_equal(s, "{a=\"x\\ty\xc3\xa9" "AA\"} |= \"C:\\\\path\" |= \"\\x00z\"");
    noa_free(s);
    noa_logql_free(e);

    /* Quoting follows strconv.Quote: \a etc., \x for other controls and
     * \u for runes Go does not print (no-break space, zero-width space). */
    e = parse_ok("{a=\"\a\x7f\xc2\xa0\u200b\xc3\xa9`\"}");
    s = format_str(e);
    assert_string_equal(s, "{a=\"\\a\\x7f\\u00a0\\u200b\xc3\xa9`\"}");
    noa_free(s);
    noa_logql_free(e);
}

static void test_lexer_units(void **state)
{
    (void)state;
    int64_t ns;
    uint64_t b;
    assert_int_equal(noa_logql_lex_prom_duration("1h30m", 5, &ns), 0);
    assert_int_equal(ns, 5400000000000LL);
    assert_int_equal(noa_logql_lex_prom_duration("1d", 2, &ns), 0);
    assert_int_equal(ns, 86400000000000LL);
    assert_int_equal(noa_logql_lex_prom_duration("500ms", 5, &ns), 0);
    assert_int_equal(ns, 500000000LL);
    assert_int_equal(noa_logql_lex_prom_duration("1.5s", 4, &ns), NOA_EINVAL);
    assert_int_equal(noa_logql_lex_prom_duration("5m1h", 4, &ns), NOA_EINVAL);
    assert_int_equal(noa_logql_lex_prom_duration("5minutes", 8, &ns), NOA_EINVAL);
    assert_int_equal(noa_logql_lex_go_duration("1.5s", 4, &ns), 0);
    assert_int_equal(ns, 1500000000LL);
    assert_int_equal(noa_logql_lex_go_duration("300us", 5, &ns), 0);
    assert_int_equal(ns, 300000LL);
    assert_int_equal(noa_logql_lex_go_duration("1d", 2, &ns), NOA_EINVAL);
    assert_int_equal(noa_logql_lex_bytes("20MB", 4, &b), 0);
    assert_int_equal(b, 20000000ULL);
    assert_int_equal(noa_logql_lex_bytes("1KiB", 4, &b), 0);
    assert_int_equal(b, 1024ULL);
    assert_int_equal(noa_logql_lex_bytes("3 kb", 4, &b), 0);
    assert_int_equal(b, 3000ULL);
    assert_int_equal(noa_logql_lex_bytes("1XB", 3, &b), NOA_EINVAL);
}

static void test_limits(void **state)
{
    (void)state;
    struct noa_logql_expr *e = NULL;
    struct noa_error err = {0};
    int64_t before = noa_mem_in_use();
    /* 1000 nested parentheses: an error, not a stack overflow. */
    char q[2100];
    size_t n = 0;
    for (int i = 0; i < 1000; i++)
        q[n++] = '(';
    q[n++] = '1';
    for (int i = 0; i < 1000; i++)
        q[n++] = ')';
    assert_int_equal(noa_logql_parse(q, n, &e, &err), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "nested too deeply"));
    /* Deep label-filter groups and range bodies too. */
    n = (size_t)snprintf(q, sizeof(q), "{a=\"b\"} | ");
    for (int i = 0; i < 1000; i++)
        q[n++] = '(';
    assert_int_equal(noa_logql_parse(q, n, &e, &err), NOA_EINVAL);
    n = (size_t)snprintf(q, sizeof(q), "rate(");
    for (int i = 0; i < 1000; i++)
        q[n++] = '(';
    assert_int_equal(noa_logql_parse(q, n, &e, &err), NOA_EINVAL);
    /* 150 levels still parse. */
    n = 0;
    for (int i = 0; i < 150; i++)
        q[n++] = '(';
    q[n++] = '1';
    for (int i = 0; i < 150; i++)
        q[n++] = ')';
    assert_int_equal(noa_logql_parse(q, n, &e, &err), 0);
    noa_logql_free(e);
    /* Input size limit. */
    char *big = noa_xmalloc(NOA_LOGQL_MAX_INPUT);
    memset(big, ' ', NOA_LOGQL_MAX_INPUT);
    assert_int_equal(noa_logql_parse(big, NOA_LOGQL_MAX_INPUT, &e, &err), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "input size too long"));
    noa_free(big);
    assert_int_equal(noa_mem_in_use(), before);
}

static void test_oom_no_leak(void **state)
{
    (void)state;
    /* Parsing allocates with the aborting forms for small items; make sure
     * failure paths that do not abort leave nothing behind. */
    int64_t before = noa_mem_in_use();
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        struct noa_logql_expr *e = NULL;
        struct noa_error err = {0};
        noa_logql_parse(invalid[i].q, strlen(invalid[i].q), &e, &err);
        noa_logql_free(e);
    }
    assert_int_equal(noa_mem_in_use(), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_table),  cmocka_unit_test(test_invalid_table),
        cmocka_unit_test(test_positions_multiline), cmocka_unit_test(test_ast_shape),
        cmocka_unit_test(test_strings),      cmocka_unit_test(test_lexer_units),
        cmocka_unit_test(test_limits),       cmocka_unit_test(test_oom_no_leak),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
