/*
 * The systemd journal target: one reader thread per target walks the
 * journal with sd-journal, turns entries into shipper entries (Promtail's
 * labels and line), hands them to the emit callback, and keeps a bounded
 * table from sequence numbers to cursors so that acknowledgements (from the
 * router's thread) can move the saved cursor. The only file that includes
 * <systemd/sd-journal.h>.
 */
#include "shipper/journal.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>
#include <time.h>

/* One remembered (sequence, cursor) pair; the cursor buffer is reused. */
struct slot {
    uint64_t seq;
    struct noa_buf cursor;
};

/*
 * THREAD SAFETY: cfg fields, sj, entry, fields and the reader state belong
 * to the reader thread (or to the controlling thread before start). mu
 * guards slots/first/count, acked_seq, need_ack_seq, saved_seq and stats;
 * positions is called with mu held (positions' own lock is a leaf, so the
 * order is always mu, then the positions lock). stop_mu/stop_cv/stopping
 * let the reader sleep and be woken at once by _stop.
 */
struct noa_journal {
    char *job;
    char *source;     /* "journal-<job>" */
    char *cursor_key; /* "cursor-<job>" */
    char *legacy_key; /* "journal-<job>" when the cursor came from it (mu) */
    int json;
    int64_t max_age_ns;
    struct noa_label *labels; /* copies; names and values in one block each */
    size_t n_labels;
    struct noa_journal_callbacks cb;
    struct noa_positions *positions;

    sd_journal *sj;
    uint64_t cutoff_us; /* skip entries older than this (0: none) */
    int have_current;   /* the reader stands on an entry not yet read */

    pthread_t thread;
    int started;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    int stopping;

    pthread_mutex_t mu;
    struct slot slots[NOA_JOURNAL_TRACK];
    uint32_t first, count; /* ring of remembered slots, oldest first */
    uint64_t seq;          /* last sequence emitted (reader thread only) */
    uint64_t need_ack_seq; /* highest sequence emit took (0: none) */
    uint64_t acked_seq;
    uint64_t saved_seq; /* sequence whose cursor the positions hold */
    struct noa_journal_stats stats;

    /* reader scratch, reused for every entry */
    struct noa_entry entry;
    struct noa_kvlist fields; /* raw FIELD=value pairs, for JSON mode */
    struct noa_buf name;
};

/* ---- matches ------------------------------------------------------------------ */

