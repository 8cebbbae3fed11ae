/* Unit tests for querier/ruler_notify.c: the JSON Prometheus posts to
 * Alertmanager v2 (checked field by field with jansson), the generator
 * URL, URL lists, and the POST itself against a fake Alertmanager. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/mem.h"
#include "common/metrics.h"
#include "common/yaml.h"
#include "querier/ruler_notify.h"
#include "ruler_fakehttp.h"

#include <jansson.h>
#include <stdio.h>
#include <time.h>

static void test_encode(void **state)
{
    (void)state;
    struct noa_ruler_kv labels[] = {{"alertname", "HighErrors"}, {"app", "a\"b"}};
    struct noa_ruler_kv ann[] = {{"summary", "5 errors"}};
    struct noa_ruler_alert firing = {
        .labels = labels, .n_labels = 2, .annotations = ann, .n_annotations = 1,
        .state = NOA_RULER_ALERT_FIRING, .active_at_ns = 1700000000000000000LL,
        .fired_at_ns = 1700000060123000000LL, .valid_until_ns = 1700000300000000000LL};
    struct noa_ruler_alert resolved = firing;
    resolved.state = NOA_RULER_ALERT_INACTIVE;
    resolved.resolved_at_ns = 1700000120000000000LL;
    resolved.n_annotations = 0;
    const struct noa_ruler_alert *v[] = {&firing, &resolved};
    struct noa_buf out = {0}, url = {0};
    noa_ruler_notify_generator_url("http://noa:3100/", "sum(x) > 1", &url);
    assert_string_equal(noa_buf_cstr(&url), "http://noa:3100/graph?g0.expr=sum%28x%29%20%3E%201&g0.tab=1");
    struct noa_ruler_kv ext[] = {{"app", "ignored"}, {"cluster", "eu1"}};
    noa_ruler_notify_encode(v, 2, noa_buf_cstr(&url), ext, 2, &out);
    json_error_t je;
    json_t *j = json_loadb(out.data, out.len, 0, &je);
    assert_non_null(j);
    assert_true(json_is_array(j));
    assert_int_equal(json_array_size(j), 2);
    json_t *a = json_array_get(j, 0), *b = json_array_get(j, 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(a, "labels"), "alertname")), "HighErrors");
    assert_string_equal(json_string_value(json_object_get(json_object_get(a, "labels"), "app")), "a\"b");
    /* External labels are added unless the alert has the name already. */
    assert_string_equal(json_string_value(json_object_get(json_object_get(a, "labels"), "cluster")), "eu1");
    assert_int_equal(json_object_size(json_object_get(a, "labels")), 3);
    assert_int_equal(json_object_size(json_object_get(a, "annotations")), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(a, "annotations"), "summary")), "5 errors");
    assert_string_equal(json_string_value(json_object_get(a, "startsAt")), "2023-11-14T22:14:20.123Z");
    assert_string_equal(json_string_value(json_object_get(a, "endsAt")), "2023-11-14T22:18:20.000Z");
    assert_string_equal(json_string_value(json_object_get(a, "generatorURL")), noa_buf_cstr(&url));
    assert_string_equal(json_string_value(json_object_get(b, "endsAt")), "2023-11-14T22:15:20.000Z");
    assert_int_equal(json_object_size(json_object_get(b, "annotations")), 0);
    json_decref(j);
    noa_buf_reset(&out);
    noa_ruler_notify_encode(v, 0, NULL, NULL, 0, &out);
    assert_string_equal(noa_buf_cstr(&out), "[]");
    noa_buf_fini(&out);
    noa_buf_fini(&url);
}

static void test_urls(void **state)
{
    (void)state;
    struct noa_ruler_notify *n = NULL;
    assert_int_equal(noa_ruler_notify_new("", 0, &n), NOA_EINVAL);
    assert_int_equal(noa_ruler_notify_new(" , ", 0, &n), NOA_EINVAL);
    assert_int_equal(noa_ruler_notify_new("am:9093", 0, &n), NOA_EINVAL);
    assert_int_equal(noa_ruler_notify_new("http://a:1, http://b:2/", 0, &n), 0);
    noa_ruler_notify_free(n);
}

