/* Writing files the safe way, for the library and its programs: every file is written to a temporary name in
 * the same folder and renamed over the final name only when complete, so a failed, interrupted or killed run
 * leaves the previous file (or none), never a partial one.
 *
 *   if (sa_file_write_json("out.json", doc, &err)) fprintf(stderr, "%s\n", err.msg);
 *   char *p = sa_path_join(dir, "mask.png");          // "dir/mask.png", malloc'd
 *   if (sa_make_dirs("run/a/b", &err)) ...;            // mkdir -p
 *
 * Errors name the path: SA_ERR_IO with the system's reason (the rename included), SA_ERR_NOMEM.
 */
#ifndef SEGAGENT_FILEIO_H
#define SEGAGENT_FILEIO_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "segagent/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes len bytes of data to path, all or nothing. */
int sa_file_write(const char *path, const void *data, size_t len, sa_error *err);
/* Writes text and a newline to path, all or nothing. */
int sa_file_write_text(const char *path, const char *text, sa_error *err);
/* Writes the formatted document (cJSON_Print) and a newline to path, all or nothing. The text is valid
 * UTF-8: bytes of the document's strings that are not are written as U+FFFD (the replacement character). */
int sa_file_write_json(const char *path, const cJSON *doc, sa_error *err);

/* dir + "/" + name in a malloc'd string (no doubled slash when dir ends with one; dir "" gives name). NULL when
 * out of memory or either argument is NULL. */
char *sa_path_join(const char *dir, const char *name);

/* Creates path and its missing parents (mkdir -p). SA_ERR_IO when a part cannot be made or path exists and is
 * not a folder; errno then holds the reason (ENOTDIR for the latter, ENOENT for "", ENAMETOOLONG). */
int sa_make_dirs(const char *path, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
