/*
 * The ingester's life cycle and write path: WAL replay at open, pushes
 * (limits, WAL append, apply to heads once durable), flush of cut chunks
 * to the store and index on worker threads, and WAL checkpoints. Loop
 * thread, except the *_work functions, which run on libuv's worker pool
 * and touch only their job (and the thread-safe store, index and WAL
 * checkpoint writer).
 */
#include "ingester/ingester.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "ingester/wal.h"
#include "ingester/walrec.h"

#include <stdio.h>
#include <sys/statvfs.h>
#include <time.h>

struct noa_ingester {
    uv_loop_t *loop;
    struct noa_ingester_options opts;
    struct noa_stream_options sopts;        /* live: full heads sealed on workers */
    struct noa_stream_options replay_sopts; /* replay: sealed inline */
    struct noa_instance inst;
    struct noa_wal *wal;
    struct noa_chunkstore *store;
    struct noa_index *index;
    uv_timer_t flush_timer;
    uv_timer_t checkpoint_timer;
    int timers_started;
    int ready;
    int closing;
    uint64_t next_seq;
    int flushes_in_flight;
    int seals_in_flight;
    int checkpoint_in_flight;
    int trim_in_flight;     /* a WAL segment removal is running */
    uint32_t trimmed_before; /* segments below this are gone */
    uint32_t replayed_last;  /* the newest segment replay read (0: none) */
    int handles_open;
    void (*close_cb)(void *ctx);
    void *close_ctx;
    struct noa_ingester_stats st;
    struct noa_ingester_tail_hook tail; /* append_cb NULL: nobody ever tailed */
};


/* ---- applying entries ------------------------------------------------------ */

static void flush_stream_next(struct noa_ingester *ing, struct noa_stream *s);

/* Finds or creates the stream; a stream created during replay starts from
 * the sequence its flushed chunks already hold. */
static struct noa_stream *stream_get(struct noa_ingester *ing, struct noa_tenant *t, uint64_t fp,
                                     const struct noa_labels *labels, struct noa_str canonical)
{
    struct noa_stream *s = noa_instance_find(t, fp, labels);
    if (s)
        return s;
    s = noa_stream_new(fp, labels, canonical);
    noa_ratelimit_init(&s->rate, ing->opts.limits->per_stream_rate_bytes,
                       ing->opts.limits->per_stream_burst_bytes);
    uint64_t flushed = 0;
    if (!ing->ready && noa_index_stream_seq(ing->index, t->name, fp, &flushed) == 0)
        s->applied_seq = flushed;
    noa_instance_add(&ing->inst, t, s);
    return s;
}

/* After an append: a chunk that reached its target size is cut at once. */
static void maybe_cut_full(struct noa_ingester *ing, struct noa_stream *s)
{
    if (s->chunk_bytes + s->head_raw.len / 4 < ing->opts.target_size)
        return;
    if (noa_stream_cut(s, &ing->sopts))
        flush_stream_next(ing, s);
}

struct seal_job {
    uv_work_t req;
    struct noa_ingester *ing;
    struct noa_stream *stream;
    struct noa_block *block;
    struct noa_error err;
    int status;
};

/* Worker: the sealing slot is immutable until seal_after runs. */
static void seal_work(uv_work_t *req)
{
    struct seal_job *j = req->data;
    j->status = noa_block_seal_codec(j->stream->sealing_raw.data, j->stream->sealing_raw.len,
                                     j->ing->sopts.codec, j->ing->sopts.zstd_level, &j->block,
                                     &j->err);
}

static void maybe_finish_close(struct noa_ingester *ing);

static void seal_after(uv_work_t *req, int status)
{
    struct seal_job *j = req->data;
    struct noa_ingester *ing = j->ing;
    struct noa_stream *s = j->stream;
    ing->seals_in_flight--;
    noa_instance_wrlock(&ing->inst);
    if (status == 0 && j->status == 0) {
        noa_stream_end_seal(s, j->block);
    } else {
        /* Cannot happen for entries the stream encoded itself; keep the data
         * by sealing on this thread instead. */
        noa_log(NOA_LOG_ERROR, "ingester", "msg=\"block seal failed\" stream=%s err=\"%s\"",
                s->canonical, j->err.msg);
        struct noa_block *b;
        if (noa_block_seal_codec(s->sealing_raw.data, s->sealing_raw.len, ing->sopts.codec,
                                 ing->sopts.zstd_level, &b, NULL) == 0)
            noa_stream_end_seal(s, b);
    }
    /* Under the lock: cutting mutates the stream. */
    if (s->cut_requested) {
        s->cut_requested = 0;
        if (noa_stream_cut(s, &ing->sopts))
            flush_stream_next(ing, s);
    } else if (!ing->closing) {
        maybe_cut_full(ing, s);
    }
    noa_instance_unlock(&ing->inst);
    noa_free(j);
    maybe_finish_close(ing);
}

/* A full head is compressed on a worker so the loop keeps serving; if the
 * previous block of the stream is still being compressed, inline. */
static void seal_full_head(struct noa_ingester *ing, struct noa_stream *s)
{
    if (s->head_raw.len < ing->sopts.block_size)
        return;
    if (!noa_stream_begin_seal(s)) {
        noa_stream_seal(s, &ing->sopts);
        return;
    }
    struct seal_job *j = noa_xcalloc(1, sizeof(*j));
    j->ing = ing;
    j->stream = s;
    j->req.data = j;
    ing->seals_in_flight++;
    if (uv_queue_work(ing->loop, &j->req, seal_work, seal_after) < 0) {
        ing->seals_in_flight--;
        struct noa_block *b;
        if (noa_block_seal_codec(s->sealing_raw.data, s->sealing_raw.len, ing->sopts.codec,
                                 ing->sopts.zstd_level, &b, NULL) == 0)
            noa_stream_end_seal(s, b);
        noa_free(j);
    }
}

/* appended (NULL: not wanted) gets 1 per entry stored, for live tails. */
static void apply_entries(struct noa_ingester *ing, struct noa_stream *s,
                          const struct noa_push_entry *e, uint32_t n, uint64_t seq,
                          uint32_t segment, int64_t now, uint8_t *appended)
{
    for (uint32_t i = 0; i < n; i++) {
        int rc = noa_stream_append(s, ing->ready ? &ing->sopts : &ing->replay_sopts, &e[i], seq,
                                   segment, now);
        if (appended)
            appended[i] = rc == 1;
        if (rc == 1) {
            ing->st.lines_appended++;
            ing->st.bytes_appended += e[i].line.len;
        } else if (rc == 0) {
            ing->st.duplicates_dropped++;
        } else {
            noa_log(NOA_LOG_ERROR, "ingester", "msg=\"append failed\" stream=%s err=\"%s\"",
                    s->canonical, noa_strerror(rc));
        }
    }
    if (ing->ready) {
        seal_full_head(ing, s);
        maybe_cut_full(ing, s);
    }
}

