/* Parsers of the native API's request bodies (see request.h). cJSON does the syntax; everything
 * about meaning -- types, integer ranges, finite numbers, limits -- is checked here, field by
 * field, so a handler never sees a value it has to doubt. */
#include "server/request.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/util.h"

static int parse_json(const char *body, size_t len, cJSON **out, sa_error *err) {
    *out = NULL;
    if (!body || len == 0)
        return sa_error_set(err, SA_ERR_PARSE, "empty body (expected a JSON object)");
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (!j) return sa_error_set(err, SA_ERR_PARSE, "body is not valid JSON");
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return sa_error_set(err, SA_ERR_PARSE, "body must be a JSON object");
    }
    *out = j;
    return SA_OK;
}

/* A finite number in [lo, hi]. */
static int get_num(const cJSON *v, const char *what, double lo, double hi, double *out,
                   sa_error *err) {
    if (!cJSON_IsNumber(v)) return sa_error_set(err, SA_ERR_INVALID, "%s must be a number", what);
    double d = v->valuedouble;
    if (!isfinite(d) || d < lo || d > hi)
        return sa_error_set(err, SA_ERR_INVALID, "%s = %g is outside [%g, %g]", what, d, lo, hi);
    *out = d;
    return SA_OK;
}

/* An integer in [lo, hi]; absent gives def. */
static int get_int_opt(const cJSON *obj, const char *key, int lo, int hi, int def, int *out,
                       sa_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        *out = def;
        return SA_OK;
    }
    double d = 0;
    int rc = get_num(v, key, lo, hi, &d, err);
    if (rc) return rc;
    if (d != floor(d)) return sa_error_set(err, SA_ERR_INVALID, "%s must be an integer", key);
    *out = (int)d;
    return SA_OK;
}

/* Pixel coordinates are bounded by the largest image side; the handler checks them against the
 * image. */
#define COORD_MAX 1e6

static int parse_click(const cJSON *c, int i, sa_click *out, sa_error *err) {
    char what[48];
    double x = 0, y = 0;
    int positive = 1;
    if (cJSON_IsArray(c)) { /* [x, y] or [x, y, label] */
        int n = cJSON_GetArraySize(c);
        if (n != 2 && n != 3)
            return sa_error_set(err, SA_ERR_INVALID, "clicks[%d] must be [x, y] or [x, y, label]",
                                i);
        snprintf(what, sizeof what, "clicks[%d][0]", i);
        int rc = get_num(cJSON_GetArrayItem(c, 0), what, -COORD_MAX, COORD_MAX, &x, err);
        snprintf(what, sizeof what, "clicks[%d][1]", i);
        if (!rc) rc = get_num(cJSON_GetArrayItem(c, 1), what, -COORD_MAX, COORD_MAX, &y, err);
        if (rc) return rc;
        if (n == 3) {
            double l = 0;
            snprintf(what, sizeof what, "clicks[%d][2]", i);
            if ((rc = get_num(cJSON_GetArrayItem(c, 2), what, 0, 1, &l, err))) return rc;
            if (l != 0 && l != 1)
                return sa_error_set(err, SA_ERR_INVALID, "%s must be 0 or 1", what);
            positive = l == 1;
        }
    } else if (cJSON_IsObject(c)) { /* {"x": .., "y": .., "positive": true} */
        snprintf(what, sizeof what, "clicks[%d].x", i);
        int rc =
            get_num(cJSON_GetObjectItemCaseSensitive(c, "x"), what, -COORD_MAX, COORD_MAX, &x, err);
        snprintf(what, sizeof what, "clicks[%d].y", i);
        if (!rc)
            rc = get_num(cJSON_GetObjectItemCaseSensitive(c, "y"), what, -COORD_MAX, COORD_MAX, &y,
                         err);
        if (rc) return rc;
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(c, "positive");
        if (p) {
            if (cJSON_IsBool(p))
                positive = cJSON_IsTrue(p);
            else if (cJSON_IsNumber(p) && (p->valuedouble == 0 || p->valuedouble == 1))
                positive = p->valuedouble == 1;
            else
                return sa_error_set(err, SA_ERR_INVALID,
                                    "clicks[%d].positive must be true/false or 1/0", i);
        }
    } else {
        return sa_error_set(err, SA_ERR_INVALID,
                            "clicks[%d] must be an object {x, y, positive} or [x, y, label]", i);
    }
    out->x = (int)floor(x);
    out->y = (int)floor(y);
    out->positive = positive;
    return SA_OK;
}

