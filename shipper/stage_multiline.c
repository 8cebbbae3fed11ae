/*
 * The `multiline` stage: joins the lines of one message (a stack trace, a
 * wrapped SQL statement) into one entry. A line matching `firstline`
 * starts a block; the lines that follow are appended with "\n" until the
 * next first line, `max_lines` lines, `max_wait_time` without a new line
 * of that stream (tick), or a flush (shutdown, end of a rotated file).
 *
 * Blocks are kept per stream, keyed by the label set and the source (two
 * files with the same labels never mix). A block carries the labels, time
 * and extracted map of its first line and the source offset of its last
 * line, so positions never pass a held byte.
 *
 * Better than Promtail on one edge: lines of a stream that has not yet
 * seen a first line pass through as they are (Promtail glues them to an
 * empty entry with no labels and a zero time). After a block is cut at
 * max_lines, its continuation lines start a new block, as in Promtail.
 *
 * Held entries belong to the stage, which belongs to the pipeline's thread.
 * A slot's entry is reused, so a warmed-up stage does not allocate.
 */
#include "shipper/stages_int.h"

#include "common/mem.h"
#include "common/regex.h"

#include <string.h>

#define ML_MAX_LINES_LIMIT 1000000
#define ML_MAX_STREAMS 1000000

struct ml_stream {
    uint64_t key;
    int seen_first; /* a first line came on this stream */
    int held;       /* a block is held */
    int64_t lines;  /* lines in the block */
    int64_t last_ns;
    struct noa_entry e;
};

struct multiline {
    struct noa_stage base;
    struct noa_regex *first;
    int64_t max_wait_ns;
    int64_t max_lines;
    struct ml_stream *s;
    size_t n, cap;
    uint32_t *index;  /* open addressing over s: slot+1, 0 = empty */
    size_t index_cap; /* power of two, > 2n */
    size_t nheld;
};

struct ml_cfg {
    char *firstline;
    int64_t max_wait_ns;
    int max_lines;
};

#define OFF(f) offsetof(struct ml_cfg, f)
static const struct noa_config_entry ml_entries[] = {
    {.path = "firstline", .type = NOA_CONFIG_STRING, .offset = OFF(firstline),
     .desc = "RE2 regular expression a block's first line matches."},
    {.path = "max_wait_time", .type = NOA_CONFIG_DURATION, .def = "3s", .offset = OFF(max_wait_ns),
     .desc = "How long a block waits for its next line."},
    {.path = "max_lines", .type = NOA_CONFIG_INT, .def = "128", .offset = OFF(max_lines),
     .desc = "Most lines in one block."},
};
#undef OFF
static const struct noa_config_table ml_table = {"stages.MultilineConfig", ml_entries,
                                                 sizeof(ml_entries) / sizeof(ml_entries[0])};

static uint64_t stream_key(const struct noa_entry *e)
{
    uint64_t h = noa__stages_fingerprint(&e->labels);
    for (size_t i = 0; i < e->source.len; i++)
        h = (h ^ (unsigned char)e->source.data[i]) * 1099511628211ULL;
    return h;
}

static void reindex(struct multiline *m)
{
    size_t cap = m->index_cap ? m->index_cap * 2 : 16;
    noa_free(m->index);
    m->index = noa_xcalloc(cap, sizeof(*m->index));
    m->index_cap = cap;
    for (size_t i = 0; i < m->n; i++) {
        size_t h = (size_t)m->s[i].key & (cap - 1);
        while (m->index[h])
            h = (h + 1) & (cap - 1);
        m->index[h] = (uint32_t)i + 1;
    }
}

/* The stream of key, created when absent (NULL at the stream limit). */
static struct ml_stream *get_stream(struct multiline *m, uint64_t key)
{
    if (m->index_cap) {
        size_t h = (size_t)key & (m->index_cap - 1);
        while (m->index[h]) {
            struct ml_stream *s = &m->s[m->index[h] - 1];
            if (s->key == key)
                return s;
            h = (h + 1) & (m->index_cap - 1);
        }
    }
    if (m->n >= ML_MAX_STREAMS)
        return NULL;
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 8;
        m->s = noa_xrealloc(m->s, m->cap * sizeof(*m->s));
    }
    struct ml_stream *s = &m->s[m->n++];
    memset(s, 0, sizeof(*s));
    s->key = key;
    if (2 * m->n >= m->index_cap) {
        reindex(m);
    } else {
        size_t h = (size_t)key & (m->index_cap - 1);
        while (m->index[h])
            h = (h + 1) & (m->index_cap - 1);
        m->index[h] = (uint32_t)m->n;
    }
    return s;
}

static void release(struct multiline *m, struct ml_stream *s, struct noa_stage_emit *next)
{
    s->held = 0;
    s->lines = 0;
    m->nheld--;
    next->fn(next, &s->e);
    noa_entry_reset(&s->e);
}

