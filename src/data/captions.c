/* Captions files: name -> caption, as JSON or tab-separated text (data/captions.h). */
#include "data/captions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/files.h"
#include "base/text.h"
#include "base/util.h"

typedef struct entry {
    char *name;
    char *caption;
} entry;

struct sa__captions {
    entry *e;
    int n, cap;
};

void sa__captions_free(sa__captions *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) {
        free(c->e[i].name);
        free(c->e[i].caption);
    }
    free(c->e);
    free(c);
}

int sa__captions_count(const sa__captions *c) {
    return c ? c->n : 0;
}

/* Takes copies of name[0..nl) and caption[0..cl). 0 when out of memory. */
static int add(sa__captions *c, const char *name, size_t nl, const char *caption, size_t cl) {
    if (c->n == c->cap) {
        int nc = c->cap ? c->cap * 2 : 64;
        entry *e = realloc(c->e, (size_t)nc * sizeof *e);
        if (!e) return 0;
        c->e = e;
        c->cap = nc;
    }
    char *n = sa__utf8_sanitize(name, nl, NULL), *t = sa__utf8_sanitize(caption, cl, NULL);
    if (!n || !t) {
        free(n);
        free(t);
        return 0;
    }
    c->e[c->n].name = n;
    c->e[c->n].caption = t;
    c->n++;
    return 1;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

static int parse_json(sa__captions *c, const char *text, size_t len, const char *name,
                      sa_error *err) {
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!doc) return sa__json_error(err, name, text, len, end);
    int rc = SA_OK;
    if (!cJSON_IsObject(doc))
        rc = sa_error_set(err, SA_ERR_PARSE,
                          "%s: a JSON captions file is one object of name: caption", name);
    const cJSON *it;
    cJSON_ArrayForEach(it, doc) {
        if (rc != SA_OK) break;
        if (!cJSON_IsString(it) || !*it->valuestring || !*it->string)
            rc = sa_error_set(err, SA_ERR_PARSE,
                              "%s: \"%.100s\": the caption must be a non-empty string", name,
                              it->string);
        else if (!add(c, it->string, strlen(it->string), it->valuestring, strlen(it->valuestring)))
            rc = sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", name);
    }
    cJSON_Delete(doc);
    return rc;
}

static size_t trim_end(const char *s, size_t n) {
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\r' || s[n - 1] == '\t'))
        n--;
    return n;
}

static int parse_lines(sa__captions *c, const char *text, size_t len, const char *name,
                       sa_error *err) {
    size_t pos = 0;
    for (int line = 1; pos < len; line++) {
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + (nl ? 1 : 0);
        size_t k = 0;
        while (k < n && (s[k] == ' ' || s[k] == '\r'))
            k++;
        if (k == n || s[k] == '#') continue;
        const char *tab = memchr(s, '\t', n);
        size_t name_len = tab ? trim_end(s, (size_t)(tab - s)) : 0;
        const char *cap = tab ? tab + 1 : NULL;
        size_t cap_len = tab ? trim_end(cap, n - (size_t)(cap - s)) : 0;
        while (cap_len > 0 && *cap == ' ') {
            cap++;
            cap_len--;
        }
        if (!tab || name_len == 0 || cap_len == 0)
            return sa_error_set(
                err, SA_ERR_PARSE,
                "%s line %d: expected NAME<TAB>CAPTION (a name, one tab, the caption)", name, line);
        if (!add(c, s, name_len, cap, cap_len))
            return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", name);
    }
    return SA_OK;
}

int sa__captions_parse(const char *text, size_t len, const char *name, sa__captions **out,
                       sa_error *err) {
    if (!out || (!text && len)) return sa_error_set(err, SA_ERR_INVALID, "captions: NULL argument");
    *out = NULL;
    if (!name) name = "captions";
    sa__captions *c = calloc(1, sizeof *c);
    if (!c) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", name);
    size_t k = 0;
    while (k < len && (text[k] == ' ' || text[k] == '\t' || text[k] == '\r' || text[k] == '\n'))
        k++;
    int rc = k < len && text[k] == '{' ? parse_json(c, text, len, name, err)
                                       : parse_lines(c, text, len, name, err);
    if (rc == SA_OK && c->n == 0)
        rc = sa_error_set(err, SA_ERR_PARSE, "%s: no captions in it", name);
    if (rc == SA_OK) {
        qsort(c->e, (size_t)c->n, sizeof *c->e, by_name);
        for (int i = 1; i < c->n && rc == SA_OK; i++)
            if (!strcmp(c->e[i - 1].name, c->e[i].name))
                rc = sa_error_set(err, SA_ERR_PARSE, "%s: \"%.200s\" is given twice", name,
                                  c->e[i].name);
    }
    if (rc != SA_OK) {
        sa__captions_free(c);
        return rc;
    }
    *out = c;
    return SA_OK;
}

int sa__captions_load(const char *path, sa__captions **out, sa_error *err) {
    char *text = NULL;
    size_t len = 0;
    if (out) *out = NULL;
    int rc = sa__read_file(path, SA__MAX_JSON_BYTES, &text, &len, err);
    if (rc != SA_OK) return rc;
    rc = sa__captions_parse(text, len, path, out, err);
    free(text);
    return rc;
}

static const char *find(const sa__captions *c, const char *key) {
    entry k = {(char *)key, NULL};
    const entry *e = bsearch(&k, c->e, (size_t)c->n, sizeof *c->e, by_name);
    return e ? e->caption : NULL;
}

const char *sa__captions_find(const sa__captions *c, const char *part, const char *stem) {
    if (!c || !stem) return NULL;
    if (part && *part) {
        size_t n = strlen(part) + strlen(stem) + 2;
        char *key = malloc(n);
        if (key) {
            snprintf(key, n, "%s/%s", part, stem);
            const char *hit = find(c, key);
            free(key);
            if (hit) return hit;
        }
    }
    return find(c, stem);
}
