/*
 * Ingest benchmark: starts noa-server on a loopback port over a fresh data
 * directory, pushes a pre-generated corpus of realistic log lines (Loki's
 * protobuf with snappy, or noa's native zstd) over many keep-alive
 * connections, then reports what the server did with it:
 *
 *   lines/s and raw MB/s acknowledged, server CPU-seconds per raw GB,
 *   peak RSS, and bytes on disk (chunks + index after a flush) per raw byte.
 *
 * The corpus is generated and encoded before the clock starts, so the
 * generator's own CPU is not in the figures (it still shares the machine's
 * cores while sending). Usage: bench_ingest [options], see --help.
 */
#include "bench/lib/benchlib.h"
#include "common/buf.h"
#include "common/compress.h"
#include "common/http_client.h"
#include "common/mem.h"
#include "common/push.h"
#include "common/pushproto.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct bench_opts {
    const char *server;     /* path to noa-server */
    int port;
    int streams;            /* distinct label sets */
    int connections;        /* concurrent pushers */
    size_t raw_mb;          /* corpus size */
    size_t batch_bytes;     /* raw bytes per push (Promtail's batchsize default: 1 MiB) */
    int zstd;               /* 1: native zstd protobuf; 0: snappy protobuf */
    int fsync;              /* 1: WAL fsync'd (default) */
};

struct body {
    struct noa_buf data;
    size_t raw;   /* raw line bytes */
    size_t lines;
};

struct corpus {
    struct body *bodies;
    size_t n;
    size_t next; /* guarded by lock */
    pthread_mutex_t lock;
    size_t raw, lines;
};

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A 100-300 byte line in one of a few common shapes (access log, logfmt,
 * JSON). Values come from pools of realistic size (500 client addresses,
 * 5,000 users) as in production traffic, plus a random trace id and
 * random latencies, so the corpus compresses like real logs rather than
 * like noise or like copies. */
static size_t make_line(char *out, size_t cap, int64_t ts)
{
    static const char *const paths[] = {"/api/v1/users", "/api/v1/orders", "/healthz",
                                        "/static/app.js", "/api/v1/search?q=shoes",
                                        "/login", "/api/v2/cart/items"};
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE"};
    static const char *const levels[] = {"info", "info", "info", "warn", "error", "debug"};
    static const char *const agents[] = {
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
        "curl/7.88.1", "Go-http-client/1.1", "python-requests/2.31.0"};
    uint64_t r = rng();
    int status = (r % 20 == 0) ? 500 : (r % 7 == 0) ? 404 : 200;
    unsigned ip = 0x0A000000u + (unsigned)((r >> 32) % 500) * 7919u;
    switch (r % 3) {
    case 0:
        return (size_t)snprintf(out, cap,
                                "%u.%u.%u.%u - - [%lld] \"%s %s HTTP/1.1\" %d %u \"-\" \"%s\" "
                                "rt=%u.%03u",
                                ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255,
                                (long long)(ts / 1000000000), methods[(r >> 8) % 4],
                                paths[(r >> 12) % 7], status, (unsigned)(r >> 20) % 50000,
                                agents[(r >> 40) % 4], (unsigned)(r >> 44) % 3,
                                (unsigned)(r >> 48) % 1000);
    case 1:
        return (size_t)snprintf(out, cap,
                                "level=%s ts=%lld caller=server.go:%u msg=\"request handled\" "
                                "method=%s path=%s status=%d duration=%ums user_id=%u "
                                "trace_id=%016llx",
                                levels[(r >> 8) % 6], (long long)ts, (unsigned)(r >> 16) % 900,
                                methods[(r >> 24) % 4], paths[(r >> 28) % 7], status,
                                (unsigned)(r >> 32) % 2000, (unsigned)(r >> 40) % 5000,
                                (unsigned long long)rng());
    default:
        return (size_t)snprintf(out, cap,
                                "{\"level\":\"%s\",\"ts\":%lld,\"msg\":\"order processed\","
                                "\"order_id\":%u,\"amount\":%u.%02u,\"currency\":\"EUR\","
                                "\"items\":%u,\"region\":\"eu-west-%u\",\"latency_ms\":%u}",
                                levels[(r >> 8) % 6], (long long)ts, (unsigned)(r >> 16),
                                (unsigned)(r >> 24) % 1000, (unsigned)(r >> 34) % 100,
                                (unsigned)(r >> 40) % 12, (unsigned)(r >> 44) % 3,
                                (unsigned)(r >> 48) % 3000);
    }
}

/* Generates the corpus: each body holds batch_bytes of lines spread over
 * a random subset of the streams, timestamps rising across the corpus. */
