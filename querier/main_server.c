/*
 * noa-server: the Loki-compatible server. Loads the config, serves the
 * status, push and query APIs on one libuv loop, replays the WAL on a
 * worker (answering 503 meanwhile), and shuts down gracefully on SIGTERM
 * or SIGINT (finishing in-flight requests, flushes and WAL writes).
 */
#include "common/config.h"
#include "common/http_server.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "common/regex.h"
#include "ingester/chunk.h"
#include "ingester/ingester.h"
#include "ingester/push_api.h"
#include "ingester/retention.h"
#include "querier/detected_api.h"
#include "querier/query_api.h"
#include "querier/tail_api.h"
#include "querier/ruler_store.h"
#include "querier/server_config.h"
#include "common/status_api.h"
#include "common/tls_server.h"
#include "querier/volume_api.h"

#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

struct server {
    uv_loop_t *loop;
    struct noa_server_config cfg;
    struct noa_metrics *metrics;
    struct noa_metric *req_duration;
    struct noa_http_server *http;
    struct noa_ingester *ing;
    struct noa_push_api *push;
    struct noa_read_api_context read_ctx; /* shared by the query, detected and volume APIs */
    struct noa_query_api *query;
    struct noa_tail_api *tail;
    struct noa_detected_api *detected;
    struct noa_volume_api *volume;
    struct noa_status_api *status;
    struct noa_ruler_store *ruler;
    struct noa_retention *retention; /* NULL unless compactor.retention_enabled */
    uv_signal_t sigterm, sigint;
    int stopping;
    int exit_code;
};

static void observe_request(const char *route, const char *method, int status, double seconds,
                            void *ctx)
{
    struct server *s = ctx;
    char code[8];
    snprintf(code, sizeof(code), "%d", status);
    /* Loki's labels; websocket routes (the live tail) are not observed,
     * so ws is always "false" here, kept for dashboards that match on it. */
    const char *values[] = {method, route, code, "false"};
    noa_metric_observe(noa_metric_child(s->req_duration, values), seconds);
}

static int ready_cb(void *ctx, char *why, size_t cap)
{
    struct server *s = ctx;
    if (s->stopping) {
        snprintf(why, cap, "Ingester not ready: shutting down");
        return 0;
    }
    if (!s->ing || !noa_ingester_ready(s->ing)) {
        snprintf(why, cap, "Ingester not ready: waiting for WAL replay to finish");
        return 0;
    }
    return 1;
}

static void config_cb(void *ctx, const char *mode, struct noa_buf *out)
{
    struct server *s = ctx;
    enum noa_config_dump_mode m = strcmp(mode, "defaults") == 0 ? NOA_CONFIG_DUMP_DEFAULTS
                                  : strcmp(mode, "diffs") == 0  ? NOA_CONFIG_DUMP_DIFFS
                                                                : NOA_CONFIG_DUMP_ALL;
    noa_server_config_dump(&s->cfg, m, out);
}

static double ingester_gauge(struct server *s, int which)
{
    struct noa_ingester_stats st = {0};
    if (s->ing)
        noa_ingester_stats(s->ing, &st);
    switch (which) {
    case 0: return (double)st.streams;
    case 1: return (double)st.chunks_flushed;
    case 2: return (double)st.flush_failures;
    case 3: return (double)st.lines_appended;
    case 4: return (double)st.duplicates_dropped;
    case 5: return (double)st.checkpoints;
    case 6: return (double)st.replayed_records;
    case 7: return (double)st.wal_corruptions;
    case 8: return (double)st.chunk_bytes_flushed;
    case 10: return (double)st.wal_disk_full;
    case 11: return st.wal_disk_used;
    case 12: return (double)st.checkpoint_failures;
    case 13: return (double)st.wal_write_errors;
    default: return (double)st.flush_queue;
    }
}

#define GAUGE_FN(n)                                                                                \
    static double gauge_##n(void *ctx)                                                             \
    {                                                                                              \
        return ingester_gauge(ctx, n);                                                             \
    }
GAUGE_FN(0)
GAUGE_FN(1)
GAUGE_FN(2)
GAUGE_FN(3)
GAUGE_FN(4)
GAUGE_FN(5)
GAUGE_FN(6)
GAUGE_FN(7)
GAUGE_FN(8)
GAUGE_FN(9)
GAUGE_FN(10)
GAUGE_FN(11)
GAUGE_FN(12)
GAUGE_FN(13)

/* 1 when /ready would answer 200: what NoaNotReady alerts on. */
static double ready_gauge(void *ctx)
{
    char why[128];
    return ready_cb(ctx, why, sizeof(why)) ? 1.0 : 0.0;
}

