/*
 * noa-logcli's query printing and paging (see cli_query.h). Decodes Loki's
 * query responses with jansson (this file and cli_cmds.c are logcli's only
 * users of it). Main thread only.
 */
#include "logcli/cli_query.h"

#include "common/err.h"
#include "common/humanize.h"
#include "logcli/cli_http.h"
#include "common/mem.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Upper bound on entries in one response: logcli never asks for more than
 * --batch (plus the overlap), and the server caps limit at 5000 by default. */
#define MAX_ENTRIES ((size_t)50 * 1000 * 1000)

static int parse_ts(const char *s, int64_t *out)
{
    char *end;
    if (!s || !*s)
        return NOA_EINVAL;
    long long v = strtoll(s, &end, 10);
    if (*end)
        return NOA_EINVAL;
    *out = (int64_t)v;
    return 0;
}

static const char *lookup(const struct noa_cli_labels *ls, const char *name)
{
    for (size_t i = 0; i < ls->n; i++)
        if (!strcmp(ls->names[i], name))
            return ls->values[i];
    return NULL;
}

static int cmp_name(const void *a, const void *b, void *names)
{
    const char **n = names;
    return strcmp(n[*(const size_t *)a], n[*(const size_t *)b]);
}

/* Fills ls from a JSON object of strings, sorted by name. */
static int parse_labels(json_t *obj, struct noa_cli_labels *ls)
{
    size_t n = json_object_size(obj), i = 0;
    const char **names = noa_xcalloc(n + 1, sizeof(*names));
    const char **values = noa_xcalloc(n + 1, sizeof(*values));
    size_t *idx = noa_xcalloc(n + 1, sizeof(*idx));
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach(obj, k, v) {
        if (!json_is_string(v)) {
            rc = NOA_EINVAL;
            break;
        }
        names[i] = k;
        values[i] = json_string_value(v);
        idx[i] = i;
        i++;
    }
    qsort_r(idx, i, sizeof(*idx), cmp_name, names);
    ls->names = noa_xcalloc(n + 1, sizeof(*names));
    ls->values = noa_xcalloc(n + 1, sizeof(*values));
    for (size_t j = 0; j < i; j++) {
        ls->names[j] = names[idx[j]];
        ls->values[j] = values[idx[j]];
    }
    ls->n = i;
    noa_free(names);
    noa_free(values);
    noa_free(idx);
    return rc;
}

/* Fills out's streams and entries from a JSON array of
 * {"stream":{...},"values":[[ts,line],...]}. */
static int parse_streams(json_t *result, struct noa_cli_query_result *out, struct noa_buf *err)
{
    out->kind = NOA_CLI_QUERY_STREAMS;
    size_t ns = json_array_size(result), total = 0;
    for (size_t i = 0; i < ns; i++)
        total += json_array_size(json_object_get(json_array_get(result, i), "values"));
    if (total > MAX_ENTRIES) {
        noa_buf_printf(err, "error decoding response: %zu entries", total);
        return NOA_EINVAL;
    }
    out->streams = noa_xcalloc(ns + 1, sizeof(*out->streams));
    out->entries = noa_xcalloc(total + 1, sizeof(*out->entries));
    for (size_t i = 0; i < ns; i++) {
        json_t *s = json_array_get(result, i);
        json_t *values = json_object_get(s, "values");
        out->n_streams = i + 1;
        if (parse_labels(json_object_get(s, "stream"), &out->streams[i]) < 0 ||
            !json_is_array(values))
            goto bad;
        for (size_t j = 0; j < json_array_size(values); j++) {
            json_t *v = json_array_get(values, j);
            json_t *line = json_array_get(v, 1);
            struct noa_cli_query_entry *e = &out->entries[out->n_entries];
            if (!json_is_string(line) ||
                parse_ts(json_string_value(json_array_get(v, 0)), &e->ts_ns) < 0)
                goto bad;
            e->line = json_string_value(line);
            e->line_len = json_string_length(line);
            e->stream = i;
            out->n_entries++;
        }
    }
    return 0;
bad:
    noa_buf_printf(err, "error decoding response: malformed stream");
    return NOA_EINVAL;
}

