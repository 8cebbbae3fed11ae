/*
 * The `match` stage: entries whose labels satisfy a LogQL stream selector
 * (and whose line passes its optional line filters |= != |~ !~ |> !>) run
 * through nested stages (action keep) or are dropped (action drop, counted
 * under drop_counter_reason, "match_stage" by default). Other entries pass
 * untouched. As in Promtail, label filters and parsers are not allowed in
 * the selector.
 *
 * The nested stages are a pipeline of their own (noa_stages_new) run
 * without reseeding the extracted map. What they release from held state
 * goes on to the outer pipeline. Runs on the pipeline's thread.
 */
#include "shipper/stages_int.h"

#include "common/linefilter.h"
#include "common/logql.h"
#include "common/mem.h"

#include <string.h>

struct match_stage;

/* Receives what the nested pipeline lets out. */
struct match_sink {
    struct noa_stages_sink sink; /* first */
    struct match_stage *m;
};

struct match_stage {
    struct noa_stage base;
    struct noa_logql_expr *q; /* owns the selector */
    struct noa_linefilter **filters;
    unsigned nfilters;
    struct noa_stages *inner; /* NULL for action drop */
    char *reason;             /* action drop: the drop counter's reason */
    struct noa_labels ls;     /* scratch for matching */
    struct match_sink sink;
    struct noa_entry *cur;      /* the entry being processed */
    int cur_passed;             /* it came out of the nested pipeline */
    struct noa_stage_emit *out; /* where other released entries go */
};

struct match_cfg {
    char *selector;
    char *action;
    char *pipeline_name;
    char *drop_reason;
};

#define OFF(f) offsetof(struct match_cfg, f)
static const char *const actions[] = {"keep", "drop", NULL};
static const struct noa_config_entry match_entries[] = {
    {.path = "selector", .type = NOA_CONFIG_STRING, .offset = OFF(selector),
     .desc = "LogQL stream selector and optional line filters."},
    {.path = "stages", .type = NOA_CONFIG_RAW, .desc = "Stages run on matching entries."},
    {.path = "action", .type = NOA_CONFIG_STRING, .def = "keep", .offset = OFF(action),
     .choices = actions, .desc = "keep (run the stages) or drop (drop the entry)."},
    {.path = "pipeline_name", .type = NOA_CONFIG_STRING, .offset = OFF(pipeline_name),
     .desc = "Name of the nested pipeline."},
    {.path = "drop_counter_reason", .type = NOA_CONFIG_STRING, .def = "match_stage",
     .offset = OFF(drop_reason), .desc = "Reason label of dropped lines."},
};
#undef OFF
static const struct noa_config_table match_table = {"stages.MatcherConfig", match_entries,
                                                    sizeof(match_entries) / sizeof(match_entries[0])};

static void match_sink_cb(struct noa_stages_sink *self, struct noa_entry *e)
{
    struct match_stage *m = ((struct match_sink *)self)->m;
    if (e == m->cur)
        m->cur_passed = 1;
    else if (m->out)
        m->out->fn(m->out, e);
}

static int matches(struct match_stage *m, struct noa_entry *e)
{
    noa_kvlist_labels(&e->labels, &m->ls);
    if (!noa_selector_matches(&m->q->selector, &m->ls))
        return 0;
    for (unsigned i = 0; i < m->nfilters; i++)
        if (!noa_linefilter_match(m->filters[i], e->line.data ? e->line.data : "", e->line.len))
            return 0;
    return 1;
}

static enum noa_stage_verdict match_process(struct noa_stage *st, struct noa_entry *e,
                                            struct noa_stage_emit *next, int64_t now_ns)
{
    struct match_stage *m = (struct match_stage *)st;
    if (!matches(m, e))
        return NOA_STAGE_PASS;
    if (!m->inner)
        return NOA_STAGE_DROP;
    struct noa_entry *saved_cur = m->cur;
    struct noa_stage_emit *saved_out = m->out;
    int saved_passed = m->cur_passed;
    m->cur = e;
    m->cur_passed = 0;
    m->out = next;
    enum noa_stage_verdict v = noa__stages_run_nested(m->inner, e, &m->sink.sink, now_ns);
    /* Drops inside were counted by the nested pipeline. */
    if (v == NOA_STAGE_PASS && !m->cur_passed)
        v = NOA_STAGE_HELD;
    /* A drop inside was counted by the nested pipeline; this stage has no
     * drop_reason with action keep, so it is not counted twice. */
    int passed = m->cur_passed;
    m->cur = saved_cur;
    m->out = saved_out;
    m->cur_passed = saved_passed;
    return passed ? NOA_STAGE_PASS : v;
}

static void match_tick(struct noa_stage *st, int64_t now_ns, struct noa_stage_emit *next)
{
    struct match_stage *m = (struct match_stage *)st;
    if (!m->inner)
        return;
    struct noa_stage_emit *saved = m->out;
    struct noa_entry *saved_cur = m->cur;
    m->out = next;
    m->cur = NULL;
    noa_stages_tick(m->inner, now_ns, &m->sink.sink);
    m->out = saved;
    m->cur = saved_cur;
}

static void match_flush(struct noa_stage *st, const char *source, struct noa_stage_emit *next)
{
    struct match_stage *m = (struct match_stage *)st;
    if (!m->inner)
        return;
    struct noa_stage_emit *saved = m->out;
    struct noa_entry *saved_cur = m->cur;
    m->out = next;
    m->cur = NULL;
    noa_stages_flush(m->inner, source, &m->sink.sink);
    m->out = saved;
    m->cur = saved_cur;
}

