/*
 * OTLP logs into a push request (format and mapping in otlp.h). Both wire
 * forms are first decoded into a small model of the request (resources,
 * scopes, records, AnyValue trees) held in the request's arena; one
 * converter then maps the model onto streams and entries as Loki does, so
 * the two encodings cannot drift apart. The protobuf decoder counts each
 * repeated field before filling it (arrays are allocated once, after the
 * memory limit is checked); the JSON decoder is the one place that reads
 * OTLP JSON through jansson. Pure functions; any thread.
 */
#include "common/otlp.h"
#include "common/labels.h"
#include "common/mem.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned char uchar; /* local shorthand, as in ingester/validate.c */

const char *const noa_otlp_default_index_labels[] = {
    "service.name",
    "service.namespace",
    "service.instance.id",
    "deployment.environment",
    "deployment.environment.name",
    "cloud.region",
    "cloud.availability_zone",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
    "container.name",
    "k8s.replicaset.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.cronjob.name",
    "k8s.job.name",
    NULL,
};

/* ---- the model ---------------------------------------------------------- */

enum vkind { V_EMPTY = 0, V_STR, V_BOOL, V_INT, V_DOUBLE, V_BYTES, V_ARRAY, V_KVLIST };

struct okv;
struct oval {
    enum vkind kind;
    struct noa_str s; /* V_STR, V_BYTES */
    int64_t i;        /* V_INT, V_BOOL */
    double d;         /* V_DOUBLE */
    struct oval *arr; /* V_ARRAY */
    struct okv *kvs;  /* V_KVLIST */
    uint32_t n;       /* elements of arr / kvs */
};

struct okv {
    struct noa_str key;
    struct oval val;
};

struct orec {
    uint64_t time_ns, observed_ns;
    int32_t severity;
    struct noa_str severity_text;
    struct oval body;
    struct okv *attrs;
    uint32_t n_attrs;
    uint32_t dropped;
    uint32_t flags;
    uchar trace[16], span[8];
    int has_trace, has_span; /* non-zero ids */
};

struct oscope {
    struct noa_str name, version;
    struct okv *attrs;
    uint32_t n_attrs;
    uint32_t dropped;
    struct orec *recs;
    uint32_t n_recs;
};

struct ores {
    struct okv *attrs;
    uint32_t n_attrs;
    struct oscope *scopes;
    uint32_t n_scopes;
};

struct oreq {
    struct ores *res;
    uint32_t n_res;
};

struct ctx {
    struct noa_arena *arena; /* the request's: what the output refers to */
    struct noa_arena model;  /* the decoded model's structs, freed after conversion */
    size_t max_mem;
    uint32_t max_depth;
    struct noa_error *err;
    const uchar *base; /* proto: offsets count from here */
};

/* Bytes held in both arenas. */
static size_t used(const struct ctx *c)
{
    return c->arena->total + c->model.total;
}

/* Zeroed room for count items in arena a, within max_mem. */
static void *alloc_in(struct ctx *c, struct noa_arena *a, size_t count, size_t size)
{
    if (count == 0)
        return NULL;
    if (count > SIZE_MAX / size ||
        (c->max_mem && (count * size > c->max_mem || used(c) > c->max_mem - count * size))) {
        noa_error_set(c->err, NOA_ETOOBIG, "otlp: request needs more than %zu bytes of memory",
                      c->max_mem);
        return NULL;
    }
    void *p = noa_arena_alloc(a, count * size);
    memset(p, 0, count * size);
    return p;
}

/* Model structs (freed after conversion). */
static void *cx_alloc(struct ctx *c, size_t count, size_t size)
{
    return alloc_in(c, &c->model, count, size);
}

/* Output arrays (live as long as the request). */
static void *out_alloc(struct ctx *c, size_t count, size_t size)
{
    return alloc_in(c, c->arena, count, size);
}

/* ---- protobuf ------------------------------------------------------------ */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

struct pbf {
    uint32_t no;
    int wt;
    uint64_t v;       /* varint / fixed value */
    struct noa_str b; /* WT_LEN payload */
    const uchar *at;  /* where the tag starts */
};

struct pbr {
    const uchar *p, *end;
};

static size_t off(const struct ctx *c, const uchar *p)
{
    return (size_t)(p - c->base);
}

static int pb_varint(struct ctx *c, struct pbr *r, uint64_t *v)
{
    size_t k = noa_get_uvarint(r->p, (size_t)(r->end - r->p), v);
    if (!k)
        return noa_error_set(c->err, NOA_EINVAL, "proto: bad or truncated varint at offset %zu",
                             off(c, r->p));
    r->p += k;
    return 0;
}

static int pb_tag(struct ctx *c, struct pbr *r, uint32_t *no, int *wt)
{
    const uchar *at = r->p;
    uint64_t t;
    int rc = pb_varint(c, r, &t);
    if (rc)
        return rc;
    *wt = (int)(t & 7);
    if ((t >> 3) == 0 || (t >> 3) > 536870911u)
        return noa_error_set(c->err, NOA_EINVAL, "proto: illegal tag %" PRIu64 " at offset %zu",
                             t >> 3, off(c, at));
    *no = (uint32_t)(t >> 3);
    return 0;
}

static int pb_skip_group(struct ctx *c, struct pbr *r, uint32_t no);

/* Reads one field; returns 1, 0 at the end, or a negative code. */
static int pb_next(struct ctx *c, struct pbr *r, struct pbf *f)
{
    if (r->p >= r->end)
        return 0;
    f->at = r->p;
    int rc = pb_tag(c, r, &f->no, &f->wt);
    if (rc)
        return rc;
    switch (f->wt) {
    case WT_VARINT:
        return pb_varint(c, r, &f->v) ? -1 : 1;
    case WT_I64:
    case WT_I32: {
        size_t w = f->wt == WT_I64 ? 8 : 4;
        if ((size_t)(r->end - r->p) < w)
            return noa_error_set(c->err, NOA_EINVAL,
                                 "proto: unexpected EOF in field %u at offset %zu", f->no,
                                 off(c, f->at));
        f->v = 0;
        for (size_t i = 0; i < w; i++)
            f->v |= (uint64_t)r->p[i] << (8 * i);
        r->p += w;
        return 1;
    }
    case WT_LEN: {
        uint64_t len;
        if (pb_varint(c, r, &len))
            return -1;
        if (len > (uint64_t)(r->end - r->p))
            return noa_error_set(c->err, NOA_EINVAL,
                                 "proto: length %" PRIu64 " of field %u at offset %zu runs past "
                                 "its message",
                                 len, f->no, off(c, f->at));
        f->b = (struct noa_str){(const char *)r->p, (size_t)len};
        r->p += len;
        return 1;
    }
    case WT_SGROUP:
        return pb_skip_group(c, r, f->no) ? -1 : 1;
    default:
        return noa_error_set(c->err, NOA_EINVAL,
                             "proto: illegal wireType %d for field %u at offset %zu", f->wt, f->no,
                             off(c, f->at));
    }
}

