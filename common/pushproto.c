/*
 * Zero-copy decoder and encoder of Loki's protobuf PushRequest (format in
 * pushproto.h). The decoder walks the body twice: a first pass validates
 * everything and counts streams, entries and metadata pairs, so the arrays
 * are allocated once, at their exact size and after the memory limit is
 * checked; the second pass fills them. Pure functions; any thread.
 */
#include "common/pushproto.h"
#include "common/compress.h"

#include <assert.h>
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#define NS_PER_S INT64_C(1000000000)
/* Go's valid Timestamp range: [0001-01-01, 10000-01-01). */
#define MIN_VALID_SECONDS INT64_C(-62135596800)
#define MAX_VALID_SECONDS INT64_C(253402300800)
/* Largest legal protobuf field number. */
#define MAX_FIELD 536870911u

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

struct dec {
    const unsigned char *base; /* start of the body: offsets in messages count from here */
    struct noa_error *err;
    int fill; /* 0: validating and counting pass; 1: filling pass */
    /* totals, from the counting pass */
    uint64_t n_streams, n_entries, n_meta;
    /* arrays and cursors, for the filling pass */
    struct noa_push_stream *streams;
    struct noa_push_entry *entries;
    struct noa_label *meta;
    size_t si, ei, mi;
};

static size_t off(const struct dec *d, const unsigned char *p)
{
    return (size_t)(p - d->base);
}

/* ---- wire primitives ---- */

static int varint_fail(struct dec *d, const unsigned char *p, const unsigned char *end)
{
    size_t avail = (size_t)(end - p);
    for (size_t i = 0; i < avail && i < 10; i++)
        if (p[i] < 0x80)
            goto overflow;
    if (avail < 10)
        return noa_error_set(d->err, NOA_EINVAL, "proto: unexpected EOF in varint at offset %zu",
                             off(d, p));
overflow:
    return noa_error_set(d->err, NOA_EINVAL, "proto: integer overflow in varint at offset %zu",
                         off(d, p));
}

static inline int get_varint(struct dec *d, const unsigned char **pp, const unsigned char *end,
                             uint64_t *v)
{
    const unsigned char *p = *pp;
    if (p < end && *p < 0x80) { /* most tags and small lengths */
        *v = *p;
        *pp = p + 1;
        return 0;
    }
    size_t k = noa_get_uvarint(p, (size_t)(end - p), v);
    if (!k)
        return varint_fail(d, p, end);
    *pp = p + k;
    return 0;
}

/* Reads a tag; rejects what gogo rejects before looking at the field. */
static int get_tag(struct dec *d, const unsigned char **pp, const unsigned char *end,
                   const char *msg, uint32_t *field, int *wt)
{
    const unsigned char *at = *pp;
    uint64_t t;
    int rc = get_varint(d, pp, end, &t);
    if (rc)
        return rc;
    *wt = (int)(t & 7);
    if (*wt == WT_EGROUP)
        return noa_error_set(d->err, NOA_EINVAL,
                             "proto: %s: wiretype end group for non-group at offset %zu", msg,
                             off(d, at));
    if ((t >> 3) == 0 || (t >> 3) > MAX_FIELD)
        return noa_error_set(d->err, NOA_EINVAL,
                             "proto: %s: illegal tag %" PRIu64 " (wire type %d) at offset %zu", msg,
                             t >> 3, *wt, off(d, at));
    *field = (uint32_t)(t >> 3);
    return 0;
}

/* Reads a length prefix and bounds the value by its enclosing message. */
static int get_len(struct dec *d, const unsigned char **pp, const unsigned char *end,
                   const char *what, const unsigned char **stop)
{
    const unsigned char *at = *pp;
    uint64_t l;
    int rc = get_varint(d, pp, end, &l);
    if (rc)
        return rc;
    size_t left = (size_t)(end - *pp);
    if (l > left)
        return noa_error_set(d->err, NOA_EINVAL,
                             "proto: %s length %" PRIu64
                             " at offset %zu runs past the end of its message (%zu bytes left)",
                             what, l, off(d, at), left);
    *stop = *pp + l;
    return 0;
}

static int wrong_wt(struct dec *d, const unsigned char *at, int wt, const char *field)
{
    return noa_error_set(d->err, NOA_EINVAL,
                         "proto: wrong wireType = %d for field %s at offset %zu", wt, field,
                         off(d, at));
}

