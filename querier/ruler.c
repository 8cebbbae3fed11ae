/*
 * The ruler: its thread (reload, schedule, evaluate, notify, remote
 * write) and its HTTP API. See querier/ruler.h for the threads and locks.
 */
#include "querier/ruler.h"

#include "common/clock.h"
#include "common/form.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "querier/metric_eval.h"
#include "querier/params.h"
#include "querier/ruler_alerts.h"
#include "querier/ruler_notify.h"
#include "querier/ruler_remote_write.h"
#include "querier/ruler_rules.h"
#include "querier/ruler_state.h"
#include "querier/tenants.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define NS_PER_S 1000000000LL

enum { HEALTH_UNKNOWN = 0, HEALTH_OK = 1, HEALTH_ERR = 2 };

struct rule_rt {
    struct noa_ruler_alerts alerts;
    int health;
    char last_error[512];
    int64_t last_eval_ns;
    double eval_s;
};

struct group_rt {
    const struct noa_ruler_file *file; /* in the set */
    const struct noa_ruler_group *g;
    struct rule_rt *rules; /* owned, [g->n_rules] */
    int64_t interval_ns;
    int64_t next_eval_ns;
    int64_t last_eval_ns;
    double eval_s;
    struct noa_ruler_state *restore; /* saved before a restart; applied at the first evaluation */
    int state_saved;                 /* a state file exists for the group */
    int carried;                     /* reload: a newer group_rt took this one's state */
};

struct noa_ruler {
    struct noa_ruler_options o; /* strings owned */
    uv_mutex_t mu;
    uv_cond_t cond;
    uv_thread_t thread;
    int started;
    int stop;       /* guarded by mu */
    int reload_req; /* guarded by mu */
    struct noa_ruler_set set;   /* guarded by mu (written by the ruler thread only) */
    struct group_rt *groups;    /* guarded by mu (written by the ruler thread only) */
    unsigned n_groups;
    struct noa_ruler_notify *notify;
    struct noa_ruler_remote_write **rw; /* one per remote-write client */
    unsigned n_rw;
    struct noa_ruler_remote_write_options *rw_opts; /* [n_rw]: strings borrowed from o */
    char *last_errs; /* ruler thread: the last load errors logged (logged again only on change) */
    struct noa_metric_child *m_evals, *m_eval_failures; /* atomics */
};

static char *dup_or_null(const char *s)
{
    return s && *s ? noa_xstrdup(s) : NULL;
}

/* ---- loading ------------------------------------------------------------------ */

static void free_groups(struct group_rt *v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        for (unsigned k = 0; v[i].rules && k < v[i].g->n_rules; k++)
            noa_ruler_alerts_fini(&v[i].rules[k].alerts);
        noa_free(v[i].rules);
        if (v[i].restore)
            noa_ruler_state_fini(v[i].restore);
        noa_free(v[i].restore);
    }
    noa_free(v);
}

static struct group_rt *find_old(struct noa_ruler *r, const struct noa_ruler_file *f,
                                 const struct noa_ruler_group *g)
{
    for (unsigned i = 0; i < r->n_groups; i++) {
        const struct group_rt *o = &r->groups[i];
        if (!strcmp(o->file->tenant, f->tenant) && !strcmp(o->file->ns, f->ns) &&
            !strcmp(o->g->name, g->name))
            return &r->groups[i];
    }
    return NULL;
}

/* Reads the alert state a previous run saved for g (restored at g's
 * first evaluation). A missing file is the normal case; a bad one is
 * logged and ignored, as Prometheus ignores a failed restore query. */
static void load_state(struct noa_ruler *r, struct group_rt *g)
{
    if (!r->o.state_dir)
        return;
    struct noa_ruler_state *s = noa_xcalloc(1, sizeof(*s));
    struct noa_error err = {0};
    int rc = noa_ruler_state_load(r->o.state_dir, g->file->tenant, g->file->ns, g->g->name, s,
                                  &err);
    if (rc == 0) {
        g->restore = s;
        g->state_saved = 1;
        return;
    }
    if (rc != NOA_ENOTFOUND)
        noa_log(NOA_LOG_WARN, "ruler", "msg=\"cannot restore alert state\" tenant=%s group=%s err=\"%s\"",
                g->file->tenant, g->g->name, err.msg);
    noa_free(s);
}

/* Writes g's alerts after an evaluation at ts: at every evaluation while
 * any alert is kept, so the saved time (Prometheus's downAt) stays within
 * one interval of the last evaluation; the file goes once none is left. */
static void save_state(struct noa_ruler *r, struct group_rt *g, int64_t ts)
{
    if (!r->o.state_dir)
        return;
    unsigned n_alerts = 0, n_rules = 0;
    for (unsigned i = 0; i < g->g->n_rules; i++) {
        n_alerts += g->rules[i].alerts.n;
        n_rules += g->rules[i].alerts.n > 0;
    }
    if (!n_alerts) {
        if (g->state_saved && noa_ruler_state_remove(r->o.state_dir, g->file->tenant, g->file->ns,
                                                     g->g->name) == 0)
            g->state_saved = 0;
        return;
    }
    struct noa_ruler_state_rule *sr = noa_xcalloc(n_rules, sizeof(*sr));
    unsigned k = 0;
    for (unsigned i = 0; i < g->g->n_rules; i++) {
        if (!g->rules[i].alerts.n)
            continue;
        /* Borrowed: only this thread changes alerts, so no lock is needed. */
        sr[k++] = (struct noa_ruler_state_rule){i, g->g->rules[i].name, g->rules[i].alerts};
    }
    struct noa_ruler_state s = {.tenant = g->file->tenant, .ns = g->file->ns, .group = g->g->name,
                                .saved_ns = ts, .rules = sr, .n_rules = n_rules};
    struct noa_error err = {0};
    if (noa_ruler_state_save(r->o.state_dir, &s, &err) == 0)
        g->state_saved = 1;
    else
        noa_log(NOA_LOG_WARN, "ruler", "msg=\"cannot save alert state\" tenant=%s group=%s err=\"%s\"",
                g->file->tenant, g->g->name, err.msg);
    noa_free(sr);
}

