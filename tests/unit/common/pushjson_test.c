/* Unit tests for common/pushjson.c: Loki's JSON push body, its acceptance
 * rules and its error texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/mem.h"
#include "common/pushjson.h"

#include <stdio.h>
#include <string.h>

static int decode_c(const char *body, struct noa_push_request *req, struct noa_error *err)
{
    return noa_pushjson_decode(body, strlen(body), req, err);
}

static struct noa_push_request ok(const char *body)
{
    struct noa_push_request req;
    struct noa_error err = {0};
    int rc = decode_c(body, &req, &err);
    if (rc)
        fail_msg("decode of %s: %d %s", body, rc, err.msg);
    return req;
}

static void expect_error(const char *body, const char *msg)
{
    struct noa_push_request req;
    struct noa_error err = {0};
    int rc = decode_c(body, &req, &err);
    if (rc != NOA_EINVAL)
        fail_msg("%s: expected EINVAL, got %d", body, rc);
    if (!strstr(err.msg, msg))
        fail_msg("%s: message '%s' lacks '%s'", body, err.msg, msg);
    assert_int_equal(req.n_streams, 0);
    assert_null(req.streams);
    assert_null(req.arena.head);
}

static void assert_str(struct noa_str s, const char *want)
{
    if (!noa_str_eq_c(s, want))
        fail_msg("got '%.*s', want '%s'", (int)s.len, s.p ? s.p : "", want);
}

static void test_loki_example(void **state)
{
    (void)state;
    struct noa_push_request r =
        ok("{\"streams\":[{\"stream\":{\"job\":\"api\",\"env\":\"dev\"},\"values\":["
           "[\"1700000000000000000\",\"plain line\"],"
           "[\"1700000000000000001\",\"line with metadata\",{\"trace_id\":\"0242ac120002\","
           "\"user_id\":\"u1\"}]]}]}");
    assert_int_equal(r.n_streams, 1);
    assert_str(r.streams[0].labels, "{env=\"dev\", job=\"api\"}");
    assert_int_equal(r.streams[0].n_entries, 2);
    const struct noa_push_entry *e = r.streams[0].entries;
    assert_int_equal(e[0].ts_ns, 1700000000000000000);
    assert_str(e[0].line, "plain line");
    assert_int_equal(e[0].n_meta, 0);
    assert_int_equal(e[1].ts_ns, 1700000000000000001);
    assert_str(e[1].line, "line with metadata");
    assert_int_equal(e[1].n_meta, 2);
    assert_str(e[1].meta[0].name, "trace_id"); /* received order */
    assert_str(e[1].meta[0].value, "0242ac120002");
    assert_str(e[1].meta[1].name, "user_id");
    assert_str(e[1].meta[1].value, "u1");
    noa_push_request_fini(&r);
}

static void test_labels_text(void **state)
{
    (void)state;
    struct noa_push_request r =
        ok("{\"streams\":["
           "{\"stream\":{\"b\":\"q\\\"b\\\\s\\nnl\\t\\u0001\\u00e9\",\"a\":\"1\",\"B\":\"up\"}},"
           "{\"stream\":{\"n\":5,\"t\":true,\"z\":null,\"o\":{\"x\":[1,\"s\"]},\"f\":1.5}},"
           "{\"stream\":{\"k\":\"first\",\"k\":\"last\"}},"
           "{\"stream\":{}},"
           "{\"values\":[]},"
           "{\"stream\":{\"e\":\"\"}}"
           "]}");
    assert_int_equal(r.n_streams, 6);
    /* bytewise order (upper case first); Go quoting of the values */
    assert_str(r.streams[0].labels, "{B=\"up\", a=\"1\", b=\"q\\\"b\\\\s\\nnl\\t\\x01\xc3\xa9\"}");
    /* non-string values: their JSON text */
    assert_str(r.streams[1].labels,
               "{f=\"1.5\", n=\"5\", o=\"{\\\"x\\\":[1,\\\"s\\\"]}\", t=\"true\", z=\"null\"}");
    assert_str(r.streams[2].labels, "{k=\"last\"}");
    assert_str(r.streams[3].labels, "{}");
    assert_str(r.streams[4].labels, ""); /* no "stream" key at all */
    assert_int_equal(r.streams[4].n_entries, 0);
    assert_str(r.streams[5].labels, "{e=\"\"}"); /* the ingester drops empty values */
    noa_push_request_fini(&r);
}

