/*
 * The ruler: evaluates every tenant's rule groups (querier/ruler_rules.h)
 * on a schedule, as instant LogQL metric queries through any struct
 * noa_metric_source, runs alert states (querier/ruler_alerts.h), sends
 * alerts to Alertmanager (querier/ruler_notify.h), remote-writes recording
 * rules (querier/ruler_remote_write.h), and serves Loki's ruler APIs:
 *   GET  /prometheus/api/v1/rules, /prometheus/api/v1/alerts (JSON)
 *   GET  /loki/api/v1/rules[/{namespace}[/{group}]]              (YAML)
 *   POST /loki/api/v1/rules/{namespace}  (create or replace a group)
 *   DELETE /loki/api/v1/rules/{namespace}[/{group}]
 * (and the /api/prom/rules aliases).
 *
 * Alert state is saved per group after evaluations and restored after a
 * restart (querier/ruler_state.h); alerts are queued for Alertmanager and
 * sent by the notifier's own thread (querier/ruler_notify.h), after
 * ruler.alert_relabel_configs (querier/ruler_relabel.h); recording results
 * are queued for every remote-write client, each with its sender thread.
 *
 * THREAD SAFETY: one ruler thread loads rules and evaluates groups; the
 * notifier's and the remote-write clients' sender threads only send what
 * was queued; the HTTP handlers
 * run on the server's loop thread. `mu` guards the loaded
 * groups and every rule's state (alerts, health, timings); the ruler
 * thread holds it only to swap groups and to apply results, never during
 * a query or a send. Rule files are written by the API handlers and read
 * back by the ruler thread (atomic renames), which reloads on
 * poll_interval and right after an API change.
 */
#ifndef NOA_QUERIER_RULER_H
#define NOA_QUERIER_RULER_H

#include "common/buf.h"
#include "common/err.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/logql.h"
#include "querier/metric_source.h"
#include "querier/ruler_relabel.h"
#include "querier/ruler_remote_write.h"
#include "querier/ruler_rules.h"

#include <stdint.h>

/* Where rule queries read logs from: opens a source over one tenant's
 * streams for expression e (the callee may rewrite e's selectors), and
 * closes it after the evaluation. Called on the ruler thread. */
struct noa_ruler_source {
    int (*open_cb)(void *ctx, const char *tenant, struct noa_logql_expr *e,
                   struct noa_metric_source *src, void **handle, struct noa_error *err);
    void (*close_cb)(void *ctx, void *handle);
    void *ctx;
};

struct noa_ruler_options {
    const char *directory;          /* ruler.storage.local.directory (required) */
    const char *alertmanager_url;   /* comma-separated; NULL/"": alerts are not sent */
    const char *external_url;       /* base of generatorURL; NULL: "" */
    int64_t evaluation_interval_ns; /* default group interval; 0 = 1m */
    int64_t poll_interval_ns;       /* rule reload period; 0 = 1m */
    int64_t resend_delay_ns;        /* 0 = 1m (Prometheus's --rules.alert.resend-delay) */
    const char *remote_write_url;   /* NULL/"": recording results are not written */
    int enable_api;                 /* 1: serve the ruler's routes (Loki's ruler.enable_api) */
    int auth_enabled;               /* tenants from X-Scope-OrgID; else "fake" */
    uint32_t max_series;            /* per rule query; 0 = 500 */
    /* ruler.external_labels: added to alerts sent to Alertmanager (copied) */
    const struct noa_ruler_kv *external_labels;
    unsigned n_external_labels;
    struct noa_ruler_source source;
    /* Alert state kept across restarts (querier/ruler_state.h): the
     * directory of the state files (NULL/"": not kept), and Prometheus's
     * restore rules (used as given; 0 means zero). */
    const char *state_dir;
    int64_t for_outage_tolerance_ns; /* ruler.for_outage_tolerance (Loki: 1h) */
    int64_t for_grace_period_ns;     /* ruler.for_grace_period (Loki: 10m) */
    /* Alertmanager notifications (querier/ruler_notify.h): queued and sent
     * by their own thread. */
    unsigned notification_queue_capacity; /* 0 = 10000 */
    int64_t notification_timeout_ns;      /* per POST; 0 = 10 s */
    struct noa_metrics *metrics;          /* where the ruler's counters go; NULL: nowhere */
    /* ruler.alert_relabel_configs (querier/ruler_relabel.h); the ruler takes
     * ownership, also when noa_ruler_new fails. NULL: none. */
    struct noa_ruler_relabel *alert_relabel;
    /* ruler.remote_write.client(s) from noa_ruler_remote_write_configs, sent
     * to besides remote_write_url; the ruler takes ownership of the array
     * (also when noa_ruler_new fails). */
    struct noa_ruler_remote_write_options *remote_write_clients;
    unsigned n_remote_write_clients;
};

