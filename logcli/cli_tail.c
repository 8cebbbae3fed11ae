/*
 * noa-logcli's live tail (see cli_tail.h): a blocking RFC 6455 client on a
 * plain TCP socket, using common/websocket.h's pure frame helpers, and
 * logcli's TailQuery printing. Owns its socket. Main thread.
 */
#include "logcli/cli_tail.h"

#include "common/err.h"
#include "common/mem.h"
#include "common/websocket.h"
#include "logcli/cli_http.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Largest message accepted from the server (Loki's own limit is 10 MB). */
#define MAX_MESSAGE ((uint64_t)64 << 20)
/* Largest handshake response head. */
#define MAX_HEAD 65536
/* logcli's reconnection attempts after an abnormal closure. */
#define MAX_RECONNECTS 5

static int in_list(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(name, list[i]))
            return 1;
    return 0;
}

/* Go's time.Time.String() in local time: "2006-01-02 15:04:05.999999999 -0700 MST". */
static void go_time_string(struct noa_buf *out, int64_t ts)
{
    time_t sec = (time_t)(ts / 1000000000);
    long ns = (long)(ts % 1000000000);
    struct tm tm;
    if (ns < 0) {
        ns += 1000000000;
        sec--;
    }
    localtime_r(&sec, &tm);
    noa_buf_printf(out, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (ns) {
        char frac[16];
        snprintf(frac, sizeof(frac), "%09ld", ns);
        size_t k = 9;
        while (k && frac[k - 1] == '0')
            k--;
        noa_buf_printf(out, ".%.*s", (int)k, frac);
    }
    long off = tm.tm_gmtoff;
    char sign = off < 0 ? '-' : '+';
    off = off < 0 ? -off : off;
    noa_buf_printf(out, " %c%02ld%02ld %s", sign, off / 3600, (off / 60) % 60,
                   tm.tm_zone ? tm.tm_zone : "");
}

size_t noa_cli_tail_print(const struct noa_cli_query_opts *o, const struct noa_cli_query_result *r,
                          const char *log_prefix, struct noa_buf *out, struct noa_buf *meta,
                          int64_t *last_ts)
{
    size_t printed = 0;
    for (size_t s = 0; s < r->n_streams; s++) {
        const struct noa_cli_labels *src = &r->streams[s];
        struct noa_cli_labels ls = {noa_xcalloc(src->n + 1, sizeof(char *)),
                                    noa_xcalloc(src->n + 1, sizeof(char *)), 0};
        for (size_t i = 0; i < src->n; i++) {
            if (o->n_include && !in_list(src->names[i], o->include, o->n_include))
                continue;
            if (o->n_exclude && in_list(src->names[i], o->exclude, o->n_exclude))
                continue;
            ls.names[ls.n] = src->names[i];
            ls.values[ls.n++] = src->values[i];
        }
        /* Entries keep the server's order within the message. */
        for (size_t k = 0; k < r->n_entries; k++) {
            const struct noa_cli_query_entry *e = &r->entries[k];
            if (e->stream != s)
                continue;
            noa_cli_output_entry(out, &o->out, e->ts_ns, &ls, 0, e->line, e->line_len);
            *last_ts = e->ts_ns;
            printed++;
        }
        noa_free(ls.names);
        noa_free(ls.values);
    }
    if (r->n_dropped) {
        noa_buf_printf(meta, "%sServer dropped following entries due to slow client\n", log_prefix);
        for (size_t i = 0; i < r->n_dropped; i++) {
            noa_buf_printf(meta, "%s", log_prefix);
            go_time_string(meta, r->dropped[i].ts_ns);
            noa_buf_printf(meta, " %s\n", r->dropped[i].labels ? r->dropped[i].labels : "{}");
        }
    }
    return printed;
}

/* Splits http://host[:port][/prefix] into its parts. */
static int split_addr(const char *addr, char *host, size_t hn, char *port, size_t pn,
                      const char **prefix, struct noa_buf *err)
{
    const char *p;
    if (!strncmp(addr, "http://", 7)) {
        p = addr + 7;
    } else {
        noa_buf_printf(err, "only http:// addresses can be tailed by noa-logcli, got %s", addr);
        return NOA_EUNSUPP;
    }
    size_t n = strcspn(p, "/");
    const char *colon = memchr(p, ':', n);
    size_t hl = colon ? (size_t)(colon - p) : n;
    size_t pl = colon ? n - hl - 1 : 2;
    if (hl == 0 || hl >= hn || pl >= pn || pl == 0) {
        noa_buf_printf(err, "invalid address %s", addr);
        return NOA_EINVAL;
    }
    memcpy(host, p, hl);
    host[hl] = 0;
    if (colon) {
        memcpy(port, colon + 1, pl);
        port[pl] = 0;
    } else {
        snprintf(port, pn, "80");
    }
    *prefix = p + n;
    return 0;
}

static int dial(const char *host, const char *port, struct noa_buf *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int g = getaddrinfo(host, port, &hints, &res);
    int fd = -1, rc = NOA_EUNAVAIL;
    if (g != 0) {
        noa_buf_printf(err, "dial tcp: lookup %s: %s", host, gai_strerror(g));
        return NOA_EUNAVAIL;
    }
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            rc = fd;
            break;
        }
        rc = -errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (rc < 0)
        noa_buf_printf(err, "dial tcp %s:%s: connect: %s", host, port, strerror(-rc == 0 ? ECONNREFUSED : -rc));
    return rc < 0 ? NOA_EUNAVAIL : rc;
}

