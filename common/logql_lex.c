/*
 * LogQL lexer: turns query text into tokens the way Loki's lex.go does on
 * top of Go's text/scanner (strings with Go escapes and raw strings,
 * numbers, durations, byte sizes, [range] literals, comments, keywords that
 * are case-insensitive, function words that are keywords only before '(').
 * Owns nothing but the token's string buffer. Pure; runs on any thread.
 */
#include "common/logql.h"
#include "common/humanize.h"
#include "common/labels.h"
#include "common/mem.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Always keywords, whatever follows (Loki's tokens table). */
static const char *const reserved[] = {
    "by",          "without",      "bool",        "json",   "logfmt", "regexp",
    "unpack",      "pattern",      "line_format", "label_format",     "decolorize",
    "drop",        "keep",         "unwrap",      "offset", "on",     "ignoring",
    "group_left",  "group_right",  "or",          "and",    "unless", NULL,
};

/* Keywords only before '(' or `by (` / `without (` (functionTokens). */
static const char *const functions[] = {
    "rate",          "rate_counter",     "count_over_time",  "bytes_rate",
    "bytes_over_time", "avg_over_time",  "sum_over_time",    "min_over_time",
    "max_over_time", "stdvar_over_time", "stddev_over_time", "quantile_over_time",
    "first_over_time", "last_over_time", "absent_over_time", "vector",
    "sum",           "avg",              "max",              "min",
    "count",         "stddev",           "stdvar",           "bottomk",
    "topk",          "sort",             "sort_desc",        "approx_topk",
    "label_replace", "bytes",            "duration",         "duration_seconds",
    "ip",            NULL,
};

static int lex_fail(struct noa_logql_lexer *lx, int line, int col, const char *msg)
{
    noa_error_set_at(lx->err, NOA_EINVAL, line, col, "parse error at line %d, col %d: %s", line,
                     col, msg);
    return NOA_EINVAL;
}

/* Advances one byte, keeping line/col (columns count characters, not
 * UTF-8 continuation bytes, as Go's scanner does). */
static void adv(struct noa_logql_lexer *lx)
{
    unsigned char c = (unsigned char)lx->q[lx->pos++];
    if (c == '\n') {
        lx->line++;
        lx->col = 1;
    } else if ((c & 0xC0) != 0x80) {
        lx->col++;
    }
}

static int peekc(const struct noa_logql_lexer *lx, size_t ahead)
{
    size_t i = lx->pos + ahead;
    return i < lx->len ? (unsigned char)lx->q[i] : -1;
}

static void skip_space(struct noa_logql_lexer *lx)
{
    while (lx->pos < lx->len) {
        int c = peekc(lx, 0);
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            adv(lx);
        } else if (c == '#' || (c == '/' && peekc(lx, 1) == '/')) {
            while (lx->pos < lx->len && peekc(lx, 0) != '\n')
                adv(lx);
        } else if (c == '/' && peekc(lx, 1) == '*') {
            adv(lx);
            adv(lx);
            while (lx->pos < lx->len && !(peekc(lx, 0) == '*' && peekc(lx, 1) == '/'))
                adv(lx);
            if (lx->pos < lx->len) {
                adv(lx);
                adv(lx);
            }
        } else {
            break;
        }
    }
}