/* ---- push ------------------------------------------------------------------ */

struct push_op {
    struct noa_ingester *ing;
    const struct noa_validated *v;
    char tenant[160];
    uint64_t seq;
    void (*done_cb)(int status, const char *msg, void *ctx);
    void *ctx;
};

static void push_apply(struct noa_ingester *ing, const char *tenant, const struct noa_validated *v,
                       uint64_t seq, uint32_t segment)
{
    int64_t now = noa_clock_real_ns();
    /* Live tails: which entries were stored, told after the lock is
     * released (followers run pipelines and write to sockets). */
    uint8_t *appended = NULL;
    size_t off = 0;
    if (ing->tail.append_cb && ing->tail.wants_cb(tenant, ing->tail.ctx)) {
        size_t total = 1;
        for (uint32_t i = 0; i < v->n; i++)
            total += v->streams[i].n_entries;
        appended = noa_xmalloc(total);
    }
    noa_instance_wrlock(&ing->inst);
    struct noa_tenant *t = noa_instance_tenant_get(&ing->inst, tenant);
    for (uint32_t i = 0; i < v->n; i++) {
        const struct noa_valid_stream *vs = &v->streams[i];
        struct noa_stream *s = stream_get(ing, t, vs->fp, &vs->labels, vs->canonical);
        apply_entries(ing, s, vs->entries, vs->n_entries, seq, segment, now,
                      appended ? appended + off : NULL);
        off += vs->n_entries;
    }
    noa_instance_unlock(&ing->inst);
    if (!appended)
        return;
    off = 0;
    for (uint32_t i = 0; i < v->n; i++) {
        const struct noa_valid_stream *vs = &v->streams[i];
        ing->tail.append_cb(tenant, &vs->labels, vs->entries, appended + off, vs->n_entries,
                            ing->tail.ctx);
        off += vs->n_entries;
    }
    noa_free(appended);
}

void noa_ingester_set_tail_hook(struct noa_ingester *ing,
                                const struct noa_ingester_tail_hook *hook)
{
    if (hook)
        ing->tail = *hook;
    else
        memset(&ing->tail, 0, sizeof(ing->tail));
}

static void push_durable_cb(int status, uint32_t segment, void *arg)
{
    struct push_op *op = arg;
    if (status < 0) {
        noa_log(NOA_LOG_ERROR, "ingester", "msg=\"WAL append failed\" err=\"%s\"",
                noa_strerror(status));
        op->done_cb(status, "failed to write the WAL", op->ctx);
    } else {
        push_apply(op->ing, op->tenant, op->v, op->seq, segment);
        op->done_cb(0, NULL, op->ctx);
    }
    noa_free(op);
}

/* A push refused by a limit stores nothing: every line it would have stored
 * counts as discarded for that reason, as Loki's distributor counts it. */
static int refuse_all(struct noa_validated *v, enum noa_validate_reason why)
{
    v->discarded_lines[why] += v->accepted_lines;
    v->discarded_bytes[why] += v->accepted_bytes;
    return NOA_ELIMIT;
}

/* Checks the tenant's rate and stream limits, all or nothing, as Loki's
 * distributor does: a rejected request stores nothing and may be retried.
 * The message for a 429 goes to msg. */
static int check_limits(struct noa_ingester *ing, struct noa_tenant *t,
                        struct noa_validated *v, struct noa_buf *msg)
{
    const struct noa_limits *lim = ing->opts.limits;
    int64_t now = noa_clock_real_ns();
    uint64_t max_streams = noa_ratelimit_stream_limit(lim, 1, 1);
    uint32_t new_streams = 0;
    const struct noa_valid_stream *first_new = NULL;
    for (uint32_t i = 0; i < v->n; i++)
        if (!noa_instance_find(t, v->streams[i].fp, &v->streams[i].labels)) {
            new_streams++;
            if (!first_new)
                first_new = &v->streams[i];
        }
    if (new_streams && max_streams > 0 && (uint64_t)t->n_streams + new_streams > max_streams) {
        noa_ratelimit_format_stream_limit(msg, first_new->canonical, t->name);
        return refuse_all(v, NOA_VALIDATE_STREAM_LIMIT);
    }
    if (!noa_ratelimit_allow(&t->rate, now, (double)v->accepted_bytes)) {
        noa_ratelimit_format_tenant(msg, t->name, lim->ingestion_rate_bytes, v->accepted_lines,
                                    v->accepted_bytes);
        return refuse_all(v, NOA_VALIDATE_RATE_LIMITED);
    }
    for (uint32_t i = 0; i < v->n; i++) {
        struct noa_stream *s = noa_instance_find(t, v->streams[i].fp, &v->streams[i].labels);
        if (s && !noa_ratelimit_allow(&s->rate, now, (double)v->streams[i].bytes)) {
            noa_ratelimit_format_stream(msg, lim->per_stream_rate_bytes, v->streams[i].canonical,
                                        v->streams[i].bytes);
            return refuse_all(v, NOA_VALIDATE_STREAM_RATE_LIMIT);
        }
    }
    return 0;
}

/* Go's time.Time.String() in UTC, as Loki prints entry times in messages. */
static void go_time(int64_t ns, char *out, size_t cap)
{
    time_t secs = (time_t)(ns / 1000000000);
    int64_t frac = ns % 1000000000;
    if (frac < 0) {
        frac += 1000000000;
        secs--;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm);
    if (frac && n < cap) {
        char f[16];
        int fl = snprintf(f, sizeof(f), ".%09lld", (long long)frac);
        while (fl > 1 && f[fl - 1] == '0')
            f[--fl] = '\0';
        n += (size_t)snprintf(out + n, cap - n, "%s", f);
    }
    if (n < cap)
        snprintf(out + n, cap - n, " +0000 UTC");
}

/*
 * Drops entries older than the stream's out-of-order window (its newest
 * entry minus max_chunk_age/2), as Loki's ingester does, with Loki's
 * message in v->errors. Returns 1 when anything was dropped.
 */
