/* Unit tests for common/pipeline.c, chiefly its filter-first path: a json
 * or logfmt parser followed by label filters must keep, drop and label
 * every line exactly as the plain path does (the same query with a no-op
 * `| drop` between parser and filters, which turns the path off), on
 * tricky lines: nested objects and arrays, duplicate keys, escaped and
 * sanitized keys, invalid JSON before and after the wanted key, non-UTF-8,
 * stream-label and metadata collisions (`_extracted`), __error__ filters.
 * Also the pruned path (noa_pipeline_new_want): the same lines kept, the
 * same line, error pair, stream labels, metadata and wanted labels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/labels.h"
#include "common/logql.h"
#include "common/mem.h"
#include "common/pipeline.h"

#include <stdio.h>
#include <string.h>

static const char *const json_lines[] = {
    "{\"level\":\"error\",\"msg\":\"boom\",\"status\":503}",
    "{\"level\":\"info\",\"msg\":\"ok\",\"status\":200}",
    "{\"ts\":\"t\",\"http\":{\"status\":500,\"h\":{\"ua\":\"c\"}},\"tags\":[1,{\"level\":\"x\"}],"
    "\"level\":\"error\"}",
    /* duplicates: the first wins, a null is no value */
    "{\"level\":\"info\",\"level\":\"error\"}",
    "{\"level\":null,\"level\":\"error\"}",
    "{\"level\":\"error\",\"level\":\"info\"}",
    /* names that sanitize or unescape to level */
    "{\"lev\\u0065l\":\"error\"}",
    "{\" level \":\"error\"}",
    "{\"\":{\"level\":\"error\"}}",
    "{\" \":{\"\":{\"level\":\"error\"}}}",
    "{\"log\":{\"level\":\"error\"},\"level\":\"warn\"}",
    "{\"level\":\"err\\u006fr\",\"x\":\"\\q\"}",
    /* invalid JSON after and before the wanted key */
    "{\"level\":\"error\",\"x\":",
    "{\"level\":\"error\",\"x\":tru}",
    "{\"level\":\"error\",\"k\\q\":1}",
    "{\"x\":tru,\"level\":\"error\"}",
    "{\"x\":\"unterminated,\"level\":\"error\"}",
    "not json at all level=error",
    "",
    "[{\"level\":\"error\"}]",
    /* non-UTF-8 and U+FFFD values */
    "{\"level\":\"err\xffor\",\"m\":\"\xef\xbf\xbd\"}",
    "{\"level\":\"error\",\"m\xff\":\"v\"}",
    /* collisions with the stream labels and metadata */
    "{\"app\":\"y\",\"level\":\"error\",\"app_extracted\":\"z\"}",
    "{\"level_extracted\":\"error\",\"level\":\"info\"}",
    "{\"status\":\"5xx\",\"level\":\"error\",\"duration\":\"2s\",\"size\":\"3KB\","
    "\"addr\":\"10.1.2.3\"}",
    "{\"status\":\"504\",\"level\":\"error\",\"duration\":\"20ms\",\"size\":\"3\","
    "\"addr\":\"8.8.8.8\"}",
    "{\"__error__\":\"mine\",\"level\":\"error\"}",
    "{\"a\":{\"b\":{\"c\":{\"level\":\"error\"}}},\"a_b_c_level\":\"first?\"}",
    "{\"9level\":\"error\",\"level\":\"debug\"}",
    /* errors after every wanted name: filters that read the error pair */
    "{\"addr\":\"8.8.8.8\",\"x\":tru}",
    "{\"__error__\":\"x\",\"level\":\"error\",\"y\":tru}",
    "{\"__error_details__\":\"x\",\"y\":tru}",
};

static const char *const logfmt_lines[] = {
    "level=error msg=\"boom\" status=503",
    "level=info msg=ok status=200",
    "level=info level=error",
    "level= level=error",
    "a=1 bar=bu=zz level=error",
    "level=error bar=bu=zz c=3",
    "level=\"err\\u006fr\" x=\"open",
    "lev.el=error level-x=1 9level=2",
    "app=y level=error app_extracted=z",
    "level_extracted=error level=info",
    "status=5xx level=error duration=2s size=3KB addr=10.1.2.3",
    "k\xff=1 level=error",
    "addr=8.8.8.8 bar=bu=zz",
    "__error__=x level=error bar=bu=zz",
    "",
};