int noa_cli_query_parse(const char *body, size_t len, struct noa_cli_query_result *out,
                        struct noa_buf *err)
{
    json_error_t jerr;
    memset(out, 0, sizeof(*out));
    json_t *root = json_loadb(body, len, 0, &jerr);
    out->priv = root;
    if (!root) {
        noa_buf_printf(err, "error decoding response: %s", jerr.text);
        return NOA_EINVAL;
    }
    json_t *data = json_object_get(root, "data");
    const char *type = json_string_value(json_object_get(data, "resultType"));
    json_t *result = json_object_get(data, "result");
    if (!type || !result) {
        noa_buf_printf(err, "error decoding response: no data.resultType or data.result");
        return NOA_EINVAL;
    }
    if (strcmp(type, "streams") != 0) {
        if (!strcmp(type, "matrix"))
            out->kind = NOA_CLI_QUERY_MATRIX;
        else if (!strcmp(type, "vector"))
            out->kind = NOA_CLI_QUERY_VECTOR;
        else if (!strcmp(type, "scalar"))
            out->kind = NOA_CLI_QUERY_SCALAR;
        else {
            noa_buf_printf(err, "Unable to print unsupported type: %s", type);
            return NOA_EINVAL;
        }
        /* 13 significant digits keep sample times (s.mmm) exact. */
        out->result_json = json_dumps(result, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                                  JSON_ENCODE_ANY | JSON_REAL_PRECISION(13));
        return out->result_json ? 0 : NOA_ENOMEM;
    }
    return parse_streams(result, out, err);
}

int noa_cli_query_parse_tail(const char *msg, size_t len, struct noa_cli_query_result *out,
                             struct noa_buf *err)
{
    json_error_t jerr;
    memset(out, 0, sizeof(*out));
    json_t *root = json_loadb(msg, len, 0, &jerr);
    out->priv = root;
    if (!root) {
        noa_buf_printf(err, "error decoding tail message: %s", jerr.text);
        return NOA_EINVAL;
    }
    json_t *streams = json_object_get(root, "streams");
    if (streams && !json_is_array(streams)) {
        noa_buf_printf(err, "error decoding tail message: streams is not a list");
        return NOA_EINVAL;
    }
    json_t *dropped = json_object_get(root, "dropped_entries"), *d;
    size_t i;
    out->n_dropped = json_array_size(dropped);
    if (out->n_dropped) {
        out->dropped = noa_xcalloc(out->n_dropped, sizeof(*out->dropped));
        out->owned = noa_xcalloc(out->n_dropped, sizeof(*out->owned));
        json_array_foreach(dropped, i, d) {
            json_t *lv = json_object_get(d, "labels");
            out->dropped[i].labels = json_string_value(lv);
            struct noa_cli_labels ls = {0};
            if (json_is_object(lv) && parse_labels(lv, &ls) == 0) {
                /* Loki's DroppedEntry carries a label set: print it as
                 * logcli does, {a="b"}. */
                struct noa_buf b = {0};
                noa_cli_output_labels(&b, &ls);
                noa_buf_cstr(&b);
                out->owned[i] = noa_buf_steal(&b, NULL);
                out->dropped[i].labels = out->owned[i];
            }
            noa_free(ls.names);
            noa_free(ls.values);
            if (parse_ts(json_string_value(json_object_get(d, "timestamp")), &out->dropped[i].ts_ns) < 0)
                out->dropped[i].ts_ns = 0;
        }
    }
    out->kind = NOA_CLI_QUERY_STREAMS;
    if (!streams)
        return 0;
    return parse_streams(streams, out, err);
}

int noa_cli_query_parse_series(const char *body, size_t len, struct noa_cli_query_result *out,
                               struct noa_buf *err)
{
    json_error_t jerr;
    memset(out, 0, sizeof(*out));
    json_t *root = json_loadb(body, len, 0, &jerr);
    out->priv = root;
    if (!root) {
        noa_buf_printf(err, "error decoding response: %s", jerr.text);
        return NOA_EINVAL;
    }
    /* Loki omits "data" when it is empty; that is no series. */
    json_t *data = json_object_get(root, "data");
    size_t n = json_array_size(data);
    out->kind = NOA_CLI_QUERY_STREAMS;
    out->streams = noa_xcalloc(n + 1, sizeof(*out->streams));
    for (size_t i = 0; i < n; i++) {
        out->n_streams = i + 1;
        if (parse_labels(json_array_get(data, i), &out->streams[i]) < 0) {
            noa_buf_printf(err, "error decoding response: malformed label set");
            return NOA_EINVAL;
        }
    }
    return 0;
}

