/*
 * Query benchmark: starts noa-server on a free loopback port over a fresh
 * data directory, pushes --mb MiB (default 2048) of varied raw log (access
 * logs, JSON and logfmt application logs with levels) over --streams
 * streams, where exactly --rare lines carry "rare-token-xyz", flushes
 * everything to chunks and then times, over the whole range:
 *
 *   {...} |= "rare-token-xyz"        (the block-skipping case)
 *   {...} |= "GET"  (limit 100)      (a common token: early stop)
 *   {...} | json | level="error"     (limit 100)
 *   {...} | json | level="fatal"     (matches nothing: every line parsed)
 *
 * printing wall seconds, raw MB covered, MB/s, the server's CPU seconds
 * (user+sys of its process from /proc, before and after) and raw MB per
 * CPU-second, bytes the server decompressed and the blocks it skipped
 * (from the response's stats). The same queries then run again on the
 * same data with skipping off (the server restarted with
 * NOA_LOGSEL_NO_SKIP=1: every block decompressed, then =2: every line
 * also run through the filter on its own). As a yardstick, the same raw log is written to a
 * file, compressed with `zstd -1`, and `zstd -dc | grep -F rare-token-xyz`
 * is timed (CPU of both processes, from getrusage of the children).
 *
 * Figures depend on the machine and its load; CPU-based ones are the ones
 * to compare on a shared machine. Everything started is stopped and the
 * temp directory removed. Usage: bench_query [--mb N] [--streams N]
 * [--rare N] [--server PATH] [--runs N] [--profile DIR]; with --profile,
 * each query of the run with skipping off is recorded by `perf record`
 * into DIR and the top of `perf report` printed.
 */
#include "bench/lib/benchlib.h"
#include "common/buf.h"
#include "common/compress.h"
#include "common/http_client.h"
#include "common/mem.h"
#include "common/push.h"
#include "common/pushproto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RARE "rare-token-xyz"
#define BODY_BYTES (1u << 20) /* raw bytes per push, Promtail's default batch */

struct opts {
    const char *server;
    const char *profile; /* directory for perf profiles of the no-skip run; NULL = none */
    size_t mb;
    int streams;
    int rare;
    int runs;
};

/* Shared by the pushers: what to generate and what was acknowledged. */
struct feed {
    const struct opts *o;
    char **labels;
    int port;
    size_t n_bodies;
    atomic_size_t next_body;
    atomic_llong next_ts;
    pthread_mutex_t file_lock; /* guards raw_file */
    FILE *raw_file;
    atomic_size_t raw_bytes, lines, rare_lines, failures;
};

struct pusher {
    pthread_t th;
    struct feed *f;
    uint64_t rng;
};

/* A 100-300 byte line: an access log, a logfmt or a JSON application log.
 * Values come from pools of realistic size plus random ids, so blocks
 * compress like real logs. The rare line is a logfmt line with the token. */
static size_t make_line(uint64_t *s, char *out, size_t cap, int64_t ts, int rare)
{
    static const char *const paths[] = {"/api/v1/users", "/api/v1/orders", "/healthz",
                                        "/static/app.js", "/api/v1/search?q=shoes", "/login",
                                        "/api/v2/cart/items"};
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE"};
    static const char *const levels[] = {"info", "info", "info", "warn", "error", "debug"};
    static const char *const agents[] = {
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
        "curl/7.88.1", "Go-http-client/1.1", "python-requests/2.31.0"};
    uint64_t r = noa_bench_rng_next(s);
    int status = (r % 20 == 0) ? 500 : (r % 7 == 0) ? 404 : 200;
    unsigned ip = 0x0A000000u + (unsigned)((r >> 32) % 500) * 7919u;
    if (rare)
        return (size_t)snprintf(out, cap,
                                "level=error ts=%lld caller=auth.go:88 msg=\"token rejected\" "
                                "reason=" RARE " user_id=%u",
                                (long long)ts, (unsigned)(r >> 40) % 5000);
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
                                (unsigned long long)noa_bench_rng_next(s));
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

/* Body b carries a rare line when it is one of --rare bodies spread evenly. */
static int body_has_rare(const struct feed *f, size_t b)
{
    for (int k = 1; k <= f->o->rare; k++)
        if (b == f->n_bodies * (size_t)k / (size_t)(f->o->rare + 1))
            return 1;
    return 0;
}

/* Builds body b: ~BODY_BYTES of lines over 100 consecutive streams (from a
 * random one), snappy protobuf as Promtail sends; the raw lines go to raw. */