/* Skips a group's contents up to its end-group tag (groups nest). */
static int pb_skip_group(struct ctx *c, struct pbr *r, uint32_t no)
{
    uint32_t depth = 1;
    while (depth) {
        if (r->p >= r->end)
            return noa_error_set(c->err, NOA_EINVAL, "proto: unexpected EOF in group %u", no);
        uint32_t fno;
        int wt;
        if (pb_tag(c, r, &fno, &wt))
            return -1;
        uint64_t v;
        switch (wt) {
        case WT_VARINT:
            if (pb_varint(c, r, &v))
                return -1;
            break;
        case WT_I64:
        case WT_I32:
            if ((size_t)(r->end - r->p) < (wt == WT_I64 ? 8u : 4u))
                return noa_error_set(c->err, NOA_EINVAL, "proto: unexpected EOF in group %u", no);
            r->p += wt == WT_I64 ? 8 : 4;
            break;
        case WT_LEN:
            if (pb_varint(c, r, &v))
                return -1;
            if (v > (uint64_t)(r->end - r->p))
                return noa_error_set(c->err, NOA_EINVAL, "proto: unexpected EOF in group %u", no);
            r->p += v;
            break;
        case WT_SGROUP:
            if (++depth > 100)
                return noa_error_set(c->err, NOA_EINVAL, "proto: groups nested too deep");
            break;
        case WT_EGROUP:
            depth--;
            break;
        default:
            return noa_error_set(c->err, NOA_EINVAL, "proto: illegal wireType %d in group", wt);
        }
    }
    return 0;
}

static int pb_want(struct ctx *c, const struct pbf *f, int wt, const char *msg)
{
    if (f->wt == wt)
        return 0;
    return noa_error_set(c->err, NOA_EINVAL,
                         "proto: wrong wireType = %d for field %u of %s at offset %zu", f->wt,
                         f->no, msg, off(c, f->at));
}

static struct pbr pb_in(struct noa_str b)
{
    return (struct pbr){(const uchar *)b.p, (const uchar *)b.p + b.len};
}

/* Counts occurrences of field `no` in a message. A stray end-group is an
 * error in any pass. */
static int pb_count(struct ctx *c, struct noa_str msg, uint32_t no, uint32_t *count)
{
    struct pbr r = pb_in(msg);
    struct pbf f;
    int rc;
    *count = 0;
    while ((rc = pb_next(c, &r, &f)) == 1)
        if (f.no == no)
            (*count)++;
    return rc < 0 ? -1 : 0;
}

static int pb_value(struct ctx *c, struct noa_str msg, uint32_t depth, struct oval *out);

/* Decodes the repeated KeyValue field `no` of every message in msgs[0..n). */
static int pb_kvs_of(struct ctx *c, const struct noa_str *msgs, uint32_t n, uint32_t no,
                     uint32_t depth, struct okv **out, uint32_t *n_out);

static int pb_kv(struct ctx *c, struct noa_str msg, uint32_t depth, struct okv *kv)
{
    struct pbr r = pb_in(msg);
    struct pbf f;
    int rc;
    while ((rc = pb_next(c, &r, &f)) == 1) {
        if (f.no == 1 || f.no == 2) {
            if (pb_want(c, &f, WT_LEN, "KeyValue"))
                return -1;
            if (f.no == 1)
                kv->key = f.b;
            else if (pb_value(c, f.b, depth, &kv->val))
                return -1;
        }
    }
    return rc < 0 ? -1 : 0;
}

static int pb_kvs_of(struct ctx *c, const struct noa_str *msgs, uint32_t n, uint32_t no,
                     uint32_t depth, struct okv **out, uint32_t *n_out)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k;
        if (pb_count(c, msgs[i], no, &k))
            return -1;
        total += k;
    }
    if (total > UINT32_MAX)
        return noa_error_set(c->err, NOA_ETOOBIG, "otlp: too many attributes");
    *n_out = 0;
    *out = NULL;
    if (!total)
        return 0;
    struct okv *kvs = cx_alloc(c, total, sizeof(*kvs));
    if (!kvs)
        return -1;
    uint32_t j = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct pbr r = pb_in(msgs[i]);
        struct pbf f;
        int rc;
        while ((rc = pb_next(c, &r, &f)) == 1) {
            if (f.no != no)
                continue;
            if (pb_want(c, &f, WT_LEN, "attributes") || pb_kv(c, f.b, depth, &kvs[j++]))
                return -1;
        }
        if (rc < 0)
            return -1;
    }
    *out = kvs;
    *n_out = j;
    return 0;
}

static int pb_array(struct ctx *c, struct noa_str msg, uint32_t depth, struct oval *out)
{
    uint32_t k;
    if (pb_count(c, msg, 1, &k))
        return -1;
    out->arr = k ? cx_alloc(c, k, sizeof(*out->arr)) : NULL;
    if (k && !out->arr)
        return -1;
    struct pbr r = pb_in(msg);
    struct pbf f;
    int rc;
    uint32_t j = 0;
    while ((rc = pb_next(c, &r, &f)) == 1) {
        if (f.no != 1)
            continue;
        if (pb_want(c, &f, WT_LEN, "ArrayValue") || pb_value(c, f.b, depth, &out->arr[j++]))
            return -1;
    }
    out->n = j;
    return rc < 0 ? -1 : 0;
}

static int pb_value(struct ctx *c, struct noa_str msg, uint32_t depth, struct oval *out)
{
    if (depth >= c->max_depth)
        return noa_error_set(c->err, NOA_EINVAL, "otlp: AnyValue nested deeper than %u",
                             c->max_depth);
    struct pbr r = pb_in(msg);
    struct pbf f;
    int rc;
    while ((rc = pb_next(c, &r, &f)) == 1) {
        static const int want[] = {0, WT_LEN, WT_VARINT, WT_VARINT, WT_I64, WT_LEN, WT_LEN, WT_LEN};
        if (f.no < 1 || f.no > 7)
            continue;
        if (pb_want(c, &f, want[f.no], "AnyValue"))
            return -1;
        /* A oneof: the last member present wins, as in Go. */
        *out = (struct oval){0};
        switch (f.no) {
        case 1:
            out->kind = V_STR;
            out->s = f.b;
            break;
        case 2:
            out->kind = V_BOOL;
            out->i = f.v != 0;
            break;
        case 3:
            out->kind = V_INT;
            out->i = (int64_t)f.v;
            break;
        case 4:
            out->kind = V_DOUBLE;
            memcpy(&out->d, &f.v, sizeof(out->d));
            break;
        case 5:
            out->kind = V_ARRAY;
            if (pb_array(c, f.b, depth + 1, out))
                return -1;
            break;
        case 6:
            out->kind = V_KVLIST;
            if (pb_kvs_of(c, &f.b, 1, 1, depth + 1, &out->kvs, &out->n))
                return -1;
            break;
        case 7:
            out->kind = V_BYTES;
            out->s = f.b;
            break;
        }
    }
    return rc < 0 ? -1 : 0;
}

static int pb_id(struct ctx *c, const struct pbf *f, uchar *id, size_t want, int *has)
{
    if (pb_want(c, f, WT_LEN, "LogRecord"))
        return -1;
    if (f->b.len == 0) {
        memset(id, 0, want);
        *has = 0;
        return 0;
    }
    if (f->b.len != want)
        return noa_error_set(c->err, NOA_EINVAL, "proto: invalid length %zu for %s at offset %zu",
                             f->b.len, want == 16 ? "TraceID" : "SpanID", off(c, f->at));
    memcpy(id, f->b.p, want);
    *has = 0;
    for (size_t i = 0; i < want; i++)
        *has |= id[i] != 0;
    return 0;
}

static int pb_record(struct ctx *c, struct noa_str msg, struct orec *o)
{
    struct pbr r = pb_in(msg);
    struct pbf f;
    int rc;
    while ((rc = pb_next(c, &r, &f)) == 1) {
        switch (f.no) {
        case 1:
        case 11:
            if (pb_want(c, &f, WT_I64, "LogRecord"))
                return -1;
            *(f.no == 1 ? &o->time_ns : &o->observed_ns) = f.v;
            break;
        case 2:
        case 7:
            if (pb_want(c, &f, WT_VARINT, "LogRecord"))
                return -1;
            if (f.no == 2)
                o->severity = (int32_t)(uint32_t)f.v;
            else
                o->dropped = (uint32_t)f.v;
            break;
        case 3:
        case 12:
            if (pb_want(c, &f, WT_LEN, "LogRecord"))
                return -1;
            if (f.no == 3)
                o->severity_text = f.b;
            break;
        case 5:
            if (pb_want(c, &f, WT_LEN, "LogRecord") || pb_value(c, f.b, 0, &o->body))
                return -1;
            break;
        case 8:
            if (pb_want(c, &f, WT_I32, "LogRecord"))
                return -1;
            o->flags = (uint32_t)f.v;
            break;
        case 9:
            if (pb_id(c, &f, o->trace, 16, &o->has_trace))
                return -1;
            break;
        case 10:
            if (pb_id(c, &f, o->span, 8, &o->has_span))
                return -1;
            break;
        default:
            break;
        }
    }
    if (rc < 0)
        return -1;
    return pb_kvs_of(c, &msg, 1, 6, 0, &o->attrs, &o->n_attrs);
}

