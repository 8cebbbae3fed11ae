/*
 * libyaml adapter: turns the event stream of one document into a tree of
 * struct noa_yaml_node allocated in the document's arena, with an explicit
 * stack (never recursion) so nesting depth is bounded by a limit, not by the
 * C stack. Also environment expansion over raw text and yaml.v2-style
 * scalar resolution. Caller's thread; no global state.
 */
#include "common/yaml.h"
#include "common/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define DEF_MAX_BYTES (16u << 20)
#define DEF_MAX_DEPTH 64
#define DEF_MAX_NODES 1000000u
#define TAG_PREFIX "tag:yaml.org,2002:"

/* ---- errors ------------------------------------------------------------------- */

static int verror_at(struct noa_error *err, int code, const char *file, int line, int col,
                     const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));
static int verror_at(struct noa_error *err, int code, const char *file, int line, int col,
                     const char *fmt, va_list ap)
{
    char what[400];
    vsnprintf(what, sizeof(what), fmt, ap);
    if (line > 0)
        return noa_error_set_at(err, code, line, col, "%s:%d:%d: %s", file, line, col, what);
    return noa_error_set(err, code, "%s: %s", file, what);
}

static int error_at(struct noa_error *err, int code, const char *file, int line, int col,
                    const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int error_at(struct noa_error *err, int code, const char *file, int line, int col,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror_at(err, code, file, line, col, fmt, ap);
    va_end(ap);
    return code;
}

int noa_yaml_error(struct noa_error *err, const struct noa_yaml_node *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror_at(err, NOA_EINVAL, n && n->file ? n->file : "<input>", n ? n->line : 0,
              n ? n->col : 0, fmt, ap);
    va_end(ap);
    return NOA_EINVAL;
}

/* ---- the builder ------------------------------------------------------------ */

struct frame {
    struct noa_yaml_node *node;
    void *vec; /* struct noa_yaml_pair[] or struct noa_yaml_node *[] while open */
    size_t n;
    size_t cap;
    struct noa_yaml_node *key;     /* map: key waiting for its value */
    struct noa_yaml_node **merges; /* map: values of "<<" keys, in order */
    size_t n_merges;
    char *anchor; /* registered when the node closes (so it cannot contain itself) */
};

struct anchor {
    char *name;
    struct noa_yaml_node *node;
};

struct builder {
    struct noa_yaml_doc *doc;
    struct noa_yaml_limits lim;
    struct frame *stack;
    int depth;
    struct anchor *anchors;
    size_t n_anchors;
    size_t cap_anchors;
    struct noa_error *err;
};

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static int too_big(struct builder *b, const struct noa_yaml_node *n)
{
    return error_at(b->err, NOA_EINVAL, b->doc->file, n->line, n->col,
                    "document too large: more than %llu nodes with aliases expanded",
                    (unsigned long long)b->lim.max_nodes);
}

static struct noa_yaml_node *node_new(struct builder *b, enum noa_yaml_kind kind,
                                      const yaml_mark_t *mark, const unsigned char *tag)
{
    struct noa_yaml_node *n = noa_arena_alloc(&b->doc->arena, sizeof(*n));
    memset(n, 0, sizeof(*n));
    n->kind = kind;
    n->line = (int)mark->line + 1;
    n->col = (int)mark->column + 1;
    n->file = b->doc->file;
    n->weight = 1;
    if (tag && strcmp((const char *)tag, "!") != 0)
        n->tag = noa_arena_strndup(&b->doc->arena, (const char *)tag, strlen((const char *)tag));
    return n;
}

static int is_merge_key(const struct noa_yaml_node *k)
{
    if (k->tag)
        return strcmp(k->tag, TAG_PREFIX "merge") == 0;
    return k->style == NOA_YAML_PLAIN && k->len == 2 && memcmp(k->str, "<<", 2) == 0;
}

/* Adds a finished child (node or alias target) to the open collection on top. */
static int add_child(struct builder *b, struct noa_yaml_node *child)
{
    if (b->depth == 0) {
        b->doc->root = child;
        return 0;
    }
    struct frame *f = &b->stack[b->depth - 1];
    f->node->weight = sat_add(f->node->weight, child->weight);
    if (f->node->weight > b->lim.max_nodes)
        return too_big(b, child);
    if (f->node->kind == NOA_YAML_SEQ) {
        if (f->n == f->cap) {
            f->cap = f->cap ? f->cap * 2 : 8;
            f->vec = noa_xrealloc(f->vec, f->cap * sizeof(struct noa_yaml_node *));
        }
        ((struct noa_yaml_node **)f->vec)[f->n++] = child;
        return 0;
    }
    if (!f->key) {
        if (child->kind != NOA_YAML_SCALAR)
            return error_at(b->err, NOA_EINVAL, b->doc->file, child->line, child->col,
                            "complex mapping keys (maps or sequences as keys) are not "
                            "supported");
        f->key = child;
        return 0;
    }
    if (is_merge_key(f->key)) {
        f->merges = noa_xrealloc(f->merges, (f->n_merges + 1) * sizeof(*f->merges));
        f->merges[f->n_merges++] = child;
        f->key = NULL;
        return 0;
    }
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->vec = noa_xrealloc(f->vec, f->cap * sizeof(struct noa_yaml_pair));
    }
    ((struct noa_yaml_pair *)f->vec)[f->n++] = (struct noa_yaml_pair){f->key, child};
    f->key = NULL;
    return 0;
}