static void test_entry_shapes(void **state)
{
    (void)state;
    struct noa_push_request r = ok("{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":["
                                   "null,"
                                   "[\"19\"],"
                                   "[],"
                                   "[\"20\",\"line\",{},\"extra\",5,{\"x\":1}],"
                                   "[\"-5\",\"neg\"],"
                                   "[\"-\",\"dash\"],"
                                   "[\"0000012\",\"zeros\"],"
                                   "[\"-9223372036854775808\",\"min\"],"
                                   "[\"9223372036854775807\",\"max\"],"
                                   "[\"1\",\"nul\\u0000inside\"],"
                                   "null"
                                   "]},"
                                   "{\"stream\":{\"a\":\"c\"},\"values\":null},"
                                   "{\"stream\":{\"a\":\"d\"}}"
                                   "]}");
    assert_int_equal(r.n_streams, 3);
    const struct noa_push_stream *s = &r.streams[0];
    assert_int_equal(s->n_entries, 9);
    assert_int_equal(s->entries[0].ts_ns, 19);
    assert_int_equal(s->entries[0].line.len, 0);
    assert_int_equal(s->entries[1].ts_ns, INT64_MIN); /* Go's zero time */
    assert_int_equal(s->entries[2].ts_ns, 20);
    assert_str(s->entries[2].line, "line");
    assert_int_equal(s->entries[2].n_meta, 0);
    assert_int_equal(s->entries[3].ts_ns, -5);
    assert_int_equal(s->entries[4].ts_ns, 0); /* jsonparser reads "-" as 0 */
    assert_int_equal(s->entries[5].ts_ns, 12);
    assert_int_equal(s->entries[6].ts_ns, INT64_MIN);
    assert_int_equal(s->entries[7].ts_ns, INT64_MAX);
    assert_int_equal(s->entries[8].line.len, 10);
    assert_memory_equal(s->entries[8].line.p, "nul\0inside", 10);
    assert_int_equal(r.streams[1].n_entries, 0);
    assert_int_equal(r.streams[2].n_entries, 0);
    noa_push_request_fini(&r);
}

static void test_empty_requests(void **state)
{
    (void)state;
    const char *bodies[] = {"null",
                            "{}",
                            "{\"streams\":null}",
                            "{\"streams\":[]}",
                            " {\"other\":[1,2,{\"x\":null}]} ",
                            "{\"streams\":[]} trailing junk"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct noa_push_request r = ok(bodies[i]);
        assert_int_equal(r.n_streams, 0);
        noa_push_request_fini(&r);
    }
    /* jsoniter matches struct fields case-insensitively */
    struct noa_push_request r = ok("{\"Streams\":[{\"stream\":{\"a\":\"b\"}}]}");
    assert_int_equal(r.n_streams, 1);
    noa_push_request_fini(&r);
}

/* The exact text Loki 3.4 answers for a number where the line should be. */
static void test_loki_error_text(void **state)
{
    (void)state;
    struct noa_push_request r;
    struct noa_error err = {0};
    const char *body =
        "{\"streams\":[{\"stream\":{\"app\":\"api\"},\"values\":[[\"1000000000\",500]]}]}";
    assert_int_equal(decode_c(body, &r, &err), NOA_EINVAL);
    assert_int_equal(err.code, NOA_EINVAL);
    assert_string_equal(
        err.msg,
        "loghttp.PushRequest.Streams: []loghttp.LogProtoStream: unmarshalerDecoder: Value is "
        "string, but can't find closing '\"' symbol, error found in #10 byte of "
        "...|00\",500]]}]}|..., bigger context "
        "...|ream\":{\"app\":\"api\"},\"values\":[[\"1000000000\",500]]}]}|...");

    assert_int_equal(decode_c("[{\"streams\": []}]", &r, &err), NOA_EINVAL);
    assert_string_equal(err.msg,
                        "loghttp.PushRequest.readObjectStart: expect { or n, but found [, error "
                        "found in #1 byte of ...|[{\"streams\"|..., bigger context "
                        "...|[{\"streams\": []}]|...");
    /* The second stream fails: the context is around its end. */
    assert_int_equal(decode_c("{\"streams\":[{},{\"stream\":\"x\"}]}", &r, &err), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "Value looks like object, but can't find closing '}' symbol"
                                    ", error found in #10 byte of ...|ream\":\"x\"}]}|..."));
}

