/*
 * Fuzz target for shipper/dockerlog: decodes the input as one json-file
 * line. A failure must be a clean EINVAL with a message; a success must
 * give valid UTF-8 text that survives re-encoding (JSON string, decode
 * again: same text, same partial flag, same stream).
 */
#include "common/buf.h"
#include "common/mem.h"
#include "shipper/dockerlog.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct noa_dockerlog d, d2;
    struct noa_dockerlog_line l, l2;
    struct noa_error err;
    struct noa_buf b = {0};
    noa_dockerlog_init(&d);
    noa_dockerlog_init(&d2);
    int rc = noa_dockerlog_parse(&d, (const char *)data, size, &l, &err);
    if (rc) {
        if (rc != NOA_EINVAL || !memchr(err.msg, '\0', sizeof(err.msg)) || !err.msg[0] ||
            err.col < 1 || (size_t)err.col > size + 1)
            abort();
        goto done;
    }
    if ((l.stream != NOA_CRI_STDOUT && l.stream != NOA_CRI_STDERR) || (l.partial & ~1) ||
        !noa_utf8_valid(l.content.p, l.content.len))
        abort();
    noa_buf_append(&b, "{\"log\":", 7);
    /* A complete line ending in CR lost a CR with its newline ("\r\n"
     * is one terminator), so it gets both back. */
    int cr = !l.partial && l.content.len && l.content.p[l.content.len - 1] == '\r';
    size_t tn = l.content.len + (l.partial ? 0 : 1 + (size_t)cr);
    char *text = noa_xmalloc(tn + 1);
    if (l.content.len)
        memcpy(text, l.content.p, l.content.len);
    memcpy(text + l.content.len, cr ? "\r\n" : "\n", tn - l.content.len);
    noa_buf_put_json_str(&b, text, tn);
    noa_free(text);
    noa_buf_printf(&b, ",\"stream\":\"%s\",\"time\":\"1970-01-01T00:00:00Z\"}",
                   noa_cri_stream_name(l.stream));
    if (noa_dockerlog_parse(&d2, b.data, b.len, &l2, &err) != 0 || l2.partial != l.partial ||
        l2.stream != l.stream || !noa_str_eq(l.content, l2.content) || l2.ts_ns != 0)
        abort();
done:
    noa_buf_fini(&b);
    noa_dockerlog_fini(&d);
    noa_dockerlog_fini(&d2);
    return 0;
}