struct label_stat {
    const char *name;
    size_t unique; /* distinct values */
    size_t in_streams;
};

static int cmp_stat(const void *a, const void *b)
{
    const struct label_stat *x = a, *y = b;
    if (x->unique != y->unique)
        return x->unique > y->unique ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void noa_cli_query_analyze_labels(const struct noa_cli_query_result *r, struct noa_buf *out)
{
    size_t total = 0;
    for (size_t s = 0; s < r->n_streams; s++)
        total += r->streams[s].n;
    struct label_stat *st = noa_xcalloc(total + 1, sizeof(*st));
    const char **vals = noa_xcalloc(r->n_streams + 1, sizeof(*vals));
    size_t n = 0;
    for (size_t s = 0; s < r->n_streams; s++) {
        for (size_t i = 0; i < r->streams[s].n; i++) {
            const char *name = r->streams[s].names[i];
            size_t k = 0;
            while (k < n && strcmp(st[k].name, name))
                k++;
            if (k < n)
                continue;
            /* First sight of this name: count its streams and values. */
            size_t nv = 0;
            st[n].name = name;
            for (size_t t = s; t < r->n_streams; t++) {
                const char *v = lookup(&r->streams[t], name);
                if (v)
                    vals[nv++] = v;
            }
            st[n].in_streams = nv;
            qsort(vals, nv, sizeof(*vals), cmp_cstr);
            for (size_t j = 0; j < nv; j++)
                st[n].unique += j == 0 || strcmp(vals[j], vals[j - 1]) != 0;
            n++;
        }
    }
    qsort(st, n, sizeof(*st), cmp_stat);
    noa_buf_printf(out, "Total Streams:  %zu\nUnique Labels:  %zu\n\n", r->n_streams, n);
    /* tabwriter.NewWriter(out, 0, 0, 1, ' ', 0): every cell ends in a tab,
     * so each column is padded to its widest cell plus one space. */
    size_t w1 = strlen("Label Name"), w2 = strlen("Unique Values"), w3 = strlen("Found In Streams");
    char num[32];
    for (size_t k = 0; k < n; k++) {
        w1 = strlen(st[k].name) > w1 ? strlen(st[k].name) : w1;
        w2 = (size_t)snprintf(num, sizeof(num), "%zu", st[k].unique) > w2 ? strlen(num) : w2;
        w3 = (size_t)snprintf(num, sizeof(num), "%zu", st[k].in_streams) > w3 ? strlen(num) : w3;
    }
    noa_buf_printf(out, "%-*s%-*s%-*s\n", (int)w1 + 1, "Label Name", (int)w2 + 1, "Unique Values",
                   (int)w3 + 1, "Found In Streams");
    for (size_t k = 0; k < n; k++) {
        char u[32], f[32];
        snprintf(u, sizeof(u), "%zu", st[k].unique);
        snprintf(f, sizeof(f), "%zu", st[k].in_streams);
        noa_buf_printf(out, "%-*s%-*s%-*s\n", (int)w1 + 1, st[k].name, (int)w2 + 1, u, (int)w3 + 1, f);
    }
    noa_free(st);
    noa_free(vals);
}

void noa_cli_query_result_fini(struct noa_cli_query_result *r)
{
    for (size_t i = 0; i < r->n_streams; i++) {
        noa_free(r->streams[i].names);
        noa_free(r->streams[i].values);
    }
    noa_free(r->streams);
    noa_free(r->entries);
    for (size_t i = 0; r->owned && i < r->n_dropped; i++)
        noa_free(r->owned[i]);
    noa_free(r->owned);
    noa_free(r->dropped);
    free(r->result_json); /* jansson's allocation */
    if (r->priv)
        json_decref(r->priv);
    memset(r, 0, sizeof(*r));
}

void noa_cli_query_last_fini(struct noa_cli_query_last *l)
{
    for (size_t i = 0; i < l->n; i++)
        noa_free(l->keys[i]);
    noa_free(l->keys);
    noa_free(l->key_lens);
    memset(l, 0, sizeof(*l));
}

static int in_list(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(name, list[i]))
            return 1;
    return 0;
}

