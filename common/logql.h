/*
 * LogQL: lexer, parser, AST and canonical formatter (Loki 3.x grammar).
 *
 * noa_logql_parse() turns query text into a tree of struct noa_logql_expr
 * that owns everything below it (strings, matchers, compiled regexes);
 * noa_logql_free() releases it. noa_logql_format() prints the text Loki's
 * syntax.Expr.String() prints, so parse -> format -> parse gives the same
 * tree; noa_logql_pretty() prints what syntax.Prettify() does (the one-line
 * text, split and indented past 100 characters), which is what
 * /loki/api/v1/format_query and logcli's fmt return. Evaluation lives elsewhere.
 * Errors use Loki's wording: "parse error at line L, col C: syntax error:
 * unexpected X, expecting Y" for grammar errors and "parse error : <msg>"
 * (line and col 0) for the checks done after a construct is recognised.
 * A parsed tree is immutable and may be read from any thread.
 */
#ifndef NOA_COMMON_LOGQL_H
#define NOA_COMMON_LOGQL_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/selector.h"

/* Loki's maxInputSize: a query must be shorter than this (bytes). */
#define NOA_LOGQL_MAX_INPUT 131072
/* Nesting deeper than this (parentheses, aggregations, binary operators,
 * label-filter groups) is rejected instead of recursing further. */
#define NOA_LOGQL_MAX_DEPTH 200

/* An owned byte string; p is NUL-terminated, len excludes the NUL (the
 * value may itself contain NUL bytes from "\x00" escapes). */
struct noa_logql_str {
    char *p;
    size_t len;
};

/* ---- pipeline stages ---------------------------------------------------- */

enum noa_logql_line_op {
    NOA_LOGQL_LINE_CONTAINS = 0,     /* |= */
    NOA_LOGQL_LINE_NOT_CONTAINS = 1, /* != */
    NOA_LOGQL_LINE_MATCH = 2,        /* |~ (unanchored regex) */
    NOA_LOGQL_LINE_NOT_MATCH = 3,    /* !~ */
    NOA_LOGQL_LINE_PATTERN = 4,      /* |> */
    NOA_LOGQL_LINE_NOT_PATTERN = 5,  /* !> */
};

/* One operand of a line filter: a literal/regex/pattern, or ip("..."). */
struct noa_logql_line_operand {
    struct noa_logql_str value;
    int is_ip; /* 1 for ip("cidr|range|addr") */
};

/* `op a or b or ...`: the operands are ORed. n >= 1; n > 1 only for the
 * positive ops, as the parser turns `!= "a" or "b"` into two stages
 * (`!= "a" != "b"`), which is what Loki does and prints. */
struct noa_logql_line_filter {
    enum noa_logql_line_op op;
    struct noa_logql_line_operand *v; /* owned array */
    unsigned n;
};

enum noa_logql_cmp {
    NOA_LOGQL_CMP_EQ = 0,  /* == or = (numeric) */
    NOA_LOGQL_CMP_NEQ = 1, /* != */
    NOA_LOGQL_CMP_GT = 2,
    NOA_LOGQL_CMP_GTE = 3,
    NOA_LOGQL_CMP_LT = 4,
    NOA_LOGQL_CMP_LTE = 5,
};

enum noa_logql_lf_kind {
    NOA_LOGQL_LF_AND = 0,      /* left and right (also `,` and juxtaposition) */
    NOA_LOGQL_LF_OR = 1,       /* left or right */
    NOA_LOGQL_LF_STRING = 2,   /* matcher: name = != =~ !~ "value" */
    NOA_LOGQL_LF_NUMBER = 3,   /* name cmp 1.5 */
    NOA_LOGQL_LF_DURATION = 4, /* name cmp 1m30s */
    NOA_LOGQL_LF_BYTES = 5,    /* name cmp 20MB */
    NOA_LOGQL_LF_IP = 6,       /* name = ip("...") / name != ip("...") (cmp EQ/NEQ) */
};

/* A label-filter expression tree. */
struct noa_logql_label_filter {
    enum noa_logql_lf_kind kind;
    struct noa_logql_label_filter *left, *right; /* owned; AND/OR only */
    char *name;                                  /* owned; leaves except STRING */
    enum noa_logql_cmp cmp;                      /* NUMBER/DURATION/BYTES/IP */
    struct noa_matcher matcher;                  /* STRING (owns name, value, regex) */
    double number;                               /* NUMBER */
    int64_t duration_ns;                         /* DURATION */
    uint64_t bytes;                              /* BYTES */
    struct noa_logql_str ip;                     /* IP pattern */
};

