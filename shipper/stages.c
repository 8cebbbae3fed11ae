/*
 * Compiled pipelines (see stage.h): the registry of stage names, the
 * compiler from a `pipeline_stages` YAML sequence, and the runner that
 * chains stages and routes what holding stages release to the rest of the
 * pipeline.
 *
 * A compiled pipeline owns its stages and one emitter per stage (emitter i
 * runs stages i+1.. and then the sink), so a stage that releases entries
 * from process, tick or flush sends them on without allocating. The sink
 * and the time of the current call are kept in the pipeline for the
 * emitters. Runs on the one thread that owns the pipeline.
 */
#include "shipper/stages_int.h"

#include "common/clock.h"
#include "common/mem.h"

#include <string.h>

struct stages_link {
    struct noa_stage_emit emit; /* first: the stage sees this */
    struct noa_stages *p;
    unsigned next; /* index of the first stage to run */
};

struct noa_stages {
    struct noa_stage **st;
    struct noa_metric_child **drops; /* per stage, NULL when not counted */
    int *holds;                      /* per stage: ops are noa__stage_hold_ops */
    struct stages_link *links;
    unsigned n;
    struct noa_stages_sink *sink; /* of the call in progress */
    int64_t now_ns;               /* of the call in progress */
    int64_t (*clock)(void);       /* ctx->now_ns, or NULL for the real clock */
};

struct stages_kind {
    const char *name;
    int (*ctor)(const struct noa_yaml_node *cfg, const struct noa_stage_ctx *ctx,
                struct noa_stage **out, struct noa_error *err);
    int holds; /* ops are struct noa__stage_hold_ops */
};

static const struct stages_kind kinds[] = {
    {"docker", noa_stage_docker_new, 1},
    {"cri", noa_stage_cri_new, 1},
    {"regex", noa_stage_regex_new, 0},
    {"json", noa_stage_json_new, 0},
    {"logfmt", noa_stage_logfmt_new, 0},
    {"replace", noa_stage_replace_new, 0},
    {"template", noa_stage_template_new, 0},
    {"output", noa_stage_output_new, 0},
    {"decolorize", noa_stage_decolorize_new, 0},
    {"pack", noa_stage_pack_new, 0},
    {"multiline", noa_stage_multiline_new, 1},
    {"match", noa_stage_match_new, 1},
    {"labels", noa_stage_labels_new, 0},
    {"labelallow", noa_stage_labelallow_new, 0},
    {"labeldrop", noa_stage_labeldrop_new, 0},
    {"static_labels", noa_stage_static_labels_new, 0},
    {"structured_metadata", noa_stage_structured_metadata_new, 0},
    {"timestamp", noa_stage_timestamp_new, 0},
    {"tenant", noa_stage_tenant_new, 0},
    {"drop", noa_stage_drop_new, 0},
    {"limit", noa_stage_limit_new, 0},
    {"sampling", noa_stage_sampling_new, 0},
    {"metrics", noa_stage_metrics_new, 0},
};

#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

int64_t noa__stages_now(const struct noa_stage_ctx *ctx)
{
    return ctx && ctx->now_ns ? ctx->now_ns() : noa_clock_real_ns();
}

struct noa_metric_child *noa__stages_drop_counter(const struct noa_stage_ctx *ctx,
                                                  const char *reason)
{
    static const char *const names[] = {"reason"};
    if (!ctx || !ctx->metrics || !reason)
        return NULL;
    struct noa_metric *m = noa_metrics_counter(
        ctx->metrics, "logentry_dropped_lines_total",
        "A count of all log lines dropped as a result of a pipeline stage", 1, names);
    const char *values[] = {reason};
    return noa_metric_child(m, values);
}

uint64_t noa__stages_fingerprint(const struct noa_kvlist *l)
{
    uint64_t fp = 0;
    for (uint32_t i = 0; i < l->n; i++) {
        struct noa_str nm = noa_kvlist_name(l, i), v = noa_kvlist_value(l, i);
        uint64_t h = 1469598103934665603ULL;
        for (size_t k = 0; k < nm.len; k++)
            h = (h ^ (unsigned char)nm.p[k]) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
        for (size_t k = 0; k < v.len; k++)
            h = (h ^ (unsigned char)v.p[k]) * 1099511628211ULL;
        h ^= h >> 29;
        fp += h * 0x9E3779B97F4A7C15ULL;
    }
    return fp;
}