/* Collects the payloads of field `no` (a message, possibly repeated to be
 * merged) into a small arena array. */
static int pb_occurrences(struct ctx *c, struct noa_str msg, uint32_t no, const char *what,
                          struct noa_str **out, uint32_t *n)
{
    if (pb_count(c, msg, no, n))
        return -1;
    *out = *n ? cx_alloc(c, *n, sizeof(**out)) : NULL;
    if (*n && !*out)
        return -1;
    struct pbr r = pb_in(msg);
    struct pbf f;
    int rc;
    uint32_t j = 0;
    while ((rc = pb_next(c, &r, &f)) == 1) {
        if (f.no != no)
            continue;
        if (pb_want(c, &f, WT_LEN, what))
            return -1;
        (*out)[j++] = f.b;
    }
    return rc < 0 ? -1 : 0;
}

static int pb_scope_logs(struct ctx *c, struct noa_str msg, struct oscope *o)
{
    struct noa_str *scopes, *recs;
    uint32_t n_scopes, n_recs;
    if (pb_occurrences(c, msg, 1, "ScopeLogs", &scopes, &n_scopes) ||
        pb_occurrences(c, msg, 2, "ScopeLogs", &recs, &n_recs))
        return -1;
    struct pbf f;
    int rc = 0;
    for (uint32_t i = 0; i < n_scopes; i++) {
        struct pbr r = pb_in(scopes[i]);
        while ((rc = pb_next(c, &r, &f)) == 1) {
            if (f.no == 1 || f.no == 2) {
                if (pb_want(c, &f, WT_LEN, "InstrumentationScope"))
                    return -1;
                *(f.no == 1 ? &o->name : &o->version) = f.b;
            } else if (f.no == 4) {
                if (pb_want(c, &f, WT_VARINT, "InstrumentationScope"))
                    return -1;
                o->dropped = (uint32_t)f.v;
            }
        }
        if (rc < 0)
            return -1;
    }
    if (pb_kvs_of(c, scopes, n_scopes, 3, 0, &o->attrs, &o->n_attrs))
        return -1;
    o->recs = n_recs ? cx_alloc(c, n_recs, sizeof(*o->recs)) : NULL;
    if (n_recs && !o->recs)
        return -1;
    for (uint32_t i = 0; i < n_recs; i++)
        if (pb_record(c, recs[i], &o->recs[i]))
            return -1;
    o->n_recs = n_recs;
    /* schema_url (3) must at least have its wire type */
    struct pbr r = pb_in(msg);
    while ((rc = pb_next(c, &r, &f)) == 1)
        if (f.no == 3 && pb_want(c, &f, WT_LEN, "ScopeLogs"))
            return -1;
    return rc < 0 ? -1 : 0;
}

static int pb_resource_logs(struct ctx *c, struct noa_str msg, struct ores *o)
{
    struct noa_str *res, *sls;
    uint32_t n_res, n_sls;
    if (pb_occurrences(c, msg, 1, "ResourceLogs", &res, &n_res) ||
        pb_occurrences(c, msg, 2, "ResourceLogs", &sls, &n_sls))
        return -1;
    struct pbf f;
    int rc;
    for (uint32_t i = 0; i < n_res; i++) {
        struct pbr r = pb_in(res[i]);
        while ((rc = pb_next(c, &r, &f)) == 1)
            if (f.no == 2 && pb_want(c, &f, WT_VARINT, "Resource"))
                return -1;
        if (rc < 0)
            return -1;
    }
    if (pb_kvs_of(c, res, n_res, 1, 0, &o->attrs, &o->n_attrs))
        return -1;
    o->scopes = n_sls ? cx_alloc(c, n_sls, sizeof(*o->scopes)) : NULL;
    if (n_sls && !o->scopes)
        return -1;
    for (uint32_t i = 0; i < n_sls; i++)
        if (pb_scope_logs(c, sls[i], &o->scopes[i]))
            return -1;
    o->n_scopes = n_sls;
    struct pbr r = pb_in(msg);
    while ((rc = pb_next(c, &r, &f)) == 1)
        if (f.no == 3 && pb_want(c, &f, WT_LEN, "ResourceLogs"))
            return -1;
    return rc < 0 ? -1 : 0;
}

static int pb_request(struct ctx *c, struct noa_str msg, struct oreq *o)
{
    struct noa_str *rls;
    if (pb_occurrences(c, msg, 1, "ExportLogsServiceRequest", &rls, &o->n_res))
        return -1;
    o->res = o->n_res ? cx_alloc(c, o->n_res, sizeof(*o->res)) : NULL;
    if (o->n_res && !o->res)
        return -1;
    for (uint32_t i = 0; i < o->n_res; i++)
        if (pb_resource_logs(c, rls[i], &o->res[i]))
            return -1;
    return 0;
}

/* ---- JSON ---------------------------------------------------------------- */

/* The member named `camel` or `snake` (pdata accepts both spellings). */
static json_t *jget(json_t *obj, const char *camel, const char *snake)
{
    json_t *v = json_object_get(obj, camel);
    if (!v && snake)
        v = json_object_get(obj, snake);
    return v && !json_is_null(v) ? v : NULL;
}

static int jfail(struct ctx *c, const char *what, const char *why)
{
    return noa_error_set(c->err, NOA_EINVAL, "otlp json: %s: %s", what, why);
}

static struct noa_str jstr_copy(struct ctx *c, json_t *s)
{
    size_t n = json_string_length(s);
    char *p = noa_arena_alloc(c->arena, n ? n : 1);
    memcpy(p, json_string_value(s), n);
    return (struct noa_str){p, n};
}

static int jstring(struct ctx *c, json_t *obj, const char *camel, const char *snake,
                   struct noa_str *out)
{
    json_t *v = jget(obj, camel, snake);
    if (!v)
        return 0;
    if (!json_is_string(v))
        return jfail(c, camel, "expected a string");
    *out = jstr_copy(c, v);
    return 0;
}

/* An integer field: a JSON integer or a string holding one. */
static int jint(struct ctx *c, json_t *obj, const char *camel, const char *snake, int is_signed,
                uint64_t *out)
{
    json_t *v = jget(obj, camel, snake);
    if (!v)
        return 0;
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (!is_signed && x < 0)
            return jfail(c, camel, "negative value for an unsigned field");
        *out = (uint64_t)x;
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d) || d < (is_signed ? -9.3e18 : 0) || d >= 1.8e19)
            return jfail(c, camel, "not an integer");
        *out = is_signed ? (uint64_t)(int64_t)d : (uint64_t)d;
        return 0;
    }
    if (!json_is_string(v))
        return jfail(c, camel, "expected an integer or a string");
    const char *s = json_string_value(v);
    char *end;
    errno = 0;
    if (is_signed)
        *out = (uint64_t)strtoll(s, &end, 10);
    else
        *out = strtoull(s, &end, 10);
    if (!*s || *end || errno || (!is_signed && s[0] == '-'))
        return jfail(c, camel, "not a valid integer string");
    return 0;
}

