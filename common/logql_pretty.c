/*
 * LogQL prettifier: Loki's syntax.Prettify(). An expression whose
 * canonical text (noa_logql_format) fits in the line width prints as that
 * text; a longer one is split: pipeline stages one per line, function and
 * aggregation arguments on their own lines, binary operands around the
 * operator, each level indented by two spaces. Every piece of text is
 * produced by the canonical formatter (on borrowed, shallow temporary
 * nodes), so quoting and number formats stay identical to it.
 * Pure; appends to the caller's buffer on the caller's thread.
 *
 * Where Loki's own output would not parse back to the same query, noa
 * keeps the query's meaning instead (each case is marked "Loki" below):
 * `or` operands of a split line filter, `without ()`, a range
 * aggregation's `by ()`, `on ()`, sub-millisecond or negative offsets,
 * and parentheses around a split operand of lower precedence.
 */
#include "common/logql.h"

#include <string.h>

struct pctx {
    size_t width;
    struct noa_buf tmp; /* scratch for canonical texts */
};

static void indent(struct noa_buf *b, int level)
{
    for (int i = 0; i < level; i++)
        noa_buf_append(b, "  ", 2);
}

/* The canonical text of e into c->tmp (reset first). */
static const struct noa_buf *canon(struct pctx *c, const struct noa_logql_expr *e)
{
    noa_buf_reset(&c->tmp);
    noa_logql_format(e, &c->tmp);
    return &c->tmp;
}

/* Loki's needSplit: the one-line text is longer than the width. */
static int need_split(struct pctx *c, const struct noa_logql_expr *e)
{
    return canon(c, e)->len > c->width;
}

/* Appends indent + the canonical text of e. */
static void one_line(struct pctx *c, struct noa_buf *b, const struct noa_logql_expr *e, int level)
{
    indent(b, level);
    canon(c, e);
    noa_buf_append(b, c->tmp.data, c->tmp.len);
}

/* Appends the text of stages[i..j) joined by spaces (what Loki prints for
 * them in a pipeline), by formatting a selector-less log node and
 * dropping its leading "{} ". */
static void stages_text(struct pctx *c, struct noa_buf *b, const struct noa_logql_stage *s,
                        unsigned n)
{
    struct noa_logql_expr t;
    memset(&t, 0, sizeof(t));
    t.kind = NOA_LOGQL_LOG;
    t.stages = (struct noa_logql_stage *)s; /* borrowed, read only */
    t.n_stages = n;
    canon(c, &t);
    noa_buf_append(b, c->tmp.data + 3, c->tmp.len - 3);
}

static size_t stages_len(struct pctx *c, const struct noa_logql_stage *s, unsigned n)
{
    struct noa_buf x = {0};
    stages_text(c, &x, s, n);
    size_t len = x.len;
    noa_buf_fini(&x);
    return len;
}

/* `| <label filter>`. */
static void filter_text(struct pctx *c, struct noa_buf *b, struct noa_logql_label_filter *f)
{
    struct noa_logql_stage s;
    memset(&s, 0, sizeof(s));
    s.kind = NOA_LOGQL_STAGE_LABEL_FILTER;
    s.filter = f;
    stages_text(c, b, &s, 1);
}

/* strconv.Quote(s): via a line_format stage, dropping "| line_format ". */
static void quote_text(struct pctx *c, struct noa_buf *b, const struct noa_logql_str *str)
{
    struct noa_logql_stage s;
    memset(&s, 0, sizeof(s));
    s.kind = NOA_LOGQL_STAGE_LINE_FORMAT;
    s.text = *str;
    struct noa_buf x = {0};
    stages_text(c, &x, &s, 1);
    noa_buf_append(b, x.data + 14, x.len - 14);
    noa_buf_fini(&x);
}

/* Prometheus model.Duration text of d: via count_over_time({}[d]). */
static void prom_duration_text(struct pctx *c, struct noa_buf *b, int64_t d)
{
    struct noa_logql_expr log, t;
    memset(&log, 0, sizeof(log));
    memset(&t, 0, sizeof(t));
    log.kind = NOA_LOGQL_LOG;
    t.kind = NOA_LOGQL_RANGE_AGG;
    t.range_op = NOA_LOGQL_RANGE_COUNT;
    t.log = &log;
    t.range_ns = d;
    canon(c, &t);
    /* "count_over_time({}[" ... "])" */
    noa_buf_append(b, c->tmp.data + 19, c->tmp.len - 21);
}