static int register_anchor(struct builder *b, const char *name, struct noa_yaml_node *n)
{
    if (b->n_anchors == b->cap_anchors) {
        b->cap_anchors = b->cap_anchors ? b->cap_anchors * 2 : 8;
        b->anchors = noa_xrealloc(b->anchors, b->cap_anchors * sizeof(*b->anchors));
    }
    b->anchors[b->n_anchors++] = (struct anchor){noa_xstrdup(name), n};
    return 0;
}

static struct noa_yaml_node *find_anchor(struct builder *b, const char *name)
{
    /* Later definitions of a name win, so search from the end. */
    for (size_t i = b->n_anchors; i > 0; i--)
        if (strcmp(b->anchors[i - 1].name, name) == 0)
            return b->anchors[i - 1].node;
    return NULL;
}

static int push_frame(struct builder *b, struct noa_yaml_node *n, const unsigned char *anchor)
{
    if (b->depth >= b->lim.max_depth)
        return error_at(b->err, NOA_EINVAL, b->doc->file, n->line, n->col,
                        "nesting deeper than %d levels", b->lim.max_depth);
    b->stack[b->depth++] = (struct frame){
        .node = n, .anchor = anchor ? noa_xstrdup((const char *)anchor) : NULL};
    return 0;
}

struct key_ref {
    const struct noa_yaml_node *key;
    size_t index;
};

