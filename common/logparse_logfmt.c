/*
 * `| logfmt [--strict] [--keep-empty] [a="key", ...]` (see logparse.h):
 * Loki's adaptation of go-logfmt's decoder, scanning the line once and
 * handing unquoted values to the label builder straight from the line.
 * Runs on the caller's thread with the caller's builder.
 */
#include "common/logparse_int.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct lfdec {
    const char *p;
    size_t n, pos;
    struct noa_str key, val;
    int err_pos; /* 1-based position of the last error, 0 when none */
    /* The last error, formatted only when --strict reports it: either a
     * fixed message or an unexpected byte. */
    const char *err_msg;
    char err_c;
};

static int lf_error(struct lfdec *d, const char *msg)
{
    d->err_pos = (int)d->pos + 1;
    d->err_msg = msg;
    return 0;
}

static int lf_unexpected(struct lfdec *d, char c)
{
    d->err_pos = (int)d->pos + 1;
    d->err_msg = NULL;
    d->err_c = c;
    return 0;
}

/* Byte classes of the scanner, so its loops test one table entry. */
#define LF_SPACE 1 /* <= ' ': ends a key or a value */
#define LF_EQ 2
#define LF_QUOTE 4
#define LF_STOP (LF_SPACE | LF_EQ | LF_QUOTE)

#define X4(v) v, v, v, v
#define X16(v) X4(v), X4(v), X4(v), X4(v)
static const uint8_t lf_class[256] = {
    X16(LF_SPACE), X16(LF_SPACE), LF_SPACE, 0, LF_QUOTE, 0, X4(0), X4(0), X4(0), /* 0x00-0x2f */
    X4(0), X4(0), X4(0), 0, LF_EQ, 0, 0,                                        /* 0x30-0x3f */
    X16(0), X16(0), X16(0), X16(0),                                              /* 0x40-0x7f */
};
#undef X4
#undef X16

static int key_invalid(struct noa_str k)
{
    for (size_t i = 0; i < k.len;) {
        if ((unsigned char)k.p[i] < 0x80) {
            i++;
            continue;
        }
        size_t l;
        if (noa__logparse_bad_rune((const unsigned char *)k.p + i, k.len - i, &l))
            return 1;
        i += l;
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
        /* Plain key bytes, a table test each. */
        while (d->pos < d->n && !(lf_class[(unsigned char)d->p[d->pos]] & LF_STOP))
            d->pos++;
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
        while (d->pos < d->n && !(lf_class[(unsigned char)d->p[d->pos]] & LF_STOP))
            d->pos++;
        if (d->pos < d->n && !(lf_class[(unsigned char)d->p[d->pos]] & LF_SPACE)) {
            lf_unexpected(d, d->p[d->pos]);
            return lf_skip(d);
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
                if (noa__logparse_unescape(raw, vbuf))
                    return lf_error(d, "invalid quoted value");
                raw = noa__logparse_bstr(vbuf);
            }
            d->val = raw;
            return 1;
        }
    }
    d->pos = d->n;
    return lf_error(d, "unterminated quoted value");
}

void noa__logparse_logfmt_run(struct noa__logparse_run *r, struct noa_str line,
                              struct noa_lbuilder *lb)
{
    const struct noa_logparse *cfg = r->cfg;
    struct lfdec d = {.p = line.p, .n = line.len};
    if (cfg->nex) {
        memset(r->ex_done, 0, cfg->nex);
        struct noa_str v;
        for (unsigned e = 0; e < cfg->nex; e++)
            if (!noa_lbuilder_get_cat(lb, NOA_LB_STREAM, cfg->ex[e].name, &v) &&
                !noa_lbuilder_get_cat(lb, NOA_LB_META, cfg->ex[e].name, &v))
                noa_lbuilder_set(lb, NOA_LB_PARSED, cfg->ex[e].name, (struct noa_str){"", 0});
    }
    while (d.pos < d.n) {
        if (!lf_scan(&d, r->val)) {
            if (cfg->strict && d.err_pos)
                break;
            continue;
        }
        if (cfg->nex) {
            for (unsigned e = 0; e < cfg->nex; e++) {
                if (r->ex_done[e] || !noa_str_eq(cfg->ex[e].expr, d.key))
                    continue;
                r->ex_done[e] = 1;
                noa_lbuilder_set_parsed(lb, cfg->ex[e].name,
                                        noa__logparse_clean_value(d.val, r->line));
            }
            continue;
        }
        if (d.val.len == 0 && !cfg->keep_empty)
            continue;
        struct noa_str name = noa__logparse_sanitized(d.key, 1, r->key);
        if (name.len == 0 || !noa__logparse_wanted(r->want, name))
            continue;
        noa_lbuilder_add_parsed(lb, name, noa__logparse_clean_value(d.val, r->line));
        if (noa__logparse_want_done(r, name))
            return;
    }
    if (cfg->strict && d.err_pos) {
        char msg[128];
        if (d.err_msg)
            snprintf(msg, sizeof(msg), "logfmt syntax error at pos %d : %s", d.err_pos,
                     d.err_msg);
        else
            snprintf(msg, sizeof(msg), "logfmt syntax error at pos %d : unexpected '%c'",
                     d.err_pos, d.err_c);
        noa__logparse_set_error(lb, NOA_LB_ERR_LOGFMT, msg);
    }
}
