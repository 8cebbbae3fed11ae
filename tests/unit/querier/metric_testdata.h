/*
 * Shared helpers of the metric engine's unit tests: an in-memory
 * struct noa_metric_source over a table of entries, a runner that parses
 * and evaluates a query, and a compact text dump of a result to compare
 * against hand-computed expectations:
 *   `{a="1"}: 60=6 75=4` per series, series joined by "\n" in result order,
 *   times in seconds relative to the epoch, values as Prometheus prints them.
 * Test data use seconds since the epoch (0 s) as timestamps.
 * Included by tests/unit/querier/metric_*_test.c only.
 */
#ifndef NOA_TESTS_METRIC_TESTDATA_H
#define NOA_TESTS_METRIC_TESTDATA_H

#include "common/labels.h"
#include "common/logql.h"
#include "common/mem.h"
#include "common/selector.h"
#include "querier/metric_eval.h"
#include "querier/metric_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One log entry: stream labels text, time in ms, line, optional metadata
 * "k=v". Entries of one stream must be in time order; streams are
 * delivered in the order they first appear. */
struct mt_entry {
    const char *stream;
    int64_t ts_ms;
    const char *line;
    const char *meta;
};

#define MT_MAX_STREAMS 32

struct mt_source {
    const struct mt_entry *e;
    size_t n;
    struct noa_labels streams[MT_MAX_STREAMS];
    const char *names[MT_MAX_STREAMS];
    unsigned nstreams;
    struct noa_arena arena;
    unsigned calls; /* each_stream calls */
};

static int mt_each_stream(void *ctx, const struct noa_logql_expr *log, int64_t from_ns,
                          int64_t through_ns, const struct noa_metric_sink *sink)
{
    struct mt_source *s = ctx;
    s->calls++;
    for (unsigned k = 0; k < s->nstreams; k++) {
        if (!noa_selector_matches(&log->selector, &s->streams[k]))
            continue;
        /* A copy in reused memory, as a real source may hand out. */
        static struct noa_labels shared;
        static struct noa_label shared_v[16];
        shared.n = s->streams[k].n;
        memcpy(shared_v, s->streams[k].v, sizeof(*shared_v) * shared.n);
        shared.v = shared_v;
        int started = 0;
        for (size_t i = 0; i < s->n; i++) {
            const struct mt_entry *e = &s->e[i];
            int64_t ts = e->ts_ms * 1000000;
            if (strcmp(e->stream, s->names[k]) != 0 || ts < from_ns || ts >= through_ns)
                continue;
            struct noa_label meta;
            uint32_t nmeta = 0;
            if (e->meta) {
                const char *eq = strchr(e->meta, '=');
                meta.name = (struct noa_str){e->meta, (size_t)(eq - e->meta)};
                meta.value = noa_str_c(eq + 1);
                nmeta = 1;
            }
            int rc = started ? 0 : sink->stream_cb(sink->arg, &shared);
            started = 1;
            if (rc == 0)
                rc = sink->entry_cb(sink->arg, ts, noa_str_c(e->line), &meta, nmeta);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static void mt_source_init(struct mt_source *s, const struct mt_entry *e, size_t n)
{
    memset(s, 0, sizeof(*s));
    s->e = e;
    s->n = n;
    for (size_t i = 0; i < n; i++) {
        unsigned k = 0;
        while (k < s->nstreams && strcmp(s->names[k], e[i].stream) != 0)
            k++;
        if (k < s->nstreams)
            continue;
        struct noa_error err = {0};
        if (s->nstreams == MT_MAX_STREAMS ||
            noa_labels_parse(noa_str_c(e[i].stream), &s->arena, &s->streams[k], &err) < 0)
            abort();
        s->names[s->nstreams++] = e[i].stream;
    }
}

static void mt_source_fini(struct mt_source *s)
{
    noa_arena_fini(&s->arena);
}

/* Appends the dump of res (see the file comment). */
static void mt_dump(const struct noa_metric_result *res, struct noa_buf *out)
{
    if (res->type == NOA_METRIC_SCALAR) {
        noa_buf_append_str(out, NOA_STR("scalar: "));
        size_t at = out->len;
        noa_metric_json_put_value(out, res->set.scalar_v[0]);
        /* drop the quotes */
        memmove(out->data + at, out->data + at + 1, out->len - at - 2);
        out->len -= 2;
        return;
    }
    for (uint32_t i = 0; i < res->set.n; i++) {
        const struct noa_metric_series *s = &res->set.s[i];
        if (i)
            noa_buf_putc(out, '\n');
        noa_labels_format(&s->labels, out);
        noa_buf_putc(out, ':');
        for (uint32_t t = 0; t < res->grid.n; t++) {
            if (!s->has[t])
                continue;
            noa_buf_putc(out, ' ');
            noa_metric_json_put_time(out, res->grid.start_ns + (int64_t)t * res->grid.step_ns);
            noa_buf_putc(out, '=');
            size_t at = out->len;
            noa_metric_json_put_value(out, s->v[t]);
            memmove(out->data + at, out->data + at + 1, out->len - at - 2);
            out->len -= 2;
        }
    }
}

/* A query case: range [start_s, end_s] by step_s (0 = instant at start_s).
 * want is the dump, or "error: <prefix of the message>". */
struct mt_case {
    const char *q;
    int64_t start_s, end_s, step_s;
    const char *want;
};

static uint32_t mt_max_series = 500;

/* Runs q over data; returns the dump (or "error: msg") in a static buffer. */
static const char *mt_run(const struct mt_entry *data, size_t n, const char *q, int64_t start_s,
                          int64_t end_s, int64_t step_s)
{
    static char text[8192];
    struct mt_source src;
    mt_source_init(&src, data, n);
    struct noa_metric_source ms = {.each_stream = mt_each_stream, .ctx = &src};
    struct noa_logql_expr *e = NULL;
    struct noa_error err = {0};
    struct noa_buf out = {0};
    if (noa_logql_parse(q, strlen(q), &e, &err) < 0) {
        snprintf(text, sizeof(text), "parse error: %s", err.msg);
        mt_source_fini(&src);
        return text;
    }
    struct noa_metric_opts o = {.start_ns = start_s * 1000000000LL,
                                .end_ns = (step_s ? end_s : start_s) * 1000000000LL,
                                .step_ns = step_s * 1000000000LL,
                                .max_series = mt_max_series};
    struct noa_metric_result res;
    int rc = noa_metric_eval(e, &ms, &o, &res, &err);
    if (rc < 0)
        noa_buf_printf(&out, "error: %s", err.msg);
    else
        mt_dump(&res, &out);
    snprintf(text, sizeof(text), "%.*s", (int)out.len, out.data ? out.data : "");
    noa_buf_fini(&out);
    noa_metric_result_fini(&res);
    noa_logql_free(e);
    mt_source_fini(&src);
    return text;
}

/* Runs every case; an "error: x" expectation matches a message starting with x. */
static void mt_run_cases(const struct mt_entry *data, size_t n, const struct mt_case *c,
                         size_t nc)
{
    int failed = 0;
    for (size_t i = 0; i < nc; i++) {
        const char *got = mt_run(data, n, c[i].q, c[i].start_s, c[i].end_s, c[i].step_s);
        int ok = strncmp(c[i].want, "error: ", 7) == 0
                     ? strncmp(got, c[i].want, strlen(c[i].want)) == 0
                     : strcmp(got, c[i].want) == 0;
        if (!ok) {
            print_error("case %zu: %s\n  want: %s\n  got:  %s\n", i, c[i].q, c[i].want, got);
            failed++;
        }
    }
    assert_int_equal(failed, 0);
}

#endif
