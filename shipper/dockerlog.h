/*
 * Docker json-file log lines:
 *
 *   {"log":"text\n","stream":"stdout","time":"2019-01-01T00:00:00.123456789Z"}
 *
 * (plus optional "attrs" and any other member, which are skipped). The
 * decoder unescapes "log" as Go's encoding/json does (\uXXXX with surrogate
 * pairs, a lone surrogate or an invalid UTF-8 byte becomes U+FFFD, unknown
 * escapes and raw control characters are errors) and reports a line whose
 * text lacks the trailing newline as partial: Docker splits messages over
 * 16 KiB into several records and only the last ends in "\n".
 *
 * A struct noa_dockerlog holds the one buffer reused for unescaped text, so
 * decoding allocates nothing per line once the buffer has grown. Owned by
 * one thread (the tailer that reads the file).
 */
#ifndef NOA_SHIPPER_DOCKERLOG_H
#define NOA_SHIPPER_DOCKERLOG_H

#include "common/buf.h"
#include "common/err.h"
#include "shipper/cri.h"

#include <stddef.h>
#include <stdint.h>

/* Decoder state; zero-initialise or noa_dockerlog_init, then _fini. */
struct noa_dockerlog {
    struct noa_buf text;    /* private: unescaped "log" when it had escapes */
    struct noa_buf scratch; /* private: unescaped keys, "stream" and "time" */
};

/* One decoded record. content borrows either the input or the decoder's
 * buffer: valid until the next noa_dockerlog_parse on the same decoder or
 * until the input is released, whichever comes first. */
struct noa_dockerlog_line {
    int64_t ts_ns;          /* Unix nanoseconds */
    int stream;             /* enum noa_cri_stream: NOA_CRI_STDOUT / NOA_CRI_STDERR */
    int partial;            /* 1 when "log" did not end in "\n" */
    struct noa_str content; /* "log" without its trailing "\n" (or "\r\n") */
};

void noa_dockerlog_init(struct noa_dockerlog *d);
void noa_dockerlog_fini(struct noa_dockerlog *d);

/*
 * Decodes one line p[0..n) (a trailing "\n" or "\r\n" after the object is
 * allowed). "log", "stream" and "time" are required; a repeated member
 * takes its last value, as in Go. Returns 0 and fills out, or NOA_EINVAL
 * with err (may be NULL) saying what is wrong and col the 1-based byte
 * where it was found: not JSON, a wrong type, a missing member, a stream
 * other than stdout/stderr, a bad time, trailing garbage. Never allocates
 * more than n bytes (the reused buffer).
 */
int noa_dockerlog_parse(struct noa_dockerlog *d, const char *p, size_t n,
                        struct noa_dockerlog_line *out, struct noa_error *err);

#endif
