/*
 * PCRE2 adapter. Patterns are compiled once (JIT when available) and are
 * immutable afterwards; each thread keeps its own match data and match
 * context (thread-local), so matching allocates nothing.
 *
 * Loki's regexes are Go's (RE2): linear time, and a smaller syntax. So that
 * a query means here what it means in Loki:
 * - Perl-only syntax Go rejects (lookaround, backreferences, atomic and
 *   possessive groups, recursion, \K, \Z, ...) is rejected with Go's text;
 * - `.` matches a newline only in anchored (label) matchers, which
 *   Prometheus 3 compiles as ^(?s:re)$ (Loki 3.x uses its matchers); line
 *   filters and the regexp parser use Go's default. `$` matches only at the
 *   end of the text;
 * - backtracking is bounded by match limits, so a pathological pattern
 *   costs a bounded time per line (about a millisecond) instead of an
 *   exponential one. A line that hits the limit counts as not matching,
 *   where Go's linear-time engine would give the answer; such lines are
 *   counted (noa_regex_limit_hits) so the difference is visible. PCRE2's
 *   DFA matcher is no way out: it is slower still on nested repeats.
 */
#include "common/regex.h"
#include "common/mem.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* Bounds on backtracking work per match; generous for sane patterns. */
#define MATCH_LIMIT 1000000
#define DEPTH_LIMIT 10000

atomic_ullong noa_regex_limit_hits;

struct noa_regex {
    pcre2_code *code;
    int jit;             /* 1 when JIT compilation succeeded */
    char *literal;       /* set when the pattern has no metacharacters */
    size_t literal_len;
};

static _Thread_local pcre2_match_data *tl_match_data;
static _Thread_local pcre2_match_context *tl_match_ctx;

static int is_plain_literal(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strchr("\\^$.|?*+()[]{}", p[i]))
            return 0;
    return 1;
}

/* ---- Go syntax ---------------------------------------------------------------- */

static int go_error(struct noa_error *err, const char *what, const char *at, size_t n)
{
    return noa_error_set(err, NOA_EINVAL, "error parsing regexp: %s: `%.*s`", what, (int)n, at);
}

/* Length of a repetition operator at p[i] (`*`, `+`, `?`, `{n}`, `{n,}`,
 * `{n,m}`), its lazy `?` excluded; 0 when there is none (a `{` that is not
 * a valid count is a literal in Go). */
static size_t repeat_len(const char *p, size_t n, size_t i)
{
    if (p[i] == '*' || p[i] == '+' || p[i] == '?')
        return 1;
    if (p[i] != '{')
        return 0;
    size_t j = i + 1, digits = 0;
    while (j < n && p[j] >= '0' && p[j] <= '9')
        j++, digits++;
    if (!digits)
        return 0;
    if (j < n && p[j] == ',') {
        j++;
        while (j < n && p[j] >= '0' && p[j] <= '9')
            j++;
    }
    return j < n && p[j] == '}' ? j + 1 - i : 0;
}

/* Checks an escape at p[i] == '\\'; returns its length or 0 when Go
 * rejects it. Letters and digits must be escapes Go knows; punctuation
 * escapes itself. */
static size_t escape_len(const char *p, size_t n, size_t i)
{
    if (i + 1 >= n)
        return 0; /* trailing backslash */
    char c = p[i + 1];
    if (c >= '1' && c <= '7')
        /* a lone digit is a backreference; two or more make an octal code */
        return i + 2 < n && p[i + 2] >= '0' && p[i + 2] <= '7' ? 2 : 0;
    if (c == '8' || c == '9')
        return 0;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return strchr("aftnrvxAbBzdDsSwWpPQE", c) ? 2 : 0;
    return 2;
}

/* Rejects what Go's regexp/syntax (Perl flags) rejects and PCRE2 would
 * accept with another meaning. Everything else is left to PCRE2. */
