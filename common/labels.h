/*
 * Label sets: parsing Prometheus label text, the canonical form, hashing,
 * and Loki's validation rules for stream labels.
 *
 * A stream's identity is its sorted label set; its canonical text is
 * `{a="1", b="2"}` (names sorted, values Go-quoted, ", " between pairs), as
 * Loki prints it. The fingerprint is XXH3-64 over name\xff value\xff pairs.
 * Pure functions; any thread.
 */
#ifndef NOA_COMMON_LABELS_H
#define NOA_COMMON_LABELS_H

#include "common/buf.h"
#include "common/err.h"

#include <stdint.h>

struct noa_label {
    struct noa_str name;
    struct noa_str value;
};

struct noa_labels {
    struct noa_label *v; /* owned by whoever built it (arena or heap) */
    uint32_t n;
};

/*
 * Parses `{a="b", c="d"}` (Loki's push label syntax: a selector with `=`
 * matchers only; values in double quotes or backquotes with Go escapes).
 * Strings borrow from `text` unless unescaping was needed, in which case
 * they live in `arena`. The result is sorted by name; pairs with an empty
 * value are dropped (as Loki does). Duplicate names are kept, next to each
 * other: whether they are an error, and how it is worded, is the caller's
 * (push validation rejects that one stream, as Loki does). Values are
 * not checked for UTF-8 here either; validation does that too.
 * Returns 0, or NOA_EINVAL with err->msg as Loki words it.
 */
int noa_labels_parse(struct noa_str text, struct noa_arena *arena, struct noa_labels *out,
                     struct noa_error *err);

/* Decodes the Go string literal ("..." with escapes, or `raw`) starting at
 * text[*pos] (on the opening quote) into out, and moves *pos past the
 * closing quote. Returns 0 or NOA_EINVAL. */
int noa_labels_unquote(const char *text, size_t len, size_t *pos, struct noa_buf *out);

/* Sorts pairs by name (stable). */
void noa_labels_sort(struct noa_labels *ls);

/* Appends the canonical text `{a="1", b="2"}` (pairs must be sorted). */
void noa_labels_format(const struct noa_labels *ls, struct noa_buf *out);

/* 64-bit fingerprint of a sorted label set. */
uint64_t noa_labels_hash(const struct noa_labels *ls);

/* The value of `name`, or a {NULL,0} slice when absent. */
struct noa_str noa_labels_get(const struct noa_labels *ls, struct noa_str name);

/* 1 when s is a valid Prometheus label name [a-zA-Z_][a-zA-Z0-9_]*. */
int noa_label_name_valid(struct noa_str s);

/* Appends s as a Go-quoted string ("..." with \" \\ \n \t \r escapes), as
 * Prometheus prints label values. */
void noa_buf_put_go_quoted(struct noa_buf *b, struct noa_str s);

/* Deep copy of ls into one heap block (free with noa_free(copy.v)). */
struct noa_labels noa_labels_dup(const struct noa_labels *ls);

/* Compares two sorted label sets: <0, 0, >0, ordering by pairs. */
int noa_labels_cmp(const struct noa_labels *a, const struct noa_labels *b);

#endif
