/*
 * The `metrics` stage (logentry/stages/metrics.go,
 * logentry/metric/{counters,gauges,histograms}.go): counters, gauges and histograms defined in the
 * pipeline, updated from extracted values, one series per label set of the entries, served on
 * /metrics through a collector of common/metrics.h (the series' label
 * names vary, which fixed-label families cannot express).
 *
 * Each reader thread compiles its own copy of a pipeline, so the series
 * live in a "vec" shared by every stage that defines the same metric name
 * in the same registry (found in a process-wide list, reference counted);
 * the last stage to go unregisters it, so a reload starts the metric
 * afresh as Promtail's does. Series idle for max_idle_duration are removed
 * at scrape time, after being written one last time (Promtail's order).
 *
 * THREAD SAFETY: vecs_lock guards the vec list and reference counts;
 * vec->lock guards a vec's series (taken by stages on reader threads and by
 * the scrape). Lock order: vecs_lock, then the registry lock (inside
 * noa_metrics_*), then vec->lock. The stage itself belongs to its reader
 * thread.
 */
#include "common/clock.h"
#include "common/labels.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "shipper/stage.h"
#include "shipper/stages_int.h"

#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_SERIES 100000 /* per metric: a label flood must not exhaust memory */

struct series {
    struct series *hnext;
    uint64_t hash;
    int64_t last_mod_sec;
    double value;      /* counter/gauge value; histogram sum */
    uint64_t *buckets; /* histogram: n_bounds + 1 non-cumulative counts */
    size_t key_len;
    char key[]; /* the label pairs as exposed: a="b",c="d" */
};

struct vec {
    struct vec *next; /* in the shared list (vecs_lock) */
    struct noa_metrics *reg;
    char *name;
    char *help;
    enum noa_metric_type type;
    double *bounds;
    int n_bounds;
    int64_t max_idle_sec;
    int64_t (*now_ns)(void);
    int refs; /* vecs_lock */
    pthread_mutex_t lock;
    struct series **table; /* chained, cap a power of two */
    size_t cap, n;
    int warned;
};

static pthread_mutex_t vecs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vec *vecs;

static int64_t vec_now_sec(const struct vec *v)
{
    return (v->now_ns ? v->now_ns() : noa_clock_real_ns()) / 1000000000;
}

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static void vec_free(struct vec *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->cap; i++) {
        struct series *s = v->table[i];
        while (s) {
            struct series *nx = s->hnext;
            noa_free(s);
            s = nx;
        }
    }
    noa_free(v->table);
    noa_free(v->bounds);
    noa_free(v->name);
    noa_free(v->help);
    pthread_mutex_destroy(&v->lock);
    noa_free(v);
}

/* The series of key (created at zero), or NULL past MAX_SERIES. Called
 * with v->lock held. */
static struct series *vec_series(struct vec *v, const char *key, size_t len)
{
    uint64_t h = fnv1a(key, len);
    for (struct series *s = v->table[h & (v->cap - 1)]; s; s = s->hnext)
        if (s->hash == h && s->key_len == len && memcmp(s->key, key, len) == 0)
            return s;
    if (v->n >= MAX_SERIES) {
        if (!v->warned) {
            v->warned = 1;
            noa_log(NOA_LOG_WARN, "stage",
                    "msg=\"too many series, further ones are not counted\" metric=%s limit=%d",
                    v->name, MAX_SERIES);
        }
        return NULL;
    }
    if (v->n >= v->cap) {
        size_t ncap = v->cap * 2;
        struct series **nt = noa_xcalloc(ncap, sizeof(*nt));
        for (size_t i = 0; i < v->cap; i++) {
            struct series *s = v->table[i];
            while (s) {
                struct series *nx = s->hnext;
                s->hnext = nt[s->hash & (ncap - 1)];
                nt[s->hash & (ncap - 1)] = s;
                s = nx;
            }
        }
        noa_free(v->table);
        v->table = nt;
        v->cap = ncap;
    }
    size_t nb = v->type == NOA_METRIC_HISTOGRAM ? (size_t)v->n_bounds + 1 : 0;
    size_t off = (sizeof(struct series) + len + 1 + 7) & ~(size_t)7;
    struct series *s = noa_xcalloc(1, off + nb * sizeof(uint64_t));
    s->hash = h;
    s->key_len = len;
    memcpy(s->key, key, len);
    s->key[len] = 0;
    s->buckets = nb ? (uint64_t *)((char *)s + off) : NULL;
    s->hnext = v->table[h & (v->cap - 1)];
    v->table[h & (v->cap - 1)] = s;
    v->n++;
    return s;
}

