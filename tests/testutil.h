/* Small helpers shared by the test programs. Each test program is one executable: exit 0 pass, 1 fail,
 * 77 skip (with a last line saying why). */
#ifndef SEGAGENT_TESTUTIL_H
#define SEGAGENT_TESTUTIL_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

extern int tu_failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            tu_failures++;                                                                         \
        }                                                                                          \
    } while (0)

#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            tu_failures++;                                                                         \
        }                                                                                          \
    } while (0)

/* Path of the shared folder ($SEGAGENT_SHARED, else ../shared relative to the repository root, else
 * ../../shared ...). Returns NULL when not found. */
const char *tu_shared_dir(void);
/* Like tu_shared_dir but exits 77 (skip) with a clear message when missing -- unless SEGAGENT_REQUIRE_SHARED
 * is set (CI), in which case it exits 1. */
const char *tu_require_shared(void);
/* Joins shared dir and a relative path into a static-per-call buffer owned by the caller (malloc'd). */
char *tu_shared_path(const char *rel);
/* Reads a whole file (NUL-terminated); returns NULL on failure. *len may be NULL. */
char *tu_read_file(const char *path, size_t *len);
/* Makes a fresh temporary directory (malloc'd path). */
char *tu_tmpdir(void);
/* Removes a directory and everything below it (no symlinks followed). Returns 0 or -1. */
int tu_rmtree(const char *dir);
/* Prints "name: N failures" and returns the exit code (0 or 1). */
int tu_finish(const char *name);

/* ---- running the built segagent binary from a test (tests/util_cli.c) ----
 * tu_cli_init finds <build>/segagent beside this test's folder (argv[0] = <build>/tests/test_x), else
 * $BUILD/segagent, exits 1 when it is missing, and makes a fresh temporary directory. Paths given as `rel` are
 * relative to that directory. */
typedef struct tu_cli {
    char bin[4096];
    char *dir;
} tu_cli;

void tu_cli_init(tu_cli *c, const char *argv0);
/* Runs "segagent ARGS" with stdout/stderr in DIR/TAG.out and DIR/TAG.err; returns the exit status (-1 when it
 * did not exit normally). */
int tu_cli_run(const tu_cli *c, const char *args, const char *tag);
/* The contents of DIR/REL (malloc'd; an empty string when unreadable). */
char *tu_cli_slurp(const tu_cli *c, const char *rel);
void tu_cli_mkdir(const tu_cli *c, const char *rel);                        /* exits 1 on failure */
void tu_cli_write_text(const tu_cli *c, const char *rel, const char *text); /* exits 1 on failure */

#endif
