/* Reading trajectory files in the released SegAgent JSON format (docs/trajectories.md), with validation.
 *
 * Design: a whole split can be gigabytes, so the document is not parsed at once. A small scanner walks the
 * top level, finds "info" and each element of "data" (skipping strings and nesting exactly, so truncation is
 * detected at the element where it happens), and each sample is parsed with cJSON on its own and checked
 * against its own height and width. Unknown keys are ignored so files from the original generator and from
 * later versions both load. */
#include "segagent/trajectory.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/image.h"
#include "segagent/rle.h"
#include "base/files.h"
#include "base/text.h"
#include "base/util.h"

void sa_traj_set_free(sa_traj_set *set) {
    if (!set) return;
    for (int i = 0; i < set->n_samples; i++)
        sa_traj_sample_free(&set->samples[i]);
    free(set->samples);
    free(set->info_json);
    free(set);
}

/* Context for messages: "<name>: data[<i>]<where>: <problem>". */
typedef struct rd {
    const char *name;
    int i;
    sa_error *err;
} rd;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
rd_fail(const rd *r, int code, const char *fmt, ...) {
    char buf[SA_ERROR_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return sa_error_set(r->err, code, "%s: data[%d]: %s", r->name, r->i, buf);
}

static const cJSON *get(const cJSON *o, const char *key) {
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* An integer-valued JSON number in [lo, hi]. */
static int get_int(const cJSON *v, long lo, long hi, long *out) {
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return 0;
    double d = v->valuedouble;
    if (d != floor(d) || d < (double)lo || d > (double)hi) return 0;
    *out = (long)d;
    return 1;
}

static int read_box(const cJSON *v, double b[4]) {
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 4) return 0;
    for (int k = 0; k < 4; k++) {
        const cJSON *e = cJSON_GetArrayItem(v, k);
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble)) return 0;
        b[k] = e->valuedouble;
    }
    return 1;
}

/* Reads an RLE object of the sample's size into a compressed string; optionally its bbox and area. */
static int read_rle(const rd *r, const cJSON *v, const char *where, int h, int w, char **out,
                    double bbox[4], uint64_t *area) {
    if (!cJSON_IsObject(v))
        return rd_fail(r, SA_ERR_FORMAT, "%s: expected an RLE object {size, counts}", where);
    sa_rle rle = {0};
    sa_error e2 = {0};
    if (sa_rle_from_json(v, &rle, &e2) != SA_OK)
        return rd_fail(r, SA_ERR_FORMAT, "%s: %s", where, e2.msg);
    int rc = SA_OK;
    if (rle.h != h || rle.w != w)
        rc = rd_fail(r, SA_ERR_FORMAT, "%s: RLE size [%d, %d] differs from the sample's [%d, %d]",
                     where, rle.h, rle.w, h, w);
    else if (sa_rle_to_string(&rle, out, &e2) != SA_OK)
        rc = rd_fail(r, SA_ERR_NOMEM, "%s: %s", where, e2.msg);
    if (rc == SA_OK) {
        if (bbox) sa_rle_bbox(&rle, bbox);
        if (area) *area = sa_rle_area(&rle);
    }
    sa_rle_free(&rle);
    return rc;
}

static char *json_scalar_text(const cJSON *v) {
    if (cJSON_IsString(v)) return sa__strdup(v->valuestring);
    if (cJSON_IsNumber(v)) {
        char buf[64];
        double d = v->valuedouble;
        if (isfinite(d) && d == floor(d) && fabs(d) < 1e15)
            snprintf(buf, sizeof buf, "%.0f", d);
        else
            snprintf(buf, sizeof buf, "%.17g", d);
        return sa__strdup(buf);
    }
    return NULL;
}