static void test_rejections(void **state)
{
    (void)state;
    const char *str = "Value is string, but can't find closing '\"' symbol";
    const char *obj = "Value looks like object, but can't find closing '}' symbol";
    const char *val = "Value looks like Number/Boolean/None, but can't find its end";
    const char *ovf = "Value is number, but overflowed while parsing";
    const char *typ = "unmarshalerDecoder: Unknown value type";
#define S(v) "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[" v "]}]}"
    expect_error(S("[19,\"x\"]"), str);
    expect_error(S("[null,\"x\"]"), str);
    expect_error(S("[\"1.5\",\"x\"]"), val);
    expect_error(S("[\"2024-01-01T00:00:00Z\",\"x\"]"), val);
    expect_error(S("[\"\",\"x\"]"), val);
    expect_error(S("[\" 1\",\"x\"]"), val);
    expect_error(S("[\"9223372036854775808\",\"x\"]"), ovf);
    expect_error(S("[\"-9223372036854775809\",\"x\"]"), ovf);
    expect_error(S("[\"99999999999999999999999\",\"x\"]"), ovf);
    expect_error(S("[\"1\",{\"line\":1}]"), str);
    expect_error(S("[\"1\",\"x\",[\"meta\"]]"), obj);
    expect_error(S("[\"1\",\"x\",\"meta\"]"), obj);
    expect_error(S("[\"1\",\"x\",{\"k\":1}]"), str);
    expect_error(S("[\"1\",\"x\",{\"k\":null}]"), str);
    expect_error(S("\"not-a-push-value\""), typ);
    expect_error(S("{\"ts\":\"1\"}"), typ);
#undef S
    expect_error("{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":\"not-values\"}]}", typ);
    expect_error("{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":{}}]}", typ);
    expect_error("{\"streams\":[\"not-a-stream\"]}", obj);
    expect_error("{\"streams\":[null]}", obj);
    expect_error("{\"streams\":[{\"stream\":\"not-labels\"}]}", obj);
    expect_error("{\"streams\":[{\"stream\":null}]}", obj);
    expect_error("{\"streams\":[{\"stream\":[]}]}", obj);
    expect_error("{\"streams\":\"not-streams\"}",
                 "loghttp.PushRequest.Streams: []loghttp.LogProtoStream: decode slice: expect [ "
                 "or n, but found \", error found in #10 byte of ...|streams\":\"not-stream|...");
    expect_error("{\"streams\":{}}", "decode slice: expect [ or n, but found {");
    expect_error("\"text\"", "readObjectStart: expect { or n, but found \"");
    expect_error("42", "readObjectStart: expect { or n, but found 4");
}

