/*
 * The positions file (format and rules in positions.h): a chained hash map
 * from key to entry, a YAML loader over common/yaml.h that accepts
 * Promtail's files, and an atomic writer (temp file, fsync, rename, fsync of
 * the directory). Owns the map and the file; any thread (see THREAD SAFETY
 * in the header).
 */
#include "shipper/positions.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/yaml.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define HEADER "# noa positions v1\n"
#define CKSUM_KEY "noa-checksum"
#define CKSUM_LINE "\n  \"" CKSUM_KEY "\": \"crc32c:"
#define FILEID_PREFIX "noa-fileid:"

struct entry {
    struct entry *next; /* bucket chain */
    uint64_t hash;
    char *key; /* owned, NUL-terminated */
    size_t klen;
    char *cursor; /* owned; non-NULL for cursor entries */
    uint64_t offset;
    int has_id;
    int has_offset; /* loading only: an offset line was seen for this path */
    struct noa_fileid id;
};

struct noa_positions {
    pthread_mutex_t mu;      /* guards everything below except the names */
    pthread_mutex_t save_mu; /* one save at a time; taken before mu */
    struct entry **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
    int dirty;
    int64_t last_save_ns; /* monotonic */
    int64_t period_ns;
    int readonly;
    char *filename; /* NULL for a map without a file */
    char *tmpname;
    char *bakname;
    char *dirname;
};

/* ---- the map ----------------------------------------------------------- */

static uint64_t key_hash(const char *k, size_t n)
{
    return XXH3_64bits(k, n);
}

static struct entry *find(struct noa_positions *p, const char *k, size_t n)
{
    uint64_t h = key_hash(k, n);
    for (struct entry *e = p->buckets[h & (p->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && e->klen == n && memcmp(e->key, k, n) == 0)
            return e;
    return NULL;
}

static void grow(struct noa_positions *p)
{
    size_t nb = p->nbuckets * 2;
    struct entry **b = noa_xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < p->nbuckets; i++) {
        struct entry *e = p->buckets[i];
        while (e) {
            struct entry *next = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
            e = next;
        }
    }
    noa_free(p->buckets);
    p->buckets = b;
    p->nbuckets = nb;
}

/* The entry for k, created empty when missing. */
static struct entry *upsert(struct noa_positions *p, const char *k, size_t n)
{
    struct entry *e = find(p, k, n);
    if (e)
        return e;
    if (p->count >= p->nbuckets)
        grow(p);
    e = noa_xcalloc(1, sizeof(*e));
    e->hash = key_hash(k, n);
    e->key = noa_xstrndup(k, n);
    e->klen = n;
    e->next = p->buckets[e->hash & (p->nbuckets - 1)];
    p->buckets[e->hash & (p->nbuckets - 1)] = e;
    p->count++;
    return e;
}

static void entry_free(struct entry *e)
{
    noa_free(e->key);
    noa_free(e->cursor);
    noa_free(e);
}

static int unlink_entry(struct noa_positions *p, const char *k, size_t n)
{
    uint64_t h = key_hash(k, n);
    for (struct entry **pp = &p->buckets[h & (p->nbuckets - 1)]; *pp; pp = &(*pp)->next) {
        struct entry *e = *pp;
        if (e->hash == h && e->klen == n && memcmp(e->key, k, n) == 0) {
            *pp = e->next;
            entry_free(e);
            p->count--;
            return 0;
        }
    }
    return NOA_ENOTFOUND;
}

static void clear(struct noa_positions *p)
{
    for (size_t i = 0; i < p->nbuckets; i++) {
        struct entry *e = p->buckets[i];
        while (e) {
            struct entry *next = e->next;
            entry_free(e);
            e = next;
        }
        p->buckets[i] = NULL;
    }
    p->count = 0;
}

static int key_cmp(const void *a, const void *b)
{
    const struct entry *x = *(const struct entry *const *)a;
    const struct entry *y = *(const struct entry *const *)b;
    return noa_str_cmp((struct noa_str){x->key, x->klen}, (struct noa_str){y->key, y->klen});
}

/* Every entry in key order (caller frees the array); under mu. */
static struct entry **sorted(struct noa_positions *p)
{
    struct entry **v = noa_xmalloc((p->count ? p->count : 1) * sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; i < p->nbuckets; i++)
        for (struct entry *e = p->buckets[i]; e; e = e->next)
            v[k++] = e;
    qsort(v, k, sizeof(*v), key_cmp);
    return v;
}

static int is_cursor_key(const char *k, size_t n)
{
    return (n >= 7 && memcmp(k, "cursor-", 7) == 0) || (n >= 8 && memcmp(k, "journal-", 8) == 0);
}

static int is_noa_key(const char *k, size_t n)
{
    return n >= 4 && memcmp(k, "noa-", 4) == 0;
}

/* ---- lifecycle --------------------------------------------------------- */

static struct noa_positions *alloc_map(void)
{
    struct noa_positions *p = noa_xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->save_mu, NULL);
    p->nbuckets = 64;
    p->buckets = noa_xcalloc(p->nbuckets, sizeof(*p->buckets));
    p->period_ns = NOA_POSITIONS_DEFAULT_SYNC_PERIOD_NS;
    p->last_save_ns = noa_clock_mono_ns();
    return p;
}