static int drop_too_far_behind(struct noa_ingester *ing, struct noa_tenant *t,
                               struct noa_validated *v)
{
    int64_t window = ing->opts.max_chunk_age_ns / 2;
    int dropped_any = 0;
    for (uint32_t i = 0; i < v->n; i++) {
        struct noa_valid_stream *vs = &v->streams[i];
        struct noa_stream *s = t ? noa_instance_find(t, vs->fp, &vs->labels) : NULL;
        int64_t newest = s ? s->max_ts : INT64_MIN;
        uint32_t w = 0, dropped = 0;
        for (uint32_t k = 0; k < vs->n_entries; k++) {
            const struct noa_push_entry *e = &vs->entries[k];
            if (newest != INT64_MIN && e->ts_ns < newest - window) {
                if (dropped++ < 10) {
                    char et[64], cutoff[32], ets[32];
                    go_time(e->ts_ns, et, sizeof(et));
                    noa_validate_rfc3339(e->ts_ns, ets, sizeof(ets));
                    noa_validate_rfc3339(newest - window, cutoff, sizeof(cutoff));
                    noa_buf_printf(&v->errors,
                                   "%sentry with timestamp %s ignored, reason: 'entry too far "
                                   "behind, entry timestamp is: %s, oldest acceptable timestamp "
                                   "is: %s',",
                                   v->errors.len ? "\n" : "", et, ets, cutoff);
                }
                v->accepted_lines--;
                v->rejected_lines++;
                v->discarded_lines[NOA_VALIDATE_TOO_FAR_BEHIND]++;
                v->discarded_bytes[NOA_VALIDATE_TOO_FAR_BEHIND] += e->line.len;
                v->accepted_bytes -= e->line.len < v->accepted_bytes ? e->line.len : 0;
                continue;
            }
            if (e->ts_ns > newest)
                newest = e->ts_ns;
            vs->entries[w++] = *e;
        }
        if (dropped) {
            noa_buf_printf(&v->errors, "\nuser '%s', total ignored: %u out of %u for stream: %.*s",
                           t->name, dropped, vs->n_entries, (int)vs->canonical.len,
                           vs->canonical.p);
            vs->n_entries = w;
            dropped_any = 1;
        }
    }
    return dropped_any;
}

void noa_ingester_push(struct noa_ingester *ing, const char *tenant,
                       struct noa_validated *v, struct noa_buf *wal_record,
                       void (*done_cb)(int status, const char *msg, void *ctx), void *ctx)
{
    struct noa_buf msg = {0};
    if (!ing->ready || ing->closing) {
        done_cb(NOA_EUNAVAIL, "Ingester not ready: WAL replay in progress", ctx);
        return;
    }
    if (v->n == 0) {
        done_cb(0, NULL, ctx);
        return;
    }
    if (ing->st.wal_disk_full) {
        done_cb(NOA_EUNAVAIL, "the WAL's disk is full: push refused until space is freed", ctx);
        return;
    }
    struct noa_tenant *t = noa_instance_tenant(&ing->inst, tenant);
    if (!t) {
        noa_instance_wrlock(&ing->inst);
        t = noa_instance_tenant_get(&ing->inst, tenant);
        noa_ratelimit_init(&t->rate, ing->opts.limits->ingestion_rate_bytes,
                           ing->opts.limits->ingestion_burst_bytes);
        noa_instance_unlock(&ing->inst);
    }
    if (drop_too_far_behind(ing, t, v)) {
        noa_buf_reset(wal_record);
        noa_walrec_encode_push(tenant, v, wal_record);
    }
    int rc = check_limits(ing, t, v, &msg);
    if (rc < 0) {
        done_cb(rc, noa_buf_cstr(&msg), ctx);
        noa_buf_fini(&msg);
        return;
    }
    uint64_t seq = ing->next_seq++;
    if (!ing->wal) {
        push_apply(ing, tenant, v, seq, 0);
        done_cb(0, NULL, ctx);
        return;
    }
    struct push_op *op = noa_xcalloc(1, sizeof(*op));
    *op = (struct push_op){.ing = ing, .v = v, .seq = seq, .done_cb = done_cb, .ctx = ctx};
    snprintf(op->tenant, sizeof(op->tenant), "%s", tenant);
    noa_walrec_set_seq(wal_record->data, seq);
    rc = noa_wal_append_buf(ing->wal, wal_record, push_durable_cb, op);
    if (rc < 0) {
        noa_free(op);
        done_cb(rc == NOA_ELIMIT ? NOA_EUNAVAIL : rc, "WAL queue full or failed, retry later",
                ctx);
    }
}

/* ---- flush ----------------------------------------------------------------- */

struct flush_job {
    uv_work_t req;
    struct noa_ingester *ing;
    struct noa_stream *stream;
    struct noa_cut_chunk *cut;
    char *tenant;
    struct noa_labels labels; /* owned copy: the worker must not read the stream */
    uint64_t fp;
    int status;
    char key[NOA_CHUNK_KEY_MAX];
    struct noa_chunk_summary sum;
    struct noa_error err;
};

static void flush_work(uv_work_t *req)
{
    struct flush_job *j = req->data;
    struct noa_buf file = {0};
    struct noa_chunk_block *blocks = noa_xmalloc(j->cut->n_blocks * sizeof(*blocks));
    for (uint32_t i = 0; i < j->cut->n_blocks; i++)
        blocks[i] = j->cut->blocks[i]->cb; /* shallow: encode only reads */
    j->status = noa_chunk_encode(blocks, j->cut->n_blocks, &file, &j->sum);
    noa_free(blocks);
    if (j->status < 0)
        goto done;
    j->status = noa_chunk_key(j->key, sizeof(j->key), j->tenant, j->fp, &j->sum);
    if (j->status < 0)
        goto done;
    j->status = noa_chunkstore_put(j->ing->store, j->key, file.data, file.len);
    if (j->status < 0)
        goto done;
    struct noa_chunk_ref ref = {
        .fp = j->fp,
        .from_ns = j->sum.from_ns,
        .through_ns = j->sum.through_ns,
        .entries = j->sum.entries,
        .raw_bytes = j->sum.raw_bytes,
        .compressed_bytes = j->sum.compressed_bytes,
        .checksum = j->sum.checksum,
        .seq = j->cut->seq,
    };
    snprintf(ref.key, sizeof(ref.key), "%s", j->key);
    j->status = noa_index_add_chunk(j->ing->index, j->tenant, &j->labels, j->fp, &ref, &j->err);
done:
    noa_buf_fini(&file);
}


static void flush_after(uv_work_t *req, int status)
{
    struct flush_job *j = req->data;
    struct noa_ingester *ing = j->ing;
    struct noa_stream *s = j->stream;
    ing->flushes_in_flight--;
    j->cut->flushing = 0;
    if (status < 0 || j->status < 0) {
        ing->st.flush_failures++;
        noa_log(NOA_LOG_ERROR, "flush", "msg=\"chunk flush failed, will retry\" stream=%s err=\"%s\"",
                s->canonical, j->err.msg[0] ? j->err.msg : noa_strerror(j->status));
    } else {
        ing->st.chunks_flushed++;
        ing->st.chunk_bytes_flushed += j->sum.compressed_bytes;
        noa_instance_wrlock(&ing->inst);
        noa_stream_drop_cut(s, j->cut);
        noa_instance_unlock(&ing->inst);
        noa_log(NOA_LOG_DEBUG, "flush", "msg=\"chunk flushed\" key=%s entries=%llu bytes=%llu",
                j->key, (unsigned long long)j->sum.entries,
                (unsigned long long)j->sum.compressed_bytes);
    }
    noa_free(j->tenant);
    noa_free(j->labels.v);
    noa_free(j);
    if (!ing->closing || ing->opts.flush_on_shutdown)
        flush_stream_next(ing, s);
    maybe_finish_close(ing);
}

