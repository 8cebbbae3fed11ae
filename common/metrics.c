/*
 * Prometheus registry: families kept sorted by name, children in a per-family
 * hash table, values in atomics. Owns every family and child it hands out.
 *
 * THREAD SAFETY: reg->lock guards the family array (registration and
 * scrapes); fam->lock guards the child table (lookup, creation, the scrape's
 * snapshot). Lock order: reg->lock, then fam->lock. Values are never under
 * a lock: counters and gauges keep a double's bit pattern in an atomic
 * uint64 updated by compare-and-swap; histogram buckets are atomic counts.
 * Any thread.
 */
#include "common/metrics.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

const double noa_metrics_def_buckets[NOA_METRICS_DEF_BUCKETS_N] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

struct noa_metric_child {
    struct noa_metric *family;
    uint64_t hash;
    const char **values;          /* n_labels strings, stored after the buckets */
    _Atomic uint64_t value_bits;  /* counter/gauge value, histogram sum: a double */
    _Atomic uint64_t buckets[];   /* histogram: n_bounds + 1 non-cumulative counts */
};

struct noa_metric {
    char *name;
    char *help;
    enum noa_metric_type type;
    int n_labels;
    char **label_names;
    double *bounds; /* histogram upper bounds, without +Inf */
    int n_bounds;
    double (*fn)(void *ctx); /* scrape-time value; NULL for stored families */
    void (*collect)(void *ctx, struct noa_buf *out); /* scrape-time samples (collectors) */
    void *ctx;
    pthread_mutex_t lock;            /* guards table, cap, n, overflow */
    struct noa_metric_child **table; /* open addressing, cap a power of two */
    size_t cap;
    size_t n;
    struct noa_metric_child *overflow; /* shared child past the cap, never written */
};

struct noa_metrics {
    pthread_mutex_t lock; /* guards fams, n, cap, process_added */
    struct noa_metric **fams; /* sorted by name */
    size_t n;
    size_t cap;
    int process_added;
};

/* ---- doubles in atomics ---------------------------------------------- */

