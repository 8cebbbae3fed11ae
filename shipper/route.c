/*
 * The router (see route.h): entries to every push client, acknowledgement
 * tracking per (source, client, tenant), safe offsets to the commit
 * callback. Owns the clients, the label-set cache, the source table and
 * the stashes. Any thread; one mutex (mu) guards everything but the
 * clients, which have their own locks (their ack callbacks run without
 * them, so mu can be taken there).
 */
#include "shipper/route.h"

#include "common/labels.h"
#include "common/log.h"
#include "common/mem.h"

#include <pthread.h>
#include <stdatomic.h>
#include <xxhash.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define DEF_LABEL_CACHE 4096
#define MAX_TENANT 150
/* Label sets remembered in their entry's own (unsorted) order: a reader
 * feeds runs of lines from one file, and a file's lines carry one or two
 * sets (stream stdout/stderr), so a few slots answer almost every line
 * without sorting or hashing. */
#define LABEL_MEMO 8

struct chan {
    uint16_t client;
    uint32_t tenant; /* index in r->tenants */
    uint64_t added;  /* highest offset added */
    uint64_t acked;  /* highest offset settled */
    int acked_valid; /* acked means something (an ack came, or nothing was
                      * in flight when the channel started) */
};

struct stash_item {
    struct noa_entry e;
    char tenant[MAX_TENANT + 64];
    uint32_t mask;  /* clients that still have to take it */
    uint64_t floor; /* safe bound while it waits */
    int floor_valid;
};

struct source {
    char *key;
    size_t len;
    uint64_t hash;
    struct source *next;
    uint64_t done;
    int done_valid;
    int holding;
    uint64_t hold_from;
    int hold_valid;
    uint64_t committed;
    int committed_valid;
    int dirty, ended;
    struct chan *ch;
    uint32_t n_ch, cap_ch;
    struct stash_item *stash;
    uint32_t n_stash, cap_stash;
};

struct cache_ent {
    uint64_t hash;
    struct noa_labels ls; /* heap copy (noa_labels_dup) */
    char *text;
    size_t text_len;
    int used;
};

/* One remembered label set: the pairs in insertion order, encoded as
 * (name_len, value_len, name, value) runs, and the cache text they map to
 * (borrowed from the cache: every memo is forgotten when the cache is
 * cleared). */
struct label_memo {
    uint32_t n; /* pairs; 0: unused slot */
    struct noa_buf raw;
    const char *text;
    size_t text_len;
};

struct client_slot {
    struct noa_route *r;
    uint16_t idx;
    struct noa_client *c;
};

/*
 * THREAD SAFETY: mu guards sources, tenants, the cache, scratch and stats;
 * cmu serialises commit callbacks (taken before mu, never inside it).
 */
struct noa_route {
    pthread_mutex_t mu, cmu;
    struct client_slot cl[NOA_ROUTE_MAX_CLIENTS];
    size_t n_clients;
    int (*commit)(void *ud, struct noa_str source, uint64_t offset);
    void *commit_ud;
    int stopped;

    struct source **stab;
    size_t scap, sn;

    char **tenants;
    uint32_t n_tenants;

    struct cache_ent *cache;
    size_t cache_cap, cache_n;

    struct label_memo memo[LABEL_MEMO];
    unsigned memo_last, memo_next; /* last hit; slot replaced next */

    /* The source of the last lookup: a reader asks about the same file
     * three times per line (blocked, add, line_done). Cleared when the
     * source is freed. */
    struct source *last_src;
    /* Stashed entries over all sources, so noa_route_blocked answers
     * without the lock in the usual case (written under mu). */
    atomic_size_t n_stashed;

    struct noa_label *meta; /* scratch */
    uint32_t meta_cap;
    struct noa_buf fmt; /* scratch */

    struct noa_stages_sink sink;
    struct noa_route_stats st;
};

/* Lookups that miss the last-source memo hash the key: XXH3, not a byte loop. */
static uint64_t hash_key(const char *p, size_t n)
{
    return XXH3_64bits(p, n);
}

