/*
 * Alert state that survives restarts. noa keeps no TSDB of its own for rule
 * results, so where Prometheus writes ALERTS_FOR_STATE series, the ruler
 * writes, per tenant and rule group, a small file with the group's alerts
 * (labels, annotations, state, activeAt, firedAt, resolvedAt, last sent)
 * and the evaluation time it was taken at. At start the file is read back
 * and, after the group's first evaluation, applied with Prometheus's
 * RestoreForState rules (noa_ruler_alerts_restore).
 *
 * File: <dir>/<16 hex digits>.state, the digits an FNV-1a 64 hash of
 * tenant \0 namespace \0 group (names are stored inside and checked, so a
 * collision reads as "no state"). Written atomically (tmp, fsync, rename,
 * directory fsync) by the ruler thread only.
 *
 * Format (integers are LEB128 varints, "zz" = zigzag signed; strings are a
 * uvarint length then the bytes):
 *
 *   offset size  meaning
 *   0      8     magic "NOARST01"
 *   8      4     CRC-32C (Castagnoli) of every byte from offset 12 to the
 *                end, big-endian
 *   12     ...   body:
 *                  string tenant, string namespace, string group
 *                  zz     saved_ns (Unix ns of the evaluation written)
 *                  uvar   n_rules, then per rule:
 *                    uvar   index of the rule in its group
 *                    string rule name
 *                    uvar   n_alerts, then per alert:
 *                      uvar  state (0 inactive, 1 pending, 2 firing)
 *                      zz    active_at, fired_at, resolved_at, last_sent,
 *                            valid_until, keep_firing_since (Unix ns)
 *                      8     value, IEEE 754 double, big-endian bits
 *                      uvar  n_labels, then per label: string name, value
 *                      uvar  n_annotations, then the same
 *
 * Counts and lengths are checked against the bytes left before anything is
 * allocated; a file over NOA_RULER_STATE_MAX_BYTES is refused.
 */
#ifndef NOA_QUERIER_RULER_STATE_H
#define NOA_QUERIER_RULER_STATE_H

#include "common/buf.h"
#include "common/err.h"
#include "querier/ruler_alerts.h"

#include <stdint.h>

#define NOA_RULER_STATE_MAX_BYTES (64u << 20)

struct noa_ruler_state_rule {
    unsigned index;                 /* the rule's position in its group */
    char *name;                     /* owned (borrowed when encoding) */
    struct noa_ruler_alerts alerts; /* owned after decode; borrowed when encoding */
};

struct noa_ruler_state {
    char *tenant, *ns, *group; /* owned after decode; borrowed when encoding */
    int64_t saved_ns;
    struct noa_ruler_state_rule *rules;
    unsigned n_rules;
};

/* Appends the file image of s (format above). */
void noa_ruler_state_encode(const struct noa_ruler_state *s, struct noa_buf *out);

/* Reads a file image into s (zeroed first; owns everything after success).
 * Returns 0 or NOA_ECORRUPT with err saying what and at which offset. */
int noa_ruler_state_decode(const void *p, size_t n, struct noa_ruler_state *s,
                           struct noa_error *err);

/* Frees what _decode made. Only for decoded states. */
void noa_ruler_state_fini(struct noa_ruler_state *s);

/* Appends the file path of (tenant, ns, group) under dir. */
void noa_ruler_state_path(const char *dir, const char *tenant, const char *ns, const char *group,
                          struct noa_buf *out);

/* Writes s atomically to its path under dir, creating dir if needed.
 * Returns 0 or -errno with err set. */
int noa_ruler_state_save(const char *dir, const struct noa_ruler_state *s, struct noa_error *err);

/* Reads the state of (tenant, ns, group). Returns 0, NOA_ENOTFOUND (no
 * file, or one for another group with the same hash), NOA_ECORRUPT or
 * -errno, with err set on failures other than NOA_ENOTFOUND. */
int noa_ruler_state_load(const char *dir, const char *tenant, const char *ns, const char *group,
                         struct noa_ruler_state *s, struct noa_error *err);

/* Removes the state file of (tenant, ns, group); a missing one is fine. */
int noa_ruler_state_remove(const char *dir, const char *tenant, const char *ns,
                           const char *group);

#endif
