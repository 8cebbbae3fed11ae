/*
 * Unit tests for common/gotmpl: golden outputs for templates from Loki's
 * docs and fmt tests, Go's parse and exec error texts, and the limits
 * (output cap, step budget, nesting). Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/gotmpl.h"
#include "common/mem.h"

struct label {
    const char *name, *value;
};

static const struct label labels[] = {
    {"a", "1"},
    {"b", "2"},
    {"foo", "Foo Bar"},
    {"path", "/API/Users"},
    {"size", "1234"},
    {"some_label", "aaabc"},
    {"status", "200"},
    {"ts", "1679577215"},
    {"with-dash", "dashed"},
    {"x105", "10.5"},
    {"x15", "1.5"},
    {"x202", "20.2"},
    {"x204", "20.4"},
    {"x35", "3.5"},
    {"x5", "5"},
    {"xempty", ""},
};

static int lookup(void *ctx, const char *name, size_t len, struct noa_str *val)
{
    (void)ctx;
    for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
        if (strlen(labels[i].name) == len && memcmp(labels[i].name, name, len) == 0) {
            *val = noa_str_c(labels[i].value);
            return 1;
        }
    return 0;
}

static int each(void *ctx, void (*emit_cb)(void *, struct noa_str, struct noa_str), void *ectx)
{
    (void)ctx;
    for (size_t i = 0; i < 3; i++)
        emit_cb(ectx, noa_str_c(labels[i].name), noa_str_c(labels[i].value));
    return 0;
}

/* 2023-01-15T16:08:09.902Z */
#define TS 1673798889902000000LL

struct gold {
    const char *tmpl;
    const char *want;
};

