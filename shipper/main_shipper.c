/*
 * noa-shipper: the node agent, a drop-in for Promtail. Reads Promtail's
 * YAML configuration, runs the shipper (shipper/shipper.h) and serves
 * /ready, /metrics, /config and /targets on server.http_listen_port from
 * a libuv loop on the main thread. SIGTERM or SIGINT stop it gracefully:
 * reading stops, clients send what they hold (up to
 * server.graceful_shutdown_timeout), positions are saved.
 */
#include "common/http_server.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "common/status_api.h"
#include "common/tls_server.h"
#include "shipper/shipper.h"

#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct flags {
    const char *config_file;
    int expand_env;
    int dry_run;
    int print_config;
    int check_syntax;
    int version;
    int help;
    int no_inotify;
    const char *log_level;
    const char *listen_address;
    int listen_port; /* -1: from the file */
    const char *positions_file;
};

struct app {
    uv_loop_t *loop;
    struct flags fl;
    struct noa_shipper_config *cfg;
    struct noa_shipper *shipper;
    struct noa_metrics *metrics;
    struct noa_http_server *http;
    struct noa_status_api *status;
    uv_signal_t sigterm, sigint;
    int stopping;
};

/* The flag list lives with the config tables (noa_shipper_config_usage), so
 * -help and docs/shipper-configuration.md cannot drift apart. */
static void print_usage(FILE *f)
{
    struct noa_buf b = {0};
    noa_shipper_config_usage(&b);
    fputs(noa_buf_cstr(&b), f);
    noa_buf_fini(&b);
}

/* Accepts -name, --name, -name=value, -name value (Go's flag package). */
static int parse_flags(int argc, char **argv, struct flags *fl)
{
    fl->listen_port = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-') {
            fprintf(stderr, "error: unexpected argument %s\n", a);
            return -1;
        }
        a += a[1] == '-' ? 2 : 1;
        char name[64];
        const char *eq = strchr(a, '=');
        size_t n = eq ? (size_t)(eq - a) : strlen(a);
        if (n >= sizeof(name)) {
            fprintf(stderr, "error: flag provided but not defined: %s\n", argv[i]);
            return -1;
        }
        memcpy(name, a, n);
        name[n] = 0;
        const char *val = eq ? eq + 1 : NULL;
        int *boolp = !strcmp(name, "config.expand-env")     ? &fl->expand_env
                     : !strcmp(name, "dry-run")             ? &fl->dry_run
                     : !strcmp(name, "print-config-stderr") ? &fl->print_config
                     : !strcmp(name, "check-syntax")        ? &fl->check_syntax
                     : !strcmp(name, "config.verify")       ? &fl->check_syntax
                     : !strcmp(name, "version")             ? &fl->version
                     : !strcmp(name, "help") || !strcmp(name, "h") ? &fl->help
                     : !strcmp(name, "tail.no-inotify")     ? &fl->no_inotify
                                                            : NULL;
        if (boolp) {
            *boolp = !val || !strcmp(val, "true") || !strcmp(val, "1");
            if (val && !*boolp && strcmp(val, "false") && strcmp(val, "0")) {
                fprintf(stderr, "error: invalid boolean value %s for -%s\n", val, name);
                return -1;
            }
            continue;
        }
        const char **strp = !strcmp(name, "config.file")                   ? &fl->config_file
                            : !strcmp(name, "log.level")                   ? &fl->log_level
                            : !strcmp(name, "server.http-listen-address") ? &fl->listen_address
                            : !strcmp(name, "positions.file")              ? &fl->positions_file
                                                                           : NULL;
        int is_port = !strcmp(name, "server.http-listen-port");
        if (!strp && !is_port) {
            fprintf(stderr, "error: flag provided but not defined: -%s\n", name);
            print_usage(stderr);
            return -1;
        }
        if (!val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "error: flag needs an argument: -%s\n", name);
                return -1;
            }
            val = argv[++i];
        }
        if (is_port) {
            char *end;
            long p = strtol(val, &end, 10);
            if (!*val || *end || p < 0 || p > 65535) {
                fprintf(stderr, "error: invalid port %s for -%s\n", val, name);
                return -1;
            }
            fl->listen_port = (int)p;
        } else {
            *strp = val;
        }
    }
    return 0;
}

