/*
 * noa-logcli's printing (see cli_output.h). Everything here reproduces a
 * Go library's exact text: time.Format layouts, strconv.Quote,
 * encoding/json string escaping, json.Indent, fatih/color escapes and the
 * standard logger's prefix. Pure; any thread.
 */
#include "logcli/cli_output.h"

#include "common/err.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const k_wday[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const k_mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Floor division so times before 1970 still split into seconds and ns. */
static void split_ns(int64_t ts, time_t *sec, long *ns)
{
    int64_t s = ts / 1000000000;
    int64_t r = ts % 1000000000;
    if (r < 0) {
        r += 1000000000;
        s--;
    }
    *sec = (time_t)s;
    *ns = (long)r;
}

/* Go's "Z07:00" (colon 1) or "-0700" (colon 0) zone; Z only with zulu. */
static void put_zone(struct noa_buf *out, long off, int colon, int zulu)
{
    if (zulu && off == 0) {
        noa_buf_putc(out, 'Z');
        return;
    }
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    noa_buf_printf(out, colon ? "%c%02ld:%02ld" : "%c%02ld%02ld", sign, off / 3600, (off / 60) % 60);
}

void noa_cli_output_time(struct noa_buf *out, int64_t ts_ns, enum noa_cli_output_tsfmt fmt, int utc)
{
    time_t sec;
    long ns;
    struct tm tm;
    split_ns(ts_ns, &sec, &ns);
    if (utc)
        gmtime_r(&sec, &tm);
    else
        localtime_r(&sec, &tm);
    long off = utc ? 0 : tm.tm_gmtoff;
    const char *zone = utc ? "UTC" : tm.tm_zone;
    switch (fmt) {
    case NOA_CLI_OUTPUT_TS_RFC3339NANO:
    case NOA_CLI_OUTPUT_TS_RFC3339:
        noa_buf_printf(out, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                       tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        if (fmt == NOA_CLI_OUTPUT_TS_RFC3339NANO && ns) {
            /* ".999999999": trailing zeros trimmed. */
            char frac[16];
            snprintf(frac, sizeof(frac), "%09ld", ns);
            size_t n = 9;
            while (n > 0 && frac[n - 1] == '0')
                n--;
            noa_buf_putc(out, '.');
            noa_buf_append(out, frac, n);
        }
        put_zone(out, off, 1, 1);
        break;
    case NOA_CLI_OUTPUT_TS_RFC822Z:
        noa_buf_printf(out, "%02d %s %02d %02d:%02d ", tm.tm_mday, k_mon[tm.tm_mon],
                       (tm.tm_year + 1900) % 100, tm.tm_hour, tm.tm_min);
        put_zone(out, off, 0, 0);
        break;
    case NOA_CLI_OUTPUT_TS_RFC1123Z:
        noa_buf_printf(out, "%s, %02d %s %04d %02d:%02d:%02d ", k_wday[tm.tm_wday], tm.tm_mday,
                       k_mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        put_zone(out, off, 0, 0);
        break;
    case NOA_CLI_OUTPUT_TS_STAMPMICRO:
    case NOA_CLI_OUTPUT_TS_STAMPMILLI:
    case NOA_CLI_OUTPUT_TS_STAMPNANO:
        /* "Jan _2 15:04:05.000": the day is space-padded. */
        noa_buf_printf(out, "%s %2d %02d:%02d:%02d.", k_mon[tm.tm_mon], tm.tm_mday, tm.tm_hour,
                       tm.tm_min, tm.tm_sec);
        if (fmt == NOA_CLI_OUTPUT_TS_STAMPMILLI)
            noa_buf_printf(out, "%03ld", ns / 1000000);
        else if (fmt == NOA_CLI_OUTPUT_TS_STAMPMICRO)
            noa_buf_printf(out, "%06ld", ns / 1000);
        else
            noa_buf_printf(out, "%09ld", ns);
        break;
    case NOA_CLI_OUTPUT_TS_UNIXDATE:
        noa_buf_printf(out, "%s %s %2d %02d:%02d:%02d %s %04d", k_wday[tm.tm_wday], k_mon[tm.tm_mon],
                       tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, zone ? zone : "", tm.tm_year + 1900);
        break;
    }
}

/* Decodes one UTF-8 sequence at s[0..n): its length, or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n, unsigned *cp)
{
    unsigned c = s[0];
    size_t len;
    unsigned v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if ((c & 0xE0) == 0xC0) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

void noa_cli_output_goquote(struct noa_buf *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    noa_buf_putc(out, '"');
    for (size_t i = 0; i < n;) {
        unsigned cp;
        size_t l = utf8_len(p + i, n - i, &cp);
        if (l == 0) {
            noa_buf_printf(out, "\\x%02x", p[i]);
            i++;
            continue;
        }
        if (l > 1) {
            /* Printable non-ASCII passes through; the C1 controls and
             * U+FEFF are the common non-printables Go escapes. */
            if (cp < 0xA0 || cp == 0xFEFF || cp == 0xAD)
                noa_buf_printf(out, cp <= 0xFFFF ? "\\u%04x" : "\\U%08x", cp);
            else
                noa_buf_append(out, p + i, l);
            i += l;
            continue;
        }
        switch (cp) {
        case '"': noa_buf_append(out, "\\\"", 2); break;
        case '\\': noa_buf_append(out, "\\\\", 2); break;
        case '\a': noa_buf_append(out, "\\a", 2); break;
        case '\b': noa_buf_append(out, "\\b", 2); break;
        case '\f': noa_buf_append(out, "\\f", 2); break;
        case '\n': noa_buf_append(out, "\\n", 2); break;
        case '\r': noa_buf_append(out, "\\r", 2); break;
        case '\t': noa_buf_append(out, "\\t", 2); break;
        case '\v': noa_buf_append(out, "\\v", 2); break;
        default:
            if (cp < 0x20 || cp == 0x7F)
                noa_buf_printf(out, "\\x%02x", cp);
            else
                noa_buf_putc(out, (char)cp);
        }
        i++;
    }
    noa_buf_putc(out, '"');
}

