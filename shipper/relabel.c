/*
 * Prometheus relabelling for the shipper's discovery (see relabel.h for the
 * semantics). Owns compiled rule lists; applying them runs on the caller's
 * thread (discovery, the journal and push receivers) and touches only the
 * caller's label set. Discovery relabels every sync period; the journal and
 * push receivers relabel every entry, through noa_relabel_apply with a
 * reused scratch so that path allocates nothing once warmed up.
 */
#include "shipper/relabel.h"

#include "common/log.h"
#include "common/mem.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest regex / template accepted from a config (a human writes them). */
#define MAX_PATTERN 65536u
#define MAX_SOURCES 256u

static const char *const action_names[] = {
    [NOA_RELABEL_REPLACE] = "replace",     [NOA_RELABEL_KEEP] = "keep",
    [NOA_RELABEL_DROP] = "drop",           [NOA_RELABEL_HASHMOD] = "hashmod",
    [NOA_RELABEL_LABELMAP] = "labelmap",   [NOA_RELABEL_LABELDROP] = "labeldrop",
    [NOA_RELABEL_LABELKEEP] = "labelkeep", [NOA_RELABEL_LOWERCASE] = "lowercase",
    [NOA_RELABEL_UPPERCASE] = "uppercase", [NOA_RELABEL_KEEPEQUAL] = "keepequal",
    [NOA_RELABEL_DROPEQUAL] = "dropequal",
};
#define N_ACTIONS (sizeof(action_names) / sizeof(action_names[0]))

const char *noa_relabel_action_name(enum noa_relabel_action a)
{
    return (unsigned)a < N_ACTIONS ? action_names[a] : "unknown";
}

int noa_relabel_valid_name(const char *name, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

/* Prometheus's relabelTarget: label-name characters and $-references only
 * ("^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$"). Checked by hand: the
 * pattern is simple enough and this keeps the check off the regex engine. */
static int is_word(unsigned char c)
{
    return isalnum(c) || c == '_';
}

static int valid_target_template(const char *s)
{
    size_t i = 0, n = strlen(s);
    if (n == 0)
        return 0;
    /* The first unit must be a letter, '_' or a reference; afterwards any
     * word character or reference may follow. */
    int first = 1;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c == '$') {
            i++;
            if (i < n && s[i] == '{') {
                size_t j = i + 1;
                while (j < n && is_word((unsigned char)s[j]))
                    j++;
                if (j == i + 1 || j >= n || s[j] != '}')
                    return 0;
                i = j + 1;
            } else {
                size_t j = i;
                while (j < n && is_word((unsigned char)s[j]))
                    j++;
                if (j == i)
                    return 0;
                i = j;
            }
        } else if (first ? (isalpha(c) || c == '_') : is_word(c)) {
            i++;
        } else {
            return 0;
        }
        first = 0;
    }
    return 1;
}

/* ---- Go's Regexp.Expand ----------------------------------------------------- */

/* Parses a reference after '$' at t[0..n): sets the name span and returns
 * the bytes consumed, or 0 when malformed (the '$' is then literal). */
static size_t extract_ref(const char *t, size_t n, struct noa_str *name)
{
    size_t i = 0;
    int brace = 0;
    if (n > 0 && t[0] == '{') {
        brace = 1;
        i = 1;
    }
    size_t start = i;
    while (i < n && is_word((unsigned char)t[i]))
        i++;
    if (i == start)
        return 0;
    *name = (struct noa_str){t + start, i - start};
    if (brace) {
        if (i >= n || t[i] != '}')
            return 0;
        i++;
    }
    return i;
}

/* Go's group number rule: all digits, below 1e8, no leading zero. */
static long ref_number(struct noa_str name)
{
    long num = 0;
    for (size_t i = 0; i < name.len; i++) {
        if (name.p[i] < '0' || name.p[i] > '9' || num >= 100000000L)
            return -1;
        num = num * 10 + (name.p[i] - '0');
    }
    if (name.p[0] == '0' && name.len > 1)
        return -1;
    return num;
}

