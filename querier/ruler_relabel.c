/*
 * Alert relabelling with Prometheus's semantics: config compilation and
 * application. See querier/ruler_relabel.h. Compiled on the loop thread,
 * applied on the ruler thread.
 */
#include "querier/ruler_relabel.h"

#include "common/buf.h"
#include "common/mem.h"
#include "common/regex.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum action {
    A_REPLACE,
    A_KEEP,
    A_DROP,
    A_KEEPEQUAL,
    A_DROPEQUAL,
    A_LABELMAP,
    A_LABELDROP,
    A_LABELKEEP,
    A_LOWERCASE,
    A_UPPERCASE,
    A_HASHMOD,
};

static const char *const action_names[] = {"replace",   "keep",      "drop",     "keepequal",
                                           "dropequal", "labelmap",  "labeldrop", "labelkeep",
                                           "lowercase", "uppercase", "hashmod",  NULL};

struct step {
    enum action action;
    char **source; /* owned */
    unsigned n_source;
    char *separator;   /* owned */
    char *target;      /* owned */
    char *replacement; /* owned */
    uint64_t modulus;  /* hashmod */
    struct noa_regex *re;
};

struct noa_ruler_relabel {
    struct step *steps;
    unsigned n;
};

#define DEF_SEPARATOR ";"
#define DEF_REGEX "(.*)"
#define DEF_REPLACEMENT "$1"

static int valid_name(const char *s, size_t n)
{
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return 0;
    return 1;
}

/* Prometheus's relabelTarget: ^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$ --
 * a label name in which $var and ${var} may stand for letters. */
static int valid_target_template(const char *s)
{
    size_t i = 0, n = strlen(s);
    if (n == 0)
        return 0;
    while (i < n) {
        /* one (?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+ run, then \w* */
        size_t start = i;
        for (;;) {
            if (i < n && (isalpha((unsigned char)s[i]) || s[i] == '_')) {
                i++;
            } else if (i < n && s[i] == '$') {
                size_t j = i + 1;
                if (j < n && s[j] == '{') {
                    size_t k = j + 1;
                    while (k < n && (isalnum((unsigned char)s[k]) || s[k] == '_'))
                        k++;
                    if (k == j + 1 || k >= n || s[k] != '}')
                        break;
                    i = k + 1;
                } else {
                    size_t k = j;
                    while (k < n && (isalnum((unsigned char)s[k]) || s[k] == '_'))
                        k++;
                    if (k == j)
                        break;
                    i = k;
                }
            } else {
                break;
            }
        }
        if (i == start)
            return 0;
        while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '_'))
            i++;
    }
    return 1;
}

static void step_fini(struct step *s)
{
    for (unsigned i = 0; i < s->n_source; i++)
        noa_free(s->source[i]);
    noa_free(s->source);
    noa_free(s->separator);
    noa_free(s->target);
    noa_free(s->replacement);
    noa_regex_free(s->re);
}

void noa_ruler_relabel_free(struct noa_ruler_relabel *rl)
{
    if (!rl)
        return;
    for (unsigned i = 0; i < rl->n; i++)
        step_fini(&rl->steps[i]);
    noa_free(rl->steps);
    noa_free(rl);
}

unsigned noa_ruler_relabel_len(const struct noa_ruler_relabel *rl)
{
    return rl ? rl->n : 0;
}

static int scalar(const struct noa_yaml_node *v, const char *key, char **out,
                  struct noa_error *err)
{
    if (v->kind != NOA_YAML_SCALAR)
        return noa_yaml_error(err, v, "%s: expected a string, got %s", key, noa_yaml_type_name(v));
    noa_free(*out);
    *out = noa_xstrndup(v->str, v->len);
    return 0;
}

