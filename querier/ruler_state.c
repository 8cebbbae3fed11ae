/*
 * Alert state files of the ruler: encoding, decoding, atomic save, load.
 * See querier/ruler_state.h for the format. Ruler thread (and tests).
 */
#include "querier/ruler_state.h"

#include "common/mem.h"
#include "querier/ruler_rules.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "NOARST01"
#define HEADER 12

/* ---- encoding ------------------------------------------------------------------ */

static void put_str(struct noa_buf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    noa_buf_put_uvarint(b, n);
    noa_buf_append(b, s, n);
}

static void put_kvs(struct noa_buf *b, const struct noa_ruler_kv *v, unsigned n)
{
    noa_buf_put_uvarint(b, n);
    for (unsigned i = 0; i < n; i++) {
        put_str(b, v[i].name);
        put_str(b, v[i].value);
    }
}

static void put_alert(struct noa_buf *b, const struct noa_ruler_alert *a)
{
    uint64_t bits;
    noa_buf_put_uvarint(b, (uint64_t)a->state);
    noa_buf_put_varint(b, a->active_at_ns);
    noa_buf_put_varint(b, a->fired_at_ns);
    noa_buf_put_varint(b, a->resolved_at_ns);
    noa_buf_put_varint(b, a->last_sent_ns);
    noa_buf_put_varint(b, a->valid_until_ns);
    noa_buf_put_varint(b, a->keep_firing_since_ns);
    memcpy(&bits, &a->value, sizeof(bits));
    noa_buf_put_be64(b, bits);
    put_kvs(b, a->labels, a->n_labels);
    put_kvs(b, a->annotations, a->n_annotations);
}

void noa_ruler_state_encode(const struct noa_ruler_state *s, struct noa_buf *out)
{
    size_t start = out->len;
    noa_buf_append(out, MAGIC, 8);
    noa_buf_put_be32(out, 0); /* the CRC, patched below */
    put_str(out, s->tenant);
    put_str(out, s->ns);
    put_str(out, s->group);
    noa_buf_put_varint(out, s->saved_ns);
    noa_buf_put_uvarint(out, s->n_rules);
    for (unsigned i = 0; i < s->n_rules; i++) {
        const struct noa_ruler_state_rule *r = &s->rules[i];
        noa_buf_put_uvarint(out, r->index);
        put_str(out, r->name);
        noa_buf_put_uvarint(out, r->alerts.n);
        for (unsigned k = 0; k < r->alerts.n; k++)
            put_alert(out, &r->alerts.v[k]);
    }
    uint32_t crc = noa_crc32c(0, out->data + start + HEADER, out->len - start - HEADER);
    unsigned char *c = (unsigned char *)out->data + start + 8;
    c[0] = (unsigned char)(crc >> 24);
    c[1] = (unsigned char)(crc >> 16);
    c[2] = (unsigned char)(crc >> 8);
    c[3] = (unsigned char)crc;
}

/* ---- decoding ------------------------------------------------------------------ */

struct rd {
    const unsigned char *p;
    size_t n, off;
    struct noa_error *err;
};

static int bad(struct rd *r, const char *what)
{
    return noa_error_set(r->err, NOA_ECORRUPT, "alert state: bad %s at offset %zu", what, r->off);
}

static int get_u(struct rd *r, uint64_t *v, const char *what)
{
    size_t k = noa_get_uvarint(r->p + r->off, r->n - r->off, v);
    if (!k)
        return bad(r, what);
    r->off += k;
    return 0;
}

static int get_i(struct rd *r, int64_t *v, const char *what)
{
    size_t k = noa_get_varint(r->p + r->off, r->n - r->off, v);
    if (!k)
        return bad(r, what);
    r->off += k;
    return 0;
}

/* A count of items each at least min_bytes long: checked against what is left. */
static int get_count(struct rd *r, unsigned *out, size_t min_bytes, const char *what)
{
    uint64_t v;
    if (get_u(r, &v, what) != 0)
        return NOA_ECORRUPT;
    if (v > (r->n - r->off) / min_bytes || v > UINT32_MAX / 2)
        return bad(r, what);
    *out = (unsigned)v;
    return 0;
}

static int get_str(struct rd *r, char **out, const char *what)
{
    uint64_t len;
    if (get_u(r, &len, what) != 0)
        return NOA_ECORRUPT;
    if (len > r->n - r->off || memchr(r->p + r->off, 0, (size_t)len))
        return bad(r, what);
    *out = noa_xstrndup((const char *)r->p + r->off, (size_t)len);
    r->off += (size_t)len;
    return 0;
}