static int go_syntax_check(const char *p, size_t n, struct noa_error *err)
{
    int in_class = 0;
    for (size_t i = 0; i < n;) {
        if (p[i] == '\\') {
            if (i + 1 < n && p[i + 1] == 'Q') { /* \Q...\E: literal text */
                const char *e = memmem(p + i + 2, n - i - 2, "\\E", 2);
                i = e ? (size_t)(e - p) + 2 : n;
                continue;
            }
            size_t k = escape_len(p, n, i);
            if (!k && i + 1 >= n)
                return go_error(err, "trailing backslash at end of expression", p + i, 1);
            if (!k)
                return go_error(err, "invalid escape sequence", p + i, 2);
            i += k;
            continue;
        }
        if (in_class) {
            if (p[i] == '[' && i + 1 < n && p[i + 1] == ':') { /* [:alpha:] */
                const char *e = memmem(p + i + 2, n - i - 2, ":]", 2);
                i = e ? (size_t)(e - p) + 2 : i + 1;
                continue;
            }
            if (p[i] == ']')
                in_class = 0;
            i++;
            continue;
        }
        if (p[i] == '[') {
            in_class = 1;
            i++;
            if (i < n && p[i] == '^')
                i++;
            if (i < n && p[i] == ']') /* a leading ] is literal */
                i++;
            continue;
        }
        if (p[i] == '(' && i + 1 < n && p[i + 1] == '?') {
            size_t j = i + 2;
            if (j < n && p[j] == 'P' && j + 1 < n && p[j + 1] == '<')
                j += 2;
            else if (j < n && p[j] == '<' && j + 1 < n && p[j + 1] != '=' && p[j + 1] != '!')
                j += 1;
            else {
                while (j < n && strchr("imsU-", p[j]))
                    j++;
                if (j >= n || (p[j] != ')' && p[j] != ':'))
                    return go_error(err, "invalid or unsupported Perl syntax", p + i,
                                    j + 1 < n ? j + 1 - i : n - i);
            }
            i = j;
            continue;
        }
        size_t r = repeat_len(p, n, i);
        if (r) {
            size_t j = i + r;
            if (j < n && p[j] == '?')
                j++; /* lazy */
            size_t r2 = j < n ? repeat_len(p, n, j) : 0;
            if (r2)
                return go_error(err, "invalid nested repetition operator", p + i, j + r2 - i);
            i = j;
            continue;
        }
        i++;
    }
    return 0;
}

/* ---- compiling ---------------------------------------------------------------- */

static pcre2_code *compile(const char *pattern, size_t len, uint32_t opts, struct noa_error *err)
{
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, len, opts, &errcode, &erroff, NULL);
    if (!code && err) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof(msg));
        noa_error_set(err, NOA_EINVAL, "error parsing regexp: %s at offset %zu in `%.*s`",
                      (const char *)msg, (size_t)erroff, (int)len, pattern);
    }
    return code;
}

int noa_regex_compile(const char *pattern, size_t len, int flags, struct noa_regex **out,
                      struct noa_error *err)
{
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY;
    if (flags & NOA_REGEX_ANCHORED)
        opts |= PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_DOTALL;
    if (flags & NOA_REGEX_CASELESS)
        opts |= PCRE2_CASELESS;
    int rc = go_syntax_check(pattern, len, err);
    if (rc < 0)
        return rc;
    pcre2_code *code = compile(pattern, len, opts, err);
    if (!code)
        return NOA_EINVAL;
    struct noa_regex *re = noa_xcalloc(1, sizeof(*re));
    re->code = code;
    re->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    if (!(flags & NOA_REGEX_CASELESS) && is_plain_literal(pattern, len)) {
        re->literal = noa_xstrndup(pattern, len);
        re->literal_len = len;
    }
    *out = re;
    return 0;
}

void noa_regex_free(struct noa_regex *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code);
    noa_free(re->literal);
    noa_free(re);
}

/* Per-thread matching state, freed by a thread-exit destructor (query
 * reader threads come and go). */
static _Thread_local pcre2_match_data *tl_cap_data; /* grows to the most groups seen */
static _Thread_local uint32_t tl_cap_pairs;
static _Thread_local pcre2_match_data *tl_find_data;
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_free(void *unused)
{
    (void)unused;
    pcre2_match_data_free(tl_match_data);
    pcre2_match_context_free(tl_match_ctx);
    pcre2_match_data_free(tl_cap_data);
    pcre2_match_data_free(tl_find_data);
    tl_match_data = tl_cap_data = tl_find_data = NULL;
    tl_match_ctx = NULL;
    tl_cap_pairs = 0;
}

static void tls_key_create(void)
{
    pthread_key_create(&tls_key, tls_free);
}

/* Creates this thread's match data and limits on first use; 0 on OOM. */
static int ensure_tls(void)
{
    if (!tl_match_data) {
        pthread_once(&tls_once, tls_key_create);
        pthread_setspecific(tls_key, (void *)1); /* any non-NULL value arms the destructor */
        tl_match_data = pcre2_match_data_create(1, NULL);
        tl_match_ctx = pcre2_match_context_create(NULL);
        if (!tl_match_data || !tl_match_ctx) {
            tls_free(NULL);
            return 0;
        }
        pcre2_set_match_limit(tl_match_ctx, MATCH_LIMIT);
        pcre2_set_depth_limit(tl_match_ctx, DEPTH_LIMIT);
    }
    return 1;
}

static int limit_hit(int rc)
{
    return rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
           rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT;
}

int noa_regex_match(const struct noa_regex *re, const char *subject, size_t len)
{
    if (!ensure_tls())
        return 0;
    int rc = re->jit ? pcre2_jit_match(re->code, (PCRE2_SPTR)subject, len, 0, 0, tl_match_data,
                                       tl_match_ctx)
                     : pcre2_match(re->code, (PCRE2_SPTR)subject, len, 0, 0, tl_match_data,
                                   tl_match_ctx);
    if (limit_hit(rc))
        atomic_fetch_add_explicit(&noa_regex_limit_hits, 1, memory_order_relaxed);
    return rc >= 0;
}

