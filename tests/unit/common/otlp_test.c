/* Unit tests for common/otlp.c: OTLP logs (protobuf and JSON) mapped onto
 * push requests as Loki 3.x maps them, AnyValue rendering, malformed
 * bodies and limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/mem.h"
#include "common/otlp.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- building protobuf by hand ---- */

static void tag(struct noa_buf *b, unsigned field, unsigned wt)
{
    noa_buf_put_uvarint(b, (uint64_t)field << 3 | wt);
}

static void f_varint(struct noa_buf *b, unsigned field, uint64_t v)
{
    tag(b, field, 0);
    noa_buf_put_uvarint(b, v);
}

static void f_fixed64(struct noa_buf *b, unsigned field, uint64_t v)
{
    tag(b, field, 1);
    for (int i = 0; i < 8; i++)
        noa_buf_putc(b, (char)(v >> (8 * i)));
}

static void f_fixed32(struct noa_buf *b, unsigned field, uint32_t v)
{
    tag(b, field, 5);
    for (int i = 0; i < 4; i++)
        noa_buf_putc(b, (char)(v >> (8 * i)));
}

static void f_bytes(struct noa_buf *b, unsigned field, const void *p, size_t n)
{
    tag(b, field, 2);
    noa_buf_put_uvarint(b, n);
    noa_buf_append(b, p, n);
}

static void f_str(struct noa_buf *b, unsigned field, const char *s)
{
    f_bytes(b, field, s, strlen(s));
}

/* Appends m as a submessage and frees it. */
static void f_msg(struct noa_buf *b, unsigned field, struct noa_buf *m)
{
    f_bytes(b, field, m->data, m->len);
    noa_buf_fini(m);
}

static void v_str(struct noa_buf *v, const char *s)
{
    f_str(v, 1, s);
}

static void v_double(struct noa_buf *v, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    f_fixed64(v, 4, u);
}

/* KeyValue with the AnyValue `val` (freed) into field `field` of b. */
static void kv(struct noa_buf *b, unsigned field, const char *key, struct noa_buf *val)
{
    struct noa_buf k = {0};
    f_str(&k, 1, key);
    f_msg(&k, 2, val);
    f_msg(b, field, &k);
}

static void kv_str(struct noa_buf *b, unsigned field, const char *key, const char *s)
{
    struct noa_buf v = {0};
    v_str(&v, s);
    kv(b, field, key, &v);
}

static const unsigned char TRACE[16] = {0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03,
                                        0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c};
static const unsigned char SPAN[8] = {0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74};

/* The request most tests use: one resource, one scope, one record with
 * attributes of every kind. */
static void build_full(struct noa_buf *out)
{
    struct noa_buf res = {0}, scope = {0}, rec = {0}, sl = {0}, rl = {0}, v = {0}, a = {0},
                   kvl = {0}, inner = {0};
    kv_str(&res, 1, "service.name", "checkout");
    kv_str(&res, 1, "k8s.namespace.name", "prod");
    kv_str(&res, 1, "host.name", "node-1");
    f_varint(&res, 2, 3); /* dropped_attributes_count: ignored */

    f_str(&scope, 1, "my.lib");
    f_str(&scope, 2, "1.2.0");
    f_varint(&v, 3, 7);
    kv(&scope, 3, "scope.attr", &v);

    f_fixed64(&rec, 1, 1700000000123456789ull);
    f_fixed64(&rec, 11, 1700000000999999999ull);
    f_varint(&rec, 2, 13);
    f_str(&rec, 3, "WARN");
    v_str(&v, "payment failed");
    f_msg(&rec, 5, &v);
    f_varint(&v, 3, (uint64_t)(int64_t)-42);
    kv(&rec, 6, "http.status_code", &v);
    f_varint(&v, 2, 1);
    kv(&rec, 6, "retry", &v);
    v_double(&v, 0.25);
    kv(&rec, 6, "ratio", &v);
    f_bytes(&v, 7, "\x01\x02\xff", 3);
    kv(&rec, 6, "blob", &v);
    /* array [1, "a<b", true] */
    f_varint(&inner, 3, 1);
    f_msg(&a, 1, &inner);
    v_str(&inner, "a<b");
    f_msg(&a, 1, &inner);
    f_varint(&inner, 2, 1);
    f_msg(&a, 1, &inner);
    f_msg(&v, 5, &a);
    kv(&rec, 6, "list", &v);
    /* kvlist {user: {id: "u1", "1st": 2}} */
    kv_str(&inner, 1, "id", "u1");
    f_varint(&v, 3, 2);
    kv(&inner, 1, "1st", &v);
    f_msg(&a, 6, &inner);
    kv(&kvl, 1, "user", &a);
    f_msg(&v, 6, &kvl);
    kv(&rec, 6, "ctx", &v);
    f_fixed32(&rec, 8, 1);
    f_bytes(&rec, 9, TRACE, 16);
    f_bytes(&rec, 10, SPAN, 8);
    f_varint(&rec, 7, 2);

    f_msg(&sl, 1, &scope);
    f_msg(&sl, 2, &rec);
    f_msg(&rl, 1, &res);
    f_msg(&rl, 2, &sl);
    f_msg(out, 1, &rl);
}