/* Starts the flush of the stream's oldest cut chunk, unless one of its
 * chunks is already being written: a stream's chunks reach the index in
 * order, so its flushed sequence never skips an unflushed chunk. Frees the
 * stream when it holds nothing more. */
static void flush_stream_next(struct noa_ingester *ing, struct noa_stream *s)
{
    struct noa_cut_chunk *c = s->cut;
    if (c && c->flushing)
        return;
    if (!c) {
        if (noa_stream_empty(s) && s->tenant) {
            noa_instance_wrlock(&ing->inst);
            noa_instance_remove(&ing->inst, s->tenant, s);
            noa_instance_unlock(&ing->inst);
        }
        return;
    }
    struct flush_job *j = noa_xcalloc(1, sizeof(*j));
    j->ing = ing;
    j->stream = s;
    j->cut = c;
    j->tenant = noa_xstrdup(s->tenant->name);
    j->labels = noa_labels_dup(&s->labels);
    j->fp = s->fp;
    j->req.data = j;
    c->flushing = 1;
    ing->flushes_in_flight++;
    int rc = uv_queue_work(ing->loop, &j->req, flush_work, flush_after);
    if (rc < 0) {
        c->flushing = 0;
        ing->flushes_in_flight--;
        noa_free(j->tenant);
        noa_free(j->labels.v);
        noa_free(j);
    }
}

/* Cuts chunks that are idle, too old or full, and retries failed flushes. */
static void flush_check(struct noa_ingester *ing, int force)
{
    int64_t now = noa_clock_real_ns();
    struct noa_stream **todo = NULL;
    size_t n = 0, cap = 0;
    noa_instance_wrlock(&ing->inst);
    for (struct noa_tenant *t = ing->inst.tenants; t; t = t->next) {
        for (struct noa_stream *s = t->streams; s; s = s->list_next) {
            int cut = s->chunk_start_ns &&
                      (force || now - s->last_append_ns >= ing->opts.idle_period_ns ||
                       now - s->chunk_start_ns >= ing->opts.max_chunk_age_ns ||
                       s->chunk_bytes >= ing->opts.target_size);
            if (cut && !noa_stream_cut(s, &ing->sopts) && s->sealing_raw.len)
                s->cut_requested = 1; /* the seal's completion cuts */
            if (s->cut && !s->cut->flushing) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 64;
                    todo = noa_xrealloc(todo, cap * sizeof(*todo));
                }
                todo[n++] = s;
            }
        }
    }
    noa_instance_unlock(&ing->inst);
    for (size_t i = 0; i < n; i++)
        flush_stream_next(ing, todo[i]);
    noa_free(todo);
}

struct trim_job {
    uv_work_t req;
    struct noa_ingester *ing;
    uint32_t before;
    int status;
};

static void trim_work(uv_work_t *req)
{
    struct trim_job *j = req->data;
    j->status = noa_wal_remove_segments_before(j->ing->wal, j->before);
}

static void trim_after(uv_work_t *req, int status)
{
    struct trim_job *j = req->data;
    struct noa_ingester *ing = j->ing;
    ing->trim_in_flight = 0;
    if (status == 0 && j->status == 0)
        ing->trimmed_before = j->before;
    else
        noa_log(NOA_LOG_WARN, "wal", "msg=\"removing flushed segments failed\" err=\"%s\"",
                noa_strerror(j->status));
    noa_free(j);
    maybe_finish_close(ing);
}

/*
 * Deletes the WAL segments whose every entry is in a flushed chunk: those
 * older than the oldest segment any stream still needs (checkpoints delete
 * the rest). Streams are few enough per tick that a scan is cheap.
 */
static void trim_wal(struct noa_ingester *ing)
{
    if (!ing->wal || ing->trim_in_flight || ing->closing)
        return;
    /* A record still in flight may sit in an older segment than the open
     * one without any stream knowing yet: only trim when none is. */
    struct noa_wal_stats ws;
    noa_wal_stats(ing->wal, &ws);
    if (ws.queue_records)
        return;
    /* Before the first append since start, every existing segment is older
     * than the one appends will open. */
    uint32_t before = noa_wal_segment_current(ing->wal);
    if (!before)
        before = ing->replayed_last + 1;
    for (struct noa_tenant *t = ing->inst.tenants; t; t = t->next)
        for (struct noa_stream *s = t->streams; s; s = s->list_next) {
            uint32_t oldest = noa_stream_oldest_segment(s);
            if (oldest && oldest < before)
                before = oldest;
        }
    if (before <= ing->trimmed_before || before <= 1)
        return;
    struct trim_job *j = noa_xcalloc(1, sizeof(*j));
    j->ing = ing;
    j->before = before;
    j->req.data = j;
    ing->trim_in_flight = 1;
    if (uv_queue_work(ing->loop, &j->req, trim_work, trim_after) < 0) {
        ing->trim_in_flight = 0;
        noa_free(j);
    }
}

/*
 * Refuses pushes while the WAL's filesystem is fuller than the threshold,
 * as Loki's disk monitor does: a write failing for lack of space would
 * fail its push anyway, and a failed fsync would stop the WAL for good.
 * statvfs is cheap enough for the flush tick.
 */
static void check_disk(struct noa_ingester *ing)
{
    struct statvfs sv;
    if (!ing->wal || ing->opts.disk_full_threshold <= 0 || !ing->opts.wal_dir ||
        statvfs(ing->opts.wal_dir, &sv) != 0 || !sv.f_blocks)
        return;
    double used = 1.0 - (double)sv.f_bavail / (double)sv.f_blocks;
    int full = used >= ing->opts.disk_full_threshold;
    if (full != ing->st.wal_disk_full)
        noa_log(full ? NOA_LOG_ERROR : NOA_LOG_INFO, "wal",
                "msg=\"%s\" used=%.3f threshold=%.3f", full ? "disk full: refusing pushes"
                                                         : "disk space recovered",
                used, ing->opts.disk_full_threshold);
    ing->st.wal_disk_used = used;
    ing->st.wal_disk_full = full;
}

static void flush_timer_cb(uv_timer_t *t)
{
    check_disk(t->data);
    flush_check(t->data, 0);
    trim_wal(t->data);
}

void noa_ingester_flush_all(struct noa_ingester *ing)
{
    flush_check(ing, 1);
}

/* ---- checkpoints ----------------------------------------------------------- */

struct ckpt_job {
    uv_work_t req;
    struct noa_ingester *ing;
    struct noa_wal_checkpoint *ck;
    struct noa_buf *records; /* one encoded SNAPSHOT record per stream */
    size_t n;
    int status;
};

