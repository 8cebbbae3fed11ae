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
 * thread), so steady-state runs do not allocate. One file per parser:
 * logparse_json.c, logparse_logfmt.c, logparse_regexp.c (regexp and
 * pattern), logparse_unpack.c; logparse.c builds and dispatches.
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

/* ---- filter first ----
 *
 * When label filters follow a parser directly, the pipeline first runs
 * the parser for just the names those filters read, evaluates them, and
 * parses fully only the lines they keep. */

/* The label names a caller's filters read. */
struct noa_logparse_want {
    struct noa_str *names; /* owned: the names, plus `x` for each `x_extracted` */
    unsigned n;
    char *buf;      /* owned: their bytes */
    int stop_early; /* a run may stop once each name was extracted */
};

/* Builds a want set from the names the filters read (borrowed, copied).
 * stop_early: the filters do not decide by the error pair (no
 * `__error__` matcher, no ip() filter), so a run may stop as soon as
 * every wanted name has been extracted once: later values cannot win
 * (the first extraction does) and a later syntax error would not change
 * the decision. */
void noa_logparse_want_init(struct noa_logparse_want *w, const struct noa_str *names, unsigned n,
                            int stop_early);
void noa_logparse_want_fini(struct noa_logparse_want *w);

/* 1 when p supports noa_logparse_run_want: `| json` and `| logfmt`
 * without extraction expressions (the others are selective already). */
int noa_logparse_can_want(const struct noa_logparse *p);

/*
 * Like noa_logparse_run (the line is not replaced), but adds only the
 * labels whose name, before `_extracted` renaming, is in want; names and
 * values of the others are not built. Every label it adds, and the error
 * pair it sets, are exactly those a full run gives, so filters that read
 * only names in want (and the error pair) decide the same; with
 * want->stop_early, the scan ends once every wanted name was extracted
 * and the error pair may then be missing. Use only when
 * noa_logparse_can_want(p).
 */
void noa_logparse_run_want(const struct noa_logparse *p, struct noa_str line,
                           struct noa_lbuilder *lb, const struct noa_logparse_want *want);

/* Loki's sanitizeLabelKey into out (reset first): trims spaces, prefixes
 * a leading digit with '_' (only when prefix_digit), maps every rune
 * outside [A-Za-z0-9_] to one '_'. */
void noa_logparse_sanitize(struct noa_str key, int prefix_digit, struct noa_buf *out);

#endif