static void build_corpus(const struct bench_opts *o, struct corpus *c)
{
    size_t total = o->raw_mb << 20;
    size_t n_bodies = total / o->batch_bytes + 1;
    int64_t ts = noa_bench_wall_ns() - 300LL * 1000000000; /* well inside the accepted window */
    char **labels = noa_xcalloc((size_t)o->streams, sizeof(*labels));
    for (int i = 0; i < o->streams; i++) {
        char l[160];
        snprintf(l, sizeof(l),
                 "{app=\"app-%d\", namespace=\"ns-%d\", pod=\"pod-%d-%04x\", container=\"main\"}",
                 i % 50, i % 7, i, (unsigned)(rng() & 0xffff));
        labels[i] = noa_xstrdup(l);
    }
    c->bodies = noa_xcalloc(n_bodies, sizeof(*c->bodies));
    pthread_mutex_init(&c->lock, NULL);
    struct noa_buf lines = {0};
    for (size_t b = 0; b < n_bodies; b++) {
        struct noa_push_request req = {0};
        int per_req = o->streams < 100 ? o->streams : 100;
        req.streams = noa_arena_alloc(&req.arena, (size_t)per_req * sizeof(*req.streams));
        req.n_streams = (uint32_t)per_req;
        size_t per_stream = o->batch_bytes / (size_t)per_req / 200 + 1;
        noa_buf_reset(&lines);
        noa_buf_reserve(&lines, o->batch_bytes * 2);
        int first = (int)(rng() % (uint64_t)o->streams);
        for (int s = 0; s < per_req; s++) {
            struct noa_push_stream *ps = &req.streams[s];
            ps->labels = noa_str_c(labels[(first + s) % o->streams]);
            ps->entries = noa_arena_alloc(&req.arena, per_stream * sizeof(*ps->entries));
            ps->n_entries = (uint32_t)per_stream;
            for (size_t e = 0; e < per_stream; e++) {
                char line[512];
                ts += 1000;
                size_t len = make_line(line, sizeof(line), ts);
                char *dst = noa_arena_strndup(&req.arena, line, len);
                ps->entries[e] = (struct noa_push_entry){.ts_ns = ts, .line = {dst, len}};
                c->bodies[b].raw += len;
                c->bodies[b].lines++;
            }
        }
        struct noa_buf proto = {0};
        noa_pushproto_encode(&req, &proto);
        if (o->zstd)
            noa_compress_zstd_compress(proto.data, proto.len, 1, &c->bodies[b].data);
        else
            noa_compress_snappy_compress(proto.data, proto.len, &c->bodies[b].data);
        noa_buf_fini(&proto);
        c->raw += c->bodies[b].raw;
        c->lines += c->bodies[b].lines;
        noa_push_request_fini(&req);
    }
    c->n = n_bodies;
    noa_buf_fini(&lines);
    for (int i = 0; i < o->streams; i++)
        noa_free(labels[i]);
    noa_free(labels);
}

struct pusher {
    pthread_t th;
    const struct bench_opts *o;
    struct corpus *c;
    char url[128];
    size_t acked_raw, acked_lines, failures;
};

static void *pusher_main(void *arg)
{
    struct pusher *p = arg;
    struct noa_http_client *cl;
    if (noa_http_client_new(&cl) < 0)
        return NULL;
    const char *headers[] = {"Content-Type: application/x-protobuf", "Content-Encoding: zstd"};
    for (;;) {
        pthread_mutex_lock(&p->c->lock);
        size_t i = p->c->next < p->c->n ? p->c->next++ : SIZE_MAX;
        pthread_mutex_unlock(&p->c->lock);
        if (i == SIZE_MAX)
            break;
        struct body *b = &p->c->bodies[i];
        for (int attempt = 0; attempt < 100; attempt++) {
            struct noa_http_client_request req = {.method = "POST", .url = p->url,
                                                  .headers = headers,
                                                  .n_headers = p->o->zstd ? 2 : 1,
                                                  .body = b->data.data,
                                                  .body_len = b->data.len, .timeout_ms = 60000};
            struct noa_http_client_response resp = {0};
            int rc = noa_http_client_do(cl, &req, &resp);
            int status = resp.status;
            noa_http_client_response_fini(&resp);
            if (rc == 0 && status == 204) {
                p->acked_raw += b->raw;
                p->acked_lines += b->lines;
                break;
            }
            p->failures++;
            usleep(10000);
        }
    }
    noa_http_client_free(cl);
    return NULL;
}

