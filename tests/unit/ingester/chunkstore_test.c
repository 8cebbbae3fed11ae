/*
 * Unit tests for ingester/chunkstore and its directory backend: key
 * validation, put/get/get_range/delete/list semantics, atomic replacement
 * (no temporary files left behind), empty-directory cleanup, and several
 * threads putting, reading and deleting at once. Each test uses its own
 * temporary root.
 */
#include "ingester/chunkstore.h"

#include "common/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

struct fixture {
    char root[128];
    struct noa_chunkstore *cs;
};

static int rm_rf_at(int dfd, const char *name)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return 0;
    if (S_ISDIR(st.st_mode)) {
        int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY);
        DIR *d = fdopendir(sub);
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                rm_rf_at(dirfd(d), e->d_name);
        closedir(d);
        return unlinkat(dfd, name, AT_REMOVEDIR);
    }
    return unlinkat(dfd, name, 0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/noa-chunkstore-test-XXXXXX");
    if (!mkdtemp(f->root))
        return -1;
    /* a root that does not exist yet: the store creates it */
    strcat(f->root, "/store/a");
    struct noa_error err = {0};
    if (noa_chunkstore_dir_new(f->root, &f->cs, &err) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    noa_chunkstore_free(f->cs);
    *strstr(f->root, "/store/a") = 0;
    rm_rf_at(AT_FDCWD, f->root);
    free(f);
    return 0;
}

/* Counts entries under dir (recursively) whose name contains needle. */
static int count_names(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (strstr(e->d_name, needle))
            n++;
        if (e->d_type == DT_DIR) {
            char sub[1024];
            snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
            n += count_names(sub, needle);
        }
    }
    closedir(d);
    return n;
}

static void test_key_valid(void **state)
{
    (void)state;
    const char *good[] = {"a",         "fake/00000000000000ab/18bcfe5687b:18bcfe56be8:00c0ffee",
                          "t/.hidden", "a/b/c/d",
                          "t/..x",     "tenant-1/x y"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!noa_chunkstore_key_valid(good[i]))
            fail_msg("rejected %s", good[i]);
    char long_key[NOA_CHUNKSTORE_KEY_MAX + 2];
    memset(long_key, 'a', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = 0;
    const char *bad[] = {"",     "/a",     "a/",    "a//b",          "..",
                         ".",    "a/../b", "a/./b", "../etc/passwd", "a/.noatmp.1.2",
                         "a\nb", "a\\b",   "a\x7f", long_key};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (noa_chunkstore_key_valid(bad[i]))
            fail_msg("accepted %s", bad[i]);
    assert_false(noa_chunkstore_key_valid(NULL));
}

static void test_put_get(void **state)
{
    struct fixture *f = *state;
    struct noa_buf b = {0};
    assert_int_equal(noa_chunkstore_put(f->cs, "t1/fp1/c1", "hello", 5), 0);
    assert_int_equal(noa_chunkstore_get(f->cs, "t1/fp1/c1", &b), 0);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "hello", 5);

    /* replacement is whole: a shorter object leaves nothing of the longer one */
    assert_int_equal(noa_chunkstore_put(f->cs, "t1/fp1/c1", "bye", 3), 0);
    assert_int_equal(noa_chunkstore_get(f->cs, "t1/fp1/c1", &b), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "bye", 3);

    /* an empty object and a top-level key */
    assert_int_equal(noa_chunkstore_put(f->cs, "top", NULL, 0), 0);
    assert_int_equal(noa_chunkstore_get(f->cs, "top", &b), 0);
    assert_int_equal(b.len, 0);

    assert_int_equal(noa_chunkstore_get(f->cs, "t1/fp1/missing", &b), NOA_ENOTFOUND);
    assert_int_equal(noa_chunkstore_get(f->cs, "t9/none", &b), NOA_ENOTFOUND);
    assert_int_equal(noa_chunkstore_get(f->cs, "t1/fp1", &b), NOA_ENOTFOUND); /* a directory */
    assert_int_equal(noa_chunkstore_get(f->cs, "top/below", &b), NOA_ENOTFOUND);
    assert_int_equal(noa_chunkstore_get(f->cs, "../x", &b), NOA_EINVAL);
    assert_int_equal(noa_chunkstore_put(f->cs, "/abs", "x", 1), NOA_EINVAL);
    assert_int_equal(noa_chunkstore_put(f->cs, "a/../../escape", "x", 1), NOA_EINVAL);

    /* a path through an existing object cannot be created */
    assert_true(noa_chunkstore_put(f->cs, "top/below", "x", 1) < 0);
    assert_int_equal(count_names(f->root, ".noatmp"), 0);

    /* the file really is where the key says */
    char path[512];
    struct stat st;
    snprintf(path, sizeof(path), "%s/t1/fp1/c1", f->root);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 3);
    noa_buf_fini(&b);
}