static int b64val(uchar ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+' || ch == '-')
        return 62;
    if (ch == '/' || ch == '_')
        return 63;
    return -1;
}

/* Standard or URL-safe base64, padding optional (protojson's bytes). */
static int jbytes(struct ctx *c, json_t *s, struct noa_str *out)
{
    size_t n = json_string_length(s);
    const uchar *p = (const uchar *)json_string_value(s);
    while (n && p[n - 1] == '=')
        n--;
    char *o = noa_arena_alloc(c->arena, n + 1);
    size_t w = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val(p[i]);
        if (v < 0)
            return jfail(c, "bytesValue", "illegal base64 data");
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[w++] = (char)(acc >> bits);
        }
    }
    if (n % 4 == 1)
        return jfail(c, "bytesValue", "illegal base64 data");
    *out = (struct noa_str){o, w};
    return 0;
}

static int jhex_id(struct ctx *c, json_t *obj, const char *camel, const char *snake, uchar *id,
                   size_t want, int *has)
{
    json_t *v = jget(obj, camel, snake);
    *has = 0;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return jfail(c, camel, "expected a hex string");
    size_t n = json_string_length(v);
    const uchar *s = (const uchar *)json_string_value(v);
    if (n == 0)
        return 0;
    if (n != want * 2)
        return jfail(c, camel,
                     want == 16 ? "invalid length for TraceID" : "invalid length for SpanID");
    for (size_t i = 0; i < want; i++) {
        int hi = noa_hexval(s[2 * i]), lo = noa_hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return jfail(c, camel, "invalid hex");
        id[i] = (uchar)(hi << 4 | lo);
        *has |= id[i] != 0;
    }
    return 0;
}

static int j_value(struct ctx *c, json_t *v, uint32_t depth, struct oval *out);

static int j_kvs(struct ctx *c, json_t *arr, const char *what, uint32_t depth, struct okv **out,
                 uint32_t *n)
{
    *out = NULL;
    *n = 0;
    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return jfail(c, what, "expected an array");
    size_t k = json_array_size(arr);
    if (!k)
        return 0;
    struct okv *kvs = cx_alloc(c, k, sizeof(*kvs));
    if (!kvs)
        return -1;
    for (size_t i = 0; i < k; i++) {
        json_t *e = json_array_get(arr, i);
        if (!json_is_object(e))
            return jfail(c, what, "expected an object {key, value}");
        if (jstring(c, e, "key", NULL, &kvs[i].key))
            return -1;
        json_t *val = jget(e, "value", NULL);
        if (val && j_value(c, val, depth, &kvs[i].val))
            return -1;
    }
    *out = kvs;
    *n = (uint32_t)k;
    return 0;
}

static int j_value(struct ctx *c, json_t *v, uint32_t depth, struct oval *out)
{
    if (depth >= c->max_depth)
        return noa_error_set(c->err, NOA_EINVAL, "otlp: AnyValue nested deeper than %u",
                             c->max_depth);
    if (!json_is_object(v))
        return jfail(c, "AnyValue", "expected an object");
    *out = (struct oval){0};
    const char *key;
    json_t *m;
    json_object_foreach(v, key, m)
    {
        if (json_is_null(m))
            continue;
        if (!strcmp(key, "stringValue") || !strcmp(key, "string_value")) {
            if (!json_is_string(m))
                return jfail(c, key, "expected a string");
            *out = (struct oval){.kind = V_STR, .s = jstr_copy(c, m)};
        } else if (!strcmp(key, "boolValue") || !strcmp(key, "bool_value")) {
            if (!json_is_boolean(m))
                return jfail(c, key, "expected a boolean");
            *out = (struct oval){.kind = V_BOOL, .i = json_is_true(m)};
        } else if (!strcmp(key, "intValue") || !strcmp(key, "int_value")) {
            uint64_t x = 0;
            if (jint(c, v, key, NULL, 1, &x))
                return -1;
            *out = (struct oval){.kind = V_INT, .i = (int64_t)x};
        } else if (!strcmp(key, "doubleValue") || !strcmp(key, "double_value")) {
            double d;
            if (json_is_number(m)) {
                d = json_number_value(m);
            } else if (json_is_string(m)) {
                const char *s = json_string_value(m);
                char *end;
                if (!strcmp(s, "NaN"))
                    d = NAN;
                else if (!strcmp(s, "Infinity"))
                    d = INFINITY;
                else if (!strcmp(s, "-Infinity"))
                    d = -INFINITY;
                else {
                    d = strtod(s, &end);
                    if (!*s || *end)
                        return jfail(c, key, "not a number");
                }
            } else {
                return jfail(c, key, "expected a number");
            }
            *out = (struct oval){.kind = V_DOUBLE, .d = d};
        } else if (!strcmp(key, "bytesValue") || !strcmp(key, "bytes_value")) {
            if (!json_is_string(m))
                return jfail(c, key, "expected a base64 string");
            *out = (struct oval){.kind = V_BYTES};
            if (jbytes(c, m, &out->s))
                return -1;
        } else if (!strcmp(key, "arrayValue") || !strcmp(key, "array_value")) {
            if (!json_is_object(m))
                return jfail(c, key, "expected an object");
            json_t *vals = jget(m, "values", NULL);
            *out = (struct oval){.kind = V_ARRAY};
            if (vals && !json_is_array(vals))
                return jfail(c, key, "values: expected an array");
            size_t k = vals ? json_array_size(vals) : 0;
            out->arr = k ? cx_alloc(c, k, sizeof(*out->arr)) : NULL;
            if (k && !out->arr)
                return -1;
            for (size_t i = 0; i < k; i++)
                if (j_value(c, json_array_get(vals, i), depth + 1, &out->arr[i]))
                    return -1;
            out->n = (uint32_t)k;
        } else if (!strcmp(key, "kvlistValue") || !strcmp(key, "kvlist_value")) {
            if (!json_is_object(m))
                return jfail(c, key, "expected an object");
            *out = (struct oval){.kind = V_KVLIST};
            if (j_kvs(c, jget(m, "values", NULL), key, depth + 1, &out->kvs, &out->n))
                return -1;
        }
    }
    return 0;
}

