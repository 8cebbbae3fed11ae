/* Unit tests for common/pushproto.c: the PushRequest decoder (zero-copy,
 * unknown and out-of-order fields, every malformed shape) and encoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/compress.h"
#include "common/mem.h"
#include "common/pushproto.h"

#include <stdio.h>
#include <string.h>

/* ---- building protobuf by hand ---- */

static void tag(struct noa_buf *b, unsigned field, unsigned wt)
{
    noa_buf_put_uvarint(b, (uint64_t)field << 3 | wt);
}

static void field_varint(struct noa_buf *b, unsigned field, uint64_t v)
{
    tag(b, field, 0);
    noa_buf_put_uvarint(b, v);
}

static void field_bytes(struct noa_buf *b, unsigned field, const void *p, size_t n)
{
    tag(b, field, 2);
    noa_buf_put_uvarint(b, n);
    noa_buf_append(b, p, n);
}

static void field_msg(struct noa_buf *b, unsigned field, struct noa_buf *m)
{
    field_bytes(b, field, m->data, m->len);
    noa_buf_fini(m);
}

static void field_str(struct noa_buf *b, unsigned field, const char *s)
{
    field_bytes(b, field, s, strlen(s));
}

static int decode(const struct noa_buf *b, struct noa_push_request *req, struct noa_error *err)
{
    return noa_pushproto_decode(b->data, b->len, NULL, req, err);
}

static void expect_error(const struct noa_buf *b, const char *msg)
{
    struct noa_push_request req;
    struct noa_error err = {0};
    int rc = decode(b, &req, &err);
    if (rc != NOA_EINVAL)
        fail_msg("expected EINVAL with '%s', got %d", msg, rc);
    if (!strstr(err.msg, msg))
        fail_msg("message '%s' lacks '%s'", err.msg, msg);
    /* A failed decode leaves nothing to free. */
    assert_int_equal(req.n_streams, 0);
    assert_null(req.streams);
    assert_null(req.arena.head);
}

/* One stream {a="b"} with one entry {ts, "hi"} whose timestamp message is `ts`. */
static void one_entry_with_ts(struct noa_buf *b, struct noa_buf *ts)
{
    struct noa_buf e = {0}, s = {0};
    field_msg(&e, 1, ts);
    field_str(&e, 2, "hi");
    field_str(&s, 1, "{a=\"b\"}");
    field_msg(&s, 2, &e);
    field_msg(b, 1, &s);
}

static int64_t decode_ts(uint64_t sec, uint64_t nanos, int *rc, struct noa_error *err)
{
    struct noa_buf b = {0}, t = {0};
    if (sec)
        field_varint(&t, 1, sec);
    if (nanos)
        field_varint(&t, 2, nanos);
    one_entry_with_ts(&b, &t);
    struct noa_push_request req;
    *rc = decode(&b, &req, err);
    int64_t ts = *rc ? 0 : req.streams[0].entries[0].ts_ns;
    noa_push_request_fini(&req);
    noa_buf_fini(&b);
    return ts;
}

/* ---- tests ---- */

