/* Error code texts and their HTTP mapping. No state; any thread. */
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *noa_strerror(int code)
{
    switch (code) {
    case 0: return "ok";
    case NOA_EINVAL: return "invalid input";
    case NOA_ETOOBIG: return "input too large";
    case NOA_ELIMIT: return "limit exceeded";
    case NOA_ECORRUPT: return "data corrupt";
    case NOA_ENOTFOUND: return "not found";
    case NOA_EAUTH: return "no org id";
    case NOA_EUNAVAIL: return "not ready";
    case NOA_EUNSUPP: return "not supported";
    case NOA_ENOMEM: return "out of memory";
    case NOA_ETIMEOUT: return "timed out";
    case NOA_EEMPTY: return "empty request";
    case NOA_EINTERNAL: return "internal error";
    default:
        if (code < 0 && code > -4096)
            return strerror(-code);
        return "unknown error";
    }
}

int noa_err_http_status(int code)
{
    switch (code) {
    case 0: return 200;
    case NOA_EINVAL: return 400;
    case NOA_ETOOBIG: return 413;
    case NOA_ELIMIT: return 429;
    case NOA_ENOTFOUND: return 404;
    case NOA_EAUTH: return 401;
    case NOA_EUNAVAIL: return 503;
    case NOA_EUNSUPP: return 400;
    case NOA_ETIMEOUT: return 504;
    case NOA_EEMPTY: return 422;
    default: return 500;
    }
}

static int error_vset(struct noa_error *err, int code, int line, int col, const char *fmt,
                      va_list ap) __attribute__((format(printf, 5, 0)));
static int error_vset(struct noa_error *err, int code, int line, int col, const char *fmt,
                      va_list ap)
{
    if (!err)
        return code;
    err->code = code;
    err->line = line;
    err->col = col;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    return code;
}

int noa_error_set(struct noa_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, code, 0, 0, fmt, ap);
    va_end(ap);
    return code;
}

int noa_error_set_at(struct noa_error *err, int code, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, code, line, col, fmt, ap);
    va_end(ap);
    return code;
}
