/*
 * Line filters of a LogQL pipeline: `|= "s"`, `!= "s"`, `|~ "re"`,
 * `!~ "re"`, `|> "pat"`, `!> "pat"`, each with an optional `or` chain, and
 * `|= ip("...")` / `!= ip("...")` operands (pkg/logql/log/filter.go, ip.go).
 *
 * A filter is compiled once per query (regexes simplified to substring
 * searches where Loki does so) and is immutable afterwards: matching
 * allocates nothing and may run on any thread. The IP matcher is also
 * exported for the `label = ip("...")` label filter.
 */
#ifndef NOA_COMMON_LINEFILTER_H
#define NOA_COMMON_LINEFILTER_H

#include "common/buf.h"
#include "common/err.h"

#include <stdint.h>

enum noa_linefilter_op {
    NOA_LINEFILTER_CONTAINS = 0,  /* |= */
    NOA_LINEFILTER_NCONTAINS = 1, /* != */
    NOA_LINEFILTER_REGEX = 2,     /* |~ */
    NOA_LINEFILTER_NREGEX = 3,    /* !~ */
    NOA_LINEFILTER_PATTERN = 4,   /* |> */
    NOA_LINEFILTER_NPATTERN = 5,  /* !> */
};

/* One operand of a filter and its `or` chain. */
struct noa_linefilter_operand {
    struct noa_str value; /* the string literal (already unquoted) */
    int ip;               /* 1 for ip("value"); only with |= and != */
};

struct noa_linefilter_opts {
    enum noa_linefilter_op op;
    const struct noa_linefilter_operand *operands; /* borrowed; operands[0] is the first */
    unsigned n;                                    /* >= 1 */
};

struct noa_linefilter;

/*
 * Compiles one filter stage. With a positive op the operands are ORed;
 * with a negative op the line must match none of them (Loki's rewrite of
 * `!= "a" or "b"`). Errors (NOA_EINVAL, Loki's wording in err->msg): a bad
 * regex, a bad pattern ("named captures are not allowed"), a bad ip
 * pattern ("ip: invalid pattern"), ip with a regex/pattern op ("ip:
 * invalid operation").
 */
int noa_linefilter_new(const struct noa_linefilter_opts *opts, struct noa_linefilter **out,
                       struct noa_error *err);
void noa_linefilter_free(struct noa_linefilter *f);
/* 1 when the line passes (is kept), 0 when it is filtered out. */
int noa_linefilter_match(const struct noa_linefilter *f, const char *line, size_t len);

/* A literal a line must contain for a filter to keep it. */
struct noa_linefilter_literal {
    struct noa_str s; /* borrowed from the filter; lowercase when fold */
    int fold;         /* 1: ASCII case-insensitive (a simplified `(?i)` regex) */
};

/*
 * When f keeps only lines containing one of a set of literals (a positive
 * `|=` with plain operands, or a `|~` regex the filter simplified to
 * literals), writes up to cap of them to out and returns how many there
 * are (more than cap means out is incomplete and unusable). Returns 0 when
 * the filter gives no such guarantee: negative operators, ip(), patterns,
 * real regexes, or an empty literal (which every line contains).
 */
unsigned noa_linefilter_literals(const struct noa_linefilter *f,
                                 struct noa_linefilter_literal *out, unsigned cap);

/* The first occurrence of lit in hay[0..n) (case-folded when lit->fold),
 * or NULL. An empty literal is found at hay. */
const char *noa_linefilter_find(const struct noa_linefilter_literal *lit, const char *hay,
                                size_t n);

/* An ip("...") matcher: single address, CIDR prefix or a-b range. */
struct noa_ipmatch {
    int kind;          /* private: 0 addr, 1 prefix, 2 range */
    int v6;            /* private: family */
    uint8_t lo[16];    /* private: addr / range start / prefix */
    uint8_t hi[16];    /* private: range end */
    unsigned bits;     /* private: prefix length */
};
/* Parses an ip pattern as Go's netip/netipx do; NOA_EINVAL when invalid. */
int noa_linefilter_ip_parse(struct noa_str pattern, struct noa_ipmatch *out,
                            struct noa_error *err);
/* 1 when `text` holds an address inside m (Loki's scanning of IP-like runs). */
int noa_linefilter_ip_find(const struct noa_ipmatch *m, const char *text, size_t len);

/* Case-insensitive (ASCII) substring search; 1 when found. Exported for
 * the other pipeline stages. */
int noa_linefilter_contains_fold(const char *hay, size_t n, const char *needle, size_t m);

#endif
