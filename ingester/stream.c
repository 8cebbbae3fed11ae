/*
 * Stream heads: append with duplicate detection, sealing into blocks,
 * cutting chunks. Loop thread only (under the instance write lock), except
 * noa_stream_head_sorted which readers call under the read lock.
 */
#include "ingester/stream.h"
#include "common/mem.h"
#include "ingester/chunk.h"

#include <stdlib.h>

struct noa_stream *noa_stream_new(uint64_t fp, const struct noa_labels *labels,
                                  struct noa_str canonical)
{
    struct noa_stream *s = noa_xcalloc(1, sizeof(*s));
    s->fp = fp;
    s->labels = noa_labels_dup(labels);
    s->canonical = noa_xstrndup(canonical.p, canonical.len);
    s->canonical_len = canonical.len;
    s->head_sorted = 1;
    s->max_ts = INT64_MIN;
    s->last_ts = INT64_MIN;
    return s;
}

static void cut_free(struct noa_cut_chunk *c)
{
    for (uint32_t i = 0; i < c->n_blocks; i++)
        noa_block_unref(c->blocks[i]);
    noa_free(c->blocks);
    noa_free(c);
}

void noa_stream_free(struct noa_stream *s)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < s->n_blocks; i++)
        noa_block_unref(s->blocks[i]);
    noa_free(s->blocks);
    while (s->cut) {
        struct noa_cut_chunk *n = s->cut->next;
        cut_free(s->cut);
        s->cut = n;
    }
    noa_buf_fini(&s->head_raw);
    noa_buf_fini(&s->sealing_raw);
    noa_free(s->head);
    noa_free(s->labels.v);
    noa_free(s->canonical);
    noa_free(s);
}