int noa__stages_config(const struct noa_config_table *t, void *obj,
                       const struct noa_yaml_node *cfg, struct noa_error *err)
{
    noa_config_defaults(t, obj);
    if (noa_yaml_is_null(cfg))
        return 0;
    if (cfg->kind != NOA_YAML_MAP)
        return noa_yaml_error(err, cfg, "cannot unmarshal %s into %s", noa_yaml_type_name(cfg),
                              t->type_name);
    return noa_config_apply(t, obj, cfg, err);
}

/* Runs stages [from, n) on e, then the sink. */
static enum noa_stage_verdict run_from(struct noa_stages *p, unsigned from, struct noa_entry *e)
{
    for (unsigned i = from; i < p->n; i++) {
        struct noa_stage *st = p->st[i];
        enum noa_stage_verdict v = st->ops->process(st, e, &p->links[i].emit, p->now_ns);
        if (v == NOA_STAGE_PASS)
            continue;
        if (v == NOA_STAGE_DROP && p->drops[i])
            noa_metric_inc(p->drops[i]);
        return v;
    }
    if (p->sink)
        p->sink->fn(p->sink, e);
    return NOA_STAGE_PASS;
}

static void link_cb(struct noa_stage_emit *self, struct noa_entry *e)
{
    struct stages_link *l = (struct stages_link *)self;
    run_from(l->p, l->next, e);
}

static const struct stages_kind *find_kind(const char *name, size_t len)
{
    for (size_t i = 0; i < NKINDS; i++)
        if (strlen(kinds[i].name) == len && memcmp(kinds[i].name, name, len) == 0)
            return &kinds[i];
    return NULL;
}

static int unknown_stage(const struct noa_yaml_node *key, struct noa_error *err)
{
    struct noa_buf known = {0};
    for (size_t i = 0; i < NKINDS; i++) {
        if (i)
            noa_buf_append(&known, ", ", 2);
        noa_buf_append(&known, kinds[i].name, strlen(kinds[i].name));
    }
    int rc = noa_yaml_error(err, key, "unknown stage type \"%.*s\" (known: %s)",
                            (int)(key->len > 64 ? 64 : key->len), key->str, noa_buf_cstr(&known));
    noa_buf_fini(&known);
    return rc;
}

int noa_stages_new(const struct noa_yaml_node *seq, const struct noa_stage_ctx *ctx,
                   struct noa_stages **out, struct noa_error *err)
{
    int rc = 0;
    struct noa_stages *p = noa_xcalloc(1, sizeof(*p));
    *out = NULL;
    p->clock = ctx ? ctx->now_ns : NULL;
    if (noa_yaml_is_null(seq))
        goto done;
    if (seq->kind != NOA_YAML_SEQ) {
        rc = noa_yaml_error(err, seq, "pipeline_stages must be a list of stages, got %s",
                            noa_yaml_type_name(seq));
        goto fail;
    }
    size_t n = seq->n;
    p->st = noa_xcalloc(n ? n : 1, sizeof(*p->st));
    p->drops = noa_xcalloc(n ? n : 1, sizeof(*p->drops));
    p->holds = noa_xcalloc(n ? n : 1, sizeof(*p->holds));
    p->links = noa_xcalloc(n ? n : 1, sizeof(*p->links));
    for (size_t i = 0; i < n; i++) {
        const struct noa_yaml_node *item = seq->items[i];
        if (item->kind != NOA_YAML_MAP || item->n != 1) {
            rc = noa_yaml_error(err, item, "pipeline stage must contain only one key, got %s",
                                item->kind == NOA_YAML_MAP ? (item->n ? "several" : "none")
                                                           : noa_yaml_type_name(item));
            goto fail;
        }
        const struct noa_yaml_node *key = item->pairs[0].key;
        const struct stages_kind *k = find_kind(key->str, key->len);
        if (!k) {
            rc = unknown_stage(key, err);
            goto fail;
        }
        struct noa_stage *st = NULL;
        rc = k->ctor(item->pairs[0].value, ctx, &st, err);
        if (rc < 0)
            goto fail;
        p->st[p->n] = st;
        p->holds[p->n] = k->holds;
        p->drops[p->n] = noa__stages_drop_counter(ctx, st->drop_reason);
        p->links[p->n] = (struct stages_link){{link_cb}, p, (unsigned)p->n + 1};
        p->n++;
    }
done:
    *out = p;
    return 0;
fail:
    noa_stages_free(p);
    return rc < 0 ? rc : NOA_EINVAL;
}

