/*
 * libcurl adapter behind common/http_client.h. Owns one easy handle per
 * client; curl_easy_reset between requests clears options but keeps the
 * connection cache, which is what makes keep-alive work. Runs on the
 * caller's thread (blocking).
 */
#include "common/http_client.h"
#include "common/err.h"
#include "common/mem.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#ifndef NOA_VERSION
#define NOA_VERSION "dev"
#endif

#define DEFAULT_MAX_RESPONSE ((size_t)256 << 20)

struct noa_http_client {
    CURL *h;
};

/* State shared with curl's callbacks during one request. */
struct xfer {
    struct noa_http_client_response *resp;
    size_t max;
    int too_big;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int noa_http_client_new(struct noa_http_client **out)
{
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return NOA_EINTERNAL;
    struct noa_http_client *c = noa_calloc(1, sizeof(*c));
    if (!c)
        return NOA_ENOMEM;
    c->h = curl_easy_init();
    if (!c->h) {
        noa_free(c);
        return NOA_ENOMEM;
    }
    *out = c;
    return 0;
}

void noa_http_client_free(struct noa_http_client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->h);
    noa_free(c);
}

void noa_http_client_response_fini(struct noa_http_client_response *resp)
{
    noa_buf_fini(&resp->body);
    noa_buf_fini(&resp->headers);
    resp->status = 0;
    resp->content_type[0] = '\0';
    resp->retry_after_s = -1;
    resp->error[0] = '\0';
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * n;
    if (len > x->max - x->resp->body.len) {
        x->too_big = 1;
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    }
    noa_buf_append(&x->resp->body, p, len);
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * n;
    /* A status line starts a new response (after a 100 Continue or a
     * redirect): only the final one's headers are kept. */
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        noa_buf_reset(&x->resp->headers);
        return len;
    }
    if (len <= 2 || x->resp->headers.len + len > 1 << 20)
        return len;
    noa_buf_append(&x->resp->headers, p, len);
    return len;
}

struct noa_str noa_http_client_response_header(const struct noa_http_client_response *resp,
                                               const char *name)
{
    size_t nlen = strlen(name);
    const char *p = resp->headers.data, *end = p + resp->headers.len;
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon && (size_t)(colon - p) == nlen && strncasecmp(p, name, nlen) == 0) {
            const char *v = colon + 1, *ve = le;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            return (struct noa_str){v, (size_t)(ve - v)};
        }
        p = nl ? nl + 1 : end;
    }
    return (struct noa_str){NULL, 0};
}

/* Retry-After: delay-seconds or an HTTP-date. */
static long parse_retry_after(struct noa_str v)
{
    if (!v.p || !v.len || v.len > 63)
        return -1;
    char tmp[64];
    memcpy(tmp, v.p, v.len);
    tmp[v.len] = '\0';
    char *end;
    long s = strtol(tmp, &end, 10);
    if (end != tmp && *end == '\0')
        return s >= 0 ? s : -1;
    time_t when = curl_getdate(tmp, NULL);
    if (when < 0)
        return -1;
    time_t now = time(NULL);
    return when > now ? (long)(when - now) : 0;
}

static int map_error(CURLcode rc, const struct xfer *x)
{
    /* clang-format off */
    switch (rc) {
    case CURLE_OK: return 0;
    case CURLE_WRITE_ERROR: return x->too_big ? NOA_ETOOBIG : NOA_EINTERNAL;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL: return NOA_EINVAL;
    case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return NOA_EUNAVAIL;
    case CURLE_OPERATION_TIMEDOUT: return NOA_ETIMEOUT;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE: return -ECONNRESET;
    case CURLE_OUT_OF_MEMORY: return NOA_ENOMEM;
    default: return NOA_EINTERNAL;
    }
    /* clang-format on */
}

/* Sets the method and body options. */
static void set_method(CURL *h, const struct noa_http_client_request *req)
{
    const char *m = req->method ? req->method : (req->body ? "POST" : "GET");
    if (!strcmp(m, "HEAD"))
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (!strcmp(m, "GET") && !req->body)
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    else if (strcmp(m, "POST") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
    if (req->body || !strcmp(m, "POST") || !strcmp(m, "PUT")) {
        /* POSTFIELDS with an explicit size sends binary bodies as they are. */
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? (const char *)req->body : "");
    }
}

int noa_http_client_do(struct noa_http_client *c, const struct noa_http_client_request *req,
                       struct noa_http_client_response *resp)
{
    CURL *h = c->h;
    struct curl_slist *hdrs = NULL;
    int rc = 0;
    noa_http_client_response_fini(resp);
    struct xfer x = {resp, req->max_response_bytes ? req->max_response_bytes : DEFAULT_MAX_RESPONSE,
                     0};
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "noa/" NOA_VERSION);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, resp->error);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     req->connect_timeout_ms ? req->connect_timeout_ms : 10000L);
    if (req->follow_redirects) {
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    }
    const struct noa_http_client_tls *tls = req->tls;
    if (tls) {
        if (tls->ca_file && *tls->ca_file)
            curl_easy_setopt(h, CURLOPT_CAINFO, tls->ca_file);
        if (tls->cert_file && *tls->cert_file)
            curl_easy_setopt(h, CURLOPT_SSLCERT, tls->cert_file);
        if (tls->key_file && *tls->key_file)
            curl_easy_setopt(h, CURLOPT_SSLKEY, tls->key_file);
        if (tls->insecure_skip_verify) {
            curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        if (tls->proxy_url && *tls->proxy_url)
            curl_easy_setopt(h, CURLOPT_PROXY, tls->proxy_url);
    }
    set_method(h, req);
    for (size_t i = 0; i < req->n_headers; i++) {
        struct curl_slist *n = curl_slist_append(hdrs, req->headers[i]);
        if (!n) {
            rc = NOA_ENOMEM;
            goto fail;
        }
        hdrs = n;
    }
    if (!req->expect_continue) {
        struct curl_slist *n = curl_slist_append(hdrs, "Expect:");
        if (!n) {
            rc = NOA_ENOMEM;
            goto fail;
        }
        hdrs = n;
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

    CURLcode cr = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    resp->status = (int)status;
    if ((rc = map_error(cr, &x)) != 0) {
        if (!resp->error[0])
            snprintf(resp->error, sizeof(resp->error), "%s", curl_easy_strerror(cr));
        goto fail;
    }
    struct noa_str ct = noa_http_client_response_header(resp, "Content-Type");
    if (ct.p)
        snprintf(resp->content_type, sizeof(resp->content_type), "%.*s", (int)ct.len, ct.p);
    resp->retry_after_s = parse_retry_after(noa_http_client_response_header(resp, "Retry-After"));
fail:
    /* The handle must not keep pointers into this call's memory. */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(hdrs);
    return rc;
}