static long proc_hwm_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = 0;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static uint64_t du(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (!S_ISDIR(st.st_mode))
        return (uint64_t)st.st_blocks * 512;
    uint64_t total = 0;
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char sub[4096];
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        total += du(sub);
    }
    if (d)
        closedir(d);
    return total;
}

static int http_status(const char *method, const char *url)
{
    struct noa_http_client *cl;
    if (noa_http_client_new(&cl) < 0)
        return -1;
    struct noa_http_client_request req = {.method = method, .url = url, .timeout_ms = 600000};
    struct noa_http_client_response resp = {0};
    int rc = noa_http_client_do(cl, &req, &resp);
    int status = rc == 0 ? resp.status : -1;
    noa_http_client_response_fini(&resp);
    noa_http_client_free(cl);
    return status;
}

/* Mean milliseconds of `n` GETs of path (after one warm-up). */
static double time_get(int port, const char *path, int n)
{
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    http_status("GET", url);
    double t0 = noa_bench_mono_s();
    for (int i = 0; i < n; i++)
        if (http_status("GET", url) != 200)
            return -1;
    return (noa_bench_mono_s() - t0) * 1000.0 / n;
}

/* Polls /metrics until no stream is left in memory (every chunk flushed). */
static int wait_flushed(int port)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
    struct noa_http_client *cl;
    if (noa_http_client_new(&cl) < 0)
        return 0;
    int done = 0;
    for (int i = 0; i < 1200 && !done; i++) {
        struct noa_http_client_request req = {.method = "GET", .url = url, .timeout_ms = 10000};
        struct noa_http_client_response resp = {0};
        if (noa_http_client_do(cl, &req, &resp) == 0 && resp.status == 200)
            done = strstr(noa_buf_cstr(&resp.body), "\nnoa_ingester_memory_streams 0\n") != NULL;
        noa_http_client_response_fini(&resp);
        if (!done)
            usleep(50000);
    }
    noa_http_client_free(cl);
    return done;
}

static void print_lookups(int port, const char *when)
{
    printf("  lookups (%s): labels %.2f ms, label values %.2f ms, series of one app %.2f ms\n",
           when, time_get(port, "/loki/api/v1/labels", 20),
           time_get(port, "/loki/api/v1/label/pod/values", 20),
           time_get(port, "/loki/api/v1/series?match%5B%5D=%7Bapp%3D%22app-7%22%7D", 20));
}

/* Runs one query_range over everything pushed and prints its speed: raw
 * bytes the server scanned (its stats) per second of wall time. */
static void time_query(int port, const char *query, const char *label)
{
    struct noa_http_client *cl;
    if (noa_http_client_new(&cl) < 0)
        return;
    char url[1024];
    struct noa_buf q = {0};
    for (const char *c = query; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9'))
            noa_buf_putc(&q, *c);
        else
            noa_buf_printf(&q, "%%%02X", (unsigned char)*c);
    }
    int64_t now = noa_bench_wall_ns();
    snprintf(url, sizeof(url),
             "http://127.0.0.1:%d/loki/api/v1/query_range?query=%s&start=%lld&end=%lld&limit=100",
             port, noa_buf_cstr(&q), (long long)(now - 3600LL * 1000000000),
             (long long)(now + 60LL * 1000000000));
    struct noa_http_client_request req = {.method = "GET", .url = url, .timeout_ms = 600000};
    struct noa_http_client_response resp = {0};
    double t0 = noa_bench_mono_s();
    int rc = noa_http_client_do(cl, &req, &resp);
    double secs = noa_bench_mono_s() - t0;
    const char *body = noa_buf_cstr(&resp.body);
    const char *tb = strstr(body, "\"totalBytesProcessed\":");
    double bytes = tb ? atof(tb + 22) : 0;
    if (rc == 0 && resp.status == 200)
        printf("  query %-28s %.2f s, %.0f MB scanned = %.0f MB/s\n", label, secs, bytes / 1e6,
               bytes / 1e6 / secs);
    else
        printf("  query %-28s failed: %d %s\n", label, resp.status, body);
    noa_http_client_response_fini(&resp);
    noa_http_client_free(cl);
    noa_buf_fini(&q);
}

static pid_t start_server(const struct bench_opts *o, const char *dir)
{
    char cfg[4200];
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
            "  max_global_streams_per_user: 0}\n",
            o->port, dir);
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        char arg[4300];
        snprintf(arg, sizeof(arg), "-config.file=%s", cfg);
        execl(o->server, o->server, arg, (char *)NULL);
        _exit(127);
    }
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/ready", o->port);
    for (int i = 0; i < 600; i++) {
        if (http_status("GET", url) == 200)
            return pid;
        usleep(50000);
    }
    kill(pid, SIGKILL);
    return -1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_ingest --server PATH [--streams N] [--connections N] [--mb N]\n"
            "                    [--batch BYTES] [--snappy|--zstd] [--port N]\n");
}

