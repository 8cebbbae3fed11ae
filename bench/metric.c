/*
 * Metric query benchmark: starts noa-server on a free loopback port over a
 * fresh data directory, pushes --mb MiB (default 300) of logfmt and access
 * log lines over 8 streams spread over two hours, flushes everything to
 * chunks, then times metric queries over the whole range:
 *
 *   sum(count_over_time({bench="metric"}[1m]))               step 60s
 *   sum by (level, detected_level) (count_over_time(... | drop __error__ [1m]))
 *                                                            (Grafana's volume)
 *   sum(rate({bench="metric"} |= "error" [1m]))              step 60s
 *   sum(bytes_over_time({bench="metric"}[1m]))               step 60s
 *   sum by (level) (count_over_time({bench="metric"} | logfmt [5m]))  step 60s
 *
 * printing wall seconds, the server's CPU seconds (user+sys from /proc,
 * before and after) and raw MB per CPU-second, and checks the count query's
 * total against the lines pushed. Single-threaded client; runs on the main
 * thread. Figures depend on the machine and its load: on a shared machine
 * compare the CPU-based ones. With --profile DIR each query is recorded by
 * `perf record` into DIR and the top of `perf report` printed (--graph:
 * with call graphs, for `perf report -g` afterwards).
 * With --json every line is a JSON application log instead, and the
 * queries are the parser ones: sum by (level) (count_over_time(... | json
 * [5m])) and the same with `| json | __error__=""`.
 * With --repeat N each query runs N times and the run with the least CPU
 * is shown. The chunk files' size on disk is printed after the flush.
 * --chunk-encoding NAME sets the server's ingester.chunk_encoding (default
 * unset: zstd), e.g. lz4 to compare codecs.
 * Usage: bench_metric [--mb N] [--server PATH] [--profile DIR] [--graph] [--json]
 *                     [--repeat N] [--chunk-encoding NAME]
 */
#include "bench/lib/benchlib.h"
#include "common/buf.h"
#include "common/compress.h"
#include "common/http_client.h"
#include "common/mem.h"
#include "common/push.h"
#include "common/pushproto.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STREAMS 8
#define BODY_BYTES (1u << 20) /* raw bytes per push */
#define SPAN_NS (7200LL * 1000000000LL)

static int json_lines; /* --json: every line a JSON application log */
static const char *chunk_encoding; /* --chunk-encoding: NULL = the server's default */

/* A 100-250 byte line: logfmt application log or access log (or JSON). */
static size_t make_line(uint64_t *s, char *out, size_t cap)
{
    static const char *const levels[] = {"info", "info", "info", "warn", "error", "debug"};
    static const char *const paths[] = {"/api/v1/users",  "/api/v1/orders", "/healthz",
                                        "/static/app.js", "/login",         "/api/v2/cart/items"};
    uint64_t r = noa_bench_rng_next(s);
    if (json_lines)
        return (size_t)snprintf(out, cap,
                                "{\"level\":\"%s\",\"caller\":\"server.go:%u\",\"msg\":\"request "
                                "handled\",\"http\":{\"path\":\"%s\",\"status\":%d},"
                                "\"duration_ms\":%u,\"user_id\":%u,\"trace_id\":\"%016llx\"}",
                                levels[(r >> 8) % 6], (unsigned)(r >> 16) % 900,
                                paths[(r >> 24) % 6], (r >> 28) % 20 ? 200 : 500,
                                (unsigned)(r >> 32) % 2000, (unsigned)(r >> 40) % 5000,
                                (unsigned long long)noa_bench_rng_next(s));
    if (r % 2)
        return (size_t)snprintf(out, cap,
                                "level=%s caller=server.go:%u msg=\"request handled\" path=%s "
                                "status=%d duration=%ums user_id=%u trace_id=%016llx",
                                levels[(r >> 8) % 6], (unsigned)(r >> 16) % 900,
                                paths[(r >> 24) % 6], (r >> 28) % 20 ? 200 : 500,
                                (unsigned)(r >> 32) % 2000, (unsigned)(r >> 40) % 5000,
                                (unsigned long long)noa_bench_rng_next(s));
    return (size_t)snprintf(out, cap,
                            "10.%u.%u.%u - - \"GET %s HTTP/1.1\" %d %u \"-\" \"curl/7.88.1\" "
                            "rt=0.%03u",
                            (unsigned)(r >> 8) % 256, (unsigned)(r >> 16) % 256,
                            (unsigned)(r >> 24) % 256, paths[(r >> 32) % 6],
                            (r >> 40) % 20 ? 200 : 404, (unsigned)(r >> 44) % 50000,
                            (unsigned)(r >> 52) % 1000);
}