/* The first index position whose time is >= ts (the index is sorted). */
static uint32_t lower_bound(const struct noa_stream *s, int64_t ts)
{
    uint32_t lo = 0, hi = s->n_head;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->head[mid].ts < ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* 1 when the freshly encoded entry at [off, off+len) repeats one already in
 * the head: only entries with the same time can, and the index finds them. */
static int head_has_duplicate(const struct noa_stream *s, int64_t ts, uint32_t off, uint32_t len)
{
    const char *fresh = s->head_raw.data + off;
    for (uint32_t i = lower_bound(s, ts); i < s->n_head && s->head[i].ts == ts; i++) {
        const struct noa_head_entry *h = &s->head[i];
        if (h->len == len && memcmp(s->head_raw.data + h->off, fresh, len) == 0)
            return 1;
    }
    return 0;
}

/* Adds an entry to the index, keeping it sorted by time and, among equal
 * times, by arrival. In-order entries (the common case) are appended. */
static void index_insert(struct noa_stream *s, struct noa_head_entry h)
{
    if (s->n_head == s->cap_head) {
        s->cap_head = s->cap_head ? s->cap_head * 2 : 64;
        s->head = noa_xrealloc(s->head, s->cap_head * sizeof(*s->head));
    }
    uint32_t at = s->n_head;
    if (at && s->head[at - 1].ts > h.ts) {
        at = lower_bound(s, h.ts + 1); /* after every entry with the same time */
        memmove(&s->head[at + 1], &s->head[at], (s->n_head - at) * sizeof(*s->head));
        s->head_sorted = 0; /* the raw bytes are no longer in time order */
    }
    s->head[at] = h;
    s->n_head++;
}

int noa_stream_append(struct noa_stream *s, const struct noa_stream_options *opts,
                      const struct noa_push_entry *e, uint64_t seq, uint32_t segment,
                      int64_t now_ns)
{
    /* Room for the encoded entry (varints at their widest): the head grows
     * from 4 KiB towards one block, so an idle stream holding a few lines
     * costs kilobytes, and a full block is never doubled past its size. */
    size_t room = 20 + e->line.len;
    for (uint32_t i = 0; i < e->n_meta; i++)
        room += 10 + e->meta[i].name.len + e->meta[i].value.len;
    noa_buf_reserve_upto(&s->head_raw, room, opts->block_size + 4096);
    size_t off = s->head_raw.len;
    noa_chunk_block_append(&s->head_raw, e->ts_ns, e->line, e->meta, e->n_meta);
    uint32_t len = (uint32_t)(s->head_raw.len - off);
    if (e->ts_ns <= s->max_ts && head_has_duplicate(s, e->ts_ns, (uint32_t)off, len)) {
        s->head_raw.len = off;
        return 0;
    }
    index_insert(s, (struct noa_head_entry){e->ts_ns, (uint32_t)off, len});
    s->last_ts = e->ts_ns;
    if (e->ts_ns > s->max_ts)
        s->max_ts = e->ts_ns;
    if (!s->chunk_start_ns)
        s->chunk_start_ns = now_ns;
    s->last_append_ns = now_ns;
    if (seq > s->applied_seq)
        s->applied_seq = seq;
    if (seq > s->open_seq)
        s->open_seq = seq;
    if (segment && (!s->oldest_segment || segment < s->oldest_segment))
        s->oldest_segment = segment;
    if (s->head_raw.len >= opts->block_size && !opts->defer_seal) {
        int rc = noa_stream_seal(s, opts);
        if (rc < 0)
            return rc;
    }
    return 1;
}

void noa_stream_head_sorted(const struct noa_stream *s, struct noa_buf *out, int64_t *min_ts,
                            int64_t *max_ts)
{
    *min_ts = INT64_MAX;
    *max_ts = INT64_MIN;
    if (!s->n_head)
        return;
    *min_ts = s->head[0].ts;
    *max_ts = s->head[s->n_head - 1].ts;
    if (s->head_sorted) {
        noa_buf_append(out, s->head_raw.data, s->head_raw.len);
        return;
    }
    noa_buf_reserve(out, s->head_raw.len);
    for (uint32_t i = 0; i < s->n_head; i++)
        noa_buf_append(out, s->head_raw.data + s->head[i].off, s->head[i].len);
}

static void push_sealed(struct noa_stream *s, struct noa_block *b)
{
    if (s->n_blocks == s->cap_blocks) {
        s->cap_blocks = s->cap_blocks ? s->cap_blocks * 2 : 4;
        s->blocks = noa_xrealloc(s->blocks, s->cap_blocks * sizeof(*s->blocks));
    }
    s->blocks[s->n_blocks++] = b;
    s->chunk_bytes += b->cb.data.len;
}

int noa_stream_seal(struct noa_stream *s, const struct noa_stream_options *opts)
{
    if (!s->n_head)
        return 0;
    struct noa_block *b;
    int rc = noa_block_seal_codec(s->head_raw.data, s->head_raw.len, opts->codec,
                                  opts->zstd_level, &b, NULL);
    if (rc < 0)
        return rc;
    push_sealed(s, b);
    /* The head restarts empty; keep its buffers for the next block. */
    s->head_raw.len = 0;
    s->n_head = 0;
    s->head_sorted = 1;
    return 0;
}

int noa_stream_begin_seal(struct noa_stream *s)
{
    if (s->sealing_raw.len || !s->n_head)
        return 0;
    int64_t lo = s->head[0].ts, hi = s->head[s->n_head - 1].ts; /* the index is sorted */
    /* The full buffer moves to the slot; the head starts a fresh one. */
    s->sealing_raw = s->head_raw;
    s->head_raw = (struct noa_buf){0};
    s->sealing_entries = s->n_head;
    s->sealing_min_ts = lo;
    s->sealing_max_ts = hi;
    s->n_head = 0;
    s->head_sorted = 1;
    return 1;
}

void noa_stream_end_seal(struct noa_stream *s, struct noa_block *b)
{
    push_sealed(s, b);
    noa_buf_fini(&s->sealing_raw); /* a spare would double every stream's memory */
    s->sealing_entries = 0;
}

struct noa_cut_chunk *noa_stream_cut(struct noa_stream *s, const struct noa_stream_options *opts)
{
    if (s->sealing_raw.len || noa_stream_seal(s, opts) < 0 || !s->n_blocks)
        return NULL;
    struct noa_cut_chunk *c = noa_xcalloc(1, sizeof(*c));
    c->blocks = s->blocks;
    c->n_blocks = s->n_blocks;
    c->seq = s->open_seq;
    c->oldest_segment = s->oldest_segment;
    s->blocks = NULL;
    s->n_blocks = s->cap_blocks = 0;
    s->chunk_bytes = 0;
    s->chunk_start_ns = 0;
    s->oldest_segment = 0;
    /* Release the head's buffers too: an idle stream should cost little. */
    noa_buf_fini(&s->head_raw);
    noa_buf_fini(&s->sealing_raw);
    noa_free(s->head);
    s->head = NULL;
    s->cap_head = 0;
    struct noa_cut_chunk **tail = &s->cut;
    while (*tail)
        tail = &(*tail)->next;
    *tail = c;
    return c;
}

void noa_stream_drop_cut(struct noa_stream *s, struct noa_cut_chunk *c)
{
    for (struct noa_cut_chunk **p = &s->cut; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            cut_free(c);
            return;
        }
    }
}

int noa_stream_empty(const struct noa_stream *s)
{
    return !s->n_head && !s->n_blocks && !s->cut && !s->sealing_raw.len;
}

uint32_t noa_stream_oldest_segment(const struct noa_stream *s)
{
    uint32_t oldest = s->oldest_segment;
    for (const struct noa_cut_chunk *c = s->cut; c; c = c->next)
        if (c->oldest_segment && (!oldest || c->oldest_segment < oldest))
            oldest = c->oldest_segment;
    return oldest;
}
