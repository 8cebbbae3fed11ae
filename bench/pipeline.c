/*
 * Pipeline benchmark: generates realistic JSON and logfmt application log
 * lines in memory (nested objects, arrays, numbers, escaped strings, about
 * 5% at level=error, 150-400 bytes each), compiles LogQL pipelines the way
 * the querier does (noa_logql_parse, noa_pipeline_new) and runs each over
 * every line with one struct noa_pipeline_state on one thread, printing
 * raw MB/s and ns/line measured in process CPU time (so the figures hold
 * up on a shared machine). Also prints how many lines were kept and a
 * digest of the kept lines' label sets, so two builds can be checked to
 * give the same answers. Usage: bench_pipeline --help.
 */
#include "common/buf.h"
#include "common/labels.h"
#include "common/lbuilder.h"
#include "common/logql.h"
#include "common/mem.h"
#include "common/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct corpus {
    struct noa_buf text; /* the lines, back to back */
    size_t *off;         /* line i is text[off[i], off[i+1]) */
    size_t n, cap;
};

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static const char *pick(const char *const *v, size_t n)
{
    return v[rnd((uint32_t)n)];
}
#define PICK(arr) pick(arr, sizeof(arr) / sizeof(arr[0]))

static const char *const levels[] = {"info", "info", "info", "info", "debug", "debug", "warn"};
static const char *const methods[] = {"GET", "GET", "GET", "POST", "PUT", "DELETE"};
static const char *const paths[] = {"/api/v1/users", "/api/v1/orders", "/healthz",
                                    "/api/v2/search", "/static/app.js", "/api/v1/cart/items"};
static const char *const loggers[] = {"http.server", "db.pool", "cache", "auth.jwt", "worker"};
static const char *const msgs[] = {
    "request completed",
    "slow query \\\"SELECT * FROM orders\\\" took longer than expected",
    "cache miss for key user:1234",
    "token refreshed\\tfor session",
    "connection reset by peer\\nretrying",
    "caf\\u00e9 order placed \\u2713",
    "upstream error: timeout after 30s",
};

static void add_line(struct corpus *c, size_t start)
{
    if (c->n + 2 > c->cap) {
        c->cap = c->cap ? c->cap * 2 : 4096;
        c->off = noa_xrealloc(c->off, c->cap * sizeof(*c->off));
    }
    c->off[c->n++] = start;
}

static void gen_json(struct noa_buf *b, int error)
{
    unsigned status = error ? 500 + rnd(4) : (rnd(10) ? 200 : 404);
    noa_buf_printf(b,
                   "{\"ts\":\"2026-11-27T12:%02u:%02u.%06uZ\",\"level\":\"%s\",\"logger\":\"%s\","
                   "\"msg\":\"%s\",\"caller\":\"server/handler.go:%u\"",
                   rnd(60), rnd(60), rnd(1000000), error ? "error" : PICK(levels), PICK(loggers),
                   error ? "upstream error: timeout after 30s" : PICK(msgs), 10 + rnd(900));
    if (rnd(4)) {
        noa_buf_printf(b,
                       ",\"http\":{\"method\":\"%s\",\"path\":\"%s/%u\",\"status\":%u,"
                       "\"duration_ms\":%u.%u,\"bytes\":%u",
                       PICK(methods), PICK(paths), rnd(100000), status, rnd(2000), rnd(10),
                       rnd(100000));
        if (rnd(2))
            noa_buf_printf(b,
                           ",\"headers\":{\"user-agent\":\"curl/8.%u\",\"x-request-id\":\"%08x\"}",
                           rnd(10), rnd(0x7fffffff));
        noa_buf_putc(b, '}');
    }
    if (rnd(3) == 0)
        noa_buf_printf(b, ",\"tags\":[\"%s\",\"v%u\",{\"k\":%u}]", PICK(loggers), rnd(9), rnd(50));
    if (rnd(2))
        noa_buf_printf(b, ",\"user\":{\"id\":%u,\"admin\":%s,\"email\":null}", rnd(1000000),
                       rnd(5) ? "false" : "true");
    noa_buf_printf(b, ",\"trace_id\":\"%08x%08x\",\"attempt\":%u}", rnd(0x7fffffff),
                   rnd(0x7fffffff), rnd(5));
}