static int write_all_fd(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -ECONNRESET;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void random_bytes(uint8_t *p, size_t n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec * 6364136223846793005ULL ^ (uint64_t)getpid() ^ (uint64_t)ts.tv_sec;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

static void base64_16(const uint8_t *in, char out[25])
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < 16; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < 16 ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < 16 ? in[i + 2] : 0);
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < 16 ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < 16 ? tab[v & 63] : '=';
    }
    out[o] = 0;
}

/* Connects and upgrades; returns the socket or a negative code. */
static int open_tail(const struct noa_cli_tail_opts *t, int64_t start, struct noa_buf *err)
{
    char host[256], port[16], lim[32], st[32], delay[32], key[25];
    const char *prefix;
    struct noa_buf req = {0}, url = {0}, head = {0};
    uint8_t nonce[16];
    int fd = -1, rc;

    if ((rc = split_addr(t->addr, host, sizeof(host), port, sizeof(port), &prefix, err)) < 0)
        return rc;
    snprintf(lim, sizeof(lim), "%lld", (long long)t->limit);
    snprintf(st, sizeof(st), "%lld", (long long)start);
    snprintf(delay, sizeof(delay), "%lld", (long long)t->delay_for_s);
    struct noa_cli_http_param p[] = {
        {"query", t->logql}, {"delay_for", delay}, {"limit", lim}, {"start", st}};
    noa_cli_http_url(&url, "", "", p, 4);
    if (!t->quiet)
        fprintf(stderr, "%sws://%s:%s%s/loki/api/v1/tail%s\n", t->prefix_cb(), host, port, prefix,
                noa_buf_cstr(&url));
    if ((fd = dial(host, port, err)) < 0) {
        rc = fd;
        goto fail;
    }
    random_bytes(nonce, sizeof(nonce));
    base64_16(nonce, key);
    noa_buf_printf(&req,
                   "GET %s/loki/api/v1/tail%s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n",
                   prefix, noa_buf_cstr(&url), host, port, key);
    for (size_t i = 0; i < t->n_headers; i++)
        noa_buf_printf(&req, "%s\r\n", t->headers[i]);
    noa_buf_printf(&req, "\r\n");
    if ((rc = write_all_fd(fd, req.data, req.len)) < 0) {
        noa_buf_printf(err, "websocket: %s", strerror(-rc));
        goto fail;
    }
    /* Read byte by byte up to the blank line: frames may follow at once. */
    while (head.len < MAX_HEAD) {
        char c;
        ssize_t r = recv(fd, &c, 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        noa_buf_putc(&head, c);
        if (head.len >= 4 && !memcmp(head.data + head.len - 4, "\r\n\r\n", 4))
            break;
    }
    char want[NOA_WEBSOCKET_ACCEPT_LEN];
    noa_websocket_accept_key(noa_str_c(key), want);
    const char *h = noa_buf_cstr(&head);
    if (strncmp(h, "HTTP/1.1 101", 12) != 0 || !strcasestr(h, want)) {
        /* Show the status line and whatever body came with the refusal. */
        char body[512] = "";
        ssize_t r = recv(fd, body, sizeof(body) - 1, MSG_DONTWAIT);
        body[r > 0 ? r : 0] = 0;
        noa_buf_printf(err, "websocket: bad handshake (%.*s%s%s)", (int)strcspn(h, "\r\n"), h,
                       *body ? ": " : "", body);
        rc = NOA_EINVAL;
        goto fail;
    }
    noa_buf_fini(&req);
    noa_buf_fini(&url);
    noa_buf_fini(&head);
    return fd;
fail:
    if (fd >= 0)
        close(fd);
    noa_buf_fini(&req);
    noa_buf_fini(&url);
    noa_buf_fini(&head);
    return rc;
}

static int send_frame(int fd, int opcode, const void *payload, size_t len)
{
    struct noa_buf b = {0};
    uint8_t mask[4];
    random_bytes(mask, sizeof(mask));
    noa_websocket_put_frame(&b, opcode, payload, len, mask);
    int rc = write_all_fd(fd, b.data, b.len);
    noa_buf_fini(&b);
    return rc;
}

static void flush_out(struct noa_buf *out, struct noa_buf *meta)
{
    if (meta->len)
        fwrite(meta->data, 1, meta->len, stderr);
    if (out->len)
        fwrite(out->data, 1, out->len, stdout);
    fflush(stderr);
    fflush(stdout);
    out->len = meta->len = 0;
}

/*
 * Reads frames until a close frame (returns its code, 1005 without one)
 * or the connection ends (returns 1006); prints each text message.
 */
static int follow(int fd, const struct noa_cli_tail_opts *t, int64_t *last_ts, struct noa_buf *err)
{
    struct noa_buf in = {0}, msg = {0}, out = {0}, meta = {0};
    int code = 1006;
    for (;;) {
        struct noa_websocket_frame f;
        int rc = noa_websocket_parse_header((const uint8_t *)in.data, in.len, 0, MAX_MESSAGE, &f);
        if (rc < 0) {
            noa_buf_printf(err, "websocket: protocol error %d", -rc);
            code = -rc;
            break;
        }
        if (rc == 0 || in.len - f.header_len < f.len) {
            char tmp[65536];
            ssize_t r = recv(fd, tmp, sizeof(tmp), 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break; /* 1006: ended without a close frame */
            noa_buf_append(&in, tmp, (size_t)r);
            continue;
        }
        const char *p = in.data + f.header_len;
        size_t n = (size_t)f.len;
        if (f.opcode == NOA_WEBSOCKET_PING) {
            (void)send_frame(fd, NOA_WEBSOCKET_PONG, p, n);
        } else if (f.opcode == NOA_WEBSOCKET_CLOSE) {
            code = n >= 2 ? ((unsigned char)p[0] << 8 | (unsigned char)p[1]) : 1005;
            uint8_t c[2] = {(uint8_t)(code >> 8), (uint8_t)code};
            (void)send_frame(fd, NOA_WEBSOCKET_CLOSE, c, code == 1005 ? 0 : 2);
            break;
        } else if (f.opcode != NOA_WEBSOCKET_PONG) {
            if (msg.len + n > MAX_MESSAGE) {
                noa_buf_printf(err, "websocket: message too big");
                code = 1009;
                break;
            }
            noa_buf_append(&msg, p, n);
            if (f.fin) {
                struct noa_cli_query_result r = {0};
                if (noa_cli_query_parse_tail(msg.data ? msg.data : "", msg.len, &r, err) == 0)
                    noa_cli_tail_print(t->query, &r, t->prefix_cb(), &out, &meta, last_ts);
                else
                    err->len = 0; /* a message we cannot read is skipped, not fatal */
                noa_cli_query_result_fini(&r);
                msg.len = 0;
                flush_out(&out, &meta);
            }
        }
        size_t used = f.header_len + n;
        memmove(in.data, in.data + used, in.len - used);
        in.len -= used;
    }
    noa_buf_fini(&in);
    noa_buf_fini(&msg);
    noa_buf_fini(&out);
    noa_buf_fini(&meta);
    return code;
}

int noa_cli_tail_run(const struct noa_cli_tail_opts *t, struct noa_buf *err)
{
    const struct noa_cli_query_opts *o = t->query;
    struct noa_buf meta = {0}, out = {0};
    int64_t last_ts = t->start_ns;
    int tries = 0;

    if (!t->quiet && o->n_exclude) {
        noa_buf_printf(&meta, "%sIgnoring labels key: ", t->prefix_cb());
        for (size_t i = 0; i < o->n_exclude; i++)
            noa_buf_printf(&meta, "%s%s", i ? "," : "", o->exclude[i]);
        noa_buf_putc(&meta, '\n');
    }
    if (!t->quiet && o->n_include) {
        noa_buf_printf(&meta, "%sPrint only labels key: ", t->prefix_cb());
        for (size_t i = 0; i < o->n_include; i++)
            noa_buf_printf(&meta, "%s%s", i ? "," : "", o->include[i]);
        noa_buf_putc(&meta, '\n');
    }
    int fd = open_tail(t, t->start_ns, err);
    if (fd < 0)
        goto done;
    flush_out(&out, &meta);
    for (;;) {
        int code = follow(fd, t, &last_ts, err);
        close(fd);
        fd = -1;
        if (code != 1006) {
            if (code != 1000 && code != 1005)
                fprintf(stderr, "%sError reading stream: websocket: close %d\n", t->prefix_cb(),
                        code);
            break;
        }
        fprintf(stderr,
                "%sRemote websocket connection closed unexpectedly (websocket: close 1006 "
                "(abnormal closure): unexpected EOF). Connecting again.\n",
                t->prefix_cb());
        /* logcli reconnects from the last timestamp it printed. */
        for (fd = -1; fd < 0 && tries < MAX_RECONNECTS; tries++) {
            struct timespec ts = {tries ? 1 << (tries - 1) : 0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
            err->len = 0;
            fd = open_tail(t, last_ts, err);
        }
        if (fd < 0)
            goto done;
    }
    fd = 0;
done:
    noa_buf_fini(&meta);
    noa_buf_fini(&out);
    return fd < 0 ? fd : 0;
}
