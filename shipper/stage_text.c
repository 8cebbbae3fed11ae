/*
 * Stages that rewrite text: `replace` (regex captures through a template),
 * `template` (an extracted value from a Go template), `output` (the line
 * from an extracted value), `decolorize` (ANSI escapes out of the line)
 * and `pack` (labels and line into one JSON object for LogQL's `| unpack`).
 *
 * Templates run on common/gotmpl.h with Promtail's data: every extracted
 * value by name, .Value (the source value or, for replace, the captured
 * text) and .Entry (the line). Each stage owns its scratch buffers, so a
 * warmed-up stage allocates nothing per line; it runs on the pipeline's
 * thread.
 */
#include "shipper/jmespath.h"
#include "shipper/stages_int.h"

#include "common/decolor.h"
#include "common/gotmpl.h"
#include "common/mem.h"
#include "common/regex.h"

#include <stdlib.h>
#include <string.h>

struct text_cfg {
    char *source;
    char *expression;
    char *replace;
    char *tmpl;
    struct noa_config_strings labels;
    int ingest_timestamp;
};

#define OFF(f) offsetof(struct text_cfg, f)
static const struct noa_config_entry replace_entries[] = {
    {.path = "expression", .type = NOA_CONFIG_STRING, .offset = OFF(expression),
     .desc = "RE2 regular expression whose capture groups are replaced."},
    {.path = "source", .type = NOA_CONFIG_STRING, .offset = OFF(source),
     .desc = "Extracted value to work on instead of the line."},
    {.path = "replace", .type = NOA_CONFIG_STRING, .offset = OFF(replace),
     .desc = "Template for each captured group (.Value is the capture)."},
};
static const struct noa_config_entry template_entries[] = {
    {.path = "source", .type = NOA_CONFIG_STRING, .offset = OFF(source),
     .desc = "Extracted name to write (created when absent)."},
    {.path = "template", .type = NOA_CONFIG_STRING, .offset = OFF(tmpl),
     .desc = "Go template."},
};
static const struct noa_config_entry output_entries[] = {
    {.path = "source", .type = NOA_CONFIG_STRING, .offset = OFF(source),
     .desc = "Extracted value that becomes the line."},
};
static const struct noa_config_entry pack_entries[] = {
    {.path = "labels", .type = NOA_CONFIG_STRINGS, .offset = OFF(labels),
     .desc = "Labels or extracted values to pack with the line."},
    {.path = "ingest_timestamp", .type = NOA_CONFIG_BOOL, .def = "true",
     .offset = OFF(ingest_timestamp), .desc = "Set the entry time to the processing time."},
};
#undef OFF
#define TABLE(name, type, e) static const struct noa_config_table name = {type, e, sizeof(e) / sizeof(e[0])}
TABLE(replace_table, "stages.ReplaceConfig", replace_entries);
TABLE(template_table, "stages.TemplateConfig", template_entries);
TABLE(output_table, "stages.OutputConfig", output_entries);
TABLE(pack_table, "stages.PackConfig", pack_entries);
#undef TABLE
static const struct noa_config_table decolorize_table = {"stages.DecolorizeConfig", NULL, 0};

/* ---- template data ------------------------------------------------------------ */

/* Pairs for {{ . }} and {{ range }}: reused by a stage. */
struct tpairs {
    struct noa_str *kv; /* name, value, name, value... */
    size_t cap;         /* pairs */
};

struct tdata {
    const struct noa_entry *e;
    struct noa_str value; /* .Value */
    int has_value;
    struct tpairs *pairs;
};

static int tdata_lookup(void *ctx, const char *name, size_t len, struct noa_str *val)
{
    struct tdata *t = ctx;
    struct noa_str n = {name, len};
    if (t->has_value && noa_str_eq_c(n, "Value")) {
        *val = t->value;
        return 1;
    }
    if (noa_str_eq_c(n, "Entry")) {
        *val = (struct noa_str){t->e->line.data, t->e->line.len};
        return 1;
    }
    return noa_kvlist_get(&t->e->extracted, n, val);
}

