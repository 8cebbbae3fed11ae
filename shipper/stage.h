/*
 * Pipeline stages: Promtail's `pipeline_stages`, compiled once from the
 * YAML of a scrape config and run on every entry of its targets.
 *
 * A compiled pipeline (struct noa_stages) is a list of stages run in order.
 * Each stage changes the entry in place and answers PASS (go on), DROP
 * (the entry ends here, counted under a reason) or HELD (the stage kept a
 * copy to release later: cri partial lines, multiline blocks). A stage
 * that holds entries releases them through the `next` emitter it is given,
 * which runs the rest of the pipeline on them: from process (a multiline
 * first line releases the previous block), from tick (a timer expired) or
 * from flush (shutdown, end of a rotated file).
 *
 * Stage state (held entries, timestamp fudging, rate limits) lives in the
 * compiled stage, so one compiled pipeline belongs to one thread: each
 * reader thread compiles its own copy of a scrape config's stages.
 *
 * Constructors take the stage's YAML node (the value under the stage's
 * name, e.g. the map under `regex:`) and return 0 or NOA_EINVAL with err
 * as "file:line:col: what is wrong" (noa_yaml_error). Unknown keys are
 * errors, as in Promtail's strict decoding.
 */
#ifndef NOA_SHIPPER_STAGE_H
#define NOA_SHIPPER_STAGE_H

#include "common/err.h"
#include "common/metrics.h"
#include "common/yaml.h"
#include "shipper/entry.h"

#include <stdint.h>

enum noa_stage_verdict {
    NOA_STAGE_PASS = 0,
    NOA_STAGE_DROP = 1,
    NOA_STAGE_HELD = 2,
};

struct noa_stage;

/* Where a stage sends entries it releases: the rest of the pipeline. The
 * callee may change the entry; the caller keeps ownership. */
struct noa_stage_emit {
    void (*fn)(struct noa_stage_emit *self, struct noa_entry *e);
};

/* What constructors may use; borrowed for the life of the pipeline. */
struct noa_stage_ctx {
    struct noa_metrics *metrics; /* the process registry (metrics stage, drop
                                  * counters); may be NULL in tests */
    const char *job_name;        /* scrape config's job_name, for metric labels */
    int64_t (*now_ns)(void);     /* wall clock (NULL: noa_clock_real_ns); tests
                                  * replace it */
};

struct noa_stage_ops {
    const char *name; /* the YAML name: "regex", "cri", ... */
    /* Required. now_ns is the wall-clock time of processing. */
    enum noa_stage_verdict (*process)(struct noa_stage *st, struct noa_entry *e,
                                      struct noa_stage_emit *next, int64_t now_ns);
    /* Optional: release what has waited long enough (called about every
     * 100 ms by the reader). */
    void (*tick)(struct noa_stage *st, int64_t now_ns, struct noa_stage_emit *next);
    /* Optional: release everything held (from source = NULL) or everything
     * held for one source key (a file that ended or rotated). */
    void (*flush)(struct noa_stage *st, const char *source, struct noa_stage_emit *next);
    /* Required: frees the stage (held entries are discarded). */
    void (*free)(struct noa_stage *st);
};

/* Every stage struct starts with this. */
struct noa_stage {
    const struct noa_stage_ops *ops;
    const char *drop_reason; /* counted when process answers DROP
                              * (logentry_dropped_lines_total{reason}) */
};

/* ---- compiled pipelines (shipper/stages.c) ---------------------------------- */

struct noa_stages;

/* Where entries that pass every stage go. */
struct noa_stages_sink {
    void (*fn)(struct noa_stages_sink *self, struct noa_entry *e);
};

/*
 * Compiles a `pipeline_stages` sequence (NULL or null: an empty pipeline)
 * into *out. Each item is a map with exactly one key, the stage name.
 * Returns 0 or NOA_EINVAL (err: "file:line:col: ..."; unknown stage names
 * list the known ones).
 */
int noa_stages_new(const struct noa_yaml_node *seq, const struct noa_stage_ctx *ctx,
                   struct noa_stages **out, struct noa_error *err);
void noa_stages_free(struct noa_stages *p);

/* Runs e through the pipeline; entries that come out (e itself when it
 * passes, and anything a stage releases) go to sink. Returns what became
 * of e: PASS (it reached the sink), DROP, or HELD. */
enum noa_stage_verdict noa_stages_run(struct noa_stages *p, struct noa_entry *e,
                                      struct noa_stages_sink *sink, int64_t now_ns);
void noa_stages_tick(struct noa_stages *p, int64_t now_ns, struct noa_stages_sink *sink);
void noa_stages_flush(struct noa_stages *p, const char *source, struct noa_stages_sink *sink);
/* 1 when some stage holds an entry of source (NULL: of any source), so the
 * reader knows the position must not pass it. */
int noa_stages_holding(struct noa_stages *p, const char *source);

/* ---- stage constructors ------------------------------------------------------- */

#define NOA_STAGE_CTOR(name)                                                                       \
    int noa_stage_##name##_new(const struct noa_yaml_node *cfg, const struct noa_stage_ctx *ctx,   \
                               struct noa_stage **out, struct noa_error *err)

/* parsing and transform stages (shipper/stage_parse*.c and friends) */
NOA_STAGE_CTOR(docker);
NOA_STAGE_CTOR(cri);
NOA_STAGE_CTOR(regex);
NOA_STAGE_CTOR(json);
NOA_STAGE_CTOR(logfmt);
NOA_STAGE_CTOR(replace);
NOA_STAGE_CTOR(template);
NOA_STAGE_CTOR(output);
NOA_STAGE_CTOR(decolorize);
NOA_STAGE_CTOR(pack);
NOA_STAGE_CTOR(multiline);
NOA_STAGE_CTOR(match);
/* action and filtering stages */
NOA_STAGE_CTOR(labels);
NOA_STAGE_CTOR(labelallow);
NOA_STAGE_CTOR(labeldrop);
NOA_STAGE_CTOR(static_labels);
NOA_STAGE_CTOR(structured_metadata);
NOA_STAGE_CTOR(timestamp);
NOA_STAGE_CTOR(tenant);
NOA_STAGE_CTOR(drop);
NOA_STAGE_CTOR(limit);
NOA_STAGE_CTOR(sampling);
NOA_STAGE_CTOR(metrics);

#endif