static int get_kvs(struct rd *r, struct noa_ruler_kv **out, unsigned *n, const char *what)
{
    unsigned cnt;
    if (get_count(r, &cnt, 2, what) != 0)
        return NOA_ECORRUPT;
    *out = noa_xcalloc(cnt + 1, sizeof(**out));
    *n = 0;
    for (unsigned i = 0; i < cnt; i++) {
        if (get_str(r, &(*out)[i].name, what) != 0)
            return NOA_ECORRUPT;
        (*n)++;
        if (get_str(r, &(*out)[i].value, what) != 0)
            return NOA_ECORRUPT;
    }
    return 0;
}

static int get_alert(struct rd *r, struct noa_ruler_alert *a)
{
    uint64_t st;
    int64_t *times[] = {&a->active_at_ns,  &a->fired_at_ns,    &a->resolved_at_ns,
                        &a->last_sent_ns, &a->valid_until_ns, &a->keep_firing_since_ns};
    if (get_u(r, &st, "alert state") != 0)
        return NOA_ECORRUPT;
    if (st > NOA_RULER_ALERT_FIRING)
        return bad(r, "alert state");
    a->state = (enum noa_ruler_alert_state)st;
    for (unsigned i = 0; i < sizeof(times) / sizeof(times[0]); i++)
        if (get_i(r, times[i], "alert time") != 0)
            return NOA_ECORRUPT;
    if (r->n - r->off < 8)
        return bad(r, "alert value");
    uint64_t bits = noa_get_be64(r->p + r->off);
    memcpy(&a->value, &bits, sizeof(bits));
    r->off += 8;
    if (get_kvs(r, &a->labels, &a->n_labels, "alert labels") != 0)
        return NOA_ECORRUPT;
    return get_kvs(r, &a->annotations, &a->n_annotations, "alert annotations");
}

void noa_ruler_state_fini(struct noa_ruler_state *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < s->n_rules; i++) {
        noa_free(s->rules[i].name);
        noa_ruler_alerts_fini(&s->rules[i].alerts);
    }
    noa_free(s->rules);
    noa_free(s->tenant);
    noa_free(s->ns);
    noa_free(s->group);
    memset(s, 0, sizeof(*s));
}

int noa_ruler_state_decode(const void *p, size_t n, struct noa_ruler_state *s,
                           struct noa_error *err)
{
    struct rd r = {p, n, 0, err};
    int rc = 0;
    memset(s, 0, sizeof(*s));
    if (n < HEADER || memcmp(p, MAGIC, 8) != 0)
        return noa_error_set(err, NOA_ECORRUPT, "alert state: not a state file (bad magic)");
    if (noa_get_be32(r.p + 8) != noa_crc32c(0, r.p + HEADER, n - HEADER))
        return noa_error_set(err, NOA_ECORRUPT, "alert state: checksum mismatch");
    r.off = HEADER;
    if ((rc = get_str(&r, &s->tenant, "tenant")) || (rc = get_str(&r, &s->ns, "namespace")) ||
        (rc = get_str(&r, &s->group, "group")) || (rc = get_i(&r, &s->saved_ns, "saved time")))
        goto fail;
    unsigned nr;
    if ((rc = get_count(&r, &nr, 3, "rule count")) != 0)
        goto fail;
    s->rules = noa_xcalloc(nr + 1, sizeof(*s->rules));
    for (unsigned i = 0; i < nr; i++) {
        struct noa_ruler_state_rule *sr = &s->rules[i];
        uint64_t idx;
        s->n_rules++;
        if ((rc = get_u(&r, &idx, "rule index")) != 0)
            goto fail;
        if (idx > UINT32_MAX) {
            rc = bad(&r, "rule index");
            goto fail;
        }
        sr->index = (unsigned)idx;
        unsigned na;
        /* An alert takes at least 1 + 6 + 8 + 1 + 1 bytes. */
        if ((rc = get_str(&r, &sr->name, "rule name")) ||
            (rc = get_count(&r, &na, 17, "alert count")))
            goto fail;
        sr->alerts.v = noa_xcalloc(na + 1, sizeof(*sr->alerts.v));
        sr->alerts.cap = na + 1;
        for (unsigned k = 0; k < na; k++) {
            sr->alerts.n++;
            if ((rc = get_alert(&r, &sr->alerts.v[k])) != 0)
                goto fail;
        }
    }
    if (r.off != n) {
        rc = bad(&r, "trailing bytes");
        goto fail;
    }
    return 0;
fail:
    noa_ruler_state_fini(s);
    return rc;
}

