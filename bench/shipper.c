/*
 * Shipper benchmark: writes N MiB of CRI-format lines (containerd's
 * format, what kubelet leaves under /var/log/pods) into F files, starts
 * noa-server and then noa-shipper with a `cri` pipeline over those files,
 * and waits until the server has acknowledged every line
 * (promtail_sent_entries_total on the shipper's /metrics). Prints MB/s of
 * raw lines, the shipper's CPU-seconds per GB and its peak RSS (VmHWM),
 * and the server's CPU for reference.
 *
 * Lines are tailed, decoded, labelled, batched, compressed, sent and
 * acknowledged: the whole path a node agent runs.
 */
#include "bench/lib/benchlib.h"
#include "common/http_client.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct opts {
    const char *server, *shipper;
    size_t mb;
    int files;
    int zstd;
    int port, shipper_port;
    int perf; /* record the shipper with perf and print the top */
    int keep; /* keep the temp dir (perf.data, configs) */
};

static const char *const words[] = {
    "GET", "POST", "/api/v1/orders", "/healthz", "user", "request", "completed", "failed",
    "duration", "status", "200", "404", "500", "cache", "miss", "hit", "upstream", "timeout",
    "session", "id", "tenant", "retry", "connection", "reset", "payload", "bytes"};

static int http_get(const char *url, struct noa_buf *body)
{
    struct noa_http_client *cl;
    if (noa_http_client_new(&cl) != 0)
        return -1;
    struct noa_http_client_request req = {.method = "GET", .url = url, .timeout_ms = 5000};
    struct noa_http_client_response resp = {0};
    int rc = noa_http_client_do(cl, &req, &resp);
    int status = rc == 0 ? resp.status : -1;
    if (body && rc == 0)
        noa_buf_append(body, resp.body.data, resp.body.len);
    noa_http_client_response_fini(&resp);
    noa_http_client_free(cl);
    return status;
}

/* Writes the files; returns the number of lines. */
static uint64_t write_files(const struct opts *o, const char *dir, uint64_t *bytes)
{
    uint64_t rng = 0x9e3779b97f4a7c15ULL, lines = 0;
    size_t per_file = o->mb * 1024 * 1024 / (size_t)o->files;
    int64_t ts = noa_bench_wall_ns() - 3600LL * 1000000000LL;
    char path[4200], line[600];
    *bytes = 0;
    for (int f = 0; f < o->files; f++) {
        snprintf(path, sizeof(path), "%s/logs/pod-%04d.log", dir, f);
        FILE *fp = fopen(path, "w");
        if (!fp) {
            perror(path);
            exit(1);
        }
        setvbuf(fp, NULL, _IOFBF, 1 << 20);
        size_t written = 0;
        while (written < per_file) {
            time_t secs = (time_t)(ts / 1000000000LL);
            struct tm tm;
            gmtime_r(&secs, &tm);
            int n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
            n += snprintf(line + n, sizeof(line) - (size_t)n, ".%09lldZ %s F level=%s msg=\"",
                          (long long)(ts % 1000000000LL),
                          (noa_bench_rng_next(&rng) & 7) ? "stdout" : "stderr",
                          (noa_bench_rng_next(&rng) & 15) ? "info" : "error");
            int nw = 8 + (int)(noa_bench_rng_next(&rng) % 20);
            for (int w = 0; w < nw; w++)
                n += snprintf(line + n, sizeof(line) - (size_t)n, "%s%s", w ? " " : "",
                              words[noa_bench_rng_next(&rng) % (sizeof(words) / sizeof(*words))]);
            n += snprintf(line + n, sizeof(line) - (size_t)n, "\" trace_id=%016llx\n",
                          (unsigned long long)noa_bench_rng_next(&rng));
            fwrite(line, 1, (size_t)n, fp);
            written += (size_t)n;
            ts += 1000;
            lines++;
        }
        *bytes += written;
        fclose(fp);
    }
    return lines;
}