/* `name="expr"` in json/logfmt extraction lists (a bare `name` means
 * name="name"). */
struct noa_logql_extract {
    char *name;               /* owned */
    struct noa_logql_str expr;
};

/* `dst=src` (rename) or `dst="template"` in label_format. */
struct noa_logql_label_fmt {
    char *dst; /* owned */
    struct noa_logql_str value;
    int rename; /* 1: value is a label name */
};

/* `name` or `name op "value"` in drop / keep. */
struct noa_logql_named {
    char *name;      /* owned */
    int has_matcher; /* 1: matcher below is set (and owns its own copy of name) */
    struct noa_matcher matcher;
};

enum noa_logql_stage_kind {
    NOA_LOGQL_STAGE_LINE_FILTER = 0,
    NOA_LOGQL_STAGE_JSON = 1,   /* extracts may be empty (plain `| json`) */
    NOA_LOGQL_STAGE_LOGFMT = 2, /* flags + optional extracts */
    NOA_LOGQL_STAGE_REGEXP = 3, /* text = the regex (validated, >= 1 named group) */
    NOA_LOGQL_STAGE_PATTERN = 4, /* text = the pattern (validated) */
    NOA_LOGQL_STAGE_UNPACK = 5,
    NOA_LOGQL_STAGE_LABEL_FILTER = 6,
    NOA_LOGQL_STAGE_LINE_FORMAT = 7, /* text = the template */
    NOA_LOGQL_STAGE_LABEL_FORMAT = 8,
    NOA_LOGQL_STAGE_DROP = 9,
    NOA_LOGQL_STAGE_KEEP = 10,
    NOA_LOGQL_STAGE_DECOLORIZE = 11,
};

struct noa_logql_stage {
    enum noa_logql_stage_kind kind;
    struct noa_logql_line_filter line;        /* LINE_FILTER */
    struct noa_logql_label_filter *filter;    /* LABEL_FILTER (owned) */
    struct noa_logql_str text;                /* REGEXP, PATTERN, LINE_FORMAT */
    int strict, keep_empty;                   /* LOGFMT flags */
    struct noa_logql_extract *extracts;       /* JSON, LOGFMT (owned array) */
    unsigned n_extracts;
    struct noa_logql_label_fmt *fmts;         /* LABEL_FORMAT */
    unsigned n_fmts;
    struct noa_logql_named *names;            /* DROP, KEEP */
    unsigned n_names;
};

/* ---- expressions ---------------------------------------------------------- */

enum noa_logql_kind {
    NOA_LOGQL_LOG = 0,           /* selector + pipeline: a log query */
    NOA_LOGQL_RANGE_AGG = 1,     /* count_over_time({...}[5m]) ... */
    NOA_LOGQL_VECTOR_AGG = 2,    /* sum by (x) (...) */
    NOA_LOGQL_BINOP = 3,         /* a + b, with modifiers */
    NOA_LOGQL_LITERAL = 4,       /* 1.5 (binary ops of two literals are folded) */
    NOA_LOGQL_VECTOR = 5,        /* vector(1) */
    NOA_LOGQL_LABEL_REPLACE = 6, /* label_replace(v, "dst", "repl", "src", "re") */
};

enum noa_logql_range_op {
    NOA_LOGQL_RANGE_COUNT = 0, /* count_over_time */
    NOA_LOGQL_RANGE_RATE,
    NOA_LOGQL_RANGE_RATE_COUNTER,
    NOA_LOGQL_RANGE_BYTES,      /* bytes_over_time */
    NOA_LOGQL_RANGE_BYTES_RATE, /* bytes_rate */
    NOA_LOGQL_RANGE_AVG,
    NOA_LOGQL_RANGE_SUM,
    NOA_LOGQL_RANGE_MIN,
    NOA_LOGQL_RANGE_MAX,
    NOA_LOGQL_RANGE_STDVAR,
    NOA_LOGQL_RANGE_STDDEV,
    NOA_LOGQL_RANGE_QUANTILE,
    NOA_LOGQL_RANGE_FIRST,
    NOA_LOGQL_RANGE_LAST,
    NOA_LOGQL_RANGE_ABSENT,
};