/* Query templates: %s is where the no-op stage goes for the plain path. */
static const char *const json_queries[] = {
    "{app=\"api\"} | json%s | level=\"error\"",
    "{app=\"api\"} | json%s | level!=\"error\"",
    "{app=\"api\"} | json%s | level=~\"err.*\"",
    "{app=\"api\"} | json%s | __error__=\"\"",
    "{app=\"api\"} | json%s | __error__!=\"\"",
    "{app=\"api\"} | json%s | __error_details__=\"\"",
    "{app=\"api\"} | json%s | __error_details__!=\"\"",
    "{app=\"api\"} | json%s | level=\"error\" or status>=500",
    "{app=\"api\"} | json%s | status >= 500 | level=~\"e.*\"",
    "{app=\"api\"} | json%s | status >= 500, level=\"error\"",
    "{app=\"api\"} | json%s | duration > 1s",
    "{app=\"api\"} | json%s | size > 1KB",
    "{app=\"api\"} | json%s | addr = ip(\"10.0.0.0/8\")",
    "{app=\"api\"} | json%s | addr != ip(\"10.0.0.0/8\") and level=\"error\"",
    "{app=\"api\"} | json%s | app=\"api\"",
    "{app=\"api\"} | json%s | app_extracted=\"y\"",
    "{app=\"api\"} | json%s | level_extracted=\"error\"",
    "{app=\"api\"} | json%s | http_status >= 500",
    "{app=\"api\"} | json%s | a_b_c_level=\"error\"",
    "{app=\"api\"} | json%s | _9level=\"error\"",
    "{app=\"api\"} | json%s | level=\"error\" | line_format \"{{.msg}}\"",
    "{app=\"api\"} |= \"error\" | json%s | level=\"error\" | keep level",
    "{app=\"api\"} | json%s | level=\"error\" | json | m=\"v\"",
    "{app=\"api\"} | json%s | missing=\"\"",
    "{app=\"api\"} | json%s | level=\"error\" | __error__=\"\"",
    "{app=\"api\"} | json%s | level=\"error\" or __error__=\"JSONParserErr\"",
};

static const char *const logfmt_queries[] = {
    "{app=\"api\"} | logfmt%s | level=\"error\"",
    "{app=\"api\"} | logfmt --strict%s | level=\"error\"",
    "{app=\"api\"} | logfmt --strict%s | __error__=\"\"",
    "{app=\"api\"} | logfmt --keep-empty%s | level=\"\"",
    "{app=\"api\"} | logfmt%s | level!=\"error\"",
    "{app=\"api\"} | logfmt%s | lev_el=\"error\" or _9level=\"2\"",
    "{app=\"api\"} | logfmt%s | app_extracted=\"y\" and level_extracted=\"error\"",
    "{app=\"api\"} | logfmt%s | status >= 500 or size > 1KB",
    "{app=\"api\"} | logfmt%s | addr = ip(\"10.0.0.0/8\")",
    "{app=\"api\"} | logfmt --strict%s | addr = ip(\"10.0.0.0/8\")",
    "{app=\"api\"} | logfmt --strict%s | level=\"error\", __error__=\"\"",
};

static const char *const streams[] = {
    "{app=\"api\", env=\"prod\"}",
    "{app=\"api\", level=\"warn\"}",
    "{app=\"api\", level=\"error\", level_extracted=\"s\"}",
};

struct compiled {
    struct noa_logql_expr *e;
    struct noa_pipeline *p;
};

static void compile(const char *q, struct compiled *c)
{
    struct noa_error err = {0};
    if (noa_logql_parse(q, strlen(q), &c->e, &err))
        fail_msg("%s: %s", q, err.msg);
    if (noa_pipeline_new(c->e, &c->p, &err))
        fail_msg("%s: %s", q, err.msg);
}

static void release(struct compiled *c)
{
    noa_pipeline_free(c->p);
    noa_logql_free(c->e);
}

