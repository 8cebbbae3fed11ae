/*
 * The `cri` and `docker` stages: decode a container runtime's log line
 * (shipper/cri.h, shipper/dockerlog.h), set the `stream` label, the
 * timestamp and the line, and join partial lines back together.
 *
 * As Promtail's stages do, the decoded fields also land in the extracted
 * map (cri: time, stream, flags, content; docker: output, stream,
 * timestamp), and a line that does not decode passes unchanged.
 *
 * Joining follows Promtail's cri stage: fragments are keyed by the entry's
 * label set (which includes `stream`), a P fragment is HELD, the F line that
 * ends it comes out carrying the joined text with its own labels, time and
 * offset (the offset of the last fragment, so positions never pass a held
 * byte). max_partial_lines bounds how many label sets may hold a partial:
 * at the bound every held partial is released as it is. Departures from
 * Promtail, which holds a partial forever: tick releases a partial idle for
 * 5 s, a partial over 4 MiB is released unfinished, a fragment of a label
 * set already holding never forces the others out, and the docker stage
 * joins Docker's 16 KiB splits the same way (Promtail's does not join; the
 * final newline Docker writes is removed, as the entry model has lines
 * without it).
 *
 * shipper/linejoin.h joins bare text; a stage must hold whole entries
 * (labels, extracted map, source and offset of the last fragment), so it
 * keeps its own small table of held entries with the same limits.
 *
 * The stage and its held entries belong to the pipeline's thread. Held
 * entries are copied once per fragment; a whole line (F, or a Docker line
 * ending in a newline) is handled in place without allocating.
 */
#include "shipper/cri.h"
#include "shipper/dockerlog.h"
#include "shipper/stages_int.h"

#include "common/mem.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define JOIN_IDLE_NS (5LL * 1000000000LL)
#define JOIN_MAX_BYTES ((size_t)4 << 20)
#define JOIN_MAX_LINES 1000000

struct held {
    int used;
    uint64_t key;          /* label-set fingerprint */
    int64_t last_ns;       /* when its last fragment came */
    struct noa_entry e;    /* the latest fragment's entry with the joined line */
};

struct container {
    struct noa_stage base;
    int docker; /* 1 docker, 0 cri */
    int max_partial_lines;
    int64_t max_partial_line_size;
    int truncate;
    struct held *held; /* nslots slots, grown up to max_partial_lines */
    int nslots;
    int nheld;
    struct noa_dockerlog dl;
};

struct cri_cfg {
    int max_partial_lines;
    int64_t max_partial_line_size;
    int truncate;
};

#define OFF(f) offsetof(struct cri_cfg, f)
static const struct noa_config_entry cri_entries[] = {
    {.path = "max_partial_lines", .type = NOA_CONFIG_INT, .def = "100",
     .offset = OFF(max_partial_lines),
     .desc = "How many label sets may hold a partial line at once."},
    {.path = "max_partial_line_size", .type = NOA_CONFIG_BYTES, .def = "0",
     .offset = OFF(max_partial_line_size),
     .desc = "Length a joined line is cut to, with max_partial_line_size_truncate."},
    {.path = "max_partial_line_size_truncate", .type = NOA_CONFIG_BOOL, .def = "false",
     .offset = OFF(truncate), .desc = "Cut joined lines to max_partial_line_size."},
};
static const struct noa_config_table cri_table = {"stages.CriConfig", cri_entries,
                                                  sizeof(cri_entries) / sizeof(cri_entries[0])};
static const struct noa_config_table docker_table = {"stages.DockerConfig", NULL, 0};
#undef OFF

/* Copies everything but the line. */
static void copy_but_line(struct noa_entry *dst, const struct noa_entry *src)
{
    noa_kvlist_copy(&dst->labels, &src->labels);
    noa_kvlist_copy(&dst->extracted, &src->extracted);
    noa_kvlist_copy(&dst->meta, &src->meta);
    noa_buf_reset(&dst->source);
    if (src->source.len)
        noa_buf_append(&dst->source, src->source.data, src->source.len);
    dst->ts_ns = src->ts_ns;
    dst->offset = src->offset;
}

static void maybe_truncate(struct container *c, struct noa_buf *line)
{
    if (c->truncate && c->max_partial_line_size > 0 &&
        line->len > (size_t)c->max_partial_line_size)
        line->len = (size_t)c->max_partial_line_size;
}

static void release(struct container *c, struct held *h, struct noa_stage_emit *next)
{
    h->used = 0;
    c->nheld--;
    next->fn(next, &h->e);
    noa_entry_reset(&h->e);
}