static void replace_str(char **field, const char *value)
{
    noa_free(*field);
    *field = noa_xstrdup(value);
}

/* ---- metrics -------------------------------------------------------------------- */

static double stat_of(struct app *a, size_t off)
{
    struct noa_shipper_stats st;
    if (!a->shipper)
        return 0;
    noa_shipper_stats(a->shipper, &st);
    return (double)*(const uint64_t *)((const char *)&st + off);
}

#define STAT_FN(field)                                                                             \
    static double stat_##field(void *ctx)                                                          \
    {                                                                                              \
        return stat_of(ctx, offsetof(struct noa_shipper_stats, field));                            \
    }
STAT_FN(read_lines)
STAT_FN(read_bytes)
STAT_FN(entries_routed)
STAT_FN(entries_rate_limited)
STAT_FN(sent_entries)
STAT_FN(sent_bytes)
STAT_FN(dropped_entries)
STAT_FN(retries)
STAT_FN(targets_active)
STAT_FN(files_active)
STAT_FN(positions_save_errors)
STAT_FN(queued_bytes)

static int ready_cb(void *ctx, char *why, size_t cap);

/* 1 when /ready would answer 200: what NoaNotReady alerts on. */
static double ready_gauge(void *ctx)
{
    char why[128];
    return ready_cb(ctx, why, sizeof(why)) ? 1.0 : 0.0;
}

static void put_path_sample(struct noa_buf *out, const char *name, const char *path, size_t len,
                            uint64_t v)
{
    noa_buf_printf(out, "%s{path=\"", name);
    for (size_t i = 0; i < len; i++) {
        char c = path[i];
        if (c == '\\' || c == '"')
            noa_buf_putc(out, '\\');
        if (c == '\n') {
            noa_buf_printf(out, "\\n");
            continue;
        }
        noa_buf_putc(out, c);
    }
    noa_buf_printf(out, "\"} %llu\n", (unsigned long long)v);
}

struct file_metric {
    struct noa_buf *out;
    int which; /* 0 size, 1 read offset, 2 lag */
};

static void file_sample(void *ud, const struct noa_tailer_file_state *f)
{
    struct file_metric *fm = ud;
    static const char *const names[] = {"noa_shipper_file_size_bytes",
                                        "noa_shipper_file_read_bytes",
                                        "noa_shipper_file_lag_bytes"};
    uint64_t v = fm->which == 0   ? f->size
                 : fm->which == 1 ? f->offset
                                  : (f->size > f->offset ? f->size - f->offset : 0);
    put_path_sample(fm->out, names[fm->which], f->path, f->path_len, v);
}

#define FILE_COLLECTOR(n, which)                                                                   \
    static void collect_##n(void *ctx, struct noa_buf *out)                                        \
    {                                                                                              \
        struct app *a = ctx;                                                                       \
        struct file_metric fm = {out, which};                                                      \
        if (a->shipper)                                                                            \
            noa_shipper_files(a->shipper, file_sample, &fm);                                       \
    }
FILE_COLLECTOR(size, 0)
FILE_COLLECTOR(read, 1)
FILE_COLLECTOR(lag, 2)

static void collect_latency(void *ctx, struct noa_buf *out)
{
    struct app *a = ctx;
    struct noa_shipper_stats st;
    if (!a->shipper)
        return;
    noa_shipper_stats(a->shipper, &st);
    uint64_t cum = 0;
    const char *name = "promtail_request_duration_seconds";
    for (int i = 0; i < NOA_CLIENT_LATENCY_BUCKETS; i++) {
        cum += st.latency_buckets[i];
        noa_buf_printf(out, "%s_bucket{le=\"", name);
        noa_metrics_format_double(out, noa_client_latency_bounds[i]);
        noa_buf_printf(out, "\"} %llu\n", (unsigned long long)cum);
    }
    cum += st.latency_buckets[NOA_CLIENT_LATENCY_BUCKETS];
    noa_buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    noa_buf_printf(out, "%s_sum ", name);
    noa_metrics_format_double(out, st.latency_sum);
    noa_buf_printf(out, "\n%s_count %llu\n", name, (unsigned long long)cum);
}

