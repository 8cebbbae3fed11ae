/*
 * The parsing stages `regex`, `json` and `logfmt`: read the line (or the
 * extracted value named by `source`) and add what they find to the
 * extracted map, with Promtail's rules:
 *  - a `source` missing from the extracted map, a line that does not match
 *    or does not parse: the entry goes on unchanged (json with
 *    drop_malformed drops it, counted under reason "malformed_json");
 *  - regex: every named group of a match is set, "" when it took no part;
 *  - json: each `expressions` key gets its JMESPath result (shipper/
 *    jmespath.h), in the order the config lists them; a null result sets
 *    "" (Promtail stores nil, which its stages read as empty); when
 *    every expression is a plain field path (the common `level: level`),
 *    one pass over the text finds them all without building a document;
 *  - logfmt: each `mapping` key gets the value of its logfmt field, as
 *    go-logfmt decodes it; a record that fails to decode keeps the pairs
 *    before the error.
 *
 * Per-line work reuses buffers owned by the stage (the pipeline's thread);
 * json allocates the parsed document per line (jansson).
 */
#include "shipper/jmespath.h"
#include "shipper/stages_int.h"

#include "common/mem.h"
#include "common/regex.h"

#include <string.h>

/* ---- shared ------------------------------------------------------------------ */

struct parse_cfg {
    char *expression; /* regex */
    char *source;
    int drop_malformed; /* json */
};

#define OFF(f) offsetof(struct parse_cfg, f)
static const struct noa_config_entry regex_entries[] = {
    {.path = "expression", .type = NOA_CONFIG_STRING, .offset = OFF(expression),
     .desc = "RE2 regular expression; named groups go to the extracted map."},
    {.path = "source", .type = NOA_CONFIG_STRING, .offset = OFF(source),
     .desc = "Extracted value to parse instead of the line."},
};
static const struct noa_config_entry json_entries[] = {
    {.path = "expressions", .type = NOA_CONFIG_RAW, .desc = "Extracted name: JMESPath."},
    {.path = "source", .type = NOA_CONFIG_STRING, .offset = OFF(source),
     .desc = "Extracted value to parse instead of the line."},
    {.path = "drop_malformed", .type = NOA_CONFIG_BOOL, .def = "false",
     .offset = OFF(drop_malformed), .desc = "Drop lines that are not JSON objects."},
};
static const struct noa_config_entry logfmt_entries[] = {
    {.path = "mapping", .type = NOA_CONFIG_RAW, .desc = "Extracted name: logfmt field."},
    {.path = "source", .type = NOA_CONFIG_STRING, .offset = OFF(source),
     .desc = "Extracted value to parse instead of the line."},
};
#undef OFF
#define TABLE(name, type, e) static const struct noa_config_table name = {type, e, sizeof(e) / sizeof(e[0])}
TABLE(regex_table, "stages.RegexConfig", regex_entries);
TABLE(json_table, "stages.JSONConfig", json_entries);
TABLE(logfmt_table, "stages.LogfmtConfig", logfmt_entries);
#undef TABLE

/* What every parser stage starts with. */
struct parser_stage {
    struct noa_stage base;
    char *source;           /* NULL: the line */
    struct noa_buf input;   /* copy of an extracted source value */
};

/* Checks `source` (present but empty is an error, as in Promtail) and takes
 * it from cfg. */
static int take_source(struct parser_stage *ps, struct parse_cfg *pc,
                       const struct noa_yaml_node *node, struct noa_error *err)
{
    const struct noa_yaml_node *s = noa_yaml_get(node, "source");
    if (s && pc->source && pc->source[0] == 0)
        return noa_yaml_error(err, s, "empty source");
    if (s && pc->source) {
        ps->source = pc->source;
        pc->source = NULL;
    }
    return 0;
}

/* The text to parse: the line, or a copy of the source value (copied
 * because setting extracted values may move the map's storage). 0 when
 * the source is absent. */