enum noa_logql_vector_op {
    NOA_LOGQL_VEC_SUM = 0,
    NOA_LOGQL_VEC_AVG,
    NOA_LOGQL_VEC_COUNT,
    NOA_LOGQL_VEC_MAX,
    NOA_LOGQL_VEC_MIN,
    NOA_LOGQL_VEC_STDDEV,
    NOA_LOGQL_VEC_STDVAR,
    NOA_LOGQL_VEC_BOTTOMK,
    NOA_LOGQL_VEC_TOPK,
    NOA_LOGQL_VEC_SORT,
    NOA_LOGQL_VEC_SORT_DESC,
    NOA_LOGQL_VEC_APPROX_TOPK,
};

enum noa_logql_bin_op {
    NOA_LOGQL_BIN_OR = 0,
    NOA_LOGQL_BIN_AND,
    NOA_LOGQL_BIN_UNLESS,
    NOA_LOGQL_BIN_EQ, /* == */
    NOA_LOGQL_BIN_NEQ,
    NOA_LOGQL_BIN_GT,
    NOA_LOGQL_BIN_GTE,
    NOA_LOGQL_BIN_LT,
    NOA_LOGQL_BIN_LTE,
    NOA_LOGQL_BIN_ADD,
    NOA_LOGQL_BIN_SUB,
    NOA_LOGQL_BIN_MUL,
    NOA_LOGQL_BIN_DIV,
    NOA_LOGQL_BIN_MOD,
    NOA_LOGQL_BIN_POW,
};

enum noa_logql_unwrap_conv {
    NOA_LOGQL_CONV_NONE = 0,             /* unwrap label: the value as a float */
    NOA_LOGQL_CONV_BYTES = 1,            /* unwrap bytes(label) */
    NOA_LOGQL_CONV_DURATION = 2,         /* unwrap duration(label) */
    NOA_LOGQL_CONV_DURATION_SECONDS = 3, /* unwrap duration_seconds(label) */
};

enum noa_logql_card {
    NOA_LOGQL_CARD_ONE_TO_ONE = 0,
    NOA_LOGQL_CARD_MANY_TO_ONE = 1, /* group_left */
    NOA_LOGQL_CARD_ONE_TO_MANY = 2, /* group_right */
};

struct noa_logql_labels {
    char **v; /* owned array of owned names */
    unsigned n;
};

/* by/without. `present` is 0 when no grouping clause was written. */
struct noa_logql_grouping {
    int present;
    int without;
    struct noa_logql_labels labels;
};

struct noa_logql_expr {
    enum noa_logql_kind kind;

    /* LOG */
    struct noa_selector selector;
    struct noa_logql_stage *stages; /* owned array, in query order */
    unsigned n_stages;

    /* RANGE_AGG: `log` is a LOG node (selector + pipeline before unwrap) */
    enum noa_logql_range_op range_op;
    struct noa_logql_expr *log;
    int64_t range_ns;  /* the [range] */
    int64_t offset_ns; /* offset, 0 when absent (may be negative) */
    int has_unwrap;
    enum noa_logql_unwrap_conv unwrap_conv;
    char *unwrap_label;                          /* owned */
    struct noa_logql_label_filter **post_filters; /* owned: `| filter` after unwrap */
    unsigned n_post_filters;
    int has_param; /* quantile_over_time φ, topk k */
    double param;

    /* VECTOR_AGG (and RANGE_AGG grouping) */
    enum noa_logql_vector_op vector_op;
    struct noa_logql_grouping grouping;
    struct noa_logql_expr *inner; /* VECTOR_AGG, LABEL_REPLACE */

    /* BINOP */
    enum noa_logql_bin_op bin_op;
    struct noa_logql_expr *lhs, *rhs;
    int return_bool;
    int has_matching; /* on(...) or ignoring(...) written */
    int on;           /* 1 on, 0 ignoring */
    struct noa_logql_labels matching;
    enum noa_logql_card card;
    int has_include;                 /* a label list followed group_left/right */
    struct noa_logql_labels include; /* group_left/right labels */

    /* LITERAL, VECTOR */
    double value;

    /* LABEL_REPLACE */
    struct noa_logql_str dst, replacement, src, regex;
    struct noa_regex *re; /* owned, anchored ^(?:regex)$ */
};

/* ---- API ------------------------------------------------------------------ */

/*
 * Parses q[0..len) into a new tree (*out, caller frees with noa_logql_free).
 * Returns 0, or NOA_EINVAL with err filled (Loki's message text, line/col
 * 1-based for grammar errors and 0 for validation errors).
 */