static void register_metrics(struct app *a)
{
    struct noa_metrics *m = a->metrics;
    noa_metrics_add_process(m);
    noa_metrics_counter_func(m, "noa_shipper_read_lines_total", "Lines read from tailed files.",
                             stat_read_lines, a);
    noa_metrics_counter_func(m, "noa_shipper_read_bytes_total",
                             "Bytes of lines read from tailed files.", stat_read_bytes, a);
    noa_metrics_counter_func(m, "noa_shipper_entries_routed_total",
                             "Entries that passed the pipelines and were queued for sending.",
                             stat_entries_routed, a);
    noa_metrics_counter_func(m, "noa_shipper_rate_limited_lines_total",
                             "Lines dropped by limits_config.readline_rate.",
                             stat_entries_rate_limited, a);
    noa_metrics_counter_func(m, "promtail_sent_entries_total",
                             "Entries accepted by the servers (all clients).", stat_sent_entries,
                             a);
    noa_metrics_counter_func(m, "promtail_sent_bytes_total",
                             "Compressed bytes of batches accepted by the servers.",
                             stat_sent_bytes, a);
    noa_metrics_counter_func(m, "promtail_dropped_entries_total",
                             "Entries the servers refused for good (4xx other than 429).",
                             stat_dropped_entries, a);
    noa_metrics_counter_func(m, "promtail_batch_retries_total", "Batches sent again after a "
                             "failure (429, 5xx, connection error).", stat_retries, a);
    /* Promtail calls these two promtail_targets_active_total and
     * promtail_files_active_total; gauges must not end in _total. */
    noa_metrics_gauge_func(m, "noa_shipper_targets_active", "File targets discovered.",
                           stat_targets_active, a);
    noa_metrics_gauge_func(m, "noa_shipper_files_active", "Files being tailed.",
                           stat_files_active, a);
    noa_metrics_collector(m, "noa_shipper_file_size_bytes",
                          "Size of each tailed file when last seen.", NOA_METRIC_GAUGE,
                          collect_size, a);
    noa_metrics_collector(m, "noa_shipper_file_read_bytes",
                          "Bytes of each tailed file read so far.", NOA_METRIC_GAUGE,
                          collect_read, a);
    noa_metrics_collector(m, "noa_shipper_file_lag_bytes",
                          "Bytes of each tailed file not read yet (size - read).",
                          NOA_METRIC_GAUGE, collect_lag, a);
    noa_metrics_collector(m, "promtail_request_duration_seconds",
                          "Duration of push requests to the servers (all clients, any outcome).",
                          NOA_METRIC_HISTOGRAM, collect_latency, a);
    noa_metrics_counter_func(m, "noa_shipper_positions_save_errors_total",
                             "Positions file saves that failed (retried at the next period).",
                             stat_positions_save_errors, a);
    noa_metrics_gauge_func(m, "noa_ready", "1 when the shipper is ready (/ready answers 200).",
                           ready_gauge, a);
    noa_metrics_gauge_func(m, "noa_shipper_send_queue_bytes",
                           "Bytes of entries queued in the clients, waiting to be sent (all "
                           "clients; bounded by queue_bytes).",
                           stat_queued_bytes, a);
}

/* ---- HTTP ----------------------------------------------------------------------- */

static int ready_cb(void *ctx, char *why, size_t cap)
{
    struct app *a = ctx;
    if (a->stopping || !a->shipper) {
        snprintf(why, cap, "Not ready: %s", a->stopping ? "shutting down" : "starting");
        return 0;
    }
    return noa_shipper_ready(a->shipper, why, cap);
}