static pid_t spawn(const char *exe, const char *cfg)
{
    pid_t pid = fork();
    if (pid == 0) {
        char arg[4300];
        snprintf(arg, sizeof(arg), "-config.file=%s", cfg);
        execl(exe, exe, arg, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int wait_ready(int port)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/ready", port);
    for (int i = 0; i < 600; i++) {
        if (http_get(url, NULL) == 200)
            return 0;
        usleep(50000);
    }
    return -1;
}

static double metric_value(int port, const char *name)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
    struct noa_buf b = {0};
    double v = -1;
    if (http_get(url, &b) == 200) {
        const char *text = noa_buf_cstr(&b);
        size_t n = strlen(name);
        for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
            if (!strncmp(p, name, n) && p[n] == ' ') {
                v = atof(p + n + 1);
                break;
            }
        }
    }
    noa_buf_fini(&b);
    return v;
}

/* The sum of every series of a counter (name{...} N and name N), or -1
 * when the page has none. */
static double metric_sum(int port, const char *name)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
    struct noa_buf b = {0};
    double v = -1;
    if (http_get(url, &b) == 200) {
        const char *text = noa_buf_cstr(&b);
        size_t n = strlen(name);
        for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
            if (strncmp(p, name, n) != 0 || (p[n] != ' ' && p[n] != '{'))
                continue;
            const char *sp = p + n;
            if (*sp == '{')
                sp = strchr(sp, '}');
            if (!sp || !(sp = strchr(sp, ' ')))
                continue;
            v = (v < 0 ? 0 : v) + atof(sp + 1);
        }
    }
    noa_buf_fini(&b);
    return v;
}

static long vm_hwm_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmHWM:", 6))
            v = atol(line + 6);
    fclose(f);
    return v;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_shipper --server PATH --shipper PATH [--mb N] [--files N]\n"
                    "                     [--zstd|--snappy] [--perf] [--keep]\n");
}

