/*
 * noa-logcli's requests (see cli_http.h), on top of common/http_client.h.
 * Owns the client and the request headers. Main thread.
 */
#include "logcli/cli_http.h"

#include "common/err.h"
#include "common/http_client.h"
#include "common/mem.h"
#include "logcli/cli_output.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct noa_cli_http {
    struct noa_http_client *client;
    const char *addr; /* borrowed from the flags, trailing '/' trimmed */
    size_t addr_len;
    char **headers; /* owned "Name: value" strings */
    size_t n_headers;
    int64_t retries;
    int64_t min_backoff_s, max_backoff_s; /* seconds, as logcli's flags */
    int quiet;
    struct noa_http_client_tls tls; /* --ca-cert, --cert, --key, --tls-skip-verify,
                                     * --proxy-url (borrowed from the flags) */
};

void noa_cli_http_escape(struct noa_buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            noa_buf_putc(out, (char)c);
        } else if (c == ' ') {
            noa_buf_putc(out, '+');
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            noa_buf_append(out, e, 3);
        }
    }
}

static int cmp_param(const void *a, const void *b)
{
    return strcmp(((const struct noa_cli_http_param *)a)->key,
                  ((const struct noa_cli_http_param *)b)->key);
}

void noa_cli_http_url(struct noa_buf *out, const char *base, const char *path,
                      struct noa_cli_http_param *params, size_t n)
{
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        bl--;
    noa_buf_append(out, base, bl);
    noa_buf_append(out, path, strlen(path));
    /* Go sorts by key only; the sort is stable for repeated keys there,
     * and our callers never repeat a key. */
    if (n > 1)
        qsort(params, n, sizeof(*params), cmp_param);
    for (size_t i = 0; i < n; i++) {
        noa_buf_putc(out, i ? '&' : '?');
        noa_cli_http_escape(out, params[i].key);
        noa_buf_putc(out, '=');
        noa_cli_http_escape(out, params[i].value);
    }
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return NOA_EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int noa_cli_http_parse_time(const char *s, int64_t *out_ns)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, sec;
    size_t n = strlen(s);
    if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':' || digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
        digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &sec))
        return NOA_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59)
        return NOA_EINVAL;
    const char *p = s + 19;
    int64_t frac = 0;
    if (*p == '.') {
        int nd = 0;
        p++;
        while (*p >= '0' && *p <= '9') {
            if (nd < 9) {
                frac = frac * 10 + (*p - '0');
                nd++;
            }
            p++;
        }
        if (nd == 0)
            return NOA_EINVAL;
        while (nd++ < 9)
            frac *= 10;
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || digits(p + 4, 2, &om))
            return NOA_EINVAL;
        off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return NOA_EINVAL;
    }
    if (*p)
        return NOA_EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    int64_t t = (int64_t)timegm(&tm) - off;
    *out_ns = t * 1000000000LL + frac;
    return 0;
}

void noa_cli_http_go_duration(struct noa_buf *out, int64_t ns)
{
    if (ns == 0) {
        noa_buf_append(out, "0s", 2);
        return;
    }
    if (ns < 0) {
        noa_buf_putc(out, '-');
        ns = -ns;
    }
    if (ns < 1000000000LL) {
        /* Below a second Go picks ns, µs or ms with a fraction. */
        const char *unit = "ns";
        int64_t div = 1;
        if (ns >= 1000000) {
            unit = "ms", div = 1000000;
        } else if (ns >= 1000) {
            unit = "\xc2\xb5s", div = 1000;
        }
        noa_buf_printf(out, "%lld", (long long)(ns / div));
        int64_t r = ns % div;
        if (r) {
            char frac[16];
            int w = div == 1000000 ? 6 : 3;
            snprintf(frac, sizeof(frac), "%0*lld", w, (long long)r);
            size_t k = strlen(frac);
            while (k && frac[k - 1] == '0')
                k--;
            noa_buf_printf(out, ".%.*s", (int)k, frac);
        }
        noa_buf_append(out, unit, strlen(unit));
        return;
    }
    int64_t h = ns / 3600000000000LL, m = (ns / 60000000000LL) % 60;
    if (h)
        noa_buf_printf(out, "%lldh", (long long)h);
    if (h || m)
        noa_buf_printf(out, "%lldm", (long long)m);
    noa_cli_http_seconds(out, ns % 60000000000LL);
    noa_buf_putc(out, 's');
}

