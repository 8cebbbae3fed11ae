/*
 * Retention sweeps (see ingester/retention.h for the algorithm and the
 * marker format). Owns the marker directory and the retention thread; the
 * index and chunk store are borrowed. Runs on its own thread (or the
 * caller's, for noa_retention_run).
 */
#include "ingester/retention.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MARKER_MAGIC "noa-retention-marker 1"
#define MARKER_SUFFIX ".mrk"
#define MARKER_TMP_PREFIX "tmp-"
/* A marker holds at most batch_chunks lines of well under 1 KiB each. */
#define MARKER_MAX_BYTES (64u << 20)

struct noa_retention {
    struct noa_index *idx;     /* borrowed */
    struct noa_chunkstore *cs; /* borrowed */
    char *dir;
    int64_t period_ns, interval_ns, delay_ns;
    int64_t min_period_ns; /* smallest positive period of all (global, rules); 0 = none */
    struct noa_retention_rules rules;
    unsigned batch;

    pthread_mutex_t run_lock; /* held for a whole sweep: sweeps never overlap */
    unsigned seq;             /* marker name suffix; under run_lock */

    pthread_mutex_t lock; /* guards stop, stats and the condition */
    pthread_cond_t cond;  /* signalled by _free */
    pthread_t thread;
    int started, stop;
    struct noa_retention_stats st;

    struct noa_metric_child *m_marked, *m_deleted, *m_bytes, *m_ok, *m_fail, *m_last;
};

/* What one sweep did, merged into the stats at its end. */
struct sweep {
    struct noa_retention *r;
    int64_t now_ns;
    struct noa_error *err;
    uint64_t tenants, marked, deleted, bytes, pending;
    /* mark phase, one tenant-day at a time */
    const char *tenant;
    int64_t cutoff_ns;          /* now - global period; INT64_MIN when it is 0 (keep) */
    struct noa_chunk_ref *refs; /* expired refs of the current batch */
    size_t n, cap;
    int32_t prune_through; /* last day a marked chunk of the tenant covered */
    /* With rules: each stream of the current day and its cutoff, by fp. */
    struct fp_cutoff *fps;
    size_t n_fps, cap_fps;
};

static int stopping(struct noa_retention *r)
{
    pthread_mutex_lock(&r->lock);
    int s = r->stop;
    pthread_mutex_unlock(&r->lock);
    return s;
}

struct fp_cutoff {
    uint64_t fp;
    int64_t cutoff_ns;
};

/* ---- rules ------------------------------------------------------------------------ */

void noa_retention_rules_fini(struct noa_retention_rules *rules)
{
    if (!rules)
        return;
    for (size_t i = 0; i < rules->n; i++)
        noa_selector_fini(&rules->v[i].sel);
    noa_free(rules->v);
    rules->v = NULL;
    rules->n = 0;
}

static int parse_rule(const struct noa_yaml_node *m, struct noa_retention_rule *r,
                      struct noa_error *err)
{
    const struct noa_yaml_node *sel = NULL, *prio = NULL, *period = NULL;
    struct noa_error perr = {0};
    struct noa_buf text = {0};
    if (m->kind != NOA_YAML_MAP)
        return noa_yaml_error(err, m, "cannot unmarshal %s into validation.StreamRetention",
                              noa_yaml_type_name(m));
    for (size_t i = 0; i < m->n; i++) {
        const struct noa_yaml_node *k = m->pairs[i].key, *v = m->pairs[i].value;
        if (strcmp(k->str, "selector") == 0)
            sel = v;
        else if (strcmp(k->str, "priority") == 0)
            prio = v;
        else if (strcmp(k->str, "period") == 0)
            period = v;
        else
            return noa_yaml_error(err, k, "field %s not found in type validation.StreamRetention",
                                  k->str);
    }
    if (prio && !noa_yaml_is_null(prio) && noa_yaml_int64(prio, &r->priority) < 0)
        return noa_yaml_error(err, prio, "cannot unmarshal %s `%s` into int (priority)",
                              noa_yaml_type_name(prio), prio->str ? prio->str : "");
    if (period && !noa_yaml_is_null(period) &&
        (period->kind != NOA_YAML_SCALAR ||
         noa_config_parse_duration(period->str, &r->period_ns) < 0))
        return noa_yaml_error(err, period, "not a valid duration string: \"%s\"",
                              period->str ? period->str : "");
    if (sel && sel->kind != NOA_YAML_SCALAR)
        return noa_yaml_error(err, sel, "cannot unmarshal %s into string (selector)",
                              noa_yaml_type_name(sel));
    if (noa_selector_parse_str(sel && sel->str ? sel->str : "", &r->sel, &perr) < 0)
        return noa_yaml_error(err, sel ? sel : m, "invalid labels matchers: %s", perr.msg);
    if (r->period_ns < 24 * 3600 * 1000000000LL) {
        noa_config_format_mduration(&text, r->period_ns);
        noa_yaml_error(err, period ? period : m, "retention period must be >= 24h was %s",
                       noa_buf_cstr(&text));
        noa_buf_fini(&text);
        noa_selector_fini(&r->sel);
        return NOA_EINVAL;
    }
    return 0;
}

