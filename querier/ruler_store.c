/*
 * noa-server's ruler: options from the server config and a metric source
 * over storage. See querier/ruler_store.h. Created on the loop thread; the
 * source callbacks run on the ruler thread.
 */
#include "querier/ruler_store.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "common/yaml.h"
#include "querier/metric_store.h"
#include "querier/tenants.h"

#include <string.h>

/* A rule query is abandoned after this long (ns). */
#define RULE_QUERY_TIMEOUT_NS (120LL * 1000000000LL)

struct noa_ruler_store {
    struct noa_ingester *ing; /* set before the ruler thread starts, then read-only */
    struct noa_ruler *ruler;
};

/* One evaluation's source: the store and the one-tenant list it borrows. */
struct open_store {
    struct noa_metric_store ms;
    struct noa_tenants tenants;
    char *ids[1];
};

static int open_cb(void *ctx, const char *tenant, struct noa_logql_expr *e,
                   struct noa_metric_source *src, void **handle, struct noa_error *err)
{
    struct noa_ruler_store *rs = ctx;
    struct open_store *os = noa_xcalloc(1, sizeof(*os));
    os->ids[0] = noa_xstrdup(tenant);
    os->tenants.ids = os->ids;
    os->tenants.n = 1;
    int rc = noa_metric_store_init(&os->ms, rs->ing, &os->tenants, e,
                                   noa_clock_mono_ns() + RULE_QUERY_TIMEOUT_NS, err);
    if (rc != 0) {
        noa_metric_store_fini(&os->ms);
        noa_free(os->ids[0]);
        noa_free(os);
        return rc;
    }
    *src = noa_metric_store_source(&os->ms);
    *handle = os;
    return 0;
}

static void close_cb(void *ctx, void *handle)
{
    struct open_store *os = handle;
    (void)ctx;
    noa_metric_store_fini(&os->ms);
    noa_free(os->ids[0]);
    noa_free(os);
}

/* ruler.external_labels as pairs borrowed from the config document
 * (*n = 0 when absent; non-string values are skipped). */
static struct noa_ruler_kv *external_labels(const struct noa_server_config *c, unsigned *n)
{
    const struct noa_yaml_node *m = noa_server_config_raw(c, "ruler.external_labels");
    *n = 0;
    if (!m || m->kind != NOA_YAML_MAP || !m->n)
        return NULL;
    struct noa_ruler_kv *v = noa_xcalloc(m->n, sizeof(*v));
    for (size_t i = 0; i < m->n; i++) {
        if (m->pairs[i].value->kind != NOA_YAML_SCALAR)
            continue;
        v[*n].name = (char *)m->pairs[i].key->str;
        v[*n].value = (char *)m->pairs[i].value->str;
        (*n)++;
    }
    return v;
}

int noa_ruler_store_new(const struct noa_server_config *c, struct noa_http_server *srv,
                        struct noa_ruler_store **out)
{
    struct noa_ruler_store *rs = noa_xcalloc(1, sizeof(*rs));
    struct noa_ruler_relabel *relabel = NULL;
    struct noa_error err = {0};
    int rc = noa_ruler_relabel_new(noa_server_config_raw(c, "ruler.alert_relabel_configs"),
                                   &relabel, &err);
    if (rc != 0) {
        noa_log(NOA_LOG_ERROR, "ruler", "msg=\"bad ruler.alert_relabel_configs\" err=\"%s\"", err.msg);
        noa_free(rs);
        return rc;
    }
    unsigned n_ext = 0;
    struct noa_ruler_kv *ext = external_labels(c, &n_ext);
    struct noa_ruler_remote_write_options *rw = NULL;
    unsigned n_rw = 0;
    rc = noa_ruler_remote_write_configs(noa_server_config_raw(c, "ruler.remote_write.client"),
                                        noa_server_config_raw(c, "ruler.remote_write.clients"), &rw,
                                        &n_rw, &err);
    if (rc != 0) {
        noa_log(NOA_LOG_ERROR, "ruler", "msg=\"bad ruler.remote_write\" err=\"%s\"", err.msg);
        noa_free(ext);
        noa_ruler_relabel_free(relabel);
        noa_free(rs);
        return rc;
    }
    if (!c->ruler.remote_write_enabled) { /* configured but off, as Loki */
        noa_ruler_remote_write_configs_free(rw, n_rw);
        rw = NULL;
        n_rw = 0;
    } else if (!n_rw) {
        noa_log(NOA_LOG_WARN, "ruler", "msg=\"ruler.remote_write.enabled without a client url\"");
    }
    for (unsigned i = 0; i < n_rw; i++)
        rw[i].add_org_id_header = c->ruler.remote_write_add_org_id_header;
    /* Alert state lives in the ruler's own directory (ruler.wal.dir). */
    struct noa_buf state_dir = {0};
    noa_buf_printf(&state_dir, "%s/alert-state", c->ruler_wal_dir);
    noa_buf_cstr(&state_dir);
    struct noa_ruler_options o = {
        .directory = c->rules_dir,
        .alertmanager_url = c->ruler.alertmanager_url,
        .external_url = c->ruler.external_url,
        .evaluation_interval_ns = c->ruler.evaluation_interval_ns,
        .poll_interval_ns = c->ruler.poll_interval_ns,
        .resend_delay_ns = c->ruler.resend_delay_ns,
        .remote_write_clients = rw,
        .n_remote_write_clients = n_rw,
        .enable_api = c->ruler.enable_api,
        .auth_enabled = c->auth_enabled,
        .max_series = c->limits.max_query_series,
        .external_labels = ext,
        .n_external_labels = n_ext,
        .source = {open_cb, close_cb, rs},
        .state_dir = state_dir.data,
        .for_outage_tolerance_ns = c->ruler.for_outage_tolerance_ns,
        .for_grace_period_ns = c->ruler.for_grace_period_ns,
        .notification_queue_capacity = c->ruler.notification_queue_capacity > 0
                                           ? (unsigned)c->ruler.notification_queue_capacity
                                           : 0,
        .notification_timeout_ns = c->ruler.notification_timeout_ns,
        .metrics = noa_metrics_default(),
        .alert_relabel = relabel,
    };
    rc = noa_ruler_new(&o, &rs->ruler);
    noa_free(ext); /* the ruler copied the pairs */
    noa_buf_fini(&state_dir);
    if (rc == 0)
        rc = noa_ruler_register(rs->ruler, srv);
    if (rc != 0) {
        noa_ruler_store_free(rs);
        return rc;
    }
    *out = rs;
    return 0;
}

int noa_ruler_store_start(struct noa_ruler_store *rs, struct noa_ingester *ing)
{
    rs->ing = ing;
    return noa_ruler_start(rs->ruler);
}

void noa_ruler_store_free(struct noa_ruler_store *rs)
{
    if (!rs)
        return;
    noa_ruler_free(rs->ruler);
    noa_free(rs);
}