static int read_sample(const rd *r, const cJSON *o, sa_traj_sample *s) {
    if (!cJSON_IsObject(o)) return rd_fail(r, SA_ERR_FORMAT, "expected an object");
    const cJSON *v = get(o, "image_name");
    if (!v) return rd_fail(r, SA_ERR_FORMAT, "missing key 'image_name'");
    if (!(s->image_name = json_scalar_text(v)))
        return rd_fail(r, SA_ERR_FORMAT, "'image_name' is not a string");
    long h, w;
    if (!get(o, "height") || !get(o, "width"))
        return rd_fail(r, SA_ERR_FORMAT, "missing key 'height' or 'width'");
    if (!get_int(get(o, "height"), 1, SA_IMAGE_MAX_SIDE, &h) ||
        !get_int(get(o, "width"), 1, SA_IMAGE_MAX_SIDE, &w))
        return rd_fail(r, SA_ERR_FORMAT, "'height'/'width' must be integers in 1..%d",
                       SA_IMAGE_MAX_SIDE);
    if ((uint64_t)h * (uint64_t)w > SA_IMAGE_MAX_PIXELS)
        return rd_fail(r, SA_ERR_FORMAT, "%ldx%ld pixels is above the image limit", w, h);
    s->height = (int)h;
    s->width = (int)w;

    const cJSON *ann = get(o, "gt_ann");
    if (!cJSON_IsObject(ann))
        return rd_fail(r, SA_ERR_FORMAT, "missing or non-object key 'gt_ann'");
    v = get(ann, "object_id");
    /* SegAgent's released files give [index of the ref among the image's refs, 1]: kept as its JSON
     * text */
    s->object_id = (v && !cJSON_IsNull(v)) ? (cJSON_IsArray(v) && cJSON_GetArraySize(v) <= 16
                                                  ? cJSON_PrintUnformatted(v)
                                                  : json_scalar_text(v))
                                           : sa__strdup("0");
    if (!s->object_id)
        return rd_fail(r, SA_ERR_FORMAT, "gt_ann.object_id is neither a number nor a string");
    v = get(ann, "caption");
    if (cJSON_IsString(v)) {
        if (!(s->captions = calloc(1, sizeof *s->captions)) ||
            !(s->captions[0] = sa__strdup(v->valuestring)))
            return rd_fail(r, SA_ERR_NOMEM, "out of memory");
        s->n_captions = 1;
    } else if (cJSON_IsArray(v)) {
        int n = cJSON_GetArraySize(v);
        if (n > 0 && !(s->captions = calloc((size_t)n, sizeof *s->captions)))
            return rd_fail(r, SA_ERR_NOMEM, "out of memory");
        for (int k = 0; k < n; k++) {
            const cJSON *c = cJSON_GetArrayItem(v, k);
            if (!cJSON_IsString(c))
                return rd_fail(r, SA_ERR_FORMAT, "gt_ann.caption[%d] is not a string", k);
            if (!(s->captions[k] = sa__strdup(c->valuestring)))
                return rd_fail(r, SA_ERR_NOMEM, "out of memory");
            s->n_captions = k + 1;
        }
    } else if (v && !cJSON_IsNull(v)) {
        return rd_fail(r, SA_ERR_FORMAT,
                       "gt_ann.caption must be a string, a list of strings or null");
    }
    v = get(ann, "segmentation");
    if (!v) return rd_fail(r, SA_ERR_FORMAT, "missing key 'gt_ann.segmentation'");
    int rc =
        read_rle(r, v, "gt_ann.segmentation", s->height, s->width, &s->gt, s->gt_bbox, &s->gt_area);
    if (rc != SA_OK) return rc;
    v = get(ann,
            "bbox"); /* recomputed from the RLE when absent; a present one must be well formed */
    if (v && !read_box(v, s->gt_bbox))
        return rd_fail(r, SA_ERR_FORMAT, "gt_ann.bbox is not [x, y, w, h]");

    v = get(o, "init_mask");
    if (v && !cJSON_IsNull(v)) {
        if ((rc = read_rle(r, v, "init_mask", s->height, s->width, &s->init_mask, NULL, NULL)))
            return rc;
        const cJSON *iv = get(o, "init_iou");
        s->init_iou = cJSON_IsNumber(iv) && isfinite(iv->valuedouble) ? iv->valuedouble : NAN;
        const cJSON *kv = get(o, "init_kind");
        s->init_kind = sa__strdup(cJSON_IsString(kv) ? kv->valuestring : "given");
        if (!s->init_kind) return rd_fail(r, SA_ERR_NOMEM, "out of memory");
    }

    const cJSON *list = get(o, "clicks_list");
    if (!list) return rd_fail(r, SA_ERR_FORMAT, "missing key 'clicks_list'");
    if (!cJSON_IsArray(list)) return rd_fail(r, SA_ERR_FORMAT, "'clicks_list' is not a list");
    int n = cJSON_GetArraySize(list);
    if (n > SA_MAX_CLICKS)
        return rd_fail(r, SA_ERR_FORMAT, "clicks_list has %d clicks (at most %d)", n,
                       SA_MAX_CLICKS);
    if (n > 0 && !(s->steps = calloc((size_t)n, sizeof *s->steps)))
        return rd_fail(r, SA_ERR_NOMEM, "out of memory");
    for (int k = 0; k < n; k++) {
        const cJSON *c = cJSON_GetArrayItem(list, k);
        sa_traj_step *st = &s->steps[k];
        char where[64];
        if (!cJSON_IsObject(c))
            return rd_fail(r, SA_ERR_FORMAT, "clicks_list[%d] is not an object", k);
        long idx = k;
        v = get(c, "idx");
        if (v && !get_int(v, 0, INT_MAX, &idx))
            return rd_fail(r, SA_ERR_FORMAT, "clicks_list[%d].idx is not a non-negative integer",
                           k);
        st->idx = (int)idx;
        v = get(c, "coor");
        long cy, cx;
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 ||
            !get_int(cJSON_GetArrayItem(v, 0), 0, h - 1, &cy) ||
            !get_int(cJSON_GetArrayItem(v, 1), 0, w - 1, &cx))
            return rd_fail(r, SA_ERR_FORMAT,
                           "clicks_list[%d].coor must be [y, x] inside the %ldx%ld image", k, w, h);
        st->click.y = (int)cy;
        st->click.x = (int)cx;
        v = get(c, "is_positive");
        long pos;
        if (cJSON_IsBool(v))
            st->click.positive = cJSON_IsTrue(v) ? 1 : 0;
        else if (get_int(v, 0, 1, &pos))
            st->click.positive = (int)pos;
        else
            return rd_fail(r, SA_ERR_FORMAT, "clicks_list[%d].is_positive missing or not a boolean",
                           k);
        v = get(c, "mask");
        if (!v) return rd_fail(r, SA_ERR_FORMAT, "missing key 'clicks_list[%d].mask'", k);
        snprintf(where, sizeof where, "clicks_list[%d].mask", k);
        if ((rc = read_rle(r, v, where, s->height, s->width, &st->mask, st->box, &st->area)))
            return rc;
        s->n_steps = k + 1;
        v = get(c, "box");
        if (v && !read_box(v, st->box))
            return rd_fail(r, SA_ERR_FORMAT, "clicks_list[%d].box is not [x, y, w, h]", k);
        v = get(c, "iou");
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0.0 ||
            v->valuedouble > 1.0)
            return rd_fail(r, SA_ERR_FORMAT,
                           "clicks_list[%d].iou missing or not a number in [0, 1]", k);
        st->iou = v->valuedouble;
        v = get(c, "source"); /* ours (StaR+); an unknown or long value is not kept */
        if (cJSON_IsString(v) && strlen(v->valuestring) < sizeof st->source)
            memcpy(st->source, v->valuestring, strlen(v->valuestring) + 1);
    }
    if (!s->init_mask) s->init_iou = 0.0;
    return SA_OK;
}

