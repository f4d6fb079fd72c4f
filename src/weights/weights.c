/* Weight collection: the tensor table, name lookup, renaming and dtype conversion. Where tensors
 * come from (files, directories, sharded indexes, memory buffers) is weights_open.c; the formats
 * are safetensors.c and pth.c.
 *
 * Tensors point into memory the collection keeps alive (a mapped file, a caller buffer, or a block
 * handed over with sa__weights_keep); only data that must be transformed (inflated zip entries,
 * strided or misaligned tensors) is copied into blocks the collection owns. Lookup is an
 * open-addressing hash over the names, built once by sa__weights_finish (and again by
 * sa_weights_rename), which also rejects duplicate names. Nothing here knows about any model's
 * naming. */
#include "segagent/weights.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "weights/weights_impl.h"

typedef struct region {
    void *p;
    size_t len;
    int is_mmap;
} region;

struct sa_weights {
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

sa_weights *sa__weights_new(void) {
    return calloc(1, sizeof(sa_weights));
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
        return sa_error_set(err, SA_ERR_RANGE,
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
    char *nm = sa__strdup(name);
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

/* Builds the lookup index over the current names; SA_ERR_FORMAT on a duplicate name (w unchanged
 * then). */
static int build_index(sa_weights *w, const char *what, sa_error *err) {
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

int sa__weights_finish(sa_weights *w, const char *what, sa_error *err) {
    return build_index(w, what, err);
}

void sa__weights_set_config(sa_weights *w, char *json) {
    free(w->config_json);
    w->config_json = json;
}

int sa_weights_rename(sa_weights *w, sa_weights_rename_fn fn, void *ctx, sa_error *err) {
    if (!w || !fn) return sa_error_set(err, SA_ERR_INVALID, "sa_weights_rename: NULL argument");
    if (w->n == 0) return SA_OK;
    char **names = calloc((size_t)w->n, sizeof *names);
    if (!names) return sa_error_set(err, SA_ERR_NOMEM, "weights rename: out of memory");
    int rc = SA_OK;
    for (int i = 0; i < w->n && rc == SA_OK; i++)
        rc = fn(ctx, w->t[i].name, &names[i], err);
    if (rc == SA_OK) {
        /* swap the new names in; swap back if the index cannot be built (duplicate, memory) */
        for (int i = 0; i < w->n; i++) {
            if (!names[i]) continue;
            char *old = (char *)w->t[i].name;
            w->t[i].name = names[i];
            names[i] = old;
        }
        rc = build_index(w, "weights rename", err);
        if (rc != SA_OK) {
            for (int i = 0; i < w->n; i++) {
                if (!names[i]) continue;
                char *renamed = (char *)w->t[i].name;
                w->t[i].name = names[i];
                names[i] = renamed;
            }
        }
    }
    for (int i = 0; i < w->n; i++)
        free(names[i]);
    free(names);
    return rc;
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
        return sa_error_set(err, SA_ERR_RANGE, "tensor '%s': %lld elements, caller expected %lld",
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
