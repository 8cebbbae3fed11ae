/*
 * The alert state machine of one alerting rule, as Prometheus runs it:
 * every evaluation hands in the rule's result vector; each label set
 * becomes an alert that goes inactive -> pending -> firing (after `for`),
 * stays firing for `keep_firing_for` after the condition ends, then is
 * resolved and kept 15 minutes so the resolution is re-sent to
 * Alertmanager. Labels and annotations are expanded with a Go-template
 * subset over $labels / $value (noa_ruler_alerts_expand).
 *
 * Time is always passed in (a fake clock in tests). A struct
 * noa_ruler_alerts is owned by the ruler thread; the ruler's lock guards
 * readers on other threads (the /alerts API).
 */
#ifndef NOA_QUERIER_RULER_ALERTS_H
#define NOA_QUERIER_RULER_ALERTS_H

#include "common/buf.h"
#include "common/err.h"
#include "common/labels.h"
#include "querier/ruler_rules.h"

#include <stdint.h>

/* How long a resolved alert is kept and re-sent (Prometheus's resolvedRetention). */
#define NOA_RULER_ALERTS_RESOLVED_RETENTION_NS (15LL * 60 * 1000000000LL)

enum noa_ruler_alert_state {
    NOA_RULER_ALERT_INACTIVE = 0,
    NOA_RULER_ALERT_PENDING = 1,
    NOA_RULER_ALERT_FIRING = 2,
};

struct noa_ruler_alert {
    struct noa_ruler_kv *labels;      /* owned, sorted; alertname included */
    unsigned n_labels;
    struct noa_ruler_kv *annotations; /* owned, sorted, expanded */
    unsigned n_annotations;
    uint64_t hash;                    /* of the labels */
    enum noa_ruler_alert_state state;
    double value;
    int64_t active_at_ns;  /* Unix ns; when it became pending */
    int64_t fired_at_ns;   /* 0 until firing */
    int64_t resolved_at_ns; /* 0 unless resolved */
    int64_t last_sent_ns;
    int64_t valid_until_ns;
    int64_t keep_firing_since_ns; /* 0 unless kept firing without the condition */
};

struct noa_ruler_alerts {
    struct noa_ruler_alert *v; /* owned */
    unsigned n, cap;
};

/* One sample of the rule's result: its label set (sorted) and value. */
struct noa_ruler_sample {
    struct noa_labels labels;
    double value;
};

/*
 * Applies one evaluation at ts_ns of alerting rule r, whose expression gave
 * samples[0..n). limit > 0 caps the active alerts (over it, every alert is
 * dropped and NOA_ELIMIT returned with Prometheus's text). Two samples with
 * the same label set after the rule's labels are applied: NOA_EINVAL.
 * Returns 0 otherwise.
 */
int noa_ruler_alerts_eval(struct noa_ruler_alerts *st, const struct noa_ruler_rule *r,
                          const struct noa_ruler_sample *samples, unsigned n, int64_t ts_ns,
                          int64_t limit, struct noa_error *err);

/*
 * The alerts to send to Alertmanager now (Prometheus's needsSending):
 * firing ones whose last send is older than resend_delay_ns, and resolved
 * ones not sent since they resolved (then every resend_delay). Marks them
 * sent at ts_ns with valid_until = ts + 4 * max(resend_delay, interval).
 * Fills out (borrowed until the next eval) and returns how many, at most max.
 */
unsigned noa_ruler_alerts_due(struct noa_ruler_alerts *st, int64_t ts_ns, int64_t resend_delay_ns,
                              int64_t interval_ns, const struct noa_ruler_alert **out,
                              unsigned max);

/* What noa_ruler_alerts_restore needs besides the alerts. */
struct noa_ruler_alerts_restore_opts {
    int64_t saved_ns;            /* when the saved state was taken (Prometheus's downAt) */
    int64_t ts_ns;               /* the first evaluation after the restart */
    int64_t outage_tolerance_ns; /* ruler.for_outage_tolerance */
    int64_t grace_period_ns;     /* ruler.for_grace_period */
};

/*
 * Prometheus's RestoreForState, applied right after the first evaluation
 * after a restart. Nothing is restored when the outage (ts - saved) is over
 * the tolerance. Otherwise every alert the evaluation found active that was
 * pending or firing in saved gets back its activeAt:
 *   - it had already waited its `for` (it was firing): activeAt unchanged,
 *     it fires again at once, keeping its firedAt and last-sent times;
 *   - pending, with a `for` shorter than the grace period: not restored
 *     (it waits its `for` again);
 *   - pending with less than the grace period left: activeAt moves so that
 *     it fires grace_period after ts;
 *   - else activeAt moves forward by the outage (ts - saved).
 * This is the rule set of Prometheus after its PR #19882 (2026); before,
 * rules with a `for` shorter than the grace period were never restored,
 * so their firing alerts went pending again and Alertmanager could see
 * them resolve and fire anew. noa then applies the pending -> firing step
 * at once (Prometheus waits for the next evaluation). Saved firing alerts
 * the evaluation no longer produces become resolved at ts (so Alertmanager
 * hears of it), and saved resolved ones still within the retention are
 * kept to be re-sent. Returns how many alerts got a restored activeAt.
 */
unsigned noa_ruler_alerts_restore(struct noa_ruler_alerts *st, const struct noa_ruler_rule *r,
                                  const struct noa_ruler_alerts *saved,
                                  const struct noa_ruler_alerts_restore_opts *o);

/* The most severe state among the alerts (the rule's state). */
enum noa_ruler_alert_state noa_ruler_alerts_state(const struct noa_ruler_alerts *st);

/* "inactive", "pending" or "firing". */
const char *noa_ruler_alerts_state_name(enum noa_ruler_alert_state s);

void noa_ruler_alerts_fini(struct noa_ruler_alerts *st);

/*
 * Expands a Prometheus alert template: text with {{ ... }} actions (with
 * optional "-" trim markers) among
 *   $labels.name  .Labels.name  $value  .Value  $externalLabels.name
 *   X | humanize   humanize X   X | humanizePercentage   printf "fmt" X ...
 *   "quoted text"
 * over the alert's labels (sorted) and value, appended to out. Values
 * print as Go prints a float64. Returns 0 or NOA_EINVAL with err set
 * (unsupported action or syntax).
 */
int noa_ruler_alerts_expand(const char *tmpl, const struct noa_ruler_kv *labels,
                            unsigned n_labels, double value, struct noa_buf *out,
                            struct noa_error *err);

/* Appends v as Go's fmt prints a float64 with %v ("0.5", "100", "1e+21",
 * "NaN", "+Inf"). */
void noa_ruler_alerts_put_float(struct noa_buf *out, double v);

#endif
