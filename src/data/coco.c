/* COCO annotation files (segagent/coco.h).
 *
 * Design: the file is parsed with cJSON once, checked record by record, and copied into flat arrays
 * (records, polygon coordinates, RLE runs) so the tree -- many times the size of the data -- is
 * freed before returning. Segmentations are converted while reading: compressed RLE strings to
 * runs, polygons to coordinate arrays. A segmentation that cannot be converted is kept as its error
 * message, reported when the mask is asked for: a tool that looks for bad annotations (segagent
 * filter) must be able to read a file with some in it. Lookups by id go through sorted (id, index)
 * arrays; a repeated id is an error (it would pair records wrongly).
 */
#include "segagent/coco.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "segagent/image.h"
#include "base/files.h"
#include "base/text.h"
#include "base/util.h"

#define MAX_ID 9007199254740992.0 /* 2^53: every integer up to here is exact in a double */
/* Polygon coordinates beyond this are no pixel of any image the library reads (SA_IMAGE_MAX_SIDE is
 * 32768): +-1e300 would rasterise to an empty mask without a word. */
#define MAX_COORD 1048576.0

typedef struct seg_rec {
    int code;    /* SA_COCO_SEG_INVALID: the status sa_coco_ann_rle returns */
    char *error; /* SA_COCO_SEG_INVALID: its message (owned) */
    int h, w;    /* RLE size */
    size_t off;  /* RLE: first run in counts; polygons: first entry in polys */
    size_t n;    /* RLE: number of runs; polygons: number of polygons */
} seg_rec;

typedef struct poly_rec {
    size_t off;      /* first coordinate in coords */
    size_t n_points; /* (x, y) pairs */
} poly_rec;

typedef struct id_ref {
    int64_t id;
    int index;
} id_ref;

struct sa_coco_set {
    char *name;
    int has_images;
    sa_coco_image *images;
    sa_coco_category *cats;
    sa_coco_ann *anns;
    seg_rec *segs; /* parallel to anns */
    int n_images, n_cats, n_anns;
    id_ref *image_ids, *cat_ids, *ann_ids; /* sorted by (id, index) */
    double *coords;
    size_t n_coords, cap_coords;
    poly_rec *polys;
    size_t n_polys, cap_polys;
    uint32_t *counts;
    size_t n_counts, cap_counts;
};

/* Where the parser is, for messages: "<name>: <list>[<index>].<key>: ..." */
typedef struct ctx {
    sa_coco_set *set;
    const char *name;
    const char *list;
    int index;
    sa_coco_params params;
    sa_error *err;
} ctx;

sa_coco_params sa_coco_default_params(void) {
    sa_coco_params p;
    memset(&p, 0, sizeof p);
    p.value_min = 0;
    p.value_max = 1;
    return p;
}

/* ---- small helpers ---- */

/* buf with room for need elements of elem bytes (capacity *cap, doubled as needed), or NULL when
 * out of memory (buf is then still valid). */
static void *grow(void *buf, size_t *cap, size_t need, size_t elem) {
    if (buf && need <= *cap) return buf;
    size_t nc = *cap ? *cap : 256, bytes;
    while (nc < need) {
        if (nc > ((size_t)-1) / 2) return NULL;
        nc *= 2;
    }
    if (!sa__mul_size(nc, elem, &bytes)) return NULL;
    void *p = realloc(buf, bytes);
    if (p) *cap = nc;
    return p;
}

static const char *type_name(const cJSON *v) {
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsArray(v)) return "a list";
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsBool(v)) return "true/false";
    return "null";
}

static int nomem(ctx *c) {
    return sa_error_set(c->err, SA_ERR_NOMEM, "%s: out of memory", c->name);
}

/* "NAME: annotations[3]: no "id" (expected ...)" or "NAME: annotations[3].id: expected ... (got
 * ...)" */
static int bad(ctx *c, const char *key, const char *want, const cJSON *got) {
    if (!got)
        return sa_error_set(c->err, SA_ERR_FORMAT, "%s: %s[%d]: no \"%s\" (expected %s)", c->name,
                            c->list, c->index, key, want);
    if (cJSON_IsNumber(got)) { /* integers in full (ids), anything else short */
        double d = got->valuedouble;
        int whole = floor(d) == d && fabs(d) < 1e17;
        return sa_error_set(c->err, SA_ERR_FORMAT,
                            whole ? "%s: %s[%d].%s: expected %s (got %.0f)"
                                  : "%s: %s[%d].%s: expected %s (got %.6g)",
                            c->name, c->list, c->index, key, want, d);
    }
    return sa_error_set(c->err, SA_ERR_FORMAT, "%s: %s[%d].%s: expected %s (got %s)", c->name,
                        c->list, c->index, key, want, type_name(got));
}

