/*
 * Partial-line joiner (see linejoin.h). The pending partials live in a
 * small array scanned linearly: it holds at most max_partial_lines entries
 * (100 by default) and a line with nothing pending never scans it. Each
 * slot keeps its buffer between lines so joining does not allocate per
 * line; a buffer grown past SLOT_KEEP_BYTES is released after use so one
 * huge line does not pin memory. One thread owns a joiner.
 */
#include "shipper/linejoin.h"

#include "common/err.h"
#include "common/mem.h"

#include <string.h>

#define LINEJOIN_DEF_MAX_LINES 100
#define LINEJOIN_MAX_MAX_LINES 1000000
#define LINEJOIN_DEF_MAX_BYTES ((size_t)4 << 20)
#define LINEJOIN_DEF_IDLE_NS ((int64_t)5 * 1000000000)
#define SLOT_KEEP_BYTES ((size_t)64 << 10)

struct slot {
    uint64_t key;
    int stream;
    int truncated;
    uint32_t fragments;
    int64_t ts_ns;   /* per opts.ts */
    int64_t last_ns; /* monotonic time of the last fragment */
    struct noa_buf buf;
};

struct noa_linejoin {
    struct noa_linejoin_opts o; /* defaults applied */
    struct slot *slots;         /* [0, n_used) pending, the rest spare */
    size_t n_used;
    size_t cap;
};

int noa_linejoin_new(const struct noa_linejoin_opts *opts, struct noa_linejoin **out)
{
    *out = NULL;
    if (!opts->emit_cb || opts->max_partial_lines < 0 ||
        opts->max_partial_lines > LINEJOIN_MAX_MAX_LINES)
        return NOA_EINVAL;
    struct noa_linejoin *j = noa_xcalloc(1, sizeof(*j));
    j->o = *opts;
    if (j->o.max_partial_lines == 0)
        j->o.max_partial_lines = LINEJOIN_DEF_MAX_LINES;
    if (j->o.max_bytes == 0)
        j->o.max_bytes = LINEJOIN_DEF_MAX_BYTES;
    if (j->o.idle_ns == 0)
        j->o.idle_ns = LINEJOIN_DEF_IDLE_NS;
    if (!j->o.truncate)
        j->o.max_partial_line_size = 0;
    /* Slots are small; allocate them all so the table never moves. */
    j->cap = (size_t)j->o.max_partial_lines;
    j->slots = noa_xcalloc(j->cap, sizeof(*j->slots));
    *out = j;
    return 0;
}

void noa_linejoin_free(struct noa_linejoin *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->cap; i++)
        noa_buf_fini(&j->slots[i].buf);
    noa_free(j->slots);
    noa_free(j);
}

static struct slot *find(struct noa_linejoin *j, uint64_t key, int stream)
{
    for (size_t i = 0; i < j->n_used; i++)
        if (j->slots[i].key == key && j->slots[i].stream == stream)
            return &j->slots[i];
    return NULL;
}

/* Emits slot s's line and returns the slot to the spare part of the table
 * (swapping with the last pending one, so callers walking the table must
 * walk it backwards). */
static void emit_slot(struct noa_linejoin *j, struct slot *s, int why)
{
    struct noa_linejoin_out o = {
        .key = s->key,
        .stream = s->stream,
        .ts_ns = s->ts_ns,
        .line = {s->buf.data, s->buf.len},
        .why = why,
        .truncated = s->truncated,
        .fragments = s->fragments,
    };
    j->o.emit_cb(j->o.arg, &o);
    noa_buf_reset(&s->buf);
    if (s->buf.cap > SLOT_KEEP_BYTES)
        noa_buf_fini(&s->buf);
    struct slot *last = &j->slots[j->n_used - 1];
    if (s != last) {
        struct slot tmp = *s;
        *s = *last;
        *last = tmp;
    }
    j->n_used--;
}

/* Drops a trailing incomplete UTF-8 sequence left by a byte-count cut, so a
 * truncated line stays valid text. */
static void trim_cut_rune(struct noa_buf *b)
{
    size_t n = b->len, k = 0;
    while (k < 3 && k < n && ((unsigned char)b->data[n - 1 - k] & 0xC0) == 0x80)
        k++;
    if (k == n)
        return;
    unsigned char lead = (unsigned char)b->data[n - 1 - k];
    size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (want > k + 1)
        b->len = n - 1 - k;
}

