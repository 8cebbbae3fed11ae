/*
 * The protobuf form of OTLP logs (ExportLogsServiceRequest) into the model
 * of otlp_int.h: a strict wire reader (wire types checked against the
 * fields' types, unknown fields and groups skipped), each repeated field
 * counted before its array is allocated once within the memory bound,
 * strings borrowed from the body. Pure functions; any thread.
 */
#include "common/otlp_int.h"
#include "common/mem.h"

#include <inttypes.h>
#include <string.h>

/* ---- protobuf ------------------------------------------------------------ */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

struct pbf {
    uint32_t no;
    int wt;
    uint64_t v;              /* varint / fixed value */
    struct noa_str b;        /* WT_LEN payload */
    const unsigned char *at; /* where the tag starts */
};

struct pbr {
    const unsigned char *p, *end;
};

static size_t off(const struct noa__otlp_ctx *c, const unsigned char *p)
{
    return (size_t)(p - c->base);
}

static int pb_varint(struct noa__otlp_ctx *c, struct pbr *r, uint64_t *v)
{
    size_t k = noa_get_uvarint(r->p, (size_t)(r->end - r->p), v);
    if (!k)
        return noa_error_set(c->err, NOA_EINVAL, "proto: bad or truncated varint at offset %zu",
                             off(c, r->p));
    r->p += k;
    return 0;
}

static int pb_tag(struct noa__otlp_ctx *c, struct pbr *r, uint32_t *no, int *wt)
{
    const unsigned char *at = r->p;
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

static int pb_skip_group(struct noa__otlp_ctx *c, struct pbr *r, uint32_t no);

/* Reads one field; returns 1, 0 at the end, or a negative code. */
static int pb_next(struct noa__otlp_ctx *c, struct pbr *r, struct pbf *f)
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
static int pb_skip_group(struct noa__otlp_ctx *c, struct pbr *r, uint32_t no)
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

static int pb_want(struct noa__otlp_ctx *c, const struct pbf *f, int wt, const char *msg)
{
    if (f->wt == wt)
        return 0;
    return noa_error_set(c->err, NOA_EINVAL,
                         "proto: wrong wireType = %d for field %u of %s at offset %zu", f->wt,
                         f->no, msg, off(c, f->at));
}

static struct pbr pb_in(struct noa_str b)
{
    return (struct pbr){(const unsigned char *)b.p, (const unsigned char *)b.p + b.len};
}

/* Counts occurrences of field `no` in a message. A stray end-group is an
 * error in any pass. */
static int pb_count(struct noa__otlp_ctx *c, struct noa_str msg, uint32_t no, uint32_t *count)
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

static int pb_value(struct noa__otlp_ctx *c, struct noa_str msg, uint32_t depth,
                    struct noa__otlp_val *out);

/* Decodes the repeated KeyValue field `no` of every message in msgs[0..n). */
static int pb_kvs_of(struct noa__otlp_ctx *c, const struct noa_str *msgs, uint32_t n, uint32_t no,
                     uint32_t depth, struct noa__otlp_kv **out, uint32_t *n_out);

static int pb_kv(struct noa__otlp_ctx *c, struct noa_str msg, uint32_t depth,
                 struct noa__otlp_kv *kv)
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

static int pb_kvs_of(struct noa__otlp_ctx *c, const struct noa_str *msgs, uint32_t n, uint32_t no,
                     uint32_t depth, struct noa__otlp_kv **out, uint32_t *n_out)
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
    struct noa__otlp_kv *kvs = noa__otlp_model_alloc(c, total, sizeof(*kvs));
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

static int pb_array(struct noa__otlp_ctx *c, struct noa_str msg, uint32_t depth,
                    struct noa__otlp_val *out)
{
    uint32_t k;
    if (pb_count(c, msg, 1, &k))
        return -1;
    out->arr = k ? noa__otlp_model_alloc(c, k, sizeof(*out->arr)) : NULL;
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

static int pb_value(struct noa__otlp_ctx *c, struct noa_str msg, uint32_t depth,
                    struct noa__otlp_val *out)
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
        *out = (struct noa__otlp_val){0};
        switch (f.no) {
        case 1:
            out->kind = NOA__OTLP_STR;
            out->s = f.b;
            break;
        case 2:
            out->kind = NOA__OTLP_BOOL;
            out->i = f.v != 0;
            break;
        case 3:
            out->kind = NOA__OTLP_INT;
            out->i = (int64_t)f.v;
            break;
        case 4:
            out->kind = NOA__OTLP_DOUBLE;
            memcpy(&out->d, &f.v, sizeof(out->d));
            break;
        case 5:
            out->kind = NOA__OTLP_ARRAY;
            if (pb_array(c, f.b, depth + 1, out))
                return -1;
            break;
        case 6:
            out->kind = NOA__OTLP_KVLIST;
            if (pb_kvs_of(c, &f.b, 1, 1, depth + 1, &out->kvs, &out->n))
                return -1;
            break;
        case 7:
            out->kind = NOA__OTLP_BYTES;
            out->s = f.b;
            break;
        }
    }
    return rc < 0 ? -1 : 0;
}

static int pb_id(struct noa__otlp_ctx *c, const struct pbf *f, unsigned char *id, size_t want,
                 int *has)
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

static int pb_record(struct noa__otlp_ctx *c, struct noa_str msg, struct noa__otlp_rec *o)
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
static int pb_occurrences(struct noa__otlp_ctx *c, struct noa_str msg, uint32_t no,
                          const char *what, struct noa_str **out, uint32_t *n)
{
    if (pb_count(c, msg, no, n))
        return -1;
    *out = *n ? noa__otlp_model_alloc(c, *n, sizeof(**out)) : NULL;
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

static int pb_scope_logs(struct noa__otlp_ctx *c, struct noa_str msg, struct noa__otlp_scope *o)
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
    o->recs = n_recs ? noa__otlp_model_alloc(c, n_recs, sizeof(*o->recs)) : NULL;
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

static int pb_resource_logs(struct noa__otlp_ctx *c, struct noa_str msg, struct noa__otlp_res *o)
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
    o->scopes = n_sls ? noa__otlp_model_alloc(c, n_sls, sizeof(*o->scopes)) : NULL;
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

int noa__otlp_proto_request(struct noa__otlp_ctx *c, struct noa_str msg, struct noa__otlp_req *o)
{
    struct noa_str *rls;
    if (pb_occurrences(c, msg, 1, "ExportLogsServiceRequest", &rls, &o->n_res))
        return -1;
    o->res = o->n_res ? noa__otlp_model_alloc(c, o->n_res, sizeof(*o->res)) : NULL;
    if (o->n_res && !o->res)
        return -1;
    for (uint32_t i = 0; i < o->n_res; i++)
        if (pb_resource_logs(c, rls[i], &o->res[i]))
            return -1;
    return 0;
}