/* The saved alerts of rule idx of g: the same position and name, else the
 * first rule of that name (the file was edited around it). */
static const struct noa_ruler_alerts *saved_alerts(const struct group_rt *g, unsigned idx)
{
    const struct noa_ruler_state *s = g->restore;
    const char *name = g->g->rules[idx].name;
    for (unsigned i = 0; i < s->n_rules; i++)
        if (s->rules[i].index == idx && !strcmp(s->rules[i].name, name))
            return &s->rules[i].alerts;
    for (unsigned i = 0; i < s->n_rules; i++)
        if (!strcmp(s->rules[i].name, name))
            return &s->rules[i].alerts;
    return NULL;
}

unsigned noa_ruler_reload(struct noa_ruler *r, struct noa_buf *errs)
{
    struct noa_ruler_set set;
    struct noa_buf local = {0};
    unsigned n_bad = 0, n = 0;
    int rc = noa_ruler_rules_load_dir(r->o.directory, &set, &n_bad, &local);
    if (rc != 0) {
        noa_log(NOA_LOG_WARN, "ruler", "msg=\"cannot read rule directory\" dir=%s err=\"%s\"",
                r->o.directory, noa_strerror(rc));
        noa_buf_fini(&local);
        return 1;
    }
    noa_buf_cstr(&local);
    if (strcmp(local.data, r->last_errs ? r->last_errs : "") != 0) {
        if (local.len)
            noa_log(NOA_LOG_WARN, "ruler", "msg=\"rule files skipped\" errors=\"%s\"", local.data);
        noa_free(r->last_errs);
        r->last_errs = noa_xstrdup(local.data);
    }
    if (errs && local.len)
        noa_buf_append(errs, local.data, local.len);
    noa_buf_fini(&local);
    for (unsigned i = 0; i < set.n_files; i++)
        n += set.files[i].n_groups;
    struct group_rt *gv = noa_xcalloc(n ? n : 1, sizeof(*gv));
    int64_t now = noa_clock_real_ns();
    unsigned k = 0;
    /* Held while states move from the old groups, which the API may be
     * reading, to the new ones; the work here is small. */
    uv_mutex_lock(&r->mu);
    for (unsigned i = 0; i < set.n_files; i++) {
        for (unsigned j = 0; j < set.files[i].n_groups; j++, k++) {
            struct group_rt *g = &gv[k];
            g->file = &set.files[i];
            g->g = &set.files[i].groups[j];
            g->interval_ns = g->g->interval_ns ? g->g->interval_ns : r->o.evaluation_interval_ns;
            g->rules = noa_xcalloc(g->g->n_rules ? g->g->n_rules : 1, sizeof(*g->rules));
            /* Aligned to the interval, as Prometheus spreads groups over it. */
            g->next_eval_ns = (now / g->interval_ns + 1) * g->interval_ns;
            struct group_rt *old = find_old(r, g->file, g->g);
            if (!old) {
                load_state(r, g);
                continue;
            }
            old->carried = 1;
            g->state_saved = old->state_saved;
            g->restore = old->restore;
            old->restore = NULL;
            if (old->interval_ns == g->interval_ns)
                g->next_eval_ns = old->next_eval_ns;
            g->last_eval_ns = old->last_eval_ns;
            g->eval_s = old->eval_s;
            /* A rule identical to the old one keeps its state (alerts). */
            for (unsigned q = 0; q < g->g->n_rules && q < old->g->n_rules; q++) {
                const struct noa_ruler_rule *a = &g->g->rules[q], *b = &old->g->rules[q];
                if (a->is_alert != b->is_alert || strcmp(a->name, b->name) ||
                    strcmp(a->expr, b->expr))
                    continue;
                g->rules[q] = old->rules[q];
                memset(&old->rules[q], 0, sizeof(old->rules[q]));
            }
        }
    }
    struct noa_ruler_set old_set = r->set;
    struct group_rt *old_groups = r->groups;
    unsigned old_n = r->n_groups;
    r->set = set;
    r->groups = gv;
    r->n_groups = n;
    uv_mutex_unlock(&r->mu);
    /* A group that is gone takes its saved alert state with it. */
    for (unsigned i = 0; i < old_n && r->o.state_dir; i++)
        if (!old_groups[i].carried && old_groups[i].state_saved)
            noa_ruler_state_remove(r->o.state_dir, old_groups[i].file->tenant,
                                   old_groups[i].file->ns, old_groups[i].g->name);
    free_groups(old_groups, old_n);
    noa_ruler_rules_set_fini(&old_set);
    return n_bad;
}

/* ---- evaluation ----------------------------------------------------------------- */

static int kv_cmp(const void *a, const void *b)
{
    return strcmp(((const struct noa_ruler_kv *)a)->name, ((const struct noa_ruler_kv *)b)->name);
}

/* Runs the rule's query at ts into res. */
static int query(struct noa_ruler *r, const char *tenant, const struct noa_ruler_rule *rule,
                 int64_t ts, struct noa_metric_result *res, struct noa_logql_expr **e,
                 struct noa_error *err)
{
    /* A private tree: the source may rewrite selectors. */
    int rc = noa_logql_parse(rule->expr, strlen(rule->expr), e, err);
    if (rc != 0)
        return rc;
    struct noa_metric_source src = {0};
    void *handle = NULL;
    rc = r->o.source.open_cb(r->o.source.ctx, tenant, *e, &src, &handle, err);
    if (rc != 0)
        return rc;
    struct noa_metric_opts mo = {.start_ns = ts, .end_ns = ts, .max_series = r->o.max_series};
    rc = noa_metric_eval(*e, &src, &mo, res, err);
    if (r->o.source.close_cb)
        r->o.source.close_cb(r->o.source.ctx, handle);
    return rc;
}

