/*
 * Shared between the pipeline runner (stages.c) and the stages of the
 * stages-a files (stage_*.c): config decoding helpers and the optional
 * "holding" query of stages that keep entries (cri, docker, multiline,
 * match), which struct noa_stage_ops has no slot for.
 *
 * Used on the thread that compiles or runs a pipeline.
 */
#ifndef NOA_SHIPPER_STAGES_INT_H
#define NOA_SHIPPER_STAGES_INT_H

#include "common/config.h"
#include "shipper/stage.h"

/* ops of a stage that may hold entries: stages.c reaches `holding` through
 * its registry flag, so ops must be the first member. */
struct noa__stage_hold_ops {
    struct noa_stage_ops ops;
    /* 1 when the stage holds an entry of source (NULL: any source). */
    int (*holding)(struct noa_stage *st, const char *source);
};

/* Applies a stage's config table to obj (defaults first). cfg may be NULL or
 * null (all defaults). Returns 0 or NOA_EINVAL with "file:line:col: ...". */
int noa__stages_config(const struct noa_config_table *t, void *obj,
                       const struct noa_yaml_node *cfg, struct noa_error *err);

/* Runs e through p without seeding its extracted map (a nested pipeline:
 * match's `stages`). Entries other than e that come out go to sink. */
enum noa_stage_verdict noa__stages_run_nested(struct noa_stages *p, struct noa_entry *e,
                                              struct noa_stages_sink *sink, int64_t now_ns);

/* The clock of a ctx (ctx->now_ns or the real clock). */
int64_t noa__stages_now(const struct noa_stage_ctx *ctx);

/* The counter child logentry_dropped_lines_total{reason} (NULL without
 * metrics). */
struct noa_metric_child *noa__stages_drop_counter(const struct noa_stage_ctx *ctx,
                                                  const char *reason);

/* An order-independent fingerprint of a label set (keys of per-stream
 * state: cri partials, multiline blocks). */
uint64_t noa__stages_fingerprint(const struct noa_kvlist *l);

#endif
