/*
 * The label action stages: labels, static_labels, structured_metadata,
 * labelallow, labeldrop and tenant, with Promtail's validation and
 * run-time rules (logentry/stages/{labels,static_labels,structuredmetadata,
 * labelallow,labeldrop,tenant}.go).
 *
 * Each stage owns its configuration in one arena; processing only edits
 * the entry's kvlists (no allocation once the entry is warm). A compiled
 * stage belongs to the reader thread that runs its pipeline.
 */
#include "common/labels.h"
#include "common/mem.h"
#include "shipper/stage.h"
#include "shipper/stages_int.h"

#include <stddef.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------------- */

static const char *str_type(const struct noa_yaml_node *n)
{
    return noa_yaml_type_name(n);
}

/* A scalar YAML value as text (plain numbers and bools keep their text, as
 * mapstructure's weak decoding gives them); NULL for null. */
static int scalar_text(const struct noa_yaml_node *v, struct noa_str *out, struct noa_error *err)
{
    if (noa_yaml_is_null(v)) {
        *out = (struct noa_str){NULL, 0};
        return 0;
    }
    if (v->kind != NOA_YAML_SCALAR)
        return noa_yaml_error(err, v, "cannot unmarshal %s into string", str_type(v));
    if (memchr(v->str, '\0', v->len))
        return noa_yaml_error(err, v, "value contains a NUL byte");
    *out = (struct noa_str){v->str, v->len};
    return 0;
}

/* ---- labels, static_labels, structured_metadata --------------------------- */

enum map_kind { MAP_LABELS, MAP_STATIC, MAP_META };

struct map_pair {
    struct noa_str name;
    struct noa_str src; /* labels/meta: extracted key; static: the value (len 0: skip) */
};

struct map_stage {
    struct noa_stage base;
    enum map_kind kind;
    struct noa_arena arena;
    struct map_pair *pairs;
    size_t n;
};

static void map_free(struct noa_stage *st)
{
    struct map_stage *s = (struct map_stage *)st;
    if (!s)
        return;
    noa_arena_fini(&s->arena);
    noa_free(s);
}

/* Sets a label, or removes it for an empty value: Prometheus treats an
 * empty label as an absent one, so sending `{a=""}` would only make a
 * second spelling of the same stream. */
static void set_label(struct noa_entry *e, struct noa_str name, struct noa_str value)
{
    if (value.len == 0)
        noa_kvlist_del(&e->labels, name);
    else
        noa_kvlist_set(&e->labels, name, value);
}

static enum noa_stage_verdict map_process(struct noa_stage *st, struct noa_entry *e,
                                          struct noa_stage_emit *next, int64_t now_ns)
{
    (void)next;
    (void)now_ns;
    struct map_stage *s = (struct map_stage *)st;
    for (size_t i = 0; i < s->n; i++) {
        const struct map_pair *p = &s->pairs[i];
        struct noa_str v;
        switch (s->kind) {
        case MAP_STATIC:
            if (p->src.len == 0)
                continue;
            set_label(e, p->name, p->src);
            break;
        case MAP_LABELS:
            /* Invalid UTF-8 cannot be a label value: skipped, as Promtail does. */
            if (!noa_kvlist_get(&e->extracted, p->src, &v) || !noa_utf8_valid(v.p, v.len))
                continue;
            set_label(e, p->name, v);
            break;
        case MAP_META: {
            int from_label = 0;
            if (!noa_kvlist_get(&e->extracted, p->src, &v)) {
                if (!noa_kvlist_get(&e->labels, p->src, &v))
                    continue;
                from_label = 1;
            }
            if (!noa_utf8_valid(v.p, v.len))
                continue;
            /* Set the metadata before deleting the label v may point into,
             * then drop the label it came from (or a label of the same name
             * and value), so the value is not sent twice. */
            noa_kvlist_set(&e->meta, p->name, v);
            struct noa_str lv;
            if (from_label)
                noa_kvlist_del(&e->labels, p->src);
            else if (noa_kvlist_get(&e->labels, p->name, &lv) && noa_str_eq(lv, v))
                noa_kvlist_del(&e->labels, p->name);
            break;
        }
        }
    }
    return NOA_STAGE_PASS;
}

static const struct noa_stage_ops labels_ops = {
    .name = "labels", .process = map_process, .free = map_free};
static const struct noa_stage_ops static_ops = {
    .name = "static_labels", .process = map_process, .free = map_free};
static const struct noa_stage_ops meta_ops = {
    .name = "structured_metadata", .process = map_process, .free = map_free};

