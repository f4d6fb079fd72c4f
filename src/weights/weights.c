/* Weight collection: the tensor table, name lookup, dtype conversion, and the dispatch from a path
 * (directory, safetensors file, sharded index JSON, .pth) to the format readers.
 *
 * Files are memory-mapped read-only and tensors point straight into the mapping; only data that
 * must be transformed (inflated zip entries, strided or misaligned tensors) is copied into blocks
 * the collection owns. Lookup is an open-addressing hash over the names, built once by
 * sa__weights_finish, which also applies the official -> Hugging Face SAM name mapping and rejects
 * duplicate names. */
#include "segagent/weights.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "sam/sam_names.h"
#include "weights/weights_impl.h"

#define MAX_CONFIG_BYTES (16u * 1024u * 1024u)
#define MAX_INDEX_BYTES (64u * 1024u * 1024u)

typedef struct region {
    void *p;
    size_t len;
    int is_mmap;
} region;

struct sa_weights {
    sa_weights_params params;
    sa_tensor *t;
    int n, cap;
    int *slots; /* hash index into t, -1 empty; nslots is a power of two */
    size_t nslots;
    region *regions;
    int nregions, capregions;
    char *config_json;
};

/* ---------------------------------------------------------------- dtypes */

const char *sa_dtype_name(sa_dtype dt) {
    switch (dt) {
    case SA_DTYPE_F32:
        return "F32";
    case SA_DTYPE_F16:
        return "F16";
    case SA_DTYPE_BF16:
        return "BF16";
    case SA_DTYPE_F64:
        return "F64";
    case SA_DTYPE_U8:
        return "U8";
    case SA_DTYPE_I8:
        return "I8";
    case SA_DTYPE_I32:
        return "I32";
    case SA_DTYPE_I64:
        return "I64";
    case SA_DTYPE_BOOL:
        return "BOOL";
    }
    return "?";
}

size_t sa_dtype_size(sa_dtype dt) {
    switch (dt) {
    case SA_DTYPE_F32:
        return 4;
    case SA_DTYPE_F16:
        return 2;
    case SA_DTYPE_BF16:
        return 2;
    case SA_DTYPE_F64:
        return 8;
    case SA_DTYPE_U8:
        return 1;
    case SA_DTYPE_I8:
        return 1;
    case SA_DTYPE_I32:
        return 4;
    case SA_DTYPE_I64:
        return 8;
    case SA_DTYPE_BOOL:
        return 1;
    }
    return 0;
}


/* ---------------------------------------------------------------- collection */

sa_weights_params sa_weights_default_params(void) {
    sa_weights_params p;
    memset(&p, 0, sizeof p);
    p.map_sam_names = 1;
    return p;
}

sa_weights *sa__weights_new(sa_weights_params params) {
    sa_weights *w = calloc(1, sizeof *w);
    if (w) w->params = params;
    return w;
}

void sa_weights_free(sa_weights *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++)
        free((char *)w->t[i].name);
    free(w->t);
    free(w->slots);
    for (int i = w->nregions - 1; i >= 0; i--) {
        if (w->regions[i].is_mmap)
            munmap(w->regions[i].p, w->regions[i].len);
        else
            free(w->regions[i].p);
    }
    free(w->regions);
    free(w->config_json);
    free(w);
}

int sa__weights_keep(sa_weights *w, void *p, size_t len, int is_mmap, sa_error *err) {
    if (w->nregions == w->capregions) {
        int nc = w->capregions ? w->capregions * 2 : 8;
        region *r = realloc(w->regions, (size_t)nc * sizeof *r);
        if (!r) {
            if (is_mmap)
                munmap(p, len);
            else
                free(p);
            return sa_error_set(err, SA_ERR_NOMEM, "weights: out of memory");
        }
        w->regions = r;
        w->capregions = nc;
    }
    w->regions[w->nregions].p = p;
    w->regions[w->nregions].len = len;
    w->regions[w->nregions].is_mmap = is_mmap;
    w->nregions++;
    return SA_OK;
}

