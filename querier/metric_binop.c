/*
 * Binary operators (querier/metric_binop.h). Vector/vector operations
 * compute each series' matching signature once, then per step index the
 * "one" side by signature and walk the "many" side, exactly in the order
 * and with the errors of Loki's vectorBinop. Owned by one query thread.
 */
#include "querier/metric_binop.h"

#include "common/mem.h"

#include <math.h>
#include <string.h>

static int is_cmp(enum noa_logql_bin_op op)
{
    return op >= NOA_LOGQL_BIN_EQ && op <= NOA_LOGQL_BIN_LTE;
}

static int is_set(enum noa_logql_bin_op op)
{
    return op <= NOA_LOGQL_BIN_UNLESS;
}

/* A sample op scalar: 1 with *out set when the sample stays. The
 * vector's value survives a filtering comparison whichever side it is on. */
static int merge(const struct noa_logql_expr *e, double l, double r, double keep, double *out)
{
    double v = noa_logql_bin_apply(e->bin_op, l, r);
    if (!is_cmp(e->bin_op)) {
        *out = v;
        return 1;
    }
    if (e->return_bool) {
        *out = v;
        return 1;
    }
    *out = keep;
    return v != 0;
}

static int scalar_vector(const struct noa_logql_expr *e, const struct noa_metric_set *lhs,
                         const struct noa_metric_set *rhs, struct noa_metric_set *out,
                         struct noa_error *err)
{
    const struct noa_metric_set *vec = lhs->is_scalar ? rhs : lhs;
    out->sort_dir = vec->sort_dir;
    for (uint32_t i = 0; i < vec->n; i++) {
        const struct noa_metric_series *s = &vec->s[i];
        uint32_t idx = UINT32_MAX;
        for (uint32_t t = 0; t < vec->nsteps; t++) {
            if (!s->has[t])
                continue;
            double l = lhs->is_scalar ? lhs->scalar_v[t] : s->v[t];
            double r = rhs->is_scalar ? rhs->scalar_v[t] : s->v[t];
            double v;
            if (!merge(e, l, r, s->v[t], &v))
                continue;
            if (idx == UINT32_MAX) {
                int rc = noa_metric_set_get(out, &s->labels, s->hash, &idx, err);
                if (rc < 0)
                    return rc;
            }
            out->s[idx].has[t] = 1;
            out->s[idx].v[t] = v;
        }
    }
    return 0;
}

/* ---- vector / vector ----------------------------------------------------- */

/* A small open-addressing table of 64-bit keys to indices, cleared per step. */
struct sigtab {
    uint64_t *key;
    uint32_t *val; /* index + 1; 0 = empty */
    uint32_t cap;  /* a power of two */
};

static void sigtab_init(struct sigtab *t, uint32_t n)
{
    t->cap = 16;
    while (t->cap < n * 2)
        t->cap *= 2;
    t->key = noa_xmalloc(sizeof(uint64_t) * t->cap);
    t->val = noa_xcalloc(t->cap, sizeof(uint32_t));
}

static void sigtab_clear(struct sigtab *t)
{
    memset(t->val, 0, sizeof(uint32_t) * t->cap);
}

static void sigtab_fini(struct sigtab *t)
{
    noa_free(t->key);
    noa_free(t->val);
}

/* The slot of key: its value is 0 when absent. */
static uint32_t *sigtab_slot(struct sigtab *t, uint64_t key)
{
    uint32_t i = (uint32_t)(key ^ (key >> 32)) & (t->cap - 1);
    while (t->val[i] && t->key[i] != key)
        i = (i + 1) & (t->cap - 1);
    t->key[i] = key;
    return &t->val[i];
}

static uint64_t *signatures(const struct noa_logql_expr *e, const struct noa_metric_set *set)
{
    struct noa_logql_grouping g = {.present = e->has_matching, .without = !e->on,
                                   .labels = e->matching};
    uint64_t *sig = noa_xmalloc(sizeof(uint64_t) * (set->n ? set->n : 1));
    struct noa_labels ls = {0};
    uint32_t cap = 0;
    for (uint32_t i = 0; i < set->n; i++) {
        if (set->s[i].labels.n > cap) {
            cap = set->s[i].labels.n;
            ls.v = noa_xrealloc(ls.v, sizeof(*ls.v) * cap);
        }
        noa_metric_group(&set->s[i].labels, &g, NULL, &ls);
        sig[i] = noa_labels_hash(&ls);
    }
    noa_free(ls.v);
    return sig;
}

