/*
 * Loki's log volume aggregation (see volume.h). Owns the accumulator: the
 * buckets, the interned group names and one cell per (group, bucket) that
 * holds bytes. Runs on the query worker that serves the request.
 */
#include "querier/volume.h"
#include "common/mem.h"
#include "querier/stats_json.h"
#include "querier/tenants.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MS_NS 1000000LL
#define MAX_BUCKETS 11002u /* Loki's 11000 points, plus alignment at both ends */
/* Cells (group x bucket) one request may hold (~32 bytes each): bounds a
 * query near 128 MB even when max_series is off. */
#define MAX_CELLS 4000000u

struct bucket {
    int64_t qf_ms, qt_ms; /* the range Loki queries for it: whole seconds */
    int64_t ts_ms;        /* the sample's timestamp: the bucket's end */
    uint32_t distinct;    /* names present in it */
};

struct group {
    struct noa_str name;   /* Loki's name: `{a="1"}` or a label name */
    struct noa_str metric; /* its JSON "metric" object */
};

struct cell {
    uint32_t group, bucket;
    uint64_t bytes;
};

/* Per-stream scratch over the buckets. */
struct slot {
    uint64_t kb, entries; /* flushed chunks (KB as the TSDB index keeps it) */
    uint64_t mem;         /* in-memory bytes */
    uint8_t touched, mem_present;
};

struct noa_volume {
    struct noa_arena arena;
    struct bucket *b;
    uint32_t nb;
    uint32_t limit, max_series;
    int by_labels;
    int include_all;         /* `{}` without targetLabels: every label */
    int targets_given;       /* targetLabels was given: group by exactly those */
    struct noa_str *match;   /* the names grouped on (targets or matcher names) */
    uint32_t n_match;
    struct noa_str *need;    /* targets the query does not match on */
    uint32_t n_need;
    int64_t span_from_ns, span_through_ns;

    struct group *groups;
    uint32_t n_groups, cap_groups;
    uint32_t *gtab; /* open addressing: group index + 1, 0 = free */
    uint32_t gcap;

    struct cell *cells;
    uint32_t n_cells, cap_cells;
    uint32_t *ctab; /* open addressing: cell index + 1 */
    uint32_t ccap;

    struct slot *slots;
    uint32_t *touched;
    uint32_t n_touched;
    struct noa_buf scratch;
    uint32_t *gids; /* groups of the stream being added */
    uint32_t cap_gids;
};

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

/* Go's integer division truncates; seconds are taken as time.Unix() does
 * (floor), which is the same for the non-negative times Loki accepts. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t to_sec_ms(int64_t ms)
{
    return floor_div(ms, 1000) * 1000;
}

/* util.GetFactorOfTime: the share of [lo, hi] inside [from, through]. */
static double factor_of_time(int64_t from, int64_t through, int64_t lo, int64_t hi)
{
    if (from > hi || through < lo)
        return 0;
    if (lo == hi)
        return 1;
    int64_t total = hi - lo;
    int64_t lead = from - lo > 0 ? from - lo : 0;
    int64_t trail = hi - through > 0 ? hi - through : 0;
    return (double)(total - (lead + trail)) / (double)total;
}