void noa_cli_output_json_str(struct noa_buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    noa_buf_putc(out, '"');
    for (size_t i = 0; i < n;) {
        unsigned cp;
        size_t l = utf8_len(p + i, n - i, &cp);
        if (l == 0) {
            noa_buf_append(out, "\\ufffd", 6);
            i++;
            continue;
        }
        if (l > 1) {
            if (cp == 0x2028 || cp == 0x2029)
                noa_buf_printf(out, "\\u%04x", cp);
            else
                noa_buf_append(out, p + i, l);
            i += l;
            continue;
        }
        switch (cp) {
        case '"': noa_buf_append(out, "\\\"", 2); break;
        case '\\': noa_buf_append(out, "\\\\", 2); break;
        case '\n': noa_buf_append(out, "\\n", 2); break;
        case '\r': noa_buf_append(out, "\\r", 2); break;
        case '\t': noa_buf_append(out, "\\t", 2); break;
        default:
            if (cp < 0x20 || cp == '<' || cp == '>' || cp == '&') {
                char e[6] = {'\\', 'u', '0', '0', hex[cp >> 4], hex[cp & 15]};
                noa_buf_append(out, e, 6);
            } else {
                noa_buf_putc(out, (char)cp);
            }
        }
        i++;
    }
    noa_buf_putc(out, '"');
}

void noa_cli_output_labels(struct noa_buf *out, const struct noa_cli_labels *ls)
{
    noa_buf_putc(out, '{');
    for (size_t i = 0; i < ls->n; i++) {
        if (i)
            noa_buf_append(out, ", ", 2);
        noa_buf_append(out, ls->names[i], strlen(ls->names[i]));
        noa_buf_putc(out, '=');
        noa_cli_output_goquote(out, ls->values[i], strlen(ls->values[i]));
    }
    noa_buf_putc(out, '}');
}

/* fatih/color's SGR codes for logcli's palette (blue is the timestamp's). */
static const int k_palette[] = {96, 36, 92, 32, 95, 35, 93, 33, 91, 31};

static uint32_t fnv1_32(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h *= 16777619u;
        h ^= (unsigned char)p[i];
    }
    return h;
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static void put_default(struct noa_buf *out, const struct noa_cli_output_opts *o, int64_t ts,
                        const struct noa_cli_labels *labels, size_t max_len, const char *line,
                        size_t n)
{
    /* strings.TrimSpace (ASCII whitespace; U+0085/U+00A0 are rare in logs). */
    while (n && is_space((unsigned char)line[0]))
        line++, n--;
    while (n && is_space((unsigned char)line[n - 1]))
        n--;
    if (o->tty)
        noa_buf_append(out, "\x1b[34m", 5);
    noa_cli_output_time(out, ts, o->tsfmt, o->utc);
    if (o->tty)
        noa_buf_append(out, "\x1b[0m", 4);
    noa_buf_putc(out, ' ');
    if (!o->no_labels) {
        size_t at = out->len;
        noa_cli_output_labels(out, labels);
        size_t llen = out->len - at;
        int sgr = 31;
        if (o->colored)
            sgr = k_palette[fnv1_32(out->data + at, llen) % 10];
        for (size_t i = llen; i < max_len; i++)
            noa_buf_putc(out, ' ');
        if (o->tty) {
            char esc[8];
            int k = snprintf(esc, sizeof(esc), "\x1b[%dm", sgr);
            /* Wrap the padded labels in the colour, as fatih/color does. */
            noa_buf_reserve(out, (size_t)k);
            memmove(out->data + at + k, out->data + at, out->len - at);
            memcpy(out->data + at, esc, (size_t)k);
            out->len += (size_t)k;
            noa_buf_append(out, "\x1b[0m", 4);
        }
        noa_buf_putc(out, ' ');
    }
    noa_buf_append(out, line, n);
    noa_buf_putc(out, '\n');
}

