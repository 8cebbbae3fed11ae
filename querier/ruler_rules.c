/*
 * Rule files: rulefmt groups with LogQL expressions, loaded from and
 * stored to the local rule store (<dir>/<tenant>/<namespace>). See
 * querier/ruler_rules.h. Runs on the caller's thread; no shared state.
 */
#include "querier/ruler_rules.h"

#include "common/labels.h"
#include "common/mem.h"
#include "common/yaml.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Appends one "file:line:col: message" line for node n. */
__attribute__((format(printf, 3, 4))) static void add_err(struct noa_buf *errs,
                                                          const struct noa_yaml_node *n,
                                                          const char *fmt, ...)
{
    if (errs->len)
        noa_buf_putc(errs, '\n');
    if (n)
        noa_buf_printf(errs, "%s:%d:%d: ", n->file, n->line, n->col);
    va_list ap;
    va_start(ap, fmt);
    noa_buf_vprintf(errs, fmt, ap);
    va_end(ap);
}

/* Prometheus's model.ParseDuration: integers with units y w d h m s ms,
 * largest first; "0" alone is allowed. */
static int parse_duration(const struct noa_yaml_node *n, int64_t *ns)
{
    if (n->kind != NOA_YAML_SCALAR)
        return NOA_EINVAL;
    if (n->len == 1 && n->str[0] == '0') {
        *ns = 0;
        return 0;
    }
    return noa_logql_lex_prom_duration(n->str, n->len, ns);
}