int noa_regex_literal(const struct noa_regex *re, struct noa_str *lit)
{
    if (!re->literal)
        return 0;
    *lit = (struct noa_str){re->literal, re->literal_len};
    return 1;
}

unsigned noa_regex_groups(const struct noa_regex *re)
{
    uint32_t n = 0;
    pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &n);
    return n;
}

int noa_regex_group_name(const struct noa_regex *re, unsigned idx, struct noa_str *name)
{
    uint32_t count = 0, size = 0;
    PCRE2_SPTR table = NULL;
    pcre2_pattern_info(re->code, PCRE2_INFO_NAMECOUNT, &count);
    pcre2_pattern_info(re->code, PCRE2_INFO_NAMEENTRYSIZE, &size);
    pcre2_pattern_info(re->code, PCRE2_INFO_NAMETABLE, &table);
    for (uint32_t i = 0; i < count; i++) {
        PCRE2_SPTR ent = table + (size_t)i * size;
        unsigned n = ((unsigned)ent[0] << 8) | ent[1];
        if (n == idx) {
            const char *s = (const char *)ent + 2;
            *name = (struct noa_str){s, strlen(s)};
            return 1;
        }
    }
    return 0;
}


int noa_regex_exec(const struct noa_regex *re, const char *subject, size_t len,
                   struct noa_str *groups, unsigned ngroups)
{
    if (!ensure_tls())
        return 0;
    uint32_t pairs = noa_regex_groups(re) + 1;
    if (pairs > tl_cap_pairs) {
        pcre2_match_data_free(tl_cap_data);
        tl_cap_data = pcre2_match_data_create(pairs, NULL);
        tl_cap_pairs = tl_cap_data ? pairs : 0;
        if (!tl_cap_data)
            return 0;
    }
    if (!subject)
        subject = "";
    int rc = re->jit ? pcre2_jit_match(re->code, (PCRE2_SPTR)subject, len, 0, 0, tl_cap_data,
                                       tl_match_ctx)
                     : pcre2_match(re->code, (PCRE2_SPTR)subject, len, 0, 0, tl_cap_data,
                                   tl_match_ctx);
    if (limit_hit(rc))
        atomic_fetch_add_explicit(&noa_regex_limit_hits, 1, memory_order_relaxed);
    if (rc < 0)
        return 0;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(tl_cap_data);
    for (unsigned i = 0; i < ngroups; i++) {
        if (i >= pairs || ov[2 * i] == PCRE2_UNSET) {
            groups[i] = (struct noa_str){NULL, 0};
            continue;
        }
        groups[i] = (struct noa_str){subject + ov[2 * i], ov[2 * i + 1] - ov[2 * i]};
    }
    return 1;
}

/* Capture pairs of noa_regex_find's match data (tl_match_data holds only
 * the whole match). */
#define FIND_PAIRS 64

int noa_regex_find(const struct noa_regex *re, const char *subject, size_t len, size_t start,
                   long *ovec, int nvec)
{
    if (start > len || nvec < 1)
        return 0;
    if (!ensure_tls())
        return 0;
    if (!tl_find_data) {
        tl_find_data = pcre2_match_data_create(FIND_PAIRS, NULL);
        if (!tl_find_data)
            return 0;
    }
    int rc = re->jit ? pcre2_jit_match(re->code, (PCRE2_SPTR)subject, len, start, 0, tl_find_data,
                                       tl_match_ctx)
                     : pcre2_match(re->code, (PCRE2_SPTR)subject, len, start, 0, tl_find_data,
                                   tl_match_ctx);
    if (limit_hit(rc))
        atomic_fetch_add_explicit(&noa_regex_limit_hits, 1, memory_order_relaxed);
    if (rc < 0)
        return 0;
    /* rc == 0 means more groups than FIND_PAIRS: report the ones we have. */
    int have = rc == 0 ? FIND_PAIRS : rc;
    uint32_t groups = 0;
    pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &groups);
    int total = (int)groups + 1;
    if (total > nvec)
        total = nvec;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(tl_find_data);
    for (int i = 0; i < total; i++) {
        if (i >= have || ov[2 * i] == PCRE2_UNSET) {
            ovec[2 * i] = ovec[2 * i + 1] = -1;
        } else {
            ovec[2 * i] = (long)ov[2 * i];
            ovec[2 * i + 1] = (long)ov[2 * i + 1];
        }
    }
    return total;
}

int noa_regex_group_index(const struct noa_regex *re, const char *name, size_t len)
{
    char tmp[128];
    if (len == 0 || len >= sizeof(tmp))
        return -1;
    memcpy(tmp, name, len);
    tmp[len] = '\0';
    int n = pcre2_substring_number_from_name(re->code, (PCRE2_SPTR)tmp);
    return n > 0 ? n : -1;
}