static int is_ident_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static int is_ident_char(int c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static int in_list(const char *const *list, const char *w)
{
    for (unsigned i = 0; list[i]; i++)
        if (!strcmp(list[i], w))
            return 1;
    return 0;
}

/* 1 when the text at i (after spaces) is '(' or by/without then '('. */
static int function_follows(const struct noa_logql_lexer *lx, size_t i)
{
    while (i < lx->len && strchr(" \t\r\n", lx->q[i]))
        i++;
    if (i < lx->len && lx->q[i] == '(')
        return 1;
    size_t s = i;
    while (i < lx->len && is_ident_char((unsigned char)lx->q[i]))
        i++;
    size_t n = i - s;
    if (!((n == 2 && !strncasecmp(lx->q + s, "by", 2)) ||
          (n == 7 && !strncasecmp(lx->q + s, "without", 7))))
        return 0;
    while (i < lx->len && strchr(" \t\r\n", lx->q[i]))
        i++;
    return i < lx->len && lx->q[i] == '(';
}

/* ---- durations and bytes --------------------------------------------------- */

int noa_logql_lex_prom_duration(const char *s, size_t n, int64_t *ns)
{
    static const struct {
        const char *u;
        int64_t ms;
    } units[] = {{"y", 365LL * 86400000}, {"w", 7LL * 86400000}, {"d", 86400000},
                 {"h", 3600000},          {"m", 60000},          {"s", 1000},
                 {"ms", 1}};
    size_t i = 0;
    int next_unit = 0;
    int64_t total = 0;
    if (n == 1 && s[0] == '0') {
        *ns = 0;
        return 0;
    }
    if (n == 0)
        return NOA_EINVAL;
    while (i < n) {
        if (!isdigit((unsigned char)s[i]))
            return NOA_EINVAL;
        int64_t v = 0;
        while (i < n && isdigit((unsigned char)s[i])) {
            if (v > INT64_MAX / 10)
                return NOA_EINVAL;
            v = v * 10 + (s[i++] - '0');
        }
        size_t us = i;
        while (i < n && isalpha((unsigned char)s[i]))
            i++;
        int k = next_unit, found = -1;
        for (; k < 7; k++)
            if (strlen(units[k].u) == i - us && !memcmp(units[k].u, s + us, i - us)) {
                found = k;
                break;
            }
        if (found < 0)
            return NOA_EINVAL;
        if (v > INT64_MAX / 1000000 / units[found].ms)
            return NOA_EINVAL;
        total += v * units[found].ms;
        if (total > INT64_MAX / 1000000)
            return NOA_EINVAL;
        next_unit = found + 1;
    }
    *ns = total * 1000000;
    return 0;
}

int noa_logql_lex_go_duration(const char *s, size_t n, int64_t *ns)
{
    static const struct {
        const char *u;
        double mult;
    } units[] = {{"ns", 1},          {"us", 1e3},        {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3},
                 {"ms", 1e6},        {"s", 1e9},         {"m", 60e9},        {"h", 3600e9}};
    size_t i = 0;
    int neg = 0;
    double total = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    if (n - i == 1 && s[i] == '0') {
        *ns = 0;
        return 0;
    }
    if (i == n)
        return NOA_EINVAL;
    while (i < n) {
        size_t ds = i;
        while (i < n && (isdigit((unsigned char)s[i]) || s[i] == '.'))
            i++;
        if (i == ds || (i - ds == 1 && s[ds] == '.'))
            return NOA_EINVAL;
        char num[64];
        if (i - ds >= sizeof(num))
            return NOA_EINVAL;
        memcpy(num, s + ds, i - ds);
        num[i - ds] = 0;
        if (strchr(num, '.') != strrchr(num, '.'))
            return NOA_EINVAL;
        double v = strtod(num, NULL);
        size_t us = i;
        while (i < n && !isdigit((unsigned char)s[i]) && s[i] != '.')
            i++;
        int found = -1;
        for (unsigned k = 0; k < sizeof(units) / sizeof(units[0]); k++)
            if (strlen(units[k].u) == i - us && !memcmp(units[k].u, s + us, i - us))
                found = (int)k;
        if (found < 0)
            return NOA_EINVAL;
        total += v * units[found].mult;
        if (total > 9.2e18)
            return NOA_EINVAL;
    }
    *ns = (int64_t)llround(total) * (neg ? -1 : 1);
    return 0;
}

int noa_logql_lex_bytes(const char *s, size_t n, uint64_t *out)
{
    return noa_humanize_parse_bytes((struct noa_str){s, n}, out, NULL);
}

static int is_duration_char(int c)
{
    /* 0xc2/0xb5 and 0xce/0xbc: the two encodings of the micro sign. */
    return c && (strchr("nuµmshdwy", c) != NULL || c == 0xc2 || c == 0xb5 || c == 0xce ||
                 c == 0xbc);
}

static int is_bytes_char(int c)
{
    return c > 0 && strchr("BikKMGTP", c) != NULL;
}

/* ---- numbers ---------------------------------------------------------------- */

/* Scans a Go number literal at lx->pos; returns its end offset. */
static size_t scan_number(const struct noa_logql_lexer *lx, size_t i)
{
    const char *q = lx->q;
    if (i + 1 < lx->len && q[i] == '0' && (q[i + 1] == 'x' || q[i + 1] == 'X')) {
        i += 2;
        while (i < lx->len && (isxdigit((unsigned char)q[i]) || q[i] == '.' || q[i] == '_'))
            i++;
        if (i < lx->len && (q[i] == 'p' || q[i] == 'P')) {
            i++;
            if (i < lx->len && (q[i] == '+' || q[i] == '-'))
                i++;
            while (i < lx->len && isdigit((unsigned char)q[i]))
                i++;
        }
        return i;
    }
    while (i < lx->len && (isdigit((unsigned char)q[i]) || q[i] == '_'))
        i++;
    if (i < lx->len && q[i] == '.') {
        i++;
        while (i < lx->len && isdigit((unsigned char)q[i]))
            i++;
    }
    if (i < lx->len && (q[i] == 'e' || q[i] == 'E')) {
        size_t j = i + 1;
        if (j < lx->len && (q[j] == '+' || q[j] == '-'))
            j++;
        if (j < lx->len && isdigit((unsigned char)q[j])) {
            while (j < lx->len && isdigit((unsigned char)q[j]))
                j++;
            i = j;
        }
    }
    return i;
}

/* strconv.ParseFloat over [s, e): decimal and hex floats with a p exponent. */
static int parse_float(const char *s, size_t n, double *out)
{
    char stack[128];
    /* Long digit runs are valid Go floats; the query size bounds n. */
    char *buf = n < sizeof(stack) ? stack : noa_xmalloc(n + 1);
    int rc = NOA_EINVAL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != '_')
            buf[k++] = s[i];
    buf[k] = 0;
    int hex = k > 1 && buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X');
    if (n == 0 || (hex && !strpbrk(buf, "pP")))
        goto done; /* integer-only forms ParseFloat rejects */
    if (!hex && (strchr(buf, 'n') || strchr(buf, 'N') || strchr(buf, 'i') || strchr(buf, 'I')))
        goto done;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (*end || end == buf || (errno == ERANGE && isinf(v)))
        goto done;
    *out = v;
    rc = 0;
done:
    if (buf != stack)
        noa_free(buf);
    return rc;
}