static int series_cmp(const void *a, const void *b)
{
    const struct series *x = *(const struct series *const *)a;
    const struct series *y = *(const struct series *const *)b;
    return strcmp(x->key, y->key);
}

static void put_sample(struct noa_buf *out, const struct vec *v, const char *suffix,
                       const struct series *s, const char *le, double val)
{
    noa_buf_printf(out, "%s%s", v->name, suffix);
    if (s->key_len || le) {
        noa_buf_putc(out, '{');
        noa_buf_append(out, s->key, s->key_len);
        if (le)
            noa_buf_printf(out, "%sle=\"%s\"", s->key_len ? "," : "", le);
        noa_buf_putc(out, '}');
    }
    noa_buf_putc(out, ' ');
    noa_metrics_format_double(out, val);
    noa_buf_putc(out, '\n');
}

/* The collector: writes every series sorted by labels, then forgets the
 * idle ones. Runs under the registry lock. */
static void vec_collect(void *ctx, struct noa_buf *out)
{
    struct vec *v = ctx;
    pthread_mutex_lock(&v->lock);
    struct series **all = v->n ? noa_xmalloc(v->n * sizeof(*all)) : NULL;
    size_t n = 0;
    for (size_t i = 0; i < v->cap; i++)
        for (struct series *s = v->table[i]; s; s = s->hnext)
            all[n++] = s;
    if (n > 1)
        qsort(all, n, sizeof(*all), series_cmp);
    struct noa_buf le = {0};
    for (size_t i = 0; i < n; i++) {
        const struct series *s = all[i];
        if (v->type != NOA_METRIC_HISTOGRAM) {
            put_sample(out, v, "", s, NULL, s->value);
            continue;
        }
        uint64_t cum = 0;
        for (int b = 0; b <= v->n_bounds; b++) {
            cum += s->buckets[b];
            noa_buf_reset(&le);
            if (b < v->n_bounds)
                noa_metrics_format_double(&le, v->bounds[b]);
            else
                noa_buf_append(&le, "+Inf", 4);
            put_sample(out, v, "_bucket", s, noa_buf_cstr(&le), (double)cum);
        }
        put_sample(out, v, "_sum", s, NULL, s->value);
        put_sample(out, v, "_count", s, NULL, (double)cum);
    }
    noa_buf_fini(&le);
    noa_free(all);
    /* Promtail's prune: series untouched for max_idle_duration go. */
    int64_t now = vec_now_sec(v);
    for (size_t i = 0; i < v->cap; i++) {
        struct series **pp = &v->table[i];
        while (*pp) {
            struct series *s = *pp;
            if (now - s->last_mod_sec >= v->max_idle_sec) {
                *pp = s->hnext;
                noa_free(s);
                v->n--;
            } else {
                pp = &s->hnext;
            }
        }
    }
    pthread_mutex_unlock(&v->lock);
}

static void vec_release(struct vec *v)
{
    if (!v)
        return;
    int last;
    pthread_mutex_lock(&vecs_lock);
    last = --v->refs == 0;
    if (last && v->reg) {
        for (struct vec **pp = &vecs; *pp; pp = &(*pp)->next) {
            if (*pp == v) {
                *pp = v->next;
                break;
            }
        }
        noa_metrics_collector_remove(v->reg, v->name, v);
    }
    pthread_mutex_unlock(&vecs_lock);
    if (last)
        vec_free(v);
}

static int same_bounds(const struct vec *v, const double *b, int n)
{
    if (v->n_bounds != n)
        return 0;
    for (int i = 0; i < n; i++)
        if (v->bounds[i] != b[i])
            return 0;
    return 1;
}

/* Finds or creates the vec of name in reg (NULL: a private one). Returns
 * NULL when the name is taken by a metric of another shape. */