/* One config map into s (already holding the defaults). */
static int parse_step(const struct noa_yaml_node *m, struct step *s, struct noa_error *err)
{
    char *regex = noa_xstrdup(DEF_REGEX), *action = noa_xstrdup("replace");
    int rc = 0, has_source = 0, has_modulus = 0;
    if (m->kind != NOA_YAML_MAP) {
        rc = noa_yaml_error(err, m, "relabel config: expected a map, got %s", noa_yaml_type_name(m));
        goto fail;
    }
    for (size_t i = 0; i < m->n; i++) {
        const char *k = m->pairs[i].key->str;
        const struct noa_yaml_node *v = m->pairs[i].value;
        if (!strcmp(k, "source_labels")) {
            has_source = 1;
            if (noa_yaml_is_null(v))
                continue;
            if (v->kind != NOA_YAML_SEQ) {
                rc = noa_yaml_error(err, v, "source_labels: expected a list, got %s",
                                    noa_yaml_type_name(v));
                goto fail;
            }
            s->source = noa_xcalloc(v->n + 1, sizeof(*s->source));
            for (size_t j = 0; j < v->n; j++) {
                const struct noa_yaml_node *it = v->items[j];
                if (it->kind != NOA_YAML_SCALAR || !valid_name(it->str, it->len)) {
                    rc = noa_yaml_error(err, it, "%.*s is not a valid label name",
                                        it->kind == NOA_YAML_SCALAR ? (int)it->len : 1,
                                        it->kind == NOA_YAML_SCALAR ? it->str : "?");
                    goto fail;
                }
                s->source[s->n_source++] = noa_xstrndup(it->str, it->len);
            }
        } else if (!strcmp(k, "separator")) {
            if ((rc = scalar(v, k, &s->separator, err)))
                goto fail;
        } else if (!strcmp(k, "target_label")) {
            if ((rc = scalar(v, k, &s->target, err)))
                goto fail;
        } else if (!strcmp(k, "regex")) {
            if ((rc = scalar(v, k, &regex, err)))
                goto fail;
        } else if (!strcmp(k, "replacement")) {
            if ((rc = scalar(v, k, &s->replacement, err)))
                goto fail;
        } else if (!strcmp(k, "action")) {
            if ((rc = scalar(v, k, &action, err)))
                goto fail;
            for (char *c = action; *c; c++)
                *c = (char)tolower((unsigned char)*c);
            if (!*action) {
                rc = noa_yaml_error(err, v, "relabel action cannot be empty");
                goto fail;
            }
        } else if (!strcmp(k, "modulus")) {
            int64_t mod = 0;
            if (noa_yaml_int64(v, &mod) != 0 || mod < 0) {
                rc = noa_yaml_error(err, v, "modulus: expected a non-negative integer");
                goto fail;
            }
            has_modulus = mod != 0;
            s->modulus = (uint64_t)mod;
        } else {
            rc = noa_yaml_error(err, m->pairs[i].key, "field %s not found in type relabel.Config", k);
            goto fail;
        }
    }
    int a = -1;
    for (int i = 0; action_names[i]; i++)
        if (!strcmp(action, action_names[i]))
            a = i;
    if (a < 0) {
        rc = noa_yaml_error(err, m, "unknown relabel action \"%s\"", action);
        goto fail;
    }
    s->action = (enum action)a;
    const char *an = action_names[a];
    if (a == A_HASHMOD && !has_modulus) {
        rc = noa_yaml_error(err, m, "relabel configuration for hashmod requires non-zero modulus");
        goto fail;
    }
    int needs_target = a == A_REPLACE || a == A_LOWERCASE || a == A_UPPERCASE ||
                       a == A_KEEPEQUAL || a == A_DROPEQUAL || a == A_HASHMOD;
    if (needs_target && !*s->target) {
        rc = noa_yaml_error(err, m, "relabel configuration for %s action requires 'target_label' value",
                            an);
        goto fail;
    }
    if ((a == A_REPLACE && !valid_target_template(s->target)) ||
        (needs_target && a != A_REPLACE && !valid_name(s->target, strlen(s->target)))) {
        rc = noa_yaml_error(err, m, "\"%s\" is invalid 'target_label' for %s action", s->target, an);
        goto fail;
    }
    if ((a == A_LOWERCASE || a == A_UPPERCASE || a == A_KEEPEQUAL || a == A_DROPEQUAL) &&
        strcmp(s->replacement, DEF_REPLACEMENT)) {
        rc = noa_yaml_error(err, m, "'replacement' can not be set for %s action", an);
        goto fail;
    }
    if (a == A_LABELMAP && !valid_target_template(s->replacement)) {
        rc = noa_yaml_error(err, m, "\"%s\" is invalid 'replacement' for %s action", s->replacement,
                            an);
        goto fail;
    }
    if ((a == A_KEEPEQUAL || a == A_DROPEQUAL) &&
        (strcmp(regex, DEF_REGEX) || has_modulus || strcmp(s->separator, DEF_SEPARATOR))) {
        rc = noa_yaml_error(err, m, "%s action requires only 'source_labels' and `target_label`, "
                                    "and no other fields", an);
        goto fail;
    }
    if ((a == A_LABELDROP || a == A_LABELKEEP) &&
        (has_source || *s->target || has_modulus || strcmp(s->separator, DEF_SEPARATOR) ||
         strcmp(s->replacement, DEF_REPLACEMENT))) {
        rc = noa_yaml_error(err, m, "%s action requires only 'regex', and no other fields", an);
        goto fail;
    }
    struct noa_error rerr = {0};
    if (noa_regex_compile(regex, strlen(regex), NOA_REGEX_ANCHORED, &s->re, &rerr) != 0) {
        rc = noa_yaml_error(err, m, "%s", rerr.msg);
        goto fail;
    }
fail:
    noa_free(regex);
    noa_free(action);
    return rc;
}

