/*
 * Label filters of a LogQL pipeline (`| status >= 400 and method="GET"`):
 * string matchers, numeric / duration / bytes comparisons with Loki's
 * conversion rules, ip("...") matches, and and/or trees
 * (pkg/logql/log/label_filter.go). Also Go's duration, float and
 * humanize-bytes parsers, which the LogQL parser needs for literals.
 *
 * A filter tree is built once per query and is immutable afterwards; the
 * LogQL engine fills the options from its AST. Evaluation reads and may
 * write the error pair of the line's struct noa_lbuilder.
 */
#ifndef NOA_COMMON_LABELFILTER_H
#define NOA_COMMON_LABELFILTER_H

#include "common/buf.h"
#include "common/err.h"
#include "common/lbuilder.h"
#include "common/selector.h"

#include <stdint.h>

enum noa_labelfilter_kind {
    NOA_LABELFILTER_STRING = 0,   /* name (=|!=|=~|!~) "value" */
    NOA_LABELFILTER_NUMBER = 1,   /* name cmp 3.5 */
    NOA_LABELFILTER_DURATION = 2, /* name cmp 250ms */
    NOA_LABELFILTER_BYTES = 3,    /* name cmp 20KB */
    NOA_LABELFILTER_IP = 4,       /* name (=|!=) ip("...") */
    NOA_LABELFILTER_AND = 5,      /* both sides always evaluated */
    NOA_LABELFILTER_OR = 6,       /* short-circuits */
};

enum noa_labelfilter_cmp {
    NOA_LABELFILTER_EQ = 0, /* == and = */
    NOA_LABELFILTER_NE = 1,
    NOA_LABELFILTER_GT = 2,
    NOA_LABELFILTER_GE = 3,
    NOA_LABELFILTER_LT = 4,
    NOA_LABELFILTER_LE = 5,
};

/* A leaf's description (and/or nodes are built with noa_labelfilter_bin). */
struct noa_labelfilter_opts {
    enum noa_labelfilter_kind kind;
    struct noa_str name;          /* the label */
    enum noa_match_type match;    /* STRING */
    struct noa_str value;         /* STRING: the value or regex; IP: the pattern */
    enum noa_labelfilter_cmp cmp; /* NUMBER, DURATION, BYTES; IP: EQ or NE only */
    double number;                /* NUMBER */
    int64_t duration_ns;          /* DURATION */
    uint64_t bytes;               /* BYTES */
};

struct noa_labelfilter; /* private */

/* Builds a leaf. NOA_EINVAL for a bad regex, a bad ip pattern, or an ip
 * filter with another operator than = / !=. */
int noa_labelfilter_new(const struct noa_labelfilter_opts *opts, struct noa_labelfilter **out,
                        struct noa_error *err);
/* An and/or node; takes ownership of left and right (never NULL). */
struct noa_labelfilter *noa_labelfilter_bin(enum noa_labelfilter_kind and_or,
                                            struct noa_labelfilter *left,
                                            struct noa_labelfilter *right);
void noa_labelfilter_free(struct noa_labelfilter *f);

/* 1 keeps the line, 0 drops it. A value that does not convert keeps the
 * line and sets __error__=LabelFilterErr (with the Go error text as
 * details) unless an error is already set. */
int noa_labelfilter_eval(const struct noa_labelfilter *f, struct noa_lbuilder *lb);

/* Calls cb with the label name and kind of every leaf of f, left to
 * right (repeats included): the names the filter reads. Only a STRING
 * leaf named __error__ and an IP leaf (which keeps any line with an
 * error) decide by the error pair. */
void noa_labelfilter_names(const struct noa_labelfilter *f,
                           void (*cb)(void *ctx, struct noa_str name,
                                      enum noa_labelfilter_kind kind),
                           void *ctx);

/* Go strconv.ParseFloat(s, 64). 0, or NOA_EINVAL with Go's error text in
 * err->msg (`strconv.ParseFloat: parsing "x": invalid syntax`). */
int noa_labelfilter_parse_float(struct noa_str s, double *out, struct noa_error *err);
/* Go time.ParseDuration: units ns us µs ms s m h, sign, fractions. */
int noa_labelfilter_parse_duration(struct noa_str s, int64_t *ns, struct noa_error *err);
/* humanize.ParseBytes (common/humanize.h): "3 kB", "3mb", "1.5GiB", "42". */
int noa_labelfilter_parse_bytes(struct noa_str s, uint64_t *out, struct noa_error *err);

#endif