static struct vec *vec_acquire(struct noa_metrics *reg, const char *name, const char *help,
                               enum noa_metric_type type, const double *bounds, int n_bounds,
                               int64_t max_idle_sec, int64_t (*now_ns)(void))
{
    struct vec *v = NULL;
    pthread_mutex_lock(&vecs_lock);
    if (reg) {
        for (v = vecs; v; v = v->next) {
            if (v->reg != reg || strcmp(v->name, name) != 0)
                continue;
            if (v->type != type || !same_bounds(v, bounds, n_bounds)) {
                v = NULL;
                goto out;
            }
            v->refs++;
            goto out;
        }
    }
    v = noa_xcalloc(1, sizeof(*v));
    v->reg = reg;
    v->name = noa_xstrdup(name);
    v->help = noa_xstrdup(help);
    v->type = type;
    v->n_bounds = n_bounds;
    if (n_bounds) {
        v->bounds = noa_xmalloc((size_t)n_bounds * sizeof(double));
        memcpy(v->bounds, bounds, (size_t)n_bounds * sizeof(double));
    }
    v->max_idle_sec = max_idle_sec;
    v->now_ns = now_ns;
    v->refs = 1;
    v->cap = 16;
    v->table = noa_xcalloc(v->cap, sizeof(*v->table));
    pthread_mutex_init(&v->lock, NULL);
    if (reg) {
        if (noa_metrics_collector(reg, name, help, type, vec_collect, v) != 0) {
            vec_free(v);
            v = NULL;
            goto out;
        }
        v->next = vecs;
        vecs = v;
    }
out:
    pthread_mutex_unlock(&vecs_lock);
    return v;
}

/* ---- values ---------------------------------------------------------------------- */

/* Go's time.ParseDuration, in seconds. 0 or -1. */
static int parse_go_duration(const char *s, double *out)
{
    static const struct {
        const char *u;
        double sec;
    } units[] = {{"ns", 1e-9}, {"us", 1e-6}, {"\xc2\xb5s", 1e-6}, {"\xce\xbcs", 1e-6},
                 {"ms", 1e-3}, {"s", 1},     {"m", 60},           {"h", 3600}};
    int neg = 0;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    if (!*s)
        return -1;
    double total = 0;
    while (*s) {
        const char *start = s;
        double v = 0, scale = 1;
        while (*s >= '0' && *s <= '9')
            v = v * 10 + (*s++ - '0');
        int pre = s > start;
        int post = 0;
        if (*s == '.') {
            s++;
            while (*s >= '0' && *s <= '9') {
                scale /= 10;
                v += (*s++ - '0') * scale;
                post = 1;
            }
        }
        if (!pre && !post)
            return -1;
        size_t best = 0;
        double mult = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t l = strlen(units[i].u);
            if (strncmp(s, units[i].u, l) == 0 && l > best) {
                best = l;
                mult = units[i].sec;
            }
        }
        if (!best)
            return -1;
        s += best;
        total += v * mult;
    }
    *out = neg ? -total : total;
    return 0;
}

/* Promtail's getFloat on a text value: a float (Go's ParseFloat), else a
 * Go duration in seconds; "true"/"false" (JSON booleans kept as text) are
 * 1 and 0. */
static int get_float(struct noa_str v, double *out)
{
    char tmp[64];
    if (v.len == 0 || v.len >= sizeof(tmp))
        return -1;
    memcpy(tmp, v.p, v.len);
    tmp[v.len] = 0;
    if (strcmp(tmp, "true") == 0 || strcmp(tmp, "false") == 0) {
        *out = tmp[0] == 't';
        return 0;
    }
    if (tmp[0] != ' ' && tmp[0] != '\t' && tmp[0] != '\n' && !strchr(tmp, '(')) {
        char *end;
        double d = strtod(tmp, &end);
        if (end != tmp && *end == 0) {
            *out = d;
            return 0;
        }
    }
    return parse_go_duration(tmp, out);
}

/* ---- the stage -------------------------------------------------------------------- */

enum action { ACT_INC, ACT_ADD, ACT_SET, ACT_DEC, ACT_SUB, ACT_OBSERVE };

struct item {
    struct vec *vec;
    char *source;
    char *value; /* exact-match filter, NULL for none */
    enum action action;
    int match_all;
    int count_bytes;
};

struct metrics_stage {
    struct noa_stage base;
    struct item *items;
    size_t n;
    int64_t (*now_ns)(void);
    struct noa_buf key; /* scratch: the entry's labels as exposed */
};

/* The entry's labels in exposition form (sorted; names starting with "__",
 * such as the tenant, are not valid Prometheus labels and are left out). */