static const cJSON *item(const cJSON *o, const char *key) {
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* Integer in [lo, hi]. *present (may be NULL) says whether the key is there; absent is an error
 * only when required. */
static int int_field(ctx *c, const cJSON *o, const char *key, int required, double lo, double hi,
                     int64_t *out, int *present) {
    const cJSON *v = item(o, key);
    if (present) *present = v != NULL;
    if (!v && !required) return SA_OK;
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d >= lo && d <= hi) || floor(d) != d) {
        char want[80];
        if (hi >= MAX_ID)
            snprintf(want, sizeof want, "an integer");
        else
            snprintf(want, sizeof want, "an integer in %.0f..%.0f", lo, hi);
        return bad(c, key, want, v);
    }
    *out = (int64_t)d;
    return SA_OK;
}

/* Copy of a string field (left NULL when absent and optional). */
static int str_field(ctx *c, const cJSON *o, const char *key, int required, char **out) {
    const cJSON *v = item(o, key);
    if (!v && !required) return SA_OK;
    if (!cJSON_IsString(v) || !v->valuestring) return bad(c, key, "a string", v);
    *out = sa__strdup(v->valuestring);
    return *out ? SA_OK : nomem(c);
}

static int record_object(ctx *c, const cJSON *o) {
    if (cJSON_IsObject(o)) return SA_OK;
    return sa_error_set(c->err, SA_ERR_FORMAT, "%s: %s[%d]: expected an object (got %s)", c->name,
                        c->list, c->index, type_name(o));
}