void noa_relabel_expand(const struct noa_regex *re, struct noa_str tmpl, struct noa_str subject,
                        const long *ovec, int npairs, struct noa_buf *out)
{
    size_t i = 0;
    while (i < tmpl.len) {
        const char *dollar = memchr(tmpl.p + i, '$', tmpl.len - i);
        if (!dollar) {
            noa_buf_append(out, tmpl.p + i, tmpl.len - i);
            return;
        }
        size_t d = (size_t)(dollar - tmpl.p);
        noa_buf_append(out, tmpl.p + i, d - i);
        i = d + 1;
        if (i < tmpl.len && tmpl.p[i] == '$') {
            noa_buf_putc(out, '$');
            i++;
            continue;
        }
        struct noa_str name;
        size_t used = extract_ref(tmpl.p + i, tmpl.len - i, &name);
        if (!used) {
            noa_buf_putc(out, '$');
            continue;
        }
        i += used;
        long num = ref_number(name);
        if (num < 0) {
            int idx = re ? noa_regex_group_index(re, name.p, name.len) : -1;
            num = idx;
        }
        if (num >= 0 && num < npairs && ovec[2 * num] >= 0 && ovec[2 * num + 1] >= 0)
            noa_buf_append(out, subject.p + ovec[2 * num],
                           (size_t)(ovec[2 * num + 1] - ovec[2 * num]));
    }
}

/* ---- MD5 (RFC 1321), for hashmod ------------------------------------------ */

struct md5 {
    uint32_t h[4];
    unsigned char buf[64];
    uint64_t len;
};

static uint32_t rol(uint32_t x, int c)
{
    return (x << c) | (x >> (32 - c));
}

static void md5_block(struct md5 *m, const unsigned char *p)
{
    static const uint32_t k[64] = {
        0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
        0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
        0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
        0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
        0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
        0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
        0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
        0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
        0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
        0xeb86d391};
    static const int r[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                              5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                              4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                              6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};
    uint32_t w[16];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] | ((uint32_t)p[4 * i + 1] << 8) | ((uint32_t)p[4 * i + 2] << 16) |
               ((uint32_t)p[4 * i + 3] << 24);
    uint32_t a = m->h[0], b = m->h[1], c = m->h[2], d = m->h[3];
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g;
        if (i < 16) {
            f = (b & c) | (~b & d);
            g = i;
        } else if (i < 32) {
            f = (d & b) | (~d & c);
            g = (5 * i + 1) % 16;
        } else if (i < 48) {
            f = b ^ c ^ d;
            g = (3 * i + 5) % 16;
        } else {
            f = c ^ (b | ~d);
            g = (7 * i) % 16;
        }
        uint32_t tmp = d;
        d = c;
        c = b;
        b = b + rol(a + f + k[i] + w[g], r[i]);
        a = tmp;
    }
    m->h[0] += a;
    m->h[1] += b;
    m->h[2] += c;
    m->h[3] += d;
}

static void md5_sum(const void *data, size_t n, unsigned char out[16])
{
    struct md5 m = {.h = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476}};
    const unsigned char *p = data;
    m.len = n;
    while (n >= 64) {
        md5_block(&m, p);
        p += 64;
        n -= 64;
    }
    memcpy(m.buf, p, n);
    m.buf[n++] = 0x80;
    if (n > 56) {
        memset(m.buf + n, 0, 64 - n);
        md5_block(&m, m.buf);
        n = 0;
    }
    memset(m.buf + n, 0, 56 - n);
    uint64_t bits = m.len * 8;
    for (int i = 0; i < 8; i++)
        m.buf[56 + i] = (unsigned char)(bits >> (8 * i));
    md5_block(&m, m.buf);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (unsigned char)(m.h[i] >> (8 * j));
}

/* ---- parsing ------------------------------------------------------------------ */

static void rule_fini(struct noa_relabel_rule *r)
{
    for (uint32_t i = 0; i < r->n_source; i++)
        noa_free(r->source_labels[i]);
    noa_free(r->source_labels);
    noa_free(r->separator);
    noa_free(r->target_label);
    noa_free(r->regex_text);
    noa_regex_free(r->regex);
    noa_free(r->replacement);
}

void noa_relabel_free(struct noa_relabel *r)
{
    if (!r)
        return;
    for (uint32_t i = 0; i < r->n; i++)
        rule_fini(&r->v[i]);
    noa_free(r->v);
    noa_free(r);
}

