/* Unit tests for querier/ruler_remote_write.c: the WriteRequest protobuf
 * decoded back field by field, the snappy body and headers a receiver
 * sees, and retries with backoff on 5xx/429 (none on other 4xx). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/compress.h"
#include "common/mem.h"
#include "querier/ruler_remote_write.h"
#include "ruler_fakehttp.h"

#include <stdio.h>

/* A minimal protobuf reader for the test: the next field's number, wire
 * type and (for length-delimited) its bytes, or a varint / fixed64. */
struct pb {
    const unsigned char *p;
    size_t n;
};

static int pb_next(struct pb *b, unsigned *field, unsigned *wire, struct pb *sub, uint64_t *v)
{
    uint64_t tag;
    if (b->n == 0)
        return 0;
    size_t k = noa_get_uvarint(b->p, b->n, &tag);
    assert_true(k > 0);
    b->p += k;
    b->n -= k;
    *field = (unsigned)(tag >> 3);
    *wire = (unsigned)(tag & 7);
    if (*wire == 0) {
        k = noa_get_uvarint(b->p, b->n, v);
        assert_true(k > 0);
    } else if (*wire == 1) {
        assert_true(b->n >= 8);
        *v = 0;
        for (int i = 7; i >= 0; i--)
            *v = *v << 8 | b->p[i];
        k = 8;
    } else {
        assert_int_equal(*wire, 2);
        uint64_t len;
        k = noa_get_uvarint(b->p, b->n, &len);
        assert_true(k > 0 && k + len <= b->n);
        sub->p = b->p + k;
        sub->n = (size_t)len;
        k += (size_t)len;
    }
    b->p += k;
    b->n -= k;
    return 1;
}

/* Decodes a WriteRequest into text: `{a="1",b="2"} 1.5 @1000;` per series. */
static void decode(const void *p, size_t n, struct noa_buf *out)
{
    struct pb req = {p, n}, ts = {0}, sub = {0};
    unsigned f, w;
    uint64_t v;
    while (pb_next(&req, &f, &w, &ts, &v)) {
        assert_int_equal(f, 1);
        noa_buf_putc(out, '{');
        int first = 1;
        struct pb x = {0};
        while (pb_next(&ts, &f, &w, &sub, &v)) {
            if (f == 1) {
                struct pb lab = sub;
                noa_buf_printf(out, "%s", first ? "" : ",");
                first = 0;
                while (pb_next(&lab, &f, &w, &x, &v))
                    noa_buf_printf(out, f == 1 ? "%.*s=" : "\"%.*s\"", (int)x.n, (const char *)x.p);
            } else {
                assert_int_equal(f, 2);
                struct pb smp = sub;
                noa_buf_putc(out, '}');
                while (pb_next(&smp, &f, &w, &x, &v)) {
                    if (f == 1) {
                        double d;
                        memcpy(&d, &v, 8);
                        noa_buf_printf(out, " %g", d);
                    } else {
                        noa_buf_printf(out, " @%lld", (long long)v);
                    }
                }
                noa_buf_putc(out, ';');
            }
        }
    }
}

static const struct noa_ruler_kv l1[] = {{"__name__", "job:errors:rate5m"}, {"job", "api"}};
static const struct noa_ruler_kv l2[] = {{"__name__", "job:errors:rate5m"}, {"job", "web"}, {"zone", "é"}};

static void test_encode(void **state)
{
    (void)state;
    struct noa_ruler_rw_series s[] = {{l1, 2, 1.5, 1700000000123}, {l2, 3, -0.25, 5}};
    struct noa_buf pb = {0}, txt = {0};
    noa_ruler_remote_write_encode(s, 2, &pb);
    decode(pb.data, pb.len, &txt);
    assert_string_equal(noa_buf_cstr(&txt),
                        "{__name__=\"job:errors:rate5m\",job=\"api\"} 1.5 @1700000000123;"
                        "{__name__=\"job:errors:rate5m\",job=\"web\",zone=\"é\"} -0.25 @5;");
    noa_buf_reset(&pb);
    noa_ruler_remote_write_encode(s, 0, &pb);
    assert_int_equal(pb.len, 0);
    noa_buf_fini(&pb);
    noa_buf_fini(&txt);
}

static void test_send_retries(void **state)
{
    (void)state;
    /* 503, 429, then 204: three attempts, same body each time. */
    struct fakehttp f = {.statuses = {503, 429, 204}};
    fh_start(&f);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/write", f.port);
    struct noa_ruler_remote_write *rw = NULL;
    struct noa_ruler_remote_write_options o = {.url = url, .min_backoff_ms = 1, .max_backoff_ms = 5,
                                               .add_org_id_header = 1};
    assert_int_equal(noa_ruler_remote_write_new(&o, &rw), 0);
    struct noa_ruler_rw_series s[] = {{l1, 2, 3, 42}};
    struct noa_buf pb = {0}, raw = {0}, txt = {0};
    struct noa_error err = {0};
    noa_ruler_remote_write_encode(s, 1, &pb);
    assert_int_equal(noa_ruler_remote_write_send(rw, "tenant1", &pb, &err), 0);
    fh_stop(&f);
    assert_int_equal(f.n_req, 3);
    for (unsigned i = 0; i < 3; i++) {
        assert_non_null(strstr(f.head[i], "POST /api/v1/write HTTP/1.1"));
        assert_non_null(strcasestr(f.head[i], "Content-Encoding: snappy"));
        assert_non_null(strcasestr(f.head[i], "Content-Type: application/x-protobuf"));
        assert_non_null(strcasestr(f.head[i], "X-Prometheus-Remote-Write-Version: 0.1.0"));
        assert_non_null(strcasestr(f.head[i], "X-Scope-OrgID: tenant1"));
    }
    assert_int_equal(noa_compress_snappy_decompress(f.body[2], f.body_len[2], 1 << 20, &raw, &err), 0);
    decode(raw.data, raw.len, &txt);
    assert_string_equal(noa_buf_cstr(&txt), "{__name__=\"job:errors:rate5m\",job=\"api\"} 3 @42;");
    fh_free(&f);

    /* A 400 is not retried; 5xx past the retries fails. */
    struct fakehttp g = {.statuses = {400}};
    fh_start(&g);
    noa_ruler_remote_write_free(rw);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/w", g.port);
    assert_int_equal(noa_ruler_remote_write_new(&o, &rw), 0);
    assert_int_equal(noa_ruler_remote_write_send(rw, NULL, &pb, &err), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "server returned HTTP status 400"));
    fh_stop(&g);
    assert_int_equal(g.n_req, 1);
    assert_null(strcasestr(g.head[0], "X-Scope-OrgID"));
    fh_free(&g);

    struct fakehttp h = {.statuses = {500, 500, 500, 500}};
    fh_start(&h);
    noa_ruler_remote_write_free(rw);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/w", h.port);
    o.max_retries = 3;
    assert_int_equal(noa_ruler_remote_write_new(&o, &rw), 0);
    assert_int_equal(noa_ruler_remote_write_send(rw, NULL, &pb, &err), NOA_EUNAVAIL);
    fh_stop(&h);
    assert_int_equal(h.n_req, 4);
    fh_free(&h);

    noa_ruler_remote_write_free(rw);
    o.url = "prom:9090";
    assert_int_equal(noa_ruler_remote_write_new(&o, &rw), NOA_EINVAL);
    noa_buf_fini(&pb);
    noa_buf_fini(&raw);
    noa_buf_fini(&txt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_send_retries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
