/*
 * JMESPath (see jmespath.h): a lexer and a Pratt parser that build an
 * expression tree, and an evaluator over jansson values. The grammar and
 * binding powers are the JMESPath specification's; evaluation follows its
 * rules for projections (null results are left out), truthiness and
 * comparisons. Numbers are doubles throughout, as in Go.
 *
 * Owns the only use of jansson in the shipper's stages. A compiled tree is
 * read-only once built; evaluation allocates jansson values per call.
 */
#include "shipper/jmespath.h"

#include "common/mem.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tokens ------------------------------------------------------------- */

enum tok {
    T_EOF, T_IDENT, T_QIDENT, T_RAW, T_LITERAL, T_NUMBER, T_DOT, T_STAR, T_LBRACKET,
    T_RBRACKET, T_FILTER, T_FLATTEN, T_LBRACE, T_RBRACE, T_LPAREN, T_RPAREN, T_COMMA,
    T_COLON, T_PIPE, T_OR, T_AND, T_NOT, T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE, T_AT,
    T_EXPREF,
};

struct token {
    enum tok t;
    size_t pos;      /* byte offset in the expression */
    char *s;         /* IDENT/QIDENT/RAW: the text (owned by the parser arena) */
    size_t len;
    json_t *lit;     /* LITERAL: owned until moved into a node */
    long num;        /* NUMBER */
};

/* ---- tree ---------------------------------------------------------------- */

enum kind {
    N_FIELD, N_SUBEXPR, N_INDEX, N_SLICE, N_PROJ, N_VPROJ, N_FLATTEN, N_FILTER, N_IDENTITY,
    N_LITERAL, N_PIPE, N_OR, N_AND, N_NOT, N_CMP, N_MLIST, N_MHASH, N_FUNC, N_EXPREF,
};

struct node {
    enum kind k;
    struct node *a, *b, *c; /* children (c: filter condition) */
    struct node **args;     /* MLIST, MHASH, FUNC */
    char **keys;            /* MHASH */
    size_t *keylens;
    size_t nargs;
    char *s;                /* FIELD name / FUNC name */
    size_t len;
    json_t *lit;            /* LITERAL */
    long idx;               /* INDEX */
    long sl[3];             /* SLICE start, stop, step */
    int has[3];
    enum tok op;            /* CMP */
};

struct noa_jmespath {
    struct node *root;
    struct noa_arena arena; /* nodes and strings */
    json_t **lits;          /* literals to release */
    size_t nlits, caplits;
    /* When the expression is a plain field path (a, a.b, "x-y".z): its
     * segments, for noa_jmespath_scan. */
    struct noa_str *path;
    size_t npath;
};

struct parser {
    const char *src;
    size_t len, pos;
    struct token cur;
    struct noa_jmespath *q;
    struct noa_error *err;
    int failed;
    int depth;
};

static int perr(struct parser *p, size_t pos, const char *what)
{
    if (!p->failed)
        noa_error_set_at(p->err, NOA_EINVAL, 1, (int)pos + 1, "jmespath: %s at column %zu", what,
                         pos + 1);
    p->failed = 1;
    return NOA_EINVAL;
}

static void keep_lit(struct noa_jmespath *q, json_t *v)
{
    if (q->nlits == q->caplits) {
        q->caplits = q->caplits ? q->caplits * 2 : 4;
        q->lits = noa_xrealloc(q->lits, q->caplits * sizeof(*q->lits));
    }
    q->lits[q->nlits++] = v;
}

/* Decodes a JSON-style quoted string body (between the quotes) into the
 * arena; returns 0 or -1. */
static int unquote_json(struct parser *p, const char *s, size_t n, char **out, size_t *olen)
{
    struct noa_buf b = {0};
    noa_buf_putc(&b, '"');
    noa_buf_append(&b, s, n);
    noa_buf_putc(&b, '"');
    json_error_t je;
    json_t *v = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    noa_buf_fini(&b);
    if (!v || !json_is_string(v)) {
        json_decref(v);
        return -1;
    }
    *olen = json_string_length(v);
    *out = noa_arena_strndup(&p->q->arena, json_string_value(v), *olen);
    json_decref(v);
    return 0;
}

