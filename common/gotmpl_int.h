/*
 * Internals shared by gotmpl.c (lexer, parser, executor) and the function
 * files gotmpl_funcs.c (helpers, logic, math, lookup), gotmpl_strings.c,
 * gotmpl_time.c and gotmpl_fmt.c: the value type, the execution state
 * handed to functions and the helpers they share. Not thread-safe per
 * execution; one struct noa__gotmpl_exec belongs to one running call.
 */
#ifndef NOA_COMMON_GOTMPL_INT_H
#define NOA_COMMON_GOTMPL_INT_H

#include "common/gotmpl.h"

#include <stdarg.h>

struct noa_regex;
struct noa__gotmpl_zone;

/* Made strings may total this many times the output cap per execution. */
#define NOA_GOTMPL_MADE_FACTOR 16

/* Go's dynamic types as far as Loki templates produce them. */
enum noa__gotmpl_kind {
    NOA_GOTMPL_NIL, /* untyped nil / <no value> */
    NOA_GOTMPL_STR,
    NOA_GOTMPL_INT,   /* int / int64 */
    NOA_GOTMPL_FLOAT, /* float64 */
    NOA_GOTMPL_BOOL,
    NOA_GOTMPL_TIME,  /* time.Time */
    NOA_GOTMPL_MAP,   /* the label map (the template's dot) */
    NOA_GOTMPL_UINT8, /* what index gives on a string */
};

struct noa__gotmpl_val {
    enum noa__gotmpl_kind kind;
    union {
        struct noa_str s; /* STR; bytes live in the input or the scratch arena */
        int64_t i;        /* INT, UINT8, BOOL */
        double f;         /* FLOAT */
        struct {
            int64_t sec;  /* Unix seconds */
            int32_t nsec; /* 0..999999999 */
            int32_t off;  /* zone offset, seconds east of UTC */
        } t;              /* TIME */
    } u;
};

/* The state a function sees while a template runs. */
struct noa__gotmpl_exec {
    const struct noa_gotmpl_data *data;
    struct noa_gotmpl_scratch *work;          /* made values */
    struct noa_buf *spare;                    /* NOA_GOTMPL_NBUFS buffers lent to functions */
    size_t max_str;                           /* bytes; cap on any string made */
    size_t made;                              /* bytes of strings made so far */
    const struct noa_regex *re_hint;          /* the call's regex, compiled at parse time */
    const struct noa__gotmpl_zone *zone_hint; /* toDateInZone's zone, loaded at parse time */
    char msg[400];                            /* a function's error message */
};

/* A builtin: fills *out from args, returns 0 or NOA_EINVAL / NOA_ETOOBIG
 * with x->msg set. */
struct noa__gotmpl_func {
    const char *name;
    int min_args, max_args; /* max_args -1: variadic */
    int (*fn)(struct noa__gotmpl_exec *x, const struct noa__gotmpl_val *args, int n,
              struct noa__gotmpl_val *out);
};

/* ------------------------------------------------ the parsed tree
 * Built by gotmpl.c in the template's arena, read by gotmpl_exec.c. */

#define NOA_GOTMPL_MAX_ARGS 64         /* operands in one command */
#define NOA_GOTMPL_MAX_STEPS 10000000L /* default: executed nodes and calls */

enum noa__gotmpl_arg_kind {
    NOA_GOTMPL_A_DOT,
    NOA_GOTMPL_A_FIELD,
    NOA_GOTMPL_A_VAR,
    NOA_GOTMPL_A_FUNC,
    NOA_GOTMPL_A_LIT,
    NOA_GOTMPL_A_PIPE
};

struct noa__gotmpl_pipe;

struct noa__gotmpl_arg {
    enum noa__gotmpl_arg_kind kind;
    size_t pos;          /* source offset, for messages */
    struct noa_str text; /* source text */
    struct noa_str name; /* NOA_GOTMPL_A_VAR: "$x"; NOA_GOTMPL_A_FUNC: the name */
    const struct noa__gotmpl_func *fn;
    struct noa__gotmpl_val lit;    /* NOA_GOTMPL_A_LIT */
    struct noa__gotmpl_pipe *pipe; /* NOA_GOTMPL_A_PIPE */
    struct noa_str *fields;        /* chain applied after the term */
    int nfields;
    struct noa_regex *re;          /* a literal regex argument, compiled once */
    struct noa__gotmpl_zone *zone; /* a literal toDateInZone zone, loaded once */
};

struct noa__gotmpl_re_link {
    struct noa_regex *re;          /* or NULL */
    struct noa__gotmpl_zone *zone; /* or NULL */
    struct noa__gotmpl_re_link *next;
};

struct noa__gotmpl_cmd {
    struct noa__gotmpl_arg **args;
    int nargs;
    size_t pos;
    struct noa_str text;
    struct noa__gotmpl_cmd *next;
};

struct noa__gotmpl_pipe {
    int ndecl;  /* 0, 1 or 2 variables declared or assigned */
    int assign; /* "=" rather than ":=" */
    struct noa_str decl[2];
    struct noa__gotmpl_cmd *cmds;
};

enum noa__gotmpl_node_kind {
    NOA_GOTMPL_N_TEXT,
    NOA_GOTMPL_N_ACTION,
    NOA_GOTMPL_N_IF,
    NOA_GOTMPL_N_WITH,
    NOA_GOTMPL_N_RANGE,
    NOA_GOTMPL_N_BREAK,
    NOA_GOTMPL_N_CONTINUE
};

struct noa__gotmpl_node {
    enum noa__gotmpl_node_kind kind;
    struct noa_str text; /* NOA_GOTMPL_N_TEXT */
    struct noa__gotmpl_pipe *pipe;
    struct noa__gotmpl_node *list, *elist; /* control bodies */
    size_t pos;
    struct noa__gotmpl_node *next;
};

