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

int noa_regex_match(const struct noa_regex *re, const char *subject, size_t len)
{
    if (!tl_match_data) {
        tl_match_data = pcre2_match_data_create(1, NULL);
        tl_match_ctx = pcre2_match_context_create(NULL);
        if (!tl_match_data || !tl_match_ctx)
            return 0;
        pcre2_set_match_limit(tl_match_ctx, MATCH_LIMIT);
        pcre2_set_depth_limit(tl_match_ctx, DEPTH_LIMIT);
    }
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