static int is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_ident_char(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static int lex(struct parser *p)
{
    const char *s = p->src;
    while (p->pos < p->len && (s[p->pos] == ' ' || s[p->pos] == '\t' || s[p->pos] == '\n' ||
                               s[p->pos] == '\r'))
        p->pos++;
    struct token *t = &p->cur;
    memset(t, 0, sizeof(*t));
    t->pos = p->pos;
    if (p->pos >= p->len) {
        t->t = T_EOF;
        return 0;
    }
    char c = s[p->pos];
    char n1 = p->pos + 1 < p->len ? s[p->pos + 1] : 0;
    if (is_ident_start(c)) {
        size_t st = p->pos;
        while (p->pos < p->len && is_ident_char(s[p->pos]))
            p->pos++;
        t->t = T_IDENT;
        t->len = p->pos - st;
        t->s = noa_arena_strndup(&p->q->arena, s + st, t->len);
        return 0;
    }
    if ((c >= '0' && c <= '9') || (c == '-' && n1 >= '0' && n1 <= '9')) {
        size_t st = p->pos++;
        while (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9')
            p->pos++;
        if (p->pos - st > 18)
            return perr(p, st, "number too large");
        char tmp[24];
        memcpy(tmp, s + st, p->pos - st);
        tmp[p->pos - st] = 0;
        t->t = T_NUMBER;
        t->num = strtol(tmp, NULL, 10);
        return 0;
    }
    if (c == '"' || c == '\'' || c == '`') {
        size_t st = ++p->pos;
        while (p->pos < p->len && s[p->pos] != c) {
            if (s[p->pos] == '\\' && p->pos + 1 < p->len)
                p->pos++;
            p->pos++;
        }
        if (p->pos >= p->len)
            return perr(p, st - 1, "unclosed delimiter");
        size_t n = p->pos - st;
        p->pos++;
        if (c == '"') {
            t->t = T_QIDENT;
            if (unquote_json(p, s + st, n, &t->s, &t->len) < 0)
                return perr(p, st - 1, "invalid quoted identifier");
            return 0;
        }
        /* raw strings and literals: only the delimiter itself is escaped */
        struct noa_buf b = {0};
        for (size_t i = 0; i < n; i++) {
            if (s[st + i] == '\\' && i + 1 < n && s[st + i + 1] == c)
                i++;
            noa_buf_putc(&b, s[st + i]);
        }
        if (c == '\'') {
            t->t = T_RAW;
            t->len = b.len;
            t->s = noa_arena_strndup(&p->q->arena, b.data ? b.data : "", b.len);
            noa_buf_fini(&b);
            return 0;
        }
        json_error_t je;
        json_t *v = json_loadb(b.data ? b.data : "", b.len,
                               JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &je);
        if (!v) {
            /* JMESPath's legacy form: `foo` is the string "foo" */
            size_t a = 0, z = b.len;
            while (a < z && b.data[a] == ' ')
                a++;
            while (z > a && b.data[z - 1] == ' ')
                z--;
            v = json_stringn_nocheck(b.data ? b.data + a : "", z - a);
        }
        noa_buf_fini(&b);
        if (!v)
            return perr(p, st - 1, "invalid literal");
        keep_lit(p->q, v);
        t->t = T_LITERAL;
        t->lit = v;
        return 0;
    }
    p->pos++;
    switch (c) {
    case '.': t->t = T_DOT; return 0;
    case '*': t->t = T_STAR; return 0;
    case ']': t->t = T_RBRACKET; return 0;
    case '{': t->t = T_LBRACE; return 0;
    case '}': t->t = T_RBRACE; return 0;
    case '(': t->t = T_LPAREN; return 0;
    case ')': t->t = T_RPAREN; return 0;
    case ',': t->t = T_COMMA; return 0;
    case ':': t->t = T_COLON; return 0;
    case '@': t->t = T_AT; return 0;
    case '[':
        if (n1 == '?') {
            p->pos++;
            t->t = T_FILTER;
        } else if (n1 == ']') {
            p->pos++;
            t->t = T_FLATTEN;
        } else {
            t->t = T_LBRACKET;
        }
        return 0;
    case '|':
        if (n1 == '|') {
            p->pos++;
            t->t = T_OR;
        } else {
            t->t = T_PIPE;
        }
        return 0;
    case '&':
        if (n1 == '&') {
            p->pos++;
            t->t = T_AND;
        } else {
            t->t = T_EXPREF;
        }
        return 0;
    case '!':
        if (n1 == '=') {
            p->pos++;
            t->t = T_NE;
        } else {
            t->t = T_NOT;
        }
        return 0;
    case '=':
        if (n1 == '=') {
            p->pos++;
            t->t = T_EQ;
            return 0;
        }
        break;
    case '<':
    case '>':
        if (n1 == '=') {
            p->pos++;
            t->t = c == '<' ? T_LE : T_GE;
        } else {
            t->t = c == '<' ? T_LT : T_GT;
        }
        return 0;
    default:
        break;
    }
    return perr(p, p->pos - 1, "unexpected character");
}

static int bp(enum tok t)
{
    switch (t) {
    case T_PIPE: return 1;
    case T_OR: return 2;
    case T_AND: return 3;
    case T_EQ: case T_NE: case T_LT: case T_LE: case T_GT: case T_GE: return 5;
    case T_FLATTEN: return 9;
    case T_STAR: return 20;
    case T_FILTER: return 21;
    case T_DOT: return 40;
    case T_NOT: return 45;
    case T_LBRACE: return 50;
    case T_LBRACKET: return 55;
    case T_LPAREN: return 60;
    default: return 0;
    }
}

static struct node *mk(struct parser *p, enum kind k)
{
    struct node *n = noa_arena_alloc(&p->q->arena, sizeof(*n));
    memset(n, 0, sizeof(*n));
    n->k = k;
    return n;
}

static struct node *mk2(struct parser *p, enum kind k, struct node *a, struct node *b)
{
    struct node *n = mk(p, k);
    n->a = a;
    n->b = b;
    return n;
}

static struct node *expr(struct parser *p, int rbp);
static int known_fn(const struct node *n);

static int expect(struct parser *p, enum tok t, const char *what)
{
    if (p->cur.t != t)
        return perr(p, p->cur.pos, what);
    return lex(p);
}

/* Grows an argument list by one. */
static void push_arg(struct parser *p, struct node *n, struct node *a, char *key, size_t keylen)
{
    struct node **na = noa_arena_alloc(&p->q->arena, (n->nargs + 1) * sizeof(*na));
    if (n->nargs)
        memcpy(na, n->args, n->nargs * sizeof(*na));
    na[n->nargs] = a;
    n->args = na;
    if (n->k == N_MHASH) {
        char **nk = noa_arena_alloc(&p->q->arena, (n->nargs + 1) * sizeof(*nk));
        size_t *nl = noa_arena_alloc(&p->q->arena, (n->nargs + 1) * sizeof(*nl));
        if (n->nargs) {
            memcpy(nk, n->keys, n->nargs * sizeof(*nk));
            memcpy(nl, n->keylens, n->nargs * sizeof(*nl));
        }
        nk[n->nargs] = key;
        nl[n->nargs] = keylen;
        n->keys = nk;
        n->keylens = nl;
    }
    n->nargs++;
}

/* After '[' : a multiselect list. */
static struct node *mlist(struct parser *p)
{
    struct node *n = mk(p, N_MLIST);
    for (;;) {
        struct node *a = expr(p, 0);
        if (!a)
            return NULL;
        push_arg(p, n, a, NULL, 0);
        if (p->cur.t == T_RBRACKET)
            break;
        if (expect(p, T_COMMA, "expected ',' or ']'") < 0)
            return NULL;
    }
    return lex(p) < 0 ? NULL : n;
}

/* After '{' : a multiselect hash. */
static struct node *mhash(struct parser *p)
{
    struct node *n = mk(p, N_MHASH);
    for (;;) {
        if (p->cur.t != T_IDENT && p->cur.t != T_QIDENT) {
            perr(p, p->cur.pos, "expected a key name");
            return NULL;
        }
        char *key = p->cur.s;
        size_t keylen = p->cur.len;
        if (lex(p) < 0 || expect(p, T_COLON, "expected ':'") < 0)
            return NULL;
        struct node *a = expr(p, 0);
        if (!a)
            return NULL;
        push_arg(p, n, a, key, keylen);
        if (p->cur.t == T_RBRACE)
            break;
        if (expect(p, T_COMMA, "expected ',' or '}'") < 0)
            return NULL;
    }
    return lex(p) < 0 ? NULL : n;
}

/* After '[' with a number or ':' next: an index or a slice, through ']'. */
static struct node *index_expr(struct parser *p)
{
    long v[3] = {0, 0, 0};
    int has[3] = {0, 0, 0};
    int part = 0;
    for (;;) {
        if (p->cur.t == T_NUMBER) {
            v[part] = p->cur.num;
            has[part] = 1;
            if (lex(p) < 0)
                return NULL;
        } else if (p->cur.t == T_COLON) {
            if (++part > 2) {
                perr(p, p->cur.pos, "too many colons in slice");
                return NULL;
            }
            if (lex(p) < 0)
                return NULL;
        } else if (p->cur.t == T_RBRACKET) {
            break;
        } else {
            perr(p, p->cur.pos, "expected a number, ':' or ']'");
            return NULL;
        }
    }
    if (lex(p) < 0)
        return NULL;
    if (part == 0) {
        struct node *n = mk(p, N_INDEX);
        n->idx = v[0];
        return n;
    }
    if (has[2] && v[2] == 0) {
        perr(p, p->cur.pos, "slice step cannot be 0");
        return NULL;
    }
    struct node *n = mk(p, N_SLICE);
    memcpy(n->sl, v, sizeof(v));
    memcpy(n->has, has, sizeof(has));
    return n;
}

static struct node *dot_rhs(struct parser *p, int rbp)
{
    switch (p->cur.t) {
    case T_IDENT:
    case T_QIDENT:
    case T_STAR:
        return expr(p, rbp);
    case T_LBRACKET:
        return lex(p) < 0 ? NULL : mlist(p);
    case T_LBRACE:
        return lex(p) < 0 ? NULL : mhash(p);
    default:
        perr(p, p->cur.pos, "expected an identifier, '*', '[' or '{' after '.'");
        return NULL;
    }
}

static struct node *proj_rhs(struct parser *p, int rbp)
{
    if (bp(p->cur.t) < 10)
        return mk(p, N_IDENTITY);
    switch (p->cur.t) {
    case T_LBRACKET:
    case T_FILTER:
        return expr(p, rbp);
    case T_DOT:
        return lex(p) < 0 ? NULL : dot_rhs(p, rbp);
    default:
        perr(p, p->cur.pos, "unexpected token after projection");
        return NULL;
    }
}

static struct node *filter(struct parser *p, struct node *left)
{
    struct node *cond = expr(p, 0);
    if (!cond || expect(p, T_RBRACKET, "expected ']'") < 0)
        return NULL;
    struct node *right = p->cur.t == T_FLATTEN ? mk(p, N_IDENTITY) : proj_rhs(p, bp(T_FILTER));
    if (!right)
        return NULL;
    struct node *n = mk2(p, N_FILTER, left, right);
    n->c = cond;
    return n;
}

/* '[' seen and consumed, in nud or led position over left. */
static struct node *bracket(struct parser *p, struct node *left)
{
    if (p->cur.t == T_NUMBER || p->cur.t == T_COLON) {
        struct node *ix = index_expr(p);
        if (!ix)
            return NULL;
        struct node *l = left ? mk2(p, N_SUBEXPR, left, ix) : ix;
        if (ix->k == N_INDEX)
            return l;
        struct node *r = proj_rhs(p, bp(T_STAR));
        return r ? mk2(p, N_PROJ, l, r) : NULL;
    }
    if (p->cur.t == T_STAR) {
        if (lex(p) < 0 || expect(p, T_RBRACKET, "expected ']'") < 0)
            return NULL;
        struct node *r = proj_rhs(p, bp(T_STAR));
        return r ? mk2(p, N_PROJ, left ? left : mk(p, N_IDENTITY), r) : NULL;
    }
    if (left) {
        perr(p, p->cur.pos, "expected a number, ':' or '*'");
        return NULL;
    }
    return mlist(p);
}

static struct node *nud(struct parser *p)
{
    struct token t = p->cur;
    if (lex(p) < 0)
        return NULL;
    struct node *n, *r;
    switch (t.t) {
    case T_IDENT:
    case T_QIDENT:
        if (t.t == T_QIDENT && p->cur.t == T_LPAREN) {
            perr(p, p->cur.pos, "quoted identifier cannot be a function name");
            return NULL;
        }
        n = mk(p, N_FIELD);
        n->s = t.s;
        n->len = t.len;
        return n;
    case T_RAW:
        n = mk(p, N_LITERAL);
        n->lit = json_stringn_nocheck(t.s, t.len); /* bytes as written, valid UTF-8 or not */
        keep_lit(p->q, n->lit);
        return n;
    case T_LITERAL:
        n = mk(p, N_LITERAL);
        n->lit = t.lit;
        return n;
    case T_STAR:
        r = proj_rhs(p, bp(T_STAR));
        return r ? mk2(p, N_VPROJ, mk(p, N_IDENTITY), r) : NULL;
    case T_FILTER:
        return filter(p, mk(p, N_IDENTITY));
    case T_LBRACE:
        return mhash(p);
    case T_FLATTEN:
        r = proj_rhs(p, bp(T_FLATTEN));
        return r ? mk2(p, N_PROJ, mk2(p, N_FLATTEN, mk(p, N_IDENTITY), NULL), r) : NULL;
    case T_LBRACKET:
        return bracket(p, NULL);
    case T_AT:
        return mk(p, N_IDENTITY);
    case T_NOT:
        r = expr(p, bp(T_NOT));
        return r ? mk2(p, N_NOT, r, NULL) : NULL;
    case T_LPAREN:
        r = expr(p, 0);
        if (!r || expect(p, T_RPAREN, "expected ')'") < 0)
            return NULL;
        return r;
    case T_EXPREF:
        r = expr(p, bp(T_EXPREF));
        return r ? mk2(p, N_EXPREF, r, NULL) : NULL;
    default:
        perr(p, t.pos, t.t == T_EOF ? "unexpected end of expression" : "unexpected token");
        return NULL;
    }
}

static struct node *led(struct parser *p, struct node *left)
{
    struct token t = p->cur;
    if (lex(p) < 0)
        return NULL;
    struct node *r, *n;
    switch (t.t) {
    case T_DOT:
        if (p->cur.t == T_STAR) {
            if (lex(p) < 0)
                return NULL;
            r = proj_rhs(p, bp(T_DOT));
            return r ? mk2(p, N_VPROJ, left, r) : NULL;
        }
        r = dot_rhs(p, bp(T_DOT));
        return r ? mk2(p, N_SUBEXPR, left, r) : NULL;
    case T_PIPE:
    case T_OR:
    case T_AND:
        r = expr(p, bp(t.t));
        return r ? mk2(p, t.t == T_PIPE ? N_PIPE : t.t == T_OR ? N_OR : N_AND, left, r) : NULL;
    case T_EQ: case T_NE: case T_LT: case T_LE: case T_GT: case T_GE:
        r = expr(p, bp(t.t));
        if (!r)
            return NULL;
        n = mk2(p, N_CMP, left, r);
        n->op = t.t;
        return n;
    case T_LPAREN:
        if (left->k != N_FIELD) {
            perr(p, t.pos, "invalid function call");
            return NULL;
        }
        n = mk(p, N_FUNC);
        n->s = left->s;
        n->len = left->len;
        if (p->cur.t != T_RPAREN) {
            for (;;) {
                struct node *a = expr(p, 0);
                if (!a)
                    return NULL;
                push_arg(p, n, a, NULL, 0);
                if (p->cur.t == T_RPAREN)
                    break;
                if (expect(p, T_COMMA, "expected ',' or ')'") < 0)
                    return NULL;
            }
        }
        if (!known_fn(n)) {
            perr(p, t.pos, "unknown function or wrong number of arguments");
            return NULL;
        }
        return lex(p) < 0 ? NULL : n;
    case T_FILTER:
        return filter(p, left);
    case T_FLATTEN:
        r = proj_rhs(p, bp(T_FLATTEN));
        return r ? mk2(p, N_PROJ, mk2(p, N_FLATTEN, left, NULL), r) : NULL;
    case T_LBRACKET:
        return bracket(p, left);
    default:
        perr(p, t.pos, "unexpected token");
        return NULL;
    }
}

static struct node *expr(struct parser *p, int rbp)
{
    if (p->failed)
        return NULL;
    if (++p->depth > NOA_JMESPATH_MAX_DEPTH) {
        perr(p, p->cur.pos, "expression nested too deeply");
        return NULL;
    }
    struct node *left = nud(p);
    while (left && !p->failed && rbp < bp(p->cur.t))
        left = led(p, left);
    p->depth--;
    return p->failed ? NULL : left;
}

/* Counts the segments of a plain field path (0 when n is not one). */
static size_t path_len(const struct node *n)
{
    if (n->k == N_FIELD)
        return 1;
    if (n->k != N_SUBEXPR || n->b->k != N_FIELD)
        return 0;
    size_t l = path_len(n->a);
    return l ? l + 1 : 0;
}

static void find_path(struct noa_jmespath *q)
{
    size_t n = path_len(q->root);
    if (n == 0 || n > NOA_JMESPATH_MAX_DEPTH)
        return;
    q->path = noa_arena_alloc(&q->arena, n * sizeof(*q->path));
    q->npath = n;
    const struct node *x = q->root;
    for (size_t i = n; i-- > 0;) {
        const struct node *f = x->k == N_FIELD ? x : x->b;
        q->path[i] = (struct noa_str){f->s, f->len};
        x = x->a;
    }
}

int noa_jmespath_compile(const char *src, size_t len, struct noa_jmespath **out,
                         struct noa_error *err)
{
    *out = NULL;
    if (len > NOA_JMESPATH_MAX_LEN)
        return noa_error_set(err, NOA_EINVAL, "jmespath: expression longer than %d bytes",
                             NOA_JMESPATH_MAX_LEN);
    struct noa_jmespath *q = noa_xcalloc(1, sizeof(*q));
    struct parser p = {.src = src, .len = len, .q = q, .err = err};
    if (lex(&p) < 0)
        goto fail;
    q->root = expr(&p, 0);
    if (!q->root)
        goto fail;
    if (p.cur.t != T_EOF) {
        perr(&p, p.cur.pos, "unexpected token");
        goto fail;
    }
    find_path(q);
    *out = q;
    return 0;
fail:
    if (!p.failed)
        perr(&p, p.cur.pos, "invalid expression");
    noa_jmespath_free(q);
    return NOA_EINVAL;
}

void noa_jmespath_free(struct noa_jmespath *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->nlits; i++)
        json_decref(q->lits[i]);
    noa_free(q->lits);
    noa_arena_fini(&q->arena);
    noa_free(q);
}

/* ---- documents ------------------------------------------------------------ */

struct noa_jmespath_doc {
    json_t *v;
};

int noa_jmespath_doc_parse(const char *p, size_t n, struct noa_jmespath_doc **out,
                           struct noa_error *err)
{
    json_error_t je;
    *out = NULL;
    /* A raw NUL byte is never valid JSON (Go rejects it), but jansson
     * skips one after a number. */
    if (n && memchr(p, 0, n))
        return noa_error_set(err, NOA_EINVAL, "malformed json: NUL byte");
    json_t *v = json_loadb(n ? p : "", n, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL,
                           &je);
    if (!v)
        return noa_error_set_at(err, NOA_EINVAL, je.line > 0 ? je.line : 0,
                                je.column > 0 ? je.column : 0, "malformed json: %s", je.text);
    struct noa_jmespath_doc *d = noa_xmalloc(sizeof(*d));
    d->v = v;
    *out = d;
    return 0;
}

int noa_jmespath_doc_is_object(const struct noa_jmespath_doc *d)
{
    return d && json_is_object(d->v);
}

void noa_jmespath_doc_free(struct noa_jmespath_doc *d)
{
    if (!d)
        return;
    json_decref(d->v);
    noa_free(d);
}

/* ---- evaluation ------------------------------------------------------------ */

struct ev {
    int failed;
    int depth;
};

static json_t *eval(struct ev *ev, const struct node *n, json_t *v);

static int truthy(json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
    case JSON_FALSE:
        return 0;
    case JSON_STRING:
        return json_string_length(v) > 0;
    case JSON_ARRAY:
        return json_array_size(v) > 0;
    case JSON_OBJECT:
        return json_object_size(v) > 0;
    default:
        return 1;
    }
}

