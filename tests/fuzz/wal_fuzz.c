/*
 * Fuzz target for WAL replay: the input's first byte picks where the rest
 * goes - 0: the last (only) segment, 1: a segment followed by a valid one,
 * 2: a checkpoint followed by a valid segment - and the directory is
 * replayed twice. Replay must never crash or read out of bounds, must
 * always deliver the valid segment's records last, and the second replay
 * must agree with the first (a torn tail, once truncated, is gone).
 * Single-threaded driver; the WAL's writer thread idles.
 */
#include "ingester/wal.h"

#include "common/buf.h"
#include "common/log.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

static char dir[64];
static uv_loop_t loop;

struct tally {
    uint64_t records, bytes, sum;
    int tail_ids[2]; /* ids of the last two records seen, -1 if not ours */
};

/* The valid segment's records are 12 bytes: "validrec" + LE id. */
static int on_rec(const void *rec, size_t len, int from_checkpoint, uint32_t segment, void *ctx)
{
    struct tally *t = ctx;
    const unsigned char *p = rec;
    (void)from_checkpoint, (void)segment;
    if (len > NOA_WAL_RECORD_MAX)
        abort();
    for (size_t i = 0; i < len; i++) /* every byte is read: ASan checks the bounds */
        t->sum += p[i];
    t->records++;
    t->bytes += len;
    t->tail_ids[0] = t->tail_ids[1];
    t->tail_ids[1] = len == 12 && memcmp(p, "validrec", 8) == 0 ? (int)p[8] : -1;
    return 0;
}

static void put_file(const char *name, const void *p, size_t n)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (n && fwrite(p, 1, n, f) != n)
        abort();
    fclose(f);
}

static void valid_segment(const char *name)
{
    struct noa_buf b = {0};
    noa_buf_append(&b, "NWAL\1\0\0\0", 8);
    for (unsigned char id = 1; id <= 2; id++) {
        unsigned char rec[NOA_WAL_RECORD_HEADER + 12] = {0};
        rec[4] = 12;
        rec[8] = NOA_WAL_REC_DATA;
        memcpy(rec + 9, "validrec", 8);
        rec[17] = id;
        uint32_t crc = noa_crc32c(0, rec + 4, sizeof(rec) - 4);
        for (int i = 0; i < 4; i++)
            rec[i] = (unsigned char)(crc >> (8 * i));
        noa_buf_append(&b, rec, sizeof(rec));
    }
    put_file(name, b.data, b.len);
    noa_buf_fini(&b);
}

static void clear_dir(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[384];
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
}

static void remove_dir(void)
{
    clear_dir();
    rmdir(dir);
}

static void on_closed(void *ctx)
{
    *(int *)ctx = 1;
}

static void replay_once(struct tally *t, struct noa_wal_replay_stats *st)
{
    struct noa_wal_options o = {.dir = dir};
    struct noa_wal *w = NULL;
    int closed = 0;
    memset(t, 0, sizeof(*t));
    t->tail_ids[0] = t->tail_ids[1] = -1;
    if (noa_wal_open(&loop, &o, &w, NULL) != 0)
        abort();
    if (noa_wal_replay(w, on_rec, t, st, NULL) != 0)
        abort();
    noa_wal_close(w, on_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (!closed || st->records != t->records || st->bytes != t->bytes)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct noa_wal_replay_stats st1, st2;
    struct tally t1, t2;
    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/noa-wal-fuzz-XXXXXX");
        if (!mkdtemp(dir) || uv_loop_init(&loop) != 0)
            abort();
        noa_log_set_level(NOA_LOG_ERROR + 1);
        atexit(remove_dir);
    }
    clear_dir();
    int mode = size ? data[0] % 3 : 0;
    if (size) {
        data++;
        size--;
    }
    put_file(mode == 2 ? "checkpoint.00000001" : "00000001", data, size);
    if (mode)
        valid_segment("00000002");

    replay_once(&t1, &st1);
    replay_once(&t2, &st2);
    if (t1.records != t2.records || t1.sum != t2.sum || st2.torn_tails != 0 ||
        st1.corruptions != st2.corruptions || st1.torn_tails > 1)
        abort();
    if (mode && (st1.torn_tails || t1.tail_ids[0] != 1 || t1.tail_ids[1] != 2))
        abort();
    clear_dir();
    return 0;
}