static int pair_cmp(const void *a, const void *b)
{
    return noa_str_cmp(*(const struct noa_str *)a, *(const struct noa_str *)b);
}

/* Lists the data in name order (the template engine ranges and prints maps
 * as Go does, sorted by key); .Value and .Entry hide extracted keys of the
 * same name. */
static int tdata_each(void *ctx, void (*emit_cb)(void *ectx, struct noa_str name, struct noa_str val),
                      void *ectx)
{
    struct tdata *t = ctx;
    struct tpairs *tp = t->pairs;
    size_t need = (size_t)t->e->extracted.n + 2, n = 0;
    if (need > tp->cap) {
        tp->kv = noa_xrealloc(tp->kv, need * 2 * sizeof(*tp->kv));
        tp->cap = need;
    }
    for (uint32_t i = 0; i < t->e->extracted.n; i++) {
        struct noa_str k = noa_kvlist_name(&t->e->extracted, i);
        if (noa_str_eq_c(k, "Entry") || (t->has_value && noa_str_eq_c(k, "Value")))
            continue;
        tp->kv[2 * n] = k;
        tp->kv[2 * n++ + 1] = noa_kvlist_value(&t->e->extracted, i);
    }
    tp->kv[2 * n] = NOA_STR("Entry");
    tp->kv[2 * n++ + 1] = (struct noa_str){t->e->line.data, t->e->line.len};
    if (t->has_value) {
        tp->kv[2 * n] = NOA_STR("Value");
        tp->kv[2 * n++ + 1] = t->value;
    }
    qsort(tp->kv, n, 2 * sizeof(*tp->kv), pair_cmp);
    for (size_t i = 0; i < n; i++)
        emit_cb(ectx, tp->kv[2 * i], tp->kv[2 * i + 1]);
    return 0;
}

static int parse_tmpl(const struct noa_yaml_node *at, const char *text, struct noa_gotmpl **out,
                      struct noa_error *err)
{
    struct noa_error terr = {0};
    if (noa_gotmpl_parse_named("pipeline_template", text, strlen(text), out, &terr) < 0)
        return noa_yaml_error(err, at, "could not compile template: %s", terr.msg);
    return 0;
}

/* Renders t into out (reset first); 0 or a negative code. */
static int render(const struct noa_gotmpl *t, struct tdata *td, struct noa_gotmpl_scratch *work,
                  struct noa_buf *out)
{
    struct noa_gotmpl_data d = {0};
    d.lookup_cb = tdata_lookup;
    d.each_cb = tdata_each;
    d.ctx = td;
    d.line = (struct noa_str){td->e->line.data, td->e->line.len};
    d.ts_ns = td->e->ts_ns;
    d.work = work;
    noa_buf_reset(out);
    return noa_gotmpl_exec(t, &d, out, NULL);
}

/* ---- replace ------------------------------------------------------------------- */

struct replace_stage {
    struct noa_stage base;
    char *source;
    struct noa_regex *re;
    struct noa_gotmpl *tmpl;
    unsigned ngroups;
    long *ovec;              /* 2 * (ngroups + 1) */
    long *first;             /* first match's groups, for the named extraction */
    struct noa_str *names;   /* per group */
    struct noa_buf input, result, piece;
    struct noa_buf caps;     /* captured and rendered texts of this line */
    struct capent {
        size_t coff, clen, roff, rlen; /* into caps */
    } *ce;
    size_t nce, cece;
    struct noa_gotmpl_scratch work;
    struct tpairs pairs;
};

/* Records a capture and what it was replaced with. */
static void remember(struct replace_stage *r, struct noa_str cap, struct noa_str rendered)
{
    if (r->nce == r->cece) {
        r->cece = r->cece ? 2 * r->cece : 8;
        r->ce = noa_xrealloc(r->ce, r->cece * sizeof(*r->ce));
    }
    struct capent *x = &r->ce[r->nce++];
    x->coff = r->caps.len;
    x->clen = cap.len;
    noa_buf_append(&r->caps, cap.p, cap.len);
    x->roff = r->caps.len;
    x->rlen = rendered.len;
    noa_buf_append(&r->caps, rendered.p, rendered.len);
}

