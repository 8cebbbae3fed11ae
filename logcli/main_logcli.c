/*
 * noa-logcli: a drop-in for Loki's logcli. Parses the command line
 * (cli_flags), runs one command against the server's query API
 * (cli_http; cli_tail for `query --tail`) and prints as logcli prints
 * (cli_output, cli_query). Uses jansson directly for the small metadata
 * responses. Single-threaded; exits 0, or 1 after logcli's reason on
 * stderr.
 */
#include "common/err.h"
#include "common/humanize.h"
#include "common/logql.h"
#include "common/mem.h"
#include "logcli/cli_flags.h"
#include "logcli/cli_http.h"
#include "logcli/cli_output.h"
#include "logcli/cli_query.h"
#include "logcli/cli_tail.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Longest LogQL read by `fmt` from stdin. */
#define MAX_FMT_INPUT ((size_t)1 << 20)

struct ctx {
    struct noa_cli_flags *f;
    struct noa_cli_http *http;
    const char *query;
    int64_t step_ns, interval_ns;
    int forward;
    int progress; /* stderr is a terminal and not --quiet */
};

static void write_all(FILE *fp, const struct noa_buf *b)
{
    if (b->len)
        fwrite(b->data, 1, b->len, fp);
    fflush(fp);
}

static void fatal(const char *what, const char *msg)
{
    fprintf(stderr, "%s%s%s\n", noa_cli_http_logprefix(), what, msg);
    exit(1);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t must_time(const char *s, int64_t dflt)
{
    int64_t t;
    if (!s || !*s)
        return dflt;
    if (noa_cli_http_parse_time(s, &t) < 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "parsing time \"%s\" as \"2006-01-02T15:04:05.999999999Z07:00\"", s);
        fatal("Unable to parse time ", msg);
    }
    return t;
}

/* --since / --from / --to, as logcli's newQuery action computes them. */
static void range(const struct noa_cli_flags *f, int64_t *start, int64_t *end)
{
    int64_t now = now_ns();
    *end = must_time(f->to, now);
    *start = must_time(f->from, now - f->since_ns);
}

static void i64(char *buf, size_t n, int64_t v)
{
    snprintf(buf, n, "%lld", (long long)v);
}

static void print_stats(const char *body, size_t len)
{
    struct noa_buf b = {0};
    noa_cli_query_print_stats(body, len, &b);
    write_all(stderr, &b);
    noa_buf_fini(&b);
}

static int fetch_cb(void *arg, int64_t limit, int64_t start, int64_t end, struct noa_buf *body)
{
    struct ctx *c = arg;
    char lim[32], st[32], en[32];
    struct noa_buf step = {0}, iv = {0};
    struct noa_cli_http_param p[7] = {
        {"direction", c->forward ? "FORWARD" : "BACKWARD"},
        {"end", en},
        {"limit", lim},
        {"query", c->query},
        {"start", st},
    };
    size_t n = 5;
    i64(lim, sizeof(lim), limit);
    i64(st, sizeof(st), start);
    i64(en, sizeof(en), end);
    if (c->step_ns) {
        noa_cli_http_seconds(&step, c->step_ns);
        p[n++] = (struct noa_cli_http_param){"step", noa_buf_cstr(&step)};
    }
    if (c->interval_ns) {
        noa_cli_http_seconds(&iv, c->interval_ns);
        p[n++] = (struct noa_cli_http_param){"interval", noa_buf_cstr(&iv)};
    }
    int rc = noa_cli_http_get(c->http, "/loki/api/v1/query_range", p, n, body);
    if (rc == 0 && c->f->stats)
        print_stats(body->data, body->len);
    noa_buf_fini(&step);
    noa_buf_fini(&iv);
    return rc;
}

static void emit_cb(void *arg, struct noa_buf *out, struct noa_buf *meta, uint64_t total)
{
    struct ctx *c = arg;
    if (c->progress)
        fputs("\r\x1b[K", stderr);
    write_all(stderr, meta);
    write_all(stdout, out);
    if (c->progress)
        fprintf(stderr, "\rfetched %llu entries", (unsigned long long)total);
}