static int get_input(struct parser_stage *ps, struct noa_entry *e, struct noa_str *in)
{
    if (!ps->source) {
        *in = (struct noa_str){e->line.data, e->line.len};
        return 1;
    }
    struct noa_str v;
    if (!noa_kvlist_get(&e->extracted, noa_str_c(ps->source), &v))
        return 0;
    noa_buf_reset(&ps->input);
    noa_buf_append(&ps->input, v.p, v.len);
    *in = (struct noa_str){ps->input.data, ps->input.len};
    return 1;
}

static void parser_fini(struct parser_stage *ps)
{
    noa_free(ps->source);
    noa_buf_fini(&ps->input);
}

/* ---- regex --------------------------------------------------------------------- */

struct regex_stage {
    struct parser_stage ps;
    struct noa_regex *re;
    unsigned ngroups;
    struct noa_str *groups; /* ngroups + 1 */
    struct noa_str *names;  /* per group; len 0 for unnamed */
};

static enum noa_stage_verdict regex_process(struct noa_stage *st, struct noa_entry *e,
                                            struct noa_stage_emit *next, int64_t now_ns)
{
    (void)next;
    (void)now_ns;
    struct regex_stage *r = (struct regex_stage *)st;
    struct noa_str in;
    if (!get_input(&r->ps, e, &in))
        return NOA_STAGE_PASS;
    if (!noa_regex_exec(r->re, in.p ? in.p : "", in.len, r->groups, r->ngroups + 1))
        return NOA_STAGE_PASS;
    for (unsigned i = 1; i <= r->ngroups; i++)
        if (r->names[i].len)
            noa_kvlist_set(&e->extracted, r->names[i], r->groups[i]);
    return NOA_STAGE_PASS;
}

static void regex_free(struct noa_stage *st)
{
    struct regex_stage *r = (struct regex_stage *)st;
    if (!r)
        return;
    parser_fini(&r->ps);
    noa_regex_free(r->re);
    noa_free(r->groups);
    noa_free(r->names);
    noa_free(r);
}

static const struct noa_stage_ops regex_ops = {"regex", regex_process, NULL, NULL, regex_free};

NOA_STAGE_CTOR(regex)
{
    (void)ctx;
    struct parse_cfg pc = {0};
    struct regex_stage *r = noa_xcalloc(1, sizeof(*r));
    r->ps.base.ops = &regex_ops;
    *out = NULL;
    int rc = noa__stages_config(&regex_table, &pc, cfg, err);
    if (rc < 0)
        goto fail;
    if (!pc.expression || !pc.expression[0]) {
        rc = noa_yaml_error(err, cfg, "expression is required");
        goto fail;
    }
    rc = take_source(&r->ps, &pc, cfg, err);
    if (rc < 0)
        goto fail;
    struct noa_error rerr = {0};
    rc = noa_regex_compile(pc.expression, strlen(pc.expression), 0, &r->re, &rerr);
    if (rc < 0) {
        rc = noa_yaml_error(err, noa_yaml_get(cfg, "expression"),
                            "could not compile regular expression: %s", rerr.msg);
        goto fail;
    }
    r->ngroups = noa_regex_groups(r->re);
    r->groups = noa_xcalloc(r->ngroups + 1, sizeof(*r->groups));
    r->names = noa_xcalloc(r->ngroups + 1, sizeof(*r->names));
    for (unsigned i = 1; i <= r->ngroups; i++)
        noa_regex_group_name(r->re, i, &r->names[i]);
    noa_config_fini(&regex_table, &pc);
    *out = &r->ps.base;
    return 0;
fail:
    noa_config_fini(&regex_table, &pc);
    regex_free(&r->ps.base);
    return rc;
}

/* ---- json ---------------------------------------------------------------------- */

struct json_expr {
    char *name;
    struct noa_jmespath *q;
};

struct json_stage {
    struct parser_stage ps;
    struct json_expr *x;
    size_t n;
    int drop_malformed;
    struct noa_buf val;
    /* the one-pass path when every expression is a plain field path */
    const struct noa_jmespath **qs; /* n, or NULL when some expression is not */
    size_t *off, *vlen;
    int *found;
};

