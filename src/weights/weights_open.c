/* Opening weights: from a path (a directory, a safetensors file, a sharded index JSON or a .pth,
 * the kind found from the content) or from a memory buffer, into the collection of weights.c.
 *
 * Files are memory-mapped read-only and the mapping is handed to the collection, so tensors point
 * straight into it. A directory holds model.safetensors.index.json, model.safetensors, or exactly
 * one *.safetensors or *.pth; config.json beside the weights is kept as text for the model
 * loaders. A sharded index may only name plain files in its own folder, each shard is loaded once,
 * and every tensor it lists must be in a shard. Names are kept as stored: renaming to a model's
 * own naming is the model loader's job. */
#include "segagent/weights.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/files.h"
#include "base/text.h"
#include "base/util.h"
#include "weights/weights_impl.h"

/* Maps a whole file read-only and records the mapping in w. */
static int map_file(sa_weights *w, const char *path, const uint8_t **buf, size_t *len,
                    sa_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sa_error_set(err, SA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return sa_error_set(err, SA_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return sa_error_set(err, SA_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size <= 0) {
        close(fd);
        return sa_error_set(err, SA_ERR_FORMAT, "%s: empty file", path);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return sa_error_set(err, SA_ERR_RANGE, "%s: file too large", path);
    }
    size_t n = (size_t)st.st_size;
    void *p = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return sa_error_set(err, SA_ERR_IO, "%s: cannot map: %s", path, strerror(e));
    int rc = sa__weights_keep(w, p, n, 1, err);
    if (rc != SA_OK) return rc;
    *buf = p;
    *len = n;
    return SA_OK;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static char *dir_of(const char *path) {
    const char *s = strrchr(path, '/');
    if (!s) return sa__strdup(".");
    if (s == path) return sa__strdup("/");
    size_t n = (size_t)(s - path);
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, path, n);
    d[n] = '\0';
    return d;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Content-based kind of a file: 1 safetensors, 2 zip (.pth), 3 JSON (index), 4 legacy torch pickle,
 * 0 unknown. */
static int sniff(const uint8_t *b, size_t n) {
    if (n >= 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4) return 2;
    if (n >= 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 5 && b[3] == 6) return 2; /* empty zip */
    if (n >= 2 && b[0] == 0x80 && b[1] <= 5) return 4; /* a bare pickle: torch.save before 1.6 */
    /* safetensors: a u64 header length below 2^40 (bytes 5..7 zero, which no JSON text has) then
     * '{'; a length beyond the file is left to the reader, which reports the truncation */
    if (n >= 9 && b[5] == 0 && b[6] == 0 && b[7] == 0 && b[8] == '{') return 1;
    size_t i = 0;
    while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'))
        i++;
    if (i < n && b[i] == '{') return 3;
    return 0;
}

static int load_file(sa_weights *w, const char *path, int allow_index, sa_error *err);

typedef struct shard_ref {
    const char *file;
    int pos; /* entry number in weight_map */
} shard_ref;

static int cmp_shard(const void *a, const void *b) {
    const shard_ref *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

/* first[i] = 1 when entry i of weight_map names its shard for the first time. Sorting keeps this
 * O(n log n): an index with 300,000 entries takes milliseconds, not minutes. */
static int first_mentions(const cJSON *map, int n, unsigned char *first) {
    shard_ref *refs = malloc((size_t)(n > 0 ? n : 1) * sizeof *refs);
    if (!refs) return -1;
    int k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, map) {
        refs[k].file = e->valuestring;
        refs[k].pos = k;
        k++;
    }
    qsort(refs, (size_t)n, sizeof *refs, cmp_shard);
    memset(first, 0, (size_t)n);
    for (int i = 0; i < n; i++)
        if (i == 0 || strcmp(refs[i].file, refs[i - 1].file) != 0) first[refs[i].pos] = 1;
    free(refs);
    return 0;
}

/* Sharded safetensors: {"weight_map": {tensor: shard file}}; each distinct shard is loaded once and
 * every listed tensor must then be present. */
static int load_index(sa_weights *w, const char *path, const uint8_t *buf, size_t n,
                      sa_error *err) {
    if (n > SA__MAX_JSON_BYTES)
        return sa_error_set(err, SA_ERR_RANGE, "%s: index JSON too large", path);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)buf, n, &end, 0);
    if (!root) return sa__json_error(err, path, (const char *)buf, n, end);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return sa_error_set(err, SA_ERR_FORMAT,
                            "%s: not a valid safetensors index (JSON object expected)", path);
    }
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map) || !map->child) {
        cJSON_Delete(root);
        return sa_error_set(err, SA_ERR_FORMAT, "%s: no \"weight_map\" object", path);
    }
    char *dir = dir_of(path);
    if (!dir) {
        cJSON_Delete(root);
        return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
    }
    int rc = SA_OK, n_entries = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, map) { /* every entry checked before any shard is opened */
        if (!cJSON_IsString(e) || !e->valuestring[0]) {
            rc = sa_error_set(err, SA_ERR_FORMAT, "%s: weight_map entry '%s' is not a file name",
                              path, e->string);
            break;
        }
        const char *f = e->valuestring;
        if (f[0] == '/' || strstr(f, "..") || strchr(f, '/')) {
            rc = sa_error_set(err, SA_ERR_FORMAT, "%s: shard name '%s' must be a plain file name",
                              path, f);
            break;
        }
        n_entries++;
    }
    unsigned char *first = rc == SA_OK ? malloc((size_t)n_entries) : NULL;
    if (rc == SA_OK && (!first || first_mentions(map, n_entries, first)))
        rc = sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
    int pos = 0;
    cJSON_ArrayForEach(e, map) {
        if (rc != SA_OK) break;
        if (!first[pos++]) continue;
        char *sp = sa_path_join(dir, e->valuestring);
        if (!sp) {
            rc = sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        rc = load_file(w, sp, 0, err);
        free(sp);
        if (rc != SA_OK) break;
    }
    free(dir);
    free(first);
    /* the caller builds the index again (sa__weights_finish); building it here makes the check
     * below a hash lookup per entry */
    if (rc == SA_OK) rc = sa__weights_finish(w, path, err);
    if (rc == SA_OK) {
        cJSON_ArrayForEach(e, map) {
            if (!sa_weights_find(w, e->string)) {
                rc = sa_error_set(err, SA_ERR_NOT_FOUND,
                                  "%s: tensor '%s' listed in weight_map is in no shard", path,
                                  e->string);
                break;
            }
        }
    }
    cJSON_Delete(root);
    return rc;
}

