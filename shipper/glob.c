/*
 * Promtail/doublestar path globs (see glob.h): brace alternatives are
 * expanded when the pattern is compiled, so matching and walking only ever
 * see brace-free patterns. Owns the compiled alternatives. Pure; any
 * thread.
 */
#include "shipper/glob.h"

#include "common/buf.h"
#include "common/mem.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

struct noa_glob {
    char *pattern;
    char **alts; /* brace-free patterns, "**" runs collapsed */
    size_t n_alts;
    int literal;
};

/* ---- compiling -------------------------------------------------------------- */

static int is_meta(char c)
{
    return c == '*' || c == '?' || c == '[' || c == '{' || c == '\\';
}

/* Index of the '}' closing the '{' at s[i], or -1. */
static long brace_end(const char *s, size_t n, size_t i)
{
    int depth = 0;
    for (size_t k = i; k < n; k++) {
        if (s[k] == '\\') {
            k++;
            continue;
        }
        if (s[k] == '[') {
            /* a class may hold braces: skip it */
            size_t j = k + 1;
            if (j < n && (s[j] == '!' || s[j] == '^'))
                j++;
            if (j < n && s[j] == ']')
                j++;
            while (j < n && s[j] != ']')
                j++;
            if (j < n)
                k = j;
            continue;
        }
        if (s[k] == '{')
            depth++;
        else if (s[k] == '}' && --depth == 0)
            return (long)k;
    }
    return -1;
}

/* Collapses "**" "/" "**" runs so a walk never visits a tree twice. */
static void collapse_stars(char *s)
{
    char *p;
    while ((p = strstr(s, "**/**")) != NULL) {
        int start_ok = p == s || p[-1] == '/';
        int end_ok = p[5] == '\0' || p[5] == '/';
        if (!start_ok || !end_ok)
            break;
        memmove(p, p + 3, strlen(p + 3) + 1);
    }
}

static int add_alt(struct noa_glob *g, const char *s, size_t n, struct noa_error *err)
{
    if (g->n_alts >= NOA_GLOB_MAX_ALTS)
        return noa_error_set(err, NOA_EINVAL, "glob %s: more than %d brace alternatives",
                             g->pattern, NOA_GLOB_MAX_ALTS);
    if (g->n_alts % 8 == 0)
        g->alts = noa_xrealloc(g->alts, (g->n_alts + 8) * sizeof(*g->alts));
    char *a = noa_xstrndup(s, n);
    collapse_stars(a);
    g->alts[g->n_alts++] = a;
    return 0;
}

/* Expands the first brace group of s[0..n) and recurses on each choice. */
static int expand_braces(struct noa_glob *g, const char *s, size_t n, struct noa_error *err,
                         int depth)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (s[i] == '\\') {
            i++;
            continue;
        }
        if (s[i] == '[') {
            size_t j = i + 1;
            if (j < n && (s[j] == '!' || s[j] == '^'))
                j++;
            if (j < n && s[j] == ']')
                j++;
            while (j < n && s[j] != ']')
                j++;
            if (j >= n)
                return noa_error_set(err, NOA_EINVAL, "glob %s: unclosed '['", g->pattern);
            i = j;
            continue;
        }
        if (s[i] == '{')
            break;
        if (s[i] == '}')
            return noa_error_set(err, NOA_EINVAL, "glob %s: unbalanced '}'", g->pattern);
    }
    if (i >= n)
        return add_alt(g, s, n, err);
    if (depth > 32)
        return noa_error_set(err, NOA_EINVAL, "glob %s: braces nested too deeply", g->pattern);
    long e = brace_end(s, n, i);
    if (e < 0)
        return noa_error_set(err, NOA_EINVAL, "glob %s: unclosed '{'", g->pattern);
    struct noa_buf tmp = {0};
    int rc = 0;
    size_t start = i + 1;
    int inner = 0;
    for (size_t k = i + 1; k <= (size_t)e && rc == 0; k++) {
        if (k < (size_t)e && s[k] == '\\') {
            k++;
            continue;
        }
        if (k < (size_t)e && s[k] == '[') {
            size_t j = k + 1;
            if (j < (size_t)e && (s[j] == '!' || s[j] == '^'))
                j++;
            if (j < (size_t)e && s[j] == ']')
                j++;
            while (j < (size_t)e && s[j] != ']')
                j++;
            k = j;
            continue;
        }
        if (k < (size_t)e && s[k] == '{') {
            inner++;
            continue;
        }
        if (k < (size_t)e && s[k] == '}') {
            inner--;
            continue;
        }
        if (k == (size_t)e || (s[k] == ',' && inner == 0)) {
            noa_buf_reset(&tmp);
            noa_buf_append(&tmp, s, i);
            noa_buf_append(&tmp, s + start, k - start);
            noa_buf_append(&tmp, s + e + 1, n - (size_t)e - 1);
            rc = expand_braces(g, tmp.data, tmp.len, err, depth + 1);
            start = k + 1;
        }
    }
    noa_buf_fini(&tmp);
    return rc;
}