void noa_stages_free(struct noa_stages *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->n; i++)
        p->st[i]->ops->free(p->st[i]);
    noa_free(p->st);
    noa_free(p->drops);
    noa_free(p->holds);
    noa_free(p->links);
    noa_free(p);
}

/* Sets up the call's sink and time, keeping an outer call's (a nested
 * pipeline runs inside a stage of another). */
#define STAGES_ENTER(p, sink_, now_)                                                               \
    struct noa_stages_sink *saved_sink = (p)->sink;                                                \
    int64_t saved_now = (p)->now_ns;                                                               \
    (p)->sink = (sink_);                                                                           \
    (p)->now_ns = (now_)
#define STAGES_LEAVE(p)                                                                            \
    (p)->sink = saved_sink;                                                                        \
    (p)->now_ns = saved_now

enum noa_stage_verdict noa__stages_run_nested(struct noa_stages *p, struct noa_entry *e,
                                              struct noa_stages_sink *sink, int64_t now_ns)
{
    STAGES_ENTER(p, sink, now_ns);
    enum noa_stage_verdict v = run_from(p, 0, e);
    STAGES_LEAVE(p);
    return v;
}

enum noa_stage_verdict noa_stages_run(struct noa_stages *p, struct noa_entry *e,
                                      struct noa_stages_sink *sink, int64_t now_ns)
{
    /* Promtail seeds the extracted map with the labels so that stages can
     * use labels (filename, namespace...) as sources. */
    if (e->extracted.n == 0) {
        noa_kvlist_copy(&e->extracted, &e->labels); /* the usual case: one copy */
    } else {
        for (uint32_t i = 0; i < e->labels.n; i++)
            noa_kvlist_set(&e->extracted, noa_kvlist_name(&e->labels, i),
                           noa_kvlist_value(&e->labels, i));
    }
    return noa__stages_run_nested(p, e, sink, now_ns);
}

void noa_stages_tick(struct noa_stages *p, int64_t now_ns, struct noa_stages_sink *sink)
{
    STAGES_ENTER(p, sink, now_ns);
    for (unsigned i = 0; i < p->n; i++)
        if (p->st[i]->ops->tick)
            p->st[i]->ops->tick(p->st[i], now_ns, &p->links[i].emit);
    STAGES_LEAVE(p);
}

void noa_stages_flush(struct noa_stages *p, const char *source, struct noa_stages_sink *sink)
{
    /* Released entries are stamped with the time of the flush. */
    STAGES_ENTER(p, sink, p->clock ? p->clock() : noa_clock_real_ns());
    /* In order: what an early stage releases may be held again by a later
     * one (cri partials into multiline), which is then flushed too. */
    for (unsigned i = 0; i < p->n; i++)
        if (p->st[i]->ops->flush)
            p->st[i]->ops->flush(p->st[i], source, &p->links[i].emit);
    STAGES_LEAVE(p);
}

int noa_stages_holding(struct noa_stages *p, const char *source)
{
    for (unsigned i = 0; i < p->n; i++) {
        if (!p->holds[i])
            continue;
        const struct noa__stage_hold_ops *ho = (const struct noa__stage_hold_ops *)p->st[i]->ops;
        if (ho->holding && ho->holding(p->st[i], source))
            return 1;
    }
    return 0;
}