/* fmt.Sprint(float64): Go's %v, the canonical literal format. */
static void float_text(struct pctx *c, struct noa_buf *b, double v)
{
    struct noa_logql_expr t;
    memset(&t, 0, sizeof(t));
    t.kind = NOA_LOGQL_LITERAL;
    t.value = v;
    canon(c, &t);
    noa_buf_append(b, c->tmp.data, c->tmp.len);
}

/* Loki's Pretty label lists are joined by ", " (String() uses ","). */
static void label_list(struct noa_buf *b, const struct noa_logql_labels *l)
{
    noa_buf_append(b, " (", 2);
    for (unsigned i = 0; i < l->n; i++) {
        if (i)
            noa_buf_append(b, ", ", 2);
        noa_buf_append(b, l->v[i], strlen(l->v[i]));
    }
    noa_buf_putc(b, ')');
}

/* Grouping.Pretty. Loki prints a bare " without" for `without ()` (which
 * does not parse back) and nothing for a range aggregation's `by ()`
 * (which changes its result); both keep their "()" here. */
static void grouping(struct noa_buf *b, const struct noa_logql_grouping *g, int range)
{
    if (!g->present)
        return;
    if (g->without)
        noa_buf_append(b, " without", 8);
    else if (g->labels.n > 0 || range)
        noa_buf_append(b, " by", 3);
    else
        return;
    label_list(b, &g->labels);
}

/* A run of line filters is one left-nested LineFilterExpr in Loki: it
 * stays on one line while it fits, else its last filter goes on its own
 * line after the rest, split the same way. As the text only grows with
 * each filter, that is: the longest prefix that fits (at least one
 * filter) on the first line, then one filter per line, which is linear
 * where the recursive form would be quadratic in the run's length.
 * Loki drops the `or` operands of the filters it splits off; they are
 * kept here. */
static void line_chain(struct pctx *c, struct noa_buf *b, const struct noa_logql_stage *s,
                       unsigned n, int level)
{
    unsigned first = 1;
    size_t len = stages_len(c, s, 1);
    while (first < n) {
        size_t next = len + 1 + stages_len(c, s + first, 1);
        if (next > c->width)
            break;
        len = next;
        first++;
    }
    indent(b, level);
    stages_text(c, b, s, first);
    for (unsigned i = first; i < n; i++) {
        noa_buf_putc(b, '\n');
        indent(b, level);
        stages_text(c, b, s + i, 1);
    }
}

static void log_expr(struct pctx *c, struct noa_buf *b, const struct noa_logql_expr *e, int level)
{
    if (e->n_stages == 0 || !need_split(c, e)) {
        one_line(c, b, e, level);
        return;
    }
    struct noa_logql_expr sel;
    memset(&sel, 0, sizeof(sel));
    sel.kind = NOA_LOGQL_LOG;
    sel.selector = e->selector; /* shallow, borrowed */
    one_line(c, b, &sel, level);
    for (unsigned i = 0; i < e->n_stages;) {
        noa_buf_putc(b, '\n');
        if (e->stages[i].kind == NOA_LOGQL_STAGE_LINE_FILTER) {
            unsigned j = i;
            while (j < e->n_stages && e->stages[j].kind == NOA_LOGQL_STAGE_LINE_FILTER)
                j++;
            line_chain(c, b, e->stages + i, j - i, level + 1);
            i = j;
            continue;
        }
        /* Loki's DecolorizeExpr.Pretty ignores the level: no indent. */
        if (e->stages[i].kind != NOA_LOGQL_STAGE_DECOLORIZE)
            indent(b, level + 1);
        stages_text(c, b, e->stages + i, 1);
        i++;
    }
}

static void expr(struct pctx *c, struct noa_buf *b, const struct noa_logql_expr *e, int level);