static enum noa_stage_verdict replace_process(struct noa_stage *st, struct noa_entry *e,
                                              struct noa_stage_emit *next, int64_t now_ns)
{
    (void)next;
    (void)now_ns;
    struct replace_stage *r = (struct replace_stage *)st;
    struct noa_str v;
    noa_buf_reset(&r->input);
    if (r->source) {
        if (!noa_kvlist_get(&e->extracted, noa_str_c(r->source), &v))
            return NOA_STAGE_PASS;
        noa_buf_append(&r->input, v.p, v.len);
    } else {
        noa_buf_append(&r->input, e->line.data, e->line.len);
    }
    const char *in = r->input.data ? r->input.data : "";
    size_t n = r->input.len, pos = 0, prev = 0;
    int nvec = (int)r->ngroups + 1, matched = 0;
    noa_buf_reset(&r->result);
    noa_buf_reset(&r->caps);
    r->nce = 0;
    struct tdata td = {.e = e, .has_value = 1, .pairs = &r->pairs};
    while (pos <= n) {
        int got = noa_regex_find(r->re, in, n, pos, r->ovec, nvec);
        if (got <= 0)
            break;
        if (!matched)
            memcpy(r->first, r->ovec, sizeof(long) * 2 * (size_t)nvec);
        for (int g = 1; g < nvec; g++) {
            long a = g < got ? r->ovec[2 * g] : -1, b = g < got ? r->ovec[2 * g + 1] : -1;
            if (a < 0 || (size_t)a < prev)
                continue; /* not taken part, or nested in a group already replaced */
            td.value = (struct noa_str){in + a, (size_t)(b - a)};
            if (render(r->tmpl, &td, &r->work, &r->piece) < 0)
                return NOA_STAGE_PASS; /* Promtail leaves the entry as it is */
            noa_buf_append(&r->result, in + prev, (size_t)a - prev);
            noa_buf_append(&r->result, r->piece.data, r->piece.len);
            prev = (size_t)b;
            remember(r, td.value, (struct noa_str){r->piece.data, r->piece.len});
        }
        matched = 1;
        size_t end = (size_t)r->ovec[1];
        pos = end > (size_t)r->ovec[0] ? end : end + 1; /* empty matches advance */
    }
    if (!matched)
        return NOA_STAGE_PASS;
    noa_buf_append(&r->result, in + prev, n - prev);
    struct noa_str res = {r->result.data, r->result.len};
    if (r->source) {
        noa_kvlist_set(&e->extracted, noa_str_c(r->source), res);
    } else {
        noa_buf_reset(&e->line);
        noa_buf_append(&e->line, res.p, res.len);
    }
    /* As Promtail: a named group gets the rendered text of whichever capture
     * had the same text as the group's capture in the first match. */
    for (unsigned g = 1; g <= r->ngroups; g++) {
        if (!r->names[g].len)
            continue;
        struct noa_str c = {"", 0};
        if (r->first[2 * g] >= 0)
            c = (struct noa_str){in + r->first[2 * g],
                                 (size_t)(r->first[2 * g + 1] - r->first[2 * g])};
        for (size_t k = r->nce; k > 0; k--) {
            struct capent *x = &r->ce[k - 1];
            if (noa_str_eq(c, (struct noa_str){r->caps.data + x->coff, x->clen})) {
                noa_kvlist_set(&e->extracted, r->names[g],
                               (struct noa_str){r->caps.data + x->roff, x->rlen});
                break;
            }
        }
    }
    return NOA_STAGE_PASS;
}