static int load_file(sa_weights *w, const char *path, int allow_index, sa_error *err) {
    const uint8_t *buf = NULL;
    size_t n = 0;
    int rc = map_file(w, path, &buf, &n, err);
    if (rc != SA_OK) return rc;
    switch (sniff(buf, n)) {
    case 1:
        return sa__safetensors_parse(w, buf, n, path, err);
    case 2:
        return sa__pth_parse(w, buf, n, path, err);
    case 3:
        if (allow_index) return load_index(w, path, buf, n, err);
        return sa_error_set(err, SA_ERR_FORMAT, "%s: a JSON file where a weights file was expected",
                            path);
    case 4:
        return sa_error_set(
            err, SA_ERR_UNSUPPORTED,
            "%s: legacy (pre-1.6, non-zip) torch.save file; re-save it with a newer torch "
            "or convert to safetensors",
            path);
    default:
        return sa_error_set(err, SA_ERR_FORMAT,
                            "%s: not a safetensors, .pth (zip) or index JSON file", path);
    }
}

/* Picks the weights file inside a directory (see weights.h). Returns a malloc'd path or NULL with
 * err set. */
static char *pick_in_dir(const char *dir, sa_error *err) {
    static const char *const pref[] = {"model.safetensors.index.json", "model.safetensors"};
    for (size_t i = 0; i < 2; i++) {
        char *p = sa_path_join(dir, pref[i]);
        if (!p) {
            sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", dir);
            return NULL;
        }
        if (is_file(p)) return p;
        free(p);
    }
    DIR *d = opendir(dir);
    if (!d) {
        sa_error_set(err, SA_ERR_IO, "%s: cannot list: %s", dir, strerror(errno));
        return NULL;
    }
    char *st = NULL, *pth = NULL;
    int nst = 0, npth = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        int a = ends_with(de->d_name, ".safetensors"), b = ends_with(de->d_name, ".pth");
        if (!a && !b) continue;
        char *p = sa_path_join(dir, de->d_name);
        if (!p || !is_file(p)) {
            free(p);
            continue;
        }
        if (a) {
            nst++;
            free(st);
            st = p;
        } else {
            npth++;
            free(pth);
            pth = p;
        }
    }
    closedir(d);
    char *pick = NULL;
    if (nst == 1) {
        pick = st;
        st = NULL;
    } else if (nst == 0 && npth == 1) {
        pick = pth;
        pth = NULL;
    } else if (nst + npth == 0) {
        sa_error_set(err, SA_ERR_NOT_FOUND,
                     "%s: no model.safetensors, index JSON, *.safetensors or *.pth inside", dir);
    } else {
        sa_error_set(err, SA_ERR_INVALID,
                     "%s: %d .safetensors and %d .pth files; name the one to load", dir, nst, npth);
    }
    free(st);
    free(pth);
    return pick;
}

/* config.json beside the weights describes the model: one that is not a JSON object is an error, not
 * a file to ignore (the loader would silently take defaults where it should have read values). */
