/*
 * The OTLP JSON form of logs into the model of otlp_int.h, read through
 * jansson: camelCase and snake_case field names, 64-bit integers as
 * strings or numbers, hex trace and span ids, base64 bytes, enums as
 * numbers. Strings are copied into the request's arena. Pure functions;
 * any thread.
 */
#include "common/otlp_int.h"
#include "common/mem.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- JSON ---------------------------------------------------------------- */

/* The member named `camel` or `snake` (pdata accepts both spellings). */
static json_t *jget(json_t *obj, const char *camel, const char *snake)
{
    json_t *v = json_object_get(obj, camel);
    if (!v && snake)
        v = json_object_get(obj, snake);
    return v && !json_is_null(v) ? v : NULL;
}

static int jfail(struct noa__otlp_ctx *c, const char *what, const char *why)
{
    return noa_error_set(c->err, NOA_EINVAL, "otlp json: %s: %s", what, why);
}

static struct noa_str jstr_copy(struct noa__otlp_ctx *c, json_t *s)
{
    size_t n = json_string_length(s);
    char *p = noa_arena_alloc(c->arena, n ? n : 1);
    memcpy(p, json_string_value(s), n);
    return (struct noa_str){p, n};
}

static int jstring(struct noa__otlp_ctx *c, json_t *obj, const char *camel, const char *snake,
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
static int jint(struct noa__otlp_ctx *c, json_t *obj, const char *camel, const char *snake,
                int is_signed, uint64_t *out)
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

static int b64val(unsigned char ch)
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
static int jbytes(struct noa__otlp_ctx *c, json_t *s, struct noa_str *out)
{
    size_t n = json_string_length(s);
    const unsigned char *p = (const unsigned char *)json_string_value(s);
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

static int jhex_id(struct noa__otlp_ctx *c, json_t *obj, const char *camel, const char *snake,
                   unsigned char *id, size_t want, int *has)
{
    json_t *v = jget(obj, camel, snake);
    *has = 0;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return jfail(c, camel, "expected a hex string");
    size_t n = json_string_length(v);
    const unsigned char *s = (const unsigned char *)json_string_value(v);
    if (n == 0)
        return 0;
    if (n != want * 2)
        return jfail(c, camel,
                     want == 16 ? "invalid length for TraceID" : "invalid length for SpanID");
    for (size_t i = 0; i < want; i++) {
        int hi = noa_hexval(s[2 * i]), lo = noa_hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return jfail(c, camel, "invalid hex");
        id[i] = (unsigned char)(hi << 4 | lo);
        *has |= id[i] != 0;
    }
    return 0;
}

static int j_value(struct noa__otlp_ctx *c, json_t *v, uint32_t depth, struct noa__otlp_val *out);

static int j_kvs(struct noa__otlp_ctx *c, json_t *arr, const char *what, uint32_t depth,
                 struct noa__otlp_kv **out, uint32_t *n)
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
    struct noa__otlp_kv *kvs = noa__otlp_model_alloc(c, k, sizeof(*kvs));
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

static int j_value(struct noa__otlp_ctx *c, json_t *v, uint32_t depth, struct noa__otlp_val *out)
{
    if (depth >= c->max_depth)
        return noa_error_set(c->err, NOA_EINVAL, "otlp: AnyValue nested deeper than %u",
                             c->max_depth);
    if (!json_is_object(v))
        return jfail(c, "AnyValue", "expected an object");
    *out = (struct noa__otlp_val){0};
    const char *key;
    json_t *m;
    json_object_foreach(v, key, m)
    {
        if (json_is_null(m))
            continue;
        if (!strcmp(key, "stringValue") || !strcmp(key, "string_value")) {
            if (!json_is_string(m))
                return jfail(c, key, "expected a string");
            *out = (struct noa__otlp_val){.kind = NOA__OTLP_STR, .s = jstr_copy(c, m)};
        } else if (!strcmp(key, "boolValue") || !strcmp(key, "bool_value")) {
            if (!json_is_boolean(m))
                return jfail(c, key, "expected a boolean");
            *out = (struct noa__otlp_val){.kind = NOA__OTLP_BOOL, .i = json_is_true(m)};
        } else if (!strcmp(key, "intValue") || !strcmp(key, "int_value")) {
            uint64_t x = 0;
            if (jint(c, v, key, NULL, 1, &x))
                return -1;
            *out = (struct noa__otlp_val){.kind = NOA__OTLP_INT, .i = (int64_t)x};
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
            *out = (struct noa__otlp_val){.kind = NOA__OTLP_DOUBLE, .d = d};
        } else if (!strcmp(key, "bytesValue") || !strcmp(key, "bytes_value")) {
            if (!json_is_string(m))
                return jfail(c, key, "expected a base64 string");
            *out = (struct noa__otlp_val){.kind = NOA__OTLP_BYTES};
            if (jbytes(c, m, &out->s))
                return -1;
        } else if (!strcmp(key, "arrayValue") || !strcmp(key, "array_value")) {
            if (!json_is_object(m))
                return jfail(c, key, "expected an object");
            json_t *vals = jget(m, "values", NULL);
            *out = (struct noa__otlp_val){.kind = NOA__OTLP_ARRAY};
            if (vals && !json_is_array(vals))
                return jfail(c, key, "values: expected an array");
            size_t k = vals ? json_array_size(vals) : 0;
            out->arr = k ? noa__otlp_model_alloc(c, k, sizeof(*out->arr)) : NULL;
            if (k && !out->arr)
                return -1;
            for (size_t i = 0; i < k; i++)
                if (j_value(c, json_array_get(vals, i), depth + 1, &out->arr[i]))
                    return -1;
            out->n = (uint32_t)k;
        } else if (!strcmp(key, "kvlistValue") || !strcmp(key, "kvlist_value")) {
            if (!json_is_object(m))
                return jfail(c, key, "expected an object");
            *out = (struct noa__otlp_val){.kind = NOA__OTLP_KVLIST};
            if (j_kvs(c, jget(m, "values", NULL), key, depth + 1, &out->kvs, &out->n))
                return -1;
        }
    }
    return 0;
}

/* severityNumber: an integer, or an enum name such as "SEVERITY_NUMBER_WARN2". */
static int j_severity(struct noa__otlp_ctx *c, json_t *rec, int32_t *out)
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

static int j_record(struct noa__otlp_ctx *c, json_t *rec, struct noa__otlp_rec *o)
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

static int j_array(struct noa__otlp_ctx *c, json_t *obj, const char *camel, const char *snake,
                   size_t size, void **out, uint32_t *n)
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
    *out = k ? noa__otlp_model_alloc(c, k, size) : NULL;
    if (k && !*out)
        return -1;
    *n = (uint32_t)k;
    return 0;
}

int noa__otlp_json_request(struct noa__otlp_ctx *c, json_t *root, struct noa__otlp_req *o)
{
    if (!json_is_object(root))
        return jfail(c, "ExportLogsServiceRequest", "expected an object");
    if (j_array(c, root, "resourceLogs", "resource_logs", sizeof(*o->res), (void **)&o->res,
                &o->n_res))
        return -1;
    json_t *rls = jget(root, "resourceLogs", "resource_logs");
    for (uint32_t i = 0; i < o->n_res; i++) {
        json_t *rl = json_array_get(rls, i);
        struct noa__otlp_res *r = &o->res[i];
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
            struct noa__otlp_scope *s = &r->scopes[j];
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
