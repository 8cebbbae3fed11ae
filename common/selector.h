/*
 * Stream selectors: `{app="api", env=~"prod|staging", level!="debug"}`.
 * Label matchers with Prometheus semantics (regexes are fully anchored,
 * RE2-like syntax run on PCRE2 with JIT and match limits). The full LogQL
 * parser (common/logql*) builds on these matchers.
 * A compiled matcher is immutable and may be shared across threads.
 */
#ifndef NOA_COMMON_SELECTOR_H
#define NOA_COMMON_SELECTOR_H

#include "common/buf.h"
#include "common/err.h"
#include "common/labels.h"

enum noa_match_type {
    NOA_MATCH_EQ = 0,  /* =  */
    NOA_MATCH_NEQ = 1, /* != */
    NOA_MATCH_RE = 2,  /* =~ */
    NOA_MATCH_NRE = 3, /* !~ */
};

struct noa_matcher {
    enum noa_match_type type;
    char *name;            /* owned, NUL-terminated */
    char *value;           /* owned, NUL-terminated (the regex source for RE/NRE) */
    size_t value_len;
    struct noa_regex *re;  /* owned; NULL for EQ/NEQ */
};

struct noa_selector {
    struct noa_matcher *m; /* owned array */
    unsigned n;
};

/*
 * Parses a stream selector at text[*pos...] (whitespace allowed around
 * tokens). On success advances *pos past the closing brace. Errors carry
 * line/col and Loki's wording ("parse error at line 1, col 5: ...").
 * A selector that matches the empty label set (every matcher accepts "")
 * is rejected as Loki does.
 */
int noa_selector_parse(const char *text, size_t len, size_t *pos, struct noa_selector *out,
                       struct noa_error *err);
/* Parses a whole string that must be just one selector. */
int noa_selector_parse_str(const char *text, struct noa_selector *out, struct noa_error *err);
void noa_selector_fini(struct noa_selector *sel);

/* 1 when value satisfies m. A missing label is the empty value. */
int noa_matcher_matches(const struct noa_matcher *m, struct noa_str value);
/* 1 when a sorted label set satisfies every matcher. */
int noa_selector_matches(const struct noa_selector *sel, const struct noa_labels *ls);
/* 1 when m accepts the empty string (it cannot drive an index lookup). */
int noa_matcher_matches_empty(const struct noa_matcher *m);
/* Appends the selector's canonical text. */
void noa_selector_format(const struct noa_selector *sel, struct noa_buf *out);

#endif