/* A number value; jansson has no infinities, so an overflow is null. */
static json_t *num(double d)
{
    return isfinite(d) ? json_real(d) : json_null();
}

static json_t *fail(struct ev *ev)
{
    ev->failed = 1;
    return json_null();
}

static json_t *slice(const struct node *n, json_t *v)
{
    if (!json_is_array(v))
        return json_null();
    long len = (long)json_array_size(v);
    long step = n->has[2] ? n->sl[2] : 1;
    long start, stop;
    if (n->has[0]) {
        start = n->sl[0] < 0 ? n->sl[0] + len : n->sl[0];
        if (start < 0)
            start = step < 0 ? -1 : 0;
        if (start >= len)
            start = step < 0 ? len - 1 : len;
    } else {
        start = step < 0 ? len - 1 : 0;
    }
    if (n->has[1]) {
        stop = n->sl[1] < 0 ? n->sl[1] + len : n->sl[1];
        if (stop < 0)
            stop = step < 0 ? -1 : 0;
        if (stop >= len)
            stop = step < 0 ? len - 1 : len;
    } else {
        stop = step < 0 ? -1 : len;
    }
    json_t *r = json_array();
    if (step > 0)
        for (long i = start; i < stop; i += step)
            json_array_append(r, json_array_get(v, (size_t)i));
    else
        for (long i = start; i > stop; i += step)
            json_array_append(r, json_array_get(v, (size_t)i));
    return r;
}