static uint64_t d2u(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double u2d(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

static void atomic_add_double(_Atomic uint64_t *a, double v)
{
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, d2u(u2d(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* ---- names ------------------------------------------------------------- */

static int valid_name(const char *s, int allow_colon)
{
    if (!s || !*s)
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (allow_colon && c == ':') || (p != s && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* ---- registry ------------------------------------------------------------ */

struct noa_metrics *noa_metrics_new(void)
{
    struct noa_metrics *reg = noa_xcalloc(1, sizeof(*reg));
    pthread_mutex_init(&reg->lock, NULL);
    return reg;
}

static void family_free(struct noa_metric *m)
{
    for (size_t i = 0; i < m->cap; i++)
        noa_free(m->table[i]);
    noa_free(m->overflow);
    noa_free(m->table);
    for (int i = 0; i < m->n_labels; i++)
        noa_free(m->label_names[i]);
    noa_free(m->label_names);
    noa_free(m->bounds);
    noa_free(m->name);
    noa_free(m->help);
    pthread_mutex_destroy(&m->lock);
    noa_free(m);
}

void noa_metrics_free(struct noa_metrics *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->n; i++)
        family_free(reg->fams[i]);
    noa_free(reg->fams);
    pthread_mutex_destroy(&reg->lock);
    noa_free(reg);
}

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static struct noa_metrics *default_reg;

static void default_init(void)
{
    default_reg = noa_metrics_new();
    noa_metrics_add_process(default_reg);
}

struct noa_metrics *noa_metrics_default(void)
{
    pthread_once(&default_once, default_init);
    return default_reg;
}

int noa_metrics_exp_buckets(double start, double factor, int count, double *out)
{
    if (!(start > 0) || !(factor > 1) || count < 1 || count > NOA_METRICS_MAX_BUCKETS)
        return NOA_EINVAL;
    for (int i = 0; i < count; i++) {
        out[i] = start;
        start *= factor;
    }
    return 0;
}

/* Same shape: type, label names and buckets all equal. */
static int same_shape(const struct noa_metric *m, enum noa_metric_type type, int n_labels,
                      const char *const *label_names, const double *bounds, int n_bounds,
                      int is_func)
{
    if (m->type != type || m->n_labels != n_labels || (m->fn != NULL) != is_func)
        return 0;
    for (int i = 0; i < n_labels; i++)
        if (strcmp(m->label_names[i], label_names[i]) != 0)
            return 0;
    if (type != NOA_METRIC_HISTOGRAM)
        return 1;
    if (m->n_bounds != n_bounds)
        return 0;
    for (int i = 0; i < n_bounds; i++)
        if (m->bounds[i] != bounds[i])
            return 0;
    return 1;
}

static int check_labels(enum noa_metric_type type, int n_labels, const char *const *label_names)
{
    if (n_labels < 0 || n_labels > NOA_METRICS_MAX_LABELS || (n_labels && !label_names))
        return 0;
    for (int i = 0; i < n_labels; i++) {
        /* Names starting with "__" are reserved for Prometheus itself, and
         * "le" is the bucket label of histograms. */
        if (!valid_name(label_names[i], 0) || strncmp(label_names[i], "__", 2) == 0)
            return 0;
        if (type == NOA_METRIC_HISTOGRAM && strcmp(label_names[i], "le") == 0)
            return 0;
        for (int j = 0; j < i; j++)
            if (strcmp(label_names[i], label_names[j]) == 0)
                return 0;
    }
    return 1;
}

static int check_bounds(const double *bounds, int n_bounds)
{
    if (n_bounds < 1 || n_bounds > NOA_METRICS_MAX_BUCKETS)
        return 0;
    /* Finite and strictly increasing; the +Inf bucket is always added, so an
     * explicit one would be written twice. */
    for (int i = 0; i < n_bounds; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
            return 0;
    }
    return 1;
}

struct family_spec {
    const char *name;
    const char *help;
    enum noa_metric_type type;
    int n_labels;
    const char *const *label_names;
    const double *bounds;
    int n_bounds;
    double (*fn)(void *ctx);
    void (*collect)(void *ctx, struct noa_buf *out);
    void *ctx;
};

static struct noa_metric *family_new(const struct family_spec *s)
{
    struct noa_metric *m = noa_xcalloc(1, sizeof(*m));
    m->name = noa_xstrdup(s->name);
    m->help = noa_xstrdup(s->help ? s->help : "");
    m->type = s->type;
    m->n_labels = s->n_labels;
    if (s->n_labels) {
        m->label_names = noa_xcalloc((size_t)s->n_labels, sizeof(char *));
        for (int i = 0; i < s->n_labels; i++)
            m->label_names[i] = noa_xstrdup(s->label_names[i]);
    }
    if (s->type == NOA_METRIC_HISTOGRAM) {
        m->n_bounds = s->n_bounds;
        m->bounds = noa_xmalloc((size_t)s->n_bounds * sizeof(double));
        memcpy(m->bounds, s->bounds, (size_t)s->n_bounds * sizeof(double));
    }
    m->fn = s->fn;
    m->collect = s->collect;
    m->ctx = s->ctx;
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

/* Registers or finds a family; NULL when the spec is invalid or clashes. */
static struct noa_metric *family_register(struct noa_metrics *reg, struct family_spec *s)
{
    const char *why = NULL;
    if (!reg || !valid_name(s->name, 1))
        why = "invalid name";
    else if (s->type == NOA_METRIC_COUNTER && !s->collect && !ends_with(s->name, "_total"))
        why = "counter name must end in _total";
    else if (!check_labels(s->type, s->n_labels, s->label_names))
        why = "invalid label names";
    if (!why && s->type == NOA_METRIC_HISTOGRAM) {
        if (!s->bounds || s->n_bounds == 0) {
            s->bounds = noa_metrics_def_buckets;
            s->n_bounds = NOA_METRICS_DEF_BUCKETS_N;
        }
        if (!check_bounds(s->bounds, s->n_bounds))
            why = "invalid buckets";
    }
    if (why) {
        /* A bad registration is a bug in the caller; say so loudly once,
         * then the NULL family degrades to no-op updates. */
        char name[128];
        noa_log(NOA_LOG_ERROR, "metrics", "msg=\"metric not registered\" reason=\"%s\" name=%s",
                why, noa_log_value(name, sizeof(name), s->name ? s->name : ""));
        return NULL;
    }

    struct noa_metric *found = NULL;
    pthread_mutex_lock(&reg->lock);
    /* Binary search for the name's place in the sorted array. */
    size_t lo = 0, hi = reg->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(reg->fams[mid]->name, s->name);
        if (c == 0) {
            lo = mid;
            break;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < reg->n && strcmp(reg->fams[lo]->name, s->name) == 0) {
        if (same_shape(reg->fams[lo], s->type, s->n_labels, s->label_names, s->bounds,
                       s->n_bounds, s->fn != NULL) &&
            !s->fn && !s->collect && !reg->fams[lo]->collect)
            found = reg->fams[lo];
        else
            noa_log(NOA_LOG_ERROR, "metrics",
                    "msg=\"metric not registered\" reason=\"name taken by another metric\" "
                    "name=%s",
                    s->name);
        goto out;
    }
    if (reg->n == reg->cap) {
        reg->cap = reg->cap ? reg->cap * 2 : 32;
        reg->fams = noa_xrealloc(reg->fams, reg->cap * sizeof(*reg->fams));
    }
    memmove(reg->fams + lo + 1, reg->fams + lo, (reg->n - lo) * sizeof(*reg->fams));
    found = family_new(s);
    reg->fams[lo] = found;
    reg->n++;
out:
    pthread_mutex_unlock(&reg->lock);
    return found;
}

struct noa_metric *noa_metrics_counter(struct noa_metrics *reg, const char *name,
                                       const char *help, int n_labels,
                                       const char *const *label_names)
{
    struct family_spec s = {.name = name, .help = help, .type = NOA_METRIC_COUNTER,
                            .n_labels = n_labels, .label_names = label_names};
    return family_register(reg, &s);
}

struct noa_metric *noa_metrics_gauge(struct noa_metrics *reg, const char *name, const char *help,
                                     int n_labels, const char *const *label_names)
{
    struct family_spec s = {.name = name, .help = help, .type = NOA_METRIC_GAUGE,
                            .n_labels = n_labels, .label_names = label_names};
    return family_register(reg, &s);
}

struct noa_metric *noa_metrics_histogram(struct noa_metrics *reg, const char *name,
                                         const char *help, int n_labels,
                                         const char *const *label_names, const double *buckets,
                                         int n_buckets)
{
    struct family_spec s = {.name = name, .help = help, .type = NOA_METRIC_HISTOGRAM,
                            .n_labels = n_labels, .label_names = label_names,
                            .bounds = buckets, .n_bounds = n_buckets};
    return family_register(reg, &s);
}

int noa_metrics_gauge_func(struct noa_metrics *reg, const char *name, const char *help,
                           double (*fn)(void *ctx), void *ctx)
{
    struct family_spec s = {.name = name, .help = help, .type = NOA_METRIC_GAUGE,
                            .fn = fn, .ctx = ctx};
    return fn && family_register(reg, &s) ? 0 : NOA_EINVAL;
}

int noa_metrics_counter_func(struct noa_metrics *reg, const char *name, const char *help,
                             double (*fn)(void *ctx), void *ctx)
{
    struct family_spec s = {.name = name, .help = help, .type = NOA_METRIC_COUNTER,
                            .fn = fn, .ctx = ctx};
    return fn && family_register(reg, &s) ? 0 : NOA_EINVAL;
}

int noa_metrics_collector(struct noa_metrics *reg, const char *name, const char *help,
                          enum noa_metric_type type,
                          void (*collect)(void *ctx, struct noa_buf *out), void *ctx)
{
    struct family_spec s = {.name = name, .help = help, .type = type,
                            .collect = collect, .ctx = ctx};
    if (!collect || (unsigned)type > (unsigned)NOA_METRIC_HISTOGRAM)
        return NOA_EINVAL;
    return family_register(reg, &s) ? 0 : NOA_EINVAL;
}

int noa_metrics_collector_remove(struct noa_metrics *reg, const char *name, void *ctx)
{
    struct noa_metric *gone = NULL;
    if (!reg || !name)
        return NOA_ENOTFOUND;
    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; i < reg->n; i++) {
        struct noa_metric *m = reg->fams[i];
        if (m->collect && m->ctx == ctx && strcmp(m->name, name) == 0) {
            memmove(reg->fams + i, reg->fams + i + 1, (reg->n - i - 1) * sizeof(*reg->fams));
            reg->n--;
            gone = m;
            break;
        }
    }
    pthread_mutex_unlock(&reg->lock);
    if (!gone)
        return NOA_ENOTFOUND;
    family_free(gone);
    return 0;
}

/* ---- children ------------------------------------------------------------ */

static uint64_t values_hash(int n, const char *const *values)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (int i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)values[i]; *p; p++)
            h = (h ^ *p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL; /* separator: ("ab","") != ("a","b") */
    }
    return h;
}

static int values_equal(const struct noa_metric_child *c, int n, const char *const *values)
{
    for (int i = 0; i < n; i++)
        if (strcmp(c->values[i], values[i]) != 0)
            return 0;
    return 1;
}

static struct noa_metric_child *child_new(struct noa_metric *m, const char *const *values,
                                          uint64_t hash)
{
    size_t nb = m->type == NOA_METRIC_HISTOGRAM ? (size_t)m->n_bounds + 1 : 0;
    size_t size = sizeof(struct noa_metric_child) + nb * sizeof(_Atomic uint64_t) +
                  (size_t)m->n_labels * sizeof(char *);
    for (int i = 0; i < m->n_labels; i++)
        size += strlen(values[i]) + 1;
    struct noa_metric_child *c = noa_xcalloc(1, size);
    c->family = m;
    c->hash = hash;
    c->values = (const char **)(void *)((char *)c + sizeof(*c) + nb * sizeof(_Atomic uint64_t));
    char *p = (char *)(c->values + m->n_labels);
    for (int i = 0; i < m->n_labels; i++) {
        size_t len = strlen(values[i]) + 1;
        memcpy(p, values[i], len);
        c->values[i] = p;
        p += len;
    }
    atomic_init(&c->value_bits, d2u(0.0));
    for (size_t i = 0; i < nb; i++)
        atomic_init(&c->buckets[i], 0);
    return c;
}

static void table_grow(struct noa_metric *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 8;
    struct noa_metric_child **nt = noa_xcalloc(ncap, sizeof(*nt));
    for (size_t i = 0; i < m->cap; i++) {
        struct noa_metric_child *c = m->table[i];
        if (!c)
            continue;
        size_t j = (size_t)c->hash & (ncap - 1);
        while (nt[j])
            j = (j + 1) & (ncap - 1);
        nt[j] = c;
    }
    noa_free(m->table);
    m->table = nt;
    m->cap = ncap;
}

struct noa_metric_child *noa_metric_child(struct noa_metric *m, const char *const *values)
{
    if (!m)
        return NULL;
    static const char *const none[1] = {""};
    if (m->n_labels == 0)
        values = none;
    uint64_t h = values_hash(m->n_labels, values);
    struct noa_metric_child *c = NULL;
    pthread_mutex_lock(&m->lock);
    if (m->cap) {
        for (size_t j = (size_t)h & (m->cap - 1); m->table[j]; j = (j + 1) & (m->cap - 1)) {
            if (m->table[j]->hash == h && values_equal(m->table[j], m->n_labels, values)) {
                c = m->table[j];
                goto out;
            }
        }
    }
    if (m->n >= NOA_METRICS_MAX_CHILDREN) {
        if (!m->overflow) {
            noa_log(NOA_LOG_WARN, "metrics",
                    "msg=\"too many label values, further ones are not exported\" metric=%s "
                    "limit=%d",
                    m->name, NOA_METRICS_MAX_CHILDREN);
            m->overflow = child_new(m, values, h);
        }
        c = m->overflow;
        goto out;
    }
    if ((m->n + 1) * 4 > m->cap * 3)
        table_grow(m);
    c = child_new(m, values, h);
    size_t j = (size_t)h & (m->cap - 1);
    while (m->table[j])
        j = (j + 1) & (m->cap - 1);
    m->table[j] = c;
    m->n++;
out:
    pthread_mutex_unlock(&m->lock);
    return c;
}

struct noa_metric_child *noa_metric_solo(struct noa_metric *m)
{
    return noa_metric_child(m, NULL);
}

struct noa_metric_child *noa_metrics_counter_solo(struct noa_metrics *reg, const char *name,
                                                  const char *help)
{
    return noa_metric_solo(noa_metrics_counter(reg, name, help, 0, NULL));
}

struct noa_metric_child *noa_metrics_gauge_solo(struct noa_metrics *reg, const char *name,
                                                const char *help)
{
    return noa_metric_solo(noa_metrics_gauge(reg, name, help, 0, NULL));
}

struct noa_metric_child *noa_metrics_histogram_solo(struct noa_metrics *reg, const char *name,
                                                    const char *help, const double *buckets,
                                                    int n_buckets)
{
    return noa_metric_solo(noa_metrics_histogram(reg, name, help, 0, NULL, buckets, n_buckets));
}

/* ---- updates -------------------------------------------------------------- */

void noa_metric_add(struct noa_metric_child *c, double v)
{
    if (!c)
        return;
    enum noa_metric_type t = c->family->type;
    if (t == NOA_METRIC_HISTOGRAM)
        return;
    /* A counter only goes up: Prometheus's client panics here; a server
     * should not, so the update is dropped. */
    if (t == NOA_METRIC_COUNTER && !(v >= 0))
        return;
    atomic_add_double(&c->value_bits, v);
}

void noa_metric_sub(struct noa_metric_child *c, double v)
{
    if (c && c->family->type == NOA_METRIC_GAUGE)
        atomic_add_double(&c->value_bits, -v);
}

void noa_metric_set(struct noa_metric_child *c, double v)
{
    if (c && c->family->type == NOA_METRIC_GAUGE)
        atomic_store_explicit(&c->value_bits, d2u(v), memory_order_relaxed);
}

void noa_metric_observe(struct noa_metric_child *c, double v)
{
    if (!c || c->family->type != NOA_METRIC_HISTOGRAM)
        return;
    const struct noa_metric *m = c->family;
    /* First bucket whose upper bound holds v; NaN lands in +Inf. */
    int lo = 0, hi = m->n_bounds;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (v <= m->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    atomic_fetch_add_explicit(&c->buckets[lo], 1, memory_order_relaxed);
    atomic_add_double(&c->value_bits, v);
}

double noa_metric_value(const struct noa_metric_child *c)
{
    if (!c)
        return 0;
    if (c->family->type != NOA_METRIC_HISTOGRAM)
        return u2d(atomic_load_explicit(&c->value_bits, memory_order_relaxed));
    uint64_t n = 0;
    for (int i = 0; i <= c->family->n_bounds; i++)
        n += atomic_load_explicit(&c->buckets[i], memory_order_relaxed);
    return (double)n;
}

double noa_metric_sum(const struct noa_metric_child *c)
{
    if (!c || c->family->type != NOA_METRIC_HISTOGRAM)
        return 0;
    return u2d(atomic_load_explicit(&c->value_bits, memory_order_relaxed));
}

/* ---- exposition ----------------------------------------------------------- */

void noa_metrics_format_double(struct noa_buf *out, double v)
{
    if (isnan(v)) {
        noa_buf_append(out, "NaN", 3);
        return;
    }
    if (isinf(v)) {
        noa_buf_append(out, v > 0 ? "+Inf" : "-Inf", 4);
        return;
    }
    /* What Prometheus's Go client writes (strconv 'g', precision -1): the
     * fewest significant digits that read back exactly, in exponent form
     * when the decimal exponent is < -4 or >= 6 (so 1e+06, 2.1856256e+07). */
    char tmp[40];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    const char *e = strchr(tmp, 'e');
    int exp10 = e ? atoi(e + 1) : 0;
    if (exp10 < -4 || exp10 >= 6) {
        noa_buf_append(out, tmp, strlen(tmp));
        return;
    }
    int decimals = prec - 1 - exp10;
    snprintf(tmp, sizeof(tmp), "%.*f", decimals > 0 ? decimals : 0, v);
    noa_buf_append(out, tmp, strlen(tmp));
}

/* Length of the UTF-8 sequence starting at p, 0 when it is not valid. */
static size_t utf8_len(const char *p)
{
    unsigned char c = (unsigned char)*p;
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    for (size_t i = 1; i < n; i++)
        if (!p[i])
            return 0;
    return n && noa_utf8_valid(p, n) ? n : 0;
}

/* The exposition format is UTF-8: label values come from requests (tenant
 * names), so invalid bytes are written as U+FFFD rather than breaking the
 * whole scrape. */
static void put_escaped(struct noa_buf *out, const char *s, int quotes)
{
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p >= 0x80) {
            size_t n = utf8_len(p);
            if (n == 0) {
                noa_buf_append(out, "\xef\xbf\xbd", 3);
            } else {
                noa_buf_append(out, p, n);
                p += n - 1;
            }
        } else if (*p == '\\')
            noa_buf_append(out, "\\\\", 2);
        else if (*p == '\n')
            noa_buf_append(out, "\\n", 2);
        else if (*p == '"' && quotes)
            noa_buf_append(out, "\\\"", 2);
        else
            noa_buf_putc(out, *p);
    }
}

/* Writes `name{labels[,le="x"]} value\n`. */
static void put_sample(struct noa_buf *out, const struct noa_metric *m, const char *suffix,
                       const struct noa_metric_child *c, const char *le, double v)
{
    noa_buf_printf(out, "%s%s", m->name, suffix);
    int n = c ? m->n_labels : 0;
    if (n || le) {
        noa_buf_putc(out, '{');
        for (int i = 0; i < n; i++) {
            noa_buf_printf(out, "%s%s=\"", i ? "," : "", m->label_names[i]);
            put_escaped(out, c->values[i], 1);
            noa_buf_putc(out, '"');
        }
        if (le)
            noa_buf_printf(out, "%sle=\"%s\"", n ? "," : "", le);
        noa_buf_putc(out, '}');
    }
    noa_buf_putc(out, ' ');
    noa_metrics_format_double(out, v);
    noa_buf_putc(out, '\n');
}

static int child_cmp(const void *a, const void *b, void *arg)
{
    const struct noa_metric_child *x = *(const struct noa_metric_child *const *)a;
    const struct noa_metric_child *y = *(const struct noa_metric_child *const *)b;
    int n_labels = *(const int *)arg;
    for (int i = 0; i < n_labels; i++) {
        int c = strcmp(x->values[i], y->values[i]);
        if (c)
            return c;
    }
    return 0;
}

static void write_histogram(struct noa_buf *out, const struct noa_metric *m,
                            const struct noa_metric_child *c)
{
    uint64_t cum = 0;
    struct noa_buf le = {0};
    for (int i = 0; i <= m->n_bounds; i++) {
        cum += atomic_load_explicit(&c->buckets[i], memory_order_relaxed);
        noa_buf_reset(&le);
        if (i < m->n_bounds)
            noa_metrics_format_double(&le, m->bounds[i]);
        else
            noa_buf_append(&le, "+Inf", 4);
        put_sample(out, m, "_bucket", c, noa_buf_cstr(&le), (double)cum);
    }
    noa_buf_fini(&le);
    put_sample(out, m, "_sum", c, NULL,
               u2d(atomic_load_explicit(&c->value_bits, memory_order_relaxed)));
    /* _count is the +Inf bucket by definition, so derive it from the same
     * reads rather than a separate counter that could disagree. */
    put_sample(out, m, "_count", c, NULL, (double)cum);
}

static void write_family(struct noa_buf *out, struct noa_metric *m)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    noa_buf_printf(out, "# HELP %s ", m->name);
    put_escaped(out, m->help, 0);
    noa_buf_printf(out, "\n# TYPE %s %s\n", m->name, type_names[m->type]);
    if (m->collect) {
        m->collect(m->ctx, out);
        return;
    }
    if (m->fn) {
        double v = m->fn(m->ctx);
        if (!isnan(v))
            put_sample(out, m, "", NULL, NULL, v);
        return;
    }

    pthread_mutex_lock(&m->lock);
    size_t n = 0;
    struct noa_metric_child **snap = m->n ? noa_xmalloc(m->n * sizeof(*snap)) : NULL;
    for (size_t i = 0; i < m->cap; i++)
        if (m->table[i])
            snap[n++] = m->table[i];
    pthread_mutex_unlock(&m->lock);

    if (n > 1 && m->n_labels)
        qsort_r(snap, n, sizeof(*snap), child_cmp, &m->n_labels);
    for (size_t i = 0; i < n; i++) {
        const struct noa_metric_child *c = snap[i];
        if (m->type == NOA_METRIC_HISTOGRAM)
            write_histogram(out, m, c);
        else
            put_sample(out, m, "", c, NULL,
                       u2d(atomic_load_explicit(&c->value_bits, memory_order_relaxed)));
    }
    noa_free(snap);
}

void noa_metrics_write(struct noa_metrics *reg, struct noa_buf *out)
{
    if (!reg)
        return;
    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; i < reg->n; i++)
        write_family(out, reg->fams[i]);
    pthread_mutex_unlock(&reg->lock);
}

/* ---- process metrics -------------------------------------------------- */

/* Fields of /proc/self/stat after the ")" that ends the command name:
 * index 0 is field 3 (state). Returns 0 when read. */
static int proc_stat(unsigned long long *utime, unsigned long long *stime,
                     unsigned long long *start, unsigned long long *vsize, long long *rss)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    /* Fields 14, 15 (utime, stime), 22, 23, 24 (starttime, vsize, rss). */
    int got = sscanf(p + 2,
                     "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
                     "%*d %*d %llu %llu %lld",
                     utime, stime, start, vsize, rss);
    return got == 5 ? 0 : -1;
}