static int cmp_id(const void *a, const void *b) {
    const id_ref *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int find_id(const id_ref *ids, int n, int64_t id) {
    int lo = 0, hi = n; /* first entry with ids[k].id >= id */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (ids[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && ids[lo].id == id ? ids[lo].index : -1;
}

/* ids[k] = (id of record k, k) sorted, the id read at id_offset in each record of recs. Two records
 * with one id are an error naming both: a lookup by id would silently pair with the wrong one. */
static int build_index(ctx *c, id_ref **ids, int n, const void *recs, size_t stride,
                       size_t id_offset) {
    *ids = malloc((size_t)(n > 0 ? n : 1) * sizeof **ids);
    if (!*ids) return nomem(c);
    for (int k = 0; k < n; k++) {
        const char *rec = (const char *)recs + (size_t)k * stride;
        memcpy(&(*ids)[k].id, rec + id_offset, sizeof(int64_t));
        (*ids)[k].index = k;
    }
    qsort(*ids, (size_t)n, sizeof **ids, cmp_id);
    int dup = -1; /* the repeat that comes first in the file */
    for (int k = 1; k < n; k++)
        if ((*ids)[k].id == (*ids)[k - 1].id && (dup < 0 || (*ids)[k].index < (*ids)[dup].index))
            dup = k;
    if (dup >= 0) {
        int first = dup; /* the first record with that id: ties are in file order */
        while (first > 0 && (*ids)[first - 1].id == (*ids)[dup].id)
            first--;
        return sa_error_set(c->err, SA_ERR_FORMAT, "%s: %s[%d].id: %lld is also the id of %s[%d]",
                            c->name, c->list, (*ids)[dup].index, (long long)(*ids)[dup].id, c->list,
                            (*ids)[first].index);
    }
    return SA_OK;
}

/* ---- images and categories ---- */

static int read_image(ctx *c, const cJSON *o, sa_coco_image *im) {
    int64_t w = 0, h = 0;
    char *fn = NULL;
    int rc = record_object(c, o);
    if (rc == SA_OK) rc = int_field(c, o, "id", 1, -MAX_ID, MAX_ID, &im->id, NULL);
    if (rc == SA_OK) rc = str_field(c, o, "file_name", 1, &fn);
    im->file_name = fn;
    if (rc == SA_OK) rc = int_field(c, o, "width", 0, 1, SA_IMAGE_MAX_SIDE, &w, NULL);
    if (rc == SA_OK) rc = int_field(c, o, "height", 0, 1, SA_IMAGE_MAX_SIDE, &h, NULL);
    if (rc == SA_OK && (uint64_t)w * (uint64_t)h > SA_IMAGE_MAX_PIXELS)
        rc = sa_error_set(c->err, SA_ERR_FORMAT,
                          "%s: %s[%d]: %lldx%lld is above the image limit of %u pixels", c->name,
                          c->list, c->index, (long long)w, (long long)h, SA_IMAGE_MAX_PIXELS);
    im->width = (int)w;
    im->height = (int)h;
    return rc;
}

static int read_category(ctx *c, const cJSON *o, sa_coco_category *cat) {
    char *name = NULL, *super = NULL;
    int rc = record_object(c, o);
    if (rc == SA_OK) rc = int_field(c, o, "id", 1, -MAX_ID, MAX_ID, &cat->id, NULL);
    if (rc == SA_OK) rc = str_field(c, o, "name", 1, &name);
    if (rc == SA_OK) rc = str_field(c, o, "supercategory", 0, &super);
    cat->name = name;
    cat->supercategory = super;
    return rc;
}

/* A top-level list: absent (allowed unless required) or a list. */
static int top_list(ctx *c, const cJSON *root, const char *key, int required, const cJSON **out,
                    int *n) {
    const cJSON *v = item(root, key);
    *out = NULL;
    *n = 0;
    if (!v && !required) return SA_OK;
    if (!v) return sa_error_set(c->err, SA_ERR_FORMAT, "%s: needs an \"%s\" array", c->name, key);
    if (!cJSON_IsArray(v))
        return sa_error_set(c->err, SA_ERR_FORMAT, "%s: \"%s\" must be a list (got %s)", c->name,
                            key, type_name(v));
    *out = v;
    *n = cJSON_GetArraySize(v);
    return SA_OK;
}

static int read_images(ctx *c, const cJSON *list, int n) {
    sa_coco_set *s = c->set;
    s->images = calloc((size_t)(n > 0 ? n : 1), sizeof *s->images);
    if (!s->images) return nomem(c);
    c->list = "images";
    const cJSON *o;
    int rc = SA_OK;
    cJSON_ArrayForEach(o, list) {
        c->index = s->n_images;
        rc = read_image(c, o, &s->images[s->n_images]);
        s->n_images++; /* counted even when partly filled: sa_coco_free frees what is there */
        if (rc) return rc;
    }
    return build_index(c, &s->image_ids, s->n_images, s->images, sizeof *s->images,
                       offsetof(sa_coco_image, id));
}

static int read_categories(ctx *c, const cJSON *list, int n) {
    sa_coco_set *s = c->set;
    s->cats = calloc((size_t)(n > 0 ? n : 1), sizeof *s->cats);
    if (!s->cats) return nomem(c);
    c->list = "categories";
    const cJSON *o;
    int rc = SA_OK;
    cJSON_ArrayForEach(o, list) {
        c->index = s->n_cats;
        rc = read_category(c, o, &s->cats[s->n_cats]);
        s->n_cats++;
        if (rc) return rc;
    }
    return build_index(c, &s->cat_ids, s->n_cats, s->cats, sizeof *s->cats,
                       offsetof(sa_coco_category, id));
}

/* ---- segmentations ---- */

/* Records why the segmentation is unusable. Only running out of memory stops the reading. */
static int seg_invalid(ctx *c, seg_rec *sr, sa_coco_ann *a, int code, const char *msg) {
    if (code == SA_ERR_NOMEM) return nomem(c);
    a->seg = SA_COCO_SEG_INVALID;
    a->n_polygons = 0;
    sr->code = code;
    sr->error = sa__strdup(msg);
    return sr->error ? SA_OK : nomem(c);
}

static int seg_rle(ctx *c, const cJSON *seg, seg_rec *sr, sa_coco_ann *a) {
    sa_coco_set *s = c->set;
    sa_rle r = {0};
    sa_error e = {0};
    int rc = sa_rle_from_json(seg, &r, &e);
    if (rc) return seg_invalid(c, sr, a, rc, e.msg);
    uint32_t *counts = grow(s->counts, &s->cap_counts, s->n_counts + r.m, sizeof *s->counts);
    if (!counts) {
        sa_rle_free(&r);
        return nomem(c);
    }
    s->counts = counts;
    if (r.m) memcpy(s->counts + s->n_counts, r.counts, r.m * sizeof *r.counts);
    sr->off = s->n_counts;
    sr->n = r.m;
    sr->h = a->rle_h = r.h;
    sr->w = a->rle_w = r.w;
    s->n_counts += r.m;
    a->seg = cJSON_IsString(item(seg, "counts")) ? SA_COCO_SEG_RLE : SA_COCO_SEG_RLE_COUNTS;
    sa_rle_free(&r);
    return SA_OK;
}

/* One polygon: an even count >= 6 of numbers, appended to coords. Returns 1, 0 when invalid (msg
 * set) or the out-of-memory error. */
static int one_polygon(ctx *c, const cJSON *poly, int k, char *msg, size_t cap) {
    sa_coco_set *s = c->set;
    int m = cJSON_IsArray(poly) ? cJSON_GetArraySize(poly) : 0;
    if (m < 6 || m % 2) {
        snprintf(msg, cap, "polygon %d has %d numbers (need an even count >= 6)", k, m);
        return 0;
    }
    double *coords = grow(s->coords, &s->cap_coords, s->n_coords + (size_t)m, sizeof *s->coords);
    if (coords) s->coords = coords;
    poly_rec *polys =
        coords ? grow(s->polys, &s->cap_polys, s->n_polys + 1, sizeof *s->polys) : NULL;
    if (!polys) return nomem(c);
    s->polys = polys;
    s->polys[s->n_polys].off = s->n_coords;
    s->polys[s->n_polys].n_points = (size_t)m / 2;
    const cJSON *v;
    cJSON_ArrayForEach(v, poly) {
        if (!cJSON_IsNumber(v)) {
            snprintf(msg, cap, "polygon %d: non-number", k);
            return 0;
        }
        if (!(fabs(v->valuedouble) <= MAX_COORD)) {
            snprintf(msg, cap, "polygon %d: coordinate %.6g outside -%.0f..%.0f", k, v->valuedouble,
                     MAX_COORD, MAX_COORD);
            return 0;
        }
        s->coords[s->n_coords++] = v->valuedouble;
    }
    s->n_polys++;
    return 1;
}

static int seg_polygons(ctx *c, const cJSON *seg, seg_rec *sr, sa_coco_ann *a) {
    sa_coco_set *s = c->set;
    size_t coords0 = s->n_coords, polys0 = s->n_polys;
    sr->off = s->n_polys;
    const cJSON *poly;
    int k = 0;
    cJSON_ArrayForEach(poly, seg) {
        char msg[128];
        int r = one_polygon(c, poly, k++, msg, sizeof msg);
        if (r < 0) return r;
        if (r == 0) {
            s->n_coords = coords0; /* drop what this segmentation added */
            s->n_polys = polys0;
            return seg_invalid(c, sr, a, SA_ERR_FORMAT, msg);
        }
    }
    sr->n = s->n_polys - polys0;
    a->seg = SA_COCO_SEG_POLYGONS;
    a->n_polygons = (int)sr->n;
    return SA_OK;
}

static int read_segmentation(ctx *c, const cJSON *o, seg_rec *sr, sa_coco_ann *a) {
    const cJSON *seg = item(o, "segmentation");
    a->seg = SA_COCO_SEG_NONE;
    if (cJSON_IsObject(seg)) return seg_rle(c, seg, sr, a);
    if (cJSON_IsArray(seg) && cJSON_GetArraySize(seg) > 0) return seg_polygons(c, seg, sr, a);
    if (!seg || cJSON_IsNull(seg) || cJSON_IsArray(seg)) return SA_OK;
    return seg_invalid(c, sr, a, SA_ERR_FORMAT, "no segmentation");
}

/* ---- annotations ---- */

/* caption (a string, or a list of strings: the first), else sentences[0].sent, else description. */
static int read_caption(ctx *c, const cJSON *o, char **out) {
    const cJSON *v = item(o, "caption");
    if (cJSON_IsString(v)) return str_field(c, o, "caption", 1, out);
    if (v && !cJSON_IsArray(v)) return bad(c, "caption", "a string or a list of strings", v);
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsString(e)) return bad(c, "caption", "a list of strings", e);
    }
    if (v && cJSON_GetArraySize(v) > 0) {
        *out = sa__strdup(cJSON_GetArrayItem(v, 0)->valuestring);
        return *out ? SA_OK : nomem(c);
    }
    const cJSON *sents = item(o, "sentences");
    if (sents && !cJSON_IsArray(sents))
        return bad(c, "sentences", "a list of {\"sent\": ...} objects", sents);
    const cJSON *s0 = cJSON_GetArrayItem(sents, 0);
    if (s0 && !cJSON_IsObject(s0))
        return bad(c, "sentences", "a list of {\"sent\": ...} objects", s0);
    const cJSON *sent = s0 ? item(s0, "sent") : NULL;
    if (sent && !cJSON_IsString(sent)) return bad(c, "sentences[0].sent", "a string", sent);
    if (sent) {
        *out = sa__strdup(sent->valuestring);
        return *out ? SA_OK : nomem(c);
    }
    return str_field(c, o, "description", 0, out);
}

static int read_bbox(ctx *c, const cJSON *o, sa_coco_ann *a) {
    const cJSON *v = item(o, "bbox");
    if (!v) return SA_OK;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 4)
        return bad(c, "bbox", "[x, y, width, height]", v);
    int k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble))
            return bad(c, "bbox", "four numbers", e);
        a->bbox[k++] = e->valuedouble;
    }
    a->has_bbox = 1;
    return SA_OK;
}