/* A scalar as Go's yaml.v2 decodes it into a string field: any scalar's
 * text (null gives ""); collections are type errors. */
static int scalar_string(const struct noa_yaml_node *v, const char *field, char **out,
                         struct noa_error *err)
{
    if (v->kind != NOA_YAML_SCALAR)
        return noa_yaml_error(err, v, "cannot unmarshal %s into string (%s)", noa_yaml_type_name(v),
                              field);
    if (memchr(v->str, '\0', v->len))
        return noa_yaml_error(err, v, "%s contains a NUL byte", field);
    if (v->len > MAX_PATTERN)
        return noa_yaml_error(err, v, "%s is longer than %u bytes", field, MAX_PATTERN);
    noa_free(*out);
    *out = noa_xstrdup(noa_yaml_is_null(v) ? "" : v->str);
    return 0;
}

static int parse_sources(struct noa_relabel_rule *r, const struct noa_yaml_node *v,
                         struct noa_error *err)
{
    r->has_source = !noa_yaml_is_null(v);
    if (noa_yaml_is_null(v))
        return 0;
    if (v->kind != NOA_YAML_SEQ)
        return noa_yaml_error(err, v, "cannot unmarshal %s into model.LabelNames",
                              noa_yaml_type_name(v));
    if (v->n > MAX_SOURCES)
        return noa_yaml_error(err, v, "too many source_labels (at most %u)", MAX_SOURCES);
    r->source_labels = noa_xcalloc(v->n ? v->n : 1, sizeof(char *));
    for (size_t i = 0; i < v->n; i++) {
        const struct noa_yaml_node *it = v->items[i];
        if (it->kind != NOA_YAML_SCALAR)
            return noa_yaml_error(err, it, "cannot unmarshal %s into model.LabelName",
                                  noa_yaml_type_name(it));
        if (!noa_relabel_valid_name(it->str, it->len))
            return noa_yaml_error(err, it, "%.*s is not a valid label name",
                                  (int)(it->len > 100 ? 100 : it->len), it->str);
        r->source_labels[r->n_source++] = noa_xstrndup(it->str, it->len);
    }
    return 0;
}

static int parse_action(struct noa_relabel_rule *r, const struct noa_yaml_node *v,
                        struct noa_error *err)
{
    if (v->kind != NOA_YAML_SCALAR)
        return noa_yaml_error(err, v, "cannot unmarshal %s into relabel.Action",
                              noa_yaml_type_name(v));
    if (noa_yaml_is_null(v))
        return noa_yaml_error(err, v, "relabel action cannot be empty");
    for (size_t i = 0; i < N_ACTIONS; i++) {
        if (strlen(action_names[i]) == v->len &&
            strncasecmp(action_names[i], v->str, v->len) == 0) {
            r->action = (enum noa_relabel_action)i;
            return 0;
        }
    }
    return noa_yaml_error(err, v, "unknown relabel action \"%.*s\"",
                          (int)(v->len > 100 ? 100 : v->len), v->str);
}