void noa_cli_http_seconds(struct noa_buf *out, int64_t ns)
{
    int neg = ns < 0;
    uint64_t a = neg ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    noa_buf_printf(out, "%s%llu", neg ? "-" : "", (unsigned long long)(a / 1000000000ULL));
    uint64_t r = a % 1000000000ULL;
    if (r) {
        char frac[16];
        snprintf(frac, sizeof(frac), "%09llu", (unsigned long long)r);
        size_t k = 9;
        while (k && frac[k - 1] == '0')
            k--;
        noa_buf_printf(out, ".%.*s", (int)k, frac);
    }
}

static void base64(struct noa_buf *out, const char *s, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        noa_buf_putc(out, tab[(v >> 18) & 63]);
        noa_buf_putc(out, tab[(v >> 12) & 63]);
        noa_buf_putc(out, i + 1 < n ? tab[(v >> 6) & 63] : '=');
        noa_buf_putc(out, i + 2 < n ? tab[v & 63] : '=');
    }
}

static void add_header(struct noa_cli_http *h, struct noa_buf *b)
{
    h->headers = noa_xrealloc(h->headers, (h->n_headers + 1) * sizeof(*h->headers));
    h->headers[h->n_headers++] = noa_xstrdup(noa_buf_cstr(b));
    b->len = 0;
}

/* Reads a bearer token file (first 64 KiB, surrounding space trimmed). */
static int read_token(const char *path, struct noa_buf *tok, struct noa_buf *err)
{
    FILE *fp = fopen(path, "r");
    char tmp[65536];
    if (!fp) {
        noa_buf_printf(err, "unable to read bearer token file %s: %s", path, strerror(errno));
        return NOA_EINVAL;
    }
    size_t n = fread(tmp, 1, sizeof(tmp), fp);
    fclose(fp);
    /* strings.TrimSpace, as logcli reads the file. */
    size_t s = 0;
    while (n && (tmp[n - 1] == '\n' || tmp[n - 1] == '\r' || tmp[n - 1] == ' ' || tmp[n - 1] == '\t'))
        n--;
    while (s < n && (tmp[s] == '\n' || tmp[s] == '\r' || tmp[s] == ' ' || tmp[s] == '\t'))
        s++;
    noa_buf_append(tok, tmp + s, n - s);
    return 0;
}

int noa_cli_http_new(const struct noa_cli_flags *f, struct noa_cli_http **out,
                     struct noa_buf *err)
{
    struct noa_cli_http *h = noa_xcalloc(1, sizeof(*h));
    struct noa_buf b = {0};
    int rc;

    h->addr = f->addr;
    h->retries = f->retries > 0 ? f->retries : 0;
    h->min_backoff_s = f->min_backoff_s;
    h->max_backoff_s = f->max_backoff_s > f->min_backoff_s ? f->max_backoff_s : f->min_backoff_s;
    h->quiet = f->quiet;
    noa_buf_printf(&b, "User-Agent: loki-logcli/noa");
    add_header(h, &b);
    if (f->org_id && *f->org_id) {
        noa_buf_printf(&b, "X-Scope-OrgID: %s", f->org_id);
        add_header(h, &b);
    }
    if (f->query_tags && *f->query_tags) {
        noa_buf_printf(&b, "X-Query-Tags: %s", f->query_tags);
        add_header(h, &b);
    }
    if (f->nocache) {
        noa_buf_printf(&b, "Cache-Control: no-cache");
        add_header(h, &b);
    }
    int basic = f->username && *f->username && f->password && *f->password;
    int token = f->bearer_token && *f->bearer_token;
    int token_file = f->bearer_token_file && *f->bearer_token_file;
    const char *auth = f->auth_header && *f->auth_header ? f->auth_header : "Authorization";
    if (((f->username && *f->username) || (f->password && *f->password)) && (token || token_file)) {
        noa_buf_printf(err, "at most one of HTTP basic auth (username/password), bearer-token & "
                            "bearer-token-file is allowed to be configured");
        rc = NOA_EINVAL;
        goto fail;
    }
    if (token && token_file) {
        noa_buf_printf(err, "at most one of the options bearer-token & bearer-token-file is "
                            "allowed to be configured");
        rc = NOA_EINVAL;
        goto fail;
    }
    if (basic) {
        struct noa_buf up = {0};
        noa_buf_printf(&up, "%s:%s", f->username, f->password);
        noa_buf_printf(&b, "%s: Basic ", auth);
        base64(&b, up.data, up.len);
        noa_buf_fini(&up);
        add_header(h, &b);
    } else if (token || token_file) {
        noa_buf_printf(&b, "%s: Bearer ", auth);
        if (token)
            noa_buf_append(&b, f->bearer_token, strlen(f->bearer_token));
        else if ((rc = read_token(f->bearer_token_file, &b, err)) < 0)
            goto fail;
        add_header(h, &b);
    }
    for (size_t i = 0; i < f->headers.n; i++) {
        noa_buf_append(&b, f->headers.v[i], strlen(f->headers.v[i]));
        add_header(h, &b);
    }
    h->tls = (struct noa_http_client_tls){.ca_file = f->ca_cert,
                                          .cert_file = f->cert,
                                          .key_file = f->key,
                                          .insecure_skip_verify = f->tls_skip_verify,
                                          .proxy_url = f->proxy_url};
    if ((rc = noa_http_client_new(&h->client)) < 0) {
        noa_buf_printf(err, "%s", noa_strerror(rc));
        goto fail;
    }
    noa_buf_fini(&b);
    *out = h;
    return 0;
fail:
    noa_buf_fini(&b);
    noa_cli_http_free(h);
    return rc;
}