static void build_body(struct pusher *p, size_t b, struct noa_buf *body, struct noa_buf *raw,
                       size_t *raw_bytes, size_t *lines, size_t *rare)
{
    struct feed *f = p->f;
    struct noa_push_request req = {0};
    int per_req = f->o->streams < 100 ? f->o->streams : 100;
    size_t per_stream = BODY_BYTES / (size_t)per_req / 200 + 1;
    int64_t ts = atomic_fetch_add(&f->next_ts, (long long)(per_req * per_stream * 1000));
    int first = (int)(noa_bench_rng_next(&p->rng) % (uint64_t)f->o->streams);
    int rare_at = body_has_rare(f, b) ? (int)(noa_bench_rng_next(&p->rng) % (uint64_t)per_req) : -1;
    req.streams = noa_arena_alloc(&req.arena, (size_t)per_req * sizeof(*req.streams));
    req.n_streams = (uint32_t)per_req;
    *raw_bytes = *lines = *rare = 0;
    for (int s = 0; s < per_req; s++) {
        struct noa_push_stream *ps = &req.streams[s];
        ps->labels = noa_str_c(f->labels[(first + s) % f->o->streams]);
        ps->entries = noa_arena_alloc(&req.arena, per_stream * sizeof(*ps->entries));
        ps->n_entries = (uint32_t)per_stream;
        for (size_t e = 0; e < per_stream; e++) {
            char line[512];
            ts += 1000;
            int is_rare = s == rare_at && e == per_stream / 2;
            size_t len = make_line(&p->rng, line, sizeof(line), ts, is_rare);
            char *dst = noa_arena_strndup(&req.arena, line, len);
            ps->entries[e] = (struct noa_push_entry){.ts_ns = ts, .line = {dst, len}};
            noa_buf_append(raw, line, len);
            noa_buf_putc(raw, '\n');
            *raw_bytes += len;
            *rare += (size_t)is_rare;
        }
        *lines += per_stream;
    }
    struct noa_buf proto = {0};
    noa_pushproto_encode(&req, &proto);
    noa_buf_reset(body);
    noa_compress_snappy_compress(proto.data, proto.len, body);
    noa_buf_fini(&proto);
    noa_push_request_fini(&req);
}

static void *pusher_main(void *arg)
{
    struct pusher *p = arg;
    struct feed *f = p->f;
    struct noa_http_client *cl;
    struct noa_buf body = {0}, raw = {0};
    char url[128];
    const char *headers[] = {"Content-Type: application/x-protobuf"};
    if (noa_http_client_new(&cl) < 0)
        return NULL;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/loki/api/v1/push", f->port);
    for (;;) {
        size_t b = atomic_fetch_add(&f->next_body, 1), rb, nl, nr;
        if (b >= f->n_bodies)
            break;
        noa_buf_reset(&raw);
        build_body(p, b, &body, &raw, &rb, &nl, &nr);
        int ok = 0;
        for (int attempt = 0; attempt < 100 && !ok; attempt++) {
            struct noa_http_client_request req = {.method = "POST", .url = url,
                                                  .headers = headers, .n_headers = 1,
                                                  .body = body.data, .body_len = body.len,
                                                  .timeout_ms = 60000};
            struct noa_http_client_response resp = {0};
            ok = noa_http_client_do(cl, &req, &resp) == 0 && resp.status == 204;
            noa_http_client_response_fini(&resp);
            if (!ok) {
                atomic_fetch_add(&f->failures, 1);
                usleep(10000);
            }
        }
        if (!ok)
            continue; /* not acknowledged: not in the yardstick file either */
        pthread_mutex_lock(&f->file_lock);
        fwrite(raw.data, 1, raw.len, f->raw_file);
        pthread_mutex_unlock(&f->file_lock);
        atomic_fetch_add(&f->raw_bytes, rb);
        atomic_fetch_add(&f->lines, nl);
        atomic_fetch_add(&f->rare_lines, nr);
    }
    noa_buf_fini(&body);
    noa_buf_fini(&raw);
    noa_http_client_free(cl);
    return NULL;
}

/* Does one request; returns the HTTP status (-1 when none) and the body. */
static int http_do(const char *method, const char *url, struct noa_buf *body)
{
    struct noa_http_client *cl;
    if (noa_http_client_new(&cl) < 0)
        return -1;
    struct noa_http_client_request req = {.method = method, .url = url, .timeout_ms = 1200000,
                                          .max_response_bytes = 1u << 30};
    struct noa_http_client_response resp = {0};
    int rc = noa_http_client_do(cl, &req, &resp);
    int status = rc == 0 ? resp.status : -1;
    if (body) {
        noa_buf_reset(body);
        noa_buf_append(body, resp.body.data, resp.body.len);
    }
    noa_http_client_response_fini(&resp);
    noa_http_client_free(cl);
    return status;
}