static void replace_free(struct noa_stage *st)
{
    struct replace_stage *r = (struct replace_stage *)st;
    if (!r)
        return;
    noa_free(r->source);
    noa_regex_free(r->re);
    noa_gotmpl_free(r->tmpl);
    noa_free(r->ovec);
    noa_free(r->first);
    noa_free(r->names);
    noa_free(r->ce);
    noa_free(r->pairs.kv);
    noa_buf_fini(&r->input);
    noa_buf_fini(&r->result);
    noa_buf_fini(&r->piece);
    noa_buf_fini(&r->caps);
    noa_gotmpl_scratch_fini(&r->work);
    noa_free(r);
}

static const struct noa_stage_ops replace_ops = {"replace", replace_process, NULL, NULL,
                                                 replace_free};

NOA_STAGE_CTOR(replace)
{
    (void)ctx;
    struct text_cfg tc = {0};
    struct replace_stage *r = noa_xcalloc(1, sizeof(*r));
    r->base.ops = &replace_ops;
    *out = NULL;
    int rc = noa__stages_config(&replace_table, &tc, cfg, err);
    if (rc < 0)
        goto fail;
    if (!tc.expression[0]) {
        rc = noa_yaml_error(err, cfg, "expression is required");
        goto fail;
    }
    const struct noa_yaml_node *src = noa_yaml_get(cfg, "source");
    if (src && !tc.source[0]) {
        rc = noa_yaml_error(err, src, "empty source");
        goto fail;
    }
    if (src)
        r->source = noa_xstrdup(tc.source);
    struct noa_error rerr = {0};
    if (noa_regex_compile(tc.expression, strlen(tc.expression), 0, &r->re, &rerr) < 0) {
        rc = noa_yaml_error(err, noa_yaml_get(cfg, "expression"),
                            "could not compile regular expression: %s", rerr.msg);
        goto fail;
    }
    rc = parse_tmpl(noa_yaml_get(cfg, "replace") ? noa_yaml_get(cfg, "replace") : cfg, tc.replace,
                    &r->tmpl, err);
    if (rc < 0)
        goto fail;
    r->ngroups = noa_regex_groups(r->re);
    r->ovec = noa_xcalloc(2 * (r->ngroups + 1), sizeof(*r->ovec));
    r->first = noa_xcalloc(2 * (r->ngroups + 1), sizeof(*r->first));
    r->names = noa_xcalloc(r->ngroups + 1, sizeof(*r->names));
    for (unsigned g = 1; g <= r->ngroups; g++)
        noa_regex_group_name(r->re, g, &r->names[g]);
    noa_config_fini(&replace_table, &tc);
    *out = &r->base;
    return 0;
fail:
    noa_config_fini(&replace_table, &tc);
    replace_free(&r->base);
    return rc;
}

/* ---- template ------------------------------------------------------------------ */

struct template_stage {
    struct noa_stage base;
    char *source;
    struct noa_gotmpl *tmpl;
    struct noa_buf out, value;
    struct noa_gotmpl_scratch work;
    struct tpairs pairs;
};

static enum noa_stage_verdict template_process(struct noa_stage *st, struct noa_entry *e,
                                               struct noa_stage_emit *next, int64_t now_ns)
{
    (void)next;
    (void)now_ns;
    struct template_stage *t = (struct template_stage *)st;
    struct noa_str name = noa_str_c(t->source), v;
    struct tdata td = {.e = e, .pairs = &t->pairs};
    if (noa_kvlist_get(&e->extracted, name, &v)) {
        /* copied: the result is written into the same map */
        noa_buf_reset(&t->value);
        noa_buf_append(&t->value, v.p, v.len);
        td.value = (struct noa_str){t->value.data, t->value.len};
        td.has_value = 1;
    }
    if (render(t->tmpl, &td, &t->work, &t->out) < 0)
        return NOA_STAGE_PASS;
    /* Promtail removes the key when the template renders nothing. */
    if (t->out.len == 0)
        noa_kvlist_del(&e->extracted, name);
    else
        noa_kvlist_set(&e->extracted, name, (struct noa_str){t->out.data, t->out.len});
    return NOA_STAGE_PASS;
}