static int map_new(enum map_kind kind, const char *empty_msg, const struct noa_yaml_node *cfg,
                   struct noa_stage **out, struct noa_error *err)
{
    struct map_stage *s = noa_xcalloc(1, sizeof(*s));
    int rc = 0;
    *out = NULL;
    s->kind = kind;
    s->base.ops = kind == MAP_LABELS ? &labels_ops : kind == MAP_STATIC ? &static_ops : &meta_ops;
    if (noa_yaml_is_null(cfg)) {
        rc = noa_yaml_error(err, cfg, "%s", empty_msg);
        goto fail;
    }
    if (cfg->kind != NOA_YAML_MAP) {
        rc = noa_yaml_error(err, cfg, "cannot unmarshal %s into map[string]string", str_type(cfg));
        goto fail;
    }
    s->pairs = noa_arena_alloc(&s->arena, (cfg->n ? cfg->n : 1) * sizeof(*s->pairs));
    for (size_t i = 0; i < cfg->n; i++) {
        const struct noa_yaml_node *k = cfg->pairs[i].key, *v = cfg->pairs[i].value;
        struct noa_str name = {k->str, k->len}, src;
        if (!noa_label_name_valid(name)) {
            rc = noa_yaml_error(err, k, "invalid label name: %.*s",
                                (int)(k->len > 128 ? 128 : k->len), k->str);
            goto fail;
        }
        if ((rc = scalar_text(v, &src, err)) < 0)
            goto fail;
        /* labels / structured_metadata: an empty source means "the same name". */
        if (kind != MAP_STATIC && src.len == 0)
            src = name;
        s->pairs[s->n].name = noa_arena_str(&s->arena, name);
        s->pairs[s->n].src = noa_arena_str(&s->arena, src);
        s->n++;
    }
    *out = &s->base;
    return 0;
fail:
    map_free(&s->base);
    return rc;
}

NOA_STAGE_CTOR(labels)
{
    (void)ctx;
    return map_new(MAP_LABELS, "label stage config cannot be empty", cfg, out, err);
}

NOA_STAGE_CTOR(static_labels)
{
    (void)ctx;
    return map_new(MAP_STATIC, "static_labels stage config cannot be empty", cfg, out, err);
}

NOA_STAGE_CTOR(structured_metadata)
{
    (void)ctx;
    return map_new(MAP_META, "structured_metadata stage config cannot be empty", cfg, out, err);
}

/* ---- labelallow, labeldrop ----------------------------------------------------- */

struct list_stage {
    struct noa_stage base;
    struct noa_arena arena;
    struct noa_str *names;
    size_t n;
};

static void list_free(struct noa_stage *st)
{
    struct list_stage *s = (struct list_stage *)st;
    if (!s)
        return;
    noa_arena_fini(&s->arena);
    noa_free(s);
}

static int listed(const struct list_stage *s, struct noa_str name)
{
    for (size_t i = 0; i < s->n; i++)
        if (noa_str_eq(s->names[i], name))
            return 1;
    return 0;
}

static enum noa_stage_verdict allow_process(struct noa_stage *st, struct noa_entry *e,
                                            struct noa_stage_emit *next, int64_t now_ns)
{
    (void)next;
    (void)now_ns;
    struct list_stage *s = (struct list_stage *)st;
    /* Backwards, so deleting does not skip the pair that slides down. The
     * tenant is routing, not a stream label: it survives an allow list. */
    for (uint32_t i = e->labels.n; i-- > 0;) {
        struct noa_str name = noa_kvlist_name(&e->labels, i);
        if (!listed(s, name) && !noa_str_eq_c(name, NOA_ENTRY_TENANT_LABEL))
            noa_kvlist_del(&e->labels, name);
    }
    return NOA_STAGE_PASS;
}

static enum noa_stage_verdict drop_labels_process(struct noa_stage *st, struct noa_entry *e,
                                                  struct noa_stage_emit *next, int64_t now_ns)
{
    (void)next;
    (void)now_ns;
    struct list_stage *s = (struct list_stage *)st;
    for (size_t i = 0; i < s->n; i++)
        noa_kvlist_del(&e->labels, s->names[i]);
    return NOA_STAGE_PASS;
}

static const struct noa_stage_ops allow_ops = {
    .name = "labelallow", .process = allow_process, .free = list_free};
static const struct noa_stage_ops labeldrop_ops = {
    .name = "labeldrop", .process = drop_labels_process, .free = list_free};