static const struct gold golden[] = {
    /* Plain text, fields, dot, index. */
    {"plain text", "plain text"},
    {"", ""},
    {"{{.foo}}", "Foo Bar"},
    {"{{ .status }} {{ .missing }}|", "200 |"},
    {"{{ index . \"with-dash\" }}", "dashed"},
    {"{{ . }}", "map[a:1 b:2 foo:Foo Bar]"},
    {"{{ $.status }}", "200"},
    /* Loki's documented string functions. */
    {"{{ .path | lower }}", "/api/users"},
    {"{{ ToUpper \"This is a string\" | ToLower }}", "this is a string"},
    {"{{ Replace \"This is a string\" \" \" \"-\" -1 }}", "This-is-a-string"},
    {"{{ Replace \"aaa\" \"a\" \"b\" 2 }}", "bba"},
    {"{{ Trim \"   abc    \" \" \" }}", "abc"},
    {"{{ TrimLeft \"abbcd\" \"ab\" }}", "cd"},
    {"{{ TrimRight \"abbcd\" \"cd\" }}", "abb"},
    {"{{ TrimPrefix \"abcd\" \"ab\" }}", "cd"},
    {"{{ TrimSuffix \"abcd\" \"cd\" }}", "ab"},
    {"{{ TrimSpace \"  abc \\n\" }}", "abc"},
    {"{{ trim \"  abc  \" }}", "abc"},
    {"{{ trimAll \"$\" \"$5.00$\" }}", "5.00"},
    {"{{ trimPrefix \"-\" \"-hello\" }}", "hello"},
    {"{{ trimSuffix \"-\" \"hello-\" }}", "hello"},
    {"{{ .foo | upper }}", "FOO BAR"},
    {"{{ title \"hello world\" }}", "Hello World"},
    {"{{ upper \"été à Ÿÿ ß Ωμέγα Привет\" }}|{{ ToLower \"ÉTÉ ÀÖ ΩΜΈΓΑ ПРИВЕТ Ёж ĀĆ\" }}|"
     "{{ title \"élan vital-ok\" }}",
     "ÉTÉ À ŸŸ ß ΩΜΈΓΑ ПРИВЕТ|été àö ωμέγα привет ёж āć|Élan Vital-Ok"},
    {"{{ \"hello world\" | trunc 5 }}", "hello"},
    {"{{ trunc -5 \"hello world\" }}", "world"},
    {"{{ substr 0 5 \"hello world\" }}", "hello"},
    {"{{ substr 6 11 \"hello world\" }}", "world"},
    {"{{ substr 5 2 \"abc\" }}|{{ substr -1 2 \"héllo\" }}|{{ substr 3 -1 \"héllo\" }}", "|hé|lo"},
    {"{{ trunc 2 \"héllo\" }}|{{ trunc -2 \"héllo\" }}|{{ trunc 9 \"ab\" }}", "hé|lo|ab"},
    {"{{ contains \"cat\" \"catch\" }}", "true"},
    {"{{ hasPrefix \"cat\" \"catch\" }} {{ hasSuffix \"cat\" \"catch\" }}", "true false"},
    {"{{ indent 2 \"a\\nb\" }}", "  a\n  b"},
    {"{{ nindent 2 \"a\" }}", "\n  a"},
    {"{{ replace \" \" \"-\" .foo }}", "Foo-Bar"},
    {"{{ .foo | replace \"o\" \"0\" }}", "F00 Bar"},
    {"{{ repeat 3 \"ab\" }}", "ababab"},
    {"{{ repeat 9000000000000000000 \"\" }}|{{ 100000000000000000000 }}", "|1e+20"},
    {"{{ regexReplaceAll \"(a*)bc\" .some_label \"${1}a\" }}", "aaaa"},
    {"{{ regexReplaceAll \"a*\" \"baaac\" \"X\" }}", "XbXcX"},
    {"{{ regexReplaceAll \"(?P<first>\\\\w+) (?P<last>\\\\w+)\" .foo \"$last, $first\" }}",
     "Bar, Foo"},
    {"{{ regexReplaceAll \"o\" .foo \"$$\" }}", "F$$ Bar"},
    {"{{ regexReplaceAllLiteral \"(o)\" .foo \"$1\" }}", "F$1$1 Bar"},
    {"{{ $r := \"a+\" }}{{ regexReplaceAll $r \"caaat\" \"X\" }}", "cXt"},
    {"{{ count \"a\" \"banana\" }} {{ count \"x*\" \"ab\" }}", "3 3"},
    {"{{ urlencode \"a b&c=d/é\" }}", "a+b%26c%3Dd%2F%C3%A9"},
    {"{{ urldecode \"a+b%26c\" }}", "a b&c"},
    {"{{ b64enc \"hello\" }} {{ b64dec \"aGVsbG8=\" }} {{ b64dec \"aGVsbG8\" }}",
     "aGVsbG8= hello hello"},
    {"{{ alignLeft 5 \"ab\" }}|{{ alignRight 5 \"ab\" }}|{{ alignLeft 2 \"abcdef\" }}|"
     "{{ alignRight 2 \"abcdef\" }}",
     "ab   |   ab|ab|ef"},
    {"{{ default \"-\" .missing }} {{ .foo | default \"-\" }} {{ .missing | default \"none\" }}",
     "- Foo Bar none"},
    {"{{ html \"<a href='x'>&\" }}", "&lt;a href=&#39;x&#39;&gt;&amp;"},
    {"{{ urlquery \"a b\" }}", "a+b"},
    /* printf and printing. */
    {"{{ printf \"%s %d %5.2f %q %x %v\" \"a\" 5 3.14159 \"q\" 255 true }}",
     "a 5  3.14 \"q\" ff true"},
    {"{{ printf \"%-5s|%5s|%05d|%+d\" \"ab\" \"cd\" 42 7 }}", "ab   |   cd|00042|+7"},
    {"{{ printf \"%d\" \"x\" }}", "%!d(string=x)"},
    {"{{ printf \"%s\" }}", "%!s(MISSING)"},
    {"{{ printf \"%s\" \"a\" \"b\" }}", "a%!(EXTRA string=b)"},
    {"{{ printf \"%v %v\" 1.5 .status }}", "1.5 200"},
    {"{{ printf \"%.2s|%X|%%\" \"abc\" \"hi\" }}", "ab|6869|%"},
    {"{{ \"a\" | printf \"%s-%s\" \"b\" }}", "b-a"},
    {"{{ print 1 2 \"a\" 3 }}", "1 2a3"},
    {"{{ println 1 \"a\" }}", "1 a\n"},
    {"{{ 1.5 }} {{ 0x10 }} {{ 'a' }} {{ 1e3 }} {{ -7 }} {{ true }} {{ 1_000 }}",
     "1.5 16 97 1000 -7 true 1000"},
    {"{{ mulf 1000 1000 }} {{ divf 1 3 }} {{ 0.00001 }}", "1e+06 0.3333333333333333 1e-05"},
    /* Math. */
    {"{{ add 1 2 3 }} {{ sub 5 2 }} {{ mul 2 3 }} {{ div 7 2 }} {{ mod 7 2 }}", "6 3 6 3 1"},
    {"{{ add .status 1 }} {{ add \"0x10\" \"1.0\" \"junk\" }}", "201 17"},
    {"{{ addf 1.5 2 }} {{ subf 3.5 1 }} {{ mulf 1.5 2 }} {{ divf 10 4 }} {{ addf 0.1 0.2 }}",
     "3.5 2.5 3 2.5 0.3"},
    {"{{ max 1 5 3 }} {{ min 1 5 3 }} {{ maxf 1 5.5 3 }} {{ minf 2 1.5 }}", "5 1 5.5 1.5"},
    {"{{ ceil 1.2 }} {{ floor 1.8 }} {{ round 3.14159 2 }} {{ round 2.5 0 }}", "2 1 3.14 3"},
    {"{{ int \"42\" }} {{ float64 \"1.5\" }} {{ int 3.9 }}", "42 1.5 3"},
    {"{{ bytes \"1 KiB\" }} {{ bytes \"2KB\" }} {{ bytes \"10\" }}", "1024 2000 10"},
    {"{{ duration \"1m30s\" }} {{ duration \"1.5s\" }} {{ duration_seconds \"250ms\" }}",
     "90 1.5 0.25"},
    /* Cases from Loki's fmt_test.go. */
    {"{{ addf .x15 1.5 | subf .x5 1.5 | mulf .x105 | divf .x202 }}", "3.8476190476190477"},
    {"{{ round (addf .x15 1.5 | subf .x35 | mulf .x105 | divf .x204) 5 .2}}", "3.88572"},
    {"{{ \"2.5\" | float64 | int | add 10}}", "12"},
    {"{{ add 1 1 | sub 3 | mul 10 | div 20 }}", "2"},
    {"{{ divf 1 30000 }} {{ addf 0.1 0.2 0.3 }} {{ mulf 0.1 3 }} {{ subf 1 0.9 }}",
     "3.33333333333e-05 0.6 0.3 0.1"},
    {"{{ sub (unixEpoch (toDate \"2006-01-02\" \"2021-11-02\")) (unixEpoch (toDate \"2006-01-02\" "
     "\"2021-11-01\")) }}",
     "86400"},
    {"{{ div (unixEpoch now) (unixEpoch now) }}", "1"},
    {"{{ __timestamp__ | date \"2006-01-02T15:04:05.00Z00:00\" }}", "2023-01-15T16:08:09.90Z00:00"},
    {"{{ .foo | default \"-\" }}{{ .xempty | default \"-\" }}{{ .unknown | default \"-\" }}",
     "Foo Bar--"},
    {"{{ \"foo\\n bar\" | indent 4 }}", "    foo\n     bar"},
    {"{{ if .foo | contains \"F\" }}yes{{ end }}-{{ if .foo | contains \"z\" }}no{{ end }}",
     "yes-"},
    {"{{ regexReplaceAll \"(o)\" .foo \"t\" }}", "Ftt Bar"},
    {"{{ regexReplaceAllLiteral \"(o)\" .foo \"${1}\" }}", "F${1}${1} Bar"},
    {"{{ substr 1 8 \"Hello, 世界\" }}|{{ substr -10 8 \"Hello, 世界\" }}|{{ substr 20 -1 \"x\" }}|"
     "{{ trunc -1 \"Hello, 世界\" }}",
     "ello, 世|Hello, 世||界"},
    {"{{ with .foo }}{{ printf \"%q\" . }}{{ end }}", "\"Foo Bar\""},
    /* Control structures, variables, comparisons. */
    {"{{ if eq .status \"200\" }}ok{{ else }}fail{{ end }}", "ok"},
    {"{{ if eq .a \"2\" }}two{{ else if eq .a \"1\" }}one{{ else }}other{{ end }}", "one"},
    {"{{ if and (eq .a \"1\") (ne .b \"1\") }}yes{{ end }}", "yes"},
    {"{{ if or (eq .a \"x\") .missing }}yes{{ else }}no{{ end }}", "no"},
    {"{{ if gt (int .size) 1000 }}big{{ end }}", "big"},
    {"{{ if lt .a .b }}lt{{ end }}{{ if le 2 2 }}le{{ end }}{{ if ge 1.5 2.5 }}ge{{ end }}",
     "ltle"},
    {"{{ eq .a \"x\" \"1\" }} {{ not true }} {{ not .missing }}", "true false true"},
    {"{{ or .missing \"fallback\" }} {{ and \"a\" \"b\" }} {{ and \"\" \"b\" }}|", "fallback b |"},
    {"{{ with .foo }}[{{ . }}]{{ else }}none{{ end }}", "[Foo Bar]"},
    {"{{ with .missing }}[{{ . }}]{{ else }}none{{ end }}", "none"},
    {"{{ $x := .foo }}{{ $x }}", "Foo Bar"},
    {"{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", "2"},
    {"{{ if true }}{{ $y := 3 }}{{ $y }}{{ end }}", "3"},
    {"{{ range $i := 3 }}{{ $i }}{{ end }}", "012"},
    {"{{ range 3 }}{{ . }}{{ end }}", "012"},
    {"{{ range 0 }}x{{ else }}empty{{ end }}", "empty"},
    {"{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ end }}", "a=1;b=2;foo=Foo Bar;"},
    {"{{ range . }}[{{ . }}]{{ end }}", "[1][2][Foo Bar]"},
    {"{{ range $k, $v := . }}{{ if eq $k \"b\" }}{{ break }}{{ end }}{{ $v }}{{ end }}", "1"},
    {"{{ with .missing }}x{{ else with .a }}a={{ . }}{{ end }}", "a=1"},
    {"{{ range $i := 5 }}{{ if eq $i 3 }}{{ break }}{{ end }}{{ $i }}{{ end }}", "012"},
    {"{{ range $i := 4 }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $i }}{{ end }}", "023"},
    {"{{ len .foo }} {{ len . }} {{ index .foo 1 }} {{ slice .foo 4 }}", "7 3 111 Bar"},
    {"{{ upper (lower (printf \"%s!\" .foo)) }}", "FOO BAR!"},
    /* Whitespace trimming and comments. */
    {"a  {{- .a -}}  b", "a1b"},
    {"a\n  {{- /* a comment */ -}}\n  b", "ab"},
    {"x{{/* comment */}}y", "xy"},
    {"{{ .a }} {{- .b }}", "12"},
    {"{{ if true -}}\n  yes\n{{- end }}", "yes"},
    {"{{-3}}", "-3"},
    /* Raw strings and escapes. */
    {"{{ `raw \\n` }}", "raw \\n"},
    {"{{ \"tab\\tq\\\"\\x41\\u00e9\" }}", "tab\tq\"A\xC3\xA9"},
    /* The line and the timestamp. */
    {"{{ __line__ }}", "GET /api 200"},
    {"{{ __line__ | upper }} {{ .status }}", "GET /API 200 200"},
    {"{{ __timestamp__ }}", "2023-01-15 16:08:09.902 +0000 UTC"},
    {"{{ __timestamp__ | date \"2006-01-02T15:04:05.00Z07:00\" }}", "2023-01-15T16:08:09.90Z"},
    {"{{ date \"Mon Jan 2 15:04:05 MST 2006\" __timestamp__ }}", "Sun Jan 15 16:08:09 UTC 2023"},
    {"{{ date \"02/01/06 3:04PM .000\" __timestamp__ }}", "15/01/23 4:08PM .902"},
    {"{{ __timestamp__ | unixEpoch }} {{ __timestamp__ | unixEpochMillis }} "
     "{{ unixEpochNanos __timestamp__ }}",
     "1673798889 1673798889902 1673798889902000000"},
    {"{{ unixToTime \"1679577215\" }}", "2023-03-23 13:13:35 +0000 UTC"},
    {"{{ .ts | unixToTime | date \"2006-01-02\" }}", "2023-03-23"},
    {"{{ unixToTime \"19356\" | unixEpoch }} {{ unixToTime \"1673798889902\" | unixEpochMillis }}",
     "1672358400 1673798889902"},
    {"{{ toDate \"2006-01-02\" \"2021-11-02\" | date \"02.01.2006\" }}", "02.11.2021"},
    {"{{ toDateInZone \"2006-01-02\" \"UTC\" \"2021-11-02\" | unixEpoch }}", "1635811200"},
    {"{{ toDateInZone \"2006-01-02 15:04\" \"Europe/Paris\" \"2021-07-02 10:00\" | unixEpoch }} "
     "{{ toDateInZone \"2006-01-02 15:04\" \"Europe/Paris\" \"2021-12-02 10:00\" | unixEpoch }} "
     "{{ $z := \"America/New_York\" }}{{ toDateInZone \"2006-01-02\" $z \"2021-11-02\" | unixEpoch "
     "}} "
     "{{ toDateInZone \"2006-01-02\" \"No/Such_Zone\" \"2021-11-02\" | unixEpoch }} "
     "{{ toDateInZone \"2006-01-02 15:04\" \"../../etc/passwd\" \"2021-11-02 00:00\" | unixEpoch "
     "}}",
     "1625212800 1638435600 1635825600 1635811200 1635811200"},
    {"{{ toDateInZone \"2006-01-02 15:04 -0700\" \"Europe/Paris\" \"2021-07-02 10:00 +0000\" | "
     "date \"15:04\" }}",
     "10:00"},
    {"{{ toDate \"2006-01-02T15:04:05Z07:00\" \"2021-11-02T10:00:00+02:00\" | unixEpoch }}",
     "1635840000"},
    {"{{ toDate \"2006-01-02\" \"garbage\" }}", "0001-01-01 00:00:00 +0000 UTC"},
    {"{{ toDate \"2006-01-02T15:04:05.999999999Z07:00\" \"2021-11-02T10:00:00.123Z\" | "
     "unixEpochMillis }} "
     "{{ toDate \"2006-01-02 15:04:05\" \"2021-11-02 10:00:00.5\" | unixEpochMillis }} "
     "{{ toDate \"02 Jan 06 15:04 MST\" \"02 Nov 21 10:00 UTC\" | unixEpoch }} "
     "{{ toDate \"Jan _2 3:04:05PM\" \"Nov  2 1:00:00PM\" | date \"2006-01-02 15:04\" }}",
     "1635847200123 1635847200500 1635847200 0000-11-02 13:00"},
    {"{{ date \"2006\" 0 }}", "1970"},
};

