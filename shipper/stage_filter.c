/*
 * The filtering stages drop, limit and sampling, with Promtail's options,
 * validation and decisions (logentry/stages/{drop,limit,sampling}.go).
 *
 * drop: every configured condition must hold for the entry to be dropped
 * (several drop stages make an OR). limit: a token bucket (rate, burst) as
 * golang.org/x/time/rate keeps it; with drop: false the stage blocks the
 * reader until its token is due (Promtail's backpressure), with
 * by_label_name one bucket per label value, at most max_distinct_labels of
 * them kept over two generations. sampling: keeps the configured fraction.
 *
 * Each stage belongs to the reader thread that runs its pipeline; nothing
 * is allocated per entry except a new bucket for a new label value.
 */
#include "common/mem.h"
#include "common/regex.h"
#include "shipper/stage.h"
#include "shipper/stages_int.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* ---- drop ------------------------------------------------------------------------- */

struct drop_cfg {
    char *separator;
    char *expression;
    char *value;
    int64_t older_than_ns;
    int64_t longer_than;
    char *reason;
};

struct drop_stage {
    struct noa_stage base;
    struct drop_cfg c;
    struct noa_regex *re;
    char **sources; /* NULL when the stage tests the line */
    size_t n_sources;
    int has_older, has_longer;
    struct noa_buf joined; /* scratch: the sources' values joined */
};

static const struct noa_config_entry drop_entries[] = {
    {"source", NOA_CONFIG_RAW, NULL, 0, NULL, "Extracted key, or list of keys, to test.", 0, NULL,
     NULL},
    {"separator", NOA_CONFIG_STRING, ";", offsetof(struct drop_cfg, separator), NULL,
     "Joins the values of several sources.", 0, NULL, NULL},
    {"expression", NOA_CONFIG_STRING, NULL, offsetof(struct drop_cfg, expression), NULL,
     "RE2 expression matched against the source (or the line).", 0, NULL, NULL},
    {"value", NOA_CONFIG_STRING, NULL, offsetof(struct drop_cfg, value), NULL,
     "Exact value of the source that drops the entry.", 0, NULL, NULL},
    {"older_than", NOA_CONFIG_DURATION, NULL, offsetof(struct drop_cfg, older_than_ns), NULL,
     "Drops entries whose timestamp is older than this.", 0, NULL, NULL},
    {"longer_than", NOA_CONFIG_BYTES, NULL, offsetof(struct drop_cfg, longer_than), NULL,
     "Drops lines longer than this many bytes.", 0, NULL, NULL},
    {"drop_counter_reason", NOA_CONFIG_STRING, "drop_stage", offsetof(struct drop_cfg, reason),
     NULL, "Reason label of logentry_dropped_lines_total.", 0, NULL, NULL},
};

static const struct noa_config_table drop_table = {"stages.DropConfig", drop_entries,
                                                   sizeof(drop_entries) / sizeof(drop_entries[0])};

static void drop_free(struct noa_stage *st)
{
    struct drop_stage *s = (struct drop_stage *)st;
    if (!s)
        return;
    noa_config_fini(&drop_table, &s->c);
    noa_regex_free(s->re);
    for (size_t i = 0; i < s->n_sources; i++)
        noa_free(s->sources[i]);
    noa_free(s->sources);
    noa_buf_fini(&s->joined);
    noa_free(s);
}

/* The sources' values joined by the separator into s->joined; 0 when one
 * of them is missing (then nothing is dropped). */
static int join_sources(struct drop_stage *s, const struct noa_entry *e)
{
    noa_buf_reset(&s->joined);
    for (size_t i = 0; i < s->n_sources; i++) {
        struct noa_str v;
        if (!noa_kvlist_get(&e->extracted, noa_str_c(s->sources[i]), &v))
            return 0;
        if (i)
            noa_buf_append(&s->joined, s->c.separator, strlen(s->c.separator));
        noa_buf_append(&s->joined, v.p, v.len);
    }
    return 1;
}