static void test_get_large(void **state)
{
    struct fixture *f = *state;
    struct noa_buf b = {0};
    size_t n = 3u << 20;
    char *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)(i * 131 + (i >> 9));
    assert_int_equal(noa_chunkstore_put(f->cs, "big/obj", data, n), 0);
    assert_int_equal(noa_chunkstore_get(f->cs, "big/obj", &b), 0);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, data, n);
    free(data);
    noa_buf_fini(&b);
}

static void test_get_range(void **state)
{
    struct fixture *f = *state;
    struct noa_buf b = {0};
    assert_int_equal(noa_chunkstore_put(f->cs, "r/obj", "0123456789", 10), 0);
    assert_int_equal(noa_chunkstore_get_range(f->cs, "r/obj", 2, 3, &b), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "234", 3);
    assert_int_equal(noa_chunkstore_get_range(f->cs, "r/obj", 7, 100, &b), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "789", 3);
    assert_int_equal(noa_chunkstore_get_range(f->cs, "r/obj", 0, 0, &b), 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(noa_chunkstore_get_range(f->cs, "r/obj", 10, 1, &b), NOA_EINVAL);
    assert_int_equal(noa_chunkstore_get_range(f->cs, "r/none", 0, 1, &b), NOA_ENOTFOUND);
    assert_int_equal(noa_chunkstore_get_range(f->cs, "r/obj", 0, NOA_CHUNKSTORE_MAX_GET + 1u, &b),
                     NOA_ETOOBIG);
    noa_buf_fini(&b);
}

static void test_delete(void **state)
{
    struct fixture *f = *state;
    struct noa_buf b = {0};
    char path[512];
    struct stat st;
    assert_int_equal(noa_chunkstore_put(f->cs, "t/s1/a", "1", 1), 0);
    assert_int_equal(noa_chunkstore_put(f->cs, "t/s1/b", "2", 1), 0);
    assert_int_equal(noa_chunkstore_put(f->cs, "t/s2/a", "3", 1), 0);

    assert_int_equal(noa_chunkstore_delete(f->cs, "t/s1/a"), 0);
    assert_int_equal(noa_chunkstore_get(f->cs, "t/s1/a", &b), NOA_ENOTFOUND);
    assert_int_equal(noa_chunkstore_delete(f->cs, "t/s1/a"), NOA_ENOTFOUND);
    assert_int_equal(noa_chunkstore_delete(f->cs, "t/s1"), NOA_ENOTFOUND); /* a directory */
    assert_int_equal(noa_chunkstore_get(f->cs, "t/s1/b", &b), 0);

    /* the last object of a stream takes its directory with it, not the tenant's */
    assert_int_equal(noa_chunkstore_delete(f->cs, "t/s1/b"), 0);
    snprintf(path, sizeof(path), "%s/t/s1", f->root);
    assert_int_equal(stat(path, &st), -1);
    snprintf(path, sizeof(path), "%s/t", f->root);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(noa_chunkstore_delete(f->cs, "t/s2/a"), 0);
    assert_int_equal(stat(path, &st), -1);
    /* but never the root */
    assert_int_equal(stat(f->root, &st), 0);
    /* and a put after all that recreates what it needs */
    assert_int_equal(noa_chunkstore_put(f->cs, "t/s1/a", "4", 1), 0);
    assert_int_equal(noa_chunkstore_get(f->cs, "t/s1/a", &b), 0);
    noa_buf_fini(&b);
}

struct seen {
    char keys[64][128];
    uint64_t sizes[64];
    int n;
    int stop_after;
    struct noa_chunkstore *cs; /* when set, delete every object seen */
};

static int collect_cb(const char *key, uint64_t size, void *ctx)
{
    struct seen *s = ctx;
    assert_true(s->n < 64);
    snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key);
    s->sizes[s->n] = size;
    s->n++;
    if (s->cs)
        assert_int_equal(noa_chunkstore_delete(s->cs, key), 0);
    return s->stop_after && s->n == s->stop_after ? 42 : 0;
}