static int key_ref_cmp(const void *a, const void *b)
{
    const struct key_ref *x = a, *y = b;
    size_t n = x->key->len < y->key->len ? x->key->len : y->key->len;
    int c = memcmp(x->key->str, y->key->str, n);
    if (c)
        return c;
    if (x->key->len != y->key->len)
        return x->key->len < y->key->len ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int has_key(const struct key_ref *sorted, size_t n, const struct noa_yaml_node *k)
{
    struct key_ref probe = {k, 0};
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        struct key_ref a = sorted[mid];
        a.index = 0;
        int c = key_ref_cmp(&a, &probe);
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Appends the pairs of merge source src that the map does not define yet. */
static int merge_from(struct builder *b, struct frame *f, struct key_ref **sorted,
                      const struct noa_yaml_node *src)
{
    if (src->kind != NOA_YAML_MAP)
        return error_at(b->err, NOA_EINVAL, b->doc->file, src->line, src->col,
                        "map merge requires a map or a sequence of maps as the value");
    for (size_t i = 0; i < src->n; i++) {
        const struct noa_yaml_pair *p = &src->pairs[i];
        if (has_key(*sorted, f->n, p->key))
            continue;
        if (f->n == f->cap) {
            f->cap = f->cap ? f->cap * 2 : 8;
            f->vec = noa_xrealloc(f->vec, f->cap * sizeof(struct noa_yaml_pair));
        }
        ((struct noa_yaml_pair *)f->vec)[f->n++] = *p;
        /* Keep the index sorted for the next lookups (merges are small). */
        *sorted = noa_xrealloc(*sorted, f->n * sizeof(**sorted));
        (*sorted)[f->n - 1] = (struct key_ref){p->key, f->n - 1};
        qsort(*sorted, f->n, sizeof(**sorted), key_ref_cmp);
    }
    return 0;
}

/* Sorts keys to find duplicates in O(n log n), then applies "<<" merges. */
static int finish_map(struct builder *b, struct frame *f)
{
    int rc = 0;
    struct noa_yaml_pair *pairs = f->vec;
    struct key_ref *sorted = noa_xmalloc((f->n ? f->n : 1) * sizeof(*sorted));
    for (size_t i = 0; i < f->n; i++)
        sorted[i] = (struct key_ref){pairs[i].key, i};
    qsort(sorted, f->n, sizeof(*sorted), key_ref_cmp);
    for (size_t i = 1; i < f->n; i++) {
        const struct noa_yaml_node *a = sorted[i - 1].key, *k = sorted[i].key;
        if (a->len == k->len && memcmp(a->str, k->str, k->len) == 0) {
            rc = error_at(b->err, NOA_EINVAL, b->doc->file, k->line, k->col,
                          "mapping key \"%.*s\" already defined at line %d",
                          (int)(k->len > 100 ? 100 : k->len), k->str, a->line);
            goto out;
        }
    }
    for (size_t m = 0; m < f->n_merges && rc == 0; m++) {
        const struct noa_yaml_node *src = f->merges[m];
        if (src->kind == NOA_YAML_SEQ) {
            for (size_t i = 0; i < src->n && rc == 0; i++)
                rc = merge_from(b, f, &sorted, src->items[i]);
        } else {
            rc = merge_from(b, f, &sorted, src);
        }
    }
out:
    noa_free(sorted);
    return rc;
}

static int pop_frame(struct builder *b)
{
    struct frame *f = &b->stack[b->depth - 1];
    struct noa_yaml_node *n = f->node;
    int rc = 0;
    if (n->kind == NOA_YAML_MAP && (rc = finish_map(b, f)) != 0)
        goto out;
    size_t elem = n->kind == NOA_YAML_MAP ? sizeof(struct noa_yaml_pair)
                                          : sizeof(struct noa_yaml_node *);
    if (f->n) {
        void *dst = noa_arena_alloc(&b->doc->arena, f->n * elem);
        memcpy(dst, f->vec, f->n * elem);
        if (n->kind == NOA_YAML_MAP)
            n->pairs = dst;
        else
            n->items = dst;
    }
    n->n = f->n;
    if (f->anchor)
        register_anchor(b, f->anchor, n);
out:
    noa_free(f->vec);
    noa_free(f->merges);
    noa_free(f->anchor);
    memset(f, 0, sizeof(*f));
    b->depth--;
    if (rc == 0)
        rc = add_child(b, n);
    return rc;
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
    struct noa_yaml_node *n = node_new(b, NOA_YAML_SCALAR, &ev->start_mark, ev->data.scalar.tag);
    switch (ev->data.scalar.style) {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE: n->style = NOA_YAML_SINGLE_QUOTED; break;
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE: n->style = NOA_YAML_DOUBLE_QUOTED; break;
    case YAML_LITERAL_SCALAR_STYLE: n->style = NOA_YAML_LITERAL; break;
    case YAML_FOLDED_SCALAR_STYLE: n->style = NOA_YAML_FOLDED; break;
    default: n->style = NOA_YAML_PLAIN; break;
    }
    n->len = ev->data.scalar.length;
    n->str = noa_arena_strndup(&b->doc->arena, (const char *)ev->data.scalar.value, n->len);
    if (ev->data.scalar.anchor)
        register_anchor(b, (const char *)ev->data.scalar.anchor, n);
    return add_child(b, n);
}

static int on_alias(struct builder *b, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    struct noa_yaml_node *target = find_anchor(b, name);
    if (!target)
        return error_at(b->err, NOA_EINVAL, b->doc->file, (int)ev->start_mark.line + 1,
                        (int)ev->start_mark.column + 1, "unknown anchor '%s' referenced", name);
    return add_child(b, target);
}

static int on_event(struct builder *b, const yaml_event_t *ev, int *docs)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++*docs > 1)
            return error_at(b->err, NOA_EINVAL, b->doc->file, (int)ev->start_mark.line + 1,
                            (int)ev->start_mark.column + 1,
                            "more than one YAML document in the input (only one is allowed)");
        return 0;
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev);
    case YAML_ALIAS_EVENT:
        return on_alias(b, ev);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        int is_map = ev->type == YAML_MAPPING_START_EVENT;
        const unsigned char *tag = is_map ? ev->data.mapping_start.tag
                                          : ev->data.sequence_start.tag;
        const unsigned char *anchor = is_map ? ev->data.mapping_start.anchor
                                             : ev->data.sequence_start.anchor;
        struct noa_yaml_node *n =
            node_new(b, is_map ? NOA_YAML_MAP : NOA_YAML_SEQ, &ev->start_mark, tag);
        if (b->depth > 0) {
            struct frame *f = &b->stack[b->depth - 1];
            if (f->node->kind == NOA_YAML_MAP && !f->key)
                return error_at(b->err, NOA_EINVAL, b->doc->file, n->line, n->col,
                                "complex mapping keys (maps or sequences as keys) are not "
                                "supported");
        }
        return push_frame(b, n, anchor);
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return pop_frame(b);
    default:
        return 0;
    }
}