struct noa_gotmpl {
    struct noa_arena arena; /* everything below lives here */
    char name[32];
    const char *src;
    size_t srclen;
    struct noa__gotmpl_node *root;
    int nvars; /* declarations in the template: bounds the exec var stack */
    struct noa__gotmpl_re_link *regexes; /* compiled literal regexes, freed with the template */
};

/* Line (1-based) of byte pos in s; *col0 gets the 0-based byte column. */
int noa__gotmpl_position(const char *s, size_t pos, int *col0);

/* The signature of every builtin, spelled once. */
#define NOA_GOTMPL_FN_ARGS                                                                         \
    struct noa__gotmpl_exec *x, const struct noa__gotmpl_val *a, int n, struct noa__gotmpl_val *out

/* Each function file's table, ended by an entry with a NULL name. */
extern const struct noa__gotmpl_func noa__gotmpl_funcs_funcs[];
extern const struct noa__gotmpl_func noa__gotmpl_strings_funcs[];
extern const struct noa__gotmpl_func noa__gotmpl_time_funcs[];
extern const struct noa__gotmpl_func noa__gotmpl_fmt_funcs[];

static inline struct noa__gotmpl_val noa__gotmpl_str(struct noa_str s)
{
    return (struct noa__gotmpl_val){.kind = NOA_GOTMPL_STR, .u.s = s};
}

static inline struct noa__gotmpl_val noa__gotmpl_int(int64_t i)
{
    return (struct noa__gotmpl_val){.kind = NOA_GOTMPL_INT, .u.i = i};
}

static inline struct noa__gotmpl_val noa__gotmpl_float(double f)
{
    return (struct noa__gotmpl_val){.kind = NOA_GOTMPL_FLOAT, .u.f = f};
}

static inline struct noa__gotmpl_val noa__gotmpl_bool(int b)
{
    return (struct noa__gotmpl_val){.kind = NOA_GOTMPL_BOOL, .u.i = !!b};
}

/* Sets x->msg and returns code. */
int noa__gotmpl_fail(struct noa__gotmpl_exec *x, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* n bytes of working memory for this execution (16-byte aligned). */
void *noa__gotmpl_alloc(struct noa__gotmpl_exec *x, size_t n);
/* Room for a made string of n bytes (+1) in working memory, or NULL
 * with the error set when n is over the cap. */
char *noa__gotmpl_mk(struct noa__gotmpl_exec *x, size_t n);
/* A working buffer (empty, possibly with capacity kept from earlier use);
 * hand it back with noa__gotmpl_buf_give, which keeps its memory for the
 * next taker, so warm executions do not allocate. */
struct noa_buf noa__gotmpl_buf_take(struct noa__gotmpl_exec *x);
void noa__gotmpl_buf_give(struct noa__gotmpl_exec *x, struct noa_buf *b);
/* Moves b's bytes into a made string in *out; b is given back. */
int noa__gotmpl_from_buf(struct noa__gotmpl_exec *x, struct noa_buf *b,
                         struct noa__gotmpl_val *out);
/* Go's argument checks: "wrong type for value; expected string; got int". */
int noa__gotmpl_want_str(struct noa__gotmpl_exec *x, const struct noa__gotmpl_val *v,
                         struct noa_str *s);
int noa__gotmpl_want_strs(struct noa__gotmpl_exec *x, const struct noa__gotmpl_val *a, int n,
                          struct noa_str *s);
int noa__gotmpl_want_int(struct noa__gotmpl_exec *x, const struct noa__gotmpl_val *v, int64_t *i);
int noa__gotmpl_want_time(struct noa__gotmpl_exec *x, const struct noa__gotmpl_val *v);
/* spf13/cast conversions as sprig uses them (unparsable gives 0). */
int64_t noa__gotmpl_cast_int(const struct noa__gotmpl_val *v);
double noa__gotmpl_cast_float(const struct noa__gotmpl_val *v);

/* Runes in s[0..n) and the byte length of its first `runes` runes. */
size_t noa__gotmpl_fmt_rune_count(const char *s, size_t n);
size_t noa__gotmpl_fmt_rune_prefix(const char *s, size_t n, size_t runes);

/* A time value from Unix seconds and nanoseconds (normalised), in UTC. */
struct noa__gotmpl_val noa__gotmpl_time_make(int64_t sec, int64_t nsec);
/* Loads the time zone called name[0..len) from the system zoneinfo tree;
 * -1 when there is no such zone. Free with noa__gotmpl_time_zone_free. */
int noa__gotmpl_time_zone_load(const char *name, size_t len, struct noa__gotmpl_zone **out);
void noa__gotmpl_time_zone_free(struct noa__gotmpl_zone *z);

/* Appends the time v formatted with the Go layout l[0..n). */
void noa__gotmpl_time_format(const struct noa__gotmpl_val *v, const char *l, size_t n,
                             struct noa_buf *b);

/* The function named s, or NULL. The control functions and/or are
 * reported as found but evaluated lazily by the executor. */
const struct noa__gotmpl_func *noa__gotmpl_func_find(struct noa_str s);

/* Appends v as Go's fmt.Fprint would print it. */
void noa__gotmpl_print(struct noa__gotmpl_exec *x, const struct noa__gotmpl_val *v,
                       struct noa_buf *b);

/* Go's truth: false, 0, "", nil and the empty map are false. */
int noa__gotmpl_truth(const struct noa__gotmpl_val *v);

/* Go's type name of v for messages ("string", "int", ...). */
const char *noa__gotmpl_type(const struct noa__gotmpl_val *v);

#endif