static void range_agg(struct pctx *c, struct noa_buf *b, const struct noa_logql_expr *e, int level)
{
    static const char *const convs[] = {"", "bytes", "duration", "duration_seconds"};
    if (!need_split(c, e)) {
        one_line(c, b, e, level);
        return;
    }
    indent(b, level);
    noa_buf_printf(b, "%s(\n", noa_logql_range_op_name(e->range_op));
    if (e->has_param) {
        indent(b, level + 1);
        float_text(c, b, e->param);
        noa_buf_append(b, ",\n", 2);
    }
    log_expr(c, b, e->log, level + 1);
    if (e->has_unwrap) {
        /* the unwrap and its filters always go on their own lines */
        noa_buf_putc(b, '\n');
        indent(b, level + 2);
        if (e->unwrap_conv != NOA_LOGQL_CONV_NONE)
            noa_buf_printf(b, "| unwrap %s(%s)", convs[e->unwrap_conv], e->unwrap_label);
        else
            noa_buf_printf(b, "| unwrap %s", e->unwrap_label);
        for (unsigned i = 0; i < e->n_post_filters; i++) {
            noa_buf_putc(b, '\n');
            indent(b, level + 2);
            filter_text(c, b, e->post_filters[i]);
        }
    }
    noa_buf_append(b, " [", 2);
    prom_duration_text(c, b, e->range_ns);
    noa_buf_putc(b, ']');
    if (e->offset_ns) {
        /* Loki prints the offset as a model.Duration ("20m", not "20m0s"),
         * which keeps milliseconds only and has no sign; offsets it
         * cannot represent keep the canonical Go form. */
        noa_buf_append(b, " offset ", 8);
        if (e->offset_ns > 0 && e->offset_ns % 1000000 == 0) {
            prom_duration_text(c, b, e->offset_ns);
        } else {
            /* the canonical text ends in " offset <go duration>)<grouping>" */
            struct noa_logql_expr t = *e;
            struct noa_logql_expr log;
            memset(&log, 0, sizeof(log));
            log.kind = NOA_LOGQL_LOG;
            t.log = &log;
            t.has_param = 0;
            t.has_unwrap = 0;
            t.grouping.present = 0;
            canon(c, &t);
            const char *o = strstr(noa_buf_cstr(&c->tmp), " offset ");
            if (o)
                noa_buf_append(b, o + 8, c->tmp.len - (size_t)(o + 8 - c->tmp.data) - 1);
        }
    }
    noa_buf_putc(b, '\n');
    indent(b, level);
    noa_buf_putc(b, ')');
    grouping(b, &e->grouping, 1);
}

static void vector_agg(struct pctx *c, struct noa_buf *b, const struct noa_logql_expr *e,
                       int level)
{
    if (!need_split(c, e)) {
        one_line(c, b, e, level);
        return;
    }
    indent(b, level);
    const char *op = noa_logql_vector_op_name(e->vector_op);
    noa_buf_append(b, op, strlen(op));
    grouping(b, &e->grouping, 0);
    noa_buf_append(b, "(\n", 2);
    if (e->has_param) {
        indent(b, level + 1);
        noa_buf_printf(b, "%lld,\n", (long long)e->param);
    }
    expr(c, b, e->inner, level + 1);
    noa_buf_putc(b, '\n');
    indent(b, level);
    noa_buf_putc(b, ')');
}

/* Binding strength as in Loki's grammar (higher binds tighter). */
static int prec(enum noa_logql_bin_op op)
{
    switch (op) {
    case NOA_LOGQL_BIN_OR:
        return 1;
    case NOA_LOGQL_BIN_AND:
    case NOA_LOGQL_BIN_UNLESS:
        return 2;
    case NOA_LOGQL_BIN_ADD:
    case NOA_LOGQL_BIN_SUB:
        return 4;
    case NOA_LOGQL_BIN_MUL:
    case NOA_LOGQL_BIN_DIV:
    case NOA_LOGQL_BIN_MOD:
        return 5;
    case NOA_LOGQL_BIN_POW:
        return 6;
    default:
        return 3; /* comparisons */
    }
}

/* A split binary operand prints without its parentheses in Loki, which
 * is only right when precedence already groups it that way. */
static int needs_parens(const struct noa_logql_expr *parent, const struct noa_logql_expr *child,
                        int right)
{
    if (child->kind != NOA_LOGQL_BINOP)
        return 0;
    int pp = prec(parent->bin_op), cp = prec(child->bin_op);
    if (cp != pp)
        return cp < pp;
    /* ^ groups to the right, the others to the left */
    return parent->bin_op == NOA_LOGQL_BIN_POW ? !right : right;
}