/* Runs every golden case; default_scratch leaves data.work NULL (the
 * thread's own scratch) instead of passing one. */
static int run_golden(int default_scratch)
{
    struct noa_gotmpl_scratch work = {0};
    struct noa_gotmpl_data d = {
        .lookup_cb = lookup, .each_cb = each, .line = NOA_STR("GET /api 200"), .ts_ns = TS};
    if (!default_scratch)
        d.work = &work;
    int failures = 0;
    for (size_t i = 0; i < sizeof(golden) / sizeof(golden[0]); i++) {
        struct noa_gotmpl *t = NULL;
        struct noa_error err = {0};
        struct noa_buf out = {0};
        int rc = noa_gotmpl_parse(golden[i].tmpl, strlen(golden[i].tmpl), &t, &err);
        if (rc == 0)
            rc = noa_gotmpl_exec(t, &d, &out, &err);
        const char *got = rc ? err.msg : noa_buf_cstr(&out);
        if (rc || strcmp(got, golden[i].want) != 0) {
            print_error("case %zu: %s\n  want: [%s]\n  got:  [%s]\n", i, golden[i].tmpl,
                        golden[i].want, got);
            failures++;
        }
        noa_buf_fini(&out);
        noa_gotmpl_free(t);
    }
    noa_gotmpl_scratch_fini(&work);
    return failures;
}

