/*
 * Rule files of the ruler: Prometheus rule groups (rulefmt) whose `expr`
 * is a LogQL metric query, read from the local rule store as Loki lays it
 * out (<directory>/<tenant>/<namespace file>, the namespace being the file
 * name), validated as Loki and Prometheus validate them, and written back
 * as YAML for /loki/api/v1/rules and for groups posted through it.
 *
 * Every error names where it is: "file:line:col: message" (the LogQL
 * parse error included). A bad file is reported and skipped; it never
 * takes the other files down. Parsed values own all their memory and are
 * immutable once loaded, so any thread may read them. Runs on the caller's
 * thread (the ruler's thread or an HTTP worker).
 */
#ifndef NOA_QUERIER_RULER_RULES_H
#define NOA_QUERIER_RULER_RULES_H

#include "common/buf.h"
#include "common/err.h"
#include "common/logql.h"

#include <stdint.h>

/* Files larger than this are rejected before parsing (bytes). */
#define NOA_RULER_RULES_MAX_FILE (16u << 20)

/* A name/value pair (labels, annotations): both owned, NUL-terminated. */
struct noa_ruler_kv {
    char *name;
    char *value;
};

struct noa_ruler_rule {
    int is_alert;                    /* 1: `alert`, 0: `record` */
    char *name;                      /* owned: the alert or record name */
    char *expr;                      /* owned: the LogQL text as written */
    struct noa_logql_expr *parsed;   /* owned: a metric expression */
    int64_t for_ns;                  /* alerts: pending time before firing */
    int64_t keep_firing_for_ns;      /* alerts: firing kept after the condition ends */
    struct noa_ruler_kv *labels;     /* owned, sorted by name */
    unsigned n_labels;
    struct noa_ruler_kv *annotations; /* owned, sorted by name */
    unsigned n_annotations;
};

struct noa_ruler_group {
    char *name;          /* owned */
    int64_t interval_ns; /* 0: the ruler's evaluation_interval */
    int64_t limit;       /* max alerts or series per rule; 0: none */
    struct noa_ruler_rule *rules; /* owned, in file order */
    unsigned n_rules;
};

/* One namespace (file) of one tenant. */
struct noa_ruler_file {
    char *tenant;    /* owned; NULL when parsed without a store */
    char *ns;        /* owned: the namespace (file name) */
    char *path;      /* owned: where it was read from */
    struct noa_ruler_group *groups; /* owned, in file order */
    unsigned n_groups;
};

/* Every namespace of every tenant, sorted by (tenant, namespace). */
struct noa_ruler_set {
    struct noa_ruler_file *files; /* owned */
    unsigned n_files;
};

/*
 * Parses a namespace file (`groups: [...]`). `file` names it in errors.
 * On failure returns NOA_EINVAL (or NOA_ETOOBIG) and appends every error
 * found to errs, one "file:line:col: message" per line; out is left empty.
 */
int noa_ruler_rules_parse(const char *text, size_t len, const char *file,
                          struct noa_ruler_file *out, struct noa_buf *errs);

/* Parses one group (the body of POST /loki/api/v1/rules/{ns}). As above. */
int noa_ruler_rules_parse_group(const char *text, size_t len, const char *file,
                                struct noa_ruler_group *out, struct noa_buf *errs);

/*
 * Loads <dir>/<tenant>/<file> for every tenant directory and regular
 * file (hidden names skipped). Files that fail are skipped and their
 * errors appended to errs (one per line). Returns 0 (even when some files
 * failed; *n_bad says how many) or -errno when dir cannot be read (a
 * missing dir is an empty set).
 */
int noa_ruler_rules_load_dir(const char *dir, struct noa_ruler_set *out, unsigned *n_bad,
                             struct noa_buf *errs);

/* Appends g as rulefmt YAML, each line prefixed by `indent` spaces; the
 * first line starts with "- " when as_item (a sequence element). */
void noa_ruler_rules_format_group(const struct noa_ruler_group *g, int indent, int as_item,
                                  struct noa_buf *out);

/* Writes text to path atomically: <path>.tmp, fsync, rename, fsync of the
 * directory. Returns 0 or -errno (the temporary file is removed on failure). */
int noa_ruler_rules_write_atomic(const char *path, const struct noa_buf *text);

/*
 * Replaces (or adds, or with g == NULL removes) the group named `name` in
 * namespace file <dir>/<tenant>/<ns> and writes it atomically (a removed
 * last group deletes the file). Returns 0, NOA_ENOTFOUND (removing a group
 * or namespace that does not exist), NOA_EINVAL (tenant or ns not a safe
 * path component) or -errno. With name == NULL and g == NULL the whole
 * namespace is deleted.
 */
int noa_ruler_rules_store(const char *dir, const char *tenant, const char *ns, const char *name,
                          const struct noa_ruler_group *g, struct noa_error *err);

/* 1 when s may be used as one path component (no '/', not "." or "..",
 * no NUL, not empty, not hidden). */
int noa_ruler_rules_safe_name(const char *s);

void noa_ruler_rules_group_fini(struct noa_ruler_group *g);
void noa_ruler_rules_file_fini(struct noa_ruler_file *f);
void noa_ruler_rules_set_fini(struct noa_ruler_set *s);

#endif
