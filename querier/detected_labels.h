/*
 * The label summary behind Loki's /detected_labels (pkg/querier/querier.go
 * DetectedLabels): the distinct values of every label of the matching
 * streams, then Loki's relevance filter: a label is left out when all its
 * values look like IDs (numbers or UUIDs), unless it has at most two
 * values that are all "0" or "1"; cluster, namespace, instance and pod are
 * always kept. Cardinality is the exact count of distinct values (Loki's
 * HyperLogLog estimate is exact at label-value scales in practice).
 *
 * Pure: no I/O. One collector belongs to one thread.
 */
#ifndef NOA_QUERIER_DETECTED_LABELS_H
#define NOA_QUERIER_DETECTED_LABELS_H

#include "common/buf.h"
#include "common/labels.h"

struct noa_detected_labels;

struct noa_detected_labels *noa_detected_labels_new(void);
void noa_detected_labels_free(struct noa_detected_labels *d);

/* Adds every label of one matching stream (borrowed for the call), but
 * internal `__name__`-style labels. */
void noa_detected_labels_add(struct noa_detected_labels *d, const struct noa_labels *ls);

/* 1 when Loki keeps a label with these distinct values (shouldRejectLabel
 * negated, static labels aside). */
int noa_detected_labels_keep(const struct noa_str *values, size_t n);

/* Appends {"detectedLabels":[{"label":..,"cardinality":N},...]} and a
 * newline, labels in bytewise order (Loki's is a Go map's); {} when no
 * label is kept. */
void noa_detected_labels_encode(const struct noa_detected_labels *d, struct noa_buf *out);

#endif