static int check_config(const char *path, const char *json, sa_error *err) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, 0);
    int ok = cJSON_IsObject(root);
    cJSON_Delete(root);
    if (ok) return SA_OK;
    if (root) return sa_error_set(err, SA_ERR_FORMAT, "%s: not a JSON object", path);
    return sa__json_error(err, path, json, strlen(json), end);
}

int sa_weights_open(const char *path, sa_weights **out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_weights_open: NULL output");
    *out = NULL;
    if (!path || !*path) return sa_error_set(err, SA_ERR_INVALID, "sa_weights_open: empty path");
    sa_weights *w = sa__weights_new();
    if (!w) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
    char *file = NULL, *dir = NULL;
    int rc;
    if (is_dir(path)) {
        file = pick_in_dir(path, err);
        if (!file) {
            sa_weights_free(w);
            return err ? err->code : SA_ERR_NOT_FOUND;
        }
        dir = sa__strdup(path);
    } else {
        file = sa__strdup(path);
        dir = dir_of(path);
    }
    if (!file || !dir) {
        rc = sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    rc = load_file(w, file, 1, err);
    if (rc != SA_OK) goto fail;
    rc = sa__weights_finish(w, file, err);
    if (rc != SA_OK) goto fail;
    char *cfg = sa_path_join(dir, "config.json");
    if (!cfg) {
        rc = sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    if (is_file(cfg)) {
        char *json = NULL;
        rc = sa__read_file(cfg, SA__MAX_JSON_BYTES, &json, NULL, err);
        if (rc == SA_OK) rc = check_config(cfg, json, err);
        if (rc != SA_OK) {
            free(json);
            free(cfg);
            goto fail;
        }
        sa__weights_set_config(w, json);
    }
    free(cfg);
    free(file);
    free(dir);
    *out = w;
    return SA_OK;
fail:
    free(file);
    free(dir);
    sa_weights_free(w);
    return rc;
}

int sa_weights_from_safetensors_buffer(const uint8_t *buf, size_t n, sa_weights **out,
                                       sa_error *err) {
    if (!out)
        return sa_error_set(err, SA_ERR_INVALID, "sa_weights_from_safetensors_buffer: NULL output");
    *out = NULL;
    if (!buf && n > 0)
        return sa_error_set(err, SA_ERR_INVALID, "sa_weights_from_safetensors_buffer: NULL buffer");
    sa_weights *w = sa__weights_new();
    if (!w) return sa_error_set(err, SA_ERR_NOMEM, "safetensors buffer: out of memory");
    int rc = sa__safetensors_parse(w, buf, n, "<buffer>", err);
    if (rc == SA_OK) rc = sa__weights_finish(w, "<buffer>", err);
    if (rc != SA_OK) {
        sa_weights_free(w);
        return rc;
    }
    *out = w;
    return SA_OK;
}

int sa_weights_from_pth_buffer(const uint8_t *buf, size_t n, sa_weights **out, sa_error *err) {
    return sa_weights_from_pth_buffer_profile(buf, n, SA_PTH_STATE_DICT, out, err);
}

int sa_weights_open_pth(const char *path, int profile, sa_weights **out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_weights_open_pth: NULL output");
    *out = NULL;
    if (!path || !*path)
        return sa_error_set(err, SA_ERR_INVALID, "sa_weights_open_pth: empty path");
    if (is_dir(path))
        return sa_error_set(err, SA_ERR_INVALID, "%s: a directory where a .pth file was expected",
                            path);
    sa_weights *w = sa__weights_new();
    if (!w) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
    const uint8_t *buf = NULL;
    size_t n = 0;
    int rc = map_file(w, path, &buf, &n, err);
    if (rc == SA_OK && sniff(buf, n) != 2)
        rc = sa_error_set(err, SA_ERR_FORMAT, "%s: not a .pth (torch.save zip) file", path);
    if (rc == SA_OK) rc = sa__pth_parse_profile(w, buf, n, path, profile, err);
    if (rc == SA_OK) rc = sa__weights_finish(w, path, err);
    if (rc != SA_OK) {
        sa_weights_free(w);
        return rc;
    }
    *out = w;
    return SA_OK;
}

int sa_weights_from_pth_buffer_profile(const uint8_t *buf, size_t n, int profile, sa_weights **out,
                                       sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_weights_from_pth_buffer: NULL output");
    *out = NULL;
    if (!buf && n > 0)
        return sa_error_set(err, SA_ERR_INVALID, "sa_weights_from_pth_buffer: NULL buffer");
    sa_weights *w = sa__weights_new();
    if (!w) return sa_error_set(err, SA_ERR_NOMEM, "pth buffer: out of memory");
    int rc = sa__pth_parse_profile(w, buf, n, "<buffer>", profile, err);
    if (rc == SA_OK) rc = sa__weights_finish(w, "<buffer>", err);
    if (rc != SA_OK) {
        sa_weights_free(w);
        return rc;
    }
    *out = w;
    return SA_OK;
}