static int field_name_valid(struct noa_str f)
{
    if (f.len == 0 || f.len > 64 || (f.p[0] >= '0' && f.p[0] <= '9'))
        return 0;
    for (size_t i = 0; i < f.len; i++) {
        char c = f.p[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

int noa_journal_parse_matches(const char *matches,
                              int (*term_cb)(struct noa_str field, struct noa_str value, void *ctx),
                              int (*or_cb)(void *ctx), void *ctx, struct noa_error *err)
{
    const char *p = matches ? matches : "";
    int rc = 0;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\v' || *p == '\f')
            p++;
        if (!*p)
            break;
        const char *s = p;
        while (*p &&
               !(*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\v' || *p == '\f'))
            p++;
        struct noa_str term = {s, (size_t)(p - s)};
        if (term.len == 1 && term.p[0] == '+') {
            if (or_cb && (rc = or_cb(ctx)) < 0)
                return noa_error_set(err, rc, "journal matches: %s", noa_strerror(rc));
            continue;
        }
        const char *eq = memchr(term.p, '=', term.len);
        if (!eq)
            return noa_error_set(err, NOA_EINVAL,
                                 "error parsing journal reader 'matches' config value: "
                                 "\"%.*s\" is not FIELD=value",
                                 (int)term.len, term.p);
        struct noa_str field = {term.p, (size_t)(eq - term.p)};
        struct noa_str value = {eq + 1, term.len - field.len - 1};
        if (!field_name_valid(field))
            return noa_error_set(err, NOA_EINVAL,
                                 "error parsing journal reader 'matches' config value: "
                                 "bad field name \"%.*s\" (upper-case letters, digits and _)",
                                 (int)field.len, field.p);
        if (term_cb && (rc = term_cb(field, value, ctx)) < 0)
            return noa_error_set(err, rc, "journal matches: \"%.*s\": %s", (int)term.len, term.p,
                                 noa_strerror(rc));
    }
    return 0;
}

static int add_match_cb(struct noa_str field, struct noa_str value, void *ctx)
{
    sd_journal *sj = ctx;
    /* sd_journal_add_match copies the data. field=value is contiguous in
     * the config string, so pass it as it is. */
    return sd_journal_add_match(sj, field.p, field.len + 1 + value.len);
}

static int add_or_cb(void *ctx)
{
    return sd_journal_add_disjunction(ctx);
}

struct noa_str noa_journal_priority_keyword(struct noa_str priority)
{
    static const char *const names[] = {"emerg",   "alert",  "crit", "error",
                                        "warning", "notice", "info", "debug"};
    if (priority.len == 1 && priority.p[0] >= '0' && priority.p[0] <= '7')
        return noa_str_c(names[priority.p[0] - '0']);
    return priority;
}

/* ---- Go's encoding/json string form ----------------------------------------- */

/* Appends s as Go's json.Marshal writes a string: HTML-safe escapes for <, >
 * and &, \u2028/\u2029 escaped, invalid UTF-8 bytes as \ufffd. */
static void put_go_json_str(struct noa_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    noa_buf_reserve(b, n + 2);
    noa_buf_putc(b, '"');
    size_t start = 0, i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
                i++;
                continue;
            }
            noa_buf_append(b, s + start, i - start);
            switch (c) {
            case '"':
                noa_buf_append(b, "\\\"", 2);
                break;
            case '\\':
                noa_buf_append(b, "\\\\", 2);
                break;
            case '\n':
                noa_buf_append(b, "\\n", 2);
                break;
            case '\r':
                noa_buf_append(b, "\\r", 2);
                break;
            case '\t':
                noa_buf_append(b, "\\t", 2);
                break;
            default: {
                char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                noa_buf_append(b, u, 6);
            }
            }
            i++;
            start = i;
            continue;
        }
        uint32_t cp;
        size_t l = noa_utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (l == 0) {
            noa_buf_append(b, s + start, i - start);
            noa_buf_append(b, "\\ufffd", 6);
            i++;
            start = i;
            continue;
        }
        if (cp == 0x2028 || cp == 0x2029) {
            noa_buf_append(b, s + start, i - start);
            noa_buf_append(b, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
            i += l;
            start = i;
            continue;
        }
        i += l;
    }
    noa_buf_append(b, s + start, n - start);
    noa_buf_putc(b, '"');
}

/* ---- the cursor table --------------------------------------------------------- */

/* Called with mu held. */
static void save_cursor_locked(struct noa_journal *j, uint64_t seq, struct noa_buf *cursor)
{
    if (seq <= j->saved_seq || !cursor->len)
        return;
    j->saved_seq = seq;
    if (!j->positions)
        return;
    int rc = noa_positions_set_cursor(j->positions, j->cursor_key, noa_buf_cstr(cursor));
    if (rc < 0) {
        noa_log(NOA_LOG_WARN, "journal", "job=%s msg=\"cursor not saved\" err=\"%s\"", j->job,
                noa_strerror(rc));
        return;
    }
    if (j->legacy_key) {
        /* resumed from Promtail's older key: the current one replaces it */
        noa_positions_remove(j->positions, j->legacy_key);
        noa_free(j->legacy_key);
        j->legacy_key = NULL;
    }
}

/* Remembers the cursor of seq (mu held). When the table is full, every
 * other slot goes (the newest stays), halving the precision of old acks. */
static void remember_locked(struct noa_journal *j, uint64_t seq, const char *cursor)
{
    if (j->count == NOA_JOURNAL_TRACK) {
        uint32_t kept = 0;
        for (uint32_t k = 1; k < j->count; k += 2) {
            struct slot *from = &j->slots[(j->first + k) % NOA_JOURNAL_TRACK];
            struct slot *to = &j->slots[(j->first + kept) % NOA_JOURNAL_TRACK];
            if (from != to) {
                struct noa_buf t = to->cursor;
                to->seq = from->seq;
                to->cursor = from->cursor;
                from->cursor = t;
            }
            kept++;
        }
        j->count = kept;
    }
    struct slot *s = &j->slots[(j->first + j->count) % NOA_JOURNAL_TRACK];
    s->seq = seq;
    noa_buf_reset(&s->cursor);
    noa_buf_append(&s->cursor, cursor, strlen(cursor));
    j->count++;
}

void noa_journal_acked(struct noa_journal *j, uint64_t seq)
{
    pthread_mutex_lock(&j->mu);
    if (seq > j->acked_seq)
        j->acked_seq = seq;
    /* The newest remembered slot at or below seq; everything up to it goes. */
    struct slot *best = NULL;
    uint32_t drop = 0;
    for (uint32_t k = 0; k < j->count; k++) {
        struct slot *s = &j->slots[(j->first + k) % NOA_JOURNAL_TRACK];
        if (s->seq > seq)
            break;
        best = s;
        drop = k + 1;
    }
    if (best)
        save_cursor_locked(j, best->seq, &best->cursor);
    j->first = (j->first + drop) % NOA_JOURNAL_TRACK;
    j->count -= drop;
    j->stats.acked_seq = j->acked_seq;
    pthread_mutex_unlock(&j->mu);
}

/* ---- the reader ---------------------------------------------------------------- */

/* Sleeps up to ms or until _stop; returns 1 when stopping. */
static int nap(struct noa_journal *j, unsigned ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&j->stop_mu);
    if (!j->stopping)
        pthread_cond_timedwait(&j->stop_cv, &j->stop_mu, &ts);
    int s = j->stopping;
    pthread_mutex_unlock(&j->stop_mu);
    return s;
}

static int is_stopping(struct noa_journal *j)
{
    pthread_mutex_lock(&j->stop_mu);
    int s = j->stopping;
    pthread_mutex_unlock(&j->stop_mu);
    return s;
}

static void count(struct noa_journal *j, uint64_t *field)
{
    pthread_mutex_lock(&j->mu);
    (*field)++;
    pthread_mutex_unlock(&j->mu);
}

/*
 * Builds j->entry from the entry the journal stands on. Returns 1 when an
 * entry was built, 0 when it is skipped (counted), or a negative sd-journal
 * error.
 */
static int build_entry(struct noa_journal *j)
{
    struct noa_entry *e = &j->entry;
    uint64_t rt = 0;
    int r = sd_journal_get_realtime_usec(j->sj, &rt);
    if (r < 0)
        return r;
    if (j->cutoff_us && rt < j->cutoff_us) {
        count(j, &j->stats.too_old);
        return 0;
    }
    noa_entry_reset(e);
    noa_kvlist_reset(&j->fields);
    int has_message = 0;
    const void *data;
    size_t len;
    sd_journal_restart_data(j->sj);
    while ((r = sd_journal_enumerate_available_data(j->sj, &data, &len)) > 0) {
        const char *d = data;
        const char *eq = memchr(d, '=', len);
        if (!eq)
            continue; /* not a field (journald never writes one) */
        struct noa_str field = {d, (size_t)(eq - d)};
        struct noa_str value = {eq + 1, len - field.len - 1};
        noa_buf_reset(&j->name);
        noa_buf_append(&j->name, "__journal_", 10);
        for (size_t i = 0; i < field.len; i++) {
            char c = field.p[i];
            noa_buf_putc(&j->name, (char)(c >= 'A' && c <= 'Z' ? c + 32 : c));
        }
        size_t base = j->name.len;
        noa_kvlist_set(&e->labels, (struct noa_str){j->name.data, base}, value);
        if (noa_str_eq_c(field, "PRIORITY")) {
            noa_buf_append(&j->name, "_keyword", 8);
            noa_kvlist_set(&e->labels, (struct noa_str){j->name.data, j->name.len},
                           noa_journal_priority_keyword(value));
        }
        if (j->json) {
            noa_kvlist_set(&j->fields, field, value);
        } else if (noa_str_eq_c(field, "MESSAGE")) {
            /* a repeated field: the last one wins, as in Promtail's map */
            noa_buf_reset(&e->line);
            noa_buf_append(&e->line, value.p, value.len);
            has_message = 1;
        }
    }
    if (r < 0)
        return r;
    if (!j->json && !has_message) {
        count(j, &j->stats.no_message);
        return 0;
    }
    if (j->json) {
        struct noa_labels ls;
        noa_kvlist_labels(&j->fields, &ls); /* sorted by name, as Go sorts map keys */
        noa_buf_putc(&e->line, '{');
        for (uint32_t i = 0; i < ls.n; i++) {
            if (i)
                noa_buf_putc(&e->line, ',');
            put_go_json_str(&e->line, ls.v[i].name.p, ls.v[i].name.len);
            noa_buf_putc(&e->line, ':');
            put_go_json_str(&e->line, ls.v[i].value.p, ls.v[i].value.len);
        }
        noa_buf_putc(&e->line, '}');
    }
    for (size_t i = 0; i < j->n_labels; i++)
        noa_kvlist_set(&e->labels, j->labels[i].name, j->labels[i].value);
    e->ts_ns = (int64_t)(rt > (uint64_t)INT64_MAX / 1000 ? (uint64_t)INT64_MAX / 1000 : rt) * 1000;
    noa_buf_append(&e->source, j->source, strlen(j->source));
    return 1;
}

/* Offers the built entry until it is taken, finished or the target stops.
 * Returns 1 when stopping with the entry not taken. */
static int deliver(struct noa_journal *j)
{
    char *cursor = NULL;
    int r = sd_journal_get_cursor(j->sj, &cursor);
    if (r < 0) {
        count(j, &j->stats.read_errors);
        noa_log(NOA_LOG_WARN, "journal", "job=%s msg=\"no cursor for entry\" err=\"%s\"", j->job,
                strerror(-r));
        cursor = NULL;
    }
    uint64_t seq = j->seq + 1;
    j->entry.offset = seq;
    if (cursor) {
        /* remembered before emit: the ack may come from another thread
         * before emit returns */
        pthread_mutex_lock(&j->mu);
        remember_locked(j, seq, cursor);
        pthread_mutex_unlock(&j->mu);
    }
    unsigned wait_ms = 10;
    int stopped = 0;
    for (;;) {
        int rc = j->cb.emit_cb(&j->entry, j->cb.ctx);
        if (rc == NOA_ELIMIT) {
            count(j, &j->stats.limited);
            if (j->cb.tick_cb)
                j->cb.tick_cb(noa_clock_real_ns(), j->cb.ctx);
            if (nap(j, wait_ms)) {
                stopped = 1;
                break;
            }
            wait_ms = wait_ms * 2 > 200 ? 200 : wait_ms * 2;
            /* emit may have changed the entry (pipeline stages work in
             * place): rebuild it from the journal before offering again */
            if (build_entry(j) <= 0)
                break;
            j->entry.offset = seq;
            continue;
        }
        pthread_mutex_lock(&j->mu);
        j->seq = seq;
        j->stats.emitted_seq = seq;
        if (rc == 0) {
            j->need_ack_seq = seq;
            j->stats.entries++;
        } else {
            if (rc != 1)
                noa_log(NOA_LOG_WARN, "journal", "job=%s msg=\"emit failed\" err=\"%s\"", j->job,
                        noa_strerror(rc));
            /* finished without an ack: when nothing before it waits for
             * one, its cursor may be saved now */
            if (j->acked_seq >= j->need_ack_seq && cursor) {
                struct noa_buf c = {0};
                noa_buf_append(&c, cursor, strlen(cursor));
                save_cursor_locked(j, seq, &c);
                noa_buf_fini(&c);
                if (j->acked_seq < seq)
                    j->acked_seq = seq;
            }
        }
        pthread_mutex_unlock(&j->mu);
        break;
    }
    free(cursor); /* libsystemd's allocation */
    return stopped;
}

static void *reader_main(void *arg)
{
    struct noa_journal *j = arg;
    int64_t next_tick = noa_clock_mono_ns();
    int failing = 0;
    while (!is_stopping(j)) {
        int64_t now = noa_clock_mono_ns();
        if (j->cb.tick_cb && now >= next_tick) {
            j->cb.tick_cb(noa_clock_real_ns(), j->cb.ctx);
            next_tick = now + 100000000LL;
        }
        int r;
        if (j->have_current) {
            j->have_current = 0;
            r = 1;
        } else {
            r = sd_journal_next(j->sj);
        }
        if (r < 0) {
            count(j, &j->stats.read_errors);
            if (!failing)
                noa_log(NOA_LOG_ERROR, "journal",
                        "job=%s msg=\"reading the journal failed\" err=\"%s\"", j->job,
                        strerror(-r));
            failing = 1;
            if (nap(j, 1000))
                break;
            continue;
        }
        if (r == 0) {
            /* Caught up: from here on entries are new, whatever their
             * timestamps say (a clock set back must not hide them). */
            j->cutoff_us = 0;
            /* at the end: wait for journald to write more */
            r = sd_journal_wait(j->sj, 100000);
            if (r < 0 && nap(j, 100))
                break;
            continue;
        }
        r = build_entry(j);
        if (r < 0) {
            count(j, &j->stats.read_errors);
            if (!failing)
                noa_log(NOA_LOG_WARN, "journal",
                        "job=%s msg=\"entry unreadable, skipped\" err=\"%s\"", j->job,
                        strerror(-r));
            failing = 1;
            continue;
        }
        failing = 0;
        if (r == 0)
            continue;
        if (deliver(j))
            break;
    }
    if (j->cb.flush_cb)
        j->cb.flush_cb(j->cb.ctx);
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------ */

/* Places the reader: after the saved cursor, or at now - max_age. */
static void seek_start(struct noa_journal *j)
{
    char *cursor = NULL;
    const char *key = j->cursor_key;
    if (j->positions) {
        if (noa_positions_get_cursor(j->positions, key, &cursor) < 0) {
            char legacy[NOA_POSITIONS_MAX_KEY];
            snprintf(legacy, sizeof(legacy), "journal-%s", j->job);
            if (noa_positions_get_cursor(j->positions, legacy, &cursor) < 0)
                cursor = NULL;
            else
                j->legacy_key = noa_xstrdup(legacy);
        }
    }
    uint64_t now_us = (uint64_t)noa_clock_real_ns() / 1000;
    uint64_t age_us = (uint64_t)j->max_age_ns / 1000;
    uint64_t since = now_us > age_us ? now_us - age_us : 0;
    if (cursor && cursor[0]) {
        int r = sd_journal_seek_cursor(j->sj, cursor);
        if (r >= 0)
            r = sd_journal_next(j->sj);
        if (r > 0) {
            uint64_t rt = 0;
            if (sd_journal_get_realtime_usec(j->sj, &rt) >= 0 && rt >= since) {
                /* On the saved entry itself: it was shipped, read on from
                 * the next. On a later one (the saved entry was rotated
                 * away): that one has not been read yet. */
                j->have_current = sd_journal_test_cursor(j->sj, cursor) > 0 ? 0 : 1;
                goto done;
            }
        } else if (r == 0) {
            /* nothing at or after the cursor yet: read what comes */
            goto done;
        }
        noa_log(NOA_LOG_INFO, "journal",
                "job=%s msg=\"saved cursor unusable or older than max_age, starting at max_age\"",
                j->job);
    }
    sd_journal_seek_realtime_usec(j->sj, since);
    j->cutoff_us = since;
    j->have_current = 0;
done:
    noa_free(cursor);
}

int noa_journal_new(const struct noa_journal_config *cfg, const struct noa_journal_callbacks *cb,
                    struct noa_positions *positions, struct noa_journal **out,
                    struct noa_error *err)
{
    struct noa_journal *j = NULL;
    int rc = 0;
    if (!cfg || !cfg->job_name || !cfg->job_name[0])
        return noa_error_set(err, NOA_EINVAL, "journal: job_name is required");
    if (strlen(cfg->job_name) > 1024)
        return noa_error_set(err, NOA_EINVAL, "journal: job_name too long");
    if (!cb || !cb->emit_cb)
        return noa_error_set(err, NOA_EINVAL, "journal: no emit callback");
    rc = noa_journal_parse_matches(cfg->matches, NULL, NULL, NULL, err);
    if (rc < 0)
        return rc;

    j = noa_xcalloc(1, sizeof(*j));
    pthread_mutex_init(&j->mu, NULL);
    pthread_mutex_init(&j->stop_mu, NULL);
    pthread_cond_init(&j->stop_cv, NULL);
    noa_entry_init(&j->entry);
    j->job = noa_xstrdup(cfg->job_name);
    size_t jl = strlen(cfg->job_name);
    j->source = noa_xmalloc(jl + 9);
    snprintf(j->source, jl + 9, "journal-%s", cfg->job_name);
    j->cursor_key = noa_xmalloc(jl + 8);
    snprintf(j->cursor_key, jl + 8, "cursor-%s", cfg->job_name);
    j->json = cfg->json;
    j->max_age_ns = cfg->max_age_ns > 0 ? cfg->max_age_ns : NOA_JOURNAL_DEFAULT_MAX_AGE_NS;
    j->cb = *cb;
    j->positions = positions;
    if (cfg->n_labels) {
        j->labels = noa_xcalloc(cfg->n_labels, sizeof(*j->labels));
        for (size_t i = 0; i < cfg->n_labels; i++) {
            struct noa_label l = cfg->labels[i];
            j->labels[i].name.p = noa_xstrndup(l.name.p ? l.name.p : "", l.name.len);
            j->labels[i].name.len = l.name.len;
            j->labels[i].value.p = noa_xstrndup(l.value.p ? l.value.p : "", l.value.len);
            j->labels[i].value.len = l.value.len;
        }
        j->n_labels = cfg->n_labels;
    }

    if (cfg->path && cfg->path[0])
        rc = sd_journal_open_directory(&j->sj, cfg->path, 0);
    else
        rc = sd_journal_open(&j->sj, SD_JOURNAL_LOCAL_ONLY);
    if (rc < 0) {
        j->sj = NULL;
        noa_error_set(err, rc, "journal: opening %s: %s",
                      cfg->path && cfg->path[0] ? cfg->path : "the system journal", strerror(-rc));
        goto fail;
    }
    rc = noa_journal_parse_matches(cfg->matches, add_match_cb, add_or_cb, j->sj, err);
    if (rc < 0)
        goto fail;
    seek_start(j);
    *out = j;
    return 0;
fail:
    noa_journal_free(j);
    return rc;
}

int noa_journal_start(struct noa_journal *j)
{
    if (j->started)
        return 0;
    j->stopping = 0;
    int rc = pthread_create(&j->thread, NULL, reader_main, j);
    if (rc != 0)
        return -rc;
    j->started = 1;
    return 0;
}

void noa_journal_stop(struct noa_journal *j)
{
    if (!j || !j->started)
        return;
    pthread_mutex_lock(&j->stop_mu);
    j->stopping = 1;
    pthread_cond_broadcast(&j->stop_cv);
    pthread_mutex_unlock(&j->stop_mu);
    pthread_join(j->thread, NULL);
    j->started = 0;
}

void noa_journal_free(struct noa_journal *j)
{
    if (!j)
        return;
    noa_journal_stop(j);
    if (j->sj)
        sd_journal_close(j->sj);
    for (uint32_t i = 0; i < NOA_JOURNAL_TRACK; i++)
        noa_buf_fini(&j->slots[i].cursor);
    for (size_t i = 0; i < j->n_labels; i++) {
        noa_free((void *)j->labels[i].name.p);
        noa_free((void *)j->labels[i].value.p);
    }
    noa_free(j->labels);
    noa_entry_fini(&j->entry);
    noa_kvlist_fini(&j->fields);
    noa_buf_fini(&j->name);
    noa_free(j->job);
    noa_free(j->source);
    noa_free(j->cursor_key);
    noa_free(j->legacy_key);
    pthread_mutex_destroy(&j->mu);
    pthread_mutex_destroy(&j->stop_mu);
    pthread_cond_destroy(&j->stop_cv);
    noa_free(j);
}

const char *noa_journal_source(const struct noa_journal *j)
{
    return j->source;
}

const char *noa_journal_cursor_key(const struct noa_journal *j)
{
    return j->cursor_key;
}

void noa_journal_stats(struct noa_journal *j, struct noa_journal_stats *out)
{
    pthread_mutex_lock(&j->mu);
    *out = j->stats;
    pthread_mutex_unlock(&j->mu);
}
