/*
 * The configuration table engine: defaults, YAML application, flags, dumps,
 * usage and reference text, all driven by struct noa_config_table. Owns
 * nothing beyond the strings it stores into the caller's struct (released by
 * noa_config_fini). Caller's thread; no global state.
 */
#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PATH 512

/* Storage for one value, used for NOFIELD entries and for defaults. */
union value {
    char *s;
    int i;
    int64_t l;
    double d;
    struct noa_config_strings list;
};

static void *field_ptr(const struct noa_config_entry *e, void *obj, union value *tmp)
{
    if (e->flags & NOA_CONFIG_NOFIELD)
        return tmp;
    return (char *)obj + e->offset;
}

static const char *type_word(enum noa_config_type t)
{
    switch (t) {
    case NOA_CONFIG_STRING: return "string";
    case NOA_CONFIG_BOOL: return "bool";
    case NOA_CONFIG_INT: return "int";
    case NOA_CONFIG_INT64: return "int64";
    case NOA_CONFIG_FLOAT: return "float64";
    case NOA_CONFIG_DURATION: return "duration";
    case NOA_CONFIG_MDURATION: return "duration";
    case NOA_CONFIG_BYTES: return "bytes";
    case NOA_CONFIG_STRINGS: return "[]string";
    default: return "block";
    }
}

static int is_leaf(const struct noa_config_entry *e)
{
    return e->type != NOA_CONFIG_BLOCK && e->type != NOA_CONFIG_IGNORED &&
           e->type != NOA_CONFIG_RAW;
}

/* ---- duration and size syntax ------------------------------------------------ */

struct unit {
    const char *name;
    int64_t ns;
};

static const struct unit duration_units[] = {
    {"ns", 1LL},
    {"us", 1000LL},
    {"\xc2\xb5s", 1000LL}, /* U+00B5 micro sign, as Go accepts */
    {"\xce\xbcs", 1000LL}, /* U+03BC Greek mu */
    {"ms", 1000000LL},
    {"s", 1000000000LL},
    {"m", 60LL * 1000000000LL},
    {"h", 3600LL * 1000000000LL},
    {"d", 86400LL * 1000000000LL},
    {"w", 7LL * 86400LL * 1000000000LL},
    {"y", 365LL * 86400LL * 1000000000LL},
};

int noa_config_parse_duration(const char *s, int64_t *ns)
{
    const char *p = s;
    int neg = 0;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    if (strcmp(p, "0") == 0) {
        *ns = 0;
        return 0;
    }
    if (!*p)
        return NOA_EINVAL;
    double total = 0;
    while (*p) {
        /* A number: digits with an optional fraction (Go allows ".5s"). */
        const char *num = p;
        while ((*p >= '0' && *p <= '9') || *p == '.')
            p++;
        if (p == num || (p - num == 1 && *num == '.'))
            return NOA_EINVAL;
        char buf[64];
        if ((size_t)(p - num) >= sizeof(buf))
            return NOA_EINVAL;
        memcpy(buf, num, (size_t)(p - num));
        buf[p - num] = '\0';
        if (strchr(buf, '.') != strrchr(buf, '.'))
            return NOA_EINVAL;
        double v = strtod(buf, NULL);
        /* The longest unit name that matches ("ms" before "m"). */
        const struct unit *best = NULL;
        size_t best_len = 0;
        for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
            size_t n = strlen(duration_units[i].name);
            if (n > best_len && strncmp(p, duration_units[i].name, n) == 0) {
                best = &duration_units[i];
                best_len = n;
            }
        }
        if (!best)
            return NOA_EINVAL; /* missing or unknown unit */
        p += best_len;
        total += v * (double)best->ns;
        if (total > 9.2e18)
            return NOA_EINVAL;
    }
    *ns = (int64_t)llround(total) * (neg ? -1 : 1);
    return 0;
}

static const struct unit byte_units[] = {
    {"", 1LL},           {"b", 1LL},          {"byte", 1LL},          {"bytes", 1LL},
    {"k", 1LL << 10},    {"kb", 1LL << 10},   {"kib", 1LL << 10},     {"kilo", 1LL << 10},
    {"kilobyte", 1LL << 10}, {"kilobytes", 1LL << 10},
    {"m", 1LL << 20},    {"mb", 1LL << 20},   {"mib", 1LL << 20},     {"mega", 1LL << 20},
    {"megabyte", 1LL << 20}, {"megabytes", 1LL << 20},
    {"g", 1LL << 30},    {"gb", 1LL << 30},   {"gib", 1LL << 30},     {"giga", 1LL << 30},
    {"gigabyte", 1LL << 30}, {"gigabytes", 1LL << 30},
    {"t", 1LL << 40},    {"tb", 1LL << 40},   {"tib", 1LL << 40},     {"tera", 1LL << 40},
    {"terabyte", 1LL << 40}, {"terabytes", 1LL << 40},
    {"p", 1LL << 50},    {"pb", 1LL << 50},   {"pib", 1LL << 50},     {"peta", 1LL << 50},
    {"petabyte", 1LL << 50}, {"petabytes", 1LL << 50},
    {"e", 1LL << 60},    {"eb", 1LL << 60},   {"eib", 1LL << 60},     {"exa", 1LL << 60},
    {"exabyte", 1LL << 60},  {"exabytes", 1LL << 60},
};

