/*
 * Push validation with Loki 3.x's texts, order of checks and discard
 * reasons (pkg/loghttp/push/push.go, pkg/distributor/distributor.go and
 * validator.go, pkg/validation/validate.go), and dskit's tenant ID rules.
 * Owns nothing beyond one call: output lives in the caller's arena, the
 * error body in a noa_buf released by noa_validated_fini. Any thread.
 */
#include "ingester/validate.h"
#include "common/mem.h"
#include "ingester/enrich.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef unsigned char uchar; /* local shorthand for byte arithmetic */

static const char *const reason_names[NOA_VALIDATE_REASON_COUNT] = {
    [NOA_VALIDATE_INVALID_LABELS] = "invalid_labels",
    [NOA_VALIDATE_MISSING_LABELS] = "missing_labels",
    [NOA_VALIDATE_MAX_LABEL_NAMES] = "max_label_names_per_series",
    [NOA_VALIDATE_LABEL_NAME_TOO_LONG] = "label_name_too_long",
    [NOA_VALIDATE_LABEL_VALUE_TOO_LONG] = "label_value_too_long",
    [NOA_VALIDATE_DUPLICATE_LABEL_NAMES] = "duplicate_label_names",
    [NOA_VALIDATE_TOO_OLD] = "greater_than_max_sample_age",
    [NOA_VALIDATE_TOO_NEW] = "too_far_in_future",
    [NOA_VALIDATE_LINE_TOO_LONG] = "line_too_long",
    [NOA_VALIDATE_SM_DISALLOWED] = "disallowed_structured_metadata",
    [NOA_VALIDATE_SM_TOO_LARGE] = "structured_metadata_too_large",
    [NOA_VALIDATE_SM_TOO_MANY] = "structured_metadata_too_many",
    [NOA_VALIDATE_RATE_LIMITED] = "rate_limited",
    [NOA_VALIDATE_STREAM_RATE_LIMIT] = "per_stream_rate_limit",
    [NOA_VALIDATE_STREAM_LIMIT] = "stream_limit",
    [NOA_VALIDATE_TOO_FAR_BEHIND] = "too_far_behind",
    [NOA_VALIDATE_BODY_TOO_LARGE] = "request_body_too_large",
};

const char *noa_validate_reason_name(enum noa_validate_reason r)
{
    return (unsigned)r < NOA_VALIDATE_REASON_COUNT ? reason_names[r] : "unknown";
}

char *noa_validate_rfc3339(int64_t ns, char *out, size_t cap)
{
    int64_t secs = ns / 1000000000;
    if (ns % 1000000000 < 0)
        secs--; /* Go truncates toward the earlier second */
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, cap, "%" PRId64, ns);
        return out;
    }
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return out;
}

/* ---- the 400 body: Loki's GroupedErrors, bounded ------------------------ */

struct group {
    size_t off, len; /* in groups.text */
    uint64_t count;
};

struct groups {
    struct noa_buf text;
    struct group g[NOA_VALIDATE_MAX_ERRORS];
    unsigned n;
    uint64_t omitted; /* errors whose distinct text did not fit */
    struct noa_buf scratch;
};