void noa_cli_output_entry(struct noa_buf *out, const struct noa_cli_output_opts *o, int64_t ts_ns,
                          const struct noa_cli_labels *labels, size_t max_labels_len,
                          const char *line, size_t line_len)
{
    switch (o->mode) {
    case NOA_CLI_OUTPUT_DEFAULT:
        put_default(out, o, ts_ns, labels, max_labels_len, line, line_len);
        break;
    case NOA_CLI_OUTPUT_RAW:
        if (line_len && line[line_len - 1] == '\n')
            line_len--;
        noa_buf_append(out, line, line_len);
        noa_buf_putc(out, '\n');
        break;
    case NOA_CLI_OUTPUT_JSONL:
        /* json.Marshal of a map: keys sorted (labels, line, timestamp). */
        noa_buf_putc(out, '{');
        if (!o->no_labels) {
            noa_buf_append(out, "\"labels\":{", 10);
            for (size_t i = 0; i < labels->n; i++) {
                if (i)
                    noa_buf_putc(out, ',');
                noa_cli_output_json_str(out, labels->names[i], strlen(labels->names[i]));
                noa_buf_putc(out, ':');
                noa_cli_output_json_str(out, labels->values[i], strlen(labels->values[i]));
            }
            noa_buf_append(out, "},", 2);
        }
        noa_buf_append(out, "\"line\":", 7);
        noa_cli_output_json_str(out, line, line_len);
        noa_buf_append(out, ",\"timestamp\":\"", 14);
        noa_cli_output_time(out, ts_ns, NOA_CLI_OUTPUT_TS_RFC3339NANO, o->utc);
        noa_buf_append(out, "\"}\n", 3);
        break;
    }
}

static void newline_indent(struct noa_buf *out, int depth)
{
    noa_buf_putc(out, '\n');
    for (int i = 0; i < depth; i++)
        noa_buf_append(out, "  ", 2);
}

static const char *skip_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

int noa_cli_output_indent(struct noa_buf *out, const char *json, size_t len)
{
    const char *p = json, *e = json + len;
    char stack[256]; /* nesting of {[; deeper input is refused */
    int depth = 0;
    size_t start = out->len;
    int rc = NOA_EINVAL;

    p = skip_ws(p, e);
    if (p == e)
        goto fail;
    while (p < e) {
        char c = *p;
        if (c == '"') {
            const char *q = p + 1;
            while (q < e && *q != '"')
                q += (*q == '\\') ? 2 : 1;
            if (q >= e)
                goto fail;
            noa_buf_append(out, p, (size_t)(q + 1 - p));
            p = q + 1;
        } else if (c == '{' || c == '[') {
            if (depth == (int)sizeof(stack))
                goto fail;
            stack[depth++] = c;
            noa_buf_putc(out, c);
            const char *q = skip_ws(p + 1, e);
            if (q < e && *q == (c == '{' ? '}' : ']')) {
                /* Empty object or array stays on one line. */
                noa_buf_putc(out, *q);
                depth--;
                p = q + 1;
            } else {
                newline_indent(out, depth);
                p++;
            }
        } else if (c == '}' || c == ']') {
            if (depth == 0 || stack[depth - 1] != (c == '}' ? '{' : '['))
                goto fail;
            depth--;
            newline_indent(out, depth);
            noa_buf_putc(out, c);
            p++;
        } else if (c == ',') {
            if (depth == 0)
                goto fail;
            noa_buf_putc(out, ',');
            newline_indent(out, depth);
            p++;
        } else if (c == ':') {
            noa_buf_append(out, ": ", 2);
            p++;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            p++;
        } else {
            /* A number or a literal: copied as the server wrote it. */
            const char *q = p;
            while (q < e && !strchr(",:{}[] \t\r\n\"", *q))
                q++;
            noa_buf_append(out, p, (size_t)(q - p));
            p = q;
        }
    }
    if (depth != 0)
        goto fail;
    return 0;
fail:
    out->len = start;
    return rc;
}

void noa_cli_output_logprefix(struct noa_buf *out, int64_t now_ns)
{
    time_t sec;
    long ns;
    struct tm tm;
    split_ns(now_ns, &sec, &ns);
    localtime_r(&sec, &tm);
    noa_buf_printf(out, "%04d/%02d/%02d %02d:%02d:%02d ", tm.tm_year + 1900, tm.tm_mon + 1,
                   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}