/*
 * Free and total bytes of the filesystem holding the chunks directory
 * (the bulk of the data directory), read at scrape time so that a disk
 * filling between flush ticks still shows. Free counts what an
 * unprivileged writer may use (f_bavail), as df and node_exporter's
 * avail do. NaN (no sample) while the directory does not exist yet.
 */
static double data_disk(struct server *s, int total)
{
    struct statvfs sv;
    if (!s->cfg.chunks_dir || statvfs(s->cfg.chunks_dir, &sv) != 0)
        return NAN;
    double frsize = (double)(sv.f_frsize ? sv.f_frsize : sv.f_bsize);
    return (total ? (double)sv.f_blocks : (double)sv.f_bavail) * frsize;
}

static double data_disk_free(void *ctx)
{
    return data_disk(ctx, 0);
}

static double data_disk_total(void *ctx)
{
    return data_disk(ctx, 1);
}

static double regex_limit_hits(void *unused)
{
    (void)unused;
    return (double)atomic_load(&noa_regex_limit_hits);
}

static void register_metrics(struct server *s)
{
    struct noa_metrics *m = s->metrics;
    const char *rl[] = {"method", "route", "status_code", "ws"};
    s->req_duration = noa_metrics_histogram(m, "noa_request_duration_seconds",
                                            "Time (in seconds) spent serving HTTP requests.", 4,
                                            rl, NULL, 0);
    noa_metrics_gauge_func(m, "noa_ready", "1 when the server is ready (/ready answers 200).",
                           ready_gauge, s);
    noa_metrics_gauge_func(m, "noa_ingester_data_disk_free_bytes",
                           "Bytes available to noa on the filesystem of the chunks directory.",
                           data_disk_free, s);
    noa_metrics_gauge_func(m, "noa_ingester_data_disk_total_bytes",
                           "Size in bytes of the filesystem of the chunks directory.",
                           data_disk_total, s);
    noa_metrics_counter_func(m, "noa_ingester_checkpoint_failures_total",
                             "WAL checkpoints that failed (retried at the next period).", gauge_12,
                             s);
    noa_metrics_counter_func(m, "noa_ingester_wal_write_errors_total",
                             "WAL writes, syncs or segment creations that failed.", gauge_13, s);
    noa_metrics_gauge_func(m, "noa_ingester_memory_streams", "Streams held in memory.", gauge_0, s);
    noa_metrics_counter_func(m, "noa_regex_match_limit_hits_total",
                             "Regex matches abandoned at the backtracking limit (counted as no "
                             "match).",
                             regex_limit_hits, NULL);
    noa_metrics_counter_func(m, "noa_ingester_chunks_flushed_total", "Chunks written to the store.",
                             gauge_1, s);
    noa_metrics_counter_func(m, "noa_ingester_chunk_flush_failures_total",
                             "Chunk flushes that failed (and will be retried).", gauge_2, s);
    noa_metrics_counter_func(m, "noa_ingester_lines_appended_total",
                             "Entries appended to stream heads.", gauge_3, s);
    noa_metrics_counter_func(m, "noa_ingester_duplicate_entries_total",
                             "Entries dropped because the stream already held them.", gauge_4, s);
    noa_metrics_counter_func(m, "noa_ingester_checkpoints_total", "WAL checkpoints written.",
                             gauge_5, s);
    noa_metrics_gauge_func(m, "noa_ingester_wal_replayed_records",
                           "WAL records replayed at the last start.", gauge_6, s);
    noa_metrics_counter_func(m, "noa_ingester_wal_corruptions_total",
                             "WAL files or records found corrupt at replay.", gauge_7, s);
    noa_metrics_counter_func(m, "noa_ingester_chunk_stored_bytes_total",
                             "Bytes of chunks written to the store.", gauge_8, s);
    noa_metrics_gauge_func(m, "noa_ingester_flush_queue_length", "Chunk flushes in progress.",
                           gauge_9, s);
    noa_metrics_gauge_func(m, "noa_ingester_wal_disk_full",
                           "1 while pushes are refused because the WAL filesystem is full.",
                           gauge_10, s);
    noa_metrics_gauge_func(m, "noa_ingester_wal_disk_used_ratio",
                           "Fraction of the WAL filesystem in use at the last check.", gauge_11, s);
}

