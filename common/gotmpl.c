/*
 * Go text/template for LogQL: lexer and parser (the executor is
 * gotmpl_exec.c). Owns the parsed
 * tree (struct noa_gotmpl, allocated in its own arena, immutable after
 * parsing and so shareable between query threads; literal regexes and
 * zones are compiled/loaded here once). Execution keeps its state on the
 * stack and in the caller's struct noa_gotmpl_scratch, also defined here.
 * The function map lives in gotmpl_funcs.c and its siblings.
 */
#include "common/gotmpl.h"
#include "common/gotmpl_int.h"
#include "common/mem.h"
#include "common/regex.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 100              /* nesting of blocks and parentheses */
#define MAX_TEMPLATE (1024 * 1024) /* bytes of template source */

enum tok_kind {
    T_EOF,
    T_ERR,
    T_RDELIM,
    T_IDENT,
    T_FIELD,
    T_DOT,
    T_VAR,
    T_STR,
    T_NUM,
    T_CHAR,
    T_PIPE,
    T_LPAREN,
    T_RPAREN,
    T_DECL,
    T_ASSIGN,
    T_COMMA,
};

struct tok {
    enum tok_kind kind;
    size_t start, end; /* byte offsets of the token in the source */
    int trim;          /* T_RDELIM: "-}}" */
};

/* ---------------------------------------------------------------- parse */

enum term { TERM_EOF, TERM_END, TERM_ELSE, TERM_ELSE_IF, TERM_ELSE_WITH };

struct parser {
    struct noa_gotmpl *t;
    const char *s;
    size_t n, pos;
    int depth;
    int in_range;
    int rtrim;                 /* the last delimiter was "-}}": trim the next text */
    const char *ctx;           /* what the pipeline being parsed belongs to, for messages */
    struct noa_str scope[256]; /* variables visible now */
    int nscope;
    struct noa_error *err;
};

int noa__gotmpl_position(const char *s, size_t pos, int *col0)
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
    int line = noa__gotmpl_position(p->s, pos > p->n ? p->n : pos, &col0);
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
    case '|':
        t.kind = T_PIPE;
        break;
    case '(':
        t.kind = T_LPAREN;
        break;
    case ')':
        t.kind = T_RPAREN;
        break;
    case ',':
        t.kind = T_COMMA;
        break;
    case '=':
        t.kind = T_ASSIGN;
        break;
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
        if (isdigit((unsigned char)c) ||
            ((c == '-' || c == '+') && i < n && (isdigit((unsigned char)s[i]) || s[i] == '.')))
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
        return perr(p, t.start, "unrecognized character in action: U+%04X '%c'",
                    (unsigned)(unsigned char)c, c);
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
        } else if (v < 0x110000 && !(v >= 0xD800 && v < 0xE000)) {
            o += noa_utf8_encode(v, d + o);
        } else {
            return perr(p, t.start, "invalid syntax"); /* as Go's strconv.Unquote */
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
        errno = 0;
        v->u.i = strtoll(b, &end, 0);
        if (errno == ERANGE) {
            /* Go keeps an integer too big for int as a float constant. */
            v->kind = NOA_GOTMPL_FLOAT;
            v->u.f = strtod(b, &end);
        }
    }
    if (*end || end == q)
        return perr(p, t.start, "bad number syntax: \"%s\"", b);
    return 0;
}

static int parse_pipeline(struct parser *p, struct noa__gotmpl_pipe **out, int decl_ok, int nested);