int noa_config_parse_bytes(const char *s, int64_t *bytes)
{
    const char *p = s;
    while (*p == ' ')
        p++;
    const char *num = p;
    while ((*p >= '0' && *p <= '9') || *p == '.')
        p++;
    size_t nlen = (size_t)(p - num);
    char buf[64];
    if (nlen == 0 || nlen >= sizeof(buf))
        return NOA_EINVAL;
    memcpy(buf, num, nlen);
    buf[nlen] = '\0';
    if (strchr(buf, '.') != strrchr(buf, '.') || buf[0] == '.' || buf[nlen - 1] == '.')
        return NOA_EINVAL;
    while (*p == ' ')
        p++;
    char unit[16];
    size_t ulen = strlen(p);
    while (ulen && p[ulen - 1] == ' ')
        ulen--;
    if (ulen >= sizeof(unit))
        return NOA_EINVAL;
    for (size_t i = 0; i < ulen; i++)
        unit[i] = (char)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] - 'A' + 'a' : p[i]);
    unit[ulen] = '\0';
    for (size_t i = 0; i < sizeof(byte_units) / sizeof(byte_units[0]); i++) {
        if (strcmp(unit, byte_units[i].name) != 0)
            continue;
        int64_t mult = byte_units[i].ns;
        if (!strchr(buf, '.')) {
            errno = 0;
            unsigned long long v = strtoull(buf, NULL, 10);
            if (errno == ERANGE || v > (unsigned long long)INT64_MAX / (unsigned long long)mult)
                return NOA_EINVAL;
            *bytes = (int64_t)v * mult;
            return 0;
        }
        double v = strtod(buf, NULL) * (double)mult;
        if (!(v < 9.2e18))
            return NOA_EINVAL;
        *bytes = (int64_t)llround(v);
        return 0;
    }
    return NOA_EINVAL;
}

/* Appends "<int>.<frac>" with trailing zeros removed; frac has `digits` digits. */
static void put_fixed(struct noa_buf *out, uint64_t whole, uint64_t frac, int digits)
{
    noa_buf_printf(out, "%llu", (unsigned long long)whole);
    if (!frac)
        return;
    char f[24];
    snprintf(f, sizeof(f), "%0*llu", digits, (unsigned long long)frac);
    size_t n = strlen(f);
    while (n && f[n - 1] == '0')
        n--;
    noa_buf_putc(out, '.');
    noa_buf_append(out, f, n);
}

void noa_config_format_duration(struct noa_buf *out, int64_t ns)
{
    if (ns == 0) {
        noa_buf_append(out, "0s", 2);
        return;
    }
    uint64_t u = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    if (ns < 0)
        noa_buf_putc(out, '-');
    if (u < 1000ULL) {
        noa_buf_printf(out, "%lluns", (unsigned long long)u);
    } else if (u < 1000000ULL) {
        put_fixed(out, u / 1000, u % 1000, 3);
        noa_buf_append(out, "\xc2\xb5s", 3);
    } else if (u < 1000000000ULL) {
        put_fixed(out, u / 1000000, u % 1000000, 6);
        noa_buf_append(out, "ms", 2);
    } else {
        uint64_t secs = u / 1000000000ULL, frac = u % 1000000000ULL;
        uint64_t h = secs / 3600, m = secs / 60 % 60, s = secs % 60;
        if (h)
            noa_buf_printf(out, "%lluh", (unsigned long long)h);
        if (h || m)
            noa_buf_printf(out, "%llum", (unsigned long long)m);
        put_fixed(out, s, frac, 9);
        noa_buf_putc(out, 's');
    }
}

void noa_config_format_mduration(struct noa_buf *out, int64_t ns)
{
    int64_t ms = ns / 1000000;
    if (ms == 0) {
        noa_buf_append(out, "0s", 2);
        return;
    }
    if (ms < 0) {
        noa_buf_putc(out, '-');
        ms = -ms;
    }
    static const struct {
        const char *name;
        int64_t ms;
        int exact; /* years and weeks only when they divide evenly: 90d reads better than 12w6d */
    } units[] = {
        {"y", 365LL * 86400000LL, 1}, {"w", 7LL * 86400000LL, 1}, {"d", 86400000LL, 0},
        {"h", 3600000LL, 0},          {"m", 60000LL, 0},          {"s", 1000LL, 0},
        {"ms", 1LL, 0},
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (units[i].exact && ms % units[i].ms != 0)
            continue;
        int64_t v = ms / units[i].ms;
        if (v > 0) {
            noa_buf_printf(out, "%lld%s", (long long)v, units[i].name);
            ms -= v * units[i].ms;
        }
    }
}

