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
#include "common/metrics.h"
#include "common/yaml.h"
#include "querier/ruler_remote_write.h"
#include "ruler_fakehttp.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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

static int parse(const char *yaml, struct noa_ruler_remote_write_options **v, unsigned *n,
                 struct noa_error *err)
{
    struct noa_yaml_doc *doc = NULL;
    assert_int_equal(noa_yaml_parse(yaml, strlen(yaml), "cfg.yaml", NULL, &doc, err), 0);
    int rc = noa_ruler_remote_write_configs(noa_yaml_get(doc->root, "client"),
                                            noa_yaml_get(doc->root, "clients"), v, n, err);
    noa_yaml_free(doc);
    return rc;
}

/* Loki's client / clients settings, each Prometheus remote_write config. */
static void test_configs(void **state)
{
    (void)state;
    struct noa_ruler_remote_write_options *v = NULL;
    unsigned n = 0;
    struct noa_error err = {0};
    const char *y = "clients:\n"
                    "  zeta:\n"
                    "    url: http://b:9090/api/v1/write\n"
                    "    remote_timeout: 5s\n"
                    "    basic_auth: {username: user, password: pass}\n"
                    "    queue_config: {capacity: 100}\n"
                    "  alpha:\n"
                    "    url: https://a/push\n"
                    "    headers: {X-A: '1'}\n"
                    "    authorization: {credentials: tok}\n"
                    "    write_relabel_configs:\n"
                    "    - {target_label: replica, replacement: b}\n";
    assert_int_equal(parse(y, &v, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].name, "alpha"); /* sorted by name */
    assert_string_equal(v[0].url, "https://a/push");
    assert_int_equal(v[0].n_headers, 2);
    assert_string_equal(v[0].headers[0], "X-A: 1");
    assert_string_equal(v[0].headers[1], "Authorization: Bearer tok");
    assert_int_equal(noa_ruler_relabel_len(v[0].write_relabel), 1);
    assert_int_equal(v[0].add_org_id_header, 1);
    assert_string_equal(v[1].name, "zeta");
    assert_int_equal(v[1].timeout_ms, 5000);
    assert_int_equal(v[1].n_headers, 1);
    assert_string_equal(v[1].headers[0], "Authorization: Basic dXNlcjpwYXNz");
    assert_null(v[1].write_relabel);
    noa_ruler_remote_write_configs_free(v, n);

    /* The deprecated single client is "default". */
    assert_int_equal(parse("client: {url: 'http://p/w'}\n", &v, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].name, "default");
    noa_ruler_remote_write_configs_free(v, n);
    /* Neither: no clients. */
    assert_int_equal(parse("other: 1\n", &v, &n, &err), 0);
    assert_int_equal(n, 0);

    static const struct {
        const char *yaml, *msg;
    } bad[] = {
        {"client: {url: 'http://p/w'}\nclients: {a: {url: 'http://q/w'}}\n",
         "ruler remote write config: both 'client' and 'clients' options are defined; 'client' is "
         "deprecated, please only use 'clients'"},
        {"clients:\n  a:\n    url: http://q/w\n    bogus: 1\n",
         "cfg.yaml:4:5: field bogus not found in type config.RemoteWriteConfig"},
        {"clients: {a: {remote_timeout: 1s}}\n", "url for remote_write is empty"},
        {"clients: {a: {url: 'ftp://x'}}\n", "unsupported scheme"},
        {"clients: {a: {url: 'http://x', remote_timeout: soon}}\n", "remote_timeout: bad duration"},
        {"clients: {a: {url: 'http://x', headers: {X: \"a\\nb\"}}}\n", "control characters"},
        {"clients: {a: {url: 'http://x', write_relabel_configs: [{action: nope}]}}\n",
         "unknown relabel action"},
        {"clients: [1]\n", "expected a map of clients by name"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = NULL;
        n = 0;
        int rc = parse(bad[i].yaml, &v, &n, &err);
        if (rc != NOA_EINVAL || !strstr(err.msg, bad[i].msg))
            fail_msg("case %zu: rc %d [%s]", i, rc, err.msg);
        assert_null(v);
    }
}

/* Configured headers reach the receiver. */
static void test_headers(void **state)
{
    (void)state;
    struct fakehttp f = {.statuses = {204}};
    fh_start(&f);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/w", f.port);
    const char *h[] = {"Authorization: Basic dXNlcjpwYXNz", "X-Extra: yes"};
    struct noa_ruler_remote_write_options o = {.url = url, .headers = h, .n_headers = 2};
    struct noa_ruler_remote_write *rw = NULL;
    assert_int_equal(noa_ruler_remote_write_new(&o, &rw), 0);
    struct noa_ruler_rw_series s[] = {{l1, 2, 3, 42}};
    struct noa_buf pb = {0};
    struct noa_error err = {0};
    noa_ruler_remote_write_encode(s, 1, &pb);
    assert_int_equal(noa_ruler_remote_write_send(rw, "t", &pb, &err), 0);
    noa_ruler_remote_write_free(rw);
    fh_stop(&f);
    assert_non_null(strcasestr(f.head[0], "Authorization: Basic dXNlcjpwYXNz\r\n"));
    assert_non_null(strcasestr(f.head[0], "X-Extra: yes\r\n"));
    fh_free(&f);
    noa_buf_fini(&pb);
}

/* The timestamp of the first sample of request i as the receiver got it. */
static long long first_ts(const struct fakehttp *f, unsigned i)
{
    struct noa_buf raw = {0}, txt = {0};
    struct noa_error err = {0};
    assert_int_equal(noa_compress_snappy_decompress(f->body[i], f->body_len[i], 1 << 20, &raw, &err), 0);
    decode(raw.data, raw.len, &txt);
    const char *at = strchr(noa_buf_cstr(&txt), '@');
    assert_non_null(at);
    long long ts = atoll(at + 1);
    noa_buf_fini(&raw);
    noa_buf_fini(&txt);
    return ts;
}

static void enqueue_ts(struct noa_ruler_remote_write *rw, int64_t ts, unsigned samples)
{
    struct noa_ruler_rw_series s[] = {{l1, 2, 1, ts}};
    struct noa_buf pb = {0};
    noa_ruler_remote_write_encode(s, 1, &pb);
    noa_ruler_remote_write_enqueue(rw, "t", &pb, samples);
    noa_buf_fini(&pb);
}

/* A receiver that does not answer never blocks the producer; a full queue
 * drops its oldest request; the rest is sent in order; a refused request
 * is dropped and counted. */
static void test_queue(void **state)
{
    (void)state;
    struct fakehttp f = {.statuses = {204, 204, 400}};
    fh_listen(&f);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/w", f.port);
    struct noa_ruler_remote_write_options o = {.name = "main", .url = url, .timeout_ms = 10000};
    struct noa_ruler_remote_write *rw = NULL;
    struct noa_metrics *reg = noa_metrics_new();
    assert_int_equal(noa_ruler_remote_write_new(&o, &rw), 0);
    struct noa_ruler_remote_write_queue_options qo = {.capacity = 2, .metrics = reg};
    assert_int_equal(noa_ruler_remote_write_start(rw, &qo), 0);
    struct noa_ruler_remote_write_stats st;
    enqueue_ts(rw, 1, 1);
    for (int i = 0; i < 500; i++) { /* wait until request 1 hangs on the receiver */
        noa_ruler_remote_write_stats(rw, &st);
        if (st.in_flight == 1)
            break;
        usleep(2000);
    }
    assert_int_equal(st.in_flight, 1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    enqueue_ts(rw, 2, 2);
    enqueue_ts(rw, 3, 3);
    enqueue_ts(rw, 4, 4); /* the queue holds 2: request 2 goes */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 200);
    noa_ruler_remote_write_stats(rw, &st);
    assert_int_equal(st.samples_dropped, 2);
    assert_int_equal(st.queue_length, 3);
    assert_int_equal(noa_ruler_remote_write_flush(rw, 50), NOA_ETIMEOUT);
    fh_run(&f);
    assert_int_equal(noa_ruler_remote_write_flush(rw, 10000), 0);
    noa_ruler_remote_write_stats(rw, &st);
    assert_int_equal(st.samples_sent, 1 + 3);
    assert_int_equal(st.samples_dropped, 2 + 4); /* request 4 was refused (400) */
    assert_int_equal(st.failed_requests, 1);
    assert_int_equal(st.queue_length, 0);
    struct noa_buf m = {0};
    noa_metrics_write(reg, &m);
    assert_non_null(strstr(noa_buf_cstr(&m), "noa_ruler_remote_write_samples_total{client=\"main\"} 4\n"));
    assert_non_null(strstr(m.data, "noa_ruler_remote_write_samples_dropped_total{client=\"main\"} 6\n"));
    assert_non_null(strstr(m.data, "noa_ruler_remote_write_failed_requests_total{client=\"main\"} 1\n"));
    assert_non_null(strstr(m.data, "noa_ruler_remote_write_queue_length{client=\"main\"} 0\n"));
    noa_buf_fini(&m);
    noa_ruler_remote_write_free(rw);
    fh_stop(&f);
    assert_int_equal(f.n_req, 3);
    assert_int_equal(first_ts(&f, 0), 1);
    assert_int_equal(first_ts(&f, 1), 3);
    assert_int_equal(first_ts(&f, 2), 4);
    fh_free(&f);
    noa_metrics_free(reg);
}

/* Shutdown drains what is queued. */
static void test_queue_drain(void **state)
{
    (void)state;
    struct fakehttp f = {.statuses = {204, 204, 204}};
    fh_start(&f);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/w", f.port);
    struct noa_ruler_remote_write_options o = {.url = url};
    struct noa_ruler_remote_write *rw = NULL;
    assert_int_equal(noa_ruler_remote_write_new(&o, &rw), 0);
    assert_int_equal(noa_ruler_remote_write_start(rw, NULL), 0);
    for (int i = 1; i <= 3; i++)
        enqueue_ts(rw, i, 1);
    noa_ruler_remote_write_free(rw);
    fh_stop(&f);
    assert_int_equal(f.n_req, 3);
    assert_int_equal(first_ts(&f, 2), 3);
    fh_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_send_retries),
        cmocka_unit_test(test_configs),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_queue),
        cmocka_unit_test(test_queue_drain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