/* ---- sources -------------------------------------------------------------------- */

static struct source *src_find(struct noa_route *r, const char *p, size_t n)
{
    struct source *last = r->last_src;
    if (last && last->len == n && memcmp(last->key, p, n) == 0)
        return last;
    if (!r->scap)
        return NULL;
    uint64_t h = hash_key(p, n);
    for (struct source *s = r->stab[h & (r->scap - 1)]; s; s = s->next)
        if (s->hash == h && s->len == n && memcmp(s->key, p, n) == 0) {
            r->last_src = s;
            return s;
        }
    return NULL;
}

static struct source *src_get(struct noa_route *r, const char *p, size_t n)
{
    struct source *s = src_find(r, p, n);
    if (s)
        return s;
    if (r->sn * 2 >= r->scap) {
        size_t ncap = r->scap ? r->scap * 2 : 64;
        struct source **nt = noa_xcalloc(ncap, sizeof(*nt));
        for (size_t i = 0; i < r->scap; i++) {
            struct source *x = r->stab[i];
            while (x) {
                struct source *nx = x->next;
                x->next = nt[x->hash & (ncap - 1)];
                nt[x->hash & (ncap - 1)] = x;
                x = nx;
            }
        }
        noa_free(r->stab);
        r->stab = nt;
        r->scap = ncap;
    }
    s = noa_xcalloc(1, sizeof(*s));
    s->key = noa_xstrndup(p, n);
    s->len = n;
    s->hash = hash_key(p, n);
    s->next = r->stab[s->hash & (r->scap - 1)];
    r->stab[s->hash & (r->scap - 1)] = s;
    r->sn++;
    r->last_src = s;
    return s;
}

static void src_free(struct noa_route *r, struct source *s)
{
    if (r->last_src == s)
        r->last_src = NULL;
    atomic_fetch_sub_explicit(&r->n_stashed, s->n_stash, memory_order_relaxed);
    for (uint32_t i = 0; i < s->n_stash; i++)
        noa_entry_fini(&s->stash[i].e);
    noa_free(s->stash);
    noa_free(s->ch);
    noa_free(s->key);
    noa_free(s);
}

static uint32_t tenant_idx(struct noa_route *r, const char *t)
{
    for (uint32_t i = 0; i < r->n_tenants; i++)
        if (strcmp(r->tenants[i], t) == 0)
            return i;
    r->tenants = noa_xrealloc(r->tenants, (r->n_tenants + 1) * sizeof(*r->tenants));
    r->tenants[r->n_tenants] = noa_xstrdup(t);
    return r->n_tenants++;
}

/* The lower bound the source's own progress allows (done, or where the
 * held run started). */
static int src_floor(const struct source *s, uint64_t *out)
{
    if (s->holding) {
        *out = s->hold_from;
        return s->hold_valid;
    }
    *out = s->done;
    return s->done_valid;
}

static struct chan *chan_get(struct source *s, uint16_t client, uint32_t tenant)
{
    for (uint32_t i = 0; i < s->n_ch; i++)
        if (s->ch[i].client == client && s->ch[i].tenant == tenant)
            return &s->ch[i];
    if (s->n_ch == s->cap_ch) {
        s->cap_ch = s->cap_ch ? s->cap_ch * 2 : 2;
        s->ch = noa_xrealloc(s->ch, s->cap_ch * sizeof(*s->ch));
    }
    struct chan *c = &s->ch[s->n_ch++];
    memset(c, 0, sizeof(*c));
    c->client = client;
    c->tenant = tenant;
    /* nothing of this channel is in flight yet: it settles what came before */
    c->acked_valid = src_floor(s, &c->acked);
    return c;
}

