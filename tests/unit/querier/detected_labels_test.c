/* Unit tests for querier/detected_labels.c: Loki's relevance filter for
 * /detected_labels and the JSON answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/mem.h"
#include "querier/detected_labels.h"

#include <string.h>

#define L(n, v) {NOA_STR(n), NOA_STR(v)}

static int keep(const char *a, const char *b, const char *c)
{
    struct noa_str v[3] = {{0}};
    size_t n = 0;
    if (a)
        v[n++] = noa_str_c(a);
    if (b)
        v[n++] = noa_str_c(b);
    if (c)
        v[n++] = noa_str_c(c);
    return noa_detected_labels_keep(v, n);
}

static void test_keep_rule(void **state)
{
    (void)state;
    assert_false(keep(NULL, NULL, NULL));
    assert_true(keep("api", NULL, NULL));
    assert_true(keep("0", "1", NULL));     /* a flag */
    assert_true(keep("1", NULL, NULL));
    assert_false(keep("2", NULL, NULL));   /* a number */
    assert_false(keep("0", "2", NULL));
    assert_false(keep("0", "1", "2"));     /* three numbers: IDs */
    assert_false(keep("123e4567-e89b-12d3-a456-426614174000", "1.5", "7"));
    assert_true(keep("123e4567-e89b-12d3-a456-426614174000", "x", "7"));
}

static void test_encode(void **state)
{
    (void)state;
    struct noa_detected_labels *d = noa_detected_labels_new();
    struct noa_buf b = {0};
    noa_detected_labels_encode(d, &b);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "{}\n", 3);
    struct noa_label s1[] = {L("app", "api"), L("namespace", "7"), L("pod_uid", "1"),
                             L("service_name", "api")};
    struct noa_label s2[] = {L("app", "web"), L("namespace", "8"), L("pod_uid", "2"),
                             L("service_name", "web")};
    struct noa_label s3[] = {L("__stream_shard__", "1"), L("app", "web"), L("namespace", "9"),
                             L("pod_uid", "3"), L("service_name", "web"), L("flag", "1")};
    noa_detected_labels_add(d, &(struct noa_labels){s1, 4});
    noa_detected_labels_add(d, &(struct noa_labels){s2, 4});
    noa_detected_labels_add(d, &(struct noa_labels){s3, 6});
    noa_buf_reset(&b);
    noa_detected_labels_encode(d, &b);
    const char *want = "{\"detectedLabels\":[{\"label\":\"app\",\"cardinality\":2},"
                       "{\"label\":\"flag\",\"cardinality\":1},"
                       "{\"label\":\"namespace\",\"cardinality\":3},"
                       "{\"label\":\"service_name\",\"cardinality\":2}]}\n";
    if (b.len != strlen(want) || memcmp(b.data, want, b.len))
        fail_msg("got %.*s", (int)b.len, b.data);
    noa_buf_fini(&b);
    noa_detected_labels_free(d);
    noa_detected_labels_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keep_rule),
        cmocka_unit_test(test_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
