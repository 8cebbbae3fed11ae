/*
 * `| json` and `| json a="path"` (see logparse.h), and the JSON scanner
 * that unpack shares. The scanner is our own, single pass and
 * non-allocating: Loki keeps numbers as their source text and lets the
 * first of duplicate keys win, which a DOM library would hide, and values
 * that need no unescaping are handed to the label builder straight from
 * the line. Flattened names are built in one reused buffer; with a want
 * set (filter first), objects that cannot hold a wanted name are only
 * validated, and once every wanted name is found the rest of the line is
 * only validated (jrest_fast, else the walk). Runs on the caller's thread
 * with the caller's builder.
 */
#include "common/logparse_int.h"
#include "common/mem.h"

#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ---- scanner ---- */

const char noa__logparse_jdone[] = "(done)";

int noa__logparse_jfail(struct noa__logparse_jscan *s, const char *msg)
{
    if (!s->err)
        s->err = msg;
    return -1;
}

/* The first '"' or '\\' in p[i, n), or n; *flags gets NOA__JSTR_UTF8 when
 * a byte >= 0x80 comes before it. Sixteen bytes at a time where SSE2 is
 * there (every x86-64). */
static size_t find_quote(const char *p, size_t i, size_t n, int *flags)
{
#if defined(__SSE2__)
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\');
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, bs)));
        unsigned hi = (unsigned)_mm_movemask_epi8(v);
        if (m) {
            unsigned k = (unsigned)__builtin_ctz(m);
            if (hi & ((1u << k) - 1))
                *flags |= NOA__JSTR_UTF8;
            return i + k;
        }
        if (hi)
            *flags |= NOA__JSTR_UTF8;
    }
#endif
    for (; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"' || c == '\\')
            return i;
        if (c >= 0x80)
            *flags |= NOA__JSTR_UTF8;
    }
    return n;
}

static inline int jstring(struct noa__logparse_jscan *s, struct noa_str *raw, int *flags)
{
    size_t start = s->i + 1, i = start, n = s->n;
    int fl = 0;
    for (;;) {
        i = find_quote(s->p, i, n, &fl);
        if (i >= n)
            break;
        if (s->p[i] == '"') {
            *raw = (struct noa_str){s->p + start, i - start};
            *flags = fl;
            s->i = i + 1;
            return 0;
        }
        /* A backslash escapes the next byte, whatever it is. */
        fl |= NOA__JSTR_ESC;
        if (i + 1 < n && (unsigned char)s->p[i + 1] >= 0x80)
            fl |= NOA__JSTR_UTF8;
        i += 2;
    }
    s->i = n;
    *flags = fl;
    return noa__logparse_jfail(s, NOA__JERR_STR);
}

int noa__logparse_jstring(struct noa__logparse_jscan *s, struct noa_str *raw, int *flags)
{
    return jstring(s, raw, flags);
}

/* Bytes that end a literal: whitespace , } ] */
static int jdelim(char c)
{
    return c == ',' || c == '}' || c == ']' || noa__logparse_jspace(c);
}

/* Scans a number, true, false or null; *raw gets its text. */
static int jliteral(struct noa__logparse_jscan *s, struct noa_str *raw)
{
    size_t st = s->i;
    const char *p = s->p;
    if (s->n - st >= 4 && (!memcmp(p + st, "true", 4) || !memcmp(p + st, "null", 4))) {
        s->i += 4;
    } else if (s->n - st >= 5 && !memcmp(p + st, "false", 5)) {
        s->i += 5;
    } else if (p[st] == '-' || (p[st] >= '0' && p[st] <= '9')) {
        /* Like Loki's JSON reader, a number is taken up to the next
         * delimiter without checking its grammar ("01" stays "01"). */
        size_t i = st + 1;
        while (i < s->n && !jdelim(p[i]))
            i++;
        s->i = i;
    } else {
        return noa__logparse_jfail(s, NOA__JERR_UNKNOWN);
    }
    /* A literal must end at a delimiter, not run into letters. */
    if (s->i < s->n && !jdelim(p[s->i]))
        return noa__logparse_jfail(s, NOA__JERR_LIT);
    *raw = (struct noa_str){p + st, s->i - st};
    return 0;
}