static char *discover[] = {"service_name", "service", "k8s_container_name"};

static struct noa_otlp_opts opts_default(void)
{
    return (struct noa_otlp_opts){.max_mem = 64u << 20,
                                  .discover_service_name = discover,
                                  .n_discover_service_name = 3,
                                  .now_ns = 42};
}

static void assert_meta(const struct noa_push_entry *e, uint32_t i, const char *name,
                        const char *value)
{
    assert_true(i < e->n_meta);
    char got_n[256], got_v[512];
    snprintf(got_n, sizeof(got_n), "%.*s", (int)e->meta[i].name.len, e->meta[i].name.p);
    snprintf(got_v, sizeof(got_v), "%.*s", (int)e->meta[i].value.len, e->meta[i].value.p);
    assert_string_equal(got_n, name);
    assert_string_equal(got_v, value);
}

static void assert_str(struct noa_str s, const char *want)
{
    char got[1024];
    snprintf(got, sizeof(got), "%.*s", (int)s.len, s.p);
    assert_string_equal(got, want);
}

static void check_full(const struct noa_push_request *req)
{
    assert_int_equal(req->n_streams, 1);
    const struct noa_push_stream *s = &req->streams[0];
    assert_str(s->labels, "{k8s_namespace_name=\"prod\", service_name=\"checkout\"}");
    assert_int_equal(s->n_entries, 1);
    const struct noa_push_entry *e = &s->entries[0];
    assert_true(e->ts_ns == 1700000000123456789ll);
    assert_str(e->line, "payment failed");
    uint32_t i = 0;
    assert_meta(e, i++, "http_status_code", "-42");
    assert_meta(e, i++, "retry", "true");
    assert_meta(e, i++, "ratio", "0.25");
    assert_meta(e, i++, "blob", "AQL/");
    assert_meta(e, i++, "list", "[1,\"a\\u003cb\",true]");
    assert_meta(e, i++, "ctx_user_id", "u1");
    assert_meta(e, i++, "ctx_user_1st", "2");
    assert_meta(e, i++, "observed_timestamp", "1700000000999999999");
    assert_meta(e, i++, "severity_number", "13");
    assert_meta(e, i++, "severity_text", "WARN");
    assert_meta(e, i++, "dropped_attributes_count", "2");
    assert_meta(e, i++, "flags", "1");
    assert_meta(e, i++, "trace_id", "5b8efff798038103d269b633813fc60c");
    assert_meta(e, i++, "span_id", "eee19b7ec3c1b174");
    assert_meta(e, i++, "host_name", "node-1");
    assert_meta(e, i++, "scope_attr", "7");
    assert_meta(e, i++, "scope_name", "my.lib");
    assert_meta(e, i++, "scope_version", "1.2.0");
    assert_int_equal(e->n_meta, i);
}

