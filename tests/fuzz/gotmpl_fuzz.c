/*
 * Fuzz target for the Go template engine (line_format / label_format):
 * parses arbitrary text and runs what parses over fixed labels, a fixed
 * line and timestamp, with a small output cap and step budget. Checks that
 * nothing crashes, the cap holds, and a failed run leaves the output as it
 * was.
 */
#include "common/gotmpl.h"
#include "common/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int lookup(void *ctx, const char *name, size_t len, struct noa_str *val)
{
    (void)ctx;
    static const char *const kv[][2] = {
        {"app", "api"}, {"level", "error"}, {"n", "42"}, {"ts", "1679577215"}, {"f", "1.5"},
    };
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        if (strlen(kv[i][0]) == len && memcmp(kv[i][0], name, len) == 0) {
            *val = noa_str_c(kv[i][1]);
            return 1;
        }
    return 0;
}

static int each(void *ctx, void (*emit_cb)(void *, struct noa_str, struct noa_str), void *ectx)
{
    (void)ctx;
    emit_cb(ectx, NOA_STR("app"), NOA_STR("api"));
    emit_cb(ectx, NOA_STR("level"), NOA_STR("error"));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    struct noa_gotmpl *t = NULL;
    struct noa_error err;
    if (noa_gotmpl_parse((const char *)data, size, &t, &err) != 0) {
        if (t)
            abort(); /* a failed parse hands nothing back */
        return 0;
    }
    struct noa_gotmpl_scratch work = {0};
    struct noa_gotmpl_data d = {
        .lookup_cb = lookup,
        .each_cb = each,
        .line = NOA_STR("level=error msg=\"boom\" status=500"),
        .ts_ns = 1673798889902000000LL,
        .work = &work,
        .max_output = 1 << 16,
        .max_steps = 100000,
    };
    struct noa_buf out = {0};
    noa_buf_append(&out, "pre", 3);
    int rc = noa_gotmpl_exec(t, &d, &out, &err);
    if (rc != 0 && out.len != 3)
        abort(); /* a failed run must roll the output back */
    if (rc == 0 && out.len - 3 > d.max_output)
        abort(); /* the cap must hold */
    noa_buf_fini(&out);
    noa_gotmpl_scratch_fini(&work);
    noa_gotmpl_free(t);
    return 0;
}