static void gen_logfmt(struct noa_buf *b, int error)
{
    unsigned status = error ? 500 + rnd(4) : (rnd(10) ? 200 : 404);
    noa_buf_printf(b,
                   "ts=2026-11-27T12:%02u:%02u.%06uZ level=%s logger=%s caller=server/handler.go:%u"
                   " msg=\"%s\" method=%s path=%s/%u status=%u duration=%u.%ums bytes=%u",
                   rnd(60), rnd(60), rnd(1000000), error ? "error" : PICK(levels), PICK(loggers),
                   10 + rnd(900), error ? "upstream error: timeout after 30s" : PICK(msgs),
                   PICK(methods), PICK(paths), rnd(100000), status, rnd(2000), rnd(10),
                   rnd(100000));
    if (rnd(2))
        noa_buf_printf(b, " user_id=%u admin=%s", rnd(1000000), rnd(5) ? "false" : "true");
    noa_buf_printf(b, " trace_id=%08x%08x attempt=%u", rnd(0x7fffffff), rnd(0x7fffffff), rnd(5));
}

static void generate(struct corpus *c, size_t bytes, int json)
{
    while (c->text.len < bytes) {
        size_t start = c->text.len;
        int error = rnd(100) < 5;
        if (json)
            gen_json(&c->text, error);
        else
            gen_logfmt(&c->text, error);
        add_line(c, start);
    }
    c->off[c->n] = c->text.len;
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* FNV-1a over the kept lines' sorted label sets and lines. */
static uint64_t digest(uint64_t h, const struct noa_labels *ls, struct noa_str line)
{
    for (uint32_t i = 0; i < ls->n; i++) {
        const struct noa_str parts[2] = {ls->v[i].name, ls->v[i].value};
        for (int k = 0; k < 2; k++) {
            for (size_t j = 0; j < parts[k].len; j++)
                h = (h ^ (unsigned char)parts[k].p[j]) * 0x100000001b3ull;
            h = (h ^ 0xff) * 0x100000001b3ull;
        }
    }
    for (size_t j = 0; j < line.len; j++)
        h = (h ^ (unsigned char)line.p[j]) * 0x100000001b3ull;
    return h;
}

struct bench_opts {
    int check;  /* also digest the kept lines' labels (untimed) */
    int repeat; /* runs over the corpus */
    int labels; /* the timed loop also builds each kept line's sorted label set */
};

static int bench_query(const char *q, const struct corpus *c, const struct noa_labels *stream,
                       const struct bench_opts *o)
{
    struct noa_logql_expr *e = NULL;
    struct noa_pipeline *p = NULL;
    struct noa_error err = {0};
    struct noa_pipeline_state st;
    int rc = noa_logql_parse(q, strlen(q), &e, &err);
    noa_pipeline_state_init(&st);
    if (rc || !noa_logql_is_log(e)) {
        fprintf(stderr, "%s: %s\n", q, rc ? err.msg : "not a log query");
        goto fail;
    }
    rc = noa_pipeline_new(e, &p, &err);
    if (rc) {
        fprintf(stderr, "%s: %s\n", q, err.msg);
        goto fail;
    }
    noa_lbuilder_reset_stream(&st.lb, stream);
    size_t kept = 0;
    struct noa_str out;
    double t0 = cpu_seconds();
    for (int r = 0; r < o->repeat; r++) {
        kept = 0;
        for (size_t i = 0; i < c->n; i++) {
            struct noa_str line = {c->text.data + c->off[i], c->off[i + 1] - c->off[i]};
            noa_lbuilder_reset(&st.lb);
            if (!noa_pipeline_run(p, &st, (int64_t)i, line, &out))
                continue;
            kept++;
            if (o->labels) {
                struct noa_labels ls;
                noa_lbuilder_labels(&st.lb, &ls);
            }
        }
    }
    double secs = (cpu_seconds() - t0) / o->repeat;
    printf("%-50s %7.1f MB/s %7.1f ns/line  kept %zu/%zu", q,
           (double)c->text.len / 1e6 / secs, secs * 1e9 / (double)c->n, kept, c->n);
    if (o->check) {
        /* Untimed: what the querier would output, digested. */
        uint64_t h = 0xcbf29ce484222325ull;
        for (size_t i = 0; i < c->n; i++) {
            struct noa_str line = {c->text.data + c->off[i], c->off[i + 1] - c->off[i]};
            noa_lbuilder_reset(&st.lb);
            if (!noa_pipeline_run(p, &st, (int64_t)i, line, &out))
                continue;
            struct noa_labels ls;
            noa_lbuilder_labels(&st.lb, &ls);
            h = digest(h, &ls, out);
        }
        printf("  digest %016llx", (unsigned long long)h);
    }
    printf("\n");
    rc = 0;
fail:
    noa_pipeline_state_fini(&st);
    noa_pipeline_free(p);
    noa_logql_free(e);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    static const char *const defaults[] = {
        "{app=\"api\"} | json | level=\"error\"",
        "{app=\"api\"} | json",
        "{app=\"api\"} | logfmt | level=\"error\"",
        "{app=\"api\"} | json level=\"level\" | level=\"error\"",
        "{app=\"api\"} |= \"error\" | json",
        /* the wanted key last: filter first has to scan the whole line */
        "{app=\"api\"} | json | attempt > 3",
        "{app=\"api\"} | logfmt | attempt > 3",
    };
    const char *queries[32];
    size_t nq = 0, mb = 256;
    struct bench_opts o = {.check = 0, .repeat = 1, .labels = 0};
    int failed = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mb") && i + 1 < argc) {
            mb = (size_t)strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--query") && i + 1 < argc && nq < 32) {
            queries[nq++] = argv[++i];
        } else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) {
            o.repeat = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--check")) {
            o.check = 1;
        } else if (!strcmp(argv[i], "--labels")) {
            o.labels = 1;
        } else {
            fprintf(stderr,
                    "usage: %s [--mb N (default 256)] [--query LOGQL]... [--repeat N] [--labels]"
                    " [--check]\n"
                    "  --repeat N  run each query N times over the corpus (for profiling)\n"
                    "  --labels    time building each kept line's sorted label set too\n"
                    "              (what the querier does with a kept line)\n"
                    "  --check     also print a digest of the kept lines' labels (untimed)\n",
                    argv[0]);
            return 2;
        }
    }
    if (!nq)
        for (; nq < sizeof(defaults) / sizeof(defaults[0]); nq++)
            queries[nq] = defaults[nq];
    if (mb == 0 || mb > 16384 || o.repeat < 1 || o.repeat > 1000) {
        fprintf(stderr, "--mb must be 1..16384 and --repeat 1..1000\n");
        return 2;
    }
    struct corpus json = {0}, logfmt = {0};
    generate(&json, mb << 20, 1);
    generate(&logfmt, mb << 20, 0);
    static const struct noa_label sl[] = {
        {{"app", 3}, {"api", 3}}, {{"env", 3}, {"prod", 4}}, {{"namespace", 9}, {"shop", 4}}};
    struct noa_labels stream = {(struct noa_label *)sl, 3};
    printf("pipeline benchmark: %zu MB of JSON (%zu lines), %zu MB of logfmt (%zu lines); "
           "one thread, CPU time\n",
           json.text.len >> 20, json.n, logfmt.text.len >> 20, logfmt.n);
    for (size_t i = 0; i < nq; i++) {
        const struct corpus *c = strstr(queries[i], "logfmt") ? &logfmt : &json;
        failed |= bench_query(queries[i], c, &stream, &o);
    }
    noa_buf_fini(&json.text);
    noa_buf_fini(&logfmt.text);
    noa_free(json.off);
    noa_free(logfmt.off);
    return failed;
}