static const char *prefix_cb(void *arg)
{
    (void)arg;
    return noa_cli_http_logprefix();
}

static struct noa_cli_query_opts query_opts(const struct noa_cli_flags *f)
{
    return (struct noa_cli_query_opts){
        .out = {.mode = f->output, .tsfmt = f->tsfmt, .utc = f->utc, .no_labels = f->no_labels,
                .colored = f->colored, .tty = isatty(1) && !getenv("NO_COLOR")},
        .forward = f->forward,
        .quiet = f->quiet,
        .include_common_labels = f->include_common_labels,
        .exclude = f->exclude.v,
        .n_exclude = f->exclude.n,
        .include = f->include.v,
        .n_include = f->include.n,
        .labels_length = f->labels_length > 0 ? (size_t)f->labels_length : 0,
    };
}

static int cmd_query(struct ctx *c)
{
    struct noa_cli_flags *f = c->f;
    struct noa_cli_query_opts o = query_opts(f);
    struct noa_buf err = {0};
    int64_t start, end;
    range(f, &start, &end);
    if (f->tail) {
        size_t nh;
        const char *const *hdrs = noa_cli_http_headers(c->http, &nh);
        struct noa_cli_tail_opts t = {
            .query = &o,
            .addr = f->addr,
            .logql = c->query,
            .start_ns = start,
            .limit = f->limit,
            .delay_for_s = f->delay_for,
            .headers = hdrs,
            .n_headers = nh,
            .quiet = f->quiet,
            .prefix_cb = noa_cli_http_logprefix,
        };
        if (noa_cli_tail_run(&t, &err) < 0)
            fatal("Tailing logs failed: ", noa_buf_cstr(&err));
        noa_buf_fini(&err);
        return 0;
    }
    c->progress = isatty(2) && !f->quiet;
    struct noa_cli_query_pager p = {
        .limit = f->limit,
        .batch = f->batch,
        .start_ns = start,
        .end_ns = end,
        .fetch_cb = fetch_cb,
        .emit_cb = emit_cb,
        .prefix_cb = prefix_cb,
        .ctx = c,
    };
    int rc = noa_cli_query_run(&o, &p, &err);
    if (c->progress)
        fputs("\r\x1b[K", stderr);
    if (rc < 0)
        fatal("Query failed: ", err.len ? noa_buf_cstr(&err)
                                        : "run out of attempts while querying the server");
    noa_buf_fini(&err);
    return 0;
}

static int cmd_instant(struct ctx *c)
{
    struct noa_cli_flags *f = c->f;
    struct noa_cli_query_opts o = query_opts(f);
    struct noa_buf body = {0}, out = {0}, meta = {0}, err = {0};
    struct noa_cli_query_result r = {0};
    struct noa_cli_query_last last = {0};
    char lim[32], t[32];
    i64(lim, sizeof(lim), f->limit);
    i64(t, sizeof(t), must_time(f->now, now_ns()));
    struct noa_cli_http_param p[] = {
        {"direction", f->forward ? "FORWARD" : "BACKWARD"},
        {"limit", lim},
        {"query", c->query},
        {"time", t},
    };
    if (noa_cli_http_get(c->http, "/loki/api/v1/query", p, 4, &body) < 0)
        fatal("Query failed: ", "run out of attempts while querying the server");
    if (f->stats)
        print_stats(body.data, body.len);
    if (noa_cli_query_parse(body.data ? body.data : "", body.len, &r, &err) < 0)
        fatal("Query failed: ", noa_buf_cstr(&err));
    if (r.kind == NOA_CLI_QUERY_STREAMS)
        noa_cli_query_print_streams(&o, &r, &last, noa_cli_http_logprefix(), &out, &meta);
    else if (noa_cli_output_indent(&out, r.result_json, strlen(r.result_json)) < 0)
        fatal("Query failed: ", "undecodable result");
    write_all(stderr, &meta);
    write_all(stdout, &out);
    noa_cli_query_result_fini(&r);
    noa_cli_query_last_fini(&last);
    noa_buf_fini(&body);
    noa_buf_fini(&out);
    noa_buf_fini(&meta);
    noa_buf_fini(&err);
    return 0;
}

