/*
 * Field detection over sampled entries (see detected.h). The parsers are
 * the pipeline's own (common/logparse.h), so field names, collisions with
 * stream labels (`_extracted`) and parse failures are exactly those of a
 * `| json` or `| logfmt` stage. JSON paths need the original keys, which
 * the flattening parser does not keep, so a line that parsed as JSON is
 * walked once more with jansson to map each flattened name to its path.
 * Owned by the one thread that feeds it.
 */
#include "querier/detected.h"
#include "common/humanize.h"
#include "common/err.h"
#include "common/lbuilder.h"
#include "common/logparse.h"
#include "common/mem.h"
#include "common/strset.h"
#include "querier/fieldtype.h"

#include <jansson.h>
#include <string.h>

#define JSON_PATH_MAX_DEPTH 128 /* as the pipeline's JSON reader */

enum { PARSER_JSON = 1, PARSER_LOGFMT = 2 };

struct field {
    struct noa_str name; /* in the collector's arena */
    enum noa_fieldtype type;
    uint8_t parsers[2]; /* PARSER_*, in the order first seen */
    uint8_t n_parsers;
    struct noa_str *path; /* JSON path of original keys, in the arena */
    uint32_t n_path;
    struct noa_strset values; /* distinct values: the cardinality */
};

/* A name and its distinct values within one entry. */
struct group {
    struct noa_str name;
    struct noa_str *v;
    uint32_t n, cap;
};

/* name -> JSON path of the current line. */
struct jpath {
    struct noa_str name; /* in line_arena */
    struct noa_str *seg; /* in line_arena */
    uint32_t n;
};

struct noa_detected {
    uint32_t limit;
    char *name; /* values mode when non-NULL */
    struct field *f; /* sorted by name */
    size_t n, cap;
    struct noa_strset values; /* values mode */
    struct noa_arena arena;
    struct noa_lbuilder lb;
    struct noa_logparse *json, *logfmt;
    struct group *g; /* per-entry grouping scratch */
    uint32_t n_g, cap_g;
    struct jpath *jp; /* per-line JSON paths */
    uint32_t n_jp, cap_jp;
    int jp_done;
    struct noa_arena line_arena; /* per-line copies (paths, grouped values) */
    struct noa_buf name_buf, key_buf, bytes_buf;
};

int noa_detected_new(const struct noa_detected_options *opts, struct noa_detected **out)
{
    struct noa_detected *d = NULL;
    struct noa_error err = {0};
    int rc;
    if (!opts->limit)
        return NOA_EINVAL;
    d = noa_xcalloc(1, sizeof(*d));
    d->limit = opts->limit;
    if (opts->name)
        d->name = noa_xstrdup(opts->name);
    noa_strset_init(&d->values);
    noa_lbuilder_init(&d->lb);
    struct noa_logparse_opts jo = {.kind = NOA_LOGPARSE_JSON};
    struct noa_logparse_opts lo = {.kind = NOA_LOGPARSE_LOGFMT};
    if ((rc = noa_logparse_new(&jo, &d->json, &err)) < 0 ||
        (rc = noa_logparse_new(&lo, &d->logfmt, &err)) < 0)
        goto fail;
    *out = d;
    return 0;
fail:
    noa_detected_free(d);
    return rc;
}

void noa_detected_free(struct noa_detected *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        noa_strset_fini(&d->f[i].values);
    noa_free(d->f);
    for (uint32_t i = 0; i < d->cap_g; i++)
        noa_free(d->g[i].v);
    noa_free(d->g);
    noa_free(d->jp);
    noa_strset_fini(&d->values);
    noa_arena_fini(&d->arena);
    noa_arena_fini(&d->line_arena);
    noa_lbuilder_fini(&d->lb);
    noa_logparse_free(d->json);
    noa_logparse_free(d->logfmt);
    noa_buf_fini(&d->name_buf);
    noa_buf_fini(&d->key_buf);
    noa_buf_fini(&d->bytes_buf);
    noa_free(d->name);
    noa_free(d);
}

size_t noa_detected_count(const struct noa_detected *d)
{
    return d->name ? d->values.n : d->n;
}

/* ---- the field table ---- */