/* Labels shared (same value) by every stream, loghttp's commonLabels. */
static void common_labels(const struct noa_cli_query_result *r, struct noa_cli_labels *c)
{
    c->n = 0;
    if (r->n_streams == 0)
        return;
    const struct noa_cli_labels *first = &r->streams[0];
    for (size_t i = 0; i < first->n; i++) {
        size_t s = 1;
        for (; s < r->n_streams; s++) {
            const char *v = lookup(&r->streams[s], first->names[i]);
            if (!v || strcmp(v, first->values[i]))
                break;
        }
        if (s == r->n_streams) {
            c->names[c->n] = first->names[i];
            c->values[c->n] = first->values[i];
            c->n++;
        }
    }
}

struct sort_ctx {
    const struct noa_cli_query_entry *e;
    int forward;
};

static int cmp_entry(const void *a, const void *b, void *arg)
{
    const struct sort_ctx *s = arg;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int64_t ti = s->e[i].ts_ns, tj = s->e[j].ts_ns;
    if (ti != tj)
        return (ti < tj) == (s->forward != 0) ? -1 : 1;
    return i < j ? -1 : i > j; /* stable: equal times keep response order */
}

/* The identity of an entry for overlap detection: original labels + line. */
static void entry_key(struct noa_buf *b, const struct noa_cli_query_result *r,
                      const struct noa_cli_query_entry *e)
{
    b->len = 0;
    noa_cli_output_labels(b, &r->streams[e->stream]);
    noa_buf_putc(b, '\0');
    noa_buf_append(b, e->line, e->line_len);
}

/* logcli prints the values with color.RedString: red on a terminal. */
static void print_meta(struct noa_buf *meta, const char *prefix, const char *what,
                       const char *const *names, size_t n, int tty)
{
    noa_buf_printf(meta, "%s%s %s", prefix, what, tty ? "\x1b[31m" : "");
    for (size_t i = 0; i < n; i++)
        noa_buf_printf(meta, "%s%s", i ? "," : "", names[i]);
    noa_buf_printf(meta, "%s\n", tty ? "\x1b[0m" : "");
}

size_t noa_cli_query_print_streams(const struct noa_cli_query_opts *o,
                                   const struct noa_cli_query_result *r,
                                   struct noa_cli_query_last *last, const char *log_prefix,
                                   struct noa_buf *out, struct noa_buf *meta)
{
    size_t maxn = 0, printed = 0;
    for (size_t i = 0; i < r->n_streams; i++)
        maxn = r->streams[i].n > maxn ? r->streams[i].n : maxn;
    struct noa_cli_labels common = {noa_xcalloc(maxn + 1, sizeof(char *)),
                                    noa_xcalloc(maxn + 1, sizeof(char *)), 0};
    struct noa_cli_labels *shown = noa_xcalloc(r->n_streams + 1, sizeof(*shown));
    size_t *order = noa_xcalloc(r->n_entries + 1, sizeof(*order));
    struct noa_buf key = {0}, tmp = {0};
    struct noa_cli_query_last next = {0};

    common_labels(r, &common);
    if (o->n_include) {
        size_t k = 0;
        for (size_t i = 0; i < common.n; i++)
            if (!in_list(common.names[i], o->include, o->n_include)) {
                common.names[k] = common.names[i];
                common.values[k++] = common.values[i];
            }
        common.n = k;
    }
    if (!o->quiet) {
        if (common.n) {
            noa_buf_printf(meta, "%sCommon labels: %s", log_prefix, o->out.tty ? "\x1b[31m" : "");
            noa_cli_output_labels(meta, &common);
            noa_buf_printf(meta, "%s\n", o->out.tty ? "\x1b[0m" : "");
        }
        if (o->n_exclude)
            print_meta(meta, log_prefix, "Ignoring labels key:", o->exclude, o->n_exclude,
                       o->out.tty);
        if (o->n_include)
            print_meta(meta, log_prefix, "Print only labels key:", o->include, o->n_include,
                       o->out.tty);
    }

