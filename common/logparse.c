/*
 * Parser stages of the log pipeline (see logparse.h): json (flattening
 * and path expressions), logfmt (Loki's adaptation of go-logfmt's
 * decoder), regexp (named captures), pattern and unpack. The JSON reader
 * is a small validating scanner of our own because Loki keeps numbers as
 * their source text and lets the first of duplicate keys win, which a DOM
 * library would hide. A parser owns scratch buffers reused per line, so an
 * instance belongs to one thread.
 */
#include "common/logparse.h"
#include "common/labels.h"
#include "common/mem.h"
#include "common/regex.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define JSON_MAX_DEPTH 128 /* nesting bound: deeper lines are a parse error */

struct noa_logparse {
    enum noa_logparse_kind kind;
    int strict, keep_empty;
    struct noa_logparse_extract *ex; /* owned copies (strings in exbuf) */
    unsigned nex;
    char *exbuf;
    struct jpath *paths; /* json expressions, one per ex */
    struct noa_regex *re;
    unsigned ngroups;
    struct noa_str *gname; /* sanitized names, gname[i].p NULL when unnamed */
    char *gnamebuf;
    struct noa_pattern pat;
};

/* ---- shared helpers ---- */

/* Length of the UTF-8 sequence at p (1 for an invalid byte); *ok says
 * whether it was valid and not U+FFFD. */
