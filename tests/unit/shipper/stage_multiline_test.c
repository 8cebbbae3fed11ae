/* Tests for the multiline stage (shipper/stage_multiline.c): blocks held
 * and released by the next first line, max_lines, tick after
 * max_wait_time, flush; offsets; lines before any first line. */
#include "tests/unit/shipper/stage_testutil.h"

#define ML "- multiline:\n    firstline: '^\\[\\d{4}-\\d{2}-\\d{2}'\n"

static void test_doc_example(void **state)
{
    (void)state;
    struct noa_stages *p = tu_compile(ML "    max_wait_time: 3s\n");
    struct tu_sink s;
    tu_sink_init(&s);
    /* before any first line: passed through as it is */
    assert_int_equal(tu_run(p, &s, "app=a", "orphan", "f", 5), NOA_STAGE_PASS);
    assert_int_equal(s.n, 1);
    assert_string_equal(tu_line(&s.out[0]), "orphan");
    assert_int_equal(tu_run(p, &s, "app=a", "[2023-01-01 10:00:00] Error: boom", "f", 40),
                     NOA_STAGE_HELD);
    assert_int_equal(noa_stages_holding(p, "f"), 1);
    assert_int_equal(tu_run(p, &s, "app=a", "  at Foo.bar(Foo.java:1)", "f", 70),
                     NOA_STAGE_HELD);
    assert_int_equal(tu_run(p, &s, "app=a", "  at Main.main(Main.java:2)", "f", 100),
                     NOA_STAGE_HELD);
    assert_int_equal(s.n, 1);
    /* the next first line releases the block */
    assert_int_equal(tu_run(p, &s, "app=a", "[2023-01-01 10:00:01] ok", "f", 120),
                     NOA_STAGE_HELD);
    assert_int_equal(s.n, 2);
    assert_string_equal(tu_line(&s.out[1]), "[2023-01-01 10:00:00] Error: boom\n"
                                            "  at Foo.bar(Foo.java:1)\n"
                                            "  at Main.main(Main.java:2)");
    assert_int_equal(s.out[1].offset, 100); /* the offset of its last line */
    assert_string_equal(tu_get(&s.out[1].labels, "app"), "a");
    /* flush releases what is held */
    noa_stages_flush(p, NULL, &s.sink);
    assert_int_equal(s.n, 3);
    assert_string_equal(tu_line(&s.out[2]), "[2023-01-01 10:00:01] ok");
    assert_int_equal(s.out[2].offset, 120);
    assert_int_equal(noa_stages_holding(p, NULL), 0);
    tu_sink_fini(&s);
    tu_free(p);
}

static void test_streams_and_sources_apart(void **state)
{
    (void)state;
    struct noa_stages *p = tu_compile(ML);
    struct tu_sink s;
    tu_sink_init(&s);
    tu_run(p, &s, "app=a", "[2023-01-01] a1", "f1", 1);
    tu_run(p, &s, "app=b", "[2023-01-01] b1", "f1", 2);
    tu_run(p, &s, "app=a", "[2023-01-01] a1", "f2", 3); /* same labels, other file */
    tu_run(p, &s, "app=a", "a2", "f1", 4);
    tu_run(p, &s, "app=b", "b2", "f1", 5);
    tu_run(p, &s, "app=a", "a2'", "f2", 6);
    assert_int_equal(s.n, 0);
    noa_stages_flush(p, "f2", &s.sink);
    assert_int_equal(s.n, 1);
    assert_string_equal(tu_line(&s.out[0]), "[2023-01-01] a1\na2'");
    assert_int_equal(noa_stages_holding(p, "f2"), 0);
    assert_int_equal(noa_stages_holding(p, "f1"), 1);
    noa_stages_flush(p, "f1", &s.sink);
    assert_int_equal(s.n, 3);
    assert_string_equal(tu_line(&s.out[1]), "[2023-01-01] a1\na2");
    assert_string_equal(tu_line(&s.out[2]), "[2023-01-01] b1\nb2");
    tu_sink_fini(&s);
    tu_free(p);
}

