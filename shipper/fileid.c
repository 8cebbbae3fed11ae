/*
 * File identities (see fileid.h): fstat for device and inode, one pread of
 * the head for the XXH3 fingerprint. Owns no state; any thread.
 */
#include "shipper/fileid.h"

#include "common/buf.h"
#include "common/err.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

/* Reads up to NOA_FILEID_FP_MAX head bytes into buf; *got gets the count.
 * A short read means the file ends there (or shrank since fstat). */
static int read_head(int fd, unsigned char *buf, size_t *got)
{
    size_t n = 0;
    while (n < NOA_FILEID_FP_MAX) {
        ssize_t r = pread(fd, buf + n, NOA_FILEID_FP_MAX - n, (off_t)n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *got = n;
    return 0;
}

static int stat_fd(int fd, struct stat *st)
{
    if (fstat(fd, st) < 0)
        return -errno;
    if (!S_ISREG(st->st_mode))
        return NOA_EINVAL;
    return 0;
}

static void fill(struct noa_fileid *id, const struct stat *st, const unsigned char *head,
                 size_t len)
{
    id->dev = (uint64_t)st->st_dev;
    id->ino = (uint64_t)st->st_ino;
    id->fp_len = (uint32_t)len;
    id->fp = XXH3_64bits(head, len);
}

int noa_fileid_from_fd(int fd, struct noa_fileid *out, uint64_t *size)
{
    struct stat st;
    unsigned char head[NOA_FILEID_FP_MAX];
    size_t got = 0;
    int rc = stat_fd(fd, &st);
    if (rc < 0)
        return rc;
    rc = read_head(fd, head, &got);
    if (rc < 0)
        return rc;
    fill(out, &st, head, got);
    if (size)
        *size = (uint64_t)st.st_size;
    return 0;
}

int noa_fileid_from_path(const char *path, struct noa_fileid *out, uint64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    int rc = noa_fileid_from_fd(fd, out, size);
    close(fd);
    return rc;
}

int noa_fileid_compare(const struct noa_fileid *saved, uint64_t offset, int fd,
                       struct noa_fileid *now, uint64_t *size, enum noa_fileid_verdict *verdict)
{
    struct stat st;
    unsigned char head[NOA_FILEID_FP_MAX];
    size_t got = 0;
    struct noa_fileid cur;
    int rc = stat_fd(fd, &st);
    if (rc < 0)
        return rc;
    rc = read_head(fd, head, &got);
    if (rc < 0)
        return rc;
    fill(&cur, &st, head, got);
    /* The size used below is what the head read saw when the file shrank
     * between fstat and pread; otherwise st_size. */
    uint64_t sz = (uint64_t)st.st_size;
    if (got < NOA_FILEID_FP_MAX && got < sz)
        sz = got;

    /* Does the file still begin with the bytes the saved fingerprint hashed? */
    int head_same = saved->fp_len <= got && XXH3_64bits(head, saved->fp_len) == saved->fp;
    int inode_same = noa_fileid_same_inode(saved, &cur);

    enum noa_fileid_verdict v;
    if (inode_same) {
        if (sz < offset || (!head_same && sz < saved->fp_len))
            v = NOA_FILEID_TRUNCATED;
        else if (!head_same)
            v = NOA_FILEID_DIFFERENT;
        else
            v = sz > offset ? NOA_FILEID_GROWN : NOA_FILEID_SAME;
    } else {
        v = head_same && saved->fp_len >= NOA_FILEID_COPY_MIN ? NOA_FILEID_COPY
                                                               : NOA_FILEID_DIFFERENT;
    }
    if (now)
        *now = cur;
    if (size)
        *size = sz;
    *verdict = v;
    return 0;
}

int noa_fileid_same_inode(const struct noa_fileid *a, const struct noa_fileid *b)
{
    return a->dev == b->dev && a->ino == b->ino;
}

int noa_fileid_equal(const struct noa_fileid *a, const struct noa_fileid *b)
{
    return noa_fileid_same_inode(a, b) && a->fp == b->fp && a->fp_len == b->fp_len;
}

size_t noa_fileid_format(const struct noa_fileid *id, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%" PRIu64 ":%" PRIu64 ":%" PRIu32 ":%016" PRIx64, id->dev,
                     id->ino, id->fp_len, id->fp);
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : (cap ? cap - 1 : 0);
}

/* Parses one decimal field ending at `stop` (or at the end); advances *i. */
static int parse_dec(const char *s, size_t n, size_t *i, char stop, uint64_t *out)
{
    uint64_t v = 0;
    size_t start = *i;
    while (*i < n && s[*i] != stop) {
        unsigned char c = (unsigned char)s[*i];
        if (c < '0' || c > '9' || v > (UINT64_MAX - (c - '0')) / 10)
            return NOA_EINVAL;
        v = v * 10 + (c - '0');
        (*i)++;
    }
    if (*i == start || *i >= n)
        return NOA_EINVAL;
    (*i)++; /* the separator */
    *out = v;
    return 0;
}

int noa_fileid_parse(const char *s, size_t n, struct noa_fileid *out)
{
    uint64_t dev, ino, len, fp = 0;
    size_t i = 0;
    if (parse_dec(s, n, &i, ':', &dev) < 0 || parse_dec(s, n, &i, ':', &ino) < 0 ||
        parse_dec(s, n, &i, ':', &len) < 0 || len > NOA_FILEID_FP_MAX || n - i != 16)
        return NOA_EINVAL;
    for (; i < n; i++) {
        int h = noa_hexval((unsigned char)s[i]);
        if (h < 0)
            return NOA_EINVAL;
        fp = fp << 4 | (uint64_t)h;
    }
    out->dev = dev;
    out->ino = ino;
    out->fp_len = (uint32_t)len;
    out->fp = fp;
    return 0;
}

const char *noa_fileid_verdict_name(enum noa_fileid_verdict v)
{
    switch (v) {
    case NOA_FILEID_SAME:
        return "same";
    case NOA_FILEID_GROWN:
        return "grown";
    case NOA_FILEID_TRUNCATED:
        return "truncated";
    case NOA_FILEID_COPY:
        return "copy";
    case NOA_FILEID_DIFFERENT:
        return "different";
    }
    return "unknown";
}
