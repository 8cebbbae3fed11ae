/*
 * The directory backend of the chunk store: key "a/b/c" is the file
 * root/a/b/c. Writes are atomic and durable (temp file in the same
 * directory, fdatasync, rename, fsync of the directory); reads are plain
 * pread. All paths are resolved relative to a descriptor of the root
 * (openat & co), so keys never escape it and the process's cwd is
 * irrelevant.
 *
 * THREAD SAFETY: the only state is the root descriptor, read-only after
 * creation, so any number of threads may call in at once. The one race
 * between operations - delete removing a directory that a concurrent put
 * just created - is handled by put retrying (see put_once).
 */
#include "ingester/chunkstore.h"

#include "common/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct dir_store {
    struct noa_chunkstore base; /* first: the vtable */
    int root_fd;                /* O_DIRECTORY descriptor of the root; read-only */
};

/* Makes temporary names unique within the process; the pid separates processes. */
static atomic_uint_fast64_t tmp_seq;

static int retry_eintr(int rc)
{
    return rc < 0 && errno == EINTR;
}

static int fsync_dir_at(int root_fd, const char *dir)
{
    int fd = openat(root_fd, dir[0] ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

/* Creates every directory of path (relative to root_fd; path[0..n) is the
 * directory part of a key) and fsyncs the parent of each one it created so
 * that the new object's name survives a crash. */
static int mkdirs_at(int root_fd, const char *path, size_t n)
{
    char buf[NOA_CHUNKSTORE_KEY_MAX + 1];
    memcpy(buf, path, n);
    buf[n] = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && buf[i] != '/')
            continue;
        buf[i] = 0;
        if (mkdirat(root_fd, buf, 0755) == 0) {
            char *slash = strrchr(buf, '/');
            int rc;
            if (slash) {
                *slash = 0;
                rc = fsync_dir_at(root_fd, buf);
                *slash = '/';
            } else {
                rc = fsync_dir_at(root_fd, "");
            }
            if (rc < 0)
                return rc;
        } else if (errno != EEXIST) {
            return -errno;
        }
        if (i < n)
            buf[i] = '/';
    }
    return 0;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t k = write(fd, p, len);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

/* One attempt at a put. -ENOENT means a directory vanished under us. */
static int put_once(struct dir_store *ds, const char *key, const void *data, size_t len)
{
    const char *slash = strrchr(key, '/');
    size_t dlen = slash ? (size_t)(slash - key) : 0;
    const char *base = slash ? slash + 1 : key;
    char dir[NOA_CHUNKSTORE_KEY_MAX + 1], tmp[64];
    int dfd = -1, fd = -1, rc;

    memcpy(dir, key, dlen);
    dir[dlen] = 0;
    if (dlen && (rc = mkdirs_at(ds->root_fd, dir, dlen)) < 0)
        return rc;
    dfd = openat(ds->root_fd, dlen ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    do {
        snprintf(tmp, sizeof(tmp), ".noatmp.%ld.%" PRIuFAST64, (long)getpid(),
                 atomic_fetch_add(&tmp_seq, 1));
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    } while (fd < 0 && (errno == EEXIST || errno == EINTR));
    if (fd < 0) {
        rc = -errno;
        goto fail;
    }
    if ((rc = write_all(fd, data, len)) < 0)
        goto fail_unlink;
    if (fdatasync(fd) < 0) {
        rc = -errno;
        goto fail_unlink;
    }
    rc = close(fd);
    fd = -1;
    if (rc < 0 && errno != EINTR) {
        rc = -errno;
        goto fail_unlink;
    }
    if (renameat(dfd, tmp, dfd, base) < 0) {
        rc = -errno;
        goto fail_unlink;
    }
    rc = fsync(dfd) < 0 ? -errno : 0;
    close(dfd);
    return rc;

fail_unlink:
    unlinkat(dfd, tmp, 0);
fail:
    if (fd >= 0)
        close(fd);
    close(dfd);
    return rc;
}

static int dir_put(struct noa_chunkstore *cs, const char *key, const void *data, size_t len)
{
    struct dir_store *ds = (struct dir_store *)cs;
    int rc = -ENOENT;
    /* A concurrent delete may remove a directory we just made (it removes
     * empty ones); a few retries always win because the delete only runs
     * once per object. */
    for (int attempt = 0; attempt < 8 && rc == -ENOENT; attempt++)
        rc = put_once(ds, key, data, len);
    return rc;
}

/* Opens key for reading; a missing object (or a directory) is NOA_ENOTFOUND. */
static int open_object(struct dir_store *ds, const char *key, uint64_t *size)
{
    struct stat st;
    int fd;
    do
        fd = openat(ds->root_fd, key, O_RDONLY | O_CLOEXEC);
    while (retry_eintr(fd));
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? NOA_ENOTFOUND : -errno;
    if (fstat(fd, &st) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return S_ISDIR(st.st_mode) ? NOA_ENOTFOUND : -EIO;
    }
    *size = (uint64_t)st.st_size;
    return fd;
}

/* Reads exactly len bytes at off into out (which is empty on entry). */
static int read_range(int fd, uint64_t off, size_t len, struct noa_buf *out)
{
    if (out->cap < len + 1) {
        char *p = noa_realloc(out->data, len + 1);
        if (!p)
            return NOA_ENOMEM;
        out->data = p;
        out->cap = len + 1;
    }
    while (out->len < len) {
        ssize_t k = pread(fd, out->data + out->len, len - out->len, (off_t)(off + out->len));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0) /* objects are immutable once renamed in; a short file is damage */
            return -EIO;
        out->len += (size_t)k;
    }
    return 0;
}

static int dir_get(struct noa_chunkstore *cs, const char *key, struct noa_buf *out)
{
    uint64_t size;
    int fd = open_object((struct dir_store *)cs, key, &size), rc;
    if (fd < 0)
        return fd;
    rc = size > NOA_CHUNKSTORE_MAX_GET ? NOA_ETOOBIG : read_range(fd, 0, (size_t)size, out);
    close(fd);
    if (rc < 0)
        out->len = 0;
    return rc;
}

static int dir_get_range(struct noa_chunkstore *cs, const char *key, uint64_t off, size_t len,
                         struct noa_buf *out)
{
    uint64_t size;
    int fd = open_object((struct dir_store *)cs, key, &size), rc;
    if (fd < 0)
        return fd;
    if (off >= size) {
        rc = NOA_EINVAL;
    } else {
        size_t n = size - off < len ? (size_t)(size - off) : len;
        rc = read_range(fd, off, n, out);
    }
    close(fd);
    if (rc < 0)
        out->len = 0;
    return rc;
}

static int dir_del(struct noa_chunkstore *cs, const char *key)
{
    struct dir_store *ds = (struct dir_store *)cs;
    char dir[NOA_CHUNKSTORE_KEY_MAX + 1];
    char *slash;

    if (unlinkat(ds->root_fd, key, 0) < 0)
        return errno == ENOENT || errno == ENOTDIR || errno == EISDIR ? NOA_ENOTFOUND : -errno;
    /* Remove the directories this left empty (stream, then tenant), so that
     * retention does not leave a tree of empty folders behind. */
    snprintf(dir, sizeof(dir), "%s", key);
    while ((slash = strrchr(dir, '/')) != NULL) {
        *slash = 0;
        if (unlinkat(ds->root_fd, dir, AT_REMOVEDIR) < 0)
            break;
    }
    return 0;
}

struct walk {
    struct noa_buf path; /* the key prefix of the directory being walked */
    int (*cb)(const char *key, uint64_t size, void *ctx);
    void *ctx;
};

/* Walks the directory dfd (takes ownership), whose key prefix is w->path;
 * at the top level only names starting with `name_prefix` are followed. */
static int walk_dir(struct walk *w, int dfd, const char *name_prefix)
{
    size_t plen = strlen(name_prefix), mark = w->path.len;
    DIR *d = fdopendir(dfd);
    struct dirent *e;
    int rc = 0;

    if (!d) {
        rc = -errno;
        close(dfd);
        return rc;
    }
    while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        struct stat st;
        if (name[0] == '.' &&
            (!name[1] || (name[1] == '.' && !name[2]) || strncmp(name, ".noatmp", 7) == 0))
            continue;
        if (strncmp(name, name_prefix, plen) != 0)
            continue;
        if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT) /* deleted since readdir saw it */
                continue;
            rc = -errno;
            break;
        }
        w->path.len = mark;
        noa_buf_append(&w->path, name, strlen(name));
        if (S_ISREG(st.st_mode)) {
            rc = w->cb(noa_buf_cstr(&w->path), (uint64_t)st.st_size, w->ctx);
        } else if (S_ISDIR(st.st_mode) && w->path.len < NOA_CHUNKSTORE_KEY_MAX) {
            int sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (sub < 0) {
                if (errno != ENOENT)
                    rc = -errno;
                continue;
            }
            noa_buf_putc(&w->path, '/');
            rc = walk_dir(w, sub, "");
        }
    }
    if (rc == 0 && errno != 0 && e == NULL)
        rc = -errno;
    w->path.len = mark;
    closedir(d);
    return rc;
}