/* Polls /metrics until no stream is left in memory (every chunk flushed). */
static int wait_flushed(int port)
{
    char url[128];
    struct noa_buf body = {0};
    int done = 0;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
    for (int i = 0; i < 6000 && !done; i++) {
        done = http_do("GET", url, &body) == 200 &&
               strstr(noa_buf_cstr(&body), "\nnoa_ingester_memory_streams 0\n") != NULL;
        if (!done)
            usleep(100000);
    }
    noa_buf_fini(&body);
    return done;
}

static pid_t start_server(const struct opts *o, const char *dir, int port, int no_skip)
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
            "  max_global_streams_per_user: 0, query_timeout: 20m}\n",
            port, dir);
    fclose(f);
    fflush(stdout); /* the child must not inherit buffered output */
    pid_t pid = fork();
    if (pid == 0) {
        char arg[4300];
        snprintf(arg, sizeof(arg), "-config.file=%s", cfg);
        if (no_skip) {
            char v[16];
            snprintf(v, sizeof(v), "%d", no_skip);
            setenv("NOA_LOGSEL_NO_SKIP", v, 1);
        }
        execl(o->server, o->server, arg, (char *)NULL);
        _exit(127);
    }
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/ready", port);
    for (int i = 0; i < 3000; i++) {
        if (http_do("GET", url, NULL) == 200)
            return pid;
        usleep(100000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static void stop_server(pid_t pid)
{
    int st;
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
}

static double stat_num(const char *body, const char *key)
{
    char k[64];
    snprintf(k, sizeof(k), "\"%s\":", key);
    const char *p = strstr(body, k);
    return p ? atof(p + strlen(k)) : -1;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* One result line. /proc counts CPU in clock ticks (10 ms): below one
 * tick the per-CPU-second figure is shown as a lower bound. */
static void print_row(const char *label, double secs, double raw, double cpu, const char *extra)
{
    double tick = 1.0 / (double)sysconf(_SC_CLK_TCK);
    printf("  %-26s %7.2f s  %7.0f MB  %7.0f MB/s  cpu %6.2f s  %s%7.0f MB/cpu-s  %s\n", label,
           secs, raw / 1e6, raw / 1e6 / secs, cpu, cpu < tick ? ">" : " ",
           raw / 1e6 / (cpu < tick ? tick : cpu), extra);
}

/* Runs one query_range over the whole range `runs` times and prints the
 * run that took the least server CPU; checks the number of lines returned
 * when want >= 0. Returns 0, or -1 when a query failed or returned the
 * wrong lines. */
static int time_query(const struct opts *o, int port, pid_t pid, int64_t start, int64_t end,
                      const char *query, const char *label, double raw, long want,
                      const char *profile)
{
    char url[2048];
    struct noa_buf q = {0}, body = {0};
    for (const char *c = query; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9'))
            noa_buf_putc(&q, *c);
        else
            noa_buf_printf(&q, "%%%02X", (unsigned char)*c);
    }
    snprintf(url, sizeof(url),
             "http://127.0.0.1:%d/loki/api/v1/query_range?query=%s&start=%lld&end=%lld&limit=100",
             port, noa_buf_cstr(&q), (long long)start, (long long)end);
    double best_cpu = 1e300, best_secs = 0;
    char extra[256] = "";
    int rc = 0;
    for (int run = 0; run < o->runs && rc == 0; run++) {
        double c0 = noa_bench_proc_cpu(pid), t0 = noa_bench_mono_s();
        int status = http_do("GET", url, &body);
        double secs = noa_bench_mono_s() - t0, cpu = noa_bench_proc_cpu(pid) - c0;
        const char *b = noa_buf_cstr(&body);
        if (status != 200) {
            printf("  %-26s failed: %d %.300s\n", label, status, b);
            rc = -1;
            break;
        }
        size_t got = want >= 0 ? count(b, RARE) : 0;
        if (want >= 0 && (long)got != want) {
            printf("  %-26s returned %zu lines with the token, want %ld\n", label, got, want);
            rc = -1;
        }
        if (cpu < best_cpu) {
            best_cpu = cpu;
            best_secs = secs;
            /* Loki's stats have no block count: noa reports skipping as
             * index.usedBloomFilters, and the decompressed bytes show how
             * much was read. A blocksSkipped figure is printed if present. */
            double skipped = stat_num(b, "blocksSkipped");
            char sk[64] = "";
            if (skipped >= 0)
                snprintf(sk, sizeof(sk), ", %.0f blocks skipped", skipped);
            else if (strstr(b, "\"usedBloomFilters\":true"))
                snprintf(sk, sizeof(sk), ", summaries used");
            snprintf(extra, sizeof(extra), "(processed %.0f MB, decompressed %.0f MB%s)",
                     stat_num(b, "totalBytesProcessed") / 1e6,
                     stat_num(b, "decompressedBytes") / 1e6, sk);
        }
    }
    if (rc == 0)
        print_row(label, best_secs, raw, best_cpu, extra);
    if (rc == 0 && profile) {
        pid_t pp = noa_bench_perf_start(pid, profile, 1);
        http_do("GET", url, &body);
        printf("  profile of one more run (perf report, self time):\n");
        noa_bench_perf_stop(pp, profile);
    }
    noa_buf_fini(&q);
    noa_buf_fini(&body);
    return rc;
}

static int run_queries(const struct opts *o, int port, pid_t pid, int64_t start, int64_t end,
                       double raw, long rare, int profile)
{
    static const char sel[] = "{namespace=~\"ns-.*\"}";
    static const struct {
        const char *stages, *label;
        int counted;
    } qs[] = {
        {"|= \"" RARE "\"", "|= \"" RARE "\"", 1},
        {"|= \"GET\"", "|= \"GET\" (limit 100)", 0},
        {"| json | level=\"error\"", "| json | level=\"error\"", 0},
        {"| json | level=\"fatal\"", "| json | level=\"fatal\"", 0},
    };
    char q[256], path[4200];
    int rc = 0;
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        snprintf(q, sizeof(q), "%s %s", sel, qs[i].stages);
        snprintf(path, sizeof(path), "%s/perf-mode%d-q%zu.data", o->profile ? o->profile : ".",
                 profile, i);
        rc |= time_query(o, port, pid, start, end, q, qs[i].label, raw,
                         qs[i].counted ? rare : -1, profile && o->profile ? path : NULL);
    }
    return rc;
}

/* Times `zstd -dc file | grep -F -c token` with the CPU of both. */
static int yardstick(const char *zst, double raw, long want)
{
    char cmd[4400];
    struct rusage r0, r1;
    snprintf(cmd, sizeof(cmd), "zstd -dc '%s' | grep -F -c " RARE, zst);
    getrusage(RUSAGE_CHILDREN, &r0);
    double t0 = noa_bench_mono_s();
    FILE *p = popen(cmd, "r");
    long got = -1;
    if (!p || fscanf(p, "%ld", &got) != 1)
        got = -1;
    if (p)
        pclose(p);
    double secs = noa_bench_mono_s() - t0;
    getrusage(RUSAGE_CHILDREN, &r1);
    double cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) +
                 (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
                 (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6 +
                 (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
    char extra[64];
    snprintf(extra, sizeof(extra), "(%ld lines)", got);
    print_row("zstd -dc | grep -F", secs, raw, cpu, extra);
    return got == want ? 0 : -1;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_query [--mb N] [--streams N] [--rare N] [--runs N] "
                    "[--server PATH] [--profile DIR]\n");
}

int main(int argc, char **argv)
{
    struct opts o = {.server = "build/bin/noa-server", .mb = 2048, .streams = 300, .rare = 5,
                     .runs = 3};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--server") && v) o.server = argv[++i];
        else if (!strcmp(a, "--mb") && v) o.mb = (size_t)atol(argv[++i]);
        else if (!strcmp(a, "--streams") && v) o.streams = atoi(argv[++i]);
        else if (!strcmp(a, "--rare") && v) o.rare = atoi(argv[++i]);
        else if (!strcmp(a, "--runs") && v) o.runs = atoi(argv[++i]);
        else if (!strcmp(a, "--profile") && v) o.profile = argv[++i];
        else { usage(); return 2; }
    }
    if (o.streams < 1 || o.rare < 0 || o.runs < 1 || o.mb < 1) {
        usage();
        return 2;
    }
    char dir[] = "/tmp/noa-bench-query-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char raw_path[4200], zst_path[4200], cmd[8600];
    snprintf(raw_path, sizeof(raw_path), "%s/raw.log", dir);
    snprintf(zst_path, sizeof(zst_path), "%s/raw.log.zst", dir);
    int status = 1, port = noa_bench_free_port();
    pid_t pid = -1;
    struct feed f = {.o = &o, .port = port};
    struct pusher p[2];
    f.raw_file = fopen(raw_path, "w");
    f.labels = noa_xcalloc((size_t)o.streams, sizeof(*f.labels));
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < o.streams; i++) {
        char l[160];
        snprintf(l, sizeof(l),
                 "{app=\"app-%d\", namespace=\"ns-%d\", pod=\"pod-%d-%04x\", container=\"main\"}",
                 i % 50, i % 7, i, (unsigned)(noa_bench_rng_next(&seed) & 0xffff));
        f.labels[i] = noa_xstrdup(l);
    }
    /* Bodies hold ~BODY_BYTES of line bytes at 200 bytes a line; measure
     * the real mean so that --mb is the raw size pushed. */
    uint64_t sample = 1;
    size_t sampled = 0;
    for (int i = 0; i < 10000; i++) {
        char line[512];
        sampled += make_line(&sample, line, sizeof(line), 1700000000000000000LL, 0);
    }
    int per_req = o.streams < 100 ? o.streams : 100;
    double body_raw = (double)sampled / 10000.0 * (double)per_req *
                      (double)(BODY_BYTES / (size_t)per_req / 200 + 1);
    f.n_bodies = (size_t)((double)(o.mb << 20) / body_raw) + 1;
    int64_t t_start = noa_bench_wall_ns() - 600LL * 1000000000; /* well inside the accepted window */
    atomic_init(&f.next_ts, t_start);
    pthread_mutex_init(&f.file_lock, NULL);
    if (port < 0 || !f.raw_file || (pid = start_server(&o, dir, port, 0)) < 0) {
        fprintf(stderr, "could not start %s\n", o.server);
        goto done;
    }
    fprintf(stderr, "pushing %zu MiB over %d streams (%d rare lines)...\n", o.mb, o.streams,
            o.rare);
    double t0 = noa_bench_mono_s();
    for (int i = 0; i < 2; i++) {
        p[i] = (struct pusher){.f = &f, .rng = 0x2545F4914F6CDD1Dull * (uint64_t)(i + 1)};
        pthread_create(&p[i].th, NULL, pusher_main, &p[i]);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(p[i].th, NULL);
    fclose(f.raw_file);
    f.raw_file = NULL;
    double raw = (double)atomic_load(&f.raw_bytes);
    long rare = (long)atomic_load(&f.rare_lines);
    fprintf(stderr, "pushed %.0f MB raw, %zu lines in %.1f s; flushing...\n", raw / 1e6,
            (size_t)atomic_load(&f.lines), noa_bench_mono_s() - t0);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/flush", port);
    if (http_do("POST", url, NULL) >= 300 || !wait_flushed(port)) {
        fprintf(stderr, "flush did not finish\n");
        goto done;
    }
    snprintf(cmd, sizeof(cmd), "zstd -1 -q -T1 --rm '%s' -o '%s'", raw_path, zst_path);
    fprintf(stderr, "compressing the yardstick file with zstd -1...\n");
    if (system(cmd) != 0) {
        fprintf(stderr, "zstd failed\n");
        goto done;
    }
    int64_t q_start = t_start - 1000000000LL, q_end = atomic_load(&f.next_ts) + 1000000000LL;
    printf("query: %.0f MB raw log, %d streams, %ld lines with " RARE
           ", flushed to chunks; best of %d runs by server CPU (shared machine: compare CPU)\n",
           raw / 1e6, o.streams, rare, o.runs);
    printf("  %-26s %9s  %10s  %12s  %10s  %15s\n", "query", "wall", "raw", "raw/wall",
           "server cpu", "raw/cpu");
    status = run_queries(&o, port, pid, q_start, q_end, raw, rare, 0) ? 1 : 0;
    status |= yardstick(zst_path, raw, rare) ? 1 : 0;
    static const char *const modes[] = {
        NULL, "block summaries off (NOA_LOGSEL_NO_SKIP=1): every block decompressed",
        "summaries and block-wide search off (NOA_LOGSEL_NO_SKIP=2): every line searched"};
    for (int mode = 1; mode <= 2; mode++) {
        stop_server(pid);
        pid = start_server(&o, dir, port, mode);
        if (pid < 0) {
            fprintf(stderr, "could not restart %s\n", o.server);
            status = 1;
            goto done;
        }
        printf("same queries, %s:\n", modes[mode]);
        status |= run_queries(&o, port, pid, q_start, q_end, raw, rare, mode) ? 1 : 0;
    }
done:
    if (pid > 0)
        stop_server(pid);
    if (f.raw_file)
        fclose(f.raw_file);
    for (int i = 0; i < o.streams; i++)
        noa_free(f.labels[i]);
    noa_free(f.labels);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return status;
}