/* GETs path with the command's time range (and extra params) and decodes
 * the JSON body; exits on failure. Caller json_decref()s. */
static json_t *get_json(struct ctx *c, const char *path, struct noa_cli_http_param *extra,
                        size_t n_extra, struct noa_buf *body)
{
    char st[32], en[32];
    int64_t start, end;
    struct noa_cli_http_param p[12];
    size_t n = 0;
    range(c->f, &start, &end);
    i64(st, sizeof(st), start);
    i64(en, sizeof(en), end);
    p[n++] = (struct noa_cli_http_param){"start", st};
    p[n++] = (struct noa_cli_http_param){"end", en};
    for (size_t i = 0; i < n_extra && n < 12; i++)
        p[n++] = extra[i];
    if (noa_cli_http_get(c->http, path, p, n, body) < 0)
        fatal("Error doing request: ", "run out of attempts while querying the server");
    json_error_t jerr;
    json_t *root = json_loadb(body->data ? body->data : "", body->len, 0, &jerr);
    if (!root)
        fatal("Error doing request: error decoding response: ", jerr.text);
    return root;
}

static int cmd_labels(struct ctx *c)
{
    struct noa_buf path = {0}, body = {0};
    if (c->f->n_args) {
        noa_buf_printf(&path, "/loki/api/v1/label/");
        noa_cli_http_escape(&path, c->f->args[0]);
        noa_buf_printf(&path, "/values");
    } else {
        noa_buf_printf(&path, "/loki/api/v1/labels");
    }
    json_t *root = get_json(c, noa_buf_cstr(&path), NULL, 0, &body);
    json_t *data = json_object_get(root, "data"), *v;
    size_t i;
    json_array_foreach(data, i, v) {
        if (json_is_string(v))
            printf("%s\n", json_string_value(v));
    }
    json_decref(root);
    noa_buf_fini(&path);
    noa_buf_fini(&body);
    return 0;
}

static int cmd_series(struct ctx *c)
{
    struct noa_buf body = {0}, out = {0}, err = {0};
    struct noa_cli_query_result r = {0};
    struct noa_cli_http_param p[] = {{"match", c->query}};
    json_t *root = get_json(c, "/loki/api/v1/series", p, 1, &body);
    json_decref(root);
    if (noa_cli_query_parse_series(body.data, body.len, &r, &err) < 0)
        fatal("Error doing request: ", noa_buf_cstr(&err));
    if (c->f->analyze_labels) {
        noa_cli_query_analyze_labels(&r, &out);
    } else {
        for (size_t i = 0; i < r.n_streams; i++) {
            noa_cli_output_labels(&out, &r.streams[i]);
            noa_buf_putc(&out, '\n');
        }
    }
    write_all(stdout, &out);
    noa_cli_query_result_fini(&r);
    noa_buf_fini(&out);
    noa_buf_fini(&body);
    noa_buf_fini(&err);
    return 0;
}

static int cmd_stats(struct ctx *c)
{
    struct noa_buf body = {0}, out = {0};
    struct noa_cli_http_param p[] = {{"query", c->query}};
    json_t *root = get_json(c, "/loki/api/v1/index/stats", p, 1, &body);
    json_int_t bytes = json_integer_value(json_object_get(root, "bytes"));
    noa_buf_printf(&out, "{\n  bytes: ");
    noa_humanize_bytes((uint64_t)bytes, 0, &out);
    noa_buf_printf(&out, "\n  chunks: %lld\n  streams: %lld\n  entries: %lld\n}\n",
                   (long long)json_integer_value(json_object_get(root, "chunks")),
                   (long long)json_integer_value(json_object_get(root, "streams")),
                   (long long)json_integer_value(json_object_get(root, "entries")));
    write_all(stdout, &out);
    json_decref(root);
    noa_buf_fini(&out);
    noa_buf_fini(&body);
    return 0;
}

