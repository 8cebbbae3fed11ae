/*
 * Unit tests for shipper/fileid.c: identities of real files in a mkdtemp
 * directory through renames, rotations, copies, copytruncate, inode reuse
 * and growth. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "shipper/fileid.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fx {
    char dir[64];
    char a[128];  /* dir/a.log */
    char a1[128]; /* dir/a.log.1 */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/noa-fileid-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->a, sizeof(f->a), "%s/a.log", f->dir);
    snprintf(f->a1, sizeof(f->a1), "%s/a.log.1", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    unlink(f->a);
    unlink(f->a1);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Writes n bytes of a pattern seeded by `seed` (append or truncate). */
static void put(const char *path, size_t n, int seed, int append)
{
    int fd = open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0644);
    assert_true(fd >= 0);
    for (size_t i = 0; i < n; i++) {
        char c = (char)('a' + (int)((i * 7 + (size_t)seed) % 26));
        if (i % 40 == 39)
            c = '\n';
        assert_int_equal(write(fd, &c, 1), 1);
    }
    close(fd);
}

static enum noa_fileid_verdict judge(const struct noa_fileid *saved, uint64_t off, const char *path,
                                     struct noa_fileid *now)
{
    enum noa_fileid_verdict v = 99;
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(noa_fileid_compare(saved, off, fd, now, NULL, &v), 0);
    close(fd);
    return v;
}

static void test_basic(void **state)
{
    struct fx *f = *state;
    struct noa_fileid x, y;
    uint64_t size = 0;
    put(f->a, 300, 1, 0);
    assert_int_equal(noa_fileid_from_path(f->a, &x, &size), 0);
    assert_true(size == 300);
    assert_int_equal(x.fp_len, 300);
    struct stat st;
    assert_int_equal(stat(f->a, &st), 0);
    assert_true(x.ino == (uint64_t)st.st_ino && x.dev == (uint64_t)st.st_dev);
    /* Same bytes in another inode: same fingerprint, another inode. */
    put(f->a1, 300, 1, 0);
    assert_int_equal(noa_fileid_from_path(f->a1, &y, NULL), 0);
    assert_true(x.fp == y.fp && x.fp_len == y.fp_len);
    assert_false(noa_fileid_same_inode(&x, &y));
    assert_false(noa_fileid_equal(&x, &y));
    /* Other bytes: another fingerprint. */
    put(f->a1, 300, 2, 0);
    assert_int_equal(noa_fileid_from_path(f->a1, &y, NULL), 0);
    assert_true(x.fp != y.fp);
    /* The head is capped. */
    put(f->a, 5000, 1, 0);
    assert_int_equal(noa_fileid_from_path(f->a, &x, &size), 0);
    assert_int_equal(x.fp_len, NOA_FILEID_FP_MAX);
    assert_true(size == 5000);
    /* Errors. */
    assert_int_equal(noa_fileid_from_path(f->dir, &x, NULL), NOA_EINVAL);
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/nope", f->dir);
    assert_true(noa_fileid_from_path(missing, &x, NULL) < 0);
}

static void test_rename_keeps_identity(void **state)
{
    struct fx *f = *state;
    struct noa_fileid saved, now;
    put(f->a, 400, 3, 0);
    assert_int_equal(noa_fileid_from_path(f->a, &saved, NULL), 0);
    assert_int_equal(judge(&saved, 400, f->a, &now), NOA_FILEID_SAME);
    assert_true(noa_fileid_equal(&saved, &now));
    assert_int_equal(judge(&saved, 100, f->a, NULL), NOA_FILEID_GROWN);
    /* Rotation by rename: the old file under its new name is the same file. */
    assert_int_equal(rename(f->a, f->a1), 0);
    assert_int_equal(judge(&saved, 400, f->a1, NULL), NOA_FILEID_SAME);
    put(f->a1, 40, 9, 1);
    assert_int_equal(judge(&saved, 400, f->a1, NULL), NOA_FILEID_GROWN);
    /* ... and the file created in its place is another one. */
    put(f->a, 400, 4, 0);
    assert_int_equal(judge(&saved, 400, f->a, NULL), NOA_FILEID_DIFFERENT);
    /* A new short file is different too, even below the copy threshold. */
    put(f->a, 10, 3, 0);
    assert_int_equal(judge(&saved, 400, f->a, NULL), NOA_FILEID_DIFFERENT);
}

static void test_copytruncate(void **state)
{
    struct fx *f = *state;
    struct noa_fileid saved;
    put(f->a, 500, 5, 0);
    assert_int_equal(noa_fileid_from_path(f->a, &saved, NULL), 0);
    /* logrotate copytruncate: copy to a.log.1, truncate a.log in place. */
    put(f->a1, 500, 5, 0);
    assert_int_equal(truncate(f->a, 0), 0);
    assert_int_equal(judge(&saved, 500, f->a, NULL), NOA_FILEID_TRUNCATED);
    /* The writer goes on: still shorter than what was read, still truncated. */
    put(f->a, 80, 6, 1);
    assert_int_equal(judge(&saved, 500, f->a, NULL), NOA_FILEID_TRUNCATED);
    /* The copy holds what was already shipped. */
    assert_int_equal(judge(&saved, 500, f->a1, NULL), NOA_FILEID_COPY);
    /* Truncated and regrown past the offset before we looked: the head shows it. */
    put(f->a, 600, 0, 1);
    assert_int_equal(judge(&saved, 500, f->a, NULL), NOA_FILEID_DIFFERENT);
    /* Truncated below the saved head while the offset was small. */
    put(f->a, 500, 5, 0);
    assert_int_equal(noa_fileid_from_path(f->a, &saved, NULL), 0);
    assert_int_equal(truncate(f->a, 200), 0);
    assert_int_equal(judge(&saved, 100, f->a, NULL), NOA_FILEID_TRUNCATED);
}