/* The safe offset: 1 and *out when known. */
static int src_safe(const struct source *s, uint64_t *out)
{
    uint64_t v;
    if (!src_floor(s, &v))
        return 0;
    for (uint32_t i = 0; i < s->n_ch; i++) {
        const struct chan *c = &s->ch[i];
        if (c->added > c->acked || !c->acked_valid) {
            if (!c->acked_valid)
                return 0;
            if (c->acked < v)
                v = c->acked;
        }
    }
    if (s->n_stash) {
        if (!s->stash[0].floor_valid)
            return 0;
        if (s->stash[0].floor < v)
            v = s->stash[0].floor;
    }
    *out = v;
    return 1;
}

static int src_settled(const struct source *s)
{
    if (s->n_stash)
        return 0;
    for (uint32_t i = 0; i < s->n_ch; i++)
        if (s->ch[i].added > s->ch[i].acked)
            return 0;
    return 1;
}

/* ---- labels ---------------------------------------------------------------------- */

/* 1 when m holds exactly l's pairs in l's order. */
static int memo_eq(const struct label_memo *m, const struct noa_kvlist *l)
{
    if (m->n == 0 || m->n != l->n)
        return 0;
    const char *p = m->raw.data;
    for (uint32_t i = 0; i < l->n; i++) {
        struct noa_str nm = noa_kvlist_name(l, i), v = noa_kvlist_value(l, i);
        size_t lens[2];
        memcpy(lens, p, sizeof lens);
        p += sizeof lens;
        if (lens[0] != nm.len || lens[1] != v.len || memcmp(p, nm.p, nm.len) != 0 ||
            memcmp(p + nm.len, v.p, v.len) != 0)
            return 0;
        p += nm.len + v.len;
    }
    return 1;
}

static void memo_put(struct noa_route *r, const struct noa_kvlist *l, struct noa_str text)
{
    if (l->n == 0)
        return; /* n 0 marks a free slot; an empty set is cheap anyway */
    unsigned k = r->memo_next;
    r->memo_next = (k + 1) % LABEL_MEMO;
    struct label_memo *m = &r->memo[k];
    noa_buf_reset(&m->raw);
    for (uint32_t i = 0; i < l->n; i++) {
        struct noa_str nm = noa_kvlist_name(l, i), v = noa_kvlist_value(l, i);
        size_t lens[2] = {nm.len, v.len};
        noa_buf_append(&m->raw, lens, sizeof lens);
        noa_buf_append(&m->raw, nm.p, nm.len);
        noa_buf_append(&m->raw, v.p, v.len);
    }
    m->n = l->n;
    m->text = text.p;
    m->text_len = text.len;
    r->memo_last = k;
}

static void memo_clear(struct noa_route *r)
{
    for (unsigned k = 0; k < LABEL_MEMO; k++)
        r->memo[k].n = 0;
}

/* The formatted label set of e (borrowed until the next call). */
static struct noa_str labels_text(struct noa_route *r, struct noa_entry *e)
{
    /* the usual case: a set seen a few lines ago, in the same order */
    if (memo_eq(&r->memo[r->memo_last], &e->labels))
        return (struct noa_str){r->memo[r->memo_last].text, r->memo[r->memo_last].text_len};
    for (unsigned k = 0; k < LABEL_MEMO; k++) {
        if (k != r->memo_last && memo_eq(&r->memo[k], &e->labels)) {
            r->memo_last = k;
            return (struct noa_str){r->memo[k].text, r->memo[k].text_len};
        }
    }
    struct noa_labels ls;
    noa_kvlist_labels(&e->labels, &ls);
    uint64_t h = noa_labels_hash(&ls);
    size_t cap = r->cache_cap;
    size_t k = h & (cap - 1);
    for (size_t probes = 0; probes < cap && r->cache[k].used; probes++) {
        struct cache_ent *c = &r->cache[k];
        if (c->hash == h && noa_labels_cmp(&c->ls, &ls) == 0) {
            struct noa_str t = {c->text, c->text_len};
            memo_put(r, &e->labels, t);
            return t;
        }
        k = (k + 1) & (cap - 1);
    }
    if (r->cache_n * 4 >= cap * 3) {
        /* full: start over (a label set churn this large is rare, and the
         * cost is one formatting per set) */
        memo_clear(r); /* the memos borrow the texts freed here */
        for (size_t i = 0; i < cap; i++) {
            if (!r->cache[i].used)
                continue;
            noa_free(r->cache[i].ls.v);
            noa_free(r->cache[i].text);
        }
        memset(r->cache, 0, cap * sizeof(*r->cache));
        r->cache_n = 0;
        k = h & (cap - 1);
    }
    struct cache_ent *c = &r->cache[k];
    noa_buf_reset(&r->fmt);
    noa_labels_format(&ls, &r->fmt);
    c->used = 1;
    c->hash = h;
    c->ls = noa_labels_dup(&ls);
    c->text = noa_xstrndup(r->fmt.data ? r->fmt.data : "", r->fmt.len);
    c->text_len = r->fmt.len;
    r->cache_n++;
    struct noa_str t = {c->text, c->text_len};
    memo_put(r, &e->labels, t);
    return t;
}

