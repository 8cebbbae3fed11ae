/*
 * Pipeline compilation and execution (see pipeline.h). Compiled stages are
 * read-only; per-line state lives in the caller's noa_pipeline_state.
 * A json or logfmt parser followed by label filters runs "filter first":
 * lines are parsed for the filters' names only, and fully parsed only
 * when the filters keep them (run_prefilter). A caller that reads only
 * some labels can prune the last parser to them (plan_prune).
 */
#include "common/pipeline.h"
#include "common/decolor.h"
#include "common/gotmpl.h"
#include "common/labelfilter.h"
#include "common/linefilter.h"
#include "common/logparse.h"
#include "common/mem.h"

struct fmt {
    struct noa_str dst, src; /* src: the label renamed (rename) */
    struct noa_gotmpl *tmpl; /* template (owned), NULL for a rename */
};

struct stage {
    const struct noa_logql_stage *ast; /* borrowed */
    struct noa_linefilter *lf;         /* LINE_FILTER */
    struct noa_logparse *parser;       /* JSON, LOGFMT, REGEXP, PATTERN, UNPACK */
    /* Filter first: when label filters follow this parser directly, the
     * number of those stages (0: none) and the names they read. */
    unsigned n_prefilter;
    struct noa_logparse_want want;
    /* Pruned (noa_pipeline_new_want): the full run extracts only these. */
    int pruned;
    struct noa_logparse_want prune;
    struct noa_labelfilter *filter;    /* LABEL_FILTER */
    struct noa_gotmpl *tmpl;           /* LINE_FORMAT */
    struct fmt *fmts;                  /* LABEL_FORMAT */
    unsigned n_fmts;
};

struct noa_pipeline {
    struct stage *v;
    unsigned n;
    int filters_only;
    int pruned;
};

void noa_pipeline_state_init(struct noa_pipeline_state *st)
{
    memset(st, 0, sizeof(*st));
    noa_lbuilder_init(&st->lb);
}

void noa_pipeline_state_fini(struct noa_pipeline_state *st)
{
    noa_lbuilder_fini(&st->lb);
    noa_buf_fini(&st->lines[0]);
    noa_buf_fini(&st->lines[1]);
    noa_buf_fini(&st->scratch);
    noa_gotmpl_scratch_fini(&st->tmpl);
}

/* ---- compiling --------------------------------------------------------------- */

static int compile_line_filter(const struct noa_logql_line_filter *f, struct stage *st,
                               struct noa_error *err)
{
    static const enum noa_linefilter_op ops[] = {
        [NOA_LOGQL_LINE_CONTAINS] = NOA_LINEFILTER_CONTAINS,
        [NOA_LOGQL_LINE_NOT_CONTAINS] = NOA_LINEFILTER_NCONTAINS,
        [NOA_LOGQL_LINE_MATCH] = NOA_LINEFILTER_REGEX,
        [NOA_LOGQL_LINE_NOT_MATCH] = NOA_LINEFILTER_NREGEX,
        [NOA_LOGQL_LINE_PATTERN] = NOA_LINEFILTER_PATTERN,
        [NOA_LOGQL_LINE_NOT_PATTERN] = NOA_LINEFILTER_NPATTERN,
    };
    struct noa_linefilter_operand *v = noa_xcalloc(f->n ? f->n : 1, sizeof(*v));
    for (unsigned i = 0; i < f->n; i++)
        v[i] = (struct noa_linefilter_operand){{f->v[i].value.p, f->v[i].value.len},
                                               f->v[i].is_ip};
    struct noa_linefilter_opts o = {.op = ops[f->op], .operands = v, .n = f->n};
    int rc = noa_linefilter_new(&o, &st->lf, err);
    noa_free(v);
    return rc;
}