static void test_golden(void **state)
{
    (void)state;
    assert_int_equal(run_golden(0), 0);
    assert_int_equal(run_golden(1), 0);
}

/* Once warm, executing a template allocates nothing: every allocation is
 * made to fail (and the aborting forms would abort the test). */
static void steady_state(int default_scratch)
{
    const char *s =
        "{{ .foo }} {{ if eq .status \"200\" }}ok{{ end }} {{ .missing | default \"-\" }} "
        "{{ substr 0 3 __line__ }} {{ range $k, $v := . }}{{ $k }}{{ end }} "
        "{{ $x := trunc 2 .foo }}{{ $x }} {{ add .size 1 }} {{ .foo | upper | lower }} "
        "{{ printf \"%05.1f|%-4s|\" 3.14159 .a }}{{ replace \" \" \"_\" .foo }} "
        "{{ regexReplaceAll \"(o+)\" .foo \"<$1>\" }} {{ __timestamp__ | date \"15:04\" }}";
    struct noa_gotmpl *t = NULL;
    struct noa_error err = {0};
    struct noa_gotmpl_scratch work = {0};
    struct noa_gotmpl_data d = {.lookup_cb = lookup,
                                .each_cb = each,
                                .line = NOA_STR("GET /api 200"),
                                .work = default_scratch ? NULL : &work};
    struct noa_buf out = {0};
    assert_int_equal(noa_gotmpl_parse(s, strlen(s), &t, &err), 0);
    assert_int_equal(noa_gotmpl_exec(t, &d, &out, &err), 0);
    const char *want = "Foo Bar ok - GET abfoo Fo 1235 foo bar 003.1|1   |Foo_Bar F<oo> Bar 00:00";
    assert_string_equal(noa_buf_cstr(&out), want);
    noa_mem_fail_after(0);
    for (int i = 0; i < 3; i++) {
        out.len = 0;
        assert_int_equal(noa_gotmpl_exec(t, &d, &out, &err), 0);
    }
    noa_mem_fail_after(-1);
    assert_string_equal(noa_buf_cstr(&out), want);
    noa_buf_fini(&out);
    noa_gotmpl_scratch_fini(&work);
    noa_gotmpl_free(t);
}