static enum noa_stage_verdict drop_process(struct noa_stage *st, struct noa_entry *e,
                                           struct noa_stage_emit *next, int64_t now_ns)
{
    (void)next;
    struct drop_stage *s = (struct drop_stage *)st;
    /* Cheapest tests first; any condition that does not hold keeps the entry. */
    if (s->has_longer && (int64_t)e->line.len <= s->c.longer_than)
        return NOA_STAGE_PASS;
    if (s->has_older && e->ts_ns >= now_ns - s->c.older_than_ns)
        return NOA_STAGE_PASS;
    if (s->sources) {
        if (!join_sources(s, e))
            return NOA_STAGE_PASS;
        if (s->c.value &&
            !noa_str_eq_c((struct noa_str){s->joined.data, s->joined.len}, s->c.value))
            return NOA_STAGE_PASS;
        if (s->re && !noa_regex_match(s->re, s->joined.data ? s->joined.data : "", s->joined.len))
            return NOA_STAGE_PASS;
    } else if (s->re && !noa_regex_match(s->re, e->line.data ? e->line.data : "", e->line.len)) {
        return NOA_STAGE_PASS;
    }
    return NOA_STAGE_DROP;
}

static const struct noa_stage_ops drop_ops = {
    .name = "drop", .process = drop_process, .free = drop_free};

static int drop_sources(struct drop_stage *s, const struct noa_yaml_node *src,
                        struct noa_error *err)
{
    if (src->kind == NOA_YAML_MAP)
        return noa_yaml_error(err, src, "cannot unmarshal !!map into string or []string");
    size_t n = src->kind == NOA_YAML_SEQ ? src->n : 1;
    s->sources = noa_xcalloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const struct noa_yaml_node *it = src->kind == NOA_YAML_SEQ ? src->items[i] : src;
        if (it->kind != NOA_YAML_SCALAR)
            return noa_yaml_error(err, it, "cannot unmarshal %s into string",
                                  noa_yaml_type_name(it));
        s->sources[s->n_sources++] = noa_xstrndup(it->str, it->len);
    }
    return 0;
}

NOA_STAGE_CTOR(drop)
{
    (void)ctx;
    struct drop_stage *s = noa_xcalloc(1, sizeof(*s));
    int rc = 0;
    *out = NULL;
    s->base.ops = &drop_ops;
    if ((rc = noa__stages_config(&drop_table, &s->c, cfg, err)) < 0)
        goto fail;
    /* Promtail tells an absent value or expression from an empty one. */
    if (!noa_yaml_get(cfg, "value")) {
        noa_free(s->c.value);
        s->c.value = NULL;
    }
    if (!noa_yaml_get(cfg, "expression")) {
        noa_free(s->c.expression);
        s->c.expression = NULL;
    }
    const struct noa_yaml_node *src = noa_yaml_get(cfg, "source");
    s->has_older = noa_yaml_get(cfg, "older_than") != NULL;
    s->has_longer = noa_yaml_get(cfg, "longer_than") != NULL;
    if (!src && !s->c.expression && !s->has_older && !s->has_longer) {
        rc = noa_yaml_error(err, cfg,
                            "drop stage config must contain at least one of `source`, "
                            "`expression`, `older_than` or `longer_than`");
        goto fail;
    }
    if (src && (rc = drop_sources(s, src, err)) < 0)
        goto fail;
    if (s->c.value && s->c.expression) {
        rc = noa_yaml_error(err, cfg,
                            "drop stage config error, `value` and `expression` cannot both be "
                            "defined at the same time.");
        goto fail;
    }
    if (s->c.value && !src) {
        rc = noa_yaml_error(err, cfg,
                            "drop stage config must contain `source` if `value` is specified");
        goto fail;
    }
    if (s->c.expression) {
        struct noa_error rerr = {0};
        if (noa_regex_compile(s->c.expression, strlen(s->c.expression), 0, &s->re, &rerr) != 0) {
            rc = noa_yaml_error(err, noa_yaml_get(cfg, "expression"),
                                "drop stage regex compilation error: %s", rerr.msg);
            goto fail;
        }
    }
    if (!s->c.reason || !*s->c.reason) {
        noa_free(s->c.reason);
        s->c.reason = noa_xstrdup("drop_stage");
    }
    s->base.drop_reason = s->c.reason;
    *out = &s->base;
    return 0;
fail:
    drop_free(&s->base);
    return rc;
}

/* ---- limit ------------------------------------------------------------------------ */

/* golang.org/x/time/rate's bucket: starts full, refills at rate per second. */
struct bucket {
    double tokens;
    int64_t last_ns;
};