static void groups_add(struct groups *gs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Identical messages are counted together, as GroupedErrors does. */
static void groups_add(struct groups *gs, const char *fmt, ...)
{
    va_list ap;
    noa_buf_reset(&gs->scratch);
    va_start(ap, fmt);
    noa_buf_vprintf(&gs->scratch, fmt, ap);
    va_end(ap);
    for (unsigned i = 0; i < gs->n; i++) {
        struct group *g = &gs->g[i];
        if (g->len == gs->scratch.len &&
            !memcmp(gs->text.data + g->off, gs->scratch.data, g->len)) {
            g->count++;
            return;
        }
    }
    if (gs->n == NOA_VALIDATE_MAX_ERRORS) {
        gs->omitted++;
        return;
    }
    gs->g[gs->n++] = (struct group){gs->text.len, gs->scratch.len, 1};
    noa_buf_append(&gs->text, gs->scratch.data, gs->scratch.len);
}

/* "N errors like: " precedes each message unless there is exactly one
 * error; messages are joined with "; ". Loki's order is Go map order; ours
 * is first-seen order. */
static void groups_render(const struct groups *gs, struct noa_buf *out)
{
    int plural = gs->n > 1 || gs->omitted;
    for (unsigned i = 0; i < gs->n; i++) {
        const struct group *g = &gs->g[i];
        if (i)
            noa_buf_append(out, "; ", 2);
        if (plural || g->count > 1)
            noa_buf_printf(out, "%" PRIu64 " errors like: ", g->count);
        noa_buf_append(out, gs->text.data + g->off, g->len);
    }
    if (gs->omitted)
        noa_buf_printf(out, "; %" PRIu64 " more errors not shown", gs->omitted);
}

static void groups_fini(struct groups *gs)
{
    noa_buf_fini(&gs->text);
    noa_buf_fini(&gs->scratch);
}

/* ---- per-call state ----------------------------------------------------- */

/* One request stream after label parsing. */
struct parsed {
    struct noa_labels ls;     /* sorted, service_name added */
    struct noa_str text;      /* what Loki prints in label errors: the received text, or the
                               * canonical one once service_name was added */
    struct noa_str canonical; /* what Loki prints in entry errors */
    uint64_t fp;
    struct noa_push_entry *acc; /* accepted entries */
    uint32_t n_acc;
    uint64_t bytes;
    uint32_t group; /* index in out->streams after merging */
    int has_level;  /* the labels hold a level field (checked once per stream) */
};

struct vctx {
    const struct noa_limits *lim;
    int64_t oldest_ns; /* entries before this are too old */
    int64_t newest_ns; /* entries after this are too new */
    int discover_levels;
    struct noa_enrich_level_opts lvl;
    struct noa_arena *arena;
    struct noa_validated *out;
    struct groups errs;
    struct noa_buf fmt; /* canonical text scratch */
};

static void discard(struct vctx *c, enum noa_validate_reason r, uint64_t lines, uint64_t bytes)
{
    c->out->discarded_lines[r] += lines;
    c->out->discarded_bytes[r] += bytes;
}

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

static size_t meta_size(const struct noa_label *m, uint32_t n)
{
    size_t s = 0;
    for (uint32_t i = 0; i < n; i++)
        s += m[i].name.len + m[i].value.len;
    return s;
}

/* The line as Loki sees it after max_line_size_truncate. */
static struct noa_str eff_line(const struct vctx *c, struct noa_str line)
{
    int64_t max = c->lim->max_line_size;
    if (c->lim->max_line_size_truncate && max > 0 && line.len > (size_t)max)
        line.len = (size_t)max;
    return line;
}

/* ---- step 2: parse every stream's labels (Loki's push parser) ----------- */

/* go-humanize's Bytes(): SI units, one decimal under 10. */
static void humanize_bytes(uint64_t s, char *out, size_t cap)
{
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
    if (s < 10) {
        snprintf(out, cap, "%" PRIu64 " B", s);
        return;
    }
    int e = 0;
    double v = (double)s;
    while (v >= 1000 && e < 6) {
        v /= 1000;
        e++;
    }
    double r = (double)(uint64_t)(v * 10 + 0.5) / 10;
    snprintf(out, cap, r < 10 ? "%.1f %s" : "%.0f %s", r, units[e]);
}

/*
 * Prometheus' lexer refuses invalid UTF-8 (and U+FFFD itself) inside a
 * quoted label value, reporting the position of the opening quote. Returns
 * that 0-based offset, or -1 when the text is clean.
 */
static long bad_utf8_quote(struct noa_str t)
{
    const uchar *p = (const uchar *)t.p;
    long open = -1;
    uchar q = 0;
    for (size_t i = 0; i < t.len;) {
        uchar ch = p[i];
        if (!q) {
            if (ch == '"' || ch == '`' || ch == '\'') {
                q = ch;
                open = (long)i;
            }
            i++;
            continue;
        }
        if (ch == q) {
            q = 0;
            i++;
            continue;
        }
        if (ch == '\\' && q != '`' && i + 1 < t.len && p[i + 1] < 0x80) {
            i += 2;
            continue;
        }
        if (ch == '\\' && q != '`')
            i++;
        if (i < t.len && p[i] >= 0x80) {
            size_t w = 0;
            while (i + w < t.len && w < 4 && (w == 0 || (p[i + w] & 0xC0) == 0x80))
                w++;
            if (!noa_utf8_valid((const char *)p + i, w) ||
                (w == 3 && !memcmp(p + i, "\xEF\xBF\xBD", 3)))
                return open;
            i += w;
        } else {
            i++;
        }
    }
    return -1;
}

static void put_error(struct vctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put_error(struct vctx *c, const char *fmt, ...)
{
    va_list ap;
    noa_buf_reset(&c->out->errors);
    va_start(ap, fmt);
    noa_buf_vprintf(&c->out->errors, fmt, ap);
    va_end(ap);
}

/* Inserts service_name=value keeping the set sorted (arena copy). */
static struct noa_labels with_service_name(struct noa_arena *a, const struct noa_labels *ls,
                                           struct noa_str value)
{
    struct noa_str name = NOA_STR(NOA_ENRICH_SERVICE_NAME);
    struct noa_labels r = {noa_arena_alloc(a, (ls->n + 1) * sizeof(*r.v)), ls->n + 1};
    uint32_t j = 0;
    for (uint32_t i = 0; i < ls->n; i++) {
        if (j == i && noa_str_cmp(ls->v[i].name, name) > 0)
            r.v[j++] = (struct noa_label){name, value};
        r.v[j++] = ls->v[i];
    }
    if (j == ls->n)
        r.v[j] = (struct noa_label){name, value};
    return r;
}

static struct noa_str canonical_text(struct vctx *c, const struct noa_labels *ls)
{
    noa_buf_reset(&c->fmt);
    noa_labels_format(ls, &c->fmt);
    return noa_arena_str(c->arena, (struct noa_str){c->fmt.data, c->fmt.len});
}

static int parse_stream(struct vctx *c, const struct noa_push_stream *s, struct parsed *ps)
{
    struct noa_error err = {0};
    if (s->labels.len > NOA_VALIDATE_MAX_LABELS_TEXT) {
        char have[32], lim[32];
        humanize_bytes(s->labels.len, have, sizeof(have));
        humanize_bytes(NOA_VALIDATE_MAX_LABELS_TEXT, lim, sizeof(lim));
        put_error(c, "request body too large: stream labels size %s exceeds limit of %s", have,
                  lim);
        return NOA_ETOOBIG;
    }
    if (noa_labels_parse(s->labels, c->arena, &ps->ls, &err) < 0) {
        put_error(c, "couldn't parse labels: %s", err.msg);
        return NOA_EINVAL;
    }
    long bad = bad_utf8_quote(s->labels);
    if (bad >= 0) {
        long line = 1, col = bad + 1;
        for (long i = 0; i < bad; i++) {
            if (s->labels.p[i] == '\n') {
                line++;
                col = bad - i;
            }
        }
        put_error(c, "couldn't parse labels: %ld:%ld: parse error: invalid UTF-8 rune", line, col);
        return NOA_EINVAL;
    }
    struct noa_str svc;
    ps->text = s->labels;
    if (noa_enrich_service_name(c->lim, &ps->ls, &svc)) {
        ps->ls = with_service_name(c->arena, &ps->ls, svc);
        ps->text = (struct noa_str){NULL, 0}; /* the canonical text, set below */
    }
    ps->canonical = canonical_text(c, &ps->ls);
    if (!ps->text.p)
        ps->text = ps->canonical;
    ps->fp = noa_labels_hash(&ps->ls);
    return 0;
}

/* ---- step 3a: label checks (Loki's ValidateLabels) --------------------- */

static int is_internal(const struct noa_labels *ls)
{
    return noa_labels_get(ls, NOA_STR("__aggregated_metric__")).p ||
           noa_labels_get(ls, NOA_STR("__pattern__")).p;
}

#define TXT(s) (int)(s).len, (s).p

/* Returns the reason the stream is rejected for, or -1 when its labels pass. */
static int check_labels(struct vctx *c, const struct parsed *ps)
{
    const struct noa_limits *lim = c->lim;
    const struct noa_labels *ls = &ps->ls;
    if (ls->n == 0) {
        groups_add(&c->errs, "error at least one label pair is required per stream");
        return NOA_VALIDATE_MISSING_LABELS;
    }
    if (is_internal(ls))
        return -1;
    /* service_name is added by Loki itself, so it does not count. */
    long names = (long)ls->n - (noa_labels_get(ls, NOA_STR(NOA_ENRICH_SERVICE_NAME)).p != NULL);
    if (names > lim->max_label_names_per_series) {
        groups_add(&c->errs, "entry for stream '%.*s' has %ld label names; limit %d", TXT(ps->text),
                   names, lim->max_label_names_per_series);
        return NOA_VALIDATE_MAX_LABEL_NAMES;
    }
    for (uint32_t i = 0; i < ls->n; i++) {
        struct noa_label l = ls->v[i];
        if (l.name.len > (size_t)lim->max_label_name_length) {
            groups_add(&c->errs, "stream '%.*s' has label name too long: '%.*s'", TXT(ps->text),
                       TXT(l.name));
            return NOA_VALIDATE_LABEL_NAME_TOO_LONG;
        }
        if (l.value.len > (size_t)lim->max_label_value_length) {
            groups_add(&c->errs, "stream '%.*s' has label value too long: '%.*s'", TXT(ps->text),
                       TXT(l.value));
            return NOA_VALIDATE_LABEL_VALUE_TOO_LONG;
        }
        if (i && noa_str_eq(ls->v[i - 1].name, l.name)) {
            groups_add(&c->errs, "stream '%.*s' has duplicate label name: '%.*s'", TXT(ps->text),
                       TXT(l.name));
            return NOA_VALIDATE_DUPLICATE_LABEL_NAMES;
        }
    }
    return -1;
}

/* ---- step 3b: entries (Loki's ValidateEntry, then metadata fix-ups) ----- */

/* Returns the reason the entry is rejected for, or -1. */
static int check_entry(struct vctx *c, const struct parsed *ps, const struct noa_push_entry *e,
                       struct noa_str line)
{
    const struct noa_limits *lim = c->lim;
    size_t sm = meta_size(e->meta, e->n_meta);
    char ts[40], cut[40];
    if (lim->reject_old_samples && e->ts_ns < c->oldest_ns) {
        groups_add(&c->errs,
                   "entry for stream '%.*s' has timestamp too old: %s, oldest acceptable "
                   "timestamp is: %s",
                   TXT(ps->canonical), noa_validate_rfc3339(e->ts_ns, ts, sizeof(ts)),
                   noa_validate_rfc3339(c->oldest_ns, cut, sizeof(cut)));
        return NOA_VALIDATE_TOO_OLD;
    }
    if (e->ts_ns > c->newest_ns) {
        groups_add(&c->errs, "entry for stream '%.*s' has timestamp too new: %s",
                   TXT(ps->canonical), noa_validate_rfc3339(e->ts_ns, ts, sizeof(ts)));
        return NOA_VALIDATE_TOO_NEW;
    }
    if (lim->max_line_size > 0 && line.len > (size_t)lim->max_line_size) {
        groups_add(&c->errs,
                   "Max entry size '%" PRId64 "' bytes exceeded for stream '%.*s' while adding an "
                   "entry with length '%zu' bytes",
                   lim->max_line_size, TXT(ps->canonical), line.len);
        return NOA_VALIDATE_LINE_TOO_LONG;
    }
    if (!e->n_meta)
        return -1;
    if (!lim->allow_structured_metadata) {
        groups_add(&c->errs,
                   "stream '%.*s' includes structured metadata, but this feature is disallowed. "
                   "Please see `limits_config.allow_structured_metadata` or contact your Loki "
                   "administrator to enable it.",
                   TXT(ps->canonical));
        return NOA_VALIDATE_SM_DISALLOWED;
    }
    if (lim->max_structured_metadata_size && (int64_t)sm > lim->max_structured_metadata_size) {
        groups_add(&c->errs,
                   "stream '%.*s' has structured metadata too large: '%zu' bytes, limit: '%" PRId64
                   "' bytes. Please see `limits_config.max_structured_metadata_size` or contact "
                   "your Loki administrator to increase it.",
                   TXT(ps->canonical), sm, lim->max_structured_metadata_size);
        return NOA_VALIDATE_SM_TOO_LARGE;
    }
    if (lim->max_structured_metadata_entries_count &&
        e->n_meta > (uint32_t)lim->max_structured_metadata_entries_count) {
        groups_add(&c->errs,
                   "stream '%.*s' has too many structured metadata labels: '%" PRIu32
                   "', limit: '%d'. Please see "
                   "`limits_config.max_structured_metadata_entries_count` or contact your Loki "
                   "administrator to increase it.",
                   TXT(ps->canonical), e->n_meta, lim->max_structured_metadata_entries_count);
        return NOA_VALIDATE_SM_TOO_MANY;
    }
    return -1;
}

static int name_byte_ok(uchar b)
{
    return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '_';
}

/*
 * Prometheus' otlptranslator NormalizeLabel, which Loki applies to metadata
 * names: every rune outside [A-Za-z0-9_] becomes '_' (an invalid byte
 * counts as one rune), then a leading digit gets "key_" and a single
 * leading '_' gets "key". Returns name itself when nothing changes.
 */
static struct noa_str normalize_meta_name(struct noa_arena *a, struct noa_str name)
{
    const uchar *p = (const uchar *)name.p;
    int clean = 1;
    for (size_t i = 0; clean && i < name.len; i++)
        clean = name_byte_ok(p[i]);
    if (clean && (name.len == 0 || (!(p[0] >= '0' && p[0] <= '9') &&
                                    !(p[0] == '_' && (name.len == 1 || p[1] != '_')))))
        return name;
    char *o = noa_arena_alloc(a, name.len + 5);
    size_t w = 4; /* room for a "key_" prefix */
    for (size_t i = 0; i < name.len;) {
        if (name_byte_ok(p[i])) {
            o[w++] = (char)p[i++];
            continue;
        }
        size_t len = 1;
        if (p[i] >= 0xC2 && p[i] <= 0xF4) {
            size_t want = p[i] >= 0xF0 ? 4 : p[i] >= 0xE0 ? 3 : 2;
            if (i + want <= name.len && noa_utf8_valid((const char *)p + i, want))
                len = want;
        }
        o[w++] = '_';
        i += len;
    }
    size_t start = 4;
    if (o[4] >= '0' && o[4] <= '9')
        memcpy(o + (start = 0), "key_", 4);
    else if (o[4] == '_' && (w == 5 || o[5] != '_'))
        memcpy(o + (start = 1), "key", 3);
    return (struct noa_str){o + start, w - start};
}

/* Loki replaces every U+FFFD rune (invalid bytes included) in metadata
 * values with a space. Returns value itself when it is clean. */
static struct noa_str clean_meta_value(struct noa_arena *a, struct noa_str v)
{
    const uchar *p = (const uchar *)v.p;
    if (noa_utf8_valid(v.p, v.len) && !memmem(v.p, v.len, "\xEF\xBF\xBD", 3))
        return v;
    char *o = noa_arena_alloc(a, v.len ? v.len : 1);
    size_t w = 0;
    for (size_t i = 0; i < v.len;) {
        size_t len = 1;
        if (p[i] >= 0xC2 && p[i] <= 0xF4) {
            size_t want = p[i] >= 0xF0 ? 4 : p[i] >= 0xE0 ? 3 : 2;
            if (i + want <= v.len && noa_utf8_valid((const char *)p + i, want))
                len = want;
        }
        if ((len == 1 && p[i] >= 0x80) || (len == 3 && !memcmp(p + i, "\xEF\xBF\xBD", 3))) {
            o[w++] = ' ';
        } else {
            memcpy(o + w, p + i, len);
            w += len;
        }
        i += len;
    }
    return (struct noa_str){o, w};
}

/* Copies an accepted entry's metadata into slots, sanitised, plus
 * detected_level. Returns the final pair count. */
static uint32_t finish_meta(struct vctx *c, const struct parsed *ps, const struct noa_push_entry *e,
                            struct noa_str line, struct noa_label *slots)
{
    uint32_t n = e->n_meta;
    for (uint32_t i = 0; i < n; i++) {
        slots[i].name = normalize_meta_name(c->arena, e->meta[i].name);
        slots[i].value = clean_meta_value(c->arena, e->meta[i].value);
    }
    if (c->discover_levels)
        noa_enrich_apply_level(&c->lvl, ps->has_level ? &ps->ls : NULL, slots, &n, line);
    return n;
}

static void validate_entries(struct vctx *c, const struct noa_push_stream *s, struct parsed *ps)
{
    size_t n_slots = 0;
    for (uint32_t i = 0; i < s->n_entries; i++)
        n_slots += s->entries[i].n_meta + (c->discover_levels ? 1 : 0);
    struct noa_label *slots = n_slots ? noa_arena_alloc(c->arena, n_slots * sizeof(*slots)) : NULL;
    ps->acc = noa_arena_alloc(c->arena, s->n_entries * sizeof(*ps->acc));
    ps->has_level = c->discover_levels && noa_enrich_stream_has_level(&c->lvl, &ps->ls);
    for (uint32_t i = 0; i < s->n_entries; i++) {
        const struct noa_push_entry *e = &s->entries[i];
        struct noa_str line = eff_line(c, e->line);
        int why = check_entry(c, ps, e, line);
        if (why >= 0) {
            discard(c, why, 1, line.len + meta_size(e->meta, e->n_meta));
            c->out->rejected_lines++;
            continue;
        }
        struct noa_push_entry *o = &ps->acc[ps->n_acc++];
        *o = (struct noa_push_entry){e->ts_ns, line, e->meta, e->n_meta};
        if (e->n_meta || c->discover_levels) {
            o->meta = slots;
            o->n_meta = finish_meta(c, ps, e, line, slots);
            slots += e->n_meta + (c->discover_levels ? 1 : 0);
        }
        ps->bytes += line.len + meta_size(o->meta, o->n_meta);
    }
}

static void validate_stream(struct vctx *c, const struct noa_push_stream *s, struct parsed *ps)
{
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < s->n_entries; i++) {
        const struct noa_push_entry *e = &s->entries[i];
        struct noa_str line = eff_line(c, e->line);
        if (line.len < e->line.len) {
            c->out->truncated_lines++;
            c->out->truncated_bytes += e->line.len - line.len;
        }
        bytes += line.len + meta_size(e->meta, e->n_meta);
    }
    int why = check_labels(c, ps);
    if (why >= 0) {
        /* Loki counts the specific reason and invalid_labels both. */
        if (why == NOA_VALIDATE_MISSING_LABELS)
            discard(c, why, 1, 0);
        else
            discard(c, why, s->n_entries, bytes);
        discard(c, NOA_VALIDATE_INVALID_LABELS, s->n_entries, bytes);
        c->out->rejected_lines += s->n_entries;
        return;
    }
    validate_entries(c, s, ps);
}

/* ---- step 4: merge streams with the same labels ------------------------- */

static void merge_streams(struct vctx *c, struct parsed *ps, uint32_t n)
{
    struct noa_validated *out = c->out;
    uint32_t cap = 8, groups = 0;
    while (cap < 2 * n)
        cap *= 2;
    uint32_t *slot = noa_arena_alloc(c->arena, cap * sizeof(*slot));
    memset(slot, 0xff, cap * sizeof(*slot));
    uint32_t *first = noa_arena_alloc(c->arena, n * sizeof(*first)); /* group -> parsed index */
    uint32_t *count = noa_arena_alloc(c->arena, n * sizeof(*count));
    for (uint32_t i = 0; i < n; i++) {
        if (!ps[i].n_acc)
            continue;
        uint32_t h = (uint32_t)(ps[i].fp ^ (ps[i].fp >> 32)) & (cap - 1);
        while (slot[h] != UINT32_MAX && !noa_str_eq(ps[first[slot[h]]].canonical, ps[i].canonical))
            h = (h + 1) & (cap - 1);
        if (slot[h] == UINT32_MAX) {
            slot[h] = groups;
            first[groups] = i;
            count[groups++] = 0;
        }
        ps[i].group = slot[h];
        count[slot[h]] += ps[i].n_acc;
    }
    out->streams = noa_arena_alloc(c->arena, (groups ? groups : 1) * sizeof(*out->streams));
    out->n = groups;
    for (uint32_t g = 0; g < groups; g++) {
        const struct parsed *f = &ps[first[g]];
        out->streams[g] = (struct noa_valid_stream){f->ls, f->canonical, f->fp, f->acc, 0, 0};
        if (count[g] != f->n_acc)
            out->streams[g].entries =
                noa_arena_alloc(c->arena, count[g] * sizeof(*out->streams[g].entries));
    }
    for (uint32_t i = 0; i < n; i++) {
        if (!ps[i].n_acc)
            continue;
        struct noa_valid_stream *vs = &out->streams[ps[i].group];
        if (vs->entries != ps[i].acc)
            memcpy(vs->entries + vs->n_entries, ps[i].acc, ps[i].n_acc * sizeof(*ps[i].acc));
        vs->n_entries += ps[i].n_acc;
        vs->bytes += ps[i].bytes;
        out->accepted_lines += ps[i].n_acc;
        out->accepted_bytes += ps[i].bytes;
    }
}

/* ---- entry point -------------------------------------------------------- */

int noa_validate_push(const struct noa_limits *lim, int64_t now_ns,
                      const struct noa_push_request *req, struct noa_arena *arena,
                      struct noa_validated *out)
{
    struct vctx c = {
        .lim = lim,
        .oldest_ns = sat_add(now_ns, -lim->reject_old_samples_max_age_ns),
        .newest_ns = sat_add(now_ns, lim->creation_grace_period_ns),
        /* Loki discovers levels only where structured metadata is allowed. */
        .discover_levels = lim->discover_log_levels && lim->allow_structured_metadata,
        .lvl = noa_enrich_level_opts_default(),
        .arena = arena,
        .out = out,
    };
    struct parsed *ps = NULL;
    int rc = 0;
    memset(out, 0, sizeof(*out));
    if (!req->n_streams) {
        put_error(&c, "error at least one valid stream is required for ingestion");
        rc = NOA_EEMPTY;
        goto done;
    }
    ps = noa_arena_alloc(arena, req->n_streams * sizeof(*ps));
    memset(ps, 0, req->n_streams * sizeof(*ps));
    for (uint32_t i = 0; i < req->n_streams; i++) {
        rc = parse_stream(&c, &req->streams[i], &ps[i]);
        if (rc < 0)
            goto done;
    }
    for (uint32_t i = 0; i < req->n_streams; i++)
        if (req->streams[i].n_entries)
            validate_stream(&c, &req->streams[i], &ps[i]);
    merge_streams(&c, ps, req->n_streams);
    groups_render(&c.errs, &out->errors);
done:
    groups_fini(&c.errs);
    noa_buf_fini(&c.fmt);
    return rc;
}

void noa_validated_fini(struct noa_validated *out)
{
    noa_buf_fini(&out->errors);
}

/* ---- tenants (dskit tenant.ValidTenantID / TenantID) -------------------- */

static int tenant_char_ok(uchar ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!-_.*'()", ch));
}

static int tenant_check(const char *s, size_t n, struct noa_error *err)
{
    for (size_t i = 0; i < n; i++) {
        uchar ch = (uchar)s[i];
        if (tenant_char_ok(ch))
            continue;
        /* Go prints the offending byte with %c, i.e. as the rune U+00XX. */
        char shown[3] = {(char)ch, 0, 0};
        if (ch >= 0x80) {
            shown[0] = (char)(0xC0 | (ch >> 6));
            shown[1] = (char)(0x80 | (ch & 0x3F));
        }
        return noa_error_set(err, NOA_EINVAL,
                             "tenant ID '%.*s' contains unsupported character '%s'", (int)n, s,
                             shown);
    }
    if (n > NOA_VALIDATE_TENANT_MAX)
        return noa_error_set(err, NOA_EINVAL, "tenant ID is too long: max %d characters",
                             NOA_VALIDATE_TENANT_MAX);
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return noa_error_set(err, NOA_EINVAL, "tenant ID is '.' or '..'");
    return 0;
}

int noa_validate_tenant(const char *org_id_header, int auth_enabled, char *out, size_t cap,
                        struct noa_error *err)
{
    if (cap < NOA_VALIDATE_TENANT_MAX + 1)
        return -ENOSPC;
    if (!auth_enabled) {
        snprintf(out, cap, "fake");
        return 0;
    }
    if (!org_id_header || !*org_id_header)
        return noa_error_set(err, NOA_EAUTH, "no org id");
    const char *first = NULL, *p = org_id_header;
    size_t first_len = 0;
    int several = 0;
    for (;;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        int rc = tenant_check(p, len, err);
        if (rc < 0)
            return rc;
        if (!first) {
            first = p;
            first_len = len;
        } else if (len != first_len || memcmp(p, first, len)) {
            several = 1;
        }
        if (!bar)
            break;
        p = bar + 1;
    }
    if (several)
        return noa_error_set(err, NOA_EINVAL, "multiple org IDs present");
    /* dskit would accept an empty tenant from "|"; noa refuses to key data by "". */
    if (!first_len)
        return noa_error_set(err, NOA_EAUTH, "no org id");
    memcpy(out, first, first_len);
    out[first_len] = '\0';
    return 0;
}
