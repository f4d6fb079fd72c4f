/* safetensors reader: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape,
 * data_offsets},
 * "__metadata__": {...}}, then the data area. Offsets are relative to the data area. Every number
 * in the header is validated (integral, in range, byte range inside the data area and equal to
 * numel * dtype size) before a tensor pointing into the buffer is added. Tensors may not share
 * bytes: the byte ranges are sorted and checked pairwise-adjacent (O(n log n)) -- two tensors over one
 * range would load as two weights aliasing each other, which no writer produces. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/text.h"
#include "weights/weights_impl.h"

static int parse_dtype(const char *s, sa_dtype *dt) {
    static const struct {
        const char *name;
        sa_dtype dt;
    } k[] = {{"F32", SA_DTYPE_F32}, {"F16", SA_DTYPE_F16}, {"BF16", SA_DTYPE_BF16},
             {"F64", SA_DTYPE_F64}, {"U8", SA_DTYPE_U8},   {"I8", SA_DTYPE_I8},
             {"I32", SA_DTYPE_I32}, {"I64", SA_DTYPE_I64}, {"BOOL", SA_DTYPE_BOOL}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (strcmp(s, k[i].name) == 0) {
            *dt = k[i].dt;
            return 1;
        }
    return 0;
}

typedef struct byte_range {
    uint64_t b, e;
    const char *name;
} byte_range;

static int cmp_range(const void *x, const void *y) {
    const byte_range *a = x, *b = y;
    if (a->b != b->b) return a->b < b->b ? -1 : 1;
    return (a->e > b->e) - (a->e < b->e);
}

static const char *json_type(const cJSON *v) {
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsArray(v)) return "a list";
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsBool(v)) return "true/false";
    return "null";
}

/* SA_ERR_FORMAT naming two tensors whose (non-empty) byte ranges overlap, else SA_OK. */
static int check_overlaps(byte_range *r, size_t n, const char *what, sa_error *err) {
    qsort(r, n, sizeof *r, cmp_range);
    size_t last = (size_t)-1; /* the non-empty range reaching furthest so far */
    for (size_t i = 0; i < n; i++) {
        if (r[i].e == r[i].b) continue; /* an empty tensor has no bytes to share */
        if (last != (size_t)-1 && r[i].b < r[last].e)
            return sa_error_set(err, SA_ERR_FORMAT,
                                "%s: tensors '%s' [%llu, %llu) and '%s' [%llu, %llu) share bytes",
                                what, r[last].name, (unsigned long long)r[last].b,
                                (unsigned long long)r[last].e, r[i].name,
                                (unsigned long long)r[i].b, (unsigned long long)r[i].e);
        if (last == (size_t)-1 || r[i].e > r[last].e) last = i;
    }
    return SA_OK;
}

/* A JSON number that is a non-negative integer no larger than 2^53 (exactly representable). */
static int get_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0.0) || d > 9007199254740992.0 || floor(d) != d) return 0;
    *out = (uint64_t)d;
    return 1;
}