static int list_new(const struct noa_stage_ops *ops, const struct noa_yaml_node *cfg,
                    struct noa_stage **out, struct noa_error *err)
{
    struct list_stage *s = noa_xcalloc(1, sizeof(*s));
    int rc = 0;
    *out = NULL;
    s->base.ops = ops;
    if (noa_yaml_is_null(cfg)) {
        rc = noa_yaml_error(err, cfg, "%s stage config cannot be empty", ops->name);
        goto fail;
    }
    if (cfg->kind != NOA_YAML_SEQ) {
        rc = noa_yaml_error(err, cfg, "cannot unmarshal %s into []string", str_type(cfg));
        goto fail;
    }
    s->names = noa_arena_alloc(&s->arena, (cfg->n ? cfg->n : 1) * sizeof(*s->names));
    for (size_t i = 0; i < cfg->n; i++) {
        struct noa_str name;
        if ((rc = scalar_text(cfg->items[i], &name, err)) < 0)
            goto fail;
        s->names[s->n++] = noa_arena_str(&s->arena, name);
    }
    *out = &s->base;
    return 0;
fail:
    list_free(&s->base);
    return rc;
}

NOA_STAGE_CTOR(labelallow)
{
    (void)ctx;
    return list_new(&allow_ops, cfg, out, err);
}

NOA_STAGE_CTOR(labeldrop)
{
    (void)ctx;
    return list_new(&labeldrop_ops, cfg, out, err);
}

/* ---- tenant ------------------------------------------------------------------------ */

struct tenant_stage {
    struct noa_stage base;
    char *label;
    char *source;
    char *value;
};

static void tenant_free(struct noa_stage *st)
{
    struct tenant_stage *s = (struct tenant_stage *)st;
    if (!s)
        return;
    noa_free(s->label);
    noa_free(s->source);
    noa_free(s->value);
    noa_free(s);
}

static enum noa_stage_verdict tenant_process(struct noa_stage *st, struct noa_entry *e,
                                             struct noa_stage_emit *next, int64_t now_ns)
{
    (void)next;
    (void)now_ns;
    struct tenant_stage *s = (struct tenant_stage *)st;
    struct noa_str id = {NULL, 0};
    if (s->label)
        noa_kvlist_get(&e->labels, noa_str_c(s->label), &id);
    else if (s->source)
        noa_kvlist_get(&e->extracted, noa_str_c(s->source), &id);
    else
        id = noa_str_c(s->value);
    /* An empty or missing tenant leaves the entry with the client's. */
    if (id.len)
        noa_kvlist_set(&e->labels, NOA_STR(NOA_ENTRY_TENANT_LABEL), id);
    return NOA_STAGE_PASS;
}

static const struct noa_stage_ops tenant_ops = {
    .name = "tenant", .process = tenant_process, .free = tenant_free};

#define TENANT_FIELD(key, field, what)                                                             \
    {                                                                                              \
        key, NOA_CONFIG_STRING, NULL, offsetof(struct tenant_stage, field), NULL, what, 0, NULL,   \
            NULL                                                                                   \
    }

static const struct noa_config_entry tenant_entries[] = {
    TENANT_FIELD("label", label, "Label whose value names the tenant."),
    TENANT_FIELD("source", source, "Extracted key whose value names the tenant."),
    TENANT_FIELD("value", value, "Fixed tenant."),
};

static const struct noa_config_table tenant_table = {
    "stages.TenantConfig", tenant_entries, sizeof(tenant_entries) / sizeof(tenant_entries[0])};

NOA_STAGE_CTOR(tenant)
{
    (void)ctx;
    struct tenant_stage *s = noa_xcalloc(1, sizeof(*s));
    int rc = 0;
    *out = NULL;
    s->base.ops = &tenant_ops;
    if ((rc = noa__stages_config(&tenant_table, s, cfg, err)) < 0)
        goto fail;
    /* Empty strings count as unset, as Promtail's string fields do. */
    char **f[3] = {&s->label, &s->source, &s->value};
    int set = 0;
    for (int i = 0; i < 3; i++) {
        if (*f[i] && !**f[i]) {
            noa_free(*f[i]);
            *f[i] = NULL;
        }
        set += *f[i] != NULL;
    }
    if (set == 0) {
        rc = noa_yaml_error(err, cfg, "label, source or value config are required");
        goto fail;
    }
    if (set > 1) {
        rc = noa_yaml_error(err, cfg,
                            "label, source and value are mutually exclusive: you should set "
                            "source, value or label but not all");
        goto fail;
    }
    *out = &s->base;
    return 0;
fail:
    tenant_free(&s->base);
    return rc;
}