/* 1-based line and column of byte offset off in text. */
static void offset_pos(const char *text, size_t len, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static int parser_error(struct builder *b, const yaml_parser_t *p, const char *text, size_t len)
{
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->error == YAML_MEMORY_ERROR)
        return noa_error_set(b->err, NOA_ENOMEM, "%s: out of memory parsing YAML", b->doc->file);
    if (p->error == YAML_READER_ERROR) {
        int line, col;
        offset_pos(text, len, p->problem_offset, &line, &col);
        return error_at(b->err, NOA_EINVAL, b->doc->file, line, col, "%s", problem);
    }
    int line = (int)p->problem_mark.line + 1, col = (int)p->problem_mark.column + 1;
    if (p->context)
        return error_at(b->err, NOA_EINVAL, b->doc->file, line, col,
                        "%s %s (started at line %d)", problem, p->context,
                        (int)p->context_mark.line + 1);
    return error_at(b->err, NOA_EINVAL, b->doc->file, line, col, "%s", problem);
}

int noa_yaml_parse(const char *text, size_t len, const char *file,
                   const struct noa_yaml_limits *limits, struct noa_yaml_doc **out,
                   struct noa_error *err)
{
    struct builder b = {.err = err};
    b.lim.max_bytes = limits && limits->max_bytes ? limits->max_bytes : DEF_MAX_BYTES;
    b.lim.max_depth = limits && limits->max_depth ? limits->max_depth : DEF_MAX_DEPTH;
    b.lim.max_nodes = limits && limits->max_nodes ? limits->max_nodes : DEF_MAX_NODES;
    yaml_parser_t parser;
    int parser_ready = 0, rc = 0, docs = 0;
    *out = NULL;
    if (!file)
        file = "<input>";
    if (len > b.lim.max_bytes) {
        rc = noa_error_set(err, NOA_ETOOBIG, "%s: %zu bytes, over the %zu-byte limit for YAML",
                           file, len, b.lim.max_bytes);
        goto fail;
    }
    b.doc = noa_xcalloc(1, sizeof(*b.doc));
    b.doc->file = noa_arena_strndup(&b.doc->arena, file, strlen(file));
    b.stack = noa_xcalloc((size_t)b.lim.max_depth, sizeof(*b.stack));
    if (!yaml_parser_initialize(&parser)) {
        rc = noa_error_set(err, NOA_ENOMEM, "%s: out of memory", file);
        goto fail;
    }
    parser_ready = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = parser_error(&b, &parser, text, len);
            goto fail;
        }
        int done = ev.type == YAML_STREAM_END_EVENT;
        rc = on_event(&b, &ev, &docs);
        yaml_event_delete(&ev);
        if (rc)
            goto fail;
        if (done)
            break;
    }
    yaml_parser_delete(&parser);
    for (size_t i = 0; i < b.n_anchors; i++)
        noa_free(b.anchors[i].name);
    noa_free(b.anchors);
    noa_free(b.stack);
    *out = b.doc;
    return 0;