int main(int argc, char **argv)
{
    struct bench_opts o = {.server = "build/bin/noa-server", .port = 3199, .streams = 1000,
                           .connections = 4, .raw_mb = 512, .batch_bytes = 1 << 20,
                           .zstd = 0, .fsync = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--server") && v) o.server = argv[++i];
        else if (!strcmp(a, "--streams") && v) o.streams = atoi(argv[++i]);
        else if (!strcmp(a, "--connections") && v) o.connections = atoi(argv[++i]);
        else if (!strcmp(a, "--mb") && v) o.raw_mb = (size_t)atol(argv[++i]);
        else if (!strcmp(a, "--batch") && v) o.batch_bytes = (size_t)atol(argv[++i]);
        else if (!strcmp(a, "--port") && v) o.port = atoi(argv[++i]);
        else if (!strcmp(a, "--zstd")) o.zstd = 1;
        else if (!strcmp(a, "--snappy")) o.zstd = 0;
        else { usage(); return 2; }
    }
    char dir[] = "/tmp/noa-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    fprintf(stderr, "generating %zu MiB of lines over %d streams...\n", o.raw_mb, o.streams);
    struct corpus c = {0};
    build_corpus(&o, &c);
    pid_t pid = start_server(&o, dir);
    if (pid < 0) {
        fprintf(stderr, "noa-server did not become ready\n");
        return 1;
    }
    struct pusher *p = noa_xcalloc((size_t)o.connections, sizeof(*p));
    double cpu0 = noa_bench_proc_cpu(pid), t0 = noa_bench_mono_s();
    for (int i = 0; i < o.connections; i++) {
        p[i].o = &o;
        p[i].c = &c;
        snprintf(p[i].url, sizeof(p[i].url), "http://127.0.0.1:%d/loki/api/v1/push", o.port);
        pthread_create(&p[i].th, NULL, pusher_main, &p[i]);
    }
    size_t raw = 0, lines = 0, failures = 0;
    for (int i = 0; i < o.connections; i++) {
        pthread_join(p[i].th, NULL);
        raw += p[i].acked_raw;
        lines += p[i].acked_lines;
        failures += p[i].failures;
    }
    double secs = noa_bench_mono_s() - t0, cpu = noa_bench_proc_cpu(pid) - cpu0;
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/flush", o.port);
    long hwm = proc_hwm_kb(pid);
    print_lookups(o.port, "streams in memory");
    http_status("POST", url);
    if (wait_flushed(o.port)) {
        print_lookups(o.port, "streams flushed, from the index");
        time_query(o.port, "{namespace=~\"ns-.*\"} |= \"rare-token-xyz\"", "|= rare token");
        time_query(o.port, "{namespace=~\"ns-.*\"} | json | level=\"error\"", "| json | level=error");
    }
    /* The flush is asynchronous: a graceful stop waits for it to finish. */
    kill(pid, SIGTERM);
    int wst;
    waitpid(pid, &wst, 0);
    char sub[4200];
    snprintf(sub, sizeof(sub), "%s/chunks", dir);
    uint64_t chunks = du(sub);
    snprintf(sub, sizeof(sub), "%s/index", dir);
    uint64_t index = du(sub);
    printf("ingest: %s protobuf, %d streams, %d connections, %zu KiB batches, fsync'd WAL\n",
           o.zstd ? "zstd" : "snappy", o.streams, o.connections, o.batch_bytes >> 10);
    printf("  acknowledged   %zu lines, %.1f MiB raw in %.2f s (%zu retries)\n", lines,
           (double)raw / 1048576.0, secs, failures);
    printf("  throughput     %.0f lines/s, %.1f MB/s raw\n", (double)lines / secs,
           (double)raw / 1e6 / secs);
    printf("  server CPU     %.2f s = %.2f CPU-seconds per GB raw\n", cpu, cpu / ((double)raw / 1e9));
    printf("  peak RSS       %.1f MiB (at the end of the run)\n", (double)hwm / 1024.0);
    printf("  on disk        chunks %.1f MiB + index %.1f MiB = 1/%.1f of raw\n",
           (double)chunks / 1048576.0, (double)index / 1048576.0,
           (double)raw / (double)(chunks + index ? chunks + index : 1));
    for (size_t i = 0; i < c.n; i++)
        noa_buf_fini(&c.bodies[i].data);
    noa_free(c.bodies);
    noa_free(p);
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return 0;
}
