/*
 * Fuzz target for the log pipeline stages: the first byte picks a parser
 * (json, json with expressions, logfmt [--strict --keep-empty], logfmt
 * with extraction, regexp, pattern, unpack); the rest is the log line.
 * The line also goes through decolorize, the |> pattern matcher, the ip
 * scanner and the Go value parsers. Nothing may crash or leak, and the
 * final label set must be sorted. For json and logfmt, a filter-first run
 * (noa_logparse_run_want) must give the wanted labels exactly as the full
 * run does, and the same error pair unless it may stop early.
 */
#include "common/decolor.h"
#include "common/labelfilter.h"
#include "common/lbuilder.h"
#include "common/linefilter.h"
#include "common/logparse.h"
#include "common/mem.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct noa_logparse *make(uint8_t sel)
{
    static const struct noa_logparse_extract jex[] = {
        {{"a", 1}, {"a.b[0]", 6}}, {{"app", 3}, {"[\"app\"]", 7}}, {{"c", 1}, {"c", 1}}};
    static const struct noa_logparse_extract lex[] = {{{"lvl", 3}, {"level", 5}},
                                                      {{"app", 3}, {"app", 3}}};
    struct noa_logparse_opts o = {0};
    switch (sel % 8) {
    case 0: o.kind = NOA_LOGPARSE_JSON; break;
    case 1: o = (struct noa_logparse_opts){.kind = NOA_LOGPARSE_JSON, .extract = jex, .nextract = 3}; break;
    case 2: o = (struct noa_logparse_opts){.kind = NOA_LOGPARSE_LOGFMT, .strict = sel & 8, .keep_empty = sel & 16}; break;
    case 3: o = (struct noa_logparse_opts){.kind = NOA_LOGPARSE_LOGFMT, .extract = lex, .nextract = 2, .strict = sel & 8}; break;
    case 4: o = (struct noa_logparse_opts){.kind = NOA_LOGPARSE_REGEXP, .pattern = NOA_STR("(?<k>\\w+)=(?<v>\\S*)")}; break;
    case 5: o = (struct noa_logparse_opts){.kind = NOA_LOGPARSE_PATTERN, .pattern = NOA_STR("<ip> - <_> [<ts>] \"<req>\" <status>")}; break;
    default: o.kind = NOA_LOGPARSE_UNPACK; break;
    }
    struct noa_logparse *p = NULL;
    struct noa_error err;
    if (noa_logparse_new(&o, &p, &err))
        abort();
    return p;
}

static void same_or_abort(const struct noa_lbuilder *a, const struct noa_lbuilder *b,
                          struct noa_str name)
{
    struct noa_str va, vb;
    int ha = noa_lbuilder_get(a, name, &va), hb = noa_lbuilder_get(b, name, &vb);
    if (ha != hb || (ha && !noa_str_eq(va, vb)))
        abort();
}

/* Filter first against the full run of p over line. */
static void check_want(const struct noa_logparse *p, struct noa_str line,
                       const struct noa_labels *stream, struct noa_lbuilder *full)
{
    static const struct noa_str names[] = {{"level", 5}, {"app_extracted", 13}, {"a_b", 3},
                                           {"", 0}};
    for (int stop = 0; stop < 2; stop++) {
        struct noa_logparse_want w;
        struct noa_lbuilder lb;
        noa_logparse_want_init(&w, names, 4, stop);
        noa_lbuilder_init(&lb);
        noa_lbuilder_reset_stream(&lb, stream);
        noa_lbuilder_add_meta(&lb, NOA_STR("app"), NOA_STR("m"));
        noa_logparse_run_want(p, line, &lb, &w);
        for (unsigned i = 0; i < 4; i++)
            same_or_abort(full, &lb, names[i]);
        same_or_abort(full, &lb, NOA_STR("app"));
        same_or_abort(full, &lb, NOA_STR("level_extracted"));
        if (!stop) {
            same_or_abort(full, &lb, NOA_STR(NOA_LB_ERROR));
            same_or_abort(full, &lb, NOA_STR(NOA_LB_ERROR_DETAILS));
        }
        noa_lbuilder_fini(&lb);
        noa_logparse_want_fini(&w);
    }
    /* What a metric query's pruning asks: one grouped name, with and
     * without the error name a filter reads (json then validates the
     * rest of the line once the name is found). */
    static const struct noa_str few[] = {{"level", 5}, {NOA_LB_ERROR, sizeof(NOA_LB_ERROR) - 1}};
    for (unsigned k = 1; k <= 2; k++) {
        struct noa_logparse_want w;
        struct noa_lbuilder lb;
        noa_logparse_want_init(&w, few, k, 0);
        noa_lbuilder_init(&lb);
        noa_lbuilder_reset_stream(&lb, stream);
        noa_logparse_run_want(p, line, &lb, &w);
        same_or_abort(full, &lb, NOA_STR("level_extracted"));
        same_or_abort(full, &lb, NOA_STR(NOA_LB_ERROR));
        same_or_abort(full, &lb, NOA_STR(NOA_LB_ERROR_DETAILS));
        noa_lbuilder_fini(&lb);
        noa_logparse_want_fini(&w);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1 << 16)
        return 0;
    struct noa_str line = {(const char *)data + 1, size - 1};
    struct noa_logparse *p = make(data[0]);
    struct noa_logparse *second = make((uint8_t)(data[0] >> 3));
    static const struct noa_label sl[] = {{{"app", 3}, {"x", 1}}, {{"level", 5}, {"s", 1}}};
    struct noa_labels stream = {(struct noa_label *)sl, 2};
    struct noa_lbuilder lb;
    noa_lbuilder_init(&lb);
    noa_lbuilder_reset_stream(&lb, &stream);
    noa_lbuilder_add_meta(&lb, NOA_STR("app"), NOA_STR("m"));
    struct noa_str l = line;
    noa_logparse_run(p, &l, &lb);
    if (noa_logparse_can_want(p))
        check_want(p, line, &stream, &lb);
    noa_logparse_run(second, &l, &lb);
    struct noa_labels out;
    noa_lbuilder_labels(&lb, &out);
    for (uint32_t i = 1; i < out.n; i++)
        if (noa_str_cmp(out.v[i - 1].name, out.v[i].name) > 0)
            abort();

    struct noa_buf scratch = {0};
    struct noa_str d = noa_decolor_run(line, &scratch);
    if (d.len > line.len)
        abort();
    struct noa_pattern pat;
    struct noa_error err;
    if (noa_logparse_pattern_compile(line, 1, &pat, &err) == 0) {
        noa_logparse_pattern_test(&pat, line.p, line.len);
        noa_logparse_pattern_fini(&pat);
    }
    struct noa_ipmatch ip;
    if (noa_linefilter_ip_parse(NOA_STR("10.0.0.0/8"), &ip, &err) == 0)
        noa_linefilter_ip_find(&ip, line.p, line.len);
    double f;
    int64_t ns;
    uint64_t b;
    noa_labelfilter_parse_float(line, &f, &err);
    noa_labelfilter_parse_duration(line, &ns, &err);
    noa_labelfilter_parse_bytes(line, &b, &err);

    noa_buf_fini(&scratch);
    noa_lbuilder_fini(&lb);
    noa_logparse_free(second);
    noa_logparse_free(p);
    return 0;
}
