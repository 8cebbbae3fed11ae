/*
 * Alertmanager v2 client: JSON encoding of alerts and the POST to every
 * configured Alertmanager. See querier/ruler_notify.h. Ruler thread.
 */
#include "querier/ruler_notify.h"

#include "common/http_client.h"
#include "common/mem.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct noa_ruler_notify {
    char **urls; /* owned: "<base>/api/v2/alerts" */
    unsigned n_urls;
    long timeout_ms;
    struct noa_http_client *http;
};

/* Go's strfmt.DateTime layout: 2006-01-02T15:04:05.000Z (UTC). */
static void put_time(struct noa_buf *out, int64_t ns)
{
    time_t s = (time_t)(ns / 1000000000);
    int64_t ms = (ns % 1000000000) / 1000000;
    if (ns < 0 && ns % 1000000000) {
        s--;
        ms += 1000;
    }
    struct tm tm;
    gmtime_r(&s, &tm);
    noa_buf_printf(out, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
                   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
}

static void put_pair(struct noa_buf *out, const struct noa_ruler_kv *kv, int first)
{
    if (!first)
        noa_buf_putc(out, ',');
    noa_buf_put_json_str(out, kv->name, strlen(kv->name));
    noa_buf_putc(out, ':');
    noa_buf_put_json_str(out, kv->value, strlen(kv->value));
}

/* v, then the ext pairs whose names v lacks. */
static void put_map(struct noa_buf *out, const struct noa_ruler_kv *v, unsigned n,
                    const struct noa_ruler_kv *ext, unsigned n_ext)
{
    noa_buf_putc(out, '{');
    for (unsigned i = 0; i < n; i++)
        put_pair(out, &v[i], i == 0);
    for (unsigned k = 0; k < n_ext; k++) {
        int have = 0;
        for (unsigned i = 0; i < n && !have; i++)
            have = !strcmp(v[i].name, ext[k].name);
        if (!have)
            put_pair(out, &ext[k], n == 0 && k == 0);
    }
    noa_buf_putc(out, '}');
}

void noa_ruler_notify_encode(const struct noa_ruler_alert *const *alerts, unsigned n,
                             const char *generator_url, const struct noa_ruler_kv *ext,
                             unsigned n_ext, struct noa_buf *out)
{
    noa_buf_putc(out, '[');
    for (unsigned i = 0; i < n; i++) {
        const struct noa_ruler_alert *a = alerts[i];
        if (i)
            noa_buf_putc(out, ',');
        noa_buf_printf(out, "{\"labels\":");
        put_map(out, a->labels, a->n_labels, ext, n_ext);
        noa_buf_printf(out, ",\"annotations\":");
        put_map(out, a->annotations, a->n_annotations, NULL, 0);
        noa_buf_printf(out, ",\"startsAt\":");
        put_time(out, a->fired_at_ns ? a->fired_at_ns : a->active_at_ns);
        noa_buf_printf(out, ",\"endsAt\":");
        put_time(out, a->resolved_at_ns ? a->resolved_at_ns : a->valid_until_ns);
        if (generator_url) {
            noa_buf_printf(out, ",\"generatorURL\":");
            noa_buf_put_json_str(out, generator_url, strlen(generator_url));
        }
        noa_buf_putc(out, '}');
    }
    noa_buf_putc(out, ']');
}

void noa_ruler_notify_generator_url(const char *external_url, const char *expr,
                                    struct noa_buf *out)
{
    size_t l = external_url ? strlen(external_url) : 0;
    while (l && external_url[l - 1] == '/')
        l--;
    noa_buf_append(out, external_url, l);
    noa_buf_printf(out, "/graph?g0.expr=");
    for (const unsigned char *p = (const unsigned char *)expr; *p; p++) {
        if (isalnum(*p) || strchr("-_.~", *p))
            noa_buf_putc(out, (char)*p);
        else
            noa_buf_printf(out, "%%%02X", *p);
    }
    noa_buf_printf(out, "&g0.tab=1");
}

int noa_ruler_notify_new(const char *urls, long timeout_ms, struct noa_ruler_notify **out)
{
    struct noa_ruler_notify *n = noa_xcalloc(1, sizeof(*n));
    int rc = 0;
    n->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    const char *p = urls ? urls : "";
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *s = p;
        while (len && isspace((unsigned char)*s)) {
            s++;
            len--;
        }
        while (len && (isspace((unsigned char)s[len - 1]) || s[len - 1] == '/'))
            len--;
        if (len) {
            if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0) {
                rc = NOA_EINVAL;
                goto fail;
            }
            struct noa_buf b = {0};
            noa_buf_append(&b, s, len);
            noa_buf_printf(&b, "/api/v2/alerts");
            noa_buf_cstr(&b);
            n->urls = noa_xrealloc(n->urls, (n->n_urls + 1) * sizeof(*n->urls));
            n->urls[n->n_urls++] = noa_buf_steal(&b, NULL);
        }
        p = e ? e + 1 : p + strlen(p);
    }
    if (!n->n_urls) {
        rc = NOA_EINVAL;
        goto fail;
    }
    rc = noa_http_client_new(&n->http);
    if (rc != 0)
        goto fail;
    *out = n;
    return 0;
fail:
    noa_ruler_notify_free(n);
    return rc;
}

void noa_ruler_notify_free(struct noa_ruler_notify *n)
{
    if (!n)
        return;
    for (unsigned i = 0; i < n->n_urls; i++)
        noa_free(n->urls[i]);
    noa_free(n->urls);
    noa_http_client_free(n->http);
    noa_free(n);
}

int noa_ruler_notify_send(struct noa_ruler_notify *n, const struct noa_buf *json,
                          struct noa_error *err)
{
    static const char *const headers[] = {"Content-Type: application/json",
                                          "User-Agent: noa-ruler"};
    int ok = 0, rc = NOA_EUNAVAIL;
    for (unsigned i = 0; i < n->n_urls; i++) {
        struct noa_http_client_request req = {
            .method = "POST",
            .url = n->urls[i],
            .headers = headers,
            .n_headers = 2,
            .body = json->data,
            .body_len = json->len,
            .timeout_ms = n->timeout_ms,
            .max_response_bytes = 1 << 20,
        };
        struct noa_http_client_response resp = {0};
        int r = noa_http_client_do(n->http, &req, &resp);
        if (r == 0 && resp.status / 100 == 2)
            ok = 1;
        else if (r == 0)
            rc = noa_error_set(err, NOA_EUNAVAIL, "%s: bad response status %d", n->urls[i],
                               resp.status);
        else
            rc = noa_error_set(err, r, "%s: %s", n->urls[i], resp.error);
        noa_http_client_response_fini(&resp);
    }
    return ok ? 0 : rc;
}