int noa_retention_rules_parse(const struct noa_yaml_node *n, struct noa_retention_rules *out,
                              struct noa_error *err)
{
    memset(out, 0, sizeof(*out));
    if (!n || noa_yaml_is_null(n))
        return 0;
    if (n->kind != NOA_YAML_SEQ)
        return noa_yaml_error(err, n, "cannot unmarshal %s into []validation.StreamRetention",
                              noa_yaml_type_name(n));
    out->v = noa_xcalloc(n->n ? n->n : 1, sizeof(*out->v));
    for (size_t i = 0; i < n->n; i++) {
        int rc = parse_rule(n->items[i], &out->v[i], err);
        if (rc < 0) {
            noa_retention_rules_fini(out);
            return rc;
        }
        out->n++;
    }
    return 0;
}

int64_t noa_retention_period_for(const struct noa_retention_rules *rules, int64_t global_ns,
                                 const struct noa_labels *ls)
{
    const struct noa_retention_rule *best = NULL;
    for (size_t i = 0; rules && i < rules->n; i++) {
        const struct noa_retention_rule *r = &rules->v[i];
        if (!noa_selector_matches(&r->sel, ls))
            continue;
        if (best && (best->priority > r->priority ||
                     (best->priority == r->priority && best->period_ns <= r->period_ns)))
            continue;
        best = r;
    }
    return best ? best->period_ns : global_ns;
}

/* ---- markers ----------------------------------------------------------------- */

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

static void put_hex(struct noa_buf *b, const char *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        noa_buf_putc(b, digits[(unsigned char)p[i] >> 4]);
        noa_buf_putc(b, digits[(unsigned char)p[i] & 15]);
    }
}

/* Writes refs[0..n) of tenant as a durable marker. */
static int write_marker(struct sweep *s)
{
    struct noa_retention *r = s->r;
    struct noa_buf body = {0}, tmp = {0}, path = {0};
    int fd = -1, rc = 0;

    noa_buf_printf(&body, "%s\n", MARKER_MAGIC);
    for (size_t i = 0; i < s->n; i++) {
        const struct noa_chunk_ref *c = &s->refs[i];
        put_hex(&body, s->tenant, strlen(s->tenant));
        noa_buf_printf(&body,
                       " %016" PRIx64 " %" PRId64 " %" PRId64 " %08" PRIx32 " %" PRIu64 " %s\n",
                       c->fp, c->from_ns, c->through_ns, c->checksum, c->compressed_bytes, c->key);
    }
    noa_buf_printf(&tmp, "%s/" MARKER_TMP_PREFIX "%020" PRId64 "-%06u", r->dir, s->now_ns, r->seq);
    fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        goto fail;
    }
    for (size_t off = 0; off < body.len;) {
        ssize_t w = write(fd, body.data + off, body.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = -errno;
            goto fail;
        }
        off += (size_t)w;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        rc = -errno;
        fd = -1;
        goto fail;
    }
    fd = -1;
    /* link() never replaces: a marker of the same name (the same time and
     * sequence after a restart) is kept and the next sequence tried. */
    for (int tries = 0;; tries++) {
        path.len = 0;
        noa_buf_printf(&path, "%s/%020" PRId64 "-%06u" MARKER_SUFFIX, r->dir, s->now_ns, r->seq);
        r->seq = (r->seq + 1) % 1000000;
        if (link(tmp.data, path.data) == 0)
            break;
        if (errno != EEXIST || tries == 1000) {
            rc = -errno;
            goto fail;
        }
    }
    unlink(tmp.data);
    rc = fsync_dir(r->dir);
    if (rc < 0)
        goto fail;
    goto done;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp.data);
    noa_error_set(s->err, rc, "retention: writing marker %s: %s", path.data, noa_strerror(rc));