/* After a number: a duration or byte-size suffix (no space) makes it a
 * DURATION/BYTES token. Returns 1 when t was set and the input consumed. */
static int try_unit(struct noa_logql_lexer *lx, size_t start, size_t num_end, int neg,
                    struct noa_logql_tok *t)
{
    int c = num_end < lx->len ? (unsigned char)lx->q[num_end] : 0;
    size_t e = num_end;
    if (is_duration_char(c)) {
        while (e < lx->len && (is_duration_char((unsigned char)lx->q[e]) ||
                               isdigit((unsigned char)lx->q[e]) || lx->q[e] == '.'))
            e++;
        size_t s = start + (neg ? 1 : 0);
        int64_t ns;
        if (noa_logql_lex_prom_duration(lx->q + s, e - s, &ns) < 0 &&
            noa_logql_lex_go_duration(lx->q + s, e - s, &ns) < 0)
            return 0;
        t->type = NOA_LOGQL_T_DURATION;
        t->duration_ns = neg ? -ns : ns;
    } else if (is_bytes_char(c) && !neg) {
        while (e < lx->len &&
               (is_bytes_char((unsigned char)lx->q[e]) || isdigit((unsigned char)lx->q[e]) ||
                lx->q[e] == '.'))
            e++;
        /* Sizes of an exabyte and more would print as "EB", which the
         * lexer cannot read back; no real query needs them. */
        if (noa_logql_lex_bytes(lx->q + start, e - start, &t->bytes) < 0 ||
            t->bytes >= 1000000000000000000ULL)
            return 0;
        t->type = NOA_LOGQL_T_BYTES;
    } else {
        return 0;
    }
    while (lx->pos < e)
        adv(lx);
    t->len = e - start;
    return 1;
}

