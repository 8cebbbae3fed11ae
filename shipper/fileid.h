/*
 * A tailed file's identity: device + inode + a fingerprint of its first
 * bytes, so the shipper tells apart what a path alone (Promtail) or an inode
 * alone (Fluent Bit) cannot: a renamed file (same inode, same head), a
 * rotated-in new file (new inode), an inode reused after a delete (same
 * inode, different head), a copy (new inode, same head) and a truncation in
 * place (same inode, shorter than the saved offset or a changed head).
 *
 * The fingerprint is XXH3-64 of the first fp_len bytes, fp_len being
 * min(size, NOA_FILEID_FP_MAX) when it was taken. A file shorter than
 * NOA_FILEID_FP_MAX is fingerprinted again as it grows: comparing hashes the
 * file's first `saved fp_len` bytes, so a grown file still matches its
 * shorter fingerprint, and the identity returned for it covers more bytes.
 *
 * Pure functions over an fd (fstat + one pread); no state. Any thread; they
 * block on I/O, so call them where blocking is allowed (a tailer's thread).
 */
#ifndef NOA_SHIPPER_FILEID_H
#define NOA_SHIPPER_FILEID_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of the file head covered by a full fingerprint (Alloy uses 1 KiB). */
#define NOA_FILEID_FP_MAX 1024u
/* A different inode is taken for a copy of the saved file only when at least
 * this many head bytes match: a shorter head (an empty file, one short
 * header line) is too common to prove anything (Vector #5833). */
#define NOA_FILEID_COPY_MIN 64u
/* Room for noa_fileid_format's text, NUL included. */
#define NOA_FILEID_TEXT_MAX 72

/* All fields public. */
struct noa_fileid {
    uint64_t dev;    /* st_dev */
    uint64_t ino;    /* st_ino */
    uint64_t fp;     /* XXH3-64 of the first fp_len bytes */
    uint32_t fp_len; /* bytes hashed, 0..NOA_FILEID_FP_MAX */
};

/* What a saved identity (with the offset read so far) is to a file now. */
enum noa_fileid_verdict {
    NOA_FILEID_SAME = 0,      /* same inode and head, size == offset: nothing new */
    NOA_FILEID_GROWN = 1,     /* same inode and head, size > offset: resume at offset */
    NOA_FILEID_TRUNCATED = 2, /* same inode, now shorter than the offset or than the
                               * saved head (copytruncate): read from 0 */
    NOA_FILEID_COPY = 3,      /* another inode whose first >= NOA_FILEID_COPY_MIN bytes
                               * equal the saved head (a copy, an atomic replace with
                               * the same content, a device number that changed across
                               * a reboot): the caller may resume at min(offset, size) */
    NOA_FILEID_DIFFERENT = 4, /* another file: a new inode with another head, or the
                               * same inode now holding other bytes while at least as
                               * long as the offset (inode reused after a delete; a
                               * truncation that regrew past the offset): read from 0 */
};

/*
 * Computes the identity of the open file fd (fstat, then pread of the first
 * NOA_FILEID_FP_MAX bytes). *size (may be NULL) receives st_size. Returns 0,
 * -errno from fstat/pread, or NOA_EINVAL when fd is not a regular file.
 */
int noa_fileid_from_fd(int fd, struct noa_fileid *out, uint64_t *size);

/* As noa_fileid_from_fd on a path (opened read-only, closed again). */
int noa_fileid_from_path(const char *path, struct noa_fileid *out, uint64_t *size);

/*
 * Compares a saved identity and the offset read so far with the open file
 * fd as it is now, and sets *verdict (see the enum for the rules). *now
 * receives the file's current identity (fingerprint over up to
 * NOA_FILEID_FP_MAX bytes, so a short file's fingerprint grows) and *size
 * its size; both may be NULL. Returns 0 or as noa_fileid_from_fd.
 */
int noa_fileid_compare(const struct noa_fileid *saved, uint64_t offset, int fd,
                       struct noa_fileid *now, uint64_t *size, enum noa_fileid_verdict *verdict);

/* 1 when a and b name the same inode on the same device. */
int noa_fileid_same_inode(const struct noa_fileid *a, const struct noa_fileid *b);

/* 1 when every field is equal. */
int noa_fileid_equal(const struct noa_fileid *a, const struct noa_fileid *b);

/* "dev:ino:fp_len:fp as 16 lower-case hex digits" into out (cap >=
 * NOA_FILEID_TEXT_MAX); returns the length written (NUL not counted). */
size_t noa_fileid_format(const struct noa_fileid *id, char *out, size_t cap);

/* Parses noa_fileid_format's text s[0..n). Returns 0 or NOA_EINVAL (syntax,
 * overflow, fp_len over NOA_FILEID_FP_MAX). */
int noa_fileid_parse(const char *s, size_t n, struct noa_fileid *out);

/* "same", "grown", "truncated", "copy", "different". */
const char *noa_fileid_verdict_name(enum noa_fileid_verdict v);

#endif