static int set_op(const struct noa_logql_expr *e, const struct noa_metric_set *lhs,
                  const struct noa_metric_set *rhs, struct noa_metric_set *out,
                  struct noa_error *err)
{
    uint64_t *ls = signatures(e, lhs), *rs = signatures(e, rhs);
    struct sigtab tab;
    sigtab_init(&tab, lhs->n + rhs->n);
    int rc = 0;
    out->sort_dir = lhs->sort_dir;
    for (uint32_t t = 0; rc == 0 && t < lhs->nsteps; t++) {
        sigtab_clear(&tab);
        /* `or` indexes the left side, and/unless the right one. */
        const struct noa_metric_set *ix = e->bin_op == NOA_LOGQL_BIN_OR ? lhs : rhs;
        const uint64_t *ixs = ix == lhs ? ls : rs;
        uint32_t present = 0;
        for (uint32_t i = 0; i < ix->n; i++)
            if (ix->s[i].has[t]) {
                *sigtab_slot(&tab, ixs[i]) = 1;
                present++;
            }
        for (uint32_t side = 0; side < 2 && rc == 0; side++) {
            const struct noa_metric_set *src = side ? rhs : lhs;
            const uint64_t *sig = side ? rs : ls;
            if (side && e->bin_op != NOA_LOGQL_BIN_OR)
                break;
            for (uint32_t i = 0; i < src->n && rc == 0; i++) {
                if (!src->s[i].has[t])
                    continue;
                int in = *sigtab_slot(&tab, sig[i]) != 0;
                int keep = e->bin_op == NOA_LOGQL_BIN_AND      ? present && in
                           : e->bin_op == NOA_LOGQL_BIN_UNLESS ? !in
                                                               : side == 0 || !in;
                if (!keep)
                    continue;
                uint32_t idx;
                rc = noa_metric_set_get(out, &src->s[i].labels, src->s[i].hash, &idx, err);
                if (rc == 0) {
                    out->s[idx].has[t] = 1;
                    out->s[idx].v[t] = src->s[i].v[t];
                }
            }
        }
    }
    sigtab_fini(&tab);
    noa_free(ls);
    noa_free(rs);
    return rc;
}

/* Loki's resultMetric: the many side's labels, reduced by on/ignoring for
 * one-to-one matching, plus the group_x labels taken from the one side
 * (deleted when the one side lacks them). out->v has room for
 * many->n + include labels. */
static void result_labels(const struct noa_logql_expr *e, const struct noa_labels *many,
                          const struct noa_labels *one, struct noa_labels *out)
{
    if (e->card == NOA_LOGQL_CARD_ONE_TO_ONE && e->has_matching) {
        struct noa_logql_grouping g = {.present = 1, .without = !e->on, .labels = e->matching};
        noa_metric_group(many, &g, NULL, out);
    } else {
        memcpy(out->v, many->v, sizeof(*out->v) * many->n);
        out->n = many->n;
    }
    for (unsigned k = 0; k < e->include.n; k++) {
        struct noa_str name = noa_str_c(e->include.v[k]), v = noa_labels_get(one, name);
        uint32_t j = 0;
        while (j < out->n && noa_str_cmp(out->v[j].name, name) < 0)
            j++;
        int found = j < out->n && noa_str_eq(out->v[j].name, name);
        if (v.len == 0) {
            if (found) {
                memmove(&out->v[j], &out->v[j + 1], sizeof(*out->v) * (out->n - j - 1));
                out->n--;
            }
        } else if (found) {
            out->v[j].value = v;
        } else {
            memmove(&out->v[j + 1], &out->v[j], sizeof(*out->v) * (out->n - j));
            out->v[j] = (struct noa_label){name, v};
            out->n++;
        }
    }
}

static uint64_t mix(uint64_t a, uint64_t b)
{
    return a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
}

struct vv {
    const struct noa_logql_expr *e;
    const struct noa_metric_set *many, *one;
    uint64_t *msig, *osig;
    struct sigtab ones, seen;
    struct noa_labels lab;
    struct noa_metric_set *out;
    struct noa_error *err;
};