/* severityNumber: an integer, or an enum name such as "SEVERITY_NUMBER_WARN2". */
static int j_severity(struct ctx *c, json_t *rec, int32_t *out)
{
    json_t *v = jget(rec, "severityNumber", "severity_number");
    if (!v)
        return 0;
    if (json_is_string(v)) {
        static const char *const base[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
        const char *s = json_string_value(v);
        if (!strncmp(s, "SEVERITY_NUMBER_", 16)) {
            s += 16;
            if (!strcmp(s, "UNSPECIFIED")) {
                *out = 0;
                return 0;
            }
            for (int i = 0; i < 6; i++) {
                size_t bl = strlen(base[i]);
                if (strncmp(s, base[i], bl))
                    continue;
                if (!s[bl] || (s[bl] >= '2' && s[bl] <= '4' && !s[bl + 1])) {
                    *out = 1 + 4 * i + (s[bl] ? s[bl] - '1' : 0);
                    return 0;
                }
            }
        }
        return jfail(c, "severityNumber", "unknown enum name");
    }
    uint64_t x = 0;
    if (jint(c, rec, "severityNumber", "severity_number", 1, &x))
        return -1;
    *out = (int32_t)x;
    return 0;
}

static int j_record(struct ctx *c, json_t *rec, struct orec *o)
{
    uint64_t u;
    if (!json_is_object(rec))
        return jfail(c, "logRecords", "expected an object");
    if (jint(c, rec, "timeUnixNano", "time_unix_nano", 0, &o->time_ns) ||
        jint(c, rec, "observedTimeUnixNano", "observed_time_unix_nano", 0, &o->observed_ns) ||
        j_severity(c, rec, &o->severity) ||
        jstring(c, rec, "severityText", "severity_text", &o->severity_text))
        return -1;
    u = 0;
    if (jint(c, rec, "droppedAttributesCount", "dropped_attributes_count", 0, &u))
        return -1;
    o->dropped = (uint32_t)u;
    u = 0;
    if (jint(c, rec, "flags", NULL, 0, &u))
        return -1;
    o->flags = (uint32_t)u;
    if (jhex_id(c, rec, "traceId", "trace_id", o->trace, 16, &o->has_trace) ||
        jhex_id(c, rec, "spanId", "span_id", o->span, 8, &o->has_span))
        return -1;
    json_t *body = jget(rec, "body", NULL);
    if (body && j_value(c, body, 0, &o->body))
        return -1;
    return j_kvs(c, jget(rec, "attributes", NULL), "attributes", 0, &o->attrs, &o->n_attrs);
}

static int j_array(struct ctx *c, json_t *obj, const char *camel, const char *snake, size_t size,
                   void **out, uint32_t *n)
{
    json_t *a = jget(obj, camel, snake);
    *out = NULL;
    *n = 0;
    if (!a)
        return 0;
    if (!json_is_array(a))
        return jfail(c, camel, "expected an array");
    size_t k = json_array_size(a);
    if (k > UINT32_MAX)
        return noa_error_set(c->err, NOA_ETOOBIG, "otlp: too many elements");
    *out = k ? cx_alloc(c, k, size) : NULL;
    if (k && !*out)
        return -1;
    *n = (uint32_t)k;
    return 0;
}

static int j_request(struct ctx *c, json_t *root, struct oreq *o)
{
    if (!json_is_object(root))
        return jfail(c, "ExportLogsServiceRequest", "expected an object");
    if (j_array(c, root, "resourceLogs", "resource_logs", sizeof(*o->res), (void **)&o->res,
                &o->n_res))
        return -1;
    json_t *rls = jget(root, "resourceLogs", "resource_logs");
    for (uint32_t i = 0; i < o->n_res; i++) {
        json_t *rl = json_array_get(rls, i);
        struct ores *r = &o->res[i];
        if (!json_is_object(rl))
            return jfail(c, "resourceLogs", "expected an object");
        json_t *res = jget(rl, "resource", NULL);
        if (res && !json_is_object(res))
            return jfail(c, "resource", "expected an object");
        if (res && j_kvs(c, jget(res, "attributes", NULL), "attributes", 0, &r->attrs, &r->n_attrs))
            return -1;
        if (j_array(c, rl, "scopeLogs", "scope_logs", sizeof(*r->scopes), (void **)&r->scopes,
                    &r->n_scopes))
            return -1;
        json_t *sls = jget(rl, "scopeLogs", "scope_logs");
        for (uint32_t j = 0; j < r->n_scopes; j++) {
            json_t *sl = json_array_get(sls, j);
            struct oscope *s = &r->scopes[j];
            if (!json_is_object(sl))
                return jfail(c, "scopeLogs", "expected an object");
            json_t *sc = jget(sl, "scope", NULL);
            if (sc && !json_is_object(sc))
                return jfail(c, "scope", "expected an object");
            if (sc) {
                uint64_t d = 0;
                if (jstring(c, sc, "name", NULL, &s->name) ||
                    jstring(c, sc, "version", NULL, &s->version) ||
                    jint(c, sc, "droppedAttributesCount", "dropped_attributes_count", 0, &d) ||
                    j_kvs(c, jget(sc, "attributes", NULL), "attributes", 0, &s->attrs, &s->n_attrs))
                    return -1;
                s->dropped = (uint32_t)d;
            }
            if (j_array(c, sl, "logRecords", "log_records", sizeof(*s->recs), (void **)&s->recs,
                        &s->n_recs))
                return -1;
            json_t *lrs = jget(sl, "logRecords", "log_records");
            for (uint32_t k = 0; k < s->n_recs; k++)
                if (j_record(c, json_array_get(lrs, k), &s->recs[k]))
                    return -1;
        }
    }
    return 0;
}

/* ---- rendering values as pdata's AsString --------------------------------- */

/* Go's strconv.AppendFloat(f, fmt, -1, 64) for 'f' and 'e' with the
 * ES6-style choice and exponent cleanup of pdata / encoding/json. f finite. */
static void put_go_float(struct noa_buf *b, double f)
{
    if (f == 0) {
        noa_buf_append(b, signbit(f) ? "-0" : "0", signbit(f) ? 2 : 1);
        return;
    }
    char tmp[48];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f)
            break;
    }
    /* tmp is [-]d[.ddd]e[+-]XX: pull out the digits and the exponent. */
    char digits[24];
    int nd = 0, neg = tmp[0] == '-';
    const char *p = tmp + neg;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    int exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    double a = fabs(f);
    if (neg)
        noa_buf_putc(b, '-');
    if (a < 1e-6 || a >= 1e21) {
        noa_buf_putc(b, digits[0]);
        if (nd > 1) {
            noa_buf_putc(b, '.');
            noa_buf_append(b, digits + 1, (size_t)nd - 1);
        }
        /* Go writes at least two exponent digits; pdata then drops the
         * leading zero of a negative one-digit exponent ("e-07" -> "e-7"). */
        int e = exp10 < 0 ? -exp10 : exp10;
        if (exp10 < 0 && e < 10)
            noa_buf_printf(b, "e-%d", e);
        else
            noa_buf_printf(b, "e%c%02d", exp10 < 0 ? '-' : '+', e);
        return;
    }
    if (exp10 < 0) {
        noa_buf_append(b, "0.", 2);
        for (int i = 0; i < -exp10 - 1; i++)
            noa_buf_putc(b, '0');
        noa_buf_append(b, digits, (size_t)nd);
        return;
    }
    for (int i = 0; i <= exp10; i++)
        noa_buf_putc(b, i < nd ? digits[i] : '0');
    if (nd > exp10 + 1) {
        noa_buf_putc(b, '.');
        noa_buf_append(b, digits + exp10 + 1, (size_t)(nd - exp10 - 1));
    }
}

static void put_base64(struct noa_buf *b, struct noa_str s)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const uchar *p = (const uchar *)s.p;
    size_t i = 0;
    for (; i + 3 <= s.len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        char o[4] = {tab[v >> 18], tab[(v >> 12) & 63], tab[(v >> 6) & 63], tab[v & 63]};
        noa_buf_append(b, o, 4);
    }
    if (s.len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        char o[4] = {tab[v >> 18], tab[(v >> 12) & 63], '=', '='};
        noa_buf_append(b, o, 4);
    } else if (s.len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        char o[4] = {tab[v >> 18], tab[(v >> 12) & 63], tab[(v >> 6) & 63], '='};
        noa_buf_append(b, o, 4);
    }
}