static int cmd_volume(struct ctx *c, int ranged)
{
    struct noa_cli_flags *f = c->f;
    struct noa_buf body = {0}, out = {0}, targets = {0}, step = {0}, err = {0};
    struct noa_cli_query_result r = {0};
    char lim[32];
    struct noa_cli_http_param p[5];
    size_t n = 0;
    i64(lim, sizeof(lim), f->limit);
    p[n++] = (struct noa_cli_http_param){"query", c->query};
    p[n++] = (struct noa_cli_http_param){"limit", lim};
    if (f->aggregate_by_labels)
        p[n++] = (struct noa_cli_http_param){"aggregateBy", "labels"};
    if (f->target_labels.n) {
        for (size_t i = 0; i < f->target_labels.n; i++)
            noa_buf_printf(&targets, "%s%s", i ? "," : "", f->target_labels.v[i]);
        p[n++] = (struct noa_cli_http_param){"targetLabels", noa_buf_cstr(&targets)};
    }
    if (ranged) {
        noa_buf_printf(&step, "%lld", (long long)(f->step_ns / 1000000000LL));
        p[n++] = (struct noa_cli_http_param){"step", noa_buf_cstr(&step)};
    }
    json_t *root = get_json(c, ranged ? "/loki/api/v1/index/volume_range" : "/loki/api/v1/index/volume",
                            p, n, &body);
    json_decref(root);
    if (noa_cli_query_parse(body.data, body.len, &r, &err) < 0 || r.kind == NOA_CLI_QUERY_STREAMS ||
        noa_cli_output_indent(&out, r.result_json, strlen(r.result_json)) < 0)
        fatal("Error doing request: ", err.len ? noa_buf_cstr(&err) : "unexpected response");
    write_all(stdout, &out);
    noa_cli_query_result_fini(&r);
    noa_buf_fini(&body);
    noa_buf_fini(&out);
    noa_buf_fini(&targets);
    noa_buf_fini(&step);
    noa_buf_fini(&err);
    return 0;
}

static int cmp_field(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "label"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "label"));
    return strcmp(x ? x : "", y ? y : "");
}

static int cmd_detected_fields(struct ctx *c)
{
    struct noa_cli_flags *f = c->f;
    struct noa_buf body = {0}, out = {0}, path = {0}, step = {0};
    char lim[32], ll[32];
    i64(lim, sizeof(lim), f->limit);
    i64(ll, sizeof(ll), f->line_limit);
    noa_cli_http_go_duration(&step, f->step_ns);
    struct noa_cli_http_param p[] = {
        {"query", c->query}, {"limit", lim}, {"line_limit", ll}, {"step", noa_buf_cstr(&step)}};
    if (f->n_args > 1) {
        noa_buf_printf(&path, "/loki/api/v1/detected_field/");
        noa_cli_http_escape(&path, f->args[1]);
        noa_buf_printf(&path, "/values");
    } else {
        noa_buf_printf(&path, "/loki/api/v1/detected_fields");
    }
    json_t *root = get_json(c, noa_buf_cstr(&path), p, 4, &body);
    if (f->output == NOA_CLI_OUTPUT_RAW) {
        write_all(stdout, &body);
    } else if (f->n_args > 1) {
        json_t *v;
        size_t i;
        json_array_foreach(json_object_get(root, "values"), i, v) {
            if (json_is_string(v))
                noa_buf_printf(&out, "%s\n", json_string_value(v));
        }
    } else {
        json_t *fields = json_object_get(root, "fields");
        size_t n = json_array_size(fields);
        json_t **sorted = noa_xcalloc(n + 1, sizeof(*sorted));
        for (size_t i = 0; i < n; i++)
            sorted[i] = json_array_get(fields, i);
        qsort(sorted, n, sizeof(*sorted), cmp_field);
        for (size_t i = 0; i < n; i++) {
            const char *l = json_string_value(json_object_get(sorted[i], "label"));
            const char *t = json_string_value(json_object_get(sorted[i], "type"));
            noa_buf_printf(&out, "label: %s\t\ttype: %s\t\tcardinality: %lld\n", l ? l : "",
                           t ? t : "",
                           (long long)json_integer_value(json_object_get(sorted[i], "cardinality")));
        }
        noa_free(sorted);
    }
    write_all(stdout, &out);
    json_decref(root);
    noa_buf_fini(&body);
    noa_buf_fini(&out);
    noa_buf_fini(&path);
    noa_buf_fini(&step);
    return 0;
}