static int compile_parser(const struct noa_logql_stage *ast, struct stage *st,
                          struct noa_error *err)
{
    static const enum noa_logparse_kind kinds[] = {
        [NOA_LOGQL_STAGE_JSON] = NOA_LOGPARSE_JSON,
        [NOA_LOGQL_STAGE_LOGFMT] = NOA_LOGPARSE_LOGFMT,
        [NOA_LOGQL_STAGE_REGEXP] = NOA_LOGPARSE_REGEXP,
        [NOA_LOGQL_STAGE_PATTERN] = NOA_LOGPARSE_PATTERN,
        [NOA_LOGQL_STAGE_UNPACK] = NOA_LOGPARSE_UNPACK,
    };
    struct noa_logparse_extract *ex = noa_xcalloc(ast->n_extracts + 1, sizeof(*ex));
    for (unsigned i = 0; i < ast->n_extracts; i++)
        ex[i] = (struct noa_logparse_extract){noa_str_c(ast->extracts[i].name),
                                              {ast->extracts[i].expr.p,
                                               ast->extracts[i].expr.len}};
    struct noa_logparse_opts o = {.kind = kinds[ast->kind], .extract = ex,
                                  .nextract = ast->n_extracts, .strict = ast->strict,
                                  .keep_empty = ast->keep_empty,
                                  .pattern = {ast->text.p, ast->text.len}};
    int rc = noa_logparse_new(&o, &st->parser, err);
    noa_free(ex);
    return rc;
}

static int compile_label_filter(const struct noa_logql_label_filter *f,
                                struct noa_labelfilter **out, struct noa_error *err)
{
    static const enum noa_labelfilter_cmp cmps[] = {
        [NOA_LOGQL_CMP_EQ] = NOA_LABELFILTER_EQ, [NOA_LOGQL_CMP_NEQ] = NOA_LABELFILTER_NE,
        [NOA_LOGQL_CMP_GT] = NOA_LABELFILTER_GT, [NOA_LOGQL_CMP_GTE] = NOA_LABELFILTER_GE,
        [NOA_LOGQL_CMP_LT] = NOA_LABELFILTER_LT, [NOA_LOGQL_CMP_LTE] = NOA_LABELFILTER_LE,
    };
    if (f->kind == NOA_LOGQL_LF_AND || f->kind == NOA_LOGQL_LF_OR) {
        struct noa_labelfilter *l = NULL, *r = NULL;
        int rc = compile_label_filter(f->left, &l, err);
        if (rc == 0)
            rc = compile_label_filter(f->right, &r, err);
        if (rc < 0) {
            noa_labelfilter_free(l);
            return rc;
        }
        *out = noa_labelfilter_bin(f->kind == NOA_LOGQL_LF_AND ? NOA_LABELFILTER_AND
                                                               : NOA_LABELFILTER_OR,
                                   l, r);
        return 0;
    }
    struct noa_labelfilter_opts o = {.name = noa_str_c(f->name), .cmp = cmps[f->cmp],
                                     .number = f->number, .duration_ns = f->duration_ns,
                                     .bytes = f->bytes};
    switch (f->kind) {
    case NOA_LOGQL_LF_STRING:
        o.kind = NOA_LABELFILTER_STRING;
        o.name = noa_str_c(f->matcher.name);
        o.match = f->matcher.type;
        o.value = (struct noa_str){f->matcher.value, f->matcher.value_len};
        break;
    case NOA_LOGQL_LF_NUMBER:
        o.kind = NOA_LABELFILTER_NUMBER;
        break;
    case NOA_LOGQL_LF_DURATION:
        o.kind = NOA_LABELFILTER_DURATION;
        break;
    case NOA_LOGQL_LF_BYTES:
        o.kind = NOA_LABELFILTER_BYTES;
        break;
    default:
        o.kind = NOA_LABELFILTER_IP;
        o.value = (struct noa_str){f->ip.p, f->ip.len};
        break;
    }
    return noa_labelfilter_new(&o, out, err);
}