/* Index of name, or the insertion point as -(pos + 1). */
static long field_find(const struct noa_detected *d, struct noa_str name)
{
    size_t lo = 0, hi = d->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = noa_str_cmp(d->f[mid].name, name);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

/* The field called name, created when the limit allows (Loki counts
 * fields as they are created and stops creating at the limit). NULL when
 * absent and over the limit. */
static struct field *field_get(struct noa_detected *d, struct noa_str name, int parser)
{
    long i = field_find(d, name);
    if (i >= 0)
        return &d->f[i];
    if (d->n >= d->limit)
        return NULL;
    size_t pos = (size_t)(-i - 1);
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->f = noa_xrealloc(d->f, d->cap * sizeof(*d->f));
    }
    memmove(&d->f[pos + 1], &d->f[pos], (d->n - pos) * sizeof(*d->f));
    d->n++;
    struct field *f = &d->f[pos];
    memset(f, 0, sizeof(*f));
    f->name = noa_arena_str(&d->arena, name);
    noa_strset_init(&f->values);
    if (parser)
        f->parsers[f->n_parsers++] = (uint8_t)parser;
    return f;
}

static void field_add_parser(struct field *f, int parser)
{
    for (uint8_t i = 0; i < f->n_parsers; i++)
        if (f->parsers[i] == parser)
            return;
    if (f->n_parsers < 2)
        f->parsers[f->n_parsers++] = (uint8_t)parser;
}

/* ---- per-entry grouping: name -> distinct values ---- */

static void groups_reset(struct noa_detected *d)
{
    d->n_g = 0;
}

static void groups_add(struct noa_detected *d, struct noa_str name, struct noa_str value)
{
    uint32_t i;
    for (i = 0; i < d->n_g; i++)
        if (noa_str_eq(d->g[i].name, name))
            break;
    if (i == d->n_g) {
        if (d->n_g == d->cap_g) {
            uint32_t cap = d->cap_g ? d->cap_g * 2 : 16;
            d->g = noa_xrealloc(d->g, cap * sizeof(*d->g));
            memset(&d->g[d->cap_g], 0, (cap - d->cap_g) * sizeof(*d->g));
            d->cap_g = cap;
        }
        d->g[i].name = noa_arena_str(&d->line_arena, name);
        d->g[i].n = 0;
        d->n_g++;
    }
    struct group *g = &d->g[i];
    for (uint32_t k = 0; k < g->n; k++)
        if (noa_str_eq(g->v[k], value))
            return;
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 4;
        g->v = noa_xrealloc(g->v, g->cap * sizeof(*g->v));
    }
    g->v[g->n++] = noa_arena_str(&d->line_arena, value);
}

static int is_error_label(struct noa_str name)
{
    return noa_str_eq_c(name, NOA_LB_ERROR) || noa_str_eq_c(name, NOA_LB_ERROR_DETAILS) ||
           noa_str_eq_c(name, "__preserve_error__");
}

static int parsed_cb(void *ctx, enum noa_lb_cat cat, struct noa_str name, struct noa_str value)
{
    struct noa_detected *d = ctx;
    if (cat == NOA_LB_PARSED && !is_error_label(name))
        groups_add(d, name, value);
    return 0;
}

/*
 * Loki's parseEntry: the query's parsed labels, plus the line's fields
 * when it parses as JSON or else as logfmt. Leaves the groups in d->g and
 * returns the parser that succeeded (0 when neither did).
 */
static int parse_entry(struct noa_detected *d, const struct noa_labels *stream,
                       const struct noa_label *parsed, uint32_t n_parsed, struct noa_str line)
{
    groups_reset(d);
    for (uint32_t i = 0; i < n_parsed; i++)
        if (!is_error_label(parsed[i].name))
            groups_add(d, parsed[i].name, parsed[i].value);
    int parser = PARSER_JSON;
    struct noa_str l = line;
    noa_lbuilder_reset_stream(&d->lb, stream);
    noa_logparse_run(d->json, &l, &d->lb);
    if (noa_lbuilder_has_err(&d->lb)) {
        noa_lbuilder_reset(&d->lb);
        parser = PARSER_LOGFMT;
        l = line;
        noa_logparse_run(d->logfmt, &l, &d->lb);
        if (noa_lbuilder_has_err(&d->lb))
            return 0;
    }
    noa_lbuilder_each(&d->lb, parsed_cb, d);
    return parser;
}

/* ---- JSON paths ---- */