static int lex_number(struct noa_logql_lexer *lx, struct noa_logql_tok *t)
{
    size_t start = lx->pos;
    size_t e = scan_number(lx, start);
    if (try_unit(lx, start, e, 0, t))
        return 0;
    if (parse_float(lx->q + start, e - start, &t->num) < 0) {
        noa_error_set_at(lx->err, NOA_EINVAL, 0, 0,
                         "parse error : unable to parse literal as a float: strconv.ParseFloat: "
                         "parsing \"%.*s\": invalid syntax",
                         (int)(e - start > 64 ? 64 : e - start), lx->q + start);
        return NOA_EINVAL;
    }
    while (lx->pos < e)
        adv(lx);
    t->type = NOA_LOGQL_T_NUMBER;
    t->len = e - start;
    return 0;
}

/* ---- strings ------------------------------------------------------------------ */

static int lex_string(struct noa_logql_lexer *lx, struct noa_logql_tok *t)
{
    char quote = lx->q[lx->pos];
    size_t i = lx->pos + 1;
    while (i < lx->len && lx->q[i] != quote) {
        if (quote == '"' && lx->q[i] == '\n')
            break;
        if (quote == '"' && lx->q[i] == '\\' && i + 1 < lx->len)
            i++;
        i++;
    }
    if (i >= lx->len || lx->q[i] != quote)
        return lex_fail(lx, t->line, t->col, "literal not terminated");
    if (!noa_utf8_valid(lx->q + lx->pos, i + 1 - lx->pos))
        return lex_fail(lx, t->line, t->col, "invalid UTF-8 encoding");
    size_t p = lx->pos;
    noa_buf_reset(&t->sval);
    if (quote == '`') {
        /* Go drops carriage returns from raw strings. */
        for (size_t k = p + 1; k < i; k++)
            if (lx->q[k] != '\r')
                noa_buf_putc(&t->sval, lx->q[k]);
    } else if (noa_labels_unquote(lx->q, lx->len, &p, &t->sval) < 0) {
        return lex_fail(lx, t->line, t->col, "invalid char escape");
    }
    while (lx->pos <= i)
        adv(lx);
    noa_buf_cstr(&t->sval);
    t->type = NOA_LOGQL_T_STRING;
    t->len = i + 1 - t->off;
    return 0;
}

/* [5m]: everything to ']' must be a Prometheus duration. */
static int lex_range(struct noa_logql_lexer *lx, struct noa_logql_tok *t)
{
    size_t s = lx->pos + 1, e = s;
    while (e < lx->len && lx->q[e] != ']')
        e++;
    if (e >= lx->len)
        return lex_fail(lx, t->line, t->col, "missing closing ']' in duration");
    if (noa_logql_lex_prom_duration(lx->q + s, e - s, &t->duration_ns) < 0) {
        char msg[160];
        size_t n = e - s > 60 ? 60 : e - s;
        snprintf(msg, sizeof(msg), "not a valid duration string: \"%.*s\"", (int)n, lx->q + s);
        return lex_fail(lx, t->line, t->col, msg);
    }
    while (lx->pos <= e)
        adv(lx);
    t->type = NOA_LOGQL_T_RANGE;
    t->len = e + 1 - t->off;
    return 0;
}

