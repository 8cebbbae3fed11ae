/*
 * logfmt logging: `ts=... level=warn component=wal msg="..." key=value`.
 * One line per call, written with a single write(2) so lines from several
 * threads never interleave. The level check happens before arguments are
 * formatted (noa_log is a macro around noa_log_enabled). Any thread.
 */
#ifndef NOA_COMMON_LOG_H
#define NOA_COMMON_LOG_H

enum noa_log_level {
    NOA_LOG_DEBUG = 0,
    NOA_LOG_INFO = 1,
    NOA_LOG_WARN = 2,
    NOA_LOG_ERROR = 3,
};

/* Sets the minimum level written (default info). */
void noa_log_set_level(enum noa_log_level level);
/* Parses "debug|info|warn|error"; returns 0 or NOA_EINVAL. */
int noa_log_parse_level(const char *s, enum noa_log_level *out);
const char *noa_log_level_name(enum noa_log_level level);
/* Redirects output (default stderr); for tests. */
void noa_log_set_fd(int fd);
int noa_log_enabled(enum noa_log_level level);

/*
 * Writes one logfmt line. `fmt` formats the rest of the line after
 * `component=...`: callers write key=value pairs themselves and quote
 * free text with noa_log_quote-style %s of a msg="..." pair, e.g.
 *   noa_log(NOA_LOG_WARN, "wal", "msg=\"torn tail ignored\" segment=%u offset=%lld", s, o);
 */
void noa_log_write(enum noa_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define noa_log(level, component, ...)                                                             \
    do {                                                                                           \
        if (noa_log_enabled(level))                                                                \
            noa_log_write((level), (component), __VA_ARGS__);                                      \
    } while (0)

/* Copies s into out (size cap) as a logfmt value: quoted and escaped when
 * it holds spaces, quotes, '=' or control bytes. Returns out. */
char *noa_log_value(char *out, unsigned cap, const char *s);

#endif
