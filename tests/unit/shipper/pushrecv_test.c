/*
 * Unit tests for shipper/pushrecv.c over real HTTP on an ephemeral
 * 127.0.0.1 port (common/http_client.h): JSON, snappy protobuf, zstd
 * protobuf and gzip bodies, the raw route, labels and timestamps, garbage
 * bodies and their 4xx, the ack-gated 204, the ack timeout (503), the full
 * downstream (429 and the in-request retry), tenants and stopping with
 * requests waiting. emit runs on the receiver's thread; HTTP requests that
 * wait for acks run on a helper thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/compress.h"
#include "common/err.h"
#include "common/http_client.h"
#include "common/mem.h"
#include "common/push.h"
#include "common/pushproto.h"
#include "shipper/pushrecv.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct got {
    char *line;
    char *labels;
    char *meta;
    char *source;
    int64_t ts_ns;
    uint64_t offset;
};

struct fx {
    struct noa_pushrecv *r;
    pthread_mutex_t mu;
    struct got got[256];
    size_t n;
    int auto_ack;    /* ack inside emit */
    int answer;      /* what emit answers when it takes */
    int limit_all;   /* answer NOA_ELIMIT always */
    int limit_after; /* >0: after this many taken, answer NOA_ELIMIT limit_times times */
    int limit_times;
    int limited;
    int ticks;
    struct noa_http_client *http;
    char base[64];
};

static int emit_cb(struct noa_entry *e, void *ctx)
{
    struct fx *f = ctx;
    pthread_mutex_lock(&f->mu);
    if (f->limit_all ||
        (f->limit_after && (int)f->n == f->limit_after && f->limited < f->limit_times)) {
        f->limited++;
        noa_buf_reset(&e->line); /* a pipeline may change it before saying no */
        pthread_mutex_unlock(&f->mu);
        return NOA_ELIMIT;
    }
    struct got *g = &f->got[f->n++];
    g->line = strndup(e->line.data ? e->line.data : "", e->line.len);
    struct noa_buf b = {0};
    noa_kvlist_format(&e->labels, &b);
    g->labels = strdup(noa_buf_cstr(&b));
    noa_buf_reset(&b);
    noa_kvlist_format(&e->meta, &b);
    g->meta = strdup(noa_buf_cstr(&b));
    noa_buf_fini(&b);
    g->source = strndup(e->source.data ? e->source.data : "", e->source.len);
    g->ts_ns = e->ts_ns;
    g->offset = e->offset;
    int a = f->answer;
    int ack = f->auto_ack;
    pthread_mutex_unlock(&f->mu);
    if (ack && a == 0)
        noa_pushrecv_acked(f->r, e->offset);
    return a;
}

static void tick_cb(int64_t now_ns, void *ctx)
{
    struct fx *f = ctx;
    (void)now_ns;
    pthread_mutex_lock(&f->mu);
    f->ticks++;
    pthread_mutex_unlock(&f->mu);
}