static void test_proto_full(void **state)
{
    (void)state;
    struct noa_buf b = {0};
    build_full(&b);
    struct noa_otlp_opts o = opts_default();
    struct noa_push_request req;
    struct noa_error err;
    int rc = noa_otlp_decode_proto(b.data, b.len, &o, &req, &err);
    if (rc)
        fail_msg("%s", err.msg);
    check_full(&req);
    noa_push_request_fini(&req);
    noa_buf_fini(&b);
}

static const char FULL_JSON[] =
    "{\"resourceLogs\":[{\"resource\":{\"attributes\":["
    "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"checkout\"}},"
    "{\"key\":\"k8s.namespace.name\",\"value\":{\"stringValue\":\"prod\"}},"
    "{\"key\":\"host.name\",\"value\":{\"stringValue\":\"node-1\"}}],\"droppedAttributesCount\":3},"
    "\"scopeLogs\":[{\"scope\":{\"name\":\"my.lib\",\"version\":\"1.2.0\",\"attributes\":["
    "{\"key\":\"scope.attr\",\"value\":{\"intValue\":\"7\"}}]},"
    "\"logRecords\":[{\"timeUnixNano\":\"1700000000123456789\","
    "\"observedTimeUnixNano\":1700000000999999999,\"severityNumber\":13,"
    "\"severityText\":\"WARN\",\"body\":{\"stringValue\":\"payment failed\"},\"attributes\":["
    "{\"key\":\"http.status_code\",\"value\":{\"intValue\":-42}},"
    "{\"key\":\"retry\",\"value\":{\"boolValue\":true}},"
    "{\"key\":\"ratio\",\"value\":{\"doubleValue\":0.25}},"
    "{\"key\":\"blob\",\"value\":{\"bytesValue\":\"AQL/\"}},"
    "{\"key\":\"list\",\"value\":{\"arrayValue\":{\"values\":[{\"intValue\":\"1\"},"
    "{\"stringValue\":\"a<b\"},{\"boolValue\":true}]}}},"
    "{\"key\":\"ctx\",\"value\":{\"kvlistValue\":{\"values\":[{\"key\":\"user\",\"value\":"
    "{\"kvlistValue\":{\"values\":[{\"key\":\"id\",\"value\":{\"stringValue\":\"u1\"}},"
    "{\"key\":\"1st\",\"value\":{\"intValue\":2}}]}}}]}}}],"
    "\"droppedAttributesCount\":2,\"flags\":1,"
    "\"traceId\":\"5B8EFFF798038103D269B633813FC60C\",\"spanId\":\"eee19b7ec3c1b174\"}]}]}]}";

static void test_json_full(void **state)
{
    (void)state;
    struct noa_otlp_opts o = opts_default();
    struct noa_push_request req;
    struct noa_error err;
    int rc = noa_otlp_decode_json(FULL_JSON, strlen(FULL_JSON), &o, &req, &err);
    if (rc)
        fail_msg("%s", err.msg);
    check_full(&req);
    noa_push_request_fini(&req);
}

/* One record with the given resource attributes (strings) and body. */
static void build_simple(struct noa_buf *out, const char *const *res_kv, size_t n_kv, uint64_t t,
                         uint64_t obs, struct noa_buf *body)
{
    struct noa_buf res = {0}, rec = {0}, sl = {0}, rl = {0};
    for (size_t i = 0; i + 1 < n_kv; i += 2)
        kv_str(&res, 1, res_kv[i], res_kv[i + 1]);
    if (t)
        f_fixed64(&rec, 1, t);
    if (obs)
        f_fixed64(&rec, 11, obs);
    if (body)
        f_msg(&rec, 5, body);
    f_msg(&sl, 2, &rec);
    if (res.len)
        f_msg(&rl, 1, &res);
    f_msg(&rl, 2, &sl);
    f_msg(out, 1, &rl);
}

static void decode_ok(struct noa_buf *b, const struct noa_otlp_opts *o,
                      struct noa_push_request *req)
{
    struct noa_error err;
    int rc = noa_otlp_decode_proto(b->data, b->len, o, req, &err);
    if (rc)
        fail_msg("decode: %s", err.msg);
}

