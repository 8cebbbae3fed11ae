/*
 * The shipper's run-time assembly (see shipper.h): readers, pipelines,
 * router, positions and the controller thread that ticks them.
 *
 * Each reader thread (the tailer, every journal target, every push
 * receiver) has its own compiled pipeline per scrape config, a `struct
 * reader`, because stages keep per-stream state. The controller thread
 * ticks the router (stash retries, position commits), saves positions and
 * runs discovery.
 */
#include "shipper/shipper.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "shipper/discovery.h"
#include "shipper/journal.h"
#include "shipper/pushrecv.h"
#include "shipper/relabel.h"
#include "shipper/route.h"
#include "shipper/stage.h"
#include "shipper/tailer.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CONTROLLER_TICK_NS (100LL * 1000000LL)

struct noa_shipper;

/* A source a stage still holds lines of, and the offset of its last line:
 * once the stage lets go, the router hears the line is done. */
struct held {
    char *source;
    uint64_t offset;
};

/* One reader thread's pipeline for one scrape config. */
struct reader {
    struct noa_shipper *s;
    struct scrape_rt *rt;
    struct noa_stages *stages;
    struct held *held;
    size_t n_held, cap_held;
    struct noa_relabel_scratch relabel; /* journal and push readers */
};

struct scrape_rt {
    const struct noa_shipper_scrape_config *sc;
    struct noa_discovery *disc; /* NULL without file discovery */
    struct noa_discovery_targets targets;
    struct reader tail;          /* stages NULL without file discovery */
    struct reader jrd;
    struct noa_journal *journal; /* NULL without `journal:` */
    struct reader prd;
    struct noa_pushrecv *push;   /* NULL without `loki_push_api:` */
};

/* limits_config readline_rate: one token bucket for every reader. */
struct ratelimit {
    pthread_mutex_t mu;
    double tokens, rate, burst;
    int64_t last_ns;
};

struct noa_shipper {
    struct noa_shipper_options opts;
    const struct noa_shipper_config *cfg;
    struct noa_positions *pos;
    struct noa_route *route;      /* NULL in dry-run */
    struct noa_tailer *tailer;    /* NULL without file targets */
    struct scrape_rt *rt;
    size_t n_rt;
    struct noa_stages_sink dry_sink;
    struct noa_stages_sink *sink;
    pthread_mutex_t dry_mu;
    struct noa_entry tail_entry; /* the tailer thread's entry */
    /* The labels of the file read last, as a list (tailer thread): lines
     * come in runs per file, so most lines copy this list in one go
     * instead of appending each label. */
    struct noa_kvlist tail_labels;
    struct ratelimit rl;
    int rate_enabled;
    /* controller */
    pthread_t ctl;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int started, stopping, stopped;
    int64_t next_discovery_ns;
    atomic_uint_fast64_t read_lines, read_bytes, rate_limited, targets_active;
    atomic_uint_fast64_t pos_saves, pos_save_errors;
    atomic_int discovered_once;
};

/* ---- entries through pipelines ----------------------------------------------- */

static void held_note(struct reader *rd, struct noa_str src, uint64_t offset, int holding)
{
    for (size_t i = 0; i < rd->n_held; i++) {
        if (strlen(rd->held[i].source) == src.len && !memcmp(rd->held[i].source, src.p, src.len)) {
            if (holding) {
                rd->held[i].offset = offset;
            } else {
                noa_free(rd->held[i].source);
                rd->held[i] = rd->held[--rd->n_held];
            }
            return;
        }
    }
    if (!holding)
        return;
    if (rd->n_held == rd->cap_held) {
        rd->cap_held = rd->cap_held ? rd->cap_held * 2 : 8;
        rd->held = noa_xrealloc(rd->held, rd->cap_held * sizeof(*rd->held));
    }
    char *copy = noa_xmalloc(src.len + 1);
    memcpy(copy, src.p, src.len);
    copy[src.len] = 0;
    rd->held[rd->n_held++] = (struct held){copy, offset};
}

/* Sources whose held lines a stage released (tick, flush): their last
 * line is done now. */
static void held_check(struct reader *rd)
{
    for (size_t i = 0; i < rd->n_held;) {
        if (noa_stages_holding(rd->stages, rd->held[i].source)) {
            i++;
            continue;
        }
        if (rd->s->route)
            noa_route_line_done(rd->s->route, noa_str_c(rd->held[i].source), rd->held[i].offset,
                                0);
        noa_free(rd->held[i].source);
        rd->held[i] = rd->held[--rd->n_held];
    }
}

static void held_free(struct reader *rd)
{
    for (size_t i = 0; i < rd->n_held; i++)
        noa_free(rd->held[i].source);
    noa_free(rd->held);
    rd->held = NULL;
    rd->n_held = rd->cap_held = 0;
}

