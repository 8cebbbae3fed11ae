/*
 * Ruler benchmark: one group of N rules (default 100: alerting and
 * recording rules of four kinds, over line filters, logfmt parsing and
 * grouping) evaluated by noa-server over M MB of recent logfmt lines in
 * memory. Pushes the lines, waits for evaluations that start after the
 * push, and prints the group's evaluation time as the rules API reports
 * it (Prometheus's evaluationTime) next to its interval, plus the slowest
 * rule.
 */
#include "bench/lib/benchlib.h"
#include "common/http_client.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct opts {
    const char *server;
    int rules, streams, port;
    size_t mb;
};

static int http(const char *method, const char *url, const char *body, size_t len,
                struct noa_buf *out)
{
    struct noa_http_client *cl;
    if (noa_http_client_new(&cl) != 0)
        return -1;
    const char *hdr[] = {"Content-Type: application/json"};
    struct noa_http_client_request req = {.method = method, .url = url, .headers = hdr,
                                          .n_headers = body ? 1 : 0, .body = body,
                                          .body_len = len, .timeout_ms = 60000};
    struct noa_http_client_response resp = {0};
    int rc = noa_http_client_do(cl, &req, &resp);
    int status = rc == 0 ? resp.status : -1;
    if (out && rc == 0)
        noa_buf_append(out, resp.body.data, resp.body.len);
    noa_http_client_response_fini(&resp);
    noa_http_client_free(cl);
    return status;
}

static void write_rules(const struct opts *o, const char *dir)
{
    char path[4300];
    snprintf(path, sizeof(path), "%s/rules/fake", dir);
    char cmd[4400];
    snprintf(cmd, sizeof(cmd), "mkdir -p %s", path);
    if (system(cmd) != 0)
        exit(1);
    snprintf(path, sizeof(path), "%s/rules/fake/bench.yaml", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "groups:\n  - name: bench\n    interval: 10s\n    rules:\n");
    for (int i = 0; i < o->rules; i++) {
        int app = i % o->streams;
        switch (i % 4) {
        case 0:
            fprintf(f,
                    "      - alert: ErrorRate%d\n"
                    "        expr: sum by (app) (rate({job=\"bench\", app=\"app%d\"} |= \"error\" "
                    "[5m])) > 0.01\n"
                    "        for: 1m\n"
                    "        labels: {severity: warning}\n"
                    "        annotations: {summary: \"{{ $labels.app }} errors at {{ $value }}/s\"}\n",
                    i, app);
            break;
        case 1:
            fprintf(f,
                    "      - record: app:lines_by_level:rate5m_%d\n"
                    "        expr: sum by (level) (rate({job=\"bench\", app=\"app%d\"} | logfmt "
                    "[5m]))\n",
                    i, app);
            break;
        case 2:
            fprintf(f,
                    "      - alert: SlowRequests%d\n"
                    "        expr: quantile_over_time(0.99, {job=\"bench\", app=\"app%d\"} | logfmt "
                    "| unwrap duration_ms [5m]) by (app) > 900\n",
                    i, app);
            break;
        default:
            fprintf(f,
                    "      - record: app:bytes:rate5m_%d\n"
                    "        expr: sum by (app) (bytes_rate({job=\"bench\", app=\"app%d\"}[5m]))\n",
                    i, app);
        }
    }
    fclose(f);
}

/* Pushes mb MB of logfmt lines over the last 5 minutes; returns lines. */
static uint64_t push_lines(const struct opts *o)
{
    static const char *const levels[] = {"info", "info", "info", "warn", "error"};
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/loki/api/v1/push", o->port);
    uint64_t rng = 42, lines = 0;
    size_t total = o->mb * 1000 * 1000, sent = 0;
    int64_t now = noa_bench_wall_ns(), span = 290LL * 1000000000LL;
    int64_t per_line_ns = 0;
    size_t est_lines = total / 110;
    per_line_ns = est_lines ? span / (int64_t)est_lines : 1000;
    int64_t ts = now - span;
    struct noa_buf body = {0};
    while (sent < total) {
        noa_buf_reset(&body);
        noa_buf_printf(&body, "{\"streams\":[");
        for (int s = 0; s < o->streams; s++) {
            noa_buf_printf(&body, "%s{\"stream\":{\"job\":\"bench\",\"app\":\"app%d\"},\"values\":[",
                           s ? "," : "", s);
            for (int k = 0; k < 50; k++) {
                const char *lv = levels[noa_bench_rng_next(&rng) % 5];
                int n0 = (int)body.len;
                noa_buf_printf(&body,
                               "%s[\"%lld\",\"level=%s app=app%d msg=\\\"request %s\\\" "
                               "duration_ms=%llu status=%d\"]",
                               k ? "," : "", (long long)ts, lv, s,
                               *lv == 'e' ? "failed with error" : "served",
                               (unsigned long long)(noa_bench_rng_next(&rng) % 1000),
                               *lv == 'e' ? 500 : 200);
                sent += body.len - (size_t)n0 - 12;
                ts += per_line_ns > 0 ? per_line_ns : 1;
                lines++;
            }
            noa_buf_putc(&body, ']');
            noa_buf_putc(&body, '}');
        }
        noa_buf_printf(&body, "]}");
        if (http("POST", url, body.data, body.len, NULL) != 204) {
            fprintf(stderr, "push failed\n");
            exit(1);
        }
    }
    noa_buf_fini(&body);
    return lines;
}