/* ---- adding --------------------------------------------------------------------- */

/* Offers e to client i. Returns as noa_client_add. */
static int offer(struct noa_route *r, struct source *s, uint16_t i, struct noa_entry *e,
                 const char *tenant)
{
    if (r->meta_cap < e->meta.n) {
        r->meta_cap = e->meta.n;
        r->meta = noa_xrealloc(r->meta, r->meta_cap * sizeof(*r->meta));
    }
    for (uint32_t k = 0; k < e->meta.n; k++) {
        r->meta[k].name = noa_kvlist_name(&e->meta, k);
        r->meta[k].value = noa_kvlist_value(&e->meta, k);
    }
    struct noa_client_entry ce = {
        .tenant = tenant,
        .labels = labels_text(r, e),
        .ts_ns = e->ts_ns,
        .line = {e->line.data ? e->line.data : "", e->line.len},
        .meta = e->meta.n ? r->meta : NULL,
        .n_meta = e->meta.n,
        .source = {s->key, s->len},
        .offset = e->offset,
    };
    int rc = noa_client_add(r->cl[i].c, &ce);
    if (rc == 0) {
        struct chan *c = chan_get(s, i, tenant_idx(r, tenant));
        if (e->offset > c->added)
            c->added = e->offset;
    } else if (rc != NOA_ELIMIT) {
        r->st.rejected++;
        noa_log(NOA_LOG_WARN, "route", "msg=\"entry refused by client\" source=%.*s err=\"%s\"",
                (int)s->len, s->key, noa_strerror(rc));
    }
    return rc;
}

/* Retries s's stash in order; a client that refuses again keeps its later
 * items too (order per client is kept). */
static void stash_retry(struct noa_route *r, struct source *s)
{
    uint32_t blocked = 0;
    for (uint32_t k = 0; k < s->n_stash; k++) {
        struct stash_item *it = &s->stash[k];
        for (uint16_t i = 0; i < r->n_clients; i++) {
            if (!(it->mask & (1u << i)) || (blocked & (1u << i)))
                continue;
            if (offer(r, s, i, &it->e, it->tenant) == NOA_ELIMIT)
                blocked |= 1u << i;
            else
                it->mask &= ~(1u << i);
        }
    }
    uint32_t w = 0;
    for (uint32_t k = 0; k < s->n_stash; k++) {
        if (s->stash[k].mask == 0) {
            noa_entry_fini(&s->stash[k].e);
            atomic_fetch_sub_explicit(&r->n_stashed, 1, memory_order_relaxed);
            continue;
        }
        if (w != k)
            s->stash[w] = s->stash[k];
        w++;
    }
    s->n_stash = w;
    s->dirty = 1;
}