static int metric_name_valid(const char *s)
{
    if (!*s)
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                 (p != s && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

static int kv_cmp(const void *a, const void *b)
{
    return strcmp(((const struct noa_ruler_kv *)a)->name, ((const struct noa_ruler_kv *)b)->name);
}

static void kv_free(struct noa_ruler_kv *v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        noa_free(v[i].name);
        noa_free(v[i].value);
    }
    noa_free(v);
}

/* Reads a map of strings (labels/annotations). what: "label"/"annotation". */
static int parse_kv(const struct noa_yaml_node *m, const char *what, const char *prefix,
                    struct noa_ruler_kv **out, unsigned *n_out, struct noa_buf *errs)
{
    *out = NULL;
    *n_out = 0;
    if (noa_yaml_is_null(m))
        return 0;
    if (m->kind != NOA_YAML_MAP) {
        add_err(errs, m, "%scannot unmarshal %s into map[string]string", prefix,
                noa_yaml_type_name(m));
        return NOA_EINVAL;
    }
    int rc = 0;
    struct noa_ruler_kv *v = noa_xcalloc(m->n ? m->n : 1, sizeof(*v));
    unsigned k = 0;
    for (size_t i = 0; i < m->n; i++) {
        const struct noa_yaml_node *key = m->pairs[i].key, *val = m->pairs[i].value;
        if (val->kind != NOA_YAML_SCALAR) {
            add_err(errs, val, "%scannot unmarshal %s into string", prefix, noa_yaml_type_name(val));
            rc = NOA_EINVAL;
            continue;
        }
        if (!noa_label_name_valid((struct noa_str){key->str, key->len}) ||
            (what[0] == 'l' && strcmp(key->str, "__name__") == 0)) {
            add_err(errs, key, "%sinvalid %s name: %s", prefix, what, key->str);
            rc = NOA_EINVAL;
            continue;
        }
        if (!noa_utf8_valid(val->str, val->len)) {
            add_err(errs, val, "%sinvalid %s value: %s", prefix, what, val->str);
            rc = NOA_EINVAL;
            continue;
        }
        v[k].name = noa_xstrndup(key->str, key->len);
        v[k].value = noa_xstrndup(noa_yaml_is_null(val) && val->style == NOA_YAML_PLAIN ? "" : val->str,
                                  noa_yaml_is_null(val) && val->style == NOA_YAML_PLAIN ? 0 : val->len);
        k++;
    }
    qsort(v, k, sizeof(*v), kv_cmp);
    *out = v;
    *n_out = k;
    return rc;
}

static void rule_fini(struct noa_ruler_rule *r)
{
    noa_free(r->name);
    noa_free(r->expr);
    noa_logql_free(r->parsed);
    kv_free(r->labels, r->n_labels);
    kv_free(r->annotations, r->n_annotations);
    memset(r, 0, sizeof(*r));
}

/* One rule node; errors prefixed as Prometheus does ("group "g", rule 2, "x": "). */
static int parse_rule(const struct noa_yaml_node *rn, const char *gname, unsigned idx,
                      struct noa_ruler_rule *r, struct noa_buf *errs)
{
    static const char *const known[] = {"alert", "record", "expr", "for", "keep_firing_for",
                                        "labels", "annotations"};
    char prefix[512];
    int rc = 0;
    memset(r, 0, sizeof(*r));
    if (rn->kind != NOA_YAML_MAP) {
        add_err(errs, rn, "group \"%s\", rule %u: cannot unmarshal %s into rulefmt.RuleNode", gname,
                idx, noa_yaml_type_name(rn));
        return NOA_EINVAL;
    }
    const struct noa_yaml_node *alert = noa_yaml_get(rn, "alert"), *rec = noa_yaml_get(rn, "record"),
                               *expr = noa_yaml_get(rn, "expr");
    const char *name = alert && alert->kind == NOA_YAML_SCALAR ? alert->str
                       : rec && rec->kind == NOA_YAML_SCALAR   ? rec->str
                                                               : "";
    snprintf(prefix, sizeof(prefix), "group \"%s\", rule %u, \"%s\": ", gname, idx, name);
    for (size_t i = 0; i < rn->n; i++) {
        int found = 0;
        for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
            found |= strcmp(rn->pairs[i].key->str, known[k]) == 0;
        if (!found) {
            add_err(errs, rn->pairs[i].key, "%sfield %s not found in type rulefmt.RuleNode", prefix,
                    rn->pairs[i].key->str);
            rc = NOA_EINVAL;
        }
    }
    int has_alert = alert && !noa_yaml_is_null(alert), has_rec = rec && !noa_yaml_is_null(rec);
    if (has_alert && has_rec) {
        add_err(errs, rn, "%sonly one of 'record' and 'alert' must be set", prefix);
        return NOA_EINVAL;
    }
    if (!has_alert && !has_rec) {
        add_err(errs, rn, "%sone of 'record' or 'alert' must be set", prefix);
        return NOA_EINVAL;
    }
    const struct noa_yaml_node *nn = has_alert ? alert : rec;
    if (nn->kind != NOA_YAML_SCALAR) {
        add_err(errs, nn, "%scannot unmarshal %s into string", prefix, noa_yaml_type_name(nn));
        return NOA_EINVAL;
    }
    r->is_alert = has_alert;
    r->name = noa_xstrndup(nn->str, nn->len);
    if (has_rec && !metric_name_valid(r->name)) {
        add_err(errs, nn, "%sinvalid recording rule name: %s", prefix, r->name);
        rc = NOA_EINVAL;
    }
    if (has_alert && !noa_utf8_valid(nn->str, nn->len)) {
        add_err(errs, nn, "%sinvalid alert name: %s", prefix, r->name);
        rc = NOA_EINVAL;
    }
    if (!expr || noa_yaml_is_null(expr) || expr->kind != NOA_YAML_SCALAR || expr->len == 0) {
        add_err(errs, expr ? expr : rn, "%sfield 'expr' must be set in rule", prefix);
        rc = NOA_EINVAL;
    } else {
        struct noa_error perr = {0};
        r->expr = noa_xstrndup(expr->str, expr->len);
        if (noa_logql_parse(expr->str, expr->len, &r->parsed, &perr) != 0) {
            add_err(errs, expr, "%scould not parse expression: %s", prefix, perr.msg);
            rc = NOA_EINVAL;
        } else if (noa_logql_is_log(r->parsed)) {
            add_err(errs, expr, "%sinvalid rule expression: a log query is not a metric query",
                    prefix);
            rc = NOA_EINVAL;
        }
    }
    static const char *const dur_keys[] = {"for", "keep_firing_for"};
    int64_t *dur_out[] = {&r->for_ns, &r->keep_firing_for_ns};
    for (int k = 0; k < 2; k++) {
        const struct noa_yaml_node *d = noa_yaml_get(rn, dur_keys[k]);
        if (!d || noa_yaml_is_null(d))
            continue;
        if (has_rec) {
            add_err(errs, d, "%sinvalid field '%s' in recording rule", prefix, dur_keys[k]);
            rc = NOA_EINVAL;
        } else if (parse_duration(d, dur_out[k]) != 0) {
            add_err(errs, d, "%snot a valid duration string: \"%s\"", prefix,
                    d->kind == NOA_YAML_SCALAR ? d->str : noa_yaml_type_name(d));
            rc = NOA_EINVAL;
        }
    }
    const struct noa_yaml_node *lab = noa_yaml_get(rn, "labels"), *ann = noa_yaml_get(rn, "annotations");
    if (lab && parse_kv(lab, "label", prefix, &r->labels, &r->n_labels, errs) != 0)
        rc = NOA_EINVAL;
    if (ann && has_rec && !noa_yaml_is_null(ann)) {
        add_err(errs, ann, "%sinvalid field 'annotations' in recording rule", prefix);
        rc = NOA_EINVAL;
    } else if (ann && parse_kv(ann, "annotation", prefix, &r->annotations, &r->n_annotations,
                               errs) != 0) {
        rc = NOA_EINVAL;
    }
    return rc;
}

void noa_ruler_rules_group_fini(struct noa_ruler_group *g)
{
    if (!g)
        return;
    for (unsigned i = 0; i < g->n_rules; i++)
        rule_fini(&g->rules[i]);
    noa_free(g->rules);
    noa_free(g->name);
    memset(g, 0, sizeof(*g));
}

/* One group node. */
static int parse_group_node(const struct noa_yaml_node *gn, struct noa_ruler_group *g,
                            struct noa_buf *errs)
{
    static const char *const known[] = {"name", "interval", "limit", "rules", "query_offset"};
    int rc = 0;
    memset(g, 0, sizeof(*g));
    if (gn->kind != NOA_YAML_MAP) {
        add_err(errs, gn, "cannot unmarshal %s into rulefmt.RuleGroup", noa_yaml_type_name(gn));
        return NOA_EINVAL;
    }
    for (size_t i = 0; i < gn->n; i++) {
        int found = 0;
        for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
            found |= strcmp(gn->pairs[i].key->str, known[k]) == 0;
        if (!found) {
            add_err(errs, gn->pairs[i].key, "field %s not found in type rulefmt.RuleGroup",
                    gn->pairs[i].key->str);
            rc = NOA_EINVAL;
        }
    }
    const struct noa_yaml_node *name = noa_yaml_get(gn, "name");
    if (!name || noa_yaml_is_null(name) || name->kind != NOA_YAML_SCALAR || name->len == 0) {
        add_err(errs, name ? name : gn, "groupname must not be empty");
        return NOA_EINVAL;
    }
    g->name = noa_xstrndup(name->str, name->len);
    const struct noa_yaml_node *iv = noa_yaml_get(gn, "interval");
    if (iv && !noa_yaml_is_null(iv) && parse_duration(iv, &g->interval_ns) != 0) {
        add_err(errs, iv, "group \"%s\": not a valid duration string: \"%s\"", g->name,
                iv->kind == NOA_YAML_SCALAR ? iv->str : noa_yaml_type_name(iv));
        rc = NOA_EINVAL;
    }
    const struct noa_yaml_node *lim = noa_yaml_get(gn, "limit");
    if (lim && !noa_yaml_is_null(lim) && (noa_yaml_int64(lim, &g->limit) != 0 || g->limit < 0)) {
        add_err(errs, lim, "group \"%s\": invalid limit: %s", g->name,
                lim->kind == NOA_YAML_SCALAR ? lim->str : noa_yaml_type_name(lim));
        rc = NOA_EINVAL;
    }
    const struct noa_yaml_node *rules = noa_yaml_get(gn, "rules");
    if (rules && !noa_yaml_is_null(rules)) {
        if (rules->kind != NOA_YAML_SEQ) {
            add_err(errs, rules, "group \"%s\": cannot unmarshal %s into []rulefmt.RuleNode",
                    g->name, noa_yaml_type_name(rules));
            return NOA_EINVAL;
        }
        g->rules = noa_xcalloc(rules->n ? rules->n : 1, sizeof(*g->rules));
        for (size_t i = 0; i < rules->n; i++) {
            if (parse_rule(rules->items[i], g->name, (unsigned)i + 1, &g->rules[g->n_rules], errs))
                rc = NOA_EINVAL;
            g->n_rules++; /* keep it even when bad so it is freed */
        }
    }
    return rc;
}

static int parse_doc(const char *text, size_t len, const char *file, struct noa_yaml_doc **doc,
                     struct noa_buf *errs)
{
    struct noa_error yerr = {0};
    if (len > NOA_RULER_RULES_MAX_FILE) {
        add_err(errs, NULL, "%s: file is larger than %u bytes", file, NOA_RULER_RULES_MAX_FILE);
        return NOA_ETOOBIG;
    }
    int rc = noa_yaml_parse(text, len, file, NULL, doc, &yerr);
    if (rc != 0) {
        add_err(errs, NULL, "%s", yerr.msg);
        return rc;
    }
    return 0;
}

int noa_ruler_rules_parse_group(const char *text, size_t len, const char *file,
                                struct noa_ruler_group *out, struct noa_buf *errs)
{
    struct noa_yaml_doc *doc = NULL;
    memset(out, 0, sizeof(*out));
    int rc = parse_doc(text, len, file ? file : "<input>", &doc, errs);
    if (rc != 0)
        goto fail;
    if (!doc->root) {
        add_err(errs, NULL, "%s: empty rule group", doc->file);
        rc = NOA_EINVAL;
        goto fail;
    }
    rc = parse_group_node(doc->root, out, errs);
    if (rc != 0)
        goto fail;
    noa_yaml_free(doc);
    return 0;
fail:
    noa_ruler_rules_group_fini(out);
    noa_yaml_free(doc);
    return rc;
}

void noa_ruler_rules_file_fini(struct noa_ruler_file *f)
{
    if (!f)
        return;
    for (unsigned i = 0; i < f->n_groups; i++)
        noa_ruler_rules_group_fini(&f->groups[i]);
    noa_free(f->groups);
    noa_free(f->tenant);
    noa_free(f->ns);
    noa_free(f->path);
    memset(f, 0, sizeof(*f));
}

int noa_ruler_rules_parse(const char *text, size_t len, const char *file,
                          struct noa_ruler_file *out, struct noa_buf *errs)
{
    struct noa_yaml_doc *doc = NULL;
    memset(out, 0, sizeof(*out));
    int rc = parse_doc(text, len, file ? file : "<input>", &doc, errs);
    if (rc != 0)
        goto fail;
    const struct noa_yaml_node *root = doc->root;
    if (!root) /* an empty file is an empty namespace, as yaml.v3 decodes it */
        goto done;
    if (root->kind != NOA_YAML_MAP) {
        add_err(errs, root, "cannot unmarshal %s into rulefmt.RuleGroups", noa_yaml_type_name(root));
        rc = NOA_EINVAL;
        goto fail;
    }
    for (size_t i = 0; i < root->n; i++) {
        if (strcmp(root->pairs[i].key->str, "groups") != 0) {
            add_err(errs, root->pairs[i].key, "field %s not found in type rulefmt.RuleGroups",
                    root->pairs[i].key->str);
            rc = NOA_EINVAL;
        }
    }
    const struct noa_yaml_node *groups = noa_yaml_get(root, "groups");
    if (groups && !noa_yaml_is_null(groups)) {
        if (groups->kind != NOA_YAML_SEQ) {
            add_err(errs, groups, "cannot unmarshal %s into []rulefmt.RuleGroup",
                    noa_yaml_type_name(groups));
            rc = NOA_EINVAL;
            goto fail;
        }
        out->groups = noa_xcalloc(groups->n ? groups->n : 1, sizeof(*out->groups));
        for (size_t i = 0; i < groups->n; i++) {
            struct noa_ruler_group *g = &out->groups[out->n_groups];
            if (parse_group_node(groups->items[i], g, errs) != 0)
                rc = NOA_EINVAL;
            out->n_groups++;
            for (unsigned k = 0; g->name && k + 1 < out->n_groups; k++) {
                if (out->groups[k].name && strcmp(out->groups[k].name, g->name) == 0) {
                    add_err(errs, groups->items[i], "groupname: \"%s\" is repeated in the same file",
                            g->name);
                    rc = NOA_EINVAL;
                    break;
                }
            }
        }
    }
    if (rc != 0)
        goto fail;
done:
    out->ns = noa_xstrdup(doc->file);
    noa_yaml_free(doc);
    return 0;
fail:
    noa_ruler_rules_file_fini(out);
    noa_yaml_free(doc);
    return rc;
}

/* ---- loading the store ------------------------------------------------------ */

int noa_ruler_rules_safe_name(const char *s)
{
    if (!s || !*s || s[0] == '.')
        return 0;
    return strchr(s, '/') == NULL;
}

void noa_ruler_rules_set_fini(struct noa_ruler_set *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < s->n_files; i++)
        noa_ruler_rules_file_fini(&s->files[i]);
    noa_free(s->files);
    memset(s, 0, sizeof(*s));
}