/* Runs one input line through the reader's pipeline and tells the router
 * the line is done (src must be NUL-terminated at src.len). */
static void run_entry(struct reader *rd, struct noa_entry *e, struct noa_str src,
                      uint64_t offset, int64_t now_ns)
{
    struct noa_shipper *s = rd->s;
    noa_stages_run(rd->stages, e, s->sink, now_ns);
    if (!s->route)
        return;
    int holding = noa_stages_holding(rd->stages, src.p);
    noa_route_line_done(s->route, src, offset, holding);
    if (holding || rd->n_held)
        held_note(rd, src, offset, holding);
}

/* limits_config.readline_rate: 0 to go on, 1 to drop the line, NOA_ELIMIT
 * to pause the source (readline_rate_drop: false). */
static int rate_check(struct noa_shipper *s, int64_t now_ns)
{
    if (!s->rate_enabled)
        return 0;
    struct ratelimit *rl = &s->rl;
    pthread_mutex_lock(&rl->mu);
    double dt = (double)(now_ns - rl->last_ns) / 1e9;
    rl->last_ns = now_ns;
    if (dt > 0)
        rl->tokens = rl->tokens + dt * rl->rate > rl->burst ? rl->burst : rl->tokens + dt * rl->rate;
    int ok = rl->tokens >= 1.0;
    if (ok)
        rl->tokens -= 1.0;
    pthread_mutex_unlock(&rl->mu);
    if (ok)
        return 0;
    if (s->cfg->limits.readline_rate_drop) {
        atomic_fetch_add(&s->rate_limited, 1);
        return 1;
    }
    return NOA_ELIMIT;
}

/* ---- the tailer's callbacks (reader thread) ------------------------------------ */

/* 1 when l holds exactly the labels v[0..n) in that order. Compared by
 * content, not by the file's pointer: a released file's memory may be
 * reused by another file. */
static int labels_same(const struct noa_kvlist *l, const struct noa_label *v, uint32_t n)
{
    if (l->n != n)
        return 0;
    for (uint32_t i = 0; i < n; i++)
        if (!noa_str_eq(noa_kvlist_name(l, i), v[i].name) ||
            !noa_str_eq(noa_kvlist_value(l, i), v[i].value))
            return 0;
    return 1;
}

