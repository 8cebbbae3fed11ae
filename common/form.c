/*
 * Query-string and urlencoded-form decoding with Go's rules (see form.h).
 * Everything decoded goes to the caller's arena. Pure; any thread.
 */
#include "common/form.h"
#include "common/http_server.h"

#include <ctype.h>
#include <strings.h>

int noa_form_unescape(const char *s, size_t n, int plus_as_space, char *out, size_t *out_len,
                      struct noa_error *err)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int hi = i + 1 < n ? noa_hexval((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < n ? noa_hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                /* Go quotes the (up to) three bytes starting at the '%'. */
                int show = n - i < 3 ? (int)(n - i) : 3;
                return noa_error_set(err, NOA_EINVAL, "invalid URL escape \"%.*s\"", show, s + i);
            }
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_as_space) {
            out[o++] = ' ';
        } else {
            out[o++] = (char)c;
        }
    }
    *out_len = o;
    return 0;
}

int noa_form_unescape_path(struct noa_arena *a, struct noa_str s, struct noa_str *out,
                           struct noa_error *err)
{
    char *d = noa_arena_alloc(a, s.len + 1);
    size_t n = 0;
    int rc = noa_form_unescape(s.p, s.len, 0, d, &n, err);
    if (rc)
        return rc;
    d[n] = '\0';
    *out = (struct noa_str){d, n};
    return 0;
}

struct noa_str noa_form_clean_path(struct noa_arena *a, struct noa_str p)
{
    char *out = noa_arena_alloc(a, p.len + 2);
    size_t o = 0, i = 0;
    while (i < p.len) {
        while (i < p.len && p.p[i] == '/')
            i++;
        size_t s = i;
        while (i < p.len && p.p[i] != '/')
            i++;
        size_t n = i - s;
        if (n == 0 || (n == 1 && p.p[s] == '.'))
            continue;
        if (n == 2 && p.p[s] == '.' && p.p[s + 1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--; /* the slash before the dropped element */
            continue;
        }
        out[o++] = '/';
        memcpy(out + o, p.p + s, n);
        o += n;
    }
    if (o == 0)
        out[o++] = '/';
    else if (p.len && p.p[p.len - 1] == '/')
        out[o++] = '/';
    out[o] = '\0';
    struct noa_str r = {out, o};
    return noa_str_eq(r, p) ? p : r;
}

void noa_form_escape_path(struct noa_buf *b, struct noa_str p)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < p.len; i++) {
        unsigned char c = (unsigned char)p.p[i];
        /* c != 0: strchr would find the set's own terminator. */
        if (isalnum(c) || (c && strchr("-_.~$&+,/:;=@", c))) {
            noa_buf_putc(b, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            noa_buf_append(b, e, 3);
        }
    }
}

/* Decodes s into a fresh NUL-terminated arena string. */
static int decode_into(struct noa_arena *a, const char *s, size_t n, struct noa_str *out,
                       struct noa_error *err)
{
    char *d = noa_arena_alloc(a, n + 1);
    size_t len = 0;
    int rc = noa_form_unescape(s, n, 1, d, &len, err);
    if (rc)
        return rc;
    d[len] = '\0';
    *out = (struct noa_str){d, len};
    return 0;
}

int noa_form_parse(struct noa_form *f, struct noa_arena *a, struct noa_str s, struct noa_error *err)
{
    if (s.len == 0)
        return 0;
    /* Room for every piece the '&'s can make: the arena cannot grow an
     * array in place, so size it once (the old pairs are copied over). */
    size_t bound = 1;
    for (size_t i = 0; i < s.len; i++)
        bound += s.p[i] == '&';
    struct noa_form_pair *pairs = noa_arena_alloc(a, (f->n + bound) * sizeof(*pairs));
    if (f->n)
        memcpy(pairs, f->pairs, f->n * sizeof(*pairs));
    f->pairs = pairs;

    int first = 0;
    struct noa_error scratch;
    size_t pos = 0;
    while (pos <= s.len) {
        const char *piece = s.p + pos;
        const char *amp = memchr(piece, '&', s.len - pos);
        size_t plen = amp ? (size_t)(amp - piece) : s.len - pos;
        pos += plen + 1;
        if (plen == 0)
            continue;
        const char *eq = memchr(piece, '=', plen);
        size_t klen = eq ? (size_t)(eq - piece) : plen;
        struct noa_error *e = first ? &scratch : err;
        int rc;
        /* Go rejects a ';' anywhere in the piece (value included). */
        if (memchr(piece, ';', plen)) {
            rc = noa_error_set(e, NOA_EINVAL, "invalid semicolon separator in query");
        } else {
            struct noa_form_pair *p = &f->pairs[f->n];
            rc = decode_into(a, piece, klen, &p->name, e);
            if (!rc && eq)
                rc = decode_into(a, eq + 1, plen - klen - 1, &p->value, e);
            else if (!rc)
                p->value = (struct noa_str){"", 0};
            if (!rc)
                f->n++;
        }
        if (rc && !first)
            first = rc;
    }
    return first;
}

/* 1 when the Content-Type's media type is application/x-www-form-urlencoded. */
static int is_form_type(const struct noa_str *ct)
{
    if (!ct)
        return 0;
    const char *p = ct->p, *end = ct->p + ct->len;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    const char *semi = memchr(p, ';', (size_t)(end - p));
    const char *e = semi ? semi : end;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    static const char want[] = "application/x-www-form-urlencoded";
    return (size_t)(e - p) == sizeof(want) - 1 && strncasecmp(p, want, sizeof(want) - 1) == 0;
}

int noa_form_parse_request(struct noa_form *f, struct noa_arena *a,
                           const struct noa_http_request *r, struct noa_error *err)
{
    int first = 0;
    struct noa_error scratch;
    unsigned body_methods = NOA_HTTP_POST | NOA_HTTP_PUT | NOA_HTTP_PATCH;
    if ((r->method & body_methods) && is_form_type(noa_http_request_header(r, "Content-Type"))) {
        if (r->body.len > NOA_FORM_MAX_BODY)
            first = noa_error_set(err, NOA_ETOOBIG, "http: POST too large");
        else
            first = noa_form_parse(f, a, r->body, err);
    }
    int rc = noa_form_parse(f, a, r->query, first ? &scratch : err);
    return first ? first : rc;
}

const struct noa_str *noa_form_next(const struct noa_form *f, const char *name, size_t *iter)
{
    size_t nlen = strlen(name);
    for (size_t i = *iter; i < f->n; i++) {
        const struct noa_form_pair *p = &f->pairs[i];
        if (p->name.len == nlen && memcmp(p->name.p, name, nlen) == 0) {
            *iter = i + 1;
            return &p->value;
        }
    }
    *iter = f->n;
    return NULL;
}

const struct noa_str *noa_form_get(const struct noa_form *f, const char *name)
{
    size_t it = 0;
    return noa_form_next(f, name, &it);
}

const struct noa_str *noa_form_get_last(const struct noa_form *f, const char *name)
{
    size_t it = 0;
    const struct noa_str *v, *last = NULL;
    while ((v = noa_form_next(f, name, &it)))
        last = v;
    return last;
}

size_t noa_form_count(const struct noa_form *f, const char *name)
{
    size_t it = 0, n = 0;
    while (noa_form_next(f, name, &it))
        n++;
    return n;
}