/* One sealed block of a SNAPSHOT record, with the sequence of its chunk. */
static void put_snapshot_block(struct noa_buf *b, uint64_t seq, const struct noa_chunk_block *cb)
{
    noa_buf_put_uvarint(b, seq);
    noa_buf_put_varint(b, cb->min_ts);
    noa_buf_put_varint(b, cb->max_ts);
    noa_buf_put_uvarint(b, cb->n_entries);
    noa_buf_put_uvarint(b, cb->raw_len);
    noa_walrec_put_str(b, (struct noa_str){cb->data.data, cb->data.len});
}

/* Encodes one stream's unflushed data as a SNAPSHOT record (walrec.h). */
static void snapshot_encode(const struct noa_stream *s, struct noa_buf *b)
{
    noa_walrec_begin(b, NOA_WALREC_SNAPSHOT);
    noa_walrec_set_seq(b->data, s->applied_seq);
    noa_walrec_put_str(b, noa_str_c(s->tenant->name));
    noa_walrec_put_str(b, (struct noa_str){s->canonical, s->canonical_len});
    noa_buf_put_varint(b, s->chunk_start_ns);
    uint64_t n_blocks = s->n_blocks;
    for (const struct noa_cut_chunk *c = s->cut; c; c = c->next)
        n_blocks += c->n_blocks;
    noa_buf_put_uvarint(b, n_blocks);
    for (const struct noa_cut_chunk *c = s->cut; c; c = c->next)
        for (uint32_t i = 0; i < c->n_blocks; i++)
            put_snapshot_block(b, c->seq, &c->blocks[i]->cb);
    for (uint32_t i = 0; i < s->n_blocks; i++)
        put_snapshot_block(b, s->open_seq, &s->blocks[i]->cb);
    /* A head being sealed is written as head entries, before the head. */
    noa_buf_put_uvarint(b, (uint64_t)s->sealing_entries + s->n_head);
    noa_buf_append(b, s->sealing_raw.data, s->sealing_raw.len);
    noa_buf_append(b, s->head_raw.data, s->head_raw.len);
}

static void ckpt_work(uv_work_t *req)
{
    struct ckpt_job *j = req->data;
    j->status = 0;
    for (size_t i = 0; i < j->n && j->status == 0; i++)
        j->status = noa_wal_checkpoint_add(j->ck, j->records[i].data, j->records[i].len);
    if (j->status == 0)
        j->status = noa_wal_checkpoint_commit(j->ck);
    else
        noa_wal_checkpoint_abort(j->ck);
}

static void ckpt_after(uv_work_t *req, int status)
{
    struct ckpt_job *j = req->data;
    struct noa_ingester *ing = j->ing;
    ing->checkpoint_in_flight = 0;
    if (status < 0 || j->status < 0) {
        ing->st.checkpoint_failures++;
        noa_log(NOA_LOG_ERROR, "wal", "msg=\"checkpoint failed\" err=\"%s\"",
                noa_strerror(j->status));
    } else {
        ing->st.checkpoints++;
        noa_log(NOA_LOG_INFO, "wal", "msg=\"checkpoint written\" streams=%zu", j->n);
    }
    for (size_t i = 0; i < j->n; i++)
        noa_buf_fini(&j->records[i]);
    noa_free(j->records);
    noa_free(j);
    maybe_finish_close(ing);
}

static void ckpt_begun_cb(int status, struct noa_wal_checkpoint *ck, uint32_t segment, void *arg)
{
    struct noa_ingester *ing = arg;
    (void)segment;
    if (status < 0 || !ck) {
        ing->checkpoint_in_flight = 0;
        ing->st.checkpoint_failures++;
        maybe_finish_close(ing);
        return;
    }
    struct ckpt_job *j = noa_xcalloc(1, sizeof(*j));
    j->ing = ing;
    j->ck = ck;
    j->req.data = j;
    /* Encoding copies the compressed blocks and heads: the worker then owns
     * plain bytes and never touches a stream. */
    noa_instance_rdlock(&ing->inst);
    size_t cap = ing->inst.n_streams;
    j->records = noa_xcalloc(cap ? cap : 1, sizeof(*j->records));
    for (struct noa_tenant *t = ing->inst.tenants; t; t = t->next)
        for (struct noa_stream *s = t->streams; s && j->n < cap; s = s->list_next)
            if (!noa_stream_empty(s))
                snapshot_encode(s, &j->records[j->n++]);
    noa_instance_unlock(&ing->inst);
    if (uv_queue_work(ing->loop, &j->req, ckpt_work, ckpt_after) < 0) {
        noa_wal_checkpoint_abort(ck);
        ckpt_after(&j->req, -1);
    }
}

static void checkpoint_timer_cb(uv_timer_t *t)
{
    struct noa_ingester *ing = t->data;
    if (ing->checkpoint_in_flight || ing->closing || !ing->wal)
        return;
    ing->checkpoint_in_flight = 1;
    if (noa_wal_checkpoint_begin(ing->wal, ckpt_begun_cb, ing) < 0)
        ing->checkpoint_in_flight = 0;
}

/* ---- replay ---------------------------------------------------------------- */

struct replay_ctx {
    struct noa_ingester *ing;
    uint64_t max_seq;
    uint64_t records, skipped;
};

/* The stream of a record's canonical label text (NULL when it does not
 * parse: the record is then corrupt). */
static struct noa_stream *replay_stream(struct noa_ingester *ing, struct noa_tenant *t,
                                        struct noa_str text)
{
    struct noa_arena arena = {0};
    struct noa_labels ls;
    struct noa_stream *s = NULL;
    if (noa_labels_parse(text, &arena, &ls, NULL) == 0)
        s = stream_get(ing, t, noa_labels_hash(&ls), &ls, text);
    noa_arena_fini(&arena);
    return s;
}

/* A stored entry as a push entry; its metadata (at most 128 pairs, the
 * validation limit) goes to meta. Strings borrow from the record. */
static struct noa_push_entry stored_entry(const struct noa_chunk_entry *ce, struct noa_label *meta)
{
    struct noa_push_entry e = {.ts_ns = ce->ts_ns, .line = ce->line, .meta = meta};
    size_t pos = 0;
    while (e.n_meta < 128 && noa_chunk_meta_next(ce, &pos, &meta[e.n_meta]))
        e.n_meta++;
    return e;
}

