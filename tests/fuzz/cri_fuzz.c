/*
 * Fuzz target for shipper/cri and shipper/linejoin: the input is decoded
 * as one CRI line (slices must stay inside the input), then split on '\n'
 * and fed line by line through a small joiner whose limits the first byte
 * picks; emitted lines must respect those limits and every byte of every
 * accepted fragment must come out exactly once unless truncation is on.
 */
#include "shipper/cri.h"
#include "shipper/linejoin.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct tally {
    size_t bytes_in, bytes_out;
    size_t cut;
};

static void count_cb(void *arg, const struct noa_linejoin_out *o)
{
    struct tally *t = arg;
    t->bytes_out += o->line.len;
    if (o->fragments < 1 || (o->truncated && t->cut && o->line.len > t->cut))
        abort();
}

static int inside(struct noa_str s, const char *p, size_t n)
{
    return s.len == 0 || (s.p >= p && s.p + s.len <= p + n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct noa_cri_line l;
    struct noa_error err;
    int rc = noa_cri_parse(p, size, &l, &err);
    if (rc == 0) {
        if ((l.stream != NOA_CRI_STDOUT && l.stream != NOA_CRI_STDERR) || (l.partial & ~1) ||
            !inside(l.content, p, size) || !inside(l.tags, p, size) || l.tags.len == 0 ||
            l.tags.p[0] != (l.partial ? 'P' : 'F'))
            abort();
    } else if (rc != NOA_EINVAL || !memchr(err.msg, '\0', sizeof(err.msg)) || !err.msg[0]) {
        abort();
    }

    unsigned mode = size ? data[0] : 0;
    struct tally t = {.cut = (mode & 1) ? 16 : 0};
    struct noa_linejoin_opts o = {
        .max_partial_lines = 1 + (int)((mode >> 1) & 3),
        .truncate = (int)(mode & 1),
        .max_partial_line_size = t.cut,
        .max_bytes = (mode & 8) ? 64 : 0,
        .idle_ns = 10,
        .ts = (int)((mode >> 4) & 1),
        .emit_cb = count_cb,
        .arg = &t,
    };
    struct noa_linejoin *j = NULL;
    if (noa_linejoin_new(&o, &j) != 0)
        abort();
    size_t start = size ? 1 : 0;
    int64_t now = 0;
    while (start < size) {
        const char *nl = memchr(p + start, '\n', size - start);
        size_t end = nl ? (size_t)(nl - p) : size;
        if (noa_cri_parse(p + start, end - start, &l, NULL) == 0) {
            struct noa_linejoin_in in = {.key = l.content.len & 1,
                                         .stream = l.stream,
                                         .ts_ns = l.ts_ns,
                                         .content = l.content,
                                         .partial = l.partial};
            t.bytes_in += l.content.len;
            noa_linejoin_add(j, &in, now);
        }
        now += 3;
        if ((end & 7) == 0)
            noa_linejoin_flush_idle(j, now);
        start = end + 1;
    }
    noa_linejoin_flush_all(j);
    if (noa_linejoin_pending(j) != 0 || (!t.cut && t.bytes_out != t.bytes_in) ||
        t.bytes_out > t.bytes_in)
        abort();
    noa_linejoin_free(j);
    return 0;
}