/* The samples of an instant result (a scalar is one sample without labels). */
static unsigned samples_of(const struct noa_metric_result *res, struct noa_ruler_sample **out)
{
    const struct noa_metric_set *s = &res->set;
    unsigned n = 0;
    if (res->type == NOA_METRIC_SCALAR) {
        *out = noa_xcalloc(1, sizeof(**out));
        (*out)[0].value = s->scalar_v[0];
        return 1;
    }
    *out = noa_xcalloc(s->n + 1, sizeof(**out));
    for (uint32_t i = 0; i < s->n; i++) {
        uint32_t last = res->grid.n ? res->grid.n - 1 : 0;
        if (!s->s[i].has[last])
            continue;
        (*out)[n].labels = s->s[i].labels;
        (*out)[n].value = s->s[i].v[last];
        n++;
    }
    return n;
}

/* Encodes series[0..n) after the relabel steps into proto; returns how
 * many series it holds (dropped ones are left out). */
static unsigned relabelled(const struct noa_ruler_relabel *rl, const struct noa_ruler_rw_series *series,
                           unsigned n, int64_t ts_ms, struct noa_buf *proto)
{
    struct noa_ruler_rw_series *out = noa_xcalloc(n + 1, sizeof(*out));
    struct noa_ruler_kv **lv = noa_xcalloc(n + 1, sizeof(*lv));
    unsigned k = 0;
    for (unsigned i = 0; i < n; i++) {
        unsigned nl = series[i].n_labels;
        lv[k] = noa_xcalloc(nl + 1, sizeof(**lv));
        for (unsigned q = 0; q < nl; q++) {
            lv[k][q].name = noa_xstrdup(series[i].labels[q].name);
            lv[k][q].value = noa_xstrdup(series[i].labels[q].value);
        }
        int keep = noa_ruler_relabel_apply(rl, &lv[k], &nl);
        if (keep && nl) {
            out[k] = (struct noa_ruler_rw_series){lv[k], nl, series[i].value, ts_ms};
            k++;
            continue;
        }
        for (unsigned q = 0; q < nl; q++) {
            noa_free(lv[k][q].name);
            noa_free(lv[k][q].value);
        }
        noa_free(lv[k]);
        lv[k] = NULL;
    }
    if (k)
        noa_ruler_remote_write_encode(out, k, proto);
    for (unsigned i = 0; i < k; i++) {
        for (unsigned q = 0; q < out[i].n_labels; q++) {
            noa_free(lv[i][q].name);
            noa_free(lv[i][q].value);
        }
        noa_free(lv[i]);
    }
    noa_free(lv);
    noa_free(out);
    return k;
}

/* Recording rule: series named rule->name with the rule's labels, sent by
 * remote write. Returns 0 or an error for the rule's health. */
static int record(struct noa_ruler *r, const struct group_rt *g, const struct noa_ruler_rule *rule,
                  const struct noa_ruler_sample *s, unsigned n, int64_t ts, struct noa_error *err)
{
    int rc = 0;
    struct noa_ruler_rw_series *series = noa_xcalloc(n + 1, sizeof(*series));
    struct noa_ruler_kv **lv = noa_xcalloc(n + 1, sizeof(*lv));
    struct noa_buf proto = {0};
    if (g->g->limit > 0 && n > (uint64_t)g->g->limit) {
        rc = noa_error_set(err, NOA_ELIMIT, "exceeded limit of %lld with %u series",
                           (long long)g->g->limit, n);
        goto fail;
    }
    for (unsigned i = 0; i < n; i++) {
        unsigned cap = (unsigned)s[i].labels.n + rule->n_labels + 1, k = 0;
        lv[i] = noa_xcalloc(cap, sizeof(**lv));
        for (uint32_t j = 0; j < s[i].labels.n; j++) {
            const struct noa_label *l = &s[i].labels.v[j];
            int skip = noa_str_eq_c(l->name, "__name__");
            for (unsigned q = 0; q < rule->n_labels && !skip; q++)
                skip = noa_str_eq_c(l->name, rule->labels[q].name);
            if (skip)
                continue;
            lv[i][k].name = noa_xstrndup(l->name.p, l->name.len);
            lv[i][k].value = noa_xstrndup(l->value.p, l->value.len);
            k++;
        }
        for (unsigned q = 0; q < rule->n_labels; q++) {
            if (!rule->labels[q].value[0])
                continue;
            lv[i][k].name = noa_xstrdup(rule->labels[q].name);
            lv[i][k].value = noa_xstrdup(rule->labels[q].value);
            k++;
        }
        lv[i][k].name = noa_xstrdup("__name__");
        lv[i][k].value = noa_xstrdup(rule->name);
        k++;
        qsort(lv[i], k, sizeof(**lv), kv_cmp);
        series[i] = (struct noa_ruler_rw_series){lv[i], k, s[i].value, ts / 1000000};
    }
    for (unsigned i = 0; i < n && rc == 0; i++) {
        for (unsigned j = i + 1; j < n && rc == 0; j++) {
            int same = series[i].n_labels == series[j].n_labels;
            for (unsigned q = 0; same && q < series[i].n_labels; q++)
                same = !strcmp(lv[i][q].name, lv[j][q].name) && !strcmp(lv[i][q].value, lv[j][q].value);
            if (same)
                rc = noa_error_set(err, NOA_EINVAL,
                                   "vector contains metrics with the same labelset after applying "
                                   "rule labels");
        }
    }
    /* Every client gets the samples (after its write_relabel_configs),
     * queued: a slow or dead receiver never holds up the evaluations, and,
     * as in Loki (which writes from a WAL), its failures do not make the
     * rule unhealthy; they are logged and counted on /metrics. */
    int shared = 0;
    for (unsigned c = 0; rc == 0 && c < r->n_rw && n; c++) {
        if (r->rw_opts[c].write_relabel) {
            struct noa_buf own = {0};
            unsigned k = relabelled(r->rw_opts[c].write_relabel, series, n, ts / 1000000, &own);
            if (k) /* else every series was dropped: nothing to send */
                noa_ruler_remote_write_enqueue(r->rw[c], g->file->tenant, &own, k);
            noa_buf_fini(&own);
        } else {
            if (!shared++)
                noa_ruler_remote_write_encode(series, n, &proto);
            noa_ruler_remote_write_enqueue(r->rw[c], g->file->tenant, &proto, n);
        }
    }
fail:
    for (unsigned i = 0; i < n; i++) {
        for (unsigned q = 0; lv[i] && q < series[i].n_labels; q++) {
            noa_free(lv[i][q].name);
            noa_free(lv[i][q].value);
        }
        noa_free(lv[i]);
    }
    noa_free(lv);
    noa_free(series);
    noa_buf_fini(&proto);
    return rc;
}