/* Runs p over line and describes the outcome ("-" when dropped). */
static void outcome(const struct noa_pipeline *p, struct noa_pipeline_state *st, int meta,
                    const char *line, struct noa_buf *out)
{
    struct noa_str res;
    noa_lbuilder_reset(&st->lb);
    if (meta)
        noa_lbuilder_add_meta(&st->lb, NOA_STR("level"), NOA_STR("m"));
    noa_buf_reset(out);
    if (!noa_pipeline_run(p, st, 0, noa_str_c(line), &res)) {
        noa_buf_append(out, "-", 1);
        return;
    }
    struct noa_labels ls;
    noa_lbuilder_labels(&st->lb, &ls);
    noa_labels_format(&ls, out);
    noa_buf_append(out, " ", 1);
    noa_buf_append(out, res.p, res.len);
}

/* Copies template t into out with the first "%s" replaced by ins. */
static void fill(char *out, size_t cap, const char *t, const char *ins)
{
    const char *at = strstr(t, "%s");
    assert_non_null(at);
    int n = snprintf(out, cap, "%.*s%s%s", (int)(at - t), t, ins, at + 2);
    assert_true(n > 0 && (size_t)n < cap);
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* line with a few random edits (bytes that matter to both parsers) into buf. */
static const char *mutate(const char *line, char *buf, size_t cap)
{
    static const char pool[] = "{}[]\":,\\ =u0aZ9_-.\xff\xc3\xa9";
    size_t n = strlen(line);
    if (n + 8 >= cap)
        n = cap - 8;
    memcpy(buf, line, n);
    for (int e = 1 + (int)rnd(3); e > 0; e--) {
        size_t pos = n ? rnd((uint32_t)n) : 0;
        char c = pool[rnd(sizeof(pool) - 1)];
        switch (rnd(3)) {
        case 0:
            if (n)
                buf[pos] = c;
            break;
        case 1:
            memmove(buf + pos + 1, buf + pos, n - pos);
            buf[pos] = c;
            n++;
            break;
        default:
            if (n) {
                memmove(buf + pos, buf + pos + 1, n - pos - 1);
                n--;
            }
        }
    }
    buf[n] = 0;
    return buf;
}

/* Every query on every stream, on every line and `mutations` random
 * edits of each: filter first == plain path. Returns how many lines the
 * filter-first path dropped. */
static uint64_t compare_mutated(const char *const *queries, size_t nq, const char *const *lines,
                                size_t nl, size_t mutations)
{
    struct noa_arena arena = {0};
    struct noa_buf a = {0}, b = {0};
    uint64_t prefiltered = 0;
    char mut[512];
    for (size_t q = 0; q < nq; q++) {
        char fast_q[512], plain_q[512];
        fill(fast_q, sizeof(fast_q), queries[q], "");
        fill(plain_q, sizeof(plain_q), queries[q], " | drop __nofast__");
        struct compiled fast, plain;
        compile(fast_q, &fast);
        compile(plain_q, &plain);
        for (size_t s = 0; s < sizeof(streams) / sizeof(streams[0]); s++) {
            struct noa_labels ls;
            struct noa_error err;
            assert_int_equal(noa_labels_parse(noa_str_c(streams[s]), &arena, &ls, &err), 0);
            struct noa_pipeline_state sf, sp;
            noa_pipeline_state_init(&sf);
            noa_pipeline_state_init(&sp);
            noa_lbuilder_reset_stream(&sf.lb, &ls);
            noa_lbuilder_reset_stream(&sp.lb, &ls);
            for (size_t l = 0; l < nl * (mutations + 1); l++) {
                const char *line = lines[l % nl];
                if (l >= nl)
                    line = mutate(line, mut, sizeof(mut));
                for (int meta = 0; meta < 2; meta++) {
                    outcome(fast.p, &sf, meta, line, &a);
                    outcome(plain.p, &sp, meta, line, &b);
                    if (a.len != b.len || memcmp(a.data, b.data, a.len))
                        fail_msg("%s\nstream %s meta %d line %s\n fast:  %.*s\n plain: %.*s",
                                 fast_q, streams[s], meta, line, (int)a.len, a.data,
                                 (int)b.len, b.data);
                }
            }
            assert_int_equal(sp.prefiltered, 0);
            prefiltered += sf.prefiltered;
            noa_pipeline_state_fini(&sf);
            noa_pipeline_state_fini(&sp);
        }
        release(&fast);
        release(&plain);
    }
    noa_buf_fini(&a);
    noa_buf_fini(&b);
    noa_arena_fini(&arena);
    return prefiltered;
}

static uint64_t compare_all(const char *const *queries, size_t nq, const char *const *lines,
                            size_t nl)
{
    return compare_mutated(queries, nq, lines, nl, 0);
}

static void test_json_filter_first_matches_full(void **state)
{
    (void)state;
    uint64_t n = compare_all(json_queries, sizeof(json_queries) / sizeof(json_queries[0]),
                             json_lines, sizeof(json_lines) / sizeof(json_lines[0]));
    assert_true(n > 100); /* the path ran and dropped lines */
}

static void test_logfmt_filter_first_matches_full(void **state)
{
    (void)state;
    uint64_t n = compare_all(logfmt_queries, sizeof(logfmt_queries) / sizeof(logfmt_queries[0]),
                             logfmt_lines, sizeof(logfmt_lines) / sizeof(logfmt_lines[0]));
    assert_true(n > 50);
}

/* Random edits of the tricky lines (broken JSON and logfmt everywhere). */
static void test_mutations_match_full(void **state)
{
    (void)state;
    static const char *const jq[] = {
        "{app=\"api\"} | json%s | level=\"error\"",
        "{app=\"api\"} | json%s | level=\"error\" | __error__=\"\"",
        "{app=\"api\"} | json%s | addr = ip(\"10.0.0.0/8\") or status >= 500",
        "{app=\"api\"} | json%s | app_extracted=~\".+\" or level_extracted!=\"\"",
    };
    static const char *const lq[] = {
        "{app=\"api\"} | logfmt --strict%s | level=\"error\"",
        "{app=\"api\"} | logfmt --keep-empty%s | level=\"\" or __error__!=\"\"",
    };
    compare_mutated(jq, sizeof(jq) / sizeof(jq[0]), json_lines,
                    sizeof(json_lines) / sizeof(json_lines[0]), 60);
    compare_mutated(lq, sizeof(lq) / sizeof(lq[0]), logfmt_lines,
                    sizeof(logfmt_lines) / sizeof(logfmt_lines[0]), 60);
}

/* Golden results of the filter-first path, whatever the plain path says. */
static void test_json_filter_first_golden(void **state)
{
    (void)state;
    struct compiled c;
    struct noa_buf out = {0};
    struct noa_pipeline_state st;
    struct noa_arena arena = {0};
    struct noa_labels ls;
    struct noa_error err;
    assert_int_equal(noa_labels_parse(NOA_STR("{app=\"api\"}"), &arena, &ls, &err), 0);
    noa_pipeline_state_init(&st);
    noa_lbuilder_reset_stream(&st.lb, &ls);
    compile("{app=\"api\"} | json | level=\"error\"", &c);
    outcome(c.p, &st, 0, "{\"level\":\"info\",\"level\":\"error\"}", &out);
    assert_string_equal(noa_buf_cstr(&out), "-");
    outcome(c.p, &st, 0, "{\"level\":\"error\",\"x\":tru}", &out);
    assert_string_equal(noa_buf_cstr(&out),
                        "{__error__=\"JSONParserErr\", __error_details__=\"Unknown value "
                        "type\", app=\"api\", level=\"error\"} {\"level\":\"error\",\"x\":tru}");
    outcome(c.p, &st, 0, "{\"\":{\"level\":\"error\"},\"app\":\"y\"}", &out);
    assert_string_equal(noa_buf_cstr(&out),
                        "{app=\"api\", app_extracted=\"y\", level=\"error\"} "
                        "{\"\":{\"level\":\"error\"},\"app\":\"y\"}");
    assert_int_equal(st.prefiltered, 1);
    release(&c);
    /* The error filter sees errors found after the wanted key. */
    compile("{app=\"api\"} | json | level=\"error\" | __error__=\"\"", &c);
    outcome(c.p, &st, 0, "{\"level\":\"error\",\"x\":", &out);
    assert_string_equal(noa_buf_cstr(&out), "-");
    outcome(c.p, &st, 0, "{\"level\":\"error\",\"x\":1}", &out);
    assert_string_equal(noa_buf_cstr(&out),
                        "{app=\"api\", level=\"error\", x=\"1\"} {\"level\":\"error\",\"x\":1}");
    release(&c);
    noa_pipeline_state_fini(&st);
    noa_buf_fini(&out);
    noa_arena_fini(&arena);
}

/* Warm pipelines allocate nothing per line, filter first included. */
static void test_no_allocation_per_line(void **state)
{
    (void)state;
    struct compiled c;
    struct noa_buf out = {0};
    struct noa_pipeline_state st;
    noa_pipeline_state_init(&st);
    noa_lbuilder_reset_stream(&st.lb, NULL);
    compile("{app=\"api\"} | json | level=\"error\" or status >= 500", &c);
    noa_buf_reserve(&out, 4096);
    for (int round = 0; round < 3; round++) {
        if (round == 1)
            noa_mem_fail_after(0);
        for (size_t l = 0; l < sizeof(json_lines) / sizeof(json_lines[0]); l++)
            outcome(c.p, &st, 0, json_lines[l], &out);
    }
    noa_mem_fail_after(-1);
    release(&c);
    noa_pipeline_state_fini(&st);
    noa_buf_fini(&out);
}

/* ---- pruned parsers (noa_pipeline_new_want) ---- */

/* What a caller reading only names sees (as metric_range reads them):
 * kept or not, the line, the error pair, and each wanted name's value. */
static void project(struct noa_pipeline_state *st, int kept, struct noa_str line,
                    const char *const *names, unsigned n, struct noa_buf *out)
{
    static const char *const fixed[] = {"__error__", "__error_details__"};
    noa_buf_reset(out);
    if (!kept) {
        noa_buf_append(out, "-", 1);
        return;
    }
    for (unsigned i = 0; i < n + 2; i++) {
        const char *name = i < n ? names[i] : fixed[i - n];
        struct noa_str v;
        noa_buf_printf(out, "%s", name);
        if (noa_lbuilder_get(&st->lb, noa_str_c(name), &v)) {
            noa_buf_append(out, "=", 1);
            noa_buf_append_str(out, v);
        }
        noa_buf_append(out, ",", 1);
    }
    noa_buf_append(out, " ", 1);
    noa_buf_append_str(out, line);
}

/* Every label the pruned run gives is the full run's, but for unread
 * `x_extracted` ones: a pruned run that skips the line's own key
 * `x_extracted` lets the renamed `x` take that name. */
static void assert_subset(struct noa_pipeline_state *pr, struct noa_pipeline_state *fu,
                          const char *q, const char *line)
{
    struct noa_labels a, b;
    noa_lbuilder_labels(&pr->lb, &a);
    noa_lbuilder_labels(&fu->lb, &b);
    for (uint32_t i = 0; i < a.n; i++) {
        if (a.v[i].name.len > 10 && !memcmp(a.v[i].name.p + a.v[i].name.len - 10, "_extracted", 10))
            continue;
        uint32_t k = 0;
        while (k < b.n &&
               !(noa_str_eq(a.v[i].name, b.v[k].name) && noa_str_eq(a.v[i].value, b.v[k].value)))
            k++;
        if (k == b.n)
            fail_msg("%s line %s: pruned label %.*s not in the full run", q, line,
                     (int)a.v[i].name.len, a.v[i].name.p);
    }
}

struct want_case {
    const char *names[4];
    unsigned n;
};

static const struct want_case want_cases[] = {
    {{"level"}, 1},
    {{"status", "app"}, 2},
    {{0}, 0},
    {{"level_extracted", "app_extracted"}, 2},
    {{"http_status", "a_b_c_level", "_9level", "lev_el"}, 4},
    {{"msg", "level", "addr"}, 3},
    {{"__error__", "level"}, 2},
};

/* Pruned == full on the names read, for every want set, stream, line
 * (and mutations); returns how many labels pruning left out. */
static uint64_t compare_pruned(const char *const *queries, size_t nq, const char *const *lines,
                               size_t nl, size_t mutations)
{
    struct noa_arena arena = {0};
    struct noa_buf a = {0}, b = {0};
    uint64_t saved = 0;
    char mut[512];
    for (size_t q = 0; q < nq; q++) {
        char qs[512];
        fill(qs, sizeof(qs), queries[q], "");
        for (size_t w = 0; w < sizeof(want_cases) / sizeof(want_cases[0]); w++) {
            const struct want_case *wc = &want_cases[w];
            struct noa_str names[4];
            for (unsigned i = 0; i < wc->n; i++)
                names[i] = noa_str_c(wc->names[i]);
            struct compiled full, pruned;
            struct noa_error err = {0};
            compile(qs, &full);
            pruned.e = NULL;
            assert_int_equal(noa_pipeline_new_want(full.e, names, wc->n, &pruned.p, &err), 0);
            assert_int_equal(noa_pipeline_pruned(pruned.p), 1);
            assert_int_equal(noa_pipeline_pruned(full.p), 0);
            for (size_t s = 0; s < sizeof(streams) / sizeof(streams[0]); s++) {
                struct noa_labels ls;
                assert_int_equal(noa_labels_parse(noa_str_c(streams[s]), &arena, &ls, &err), 0);
                struct noa_pipeline_state sf, sp;
                noa_pipeline_state_init(&sf);
                noa_pipeline_state_init(&sp);
                noa_lbuilder_reset_stream(&sf.lb, &ls);
                noa_lbuilder_reset_stream(&sp.lb, &ls);
                for (size_t l = 0; l < nl * (mutations + 1); l++) {
                    const char *line = lines[l % nl];
                    if (l >= nl)
                        line = mutate(line, mut, sizeof(mut));
                    for (int meta = 0; meta < 2; meta++) {
                        struct noa_str of = {0}, op = {0};
                        noa_lbuilder_reset(&sf.lb);
                        noa_lbuilder_reset(&sp.lb);
                        if (meta) {
                            noa_lbuilder_add_meta(&sf.lb, NOA_STR("level"), NOA_STR("m"));
                            noa_lbuilder_add_meta(&sp.lb, NOA_STR("level"), NOA_STR("m"));
                        }
                        int kf = noa_pipeline_run(full.p, &sf, 0, noa_str_c(line), &of);
                        int kp = noa_pipeline_run(pruned.p, &sp, 0, noa_str_c(line), &op);
                        project(&sf, kf, of, wc->names, wc->n, &a);
                        project(&sp, kp, op, wc->names, wc->n, &b);
                        if (a.len != b.len || memcmp(a.data, b.data, a.len))
                            fail_msg("%s want %zu\nstream %s meta %d line %s\n full:   %.*s\n "
                                     "pruned: %.*s",
                                     qs, w, streams[s], meta, line, (int)a.len, a.data, (int)b.len,
                                     b.data);
                        if (kf) {
                            assert_subset(&sp, &sf, qs, line);
                            struct noa_labels la, lb2;
                            noa_lbuilder_labels(&sf.lb, &la);
                            noa_lbuilder_labels(&sp.lb, &lb2);
                            saved += la.n - lb2.n;
                        }
                    }
                }
                noa_pipeline_state_fini(&sf);
                noa_pipeline_state_fini(&sp);
            }
            noa_pipeline_free(pruned.p);
            release(&full);
        }
    }
    noa_buf_fini(&a);
    noa_buf_fini(&b);
    noa_arena_fini(&arena);
    return saved;
}

static const char *const json_prune_queries[] = {
    "{app=\"api\"} | json%s",
    "{app=\"api\"} |= \"e\" | json%s | __error__=\"\"",
    "{app=\"api\"} | json%s | __error__!=\"\"",
    "{app=\"api\"} | json%s | level=\"error\"",
    "{app=\"api\"} | json%s | status >= 500 or size > 1KB",
    "{app=\"api\"} | json%s | addr = ip(\"10.0.0.0/8\")",
    "{app=\"api\"} | json%s | app_extracted=\"y\" | drop __error__, __error_details__",
    "{app=\"api\"} | json%s | drop level, app=\"api\", __error__ | status > 1",
    "{app=\"api\"} | logfmt | json%s | level=~\"e.*\" |~ \"x|y\"",
};

static const char *const logfmt_prune_queries[] = {
    "{app=\"api\"} | logfmt%s",
    "{app=\"api\"} | logfmt%s | __error__=\"\"",
    "{app=\"api\"} | logfmt --strict%s | __error__=\"\"",
    "{app=\"api\"} | logfmt --keep-empty%s | level=\"\"",
    "{app=\"api\"} | logfmt%s | lev_el=\"error\" or _9level=\"2\"",
    "{app=\"api\"} | logfmt --strict%s | status >= 500 | drop __error__",
    "{app=\"api\"} | json | logfmt%s | app_extracted=\"y\"",
};

static void test_pruned_matches_full(void **state)
{
    (void)state;
    uint64_t n = compare_pruned(json_prune_queries,
                                sizeof(json_prune_queries) / sizeof(json_prune_queries[0]),
                                json_lines, sizeof(json_lines) / sizeof(json_lines[0]), 0);
    assert_true(n > 1000); /* pruning left labels out */
    n = compare_pruned(logfmt_prune_queries,
                       sizeof(logfmt_prune_queries) / sizeof(logfmt_prune_queries[0]), logfmt_lines,
                       sizeof(logfmt_lines) / sizeof(logfmt_lines[0]), 0);
    assert_true(n > 200);
}

static void test_pruned_mutations_match_full(void **state)
{
    (void)state;
    static const char *const jq[] = {"{app=\"api\"} | json%s | __error__=\"\"",
                                     "{app=\"api\"} | json%s"};
    static const char *const lq[] = {"{app=\"api\"} | logfmt --strict%s | __error__=\"\"",
                                     "{app=\"api\"} | logfmt%s"};
    compare_pruned(jq, 2, json_lines, sizeof(json_lines) / sizeof(json_lines[0]), 40);
    compare_pruned(lq, 2, logfmt_lines, sizeof(logfmt_lines) / sizeof(logfmt_lines[0]), 40);
}

/* Stages that read any label (or rewrite the line) turn pruning off. */
static void test_pruning_refused(void **state)
{
    (void)state;
    static const char *const qs[] = {
        "{app=\"api\"} | json | line_format \"{{.msg}}\"",
        "{app=\"api\"} | json | label_format x=\"{{.msg}}\"",
        "{app=\"api\"} | json | level=\"e\" | label_format x=msg",
        "{app=\"api\"} | json msg=\"msg\"",
        "{app=\"api\"} | logfmt | regexp \"(?P<x>.)\"",
        "{app=\"api\"} | json | unpack",
        "{app=\"api\"} |= \"x\"",
        "{app=\"api\"} | json | keep level",
    };
    struct noa_str name = NOA_STR("level");
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        struct compiled c;
        struct noa_pipeline *p = NULL;
        struct noa_error err = {0};
        compile(qs[i], &c);
        assert_int_equal(noa_pipeline_new_want(c.e, &name, 1, &p, &err), 0);
        if (noa_pipeline_pruned(p))
            fail_msg("pruned: %s", qs[i]);
        noa_pipeline_free(p);
        release(&c);
    }
}

