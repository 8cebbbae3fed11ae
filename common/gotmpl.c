/*
 * Go text/template for LogQL: lexer, parser and executor. Owns the parsed
 * tree (struct noa_gotmpl, allocated in its own arena, immutable after
 * parsing and so shareable between query threads). Execution keeps its
 * state on the stack and in the caller's scratch arena. The function map
 * lives in gotmpl_funcs.c.
 */
#include "common/gotmpl.h"
#include "common/gotmpl_int.h"
#include "common/mem.h"
#include "common/regex.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 100            /* nesting of blocks and parentheses */
#define MAX_TEMPLATE (1024 * 1024) /* bytes of template source */
#define MAX_STEPS 10000000L      /* executed nodes and calls per exec */
#define MAX_ARGS 64              /* operands in one command */

enum tok_kind {
    T_EOF, T_ERR, T_RDELIM, T_IDENT, T_FIELD, T_DOT, T_VAR, T_STR, T_NUM, T_CHAR,
    T_PIPE, T_LPAREN, T_RPAREN, T_DECL, T_ASSIGN, T_COMMA,
};

struct tok {
    enum tok_kind kind;
    size_t start, end; /* byte offsets of the token in the source */
    int trim;          /* T_RDELIM: "-}}" */
};

enum arg_kind { A_DOT, A_FIELD, A_VAR, A_FUNC, A_LIT, A_PIPE };

struct pipe;

struct arg {
    enum arg_kind kind;
    size_t pos;                /* source offset, for messages */
    struct noa_str text;       /* source text */
    struct noa_str name;       /* A_VAR: "$x"; A_FUNC: the name */
    const struct noa__gotmpl_func *fn;
    struct noa__gotmpl_val lit; /* A_LIT */
    struct pipe *pipe;         /* A_PIPE */
    struct noa_str *fields;    /* chain applied after the term */
    int nfields;
    struct noa_regex *re;      /* a literal regex argument, compiled once */
    struct noa__gotmpl_zone *zone; /* a literal toDateInZone zone, loaded once */
};

struct re_link {
    struct noa_regex *re;           /* or NULL */
    struct noa__gotmpl_zone *zone;  /* or NULL */
    struct re_link *next;
};

struct cmd {
    struct arg **args;
    int nargs;
    size_t pos;
    struct noa_str text;
    struct cmd *next;
};

struct pipe {
    int ndecl;               /* 0, 1 or 2 variables declared or assigned */
    int assign;              /* "=" rather than ":=" */
    struct noa_str decl[2];
    struct cmd *cmds;
};

enum node_kind { N_TEXT, N_ACTION, N_IF, N_WITH, N_RANGE, N_BREAK, N_CONTINUE };

struct node {
    enum node_kind kind;
    struct noa_str text; /* N_TEXT */
    struct pipe *pipe;
    struct node *list, *elist; /* control bodies */
    size_t pos;
    struct node *next;
};

struct noa_gotmpl {
    struct noa_arena arena; /* everything below lives here */
    char name[32];
    const char *src;
    size_t srclen;
    struct node *root;
    int nvars; /* declarations in the template: bounds the exec var stack */
    struct re_link *regexes; /* compiled literal regexes, freed with the template */
};

/* ---------------------------------------------------------------- parse */

enum term { TERM_EOF, TERM_END, TERM_ELSE, TERM_ELSE_IF, TERM_ELSE_WITH };

struct parser {
    struct noa_gotmpl *t;
    const char *s;
    size_t n, pos;
    int depth;
    int in_range;
    int rtrim; /* the last delimiter was "-}}": trim the next text */
    struct noa_str scope[256]; /* variables visible now */
    int nscope;
    struct noa_error *err;
};

static int position(const char *s, size_t pos, int *col0)
{
    int line = 1;
    size_t last = 0;
    for (size_t i = 0; i < pos; i++)
        if (s[i] == '\n') {
            line++;
            last = i + 1;
        }
    *col0 = (int)(pos - last);
    return line;
}