/* iscrowd 0/1 (or false/true), area >= 0, category_id, the caller's value key. */
static int read_ann_extras(ctx *c, const cJSON *o, sa_coco_ann *a) {
    const cJSON *v = item(o, "iscrowd");
    if (cJSON_IsBool(v))
        a->iscrowd = cJSON_IsTrue(v);
    else if (cJSON_IsNumber(v) && (v->valuedouble == 0 || v->valuedouble == 1))
        a->iscrowd = v->valuedouble == 1;
    else if (v)
        return bad(c, "iscrowd", "0 or 1", v);
    v = item(o, "area");
    if (v && (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || !isfinite(v->valuedouble)))
        return bad(c, "area", "a number >= 0", v);
    if (v) a->area = v->valuedouble;
    int rc = int_field(c, o, "category_id", 0, -MAX_ID, MAX_ID, &a->category_id, &a->has_category);
    if (rc) return rc;
    a->category = a->has_category ? find_id(c->set->cat_ids, c->set->n_cats, a->category_id) : -1;
    const cJSON *val = c->params.value_key ? item(o, c->params.value_key) : NULL;
    a->value = NAN;
    if (!val || cJSON_IsNull(val)) return SA_OK;
    double lo = c->params.value_min, hi = c->params.value_max;
    if (!cJSON_IsNumber(val) || !(val->valuedouble >= lo && val->valuedouble <= hi)) {
        char want[80];
        snprintf(want, sizeof want, "a number in %g..%g", lo, hi);
        return bad(c, c->params.value_key, want, val);
    }
    a->value = val->valuedouble;
    return SA_OK;
}

