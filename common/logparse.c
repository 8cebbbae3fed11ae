/*
 * Parser stages of the log pipeline (see logparse.h): construction,
 * dispatch, and the string helpers every parser shares (UTF-8 cleaning,
 * JSON unescaping, label-name sanitizing, want sets). The parsers live in
 * logparse_json.c, logparse_logfmt.c, logparse_regexp.c (regexp and
 * pattern) and logparse_unpack.c. A compiled parser is immutable; the
 * per-line scratch is in the caller's label builder (one per thread).
 */
#include "common/logparse_int.h"
#include "common/mem.h"
#include "common/regex.h"

#include <string.h>

/* ---- strings ---- */

int noa__logparse_bad_rune(const unsigned char *p, size_t n, size_t *len)
{
    *len = 1;
    if (p[0] < 0x80)
        return 0;
    size_t l = p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC2 ? 2 : 0;
    if (!l || l > n || p[0] > 0xF4)
        return 1;
    for (size_t i = 1; i < l; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 1;
    uint32_t cp = l == 2   ? (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F)
                  : l == 3 ? (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 |
                                 (p[2] & 0x3F)
                           : (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 |
                                 (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
    if ((l == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (l == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 1;
    *len = l;
    return cp == 0xFFFD;
}

/* Length of the leading run of ASCII bytes, eight at a time. */
static size_t ascii_prefix(const char *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ull)
            break;
    }
    while (i < n && (unsigned char)p[i] < 0x80)
        i++;
    return i;
}

struct noa_str noa__logparse_clean_value(struct noa_str s, struct noa_buf *out)
{
    size_t i = ascii_prefix(s.p, s.len), l;
    while (i < s.len && !noa__logparse_bad_rune((const unsigned char *)s.p + i, s.len - i, &l))
        i += l;
    if (i >= s.len)
        return s;
    noa_buf_reset(out);
    noa_buf_append(out, s.p, i);
    while (i < s.len) {
        if (noa__logparse_bad_rune((const unsigned char *)s.p + i, s.len - i, &l))
            noa_buf_putc(out, ' ');
        else
            noa_buf_append(out, s.p + i, l);
        i += l;
    }
    return noa__logparse_bstr(out);
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

int noa__logparse_unescape(struct noa_str raw, struct noa_buf *out)
{
    noa_buf_reset(out);
    noa_buf_reserve(out, raw.len);
    for (size_t i = 0; i < raw.len; i++) {
        const char *bs = memchr(raw.p + i, '\\', raw.len - i);
        size_t run = bs ? (size_t)(bs - (raw.p + i)) : raw.len - i;
        noa_buf_append(out, raw.p + i, run);
        i += run;
        if (i >= raw.len)
            break;
        if (++i >= raw.len)
            return -1;
        char c;
        switch (raw.p[i]) {
        case '"': c = '"'; break;
        case '\\': c = '\\'; break;
        case '/': c = '/'; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
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
            noa_buf_put_utf8(out, cp);
            continue;
        }
        default:
            return -1;
        }
        noa_buf_putc(out, c);
    }
    return 0;
}

/* Bytes that a label name keeps as they are: [A-Za-z0-9_]. */
#define R10(v) v, v, v, v, v, v, v, v, v, v
const uint8_t noa__logparse_name_bytes[256] = {
    R10(0), R10(0), R10(0), R10(0), 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00-0x2f */
    R10(1), 0, 0, 0, 0, 0, 0, 0,                            /* '0'-'9', 0x3a-0x40 */
    R10(1), R10(1), 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0,     /* 'A'-'Z', 0x5b-0x60 */
    R10(1), R10(1), 1, 1, 1, 1, 1, 1,                       /* 'a'-'z' */
};
#undef R10

static int name_byte(unsigned char c)
{
    return noa__logparse_name_bytes[c];
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
    noa_buf_reserve(out, n + 1);
    if (prefix_digit && p[0] >= '0' && p[0] <= '9')
        out->data[out->len++] = '_';
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)p[i];
        /* A rune (of any length) becomes one '_'. */
        size_t l = 1;
        if (!name_byte(c)) {
            noa__logparse_bad_rune((const unsigned char *)p + i, n - i, &l);
            c = '_';
        }
        out->data[out->len++] = (char)c;
        i += l;
    }
}

/* ---- want sets ---- */

void noa_logparse_want_init(struct noa_logparse_want *w, const struct noa_str *names, unsigned n,
                            int stop_early)
{
    static const size_t sl = sizeof(NOA_LB_DUP_SUFFIX) - 1;
    size_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += names[i].len;
    w->names = noa_xcalloc(2 * (size_t)n + 1, sizeof(*w->names));
    w->buf = noa_xmalloc(total + 1);
    w->n = 0;
    size_t used = 0;
    for (unsigned i = 0; i < n; i++) {
        struct noa_str s = names[i];
        if (s.len)
            memcpy(w->buf + used, s.p, s.len);
        struct noa_str copy = {w->buf + used, s.len};
        used += s.len;
        /* A parser writing `x` where a stream label or metadata holds it
         * writes `x_extracted`: a filter on `x_extracted` wants `x` too. */
        struct noa_str forms[2] = {copy, {copy.p, copy.len - sl}};
        int nforms = s.len > sl && !memcmp(s.p + s.len - sl, NOA_LB_DUP_SUFFIX, sl) ? 2 : 1;
        for (int f = 0; f < nforms; f++) {
            int dup = 0;
            for (unsigned k = 0; k < w->n && !dup; k++)
                dup = noa_str_eq(w->names[k], forms[f]);
            if (!dup)
                w->names[w->n++] = forms[f];
        }
    }
    w->stop_early = stop_early && w->n > 0 && w->n <= 64; /* one bit per name */
}

void noa_logparse_want_fini(struct noa_logparse_want *w)
{
    noa_free(w->names);
    noa_free(w->buf);
    memset(w, 0, sizeof(*w));
}

int noa__logparse_want_has(const struct noa_logparse_want *want, struct noa_str name)
{
    for (unsigned i = 0; i < want->n; i++)
        if (noa_str_eq(want->names[i], name))
            return 1;
    return 0;
}

int noa__logparse_want_mark(struct noa__logparse_run *r, struct noa_str name)
{
    for (unsigned i = 0; i < r->want->n; i++)
        if (noa_str_eq(r->want->names[i], name))
            r->found |= 1ull << i;
    return r->found == r->all;
}

/* ---- construction and dispatch ---- */

static int setup_extract(struct noa_logparse *ps, const struct noa_logparse_opts *o,
                         struct noa_error *err)
{
    size_t total = 0;
    for (unsigned e = 0; e < o->nextract; e++)
        total += o->extract[e].name.len + o->extract[e].expr.len;
    ps->nex = o->nextract;
    ps->ex = noa_xcalloc(o->nextract + 1, sizeof(*ps->ex));
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
    return noa__logparse_json_setup(ps, err);
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
        rc = noa__logparse_regexp_setup(ps, opts->pattern, err);
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
    noa__logparse_json_free(p);
    noa_free(p->ex);
    noa_free(p->exbuf);
    noa_regex_free(p->re);
    noa_free(p->gname);
    noa_free(p->gnamebuf);
    noa_logparse_pattern_fini(&p->pat);
    noa_free(p);
}

static void run(const struct noa_logparse *p, struct noa_str *line, struct noa_lbuilder *lb,
                const struct noa_logparse_want *want)
{
    struct noa_buf *sc = lb->scratch;
    struct noa__logparse_run r = {.cfg = p,           .want = want,        .key = &sc[0],
                                  .val = &sc[1],      .name = &sc[2],      .tmp = &sc[3],
                                  .line = &sc[4],     .line_out = &sc[5],  .misc = &sc[7]};
    if (want && want->stop_early)
        r.all = want->n == 64 ? ~0ull : (1ull << want->n) - 1;
    /* A parsed label named __error__ or __error_details__ is never read
     * back by name (the builder answers those from the error pair), so
     * only the other names decide when json may stop extracting. */
    if (want && want->n <= 64)
        for (unsigned i = 0; i < want->n; i++) {
            if (noa_str_eq_c(want->names[i], NOA_LB_ERROR) ||
                noa_str_eq_c(want->names[i], NOA_LB_ERROR_DETAILS))
                r.err_wanted = 1;
            else
                r.rest_all |= 1ull << i;
        }
    /* unpack writes its new line into whichever buffer the current line
     * does not live in (| unpack | unpack reads one while writing). */
    if (line->p && sc[5].data && line->p >= sc[5].data && line->p <= sc[5].data + sc[5].len)
        r.line_out = &sc[6];
    switch (p->kind) {
    case NOA_LOGPARSE_JSON:
        if (p->nex)
            noa__logparse_json_expr_run(&r, *line, lb);
        else
            noa__logparse_json_run(&r, *line, lb);
        break;
    case NOA_LOGPARSE_LOGFMT:
        noa_buf_reset(r.misc);
        noa_buf_reserve(r.misc, p->nex + 1);
        r.ex_done = (uint8_t *)r.misc->data;
        noa__logparse_logfmt_run(&r, *line, lb);
        break;
    case NOA_LOGPARSE_REGEXP:
        noa_buf_reset(r.misc);
        noa_buf_reserve(r.misc, p->ngroups * sizeof(struct noa_str));
        r.groups = (struct noa_str *)(void *)r.misc->data;
        noa__logparse_regexp_run(&r, *line, lb);
        break;
    case NOA_LOGPARSE_PATTERN:
        noa__logparse_pattern_run(&r, *line, lb);
        break;
    case NOA_LOGPARSE_UNPACK:
        noa__logparse_unpack_run(&r, line, lb);
        break;
    }
}

int noa_logparse_run(const struct noa_logparse *p, struct noa_str *line, struct noa_lbuilder *lb)
{
    run(p, line, lb, NULL);
    return 0;
}

int noa_logparse_can_want(const struct noa_logparse *p)
{
    return (p->kind == NOA_LOGPARSE_JSON || p->kind == NOA_LOGPARSE_LOGFMT) && p->nex == 0;
}

void noa_logparse_run_want(const struct noa_logparse *p, struct noa_str line,
                           struct noa_lbuilder *lb, const struct noa_logparse_want *want)
{
    run(p, &line, lb, want);
}