static json_t *project(struct ev *ev, const struct node *right, json_t *base, const struct node *cond)
{
    json_t *r = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(base, i, e) {
        if (cond) {
            json_t *c = eval(ev, cond, e);
            int ok = truthy(c);
            json_decref(c);
            if (!ok)
                continue;
        }
        json_t *x = eval(ev, right, e);
        if (json_is_null(x))
            continue;
        json_array_append_new(r, x);
    }
    return r;
}

static int cmp_values(struct ev *ev, const struct node *n, json_t *v)
{
    json_t *a = eval(ev, n->a, v), *b = eval(ev, n->b, v);
    int r = -1; /* -1: null result */
    if (n->op == T_EQ || n->op == T_NE) {
        int eq = json_equal(a, b) || (json_is_null(a) && json_is_null(b));
        r = n->op == T_EQ ? eq : !eq;
    } else if (json_is_number(a) && json_is_number(b)) {
        double x = json_number_value(a), y = json_number_value(b);
        switch (n->op) {
        case T_LT: r = x < y; break;
        case T_LE: r = x <= y; break;
        case T_GT: r = x > y; break;
        default: r = x >= y; break;
        }
    }
    json_decref(a);
    json_decref(b);
    return r;
}

static json_t *call(struct ev *ev, const struct node *n, json_t *v);
static void put_json(struct noa_buf *out, json_t *v, int depth);