/* The document is not parsed as one cJSON tree (a released split can be hundreds of megabytes, and the tree
 * costs several times the text): a small scanner walks the top-level object and the "data" array, finds each
 * element's extent (strings and brackets only), and cJSON parses one sample at a time. */
typedef struct scan {
    const char *s;
    size_t n, i;
} scan;

static void sc_ws(scan *c) {
    while (c->i < c->n &&
           (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\n' || c->s[c->i] == '\r'))
        c->i++;
}

static int sc_string(scan *c) { /* at '"'; 1 when closed */
    for (c->i++; c->i < c->n;) {
        char ch = c->s[c->i++];
        if (ch == '\\') {
            if (c->i >= c->n) return 0;
            c->i++;
        } else if (ch == '"') {
            return 1;
        }
    }
    return 0;
}

static int sc_value(scan *c) { /* skips one value; 1 when it ends inside the input */
    sc_ws(c);
    if (c->i >= c->n) return 0;
    char ch = c->s[c->i];
    if (ch == '"') return sc_string(c);
    if (ch == '{' || ch == '[') {
        size_t depth = 0;
        while (c->i < c->n) {
            ch = c->s[c->i];
            if (ch == '"') {
                if (!sc_string(c)) return 0;
                continue;
            }
            c->i++;
            if (ch == '{' || ch == '[')
                depth++;
            else if ((ch == '}' || ch == ']') && --depth == 0)
                return 1;
        }
        return 0;
    }
    size_t st = c->i;
    while (c->i < c->n && !strchr(",}] \t\r\n", c->s[c->i]))
        c->i++;
    return c->i > st &&
           c->i < c->n; /* a scalar cannot end the document inside the top-level object */
}

static int sc_truncated(const char *name, size_t len, sa_error *err) {
    return sa_error_set(err, SA_ERR_PARSE, "%s: not valid JSON (truncated: input ends at byte %zu)",
                        name, len);
}

static int sc_bad(const char *name, const scan *c, const char *what, sa_error *err) {
    if (c->i >= c->n) return sc_truncated(name, c->n, err);
    return sa_error_set(err, SA_ERR_PARSE, "%s: not valid JSON (%s at byte %zu of %zu)", name, what,
                        c->i, c->n);
}

/* Reads the "data" array (scanner at '['), appending samples to set. */
static int parse_data(scan *c, const char *name, sa_traj_set *set, sa_error *err) {
    c->i++; /* '[' */
    sc_ws(c);
    if (c->i < c->n && c->s[c->i] == ']') {
        c->i++;
        return SA_OK;
    }
    int cap = set->n_samples;
    for (;;) {
        sc_ws(c);
        size_t st = c->i;
        if (!sc_value(c)) return sc_bad(name, c, "malformed sample", err);
        if (set->n_samples == INT_MAX)
            return sa_error_set(err, SA_ERR_RANGE, "%s: too many samples", name);
        if (set->n_samples == cap) {
            int nc = cap ? (cap > INT_MAX / 2 ? INT_MAX : cap * 2) : 64;
            sa_traj_sample *ns = realloc(set->samples, (size_t)nc * sizeof *ns);
            if (!ns) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", name);
            set->samples = ns;
            cap = nc;
        }
        int i = set->n_samples;
        memset(&set->samples[i], 0, sizeof set->samples[i]);
        set->n_samples = i + 1;
        cJSON *o = cJSON_ParseWithLength(c->s + st, c->i - st);
        if (!o && sa__json_too_deep(c->s + st, c->i - st))
            return sa_error_set(
                err, SA_ERR_PARSE,
                "%s: data[%d]: JSON nested deeper than %d levels (the reader's limit)", name, i,
                CJSON_NESTING_LIMIT);
        if (!o) {
            const char *at = cJSON_GetErrorPtr();
            size_t off = (at && at >= c->s + st && at <= c->s + c->i) ? (size_t)(at - c->s) : st;
            return sa_error_set(err, SA_ERR_PARSE, "%s: data[%d]: not valid JSON (near byte %zu)",
                                name, i, off);
        }
        rd r = {name, i, err};
        int rc = read_sample(&r, o, &set->samples[i]);
        cJSON_Delete(o);
        if (rc != SA_OK) return rc;
        sc_ws(c);
        if (c->i >= c->n) return sc_truncated(name, c->n, err);
        char ch = c->s[c->i++];
        if (ch == ']') return SA_OK;
        if (ch != ',') {
            c->i--;
            return sc_bad(name, c, "expected ',' or ']' after a sample", err);
        }
    }
}

int sa_traj_parse(const char *json, size_t len, const char *name, sa_traj_set **out,
                  sa_error *err) {
    if (!json || !out) return sa_error_set(err, SA_ERR_INVALID, "trajectory parse: NULL argument");
    *out = NULL;
    if (!name) name = "trajectories";
    scan c = {json, len, 0};
    sc_ws(&c);
    if (c.i < len && json[c.i] != '{')
        return sa_error_set(err, SA_ERR_FORMAT,
                            "%s: top level is not an object with 'info' and 'data'", name);
    sa_traj_set *set = calloc(1, sizeof *set);
    if (!set) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", name);
    int rc = SA_OK, have_data = 0;
    if (c.i >= len) {
        rc = len ? sc_truncated(name, len, err)
                 : sa_error_set(err, SA_ERR_PARSE, "%s: empty file", name);
        goto done;
    }
    c.i++; /* '{' */
    sc_ws(&c);
    if (c.i < len && json[c.i] == '}') {
        c.i++;
    } else {
        for (;;) {
            sc_ws(&c);
            if (c.i >= len || json[c.i] != '"') {
                rc = sc_bad(name, &c, "expected a key", err);
                goto done;
            }
            size_t ks = c.i + 1;
            if (!sc_string(&c)) {
                rc = sc_truncated(name, len, err);
                goto done;
            }
            size_t kl = c.i - 1 - ks;
            sc_ws(&c);
            if (c.i >= len || json[c.i] != ':') {
                rc = sc_bad(name, &c, "expected ':'", err);
                goto done;
            }
            c.i++;
            sc_ws(&c);
            if (kl == 4 && !memcmp(json + ks, "data", 4)) {
                if (have_data) {
                    rc = sa_error_set(err, SA_ERR_FORMAT, "%s: key 'data' appears twice", name);
                    goto done;
                }
                have_data = 1;
                if (c.i >= len || json[c.i] != '[') {
                    rc = c.i >= len ? sc_truncated(name, len, err)
                                    : sa_error_set(err, SA_ERR_FORMAT,
                                                   "%s: key 'data' is not a list", name);
                    goto done;
                }
                if ((rc = parse_data(&c, name, set, err))) goto done;
            } else {
                size_t vs = c.i;
                if (!sc_value(&c)) {
                    rc = sc_bad(name, &c, "malformed value", err);
                    goto done;
                }
                cJSON *v = cJSON_ParseWithLength(json + vs, c.i - vs);
                if (!v) {
                    rc =
                        sa__json_too_deep(json + vs, c.i - vs)
                            ? sa_error_set(
                                  err, SA_ERR_PARSE,
                                  "%s: JSON nested deeper than %d levels (the reader's limit) at byte %zu",
                                  name, CJSON_NESTING_LIMIT, vs)
                            : sa_error_set(err, SA_ERR_PARSE,
                                           "%s: not valid JSON (value at byte %zu)", name, vs);
                    goto done;
                }
                if (kl == 4 && !memcmp(json + ks, "info", 4) && cJSON_IsObject(v) &&
                    !set->info_json) {
                    set->info_json = sa__json_print(v, 0);
                    if (!set->info_json)
                        rc = sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", name);
                }
                cJSON_Delete(v);
                if (rc) goto done;
            }
            sc_ws(&c);
            if (c.i >= len) {
                rc = sc_truncated(name, len, err);
                goto done;
            }
            char ch = json[c.i++];
            if (ch == '}') break;
            if (ch != ',') {
                c.i--;
                rc = sc_bad(name, &c, "expected ',' or '}'", err);
                goto done;
            }
        }
    }
    sc_ws(&c);
    if (c.i < len) {
        rc = sc_bad(name, &c, "extra text after the top-level object", err);
        goto done;
    }
    if (!have_data) {
        rc = sa_error_set(err, SA_ERR_FORMAT, "%s: missing key 'data'", name);
        goto done;
    }
    if (!set->info_json && !(set->info_json = sa__strdup("{}")))
        rc = sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", name);
done:
    if (rc != SA_OK) {
        sa_traj_set_free(set);
        return rc;
    }
    *out = set;
    return SA_OK;
}

int sa_traj_read(const char *path, sa_traj_set **out, sa_error *err) {
    if (!path || !out) return sa_error_set(err, SA_ERR_INVALID, "trajectory read: NULL argument");
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    int rc = sa__read_file(path, SA_TRAJ_MAX_FILE_BYTES, &buf, &len, err);
    if (rc == SA_OK) rc = sa_traj_parse(buf, len, path, out, err);
    free(buf);
    return rc;
}