fail:
    if (parser_ready)
        yaml_parser_delete(&parser);
    while (b.depth > 0) {
        struct frame *f = &b.stack[--b.depth];
        noa_free(f->vec);
        noa_free(f->merges);
        noa_free(f->anchor);
    }
    for (size_t i = 0; i < b.n_anchors; i++)
        noa_free(b.anchors[i].name);
    noa_free(b.anchors);
    noa_free(b.stack);
    noa_yaml_free(b.doc);
    return rc;
}

void noa_yaml_free(struct noa_yaml_doc *doc)
{
    if (!doc)
        return;
    noa_arena_fini(&doc->arena);
    noa_free(doc);
}

/* ---- files -------------------------------------------------------------------- */

static int read_file(const char *path, size_t max, struct noa_buf *out, struct noa_error *err)
{
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        return noa_error_set(err, rc, "%s: %s", path, strerror(-rc));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        noa_error_set(err, rc, "%s: %s", path, strerror(-rc));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = noa_error_set(err, -EISDIR, "%s: is a directory", path);
        goto out;
    }
    for (;;) {
        if (out->len > max) {
            rc = noa_error_set(err, NOA_ETOOBIG, "%s: over the %zu-byte limit for YAML", path,
                               max);
            goto out;
        }
        noa_buf_reserve(out, 65536);
        ssize_t n = read(fd, out->data + out->len, out->cap - out->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            noa_error_set(err, rc, "%s: %s", path, strerror(-rc));
            goto out;
        }
        if (n == 0)
            break;
        out->len += (size_t)n;
    }
out:
    close(fd);
    return rc;
}

int noa_yaml_load_file(const char *path, int expand_env, const struct noa_yaml_limits *limits,
                       struct noa_yaml_doc **out, struct noa_error *err)
{
    struct noa_buf raw = {0}, expanded = {0};
    size_t max = limits && limits->max_bytes ? limits->max_bytes : DEF_MAX_BYTES;
    int rc = read_file(path, max, &raw, err);
    *out = NULL;
    if (rc)
        goto out;
    if (expand_env) {
        rc = noa_yaml_expand_env(raw.data, raw.len, path, &expanded, err);
        if (rc)
            goto out;
        rc = noa_yaml_parse(expanded.data ? expanded.data : "", expanded.len, path, limits,
                            out, err);
    } else {
        rc = noa_yaml_parse(raw.data ? raw.data : "", raw.len, path, limits, out, err);
    }
out:
    noa_buf_fini(&raw);
    noa_buf_fini(&expanded);
    return rc;
}

/* ---- environment expansion ----------------------------------------------------- */

#define MAX_EXPAND_DEPTH 8

struct expander {
    const char *file;
    const char *base; /* start of the whole text, for positions */
    size_t base_len;
    struct noa_error *err;
};

static int is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