static int skip_fixed(struct dec *d, const unsigned char **pp, const unsigned char *end, size_t k)
{
    if ((size_t)(end - *pp) < k)
        return noa_error_set(d->err, NOA_EINVAL,
                             "proto: unexpected EOF in %zu-byte field at offset %zu", k,
                             off(d, *pp));
    *pp += k;
    return 0;
}

/* Skips one value of wire type `wt` (its tag already read), groups included
 * (iteratively: a depth counter, no recursion on attacker input). */
static int skip_value(struct dec *d, const unsigned char **pp, const unsigned char *end, int wt,
                      const char *msg)
{
    size_t depth = 0;
    for (;;) {
        const unsigned char *stop = NULL;
        uint64_t v;
        int rc = 0;
        switch (wt) {
        case WT_VARINT:
            rc = get_varint(d, pp, end, &v);
            break;
        case WT_I64:
            rc = skip_fixed(d, pp, end, 8);
            break;
        case WT_I32:
            rc = skip_fixed(d, pp, end, 4);
            break;
        case WT_LEN:
            rc = get_len(d, pp, end, "unknown field", &stop);
            if (!rc)
                *pp = stop;
            break;
        case WT_SGROUP:
            depth++;
            break;
        case WT_EGROUP:
            if (depth == 0)
                return noa_error_set(d->err, NOA_EINVAL,
                                     "proto: %s: wiretype end group for non-group at offset %zu",
                                     msg, off(d, *pp));
            depth--;
            break;
        default:
            return noa_error_set(d->err, NOA_EINVAL,
                                 "proto: %s: illegal wireType %d before offset %zu", msg, wt,
                                 off(d, *pp));
        }
        if (rc || depth == 0)
            return rc;
        /* Inside a group: the next tag says what comes. */
        const unsigned char *at = *pp;
        if (at >= end)
            return noa_error_set(d->err, NOA_EINVAL, "proto: %s: group not closed at offset %zu",
                                 msg, off(d, at));
        rc = get_varint(d, pp, end, &v);
        if (rc)
            return rc;
        wt = (int)(v & 7);
    }
}

/* ---- messages ---- */

static int dec_label(struct dec *d, const unsigned char *p, const unsigned char *end,
                     struct noa_label *out)
{
    struct noa_str name = {(const char *)p, 0}, value = {(const char *)p, 0};
    while (p < end) {
        const unsigned char *at = p, *stop = NULL;
        uint32_t field = 0;
        int wt, rc = get_tag(d, &p, end, "LabelPairAdapter", &field, &wt);
        if (rc)
            return rc;
        if (field == 1 || field == 2) {
            if (wt != WT_LEN)
                return wrong_wt(d, at, wt, field == 1 ? "Name" : "Value");
            if ((rc = get_len(d, &p, end, field == 1 ? "Name" : "Value", &stop)))
                return rc;
            struct noa_str s = {(const char *)p, (size_t)(stop - p)};
            if (field == 1)
                name = s;
            else
                value = s;
            p = stop;
        } else if ((rc = skip_value(d, &p, end, wt, "LabelPairAdapter"))) {
            return rc;
        }
    }
    if (out) {
        out->name = name;
        out->value = value;
    }
    return 0;
}

/* Go's (int32) and (int64) conversions of a varint, without relying on
 * implementation-defined signed conversions. */
static int64_t as_int64(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? -(int64_t)(~v) - 1 : (int64_t)v;
}

static int64_t as_int32(uint64_t v)
{
    int64_t x = (int64_t)(v & 0xFFFFFFFFu);
    return x >= INT64_C(0x80000000) ? x - INT64_C(0x100000000) : x;
}