int noa_route_add(struct noa_route *r, struct noa_entry *e)
{
    char tenant[MAX_TENANT + 64];
    struct noa_str tv;
    tenant[0] = '\0';
    if (noa_kvlist_get(&e->labels, noa_str_c(NOA_ENTRY_TENANT_LABEL), &tv)) {
        size_t n = tv.len < sizeof tenant - 1 ? tv.len : sizeof tenant - 1;
        memcpy(tenant, tv.p, n);
        tenant[n] = '\0';
        noa_kvlist_del(&e->labels, noa_str_c(NOA_ENTRY_TENANT_LABEL));
    }
    pthread_mutex_lock(&r->mu);
    if (r->stopped) {
        pthread_mutex_unlock(&r->mu);
        return NOA_EUNAVAIL;
    }
    struct source *s = src_get(r, e->source.data ? e->source.data : "", e->source.len);
    s->ended = 0;
    s->dirty = 1;
    uint32_t queued = 0; /* clients with stashed items: this entry queues behind them */
    for (uint32_t k = 0; k < s->n_stash; k++)
        queued |= s->stash[k].mask;
    uint32_t refused = 0;
    for (uint16_t i = 0; i < r->n_clients; i++) {
        if (queued & (1u << i)) {
            refused |= 1u << i;
            continue;
        }
        if (offer(r, s, i, e, tenant) == NOA_ELIMIT)
            refused |= 1u << i;
        else
            r->st.added++;
    }
    int rc = 0;
    if (refused) {
        if (s->n_stash == s->cap_stash) {
            s->cap_stash = s->cap_stash ? s->cap_stash * 2 : 4;
            s->stash = noa_xrealloc(s->stash, s->cap_stash * sizeof(*s->stash));
        }
        struct stash_item *it = &s->stash[s->n_stash++];
        noa_entry_init(&it->e);
        noa_entry_copy(&it->e, e);
        snprintf(it->tenant, sizeof it->tenant, "%s", tenant);
        it->mask = refused;
        it->floor_valid = src_floor(s, &it->floor);
        atomic_fetch_add_explicit(&r->n_stashed, 1, memory_order_relaxed);
        r->st.stashed++;
        rc = NOA_ELIMIT;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

void noa_route_line_done(struct noa_route *r, struct noa_str source, uint64_t offset, int holding)
{
    pthread_mutex_lock(&r->mu);
    struct source *s = src_get(r, source.p ? source.p : "", source.len);
    s->ended = 0;
    if (holding && !s->holding) {
        /* the held run starts with this line: everything before it is done */
        s->hold_from = s->done;
        /* nothing done before in this process: the bound is unknown and
         * nothing is committed until the hold ends */
        s->hold_valid = s->done_valid;
    }
    s->holding = holding;
    if (!s->done_valid || offset > s->done)
        s->done = offset;
    s->done_valid = 1;
    s->dirty = 1;
    pthread_mutex_unlock(&r->mu);
}

void noa_route_refresh_holds(struct noa_route *r, int (*holding)(void *ud, struct noa_str source),
                             void *ud)
{
    struct noa_buf keys = {0};
    size_t *lens = NULL, n = 0, cap = 0;
    pthread_mutex_lock(&r->mu);
    for (size_t b = 0; b < r->scap; b++) {
        for (struct source *s = r->stab[b]; s; s = s->next) {
            if (!s->holding)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                lens = noa_xrealloc(lens, cap * sizeof(*lens));
            }
            lens[n++] = s->len;
            noa_buf_append(&keys, s->key, s->len);
        }
    }
    pthread_mutex_unlock(&r->mu);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        struct noa_str key = {keys.data + off, lens[i]};
        off += lens[i];
        if (holding(ud, key))
            continue;
        pthread_mutex_lock(&r->mu);
        struct source *s = src_find(r, key.p, key.len);
        if (s) {
            s->holding = 0;
            s->dirty = 1;
        }
        pthread_mutex_unlock(&r->mu);
    }
    noa_free(lens);
    noa_buf_fini(&keys);
}