int sa__safetensors_parse(sa_weights *w, const uint8_t *buf, size_t n, const char *what,
                          sa_error *err) {
    if (n < 8)
        return sa_error_set(err, SA_ERR_FORMAT, "%s: truncated safetensors file (%zu bytes)", what,
                            n);
    uint64_t hn = 0;
    for (int i = 7; i >= 0; i--)
        hn = (hn << 8) | buf[i];
    if (hn > (uint64_t)(n - 8))
        return sa_error_set(err, SA_ERR_FORMAT,
                            "%s: header length %llu larger than the file (%zu bytes)", what,
                            (unsigned long long)hn, n);
    if (hn > SA__WEIGHTS_MAX_HEADER)
        return sa_error_set(err, SA_ERR_RANGE, "%s: header length %llu over the %llu-byte limit",
                            what, (unsigned long long)hn,
                            (unsigned long long)SA__WEIGHTS_MAX_HEADER);
    if (hn < 2 || buf[8] != '{')
        return sa_error_set(err, SA_ERR_FORMAT,
                            "%s: not a safetensors file (header is not a JSON object)", what);
    const uint8_t *data = buf + 8 + hn;
    uint64_t dlen = (uint64_t)(n - 8) - hn;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)buf + 8, (size_t)hn, &end, 0);
    if (!root) {
        char label[300];
        snprintf(label, sizeof label, "%.200s: safetensors header", what);
        return sa__json_error(err, label, (const char *)buf + 8, (size_t)hn, end);
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return sa_error_set(err, SA_ERR_PARSE, "%s: safetensors header is not valid JSON", what);
    }
    int rc = SA_OK, n_entries = cJSON_GetArraySize(root);
    byte_range *ranges = malloc((size_t)(n_entries > 0 ? n_entries : 1) * sizeof *ranges);
    size_t n_ranges = 0;
    if (!ranges) rc = sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", what);
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        if (rc != SA_OK) break;
        const char *name = e->string;
        if (!name) {
            rc = sa_error_set(err, SA_ERR_FORMAT, "%s: header entry without a name", what);
            break;
        }
        if (strcmp(name, "__metadata__") == 0) {
            if (!cJSON_IsObject(e)) {
                rc = sa_error_set(err, SA_ERR_FORMAT, "%s: __metadata__ is not an object", what);
                break;
            }
            continue;
        }
        if (!cJSON_IsObject(e)) {
            rc = sa_error_set(err, SA_ERR_FORMAT, "%s: tensor '%s': entry is not an object", what,
                              name);
            break;
        }
        const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
        const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        sa_dtype dt;
        if (!jd) {
            rc = sa_error_set(err, SA_ERR_FORMAT, "%s: tensor '%s': missing dtype", what, name);
            break;
        }
        if (!cJSON_IsString(jd)) {
            rc = sa_error_set(err, SA_ERR_FORMAT,
                              "%s: tensor '%s': dtype must be a string such as \"F32\" (got %s)",
                              what, name, json_type(jd));
            break;
        }
        if (!parse_dtype(jd->valuestring, &dt)) {
            rc = sa_error_set(err, SA_ERR_UNSUPPORTED, "%s: tensor '%s': unknown dtype '%.32s'",
                              what, name, jd->valuestring);
            break;
        }
        if (!cJSON_IsArray(js)) {
            rc = sa_error_set(err, SA_ERR_FORMAT, "%s: tensor '%s': missing shape", what, name);
            break;
        }
        int nd = cJSON_GetArraySize(js);
        if (nd > SA_TENSOR_MAX_DIMS) {
            rc =
                sa_error_set(err, SA_ERR_UNSUPPORTED, "%s: tensor '%s': %d dimensions (at most %d)",
                             what, name, nd, SA_TENSOR_MAX_DIMS);
            break;
        }
        int64_t shape[SA_TENSOR_MAX_DIMS];
        int k = 0;
        const cJSON *d;
        cJSON_ArrayForEach(d, js) {
            uint64_t v;
            if (!get_uint(d, &v)) break;
            shape[k++] = (int64_t)v;
        }
        if (k != nd) {
            rc = sa_error_set(err, SA_ERR_FORMAT,
                              "%s: tensor '%s': shape entries must be non-negative integers", what,
                              name);
            break;
        }
        uint64_t b, en;
        if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 ||
            !get_uint(cJSON_GetArrayItem(jo, 0), &b) || !get_uint(cJSON_GetArrayItem(jo, 1), &en)) {
            rc = sa_error_set(err, SA_ERR_FORMAT,
                              "%s: tensor '%s': data_offsets must be two non-negative integers",
                              what, name);
            break;
        }
        if (b > en || en > dlen) {
            rc = sa_error_set(
                err, SA_ERR_FORMAT,
                "%s: tensor '%s': data_offsets [%llu, %llu] outside the %llu-byte data area", what,
                name, (unsigned long long)b, (unsigned long long)en, (unsigned long long)dlen);
            break;
        }
        rc = sa__weights_add(w, what, name, dt, nd, shape, data + b, (size_t)(en - b), err);
        if (rc != SA_OK) break;
        ranges[n_ranges++] = (byte_range){b, en, name};
    }
    if (rc == SA_OK) rc = check_overlaps(ranges, n_ranges, what, err);
    free(ranges);
    cJSON_Delete(root);
    return rc;
}