static int dec_timestamp(struct dec *d, const unsigned char *p, const unsigned char *end,
                         int64_t *ts)
{
    const unsigned char *start = p;
    uint64_t sec = 0, nanos = 0;
    while (p < end) {
        const unsigned char *at = p;
        uint32_t field = 0;
        int wt, rc = get_tag(d, &p, end, "Timestamp", &field, &wt);
        if (rc)
            return rc;
        if (field == 1 || field == 2) {
            if (wt != WT_VARINT)
                return wrong_wt(d, at, wt, field == 1 ? "Seconds" : "Nanos");
            if ((rc = get_varint(d, &p, end, field == 1 ? &sec : &nanos)))
                return rc;
        } else if ((rc = skip_value(d, &p, end, wt, "Timestamp"))) {
            return rc;
        }
    }
    int64_t s = as_int64(sec), ns = as_int32(nanos);
    const char *why = NULL;
    if (s < MIN_VALID_SECONDS)
        why = "before 0001-01-01";
    else if (s >= MAX_VALID_SECONDS)
        why = "after 10000-01-01";
    else if (ns < 0 || ns >= NS_PER_S)
        why = "nanos not in range [0, 1e9)";
    if (why)
        return noa_error_set(d->err, NOA_EINVAL,
                             "timestamp: {seconds: %" PRId64 ", nanos: %" PRId64
                             "} %s (timestamp at offset %zu)",
                             s, ns, why, off(d, start));
    /* INT64_MIN is -9223372037 s + 145224192 ns; INT64_MAX is 9223372036 s +
     * 854775807 ns. Outside, clamp so validation calls it too old/new. */
    if (s > INT64_C(9223372036) || (s == INT64_C(9223372036) && ns > INT64_C(854775807)))
        *ts = INT64_MAX;
    else if (s < INT64_C(-9223372037) || (s == INT64_C(-9223372037) && ns < INT64_C(145224192)))
        *ts = INT64_MIN;
    else if (s < 0)
        *ts = (s + 1) * NS_PER_S + (ns - NS_PER_S); /* no overflow at the low end */
    else
        *ts = s * NS_PER_S + ns;
    return 0;
}

/* EntryAdapter's field names by number, as gogo's errors spell them. */
static const char *const entry_fields[] = {"", "Timestamp", "Line", "StructuredMetadata", "Parsed"};

static int dec_entry(struct dec *d, const unsigned char *p, const unsigned char *end)
{
    const unsigned char *start = p;
    int64_t ts = INT64_MIN; /* Go's zero time.Time: rejected as too old */
    struct noa_str line = {(const char *)p, 0};
    uint64_t n_meta = 0;
    size_t first_meta = d->mi;
    while (p < end) {
        const unsigned char *at = p, *stop = NULL;
        uint32_t field = 0;
        int wt, rc = get_tag(d, &p, end, "EntryAdapter", &field, &wt);
        if (rc)
            return rc;
        if (field < 1 || field > 4) {
            if ((rc = skip_value(d, &p, end, wt, "EntryAdapter")))
                return rc;
            continue;
        }
        if (wt != WT_LEN)
            return wrong_wt(d, at, wt, entry_fields[field]);
        if ((rc = get_len(d, &p, end, entry_fields[field], &stop)))
            return rc;
        switch (field) {
        case 1:
            rc = dec_timestamp(d, p, stop, &ts);
            break;
        case 2:
            line = (struct noa_str){(const char *)p, (size_t)(stop - p)};
            break;
        case 3:
            rc = dec_label(d, p, stop, d->fill ? &d->meta[d->mi++] : NULL);
            n_meta++;
            break;
        default: /* parsed: checked, then dropped */
            rc = dec_label(d, p, stop, NULL);
            break;
        }
        if (rc)
            return rc;
        p = stop;
    }
    if (n_meta > UINT32_MAX)
        return noa_error_set(d->err, NOA_EINVAL,
                             "proto: entry at offset %zu has more than %u metadata pairs",
                             off(d, start), UINT32_MAX);
    if (!d->fill) {
        d->n_meta += n_meta;
        return 0;
    }
    struct noa_push_entry *e = &d->entries[d->ei++];
    e->ts_ns = ts;
    e->line = line;
    e->meta = n_meta ? &d->meta[first_meta] : NULL;
    e->n_meta = (uint32_t)n_meta;
    return 0;
}

static int dec_stream(struct dec *d, const unsigned char *p, const unsigned char *end)
{
    const unsigned char *start = p;
    struct noa_str labels = {(const char *)p, 0};
    uint64_t n_entries = 0;
    size_t first_entry = d->ei;
    while (p < end) {
        const unsigned char *at = p, *stop = NULL;
        uint32_t field = 0;
        int wt, rc = get_tag(d, &p, end, "StreamAdapter", &field, &wt);
        if (rc)
            return rc;
        if (field == 1 || field == 2) {
            if (wt != WT_LEN)
                return wrong_wt(d, at, wt, field == 1 ? "Labels" : "Entries");
            if ((rc = get_len(d, &p, end, field == 1 ? "Labels" : "Entries", &stop)))
                return rc;
            if (field == 1) {
                labels = (struct noa_str){(const char *)p, (size_t)(stop - p)};
            } else {
                if ((rc = dec_entry(d, p, stop)))
                    return rc;
                n_entries++;
            }
            p = stop;
        } else if (field == 3) {
            uint64_t hash;
            if (wt != WT_VARINT)
                return wrong_wt(d, at, wt, "Hash");
            if ((rc = get_varint(d, &p, end, &hash)))
                return rc;
        } else if ((rc = skip_value(d, &p, end, wt, "StreamAdapter"))) {
            return rc;
        }
    }
    if (n_entries > UINT32_MAX)
        return noa_error_set(d->err, NOA_EINVAL,
                             "proto: stream at offset %zu has more than %u entries", off(d, start),
                             UINT32_MAX);
    if (!d->fill) {
        d->n_entries += n_entries;
        return 0;
    }
    struct noa_push_stream *s = &d->streams[d->si++];
    s->labels = labels;
    s->entries = n_entries ? &d->entries[first_entry] : NULL;
    s->n_entries = (uint32_t)n_entries;
    return 0;
}