static void bucket_advance(struct bucket *b, double rate, double burst, int64_t now)
{
    if (now > b->last_ns) {
        b->tokens += (double)(now - b->last_ns) * rate / 1e9;
        if (b->tokens > burst)
            b->tokens = burst;
    }
    b->last_ns = now;
}

/* One bucket per label value, with its drop counter (cached). */
struct lb_entry {
    uint64_t hash;
    size_t len;
    struct bucket b;
    struct noa_metric_child *dropped;
    char key[];
};

/* An open-addressing table of entries (NULL: empty slot, TOMB: moved out). */
struct lb_table {
    struct lb_entry **slots;
    size_t cap; /* a power of two, >= 2 * max */
    size_t n;   /* live entries */
};

#define TOMB ((struct lb_entry *)1)

struct limit_cfg {
    double rate;
    int burst;
    int drop;
    char *by_label_name;
    int max_distinct_labels;
};

struct limit_stage {
    struct noa_stage base;
    struct limit_cfg c;
    struct bucket b;
    int started;
    /* by_label_name: Promtail's generational map. When the current table
     * holds max entries it becomes the old one and the older is freed, so
     * buckets in use survive a turn and the memory stays bounded. */
    struct lb_table cur, old;
    struct noa_metric *by_label; /* logentry_dropped_lines_by_label_total */
};

static const struct noa_config_entry limit_entries[] = {
    {"rate", NOA_CONFIG_FLOAT, NULL, offsetof(struct limit_cfg, rate), NULL,
     "Lines per second let through.", 0, NULL, NULL},
    {"burst", NOA_CONFIG_INT, NULL, offsetof(struct limit_cfg, burst), NULL,
     "Lines let through at once.", 0, NULL, NULL},
    {"drop", NOA_CONFIG_BOOL, "false", offsetof(struct limit_cfg, drop), NULL,
     "Drop lines over the limit instead of waiting.", 0, NULL, NULL},
    {"by_label_name", NOA_CONFIG_STRING, NULL, offsetof(struct limit_cfg, by_label_name), NULL,
     "One limit per value of this label.", 0, NULL, NULL},
    {"max_distinct_labels", NOA_CONFIG_INT, NULL, offsetof(struct limit_cfg, max_distinct_labels),
     NULL, "Most label values tracked (at least 10000).", 0, NULL, NULL},
};

static const struct noa_config_table limit_table = {
    "stages.LimitConfig", limit_entries, sizeof(limit_entries) / sizeof(limit_entries[0])};

#define LIMIT_MIN_DISTINCT 10000

static void real_sleep(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void lb_clear(struct lb_table *t)
{
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i] && t->slots[i] != TOMB)
            noa_free(t->slots[i]);
    memset(t->slots, 0, t->cap * sizeof(*t->slots));
    t->n = 0;
}

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

/* The slot of key in t: its entry, or the empty slot where it would go. */
static struct lb_entry **lb_find(struct lb_table *t, struct noa_str key, uint64_t h)
{
    size_t mask = t->cap - 1;
    struct lb_entry **free_slot = NULL;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct lb_entry *x = t->slots[i];
        if (!x)
            return free_slot ? free_slot : &t->slots[i];
        if (x == TOMB) {
            if (!free_slot)
                free_slot = &t->slots[i];
        } else if (x->hash == h && x->len == key.len && memcmp(x->key, key.p, key.len) == 0) {
            return &t->slots[i];
        }
    }
}

static struct lb_entry *lb_get(struct limit_stage *s, struct noa_str key, int64_t now)
{
    uint64_t h = fnv1a(key.p, key.len);
    struct lb_entry **slot = lb_find(&s->cur, key, h);
    if (*slot && *slot != TOMB)
        return *slot;
    struct lb_entry **oslot = lb_find(&s->old, key, h);
    struct lb_entry *x = NULL;
    if (*oslot && *oslot != TOMB) {
        x = *oslot;
        *oslot = TOMB;
        s->old.n--;
    }
    if ((size_t)s->cur.n >= (size_t)s->c.max_distinct_labels) {
        /* A new generation: the old one (what no one asked for during a
         * whole generation) goes. */
        lb_clear(&s->old);
        struct lb_table t = s->old;
        s->old = s->cur;
        s->cur = t;
        slot = lb_find(&s->cur, key, h);
    }
    if (!x) {
        x = noa_xmalloc(sizeof(*x) + key.len + 1);
        x->hash = h;
        x->len = key.len;
        memcpy(x->key, key.p, key.len);
        x->key[key.len] = 0;
        x->b.tokens = s->c.burst;
        x->b.last_ns = now;
        x->dropped = NULL;
        if (s->by_label) {
            const char *values[] = {s->c.by_label_name, x->key};
            x->dropped = noa_metric_child(s->by_label, values);
        }
    }
    *slot = x;
    s->cur.n++;
    return x;
}