static int read_ann(ctx *c, const cJSON *o, sa_coco_ann *a, seg_rec *sr) {
    int rc = record_object(c, o);
    char *caption = NULL;
    a->image = -1;
    a->category = -1;
    a->area = NAN;
    a->value = NAN;
    if (rc == SA_OK) rc = int_field(c, o, "id", 1, -MAX_ID, MAX_ID, &a->id, NULL);
    if (rc == SA_OK) rc = int_field(c, o, "image_id", 1, -MAX_ID, MAX_ID, &a->image_id, NULL);
    if (rc == SA_OK) a->image = find_id(c->set->image_ids, c->set->n_images, a->image_id);
    if (rc == SA_OK) rc = read_ann_extras(c, o, a);
    if (rc == SA_OK) rc = read_bbox(c, o, a);
    if (rc == SA_OK) rc = read_caption(c, o, &caption);
    a->caption = caption;
    if (rc == SA_OK) rc = read_segmentation(c, o, sr, a);
    return rc;
}

static int read_anns(ctx *c, const cJSON *list, int n) {
    sa_coco_set *s = c->set;
    s->anns = calloc((size_t)(n > 0 ? n : 1), sizeof *s->anns);
    s->segs = calloc((size_t)(n > 0 ? n : 1), sizeof *s->segs);
    if (!s->anns || !s->segs) return nomem(c);
    c->list = "annotations";
    const cJSON *o;
    int rc = SA_OK;
    cJSON_ArrayForEach(o, list) {
        c->index = s->n_anns;
        rc = read_ann(c, o, &s->anns[s->n_anns], &s->segs[s->n_anns]);
        s->n_anns++;
        if (rc) return rc;
    }
    return build_index(c, &s->ann_ids, s->n_anns, s->anns, sizeof *s->anns,
                       offsetof(sa_coco_ann, id));
}