static json_t *eval(struct ev *ev, const struct node *n, json_t *v)
{
    json_t *l, *r;
    if (ev->failed || ++ev->depth > 4 * NOA_JMESPATH_MAX_DEPTH)
        return fail(ev);
    switch (n->k) {
    case N_FIELD:
        r = json_is_object(v) ? json_object_getn(v, n->s, n->len) : NULL;
        r = r ? json_incref(r) : json_null();
        break;
    case N_SUBEXPR:
    case N_PIPE:
        l = eval(ev, n->a, v);
        r = json_is_null(l) && n->k == N_SUBEXPR ? json_null() : eval(ev, n->b, l);
        json_decref(l);
        break;
    case N_INDEX: {
        long len = json_is_array(v) ? (long)json_array_size(v) : 0;
        long i = n->idx < 0 ? n->idx + len : n->idx;
        r = json_is_array(v) && i >= 0 && i < len ? json_incref(json_array_get(v, (size_t)i))
                                                  : json_null();
        break;
    }
    case N_SLICE:
        r = slice(n, v);
        break;
    case N_PROJ:
    case N_FILTER:
        l = eval(ev, n->a, v);
        r = json_is_array(l) ? project(ev, n->b, l, n->k == N_FILTER ? n->c : NULL) : json_null();
        json_decref(l);
        break;
    case N_VPROJ:
        l = eval(ev, n->a, v);
        if (json_is_object(l)) {
            json_t *vals = json_array();
            const char *key;
            json_t *e;
            json_object_foreach(l, key, e) json_array_append(vals, e);
            r = project(ev, n->b, vals, NULL);
            json_decref(vals);
        } else {
            r = json_null();
        }
        json_decref(l);
        break;
    case N_FLATTEN:
        l = eval(ev, n->a, v);
        if (json_is_array(l)) {
            size_t i;
            json_t *e;
            r = json_array();
            json_array_foreach(l, i, e) {
                if (json_is_array(e))
                    json_array_extend(r, e);
                else
                    json_array_append(r, e);
            }
        } else {
            r = json_null();
        }
        json_decref(l);
        break;
    case N_IDENTITY:
        r = json_incref(v);
        break;
    case N_LITERAL:
        r = json_incref(n->lit);
        break;
    case N_OR:
    case N_AND:
        l = eval(ev, n->a, v);
        if (truthy(l) == (n->k == N_OR)) {
            r = l;
        } else {
            json_decref(l);
            r = eval(ev, n->b, v);
        }
        break;
    case N_NOT:
        l = eval(ev, n->a, v);
        r = json_boolean(!truthy(l));
        json_decref(l);
        break;
    case N_CMP: {
        int c = cmp_values(ev, n, v);
        r = c < 0 ? json_null() : json_boolean(c);
        break;
    }
    case N_MLIST:
    case N_MHASH:
        if (json_is_null(v)) {
            r = json_null();
            break;
        }
        r = n->k == N_MLIST ? json_array() : json_object();
        for (size_t i = 0; i < n->nargs; i++) {
            json_t *x = eval(ev, n->args[i], v);
            if (n->k == N_MLIST)
                json_array_append_new(r, x);
            else
                json_object_setn_new(r, n->keys[i], n->keylens[i], x);
        }
        break;
    case N_FUNC:
        r = call(ev, n, v);
        break;
    default:
        r = fail(ev); /* a bare &expr outside a function */
        break;
    }
    ev->depth--;
    return r;
}

/* ---- rendering as Go prints values ------------------------------------------ */

/* Appends f as Go's strconv.FormatFloat(f, 'f' or 'e', -1, 64). */
static void put_float(struct noa_buf *out, double f, int json)
{
    char tmp[64];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f)
            break;
    }
    /* tmp is d.ddde±XX: split digits and exponent */
    char digits[32];
    size_t nd = 0;
    const char *s = tmp;
    int neg = 0;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    for (; *s && *s != 'e'; s++)
        if (*s != '.')
            digits[nd++] = *s;
    int exp = atoi(s + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    if (neg && !(nd == 1 && digits[0] == '0'))
        noa_buf_putc(out, '-');
    double a = fabs(f);
    if (json && a != 0 && (a < 1e-6 || a >= 1e21)) {
        noa_buf_putc(out, digits[0]);
        if (nd > 1) {
            noa_buf_putc(out, '.');
            noa_buf_append(out, digits + 1, nd - 1);
        }
        noa_buf_printf(out, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        /* Go's json drops the exponent's leading zero: e-07 -> e-7 */
        if (out->len >= 2 && out->data[out->len - 2] == '0') {
            out->data[out->len - 2] = out->data[out->len - 1];
            out->len--;
        }
        return;
    }
    if (exp < 0) {
        noa_buf_append(out, "0.", 2);
        for (int i = -1; i > exp; i--)
            noa_buf_putc(out, '0');
        noa_buf_append(out, digits, nd);
        return;
    }
    for (int i = 0; i <= exp || (size_t)i < nd; i++) {
        if (i == exp + 1)
            noa_buf_putc(out, '.');
        noa_buf_putc(out, (size_t)i < nd ? digits[i] : '0');
    }
}

/* Appends a JSON string as Go's encoding/json writes it (HTML-safe). */
static void put_go_str(struct noa_buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    noa_buf_putc(out, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            if (c == '"' || c == '\\') {
                noa_buf_putc(out, '\\');
                noa_buf_putc(out, (char)c);
            } else if (c == '\n') {
                noa_buf_append(out, "\\n", 2);
            } else if (c == '\r') {
                noa_buf_append(out, "\\r", 2);
            } else if (c == '\t') {
                noa_buf_append(out, "\\t", 2);
            } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
                char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                noa_buf_append(out, e, 6);
            } else {
                noa_buf_putc(out, (char)c);
            }
            i++;
            continue;
        }
        uint32_t cp;
        size_t w = noa_utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (w == 0) {
            noa_buf_append(out, "\\ufffd", 6);
            i++;
        } else if (cp == 0x2028 || cp == 0x2029) {
            noa_buf_printf(out, "\\u%04x", (unsigned)cp);
            i += w;
        } else {
            noa_buf_append(out, s + i, w);
            i += w;
        }
    }
    noa_buf_putc(out, '"');
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void put_json(struct noa_buf *out, json_t *v, int depth)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        const char **keys = noa_xmalloc((n ? n : 1) * sizeof(*keys));
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e) keys[i++] = k;
        qsort(keys, n, sizeof(*keys), key_cmp);
        noa_buf_putc(out, '{');
        for (i = 0; i < n; i++) {
            if (i)
                noa_buf_putc(out, ',');
            put_go_str(out, keys[i], strlen(keys[i]));
            noa_buf_putc(out, ':');
            put_json(out, json_object_get(v, keys[i]), depth + 1);
        }
        noa_buf_putc(out, '}');
        noa_free(keys);
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *e;
        noa_buf_putc(out, '[');
        json_array_foreach(v, i, e) {
            if (i)
                noa_buf_putc(out, ',');
            put_json(out, e, depth + 1);
        }
        noa_buf_putc(out, ']');
        break;
    }
    case JSON_STRING:
        put_go_str(out, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
    case JSON_REAL:
        put_float(out, json_number_value(v), 1);
        break;
    case JSON_TRUE:
        noa_buf_append(out, "true", 4);
        break;
    case JSON_FALSE:
        noa_buf_append(out, "false", 5);
        break;
    default:
        noa_buf_append(out, "null", 4);
        break;
    }
}

/* ---- functions -------------------------------------------------------------- */

static int fname_is(const struct node *n, const char *name)
{
    return strlen(name) == n->len && memcmp(n->s, name, n->len) == 0;
}

/* 1 when every element of a is a number (want 0) or a string (want 1). */
static int all_of(json_t *a, int strings)
{
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e) if (strings ? !json_is_string(e) : !json_is_number(e)) return 0;
    return 1;
}

static int sort_cmp(const void *x, const void *y)
{
    json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
    if (json_is_number(a)) {
        double p = json_number_value(a), q = json_number_value(b);
        return p < q ? -1 : p > q;
    }
    size_t la = json_string_length(a), lb = json_string_length(b);
    int c = memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);
    return c ? c : (la < lb ? -1 : la > lb);
}

