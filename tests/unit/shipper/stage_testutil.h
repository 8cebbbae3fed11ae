/* Helpers shared by the stage tests (header only): compile a pipeline from
 * YAML text, feed lines, collect what comes out. */
#ifndef NOA_TESTS_STAGE_TESTUTIL_H
#define NOA_TESTS_STAGE_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common/mem.h"
#include "common/yaml.h"
#include "shipper/stage.h"

#include <stdio.h>
#include <string.h>

#define TU_MAX_OUT 256

struct tu_sink {
    struct noa_stages_sink sink;
    struct noa_entry out[TU_MAX_OUT];
    int n;
};

static inline void tu_sink_cb(struct noa_stages_sink *self, struct noa_entry *e)
{
    struct tu_sink *s = (struct tu_sink *)self;
    assert_true(s->n < TU_MAX_OUT);
    noa_entry_copy(&s->out[s->n++], e);
}

static inline void tu_sink_init(struct tu_sink *s)
{
    memset(s, 0, sizeof(*s));
    s->sink.fn = tu_sink_cb;
}

static inline void tu_sink_fini(struct tu_sink *s)
{
    for (int i = 0; i < TU_MAX_OUT; i++)
        noa_entry_fini(&s->out[i]);
    s->n = 0;
}

static int64_t tu_now = 1000000000LL;
static inline int64_t tu_clock(void)
{
    return tu_now;
}

static struct noa_yaml_doc *tu_doc;

/* Compiles `pipeline_stages` given as YAML text (a sequence). Returns the
 * rc; *out gets the pipeline. The document lives until tu_free. */
static inline int tu_compile_ctx(const char *yaml, const struct noa_stage_ctx *ctx, struct noa_stages **out,
                          struct noa_error *err)
{
    struct noa_error perr = {0};
    noa_yaml_free(tu_doc);
    tu_doc = NULL;
    int rc = noa_yaml_parse(yaml, strlen(yaml), "test.yaml", NULL, &tu_doc, &perr);
    if (rc < 0) {
        fprintf(stderr, "yaml: %s\n", perr.msg);
        fail();
    }
    rc = noa_stages_new(tu_doc->root, ctx, out, err);
    return rc;
}

static inline struct noa_stages *tu_compile(const char *yaml)
{
    struct noa_stage_ctx ctx = {.now_ns = tu_clock, .job_name = "test"};
    struct noa_stages *p = NULL;
    struct noa_error err = {0};
    int rc = tu_compile_ctx(yaml, &ctx, &p, &err);
    if (rc != 0)
        fprintf(stderr, "compile: %s\n", err.msg);
    assert_int_equal(rc, 0);
    return p;
}

/* The error text of a pipeline that must not compile. */
static inline const char *tu_compile_err(const char *yaml)
{
    static struct noa_error err;
    struct noa_stage_ctx ctx = {.now_ns = tu_clock};
    struct noa_stages *p = NULL;
    memset(&err, 0, sizeof(err));
    int rc = tu_compile_ctx(yaml, &ctx, &p, &err);
    assert_int_equal(rc, NOA_EINVAL);
    assert_null(p);
    return err.msg;
}

static inline void tu_free(struct noa_stages *p)
{
    noa_stages_free(p);
    noa_yaml_free(tu_doc);
    tu_doc = NULL;
}

/* Sets labels from "a=b,c=d" (NULL or "": none). */
static inline void tu_labels(struct noa_kvlist *l, const char *spec)
{
    noa_kvlist_reset(l);
    while (spec && *spec) {
        const char *eq = strchr(spec, '='), *end = strchr(spec, ',');
        if (!end)
            end = spec + strlen(spec);
        noa_kvlist_set(l, (struct noa_str){spec, (size_t)(eq - spec)},
                       (struct noa_str){eq + 1, (size_t)(end - eq - 1)});
        spec = *end ? end + 1 : end;
    }
}

/* Runs one line through p. */
static inline enum noa_stage_verdict tu_run(struct noa_stages *p, struct tu_sink *s, const char *labels,
                                     const char *line, const char *source, uint64_t offset)
{
    struct noa_entry e;
    noa_entry_init(&e);
    tu_labels(&e.labels, labels);
    noa_buf_append(&e.line, line, strlen(line));
    if (source)
        noa_buf_append(&e.source, source, strlen(source));
    e.offset = offset;
    e.ts_ns = 42;
    enum noa_stage_verdict v = noa_stages_run(p, &e, &s->sink, tu_now);
    noa_entry_fini(&e);
    return v;
}

/* A value of a kvlist as a C string (static buffer), NULL when absent. */
static inline const char *tu_get(const struct noa_kvlist *l, const char *name)
{
    static char buf[8][4096];
    static int k;
    struct noa_str v;
    if (!noa_kvlist_get(l, noa_str_c(name), &v))
        return NULL;
    char *b = buf[k++ & 7];
    snprintf(b, sizeof(buf[0]), "%.*s", (int)v.len, v.p ? v.p : "");
    return b;
}

static inline const char *tu_line(const struct noa_entry *e)
{
    static char buf[4][65536];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, sizeof(buf[0]), "%.*s", (int)e->line.len, e->line.data ? e->line.data : "");
    return b;
}

#endif