static int tail_on_line(void *ud, const struct noa_tailer_file *f, struct noa_str line,
                        uint64_t offset, int64_t read_ns)
{
    struct noa_shipper *s = ud;
    struct reader *rd = f->user;
    struct noa_str src = {f->path, f->path_len};
    if (s->route && noa_route_blocked(s->route, src))
        return NOA_ELIMIT;
    int rc = rate_check(s, read_ns);
    if (rc == NOA_ELIMIT)
        return rc;
    /* one writer (the tailer thread): no locked add per line */
    atomic_store_explicit(&s->read_lines,
                          atomic_load_explicit(&s->read_lines, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(&s->read_bytes,
                          atomic_load_explicit(&s->read_bytes, memory_order_relaxed) + line.len,
                          memory_order_relaxed);
    if (rc == 1) {
        if (s->route)
            noa_route_line_done(s->route, src, offset, noa_stages_holding(rd->stages, f->path));
        return 0;
    }
    struct noa_entry *e = &s->tail_entry;
    noa_entry_reset(e);
    if (!labels_same(&s->tail_labels, f->labels, f->n_labels)) {
        noa_kvlist_reset(&s->tail_labels);
        for (uint32_t i = 0; i < f->n_labels; i++)
            noa_kvlist_append(&s->tail_labels, f->labels[i].name, f->labels[i].value);
    }
    noa_kvlist_copy(&e->labels, &s->tail_labels);
    if (line.len)
        noa_buf_append(&e->line, line.p, line.len);
    noa_buf_append(&e->source, f->path, f->path_len);
    e->offset = offset;
    e->ts_ns = read_ns;
    run_entry(rd, e, src, offset, read_ns);
    return 0;
}

static int tail_can_read(void *ud, const struct noa_tailer_file *f)
{
    struct noa_shipper *s = ud;
    return !s->route || !noa_route_blocked(s->route, (struct noa_str){f->path, f->path_len});
}

static void tail_on_file_done(void *ud, const struct noa_tailer_file *f)
{
    struct noa_shipper *s = ud;
    struct reader *rd = f->user;
    if (!rd || !rd->stages)
        return;
    noa_stages_flush(rd->stages, f->path, s->sink);
    held_check(rd);
    if (s->route) {
        struct noa_str src = {f->path, f->path_len};
        noa_route_line_done(s->route, src, 0, 0); /* nothing is held any more */
        noa_route_source_end(s->route, src);
    }
}

static void tail_on_tick(void *ud, int64_t now_ns)
{
    struct noa_shipper *s = ud;
    (void)now_ns;
    int64_t real = noa_clock_real_ns();
    for (size_t i = 0; i < s->n_rt; i++) {
        struct reader *rd = &s->rt[i].tail;
        if (!rd->stages)
            continue;
        noa_stages_tick(rd->stages, real, s->sink);
        if (rd->n_held)
            held_check(rd);
    }
}

/* ---- journal and push receivers (their own threads) ------------------------------ */

/* Relabels an entry of a journal or push target as Promtail does: the
 * scrape config's relabel_configs, then every "__" label goes. Returns 0
 * when the entry is dropped (by a rule, or no label left). */
static int relabel_entry(struct reader *rd, struct noa_entry *e)
{
    if (!noa_relabel_apply(rd->rt->sc->relabel, &e->labels, &rd->relabel))
        return 0;
    for (uint32_t i = e->labels.n; i-- > 0;) {
        struct noa_str n = noa_kvlist_name(&e->labels, i);
        if (n.len >= 2 && n.p[0] == '_' && n.p[1] == '_')
            noa_kvlist_del(&e->labels, n);
    }
    return e->labels.n > 0;
}

static int source_emit(struct reader *rd, struct noa_entry *e, const char *source)
{
    struct noa_shipper *s = rd->s;
    struct noa_str src = noa_str_c(source);
    if (s->route && noa_route_blocked(s->route, src))
        return NOA_ELIMIT;
    int64_t now = noa_clock_real_ns();
    int rc = rate_check(s, now);
    if (rc == NOA_ELIMIT)
        return rc;
    uint64_t offset = e->offset;
    if (rc == 1 || !relabel_entry(rd, e)) {
        if (s->route)
            noa_route_line_done(s->route, src, offset, noa_stages_holding(rd->stages, source));
        return 0;
    }
    noa_buf_reset(&e->source);
    noa_buf_append(&e->source, src.p, src.len);
    run_entry(rd, e, src, offset, now);
    return 0;
}

static int journal_emit(struct noa_entry *e, void *ctx)
{
    struct reader *rd = ctx;
    return source_emit(rd, e, noa_journal_source(rd->rt->journal));
}

static int push_emit(struct noa_entry *e, void *ctx)
{
    struct reader *rd = ctx;
    return source_emit(rd, e, noa_pushrecv_source(rd->rt->push));
}

static void reader_tick(int64_t now_ns, void *ctx)
{
    struct reader *rd = ctx;
    (void)now_ns;
    noa_stages_tick(rd->stages, noa_clock_real_ns(), rd->s->sink);
    if (rd->n_held)
        held_check(rd);
}

static void journal_flush(void *ctx)
{
    struct reader *rd = ctx;
    noa_stages_flush(rd->stages, NULL, rd->s->sink);
    held_check(rd);
}

/* ---- dry run ------------------------------------------------------------------- */

/* Promtail's -dry-run line: time (Go's 2006-01-02T15:04:05.999999999-0700,
 * local zone), labels, line, separated by tabs. */
static void dry_print(struct noa_stages_sink *self, struct noa_entry *e)
{
    struct noa_shipper *s = (struct noa_shipper *)((char *)self - offsetof(struct noa_shipper, dry_sink));
    struct noa_buf b = {0};
    time_t secs = (time_t)(e->ts_ns / 1000000000LL);
    long nanos = (long)(e->ts_ns % 1000000000LL);
    if (nanos < 0) {
        nanos += 1000000000L;
        secs--;
    }
    struct tm tm;
    localtime_r(&secs, &tm);
    char date[64], zone[16];
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    strftime(zone, sizeof(zone), "%z", &tm);
    noa_buf_printf(&b, "%s", date);
    if (nanos) {
        /* Go's .999999999: trailing zeros go (nanos != 0 keeps a digit). */
        int digits = 9;
        long v = nanos;
        while (v % 10 == 0) {
            v /= 10;
            digits--;
        }
        noa_buf_printf(&b, ".%0*ld", digits, v);
    }
    noa_buf_printf(&b, "%s\t", zone);
    noa_kvlist_format(&e->labels, &b);
    noa_buf_putc(&b, '\t');
    noa_buf_append(&b, e->line.data, e->line.len);
    noa_buf_putc(&b, '\n');
    pthread_mutex_lock(&s->dry_mu);
    fwrite(b.data, 1, b.len, s->opts.dry_out ? s->opts.dry_out : stdout);
    fflush(s->opts.dry_out ? s->opts.dry_out : stdout);
    pthread_mutex_unlock(&s->dry_mu);
    noa_buf_fini(&b);
}

/* ---- positions commits (controller thread, from noa_route_tick) ------------------ */

static int has_prefix(struct noa_str s, const char *p)
{
    size_t n = strlen(p);
    return s.len >= n && !memcmp(s.p, p, n);
}

static int commit_cb(void *ud, struct noa_str source, uint64_t offset)
{
    struct noa_shipper *s = ud;
    if (has_prefix(source, "journal-") || has_prefix(source, "push-")) {
        for (size_t i = 0; i < s->n_rt; i++) {
            struct scrape_rt *rt = &s->rt[i];
            if (rt->journal && noa_str_eq_c(source, noa_journal_source(rt->journal))) {
                noa_journal_acked(rt->journal, offset);
                return 0;
            }
            if (rt->push && noa_str_eq_c(source, noa_pushrecv_source(rt->push))) {
                noa_pushrecv_acked(rt->push, offset);
                return 0;
            }
        }
        return NOA_ENOTFOUND;
    }
    return s->tailer ? noa_tailer_commit(s->tailer, source, offset) : NOA_ENOTFOUND;
}

/* ---- discovery and the controller thread ----------------------------------------- */

static void run_discovery(struct noa_shipper *s, int64_t now)
{
    if (!s->tailer)
        return;
    size_t total = 0;
    for (size_t i = 0; i < s->n_rt; i++) {
        struct scrape_rt *rt = &s->rt[i];
        if (!rt->disc)
            continue;
        /* Discovery reads disks: run it on a copy, swap under the lock
         * (/targets reads the list from the HTTP thread). */
        struct noa_discovery_targets fresh = {0}, old;
        noa_discovery_run(rt->disc, now, &fresh);
        pthread_mutex_lock(&s->mu);
        old = rt->targets;
        rt->targets = fresh;
        pthread_mutex_unlock(&s->mu);
        noa_discovery_targets_fini(&old);
        total += rt->targets.n;
    }
    struct noa_tailer_target *tt = noa_xmalloc((total ? total : 1) * sizeof(*tt));
    struct noa_labels *ls = noa_xmalloc((total ? total : 1) * sizeof(*ls));
    size_t k = 0;
    for (size_t i = 0; i < s->n_rt; i++) {
        struct scrape_rt *rt = &s->rt[i];
        if (!rt->disc)
            continue;
        for (size_t j = 0; j < rt->targets.n; j++) {
            struct noa_discovery_target *d = &rt->targets.v[j];
            noa_kvlist_labels(&d->labels, &ls[k]);
            tt[k] = (struct noa_tailer_target){.include = d->path,
                                               .exclude = d->path_exclude,
                                               .labels = ls[k].v,
                                               .n_labels = ls[k].n,
                                               .user = &rt->tail};
            k++;
        }
    }
    struct noa_error err = {0};
    if (noa_tailer_set_targets(s->tailer, tt, k, &err) < 0)
        noa_log(NOA_LOG_ERROR, "shipper", "msg=\"cannot use targets\" err=\"%s\"", err.msg);
    atomic_store(&s->targets_active, k);
    atomic_store(&s->discovered_once, 1);
    noa_free(tt);
    noa_free(ls);
}

static void save_positions(struct noa_shipper *s, int64_t now, int force)
{
    struct noa_error err = {0};
    int rc = force ? noa_positions_save(s->pos, 0, &err) : noa_positions_tick(s->pos, now, &err);
    if (rc < 0) {
        atomic_fetch_add(&s->pos_save_errors, 1);
        noa_log(NOA_LOG_ERROR, "shipper", "msg=\"cannot save positions\" err=\"%s\"", err.msg);
    } else {
        atomic_fetch_add(&s->pos_saves, 1);
    }
}

static void *controller_main(void *arg)
{
    struct noa_shipper *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += CONTROLLER_TICK_NS;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cond, &s->mu, &ts);
        if (s->stopping)
            break;
        pthread_mutex_unlock(&s->mu);
        int64_t now = noa_clock_mono_ns();
        if (s->route)
            noa_route_tick(s->route);
        if (!s->opts.dry_run)
            save_positions(s, now, 0);
        if (now >= s->next_discovery_ns) {
            run_discovery(s, now);
            s->next_discovery_ns = now + s->cfg->target_sync_period_ns;
        }
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- construction ------------------------------------------------------------------ */

static int compile_reader(struct noa_shipper *s, struct scrape_rt *rt, struct reader *rd,
                          struct noa_error *err)
{
    struct noa_stage_ctx ctx = {.metrics = s->opts.metrics, .job_name = rt->sc->job_name};
    rd->s = s;
    rd->rt = rt;
    return noa_stages_new(rt->sc->pipeline_stages, &ctx, &rd->stages, err);
}

static int has_file_sd(const struct noa_shipper_scrape_config *sc)
{
    return sc->n_static > 0 || sc->n_file_sd > 0 || sc->n_k8s_sd > 0;
}

static struct noa_label *labels_of(const struct noa_kvlist *l, size_t *n)
{
    struct noa_label *v = noa_xmalloc((l->n ? l->n : 1) * sizeof(*v));
    for (uint32_t i = 0; i < l->n; i++)
        v[i] = (struct noa_label){noa_kvlist_name(l, i), noa_kvlist_value(l, i)};
    *n = l->n;
    return v;
}

static int setup_scrape(struct noa_shipper *s, struct scrape_rt *rt, struct noa_error *err)
{
    const struct noa_shipper_scrape_config *sc = rt->sc;
    /* Compiled once even when no reader needs it, so a bad pipeline is
     * reported at start (and by -check-syntax) whatever the targets. */
    int rc = compile_reader(s, rt, &rt->tail, err);
    if (rc < 0)
        return rc;
    if (has_file_sd(sc)) {
        if ((rc = noa_discovery_new(sc, NULL, &rt->disc, err)) < 0)
            return rc;
    }
    if (sc->journal) {
        if ((rc = compile_reader(s, rt, &rt->jrd, err)) < 0)
            return rc;
        size_t nl;
        struct noa_label *ls = labels_of(&sc->journal->labels, &nl);
        struct noa_journal_config jc = {.job_name = sc->job_name,
                                        .path = sc->journal->path,
                                        .max_age_ns = sc->journal->max_age_ns,
                                        .json = sc->journal->json,
                                        .matches = sc->journal->matches,
                                        .labels = ls,
                                        .n_labels = nl};
        struct noa_journal_callbacks cb = {.emit_cb = journal_emit,
                                           .tick_cb = reader_tick,
                                           .flush_cb = journal_flush,
                                           .ctx = &rt->jrd};
        rc = noa_journal_new(&jc, &cb, s->pos, &rt->journal, err);
        noa_free(ls);
        if (rc < 0)
            return rc;
    }
    if (sc->push) {
        if ((rc = compile_reader(s, rt, &rt->prd, err)) < 0)
            return rc;
        size_t nl;
        struct noa_label *ls = labels_of(&sc->push->labels, &nl);
        const struct noa_shipper_server_config *ps = &sc->push->server;
        struct noa_tls_server_options tls = {.cert_file = ps->tls_cert_file,
                                             .key_file = ps->tls_key_file,
                                             .client_auth_type = ps->tls_client_auth_type,
                                             .client_ca_file = ps->tls_client_ca_file,
                                             .min_version = ps->tls_min_version};
        struct noa_pushrecv_config pc = {.job_name = sc->job_name,
                                         .tls = &tls,
                                         .host = sc->push->server.http_listen_address,
                                         .port = sc->push->server.http_listen_port,
                                         .labels = ls,
                                         .n_labels = nl,
                                         .use_incoming_timestamp =
                                             sc->push->use_incoming_timestamp};
        struct noa_pushrecv_callbacks cb = {.emit_cb = push_emit, .tick_cb = reader_tick,
                                            .ctx = &rt->prd};
        rc = noa_pushrecv_new(&pc, &cb, &rt->push, err);
        noa_free(ls);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A client has queue room again (sender thread): files paused on a full
 * queue go on now rather than at the tailer's next tick. */
static void room_cb(void *ud)
{
    struct noa_shipper *s = ud;
    if (s->tailer)
        noa_tailer_resume(s->tailer);
}

static int setup_route(struct noa_shipper *s, struct noa_error *err)
{
    const struct noa_shipper_config *cfg = s->cfg;
    if (cfg->n_clients == 0) {
        noa_error_set(err, NOA_EINVAL, "%s: no clients configured (clients[].url)",
                      cfg->file ? cfg->file : "config");
        return NOA_EINVAL;
    }
    if (cfg->n_clients > NOA_ROUTE_MAX_CLIENTS) {
        noa_error_set(err, NOA_EINVAL, "%s: at most %d clients", cfg->file ? cfg->file : "config",
                      NOA_ROUTE_MAX_CLIENTS);
        return NOA_EINVAL;
    }
    struct noa_client_config cc[NOA_ROUTE_MAX_CLIENTS];
    static char user_agent[64];
    snprintf(user_agent, sizeof(user_agent), "noa-shipper/%s", NOA_VERSION);
    for (uint32_t i = 0; i < cfg->n_clients; i++) {
        noa_shipper_config_client(cfg, i, &cc[i]);
        cc[i].zstd = cfg->clients[i].encoding == NOA_SHIPPER_ENCODING_ZSTD;
        cc[i].user_agent = user_agent;
    }
    struct noa_route_config rc = {.clients = cc,
                                  .n_clients = cfg->n_clients,
                                  .commit = commit_cb,
                                  .commit_ud = s,
                                  .room = room_cb,
                                  .room_ud = s};
    int r = noa_route_new(&rc, &s->route);
    if (r < 0)
        noa_error_set(err, r, "cannot set up the clients: %s", noa_strerror(r));
    return r;
}

int noa_shipper_new(const struct noa_shipper_options *opts, struct noa_shipper **out,
                    struct noa_error *err)
{
    struct noa_shipper *s = noa_xmalloc(sizeof(*s));
    memset(s, 0, sizeof(*s));
    s->opts = *opts;
    s->cfg = opts->cfg;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    pthread_mutex_init(&s->dry_mu, NULL);
    pthread_mutex_init(&s->rl.mu, NULL);
    noa_entry_init(&s->tail_entry);
    noa_kvlist_init(&s->tail_labels);
    const struct noa_shipper_config *cfg = s->cfg;
    if (cfg->limits.readline_rate_enabled) {
        s->rate_enabled = 1;
        s->rl.rate = cfg->limits.readline_rate;
        s->rl.burst = cfg->limits.readline_burst > 0 ? cfg->limits.readline_burst : 1;
        s->rl.tokens = s->rl.burst;
        s->rl.last_ns = noa_clock_real_ns();
    }
    struct noa_positions_config pc = cfg->positions;
    pc.readonly = opts->dry_run;
    int rc = noa_positions_open(&pc, &s->pos, err);
    if (rc < 0)
        goto fail;
    if (opts->dry_run) {
        s->dry_sink.fn = dry_print;
        s->sink = &s->dry_sink;
    } else {
        if ((rc = setup_route(s, err)) < 0)
            goto fail;
        s->sink = noa_route_sink(s->route);
    }
    s->n_rt = cfg->n_scrape;
    s->rt = noa_xmalloc((s->n_rt ? s->n_rt : 1) * sizeof(*s->rt));
    memset(s->rt, 0, (s->n_rt ? s->n_rt : 1) * sizeof(*s->rt));
    int any_files = 0;
    for (size_t i = 0; i < s->n_rt; i++) {
        s->rt[i].sc = &cfg->scrape[i];
        if ((rc = setup_scrape(s, &s->rt[i], err)) < 0)
            goto fail;
        any_files |= s->rt[i].disc != NULL;
    }
    if (any_files) {
        struct noa_tailer_config tc = {
            .sync_period_ns = cfg->target_sync_period_ns,
            .poll_period_ns = cfg->file_watch_max_poll_ns,
            .max_line_size = (size_t)cfg->limits.max_line_size,
            .max_line_truncate = cfg->limits.max_line_size_truncate,
            .no_inotify = opts->no_inotify,
            .positions = s->pos,
        };
        struct noa_tailer_callbacks cb = {.on_line = tail_on_line,
                                          .on_file_done = tail_on_file_done,
                                          .on_tick = tail_on_tick,
                                          .can_read = tail_can_read,
                                          .ud = s};
        if ((rc = noa_tailer_new(&tc, &cb, &s->tailer)) < 0) {
            noa_error_set(err, rc, "cannot start the file tailer: %s", noa_strerror(rc));
            goto fail;
        }
    }
    *out = s;
    return 0;
fail:
    noa_shipper_free(s);
    return rc;
}

int noa_shipper_start(struct noa_shipper *s, struct noa_error *err)
{
    int rc;
    if (s->started)
        return 0;
    s->started = 1;
    /* Targets before the reader starts, so the first turn sees them. */
    int64_t now = noa_clock_mono_ns();
    run_discovery(s, now);
    s->next_discovery_ns = now + s->cfg->target_sync_period_ns;
    if (s->tailer && (rc = noa_tailer_start(s->tailer)) < 0) {
        noa_error_set(err, rc, "cannot start the file tailer: %s", noa_strerror(rc));
        return rc;
    }
    for (size_t i = 0; i < s->n_rt; i++) {
        struct scrape_rt *rt = &s->rt[i];
        if (rt->journal && (rc = noa_journal_start(rt->journal)) < 0) {
            noa_error_set(err, rc, "job %s: cannot read the journal: %s", rt->sc->job_name,
                          noa_strerror(rc));
            return rc;
        }
        if (rt->push && (rc = noa_pushrecv_start(rt->push, err)) < 0)
            return rc;
    }
    if ((rc = pthread_create(&s->ctl, NULL, controller_main, s)) != 0) {
        noa_error_set(err, -rc, "cannot start the controller thread");
        return -rc;
    }
    s->stopped = 0;
    return 0;
}

void noa_shipper_stop(struct noa_shipper *s, int64_t drain_ms)
{
    if (!s->started || s->stopped)
        return;
    s->stopped = 1;
    /* Inputs first: nothing new enters the pipelines. Each reader flushes
     * what its stages hold on its own thread as it stops. */
    for (size_t i = 0; i < s->n_rt; i++) {
        if (s->rt[i].push)
            noa_pushrecv_stop(s->rt[i].push);
        if (s->rt[i].journal)
            noa_journal_stop(s->rt[i].journal);
    }
    if (s->tailer)
        noa_tailer_stop(s->tailer);
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->ctl, NULL);
    for (size_t i = 0; i < s->n_rt; i++) {
        struct scrape_rt *rt = &s->rt[i];
        struct reader *rds[] = {&rt->tail, &rt->prd};
        for (size_t k = 0; k < 2; k++) {
            if (!rds[k]->stages)
                continue;
            noa_stages_flush(rds[k]->stages, NULL, s->sink);
            held_check(rds[k]);
        }
    }
    if (s->route) {
        if (noa_route_stop(s->route, drain_ms) < 0)
            noa_log(NOA_LOG_WARN, "shipper",
                    "msg=\"unsent entries left at stop; they are read again at the next start\"");
        noa_route_tick(s->route);
    }
    if (!s->opts.dry_run)
        save_positions(s, noa_clock_mono_ns(), 1);
}

void noa_shipper_free(struct noa_shipper *s)
{
    if (!s)
        return;
    noa_shipper_stop(s, 0);
    /* The router first: its last commits call into the tailer. */
    noa_route_free(s->route);
    s->route = NULL;
    noa_tailer_free(s->tailer);
    for (size_t i = 0; i < s->n_rt; i++) {
        struct scrape_rt *rt = &s->rt[i];
        noa_journal_free(rt->journal);
        noa_pushrecv_free(rt->push);
        noa_discovery_free(rt->disc);
        noa_discovery_targets_fini(&rt->targets);
        struct reader *rds[] = {&rt->tail, &rt->jrd, &rt->prd};
        for (size_t k = 0; k < 3; k++) {
            noa_stages_free(rds[k]->stages);
            held_free(rds[k]);
            noa_relabel_scratch_fini(&rds[k]->relabel);
        }
    }
    noa_free(s->rt);
    noa_positions_free(s->pos);
    noa_entry_fini(&s->tail_entry);
    noa_kvlist_fini(&s->tail_labels);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->dry_mu);
    pthread_mutex_destroy(&s->rl.mu);
    noa_free(s);
}

/* ---- status ------------------------------------------------------------------------ */

int noa_shipper_ready(struct noa_shipper *s, char *why, size_t cap)
{
    if (!s->started || s->stopped) {
        snprintf(why, cap, "Not ready: %s", s->stopped ? "shutting down" : "starting");
        return 0;
    }
    if (!s->cfg->server.health_check_target)
        return 1;
    int any = atomic_load(&s->targets_active) > 0;
    for (size_t i = 0; i < s->n_rt && !any; i++)
        any = s->rt[i].journal || s->rt[i].push;
    if (!any) {
        snprintf(why, cap, "Not ready: no targets (nothing matches the scrape configs)");
        return 0;
    }
    return 1;
}

void noa_shipper_stats(struct noa_shipper *s, struct noa_shipper_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->read_lines = atomic_load(&s->read_lines);
    out->read_bytes = atomic_load(&s->read_bytes);
    out->entries_rate_limited = atomic_load(&s->rate_limited);
    out->targets_active = atomic_load(&s->targets_active);
    out->positions_saves = atomic_load(&s->pos_saves);
    out->positions_save_errors = atomic_load(&s->pos_save_errors);
    if (s->tailer) {
        struct noa_tailer_stats ts;
        noa_tailer_stats(s->tailer, &ts);
        out->files_active = ts.paths_active;
    }
    if (s->route) {
        struct noa_route_stats rs;
        noa_route_stats(s->route, &rs);
        out->entries_routed = rs.added;
        for (uint32_t i = 0; i < s->cfg->n_clients; i++) {
            struct noa_client_stats cs;
            noa_client_stats(noa_route_client(s->route, i), &cs);
            out->sent_entries += cs.sent_entries;
            out->sent_bytes += cs.sent_bytes;
            out->retries += cs.retries;
            out->queued_bytes += cs.queued_bytes;
            for (int k = 0; k < NOA_CLIENT_DROP_N; k++)
                out->dropped_entries += cs.dropped_entries[k];
            for (int k = 0; k <= NOA_CLIENT_LATENCY_BUCKETS; k++)
                out->latency_buckets[k] += cs.latency_buckets[k];
            out->latency_sum += cs.latency_sum;
        }
    }
}

void noa_shipper_files(struct noa_shipper *s,
                       void (*cb)(void *ud, const struct noa_tailer_file_state *f), void *ud)
{
    if (s->tailer)
        noa_tailer_foreach(s->tailer, cb, ud);
}

static void put_html(struct noa_buf *out, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (p[i]) {
        case '<': noa_buf_printf(out, "&lt;"); break;
        case '>': noa_buf_printf(out, "&gt;"); break;
        case '&': noa_buf_printf(out, "&amp;"); break;
        case '"': noa_buf_printf(out, "&quot;"); break;
        default: noa_buf_putc(out, p[i]);
        }
    }
}

struct pos_walk {
    struct noa_buf *out;
    int json, n;
};

static int position_entry(const struct noa_positions_entry *e, void *arg)
{
    struct pos_walk *w = arg;
    if (w->json) {
        noa_buf_printf(w->out, "%s{\"key\":", w->n++ ? "," : "");
        noa_buf_put_json_str(w->out, e->key, e->key_len);
        if (e->cursor) {
            noa_buf_printf(w->out, ",\"cursor\":");
            noa_buf_put_json_str(w->out, e->cursor, strlen(e->cursor));
        } else {
            noa_buf_printf(w->out, ",\"offset\":%llu", (unsigned long long)e->offset);
        }
        noa_buf_putc(w->out, '}');
    } else {
        noa_buf_printf(w->out, "<tr><td>");
        put_html(w->out, e->key, e->key_len);
        noa_buf_printf(w->out, "</td><td>");
        if (e->cursor)
            put_html(w->out, e->cursor, strlen(e->cursor));
        else
            noa_buf_printf(w->out, "%llu", (unsigned long long)e->offset);
        noa_buf_printf(w->out, "</td></tr>\n");
    }
    return 0;
}

void noa_shipper_targets(struct noa_shipper *s, int json, struct noa_buf *out)
{
    if (json)
        noa_buf_printf(out, "{\"jobs\":[");
    else
        noa_buf_printf(out, "<!DOCTYPE html>\n<html><head><title>noa-shipper targets</title>"
                            "</head><body>\n<h1>Targets</h1>\n");
    for (size_t i = 0; i < s->n_rt; i++) {
        struct scrape_rt *rt = &s->rt[i];
        if (json) {
            noa_buf_printf(out, "%s{\"job\":", i ? "," : "");
            noa_buf_put_json_str(out, rt->sc->job_name, strlen(rt->sc->job_name));
            noa_buf_printf(out, ",\"journal\":%s,\"push\":%s,\"targets\":[",
                           rt->journal ? "true" : "false", rt->push ? "true" : "false");
        } else {
            noa_buf_printf(out, "<h2>");
            put_html(out, rt->sc->job_name, strlen(rt->sc->job_name));
            noa_buf_printf(out, "%s%s</h2>\n<table border=\"1\"><tr><th>path</th>"
                                "<th>labels</th></tr>\n",
                           rt->journal ? " (journal)" : "", rt->push ? " (loki_push_api)" : "");
        }
        /* The controller thread replaces targets at each discovery run; the
         * snapshot read here may be one run old. */
        pthread_mutex_lock(&s->mu);
        for (size_t j = 0; j < rt->targets.n; j++) {
            struct noa_discovery_target *d = &rt->targets.v[j];
            struct noa_buf ls = {0};
            noa_kvlist_format(&d->labels, &ls);
            if (json) {
                noa_buf_printf(out, "%s{\"path\":", j ? "," : "");
                noa_buf_put_json_str(out, d->path, strlen(d->path));
                noa_buf_printf(out, ",\"labels\":");
                noa_buf_put_json_str(out, ls.data, ls.len);
                noa_buf_putc(out, '}');
            } else {
                noa_buf_printf(out, "<tr><td>");
                put_html(out, d->path, strlen(d->path));
                noa_buf_printf(out, "</td><td>");
                put_html(out, ls.data, ls.len);
                noa_buf_printf(out, "</td></tr>\n");
            }
            noa_buf_fini(&ls);
        }
        pthread_mutex_unlock(&s->mu);
        noa_buf_printf(out, json ? "]}" : "</table>\n");
    }
    struct pos_walk w = {out, json, 0};
    noa_buf_printf(out, json ? "],\"positions\":[" : "<h2>Positions</h2>\n<table border=\"1\">"
                                                     "<tr><th>key</th><th>offset</th></tr>\n");
    noa_positions_foreach(s->pos, position_entry, &w);
    noa_buf_printf(out, json ? "]}\n" : "</table>\n</body></html>\n");
}
