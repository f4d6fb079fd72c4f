/* Small helpers shared by the test programs. Each test program is one executable: exit 0 pass, 1 fail,
 * 77 skip (with a last line saying why). */
#ifndef SEGAGENT_TESTUTIL_H
#define SEGAGENT_TESTUTIL_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

extern int tu_failures;

#define CHECK(cond)                                                                                            \
    do {                                                                                                       \
        if (!(cond)) {                                                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                           \
            tu_failures++;                                                                                     \
        }                                                                                                      \
    } while (0)

#define CHECKF(cond, ...)                                                                                      \
    do {                                                                                                       \
        if (!(cond)) {                                                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);                           \
            fprintf(stderr, __VA_ARGS__);                                                                      \
            fputc('\n', stderr);                                                                               \
            tu_failures++;                                                                                     \
        }                                                                                                      \
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
/* Prints "name: N failures" and returns the exit code (0 or 1). */
int tu_finish(const char *name);

#endif
