/*
 * Path globs with Promtail's (bmatcuk/doublestar) syntax, for `__path__`
 * and `__path_exclude__`: matching a path against a pattern, and expanding
 * a pattern by walking only the directories it can reach.
 *
 * Syntax (a pattern is matched against a whole path, '/' separated):
 *   *       any run of characters except '/'
 *   ?       one character except '/'
 *   [abc] [a-z] [!a] [^a]   one character (not '/') in / not in the class
 *   {a,b}   either alternative; alternatives may hold any syntax, even '/',
 *           and nest ({a,{b,c}}); at most NOA_GLOB_MAX_ALTS expansions
 *   **      as a whole path component: zero or more directories
 *           (pattern "a" "/" "**" matches "a" and everything below it); elsewhere it is '*'
 *   \x      the character x itself
 * As doublestar, '*' also matches names that start with '.'.
 *
 * Expansion: a pattern is split into components; leading literal
 * components are joined and never listed; a wildcard component lists its
 * one directory; `**` walks the tree below it (symbolic links to
 * directories are not followed by `**`, so a link loop cannot spin; a link
 * named by a literal or wildcard component is followed, as
 * the Kubernetes /var/log/containers links need). Every directory that was listed is
 * reported so the caller can watch it with inotify.
 *
 * Owns only the compiled pattern. Pure; any thread (a compiled glob is
 * read-only after _new, so threads may share it).
 */
#ifndef NOA_SHIPPER_GLOB_H
#define NOA_SHIPPER_GLOB_H

#include "common/err.h"

#include <stddef.h>

/* Brace expansions per pattern ({a,b}{c,d} is 4). */
#define NOA_GLOB_MAX_ALTS 256
/* Longest pattern accepted. */
#define NOA_GLOB_MAX_PATTERN 4096
/* Deepest directory walk under a `**`. */
#define NOA_GLOB_MAX_DEPTH 64

struct noa_glob;

/*
 * Compiles pattern. Returns 0, or NOA_EINVAL (err: unbalanced '[' or '{',
 * empty class, trailing '\', too many brace alternatives, too long).
 * *out belongs to the caller (noa_glob_free).
 */
int noa_glob_new(const char *pattern, struct noa_glob **out, struct noa_error *err);
void noa_glob_free(struct noa_glob *g);

/* The pattern as given (borrowed for the life of g). */
const char *noa_glob_pattern(const struct noa_glob *g);

/* 1 when the whole of path[0..len) matches g, else 0. */
int noa_glob_match(const struct noa_glob *g, const char *path, size_t len);

/* One-shot match of a pattern string; 0/1, or NOA_EINVAL for a bad pattern. */
int noa_glob_match_str(const char *pattern, const char *path);

/* 1 when the pattern has no wildcard at all (a plain path). */
int noa_glob_is_literal(const struct noa_glob *g);

/* What expansion reports. Callbacks return 0 to go on, non-zero to stop
 * (expansion then returns that value). Paths are borrowed for the call. */
struct noa_glob_walk {
    /* a matching path that is not a directory (a regular file, or a link to one) */
    int (*on_file)(void *ud, const char *path);
    /* a directory that was listed (may be NULL): watch it for new names */
    int (*on_dir)(void *ud, const char *path);
    void *ud;
};

/*
 * Expands g against the file system: on_file for every matching
 * non-directory path (each path once per call, even when several brace
 * alternatives match it), on_dir for every directory listed. Missing or
 * unreadable directories are skipped silently (a pod directory may vanish
 * while it is walked). Returns 0 or the first non-zero callback value.
 */
int noa_glob_expand(const struct noa_glob *g, const struct noa_glob_walk *w);

#endif
