/*
 * File target discovery for one scrape config: turns static_configs,
 * file_sd_configs and kubernetes_sd_configs into target groups, runs the
 * scrape config's relabel_configs over each target, and hands back the file
 * targets as Promtail's file target manager makes them:
 *
 *  - discovered labels = the group's labels merged with the target's
 *    (`__address__` = each entry of `targets`, "localhost" when the list is
 *    empty, as Prometheus does; file_sd adds `__meta_filepath`);
 *  - relabelling may drop the target;
 *  - `__host__`, when present, must equal the host name (else dropped,
 *    "wrong_host");
 *  - `__path__` must be present and non-empty (else dropped, "no_path");
 *  - `__path_exclude__` is kept aside; then every label starting with "__"
 *    is removed;
 *  - the target key is "<path>:<labels>[:<exclude>]" with labels in
 *    Prometheus text form, Promtail's identity for a target (two scrape
 *    configs naming one path give two targets, as in Promtail).
 *
 * Kubernetes without an API server: role pod is served from the kubelet's
 * pod log directory, `<pods_dir>/<namespace>_<pod>_<uid>/<container>/`, one
 * target per container directory, with the meta labels Promtail's Helm
 * chart rules read:
 *   __meta_kubernetes_namespace, __meta_kubernetes_pod_name,
 *   __meta_kubernetes_pod_uid, __meta_kubernetes_pod_container_name,
 *   __meta_kubernetes_pod_node_name (env NODE_NAME, else HOSTNAME, else the
 *   kernel host name), __meta_kubernetes_pod_controller_name (guessed: the
 *   pod name without a trailing "-<5 chars>" generateName suffix of
 *   Kubernetes' alphabet, or without a trailing "-<ordinal>" for
 *   StatefulSet-style names; absent otherwise), and
 *   __meta_kubernetes_pod_container_init = "false".
 * Pod labels and annotations cannot be known from the directory, so the
 * chart's `app` falls back to the controller guess or the pod name, and
 * `instance`/`component` are not set. Static (mirror) pods' directories
 * carry the config hash in place of the uid, so the chart's uid-based
 * __path__ glob matches them too. When pods_dir is not /var/log/pods, a
 * relabelled __path__ under /var/log/pods/ is re-rooted under pods_dir, so
 * the chart's rules work unchanged when the host's directory is mounted
 * elsewhere (and in tests). namespaces.names, when given, filters pods.
 *
 * file_sd_configs: each file (JSON or YAML list of {targets, labels}) is
 * re-read when refresh_interval has passed since it was last read; a file
 * that fails to parse keeps its previous groups (logged once per failure),
 * as Prometheus does.
 *
 * A struct noa_discovery belongs to one thread (the lead's discovery
 * thread): noa_discovery_run reads directories and files and blocks on
 * disk, so keep it off the event loop.
 */
#ifndef NOA_SHIPPER_DISCOVERY_H
#define NOA_SHIPPER_DISCOVERY_H

#include "common/err.h"
#include "shipper/kvlist.h"
#include "shipper/shipper_config.h"

#include <stddef.h>
#include <stdint.h>

struct noa_discovery_options {
    const char *pods_dir;  /* NULL: the k8s SD block's pods_dir, else env
                            * NOA_PODS_DIR, else /var/log/pods */
    const char *node_name; /* NULL: env NODE_NAME, else HOSTNAME, else gethostname() */
    const char *hostname;  /* for __host__; NULL: env HOSTNAME, else gethostname() */
};

/* One file target; everything owned by the targets list. */
struct noa_discovery_target {
    char *key;                    /* Promtail's identity "<path>:<labels>[:<exclude>]" */
    char *path;                   /* __path__ (a doublestar glob or a file) */
    char *path_exclude;           /* __path_exclude__, or NULL */
    struct noa_kvlist labels;     /* final labels, none starting with "__",
                                   * sorted by name */
    struct noa_kvlist discovered; /* labels before relabelling (/service-discovery) */
};

struct noa_discovery_targets {
    struct noa_discovery_target *v; /* sorted by key, keys unique */
    size_t n;
    size_t cap; /* private */
    /* Targets dropped in the last run, per reason (Promtail's
     * promtail_targets_failed_total{reason}). */
    size_t dropped_relabel, dropped_no_path, dropped_wrong_host;
};

struct noa_discovery;

/* Prepares discovery for sc (borrowed: it must outlive d). opt may be NULL.
 * Returns 0 or NOA_EINVAL (err says why). */
int noa_discovery_new(const struct noa_shipper_scrape_config *sc,
                      const struct noa_discovery_options *opt, struct noa_discovery **out,
                      struct noa_error *err);
void noa_discovery_free(struct noa_discovery *d);

/*
 * Re-evaluates every SD block (now_ns: noa_clock_mono_ns, for file_sd
 * refresh) and replaces out's contents with the current targets (out must
 * be zeroed or from an earlier run). Problems reading one source (a missing
 * pods dir, an unreadable SD file) are logged and that source contributes
 * nothing new; the call itself returns 0, or NOA_ENOMEM.
 */
int noa_discovery_run(struct noa_discovery *d, int64_t now_ns, struct noa_discovery_targets *out);

/* Releases what out holds and zeroes it. */
void noa_discovery_targets_fini(struct noa_discovery_targets *t);

/*
 * Parses a kubelet pod log path ("<pods_dir>/<ns>_<pod>_<uid>/<container>/
 * <n>.log", or just the pod directory name with the container) into the
 * __meta_kubernetes_* labels above, appended to out. Returns 1 when the
 * directory name has the three parts, 0 otherwise (out untouched). For
 * discovery and for labelling a file the tailer found.
 */
int noa_discovery_pod_labels(const char *pod_dir_name, const char *container, const char *node_name,
                             struct noa_kvlist *out);

#endif
