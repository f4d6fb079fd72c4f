/* Terminal-safe printing (see cli_term.h): C0 controls other than newline and tab, DEL, and the C1
 * controls as UTF-8 encodes them (U+0080..U+009F, which some terminals obey like ESC sequences) are
 * shown as escapes. Other bytes, valid UTF-8 or not, are passed through: the terminal shows invalid
 * ones as replacement characters, which is harmless. */
#include "cli_term.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* The escape for the character at s (1 or 2 bytes, *used), or NULL when it is printed as is. */
static const char *escape_at(const unsigned char *s, int one_line, char tmp[8], int *used) {
    *used = 1;
    unsigned char c = s[0];
    if (c == '\n' && !one_line) return NULL;
    if (c == '\t') return NULL;
    if (c == '\n') return "\\n";
    if (c == '\r') return "\\r";
    if (c < 0x20 || c == 0x7f) {
        snprintf(tmp, 8, "\\x%02x", c);
        return tmp;
    }
    if (c == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f) {
        *used = 2;
        snprintf(tmp, 8, "\\u%04x", s[1]);
        return tmp;
    }
    return NULL;
}

char *cli_escape(const char *s, int one_line, char *buf, size_t cap) {
    if (!cap) return buf;
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        char tmp[8];
        int used;
        const char *e = escape_at(p, one_line, tmp, &used);
        size_t len = e ? strlen(e) : 1;
        if (n + len >= cap) break;
        if (e)
            memcpy(buf + n, e, len);
        else
            buf[n] = (char)*p;
        n += len;
        p += used;
    }
    buf[n] = '\0';
    return buf;
}

int cli_printf(FILE *f, const char *fmt, ...) {
    char small[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    char *text = small;
    if ((size_t)n >= sizeof small) {
        text = malloc((size_t)n + 1);
        if (!text) return -1;
        va_start(ap, fmt);
        vsnprintf(text, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    int out = 0;
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        size_t run = 0; /* a stretch printed as is */
        char tmp[8];
        int used;
        const char *e = NULL;
        while (p[run] && !(e = escape_at(p + run, 0, tmp, &used)))
            run++;
        if (run) fwrite(p, 1, run, f);
        out += (int)run;
        p += run;
        if (!*p) break;
        fputs(e, f);
        out += (int)strlen(e);
        p += used;
    }
    if (text != small) free(text);
    return ferror(f) ? -1 : out;
}