/* The bytes Go's gogo marshaller writes for a one-entry push. */
static void test_golden_bytes(void **state)
{
    (void)state;
    static const unsigned char want[] = {
        0x0A, 0x15,                                        /* streams, 21 bytes */
        0x0A, 0x07, '{',  'a',  '=',  '"',  'b', '"', '}', /* labels */
        0x12, 0x0A,                                        /* entries, 10 bytes */
        0x0A, 0x04, 0x08, 0x01, 0x10, 0x05,                /* timestamp 1 s 5 ns */
        0x12, 0x02, 'h',  'i',                             /* line */
    };
    struct noa_push_entry e = {.ts_ns = 1000000005, .line = NOA_STR("hi")};
    struct noa_push_stream s = {.labels = NOA_STR("{a=\"b\"}"), .entries = &e, .n_entries = 1};
    struct noa_push_request req = {.streams = &s, .n_streams = 1};
    struct noa_buf b = {0};
    assert_int_equal(noa_pushproto_encode(&req, &b), 0);
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    assert_int_equal(noa_pushproto_encoded_size(&req), sizeof(want));

    struct noa_push_request got;
    struct noa_error err = {0};
    assert_int_equal(noa_pushproto_decode(want, sizeof(want), NULL, &got, &err), 0);
    assert_int_equal(got.n_streams, 1);
    assert_int_equal(got.streams[0].n_entries, 1);
    assert_int_equal(got.streams[0].entries[0].ts_ns, 1000000005);
    /* Zero copy: the strings are views into the body. */
    assert_ptr_equal(got.streams[0].labels.p, (const char *)want + 4);
    assert_ptr_equal(got.streams[0].entries[0].line.p, (const char *)want + 21);
    assert_int_equal(got.streams[0].entries[0].line.len, 2);
    noa_push_request_fini(&got);
    noa_buf_fini(&b);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct noa_label meta[3] = {{NOA_STR("trace_id"), NOA_STR("abc")},
                                {NOA_STR("empty"), NOA_STR("")},
                                {NOA_STR(""), NOA_STR("noname")}};
    struct noa_push_entry e1[] = {
        {.ts_ns = 1700000000123456789, .line = NOA_STR("first"), .meta = meta, .n_meta = 3},
        {.ts_ns = -1, .line = NOA_STR("")},
        {.ts_ns = 0, .line = NOA_STR("zero")},
        {.ts_ns = INT64_MIN, .line = NOA_STR("min")},
        {.ts_ns = INT64_MAX, .line = NOA_STR("max")},
        {.ts_ns = -1500000000, .line = NOA_STR("neg")},
    };
    struct noa_push_entry e2[] = {{.ts_ns = 5, .line = {"bin\0ary\xff", 8}}};
    struct noa_push_stream s[] = {
        {.labels = NOA_STR("{job=\"api\"}"), .entries = e1, .n_entries = 6},
        {.labels = NOA_STR(""), .entries = e2, .n_entries = 1},
        {.labels = NOA_STR("{x=\"y\"}"), .entries = NULL, .n_entries = 0},
    };
    struct noa_push_request req = {.streams = s, .n_streams = 3};
    struct noa_buf b = {0};
    noa_buf_append(&b, "xyz", 3); /* encode appends */
    assert_int_equal(noa_pushproto_encode(&req, &b), 0);
    assert_int_equal(b.len, 3 + noa_pushproto_encoded_size(&req));

    struct noa_push_request got;
    struct noa_error err = {0};
    assert_int_equal(noa_pushproto_decode(b.data + 3, b.len - 3, NULL, &got, &err), 0);
    assert_int_equal(got.n_streams, 3);
    for (uint32_t i = 0; i < 3; i++) {
        assert_true(noa_str_eq(got.streams[i].labels, s[i].labels));
        assert_int_equal(got.streams[i].n_entries, s[i].n_entries);
        for (uint32_t j = 0; j < s[i].n_entries; j++) {
            const struct noa_push_entry *a = &got.streams[i].entries[j], *w = &s[i].entries[j];
            assert_int_equal(a->ts_ns, w->ts_ns);
            assert_true(noa_str_eq(a->line, w->line));
            assert_int_equal(a->n_meta, w->n_meta);
            for (uint32_t k = 0; k < w->n_meta; k++) {
                assert_true(noa_str_eq(a->meta[k].name, w->meta[k].name));
                assert_true(noa_str_eq(a->meta[k].value, w->meta[k].value));
            }
        }
    }
    assert_null(got.streams[2].entries);
    noa_push_request_fini(&got);
    noa_push_request_fini(&got); /* idempotent */
    noa_buf_fini(&b);
}

static void test_empty_body(void **state)
{
    (void)state;
    struct noa_push_request req;
    assert_int_equal(noa_pushproto_decode("", 0, NULL, &req, NULL), 0);
    assert_int_equal(req.n_streams, 0);
    struct noa_buf b = {0};
    assert_int_equal(noa_pushproto_encode(&req, &b), 0);
    assert_int_equal(b.len, 0);
    noa_buf_fini(&b);
    noa_push_request_fini(&req);
}

/* Unknown fields of every wire type, at every level, are skipped. */
static void add_unknowns(struct noa_buf *b)
{
    field_varint(b, 15, 300);
    tag(b, 16, 1);
    noa_buf_append(b, "12345678", 8);
    field_str(b, 17, "ignored");
    tag(b, 18, 5);
    noa_buf_append(b, "1234", 4);
    tag(b, 19, 3); /* group { varint, group { bytes } } */
    field_varint(b, 1, 7);
    tag(b, 2, 3);
    field_str(b, 3, "deep");
    tag(b, 2, 4);
    tag(b, 19, 4);
    field_varint(b, 100000, 1); /* a multi-byte tag */
}