done:
    noa_buf_fini(&body);
    noa_buf_fini(&tmp);
    noa_buf_fini(&path);
    return rc;
}

static int unhex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Parses one entry line (NUL-terminated, no newline) into ref and tenant. */
static int parse_line(char *line, struct noa_buf *tenant, struct noa_chunk_ref *ref)
{
    char *sp = strchr(line, ' ');
    if (!sp || sp == line || (sp - line) % 2)
        return NOA_ECORRUPT;
    tenant->len = 0;
    for (char *p = line; p < sp; p += 2) {
        int hi = unhex(p[0]), lo = unhex(p[1]);
        if (hi < 0 || lo < 0)
            return NOA_ECORRUPT;
        noa_buf_putc(tenant, (char)(hi << 4 | lo));
    }
    noa_buf_putc(tenant, 0);
    tenant->len--;
    if (memchr(tenant->data, 0, tenant->len))
        return NOA_ECORRUPT;
    memset(ref, 0, sizeof(*ref));
    int used = 0;
    if (sscanf(sp + 1, "%16" SCNx64 " %" SCNd64 " %" SCNd64 " %8" SCNx32 " %" SCNu64 " %n",
               &ref->fp, &ref->from_ns, &ref->through_ns, &ref->checksum, &ref->compressed_bytes,
               &used) != 5 ||
        used == 0)
        return NOA_ECORRUPT;
    const char *key = sp + 1 + used;
    size_t kl = strlen(key);
    if (kl == 0 || kl >= sizeof(ref->key) || !noa_chunkstore_key_valid(key) ||
        ref->from_ns > ref->through_ns)
        return NOA_ECORRUPT;
    memcpy(ref->key, key, kl + 1);
    return 0;
}

static int read_file(const char *path, struct noa_buf *out)
{
    int rc = 0;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto done;
    }
    if ((uint64_t)st.st_size > MARKER_MAX_BYTES) {
        rc = NOA_ETOOBIG;
        goto done;
    }
    out->len = 0;
    noa_buf_reserve(out, (size_t)st.st_size + 1);
    for (;;) {
        ssize_t n = read(fd, out->data + out->len, out->cap - out->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            goto done;
        }
        if (n == 0)
            break;
        out->len += (size_t)n;
        if (out->len > MARKER_MAX_BYTES) {
            rc = NOA_ETOOBIG;
            goto done;
        }
        if (out->len + 1 >= out->cap)
            noa_buf_reserve(out, 4096);
    }
    out->data[out->len] = 0;
done:
    close(fd);
    return rc;
}

/* Deletes a due marker's refs from the index (again), then its files, then
 * the marker itself. */
static int apply_marker(struct sweep *s, const char *path)
{
    struct noa_buf body = {0}, tenant = {0}, group = {0};
    struct noa_chunk_ref *refs = NULL;
    size_t n = 0, cap = 0;
    int rc = read_file(path, &body);
    if (rc < 0) {
        noa_error_set(s->err, rc, "retention: reading marker %s: %s", path, noa_strerror(rc));
        goto done;
    }
    char *p = body.data, *nl = strchr(p, '\n');
    if (!nl || memchr(body.data, 0, body.len) || (size_t)(nl - p) != strlen(MARKER_MAGIC) ||
        memcmp(p, MARKER_MAGIC, nl - p) != 0) {
        rc = NOA_ECORRUPT;
        goto corrupt;
    }
    /* Entries of one tenant are consecutive (one marker holds one tenant). */
    for (p = nl + 1; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        if (!nl) {
            rc = NOA_ECORRUPT;
            goto corrupt;
        }
        *nl = 0;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            refs = noa_xrealloc(refs, cap * sizeof(*refs));
        }
        if ((rc = parse_line(p, &tenant, &refs[n])) < 0)
            goto corrupt;
        if (n == 0) {
            noa_buf_append(&group, tenant.data, tenant.len + 1);
        } else if (strcmp(group.data, tenant.data) != 0) {
            rc = NOA_ECORRUPT;
            goto corrupt;
        }
        n++;
    }
    if (n > 0 && (rc = noa_index_delete_chunks(s->r->idx, group.data, refs, n, s->err)) < 0)
        goto done;
    for (size_t i = 0; i < n; i++) {
        rc = noa_chunkstore_delete(s->r->cs, refs[i].key);
        if (rc == NOA_ENOTFOUND) {
            rc = 0; /* deleted before a crash, or never written */
            continue;
        }
        if (rc < 0) {
            noa_error_set(s->err, rc, "retention: deleting chunk %s: %s", refs[i].key,
                          noa_strerror(rc));
            goto done;
        }
        s->deleted++;
        s->bytes += refs[i].compressed_bytes;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        rc = -errno;
        noa_error_set(s->err, rc, "retention: removing marker %s: %s", path, noa_strerror(rc));
    }
    goto done;
