/*
 * JMESPath expressions over JSON documents, the subset Promtail users rely
 * on in the `json` stage's `expressions`: identifiers and "quoted"
 * identifiers, sub-expressions a.b, index [0] / [-1], slices [a:b:c],
 * projections [*] and .*, flatten [], filters [?a=='b'] (comparators
 * == != < <= > >=, && || !, literals `...` and 'raw strings'), pipes,
 * multiselect lists [a, b] and hashes {x: a, y: b}, @, and the functions
 * length, keys, values, to_string, join, contains, starts_with,
 * ends_with, min, max, sort, type, not_null.
 *
 * Documents are parsed as Go's encoding/json does for Promtail (every
 * number is a float64). A result is rendered as Promtail stores it in the
 * extracted map: a string as its text, a number as Go's FormatFloat(f,
 * 'f', -1, 64), a bool as true/false, objects and arrays as Go's
 * json.Marshal prints them (compact, keys sorted, <>& escaped).
 *
 * A compiled expression is immutable and may be shared by threads; a
 * document belongs to the thread that parsed it. The JSON library
 * (jansson) stays inside jmespath.c.
 */
#ifndef NOA_SHIPPER_JMESPATH_H
#define NOA_SHIPPER_JMESPATH_H

#include "common/buf.h"
#include "common/err.h"

#include <stddef.h>

/* Longest expression accepted, and deepest nesting while parsing. */
#define NOA_JMESPATH_MAX_LEN 4096
#define NOA_JMESPATH_MAX_DEPTH 64

struct noa_jmespath;      /* a compiled expression */
struct noa_jmespath_doc;  /* a parsed JSON document */

/* Compiles expr[0..len). Returns 0, or NOA_EINVAL with err saying what is
 * wrong and col (1-based) where. */
int noa_jmespath_compile(const char *expr, size_t len, struct noa_jmespath **out,
                         struct noa_error *err);
/* NULL is a no-op. */
void noa_jmespath_free(struct noa_jmespath *q);

/* Parses one JSON value p[0..n) (surrounding whitespace allowed). Returns
 * 0, or NOA_EINVAL with err when it is not valid JSON. */
int noa_jmespath_doc_parse(const char *p, size_t n, struct noa_jmespath_doc **out,
                           struct noa_error *err);
/* 1 when the document's top-level value is an object. */
int noa_jmespath_doc_is_object(const struct noa_jmespath_doc *d);
/* NULL is a no-op. */
void noa_jmespath_doc_free(struct noa_jmespath_doc *d);

/*
 * Evaluates q on d. Returns 1 with the result's text appended to out
 * (rendered as described above; out is not reset), 0 when the result is
 * null (nothing appended), or NOA_EINVAL when evaluation fails (a function
 * given an argument of the wrong type, as JMESPath defines).
 */
int noa_jmespath_eval(const struct noa_jmespath *q, const struct noa_jmespath_doc *d,
                      struct noa_buf *out);

/* 1 when q is a plain field path (a, a.b, "x-y".z): noa_jmespath_scan can
 * evaluate it. */
int noa_jmespath_is_path(const struct noa_jmespath *q);

/*
 * The fast path of the json stage: evaluates n plain field paths (n <= 64)
 * in one pass over the JSON text p[0..len), checking all of it but
 * building no document. For each k, found[k] is 1 when qs[k] gives a value
 * (its text, rendered as noa_jmespath_eval renders it, is
 * out[off[k]..off[k]+vlen[k]), appended to out) and 0 when it gives null.
 * Returns 0; NOA_EINVAL when the text is not a JSON object (exactly when
 * noa_jmespath_doc_parse or noa_jmespath_doc_is_object would say so); or
 * NOA_EUNSUPP when a result is an object or an array, or a path is not
 * plain (then evaluate through a document).
 */
int noa_jmespath_scan(const char *p, size_t len, const struct noa_jmespath *const *qs, size_t n,
                      struct noa_buf *out, size_t *off, size_t *vlen, int *found);

/* Appends s[0..n) as a JSON string literal the way Go's json.Marshal
 * writes one (quotes included; <, >, & and U+2028/9 escaped, invalid UTF-8
 * as \ufffd): what Promtail's pack stage produces. */
void noa_jmespath_quote(struct noa_buf *out, const char *s, size_t n);

#endif