static void test_unknown_fields_skipped(void **state)
{
    (void)state;
    struct noa_buf b = {0}, s = {0}, e = {0}, t = {0}, m = {0};
    add_unknowns(&t);
    field_varint(&t, 1, 10);
    add_unknowns(&m);
    field_str(&m, 1, "k");
    field_str(&m, 2, "v");
    add_unknowns(&e);
    field_msg(&e, 1, &t);
    field_str(&e, 2, "line");
    field_msg(&e, 3, &m);
    add_unknowns(&s);
    field_str(&s, 1, "{a=\"1\"}");
    field_varint(&s, 3, 0xFFFFFFFFFFFFull); /* hash */
    field_msg(&s, 2, &e);
    add_unknowns(&b);
    field_str(&b, 2, "format");
    field_msg(&b, 1, &s);
    add_unknowns(&b);

    struct noa_push_request req;
    struct noa_error err = {0};
    int rc = decode(&b, &req, &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_int_equal(req.n_streams, 1);
    const struct noa_push_entry *en = &req.streams[0].entries[0];
    assert_int_equal(en->ts_ns, 10000000000);
    assert_true(noa_str_eq_c(en->line, "line"));
    assert_int_equal(en->n_meta, 1);
    assert_true(noa_str_eq_c(en->meta[0].name, "k"));
    assert_true(noa_str_eq_c(en->meta[0].value, "v"));
    noa_push_request_fini(&req);
    noa_buf_fini(&b);
}

static void test_out_of_order_and_repeated(void **state)
{
    (void)state;
    struct noa_buf b = {0}, s = {0}, e1 = {0}, e2 = {0}, t = {0}, m = {0};
    /* entry 1: line, metadata, then timestamp; the line given twice */
    field_str(&e1, 2, "old");
    field_str(&m, 2, "v1");
    field_str(&m, 1, "n1");
    field_msg(&e1, 3, &m);
    field_varint(&t, 2, 7);
    field_varint(&t, 1, 3);
    field_msg(&e1, 1, &t);
    field_str(&e1, 2, "new");
    /* entry 2: two timestamps, the second replaces the first whole */
    field_varint(&t, 1, 99);
    field_msg(&e2, 1, &t);
    field_varint(&t, 2, 5);
    field_msg(&e2, 1, &t);
    field_str(&m, 1, "parsed");
    field_msg(&e2, 4, &m); /* parsed: checked, not kept */
    /* stream: entries before labels, labels twice */
    field_str(&s, 1, "{old=\"1\"}");
    field_msg(&s, 2, &e1);
    field_msg(&s, 2, &e2);
    field_str(&s, 1, "{new=\"1\"}");
    field_msg(&b, 1, &s);

    struct noa_push_request req;
    struct noa_error err = {0};
    assert_int_equal(decode(&b, &req, &err), 0);
    const struct noa_push_stream *st = &req.streams[0];
    assert_true(noa_str_eq_c(st->labels, "{new=\"1\"}"));
    assert_int_equal(st->n_entries, 2);
    assert_int_equal(st->entries[0].ts_ns, 3000000007);
    assert_true(noa_str_eq_c(st->entries[0].line, "new"));
    assert_int_equal(st->entries[0].n_meta, 1);
    assert_true(noa_str_eq_c(st->entries[0].meta[0].name, "n1"));
    assert_true(noa_str_eq_c(st->entries[0].meta[0].value, "v1"));
    assert_int_equal(st->entries[1].ts_ns, 5);
    assert_int_equal(st->entries[1].n_meta, 0);
    assert_null(st->entries[1].meta);
    noa_push_request_fini(&req);
    noa_buf_fini(&b);
}

static void test_timestamps(void **state)
{
    (void)state;
    int rc;
    struct noa_error err = {0};
    assert_int_equal(decode_ts(0, 0, &rc, &err), 0); /* empty Timestamp: the epoch */
    assert_int_equal(rc, 0);
    assert_int_equal(decode_ts(1, 999999999, &rc, &err), 1999999999);
    /* -1 s + 999999999 ns: one nanosecond before the epoch */
    assert_int_equal(decode_ts((uint64_t)-1, 999999999, &rc, &err), -1);
    assert_int_equal(rc, 0);
    /* Go truncates the nanos varint to int32: 2^32 + 5 is 5. */
    assert_int_equal(decode_ts(2, (1ull << 32) + 5, &rc, &err), 2000000005);
    /* Valid in Go, outside int64 ns: clamped for validation to reject. */
    assert_int_equal(decode_ts(100000000000ull, 0, &rc, &err), INT64_MAX);
    assert_int_equal(rc, 0);
    assert_int_equal(decode_ts((uint64_t)-10000000000ll, 0, &rc, &err), INT64_MIN);
    assert_int_equal(rc, 0);
    /* The exact int64 edges are not clamped. */
    assert_int_equal(decode_ts(9223372036ull, 854775807, &rc, &err), INT64_MAX);
    assert_int_equal(decode_ts((uint64_t)-9223372037ll, 145224192, &rc, &err), INT64_MIN);
    assert_int_equal(decode_ts((uint64_t)-9223372037ll, 145224193, &rc, &err), INT64_MIN + 1);
    assert_int_equal(rc, 0);
    /* Invalid in Go. */
    decode_ts(1, (uint64_t)-1, &rc, &err); /* nanos -1, a 10-byte varint */
    assert_int_equal(rc, NOA_EINVAL);
    assert_non_null(strstr(err.msg, "nanos not in range [0, 1e9)"));
    decode_ts(1, 1000000000, &rc, &err);
    assert_int_equal(rc, NOA_EINVAL);
    assert_non_null(strstr(err.msg, "nanos: 1000000000} nanos not in range"));
    decode_ts((uint64_t)-62135596801ll, 0, &rc, &err);
    assert_int_equal(rc, NOA_EINVAL);
    assert_non_null(strstr(err.msg, "before 0001-01-01"));
    decode_ts(253402300800ull, 0, &rc, &err);
    assert_int_equal(rc, NOA_EINVAL);
    assert_non_null(strstr(err.msg, "after 10000-01-01"));
    /* The entry's timestamp message starts at offset 15 of this body. */
    assert_non_null(strstr(err.msg, "at offset 15"));
}

static void test_missing_timestamp(void **state)
{
    (void)state;
    struct noa_buf b = {0}, s = {0}, e = {0};
    field_str(&e, 2, "no time");
    field_msg(&s, 2, &e);
    field_msg(&b, 1, &s);
    struct noa_push_request req;
    assert_int_equal(decode(&b, &req, NULL), 0);
    assert_int_equal(req.streams[0].entries[0].ts_ns, INT64_MIN);
    assert_int_equal(req.streams[0].labels.len, 0);
    noa_push_request_fini(&req);
    noa_buf_fini(&b);
}

static void test_malformed(void **state)
{
    (void)state;
    struct noa_buf b = {0}, s = {0}, e = {0};

    noa_buf_append(&b, "\x0A", 1); /* a tag and nothing else */
    expect_error(&b, "unexpected EOF in varint at offset 1");
    noa_buf_reset(&b);
    noa_buf_append(&b, "\x80", 1); /* a tag cut short */
    expect_error(&b, "unexpected EOF in varint at offset 0");
    noa_buf_reset(&b);
    noa_buf_append(&b, "\x0A\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12);
    expect_error(&b, "integer overflow in varint at offset 1");
    noa_buf_reset(&b);
    noa_buf_append(&b, "\x0A\x05\x01", 3);
    expect_error(&b, "proto: Streams length 5 at offset 1 runs past the end of its message "
                     "(1 bytes left)");
    noa_buf_reset(&b);
    noa_buf_append(&b, "\x0A\x02\x0A", 3); /* one byte short */
    expect_error(&b, "proto: Streams length 2 at offset 1 runs past the end");
    noa_buf_reset(&b);
    noa_buf_append(&b, "\x08\x01", 2);
    expect_error(&b, "proto: wrong wireType = 0 for field Streams at offset 0");
    noa_buf_reset(&b);
    noa_buf_append(&b, "\x00\x01", 2);
    expect_error(&b, "proto: PushRequest: illegal tag 0 (wire type 0) at offset 0");
    noa_buf_reset(&b);
    noa_buf_append(&b, "\x7C", 1); /* field 15, end group */
    expect_error(&b, "proto: PushRequest: wiretype end group for non-group at offset 0");
    noa_buf_reset(&b);
    noa_buf_append(&b, "\x7E\x01", 2); /* field 15, wire type 6 */
    expect_error(&b, "proto: PushRequest: illegal wireType 6");
    noa_buf_reset(&b);
    noa_buf_append(&b, "\x7F\x01", 2); /* wire type 7 */
    expect_error(&b, "illegal wireType 7");
    noa_buf_reset(&b);
    noa_buf_append(&b, "\x7B\x08\x01", 3); /* a group never closed */
    expect_error(&b, "group not closed");
    noa_buf_reset(&b);
    noa_buf_append(&b, "\x79\x01\x02", 3); /* fixed64 cut short */
    expect_error(&b, "unexpected EOF in 8-byte field at offset 1");
    noa_buf_reset(&b);
    noa_buf_append(&b, "\x7D\x01", 2); /* fixed32 cut short */
    expect_error(&b, "unexpected EOF in 4-byte field");
    noa_buf_reset(&b);
    noa_buf_append(&b, "\x80\x80\x80\x80\x10\x01", 6); /* field 2^29, past the largest */
    expect_error(&b, "illegal tag 536870912");
    noa_buf_reset(&b);

    /* A nested length consistent with the body but not with its parent:
     * the stream says 4 bytes, its entry claims 10. */
    noa_buf_append(&b, "\x0A\x04\x12\x0A\x12\x00", 6);
    noa_buf_append(&b, "\x00\x00\x00\x00\x00\x00\x00\x00", 8);
    expect_error(&b, "proto: Entries length 10 at offset 3 runs past the end of its message "
                     "(2 bytes left)");
    noa_buf_reset(&b);

    /* Wrong wire types for each known field. */
    field_varint(&s, 1, 1);
    field_msg(&b, 1, &s);
    expect_error(&b, "wrong wireType = 0 for field Labels");
    noa_buf_reset(&b);
    field_varint(&s, 2, 1);
    field_msg(&b, 1, &s);
    expect_error(&b, "wrong wireType = 0 for field Entries");
    noa_buf_reset(&b);
    field_str(&s, 3, "x");
    field_msg(&b, 1, &s);
    expect_error(&b, "wrong wireType = 2 for field Hash");
    noa_buf_reset(&b);
    field_varint(&b, 2, 1);
    expect_error(&b, "wrong wireType = 0 for field Format");
    noa_buf_reset(&b);
    const char *entry_fields[] = {"Timestamp", "Line", "StructuredMetadata", "Parsed"};
    for (unsigned f = 1; f <= 4; f++) {
        field_varint(&e, f, 1);
        field_msg(&s, 2, &e);
        field_msg(&b, 1, &s);
        char want[64];
        snprintf(want, sizeof(want), "wrong wireType = 0 for field %s", entry_fields[f - 1]);
        expect_error(&b, want);
        noa_buf_reset(&b);
    }
    struct noa_buf t = {0}, m = {0};
    field_str(&t, 1, "x");
    field_msg(&e, 1, &t);
    field_msg(&s, 2, &e);
    field_msg(&b, 1, &s);
    expect_error(&b, "wrong wireType = 2 for field Seconds");
    noa_buf_reset(&b);
    field_varint(&m, 2, 3);
    field_msg(&e, 3, &m);
    field_msg(&s, 2, &e);
    field_msg(&b, 1, &s);
    expect_error(&b, "wrong wireType = 0 for field Value");
    noa_buf_reset(&b);
    /* The parsed field is checked even though it is dropped. */
    noa_buf_append(&m, "\x0A\x09", 2);
    field_msg(&e, 4, &m);
    field_msg(&s, 2, &e);
    field_msg(&b, 1, &s);
    expect_error(&b, "proto: Name length 9");
    noa_buf_fini(&b);
}

static void test_memory_limit(void **state)
{
    (void)state;
    struct noa_buf b = {0}, s = {0};
    for (int i = 0; i < 1000; i++)
        noa_buf_append(&s, "\x12\x00", 2); /* empty entries: 2 bytes each */
    field_msg(&b, 1, &s);
    struct noa_pushproto_opts opts = {.max_mem = 1000 * sizeof(struct noa_push_entry)};
    struct noa_push_request req;
    struct noa_error err = {0};
    assert_int_equal(noa_pushproto_decode(b.data, b.len, &opts, &req, &err), NOA_ETOOBIG);
    assert_non_null(strstr(err.msg, "bytes of memory to decode"));
    assert_null(req.arena.head);
    opts.max_mem += sizeof(struct noa_push_stream);
    assert_int_equal(noa_pushproto_decode(b.data, b.len, &opts, &req, &err), 0);
    assert_int_equal(req.streams[0].n_entries, 1000);
    assert_int_equal(req.streams[0].entries[999].ts_ns, INT64_MIN);
    noa_push_request_fini(&req);
    noa_buf_fini(&b);
}

static void test_snappy_body(void **state)
{
    (void)state;
    struct noa_push_entry e = {.ts_ns = 42, .line = NOA_STR("snappy line")};
    struct noa_push_stream s = {.labels = NOA_STR("{a=\"b\"}"), .entries = &e, .n_entries = 1};
    struct noa_push_request req = {.streams = &s, .n_streams = 1}, got;
    struct noa_buf raw = {0}, body = {0}, scratch = {0};
    struct noa_error err = {0};
    assert_int_equal(noa_pushproto_encode(&req, &raw), 0);
    assert_int_equal(noa_compress_snappy_compress(raw.data, raw.len, &body), 0);
    noa_buf_append(&scratch, "stale", 5);
    assert_int_equal(noa_pushproto_decode_snappy(body.data, body.len, NULL, &scratch, &got, &err),
                     0);
    assert_int_equal(scratch.len, raw.len);
    assert_int_equal(got.streams[0].entries[0].ts_ns, 42);
    assert_true(noa_str_eq_c(got.streams[0].entries[0].line, "snappy line"));
    assert_ptr_equal(got.streams[0].labels.p, scratch.data + 4);
    noa_push_request_fini(&got);

    /* The body may live in the scratch buffer itself (gzip undone into it). */
    noa_buf_reset(&scratch);
    noa_buf_append(&scratch, body.data, body.len);
    assert_int_equal(
        noa_pushproto_decode_snappy(scratch.data, scratch.len, NULL, &scratch, &got, &err), 0);
    assert_int_equal(scratch.len, raw.len);
    assert_memory_equal(scratch.data, raw.data, raw.len);
    assert_true(noa_str_eq_c(got.streams[0].entries[0].line, "snappy line"));
    noa_push_request_fini(&got);

    struct noa_pushproto_opts opts = {.max_decompressed = raw.len - 1};
    assert_int_equal(noa_pushproto_decode_snappy(body.data, body.len, &opts, &scratch, &got, &err),
                     NOA_ETOOBIG);
    assert_non_null(strstr(err.msg, "snappy: decompressed size"));
    /* Promtail's body sent raw, without snappy: what Loki says. */
    assert_int_equal(noa_pushproto_decode_snappy(raw.data, raw.len, NULL, &scratch, &got, &err),
                     NOA_EINVAL);
    assert_string_equal(err.msg, "snappy: corrupt input");
    noa_buf_fini(&raw);
    noa_buf_fini(&body);
    noa_buf_fini(&scratch);
}

/* Many streams and entries: sizes, order and arena placement hold. */
static void test_many(void **state)
{
    (void)state;
    enum { STREAMS = 50, ENTRIES = 400 };
    struct noa_push_stream *s = noa_xcalloc(STREAMS, sizeof(*s));
    struct noa_push_entry *e = noa_xcalloc((size_t)STREAMS * ENTRIES, sizeof(*e));
    struct noa_label meta = {NOA_STR("m"), NOA_STR("v")};
    for (int i = 0; i < STREAMS; i++) {
        s[i].labels = NOA_STR("{job=\"many\"}");
        s[i].entries = e + (size_t)i * ENTRIES;
        s[i].n_entries = ENTRIES;
        for (int j = 0; j < ENTRIES; j++) {
            struct noa_push_entry *x = &s[i].entries[j];
            x->ts_ns = (int64_t)i * 1000000 + j;
            x->line = NOA_STR("a log line of moderate length");
            x->meta = j % 3 ? NULL : &meta;
            x->n_meta = j % 3 ? 0 : 1;
        }
    }
    struct noa_push_request req = {.streams = s, .n_streams = STREAMS}, got;
    struct noa_buf b = {0};
    assert_int_equal(noa_pushproto_encode(&req, &b), 0);
    assert_int_equal(decode(&b, &got, NULL), 0);
    assert_int_equal(got.n_streams, STREAMS);
    for (int i = 0; i < STREAMS; i++) {
        assert_int_equal(got.streams[i].n_entries, ENTRIES);
        for (int j = 0; j < ENTRIES; j++) {
            assert_int_equal(got.streams[i].entries[j].ts_ns, (int64_t)i * 1000000 + j);
            assert_int_equal(got.streams[i].entries[j].n_meta, j % 3 ? 0 : 1);
        }
    }
    noa_push_request_fini(&got);
    noa_buf_fini(&b);
    noa_free(s);
    noa_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_bytes),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_empty_body),
        cmocka_unit_test(test_unknown_fields_skipped),
        cmocka_unit_test(test_out_of_order_and_repeated),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_missing_timestamp),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_memory_limit),
        cmocka_unit_test(test_snappy_body),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