    size_t max_len = o->labels_length;
    for (size_t s = 0; s < r->n_streams; s++) {
        const struct noa_cli_labels *src = &r->streams[s];
        struct noa_cli_labels *ls = &shown[s];
        ls->names = noa_xcalloc(src->n + 1, sizeof(char *));
        ls->values = noa_xcalloc(src->n + 1, sizeof(char *));
        for (size_t i = 0; i < src->n; i++) {
            const char *n = src->names[i];
            const char *cv = lookup(&common, n);
            if (!o->include_common_labels && cv && !strcmp(cv, src->values[i]))
                continue;
            if (o->n_include && !in_list(n, o->include, o->n_include))
                continue;
            if (o->n_exclude && in_list(n, o->exclude, o->n_exclude))
                continue;
            ls->names[ls->n] = n;
            ls->values[ls->n++] = src->values[i];
        }
        tmp.len = 0;
        noa_cli_output_labels(&tmp, ls);
        if (tmp.len > max_len)
            max_len = tmp.len;
    }

    for (size_t i = 0; i < r->n_entries; i++)
        order[i] = i;
    struct sort_ctx sc = {r->entries, o->forward};
    qsort_r(order, r->n_entries, sizeof(*order), cmp_entry, &sc);

    for (size_t k = 0; k < r->n_entries; k++) {
        const struct noa_cli_query_entry *e = &r->entries[order[k]];
        if (last->n && e->ts_ns == last->ts_ns) {
            int seen = 0;
            entry_key(&key, r, e);
            for (size_t j = 0; j < last->n && !seen; j++)
                seen = last->key_lens[j] == key.len && !memcmp(last->keys[j], key.data, key.len);
            if (seen)
                continue;
        }
        noa_cli_output_entry(out, &o->out, e->ts_ns, &shown[e->stream], max_len, e->line,
                             e->line_len);
        printed++;
    }

    if (r->n_entries) {
        /* Remember every entry at the batch's final timestamp: the next
         * request starts (or ends) there and returns them again. */
        int64_t lts = r->entries[order[r->n_entries - 1]].ts_ns;
        size_t cnt = 0;
        for (size_t k = 0; k < r->n_entries; k++)
            cnt += r->entries[k].ts_ns == lts;
        next.ts_ns = lts;
        next.keys = noa_xcalloc(cnt + 1, sizeof(char *));
        next.key_lens = noa_xcalloc(cnt + 1, sizeof(size_t));
        for (size_t k = 0; k < r->n_entries; k++) {
            if (r->entries[k].ts_ns != lts)
                continue;
            entry_key(&key, r, &r->entries[k]);
            next.keys[next.n] = noa_xmalloc(key.len + 1);
            memcpy(next.keys[next.n], key.data, key.len);
            next.key_lens[next.n++] = key.len;
        }
    }
    noa_cli_query_last_fini(last);
    *last = next;

    for (size_t s = 0; s < r->n_streams; s++) {
        noa_free(shown[s].names);
        noa_free(shown[s].values);
    }
    noa_free(shown);
    noa_free(order);
    noa_free(common.names);
    noa_free(common.values);
    noa_buf_fini(&key);
    noa_buf_fini(&tmp);
    return printed;
}

int noa_cli_query_run(const struct noa_cli_query_opts *o, const struct noa_cli_query_pager *p,
                      struct noa_buf *err)
{
    int64_t limit = p->limit > 0 ? p->limit : INT64_MAX;
    int64_t batch = p->batch > 0 ? p->batch : 1000;
    int64_t total = 0, start = p->start_ns, end = p->end_ns;
    struct noa_cli_query_last last = {0};
    struct noa_buf body = {0}, out = {0}, meta = {0};
    struct noa_cli_query_result r = {0};
    int rc = 0;

    if (limit < batch)
        batch = limit;
    while (total < limit) {
        int64_t bs = batch;
        /* Ask for the remainder plus the overlap we will drop again. */
        if (limit - total < batch)
            bs = limit - total + (int64_t)last.n;
        body.len = 0;
        rc = p->fetch_cb(p->ctx, bs, start, end, &body);
        if (rc < 0)
            goto done;
        noa_cli_query_result_fini(&r);
        rc = noa_cli_query_parse(body.data ? body.data : "", body.len, &r, err);
        if (rc < 0)
            goto done;
        out.len = meta.len = 0;
        if (r.kind != NOA_CLI_QUERY_STREAMS) {
            rc = noa_cli_output_indent(&out, r.result_json, strlen(r.result_json));
            if (rc < 0)
                goto done;
            p->emit_cb(p->ctx, &out, &meta, (uint64_t)total);
            break;
        }
        size_t printed = noa_cli_query_print_streams(o, &r, &last,
                                                     p->prefix_cb ? p->prefix_cb(p->ctx) : "",
                                                     &out, &meta);
        p->emit_cb(p->ctx, &out, &meta, (uint64_t)total + printed);
        if (printed == 0 || last.n == 0 || (int64_t)printed == limit)
            break;
        if ((int64_t)last.n >= batch) {
            noa_buf_printf(err,
                           "Invalid batch size %lld, the next query will have %zu overlapping "
                           "entries (there will always be 1 overlapping entry but Loki allows "
                           "multiple entries to have the same timestamp, so when a batch ends in "
                           "this scenario the next query will include all the overlapping entries "
                           "again).  Please increase your batch size to at least %zu to account "
                           "for overlapping entryes",
                           (long long)batch, last.n, last.n + 1);
            rc = NOA_EINVAL;
            goto done;
        }
        total += (int64_t)printed;
        if (o->forward)
            start = last.ts_ns;
        else
            end = last.ts_ns + 1;
    }
done:
    noa_cli_query_result_fini(&r);
    noa_cli_query_last_fini(&last);
    noa_buf_fini(&body);
    noa_buf_fini(&out);
    noa_buf_fini(&meta);
    return rc;
}