static void test_service_name(void **state)
{
    (void)state;
    struct noa_otlp_opts o = opts_default();
    struct noa_push_request req;
    struct noa_buf b = {0};

    build_simple(&b, (const char *[]){"k8s.pod.name", "p1"}, 2, 1, 0, NULL);
    decode_ok(&b, &o, &req);
    assert_str(req.streams[0].labels, "{k8s_pod_name=\"p1\", service_name=\"unknown_service\"}");
    noa_push_request_fini(&req);
    noa_buf_reset(&b);

    /* discovered from an index label named in the list */
    build_simple(&b, (const char *[]){"k8s.container.name", "web"}, 2, 1, 0, NULL);
    decode_ok(&b, &o, &req);
    assert_str(req.streams[0].labels, "{k8s_container_name=\"web\", service_name=\"web\"}");
    noa_push_request_fini(&req);
    noa_buf_reset(&b);

    /* An empty service.name does not count as one, but its own label
     * service_name="" is the first discovery match, as in Loki (the empty
     * pair is dropped when the push path parses the labels). */
    build_simple(&b, (const char *[]){"service.name", "", "k8s.container.name", "web"}, 4, 1, 0,
                 NULL);
    decode_ok(&b, &o, &req);
    assert_str(req.streams[0].labels, "{k8s_container_name=\"web\", service_name=\"\"}");
    noa_push_request_fini(&req);
    noa_buf_reset(&b);

    /* discovery off: nothing added; no index label at all gives empty label text */
    o.n_discover_service_name = 0;
    build_simple(&b, (const char *[]){"custom", "x"}, 2, 1, 0, NULL);
    decode_ok(&b, &o, &req);
    assert_int_equal(req.streams[0].labels.len, 0);
    assert_meta(&req.streams[0].entries[0], 0, "custom", "x");
    noa_push_request_fini(&req);
    noa_buf_fini(&b);
}

static void test_timestamps(void **state)
{
    (void)state;
    struct noa_otlp_opts o = opts_default();
    struct noa_push_request req;
    struct noa_buf b = {0};

    build_simple(&b, NULL, 0, 0, 777, NULL);
    decode_ok(&b, &o, &req);
    assert_true(req.streams[0].entries[0].ts_ns == 777);
    assert_int_equal(req.streams[0].entries[0].n_meta, 0); /* no observed_timestamp */
    assert_int_equal(req.streams[0].entries[0].line.len, 0);
    noa_push_request_fini(&req);
    noa_buf_reset(&b);

    build_simple(&b, NULL, 0, 0, 0, NULL);
    decode_ok(&b, &o, &req);
    assert_true(req.streams[0].entries[0].ts_ns == 42); /* opts.now_ns */
    noa_push_request_fini(&req);
    noa_buf_fini(&b);
}

/* The body rendered for a double. */
static void check_double(double d, const char *want)
{
    struct noa_otlp_opts o = opts_default();
    struct noa_push_request req;
    struct noa_buf b = {0}, v = {0};
    v_double(&v, d);
    build_simple(&b, NULL, 0, 1, 0, &v);
    decode_ok(&b, &o, &req);
    assert_str(req.streams[0].entries[0].line, want);
    noa_push_request_fini(&req);
    noa_buf_fini(&b);
}

static void test_doubles(void **state)
{
    (void)state;
    check_double(1.5, "1.5");
    check_double(100, "100");
    check_double(-0.0, "-0");
    check_double(0, "0");
    check_double(0.1, "0.1");
    check_double(1e21, "1e+21");
    check_double(1e20, "100000000000000000000");
    check_double(1e-7, "1e-7");
    check_double(1.5e-10, "1.5e-10");
    check_double(0.000001, "0.000001");
    check_double(123456.789, "123456.789");
    check_double(1.7976931348623157e308, "1.7976931348623157e+308");
    check_double(NAN, "json: unsupported value: NaN");
    check_double(-INFINITY, "json: unsupported value: -Inf");
}