static int expand_error(struct expander *x, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int expand_error(struct expander *x, const char *at, const char *fmt, ...)
{
    int line, col;
    offset_pos(x->base, x->base_len, (size_t)(at - x->base), &line, &col);
    va_list ap;
    va_start(ap, fmt);
    verror_at(x->err, NOA_EINVAL, x->file, line, col, fmt, ap);
    va_end(ap);
    return NOA_EINVAL;
}

static int expand(struct expander *x, const char *p, const char *end, struct noa_buf *out,
                  int depth);

/* Finds the '}' closing a ${ at p (p just after "${"), skipping nested ${...}. */
static const char *closing_brace(const char *p, const char *end)
{
    int nest = 0;
    for (; p < end; p++) {
        if (p + 1 < end && p[0] == '$' && p[1] == '{') {
            nest++;
            p++;
        } else if (*p == '}') {
            if (nest == 0)
                return p;
            nest--;
        }
    }
    return NULL;
}

/* Expands one ${...} whose body is [p, close). */
static int expand_braced(struct expander *x, const char *dollar, const char *p,
                         const char *close, struct noa_buf *out, int depth)
{
    const char *name = p;
    while (p < close && is_name_char(*p))
        p++;
    if (p == name || !is_name_start(*name))
        return expand_error(x, dollar, "bad environment variable reference: %.*s",
                            (int)(close - dollar + 1 > 80 ? 80 : close - dollar + 1), dollar);
    char var[256];
    size_t n = (size_t)(p - name);
    if (n >= sizeof(var))
        return expand_error(x, dollar, "environment variable name too long");
    memcpy(var, name, n);
    var[n] = '\0';
    const char *val = getenv(var);
    if (p == close) {
        if (val)
            noa_buf_append(out, val, strlen(val));
        return 0;
    }
    /* Operators: ":-" "-" use a default; ":?" "?" fail; ":=" "=" as ":-" "-"
     * (nothing is assigned: the text is expanded once). */
    int colon = *p == ':';
    if (colon)
        p++;
    char op = p < close ? *p : '\0';
    if (op != '-' && op != '=' && op != '?')
        return expand_error(x, dollar, "unsupported operator in ${%s...}", var);
    p++;
    int missing = !val || (colon && !*val);
    if (!missing) {
        noa_buf_append(out, val, strlen(val));
        return 0;
    }
    if (op == '?') {
        struct noa_buf msg = {0};
        int rc = expand(x, p, close, &msg, depth + 1);
        if (rc == 0)
            rc = expand_error(x, dollar, "%s: %s", var,
                              msg.len ? noa_buf_cstr(&msg) : "parameter null or not set");
        noa_buf_fini(&msg);
        return rc;
    }
    return expand(x, p, close, out, depth + 1);
}

static int expand(struct expander *x, const char *p, const char *end, struct noa_buf *out,
                  int depth)
{
    if (depth > MAX_EXPAND_DEPTH)
        return expand_error(x, p, "environment references nested too deeply");
    while (p < end) {
        const char *d = memchr(p, '$', (size_t)(end - p));
        if (!d) {
            noa_buf_append(out, p, (size_t)(end - p));
            break;
        }
        noa_buf_append(out, p, (size_t)(d - p));
        if (d + 1 < end && d[1] == '$') {
            noa_buf_putc(out, '$');
            p = d + 2;
        } else if (d + 1 < end && d[1] == '{') {
            const char *close = closing_brace(d + 2, end);
            if (!close)
                return expand_error(x, d, "unterminated ${ (missing '}')");
            int rc = expand_braced(x, d, d + 2, close, out, depth);
            if (rc)
                return rc;
            p = close + 1;
        } else if (d + 1 < end && is_name_start(d[1])) {
            const char *q = d + 1;
            while (q < end && is_name_char(*q))
                q++;
            char var[256];
            size_t n = (size_t)(q - d - 1);
            if (n >= sizeof(var))
                return expand_error(x, d, "environment variable name too long");
            memcpy(var, d + 1, n);
            var[n] = '\0';
            const char *val = getenv(var);
            if (val)
                noa_buf_append(out, val, strlen(val));
            p = q;
        } else {
            noa_buf_putc(out, '$');
            p = d + 1;
        }
    }
    return 0;
}

int noa_yaml_expand_env(const char *text, size_t len, const char *file, struct noa_buf *out,
                        struct noa_error *err)
{
    struct expander x = {file ? file : "<input>", text, len, err};
    size_t start = out->len;
    int rc = expand(&x, text, text + len, out, 0);
    if (rc)
        out->len = start;
    return rc;
}

/* ---- reading ------------------------------------------------------------------ */

const struct noa_yaml_node *noa_yaml_get(const struct noa_yaml_node *m, const char *key)
{
    if (!m || m->kind != NOA_YAML_MAP)
        return NULL;
    size_t klen = strlen(key);
    for (size_t i = 0; i < m->n; i++) {
        const struct noa_yaml_node *k = m->pairs[i].key;
        if (k->len == klen && memcmp(k->str, key, klen) == 0)
            return m->pairs[i].value;
    }
    return NULL;
}

const struct noa_yaml_node *noa_yaml_path(const struct noa_yaml_node *root, const char *path)
{
    char seg[256];
    const struct noa_yaml_node *n = root;
    while (n && *path) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        if (len >= sizeof(seg))
            return NULL;
        memcpy(seg, path, len);
        seg[len] = '\0';
        n = noa_yaml_get(n, seg);
        path += len + (dot ? 1 : 0);
    }
    return n;
}