/* Prometheus's Config.Validate, message for message. */
static int validate(const struct noa_relabel_rule *r, const struct noa_yaml_node *m,
                    struct noa_error *err)
{
    const char *a = action_names[r->action];
    enum noa_relabel_action ac = r->action;
    int def_regex = strcmp(r->regex_text, "(.*)") == 0;
    int def_sep = strcmp(r->separator, ";") == 0;
    int def_repl = strcmp(r->replacement, "$1") == 0;
    if (ac == NOA_RELABEL_HASHMOD && r->modulus == 0)
        return noa_yaml_error(err, m,
                              "relabel configuration for hashmod requires non-zero modulus");
    int needs_target = ac == NOA_RELABEL_REPLACE || ac == NOA_RELABEL_HASHMOD ||
                       ac == NOA_RELABEL_LOWERCASE || ac == NOA_RELABEL_UPPERCASE ||
                       ac == NOA_RELABEL_KEEPEQUAL || ac == NOA_RELABEL_DROPEQUAL;
    if (needs_target && r->target_label[0] == '\0')
        return noa_yaml_error(
            err, m, "relabel configuration for %s action requires 'target_label' value", a);
    /* replace expands $-references in target_label; the others take a
     * plain label name. */
    int no_repl = ac == NOA_RELABEL_LOWERCASE || ac == NOA_RELABEL_UPPERCASE ||
                  ac == NOA_RELABEL_KEEPEQUAL || ac == NOA_RELABEL_DROPEQUAL;
    if ((ac == NOA_RELABEL_REPLACE && !valid_target_template(r->target_label)) ||
        (no_repl && !noa_relabel_valid_name(r->target_label, strlen(r->target_label))))
        return noa_yaml_error(err, m, "\"%s\" is invalid 'target_label' for %s action",
                              r->target_label, a);
    if (no_repl && !def_repl)
        return noa_yaml_error(err, m, "'replacement' can not be set for %s action", a);
    if (ac == NOA_RELABEL_LABELMAP && !valid_target_template(r->replacement))
        return noa_yaml_error(err, m, "\"%s\" is invalid 'replacement' for %s action",
                              r->replacement, a);
    if (ac == NOA_RELABEL_HASHMOD &&
        !noa_relabel_valid_name(r->target_label, strlen(r->target_label)))
        return noa_yaml_error(err, m, "\"%s\" is invalid 'target_label' for %s action",
                              r->target_label, a);
    if ((ac == NOA_RELABEL_KEEPEQUAL || ac == NOA_RELABEL_DROPEQUAL) &&
        (!def_regex || r->modulus != 0 || !def_sep || !def_repl))
        return noa_yaml_error(
            err, m,
            "%s action requires only 'source_labels' and `target_label`, and no other fields", a);
    if ((ac == NOA_RELABEL_LABELDROP || ac == NOA_RELABEL_LABELKEEP) &&
        (r->has_source || r->target_label[0] || r->modulus != 0 || !def_sep || !def_repl))
        return noa_yaml_error(err, m, "%s action requires only 'regex', and no other fields", a);
    return 0;
}

static int compile_regex(struct noa_relabel_rule *r, const struct noa_yaml_node *at,
                         struct noa_error *err)
{
    struct noa_buf pat = {0};
    struct noa_error rerr = {0};
    noa_buf_printf(&pat, "^(?s:%s)$", r->regex_text);
    int rc = noa_regex_compile(pat.data, pat.len, 0, &r->regex, &rerr);
    noa_buf_fini(&pat);
    if (rc < 0)
        return noa_yaml_error(err, at, "error parsing regexp: %s", rerr.msg);
    return 0;
}

static int parse_rule(struct noa_relabel_rule *r, const struct noa_yaml_node *m,
                      struct noa_error *err)
{
    const struct noa_yaml_node *regex_at = m;
    int rc = 0;
    r->separator = noa_xstrdup(";");
    r->target_label = noa_xstrdup("");
    r->regex_text = noa_xstrdup("(.*)");
    r->replacement = noa_xstrdup("$1");
    if (m->kind != NOA_YAML_MAP)
        return noa_yaml_error(err, m, "cannot unmarshal %s into relabel.Config",
                              noa_yaml_type_name(m));
    for (size_t i = 0; i < m->n && rc == 0; i++) {
        const struct noa_yaml_node *k = m->pairs[i].key, *v = m->pairs[i].value;
        if (strcmp(k->str, "source_labels") == 0) {
            rc = parse_sources(r, v, err);
        } else if (strcmp(k->str, "separator") == 0) {
            rc = scalar_string(v, "separator", &r->separator, err);
        } else if (strcmp(k->str, "target_label") == 0) {
            rc = scalar_string(v, "target_label", &r->target_label, err);
        } else if (strcmp(k->str, "regex") == 0) {
            /* A null regex is "" (Prometheus: a nil Regexp becomes
             * MustNewRegexp("")), which matches only the empty value. */
            rc = scalar_string(v, "regex", &r->regex_text, err);
            regex_at = v;
        } else if (strcmp(k->str, "modulus") == 0) {
            int64_t mod = 0;
            if (v->kind != NOA_YAML_SCALAR || (!noa_yaml_is_null(v) && noa_yaml_int64(v, &mod)) ||
                mod < 0)
                rc = noa_yaml_error(err, v, "cannot unmarshal %s `%.*s` into uint64 (modulus)",
                                    noa_yaml_type_name(v),
                                    v->kind == NOA_YAML_SCALAR ? (int)(v->len > 64 ? 64 : v->len)
                                                               : 0,
                                    v->kind == NOA_YAML_SCALAR ? v->str : "");
            r->modulus = (uint64_t)mod;
        } else if (strcmp(k->str, "replacement") == 0) {
            rc = scalar_string(v, "replacement", &r->replacement, err);
        } else if (strcmp(k->str, "action") == 0) {
            rc = parse_action(r, v, err);
        } else {
            rc = noa_yaml_error(err, k, "field %.*s not found in type relabel.plain",
                                (int)(k->len > 100 ? 100 : k->len), k->str);
        }
    }
    if (rc == 0)
        rc = compile_regex(r, regex_at, err);
    if (rc == 0)
        rc = validate(r, m, err);
    return rc;
}