static size_t utf8_len(const unsigned char *p, size_t n, int *ok)
{
    *ok = 0;
    if (p[0] < 0x80) {
        *ok = 1;
        return 1;
    }
    size_t len = p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC2 ? 2 : 0;
    if (!len || len > n || p[0] > 0xF4)
        return 1;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 1;
    uint32_t cp = len == 2   ? (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F)
                  : len == 3 ? (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 |
                                   (p[2] & 0x3F)
                             : (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 |
                                   (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 1;
    *ok = cp != 0xFFFD;
    return len;
}

/* Copies s into out, turning invalid UTF-8 bytes and U+FFFD into spaces
 * (Prometheus rejects them in label values). Returns the clean view,
 * which is s itself when nothing needed replacing. */
static struct noa_str clean_value(struct noa_str s, struct noa_buf *out)
{
    size_t i = 0;
    int ok = 1;
    while (i < s.len) {
        size_t l = utf8_len((const unsigned char *)s.p + i, s.len - i, &ok);
        if (!ok)
            break;
        i += l;
    }
    if (i >= s.len)
        return s;
    noa_buf_reset(out);
    noa_buf_append(out, s.p, i);
    while (i < s.len) {
        size_t l = utf8_len((const unsigned char *)s.p + i, s.len - i, &ok);
        if (ok)
            noa_buf_append(out, s.p + i, l);
        else
            noa_buf_putc(out, ' ');
        i += l;
    }
    return (struct noa_str){out->data, out->len};
}

static int is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

void noa_logparse_sanitize(struct noa_str key, int prefix_digit, struct noa_buf *out)
{
    noa_buf_reset(out);
    const char *p = key.p;
    size_t n = key.len;
    while (n && is_space((unsigned char)p[0])) {
        p++;
        n--;
    }
    while (n && is_space((unsigned char)p[n - 1]))
        n--;
    if (!n)
        return;
    if (prefix_digit && p[0] >= '0' && p[0] <= '9')
        noa_buf_putc(out, '_');
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)p[i];
        if (isalnum(c) && c < 0x80) {
            noa_buf_putc(out, (char)c);
            i++;
            continue;
        }
        int ok;
        noa_buf_putc(out, '_');
        i += utf8_len((const unsigned char *)p + i, n - i, &ok);
    }
}

static struct noa_str bstr(const struct noa_buf *b)
{
    return (struct noa_str){b->data, b->len};
}

static void set_error(struct noa_lbuilder *lb, const char *err, const char *details)
{
    noa_lbuilder_set_err(lb, noa_str_c(err), noa_str_c(details));
}

/* One run of a parser: the immutable configuration plus the scratch
 * buffers, which live in the caller's label builder so that a compiled
 * parser can be shared by threads that each own a builder. */
struct lp_run {
    const struct noa_logparse *cfg;
    struct noa_buf *key, *val, *name, *tmp, *line;
    struct noa_buf *line_out; /* unpack's new line: not the one being read */
    struct noa_buf *misc;     /* ex_done flags / regex groups */
    uint8_t *ex_done;
    struct noa_str *groups;
};

/* ---- pattern language ---- */

static int ident_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int ident_char(unsigned char c)
{
    return ident_start(c) || (c >= '0' && c <= '9');
}

/* Length of a capture `<name>` at p, 0 when p does not start one. */
static size_t capture_len(const char *p, size_t n)
{
    if (n < 3 || p[0] != '<' || !ident_start((unsigned char)p[1]))
        return 0;
    size_t i = 2;
    while (i < n && ident_char((unsigned char)p[i]))
        i++;
    return i < n && p[i] == '>' ? i + 1 : 0;
}

int noa_logparse_pattern_compile(struct noa_str src, int for_line_filter, struct noa_pattern *out,
                                 struct noa_error *err)
{
    int rc = 0;
    memset(out, 0, sizeof(*out));
    out->src = noa_xstrndup(src.p ? src.p : "", src.len);
    out->node = noa_xcalloc(src.len + 1, sizeof(*out->node));
    const char *p = out->src;
    size_t n = src.len;
    for (size_t i = 0; i < n;) {
        size_t cl = capture_len(p + i, n - i);
        struct noa_pattern_node *prev = out->n ? &out->node[out->n - 1] : NULL;
        if (!cl) {
            if (prev && prev->kind == NOA_PATTERN_LIT) {
                prev->text.len++;
            } else {
                out->node[out->n++] = (struct noa_pattern_node){NOA_PATTERN_LIT, {p + i, 1}};
            }
            i++;
            continue;
        }
        struct noa_str name = {p + i + 1, cl - 2};
        int skip = noa_str_eq_c(name, "_");
        if (prev && prev->kind != NOA_PATTERN_LIT) {
            rc = noa_error_set(err, NOA_EINVAL, "found consecutive capture: invalid expression");
            goto fail;
        }
        if (!skip && for_line_filter) {
            rc = noa_error_set(err, NOA_EINVAL, "named captures are not allowed");
            goto fail;
        }
        for (unsigned k = 0; !skip && k < out->n; k++) {
            if (out->node[k].kind == NOA_PATTERN_CAPTURE && noa_str_eq(out->node[k].text, name)) {
                rc = noa_error_set(err, NOA_EINVAL, "duplicate capture name (%.*s): invalid expression",
                                   (int)name.len, name.p);
                goto fail;
            }
        }
        out->node[out->n++] =
            (struct noa_pattern_node){skip ? NOA_PATTERN_SKIP : NOA_PATTERN_CAPTURE, name};
        if (!skip)
            out->ncaptures++;
        i += cl;
    }
    if (!for_line_filter && out->ncaptures == 0) {
        rc = noa_error_set(err, NOA_EINVAL, "at least one capture is required");
        goto fail;
    }
    return 0;
fail:
    noa_logparse_pattern_fini(out);
    return rc;
}

void noa_logparse_pattern_fini(struct noa_pattern *p)
{
    noa_free(p->src);
    noa_free(p->node);
    memset(p, 0, sizeof(*p));
}

int noa_logparse_pattern_test(const struct noa_pattern *p, const char *line, size_t len)
{
    if (len == 0 || p->n == 0)
        return len == 0 && p->n == 0;
    size_t off = 0;
    for (unsigned i = 0; i < p->n; i++) {
        const struct noa_pattern_node *nd = &p->node[i];
        if (nd->kind != NOA_PATTERN_LIT)
            continue;
        const char *hit = memmem(line + off, len - off, nd->text.p, nd->text.len);
        if (!hit)
            return 0;
        size_t j = (size_t)(hit - (line + off));
        /* A literal right at the cursor (after the first node) means an
         * empty capture between literals: no match. */
        if (i != 0 && j == 0)
            return 0;
        off += j + nd->text.len;
    }
    int ends_lit = p->node[p->n - 1].kind == NOA_PATTERN_LIT;
    return (len - off == 0) == ends_lit;
}

static void run_pattern(struct lp_run *ps, struct noa_str line, struct noa_lbuilder *lb)
{
    const struct noa_pattern *p = &ps->cfg->pat;
    if (line.len == 0)
        return;
    size_t pos = 0;
    unsigned i = 0;
    if (p->node[0].kind == NOA_PATTERN_LIT) {
        struct noa_str lit = p->node[0].text;
        if (line.len < lit.len || memcmp(line.p, lit.p, lit.len))
            return;
        pos = lit.len;
        i = 1;
    }
    for (; i < p->n; i++) {
        const struct noa_pattern_node *cap = &p->node[i];
        if (cap->kind == NOA_PATTERN_LIT)
            continue; /* consumed with the capture before it */
        struct noa_str val = {line.p + pos, line.len - pos};
        int stop = 1;
        if (i + 1 < p->n) {
            struct noa_str lit = p->node[i + 1].text;
            const char *hit = memmem(line.p + pos, line.len - pos, lit.p, lit.len);
            if (hit) {
                val.len = (size_t)(hit - (line.p + pos));
                pos += val.len + lit.len;
                stop = 0;
            }
        }
        if (cap->kind == NOA_PATTERN_CAPTURE)
            noa_lbuilder_set_parsed(lb, cap->text, clean_value(val, ps->val));
        if (stop)
            return;
    }
}

/* ---- JSON scanning ---- */

#define JERR_OBJ "Value looks like object, but can't find closing '}' symbol"
#define JERR_STR "Value looks like string, but can't find closing '\"' symbol"
#define JERR_ARR "Value is array, but can't find closing ']' symbol"
#define JERR_LIT "Value looks like Number/Boolean/None, but can't find its end: ',' or '}' symbol"
#define JERR_DEEP "Malformed JSON error: nesting too deep"
#define JERR_UNKNOWN "Unknown value type"

struct jscan {
    const char *p;
    size_t n, i;
    const char *err; /* first error, NULL while fine */
};

static int jfail(struct jscan *s, const char *msg)
{
    if (!s->err)
        s->err = msg;
    return -1;
}

static void jws(struct jscan *s)
{
    while (s->i < s->n && (s->p[s->i] == ' ' || s->p[s->i] == '\t' || s->p[s->i] == '\n' ||
                           s->p[s->i] == '\r'))
        s->i++;
}

/* At '"': *raw gets the bytes between the quotes, *esc whether any
 * backslash occurs; the cursor moves past the closing quote. */
static int jstring(struct jscan *s, struct noa_str *raw, int *esc)
{
    size_t start = ++s->i;
    *esc = 0;
    while (s->i < s->n) {
        char c = s->p[s->i];
        if (c == '\\') {
            *esc = 1;
            s->i += 2;
            continue;
        }
        if (c == '"') {
            *raw = (struct noa_str){s->p + start, s->i - start};
            s->i++;
            return 0;
        }
        s->i++;
    }
    s->i = s->n;
    return jfail(s, JERR_STR);
}

static int read_u4(const char *p, size_t n, uint32_t *out)
{
    if (n < 4)
        return -1;
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        int h = noa_hexval((unsigned char)p[k]);
        if (h < 0)
            return -1;
        v = v << 4 | (uint32_t)h;
    }
    *out = v;
    return 0;
}