static int tag_is(const struct noa_yaml_node *n, const char *short_name)
{
    return n->tag && strncmp(n->tag, TAG_PREFIX, sizeof(TAG_PREFIX) - 1) == 0 &&
           strcmp(n->tag + sizeof(TAG_PREFIX) - 1, short_name) == 0;
}

/* Plain, untagged scalars are resolved; a tag decides for tagged ones. */
static int resolvable(const struct noa_yaml_node *n, const char *tag)
{
    if (!n || n->kind != NOA_YAML_SCALAR)
        return 0;
    if (n->tag)
        return tag_is(n, tag);
    return n->style == NOA_YAML_PLAIN;
}

static int str_in(const char *s, size_t len, const char *const *list)
{
    for (; *list; list++)
        if (strlen(*list) == len && memcmp(*list, s, len) == 0)
            return 1;
    return 0;
}

int noa_yaml_is_null(const struct noa_yaml_node *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    if (!n)
        return 1;
    if (n->kind != NOA_YAML_SCALAR)
        return 0;
    if (n->tag)
        return tag_is(n, "null");
    return n->style == NOA_YAML_PLAIN && str_in(n->str, n->len, nulls);
}

int noa_yaml_bool(const struct noa_yaml_node *n, int *out)
{
    static const char *const yes[] = {"y", "Y", "yes", "Yes", "YES", "on", "On", "ON",
                                      "true", "True", "TRUE", NULL};
    static const char *const no[] = {"n", "N", "no", "No", "NO", "off", "Off", "OFF",
                                     "false", "False", "FALSE", NULL};
    if (!resolvable(n, "bool"))
        return NOA_EINVAL;
    if (str_in(n->str, n->len, yes)) {
        *out = 1;
        return 0;
    }
    if (str_in(n->str, n->len, no)) {
        *out = 0;
        return 0;
    }
    return NOA_EINVAL;
}

/* Copies s without '_' separators into buf; 0 on overflow or embedded NUL. */
static int strip_underscores(const char *s, size_t len, char *buf, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '_')
            continue;
        if (s[i] == '\0' || o + 1 >= cap)
            return 0;
        buf[o++] = s[i];
    }
    buf[o] = '\0';
    return o > 0;
}