static void test_steady_state_no_alloc(void **state)
{
    (void)state;
    steady_state(0);
    steady_state(1);
}

struct bad {
    const char *tmpl;
    int parse; /* 1: fails to parse, 0: fails to execute */
    const char *msg;
};

static const struct bad bad[] = {
    {"{{ .foo ", 1, "template: line:1: unclosed action"},
    {"{{ nope }}", 1, "template: line:1: function \"nope\" not defined"},
    {"a\n{{ if .a }}x", 1, "template: line:2: unexpected EOF"},
    {"{{ end }}", 1, "template: line:1: unexpected {{end}}"},
    {"{{ else }}", 1, "template: line:1: unexpected {{else}}"},
    {"{{ $x }}", 1, "template: line:1: undefined variable \"$x\""},
    {"{{ \"abc }}", 1, "template: line:1: unterminated quoted string"},
    {"{{ # }}", 1, "template: line:1: unrecognized character in action: U+0023 '#'"},
    {"{{ if }}x{{ end }}", 1, "template: line:1: missing value for if"},
    {"{{ \"a\" | . }}", 1, "non executable command in pipeline stage 2"},
    {"{{ break }}", 1, "template: line:1: {{break}} outside {{range}}"},
    {"{{ \"a\" | \"b\" }}", 1, "template: line:1: non executable command in pipeline stage 2"},
    {"{{ }}", 1, "template: line:1: missing value for command"},
    {"{{/* x }}", 1, "template: line:1: unclosed comment"},
    {"{{ define \"x\" }}{{ end }}", 1, "not supported"},
    {"{{ (upper \"a\" }}", 1, "unexpected"},
    {"{{ if 1 }}{{ $z := 1 }}{{ end }}{{ $z }}", 1, "undefined variable \"$z\""},
    {"{{.foo 1}}", 0,
     "template: line:1:2: executing \"line\" at <.foo>: foo is not a method but has arguments"},
    {"{{ .foo.bar }}", 0, "can't evaluate field bar in type string"},
    {"{{ div 1 0 }}", 0,
     "template: line:1:3: executing \"line\" at <div 1 0>: error calling div: runtime error: "
     "integer divide by zero"},
    {"{{ upper 1 }}", 0, "wrong type for value; expected string; got int"},
    {"{{ repeat 1000000000000000000000000000000000 \"\" }}", 0,
     "wrong type for value; expected int; got float64"},
    {"{{ trunc \"a\" \"b\" }}", 0, "wrong type for value; expected int; got string"},
    {"{{ lower }}", 0, "wrong number of args for lower: want 1 got 0"},
    {"{{ eq .a 1 }}", 0, "error calling eq: incompatible types for comparison"},
    {"{{ lt true false }}", 0, "error calling lt: invalid type for comparison"},
    {"{{ regexReplaceAll \"(\" \"a\" \"b\" }}", 0,
     "error calling regexReplaceAll: error parsing regexp: missing closing parenthesis"},
    {"{{ unixToTime \"123\" }}", 0,
     "error calling unixToTime: unable to parse time '123': %!w(<nil>)"},
    {"{{ urldecode \"%zz\" }}", 0, "invalid URL escape \"%zz\""},
    {"{{ duration \"5\" }}", 0, "missing unit in duration \"5\""},
    {"{{ bytes \"5 XB\" }}", 0, "unhandled size name: xb"},
    {"{{ index .foo 10 }}", 0, "index out of range: 10"},
    {"{{ range .foo }}{{ end }}", 0, "range can't iterate over string"},
    {"{{ unixEpoch .foo }}", 0, "expected time.Time; got string"},
    {"x\n{{ 1 | upper }}", 0, "template: line:2:7: executing \"line\" at <upper>"},
};