int noa_glob_new(const char *pattern, struct noa_glob **out, struct noa_error *err)
{
    struct noa_glob *g = NULL;
    int rc;
    size_t n = strlen(pattern);
    *out = NULL;
    if (n == 0 || n > NOA_GLOB_MAX_PATTERN) {
        rc = noa_error_set(err, NOA_EINVAL, "glob: pattern empty or longer than %d bytes",
                           NOA_GLOB_MAX_PATTERN);
        goto fail;
    }
    g = noa_xcalloc(1, sizeof(*g));
    g->pattern = noa_xstrdup(pattern);
    g->literal = 1;
    for (size_t i = 0; i < n; i++) {
        if (is_meta(pattern[i]))
            g->literal = 0;
        if (pattern[i] == '\\' && i + 1 == n) {
            rc = noa_error_set(err, NOA_EINVAL, "glob %s: trailing '\\'", pattern);
            goto fail;
        }
    }
    rc = expand_braces(g, pattern, n, err, 0);
    if (rc < 0)
        goto fail;
    *out = g;
    return 0;
fail:
    noa_glob_free(g);
    return rc;
}

void noa_glob_free(struct noa_glob *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n_alts; i++)
        noa_free(g->alts[i]);
    noa_free(g->alts);
    noa_free(g->pattern);
    noa_free(g);
}

const char *noa_glob_pattern(const struct noa_glob *g)
{
    return g->pattern;
}

int noa_glob_is_literal(const struct noa_glob *g)
{
    return g->literal;
}

/* ---- matching ------------------------------------------------------------------ */

/* Matches the class at p (just past '['), c against it; *next gets the
 * position after ']'. */
static int class_match(const char *p, const char *pe, char c, const char **next)
{
    int neg = 0, hit = 0;
    if (p < pe && (*p == '!' || *p == '^')) {
        neg = 1;
        p++;
    }
    int first = 1;
    while (p < pe && (first || *p != ']')) {
        first = 0;
        unsigned char lo = (unsigned char)*p, hi;
        if (*p == '\\' && p + 1 < pe)
            lo = (unsigned char)*++p;
        p++;
        hi = lo;
        if (p + 1 < pe && *p == '-' && p[1] != ']') {
            p++;
            if (*p == '\\' && p + 1 < pe)
                p++;
            hi = (unsigned char)*p++;
        }
        if ((unsigned char)c >= lo && (unsigned char)c <= hi)
            hit = 1;
    }
    *next = p < pe ? p + 1 : pe;
    return c != '/' && hit != neg;
}

/*
 * Matches pattern p..pe (ps: the alternative's start) against s..se. A '*'
 * cannot cross '/', so only the last '*' of the current component needs
 * backtracking (the classic linear wildcard match); a "**" component
 * recurses once per '/' of the path that could start the rest.
 */