int noa_relabel_parse(const struct noa_yaml_node *seq, struct noa_relabel **out,
                      struct noa_error *err)
{
    struct noa_relabel *r = noa_xcalloc(1, sizeof(*r));
    int rc = 0;
    *out = NULL;
    if (!noa_yaml_is_null(seq)) {
        if (seq->kind != NOA_YAML_SEQ) {
            rc = noa_yaml_error(err, seq, "cannot unmarshal %s into []*relabel.Config",
                                noa_yaml_type_name(seq));
            goto fail;
        }
        r->v = noa_xcalloc(seq->n ? seq->n : 1, sizeof(*r->v));
        for (size_t i = 0; i < seq->n; i++) {
            r->n++;
            rc = parse_rule(&r->v[i], seq->items[i], err);
            if (rc < 0)
                goto fail;
        }
    }
    *out = r;
    return 0;
fail:
    noa_relabel_free(r);
    return rc;
}

/* ---- applying --------------------------------------------------------------- */

/* Sets name=value, deleting the label when value is empty (Prometheus's
 * labels.Builder.Set). Inputs must not point into l's store. */
static void set_label(struct noa_kvlist *l, struct noa_str name, struct noa_str value)
{
    if (value.len == 0)
        noa_kvlist_del(l, name);
    else
        noa_kvlist_set(l, name, value);
}

static void source_value(const struct noa_relabel_rule *r, const struct noa_kvlist *l,
                         struct noa_buf *out)
{
    for (uint32_t i = 0; i < r->n_source; i++) {
        struct noa_str v = {0};
        if (i)
            noa_buf_append(out, r->separator, strlen(r->separator));
        if (noa_kvlist_get(l, noa_str_c(r->source_labels[i]), &v))
            noa_buf_append(out, v.p, v.len);
    }
}

/* Matches the rule's regex over s; ovec gets 2 * npairs offsets. */
static int rule_match(const struct noa_relabel_rule *r, struct noa_str s, long *ovec, int npairs)
{
    return noa_regex_find(r->regex, s.p ? s.p : "", s.len, 0, ovec, npairs) > 0;
}

static void do_replace(const struct noa_relabel_rule *r, struct noa_kvlist *l, struct noa_str val,
                       long *ovec, int npairs, struct noa_buf *tmp)
{
    if (!rule_match(r, val, ovec, npairs))
        return;
    noa_buf_reset(tmp);
    noa_relabel_expand(r->regex, noa_str_c(r->target_label), val, ovec, npairs, tmp);
    size_t tlen = tmp->len;
    if (!noa_relabel_valid_name(tmp->data, tlen))
        return;
    noa_relabel_expand(r->regex, noa_str_c(r->replacement), val, ovec, npairs, tmp);
    set_label(l, (struct noa_str){tmp->data, tlen},
              (struct noa_str){tmp->data + tlen, tmp->len - tlen});
}

static void do_case(const struct noa_relabel_rule *r, struct noa_kvlist *l, struct noa_buf *v,
                    int upper)
{
    /* Go's strings.ToLower/ToUpper change non-ASCII letters too; label
     * values from discovery are ASCII in practice, so ASCII only here. */
    for (size_t i = 0; i < v->len; i++)
        v->data[i] =
            (char)(upper ? toupper((unsigned char)v->data[i]) : tolower((unsigned char)v->data[i]));
    set_label(l, noa_str_c(r->target_label), (struct noa_str){v->data, v->len});
}