int noa__logparse_jskip(struct noa__logparse_jscan *s, int depth)
{
    struct noa_str raw;
    int fl;
    noa__logparse_jws(s);
    if (s->i >= s->n)
        return noa__logparse_jfail(s, NOA__JERR_UNKNOWN);
    if (depth > NOA__LOGPARSE_JSON_MAX_DEPTH)
        return noa__logparse_jfail(s, NOA__JERR_DEEP);
    char c = s->p[s->i];
    if (c == '"')
        return jstring(s, &raw, &fl);
    if (c != '{' && c != '[')
        return jliteral(s, &raw);
    char close = c == '{' ? '}' : ']';
    const char *err = c == '{' ? NOA__JERR_OBJ : NOA__JERR_ARR;
    s->i++;
    noa__logparse_jws(s);
    if (s->i < s->n && s->p[s->i] == close) {
        s->i++;
        return 0;
    }
    for (;;) {
        noa__logparse_jws(s);
        if (c == '{') {
            if (s->i >= s->n || s->p[s->i] != '"' || jstring(s, &raw, &fl))
                return noa__logparse_jfail(s, err);
            noa__logparse_jws(s);
            if (s->i >= s->n || s->p[s->i] != ':')
                return noa__logparse_jfail(s, err);
            s->i++;
        }
        if (noa__logparse_jskip(s, depth + 1))
            return -1;
        noa__logparse_jws(s);
        if (s->i >= s->n)
            return noa__logparse_jfail(s, err);
        if (s->p[s->i] == ',') {
            s->i++;
            continue;
        }
        if (s->p[s->i] == close) {
            s->i++;
            return 0;
        }
        return noa__logparse_jfail(s, err);
    }
}

/* The object walk, inlined into each caller so that a constant member
 * callback (jflat_member, the hot loop of `| json`) is called directly. */
static inline __attribute__((always_inline)) int
jobject_walk(struct noa__logparse_jscan *s,
                          int (*member)(void *ctx, struct noa__logparse_jscan *s,
                                        struct noa_str key, int esc, int depth),
                          void *ctx, int depth)
{
    struct noa_str key;
    int fl;
    if (depth > NOA__LOGPARSE_JSON_MAX_DEPTH)
        return noa__logparse_jfail(s, NOA__JERR_DEEP);
    if (s->i >= s->n || s->p[s->i] != '{')
        return noa__logparse_jfail(s, NOA__JERR_OBJ);
    s->i++;
    noa__logparse_jws(s);
    if (s->i < s->n && s->p[s->i] == '}') {
        s->i++;
        return 0;
    }
    for (;;) {
        noa__logparse_jws(s);
        if (s->i >= s->n || s->p[s->i] != '"' || jstring(s, &key, &fl))
            return noa__logparse_jfail(s, NOA__JERR_OBJ);
        noa__logparse_jws(s);
        if (s->i >= s->n || s->p[s->i] != ':')
            return noa__logparse_jfail(s, NOA__JERR_OBJ);
        s->i++;
        noa__logparse_jws(s);
        if (s->i >= s->n)
            return noa__logparse_jfail(s, NOA__JERR_OBJ);
        if (member(ctx, s, key, fl & NOA__JSTR_ESC, depth))
            return -1;
        noa__logparse_jws(s);
        if (s->i < s->n && s->p[s->i] == ',') {
            s->i++;
            continue;
        }
        if (s->i < s->n && s->p[s->i] == '}') {
            s->i++;
            return 0;
        }
        return noa__logparse_jfail(s, NOA__JERR_OBJ);
    }
}

int noa__logparse_jobject(struct noa__logparse_jscan *s,
                          int (*member)(void *ctx, struct noa__logparse_jscan *s,
                                        struct noa_str key, int esc, int depth),
                          void *ctx, int depth)
{
    return jobject_walk(s, member, ctx, depth);
}

/* ---- fast acceptance of a line's rest ---- */

/* The first '"' or '\\' in p[i, n), or n (find_quote without the UTF-8
 * flag, for validation only). */