int sa__weights_add(sa_weights *w, const char *what, const char *name, sa_dtype dt, int ndim,
                    const int64_t *shape, const void *data, size_t nbytes, sa_error *err) {
    if (ndim < 0 || ndim > SA_TENSOR_MAX_DIMS)
        return sa_error_set(err, SA_ERR_FORMAT, "%s: tensor '%s' has %d dimensions (at most %d)",
                            what, name, ndim, SA_TENSOR_MAX_DIMS);
    size_t es = sa_dtype_size(dt);
    if (es == 0)
        return sa_error_set(err, SA_ERR_FORMAT, "%s: tensor '%s' has an unknown dtype", what, name);
    uint64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return sa_error_set(err, SA_ERR_FORMAT, "%s: tensor '%s' has a negative dimension",
                                what, name);
        if (!sa__mul_u64(numel, (uint64_t)shape[i], &numel) || numel > (uint64_t)INT64_MAX)
            return sa_error_set(err, SA_ERR_RANGE, "%s: tensor '%s' element count overflows", what,
                                name);
    }
    uint64_t need;
    if (!sa__mul_u64(numel, es, &need) || need > SIZE_MAX)
        return sa_error_set(err, SA_ERR_RANGE, "%s: tensor '%s' byte size overflows", what, name);
    if (need != (uint64_t)nbytes)
        return sa_error_set(err, SA_ERR_FORMAT,
                            "%s: tensor '%s' holds %zu bytes but its shape and dtype %s need %llu",
                            what, name, nbytes, sa_dtype_name(dt), (unsigned long long)need);
    if (w->n == w->cap) {
        if (w->cap > (1 << 24))
            return sa_error_set(err, SA_ERR_RANGE, "%s: too many tensors", what);
        int nc = w->cap ? w->cap * 2 : 64;
        sa_tensor *t = realloc(w->t, (size_t)nc * sizeof *t);
        if (!t) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", what);
        w->t = t;
        w->cap = nc;
    }
    char *nm = strdup(name);
    if (!nm) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", what);
    if (nbytes > 0 && ((uintptr_t)data % es) != 0) {
        void *copy = malloc(nbytes);
        if (!copy) {
            free(nm);
            return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory copying '%s'", what, name);
        }
        memcpy(copy, data, nbytes);
        int rc = sa__weights_keep(w, copy, nbytes, 0, err);
        if (rc != SA_OK) {
            free(nm);
            return rc;
        }
        data = copy;
    }
    sa_tensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->name = nm;
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->data = nbytes ? data : NULL;
    t->nbytes = nbytes;
    w->n++;
    return SA_OK;
}

static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static const sa_tensor *lookup(const sa_weights *w, const char *name) {
    if (!w || !w->slots || !name) return NULL;
    size_t mask = w->nslots - 1;
    for (size_t i = (size_t)hash_name(name) & mask;; i = (i + 1) & mask) {
        int k = w->slots[i];
        if (k < 0) return NULL;
        if (strcmp(w->t[k].name, name) == 0) return &w->t[k];
    }
}

/* Renames official SAM names to HF names and adds the tied top-level Fourier matrix name when
 * missing. */
static int map_sam(sa_weights *w, const char *what, sa_error *err) {
    int official = 0;
    for (int i = 0; i < w->n && !official; i++)
        official = sa__sam_name_is_official(w->t[i].name);
    if (!official) return SA_OK;
    for (int i = 0; i < w->n; i++) {
        size_t cap = strlen(w->t[i].name) + 64;
        char *nm = malloc(cap);
        if (!nm) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", what);
        if (sa__sam_map_name(w->t[i].name, nm, cap) != 0) {
            free(nm);
            return sa_error_set(err, SA_ERR_RANGE, "%s: tensor name '%s' too long to map", what,
                                w->t[i].name);
        }
        free((char *)w->t[i].name);
        w->t[i].name = nm;
    }
    return SA_OK;
}