int noa_volume_new(const struct noa_volume_opts *o, struct noa_volume **out,
                   struct noa_error *err)
{
    int64_t start_ms = floor_div(o->start_ns, MS_NS);
    int64_t end_ms = -floor_div(-o->end_ns, MS_NS); /* RoundToMilliseconds: end rounds up */
    int64_t step_ms = o->step_ns / MS_NS;
    uint32_t nb = 1;
    int64_t aligned = start_ms;
    *out = NULL;
    if (o->step_ns) {
        if (step_ms <= 0)
            return noa_error_set(err, NOA_EINVAL,
                                 "zero or negative query resolution step widths are not "
                                 "accepted. Try a positive integer");
        aligned = start_ms - start_ms % step_ms;
        int64_t n = end_ms > aligned ? (end_ms - aligned + step_ms - 1) / step_ms : 0;
        if (n > (int64_t)MAX_BUCKETS)
            return noa_error_set(err, NOA_EINVAL,
                                 "exceeded maximum resolution of 11,000 points per timeseries. "
                                 "Try decreasing the query resolution (?step=XX)");
        nb = (uint32_t)n;
    }
    struct noa_volume *v = noa_xcalloc(1, sizeof(*v));
    v->nb = nb;
    v->b = noa_xcalloc(nb ? nb : 1, sizeof(*v->b));
    for (uint32_t k = 0; k < nb; k++) {
        int64_t s = start_ms, e = end_ms;
        if (o->step_ns) { /* util.ForInterval with endTimeInclusive */
            int64_t bs = aligned + (int64_t)k * step_ms, ne = bs + step_ms;
            s = k ? bs : start_ms;
            e = ne >= end_ms ? end_ms : ne - 1;
        }
        v->b[k] = (struct bucket){.qf_ms = to_sec_ms(s), .qt_ms = to_sec_ms(e), .ts_ms = e};
    }
    v->span_from_ns = nb ? v->b[0].qf_ms * MS_NS : 0;
    v->span_through_ns = nb ? v->b[nb - 1].qt_ms * MS_NS : -1;
    v->limit = o->limit ? o->limit : NOA_VOLUME_DEFAULT_LIMIT;
    v->max_series = o->max_series;
    v->by_labels = o->by_labels;

    /* util.PrepareLabelsAndMatchers */
    uint32_t n_sel = o->sel ? o->sel->n : 0;
    v->match = noa_arena_alloc(&v->arena, (o->n_targets + n_sel + 1) * sizeof(*v->match));
    v->need = noa_arena_alloc(&v->arena, (o->n_targets + 1) * sizeof(*v->need));
    v->targets_given = o->n_targets > 0;
    if (o->n_targets) {
        for (uint32_t i = 0; i < o->n_targets; i++) {
            struct noa_str t = noa_arena_str(&v->arena, o->targets[i]);
            v->match[v->n_match++] = t;
            int found = 0;
            for (uint32_t m = 0; m < n_sel && !found; m++)
                found = noa_str_eq_c(t, o->sel->m[m].name) &&
                        strcmp(o->sel->m[m].name, NOA_TENANTS_LABEL) != 0;
            if (!found)
                v->need[v->n_need++] = t;
        }
    } else {
        v->include_all = n_sel == 0;
        for (uint32_t m = 0; m < n_sel; m++) {
            if (!o->sel->m[m].name[0] || !strcmp(o->sel->m[m].name, NOA_TENANTS_LABEL))
                continue;
            v->match[v->n_match++] = noa_arena_str(&v->arena, noa_str_c(o->sel->m[m].name));
        }
    }
    v->slots = noa_xcalloc(nb ? nb : 1, sizeof(*v->slots));
    v->touched = noa_xmalloc((nb ? nb : 1) * sizeof(*v->touched));
    v->gcap = 64;
    v->gtab = noa_xcalloc(v->gcap, sizeof(*v->gtab));
    v->ccap = 256;
    v->ctab = noa_xcalloc(v->ccap, sizeof(*v->ctab));
    *out = v;
    return 0;
}

void noa_volume_free(struct noa_volume *v)
{
    if (!v)
        return;
    noa_arena_fini(&v->arena);
    noa_buf_fini(&v->scratch);
    noa_free(v->b);
    noa_free(v->groups);
    noa_free(v->gtab);
    noa_free(v->cells);
    noa_free(v->ctab);
    noa_free(v->slots);
    noa_free(v->touched);
    noa_free(v->gids);
    noa_free(v);
}

void noa_volume_span(const struct noa_volume *v, int64_t *from_ns, int64_t *through_ns)
{
    *from_ns = v->span_from_ns;
    *through_ns = v->span_through_ns;
}

/* ---- groups ---------------------------------------------------------------- */

