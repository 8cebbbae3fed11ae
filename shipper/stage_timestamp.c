/*
 * The `timestamp` stage (logentry/stages/timestamp.go): sets the entry's
 * time from an extracted value parsed with a Promtail format (gotime.h),
 * trying fallback_formats in order. On failure, action_on_failure "fudge"
 * (the default) gives the entry the last good time of the same label set
 * plus 1 ns (remembered for 10,000 label sets, least recently used first
 * out), "skip" leaves the time as it was.
 *
 * The stage owns its zone, formats and fudge cache; it runs on the reader
 * thread of its pipeline and allocates nothing per entry once its cache
 * has been created.
 */
#include "common/labels.h"
#include "common/mem.h"
#include "shipper/gotime.h"
#include "shipper/stage.h"
#include "shipper/stages_int.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FUDGE_MAX 10000   /* Promtail's maxLastKnownTimestampsCacheSize */
#define FUDGE_SLOTS 32768 /* hash index: a power of two over 2 * FUDGE_MAX */

/* Last good time per label-set fingerprint: an LRU list over a fixed node
 * array, indexed by an open-addressing table (linear probing, deletion by
 * backward shift so no tombstones pile up). */
struct fudge {
    uint64_t key[FUDGE_MAX];
    int64_t ts[FUDGE_MAX];
    int32_t prev[FUDGE_MAX], next[FUDGE_MAX]; /* -1 ends; head = most recent */
    int32_t slot[FUDGE_SLOTS];                /* node index, -1 empty */
    int32_t head, tail, n;
};

struct ts_cfg {
    char *source;
    char *format;
    struct noa_config_strings fallback;
    char *location;
    char *action;
};

struct ts_stage {
    struct noa_stage base;
    struct ts_cfg c;
    struct noa_gotime_zone *zone;
    struct noa_gotime_format **formats; /* format, then the fallbacks */
    int n_formats;
    int fudge_on;
    struct fudge *fudge; /* created on the first good time */
};

static const struct noa_config_entry ts_entries[] = {
    {"source", NOA_CONFIG_STRING, NULL, offsetof(struct ts_cfg, source), NULL,
     "Extracted key holding the time.", 0, NULL, NULL},
    {"format", NOA_CONFIG_STRING, NULL, offsetof(struct ts_cfg, format), NULL,
     "Named format (RFC3339, Unix, ...) or Go layout.", 0, NULL, NULL},
    {"fallback_formats", NOA_CONFIG_STRINGS, NULL, offsetof(struct ts_cfg, fallback), NULL,
     "Formats tried in order when format fails.", 0, NULL, NULL},
    {"location", NOA_CONFIG_STRING, NULL, offsetof(struct ts_cfg, location), NULL,
     "IANA time zone of times without an offset.", 0, NULL, NULL},
    {"action_on_failure", NOA_CONFIG_STRING, "fudge", offsetof(struct ts_cfg, action), NULL,
     "fudge (last good time + 1ns) or skip.", 0, NULL, NULL},
};

static const struct noa_config_table ts_table = {"stages.TimestampConfig", ts_entries,
                                                 sizeof(ts_entries) / sizeof(ts_entries[0])};

/* ---- fudge cache ------------------------------------------------------------------- */

static struct fudge *fudge_new(void)
{
    struct fudge *f = noa_xmalloc(sizeof(*f));
    memset(f->slot, 0xff, sizeof(f->slot));
    f->head = f->tail = -1;
    f->n = 0;
    return f;
}

static int32_t fudge_find_slot(const struct fudge *f, uint64_t key)
{
    for (uint32_t i = (uint32_t)key & (FUDGE_SLOTS - 1);; i = (i + 1) & (FUDGE_SLOTS - 1))
        if (f->slot[i] < 0 || f->key[f->slot[i]] == key)
            return (int32_t)i;
}

static void lru_unlink(struct fudge *f, int32_t x)
{
    if (f->prev[x] >= 0)
        f->next[f->prev[x]] = f->next[x];
    else
        f->head = f->next[x];
    if (f->next[x] >= 0)
        f->prev[f->next[x]] = f->prev[x];
    else
        f->tail = f->prev[x];
}

static void lru_push_front(struct fudge *f, int32_t x)
{
    f->prev[x] = -1;
    f->next[x] = f->head;
    if (f->head >= 0)
        f->prev[f->head] = x;
    f->head = x;
    if (f->tail < 0)
        f->tail = x;
}

