/*
 * JSON push body decoder over jansson (rules in pushjson.h). jansson builds
 * the tree; this file applies Loki's acceptance rules and copies what it
 * keeps into the request's arena. A small raw scanner over the body finds
 * byte positions for error messages only, because jansson keeps none and
 * Loki's messages quote the bytes around the failing stream.
 * Pure function; any thread.
 */
#include "common/pushjson.h"
#include "common/labels.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef JSON_PARSER_MAX_DEPTH
#error "jansson without a nesting limit: deep bodies could overflow the stack"
#endif

/* Loki's decoder reports jsonparser's errors verbatim. */
static const char ERR_STRING[] = "Value is string, but can't find closing '\"' symbol";
static const char ERR_OBJECT[] = "Value looks like object, but can't find closing '}' symbol";
static const char ERR_VALUE[] =
    "Value looks like Number/Boolean/None, but can't find its end: ',' or '}' symbol";
static const char ERR_OVERFLOW[] = "Value is number, but overflowed while parsing";
static const char ERR_TYPE[] = "Unknown value type";
static const char ERR_NOMEM[] = "out of memory";

/* jsoniter's wrapping of a stream decoder's error, field by field. */
#define STREAMS_PREFIX "loghttp.PushRequest.Streams: []loghttp.LogProtoStream: "

struct jdec {
    struct noa_arena *arena;
    struct noa_buf tmp; /* label text and JSON text of non-string label values */
};

/* ---- raw scanning, for error positions ---- */

static size_t skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* Index just past the JSON value at i (n when it runs off the end). */
static size_t skip_raw_value(const char *s, size_t n, size_t i)
{
    size_t depth = 0;
    while (i < n) {
        char c = s[i];
        if (c == '"') {
            for (i++; i < n && s[i] != '"'; i++)
                if (s[i] == '\\')
                    i++;
            i++;
        } else if (c == '{' || c == '[') {
            depth++;
            i++;
        } else if (c == '}' || c == ']') {
            if (depth)
                depth--;
            i++;
        } else if (depth) {
            i++;
            continue;
        } else {
            while (i < n && !strchr(" \t\r\n,]}", s[i]))
                i++;
            return i;
        }
        if (depth == 0)
            return i < n ? i : n;
    }
    return n;
}

/* Position of the value of the top-level "streams" key (the last one, as
 * jansson keeps), or n when not found. */
static size_t find_streams(const char *s, size_t n)
{
    size_t found = n, i = skip_ws(s, n, 0);
    if (i >= n || s[i] != '{')
        return n;
    i++;
    for (;;) {
        i = skip_ws(s, n, i);
        if (i >= n || s[i] != '"')
            return found;
        size_t k = i + 1;
        i = skip_raw_value(s, n, i);
        int match = i - k - 1 == 7 && strncasecmp(s + k, "streams", 7) == 0;
        i = skip_ws(s, n, i);
        if (i >= n || s[i] != ':')
            return found;
        i = skip_ws(s, n, i + 1);
        if (match)
            found = i;
        i = skip_ws(s, n, skip_raw_value(s, n, i));
        if (i >= n || s[i] != ',')
            return found;
        i++;
    }
}

/* Index just past element `idx` of the array at `arr`. */
static size_t element_end(const char *s, size_t n, size_t arr, size_t idx)
{
    size_t i = arr + 1;
    for (size_t k = 0;; k++) {
        i = skip_ws(s, n, i);
        if (i >= n)
            return n;
        size_t end = skip_raw_value(s, n, i);
        if (k == idx)
            return end;
        i = skip_ws(s, n, end);
        if (i >= n || s[i] != ',')
            return n;
        i++;
    }
}

/* jsoniter's ReportError tail: the bytes around the decoder's position. */
static void put_context(struct noa_buf *b, const char *s, size_t n, size_t head)
{
    if (head > n)
        head = n;
    size_t ps = head > 10 ? head - 10 : 0, pe = n - head > 10 ? head + 10 : n;
    size_t cs = head > 50 ? head - 50 : 0, ce = n - head > 50 ? head + 50 : n;
    noa_buf_printf(b, ", error found in #%zu byte of ...|", head - ps);
    noa_buf_append(b, s + ps, pe - ps);
    noa_buf_append_str(b, NOA_STR("|..., bigger context ...|"));
    noa_buf_append(b, s + cs, ce - cs);
    noa_buf_append_str(b, NOA_STR("|..."));
}