/* Appends a fragment to a pending line, applying the truncation rule. */
static void append(struct noa_linejoin *j, struct slot *s, const struct noa_linejoin_in *in)
{
    struct noa_str c = in->content;
    size_t limit = j->o.max_partial_line_size;
    if (s->truncated) {
        /* Once cut, nothing more: a later fragment must not fill the room
         * left by trimming a split rune and glue distant text together. */
    } else if (limit && s->buf.len + c.len > limit) {
        size_t room = s->buf.len < limit ? limit - s->buf.len : 0;
        s->truncated = 1;
        if (room) {
            noa_buf_append(&s->buf, c.p, room);
            trim_cut_rune(&s->buf);
        }
    } else if (c.len) {
        noa_buf_append(&s->buf, c.p, c.len);
    }
    s->fragments++;
    if (j->o.ts == NOA_LINEJOIN_TS_LAST || s->fragments == 1)
        s->ts_ns = in->ts_ns;
}

/* Emits every pending line (walking backwards, see emit_slot). */
static size_t flush_where(struct noa_linejoin *j, int why, int all, uint64_t key, int64_t before)
{
    size_t n = 0;
    for (size_t i = j->n_used; i-- > 0;) {
        struct slot *s = &j->slots[i];
        if (!all && why == NOA_LINEJOIN_FLUSH && s->key != key)
            continue;
        if (why == NOA_LINEJOIN_IDLE && s->last_ns > before)
            continue;
        emit_slot(j, s, why);
        n++;
    }
    return n;
}

static struct slot *start_slot(struct noa_linejoin *j, const struct noa_linejoin_in *in,
                               int64_t now_ns)
{
    if (j->n_used == j->cap)
        flush_where(j, NOA_LINEJOIN_LIMIT, 1, 0, 0);
    struct slot *s = &j->slots[j->n_used++];
    s->key = in->key;
    s->stream = in->stream;
    s->truncated = 0;
    s->fragments = 0;
    s->ts_ns = in->ts_ns;
    s->last_ns = now_ns;
    noa_buf_reset(&s->buf);
    return s;
}

void noa_linejoin_add(struct noa_linejoin *j, const struct noa_linejoin_in *in, int64_t now_ns)
{
    struct slot *s = j->n_used ? find(j, in->key, in->stream) : NULL;
    if (!s && !in->partial) {
        /* The common case: a whole line with nothing pending, no copy. */
        struct noa_linejoin_out o = {
            .key = in->key,
            .stream = in->stream,
            .ts_ns = in->ts_ns,
            .line = in->content,
            .why = NOA_LINEJOIN_COMPLETE,
            .fragments = 1,
        };
        j->o.emit_cb(j->o.arg, &o);
        return;
    }
    size_t limit = j->o.max_partial_line_size;
    if (s && s->buf.len && s->buf.len + in->content.len > j->o.max_bytes &&
        !(limit && limit <= j->o.max_bytes)) {
        /* Over the safety cap: ship what was joined, start a new line. */
        emit_slot(j, s, NOA_LINEJOIN_OVERSIZE);
        s = NULL;
    }
    if (!s)
        s = start_slot(j, in, now_ns);
    append(j, s, in);
    s->last_ns = now_ns;
    if (!in->partial)
        emit_slot(j, s, NOA_LINEJOIN_COMPLETE);
}

size_t noa_linejoin_flush_idle(struct noa_linejoin *j, int64_t now_ns)
{
    if (j->o.idle_ns < 0)
        return 0;
    return flush_where(j, NOA_LINEJOIN_IDLE, 0, 0, now_ns - j->o.idle_ns);
}

size_t noa_linejoin_flush_key(struct noa_linejoin *j, uint64_t key)
{
    return flush_where(j, NOA_LINEJOIN_FLUSH, 0, key, 0);
}

size_t noa_linejoin_flush_all(struct noa_linejoin *j)
{
    return flush_where(j, NOA_LINEJOIN_FLUSH, 1, 0, 0);
}

int64_t noa_linejoin_next_deadline(const struct noa_linejoin *j)
{
    int64_t d = INT64_MAX;
    if (j->o.idle_ns < 0)
        return d;
    for (size_t i = 0; i < j->n_used; i++)
        if (j->slots[i].last_ns < d - j->o.idle_ns)
            d = j->slots[i].last_ns + j->o.idle_ns;
    return d;
}

size_t noa_linejoin_pending(const struct noa_linejoin *j)
{
    return j->n_used;
}