static void start_block(struct multiline *m, struct ml_stream *s, const struct noa_entry *e,
                        int64_t now_ns)
{
    noa_entry_copy(&s->e, e);
    s->held = 1;
    s->lines = 1;
    s->last_ns = now_ns;
    m->nheld++;
}

static enum noa_stage_verdict ml_process(struct noa_stage *st, struct noa_entry *e,
                                         struct noa_stage_emit *next, int64_t now_ns)
{
    struct multiline *m = (struct multiline *)st;
    struct ml_stream *s = get_stream(m, stream_key(e));
    if (!s)
        return NOA_STAGE_PASS; /* past the stream bound: no joining, nothing lost */
    if (noa_regex_match(m->first, e->line.data ? e->line.data : "", e->line.len)) {
        if (s->held)
            release(m, s, next);
        s->seen_first = 1;
        start_block(m, s, e, now_ns);
    } else if (!s->seen_first) {
        return NOA_STAGE_PASS;
    } else if (!s->held) {
        start_block(m, s, e, now_ns); /* continuation after a max_lines cut */
    } else {
        noa_buf_putc(&s->e.line, '\n');
        noa_buf_append(&s->e.line, e->line.data, e->line.len);
        s->e.offset = e->offset;
        s->lines++;
        s->last_ns = now_ns;
    }
    if (s->lines >= m->max_lines)
        release(m, s, next);
    return NOA_STAGE_HELD;
}

static void ml_tick(struct noa_stage *st, int64_t now_ns, struct noa_stage_emit *next)
{
    struct multiline *m = (struct multiline *)st;
    for (size_t i = 0; m->nheld && i < m->n; i++)
        if (m->s[i].held && now_ns - m->s[i].last_ns >= m->max_wait_ns)
            release(m, &m->s[i], next);
}

static int of_source(const struct ml_stream *s, const char *source)
{
    return !source || noa_str_eq_c((struct noa_str){s->e.source.data, s->e.source.len}, source);
}

static void ml_flush(struct noa_stage *st, const char *source, struct noa_stage_emit *next)
{
    struct multiline *m = (struct multiline *)st;
    for (size_t i = 0; m->nheld && i < m->n; i++)
        if (m->s[i].held && of_source(&m->s[i], source))
            release(m, &m->s[i], next);
}

static int ml_holding(struct noa_stage *st, const char *source)
{
    struct multiline *m = (struct multiline *)st;
    for (size_t i = 0; m->nheld && i < m->n; i++)
        if (m->s[i].held && of_source(&m->s[i], source))
            return 1;
    return 0;
}

static void ml_free(struct noa_stage *st)
{
    struct multiline *m = (struct multiline *)st;
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        noa_entry_fini(&m->s[i].e);
    noa_free(m->s);
    noa_free(m->index);
    noa_regex_free(m->first);
    noa_free(m);
}

static const struct noa__stage_hold_ops ml_ops = {
    {"multiline", ml_process, ml_tick, ml_flush, ml_free}, ml_holding};

NOA_STAGE_CTOR(multiline)
{
    (void)ctx;
    struct ml_cfg mc = {0};
    struct multiline *m = noa_xcalloc(1, sizeof(*m));
    m->base.ops = &ml_ops.ops;
    *out = NULL;
    int rc = noa__stages_config(&ml_table, &mc, cfg, err);
    if (rc < 0)
        goto fail;
    if (!mc.firstline[0]) {
        rc = noa_yaml_error(err, cfg ? cfg : NULL,
                            "multiline stage config must define `firstline` regular expression");
        goto fail;
    }
    struct noa_error rerr = {0};
    if (noa_regex_compile(mc.firstline, strlen(mc.firstline), 0, &m->first, &rerr) < 0) {
        rc = noa_yaml_error(err, noa_yaml_get(cfg, "firstline"),
                            "multiline stage first line regex compilation error: %s", rerr.msg);
        goto fail;
    }
    if (mc.max_wait_ns <= 0) {
        rc = noa_yaml_error(err, noa_yaml_get(cfg, "max_wait_time") ? noa_yaml_get(cfg, "max_wait_time") : cfg,
                            "multiline stage `max_wait_time` must be positive");
        goto fail;
    }
    if (mc.max_lines <= 0 || mc.max_lines > ML_MAX_LINES_LIMIT) {
        rc = noa_yaml_error(err, noa_yaml_get(cfg, "max_lines") ? noa_yaml_get(cfg, "max_lines") : cfg,
                            "multiline stage `max_lines` must be between 1 and %d",
                            ML_MAX_LINES_LIMIT);
        goto fail;
    }
    m->max_wait_ns = mc.max_wait_ns;
    m->max_lines = mc.max_lines;
    noa_config_fini(&ml_table, &mc);
    *out = &m->base;
    return 0;
fail:
    noa_config_fini(&ml_table, &mc);
    ml_free(&m->base);
    return rc;
}