static void start(struct fx *f, struct noa_pushrecv_config *c)
{
    struct noa_pushrecv_callbacks cb = {.emit_cb = emit_cb, .tick_cb = tick_cb, .ctx = f};
    struct noa_error err = {0};
    c->host = "127.0.0.1";
    if (!c->job_name)
        c->job_name = "push";
    assert_int_equal(noa_pushrecv_new(c, &cb, &f->r, &err), 0);
    int rc = noa_pushrecv_start(f->r, &err);
    if (rc < 0)
        fail_msg("start: %s", err.msg);
    assert_true(noa_pushrecv_port(f->r) > 0);
    snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%d", noa_pushrecv_port(f->r));
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    f->auto_ack = 1;
    assert_int_equal(noa_http_client_new(&f->http), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    noa_pushrecv_free(f->r);
    noa_http_client_free(f->http);
    for (size_t i = 0; i < f->n; i++) {
        free(f->got[i].line);
        free(f->got[i].labels);
        free(f->got[i].meta);
        free(f->got[i].source);
    }
    pthread_mutex_destroy(&f->mu);
    free(f);
    return 0;
}

struct call {
    int status;
    char body[512];
};

static void do_http(struct noa_http_client *http, const char *base, const char *method,
                    const char *path, const char *const *headers, size_t n_headers,
                    const void *body, size_t len, struct call *out)
{
    char url[160];
    snprintf(url, sizeof(url), "%s%s", base, path);
    struct noa_http_client_request rq = {.method = method,
                                         .url = url,
                                         .headers = headers,
                                         .n_headers = n_headers,
                                         .body = body,
                                         .body_len = len,
                                         .timeout_ms = 10000};
    struct noa_http_client_response resp = {0};
    int rc = noa_http_client_do(http, &rq, &resp);
    if (rc < 0)
        fail_msg("http: %s", resp.error);
    out->status = resp.status;
    snprintf(out->body, sizeof(out->body), "%.*s", (int)resp.body.len,
             resp.body.data ? resp.body.data : "");
    noa_http_client_response_fini(&resp);
}

static struct call post(struct fx *f, const char *path, const char *ctype, const char *cenc,
                        const void *body, size_t len)
{
    char h1[128], h2[128];
    const char *hs[2];
    size_t nh = 0;
    if (ctype) {
        snprintf(h1, sizeof(h1), "Content-Type: %s", ctype);
        hs[nh++] = h1;
    }
    if (cenc) {
        snprintf(h2, sizeof(h2), "Content-Encoding: %s", cenc);
        hs[nh++] = h2;
    }
    struct call c;
    do_http(f->http, f->base, "POST", path, hs, nh, body, len, &c);
    return c;
}

static struct call post_json(struct fx *f, const char *json)
{
    return post(f, "/loki/api/v1/push", "application/json", NULL, json, strlen(json));
}

static size_t got_n(struct fx *f)
{
    pthread_mutex_lock(&f->mu);
    size_t n = f->n;
    pthread_mutex_unlock(&f->mu);
    return n;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_ready_and_routes(void **state)
{
    struct fx *f = *state;
    struct noa_pushrecv_config c = {0};
    start(f, &c);
    struct call r;
    do_http(f->http, f->base, "GET", "/ready", NULL, 0, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ready");
    do_http(f->http, f->base, "GET", "/loki/api/v1/push", NULL, 0, NULL, 0, &r);
    assert_int_equal(r.status, 405);
    do_http(f->http, f->base, "GET", "/nope", NULL, 0, NULL, 0, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(noa_pushrecv_source(f->r), "push-push");
}

static void test_json_push(void **state)
{
    struct fx *f = *state;
    struct noa_label labels[] = {{NOA_STR("job"), NOA_STR("cfg")},
                                 {NOA_STR("origin"), NOA_STR("pushrecv")}};
    struct noa_pushrecv_config c = {.job_name = "apps", .labels = labels, .n_labels = 2};
    start(f, &c);
    int64_t t0 = noa_clock_real_ns();
    struct call r = post_json(
        f, "{\"streams\":[{\"stream\":{\"app\":\"a\",\"job\":\"x\"},\"values\":["
           "[\"1700000000000000001\",\"same\"],[\"1700000000000000002\",\"same\","
           "{\"trace_id\":\"t1\"}]]},"
           "{\"stream\":{\"app\":\"b\"},\"values\":[[\"1700000000000000003\",\"third\"]]}]}");
    int64_t t1 = noa_clock_real_ns();
    assert_int_equal(r.status, 204);
    assert_int_equal(f->n, 3);
    assert_string_equal(f->got[0].line, "same");
    /* configured labels win over the stream's */
    assert_string_equal(f->got[0].labels, "{app=\"a\", job=\"cfg\", origin=\"pushrecv\"}");
    assert_string_equal(f->got[1].meta, "{trace_id=\"t1\"}");
    assert_string_equal(f->got[2].labels, "{app=\"b\", job=\"cfg\", origin=\"pushrecv\"}");
    assert_string_equal(f->got[0].source, "push-apps");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(f->got[i].offset, (uint64_t)i + 1);
        /* receive time, not the pushed one, strictly increasing */
        assert_true(f->got[i].ts_ns >= t0 && f->got[i].ts_ns <= t1 + 3);
        if (i)
            assert_true(f->got[i].ts_ns > f->got[i - 1].ts_ns);
    }
    struct noa_pushrecv_stats st;
    noa_pushrecv_stats(f->r, &st);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.acked_seq, 3);
    assert_int_equal(st.requests, 1);
}

static void build_proto(struct noa_buf *out)
{
    struct noa_label meta[] = {{NOA_STR("k"), NOA_STR("v")}};
    struct noa_push_entry e[] = {
        {.ts_ns = 1700000000123456789LL, .line = NOA_STR("proto one")},
        {.ts_ns = 1700000001000000000LL, .line = NOA_STR("proto two"), .meta = meta, .n_meta = 1},
    };
    struct noa_push_stream s = {
        .labels = NOA_STR("{svc=\"p\", env=\"dev\"}"), .entries = e, .n_entries = 2};
    struct noa_push_request pr = {.streams = &s, .n_streams = 1};
    noa_pushproto_encode(&pr, out);
}

static void test_proto_codecs_and_incoming_ts(void **state)
{
    struct fx *f = *state;
    struct noa_pushrecv_config c = {.use_incoming_timestamp = 1};
    start(f, &c);
    struct noa_buf raw = {0}, snappy = {0}, zstd = {0}, gz = {0};
    build_proto(&raw);
    assert_int_equal(noa_compress_compress(NOA_COMPRESS_SNAPPY, raw.data, raw.len, 0, &snappy), 0);
    assert_int_equal(noa_compress_compress(NOA_COMPRESS_ZSTD, raw.data, raw.len, 0, &zstd), 0);
    struct call r =
        post(f, "/loki/api/v1/push", "application/x-protobuf", NULL, snappy.data, snappy.len);
    assert_int_equal(r.status, 204);
    r = post(f, "/loki/api/v1/push", "application/x-protobuf", "zstd", zstd.data, zstd.len);
    assert_int_equal(r.status, 204);
    const char *json = "{\"streams\":[{\"stream\":{\"z\":\"1\"},\"values\":[[\"5\",\"gz\"]]}]}";
    assert_int_equal(noa_compress_compress(NOA_COMPRESS_GZIP, json, strlen(json), 0, &gz), 0);
    r = post(f, "/loki/api/v1/push", "application/json", "gzip", gz.data, gz.len);
    assert_int_equal(r.status, 204);
    /* deflate is undone first; what is left is Promtail's snappy body, as
     * noa-server takes it */
    struct noa_buf dfs = {0};
    assert_int_equal(noa_compress_compress(NOA_COMPRESS_DEFLATE, snappy.data, snappy.len, 0, &dfs),
                     0);
    r = post(f, "/loki/api/v1/push", "application/x-protobuf", "deflate", dfs.data, dfs.len);
    assert_int_equal(r.status, 204);
    noa_buf_fini(&dfs);
    assert_int_equal(f->n, 7);
    assert_string_equal(f->got[5].line, "proto one");
    assert_string_equal(f->got[6].line, "proto two");
    for (int i = 0; i < 4; i += 2) {
        assert_string_equal(f->got[i].line, "proto one");
        assert_string_equal(f->got[i].labels, "{env=\"dev\", svc=\"p\"}");
        assert_int_equal(f->got[i].ts_ns, 1700000000123456789LL);
        assert_string_equal(f->got[i + 1].line, "proto two");
        assert_string_equal(f->got[i + 1].meta, "{k=\"v\"}");
        assert_int_equal(f->got[i + 1].ts_ns, 1700000001000000000LL);
    }
    assert_string_equal(f->got[4].line, "gz");
    assert_int_equal(f->got[4].ts_ns, 5);
    noa_buf_fini(&raw);
    noa_buf_fini(&snappy);
    noa_buf_fini(&zstd);
    noa_buf_fini(&gz);
}

static void test_raw(void **state)
{
    struct fx *f = *state;
    struct noa_label labels[] = {{NOA_STR("job"), NOA_STR("raw")}};
    struct noa_pushrecv_config c = {.labels = labels, .n_labels = 1};
    start(f, &c);
    const char *body = "first\r\n\n\r\n{\"json\":1}\n  indented\nlast";
    struct call r = post(f, "/promtail/api/v1/raw", "text/plain", NULL, body, strlen(body));
    assert_int_equal(r.status, 204);
    r = post(f, "/loki/api/v1/raw", NULL, NULL, "x\n", 2);
    assert_int_equal(r.status, 204);
    r = post(f, "/loki/api/v1/raw", NULL, NULL, "", 0);
    assert_int_equal(r.status, 204);
    assert_int_equal(f->n, 5);
    assert_string_equal(f->got[0].line, "first");
    assert_string_equal(f->got[1].line, "{\"json\":1}");
    assert_string_equal(f->got[2].line, "  indented");
    assert_string_equal(f->got[3].line, "last");
    assert_string_equal(f->got[4].line, "x");
    assert_string_equal(f->got[0].labels, "{job=\"raw\"}");
}

static void test_garbage(void **state)
{
    struct fx *f = *state;
    struct noa_pushrecv_config c = {.max_body_bytes = 4096};
    start(f, &c);
    struct call r = post_json(f, "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[[\"1\",\"x");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "loghttp.PushRequest"));
    r = post_json(f, "");
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body, "EOF\n");
    r = post_json(
        f, "{\"streams\":[{\"stream\":{\"a\":\"b\",\"0bad\":\"c\"},\"values\":[[\"1\",\"x\"]]},"
           "{\"stream\":{\"ok\":\"1\"},\"values\":[[\"1\",\"y\"]]}]}");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "couldn't parse labels: "));
    r = post(f, "/loki/api/v1/push", "application/x-protobuf", NULL, "\xff\xff\xff", 3);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "snappy"));
    r = post(f, "/loki/api/v1/push", "application/x-protobuf", "zstd", "\x28\xb5\x2f\xfd\x00", 5);
    assert_int_equal(r.status, 400);
    r = post(f, "/loki/api/v1/push", "application/x-protobuf", "br", "x", 1);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body, "Content-Encoding \"br\" not supported\n");
    r = post(f, "/loki/api/v1/push", "", NULL, "x", 1); /* curl drops an empty header */
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body, "mime: no media type\n");
    /* over the body limit, and a small body that inflates past it */
    static char big[8192];
    memset(big, 'a', sizeof(big));
    r = post(f, "/loki/api/v1/push", "application/json", NULL, big, sizeof(big));
    assert_int_equal(r.status, 413);
    struct noa_buf bomb = {0};
    assert_int_equal(noa_compress_compress(NOA_COMPRESS_GZIP, big, sizeof(big), 9, &bomb), 0);
    assert_true(bomb.len < 4096);
    r = post(f, "/loki/api/v1/push", "application/json", "gzip", bomb.data, bomb.len);
    assert_int_equal(r.status, 413);
    noa_buf_fini(&bomb);
    /* random bytes never crash and are 4xx */
    unsigned seed = 12345;
    for (int i = 0; i < 200; i++) {
        char junk[200];
        size_t n = (size_t)(rand_r(&seed) % sizeof(junk));
        for (size_t k = 0; k < n; k++)
            junk[k] = (char)rand_r(&seed);
        r = post(f, "/loki/api/v1/push", i % 2 ? "application/json" : "application/x-protobuf",
                 NULL, junk, n);
        if (r.status != 400 && r.status != 413 && r.status != 204)
            fail_msg("junk %d: status %d: %s", i, r.status, r.body);
    }
    /* nothing of a rejected request is emitted */
    assert_int_equal(got_n(f), 0);
    struct noa_pushrecv_stats st;
    noa_pushrecv_stats(f->r, &st);
    assert_true(st.bad_requests >= 9);
}