/* ---- files ---------------------------------------------------------------------- */

void noa_ruler_state_path(const char *dir, const char *tenant, const char *ns, const char *group,
                          struct noa_buf *out)
{
    uint64_t h = 1469598103934665603ULL;
    const char *parts[3] = {tenant, ns, group};
    for (int k = 0; k < 3; k++) {
        for (const char *c = parts[k] ? parts[k] : ""; *c; c++)
            h = (h ^ (unsigned char)*c) * 1099511628211ULL;
        h = (h ^ 0) * 1099511628211ULL; /* the \0 separator */
    }
    noa_buf_printf(out, "%s/%016llx.state", dir, (unsigned long long)h);
    noa_buf_cstr(out);
}

/* mkdir -p. */
static int mkdirs(const char *dir)
{
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(buf))
        return NOA_EINVAL;
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0)
            continue;
        char c = buf[i];
        buf[i] = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -errno;
        buf[i] = c;
    }
    return 0;
}

int noa_ruler_state_save(const char *dir, const struct noa_ruler_state *s, struct noa_error *err)
{
    struct noa_buf path = {0}, img = {0};
    int rc = mkdirs(dir);
    if (rc != 0) {
        noa_error_set(err, rc, "%s: %s", dir, noa_strerror(rc));
        goto fail;
    }
    noa_ruler_state_path(dir, s->tenant, s->ns, s->group, &path);
    noa_ruler_state_encode(s, &img);
    rc = noa_ruler_rules_write_atomic(path.data, &img);
    if (rc != 0)
        noa_error_set(err, rc, "%s: %s", path.data, noa_strerror(rc));
fail:
    noa_buf_fini(&path);
    noa_buf_fini(&img);
    return rc;
}

int noa_ruler_state_load(const char *dir, const char *tenant, const char *ns, const char *group,
                         struct noa_ruler_state *s, struct noa_error *err)
{
    struct noa_buf path = {0}, img = {0};
    int rc = 0, fd = -1;
    memset(s, 0, sizeof(*s));
    noa_ruler_state_path(dir, tenant, ns, group, &path);
    fd = open(path.data, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = errno == ENOENT ? NOA_ENOTFOUND : -errno;
        if (rc != NOA_ENOTFOUND)
            noa_error_set(err, rc, "%s: %s", path.data, noa_strerror(rc));
        goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size > (off_t)NOA_RULER_STATE_MAX_BYTES) {
        rc = noa_error_set(err, NOA_ECORRUPT, "%s: missing or too large", path.data);
        goto fail;
    }
    noa_buf_reserve(&img, (size_t)st.st_size + 1);
    for (;;) {
        ssize_t k = read(fd, img.data + img.len, img.cap - img.len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = -errno;
            noa_error_set(err, rc, "%s: %s", path.data, noa_strerror(rc));
            goto fail;
        }
        if (k == 0)
            break;
        img.len += (size_t)k;
        if (img.len == img.cap) { /* grew since fstat */
            if (img.len >= NOA_RULER_STATE_MAX_BYTES) {
                rc = noa_error_set(err, NOA_ECORRUPT, "%s: too large", path.data);
                goto fail;
            }
            noa_buf_reserve(&img, 4096);
        }
    }
    rc = noa_ruler_state_decode(img.data, img.len, s, err);
    if (rc != 0)
        goto fail;
    if (strcmp(s->tenant, tenant) || strcmp(s->ns, ns) || strcmp(s->group, group)) {
        noa_ruler_state_fini(s);
        rc = NOA_ENOTFOUND;
    }
fail:
    if (fd >= 0)
        close(fd);
    noa_buf_fini(&path);
    noa_buf_fini(&img);
    return rc;
}

int noa_ruler_state_remove(const char *dir, const char *tenant, const char *ns, const char *group)
{
    struct noa_buf path = {0};
    noa_ruler_state_path(dir, tenant, ns, group, &path);
    int rc = unlink(path.data) == 0 || errno == ENOENT ? 0 : -errno;
    noa_buf_fini(&path);
    return rc;
}
