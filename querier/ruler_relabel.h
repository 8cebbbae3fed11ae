/*
 * Prometheus relabelling for the ruler's alerts (ruler.alert_relabel_configs):
 * applied to every alert, after the external labels are added, before it
 * is queued for Alertmanager; an alert a `keep`/`drop` step rejects is not
 * sent. Prometheus's semantics (model/relabel): source label values joined
 * by `separator`, `regex` anchored as ^(?s:regex)$ in Go syntax,
 * `replacement` expanded as Go's Regexp.Expand ($1, ${1}, $name, $$).
 *
 * Actions: replace, keep, drop, keepequal, dropequal, hashmod, labelmap,
 * labeldrop, labelkeep, lowercase, uppercase (hashmod with Prometheus's
 * MD5: the digest's last 8 bytes, big-endian, modulo `modulus`). Label
 * names are checked with Prometheus's legacy rules ([a-zA-Z_][a-zA-Z0-9_]*),
 * as Loki's labels are.
 *
 * (The shipper has its own relabelling for Promtail's relabel_configs;
 * the two are to be merged.) Compiled once from the config on the loop
 * thread; read-only afterwards, so any thread may apply it.
 */
#ifndef NOA_QUERIER_RULER_RELABEL_H
#define NOA_QUERIER_RULER_RELABEL_H

#include "common/err.h"
#include "common/yaml.h"
#include "querier/ruler_rules.h"

struct noa_ruler_relabel;

/* Compiles a YAML sequence of relabel configs (NULL or null: no steps, *out
 * gets an empty list). Unknown keys, bad actions, bad regexes and the
 * field combinations Prometheus refuses fail with file:line:col in err
 * (NOA_EINVAL). */
int noa_ruler_relabel_new(const struct noa_yaml_node *list, struct noa_ruler_relabel **out,
                          struct noa_error *err);

/* NULL is a no-op. */
void noa_ruler_relabel_free(struct noa_ruler_relabel *rl);

/* How many steps (0 for NULL). */
unsigned noa_ruler_relabel_len(const struct noa_ruler_relabel *rl);

/*
 * Applies the steps to (*labels)[0..*n): the array and its strings are
 * owned (noa_malloc) and may be replaced, grown or shrunk. On return the
 * labels are sorted by name, with no empty values. Returns 1 to keep the
 * alert, 0 when a step dropped it (the labels are still valid then).
 * rl == NULL keeps everything unchanged (sorted).
 */
int noa_ruler_relabel_apply(const struct noa_ruler_relabel *rl, struct noa_ruler_kv **labels,
                            unsigned *n);

#endif
