/*
 * Label text parsing (Loki's push label syntax), canonical formatting and
 * fingerprints. Pure functions; any thread.
 */
#include "common/labels.h"
#include "common/mem.h"

#include <stdlib.h>
#define XXH_INLINE_ALL /* the hash is on the ingest hot path */
#include <xxhash.h>

static int is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

int noa_label_name_valid(struct noa_str s)
{
    if (s.len == 0 || !is_name_start(s.p[0]))
        return 0;
    for (size_t i = 1; i < s.len; i++)
        if (!is_name_char(s.p[i]))
            return 0;
    return 1;
}

static void skip_space(struct noa_str t, size_t *i)
{
    while (*i < t.len && (t.p[*i] == ' ' || t.p[*i] == '\t' || t.p[*i] == '\n' || t.p[*i] == '\r'))
        (*i)++;
}

/* Decodes one Go escape sequence at t[*i] (just after the backslash). */
static int unescape_one(struct noa_str t, size_t *i, char quote, struct noa_buf *b)
{
    if (*i >= t.len)
        return -1;
    char c = t.p[(*i)++];
    int digits = 0;
    switch (c) {
    case 'a': noa_buf_putc(b, '\a'); return 0;
    case 'b': noa_buf_putc(b, '\b'); return 0;
    case 'f': noa_buf_putc(b, '\f'); return 0;
    case 'n': noa_buf_putc(b, '\n'); return 0;
    case 'r': noa_buf_putc(b, '\r'); return 0;
    case 't': noa_buf_putc(b, '\t'); return 0;
    case 'v': noa_buf_putc(b, '\v'); return 0;
    case '\\': noa_buf_putc(b, '\\'); return 0;
    case 'x': digits = 2; break;
    case 'u': digits = 4; break;
    case 'U': digits = 8; break;
    default:
        if (c == quote) {
            noa_buf_putc(b, c);
            return 0;
        }
        if (c >= '0' && c <= '7') {
            if (*i + 2 > t.len)
                return -1;
            int v = c - '0';
            for (int k = 0; k < 2; k++) {
                char d = t.p[(*i)++];
                if (d < '0' || d > '7')
                    return -1;
                v = v * 8 + (d - '0');
            }
            if (v > 255)
                return -1;
            noa_buf_putc(b, (char)v);
            return 0;
        }
        return -1;
    }
    if (*i + (size_t)digits > t.len)
        return -1;
    uint32_t v = 0;
    for (int k = 0; k < digits; k++) {
        int h = noa_hexval((unsigned char)t.p[(*i)++]);
        if (h < 0)
            return -1;
        v = v * 16 + (uint32_t)h;
    }
    if (c == 'x') {
        noa_buf_putc(b, (char)v);
        return 0;
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return -1;
    noa_buf_put_utf8(b, v);
    return 0;
}

/*
 * Reads a quoted string at t[*i] (on the opening quote). Borrows from t
 * when there is nothing to unescape, else builds the value in the arena.
 */
static int parse_quoted(struct noa_str t, size_t *i, struct noa_arena *arena, struct noa_str *out)
{
    char quote = t.p[*i];
    size_t start = ++(*i);
    if (quote == '`') {
        while (*i < t.len && t.p[*i] != '`')
            (*i)++;
        if (*i >= t.len)
            return -1;
        *out = (struct noa_str){t.p + start, *i - start};
        (*i)++;
        return 0;
    }
    while (*i < t.len && t.p[*i] != '"' && t.p[*i] != '\\' && t.p[*i] != '\n')
        (*i)++;
    if (*i < t.len && t.p[*i] == '"') {
        *out = (struct noa_str){t.p + start, *i - start};
        (*i)++;
        return 0;
    }
    struct noa_buf b = {0};
    noa_buf_append(&b, t.p + start, *i - start);
    while (*i < t.len && t.p[*i] != '"') {
        char c = t.p[(*i)++];
        if (c == '\n')
            goto fail;
        if (c != '\\') {
            noa_buf_putc(&b, c);
            continue;
        }
        if (unescape_one(t, i, '"', &b) < 0)
            goto fail;
    }
    if (*i >= t.len)
        goto fail;
    (*i)++;
    *out = noa_arena_str(arena, (struct noa_str){b.data, b.len});
    noa_buf_fini(&b);
    return 0;
fail:
    noa_buf_fini(&b);
    return -1;
}

int noa_labels_unquote(const char *text, size_t len, size_t *pos, struct noa_buf *out)
{
    struct noa_str t = {text, len};
    size_t i = *pos;
    if (i >= len || (text[i] != '"' && text[i] != '`'))
        return NOA_EINVAL;
    char quote = text[i++];
    while (i < len && text[i] != quote) {
        char c = text[i++];
        if (quote == '`' || c != '\\') {
            if (quote == '"' && c == '\n')
                return NOA_EINVAL;
            noa_buf_putc(out, c);
        } else if (unescape_one(t, &i, quote, out) < 0) {
            return NOA_EINVAL;
        }
    }
    if (i >= len)
        return NOA_EINVAL;
    *pos = i + 1;
    return 0;
}

static int label_cmp(const void *a, const void *b)
{
    const struct noa_label *x = a, *y = b;
    int c = noa_str_cmp(x->name, y->name);
    if (c)
        return c;
    /* Keeps qsort deterministic for (invalid) duplicates, reported later. */
    return x < y ? -1 : x > y;
}

void noa_labels_sort(struct noa_labels *ls)
{
    /* Insertion sort: label sets are small and usually already sorted. */
    for (uint32_t i = 1; i < ls->n; i++) {
        struct noa_label cur = ls->v[i];
        uint32_t j = i;
        while (j > 0 && noa_str_cmp(ls->v[j - 1].name, cur.name) > 0) {
            ls->v[j] = ls->v[j - 1];
            j--;
        }
        ls->v[j] = cur;
    }
}

static int parse_fail(struct noa_error *err, size_t i, const char *what)
{
    return noa_error_set_at(err, NOA_EINVAL, 1, (int)i + 1, "1:%zu: parse error: %s", i + 1,
                            what);
}

int noa_labels_parse(struct noa_str t, struct noa_arena *arena, struct noa_labels *out,
                     struct noa_error *err)
{
    size_t i = 0, cap, n = 0;
    struct noa_label stack[32];
    struct noa_label *v = stack;
    int rc = 0;
    out->v = NULL;
    out->n = 0;
    skip_space(t, &i);
    if (i >= t.len || t.p[i] != '{')
        return parse_fail(err, i, "unexpected input, expected {");
    i++;
    cap = sizeof(stack) / sizeof(stack[0]);
    for (;;) {
        skip_space(t, &i);
        if (i < t.len && t.p[i] == '}' ) {
            i++;
            break;
        }
        if (n > 0) {
            if (i >= t.len || t.p[i] != ',') {
                rc = parse_fail(err, i, "unexpected input, expected , or }");
                goto done;
            }
            i++;
            skip_space(t, &i);
            if (i < t.len && t.p[i] == '}') { /* trailing comma */
                i++;
                break;
            }
        }
        size_t ns = i;
        if (i >= t.len || !is_name_start(t.p[i])) {
            rc = parse_fail(err, i, "unexpected input, expected label name");
            goto done;
        }
        while (i < t.len && is_name_char(t.p[i]))
            i++;
        struct noa_str name = {t.p + ns, i - ns};
        skip_space(t, &i);
        if (i >= t.len || t.p[i] != '=' || (i + 1 < t.len && t.p[i + 1] == '~')) {
            rc = parse_fail(err, i, "unexpected input, expected =");
            goto done;
        }
        i++;
        skip_space(t, &i);
        struct noa_str value;
        if (i >= t.len || (t.p[i] != '"' && t.p[i] != '`') ||
            parse_quoted(t, &i, arena, &value) < 0) {
            rc = parse_fail(err, i, "invalid quoted string");
            goto done;
        }
        if (n == cap) {
            size_t ncap = cap * 2;
            struct noa_label *nv = noa_arena_alloc(arena, ncap * sizeof(*nv));
            memcpy(nv, v, n * sizeof(*nv));
            v = nv;
            cap = ncap;
        }
        v[n++] = (struct noa_label){name, value};
    }
    skip_space(t, &i);
    if (i != t.len) {
        rc = parse_fail(err, i, "unexpected input after }");
        goto done;
    }
    qsort(v, n, sizeof(*v), label_cmp);
    out->v = noa_arena_alloc(arena, (n ? n : 1) * sizeof(*out->v));
    for (size_t k = 0; k < n; k++)
        if (v[k].value.len)
            out->v[out->n++] = v[k];
done:
    return rc;
}

void noa_buf_put_go_quoted(struct noa_buf *b, struct noa_str s)
{
    static const char hex[] = "0123456789abcdef";
    noa_buf_reserve(b, s.len + 2);
    noa_buf_putc(b, '"');
    size_t i = 0;
    while (i < s.len) {
        size_t run = i;
        while (run < s.len && (unsigned char)s.p[run] >= 0x20 && s.p[run] != '"' &&
               s.p[run] != '\\' && s.p[run] != 0x7f)
            run++;
        noa_buf_append(b, s.p + i, run - i);
        i = run;
        if (i >= s.len)
            break;
        unsigned char c = (unsigned char)s.p[i++];
        switch (c) {
        case '"': noa_buf_append(b, "\\\"", 2); break;
        case '\\': noa_buf_append(b, "\\\\", 2); break;
        case '\n': noa_buf_append(b, "\\n", 2); break;
        case '\t': noa_buf_append(b, "\\t", 2); break;
        case '\r': noa_buf_append(b, "\\r", 2); break;
        default: {
            char x[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            noa_buf_append(b, x, 4);
        }
        }
    }
    noa_buf_putc(b, '"');
}

void noa_labels_format(const struct noa_labels *ls, struct noa_buf *out)
{
    noa_buf_putc(out, '{');
    for (uint32_t i = 0; i < ls->n; i++) {
        if (i)
            noa_buf_append(out, ", ", 2);
        noa_buf_append_str(out, ls->v[i].name);
        noa_buf_putc(out, '=');
        noa_buf_put_go_quoted(out, ls->v[i].value);
    }
    noa_buf_putc(out, '}');
}

uint64_t noa_labels_hash(const struct noa_labels *ls)
{
    XXH3_state_t st;
    static const char sep = '\xff';
    XXH3_64bits_reset(&st);
    for (uint32_t i = 0; i < ls->n; i++) {
        XXH3_64bits_update(&st, ls->v[i].name.p, ls->v[i].name.len);
        XXH3_64bits_update(&st, &sep, 1);
        XXH3_64bits_update(&st, ls->v[i].value.p, ls->v[i].value.len);
        XXH3_64bits_update(&st, &sep, 1);
    }
    return XXH3_64bits_digest(&st);
}

struct noa_str noa_labels_get(const struct noa_labels *ls, struct noa_str name)
{
    for (uint32_t i = 0; i < ls->n; i++)
        if (noa_str_eq(ls->v[i].name, name))
            return ls->v[i].value;
    return (struct noa_str){NULL, 0};
}

struct noa_labels noa_labels_dup(const struct noa_labels *ls)
{
    size_t bytes = ls->n * sizeof(struct noa_label);
    for (uint32_t i = 0; i < ls->n; i++)
        bytes += ls->v[i].name.len + ls->v[i].value.len + 2;
    struct noa_labels out = {noa_xmalloc(bytes ? bytes : 1), ls->n};
    char *s = (char *)(out.v + ls->n);
    for (uint32_t i = 0; i < ls->n; i++) {
        struct noa_str parts[2] = {ls->v[i].name, ls->v[i].value};
        struct noa_str *dst[2] = {&out.v[i].name, &out.v[i].value};
        for (int k = 0; k < 2; k++) {
            if (parts[k].len)
                memcpy(s, parts[k].p, parts[k].len);
            s[parts[k].len] = '\0';
            *dst[k] = (struct noa_str){s, parts[k].len};
            s += parts[k].len + 1;
        }
    }
    return out;
}

int noa_labels_cmp(const struct noa_labels *a, const struct noa_labels *b)
{
    uint32_t n = a->n < b->n ? a->n : b->n;
    for (uint32_t i = 0; i < n; i++) {
        int c = noa_str_cmp(a->v[i].name, b->v[i].name);
        if (c)
            return c;
        c = noa_str_cmp(a->v[i].value, b->v[i].value);
        if (c)
            return c;
    }
    return a->n < b->n ? -1 : a->n > b->n;
}