static void eval_rule(struct noa_ruler *r, struct group_rt *g, unsigned idx, int64_t ts)
{
    const struct noa_ruler_rule *rule = &g->g->rules[idx];
    struct rule_rt *rt = &g->rules[idx];
    struct noa_error err = {0};
    struct noa_metric_result res;
    struct noa_logql_expr *e = NULL;
    struct noa_ruler_sample *samples = NULL;
    const struct noa_ruler_alert **due = NULL;
    unsigned nd = 0;
    int64_t t0 = noa_clock_mono_ns();
    memset(&res, 0, sizeof(res));
    int rc = query(r, g->file->tenant, rule, ts, &res, &e, &err);
    unsigned n = rc == 0 ? samples_of(&res, &samples) : 0;
    if (rc == 0 && !rule->is_alert)
        rc = record(r, g, rule, samples, n, ts, &err);
    uv_mutex_lock(&r->mu);
    if (rule->is_alert) {
        /* A failed query leaves the alerts as they are, as Prometheus does. */
        if (rc == 0)
            rc = noa_ruler_alerts_eval(&rt->alerts, rule, samples, n, ts, g->g->limit, &err);
        if (rc == 0 && g->restore) {
            struct noa_ruler_alerts_restore_opts ro = {
                .saved_ns = g->restore->saved_ns,
                .ts_ns = ts,
                .outage_tolerance_ns = r->o.for_outage_tolerance_ns,
                .grace_period_ns = r->o.for_grace_period_ns,
            };
            noa_ruler_alerts_restore(&rt->alerts, rule, saved_alerts(g, idx), &ro);
        }
        due = noa_xcalloc(rt->alerts.n + 1, sizeof(*due));
        nd = noa_ruler_alerts_due(&rt->alerts, ts, r->o.resend_delay_ns, g->interval_ns, due,
                                  rt->alerts.n);
    }
    rt->health = rc == 0 ? HEALTH_OK : HEALTH_ERR;
    snprintf(rt->last_error, sizeof(rt->last_error), "%s", rc == 0 ? "" : err.msg);
    rt->last_eval_ns = ts;
    rt->eval_s = (double)(noa_clock_mono_ns() - t0) / 1e9;
    uv_mutex_unlock(&r->mu);
    noa_metric_inc(r->m_evals);
    if (rc != 0) {
        noa_metric_inc(r->m_eval_failures);
        noa_log(NOA_LOG_WARN, "ruler", "msg=\"rule evaluation failed\" tenant=%s group=%s rule=%s err=\"%s\"",
                g->file->tenant, g->g->name, rule->name, err.msg);
    }
    /* Queued, never sent from here: a slow Alertmanager cannot hold up the
     * evaluations. The due alerts stay valid: only this thread changes them. */
    if (nd && r->notify) {
        struct noa_buf url = {0};
        noa_ruler_notify_generator_url(r->o.external_url, rule->expr, &url);
        noa_ruler_notify_enqueue(r->notify, due, nd, noa_buf_cstr(&url), r->o.external_labels,
                                 r->o.n_external_labels);
        noa_buf_fini(&url);
    }
    noa_free(due);
    noa_free(samples);
    noa_metric_result_fini(&res);
    noa_logql_free(e);
}

static void eval_group(struct noa_ruler *r, struct group_rt *g, int64_t ts)
{
    int64_t t0 = noa_clock_mono_ns();
    for (unsigned i = 0; i < g->g->n_rules; i++)
        eval_rule(r, g, i, ts);
    uv_mutex_lock(&r->mu);
    g->last_eval_ns = ts;
    g->eval_s = (double)(noa_clock_mono_ns() - t0) / 1e9;
    struct noa_ruler_state *restored = g->restore;
    g->restore = NULL; /* only the first evaluation restores */
    uv_mutex_unlock(&r->mu);
    if (restored)
        noa_ruler_state_fini(restored);
    noa_free(restored);
    save_state(r, g, ts);
}

void noa_ruler_eval_all(struct noa_ruler *r, int64_t ts_ns)
{
    for (unsigned i = 0; i < r->n_groups; i++)
        eval_group(r, &r->groups[i], ts_ns);
}

int noa_ruler_flush(struct noa_ruler *r, long timeout_ms)
{
    int rc = r->notify ? noa_ruler_notify_flush(r->notify, timeout_ms) : 0;
    for (unsigned i = 0; rc == 0 && i < r->n_rw; i++)
        rc = noa_ruler_remote_write_flush(r->rw[i], timeout_ms);
    return rc;
}

static void thread_main(void *arg)
{
    struct noa_ruler *r = arg;
    int64_t next_poll = noa_clock_real_ns() + r->o.poll_interval_ns;
    for (;;) {
        uv_mutex_lock(&r->mu);
        int64_t now = noa_clock_real_ns(), wake = next_poll;
        for (unsigned i = 0; i < r->n_groups; i++)
            if (r->groups[i].next_eval_ns < wake)
                wake = r->groups[i].next_eval_ns;
        if (!r->stop && !r->reload_req && wake > now)
            uv_cond_timedwait(&r->cond, &r->mu, (uint64_t)(wake - now));
        int stop = r->stop, reload = r->reload_req;
        r->reload_req = 0;
        uv_mutex_unlock(&r->mu);
        if (stop)
            break;
        now = noa_clock_real_ns();
        if (reload || now >= next_poll) {
            noa_ruler_reload(r, NULL);
            next_poll = now + r->o.poll_interval_ns;
        }
        for (unsigned i = 0; i < r->n_groups; i++) {
            struct group_rt *g = &r->groups[i];
            if (g->next_eval_ns > now)
                continue;
            int64_t ts = g->next_eval_ns;
            /* Missed slots are skipped, not caught up. */
            g->next_eval_ns += ((now - g->next_eval_ns) / g->interval_ns + 1) * g->interval_ns;
            eval_group(r, g, ts);
        }
    }
}

/* ---- lifecycle ------------------------------------------------------------------ */

