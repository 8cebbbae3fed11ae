/*
 * Prometheus relabelling (`relabel_configs`) over a shipper label set, with
 * Prometheus's semantics and validation (model/relabel in Prometheus 2.x/3.x
 * with legacy label-name validation, which is what Promtail in Loki 3.x
 * vendors).
 *
 * A rule list is parsed once from YAML (a sequence of maps with the keys
 * source_labels, separator, target_label, regex, modulus, replacement,
 * action), validated, and then applied to label sets at discovery time
 * (every target_config.sync_period), not per line.
 *
 * Semantics, as Prometheus:
 *  - defaults: separator ";", regex "(.*)", replacement "$1", action replace;
 *  - regex is fully anchored and dot matches newline: "^(?s:<regex>)$",
 *    Go (RE2) syntax through common/regex.h;
 *  - the source value is the source labels' values (missing = "") joined by
 *    separator;
 *  - replacement and target_label (replace action) are expanded as Go's
 *    Regexp.Expand: $1, ${1}, $name, ${name}, $$ for a literal $; a
 *    reference to a missing group expands to "", a malformed $ stays as is
 *    (names are ASCII letters, digits and '_', longest match: "$1x" is
 *    the group named "1x");
 *  - setting a label to "" deletes it;
 *  - actions: replace, keep, drop, hashmod (last 8 bytes of the MD5 of the
 *    value, big-endian, modulo modulus), labelmap, labeldrop, labelkeep,
 *    lowercase, uppercase, keepequal, dropequal (action names are
 *    case-insensitive).
 *
 * Compiled rules are immutable and may be shared between threads; applying
 * them touches only the caller's label set and scratch.
 */
#ifndef NOA_SHIPPER_RELABEL_H
#define NOA_SHIPPER_RELABEL_H

#include "common/buf.h"
#include "common/err.h"
#include "common/regex.h"
#include "common/yaml.h"
#include "shipper/kvlist.h"

#include <stdint.h>

enum noa_relabel_action {
    NOA_RELABEL_REPLACE = 0,
    NOA_RELABEL_KEEP,
    NOA_RELABEL_DROP,
    NOA_RELABEL_HASHMOD,
    NOA_RELABEL_LABELMAP,
    NOA_RELABEL_LABELDROP,
    NOA_RELABEL_LABELKEEP,
    NOA_RELABEL_LOWERCASE,
    NOA_RELABEL_UPPERCASE,
    NOA_RELABEL_KEEPEQUAL,
    NOA_RELABEL_DROPEQUAL,
};

/* One rule; every field read-only once compiled. */
struct noa_relabel_rule {
    enum noa_relabel_action action;
    char **source_labels; /* owned */
    uint32_t n_source;
    int has_source;          /* source_labels was given (even as []) */
    char *separator;         /* owned; ";" by default */
    char *target_label;      /* owned; "" when absent */
    char *regex_text;        /* owned; the pattern as written, "(.*)" by default */
    struct noa_regex *regex; /* owned; "^(?s:" regex_text ")$" */
    uint64_t modulus;
    char *replacement; /* owned; "$1" by default */
};

struct noa_relabel {
    struct noa_relabel_rule *v; /* read-only */
    uint32_t n;                 /* read-only */
};

/*
 * Parses and validates a relabel_configs sequence (seq NULL or YAML null:
 * an empty rule list). Unknown keys, bad types, unknown actions, invalid
 * label names, regexes Go rejects and the field combinations Prometheus
 * refuses (e.g. "relabel configuration for hashmod requires non-zero
 * modulus") fail with NOA_EINVAL and "file:line:col: ..." in err. *out
 * belongs to the caller (noa_relabel_free).
 */
int noa_relabel_parse(const struct noa_yaml_node *seq, struct noa_relabel **out,
                      struct noa_error *err);

/* Frees the rules; NULL is a no-op. */
void noa_relabel_free(struct noa_relabel *r);

/* Reusable working memory for noa_relabel_apply, so relabelling every
 * entry of a journal or push receiver allocates nothing once warmed up.
 * Zero-initialise; one per thread; _fini releases it. */
struct noa_relabel_scratch {
    struct noa_buf val, tmp, snap; /* private */
    long *ovec;                    /* private */
    int ovec_pairs;                /* private */
};
void noa_relabel_scratch_fini(struct noa_relabel_scratch *s);

/* noa_relabel_process with caller-owned scratch (the per-entry form). */
int noa_relabel_apply(const struct noa_relabel *r, struct noa_kvlist *labels,
                      struct noa_relabel_scratch *s);

/*
 * Applies the rules in order to labels, in place. Returns 1 when the label
 * set is kept, 0 when a keep/drop/keepequal/dropequal rule dropped it (the
 * labels are then left as they were at that point). r may be NULL (keep,
 * nothing changes). Labels whose value becomes "" are removed.
 */
int noa_relabel_process(const struct noa_relabel *r, struct noa_kvlist *labels);

/*
 * Go's Regexp.Expand: appends tmpl with $-references replaced by groups of
 * a match of re over subject. ovec holds npairs (begin, end) offsets as
 * noa_regex_find fills them (-1 for a group that did not take part).
 */
void noa_relabel_expand(const struct noa_regex *re, struct noa_str tmpl, struct noa_str subject,
                        const long *ovec, int npairs, struct noa_buf *out);

/* 1 when name is a valid Prometheus (legacy) label name [a-zA-Z_][a-zA-Z0-9_]*. */
int noa_relabel_valid_name(const char *name, size_t len);

/* The action's YAML name ("replace", "labelmap", ...). */
const char *noa_relabel_action_name(enum noa_relabel_action a);

/*
 * Appends the rules as YAML for -print-config-stderr: a block sequence,
 * each line prefixed by `indent` spaces, every field written out (defaults
 * included) as Promtail prints them. Nothing is written for an empty list.
 */
void noa_relabel_print(const struct noa_relabel *r, int indent, struct noa_buf *out);

#endif