static inline __attribute__((always_inline)) size_t skip_to_quote(const char *p, size_t i,
                                                                  size_t n)
{
#if defined(__SSE2__)
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\');
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, bs)));
        if (m)
            return i + (unsigned)__builtin_ctz(m);
    }
#endif
    for (; i < n; i++)
        if (p[i] == '"' || p[i] == '\\')
            return i;
    return n;
}

/* 1 for the bytes that end a literal (jdelim) and for whitespace. */
static const uint8_t delim_bytes[256] = {[','] = 1, ['}'] = 1, [']'] = 1, [' '] = 1,
                                         ['\t'] = 1, ['\n'] = 1, ['\r'] = 1};

#define JREST_MAX_OPEN 64 /* deeper lines are left to the walk */

static inline int alnum_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/*
 * With the cursor just after a member's value inside `open` nested
 * objects (open - 1 is that object's depth): 1 when the rest closes them
 * as valid JSON as the walk reads it, with the cursor past the outermost
 * '}'; 0 when unsure, cursor unchanged. It never accepts what the walk
 * (jobject_walk, jflat_member in validation mode, jskip) rejects, but
 * leaves some valid input to it: keys holding a backslash (the walk
 * unescapes those), nesting deeper than JREST_MAX_OPEN, and with
 * alnum_keys (an error name still wanted, open == 1) keys of the top
 * object that do not start with [A-Za-z0-9].
 */
static int jrest_fast(struct noa__logparse_jscan *s, unsigned open, int alnum_keys)
{
    const char *p = s->p;
    size_t n = s->n, i = s->i;
    uint64_t arr = 0; /* bit d: the container at level d (from 1) is an array */
    unsigned d = open;
    int next = 0; /* 0: after a value, 1: a member (key, ':', value), 2: a value */
    if (open == 0 || open >= JREST_MAX_OPEN)
        return 0;
    for (;;) {
        while (i < n && (unsigned char)p[i] <= ' ' && delim_bytes[(unsigned char)p[i]])
            i++;
        if (i >= n)
            return 0;
        if (next == 0) {
            /* ',' then the next member or element, or a close. */
            int in_arr = (int)(arr >> d & 1);
            if (p[i] == (in_arr ? ']' : '}')) {
                i++;
                if (--d == 0)
                    break;
                continue;
            }
            if (p[i] != ',')
                return 0;
            i++;
            next = in_arr ? 2 : 1;
            continue;
        }
        if (next == 1) {
            /* A key without backslash (the walk would unescape it). */
            if (p[i] != '"')
                return 0;
            if (alnum_keys && d == 1 && (i + 1 >= n || !alnum_byte((unsigned char)p[i + 1])))
                return 0;
            size_t q = skip_to_quote(p, i + 1, n);
            if (q >= n || p[q] != '"')
                return 0;
            i = q + 1;
            while (i < n && (unsigned char)p[i] <= ' ' && delim_bytes[(unsigned char)p[i]])
                i++;
            if (i >= n || p[i] != ':')
                return 0;
            i++;
            next = 2;
            continue;
        }
        char c = p[i];
        next = 0;
        if (c == '"') {
            size_t q = i + 1;
            for (;;) {
                q = skip_to_quote(p, q, n);
                if (q >= n)
                    return 0;
                if (p[q] == '"')
                    break;
                q += 2; /* a backslash escapes the next byte, whatever it is */
            }
            i = q + 1;
        } else if (c == '{' || c == '[') {
            char close = c == '{' ? '}' : ']';
            i++;
            while (i < n && (unsigned char)p[i] <= ' ' && delim_bytes[(unsigned char)p[i]])
                i++;
            if (i < n && p[i] == close) {
                i++;
                continue;
            }
            if (d + 1 >= JREST_MAX_OPEN)
                return 0;
            d++;
            if (c == '[')
                arr |= 1ull << d;
            else
                arr &= ~(1ull << d);
            next = c == '{' ? 1 : 2;
        } else {
            if (n - i >= 4 && (!memcmp(p + i, "true", 4) || !memcmp(p + i, "null", 4)))
                i += 4;
            else if (n - i >= 5 && !memcmp(p + i, "false", 5))
                i += 5;
            else if (c == '-' || (c >= '0' && c <= '9'))
                for (i++; i < n && !delim_bytes[(unsigned char)p[i]];)
                    i++;
            else
                return 0;
            if (i < n && !delim_bytes[(unsigned char)p[i]])
                return 0;
        }
    }
    s->i = i;
    return 1;
}