int noa_ruler_new(const struct noa_ruler_options *o, struct noa_ruler **out)
{
    if (!o->directory || !*o->directory || !o->source.open_cb) {
        /* owned even on failure */
        noa_ruler_relabel_free(o->alert_relabel);
        noa_ruler_remote_write_configs_free(o->remote_write_clients, o->n_remote_write_clients);
        return NOA_EINVAL;
    }
    struct noa_ruler *r = noa_xcalloc(1, sizeof(*r));
    int rc = 0;
    r->o = *o;
    r->o.directory = noa_xstrdup(o->directory);
    r->o.alertmanager_url = dup_or_null(o->alertmanager_url);
    r->o.external_url = noa_xstrdup(o->external_url ? o->external_url : "");
    r->o.remote_write_url = dup_or_null(o->remote_write_url);
    r->o.state_dir = dup_or_null(o->state_dir);
    struct noa_ruler_kv *ext = noa_xcalloc(o->n_external_labels + 1, sizeof(*ext));
    for (unsigned i = 0; i < o->n_external_labels; i++) {
        ext[i].name = noa_xstrdup(o->external_labels[i].name);
        ext[i].value = noa_xstrdup(o->external_labels[i].value);
    }
    r->o.external_labels = ext;
    if (!r->o.evaluation_interval_ns)
        r->o.evaluation_interval_ns = 60 * NS_PER_S;
    if (!r->o.poll_interval_ns)
        r->o.poll_interval_ns = 60 * NS_PER_S;
    if (!r->o.resend_delay_ns)
        r->o.resend_delay_ns = 60 * NS_PER_S;
    if (!r->o.max_series)
        r->o.max_series = 500;
    uv_mutex_init(&r->mu);
    uv_cond_init(&r->cond);
    if (r->o.metrics) {
        r->m_evals = noa_metrics_counter_solo(r->o.metrics, "noa_ruler_evaluations_total",
                                              "Rule evaluations.");
        r->m_eval_failures = noa_metrics_counter_solo(
            r->o.metrics, "noa_ruler_evaluation_failures_total", "Rule evaluations that failed.");
    }
    if (r->o.alertmanager_url) {
        long timeout_ms = (long)(r->o.notification_timeout_ns / 1000000);
        struct noa_ruler_notify_queue_options qo = {.capacity = r->o.notification_queue_capacity,
                                                     .relabel = r->o.alert_relabel,
                                                     .metrics = r->o.metrics};
        if ((rc = noa_ruler_notify_new(r->o.alertmanager_url, timeout_ms, &r->notify)) ||
            (rc = noa_ruler_notify_start(r->notify, &qo)))
            goto fail;
    }
    /* 10 s per attempt unless the client says otherwise (not Prometheus's
     * 30 s): bounds how long a dead receiver holds up the ruler thread, and
     * with it shutdown. */
    r->rw = noa_xcalloc(r->o.n_remote_write_clients + 2, sizeof(*r->rw));
    r->rw_opts = noa_xcalloc(r->o.n_remote_write_clients + 2, sizeof(*r->rw_opts));
    if (r->o.remote_write_url)
        r->rw_opts[r->n_rw++] = (struct noa_ruler_remote_write_options){
            .url = r->o.remote_write_url, .timeout_ms = 10000, .add_org_id_header = 1};
    for (unsigned i = 0; i < r->o.n_remote_write_clients; i++) {
        struct noa_ruler_remote_write_options c = r->o.remote_write_clients[i];
        if (!c.timeout_ms)
            c.timeout_ms = 10000;
        r->rw_opts[r->n_rw++] = c;
    }
    struct noa_ruler_remote_write_queue_options rq = {.metrics = r->o.metrics};
    for (unsigned i = 0; i < r->n_rw; i++)
        if ((rc = noa_ruler_remote_write_new(&r->rw_opts[i], &r->rw[i])) ||
            (rc = noa_ruler_remote_write_start(r->rw[i], &rq)))
            goto fail;
    noa_ruler_reload(r, NULL);
    *out = r;
    return 0;
fail:
    noa_ruler_free(r);
    return rc;
}

int noa_ruler_start(struct noa_ruler *r)
{
    int rc = uv_thread_create(&r->thread, thread_main, r);
    if (rc == 0)
        r->started = 1;
    return rc;
}

void noa_ruler_free(struct noa_ruler *r)
{
    if (!r)
        return;
    if (r->started) {
        uv_mutex_lock(&r->mu);
        r->stop = 1;
        uv_cond_signal(&r->cond);
        uv_mutex_unlock(&r->mu);
        uv_thread_join(&r->thread);
    }
    free_groups(r->groups, r->n_groups);
    noa_ruler_rules_set_fini(&r->set);
    noa_ruler_notify_free(r->notify);
    noa_ruler_relabel_free(r->o.alert_relabel); /* after the sender that reads it */
    for (unsigned i = 0; r->rw && i < r->n_rw; i++)
        noa_ruler_remote_write_free(r->rw[i]);
    noa_free(r->rw);
    noa_free(r->rw_opts);
    noa_ruler_remote_write_configs_free(r->o.remote_write_clients, r->o.n_remote_write_clients);
    uv_cond_destroy(&r->cond);
    uv_mutex_destroy(&r->mu);
    noa_free((char *)r->o.directory);
    noa_free((char *)r->o.alertmanager_url);
    noa_free((char *)r->o.external_url);
    noa_free((char *)r->o.remote_write_url);
    noa_free((char *)r->o.state_dir);
    noa_free(r->last_errs);
    for (unsigned i = 0; i < r->o.n_external_labels; i++) {
        noa_free(r->o.external_labels[i].name);
        noa_free(r->o.external_labels[i].value);
    }
    noa_free((void *)r->o.external_labels);
    noa_free(r);
}

static void request_reload(struct noa_ruler *r)
{
    uv_mutex_lock(&r->mu);
    r->reload_req = 1;
    uv_cond_signal(&r->cond);
    uv_mutex_unlock(&r->mu);
}

/* ---- JSON API bodies ---------------------------------------------------------------- */