int noa_ruler_relabel_new(const struct noa_yaml_node *list, struct noa_ruler_relabel **out,
                          struct noa_error *err)
{
    struct noa_ruler_relabel *rl = noa_xcalloc(1, sizeof(*rl));
    int rc = 0;
    if (!list || noa_yaml_is_null(list))
        goto done;
    if (list->kind != NOA_YAML_SEQ) {
        rc = noa_yaml_error(err, list, "alert_relabel_configs: expected a list, got %s",
                            noa_yaml_type_name(list));
        goto fail;
    }
    rl->steps = noa_xcalloc(list->n + 1, sizeof(*rl->steps));
    for (size_t i = 0; i < list->n; i++) {
        struct step *s = &rl->steps[rl->n++];
        s->separator = noa_xstrdup(DEF_SEPARATOR);
        s->target = noa_xstrdup("");
        s->replacement = noa_xstrdup(DEF_REPLACEMENT);
        if ((rc = parse_step(list->items[i], s, err)) != 0)
            goto fail;
    }
done:
    *out = rl;
    return 0;
fail:
    noa_ruler_relabel_free(rl);
    return rc;
}

/* ---- MD5 (RFC 1321), for hashmod only ---------------------------------------- */

static uint32_t rotl32(uint32_t x, unsigned c)
{
    return (x << c) | (x >> (32 - c));
}

static void md5_block(uint32_t h[4], const uint32_t k[64], const unsigned char *blk)
{
    static const unsigned shift[4][4] = {{7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23},
                                         {6, 10, 15, 21}};
    uint32_t w[16], a = h[0], b = h[1], c = h[2], d = h[3];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)blk[4 * i] | (uint32_t)blk[4 * i + 1] << 8 |
               (uint32_t)blk[4 * i + 2] << 16 | (uint32_t)blk[4 * i + 3] << 24;
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g;
        switch (i / 16) {
        case 0:
            f = (b & c) | (~b & d);
            g = i;
            break;
        case 1:
            f = (d & b) | (~d & c);
            g = (5 * i + 1) % 16;
            break;
        case 2:
            f = b ^ c ^ d;
            g = (3 * i + 5) % 16;
            break;
        default:
            f = c ^ (b | ~d);
            g = (7 * i) % 16;
            break;
        }
        f += a + k[i] + w[g];
        a = d;
        d = c;
        c = b;
        b += rotl32(f, shift[i / 16][i % 4]);
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
}

static void md5(const void *data, size_t n, unsigned char out[16])
{
    uint32_t h[4] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u}, k[64];
    /* RFC 1321's table: floor(|sin(i + 1)| * 2^32), exact in double
     * precision; computed per call (a few alerts) to keep no shared state. */
    for (int i = 0; i < 64; i++)
        k[i] = (uint32_t)(fabs(sin((double)i + 1.0)) * 4294967296.0);
    const unsigned char *p = data;
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        md5_block(h, k, p + i);
    unsigned char tail[128] = {0};
    size_t rest = n - i, tl = rest < 56 ? 64 : 128;
    if (rest)
        memcpy(tail, p + i, rest);
    tail[rest] = 0x80;
    uint64_t bits = (uint64_t)n * 8;
    for (int b = 0; b < 8; b++)
        tail[tl - 8 + b] = (unsigned char)(bits >> (8 * b));
    md5_block(h, k, tail);
    if (tl == 128)
        md5_block(h, k, tail + 64);
    for (int w = 0; w < 4; w++)
        for (int b = 0; b < 4; b++)
            out[4 * w + b] = (unsigned char)(h[w] >> (8 * b));
}