static void put_utf8(struct noa_buf *b, uint32_t cp)
{
    char t[4];
    size_t n;
    if (cp < 0x80) {
        t[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        t[0] = (char)(0xC0 | cp >> 6);
        t[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        t[0] = (char)(0xE0 | cp >> 12);
        t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        t[0] = (char)(0xF0 | cp >> 18);
        t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        t[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    noa_buf_append(b, t, n);
}

/* Decodes JSON string escapes of raw into out (reset first). Unknown
 * escapes fail; a lone surrogate becomes U+FFFD; raw control bytes pass
 * (Loki's logfmt keeps literal newlines inside quotes). */
static int unescape(struct noa_str raw, struct noa_buf *out)
{
    noa_buf_reset(out);
    for (size_t i = 0; i < raw.len; i++) {
        char c = raw.p[i];
        if (c != '\\') {
            noa_buf_putc(out, c);
            continue;
        }
        if (++i >= raw.len)
            return -1;
        switch (raw.p[i]) {
        case '"': noa_buf_putc(out, '"'); break;
        case '\\': noa_buf_putc(out, '\\'); break;
        case '/': noa_buf_putc(out, '/'); break;
        case 'b': noa_buf_putc(out, '\b'); break;
        case 'f': noa_buf_putc(out, '\f'); break;
        case 'n': noa_buf_putc(out, '\n'); break;
        case 'r': noa_buf_putc(out, '\r'); break;
        case 't': noa_buf_putc(out, '\t'); break;
        case 'u': {
            uint32_t cp, lo;
            if (read_u4(raw.p + i + 1, raw.len - i - 1, &cp))
                return -1;
            i += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && i + 2 < raw.len && raw.p[i + 1] == '\\' &&
                raw.p[i + 2] == 'u' && !read_u4(raw.p + i + 3, raw.len - i - 3, &lo) &&
                lo >= 0xDC00 && lo < 0xE000) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            } else if (cp >= 0xD800 && cp < 0xE000) {
                cp = 0xFFFD;
            }
            put_utf8(out, cp);
            break;
        }
        default:
            return -1;
        }
    }
    return 0;
}

/* Scans a number, true, false or null; *raw gets its text. */
static int jliteral(struct jscan *s, struct noa_str *raw)
{
    size_t st = s->i;
    const char *p = s->p;
    if (s->n - st >= 4 && (!memcmp(p + st, "true", 4) || !memcmp(p + st, "null", 4)))
        s->i += 4;
    else if (s->n - st >= 5 && !memcmp(p + st, "false", 5))
        s->i += 5;
    else if (p[st] == '-' || isdigit((unsigned char)p[st])) {
        /* Like Loki's JSON reader, a number is taken up to the next
         * delimiter without checking its grammar ("01" stays "01"). */
        size_t i = st + 1;
        while (i < s->n && !strchr(" \t\r\n,}]", p[i]))
            i++;
        s->i = i;
    } else {
        return jfail(s, JERR_UNKNOWN);
    }
    /* A literal must end at a delimiter, not run into letters. */
    if (s->i < s->n && !strchr(" \t\r\n,}]", s->p[s->i]))
        return jfail(s, JERR_LIT);
    *raw = (struct noa_str){p + st, s->i - st};
    return 0;
}

/* Skips one value at the cursor, validating it. */
static int jskip(struct jscan *s, int depth)
{
    struct noa_str raw;
    int esc;
    jws(s);
    if (s->i >= s->n)
        return jfail(s, JERR_UNKNOWN);
    if (depth > JSON_MAX_DEPTH)
        return jfail(s, JERR_DEEP);
    char c = s->p[s->i];
    if (c == '"')
        return jstring(s, &raw, &esc);
    if (c != '{' && c != '[')
        return jliteral(s, &raw);
    char close = c == '{' ? '}' : ']';
    const char *err = c == '{' ? JERR_OBJ : JERR_ARR;
    s->i++;
    jws(s);
    if (s->i < s->n && s->p[s->i] == close) {
        s->i++;
        return 0;
    }
    for (;;) {
        jws(s);
        if (c == '{') {
            if (s->i >= s->n || s->p[s->i] != '"' || jstring(s, &raw, &esc))
                return jfail(s, err);
            jws(s);
            if (s->i >= s->n || s->p[s->i] != ':')
                return jfail(s, err);
            s->i++;
        }
        if (jskip(s, depth + 1))
            return -1;
        jws(s);
        if (s->i >= s->n)
            return jfail(s, err);
        if (s->p[s->i] == ',') {
            s->i++;
            continue;
        }
        if (s->p[s->i] == close) {
            s->i++;
            return 0;
        }
        return jfail(s, err);
    }
}

/* Iterates the members of the object at the cursor ('{'): calls member
 * with the cursor on each value, which must consume it. */
static int jobject(struct jscan *s, int (*member)(void *ctx, struct jscan *s, struct noa_str key,
                                                  int esc, int depth),
                   void *ctx, int depth)
{
    struct noa_str key;
    int esc;
    if (depth > JSON_MAX_DEPTH)
        return jfail(s, JERR_DEEP);
    if (s->i >= s->n || s->p[s->i] != '{')
        return jfail(s, JERR_OBJ);
    s->i++;
    jws(s);
    if (s->i < s->n && s->p[s->i] == '}') {
        s->i++;
        return 0;
    }
    for (;;) {
        jws(s);
        if (s->i >= s->n || s->p[s->i] != '"' || jstring(s, &key, &esc))
            return jfail(s, JERR_OBJ);
        jws(s);
        if (s->i >= s->n || s->p[s->i] != ':')
            return jfail(s, JERR_OBJ);
        s->i++;
        jws(s);
        if (s->i >= s->n)
            return jfail(s, JERR_OBJ);
        if (member(ctx, s, key, esc, depth))
            return -1;
        jws(s);
        if (s->i < s->n && s->p[s->i] == ',') {
            s->i++;
            continue;
        }
        if (s->i < s->n && s->p[s->i] == '}') {
            s->i++;
            return 0;
        }
        return jfail(s, JERR_OBJ);
    }
}

/* ---- | json (no arguments): flatten ---- */

struct jflat {
    struct lp_run *ps;
    struct noa_lbuilder *lb;
};

static int jflat_member(void *ctx, struct jscan *s, struct noa_str key, int esc, int depth)
{
    struct jflat *f = ctx;
    struct lp_run *ps = f->ps;
    char c = s->p[s->i];
    if (c == '[')
        return jskip(s, depth + 1); /* arrays are skipped at every depth */
    if (esc) {
        if (unescape(key, ps->tmp))
            return jfail(s, JERR_OBJ);
        key = bstr(ps->tmp);
    }
    /* Only the first part of a path gets the leading-digit prefix. */
    noa_logparse_sanitize(key, ps->name->len == 0, ps->key);
    size_t saved = ps->name->len;
    if (ps->key->len) {
        if (ps->name->len)
            noa_buf_putc(ps->name, '_');
        noa_buf_append(ps->name, ps->key->data, ps->key->len);
    }
    int rc = 0;
    if (c == '{') {
        rc = jobject(s, jflat_member, f, depth + 1);
    } else if (c == '"') {
        struct noa_str raw;
        int vesc;
        rc = jstring(s, &raw, &vesc);
        if (!rc && vesc) /* a bad escape yields "", as Loki's unescape does */
            raw = unescape(raw, ps->val) ? (struct noa_str){"", 0} : bstr(ps->val);
        if (!rc)
            noa_lbuilder_add_parsed(f->lb, bstr(ps->name), clean_value(raw, ps->line));
    } else {
        struct noa_str raw;
        rc = jliteral(s, &raw);
        if (!rc && !noa_str_eq_c(raw, "null"))
            noa_lbuilder_add_parsed(f->lb, bstr(ps->name), raw);
    }
    ps->name->len = saved;
    return rc;
}

static void run_json(struct lp_run *ps, struct noa_str line, struct noa_lbuilder *lb)
{
    struct jscan s = {line.p, line.len, 0, NULL};
    struct jflat f = {ps, lb};
    noa_buf_reset(ps->name);
    jws(&s);
    if (s.i >= s.n || s.p[s.i] != '{')
        jfail(&s, JERR_OBJ);
    else
        jobject(&s, jflat_member, &f, 0);
    if (s.err)
        set_error(lb, NOA_LB_ERR_JSON, s.err);
}

/* ---- | json a="path" (expressions) ---- */

struct jstep {
    int is_index;
    size_t index;
    struct noa_str key; /* borrowed from the parser's exbuf */
};

struct jpath {
    struct jstep *step; /* owned */
    unsigned n;
};

static int path_ident(unsigned char c)
{
    return isalnum(c) || c == '_' || c >= 0x80;
}

/* Parses `a.b["c"][0]`; -1 on a syntax error. */
static int jpath_parse(struct noa_str e, struct jpath *out)
{
    out->step = noa_xcalloc(e.len + 1, sizeof(*out->step));
    out->n = 0;
    size_t i = 0;
    if (e.len == 0)
        return -1;
    while (i < e.len) {
        struct jstep st = {0};
        char c = e.p[i];
        if (c == '.' || (i == 0 && path_ident((unsigned char)c))) {
            if (c == '.')
                i++;
            size_t b = i;
            while (i < e.len && path_ident((unsigned char)e.p[i]))
                i++;
            if (i == b)
                return -1;
            st.key = (struct noa_str){e.p + b, i - b};
        } else if (c == '[' && i + 1 < e.len && e.p[i + 1] == '"') {
            size_t b = i + 2, k = b;
            while (k < e.len && e.p[k] != '"')
                k++;
            if (k + 1 >= e.len || e.p[k + 1] != ']')
                return -1;
            st.key = (struct noa_str){e.p + b, k - b};
            i = k + 2;
        } else if (c == '[') {
            size_t k = i + 1;
            while (k < e.len && isdigit((unsigned char)e.p[k])) {
                if (st.index > 100000000)
                    return -1;
                st.index = st.index * 10 + (size_t)(e.p[k] - '0');
                k++;
            }
            if (k == i + 1 || k >= e.len || e.p[k] != ']')
                return -1;
            st.is_index = 1;
            i = k + 1;
        } else {
            return -1;
        }
        out->step[out->n++] = st;
    }
    return 0;
}

struct jeval {
    struct lp_run *ps;
    const struct jpath *path;
    unsigned k;          /* step being matched */
    int found;           /* 1 once the value was located */
    struct noa_str val;  /* the located value's raw text */
};

static int jeval_value(struct jeval *ev, struct jscan *s, int depth);

static int jeval_member(void *ctx, struct jscan *s, struct noa_str key, int esc, int depth)
{
    struct jeval *ev = ctx;
    const struct jstep *st = &ev->path->step[ev->k];
    if (!ev->found && !st->is_index) {
        if (esc) {
            if (unescape(key, ev->ps->tmp))
                return jfail(s, JERR_OBJ);
            key = bstr(ev->ps->tmp);
        }
        if (noa_str_eq(key, st->key)) {
            ev->k++;
            int rc = jeval_value(ev, s, depth + 1);
            if (!ev->found)
                ev->k--;
            return rc;
        }
    }
    return jskip(s, depth + 1);
}

/* With the cursor on a value: matches the remaining steps inside it. */
static int jeval_value(struct jeval *ev, struct jscan *s, int depth)
{
    jws(s);
    if (ev->k == ev->path->n) {
        size_t st = s->i;
        if (jskip(s, depth))
            return -1;
        ev->found = 1;
        ev->val = (struct noa_str){s->p + st, s->i - st};
        return 0;
    }
    if (s->i >= s->n)
        return jfail(s, JERR_UNKNOWN);
    const struct jstep *step = &ev->path->step[ev->k];
    if (s->p[s->i] == '{' && !step->is_index)
        return jobject(s, jeval_member, ev, depth);
    if (s->p[s->i] != '[' || !step->is_index)
        return jskip(s, depth);
    if (depth > JSON_MAX_DEPTH)
        return jfail(s, JERR_DEEP);
    s->i++;
    jws(s);
    if (s->i < s->n && s->p[s->i] == ']') {
        s->i++;
        return 0;
    }
    for (size_t idx = 0;; idx++) {
        int rc;
        if (idx == step->index && !ev->found) {
            ev->k++;
            rc = jeval_value(ev, s, depth + 1);
            if (!ev->found)
                ev->k--;
        } else {
            rc = jskip(s, depth + 1);
        }
        if (rc)
            return rc;
        jws(s);
        if (s->i < s->n && s->p[s->i] == ',') {
            s->i++;
            continue;
        }
        if (s->i < s->n && s->p[s->i] == ']') {
            s->i++;
            return 0;
        }
        return jfail(s, JERR_ARR);
    }
}

static void run_json_expr(struct lp_run *ps, struct noa_str line, struct noa_lbuilder *lb)
{
    if (line.len == 0)
        return;
    if (line.p[0] != '{' && line.p[0] != '[' && line.p[0] != '"') {
        set_error(lb, NOA_LB_ERR_JSON, "");
        return;
    }
    for (unsigned e = 0; e < ps->cfg->nex; e++) {
        struct jscan s = {line.p, line.len, 0, NULL};
        struct jeval ev = {ps, &ps->cfg->paths[e], 0, 0, {NULL, 0}};
        if (jeval_value(&ev, &s, 0)) {
            set_error(lb, NOA_LB_ERR_JSON, s.err ? s.err : "");
            return;
        }
        struct noa_str v = {"", 0};
        if (ev.found && ev.val.len && ev.val.p[0] == '"') {
            struct noa_str raw = {ev.val.p + 1, ev.val.len - 2};
            if (memchr(raw.p, '\\', raw.len) && !unescape(raw, ps->val))
                raw = bstr(ps->val);
            v = clean_value(raw, ps->line);
        } else if (ev.found && !noa_str_eq_c(ev.val, "null")) {
            v = ev.val;
        }
        noa_lbuilder_set_parsed(lb, ps->cfg->ex[e].name, v);
    }
}

/* ---- | unpack ---- */

struct junpack {
    struct lp_run *ps;
    struct noa_lbuilder *lb; /* NULL on the first pass */
    int has_entry;
};

static int junpack_member(void *ctx, struct jscan *s, struct noa_str key, int esc, int depth)
{
    struct junpack *u = ctx;
    struct lp_run *ps = u->ps;
    if (s->p[s->i] != '"')
        return jskip(s, depth + 1); /* only string values are unpacked */
    struct noa_str raw;
    int vesc;
    if (jstring(s, &raw, &vesc))
        return -1;
    if (esc) {
        if (unescape(key, ps->tmp))
            return jfail(s, JERR_OBJ);
        key = bstr(ps->tmp);
    }
    int is_entry = noa_str_eq_c(key, "_entry");
    if (!u->lb) {
        if (is_entry) { /* a repeated _entry overwrites, as Loki's loop does */
            u->has_entry = 1;
            if (vesc && unescape(raw, ps->line_out))
                return jfail(s, JERR_STR);
            if (!vesc) {
                noa_buf_reset(ps->line_out);
                noa_buf_append(ps->line_out, raw.p, raw.len);
            }
        }
        return 0;
    }
    if (is_entry)
        return 0;
    if (vesc) {
        if (unescape(raw, ps->val))
            return jfail(s, JERR_STR);
        raw = bstr(ps->val);
    }
    noa_logparse_sanitize(key, 1, ps->key);
    if (ps->key->len)
        noa_lbuilder_add_parsed(u->lb, bstr(ps->key), clean_value(raw, ps->name));
    return 0;
}

static void run_unpack(struct lp_run *ps, struct noa_str *line, struct noa_lbuilder *lb)
{
    if (line->len == 0)
        return;
    struct jscan s = {line->p, line->len, 0, NULL};
    struct junpack u = {ps, NULL, 0};
    if (line->p[0] != '{') { /* the first byte, no whitespace allowed */
        set_error(lb, NOA_LB_ERR_JSON, "expecting json object(6), but it is not");
        return;
    }
    size_t start = s.i;
    if (jobject(&s, junpack_member, &u, 0)) {
        set_error(lb, NOA_LB_ERR_JSON, s.err ? s.err : JERR_OBJ);
        return;
    }
    if (!u.has_entry)
        return;
    s.i = start;
    u.lb = lb;
    jobject(&s, junpack_member, &u, 0);
    *line = bstr(ps->line_out);
}

/* ---- | logfmt ---- */

struct lfdec {
    const char *p;
    size_t n, pos;
    struct noa_str key, val;
    int err_pos; /* 1-based position of the last error, 0 when none */
    char err[64];
};

static int lf_error(struct lfdec *d, const char *msg)
{
    d->err_pos = (int)d->pos + 1;
    snprintf(d->err, sizeof(d->err), "%s", msg);
    return 0;
}

static int lf_unexpected(struct lfdec *d, char c)
{
    d->err_pos = (int)d->pos + 1;
    snprintf(d->err, sizeof(d->err), "unexpected '%c'", c);
    return 0;
}

static int key_invalid(struct noa_str k)
{
    for (size_t i = 0; i < k.len;) {
        int ok;
        i += utf8_len((const unsigned char *)k.p + i, k.len - i, &ok);
        if (!ok)
            return 1;
    }
    return 0;
}

/* Moves past the rest of a bad value (to the next whitespace). */
static int lf_skip(struct lfdec *d)
{
    while (d->pos < d->n && (unsigned char)d->p[d->pos] > ' ')
        d->pos++;
    return 0;
}

/* go-logfmt's ScanKeyval as Loki adapted it: 1 with key/val set, 0 at the
 * end of the line or on a syntax error (err_pos set). A quoted value with
 * escapes is decoded into vbuf. */
static int lf_scan(struct lfdec *d, struct noa_buf *vbuf)
{
    d->key = d->val = (struct noa_str){NULL, 0};
    while (d->pos < d->n && (unsigned char)d->p[d->pos] <= ' ')
        d->pos++;
    if (d->pos >= d->n)
        return 0;
    size_t start = d->pos;
    for (;;) {
        if (d->pos >= d->n) {
            d->key = (struct noa_str){d->p + start, d->pos - start};
            return key_invalid(d->key) ? lf_error(d, "invalid key") : 1;
        }
        unsigned char c = (unsigned char)d->p[d->pos];
        if (c == '=') {
            if (d->pos == start) {
                lf_unexpected(d, '=');
                return lf_skip(d);
            }
            d->key = (struct noa_str){d->p + start, d->pos - start};
            if (key_invalid(d->key)) {
                lf_error(d, "invalid key");
                return lf_skip(d);
            }
            break;
        }
        if (c == '"') {
            lf_unexpected(d, '"');
            return lf_skip(d);
        }
        if (c <= ' ') {
            d->key = (struct noa_str){d->p + start, d->pos - start};
            return key_invalid(d->key) ? lf_error(d, "invalid key") : 1;
        }
        d->pos++;
    }
    d->pos++; /* the '=' */
    if (d->pos >= d->n || (unsigned char)d->p[d->pos] <= ' ')
        return 1;
    if (d->p[d->pos] != '"') {
        start = d->pos;
        while (d->pos < d->n && (unsigned char)d->p[d->pos] > ' ') {
            char c = d->p[d->pos];
            if (c == '=' || c == '"') {
                lf_unexpected(d, c);
                return lf_skip(d);
            }
            d->pos++;
        }
        d->val = (struct noa_str){d->p + start, d->pos - start};
        return 1;
    }
    start = d->pos;
    int esc = 0, has_esc = 0;
    for (size_t i = d->pos + 1; i < d->n; i++) {
        char c = d->p[i];
        if (esc) {
            esc = 0;
        } else if (c == '\\') {
            has_esc = esc = 1;
        } else if (c == '"') {
            d->pos = i + 1;
            struct noa_str raw = {d->p + start + 1, i - start - 1};
            if (has_esc) {
                if (unescape(raw, vbuf))
                    return lf_error(d, "invalid quoted value");
                raw = bstr(vbuf);
            }
            d->val = raw;
            return 1;
        }
    }
    d->pos = d->n;
    return lf_error(d, "unterminated quoted value");
}

static void run_logfmt(struct lp_run *ps, struct noa_str line, struct noa_lbuilder *lb)
{
    struct lfdec d = {line.p, line.len, 0, {NULL, 0}, {NULL, 0}, 0, {0}};
    if (ps->cfg->nex) {
        memset(ps->ex_done, 0, ps->cfg->nex);
        struct noa_str v;
        for (unsigned e = 0; e < ps->cfg->nex; e++)
            if (!noa_lbuilder_get_cat(lb, NOA_LB_STREAM, ps->cfg->ex[e].name, &v) &&
                !noa_lbuilder_get_cat(lb, NOA_LB_META, ps->cfg->ex[e].name, &v))
                noa_lbuilder_set(lb, NOA_LB_PARSED, ps->cfg->ex[e].name, (struct noa_str){"", 0});
    }
    while (d.pos < d.n) {
        if (!lf_scan(&d, ps->val)) {
            if (ps->cfg->strict && d.err_pos)
                break;
            continue;
        }
        if (ps->cfg->nex) {
            for (unsigned e = 0; e < ps->cfg->nex; e++) {
                if (ps->ex_done[e] || !noa_str_eq(ps->cfg->ex[e].expr, d.key))
                    continue;
                ps->ex_done[e] = 1;
                noa_lbuilder_set_parsed(lb, ps->cfg->ex[e].name, clean_value(d.val, ps->line));
            }
            continue;
        }
        if (d.val.len == 0 && !ps->cfg->keep_empty)
            continue;
        noa_logparse_sanitize(d.key, 1, ps->key);
        if (ps->key->len == 0)
            continue;
        noa_lbuilder_add_parsed(lb, bstr(ps->key), clean_value(d.val, ps->line));
    }
    if (ps->cfg->strict && d.err_pos) {
        char msg[128];
        snprintf(msg, sizeof(msg), "logfmt syntax error at pos %d : %s", d.err_pos, d.err);
        set_error(lb, NOA_LB_ERR_LOGFMT, msg);
    }
}

/* ---- | regexp ---- */

static void run_regexp(struct lp_run *ps, struct noa_str line, struct noa_lbuilder *lb)
{
    if (!noa_regex_exec(ps->cfg->re, line.p, line.len, ps->groups, ps->cfg->ngroups))
        return;
    for (unsigned i = 1; i < ps->cfg->ngroups; i++) {
        if (!ps->cfg->gname[i].p)
            continue;
        struct noa_str v = ps->groups[i].p ? ps->groups[i] : (struct noa_str){"", 0};
        noa_lbuilder_set_parsed(lb, ps->cfg->gname[i], clean_value(v, ps->line));
    }
}

static int setup_regexp(struct noa_logparse *ps, struct noa_str src, struct noa_error *err)
{
    int rc = noa_regex_compile(src.p ? src.p : "", src.len, 0, &ps->re, err);
    if (rc)
        return rc;
    ps->ngroups = noa_regex_groups(ps->re) + 1;
    ps->gname = noa_xcalloc(ps->ngroups, sizeof(*ps->gname));
    ps->gnamebuf = noa_xmalloc(src.len + ps->ngroups + 1);
    size_t used = 0;
    unsigned named = 0;
    for (unsigned i = 1; i < ps->ngroups; i++) {
        struct noa_str nm;
        if (!noa_regex_group_name(ps->re, i, &nm))
            continue;
        if (!noa_label_name_valid(nm))
            return noa_error_set(err, NOA_EINVAL, "invalid extracted label name '%.*s'",
                                 (int)nm.len, nm.p);
        memcpy(ps->gnamebuf + used, nm.p, nm.len);
        ps->gname[i] = (struct noa_str){ps->gnamebuf + used, nm.len};
        used += nm.len;
        named++;
    }
    if (!named)
        return noa_error_set(err, NOA_EINVAL, "at least one named capture must be supplied");
    return 0;
}

/* ---- construction and dispatch ---- */

static int setup_extract(struct noa_logparse *ps, const struct noa_logparse_opts *o,
                         struct noa_error *err)
{
    size_t total = 0;
    for (unsigned e = 0; e < o->nextract; e++)
        total += o->extract[e].name.len + o->extract[e].expr.len;
    ps->nex = o->nextract;
    ps->ex = noa_xcalloc(o->nextract, sizeof(*ps->ex));
    ps->exbuf = noa_xmalloc(total + 1);
    size_t used = 0;
    for (unsigned e = 0; e < o->nextract; e++) {
        struct noa_str parts[2] = {o->extract[e].name, o->extract[e].expr};
        struct noa_str *dst[2] = {&ps->ex[e].name, &ps->ex[e].expr};
        for (int k = 0; k < 2; k++) {
            if (parts[k].len)
                memcpy(ps->exbuf + used, parts[k].p, parts[k].len);
            *dst[k] = (struct noa_str){ps->exbuf + used, parts[k].len};
            used += parts[k].len;
        }
    }
    if (o->kind != NOA_LOGPARSE_JSON)
        return 0;
    ps->paths = noa_xcalloc(o->nextract, sizeof(*ps->paths));
    for (unsigned e = 0; e < o->nextract; e++)
        if (jpath_parse(ps->ex[e].expr, &ps->paths[e]))
            return noa_error_set(err, NOA_EINVAL, "cannot parse expression [%.*s]: syntax error",
                                 (int)ps->ex[e].expr.len, ps->ex[e].expr.p);
    return 0;
}

int noa_logparse_new(const struct noa_logparse_opts *opts, struct noa_logparse **out,
                     struct noa_error *err)
{
    int rc = 0;
    struct noa_logparse *ps = noa_xcalloc(1, sizeof(*ps));
    ps->kind = opts->kind;
    ps->strict = opts->strict;
    ps->keep_empty = opts->keep_empty;
    switch (opts->kind) {
    case NOA_LOGPARSE_JSON:
    case NOA_LOGPARSE_LOGFMT:
        rc = setup_extract(ps, opts, err);
        break;
    case NOA_LOGPARSE_REGEXP:
        rc = setup_regexp(ps, opts->pattern, err);
        break;
    case NOA_LOGPARSE_PATTERN:
        rc = noa_logparse_pattern_compile(opts->pattern, 0, &ps->pat, err);
        break;
    case NOA_LOGPARSE_UNPACK:
        break;
    default:
        rc = noa_error_set(err, NOA_EINVAL, "unknown parser");
    }
    if (rc)
        goto fail;
    *out = ps;
    return 0;
fail:
    noa_logparse_free(ps);
    return rc;
}

void noa_logparse_free(struct noa_logparse *p)
{
    if (!p)
        return;
    if (p->paths)
        for (unsigned e = 0; e < p->nex; e++)
            noa_free(p->paths[e].step);
    noa_free(p->paths);
    noa_free(p->ex);
    noa_free(p->exbuf);
    noa_regex_free(p->re);
    noa_free(p->gname);
    noa_free(p->gnamebuf);
    noa_logparse_pattern_fini(&p->pat);
    noa_free(p);
}

int noa_logparse_run(const struct noa_logparse *p, struct noa_str *line, struct noa_lbuilder *lb)
{
    struct noa_buf *sc = lb->scratch;
    struct lp_run r = {p, &sc[0], &sc[1], &sc[2], &sc[3], &sc[4], &sc[5], &sc[7], NULL, NULL};
    /* unpack writes its new line into whichever buffer the current line
     * does not live in (| unpack | unpack reads one while writing). */
    if (line->p && sc[5].data && line->p >= sc[5].data && line->p <= sc[5].data + sc[5].len)
        r.line_out = &sc[6];
    switch (p->kind) {
    case NOA_LOGPARSE_JSON:
        if (p->nex)
            run_json_expr(&r, *line, lb);
        else
            run_json(&r, *line, lb);
        break;
    case NOA_LOGPARSE_LOGFMT:
        noa_buf_reset(r.misc);
        noa_buf_reserve(r.misc, p->nex + 1);
        r.ex_done = (uint8_t *)r.misc->data;
        run_logfmt(&r, *line, lb);
        break;
    case NOA_LOGPARSE_REGEXP:
        noa_buf_reset(r.misc);
        noa_buf_reserve(r.misc, p->ngroups * sizeof(struct noa_str));
        r.groups = (struct noa_str *)(void *)r.misc->data;
        run_regexp(&r, *line, lb);
        break;
    case NOA_LOGPARSE_PATTERN:
        run_pattern(&r, *line, lb);
        break;
    case NOA_LOGPARSE_UNPACK:
        run_unpack(&r, line, lb);
        break;
    }
    return 0;
}