static void config_cb(void *ctx, const char *mode, struct noa_buf *out)
{
    struct app *a = ctx;
    (void)mode;
    noa_shipper_config_print(a->cfg, out);
}

static void targets_handler(struct noa_http_request *req, void *ctx)
{
    struct app *a = ctx;
    int json = 0;
    const struct noa_str *accept = noa_http_request_header(req, "Accept");
    if (accept && memmem(accept->p, accept->len, "application/json", 16))
        json = 1;
    if (req->query.len && memmem(req->query.p, req->query.len, "format=json", 11))
        json = 1;
    struct noa_buf b = {0};
    if (a->shipper)
        noa_shipper_targets(a->shipper, json, &b);
    noa_http_reply_buf(req, 200, json ? "application/json" : "text/html; charset=utf-8", &b);
    noa_buf_fini(&b);
}

static int start_http(struct app *a)
{
    const struct noa_shipper_server_config *sc = &a->cfg->server;
    if (sc->disable)
        return 0;
    struct noa_http_server_options ho = {.host = sc->http_listen_address,
                                         .port = sc->http_listen_port};
    if (sc->tls_cert_file && sc->tls_cert_file[0]) {
        /* Loaded once here so a bad file stops start-up, naming it. */
        struct noa_error terr = {0};
        struct noa_tls_server_options to = {.cert_file = sc->tls_cert_file,
                                            .key_file = sc->tls_key_file,
                                            .client_auth_type = sc->tls_client_auth_type,
                                            .client_ca_file = sc->tls_client_ca_file,
                                            .min_version = sc->tls_min_version};
        int trc = noa_tls_server_new(&to, &ho.tls, &terr);
        if (trc < 0) {
            noa_log(NOA_LOG_ERROR, "shipper",
                    "msg=\"cannot set up server.http_tls_config\" err=\"%s\"", terr.msg);
            return trc;
        }
    }
    int rc = noa_http_server_new(a->loop, &ho, &a->http);
    if (rc < 0)
        return rc;
    struct noa_status_api_options so = {.metrics = a->metrics,
                                        .ready_cb = ready_cb,
                                        .ready_ctx = a,
                                        .config_cb = config_cb,
                                        .config_ctx = a,
                                        .services = "shipper => Running\n"};
    if ((rc = noa_status_api_new(a->http, &so, &a->status)) < 0 ||
        (rc = noa_http_server_route(a->http, NOA_HTTP_GET, "/targets", "targets",
                                    targets_handler, a)) < 0)
        return rc;
    if ((rc = noa_http_server_listen(a->http)) < 0) {
        noa_log(NOA_LOG_ERROR, "shipper", "msg=\"cannot listen\" address=%s port=%d err=\"%s\"",
                sc->http_listen_address, sc->http_listen_port, noa_strerror(rc));
        return rc;
    }
    noa_log(NOA_LOG_INFO, "shipper", "msg=\"listening\" address=%s port=%d",
            sc->http_listen_address[0] ? sc->http_listen_address : "0.0.0.0",
            noa_http_server_port(a->http));
    return 0;
}

static void http_closed_cb(void *ctx)
{
    struct app *a = ctx;
    a->http = NULL;
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
}

static void shutdown_app(struct app *a)
{
    a->stopping = 1;
    if (a->shipper) {
        int64_t drain_ms = a->cfg->server.graceful_shutdown_timeout_ns / 1000000;
        noa_shipper_stop(a->shipper, drain_ms > 0 ? drain_ms : 0);
    }
    if (a->http)
        noa_http_server_close(a->http, http_closed_cb, a);
    else
        http_closed_cb(a);
}

static void signal_cb(uv_signal_t *h, int signum)
{
    struct app *a = h->data;
    if (a->stopping)
        return;
    noa_log(NOA_LOG_INFO, "shipper", "msg=\"shutting down\" signal=%d", signum);
    shutdown_app(a);
}

/* ---- main ----------------------------------------------------------------------- */