int sa__weights_finish(sa_weights *w, const char *what, sa_error *err) {
    int rc;
    if (w->params.map_sam_names && (rc = map_sam(w, what, err)) != SA_OK) return rc;
    /* Tied Fourier matrix: HF files name it at the top level; expose that name for official
     * checkpoints too. */
    int pe_alias = -1, have_shared = 0;
    for (int i = 0; i < w->n; i++) {
        if (strcmp(w->t[i].name, SA__SAM_PE_SHARED) == 0) have_shared = 1;
        if (strcmp(w->t[i].name, SA__SAM_PE_PROMPT) == 0) pe_alias = i;
    }
    if (w->params.map_sam_names && pe_alias >= 0 && !have_shared) {
        sa_tensor src = w->t[pe_alias];
        rc = sa__weights_add(w, what, SA__SAM_PE_SHARED, src.dtype, src.ndim, src.shape, src.data,
                             src.nbytes, err);
        if (rc != SA_OK) return rc;
    }
    size_t ns = 16;
    while (ns < (size_t)w->n * 2)
        ns *= 2;
    int *slots = malloc(ns * sizeof *slots);
    if (!slots) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", what);
    for (size_t i = 0; i < ns; i++)
        slots[i] = -1;
    for (int k = 0; k < w->n; k++) {
        size_t i = (size_t)hash_name(w->t[k].name) & (ns - 1);
        for (; slots[i] >= 0; i = (i + 1) & (ns - 1)) {
            if (strcmp(w->t[slots[i]].name, w->t[k].name) == 0) {
                free(slots);
                return sa_error_set(err, SA_ERR_FORMAT, "%s: duplicate tensor name '%s'", what,
                                    w->t[k].name);
            }
        }
        slots[i] = k;
    }
    free(w->slots);
    w->slots = slots;
    w->nslots = ns;
    return SA_OK;
}

int sa_weights_count(const sa_weights *w) {
    return w ? w->n : 0;
}

const sa_tensor *sa_weights_at(const sa_weights *w, int i) {
    if (!w || i < 0 || i >= w->n) return NULL;
    return &w->t[i];
}

const sa_tensor *sa_weights_find(const sa_weights *w, const char *name) {
    return lookup(w, name);
}

const char *sa_weights_config_json(const sa_weights *w) {
    return w ? w->config_json : NULL;
}

