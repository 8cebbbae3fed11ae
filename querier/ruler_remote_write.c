/*
 * Remote-write 1.0 encoding and sending for recording rules. See
 * querier/ruler_remote_write.h. Ruler thread.
 */
#include "querier/ruler_remote_write.h"

#include "common/compress.h"
#include "common/http_client.h"
#include "common/mem.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

struct noa_ruler_remote_write {
    struct noa_ruler_remote_write_options o; /* url owned */
    struct noa_http_client *http;
};

static void put_tag(struct noa_buf *b, unsigned field, unsigned wire)
{
    noa_buf_put_uvarint(b, (uint64_t)field << 3 | wire);
}

static void put_bytes(struct noa_buf *b, unsigned field, const void *p, size_t n)
{
    put_tag(b, field, 2);
    noa_buf_put_uvarint(b, n);
    noa_buf_append(b, p, n);
}

void noa_ruler_remote_write_encode(const struct noa_ruler_rw_series *series, unsigned n,
                                   struct noa_buf *out)
{
    struct noa_buf ts = {0}, tmp = {0};
    for (unsigned i = 0; i < n; i++) {
        const struct noa_ruler_rw_series *s = &series[i];
        noa_buf_reset(&ts);
        for (unsigned k = 0; k < s->n_labels; k++) {
            noa_buf_reset(&tmp);
            put_bytes(&tmp, 1, s->labels[k].name, strlen(s->labels[k].name));
            put_bytes(&tmp, 2, s->labels[k].value, strlen(s->labels[k].value));
            put_bytes(&ts, 1, tmp.data, tmp.len);
        }
        noa_buf_reset(&tmp);
        uint64_t bits;
        memcpy(&bits, &s->value, 8);
        put_tag(&tmp, 1, 1);
        for (int k = 0; k < 8; k++)
            noa_buf_putc(&tmp, (char)(bits >> (8 * k)));
        put_tag(&tmp, 2, 0);
        noa_buf_put_uvarint(&tmp, (uint64_t)s->ts_ms);
        put_bytes(&ts, 2, tmp.data, tmp.len);
        put_bytes(out, 1, ts.data, ts.len);
    }
    noa_buf_fini(&ts);
    noa_buf_fini(&tmp);
}

int noa_ruler_remote_write_new(const struct noa_ruler_remote_write_options *o,
                               struct noa_ruler_remote_write **out)
{
    if (!o->url || (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0))
        return NOA_EINVAL;
    struct noa_ruler_remote_write *rw = noa_xcalloc(1, sizeof(*rw));
    rw->o = *o;
    rw->o.url = noa_xstrdup(o->url);
    if (!rw->o.timeout_ms)
        rw->o.timeout_ms = 30000;
    if (!rw->o.max_retries)
        rw->o.max_retries = 3;
    if (!rw->o.min_backoff_ms)
        rw->o.min_backoff_ms = 30;
    if (!rw->o.max_backoff_ms)
        rw->o.max_backoff_ms = 5000;
    int rc = noa_http_client_new(&rw->http);
    if (rc != 0) {
        noa_ruler_remote_write_free(rw);
        return rc;
    }
    *out = rw;
    return 0;
}

void noa_ruler_remote_write_free(struct noa_ruler_remote_write *rw)
{
    if (!rw)
        return;
    noa_free((char *)rw->o.url);
    noa_http_client_free(rw->http);
    noa_free(rw);
}

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0)
        ;
}

int noa_ruler_remote_write_send(struct noa_ruler_remote_write *rw, const char *tenant,
                                const struct noa_buf *proto, struct noa_error *err)
{
    struct noa_buf body = {0};
    char org[300];
    const char *headers[5] = {"Content-Encoding: snappy", "Content-Type: application/x-protobuf",
                              "X-Prometheus-Remote-Write-Version: 0.1.0",
                              "User-Agent: noa-ruler"};
    size_t nh = 4;
    int rc = noa_compress_snappy_compress(proto->data ? proto->data : "", proto->len, &body);
    if (rc != 0) {
        noa_error_set(err, rc, "remote write: snappy: %s", noa_strerror(rc));
        goto fail;
    }
    if (rw->o.add_org_id_header && tenant) {
        snprintf(org, sizeof(org), "X-Scope-OrgID: %s", tenant);
        headers[nh++] = org;
    }
    long backoff = rw->o.min_backoff_ms;
    for (unsigned attempt = 0;; attempt++) {
        struct noa_http_client_request req = {
            .method = "POST",
            .url = rw->o.url,
            .headers = headers,
            .n_headers = nh,
            .body = body.data,
            .body_len = body.len,
            .timeout_ms = rw->o.timeout_ms,
            .max_response_bytes = 1 << 20,
        };
        struct noa_http_client_response resp = {0};
        int r = noa_http_client_do(rw->http, &req, &resp);
        int status = resp.status;
        long retry_after = resp.retry_after_s;
        if (r == 0 && status / 100 == 2) {
            rc = 0;
        } else if (r == 0 && status != 429 && status / 100 == 4) {
            rc = noa_error_set(err, NOA_EINVAL, "remote write %s: server returned HTTP status %d: %.*s",
                               rw->o.url, status, (int)(resp.body.len > 200 ? 200 : resp.body.len),
                               resp.body.data ? resp.body.data : "");
        } else if (r == 0) {
            rc = noa_error_set(err, NOA_EUNAVAIL, "remote write %s: server returned HTTP status %d",
                               rw->o.url, status);
        } else {
            rc = noa_error_set(err, r, "remote write %s: %s", rw->o.url, resp.error);
        }
        noa_http_client_response_fini(&resp);
        if (rc == 0 || rc == NOA_EINVAL || attempt >= rw->o.max_retries)
            break;
        long wait = backoff;
        if (status == 429 && retry_after > 0 && retry_after * 1000 < rw->o.max_backoff_ms)
            wait = retry_after * 1000;
        sleep_ms(wait);
        backoff = backoff * 2 > rw->o.max_backoff_ms ? rw->o.max_backoff_ms : backoff * 2;
    }
fail:
    noa_buf_fini(&body);
    return rc;
}
