/* Unit tests for querier/ruler_notify.c: the JSON Prometheus posts to
 * Alertmanager v2 (checked field by field with jansson), the generator
 * URL, URL lists, and the POST itself against a fake Alertmanager. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/mem.h"
#include "querier/ruler_notify.h"
#include "ruler_fakehttp.h"

#include <jansson.h>
#include <stdio.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_send),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