/* POST /flush: cut every open chunk and flush it (as Loki's ingester). */
static void flush_handler(struct noa_http_request *req, void *ctx)
{
    struct server *s = ctx;
    if (!s->ing || !noa_ingester_ready(s->ing)) {
        noa_http_reply_error(req, 503, "Ingester not ready");
        return;
    }
    noa_ingester_flush_all(s->ing);
    noa_http_reply(req, 204, NULL, NULL, 0);
}

/* compactor.retention_enabled: sweeps on their own thread over the
 * ingester's index and chunk store. A failure to start is logged, not
 * fatal: data is kept, as with retention off. */
static void start_retention(struct server *s)
{
    const struct noa_server_config *c = &s->cfg;
    struct noa_error err = {0};
    struct noa_buf dir = {0};
    struct noa_retention_rules rules = {0};
    if (!c->compactor.retention_enabled)
        return;
    noa_buf_printf(&dir, "%s/retention", c->compactor_dir);
    /* Validated at load: this parse cannot fail on a config that loaded. */
    int rc = noa_retention_rules_parse(noa_server_config_raw(c, "limits_config.retention_stream"),
                                       &rules, &err);
    struct noa_retention_options ro = {
        .period_ns = c->limits.retention_period_ns,
        .interval_ns = c->compactor.apply_retention_interval_ns
                           ? c->compactor.apply_retention_interval_ns
                           : c->compactor.compaction_interval_ns,
        .delete_delay_ns = c->compactor.retention_delete_delay_ns,
        .work_dir = dir.data,
        .metrics = s->metrics,
        .rules = &rules,
    };
    if (rc == 0)
        rc = noa_retention_new(noa_ingester_index(s->ing), noa_ingester_store(s->ing), &ro,
                               &s->retention, &err);
    if (rc == 0 && (rc = noa_retention_start(s->retention)) < 0)
        noa_error_set(&err, rc, "starting the retention thread: %s", noa_strerror(rc));
    if (rc < 0)
        noa_log(NOA_LOG_ERROR, "compactor", "msg=\"cannot start retention\" err=\"%s\"",
                err.msg[0] ? err.msg : noa_strerror(rc));
    noa_retention_rules_fini(&rules); /* empty unless _new failed */
    noa_buf_fini(&dir);
}

static void recovered_cb(int status, const struct noa_error *err, void *ctx)
{
    struct server *s = ctx;
    if (status < 0) {
        noa_log(NOA_LOG_ERROR, "server", "msg=\"WAL replay failed\" err=\"%s\"",
                err->msg[0] ? err->msg : noa_strerror(status));
        s->exit_code = 1;
        uv_kill(getpid(), SIGTERM);
        return;
    }
    noa_push_api_set_ingester(s->push, s->ing);
    s->read_ctx.ingester = s->ing;
    noa_ingester_start(s->ing);
    start_retention(s);
    if (s->ruler && (status = noa_ruler_store_start(s->ruler, s->ing)) < 0)
        noa_log(NOA_LOG_ERROR, "server", "msg=\"cannot start the ruler\" err=\"%s\"",
                noa_strerror(status));
    noa_log(NOA_LOG_INFO, "server", "msg=\"ready\"");
}

static void ingester_closed_cb(void *ctx)
{
    struct server *s = ctx;
    s->ing = NULL;
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_close((uv_handle_t *)&s->sigint, NULL);
}

static void http_closed_cb(void *ctx)
{
    struct server *s = ctx;
    s->http = NULL;
    /* The ruler reads through the ingester: stop it first. */
    noa_ruler_store_free(s->ruler);
    s->ruler = NULL;
    /* Retention uses the ingester's index and store: stop it before them
     * (waits for a sweep's current batch at most). */
    noa_retention_free(s->retention);
    s->retention = NULL;
    if (s->ing)
        noa_ingester_close(s->ing, ingester_closed_cb, s);
    else
        ingester_closed_cb(s);
}

static void signal_cb(uv_signal_t *h, int signum)
{
    struct server *s = h->data;
    if (s->stopping)
        return;
    s->stopping = 1;
    noa_log(NOA_LOG_INFO, "server", "msg=\"shutting down\" signal=%d", signum);
    /* Live tails never end on their own: close them so the server's
     * close, which waits for every request, can finish. */
    noa_tail_api_shutdown(s->tail);
    noa_http_server_close(s->http, http_closed_cb, s);
}

