/*
 * URL query strings and application/x-www-form-urlencoded bodies, decoded
 * the way Go's net/url and net/http.Request.ParseForm do it (Loki's query
 * handlers read parameters through r.Form): pairs separated by '&', '+'
 * means a space, %XX escapes, a key without '=' has the empty value, empty
 * pieces are skipped, a piece holding a raw ';' is rejected. A bad pair is skipped
 * and reported while the others are still kept, as Go does.
 *
 * Decoded strings live in a caller's arena (one per request). Also owns the
 * URL path helpers the HTTP server uses: the percent-decoder for paths,
 * gorilla's path cleaning and Go's path escaping. Pure functions; any
 * thread, one form per thread at a time.
 */
#ifndef NOA_COMMON_FORM_H
#define NOA_COMMON_FORM_H

#include "common/buf.h"
#include "common/err.h"

#include <stddef.h>

struct noa_http_request;

struct noa_form_pair {
    struct noa_str name;  /* decoded, NUL-terminated, in the arena */
    struct noa_str value; /* decoded, NUL-terminated, in the arena */
};

/* Zero-initialise. Pairs keep their input order; everything is in the arena
 * given to the parse calls, so there is no _fini. */
struct noa_form {
    struct noa_form_pair *pairs; /* read-only */
    size_t n;                    /* read-only */
};

/* Largest form body parsed, as Go's maxFormSize (10 MiB). */
#define NOA_FORM_MAX_BODY ((size_t)10 << 20)

/*
 * Percent-decodes s[0..n) into out, which has room for n bytes (decoding
 * never grows). plus_as_space: 1 for query strings and form bodies, 0 for
 * paths. Returns 0 and sets *out_len, or NOA_EINVAL for an escape that is
 * not '%' followed by two hex digits (err says `invalid URL escape "%zz"`,
 * as Go words it).
 */
int noa_form_unescape(const char *s, size_t n, int plus_as_space, char *out, size_t *out_len,
                      struct noa_error *err);

/* Decodes one path (or path segment) into the arena; '+' stays '+'. The
 * result is NUL-terminated. Returns 0 or NOA_EINVAL. */
int noa_form_unescape_path(struct noa_arena *a, struct noa_str s, struct noa_str *out,
                           struct noa_error *err);

/*
 * gorilla/mux's cleanPath: Go's path.Clean of a path made rooted (no "//",
 * "." or ".." elements), keeping a trailing slash. Returns p itself when it
 * is already clean, else a NUL-terminated copy in the arena; "" gives "/".
 */
struct noa_str noa_form_clean_path(struct noa_arena *a, struct noa_str p);

/* Appends p escaped for a URL path as Go's url.URL does (unreserved bytes
 * and "$&+,/:;=@" kept, everything else %XX in upper-case hex). */
void noa_form_escape_path(struct noa_buf *b, struct noa_str p);

/*
 * Appends the pairs of a query string or urlencoded body (without the
 * leading '?') to f, decoded into a. Returns 0, or the code of the first bad
 * pair (NOA_EINVAL: bad escape or a raw ";") with err describing it; the
 * good pairs are appended either way.
 */
int noa_form_parse(struct noa_form *f, struct noa_arena *a, struct noa_str s,
                   struct noa_error *err);

/*
 * r.ParseForm(): for POST, PUT and PATCH with Content-Type
 * application/x-www-form-urlencoded (parameters allowed), the body's pairs
 * first, then the URL query's, so a name given in both yields the body's
 * value from noa_form_get (Go's precedence). Returns 0 or the first error
 * (the body's before the URL's); NOA_ETOOBIG for a body over
 * NOA_FORM_MAX_BODY ("http: POST too large"). f is filled as far as possible.
 */
int noa_form_parse_request(struct noa_form *f, struct noa_arena *a,
                           const struct noa_http_request *r, struct noa_error *err);

/* The first value given for name (Go's Form.Get), or NULL when absent. */
const struct noa_str *noa_form_get(const struct noa_form *f, const char *name);
/* The last value given for name, or NULL when absent. */
const struct noa_str *noa_form_get_last(const struct noa_form *f, const char *name);
/*
 * Iterates over every value of name in order (for repeated keys such as
 * `match[]`): start with *iter = 0; returns NULL after the last one.
 */
const struct noa_str *noa_form_next(const struct noa_form *f, const char *name, size_t *iter);
/* How many values name has. */
size_t noa_form_count(const struct noa_form *f, const char *name);

#endif