static void group_rehash(struct noa_volume *v)
{
    uint32_t cap = v->gcap * 2;
    uint32_t *t = noa_xcalloc(cap, sizeof(*t));
    for (uint32_t g = 0; g < v->n_groups; g++) {
        uint64_t h = hash_bytes(v->groups[g].name.p, v->groups[g].name.len);
        uint32_t i = (uint32_t)h & (cap - 1);
        while (t[i])
            i = (i + 1) & (cap - 1);
        t[i] = g + 1;
    }
    noa_free(v->gtab);
    v->gtab = t;
    v->gcap = cap;
}

/* The group named `name` (created with metric JSON `metric` if new). */
static uint32_t group_intern(struct noa_volume *v, struct noa_str name, struct noa_str metric)
{
    uint64_t h = hash_bytes(name.p, name.len);
    uint32_t i = (uint32_t)h & (v->gcap - 1);
    while (v->gtab[i]) {
        uint32_t g = v->gtab[i] - 1;
        if (noa_str_eq(v->groups[g].name, name))
            return g;
        i = (i + 1) & (v->gcap - 1);
    }
    if (v->n_groups == v->cap_groups) {
        v->cap_groups = v->cap_groups ? v->cap_groups * 2 : 16;
        v->groups = noa_xrealloc(v->groups, v->cap_groups * sizeof(*v->groups));
    }
    uint32_t g = v->n_groups++;
    v->groups[g].name = noa_arena_str(&v->arena, name);
    v->groups[g].metric = noa_arena_str(&v->arena, metric);
    v->gtab[i] = g + 1;
    if (v->n_groups * 2 > v->gcap)
        group_rehash(v);
    return g;
}

static int in_list(const struct noa_str *l, uint32_t n, struct noa_str s)
{
    for (uint32_t i = 0; i < n; i++)
        if (noa_str_eq(l[i], s))
            return 1;
    return 0;
}

/* The groups stream ls adds to: its filtered label set, or (by labels)
 * one group per qualifying label name. */
static uint32_t stream_groups(struct noa_volume *v, const struct noa_labels *ls)
{
    uint32_t n = 0;
    if (v->cap_gids < ls->n + 1) {
        v->cap_gids = ls->n + 1;
        v->gids = noa_xrealloc(v->gids, v->cap_gids * sizeof(*v->gids));
    }
    struct noa_buf *s = &v->scratch;
    if (v->by_labels) {
        for (uint32_t i = 0; i < ls->n; i++) {
            struct noa_str name = ls->v[i].name;
            /* TSDBIndex.Volume: with targetLabels only those, else every
             * label but the tenant's. */
            int keep = v->targets_given ? in_list(v->match, v->n_match, name)
                                        : !noa_str_eq_c(name, NOA_TENANTS_LABEL);
            if (!keep)
                continue;
            noa_buf_reset(s);
            noa_buf_putc(s, '{');
            noa_buf_put_json_str(s, name.p, name.len);
            noa_buf_append_str(s, NOA_STR(":\"\"}"));
            v->gids[n++] = group_intern(v, name, (struct noa_str){s->data, s->len});
        }
        return n;
    }
    /* By series: the labels grouped on, as Loki names the series
     * (labels.String()) and as the JSON metric. */
    struct noa_label tmp[64];
    struct noa_label *kept = ls->n <= 64 ? tmp : noa_xmalloc(ls->n * sizeof(*kept));
    uint32_t k = 0;
    for (uint32_t i = 0; i < ls->n; i++) {
        struct noa_str name = ls->v[i].name;
        if ((v->include_all && !noa_str_eq_c(name, NOA_TENANTS_LABEL)) ||
            in_list(v->match, v->n_match, name))
            kept[k++] = ls->v[i];
    }
    struct noa_labels fl = {kept, k};
    noa_buf_reset(s);
    noa_labels_format(&fl, s);
    size_t name_len = s->len;
    noa_buf_putc(s, '{');
    for (uint32_t i = 0; i < k; i++) {
        if (i)
            noa_buf_putc(s, ',');
        noa_buf_put_json_str(s, kept[i].name.p, kept[i].name.len);
        noa_buf_putc(s, ':');
        noa_buf_put_json_str(s, kept[i].value.p, kept[i].value.len);
    }
    noa_buf_putc(s, '}');
    v->gids[n++] = group_intern(v, (struct noa_str){s->data, name_len},
                                (struct noa_str){s->data + name_len, s->len - name_len});
    if (kept != tmp)
        noa_free(kept);
    return n;
}