static double proc_cpu_seconds(void *ctx)
{
    (void)ctx;
    unsigned long long ut, st, start, vsize;
    long long rss;
    if (proc_stat(&ut, &st, &start, &vsize, &rss) != 0)
        return NAN;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double proc_rss_bytes(void *ctx)
{
    (void)ctx;
    unsigned long long ut, st, start, vsize;
    long long rss;
    if (proc_stat(&ut, &st, &start, &vsize, &rss) != 0)
        return NAN;
    return (double)rss * (double)sysconf(_SC_PAGESIZE);
}

static double proc_vsize_bytes(void *ctx)
{
    (void)ctx;
    unsigned long long ut, st, start, vsize;
    long long rss;
    if (proc_stat(&ut, &st, &start, &vsize, &rss) != 0)
        return NAN;
    return (double)vsize;
}

static double proc_start_time(void *ctx)
{
    (void)ctx;
    unsigned long long ut, st, start, vsize;
    long long rss;
    if (proc_stat(&ut, &st, &start, &vsize, &rss) != 0)
        return NAN;
    /* starttime counts clock ticks since boot; boot time is "btime" in /proc/stat. */
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return NAN;
    char line[256];
    double btime = NAN;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long b;
        if (sscanf(line, "btime %llu", &b) == 1) {
            btime = (double)b;
            break;
        }
    }
    fclose(f);
    return btime + (double)start / (double)sysconf(_SC_CLK_TCK);
}

