/*
 * Fuzz target for shipper/jmespath: the input's first line is an
 * expression, the rest a JSON document. Compiling must fail cleanly or
 * give an expression that evaluates without crashing; a value result is
 * non-empty unless it is an empty string, and a null result appends
 * nothing. For a plain field path the one-pass scanner must agree with
 * the document path: same verdict on the text, same value.
 */
#include "shipper/jmespath.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    const char *nl = memchr(p, '\n', size);
    size_t elen = nl ? (size_t)(nl - p) : size;
    struct noa_jmespath *q = NULL;
    struct noa_jmespath_doc *d = NULL;
    struct noa_error err;
    if (noa_jmespath_compile(p, elen, &q, &err) != 0) {
        if (q || err.msg[0] == 0)
            abort();
        return 0;
    }
    const char *doc = nl ? nl + 1 : "{}";
    size_t dlen = nl ? size - elen - 1 : 2;
    int parsed = noa_jmespath_doc_parse(doc, dlen, &d, &err) == 0;
    if (noa_jmespath_is_path(q)) {
        struct noa_buf sc = {0}, ev = {0};
        size_t off, vlen;
        int found;
        const struct noa_jmespath *qs[1] = {q};
        int rc = noa_jmespath_scan(doc, dlen, qs, 1, &sc, &off, &vlen, &found);
        int obj = parsed && noa_jmespath_doc_is_object(d);
        if ((rc == NOA_EINVAL) != !obj)
            abort();
        if (rc == 0) {
            int e = noa_jmespath_eval(q, d, &ev);
            if (e != found || ev.len != vlen || (vlen && memcmp(ev.data, sc.data + off, vlen)))
                abort();
        }
        noa_buf_fini(&sc);
        noa_buf_fini(&ev);
    }
    if (parsed) {
        struct noa_buf out = {0};
        noa_buf_putc(&out, 'x');
        int rc = noa_jmespath_eval(q, d, &out);
        if ((rc == 0 || rc < 0) && out.len != 1)
            abort();
        noa_buf_fini(&out);
        noa_jmespath_doc_free(d);
    }
    noa_jmespath_free(q);
    return 0;
}
