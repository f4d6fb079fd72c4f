/* The restricted unpickler for data pickles (containers and scalars only), from the one pickle VM
 * in pth.c.
 *
 *   char *json = NULL;
 *   size_t len = 0;
 *   if (sa__pickle_to_json(buf, n, "refs(unc).p", &json, &len, &err)) return err.code;
 *   ... parse json with cJSON ...
 *   free(json);
 *
 * Nothing is executed: any GLOBAL / STACK_GLOBAL (a class or a callable) is refused by name, and so
 * are REDUCE, NEWOBJ, BUILD and persistent ids on anything. Accepted: protocols 0-5 as Python 2 and
 * Python 3 write them (text INT/LONG/FLOAT/STRING/UNICODE/PUT/GET, the binary ints, floats, str,
 * unicode and bytes, tuples, lists, dicts, sets, True/False/None, the memo, FRAME). Values map to
 * JSON as: None null, bool, int (64-bit; larger is an error), float (NaN/inf as null), str /
 * unicode / bytes as a string (bytes as they are), tuple / list / set as an array, dict as an
 * object with the string keys only. */
#ifndef SEGAGENT_UNPICKLE_H
#define SEGAGENT_UNPICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "segagent/error.h"

/* Runs the pickle in buf (n bytes) and writes its value as NUL-terminated JSON into *json (*len
 * bytes, may be NULL), which the caller frees. what names the file in messages. Errors:
 * SA_ERR_FORMAT (malformed or truncated, naming the byte), SA_ERR_UNSUPPORTED (a forbidden global
 * or an unknown opcode), SA_ERR_RANGE (too many objects, or a memo-shared value expanding past 64x
 * the input), SA_ERR_NOMEM. On error *json is NULL. */
int sa__pickle_to_json(const uint8_t *buf, size_t n, const char *what, char **json, size_t *len,
                       sa_error *err);

#endif