/* One request; returns the HTTP status (-1 when none), the body in out. */
static int http_do(struct noa_http_client *cl, const char *method, const char *url,
                   const void *body, size_t len, struct noa_buf *out)
{
    const char *headers[] = {"Content-Type: application/x-protobuf"};
    struct noa_http_client_request req = {.method = method,
                                          .url = url,
                                          .timeout_ms = 1200000,
                                          .headers = body ? headers : NULL,
                                          .n_headers = body ? 1 : 0,
                                          .body = body,
                                          .body_len = len,
                                          .max_response_bytes = 1u << 28};
    struct noa_http_client_response resp = {0};
    int rc = noa_http_client_do(cl, &req, &resp);
    int status = rc == 0 ? resp.status : -1;
    if (out) {
        noa_buf_reset(out);
        noa_buf_append(out, resp.body.data, resp.body.len);
    }
    noa_http_client_response_fini(&resp);
    return status;
}

static pid_t start_server(const char *server, const char *dir, int port, struct noa_http_client *cl)
{
    char cfg[4200], url[128];
    snprintf(cfg, sizeof(cfg), "%s/bench.yaml", dir);
    FILE *f = fopen(cfg, "w");
    if (!f)
        return -1;
    fprintf(f,
            "auth_enabled: false\n"
            "server: {http_listen_address: 127.0.0.1, http_listen_port: %d, log_level: warn}\n"
            "common: {path_prefix: %s}\n"
            "limits_config: {ingestion_rate_mb: 100000, ingestion_burst_size_mb: 100000,\n"
            "  per_stream_rate_limit: 1GB, per_stream_rate_limit_burst: 1GB,\n"
            "  max_query_length: 0, query_timeout: 20m}\n",
            port, dir);
    if (chunk_encoding)
        fprintf(f, "ingester: {chunk_encoding: %s}\n", chunk_encoding);
    fclose(f);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char arg[4300];
        snprintf(arg, sizeof(arg), "-config.file=%s", cfg);
        execl(server, server, arg, (char *)NULL);
        _exit(127);
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/ready", port);
    for (int i = 0; i < 3000; i++) {
        if (http_do(cl, "GET", url, NULL, 0, NULL) == 200)
            return pid;
        usleep(100000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* Pushes mb MiB; returns the raw bytes pushed, *lines the lines. */
static size_t push_all(struct noa_http_client *cl, int port, size_t mb, int64_t t0, size_t *lines)
{
    char url[128], line[512];
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    size_t raw = 0, per_stream = BODY_BYTES / STREAMS / 110;
    /* Lines average about 110 bytes: as many bodies as make mb MiB, their
     * lines spread evenly over SPAN_NS from t0 + 1 (the first window
     * (t0, t0 + 1m] holds the first line). */
    size_t bodies = (mb << 20) / (per_stream * STREAMS * 110) + 1;
    int64_t dt = SPAN_NS / (int64_t)(bodies * per_stream * STREAMS), ts = t0 + 1;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/loki/api/v1/push", port);
    *lines = 0;
    for (size_t b = 0; b < bodies; b++) {
        struct noa_push_request req = {0};
        struct noa_buf proto = {0}, body = {0};
        req.streams = noa_arena_alloc(&req.arena, STREAMS * sizeof(*req.streams));
        req.n_streams = STREAMS;
        for (int s = 0; s < STREAMS; s++) {
            char lbl[64];
            int n = snprintf(lbl, sizeof(lbl), "{bench=\"metric\", pod=\"p%d\"}", s);
            struct noa_push_stream *ps = &req.streams[s];
            ps->labels = (struct noa_str){noa_arena_strndup(&req.arena, lbl, (size_t)n), (size_t)n};
            ps->entries = noa_arena_alloc(&req.arena, per_stream * sizeof(*ps->entries));
            ps->n_entries = (uint32_t)per_stream;
            for (size_t e = 0; e < per_stream; e++) {
                size_t len = make_line(&rng, line, sizeof(line));
                ps->entries[e] = (struct noa_push_entry){
                    .ts_ns = ts + (int64_t)e * STREAMS * dt + s * dt,
                    .line = {noa_arena_strndup(&req.arena, line, len), len}};
                raw += len;
            }
            *lines += per_stream;
        }
        ts += (int64_t)per_stream * STREAMS * dt;
        noa_pushproto_encode(&req, &proto);
        noa_compress_snappy_compress(proto.data, proto.len, &body);
        struct noa_buf resp = {0};
        int st = http_do(cl, "POST", url, body.data, body.len, &resp);
        noa_buf_fini(&proto);
        noa_buf_fini(&body);
        noa_push_request_fini(&req);
        if (st != 204)
            fprintf(stderr, "push answered %d: %.300s\n", st, noa_buf_cstr(&resp));
        noa_buf_fini(&resp);
        if (st != 204)
            return 0;
    }
    return raw;
}

static int wait_flushed(struct noa_http_client *cl, int port)
{
    char url[128];
    struct noa_buf body = {0};
    int done = 0;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/flush", port);
    http_do(cl, "POST", url, NULL, 0, NULL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
    for (int i = 0; i < 6000 && !done; i++) {
        done = http_do(cl, "GET", url, NULL, 0, &body) == 200 &&
               strstr(noa_buf_cstr(&body), "\nnoa_ingester_memory_streams 0\n") != NULL;
        if (!done)
            usleep(100000);
    }
    noa_buf_fini(&body);
    return done;
}

/* Appends s to b, %-encoded for a query string. */
static void put_escaped(struct noa_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.')
            noa_buf_putc(b, (char)c);
        else
            noa_buf_printf(b, "%%%02X", c);
    }
}

/* Sum of every sample value in a matrix answer (the count check), and an
 * order-sensitive digest of the values (sum of value x rank) printed so
 * that runs before and after a change can be compared. */
static double sum_values(const char *body, double *digest)
{
    double sum = 0, dig = 0, rank = 0;
    const char *p = strstr(body, "\"result\":");
    const char *end = p ? strstr(p, "\"stats\"") : NULL;
    while (p && (p = strstr(p, ",\"")) && (!end || p < end)) {
        double v = atof(p + 2);
        sum += v;
        dig += v * ++rank;
        p += 2;
    }
    if (digest)
        *digest = dig;
    return sum;
}

static const char *profile_dir; /* --profile: perf each query into this directory */
static int profile_graph;       /* --graph: with call graphs */
static int n_profiles;

/* Starts `perf record` on pid; returns its pid or -1. */
static pid_t perf_start(pid_t pid, char *path, size_t cap)
{
    if (!profile_dir)
        return -1;
    snprintf(path, cap, "%s/metric-%d.perf", profile_dir, ++n_profiles);
    return noa_bench_perf_start(pid, path, profile_graph);
}

static uint64_t walk_bytes;

static int add_size(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)ftw;
    if (type == FTW_F && strstr(path, "/chunks/"))
        walk_bytes += (uint64_t)sb->st_size;
    return 0;
}

/* Bytes of the chunk files under the data directory. */
static uint64_t dir_bytes(const char *dir)
{
    walk_bytes = 0;
    if (nftw(dir, add_size, 16, FTW_PHYS) != 0)
        return 0;
    return walk_bytes;
}

static int repeats = 1; /* --repeat: runs per query; the least CPU is shown */

static int run_query(struct noa_http_client *cl, int port, pid_t pid, const char *q, int64_t start,
                     int64_t end, double raw, double *total)
{
    char perf_path[4200];
    struct noa_buf url = {0}, body = {0};
    noa_buf_printf(&url,
                   "http://127.0.0.1:%d/loki/api/v1/query_range?step=60s&start=%lld&end=%lld"
                   "&query=",
                   port, (long long)start, (long long)end);
    put_escaped(&url, q);
    pid_t pp = perf_start(pid, perf_path, sizeof(perf_path));
    double w = 0, c = 0;
    int st = 0;
    /* On a shared machine the least CPU over a few runs is the steadiest
     * figure (others' load only ever adds to it). */
    for (int k = 0; k < repeats; k++) {
        double c0 = noa_bench_proc_cpu(pid), w0 = noa_bench_mono_s();
        st = http_do(cl, "GET", noa_buf_cstr(&url), NULL, 0, &body);
        double wk = noa_bench_mono_s() - w0, ck = noa_bench_proc_cpu(pid) - c0;
        if (k == 0 || ck < c) {
            c = ck;
            w = wk;
        }
        if (st != 200)
            break;
    }
    if (st != 200) {
        printf("  %s: status %d %.200s\n", q, st, noa_buf_cstr(&body));
    } else {
        double dig, sum = sum_values(noa_buf_cstr(&body), &dig);
        if (total)
            *total = sum;
        printf("  %-70.70s %6.2f s wall  cpu %6.2f s  %7.0f MB/cpu-s  sum %.17g digest %.17g\n",
               q, w, c, raw / 1e6 / (c > 0.01 ? c : 0.01), sum, dig);
    }
    noa_bench_perf_stop(pp, perf_path);
    noa_buf_fini(&url);
    noa_buf_fini(&body);
    return st == 200 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *server = "build/bin/noa-server";
    size_t mb = 300;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mb") && i + 1 < argc)
            mb = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--server") && i + 1 < argc)
            server = argv[++i];
        else if (!strcmp(argv[i], "--profile") && i + 1 < argc)
            profile_dir = argv[++i];
        else if (!strcmp(argv[i], "--graph"))
            profile_graph = 1;
        else if (!strcmp(argv[i], "--json"))
            json_lines = 1;
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc && atoi(argv[i + 1]) > 0)
            repeats = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--chunk-encoding") && i + 1 < argc &&
                 strspn(argv[i + 1], "abcdefghijklmnopqrstuvwxyzM0123456789-") ==
                     strlen(argv[i + 1]))
            chunk_encoding = argv[++i];
        else {
            fprintf(stderr,
                    "usage: bench_metric [--mb N] [--server PATH] [--profile DIR] [--graph] "
                    "[--json] [--repeat N] [--chunk-encoding NAME]\n");
            return 2;
        }
    }
    char dir[] = "/tmp/noa-bench-metric-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    struct noa_http_client *cl;
    if (noa_http_client_new(&cl) < 0)
        return 1;
    int port = noa_bench_free_port(), rc = 1;
    pid_t pid = start_server(server, dir, port, cl);
    if (pid < 0) {
        fprintf(stderr, "cannot start %s\n", server);
        goto out;
    }
    int64_t t0 = (noa_bench_wall_ns() - SPAN_NS - 600LL * 1000000000LL) / 60000000000LL * 60000000000LL;
    size_t lines;
    double w0 = noa_bench_mono_s();
    size_t raw = push_all(cl, port, mb, t0, &lines);
    if (!raw || !wait_flushed(cl, port))
        goto stop;
    printf("pushed %.0f MB raw, %zu lines over 2h, flushed in %.1f s (chunks %.1f MB on disk); "
           "queries (noa CPU):\n",
           (double)raw / 1e6, lines, noa_bench_mono_s() - w0, (double)dir_bytes(dir) / 1e6);
    int64_t start = t0 + 60000000000LL, end = t0 + SPAN_NS + 120000000000LL;
    double total = 0;
    rc = 0;
    rc |= run_query(cl, port, pid, "sum(count_over_time({bench=\"metric\"}[1m]))", start, end,
                    (double)raw, &total);
    if ((size_t)total != lines) {
        printf("  count check FAILED: %.0f counted, %zu pushed\n", total, lines);
        rc = 1;
    }
    if (json_lines) {
        rc |= run_query(cl, port, pid,
                        "sum by (level) (count_over_time({bench=\"metric\"} | json [5m]))", start,
                        end, (double)raw, NULL);
        rc |= run_query(cl, port, pid,
                        "sum by (level) (count_over_time({bench=\"metric\"} | json | "
                        "__error__=\"\" [5m]))",
                        start, end, (double)raw, NULL);
        goto stop;
    }
    rc |= run_query(cl, port, pid,
                    "sum by (level, detected_level) (count_over_time({bench=\"metric\"} | drop "
                    "__error__ [1m]))",
                    start, end, (double)raw, NULL);
    rc |= run_query(cl, port, pid, "sum(rate({bench=\"metric\"} |= \"error\" [1m]))", start, end,
                    (double)raw, NULL);
    rc |= run_query(cl, port, pid, "sum(bytes_over_time({bench=\"metric\"}[1m]))", start, end,
                    (double)raw, NULL);
    rc |= run_query(cl, port, pid,
                    "sum by (level) (count_over_time({bench=\"metric\"} | logfmt "
                    "| __error__=\"\" [1m]))",
                    start, end, (double)raw, NULL);
stop:
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
out:
    noa_http_client_free(cl);
    {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
    }
    return rc;
}