static void set_op(struct noa_logql_tok *t, const char *s, size_t n)
{
    size_t k;
    for (k = 0; k < n && k + 1 < sizeof(t->op); k++)
        t->op[k] = (char)tolower((unsigned char)s[k]);
    t->op[k] = 0;
}

int noa_logql_lex_next(struct noa_logql_lexer *lx, struct noa_logql_tok *t)
{
    static const char *const two[] = {"!=", "=~", "!~", "|=", "|~", "|>", "!>",
                                      "==", ">=", "<=", NULL};
    skip_space(lx);
    t->off = lx->pos;
    t->line = lx->line;
    t->col = lx->col;
    t->op[0] = 0;
    t->len = 0;
    if (lx->pos >= lx->len) {
        t->type = NOA_LOGQL_T_EOF;
        return 0;
    }
    int c = peekc(lx, 0), c1 = peekc(lx, 1);
    if (c == '"' || c == '`')
        return lex_string(lx, t);
    if (c == '[')
        return lex_range(lx, t);
    if (isdigit(c) || (c == '.' && c1 >= 0 && isdigit(c1)))
        return lex_number(lx, t);
    if (c == '-' && c1 >= 0 && isdigit(c1)) {
        /* A negative duration is one token; anything else is a minus. */
        size_t e = scan_number(lx, lx->pos + 1);
        if (try_unit(lx, lx->pos, e, 1, t))
            return 0;
    }
    if (c == '-' && c1 == '-') {
        static const char *const flags[] = {"--strict", "--keep-empty", NULL};
        for (unsigned k = 0; flags[k]; k++) {
            size_t n = strlen(flags[k]);
            if (lx->pos + n <= lx->len && !memcmp(lx->q + lx->pos, flags[k], n) &&
                (lx->pos + n == lx->len || !is_ident_char((unsigned char)lx->q[lx->pos + n]))) {
                for (size_t j = 0; j < n; j++)
                    adv(lx);
                t->type = NOA_LOGQL_T_KEYWORD;
                set_op(t, flags[k], n);
                t->len = n;
                return 0;
            }
        }
    }
    if (is_ident_start(c)) {
        size_t s = lx->pos;
        while (lx->pos < lx->len && is_ident_char(peekc(lx, 0)))
            adv(lx);
        t->len = lx->pos - s;
        t->type = NOA_LOGQL_T_IDENT;
        if (t->len < sizeof(t->op)) {
            char w[sizeof(t->op)];
            for (size_t k = 0; k < t->len; k++)
                w[k] = (char)tolower((unsigned char)lx->q[s + k]);
            w[t->len] = 0;
            if (in_list(reserved, w)) {
                t->type = NOA_LOGQL_T_KEYWORD;
                memcpy(t->op, w, t->len + 1);
            } else if (in_list(functions, w) && function_follows(lx, lx->pos)) {
                t->type = NOA_LOGQL_T_FUNCTION;
                memcpy(t->op, w, t->len + 1);
            }
        }
        return 0;
    }
    for (unsigned k = 0; two[k]; k++) {
        if (c == two[k][0] && c1 == two[k][1]) {
            adv(lx);
            adv(lx);
            t->type = NOA_LOGQL_T_PUNCT;
            set_op(t, two[k], 2);
            t->len = 2;
            return 0;
        }
    }
    if (strchr("=><+-*/%^|,.{}()]", c)) {
        adv(lx);
        t->type = NOA_LOGQL_T_PUNCT;
        t->op[0] = (char)c;
        t->op[1] = 0;
        t->len = 1;
        return 0;
    }
    char msg[64];
    snprintf(msg, sizeof(msg), "syntax error: unexpected %c", c >= 0x20 && c < 0x7f ? c : '?');
    return lex_fail(lx, t->line, t->col, msg);
}