static int start(struct server *s)
{
    struct noa_error err = {0};
    const struct noa_server_config *c = &s->cfg;
    struct noa_http_server_options ho = {
        .host = c->server.http_listen_address,
        .port = c->server.http_listen_port,
        .max_body_bytes = (size_t)c->distributor.max_recv_msg_size,
        .observe_cb = observe_request,
        .observe_ctx = s,
    };
    int rc = 0;
    /* dskit also takes the PEM inline (cert, key, client_ca); noa does
     * not yet, and serving plain HTTP instead would be a surprise. */
    static const char *const inline_pem[] = {"cert", "key", "client_ca"};
    for (size_t i = 0; i < sizeof(inline_pem) / sizeof(inline_pem[0]); i++) {
        char path[64];
        snprintf(path, sizeof(path), "server.http_tls_config.%s", inline_pem[i]);
        const struct noa_yaml_node *n = noa_server_config_raw(c, path);
        if (n && n->kind == NOA_YAML_SCALAR && n->len) {
            noa_log(NOA_LOG_ERROR, "server",
                    "msg=\"cannot set up http_tls_config\" err=\"%s:%d: inline %s is not "
                    "supported: use %s_file\"",
                    n->file ? n->file : "config", n->line, inline_pem[i], inline_pem[i]);
            return NOA_EUNSUPP;
        }
    }
    if (c->server.http_tls_cert_file[0]) {
        /* Loaded once here so a bad file stops start-up, naming it. */
        struct noa_tls_server_options to = {.cert_file = c->server.http_tls_cert_file,
                                            .key_file = c->server.http_tls_key_file,
                                            .client_auth_type = c->server.http_tls_client_auth_type,
                                            .client_ca_file = c->server.http_tls_client_ca_file,
                                            .min_version = c->server.tls_min_version};
        if ((rc = noa_tls_server_new(&to, &ho.tls, &err)) < 0) {
            noa_log(NOA_LOG_ERROR, "server", "msg=\"cannot set up http_tls_config\" err=\"%s\"",
                    err.msg);
            return rc;
        }
        noa_log(NOA_LOG_INFO, "server", "msg=\"serving HTTPS\" client_auth_type=%s",
                c->server.http_tls_client_auth_type[0] ? c->server.http_tls_client_auth_type
                                                       : "NoClientCert");
    } else if (c->server.http_tls_key_file[0] || c->server.http_tls_client_ca_file[0]) {
        /* dskit turns TLS on by cert_file alone; say why it is off. */
        noa_log(NOA_LOG_WARN, "server",
                "msg=\"http_tls_config without cert_file: serving plain HTTP\"");
    }
    rc = noa_http_server_new(s->loop, &ho, &s->http);
    if (rc < 0)
        return rc;
    struct noa_status_api_options so = {.metrics = s->metrics, .ready_cb = ready_cb,
                                        .ready_ctx = s, .config_cb = config_cb, .config_ctx = s,
                                        .services = "server => Running\ningester => Running\n"
                                                    "querier => Running\nruler => Running\n"};
    struct noa_push_api_options po = {.limits = &c->limits, .auth_enabled = c->auth_enabled,
                                      .max_decompressed_bytes =
                                          (size_t)c->distributor.max_decompressed_size,
                                      .metrics = s->metrics, .loop = s->loop};
    s->read_ctx = (struct noa_read_api_context){.loop = s->loop, .limits = &c->limits,
                                                .auth_enabled = c->auth_enabled};
    if ((rc = noa_status_api_new(s->http, &so, &s->status)) < 0 ||
        (rc = noa_push_api_new(s->http, &po, &s->push)) < 0 ||
        (rc = noa_query_api_new(s->http, &s->read_ctx, &s->query)) < 0 ||
        (rc = noa_tail_api_new(s->http, &s->read_ctx, &s->tail)) < 0 ||
        (rc = noa_detected_api_new(s->http, &s->read_ctx, &s->detected)) < 0 ||
        (rc = noa_volume_api_new(s->http, &s->read_ctx, &s->volume)) < 0 ||
        (rc = noa_ruler_store_new(c, s->http, &s->ruler)) < 0 ||
        (rc = noa_http_server_route(s->http, NOA_HTTP_POST | NOA_HTTP_GET, "/flush", "flush",
                                    flush_handler, s)) < 0)
        return rc;
    rc = noa_http_server_listen(s->http);
    if (rc < 0) {
        noa_log(NOA_LOG_ERROR, "server", "msg=\"cannot listen\" address=%s port=%d err=\"%s\"",
                c->server.http_listen_address, c->server.http_listen_port, noa_strerror(rc));
        return rc;
    }
    noa_log(NOA_LOG_INFO, "server", "msg=\"listening\" address=%s port=%d target=%s",
            c->server.http_listen_address[0] ? c->server.http_listen_address : "0.0.0.0",
            noa_http_server_port(s->http), c->target);
    struct noa_ingester_options io = {
        .wal_dir = c->wal_dir,
        .chunks_dir = c->chunks_dir,
        .index_dir = c->index_dir,
        .wal_enabled = c->ingester.wal.enabled,
        .checkpoint_period_ns = c->ingester.wal.checkpoint_duration_ns,
        .block_size = (uint32_t)c->ingester.chunk_block_size,
        .target_size = (uint64_t)c->ingester.chunk_target_size,
        .idle_period_ns = c->ingester.chunk_idle_period_ns,
        .max_chunk_age_ns = c->ingester.max_chunk_age_ns,
        .flush_check_period_ns = c->ingester.flush_check_period_ns,
        .flush_on_shutdown = c->ingester.wal.flush_on_shutdown || !c->ingester.wal.enabled,
        .disk_full_threshold = c->ingester.wal.disk_full_threshold,
        .zstd_level = 1,
        .chunk_codec = noa_chunk_codec_from_name(c->ingester.chunk_encoding),
        .limits = &c->limits,
        .metrics = s->metrics,
    };
    rc = noa_ingester_open(s->loop, &io, &s->ing, &err);
    if (rc < 0) {
        noa_log(NOA_LOG_ERROR, "server", "msg=\"cannot open storage\" err=\"%s\"",
                err.msg[0] ? err.msg : noa_strerror(rc));
        return rc;
    }
    return noa_ingester_recover(s->ing, recovered_cb, s);
}