corrupt:
    /* Keep it for inspection but out of the way: retrying cannot help. */
    noa_log(NOA_LOG_ERROR, "compactor", "msg=\"corrupt retention marker set aside\" path=%s", path);
    {
        struct noa_buf bad = {0};
        noa_buf_printf(&bad, "%s.corrupt", path);
        if (rename(path, bad.data) < 0)
            unlink(path);
        noa_buf_fini(&bad);
    }
    rc = 0;
done:
    noa_free(refs);
    noa_buf_fini(&body);
    noa_buf_fini(&tenant);
    noa_buf_fini(&group);
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Applies every marker older than the delete delay, oldest first. */
static int sweep_markers(struct sweep *s)
{
    struct noa_retention *r = s->r;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct noa_buf path = {0};
    int rc = 0;
    DIR *d = opendir(r->dir);
    if (!d) {
        rc = -errno;
        noa_error_set(s->err, rc, "retention: listing %s: %s", r->dir, noa_strerror(rc));
        return rc;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l <= strlen(MARKER_SUFFIX) ||
            strcmp(e->d_name + l - strlen(MARKER_SUFFIX), MARKER_SUFFIX) != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = noa_xrealloc(names, cap * sizeof(*names));
        }
        names[n++] = noa_xstrdup(e->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(*names), name_cmp);
    for (size_t i = 0; i < n; i++) {
        char *end = NULL;
        errno = 0;
        long long created = strtoll(names[i], &end, 10);
        if (errno || end == names[i] || *end != '-')
            continue; /* not ours */
        /* A marker from the future (the clock went back) waits too. */
        if (rc < 0 || stopping(r) || s->now_ns < created || s->now_ns - created < r->delay_ns) {
            s->pending++;
            continue;
        }
        path.len = 0;
        noa_buf_printf(&path, "%s/%s", r->dir, names[i]);
        rc = apply_marker(s, path.data);
        if (rc < 0)
            s->pending++;
    }
    for (size_t i = 0; i < n; i++)
        noa_free(names[i]);
    noa_free(names);
    noa_buf_fini(&path);
    return rc;
}

/* ---- marking ------------------------------------------------------------------- */

/* Records the batch in a marker, then removes its refs from the index. */
static int flush_batch(struct sweep *s)
{
    if (s->n == 0)
        return 0;
    int rc = write_marker(s);
    if (rc == 0)
        rc = noa_index_delete_chunks(s->r->idx, s->tenant, s->refs, s->n, s->err);
    for (size_t i = 0; rc == 0 && i < s->n; i++)
        if (noa_index_day(s->refs[i].through_ns) > s->prune_through)
            s->prune_through = noa_index_day(s->refs[i].through_ns);
    if (rc == 0)
        s->marked += s->n;
    s->n = 0;
    return rc;
}

static int fp_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct fp_cutoff *)a)->fp, y = ((const struct fp_cutoff *)b)->fp;
    return x < y ? -1 : x > y;
}

/* The cutoff of stream fp in the current day. */
static int64_t cutoff_of(const struct sweep *s, uint64_t fp)
{
    if (s->r->rules.n == 0 || s->n_fps == 0)
        return s->cutoff_ns;
    struct fp_cutoff key = {.fp = fp};
    const struct fp_cutoff *f = bsearch(&key, s->fps, s->n_fps, sizeof(key), fp_cmp);
    /* A ref without a series in its day (a damaged index): the global rule. */
    return f ? f->cutoff_ns : s->cutoff_ns;
}