/* A string as Go's encoding/json writes it (HTML-safe escaping on). */
static void put_go_json_str(struct noa_buf *b, struct noa_str s)
{
    static const char hex[] = "0123456789abcdef";
    const uchar *p = (const uchar *)s.p;
    noa_buf_putc(b, '"');
    for (size_t i = 0; i < s.len;) {
        uchar ch = p[i];
        if (ch < 0x80) {
            i++;
            if (ch >= 0x20 && ch != '"' && ch != '\\' && ch != '<' && ch != '>' && ch != '&') {
                noa_buf_putc(b, (char)ch);
                continue;
            }
            const char *esc = ch == '"'    ? "\\\""
                              : ch == '\\' ? "\\\\"
                              : ch == '\n' ? "\\n"
                              : ch == '\r' ? "\\r"
                              : ch == '\t' ? "\\t"
                              : ch == '\b' ? "\\b"
                              : ch == '\f' ? "\\f"
                                           : NULL;
            if (esc) {
                noa_buf_append(b, esc, 2);
            } else {
                char u[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
                noa_buf_append(b, u, 6);
            }
            continue;
        }
        uint32_t cp;
        size_t w = noa_utf8_decode(p + i, s.len - i, &cp);
        if (!w) {
            noa_buf_append(b, "\\ufffd", 6);
            i++;
            continue;
        }
        if (cp == 0x2028 || cp == 0x2029)
            noa_buf_append(b, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
        else
            noa_buf_append(b, p + i, w);
        i += w;
    }
    noa_buf_putc(b, '"');
}

static int kv_key_cmp(const void *x, const void *y)
{
    const struct okv *a = *(const struct okv *const *)x, *b = *(const struct okv *const *)y;
    int r = noa_str_cmp(a->key, b->key);
    return r ? r : (a < b ? -1 : a > b); /* stable: later duplicates sort after */
}

/* Go's json.Marshal of Value.AsRaw(); returns -1 on a NaN or an infinity
 * (Marshal fails and AsString yields ""). */
static int put_go_json(struct noa_buf *b, const struct oval *v)
{
    switch (v->kind) {
    case V_EMPTY:
        noa_buf_append(b, "null", 4);
        return 0;
    case V_STR:
        put_go_json_str(b, v->s);
        return 0;
    case V_BOOL:
        noa_buf_append(b, v->i ? "true" : "false", v->i ? 4 : 5);
        return 0;
    case V_INT:
        noa_buf_printf(b, "%" PRId64, v->i);
        return 0;
    case V_DOUBLE:
        if (!isfinite(v->d))
            return -1;
        put_go_float(b, v->d);
        return 0;
    case V_BYTES:
        noa_buf_putc(b, '"');
        put_base64(b, v->s);
        noa_buf_putc(b, '"');
        return 0;
    case V_ARRAY:
        noa_buf_putc(b, '[');
        for (uint32_t i = 0; i < v->n; i++) {
            if (i)
                noa_buf_putc(b, ',');
            if (put_go_json(b, &v->arr[i]))
                return -1;
        }
        noa_buf_putc(b, ']');
        return 0;
    case V_KVLIST: {
        /* A Go map: keys sorted, a repeated key keeps its last value. */
        const struct okv **order = v->n ? noa_xmalloc(v->n * sizeof(*order)) : NULL;
        for (uint32_t i = 0; i < v->n; i++)
            order[i] = &v->kvs[i];
        if (v->n)
            qsort(order, v->n, sizeof(*order), kv_key_cmp);
        int rc = 0, first = 1;
        noa_buf_putc(b, '{');
        for (uint32_t i = 0; i < v->n && !rc; i++) {
            if (i + 1 < v->n && noa_str_eq(order[i]->key, order[i + 1]->key))
                continue;
            if (!first)
                noa_buf_putc(b, ',');
            first = 0;
            put_go_json_str(b, order[i]->key);
            noa_buf_putc(b, ':');
            rc = put_go_json(b, &order[i]->val);
        }
        noa_buf_putc(b, '}');
        noa_free(order);
        return rc;
    }
    }
    return 0;
}

/* ---- the converter ------------------------------------------------------- */

struct tentry {
    uint32_t stream;
    struct noa_push_entry e;
};

struct stream_acc {
    struct noa_str labels;
    uint32_t n_entries;
};

/* A growable vector of name/value pairs on the heap. */
struct lvec {
    struct noa_label *v;
    size_t n, cap;
};

struct conv {
    struct ctx *c;
    const struct noa_otlp_opts *opts;
    struct noa_buf tmp;
    struct lvec lab;   /* a resource's index labels (duplicates until deduplicated) */
    struct lvec rmeta; /* a resource's structured metadata */
    struct lvec tail;  /* resource + scope metadata, appended to every entry of the scope */
    struct lvec meta;  /* one record's metadata */
    struct stream_acc *streams;
    size_t n_streams, cap_streams;
    uint32_t *slots; /* open addressing over streams, by label text */
    size_t cap_slots;
    struct tentry *entries;
    size_t n_entries, cap_entries;
    size_t heap; /* bytes of the arrays above, counted against max_mem */
};

static int grow(struct conv *v, void **arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    size_t max = v->c->max_mem;
    if (ncap > SIZE_MAX / size / 2 || (max && (v->heap + (ncap - *cap) * size > max ||
                                               used(v->c) + v->heap + (ncap - *cap) * size > max)))
        return noa_error_set(v->c->err, NOA_ETOOBIG,
                             "otlp: request needs more than %zu bytes of memory", max);
    void *p = noa_realloc(*arr, ncap * size);
    if (!p)
        return noa_error_set(v->c->err, NOA_ENOMEM, "otlp: out of memory");
    v->heap += (ncap - *cap) * size;
    *arr = p;
    *cap = ncap;
    return 0;
}

static int lpush(struct conv *v, struct lvec *l, struct noa_str name, struct noa_str value)
{
    if (grow(v, (void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v)))
        return -1;
    l->v[l->n++] = (struct noa_label){name, value};
    return 0;
}

static int name_byte_ok(uchar b)
{
    return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '_';
}

/* Prometheus' otlptranslator.NormalizeLabel (into the arena unless the
 * name is already clean and need not be copied): each rune
 * outside [A-Za-z0-9_] becomes '_' (an invalid byte is one rune), then a
 * leading digit gets "key_" and a single leading '_' gets "key". */
static struct noa_str normalize(struct noa_arena *a, const char *s, size_t n, int must_copy)
{
    const uchar *p = (const uchar *)s;
    int clean = !must_copy && n > 0 && !(p[0] >= '0' && p[0] <= '9') &&
                !(p[0] == '_' && (n == 1 || p[1] != '_'));
    for (size_t i = 0; clean && i < n; i++)
        clean = name_byte_ok(p[i]);
    if (clean)
        return (struct noa_str){s, n}; /* already a label name: borrow it */
    char *o = noa_arena_alloc(a, n + 5);
    size_t w = 4;
    for (size_t i = 0; i < n;) {
        if (name_byte_ok(p[i])) {
            o[w++] = (char)p[i++];
            continue;
        }
        uint32_t cp;
        size_t len = noa_utf8_decode(p + i, n - i, &cp);
        o[w++] = '_';
        i += len ? len : 1;
    }
    size_t start = 4;
    if (w > 4 && o[4] >= '0' && o[4] <= '9')
        memcpy(o + (start = 0), "key_", 4);
    else if (w > 4 && o[4] == '_' && (w == 5 || o[5] != '_'))
        memcpy(o + (start = 1), "key", 3);
    return (struct noa_str){o + start, w - start};
}

static struct noa_str arena_buf(struct conv *v)
{
    return noa_arena_str(v->c->arena, (struct noa_str){v->tmp.data, v->tmp.len});
}

/* pdata's Value.AsString. */
static struct noa_str as_string(struct conv *v, const struct oval *x)
{
    noa_buf_reset(&v->tmp);
    switch (x->kind) {
    case V_EMPTY:
        return (struct noa_str){"", 0};
    case V_STR:
        return x->s;
    case V_BOOL:
        return x->i ? NOA_STR("true") : NOA_STR("false");
    case V_INT:
        noa_buf_printf(&v->tmp, "%" PRId64, x->i);
        break;
    case V_DOUBLE:
        if (isnan(x->d))
            return NOA_STR("json: unsupported value: NaN");
        if (isinf(x->d))
            return x->d > 0 ? NOA_STR("json: unsupported value: +Inf")
                            : NOA_STR("json: unsupported value: -Inf");
        put_go_float(&v->tmp, x->d);
        break;
    case V_BYTES:
        put_base64(&v->tmp, x->s);
        break;
    case V_ARRAY:
    case V_KVLIST:
        if (put_go_json(&v->tmp, x))
            return (struct noa_str){"", 0};
        break;
    }
    return arena_buf(v);
}

/* Loki's attributeToLabels: kvlists flatten into prefix_key names. */
static int flatten(struct conv *v, struct noa_str prefix, const struct okv *kv, struct lvec *to)
{
    /* Nested kvlists repeat their prefix in every leaf's name, so a small
     * body can ask for names of quadratic size: bound them by max_mem. */
    size_t max = v->c->max_mem;
    if (max && used(v->c) + prefix.len + kv->key.len + v->heap > max)
        return noa_error_set(v->c->err, NOA_ETOOBIG,
                             "otlp: request needs more than %zu bytes of memory", max);
    struct noa_str name;
    if (prefix.len) {
        noa_buf_reset(&v->tmp);
        noa_buf_append_str(&v->tmp, prefix);
        noa_buf_putc(&v->tmp, '_');
        noa_buf_append_str(&v->tmp, kv->key);
        name = normalize(v->c->arena, v->tmp.data, v->tmp.len, 1);
    } else {
        name = normalize(v->c->arena, kv->key.p, kv->key.len, 0);
    }
    if (kv->val.kind == V_KVLIST) {
        for (uint32_t i = 0; i < kv->val.n; i++)
            if (flatten(v, name, &kv->val.kvs[i], to))
                return -1;
        return 0;
    }
    return lpush(v, to, name, as_string(v, &kv->val));
}

static int is_index_attr(struct noa_str key)
{
    for (const char *const *p = noa_otlp_default_index_labels; *p; p++)
        if (noa_str_eq_c(key, *p))
            return 1;
    return 0;
}

struct ordered_label {
    struct noa_label l;
    size_t pos;
};

static int ordered_cmp(const void *x, const void *y)
{
    const struct ordered_label *a = x, *b = y;
    int r = noa_str_cmp(a->l.name, b->l.name);
    return r ? r : (a->pos < b->pos ? -1 : a->pos > b->pos);
}

/* Sorts v->lab by name and keeps the last value of each name, as the Go map
 * Loki fills would. */
static int lab_dedupe(struct conv *v)
{
    size_t n = v->lab.n;
    if (n < 2)
        return 0;
    struct ordered_label *o = noa_malloc(n * sizeof(*o));
    if (!o)
        return noa_error_set(v->c->err, NOA_ENOMEM, "otlp: out of memory");
    for (size_t i = 0; i < n; i++)
        o[i] = (struct ordered_label){v->lab.v[i], i};
    qsort(o, n, sizeof(*o), ordered_cmp);
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (i + 1 == n || !noa_str_eq(o[i].l.name, o[i + 1].l.name))
            v->lab.v[w++] = o[i].l;
    v->lab.n = w;
    noa_free(o);
    return 0;
}

/* A resource's stream label text (Loki's otlpToLokiPushRequest), leaving
 * its structured metadata in v->rmeta. */
static int resource_labels(struct conv *v, const struct ores *r, struct noa_str *text)
{
    const struct noa_otlp_opts *o = v->opts;
    int discover = o && o->n_discover_service_name > 0;
    int has_svc = 0;
    v->lab.n = v->rmeta.n = 0;
    for (uint32_t i = 0; i < r->n_attrs; i++) {
        if (noa_str_eq_c(r->attrs[i].key, "service.name")) {
            has_svc = as_string(v, &r->attrs[i].val).len > 0;
            break;
        }
    }
    for (uint32_t i = 0; i < r->n_attrs; i++) {
        const struct okv *kv = &r->attrs[i];
        if (!is_index_attr(kv->key)) {
            if (flatten(v, (struct noa_str){0}, kv, &v->rmeta))
                return -1;
            continue;
        }
        size_t before = v->lab.n;
        if (flatten(v, (struct noa_str){0}, kv, &v->lab))
            return -1;
        size_t end = v->lab.n;
        for (size_t k = before; k < end && discover && !has_svc; k++) {
            for (int d = 0; d < o->n_discover_service_name; d++) {
                if (!noa_str_eq_c(v->lab.v[k].name, o->discover_service_name[d]))
                    continue;
                if (lpush(v, &v->lab, NOA_STR("service_name"), v->lab.v[k].value))
                    return -1;
                has_svc = 1;
                break;
            }
        }
    }
    if (discover && !has_svc &&
        lpush(v, &v->lab, NOA_STR("service_name"), NOA_STR("unknown_service")))
        return -1;
    if (lab_dedupe(v))
        return -1;
    if (!v->lab.n) {
        *text = (struct noa_str){"", 0}; /* Loki leaves such a stream's labels empty */
        return 0;
    }
    noa_buf_reset(&v->tmp);
    noa_labels_format(&(struct noa_labels){v->lab.v, (uint32_t)v->lab.n}, &v->tmp);
    *text = arena_buf(v);
    return 0;
}

static uint64_t str_hash(struct noa_str s)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < s.len; i++)
        h = (h ^ (uchar)s.p[i]) * 1099511628211ull;
    return h;
}