static void test_max_lines(void **state)
{
    (void)state;
    struct noa_stages *p = tu_compile(ML "    max_lines: 3\n");
    struct tu_sink s;
    tu_sink_init(&s);
    tu_run(p, &s, "", "[2023-01-01] 1", "f", 1);
    tu_run(p, &s, "", "2", "f", 2);
    assert_int_equal(s.n, 0);
    tu_run(p, &s, "", "3", "f", 3);
    assert_int_equal(s.n, 1);
    assert_string_equal(tu_line(&s.out[0]), "[2023-01-01] 1\n2\n3");
    assert_int_equal(s.out[0].offset, 3);
    /* continuation lines after the cut start a new block */
    assert_int_equal(tu_run(p, &s, "", "4", "f", 4), NOA_STAGE_HELD);
    tu_run(p, &s, "", "5", "f", 5);
    tu_run(p, &s, "", "[2023-01-02] next", "f", 6);
    assert_int_equal(s.n, 2);
    assert_string_equal(tu_line(&s.out[1]), "4\n5");
    tu_sink_fini(&s);
    tu_free(p);
}

static void test_max_wait_time(void **state)
{
    (void)state;
    struct noa_stages *p = tu_compile(ML "    max_wait_time: 1500ms\n");
    struct tu_sink s;
    tu_sink_init(&s);
    tu_now = 10000000000LL;
    tu_run(p, &s, "", "[2023-01-01] 1", "f", 1);
    tu_now += 1000000000LL;
    tu_run(p, &s, "", "2", "f", 2); /* the timer restarts on every line */
    noa_stages_tick(p, tu_now + 1400000000LL, &s.sink);
    assert_int_equal(s.n, 0);
    noa_stages_tick(p, tu_now + 1500000000LL, &s.sink);
    assert_int_equal(s.n, 1);
    assert_string_equal(tu_line(&s.out[0]), "[2023-01-01] 1\n2");
    assert_int_equal(noa_stages_holding(p, NULL), 0);
    tu_sink_fini(&s);
    tu_free(p);
}

static void test_after_cri(void **state)
{
    (void)state;
    /* cri partials join first, then multiline groups the joined lines; a
     * flush releases both in order */
    struct noa_stages *p = tu_compile("- cri: {}\n" ML);
    struct tu_sink s;
    tu_sink_init(&s);
    tu_run(p, &s, "", "2019-01-01T00:00:00Z stdout F [2023-01-01] Error", "f", 10);
    tu_run(p, &s, "", "2019-01-01T00:00:00Z stdout P   at ", "f", 20);
    assert_int_equal(s.n, 0);
    noa_stages_flush(p, "f", &s.sink);
    assert_int_equal(s.n, 1);
    assert_string_equal(tu_line(&s.out[0]), "[2023-01-01] Error\n  at ");
    assert_int_equal(s.out[0].offset, 20);
    assert_int_equal(noa_stages_holding(p, NULL), 0);
    tu_sink_fini(&s);
    tu_free(p);
}

static void test_errors(void **state)
{
    (void)state;
    assert_non_null(strstr(tu_compile_err("- multiline:\n    max_lines: 3\n"),
                           "test.yaml:2:5: multiline stage config must define `firstline`"));
    assert_non_null(strstr(tu_compile_err("- multiline:\n    firstline: '('\n"),
                           "test.yaml:2:16: multiline stage first line regex compilation error"));
    assert_non_null(strstr(tu_compile_err(ML "    max_wait_time: soon\n"),
                           "test.yaml:3:20: cannot unmarshal !!str `soon` into duration"));
    assert_non_null(strstr(tu_compile_err(ML "    max_lines: 0\n"), "max_lines"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doc_example), cmocka_unit_test(test_streams_and_sources_apart),
        cmocka_unit_test(test_max_lines),   cmocka_unit_test(test_max_wait_time),
        cmocka_unit_test(test_after_cri),   cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