void noa_cli_http_free(struct noa_cli_http *h)
{
    if (!h)
        return;
    noa_http_client_free(h->client);
    for (size_t i = 0; i < h->n_headers; i++)
        noa_free(h->headers[i]);
    noa_free(h->headers);
    noa_free(h);
}

const char *const *noa_cli_http_headers(const struct noa_cli_http *h, size_t *n)
{
    *n = h->n_headers;
    return (const char *const *)h->headers;
}

const char *noa_cli_http_logprefix(void)
{
    static struct noa_buf b;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    b.len = 0;
    noa_cli_output_logprefix(&b, (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    return noa_buf_cstr(&b);
}

int noa_cli_http_get(struct noa_cli_http *h, const char *path, struct noa_cli_http_param *params,
                     size_t n, struct noa_buf *body)
{
    struct noa_buf url = {0};
    struct noa_http_client_response resp = {0};
    int rc = NOA_EUNAVAIL;
    int64_t attempts = h->retries + 1;
    int64_t backoff_s = h->min_backoff_s;

    noa_cli_http_url(&url, h->addr, path, params, n);
    if (!h->quiet)
        fprintf(stderr, "%s%s\n", noa_cli_http_logprefix(), noa_buf_cstr(&url));
    while (attempts > 0) {
        attempts--;
        struct noa_http_client_request req = {
            .url = noa_buf_cstr(&url),
            .headers = (const char *const *)h->headers,
            .n_headers = h->n_headers,
            .connect_timeout_ms = 10000,
            .tls = &h->tls,
        };
        noa_http_client_response_fini(&resp);
        int r = noa_http_client_do(h->client, &req, &resp);
        if (r < 0) {
            fprintf(stderr, "%serror sending request Get \"%s\": %s\n", noa_cli_http_logprefix(),
                    noa_buf_cstr(&url), resp.error[0] ? resp.error : noa_strerror(r));
        } else if (resp.status / 100 != 2) {
            fprintf(stderr, "%sError response from server: %.*s (<nil>) attempts remaining: %lld\n",
                    noa_cli_http_logprefix(), (int)resp.body.len,
                    resp.body.data ? resp.body.data : "", (long long)attempts);
        } else {
            noa_buf_append(body, resp.body.data, resp.body.len);
            rc = 0;
            break;
        }
        if (attempts > 0 && backoff_s > 0) {
            /* dskit's backoff: doubling from --min-backoff to --max-backoff. */
            struct timespec ts = {(time_t)backoff_s, 0};
            nanosleep(&ts, NULL);
            backoff_s = backoff_s * 2 > h->max_backoff_s ? h->max_backoff_s : backoff_s * 2;
        }
    }
    noa_http_client_response_fini(&resp);
    noa_buf_fini(&url);
    return rc;
}