static int stream_cb(uint64_t fp, const struct noa_labels *ls, void *ctx)
{
    struct sweep *s = ctx;
    int64_t period = noa_retention_period_for(&s->r->rules, s->r->period_ns, ls);
    if (s->n_fps == s->cap_fps) {
        s->cap_fps = s->cap_fps ? s->cap_fps * 2 : 256;
        s->fps = noa_xrealloc(s->fps, s->cap_fps * sizeof(*s->fps));
    }
    s->fps[s->n_fps++] = (struct fp_cutoff){fp, period > 0 ? s->now_ns - period : INT64_MIN};
    return 0;
}

/* With rules: the cutoff of every stream of the day, from its labels. */
static int day_cutoffs(struct sweep *s, int32_t day)
{
    s->n_fps = 0;
    if (s->r->rules.n == 0)
        return 0;
    int64_t from = (int64_t)day * NOA_INDEX_DAY_NS;
    int rc = noa_index_series(s->r->idx, s->tenant, from, from + NOA_INDEX_DAY_NS - 1, NULL,
                              stream_cb, s);
    if (rc < 0)
        return noa_error_set(s->err, rc, "retention: listing streams of tenant %s day %d: %s",
                             s->tenant, (int)day, noa_strerror(rc));
    if (s->n_fps > 1)
        qsort(s->fps, s->n_fps, sizeof(*s->fps), fp_cmp);
    return 0;
}

static int collect_cb(const struct noa_chunk_ref *ref, void *ctx)
{
    struct sweep *s = ctx;
    if (ref->through_ns >= cutoff_of(s, ref->fp))
        return 0;
    if (s->n == s->cap)
        return 1; /* batch full: flush, then list the day again */
    s->refs[s->n++] = *ref;
    return 0;
}

/* Marks the expired chunks of one day, then prunes the day's series that
 * have no ref left. */
static int mark_day(struct sweep *s, int32_t day)
{
    uint64_t before = s->marked;
    int rc = day_cutoffs(s, day);
    if (rc < 0)
        return rc;
    for (;;) {
        rc = noa_index_day_chunks(s->r->idx, s->tenant, day, collect_cb, s);
        if (rc < 0) {
            noa_error_set(s->err, rc, "retention: listing chunks of tenant %s day %d: %s",
                          s->tenant, (int)day, noa_strerror(rc));
            return rc;
        }
        int full = rc == 1;
        size_t got = s->n;
        if ((rc = flush_batch(s)) < 0)
            return rc;
        if (!full)
            break;
        if (got == 0 || stopping(s->r))
            return 0; /* nothing could be taken: leave the rest to the next sweep */
    }
    /* Streams whose last ref in this day went lose their series and
     * postings there, as Loki drops series left without chunks. Only in
     * days a marked chunk covered: days kept for long-lived streams are not
     * rescanned every sweep. */
    if (s->marked > before || day <= s->prune_through)
        return noa_index_prune_day(s->r->idx, s->tenant, day, s->err);
    return 0;
}

static int mark_tenant(struct sweep *s)
{
    /* No chunk of a day after the shortest period's cutoff can expire. */
    int32_t cut_day = noa_index_day(s->now_ns - s->r->min_period_ns), day = INT32_MIN, d;
    int rc;
    s->prune_through = INT32_MIN;
    while ((rc = noa_index_next_day(s->r->idx, s->tenant, day, &d)) == 0 && d <= cut_day) {
        if (stopping(s->r))
            return 0;
        if ((rc = mark_day(s, d)) < 0)
            return rc;
        if (d == INT32_MAX)
            return 0;
        day = d + 1;
    }
    if (rc < 0 && rc != NOA_ENOTFOUND) {
        noa_error_set(s->err, rc, "retention: walking days of tenant %s: %s", s->tenant,
                      noa_strerror(rc));
        return rc;
    }
    return 0;
}

struct names {
    char **v;
    size_t n, cap;
};

static int tenant_cb(struct noa_str t, void *ctx)
{
    struct names *ns = ctx;
    if (ns->n == ns->cap) {
        ns->cap = ns->cap ? ns->cap * 2 : 16;
        ns->v = noa_xrealloc(ns->v, ns->cap * sizeof(*ns->v));
    }
    ns->v[ns->n++] = noa_xstrndup(t.p, t.len);
    return 0;
}