static enum noa_stage_verdict limit_process(struct noa_stage *st, struct noa_entry *e,
                                            struct noa_stage_emit *next, int64_t now_ns)
{
    (void)next;
    struct limit_stage *s = (struct limit_stage *)st;
    double burst = s->c.burst;
    if (isinf(s->c.rate))
        return NOA_STAGE_PASS; /* rate.Inf: no limit */
    if (s->c.by_label_name) {
        struct noa_str v;
        /* Entries without the label are not limited. */
        if (!noa_kvlist_get(&e->labels, noa_str_c(s->c.by_label_name), &v))
            return NOA_STAGE_PASS;
        struct lb_entry *x = lb_get(s, v, now_ns);
        bucket_advance(&x->b, s->c.rate, burst, now_ns);
        if (x->b.tokens >= 1) {
            x->b.tokens -= 1;
            return NOA_STAGE_PASS;
        }
        noa_metric_inc(x->dropped);
        return NOA_STAGE_DROP;
    }
    if (!s->started) {
        s->b.tokens = burst;
        s->b.last_ns = now_ns;
        s->started = 1;
    }
    bucket_advance(&s->b, s->c.rate, burst, now_ns);
    if (s->b.tokens >= 1) {
        s->b.tokens -= 1;
        return NOA_STAGE_PASS;
    }
    if (s->c.drop)
        return NOA_STAGE_DROP;
    /* Block the reader until the token is due, as rate.Limiter.Wait does:
     * the token is taken now (the bucket goes negative), so the next entry
     * waits behind this one. */
    s->b.tokens -= 1;
    int64_t wait = (int64_t)ceil(-s->b.tokens * 1e9 / s->c.rate);
    if (wait > 0)
        real_sleep(wait);
    return NOA_STAGE_PASS;
}

static void limit_free(struct noa_stage *st)
{
    struct limit_stage *s = (struct limit_stage *)st;
    if (!s)
        return;
    if (s->cur.slots) {
        lb_clear(&s->cur);
        lb_clear(&s->old);
    }
    noa_free(s->cur.slots);
    noa_free(s->old.slots);
    noa_config_fini(&limit_table, &s->c);
    noa_free(s);
}

static const struct noa_stage_ops limit_ops = {
    .name = "limit", .process = limit_process, .free = limit_free};

NOA_STAGE_CTOR(limit)
{
    struct limit_stage *s = noa_xcalloc(1, sizeof(*s));
    int rc = 0;
    *out = NULL;
    s->base.ops = &limit_ops;
    s->base.drop_reason = "ratelimit_drop_stage";
    if ((rc = noa__stages_config(&limit_table, &s->c, cfg, err)) < 0)
        goto fail;
    if (!(s->c.rate > 0) || s->c.burst <= 0) {
        rc = noa_yaml_error(err, cfg, "limit stage failed to parse rate or burst");
        goto fail;
    }
    if (s->c.by_label_name && !*s->c.by_label_name) {
        noa_free(s->c.by_label_name);
        s->c.by_label_name = NULL;
    }
    if (s->c.by_label_name && !s->c.drop) {
        rc = noa_yaml_error(err, cfg, "When ratelimiting by label, drop must be true");
        goto fail;
    }
    if (s->c.by_label_name) {
        /* Promtail raises smaller values to this floor (with a warning). */
        if (s->c.max_distinct_labels < LIMIT_MIN_DISTINCT)
            s->c.max_distinct_labels = LIMIT_MIN_DISTINCT;
        if (s->c.max_distinct_labels > 10000000)
            s->c.max_distinct_labels = 10000000;
        size_t cap = 16;
        while (cap < (size_t)s->c.max_distinct_labels * 2)
            cap <<= 1;
        s->cur.cap = s->old.cap = cap;
        s->cur.slots = noa_xcalloc(cap, sizeof(*s->cur.slots));
        s->old.slots = noa_xcalloc(cap, sizeof(*s->old.slots));
        if (ctx && ctx->metrics) {
            static const char *const names[] = {"label_name", "label_value"};
            s->by_label = noa_metrics_counter(
                ctx->metrics, "logentry_dropped_lines_by_label_total",
                "A count of all log lines dropped as a result of a pipeline stage", 2, names);
        }
    }
    *out = &s->base;
    return 0;
fail:
    limit_free(&s->base);
    return rc;
}