static void put_time(struct noa_buf *b, int64_t ns)
{
    char t[64];
    if (ns == 0)
        snprintf(t, sizeof(t), "0001-01-01T00:00:00Z");
    else
        noa_params_format_rfc3339(ns, t, sizeof(t));
    noa_buf_printf(b, "\"%s\"", t);
}

static void put_map(struct noa_buf *b, const struct noa_ruler_kv *v, unsigned n)
{
    noa_buf_putc(b, '{');
    for (unsigned i = 0; i < n; i++) {
        if (i)
            noa_buf_putc(b, ',');
        noa_buf_put_json_str(b, v[i].name, strlen(v[i].name));
        noa_buf_putc(b, ':');
        noa_buf_put_json_str(b, v[i].value, strlen(v[i].value));
    }
    noa_buf_putc(b, '}');
}

static void put_str(struct noa_buf *b, const char *s)
{
    noa_buf_put_json_str(b, s, strlen(s));
}

/* Go's strconv.FormatFloat(v, 'e', -1, 64), as Prometheus prints alert values. */
static void put_value_e(struct noa_buf *b, double v)
{
    char e[64];
    if (isnan(v) || isinf(v)) {
        noa_buf_putc(b, '"');
        noa_ruler_alerts_put_float(b, v);
        noa_buf_putc(b, '"');
        return;
    }
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec - 1, v);
        if (strtod(e, NULL) == v)
            break;
    }
    noa_buf_printf(b, "\"%s\"", e);
}

static void put_alert(struct noa_buf *b, const struct noa_ruler_alert *a)
{
    noa_buf_printf(b, "{\"labels\":");
    put_map(b, a->labels, a->n_labels);
    noa_buf_printf(b, ",\"annotations\":");
    put_map(b, a->annotations, a->n_annotations);
    noa_buf_printf(b, ",\"state\":\"%s\",\"activeAt\":", noa_ruler_alerts_state_name(a->state));
    put_time(b, a->active_at_ns);
    noa_buf_printf(b, ",\"value\":");
    put_value_e(b, a->value);
    noa_buf_putc(b, '}');
}

static const char *const health_names[] = {"unknown", "ok", "err"};

static void put_rule(struct noa_buf *b, const struct noa_ruler_rule *rule, const struct rule_rt *rt)
{
    noa_buf_putc(b, '{');
    if (rule->is_alert) {
        noa_buf_printf(b, "\"state\":\"%s\",",
                       noa_ruler_alerts_state_name(noa_ruler_alerts_state(&rt->alerts)));
    }
    noa_buf_printf(b, "\"name\":");
    put_str(b, rule->name);
    noa_buf_printf(b, ",\"query\":");
    put_str(b, rule->expr);
    if (rule->is_alert) {
        noa_buf_printf(b, ",\"duration\":%g,\"keepFiringFor\":%g", (double)rule->for_ns / 1e9,
                       (double)rule->keep_firing_for_ns / 1e9);
    }
    noa_buf_printf(b, ",\"labels\":");
    put_map(b, rule->labels, rule->n_labels);
    if (rule->is_alert) {
        noa_buf_printf(b, ",\"annotations\":");
        put_map(b, rule->annotations, rule->n_annotations);
        noa_buf_printf(b, ",\"alerts\":[");
        unsigned k = 0;
        for (unsigned i = 0; i < rt->alerts.n; i++) {
            if (rt->alerts.v[i].state == NOA_RULER_ALERT_INACTIVE)
                continue;
            if (k++)
                noa_buf_putc(b, ',');
            put_alert(b, &rt->alerts.v[i]);
        }
        noa_buf_putc(b, ']');
    }
    noa_buf_printf(b, ",\"health\":\"%s\",\"lastError\":", health_names[rt->health]);
    put_str(b, rt->last_error);
    noa_buf_printf(b, ",\"type\":\"%s\",\"lastEvaluation\":", rule->is_alert ? "alerting" : "recording");
    put_time(b, rt->last_eval_ns);
    noa_buf_printf(b, ",\"evaluationTime\":%g}", rt->eval_s);
}

static int match(const char *const *want, unsigned n, const char *have)
{
    for (unsigned i = 0; i < n; i++)
        if (!strcmp(want[i], have))
            return 1;
    return n == 0;
}

int noa_ruler_rules_json(struct noa_ruler *r, const char *tenant,
                         const struct noa_ruler_filter *f, struct noa_buf *out)
{
    static const struct noa_ruler_filter none = {0};
    if (!f)
        f = &none;
    if (f->type && strcmp(f->type, "alert") && strcmp(f->type, "record")) {
        noa_buf_printf(out, "{\"status\":\"error\",\"data\":null,\"errorType\":\"bad_data\",\"error\":");
        struct noa_buf msg = {0};
        noa_buf_printf(&msg, "not supported value \"%s\"", f->type);
        noa_buf_put_json_str(out, msg.data, msg.len);
        noa_buf_fini(&msg);
        noa_buf_putc(out, '}');
        return NOA_EINVAL;
    }
    noa_buf_printf(out, "{\"status\":\"success\",\"data\":{\"groups\":[");
    uv_mutex_lock(&r->mu);
    unsigned ng = 0;
    /* Groups come sorted by (tenant, file) from the loader, in file order within one. */
    for (unsigned i = 0; i < r->n_groups; i++) {
        const struct group_rt *g = &r->groups[i];
        if (strcmp(g->file->tenant, tenant) || !match(f->files, f->n_files, g->file->ns) ||
            !match(f->rule_groups, f->n_rule_groups, g->g->name))
            continue;
        struct noa_buf rules = {0};
        unsigned nr = 0;
        for (unsigned k = 0; k < g->g->n_rules; k++) {
            const struct noa_ruler_rule *rule = &g->g->rules[k];
            if (f->type && (f->type[0] == 'a') != rule->is_alert)
                continue;
            if (!match(f->rule_names, f->n_rule_names, rule->name))
                continue;
            if (nr++)
                noa_buf_putc(&rules, ',');
            put_rule(&rules, rule, &g->rules[k]);
        }
        /* Filters on rules drop the groups they empty, as Prometheus does. */
        if (!nr && (f->type || f->n_rule_names)) {
            noa_buf_fini(&rules);
            continue;
        }
        if (ng++)
            noa_buf_putc(out, ',');
        noa_buf_printf(out, "{\"name\":");
        put_str(out, g->g->name);
        noa_buf_printf(out, ",\"file\":");
        put_str(out, g->file->ns);
        noa_buf_printf(out, ",\"rules\":[");
        if (rules.len)
            noa_buf_append(out, rules.data, rules.len);
        noa_buf_printf(out, "],\"interval\":%g,\"limit\":%lld,\"evaluationTime\":%g,\"lastEvaluation\":",
                       (double)g->interval_ns / 1e9, (long long)g->g->limit, g->eval_s);
        put_time(out, g->last_eval_ns);
        noa_buf_putc(out, '}');
        noa_buf_fini(&rules);
    }
    uv_mutex_unlock(&r->mu);
    noa_buf_printf(out, "]},\"errorType\":\"\",\"error\":\"\"}");
    return 0;
}