static void test_errors(void **state)
{
    (void)state;
    struct noa_gotmpl_data d = {.lookup_cb = lookup, .ts_ns = TS};
    int failures = 0;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct noa_gotmpl *t = NULL;
        struct noa_error err = {0};
        struct noa_buf out = {0};
        noa_buf_append(&out, "keep", 4);
        int prc = noa_gotmpl_parse(bad[i].tmpl, strlen(bad[i].tmpl), &t, &err);
        int xrc = prc == 0 ? noa_gotmpl_exec(t, &d, &out, &err) : 0;
        int ok = bad[i].parse ? (prc == NOA_EINVAL && t == NULL)
                              : (prc == 0 && xrc == NOA_EINVAL && out.len == 4);
        if (!ok || !strstr(err.msg, bad[i].msg)) {
            print_error("case %zu: %s\n  want: %s [%s]\n  got: prc=%d xrc=%d [%s]\n", i,
                        bad[i].tmpl, bad[i].parse ? "parse error" : "exec error", bad[i].msg, prc,
                        xrc, err.msg);
            failures++;
        }
        noa_buf_fini(&out);
        noa_gotmpl_free(t);
    }
    assert_int_equal(failures, 0);
}

static void test_error_position(void **state)
{
    (void)state;
    struct noa_gotmpl *t = NULL;
    struct noa_error err = {0};
    const char *s = "ok\nline two {{ nope }}";
    assert_int_equal(noa_gotmpl_parse_named("label", s, strlen(s), &t, &err), NOA_EINVAL);
    assert_null(t);
    assert_int_equal(err.line, 2);
    assert_int_equal(err.col, 13);
    assert_string_equal(err.msg, "template: label:2: function \"nope\" not defined");
}