static int replay_push(struct replay_ctx *rc, struct noa_walrec_reader *r, uint64_t seq,
                       uint32_t segment)
{
    struct noa_ingester *ing = rc->ing;
    struct noa_str tenant_s;
    uint64_t n_streams;
    char tenant[160];
    if (noa_walrec_get_str(r, &tenant_s) < 0 || tenant_s.len >= sizeof(tenant) ||
        noa_walrec_get_uvarint(r, &n_streams) < 0)
        return NOA_ECORRUPT;
    memcpy(tenant, tenant_s.p, tenant_s.len);
    tenant[tenant_s.len] = '\0';
    struct noa_tenant *t = noa_instance_tenant_get(&ing->inst, tenant);
    int64_t now = noa_clock_real_ns();
    for (uint64_t i = 0; i < n_streams; i++) {
        struct noa_str text;
        uint64_t n_entries;
        if (noa_walrec_get_str(r, &text) < 0 || noa_walrec_get_uvarint(r, &n_entries) < 0)
            return NOA_ECORRUPT;
        struct noa_stream *s = replay_stream(ing, t, text);
        if (!s)
            return NOA_ECORRUPT;
        int skip = seq <= s->applied_seq;
        struct noa_chunk_iter it;
        noa_chunk_iter_init(&it, r->p + r->pos, r->len - r->pos);
        for (uint64_t k = 0; k < n_entries; k++) {
            struct noa_chunk_entry ce;
            if (noa_chunk_iter_next(&it, &ce, NULL) != 1)
                return NOA_ECORRUPT;
            if (skip)
                continue;
            struct noa_label meta[128];
            struct noa_push_entry e = stored_entry(&ce, meta);
            apply_entries(ing, s, &e, 1, seq, segment, now, NULL);
        }
        r->pos += it.off;
        if (skip)
            rc->skipped += n_entries;
    }
    return 0;
}

static int replay_snapshot(struct replay_ctx *rc, struct noa_walrec_reader *r, uint64_t seq,
                           uint32_t segment)
{
    struct noa_ingester *ing = rc->ing;
    struct noa_str tenant_s, text;
    int64_t chunk_start;
    uint64_t n_blocks;
    char tenant[160];
    if (noa_walrec_get_str(r, &tenant_s) < 0 || tenant_s.len >= sizeof(tenant) ||
        noa_walrec_get_str(r, &text) < 0 || noa_walrec_get_varint(r, &chunk_start) < 0 ||
        noa_walrec_get_uvarint(r, &n_blocks) < 0)
        return NOA_ECORRUPT;
    memcpy(tenant, tenant_s.p, tenant_s.len);
    tenant[tenant_s.len] = '\0';
    struct noa_tenant *t = noa_instance_tenant_get(&ing->inst, tenant);
    struct noa_stream *s = replay_stream(ing, t, text);
    if (!s)
        return NOA_ECORRUPT;
    uint64_t flushed = 0;
    noa_index_stream_seq(ing->index, tenant, s->fp, &flushed);
    /* A snapshot replaces what replay built for this stream so far. */
    for (uint32_t i = 0; i < s->n_blocks; i++)
        noa_block_unref(s->blocks[i]);
    s->n_blocks = 0;
    s->chunk_bytes = 0;
    s->head_raw.len = 0;
    s->n_head = 0;
    s->head_sorted = 1;
    s->chunk_start_ns = 0;
    for (uint64_t i = 0; i < n_blocks; i++) {
        uint64_t bseq, entries, raw_len;
        struct noa_chunk_block meta = {0};
        struct noa_str data;
        if (noa_walrec_get_uvarint(r, &bseq) < 0 || noa_walrec_get_varint(r, &meta.min_ts) < 0 ||
            noa_walrec_get_varint(r, &meta.max_ts) < 0 ||
            noa_walrec_get_uvarint(r, &entries) < 0 || noa_walrec_get_uvarint(r, &raw_len) < 0 ||
            noa_walrec_get_str(r, &data) < 0)
            return NOA_ECORRUPT;
        if (bseq <= flushed)
            continue; /* already in a flushed chunk */
        meta.n_entries = (uint32_t)entries;
        meta.raw_len = (uint32_t)raw_len;
        struct noa_block *b;
        if (noa_block_from_compressed(&meta, data.p, data.len, &b, NULL) < 0)
            return NOA_ECORRUPT;
        if (s->n_blocks == s->cap_blocks) {
            s->cap_blocks = s->cap_blocks ? s->cap_blocks * 2 : 4;
            s->blocks = noa_xrealloc(s->blocks, s->cap_blocks * sizeof(*s->blocks));
        }
        s->blocks[s->n_blocks++] = b;
        s->chunk_bytes += b->cb.data.len;
        if (meta.max_ts > s->max_ts)
            s->max_ts = meta.max_ts;
    }
    uint64_t n_head;
    if (noa_walrec_get_uvarint(r, &n_head) < 0)
        return NOA_ECORRUPT;
    struct noa_chunk_iter it;
    noa_chunk_iter_init(&it, r->p + r->pos, r->len - r->pos);
    int64_t now = noa_clock_real_ns();
    for (uint64_t k = 0; k < n_head; k++) {
        struct noa_chunk_entry ce;
        if (noa_chunk_iter_next(&it, &ce, NULL) != 1)
            return NOA_ECORRUPT;
        if (seq <= flushed)
            continue;
        struct noa_label meta[128];
        struct noa_push_entry e = stored_entry(&ce, meta);
        noa_stream_append(s, &ing->replay_sopts, &e, seq, segment + 1, now);
    }
    if (s->n_blocks || s->n_head) {
        s->chunk_start_ns = chunk_start ? chunk_start : now;
        s->last_append_ns = now;
        s->oldest_segment = segment + 1;
    }
    if (seq > s->applied_seq)
        s->applied_seq = seq;
    s->open_seq = seq;
    return 0;
}

static int replay_cb(const void *rec, size_t len, int from_checkpoint, uint32_t segment, void *arg)
{
    struct replay_ctx *rc = arg;
    int type;
    uint64_t seq;
    (void)from_checkpoint;
    if (noa_walrec_header(rec, len, &type, &seq) < 0)
        goto corrupt;
    struct noa_walrec_reader r;
    noa_walrec_reader_init(&r, rec, len);
    int rcode = type == NOA_WALREC_PUSH       ? replay_push(rc, &r, seq, segment)
                : type == NOA_WALREC_SNAPSHOT ? replay_snapshot(rc, &r, seq, segment)
                                              : NOA_ECORRUPT;
    if (rcode < 0)
        goto corrupt;
    if (seq > rc->max_seq)
        rc->max_seq = seq;
    rc->records++;
    return 0;
corrupt:
    /* The frame's CRC held, so this is a bug or a format change, not a torn
     * write: keep going, as the WAL does for corruption. */
    rc->ing->st.wal_corruptions++;
    noa_log(NOA_LOG_ERROR, "wal", "msg=\"undecodable record skipped\" segment=%u bytes=%zu",
            segment, len);
    return 0;
}

/* ---- life cycle ------------------------------------------------------------ */

static char *dup_opt(const char *s)
{
    return s ? noa_xstrdup(s) : NULL;
}

/* ---- metrics ----------------------------------------------------------------- */

/* Writer thread: the histogram child is atomics only. */
static void observe_fsync(double seconds, void *ctx)
{
    noa_metric_observe(ctx, seconds);
}