/* ---- reading ---- */

static int read_tree(ctx *c, const cJSON *root) {
    if (!cJSON_IsObject(root))
        return sa_error_set(c->err, SA_ERR_FORMAT,
                            "%s: top level is not an object (a COCO file is {\"images\": [...], "
                            "\"annotations\": [...], ...})",
                            c->name);
    const cJSON *images, *anns, *cats;
    int ni, na, nc;
    int rc = top_list(c, root, "annotations", 1, &anns, &na);
    if (rc == SA_OK) rc = top_list(c, root, "images", 0, &images, &ni);
    if (rc == SA_OK) rc = top_list(c, root, "categories", 0, &cats, &nc);
    if (rc) return rc;
    c->set->has_images = images != NULL;
    rc = read_images(c, images, ni);
    if (rc == SA_OK) rc = read_categories(c, cats, nc);
    if (rc == SA_OK) rc = read_anns(c, anns, na);
    return rc;
}

int sa_coco_parse(const char *json, size_t len, const char *name, sa_coco_params params,
                  sa_coco_set **out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_coco_parse: NULL out");
    *out = NULL;
    if (!json && len) return sa_error_set(err, SA_ERR_INVALID, "sa_coco_parse: NULL input");
    if (!name) name = "annotations";
    const char *end = NULL;
    cJSON *root = json ? cJSON_ParseWithLengthOpts(json, len, &end, 0) : NULL;
    if (!root) return sa__json_error(err, name, json, len, end);
    sa_coco_set *set = calloc(1, sizeof *set);
    sa_error local = {0};
    ctx c = {set, name, "", 0, params, err ? err : &local};
    int rc = set ? SA_OK : sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", name);
    if (rc == SA_OK) set->name = sa__strdup(name);
    if (rc == SA_OK && !set->name) rc = nomem(&c);
    if (rc == SA_OK) rc = read_tree(&c, root);
    cJSON_Delete(root);
    if (rc) {
        sa_coco_free(set);
        return rc;
    }
    *out = set;
    return SA_OK;
}

int sa_coco_read(const char *path, sa_coco_params params, sa_coco_set **out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_coco_read: NULL out");
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    int rc = sa__read_file(path, SA__MAX_DATA_BYTES, &buf, &len, err);
    if (rc) return rc;
    rc = sa_coco_parse(buf, len, path, params, out, err);
    free(buf);
    return rc;
}

void sa_coco_free(sa_coco_set *set) {
    if (!set) return;
    for (int i = 0; i < set->n_images; i++)
        free((char *)set->images[i].file_name);
    for (int i = 0; i < set->n_cats; i++) {
        free((char *)set->cats[i].name);
        free((char *)set->cats[i].supercategory);
    }
    for (int i = 0; i < set->n_anns; i++) {
        free((char *)set->anns[i].caption);
        free(set->segs[i].error);
    }
    free(set->images);
    free(set->cats);
    free(set->anns);
    free(set->segs);
    free(set->image_ids);
    free(set->cat_ids);
    free(set->ann_ids);
    free(set->coords);
    free(set->polys);
    free(set->counts);
    free(set->name);
    free(set);
}

/* ---- accessors ---- */

const char *sa_coco_name(const sa_coco_set *set) {
    return set ? set->name : NULL;
}
int sa_coco_has_images(const sa_coco_set *set) {
    return set ? set->has_images : 0;
}
int sa_coco_n_images(const sa_coco_set *set) {
    return set ? set->n_images : 0;
}
int sa_coco_n_anns(const sa_coco_set *set) {
    return set ? set->n_anns : 0;
}
int sa_coco_n_categories(const sa_coco_set *set) {
    return set ? set->n_cats : 0;
}

const sa_coco_image *sa_coco_get_image(const sa_coco_set *set, int i) {
    return set && i >= 0 && i < set->n_images ? &set->images[i] : NULL;
}

const sa_coco_ann *sa_coco_get_ann(const sa_coco_set *set, int i) {
    return set && i >= 0 && i < set->n_anns ? &set->anns[i] : NULL;
}

const sa_coco_category *sa_coco_get_category(const sa_coco_set *set, int i) {
    return set && i >= 0 && i < set->n_cats ? &set->cats[i] : NULL;
}