/* ---- | json (no arguments): flatten ---- */

struct jflat {
    struct noa__logparse_run *r;
    struct noa_lbuilder *lb;
    int emit; /* 0: the current object holds no wanted name, only validate */
    int rest; /* 1: every wanted name was extracted, the rest is only validated */
};

/* 1 when some wanted name is prefix itself or starts with prefix + '_':
 * the names flattened below an object (a key that sanitizes to nothing
 * adds no part, so the prefix alone is possible too). */
static int want_below(const struct noa_logparse_want *w, struct noa_str prefix)
{
    for (unsigned i = 0; i < w->n; i++) {
        struct noa_str n = w->names[i];
        if (n.len >= prefix.len && !memcmp(n.p, prefix.p, prefix.len) &&
            (n.len == prefix.len || n.p[prefix.len] == '_'))
            return 1;
    }
    return 0;
}

/* The value of a scanned string as a label value: unescaped (a bad
 * escape yields "", as Loki's unescape does) and cleaned of bad UTF-8. */
static struct noa_str string_value(struct noa__logparse_run *r, struct noa_str raw, int fl)
{
    if (fl & NOA__JSTR_ESC) {
        if (noa__logparse_unescape(raw, r->val))
            return (struct noa_str){"", 0};
        return noa__logparse_clean_value(noa__logparse_bstr(r->val), r->line);
    }
    if (fl & NOA__JSTR_UTF8)
        return noa__logparse_clean_value(raw, r->line);
    return raw;
}

static int jflat_object(struct jflat *f, struct noa__logparse_jscan *s, int depth);

/* After a wanted label was added. Once every wanted name has been
 * extracted, later members cannot add anything (the first extraction of
 * a name wins): with stop_early the scan ends, else the rest of the line
 * is only validated so that the error pair stays exact. */
static int jrest_fast(struct noa__logparse_jscan *s, unsigned open, int alnum_keys);

static int wanted_added(struct jflat *f, struct noa__logparse_jscan *s, struct noa_str name,
                        int depth)
{
    struct noa__logparse_run *r = f->r;
    if (!r->rest_all)
        return 0;
    int all = noa__logparse_want_mark(r, name);
    if (r->want->stop_early)
        return all ? noa__logparse_jfail(s, noa__logparse_jdone) : 0;
    if ((r->found & r->rest_all) != r->rest_all)
        return 0;
    f->rest = 1;
    /* The usual line is valid: accept the rest in one tight pass and end
     * the walk. When that pass is unsure, the walk goes on in rest mode
     * from here and decides (and words any error) itself. An error name
     * still wanted is only ruled out from the top object. */
    if (r->err_wanted && depth != 0)
        return 0;
    if (jrest_fast(s, (unsigned)depth + 1, r->err_wanted))
        return noa__logparse_jfail(s, noa__logparse_jdone);
    return 0;
}

/* In rest mode: 1 when the member being read cannot add a label (only
 * validate it). With an error name still wanted, a member is skipped
 * only at the top of the name (nothing flattened before it) with a key
 * whose first byte is alphanumeric: every name at or below it then
 * starts with that byte (or '_' and a digit), never with "__". */