static void test_send(void **state)
{
    (void)state;
    /* The first Alertmanager fails, the second accepts: success, both tried. */
    struct fakehttp f1 = {.statuses = {500}}, f2 = {.statuses = {200}};
    fh_start(&f1);
    fh_start(&f2);
    char urls[128];
    snprintf(urls, sizeof(urls), "http://127.0.0.1:%d,http://127.0.0.1:%d/prefix/", f1.port, f2.port);
    struct noa_ruler_notify *n = NULL;
    assert_int_equal(noa_ruler_notify_new(urls, 5000, &n), 0);
    struct noa_buf body = {0};
    struct noa_error err = {0};
    noa_buf_printf(&body, "[]");
    assert_int_equal(noa_ruler_notify_send(n, &body, &err), 0);
    fh_stop(&f1);
    fh_stop(&f2);
    assert_int_equal(f1.n_req, 1);
    assert_int_equal(f2.n_req, 1);
    if (!strstr(f1.head[0], "POST /api/v2/alerts HTTP/1.1"))
        fail_msg("[%s]", f1.head[0]);
    assert_non_null(strstr(f2.head[0], "POST /prefix/api/v2/alerts HTTP/1.1"));
    assert_non_null(strcasestr(f2.head[0], "Content-Type: application/json"));
    assert_int_equal(f2.body_len[0], 2);
    /* Every one failing is an error naming the status. */
    struct fakehttp f3 = {.statuses = {400}};
    fh_start(&f3);
    noa_ruler_notify_free(n);
    snprintf(urls, sizeof(urls), "http://127.0.0.1:%d", f3.port);
    assert_int_equal(noa_ruler_notify_new(urls, 5000, &n), 0);
    assert_int_not_equal(noa_ruler_notify_send(n, &body, &err), 0);
    assert_non_null(strstr(err.msg, "bad response status 400"));
    fh_stop(&f3);
    fh_free(&f1);
    fh_free(&f2);
    fh_free(&f3);
    noa_ruler_notify_free(n);
    noa_buf_fini(&body);
}

/* alerts named <prefix><i> for i in [from, to) */
struct batch {
    struct noa_ruler_alert a[16];
    struct noa_ruler_kv lab[16][1];
    char names[16][16];
    const struct noa_ruler_alert *p[16];
    unsigned n;
};

static void make_batch(struct batch *b, unsigned from, unsigned to)
{
    memset(b, 0, sizeof(*b));
    for (unsigned i = from; i < to; i++, b->n++) {
        snprintf(b->names[b->n], sizeof(b->names[b->n]), "a%u", i);
        b->lab[b->n][0] = (struct noa_ruler_kv){"alertname", b->names[b->n]};
        b->a[b->n] = (struct noa_ruler_alert){.labels = b->lab[b->n], .n_labels = 1,
                                              .state = NOA_RULER_ALERT_FIRING,
                                              .fired_at_ns = 1700000000000000000LL,
                                              .valid_until_ns = 1700000240000000000LL};
        b->p[b->n] = &b->a[b->n];
    }
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void alert_names(const struct fakehttp *f, unsigned req, char *out, size_t cap)
{
    json_t *j = json_loadb(f->body[req], f->body_len[req], 0, NULL);
    assert_non_null(j);
    out[0] = 0;
    for (size_t i = 0; i < json_array_size(j); i++) {
        const char *nm = json_string_value(
            json_object_get(json_object_get(json_array_get(j, i), "labels"), "alertname"));
        assert_non_null(nm);
        snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? "," : "", nm);
    }
    json_decref(j);
}

/* A stuck Alertmanager never blocks the producer; a full queue drops its
 * oldest alerts; what is left is sent in order once it answers. */
