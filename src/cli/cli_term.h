/* Internal to the CLI: the one way text reaches the terminal. Text from outside the program (file
 * names, descriptions, model replies, strings read from JSON files, error messages quoting them)
 * may hold control characters: an ESC sequence can retitle the window, move the cursor or clear the
 * screen, a CR can overwrite the line. Everything the CLI prints goes through cli_printf, which
 * shows such characters as visible escapes
 * ("\x1b", "\r", "\u009b"); newlines and tabs are kept. Only the progress bar's own "\r" and
 * "\033[K" are written directly (cli_common.c, cli_segment.c), with the outside text in them
 * escaped by cli_escape. */
#ifndef SEGAGENT_CLI_TERM_H
#define SEGAGENT_CLI_TERM_H

#include <stddef.h>
#include <stdio.h>

#if defined(__GNUC__)
#define CLI_PRINTF_LIKE(a, b) __attribute__((format(printf, a, b)))
#else
#define CLI_PRINTF_LIKE(a, b)
#endif

/* fprintf(f, fmt, ...) with control characters of the result escaped (newline and tab kept).
 * Returns the number of bytes written, or -1. */
int cli_printf(FILE *f, const char *fmt, ...) CLI_PRINTF_LIKE(2, 3);

/* s escaped the same way into buf (always NUL-terminated, cut at cap - 1 bytes, never inside an
 * escape); newlines are escaped too when one_line is set ("\n"). Returns buf. */
char *cli_escape(const char *s, int one_line, char *buf, size_t cap);

#endif
