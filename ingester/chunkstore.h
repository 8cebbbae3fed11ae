/*
 * The chunk store: an object-store interface (put / get / get_range /
 * delete / list by key) with pluggable backends, and the directory backend
 * that the embedded default uses (ingester/chunkstore_dir.c). An
 * S3-compatible backend can come later behind the same vtable.
 *
 * Keys are object names such as "fake/00000000000000ab/18bcfe5687b:18bcfe56be8:00c0ffee"
 * (ingester/chunk.h). The dispatch functions here validate every key before
 * a backend sees it, so backends may map keys to paths directly.
 *
 * THREAD SAFETY: a store is shared by flush workers (put), query workers
 * (get, get_range) and retention (list, delete) at once. Every backend must
 * be safe to call from any number of threads concurrently; the directory
 * backend holds no mutable state besides the filesystem. _free must not
 * race with other calls.
 */
#ifndef NOA_INGESTER_CHUNKSTORE_H
#define NOA_INGESTER_CHUNKSTORE_H

#include "common/buf.h"
#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

/* Longest key accepted (bytes, without the NUL). */
#define NOA_CHUNKSTORE_KEY_MAX 1024
/* Largest object get() reads into memory: chunks target 1.5 MiB. */
#define NOA_CHUNKSTORE_MAX_GET (256u << 20)

struct noa_chunkstore;

/*
 * What a backend implements. Keys reaching a backend are already valid
 * (noa_chunkstore_key_valid). Return codes as the dispatch functions below.
 */
struct noa_chunkstore_ops {
    const char *name; /* "dir", "s3", ... for logs and metrics */
    int (*put)(struct noa_chunkstore *cs, const char *key, const void *data, size_t len);
    int (*get)(struct noa_chunkstore *cs, const char *key, struct noa_buf *out);
    int (*get_range)(struct noa_chunkstore *cs, const char *key, uint64_t off, size_t len,
                     struct noa_buf *out);
    int (*del)(struct noa_chunkstore *cs, const char *key);
    int (*list)(struct noa_chunkstore *cs, const char *prefix,
                int (*cb)(const char *key, uint64_t size, void *ctx), void *ctx);
    void (*free)(struct noa_chunkstore *cs);
};

/* The base every backend embeds first. Read-only after creation. */
struct noa_chunkstore {
    const struct noa_chunkstore_ops *ops;
};

/* 1 when key is a valid object key: 1..NOA_CHUNKSTORE_KEY_MAX bytes, '/'-
 * separated non-empty components, none of them "." or ".." or starting with
 * ".noatmp" (reserved for temporary files), no leading or trailing '/', no
 * control bytes and no backslash. */
int noa_chunkstore_key_valid(const char *key);

/*
 * Stores data[0..len) under key, replacing any previous object. When it
 * returns 0 the object is durable and readers see either the old or the new
 * object in full, never a mix. Returns 0, NOA_EINVAL for a bad key, -errno.
 */
int noa_chunkstore_put(struct noa_chunkstore *cs, const char *key, const void *data, size_t len);

/*
 * Reads the whole object into out (replacing its contents). Returns 0,
 * NOA_ENOTFOUND, NOA_EINVAL for a bad key, NOA_ETOOBIG over
 * NOA_CHUNKSTORE_MAX_GET, NOA_ENOMEM, -errno.
 */
int noa_chunkstore_get(struct noa_chunkstore *cs, const char *key, struct noa_buf *out);

/*
 * Reads len bytes at off into out (replacing its contents). A range running
 * past the end returns the bytes that exist (as an S3 range GET does); off
 * at or beyond the end is NOA_EINVAL (S3's 416). len is bounded by NOA_CHUNKSTORE_MAX_GET.
 * Returns as noa_chunkstore_get.
 */
int noa_chunkstore_get_range(struct noa_chunkstore *cs, const char *key, uint64_t off, size_t len,
                             struct noa_buf *out);

/* Deletes key. Not fsynced: a delete lost in a crash is redone by the next
 * retention pass. The dir backend also removes directories the delete left
 * empty. Returns 0, NOA_ENOTFOUND, NOA_EINVAL, -errno. */
int noa_chunkstore_delete(struct noa_chunkstore *cs, const char *key);

/*
 * Calls cb(key, size in bytes, ctx) for every object whose key starts with
 * prefix ("" = all); key is borrowed for the call; cb returns 0 to go on or
 * nonzero to stop, and list then returns that value. Each object is seen
 * once, in no particular order (the dir backend streams directories as
 * the filesystem returns them instead of holding a listing in memory).
 * Objects put or deleted during the walk may or may not be seen; cb may
 * delete the object it was given. prefix need not end at a '/'. Returns 0, the nonzero
 * value cb returned, NOA_EINVAL for a prefix with a control byte, or -errno.
 */
int noa_chunkstore_list(struct noa_chunkstore *cs, const char *prefix,
                        int (*cb)(const char *key, uint64_t size, void *ctx), void *ctx);

/* Releases the store (NULL is a no-op). */
void noa_chunkstore_free(struct noa_chunkstore *cs);

/* --- directory backend (ingester/chunkstore_dir.c) ------------------------ */

/*
 * Opens a store rooted at directory `root`, creating it (and its parents)
 * when missing. Key "a/b/c" lives at root/a/b/c. put writes a temporary
 * file in the target directory, fsyncs it, renames it over the key, then
 * fsyncs the directory (and any directory it created). Returns 0 with *out
 * set, or -errno with err filled.
 */
int noa_chunkstore_dir_new(const char *root, struct noa_chunkstore **out, struct noa_error *err);

#endif
