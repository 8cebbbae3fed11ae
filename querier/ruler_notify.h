/*
 * Alertmanager client of the ruler: encodes alerts as the JSON array
 * Prometheus posts to Alertmanager's v2 API (labels, annotations, startsAt,
 * endsAt, generatorURL) and posts it to every configured Alertmanager
 * (`ruler.alertmanager_url`, comma-separated) at <url>/api/v2/alerts.
 *
 * Sending is asynchronous once the queue is started, as Prometheus's
 * notifier does it: the ruler thread queues alerts (never waiting for the
 * network); a sender thread takes them in batches of up to 64 and posts
 * each batch to every Alertmanager with ruler.notification_timeout. When
 * the queue (ruler.notification_queue_capacity) is full, the oldest alerts
 * are dropped for the new ones; a batch no Alertmanager accepted is
 * dropped too (the ruler re-sends firing alerts every resend_delay anyway).
 * Both count in noa_ruler_notifications_dropped_total.
 *
 * THREAD SAFETY: `mu` guards the queue and the counters; the HTTP client
 * belongs to the sender thread once started (before that, to the caller of
 * noa_ruler_notify_send). _enqueue, _flush and _stats may be called from
 * any thread.
 */
#ifndef NOA_QUERIER_RULER_NOTIFY_H
#define NOA_QUERIER_RULER_NOTIFY_H

#include "common/buf.h"
#include "common/err.h"
#include "common/metrics.h"
#include "querier/ruler_alerts.h"
#include "querier/ruler_relabel.h"

#include <stdint.h>

/* Alerts per POST, as Prometheus's maxBatchSize. */
#define NOA_RULER_NOTIFY_BATCH 64

struct noa_ruler_notify;

/*
 * Appends the JSON array for alerts[0..n): startsAt is when the alert
 * fired, endsAt when it resolved or, while firing, its valid-until time
 * (so Alertmanager resolves it itself if the ruler stops sending).
 * generator_url (may be NULL) is the same for every alert of one rule.
 * ext[0..n_ext) are the external labels, added to every alert that does
 * not have a label of that name (as Prometheus does when sending).
 */
void noa_ruler_notify_encode(const struct noa_ruler_alert *const *alerts, unsigned n,
                             const char *generator_url, const struct noa_ruler_kv *ext,
                             unsigned n_ext, struct noa_buf *out);

/* The link Prometheus puts in generatorURL: <external_url>/graph?g0.expr=<expr>&g0.tab=1. */
void noa_ruler_notify_generator_url(const char *external_url, const char *expr,
                                    struct noa_buf *out);

/* Creates a client for the comma-separated base URLs (spaces trimmed,
 * empty items ignored). Returns 0, NOA_EINVAL (no URL or one that is not
 * http:// or https://) or NOA_ENOMEM. */
int noa_ruler_notify_new(const char *urls, long timeout_ms, struct noa_ruler_notify **out);
/* Stops the sender after it drained the queue (for at most one
 * notification timeout; what is left then is dropped) and frees the
 * client. NULL is a no-op. */
void noa_ruler_notify_free(struct noa_ruler_notify *n);

/* Posts json to every Alertmanager. Returns 0 when at least one accepted
 * it (2xx), else the last failure with err set. Blocking; not once the
 * queue is started (the sender thread owns the client then). */
int noa_ruler_notify_send(struct noa_ruler_notify *n, const struct noa_buf *json,
                          struct noa_error *err);

struct noa_ruler_notify_queue_options {
    unsigned capacity;          /* alerts; 0 = 10000 (ruler.notification_queue_capacity) */
    /* ruler.alert_relabel_configs, applied at _enqueue after the external
     * labels (borrowed until _free; NULL: none) */
    const struct noa_ruler_relabel *relabel;
    struct noa_metrics *metrics; /* may be NULL: the counters are kept all the same */
};

/* Starts the queue and its sender thread. Returns 0 or a uv error code. */
int noa_ruler_notify_start(struct noa_ruler_notify *n,
                           const struct noa_ruler_notify_queue_options *o);

/* Queues alerts[0..count), encoded as noa_ruler_notify_encode does, to be
 * sent by the sender thread. As Prometheus's notifier: the external labels
 * are added, then the relabel steps run, and an alert they drop is not
 * queued (nor counted as dropped). Over capacity the oldest queued alerts
 * are dropped (and, if count alone is over it, the first of these). Never
 * blocks on the network. The queue must be started. */
void noa_ruler_notify_enqueue(struct noa_ruler_notify *n, const struct noa_ruler_alert *const *alerts,
                              unsigned count, const char *generator_url,
                              const struct noa_ruler_kv *ext, unsigned n_ext);

/* Waits until the queue is empty and no batch is in flight, at most
 * timeout_ms. Returns 0, or NOA_ETIMEOUT. */
int noa_ruler_notify_flush(struct noa_ruler_notify *n, long timeout_ms);

struct noa_ruler_notify_stats {
    uint64_t queue_length; /* alerts waiting, the batch in flight included */
    uint64_t in_flight;    /* alerts of the batch being sent */
    uint64_t capacity;
    uint64_t dropped;      /* alerts dropped: queue overflow or no Alertmanager took them */
    uint64_t sent;         /* alerts accepted by at least one Alertmanager */
    uint64_t errors;       /* failed POSTs (one per Alertmanager and batch) */
};

void noa_ruler_notify_stats(struct noa_ruler_notify *n, struct noa_ruler_notify_stats *out);

#endif