static int match_here(const char *ps, const char *p, const char *pe, const char *s, const char *se,
                      long *budget)
{
    const char *star_p = NULL, *star_s = NULL;
    /* Many "**" components over a deep path multiply their tries: a
     * pattern that needs more than the budget is taken as not matching. */
    if (--*budget < 0)
        return 0;
    for (;;) {
        if (p == pe) {
            if (s == se)
                return 1;
            goto mismatch;
        }
        /* "**" as a whole component */
        if (p[0] == '*' && p + 1 < pe && p[1] == '*' && (p == ps || p[-1] == '/') &&
            (p + 2 == pe || p[2] == '/')) {
            if (p + 2 == pe)
                return 1; /* "**" at the end: the rest of the path, whatever it is */
            const char *rest = p + 3;
            for (const char *t = s;;) {
                if (match_here(ps, rest, pe, t, se, budget))
                    return 1;
                t = t < se ? memchr(t, '/', (size_t)(se - t)) : NULL;
                if (!t || *budget < 0)
                    return 0;
                t++;
            }
        }
        if (*p == '*') {
            while (p < pe && *p == '*')
                p++;
            star_p = p;
            star_s = s;
            continue;
        }
        int ok;
        const char *np = p + 1;
        switch (*p) {
        case '?':
            ok = s < se && *s != '/';
            break;
        case '[':
            ok = s < se && class_match(p + 1, pe, *s, &np);
            break;
        case '/':
            /* "a" "/" "**" at the end also matches "a" itself */
            if (s == se && p + 3 == pe && p[1] == '*' && p[2] == '*')
                return 1;
            ok = s < se && *s == '/';
            if (ok)
                star_p = NULL; /* a star cannot reach past this '/' */
            break;
        case '\\':
            if (p + 1 < pe) {
                p++;
                np = p + 1;
            }
            ok = s < se && *s == *p;
            break;
        default:
            ok = s < se && *s == *p;
            break;
        }
        if (ok) {
            p = np;
            s++;
            continue;
        }
    mismatch:
        /* let the last star take one more character, if it can */
        if (!star_p || star_s >= se || *star_s == '/')
            return 0;
        star_s++;
        s = star_s;
        p = star_p;
    }
}

/* Calls of match_here one match may make, over all alternatives: real
 * patterns need a few per "**" and path component; only crafted ones (many
 * "**" over a deep path) reach it, and then do not match. */
#define MATCH_BUDGET (1L << 15)

int noa_glob_match(const struct noa_glob *g, const char *path, size_t len)
{
    long budget = MATCH_BUDGET;
    for (size_t i = 0; i < g->n_alts; i++) {
        const char *alt = g->alts[i];
        if (match_here(alt, alt, alt + strlen(alt), path, path + len, &budget))
            return 1;
    }
    return 0;
}

int noa_glob_match_str(const char *pattern, const char *path)
{
    struct noa_glob *g;
    int rc = noa_glob_new(pattern, &g, NULL);
    if (rc < 0)
        return rc;
    rc = noa_glob_match(g, path, strlen(path));
    noa_glob_free(g);
    return rc;
}

/* ---- expansion ----------------------------------------------------------------- */

struct walk {
    const struct noa_glob *g;
    const struct noa_glob_walk *w;
    size_t alt;          /* alternative being walked */
    struct noa_buf path; /* current path */
    char **seen;         /* reported paths, open addressing */
    size_t seen_cap, seen_n;
};

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* 1 when path was reported before in this walk; else records it. */
static int seen_before(struct walk *wk, const char *path)
{
    if (wk->seen_n * 2 >= wk->seen_cap) {
        size_t ncap = wk->seen_cap ? wk->seen_cap * 2 : 64;
        char **nv = noa_xcalloc(ncap, sizeof(*nv));
        for (size_t i = 0; i < wk->seen_cap; i++) {
            if (!wk->seen[i])
                continue;
            size_t k = str_hash(wk->seen[i]) & (ncap - 1);
            while (nv[k])
                k = (k + 1) & (ncap - 1);
            nv[k] = wk->seen[i];
        }
        noa_free(wk->seen);
        wk->seen = nv;
        wk->seen_cap = ncap;
    }
    size_t k = str_hash(path) & (wk->seen_cap - 1);
    while (wk->seen[k]) {
        if (strcmp(wk->seen[k], path) == 0)
            return 1;
        k = (k + 1) & (wk->seen_cap - 1);
    }
    wk->seen[k] = noa_xstrdup(path);
    wk->seen_n++;
    return 0;
}

static int report_file(struct walk *wk, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || S_ISDIR(st.st_mode))
        return 0;
    if (seen_before(wk, path))
        return 0;
    return wk->w->on_file ? wk->w->on_file(wk->w->ud, path) : 0;
}

static int comp_has_meta(const char *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (c[i] == '*' || c[i] == '?' || c[i] == '[' || c[i] == '\\')
            return 1;
    return 0;
}