void sa__predict_req_free(sa__predict_req *r) {
    if (!r) return;
    free(r->clicks);
    free(r->mask_counts);
    memset(r, 0, sizeof *r);
}

int sa__parse_predict(const char *body, size_t len, int max_clicks, sa__predict_req *out,
                      sa_error *err) {
    memset(out, 0, sizeof *out);
    cJSON *j = NULL;
    int rc = parse_json(body, len, &j, err);
    if (rc) return rc;
    const cJSON *clicks = cJSON_GetObjectItemCaseSensitive(j, "clicks");
    if (clicks) {
        if (!cJSON_IsArray(clicks)) {
            rc = sa_error_set(err, SA_ERR_INVALID, "clicks must be an array");
            goto done;
        }
        int n = cJSON_GetArraySize(clicks);
        if (n > max_clicks) {
            rc = sa_error_set(err, SA_ERR_RANGE, "%d clicks in one request (the limit is %d)", n,
                              max_clicks);
            goto done;
        }
        if (n > 0) {
            out->clicks = calloc((size_t)n, sizeof *out->clicks);
            if (!out->clicks) {
                rc = sa_error_set(err, SA_ERR_NOMEM, "out of memory");
                goto done;
            }
        }
        int i = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, clicks) {
            if ((rc = parse_click(c, i, &out->clicks[i], err))) goto done;
            i++;
        }
        out->n_clicks = n;
    }
    const cJSON *box = cJSON_GetObjectItemCaseSensitive(j, "box");
    if (box && !cJSON_IsNull(box)) {
        if (!cJSON_IsArray(box) || cJSON_GetArraySize(box) != 4) {
            rc = sa_error_set(err, SA_ERR_INVALID, "box must be [x0, y0, x1, y1]");
            goto done;
        }
        double v[4];
        for (int i = 0; i < 4; i++) {
            char what[24];
            snprintf(what, sizeof what, "box[%d]", i);
            if ((rc = get_num(cJSON_GetArrayItem(box, i), what, -COORD_MAX, COORD_MAX, &v[i], err)))
                goto done;
        }
        if (v[2] < v[0] || v[3] < v[1]) {
            rc = sa_error_set(err, SA_ERR_INVALID, "box must have x0 <= x1 and y0 <= y1");
            goto done;
        }
        out->has_box = 1;
        out->box = (sa_box){(float)v[0], (float)v[1], (float)v[2], (float)v[3]};
    }
    if (out->n_clicks == 0 && !out->has_box) {
        rc = sa_error_set(err, SA_ERR_INVALID, "give at least one click or a box");
        goto done;
    }
    const cJSON *mask = cJSON_GetObjectItemCaseSensitive(j, "mask");
    if (mask && !cJSON_IsNull(mask)) {
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(mask, "size");
        const cJSON *counts = cJSON_GetObjectItemCaseSensitive(mask, "counts");
        if (!cJSON_IsObject(mask) || !cJSON_IsArray(size) || cJSON_GetArraySize(size) != 2 ||
            !cJSON_IsString(counts)) {
            rc = sa_error_set(err, SA_ERR_INVALID,
                              "mask must be a COCO RLE {\"size\": [h, w], \"counts\": \"...\"}");
            goto done;
        }
        double h = 0, w = 0;
        if ((rc = get_num(cJSON_GetArrayItem(size, 0), "mask.size[0]", 1, 1e6, &h, err)) ||
            (rc = get_num(cJSON_GetArrayItem(size, 1), "mask.size[1]", 1, 1e6, &w, err)))
            goto done;
        out->mask_h = (int)h;
        out->mask_w = (int)w;
        out->mask_counts = sa__strdup(counts->valuestring);
        if (!out->mask_counts) {
            rc = sa_error_set(err, SA_ERR_NOMEM, "out of memory");
            goto done;
        }
    }
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "format");
    if (fmt) {
        if (cJSON_IsString(fmt) && !strcmp(fmt->valuestring, "png"))
            out->want_png = 1;
        else if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "rle")) {
            rc = sa_error_set(err, SA_ERR_INVALID, "format must be \"rle\" or \"png\"");
            goto done;
        }
    }
done:
    cJSON_Delete(j);
    if (rc) sa__predict_req_free(out);
    return rc;
}

void sa__agent_req_free(sa__agent_req *r) {
    if (!r) return;
    free(r->description);
    memset(r, 0, sizeof *r);
}