static int rest_skip(const struct jflat *f, struct noa_str key)
{
    if (!f->r->err_wanted)
        return 1;
    if (f->r->name->len || !key.len)
        return 0;
    unsigned char c = (unsigned char)key.p[0];
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int jflat_member(struct jflat *f, struct noa__logparse_jscan *s, struct noa_str key,
                        int esc, int depth)
{
    struct noa__logparse_run *r = f->r;
    struct noa_str raw;
    int fl, rc;
    char c = s->p[s->i];
    if (c == '[')
        return noa__logparse_jskip(s, depth + 1); /* arrays are skipped at every depth */
    if (esc) {
        if (noa__logparse_unescape(key, r->tmp))
            return noa__logparse_jfail(s, NOA__JERR_OBJ);
        key = noa__logparse_bstr(r->tmp);
    }
    if (!f->emit || (f->rest && rest_skip(f, key))) {
        /* Validation only, with exactly the checks (and errors) below. */
        if (c == '{')
            return jflat_object(f, s, depth + 1);
        if (c == '"')
            return jstring(s, &raw, &fl);
        return jliteral(s, &raw);
    }
    /* Only the first part of a path gets the leading-digit prefix. */
    size_t saved = r->name->len;
    struct noa_str part = noa__logparse_sanitized(key, saved == 0, r->key);
    if (part.len) {
        if (r->name->cap - r->name->len < part.len + 1)
            noa_buf_reserve(r->name, part.len + 1);
        if (saved)
            r->name->data[r->name->len++] = '_';
        memcpy(r->name->data + r->name->len, part.p, part.len);
        r->name->len += part.len;
    }
    struct noa_str name = noa__logparse_bstr(r->name);
    if (c == '{') {
        int emit = f->emit;
        if (r->want && name.len && !want_below(r->want, name))
            f->emit = 0;
        rc = jflat_object(f, s, depth + 1);
        f->emit = emit;
    } else if (c == '"') {
        rc = jstring(s, &raw, &fl);
        if (!rc && noa__logparse_wanted(r->want, name)) {
            noa_lbuilder_add_parsed(f->lb, name, string_value(r, raw, fl));
            rc = wanted_added(f, s, name, depth);
        }
    } else {
        rc = jliteral(s, &raw);
        if (!rc && !noa_str_eq_c(raw, "null") && noa__logparse_wanted(r->want, name)) {
            noa_lbuilder_add_parsed(f->lb, name, raw);
            rc = wanted_added(f, s, name, depth);
        }
    }
    r->name->len = saved;
    return rc;
}

static int jflat_member_cb(void *ctx, struct noa__logparse_jscan *s, struct noa_str key, int esc,
                           int depth)
{
    return jflat_member(ctx, s, key, esc, depth);
}

static int jflat_object(struct jflat *f, struct noa__logparse_jscan *s, int depth)
{
    return jobject_walk(s, jflat_member_cb, f, depth);
}

void noa__logparse_json_run(struct noa__logparse_run *r, struct noa_str line,
                            struct noa_lbuilder *lb)
{
    struct noa__logparse_jscan s = {line.p, line.len, 0, NULL};
    struct jflat f = {r, lb, 1, 0};
    noa_buf_reset(r->name);
    noa__logparse_jws(&s);
    if (s.i >= s.n || s.p[s.i] != '{')
        noa__logparse_jfail(&s, NOA__JERR_OBJ);
    else
        jflat_object(&f, &s, 0);
    if (s.err && s.err != noa__logparse_jdone)
        noa__logparse_set_error(lb, NOA_LB_ERR_JSON, s.err);
}

/* ---- | json a="path" (expressions) ---- */

struct jstep {
    int is_index;
    size_t index;
    struct noa_str key; /* borrowed from the parser's exbuf */
};

struct noa__logparse_jpath {
    struct jstep *step; /* owned */
    unsigned n;
};

static int path_ident(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c >= 0x80;
}

/* Parses `a.b["c"][0]`; -1 on a syntax error. */
static int jpath_parse(struct noa_str e, struct noa__logparse_jpath *out)
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
            while (k < e.len && e.p[k] >= '0' && e.p[k] <= '9') {
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

int noa__logparse_json_setup(struct noa_logparse *ps, struct noa_error *err)
{
    ps->paths = noa_xcalloc(ps->nex + 1, sizeof(*ps->paths));
    for (unsigned e = 0; e < ps->nex; e++)
        if (jpath_parse(ps->ex[e].expr, &ps->paths[e]))
            return noa_error_set(err, NOA_EINVAL, "cannot parse expression [%.*s]: syntax error",
                                 (int)ps->ex[e].expr.len, ps->ex[e].expr.p);
    return 0;
}

void noa__logparse_json_free(struct noa_logparse *p)
{
    if (p->paths)
        for (unsigned e = 0; e < p->nex; e++)
            noa_free(p->paths[e].step);
    noa_free(p->paths);
    p->paths = NULL;
}

struct jeval {
    struct noa__logparse_run *r;
    const struct noa__logparse_jpath *path;
    unsigned k;         /* step being matched */
    int found;          /* 1 once the value was located */
    struct noa_str val; /* the located value's raw text */
};

static int jeval_value(struct jeval *ev, struct noa__logparse_jscan *s, int depth);

static int jeval_member(void *ctx, struct noa__logparse_jscan *s, struct noa_str key, int esc,
                        int depth)
{
    struct jeval *ev = ctx;
    const struct jstep *st = &ev->path->step[ev->k];
    if (!ev->found && !st->is_index) {
        if (esc) {
            if (noa__logparse_unescape(key, ev->r->tmp))
                return noa__logparse_jfail(s, NOA__JERR_OBJ);
            key = noa__logparse_bstr(ev->r->tmp);
        }
        if (noa_str_eq(key, st->key)) {
            ev->k++;
            int rc = jeval_value(ev, s, depth + 1);
            if (!ev->found)
                ev->k--;
            return rc;
        }
    }
    return noa__logparse_jskip(s, depth + 1);
}

/* With the cursor on a value: matches the remaining steps inside it. */
static int jeval_value(struct jeval *ev, struct noa__logparse_jscan *s, int depth)
{
    noa__logparse_jws(s);
    if (ev->k == ev->path->n) {
        size_t st = s->i;
        if (noa__logparse_jskip(s, depth))
            return -1;
        ev->found = 1;
        ev->val = (struct noa_str){s->p + st, s->i - st};
        return 0;
    }
    if (s->i >= s->n)
        return noa__logparse_jfail(s, NOA__JERR_UNKNOWN);
    const struct jstep *step = &ev->path->step[ev->k];
    if (s->p[s->i] == '{' && !step->is_index)
        return noa__logparse_jobject(s, jeval_member, ev, depth);
    if (s->p[s->i] != '[' || !step->is_index)
        return noa__logparse_jskip(s, depth);
    if (depth > NOA__LOGPARSE_JSON_MAX_DEPTH)
        return noa__logparse_jfail(s, NOA__JERR_DEEP);
    s->i++;
    noa__logparse_jws(s);
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
            rc = noa__logparse_jskip(s, depth + 1);
        }
        if (rc)
            return rc;
        noa__logparse_jws(s);
        if (s->i < s->n && s->p[s->i] == ',') {
            s->i++;
            continue;
        }
        if (s->i < s->n && s->p[s->i] == ']') {
            s->i++;
            return 0;
        }
        return noa__logparse_jfail(s, NOA__JERR_ARR);
    }
}