static void do_hashmod(const struct noa_relabel_rule *r, struct noa_kvlist *l, struct noa_str val)
{
    unsigned char sum[16];
    md5_sum(val.p ? val.p : "", val.len, sum);
    uint64_t s = 0;
    for (int i = 8; i < 16; i++)
        s = (s << 8) | sum[i];
    char num[24];
    int n = snprintf(num, sizeof(num), "%llu", (unsigned long long)(s % r->modulus));
    set_label(l, noa_str_c(r->target_label), (struct noa_str){num, (size_t)n});
}

/* Copies every (name, value) pair of l into snap as name\0value\0 so the
 * label set can change while we walk the original (Builder.Range). */
static void snapshot(const struct noa_kvlist *l, struct noa_buf *snap)
{
    noa_buf_reset(snap);
    for (uint32_t i = 0; i < l->n; i++) {
        struct noa_str n = noa_kvlist_name(l, i), v = noa_kvlist_value(l, i);
        noa_buf_put_uvarint(snap, n.len);
        noa_buf_append(snap, n.p, n.len);
        noa_buf_put_uvarint(snap, v.len);
        noa_buf_append(snap, v.p, v.len);
    }
}

static size_t snap_next(const struct noa_buf *snap, size_t off, struct noa_str *n,
                        struct noa_str *v)
{
    uint64_t len;
    const unsigned char *p = (const unsigned char *)snap->data;
    off += noa_get_uvarint(p + off, snap->len - off, &len);
    *n = (struct noa_str){snap->data + off, (size_t)len};
    off += len;
    off += noa_get_uvarint(p + off, snap->len - off, &len);
    *v = (struct noa_str){snap->data + off, (size_t)len};
    return off + len;
}

static void do_labelmap(const struct noa_relabel_rule *r, struct noa_kvlist *l, long *ovec,
                        int npairs, struct noa_buf *snap, struct noa_buf *tmp)
{
    snapshot(l, snap);
    for (size_t off = 0; off < snap->len;) {
        struct noa_str n, v;
        off = snap_next(snap, off, &n, &v);
        if (!rule_match(r, n, ovec, npairs))
            continue;
        noa_buf_reset(tmp);
        noa_relabel_expand(r->regex, noa_str_c(r->replacement), n, ovec, npairs, tmp);
        /* Prometheus sets whatever the expansion gives; a name Loki would
         * refuse ("1x" from a partial capture) is skipped instead. */
        if (noa_relabel_valid_name(tmp->data, tmp->len))
            set_label(l, (struct noa_str){tmp->data, tmp->len}, v);
    }
}

static void do_labelfilter(const struct noa_relabel_rule *r, struct noa_kvlist *l, long *ovec,
                           int npairs, int keep, struct noa_buf *snap)
{
    snapshot(l, snap);
    for (size_t off = 0; off < snap->len;) {
        struct noa_str n, v;
        off = snap_next(snap, off, &n, &v);
        if (rule_match(r, n, ovec, npairs) != keep)
            noa_kvlist_del(l, n);
    }
}

/* Applies one rule; returns 0 when it drops the label set. */
static int apply_rule(const struct noa_relabel_rule *r, struct noa_kvlist *l, long *ovec,
                      int npairs, struct noa_buf *val, struct noa_buf *tmp, struct noa_buf *snap)
{
    noa_buf_reset(val);
    source_value(r, l, val);
    struct noa_str v = {val->data ? val->data : "", val->len};
    struct noa_str cur = {0};
    switch (r->action) {
    case NOA_RELABEL_DROP:
        return !rule_match(r, v, ovec, npairs);
    case NOA_RELABEL_KEEP:
        return rule_match(r, v, ovec, npairs);
    case NOA_RELABEL_DROPEQUAL:
        noa_kvlist_get(l, noa_str_c(r->target_label), &cur);
        return !noa_str_eq(cur, v);
    case NOA_RELABEL_KEEPEQUAL:
        noa_kvlist_get(l, noa_str_c(r->target_label), &cur);
        return noa_str_eq(cur, v);
    case NOA_RELABEL_REPLACE:
        do_replace(r, l, v, ovec, npairs, tmp);
        return 1;
    case NOA_RELABEL_LOWERCASE:
        do_case(r, l, val, 0);
        return 1;
    case NOA_RELABEL_UPPERCASE:
        do_case(r, l, val, 1);
        return 1;
    case NOA_RELABEL_HASHMOD:
        do_hashmod(r, l, v);
        return 1;
    case NOA_RELABEL_LABELMAP:
        do_labelmap(r, l, ovec, npairs, snap, tmp);
        return 1;
    case NOA_RELABEL_LABELDROP:
        do_labelfilter(r, l, ovec, npairs, 0, snap);
        return 1;
    case NOA_RELABEL_LABELKEEP:
        do_labelfilter(r, l, ovec, npairs, 1, snap);
        return 1;
    }
    return 1;
}