int sa__parse_agent(const char *body, size_t len, int max_steps, int max_search, sa__agent_req *out,
                    sa_error *err) {
    memset(out, 0, sizeof *out);
    cJSON *j = NULL;
    int rc = parse_json(body, len, &j, err);
    if (rc) return rc;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "description");
    if (!cJSON_IsString(d) || !d->valuestring[0]) {
        rc = sa_error_set(err, SA_ERR_INVALID, "description must be a non-empty string");
    } else if (strlen(d->valuestring) > 4096) {
        rc = sa_error_set(err, SA_ERR_RANGE, "description longer than 4096 bytes");
    } else if (!(rc = get_int_opt(j, "steps", 1, max_steps, 7 < max_steps ? 7 : max_steps,
                                  &out->steps, err)) &&
               !(rc = get_int_opt(j, "search", 1, max_search, 1, &out->search, err))) {
        out->description = sa__strdup(d->valuestring);
        if (!out->description) rc = sa_error_set(err, SA_ERR_NOMEM, "out of memory");
    }
    cJSON_Delete(j);
    if (rc) sa__agent_req_free(out);
    return rc;
}

void sa__register_req_free(sa__register_req *r) {
    if (!r) return;
    free(r->bytes);
    free(r->path);
    memset(r, 0, sizeof *r);
}

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

int sa__base64_decode(const char *s, size_t n, size_t max_bytes, uint8_t **out, size_t *out_n,
                      sa_error *err) {
    *out = NULL;
    *out_n = 0;
    if (n / 4 * 3 > max_bytes + 3)
        return sa_error_set(err, SA_ERR_RANGE, "base64 data larger than %zu bytes", max_bytes);
    uint8_t *buf = malloc(n / 4 * 3 + 3);
    if (!buf) return sa_error_set(err, SA_ERR_NOMEM, "out of memory");
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = b64_value(c);
        if (v < 0 || pad) {
            free(buf);
            return sa_error_set(err, SA_ERR_FORMAT, "invalid base64 at byte %zu", i);
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[k++] = (uint8_t)(acc >> bits);
        }
    }
    if (k > max_bytes) {
        free(buf);
        return sa_error_set(err, SA_ERR_RANGE, "base64 data larger than %zu bytes", max_bytes);
    }
    *out = buf;
    *out_n = k;
    return SA_OK;
}

int sa__parse_register(const char *body, size_t len, size_t max_bytes, sa__register_req *out,
                       sa_error *err) {
    memset(out, 0, sizeof *out);
    cJSON *j = NULL;
    int rc = parse_json(body, len, &j, err);
    if (rc) return rc;
    const cJSON *img = cJSON_GetObjectItemCaseSensitive(j, "image");
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(j, "path");
    if ((img != NULL) == (path != NULL)) {
        rc = sa_error_set(err, SA_ERR_INVALID,
                          "give exactly one of \"image\" (base64) and \"path\"");
    } else if (img) {
        if (!cJSON_IsString(img)) {
            rc = sa_error_set(err, SA_ERR_INVALID, "image must be a base64 string or a data URL");
        } else {
            const char *s = img->valuestring;
            if (!strncmp(s, "data:", 5)) { /* data:image/png;base64,.... */
                const char *comma = strchr(s, ',');
                if (!comma || !strstr(s, ";base64")) {
                    rc = sa_error_set(err, SA_ERR_INVALID, "image data URL must be base64 encoded");
                    goto done;
                }
                s = comma + 1;
            }
            rc = sa__base64_decode(s, strlen(s), max_bytes, &out->bytes, &out->n, err);
            if (!rc && out->n == 0) rc = sa_error_set(err, SA_ERR_INVALID, "image is empty");
        }
    } else {
        if (!cJSON_IsString(path) || !path->valuestring[0]) {
            rc = sa_error_set(err, SA_ERR_INVALID, "path must be a non-empty string");
        } else if (strlen(path->valuestring) > 4096) {
            rc = sa_error_set(err, SA_ERR_RANGE, "path longer than 4096 bytes");
        } else {
            out->path = sa__strdup(path->valuestring);
            if (!out->path) rc = sa_error_set(err, SA_ERR_NOMEM, "out of memory");
        }
    }
done:
    cJSON_Delete(j);
    if (rc) sa__register_req_free(out);
    return rc;
}

void sa__cvat_req_free(sa__cvat_req *r) {
    if (!r) return;
    free(r->image);
    free(r->clicks);
    memset(r, 0, sizeof *r);
}