static void test_body_kvlist_json(void **state)
{
    (void)state;
    struct noa_otlp_opts o = opts_default();
    struct noa_push_request req;
    struct noa_buf b = {0}, v = {0}, kvl = {0}, x = {0};
    kv_str(&kvl, 1, "z", "last & <tag>");
    f_varint(&x, 3, 5);
    kv(&kvl, 1, "a", &x);
    kv_str(&kvl, 1, "z", "dup\n\x01");
    kv(&kvl, 1, "empty", &x); /* an AnyValue with no member: null */
    v_double(&x, NAN);
    f_msg(&v, 6, &kvl);
    noa_buf_fini(&x);
    build_simple(&b, NULL, 0, 1, 0, &v);
    decode_ok(&b, &o, &req);
    assert_str(req.streams[0].entries[0].line, "{\"a\":5,\"empty\":null,\"z\":\"dup\\n\\u0001\"}");
    noa_push_request_fini(&req);
    noa_buf_fini(&b);

    /* a NaN inside a kvlist makes Go's Marshal fail: the line is empty */
    struct noa_buf v2 = {0}, kvl2 = {0}, d = {0};
    v_double(&d, NAN);
    kv(&kvl2, 1, "x", &d);
    f_msg(&v2, 6, &kvl2);
    build_simple(&b, NULL, 0, 1, 0, &v2);
    decode_ok(&b, &o, &req);
    assert_int_equal(req.streams[0].entries[0].line.len, 0);
    noa_push_request_fini(&req);
    noa_buf_fini(&b);
}

static void test_streams_grouped(void **state)
{
    (void)state;
    struct noa_otlp_opts o = opts_default();
    struct noa_push_request req;
    struct noa_buf b = {0};
    build_simple(&b, (const char *[]){"service.name", "a"}, 2, 1, 0, NULL);
    build_simple(&b, (const char *[]){"service.name", "b"}, 2, 2, 0, NULL);
    build_simple(&b, (const char *[]){"service.name", "a", "other", "x"}, 4, 3, 0, NULL);
    decode_ok(&b, &o, &req);
    assert_int_equal(req.n_streams, 2);
    assert_str(req.streams[0].labels, "{service_name=\"a\"}");
    assert_int_equal(req.streams[0].n_entries, 2);
    assert_true(req.streams[0].entries[1].ts_ns == 3);
    assert_meta(&req.streams[0].entries[1], 0, "other", "x");
    assert_str(req.streams[1].labels, "{service_name=\"b\"}");
    noa_push_request_fini(&req);
    noa_buf_fini(&b);
}

/* Enough streams to grow the label-text index several times; every
 * repeat of a resource must land in its first stream. */
static void test_many_streams(void **state)
{
    (void)state;
    struct noa_otlp_opts o = opts_default();
    struct noa_push_request req;
    struct noa_buf b = {0};
    char name[32];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 300; i++) {
            snprintf(name, sizeof(name), "svc-%d", i);
            build_simple(&b, (const char *[]){"service.name", name}, 2,
                         (uint64_t)(round * 1000 + i + 1), 0, NULL);
        }
    }
    decode_ok(&b, &o, &req);
    assert_int_equal(req.n_streams, 300);
    for (uint32_t i = 0; i < 300; i++) {
        char want[64];
        snprintf(want, sizeof(want), "{service_name=\"svc-%u\"}", i);
        assert_str(req.streams[i].labels, want);
        assert_int_equal(req.streams[i].n_entries, 2);
        assert_true(req.streams[i].entries[0].ts_ns == (int64_t)i + 1);
        assert_true(req.streams[i].entries[1].ts_ns == 1000 + (int64_t)i + 1);
    }
    noa_push_request_fini(&req);
    noa_buf_fini(&b);
}

static void test_empty_and_unknown(void **state)
{
    (void)state;
    struct noa_otlp_opts o = opts_default();
    struct noa_push_request req;
    struct noa_buf b = {0}, rl = {0}, g = {0};
    decode_ok(&b, &o, &req); /* empty body: no streams */
    assert_int_equal(req.n_streams, 0);
    noa_push_request_fini(&req);

    /* unknown fields of every wire type, a group included, are skipped */
    f_varint(&b, 99, 5);
    f_fixed32(&b, 98, 1);
    f_fixed64(&b, 97, 1);
    tag(&b, 96, 3);
    f_varint(&b, 1, 1);
    tag(&b, 96, 4);
    f_str(&rl, 3, "https://schema");
    f_msg(&b, 1, &rl);
    noa_buf_fini(&g);
    decode_ok(&b, &o, &req);
    assert_int_equal(req.n_streams, 0); /* a resource without records adds nothing */
    noa_push_request_fini(&req);
    noa_buf_fini(&b);
}

