/*
 * CRI container log lines (containerd, CRI-O; the format kubelet defines):
 *
 *   <RFC3339Nano time> SP <stdout|stderr> SP <tags> SP <content>
 *
 * tags is a colon-separated list whose first element is F (full) or P
 * (partial: the runtime split a long line, more fragments follow). The
 * content may be empty. Also owns the RFC3339Nano time parser the Docker
 * decoder shares. Pure functions over borrowed bytes: no allocation, no
 * state, any thread.
 */
#ifndef NOA_SHIPPER_CRI_H
#define NOA_SHIPPER_CRI_H

#include "common/buf.h"
#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

/* The stream a container line was written to (shared with dockerlog.h). */
enum noa_cri_stream {
    NOA_CRI_STDOUT = 1,
    NOA_CRI_STDERR = 2,
};

/* One decoded line: every slice borrows the input. */
struct noa_cri_line {
    int64_t ts_ns;          /* Unix nanoseconds (offsets applied) */
    int stream;             /* enum noa_cri_stream */
    int partial;            /* 1 for a P fragment, 0 for F */
    struct noa_str tags;    /* the whole tag field, e.g. "F" or "P:x" */
    struct noa_str content; /* may be empty; no trailing newline */
};

/*
 * Decodes one CRI line p[0..n). A single trailing "\n" (or "\r\n") is
 * removed first, so the caller may pass the line with or without its
 * terminator. Returns 0 and fills out, or NOA_EINVAL with err (may be NULL)
 * naming what is wrong and col pointing at it: bad time, stream other than
 * stdout/stderr, a first tag other than P/F, a missing separator.
 */
int noa_cri_parse(const char *p, size_t n, struct noa_cri_line *out, struct noa_error *err);

/*
 * Parses an RFC3339 time with optional fraction (Go's RFC3339Nano as
 * time.Parse accepts it): YYYY-MM-DDTHH:MM:SS[.f+](Z|+hh:mm|-hh:mm).
 * Fraction digits past nine are dropped (Go truncates too). Day-of-month
 * is checked against the month and leap years. A time outside what int64
 * nanoseconds hold (years 1677..2262) is rejected like any other bad time.
 * Returns 0 and *ns, or NOA_EINVAL with err (may be NULL) saying why.
 */
int noa_cri_parse_time(const char *p, size_t n, int64_t *ns, struct noa_error *err);

/* "stdout" / "stderr" for a stream value, "" for anything else. */
const char *noa_cri_stream_name(int stream);

#endif
