/*
 * Declarative configuration tables: one static table per component says, for
 * every setting, its YAML path, type, default, command-line flag, where it
 * lives in the component's C struct, and what it means. From that one table
 * this module fills the struct from defaults, YAML (common/yaml.h) and flags,
 * rejects unknown keys with their position, warns once per block noa does
 * not implement, and writes `--help`, the Markdown reference and a YAML dump
 * of the effective values (GET /config, ?mode=defaults|diffs).
 *
 * Value parsing follows Loki: durations accept Go's time.Duration syntax
 * ("1h30m", "1.5s", "500ms", "10us") and Prometheus's model.Duration units
 * ("1d", "1w", "1y"); sizes follow Loki's flagext.ByteSize ("256KB" is
 * 262144: KB, MB, ... are powers of 1024, case-insensitive, "KiB" accepted,
 * fractions like "1.5MiB" accepted as an extension).
 *
 * Tables are immutable; filling a struct runs on the caller's thread and the
 * struct belongs to the caller. Thread-safe otherwise (no global state).
 */
#ifndef NOA_COMMON_CONFIG_H
#define NOA_COMMON_CONFIG_H

#include "common/buf.h"
#include "common/err.h"
#include "common/yaml.h"

#include <stddef.h>
#include <stdint.h>

enum noa_config_type {
    NOA_CONFIG_BLOCK = 0,  /* a nested map this table implements; no field */
    NOA_CONFIG_IGNORED,    /* a key or block accepted with one warning, not used; no field */
    NOA_CONFIG_RAW,        /* any YAML, accepted silently and left in the document for the
                            * component that reads it itself (noa_yaml_path); no field */
    NOA_CONFIG_STRING,     /* char * (owned by the struct, freed by noa_config_fini) */
    NOA_CONFIG_BOOL,       /* int (0/1) */
    NOA_CONFIG_INT,        /* int */
    NOA_CONFIG_INT64,      /* int64_t */
    NOA_CONFIG_FLOAT,      /* double */
    NOA_CONFIG_DURATION,   /* int64_t nanoseconds; dumped as Go's time.Duration ("1h0m0s") */
    NOA_CONFIG_MDURATION,  /* int64_t nanoseconds; dumped as Prometheus's model.Duration ("1w") */
    NOA_CONFIG_BYTES,      /* int64_t bytes; dumped as Loki's ByteSize ("256KB") */
    NOA_CONFIG_STRINGS,    /* struct noa_config_strings (owned) */
};

/* Entry flags. */
#define NOA_CONFIG_UNENFORCED 0x1u /* Loki's key, accepted and type-checked, not acted on yet */
#define NOA_CONFIG_NOFIELD 0x2u    /* no storage: the value is checked and dropped */
#define NOA_CONFIG_HIDDEN 0x4u     /* left out of --help and the reference */

/* A list of strings as a NOA_CONFIG_STRINGS field holds it. */
struct noa_config_strings {
    char **v; /* owned, each owned */
    int n;
};

struct noa_config_entry {
    const char *path;        /* "server.http_listen_port"; NULL for flag-only entries */
    enum noa_config_type type;
    const char *def;         /* default as text (NULL: zero / empty); STRINGS: comma-separated */
    size_t offset;           /* offsetof the field (unused for BLOCK, IGNORED, NOFIELD) */
    const char *flag;        /* command-line name without dashes, or NULL */
    const char *desc;        /* one or more sentences */
    unsigned flags;          /* NOA_CONFIG_* flags above */
    const char *type_name;   /* BLOCK: Go-style type name for errors ("ingester.Config") */
    const char *const *choices; /* STRING: allowed values, NULL-terminated; NULL: any */
};

struct noa_config_table {
    const char *type_name; /* of the root map, for errors: "loki.Config" */
    const struct noa_config_entry *entries;
    size_t n;
};

/* Which values noa_config_dump writes. */
enum noa_config_dump_mode {
    NOA_CONFIG_DUMP_ALL = 0,      /* every effective value */
    NOA_CONFIG_DUMP_DEFAULTS = 1, /* the defaults, whatever the struct holds */
    NOA_CONFIG_DUMP_DIFFS = 2,    /* only values that differ from the defaults */
};