static void test_queue_overflow_and_order(void **state)
{
    (void)state;
    struct fakehttp f = {.statuses = {200, 200, 200}};
    fh_listen(&f); /* accepts connections, answers nothing yet */
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", f.port);
    struct noa_metrics *reg = noa_metrics_new();
    struct noa_ruler_notify *n = NULL;
    assert_int_equal(noa_ruler_notify_new(url, 10000, &n), 0);
    struct noa_ruler_notify_queue_options qo = {.capacity = 10, .metrics = reg};
    assert_int_equal(noa_ruler_notify_start(n, &qo), 0);
    struct batch b;
    struct noa_ruler_notify_stats st;
    make_batch(&b, 0, 1);
    noa_ruler_notify_enqueue(n, b.p, b.n, "http://g", NULL, 0);
    /* Wait until the sender took a0 and hangs on the silent Alertmanager. */
    for (int i = 0; i < 500; i++) {
        noa_ruler_notify_stats(n, &st);
        if (st.queue_length == 1 && st.in_flight == 1)
            break;
        usleep(2000);
    }
    assert_int_equal(st.in_flight, 1);
    int64_t t0 = now_ms();
    make_batch(&b, 1, 13); /* 12 alerts into a queue of 10: a1, a2 go */
    noa_ruler_notify_enqueue(n, b.p, b.n, "http://g", NULL, 0);
    make_batch(&b, 13, 16); /* 3 more: the oldest, a3..a5, go */
    noa_ruler_notify_enqueue(n, b.p, b.n, "http://g", NULL, 0);
    assert_true(now_ms() - t0 < 200); /* never waited for the network */
    noa_ruler_notify_stats(n, &st);
    assert_int_equal(st.dropped, 5);
    assert_int_equal(st.queue_length, 11);
    assert_int_equal(st.capacity, 10);
    struct noa_buf m = {0};
    noa_metrics_write(reg, &m);
    assert_non_null(strstr(noa_buf_cstr(&m), "noa_ruler_notifications_dropped_total 5\n"));
    assert_non_null(strstr(m.data, "noa_ruler_notifications_queue_length 10\n"));
    assert_non_null(strstr(m.data, "noa_ruler_notifications_queue_capacity 10\n"));
    assert_int_equal(noa_ruler_notify_flush(n, 50), NOA_ETIMEOUT);

    fh_run(&f); /* the Alertmanager answers now */
    assert_int_equal(noa_ruler_notify_flush(n, 10000), 0);
    noa_ruler_notify_stats(n, &st);
    assert_int_equal(st.sent, 11);
    assert_int_equal(st.dropped, 5);
    assert_int_equal(st.errors, 0);
    assert_int_equal(st.queue_length, 0);
    noa_ruler_notify_free(n);
    fh_stop(&f);
    assert_int_equal(f.n_req, 2);
    char names[256];
    alert_names(&f, 0, names, sizeof(names));
    assert_string_equal(names, "a0");
    alert_names(&f, 1, names, sizeof(names));
    assert_string_equal(names, "a6,a7,a8,a9,a10,a11,a12,a13,a14,a15");
    noa_buf_reset(&m);
    noa_metrics_write(reg, &m);
    assert_non_null(strstr(noa_buf_cstr(&m), "noa_ruler_notifications_sent_total 11\n"));
    assert_non_null(strstr(m.data, "noa_ruler_notifications_queue_length 0\n"));
    noa_buf_fini(&m);
    fh_free(&f);
    noa_metrics_free(reg);
}

/* Batches of 64; an unreachable Alertmanager drops the batch and counts
 * an error; shutdown drains what is queued. */