static enum noa_stage_verdict json_process(struct noa_stage *st, struct noa_entry *e,
                                           struct noa_stage_emit *next, int64_t now_ns)
{
    (void)next;
    (void)now_ns;
    struct json_stage *j = (struct json_stage *)st;
    struct noa_str in;
    if (!get_input(&j->ps, e, &in))
        return NOA_STAGE_PASS;
    if (j->qs) {
        noa_buf_reset(&j->val);
        int rc = noa_jmespath_scan(in.p, in.len, j->qs, j->n, &j->val, j->off, j->vlen, j->found);
        if (rc == NOA_EINVAL)
            return j->drop_malformed ? NOA_STAGE_DROP : NOA_STAGE_PASS;
        if (rc == 0) {
            for (size_t i = 0; i < j->n; i++)
                noa_kvlist_set(&e->extracted, noa_str_c(j->x[i].name),
                               (struct noa_str){j->val.data + j->off[i], j->vlen[i]});
            return NOA_STAGE_PASS;
        }
        /* an object or array result: evaluate through a document */
    }
    struct noa_jmespath_doc *d = NULL;
    if (noa_jmespath_doc_parse(in.p, in.len, &d, NULL) < 0 || !noa_jmespath_doc_is_object(d)) {
        noa_jmespath_doc_free(d);
        return j->drop_malformed ? NOA_STAGE_DROP : NOA_STAGE_PASS;
    }
    for (size_t i = 0; i < j->n; i++) {
        noa_buf_reset(&j->val);
        if (noa_jmespath_eval(j->x[i].q, d, &j->val) < 0)
            continue; /* Promtail skips an expression that fails */
        noa_kvlist_set(&e->extracted, noa_str_c(j->x[i].name),
                       (struct noa_str){j->val.data, j->val.len});
    }
    noa_jmespath_doc_free(d);
    return NOA_STAGE_PASS;
}

static void json_free(struct noa_stage *st)
{
    struct json_stage *j = (struct json_stage *)st;
    if (!j)
        return;
    parser_fini(&j->ps);
    for (size_t i = 0; i < j->n; i++) {
        noa_free(j->x[i].name);
        noa_jmespath_free(j->x[i].q);
    }
    noa_free(j->x);
    noa_free(j->qs);
    noa_free(j->off);
    noa_free(j->vlen);
    noa_free(j->found);
    noa_buf_fini(&j->val);
    noa_free(j);
}

static const struct noa_stage_ops json_ops = {"json", json_process, NULL, NULL, json_free};

/* A string-to-string map of a stage config (expressions, mapping): checks
 * that node is a map of scalars. */
static int check_str_map(const struct noa_yaml_node *cfg, const char *key,
                         const struct noa_yaml_node **map, const char *required,
                         struct noa_error *err)
{
    const struct noa_yaml_node *m = noa_yaml_get(cfg, key);
    *map = m;
    if (noa_yaml_is_null(m) || (m->kind == NOA_YAML_MAP && m->n == 0))
        return noa_yaml_error(err, m ? m : cfg, "%s", required);
    if (m->kind != NOA_YAML_MAP)
        return noa_yaml_error(err, m, "%s must be a map, got %s", key, noa_yaml_type_name(m));
    for (size_t i = 0; i < m->n; i++)
        if (m->pairs[i].value->kind != NOA_YAML_SCALAR)
            return noa_yaml_error(err, m->pairs[i].value, "cannot unmarshal %s into string",
                                  noa_yaml_type_name(m->pairs[i].value));
    return 0;
}

/* The value of a string map pair, or its key when the value is empty/null. */
static struct noa_str pair_value(const struct noa_yaml_pair *p)
{
    if (noa_yaml_is_null(p->value) && p->value->style == NOA_YAML_PLAIN)
        return (struct noa_str){p->key->str, p->key->len};
    if (p->value->len == 0)
        return (struct noa_str){p->key->str, p->key->len};
    return (struct noa_str){p->value->str, p->value->len};
}