static void operand(struct pctx *c, struct noa_buf *b, const struct noa_logql_expr *parent,
                    const struct noa_logql_expr *child, int right, int level)
{
    if (!needs_parens(parent, child, right) || !need_split(c, child)) {
        expr(c, b, child, level);
        return;
    }
    indent(b, level);
    noa_buf_append(b, "(\n", 2);
    expr(c, b, child, level + 1);
    noa_buf_putc(b, '\n');
    indent(b, level);
    noa_buf_putc(b, ')');
}

/* formatBinaryOp: "op [bool] [on|ignoring (l, ...) [group_x [(l, ...)]]]".
 * Loki prints the matching clause only when it names labels; an `on ()`
 * or a group modifier over an empty list is kept here (as the canonical
 * text keeps it), since dropping it changes the result; so is a written
 * empty `group_left ()` list, to read back as the same canonical text. */
static void bin_op_text(struct noa_buf *b, const struct noa_logql_expr *e)
{
    const char *op = noa_logql_bin_op_name(e->bin_op);
    noa_buf_append(b, op, strlen(op));
    if (e->return_bool)
        noa_buf_append(b, " bool", 5);
    if (!e->has_matching ||
        !(e->on || e->matching.n > 0 || e->card != NOA_LOGQL_CARD_ONE_TO_ONE))
        return;
    noa_buf_append(b, e->on ? " on" : " ignoring", e->on ? 3 : 9);
    label_list(b, &e->matching);
    noa_buf_putc(b, ' ');
    if (e->card == NOA_LOGQL_CARD_MANY_TO_ONE)
        noa_buf_append(b, "group_left", 10);
    else if (e->card == NOA_LOGQL_CARD_ONE_TO_MANY)
        noa_buf_append(b, "group_right", 11);
    if (e->card != NOA_LOGQL_CARD_ONE_TO_ONE && e->has_include)
        label_list(b, &e->include);
}

static void binop(struct pctx *c, struct noa_buf *b, const struct noa_logql_expr *e, int level)
{
    if (!need_split(c, e)) {
        one_line(c, b, e, level);
        return;
    }
    operand(c, b, e, e->lhs, 0, level + 1);
    noa_buf_putc(b, '\n');
    indent(b, level);
    bin_op_text(b, e);
    noa_buf_putc(b, '\n');
    operand(c, b, e, e->rhs, 1, level + 1);
}

static void label_replace(struct pctx *c, struct noa_buf *b, const struct noa_logql_expr *e,
                          int level)
{
    if (!need_split(c, e)) {
        one_line(c, b, e, level);
        return;
    }
    indent(b, level);
    noa_buf_append(b, "label_replace(\n", 15);
    expr(c, b, e->inner, level + 1);
    const struct noa_logql_str *args[] = {&e->dst, &e->replacement, &e->src, &e->regex};
    for (unsigned i = 0; i < 4; i++) {
        noa_buf_append(b, ",\n", 2);
        indent(b, level + 1);
        quote_text(c, b, args[i]);
    }
    noa_buf_putc(b, '\n');
    indent(b, level);
    noa_buf_putc(b, ')');
}

static void expr(struct pctx *c, struct noa_buf *b, const struct noa_logql_expr *e, int level)
{
    switch (e->kind) {
    case NOA_LOGQL_LOG:
        log_expr(c, b, e, level);
        break;
    case NOA_LOGQL_RANGE_AGG:
        range_agg(c, b, e, level);
        break;
    case NOA_LOGQL_VECTOR_AGG:
        vector_agg(c, b, e, level);
        break;
    case NOA_LOGQL_BINOP:
        binop(c, b, e, level);
        break;
    case NOA_LOGQL_LABEL_REPLACE:
        label_replace(c, b, e, level);
        break;
    case NOA_LOGQL_LITERAL:
    case NOA_LOGQL_VECTOR:
        one_line(c, b, e, level);
        break;
    }
}

void noa_logql_pretty_width(const struct noa_logql_expr *e, size_t width, struct noa_buf *out)
{
    struct pctx c = {.width = width};
    expr(&c, out, e, 0);
    noa_buf_fini(&c.tmp);
}

void noa_logql_pretty(const struct noa_logql_expr *e, struct noa_buf *out)
{
    noa_logql_pretty_width(e, NOA_LOGQL_PRETTY_WIDTH, out);
}
