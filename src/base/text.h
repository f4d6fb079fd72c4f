/* Internal: text that leaves the library is well-formed.
 *
 * Every string the library writes as JSON (result files, trajectories, exports, request bodies)
 * comes from outside at some point -- a file name, a description, a model reply -- and may hold
 * bytes that are not UTF-8. JSON readers and servers reject such a document, so the one printer
 * below replaces every invalid byte (stray continuation bytes, truncated or overlong sequences,
 * surrogates, code points above U+10FFFF) by U+FFFD, the Unicode replacement character; valid text,
 * including every ASCII byte, is copied unchanged. cJSON escapes control characters itself, and
 * JSON syntax is ASCII, so sanitising the printed document is the same as sanitising every string
 * in it.
 *
 *   char *s = sa__json_print(doc, 0);      // compact; 1: indented as cJSON_Print
 *   ... fputs(s, f); free(s);
 */
#ifndef SEGAGENT_BASE_TEXT_H
#define SEGAGENT_BASE_TEXT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "segagent/error.h"

/* Number of bytes at the start of s[0..len) that form valid UTF-8 (len when all of it does). */
size_t sa__utf8_valid_prefix(const char *s, size_t len);
/* A malloc'd, NUL-terminated copy of s[0..len) with every invalid UTF-8 byte replaced by U+FFFD (EF
 * BF BD). *out_len (may be NULL) receives its length. NULL when out of memory. */
char *sa__utf8_sanitize(const char *s, size_t len, size_t *out_len);
/* In place for a malloc'd string: returns s itself when it is valid UTF-8 (the common case, no
 * copy), otherwise a sanitised copy and frees s. NULL (s freed) when out of memory; NULL in gives
 * NULL. */
char *sa__utf8_fix(char *s);
/* cJSON_Print (formatted != 0) or cJSON_PrintUnformatted of doc, as valid UTF-8. Free with free().
 * NULL when out of memory. */
char *sa__json_print(const cJSON *doc, int formatted);

/* The one message for JSON that does not parse: "NAME: not valid JSON (empty)", "(ends early, after
 * N bytes)", "(error near byte K of N)", or "NAME: JSON nested deeper than 1000 levels (the
 * reader's limit) at byte K" when that is why (cJSON refuses deeper nesting; the text itself may be
 * fine). end is where cJSON stopped (cJSON_ParseWithLengthOpts), NULL when unknown. Returns
 * SA_ERR_PARSE. */
int sa__json_error(sa_error *err, const char *name, const char *json, size_t len, const char *end);
/* 1 when s[0..len) nests [ and { deeper than cJSON accepts (CJSON_NESTING_LIMIT). */
int sa__json_too_deep(const char *s, size_t len);

#endif
