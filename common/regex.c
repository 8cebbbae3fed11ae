/*
 * PCRE2 adapter. Patterns are compiled once (JIT when available) and are
 * immutable afterwards; each thread keeps its own match data and match
 * context (thread-local), so matching allocates nothing. Match limits stop
 * catastrophic backtracking: a limit hit is reported as "no match".
 */
#include "common/regex.h"
#include "common/mem.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdio.h>

/* Bounds on backtracking work per match; generous for sane patterns. */
#define MATCH_LIMIT 1000000
#define DEPTH_LIMIT 10000

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

int noa_regex_compile(const char *pattern, size_t len, int flags, struct noa_regex **out,
                      struct noa_error *err)
{
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOTALL;
    if (flags & NOA_REGEX_ANCHORED)
        opts |= PCRE2_ANCHORED | PCRE2_ENDANCHORED;
    if (flags & NOA_REGEX_CASELESS)
        opts |= PCRE2_CASELESS;
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, len, opts, &errcode, &erroff, NULL);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof(msg));
        return noa_error_set(err, NOA_EINVAL, "error parsing regexp: %s at offset %zu in `%.*s`",
                             (const char *)msg, (size_t)erroff, (int)len, pattern);
    }
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

/* Creates this thread's match data and limits on first use; 0 on OOM. */
static int ensure_tls(void)
{
    if (!tl_match_data) {
        tl_match_data = pcre2_match_data_create(1, NULL);
        tl_match_ctx = pcre2_match_context_create(NULL);
        if (!tl_match_data || !tl_match_ctx)
            return 0;
        pcre2_set_match_limit(tl_match_ctx, MATCH_LIMIT);
        pcre2_set_depth_limit(tl_match_ctx, DEPTH_LIMIT);
    }
    return 1;
}

int noa_regex_match(const struct noa_regex *re, const char *subject, size_t len)
{
    if (!ensure_tls())
        return 0;
    int rc = re->jit ? pcre2_jit_match(re->code, (PCRE2_SPTR)subject, len, 0, 0, tl_match_data,
                                       tl_match_ctx)
                     : pcre2_match(re->code, (PCRE2_SPTR)subject, len, 0, 0, tl_match_data,
                                   tl_match_ctx);
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

/* Capture matching needs more ovector pairs than plain matching; this
 * per-thread match data grows to the largest pattern seen. */
static _Thread_local pcre2_match_data *tl_cap_data;
static _Thread_local uint32_t tl_cap_pairs;

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

/* Capture data for noa_regex_find, separate from tl_match_data because
 * that one holds only the whole-match pair. */
#define FIND_PAIRS 64
static _Thread_local pcre2_match_data *tl_find_data;

int noa_regex_find(const struct noa_regex *re, const char *subject, size_t len, size_t start,
                   long *ovec, int nvec)
{
    if (start > len || nvec < 1)
        return 0;
    if (!tl_find_data) {
        tl_find_data = pcre2_match_data_create(FIND_PAIRS, NULL);
        if (!tl_find_data)
            return 0;
    }
    if (!tl_match_ctx) {
        tl_match_ctx = pcre2_match_context_create(NULL);
        if (!tl_match_ctx)
            return 0;
        pcre2_set_match_limit(tl_match_ctx, MATCH_LIMIT);
        pcre2_set_depth_limit(tl_match_ctx, DEPTH_LIMIT);
    }
    int rc = re->jit ? pcre2_jit_match(re->code, (PCRE2_SPTR)subject, len, start, 0, tl_find_data,
                                       tl_match_ctx)
                     : pcre2_match(re->code, (PCRE2_SPTR)subject, len, start, 0, tl_find_data,
                                   tl_match_ctx);
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