/* ---- application --------------------------------------------------------------- */

struct lset {
    struct noa_ruler_kv *v; /* owned strings */
    unsigned n, cap;
};

static int find(const struct lset *l, const char *name, size_t len)
{
    for (unsigned i = 0; i < l->n; i++)
        if (strlen(l->v[i].name) == len && !memcmp(l->v[i].name, name, len))
            return (int)i;
    return -1;
}

static const char *get(const struct lset *l, const char *name)
{
    int i = find(l, name, strlen(name));
    return i >= 0 ? l->v[i].value : "";
}

static void del(struct lset *l, const char *name, size_t len)
{
    int i = find(l, name, len);
    if (i < 0)
        return;
    noa_free(l->v[i].name);
    noa_free(l->v[i].value);
    l->v[i] = l->v[--l->n];
}

/* Sets name=value; an empty value deletes, as Prometheus's builder does. */
static void set(struct lset *l, const char *name, size_t nlen, const char *value, size_t vlen)
{
    if (vlen == 0) {
        del(l, name, nlen);
        return;
    }
    int i = find(l, name, nlen);
    if (i >= 0) {
        noa_free(l->v[i].value);
        l->v[i].value = noa_xstrndup(value, vlen);
        return;
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = noa_xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n].name = noa_xstrndup(name, nlen);
    l->v[l->n].value = noa_xstrndup(value, vlen);
    l->n++;
}

/* Go's Regexp.Expand of tmpl over the match groups g[0..ng) of re. */
static void expand(const struct noa_regex *re, const char *tmpl, const struct noa_str *g,
                   unsigned ng, struct noa_buf *out)
{
    for (const char *p = tmpl; *p;) {
        if (*p != '$') {
            noa_buf_putc(out, *p++);
            continue;
        }
        p++;
        if (*p == '$') {
            noa_buf_putc(out, '$');
            p++;
            continue;
        }
        const char *name = p, *end;
        int brace = *p == '{';
        if (brace)
            name++;
        end = name;
        while (isalnum((unsigned char)*end) || *end == '_')
            end++;
        if (end == name || (brace && *end != '}')) {
            noa_buf_putc(out, '$'); /* malformed: the $ is text */
            continue;
        }
        p = brace ? end + 1 : end;
        size_t len = (size_t)(end - name);
        int idx = -1, digits = 1;
        for (size_t i = 0; i < len; i++)
            digits &= isdigit((unsigned char)name[i]) != 0;
        if (digits) {
            /* Go: a number over 1e8 or so is no group; longer ones are never valid here. */
            idx = len <= 8 ? atoi(name) : -1;
        } else {
            idx = noa_regex_group_index(re, name, len);
        }
        if (idx >= 0 && (unsigned)idx < ng && g[idx].p)
            noa_buf_append(out, g[idx].p, g[idx].len);
    }
}