static int has_key(const struct seen *s, const char *key)
{
    int hits = 0;
    for (int i = 0; i < s->n; i++)
        hits += strcmp(s->keys[i], key) == 0;
    return hits;
}

static void test_list(void **state)
{
    struct fixture *f = *state;
    const char *keys[] = {"t1/aa/c1", "t1/aa/c2", "t1/ab/c1", "t1/b/c1", "t2/aa/c1", "t10/x/y"};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(noa_chunkstore_put(f->cs, keys[i], keys[i], strlen(keys[i])), 0);

    struct seen s = {0};
    assert_int_equal(noa_chunkstore_list(f->cs, "", collect_cb, &s), 0);
    assert_int_equal(s.n, 6);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(has_key(&s, keys[i]), 1);
    for (int i = 0; i < s.n; i++)
        assert_int_equal(s.sizes[i], strlen(s.keys[i]));

    memset(&s, 0, sizeof(s));
    assert_int_equal(noa_chunkstore_list(f->cs, "t1/", collect_cb, &s), 0);
    assert_int_equal(s.n, 4);
    memset(&s, 0, sizeof(s));
    assert_int_equal(noa_chunkstore_list(f->cs, "t1", collect_cb, &s), 0);
    assert_int_equal(s.n, 5); /* t1/... and t10/... */
    memset(&s, 0, sizeof(s));
    assert_int_equal(noa_chunkstore_list(f->cs, "t1/a", collect_cb, &s), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(has_key(&s, "t1/ab/c1"), 1);
    memset(&s, 0, sizeof(s));
    assert_int_equal(noa_chunkstore_list(f->cs, "t1/aa/c", collect_cb, &s), 0);
    assert_int_equal(s.n, 2);
    memset(&s, 0, sizeof(s));
    assert_int_equal(noa_chunkstore_list(f->cs, "t1/aa/c1", collect_cb, &s), 0);
    assert_int_equal(s.n, 1);
    memset(&s, 0, sizeof(s));
    assert_int_equal(noa_chunkstore_list(f->cs, "nope/", collect_cb, &s), 0);
    assert_int_equal(noa_chunkstore_list(f->cs, "t1/aa/c1/", collect_cb, &s), 0);
    assert_int_equal(noa_chunkstore_list(f->cs, "/t1", collect_cb, &s), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(noa_chunkstore_list(f->cs, "../", collect_cb, &s), NOA_EINVAL);
    assert_int_equal(noa_chunkstore_list(f->cs, "a\n", collect_cb, &s), NOA_EINVAL);

    /* the callback's nonzero return stops the walk and is returned */
    s.stop_after = 2;
    assert_int_equal(noa_chunkstore_list(f->cs, "", collect_cb, &s), 42);
    assert_int_equal(s.n, 2);

    /* deleting from inside the callback (what retention does) */
    memset(&s, 0, sizeof(s));
    s.cs = f->cs;
    assert_int_equal(noa_chunkstore_list(f->cs, "t1/", collect_cb, &s), 0);
    assert_int_equal(s.n, 4);
    memset(&s, 0, sizeof(s));
    assert_int_equal(noa_chunkstore_list(f->cs, "", collect_cb, &s), 0);
    assert_int_equal(s.n, 2);
}

static void test_temp_files_hidden(void **state)
{
    struct fixture *f = *state;
    char path[512];
    /* a temporary file left by a crash is neither listed nor addressable */
    assert_int_equal(noa_chunkstore_put(f->cs, "t/s/c", "x", 1), 0);
    snprintf(path, sizeof(path), "%s/t/s/.noatmp.1.1", f->root);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("partial", fp);
    fclose(fp);
    struct seen s = {0};
    assert_int_equal(noa_chunkstore_list(f->cs, "", collect_cb, &s), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.keys[0], "t/s/c");
    struct noa_buf b = {0};
    assert_int_equal(noa_chunkstore_get(f->cs, "t/s/.noatmp.1.1", &b), NOA_EINVAL);
    noa_buf_fini(&b);
}

static void test_new_errors(void **state)
{
    struct fixture *f = *state;
    struct noa_chunkstore *cs = (struct noa_chunkstore *)1;
    struct noa_error err = {0};
    char path[512];
    assert_int_equal(noa_chunkstore_dir_new("", &cs, &err), NOA_EINVAL);
    assert_null(cs);
    /* a file where the root should be */
    assert_int_equal(noa_chunkstore_put(f->cs, "file", "x", 1), 0);
    snprintf(path, sizeof(path), "%s/file/sub", f->root);
    assert_true(noa_chunkstore_dir_new(path, &cs, &err) < 0);
    assert_null(cs);
    assert_non_null(strstr(err.msg, "file/sub"));
    noa_chunkstore_free(NULL);
}

/* ---- concurrency ----------------------------------------------------------- */

struct worker {
    struct noa_chunkstore *cs;
    int id;
    int failures;
};

#define ROUNDS 200

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct noa_buf b = {0};
    char key[64], val[64];
    for (int i = 0; i < ROUNDS; i++) {
        /* own keys: put, read back, delete half of them */
        snprintf(key, sizeof(key), "t/w%d/k%d", w->id, i);
        int n = snprintf(val, sizeof(val), "worker %d value %d", w->id, i);
        if (noa_chunkstore_put(w->cs, key, val, (size_t)n) != 0)
            w->failures++;
        if (noa_chunkstore_get(w->cs, key, &b) != 0 || b.len != (size_t)n ||
            memcmp(b.data, val, (size_t)n) != 0)
            w->failures++;
        if (i % 2 && noa_chunkstore_delete(w->cs, key) != 0)
            w->failures++;
        /* a shared key everyone overwrites with same-length content: a reader
         * must always see one whole version */
        n = snprintf(val, sizeof(val), "shared-%02d-%04d", w->id, i);
        if (noa_chunkstore_put(w->cs, "t/shared/obj", val, (size_t)n) != 0)
            w->failures++;
        if (noa_chunkstore_get(w->cs, "t/shared/obj", &b) != 0 || b.len != (size_t)n ||
            memcmp(b.data, "shared-", 7) != 0)
            w->failures++;
        /* a directory that is emptied and refilled while others write into it */
        snprintf(key, sizeof(key), "churn/d/k%d", w->id);
        if (noa_chunkstore_put(w->cs, key, "c", 1) != 0)
            w->failures++;
        int rc = noa_chunkstore_delete(w->cs, key);
        if (rc != 0)
            w->failures++;
    }
    noa_buf_fini(&b);
    return NULL;
}

static int count_cb(const char *key, uint64_t size, void *ctx)
{
    (void)key;
    (void)size;
    (*(int *)ctx)++;
    return 0;
}

static void test_concurrent(void **state)
{
    struct fixture *f = *state;
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){f->cs, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    int n = 0;
    assert_int_equal(noa_chunkstore_list(f->cs, "t/w0/", count_cb, &n), 0);
    assert_int_equal(n, ROUNDS / 2);
    n = 0;
    assert_int_equal(noa_chunkstore_list(f->cs, "churn", count_cb, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(count_names(f->root, ".noatmp"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_valid),
        cmocka_unit_test_setup_teardown(test_put_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_temp_files_hidden, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
