/*
 * The PCRE2 adapter: compiled regexes with JIT and match limits, so a user's
 * pathological pattern cannot stall a thread, restricted to Go's syntax and
 * meaning (Loki's regexes are Go's; see regex.c). Compiled patterns are
 * immutable and shareable; matching allocates per-thread match data, freed
 * when the thread exits.
 */
#ifndef NOA_COMMON_REGEX_H
#define NOA_COMMON_REGEX_H

#include "common/buf.h"
#include "common/err.h"

#include <stdatomic.h>

struct noa_regex;

/* Matches abandoned at the backtracking limit (counted as no match), over
 * the process's life: exported on /metrics. */
extern atomic_ullong noa_regex_limit_hits;

enum {
    NOA_REGEX_ANCHORED = 1, /* the whole subject must match (Prometheus label matchers) */
    NOA_REGEX_CASELESS = 2,
};

/* Compiles pattern in Go's syntax; what Go rejects (lookaround,
 * backreferences, possessive repeats...) fails with Go's message. */
int noa_regex_compile(const char *pattern, size_t len, int flags, struct noa_regex **out,
                      struct noa_error *err);
void noa_regex_free(struct noa_regex *re);
/* 1 match, 0 no match; a match-limit hit counts as no match. */
int noa_regex_match(const struct noa_regex *re, const char *subject, size_t len);
/* 1 when the pattern is a plain literal (no metacharacters); *lit gets it. */
int noa_regex_literal(const struct noa_regex *re, struct noa_str *lit);

/* Number of capture groups (not counting the whole match). */
unsigned noa_regex_groups(const struct noa_regex *re);
/* 1 when group idx (1-based) has a name; *name gets it (borrowed from re). */
int noa_regex_group_name(const struct noa_regex *re, unsigned idx, struct noa_str *name);
/* Leftmost match with captures: groups[0] is the whole match, groups[i]
 * capture i; a group that did not take part is {NULL, 0}. ngroups is the
 * array size (groups beyond it are not reported). 1 match, 0 no match. */
int noa_regex_exec(const struct noa_regex *re, const char *subject, size_t len,
                   struct noa_str *groups, unsigned ngroups);

/* Finds the first match of re in subject[0..len) starting at byte `start`
 * (lookbehind may see bytes before it). Fills ovec with up to nvec
 * (begin, end) byte-offset pairs, group 0 first; unset groups get -1.
 * Returns the number of pairs filled (>= 1) on a match, 0 when there is no
 * match or a match limit was hit. Allocates nothing after the first call
 * on a thread. */
int noa_regex_find(const struct noa_regex *re, const char *subject, size_t len, size_t start,
                   long *ovec, int nvec);

/* The number of the capture group called name, or -1 when there is none. */
int noa_regex_group_index(const struct noa_regex *re, const char *name, size_t len);

#endif
