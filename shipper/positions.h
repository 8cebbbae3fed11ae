/*
 * The positions file: how far the shipper got in every file (and journal
 * cursor), kept in memory as a map and saved atomically.
 *
 * Owns the in-memory map and the file named by positions.filename. Saves
 * write "<filename>.tmp" in the same directory, fsync it, rename it over
 * the file and fsync the directory, so a crash leaves either the old or the
 * new file, never a torn one; a leftover .tmp is ignored and overwritten.
 *
 * THREAD SAFETY: every function may be called from any thread. An internal
 * mutex guards the map and the dirty flag; a second mutex serialises saves
 * (lock order: save lock, then map lock; the map lock is released before the
 * file I/O, so tailers updating offsets never wait for an fsync). Saving
 * blocks on disk: call noa_positions_save/_tick from a worker, not the loop.
 *
 * Format (YAML; what Promtail writes is a subset, and Promtail reads what
 * noa writes: its strict decoder knows only the `positions` map of string
 * to string, so noa's extras live inside that map under keys no file path
 * has; Promtail's 10 s cleanup drops them as paths that do not exist):
 *
 *   line / key                         value                       meaning
 *   ---------------------------------  --------------------------  -------------------------
 *   "# noa positions v1"  (line 1)     -                           written by noa: the
 *                                                                  checksum line is required
 *   positions:                         map                         the only top-level key
 *     "<path>"                         "<offset>" decimal string   bytes of <path> shipped
 *                                                                  (Promtail's entry)
 *     "cursor-<job>", "journal-<job>"  "<opaque cursor>"           journal/docker cursors,
 *                                                                  kept as text (Promtail's)
 *     "noa-fileid:<path>"              "dev:ino:fp_len:fp16hex"    identity of <path> when
 *                                                                  its offset was saved
 *                                                                  (shipper/fileid.h)
 *     "noa-checksum"  (last line)      "crc32c:<8 hex>"            CRC-32C (Castagnoli) of
 *                                                                  every byte before this
 *                                                                  line, as written
 *
 * noa writes every key and value double-quoted, keys sorted, one entry per
 * line (a key over 1000 bytes in YAML's explicit form `? "key"` / `: "v"`,
 * as implicit keys are limited to 1024 characters), file mode 0600. To edit
 * a noa-written file by hand, delete its first line: the checksum is then
 * no longer required. Loading accepts any YAML Promtail accepts (plain or
 * quoted scalars, any order, `positions:` null or absent, an empty file).
 *
 * Loading, and what is corrupt:
 *  - a missing file is an empty map;
 *  - YAML syntax errors, a root that is not a map, a top-level key other than
 *    `positions`, a non-map `positions`, a non-scalar value, a file over
 *    NOA_POSITIONS_MAX_FILE, or a file starting with noa's header line whose
 *    checksum line is missing or does not match (a torn or damaged write)
 *    make the file corrupt: with ignore_invalid_yaml off, open fails with
 *    NOA_ECORRUPT and err says "file:line:col: why" (the file is left as it
 *    is); with it on, the file is renamed to "<filename>.bak", a warning is
 *    logged, and the map starts empty (and is written at the next save);
 *  - single bad entries in an otherwise good file (an offset that is not a
 *    non-negative decimal, an identity that does not parse, a key over
 *    NOA_POSITIONS_MAX_KEY bytes) are skipped with one warning each.
 */
#ifndef NOA_SHIPPER_POSITIONS_H
#define NOA_SHIPPER_POSITIONS_H

#include "common/buf.h"
#include "common/err.h"
#include "shipper/fileid.h"

#include <stddef.h>
#include <stdint.h>

#define NOA_POSITIONS_DEFAULT_FILENAME "/var/log/positions.yaml"
#define NOA_POSITIONS_DEFAULT_SYNC_PERIOD_NS (10LL * 1000000000LL)
/* A positions file larger than this is corrupt (a million files fit). */
#define NOA_POSITIONS_MAX_FILE (256u << 20)
/* Longest key (a path is at most PATH_MAX) and cursor value accepted. */
#define NOA_POSITIONS_MAX_KEY 4096u
#define NOA_POSITIONS_MAX_CURSOR 65536u

/* The `positions` block of the shipper's configuration (Promtail's keys).
 * All fields public; filename is borrowed for the duration of _open. */
struct noa_positions_config {
    char *filename;             /* positions.filename [/var/log/positions.yaml] */
    int64_t sync_period_ns;     /* positions.sync_period [10s]; <= 0: the default */
    int ignore_invalid_yaml;    /* positions.ignore_invalid_yaml [false] */
    int readonly;               /* -dry-run: load, never write */
};

