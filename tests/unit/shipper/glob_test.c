/*
 * Tests for shipper/glob.c: a matching table in doublestar's semantics
 * (stars, classes, braces, "**" components, escapes), compile errors, and
 * expansion over a real temporary tree (files reported once, directories
 * listed only where the pattern needs it, links).
 */
#include "common/err.h"
#include "common/mem.h"
#include "shipper/glob.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

struct mcase {
    const char *pat, *path;
    int want;
};

static const struct mcase cases[] = {
    {"/var/log/*.log", "/var/log/syslog.log", 1},
    {"/var/log/*.log", "/var/log/a/b.log", 0},
    {"/var/log/*.log", "/var/log/.hidden.log", 1},
    {"/var/log/*.log", "/var/log/x.log.1", 0},
    {"/var/log/?.log", "/var/log/a.log", 1},
    {"/var/log/?.log", "/var/log/ab.log", 0},
    {"/var/log/[abc].log", "/var/log/b.log", 1},
    {"/var/log/[abc].log", "/var/log/d.log", 0},
    {"/var/log/[!abc].log", "/var/log/d.log", 1},
    {"/var/log/[^abc].log", "/var/log/a.log", 0},
    {"/var/log/[a-c]x", "/var/log/bx", 1},
    {"/var/log/[a-c]x", "/var/log/dx", 0},
    {"/a/[/]b", "/a//b", 0},
    {"/var/log/{a,b}.log", "/var/log/a.log", 1},
    {"/var/log/{a,b}.log", "/var/log/b.log", 1},
    {"/var/log/{a,b}.log", "/var/log/c.log", 0},
    {"/var/log/{a,{b,c}x}.log", "/var/log/cx.log", 1},
    {"/var/{log/x,run/y}/*.log", "/var/run/y/z.log", 1},
    {"/var/log/**/*.log", "/var/log/a.log", 1},
    {"/var/log/**/*.log", "/var/log/a/b/c.log", 1},
    {"/var/log/**/*.log", "/var/log/a/b/c.txt", 0},
    {"/var/log/**", "/var/log/a/b/c.txt", 1},
    {"/var/log/**", "/var/log", 1},
    {"/var/log/**", "/var/logs/x", 0},
    {"**/*.log", "a.log", 1},
    {"**/*.log", "x/y/a.log", 1},
    {"/var/log/a**b", "/var/log/axxb", 1},
    {"/var/log/a**b", "/var/log/ax/xb", 0},
    {"/var/log/pods/*/*/*.log", "/var/log/pods/ns_pod_uid/c/0.log", 1},
    {"/var/log/pods/*/*/*.log", "/var/log/pods/ns_pod_uid/c/0.log.20240101-000000", 0},
    {"/var/log/\\*.log", "/var/log/*.log", 1},
    {"/var/log/\\*.log", "/var/log/a.log", 0},
    {"/var/log/*", "/var/log/", 1},
    {"/var/log/x.log", "/var/log/x.log", 1},
    {"/var/log/x.log", "/var/log/x.lo", 0},
    {"/var/log/*/**/z", "/var/log/a/z", 1},
    {"/var/log/*/**/z", "/var/log/z", 0},
    {"/**/**/z", "/a/b/z", 1},
    {"/*.[ch]", "/glob.c", 1},
};

static void test_match_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = noa_glob_match_str(cases[i].pat, cases[i].path);
        if (got != cases[i].want)
            fail_msg("pattern %s path %s: got %d want %d", cases[i].pat, cases[i].path, got,
                     cases[i].want);
    }
}

static void test_errors(void **state)
{
    (void)state;
    const char *bad[] = {"/a/[bc", "/a/{b,c", "/a/b}",
                         "/a/b\\", "",        "{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct noa_glob *g = (struct noa_glob *)1;
        struct noa_error err = {0};
        assert_int_equal(noa_glob_new(bad[i], &g, &err), NOA_EINVAL);
        assert_null(g);
        assert_true(strlen(err.msg) > 0);
    }
    struct noa_glob *g;
    assert_int_equal(noa_glob_new("/x/y.log", &g, NULL), 0);
    assert_true(noa_glob_is_literal(g));
    assert_string_equal(noa_glob_pattern(g), "/x/y.log");
    noa_glob_free(g);
    assert_int_equal(noa_glob_new("/x/*.log", &g, NULL), 0);
    assert_false(noa_glob_is_literal(g));
    noa_glob_free(g);
    noa_glob_free(NULL);
}

/* ---- expansion over a temp tree ---- */

static char root[256];

struct got {
    char files[64][512];
    int n_files;
    char dirs[64][512];
    int n_dirs;
};

static int on_file(void *ud, const char *path)
{
    struct got *g = ud;
    assert_true(g->n_files < 64);
    assert_true(strncmp(path, root, strlen(root)) == 0);
    snprintf(g->files[g->n_files++], 512, "%s", path + strlen(root));
    return 0;
}

