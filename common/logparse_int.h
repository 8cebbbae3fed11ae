/*
 * What the parser files of common/ share (logparse.c, logparse_json.c,
 * logparse_logfmt.c, logparse_regexp.c, logparse_unpack.c): the compiled
 * parser, one run's scratch, the JSON scanner that json and unpack both
 * use, and the string helpers (UTF-8 cleaning, JSON unescaping,
 * sanitizing). Not for use outside those files.
 */
#ifndef NOA_COMMON_LOGPARSE_INT_H
#define NOA_COMMON_LOGPARSE_INT_H

#include "common/logparse.h"

#include <stdint.h>

#define NOA__LOGPARSE_JSON_MAX_DEPTH 128 /* nesting bound: deeper lines are a parse error */

struct noa__logparse_jpath; /* a compiled json expression (logparse_json.c) */

/* A compiled parser stage: immutable once built, shared by threads. */
struct noa_logparse {
    enum noa_logparse_kind kind;
    int strict, keep_empty;
    struct noa_logparse_extract *ex; /* owned copies (strings in exbuf) */
    unsigned nex;
    char *exbuf;
    struct noa__logparse_jpath *paths; /* json expressions, one per ex */
    struct noa_regex *re;
    unsigned ngroups;
    struct noa_str *gname; /* sanitized names, gname[i].p NULL when unnamed */
    char *gnamebuf;
    struct noa_pattern pat;
};

/* One run of a parser: the immutable configuration plus the scratch
 * buffers, which live in the caller's label builder so that a compiled
 * parser can be shared by threads that each own a builder. */
struct noa__logparse_run {
    const struct noa_logparse *cfg;
    const struct noa_logparse_want *want; /* NULL: every label */
    uint64_t found, all; /* want->stop_early: bits of the names extracted, of all */
    /* Bits of the wanted names other than __error__/__error_details__
     * (0: not tracked). Once all are found, json only validates the rest
     * of the line, except (err_wanted) where an error name may follow. */
    uint64_t rest_all;
    int err_wanted;
    struct noa_buf *key, *val, *name, *tmp, *line;
    struct noa_buf *line_out; /* unpack's new line: not the one being read */
    struct noa_buf *misc;     /* ex_done flags / regex groups */
    uint8_t *ex_done;
    struct noa_str *groups;
};

/* ---- strings ---- */

/* Copies s into out when it holds invalid UTF-8 or U+FFFD, turning those
 * into spaces (Prometheus rejects them in label values). Returns the
 * clean view, which is s itself when nothing needed replacing. */
struct noa_str noa__logparse_clean_value(struct noa_str s, struct noa_buf *out);

/* Decodes JSON string escapes of raw into out (reset first). Unknown
 * escapes fail (-1); a lone surrogate becomes U+FFFD; raw control bytes
 * pass (Loki's logfmt keeps literal newlines inside quotes). */
int noa__logparse_unescape(struct noa_str raw, struct noa_buf *out);

/* 1 when the UTF-8 sequence at p is invalid or U+FFFD; *len gets its
 * length (1 for an invalid byte). */
int noa__logparse_bad_rune(const unsigned char *p, size_t n, size_t *len);

/* 1 for the bytes a label name keeps as they are: [A-Za-z0-9_]. */
extern const uint8_t noa__logparse_name_bytes[256];

/* The sanitized form of key: key itself when it needs no change (the
 * common case, checked inline), else written into out. */
static inline struct noa_str noa__logparse_sanitized(struct noa_str key, int prefix_digit,
                                                     struct noa_buf *out)
{
    size_t i = 0;
    while (i < key.len && noa__logparse_name_bytes[(unsigned char)key.p[i]])
        i++;
    if (i == key.len && !(prefix_digit && key.len && key.p[0] >= '0' && key.p[0] <= '9'))
        return key;
    noa_logparse_sanitize(key, prefix_digit, out);
    return (struct noa_str){out->data, out->len};
}

/* 1 when a label named `name` (before collision renaming) may be read by
 * the caller's filters: always when want is NULL. */