static void jp_add(struct noa_detected *d, struct noa_str name, const struct noa_str *seg,
                   uint32_t n)
{
    for (uint32_t i = 0; i < d->n_jp; i++)
        if (noa_str_eq(d->jp[i].name, name))
            return; /* the first of duplicate keys wins, as in the parser */
    if (d->n_jp == d->cap_jp) {
        d->cap_jp = d->cap_jp ? d->cap_jp * 2 : 16;
        d->jp = noa_xrealloc(d->jp, d->cap_jp * sizeof(*d->jp));
    }
    struct jpath *p = &d->jp[d->n_jp++];
    p->name = noa_arena_str(&d->line_arena, name);
    p->seg = noa_arena_alloc(&d->line_arena, (n ? n : 1) * sizeof(*p->seg));
    for (uint32_t i = 0; i < n; i++)
        p->seg[i] = noa_arena_str(&d->line_arena, seg[i]);
    p->n = n;
}

/* Flattens obj as the `| json` stage names fields: keys sanitized and
 * joined by '_', the leading-digit prefix only on the first part, arrays
 * and nulls skipped. */
static void jp_walk(struct noa_detected *d, json_t *obj, struct noa_str *seg, uint32_t depth)
{
    const char *key;
    json_t *v;
    if (depth >= JSON_PATH_MAX_DEPTH)
        return;
    json_object_foreach(obj, key, v)
    {
        if (json_is_array(v) || json_is_null(v))
            continue;
        struct noa_str k = {key, strlen(key)};
        size_t saved = d->name_buf.len;
        noa_logparse_sanitize(k, d->name_buf.len == 0, &d->key_buf);
        if (d->key_buf.len) {
            if (d->name_buf.len)
                noa_buf_putc(&d->name_buf, '_');
            noa_buf_append(&d->name_buf, d->key_buf.data, d->key_buf.len);
        }
        seg[depth] = k;
        if (json_is_object(v))
            jp_walk(d, v, seg, depth + 1);
        else
            jp_add(d, (struct noa_str){d->name_buf.data, d->name_buf.len}, seg, depth + 1);
        d->name_buf.len = saved;
    }
}

/* Builds d->jp for a line once, when a field first needs a path. */
static void jp_build(struct noa_detected *d, struct noa_str line)
{
    d->jp_done = 1;
    json_error_t jerr;
    json_t *root = json_loadb(line.p, line.len, JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &jerr);
    if (!root)
        return;
    if (json_is_object(root)) {
        struct noa_str seg[JSON_PATH_MAX_DEPTH];
        noa_buf_reset(&d->name_buf);
        jp_walk(d, root, seg, 0);
    }
    json_decref(root);
}

/* The path of a parsed field; a name moved aside by a stream label
 * (`x_extracted`) has the path of `x`. */
static const struct jpath *jp_find(struct noa_detected *d, struct noa_str name, struct noa_str line)
{
    if (!d->jp_done)
        jp_build(d, line);
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t i = 0; i < d->n_jp; i++)
            if (noa_str_eq(d->jp[i].name, name))
                return &d->jp[i];
        size_t sl = sizeof(NOA_LB_DUP_SUFFIX) - 1;
        if (name.len <= sl || memcmp(name.p + name.len - sl, NOA_LB_DUP_SUFFIX, sl))
            break;
        name.len -= sl;
    }
    return NULL;
}

static void field_set_path(struct noa_detected *d, struct field *f, const struct jpath *p)
{
    f->path = noa_arena_alloc(&d->arena, (p->n ? p->n : 1) * sizeof(*f->path));
    for (uint32_t i = 0; i < p->n; i++)
        f->path[i] = noa_arena_str(&d->arena, p->seg[i]);
    f->n_path = p->n;
}

/* ---- feeding ---- */

static void add_values_mode(struct noa_detected *d, const struct noa_labels *stream,
                            const struct noa_label *meta, uint32_t n_meta,
                            const struct noa_label *parsed, uint32_t n_parsed, struct noa_str line)
{
    struct noa_str name = noa_str_c(d->name);
    uint64_t bytes;
    /* Loki checks the limit once per entry, so one entry may overshoot. */
    if (d->values.n >= d->limit)
        return;
    for (uint32_t i = 0; i < n_meta; i++)
        if (noa_str_eq(meta[i].name, name))
            noa_strset_add(&d->values, meta[i].value);
    parse_entry(d, stream, parsed, n_parsed, line);
    for (uint32_t i = 0; i < d->n_g; i++) {
        if (!noa_str_eq(d->g[i].name, name))
            continue;
        for (uint32_t k = 0; k < d->g[i].n; k++) {
            struct noa_str v = d->g[i].v[k];
            /* Sizes are rewritten so they paste into a query as they are. */
            if (noa_fieldtype_is_size(v, &bytes)) {
                noa_buf_reset(&d->bytes_buf);
                noa_humanize_bytes(bytes, 0, &d->bytes_buf);
                v = (struct noa_str){d->bytes_buf.data, d->bytes_buf.len};
            }
            noa_strset_add(&d->values, v);
        }
    }
}