NOA_STAGE_CTOR(json)
{
    struct parse_cfg pc = {0};
    struct json_stage *j = noa_xcalloc(1, sizeof(*j));
    j->ps.base.ops = &json_ops;
    *out = NULL;
    const struct noa_yaml_node *m;
    int rc = noa__stages_config(&json_table, &pc, cfg, err);
    if (rc < 0)
        goto fail;
    rc = check_str_map(cfg, "expressions", &m, "JMES expression is required", err);
    if (rc < 0)
        goto fail;
    rc = take_source(&j->ps, &pc, cfg, err);
    if (rc < 0)
        goto fail;
    j->drop_malformed = pc.drop_malformed;
    if (j->drop_malformed) {
        j->ps.base.drop_reason = "malformed_json";
        (void)ctx;
    }
    j->x = noa_xcalloc(m->n, sizeof(*j->x));
    for (size_t i = 0; i < m->n; i++) {
        struct noa_str v = pair_value(&m->pairs[i]);
        struct noa_error jerr = {0};
        j->x[j->n].name = noa_xstrndup(m->pairs[i].key->str, m->pairs[i].key->len);
        if (noa_jmespath_compile(v.p, v.len, &j->x[j->n].q, &jerr) < 0) {
            noa_free(j->x[j->n].name);
            rc = noa_yaml_error(err, m->pairs[i].value->len ? m->pairs[i].value : m->pairs[i].key,
                                "could not compile JMES expression: %s", jerr.msg);
            goto fail;
        }
        j->n++;
    }
    int simple = j->n <= 64;
    for (size_t i = 0; simple && i < j->n; i++)
        simple = noa_jmespath_is_path(j->x[i].q);
    if (simple) {
        j->qs = noa_xcalloc(j->n, sizeof(*j->qs));
        for (size_t i = 0; i < j->n; i++)
            j->qs[i] = j->x[i].q;
        j->off = noa_xcalloc(j->n, sizeof(*j->off));
        j->vlen = noa_xcalloc(j->n, sizeof(*j->vlen));
        j->found = noa_xcalloc(j->n, sizeof(*j->found));
    }
    noa_config_fini(&json_table, &pc);
    *out = &j->ps.base;
    return 0;
fail:
    noa_config_fini(&json_table, &pc);
    json_free(&j->ps.base);
    return rc;
}

/* ---- logfmt -------------------------------------------------------------------- */

struct logfmt_map {
    struct noa_str field; /* logfmt key (borrowed from names) */
    struct noa_str name;  /* extracted name */
};

struct logfmt_stage {
    struct parser_stage ps;
    struct logfmt_map *m;
    size_t n;
    struct noa_buf names; /* owns the strings above */
    struct noa_buf val;   /* an unquoted value */
};

/* Decodes a quoted logfmt value starting after its opening quote at
 * s[*i]; appends the text to out and moves *i past the closing quote.
 * Returns 0, or -1 on a bad escape or a missing quote. */
static int logfmt_quoted(const char *s, size_t n, size_t *i, struct noa_buf *out)
{
    size_t k = *i;
    while (k < n && s[k] != '"') {
        if (s[k] != '\\') {
            noa_buf_putc(out, s[k++]);
            continue;
        }
        if (++k >= n)
            return -1;
        char c = s[k++];
        switch (c) {
        case '"': case '\\': case '/': noa_buf_putc(out, c); break;
        case 'b': noa_buf_putc(out, '\b'); break;
        case 'f': noa_buf_putc(out, '\f'); break;
        case 'n': noa_buf_putc(out, '\n'); break;
        case 'r': noa_buf_putc(out, '\r'); break;
        case 't': noa_buf_putc(out, '\t'); break;
        case 'u': {
            if (k + 4 > n)
                return -1;
            uint32_t cp = 0;
            for (int d = 0; d < 4; d++) {
                int h = noa_hexval((unsigned char)s[k + d]);
                if (h < 0)
                    return -1;
                cp = cp << 4 | (uint32_t)h;
            }
            k += 4;
            noa_buf_put_utf8(out, cp);
            break;
        }
        default:
            return -1;
        }
    }
    if (k >= n)
        return -1;
    *i = k + 1;
    return 0;
}

static void logfmt_set(struct logfmt_stage *l, struct noa_entry *e, struct noa_str key,
                       struct noa_str val)
{
    for (size_t i = 0; i < l->n; i++)
        if (noa_str_eq(l->m[i].field, key))
            noa_kvlist_set(&e->extracted, l->m[i].name, val);
}