struct bg {
    struct fx *f;
    const char *path;
    const char *body;
    struct call res;
    int done;
    pthread_t t;
};

static void *bg_main(void *arg)
{
    struct bg *b = arg;
    struct noa_http_client *http = NULL;
    assert_int_equal(noa_http_client_new(&http), 0);
    const char *h[] = {"Content-Type: application/json"};
    do_http(http, b->f->base, "POST", b->path, h, 1, b->body, strlen(b->body), &b->res);
    noa_http_client_free(http);
    __atomic_store_n(&b->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void bg_start(struct bg *b, struct fx *f, const char *path, const char *body)
{
    memset(b, 0, sizeof(*b));
    b->f = f;
    b->path = path;
    b->body = body;
    assert_int_equal(pthread_create(&b->t, NULL, bg_main, b), 0);
}

static int bg_done(struct bg *b)
{
    return __atomic_load_n(&b->done, __ATOMIC_SEQ_CST);
}

static void wait_n(struct fx *f, size_t n)
{
    int64_t end = noa_clock_mono_ns() + 5000000000LL;
    while (got_n(f) < n && noa_clock_mono_ns() < end)
        usleep(1000);
    assert_int_equal(got_n(f), n);
}

static const char two_lines[] =
    "{\"streams\":[{\"stream\":{\"a\":\"1\"},\"values\":[[\"1\",\"l1\"],[\"2\",\"l2\"]]}]}";

static void test_ack_gates_response(void **state)
{
    struct fx *f = *state;
    f->auto_ack = 0;
    struct noa_pushrecv_config c = {0};
    start(f, &c);
    struct bg b;
    bg_start(&b, f, "/loki/api/v1/push", two_lines);
    wait_n(f, 2);
    usleep(200000);
    assert_false(bg_done(&b)); /* no ack yet: no answer yet */
    noa_pushrecv_acked(f->r, 1);
    usleep(200000);
    assert_false(bg_done(&b)); /* half acknowledged */
    noa_pushrecv_acked(f->r, 2);
    pthread_join(b.t, NULL);
    assert_int_equal(b.res.status, 204);

    /* entries the pipeline dropped need no ack */
    f->answer = 1;
    struct call r = post_json(f, two_lines);
    assert_int_equal(r.status, 204);
    assert_int_equal(f->got[3].offset, 4);
}

static void test_ack_timeout(void **state)
{
    struct fx *f = *state;
    f->auto_ack = 0;
    struct noa_pushrecv_config c = {.ack_timeout_ns = 300000000LL};
    start(f, &c);
    int64_t t0 = noa_clock_mono_ns();
    struct call r = post_json(f, two_lines);
    int64_t took = noa_clock_mono_ns() - t0;
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "timed out"));
    assert_true(took >= 300000000LL && took < 3000000000LL);
    struct noa_pushrecv_stats st;
    noa_pushrecv_stats(f->r, &st);
    assert_int_equal(st.timeouts, 1);
    /* a late ack for a timed-out request is harmless */
    noa_pushrecv_acked(f->r, 2);
    f->auto_ack = 1;
    r = post_json(f, two_lines);
    assert_int_equal(r.status, 204);
}