void noa_detected_add(struct noa_detected *d, const struct noa_labels *stream,
                      const struct noa_label *meta, uint32_t n_meta, const struct noa_label *parsed,
                      uint32_t n_parsed, struct noa_str line)
{
    noa_arena_fini(&d->line_arena);
    d->n_jp = 0;
    d->jp_done = 0;
    if (d->name) {
        add_values_mode(d, stream, meta, n_meta, parsed, n_parsed, line);
        return;
    }
    /* Structured metadata: no parser. The type comes from the entry's
     * first value and is re-decided by every entry (Loki's rule). */
    groups_reset(d);
    for (uint32_t i = 0; i < n_meta; i++)
        groups_add(d, meta[i].name, meta[i].value);
    for (uint32_t i = 0; i < d->n_g; i++) {
        struct field *f = field_get(d, d->g[i].name, 0);
        if (!f)
            continue;
        f->type = noa_fieldtype_of(d->g[i].v[0]);
        for (uint32_t k = 0; k < d->g[i].n; k++)
            noa_strset_add(&f->values, d->g[i].v[k]);
    }
    int parser = parse_entry(d, stream, parsed, n_parsed, line);
    for (uint32_t i = 0; i < d->n_g; i++) {
        struct group *g = &d->g[i];
        struct field *f = field_get(d, g->name, parser);
        if (!f)
            continue;
        if (parser)
            field_add_parser(f, parser);
        f->type = noa_fieldtype_of(g->v[0]);
        for (uint32_t k = 0; k < g->n; k++)
            noa_strset_add(&f->values, g->v[k]);
        if (parser == PARSER_JSON && !f->n_path) {
            const struct jpath *p = jp_find(d, g->name, line);
            if (p)
                field_set_path(d, f, p);
        }
    }
}

/* ---- encoding ---- */

static void put_field(struct noa_buf *b, const struct field *f)
{
    noa_buf_append_str(b, NOA_STR("{\"label\":"));
    noa_buf_put_json_str(b, f->name.p, f->name.len);
    noa_buf_printf(b, ",\"type\":\"%s\",\"cardinality\":%zu,\"parsers\":",
                   noa_fieldtype_name(f->type), f->values.n);
    if (!f->n_parsers) {
        noa_buf_append_str(b, NOA_STR("null"));
    } else {
        noa_buf_putc(b, '[');
        for (uint8_t i = 0; i < f->n_parsers; i++) {
            if (i)
                noa_buf_putc(b, ',');
            noa_buf_append_str(b, f->parsers[i] == PARSER_JSON ? NOA_STR("\"json\"")
                                                                : NOA_STR("\"logfmt\""));
        }
        noa_buf_putc(b, ']');
    }
    if (f->n_path) {
        noa_buf_append_str(b, NOA_STR(",\"jsonPath\":["));
        for (uint32_t i = 0; i < f->n_path; i++) {
            if (i)
                noa_buf_putc(b, ',');
            noa_buf_put_json_str(b, f->path[i].p, f->path[i].len);
        }
        noa_buf_putc(b, ']');
    }
    noa_buf_putc(b, '}');
}

void noa_detected_encode(const struct noa_detected *d, struct noa_buf *out)
{
    if (!noa_detected_count(d)) {
        noa_buf_append_str(out, NOA_STR("{}\n"));
        return;
    }
    if (d->name) {
        struct noa_str *v = noa_strset_sorted(&d->values);
        noa_buf_printf(out, "{\"limit\":%u,\"values\":[", d->limit);
        for (size_t i = 0; i < d->values.n; i++) {
            if (i)
                noa_buf_putc(out, ',');
            noa_buf_put_json_str(out, v[i].p, v[i].len);
        }
        noa_free(v);
        noa_buf_append_str(out, NOA_STR("]}\n"));
        return;
    }
    noa_buf_append_str(out, NOA_STR("{\"fields\":["));
    for (size_t i = 0; i < d->n; i++) {
        if (i)
            noa_buf_putc(out, ',');
        put_field(out, &d->f[i]);
    }
    noa_buf_printf(out, "],\"limit\":%u}\n", d->limit);
}