static int mark(struct sweep *s)
{
    struct names ns = {0};
    int rc = noa_index_tenants(s->r->idx, tenant_cb, &ns);
    if (rc < 0)
        noa_error_set(s->err, rc, "retention: listing tenants: %s", noa_strerror(rc));
    s->cap = s->r->batch;
    s->refs = noa_xmalloc(s->cap * sizeof(*s->refs));
    for (size_t i = 0; rc == 0 && i < ns.n; i++) {
        s->tenant = ns.v[i];
        s->tenants++;
        rc = mark_tenant(s);
    }
    noa_free(s->refs);
    s->refs = NULL;
    noa_free(s->fps);
    s->fps = NULL;
    for (size_t i = 0; i < ns.n; i++)
        noa_free(ns.v[i]);
    noa_free(ns.v);
    return rc;
}

/* ---- the sweep ------------------------------------------------------------------ */

int noa_retention_run(struct noa_retention *r, int64_t now_ns, struct noa_error *err)
{
    struct sweep s = {.r = r, .now_ns = now_ns, .err = err};
    int64_t t0 = noa_clock_mono_ns();
    int rc = 0;
    pthread_mutex_lock(&r->run_lock);
    /* Loki: a period of 0 disables retention (keep forever). */
    if (r->min_period_ns > 0) {
        s.cutoff_ns = r->period_ns > 0 ? now_ns - r->period_ns : INT64_MIN;
        rc = mark(&s);
    }
    /* Due deletions are finished even when marking failed or retention was
     * switched off: their refs are gone from the index already. */
    int rc2 = sweep_markers(&s);
    if (rc == 0)
        rc = rc2;
    pthread_mutex_unlock(&r->run_lock);

    pthread_mutex_lock(&r->lock);
    r->st.marked_chunks += s.marked;
    r->st.deleted_chunks += s.deleted;
    r->st.deleted_bytes += s.bytes;
    r->st.pending_markers = s.pending;
    if (rc == 0) {
        r->st.sweeps++;
        r->st.last_success_ns = now_ns;
    } else {
        r->st.failures++;
    }
    pthread_mutex_unlock(&r->lock);
    noa_metric_add(r->m_marked, (double)s.marked);
    noa_metric_add(r->m_deleted, (double)s.deleted);
    noa_metric_add(r->m_bytes, (double)s.bytes);
    noa_metric_inc(rc == 0 ? r->m_ok : r->m_fail);
    if (rc == 0)
        noa_metric_set(r->m_last, (double)now_ns / 1e9);
    double secs = (double)(noa_clock_mono_ns() - t0) / 1e9;
    if (rc == 0)
        noa_log(NOA_LOG_INFO, "compactor",
                "msg=\"retention sweep done\" tenants=%" PRIu64 " marked_chunks=%" PRIu64
                " deleted_chunks=%" PRIu64 " deleted_bytes=%" PRIu64 " pending_markers=%" PRIu64
                " duration_seconds=%.3f",
                s.tenants, s.marked, s.deleted, s.bytes, s.pending, secs);
    else
        noa_log(NOA_LOG_ERROR, "compactor",
                "msg=\"retention sweep failed\" marked_chunks=%" PRIu64 " deleted_chunks=%" PRIu64
                " err=\"%s\"",
                s.marked, s.deleted, err && err->msg[0] ? err->msg : noa_strerror(rc));
    return rc;
}

static void *thread_main(void *arg)
{
    struct noa_retention *r = arg;
    for (;;) {
        struct noa_error err = {0};
        noa_retention_run(r, noa_clock_real_ns(), &err);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t at = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec + r->interval_ns;
        ts.tv_sec = at / 1000000000LL;
        ts.tv_nsec = at % 1000000000LL;
        pthread_mutex_lock(&r->lock);
        while (!r->stop && pthread_cond_timedwait(&r->cond, &r->lock, &ts) != ETIMEDOUT)
            ;
        int stop = r->stop;
        pthread_mutex_unlock(&r->lock);
        if (stop)
            return NULL;
    }
}

/* ---- lifecycle ------------------------------------------------------------------- */

static int mkdirs(const char *dir)
{
    char *p = noa_xstrdup(dir);
    int rc = 0;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            rc = -errno;
        *s = '/';
        if (rc < 0)
            break;
    }
    if (rc == 0 && mkdir(p, 0755) < 0 && errno != EEXIST)
        rc = -errno;
    noa_free(p);
    return rc;
}

