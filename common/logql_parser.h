/*
 * The LogQL parser's private interface, shared by its three files:
 * logql_parser.c (tokens, errors, tree allocation and freeing),
 * logql_parse.c (selectors, line and label filters, pipeline stages) and
 * logql_parse_metric.c (range and vector aggregations, binary operators,
 * the entry point). Callers use common/logql.h, never this header.
 */
#ifndef NOA_COMMON_LOGQL_PARSER_H
#define NOA_COMMON_LOGQL_PARSER_H

#include "common/logql.h"

#include <string.h>

struct noa_logql_parser {
    struct noa_logql_lexer lx;
    struct noa_logql_tok tok[2]; /* current and one token of lookahead */
    int have;                    /* tokens buffered in tok[] */
    int depth;
    struct noa_error *err;
};

static inline int fill(struct noa_logql_parser *p, int n)
{
    while (p->have < n) {
        int rc = noa_logql_lex_next(&p->lx, &p->tok[p->have]);
        if (rc < 0)
            return rc;
        p->have++;
    }
    return 0;
}

/* The current token (lexing it if needed); NULL after a lexical error. */
static inline struct noa_logql_tok *cur(struct noa_logql_parser *p)
{
    return fill(p, 1) < 0 ? NULL : &p->tok[0];
}

static inline struct noa_logql_tok *ahead(struct noa_logql_parser *p)
{
    return fill(p, 2) < 0 ? NULL : &p->tok[1];
}

static inline void next(struct noa_logql_parser *p)
{
    if (p->have == 2) {
        struct noa_buf keep = p->tok[0].sval;
        p->tok[0] = p->tok[1];
        p->tok[1].sval = keep;
    }
    p->have = p->have > 0 ? p->have - 1 : 0;
}

static inline int is_punct(const struct noa_logql_tok *t, const char *op)
{
    return t && t->type == NOA_LOGQL_T_PUNCT && !strcmp(t->op, op);
}

static inline int is_kw(const struct noa_logql_tok *t, const char *kw)
{
    return t && t->type == NOA_LOGQL_T_KEYWORD && !strcmp(t->op, kw);
}

static inline int is_func(const struct noa_logql_tok *t, const char *f)
{
    return t && t->type == NOA_LOGQL_T_FUNCTION && !strcmp(t->op, f);
}

/* Index of w in a NULL-terminated list, or -1. */
int noa_logql_parser_find_name(const char *const *list, const char *w);
/* A grammar error at the current token, in goyacc's words. */
int noa_logql_parser_syntax(struct noa_logql_parser *p, const char *expecting);
/* A check after parsing: Loki's "parse error : msg" with no position. */
int noa_logql_parser_invalid(struct noa_logql_parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int noa_logql_parser_expect_punct(struct noa_logql_parser *p, const char *op,
                                  const char *expecting);
/* Counts one level of nesting; an error past NOA_LOGQL_MAX_DEPTH. */
int noa_logql_parser_enter(struct noa_logql_parser *p);
/* An owned, NUL-terminated copy of a STRING token's value. */
struct noa_logql_str noa_logql_parser_take_str(struct noa_logql_tok *t);
/* An owned copy of a token's source text. */
char *noa_logql_parser_tok_text(const struct noa_logql_parser *p, const struct noa_logql_tok *t);
void noa_logql_parser_labels_push(struct noa_logql_labels *l, char *name);
void noa_logql_parser_matcher_fini(struct noa_matcher *m);
void noa_logql_parser_lf_free(struct noa_logql_label_filter *f);
struct noa_logql_expr *noa_logql_parser_new_expr(enum noa_logql_kind kind);

/* logql_parse.c */
int noa_logql_parse_label_filter(struct noa_logql_parser *p, struct noa_logql_label_filter **out);
int noa_logql_parse_stages(struct noa_logql_parser *p, struct noa_logql_expr *e);
/* A stream selector and its pipeline. */
int noa_logql_parse_log(struct noa_logql_parser *p, struct noa_logql_expr **out);

#endif