static void template_free(struct noa_stage *st)
{
    struct template_stage *t = (struct template_stage *)st;
    if (!t)
        return;
    noa_free(t->source);
    noa_gotmpl_free(t->tmpl);
    noa_buf_fini(&t->out);
    noa_buf_fini(&t->value);
    noa_gotmpl_scratch_fini(&t->work);
    noa_free(t->pairs.kv);
    noa_free(t);
}

static const struct noa_stage_ops template_ops = {"template", template_process, NULL, NULL,
                                                  template_free};

NOA_STAGE_CTOR(template)
{
    (void)ctx;
    struct text_cfg tc = {0};
    struct template_stage *t = noa_xcalloc(1, sizeof(*t));
    t->base.ops = &template_ops;
    *out = NULL;
    int rc = noa__stages_config(&template_table, &tc, cfg, err);
    if (rc < 0)
        goto fail;
    if (!tc.source[0]) {
        rc = noa_yaml_error(err, cfg, "template source value is required");
        goto fail;
    }
    if (!tc.tmpl[0]) {
        rc = noa_yaml_error(err, cfg, "template is required");
        goto fail;
    }
    t->source = noa_xstrdup(tc.source);
    rc = parse_tmpl(noa_yaml_get(cfg, "template"), tc.tmpl, &t->tmpl, err);
    if (rc < 0)
        goto fail;
    noa_config_fini(&template_table, &tc);
    *out = &t->base;
    return 0;
fail:
    noa_config_fini(&template_table, &tc);
    template_free(&t->base);
    return rc;
}

/* ---- output -------------------------------------------------------------------- */

struct output_stage {
    struct noa_stage base;
    char *source;
};

static enum noa_stage_verdict output_process(struct noa_stage *st, struct noa_entry *e,
                                             struct noa_stage_emit *next, int64_t now_ns)
{
    (void)next;
    (void)now_ns;
    struct output_stage *o = (struct output_stage *)st;
    struct noa_str v;
    if (!noa_kvlist_get(&e->extracted, noa_str_c(o->source), &v))
        return NOA_STAGE_PASS;
    noa_buf_reset(&e->line);
    noa_buf_append(&e->line, v.p, v.len);
    return NOA_STAGE_PASS;
}

static void output_free(struct noa_stage *st)
{
    struct output_stage *o = (struct output_stage *)st;
    if (!o)
        return;
    noa_free(o->source);
    noa_free(o);
}

static const struct noa_stage_ops output_ops = {"output", output_process, NULL, NULL,
                                                output_free};

NOA_STAGE_CTOR(output)
{
    (void)ctx;
    struct text_cfg tc = {0};
    *out = NULL;
    int rc = noa__stages_config(&output_table, &tc, cfg, err);
    if (rc == 0 && !tc.source[0])
        rc = noa_yaml_error(err, cfg, "output source value is required");
    if (rc == 0) {
        struct output_stage *o = noa_xcalloc(1, sizeof(*o));
        o->base.ops = &output_ops;
        o->source = noa_xstrdup(tc.source);
        *out = &o->base;
    }
    noa_config_fini(&output_table, &tc);
    return rc;
}

/* ---- decolorize ---------------------------------------------------------------- */

struct decolorize_stage {
    struct noa_stage base;
    struct noa_buf scratch;
};

static enum noa_stage_verdict decolorize_process(struct noa_stage *st, struct noa_entry *e,
                                                 struct noa_stage_emit *next, int64_t now_ns)
{
    (void)next;
    (void)now_ns;
    struct decolorize_stage *d = (struct decolorize_stage *)st;
    struct noa_str in = {e->line.data, e->line.len};
    struct noa_str r = noa_decolor_run(in, &d->scratch);
    if (r.p != in.p || r.len != in.len) {
        /* r is a view of scratch: swap buffers instead of copying */
        struct noa_buf t = e->line;
        e->line = d->scratch;
        e->line.len = r.len;
        d->scratch = t;
    }
    return NOA_STAGE_PASS;
}

static void decolorize_free(struct noa_stage *st)
{
    struct decolorize_stage *d = (struct decolorize_stage *)st;
    if (!d)
        return;
    noa_buf_fini(&d->scratch);
    noa_free(d);
}