/* ---- cells ----------------------------------------------------------------- */

static uint64_t cell_key(uint32_t g, uint32_t k)
{
    return ((uint64_t)g << 32) | k;
}

static void cell_rehash(struct noa_volume *v)
{
    uint32_t cap = v->ccap * 2;
    uint32_t *t = noa_xcalloc(cap, sizeof(*t));
    for (uint32_t c = 0; c < v->n_cells; c++) {
        uint32_t i = (uint32_t)hash_u64(cell_key(v->cells[c].group, v->cells[c].bucket)) &
                     (cap - 1);
        while (t[i])
            i = (i + 1) & (cap - 1);
        t[i] = c + 1;
    }
    noa_free(v->ctab);
    v->ctab = t;
    v->ccap = cap;
}

/* Adds bytes to group g in bucket k; a new name in a bucket counts
 * against max_series (seriesvolume.Accumulator.AddVolume). */
static int cell_add(struct noa_volume *v, uint32_t g, uint32_t k, uint64_t bytes,
                    struct noa_error *err)
{
    uint64_t key = cell_key(g, k);
    uint32_t i = (uint32_t)hash_u64(key) & (v->ccap - 1);
    while (v->ctab[i]) {
        struct cell *c = &v->cells[v->ctab[i] - 1];
        if (c->group == g && c->bucket == k) {
            c->bytes += bytes;
            return 0;
        }
        i = (i + 1) & (v->ccap - 1);
    }
    if (v->max_series && v->b[k].distinct + 1 > v->max_series)
        return noa_error_set(err, NOA_EINVAL,
                             "the query hit the max number of series limit (limit: %u series)",
                             v->max_series);
    if (v->n_cells >= MAX_CELLS)
        return noa_error_set(err, NOA_ELIMIT,
                             "volume query too large: more than %u series samples; narrow the "
                             "selector, use targetLabels or a larger step",
                             MAX_CELLS);
    if (v->n_cells == v->cap_cells) {
        v->cap_cells = v->cap_cells ? v->cap_cells * 2 : 64;
        v->cells = noa_xrealloc(v->cells, v->cap_cells * sizeof(*v->cells));
    }
    v->cells[v->n_cells] = (struct cell){.group = g, .bucket = k, .bytes = bytes};
    v->ctab[i] = ++v->n_cells;
    v->b[k].distinct++;
    if (v->n_cells * 2 > v->ccap)
        cell_rehash(v);
    return 0;
}

/* ---- adding a stream --------------------------------------------------------- */