/* A sorted copy of an array of numbers or of strings, or NULL. */
static json_t *sorted(json_t *a)
{
    if (!json_is_array(a) || (!all_of(a, 0) && !all_of(a, 1)))
        return NULL;
    size_t n = json_array_size(a);
    json_t **v = noa_xmalloc((n ? n : 1) * sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(a, i);
    qsort(v, n, sizeof(*v), sort_cmp);
    json_t *r = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append(r, v[i]);
    noa_free(v);
    return r;
}

static size_t utf8_len(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xc0) != 0x80;
    return c;
}

static int str_has(json_t *s, json_t *part, int where) /* 0 contains, 1 prefix, 2 suffix */
{
    const char *a = json_string_value(s), *b = json_string_value(part);
    size_t la = json_string_length(s), lb = json_string_length(part);
    if (lb > la)
        return 0;
    if (where == 1)
        return memcmp(a, b, lb) == 0;
    if (where == 2)
        return memcmp(a + la - lb, b, lb) == 0;
    return lb == 0 || memmem(a, la, b, lb) != NULL;
}

/* Arity of every function this subset knows (-1: one or more). */
static const struct {
    const char *name;
    int nargs;
} fn_arity[] = {
    {"length", 1},   {"keys", 1},        {"values", 1},    {"to_string", 1}, {"to_number", 1},
    {"join", 2},     {"contains", 2},    {"starts_with", 2}, {"ends_with", 2}, {"sort", 1},
    {"min", 1},      {"max", 1},         {"reverse", 1},   {"abs", 1},       {"ceil", 1},
    {"floor", 1},    {"sum", 1},         {"avg", 1},       {"type", 1},      {"not_null", -1},
};

/* 1 when n calls a function this subset knows with a valid argument count
 * (checked when compiling, as go-jmespath does for arity). */
static int known_fn(const struct node *n)
{
    for (size_t f = 0; f < sizeof(fn_arity) / sizeof(fn_arity[0]); f++)
        if (fname_is(n, fn_arity[f].name))
            return fn_arity[f].nargs < 0 ? n->nargs > 0 : n->nargs == (size_t)fn_arity[f].nargs;
    return 0;
}

static json_t *fn_eval(struct ev *ev, const struct node *n, json_t *v, json_t **a, size_t na)
{
    (void)v;
    (void)na;
    json_t *x = na > 0 ? a[0] : NULL, *y = na > 1 ? a[1] : NULL;
    if (fname_is(n, "length")) {
        if (json_is_string(x))
            return num((double)utf8_len(json_string_value(x), json_string_length(x)));
        if (json_is_array(x))
            return num((double)json_array_size(x));
        if (json_is_object(x))
            return num((double)json_object_size(x));
        return fail(ev);
    }
    if (fname_is(n, "keys") || fname_is(n, "values")) {
        if (!json_is_object(x))
            return fail(ev);
        json_t *r = json_array();
        const char *k;
        json_t *e;
        int keys = fname_is(n, "keys");
        json_object_foreach(x, k, e) json_array_append_new(r, keys ? json_string_nocheck(k) : json_incref(e));
        return r;
    }
    if (fname_is(n, "to_string")) {
        if (json_is_string(x))
            return json_incref(x);
        struct noa_buf b = {0};
        put_json(&b, x, 0);
        json_t *r = json_stringn_nocheck(b.data, b.len);
        noa_buf_fini(&b);
        return r;
    }
    if (fname_is(n, "to_number")) {
        if (json_is_number(x))
            return json_incref(x);
        if (json_is_string(x)) {
            char *end;
            const char *s = json_string_value(x);
            double d = strtod(s, &end);
            if (end != s && *end == 0)
                return num(d);
        }
        return json_null();
    }
    if (fname_is(n, "join")) {
        if (!json_is_string(x) || !json_is_array(y) || !all_of(y, 1))
            return fail(ev);
        struct noa_buf b = {0};
        size_t i;
        json_t *e;
        json_array_foreach(y, i, e) {
            if (i)
                noa_buf_append(&b, json_string_value(x), json_string_length(x));
            noa_buf_append(&b, json_string_value(e), json_string_length(e));
        }
        json_t *r = json_stringn_nocheck(b.data ? b.data : "", b.len);
        noa_buf_fini(&b);
        return r;
    }
    if (fname_is(n, "contains")) {
        if (json_is_string(x))
            return json_boolean(json_is_string(y) && str_has(x, y, 0));
        if (!json_is_array(x))
            return fail(ev);
        size_t i;
        json_t *e;
        json_array_foreach(x, i, e) if (json_equal(e, y)) return json_true();
        return json_false();
    }
    if (fname_is(n, "starts_with") || fname_is(n, "ends_with")) {
        if (!json_is_string(x) || !json_is_string(y))
            return fail(ev);
        return json_boolean(str_has(x, y, fname_is(n, "starts_with") ? 1 : 2));
    }
    if (fname_is(n, "sort") || fname_is(n, "min") || fname_is(n, "max")) {
        json_t *s = sorted(x);
        if (!s)
            return fail(ev);
        if (fname_is(n, "sort"))
            return s;
        size_t len = json_array_size(s);
        json_t *r = len ? json_incref(json_array_get(s, fname_is(n, "min") ? 0 : len - 1))
                        : json_null();
        json_decref(s);
        return r;
    }
    if (fname_is(n, "reverse")) {
        if (json_is_string(x)) {
            /* by code point, as JMESPath defines it */
            const char *s = json_string_value(x);
            size_t len = json_string_length(x);
            char *r = noa_xmalloc(len + 1);
            size_t o = len;
            for (size_t i = 0; i < len;) {
                size_t w = 1;
                while (i + w < len && ((unsigned char)s[i + w] & 0xc0) == 0x80)
                    w++;
                o -= w;
                memcpy(r + o, s + i, w);
                i += w;
            }
            json_t *res = json_stringn_nocheck(r, len);
            noa_free(r);
            return res;
        }
        if (!json_is_array(x))
            return fail(ev);
        json_t *r = json_array();
        for (size_t i = json_array_size(x); i > 0; i--)
            json_array_append(r, json_array_get(x, i - 1));
        return r;
    }
    if (fname_is(n, "abs") || fname_is(n, "ceil") || fname_is(n, "floor")) {
        if (!json_is_number(x))
            return fail(ev);
        double d = json_number_value(x);
        return num(fname_is(n, "abs") ? fabs(d) : fname_is(n, "ceil") ? ceil(d) : floor(d));
    }
    if (fname_is(n, "sum") || fname_is(n, "avg")) {
        if (!json_is_array(x) || !all_of(x, 0))
            return fail(ev);
        double t = 0;
        size_t i;
        json_t *e;
        json_array_foreach(x, i, e) t += json_number_value(e);
        if (fname_is(n, "sum"))
            return num(t);
        return json_array_size(x) ? num(t / (double)json_array_size(x)) : json_null();
    }
    if (fname_is(n, "type")) {
        static const char *const names[] = {"object", "array", "string", "number",
                                            "number", "boolean", "boolean", "null"};
        return json_string(names[json_typeof(x)]);
    }
    if (fname_is(n, "not_null")) {
        if (na == 0)
            return fail(ev);
        for (size_t i = 0; i < na; i++)
            if (!json_is_null(a[i]))
                return json_incref(a[i]);
        return json_null();
    }
    return fail(ev); /* an unknown function */
}