void noa_relabel_scratch_fini(struct noa_relabel_scratch *s)
{
    noa_buf_fini(&s->val);
    noa_buf_fini(&s->tmp);
    noa_buf_fini(&s->snap);
    noa_free(s->ovec);
    memset(s, 0, sizeof(*s));
}

int noa_relabel_apply(const struct noa_relabel *r, struct noa_kvlist *labels,
                      struct noa_relabel_scratch *s)
{
    int keep = 1;
    for (uint32_t i = 0; r && i < r->n && keep; i++) {
        const struct noa_relabel_rule *rule = &r->v[i];
        int npairs = (int)noa_regex_groups(rule->regex) + 1;
        if (npairs > s->ovec_pairs) {
            s->ovec = noa_xrealloc(s->ovec, (size_t)npairs * 2 * sizeof(long));
            s->ovec_pairs = npairs;
        }
        keep = apply_rule(rule, labels, s->ovec, npairs, &s->val, &s->tmp, &s->snap);
    }
    /* Prometheus never holds empty values; discovery may have fed some. */
    for (uint32_t i = labels->n; keep && i-- > 0;) {
        if (noa_kvlist_value(labels, i).len == 0) {
            noa_buf_reset(&s->tmp);
            noa_buf_append_str(&s->tmp, noa_kvlist_name(labels, i));
            noa_kvlist_del(labels, (struct noa_str){s->tmp.data, s->tmp.len});
        }
    }
    return keep;
}

int noa_relabel_process(const struct noa_relabel *r, struct noa_kvlist *labels)
{
    struct noa_relabel_scratch s = {0};
    int keep = noa_relabel_apply(r, labels, &s);
    noa_relabel_scratch_fini(&s);
    return keep;
}

/* ---- printing --------------------------------------------------------------- */

static void put_quoted(struct noa_buf *out, const char *s)
{
    noa_buf_put_json_str(out, s, strlen(s));
}

void noa_relabel_print(const struct noa_relabel *r, int indent, struct noa_buf *out)
{
    for (uint32_t i = 0; r && i < r->n; i++) {
        const struct noa_relabel_rule *x = &r->v[i];
        noa_buf_printf(out, "%*s- ", indent, "");
        if (x->has_source) {
            noa_buf_append(out, "source_labels: [", 16);
            for (uint32_t j = 0; j < x->n_source; j++) {
                if (j)
                    noa_buf_append(out, ", ", 2);
                noa_buf_append(out, x->source_labels[j], strlen(x->source_labels[j]));
            }
            noa_buf_printf(out, "]\n%*s  ", indent, "");
        }
        noa_buf_append(out, "separator: ", 11);
        put_quoted(out, x->separator);
        if (x->target_label[0]) {
            noa_buf_printf(out, "\n%*s  target_label: ", indent, "");
            put_quoted(out, x->target_label);
        }
        noa_buf_printf(out, "\n%*s  regex: ", indent, "");
        put_quoted(out, x->regex_text);
        if (x->modulus)
            noa_buf_printf(out, "\n%*s  modulus: %llu", indent, "", (unsigned long long)x->modulus);
        noa_buf_printf(out, "\n%*s  replacement: ", indent, "");
        put_quoted(out, x->replacement);
        noa_buf_printf(out, "\n%*s  action: %s\n", indent, "", action_names[x->action]);
    }
}