/* The index of the stream with this label text, created when new. */
static int stream_for(struct conv *v, struct noa_str labels, uint32_t *out)
{
    if ((v->n_streams + 1) * 2 > v->cap_slots) {
        size_t ncap = v->cap_slots ? v->cap_slots * 2 : 64;
        uint32_t *ns = NULL;
        size_t got = 0;
        if (grow(v, (void **)&ns, &got, ncap, sizeof(*ns)))
            return -1;
        ncap = got;
        for (size_t i = 0; i < ncap; i++)
            ns[i] = UINT32_MAX;
        for (size_t i = 0; i < v->n_streams; i++) {
            size_t h = str_hash(v->streams[i].labels) & (ncap - 1);
            while (ns[h] != UINT32_MAX)
                h = (h + 1) & (ncap - 1);
            ns[h] = (uint32_t)i;
        }
        v->heap -= v->cap_slots * sizeof(*ns);
        noa_free(v->slots);
        v->slots = ns;
        v->cap_slots = ncap;
    }
    size_t h = str_hash(labels) & (v->cap_slots - 1);
    while (v->slots[h] != UINT32_MAX) {
        if (noa_str_eq(v->streams[v->slots[h]].labels, labels)) {
            *out = v->slots[h];
            return 0;
        }
        h = (h + 1) & (v->cap_slots - 1);
    }
    if (grow(v, (void **)&v->streams, &v->cap_streams, v->n_streams + 1, sizeof(*v->streams)))
        return -1;
    v->streams[v->n_streams] = (struct stream_acc){labels, 0};
    v->slots[h] = (uint32_t)v->n_streams;
    *out = (uint32_t)v->n_streams++;
    return 0;
}

static struct noa_str fmt_num(struct conv *v, int is_signed, uint64_t x)
{
    noa_buf_reset(&v->tmp);
    if (is_signed)
        noa_buf_printf(&v->tmp, "%" PRId64, (int64_t)x);
    else
        noa_buf_printf(&v->tmp, "%" PRIu64, x);
    return arena_buf(v);
}

static struct noa_str hex_id(struct conv *v, const uchar *id, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char *o = noa_arena_alloc(v->c->arena, 2 * n);
    for (size_t i = 0; i < n; i++) {
        o[2 * i] = hex[id[i] >> 4];
        o[2 * i + 1] = hex[id[i] & 15];
    }
    return (struct noa_str){o, 2 * n};
}