void noa__logparse_json_expr_run(struct noa__logparse_run *r, struct noa_str line,
                                 struct noa_lbuilder *lb)
{
    if (line.len == 0)
        return;
    if (line.p[0] != '{' && line.p[0] != '[' && line.p[0] != '"') {
        noa__logparse_set_error(lb, NOA_LB_ERR_JSON, "");
        return;
    }
    for (unsigned e = 0; e < r->cfg->nex; e++) {
        struct noa__logparse_jscan s = {line.p, line.len, 0, NULL};
        struct jeval ev = {r, &r->cfg->paths[e], 0, 0, {NULL, 0}};
        if (jeval_value(&ev, &s, 0)) {
            noa__logparse_set_error(lb, NOA_LB_ERR_JSON, s.err ? s.err : "");
            return;
        }
        struct noa_str v = {"", 0};
        if (ev.found && ev.val.len && ev.val.p[0] == '"') {
            struct noa_str raw = {ev.val.p + 1, ev.val.len - 2};
            if (memchr(raw.p, '\\', raw.len) && !noa__logparse_unescape(raw, r->val))
                raw = noa__logparse_bstr(r->val);
            v = noa__logparse_clean_value(raw, r->line);
        } else if (ev.found && !noa_str_eq_c(ev.val, "null")) {
            v = ev.val;
        }
        noa_lbuilder_set_parsed(lb, r->cfg->ex[e].name, v);
    }
}