/* One entry as noa_positions_foreach shows it; every field read-only and
 * borrowed for the duration of the callback. */
struct noa_positions_entry {
    const char *key;           /* a path, or a cursor key ("cursor-..."/"journal-...") */
    size_t key_len;
    const char *cursor;        /* cursor entries: the value; NULL for files */
    uint64_t offset;           /* files: bytes shipped */
    int has_id;                /* files: 1 when id is known (0: from a Promtail file) */
    struct noa_fileid id;
};

struct noa_positions;

/*
 * Loads cfg->filename (see "Loading" above) into a new map, creating the
 * file's directory (mode 0750) when missing unless readonly. Returns 0,
 * NOA_ECORRUPT (ignore_invalid_yaml off; err has file:line:col), -errno
 * when the file cannot be read or the .bak rename fails (err says which).
 * *out belongs to the caller (noa_positions_free).
 */
int noa_positions_open(const struct noa_positions_config *cfg, struct noa_positions **out,
                       struct noa_error *err);

/* Frees the map without saving; NULL is a no-op. */
void noa_positions_free(struct noa_positions *p);

/* Sets cfg to the defaults (filename is a static string, not owned). */
void noa_positions_config_defaults(struct noa_positions_config *cfg);

/*
 * The saved position of a file path. *offset gets the offset; *id (may be
 * NULL) the identity and *has_id (may be NULL) whether one is known.
 * Returns 0, or NOA_ENOTFOUND (no entry, or a cursor entry).
 */
int noa_positions_get(struct noa_positions *p, const char *path, uint64_t *offset,
                      struct noa_fileid *id, int *has_id);

/*
 * Records the offset shipped of path with its identity (id may be NULL:
 * unknown). Returns 0, or NOA_EINVAL when path is empty, longer than
 * NOA_POSITIONS_MAX_KEY, not UTF-8 (YAML cannot carry it), or names a
 * cursor or noa- key.
 */
int noa_positions_set(struct noa_positions *p, const char *path, uint64_t offset,
                      const struct noa_fileid *id);

/* A cursor entry ("cursor-<job>" or "journal-<job>"). *out is a copy the
 * caller frees with noa_free. Returns 0 or NOA_ENOTFOUND. */
int noa_positions_get_cursor(struct noa_positions *p, const char *key, char **out);

/* Records a cursor; key must start with "cursor-" or "journal-", the value
 * must be UTF-8 of at most NOA_POSITIONS_MAX_CURSOR bytes. 0 or NOA_EINVAL. */
int noa_positions_set_cursor(struct noa_positions *p, const char *key, const char *value);

/* Forgets an entry (a file no longer tailed). 0 or NOA_ENOTFOUND. */
int noa_positions_remove(struct noa_positions *p, const char *key);

/* Entries held. */
size_t noa_positions_count(struct noa_positions *p);

/* Calls cb for every entry in key order, under the map lock (cb must not
 * call back into p); stops and returns cb's value when it is non-zero. */
int noa_positions_foreach(struct noa_positions *p,
                          int (*cb)(const struct noa_positions_entry *e, void *arg), void *arg);

/*
 * Writes the file now when anything changed since the last save (force: even
 * when nothing did). A no-op in readonly mode. Returns 0 or -errno (err says
 * which step on which path failed); on failure the file is left as it was
 * and the map stays dirty, so the next save tries again.
 */
int noa_positions_save(struct noa_positions *p, int force, struct noa_error *err);

/*
 * The periodic save: saves when the map is dirty and at least sync_period
 * has passed since the last save (now_ns from noa_clock_mono_ns). Returns as
 * noa_positions_save (0 when nothing was due).
 */
int noa_positions_tick(struct noa_positions *p, int64_t now_ns, struct noa_error *err);

/* Appends the file's bytes as a save would write them to out (tests, /debug). */
void noa_positions_serialize(struct noa_positions *p, struct noa_buf *out);

/*
 * Parses positions-file text into p's map, which must be empty (else
 * NOA_EINVAL). file names the input in messages. Returns 0, or
 * NOA_ECORRUPT with err set as described under "Loading"; skipped entries
 * are counted in *skipped (may be NULL) and logged. For the loader and the
 * fuzz target.
 */
int noa_positions_parse(struct noa_positions *p, const char *text, size_t len, const char *file,
                        size_t *skipped, struct noa_error *err);

/* A new empty map with no file (for noa_positions_parse in tests/fuzzing);
 * saving it fails with NOA_EINVAL. */
struct noa_positions *noa_positions_new_empty(void);

#endif