/* How a stats value is printed (Go's %v of the field's type). */
enum stat_kind { S_INT, S_BYTES, S_DUR_NS, S_DUR_S };

struct stat_key {
    const char *name; /* as stats.Result.Log names it */
    const char *path; /* in data.stats, '.'-separated */
    enum stat_kind kind;
};

static const struct stat_key k_stats_main[] = {
    {"Ingester.TotalReached", "ingester.totalReached", S_INT},
    {"Ingester.TotalChunksMatched", "ingester.totalChunksMatched", S_INT},
    {"Ingester.TotalBatches", "ingester.totalBatches", S_INT},
    {"Ingester.TotalLinesSent", "ingester.totalLinesSent", S_INT},
    {"Ingester.TotalChunksRef", "ingester.store.totalChunksRef", S_INT},
    {"Ingester.TotalChunksDownloaded", "ingester.store.totalChunksDownloaded", S_INT},
    {"Ingester.ChunksDownloadTime", "ingester.store.chunksDownloadTime", S_DUR_NS},
    {"Ingester.HeadChunkBytes", "ingester.store.chunk.headChunkBytes", S_BYTES},
    {"Ingester.HeadChunkLines", "ingester.store.chunk.headChunkLines", S_INT},
    {"Ingester.DecompressedBytes", "ingester.store.chunk.decompressedBytes", S_BYTES},
    {"Ingester.DecompressedLines", "ingester.store.chunk.decompressedLines", S_INT},
    {"Ingester.CompressedBytes", "ingester.store.chunk.compressedBytes", S_BYTES},
    {"Ingester.TotalDuplicates", "ingester.store.chunk.totalDuplicates", S_INT},
    {"Querier.TotalChunksRef", "querier.store.totalChunksRef", S_INT},
    {"Querier.TotalChunksDownloaded", "querier.store.totalChunksDownloaded", S_INT},
    {"Querier.ChunksDownloadTime", "querier.store.chunksDownloadTime", S_DUR_NS},
    {"Querier.HeadChunkBytes", "querier.store.chunk.headChunkBytes", S_BYTES},
    {"Querier.HeadChunkLines", "querier.store.chunk.headChunkLines", S_INT},
    {"Querier.DecompressedBytes", "querier.store.chunk.decompressedBytes", S_BYTES},
    {"Querier.DecompressedLines", "querier.store.chunk.decompressedLines", S_INT},
    {"Querier.CompressedBytes", "querier.store.chunk.compressedBytes", S_BYTES},
    {"Querier.TotalDuplicates", "querier.store.chunk.totalDuplicates", S_INT},
};