/* Temporary markers are a crash while writing one: their refs were never
 * deleted from the index (that happens after the rename), so they go. */
static void remove_tmp_markers(const char *dir)
{
    struct noa_buf path = {0};
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, MARKER_TMP_PREFIX, strlen(MARKER_TMP_PREFIX)) != 0)
            continue;
        path.len = 0;
        noa_buf_printf(&path, "%s/%s", dir, e->d_name);
        unlink(path.data);
    }
    closedir(d);
    noa_buf_fini(&path);
}

static void register_metrics(struct noa_retention *r, struct noa_metrics *m)
{
    static const char *const status[] = {"status"};
    static const char *const ok[] = {"success"}, *const fail[] = {"failure"};
    if (!m)
        return;
    r->m_marked = noa_metrics_counter_solo(
        m, "noa_compactor_marked_chunks_total",
        "Chunks retention removed from the index (their files go after the delete delay).");
    r->m_deleted = noa_metrics_counter_solo(m, "noa_compactor_deleted_chunks_total",
                                            "Chunk files deleted by retention.");
    r->m_bytes = noa_metrics_counter_solo(m, "noa_compactor_deleted_bytes_total",
                                          "Bytes of chunk files deleted by retention.");
    struct noa_metric *ops =
        noa_metrics_counter(m, "noa_compactor_apply_retention_operation_total",
                            "Retention sweeps by outcome (success or failure).", 1, status);
    r->m_ok = noa_metric_child(ops, ok);
    r->m_fail = noa_metric_child(ops, fail);
    r->m_last = noa_metrics_gauge_solo(
        m, "noa_compactor_apply_retention_last_successful_run_timestamp_seconds",
        "Unix time of the last successful retention sweep.");
}

int noa_retention_new(struct noa_index *idx, struct noa_chunkstore *cs,
                      const struct noa_retention_options *o, struct noa_retention **out,
                      struct noa_error *err)
{
    struct noa_retention *r = NULL;
    int rc;
    *out = NULL;
    if (!idx || !cs || !o || !o->work_dir || !*o->work_dir || o->period_ns < 0 ||
        o->interval_ns < 0 || o->delete_delay_ns < 0)
        return noa_error_set(err, NOA_EINVAL, "retention: bad options");
    if ((rc = mkdirs(o->work_dir)) < 0)
        return noa_error_set(err, rc, "retention: creating %s: %s", o->work_dir, noa_strerror(rc));
    remove_tmp_markers(o->work_dir);
    r = noa_xcalloc(1, sizeof(*r));
    r->idx = idx;
    r->cs = cs;
    r->dir = noa_xstrdup(o->work_dir);
    r->period_ns = o->period_ns;
    r->interval_ns = o->interval_ns ? o->interval_ns : NOA_RETENTION_DEFAULT_INTERVAL_NS;
    r->delay_ns = o->delete_delay_ns;
    r->batch = o->batch_chunks ? o->batch_chunks : NOA_RETENTION_DEFAULT_BATCH;
    if (o->rules) {
        r->rules = *o->rules;
        memset(o->rules, 0, sizeof(*o->rules));
    }
    r->min_period_ns = r->period_ns;
    for (size_t i = 0; i < r->rules.n; i++)
        if (r->rules.v[i].period_ns > 0 &&
            (r->min_period_ns <= 0 || r->rules.v[i].period_ns < r->min_period_ns))
            r->min_period_ns = r->rules.v[i].period_ns;
    pthread_mutex_init(&r->run_lock, NULL);
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cond, &ca);
    pthread_condattr_destroy(&ca);
    register_metrics(r, o->metrics);
    *out = r;
    return 0;
}

int noa_retention_start(struct noa_retention *r)
{
    if (r->started)
        return 0;
    int rc = pthread_create(&r->thread, NULL, thread_main, r);
    if (rc != 0)
        return -rc;
    r->started = 1;
    return 0;
}

void noa_retention_stats(struct noa_retention *r, struct noa_retention_stats *out)
{
    pthread_mutex_lock(&r->lock);
    *out = r->st;
    pthread_mutex_unlock(&r->lock);
}

void noa_retention_free(struct noa_retention *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = 1;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
    if (r->started)
        pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->run_lock);
    noa_retention_rules_fini(&r->rules);
    noa_free(r->dir);
    noa_free(r);
}