static const struct noa_stage_ops decolorize_ops = {"decolorize", decolorize_process, NULL, NULL,
                                                    decolorize_free};

NOA_STAGE_CTOR(decolorize)
{
    (void)ctx;
    char dummy = 0;
    *out = NULL;
    int rc = noa__stages_config(&decolorize_table, &dummy, cfg, err);
    if (rc < 0)
        return rc;
    struct decolorize_stage *d = noa_xcalloc(1, sizeof(*d));
    d->base.ops = &decolorize_ops;
    *out = &d->base;
    return 0;
}

/* ---- pack ----------------------------------------------------------------------- */

struct pack_stage {
    struct noa_stage base;
    char **labels; /* sorted, unique */
    size_t n;
    int ingest_timestamp;
    struct noa_buf out;
};

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static enum noa_stage_verdict pack_process(struct noa_stage *st, struct noa_entry *e,
                                           struct noa_stage_emit *next, int64_t now_ns)
{
    (void)next;
    struct pack_stage *p = (struct pack_stage *)st;
    struct noa_buf *o = &p->out;
    int first = 1;
    noa_buf_reset(o);
    noa_buf_putc(o, '{');
    /* Keys in sorted order, then _entry, as Promtail's Packed marshaller
     * writes them. Values come from the extracted map, which holds the
     * labels too. */
    for (size_t i = 0; i < p->n; i++) {
        struct noa_str v;
        if (!noa_kvlist_get(&e->extracted, noa_str_c(p->labels[i]), &v))
            continue;
        if (!first)
            noa_buf_putc(o, ',');
        first = 0;
        noa_jmespath_quote(o, p->labels[i], strlen(p->labels[i]));
        noa_buf_putc(o, ':');
        noa_jmespath_quote(o, v.p, v.len);
        noa_kvlist_del(&e->labels, noa_str_c(p->labels[i]));
    }
    if (!first)
        noa_buf_putc(o, ',');
    noa_buf_append(o, "\"_entry\":", 9);
    noa_jmespath_quote(o, e->line.data, e->line.len);
    noa_buf_putc(o, '}');
    struct noa_buf t = e->line;
    e->line = *o;
    *o = t;
    if (p->ingest_timestamp)
        e->ts_ns = now_ns;
    return NOA_STAGE_PASS;
}

static void pack_free(struct noa_stage *st)
{
    struct pack_stage *p = (struct pack_stage *)st;
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        noa_free(p->labels[i]);
    noa_free(p->labels);
    noa_buf_fini(&p->out);
    noa_free(p);
}

static const struct noa_stage_ops pack_ops = {"pack", pack_process, NULL, NULL, pack_free};

NOA_STAGE_CTOR(pack)
{
    (void)ctx;
    struct text_cfg tc = {0};
    *out = NULL;
    int rc = noa__stages_config(&pack_table, &tc, cfg, err);
    if (rc == 0 && tc.labels.n == 0)
        rc = noa_yaml_error(err, cfg, "pack stage requires at least one label");
    if (rc < 0) {
        noa_config_fini(&pack_table, &tc);
        return rc;
    }
    struct pack_stage *p = noa_xcalloc(1, sizeof(*p));
    p->base.ops = &pack_ops;
    p->labels = noa_xcalloc((size_t)tc.labels.n, sizeof(*p->labels));
    for (int i = 0; i < tc.labels.n; i++)
        p->labels[i] = noa_xstrdup(tc.labels.v[i]);
    qsort(p->labels, (size_t)tc.labels.n, sizeof(*p->labels), str_cmp);
    for (int i = 0; i < tc.labels.n; i++)
        if (p->n == 0 || strcmp(p->labels[p->n - 1], p->labels[i]) != 0)
            p->labels[p->n++] = p->labels[i];
        else
            noa_free(p->labels[i]);
    p->ingest_timestamp = tc.ingest_timestamp;
    noa_config_fini(&pack_table, &tc);
    *out = &p->base;
    return 0;
}