static void test_limits(void **state)
{
    (void)state;
    struct noa_gotmpl_data d = {.lookup_cb = lookup, .max_output = 1000};
    struct noa_gotmpl *t = NULL;
    struct noa_error err = {0};
    struct noa_buf out = {0};

    /* Output cap: the output is rolled back and the call fails. */
    const char *s = "{{ range 100 }}0123456789x{{ end }}";
    assert_int_equal(noa_gotmpl_parse(s, strlen(s), &t, &err), 0);
    assert_int_equal(noa_gotmpl_exec(t, &d, &out, &err), NOA_ETOOBIG);
    assert_int_equal(out.len, 0);
    noa_gotmpl_free(t);

    /* A huge intermediate string is refused before it is built. */
    s = "{{ $x := repeat 100000000 \"abcdefgh\" }}";
    assert_int_equal(noa_gotmpl_parse(s, strlen(s), &t, &err), 0);
    assert_int_equal(noa_gotmpl_exec(t, &d, &out, &err), NOA_ETOOBIG);
    noa_gotmpl_free(t);

    /* Strings made in a loop are bounded in total, not just one by one. */
    s = "{{ $x := \"\" }}{{ range 100000 }}{{ $x = print $x \"a\" }}{{ end }}{{ len $x }}";
    assert_int_equal(noa_gotmpl_parse(s, strlen(s), &t, &err), 0);
    assert_int_equal(noa_gotmpl_exec(t, &d, &out, &err), NOA_ETOOBIG);
    assert_non_null(strstr(err.msg, "template made more than 16000 bytes"));
    noa_gotmpl_free(t);
    s = "{{ $x := \"\" }}{{ range 100 }}{{ $x = print $x \"a\" }}{{ end }}{{ len $x }}";
    assert_int_equal(noa_gotmpl_parse(s, strlen(s), &t, &err), 0);
    assert_int_equal(noa_gotmpl_exec(t, &d, &out, &err), 0);
    assert_string_equal(noa_buf_cstr(&out), "100");
    out.len = 0;
    noa_gotmpl_free(t);

    /* Empty loops still spend the step budget. */
    s = "{{ range 100000 }}{{ range 100000 }}{{ end }}{{ end }}";
    assert_int_equal(noa_gotmpl_parse(s, strlen(s), &t, &err), 0);
    assert_int_equal(noa_gotmpl_exec(t, &d, &out, &err), NOA_ELIMIT);
    noa_gotmpl_free(t);

    /* Deep nesting is refused at parse time. */
    struct noa_buf deep = {0};
    for (int i = 0; i < 200; i++)
        noa_buf_printf(&deep, "{{ if true }}");
    assert_int_equal(noa_gotmpl_parse(deep.data, deep.len, &t, &err), NOA_ETOOBIG);
    assert_null(t);
    deep.len = 0;
    noa_buf_printf(&deep, "{{ ");
    for (int i = 0; i < 200; i++)
        noa_buf_putc(&deep, '(');
    assert_int_equal(noa_gotmpl_parse(deep.data, deep.len, &t, &err), NOA_ETOOBIG);
    noa_buf_fini(&deep);
    noa_buf_fini(&out);
}