static json_t *call(struct ev *ev, const struct node *n, json_t *v)
{
    json_t *args[8];
    if (n->nargs > 8)
        return fail(ev);
    for (size_t i = 0; i < n->nargs; i++)
        args[i] = n->args[i]->k == N_EXPREF ? json_null() : eval(ev, n->args[i], v);
    json_t *r = ev->failed ? json_null() : fn_eval(ev, n, v, args, n->nargs);
    for (size_t i = 0; i < n->nargs; i++)
        json_decref(args[i]);
    return r;
}

void noa_jmespath_quote(struct noa_buf *out, const char *s, size_t n)
{
    put_go_str(out, s, n);
}

int noa_jmespath_eval(const struct noa_jmespath *q, const struct noa_jmespath_doc *d,
                      struct noa_buf *out)
{
    struct ev ev = {0};
    json_t *r = eval(&ev, q->root, d->v);
    int rc;
    if (ev.failed) {
        rc = NOA_EINVAL;
    } else if (json_is_null(r)) {
        rc = 0;
    } else {
        rc = 1;
        if (json_is_string(r))
            noa_buf_append(out, json_string_value(r), json_string_length(r));
        else if (json_is_number(r))
            put_float(out, json_number_value(r), 0);
        else
            put_json(out, r, 0);
    }
    json_decref(r);
    return rc;
}

/* ---- the one-pass scanner for plain field paths ------------------------------ */

int noa_jmespath_is_path(const struct noa_jmespath *q)
{
    return q->npath > 0;
}

struct scan {
    const char *p;
    size_t n, i;
    const struct noa_jmespath *const *qs;
    struct noa_buf *out;
    size_t *off, *vlen;
    int *found;
    int unsupp; /* a result is an object or an array */
    int depth;
};

static void ws(struct scan *s)
{
    while (s->i < s->n && (s->p[s->i] == ' ' || s->p[s->i] == '\t' || s->p[s->i] == '\n' ||
                           s->p[s->i] == '\r'))
        s->i++;
}

static int hex4(const char *p, uint32_t *v)
{
    *v = 0;
    for (int k = 0; k < 4; k++) {
        int h = noa_hexval((unsigned char)p[k]);
        if (h < 0)
            return -1;
        *v = *v << 4 | (uint32_t)h;
    }
    return 0;
}

/* Scans a string at s->i (on its opening quote), checking it as jansson
 * does (escapes, surrogate pairs, UTF-8, no raw control characters). *raw
 * gets the bytes between the quotes; when they hold an escape, *escaped is
 * set and (with dst) the decoded text is appended to dst. Returns 0 or -1. */