void noa_ruler_alerts_json(struct noa_ruler *r, const char *tenant, struct noa_buf *out)
{
    noa_buf_printf(out, "{\"status\":\"success\",\"data\":{\"alerts\":[");
    unsigned k = 0;
    uv_mutex_lock(&r->mu);
    for (unsigned i = 0; i < r->n_groups; i++) {
        const struct group_rt *g = &r->groups[i];
        if (strcmp(g->file->tenant, tenant))
            continue;
        for (unsigned q = 0; q < g->g->n_rules; q++) {
            const struct noa_ruler_alerts *st = &g->rules[q].alerts;
            for (unsigned a = 0; a < st->n; a++) {
                if (st->v[a].state == NOA_RULER_ALERT_INACTIVE)
                    continue;
                if (k++)
                    noa_buf_putc(out, ',');
                put_alert(out, &st->v[a]);
            }
        }
    }
    uv_mutex_unlock(&r->mu);
    noa_buf_printf(out, "]},\"errorType\":\"\",\"error\":\"\"}");
}

int noa_ruler_config_yaml(struct noa_ruler *r, const char *tenant, const char *ns,
                          const char *group, struct noa_buf *out, struct noa_error *err)
{
    struct noa_ruler_set set;
    struct noa_buf errs = {0};
    unsigned n_bad = 0, found = 0;
    int rc = noa_ruler_rules_load_dir(r->o.directory, &set, &n_bad, &errs);
    noa_buf_fini(&errs);
    if (rc != 0)
        return noa_error_set(err, rc, "%s: %s", r->o.directory, noa_strerror(rc));
    for (unsigned i = 0; i < set.n_files; i++) {
        const struct noa_ruler_file *f = &set.files[i];
        if (strcmp(f->tenant, tenant) || (ns && strcmp(f->ns, ns)))
            continue;
        unsigned in_file = 0;
        for (unsigned k = 0; k < f->n_groups; k++) {
            if (group && strcmp(f->groups[k].name, group))
                continue;
            if (group) {
                noa_ruler_rules_format_group(&f->groups[k], 0, 0, out);
                found++;
                continue;
            }
            if (!in_file++) {
                noa_buf_put_json_str(out, f->ns, strlen(f->ns));
                noa_buf_printf(out, ":\n");
            }
            noa_ruler_rules_format_group(&f->groups[k], 4, 1, out);
            found++;
        }
    }
    noa_ruler_rules_set_fini(&set);
    if (!found) {
        if (group)
            return noa_error_set(err, NOA_ENOTFOUND, "group does not exist");
        return noa_error_set(err, NOA_ENOTFOUND, "no rule groups found");
    }
    return 0;
}

/* ---- HTTP handlers ------------------------------------------------------------------- */

#define SUCCESS_NULL "{\"status\":\"success\",\"data\":null,\"errorType\":\"\",\"error\":\"\"}"

/* The request's tenant into buf; replies 401/400 and returns -1 on failure. */
static int tenant_of(struct noa_ruler *r, struct noa_http_request *req, char *buf, size_t cap)
{
    const struct noa_str *h = noa_http_request_header(req, "X-Scope-OrgID");
    struct noa_tenants t;
    struct noa_error err = {0};
    int rc = noa_tenants_parse(h ? h->p : NULL, h ? h->len : 0, r->o.auth_enabled, &t, &err);
    if (rc != 0) {
        noa_http_reply_error(req, noa_err_http_status(rc), err.msg);
        return -1;
    }
    snprintf(buf, cap, "%s", t.ids[0]);
    noa_tenants_fini(&t);
    return 0;
}

static const char *param_c(struct noa_http_request *req, const char *name)
{
    struct noa_str v = noa_http_request_param(req, name);
    if (!v.p || !v.len)
        return NULL;
    return noa_arena_strndup(&req->arena, v.p, v.len);
}

/* Every non-empty value of name[] and name, in the request's arena. */
static const char *const *form_list(struct noa_http_request *req, const struct noa_form *f,
                                    const char *name, unsigned *n)
{
    char arr[64];
    snprintf(arr, sizeof(arr), "%s[]", name);
    size_t total = noa_form_count(f, arr) + noa_form_count(f, name);
    const char **v = noa_arena_alloc(&req->arena, (total + 1) * sizeof(*v));
    const char *names[2] = {arr, name};
    *n = 0;
    for (int k = 0; k < 2; k++) {
        size_t it = 0;
        const struct noa_str *s;
        while ((s = noa_form_next(f, names[k], &it)) != NULL)
            if (s->len)
                v[(*n)++] = s->p;
    }
    return v;
}

static void prom_rules_cb(struct noa_http_request *req, void *ctx)
{
    struct noa_ruler *r = ctx;
    char tenant[256];
    struct noa_form form = {0};
    struct noa_error err = {0};
    struct noa_buf out = {0};
    if (tenant_of(r, req, tenant, sizeof(tenant)) != 0)
        return;
    noa_form_parse(&form, &req->arena, req->query, &err);
    const struct noa_str *type = noa_form_get(&form, "type");
    struct noa_ruler_filter f = {.type = type && type->len ? type->p : NULL};
    f.files = form_list(req, &form, "file", &f.n_files);
    f.rule_groups = form_list(req, &form, "rule_group", &f.n_rule_groups);
    f.rule_names = form_list(req, &form, "rule_name", &f.n_rule_names);
    int rc = noa_ruler_rules_json(r, tenant, &f, &out);
    noa_http_reply_buf(req, rc == 0 ? 200 : 400, "application/json", &out);
    noa_buf_fini(&out);
}

