/*
 * Error codes and error reports shared by every part.
 *
 * Functions return 0 on success and a negative code on failure: -errno for
 * system errors, NOA_E* (below -10000, clear of every errno) for ours.
 * Parsers additionally fill a struct noa_error so the user learns where
 * and why. noa_err_http_status() is the one table from codes to HTTP status.
 * Thread-safe: no state.
 */
#ifndef NOA_COMMON_ERR_H
#define NOA_COMMON_ERR_H

#include <stddef.h>

enum {
    NOA_EINVAL = -10001,    /* malformed input (a 400) */
    NOA_ETOOBIG = -10002,   /* input over a size limit (a 413) */
    NOA_ELIMIT = -10003,    /* a rate or count limit (a 429) */
    NOA_ECORRUPT = -10004,  /* stored data failed a checksum or format check */
    NOA_ENOTFOUND = -10005, /* no such key / object / route */
    NOA_EAUTH = -10006,     /* missing or bad tenant (a 401) */
    NOA_EUNAVAIL = -10007,  /* not ready yet or shutting down (a 503) */
    NOA_EUNSUPP = -10008,   /* a valid request for something noa does not do */
    NOA_ENOMEM = -10009,    /* an allocation failed (a 500, never an abort) */
    NOA_ETIMEOUT = -10010,  /* a deadline passed (a 504) */
    NOA_EEMPTY = -10011,    /* a request that carries nothing (a 422) */
    NOA_EINTERNAL = -10012, /* a bug or an unexpected library failure (a 500) */
};

/* What went wrong and where: filled by parsers and decoders. line/col are
 * 1-based and 0 when the input has no positions (binary bodies). */
struct noa_error {
    int code;      /* NOA_E* or -errno */
    int line;      /* 1-based, 0 when not applicable */
    int col;       /* 1-based, 0 when not applicable */
    char msg[512]; /* human-readable, no trailing newline */
};

/* Text for a code; never NULL. */
const char *noa_strerror(int code);

/* The HTTP status a code maps to (400 for NOA_EINVAL, 500 for unknown ones). */
int noa_err_http_status(int code);

/* Fills err (when non-NULL) with code and a printf-formatted message, and
 * returns code so callers can write `return noa_error_set(err, ...)`. */
int noa_error_set(struct noa_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like noa_error_set with a position. */
int noa_error_set_at(struct noa_error *err, int code, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