static void test_queue_batches_and_failures(void **state)
{
    (void)state;
    struct fakehttp f = {.statuses = {200, 200, 200, 200}};
    fh_listen(&f);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", f.port);
    struct noa_ruler_notify *n = NULL;
    assert_int_equal(noa_ruler_notify_new(url, 10000, &n), 0);
    assert_int_equal(noa_ruler_notify_start(n, NULL), 0);
    struct noa_ruler_alert *v = noa_xcalloc(150, sizeof(*v));
    const struct noa_ruler_alert **p = noa_xcalloc(150, sizeof(*p));
    struct noa_ruler_kv lab = {"alertname", "x"};
    for (int i = 0; i < 150; i++) {
        v[i] = (struct noa_ruler_alert){.labels = &lab, .n_labels = 1, .fired_at_ns = 1};
        p[i] = &v[i];
    }
    /* Queued while the Alertmanager is silent: taken as 1, then 64, 64, 21. */
    noa_ruler_notify_enqueue(n, p, 1, NULL, NULL, 0);
    usleep(100000);
    noa_ruler_notify_enqueue(n, p, 149, NULL, NULL, 0);
    fh_run(&f);
    noa_ruler_notify_free(n); /* drains before stopping */
    fh_stop(&f);
    assert_int_equal(f.n_req, 4);
    size_t want[4] = {1, 64, 64, 21};
    for (unsigned i = 0; i < 4; i++) {
        json_t *j = json_loadb(f.body[i], f.body_len[i], 0, NULL);
        assert_int_equal(json_array_size(j), want[i]);
        json_decref(j);
    }
    fh_free(&f);

    /* Nobody listens: the batch is dropped, one error per Alertmanager. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d,http://127.0.0.1:%d", ntohs(a.sin_port),
             ntohs(a.sin_port));
    close(fd);
    assert_int_equal(noa_ruler_notify_new(url, 2000, &n), 0);
    assert_int_equal(noa_ruler_notify_start(n, NULL), 0);
    noa_ruler_notify_enqueue(n, p, 3, NULL, NULL, 0);
    assert_int_equal(noa_ruler_notify_flush(n, 10000), 0);
    struct noa_ruler_notify_stats st;
    noa_ruler_notify_stats(n, &st);
    assert_int_equal(st.dropped, 3);
    assert_int_equal(st.errors, 2);
    assert_int_equal(st.sent, 0);
    noa_ruler_notify_free(n);
    noa_free(v);
    noa_free(p);
}

/* External labels first, then the relabel steps; a dropped alert is not
 * sent and not counted as dropped by the queue. */
static void test_queue_relabel(void **state)
{
    (void)state;
    const char *y = "- target_label: team\n  replacement: ops\n"
                    "- source_labels: [alertname, cluster]\n  regex: 'a1;c1'\n  action: drop\n";
    struct noa_yaml_doc *doc = NULL;
    struct noa_error err = {0};
    struct noa_ruler_relabel *rl = NULL;
    assert_int_equal(noa_yaml_parse(y, strlen(y), NULL, NULL, &doc, &err), 0);
    assert_int_equal(noa_ruler_relabel_new(doc->root, &rl, &err), 0);
    noa_yaml_free(doc);
    struct fakehttp f = {.statuses = {200}};
    fh_start(&f);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", f.port);
    struct noa_ruler_notify *n = NULL;
    assert_int_equal(noa_ruler_notify_new(url, 10000, &n), 0);
    struct noa_ruler_notify_queue_options qo = {.relabel = rl};
    assert_int_equal(noa_ruler_notify_start(n, &qo), 0);
    struct batch b;
    make_batch(&b, 0, 3);
    struct noa_ruler_kv ext[1] = {{"cluster", "c1"}};
    noa_ruler_notify_enqueue(n, b.p, b.n, NULL, ext, 1);
    assert_int_equal(noa_ruler_notify_flush(n, 10000), 0);
    struct noa_ruler_notify_stats st;
    noa_ruler_notify_stats(n, &st);
    assert_int_equal(st.sent, 2);
    assert_int_equal(st.dropped, 0);
    noa_ruler_notify_free(n);
    noa_ruler_relabel_free(rl);
    fh_stop(&f);
    assert_int_equal(f.n_req, 1);
    char names[256];
    alert_names(&f, 0, names, sizeof(names));
    assert_string_equal(names, "a0,a2");
    json_t *j = json_loadb(f.body[0], f.body_len[0], 0, NULL);
    json_t *l = json_object_get(json_array_get(j, 1), "labels");
    assert_string_equal(json_string_value(json_object_get(l, "team")), "ops");
    assert_string_equal(json_string_value(json_object_get(l, "cluster")), "c1");
    assert_int_equal(json_object_size(l), 3);
    json_decref(j);
    fh_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_send),
        cmocka_unit_test(test_queue_overflow_and_order),
        cmocka_unit_test(test_queue_batches_and_failures),
        cmocka_unit_test(test_queue_relabel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