static void test_short_copy_is_different(void **state)
{
    struct fx *f = *state;
    struct noa_fileid saved;
    put(f->a, NOA_FILEID_COPY_MIN - 1, 7, 0);
    put(f->a1, NOA_FILEID_COPY_MIN - 1, 7, 0);
    assert_int_equal(noa_fileid_from_path(f->a, &saved, NULL), 0);
    assert_int_equal(judge(&saved, 10, f->a1, NULL), NOA_FILEID_DIFFERENT);
    /* An empty file proves nothing either. */
    put(f->a, 0, 0, 0);
    put(f->a1, 0, 0, 0);
    assert_int_equal(noa_fileid_from_path(f->a, &saved, NULL), 0);
    assert_int_equal(saved.fp_len, 0);
    assert_int_equal(judge(&saved, 0, f->a1, NULL), NOA_FILEID_DIFFERENT);
    assert_int_equal(judge(&saved, 0, f->a, NULL), NOA_FILEID_SAME);
}

static void test_inode_reuse(void **state)
{
    struct fx *f = *state;
    struct noa_fileid old, cur;
    /* The saved identity of a deleted file whose inode the new file got:
     * built from the new file's inode and the old file's head, so the case
     * does not depend on the filesystem reusing inodes. */
    put(f->a1, 300, 11, 0);
    assert_int_equal(noa_fileid_from_path(f->a1, &old, NULL), 0);
    put(f->a, 300, 12, 0);
    assert_int_equal(noa_fileid_from_path(f->a, &cur, NULL), 0);
    old.dev = cur.dev;
    old.ino = cur.ino;
    assert_int_equal(judge(&old, 300, f->a, NULL), NOA_FILEID_DIFFERENT);
    assert_int_equal(judge(&old, 200, f->a, NULL), NOA_FILEID_DIFFERENT);
    assert_int_equal(judge(&old, 301, f->a, NULL), NOA_FILEID_TRUNCATED);
    /* And for real: delete, create; whatever inode comes, never "same". */
    put(f->a, 300, 13, 0);
    assert_int_equal(noa_fileid_from_path(f->a, &old, NULL), 0);
    assert_int_equal(unlink(f->a), 0);
    put(f->a, 300, 14, 0);
    enum noa_fileid_verdict v = judge(&old, 300, f->a, NULL);
    assert_true(v == NOA_FILEID_DIFFERENT);
}

static void test_growing_short_file(void **state)
{
    struct fx *f = *state;
    struct noa_fileid saved, now, later;
    uint64_t size = 0;
    put(f->a, 10, 15, 0);
    assert_int_equal(noa_fileid_from_path(f->a, &saved, NULL), 0);
    assert_int_equal(saved.fp_len, 10);
    put(f->a, 2000, 16, 1);
    int fd = open(f->a, O_RDONLY);
    enum noa_fileid_verdict v;
    assert_int_equal(noa_fileid_compare(&saved, 10, fd, &now, &size, &v), 0);
    close(fd);
    assert_int_equal(v, NOA_FILEID_GROWN);
    assert_true(size == 2010);
    assert_int_equal(now.fp_len, NOA_FILEID_FP_MAX); /* the fingerprint grew */
    assert_true(noa_fileid_same_inode(&saved, &now));
    assert_int_equal(judge(&now, 2010, f->a, &later), NOA_FILEID_SAME);
    assert_true(noa_fileid_equal(&now, &later));
    /* A short file rewritten in place at the same length is not the same. */
    put(f->a, 10, 15, 0);
    assert_int_equal(noa_fileid_from_path(f->a, &saved, NULL), 0);
    fd = open(f->a, O_WRONLY);
    assert_int_equal(pwrite(fd, "X", 1, 0), 1);
    close(fd);
    assert_int_equal(judge(&saved, 10, f->a, NULL), NOA_FILEID_DIFFERENT);
    assert_int_equal(truncate(f->a, 5), 0);
    assert_int_equal(judge(&saved, 3, f->a, NULL), NOA_FILEID_TRUNCATED);
}

static void test_text(void **state)
{
    (void)state;
    struct noa_fileid a = {.dev = 2049, .ino = 18446744073709551615ull, .fp = 0x0123456789abcdefull,
                           .fp_len = 1024};
    struct noa_fileid b;
    char t[NOA_FILEID_TEXT_MAX];
    size_t n = noa_fileid_format(&a, t, sizeof(t));
    assert_string_equal(t, "2049:18446744073709551615:1024:0123456789abcdef");
    assert_int_equal(n, strlen(t));
    assert_int_equal(noa_fileid_parse(t, n, &b), 0);
    assert_true(noa_fileid_equal(&a, &b));
    const char *bad[] = {"", "1:2:3", "1:2:3:0123", "1:2:1025:0123456789abcdef",
                         "1::3:0123456789abcdef", "x:2:3:0123456789abcdef",
                         "1:2:3:0123456789abcdeg", "18446744073709551616:2:3:0123456789abcdef",
                         "1:2:3:0123456789abcdef0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(noa_fileid_parse(bad[i], strlen(bad[i]), &b), NOA_EINVAL);
    assert_string_equal(noa_fileid_verdict_name(NOA_FILEID_SAME), "same");
    assert_string_equal(noa_fileid_verdict_name(NOA_FILEID_COPY), "copy");
    assert_string_equal(noa_fileid_verdict_name(NOA_FILEID_TRUNCATED), "truncated");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_keeps_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copytruncate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_copy_is_different, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inode_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_growing_short_file, setup, teardown),
        cmocka_unit_test(test_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