void noa_config_format_bytes(struct noa_buf *out, int64_t bytes)
{
    static const char *const names[] = {"EB", "PB", "TB", "GB", "MB", "KB"};
    if (bytes == 0) {
        noa_buf_append(out, "0B", 2);
        return;
    }
    for (int i = 0; i < 6 && bytes > 0; i++) {
        int64_t unit = 1LL << (10 * (6 - i));
        if (bytes % unit == 0) {
            noa_buf_printf(out, "%lld%s", (long long)(bytes / unit), names[i]);
            return;
        }
    }
    noa_buf_printf(out, "%lldB", (long long)bytes);
}

/* ---- setting values from text ------------------------------------------------- */

static void strings_free(struct noa_config_strings *l)
{
    for (int i = 0; i < l->n; i++)
        noa_free(l->v[i]);
    noa_free(l->v);
    l->v = NULL;
    l->n = 0;
}

static void strings_push(struct noa_config_strings *l, const char *s, size_t n)
{
    l->v = noa_xrealloc(l->v, (size_t)(l->n + 1) * sizeof(char *));
    l->v[l->n++] = noa_xstrndup(s, n);
}

/* Splits "a, b,c" on commas, trimming spaces; "" gives an empty list. */
static void strings_from_csv(struct noa_config_strings *l, const char *s)
{
    while (s && *s) {
        const char *comma = strchr(s, ',');
        const char *end = comma ? comma : s + strlen(s);
        const char *a = s, *b = end;
        while (a < b && *a == ' ')
            a++;
        while (b > a && b[-1] == ' ')
            b--;
        if (b > a)
            strings_push(l, a, (size_t)(b - a));
        s = comma ? comma + 1 : end;
    }
}

static int check_choice(const struct noa_config_entry *e, const char *v, const char **why)
{
    if (!e->choices)
        return 0;
    for (const char *const *c = e->choices; *c; c++)
        if (strcmp(*c, v) == 0)
            return 0;
    *why = "not one of the allowed values";
    return NOA_EINVAL;
}

static int parse_go_bool(const char *s, int *out)
{
    static const char *const t[] = {"1", "t", "T", "true", "TRUE", "True", NULL};
    static const char *const f[] = {"0", "f", "F", "false", "FALSE", "False", NULL};
    for (int i = 0; t[i]; i++)
        if (strcmp(s, t[i]) == 0)
            return *out = 1, 0;
    for (int i = 0; f[i]; i++)
        if (strcmp(s, f[i]) == 0)
            return *out = 0, 0;
    return NOA_EINVAL;
}

/* Parses text into *dst for entry e (the value a flag or a default gives).
 * Frees what dst held for strings and lists. */
static int set_from_text(const struct noa_config_entry *e, void *dst, const char *text,
                         const char **why)
{
    *why = "invalid syntax";
    text = text ? text : "";
    switch (e->type) {
    case NOA_CONFIG_STRING:
        if (check_choice(e, text, why))
            return NOA_EINVAL;
        noa_free(*(char **)dst);
        *(char **)dst = noa_xstrdup(text);
        return 0;
    case NOA_CONFIG_BOOL:
        if (!*text)
            return *(int *)dst = 0, 0;
        return parse_go_bool(text, (int *)dst);
    case NOA_CONFIG_INT:
    case NOA_CONFIG_INT64: {
        if (!*text)
            text = "0";
        char *end;
        errno = 0;
        long long v = strtoll(text, &end, 0);
        if (end == text || *end || errno == ERANGE)
            return NOA_EINVAL;
        if (e->type == NOA_CONFIG_INT) {
            if (v < INT_MIN || v > INT_MAX) {
                *why = "value out of range";
                return NOA_EINVAL;
            }
            *(int *)dst = (int)v;
        } else {
            *(int64_t *)dst = v;
        }
        return 0;
    }
    case NOA_CONFIG_FLOAT: {
        if (!*text)
            text = "0";
        char *end;
        double v = strtod(text, &end);
        if (end == text || *end)
            return NOA_EINVAL;
        *(double *)dst = v;
        return 0;
    }
    case NOA_CONFIG_DURATION:
    case NOA_CONFIG_MDURATION:
        *why = "not a duration (e.g. 30s, 5m, 1h30m, 1d)";
        if (!*text)
            return *(int64_t *)dst = 0, 0;
        return noa_config_parse_duration(text, (int64_t *)dst);
    case NOA_CONFIG_BYTES:
        *why = "not a size (e.g. 1048576, 256KB, 4MB, 1GiB)";
        if (!*text)
            return *(int64_t *)dst = 0, 0;
        return noa_config_parse_bytes(text, (int64_t *)dst);
    case NOA_CONFIG_STRINGS:
        strings_free((struct noa_config_strings *)dst);
        strings_from_csv((struct noa_config_strings *)dst, text);
        return 0;
    default:
        *why = "a block cannot be set from text";
        return NOA_EINVAL;
    }
}