static void test_literal_and_reuse(void **state)
{
    (void)state;
    struct noa_gotmpl *t = NULL;
    struct noa_error err = {0};
    struct noa_str lit;
    assert_int_equal(noa_gotmpl_parse("just text", 9, &t, &err), 0);
    assert_int_equal(noa_gotmpl_literal(t, &lit), 1);
    assert_true(noa_str_eq_c(lit, "just text"));
    noa_gotmpl_free(t);
    assert_int_equal(noa_gotmpl_parse("{{ .a }}", 8, &t, &err), 0);
    assert_int_equal(noa_gotmpl_literal(t, &lit), 0);

    /* One template, many executions with a reused scratch and buffer: the
     * output appends, and nothing leaks. */
    struct noa_gotmpl_scratch scratch = {0};
    struct noa_gotmpl_data d = {.lookup_cb = lookup, .work = &scratch};
    struct noa_buf out = {0};
    int64_t before = noa_mem_in_use();
    for (int i = 0; i < 3; i++)
        assert_int_equal(noa_gotmpl_exec(t, &d, &out, &err), 0);
    assert_string_equal(noa_buf_cstr(&out), "111");
    noa_gotmpl_free(t);
    noa_buf_fini(&out);
    noa_gotmpl_scratch_fini(&scratch);
    assert_true(noa_mem_in_use() <= before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden), cmocka_unit_test(test_steady_state_no_alloc),
        cmocka_unit_test(test_errors), cmocka_unit_test(test_error_position),
        cmocka_unit_test(test_limits), cmocka_unit_test(test_literal_and_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