static int load_config(struct app *a)
{
    struct noa_error err = {0};
    if (!a->fl.config_file) {
        fprintf(stderr, "error: -config.file is required\n");
        print_usage(stderr);
        return -1;
    }
    int rc = noa_shipper_config_load(a->fl.config_file, a->fl.expand_env, &a->cfg, &err);
    if (rc < 0) {
        fprintf(stderr, "error: %s\n", err.msg[0] ? err.msg : noa_strerror(rc));
        return -1;
    }
    if (a->fl.listen_address)
        replace_str(&a->cfg->server.http_listen_address, a->fl.listen_address);
    if (a->fl.listen_port >= 0)
        a->cfg->server.http_listen_port = a->fl.listen_port;
    if (a->fl.positions_file)
        replace_str(&a->cfg->positions.filename, a->fl.positions_file);
    const char *level = a->fl.log_level ? a->fl.log_level : a->cfg->server.log_level;
    enum noa_log_level lv;
    if (level && *level) {
        if (noa_log_parse_level(level, &lv) < 0) {
            fprintf(stderr, "error: unknown log level %s (debug, info, warn, error)\n", level);
            return -1;
        }
        noa_log_set_level(lv);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct app a = {0};
    if (parse_flags(argc, argv, &a.fl) < 0)
        return 1;
    if (a.fl.help) {
        print_usage(stdout);
        return 0;
    }
    if (a.fl.version) {
        printf("noa-shipper, version %s\n", NOA_VERSION);
        return 0;
    }
    if (load_config(&a) < 0) {
        noa_shipper_config_free(a.cfg);
        return 1;
    }
    if (a.fl.print_config) {
        struct noa_buf b = {0};
        noa_shipper_config_print(a.cfg, &b);
        fwrite(b.data, 1, b.len, stderr);
        noa_buf_fini(&b);
    }
    signal(SIGPIPE, SIG_IGN);
    /* One descriptor per tailed file: take every descriptor the hard limit
     * allows (the soft default of 1024 is too few for a node's pods). */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    a.metrics = noa_metrics_default();
    struct noa_error err = {0};
    struct noa_shipper_options so = {.cfg = a.cfg,
                                     .metrics = a.metrics,
                                     .dry_run = a.fl.dry_run || a.fl.check_syntax,
                                     .no_inotify = a.fl.no_inotify};
    int rc = noa_shipper_new(&so, &a.shipper, &err);
    if (rc < 0) {
        fprintf(stderr, "error: %s\n", err.msg[0] ? err.msg : noa_strerror(rc));
        noa_shipper_config_free(a.cfg);
        return 1;
    }
    if (a.fl.check_syntax) {
        printf("Valid config file! No syntax issues found\n");
        noa_shipper_free(a.shipper);
        noa_shipper_config_free(a.cfg);
        return 0;
    }
    a.loop = uv_default_loop();
    register_metrics(&a);
    uv_signal_init(a.loop, &a.sigterm);
    uv_signal_init(a.loop, &a.sigint);
    a.sigterm.data = a.sigint.data = &a;
    uv_signal_start(&a.sigterm, signal_cb, SIGTERM);
    uv_signal_start(&a.sigint, signal_cb, SIGINT);
    int exit_code = 0;
    if ((rc = start_http(&a)) < 0 || (rc = noa_shipper_start(a.shipper, &err)) < 0) {
        if (err.msg[0])
            noa_log(NOA_LOG_ERROR, "shipper", "msg=\"cannot start\" err=\"%s\"", err.msg);
        exit_code = 1;
        shutdown_app(&a);
    } else {
        noa_log(NOA_LOG_INFO, "shipper", "msg=\"started\" config=%s dry_run=%d",
                a.fl.config_file, a.fl.dry_run);
    }
    uv_run(a.loop, UV_RUN_DEFAULT);
    noa_status_api_free(a.status);
    noa_shipper_free(a.shipper);
    noa_shipper_config_free(a.cfg);
    uv_loop_close(a.loop);
    noa_log(NOA_LOG_INFO, "shipper", "msg=\"stopped\"");
    return exit_code;
}