static int read_file(const char *path, struct noa_buf *out, struct noa_buf *errs)
{
    int rc = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        rc = -errno;
        add_err(errs, NULL, "%s: %s", path, strerror(-rc));
        return rc;
    }
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (out->len + n > NOA_RULER_RULES_MAX_FILE) {
            add_err(errs, NULL, "%s: file is larger than %u bytes", path, NOA_RULER_RULES_MAX_FILE);
            rc = NOA_ETOOBIG;
            break;
        }
        noa_buf_append(out, chunk, n);
    }
    if (rc == 0 && ferror(f)) {
        rc = -EIO;
        add_err(errs, NULL, "%s: read error", path);
    }
    fclose(f);
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the visible entries of dir with the wanted type
 * (S_IFDIR or S_IFREG). */
static int list_dir(const char *dir, mode_t type, char ***out, unsigned *n_out)
{
    DIR *d = opendir(dir);
    *out = NULL;
    *n_out = 0;
    if (!d)
        return -errno;
    char **v = NULL;
    unsigned n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (stat(path, &st) != 0 || (st.st_mode & S_IFMT) != type)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            v = noa_xrealloc(v, cap * sizeof(*v));
        }
        v[n++] = noa_xstrdup(de->d_name);
    }
    closedir(d);
    if (n)
        qsort(v, n, sizeof(*v), name_cmp);
    *out = v;
    *n_out = n;
    return 0;
}