static int perr(struct parser *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int perr(struct parser *p, size_t pos, const char *fmt, ...)
{
    char m[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof(m), fmt, ap);
    va_end(ap);
    int col0;
    int line = position(p->s, pos > p->n ? p->n : pos, &col0);
    return noa_error_set_at(p->err, NOA_EINVAL, line, col0 + 1, "template: %s:%d: %s", p->t->name,
                            line, m);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_alnum(char c)
{
    return isalnum((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80;
}

/* Lexes one token inside an action, starting at pos. */
static struct tok lex(struct parser *p, size_t pos)
{
    const char *s = p->s;
    size_t n = p->n;
    struct tok t = {T_EOF, pos, pos, 0};
    size_t ws = pos;
    while (pos < n && is_space(s[pos]))
        pos++;
    t.start = pos;
    if (pos > ws && pos + 2 < n && s[pos] == '-' && s[pos + 1] == '}' && s[pos + 2] == '}') {
        t.kind = T_RDELIM;
        t.trim = 1;
        t.end = pos + 3;
        return t;
    }
    if (pos >= n)
        return t;
    char c = s[pos];
    size_t i = pos + 1;
    if (c == '}' && i < n && s[i] == '}') {
        t.kind = T_RDELIM;
        t.end = i + 1;
        return t;
    }
    switch (c) {
    case '|': t.kind = T_PIPE; break;
    case '(': t.kind = T_LPAREN; break;
    case ')': t.kind = T_RPAREN; break;
    case ',': t.kind = T_COMMA; break;
    case '=': t.kind = T_ASSIGN; break;
    case ':':
        if (i < n && s[i] == '=') {
            t.kind = T_DECL;
            i++;
        } else {
            t.kind = T_ERR;
        }
        break;
    case '"':
    case '`':
    case '\'':
        while (i < n && s[i] != c) {
            if (c != '`' && s[i] == '\\' && i + 1 < n)
                i++;
            else if (c != '`' && s[i] == '\n')
                break;
            i++;
        }
        if (i >= n || s[i] != c) {
            t.kind = T_ERR;
            break;
        }
        i++;
        t.kind = c == '\'' ? T_CHAR : T_STR;
        break;
    case '.':
        if (i < n && isdigit((unsigned char)s[i]))
            goto number;
        while (i < n && is_alnum(s[i]))
            i++;
        t.kind = i == pos + 1 ? T_DOT : T_FIELD;
        break;
    case '$':
        while (i < n && is_alnum(s[i]))
            i++;
        t.kind = T_VAR;
        break;
    default:
        if (isdigit((unsigned char)c) || ((c == '-' || c == '+') && i < n &&
                                          (isdigit((unsigned char)s[i]) || s[i] == '.')))
            goto number;
        if (is_alnum(c)) {
            while (i < n && is_alnum(s[i]))
                i++;
            t.kind = T_IDENT;
            break;
        }
        t.kind = T_ERR;
        break;
    }
    t.end = i;
    return t;
number:
    while (i < n && (is_alnum(s[i]) || s[i] == '.' ||
                     ((s[i] == '+' || s[i] == '-') && strchr("eEpP", s[i - 1]))))
        i++;
    t.kind = T_NUM;
    t.end = i;
    return t;
}

static const char *tok_desc(struct parser *p, struct tok t, char *buf, size_t cap)
{
    if (t.kind == T_EOF)
        return "EOF";
    snprintf(buf, cap, "\"%.*s\"", (int)(t.end - t.start > 40 ? 40 : t.end - t.start),
             p->s + t.start);
    return buf;
}

static int unexpected(struct parser *p, struct tok t, const char *where)
{
    char b[64];
    if (t.kind == T_EOF)
        return perr(p, t.start, "unclosed action");
    if (t.kind == T_ERR) {
        char c = p->s[t.start];
        if (c == '"')
            return perr(p, t.start, "unterminated quoted string");
        if (c == '`')
            return perr(p, t.start, "unterminated raw quoted string");
        if (c == '\'')
            return perr(p, t.start, "unterminated character constant");
        if (c == ':')
            return perr(p, t.start, "expected :=");
        return perr(p, t.start, "bad character U+%04X '%c'", (unsigned)(unsigned char)c, c);
    }
    return perr(p, t.start, "unexpected %s %s", tok_desc(p, t, b, sizeof(b)), where);
}

/* Decodes a Go string or char literal into the template arena. */
static int unquote(struct parser *p, struct tok t, struct noa_str *out)
{
    const char *s = p->s + t.start + 1;
    size_t n = t.end - t.start - 2;
    char *d = noa_arena_alloc(&p->t->arena, n + 1);
    size_t o = 0;
    if (p->s[t.start] == '`') {
        for (size_t i = 0; i < n; i++)
            if (s[i] != '\r')
                d[o++] = s[i];
        *out = (struct noa_str){d, o};
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            d[o++] = s[i];
            continue;
        }
        char e = s[++i];
        const char *simple = "a\ab\bf\fn\nr\rt\tv\v\\\\\"\"''";
        const char *hit = NULL;
        for (const char *q = simple; *q; q += 2)
            if (*q == e)
                hit = q;
        if (hit) {
            d[o++] = hit[1];
            continue;
        }
        int digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : (e >= '0' && e <= '7') ? 3 : 0;
        int base = (e >= '0' && e <= '7') ? 8 : 16;
        if (!digits)
            return perr(p, t.start, "invalid syntax");
        if (base == 16)
            i++;
        uint32_t v = 0;
        for (int k = 0; k < digits; k++, i++) {
            if (i >= n || !isxdigit((unsigned char)s[i]) || (base == 8 && s[i] > '7'))
                return perr(p, t.start, "invalid syntax");
            v = v * (uint32_t)base +
                (uint32_t)(isdigit((unsigned char)s[i]) ? s[i] - '0' : (tolower(s[i]) - 'a' + 10));
        }
        i--;
        if (e == 'x' || base == 8) {
            d[o++] = (char)v;
        } else if (v < 0x80) {
            d[o++] = (char)v;
        } else if (v < 0x800) {
            d[o++] = (char)(0xC0 | (v >> 6));
            d[o++] = (char)(0x80 | (v & 0x3F));
        } else if (v < 0x10000) {
            d[o++] = (char)(0xE0 | (v >> 12));
            d[o++] = (char)(0x80 | ((v >> 6) & 0x3F));
            d[o++] = (char)(0x80 | (v & 0x3F));
        } else if (v < 0x110000) {
            d[o++] = (char)(0xF0 | (v >> 18));
            d[o++] = (char)(0x80 | ((v >> 12) & 0x3F));
            d[o++] = (char)(0x80 | ((v >> 6) & 0x3F));
            d[o++] = (char)(0x80 | (v & 0x3F));
        } else {
            return perr(p, t.start, "invalid syntax");
        }
    }
    *out = (struct noa_str){d, o};
    return 0;
}

static int parse_number(struct parser *p, struct tok t, struct noa__gotmpl_val *v)
{
    char b[80];
    size_t o = 0;
    for (size_t i = t.start; i < t.end && o + 1 < sizeof(b); i++)
        if (p->s[i] != '_')
            b[o++] = p->s[i];
    b[o] = '\0';
    if (t.end - t.start >= sizeof(b))
        return perr(p, t.start, "bad number syntax: \"%.20s\"", b);
    const char *q = b + (b[0] == '-' || b[0] == '+');
    int hex = q[0] == '0' && (q[1] == 'x' || q[1] == 'X');
    char *end;
    if (!hex && strpbrk(q, ".eEpP")) {
        v->kind = NOA_GOTMPL_FLOAT;
        v->u.f = strtod(b, &end);
    } else if (q[0] == '0' && (q[1] == 'b' || q[1] == 'B' || q[1] == 'o' || q[1] == 'O')) {
        v->kind = NOA_GOTMPL_INT;
        long long x = strtoll(q + 2, &end, (q[1] | 0x20) == 'b' ? 2 : 8);
        v->u.i = b[0] == '-' ? -x : x;
    } else {
        v->kind = NOA_GOTMPL_INT;
        v->u.i = strtoll(b, &end, 0);
    }
    if (*end || end == q)
        return perr(p, t.start, "bad number syntax: \"%s\"", b);
    return 0;
}

static int parse_pipeline(struct parser *p, struct pipe **out, int decl_ok, int nested);

/* One operand: a term and the field chain that follows it. */
static int parse_operand(struct parser *p, struct tok t, struct arg **out)
{
    struct noa_gotmpl *tp = p->t;
    struct arg *a = noa_arena_alloc(&tp->arena, sizeof(*a));
    memset(a, 0, sizeof(*a));
    a->pos = t.start;
    p->pos = t.end;
    struct noa_str word = {p->s + t.start, t.end - t.start};
    int rc = 0;
    switch (t.kind) {
    case T_DOT:
        a->kind = A_DOT;
        break;
    case T_FIELD:
        a->kind = A_DOT;
        p->pos = t.start; /* the chain loop below takes it */
        break;
    case T_VAR: {
        int found = 0;
        for (int i = p->nscope - 1; i >= 0 && !found; i--)
            found = noa_str_eq(p->scope[i], word);
        if (!found)
            return perr(p, t.start, "undefined variable \"%.*s\"", (int)word.len, word.p);
        a->kind = A_VAR;
        a->name = word;
        break;
    }
    case T_IDENT:
        if (noa_str_eq_c(word, "true") || noa_str_eq_c(word, "false")) {
            a->kind = A_LIT;
            a->lit.kind = NOA_GOTMPL_BOOL;
            a->lit.u.i = word.len == 4;
        } else if (noa_str_eq_c(word, "nil")) {
            a->kind = A_LIT;
            a->lit.kind = NOA_GOTMPL_NIL;
        } else {
            a->kind = A_FUNC;
            a->name = word;
            a->fn = noa__gotmpl_func_find(word);
            if (!a->fn)
                return perr(p, t.start, "function \"%.*s\" not defined", (int)word.len, word.p);
        }
        break;
    case T_STR:
        a->kind = A_LIT;
        a->lit.kind = NOA_GOTMPL_STR;
        rc = unquote(p, t, &a->lit.u.s);
        break;
    case T_CHAR: {
        struct noa_str c = {0};
        rc = unquote(p, t, &c);
        if (rc == 0 && c.len == 0)
            rc = perr(p, t.start, "malformed character constant");
        if (rc == 0) {
            a->kind = A_LIT;
            a->lit.kind = NOA_GOTMPL_INT;
            const unsigned char *u = (const unsigned char *)c.p;
            int64_t cp = u[0];
            if (u[0] >= 0xC0 && c.len >= 2) {
                int extra = u[0] >= 0xF0 ? 3 : u[0] >= 0xE0 ? 2 : 1;
                cp = u[0] & (0x3F >> extra);
                for (int k = 1; k <= extra && (size_t)k < c.len; k++)
                    cp = (cp << 6) | (u[k] & 0x3F);
            }
            a->lit.u.i = cp;
        }
        break;
    }
    case T_NUM:
        a->kind = A_LIT;
        rc = parse_number(p, t, &a->lit);
        break;
    case T_LPAREN:
        if (++p->depth > MAX_DEPTH)
            return noa_error_set(p->err, NOA_ETOOBIG, "template: %s: nesting too deep",
                                 tp->name);
        a->kind = A_PIPE;
        rc = parse_pipeline(p, &a->pipe, 0, 1);
        p->depth--;
        break;
    default:
        return unexpected(p, t, "in operand");
    }
    if (rc)
        return rc;
    /* Field chain: ".a.b" right after the term, no space between. */
    struct noa_str fields[32];
    int nf = 0;
    for (;;) {
        struct tok f = lex(p, p->pos);
        if (f.kind != T_FIELD || f.start != p->pos)
            break;
        if (nf == 32)
            return perr(p, f.start, "field chain too long");
        if (a->kind == A_LIT || a->kind == A_FUNC)
            return perr(p, f.start, "unexpected . after term \"%.*s\"", (int)word.len, word.p);
        fields[nf++] = (struct noa_str){p->s + f.start + 1, f.end - f.start - 1};
        p->pos = f.end;
    }
    if (nf) {
        a->fields = noa_arena_alloc(&tp->arena, sizeof(fields[0]) * (size_t)nf);
        memcpy(a->fields, fields, sizeof(fields[0]) * (size_t)nf);
        a->nfields = nf;
        if (a->kind == A_DOT)
            a->kind = A_FIELD;
    }
    a->text = (struct noa_str){p->s + a->pos, p->pos - a->pos};
    *out = a;
    return 0;
}

/* Compiles the literal pattern of a regex function (and loads the literal
 * zone of toDateInZone) once, so execution does not do it per line. A bad pattern is left for execution to
 * report, as Go reports it only when the call runs. */
static void precompile(struct parser *p, struct cmd *c)
{
    if (c->nargs < 2 || c->args[0]->kind != A_FUNC || c->args[1]->kind != A_LIT ||
        c->args[1]->lit.kind != NOA_GOTMPL_STR || c->args[1]->nfields)
        return;
    struct noa_str f = c->args[0]->name;
    if (noa_str_eq_c(f, "toDateInZone")) {
        if (c->nargs < 3 || c->args[2]->kind != A_LIT || c->args[2]->lit.kind != NOA_GOTMPL_STR)
            return;
        struct noa__gotmpl_zone *z;
        struct noa_str zn = c->args[2]->lit.u.s;
        if (noa__gotmpl_time_zone_load(zn.p, zn.len, &z))
            return;
        struct re_link *l = noa_arena_alloc(&p->t->arena, sizeof(*l));
        l->re = NULL;
        l->zone = z;
        l->next = p->t->regexes;
        p->t->regexes = l;
        c->args[2]->zone = z;
        return;
    }
    if (!noa_str_eq_c(f, "regexReplaceAll") && !noa_str_eq_c(f, "regexReplaceAllLiteral") &&
        !noa_str_eq_c(f, "count"))
        return;
    struct noa_regex *re;
    struct noa_str pat = c->args[1]->lit.u.s;
    if (noa_regex_compile(pat.p, pat.len, 0, &re, NULL))
        return;
    struct re_link *l = noa_arena_alloc(&p->t->arena, sizeof(*l));
    l->re = re;
    l->zone = NULL;
    l->next = p->t->regexes;
    p->t->regexes = l;
    c->args[1]->re = re;
}

static int parse_command(struct parser *p, struct cmd **out, int nested)
{
    struct arg *args[MAX_ARGS];
    int n = 0;
    size_t start = lex(p, p->pos).start;
    for (;;) {
        struct tok t = lex(p, p->pos);
        if (t.kind == T_PIPE || t.kind == T_RDELIM || t.kind == T_RPAREN) {
            if (n == 0)
                return perr(p, t.start, "missing value for command");
            if ((t.kind == T_RPAREN && !nested) || (t.kind == T_RDELIM && nested))
                return unexpected(p, t, nested ? "in parenthesized pipeline" : "in command");
            break;
        }
        if (n == MAX_ARGS)
            return perr(p, t.start, "too many operands");
        if (n > 0 && t.start == p->pos && t.kind != T_LPAREN)
            return perr(p, t.start, "missing space?");
        int rc = parse_operand(p, t, &args[n]);
        if (rc)
            return rc;
        n++;
    }
    struct cmd *c = noa_arena_alloc(&p->t->arena, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->args = noa_arena_alloc(&p->t->arena, sizeof(args[0]) * (size_t)n);
    memcpy(c->args, args, sizeof(args[0]) * (size_t)n);
    c->nargs = n;
    c->pos = start;
    c->text = (struct noa_str){p->s + start, args[n - 1]->pos + args[n - 1]->text.len - start};
    precompile(p, c);
    *out = c;
    return 0;
}

/* Parses "[decl] cmd | cmd ..." up to and including "}}" (or ")" when
 * nested). decl_ok: 1 plain, 2 range (allows "$i, $e :="). */
static int parse_pipeline(struct parser *p, struct pipe **out, int decl_ok, int nested)
{
    struct pipe *pp = noa_arena_alloc(&p->t->arena, sizeof(*pp));
    memset(pp, 0, sizeof(*pp));
    struct tok t = lex(p, p->pos);
    if (t.kind == T_VAR && !nested) {
        struct tok t2 = lex(p, t.end);
        struct tok v2 = {0}, op = t2;
        if (t2.kind == T_COMMA && decl_ok == 2) {
            v2 = lex(p, t2.end);
            op = lex(p, v2.end);
            if (v2.kind != T_VAR || op.kind != T_DECL)
                return perr(p, t2.start, "range can only initialize variables");
        }
        if (op.kind == T_DECL || op.kind == T_ASSIGN) {
            pp->ndecl = 1;
            pp->assign = op.kind == T_ASSIGN;
            pp->decl[0] = (struct noa_str){p->s + t.start, t.end - t.start};
            if (v2.kind == T_VAR) {
                pp->ndecl = 2;
                pp->decl[1] = (struct noa_str){p->s + v2.start, v2.end - v2.start};
            }
            for (int i = 0; i < pp->ndecl; i++) {
                if (pp->assign) {
                    int found = 0;
                    for (int k = p->nscope - 1; k >= 0 && !found; k--)
                        found = noa_str_eq(p->scope[k], pp->decl[i]);
                    if (!found)
                        return perr(p, t.start, "undefined variable \"%.*s\"",
                                    (int)pp->decl[i].len, pp->decl[i].p);
                } else {
                    if (p->nscope == (int)(sizeof(p->scope) / sizeof(p->scope[0])))
                        return perr(p, t.start, "too many variables");
                    p->t->nvars++;
                }
            }
            p->pos = op.end;
        }
    }
    struct cmd **tail = &pp->cmds;
    int stage = 0;
    for (;;) {
        struct cmd *c = NULL;
        int rc = parse_command(p, &c, nested);
        if (rc)
            return rc;
        if (stage > 0 && c->args[0]->kind == A_LIT)
            return perr(p, c->pos, "non executable command in pipeline stage %d", stage + 1);
        stage++;
        *tail = c;
        tail = &c->next;
        t = lex(p, p->pos);
        p->pos = t.end;
        p->rtrim = t.trim;
        if (t.kind != T_PIPE)
            break;
    }
    /* Declared names become visible after the pipeline that declares them. */
    if (!pp->assign)
        for (int i = 0; i < pp->ndecl; i++)
            p->scope[p->nscope++] = pp->decl[i];
    *out = pp;
    return 0;
}

static int parse_list(struct parser *p, struct node **out, enum term *term);

static struct node *new_node(struct parser *p, enum node_kind k, size_t pos)
{
    struct node *n = noa_arena_alloc(&p->t->arena, sizeof(*n));
    memset(n, 0, sizeof(*n));
    n->kind = k;
    n->pos = pos;
    return n;
}

/* Parses {{if|with|range pipeline}} ... {{end}} after its keyword. */
static int parse_control(struct parser *p, enum node_kind kind, size_t pos, struct node **out)
{
    if (++p->depth > MAX_DEPTH)
        return noa_error_set(p->err, NOA_ETOOBIG, "template: %s: nesting too deep", p->t->name);
    int mark = p->nscope;
    struct node *n = new_node(p, kind, pos);
    enum term term;
    int rc = parse_pipeline(p, &n->pipe, kind == N_RANGE ? 2 : 1, 0);
    if (rc)
        return rc;
    int saved_range = p->in_range;
    if (kind == N_RANGE)
        p->in_range = 1;
    rc = parse_list(p, &n->list, &term);
    p->in_range = saved_range;
    if (rc)
        return rc;
    if (term == TERM_ELSE) {
        rc = parse_list(p, &n->elist, &term);
        if (rc)
            return rc;
        if (term != TERM_END)
            return perr(p, p->pos, term == TERM_EOF ? "unexpected EOF" : "expected end; found {{else}}");
    } else if (term == TERM_ELSE_IF || term == TERM_ELSE_WITH) {
        if (kind == N_RANGE || (kind == N_IF) != (term == TERM_ELSE_IF))
            return perr(p, p->pos, "unexpected {{else}}");
        rc = parse_control(p, term == TERM_ELSE_IF ? N_IF : N_WITH, p->pos, &n->elist);
        if (rc)
            return rc;
    } else if (term == TERM_EOF) {
        return perr(p, p->pos, "unexpected EOF");
    }
    p->nscope = mark;
    p->depth--;
    *out = n;
    return 0;
}

static int expect_rdelim(struct parser *p, const char *where)
{
    struct tok t = lex(p, p->pos);
    if (t.kind != T_RDELIM)
        return unexpected(p, t, where);
    p->pos = t.end;
    p->rtrim = t.trim;
    return 0;
}

/* Handles one "{{ ... }}" whose content starts at p->pos. */
static int parse_action(struct parser *p, size_t open, struct node **out, enum term *term)
{
    struct tok t = lex(p, p->pos);
    struct noa_str w = {p->s + t.start, t.end - t.start};
    *out = NULL;
    *term = TERM_EOF;
    if (t.kind == T_IDENT) {
        if (noa_str_eq_c(w, "end")) {
            p->pos = t.end;
            *term = TERM_END;
            return expect_rdelim(p, "in end");
        }
        if (noa_str_eq_c(w, "else")) {
            p->pos = t.end;
            struct tok t2 = lex(p, p->pos);
            struct noa_str w2 = {p->s + t2.start, t2.end - t2.start};
            if (t2.kind == T_IDENT && (noa_str_eq_c(w2, "if") || noa_str_eq_c(w2, "with"))) {
                p->pos = t2.end;
                *term = w2.p[0] == 'i' ? TERM_ELSE_IF : TERM_ELSE_WITH;
                return 0;
            }
            *term = TERM_ELSE;
            return expect_rdelim(p, "in else");
        }
        enum node_kind k = noa_str_eq_c(w, "if")      ? N_IF
                           : noa_str_eq_c(w, "with")  ? N_WITH
                           : noa_str_eq_c(w, "range") ? N_RANGE
                                                      : N_TEXT;
        if (k != N_TEXT) {
            p->pos = t.end;
            return parse_control(p, k, open, out);
        }
        if (noa_str_eq_c(w, "break") || noa_str_eq_c(w, "continue")) {
            if (!p->in_range)
                return perr(p, t.start, "{{%.*s}} outside {{range}}", (int)w.len, w.p);
            p->pos = t.end;
            *out = new_node(p, w.p[0] == 'b' ? N_BREAK : N_CONTINUE, open);
            return expect_rdelim(p, "in break/continue");
        }
        if (noa_str_eq_c(w, "define") || noa_str_eq_c(w, "template") ||
            noa_str_eq_c(w, "block"))
            return perr(p, t.start, "{{%.*s}} is not supported in LogQL templates", (int)w.len,
                        w.p);
    }
    struct node *n = new_node(p, N_ACTION, open);
    int rc = parse_pipeline(p, &n->pipe, 1, 0);
    if (rc)
        return rc;
    *out = n;
    return 0;
}

/* Skips a comment "/ * ... * /" at p->pos, up to the closing delimiter. */
static int skip_comment(struct parser *p)
{
    const char *e = memmem(p->s + p->pos + 2, p->n - p->pos - 2, "*/", 2);
    if (!e)
        return perr(p, p->pos, "unclosed comment");
    size_t i = (size_t)(e - p->s) + 2;
    if (p->n - i >= 4 && is_space(p->s[i]) && memcmp(p->s + i + 1, "-}}", 3) == 0) {
        p->rtrim = 1;
        p->pos = i + 4;
        return 0;
    }
    if (p->n - i >= 2 && p->s[i] == '}' && p->s[i + 1] == '}') {
        p->pos = i + 2;
        return 0;
    }
    return perr(p, i, "comment ends before closing delimiter");
}

static int parse_list(struct parser *p, struct node **out, enum term *term)
{
    struct node *head = NULL, **tail = &head;
    *term = TERM_EOF;
    for (;;) {
        const char *open = p->pos < p->n ? memmem(p->s + p->pos, p->n - p->pos, "{{", 2) : NULL;
        size_t text_end = open ? (size_t)(open - p->s) : p->n;
        size_t ts = p->pos, te = text_end;
        size_t act = text_end + 2;
        int ltrim = open && act + 1 < p->n && p->s[act] == '-' && is_space(p->s[act + 1]);
        if (p->rtrim)
            while (ts < te && is_space(p->s[ts]))
                ts++;
        if (ltrim)
            while (te > ts && is_space(p->s[te - 1]))
                te--;
        p->rtrim = 0;
        if (te > ts) {
            struct node *n = new_node(p, N_TEXT, ts);
            n->text = (struct noa_str){p->s + ts, te - ts};
            *tail = n;
            tail = &n->next;
        }
        if (!open) {
            p->pos = p->n;
            break;
        }
        p->pos = act + (ltrim ? 2 : 0);
        if (p->pos + 1 < p->n && p->s[p->pos] == '/' && p->s[p->pos + 1] == '*') {
            int rc = skip_comment(p);
            if (rc)
                return rc;
            continue;
        }
        struct node *n;
        int rc = parse_action(p, text_end, &n, term);
        if (rc)
            return rc;
        if (*term != TERM_EOF)
            break;
        *tail = n;
        tail = &n->next;
    }
    *out = head;
    return 0;
}

int noa_gotmpl_parse_named(const char *name, const char *text, size_t len,
                           struct noa_gotmpl **out, struct noa_error *err)
{
    *out = NULL;
    if (len > MAX_TEMPLATE)
        return noa_error_set(err, NOA_ETOOBIG, "template: %s: template of %zu bytes over the limit",
                             name, len);
    struct noa_gotmpl *t = noa_xcalloc(1, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", name);
    char *src = noa_arena_strndup(&t->arena, text ? text : "", len);
    t->src = src;
    t->srclen = len;
    struct parser p = {.t = t, .s = src, .n = len, .err = err};
    p.scope[p.nscope++] = NOA_STR("$");
    enum term term;
    int rc = parse_list(&p, &t->root, &term);
    if (rc == 0 && term == TERM_END)
        rc = perr(&p, p.pos, "unexpected {{end}}");
    if (rc == 0 && term != TERM_EOF)
        rc = perr(&p, p.pos, "unexpected {{else}}");
    if (rc)
        goto fail;
    *out = t;
    return 0;
fail:
    noa_gotmpl_free(t);
    return rc;
}

int noa_gotmpl_parse(const char *text, size_t len, struct noa_gotmpl **out, struct noa_error *err)
{
    return noa_gotmpl_parse_named("line", text, len, out, err);
}

void noa_gotmpl_free(struct noa_gotmpl *t)
{
    if (!t)
        return;
    for (struct re_link *l = t->regexes; l; l = l->next) {
        noa_regex_free(l->re);
        noa__gotmpl_time_zone_free(l->zone);
    }
    noa_arena_fini(&t->arena);
    noa_free(t);
}

int noa_gotmpl_literal(const struct noa_gotmpl *t, struct noa_str *text)
{
    if (!t->root) {
        *text = (struct noa_str){"", 0};
        return 1;
    }
    if (t->root->kind != N_TEXT || t->root->next)
        return 0;
    *text = t->root->text;
    return 1;
}

/* ----------------------------------------------------------------- exec */

struct var {
    struct noa_str name;
    struct noa__gotmpl_val v;
};

struct state {
    struct noa__gotmpl_exec x; /* what functions see */
    const struct noa_gotmpl *t;
    struct noa_buf *out;
    size_t out_start;
    size_t max_out;
    long steps, max_steps;
    struct var *vars;
    int nvars, cap;
    struct noa_error *err;
    int brk; /* 1 break, 2 continue pending */
};

/* Go's exec error: "template: line:1:2: executing "line" at <ctx>: msg". */
static int xerr(struct state *st, int code, size_t pos, struct noa_str ctx, const char *msg)
{
    int col0;
    int line = position(st->t->src, pos, &col0);
    return noa_error_set_at(st->err, code, line, col0 + 1,
                            "template: %s:%d:%d: executing \"%s\" at <%.*s>: %s", st->t->name,
                            line, col0, st->t->name, (int)(ctx.len > 80 ? 80 : ctx.len), ctx.p,
                            msg);
}

static int step(struct state *st, size_t pos, struct noa_str ctx)
{
    if (++st->steps > st->max_steps)
        return xerr(st, NOA_ELIMIT, pos, ctx, "template execution took too many steps");
    return 0;
}

static const struct noa__gotmpl_val *dot_map(void)
{
    static const struct noa__gotmpl_val m = {.kind = NOA_GOTMPL_MAP};
    return &m;
}

static int field_chain(struct state *st, const struct arg *a, struct noa__gotmpl_val *v)
{
    char m[200];
    for (int i = 0; i < a->nfields; i++) {
        struct noa_str f = a->fields[i];
        if (v->kind != NOA_GOTMPL_MAP) {
            if (v->kind == NOA_GOTMPL_NIL)
                snprintf(m, sizeof(m), "nil pointer evaluating interface {}.%.*s", (int)f.len,
                         f.p);
            else
                snprintf(m, sizeof(m), "can't evaluate field %.*s in type %s", (int)f.len, f.p,
                         noa__gotmpl_type(v));
            return xerr(st, NOA_EINVAL, a->pos, a->text, m);
        }
        struct noa_str val = {"", 0};
        const struct noa_gotmpl_data *d = st->x.data;
        if (d->lookup_cb && !d->lookup_cb(d->ctx, f.p, f.len, &val))
            val = (struct noa_str){"", 0};
        v->kind = NOA_GOTMPL_STR;
        v->u.s = val;
    }
    return 0;
}

static int eval_pipe(struct state *st, const struct pipe *pp, const struct noa__gotmpl_val *dot,
                     struct noa__gotmpl_val *out);

static int eval_cmd(struct state *st, const struct cmd *c, const struct noa__gotmpl_val *dot,
                    const struct noa__gotmpl_val *final, struct noa__gotmpl_val *out);

static int eval_arg(struct state *st, const struct arg *a, const struct noa__gotmpl_val *dot,
                    struct noa__gotmpl_val *v)
{
    int rc = 0;
    switch (a->kind) {
    case A_DOT:
        *v = *dot;
        break;
    case A_FIELD:
        *v = *dot;
        break;
    case A_VAR:
        for (int i = st->nvars - 1; i >= 0; i--)
            if (noa_str_eq(st->vars[i].name, a->name)) {
                *v = st->vars[i].v;
                break;
            }
        break;
    case A_LIT:
        *v = a->lit;
        break;
    case A_PIPE:
        rc = eval_pipe(st, a->pipe, dot, v);
        break;
    case A_FUNC: {
        /* A function name as an operand is a call without arguments. */
        struct cmd c = {.args = (struct arg **)&a, .nargs = 1, .pos = a->pos, .text = a->text};
        rc = eval_cmd(st, &c, dot, NULL, v);
        break;
    }
    }
    if (rc)
        return rc;
    return field_chain(st, a, v);
}

/* Calls c->args[0] (a function) with the rest of the operands and final. */
static int call(struct state *st, const struct cmd *c, const struct noa__gotmpl_val *dot,
                const struct noa__gotmpl_val *final, struct noa__gotmpl_val *out)
{
    const struct arg *f = c->args[0];
    const struct noa__gotmpl_func *fn = f->fn;
    char m[300];
    int n = c->nargs - 1 + (final != NULL);
    if (n < fn->min_args || (fn->max_args >= 0 && n > fn->max_args)) {
        if (fn->max_args < 0)
            snprintf(m, sizeof(m), "wrong number of args for %s: want at least %d got %d",
                     fn->name, fn->min_args, n);
        else
            snprintf(m, sizeof(m), "wrong number of args for %s: want %d got %d", fn->name,
                     fn->min_args, n);
        return xerr(st, NOA_EINVAL, c->pos, c->text, m);
    }
    int is_and = strcmp(fn->name, "and") == 0, is_or = strcmp(fn->name, "or") == 0;
    struct noa__gotmpl_val args[MAX_ARGS + 1];
    for (int i = 0; i < n; i++) {
        int rc = 0;
        if (i < c->nargs - 1) {
            rc = eval_arg(st, c->args[i + 1], dot, &args[i]);
        } else {
            args[i] = *final;
        }
        if (rc)
            return rc;
        /* and/or stop at the first operand that decides the result. */
        if ((is_and && !noa__gotmpl_truth(&args[i])) || (is_or && noa__gotmpl_truth(&args[i]))) {
            *out = args[i];
            return 0;
        }
    }
    if (is_and || is_or) {
        *out = args[n - 1];
        return 0;
    }
    st->x.msg[0] = '\0';
    st->x.re_hint = c->nargs >= 2 ? c->args[1]->re : NULL;
    st->x.zone_hint = c->nargs >= 3 ? c->args[2]->zone : NULL;
    int rc = fn->fn(&st->x, args, n, out);
    if (rc)
        return xerr(st, rc, c->pos, c->text, st->x.msg);
    return step(st, c->pos, c->text);
}

static int eval_cmd(struct state *st, const struct cmd *c, const struct noa__gotmpl_val *dot,
                    const struct noa__gotmpl_val *final, struct noa__gotmpl_val *out)
{
    const struct arg *first = c->args[0];
    char m[200];
    if (first->kind == A_FUNC)
        return call(st, c, dot, final, out);
    if (c->nargs > 1 || final) {
        if (first->nfields > 0) {
            struct noa_str f = first->fields[first->nfields - 1];
            snprintf(m, sizeof(m), "%.*s is not a method but has arguments", (int)f.len, f.p);
        } else {
            snprintf(m, sizeof(m), "can't give argument to non-function %.*s",
                     (int)first->text.len, first->text.p);
        }
        return xerr(st, NOA_EINVAL, first->pos, first->text, m);
    }
    if (first->kind == A_LIT && first->lit.kind == NOA_GOTMPL_NIL)
        return xerr(st, NOA_EINVAL, first->pos, first->text, "nil is not a command");
    return eval_arg(st, first, dot, out);
}

static void set_var(struct state *st, struct noa_str name, const struct noa__gotmpl_val *v,
                    int assign)
{
    if (assign) {
        for (int i = st->nvars - 1; i >= 0; i--)
            if (noa_str_eq(st->vars[i].name, name)) {
                st->vars[i].v = *v;
                return;
            }
        return;
    }
    /* The parser counted every declaration, so the stack cannot overflow. */
    if (st->nvars < st->cap)
        st->vars[st->nvars++] = (struct var){name, *v};
}

static int eval_pipe(struct state *st, const struct pipe *pp, const struct noa__gotmpl_val *dot,
                     struct noa__gotmpl_val *out)
{
    struct noa__gotmpl_val v = {.kind = NOA_GOTMPL_NIL};
    int have = 0;
    for (const struct cmd *c = pp->cmds; c; c = c->next) {
        struct noa__gotmpl_val r;
        int rc = eval_cmd(st, c, dot, have ? &v : NULL, &r);
        if (rc)
            return rc;
        v = r;
        have = 1;
    }
    if (pp->ndecl == 1)
        set_var(st, pp->decl[0], &v, pp->assign);
    *out = v;
    return 0;
}

static int check_out(struct state *st, const struct node *n)
{
    if (st->out->len - st->out_start > st->max_out)
        return xerr(st, NOA_ETOOBIG, n->pos, NOA_STR("output"), "output over the size limit");
    return 0;
}

static int exec_list(struct state *st, const struct node *n, const struct noa__gotmpl_val *dot);

/* One iteration of a range body with its variables bound. Returns 1 to
 * stop (break), 0 to go on, or an error. */
static int range_body(struct state *st, const struct node *n, const struct noa__gotmpl_val *key,
                      const struct noa__gotmpl_val *elem)
{
    int imark = st->nvars;
    /* Go binds one variable to the element, two to key and element. */
    if (n->pipe->ndecl == 1)
        set_var(st, n->pipe->decl[0], elem, 0);
    if (n->pipe->ndecl == 2) {
        set_var(st, n->pipe->decl[0], key, 0);
        set_var(st, n->pipe->decl[1], elem, 0);
    }
    int rc = exec_list(st, n->list, elem);
    st->nvars = imark;
    if (rc)
        return rc;
    int stop = st->brk == 1;
    st->brk = 0;
    rc = step(st, n->pos, NOA_STR("range"));
    return rc ? rc : stop;
}

struct pairs {
    struct noa__gotmpl_exec *x;
    struct noa_str *kv; /* key, value, key, value ... */
    size_t n, cap;
};

static void collect_pair(void *ectx, struct noa_str name, struct noa_str val)
{
    struct pairs *p = ectx;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 32;
        struct noa_str *kv = noa__gotmpl_alloc(p->x, 2 * cap * sizeof(*kv));
        if (p->n)
            memcpy(kv, p->kv, 2 * p->n * sizeof(*kv));
        p->kv = kv;
        p->cap = cap;
    }
    p->kv[2 * p->n] = name;
    p->kv[2 * p->n + 1] = val;
    p->n++;
}

static int exec_range(struct state *st, const struct node *n, const struct noa__gotmpl_val *dot)
{
    struct noa__gotmpl_val v;
    int mark = st->nvars;
    int rc = eval_pipe(st, n->pipe, dot, &v);
    if (rc)
        return rc;
    st->nvars = mark;
    char m[200];
    int64_t count = 0;
    if (v.kind == NOA_GOTMPL_INT) {
        if (n->pipe->ndecl == 2)
            return xerr(st, NOA_EINVAL, n->pos, NOA_STR("range"),
                        "can't use two iteration variables with an integer");
        for (count = 0; count < v.u.i; count++) {
            struct noa__gotmpl_val idx = {.kind = NOA_GOTMPL_INT, .u.i = count};
            rc = range_body(st, n, &idx, &idx);
            if (rc)
                break;
        }
    } else if (v.kind == NOA_GOTMPL_MAP) {
        /* Labels in name order, as Go ranges over a map's sorted keys. */
        struct pairs p = {.x = &st->x};
        const struct noa_gotmpl_data *d = st->x.data;
        if (d->each_cb)
            d->each_cb(d->ctx, collect_pair, &p);
        for (size_t i = 0; i < p.n; i++, count++) {
            struct noa__gotmpl_val k = {.kind = NOA_GOTMPL_STR, .u.s = p.kv[2 * i]};
            struct noa__gotmpl_val e = {.kind = NOA_GOTMPL_STR, .u.s = p.kv[2 * i + 1]};
            rc = range_body(st, n, &k, &e);
            if (rc)
                break;
        }
    } else if (v.kind != NOA_GOTMPL_NIL) {
        snprintf(m, sizeof(m), "range can't iterate over %s", noa__gotmpl_type(&v));
        return xerr(st, NOA_EINVAL, n->pos, NOA_STR("range"), m);
    }
    if (rc < 0)
        return rc;
    if (count <= 0)
        return exec_list(st, n->elist, dot);
    return 0;
}

static int exec_node(struct state *st, const struct node *n, const struct noa__gotmpl_val *dot)
{
    struct noa__gotmpl_val v;
    int rc = step(st, n->pos, NOA_STR("node"));
    if (rc)
        return rc;
    switch (n->kind) {
    case N_TEXT:
        noa_buf_append_str(st->out, n->text);
        return check_out(st, n);
    case N_ACTION:
        rc = eval_pipe(st, n->pipe, dot, &v);
        if (rc || n->pipe->ndecl)
            return rc;
        noa__gotmpl_print(&st->x, &v, st->out);
        return check_out(st, n);
    case N_IF:
    case N_WITH: {
        int mark = st->nvars;
        rc = eval_pipe(st, n->pipe, dot, &v);
        if (rc == 0) {
            if (noa__gotmpl_truth(&v))
                rc = exec_list(st, n->list, n->kind == N_WITH ? &v : dot);
            else
                rc = exec_list(st, n->elist, dot);
        }
        st->nvars = mark;
        return rc;
    }
    case N_RANGE: {
        int mark = st->nvars;
        rc = exec_range(st, n, dot);
        st->nvars = mark;
        return rc;
    }
    case N_BREAK:
        st->brk = 1;
        return 0;
    case N_CONTINUE:
        st->brk = 2;
        return 0;
    }
    return 0;
}

static int exec_list(struct state *st, const struct node *n, const struct noa__gotmpl_val *dot)
{
    for (; n && !st->brk; n = n->next) {
        int rc = exec_node(st, n, dot);
        if (rc)
            return rc;
    }
    return 0;
}

/* ----------------------------------------------------------- scratch */

struct noa_gotmpl_block {
    struct noa_gotmpl_block *next;
    size_t used, cap; /* bytes */
    _Alignas(16) unsigned char data[];
};

#define BLOCK_MIN (64 * 1024)

void *noa__gotmpl_alloc(struct noa__gotmpl_exec *x, size_t n)
{
    if (!x->work)
        return noa_arena_alloc(x->arena, n);
    n = (n + 15) & ~(size_t)15;
    struct noa_gotmpl_block *b = x->work->blocks;
    if (!b || b->cap - b->used < n) {
        /* Sizes are bounded by the output cap the caller chose. */
        size_t cap = n > BLOCK_MIN ? n : BLOCK_MIN;
        b = noa_xmalloc(sizeof(*b) + cap);
        b->used = 0;
        b->cap = cap;
        b->next = x->work->blocks;
        x->work->blocks = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

/* Empties the scratch for the next execution. When it took several blocks
 * they are merged into one of the total size, so the next execution of the
 * same shape fits without allocating. */
static void scratch_reset(struct noa_gotmpl_scratch *s)
{
    struct noa_gotmpl_block *b = s->blocks;
    if (!b)
        return;
    if (b->next) {
        size_t total = 0;
        while (b) {
            struct noa_gotmpl_block *next = b->next;
            total += b->cap;
            noa_free(b);
            b = next;
        }
        b = noa_xmalloc(sizeof(*b) + total);
        b->cap = total;
        b->next = NULL;
        s->blocks = b;
    }
    b->used = 0;
}

void noa_gotmpl_scratch_fini(struct noa_gotmpl_scratch *s)
{
    struct noa_gotmpl_block *b = s->blocks;
    while (b) {
        struct noa_gotmpl_block *next = b->next;
        noa_free(b);
        b = next;
    }
    s->blocks = NULL;
}

int noa_gotmpl_exec(const struct noa_gotmpl *t, const struct noa_gotmpl_data *data,
                    struct noa_buf *out, struct noa_error *err)
{
    struct noa_gotmpl_scratch local = {0};
    struct state st = {
        .x = {.data = data, .work = data->work, .arena = data->scratch},
        .t = t,
        .out = out,
        .out_start = out->len,
        .max_out = data->max_output ? data->max_output : NOA_GOTMPL_MAX_OUTPUT,
        .max_steps = data->max_steps > 0 ? data->max_steps : MAX_STEPS,
        .err = err,
    };
    if (!st.x.work && !st.x.arena)
        st.x.work = &local;
    if (st.x.work)
        scratch_reset(st.x.work);
    st.x.max_str = st.max_out;
    st.cap = t->nvars + 1;
    st.vars = noa__gotmpl_alloc(&st.x, sizeof(struct var) * (size_t)st.cap);
    st.vars[st.nvars++] = (struct var){NOA_STR("$"), *dot_map()};
    int rc = exec_list(&st, t->root, dot_map());
    if (rc)
        out->len = st.out_start;
    noa_gotmpl_scratch_fini(&local);
    return rc;
}
