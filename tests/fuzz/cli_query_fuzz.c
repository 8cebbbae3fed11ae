/*
 * Fuzz target for noa-logcli's response decoders: any bytes given as a
 * query_range / query body, a live-tail message or a /series body are
 * decoded or refused with a message, never crash; a metric result's JSON
 * is re-indented without failing (it came out of our own decoder).
 */
#include "common/buf.h"
#include "logcli/cli_output.h"
#include "logcli/cli_query.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 20)
        return 0;
    const char *text = (const char *)data;
    int (*const parsers[])(const char *, size_t, struct noa_cli_query_result *, struct noa_buf *) = {
        noa_cli_query_parse, noa_cli_query_parse_tail, noa_cli_query_parse_series};
    for (size_t k = 0; k < sizeof(parsers) / sizeof(parsers[0]); k++) {
        struct noa_cli_query_result r = {0};
        struct noa_buf err = {0};
        int rc = parsers[k](text, size, &r, &err);
        if (rc != 0 && err.len == 0)
            abort(); /* a refusal says why */
        if (rc == 0 && r.result_json) {
            struct noa_buf out = {0};
            if (noa_cli_output_indent(&out, r.result_json, strlen(r.result_json)) != 0)
                abort();
            noa_buf_fini(&out);
        }
        noa_cli_query_result_fini(&r);
        noa_buf_fini(&err);
    }
    return 0;
}