/* [[x, y], ...] appended to out->clicks with the given sign. */
static int cvat_points(const cJSON *arr, const char *key, int positive, int max_clicks,
                       sa__cvat_req *out, sa_error *err) {
    if (!arr || cJSON_IsNull(arr)) return SA_OK;
    if (!cJSON_IsArray(arr))
        return sa_error_set(err, SA_ERR_INVALID, "%s must be an array of [x, y]", key);
    const cJSON *p;
    cJSON_ArrayForEach(p, arr) {
        if (out->n_clicks >= max_clicks)
            return sa_error_set(err, SA_ERR_RANGE, "more than %d points in one request",
                                max_clicks);
        if (!cJSON_IsArray(p) || cJSON_GetArraySize(p) < 2)
            return sa_error_set(err, SA_ERR_INVALID, "%s entries must be [x, y]", key);
        double x = 0, y = 0;
        int rc = get_num(cJSON_GetArrayItem(p, 0), key, -COORD_MAX, COORD_MAX, &x, err);
        if (!rc) rc = get_num(cJSON_GetArrayItem(p, 1), key, -COORD_MAX, COORD_MAX, &y, err);
        if (rc) return rc;
        out->clicks[out->n_clicks++] =
            (sa_click){.y = (int)floor(y), .x = (int)floor(x), .positive = positive};
    }
    return SA_OK;
}

int sa__parse_cvat(const char *body, size_t len, size_t max_bytes, int max_clicks,
                   sa__cvat_req *out, sa_error *err) {
    memset(out, 0, sizeof *out);
    cJSON *j = NULL;
    int rc = parse_json(body, len, &j, err);
    if (rc) return rc;
    const cJSON *img = cJSON_GetObjectItemCaseSensitive(j, "image");
    if (!cJSON_IsString(img) || !img->valuestring[0]) {
        rc = sa_error_set(err, SA_ERR_INVALID, "image must be a base64 string");
        goto done;
    }
    const char *b64 = img->valuestring;
    if (!strncmp(b64, "data:", 5) && strchr(b64, ',')) b64 = strchr(b64, ',') + 1;
    if ((rc = sa__base64_decode(b64, strlen(b64), max_bytes, &out->image, &out->n, err))) goto done;
    if (max_clicks > 0 && !(out->clicks = calloc((size_t)max_clicks, sizeof *out->clicks))) {
        rc = sa_error_set(err, SA_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((rc = cvat_points(cJSON_GetObjectItemCaseSensitive(j, "pos_points"), "pos_points", 1,
                          max_clicks, out, err)) ||
        (rc = cvat_points(cJSON_GetObjectItemCaseSensitive(j, "neg_points"), "neg_points", 0,
                          max_clicks, out, err)))
        goto done;
    const cJSON *bb = cJSON_GetObjectItemCaseSensitive(j, "obj_bbox");
    if (cJSON_IsArray(bb) && cJSON_GetArraySize(bb) > 0) {
        const cJSON *a = cJSON_GetArrayItem(bb, 0), *b = cJSON_GetArrayItem(bb, 1);
        double v[4];
        if (cJSON_GetArraySize(bb) != 2 || !cJSON_IsArray(a) || !cJSON_IsArray(b) ||
            cJSON_GetArraySize(a) < 2 || cJSON_GetArraySize(b) < 2) {
            rc = sa_error_set(err, SA_ERR_INVALID, "obj_bbox must be [[x0, y0], [x1, y1]]");
            goto done;
        }
        if ((rc = get_num(cJSON_GetArrayItem(a, 0), "obj_bbox", -COORD_MAX, COORD_MAX, &v[0],
                          err)) ||
            (rc = get_num(cJSON_GetArrayItem(a, 1), "obj_bbox", -COORD_MAX, COORD_MAX, &v[1],
                          err)) ||
            (rc = get_num(cJSON_GetArrayItem(b, 0), "obj_bbox", -COORD_MAX, COORD_MAX, &v[2],
                          err)) ||
            (rc = get_num(cJSON_GetArrayItem(b, 1), "obj_bbox", -COORD_MAX, COORD_MAX, &v[3], err)))
            goto done;
        out->has_box = 1; /* CVAT may send the corners in any order */
        out->box = (sa_box){(float)fmin(v[0], v[2]), (float)fmin(v[1], v[3]),
                            (float)fmax(v[0], v[2]), (float)fmax(v[1], v[3])};
    } else if (bb && !cJSON_IsNull(bb) && !cJSON_IsArray(bb)) {
        rc = sa_error_set(err, SA_ERR_INVALID, "obj_bbox must be [[x0, y0], [x1, y1]]");
        goto done;
    }
    if (out->n_clicks == 0 && !out->has_box)
        rc = sa_error_set(err, SA_ERR_INVALID, "give pos_points, neg_points or obj_bbox");
done:
    cJSON_Delete(j);
    if (rc) sa__cvat_req_free(out);
    return rc;
}