static int parse_int_text(const char *s, int64_t *out)
{
    int neg = 0;
    const char *p = s;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    int base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    } else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) {
        base = 8;
        p += 2;
    } else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
        base = 2;
        p += 2;
    } else if (p[0] == '0' && p[1]) {
        base = 8; /* YAML 1.1 and Go: a leading 0 means octal */
        p += 1;
    }
    if (!*p)
        return NOA_EINVAL;
    uint64_t v = 0;
    for (; *p; p++) {
        int d;
        if (*p >= '0' && *p <= '9')
            d = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            d = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F')
            d = *p - 'A' + 10;
        else
            return NOA_EINVAL;
        if (d >= base || v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            return NOA_EINVAL;
        v = v * (uint64_t)base + (uint64_t)d;
    }
    if (v > (uint64_t)INT64_MAX + (uint64_t)neg)
        return NOA_EINVAL;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static int parse_float_text(const char *s, double *out)
{
    static const char *const inf[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL};
    static const char *const ninf[] = {"-.inf", "-.Inf", "-.INF", NULL};
    static const char *const nan_[] = {".nan", ".NaN", ".NAN", NULL};
    size_t len = strlen(s);
    if (str_in(s, len, inf)) {
        *out = INFINITY;
        return 0;
    }
    if (str_in(s, len, ninf)) {
        *out = -INFINITY;
        return 0;
    }
    if (str_in(s, len, nan_)) {
        *out = NAN;
        return 0;
    }
    /* Only decimal forms: strtod alone would also take hex floats, "inf"
     * and "nan", which YAML reads as strings. */
    if (strspn(s, "0123456789+-.eE") != len)
        return NOA_EINVAL;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE)
        return NOA_EINVAL;
    *out = v;
    return 0;
}

int noa_yaml_int64(const struct noa_yaml_node *n, int64_t *out)
{
    char buf[128];
    if (!resolvable(n, "int") && !resolvable(n, "float"))
        return NOA_EINVAL;
    if (!strip_underscores(n->str, n->len, buf, sizeof(buf)))
        return NOA_EINVAL;
    if (parse_int_text(buf, out) == 0)
        return 0;
    double d;
    /* yaml.v2 stores an integral float into an int field. */
    if (parse_float_text(buf, &d) == 0 && isfinite(d) && d == floor(d) && d >= -9.2e18 &&
        d <= 9.2e18) {
        *out = (int64_t)d;
        return 0;
    }
    return NOA_EINVAL;
}

int noa_yaml_double(const struct noa_yaml_node *n, double *out)
{
    char buf[128];
    int64_t i;
    if (!resolvable(n, "float") && !resolvable(n, "int"))
        return NOA_EINVAL;
    if (!strip_underscores(n->str, n->len, buf, sizeof(buf)))
        return NOA_EINVAL;
    if (parse_int_text(buf, &i) == 0) {
        *out = (double)i;
        return 0;
    }
    return parse_float_text(buf, out);
}

const char *noa_yaml_type_name(const struct noa_yaml_node *n)
{
    int b;
    int64_t i;
    double d;
    if (!n)
        return "!!null";
    if (n->kind == NOA_YAML_MAP)
        return "!!map";
    if (n->kind == NOA_YAML_SEQ)
        return "!!seq";
    if (n->tag) {
        static const char *const known[] = {"str", "int", "float", "bool", "null", "binary",
                                            "timestamp", NULL};
        static const char *const names[] = {"!!str", "!!int", "!!float", "!!bool", "!!null",
                                            "!!binary", "!!timestamp"};
        for (int k = 0; known[k]; k++)
            if (tag_is(n, known[k]))
                return names[k];
        return n->tag;
    }
    if (n->style != NOA_YAML_PLAIN)
        return "!!str";
    if (noa_yaml_is_null(n))
        return "!!null";
    if (noa_yaml_bool(n, &b) == 0)
        return "!!bool";
    char buf[128];
    if (strip_underscores(n->str, n->len, buf, sizeof(buf)) && parse_int_text(buf, &i) == 0)
        return "!!int";
    if (noa_yaml_double(n, &d) == 0)
        return "!!float";
    return "!!str";
}