static void free_names(char **v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        noa_free(v[i]);
    noa_free(v);
}

int noa_ruler_rules_load_dir(const char *dir, struct noa_ruler_set *out, unsigned *n_bad,
                             struct noa_buf *errs)
{
    char **tenants = NULL;
    unsigned n_tenants = 0, cap = 0;
    memset(out, 0, sizeof(*out));
    *n_bad = 0;
    int rc = list_dir(dir, S_IFDIR, &tenants, &n_tenants);
    if (rc == -ENOENT)
        return 0;
    if (rc != 0)
        return rc;
    for (unsigned t = 0; t < n_tenants; t++) {
        char tdir[4096];
        char **files = NULL;
        unsigned n_files = 0;
        snprintf(tdir, sizeof(tdir), "%s/%s", dir, tenants[t]);
        if (list_dir(tdir, S_IFREG, &files, &n_files) != 0)
            continue;
        for (unsigned i = 0; i < n_files; i++) {
            char path[4096 + 256];
            struct noa_buf text = {0};
            struct noa_ruler_file f;
            snprintf(path, sizeof(path), "%s/%s", tdir, files[i]);
            if (read_file(path, &text, errs) != 0 ||
                noa_ruler_rules_parse(text.data ? text.data : "", text.len, path, &f, errs) != 0) {
                (*n_bad)++;
                noa_buf_fini(&text);
                continue;
            }
            noa_buf_fini(&text);
            noa_free(f.ns);
            f.ns = noa_xstrdup(files[i]);
            f.tenant = noa_xstrdup(tenants[t]);
            f.path = noa_xstrdup(path);
            if (out->n_files == cap) {
                cap = cap ? cap * 2 : 16;
                out->files = noa_xrealloc(out->files, cap * sizeof(*out->files));
            }
            out->files[out->n_files++] = f;
        }
        free_names(files, n_files);
    }
    free_names(tenants, n_tenants);
    return 0;
}

