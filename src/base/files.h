/* Internal: the library's one way to read a whole file and to write one.
 *
 * Reading is bounded: every caller names the largest file it accepts, and a larger one is refused before it
 * is read (SA_ERR_RANGE naming the file and the limit). Pipes and other non-seekable files work too.
 *
 * Writing never leaves a half-written file under the final name: the data goes to a temporary file in the same
 * folder (so the rename cannot cross file systems) and is renamed over the final name only when complete and
 * flushed. A failed or aborted write removes the temporary file and leaves whatever was at the final name.
 *
 *   char *text = NULL; size_t n = 0;
 *   if (sa__read_file(path, SA__MAX_JSON_BYTES, &text, &n, &err)) return err.code;   // text NUL-terminated
 *
 *   sa__out out;
 *   if (sa__out_open(&out, "traj.json", &err)) ...;
 *   fputs("...", out.f);                                  // or fwrite; errors are checked at commit
 *   if (sa__out_commit(&out, &err)) ...;                  // renamed into place; on error nothing is left
 *   // or sa__out_abort(&out) to discard
 */
#ifndef SEGAGENT_BASE_FILES_H
#define SEGAGENT_BASE_FILES_H

#include <stddef.h>
#include <stdio.h>

#include "segagent/error.h"
#include "segagent/fileio.h"

/* Limits shared by the readers of one kind of file. */
#define SA__MAX_JSON_BYTES ((size_t)64 << 20) /* config, index, cases and other small JSON files */
#define SA__MAX_TEXT_BYTES ((size_t)1 << 20)  /* prompt templates and other short text files */
#define SA__MAX_IMAGE_BYTES ((size_t)1 << 30) /* an encoded image file */
#define SA__MAX_DATA_BYTES ((size_t)4 << 30)  /* trajectory and annotation files (whole splits) */

/* Reads all of path into a malloc'd buffer with a NUL after the last byte (*len excludes it; len may be NULL).
 * Errors: SA_ERR_IO (cannot open or read, message names the file and the reason), SA_ERR_RANGE (larger than
 * max_bytes), SA_ERR_NOMEM. On error *data is NULL. */
int sa__read_file(const char *path, size_t max_bytes, char **data, size_t *len, sa_error *err);

/* A file being written under a temporary name. f is an ordinary stdio stream. */
typedef struct sa__out {
    FILE *f;
    char *path; /* final name */
    char *tmp;  /* temporary name in the same folder */
} sa__out;

/* Creates the temporary file (mode 0666 less the umask, as fopen would). SA_ERR_IO naming path on failure. */
int sa__out_open(sa__out *o, const char *path, sa_error *err);
/* Flushes, closes and renames into place. Any write error since open (disk full, ...) is reported here as
 * SA_ERR_IO naming the final path, and the temporary file is removed. o is reset either way. */
int sa__out_commit(sa__out *o, sa_error *err);
/* Closes and removes the temporary file; the final name is untouched. Safe on a reset or zeroed sa__out. */
void sa__out_abort(sa__out *o);

/* Writing whole files, path joining and mkdir -p are public: segagent/fileio.h. */

#endif