/* One operand: a term and the field chain that follows it. */
static int parse_operand(struct parser *p, struct tok t, struct noa__gotmpl_arg **out)
{
    struct noa_gotmpl *tp = p->t;
    struct noa__gotmpl_arg *a = noa_arena_alloc(&tp->arena, sizeof(*a));
    memset(a, 0, sizeof(*a));
    a->pos = t.start;
    p->pos = t.end;
    struct noa_str word = {p->s + t.start, t.end - t.start};
    int rc = 0;
    switch (t.kind) {
    case T_DOT:
        a->kind = NOA_GOTMPL_A_DOT;
        break;
    case T_FIELD:
        a->kind = NOA_GOTMPL_A_DOT;
        p->pos = t.start; /* the chain loop below takes it */
        break;
    case T_VAR: {
        int found = 0;
        for (int i = p->nscope - 1; i >= 0 && !found; i--)
            found = noa_str_eq(p->scope[i], word);
        if (!found)
            return perr(p, t.start, "undefined variable \"%.*s\"", (int)word.len, word.p);
        a->kind = NOA_GOTMPL_A_VAR;
        a->name = word;
        break;
    }
    case T_IDENT:
        if (noa_str_eq_c(word, "true") || noa_str_eq_c(word, "false")) {
            a->kind = NOA_GOTMPL_A_LIT;
            a->lit.kind = NOA_GOTMPL_BOOL;
            a->lit.u.i = word.len == 4;
        } else if (noa_str_eq_c(word, "nil")) {
            a->kind = NOA_GOTMPL_A_LIT;
            a->lit.kind = NOA_GOTMPL_NIL;
        } else {
            a->kind = NOA_GOTMPL_A_FUNC;
            a->name = word;
            a->fn = noa__gotmpl_func_find(word);
            if (!a->fn)
                return perr(p, t.start, "function \"%.*s\" not defined", (int)word.len, word.p);
        }
        break;
    case T_STR:
        a->kind = NOA_GOTMPL_A_LIT;
        a->lit.kind = NOA_GOTMPL_STR;
        rc = unquote(p, t, &a->lit.u.s);
        break;
    case T_CHAR: {
        struct noa_str c = {0};
        rc = unquote(p, t, &c);
        if (rc == 0 && c.len == 0)
            rc = perr(p, t.start, "malformed character constant");
        if (rc == 0) {
            a->kind = NOA_GOTMPL_A_LIT;
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
        a->kind = NOA_GOTMPL_A_LIT;
        rc = parse_number(p, t, &a->lit);
        break;
    case T_LPAREN:
        if (++p->depth > MAX_DEPTH)
            return noa_error_set(p->err, NOA_ETOOBIG, "template: %s: nesting too deep", tp->name);
        a->kind = NOA_GOTMPL_A_PIPE;
        const char *saved = p->ctx;
        p->ctx = "parenthesized pipeline";
        rc = parse_pipeline(p, &a->pipe, 0, 1);
        p->ctx = saved;
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
        if (a->kind == NOA_GOTMPL_A_LIT || a->kind == NOA_GOTMPL_A_FUNC)
            return perr(p, f.start, "unexpected . after term \"%.*s\"", (int)word.len, word.p);
        fields[nf++] = (struct noa_str){p->s + f.start + 1, f.end - f.start - 1};
        p->pos = f.end;
    }
    if (nf) {
        a->fields = noa_arena_alloc(&tp->arena, sizeof(fields[0]) * (size_t)nf);
        memcpy(a->fields, fields, sizeof(fields[0]) * (size_t)nf);
        a->nfields = nf;
        if (a->kind == NOA_GOTMPL_A_DOT)
            a->kind = NOA_GOTMPL_A_FIELD;
    }
    a->text = (struct noa_str){p->s + a->pos, p->pos - a->pos};
    *out = a;
    return 0;
}

/* Compiles the literal pattern of a regex function (and loads the literal
 * zone of toDateInZone) once, so execution does not do it per line. A bad pattern is left for
 * execution to report, as Go reports it only when the call runs. */
static void precompile(struct parser *p, struct noa__gotmpl_cmd *c)
{
    if (c->nargs < 2 || c->args[0]->kind != NOA_GOTMPL_A_FUNC ||
        c->args[1]->kind != NOA_GOTMPL_A_LIT || c->args[1]->lit.kind != NOA_GOTMPL_STR ||
        c->args[1]->nfields)
        return;
    struct noa_str f = c->args[0]->name;
    if (noa_str_eq_c(f, "toDateInZone")) {
        if (c->nargs < 3 || c->args[2]->kind != NOA_GOTMPL_A_LIT ||
            c->args[2]->lit.kind != NOA_GOTMPL_STR)
            return;
        struct noa__gotmpl_zone *z;
        struct noa_str zn = c->args[2]->lit.u.s;
        if (noa__gotmpl_time_zone_load(zn.p, zn.len, &z))
            return;
        struct noa__gotmpl_re_link *l = noa_arena_alloc(&p->t->arena, sizeof(*l));
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
    struct noa__gotmpl_re_link *l = noa_arena_alloc(&p->t->arena, sizeof(*l));
    l->re = re;
    l->zone = NULL;
    l->next = p->t->regexes;
    p->t->regexes = l;
    c->args[1]->re = re;
}

static int parse_command(struct parser *p, struct noa__gotmpl_cmd **out, int nested)
{
    struct noa__gotmpl_arg *args[NOA_GOTMPL_MAX_ARGS];
    int n = 0;
    size_t start = lex(p, p->pos).start;
    for (;;) {
        struct tok t = lex(p, p->pos);
        if (t.kind == T_PIPE || t.kind == T_RDELIM || t.kind == T_RPAREN) {
            if (n == 0)
                return perr(p, t.start, "missing value for %s", p->ctx);
            if ((t.kind == T_RPAREN && !nested) || (t.kind == T_RDELIM && nested))
                return unexpected(p, t, nested ? "in parenthesized pipeline" : "in command");
            break;
        }
        if (n == NOA_GOTMPL_MAX_ARGS)
            return perr(p, t.start, "too many operands");
        if (n > 0 && t.start == p->pos && t.kind != T_LPAREN)
            return perr(p, t.start, "missing space?");
        int rc = parse_operand(p, t, &args[n]);
        if (rc)
            return rc;
        n++;
    }
    struct noa__gotmpl_cmd *c = noa_arena_alloc(&p->t->arena, sizeof(*c));
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
static int parse_pipeline(struct parser *p, struct noa__gotmpl_pipe **out, int decl_ok, int nested)
{
    struct noa__gotmpl_pipe *pp = noa_arena_alloc(&p->t->arena, sizeof(*pp));
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
                        return perr(p, t.start, "undefined variable \"%.*s\"", (int)pp->decl[i].len,
                                    pp->decl[i].p);
                } else {
                    if (p->nscope == (int)(sizeof(p->scope) / sizeof(p->scope[0])))
                        return perr(p, t.start, "too many variables");
                    p->t->nvars++;
                }
            }
            p->pos = op.end;
        }
    }
    struct noa__gotmpl_cmd **tail = &pp->cmds;
    int stage = 0;
    for (;;) {
        struct noa__gotmpl_cmd *c = NULL;
        int rc = parse_command(p, &c, nested);
        if (rc)
            return rc;
        if (stage > 0 &&
            (c->args[0]->kind == NOA_GOTMPL_A_LIT || c->args[0]->kind == NOA_GOTMPL_A_DOT))
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

static int parse_list(struct parser *p, struct noa__gotmpl_node **out, enum term *term);

static struct noa__gotmpl_node *new_node(struct parser *p, enum noa__gotmpl_node_kind k, size_t pos)
{
    struct noa__gotmpl_node *n = noa_arena_alloc(&p->t->arena, sizeof(*n));
    memset(n, 0, sizeof(*n));
    n->kind = k;
    n->pos = pos;
    return n;
}

/* Parses {{if|with|range pipeline}} ... {{end}} after its keyword. */
static int parse_control(struct parser *p, enum noa__gotmpl_node_kind kind, size_t pos,
                         struct noa__gotmpl_node **out)
{
    if (++p->depth > MAX_DEPTH)
        return noa_error_set(p->err, NOA_ETOOBIG, "template: %s: nesting too deep", p->t->name);
    int mark = p->nscope;
    struct noa__gotmpl_node *n = new_node(p, kind, pos);
    enum term term;
    p->ctx = kind == NOA_GOTMPL_N_IF ? "if" : kind == NOA_GOTMPL_N_WITH ? "with" : "range";
    int rc = parse_pipeline(p, &n->pipe, kind == NOA_GOTMPL_N_RANGE ? 2 : 1, 0);
    if (rc)
        return rc;
    int saved_range = p->in_range;
    if (kind == NOA_GOTMPL_N_RANGE)
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
            return perr(p, p->pos,
                        term == TERM_EOF ? "unexpected EOF" : "expected end; found {{else}}");
    } else if (term == TERM_ELSE_IF || term == TERM_ELSE_WITH) {
        if (kind == NOA_GOTMPL_N_RANGE || (kind == NOA_GOTMPL_N_IF) != (term == TERM_ELSE_IF))
            return perr(p, p->pos, "unexpected {{else}}");
        rc = parse_control(p, term == TERM_ELSE_IF ? NOA_GOTMPL_N_IF : NOA_GOTMPL_N_WITH, p->pos,
                           &n->elist);
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
static int parse_action(struct parser *p, size_t open, struct noa__gotmpl_node **out,
                        enum term *term)
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
        enum noa__gotmpl_node_kind k = noa_str_eq_c(w, "if")      ? NOA_GOTMPL_N_IF
                                       : noa_str_eq_c(w, "with")  ? NOA_GOTMPL_N_WITH
                                       : noa_str_eq_c(w, "range") ? NOA_GOTMPL_N_RANGE
                                                                  : NOA_GOTMPL_N_TEXT;
        if (k != NOA_GOTMPL_N_TEXT) {
            p->pos = t.end;
            return parse_control(p, k, open, out);
        }
        if (noa_str_eq_c(w, "break") || noa_str_eq_c(w, "continue")) {
            if (!p->in_range)
                return perr(p, t.start, "{{%.*s}} outside {{range}}", (int)w.len, w.p);
            p->pos = t.end;
            *out = new_node(p, w.p[0] == 'b' ? NOA_GOTMPL_N_BREAK : NOA_GOTMPL_N_CONTINUE, open);
            return expect_rdelim(p, "in break/continue");
        }
        if (noa_str_eq_c(w, "define") || noa_str_eq_c(w, "template") || noa_str_eq_c(w, "block"))
            return perr(p, t.start, "{{%.*s}} is not supported in LogQL templates", (int)w.len,
                        w.p);
    }
    struct noa__gotmpl_node *n = new_node(p, NOA_GOTMPL_N_ACTION, open);
    p->ctx = "command";
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

static int parse_list(struct parser *p, struct noa__gotmpl_node **out, enum term *term)
{
    struct noa__gotmpl_node *head = NULL, **tail = &head;
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
            struct noa__gotmpl_node *n = new_node(p, NOA_GOTMPL_N_TEXT, ts);
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
        struct noa__gotmpl_node *n;
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

int noa_gotmpl_parse_named(const char *name, const char *text, size_t len, struct noa_gotmpl **out,
                           struct noa_error *err)
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
    for (struct noa__gotmpl_re_link *l = t->regexes; l; l = l->next) {
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
    if (t->root->kind != NOA_GOTMPL_N_TEXT || t->root->next)
        return 0;
    *text = t->root->text;
    return 1;
}