static void release(const struct noa_config_entry *e, void *p)
{
    if (e->type == NOA_CONFIG_STRING) {
        noa_free(*(char **)p);
        *(char **)p = NULL;
    } else if (e->type == NOA_CONFIG_STRINGS) {
        strings_free((struct noa_config_strings *)p);
    }
}

int noa_config_set(const struct noa_config_entry *e, void *obj, const char *value,
                   struct noa_error *err)
{
    union value tmp = {0};
    const char *why;
    const char *name = e->flag ? e->flag : e->path;
    int rc = set_from_text(e, field_ptr(e, obj, &tmp), value, &why);
    if (rc)
        noa_error_set(err, NOA_EINVAL, "invalid value \"%s\" for flag -%s: %s", value, name, why);
    if (e->flags & NOA_CONFIG_NOFIELD)
        release(e, &tmp);
    return rc;
}

/* ---- table lookups and checks ---------------------------------------------------- */

const struct noa_config_entry *noa_config_find_flag(const struct noa_config_table *t,
                                                    const char *flag)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->entries[i].flag && strcmp(t->entries[i].flag, flag) == 0)
            return &t->entries[i];
    return NULL;
}

const struct noa_config_entry *noa_config_find_path(const struct noa_config_table *t,
                                                    const char *path)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->entries[i].path && strcmp(t->entries[i].path, path) == 0)
            return &t->entries[i];
    return NULL;
}

/* Length of the parent part of a path ("a.b.c" -> 3), 0 for top level. */
static size_t parent_len(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot ? (size_t)(dot - path) : 0;
}

int noa_config_check_table(const struct noa_config_table *t, struct noa_error *err)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct noa_config_entry *e = &t->entries[i];
        if (!e->path && !e->flag)
            return noa_error_set(err, NOA_EINVAL, "entry %zu has neither path nor flag", i);
        if (e->path) {
            size_t pl = parent_len(e->path);
            if (pl) {
                /* The parent must be a BLOCK declared earlier, and every entry
                 * between it and this one must lie inside it (contiguity). */
                size_t j = i;
                while (j > 0) {
                    const struct noa_config_entry *q = &t->entries[--j];
                    if (!q->path)
                        continue;
                    if (strlen(q->path) == pl && strncmp(q->path, e->path, pl) == 0)
                        break;
                    if (strncmp(q->path, e->path, pl) != 0 || q->path[pl] != '.')
                        return noa_error_set(err, NOA_EINVAL,
                                             "%s: parent block not declared or not contiguous",
                                             e->path);
                }
                const struct noa_config_entry *parent = &t->entries[j];
                if (!parent->path || strlen(parent->path) != pl ||
                    strncmp(parent->path, e->path, pl) != 0 || parent->type != NOA_CONFIG_BLOCK)
                    return noa_error_set(err, NOA_EINVAL, "%s: parent is not a block", e->path);
            }
            for (size_t j = 0; j < i; j++)
                if (t->entries[j].path && strcmp(t->entries[j].path, e->path) == 0)
                    return noa_error_set(err, NOA_EINVAL, "%s: duplicate path", e->path);
        }
        if (e->type == NOA_CONFIG_BLOCK && !e->type_name)
            return noa_error_set(err, NOA_EINVAL, "%s: block without type_name", e->path);
        if (e->flag)
            for (size_t j = 0; j < i; j++)
                if (t->entries[j].flag && strcmp(t->entries[j].flag, e->flag) == 0)
                    return noa_error_set(err, NOA_EINVAL, "-%s: duplicate flag", e->flag);
        if (!e->desc || !*e->desc)
            return noa_error_set(err, NOA_EINVAL, "%s: no description",
                                 e->path ? e->path : e->flag);
        if (is_leaf(e)) {
            union value tmp = {0};
            const char *why;
            if (set_from_text(e, &tmp, e->def, &why) != 0)
                return noa_error_set(err, NOA_EINVAL, "%s: default \"%s\": %s",
                                     e->path ? e->path : e->flag, e->def, why);
            release(e, &tmp);
        }
    }
    return 0;
}

/* ---- defaults and fini -------------------------------------------------------------- */

void noa_config_defaults(const struct noa_config_table *t, void *obj)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct noa_config_entry *e = &t->entries[i];
        if (!is_leaf(e) || (e->flags & NOA_CONFIG_NOFIELD))
            continue;
        const char *why;
        if (set_from_text(e, (char *)obj + e->offset, e->def, &why) != 0) {
            noa_log(NOA_LOG_ERROR, "config", "msg=\"bad default in config table\" key=%s",
                    e->path ? e->path : e->flag);
            abort();
        }
    }
}

void noa_config_fini(const struct noa_config_table *t, void *obj)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct noa_config_entry *e = &t->entries[i];
        if (is_leaf(e) && !(e->flags & NOA_CONFIG_NOFIELD))
            release(e, (char *)obj + e->offset);
    }
}

/* ---- applying YAML ---------------------------------------------------------------- */

