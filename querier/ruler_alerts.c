/*
 * Alert states of one alerting rule across evaluations, and the template
 * subset that expands its labels and annotations. See
 * querier/ruler_alerts.h. Runs on the ruler thread.
 */
#include "querier/ruler_alerts.h"

#include "common/mem.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- values printed as Go prints them ----------------------------------------- */

void noa_ruler_alerts_put_float(struct noa_buf *out, double v)
{
    if (isnan(v)) {
        noa_buf_printf(out, "NaN");
        return;
    }
    if (isinf(v)) {
        noa_buf_printf(out, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    /* The shortest digits that read back as v, then Go's %v layout:
     * exponent form when the exponent is < -4 or >= 21. */
    char e[64];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec - 1, v);
        if (strtod(e, NULL) == v)
            break;
    }
    const char *ep = strchr(e, 'e');
    int exp10 = atoi(ep + 1);
    if (exp10 < -4 || exp10 >= 21) {
        /* Go writes at least two exponent digits: 1e+21, 1e-05. */
        noa_buf_append(out, e, (size_t)(ep - e));
        noa_buf_printf(out, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
        return;
    }
    int decimals = prec - 1 - exp10;
    noa_buf_printf(out, "%.*f", decimals > 0 ? decimals : 0, v);
}

/* ---- templates --------------------------------------------------------------- */

struct tval {
    int is_num;
    double num;
    struct noa_str s;
};

struct texp {
    const struct noa_ruler_kv *labels;
    unsigned n_labels;
    double value;
    struct noa_buf tmp[4]; /* results of functions, one per pipeline stage */
    unsigned ntmp;
    struct noa_error *err;
};

static struct noa_str label_value(const struct texp *x, struct noa_str name)
{
    for (unsigned i = 0; i < x->n_labels; i++)
        if (noa_str_eq_c(name, x->labels[i].name))
            return noa_str_c(x->labels[i].value);
    return (struct noa_str){"", 0};
}

static int to_num(const struct tval *v, double *out)
{
    if (v->is_num) {
        *out = v->num;
        return 0;
    }
    char buf[128];
    if (v->s.len == 0 || v->s.len >= sizeof(buf))
        return NOA_EINVAL;
    memcpy(buf, v->s.p, v->s.len);
    buf[v->s.len] = 0;
    char *end;
    *out = strtod(buf, &end);
    return *end ? NOA_EINVAL : 0;
}

static void put_val(struct noa_buf *out, const struct tval *v)
{
    if (v->is_num)
        noa_ruler_alerts_put_float(out, v->num);
    else
        noa_buf_append_str(out, v->s);
}

/* Prometheus's humanize: SI prefixes, 4 significant digits. */
static void humanize(struct noa_buf *out, double v)
{
    static const char *const big[] = {"", "k", "M", "G", "T", "P", "E", "Z", "Y"};
    static const char *const small[] = {"", "m", "u", "n", "p", "f", "a", "z", "y"};
    unsigned i = 0;
    if (v == 0 || isnan(v) || isinf(v)) {
        noa_buf_printf(out, "%.4g", v);
        return;
    }
    if (fabs(v) >= 1) {
        while (fabs(v) >= 1000 && i + 1 < sizeof(big) / sizeof(big[0])) {
            v /= 1000;
            i++;
        }
        noa_buf_printf(out, "%.4g%s", v, big[i]);
        return;
    }
    while (fabs(v) < 1 && i + 1 < sizeof(small) / sizeof(small[0])) {
        v *= 1000;
        i++;
    }
    noa_buf_printf(out, "%.4g%s", v, small[i]);
}

/* The spec was assembled from checked characters only (flags, digits, '.',
 * one verb), so a non-literal format is safe here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void put_spec_str(struct noa_buf *out, const char *spec, const char *s)
{
    noa_buf_printf(out, spec, s);
}
static void put_spec_double(struct noa_buf *out, const char *spec, double d)
{
    noa_buf_printf(out, spec, d);
}
static void put_spec_ll(struct noa_buf *out, const char *spec, long long v)
{
    noa_buf_printf(out, spec, v);
}
#pragma GCC diagnostic pop

/* printf with Go verbs over tval arguments: %s %v %d %f %e %g (with flags,
 * width and precision) and %%. */
static int do_printf(struct texp *x, struct noa_str fmt, const struct tval *args, unsigned nargs,
                     struct noa_buf *out)
{
    unsigned ai = 0;
    for (size_t i = 0; i < fmt.len; i++) {
        char c = fmt.p[i];
        if (c != '%') {
            noa_buf_putc(out, c);
            continue;
        }
        size_t j = i + 1;
        while (j < fmt.len && strchr("+-# 0", fmt.p[j]))
            j++;
        while (j < fmt.len && (isdigit((unsigned char)fmt.p[j]) || fmt.p[j] == '.'))
            j++;
        if (j >= fmt.len || j - i > 20)
            return noa_error_set(x->err, NOA_EINVAL, "template: bad printf format");
        char verb = fmt.p[j], spec[32];
        if (verb == '%') {
            noa_buf_putc(out, '%');
            i = j;
            continue;
        }
        if (ai >= nargs) {
            noa_buf_printf(out, "%%!%c(MISSING)", verb);
            i = j;
            continue;
        }
        const struct tval *a = &args[ai++];
        double d;
        memcpy(spec, fmt.p + i, j - i);
        if (verb == 's' || verb == 'v' || verb == 'q') {
            struct noa_buf tmp = {0};
            put_val(&tmp, a);
            spec[j - i] = 's';
            spec[j - i + 1] = 0;
            put_spec_str(out, verb == 'q' ? "\"%s\"" : spec, noa_buf_cstr(&tmp));
            noa_buf_fini(&tmp);
        } else if (strchr("feEgG", verb) && to_num(a, &d) == 0) {
            spec[j - i] = verb;
            spec[j - i + 1] = 0;
            put_spec_double(out, spec, d);
        } else if (verb == 'd' && to_num(a, &d) == 0) {
            memcpy(spec + (j - i), "lld", 4);
            put_spec_ll(out, spec, (long long)d);
        } else {
            noa_buf_printf(out, "%%!%c(BADTYPE)", verb);
        }
        i = j;
    }
    return 0;
}

/* Splits one command into tokens: words and "quoted" strings. */
static unsigned tokenize(struct noa_str cmd, struct noa_str *tok, unsigned max)
{
    unsigned n = 0;
    size_t i = 0;
    while (i < cmd.len && n < max) {
        while (i < cmd.len && isspace((unsigned char)cmd.p[i]))
            i++;
        if (i >= cmd.len)
            break;
        size_t s = i;
        if (cmd.p[i] == '"' || cmd.p[i] == '`') {
            char q = cmd.p[i++];
            while (i < cmd.len && cmd.p[i] != q)
                i += (cmd.p[i] == '\\' && q == '"') ? 2 : 1;
            i++;
            if (i > cmd.len)
                i = cmd.len;
        } else {
            while (i < cmd.len && !isspace((unsigned char)cmd.p[i]))
                i++;
        }
        tok[n++] = (struct noa_str){cmd.p + s, i - s};
    }
    return n;
}

/* An operand token: $value, $labels.x, "text", 1.5. */
static int operand(struct texp *x, struct noa_str t, struct tval *v)
{
    memset(v, 0, sizeof(*v));
    if (noa_str_eq_c(t, "$value") || noa_str_eq_c(t, ".Value")) {
        v->is_num = 1;
        v->num = x->value;
        return 0;
    }
    static const char *const prefixes[] = {"$labels.", ".Labels.", "$externalLabels.",
                                           ".ExternalLabels."};
    for (int k = 0; k < 4; k++) {
        size_t pl = strlen(prefixes[k]);
        if (t.len > pl && memcmp(t.p, prefixes[k], pl) == 0) {
            v->s = k < 2 ? label_value(x, (struct noa_str){t.p + pl, t.len - pl})
                         : (struct noa_str){"", 0};
            return 0;
        }
    }
    if (t.len >= 2 && (t.p[0] == '"' || t.p[0] == '`') && t.p[t.len - 1] == t.p[0]) {
        struct noa_buf *b = &x->tmp[x->ntmp++ % 4];
        noa_buf_reset(b);
        if (t.p[0] == '`') {
            noa_buf_append(b, t.p + 1, t.len - 2);
        } else {
            size_t pos = 0;
            if (noa_labels_unquote(t.p, t.len, &pos, b) != 0)
                return noa_error_set(x->err, NOA_EINVAL, "template: bad string %.*s", (int)t.len,
                                     t.p);
        }
        v->s = (struct noa_str){b->data ? b->data : "", b->len};
        return 0;
    }
    char buf[64];
    if (t.len && t.len < sizeof(buf) && (isdigit((unsigned char)t.p[0]) || t.p[0] == '-')) {
        memcpy(buf, t.p, t.len);
        buf[t.len] = 0;
        char *end;
        v->num = strtod(buf, &end);
        v->is_num = 1;
        if (!*end)
            return 0;
    }
    return noa_error_set(x->err, NOA_EINVAL, "template: unsupported operand %.*s", (int)t.len, t.p);
}

/* One command of a pipeline; prev (may be NULL) is the piped value. */
static int command(struct texp *x, struct noa_str cmd, const struct tval *prev, struct tval *res)
{
    struct noa_str tok[16];
    struct tval args[17];
    unsigned n = tokenize(cmd, tok, 16);
    if (n == 0)
        return noa_error_set(x->err, NOA_EINVAL, "template: missing value for command");
    int is_func = tok[0].p[0] != '$' && tok[0].p[0] != '.' && tok[0].p[0] != '"' &&
                  tok[0].p[0] != '`' && !isdigit((unsigned char)tok[0].p[0]) && tok[0].p[0] != '-';
    if (!is_func) {
        if (n != 1 || prev)
            return noa_error_set(x->err, NOA_EINVAL, "template: can't give argument to non-function %.*s",
                                 (int)tok[0].len, tok[0].p);
        return operand(x, tok[0], res);
    }
    unsigned na = 0;
    for (unsigned i = 1; i < n; i++)
        if (operand(x, tok[i], &args[na++]) != 0)
            return NOA_EINVAL;
    if (prev)
        args[na++] = *prev;
    struct noa_buf *b = &x->tmp[x->ntmp++ % 4];
    noa_buf_reset(b);
    double d;
    if (noa_str_eq_c(tok[0], "humanize") || noa_str_eq_c(tok[0], "humanizePercentage")) {
        if (na != 1 || to_num(&args[0], &d) != 0)
            return noa_error_set(x->err, NOA_EINVAL, "template: %.*s needs one number",
                                 (int)tok[0].len, tok[0].p);
        if (tok[0].len == 8)
            humanize(b, d);
        else
            noa_buf_printf(b, "%.4g%%", d * 100);
    } else if (noa_str_eq_c(tok[0], "printf")) {
        if (na < 1 || args[0].is_num)
            return noa_error_set(x->err, NOA_EINVAL, "template: printf needs a format string");
        struct noa_buf f = {0};
        noa_buf_append_str(&f, args[0].s); /* args may point into b's sibling buffers */
        int rc = do_printf(x, (struct noa_str){f.data, f.len}, args + 1, na - 1, b);
        noa_buf_fini(&f);
        if (rc)
            return rc;
    } else if (noa_str_eq_c(tok[0], "toUpper") || noa_str_eq_c(tok[0], "toLower")) {
        if (na != 1 || args[0].is_num)
            return noa_error_set(x->err, NOA_EINVAL, "template: %.*s needs one string",
                                 (int)tok[0].len, tok[0].p);
        for (size_t i = 0; i < args[0].s.len; i++) {
            int c = (unsigned char)args[0].s.p[i];
            noa_buf_putc(b, (char)(tok[0].p[2] == 'U' ? toupper(c) : tolower(c)));
        }
    } else {
        return noa_error_set(x->err, NOA_EINVAL, "template: function \"%.*s\" not defined",
                             (int)tok[0].len, tok[0].p);
    }
    memset(res, 0, sizeof(*res));
    res->s = (struct noa_str){b->data ? b->data : "", b->len};
    return 0;
}

/* One {{ action }}: commands separated by '|' (outside quotes). */
static int action(struct texp *x, struct noa_str a, struct noa_buf *out)
{
    struct tval cur, next;
    int have = 0;
    size_t s = 0;
    char q = 0;
    for (size_t i = 0; i <= a.len; i++) {
        char c = i < a.len ? a.p[i] : '|';
        if (q) {
            if (c == '\\' && q == '"')
                i++;
            else if (c == q)
                q = 0;
            continue;
        }
        if (c == '"' || c == '`') {
            q = c;
            continue;
        }
        if (c != '|')
            continue;
        if (command(x, (struct noa_str){a.p + s, i - s}, have ? &cur : NULL, &next) != 0)
            return NOA_EINVAL;
        cur = next;
        have = 1;
        s = i + 1;
    }
    put_val(out, &cur);
    return 0;
}

int noa_ruler_alerts_expand(const char *tmpl, const struct noa_ruler_kv *labels,
                            unsigned n_labels, double value, struct noa_buf *out,
                            struct noa_error *err)
{
    struct texp x = {.labels = labels, .n_labels = n_labels, .value = value, .err = err};
    int rc = 0;
    size_t len = strlen(tmpl), i = 0, out_start = out->len;
    while (i < len) {
        const char *open = strstr(tmpl + i, "{{");
        if (!open) {
            noa_buf_append(out, tmpl + i, len - i);
            break;
        }
        size_t a = (size_t)(open - tmpl) + 2;
        size_t text_end = (size_t)(open - tmpl);
        if (a < len && tmpl[a] == '-' && a + 1 < len && isspace((unsigned char)tmpl[a + 1])) {
            while (text_end > i && isspace((unsigned char)tmpl[text_end - 1]))
                text_end--;
            a++;
        }
        noa_buf_append(out, tmpl + i, text_end - i);
        const char *close = strstr(tmpl + a, "}}");
        if (!close) {
            rc = noa_error_set(err, NOA_EINVAL, "template: unclosed action");
            goto fail;
        }
        size_t b = (size_t)(close - tmpl), next = b + 2;
        int trim_right = b > a && tmpl[b - 1] == '-' && b - 1 > a &&
                         isspace((unsigned char)tmpl[b - 2]);
        if (trim_right)
            b--;
        while (a < b && isspace((unsigned char)tmpl[a]))
            a++;
        while (b > a && isspace((unsigned char)tmpl[b - 1]))
            b--;
        if (b > a && tmpl[a] == '/' && tmpl[a + 1] == '*') {
            /* a comment */
        } else if (action(&x, (struct noa_str){tmpl + a, b - a}, out) != 0) {
            rc = NOA_EINVAL;
            goto fail;
        }
        if (trim_right)
            while (next < len && isspace((unsigned char)tmpl[next]))
                next++;
        i = next;
    }
fail:
    if (rc)
        out->len = out_start;
    for (int k = 0; k < 4; k++)
        noa_buf_fini(&x.tmp[k]);
    return rc;
}

/* ---- the state machine -------------------------------------------------------- */

static void alert_free(struct noa_ruler_alert *a)
{
    for (unsigned i = 0; i < a->n_labels; i++) {
        noa_free(a->labels[i].name);
        noa_free(a->labels[i].value);
    }
    for (unsigned i = 0; i < a->n_annotations; i++) {
        noa_free(a->annotations[i].name);
        noa_free(a->annotations[i].value);
    }
    noa_free(a->labels);
    noa_free(a->annotations);
}

void noa_ruler_alerts_fini(struct noa_ruler_alerts *st)
{
    if (!st)
        return;
    for (unsigned i = 0; i < st->n; i++)
        alert_free(&st->v[i]);
    noa_free(st->v);
    memset(st, 0, sizeof(*st));
}

static int kv_cmp(const void *a, const void *b)
{
    return strcmp(((const struct noa_ruler_kv *)a)->name, ((const struct noa_ruler_kv *)b)->name);
}

static uint64_t kv_hash(const struct noa_ruler_kv *v, unsigned n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a over name\xff value\xff */
    for (unsigned i = 0; i < n; i++) {
        for (const char *p = v[i].name; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
        for (const char *p = v[i].value; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        h = (h ^ 0xfe) * 1099511628211ULL;
    }
    return h;
}

static int kv_equal(const struct noa_ruler_kv *a, unsigned na, const struct noa_ruler_kv *b,
                    unsigned nb)
{
    if (na != nb)
        return 0;
    for (unsigned i = 0; i < na; i++)
        if (strcmp(a[i].name, b[i].name) || strcmp(a[i].value, b[i].value))
            return 0;
    return 1;
}

/* Expands tmpl; on error the text is Prometheus's "<error expanding template: ...>". */
static char *expand_or_error(const char *tmpl, const struct noa_ruler_kv *labels, unsigned n,
                             double value)
{
    struct noa_buf b = {0};
    struct noa_error err = {0};
    if (noa_ruler_alerts_expand(tmpl, labels, n, value, &b, &err) != 0)
        noa_buf_printf(&b, "<error expanding template: %s>", err.msg);
    noa_buf_cstr(&b);
    return noa_buf_steal(&b, NULL);
}

/* Builds the alert for one sample: its labels without __name__, the rule's
 * labels expanded over them, alertname; annotations expanded. */
static void build_alert(const struct noa_ruler_rule *r, const struct noa_ruler_sample *s,
                        struct noa_ruler_alert *a)
{
    memset(a, 0, sizeof(*a));
    unsigned cap = (unsigned)s->labels.n + r->n_labels + 1, n = 0;
    struct noa_ruler_kv *tl = noa_xcalloc(s->labels.n + 1, sizeof(*tl));
    unsigned ntl = 0;
    for (uint32_t i = 0; i < s->labels.n; i++) {
        if (noa_str_eq_c(s->labels.v[i].name, "__name__"))
            continue;
        tl[ntl].name = (char *)noa_xstrndup(s->labels.v[i].name.p, s->labels.v[i].name.len);
        tl[ntl].value = (char *)noa_xstrndup(s->labels.v[i].value.p, s->labels.v[i].value.len);
        ntl++;
    }
    qsort(tl, ntl, sizeof(*tl), kv_cmp);
    a->labels = noa_xcalloc(cap, sizeof(*a->labels));
    for (unsigned i = 0; i < ntl; i++) {
        int overridden = strcmp(tl[i].name, "alertname") == 0;
        for (unsigned k = 0; k < r->n_labels && !overridden; k++)
            overridden = strcmp(tl[i].name, r->labels[k].name) == 0;
        if (overridden)
            continue;
        a->labels[n].name = noa_xstrdup(tl[i].name);
        a->labels[n].value = noa_xstrdup(tl[i].value);
        n++;
    }
    for (unsigned k = 0; k < r->n_labels; k++) {
        char *v = expand_or_error(r->labels[k].value, tl, ntl, s->value);
        if (!*v) { /* an empty value removes the label, as in Prometheus */
            noa_free(v);
            continue;
        }
        a->labels[n].name = noa_xstrdup(r->labels[k].name);
        a->labels[n].value = v;
        n++;
    }
    a->labels[n].name = noa_xstrdup("alertname");
    a->labels[n].value = noa_xstrdup(r->name);
    n++;
    a->n_labels = n;
    qsort(a->labels, n, sizeof(*a->labels), kv_cmp);
    a->hash = kv_hash(a->labels, n);
    a->annotations = noa_xcalloc(r->n_annotations + 1, sizeof(*a->annotations));
    for (unsigned k = 0; k < r->n_annotations; k++) {
        a->annotations[k].name = noa_xstrdup(r->annotations[k].name);
        a->annotations[k].value = expand_or_error(r->annotations[k].value, tl, ntl, s->value);
    }
    a->n_annotations = r->n_annotations;
    a->value = s->value;
    for (unsigned i = 0; i < ntl; i++) {
        noa_free(tl[i].name);
        noa_free(tl[i].value);
    }
    noa_free(tl);
}

static int find(const struct noa_ruler_alerts *st, const struct noa_ruler_alert *a)
{
    for (unsigned i = 0; i < st->n; i++)
        if (st->v[i].hash == a->hash &&
            kv_equal(st->v[i].labels, st->v[i].n_labels, a->labels, a->n_labels))
            return (int)i;
    return -1;
}

int noa_ruler_alerts_eval(struct noa_ruler_alerts *st, const struct noa_ruler_rule *r,
                          const struct noa_ruler_sample *samples, unsigned n, int64_t ts_ns,
                          int64_t limit, struct noa_error *err)
{
    int rc = 0;
    uint8_t *seen = noa_xcalloc(st->n + n + 1, 1);
    for (unsigned i = 0; i < n; i++) {
        struct noa_ruler_alert a;
        build_alert(r, &samples[i], &a);
        int at = find(st, &a);
        if (at >= 0 && seen[at]) {
            alert_free(&a);
            rc = noa_error_set(err, NOA_EINVAL,
                               "vector contains metrics with the same labelset after applying "
                               "alert labels");
            goto fail;
        }
        if (at >= 0 && st->v[at].state != NOA_RULER_ALERT_INACTIVE) {
            /* Still active: refresh value and annotations only. */
            struct noa_ruler_alert *o = &st->v[at];
            struct noa_ruler_kv *t = o->annotations;
            unsigned tn = o->n_annotations;
            o->annotations = a.annotations;
            o->n_annotations = a.n_annotations;
            a.annotations = t;
            a.n_annotations = tn;
            o->value = a.value;
            alert_free(&a);
            seen[at] = 1;
            continue;
        }
        a.state = NOA_RULER_ALERT_PENDING;
        a.active_at_ns = ts_ns;
        if (at >= 0) { /* a resolved alert comes back: a new one replaces it */
            alert_free(&st->v[at]);
            st->v[at] = a;
        } else {
            if (st->n == st->cap) {
                st->cap = st->cap ? st->cap * 2 : 8;
                st->v = noa_xrealloc(st->v, st->cap * sizeof(*st->v));
            }
            at = (int)st->n;
            st->v[st->n++] = a;
        }
        seen[at] = 1;
    }
    unsigned active = 0, w = 0;
    for (unsigned i = 0; i < st->n; i++) {
        struct noa_ruler_alert *a = &st->v[i];
        int keep = 1;
        if (!seen[i]) {
            int keep_firing = 0;
            if (a->state == NOA_RULER_ALERT_FIRING && r->keep_firing_for_ns > 0) {
                if (!a->keep_firing_since_ns)
                    a->keep_firing_since_ns = ts_ns;
                keep_firing = ts_ns - a->keep_firing_since_ns < r->keep_firing_for_ns;
            }
            if (a->state == NOA_RULER_ALERT_PENDING ||
                (a->resolved_at_ns &&
                 ts_ns - a->resolved_at_ns > NOA_RULER_ALERTS_RESOLVED_RETENTION_NS))
                keep = 0;
            if (a->state != NOA_RULER_ALERT_INACTIVE && !keep_firing) {
                a->state = NOA_RULER_ALERT_INACTIVE;
                a->resolved_at_ns = ts_ns;
            }
            if (!keep_firing) {
                if (!keep)
                    alert_free(a);
                else
                    st->v[w++] = *a;
                continue;
            }
        } else {
            a->keep_firing_since_ns = 0;
        }
        active++;
        if (a->state == NOA_RULER_ALERT_PENDING && ts_ns - a->active_at_ns >= r->for_ns) {
            a->state = NOA_RULER_ALERT_FIRING;
            a->fired_at_ns = ts_ns;
        }
        st->v[w++] = *a;
    }
    st->n = w;
    if (limit > 0 && active > (uint64_t)limit) {
        for (unsigned i = 0; i < st->n; i++)
            alert_free(&st->v[i]);
        st->n = 0;
        rc = noa_error_set(err, NOA_ELIMIT, "exceeded limit of %lld with %u alerts",
                           (long long)limit, active);
    }
fail:
    noa_free(seen);
    return rc;
}

unsigned noa_ruler_alerts_due(struct noa_ruler_alerts *st, int64_t ts_ns, int64_t resend_delay_ns,
                              int64_t interval_ns, const struct noa_ruler_alert **out, unsigned max)
{
    unsigned k = 0;
    int64_t delta = interval_ns > resend_delay_ns ? interval_ns : resend_delay_ns;
    for (unsigned i = 0; i < st->n && k < max; i++) {
        struct noa_ruler_alert *a = &st->v[i];
        if (a->state == NOA_RULER_ALERT_PENDING)
            continue;
        if (a->state == NOA_RULER_ALERT_INACTIVE && !a->fired_at_ns)
            continue;
        int needs = a->resolved_at_ns > a->last_sent_ns ||
                    a->last_sent_ns + resend_delay_ns < ts_ns || a->last_sent_ns == 0;
        if (!needs)
            continue;
        a->last_sent_ns = ts_ns;
        a->valid_until_ns = ts_ns + 4 * delta;
        out[k++] = a;
    }
    return k;
}

/* A deep copy of a, for alerts carried over from the saved state. */
static void alert_copy(struct noa_ruler_alert *dst, const struct noa_ruler_alert *a)
{
    *dst = *a;
    dst->labels = noa_xcalloc(a->n_labels + 1, sizeof(*dst->labels));
    for (unsigned i = 0; i < a->n_labels; i++) {
        dst->labels[i].name = noa_xstrdup(a->labels[i].name);
        dst->labels[i].value = noa_xstrdup(a->labels[i].value);
    }
    dst->annotations = noa_xcalloc(a->n_annotations + 1, sizeof(*dst->annotations));
    for (unsigned i = 0; i < a->n_annotations; i++) {
        dst->annotations[i].name = noa_xstrdup(a->annotations[i].name);
        dst->annotations[i].value = noa_xstrdup(a->annotations[i].value);
    }
    /* Saved labels come from a file: sorted and hashed here, not trusted. */
    qsort(dst->labels, dst->n_labels, sizeof(*dst->labels), kv_cmp);
    dst->hash = kv_hash(dst->labels, dst->n_labels);
}

unsigned noa_ruler_alerts_restore(struct noa_ruler_alerts *st, const struct noa_ruler_rule *r,
                                  const struct noa_ruler_alerts *saved,
                                  const struct noa_ruler_alerts_restore_opts *o)
{
    unsigned restored = 0;
    if (!saved || o->ts_ns - o->saved_ns > o->outage_tolerance_ns || o->ts_ns < o->saved_ns)
        return 0;
    unsigned n_now = st->n;
    for (unsigned k = 0; k < saved->n; k++) {
        struct noa_ruler_alert s;
        alert_copy(&s, &saved->v[k]);
        int at = -1;
        for (unsigned i = 0; i < st->n && at < 0; i++)
            if (kv_equal(st->v[i].labels, st->v[i].n_labels, s.labels, s.n_labels))
                at = (int)i;
        if (at >= 0 && (unsigned)at < n_now) {
            struct noa_ruler_alert *a = &st->v[at];
            int was_active = s.state == NOA_RULER_ALERT_PENDING || s.state == NOA_RULER_ALERT_FIRING;
            int64_t active_at = s.active_at_ns;
            int64_t remaining = r->for_ns - (o->saved_ns - active_at);
            /* A pending alert whose `for` is shorter than the grace period
             * waits its `for` again rather than the grace period. */
            if (a->state != NOA_RULER_ALERT_INACTIVE && was_active &&
                (remaining <= 0 || r->for_ns >= o->grace_period_ns)) {
                if (remaining <= 0) {
                    /* It was firing: it fires again as the same alert. */
                    if (s.fired_at_ns) {
                        a->fired_at_ns = s.fired_at_ns;
                        a->last_sent_ns = s.last_sent_ns;
                        a->valid_until_ns = s.valid_until_ns;
                    }
                } else if (remaining < o->grace_period_ns) {
                    active_at = o->ts_ns + o->grace_period_ns - r->for_ns;
                } else {
                    active_at += o->ts_ns - o->saved_ns;
                }
                a->active_at_ns = active_at;
                a->state = NOA_RULER_ALERT_PENDING;
                if (o->ts_ns - a->active_at_ns >= r->for_ns) {
                    a->state = NOA_RULER_ALERT_FIRING;
                    if (!(remaining <= 0 && s.fired_at_ns))
                        a->fired_at_ns = o->ts_ns;
                } else {
                    a->fired_at_ns = 0;
                }
                restored++;
            }
            alert_free(&s);
            continue;
        }
        if (at >= 0) { /* one saved alert twice: keep the first */
            alert_free(&s);
            continue;
        }
        if (s.state == NOA_RULER_ALERT_FIRING) {
            /* Firing before the restart, gone now: resolve it so the
             * resolution reaches Alertmanager. */
            s.state = NOA_RULER_ALERT_INACTIVE;
            s.resolved_at_ns = o->ts_ns;
            s.keep_firing_since_ns = 0;
        }
        if (s.state != NOA_RULER_ALERT_INACTIVE || !s.fired_at_ns || !s.resolved_at_ns ||
            o->ts_ns - s.resolved_at_ns > NOA_RULER_ALERTS_RESOLVED_RETENTION_NS) {
            alert_free(&s);
            continue;
        }
        if (st->n == st->cap) {
            st->cap = st->cap ? st->cap * 2 : 8;
            st->v = noa_xrealloc(st->v, st->cap * sizeof(*st->v));
        }
        st->v[st->n++] = s;
    }
    return restored;
}

enum noa_ruler_alert_state noa_ruler_alerts_state(const struct noa_ruler_alerts *st)
{
    enum noa_ruler_alert_state s = NOA_RULER_ALERT_INACTIVE;
    for (unsigned i = 0; i < st->n; i++)
        if (st->v[i].state > s)
            s = st->v[i].state;
    return s;
}

const char *noa_ruler_alerts_state_name(enum noa_ruler_alert_state s)
{
    switch (s) {
    case NOA_RULER_ALERT_PENDING:
        return "pending";
    case NOA_RULER_ALERT_FIRING:
        return "firing";
    default:
        return "inactive";
    }
}