static int fail_at(struct noa_error *err, int line, int col, const char *s, size_t n, size_t head,
                   const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static int fail_at(struct noa_error *err, int line, int col, const char *s, size_t n, size_t head,
                   const char *fmt, ...)
{
    struct noa_buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    noa_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    put_context(&b, s, n, head);
    noa_error_set_at(err, NOA_EINVAL, line, col, "%s", noa_buf_cstr(&b));
    noa_buf_fini(&b);
    return NOA_EINVAL;
}

/* ---- values ---- */

static int dump_cb(const char *p, size_t n, void *data)
{
    noa_buf_append(data, p, n);
    return 0;
}

static struct noa_str copy_str(struct jdec *d, const char *p, size_t n)
{
    return (struct noa_str){noa_arena_strndup(d->arena, p, n), n};
}

/* jsonparser.ParseInt over the timestamp string: optional '-', digits. */
static const char *parse_ns(const char *s, size_t n, int64_t *out)
{
    if (n == 0)
        return ERR_VALUE;
    int neg = s[0] == '-';
    uint64_t v = 0;
    for (size_t i = (size_t)neg; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9)
            return ERR_VALUE;
        if (v > UINT64_MAX / 10 || v * 10 > UINT64_MAX - d)
            return ERR_OVERFLOW;
        v = v * 10 + d;
    }
    if (v > (uint64_t)INT64_MAX) {
        if (neg && v == (uint64_t)INT64_MAX + 1) {
            *out = INT64_MIN;
            return NULL;
        }
        return ERR_OVERFLOW;
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return NULL;
}

struct kv {
    const char *k;
    size_t klen;
    json_t *v;
};

static int kv_cmp(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    size_t l = x->klen < y->klen ? x->klen : y->klen;
    int c = l ? memcmp(x->k, y->k, l) : 0;
    return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

/* "stream": the label set as Prometheus text, names sorted. */
static const char *dec_labels(struct jdec *d, json_t *obj, struct noa_str *out)
{
    if (!json_is_object(obj))
        return ERR_OBJECT;
    size_t n = json_object_size(obj), i = 0;
    struct kv *kvs = n ? noa_arena_alloc(d->arena, n * sizeof(*kvs)) : NULL;
    const char *key;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach(obj, key, klen, v)
    {
        kvs[i++] = (struct kv){key, klen, v};
    }
    if (n > 1)
        qsort(kvs, n, sizeof(*kvs), kv_cmp);
    noa_buf_reset(&d->tmp);
    noa_buf_putc(&d->tmp, '{');
    for (i = 0; i < n; i++) {
        if (i)
            noa_buf_append(&d->tmp, ", ", 2);
        noa_buf_append(&d->tmp, kvs[i].k, kvs[i].klen);
        noa_buf_putc(&d->tmp, '=');
        if (json_is_string(kvs[i].v)) {
            noa_buf_put_go_quoted(&d->tmp, (struct noa_str){json_string_value(kvs[i].v),
                                                            json_string_length(kvs[i].v)});
        } else {
            /* Loki reads the raw JSON text of a non-string value. */
            struct noa_buf txt = {0};
            json_dump_callback(kvs[i].v, dump_cb, &txt, JSON_ENCODE_ANY | JSON_COMPACT);
            noa_buf_put_go_quoted(&d->tmp, (struct noa_str){txt.data, txt.len});
            noa_buf_fini(&txt);
        }
    }
    noa_buf_putc(&d->tmp, '}');
    *out = copy_str(d, d->tmp.data, d->tmp.len);
    return NULL;
}

static const char *dec_meta(struct jdec *d, json_t *obj, struct noa_push_entry *e)
{
    if (!json_is_object(obj))
        return ERR_OBJECT;
    size_t n = json_object_size(obj), i = 0;
    if (n > UINT32_MAX)
        return ERR_NOMEM;
    e->meta = n ? noa_arena_alloc(d->arena, n * sizeof(*e->meta)) : NULL;
    const char *key;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach(obj, key, klen, v)
    {
        if (!json_is_string(v))
            return ERR_STRING;
        e->meta[i].name = copy_str(d, key, klen);
        e->meta[i].value = copy_str(d, json_string_value(v), json_string_length(v));
        i++;
    }
    e->n_meta = (uint32_t)n;
    return NULL;
}

static const char *dec_entry(struct jdec *d, json_t *arr, struct noa_push_entry *e)
{
    *e = (struct noa_push_entry){.ts_ns = INT64_MIN, .line = {"", 0}};
    if (!json_is_array(arr))
        return ERR_TYPE;
    size_t n = json_array_size(arr);
    const char *why;
    if (n > 0) {
        json_t *ts = json_array_get(arr, 0);
        if (!json_is_string(ts))
            return ERR_STRING;
        if ((why = parse_ns(json_string_value(ts), json_string_length(ts), &e->ts_ns)))
            return why;
    }
    if (n > 1) {
        json_t *line = json_array_get(arr, 1);
        if (!json_is_string(line))
            return ERR_STRING;
        e->line = copy_str(d, json_string_value(line), json_string_length(line));
    }
    if (n > 2)
        return dec_meta(d, json_array_get(arr, 2), e);
    return NULL;
}

static const char *dec_values(struct jdec *d, json_t *arr, struct noa_push_stream *s)
{
    if (json_is_null(arr))
        return NULL;
    if (!json_is_array(arr))
        return ERR_TYPE;
    size_t n = json_array_size(arr), k = 0, i;
    json_t *v;
    json_array_foreach(arr, i, v) k += !json_is_null(v);
    if (k > UINT32_MAX)
        return ERR_NOMEM;
    s->entries = k ? noa_arena_alloc(d->arena, k * sizeof(*s->entries)) : NULL;
    s->n_entries = 0;
    for (i = 0; i < n; i++) {
        v = json_array_get(arr, i);
        if (json_is_null(v))
            continue;
        const char *why = dec_entry(d, v, &s->entries[s->n_entries]);
        if (why)
            return why;
        s->n_entries++;
    }
    return NULL;
}

static const char *dec_stream(struct jdec *d, json_t *obj, struct noa_push_stream *s)
{
    *s = (struct noa_push_stream){.labels = {"", 0}};
    if (!json_is_object(obj))
        return ERR_OBJECT;
    const char *key, *why = NULL;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach(obj, key, klen, v)
    {
        if (klen == 6 && memcmp(key, "stream", 6) == 0)
            why = dec_labels(d, v, &s->labels);
        else if (klen == 6 && memcmp(key, "values", 6) == 0)
            why = dec_values(d, v, s);
        if (why)
            return why;
    }
    return NULL;
}

/* ---- the body ---- */

static json_t *find_streams_value(json_t *root)
{
    json_t *found = NULL, *v;
    const char *key;
    size_t klen;
    json_object_keylen_foreach(root, key, klen, v)
    {
        if (klen == 7 && strncasecmp(key, "streams", 7) == 0)
            found = v;
    }
    return found;
}

static int dec_streams(struct jdec *d, const char *s, size_t n, json_t *arr,
                       struct noa_push_request *out, struct noa_error *err)
{
    size_t count = json_array_size(arr);
    if (count > UINT32_MAX)
        return noa_error_set(err, NOA_EINVAL, "too many streams");
    if (count)
        out->streams = noa_arena_alloc(d->arena, count * sizeof(*out->streams));
    for (size_t i = 0; i < count; i++) {
        const char *why = dec_stream(d, json_array_get(arr, i), &out->streams[i]);
        if (why == ERR_NOMEM)
            return noa_error_set(err, NOA_ENOMEM, "push body: too many values");
        if (why)
            return fail_at(err, 0, 0, s, n, element_end(s, n, find_streams(s, n), i),
                           STREAMS_PREFIX "unmarshalerDecoder: %s", why);
        out->n_streams++;
    }
    return 0;
}

int noa_pushjson_decode(const void *body, size_t n, struct noa_push_request *out,
                        struct noa_error *err)
{
    const char *s = body;
    memset(out, 0, sizeof(*out));
    struct jdec d = {.arena = &out->arena};
    json_t *root = NULL;
    int rc = 0;
    size_t first = skip_ws(s, n, 0);
    if (first >= n) {
        rc = noa_error_set(err, NOA_EINVAL, "EOF"); /* what jsoniter's decoder says */
        goto done;
    }
    json_error_t jerr;
    root = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DISABLE_EOF_CHECK, &jerr);
    if (!root) {
        rc = fail_at(err, jerr.line, jerr.column, s, n, (size_t)jerr.position,
                     "loghttp.PushRequest: %s", jerr.text);
        goto done;
    }
    if (json_is_null(root))
        goto done;
    if (!json_is_object(root)) {
        rc = fail_at(err, 0, 0, s, n, first + 1,
                     "loghttp.PushRequest.readObjectStart: expect { or n, but found %c", s[first]);
        goto done;
    }
    json_t *streams = find_streams_value(root);
    if (!streams || json_is_null(streams))
        goto done;
    if (!json_is_array(streams)) {
        size_t at = find_streams(s, n);
        rc = fail_at(err, 0, 0, s, n, at + 1,
                     STREAMS_PREFIX "decode slice: expect [ or n, but found %c",
                     at < n ? s[at] : '?');
        goto done;
    }
    rc = dec_streams(&d, s, n, streams, out, err);
done:
    json_decref(root);
    noa_buf_fini(&d.tmp);
    if (rc)
        noa_push_request_fini(out);
    return rc;
}
