/*
 * The field detection behind Loki's /detected_fields and
 * /detected_field/<name>/values (pkg/querier/queryrange/detected_fields.go):
 * a collector fed the sampled entries of a log query, one at a time, in
 * Loki's visiting order (streams by label text, entries newest first).
 * For each entry it records the structured metadata, the labels the
 * query's own parsers produced, and the fields found by trying `| json`
 * and then `| logfmt` on the line, with Loki's type inference
 * (querier/fieldtype.h), parser list and, for JSON fields, the path of
 * original keys. Cardinality is exact over the sample (Loki estimates it
 * with a HyperLogLog sketch, which is exact at these sizes in practice).
 *
 * Pure: no I/O. One collector belongs to one thread.
 */
#ifndef NOA_QUERIER_DETECTED_H
#define NOA_QUERIER_DETECTED_H

#include "common/buf.h"
#include "common/labels.h"

#include <stdint.h>

struct noa_detected_options {
    uint32_t limit;   /* Loki's `limit`: fields (or values) kept; > 0 */
    const char *name; /* NULL: detect fields; else list this field's values */
};

struct noa_detected;

/* Creates a collector (options copied). Returns 0 or NOA_EINVAL (limit 0). */
int noa_detected_new(const struct noa_detected_options *opts, struct noa_detected **out);
void noa_detected_free(struct noa_detected *d);

/*
 * Feeds one sampled entry. stream: the entry's stream labels only (no
 * metadata, no parsed labels); meta: its structured metadata; parsed: the
 * labels the query's pipeline extracted (error labels are ignored). All
 * borrowed for the call only.
 */
void noa_detected_add(struct noa_detected *d, const struct noa_labels *stream,
                      const struct noa_label *meta, uint32_t n_meta, const struct noa_label *parsed,
                      uint32_t n_parsed, struct noa_str line);

/*
 * Appends Loki's JSON answer and a newline. Fields mode:
 * {"fields":[{"label":..,"type":..,"cardinality":N,"parsers":[..]|null
 * [,"jsonPath":[..]]}],"limit":N}; values mode: {"limit":N,"values":[..]};
 * both {} when nothing was found. Fields and values are sorted bytewise
 * (Loki's order is that of a Go map, i.e. arbitrary).
 */
void noa_detected_encode(const struct noa_detected *d, struct noa_buf *out);

/* How many fields (or values) were collected. */
size_t noa_detected_count(const struct noa_detected *d);

#endif