/* Loki's otlpLogToPushEntry, then the resource and scope metadata. */
static int record_entry(struct conv *v, const struct orec *r, uint32_t stream)
{
    struct lvec *m = &v->meta;
    m->n = 0;
    for (uint32_t i = 0; i < r->n_attrs; i++)
        if (flatten(v, (struct noa_str){0}, &r->attrs[i], m))
            return -1;
    int rc = 0;
    if (r->time_ns && r->observed_ns)
        rc = lpush(v, m, NOA_STR("observed_timestamp"), fmt_num(v, 1, r->observed_ns));
    if (!rc && r->severity)
        rc = lpush(v, m, NOA_STR("severity_number"), fmt_num(v, 1, (uint64_t)(int64_t)r->severity));
    if (!rc && r->severity_text.len)
        rc = lpush(v, m, NOA_STR("severity_text"), r->severity_text);
    if (!rc && r->dropped)
        rc = lpush(v, m, NOA_STR("dropped_attributes_count"), fmt_num(v, 0, r->dropped));
    if (!rc && r->flags)
        rc = lpush(v, m, NOA_STR("flags"), fmt_num(v, 0, r->flags));
    if (!rc && r->has_trace)
        rc = lpush(v, m, NOA_STR("trace_id"), hex_id(v, r->trace, 16));
    if (!rc && r->has_span)
        rc = lpush(v, m, NOA_STR("span_id"), hex_id(v, r->span, 8));
    for (size_t i = 0; i < v->tail.n && !rc; i++)
        rc = lpush(v, m, v->tail.v[i].name, v->tail.v[i].value);
    if (rc || grow(v, (void **)&v->entries, &v->cap_entries, v->n_entries + 1, sizeof(*v->entries)))
        return -1;
    struct tentry *t = &v->entries[v->n_entries];
    t->stream = stream;
    t->e.ts_ns = r->time_ns       ? (int64_t)r->time_ns
                 : r->observed_ns ? (int64_t)r->observed_ns
                                  : (v->opts ? v->opts->now_ns : 0);
    t->e.line = as_string(v, &r->body);
    t->e.n_meta = (uint32_t)m->n;
    t->e.meta = out_alloc(v->c, m->n, sizeof(*t->e.meta));
    if (m->n && !t->e.meta)
        return -1;
    if (m->n)
        memcpy(t->e.meta, m->v, m->n * sizeof(*m->v));
    v->n_entries++;
    v->streams[stream].n_entries++;
    return 0;
}

static int convert_resource(struct conv *v, const struct ores *r)
{
    uint64_t records = 0;
    for (uint32_t j = 0; j < r->n_scopes; j++)
        records += r->scopes[j].n_recs;
    if (!records)
        return 0; /* a resource without records adds no stream (documented gap) */
    struct noa_str text;
    uint32_t stream;
    if (resource_labels(v, r, &text) || stream_for(v, text, &stream))
        return -1;
    for (uint32_t j = 0; j < r->n_scopes; j++) {
        const struct oscope *s = &r->scopes[j];
        struct lvec *t = &v->tail;
        t->n = 0;
        for (size_t k = 0; k < v->rmeta.n; k++)
            if (lpush(v, t, v->rmeta.v[k].name, v->rmeta.v[k].value))
                return -1;
        for (uint32_t k = 0; k < s->n_attrs; k++)
            if (flatten(v, (struct noa_str){0}, &s->attrs[k], t))
                return -1;
        if (s->name.len && lpush(v, t, NOA_STR("scope_name"), s->name))
            return -1;
        if (s->version.len && lpush(v, t, NOA_STR("scope_version"), s->version))
            return -1;
        if (s->dropped &&
            lpush(v, t, NOA_STR("scope_dropped_attributes_count"), fmt_num(v, 0, s->dropped)))
            return -1;
        for (uint32_t k = 0; k < s->n_recs; k++)
            if (record_entry(v, &s->recs[k], stream))
                return -1;
    }
    return 0;
}

static int convert(struct ctx *c, const struct noa_otlp_opts *opts, const struct oreq *q,
                   struct noa_push_request *out)
{
    struct conv v = {.c = c, .opts = opts};
    int rc = 0;
    for (uint32_t i = 0; i < q->n_res && !rc; i++)
        rc = convert_resource(&v, &q->res[i]);
    if (rc)
        goto done;
    out->n_streams = (uint32_t)v.n_streams;
    out->streams = out_alloc(c, v.n_streams, sizeof(*out->streams));
    if (v.n_streams && !out->streams) {
        rc = -1;
        goto done;
    }
    for (size_t i = 0; i < v.n_streams; i++) {
        out->streams[i].labels = v.streams[i].labels;
        out->streams[i].entries =
            out_alloc(c, v.streams[i].n_entries, sizeof(*out->streams[i].entries));
        if (v.streams[i].n_entries && !out->streams[i].entries) {
            rc = -1;
            goto done;
        }
    }
    for (size_t i = 0; i < v.n_entries; i++) {
        struct noa_push_stream *s = &out->streams[v.entries[i].stream];
        s->entries[s->n_entries++] = v.entries[i].e;
    }
done:
    noa_buf_fini(&v.tmp);
    noa_free(v.meta.v);
    noa_free(v.lab.v);
    noa_free(v.rmeta.v);
    noa_free(v.tail.v);
    noa_free(v.streams);
    noa_free(v.slots);
    noa_free(v.entries);
    return rc;
}

/* ---- entry points -------------------------------------------------------- */

static void ctx_init(struct ctx *c, const struct noa_otlp_opts *opts, struct noa_push_request *out,
                     struct noa_error *err)
{
    memset(out, 0, sizeof(*out));
    *c = (struct ctx){.arena = &out->arena, .err = err};
    c->max_mem = opts ? opts->max_mem : 0;
    c->max_depth = opts && opts->max_depth ? opts->max_depth : NOA_OTLP_DEFAULT_MAX_DEPTH;
    if (err)
        memset(err, 0, sizeof(*err));
}

static int finish(struct ctx *c, int rc, struct noa_push_request *out)
{
    noa_arena_fini(&c->model);
    if (rc == 0)
        return 0;
    int code = c->err && c->err->code ? c->err->code : NOA_EINVAL;
    noa_push_request_fini(out);
    memset(out, 0, sizeof(*out));
    return code;
}

int noa_otlp_decode_proto(const void *buf, size_t n, const struct noa_otlp_opts *opts,
                          struct noa_push_request *out, struct noa_error *err)
{
    struct noa_error local;
    struct ctx c;
    ctx_init(&c, opts, out, err ? err : &local);
    c.base = buf;
    struct oreq q = {0};
    int rc = pb_request(&c, (struct noa_str){buf, n}, &q);
    if (!rc)
        rc = convert(&c, opts, &q, out);
    return finish(&c, rc, out);
}

int noa_otlp_decode_json(const void *body, size_t n, const struct noa_otlp_opts *opts,
                         struct noa_push_request *out, struct noa_error *err)
{
    struct noa_error local;
    struct ctx c;
    ctx_init(&c, opts, out, err ? err : &local);
    json_error_t je;
    json_t *root = json_loadb(body, n, JSON_ALLOW_NUL, &je);
    int rc;
    if (!root) {
        rc = noa_error_set_at(c.err, NOA_EINVAL, je.line, je.column,
                              "otlp json: %s (line %d, column %d)", je.text, je.line, je.column);
        return finish(&c, rc, out);
    }
    struct oreq q = {0};
    rc = j_request(&c, root, &q);
    if (!rc)
        rc = convert(&c, opts, &q, out);
    json_decref(root);
    return finish(&c, rc, out);
}

void noa_otlp_encode_status(const char *msg, size_t len, struct noa_buf *out)
{
    if (!len)
        return;              /* every field at its zero value: an empty message */
    noa_buf_putc(out, 0x12); /* field 2 (message), wire type 2 */
    noa_buf_put_uvarint(out, len);
    noa_buf_append(out, msg, len);
}