static enum noa_stage_verdict logfmt_process(struct noa_stage *st, struct noa_entry *e,
                                             struct noa_stage_emit *next, int64_t now_ns)
{
    (void)next;
    (void)now_ns;
    struct logfmt_stage *l = (struct logfmt_stage *)st;
    struct noa_str in;
    if (!get_input(&l->ps, e, &in))
        return NOA_STAGE_PASS;
    const char *s = in.p;
    size_t n = in.len, i = 0;
    while (i < n) {
        while (i < n && (unsigned char)s[i] <= ' ')
            i++;
        if (i >= n)
            break;
        size_t ks = i;
        while (i < n && (unsigned char)s[i] > ' ' && s[i] != '=' && s[i] != '"')
            i++;
        if (i < n && s[i] == '"')
            break; /* go-logfmt: a quote in a key ends decoding */
        struct noa_str key = {s + ks, i - ks};
        if (key.len == 0)
            break; /* "=" without a key */
        if (i >= n || s[i] != '=') {
            logfmt_set(l, e, key, (struct noa_str){"", 0});
            continue;
        }
        i++;
        if (i < n && s[i] == '"') {
            i++;
            noa_buf_reset(&l->val);
            if (logfmt_quoted(s, n, &i, &l->val) < 0)
                break;
            logfmt_set(l, e, key, (struct noa_str){l->val.data, l->val.len});
            continue;
        }
        size_t vs = i;
        while (i < n && (unsigned char)s[i] > ' ' && s[i] != '"' && s[i] != '=')
            i++;
        if (i < n && (s[i] == '"' || s[i] == '='))
            break; /* go-logfmt rejects these in a bare value */
        logfmt_set(l, e, key, (struct noa_str){s + vs, i - vs});
    }
    return NOA_STAGE_PASS;
}

static void logfmt_free(struct noa_stage *st)
{
    struct logfmt_stage *l = (struct logfmt_stage *)st;
    if (!l)
        return;
    parser_fini(&l->ps);
    noa_free(l->m);
    noa_buf_fini(&l->names);
    noa_buf_fini(&l->val);
    noa_free(l);
}

static const struct noa_stage_ops logfmt_ops = {"logfmt", logfmt_process, NULL, NULL,
                                                logfmt_free};

NOA_STAGE_CTOR(logfmt)
{
    (void)ctx;
    struct parse_cfg pc = {0};
    struct logfmt_stage *l = noa_xcalloc(1, sizeof(*l));
    l->ps.base.ops = &logfmt_ops;
    *out = NULL;
    const struct noa_yaml_node *m;
    int rc = noa__stages_config(&logfmt_table, &pc, cfg, err);
    if (rc < 0)
        goto fail;
    rc = check_str_map(cfg, "mapping", &m, "logfmt mapping is required", err);
    if (rc < 0)
        goto fail;
    rc = take_source(&l->ps, &pc, cfg, err);
    if (rc < 0)
        goto fail;
    /* Strings go into one buffer first; slices are made once it is final. */
    size_t *offs = noa_xcalloc(m->n * 2, sizeof(*offs));
    for (size_t i = 0; i < m->n; i++) {
        struct noa_str v = pair_value(&m->pairs[i]);
        offs[2 * i] = l->names.len;
        noa_buf_append(&l->names, v.p, v.len);
        offs[2 * i + 1] = l->names.len;
        noa_buf_append(&l->names, m->pairs[i].key->str, m->pairs[i].key->len);
    }
    l->m = noa_xcalloc(m->n, sizeof(*l->m));
    for (size_t i = 0; i < m->n; i++) {
        size_t flen = offs[2 * i + 1] - offs[2 * i];
        l->m[i].field = (struct noa_str){l->names.data + offs[2 * i], flen};
        l->m[i].name = (struct noa_str){l->names.data + offs[2 * i + 1], m->pairs[i].key->len};
    }
    l->n = m->n;
    noa_free(offs);
    noa_config_fini(&logfmt_table, &pc);
    *out = &l->ps.base;
    return 0;
fail:
    noa_config_fini(&logfmt_table, &pc);
    logfmt_free(&l->ps.base);
    return rc;
}
