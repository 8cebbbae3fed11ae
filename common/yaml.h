/*
 * YAML documents as trees that remember where every node came from.
 *
 * The adapter over libyaml (the only file that includes <yaml.h>): parses one
 * document into maps, sequences and scalars, each with its file, line and
 * column (1-based), its explicit tag and its quoting style, so callers can
 * read values the way Go's gopkg.in/yaml.v2 (Loki's decoder) does: `yes`
 * is a bool only when plain, `"yes"` is a string. Anchors and aliases are
 * supported (an alias shares the anchored node), as are merge keys (`<<`).
 * Duplicate keys in one mapping are an error, as in yaml.v2.
 *
 * Environment expansion (Loki's -config.expand-env) works on the raw text
 * before parsing.
 *
 * A document owns all its nodes (one arena); it is immutable once parsed and
 * may be read from any thread. Parsing runs on the caller's thread.
 */
#ifndef NOA_COMMON_YAML_H
#define NOA_COMMON_YAML_H

#include "common/buf.h"
#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

enum noa_yaml_kind {
    NOA_YAML_SCALAR = 0,
    NOA_YAML_MAP = 1,
    NOA_YAML_SEQ = 2,
};

enum noa_yaml_style {
    NOA_YAML_PLAIN = 0,
    NOA_YAML_SINGLE_QUOTED = 1,
    NOA_YAML_DOUBLE_QUOTED = 2,
    NOA_YAML_LITERAL = 3, /* | block */
    NOA_YAML_FOLDED = 4,  /* > block */
};

struct noa_yaml_pair;

/* All fields read-only. */
struct noa_yaml_node {
    enum noa_yaml_kind kind;
    enum noa_yaml_style style; /* scalars; PLAIN for collections */
    int line;                  /* 1-based position of the node's first character */
    int col;
    const char *file;          /* borrowed from the document */
    const char *tag;           /* explicit tag, resolved ("tag:yaml.org,2002:str"), or NULL */
    const char *str;           /* scalar text, NUL-terminated (may hold NULs: use len) */
    size_t len;
    size_t n;                      /* map: pairs; seq: items */
    struct noa_yaml_pair *pairs;   /* map entries in document order */
    struct noa_yaml_node **items;  /* seq items */
    uint64_t weight; /* private: node count with aliases expanded */
};

struct noa_yaml_pair {
    struct noa_yaml_node *key; /* always a scalar */
    struct noa_yaml_node *value;
};

struct noa_yaml_doc {
    struct noa_yaml_node *root; /* NULL for an empty document */
    const char *file;           /* the name given to the parser */
    struct noa_arena arena;     /* private: owns every node */
};

/* Limits checked while parsing (0 fields take the defaults in brackets). */
struct noa_yaml_limits {
    size_t max_bytes;    /* input size [16 MiB] */
    int max_depth;       /* collection nesting [64] */
    uint64_t max_nodes;  /* nodes with aliases expanded [1,000,000] */
};

/*
 * Parses text[0..len) (one document; a second document is an error) into a
 * new document. `file` names the input in positions and messages (copied;
 * NULL means "<input>"). On error returns NOA_EINVAL (syntax, limits,
 * duplicate keys, unknown aliases, non-scalar keys) or NOA_ETOOBIG (input
 * over max_bytes) and fills err with line/col and a message of the form
 * "file:line:col: what went wrong". limits may be NULL.
 */
int noa_yaml_parse(const char *text, size_t len, const char *file,
                   const struct noa_yaml_limits *limits, struct noa_yaml_doc **out,
                   struct noa_error *err);

/*
 * Reads and parses a file. With expand_env, ${VAR} references are replaced
 * first (noa_yaml_expand_env). Returns -errno when the file cannot be read
 * (err says "file: reason"), else as noa_yaml_parse.
 */
int noa_yaml_load_file(const char *path, int expand_env, const struct noa_yaml_limits *limits,
                       struct noa_yaml_doc **out, struct noa_error *err);

/* Frees the document and every node; NULL is a no-op. */
void noa_yaml_free(struct noa_yaml_doc *doc);

/*
 * Environment expansion as Loki's -config.expand-env does it, appending the
 * result to out:
 *   ${VAR} and $VAR          the value, or "" when unset
 *   ${VAR:-default}          default when VAR is unset or empty
 *   ${VAR-default}           default when VAR is unset
 *   ${VAR:?message}          error "message" when VAR is unset or empty
 *   $$                       a literal $
 * A $ not followed by a name or '{' is kept as is. Defaults may themselves
 * hold references (nesting is limited). Returns 0, or NOA_EINVAL for an
 * unterminated ${, a bad name or a :? error (err has "file:line:col: ...").
 * file names the input in messages (NULL: "<input>").
 */
int noa_yaml_expand_env(const char *text, size_t len, const char *file, struct noa_buf *out,
                        struct noa_error *err);

/* ---- reading a tree ---------------------------------------------------------- */

/* The value for key in a map (NULL when absent or when m is not a map). */
const struct noa_yaml_node *noa_yaml_get(const struct noa_yaml_node *m, const char *key);

/* Follows a dot-separated path of map keys ("server.http_listen_port"). */
const struct noa_yaml_node *noa_yaml_path(const struct noa_yaml_node *root, const char *path);

/* 1 when the node is YAML null as yaml.v2 resolves it: a plain "", "~",
 * "null", "Null", "NULL", or an explicit !!null tag. NULL counts as null. */
int noa_yaml_is_null(const struct noa_yaml_node *n);

/*
 * Scalar conversions with yaml.v2's rules; each returns 0, or NOA_EINVAL
 * when the node is not a scalar of that type (quoted text is a string, never
 * a bool or number, unless tagged !!bool / !!int / !!float).
 *  bool:   y Y yes Yes YES on On ON true True TRUE, and the n/no/off/false forms
 *  int:    decimal, 0x hex, 0o or leading-0 octal, 0b binary, '_' separators,
 *          optional sign; an integral float ("1e3") is accepted as in yaml.v2
 *  double: any int form, decimals, exponents, .inf/-.inf/.nan (any case form
 *          YAML 1.1 lists)
 */
int noa_yaml_bool(const struct noa_yaml_node *n, int *out);
int noa_yaml_int64(const struct noa_yaml_node *n, int64_t *out);
int noa_yaml_double(const struct noa_yaml_node *n, double *out);

/* A short name for the node's type as yaml.v2 prints it in errors:
 * "!!map", "!!seq", "!!str", "!!int", "!!float", "!!bool", "!!null". */
const char *noa_yaml_type_name(const struct noa_yaml_node *n);

/* Formats "file:line:col: " + fmt into err (code NOA_EINVAL, line/col set)
 * using the node's position, and returns NOA_EINVAL. */
int noa_yaml_error(struct noa_error *err, const struct noa_yaml_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
