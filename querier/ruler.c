/*
 * The ruler: its thread (reload, schedule, evaluate, notify, remote
 * write) and its HTTP API. See querier/ruler.h for the threads and locks.
 */
#include "querier/ruler.h"

#include "common/clock.h"
#include "common/form.h"
#include "common/log.h"
#include "common/mem.h"
#include "querier/metric_eval.h"
#include "querier/params.h"
#include "querier/ruler_alerts.h"
#include "querier/ruler_notify.h"
#include "querier/ruler_remote_write.h"
#include "querier/ruler_rules.h"
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
    struct noa_ruler_remote_write *rw;
    char *last_errs; /* ruler thread: the last load errors logged (logged again only on change) */
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
            if (!old)
                continue;
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
    if (rc == 0 && r->rw && n) {
        noa_ruler_remote_write_encode(series, n, &proto);
        rc = noa_ruler_remote_write_send(r->rw, g->file->tenant, &proto, err);
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
    struct noa_buf json = {0};
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
        const struct noa_ruler_alert **due = noa_xcalloc(rt->alerts.n + 1, sizeof(*due));
        unsigned nd = noa_ruler_alerts_due(&rt->alerts, ts, r->o.resend_delay_ns, g->interval_ns,
                                           due, rt->alerts.n);
        if (nd && r->notify) {
            struct noa_buf url = {0};
            noa_ruler_notify_generator_url(r->o.external_url, rule->expr, &url);
            noa_ruler_notify_encode(due, nd, noa_buf_cstr(&url), r->o.external_labels,
                                    r->o.n_external_labels, &json);
            noa_buf_fini(&url);
        }
        noa_free(due);
    }
    rt->health = rc == 0 ? HEALTH_OK : HEALTH_ERR;
    snprintf(rt->last_error, sizeof(rt->last_error), "%s", rc == 0 ? "" : err.msg);
    rt->last_eval_ns = ts;
    rt->eval_s = (double)(noa_clock_mono_ns() - t0) / 1e9;
    uv_mutex_unlock(&r->mu);
    if (rc != 0)
        noa_log(NOA_LOG_WARN, "ruler", "msg=\"rule evaluation failed\" tenant=%s group=%s rule=%s err=\"%s\"",
                g->file->tenant, g->g->name, rule->name, err.msg);
    if (json.len) {
        struct noa_error nerr = {0};
        if (noa_ruler_notify_send(r->notify, &json, &nerr) != 0)
            noa_log(NOA_LOG_WARN, "ruler", "msg=\"sending alerts failed\" err=\"%s\"", nerr.msg);
    }
    noa_buf_fini(&json);
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
    uv_mutex_unlock(&r->mu);
}

void noa_ruler_eval_all(struct noa_ruler *r, int64_t ts_ns)
{
    for (unsigned i = 0; i < r->n_groups; i++)
        eval_group(r, &r->groups[i], ts_ns);
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
    if (!o->directory || !*o->directory || !o->source.open_cb)
        return NOA_EINVAL;
    struct noa_ruler *r = noa_xcalloc(1, sizeof(*r));
    int rc = 0;
    r->o = *o;
    r->o.directory = noa_xstrdup(o->directory);
    r->o.alertmanager_url = dup_or_null(o->alertmanager_url);
    r->o.external_url = noa_xstrdup(o->external_url ? o->external_url : "");
    r->o.remote_write_url = dup_or_null(o->remote_write_url);
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
    if (r->o.alertmanager_url && (rc = noa_ruler_notify_new(r->o.alertmanager_url, 0, &r->notify)))
        goto fail;
    if (r->o.remote_write_url) {
        /* 10 s per attempt (not Prometheus's 30 s) bounds how long a dead
         * receiver can hold up the ruler thread, and with it shutdown. */
        struct noa_ruler_remote_write_options rwo = {.url = r->o.remote_write_url,
                                                     .timeout_ms = 10000,
                                                     .add_org_id_header = 1};
        if ((rc = noa_ruler_remote_write_new(&rwo, &r->rw)))
            goto fail;
    }
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
    noa_ruler_remote_write_free(r->rw);
    uv_cond_destroy(&r->cond);
    uv_mutex_destroy(&r->mu);
    noa_free((char *)r->o.directory);
    noa_free((char *)r->o.alertmanager_url);
    noa_free((char *)r->o.external_url);
    noa_free((char *)r->o.remote_write_url);
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