static struct held *find_held(struct container *c, uint64_t key)
{
    for (int i = 0; c->nheld && i < c->nslots; i++)
        if (c->held[i].used && c->held[i].key == key)
            return &c->held[i];
    return NULL;
}

static void release_all(struct container *c, const char *source, struct noa_stage_emit *next)
{
    for (int i = 0; c->nheld && i < c->nslots; i++) {
        struct held *h = &c->held[i];
        if (h->used && (!source || noa_str_eq_c((struct noa_str){h->e.source.data, h->e.source.len},
                                                source)))
            release(c, h, next);
    }
}

/* Joins a decoded fragment (e already rewritten) with what its label set
 * holds. */
static enum noa_stage_verdict join(struct container *c, struct noa_entry *e, int partial,
                                   struct noa_stage_emit *next, int64_t now_ns)
{
    if (!partial && c->nheld == 0)
        return NOA_STAGE_PASS; /* the common case: a whole line */
    uint64_t key = noa__stages_fingerprint(&e->labels);
    struct held *h = find_held(c, key);
    if (!partial) {
        if (!h)
            return NOA_STAGE_PASS;
        noa_buf_append(&h->e.line, e->line.data, e->line.len);
        struct noa_buf t = h->e.line;
        h->e.line = e->line;
        e->line = t;
        maybe_truncate(c, &e->line);
        h->used = 0;
        c->nheld--;
        noa_entry_reset(&h->e);
        return NOA_STAGE_PASS;
    }
    if (!h) {
        if (c->nheld >= c->max_partial_lines)
            release_all(c, NULL, next);
        for (int i = 0; i < c->nslots; i++)
            if (!c->held[i].used) {
                h = &c->held[i];
                break;
            }
        if (!h) {
            /* grown on demand: max_partial_lines may be large */
            int ns = c->nslots ? c->nslots * 2 : 8;
            if (ns > c->max_partial_lines)
                ns = c->max_partial_lines;
            c->held = noa_xrealloc(c->held, (size_t)ns * sizeof(*c->held));
            memset(c->held + c->nslots, 0, (size_t)(ns - c->nslots) * sizeof(*c->held));
            h = &c->held[c->nslots];
            c->nslots = ns;
        }
        h->used = 1;
        h->key = key;
        c->nheld++;
        noa_buf_reset(&h->e.line);
    }
    noa_buf_append(&h->e.line, e->line.data, e->line.len);
    maybe_truncate(c, &h->e.line);
    copy_but_line(&h->e, e);
    h->last_ns = now_ns;
    if (h->e.line.len >= JOIN_MAX_BYTES)
        release(c, h, next); /* bounded memory: send what is joined so far */
    return NOA_STAGE_HELD;
}

static void set_common(struct noa_entry *e, int stream, int64_t ts_ns)
{
    const char *s = noa_cri_stream_name(stream);
    struct noa_str sv = noa_str_c(s);
    noa_kvlist_set(&e->labels, NOA_STR("stream"), sv);
    noa_kvlist_set(&e->extracted, NOA_STR("stream"), sv);
    e->ts_ns = ts_ns;
}

static enum noa_stage_verdict cri_process(struct noa_stage *st, struct noa_entry *e,
                                          struct noa_stage_emit *next, int64_t now_ns)
{
    struct container *c = (struct container *)st;
    struct noa_cri_line cl;
    if (noa_cri_parse(e->line.data, e->line.len, &cl, NULL) < 0)
        return NOA_STAGE_PASS; /* as Promtail: an undecodable line goes on as it is */
    /* The extracted values borrow e->line, so they are copied before the
     * line is rewritten; the timestamp text is the prefix up to the first
     * space. */
    const char *sp = memchr(e->line.data, ' ', e->line.len);
    noa_kvlist_set(&e->extracted, NOA_STR("time"),
                   (struct noa_str){e->line.data, (size_t)(sp - e->line.data)});
    noa_kvlist_set(&e->extracted, NOA_STR("flags"), cl.tags);
    noa_kvlist_set(&e->extracted, NOA_STR("content"), cl.content);
    set_common(e, cl.stream, cl.ts_ns);
    memmove(e->line.data, cl.content.p, cl.content.len);
    e->line.len = cl.content.len;
    return join(c, e, cl.partial, next, now_ns);
}

/* Go's RFC3339Nano in UTC (what Docker writes): trailing zeros of the
 * fraction dropped. out holds at least 48 bytes. */
static struct noa_str format_rfc3339nano(int64_t ns, char *out)
{
    int64_t sec = ns / 1000000000LL, frac = ns % 1000000000LL;
    if (frac < 0) {
        frac += 1000000000LL;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    int n = (int)strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac) {
        char f[16];
        snprintf(f, sizeof(f), ".%09lld", (long long)frac);
        size_t fl = strlen(f);
        while (f[fl - 1] == '0')
            fl--;
        memcpy(out + n, f, fl);
        n += (int)fl;
    }
    out[n++] = 'Z';
    return (struct noa_str){out, (size_t)n};
}