int noa__logparse_want_has(const struct noa_logparse_want *want, struct noa_str name);
static inline int noa__logparse_wanted(const struct noa_logparse_want *want, struct noa_str name)
{
    return !want || noa__logparse_want_has(want, name);
}
/* After a wanted label was added: 1 when the run may stop now (every
 * wanted name extracted and want->stop_early). */
int noa__logparse_want_mark(struct noa__logparse_run *r, struct noa_str name);
static inline int noa__logparse_want_done(struct noa__logparse_run *r, struct noa_str name)
{
    return r->want && r->want->stop_early && noa__logparse_want_mark(r, name);
}

static inline struct noa_str noa__logparse_bstr(const struct noa_buf *b)
{
    return (struct noa_str){b->data, b->len};
}

static inline void noa__logparse_set_error(struct noa_lbuilder *lb, const char *err,
                                           const char *details)
{
    noa_lbuilder_set_err(lb, noa_str_c(err), noa_str_c(details));
}

/* ---- the JSON scanner (logparse_json.c) ---- */

#define NOA__JERR_OBJ "Value looks like object, but can't find closing '}' symbol"
#define NOA__JERR_STR "Value looks like string, but can't find closing '\"' symbol"
#define NOA__JERR_ARR "Value is array, but can't find closing ']' symbol"
#define NOA__JERR_LIT                                                                             \
    "Value looks like Number/Boolean/None, but can't find its end: ',' or '}' symbol"
#define NOA__JERR_DEEP "Malformed JSON error: nesting too deep"
#define NOA__JERR_UNKNOWN "Unknown value type"
/* Not an error: the scan stopped early (noa__logparse_want_done). Told
 * apart from the messages above by its address. */
extern const char noa__logparse_jdone[];

struct noa__logparse_jscan {
    const char *p;
    size_t n, i;
    const char *err; /* first error, NULL while fine */
};

/* Flags of a scanned string. */
#define NOA__JSTR_ESC 1   /* holds a backslash */
#define NOA__JSTR_UTF8 2  /* holds a byte >= 0x80 */

/* Records the first error; returns -1. */
int noa__logparse_jfail(struct noa__logparse_jscan *s, const char *msg);
/* At '"': *raw gets the bytes between the quotes and *flags NOA__JSTR_*;
 * the cursor moves past the closing quote. */
int noa__logparse_jstring(struct noa__logparse_jscan *s, struct noa_str *raw, int *flags);
/* Skips one value at the cursor, validating it. */
int noa__logparse_jskip(struct noa__logparse_jscan *s, int depth);
/* Iterates the members of the object at the cursor ('{'): calls member
 * with the cursor on each value (whitespace skipped), which must consume
 * it. esc is nonzero when the raw key holds a backslash. */
int noa__logparse_jobject(struct noa__logparse_jscan *s,
                          int (*member)(void *ctx, struct noa__logparse_jscan *s,
                                        struct noa_str key, int esc, int depth),
                          void *ctx, int depth);

static inline int noa__logparse_jspace(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline void noa__logparse_jws(struct noa__logparse_jscan *s)
{
    while (s->i < s->n && noa__logparse_jspace(s->p[s->i]))
        s->i++;
}

/* ---- the parsers ---- */

int noa__logparse_json_setup(struct noa_logparse *p, struct noa_error *err);
void noa__logparse_json_free(struct noa_logparse *p);
void noa__logparse_json_run(struct noa__logparse_run *r, struct noa_str line,
                            struct noa_lbuilder *lb);
void noa__logparse_json_expr_run(struct noa__logparse_run *r, struct noa_str line,
                                 struct noa_lbuilder *lb);
void noa__logparse_logfmt_run(struct noa__logparse_run *r, struct noa_str line,
                              struct noa_lbuilder *lb);
int noa__logparse_regexp_setup(struct noa_logparse *p, struct noa_str src, struct noa_error *err);
void noa__logparse_regexp_run(struct noa__logparse_run *r, struct noa_str line,
                              struct noa_lbuilder *lb);
void noa__logparse_pattern_run(struct noa__logparse_run *r, struct noa_str line,
                               struct noa_lbuilder *lb);
void noa__logparse_unpack_run(struct noa__logparse_run *r, struct noa_str *line,
                              struct noa_lbuilder *lb);

#endif