static int match_holding(struct noa_stage *st, const char *source)
{
    struct match_stage *m = (struct match_stage *)st;
    return m->inner && noa_stages_holding(m->inner, source);
}

static void match_free(struct noa_stage *st)
{
    struct match_stage *m = (struct match_stage *)st;
    if (!m)
        return;
    for (unsigned i = 0; i < m->nfilters; i++)
        noa_linefilter_free(m->filters[i]);
    noa_free(m->filters);
    noa_logql_free(m->q);
    noa_stages_free(m->inner);
    noa_free(m->reason);
    noa_free(m);
}

static const struct noa__stage_hold_ops match_ops = {
    {"match", match_process, match_tick, match_flush, match_free}, match_holding};

static int build_filters(struct match_stage *m, const struct noa_yaml_node *at,
                         struct noa_error *err)
{
    m->filters = noa_xcalloc(m->q->n_stages ? m->q->n_stages : 1, sizeof(*m->filters));
    for (unsigned i = 0; i < m->q->n_stages; i++) {
        const struct noa_logql_stage *s = &m->q->stages[i];
        if (s->kind != NOA_LOGQL_STAGE_LINE_FILTER)
            return noa_yaml_error(err, at,
                                  "invalid selector syntax for match stage: only line filters "
                                  "may follow the stream selector");
        struct noa_linefilter_operand ops[16];
        if (s->line.n > 16)
            return noa_yaml_error(err, at, "too many `or` alternatives in a line filter");
        for (unsigned k = 0; k < s->line.n; k++)
            ops[k] = (struct noa_linefilter_operand){
                {s->line.v[k].value.p, s->line.v[k].value.len}, s->line.v[k].is_ip};
        static const enum noa_linefilter_op map[] = {
            [NOA_LOGQL_LINE_CONTAINS] = NOA_LINEFILTER_CONTAINS,
            [NOA_LOGQL_LINE_NOT_CONTAINS] = NOA_LINEFILTER_NCONTAINS,
            [NOA_LOGQL_LINE_MATCH] = NOA_LINEFILTER_REGEX,
            [NOA_LOGQL_LINE_NOT_MATCH] = NOA_LINEFILTER_NREGEX,
            [NOA_LOGQL_LINE_PATTERN] = NOA_LINEFILTER_PATTERN,
            [NOA_LOGQL_LINE_NOT_PATTERN] = NOA_LINEFILTER_NPATTERN,
        };
        struct noa_linefilter_opts o = {map[s->line.op], ops, s->line.n};
        struct noa_error ferr = {0};
        if (noa_linefilter_new(&o, &m->filters[m->nfilters], &ferr) < 0)
            return noa_yaml_error(err, at, "invalid selector syntax for match stage: %s",
                                  ferr.msg);
        m->nfilters++;
    }
    return 0;
}

NOA_STAGE_CTOR(match)
{
    struct match_cfg mc = {0};
    struct match_stage *m = noa_xcalloc(1, sizeof(*m));
    m->base.ops = &match_ops.ops;
    m->sink.sink.fn = match_sink_cb;
    m->sink.m = m;
    *out = NULL;
    int rc = noa__stages_config(&match_table, &mc, cfg, err);
    if (rc < 0)
        goto fail;
    const struct noa_yaml_node *sel = noa_yaml_get(cfg, "selector");
    const struct noa_yaml_node *stages = noa_yaml_get(cfg, "stages");
    const struct noa_yaml_node *pn = noa_yaml_get(cfg, "pipeline_name");
    int drop = strcmp(mc.action, "drop") == 0;
    if (!mc.selector[0]) {
        rc = noa_yaml_error(err, sel ? sel : cfg, "selector statement required for match stage");
        goto fail;
    }
    if (pn && !mc.pipeline_name[0]) {
        rc = noa_yaml_error(err, pn, "match stage pipeline name can be omitted but cannot be an "
                                     "empty string");
        goto fail;
    }
    int has_stages = stages && !noa_yaml_is_null(stages) &&
                     !(stages->kind == NOA_YAML_SEQ && stages->n == 0);
    if (drop && has_stages) {
        rc = noa_yaml_error(err, stages,
                            "match stage configured to drop entries cannot contains stages");
        goto fail;
    }
    if (!drop && !has_stages) {
        rc = noa_yaml_error(err, stages ? stages : cfg,
                            "match stage requires at least one additional stage to be defined in "
                            "'- stages'");
        goto fail;
    }
    struct noa_error qerr = {0};
    if (noa_logql_parse(mc.selector, strlen(mc.selector), &m->q, &qerr) < 0 ||
        !noa_logql_is_log(m->q)) {
        rc = noa_yaml_error(err, sel, "invalid selector syntax for match stage: %s",
                            qerr.msg[0] ? qerr.msg : "not a log selector");
        goto fail;
    }
    rc = build_filters(m, sel, err);
    if (rc < 0)
        goto fail;
    if (drop) {
        m->reason = noa_xstrdup(mc.drop_reason[0] ? mc.drop_reason : "match_stage");
        m->base.drop_reason = m->reason;
    } else {
        rc = noa_stages_new(stages, ctx, &m->inner, err);
        if (rc < 0)
            goto fail;
    }
    noa_config_fini(&match_table, &mc);
    *out = &m->base;
    return 0;
fail:
    noa_config_fini(&match_table, &mc);
    match_free(&m->base);
    return rc;
}
