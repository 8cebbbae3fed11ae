/*
 * The parser stages of a LogQL pipeline: `| json`, `| logfmt`,
 * `| regexp "re"`, `| pattern "p"` and `| unpack`, each turning one log
 * line into labels in a struct noa_lbuilder (pkg/logql/log/parser.go,
 * logfmt/, pattern/, jsonexpr/). Also Loki's pattern-language compiler,
 * which the `|>` line filter shares.
 *
 * A struct noa_logparse is built once per query from options the LogQL
 * engine fills, and is immutable afterwards: threads may share it. The
 * per-line scratch lives in the caller's struct noa_lbuilder (one per
 * thread), so steady-state runs do not allocate.
 */
#ifndef NOA_COMMON_LOGPARSE_H
#define NOA_COMMON_LOGPARSE_H

#include "common/buf.h"
#include "common/err.h"
#include "common/lbuilder.h"

/* ---- pattern language (`<name>`, `<_>`, literals) ---- */

enum noa_pattern_kind {
    NOA_PATTERN_LIT = 0,     /* literal bytes */
    NOA_PATTERN_CAPTURE = 1, /* <name> */
    NOA_PATTERN_SKIP = 2,    /* <_> */
};

struct noa_pattern_node {
    enum noa_pattern_kind kind;
    struct noa_str text; /* literal bytes or capture name; borrowed from src */
};

struct noa_pattern {
    char *src;                     /* owned copy of the pattern */
    struct noa_pattern_node *node; /* owned */
    unsigned n;
    unsigned ncaptures; /* named captures */
};

/*
 * Compiles a pattern. for_line_filter=1 (`|>`): named captures are an
 * error ("named captures are not allowed") and none are required.
 * Otherwise (`| pattern`): at least one named capture, unique names.
 * Both reject two adjacent captures. Returns 0 or NOA_EINVAL.
 */
int noa_logparse_pattern_compile(struct noa_str src, int for_line_filter, struct noa_pattern *out,
                                 struct noa_error *err);
void noa_logparse_pattern_fini(struct noa_pattern *p);
/* Loki's Matcher.Test (the `|>` semantics); 1 when the line matches. */
int noa_logparse_pattern_test(const struct noa_pattern *p, const char *line, size_t len);

/* ---- parser stages ---- */

enum noa_logparse_kind {
    NOA_LOGPARSE_JSON = 0,
    NOA_LOGPARSE_LOGFMT = 1,
    NOA_LOGPARSE_REGEXP = 2,
    NOA_LOGPARSE_PATTERN = 3,
    NOA_LOGPARSE_UNPACK = 4,
};

/* One extraction `name="expr"` (json path or logfmt key); a bare `name`
 * is passed with expr equal to name. */
struct noa_logparse_extract {
    struct noa_str name;
    struct noa_str expr;
};

struct noa_logparse_opts {
    enum noa_logparse_kind kind;
    const struct noa_logparse_extract *extract; /* json / logfmt; borrowed, copied */
    unsigned nextract;
    int strict;             /* logfmt --strict */
    int keep_empty;         /* logfmt --keep-empty */
    struct noa_str pattern; /* regexp / pattern source */
};

struct noa_logparse;

/* Builds a parser stage. NOA_EINVAL with Loki's wording for bad regexes
 * ("at least one named capture must be supplied"), bad patterns and bad
 * json expressions ("cannot parse expression [...]"). */
int noa_logparse_new(const struct noa_logparse_opts *opts, struct noa_logparse **out,
                     struct noa_error *err);
void noa_logparse_free(struct noa_logparse *p);

/*
 * Parses *line into lb. Failures never drop a line: they set __error__
 * (and __error_details__) in lb as Loki does. unpack may replace *line
 * with the `_entry` value, which then lives in lb's scratch until a later
 * unpack on the same builder (at most two lines are alive: the one read
 * and the one written). Returns 0 (always: errors are labels).
 */
int noa_logparse_run(const struct noa_logparse *p, struct noa_str *line,
                     struct noa_lbuilder *lb);

/* Loki's sanitizeLabelKey into out (reset first): trims spaces, prefixes
 * a leading digit with '_' (only when prefix_digit), maps every rune
 * outside [A-Za-z0-9_] to one '_'. */
void noa_logparse_sanitize(struct noa_str key, int prefix_digit, struct noa_buf *out);

#endif
