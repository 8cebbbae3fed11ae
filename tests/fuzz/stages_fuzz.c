/*
 * Fuzz target for compiled pipelines (shipper/stages.c and the stages-a
 * stages): a fixed pipeline of cri, multiline, match with nested regex,
 * json, logfmt, replace, template, decolorize, labels and pack runs over
 * the input split into lines (the first byte of each line picks one of
 * two streams and whether a tick follows). After a final flush nothing may
 * be held, and every entry that comes out must carry an offset no larger
 * than the last one fed.
 */
#include "common/yaml.h"
#include "shipper/stage.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char pipeline[] =
    "- cri:\n"
    "    max_partial_lines: 2\n"
    "- multiline:\n"
    "    firstline: '^\\S'\n"
    "    max_lines: 5\n"
    "- match:\n"
    "    selector: '{stream=\"stderr\"} |= \"x\"'\n"
    "    stages:\n"
    "    - regex:\n"
    "        expression: '(?P<word>\\w+)'\n"
    "- json:\n"
    "    expressions:\n"
    "      level: level\n"
    "      first: items[0].name\n"
    "      n: length(items)\n"
    "- logfmt:\n"
    "    mapping:\n"
    "      lvl: level\n"
    "      msg:\n"
    "- replace:\n"
    "    expression: '(\\d+)'\n"
    "    replace: '<{{ .Value }}>'\n"
    "- template:\n"
    "    source: t\n"
    "    template: '{{ .level }}-{{ .Value }}-{{ ToUpper .Entry }}'\n"
    "- decolorize:\n"
    "- labels:\n"
    "    level:\n"
    "- pack:\n"
    "    labels: [level, stream]\n"
    "    ingest_timestamp: false\n";

static struct noa_stages *compiled;

struct check_sink {
    struct noa_stages_sink sink;
    uint64_t max_offset;
};

static void check_cb(struct noa_stages_sink *self, struct noa_entry *e)
{
    struct check_sink *c = (struct check_sink *)self;
    if (e->offset > c->max_offset)
        abort();
}

static int64_t fixed_clock(void)
{
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!compiled) {
        struct noa_yaml_doc *doc = NULL;
        struct noa_error err;
        struct noa_stage_ctx ctx = {.now_ns = fixed_clock, .job_name = "fuzz"};
        if (noa_yaml_parse(pipeline, sizeof(pipeline) - 1, "fuzz", NULL, &doc, &err) != 0 ||
            noa_stages_new(doc->root, &ctx, &compiled, &err) != 0)
            abort();
        noa_yaml_free(doc);
    }
    struct check_sink sink = {{check_cb}, 0};
    struct noa_entry e;
    noa_entry_init(&e);
    const char *p = (const char *)data;
    size_t off = 0;
    int64_t now = 0;
    while (off < size) {
        const char *nl = memchr(p + off, '\n', size - off);
        size_t len = nl ? (size_t)(nl - (p + off)) : size - off;
        noa_entry_reset(&e);
        unsigned char k = len ? (unsigned char)p[off] : 0;
        noa_kvlist_set(&e.labels, NOA_STR("job"), (k & 1) ? NOA_STR("a") : NOA_STR("b"));
        noa_buf_append(&e.source, (k & 2) ? "f1" : "f2", 2);
        noa_buf_append(&e.line, p + off, len);
        off += len + (nl != NULL);
        e.offset = off;
        sink.max_offset = off;
        now += 1000000;
        noa_stages_run(compiled, &e, &sink.sink, now);
        if (k & 4) {
            now += 4000000000LL;
            noa_stages_tick(compiled, now, &sink.sink);
        }
    }
    noa_stages_flush(compiled, "f1", &sink.sink);
    if (noa_stages_holding(compiled, "f1"))
        abort();
    noa_stages_flush(compiled, NULL, &sink.sink);
    if (noa_stages_holding(compiled, NULL))
        abort();
    noa_entry_fini(&e);
    return 0;
}