/*
 * The WAL fsync latency histogram (Loki exports the same figure as
 * loki_ingester_wal_fsync_duration_seconds). Label-less, so its series
 * exist at zero from start-up and alerts see them before the first push.
 * Buckets from 0.5 ms doubling to ~16 s: a healthy local disk syncs in
 * well under 10 ms, a struggling one in hundreds. The child lives as long
 * as the registry, which outlives the ingester (see the options).
 */
static struct noa_metric_child *wal_fsync_histogram(struct noa_metrics *reg)
{
    double b[16];
    if (!reg || noa_metrics_exp_buckets(0.0005, 2, 16, b) != 0)
        return NULL;
    return noa_metrics_histogram_solo(reg, "noa_ingester_wal_fsync_duration_seconds",
                                      "Duration of WAL fdatasync calls.", b, 16);
}

int noa_ingester_open(uv_loop_t *loop, const struct noa_ingester_options *opts,
                      struct noa_ingester **out, struct noa_error *err)
{
    struct noa_ingester *ing = noa_xcalloc(1, sizeof(*ing));
    int rc;
    ing->loop = loop;
    ing->opts = *opts;
    ing->opts.wal_dir = dup_opt(opts->wal_dir);
    ing->opts.chunks_dir = dup_opt(opts->chunks_dir);
    ing->opts.index_dir = dup_opt(opts->index_dir);
    ing->sopts = (struct noa_stream_options){opts->block_size, opts->zstd_level, 1,
                                             opts->chunk_codec};
    ing->replay_sopts = (struct noa_stream_options){opts->block_size, opts->zstd_level, 0,
                                                    opts->chunk_codec};
    noa_instance_init(&ing->inst);
    rc = noa_chunkstore_dir_new(ing->opts.chunks_dir, &ing->store, err);
    if (rc < 0)
        goto fail;
    rc = noa_index_open(ing->opts.index_dir, NULL, &ing->index, err);
    if (rc < 0)
        goto fail;
    if (opts->wal_enabled) {
        struct noa_wal_options wo = {.dir = ing->opts.wal_dir,
                                     .segment_size = opts->wal_segment_size};
        struct noa_metric_child *fsync_hist = wal_fsync_histogram(opts->metrics);
        if (fsync_hist) {
            wo.fsync_observe_cb = observe_fsync;
            wo.observe_ctx = fsync_hist;
        }
        rc = noa_wal_open(loop, &wo, &ing->wal, err);
        if (rc < 0)
            goto fail;
    }
    *out = ing;
    return 0;
fail:
    if (ing->wal)
        noa_wal_close(ing->wal, NULL, NULL);
    noa_index_close(ing->index);
    noa_chunkstore_free(ing->store);
    noa_instance_fini(&ing->inst);
    noa_free((char *)ing->opts.wal_dir);
    noa_free((char *)ing->opts.chunks_dir);
    noa_free((char *)ing->opts.index_dir);
    noa_free(ing);
    return rc;
}

struct recover_job {
    uv_work_t work;
    struct noa_ingester *ing;
    struct replay_ctx rctx;
    struct noa_wal_replay_stats rs;
    struct noa_error err;
    int status;
    void (*cb)(int status, const struct noa_error *err, void *ctx);
    void *ctx;
};

/* Worker thread: nothing else touches the ingester until it is ready. */
static void recover_work(uv_work_t *w)
{
    struct recover_job *j = w->data;
    struct noa_ingester *ing = j->ing;
    j->rctx.ing = ing;
    if (ing->wal)
        j->status = noa_wal_replay(ing->wal, replay_cb, &j->rctx, &j->rs, &j->err);
}

static void recover_after(uv_work_t *w, int status)
{
    struct recover_job *j = w->data;
    struct noa_ingester *ing = j->ing;
    if (status < 0 && j->status == 0)
        j->status = noa_error_set(&j->err, NOA_EINTERNAL, "replay job failed");
    if (j->status == 0) {
        uint64_t index_seq = 0;
        noa_index_max_seq(ing->index, &index_seq);
        ing->st.replayed_records = j->rctx.records;
        ing->replayed_last = j->rs.last_segment;
        ing->st.wal_corruptions += j->rs.corruptions;
        noa_log(NOA_LOG_INFO, "ingester",
                "msg=\"WAL replayed\" records=%llu skipped_entries=%llu segments=%u "
                "torn_tails=%u corruptions=%u streams=%llu",
                (unsigned long long)j->rctx.records, (unsigned long long)j->rctx.skipped,
                j->rs.segments, j->rs.torn_tails, j->rs.corruptions,
                (unsigned long long)ing->inst.n_streams);
        /* Sequences keep rising across restarts, whatever the clock does. */
        ing->next_seq = (j->rctx.max_seq > index_seq ? j->rctx.max_seq : index_seq) + 1;
        uint64_t clock_seq = (uint64_t)noa_clock_real_ns();
        if (clock_seq > ing->next_seq)
            ing->next_seq = clock_seq;
        for (struct noa_tenant *t = ing->inst.tenants; t; t = t->next)
            noa_ratelimit_init(&t->rate, ing->opts.limits->ingestion_rate_bytes,
                               ing->opts.limits->ingestion_burst_bytes);
        ing->ready = 1;
    }
    j->cb(j->status, &j->err, j->ctx);
    noa_free(j);
}

int noa_ingester_recover(struct noa_ingester *ing,
                         void (*cb)(int status, const struct noa_error *err, void *ctx), void *ctx)
{
    struct recover_job *j = noa_xcalloc(1, sizeof(*j));
    j->ing = ing;
    j->cb = cb;
    j->ctx = ctx;
    j->work.data = j;
    int rc = uv_queue_work(ing->loop, &j->work, recover_work, recover_after);
    if (rc < 0)
        noa_free(j);
    return rc;
}

void noa_ingester_start(struct noa_ingester *ing)
{
    uint64_t flush_ms = (uint64_t)(ing->opts.flush_check_period_ns / 1000000);
    uint64_t ckpt_ms = (uint64_t)(ing->opts.checkpoint_period_ns / 1000000);
    uv_timer_init(ing->loop, &ing->flush_timer);
    uv_timer_init(ing->loop, &ing->checkpoint_timer);
    ing->flush_timer.data = ing;
    ing->checkpoint_timer.data = ing;
    ing->handles_open = 2;
    ing->timers_started = 1;
    check_disk(ing);
    uv_timer_start(&ing->flush_timer, flush_timer_cb, flush_ms ? flush_ms : 1000,
                   flush_ms ? flush_ms : 1000);
    if (ing->wal)
        uv_timer_start(&ing->checkpoint_timer, checkpoint_timer_cb, ckpt_ms ? ckpt_ms : 300000,
                       ckpt_ms ? ckpt_ms : 300000);
}

int noa_ingester_ready(const struct noa_ingester *ing)
{
    return ing && ing->ready && !ing->closing;
}