static const char *cur_dir(struct walk *wk)
{
    return wk->path.len ? noa_buf_cstr(&wk->path) : ".";
}

static void path_push(struct walk *wk, const char *name, size_t n)
{
    if (wk->path.len && wk->path.data[wk->path.len - 1] != '/')
        noa_buf_putc(&wk->path, '/');
    noa_buf_append(&wk->path, name, n);
    noa_buf_cstr(&wk->path);
}

static int walk_from(struct walk *wk, const char *p, int depth);

/* Every directory at and below the current path (not through links) gets
 * the rest of the pattern; when the rest is empty, every file matches. */
static int walk_stars(struct walk *wk, const char *rest, int depth)
{
    if (depth > NOA_GLOB_MAX_DEPTH)
        return 0;
    int rc = 0;
    if (*rest) {
        rc = walk_from(wk, rest, depth + 1);
        if (rc)
            return rc;
    }
    DIR *d = opendir(cur_dir(wk));
    if (!d)
        return 0;
    if (wk->w->on_dir && (rc = wk->w->on_dir(wk->w->ud, cur_dir(wk))) != 0)
        goto out;
    size_t keep = wk->path.len;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        path_push(wk, de->d_name, strlen(de->d_name));
        struct stat st;
        if (lstat(wk->path.data, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                rc = walk_stars(wk, rest, depth + 1);
            else if (!*rest)
                rc = report_file(wk, wk->path.data);
        }
        wk->path.len = keep;
        noa_buf_cstr(&wk->path);
        if (rc)
            break;
    }
out:
    closedir(d);
    return rc;
}

/* Walks the pattern p (a suffix of an alternative, at a component start)
 * below the current path. */
static int walk_from(struct walk *wk, const char *p, int depth)
{
    size_t keep = wk->path.len;
    int rc = 0;
    if (depth > NOA_GLOB_MAX_DEPTH * 4)
        return 0;
    /* literal components are appended without listing anything */
    for (;;) {
        if (*p == '\0') {
            rc = report_file(wk, wk->path.data ? wk->path.data : ".");
            goto out;
        }
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 2 && p[0] == '*' && p[1] == '*') {
            rc = walk_stars(wk, slash ? slash + 1 : "", depth);
            goto out;
        }
        if (comp_has_meta(p, n))
            break;
        if (n == 0 && wk->path.len == 0 && slash) {
            noa_buf_putc(&wk->path, '/'); /* absolute path */
            noa_buf_cstr(&wk->path);
        } else if (n) {
            path_push(wk, p, n);
        }
        if (!slash) {
            rc = report_file(wk, wk->path.data);
            goto out;
        }
        p = slash + 1;
    }
    /* one wildcard component: list its directory */
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    DIR *d = opendir(cur_dir(wk));
    if (!d)
        goto out;
    if (wk->w->on_dir && (rc = wk->w->on_dir(wk->w->ud, cur_dir(wk))) != 0) {
        closedir(d);
        goto out;
    }
    size_t base = wk->path.len;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t dn = strlen(de->d_name);
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        long budget = MATCH_BUDGET;
        if (!match_here(p, p, p + n, de->d_name, de->d_name + dn, &budget))
            continue;
        path_push(wk, de->d_name, dn);
        if (slash)
            rc = walk_from(wk, slash + 1, depth + 1);
        else
            rc = report_file(wk, wk->path.data);
        wk->path.len = base;
        noa_buf_cstr(&wk->path);
        if (rc)
            break;
    }
    closedir(d);
out:
    wk->path.len = keep;
    if (wk->path.data)
        noa_buf_cstr(&wk->path);
    return rc;
}

int noa_glob_expand(const struct noa_glob *g, const struct noa_glob_walk *w)
{
    struct walk wk = {.g = g, .w = w};
    int rc = 0;
    for (size_t i = 0; i < g->n_alts && rc == 0; i++) {
        wk.alt = i;
        noa_buf_reset(&wk.path);
        rc = walk_from(&wk, g->alts[i], 0);
    }
    for (size_t i = 0; i < wk.seen_cap; i++)
        noa_free(wk.seen[i]);
    noa_free(wk.seen);
    noa_buf_fini(&wk.path);
    return rc;
}