struct noa_ruler;

/* Creates a ruler and loads the rules once (bad files are logged and
 * skipped). Returns 0, NOA_EINVAL (no directory, bad URL) or a code. */
int noa_ruler_new(const struct noa_ruler_options *o, struct noa_ruler **out);

/* Starts the ruler thread. */
int noa_ruler_start(struct noa_ruler *r);

/* Stops the thread (if started), lets the notifier and the remote-write
 * clients drain their queues (at most one timeout each) and frees
 * everything; NULL is a no-op. */
void noa_ruler_free(struct noa_ruler *r);

/* Registers the API routes on srv when enable_api (loop thread). */
int noa_ruler_register(struct noa_ruler *r, struct noa_http_server *srv);

/* Reloads rule files now (ruler thread, or before _start). errs (may be
 * NULL) gets the errors of skipped files. Returns how many files failed. */
unsigned noa_ruler_reload(struct noa_ruler *r, struct noa_buf *errs);

/* Evaluates every group once at ts_ns (Unix ns), whatever its schedule,
 * queueing alerts and writing samples as a scheduled evaluation would. For
 * tests with a fake clock; not while the thread runs. */
void noa_ruler_eval_all(struct noa_ruler *r, int64_t ts_ns);

/* Waits until the queued alerts and remote-write requests are sent (or
 * dropped), at most timeout_ms for each queue. Returns 0 or NOA_ETIMEOUT;
 * 0 at once when nothing is configured. For tests. */
int noa_ruler_flush(struct noa_ruler *r, long timeout_ms);

/* ---- API bodies (testable without sockets) ------------------------------------ */

/* Prometheus's rules filters; an empty list matches everything, several
 * values match any of them (file[]=a&file[]=b). */
struct noa_ruler_filter {
    const char *type;                /* NULL, "alert" or "record" */
    const char *const *files;        /* namespaces */
    unsigned n_files;
    const char *const *rule_groups;  /* group names */
    unsigned n_rule_groups;
    const char *const *rule_names;   /* rule names */
    unsigned n_rule_names;
};

/* The /prometheus/api/v1/rules body for tenant. Returns 0, or NOA_EINVAL
 * with the error body already in out (bad type). */
int noa_ruler_rules_json(struct noa_ruler *r, const char *tenant,
                         const struct noa_ruler_filter *f, struct noa_buf *out);

/* The /prometheus/api/v1/alerts body for tenant (pending and firing). */
void noa_ruler_alerts_json(struct noa_ruler *r, const char *tenant, struct noa_buf *out);

/* The YAML of /loki/api/v1/rules[/{ns}[/{group}]] for tenant (ns, group
 * may be NULL) read from the store. Returns 0, or NOA_ENOTFOUND with
 * Loki's message in err. */
int noa_ruler_config_yaml(struct noa_ruler *r, const char *tenant, const char *ns,
                          const char *group, struct noa_buf *out, struct noa_error *err);

#endif