static int compile_label_format(const struct noa_logql_stage *ast, struct stage *st,
                                struct noa_error *err)
{
    st->fmts = noa_xcalloc(ast->n_fmts ? ast->n_fmts : 1, sizeof(*st->fmts));
    for (unsigned i = 0; i < ast->n_fmts; i++) {
        const struct noa_logql_label_fmt *f = &ast->fmts[i];
        struct fmt *out = &st->fmts[st->n_fmts++];
        out->dst = noa_str_c(f->dst);
        out->src = (struct noa_str){f->value.p, f->value.len};
        if (!f->rename) {
            int rc = noa_gotmpl_parse_named("label", f->value.p, f->value.len, &out->tmpl, err);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

static int compile_stage(const struct noa_logql_stage *ast, struct stage *st,
                         struct noa_error *err)
{
    switch (ast->kind) {
    case NOA_LOGQL_STAGE_LINE_FILTER:
        return compile_line_filter(&ast->line, st, err);
    case NOA_LOGQL_STAGE_JSON:
    case NOA_LOGQL_STAGE_LOGFMT:
    case NOA_LOGQL_STAGE_REGEXP:
    case NOA_LOGQL_STAGE_PATTERN:
    case NOA_LOGQL_STAGE_UNPACK:
        return compile_parser(ast, st, err);
    case NOA_LOGQL_STAGE_LABEL_FILTER:
        return compile_label_filter(ast->filter, &st->filter, err);
    case NOA_LOGQL_STAGE_LINE_FORMAT:
        return noa_gotmpl_parse_named("line", ast->text.p, ast->text.len, &st->tmpl, err);
    case NOA_LOGQL_STAGE_LABEL_FORMAT:
        return compile_label_format(ast, st, err);
    case NOA_LOGQL_STAGE_DROP:
    case NOA_LOGQL_STAGE_KEEP:
    case NOA_LOGQL_STAGE_DECOLORIZE:
        return 0;
    }
    return noa_error_set(err, NOA_EINVAL, "unknown pipeline stage");
}

struct want_ctx {
    struct noa_buf names; /* struct noa_str entries */
    int reads_error;      /* a filter decides by the error pair */
};

static void want_name(void *ctx, struct noa_str name, enum noa_labelfilter_kind kind)
{
    struct want_ctx *w = ctx;
    noa_buf_append(&w->names, &name, sizeof(name));
    if (kind == NOA_LABELFILTER_IP || noa_str_eq_c(name, NOA_LB_ERROR))
        w->reads_error = 1;
}

/* Sets up the filter-first path of the parser at v[i] when label filters
 * follow it (see run_prefilter). */
static void plan_prefilter(struct noa_pipeline *p, unsigned i)
{
    struct stage *st = &p->v[i];
    unsigned k = i + 1;
    while (k < p->n && p->v[k].ast->kind == NOA_LOGQL_STAGE_LABEL_FILTER)
        k++;
    if (k == i + 1 || !noa_logparse_can_want(st->parser))
        return;
    struct want_ctx w = {{0}, 0};
    for (unsigned f = i + 1; f < k; f++)
        noa_labelfilter_names(p->v[f].filter, want_name, &w);
    noa_logparse_want_init(&st->want, (const struct noa_str *)(const void *)w.names.data,
                           (unsigned)(w.names.len / sizeof(struct noa_str)), !w.reads_error);
    st->n_prefilter = k - i - 1;
    noa_buf_fini(&w.names);
}

/* `| drop __error__, __error_details__` without matchers: what Grafana
 * appends to every log-volume query. */
static int drops_only_errors(const struct noa_logql_stage *ast)
{
    if (ast->kind != NOA_LOGQL_STAGE_DROP)
        return 0;
    for (unsigned k = 0; k < ast->n_names; k++)
        if (ast->names[k].has_matcher || (strcmp(ast->names[k].name, NOA_LB_ERROR) != 0 &&
                                          strcmp(ast->names[k].name, NOA_LB_ERROR_DETAILS) != 0))
            return 0;
    return 1;
}

/* Prunes the last parser to names plus what later stages read, when
 * nothing after it reads arbitrary labels (see noa_pipeline_new_want). */
static void plan_prune(struct noa_pipeline *p, const struct noa_str *names, unsigned n)
{
    unsigned i = p->n;
    while (i > 0 && !p->v[i - 1].parser)
        i--;
    if (i == 0)
        return;
    struct stage *st = &p->v[--i];
    if (!noa_logparse_can_want(st->parser))
        return;
    struct want_ctx w = {{0}, 0};
    noa_buf_append(&w.names, names, n * sizeof(*names));
    for (unsigned k = i + 1; k < p->n; k++) {
        const struct stage *s = &p->v[k];
        switch (s->ast->kind) {
        case NOA_LOGQL_STAGE_LINE_FILTER:
            break;
        case NOA_LOGQL_STAGE_LABEL_FILTER:
            noa_labelfilter_names(s->filter, want_name, &w);
            break;
        case NOA_LOGQL_STAGE_DROP:
            /* Removes labels by name, reading only the value of the label
             * it removes: unextracted names cannot change what happens to
             * the names read. */
            break;
        default:
            /* line_format, label_format... read any label; keep deletes
             * every other label, and deleting a parsed `__error__` (a
             * line's own key) clears the error pair. */
            noa_buf_fini(&w.names);
            return;
        }
    }
    /* The whole line is scanned, so the error pair is exact; a non-strict
     * logfmt never sets one, so it may stop once the names are found. */
    int stop_early = st->ast->kind == NOA_LOGQL_STAGE_LOGFMT && !st->ast->strict;
    noa_logparse_want_init(&st->prune, (const struct noa_str *)(const void *)w.names.data,
                           (unsigned)(w.names.len / sizeof(struct noa_str)), stop_early);
    st->pruned = 1;
    p->pruned = 1;
    noa_buf_fini(&w.names);
}

int noa_pipeline_new(const struct noa_logql_expr *log, struct noa_pipeline **out,
                     struct noa_error *err)
{
    return noa_pipeline_new_want(log, NULL, 0, out, err);
}

int noa_pipeline_new_want(const struct noa_logql_expr *log, const struct noa_str *names,
                          unsigned n_names, struct noa_pipeline **out, struct noa_error *err)
{
    struct noa_pipeline *p = noa_xcalloc(1, sizeof(*p));
    int rc = 0;
    p->v = noa_xcalloc(log->n_stages ? log->n_stages : 1, sizeof(*p->v));
    p->filters_only = 1;
    for (unsigned i = 0; i < log->n_stages && rc == 0; i++) {
        const struct noa_logql_stage *ast = &log->stages[i];
        if (p->filters_only && drops_only_errors(ast))
            continue; /* nothing before it can set an error: a no-op */
        struct stage *st = &p->v[p->n++];
        st->ast = ast;
        rc = compile_stage(ast, st, err);
        if (ast->kind != NOA_LOGQL_STAGE_LINE_FILTER)
            p->filters_only = 0;
    }
    if (rc < 0) {
        noa_pipeline_free(p);
        return rc;
    }
    for (unsigned i = 0; i < p->n; i++)
        if (p->v[i].parser)
            plan_prefilter(p, i);
    if (names)
        plan_prune(p, names, n_names);
    *out = p;
    return 0;
}

void noa_pipeline_free(struct noa_pipeline *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->n; i++) {
        struct stage *st = &p->v[i];
        noa_linefilter_free(st->lf);
        noa_logparse_free(st->parser);
        noa_logparse_want_fini(&st->want);
        noa_logparse_want_fini(&st->prune);
        noa_labelfilter_free(st->filter);
        noa_gotmpl_free(st->tmpl);
        for (unsigned k = 0; k < st->n_fmts; k++)
            noa_gotmpl_free(st->fmts[k].tmpl);
        noa_free(st->fmts);
    }
    noa_free(p->v);
    noa_free(p);
}

int noa_pipeline_filters_only(const struct noa_pipeline *p)
{
    return p->filters_only;
}

int noa_pipeline_pruned(const struct noa_pipeline *p)
{
    return p->pruned;
}

/* ---- running ----------------------------------------------------------------- */

/* drop a, b="x": removes the named labels (when the matcher, if any, holds). */
static void run_drop(const struct noa_logql_stage *ast, struct noa_lbuilder *lb)
{
    for (unsigned i = 0; i < ast->n_names; i++) {
        const struct noa_logql_named *nm = &ast->names[i];
        struct noa_str name = noa_str_c(nm->name), v;
        if (!noa_lbuilder_get(lb, name, &v))
            continue;
        if (!nm->has_matcher || noa_matcher_matches(&nm->matcher, v)) {
            if (noa_str_eq_c(name, NOA_LB_ERROR) || noa_str_eq_c(name, NOA_LB_ERROR_DETAILS))
                noa_lbuilder_clear_err(lb);
            else
                noa_lbuilder_del(lb, name);
        }
    }
}

struct keep_ctx {
    const struct noa_logql_stage *ast;
    char names[4096]; /* copies: deleting may move the builder's bytes */
    size_t used;
    uint16_t off[64], len[64];
    unsigned n_drop;
};

static int keep_visit(void *arg, enum noa_lb_cat cat, struct noa_str name, struct noa_str value)
{
    struct keep_ctx *k = arg;
    (void)cat;
    for (unsigned i = 0; i < k->ast->n_names; i++) {
        const struct noa_logql_named *nm = &k->ast->names[i];
        if (noa_str_eq_c(name, nm->name) &&
            (!nm->has_matcher || noa_matcher_matches(&nm->matcher, value)))
            return 0;
    }
    if (k->n_drop < 64 && k->used + name.len <= sizeof(k->names)) {
        memcpy(k->names + k->used, name.p, name.len);
        k->off[k->n_drop] = (uint16_t)k->used;
        k->len[k->n_drop++] = (uint16_t)name.len;
        k->used += name.len;
    }
    return 0;
}

/* keep a, b="x": removes every other label. */
static void run_keep(const struct noa_logql_stage *ast, struct noa_lbuilder *lb)
{
    struct keep_ctx k = {.ast = ast};
    noa_lbuilder_each(lb, keep_visit, &k);
    for (unsigned i = 0; i < k.n_drop; i++)
        noa_lbuilder_del(lb, (struct noa_str){k.names + k.off[i], k.len[i]});
}

static int lookup_cb(void *ctx, const char *name, size_t len, struct noa_str *val)
{
    return noa_lbuilder_get(ctx, (struct noa_str){name, len}, val);
}

/* Renders a template against the line's labels into out (reset first).
 * A failure sets __error__=TemplateFormatErr as Loki does; returns 0 then. */
static int render(const struct noa_gotmpl *t, struct noa_pipeline_state *st, int64_t ts,
                  struct noa_str line, struct noa_buf *out)
{
    struct noa_error err = {0};
    struct noa_gotmpl_data d = {.lookup_cb = lookup_cb, .ctx = &st->lb, .line = line,
                                .ts_ns = ts, .work = &st->tmpl};
    noa_buf_reset(out);
    if (noa_gotmpl_exec(t, &d, out, &err) == 0)
        return 1;
    noa_lbuilder_set_err(&st->lb, NOA_STR(NOA_LB_ERR_TEMPLATE), noa_str_c(err.msg));
    return 0;
}

static void run_label_format(const struct stage *s, struct noa_pipeline_state *st, int64_t ts,
                             struct noa_str line)
{
    for (unsigned i = 0; i < s->n_fmts; i++) {
        const struct fmt *f = &s->fmts[i];
        if (!f->tmpl) { /* dst=src: rename */
            struct noa_str v;
            if (!noa_lbuilder_get(&st->lb, f->src, &v))
                continue;
            noa_buf_reset(&st->scratch);
            noa_buf_append_str(&st->scratch, v);
            noa_lbuilder_del(&st->lb, f->src);
            noa_lbuilder_set(&st->lb, NOA_LB_PARSED, f->dst,
                             (struct noa_str){st->scratch.data, st->scratch.len});
            continue;
        }
        if (render(f->tmpl, st, ts, line, &st->scratch))
            noa_lbuilder_set(&st->lb, NOA_LB_PARSED, f->dst,
                             (struct noa_str){st->scratch.data, st->scratch.len});
    }
}

/*
 * Filter first: parses the line for just the names the following label
 * filters read and runs those filters. 0 when they drop the line; else
 * the builder is rewound and the caller parses the line fully (and runs
 * the filters again, for the labels and errors they leave). The filters
 * see the same values as after a full parse, and the same error pair
 * unless none of them reads it (see noa_logparse_run_want), so they
 * decide the same; lines whose builder cannot be rewound simply take the
 * full path.
 */
static int run_prefilter(const struct noa_pipeline *p, unsigned i, struct noa_pipeline_state *st,
                         struct noa_str line)
{
    const struct stage *s = &p->v[i];
    struct noa_lbuilder_mark mark;
    if (!noa_lbuilder_mark(&st->lb, &mark))
        return 1;
    noa_logparse_run_want(s->parser, line, &st->lb, &s->want);
    for (unsigned k = 1; k <= s->n_prefilter; k++) {
        if (!noa_labelfilter_eval(p->v[i + k].filter, &st->lb)) {
            st->prefiltered++;
            return 0;
        }
    }
    noa_lbuilder_rewind(&st->lb, &mark);
    return 1;
}

int noa_pipeline_run(const struct noa_pipeline *p, struct noa_pipeline_state *st, int64_t ts_ns,
                     struct noa_str line, struct noa_str *out_line)
{
    unsigned flip = 0; /* which of st->lines a rewrite goes to next */
    for (unsigned i = 0; i < p->n; i++) {
        const struct stage *s = &p->v[i];
        switch (s->ast->kind) {
        case NOA_LOGQL_STAGE_LINE_FILTER:
            if (!noa_linefilter_match(s->lf, line.p, line.len))
                return 0;
            break;
        case NOA_LOGQL_STAGE_JSON:
        case NOA_LOGQL_STAGE_LOGFMT:
        case NOA_LOGQL_STAGE_REGEXP:
        case NOA_LOGQL_STAGE_PATTERN:
        case NOA_LOGQL_STAGE_UNPACK:
            /* A pruned parse that must scan the whole line anyway (its
             * filters read the error pair) is no dearer than the
             * filter-first pass: skip that one. */
            if (s->n_prefilter && !(s->pruned && !s->want.stop_early) &&
                !run_prefilter(p, i, st, line))
                return 0;
            if (s->pruned)
                noa_logparse_run_want(s->parser, line, &st->lb, &s->prune);
            else
                noa_logparse_run(s->parser, &line, &st->lb);
            break;
        case NOA_LOGQL_STAGE_LABEL_FILTER:
            if (!noa_labelfilter_eval(s->filter, &st->lb))
                return 0;
            break;
        case NOA_LOGQL_STAGE_LINE_FORMAT:
            if (render(s->tmpl, st, ts_ns, line, &st->lines[flip])) {
                line = (struct noa_str){st->lines[flip].data, st->lines[flip].len};
                flip ^= 1;
            }
            break;
        case NOA_LOGQL_STAGE_LABEL_FORMAT:
            run_label_format(s, st, ts_ns, line);
            break;
        case NOA_LOGQL_STAGE_DROP:
            run_drop(s->ast, &st->lb);
            break;
        case NOA_LOGQL_STAGE_KEEP:
            run_keep(s->ast, &st->lb);
            break;
        case NOA_LOGQL_STAGE_DECOLORIZE: {
            struct noa_str d = noa_decolor_run(line, &st->lines[flip]);
            if (d.p != line.p) {
                line = d;
                flip ^= 1;
            }
            break;
        }
        }
    }
    *out_line = line;
    return 1;
}

/* ---- literals for block skipping --------------------------------------------- */

/* Most `or` chains are short; a longer one is simply not reported. */
#define PIPELINE_MAX_ALTS 16

int noa_pipeline_required_literals(const struct noa_pipeline *p,
                                   int (*group_cb)(void *ctx,
                                                   const struct noa_linefilter_literal *alts,
                                                   unsigned n),
                                   void *ctx)
{
    struct noa_linefilter_literal alts[PIPELINE_MAX_ALTS];
    for (unsigned i = 0; i < p->n; i++) {
        const struct stage *s = &p->v[i];
        switch (s->ast->kind) {
        case NOA_LOGQL_STAGE_LINE_FILTER: {
            unsigned n = noa_linefilter_literals(s->lf, alts, PIPELINE_MAX_ALTS);
            if (n > 0 && n <= PIPELINE_MAX_ALTS) {
                int rc = group_cb(ctx, alts, n);
                if (rc)
                    return rc;
            }
            break;
        }
        case NOA_LOGQL_STAGE_JSON:
        case NOA_LOGQL_STAGE_LOGFMT:
        case NOA_LOGQL_STAGE_REGEXP:
        case NOA_LOGQL_STAGE_PATTERN:
        case NOA_LOGQL_STAGE_LABEL_FILTER:
        case NOA_LOGQL_STAGE_LABEL_FORMAT:
        case NOA_LOGQL_STAGE_DROP:
        case NOA_LOGQL_STAGE_KEEP:
            break; /* labels only: later filters still see the stored line */
        default:
            return 0; /* line_format, decolorize, unpack: later filters see another line */
        }
    }
    return 0;
}
