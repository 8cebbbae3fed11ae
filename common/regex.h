/*
 * The PCRE2 adapter: compiled regexes with JIT and match limits, so a user's
 * pathological pattern cannot stall a thread. Compiled patterns are
 * immutable and shareable; matching allocates per-thread match data.
 */
#ifndef NOA_COMMON_REGEX_H
#define NOA_COMMON_REGEX_H

#include "common/buf.h"
#include "common/err.h"

struct noa_regex;

enum {
    NOA_REGEX_ANCHORED = 1, /* the whole subject must match (Prometheus label matchers) */
    NOA_REGEX_CASELESS = 2,
};

/* Compiles pattern (RE2/Go syntax as far as PCRE2 agrees). */
int noa_regex_compile(const char *pattern, size_t len, int flags, struct noa_regex **out,
                      struct noa_error *err);
void noa_regex_free(struct noa_regex *re);
/* 1 match, 0 no match; a match-limit hit counts as no match. */
int noa_regex_match(const struct noa_regex *re, const char *subject, size_t len);
/* 1 when the pattern is a plain literal (no metacharacters); *lit gets it. */
int noa_regex_literal(const struct noa_regex *re, struct noa_str *lit);

#endif
