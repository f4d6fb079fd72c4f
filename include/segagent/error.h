/* segagent error values.
 *
 *   sa_error err = {0};
 *   if (sa_image_load("x.png", &img, &err) != SA_OK)
 *       fprintf(stderr, "%s\n", err.msg);   // one line naming the file and the problem
 *
 * Every fallible function returns an int status: SA_OK (0) or a negative sa_status. When the caller passes a
 * non-NULL sa_error, the function also writes a one-line, human-readable message there. Library code never
 * prints and never exits. There is no global error state.
 */
#ifndef SEGAGENT_ERROR_H
#define SEGAGENT_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sa_status {
    SA_OK = 0,
    SA_ERR_INVALID = -1,     /* bad argument from the caller */
    SA_ERR_IO = -2,          /* file could not be opened, read or written */
    SA_ERR_FORMAT = -3,      /* malformed or truncated input data */
    SA_ERR_NOMEM = -4,       /* allocation failed or size overflowed */
    SA_ERR_RANGE = -5,       /* value outside its allowed range (sizes, coordinates) */
    SA_ERR_UNSUPPORTED = -6, /* valid input that this build does not handle */
    SA_ERR_NETWORK = -7,     /* connection failed, HTTP error status */
    SA_ERR_PARSE = -8,       /* text (JSON, model reply) could not be parsed */
    SA_ERR_STATE = -9,       /* call not valid in the object's current state */
    SA_ERR_NOT_FOUND = -10,  /* named item (tensor, file, key) missing */
    SA_ERR_TIMEOUT = -11,    /* operation ran past its time limit */
    SA_ERR_DONE = -12        /* nothing left to do (e.g. the annotator has no click to place) */
} sa_status;

#define SA_ERROR_MSG_LEN 512

typedef struct sa_error {
    int code;                   /* last status written, SA_OK when none */
    char msg[SA_ERROR_MSG_LEN]; /* one line, no trailing newline */
} sa_error;

/* Static English name of a status code ("invalid argument", ...). Never NULL. */
const char *sa_strerror(int code);

/* Records code and a printf-style message in err (if err is non-NULL). Returns code, so callers can write
 * `return sa_error_set(err, SA_ERR_FORMAT, "%s: truncated", path);`. */
int sa_error_set(sa_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Prefixes the existing message in err with a printf-style context ("loading x: " + old message).
 * Returns err->code (or SA_ERR_INVALID when err is NULL). */
int sa_error_prefix(sa_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Clears err to SA_OK and an empty message. err may be NULL. */
void sa_error_clear(sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