int noa_logql_parse(const char *q, size_t len, struct noa_logql_expr **out,
                    struct noa_error *err);

/* Frees a tree; NULL is a no-op. */
void noa_logql_free(struct noa_logql_expr *e);

/* Appends Loki's canonical text of e (syntax.Expr.String()). */
void noa_logql_format(const struct noa_logql_expr *e, struct noa_buf *out);

/* Loki's maxCharsPerLine: longer expressions are split by the prettifier. */
#define NOA_LOGQL_PRETTY_WIDTH 100

/*
 * Appends Loki's syntax.Prettify(e) (common/logql_pretty.c): the canonical
 * text when it fits in NOA_LOGQL_PRETTY_WIDTH bytes, else split over
 * indented lines. No trailing newline. _width takes the limit (tests).
 */
void noa_logql_pretty(const struct noa_logql_expr *e, struct noa_buf *out);
void noa_logql_pretty_width(const struct noa_logql_expr *e, size_t width, struct noa_buf *out);

/* 1 when e is a log query (selector + pipeline), 0 for a metric query. */
int noa_logql_is_log(const struct noa_logql_expr *e);

/*
 * The log selections (NOA_LOGQL_LOG nodes: selector + stages in order) of
 * e, left to right. Fills up to max pointers (borrowed until e is freed)
 * and returns how many there are in total.
 */
unsigned noa_logql_selectors(const struct noa_logql_expr *e, const struct noa_logql_expr **out,
                             unsigned max);

/* Names for ops as Loki spells them ("count_over_time", "topk", "+", ...). */
const char *noa_logql_range_op_name(enum noa_logql_range_op op);
const char *noa_logql_vector_op_name(enum noa_logql_vector_op op);
const char *noa_logql_bin_op_name(enum noa_logql_bin_op op);

/* An arithmetic or comparison operator on two numbers as Loki computes it
 * (comparisons give 1 or 0; x / 0 and x % 0 are NaN, unlike PromQL): the
 * parser folds literals with it and the metric engine applies it. NaN for
 * the set operators. */
double noa_logql_bin_apply(enum noa_logql_bin_op op, double l, double r);

/* ---- lexer (used by the parser; exposed for its tests) -------------------- */

enum noa_logql_tok_type {
    NOA_LOGQL_T_EOF = 0,
    NOA_LOGQL_T_IDENT,
    NOA_LOGQL_T_STRING,
    NOA_LOGQL_T_NUMBER,
    NOA_LOGQL_T_DURATION,
    NOA_LOGQL_T_BYTES,
    NOA_LOGQL_T_RANGE,
    NOA_LOGQL_T_PUNCT,    /* operators and brackets: text in op */
    NOA_LOGQL_T_KEYWORD,  /* reserved words and flags: lowercased text in op */
    NOA_LOGQL_T_FUNCTION, /* function words before '(' (or by/without '('): op */
};

struct noa_logql_tok {
    enum noa_logql_tok_type type;
    size_t off, len;         /* the token's bytes in the query */
    int line, col;           /* 1-based */
    char op[24];             /* PUNCT/KEYWORD/FUNCTION: canonical lowercase text */
    struct noa_buf sval;     /* STRING: unquoted bytes (owned by the lexer) */
    double num;              /* NUMBER */
    int64_t duration_ns;     /* DURATION, RANGE */
    uint64_t bytes;          /* BYTES */
};

/* Zero it, then set q, len, line = col = 1 and err. */
struct noa_logql_lexer {
    const char *q;
    size_t len;
    size_t pos;     /* private: next byte to scan */
    int line, col;  /* private: position of pos (1-based) */
    struct noa_error *err;
};

/* Scans the next token into t (t->sval is reset and reused). On a lexical
 * error returns NOA_EINVAL with the lexer's err filled in Loki's shape. */
int noa_logql_lex_next(struct noa_logql_lexer *lx, struct noa_logql_tok *t);

/* Duration parsers used by the lexer (0 or NOA_EINVAL). Prometheus form
 * (1h30m, 5m, 1d, 500ms; integers only) and Go form (1.5s, 300us). */
int noa_logql_lex_prom_duration(const char *s, size_t n, int64_t *ns);
int noa_logql_lex_go_duration(const char *s, size_t n, int64_t *ns);
/* humanize.ParseBytes: "20MB", "1KiB", "3 kb" (case-insensitive units). */
int noa_logql_lex_bytes(const char *s, size_t n, uint64_t *out);

#endif