int noa_route_blocked(struct noa_route *r, struct noa_str source)
{
    /* Nothing stashed anywhere: nothing to retry, nothing blocked. A
     * source is stashed into only by the reader that feeds it, which is
     * the caller, so a stale zero cannot hide its own stash. */
    if (atomic_load_explicit(&r->n_stashed, memory_order_relaxed) == 0)
        return 0;
    pthread_mutex_lock(&r->mu);
    struct source *s = src_find(r, source.p ? source.p : "", source.len);
    int blocked = 0;
    if (s && s->n_stash) {
        stash_retry(r, s);
        blocked = s->n_stash > 0;
    }
    pthread_mutex_unlock(&r->mu);
    return blocked;
}

void noa_route_source_end(struct noa_route *r, struct noa_str source)
{
    pthread_mutex_lock(&r->mu);
    struct source *s = src_find(r, source.p ? source.p : "", source.len);
    if (s) {
        s->ended = 1;
        s->dirty = 1;
    }
    pthread_mutex_unlock(&r->mu);
}

/* ---- acks and commits ------------------------------------------------------------- */

static void on_ack(void *ud, const char *tenant, int status, const struct noa_client_ack *acks,
                   size_t n)
{
    struct client_slot *cs = ud;
    struct noa_route *r = cs->r;
    (void)status; /* a batch dropped for good is settled too (see route.h) */
    pthread_mutex_lock(&r->mu);
    uint32_t ti = tenant_idx(r, tenant ? tenant : "");
    for (size_t i = 0; i < n; i++) {
        struct source *s = src_find(r, acks[i].source.p, acks[i].source.len);
        if (!s)
            continue;
        for (uint32_t k = 0; k < s->n_ch; k++) {
            struct chan *c = &s->ch[k];
            if (c->client != cs->idx || c->tenant != ti)
                continue;
            if (!c->acked_valid || acks[i].offset > c->acked)
                c->acked = acks[i].offset;
            c->acked_valid = 1;
            s->dirty = 1;
        }
    }
    pthread_mutex_unlock(&r->mu);
}

struct pending_commit {
    size_t key_off, key_len;
    uint64_t offset;
};

static void commit_all(struct noa_route *r, int retry_stash)
{
    struct noa_buf keys = {0};
    struct pending_commit *pc = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&r->cmu);
    pthread_mutex_lock(&r->mu);
    for (size_t b = 0; b < r->scap; b++) {
        struct source **pp = &r->stab[b];
        while (*pp) {
            struct source *s = *pp;
            if (retry_stash && s->n_stash && !r->stopped)
                stash_retry(r, s);
            uint64_t safe;
            if (s->dirty && src_safe(s, &safe) && (!s->committed_valid || safe > s->committed)) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 16;
                    pc = noa_xrealloc(pc, cap * sizeof(*pc));
                }
                pc[n].key_off = keys.len;
                pc[n].key_len = s->len;
                pc[n].offset = safe;
                noa_buf_append(&keys, s->key, s->len);
                n++;
                s->committed = safe;
                s->committed_valid = 1;
            }
            s->dirty = 0;
            if (s->ended && src_settled(s)) {
                *pp = s->next;
                src_free(r, s);
                r->sn--;
                continue;
            }
            pp = &s->next;
        }
    }
    r->st.commits += n;
    pthread_mutex_unlock(&r->mu);
    for (size_t i = 0; i < n && r->commit; i++)
        r->commit(r->commit_ud, (struct noa_str){keys.data + pc[i].key_off, pc[i].key_len},
                  pc[i].offset);
    pthread_mutex_unlock(&r->cmu);
    noa_free(pc);
    noa_buf_fini(&keys);
}

void noa_route_tick(struct noa_route *r)
{
    commit_all(r, 1);
}