static void free_ingester(struct noa_ingester *ing)
{
    void (*cb)(void *) = ing->close_cb;
    void *ctx = ing->close_ctx;
    noa_index_close(ing->index);
    noa_chunkstore_free(ing->store);
    noa_instance_fini(&ing->inst);
    noa_free((char *)ing->opts.wal_dir);
    noa_free((char *)ing->opts.chunks_dir);
    noa_free((char *)ing->opts.index_dir);
    noa_free(ing);
    if (cb)
        cb(ctx);
}

static void wal_closed_cb(void *arg)
{
    free_ingester(arg);
}

static void timer_closed_cb(uv_handle_t *h)
{
    struct noa_ingester *ing = h->data;
    ing->handles_open--;
    maybe_finish_close(ing);
}

static void maybe_finish_close(struct noa_ingester *ing)
{
    if (!ing->closing || ing->flushes_in_flight || ing->checkpoint_in_flight ||
        ing->trim_in_flight || ing->seals_in_flight || ing->handles_open)
        return;
    ing->closing = 2; /* finishing: runs once */
    if (ing->wal)
        noa_wal_close(ing->wal, wal_closed_cb, ing);
    else
        free_ingester(ing);
}

void noa_ingester_close(struct noa_ingester *ing, void (*cb)(void *ctx), void *ctx)
{
    ing->closing = 1;
    ing->close_cb = cb;
    ing->close_ctx = ctx;
    if (ing->opts.flush_on_shutdown)
        flush_check(ing, 1);
    if (ing->timers_started) {
        uv_close((uv_handle_t *)&ing->flush_timer, timer_closed_cb);
        uv_close((uv_handle_t *)&ing->checkpoint_timer, timer_closed_cb);
    }
    maybe_finish_close(ing);
}

/* ---- read side ------------------------------------------------------------- */

struct noa_index *noa_ingester_index(struct noa_ingester *ing)
{
    return ing->index;
}

struct noa_chunkstore *noa_ingester_store(struct noa_ingester *ing)
{
    return ing->store;
}

static void push_block(struct noa_mem_stream *m, uint32_t *cap, struct noa_block *b)
{
    if (m->n_blocks == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        m->blocks = noa_xrealloc(m->blocks, *cap * sizeof(*m->blocks));
    }
    m->blocks[m->n_blocks++] = noa_block_ref(b);
}

/* 1 when a block overlaps [from, through]. */
static int block_overlaps(const struct noa_block *b, int64_t from, int64_t through)
{
    return b->cb.max_ts >= from && b->cb.min_ts <= through;
}

static void snapshot_one(const struct noa_stream *s, int64_t from, int64_t through,
                         int include_data, struct noa_mem_stream *m)
{
    uint32_t cap = 0;
    memset(m, 0, sizeof(*m));
    m->fp = s->fp;
    m->labels = noa_labels_dup(&s->labels);
    m->head_min_ts = INT64_MAX;
    m->head_max_ts = INT64_MIN;
    if (!include_data)
        return;
    for (const struct noa_cut_chunk *c = s->cut; c; c = c->next)
        for (uint32_t i = 0; i < c->n_blocks; i++)
            if (block_overlaps(c->blocks[i], from, through))
                push_block(m, &cap, c->blocks[i]);
    for (uint32_t i = 0; i < s->n_blocks; i++)
        if (block_overlaps(s->blocks[i], from, through))
            push_block(m, &cap, s->blocks[i]);
    noa_stream_head_sorted(s, &m->head, &m->head_min_ts, &m->head_max_ts);
    m->head_entries = s->n_head;
    if (s->sealing_raw.len && s->sealing_max_ts >= from && s->sealing_min_ts <= through) {
        /* Readers sort what they gather: unsorted entries may follow. */
        noa_buf_append(&m->head, s->sealing_raw.data, s->sealing_raw.len);
        m->head_entries += s->sealing_entries;
    }
}

/* 1 when the stream holds anything in [from, through]. */
static int stream_overlaps(const struct noa_stream *s, int64_t from, int64_t through)
{
    for (const struct noa_cut_chunk *c = s->cut; c; c = c->next)
        for (uint32_t i = 0; i < c->n_blocks; i++)
            if (block_overlaps(c->blocks[i], from, through))
                return 1;
    for (uint32_t i = 0; i < s->n_blocks; i++)
        if (block_overlaps(s->blocks[i], from, through))
            return 1;
    if (s->n_head && s->head[s->n_head - 1].ts >= from && s->head[0].ts <= through)
        return 1; /* the head index is sorted by time */
    return s->sealing_raw.len && s->sealing_max_ts >= from && s->sealing_min_ts <= through;
}

int noa_ingester_snapshot(struct noa_ingester *ing, const char *tenant,
                          const struct noa_selector *sel, int64_t from_ns, int64_t through_ns,
                          int include_data, struct noa_mem_stream **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    noa_instance_rdlock(&ing->inst);
    struct noa_tenant *t = noa_instance_tenant(&ing->inst, tenant);
    size_t cap = 0;
    for (struct noa_stream *s = t ? t->streams : NULL; s; s = s->list_next) {
        if (sel && !noa_selector_matches(sel, &s->labels))
            continue;
        if (!stream_overlaps(s, from_ns, through_ns))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *out = noa_xrealloc(*out, cap * sizeof(**out));
        }
        snapshot_one(s, from_ns, through_ns, include_data, &(*out)[(*n)++]);
    }
    noa_instance_unlock(&ing->inst);
    return 0;
}

int noa_ingester_each_stream(struct noa_ingester *ing, const char *tenant,
                             const struct noa_selector *sel, int64_t from_ns, int64_t through_ns,
                             int (*cb)(const struct noa_labels *ls, void *ctx), void *ctx)
{
    int rc = 0;
    noa_instance_rdlock(&ing->inst);
    struct noa_tenant *t = noa_instance_tenant(&ing->inst, tenant);
    for (struct noa_stream *s = t ? t->streams : NULL; s && rc == 0; s = s->list_next)
        if ((!sel || noa_selector_matches(sel, &s->labels)) &&
            stream_overlaps(s, from_ns, through_ns))
            rc = cb(&s->labels, ctx);
    noa_instance_unlock(&ing->inst);
    return rc;
}

void noa_mem_streams_free(struct noa_mem_stream *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (uint32_t k = 0; k < v[i].n_blocks; k++)
            noa_block_unref(v[i].blocks[k]);
        noa_free(v[i].blocks);
        noa_buf_fini(&v[i].head);
        noa_free(v[i].labels.v);
    }
    noa_free(v);
}

void noa_ingester_stats(struct noa_ingester *ing, struct noa_ingester_stats *st)
{
    *st = ing->st;
    if (ing->wal) {
        struct noa_wal_stats ws;
        noa_wal_stats(ing->wal, &ws);
        st->wal_write_errors = ws.write_errors;
    }
    st->streams = ing->inst.n_streams;
    st->tenants = ing->inst.n_tenants;
    st->flush_queue = (uint64_t)ing->flushes_in_flight;
}