static void test_full_downstream(void **state)
{
    struct fx *f = *state;
    struct noa_pushrecv_config c = {0};
    start(f, &c);
    f->limit_all = 1;
    struct call r = post_json(f, two_lines);
    assert_int_equal(r.status, 429);
    r = post(f, "/loki/api/v1/raw", "text/plain", NULL, "a\nb\n", 4);
    assert_int_equal(r.status, 429);
    assert_int_equal(got_n(f), 0);
    f->limit_all = 0;
    assert_int_equal(f->limited, 2);
    f->limited = 0;

    /* full in the middle of a request: the rest waits and goes in order */
    f->limit_after = 1;
    f->limit_times = 3;
    int64_t t0 = noa_clock_mono_ns();
    r = post_json(f, "{\"streams\":[{\"stream\":{\"a\":\"1\"},\"values\":[[\"1\",\"m1\"],"
                     "[\"2\",\"m2\"],[\"3\",\"m3\"]]}]}");
    int64_t took = noa_clock_mono_ns() - t0;
    assert_int_equal(r.status, 204);
    assert_int_equal(f->n, 3);
    assert_string_equal(f->got[0].line, "m1");
    assert_string_equal(f->got[1].line, "m2"); /* rebuilt after the refused attempt */
    assert_string_equal(f->got[2].line, "m3");
    assert_int_equal(f->got[1].offset, 2);
    assert_int_equal(f->limited, 3);
    assert_true(took >= 60000000LL); /* 10 + 20 + 40 ms of waiting, no spinning */
}