static int dec_request(struct dec *d, const unsigned char *p, const unsigned char *end)
{
    while (p < end) {
        const unsigned char *at = p, *stop = NULL;
        uint32_t field = 0;
        int wt, rc = get_tag(d, &p, end, "PushRequest", &field, &wt);
        if (rc)
            return rc;
        if (field == 1 || field == 2) {
            if (wt != WT_LEN)
                return wrong_wt(d, at, wt, field == 1 ? "Streams" : "Format");
            if ((rc = get_len(d, &p, end, field == 1 ? "Streams" : "Format", &stop)))
                return rc;
            if (field == 1) {
                if ((rc = dec_stream(d, p, stop)))
                    return rc;
                d->n_streams += !d->fill;
            }
            p = stop;
        } else if ((rc = skip_value(d, &p, end, wt, "PushRequest"))) {
            return rc;
        }
    }
    return 0;
}

int noa_pushproto_decode(const void *buf, size_t n, const struct noa_pushproto_opts *opts,
                         struct noa_push_request *out, struct noa_error *err)
{
    memset(out, 0, sizeof(*out));
    const unsigned char *p = buf;
    struct dec d = {.base = p, .err = err};
    int rc = dec_request(&d, p, p + n);
    if (rc)
        return rc;
    if (d.n_streams > UINT32_MAX)
        return noa_error_set(err, NOA_EINVAL, "proto: more than %u streams", UINT32_MAX);
    /* Counts are bounded by n / 2, so these products cannot overflow. */
    uint64_t need = d.n_streams * sizeof(struct noa_push_stream) +
                    d.n_entries * sizeof(struct noa_push_entry) +
                    d.n_meta * sizeof(struct noa_label);
    if (opts && opts->max_mem && need > opts->max_mem)
        return noa_error_set(err, NOA_ETOOBIG,
                             "push request needs %" PRIu64
                             " bytes of memory to decode, more than the limit of %zu",
                             need, opts->max_mem);
    if (d.n_streams)
        d.streams = noa_arena_alloc(&out->arena, d.n_streams * sizeof(*d.streams));
    if (d.n_entries)
        d.entries = noa_arena_alloc(&out->arena, d.n_entries * sizeof(*d.entries));
    if (d.n_meta)
        d.meta = noa_arena_alloc(&out->arena, d.n_meta * sizeof(*d.meta));
    d.fill = 1;
    rc = dec_request(&d, p, p + n);
    /* The first pass accepted these bytes; the second walks the same path. */
    assert(rc == 0 && d.si == d.n_streams && d.ei == d.n_entries && d.mi == d.n_meta);
    if (rc) {
        noa_push_request_fini(out);
        return rc;
    }
    out->streams = d.streams;
    out->n_streams = (uint32_t)d.n_streams;
    return 0;
}

/* 1 when p lies inside b's allocation. */
static int points_into(const struct noa_buf *b, const void *p)
{
    uintptr_t x = (uintptr_t)p, lo = (uintptr_t)b->data;
    return b->data && x >= lo && x - lo < b->cap;
}

int noa_pushproto_decode_snappy(const void *body, size_t n, const struct noa_pushproto_opts *opts,
                                struct noa_buf *scratch, struct noa_push_request *out,
                                struct noa_error *err)
{
    memset(out, 0, sizeof(*out));
    size_t max = opts && opts->max_decompressed ? opts->max_decompressed
                                                : NOA_PUSHPROTO_DEFAULT_MAX_DECOMPRESSED;
    int rc;
    if (points_into(scratch, body)) {
        /* The body is scratch's own bytes (a gzip layer undone into it):
         * decompress beside it, then let the result take its place. */
        struct noa_buf tmp = {0};
        rc = noa_compress_snappy_decompress(body, n, max, &tmp, err);
        if (rc) {
            noa_buf_fini(&tmp);
            return rc;
        }
        noa_buf_fini(scratch);
        *scratch = tmp;
    } else {
        noa_buf_reset(scratch);
        rc = noa_compress_snappy_decompress(body, n, max, scratch, err);
        if (rc)
            return rc;
    }
    return noa_pushproto_decode(scratch->data, scratch->len, opts, out, err);
}

