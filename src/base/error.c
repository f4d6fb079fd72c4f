/* Error values: status names and message formatting for sa_error. */
#include "segagent/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *sa_strerror(int code) {
    switch (code) {
    case SA_OK:
        return "ok";
    case SA_ERR_INVALID:
        return "invalid argument";
    case SA_ERR_IO:
        return "i/o error";
    case SA_ERR_FORMAT:
        return "malformed input";
    case SA_ERR_NOMEM:
        return "out of memory";
    case SA_ERR_RANGE:
        return "value out of range";
    case SA_ERR_UNSUPPORTED:
        return "unsupported";
    case SA_ERR_NETWORK:
        return "network error";
    case SA_ERR_PARSE:
        return "parse error";
    case SA_ERR_STATE:
        return "invalid state";
    case SA_ERR_NOT_FOUND:
        return "not found";
    case SA_ERR_TIMEOUT:
        return "timed out";
    case SA_ERR_DONE:
        return "nothing left to do";
    default:
        return "unknown error";
    }
}

int sa_error_set(sa_error *err, int code, const char *fmt, ...) {
    if (!err) return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

int sa_error_prefix(sa_error *err, const char *fmt, ...) {
    if (!err) return SA_ERR_INVALID;
    char prefix[SA_ERROR_MSG_LEN];
    char old[SA_ERROR_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    size_t np = strlen(prefix);
    if (np >= sizeof err->msg) np = sizeof err->msg - 1;
    memcpy(err->msg, prefix, np);
    size_t room = sizeof err->msg - 1 - np, no = strlen(old);
    if (no > room) no = room;
    memcpy(err->msg + np, old, no);
    err->msg[np + no] = '\0';
    return err->code;
}

void sa_error_clear(sa_error *err) {
    if (!err) return;
    err->code = SA_OK;
    err->msg[0] = '\0';
}
