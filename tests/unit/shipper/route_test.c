/*
 * Tests for shipper/route.c against a real loopback HTTP server (one
 * thread per connection; answers scripted per tenant; lines of accepted
 * requests decoded and kept): positions advance only after the server
 * accepted, 500s hold them back, two tenants in one source, held entries
 * cap the position, and backpressure stashes without loss or duplicates.
 */
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/pushproto.h"
#include "shipper/positions.h"
#include "shipper/route.h"
#include "shipper/tailer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- the server ---- */

#define MAXLINES 20000
#define MAXCONN 32

struct srv {
    int lfd, port;
    pthread_t th, conns[MAXCONN];
    int cfds[MAXCONN], n_conns;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int hold;              /* answers wait while set */
    int status;            /* 0 = 204 */
    char fail_tenant[32];  /* this tenant gets 500 */
    char *lines[MAXLINES]; /* "tenant|labels|line" of accepted entries */
    int n_lines;
    int n_req;
};

static void srv_record(struct srv *s, const char *tenant, const char *body, size_t n)
{
    struct noa_buf scratch = {0};
    struct noa_push_request req;
    struct noa_error err = {0};
    assert_int_equal(noa_pushproto_decode_snappy(body, n, NULL, &scratch, &req, &err), 0);
    for (uint32_t i = 0; i < req.n_streams; i++) {
        for (uint32_t k = 0; k < req.streams[i].n_entries; k++) {
            char tmp[1024];
            snprintf(tmp, sizeof tmp, "%s|%.*s|%.*s", tenant, (int)req.streams[i].labels.len,
                     req.streams[i].labels.p, (int)req.streams[i].entries[k].line.len,
                     req.streams[i].entries[k].line.p);
            if (s->n_lines < MAXLINES)
                s->lines[s->n_lines++] = strdup(tmp);
        }
    }
    noa_push_request_fini(&req);
    noa_buf_fini(&scratch);
}

static void *conn_main(void *arg)
{
    struct srv *s = ((void **)arg)[0];
    int fd = (int)(intptr_t)((void **)arg)[1];
    free(arg);
    size_t cap = 1 << 16, have = 0;
    char *buf = malloc(cap);
    for (;;) {
        char *end;
        while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
            if (have == cap)
                buf = realloc(buf, cap *= 2);
            ssize_t r = read(fd, buf + have, cap - have);
            if (r <= 0)
                goto done;
            have += (size_t)r;
        }
        size_t hl = (size_t)(end - buf) + 4, cl = 0;
        char *head = strndup(buf, hl);
        char *p = strcasestr(head, "Content-Length:");
        if (p)
            cl = strtoul(p + 15, NULL, 10);
        char tenant[64] = "";
        p = strcasestr(head, "X-Scope-OrgID: ");
        if (p)
            sscanf(p + 15, "%63[^\r]", tenant);
        free(head);
        while (have < hl + cl) {
            if (have == cap)
                buf = realloc(buf, cap *= 2);
            ssize_t r = read(fd, buf + have, cap - have);
            if (r <= 0)
                goto done;
            have += (size_t)r;
        }
        pthread_mutex_lock(&s->mu);
        while (s->hold)
            pthread_cond_wait(&s->cv, &s->mu);
        int status = s->status ? s->status : 204;
        if (s->fail_tenant[0] && strcmp(s->fail_tenant, tenant) == 0)
            status = 500;
        if (status / 100 == 2)
            srv_record(s, tenant, buf + hl, cl);
        s->n_req++;
        pthread_mutex_unlock(&s->mu);
        char resp[128];
        int n = snprintf(resp, sizeof resp, "HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n", status);
        if (write(fd, resp, (size_t)n) != n)
            goto done;
        memmove(buf, buf + hl + cl, have - hl - cl);
        have -= hl + cl;
    }
done:
    free(buf);
    return NULL;
}