int64_t sa_tensor_numel(const sa_tensor *t) {
    if (!t) return 0;
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

/* ---------------------------------------------------------------- conversion */

static float half_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13); /* inf / nan (payload kept) */
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else { /* subnormal: value = man * 2^-24, exact in float */
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

int sa_tensor_to_f32(const sa_tensor *t, float *dst, int64_t n, sa_error *err) {
    if (!t || (!dst && n > 0))
        return sa_error_set(err, SA_ERR_INVALID, "sa_tensor_to_f32: NULL argument");
    int64_t numel = sa_tensor_numel(t);
    if (n != numel)
        return sa_error_set(err, SA_ERR_INVALID, "tensor '%s': %lld elements, caller expected %lld",
                            t->name, (long long)numel, (long long)n);
    const uint8_t *s = t->data;
    size_t N = (size_t)n;
    if (N == 0) return SA_OK;
    switch (t->dtype) {
    case SA_DTYPE_F32:
        memcpy(dst, s, N * 4);
        break;
    case SA_DTYPE_F16:
        for (size_t i = 0; i < N; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            dst[i] = half_to_f32(h);
        }
        break;
    case SA_DTYPE_BF16:
        for (size_t i = 0; i < N; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            uint32_t bits = (uint32_t)h << 16;
            memcpy(&dst[i], &bits, 4);
        }
        break;
    case SA_DTYPE_F64:
        for (size_t i = 0; i < N; i++) {
            double d;
            memcpy(&d, s + 8 * i, 8);
            dst[i] = (float)d;
        }
        break;
    case SA_DTYPE_U8:
    case SA_DTYPE_BOOL:
        for (size_t i = 0; i < N; i++)
            dst[i] = (float)s[i];
        break;
    case SA_DTYPE_I8:
        for (size_t i = 0; i < N; i++)
            dst[i] = (float)(int8_t)s[i];
        break;
    case SA_DTYPE_I32:
        for (size_t i = 0; i < N; i++) {
            int32_t v;
            memcpy(&v, s + 4 * i, 4);
            dst[i] = (float)v;
        }
        break;
    case SA_DTYPE_I64:
        for (size_t i = 0; i < N; i++) {
            int64_t v;
            memcpy(&v, s + 8 * i, 8);
            dst[i] = (float)v;
        }
        break;
    default:
        return sa_error_set(err, SA_ERR_UNSUPPORTED, "tensor '%s': unknown dtype", t->name);
    }
    return SA_OK;
}

/* ---------------------------------------------------------------- files */

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

static char *read_text(const char *path, size_t limit, int *rc_out, sa_error *err) {
    *rc_out = SA_OK;
    FILE *f = fopen(path, "rb");
    if (!f) {
        *rc_out = sa_error_set(err, SA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        if (cap >= limit) {
            free(buf);
            fclose(f);
            *rc_out = sa_error_set(err, SA_ERR_RANGE, "%s: larger than %zu bytes", path, limit);
            return NULL;
        }
        cap *= 2;
        char *nb = realloc(buf, cap + 1);
        if (!nb) free(buf);
        buf = nb;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf) {
        *rc_out = sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    if (bad) {
        free(buf);
        *rc_out = sa_error_set(err, SA_ERR_IO, "%s: read error", path);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static char *join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (k > 0 && p[k - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

static char *dir_of(const char *path) {
    const char *s = strrchr(path, '/');
    if (!s) return strdup(".");
    if (s == path) return strdup("/");
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

/* Sharded safetensors: {"weight_map": {tensor: shard file}}; each distinct shard is loaded once and
 * every listed tensor must then be present. */
static int load_index(sa_weights *w, const char *path, const uint8_t *buf, size_t n,
                      sa_error *err) {
    if (n > MAX_INDEX_BYTES)
        return sa_error_set(err, SA_ERR_RANGE, "%s: index JSON too large", path);
    cJSON *root = cJSON_ParseWithLength((const char *)buf, n);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return sa_error_set(err, SA_ERR_PARSE,
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
    int rc = SA_OK;
    const cJSON *e;
    cJSON_ArrayForEach(e, map) {
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
        int seen = 0;
        for (const cJSON *p = map->child; p != e; p = p->next)
            if (cJSON_IsString(p) && strcmp(p->valuestring, f) == 0) seen = 1;
        if (seen) continue;
        char *sp = join(dir, f);
        if (!sp) {
            rc = sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        rc = load_file(w, sp, 0, err);
        free(sp);
        if (rc != SA_OK) break;
    }
    free(dir);
    if (rc == SA_OK) {
        /* names are checked after sa__weights_finish in the caller; here only the raw names matter
         */
        cJSON_ArrayForEach(e, map) {
            int found = 0;
            for (int i = 0; i < w->n && !found; i++)
                found = strcmp(w->t[i].name, e->string) == 0;
            if (!found) {
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
        char *p = join(dir, pref[i]);
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
        char *p = join(dir, de->d_name);
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

int sa_weights_open_ex(const char *path, sa_weights_params params, sa_weights **out,
                       sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_weights_open: NULL output");
    *out = NULL;
    if (!path || !*path) return sa_error_set(err, SA_ERR_INVALID, "sa_weights_open: empty path");
    sa_weights *w = sa__weights_new(params);
    if (!w) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
    char *file = NULL, *dir = NULL;
    int rc;
    if (is_dir(path)) {
        file = pick_in_dir(path, err);
        if (!file) {
            sa_weights_free(w);
            return err ? err->code : SA_ERR_NOT_FOUND;
        }
        dir = strdup(path);
    } else {
        file = strdup(path);
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
    char *cfg = join(dir, "config.json");
    if (!cfg) {
        rc = sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    if (is_file(cfg)) {
        w->config_json = read_text(cfg, MAX_CONFIG_BYTES, &rc, err);
        if (!w->config_json) {
            free(cfg);
            goto fail;
        }
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

int sa_weights_open(const char *path, sa_weights **out, sa_error *err) {
    return sa_weights_open_ex(path, sa_weights_default_params(), out, err);
}

int sa_weights_from_safetensors_buffer(const uint8_t *buf, size_t n, sa_weights **out,
                                       sa_error *err) {
    if (!out)
        return sa_error_set(err, SA_ERR_INVALID, "sa_weights_from_safetensors_buffer: NULL output");
    *out = NULL;
    if (!buf && n > 0)
        return sa_error_set(err, SA_ERR_INVALID, "sa_weights_from_safetensors_buffer: NULL buffer");
    sa_weights *w = sa__weights_new(sa_weights_default_params());
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

int sa_weights_from_pth_buffer(const uint8_t *buf, size_t n, sa_weights_params params,
                               sa_weights **out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_weights_from_pth_buffer: NULL output");
    *out = NULL;
    if (!buf && n > 0)
        return sa_error_set(err, SA_ERR_INVALID, "sa_weights_from_pth_buffer: NULL buffer");
    sa_weights *w = sa__weights_new(params);
    if (!w) return sa_error_set(err, SA_ERR_NOMEM, "pth buffer: out of memory");
    int rc = sa__pth_parse(w, buf, n, "<buffer>", err);
    if (rc == SA_OK) rc = sa__weights_finish(w, "<buffer>", err);
    if (rc != SA_OK) {
        sa_weights_free(w);
        return rc;
    }
    *out = w;
    return SA_OK;
}