/* The first bucket whose query range ends after t (ranges are ordered). */
static uint32_t first_bucket_after(const struct noa_volume *v, int64_t t_ms)
{
    uint32_t lo = 0, hi = v->nb;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (v->b[mid].qt_ms > t_ms)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static struct slot *touch(struct noa_volume *v, uint32_t k)
{
    struct slot *s = &v->slots[k];
    if (!s->touched) {
        s->touched = 1;
        v->touched[v->n_touched++] = k;
    }
    return s;
}

/* A flushed chunk, as the TSDB index's ChunkStats sees it: times in ms,
 * overlap from <= last && through > first, KB prorated and truncated. */
static void add_flushed(struct noa_volume *v, const struct noa_volume_chunk *c)
{
    int64_t cf = c->from_ns / MS_NS, ct = c->through_ns / MS_NS; /* model.TimeFromUnixNano */
    double kb = round((double)c->bytes / 1024.0);
    for (uint32_t k = first_bucket_after(v, cf); k < v->nb && v->b[k].qf_ms <= ct; k++) {
        double f = factor_of_time(v->b[k].qf_ms, v->b[k].qt_ms, cf, ct);
        struct slot *s = touch(v, k);
        s->kb += (uint32_t)(kb * f);
        s->entries += (uint32_t)((double)c->entries * f);
    }
}

/* In-memory data, as the ingester's getVolume sees its chunks: ns,
 * overlap from < last && through > first, exact bytes prorated. */
static void add_memory(struct noa_volume *v, const struct noa_volume_chunk *c)
{
    int64_t cf = c->from_ns, ct = c->through_ns;
    /* qt_ns > cf  <=>  qt_ms > floor(cf / 1ms) for whole-second qt */
    for (uint32_t k = first_bucket_after(v, floor_div(cf, MS_NS)); k < v->nb; k++) {
        int64_t qf = v->b[k].qf_ms * MS_NS, qt = v->b[k].qt_ms * MS_NS;
        if (qf >= ct)
            break;
        if (!(qt > cf))
            continue;
        double f = factor_of_time(qf, qt, cf, ct);
        touch(v, k)->mem += (uint64_t)((double)c->bytes * f);
    }
}

/* shouldConsiderStream: a stream whose bounds touch the bucket (through >
 * first && from <= last) is reported even with no overlapping chunk. */
static void mark_memory(struct noa_volume *v, int64_t lo, int64_t hi)
{
    for (uint32_t k = first_bucket_after(v, floor_div(lo, MS_NS)); k < v->nb; k++) {
        int64_t qf = v->b[k].qf_ms * MS_NS, qt = v->b[k].qt_ms * MS_NS;
        if (qf > hi)
            break;
        if (qt > lo)
            touch(v, k)->mem_present = 1;
    }
}

int noa_volume_add(struct noa_volume *v, const struct noa_labels *ls,
                   const struct noa_volume_chunk *c, size_t n, struct noa_error *err)
{
    int rc = 0;
    /* targetLabels the query does not match on act as `name=~".+"`. */
    for (uint32_t i = 0; i < v->n_need; i++)
        if (!noa_labels_get(ls, v->need[i]).len)
            return 0;
    int64_t mem_lo = INT64_MAX, mem_hi = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        if (c[i].flushed) {
            add_flushed(v, &c[i]);
            continue;
        }
        add_memory(v, &c[i]);
        mem_lo = c[i].from_ns < mem_lo ? c[i].from_ns : mem_lo;
        mem_hi = c[i].through_ns > mem_hi ? c[i].through_ns : mem_hi;
    }
    if (mem_lo <= mem_hi)
        mark_memory(v, mem_lo, mem_hi);
    uint32_t ng = 0;
    int have_groups = 0;
    for (uint32_t t = 0; t < v->n_touched; t++) {
        uint32_t k = v->touched[t];
        struct slot *s = &v->slots[k];
        if (rc == 0 && (s->entries > 0 || s->mem_present)) {
            if (!have_groups) {
                ng = stream_groups(v, ls);
                have_groups = 1;
            }
            uint64_t bytes = (s->kb << 10) + s->mem;
            for (uint32_t g = 0; rc == 0 && g < ng; g++)
                rc = cell_add(v, v->gids[g], k, bytes, err);
        }
        *s = (struct slot){0};
    }
    v->n_touched = 0;
    return rc;
}

/* ---- the answer -------------------------------------------------------------- */


/* qsort has no context argument; the accumulator is only ever sorted by
 * the one thread that owns it. */
static _Thread_local const struct noa_volume *sort_v;

static int by_bucket_volume(const void *a, const void *b)
{
    const struct cell *x = a, *y = b;
    if (x->bucket != y->bucket)
        return x->bucket < y->bucket ? -1 : 1;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    return noa_str_cmp(sort_v->groups[x->group].name, sort_v->groups[y->group].name);
}

static int by_group_bucket(const void *a, const void *b)
{
    const struct cell *x = a, *y = b;
    if (x->group != y->group)
        return x->group < y->group ? -1 : 1;
    return x->bucket < y->bucket ? -1 : x->bucket > y->bucket;
}

struct series {
    uint32_t group;
    uint32_t first, n; /* its cells */
};