/* ---- writing YAML ------------------------------------------------------------ */

/* Prometheus's model.Duration.String(): "1h30m", "5m", "0s". */
static void put_duration(struct noa_buf *b, int64_t ns)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {{86400000LL * 365, "y"}, {86400000LL * 7, "w"}, {86400000LL, "d"},
                 {3600000LL, "h"},        {60000LL, "m"},        {1000LL, "s"},
                 {1LL, "ms"}};
    int64_t ms = ns / 1000000;
    if (ms == 0) {
        noa_buf_printf(b, "0s");
        return;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (ms >= units[i].ms) {
            noa_buf_printf(b, "%" PRId64 "%s", ms / units[i].ms, units[i].unit);
            ms %= units[i].ms;
        }
    }
}

/* Strings are written double-quoted: JSON string syntax is valid YAML and
 * keeps every value (quotes, newlines, `: `) unambiguous. */
static void put_str(struct noa_buf *b, const char *s)
{
    noa_buf_put_json_str(b, s, strlen(s));
}

static void put_kv(struct noa_buf *b, const char *key, const struct noa_ruler_kv *v, unsigned n,
                   int indent)
{
    if (!n)
        return;
    noa_buf_printf(b, "%*s%s:\n", indent, "", key);
    for (unsigned i = 0; i < n; i++) {
        noa_buf_printf(b, "%*s", indent + 4, "");
        put_str(b, v[i].name);
        noa_buf_printf(b, ": ");
        put_str(b, v[i].value);
        noa_buf_putc(b, '\n');
    }
}