static void labels_key(struct metrics_stage *s, struct noa_entry *e)
{
    struct noa_labels ls;
    noa_kvlist_labels(&e->labels, &ls);
    noa_buf_reset(&s->key);
    int first = 1;
    for (size_t i = 0; i < ls.n; i++) {
        struct noa_str n = ls.v[i].name, v = ls.v[i].value;
        if (n.len >= 2 && n.p[0] == '_' && n.p[1] == '_')
            continue;
        if (!first)
            noa_buf_putc(&s->key, ',');
        first = 0;
        noa_buf_append(&s->key, n.p, n.len);
        noa_buf_append(&s->key, "=\"", 2);
        for (size_t k = 0; k < v.len;) {
            unsigned char c = (unsigned char)v.p[k];
            if (c >= 0x80) {
                uint32_t cp;
                size_t w = noa_utf8_decode((const unsigned char *)v.p + k, v.len - k, &cp);
                if (w == 0) {
                    noa_buf_append(&s->key, "\xef\xbf\xbd", 3);
                    k++;
                } else {
                    noa_buf_append(&s->key, v.p + k, w);
                    k += w;
                }
                continue;
            }
            if (c == '\\')
                noa_buf_append(&s->key, "\\\\", 2);
            else if (c == '"')
                noa_buf_append(&s->key, "\\\"", 2);
            else if (c == '\n')
                noa_buf_append(&s->key, "\\n", 2);
            else
                noa_buf_putc(&s->key, (char)c);
            k++;
        }
        noa_buf_putc(&s->key, '"');
    }
}

static void update(struct metrics_stage *s, const struct item *it, int *have_key,
                   struct noa_entry *e, double f, int64_t now_ns)
{
    if (!*have_key) {
        labels_key(s, e);
        *have_key = 1;
    }
    struct vec *v = it->vec;
    pthread_mutex_lock(&v->lock);
    struct series *x = vec_series(v, s->key.data ? s->key.data : "", s->key.len);
    if (x) {
        x->last_mod_sec = now_ns / 1000000000;
        switch (it->action) {
        case ACT_INC:
            x->value += 1;
            break;
        case ACT_DEC:
            x->value -= 1;
            break;
        case ACT_ADD:
            /* A Prometheus counter cannot go down: negative adds are ignored. */
            if (v->type != NOA_METRIC_COUNTER || f >= 0)
                x->value += f;
            break;
        case ACT_SUB:
            x->value -= f;
            break;
        case ACT_SET:
            x->value = f;
            break;
        case ACT_OBSERVE: {
            int b = 0;
            while (b < v->n_bounds && !(f <= v->bounds[b]))
                b++;
            x->buckets[b]++;
            x->value += f;
            break;
        }
        }
    }
    pthread_mutex_unlock(&v->lock);
}

static enum noa_stage_verdict metrics_process(struct noa_stage *st, struct noa_entry *e,
                                              struct noa_stage_emit *next, int64_t now_ns)
{
    (void)next;
    struct metrics_stage *s = (struct metrics_stage *)st;
    int have_key = 0;
    for (size_t i = 0; i < s->n; i++) {
        const struct item *it = &s->items[i];
        /* Counters with match_all count every entry, source or not. */
        if (it->match_all) {
            update(s, it, &have_key, e, it->count_bytes ? (double)e->line.len : 1, now_ns);
            continue;
        }
        struct noa_str v;
        if (!noa_kvlist_get(&e->extracted, noa_str_c(it->source), &v))
            continue;
        if (it->value && !noa_str_eq_c(v, it->value))
            continue;
        double f = 0;
        int needs_value = it->action != ACT_INC && it->action != ACT_DEC;
        if (needs_value && get_float(v, &f) != 0)
            continue;
        update(s, it, &have_key, e, f, now_ns);
    }
    return NOA_STAGE_PASS;
}

static void metrics_free(struct noa_stage *st)
{
    struct metrics_stage *s = (struct metrics_stage *)st;
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        vec_release(s->items[i].vec);
        noa_free(s->items[i].source);
        noa_free(s->items[i].value);
    }
    noa_free(s->items);
    noa_buf_fini(&s->key);
    noa_free(s);
}

static const struct noa_stage_ops metrics_ops = {
    .name = "metrics", .process = metrics_process, .free = metrics_free};