static void test_blocked_request_refuses_others(void **state)
{
    struct fx *f = *state;
    struct noa_pushrecv_config c = {0};
    start(f, &c);
    f->limit_after = 1;
    f->limit_times = 1000000; /* stays full after the first entry */
    struct bg b;
    bg_start(&b, f, "/loki/api/v1/push", two_lines);
    wait_n(f, 1);
    usleep(50000);
    /* another request while one waits for room: 429, nothing taken */
    struct call r = post_json(f, two_lines);
    assert_int_equal(r.status, 429);
    assert_int_equal(got_n(f), 1);
    pthread_mutex_lock(&f->mu);
    f->limit_times = 0; /* room again */
    pthread_mutex_unlock(&f->mu);
    pthread_join(b.t, NULL);
    assert_int_equal(b.res.status, 204);
    assert_int_equal(f->n, 2);
    assert_string_equal(f->got[1].line, "l2");
}

static void test_tenant(void **state)
{
    struct fx *f = *state;
    struct noa_pushrecv_config c = {.tenant_from_header = 1};
    start(f, &c);
    const char *h[] = {"Content-Type: application/json", "X-Scope-OrgID: team-a"};
    struct call r;
    do_http(f->http, f->base, "POST", "/loki/api/v1/push", h, 2, two_lines, strlen(two_lines), &r);
    assert_int_equal(r.status, 204);
    assert_string_equal(f->got[0].labels, "{__tenant_id__=\"team-a\", a=\"1\"}");
    do_http(f->http, f->base, "POST", "/loki/api/v1/raw", h + 1, 1, "x", 1, &r);
    assert_int_equal(r.status, 204);
    assert_string_equal(f->got[2].labels, "{__tenant_id__=\"team-a\"}");
    noa_pushrecv_free(f->r);
    f->r = NULL;
    /* Promtail's default: the header is ignored */
    struct noa_pushrecv_config c2 = {0};
    start(f, &c2);
    do_http(f->http, f->base, "POST", "/loki/api/v1/push", h, 2, two_lines, strlen(two_lines), &r);
    assert_int_equal(r.status, 204);
    assert_string_equal(f->got[3].labels, "{a=\"1\"}");
}