int sa_coco_find_image(const sa_coco_set *set, int64_t id) {
    return set ? find_id(set->image_ids, set->n_images, id) : -1;
}

int sa_coco_find_ann(const sa_coco_set *set, int64_t id) {
    return set ? find_id(set->ann_ids, set->n_anns, id) : -1;
}

int sa_coco_find_category(const sa_coco_set *set, int64_t id) {
    return set ? find_id(set->cat_ids, set->n_cats, id) : -1;
}

const char *sa_coco_ann_description(const sa_coco_set *set, int i) {
    const sa_coco_ann *a = sa_coco_get_ann(set, i);
    if (!a) return NULL;
    if (a->caption) return a->caption;
    const sa_coco_category *cat = sa_coco_get_category(set, a->category);
    return cat ? cat->name : NULL;
}

int sa_coco_ann_polygon(const sa_coco_set *set, int i, int k, const double **xy, size_t *n_points,
                        sa_error *err) {
    const sa_coco_ann *a = sa_coco_get_ann(set, i);
    if (!xy || !n_points)
        return sa_error_set(err, SA_ERR_INVALID, "sa_coco_ann_polygon: NULL output");
    *xy = NULL;
    *n_points = 0;
    if (!a || a->seg != SA_COCO_SEG_POLYGONS || k < 0 || k >= a->n_polygons)
        return sa_error_set(err, SA_ERR_INVALID, "annotation %d has no polygon %d", i, k);
    const poly_rec *p = &set->polys[set->segs[i].off + (size_t)k];
    *xy = set->coords + p->off;
    *n_points = p->n_points;
    return SA_OK;
}

static int polygons_rle(const sa_coco_set *set, const seg_rec *sr, int h, int w, sa_rle *out,
                        sa_error *err) {
    const double **xy = malloc((sr->n ? sr->n : 1) * sizeof *xy);
    size_t *np = malloc((sr->n ? sr->n : 1) * sizeof *np);
    int rc = xy && np ? SA_OK : sa_error_set(err, SA_ERR_NOMEM, "out of memory");
    for (size_t k = 0; rc == SA_OK && k < sr->n; k++) {
        const poly_rec *p = &set->polys[sr->off + k];
        xy[k] = set->coords + p->off;
        np[k] = p->n_points;
    }
    if (rc == SA_OK) rc = sa_rle_from_polygons(xy, np, sr->n, h, w, out, err);
    free(xy);
    free(np);
    return rc;
}

int sa_coco_ann_rle(const sa_coco_set *set, int i, int h, int w, sa_rle *out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_coco_ann_rle: NULL output");
    memset(out, 0, sizeof *out);
    const sa_coco_ann *a = sa_coco_get_ann(set, i);
    if (!a) return sa_error_set(err, SA_ERR_INVALID, "sa_coco_ann_rle: no annotation %d", i);
    if (h == 0 && w == 0) {
        const sa_coco_image *im = sa_coco_get_image(set, a->image);
        if (!im || im->height < 1 || im->width < 1)
            return sa_error_set(err, SA_ERR_INVALID,
                                "annotation %d: the size of its image is not known", i);
        h = im->height;
        w = im->width;
    }
    const seg_rec *sr = &set->segs[i];
    switch (a->seg) {
    case SA_COCO_SEG_POLYGONS:
        return polygons_rle(set, sr, h, w, out, err);
    case SA_COCO_SEG_RLE:
    case SA_COCO_SEG_RLE_COUNTS:
        if (sr->h != h || sr->w != w)
            return sa_error_set(err, SA_ERR_FORMAT, "RLE size %dx%d differs from the image %dx%d",
                                sr->w, sr->h, w, h);
        return sa_rle_init(out, h, w, sr->n ? set->counts + sr->off : NULL, sr->n, err);
    case SA_COCO_SEG_INVALID:
        return sa_error_set(err, sr->code, "%s", sr->error);
    default:
        return sa_error_set(err, SA_ERR_FORMAT, "no segmentation");
    }
}

int sa_coco_ann_mask(const sa_coco_set *set, int i, int h, int w, sa_mask *out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_coco_ann_mask: NULL output");
    sa_rle r = {0};
    int rc = sa_coco_ann_rle(set, i, h, w, &r, err);
    if (rc == SA_OK) rc = sa_rle_decode(&r, out, err);
    sa_rle_free(&r);
    return rc;
}