int main(int argc, char **argv)
{
    struct opts o = {.server = "build/bin/noa-server", .shipper = "build/bin/noa-shipper",
                     .mb = 1024, .files = 100, .zstd = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--server") && v) o.server = argv[++i];
        else if (!strcmp(a, "--shipper") && v) o.shipper = argv[++i];
        else if (!strcmp(a, "--mb") && v) o.mb = (size_t)atol(argv[++i]);
        else if (!strcmp(a, "--files") && v) o.files = atoi(argv[++i]);
        else if (!strcmp(a, "--zstd")) o.zstd = 1;
        else if (!strcmp(a, "--snappy")) o.zstd = 0;
        else if (!strcmp(a, "--perf")) o.perf = 1;
        else if (!strcmp(a, "--keep")) o.keep = 1;
        else { usage(); return 2; }
    }
    if (o.files < 1 || o.mb < 1) {
        usage();
        return 2;
    }
    o.port = noa_bench_free_port();
    o.shipper_port = noa_bench_free_port();
    char dir[] = "/tmp/noa-bench-shipper-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char p[4300];
    snprintf(p, sizeof(p), "%s/logs", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/data", dir);
    mkdir(p, 0755);
    fprintf(stderr, "writing %zu MiB of CRI lines into %d files...\n", o.mb, o.files);
    uint64_t bytes;
    uint64_t lines = write_files(&o, dir, &bytes);

    char scfg[4300], hcfg[4300];
    snprintf(scfg, sizeof(scfg), "%s/server.yaml", dir);
    FILE *f = fopen(scfg, "w");
    fprintf(f,
            "auth_enabled: false\n"
            "server: {http_listen_address: 127.0.0.1, http_listen_port: %d, log_level: warn}\n"
            "common: {path_prefix: %s/data}\n"
            "limits_config: {ingestion_rate_mb: 100000, ingestion_burst_size_mb: 100000,\n"
            "  per_stream_rate_limit: 1GB, per_stream_rate_limit_burst: 1GB,\n"
            "  max_global_streams_per_user: 0, reject_old_samples: false}\n",
            o.port, dir);
    fclose(f);
    snprintf(hcfg, sizeof(hcfg), "%s/shipper.yaml", dir);
    f = fopen(hcfg, "w");
    fprintf(f,
            "server: {http_listen_address: 127.0.0.1, http_listen_port: %d, log_level: warn}\n"
            "positions: {filename: %s/positions.yaml}\n"
            "clients:\n"
            "  - url: http://127.0.0.1:%d/loki/api/v1/push\n"
            "    encoding: %s\n"
            "scrape_configs:\n"
            "  - job_name: pods\n"
            "    pipeline_stages:\n"
            "      - cri: {}\n"
            "    static_configs:\n"
            "      - targets: [localhost]\n"
            "        labels: {job: bench, __path__: %s/logs/*.log}\n",
            o.shipper_port, dir, o.port, o.zstd ? "zstd" : "snappy", dir);
    fclose(f);

    pid_t server = spawn(o.server, scfg);
    if (wait_ready(o.port) < 0) {
        fprintf(stderr, "noa-server did not become ready\n");
        kill(server, SIGKILL);
        return 1;
    }
    double server_cpu0 = noa_bench_proc_cpu(server);
    double t0 = noa_bench_mono_s();
    pid_t shipper = spawn(o.shipper, hcfg);
    char perf_path[4300];
    snprintf(perf_path, sizeof(perf_path), "%s/perf.data", dir);
    pid_t perf = o.perf ? noa_bench_perf_start(shipper, perf_path, 1) : -1;
    double sent = 0, last_print = t0;
    int ok = 0;
    while (noa_bench_mono_s() - t0 < 1800) {
        usleep(100000);
        /* Progress is read from the server: rendering the shipper's
         * /metrics (per-file gauges) ten times a second would be charged
         * to the shipper, and with 1,000 files it is a large part of its
         * CPU (Prometheus scrapes every 15 s or more). The shipper is
         * asked once the server has every line, to confirm its acks. */
        double got = metric_sum(o.port, "noa_distributor_lines_received_total");
        sent = got;
        if (got < 0 || got >= (double)lines) {
            sent = metric_value(o.shipper_port, "promtail_sent_entries_total");
            if (sent >= (double)lines) {
                ok = 1;
                break;
            }
        }
        int st;
        if (waitpid(shipper, &st, WNOHANG) == shipper) {
            fprintf(stderr, "noa-shipper exited\n");
            break;
        }
        if (isatty(2) && noa_bench_mono_s() - last_print > 1) {
            fprintf(stderr, "\r  %.0f / %llu lines acknowledged", sent < 0 ? 0 : sent,
                    (unsigned long long)lines);
            last_print = noa_bench_mono_s();
        }
    }
    double secs = noa_bench_mono_s() - t0;
    double cpu = noa_bench_proc_cpu(shipper);
    double server_cpu = noa_bench_proc_cpu(server) - server_cpu0;
    long hwm = vm_hwm_kib(shipper);
    if (isatty(2))
        fprintf(stderr, "\n");
    if (perf > 0)
        noa_bench_perf_stop(perf, perf_path);
    kill(shipper, SIGTERM);
    waitpid(shipper, NULL, 0);
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    if (!ok) {
        printf("  FAILED: %.0f of %llu lines acknowledged after %.0f s\n", sent,
               (unsigned long long)lines, secs);
        return 1;
    }
    double gb = (double)bytes / 1e9;
    printf("  %d files, %.0f MB of CRI lines (%llu lines), %s bodies\n", o.files, bytes / 1e6,
           (unsigned long long)lines, o.zstd ? "zstd" : "snappy");
    printf("  tailed, decoded, sent and acknowledged in %.2f s = %.1f MB/s\n", secs,
           bytes / 1e6 / secs);
    printf("  shipper: %.2f CPU-s = %.2f CPU-s per GB (%.0f MB per CPU-second), peak RSS %.1f MiB\n",
           cpu, cpu / gb, bytes / 1e6 / cpu, hwm / 1024.0);
    printf("  server:  %.2f CPU-s (ingest of the same lines)\n", server_cpu);
    char cmd[4400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (o.keep)
        printf("  kept %s\n", dir);
    else if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return 0;
}
