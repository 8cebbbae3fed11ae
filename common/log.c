/* logfmt writer. Level and fd are atomics; lines go out in one write(2). */
#include "common/log.h"
#include "common/err.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int min_level = NOA_LOG_INFO;
static atomic_int out_fd = 2;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void noa_log_set_level(enum noa_log_level level)
{
    atomic_store(&min_level, (int)level);
}

int noa_log_parse_level(const char *s, enum noa_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum noa_log_level)i;
            return 0;
        }
    }
    return NOA_EINVAL;
}

const char *noa_log_level_name(enum noa_log_level level)
{
    return (unsigned)level < 4 ? level_names[level] : "unknown";
}

void noa_log_set_fd(int fd)
{
    atomic_store(&out_fd, fd);
}

int noa_log_enabled(enum noa_log_level level)
{
    return (int)level >= atomic_load_explicit(&min_level, memory_order_relaxed);
}

void noa_log_write(enum noa_log_level level, const char *component, const char *fmt, ...)
{
    char line[4096];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line),
                     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s component=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, noa_log_level_name(level), component);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t w = write(atomic_load(&out_fd), line, len);
    (void)w; /* a failed log write has nowhere better to be reported */
}

char *noa_log_value(char *out, unsigned cap, const char *s)
{
    int needs_quotes = *s == '\0';
    for (const char *p = s; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\')
            needs_quotes = 1;
    unsigned o = 0;
    if (cap < 4) {
        if (cap)
            out[0] = '\0';
        return out;
    }
    if (needs_quotes)
        out[o++] = '"';
    for (const char *p = s; *p && o + 3 < cap; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c < ' ') {
            out[o++] = ' ';
        } else {
            out[o++] = (char)c;
        }
    }
    if (needs_quotes)
        out[o++] = '"';
    out[o] = '\0';
    return out;
}