int main(int argc, char **argv)
{
    struct server s = {0};
    struct noa_error err = {0};
    int rc = noa_server_config_load(argc, argv, &s.cfg, &err);
    if (rc < 0) {
        fprintf(stderr, "error: %s\n", err.msg[0] ? err.msg : noa_strerror(rc));
        return 1;
    }
    if (s.cfg.action != NOA_SERVER_RUN) {
        struct noa_buf b = {0};
        if (s.cfg.action == NOA_SERVER_HELP)
            noa_server_config_usage(&b);
        else if (s.cfg.action == NOA_SERVER_VERSION)
            noa_buf_printf(&b, "noa-server, version %s\n", NOA_VERSION);
        else
            noa_buf_printf(&b, "config OK\n");
        fwrite(b.data, 1, b.len, stdout);
        noa_buf_fini(&b);
        noa_server_config_fini(&s.cfg);
        return 0;
    }
    if (s.cfg.target_id != NOA_TARGET_ALL) {
        /* Running one role needs the ring and the internal APIs between
         * roles; until they exist, say so rather than run all of them. */
        fprintf(stderr,
                "error: -target=%s is not supported yet: noa-server runs every role in one "
                "process (-target=all)\n",
                s.cfg.target);
        noa_server_config_fini(&s.cfg);
        return 1;
    }
    if (s.cfg.print_config) {
        struct noa_buf b = {0};
        noa_server_config_dump(&s.cfg, NOA_CONFIG_DUMP_ALL, &b);
        fwrite(b.data, 1, b.len, stderr);
        noa_buf_fini(&b);
    }
    enum noa_log_level level;
    if (noa_log_parse_level(s.cfg.server.log_level, &level) == 0)
        noa_log_set_level(level);
    signal(SIGPIPE, SIG_IGN);
    /* Push bodies, decoded requests and WAL records are large and short-lived:
     * served from mmap, each would cost page faults on every request. Keep
     * them on the heap, where freed memory is reused. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
    s.loop = uv_default_loop();
    s.metrics = noa_metrics_default();
    noa_metrics_add_process(s.metrics);
    register_metrics(&s);
    uv_signal_init(s.loop, &s.sigterm);
    uv_signal_init(s.loop, &s.sigint);
    s.sigterm.data = s.sigint.data = &s;
    uv_signal_start(&s.sigterm, signal_cb, SIGTERM);
    uv_signal_start(&s.sigint, signal_cb, SIGINT);
    rc = start(&s);
    if (rc < 0) {
        s.exit_code = 1;
        s.stopping = 1;
        if (s.http)
            noa_http_server_close(s.http, http_closed_cb, &s);
        else
            http_closed_cb(&s);
    }
    uv_run(s.loop, UV_RUN_DEFAULT);
    noa_push_api_free(s.push);
    noa_query_api_free(s.query);
    noa_tail_api_free(s.tail);
    noa_detected_api_free(s.detected);
    noa_volume_api_free(s.volume);
    noa_status_api_free(s.status);
    noa_server_config_fini(&s.cfg);
    uv_loop_close(s.loop);
    noa_log(NOA_LOG_INFO, "server", "msg=\"stopped\"");
    return s.exit_code;
}