static int by_first_value(const void *a, const void *b)
{
    const struct series *x = a, *y = b;
    uint64_t vx = sort_v->cells[x->first].bytes, vy = sort_v->cells[y->first].bytes;
    if (vx != vy)
        return vx > vy ? -1 : 1;
    return noa_str_cmp(sort_v->groups[x->group].name, sort_v->groups[y->group].name);
}

/* model.Time as JSON: seconds with the milliseconds, trailing zeros cut. */
static void put_time(struct noa_buf *b, int64_t ms)
{
    int64_t sec = floor_div(ms, 1000), frac = ms - sec * 1000;
    noa_buf_printf(b, "%lld", (long long)sec);
    if (frac) {
        char d[4] = {(char)('0' + frac / 100), (char)('0' + frac / 10 % 10),
                     (char)('0' + frac % 10), 0};
        int len = 3;
        while (d[len - 1] == '0')
            len--;
        noa_buf_putc(b, '.');
        noa_buf_append(b, d, (size_t)len);
    }
}

static void put_sample(struct noa_buf *b, const struct noa_volume *v, const struct cell *c)
{
    noa_buf_putc(b, '[');
    put_time(b, v->b[c->bucket].ts_ms);
    noa_buf_printf(b, ",\"%llu\"]", (unsigned long long)c->bytes);
}

void noa_volume_encode(struct noa_volume *v, struct noa_buf *out)
{
    sort_v = v;
    /* Each bucket's own answer: volume descending, name ascending, top
     * `limit` (what every split request of Loki's middleware returns). */
    if (v->n_cells) /* cells is NULL until the first one */
        qsort(v->cells, v->n_cells, sizeof(*v->cells), by_bucket_volume);
    uint32_t kept = 0;
    for (uint32_t i = 0, in_bucket = 0; i < v->n_cells; i++) {
        if (i && v->cells[i].bucket != v->cells[i - 1].bucket)
            in_bucket = 0;
        if (in_bucket++ < v->limit)
            v->cells[kept++] = v->cells[i];
    }
    v->n_cells = kept; /* the hash table is stale from here on */
    if (kept)
        qsort(v->cells, kept, sizeof(*v->cells), by_group_bucket);
    struct series *ss = noa_xmalloc((kept ? kept : 1) * sizeof(*ss));
    uint32_t ns = 0;
    int matrix = 0;
    for (uint32_t i = 0; i < kept; i++) {
        if (!ns || ss[ns - 1].group != v->cells[i].group)
            ss[ns++] = (struct series){.group = v->cells[i].group, .first = i};
        if (++ss[ns - 1].n > 1)
            matrix = 1;
    }
    qsort(ss, ns, sizeof(*ss), by_first_value);
    noa_buf_append_str(out, NOA_STR("{\"status\":\"success\",\"data\":{\"resultType\":"));
    noa_buf_append_str(out, matrix ? NOA_STR("\"matrix\"") : NOA_STR("\"vector\""));
    noa_buf_append_str(out, NOA_STR(",\"result\":["));
    for (uint32_t i = 0; i < ns; i++) {
        if (i)
            noa_buf_putc(out, ',');
        noa_buf_append_str(out, NOA_STR("{\"metric\":"));
        noa_buf_append_str(out, v->groups[ss[i].group].metric);
        if (matrix) {
            noa_buf_append_str(out, NOA_STR(",\"values\":["));
            for (uint32_t j = 0; j < ss[i].n; j++) {
                if (j)
                    noa_buf_putc(out, ',');
                put_sample(out, v, &v->cells[ss[i].first + j]);
            }
            noa_buf_putc(out, ']');
        } else {
            noa_buf_append_str(out, NOA_STR(",\"value\":"));
            put_sample(out, v, &v->cells[ss[i].first]);
        }
        noa_buf_putc(out, '}');
    }
    noa_buf_append_str(out, NOA_STR("],\"stats\":"));
    struct noa_stats_json st = {0};
    noa_stats_json_put(out, &st);
    noa_buf_append_str(out, NOA_STR("}}"));
    noa_free(ss);
    sort_v = NULL;
}