static void test_stop_with_waiting_request(void **state)
{
    struct fx *f = *state;
    f->auto_ack = 0;
    struct noa_pushrecv_config c = {0};
    start(f, &c);
    struct bg b;
    bg_start(&b, f, "/loki/api/v1/push", two_lines);
    wait_n(f, 2);
    noa_pushrecv_stop(f->r);
    pthread_join(b.t, NULL);
    assert_int_equal(b.res.status, 503);
    assert_int_equal(noa_pushrecv_port(f->r), -1);
    noa_pushrecv_stop(f->r);     /* idempotent */
    noa_pushrecv_acked(f->r, 2); /* after stop: harmless */
    assert_true(f->ticks >= 0);
}

static void test_config_errors(void **state)
{
    (void)state;
    struct noa_pushrecv *r = NULL;
    struct noa_error err = {0};
    struct noa_pushrecv_callbacks cb = {.emit_cb = emit_cb};
    struct noa_pushrecv_config c = {0};
    assert_int_equal(noa_pushrecv_new(&c, &cb, &r, &err), NOA_EINVAL);
    c.job_name = "j";
    c.port = 70000;
    assert_int_equal(noa_pushrecv_new(&c, &cb, &r, &err), NOA_EINVAL);
    c.port = 0;
    struct noa_label bad[] = {{NOA_STR("bad-name"), NOA_STR("v")}};
    c.labels = bad;
    c.n_labels = 1;
    assert_int_equal(noa_pushrecv_new(&c, &cb, &r, &err), NOA_EINVAL);
    assert_non_null(strstr(err.msg, "bad-name"));
    c.n_labels = 0;
    assert_int_equal(noa_pushrecv_new(&c, NULL, &r, &err), NOA_EINVAL);
    /* a port in use */
    struct noa_pushrecv *a = NULL, *b = NULL;
    c.host = "127.0.0.1";
    assert_int_equal(noa_pushrecv_new(&c, &cb, &a, &err), 0);
    assert_int_equal(noa_pushrecv_start(a, &err), 0);
    c.port = noa_pushrecv_port(a);
    assert_int_equal(noa_pushrecv_new(&c, &cb, &b, &err), 0);
    assert_true(noa_pushrecv_start(b, &err) < 0);
    assert_int_equal(noa_pushrecv_port(b), -1);
    noa_pushrecv_free(b);
    noa_pushrecv_free(a);
    noa_pushrecv_free(NULL);
    /* never started */
    c.port = 0;
    assert_int_equal(noa_pushrecv_new(&c, &cb, &a, &err), 0);
    noa_pushrecv_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ready_and_routes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_push, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proto_codecs_and_incoming_ts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_gates_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_downstream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blocked_request_refuses_others, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tenant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_with_waiting_request, setup, teardown),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