static int type_error(struct noa_error *err, const struct noa_config_entry *e,
                      const struct noa_yaml_node *v, const char *detail)
{
    if (v->kind == NOA_YAML_SCALAR)
        return noa_yaml_error(err, v, "cannot unmarshal %s `%.*s` into %s (%s)%s%s",
                              noa_yaml_type_name(v), (int)(v->len > 64 ? 64 : v->len), v->str,
                              type_word(e->type), e->path, detail ? ": " : "",
                              detail ? detail : "");
    return noa_yaml_error(err, v, "cannot unmarshal %s into %s (%s)", noa_yaml_type_name(v),
                          type_word(e->type), e->path);
}

static int apply_strings(const struct noa_config_entry *e, struct noa_config_strings *l,
                         const struct noa_yaml_node *v, struct noa_error *err)
{
    strings_free(l);
    if (noa_yaml_is_null(v))
        return 0;
    if (v->kind == NOA_YAML_SCALAR) {
        /* Loki's CSV list types accept "a,b"; a plain list wants a sequence,
         * but taking the string form too costs nothing. */
        strings_from_csv(l, v->str);
        return 0;
    }
    if (v->kind != NOA_YAML_SEQ)
        return type_error(err, e, v, NULL);
    for (size_t i = 0; i < v->n; i++) {
        const struct noa_yaml_node *it = v->items[i];
        if (it->kind != NOA_YAML_SCALAR)
            return noa_yaml_error(err, it, "cannot unmarshal %s into string (%s)",
                                  noa_yaml_type_name(it), e->path);
        strings_push(l, it->str, it->len);
    }
    return 0;
}

static int apply_leaf(const struct noa_config_entry *e, void *dst, const struct noa_yaml_node *v,
                      struct noa_error *err)
{
    if (e->type == NOA_CONFIG_STRINGS)
        return apply_strings(e, dst, v, err);
    if (v->kind != NOA_YAML_SCALAR)
        return type_error(err, e, v, NULL);
    int null = noa_yaml_is_null(v);
    int64_t i64;
    const char *why = NULL;
    switch (e->type) {
    case NOA_CONFIG_STRING:
        if (memchr(v->str, '\0', v->len))
            return type_error(err, e, v, "contains a NUL byte");
        if (!null && check_choice(e, v->str, &why))
            return type_error(err, e, v, why);
        noa_free(*(char **)dst);
        *(char **)dst = noa_xstrdup(null ? "" : v->str);
        return 0;
    case NOA_CONFIG_BOOL:
        if (null)
            return *(int *)dst = 0, 0;
        return noa_yaml_bool(v, (int *)dst) ? type_error(err, e, v, NULL) : 0;
    case NOA_CONFIG_INT:
        if (null)
            return *(int *)dst = 0, 0;
        if (noa_yaml_int64(v, &i64) || i64 < INT_MIN || i64 > INT_MAX)
            return type_error(err, e, v, NULL);
        *(int *)dst = (int)i64;
        return 0;
    case NOA_CONFIG_INT64:
        if (null)
            return *(int64_t *)dst = 0, 0;
        return noa_yaml_int64(v, (int64_t *)dst) ? type_error(err, e, v, NULL) : 0;
    case NOA_CONFIG_FLOAT:
        if (null)
            return *(double *)dst = 0, 0;
        return noa_yaml_double(v, (double *)dst) ? type_error(err, e, v, NULL) : 0;
    case NOA_CONFIG_DURATION:
    case NOA_CONFIG_MDURATION:
    case NOA_CONFIG_BYTES:
        if (null)
            return *(int64_t *)dst = 0, 0;
        if (memchr(v->str, '\0', v->len) || set_from_text(e, dst, v->str, &why) != 0)
            return type_error(err, e, v, why);
        return 0;
    default:
        return type_error(err, e, v, NULL);
    }
}

static int apply_map(const struct noa_config_table *t, void *obj, const struct noa_yaml_node *m,
                     const char *prefix, const char *type_name, struct noa_error *err)
{
    char path[MAX_PATH];
    for (size_t i = 0; i < m->n; i++) {
        const struct noa_yaml_node *k = m->pairs[i].key, *v = m->pairs[i].value;
        const struct noa_config_entry *e = NULL;
        int n = *prefix ? snprintf(path, sizeof(path), "%s.%s", prefix, k->str)
                        : snprintf(path, sizeof(path), "%s", k->str);
        /* A dot in a key would address a nested path; such keys never exist. */
        if (n > 0 && (size_t)n < sizeof(path) && k->len && !memchr(k->str, '.', k->len) &&
            !memchr(k->str, '\0', k->len))
            e = noa_config_find_path(t, path);
        if (!e)
            return noa_yaml_error(err, k, "field %.*s not found in type %s",
                                  (int)(k->len > 100 ? 100 : k->len), k->str, type_name);
        if (e->type == NOA_CONFIG_IGNORED) {
            noa_log(NOA_LOG_WARN, "config",
                    "msg=\"configuration not implemented by noa, ignored\" key=%s file=%s "
                    "line=%d",
                    e->path, k->file, k->line);
            continue;
        }
        if (e->type == NOA_CONFIG_RAW)
            continue;
        if (e->type == NOA_CONFIG_BLOCK) {
            if (noa_yaml_is_null(v))
                continue;
            if (v->kind != NOA_YAML_MAP)
                return noa_yaml_error(err, v, "cannot unmarshal %s into %s",
                                      noa_yaml_type_name(v), e->type_name);
            int rc = apply_map(t, obj, v, e->path, e->type_name, err);
            if (rc)
                return rc;
            continue;
        }
        union value tmp = {0};
        int rc = apply_leaf(e, field_ptr(e, obj, &tmp), v, err);
        if (e->flags & NOA_CONFIG_NOFIELD)
            release(e, &tmp);
        if (rc)
            return rc;
    }
    return 0;
}