static int cmd_fmt(void)
{
    struct noa_buf in = {0}, out = {0};
    struct noa_logql_expr *e = NULL;
    struct noa_error err = {0};
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), stdin)) > 0) {
        if (in.len + n > MAX_FMT_INPUT)
            fatal("", "failed to parse the query: input too long");
        noa_buf_append(&in, tmp, n);
    }
    if (noa_logql_parse(in.data ? in.data : "", in.len, &e, &err) < 0)
        fatal("failed to parse the query: ", err.msg);
    noa_logql_pretty(e, &out); /* logcli fmt prints syntax.Prettify() */
    noa_buf_putc(&out, '\n');
    write_all(stdout, &out);
    noa_logql_free(e);
    noa_buf_fini(&in);
    noa_buf_fini(&out);
    return 0;
}

static const char *env_cb(const char *name)
{
    return getenv(name);
}

int main(int argc, char **argv)
{
    struct noa_cli_flags f;
    struct noa_buf err = {0}, help = {0};
    struct ctx c = {.f = &f};
    int rc;

    if (noa_cli_flags_parse(argc, argv, env_cb, &f, &err) < 0) {
        fprintf(stderr, "logcli: error: %s, try --help\n", noa_buf_cstr(&err));
        noa_buf_fini(&err);
        noa_cli_flags_fini(&f);
        return 1;
    }
    if (f.help) {
        noa_cli_flags_help(f.cmd, &help);
        write_all(stdout, &help);
        noa_buf_fini(&help);
        noa_cli_flags_fini(&f);
        return 0;
    }
    if (f.version) {
        printf("logcli, version noa (noa-logcli)\n");
        noa_cli_flags_fini(&f);
        return 0;
    }
    if (f.cmd == NOA_CLI_CMD_FMT) {
        noa_cli_flags_fini(&f);
        return cmd_fmt();
    }
    c.query = f.n_args ? f.args[0] : "";
    c.step_ns = f.step_ns;
    c.interval_ns = f.interval_ns;
    c.forward = f.forward;
    if ((rc = noa_cli_http_new(&f, &c.http, &err)) < 0)
        fatal("", noa_buf_cstr(&err));
    switch (f.cmd) {
    case NOA_CLI_CMD_QUERY: rc = cmd_query(&c); break;
    case NOA_CLI_CMD_INSTANT: rc = cmd_instant(&c); break;
    case NOA_CLI_CMD_LABELS: rc = cmd_labels(&c); break;
    case NOA_CLI_CMD_SERIES: rc = cmd_series(&c); break;
    case NOA_CLI_CMD_STATS: rc = cmd_stats(&c); break;
    case NOA_CLI_CMD_VOLUME: rc = cmd_volume(&c, 0); break;
    case NOA_CLI_CMD_VOLUME_RANGE: rc = cmd_volume(&c, 1); break;
    case NOA_CLI_CMD_DETECTED_FIELDS: rc = cmd_detected_fields(&c); break;
    default: rc = 1; break;
    }
    noa_cli_http_free(c.http);
    noa_cli_flags_fini(&f);
    noa_buf_fini(&err);
    return rc ? 1 : 0;
}