struct noa_positions *noa_positions_new_empty(void)
{
    return alloc_map();
}

void noa_positions_free(struct noa_positions *p)
{
    if (!p)
        return;
    clear(p);
    noa_free(p->buckets);
    noa_free(p->filename);
    noa_free(p->tmpname);
    noa_free(p->bakname);
    noa_free(p->dirname);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->save_mu);
    noa_free(p);
}

void noa_positions_config_defaults(struct noa_positions_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->filename = (char *)NOA_POSITIONS_DEFAULT_FILENAME;
    cfg->sync_period_ns = NOA_POSITIONS_DEFAULT_SYNC_PERIOD_NS;
}

/* ---- accessors --------------------------------------------------------- */

int noa_positions_get(struct noa_positions *p, const char *path, uint64_t *offset,
                      struct noa_fileid *id, int *has_id)
{
    int rc = NOA_ENOTFOUND;
    pthread_mutex_lock(&p->mu);
    struct entry *e = find(p, path, strlen(path));
    if (e && !e->cursor) {
        *offset = e->offset;
        if (id)
            *id = e->id;
        if (has_id)
            *has_id = e->has_id;
        rc = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int noa_positions_set(struct noa_positions *p, const char *path, uint64_t offset,
                      const struct noa_fileid *id)
{
    size_t n = strlen(path);
    if (n == 0 || n > NOA_POSITIONS_MAX_KEY || !noa_utf8_valid(path, n) ||
        is_cursor_key(path, n) || is_noa_key(path, n))
        return NOA_EINVAL;
    pthread_mutex_lock(&p->mu);
    struct entry *e = upsert(p, path, n);
    int changed = e->offset != offset || e->has_id != (id != NULL) ||
                  (id && !noa_fileid_equal(&e->id, id)) || !e->has_offset;
    e->offset = offset;
    e->has_offset = 1;
    e->has_id = id != NULL;
    if (id)
        e->id = *id;
    else
        memset(&e->id, 0, sizeof(e->id));
    if (changed)
        p->dirty = 1;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

int noa_positions_get_cursor(struct noa_positions *p, const char *key, char **out)
{
    int rc = NOA_ENOTFOUND;
    pthread_mutex_lock(&p->mu);
    struct entry *e = find(p, key, strlen(key));
    if (e && e->cursor) {
        *out = noa_xstrdup(e->cursor);
        rc = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int noa_positions_set_cursor(struct noa_positions *p, const char *key, const char *value)
{
    size_t n = strlen(key), vn = strlen(value);
    if (!is_cursor_key(key, n) || n > NOA_POSITIONS_MAX_KEY || !noa_utf8_valid(key, n) ||
        vn > NOA_POSITIONS_MAX_CURSOR || !noa_utf8_valid(value, vn))
        return NOA_EINVAL;
    pthread_mutex_lock(&p->mu);
    struct entry *e = upsert(p, key, n);
    if (!e->cursor || strcmp(e->cursor, value) != 0) {
        noa_free(e->cursor);
        e->cursor = noa_xstrdup(value);
        p->dirty = 1;
    }
    pthread_mutex_unlock(&p->mu);
    return 0;
}

int noa_positions_remove(struct noa_positions *p, const char *key)
{
    pthread_mutex_lock(&p->mu);
    int rc = unlink_entry(p, key, strlen(key));
    if (rc == 0)
        p->dirty = 1;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

size_t noa_positions_count(struct noa_positions *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->count;
    pthread_mutex_unlock(&p->mu);
    return n;
}

int noa_positions_foreach(struct noa_positions *p,
                          int (*cb)(const struct noa_positions_entry *e, void *arg), void *arg)
{
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    struct entry **v = sorted(p);
    for (size_t i = 0; i < p->count && rc == 0; i++) {
        struct noa_positions_entry pe = {
            .key = v[i]->key,
            .key_len = v[i]->klen,
            .cursor = v[i]->cursor,
            .offset = v[i]->offset,
            .has_id = v[i]->has_id,
            .id = v[i]->id,
        };
        rc = cb(&pe, arg);
    }
    noa_free(v);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* ---- writing ----------------------------------------------------------- */

/* s as a YAML double-quoted scalar. Keys and values are valid UTF-8 (checked
 * on the way in); what YAML does not allow raw (controls, C1 controls, the
 * Unicode line separators, U+FFFE/F) is escaped so any YAML reader,
 * Promtail's included, reads back the same bytes. */
static void put_escaped(struct noa_buf *b, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            noa_buf_putc(b, '\\');
            noa_buf_putc(b, (char)c);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            noa_buf_printf(b, "\\x%02x", c);
            i++;
        } else if (c < 0x80) {
            noa_buf_putc(b, (char)c);
            i++;
        } else {
            uint32_t cp = 0;
            size_t w = noa_utf8_decode((const unsigned char *)s + i, n - i, &cp);
            if (w == 0) { /* unreachable for checked input; keep the output valid */
                noa_buf_append(b, "\\uFFFD", 6);
                i++;
                continue;
            }
            if (cp <= 0x9f || cp == 0x2028 || cp == 0x2029 || cp == 0xfeff || cp == 0xfffe ||
                cp == 0xffff)
                noa_buf_printf(b, "\\u%04" PRIX32, cp);
            else
                noa_buf_append(b, s + i, w);
            i += w;
        }
    }
}

static void put_quoted(struct noa_buf *b, const char *s, size_t n)
{
    noa_buf_putc(b, '"');
    put_escaped(b, s, n);
    noa_buf_putc(b, '"');
}

/* YAML allows an implicit ("k: v") key of at most 1024 characters; a
 * longer one (a long path, escapes) is written in the explicit form
 * "? k\n  : v", which yaml.v2 and libyaml read as the same string key. */
#define IMPLICIT_KEY_MAX 1000

/* One "  key: value" line; key is the quoted key text, value appended by the
 * caller after this returns. */
static void put_key(struct noa_buf *out, const struct noa_buf *qkey)
{
    if (qkey->len > IMPLICIT_KEY_MAX) {
        noa_buf_append(out, "  ? ", 4);
        noa_buf_append(out, qkey->data, qkey->len);
        noa_buf_append(out, "\n  : ", 5);
    } else {
        noa_buf_append(out, "  ", 2);
        noa_buf_append(out, qkey->data, qkey->len);
        noa_buf_append(out, ": ", 2);
    }
}

static void serialize_locked(struct noa_positions *p, struct noa_buf *out)
{
    size_t start = out->len;
    struct noa_buf k = {0};
    struct entry **v = sorted(p);
    noa_buf_append(out, HEADER "positions:\n", strlen(HEADER "positions:\n"));
    for (size_t i = 0; i < p->count; i++) {
        struct entry *e = v[i];
        noa_buf_reset(&k);
        put_quoted(&k, e->key, e->klen);
        put_key(out, &k);
        if (e->cursor) {
            put_quoted(out, e->cursor, strlen(e->cursor));
            noa_buf_putc(out, '\n');
            continue;
        }
        noa_buf_printf(out, "\"%" PRIu64 "\"\n", e->offset);
        if (e->has_id) {
            char idt[NOA_FILEID_TEXT_MAX];
            size_t idn = noa_fileid_format(&e->id, idt, sizeof(idt));
            noa_buf_reset(&k);
            noa_buf_append(&k, "\"" FILEID_PREFIX, 1 + strlen(FILEID_PREFIX));
            put_escaped(&k, e->key, e->klen);
            noa_buf_putc(&k, '"');
            put_key(out, &k);
            noa_buf_putc(out, '"');
            noa_buf_append(out, idt, idn);
            noa_buf_append(out, "\"\n", 2);
        }
    }
    noa_free(v);
    noa_buf_fini(&k);
    uint32_t crc = noa_crc32c(0, out->data + start, out->len - start);
    noa_buf_printf(out, "  \"" CKSUM_KEY "\": \"crc32c:%08" PRIx32 "\"\n", crc);
}

void noa_positions_serialize(struct noa_positions *p, struct noa_buf *out)
{
    pthread_mutex_lock(&p->mu);
    serialize_locked(p, out);
    pthread_mutex_unlock(&p->mu);
}

static int write_all(int fd, const char *d, size_t n)
{
    while (n) {
        ssize_t w = write(fd, d, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        d += w;
        n -= (size_t)w;
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    /* Some filesystems cannot fsync a directory; the rename is as durable
     * as they make it. */
    return rc == -EINVAL ? 0 : rc;
}

/* Writes data to the temp file and renames it over the real one. */
static int write_file(struct noa_positions *p, const char *data, size_t n, struct noa_error *err)
{
    const char *step = "open";
    int fd = open(p->tmpname, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = fd < 0 ? -errno : 0;
    if (rc < 0)
        goto fail;
    step = "write";
    rc = write_all(fd, data, n);
    if (rc < 0)
        goto fail;
    step = "fsync";
    if (fsync(fd) < 0) {
        rc = -errno;
        goto fail;
    }
    step = "close";
    rc = close(fd) < 0 ? -errno : 0;
    fd = -1;
    if (rc < 0)
        goto fail;
    step = "rename";
    if (rename(p->tmpname, p->filename) < 0) {
        rc = -errno;
        goto fail;
    }
    rc = fsync_dir(p->dirname);
    if (rc < 0)
        return noa_error_set(err, rc, "positions: fsync of directory %s: %s", p->dirname,
                             noa_strerror(rc));
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    if (strcmp(step, "open") != 0)
        unlink(p->tmpname);
    return noa_error_set(err, rc, "positions: %s %s: %s", step, p->tmpname, noa_strerror(rc));
}

int noa_positions_save(struct noa_positions *p, int force, struct noa_error *err)
{
    struct noa_buf b = {0};
    int rc = 0;
    if (!p->filename)
        return noa_error_set(err, NOA_EINVAL, "positions: no file to save to");
    if (p->readonly)
        return 0;
    pthread_mutex_lock(&p->save_mu);
    pthread_mutex_lock(&p->mu);
    if (!p->dirty && !force) {
        pthread_mutex_unlock(&p->mu);
        goto out;
    }
    serialize_locked(p, &b);
    p->dirty = 0;
    pthread_mutex_unlock(&p->mu);

    rc = write_file(p, b.data, b.len, err);
    pthread_mutex_lock(&p->mu);
    if (rc < 0)
        p->dirty = 1; /* try again next time */
    else
        p->last_save_ns = noa_clock_mono_ns();
    pthread_mutex_unlock(&p->mu);
out:
    pthread_mutex_unlock(&p->save_mu);
    noa_buf_fini(&b);
    return rc;
}

int noa_positions_tick(struct noa_positions *p, int64_t now_ns, struct noa_error *err)
{
    pthread_mutex_lock(&p->mu);
    int due = p->dirty && now_ns - p->last_save_ns >= p->period_ns;
    pthread_mutex_unlock(&p->mu);
    return due ? noa_positions_save(p, 0, err) : 0;
}

/* ---- loading ----------------------------------------------------------- */

/* The 1-based line holding text[off]. */
static int line_of(const char *text, size_t off)
{
    int line = 1;
    for (size_t i = 0; i < off; i++)
        line += text[i] == '\n';
    return line;
}

/* A file noa wrote must end with a checksum line matching what precedes it. */
static int check_sum(const char *text, size_t len, const char *file, struct noa_error *err)
{
    const size_t kl = strlen(CKSUM_LINE);
    const char *at = NULL;
    for (const char *q = text; (q = memmem(q, len - (size_t)(q - text), CKSUM_LINE, kl));
         q++)
        at = q;
    if (!at)
        return noa_error_set_at(err, NOA_ECORRUPT, line_of(text, len), 1,
                                "%s:%d:1: the checksum line noa writes last is missing "
                                "(a torn or truncated write)",
                                file, line_of(text, len));
    size_t body = (size_t)(at - text) + 1;
    const char *h = at + kl;
    size_t rest = len - (size_t)(h - text);
    int line = line_of(text, body);
    uint32_t want = 0;
    int ok = rest == 10 && h[8] == '"' && h[9] == '\n';
    for (int i = 0; ok && i < 8; i++) {
        int x = noa_hexval((unsigned char)h[i]);
        ok = x >= 0;
        want = want << 4 | (uint32_t)(x < 0 ? 0 : x);
    }
    if (!ok)
        return noa_error_set_at(err, NOA_ECORRUPT, line, 3, "%s:%d:3: malformed checksum line",
                                file, line);
    uint32_t got = noa_crc32c(0, text, body);
    if (got != want)
        return noa_error_set_at(err, NOA_ECORRUPT, line, 3,
                                "%s:%d:3: checksum mismatch (file says %08" PRIx32
                                ", content has %08" PRIx32 "): the file was damaged",
                                file, line, want, got);
    return 0;
}

static void warn_skip(const struct noa_yaml_node *n, const char *why, size_t *skipped)
{
    noa_log(NOA_LOG_WARN, "positions", "msg=\"skipping bad entry\" file=%s line=%d col=%d reason=\"%s\"",
            n->file ? n->file : "<input>", n->line, n->col, why);
    if (skipped)
        (*skipped)++;
}

/* Go's strconv.ParseInt(s, 10, 64) restricted to values >= 0. */
static int parse_offset(const char *s, size_t n, uint64_t *out)
{
    size_t i = 0;
    uint64_t v = 0;
    if (n && s[0] == '+')
        i++;
    if (i == n)
        return NOA_EINVAL;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < '0' || c > '9' || v > ((uint64_t)INT64_MAX - (c - '0')) / 10)
            return NOA_EINVAL;
        v = v * 10 + (c - '0');
    }
    *out = v;
    return 0;
}

static void load_pair(struct noa_positions *p, const struct noa_yaml_pair *pr, size_t *skipped)
{
    const struct noa_yaml_node *k = pr->key, *v = pr->value;
    size_t fl = strlen(FILEID_PREFIX);
    int is_id = k->len > fl && memcmp(k->str, FILEID_PREFIX, fl) == 0;
    if (k->len == 0 || k->len - (is_id ? fl : 0) > NOA_POSITIONS_MAX_KEY ||
        memchr(k->str, 0, k->len)) {
        warn_skip(k, "empty, over-long or NUL-holding key", skipped);
        return;
    }
    if (v->kind != NOA_YAML_SCALAR || noa_yaml_is_null(v) || memchr(v->str, 0, v->len)) {
        warn_skip(v, "value is not a string", skipped);
        return;
    }
    if (k->len == strlen(CKSUM_KEY) && memcmp(k->str, CKSUM_KEY, k->len) == 0)
        return;
    if (is_id) {
        struct noa_fileid id;
        if (noa_fileid_parse(v->str, v->len, &id) < 0) {
            warn_skip(v, "malformed file identity", skipped);
            return;
        }
        struct entry *e = upsert(p, k->str + fl, k->len - fl);
        if (!e->cursor) {
            e->id = id;
            e->has_id = 1;
        }
        return;
    }
    if (is_noa_key(k->str, k->len))
        return; /* a later noa's extension: not ours to judge */
    if (is_cursor_key(k->str, k->len)) {
        if (v->len > NOA_POSITIONS_MAX_CURSOR) {
            warn_skip(v, "cursor too long", skipped);
            return;
        }
        struct entry *e = upsert(p, k->str, k->len);
        noa_free(e->cursor);
        e->cursor = noa_xstrndup(v->str, v->len);
        return;
    }
    uint64_t off;
    if (parse_offset(v->str, v->len, &off) < 0) {
        warn_skip(v, "offset is not a non-negative decimal integer", skipped);
        return;
    }
    struct entry *e = upsert(p, k->str, k->len);
    e->offset = off;
    e->has_offset = 1;
}

/* Drops identities whose path had no offset line. */
static void drop_orphans(struct noa_positions *p)
{
    for (size_t i = 0; i < p->nbuckets; i++) {
        struct entry **pp = &p->buckets[i];
        while (*pp) {
            struct entry *e = *pp;
            if (!e->cursor && !e->has_offset) {
                *pp = e->next;
                entry_free(e);
                p->count--;
            } else {
                pp = &e->next;
            }
        }
    }
}

int noa_positions_parse(struct noa_positions *p, const char *text, size_t len, const char *file,
                        size_t *skipped, struct noa_error *err)
{
    struct noa_yaml_doc *doc = NULL;
    int rc = 0;
    if (!file)
        file = "<input>";
    if (skipped)
        *skipped = 0;
    if (p->count)
        return noa_error_set(err, NOA_EINVAL, "positions: parse into a non-empty map");
    if (len > NOA_POSITIONS_MAX_FILE)
        return noa_error_set(err, NOA_ECORRUPT, "%s: %zu bytes, over the %u-byte limit", file,
                             len, NOA_POSITIONS_MAX_FILE);
    if (len >= strlen(HEADER) && memcmp(text, HEADER, strlen(HEADER)) == 0) {
        rc = check_sum(text, len, file, err);
        if (rc < 0)
            return rc;
    }
    struct noa_yaml_limits lim = {.max_bytes = NOA_POSITIONS_MAX_FILE, .max_depth = 8,
                                  .max_nodes = 8u * 1000 * 1000};
    rc = noa_yaml_parse(text, len, file, &lim, &doc, err);
    if (rc < 0) {
        rc = err ? (err->code = NOA_ECORRUPT) : NOA_ECORRUPT;
        goto out;
    }
    const struct noa_yaml_node *root = doc->root;
    if (noa_yaml_is_null(root))
        goto out;
    if (root->kind != NOA_YAML_MAP) {
        rc = noa_yaml_error(err, root, "cannot unmarshal %s into positions.File",
                            noa_yaml_type_name(root));
        goto corrupt;
    }
    const struct noa_yaml_node *pos = NULL;
    for (size_t i = 0; i < root->n; i++) {
        const struct noa_yaml_node *k = root->pairs[i].key;
        if (!(k->len == 9 && memcmp(k->str, "positions", 9) == 0)) {
            rc = noa_yaml_error(err, k, "field %s not found in type positions.File", k->str);
            goto corrupt;
        }
        pos = root->pairs[i].value;
    }
    if (noa_yaml_is_null(pos))
        goto out;
    if (pos->kind != NOA_YAML_MAP) {
        rc = noa_yaml_error(err, pos, "cannot unmarshal %s into map[string]string",
                            noa_yaml_type_name(pos));
        goto corrupt;
    }
    for (size_t i = 0; i < pos->n; i++)
        load_pair(p, &pos->pairs[i], skipped);
    drop_orphans(p);
    goto out;
corrupt:
    rc = err ? (err->code = NOA_ECORRUPT) : NOA_ECORRUPT;
out:
    if (rc < 0)
        clear(p);
    else
        for (size_t i = 0; i < p->nbuckets; i++)
            for (struct entry *e = p->buckets[i]; e; e = e->next)
                e->has_offset = 1;
    noa_yaml_free(doc);
    return rc;
}

/* mkdir -p dir (mode 0750). */
static int make_dirs(const char *dir)
{
    char *d = noa_xstrdup(dir);
    int rc = 0;
    for (char *s = d + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(d, 0750) < 0 && errno != EEXIST) {
            rc = -errno;
            break;
        }
        *s = c;
        if (!c)
            break;
    }
    noa_free(d);
    return rc;
}

/* Reads the whole file; *data is NULL and 0 returned when it does not exist. */
static int read_file(const char *path, char **data, size_t *len, struct noa_error *err)
{
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    *data = NULL;
    *len = 0;
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        rc = -errno;
        goto fail;
    }
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto fail;
    }
    if ((uint64_t)st.st_size > NOA_POSITIONS_MAX_FILE) {
        close(fd);
        return noa_error_set(err, NOA_ECORRUPT, "%s: %lld bytes, over the %u-byte limit", path,
                             (long long)st.st_size, NOA_POSITIONS_MAX_FILE);
    }
    buf = noa_malloc((size_t)st.st_size + 1);
    if (!buf) {
        rc = NOA_ENOMEM;
        goto fail;
    }
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            goto fail;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    noa_free(buf);
    return noa_error_set(err, rc, "positions: reading %s: %s", path, noa_strerror(rc));
}

static char *concat(const char *a, const char *b)
{
    size_t x = strlen(a), y = strlen(b);
    char *s = noa_xmalloc(x + y + 1);
    memcpy(s, a, x);
    memcpy(s + x, b, y + 1);
    return s;
}

int noa_positions_open(const struct noa_positions_config *cfg, struct noa_positions **out,
                       struct noa_error *err)
{
    struct noa_positions *p = NULL;
    char *data = NULL;
    size_t len = 0;
    int rc;
    const char *fn = cfg->filename && *cfg->filename ? cfg->filename
                                                     : NOA_POSITIONS_DEFAULT_FILENAME;
    *out = NULL;
    p = alloc_map();
    p->filename = noa_xstrdup(fn);
    p->tmpname = concat(fn, ".tmp");
    p->bakname = concat(fn, ".bak");
    const char *slash = strrchr(fn, '/');
    p->dirname = slash == fn ? noa_xstrdup("/")
                 : slash     ? noa_xstrndup(fn, (size_t)(slash - fn))
                             : noa_xstrdup(".");
    p->readonly = cfg->readonly;
    if (cfg->sync_period_ns > 0)
        p->period_ns = cfg->sync_period_ns;

    if (!p->readonly && (rc = make_dirs(p->dirname)) < 0) {
        noa_error_set(err, rc, "positions: creating directory %s: %s", p->dirname,
                      noa_strerror(rc));
        goto fail;
    }
    rc = read_file(fn, &data, &len, err);
    if (rc == 0 && data)
        rc = noa_positions_parse(p, data, len, fn, NULL, err);
    if (rc == NOA_ECORRUPT && cfg->ignore_invalid_yaml) {
        /* Keep the bad bytes for a post-mortem and start over. */
        noa_log(NOA_LOG_WARN, "positions",
                "msg=\"invalid positions file ignored; starting empty\" file=%s backup=%s "
                "reason=\"%s\"",
                fn, p->bakname, err ? err->msg : "corrupt");
        if (!p->readonly && rename(fn, p->bakname) < 0) {
            rc = -errno;
            noa_error_set(err, rc, "positions: renaming %s to %s: %s", fn, p->bakname,
                          noa_strerror(rc));
            goto fail;
        }
        clear(p);
        p->dirty = 1;
        rc = 0;
    }
    if (rc < 0)
        goto fail;
    noa_free(data);
    *out = p;
    return 0;
fail:
    noa_free(data);
    noa_positions_free(p);
    return rc;
}