static enum noa_stage_verdict docker_process(struct noa_stage *st, struct noa_entry *e,
                                             struct noa_stage_emit *next, int64_t now_ns)
{
    struct container *c = (struct container *)st;
    struct noa_dockerlog_line dl;
    if (noa_dockerlog_parse(&c->dl, e->line.data, e->line.len, &dl, NULL) < 0)
        return NOA_STAGE_PASS;
    noa_kvlist_set(&e->extracted, NOA_STR("output"), dl.content);
    char ts[48];
    noa_kvlist_set(&e->extracted, NOA_STR("timestamp"), format_rfc3339nano(dl.ts_ns, ts));
    set_common(e, dl.stream, dl.ts_ns);
    /* content borrows either e->line (memmove is safe) or the decoder. */
    if (dl.content.len > e->line.len || dl.content.p < e->line.data ||
        dl.content.p >= e->line.data + e->line.len) {
        noa_buf_reset(&e->line);
        noa_buf_append(&e->line, dl.content.p, dl.content.len);
    } else {
        memmove(e->line.data, dl.content.p, dl.content.len);
        e->line.len = dl.content.len;
    }
    return join(c, e, dl.partial, next, now_ns);
}

static void container_tick(struct noa_stage *st, int64_t now_ns, struct noa_stage_emit *next)
{
    struct container *c = (struct container *)st;
    for (int i = 0; c->nheld && i < c->nslots; i++)
        if (c->held[i].used && now_ns - c->held[i].last_ns >= JOIN_IDLE_NS)
            release(c, &c->held[i], next);
}

static void container_flush(struct noa_stage *st, const char *source, struct noa_stage_emit *next)
{
    release_all((struct container *)st, source, next);
}

static int container_holding(struct noa_stage *st, const char *source)
{
    struct container *c = (struct container *)st;
    for (int i = 0; c->nheld && i < c->nslots; i++) {
        struct held *h = &c->held[i];
        if (h->used && (!source || noa_str_eq_c((struct noa_str){h->e.source.data, h->e.source.len},
                                                source)))
            return 1;
    }
    return 0;
}

static void container_free(struct noa_stage *st)
{
    struct container *c = (struct container *)st;
    if (!c)
        return;
    for (int i = 0; i < c->nslots; i++)
        noa_entry_fini(&c->held[i].e);
    noa_free(c->held);
    noa_dockerlog_fini(&c->dl);
    noa_free(c);
}

static const struct noa__stage_hold_ops cri_ops = {
    {"cri", cri_process, container_tick, container_flush, container_free}, container_holding};
static const struct noa__stage_hold_ops docker_ops = {
    {"docker", docker_process, container_tick, container_flush, container_free},
    container_holding};

static struct container *container_new(const struct noa__stage_hold_ops *ops, int docker)
{
    struct container *c = noa_xcalloc(1, sizeof(*c));
    c->base.ops = &ops->ops;
    c->docker = docker;
    c->max_partial_lines = 100;
    noa_dockerlog_init(&c->dl);
    return c;
}

NOA_STAGE_CTOR(cri)
{
    (void)ctx;
    struct cri_cfg cc = {0};
    *out = NULL;
    int rc = noa__stages_config(&cri_table, &cc, cfg, err);
    if (rc < 0)
        return rc;
    if (cc.max_partial_lines < 0 || cc.max_partial_lines > JOIN_MAX_LINES)
        return noa_yaml_error(err, noa_yaml_get(cfg, "max_partial_lines"),
                              "max_partial_lines must be between 0 and %d", JOIN_MAX_LINES);
    if (cc.max_partial_line_size < 0)
        return noa_yaml_error(err, noa_yaml_get(cfg, "max_partial_line_size"),
                              "max_partial_line_size must not be negative");
    struct container *c = container_new(&cri_ops, 0);
    if (cc.max_partial_lines > 0)
        c->max_partial_lines = cc.max_partial_lines;
    c->max_partial_line_size = cc.max_partial_line_size;
    c->truncate = cc.truncate;
    *out = &c->base;
    return 0;
}

NOA_STAGE_CTOR(docker)
{
    (void)ctx;
    char dummy = 0;
    *out = NULL;
    int rc = noa__stages_config(&docker_table, &dummy, cfg, err);
    if (rc < 0)
        return rc;
    *out = &container_new(&docker_ops, 1)->base;
    return 0;
}
