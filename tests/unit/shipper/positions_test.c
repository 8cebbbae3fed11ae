/*
 * Unit tests for shipper/positions.c: round trips through real files in a
 * mkdtemp directory, Promtail's format, corrupt and torn files with
 * ignore_invalid_yaml off and on, atomic saves that fail midway, the
 * periodic tick and read-only mode. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/yaml.h"
#include "shipper/positions.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fx {
    char dir[64];
    char file[160]; /* dir/sub/positions.yaml */
    char tmp[170];
    char bak[170];
    struct noa_positions_config cfg;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/noa-positions-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->file, sizeof(f->file), "%s/sub/positions.yaml", f->dir);
    snprintf(f->tmp, sizeof(f->tmp), "%s.tmp", f->file);
    snprintf(f->bak, sizeof(f->bak), "%s.bak", f->file);
    noa_positions_config_defaults(&f->cfg);
    f->cfg.filename = f->file;
    noa_log_set_level(NOA_LOG_ERROR); /* skipped-entry warnings are expected */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void write_text(const char *path, const char *s, size_t n)
{
    char dir[200];
    snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = '\0';
    mkdir(dir, 0750);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(s, 1, n, fp), n);
    fclose(fp);
}

static char *read_text(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *b = malloc(1 << 20);
    *n = fread(b, 1, (1 << 20) - 1, fp);
    b[*n] = 0;
    fclose(fp);
    return b;
}

static const char *const weird = "/var/log/we ird \"q\" \\ :#{}[]\t\x01\xc2\x85\xe2\x80\xa8 \xc3\xa9.log";

