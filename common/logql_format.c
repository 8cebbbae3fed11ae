/*
 * LogQL canonical formatter: prints a parsed tree the way Loki's
 * syntax.Expr.String() does (what /loki/api/v1/format_query returns),
 * including Go's quoting, float, duration and humanize byte formats.
 * Pure; appends to the caller's buffer on the caller's thread.
 */
#include "common/logql.h"
#include "common/humanize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (1..4), 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t need = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3
                               : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (need == 0 || need > n || (need == 2 && s[0] < 0xC2))
        return 0;
    for (size_t i = 1; i < need; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if (need >= 3 && !noa_utf8_valid((const char *)s, need))
        return 0;
    return need;
}

/* Decodes the valid sequence of length l at s. */
static unsigned decode_rune(const unsigned char *s, size_t l)
{
    if (l == 2)
        return ((s[0] & 0x1Fu) << 6) | (s[1] & 0x3Fu);
    if (l == 3)
        return ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
    return ((s[0] & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) |
           (s[3] & 0x3Fu);
}

/* The common runes Go's strconv.IsPrint rejects: C1 controls, non-ASCII
 * spaces and format characters. (Unassigned code points are not
 * tracked; they print as themselves.) */
static int go_unprintable(unsigned r)
{
    return (r >= 0x80 && r <= 0xA0) || r == 0xAD || r == 0x61C || r == 0x1680 ||
           r == 0x180E || (r >= 0x2000 && r <= 0x200F) || (r >= 0x2028 && r <= 0x202F) ||
           (r >= 0x205F && r <= 0x206F) || r == 0x3000 || r == 0xFEFF ||
           (r >= 0xFFF9 && r <= 0xFFFB) || (r >= 0xE000 && r <= 0xF8FF) ||
           (r >= 0xF0000);
}

/* strconv.Quote. */
static void go_quote(struct noa_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    noa_buf_putc(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t l = utf8_len((const unsigned char *)s + i, n - i);
        if (c >= 0x80 && l > 1) {
            unsigned r = decode_rune((const unsigned char *)s + i, l);
            if (!go_unprintable(r))
                noa_buf_append(b, s + i, l);
            else if (r <= 0xFFFF)
                noa_buf_printf(b, "\\u%04x", r);
            else
                noa_buf_printf(b, "\\U%08x", r);
            i += l;
            continue;
        }
        i++;
        switch (c) {
        case '"': noa_buf_append(b, "\\\"", 2); continue;
        case '\\': noa_buf_append(b, "\\\\", 2); continue;
        case '\a': noa_buf_append(b, "\\a", 2); continue;
        case '\b': noa_buf_append(b, "\\b", 2); continue;
        case '\f': noa_buf_append(b, "\\f", 2); continue;
        case '\n': noa_buf_append(b, "\\n", 2); continue;
        case '\r': noa_buf_append(b, "\\r", 2); continue;
        case '\t': noa_buf_append(b, "\\t", 2); continue;
        case '\v': noa_buf_append(b, "\\v", 2); continue;
        default:
            break;
        }
        if (c < 0x20 || c >= 0x7f) {
            char x[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            noa_buf_append(b, x, 4);
        } else {
            noa_buf_putc(b, (char)c);
        }
    }
    noa_buf_putc(b, '"');
}

static void quote_str(struct noa_buf *b, const struct noa_logql_str *s)
{
    go_quote(b, s->p ? s->p : "", s->len);
}

/* Shortest round-trip digits of v: fills digits (no dot) and the decimal
 * exponent of the first digit. v must be finite and > 0. */
static void shortest(double v, char *digits, int *exp10)
{
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    char *e = strchr(tmp, 'e');
    *exp10 = atoi(e + 1);
    size_t k = 0;
    for (char *c = tmp; c < e; c++)
        if (*c != '.')
            digits[k++] = *c;
    while (k > 1 && digits[k - 1] == '0')
        k--;
    digits[k] = 0;
}

/* Go strconv.FormatFloat(v, fmt, -1, 64) for fmt 'f' or 'g' ('g' is also
 * what fmt.Sprint prints for a float64). */
static void go_float(struct noa_buf *b, double v, char fmt)
{
    if (isnan(v)) {
        noa_buf_append(b, "NaN", 3);
        return;
    }
    if (isinf(v)) {
        noa_buf_printf(b, "%cInf", v < 0 ? '-' : '+');
        return;
    }
    if (v == 0) {
        noa_buf_append(b, signbit(v) ? "-0" : "0", signbit(v) ? 2 : 1);
        return;
    }
    if (v < 0) {
        noa_buf_putc(b, '-');
        v = -v;
    }
    char d[24];
    int x;
    shortest(v, d, &x);
    int nd = (int)strlen(d);
    if (fmt == 'g' && (x < -4 || x >= 6)) {
        noa_buf_putc(b, d[0]);
        if (nd > 1) {
            noa_buf_putc(b, '.');
            noa_buf_append(b, d + 1, (size_t)nd - 1);
        }
        noa_buf_printf(b, "e%c%02d", x < 0 ? '-' : '+', abs(x));
        return;
    }
    if (x < 0) {
        noa_buf_append(b, "0.", 2);
        for (int i = 0; i < -x - 1; i++)
            noa_buf_putc(b, '0');
        noa_buf_append(b, d, (size_t)nd);
        return;
    }
    for (int i = 0; i <= x; i++)
        noa_buf_putc(b, i < nd ? d[i] : '0');
    if (nd > x + 1) {
        noa_buf_putc(b, '.');
        noa_buf_append(b, d + x + 1, (size_t)(nd - x - 1));
    }
}

/* Go time.Duration.String(). */
static void go_duration(struct noa_buf *b, int64_t d)
{
    uint64_t u = d < 0 ? (uint64_t)0 - (uint64_t)d : (uint64_t)d;
    if (d < 0)
        noa_buf_putc(b, '-');
    if (u == 0) {
        noa_buf_append(b, "0s", 2);
        return;
    }
    if (u < 1000000000ULL) {
        const char *unit = "ns";
        uint64_t div = 1;
        if (u >= 1000000ULL) {
            unit = "ms";
            div = 1000000ULL;
        } else if (u >= 1000ULL) {
            unit = "\xc2\xb5s";
            div = 1000ULL;
        }
        noa_buf_printf(b, "%llu", (unsigned long long)(u / div));
        uint64_t frac = u % div;
        if (frac) {
            char f[16];
            int w = div == 1000000ULL ? 6 : 3;
            snprintf(f, sizeof(f), "%0*llu", w, (unsigned long long)frac);
            int k = w;
            while (k > 0 && f[k - 1] == '0')
                k--;
            noa_buf_printf(b, ".%.*s", k, f);
        }
        noa_buf_append(b, unit, strlen(unit));
        return;
    }
    uint64_t secs = u / 1000000000ULL, frac = u % 1000000000ULL;
    uint64_t h = secs / 3600, m = (secs / 60) % 60, s = secs % 60;
    if (h)
        noa_buf_printf(b, "%lluh", (unsigned long long)h);
    if (h || m)
        noa_buf_printf(b, "%llum", (unsigned long long)m);
    noa_buf_printf(b, "%llu", (unsigned long long)s);
    if (frac) {
        char f[16];
        snprintf(f, sizeof(f), "%09llu", (unsigned long long)frac);
        int k = 9;
        while (k > 0 && f[k - 1] == '0')
            k--;
        noa_buf_printf(b, ".%.*s", k, f);
    }
    noa_buf_putc(b, 's');
}

/* Prometheus model.Duration.String(). */
static void prom_duration(struct noa_buf *b, int64_t ns)
{
    static const struct {
        const char *u;
        int64_t ms;
        int exact;
    } units[] = {{"y", 365LL * 86400000, 1}, {"w", 7LL * 86400000, 1}, {"d", 86400000, 0},
                 {"h", 3600000, 0},          {"m", 60000, 0},          {"s", 1000, 0},
                 {"ms", 1, 0}};
    int64_t ms = ns / 1000000;
    if (ms == 0) {
        noa_buf_append(b, "0s", 2);
        return;
    }
    if (ms < 0) {
        noa_buf_putc(b, '-');
        ms = -ms;
    }
    for (unsigned i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (units[i].exact && ms % units[i].ms)
            continue;
        int64_t v = ms / units[i].ms;
        if (v > 0) {
            noa_buf_printf(b, "%lld%s", (long long)v, units[i].u);
            ms -= v * units[i].ms;
        }
    }
}

static const char *const cmp_names[] = {"==", "!=", ">", ">=", "<", "<="};

static void matcher(struct noa_buf *b, const struct noa_matcher *m)
{
    static const char *const ops[] = {"=", "!=", "=~", "!~"};
    noa_buf_printf(b, "%s%s", m->name, ops[m->type]);
    go_quote(b, m->value, m->value_len);
}

static void label_filter(struct noa_buf *b, const struct noa_logql_label_filter *f)
{
    switch (f->kind) {
    case NOA_LOGQL_LF_AND:
    case NOA_LOGQL_LF_OR:
        noa_buf_append(b, "( ", 2);
        label_filter(b, f->left);
        noa_buf_printf(b, " %s ", f->kind == NOA_LOGQL_LF_AND ? "," : "or");
        label_filter(b, f->right);
        noa_buf_append(b, " )", 2);
        break;
    case NOA_LOGQL_LF_STRING:
        matcher(b, &f->matcher);
        break;
    case NOA_LOGQL_LF_NUMBER:
        noa_buf_printf(b, "%s%s", f->name, cmp_names[f->cmp]);
        go_float(b, f->number, 'f');
        break;
    case NOA_LOGQL_LF_DURATION:
        noa_buf_printf(b, "%s%s", f->name, cmp_names[f->cmp]);
        go_duration(b, f->duration_ns);
        break;
    case NOA_LOGQL_LF_BYTES:
        noa_buf_printf(b, "%s%s", f->name, cmp_names[f->cmp]);
        noa_humanize_bytes(f->bytes, 0, b); /* without the space, as Loki prints it */
        break;
    case NOA_LOGQL_LF_IP:
        noa_buf_printf(b, "%s%sip(", f->name, f->cmp == NOA_LOGQL_CMP_NEQ ? "!=" : "=");
        quote_str(b, &f->ip);
        noa_buf_putc(b, ')');
        break;
    }
}

static void extracts(struct noa_buf *b, const struct noa_logql_stage *s)
{
    for (unsigned i = 0; i < s->n_extracts; i++) {
        if (i)
            noa_buf_putc(b, ',');
        noa_buf_printf(b, "%s=", s->extracts[i].name);
        quote_str(b, &s->extracts[i].expr);
    }
}

static void stage(struct noa_buf *b, const struct noa_logql_stage *s)
{
    static const char *const line_ops[] = {"|=", "!=", "|~", "!~", "|>", "!>"};
    switch (s->kind) {
    case NOA_LOGQL_STAGE_LINE_FILTER:
        noa_buf_printf(b, "%s ", line_ops[s->line.op]);
        for (unsigned i = 0; i < s->line.n; i++) {
            if (i)
                noa_buf_append(b, " or ", 4);
            if (s->line.v[i].is_ip)
                noa_buf_append(b, "ip(", 3);
            quote_str(b, &s->line.v[i].value);
            if (s->line.v[i].is_ip)
                noa_buf_putc(b, ')');
        }
        break;
    case NOA_LOGQL_STAGE_JSON:
        noa_buf_append(b, "| json", 6);
        if (s->n_extracts) {
            noa_buf_putc(b, ' ');
            extracts(b, s);
        }
        break;
    case NOA_LOGQL_STAGE_LOGFMT:
        noa_buf_append(b, "| logfmt", 8);
        if (s->strict)
            noa_buf_append(b, " --strict", 9);
        if (s->keep_empty)
            noa_buf_append(b, " --keep-empty", 13);
        if (s->n_extracts) {
            noa_buf_putc(b, ' ');
            extracts(b, s);
        }
        break;
    case NOA_LOGQL_STAGE_REGEXP:
    case NOA_LOGQL_STAGE_PATTERN:
    case NOA_LOGQL_STAGE_LINE_FORMAT:
        noa_buf_printf(b, "| %s ", s->kind == NOA_LOGQL_STAGE_REGEXP    ? "regexp"
                                   : s->kind == NOA_LOGQL_STAGE_PATTERN ? "pattern"
                                                                        : "line_format");
        quote_str(b, &s->text);
        break;
    case NOA_LOGQL_STAGE_UNPACK:
        noa_buf_append(b, "| unpack", 8);
        break;
    case NOA_LOGQL_STAGE_DECOLORIZE:
        noa_buf_append(b, "| decolorize", 12);
        break;
    case NOA_LOGQL_STAGE_LABEL_FILTER:
        noa_buf_append(b, "| ", 2);
        label_filter(b, s->filter);
        break;
    case NOA_LOGQL_STAGE_LABEL_FORMAT:
        noa_buf_append(b, "| label_format ", 15);
        for (unsigned i = 0; i < s->n_fmts; i++) {
            if (i)
                noa_buf_putc(b, ',');
            noa_buf_printf(b, "%s=", s->fmts[i].dst);
            if (s->fmts[i].rename)
                noa_buf_append(b, s->fmts[i].value.p, s->fmts[i].value.len);
            else
                quote_str(b, &s->fmts[i].value);
        }
        break;
    case NOA_LOGQL_STAGE_DROP:
    case NOA_LOGQL_STAGE_KEEP:
        noa_buf_printf(b, "| %s ", s->kind == NOA_LOGQL_STAGE_DROP ? "drop" : "keep");
        for (unsigned i = 0; i < s->n_names; i++) {
            if (i)
                noa_buf_putc(b, ',');
            if (s->names[i].has_matcher)
                matcher(b, &s->names[i].matcher);
            else
                noa_buf_append(b, s->names[i].name, strlen(s->names[i].name));
        }
        break;
    }
}

static void log_expr(struct noa_buf *b, const struct noa_logql_expr *e)
{
    noa_buf_putc(b, '{');
    for (unsigned i = 0; i < e->selector.n; i++) {
        if (i)
            noa_buf_append(b, ", ", 2);
        matcher(b, &e->selector.m[i]);
    }
    noa_buf_putc(b, '}');
    for (unsigned i = 0; i < e->n_stages; i++) {
        noa_buf_putc(b, ' ');
        stage(b, &e->stages[i]);
    }
}

static void label_list(struct noa_buf *b, const struct noa_logql_labels *l)
{
    noa_buf_putc(b, '(');
    for (unsigned i = 0; i < l->n; i++) {
        if (i)
            noa_buf_putc(b, ',');
        noa_buf_append(b, l->v[i], strlen(l->v[i]));
    }
    noa_buf_putc(b, ')');
}

/* Loki's Grouping.String(); `by ()` prints nothing for vector
 * aggregations (same meaning as no clause) but is kept for range
 * aggregations, where dropping it would change the result. */
static void grouping(struct noa_buf *b, const struct noa_logql_grouping *g, int range)
{
    if (!g->present)
        return;
    if (g->without) {
        noa_buf_append(b, " without ", 9);
    } else if (g->labels.n > 0 || range) {
        noa_buf_append(b, " by ", 4);
    } else {
        return;
    }
    label_list(b, &g->labels);
}

static void expr(struct noa_buf *b, const struct noa_logql_expr *e);

static void range_agg(struct noa_buf *b, const struct noa_logql_expr *e)
{
    static const char *const convs[] = {"", "bytes", "duration", "duration_seconds"};
    noa_buf_printf(b, "%s(", noa_logql_range_op_name(e->range_op));
    if (e->has_param) {
        go_float(b, e->param, 'f');
        noa_buf_putc(b, ',');
    }
    log_expr(b, e->log);
    if (e->has_unwrap) {
        if (e->unwrap_conv != NOA_LOGQL_CONV_NONE)
            noa_buf_printf(b, " | unwrap %s(%s)", convs[e->unwrap_conv], e->unwrap_label);
        else
            noa_buf_printf(b, " | unwrap %s", e->unwrap_label);
        for (unsigned i = 0; i < e->n_post_filters; i++) {
            noa_buf_append(b, " | ", 3);
            label_filter(b, e->post_filters[i]);
        }
    }
    noa_buf_putc(b, '[');
    prom_duration(b, e->range_ns);
    noa_buf_putc(b, ']');
    if (e->offset_ns) {
        noa_buf_append(b, " offset ", 8);
        go_duration(b, e->offset_ns);
    }
    noa_buf_putc(b, ')');
    grouping(b, &e->grouping, 1);
}

static void binop(struct noa_buf *b, const struct noa_logql_expr *e)
{
    noa_buf_putc(b, '(');
    expr(b, e->lhs);
    noa_buf_printf(b, " %s", noa_logql_bin_op_name(e->bin_op));
    if (e->return_bool)
        noa_buf_append(b, " bool", 5);
    /* Loki writes "op on (l) <group>" and then " rhs", so without a group
     * there are two spaces; it drops a bare `ignoring ()` (a no-op), which
     * we keep only when a group modifier depends on it. */
    if (e->has_matching &&
        (e->on || e->matching.n > 0 || e->card != NOA_LOGQL_CARD_ONE_TO_ONE)) {
        noa_buf_append(b, e->on ? " on " : " ignoring ", e->on ? 4 : 10);
        label_list(b, &e->matching);
        noa_buf_putc(b, ' ');
        if (e->card != NOA_LOGQL_CARD_ONE_TO_ONE) {
            noa_buf_append(b, e->card == NOA_LOGQL_CARD_MANY_TO_ONE ? "group_left"
                                                                    : "group_right",
                           e->card == NOA_LOGQL_CARD_MANY_TO_ONE ? 10 : 11);
            if (e->has_include) {
                noa_buf_putc(b, ' ');
                label_list(b, &e->include);
            }
        }
    }
    noa_buf_putc(b, ' ');
    expr(b, e->rhs);
    noa_buf_putc(b, ')');
}

static void expr(struct noa_buf *b, const struct noa_logql_expr *e)
{
    switch (e->kind) {
    case NOA_LOGQL_LOG:
        log_expr(b, e);
        break;
    case NOA_LOGQL_RANGE_AGG:
        range_agg(b, e);
        break;
    case NOA_LOGQL_VECTOR_AGG:
        noa_buf_append(b, noa_logql_vector_op_name(e->vector_op),
                       strlen(noa_logql_vector_op_name(e->vector_op)));
        grouping(b, &e->grouping, 0);
        noa_buf_putc(b, '(');
        if (e->has_param)
            noa_buf_printf(b, "%lld,", (long long)e->param);
        expr(b, e->inner);
        noa_buf_putc(b, ')');
        break;
    case NOA_LOGQL_BINOP:
        binop(b, e);
        break;
    case NOA_LOGQL_LITERAL:
        /* Loki prints NaN/+Inf, which it cannot parse back; these folded
         * forms reparse to the same value. */
        if (isnan(e->value))
            noa_buf_append(b, "(0 / 0)", 7);
        else if (isinf(e->value))
            noa_buf_append(b, e->value > 0 ? "(2 ^ 1024)" : "(-2 ^ 1025)", e->value > 0 ? 10 : 11);
        else
            go_float(b, e->value, 'g');
        break;
    case NOA_LOGQL_VECTOR:
        noa_buf_printf(b, "vector(%f)", e->value);
        break;
    case NOA_LOGQL_LABEL_REPLACE:
        noa_buf_append(b, "label_replace(", 14);
        expr(b, e->inner);
        noa_buf_putc(b, ',');
        quote_str(b, &e->dst);
        noa_buf_putc(b, ',');
        quote_str(b, &e->replacement);
        noa_buf_putc(b, ',');
        quote_str(b, &e->src);
        noa_buf_putc(b, ',');
        quote_str(b, &e->regex);
        noa_buf_putc(b, ')');
        break;
    }
}

void noa_logql_format(const struct noa_logql_expr *e, struct noa_buf *out)
{
    expr(out, e);
}