/* ---- configuration ----------------------------------------------------------------- */

struct metric_cfg {
    char *type;
    char *description;
    char *source;
    char *prefix;
    char *max_idle;
};

static const struct noa_config_entry metric_entries[] = {
    {"type", NOA_CONFIG_STRING, NULL, offsetof(struct metric_cfg, type), NULL,
     "Counter, Gauge or Histogram.", 0, NULL, NULL},
    {"description", NOA_CONFIG_STRING, NULL, offsetof(struct metric_cfg, description), NULL,
     "Help text.", 0, NULL, NULL},
    {"source", NOA_CONFIG_STRING, NULL, offsetof(struct metric_cfg, source), NULL,
     "Extracted key (default: the metric's name).", 0, NULL, NULL},
    {"prefix", NOA_CONFIG_STRING, NULL, offsetof(struct metric_cfg, prefix), NULL,
     "Name prefix (default promtail_custom_).", 0, NULL, NULL},
    {"max_idle_duration", NOA_CONFIG_STRING, NULL, offsetof(struct metric_cfg, max_idle), NULL,
     "Series idle this long are removed (default 5m, at least 1s).", 0, NULL, NULL},
    {"config", NOA_CONFIG_RAW, NULL, 0, NULL, "Type-specific options.", 0, NULL, NULL},
};

static const struct noa_config_table metric_table = {
    "stages.MetricConfig", metric_entries, sizeof(metric_entries) / sizeof(metric_entries[0])};

struct inner_cfg {
    char *value;
    char *action;
    int match_all;
    int count_bytes;
};

static const struct noa_config_entry counter_entries[] = {
    {"value", NOA_CONFIG_STRING, NULL, offsetof(struct inner_cfg, value), NULL,
     "Only entries whose source has this value count.", 0, NULL, NULL},
    {"action", NOA_CONFIG_STRING, NULL, offsetof(struct inner_cfg, action), NULL, "inc or add.", 0,
     NULL, NULL},
    {"match_all", NOA_CONFIG_BOOL, "false", offsetof(struct inner_cfg, match_all), NULL,
     "Count every entry.", 0, NULL, NULL},
    {"count_entry_bytes", NOA_CONFIG_BOOL, "false", offsetof(struct inner_cfg, count_bytes), NULL,
     "With match_all and add: count the line's bytes.", 0, NULL, NULL},
};
static const struct noa_config_entry gauge_entries[] = {
    {"value", NOA_CONFIG_STRING, NULL, offsetof(struct inner_cfg, value), NULL,
     "Only entries whose source has this value count.", 0, NULL, NULL},
    {"action", NOA_CONFIG_STRING, NULL, offsetof(struct inner_cfg, action), NULL,
     "set, inc, dec, add or sub.", 0, NULL, NULL},
};
static const struct noa_config_entry histogram_entries[] = {
    {"value", NOA_CONFIG_STRING, NULL, offsetof(struct inner_cfg, value), NULL,
     "Only entries whose source has this value count.", 0, NULL, NULL},
    {"buckets", NOA_CONFIG_RAW, NULL, 0, NULL, "Bucket upper bounds.", 0, NULL, NULL},
};
static const struct noa_config_table inner_tables[3] = {
    {"metric.CounterConfig", counter_entries, sizeof(counter_entries) / sizeof(counter_entries[0])},
    {"metric.GaugeConfig", gauge_entries, sizeof(gauge_entries) / sizeof(gauge_entries[0])},
    {"metric.HistogramConfig", histogram_entries,
     sizeof(histogram_entries) / sizeof(histogram_entries[0])},
};