static void test_syntax_errors(void **state)
{
    (void)state;
    expect_error("", "EOF");
    expect_error(" \n\t ", "EOF");
    expect_error("{\"streams\":[", "loghttp.PushRequest: ");
    expect_error("{\"streams\":[}", "loghttp.PushRequest: ");
    expect_error("{streams:[]}", "loghttp.PushRequest: ");
    expect_error("{\"streams\":[{\"stream\":{\"a\":\"\xff\"}}]}", "loghttp.PushRequest: ");
    struct noa_push_request r;
    struct noa_error err = {0};
    assert_int_equal(decode_c("{\n  \"streams\": [,]\n}", &r, &err), NOA_EINVAL);
    assert_int_equal(err.line, 2);
    assert_true(err.col > 0);
    assert_non_null(strstr(err.msg, "error found in #"));
}

/* Nesting far deeper than jansson's limit is a clean error, not a crash. */
static void test_depth_bomb(void **state)
{
    (void)state;
    size_t depth = 200000;
    char *body = noa_xmalloc(depth * 2 + 64);
    size_t n = (size_t)sprintf(body, "{\"streams\":[{\"x\":");
    memset(body + n, '[', depth);
    n += depth;
    memset(body + n, ']', depth);
    n += depth;
    n += (size_t)sprintf(body + n, "}]}");
    struct noa_push_request r;
    struct noa_error err = {0};
    assert_int_equal(noa_pushjson_decode(body, n, &r, &err), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "maximum parsing depth reached"));
    noa_free(body);
}

/* Strings are copies: the body can go once decoded. */
static void test_strings_owned(void **state)
{
    (void)state;
    const char *src = "{\"streams\":[{\"stream\":{\"job\":\"x\"},\"values\":[[\"7\",\"kept\","
                      "{\"m\":\"v\"}]]}]}";
    size_t n = strlen(src);
    char *body = noa_xmalloc(n);
    memcpy(body, src, n);
    struct noa_push_request r;
    assert_int_equal(noa_pushjson_decode(body, n, &r, NULL), 0);
    memset(body, 'X', n);
    noa_free(body);
    assert_str(r.streams[0].labels, "{job=\"x\"}");
    assert_str(r.streams[0].entries[0].line, "kept");
    assert_str(r.streams[0].entries[0].meta[0].name, "m");
    assert_str(r.streams[0].entries[0].meta[0].value, "v");
    noa_push_request_fini(&r);
}

static void test_many_entries(void **state)
{
    (void)state;
    struct noa_buf b = {0};
    noa_buf_printf(&b, "{\"streams\":[");
    for (int s = 0; s < 20; s++) {
        noa_buf_printf(&b, "%s{\"stream\":{\"i\":\"%d\"},\"values\":[", s ? "," : "", s);
        for (int e = 0; e < 500; e++)
            noa_buf_printf(&b, "%s[\"%d\",\"line %d\",{\"n\":\"%d\"}]", e ? "," : "", e, e, s);
        noa_buf_printf(&b, "]}");
    }
    noa_buf_printf(&b, "]}");
    struct noa_push_request r;
    struct noa_error err = {0};
    assert_int_equal(noa_pushjson_decode(b.data, b.len, &r, &err), 0);
    assert_int_equal(r.n_streams, 20);
    char want[32];
    for (int s = 0; s < 20; s++) {
        snprintf(want, sizeof(want), "{i=\"%d\"}", s);
        assert_str(r.streams[s].labels, want);
        assert_int_equal(r.streams[s].n_entries, 500);
        assert_int_equal(r.streams[s].entries[499].ts_ns, 499);
        snprintf(want, sizeof(want), "%d", s);
        assert_str(r.streams[s].entries[499].meta[0].value, want);
    }
    noa_push_request_fini(&r);
    noa_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loki_example),    cmocka_unit_test(test_labels_text),
        cmocka_unit_test(test_entry_shapes),    cmocka_unit_test(test_empty_requests),
        cmocka_unit_test(test_loki_error_text), cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_syntax_errors),   cmocka_unit_test(test_depth_bomb),
        cmocka_unit_test(test_strings_owned),   cmocka_unit_test(test_many_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
