/*
 * Go text/template for LogQL: the executor. Walks a parsed tree (see
 * gotmpl.c) against one line's labels, evaluating pipelines, variables,
 * if/with/range and calls into the function map, within the caller's
 * output, string and step budgets. Owns struct noa_gotmpl_scratch, the
 * reusable working memory. Runs on the calling thread; state lives on the
 * stack and in the scratch.
 */
#include "common/gotmpl.h"
#include "common/gotmpl_int.h"
#include "common/mem.h"

#include <stdio.h>
#include <string.h>

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
    int line = noa__gotmpl_position(st->t->src, pos, &col0);
    return noa_error_set_at(st->err, code, line, col0 + 1,
                            "template: %s:%d:%d: executing \"%s\" at <%.*s>: %s", st->t->name, line,
                            col0, st->t->name, (int)(ctx.len > 80 ? 80 : ctx.len), ctx.p, msg);
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

static int field_chain(struct state *st, const struct noa__gotmpl_arg *a, struct noa__gotmpl_val *v)
{
    char m[200];
    for (int i = 0; i < a->nfields; i++) {
        struct noa_str f = a->fields[i];
        if (v->kind != NOA_GOTMPL_MAP) {
            if (v->kind == NOA_GOTMPL_NIL)
                snprintf(m, sizeof(m), "nil pointer evaluating interface {}.%.*s", (int)f.len, f.p);
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

static int eval_pipe(struct state *st, const struct noa__gotmpl_pipe *pp,
                     const struct noa__gotmpl_val *dot, struct noa__gotmpl_val *out);

static int eval_cmd(struct state *st, const struct noa__gotmpl_cmd *c,
                    const struct noa__gotmpl_val *dot, const struct noa__gotmpl_val *final,
                    struct noa__gotmpl_val *out);

static int eval_arg(struct state *st, const struct noa__gotmpl_arg *a,
                    const struct noa__gotmpl_val *dot, struct noa__gotmpl_val *v)
{
    int rc = 0;
    switch (a->kind) {
    case NOA_GOTMPL_A_DOT:
        *v = *dot;
        break;
    case NOA_GOTMPL_A_FIELD:
        *v = *dot;
        break;
    case NOA_GOTMPL_A_VAR:
        for (int i = st->nvars - 1; i >= 0; i--)
            if (noa_str_eq(st->vars[i].name, a->name)) {
                *v = st->vars[i].v;
                break;
            }
        break;
    case NOA_GOTMPL_A_LIT:
        *v = a->lit;
        break;
    case NOA_GOTMPL_A_PIPE:
        rc = eval_pipe(st, a->pipe, dot, v);
        break;
    case NOA_GOTMPL_A_FUNC: {
        /* A function name as an operand is a call without arguments. */
        struct noa__gotmpl_cmd c = {
            .args = (struct noa__gotmpl_arg **)&a, .nargs = 1, .pos = a->pos, .text = a->text};
        rc = eval_cmd(st, &c, dot, NULL, v);
        break;
    }
    }
    if (rc)
        return rc;
    return field_chain(st, a, v);
}

/* Calls c->args[0] (a function) with the rest of the operands and final. */
static int call(struct state *st, const struct noa__gotmpl_cmd *c,
                const struct noa__gotmpl_val *dot, const struct noa__gotmpl_val *final,
                struct noa__gotmpl_val *out)
{
    const struct noa__gotmpl_arg *f = c->args[0];
    const struct noa__gotmpl_func *fn = f->fn;
    char m[300];
    int n = c->nargs - 1 + (final != NULL);
    if (n < fn->min_args || (fn->max_args >= 0 && n > fn->max_args)) {
        if (fn->max_args < 0)
            snprintf(m, sizeof(m), "wrong number of args for %s: want at least %d got %d", fn->name,
                     fn->min_args, n);
        else
            snprintf(m, sizeof(m), "wrong number of args for %s: want %d got %d", fn->name,
                     fn->min_args, n);
        return xerr(st, NOA_EINVAL, c->pos, c->text, m);
    }
    int is_and = strcmp(fn->name, "and") == 0, is_or = strcmp(fn->name, "or") == 0;
    struct noa__gotmpl_val args[NOA_GOTMPL_MAX_ARGS + 1];
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

static int eval_cmd(struct state *st, const struct noa__gotmpl_cmd *c,
                    const struct noa__gotmpl_val *dot, const struct noa__gotmpl_val *final,
                    struct noa__gotmpl_val *out)
{
    const struct noa__gotmpl_arg *first = c->args[0];
    char m[200];
    if (first->kind == NOA_GOTMPL_A_FUNC)
        return call(st, c, dot, final, out);
    if (c->nargs > 1 || final) {
        if (first->nfields > 0) {
            struct noa_str f = first->fields[first->nfields - 1];
            snprintf(m, sizeof(m), "%.*s is not a method but has arguments", (int)f.len, f.p);
        } else {
            snprintf(m, sizeof(m), "can't give argument to non-function %.*s", (int)first->text.len,
                     first->text.p);
        }
        return xerr(st, NOA_EINVAL, first->pos, first->text, m);
    }
    if (first->kind == NOA_GOTMPL_A_LIT && first->lit.kind == NOA_GOTMPL_NIL)
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

static int eval_pipe(struct state *st, const struct noa__gotmpl_pipe *pp,
                     const struct noa__gotmpl_val *dot, struct noa__gotmpl_val *out)
{
    struct noa__gotmpl_val v = {.kind = NOA_GOTMPL_NIL};
    int have = 0;
    for (const struct noa__gotmpl_cmd *c = pp->cmds; c; c = c->next) {
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

static int check_out(struct state *st, const struct noa__gotmpl_node *n)
{
    if (st->out->len - st->out_start > st->max_out)
        return xerr(st, NOA_ETOOBIG, n->pos, NOA_STR("output"), "output over the size limit");
    return 0;
}

static int exec_list(struct state *st, const struct noa__gotmpl_node *n,
                     const struct noa__gotmpl_val *dot);

/* One iteration of a range body with its variables bound. Returns 1 to
 * stop (break), 0 to go on, or an error. */
static int range_body(struct state *st, const struct noa__gotmpl_node *n,
                      const struct noa__gotmpl_val *key, const struct noa__gotmpl_val *elem)
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

static int exec_range(struct state *st, const struct noa__gotmpl_node *n,
                      const struct noa__gotmpl_val *dot)
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

static int exec_node(struct state *st, const struct noa__gotmpl_node *n,
                     const struct noa__gotmpl_val *dot)
{
    struct noa__gotmpl_val v;
    int rc = step(st, n->pos, NOA_STR("node"));
    if (rc)
        return rc;
    switch (n->kind) {
    case NOA_GOTMPL_N_TEXT:
        noa_buf_append_str(st->out, n->text);
        return check_out(st, n);
    case NOA_GOTMPL_N_ACTION:
        rc = eval_pipe(st, n->pipe, dot, &v);
        if (rc || n->pipe->ndecl)
            return rc;
        noa__gotmpl_print(&st->x, &v, st->out);
        return check_out(st, n);
    case NOA_GOTMPL_N_IF:
    case NOA_GOTMPL_N_WITH: {
        int mark = st->nvars;
        rc = eval_pipe(st, n->pipe, dot, &v);
        if (rc == 0) {
            if (noa__gotmpl_truth(&v))
                rc = exec_list(st, n->list, n->kind == NOA_GOTMPL_N_WITH ? &v : dot);
            else
                rc = exec_list(st, n->elist, dot);
        }
        st->nvars = mark;
        return rc;
    }
    case NOA_GOTMPL_N_RANGE: {
        int mark = st->nvars;
        rc = exec_range(st, n, dot);
        st->nvars = mark;
        return rc;
    }
    case NOA_GOTMPL_N_BREAK:
        st->brk = 1;
        return 0;
    case NOA_GOTMPL_N_CONTINUE:
        st->brk = 2;
        return 0;
    }
    return 0;
}

static int exec_list(struct state *st, const struct noa__gotmpl_node *n,
                     const struct noa__gotmpl_val *dot)
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

struct noa_buf noa__gotmpl_buf_take(struct noa__gotmpl_exec *x)
{
    for (int i = 0; i < NOA_GOTMPL_NBUFS; i++)
        if (x->spare[i].cap) {
            struct noa_buf b = x->spare[i];
            x->spare[i] = (struct noa_buf){0};
            b.len = 0;
            return b;
        }
    return (struct noa_buf){0};
}

void noa__gotmpl_buf_give(struct noa__gotmpl_exec *x, struct noa_buf *b)
{
    for (int i = 0; i < NOA_GOTMPL_NBUFS; i++)
        if (!x->spare[i].cap) {
            x->spare[i] = *b;
            *b = (struct noa_buf){0};
            return;
        }
    noa_buf_fini(b);
}

void noa_gotmpl_scratch_fini(struct noa_gotmpl_scratch *s)
{
    for (int i = 0; i < NOA_GOTMPL_NBUFS; i++)
        noa_buf_fini(&s->bufs[i]);
    struct noa_gotmpl_block *b = s->blocks;
    while (b) {
        struct noa_gotmpl_block *next = b->next;
        noa_free(b);
        b = next;
    }
    s->blocks = NULL;
}

/* The default scratch: one per thread, reused for the thread's life (as
 * the regex adapter keeps its match data), so callers that bring none
 * still allocate nothing per line once warm. */
static _Thread_local struct noa_gotmpl_scratch tl_scratch;

int noa_gotmpl_exec(const struct noa_gotmpl *t, const struct noa_gotmpl_data *data,
                    struct noa_buf *out, struct noa_error *err)
{
    struct state st = {
        .x = {.data = data, .work = data->work ? data->work : &tl_scratch},
        .t = t,
        .out = out,
        .out_start = out->len,
        .max_out = data->max_output ? data->max_output : NOA_GOTMPL_MAX_OUTPUT,
        .max_steps = data->max_steps > 0 ? data->max_steps : NOA_GOTMPL_MAX_STEPS,
        .err = err,
    };
    scratch_reset(st.x.work);
    st.x.spare = st.x.work->bufs;
    st.x.max_str = st.max_out;
    st.cap = t->nvars + 1;
    st.vars = noa__gotmpl_alloc(&st.x, sizeof(struct var) * (size_t)st.cap);
    st.vars[st.nvars++] = (struct var){NOA_STR("$"), *dot_map()};
    int rc = exec_list(&st, t->root, dot_map());
    if (rc)
        out->len = st.out_start;
    return rc;
}