/* ---- encoder ---- */

static size_t vlen(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* A length-delimited field: tag, length, bytes. Empty strings are omitted
 * (proto3), embedded messages are not. */
static size_t str_field_size(size_t len)
{
    return len ? 1 + vlen(len) + len : 0;
}

static size_t msg_field_size(size_t len)
{
    return 1 + vlen(len) + len;
}

static void ts_split(int64_t ts, int64_t *sec, int64_t *nanos)
{
    *sec = ts / NS_PER_S;
    *nanos = ts % NS_PER_S;
    if (*nanos < 0) { /* Timestamp nanos count forward from the second */
        *nanos += NS_PER_S;
        (*sec)--;
    }
}

static size_t ts_size(int64_t ts)
{
    int64_t sec, nanos;
    ts_split(ts, &sec, &nanos);
    return (sec ? 1 + vlen((uint64_t)sec) : 0) + (nanos ? 1 + vlen((uint64_t)nanos) : 0);
}

static size_t label_size(const struct noa_label *l)
{
    return str_field_size(l->name.len) + str_field_size(l->value.len);
}

static size_t entry_size(const struct noa_push_entry *e)
{
    size_t n = msg_field_size(ts_size(e->ts_ns)) + str_field_size(e->line.len);
    for (uint32_t i = 0; i < e->n_meta; i++)
        n += msg_field_size(label_size(&e->meta[i]));
    return n;
}

static size_t stream_size(const struct noa_push_stream *s)
{
    size_t n = str_field_size(s->labels.len);
    for (uint32_t i = 0; i < s->n_entries; i++)
        n += msg_field_size(entry_size(&s->entries[i]));
    return n;
}

size_t noa_pushproto_encoded_size(const struct noa_push_request *req)
{
    size_t n = 0;
    for (uint32_t i = 0; i < req->n_streams; i++)
        n += msg_field_size(stream_size(&req->streams[i]));
    return n;
}

static unsigned char *put_uv(unsigned char *w, uint64_t v)
{
    while (v >= 0x80) {
        *w++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *w++ = (unsigned char)v;
    return w;
}

static unsigned char *put_str(unsigned char *w, unsigned char tag, struct noa_str s)
{
    if (!s.len)
        return w;
    *w++ = tag;
    w = put_uv(w, s.len);
    memcpy(w, s.p, s.len);
    return w + s.len;
}

static unsigned char *put_entry(unsigned char *w, const struct noa_push_entry *e)
{
    int64_t sec, nanos;
    ts_split(e->ts_ns, &sec, &nanos);
    *w++ = 0x0A; /* timestamp, always written */
    w = put_uv(w, ts_size(e->ts_ns));
    if (sec) {
        *w++ = 0x08;
        w = put_uv(w, (uint64_t)sec);
    }
    if (nanos) {
        *w++ = 0x10;
        w = put_uv(w, (uint64_t)nanos);
    }
    w = put_str(w, 0x12, e->line);
    for (uint32_t i = 0; i < e->n_meta; i++) {
        const struct noa_label *l = &e->meta[i];
        *w++ = 0x1A;
        w = put_uv(w, label_size(l));
        w = put_str(w, 0x0A, l->name);
        w = put_str(w, 0x12, l->value);
    }
    return w;
}

int noa_pushproto_encode(const struct noa_push_request *req, struct noa_buf *out)
{
    size_t total = noa_pushproto_encoded_size(req);
    noa_buf_reserve(out, total);
    unsigned char *w = (unsigned char *)out->data + out->len, *w0 = w;
    for (uint32_t i = 0; i < req->n_streams; i++) {
        const struct noa_push_stream *s = &req->streams[i];
        *w++ = 0x0A;
        w = put_uv(w, stream_size(s));
        w = put_str(w, 0x0A, s->labels);
        for (uint32_t j = 0; j < s->n_entries; j++) {
            *w++ = 0x12;
            w = put_uv(w, entry_size(&s->entries[j]));
            w = put_entry(w, &s->entries[j]);
        }
    }
    assert((size_t)(w - w0) == total);
    out->len += (size_t)(w - w0);
    return 0;
}