/* The group's lastEvaluation (as text) and evaluationTime, and the slowest
 * rule's evaluationTime. */
static int read_group(int port, char *last, size_t cap, double *eval_s, double *slowest)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/prometheus/api/v1/rules", port);
    struct noa_buf b = {0};
    if (http("GET", url, NULL, 0, &b) != 200) {
        noa_buf_fini(&b);
        return -1;
    }
    const char *t = noa_buf_cstr(&b);
    /* Rules come first inside the group, then the group's own fields. */
    *slowest = 0;
    const char *p = t;
    while ((p = strstr(p, "\"evaluationTime\":"))) {
        double v = atof(p + 17);
        const char *next = strstr(p + 1, "\"evaluationTime\":");
        if (!next) {
            *eval_s = v; /* the last one is the group's */
            break;
        }
        if (v > *slowest)
            *slowest = v;
        p = next;
    }
    const char *le = strstr(t, "\"interval\"");
    le = le ? strstr(le, "\"lastEvaluation\":\"") : NULL;
    if (!le) {
        noa_buf_fini(&b);
        return -1;
    }
    le += 18;
    size_t n = strcspn(le, "\"");
    if (n >= cap)
        n = cap - 1;
    memcpy(last, le, n);
    last[n] = 0;
    noa_buf_fini(&b);
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = {.server = "build/bin/noa-server", .rules = 100, .streams = 25, .mb = 200};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--server") && v) o.server = argv[++i];
        else if (!strcmp(a, "--rules") && v) o.rules = atoi(argv[++i]);
        else if (!strcmp(a, "--streams") && v) o.streams = atoi(argv[++i]);
        else if (!strcmp(a, "--mb") && v) o.mb = (size_t)atol(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_ruler --server PATH [--rules N] [--streams N] [--mb N]\n");
            return 2;
        }
    }
    if (o.rules < 1 || o.streams < 1)
        return 2;
    o.port = noa_bench_free_port();
    char dir[] = "/tmp/noa-bench-ruler-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    write_rules(&o, dir);
    char cfg[4300];
    snprintf(cfg, sizeof(cfg), "%s/server.yaml", dir);
    FILE *f = fopen(cfg, "w");
    fprintf(f,
            "auth_enabled: false\n"
            "server: {http_listen_address: 127.0.0.1, http_listen_port: %d, log_level: warn}\n"
            "common: {path_prefix: %s/data}\n"
            "limits_config: {ingestion_rate_mb: 100000, ingestion_burst_size_mb: 100000,\n"
            "  per_stream_rate_limit: 1GB, per_stream_rate_limit_burst: 1GB}\n"
            "ruler:\n"
            "  evaluation_interval: 10s\n"
            "  poll_interval: 1s\n"
            "  storage: {type: local, local: {directory: %s/rules}}\n",
            o.port, dir, dir);
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        char arg[4400];
        snprintf(arg, sizeof(arg), "-config.file=%s", cfg);
        execl(o.server, o.server, arg, (char *)NULL);
        _exit(127);
    }
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/ready", o.port);
    int ready = 0;
    for (int i = 0; i < 600 && !ready; i++) {
        ready = http("GET", url, NULL, 0, NULL) == 200;
        if (!ready)
            usleep(50000);
    }
    if (!ready) {
        fprintf(stderr, "noa-server did not become ready\n");
        kill(pid, SIGKILL);
        return 1;
    }
    fprintf(stderr, "pushing %zu MB of logfmt lines over %d streams...\n", o.mb, o.streams);
    uint64_t lines = push_lines(&o);
    /* Evaluations that started after the push: wait for two new ones. */
    char first[64] = "", last[64] = "";
    double eval_s = 0, slowest = 0, worst = 0;
    int seen = 0;
    read_group(o.port, first, sizeof(first), &eval_s, &slowest);
    for (int i = 0; i < 600 && seen < 3; i++) {
        usleep(100000);
        char now_last[64];
        if (read_group(o.port, now_last, sizeof(now_last), &eval_s, &slowest) == 0 &&
            strcmp(now_last, last) != 0 && strcmp(now_last, first) != 0) {
            snprintf(last, sizeof(last), "%s", now_last);
            seen++;
            if (seen >= 2 && eval_s > worst)
                worst = eval_s;
            printf("  evaluation at %s: %.3f s for %d rules (slowest rule %.3f s)\n", last, eval_s,
                   o.rules, slowest);
        }
    }
    printf("  %d rules over %llu lines (%zu MB, 5 minutes) in memory: worst full evaluation "
           "%.3f s against a 10 s interval\n",
           o.rules, (unsigned long long)lines, o.mb, worst);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    char cmd[4400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return seen ? 0 : 1;
}
