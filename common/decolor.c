/*
 * ANSI escape stripping (see decolor.h). A hand-written matcher for the
 * stripansi expression
 *   [\x1b\x9b][[\]()#;?]*(?:[a-zA-Z\d;]*\x07 | (\d{1,4}(;\d{0,4})*)?FINAL)
 * with the backtracking the regex would do, so no regex runs per line.
 * U+009B is the two bytes C2 9B, as Go matches runes. Any thread.
 */
#include "common/decolor.h"

#include <ctype.h>
#include <string.h>

static int is_final(unsigned char c)
{
    return isdigit(c) || (c >= 'A' && c <= 'P') || c == 'R' || c == 'Z' || c == 'c' ||
           (c >= 'f' && c <= 'n') || c == 't' || c == 'q' || c == 'r' || c == 'y' || c == '=' ||
           c == '>' || c == '<' || c == '~';
}

/* Length of the escape sequence at p (0 when there is none). */
static size_t seq_len(const unsigned char *p, size_t n)
{
    size_t j;
    if (p[0] == 0x1b)
        j = 1;
    else if (n >= 2 && p[0] == 0xc2 && p[1] == 0x9b)
        j = 2;
    else
        return 0;
    while (j < n && strchr("[]()#;?", p[j]) && p[j])
        j++;
    /* First alternative: alphanumerics and ';' ended by BEL. */
    size_t k = j;
    while (k < n && (isalnum(p[k]) || p[k] == ';'))
        k++;
    if (k < n && p[k] == 0x07)
        return k + 1;
    /* Second alternative: greedy numeric parameters, then a final byte. */
    k = j;
    if (k < n && isdigit(p[k])) {
        for (int d = 0; d < 4 && k < n && isdigit(p[k]); d++)
            k++;
        while (k < n && p[k] == ';') {
            k++;
            for (int d = 0; d < 4 && k < n && isdigit(p[k]); d++)
                k++;
        }
    }
    if (k < n && is_final(p[k]))
        return k + 1;
    /* Backtrack: the last digit the parameters took can be the final. */
    while (k > j) {
        k--;
        if (isdigit(p[k]))
            return k + 1;
    }
    return 0;
}

struct noa_str noa_decolor_run(struct noa_str line, struct noa_buf *scratch)
{
    const unsigned char *p = (const unsigned char *)line.p;
    size_t i = 0;
    while (i < line.len && p[i] != 0x1b && p[i] != 0xc2)
        i++;
    if (i == line.len)
        return line;
    noa_buf_reset(scratch);
    noa_buf_append(scratch, line.p, i);
    while (i < line.len) {
        size_t l = seq_len(p + i, line.len - i);
        if (l) {
            i += l;
            continue;
        }
        noa_buf_putc(scratch, (char)p[i]);
        i++;
    }
    return (struct noa_str){scratch->data, scratch->len};
}
