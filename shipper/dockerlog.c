/*
 * Docker json-file line decoder (see dockerlog.h). A purpose-built JSON
 * reader rather than jansson: the shape is fixed, the hot case ("log" whose
 * only escape is the final \n) borrows the input without copying, and no
 * tree is built per line. Other members are validated and skipped. Runs on
 * the thread that owns the decoder.
 */
#include "shipper/dockerlog.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Deeper nesting in a skipped member (e.g. "attrs") is refused, so the
 * recursive skipper cannot exhaust the stack on hostile input. */
#define DOCKERLOG_MAX_DEPTH 64

struct reader {
    const char *p;
    size_t n;
    size_t i; /* next byte */
    struct noa_error *err;
};

/* A JSON string as found in the input: raw bytes between the quotes. */
struct jstr {
    size_t start, end; /* p[start..end) excludes the quotes */
    size_t n_esc;      /* backslash escapes seen */
    size_t last_esc;   /* offset of the last backslash */
    int bad_utf8;      /* an invalid UTF-8 sequence (replaced when decoded) */
};

static int fail_at(struct reader *r, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(struct reader *r, size_t at, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return noa_error_set_at(r->err, NOA_EINVAL, 1, (int)(at < r->n ? at : r->n) + 1, "docker: %s",
                            msg);
}

static void skip_ws(struct reader *r)
{
    while (r->i < r->n) {
        char c = r->p[r->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        r->i++;
    }
}

static int hex4(const char *p, uint32_t *out)
{
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

/* Nonzero when one of the 8 bytes in v is '"', '\\', below 0x20 or above
 * 0x7F (may also be nonzero without one: then the byte loop decides). */
static inline uint64_t word_needs_look(uint64_t v)
{
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
    uint64_t ctl_or_high = (v - ones * 0x20) | v;
    return (ctl_or_high | ((q - ones) & ~q) | ((b - ones) & ~b)) & high;
}

/* Scans the string starting at the opening quote r->p[r->i]; leaves r->i
 * after the closing quote. Validates escapes and rejects raw controls. */
static int scan_string(struct reader *r, struct jstr *s)
{
    const unsigned char *p = (const unsigned char *)r->p;
    size_t i = r->i + 1, n = r->n;
    memset(s, 0, sizeof(*s));
    s->start = i;
    for (;;) {
        /* The common bytes: printable ASCII other than the two specials,
         * eight at a time while no byte of the word needs a closer look. */
        while (n - i >= 8) {
            uint64_t v;
            memcpy(&v, p + i, 8);
            if (word_needs_look(v))
                break;
            i += 8;
        }
        while (i < n && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\')
            i++;
        if (i >= n)
            return fail_at(r, s->start - 1, "unterminated string");
        unsigned char c = p[i];
        if (c == '"')
            break;
        if (c == '\\') {
            if (i + 1 >= n)
                return fail_at(r, i, "unterminated string");
            unsigned char e = p[i + 1];
            s->n_esc++;
            s->last_esc = i;
            if (e == 'u') {
                uint32_t cp;
                if (n - i < 6 || hex4(r->p + i + 2, &cp) != 0)
                    return fail_at(r, i, "\\u must be followed by four hex digits");
                i += 6;
            } else if (e && strchr("\"\\/bfnrt", e)) {
                i += 2;
            } else {
                return fail_at(r, i, "invalid escape '\\%c' in string",
                               e >= 0x20 && e < 0x7f ? e : '?');
            }
        } else if (c < 0x20) {
            return fail_at(r, i, "control character 0x%02x in string (must be escaped)", c);
        } else {
            uint32_t cp;
            size_t w = noa_utf8_decode(p + i, n - i, &cp);
            if (w == 0) {
                s->bad_utf8 = 1;
                w = 1;
            }
            i += w;
        }
    }
    s->end = i;
    r->i = i + 1;
    return 0;
}

/* Decodes an already validated string into b (appending), as Go does:
 * surrogate pairs combine, a lone surrogate or bad UTF-8 byte is U+FFFD. */
static void unescape(const char *src, const struct jstr *s, struct noa_buf *b)
{
    const unsigned char *p = (const unsigned char *)src;
    size_t i = s->start, run = i;
    noa_buf_reserve(b, s->end - s->start);
    while (i < s->end) {
        unsigned char c = p[i];
        if (c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c != '\\') {
            uint32_t cp;
            size_t w = noa_utf8_decode(p + i, s->end - i, &cp);
            if (w) {
                i += w;
                continue;
            }
            noa_buf_append(b, src + run, i - run);
            noa_buf_put_utf8(b, 0xFFFD);
            run = ++i;
            continue;
        }
        noa_buf_append(b, src + run, i - run);
        unsigned char e = p[i + 1];
        if (e != 'u') {
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            noa_buf_putc(b, to[strchr(from, e) - from]);
            run = i += 2;
            continue;
        }
        uint32_t cp = 0, lo = 0;
        hex4(src + i + 2, &cp); /* validated by scan_string */
        i += 6;
        if (cp >= 0xD800 && cp < 0xDC00 && s->end - i >= 6 && p[i] == '\\' && p[i + 1] == 'u' &&
            hex4(src + i + 2, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
        } else if (cp >= 0xD800 && cp < 0xE000) {
            cp = 0xFFFD;
        }
        noa_buf_put_utf8(b, cp);
        run = i;
    }
    noa_buf_append(b, src + run, s->end - run);
}

static int skip_value(struct reader *r, int depth);

static int skip_literal(struct reader *r, const char *lit)
{
    size_t k = strlen(lit);
    if (r->n - r->i < k || memcmp(r->p + r->i, lit, k) != 0)
        return fail_at(r, r->i, "invalid literal (expected %s)", lit);
    r->i += k;
    return 0;
}

static size_t skip_digits(struct reader *r)
{
    size_t from = r->i;
    while (r->i < r->n && (unsigned)((unsigned char)r->p[r->i] - '0') <= 9)
        r->i++;
    return r->i - from;
}

static int skip_number(struct reader *r)
{
    size_t at = r->i;
    if (r->p[r->i] == '-')
        r->i++;
    if (r->i < r->n && r->p[r->i] == '0')
        r->i++;
    else if (skip_digits(r) == 0)
        return fail_at(r, at, "invalid number");
    if (r->i < r->n && r->p[r->i] == '.') {
        r->i++;
        if (skip_digits(r) == 0)
            return fail_at(r, at, "invalid number");
    }
    if (r->i < r->n && (r->p[r->i] == 'e' || r->p[r->i] == 'E')) {
        r->i++;
        if (r->i < r->n && (r->p[r->i] == '+' || r->p[r->i] == '-'))
            r->i++;
        if (skip_digits(r) == 0)
            return fail_at(r, at, "invalid number");
    }
    return 0;
}

/* Skips an object or array body after its opening bracket. */
static int skip_container(struct reader *r, int depth, char close)
{
    skip_ws(r);
    if (r->i < r->n && r->p[r->i] == close) {
        r->i++;
        return 0;
    }
    for (;;) {
        int rc;
        struct jstr key;
        skip_ws(r);
        if (close == '}') {
            if (r->i >= r->n || r->p[r->i] != '"')
                return fail_at(r, r->i, "expected a member name");
            if ((rc = scan_string(r, &key)) != 0)
                return rc;
            skip_ws(r);
            if (r->i >= r->n || r->p[r->i] != ':')
                return fail_at(r, r->i, "expected ':' after a member name");
            r->i++;
        }
        if ((rc = skip_value(r, depth + 1)) != 0)
            return rc;
        skip_ws(r);
        if (r->i < r->n && r->p[r->i] == ',') {
            r->i++;
            continue;
        }
        if (r->i < r->n && r->p[r->i] == close) {
            r->i++;
            return 0;
        }
        return fail_at(r, r->i, "expected ',' or '%c'", close);
    }
}

static int skip_value(struct reader *r, int depth)
{
    struct jstr s;
    skip_ws(r);
    if (r->i >= r->n)
        return fail_at(r, r->i, "unexpected end of line (expected a value)");
    if (depth > DOCKERLOG_MAX_DEPTH)
        return fail_at(r, r->i, "nesting deeper than %d", DOCKERLOG_MAX_DEPTH);
    switch (r->p[r->i]) {
    case '"':
        return scan_string(r, &s);
    case '{':
        r->i++;
        return skip_container(r, depth, '}');
    case '[':
        r->i++;
        return skip_container(r, depth, ']');
    case 't':
        return skip_literal(r, "true");
    case 'f':
        return skip_literal(r, "false");
    case 'n':
        return skip_literal(r, "null");
    default:
        if (r->p[r->i] == '-' || (unsigned)((unsigned char)r->p[r->i] - '0') <= 9)
            return skip_number(r);
        return fail_at(r, r->i, "unexpected character '%c'",
                       (unsigned char)r->p[r->i] >= 0x20 && (unsigned char)r->p[r->i] < 0x7f
                           ? r->p[r->i]
                           : '?');
    }
}

/* The decoded bytes of a short string: borrowed when it has nothing to
 * decode, else unescaped into scratch (reset first). */
static struct noa_str text_of(struct noa_dockerlog *d, const char *src, const struct jstr *s)
{
    if (s->n_esc == 0 && !s->bad_utf8)
        return (struct noa_str){src + s->start, s->end - s->start};
    noa_buf_reset(&d->scratch);
    unescape(src, s, &d->scratch);
    return (struct noa_str){d->scratch.data, d->scratch.len};
}

enum { KEY_OTHER, KEY_LOG, KEY_STREAM, KEY_TIME };

static int classify(struct noa_dockerlog *d, const char *src, const struct jstr *key)
{
    struct noa_str k = text_of(d, src, key);
    if (noa_str_eq_c(k, "log"))
        return KEY_LOG;
    if (noa_str_eq_c(k, "stream"))
        return KEY_STREAM;
    if (noa_str_eq_c(k, "time"))
        return KEY_TIME;
    return KEY_OTHER;
}

/* Reads the top-level object, remembering the three members we need. */
static int read_object(struct noa_dockerlog *d, struct reader *r, struct jstr m[4], int have[4])
{
    static const char *const names[4] = {"", "log", "stream", "time"};
    skip_ws(r);
    if (r->i >= r->n || r->p[r->i] != '{')
        return fail_at(r, r->i, "line is not a JSON object");
    r->i++;
    skip_ws(r);
    if (r->i < r->n && r->p[r->i] == '}') {
        r->i++;
        return 0;
    }
    for (;;) {
        int rc;
        struct jstr key;
        skip_ws(r);
        if (r->i >= r->n || r->p[r->i] != '"')
            return fail_at(r, r->i, "expected a member name");
        if ((rc = scan_string(r, &key)) != 0)
            return rc;
        skip_ws(r);
        if (r->i >= r->n || r->p[r->i] != ':')
            return fail_at(r, r->i, "expected ':' after a member name");
        r->i++;
        skip_ws(r);
        int which = classify(d, r->p, &key);
        if (which == KEY_OTHER) {
            rc = skip_value(r, 1);
        } else if (r->i >= r->n || r->p[r->i] != '"') {
            return fail_at(r, r->i, "\"%s\" must be a string", names[which]);
        } else {
            rc = scan_string(r, &m[which]);
            have[which] = 1;
        }
        if (rc)
            return rc;
        skip_ws(r);
        if (r->i < r->n && r->p[r->i] == ',') {
            r->i++;
            continue;
        }
        if (r->i < r->n && r->p[r->i] == '}') {
            r->i++;
            return 0;
        }
        return fail_at(r, r->i, "expected ',' or '}' after a member");
    }
}

void noa_dockerlog_init(struct noa_dockerlog *d)
{
    memset(d, 0, sizeof(*d));
}

void noa_dockerlog_fini(struct noa_dockerlog *d)
{
    noa_buf_fini(&d->text);
    noa_buf_fini(&d->scratch);
}

int noa_dockerlog_parse(struct noa_dockerlog *d, const char *p, size_t n,
                        struct noa_dockerlog_line *out, struct noa_error *err)
{
    struct reader r = {.p = p, .n = n, .i = 0, .err = err};
    struct jstr m[4];
    int have[4] = {0};
    int rc = read_object(d, &r, m, have);
    if (rc)
        return rc;
    skip_ws(&r);
    if (r.i != n)
        return fail_at(&r, r.i, "unexpected text after the JSON object");
    if (!have[KEY_LOG] || !have[KEY_STREAM] || !have[KEY_TIME])
        return noa_error_set_at(err, NOA_EINVAL, 1, 1, "docker: missing \"%s\" member",
                                !have[KEY_LOG]      ? "log"
                                : !have[KEY_STREAM] ? "stream"
                                                    : "time");

    struct noa_str v = text_of(d, p, &m[KEY_STREAM]);
    if (noa_str_eq_c(v, "stdout"))
        out->stream = NOA_CRI_STDOUT;
    else if (noa_str_eq_c(v, "stderr"))
        out->stream = NOA_CRI_STDERR;
    else
        return fail_at(&r, m[KEY_STREAM].start, "\"stream\" must be \"stdout\" or \"stderr\"");

    struct noa_error terr;
    v = text_of(d, p, &m[KEY_TIME]);
    if (noa_cri_parse_time(v.p, v.len, &out->ts_ns, &terr) != 0)
        return fail_at(&r, m[KEY_TIME].start, "%s", terr.msg);

    /* The hot case: no escape but the final "\n", so borrow the input. */
    const struct jstr *s = &m[KEY_LOG];
    struct noa_str c;
    int newline = 0;
    if (!s->bad_utf8 && s->n_esc == 0) {
        c = (struct noa_str){p + s->start, s->end - s->start};
    } else if (!s->bad_utf8 && s->n_esc == 1 && s->last_esc + 2 == s->end && p[s->end - 1] == 'n') {
        c = (struct noa_str){p + s->start, s->end - s->start - 2};
        newline = 1;
    } else {
        noa_buf_reset(&d->text);
        unescape(p, s, &d->text);
        c = (struct noa_str){d->text.data, d->text.len};
        if (c.len && c.p[c.len - 1] == '\n') {
            c.len--;
            newline = 1;
        }
    }
    if (newline && c.len && c.p[c.len - 1] == '\r')
        c.len--;
    out->partial = !newline;
    out->content = c;
    return 0;
}