/* Applies one step; returns 0 when the alert is dropped. */
static int apply_step(const struct step *s, struct lset *l, struct noa_buf *val,
                      struct noa_buf *a, struct noa_buf *b, struct noa_str *g, unsigned ng)
{
    noa_buf_reset(val);
    for (unsigned i = 0; i < s->n_source; i++) {
        if (i)
            noa_buf_append(val, s->separator, strlen(s->separator));
        const char *v = get(l, s->source[i]);
        noa_buf_append(val, v, strlen(v));
    }
    noa_buf_cstr(val);
    switch (s->action) {
    case A_DROP:
        return !noa_regex_match(s->re, val->data, val->len);
    case A_KEEP:
        return noa_regex_match(s->re, val->data, val->len);
    case A_KEEPEQUAL:
        return strcmp(val->data, get(l, s->target)) == 0;
    case A_DROPEQUAL:
        return strcmp(val->data, get(l, s->target)) != 0;
    case A_REPLACE: {
        if (!noa_regex_exec(s->re, val->data, val->len, g, ng))
            return 1;
        noa_buf_reset(a);
        noa_buf_reset(b);
        expand(s->re, s->target, g, ng, a);
        if (!valid_name(a->data ? a->data : "", a->len))
            return 1;
        expand(s->re, s->replacement, g, ng, b);
        set(l, a->data, a->len, b->data ? b->data : "", b->len);
        return 1;
    }
    case A_LOWERCASE:
    case A_UPPERCASE:
        for (size_t i = 0; i < val->len; i++)
            val->data[i] = (char)(s->action == A_LOWERCASE ? tolower((unsigned char)val->data[i])
                                                           : toupper((unsigned char)val->data[i]));
        set(l, s->target, strlen(s->target), val->data, val->len);
        return 1;
    case A_HASHMOD: {
        /* Prometheus: the last 8 bytes of the MD5, big-endian, modulo. */
        unsigned char d[16];
        uint64_t v = 0;
        md5(val->data, val->len, d);
        for (int i = 8; i < 16; i++)
            v = v << 8 | d[i];
        char num[24];
        int k = snprintf(num, sizeof(num), "%llu", (unsigned long long)(v % s->modulus));
        set(l, s->target, strlen(s->target), num, (size_t)k);
        return 1;
    }
    case A_LABELMAP: {
        /* Over a snapshot of the names: new labels are not mapped again. */
        unsigned n0 = l->n;
        char **names = noa_xcalloc(n0 + 1, sizeof(*names));
        char **values = noa_xcalloc(n0 + 1, sizeof(*values));
        for (unsigned i = 0; i < n0; i++) {
            names[i] = noa_xstrdup(l->v[i].name);
            values[i] = noa_xstrdup(l->v[i].value);
        }
        for (unsigned i = 0; i < n0; i++) {
            if (!noa_regex_exec(s->re, names[i], strlen(names[i]), g, ng))
                continue;
            noa_buf_reset(a);
            expand(s->re, s->replacement, g, ng, a);
            set(l, a->data ? a->data : "", a->len, values[i], strlen(values[i]));
        }
        for (unsigned i = 0; i < n0; i++) {
            noa_free(names[i]);
            noa_free(values[i]);
        }
        noa_free(names);
        noa_free(values);
        return 1;
    }
    case A_LABELDROP:
    case A_LABELKEEP:
        for (unsigned i = 0; i < l->n;) {
            int m = noa_regex_match(s->re, l->v[i].name, strlen(l->v[i].name));
            if (m == (s->action == A_LABELDROP)) {
                noa_free(l->v[i].name);
                noa_free(l->v[i].value);
                l->v[i] = l->v[--l->n];
                continue;
            }
            i++;
        }
        return 1;
    }
    return 1;
}

static int kv_cmp(const void *x, const void *y)
{
    return strcmp(((const struct noa_ruler_kv *)x)->name, ((const struct noa_ruler_kv *)y)->name);
}

int noa_ruler_relabel_apply(const struct noa_ruler_relabel *rl, struct noa_ruler_kv **labels,
                            unsigned *n)
{
    struct lset l = {*labels, *n, *n};
    struct noa_buf val = {0}, a = {0}, b = {0};
    struct noa_str *g = NULL;
    int keep = 1;
    for (unsigned i = 0; rl && i < rl->n && keep; i++) {
        const struct step *s = &rl->steps[i];
        unsigned ng = noa_regex_groups(s->re) + 1;
        g = noa_xrealloc(g, ng * sizeof(*g));
        keep = apply_step(s, &l, &val, &a, &b, g, ng);
    }
    /* Empty values never stay (the input may have had some). */
    for (unsigned i = 0; i < l.n;) {
        if (!l.v[i].value[0]) {
            noa_free(l.v[i].name);
            noa_free(l.v[i].value);
            l.v[i] = l.v[--l.n];
            continue;
        }
        i++;
    }
    if (l.n)
        qsort(l.v, l.n, sizeof(*l.v), kv_cmp);
    *labels = l.v;
    *n = l.n;
    noa_free(g);
    noa_buf_fini(&val);
    noa_buf_fini(&a);
    noa_buf_fini(&b);
    return keep;
}