/*
 * Checks a table's shape: every path's parent is declared as a BLOCK before
 * it, children of a block are contiguous, paths and flags are unique, every
 * default parses, choices contain the default. Returns 0 or NOA_EINVAL with
 * the offending entry named in err. For unit tests: a bad table is a bug.
 */
int noa_config_check_table(const struct noa_config_table *t, struct noa_error *err);

/* Sets every field to its default (strings duplicated). Call once on a zeroed
 * struct; aborts on a default that does not parse (a table bug). */
void noa_config_defaults(const struct noa_config_table *t, void *obj);

/* Frees the strings and lists the struct owns and zeroes those fields. */
void noa_config_fini(const struct noa_config_table *t, void *obj);

/*
 * Applies a YAML tree (root may be NULL: nothing to apply). Unknown keys fail
 * with "file:line:col: field X not found in type T"; type errors with
 * "file:line:col: cannot unmarshal !!str `abc` into duration (path)";
 * a null value sets a scalar to its zero value (as Go's yaml.v2 does) and
 * leaves a block as it is. Each IGNORED entry present in the tree is logged
 * once (level warn, component config). On error the struct may be partly
 * updated (callers discard it). Returns 0 or NOA_EINVAL.
 */
int noa_config_apply(const struct noa_config_table *t, void *obj,
                     const struct noa_yaml_node *root, struct noa_error *err);

/* Finds the entry for a flag name (without dashes) or NULL. */
const struct noa_config_entry *noa_config_find_flag(const struct noa_config_table *t,
                                                    const char *flag);
/* Finds the entry for a YAML path or NULL. */
const struct noa_config_entry *noa_config_find_path(const struct noa_config_table *t,
                                                    const char *path);

/*
 * Sets one entry from text, as a flag or an override does ("30s", "true",
 * "a,b"). Returns 0 or NOA_EINVAL with "invalid value \"x\" for flag -f: ..."
 * in err. BLOCK and IGNORED entries cannot be set.
 */
int noa_config_set(const struct noa_config_entry *e, void *obj, const char *value,
                   struct noa_error *err);

/* Appends the YAML dump of obj (2-space indent, table order; IGNORED and
 * NOFIELD entries are not dumped; blocks without output are left out). */
void noa_config_dump(const struct noa_config_table *t, const void *obj,
                     enum noa_config_dump_mode mode, struct noa_buf *out);

/* Appends Go-flag-style usage for every entry with a flag, sorted by flag:
 *   "  -server.http-listen-port int\n    \tHTTP server listen port. (default 3100)\n" */
void noa_config_help(const struct noa_config_table *t, struct noa_buf *out);

/* Appends the Markdown reference: per top-level block, a fenced YAML sketch
 * with each key's description, flag, type and default, Loki's style. */
void noa_config_markdown(const struct noa_config_table *t, struct noa_buf *out);

/* ---- value syntax (exported for flags, query parameters and tests) ---- */

/* Go or Prometheus duration text to nanoseconds; "0" needs no unit. Returns
 * 0 or NOA_EINVAL (syntax, unknown unit, overflow). */
int noa_config_parse_duration(const char *s, int64_t *ns);
/* Loki ByteSize text ("256KB", "1.5MiB", "1048576") to bytes; 0 or NOA_EINVAL. */
int noa_config_parse_bytes(const char *s, int64_t *bytes);
/* Go's time.Duration.String(): "0s", "1.5s", "500ms", "1h0m0s". */
void noa_config_format_duration(struct noa_buf *out, int64_t ns);
/* Prometheus's model.Duration.String(): "0s", "1w", "4w2d1h", "1m30s", "500ms". */
void noa_config_format_mduration(struct noa_buf *out, int64_t ns);
/* Loki's ByteSize.String(): "0B", "256KB", "1536KB", "3MB", "1000B". */
void noa_config_format_bytes(struct noa_buf *out, int64_t bytes);

#endif