/* Removes the index entry at slot i, shifting later probes back. */
static void slot_delete(struct fudge *f, uint32_t i)
{
    const uint32_t mask = FUDGE_SLOTS - 1;
    f->slot[i] = -1;
    for (uint32_t j = (i + 1) & mask; f->slot[j] >= 0; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)f->key[f->slot[j]] & mask;
        /* Move j back to i when its home is not in the (i, j] range. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            f->slot[i] = f->slot[j];
            f->slot[j] = -1;
            i = j;
        }
    }
}

static int fudge_get(struct fudge *f, uint64_t key, int64_t *ts)
{
    int32_t s = fudge_find_slot(f, key);
    int32_t x = f->slot[s];
    if (x < 0)
        return 0;
    lru_unlink(f, x);
    lru_push_front(f, x);
    *ts = f->ts[x];
    return 1;
}

static void fudge_put(struct fudge *f, uint64_t key, int64_t ts)
{
    int32_t s = fudge_find_slot(f, key);
    int32_t x = f->slot[s];
    if (x >= 0) {
        lru_unlink(f, x);
    } else {
        if (f->n < FUDGE_MAX) {
            x = f->n++;
        } else {
            /* Evict the least recently used label set. */
            x = f->tail;
            lru_unlink(f, x);
            slot_delete(f, (uint32_t)fudge_find_slot(f, f->key[x]));
            s = fudge_find_slot(f, key);
        }
        f->key[x] = key;
        f->slot[s] = x;
    }
    f->ts[x] = ts;
    lru_push_front(f, x);
}

/* ---- the stage ----------------------------------------------------------------------- */

static uint64_t labels_key(struct noa_entry *e)
{
    struct noa_labels ls;
    noa_kvlist_labels(&e->labels, &ls);
    return noa_labels_hash(&ls);
}

static enum noa_stage_verdict ts_process(struct noa_stage *st, struct noa_entry *e,
                                         struct noa_stage_emit *next, int64_t now_ns)
{
    (void)next;
    struct ts_stage *s = (struct ts_stage *)st;
    struct noa_str v;
    int64_t ts;
    int ok = 0;
    if (noa_kvlist_get(&e->extracted, noa_str_c(s->c.source), &v))
        for (int i = 0; i < s->n_formats && !ok; i++)
            ok = noa_gotime_parse(s->formats[i], v.p ? v.p : "", v.len, now_ns, &ts) == 0;
    if (ok) {
        e->ts_ns = ts;
        if (s->fudge_on) {
            if (!s->fudge)
                s->fudge = fudge_new();
            fudge_put(s->fudge, labels_key(e), ts);
        }
        return NOA_STAGE_PASS;
    }
    /* Fudge: 1 ns after the last time of this label set keeps the order of
     * lines in the stream; without one the read time stays. */
    if (s->fudge_on && s->fudge) {
        uint64_t key = labels_key(e);
        int64_t last;
        if (fudge_get(s->fudge, key, &last)) {
            e->ts_ns = last + 1;
            fudge_put(s->fudge, key, e->ts_ns);
        }
    }
    return NOA_STAGE_PASS;
}

static void ts_free(struct noa_stage *st)
{
    struct ts_stage *s = (struct ts_stage *)st;
    if (!s)
        return;
    for (int i = 0; i < s->n_formats; i++)
        noa_gotime_format_free(s->formats[i]);
    noa_free(s->formats);
    noa_gotime_zone_free(s->zone);
    noa_free(s->fudge);
    noa_config_fini(&ts_table, &s->c);
    noa_free(s);
}

static const struct noa_stage_ops ts_ops = {
    .name = "timestamp", .process = ts_process, .free = ts_free};

NOA_STAGE_CTOR(timestamp)
{
    (void)ctx;
    struct ts_stage *s = noa_xcalloc(1, sizeof(*s));
    struct noa_error zerr = {0};
    int rc = 0;
    *out = NULL;
    s->base.ops = &ts_ops;
    if (noa_yaml_is_null(cfg)) {
        rc = noa_yaml_error(err, cfg, "timestamp stage config cannot be empty");
        goto fail;
    }
    if ((rc = noa__stages_config(&ts_table, &s->c, cfg, err)) < 0)
        goto fail;
    if (!s->c.source || !*s->c.source) {
        rc = noa_yaml_error(err, cfg,
                            "timestamp source value is required if timestamp is specified");
        goto fail;
    }
    if (!s->c.format || !*s->c.format) {
        rc = noa_yaml_error(err, cfg, "timestamp format is required");
        goto fail;
    }
    if (noa_yaml_get(cfg, "location") &&
        noa_gotime_zone_load(s->c.location, &s->zone, &zerr) != 0) {
        rc = noa_yaml_error(err, noa_yaml_get(cfg, "location"), "invalid location specified: %s",
                            zerr.msg);
        goto fail;
    }
    if (strcmp(s->c.action, "fudge") != 0 && strcmp(s->c.action, "skip") != 0) {
        rc = noa_yaml_error(err, noa_yaml_get(cfg, "action_on_failure"),
                            "invalid action on failure (supported values are [skip fudge])");
        goto fail;
    }
    s->fudge_on = strcmp(s->c.action, "fudge") == 0;
    s->formats = noa_xcalloc((size_t)s->c.fallback.n + 1, sizeof(*s->formats));
    for (int i = 0; i <= s->c.fallback.n; i++) {
        const char *f = i == 0 ? s->c.format : s->c.fallback.v[i - 1];
        if (noa_gotime_format_new(f, s->zone, &s->formats[s->n_formats], &zerr) != 0) {
            rc = noa_yaml_error(err, noa_yaml_get(cfg, i ? "fallback_formats" : "format"), "%s",
                                zerr.msg);
            goto fail;
        }
        s->n_formats++;
    }
    *out = &s->base;
    return 0;
fail:
    ts_free(&s->base);
    return rc;
}