static int vv_step(struct vv *c, uint32_t t)
{
    const struct noa_logql_expr *e = c->e;
    int swapped = e->card == NOA_LOGQL_CARD_ONE_TO_MANY;
    sigtab_clear(&c->ones);
    sigtab_clear(&c->seen);
    for (uint32_t i = 0; i < c->one->n; i++) {
        if (!c->one->s[i].has[t])
            continue;
        uint32_t *slot = sigtab_slot(&c->ones, c->osig[i]);
        if (*slot)
            return noa_error_set(c->err, NOA_EINVAL,
                                 "found duplicate series on the %s hand-side;many-to-many "
                                 "matching not allowed: matching labels must be unique on one "
                                 "side",
                                 swapped ? "left" : "right");
        *slot = i + 1;
    }
    for (uint32_t i = 0; i < c->many->n; i++) {
        if (!c->many->s[i].has[t])
            continue;
        uint32_t o = *sigtab_slot(&c->ones, c->msig[i]);
        if (!o)
            continue;
        const struct noa_metric_series *ms = &c->many->s[i], *os = &c->one->s[o - 1];
        result_labels(e, &ms->labels, &os->labels, &c->lab);
        uint64_t h = noa_labels_hash(&c->lab);
        if (e->card == NOA_LOGQL_CARD_ONE_TO_ONE) {
            uint32_t *seen = sigtab_slot(&c->seen, c->msig[i]);
            if (*seen)
                return noa_error_set(c->err, NOA_EINVAL,
                                     "multiple matches for labels: many-to-one matching must "
                                     "be explicit (group_left/group_right)");
            *seen = 1;
        } else {
            uint32_t *seen = sigtab_slot(&c->seen, mix(c->msig[i], h));
            if (*seen)
                return noa_error_set(c->err, NOA_EINVAL,
                                     "multiple matches for labels: grouping labels must ensure "
                                     "unique matches");
            *seen = 1;
        }
        double l = swapped ? os->v[t] : ms->v[t], r = swapped ? ms->v[t] : os->v[t], v;
        /* A filtering comparison keeps the left operand's value. */
        if (!merge(e, l, r, l, &v))
            continue;
        uint32_t idx;
        int rc = noa_metric_set_get(c->out, &c->lab, h, &idx, c->err);
        if (rc < 0)
            return rc;
        c->out->s[idx].has[t] = 1;
        c->out->s[idx].v[t] = v;
    }
    return 0;
}

static int vector_vector(const struct noa_logql_expr *e, const struct noa_metric_set *lhs,
                         const struct noa_metric_set *rhs, struct noa_metric_set *out,
                         struct noa_error *err)
{
    int swapped = e->card == NOA_LOGQL_CARD_ONE_TO_MANY;
    struct vv c = {.e = e, .many = swapped ? rhs : lhs, .one = swapped ? lhs : rhs,
                   .out = out, .err = err};
    c.msig = signatures(e, c.many);
    c.osig = signatures(e, c.one);
    sigtab_init(&c.ones, c.one->n);
    sigtab_init(&c.seen, c.many->n);
    uint32_t cap = e->include.n + 1;
    for (uint32_t i = 0; i < c.many->n; i++)
        if (c.many->s[i].labels.n + e->include.n + 1 > cap)
            cap = c.many->s[i].labels.n + e->include.n + 1;
    c.lab.v = noa_xmalloc(sizeof(*c.lab.v) * cap);
    out->sort_dir = lhs->sort_dir;
    int rc = 0;
    for (uint32_t t = 0; rc == 0 && t < lhs->nsteps; t++)
        rc = vv_step(&c, t);
    noa_free(c.lab.v);
    sigtab_fini(&c.seen);
    sigtab_fini(&c.ones);
    noa_free(c.osig);
    noa_free(c.msig);
    return rc;
}

int noa_metric_binop_eval(const struct noa_logql_expr *e, const struct noa_metric_set *lhs,
                          const struct noa_metric_set *rhs, struct noa_arena *arena,
                          uint32_t max_series, struct noa_metric_set *out,
                          struct noa_error *err)
{
    if (lhs->is_scalar && rhs->is_scalar) {
        noa_metric_set_init_scalar(out, arena, lhs->nsteps);
        for (uint32_t t = 0; t < lhs->nsteps; t++)
            out->scalar_v[t] = noa_logql_bin_apply(e->bin_op, lhs->scalar_v[t],
                                                      rhs->scalar_v[t]);
        return 0;
    }
    noa_metric_set_init(out, arena, lhs->nsteps, max_series);
    if (is_set(e->bin_op)) {
        if (lhs->is_scalar || rhs->is_scalar)
            return noa_error_set(err, NOA_EINVAL,
                                 "set operator \"%s\" not allowed in binary scalar expression",
                                 noa_logql_bin_op_name(e->bin_op));
        return set_op(e, lhs, rhs, out, err);
    }
    if (lhs->is_scalar || rhs->is_scalar)
        return scalar_vector(e, lhs, rhs, out, err);
    return vector_vector(e, lhs, rhs, out, err);
}