void noa_ruler_rules_format_group(const struct noa_ruler_group *g, int indent, int as_item,
                                  struct noa_buf *out)
{
    int in = indent + (as_item ? 2 : 0);
    noa_buf_printf(out, "%*s%sname: ", indent, "", as_item ? "- " : "");
    put_str(out, g->name);
    noa_buf_putc(out, '\n');
    if (g->interval_ns) {
        noa_buf_printf(out, "%*sinterval: ", in, "");
        put_duration(out, g->interval_ns);
        noa_buf_putc(out, '\n');
    }
    if (g->limit)
        noa_buf_printf(out, "%*slimit: %" PRId64 "\n", in, "", g->limit);
    noa_buf_printf(out, "%*srules:%s\n", in, "", g->n_rules ? "" : " []");
    for (unsigned i = 0; i < g->n_rules; i++) {
        const struct noa_ruler_rule *r = &g->rules[i];
        noa_buf_printf(out, "%*s- %s: ", in + 4, "", r->is_alert ? "alert" : "record");
        put_str(out, r->name);
        noa_buf_printf(out, "\n%*sexpr: ", in + 6, "");
        put_str(out, r->expr ? r->expr : "");
        noa_buf_putc(out, '\n');
        if (r->for_ns) {
            noa_buf_printf(out, "%*sfor: ", in + 6, "");
            put_duration(out, r->for_ns);
            noa_buf_putc(out, '\n');
        }
        if (r->keep_firing_for_ns) {
            noa_buf_printf(out, "%*skeep_firing_for: ", in + 6, "");
            put_duration(out, r->keep_firing_for_ns);
            noa_buf_putc(out, '\n');
        }
        put_kv(out, "labels", r->labels, r->n_labels, in + 6);
        put_kv(out, "annotations", r->annotations, r->n_annotations, in + 6);
    }
}