static void test_round_trip(void **state)
{
    struct fx *f = *state;
    struct noa_positions *p = NULL;
    struct noa_error err = {0};
    struct noa_fileid id = {.dev = 64769, .ino = 1234567, .fp = 0xfeedfacecafebeefull, .fp_len = 1024};
    struct noa_fileid got;
    uint64_t off = 0;
    int has = -1;

    assert_int_equal(noa_positions_open(&f->cfg, &p, &err), 0);
    assert_int_equal(noa_positions_count(p), 0);
    assert_int_equal(noa_positions_set(p, "/var/log/a.log", 123, &id), 0);
    assert_int_equal(noa_positions_set(p, "/var/log/b.log", 18446744073709551615ull >> 1, NULL), 0);
    assert_int_equal(noa_positions_set(p, weird, 7, &id), 0);
    assert_int_equal(noa_positions_set_cursor(p, "cursor-journal", "s=abc;i=1f;b=x"), 0);
    assert_int_equal(noa_positions_save(p, 0, &err), 0);
    noa_positions_free(p);

    struct stat st;
    assert_int_equal(stat(f->file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(access(f->tmp, F_OK), -1);

    p = NULL;
    assert_int_equal(noa_positions_open(&f->cfg, &p, &err), 0);
    assert_int_equal(noa_positions_count(p), 4);
    assert_int_equal(noa_positions_get(p, "/var/log/a.log", &off, &got, &has), 0);
    assert_true(off == 123 && has == 1 && noa_fileid_equal(&got, &id));
    assert_int_equal(noa_positions_get(p, "/var/log/b.log", &off, &got, &has), 0);
    assert_true(off == (18446744073709551615ull >> 1) && has == 0);
    assert_int_equal(noa_positions_get(p, weird, &off, &got, &has), 0);
    assert_true(off == 7 && has == 1 && noa_fileid_equal(&got, &id));
    char *cur = NULL;
    assert_int_equal(noa_positions_get_cursor(p, "cursor-journal", &cur), 0);
    assert_string_equal(cur, "s=abc;i=1f;b=x");
    noa_free(cur);
    assert_int_equal(noa_positions_get(p, "cursor-journal", &off, NULL, NULL), NOA_ENOTFOUND);
    assert_int_equal(noa_positions_get_cursor(p, "/var/log/a.log", &cur), NOA_ENOTFOUND);
    assert_int_equal(noa_positions_get(p, "/nope", &off, NULL, NULL), NOA_ENOTFOUND);

    /* Saving what was loaded writes the same bytes. */
    size_t n1 = 0, n2 = 0;
    char *t1 = read_text(f->file, &n1);
    assert_int_equal(noa_positions_save(p, 1, &err), 0);
    char *t2 = read_text(f->file, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(t1, t2, n1);
    free(t1);
    free(t2);
    noa_positions_free(p);
}

/* What Promtail's strict reader needs: one top-level key `positions`, a map
 * of string to string. */
static void check_promtail_readable(const char *text, size_t n)
{
    struct noa_yaml_doc *doc = NULL;
    struct noa_error err = {0};
    assert_int_equal(noa_yaml_parse(text, n, "w", NULL, &doc, &err), 0);
    assert_int_equal(doc->root->kind, NOA_YAML_MAP);
    assert_int_equal(doc->root->n, 1);
    assert_string_equal(doc->root->pairs[0].key->str, "positions");
    const struct noa_yaml_node *m = doc->root->pairs[0].value;
    assert_int_equal(m->kind, NOA_YAML_MAP);
    for (size_t i = 0; i < m->n; i++) {
        assert_int_equal(m->pairs[i].value->kind, NOA_YAML_SCALAR);
        assert_string_equal(noa_yaml_type_name(m->pairs[i].value), "!!str");
    }
    noa_yaml_free(doc);
}

static void test_promtail_format(void **state)
{
    struct fx *f = *state;
    struct noa_positions *p = NULL;
    struct noa_error err = {0};
    const char *text = "positions:\n"
                       "  /var/log/pods/ns_pod_uid/c/0.log: \"123456\"\n"
                       "  /var/log/syslog: 42\n"
                       "  cursor-journal: \"s=739ad463348b4ceca5a9e69c95a3c93f;i=4ece7\"\n"
                       "  journal-old: legacy\n";
    write_text(f->file, text, strlen(text));
    assert_int_equal(noa_positions_open(&f->cfg, &p, &err), 0);
    assert_int_equal(noa_positions_count(p), 4);
    uint64_t off = 0;
    int has = -1;
    assert_int_equal(noa_positions_get(p, "/var/log/pods/ns_pod_uid/c/0.log", &off, NULL, &has), 0);
    assert_true(off == 123456 && has == 0);
    assert_int_equal(noa_positions_get(p, "/var/log/syslog", &off, NULL, &has), 0);
    assert_true(off == 42);
    char *cur = NULL;
    assert_int_equal(noa_positions_get_cursor(p, "journal-old", &cur), 0);
    assert_string_equal(cur, "legacy");
    noa_free(cur);

    /* noa's file keeps Promtail's lines as Promtail reads them. */
    struct noa_fileid id = {.dev = 1, .ino = 2, .fp = 3, .fp_len = 4};
    assert_int_equal(noa_positions_set(p, "/var/log/syslog", 50, &id), 0);
    assert_int_equal(noa_positions_save(p, 0, &err), 0);
    size_t n = 0;
    char *t = read_text(f->file, &n);
    assert_non_null(strstr(t, "\n  \"/var/log/pods/ns_pod_uid/c/0.log\": \"123456\"\n"));
    assert_non_null(strstr(t, "\n  \"/var/log/syslog\": \"50\"\n"));
    assert_non_null(strstr(t, "\n  \"noa-fileid:/var/log/syslog\": \"1:2:4:0000000000000003\"\n"));
    assert_non_null(strstr(t, "\n  \"cursor-journal\": \"s=739ad463348b4ceca5a9e69c95a3c93f;i=4ece7\"\n"));
    assert_int_equal(strncmp(t, "# noa positions v1\npositions:\n", 30), 0);
    check_promtail_readable(t, n);
    free(t);
    noa_positions_free(p);
}

static void test_empty_forms(void **state)
{
    struct fx *f = *state;
    const char *forms[] = {"", "\n", "# just a comment\n", "positions: {}\n", "positions:\n",
                           "positions: ~\n", "---\npositions: {}\n"};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct noa_positions *p = NULL;
        struct noa_error err = {0};
        write_text(f->file, forms[i], strlen(forms[i]));
        assert_int_equal(noa_positions_open(&f->cfg, &p, &err), 0);
        assert_int_equal(noa_positions_count(p), 0);
        noa_positions_free(p);
    }
    /* An empty map saves to a valid file Promtail reads. */
    struct noa_positions *p = noa_positions_new_empty();
    struct noa_buf b = {0};
    noa_positions_serialize(p, &b);
    check_promtail_readable(b.data, b.len);
    noa_buf_fini(&b);
    noa_positions_free(p);
}

/* Opens a corrupt file both ways; returns the error message of the strict open. */
static void expect_corrupt(struct fx *f, const char *text, size_t n, const char *want_in_msg)
{
    struct noa_positions *p = NULL;
    struct noa_error err = {0};
    write_text(f->file, text, n);
    unlink(f->bak);
    f->cfg.ignore_invalid_yaml = 0;
    assert_int_equal(noa_positions_open(&f->cfg, &p, &err), NOA_ECORRUPT);
    assert_null(p);
    assert_int_equal(err.code, NOA_ECORRUPT);
    if (!strstr(err.msg, want_in_msg))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, want_in_msg);
    assert_non_null(strstr(err.msg, f->file)); /* names the file */
    assert_int_equal(access(f->bak, F_OK), -1); /* left alone */
    size_t m = 0;
    char *t = read_text(f->file, &m);
    assert_int_equal(m, n);
    assert_memory_equal(t, text, n);
    free(t);

    f->cfg.ignore_invalid_yaml = 1;
    assert_int_equal(noa_positions_open(&f->cfg, &p, &err), 0);
    assert_int_equal(noa_positions_count(p), 0);
    t = read_text(f->bak, &m); /* the bad bytes kept aside */
    assert_non_null(t);
    assert_int_equal(m, n);
    assert_memory_equal(t, text, n);
    free(t);
    assert_int_equal(access(f->file, F_OK), -1);
    /* The next save writes a good file even though nothing was set. */
    assert_int_equal(noa_positions_save(p, 0, &err), 0);
    noa_positions_free(p);
    p = NULL;
    f->cfg.ignore_invalid_yaml = 0;
    assert_int_equal(noa_positions_open(&f->cfg, &p, &err), 0);
    noa_positions_free(p);
}

static void test_corrupt(void **state)
{
    struct fx *f = *state;
    const char *trunc = "positions:\n  /var/log/a.log: \"12";
    expect_corrupt(f, trunc, strlen(trunc), "positions.yaml:2:");
    char nuls[300];
    memset(nuls, 0, sizeof(nuls));
    expect_corrupt(f, nuls, sizeof(nuls), "positions.yaml:");
    const char *unknown = "positions:\n  /a: \"1\"\nextra: 1\n";
    expect_corrupt(f, unknown, strlen(unknown), "positions.yaml:3:1: field extra not found");
    const char *list = "positions:\n  - /a\n";
    expect_corrupt(f, list, strlen(list), "positions.yaml:2:");
    const char *scalar = "hello\n";
    expect_corrupt(f, scalar, strlen(scalar), "positions.yaml:1:1:");
}

static void test_torn_noa_file(void **state)
{
    struct fx *f = *state;
    struct noa_positions *p = NULL;
    struct noa_error err = {0};
    char path[64];
    assert_int_equal(noa_positions_open(&f->cfg, &p, &err), 0);
    for (int i = 0; i < 50; i++) {
        snprintf(path, sizeof(path), "/var/log/app-%02d.log", i);
        assert_int_equal(noa_positions_set(p, path, (uint64_t)i * 1000, NULL), 0);
    }
    assert_int_equal(noa_positions_save(p, 0, &err), 0);
    noa_positions_free(p);
    size_t n = 0;
    char *t = read_text(f->file, &n);
    /* Cut at a line end: still valid YAML with fewer entries, which only
     * the checksum line reveals. */
    char *cut = strstr(t, "app-25");
    while (*cut != '\n')
        cut++;
    expect_corrupt(f, t, (size_t)(cut - t + 1), "checksum line noa writes last is missing");
    /* A changed digit: valid YAML, wrong offset. */
    char *d = strstr(t, "\"7000\"");
    d[1] = '8';
    expect_corrupt(f, t, n, "checksum mismatch");
    d[1] = '7';
    write_text(f->file, t, n);
    assert_int_equal(noa_positions_open(&f->cfg, &p, &err), 0);
    assert_int_equal(noa_positions_count(p), 50);
    noa_positions_free(p);
    free(t);
}

static void test_bad_entries_skipped(void **state)
{
    (void)state;
    struct noa_positions *p = noa_positions_new_empty();
    struct noa_error err = {0};
    size_t skipped = 0;
    const char *text = "positions:\n"
                       "  /a: \"x1\"\n"
                       "  /b: \"5\"\n"
                       "  /c: \"-3\"\n"
                       "  /d: \"99999999999999999999\"\n"
                       "  /e: [1]\n"
                       "  /f:\n"
                       "  noa-fileid:/b: \"garbage\"\n"
                       "  noa-fileid:/g: \"1:2:3:0000000000000004\"\n"
                       "  noa-future: \"whatever\"\n"
                       "  /h: \"+12\"\n";
    assert_int_equal(noa_positions_parse(p, text, strlen(text), "x.yaml", &skipped, &err), 0);
    assert_int_equal(skipped, 6); /* /a /c /d /e /f and /b's identity */
    assert_int_equal(noa_positions_count(p), 2); /* /b, /h; /g had no offset */
    uint64_t off = 0;
    int has = -1;
    assert_int_equal(noa_positions_get(p, "/b", &off, NULL, &has), 0);
    assert_true(off == 5 && has == 0);
    assert_int_equal(noa_positions_get(p, "/h", &off, NULL, &has), 0);
    assert_true(off == 12);
    assert_int_equal(noa_positions_parse(p, text, strlen(text), "x.yaml", NULL, &err), NOA_EINVAL);
    noa_positions_free(p);
}

static void test_atomic_save(void **state)
{
    struct fx *f = *state;
    struct noa_positions *p = NULL;
    struct noa_error err = {0};
    uint64_t off = 0;
    assert_int_equal(noa_positions_open(&f->cfg, &p, &err), 0);
    assert_int_equal(noa_positions_set(p, "/var/log/a.log", 100, NULL), 0);
    assert_int_equal(noa_positions_save(p, 0, &err), 0);
    noa_positions_free(p);
    size_t n0 = 0;
    char *good = read_text(f->file, &n0);

    /* A crash mid-save leaves a partial temp file: it is never read. */
    write_text(f->tmp, good, n0 / 2);
    p = NULL;
    assert_int_equal(noa_positions_open(&f->cfg, &p, &err), 0);
    assert_int_equal(noa_positions_get(p, "/var/log/a.log", &off, NULL, NULL), 0);
    assert_true(off == 100);

    /* A save that fails midway (the temp path cannot be written) leaves
     * the real file as it was and the change pending. */
    unlink(f->tmp);
    assert_int_equal(mkdir(f->tmp, 0700), 0);
    assert_int_equal(noa_positions_set(p, "/var/log/a.log", 200, NULL), 0);
    assert_true(noa_positions_save(p, 0, &err) < 0);
    assert_non_null(strstr(err.msg, ".tmp"));
    size_t n1 = 0;
    char *after = read_text(f->file, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(good, after, n0);
    free(after);
    assert_int_equal(rmdir(f->tmp), 0);
    assert_int_equal(noa_positions_save(p, 0, &err), 0); /* still dirty: written now */
    assert_int_equal(access(f->tmp, F_OK), -1);
    noa_positions_free(p);
    p = NULL;
    assert_int_equal(noa_positions_open(&f->cfg, &p, &err), 0);
    assert_int_equal(noa_positions_get(p, "/var/log/a.log", &off, NULL, NULL), 0);
    assert_true(off == 200);
    noa_positions_free(p);
    free(good);
}

static void test_tick_and_readonly(void **state)
{
    struct fx *f = *state;
    struct noa_positions *p = NULL;
    struct noa_error err = {0};
    f->cfg.sync_period_ns = 5000000000LL;
    assert_int_equal(noa_positions_open(&f->cfg, &p, &err), 0);
    assert_int_equal(noa_positions_tick(p, INT64_MAX, &err), 0); /* clean: nothing to do */
    assert_int_equal(access(f->file, F_OK), -1);
    assert_int_equal(noa_positions_set(p, "/x", 1, NULL), 0);
    assert_int_equal(noa_positions_tick(p, 0, &err), 0); /* not due yet */
    assert_int_equal(access(f->file, F_OK), -1);
    assert_int_equal(noa_positions_tick(p, INT64_MAX, &err), 0);
    assert_int_equal(access(f->file, F_OK), 0);
    /* Setting the same value again does not make the map dirty. */
    struct stat a, b;
    assert_int_equal(stat(f->file, &a), 0);
    assert_int_equal(unlink(f->file), 0);
    assert_int_equal(noa_positions_set(p, "/x", 1, NULL), 0);
    assert_int_equal(noa_positions_tick(p, INT64_MAX, &err), 0);
    assert_int_equal(access(f->file, F_OK), -1);
    assert_int_equal(noa_positions_save(p, 1, &err), 0); /* forced */
    assert_int_equal(stat(f->file, &b), 0);
    noa_positions_free(p);

    /* -dry-run: loads, never writes. */
    p = NULL;
    f->cfg.readonly = 1;
    assert_int_equal(noa_positions_open(&f->cfg, &p, &err), 0);
    assert_int_equal(noa_positions_count(p), 1);
    assert_int_equal(noa_positions_set(p, "/x", 999, NULL), 0);
    assert_int_equal(noa_positions_save(p, 1, &err), 0);
    noa_positions_free(p);
    f->cfg.readonly = 0;
    p = NULL;
    assert_int_equal(noa_positions_open(&f->cfg, &p, &err), 0);
    uint64_t off = 0;
    assert_int_equal(noa_positions_get(p, "/x", &off, NULL, NULL), 0);
    assert_true(off == 1);
    noa_positions_free(p);
}

struct seen {
    char keys[8][64];
    int n;
};

static int collect(const struct noa_positions_entry *e, void *arg)
{
    struct seen *s = arg;
    snprintf(s->keys[s->n++], 64, "%.*s", (int)e->key_len, e->key);
    return s->n == 3 ? 7 : 0;
}

static void test_map_api(void **state)
{
    (void)state;
    struct noa_positions *p = noa_positions_new_empty();
    struct noa_error err = {0};
    char big[NOA_POSITIONS_MAX_KEY + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[0] = '/';
    big[sizeof(big) - 1] = 0;
    assert_int_equal(noa_positions_set(p, "", 1, NULL), NOA_EINVAL);
    assert_int_equal(noa_positions_set(p, big, 1, NULL), NOA_EINVAL);
    assert_int_equal(noa_positions_set(p, "/bad\xff", 1, NULL), NOA_EINVAL);
    assert_int_equal(noa_positions_set(p, "cursor-x", 1, NULL), NOA_EINVAL);
    assert_int_equal(noa_positions_set(p, "noa-checksum", 1, NULL), NOA_EINVAL);
    assert_int_equal(noa_positions_set_cursor(p, "/var/log/x", "c"), NOA_EINVAL);
    assert_int_equal(noa_positions_set_cursor(p, "journal-j", "\xc3"), NOA_EINVAL);
    /* Many entries: the table grows and keeps them all. */
    char k[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof(k), "/f/%04d", i);
        assert_int_equal(noa_positions_set(p, k, (uint64_t)i, NULL), 0);
    }
    assert_int_equal(noa_positions_count(p), 1000);
    for (int i = 0; i < 1000; i += 97) {
        uint64_t off = 0;
        snprintf(k, sizeof(k), "/f/%04d", i);
        assert_int_equal(noa_positions_get(p, k, &off, NULL, NULL), 0);
        assert_true(off == (uint64_t)i);
    }
    assert_int_equal(noa_positions_remove(p, "/f/0000"), 0);
    assert_int_equal(noa_positions_remove(p, "/f/0000"), NOA_ENOTFOUND);
    assert_int_equal(noa_positions_count(p), 999);
    struct seen s = {0};
    assert_int_equal(noa_positions_foreach(p, collect, &s), 7);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.keys[0], "/f/0001");
    assert_string_equal(s.keys[2], "/f/0003");
    assert_int_equal(noa_positions_save(p, 1, &err), NOA_EINVAL); /* no file */
    noa_positions_free(p);
}

/* Keys longer than YAML's 1024-character implicit-key limit (a path near
 * PATH_MAX, or one that escaping lengthens) still round-trip. */
static void test_long_keys(void **state)
{
    struct fx *f = *state;
    struct noa_positions *p = NULL;
    struct noa_error err = {0};
    struct noa_fileid id = {.dev = 9, .ino = 8, .fp = 7, .fp_len = 6};
    char *long_path = malloc(NOA_POSITIONS_MAX_KEY + 1);
    char tabs[700];
    memset(long_path, 'x', NOA_POSITIONS_MAX_KEY);
    long_path[0] = '/';
    long_path[NOA_POSITIONS_MAX_KEY] = 0;
    memset(tabs, '\t', sizeof(tabs) - 1);
    tabs[0] = '/';
    tabs[sizeof(tabs) - 1] = 0;
    assert_int_equal(noa_positions_open(&f->cfg, &p, &err), 0);
    assert_int_equal(noa_positions_set(p, long_path, 11, &id), 0);
    assert_int_equal(noa_positions_set(p, tabs, 12, &id), 0);
    assert_int_equal(noa_positions_save(p, 0, &err), 0);
    noa_positions_free(p);
    p = NULL;
    assert_int_equal(noa_positions_open(&f->cfg, &p, &err), 0);
    uint64_t off = 0;
    struct noa_fileid got;
    int has = 0;
    assert_int_equal(noa_positions_get(p, long_path, &off, &got, &has), 0);
    assert_true(off == 11 && has && noa_fileid_equal(&got, &id));
    assert_int_equal(noa_positions_get(p, tabs, &off, &got, &has), 0);
    assert_true(off == 12 && has && noa_fileid_equal(&got, &id));
    noa_positions_free(p);
    size_t n = 0;
    char *t = read_text(f->file, &n);
    check_promtail_readable(t, n);
    free(t);
    free(long_path);
}

struct writer {
    struct noa_positions *p;
    int rc;
};

static void *write_offsets(void *arg)
{
    struct writer *w = arg;
    char k[32];
    for (int i = 0; i < 20000 && w->rc == 0; i++) {
        snprintf(k, sizeof(k), "/f/%d", i % 50);
        w->rc = noa_positions_set(w->p, k, (uint64_t)i, NULL);
    }
    return NULL;
}

/* Tailers record offsets while another thread saves: every save is a
 * complete file, and the last one holds the last offsets. */
static void test_concurrent_set_and_save(void **state)
{
    struct fx *f = *state;
    struct noa_positions *p = NULL;
    struct noa_error err = {0};
    assert_int_equal(noa_positions_open(&f->cfg, &p, &err), 0);
    struct writer w = {.p = p};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, write_offsets, &w), 0);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(noa_positions_save(p, 1, &err), 0);
        struct noa_positions *q = NULL;
        assert_int_equal(noa_positions_open(&f->cfg, &q, &err), 0);
        noa_positions_free(q);
    }
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(w.rc, 0);
    assert_int_equal(noa_positions_save(p, 0, &err), 0);
    noa_positions_free(p);
    p = NULL;
    assert_int_equal(noa_positions_open(&f->cfg, &p, &err), 0);
    assert_int_equal(noa_positions_count(p), 50);
    uint64_t off = 0;
    assert_int_equal(noa_positions_get(p, "/f/49", &off, NULL, NULL), 0);
    assert_true(off == 19999);
    assert_int_equal(noa_positions_get(p, "/f/0", &off, NULL, NULL), 0);
    assert_true(off == 19950);
    noa_positions_free(p);
}

static void test_open_errors(void **state)
{
    struct fx *f = *state;
    struct noa_positions *p = NULL;
    struct noa_error err = {0};
    /* The positions path is a directory: reading it fails, with its name. */
    char sub[180];
    snprintf(sub, sizeof(sub), "%s/sub", f->dir);
    mkdir(sub, 0750);
    assert_int_equal(mkdir(f->file, 0700), 0);
    assert_true(noa_positions_open(&f->cfg, &p, &err) < 0);
    assert_null(p);
    assert_non_null(strstr(err.msg, "positions.yaml"));
    rmdir(f->file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_promtail_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_noa_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_entries_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_save, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tick_and_readonly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_set_and_save, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