static int valid_metric_name(const char *s)
{
    if (!*s)
        return 0;
    for (const char *p = s; *p; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == ':' ||
                 (p > s && *p >= '0' && *p <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

static int parse_buckets(const struct noa_yaml_node *n, double *out, int *count,
                         struct noa_error *err)
{
    *count = 0;
    if (noa_yaml_is_null(n))
        return 0;
    if (n->kind != NOA_YAML_SEQ)
        return noa_yaml_error(err, n, "cannot unmarshal %s into []float64", noa_yaml_type_name(n));
    if (n->n > NOA_METRICS_MAX_BUCKETS)
        return noa_yaml_error(err, n, "too many buckets (at most %d)", NOA_METRICS_MAX_BUCKETS);
    for (size_t i = 0; i < n->n; i++) {
        if (noa_yaml_double(n->items[i], &out[i]) != 0 || isnan(out[i]))
            return noa_yaml_error(err, n->items[i], "cannot unmarshal %s into float64",
                                  noa_yaml_type_name(n->items[i]));
        if (i > 0 && !(out[i] > out[i - 1]))
            return noa_yaml_error(err, n->items[i],
                                  "histogram buckets must be in increasing order");
    }
    /* A trailing +Inf is implied; Prometheus drops an explicit one. */
    *count = (int)n->n;
    if (*count && isinf(out[*count - 1]) && out[*count - 1] > 0)
        (*count)--;
    return 0;
}

/* Parses one metric (name: {...}) into it. */
static int item_new(struct metrics_stage *s, const struct noa_yaml_node *key,
                    const struct noa_yaml_node *m, const struct noa_stage_ctx *ctx, struct item *it,
                    struct noa_error *err)
{
    struct metric_cfg mc = {0};
    struct inner_cfg ic = {0};
    struct noa_buf full = {0};
    const struct noa_config_table *inner = NULL;
    double bounds[NOA_METRICS_MAX_BUCKETS];
    int n_bounds = 0;
    enum noa_metric_type type;
    int rc = 0;
    if ((rc = noa__stages_config(&metric_table, &mc, m, err)) < 0)
        goto out;
    if (!mc.type) {
        rc = noa_yaml_error(err, m,
                            "invalid metric type '', metric type must be one of "
                            "'counter', 'gauge', or 'histogram'");
        goto out;
    }
    if (strcasecmp(mc.type, "counter") == 0)
        type = NOA_METRIC_COUNTER;
    else if (strcasecmp(mc.type, "gauge") == 0)
        type = NOA_METRIC_GAUGE;
    else if (strcasecmp(mc.type, "histogram") == 0)
        type = NOA_METRIC_HISTOGRAM;
    else {
        char lower[64];
        size_t l = 0;
        for (; mc.type[l] && l + 1 < sizeof(lower); l++)
            lower[l] =
                (char)((mc.type[l] >= 'A' && mc.type[l] <= 'Z') ? mc.type[l] + 32 : mc.type[l]);
        lower[l] = 0;
        rc = noa_yaml_error(err, noa_yaml_get(m, "type") ? noa_yaml_get(m, "type") : m,
                            "invalid metric type '%s', metric type must be one of 'counter', "
                            "'gauge', or 'histogram'",
                            lower);
        goto out;
    }
    int64_t idle = 300;
    if (noa_yaml_get(m, "max_idle_duration")) {
        double d;
        if (parse_go_duration(mc.max_idle, &d) != 0) {
            rc = noa_yaml_error(err, noa_yaml_get(m, "max_idle_duration"),
                                "max_idle_duration could not be parsed as a time.Duration: '%s'",
                                mc.max_idle);
            goto out;
        }
        if (d < 1) {
            rc = noa_yaml_error(err, noa_yaml_get(m, "max_idle_duration"),
                                "max_idle_duration less than 1s not allowed");
            goto out;
        }
        idle = (int64_t)d;
    }
    const struct noa_yaml_node *c = noa_yaml_get(m, "config");
    inner = &inner_tables[type];
    if ((rc = noa__stages_config(inner, &ic, c, err)) < 0)
        goto out;
    const struct noa_yaml_node *where = c ? c : m;
    if (!noa_yaml_get(c, "value")) {
        noa_free(ic.value);
        ic.value = NULL;
    }
    for (char *p = ic.action; p && *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    static const char *const gauge_actions[] = {"set", "inc", "dec", "add", "sub"};
    static const enum action gauge_acts[] = {ACT_SET, ACT_INC, ACT_DEC, ACT_ADD, ACT_SUB};
    switch (type) {
    case NOA_METRIC_COUNTER:
        if (!ic.action || !*ic.action) {
            rc = noa_yaml_error(err, where,
                                "counter action must be defined as either `inc` or `add`");
            goto out;
        }
        if (strcmp(ic.action, "inc") != 0 && strcmp(ic.action, "add") != 0) {
            rc = noa_yaml_error(err, where,
                                "action %s is not valid, action must be either `inc` or `add`",
                                ic.action);
            goto out;
        }
        if (ic.match_all && ic.value) {
            rc = noa_yaml_error(err, where,
                                "`match_all: true` cannot be combined with `value`, please remove "
                                "`match_all` or `value`");
            goto out;
        }
        if (ic.count_bytes && !ic.match_all) {
            rc = noa_yaml_error(err, where,
                                "`count_entry_bytes: true` can only be set with `match_all: true`");
            goto out;
        }
        if (ic.count_bytes && strcmp(ic.action, "add") != 0) {
            rc = noa_yaml_error(err, where,
                                "`count_entry_bytes: true` can only be used with `action: add`");
            goto out;
        }
        it->action = ic.action[0] == 'i' ? ACT_INC : ACT_ADD;
        it->match_all = ic.match_all;
        it->count_bytes = ic.count_bytes;
        break;
    case NOA_METRIC_GAUGE: {
        if (!ic.action || !*ic.action) {
            rc = noa_yaml_error(err, where,
                                "gauge action must be defined as `set`, `inc`, `dec`, `add`, or "
                                "`sub`");
            goto out;
        }
        int k = 0;
        while (k < 5 && strcmp(ic.action, gauge_actions[k]) != 0)
            k++;
        if (k == 5) {
            rc = noa_yaml_error(err, where,
                                "action %s is not valid, action must be `set`, `inc`, `dec`, "
                                "`add`, or `sub`",
                                ic.action);
            goto out;
        }
        it->action = gauge_acts[k];
        break;
    }
    case NOA_METRIC_HISTOGRAM:
        if ((rc = parse_buckets(noa_yaml_get(c, "buckets"), bounds, &n_bounds, err)) < 0)
            goto out;
        if (n_bounds == 0) {
            memcpy(bounds, noa_metrics_def_buckets, sizeof(noa_metrics_def_buckets));
            n_bounds = NOA_METRICS_DEF_BUCKETS_N;
        }
        it->action = ACT_OBSERVE;
        break;
    }
    noa_buf_printf(&full, "%s%.*s", mc.prefix && *mc.prefix ? mc.prefix : "promtail_custom_",
                   (int)key->len, key->str);
    if (!valid_metric_name(noa_buf_cstr(&full))) {
        rc = noa_yaml_error(err, key, "invalid metric name %s", noa_buf_cstr(&full));
        goto out;
    }
    it->source =
        noa_yaml_get(m, "source") ? noa_xstrdup(mc.source) : noa_xstrndup(key->str, key->len);
    it->value = ic.value;
    ic.value = NULL;
    it->vec = vec_acquire(ctx ? ctx->metrics : NULL, noa_buf_cstr(&full),
                          mc.description ? mc.description : "", type, bounds,
                          type == NOA_METRIC_HISTOGRAM ? n_bounds : 0, idle, s->now_ns);
    if (!it->vec) {
        rc = noa_yaml_error(err, key, "metric %s is already defined with another type or buckets",
                            noa_buf_cstr(&full));
        goto out;
    }
out:
    noa_config_fini(&metric_table, &mc);
    if (inner)
        noa_config_fini(inner, &ic);
    noa_buf_fini(&full);
    return rc;
}

NOA_STAGE_CTOR(metrics)
{
    struct metrics_stage *s = noa_xcalloc(1, sizeof(*s));
    int rc = 0;
    *out = NULL;
    s->base.ops = &metrics_ops;
    s->now_ns = ctx ? ctx->now_ns : NULL;
    if (noa_yaml_is_null(cfg)) {
        rc = noa_yaml_error(err, cfg, "empty metric stage configuration");
        goto fail;
    }
    if (cfg->kind != NOA_YAML_MAP) {
        rc = noa_yaml_error(err, cfg, "cannot unmarshal %s into stages.MetricsConfig",
                            noa_yaml_type_name(cfg));
        goto fail;
    }
    s->items = noa_xcalloc(cfg->n ? cfg->n : 1, sizeof(*s->items));
    for (size_t i = 0; i < cfg->n; i++) {
        struct item *it = &s->items[s->n];
        rc = item_new(s, cfg->pairs[i].key, cfg->pairs[i].value, ctx, it, err);
        if (rc < 0) {
            noa_free(it->source);
            noa_free(it->value);
            memset(it, 0, sizeof(*it));
            goto fail;
        }
        s->n++;
    }
    *out = &s->base;
    return 0;
fail:
    metrics_free(&s->base);
    return rc;
}