/* A pruned run: only the wanted labels, the error from the end of the line. */
static void test_pruned_golden(void **state)
{
    (void)state;
    struct compiled c;
    struct noa_pipeline *p = NULL;
    struct noa_pipeline_state st;
    struct noa_error err = {0};
    struct noa_buf out = {0};
    struct noa_str name = NOA_STR("level");
    noa_pipeline_state_init(&st);
    noa_lbuilder_reset_stream(&st.lb, NULL);
    compile("{app=\"api\"} | json", &c);
    assert_int_equal(noa_pipeline_new_want(c.e, &name, 1, &p, &err), 0);
    outcome(p, &st, 0, "{\"a\":{\"level\":1},\"level\":\"info\",\"msg\":\"m\",\"level\":\"x\"}",
            &out);
    assert_string_equal(noa_buf_cstr(&out),
                        "{level=\"info\"} {\"a\":{\"level\":1},\"level\":\"info\",\"msg\":\"m\","
                        "\"level\":\"x\"}");
    outcome(p, &st, 0, "{\"level\":\"info\",\"x\":tru}", &out);
    assert_string_equal(noa_buf_cstr(&out),
                        "{__error__=\"JSONParserErr\", __error_details__=\"Unknown value "
                        "type\", level=\"info\"} {\"level\":\"info\",\"x\":tru}");
    noa_pipeline_free(p);
    release(&c);
    noa_pipeline_state_fini(&st);
    noa_buf_fini(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_filter_first_matches_full),
        cmocka_unit_test(test_logfmt_filter_first_matches_full),
        cmocka_unit_test(test_mutations_match_full),
        cmocka_unit_test(test_json_filter_first_golden),
        cmocka_unit_test(test_no_allocation_per_line),
        cmocka_unit_test(test_pruned_matches_full),
        cmocka_unit_test(test_pruned_mutations_match_full),
        cmocka_unit_test(test_pruning_refused),
        cmocka_unit_test(test_pruned_golden),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