static int dir_list(struct noa_chunkstore *cs, const char *prefix,
                    int (*cb)(const char *key, uint64_t size, void *ctx), void *ctx)
{
    struct dir_store *ds = (struct dir_store *)cs;
    struct walk w = {.cb = cb, .ctx = ctx};
    const char *slash = strrchr(prefix, '/');
    size_t dlen = slash ? (size_t)(slash - prefix) : 0;
    int dfd, rc;

    if (prefix[0] == '/') /* no key starts with '/' */
        return 0;
    noa_buf_append(&w.path, prefix, slash ? dlen + 1 : 0);
    if (dlen) {
        noa_buf_cstr(&w.path);
        w.path.data[dlen] = 0; /* the directory part alone, for validation and openat */
        if (!noa_chunkstore_key_valid(w.path.data)) {
            noa_buf_fini(&w.path);
            return NOA_EINVAL;
        }
    }
    dfd = openat(ds->root_fd, dlen ? w.path.data : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (slash)
        w.path.data[dlen] = '/';
    if (dfd < 0) {
        rc = errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
        noa_buf_fini(&w.path);
        return rc;
    }
    rc = walk_dir(&w, dfd, slash ? slash + 1 : prefix);
    noa_buf_fini(&w.path);
    return rc;
}

static void dir_free(struct noa_chunkstore *cs)
{
    struct dir_store *ds = (struct dir_store *)cs;
    close(ds->root_fd);
    noa_free(ds);
}

static const struct noa_chunkstore_ops dir_ops = {
    .name = "dir",
    .put = dir_put,
    .get = dir_get,
    .get_range = dir_get_range,
    .del = dir_del,
    .list = dir_list,
    .free = dir_free,
};

/* mkdir -p for the root itself (an ordinary path, absolute or relative). */
static int mkdir_p(const char *path)
{
    char *buf = noa_xstrdup(path);
    int rc = 0;
    for (char *p = buf + 1; rc == 0; p++) {
        if (*p != '/' && *p != 0)
            continue;
        char c = *p;
        *p = 0;
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            rc = -errno;
        *p = c;
        if (c == 0)
            break;
    }
    noa_free(buf);
    return rc;
}

int noa_chunkstore_dir_new(const char *root, struct noa_chunkstore **out, struct noa_error *err)
{
    struct dir_store *ds = NULL;
    int rc;

    *out = NULL;
    if (!root || !root[0])
        return noa_error_set(err, NOA_EINVAL, "chunk store: empty directory name");
    rc = mkdir_p(root);
    if (rc < 0)
        return noa_error_set(err, rc, "chunk store: cannot create %s: %s", root, noa_strerror(rc));
    ds = noa_xcalloc(1, sizeof(*ds));
    ds->base.ops = &dir_ops;
    ds->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ds->root_fd < 0) {
        rc = noa_error_set(err, -errno, "chunk store: cannot open %s: %s", root, strerror(errno));
        goto fail;
    }
    *out = &ds->base;
    return 0;

fail:
    noa_free(ds);
    return rc;
}