int noa_ruler_rules_write_atomic(const char *path, const struct noa_buf *text)
{
    char tmp[4500];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return NOA_EINVAL;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int rc = 0;
    size_t off = 0;
    while (off < text->len) {
        ssize_t w = write(fd, text->data + off, text->len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        off += (size_t)w;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0) {
        unlink(tmp);
        return rc;
    }
    /* The rename itself is durable only once the directory is synced. */
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (slash && (size_t)(slash - path) < sizeof(dir)) {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = 0;
    } else {
        snprintf(dir, sizeof(dir), ".");
    }
    int dfd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;
}

int noa_ruler_rules_store(const char *dir, const char *tenant, const char *ns, const char *name,
                          const struct noa_ruler_group *g, struct noa_error *err)
{
    char tdir[4096], path[4400];
    struct noa_buf text = {0}, errs = {0}, out = {0};
    struct noa_ruler_file f = {0};
    int rc = 0, exists = 0;
    if (!noa_ruler_rules_safe_name(tenant) || !noa_ruler_rules_safe_name(ns))
        return noa_error_set(err, NOA_EINVAL, "invalid namespace or tenant name");
    snprintf(tdir, sizeof(tdir), "%s/%s", dir, tenant);
    snprintf(path, sizeof(path), "%s/%s", tdir, ns);
    if (access(path, F_OK) == 0) {
        exists = 1;
        rc = read_file(path, &text, &errs);
        if (rc == 0)
            rc = noa_ruler_rules_parse(text.data ? text.data : "", text.len, path, &f, &errs);
        if (rc != 0) {
            noa_error_set(err, rc, "%s", noa_buf_cstr(&errs));
            goto fail;
        }
    }
    if (!g && !name) { /* delete the namespace */
        if (!exists) {
            rc = noa_error_set(err, NOA_ENOTFOUND, "group namespace does not exist");
            goto fail;
        }
        if (unlink(path) != 0)
            rc = noa_error_set(err, -errno, "%s: %s", path, strerror(errno));
        goto fail;
    }
    const char *gname = g ? g->name : name;
    unsigned at = f.n_groups;
    for (unsigned i = 0; i < f.n_groups; i++)
        if (strcmp(f.groups[i].name, gname) == 0)
            at = i;
    if (!g && at == f.n_groups) {
        rc = noa_error_set(err, NOA_ENOTFOUND, "group does not exist");
        goto fail;
    }
    unsigned left = 0;
    for (unsigned i = 0; i <= f.n_groups; i++) {
        const struct noa_ruler_group *w = NULL;
        if (i == at)
            w = g;
        else if (i < f.n_groups)
            w = &f.groups[i];
        if (!w)
            continue;
        if (!left)
            noa_buf_printf(&out, "groups:\n");
        noa_ruler_rules_format_group(w, 4, 1, &out);
        left++;
    }
    if (!left) {
        if (unlink(path) != 0)
            rc = noa_error_set(err, -errno, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        rc = noa_error_set(err, -errno, "%s: %s", dir, strerror(errno));
        goto fail;
    }
    if (mkdir(tdir, 0755) != 0 && errno != EEXIST) {
        rc = noa_error_set(err, -errno, "%s: %s", tdir, strerror(errno));
        goto fail;
    }
    rc = noa_ruler_rules_write_atomic(path, &out);
    if (rc != 0)
        noa_error_set(err, rc, "%s: %s", path, strerror(-rc));
fail:
    noa_ruler_rules_file_fini(&f);
    noa_buf_fini(&text);
    noa_buf_fini(&errs);
    noa_buf_fini(&out);
    return rc;
}
