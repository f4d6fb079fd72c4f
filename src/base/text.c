/* UTF-8 validation and repair for everything the library writes as JSON (base/text.h).
 *
 * Design: one decoder following the Unicode "well-formed UTF-8 byte sequences" table (Unicode 15,
 * table 3-7): overlong forms, surrogates and values above U+10FFFF are invalid. Each maximal
 * invalid subpart is replaced by one U+FFFD, as the W3C / WHATWG decoders do, so the output is the
 * same as a browser's.
 */
#include "base/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid sequence at s (1..4), or 0 when the bytes there are not a valid sequence;
 * *skip then receives the length of the maximal invalid subpart (>= 1). */
static size_t seq_len(const unsigned char *s, size_t n, size_t *skip) {
    unsigned char b = s[0];
    *skip = 1;
    if (b < 0x80) return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 3;
        if (b == 0xE0) lo = 0xA0; /* overlong */
        if (b == 0xED) hi = 0x9F; /* surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 4;
        if (b == 0xF0) lo = 0x90; /* overlong */
        if (b == 0xF4) hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    for (size_t k = 1; k < need; k++) {
        if (k >= n) return 0;
        unsigned char c = s[k];
        if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) return 0;
        *skip = k + 1;
    }
    return need;
}

size_t sa__utf8_valid_prefix(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, skip;
    while (i < len) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = seq_len(u + i, len - i, &skip);
        if (!k) return i;
        i += k;
    }
    return len;
}

char *sa__utf8_sanitize(const char *s, size_t len, size_t *out_len) {
    const unsigned char *u = (const unsigned char *)s;
    if (len > ((size_t)-1 - 1) / 3) return NULL;
    char *out = malloc(len * 3 + 1); /* each invalid byte becomes at most 3 */
    if (!out) return NULL;
    size_t i = 0, o = 0, skip;
    while (i < len) {
        size_t k = seq_len(u + i, len - i, &skip);
        if (k) {
            memcpy(out + o, u + i, k);
            o += k;
            i += k;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += skip;
        }
    }
    out[o] = 0;
    if (out_len) *out_len = o;
    char *shrunk = realloc(out, o + 1);
    return shrunk ? shrunk : out;
}

char *sa__utf8_fix(char *s) {
    if (!s) return NULL;
    size_t n = strlen(s);
    if (sa__utf8_valid_prefix(s, n) == n) return s;
    char *t = sa__utf8_sanitize(s, n, NULL);
    free(s);
    return t;
}

char *sa__json_print(const cJSON *doc, int formatted) {
    if (!doc) return NULL;
    return sa__utf8_fix(formatted ? cJSON_Print(doc) : cJSON_PrintUnformatted(doc));
}

/* Deepest nesting of [ and { (outside strings) in s[0..n), stopping once above limit. */
static size_t nesting(const char *s, size_t n, size_t limit) {
    size_t depth = 0, max = 0;
    int in_str = 0;
    for (size_t i = 0; i < n && max <= limit; i++) {
        char ch = s[i];
        if (in_str) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_str = 0;
        } else if (ch == '"') {
            in_str = 1;
        } else if (ch == '[' || ch == '{') {
            if (++depth > max) max = depth;
        } else if ((ch == ']' || ch == '}') && depth > 0) {
            depth--;
        }
    }
    return max;
}

int sa__json_error(sa_error *err, const char *name, const char *json, size_t len, const char *end) {
    if (!name) name = "JSON";
    if (!json || len == 0)
        return sa_error_set(err, SA_ERR_PARSE, "%s: not valid JSON (empty)", name);
    size_t at = end && end >= json && end <= json + len ? (size_t)(end - json) : len;
    size_t scan = at < len ? at + 1 : len;
    if (nesting(json, scan, CJSON_NESTING_LIMIT) > CJSON_NESTING_LIMIT)
        return sa_error_set(
            err, SA_ERR_PARSE,
            "%s: JSON nested deeper than %d levels (the reader's limit) at byte %zu", name,
            CJSON_NESTING_LIMIT, at);
    if (at + 1 >= len)
        return sa_error_set(err, SA_ERR_PARSE, "%s: not valid JSON (ends early, after %zu bytes)",
                            name, len);
    return sa_error_set(err, SA_ERR_PARSE, "%s: not valid JSON (error near byte %zu of %zu)", name,
                        at, len);
}

int sa__json_too_deep(const char *s, size_t len) {
    return s && nesting(s, len, CJSON_NESTING_LIMIT) > CJSON_NESTING_LIMIT;
}