static const struct stat_key k_stats_cache[] = {
    {"Cache.Chunk.Requests", "cache.chunk.requests", S_INT},
    {"Cache.Chunk.EntriesRequested", "cache.chunk.entriesRequested", S_INT},
    {"Cache.Chunk.EntriesFound", "cache.chunk.entriesFound", S_INT},
    {"Cache.Chunk.EntriesStored", "cache.chunk.entriesStored", S_INT},
    {"Cache.Chunk.BytesSent", "cache.chunk.bytesSent", S_BYTES},
    {"Cache.Chunk.BytesReceived", "cache.chunk.bytesReceived", S_BYTES},
    {"Cache.Chunk.DownloadTime", "cache.chunk.downloadTime", S_DUR_NS},
    {"Cache.Index.Requests", "cache.index.requests", S_INT},
    {"Cache.Index.EntriesRequested", "cache.index.entriesRequested", S_INT},
    {"Cache.Index.EntriesFound", "cache.index.entriesFound", S_INT},
    {"Cache.Index.EntriesStored", "cache.index.entriesStored", S_INT},
    {"Cache.Index.BytesSent", "cache.index.bytesSent", S_BYTES},
    {"Cache.Index.BytesReceived", "cache.index.bytesReceived", S_BYTES},
    {"Cache.Index.DownloadTime", "cache.index.downloadTime", S_DUR_NS},
    {"Cache.Result.Requests", "cache.result.requests", S_INT},
    {"Cache.Result.EntriesRequested", "cache.result.entriesRequested", S_INT},
    {"Cache.Result.EntriesFound", "cache.result.entriesFound", S_INT},
    {"Cache.Result.EntriesStored", "cache.result.entriesStored", S_INT},
    {"Cache.Result.BytesSent", "cache.result.bytesSent", S_BYTES},
    {"Cache.Result.BytesReceived", "cache.result.bytesReceived", S_BYTES},
    {"Cache.Result.DownloadTime", "cache.result.downloadTime", S_DUR_NS},
};

static const struct stat_key k_stats_summary[] = {
    {"Summary.BytesProcessedPerSecond", "summary.bytesProcessedPerSecond", S_BYTES},
    {"Summary.LinesProcessedPerSecond", "summary.linesProcessedPerSecond", S_INT},
    {"Summary.TotalBytesProcessed", "summary.totalBytesProcessed", S_BYTES},
    {"Summary.TotalLinesProcessed", "summary.totalLinesProcessed", S_INT},
    {"Summary.ExecTime", "summary.execTime", S_DUR_S},
    {"Summary.QueueTime", "summary.queueTime", S_DUR_S},
};

static double stat_number(json_t *stats, const char *path)
{
    char part[64];
    json_t *v = stats;
    while (*path && v) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof(part))
            return 0;
        memcpy(part, path, n);
        part[n] = 0;
        v = json_object_get(v, part);
        path += n + (path[n] == '.');
    }
    return json_is_number(v) ? json_number_value(v) : 0;
}

/* One log.Log call through logcli's kvLogger: Println(key, "\t", value)
 * into tabwriter.NewWriter(w, 0, 8, 0, '\t', 0), flushed at the end. */
static void stats_block(struct noa_buf *out, json_t *stats, const struct stat_key *keys, size_t n)
{
    size_t maxw = 0;
    for (size_t i = 0; i < n; i++)
        maxw = strlen(keys[i].name) + 1 > maxw ? strlen(keys[i].name) + 1 : maxw;
    size_t cellw = (maxw + 7) / 8 * 8;
    for (size_t i = 0; i < n; i++) {
        size_t textw = strlen(keys[i].name) + 1;
        noa_buf_printf(out, "%s ", keys[i].name);
        for (size_t t = 0; t < (cellw - textw + 7) / 8; t++)
            noa_buf_putc(out, '\t');
        noa_buf_putc(out, ' ');
        double v = stat_number(stats, keys[i].path);
        switch (keys[i].kind) {
        case S_INT: noa_buf_printf(out, "%lld", (long long)v); break;
        case S_BYTES: noa_humanize_bytes(v > 0 ? (uint64_t)v : 0, 1, out); break;
        case S_DUR_NS: noa_cli_http_go_duration(out, (int64_t)v); break;
        case S_DUR_S: noa_cli_http_go_duration(out, (int64_t)(v * 1e9)); break;
        }
        noa_buf_putc(out, '\n');
    }
}

void noa_cli_query_print_stats(const char *body, size_t len, struct noa_buf *out)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *stats = json_object_get(json_object_get(root, "data"), "stats");
    if (json_is_object(stats)) {
        stats_block(out, stats, k_stats_main, sizeof(k_stats_main) / sizeof(k_stats_main[0]));
        stats_block(out, stats, k_stats_cache, sizeof(k_stats_cache) / sizeof(k_stats_cache[0]));
        stats_block(out, stats, k_stats_summary,
                    sizeof(k_stats_summary) / sizeof(k_stats_summary[0]));
    }
    json_decref(root);
}