int noa_config_apply(const struct noa_config_table *t, void *obj,
                     const struct noa_yaml_node *root, struct noa_error *err)
{
    if (noa_yaml_is_null(root))
        return 0;
    if (root->kind != NOA_YAML_MAP)
        return noa_yaml_error(err, root, "cannot unmarshal %s into %s", noa_yaml_type_name(root),
                              t->type_name);
    return apply_map(t, obj, root, "", t->type_name, err);
}

/* ---- formatting values ------------------------------------------------------------ */

static void put_default(struct noa_buf *out, const struct noa_config_entry *e);

/* A string as a YAML scalar: plain when it reads back as the same string,
 * double-quoted (JSON escapes, which YAML accepts) otherwise. */
static void put_yaml_string(struct noa_buf *out, const char *s)
{
    size_t n = strlen(s);
    int plain = n > 0 && !strchr("-?:,[]{}#&*!|>'\"%@` ", s[0]) && s[n - 1] != ' ' &&
                !strstr(s, ": ") && !strstr(s, " #") && s[n - 1] != ':';
    for (size_t i = 0; plain && i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            plain = 0;
    if (plain) {
        struct noa_yaml_node probe = {.kind = NOA_YAML_SCALAR, .str = s, .len = n};
        plain = strcmp(noa_yaml_type_name(&probe), "!!str") == 0;
    }
    if (plain)
        noa_buf_append(out, s, n);
    else
        noa_buf_put_json_str(out, s, n);
}

/* Appends the value at p as YAML text (lists as a flow sequence). */
static void put_value(struct noa_buf *out, const struct noa_config_entry *e, const void *p)
{
    switch (e->type) {
    case NOA_CONFIG_STRING: put_yaml_string(out, *(char *const *)p ? *(char *const *)p : ""); break;
    case NOA_CONFIG_BOOL: noa_buf_printf(out, "%s", *(const int *)p ? "true" : "false"); break;
    case NOA_CONFIG_INT: noa_buf_printf(out, "%d", *(const int *)p); break;
    case NOA_CONFIG_INT64: noa_buf_printf(out, "%lld", (long long)*(const int64_t *)p); break;
    case NOA_CONFIG_FLOAT: noa_metrics_format_double(out, *(const double *)p); break;
    case NOA_CONFIG_DURATION: noa_config_format_duration(out, *(const int64_t *)p); break;
    case NOA_CONFIG_MDURATION: noa_config_format_mduration(out, *(const int64_t *)p); break;
    case NOA_CONFIG_BYTES: noa_config_format_bytes(out, *(const int64_t *)p); break;
    case NOA_CONFIG_STRINGS: {
        const struct noa_config_strings *l = p;
        noa_buf_putc(out, '[');
        for (int i = 0; i < l->n; i++) {
            if (i)
                noa_buf_append(out, ", ", 2);
            put_yaml_string(out, l->v[i]);
        }
        noa_buf_putc(out, ']');
        break;
    }
    default: break;
    }
}

/* The default as help and the reference show it: strings always quoted, as
 * Go's flag usage and Loki's reference do. */
static void put_default_doc(struct noa_buf *out, const struct noa_config_entry *e)
{
    if (e->type == NOA_CONFIG_STRING) {
        const char *d = e->def ? e->def : "";
        noa_buf_put_json_str(out, d, strlen(d));
        return;
    }
    put_default(out, e);
}

/* The default of e formatted as put_value would write it. */
static void put_default(struct noa_buf *out, const struct noa_config_entry *e)
{
    union value tmp = {0};
    const char *why;
    if (set_from_text(e, &tmp, e->def, &why) == 0)
        put_value(out, e, &tmp);
    release(e, &tmp);
}

/* ---- the YAML dump -------------------------------------------------------------------- */

struct dump_state {
    char open[16][128]; /* segments of the blocks whose headers are written */
    int depth;
};

static void indent(struct noa_buf *out, int depth)
{
    for (int i = 0; i < depth; i++)
        noa_buf_append(out, "  ", 2);
}

/* Writes the block headers leading to path and returns the leaf key. */
static const char *open_blocks(struct dump_state *st, struct noa_buf *out, const char *path)
{
    const char *seg = path;
    int d = 0;
    const char *dot;
    while ((dot = strchr(seg, '.')) && d < 16) {
        size_t n = (size_t)(dot - seg);
        if (n >= sizeof(st->open[0]))
            n = sizeof(st->open[0]) - 1;
        if (d < st->depth && strlen(st->open[d]) == n && strncmp(st->open[d], seg, n) == 0) {
            d++;
            seg = dot + 1;
            continue;
        }
        st->depth = d; /* leave deeper blocks: table order keeps blocks contiguous */
        memcpy(st->open[d], seg, n);
        st->open[d][n] = '\0';
        indent(out, d);
        noa_buf_printf(out, "%s:\n", st->open[d]);
        st->depth = ++d;
        seg = dot + 1;
    }
    st->depth = d;
    return seg;
}

void noa_config_dump(const struct noa_config_table *t, const void *obj,
                     enum noa_config_dump_mode mode, struct noa_buf *out)
{
    struct dump_state st = {.depth = 0};
    struct noa_buf val = {0}, def = {0};
    for (size_t i = 0; i < t->n; i++) {
        const struct noa_config_entry *e = &t->entries[i];
        if (!e->path || !is_leaf(e) || (e->flags & NOA_CONFIG_NOFIELD))
            continue;
        noa_buf_reset(&val);
        noa_buf_reset(&def);
        if (mode == NOA_CONFIG_DUMP_DEFAULTS) {
            put_default(&val, e);
        } else {
            put_value(&val, e, (const char *)obj + e->offset);
            if (mode == NOA_CONFIG_DUMP_DIFFS) {
                put_default(&def, e);
                if (val.len == def.len && memcmp(val.data, def.data, val.len) == 0)
                    continue;
            }
        }
        const char *leaf = open_blocks(&st, out, e->path);
        indent(out, st.depth);
        noa_buf_printf(out, "%s: ", leaf);
        noa_buf_append(out, val.data, val.len);
        noa_buf_putc(out, '\n');
    }
    noa_buf_fini(&val);
    noa_buf_fini(&def);
}

/* ---- --help ------------------------------------------------------------------------ */

static int entry_flag_cmp(const void *a, const void *b)
{
    const struct noa_config_entry *x = *(const struct noa_config_entry *const *)a;
    const struct noa_config_entry *y = *(const struct noa_config_entry *const *)b;
    return strcmp(x->flag, y->flag);
}

static const char *flag_type_word(enum noa_config_type t)
{
    switch (t) {
    case NOA_CONFIG_BOOL: return NULL;
    case NOA_CONFIG_INT:
    case NOA_CONFIG_INT64: return "int";
    case NOA_CONFIG_FLOAT: return "float";
    case NOA_CONFIG_DURATION:
    case NOA_CONFIG_MDURATION: return "duration";
    case NOA_CONFIG_BYTES: return "bytes";
    case NOA_CONFIG_STRINGS: return "list";
    default: return "string";
    }
}

void noa_config_help(const struct noa_config_table *t, struct noa_buf *out)
{
    size_t n = 0;
    const struct noa_config_entry **v = noa_xmalloc((t->n ? t->n : 1) * sizeof(*v));
    for (size_t i = 0; i < t->n; i++)
        if (t->entries[i].flag && !(t->entries[i].flags & NOA_CONFIG_HIDDEN))
            v[n++] = &t->entries[i];
    qsort(v, n, sizeof(*v), entry_flag_cmp);
    struct noa_buf d = {0};
    for (size_t i = 0; i < n; i++) {
        const struct noa_config_entry *e = v[i];
        const char *tw = flag_type_word(e->type);
        noa_buf_printf(out, "  -%s%s%s\n    \t%s", e->flag, tw ? " " : "", tw ? tw : "",
                       e->desc);
        if (e->flags & NOA_CONFIG_UNENFORCED)
            noa_buf_printf(out, " (accepted, not enforced by noa yet)");
        noa_buf_reset(&d);
        put_default_doc(&d, e);
        noa_buf_cstr(&d);
        int zero = d.len == 0 || strcmp(d.data, "false") == 0 || strcmp(d.data, "0") == 0 ||
                   strcmp(d.data, "\"\"") == 0 || strcmp(d.data, "[]") == 0 ||
                   strcmp(d.data, "0s") == 0 || strcmp(d.data, "0B") == 0;
        if (!zero)
            noa_buf_printf(out, " (default %s)", d.data);
        noa_buf_putc(out, '\n');
    }
    noa_buf_fini(&d);
    noa_free(v);
}

/* ---- Markdown reference ---------------------------------------------------------------- */

static const char *doc_type(enum noa_config_type t)
{
    switch (t) {
    case NOA_CONFIG_STRING: return "<string>";
    case NOA_CONFIG_BOOL: return "<boolean>";
    case NOA_CONFIG_INT:
    case NOA_CONFIG_INT64:
    case NOA_CONFIG_BYTES: return "<int>";
    case NOA_CONFIG_FLOAT: return "<float>";
    case NOA_CONFIG_DURATION:
    case NOA_CONFIG_MDURATION: return "<duration>";
    case NOA_CONFIG_STRINGS: return "<list of strings>";
    default: return "<block>";
    }
}

/* Writes desc as "# " comment lines wrapped near 80 columns. */
static void put_comment(struct noa_buf *out, int depth, const char *desc)
{
    const char *p = desc;
    while (*p) {
        int room = 78 - depth * 2;
        size_t n = strlen(p);
        if ((int)n > room) {
            n = (size_t)room;
            while (n > 10 && p[n] != ' ')
                n--;
        }
        indent(out, depth);
        noa_buf_append(out, "# ", 2);
        noa_buf_append(out, p, n);
        noa_buf_putc(out, '\n');
        p += n;
        while (*p == ' ')
            p++;
    }
}

static int depth_of(const char *path)
{
    int d = 0;
    for (const char *p = path; *p; p++)
        d += *p == '.';
    return d;
}

/* A blank line between entries, but none right under a block's header. */
static void separate(struct noa_buf *out)
{
    if (out->len >= 2 && out->data[out->len - 1] == '\n' && out->data[out->len - 2] == ':')
        return;
    noa_buf_putc(out, '\n');
}

static void markdown_entry(struct noa_buf *out, const struct noa_config_entry *e, int base)
{
    int depth = depth_of(e->path) - base;
    const char *key = strrchr(e->path, '.') ? strrchr(e->path, '.') + 1 : e->path;
    if (e->type == NOA_CONFIG_BLOCK) {
        separate(out);
        put_comment(out, depth, e->desc);
        indent(out, depth);
        noa_buf_printf(out, "%s:\n", key);
        return;
    }
    separate(out);
    if (e->type == NOA_CONFIG_IGNORED) {
        put_comment(out, depth, e->desc);
        put_comment(out, depth, "Accepted for compatibility with Loki and ignored by noa "
                                "(one warning at start-up).");
        indent(out, depth);
        noa_buf_printf(out, "[%s: <ignored>]\n", key);
        return;
    }
    put_comment(out, depth, e->desc);
    if (e->type == NOA_CONFIG_RAW) {
        indent(out, depth);
        noa_buf_printf(out, "[%s: <yaml>]\n", key);
        return;
    }
    if (e->flags & NOA_CONFIG_UNENFORCED)
        put_comment(out, depth, "Accepted for compatibility with Loki; not enforced by noa yet.");
    if (e->flag) {
        indent(out, depth);
        noa_buf_printf(out, "# CLI flag: -%s\n", e->flag);
    }
    indent(out, depth);
    noa_buf_printf(out, "[%s: %s | default = ", key, doc_type(e->type));
    if (e->type == NOA_CONFIG_DURATION) {
        /* The short form reads better in a reference than Go's "1h0m0s". */
        union value tmp = {0};
        const char *why;
        if (set_from_text(e, &tmp, e->def, &why) == 0)
            noa_config_format_mduration(out, tmp.l);
    } else {
        put_default_doc(out, e);
    }
    noa_buf_append(out, "]\n", 2);
}

void noa_config_markdown(const struct noa_config_table *t, struct noa_buf *out)
{
    /* Top-level keys first, in one section, as Loki's reference does. */
    noa_buf_printf(out, "### Top level (`%s`)\n\n```yaml", t->type_name);
    for (size_t i = 0; i < t->n; i++) {
        const struct noa_config_entry *e = &t->entries[i];
        if (!e->path || strchr(e->path, '.') || (e->flags & NOA_CONFIG_HIDDEN))
            continue;
        if (e->type == NOA_CONFIG_BLOCK) {
            noa_buf_putc(out, '\n');
            put_comment(out, 0, e->desc);
            noa_buf_printf(out, "[%s: <%s>]\n", e->path, e->path);
            continue;
        }
        markdown_entry(out, e, 0);
    }
    noa_buf_append(out, "```\n", 4);
    /* Then one section per top-level block with everything under it. */
    for (size_t i = 0; i < t->n; i++) {
        const struct noa_config_entry *b = &t->entries[i];
        if (!b->path || strchr(b->path, '.') || b->type != NOA_CONFIG_BLOCK ||
            (b->flags & NOA_CONFIG_HIDDEN))
            continue;
        noa_buf_printf(out, "\n### %s\n\n%s\n\n```yaml", b->path, b->desc);
        size_t pl = strlen(b->path);
        for (size_t j = i + 1; j < t->n; j++) {
            const struct noa_config_entry *e = &t->entries[j];
            if (!e->path)
                continue;
            if (strncmp(e->path, b->path, pl) != 0 || e->path[pl] != '.')
                break;
            if (!(e->flags & NOA_CONFIG_HIDDEN))
                markdown_entry(out, e, 1);
        }
        noa_buf_append(out, "```\n", 4);
    }
}
