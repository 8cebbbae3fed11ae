/*
 * A tiny HTTP/1.1 server on a thread for the ruler's client tests: it
 * answers each request with the next scripted status and keeps the
 * request (headers and body) for the test to inspect. Included by
 * tests/unit/querier/ruler_*_test.c only.
 */
#ifndef NOA_TESTS_RULER_FAKEHTTP_H
#define NOA_TESTS_RULER_FAKEHTTP_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define FH_MAX 8

struct fakehttp {
    int lfd, port;
    int statuses[FH_MAX]; /* scripted answers; 0 ends */
    unsigned n_req;
    char *head[FH_MAX];   /* request line + headers (malloc) */
    char *body[FH_MAX];   /* raw body (malloc) */
    size_t body_len[FH_MAX];
    uv_thread_t th;
};

static void fh_serve(void *arg)
{
    struct fakehttp *f = arg;
    while (f->n_req < FH_MAX && f->statuses[f->n_req]) {
        int c = accept(f->lfd, NULL, NULL);
        if (c < 0)
            return;
        char buf[1 << 16];
        size_t have = 0;
        for (;;) {
            char *end = NULL;
            while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
                ssize_t r = read(c, buf + have, sizeof(buf) - have);
                if (r <= 0)
                    goto closed;
                have += (size_t)r;
            }
            size_t hl = (size_t)(end - buf) + 4, cl = 0;
            char *p = strcasestr(buf, "Content-Length:");
            if (p && p < end)
                cl = strtoul(p + 15, NULL, 10);
            while (have < hl + cl) {
                ssize_t r = read(c, buf + have, sizeof(buf) - have);
                if (r <= 0)
                    goto closed;
                have += (size_t)r;
            }
            unsigned i = f->n_req;
            f->head[i] = strndup(buf, hl);
            f->body[i] = malloc(cl + 1);
            memcpy(f->body[i], buf + hl, cl);
            f->body_len[i] = cl;
            char resp[128];
            int n = snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n",
                             f->statuses[i]);
            if (write(c, resp, (size_t)n) != n)
                goto closed;
            f->n_req++;
            memmove(buf, buf + hl + cl, have - hl - cl);
            have -= hl + cl;
            if (f->n_req >= FH_MAX || !f->statuses[f->n_req])
                break;
        }
    closed:
        close(c);
    }
}

/* Listens without answering: clients connect (the kernel's backlog) and
 * wait for a response until fh_run. */
static void fh_listen(struct fakehttp *f)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (bind(f->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(f->lfd, 8) != 0 ||
        getsockname(f->lfd, (struct sockaddr *)&a, &al) != 0)
        abort();
    f->port = ntohs(a.sin_port);
}

static void fh_run(struct fakehttp *f)
{
    uv_thread_create(&f->th, fh_serve, f);
}

static void fh_start(struct fakehttp *f)
{
    fh_listen(f);
    fh_run(f);
}

/* Waits for the thread; clients must have closed their connections. */
static void fh_stop(struct fakehttp *f)
{
    shutdown(f->lfd, SHUT_RDWR); /* wakes a thread blocked in accept */
    uv_thread_join(&f->th);
    close(f->lfd);
}

/* Releases what fh_stop left for inspection. */
static void fh_free(struct fakehttp *f)
{
    for (unsigned i = 0; i < f->n_req; i++) {
        free(f->head[i]);
        free(f->body[i]);
    }
}

#endif
