/*
 * Alertmanager client of the ruler: encodes alerts as the JSON array
 * Prometheus posts to Alertmanager's v2 API (labels, annotations, startsAt,
 * endsAt, generatorURL) and posts it to every configured Alertmanager
 * (`ruler.alertmanager_url`, comma-separated) at <url>/api/v2/alerts.
 *
 * Blocking (common/http_client.h): used on the ruler thread only.
 */
#ifndef NOA_QUERIER_RULER_NOTIFY_H
#define NOA_QUERIER_RULER_NOTIFY_H

#include "common/buf.h"
#include "common/err.h"
#include "querier/ruler_alerts.h"

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
void noa_ruler_notify_free(struct noa_ruler_notify *n);

/* Posts json to every Alertmanager. Returns 0 when at least one accepted
 * it (2xx), else the last failure with err set. */
int noa_ruler_notify_send(struct noa_ruler_notify *n, const struct noa_buf *json,
                          struct noa_error *err);

#endif