static int scan_str(struct scan *s, struct noa_buf *dst, struct noa_str *raw, int *escaped)
{
    size_t st = ++s->i;
    *escaped = 0;
    while (s->i < s->n) {
        unsigned char c = (unsigned char)s->p[s->i];
        if (c == '"') {
            *raw = (struct noa_str){s->p + st, s->i - st};
            s->i++;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c >= 0x80) {
            uint32_t cp;
            size_t w = noa_utf8_decode((const unsigned char *)s->p + s->i, s->n - s->i, &cp);
            if (w == 0)
                return -1;
            if (dst && *escaped)
                noa_buf_append(dst, s->p + s->i, w);
            s->i += w;
            continue;
        }
        if (c != '\\') {
            if (dst && *escaped)
                noa_buf_putc(dst, (char)c);
            s->i++;
            continue;
        }
        if (!*escaped && dst)
            noa_buf_append(dst, s->p + st, s->i - st); /* the text before the first escape */
        *escaped = 1;
        if (s->i + 1 >= s->n)
            return -1;
        char e = s->p[s->i + 1];
        s->i += 2;
        char lit = 0;
        switch (e) {
        case '"': case '\\': case '/': lit = e; break;
        case 'b': lit = '\b'; break;
        case 'f': lit = '\f'; break;
        case 'n': lit = '\n'; break;
        case 'r': lit = '\r'; break;
        case 't': lit = '\t'; break;
        case 'u': {
            uint32_t v, lo;
            if (s->i + 4 > s->n || hex4(s->p + s->i, &v) < 0)
                return -1;
            s->i += 4;
            if (v >= 0xDC00 && v <= 0xDFFF)
                return -1;
            if (v >= 0xD800 && v <= 0xDBFF) {
                if (s->i + 6 > s->n || s->p[s->i] != '\\' || s->p[s->i + 1] != 'u' ||
                    hex4(s->p + s->i + 2, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
                    return -1;
                s->i += 6;
                v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (dst)
                noa_buf_put_utf8(dst, v);
            continue;
        }
        default:
            return -1;
        }
        if (dst)
            noa_buf_putc(dst, lit);
    }
    return -1;
}

/* A JSON number at s->i; *num gets its text. Returns 0 or -1. */
static int scan_num(struct scan *s, struct noa_str *num)
{
    size_t st = s->i;
    const char *p = s->p;
    if (s->i < s->n && p[s->i] == '-')
        s->i++;
    if (s->i >= s->n)
        return -1;
    if (p[s->i] == '0') {
        s->i++;
    } else if (p[s->i] >= '1' && p[s->i] <= '9') {
        while (s->i < s->n && p[s->i] >= '0' && p[s->i] <= '9')
            s->i++;
    } else {
        return -1;
    }
    if (s->i < s->n && p[s->i] == '.') {
        size_t d = ++s->i;
        while (s->i < s->n && p[s->i] >= '0' && p[s->i] <= '9')
            s->i++;
        if (s->i == d)
            return -1;
    }
    if (s->i < s->n && (p[s->i] == 'e' || p[s->i] == 'E')) {
        s->i++;
        if (s->i < s->n && (p[s->i] == '+' || p[s->i] == '-'))
            s->i++;
        size_t d = s->i;
        while (s->i < s->n && p[s->i] >= '0' && p[s->i] <= '9')
            s->i++;
        if (s->i == d)
            return -1;
    }
    *num = (struct noa_str){p + st, s->i - st};
    return 0;
}

static int scan_value(struct scan *s, uint64_t want, size_t level);

/* 1 when a JSON number fits a float64; only long numbers and exponents
 * can overflow, so only those are converted. */
static int finite_num(struct noa_str num)
{
    if (num.len <= 300 && !memchr(num.p, 'e', num.len) && !memchr(num.p, 'E', num.len))
        return 1;
    char tmp[64];
    double d;
    if (num.len < sizeof(tmp)) {
        memcpy(tmp, num.p, num.len);
        tmp[num.len] = 0;
        d = strtod(tmp, NULL);
    } else {
        char *c = noa_xstrndup(num.p, num.len);
        d = strtod(c, NULL);
        noa_free(c);
    }
    return isfinite(d);
}

/* Records a scalar result for the expressions in mask. */
static void put_result(struct scan *s, uint64_t mask, int found, struct noa_str text)
{
    for (size_t k = 0; mask; k++, mask >>= 1) {
        if (!(mask & 1))
            continue;
        s->found[k] = found;
        s->off[k] = s->out->len;
        noa_buf_append(s->out, text.p, text.len);
        s->vlen[k] = s->out->len - s->off[k];
    }
}

/* Renders a number as the document path would: Go's FormatFloat of its
 * float64. Short plain integers are already in that form. */
static void put_number(struct scan *s, uint64_t mask, struct noa_str num)
{
    int plain = num.len <= 15;
    for (size_t k = 0; plain && k < num.len; k++)
        plain = (num.p[k] >= '0' && num.p[k] <= '9') || (k == 0 && num.p[k] == '-');
    if (plain && !(num.len >= 2 && num.p[0] == '-' && num.p[1] == '0' && num.len == 2)) {
        put_result(s, mask, 1, num);
        return;
    }
    char tmp[64];
    double d;
    if (num.len < sizeof(tmp)) {
        memcpy(tmp, num.p, num.len);
        tmp[num.len] = 0;
        d = strtod(tmp, NULL);
    } else {
        char *c = noa_xstrndup(num.p, num.len);
        d = strtod(c, NULL);
        noa_free(c);
    }
    if (!isfinite(d)) {
        s->unsupp = 1; /* jansson rejects it: let the document path decide */
        return;
    }
    /* rendered once into out; every result in mask points at it */
    size_t mark = s->out->len;
    put_float(s->out, d, 0);
    for (size_t k = 0; mask; k++, mask >>= 1)
        if (mask & 1) {
            s->found[k] = 1;
            s->off[k] = mark;
            s->vlen[k] = s->out->len - mark;
        }
}

/* Which of the expressions in want have key as their segment at level:
 * *done gets those whose path ends there. */
static uint64_t match_key(struct scan *s, uint64_t want, size_t level, struct noa_str key,
                          uint64_t *done)
{
    uint64_t m = 0;
    *done = 0;
    for (size_t k = 0; want >> k; k++) {
        if (!((want >> k) & 1))
            continue;
        const struct noa_jmespath *q = s->qs[k];
        if (noa_str_eq(q->path[level], key)) {
            m |= 1ULL << k;
            if (q->npath == level + 1)
                *done |= 1ULL << k;
        }
    }
    return m;
}

static int scan_object(struct scan *s, uint64_t want, size_t level)
{
    s->i++; /* '{' */
    ws(s);
    if (s->i < s->n && s->p[s->i] == '}') {
        s->i++;
        return 0;
    }
    for (;;) {
        ws(s);
        if (s->i >= s->n || s->p[s->i] != '"')
            return -1;
        struct noa_str raw;
        int esc;
        uint64_t m = 0, done = 0;
        if (want) {
            /* a key with escapes is decoded at the end of out, then dropped */
            size_t mark = s->out->len;
            if (scan_str(s, s->out, &raw, &esc) < 0)
                return -1;
            struct noa_str key =
                esc ? (struct noa_str){s->out->data + mark, s->out->len - mark} : raw;
            m = match_key(s, want, level, key, &done);
            s->out->len = mark;
        } else if (scan_str(s, NULL, &raw, &esc) < 0) {
            return -1;
        }
        ws(s);
        if (s->i >= s->n || s->p[s->i] != ':')
            return -1;
        s->i++;
        ws(s);
        /* A repeated key replaces what an earlier one gave (Go keeps the
         * last): forget the results of the paths through this key. */
        if (m)
            put_result(s, m, 0, (struct noa_str){"", 0});
        if (scan_value(s, m, level + 1) < 0)
            return -1;
        ws(s);
        if (s->i >= s->n)
            return -1;
        if (s->p[s->i] == '}') {
            s->i++;
            return 0;
        }
        if (s->p[s->i] != ',')
            return -1;
        s->i++;
    }
}

/* Scans one value; want holds the expressions whose first `level`
 * segments led here. */
static int scan_value(struct scan *s, uint64_t want, size_t level)
{
    if (++s->depth > 2048)
        return -1;
    int rc = 0;
    uint64_t ends = 0; /* expressions whose result is this value */
    for (size_t k = 0; want >> k; k++)
        if (((want >> k) & 1) && s->qs[k]->npath == level)
            ends |= 1ULL << k;
    uint64_t deeper = want & ~ends;
    if (s->i >= s->n) {
        rc = -1;
        goto out;
    }
    char c = s->p[s->i];
    if (c == '{') {
        if (ends)
            s->unsupp = 1;
        rc = scan_object(s, deeper, level);
    } else if (c == '[') {
        if (ends)
            s->unsupp = 1;
        s->i++;
        ws(s);
        if (s->i < s->n && s->p[s->i] == ']') {
            s->i++;
            goto out;
        }
        for (;;) {
            ws(s);
            if ((rc = scan_value(s, 0, level)) < 0)
                goto out;
            ws(s);
            if (s->i < s->n && s->p[s->i] == ']') {
                s->i++;
                goto out;
            }
            if (s->i >= s->n || s->p[s->i] != ',') {
                rc = -1;
                goto out;
            }
            s->i++;
        }
    } else if (c == '"') {
        struct noa_str raw;
        int esc;
        size_t mark = s->out->len;
        if (ends && (rc = scan_str(s, s->out, &raw, &esc)) == 0) {
            if (!esc)
                noa_buf_append(s->out, raw.p, raw.len);
            /* the text is at the end of out: point every result at it */
            for (size_t k = 0; ends >> k; k++)
                if ((ends >> k) & 1) {
                    s->found[k] = 1;
                    s->off[k] = mark;
                    s->vlen[k] = s->out->len - mark;
                }
        } else if (!ends) {
            rc = scan_str(s, NULL, &raw, &esc);
        }
    } else if (c == 't' || c == 'f' || c == 'n') {
        const char *w = c == 't' ? "true" : c == 'f' ? "false" : "null";
        size_t wl = strlen(w);
        if (s->n - s->i < wl || memcmp(s->p + s->i, w, wl) != 0) {
            rc = -1;
            goto out;
        }
        s->i += wl;
        if (ends && c != 'n')
            put_result(s, ends, 1, (struct noa_str){w, wl});
    } else {
        struct noa_str num;
        if ((rc = scan_num(s, &num)) == 0 && !finite_num(num))
            rc = -1; /* Go and jansson reject what overflows a float64 */
        else if (rc == 0 && ends)
            put_number(s, ends, num);
    }
out:
    s->depth--;
    return rc;
}

int noa_jmespath_scan(const char *p, size_t len, const struct noa_jmespath *const *qs, size_t n,
                      struct noa_buf *out, size_t *off, size_t *vlen, int *found)
{
    if (n > 64)
        return NOA_EUNSUPP;
    uint64_t want = n == 64 ? ~0ULL : (1ULL << n) - 1;
    for (size_t k = 0; k < n; k++) {
        if (!qs[k]->npath)
            return NOA_EUNSUPP;
        found[k] = 0;
        off[k] = vlen[k] = 0;
    }
    struct scan s = {.p = p, .n = len, .qs = qs, .out = out, .off = off, .vlen = vlen,
                     .found = found};
    ws(&s);
    int rc = 0;
    if (s.i >= s.n || p[s.i] != '{' || scan_object(&s, want, 0) < 0) {
        rc = NOA_EINVAL;
    } else {
        ws(&s);
        if (s.i != s.n)
            rc = NOA_EINVAL;
    }
    if (rc == 0 && s.unsupp)
        rc = NOA_EUNSUPP;
    return rc;
}