static double proc_open_fds(void *ctx)
{
    (void)ctx;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return NAN;
    double n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

static double proc_max_fds(void *ctx)
{
    (void)ctx;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return NAN;
    return rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur;
}

static double mem_allocated(void *ctx)
{
    (void)ctx;
    return (double)noa_mem_in_use();
}

void noa_metrics_add_process(struct noa_metrics *reg)
{
    pthread_mutex_lock(&reg->lock);
    int done = reg->process_added;
    reg->process_added = 1;
    pthread_mutex_unlock(&reg->lock);
    if (done)
        return;
    noa_metrics_counter_func(reg, "process_cpu_seconds_total",
                             "Total user and system CPU time spent in seconds.",
                             proc_cpu_seconds, NULL);
    noa_metrics_gauge_func(reg, "process_resident_memory_bytes", "Resident memory size in bytes.",
                           proc_rss_bytes, NULL);
    noa_metrics_gauge_func(reg, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
                           proc_vsize_bytes, NULL);
    noa_metrics_gauge_func(reg, "process_start_time_seconds",
                           "Start time of the process since unix epoch in seconds.",
                           proc_start_time, NULL);
    noa_metrics_gauge_func(reg, "process_open_fds", "Number of open file descriptors.",
                           proc_open_fds, NULL);
    noa_metrics_gauge_func(reg, "process_max_fds", "Maximum number of open file descriptors.",
                           proc_max_fds, NULL);
    noa_metrics_gauge_func(reg, "noa_memory_allocated_bytes",
                           "Bytes currently allocated through noa's allocator.", mem_allocated,
                           NULL);
}