static void *accept_main(void *arg)
{
    struct srv *s = arg;
    for (;;) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            return NULL;
        pthread_mutex_lock(&s->mu);
        if (s->n_conns == MAXCONN) {
            pthread_mutex_unlock(&s->mu);
            close(fd);
            continue;
        }
        void **a = malloc(2 * sizeof(void *));
        a[0] = s;
        a[1] = (void *)(intptr_t)fd;
        s->cfds[s->n_conns] = fd;
        pthread_create(&s->conns[s->n_conns++], NULL, conn_main, a);
        pthread_mutex_unlock(&s->mu);
    }
}

static void srv_start(struct srv *s)
{
    memset(s, 0, sizeof(*s));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->lfd, 16), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->th, NULL, accept_main, s);
}

static void srv_set(struct srv *s, int hold, int status, const char *fail_tenant)
{
    pthread_mutex_lock(&s->mu);
    s->hold = hold;
    s->status = status;
    snprintf(s->fail_tenant, sizeof s->fail_tenant, "%s", fail_tenant ? fail_tenant : "");
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void srv_stop(struct srv *s)
{
    srv_set(s, 0, 0, NULL);
    shutdown(s->lfd, SHUT_RDWR);
    pthread_join(s->th, NULL);
    close(s->lfd);
    for (int i = 0; i < s->n_conns; i++) {
        shutdown(s->cfds[i], SHUT_RDWR);
        pthread_join(s->conns[i], NULL);
        close(s->cfds[i]);
    }
    for (int i = 0; i < s->n_lines; i++)
        free(s->lines[i]);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}

static int srv_lines(struct srv *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->n_lines;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static int srv_count(struct srv *s, const char *rec)
{
    int n = 0;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n_lines; i++)
        if (strcmp(s->lines[i], rec) == 0)
            n++;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ---- commits ---- */

struct commits {
    pthread_mutex_t mu;
    char src[8][64];
    uint64_t off[8];
    int n_src;
    int calls;
};

static int on_commit(void *ud, struct noa_str source, uint64_t offset)
{
    struct commits *c = ud;
    pthread_mutex_lock(&c->mu);
    int i;
    for (i = 0; i < c->n_src; i++)
        if (strlen(c->src[i]) == source.len && memcmp(c->src[i], source.p, source.len) == 0)
            break;
    if (i == c->n_src) {
        snprintf(c->src[i], sizeof c->src[i], "%.*s", (int)source.len, source.p);
        c->n_src++;
    } else if (offset <= c->off[i]) {
        fail_msg("commit went backwards or repeated: %llu after %llu", (unsigned long long)offset,
                 (unsigned long long)c->off[i]);
    }
    c->off[i] = offset;
    c->calls++;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static uint64_t committed(struct commits *c, const char *src)
{
    uint64_t v = 0;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->n_src; i++)
        if (strcmp(c->src[i], src) == 0)
            v = c->off[i];
    pthread_mutex_unlock(&c->mu);
    return v;
}

/* Ticks the router until src is committed at want (deadline 15 s). */
static void wait_commit(struct noa_route *r, struct commits *c, const char *src, uint64_t want)
{
    int64_t end = noa_clock_mono_ns() + 15LL * 1000000000LL;
    while (noa_clock_mono_ns() < end) {
        noa_route_tick(r);
        if (committed(c, src) == want)
            return;
        usleep(5000);
    }
    fail_msg("%s committed at %llu, want %llu", src, (unsigned long long)committed(c, src),
             (unsigned long long)want);
}

static struct noa_route *mkroute(struct srv *s, struct commits *c, size_t queue_bytes)
{
    static char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/loki/api/v1/push", s->port);
    struct noa_client_config cc = {.url = url,
                                   .batch_wait_ms = 20,
                                   .min_backoff_ms = 20,
                                   .max_backoff_ms = 100,
                                   .queue_bytes = queue_bytes};
    struct noa_route_config rc = {
        .clients = &cc, .n_clients = 1, .commit = on_commit, .commit_ud = c};
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    struct noa_route *r;
    assert_int_equal(noa_route_new(&rc, &r), 0);
    return r;
}

/* One line of source src ending at off, through the router. */
static int feed(struct noa_route *r, const char *src, uint64_t off, const char *line,
                const char *tenant, int holding, int add)
{
    struct noa_entry e;
    noa_entry_init(&e);
    noa_kvlist_set(&e.labels, noa_str_c("job"), noa_str_c("varlogs"));
    if (tenant)
        noa_kvlist_set(&e.labels, noa_str_c("__tenant_id__"), noa_str_c(tenant));
    noa_buf_append(&e.line, line, strlen(line));
    noa_buf_append(&e.source, src, strlen(src));
    e.offset = off;
    e.ts_ns = 1700000000000000000LL + (int64_t)off;
    int rc = add ? noa_route_add(r, &e) : 0;
    noa_route_line_done(r, noa_str_c(src), off, holding);
    noa_entry_fini(&e);
    return rc;
}

static void test_acks_advance_after_accept(void **state)
{
    (void)state;
    struct srv s;
    struct commits c;
    srv_start(&s);
    srv_set(&s, 1, 0, NULL); /* the server holds its answers */
    struct noa_route *r = mkroute(&s, &c, 0);
    for (int i = 1; i <= 5; i++) {
        char line[32];
        snprintf(line, sizeof line, "line %d", i);
        assert_int_equal(feed(r, "/f.log", (uint64_t)i * 10, line, NULL, 0, 1), 0);
    }
    for (int i = 0; i < 20; i++) {
        noa_route_tick(r);
        usleep(5000);
    }
    assert_int_equal(c.calls, 0); /* nothing accepted yet: nothing committed */
    uint64_t safe;
    assert_int_equal(noa_route_safe(r, noa_str_c("/f.log"), &safe), NOA_ENOTFOUND);
    srv_set(&s, 0, 0, NULL);
    wait_commit(r, &c, "/f.log", 50);
    assert_int_equal(srv_lines(&s), 5);
    assert_int_equal(srv_count(&s, "|{job=\"varlogs\"}|line 3"), 1);
    /* a dropped line after that advances the position by itself */
    feed(r, "/f.log", 60, "dropped", NULL, 0, 0);
    wait_commit(r, &c, "/f.log", 60);
    noa_route_free(r);
    srv_stop(&s);
}

/* The label memo (recent sets in entry order) in front of the hash cache:
 * sets that alternate, the same set in another order, a set whose value
 * is a prefix of another's, and more sets than the cache keeps (it is
 * cleared and the memos must forget the texts it freed). Every line must
 * arrive with exactly its own labels. */
static void test_label_memo(void **state)
{
    (void)state;
    struct srv s;
    struct commits c;
    srv_start(&s);
    static char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/loki/api/v1/push", s.port);
    struct noa_client_config cc = {
        .url = url, .batch_wait_ms = 20, .min_backoff_ms = 20, .max_backoff_ms = 100};
    struct noa_route_config rc = {.clients = &cc,
                                  .n_clients = 1,
                                  .commit = on_commit,
                                  .commit_ud = &c,
                                  .label_cache = 16};
    memset(&c, 0, sizeof(c));
    pthread_mutex_init(&c.mu, NULL);
    struct noa_route *r;
    assert_int_equal(noa_route_new(&rc, &r), 0);
    const char *streams[] = {"stdout", "stderr", "std", ""};
    uint64_t off = 0;
    int n = 0;
    for (int round = 0; round < 2; round++) {
        for (int set = 0; set < 40; set++) {
            for (int k = 0; k < 4; k++) {
                struct noa_entry e;
                noa_entry_init(&e);
                char job[16];
                snprintf(job, sizeof job, "j%d", set);
                if ((k + round) & 1) {
                    noa_kvlist_append(&e.labels, noa_str_c("stream"), noa_str_c(streams[k]));
                    noa_kvlist_append(&e.labels, noa_str_c("job"), noa_str_c(job));
                } else {
                    noa_kvlist_append(&e.labels, noa_str_c("job"), noa_str_c(job));
                    noa_kvlist_append(&e.labels, noa_str_c("stream"), noa_str_c(streams[k]));
                }
                char line[64];
                snprintf(line, sizeof line, "r%d s%d k%d", round, set, k);
                noa_buf_append(&e.line, line, strlen(line));
                noa_buf_append(&e.source, "/m.log", 6);
                off += 10;
                e.offset = off;
                e.ts_ns = 1700000000000000000LL + (int64_t)off;
                assert_int_equal(noa_route_add(r, &e), 0);
                noa_route_line_done(r, noa_str_c("/m.log"), off, 0);
                noa_entry_fini(&e);
                n++;
            }
        }
    }
    wait_commit(r, &c, "/m.log", off);
    assert_int_equal(srv_lines(&s), n);
    for (int round = 0; round < 2; round++) {
        for (int set = 0; set < 40; set++) {
            for (int k = 0; k < 4; k++) {
                char rec[160];
                if (streams[k][0])
                    snprintf(rec, sizeof rec, "|{job=\"j%d\", stream=\"%s\"}|r%d s%d k%d", set,
                             streams[k], round, set, k);
                else /* an empty value is no label */
                    snprintf(rec, sizeof rec, "|{job=\"j%d\"}|r%d s%d k%d", set, round, set, k);
                assert_int_equal(srv_count(&s, rec), 1);
            }
        }
    }
    noa_route_free(r);
    srv_stop(&s);
}

static void test_500_holds_back(void **state)
{
    (void)state;
    struct srv s;
    struct commits c;
    srv_start(&s);
    struct noa_route *r = mkroute(&s, &c, 0);
    feed(r, "/g.log", 5, "first", NULL, 0, 1);
    wait_commit(r, &c, "/g.log", 5);
    srv_set(&s, 0, 500, NULL);
    for (int i = 2; i <= 10; i++) {
        char line[32];
        snprintf(line, sizeof line, "l%d", i);
        feed(r, "/g.log", (uint64_t)i * 5, line, NULL, 0, 1);
    }
    for (int i = 0; i < 40; i++) {
        noa_route_tick(r);
        usleep(5000);
    }
    assert_int_equal(committed(&c, "/g.log"), 5); /* the 500s hold it back */
    pthread_mutex_lock(&s.mu);
    int n_req = s.n_req;
    pthread_mutex_unlock(&s.mu);
    assert_true(n_req >= 2); /* the client retried */
    srv_set(&s, 0, 0, NULL);
    wait_commit(r, &c, "/g.log", 50);
    assert_int_equal(srv_lines(&s), 10);
    for (int i = 2; i <= 10; i++) {
        char rec[64];
        snprintf(rec, sizeof rec, "|{job=\"varlogs\"}|l%d", i);
        assert_int_equal(srv_count(&s, rec), 1);
    }
    noa_route_free(r);
    srv_stop(&s);
}

static void test_two_tenants(void **state)
{
    (void)state;
    struct srv s;
    struct commits c;
    srv_start(&s);
    srv_set(&s, 0, 0, "b");
    struct noa_route *r = mkroute(&s, &c, 0);
    feed(r, "/t.log", 10, "a1", "a", 0, 1);
    wait_commit(r, &c, "/t.log", 10);
    feed(r, "/t.log", 20, "b1", "b", 0, 1);
    feed(r, "/t.log", 30, "a2", "a", 0, 1);
    feed(r, "/t.log", 40, "b2", "b", 0, 1);
    feed(r, "/t.log", 50, "a3", "a", 0, 1);
    /* tenant a is delivered; b fails, so the file's position waits for b */
    int64_t end = noa_clock_mono_ns() + 10LL * 1000000000LL;
    while (srv_count(&s, "a|{job=\"varlogs\"}|a3") == 0 && noa_clock_mono_ns() < end)
        usleep(5000);
    assert_int_equal(srv_count(&s, "a|{job=\"varlogs\"}|a3"), 1);
    for (int i = 0; i < 20; i++) {
        noa_route_tick(r);
        usleep(5000);
    }
    assert_int_equal(committed(&c, "/t.log"), 10);
    srv_set(&s, 0, 0, NULL);
    wait_commit(r, &c, "/t.log", 50);
    assert_int_equal(srv_count(&s, "b|{job=\"varlogs\"}|b1"), 1);
    assert_int_equal(srv_count(&s, "b|{job=\"varlogs\"}|b2"), 1);
    assert_int_equal(srv_count(&s, "a|{job=\"varlogs\"}|a2"), 1);
    assert_int_equal(srv_lines(&s), 5); /* and the tenant label is never sent */
    noa_route_free(r);
    srv_stop(&s);
}

static int holds_answer, holds_asked;

static int still_holding(void *ud, struct noa_str source)
{
    (void)ud;
    assert_true(noa_str_eq_c(source, "/m.log"));
    holds_asked++;
    return holds_answer;
}

static void test_held_entries_cap_position(void **state)
{
    (void)state;
    struct srv s;
    struct commits c;
    srv_start(&s);
    struct noa_route *r = mkroute(&s, &c, 0);
    feed(r, "/m.log", 10, "single", NULL, 0, 1);
    wait_commit(r, &c, "/m.log", 10);
    /* a multiline block starts: lines 20 and 30 are held by a stage */
    feed(r, "/m.log", 20, "", NULL, 1, 0);
    feed(r, "/m.log", 30, "", NULL, 1, 0);
    for (int i = 0; i < 20; i++) {
        noa_route_tick(r);
        usleep(5000);
    }
    assert_int_equal(committed(&c, "/m.log"), 10);
    uint64_t safe;
    assert_int_equal(noa_route_safe(r, noa_str_c("/m.log"), &safe), 0);
    assert_int_equal(safe, 10);
    /* line 40 releases the block (offset 30) and is held itself */
    feed(r, "/m.log", 30, "block 20-30", NULL, 1, 1);
    feed(r, "/m.log", 40, "", NULL, 1, 0);
    for (int i = 0; i < 20; i++) {
        noa_route_tick(r);
        usleep(5000);
    }
    assert_int_equal(committed(&c, "/m.log"), 10);
    /* a flush releases the last block: nothing is held any more */
    feed(r, "/m.log", 40, "block 40", NULL, 0, 1);
    wait_commit(r, &c, "/m.log", 40);
    assert_int_equal(srv_lines(&s), 3);
    /* a block released by a stage's tick: refresh_holds clears the hold */
    feed(r, "/m.log", 50, "", NULL, 1, 0);
    feed(r, "/m.log", 60, "", NULL, 1, 0);
    holds_answer = 1;
    noa_route_refresh_holds(r, still_holding, NULL);
    for (int i = 0; i < 10; i++) {
        noa_route_tick(r);
        usleep(5000);
    }
    assert_int_equal(committed(&c, "/m.log"), 40);
    assert_int_equal(holds_asked, 1);
    struct noa_entry e;
    noa_entry_init(&e);
    noa_kvlist_set(&e.labels, noa_str_c("job"), noa_str_c("varlogs"));
    noa_buf_append(&e.line, "block 50-60", 11);
    noa_buf_append(&e.source, "/m.log", 6);
    e.offset = 60;
    assert_int_equal(noa_route_add(r, &e), 0);
    noa_entry_fini(&e);
    holds_answer = 0;
    noa_route_refresh_holds(r, still_holding, NULL);
    wait_commit(r, &c, "/m.log", 60);
    assert_int_equal(srv_count(&s, "|{job=\"varlogs\"}|block 50-60"), 1);
    noa_route_free(r);
    srv_stop(&s);
}

static void test_backpressure_stash(void **state)
{
    (void)state;
    struct srv s;
    struct commits c;
    srv_start(&s);
    srv_set(&s, 1, 0, NULL);
    struct noa_route *r = mkroute(&s, &c, 4096); /* a tiny queue */
    int n = 0, refused = 0;
    char line[128];
    uint64_t off = 0;
    /* the reader's protocol: ask blocked() before each line */
    while (n < 400) {
        if (noa_route_blocked(r, noa_str_c("/bp.log"))) {
            refused++;
            if (refused == 1) {
                uint64_t safe = 0;
                if (noa_route_safe(r, noa_str_c("/bp.log"), &safe) == 0)
                    assert_true(safe < off);
                srv_set(&s, 0, 0, NULL); /* the server comes back */
            }
            usleep(2000);
            continue;
        }
        snprintf(line, sizeof line, "bp %04d %s", n, "padding padding padding padding");
        off += strlen(line) + 1;
        feed(r, "/bp.log", off, line, NULL, 0, 1);
        n++;
    }
    assert_true(refused > 0);
    wait_commit(r, &c, "/bp.log", off);
    assert_int_equal(srv_lines(&s), 400);
    for (int i = 0; i < 400; i += 37) {
        char rec[160];
        snprintf(rec, sizeof rec, "|{job=\"varlogs\"}|bp %04d %s", i,
                 "padding padding padding padding");
        assert_int_equal(srv_count(&s, rec), 1);
    }
    struct noa_route_stats st;
    noa_route_stats(r, &st);
    assert_true(st.stashed > 0);
    noa_route_free(r);
    srv_stop(&s);
}

static void test_source_end_forgets(void **state)
{
    (void)state;
    struct srv s;
    struct commits c;
    srv_start(&s);
    struct noa_route *r = mkroute(&s, &c, 0);
    feed(r, "/e.log", 7, "x", NULL, 0, 1);
    noa_route_source_end(r, noa_str_c("/e.log"));
    wait_commit(r, &c, "/e.log", 7);
    for (int i = 0; i < 5; i++)
        noa_route_tick(r);
    struct noa_route_stats st;
    noa_route_stats(r, &st);
    assert_int_equal(st.sources, 0);
    assert_int_equal(noa_route_stop(r, 1000), 0);
    struct noa_entry e;
    noa_entry_init(&e);
    noa_kvlist_set(&e.labels, noa_str_c("job"), noa_str_c("x"));
    assert_int_equal(noa_route_add(r, &e), NOA_EUNAVAIL);
    noa_entry_fini(&e);
    noa_route_free(r);
    srv_stop(&s);
}

/* ---- the tailer wired to the router, as shipper.c does it ---- */

struct wiring {
    struct noa_route *r;
    struct noa_tailer *t;
    struct noa_entry e;
};

static int w_on_line(void *ud, const struct noa_tailer_file *f, struct noa_str line,
                     uint64_t offset, int64_t read_ns)
{
    struct wiring *w = ud;
    struct noa_str src = {f->path, f->path_len};
    if (noa_route_blocked(w->r, src))
        return NOA_ELIMIT;
    noa_entry_reset(&w->e);
    for (uint32_t i = 0; i < f->n_labels; i++)
        noa_kvlist_set(&w->e.labels, f->labels[i].name, f->labels[i].value);
    noa_buf_append(&w->e.line, line.p, line.len);
    noa_buf_append(&w->e.source, src.p, src.len);
    w->e.offset = offset;
    w->e.ts_ns = read_ns;
    noa_route_add(w->r, &w->e); /* an empty pipeline: every line passes */
    noa_route_line_done(w->r, src, offset, 0);
    return 0;
}

static void w_on_tick(void *ud, int64_t now)
{
    struct wiring *w = ud;
    (void)now;
    noa_route_tick(w->r);
}

static int w_commit(void *ud, struct noa_str source, uint64_t offset)
{
    struct wiring *w = ud;
    return noa_tailer_commit(w->t, source, offset);
}

static void run_wired(struct srv *s, struct noa_positions *pos, const char *glob,
                      int64_t until_lines)
{
    static char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/loki/api/v1/push", s->port);
    struct wiring w = {0};
    noa_entry_init(&w.e);
    struct noa_client_config cc = {
        .url = url, .batch_wait_ms = 20, .min_backoff_ms = 20, .max_backoff_ms = 100};
    struct noa_route_config rc = {
        .clients = &cc, .n_clients = 1, .commit = w_commit, .commit_ud = &w};
    assert_int_equal(noa_route_new(&rc, &w.r), 0);
    struct noa_tailer_config tc = {.positions = pos, .tick_period_ns = 20LL * 1000000};
    struct noa_tailer_callbacks cb = {.on_line = w_on_line, .on_tick = w_on_tick, .ud = &w};
    assert_int_equal(noa_tailer_new(&tc, &cb, &w.t), 0);
    struct noa_label lab = {noa_str_c("job"), noa_str_c("varlogs")};
    struct noa_tailer_target tg = {.include = glob, .labels = &lab, .n_labels = 1};
    assert_int_equal(noa_tailer_set_targets(w.t, &tg, 1, NULL), 0);
    assert_int_equal(noa_tailer_start(w.t), 0);
    /* until_lines < 0: a negative check (nothing may be committed), so
     * give the reader and the retrying client one second */
    int64_t end = noa_clock_mono_ns() + (until_lines < 0 ? 1LL : 15LL) * 1000000000LL;
    while ((until_lines < 0 || srv_lines(s) < until_lines) && noa_clock_mono_ns() < end)
        usleep(5000);
    usleep(200000);
    /* graceful stop: reader first, then the clients drain, then commit */
    noa_tailer_stop(w.t);
    noa_route_stop(w.r, 2000);
    noa_route_free(w.r);
    noa_tailer_free(w.t);
    noa_entry_fini(&w.e);
}

static void test_tailer_to_server(void **state)
{
    (void)state;
    char dir[] = "/tmp/noa_route_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], glob[128];
    snprintf(path, sizeof path, "%s/app.log", dir);
    snprintf(glob, sizeof glob, "%s/*.log", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 100; i++)
        fprintf(f, "w%03d\n", i);
    fclose(f);
    struct noa_positions *pos = noa_positions_new_empty();
    struct srv s;
    srv_start(&s);
    run_wired(&s, pos, glob, 100);
    assert_int_equal(srv_lines(&s), 100);
    uint64_t off;
    assert_int_equal(noa_positions_get(pos, path, &off, NULL, NULL), 0);
    assert_int_equal(off, 500);
    /* more lines while the server fails: they are read, not committed */
    f = fopen(path, "a");
    for (int i = 100; i < 150; i++)
        fprintf(f, "w%03d\n", i);
    fclose(f);
    srv_set(&s, 0, 500, NULL);
    run_wired(&s, pos, glob, -1);
    assert_int_equal(srv_lines(&s), 100);
    assert_int_equal(noa_positions_get(pos, path, &off, NULL, NULL), 0);
    assert_int_equal(off, 500); /* the unsent lines will be read again */
    /* the server is back: exactly the 50 missing lines arrive */
    srv_set(&s, 0, 0, NULL);
    run_wired(&s, pos, glob, 150);
    assert_int_equal(srv_lines(&s), 150);
    for (int i = 0; i < 150; i += 7) {
        char rec[256];
        snprintf(rec, sizeof rec, "|{filename=\"%s\", job=\"varlogs\"}|w%03d", path, i);
        assert_int_equal(srv_count(&s, rec), 1);
    }
    assert_int_equal(noa_positions_get(pos, path, &off, NULL, NULL), 0);
    assert_int_equal(off, 750);
    noa_positions_free(pos);
    srv_stop(&s);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    noa_log_set_level(NOA_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acks_advance_after_accept),
        cmocka_unit_test(test_label_memo),
        cmocka_unit_test(test_500_holds_back),
        cmocka_unit_test(test_two_tenants),
        cmocka_unit_test(test_held_entries_cap_position),
        cmocka_unit_test(test_backpressure_stash),
        cmocka_unit_test(test_source_end_forgets),
        cmocka_unit_test(test_tailer_to_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