static void prom_alerts_cb(struct noa_http_request *req, void *ctx)
{
    struct noa_ruler *r = ctx;
    char tenant[256];
    struct noa_buf out = {0};
    if (tenant_of(r, req, tenant, sizeof(tenant)) != 0)
        return;
    noa_ruler_alerts_json(r, tenant, &out);
    noa_http_reply_buf(req, 200, "application/json", &out);
    noa_buf_fini(&out);
}

static void rules_get_cb(struct noa_http_request *req, void *ctx)
{
    struct noa_ruler *r = ctx;
    char tenant[256];
    struct noa_error err = {0};
    struct noa_buf out = {0};
    if (tenant_of(r, req, tenant, sizeof(tenant)) != 0)
        return;
    const char *ns = param_c(req, "namespace"), *group = param_c(req, "groupName");
    if ((ns && !noa_ruler_rules_safe_name(ns))) {
        noa_http_reply_error(req, 400, "invalid namespace name");
        return;
    }
    int rc = noa_ruler_config_yaml(r, tenant, ns, group, &out, &err);
    if (rc != 0)
        noa_http_reply_error(req, noa_err_http_status(rc), err.msg);
    else
        noa_http_reply_buf(req, 200, "application/yaml", &out);
    noa_buf_fini(&out);
}

static void rules_post_cb(struct noa_http_request *req, void *ctx)
{
    struct noa_ruler *r = ctx;
    char tenant[256];
    struct noa_error err = {0};
    struct noa_buf errs = {0};
    struct noa_ruler_group g;
    if (tenant_of(r, req, tenant, sizeof(tenant)) != 0)
        return;
    const char *ns = param_c(req, "namespace");
    if (!ns || !noa_ruler_rules_safe_name(ns)) {
        noa_http_reply_error(req, 400, "invalid namespace name");
        return;
    }
    if (noa_ruler_rules_parse_group(req->body.p ? req->body.p : "", req->body.len, ns, &g,
                                    &errs) != 0) {
        noa_http_reply_error(req, 400, noa_buf_cstr(&errs));
        noa_buf_fini(&errs);
        return;
    }
    int rc = noa_ruler_rules_store(r->o.directory, tenant, ns, g.name, &g, &err);
    noa_ruler_rules_group_fini(&g);
    if (rc != 0) {
        noa_http_reply_error(req, noa_err_http_status(rc), err.msg);
        return;
    }
    request_reload(r);
    noa_http_reply(req, 202, "application/json", SUCCESS_NULL, strlen(SUCCESS_NULL));
}

static void rules_delete_cb(struct noa_http_request *req, void *ctx)
{
    struct noa_ruler *r = ctx;
    char tenant[256];
    struct noa_error err = {0};
    if (tenant_of(r, req, tenant, sizeof(tenant)) != 0)
        return;
    const char *ns = param_c(req, "namespace"), *group = param_c(req, "groupName");
    if (!ns || !noa_ruler_rules_safe_name(ns)) {
        noa_http_reply_error(req, 400, "invalid namespace name");
        return;
    }
    int rc = noa_ruler_rules_store(r->o.directory, tenant, ns, group, NULL, &err);
    if (rc != 0) {
        noa_http_reply_error(req, noa_err_http_status(rc), err.msg);
        return;
    }
    request_reload(r);
    noa_http_reply(req, 202, "application/json", SUCCESS_NULL, strlen(SUCCESS_NULL));
}

int noa_ruler_register(struct noa_ruler *r, struct noa_http_server *srv)
{
    static const struct noa_http_route_spec state[] = {
        {NOA_HTTP_GET, "/prometheus/api/v1/rules", NULL, prom_rules_cb},
        {NOA_HTTP_GET, "/prometheus/api/v1/alerts", NULL, prom_alerts_cb},
        {NOA_HTTP_GET, "/api/prom/api/v1/rules", NULL, prom_rules_cb},
        {NOA_HTTP_GET, "/api/prom/api/v1/alerts", NULL, prom_alerts_cb},
    };
    static const struct noa_http_route_spec config[] = {
        {NOA_HTTP_GET, "/loki/api/v1/rules", NULL, rules_get_cb},
        {NOA_HTTP_GET, "/loki/api/v1/rules/{namespace}", NULL, rules_get_cb},
        {NOA_HTTP_GET, "/loki/api/v1/rules/{namespace}/{groupName}", NULL, rules_get_cb},
        {NOA_HTTP_POST, "/loki/api/v1/rules/{namespace}", NULL, rules_post_cb},
        {NOA_HTTP_DELETE, "/loki/api/v1/rules/{namespace}", NULL, rules_delete_cb},
        {NOA_HTTP_DELETE, "/loki/api/v1/rules/{namespace}/{groupName}", NULL, rules_delete_cb},
        {NOA_HTTP_GET, "/api/prom/rules", NULL, rules_get_cb},
        {NOA_HTTP_GET, "/api/prom/rules/{namespace}", NULL, rules_get_cb},
        {NOA_HTTP_GET, "/api/prom/rules/{namespace}/{groupName}", NULL, rules_get_cb},
        {NOA_HTTP_POST, "/api/prom/rules/{namespace}", NULL, rules_post_cb},
        {NOA_HTTP_DELETE, "/api/prom/rules/{namespace}", NULL, rules_delete_cb},
        {NOA_HTTP_DELETE, "/api/prom/rules/{namespace}/{groupName}", NULL, rules_delete_cb},
    };
    /* Loki serves every ruler route only with ruler.enable_api. */
    if (!r->o.enable_api)
        return 0;
    int rc = noa_http_server_routes(srv, state, sizeof(state) / sizeof(state[0]), r);
    if (rc == 0)
        rc = noa_http_server_routes(srv, config, sizeof(config) / sizeof(config[0]), r);
    return rc;
}