static void expect_proto_error(struct noa_buf *b, int code, const char *needle)
{
    struct noa_otlp_opts o = opts_default();
    struct noa_push_request req;
    struct noa_error err;
    int rc = noa_otlp_decode_proto(b->data, b->len, &o, &req, &err);
    assert_int_equal(rc, code);
    assert_int_equal(req.n_streams, 0);
    assert_null(req.arena.head);
    if (!strstr(err.msg, needle))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
    noa_buf_fini(b);
}

static void test_proto_errors(void **state)
{
    (void)state;
    struct noa_buf b = {0}, rl = {0}, sl = {0}, rec = {0}, v = {0};

    f_varint(&b, 1, 5); /* ResourceLogs as a varint */
    expect_proto_error(&b, NOA_EINVAL, "wrong wireType");

    build_full(&b);
    b.len -= 3; /* truncated */
    expect_proto_error(&b, NOA_EINVAL, "past");

    noa_buf_append(&b, "\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12);
    expect_proto_error(&b, NOA_EINVAL, "varint");

    tag(&b, 0, 0); /* field 0 */
    noa_buf_putc(&b, 1);
    expect_proto_error(&b, NOA_EINVAL, "illegal tag");

    tag(&b, 5, 4); /* stray end-group */
    expect_proto_error(&b, NOA_EINVAL, "wireType 4");

    f_bytes(&rec, 9, "\x01\x02\x03\x04\x05", 5);
    f_msg(&sl, 2, &rec);
    f_msg(&rl, 2, &sl);
    f_msg(&b, 1, &rl);
    expect_proto_error(&b, NOA_EINVAL, "TraceID");

    f_fixed32(&rec, 1, 5); /* time_unix_nano is fixed64 */
    f_msg(&sl, 2, &rec);
    f_msg(&rl, 2, &sl);
    f_msg(&b, 1, &rl);
    expect_proto_error(&b, NOA_EINVAL, "wrong wireType = 5 for field 1 of LogRecord");

    /* nesting: arrays inside arrays past the limit */
    v_str(&v, "deep");
    for (int i = 0; i < NOA_OTLP_DEFAULT_MAX_DEPTH + 5; i++) {
        struct noa_buf arr = {0}, nv = {0};
        f_msg(&arr, 1, &v);
        f_msg(&nv, 5, &arr);
        v = nv;
    }
    f_msg(&rec, 5, &v);
    f_msg(&sl, 2, &rec);
    f_msg(&rl, 2, &sl);
    f_msg(&b, 1, &rl);
    expect_proto_error(&b, NOA_EINVAL, "nested deeper");
}

/* Nested kvlists with long keys repeat the prefix in every leaf name: the
 * names must be bounded by max_mem, not by the body's size. */
static void test_quadratic_names(void **state)
{
    (void)state;
    char key[2001];
    memset(key, 'k', 2000);
    key[2000] = '\0';
    struct noa_buf leaves = {0}, v = {0}, b = {0}, rec = {0}, sl = {0}, rl = {0};
    for (int i = 0; i < 3000; i++)
        kv_str(&leaves, 1, "x", "1");
    f_msg(&v, 6, &leaves);
    for (int d = 0; d < 20; d++) {
        struct noa_buf l = {0}, nv = {0};
        kv(&l, 1, key, &v);
        f_msg(&nv, 6, &l);
        v = nv;
    }
    kv(&rec, 6, "a", &v);
    f_msg(&sl, 2, &rec);
    f_msg(&rl, 2, &sl);
    f_msg(&b, 1, &rl);
    assert_true(b.len < 200000);
    struct noa_otlp_opts o = opts_default();
    o.max_mem = 8u << 20;
    struct noa_push_request req;
    struct noa_error err;
    assert_int_equal(noa_otlp_decode_proto(b.data, b.len, &o, &req, &err), NOA_ETOOBIG);
    assert_null(req.arena.head);
    noa_buf_fini(&b);
}

static void test_known_field_as_group(void **state)
{
    (void)state;
    struct noa_buf b = {0};
    tag(&b, 1, 3); /* resource_logs as a group */
    tag(&b, 1, 4);
    expect_proto_error(&b, NOA_EINVAL, "wrong wireType = 3");
}

static void test_max_mem(void **state)
{
    (void)state;
    struct noa_buf b = {0};
    for (int i = 0; i < 200; i++)
        build_full(&b);
    struct noa_otlp_opts o = opts_default();
    o.max_mem = 4096;
    struct noa_push_request req;
    struct noa_error err;
    assert_int_equal(noa_otlp_decode_proto(b.data, b.len, &o, &req, &err), NOA_ETOOBIG);
    assert_null(req.arena.head);
    o.max_mem = 0;
    assert_int_equal(noa_otlp_decode_proto(b.data, b.len, &o, &req, &err), 0);
    assert_int_equal(req.n_streams, 1);
    assert_int_equal(req.streams[0].n_entries, 200);
    noa_push_request_fini(&req);
    noa_buf_fini(&b);
}

static void expect_json_error(const char *body, const char *needle)
{
    struct noa_otlp_opts o = opts_default();
    struct noa_push_request req;
    struct noa_error err;
    assert_int_equal(noa_otlp_decode_json(body, strlen(body), &o, &req, &err), NOA_EINVAL);
    assert_null(req.arena.head);
    if (!strstr(err.msg, needle))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
}

static void test_json_errors(void **state)
{
    (void)state;
    expect_json_error("", "otlp json");
    expect_json_error("{\"resourceLogs\":", "otlp json");
    expect_json_error("[]", "expected an object");
    expect_json_error("{\"resourceLogs\":{}}", "expected an array");
    expect_json_error(
        "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"traceId\":\"abc\"}]}]}]}",
        "TraceID");
    expect_json_error(
        "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"timeUnixNano\":\"x1\"}]}]}]}",
        "timeUnixNano");
    expect_json_error("{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"body\":{"
                      "\"bytesValue\":\"*\"}}]}]}]}",
                      "base64");
}

static void test_json_snake_and_enums(void **state)
{
    (void)state;
    const char *body = "{\"resource_logs\":[{\"scope_logs\":[{\"log_records\":[{"
                       "\"time_unix_nano\":5,\"severity_number\":\"SEVERITY_NUMBER_ERROR3\","
                       "\"body\":{\"doubleValue\":\"Infinity\"}}]}]}]}";
    struct noa_otlp_opts o = opts_default();
    struct noa_push_request req;
    struct noa_error err;
    int rc = noa_otlp_decode_json(body, strlen(body), &o, &req, &err);
    if (rc)
        fail_msg("%s", err.msg);
    const struct noa_push_entry *e = &req.streams[0].entries[0];
    assert_true(e->ts_ns == 5);
    assert_meta(e, 0, "severity_number", "19");
    assert_str(e->line, "json: unsupported value: +Inf");
    assert_str(req.streams[0].labels, "{service_name=\"unknown_service\"}");
    noa_push_request_fini(&req);
}

static void test_status(void **state)
{
    (void)state;
    struct noa_buf b = {0};
    noa_otlp_encode_status("bad", 3, &b);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data,
                        "\x12\x03"
                        "bad",
                        5);
    noa_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proto_full),
        cmocka_unit_test(test_json_full),
        cmocka_unit_test(test_service_name),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_doubles),
        cmocka_unit_test(test_body_kvlist_json),
        cmocka_unit_test(test_streams_grouped),
        cmocka_unit_test(test_many_streams),
        cmocka_unit_test(test_empty_and_unknown),
        cmocka_unit_test(test_proto_errors),
        cmocka_unit_test(test_max_mem),
        cmocka_unit_test(test_quadratic_names),
        cmocka_unit_test(test_known_field_as_group),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_json_snake_and_enums),
        cmocka_unit_test(test_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