/* ---- sampling ---------------------------------------------------------------------- */

struct sampling_cfg {
    double rate;
    char *reason;
};

struct sampling_stage {
    struct noa_stage base;
    struct sampling_cfg c;
    uint64_t boundary; /* keep when a 63-bit random number is at most this */
    uint64_t rng;      /* xorshift64* state, never 0 */
};

static const struct noa_config_entry sampling_entries[] = {
    {"rate", NOA_CONFIG_FLOAT, NULL, offsetof(struct sampling_cfg, rate), NULL,
     "Fraction of lines kept, 0 to 1.", 0, NULL, NULL},
    {"drop_counter_reason", NOA_CONFIG_STRING, "sampling_stage",
     offsetof(struct sampling_cfg, reason), NULL, "Reason label of logentry_dropped_lines_total.",
     0, NULL, NULL},
};

static const struct noa_config_table sampling_table = {"stages.SamplingConfig", sampling_entries,
                                                       sizeof(sampling_entries) /
                                                           sizeof(sampling_entries[0])};

#define MAX_RANDOM 0x7fffffffffffffffull

static uint64_t next_random(struct sampling_stage *s)
{
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return (x * 0x2545F4914F6CDD1Dull) & MAX_RANDOM;
}

static enum noa_stage_verdict sampling_process(struct noa_stage *st, struct noa_entry *e,
                                               struct noa_stage_emit *next, int64_t now_ns)
{
    (void)e;
    (void)next;
    (void)now_ns;
    struct sampling_stage *s = (struct sampling_stage *)st;
    uint64_t r;
    /* As Promtail (after Jaeger's probabilistic sampler): ids are never 0,
     * so a rate of 0 keeps nothing. */
    while ((r = next_random(s)) == 0) {
    }
    return s->boundary >= r ? NOA_STAGE_PASS : NOA_STAGE_DROP;
}

static void sampling_free(struct noa_stage *st)
{
    struct sampling_stage *s = (struct sampling_stage *)st;
    if (!s)
        return;
    noa_config_fini(&sampling_table, &s->c);
    noa_free(s);
}

static const struct noa_stage_ops sampling_ops = {
    .name = "sampling", .process = sampling_process, .free = sampling_free};

NOA_STAGE_CTOR(sampling)
{
    struct sampling_stage *s = noa_xcalloc(1, sizeof(*s));
    int rc = 0;
    *out = NULL;
    s->base.ops = &sampling_ops;
    if ((rc = noa__stages_config(&sampling_table, &s->c, cfg, err)) < 0)
        goto fail;
    if (!(s->c.rate >= 0.0 && s->c.rate <= 1.0)) {
        rc = noa_yaml_error(err, cfg,
                            "sampling stage failed to parse rate,Sampling Rate must be between "
                            "0.0 and 1.0, received %f",
                            s->c.rate);
        goto fail;
    }
    if (!s->c.reason || !*s->c.reason) {
        noa_free(s->c.reason);
        s->c.reason = noa_xstrdup("sampling_stage");
    }
    s->base.drop_reason = s->c.reason;
    s->boundary = (uint64_t)((double)MAX_RANDOM * s->c.rate);
    /* Seeded per stage from the clock and the stage's address. */
    s->rng = (uint64_t)noa__stages_now(ctx) ^ (uint64_t)(uintptr_t)s ^ 0x9E3779B97F4A7C15ull;
    if (!s->rng)
        s->rng = 1;
    *out = &s->base;
    return 0;
fail:
    sampling_free(&s->base);
    return rc;
}