int noa_route_safe(struct noa_route *r, struct noa_str source, uint64_t *offset)
{
    pthread_mutex_lock(&r->mu);
    struct source *s = src_find(r, source.p, source.len);
    int rc = s && src_safe(s, offset) ? 0 : NOA_ENOTFOUND;
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* ---- lifecycle -------------------------------------------------------------------- */

static void sink_fn(struct noa_stages_sink *self, struct noa_entry *e)
{
    struct noa_route *r = (struct noa_route *)((char *)self - offsetof(struct noa_route, sink));
    (void)noa_route_add(r, e); /* NOA_ELIMIT: stashed; the reader checks noa_route_blocked */
}

int noa_route_new(const struct noa_route_config *cfg, struct noa_route **out)
{
    struct noa_route *r = noa_xcalloc(1, sizeof(*r));
    int rc = 0;
    *out = NULL;
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->cmu, NULL);
    r->commit = cfg->commit;
    r->commit_ud = cfg->commit_ud;
    r->sink.fn = sink_fn;
    size_t cc = cfg->label_cache ? cfg->label_cache : DEF_LABEL_CACHE;
    r->cache_cap = 16;
    while (r->cache_cap < cc)
        r->cache_cap *= 2;
    r->cache = noa_xcalloc(r->cache_cap, sizeof(*r->cache));
    if (cfg->n_clients == 0 || cfg->n_clients > NOA_ROUTE_MAX_CLIENTS) {
        rc = NOA_EINVAL;
        goto fail;
    }
    for (size_t i = 0; i < cfg->n_clients; i++) {
        struct noa_client_config cc2 = cfg->clients[i];
        r->cl[i].r = r;
        r->cl[i].idx = (uint16_t)i;
        cc2.ack = on_ack;
        cc2.ack_ud = &r->cl[i];
        cc2.room = cfg->room;
        cc2.room_ud = cfg->room_ud;
        rc = noa_client_new(&cc2, &r->cl[i].c);
        if (rc < 0)
            goto fail;
        r->n_clients++;
    }
    *out = r;
    return 0;
fail:
    noa_route_free(r);
    return rc;
}

int noa_route_stop(struct noa_route *r, int64_t drain_ms)
{
    int rc = 0;
    pthread_mutex_lock(&r->mu);
    int was = r->stopped;
    r->stopped = 1;
    pthread_mutex_unlock(&r->mu);
    if (was)
        return 0;
    for (size_t i = 0; i < r->n_clients; i++)
        noa_client_flush(r->cl[i].c);
    for (size_t i = 0; i < r->n_clients; i++) {
        int x = noa_client_stop(r->cl[i].c, drain_ms);
        if (x < 0)
            rc = x;
    }
    commit_all(r, 0);
    return rc;
}

struct noa_client *noa_route_client(struct noa_route *r, size_t i)
{
    return i < r->n_clients ? r->cl[i].c : NULL;
}

struct noa_stages_sink *noa_route_sink(struct noa_route *r)
{
    return &r->sink;
}

void noa_route_stats(struct noa_route *r, struct noa_route_stats *out)
{
    pthread_mutex_lock(&r->mu);
    *out = r->st;
    out->sources = r->sn;
    pthread_mutex_unlock(&r->mu);
}

void noa_route_free(struct noa_route *r)
{
    if (!r)
        return;
    if (r->n_clients)
        noa_route_stop(r, 0);
    for (size_t i = 0; i < r->n_clients; i++)
        noa_client_free(r->cl[i].c);
    for (size_t b = 0; b < r->scap; b++) {
        struct source *s = r->stab[b];
        while (s) {
            struct source *nx = s->next;
            src_free(r, s);
            s = nx;
        }
    }
    noa_free(r->stab);
    for (uint32_t i = 0; i < r->n_tenants; i++)
        noa_free(r->tenants[i]);
    noa_free(r->tenants);
    for (size_t i = 0; i < r->cache_cap; i++) {
        if (!r->cache[i].used)
            continue;
        noa_free(r->cache[i].ls.v);
        noa_free(r->cache[i].text);
    }
    noa_free(r->cache);
    for (unsigned k = 0; k < LABEL_MEMO; k++)
        noa_buf_fini(&r->memo[k].raw);
    noa_free(r->meta);
    noa_buf_fini(&r->fmt);
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_destroy(&r->cmu);
    noa_free(r);
}
