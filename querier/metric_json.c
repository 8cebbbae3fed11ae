/*
 * JSON encoding of metric results (querier/metric_json.h), with sample
 * values and timestamps printed as Prometheus prints them. Pure; any
 * thread.
 */
#include "querier/metric_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void noa_metric_json_put_value(struct noa_buf *b, double v)
{
    char tmp[400];
    if (isnan(v)) {
        noa_buf_append_str(b, NOA_STR("\"NaN\""));
        return;
    }
    if (isinf(v)) {
        noa_buf_append_str(b, v > 0 ? NOA_STR("\"+Inf\"") : NOA_STR("\"-Inf\""));
        return;
    }
    /* The fewest decimals that read back as the same double, as Go's 'f', -1. */
    for (int d = 0; d <= 340; d++) {
        snprintf(tmp, sizeof(tmp), "%.*f", d, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    noa_buf_printf(b, "\"%s\"", tmp);
}

void noa_metric_json_put_time(struct noa_buf *b, int64_t ns)
{
    int64_t ms = ns / 1000000;
    if (ns < 0 && ns % 1000000)
        ms--;
    int64_t s = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        s--;
    }
    if (!frac) {
        noa_buf_printf(b, "%lld", (long long)s);
        return;
    }
    char f[8];
    snprintf(f, sizeof(f), "%03lld", (long long)frac);
    int n = 3;
    while (f[n - 1] == '0')
        n--;
    noa_buf_printf(b, "%lld.%.*s", (long long)s, n, f);
}

void noa_metric_json_labels(const struct noa_labels *ls, struct noa_buf *out)
{
    noa_buf_putc(out, '{');
    for (uint32_t i = 0; i < ls->n; i++) {
        if (i)
            noa_buf_putc(out, ',');
        noa_buf_put_json_str(out, ls->v[i].name.p, ls->v[i].name.len);
        noa_buf_putc(out, ':');
        noa_buf_put_json_str(out, ls->v[i].value.p, ls->v[i].value.len);
    }
    noa_buf_putc(out, '}');
}

static void point(struct noa_buf *out, int64_t ts_ns, double v)
{
    noa_buf_putc(out, '[');
    noa_metric_json_put_time(out, ts_ns);
    noa_buf_putc(out, ',');
    noa_metric_json_put_value(out, v);
    noa_buf_putc(out, ']');
}

void noa_metric_json_encode(const struct noa_metric_result *res, const struct noa_stats_json *stats,
                            struct noa_buf *out)
{
    static const char *const types[] = {"scalar", "vector", "matrix"};
    const struct noa_metric_set *set = &res->set;
    const struct noa_metric_grid *g = &res->grid;
    uint64_t returned = 0;
    noa_buf_printf(out, "{\"status\":\"success\",\"data\":{\"resultType\":\"%s\",\"result\":",
                   types[res->type]);
    if (res->type == NOA_METRIC_SCALAR) {
        point(out, g->start_ns, set->is_scalar ? set->scalar_v[0] : 0);
    } else {
        noa_buf_putc(out, '[');
        int first = 1;
        for (uint32_t i = 0; i < set->n; i++) {
            const struct noa_metric_series *s = &set->s[i];
            if (res->type == NOA_METRIC_VECTOR && !s->has[0])
                continue;
            if (!first)
                noa_buf_putc(out, ',');
            first = 0;
            noa_buf_append_str(out, NOA_STR("{\"metric\":"));
            noa_metric_json_labels(&s->labels, out);
            if (res->type == NOA_METRIC_VECTOR) {
                noa_buf_append_str(out, NOA_STR(",\"value\":"));
                point(out, g->start_ns, s->v[0]);
                returned++;
            } else {
                noa_buf_append_str(out, NOA_STR(",\"values\":["));
                int pfirst = 1;
                for (uint32_t t = 0; t < g->n; t++) {
                    if (!s->has[t])
                        continue;
                    if (!pfirst)
                        noa_buf_putc(out, ',');
                    pfirst = 0;
                    point(out, g->start_ns + (int64_t)t * g->step_ns, s->v[t]);
                    returned++;
                }
                noa_buf_putc(out, ']');
            }
            noa_buf_putc(out, '}');
        }
        noa_buf_putc(out, ']');
    }
    struct noa_stats_json st;
    if (stats)
        st = *stats;
    else
        memset(&st, 0, sizeof(st));
    st.entries_returned = returned;
    noa_buf_append_str(out, NOA_STR(",\"stats\":"));
    noa_stats_json_put(out, &st);
    noa_buf_append_str(out, NOA_STR("}}"));
}
