/* libFuzzer target for what the library writes and how it reports JSON it cannot read
 * (base/text.h): any bytes, sanitised, are valid UTF-8 and keep every valid sequence; any document
 * cJSON accepts prints as valid UTF-8; any text cJSON refuses gets a one-line message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    size_t n = 0;
    char *t = sa__utf8_sanitize(s, size, &n);
    if (!t) return 0;
    if (sa__utf8_valid_prefix(t, n) != n || strlen(t) > n) abort();
    size_t v = sa__utf8_valid_prefix(s, size);
    if (v == size && (n != size || memcmp(t, s, size)))
        abort();                  /* valid text is copied unchanged */
    if (memcmp(t, s, v)) abort(); /* and so is a valid prefix */
    free(t);
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(s, size, &end, 0);
    if (doc) {
        char *p = sa__json_print(doc, size & 1);
        if (p && sa__utf8_valid_prefix(p, strlen(p)) != strlen(p)) abort();
        free(p);
        cJSON_Delete(doc);
    } else {
        sa_error err = {0};
        if (sa__json_error(&err, "fuzz", s, size, end) != SA_ERR_PARSE || strchr(err.msg, '\n'))
            abort();
        (void)sa__json_too_deep(s, size);
    }
    return 0;
}