static int on_dir(void *ud, const char *path)
{
    struct got *g = ud;
    assert_true(g->n_dirs < 64);
    snprintf(g->dirs[g->n_dirs++], 512, "%s", path + strlen(root));
    return 0;
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void mk(const char *rel, int dir)
{
    char p[1024];
    snprintf(p, sizeof p, "%s%s", root, rel);
    if (dir) {
        assert_int_equal(mkdir(p, 0755), 0);
    } else {
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fclose(f);
    }
}

static int setup_tree(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/noa_glob_XXXXXX");
    assert_non_null(mkdtemp(root));
    mk("/pods", 1);
    mk("/pods/ns_a_1", 1);
    mk("/pods/ns_a_1/c1", 1);
    mk("/pods/ns_a_1/c1/0.log", 0);
    mk("/pods/ns_a_1/c1/0.log.20240101-000000", 0);
    mk("/pods/ns_a_1/c1/0.log.20231231-000000.gz", 0);
    mk("/pods/ns_b_2", 1);
    mk("/pods/ns_b_2/c2", 1);
    mk("/pods/ns_b_2/c2/1.log", 0);
    mk("/other", 1);
    mk("/other/deep", 1);
    mk("/other/deep/x.log", 0);
    mk("/other/y.log", 0);
    mk("/other/dir.log", 1);
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/pods/ns_b_2/c2/1.log", root);
    snprintf(b, sizeof b, "%s/other/link.log", root);
    assert_int_equal(symlink(a, b), 0);
    /* a link loop that "**" must not follow */
    snprintf(a, sizeof a, "%s/other", root);
    snprintf(b, sizeof b, "%s/other/deep/loop", root);
    assert_int_equal(symlink(a, b), 0);
    return 0;
}

static int teardown_tree(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void expand(const char *relpat, struct got *g)
{
    char pat[1024];
    snprintf(pat, sizeof pat, "%s%s", root, relpat);
    struct noa_glob *gl;
    assert_int_equal(noa_glob_new(pat, &gl, NULL), 0);
    memset(g, 0, sizeof(*g));
    struct noa_glob_walk w = {.on_file = on_file, .on_dir = on_dir, .ud = g};
    assert_int_equal(noa_glob_expand(gl, &w), 0);
    /* every file reported matches the pattern */
    for (int i = 0; i < g->n_files; i++) {
        char full[1024];
        snprintf(full, sizeof full, "%s%s", root, g->files[i]);
        assert_true(noa_glob_match(gl, full, strlen(full)));
    }
    noa_glob_free(gl);
    qsort(g->files, (size_t)g->n_files, 512, cmpstr);
    qsort(g->dirs, (size_t)g->n_dirs, 512, cmpstr);
}

static void test_expand_pods(void **state)
{
    (void)state;
    struct got g;
    expand("/pods/*/*/*.log", &g);
    assert_int_equal(g.n_files, 2);
    assert_string_equal(g.files[0], "/pods/ns_a_1/c1/0.log");
    assert_string_equal(g.files[1], "/pods/ns_b_2/c2/1.log");
    /* listed: /pods, each pod dir, each container dir; never / or root */
    assert_int_equal(g.n_dirs, 5);
    assert_string_equal(g.dirs[0], "/pods");
    assert_string_equal(g.dirs[4], "/pods/ns_b_2/c2");
}

static void test_expand_doublestar(void **state)
{
    (void)state;
    struct got g;
    expand("/other/**/*.log", &g);
    /* dir.log is a directory; link.log is a link to a file (reported); the
     * loop link is not followed */
    assert_int_equal(g.n_files, 3);
    assert_string_equal(g.files[0], "/other/deep/x.log");
    assert_string_equal(g.files[1], "/other/link.log");
    assert_string_equal(g.files[2], "/other/y.log");
    expand("/**/*.log", &g);
    assert_int_equal(g.n_files, 5);
    expand("/other/**", &g);
    assert_int_equal(g.n_files, 3); /* x.log, y.log, link.log; the loop link names a directory */
}

static void test_expand_braces_dedupe(void **state)
{
    (void)state;
    struct got g;
    expand("/other/{y,*}.log", &g);
    assert_int_equal(g.n_files, 2); /* y.log once, link.log */
    assert_string_equal(g.files[0], "/other/link.log");
    assert_string_equal(g.files[1], "/other/y.log");
    expand("/other/y.log", &g);
    assert_int_equal(g.n_files, 1);
    assert_int_equal(g.n_dirs, 0); /* a literal path lists nothing */
    expand("/missing/*/x.log", &g);
    assert_int_equal(g.n_files, 0);
    expand("/other/dir.log", &g);
    assert_int_equal(g.n_files, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_table),
        cmocka_unit_test(test_errors),
        cmocka_unit_test_setup_teardown(test_expand_pods, setup_tree, teardown_tree),
        cmocka_unit_test_setup_teardown(test_expand_doublestar, setup_tree, teardown_tree),
        cmocka_unit_test_setup_teardown(test_expand_braces_dedupe, setup_tree, teardown_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
