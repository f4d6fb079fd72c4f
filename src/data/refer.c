/* RefCOCO-family datasets: refs(<splitBy>).p + instances.json, images in a COCO folder.
 *
 * The pickle goes through the one restricted pickle VM (weights/unpickle.h) to JSON, and the refs
 * are walked with cJSON; annotations and image records come from the COCO reader (coco.h). Every
 * check that can be made without pixels is made at open, so a bad ref costs one warning and never
 * a failed episode later; masks are checked when a sample is loaded (they need the decoded image's
 * size). Samples of one ref share its strings' owner, the set. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "base/files.h"
#include "base/text.h"
#include "base/util.h"
#include "data/captions.h"
#include "segagent/dataset.h"
#include "segagent/refer.h"
#include "segagent/rle.h"
#include "segagent/scenes.h"
#include "segagent/trajectory.h"
#include "weights/unpickle.h"

#define MAX_WARNINGS 1000 /* then one line saying how many more */

/* Where sample i's pixels come from (beside the public record). */
enum { SRC_COCO, SRC_RLE, SRC_PAIR, SRC_SCENE };
typedef struct src {
    int kind;
    int a, b;        /* SRC_PAIR: dataset, item; SRC_SCENE: scene */
    const char *rle; /* SRC_RLE: compressed counts of h x w */
    int h, w;
} src;

#define SCENE_W 320
#define SCENE_H 240

struct sa_refer {
    char *name, *split, *split_by;
    src *src; /* parallel to s */
    int capsrc;
    sa_dataset **pairs; /* SRC_PAIR folders */
    int npairs, cappairs;
    sa_coco_set *owned; /* opened by sa_refer_open */
    const sa_coco_set *coco;
    sa_refer_sample *s;
    int n, cap;
    int n_refs;
    char **strs; /* every string the samples point to */
    int nstr, capstr;
    char **warn;
    int nwarn, capwarn, extra_warn;
};

sa_refer_params sa_refer_default_params(void) {
    sa_refer_params p;
    memset(&p, 0, sizeof p);
    return p;
}

static int grow_arr(void **p, int *cap, int need, size_t elem) {
    if (need <= *cap) return 1;
    int nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > (1 << 28)) return 0;
        nc *= 2;
    }
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return 0;
    *p = q;
    *cap = nc;
    return 1;
}

/* Keeps s (owned from now on); NULL when out of memory (s is freed). */
static char *keep(sa_refer *d, char *s) {
    if (!s || !grow_arr((void **)&d->strs, &d->capstr, d->nstr + 1, sizeof *d->strs)) {
        free(s);
        return NULL;
    }
    d->strs[d->nstr++] = s;
    return s;
}

static void warn(sa_refer *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(sa_refer *d, const char *fmt, ...) {
    if (d->nwarn >= MAX_WARNINGS) {
        d->extra_warn++;
        return;
    }
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *s = sa__strdup(buf);
    if (!s || !grow_arr((void **)&d->warn, &d->capwarn, d->nwarn + 1, sizeof *d->warn)) {
        free(s);
        return;
    }
    d->warn[d->nwarn++] = s;
}

/* An integer-valued JSON number of magnitude <= 2^53. */
static int get_id(const cJSON *o, const char *key, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) return 0;
    double x = v->valuedouble;
    if (!(fabs(x) <= 9007199254740992.0) || x != floor(x)) return 0;
    *out = (int64_t)x;
    return 1;
}

static const char *get_str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

static int add_sample_src(sa_refer *d, const sa_refer_sample *s, src r) {
    if (!grow_arr((void **)&d->s, &d->cap, d->n + 1, sizeof *d->s)) return 0;
    if (!grow_arr((void **)&d->src, &d->capsrc, d->n + 1, sizeof *d->src)) return 0;
    d->src[d->n] = r;
    d->s[d->n++] = *s;
    return 1;
}

static int add_sample(sa_refer *d, const sa_refer_sample *s) {
    src r = {SRC_COCO, 0, 0, NULL, 0, 0};
    return add_sample_src(d, s, r);
}

/* One ref: checked, then its samples appended. Returns SA_ERR_NOMEM or SA_OK (bad refs warn). */
static int add_ref(sa_refer *d, const cJSON *r, int idx, const char *refs_name,
                   const char *images_dir, sa_refer_params params) {
    sa_refer_sample t;
    memset(&t, 0, sizeof t);
    t.category_id = -1;
    t.sent_id = -1;
    if (!cJSON_IsObject(r) || !get_id(r, "ref_id", &t.ref_id)) {
        warn(d, "%s: ref %d: not a dict with an integer ref_id; skipped", refs_name, idx);
        return SA_OK;
    }
    const char *split = get_str(r, "split");
    if (d->split && (!split || strcmp(split, d->split) != 0)) return SA_OK;
    if (!get_id(r, "ann_id", &t.ann_id) || !get_id(r, "image_id", &t.image_id)) {
        warn(d, "%s: ref %lld: no integer ann_id / image_id; skipped", refs_name,
             (long long)t.ref_id);
        return SA_OK;
    }
    get_id(r, "category_id", &t.category_id);
    t.ann = sa_coco_find_ann(d->coco, t.ann_id);
    if (t.ann < 0) {
        warn(d, "%s: ref %lld: annotation %lld is not in %s; skipped", refs_name,
             (long long)t.ref_id, (long long)t.ann_id, sa_coco_name(d->coco));
        return SA_OK;
    }
    int im = sa_coco_find_image(d->coco, t.image_id);
    const sa_coco_ann *a = sa_coco_get_ann(d->coco, t.ann);
    if (im < 0 || a->image != im) {
        warn(d, "%s: ref %lld: image %lld is not in %s (or not annotation %lld's); skipped",
             refs_name, (long long)t.ref_id, (long long)t.image_id, sa_coco_name(d->coco),
             (long long)t.ann_id);
        return SA_OK;
    }
    const char *fname = sa_coco_get_image(d->coco, im)->file_name;
    char *path = images_dir ? path_join(images_dir, fname) : sa__strdup(fname);
    if (!(t.image_path = keep(d, path))) return SA_ERR_NOMEM;
    if (images_dir) {
        struct stat st;
        if (stat(t.image_path, &st) != 0 || !S_ISREG(st.st_mode)) {
            warn(d, "%s: ref %lld: image file %s is missing; skipped", refs_name,
                 (long long)t.ref_id, t.image_path);
            return SA_OK;
        }
    }
    if (split && !(t.split = keep(d, sa__strdup(split)))) return SA_ERR_NOMEM;
    const cJSON *sents = cJSON_GetObjectItemCaseSensitive(r, "sentences");
    int n_added = 0;
    const cJSON *se;
    char idbuf[64];
    const cJSON *slist = cJSON_IsArray(sents) ? sents : NULL;
    cJSON_ArrayForEach(se, slist) {
        const char *txt = cJSON_IsObject(se) ? get_str(se, "sent") : NULL;
        if (!txt && cJSON_IsObject(se)) txt = get_str(se, "raw");
        if (!txt || !*txt) continue;
        sa_refer_sample u = t;
        if (!get_id(se, "sent_id", &u.sent_id)) u.sent_id = -1;
        if (!(u.caption = keep(d, sa__utf8_sanitize(txt, strlen(txt), NULL)))) return SA_ERR_NOMEM;
        if (params.per_ref)
            snprintf(idbuf, sizeof idbuf, "%lld", (long long)u.ref_id);
        else
            snprintf(idbuf, sizeof idbuf, "%lld_%lld", (long long)u.ref_id, (long long)u.sent_id);
        if (!(u.id = keep(d, sa__strdup(idbuf)))) return SA_ERR_NOMEM;
        if (params.per_ref) u.sent_id = -1;
        if (!add_sample(d, &u)) return SA_ERR_NOMEM;
        n_added++;
        if (params.per_ref) break;
    }
    if (!n_added) {
        warn(d, "%s: ref %lld: no sentence; skipped", refs_name, (long long)t.ref_id);
        return SA_OK;
    }
    d->n_refs++;
    return SA_OK;
}

static const char *default_split_by(const char *name) {
    return name && strncmp(name, "refcocog", 8) == 0 ? "umd" : "unc";
}

static int check_split_by(const char *sb, sa_error *err) {
    if (sb && strcmp(sb, "unc") != 0 && strcmp(sb, "umd") != 0 && strcmp(sb, "google") != 0)
        return sa_error_set(err, SA_ERR_INVALID, "split_by '%.40s': expected unc, umd or google",
                            sb);
    return SA_OK;
}

static int build(sa_refer *d, const char *name, const uint8_t *refs, size_t n,
                 const char *refs_name, const char *split, const char *images_dir,
                 sa_refer_params params, sa_error *err) {
    d->name = sa__strdup(name ? name : "refer");
    d->split = (split && *split && strcmp(split, "all") != 0) ? sa__strdup(split) : NULL;
    d->split_by = sa__strdup(params.split_by ? params.split_by : default_split_by(name));
    if (!d->name || !d->split_by || (split && *split && strcmp(split, "all") != 0 && !d->split))
        return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", refs_name);
    char *json = NULL;
    size_t jl = 0;
    int rc = sa__pickle_to_json(refs, n, refs_name, &json, &jl, err);
    if (rc != SA_OK) return rc;
    cJSON *root = cJSON_ParseWithLength(json, jl);
    free(json);
    if (!root) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", refs_name);
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return sa_error_set(err, SA_ERR_FORMAT, "%s: the pickle is not a list of refs", refs_name);
    }
    const cJSON *r;
    int idx = 0;
    cJSON_ArrayForEach(r, root) {
        rc = add_ref(d, r, idx++, refs_name, images_dir, params);
        if (rc != SA_OK) {
            cJSON_Delete(root);
            return sa_error_set(err, rc, "%s: out of memory", refs_name);
        }
    }
    cJSON_Delete(root);
    if (d->extra_warn) warn(d, "%s: %d more warnings", refs_name, d->extra_warn);
    if (d->n == 0)
        return sa_error_set(err, SA_ERR_NOT_FOUND, "%s: no sample in split '%s'", refs_name,
                            d->split ? d->split : "all");
    return SA_OK;
}

int sa_refer_from_pickle(const char *name, const uint8_t *refs, size_t n, const char *refs_name,
                         const sa_coco_set *coco, const char *split, const char *images_dir,
                         sa_refer_params params, sa_refer **out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_refer_from_pickle: NULL out");
    *out = NULL;
    if (!coco || (!refs && n))
        return sa_error_set(err, SA_ERR_INVALID, "sa_refer_from_pickle: NULL input");
    if (!refs_name) refs_name = "refs";
    int rc = check_split_by(params.split_by, err);
    if (rc != SA_OK) return rc;
    sa_refer *d = calloc(1, sizeof *d);
    if (!d) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", refs_name);
    d->coco = coco;
    rc = build(d, name, refs, n, refs_name, split, images_dir, params, err);
    if (rc != SA_OK) {
        sa_refer_free(d);
        return rc;
    }
    *out = d;
    return SA_OK;
}

int sa_refer_open(const char *name, const char *split, const char *dir, const char *images_dir,
                  sa_refer_params params, sa_refer **out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_refer_open: NULL out");
    *out = NULL;
    if (!dir) return sa_error_set(err, SA_ERR_INVALID, "sa_refer_open: NULL dir");
    int rc = check_split_by(params.split_by, err);
    if (rc != SA_OK) return rc;
    const char *sb = params.split_by ? params.split_by : default_split_by(name);
    char fname[32];
    snprintf(fname, sizeof fname, "refs(%s).p", sb);
    char *ppath = path_join(dir, fname), *ipath = path_join(dir, "instances.json");
    char *buf = NULL;
    size_t n = 0;
    sa_coco_set *coco = NULL;
    if (!ppath || !ipath) {
        rc = sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", dir);
        goto out;
    }
    if ((rc = sa__read_file(ppath, SA__MAX_DATA_BYTES, &buf, &n, err)) != SA_OK) goto out;
    if ((rc = sa_coco_read(ipath, sa_coco_default_params(), &coco, err)) != SA_OK) goto out;
    sa_refer_params p = params;
    p.split_by = sb;
    rc = sa_refer_from_pickle(name, (const uint8_t *)buf, n, ppath, coco, split, images_dir, p, out,
                              err);
    if (rc == SA_OK) {
        (*out)->owned = coco;
        coco = NULL;
    }
out:
    sa_coco_free(coco);
    free(buf);
    free(ppath);
    free(ipath);
    return rc;
}

void sa_refer_free(sa_refer *d) {
    if (!d) return;
    for (int i = 0; i < d->nstr; i++)
        free(d->strs[i]);
    for (int i = 0; i < d->nwarn; i++)
        free(d->warn[i]);
    for (int i = 0; i < d->npairs; i++)
        sa_dataset_free(d->pairs[i]);
    free(d->pairs);
    free(d->src);
    free(d->strs);
    free(d->warn);
    free(d->s);
    free(d->name);
    free(d->split);
    free(d->split_by);
    sa_coco_free(d->owned);
    free(d);
}

const char *sa_refer_name(const sa_refer *d) {
    return d ? d->name : NULL;
}
const char *sa_refer_split(const sa_refer *d) {
    return d ? (d->split ? d->split : "all") : NULL;
}
const char *sa_refer_split_by(const sa_refer *d) {
    return d ? d->split_by : NULL;
}
int sa_refer_n_refs(const sa_refer *d) {
    return d ? d->n_refs : 0;
}
int sa_refer_count(const sa_refer *d) {
    return d ? d->n : 0;
}
const sa_refer_sample *sa_refer_get(const sa_refer *d, int i) {
    return d && i >= 0 && i < d->n ? &d->s[i] : NULL;
}
const sa_coco_set *sa_refer_coco(const sa_refer *d) {
    return d ? d->coco : NULL;
}
int sa_refer_n_warnings(const sa_refer *d) {
    return d ? d->nwarn : 0;
}
const char *sa_refer_warning(const sa_refer *d, int i) {
    return d && i >= 0 && i < d->nwarn ? d->warn[i] : NULL;
}

static int load_other(const sa_refer *d, const sa_refer_sample *s, const src *r, sa_image *img,
                      sa_mask *gt, sa_error *err) {
    int rc;
    sa_error e = {0};
    if (r->kind == SRC_SCENE) return sa_scene_render(r->a, 1, SCENE_W, SCENE_H, img, gt, err);
    if (r->kind == SRC_PAIR) {
        rc = sa_dataset_load(d->pairs[r->a], r->b, img, gt, NULL, err);
        return rc;
    }
    if ((rc = sa_image_load(s->image_path, img, err)) != SA_OK) return rc;
    if (img->height != r->h || img->width != r->w) {
        rc = sa_error_set(err, SA_ERR_FORMAT, "%s: sample %s: mask is %dx%d, the image %s is %dx%d",
                          d->name, s->id, r->w, r->h, s->image_path, img->width, img->height);
        sa_image_free(img);
        return rc;
    }
    sa_rle rl = {0};
    rc = sa_rle_from_string(r->rle, strlen(r->rle), r->h, r->w, &rl, &e);
    if (rc == SA_OK) rc = sa_rle_decode(&rl, gt, &e);
    sa_rle_free(&rl);
    if (rc == SA_OK && sa_mask_area(gt) == 0) rc = sa_error_set(&e, SA_ERR_FORMAT, "empty mask");
    if (rc != SA_OK) {
        sa_image_free(img);
        sa_mask_free(gt);
        return sa_error_set(err, rc, "%s: sample %s: %s", d->name, s->id, e.msg);
    }
    return SA_OK;
}

int sa_refer_load(const sa_refer *d, int i, sa_image *img, sa_mask *gt, sa_error *err) {
    const sa_refer_sample *s = sa_refer_get(d, i);
    if (!s || !img || !gt)
        return sa_error_set(err, SA_ERR_INVALID, "sa_refer_load: bad sample %d", i);
    memset(gt, 0, sizeof *gt);
    const src *r = &d->src[i];
    if (r->kind != SRC_COCO) return load_other(d, s, r, img, gt, err);
    int rc = sa_image_load(s->image_path, img, err);
    if (rc != SA_OK) return rc;
    const sa_coco_ann *a = sa_coco_get_ann(d->coco, s->ann);
    for (int k = 0; a->seg == SA_COCO_SEG_POLYGONS && k < a->n_polygons; k++) {
        const double *xy = NULL;
        size_t np = 0;
        if (sa_coco_ann_polygon(d->coco, s->ann, k, &xy, &np, NULL) != SA_OK) continue;
        for (size_t j = 0; j < np; j++)
            if (xy[2 * j] < -1 || xy[2 * j + 1] < -1 || xy[2 * j] > img->width + 1 ||
                xy[2 * j + 1] > img->height + 1) {
                rc = sa_error_set(
                    err, SA_ERR_FORMAT,
                    "%s: ref %lld: annotation %lld polygon %d point (%g, %g) lies outside the "
                    "%dx%d image",
                    sa_coco_name(d->coco), (long long)s->ref_id, (long long)s->ann_id, k, xy[2 * j],
                    xy[2 * j + 1], img->width, img->height);
                sa_image_free(img);
                return rc;
            }
    }
    sa_error e = {0};
    rc = sa_coco_ann_mask(d->coco, s->ann, img->height, img->width, gt, &e);
    if (rc != SA_OK) {
        sa_image_free(img);
        return sa_error_set(err, rc, "%s: ref %lld: annotation %lld: %s", sa_coco_name(d->coco),
                            (long long)s->ref_id, (long long)s->ann_id, e.msg);
    }
    if (sa_mask_area(gt) == 0) {
        sa_image_free(img);
        sa_mask_free(gt);
        return sa_error_set(err, SA_ERR_FORMAT, "%s: ref %lld: annotation %lld has an empty mask",
                            sa_coco_name(d->coco), (long long)s->ref_id, (long long)s->ann_id);
    }
    return SA_OK;
}

/* ------------------------------------------------------------------ other sources */

static sa_refer *new_set(const char *name, const char *dflt) {
    sa_refer *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->name = sa__strdup(name ? name : dflt);
    d->split_by = sa__strdup("");
    if (!d->name || !d->split_by) {
        sa_refer_free(d);
        return NULL;
    }
    return d;
}

static int finish(sa_refer *d, sa_refer **out, const char *what, sa_error *err) {
    if (d->extra_warn) warn(d, "%s: %d more warnings", what, d->extra_warn);
    if (d->n == 0) {
        sa_refer_free(d);
        return sa_error_set(err, SA_ERR_NOT_FOUND, "%s: no sample", what);
    }
    *out = d;
    return SA_OK;
}

int sa_refer_open_coco(const char *name, const char *instances, const char *images_dir,
                       sa_refer_params params, sa_refer **out, sa_error *err) {
    if (!out || !instances)
        return sa_error_set(err, SA_ERR_INVALID, "sa_refer_open_coco: NULL argument");
    *out = NULL;
    sa_refer *d = new_set(name, "coco");
    if (!d) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", instances);
    sa_coco_set *set = NULL;
    int rc = sa_coco_read(instances, sa_coco_default_params(), &set, err);
    if (rc != SA_OK) {
        sa_refer_free(d);
        return rc;
    }
    d->owned = set;
    d->coco = set;
    char idbuf[32];
    for (int i = 0; i < sa_coco_n_anns(set); i++) {
        const sa_coco_ann *a = sa_coco_get_ann(set, i);
        const sa_coco_category *c =
            a->category >= 0 ? sa_coco_get_category(set, a->category) : NULL;
        if (params.category && (!c || strcmp(c->name, params.category) != 0)) continue;
        if (params.min_area > 0 && !(a->area >= params.min_area)) continue;
        const sa_coco_image *im = a->image >= 0 ? sa_coco_get_image(set, a->image) : NULL;
        if (!im) {
            warn(d, "%s: annotation %lld: image %lld is not in the file; skipped", instances,
                 (long long)a->id, (long long)a->image_id);
            continue;
        }
        const char *cap = c ? c->name : sa_coco_ann_description(set, i);
        if (!cap) {
            warn(d, "%s: annotation %lld: no category name or caption; skipped", instances,
                 (long long)a->id);
            continue;
        }
        sa_refer_sample t;
        memset(&t, 0, sizeof t);
        t.ref_id = a->id;
        t.ann_id = a->id;
        t.image_id = a->image_id;
        t.category_id = a->has_category ? a->category_id : -1;
        t.sent_id = -1;
        t.ann = i;
        snprintf(idbuf, sizeof idbuf, "%lld", (long long)a->id);
        char *path = images_dir ? path_join(images_dir, im->file_name) : sa__strdup(im->file_name);
        if (!(t.image_path = keep(d, path)) || !(t.caption = keep(d, sa__strdup(cap))) ||
            !(t.id = keep(d, sa__strdup(idbuf))) || !add_sample(d, &t)) {
            sa_refer_free(d);
            return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", instances);
        }
        d->n_refs++;
    }
    return finish(d, out, instances, err);
}

/* SegAgent names COCO images by id: "24077" is COCO_train2014_000000024077.jpg. */
static char *segagent_image_path(const char *images_dir, const char *image_name) {
    char buf[64];
    const char *name = image_name;
    size_t n = strlen(image_name);
    if (n > 0 && n <= 12 && strspn(image_name, "0123456789") == n) {
        snprintf(buf, sizeof buf, "COCO_train2014_%012lld.jpg", atoll(image_name));
        name = buf;
    }
    return images_dir ? path_join(images_dir, name) : sa__strdup(name);
}

int sa_refer_open_segagent(const char *name, const char *json_path, const char *images_dir,
                           sa_refer_params params, sa_refer **out, sa_error *err) {
    if (!out || !json_path)
        return sa_error_set(err, SA_ERR_INVALID, "sa_refer_open_segagent: NULL argument");
    *out = NULL;
    sa_refer *d = new_set(name, "segagent");
    if (!d) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", json_path);
    sa_traj_set *ts = NULL;
    int rc = sa_traj_read(json_path, &ts, err);
    if (rc != SA_OK) {
        sa_refer_free(d);
        return rc;
    }
    char idbuf[96];
    for (int i = 0; i < ts->n_samples && rc == SA_OK; i++) {
        const sa_traj_sample *t = &ts->samples[i];
        if (!t->gt || t->n_captions == 0 || t->height <= 0 || t->width <= 0) {
            warn(d, "%s: data[%d] (image %s): no ground truth or caption; skipped", json_path, i,
                 t->image_name ? t->image_name : "?");
            continue;
        }
        char *path = segagent_image_path(images_dir, t->image_name ? t->image_name : "");
        const char *ipath = keep(d, path), *rle = keep(d, sa__strdup(t->gt));
        if (!ipath || !rle) rc = SA_ERR_NOMEM;
        if (rc == SA_OK && images_dir) {
            struct stat st;
            if (stat(ipath, &st) != 0 || !S_ISREG(st.st_mode)) {
                warn(d, "%s: data[%d]: image file %s is missing; skipped", json_path, i, ipath);
                continue;
            }
        }
        for (int k = 0; k < t->n_captions && rc == SA_OK; k++) {
            if (!t->captions[k] || !*t->captions[k]) continue;
            sa_refer_sample u;
            memset(&u, 0, sizeof u);
            u.ref_id = i;
            u.ann_id = -1;
            u.image_id = atoll(t->image_name ? t->image_name : "0");
            u.category_id = -1;
            u.sent_id = params.per_ref ? -1 : k;
            u.ann = -1;
            u.image_path = ipath;
            if (params.per_ref)
                snprintf(idbuf, sizeof idbuf, "%d", i);
            else
                snprintf(idbuf, sizeof idbuf, "%d_%d", i, k);
            src r = {SRC_RLE, 0, 0, rle, t->height, t->width};
            if (!(u.caption = keep(d, sa__strdup(t->captions[k]))) ||
                !(u.id = keep(d, sa__strdup(idbuf))) || !add_sample_src(d, &u, r))
                rc = SA_ERR_NOMEM;
            if (params.per_ref) break;
        }
        d->n_refs++;
    }
    sa_traj_set_free(ts);
    if (rc != SA_OK) {
        sa_refer_free(d);
        return sa_error_set(err, rc, "%s: out of memory", json_path);
    }
    return finish(d, out, json_path, err);
}

/* DIS5K names files <g>#<Group>#<c>#<Class>#<name>: the class, underscores as spaces. Else the stem
 * without a trailing _<digits> / -<digits>. */
static char *caption_from_stem(const char *stem) {
    const char *p = stem;
    for (int k = 0; k < 3 && p; k++) {
        p = strchr(p, '#');
        if (p) p++;
    }
    size_t len;
    if (p && strchr(p, '#')) {
        len = (size_t)(strchr(p, '#') - p);
    } else {
        p = stem;
        len = strlen(stem);
        size_t e = len;
        while (e > 0 && stem[e - 1] >= '0' && stem[e - 1] <= '9')
            e--;
        if (e > 0 && e < len && (stem[e - 1] == '_' || stem[e - 1] == '-')) len = e - 1;
    }
    char *c = malloc(len + 1);
    if (!c) return NULL;
    for (size_t k = 0; k < len; k++)
        c[k] = p[k] == '_' ? ' ' : p[k];
    c[len] = '\0';
    return c;
}

static int add_pairs(sa_refer *d, const char *label, const char *dir, const sa__captions *caps,
                     int *used, sa_error *err) {
    sa_dataset *ds = NULL;
    sa_dataset_params dp = sa_dataset_default_params();
    dp.ignore_value = SA_DATASET_IGNORE_NONE;
    int rc = sa_dataset_open(label, dir, dp, &ds, err);
    if (rc != SA_OK) return rc;
    if (!grow_arr((void **)&d->pairs, &d->cappairs, d->npairs + 1, sizeof *d->pairs)) {
        sa_dataset_free(ds);
        return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", dir);
    }
    int di = d->npairs;
    d->pairs[d->npairs++] = ds;
    for (int k = 0; k < sa_dataset_n_warnings(ds); k++)
        warn(d, "%s", sa_dataset_warning(ds, k));
    char idbuf[512];
    for (int i = 0; i < sa_dataset_count(ds); i++) {
        sa_refer_sample u;
        memset(&u, 0, sizeof u);
        u.ref_id = i;
        u.ann_id = -1;
        u.image_id = -1;
        u.category_id = -1;
        u.sent_id = -1;
        u.ann = -1;
        snprintf(idbuf, sizeof idbuf, "%s/%s", label, sa_dataset_item_name(ds, i));
        src r = {SRC_PAIR, di, i, NULL, 0, 0};
        u.image_path = sa_dataset_image_path(ds, i);
        u.split = label;
        const char *listed = sa__captions_find(caps, label, sa_dataset_item_name(ds, i));
        if (listed) (*used)++;
        char *cap = listed ? sa__strdup(listed) : caption_from_stem(sa_dataset_item_name(ds, i));
        if (!(u.caption = keep(d, cap)) || !(u.id = keep(d, sa__strdup(idbuf))) ||
            !add_sample_src(d, &u, r))
            return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", dir);
        d->n_refs++;
    }
    return SA_OK;
}

int sa_refer_open_hres(const char *name, const char *dir, sa_refer_params params, sa_refer **out,
                       sa_error *err) {
    if (!out || !dir) return sa_error_set(err, SA_ERR_INVALID, "sa_refer_open_hres: NULL argument");
    *out = NULL;
    sa__captions *caps = NULL;
    int used = 0;
    if (params.captions) {
        int crc = sa__captions_load(params.captions, &caps, err);
        if (crc != SA_OK) return crc;
    }
    sa_refer *d = new_set(name, "hres");
    if (!d) {
        sa__captions_free(caps);
        return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", dir);
    }
    static const char *const parts[] = {"DIS-TE1", "DIS-TE2", "DIS-TE3",
                                        "DIS-TE4", "DIS-VD",  "DIS-TR"};
    int found = 0, rc = SA_OK;
    for (size_t k = 0; k < sizeof parts / sizeof parts[0] && rc == SA_OK; k++) {
        char *sub = path_join(dir, parts[k]);
        struct stat st;
        if (!sub)
            rc = sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", dir);
        else if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode)) {
            found++;
            const char *label = keep(d, sa__strdup(parts[k]));
            rc = label ? add_pairs(d, label, sub, caps, &used, err)
                       : sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", dir);
        }
        free(sub);
    }
    if (rc == SA_OK && !found) { /* one {im, gt} folder (a DIS5K part, ThinObject5K) */
        const char *base = strrchr(dir, '/');
        const char *label = keep(d, sa__strdup(base && base[1] ? base + 1 : dir));
        rc = label ? add_pairs(d, label, dir, caps, &used, err)
                   : sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", dir);
    }
    if (rc == SA_OK && caps && used < sa__captions_count(caps))
        warn(d, "%s: %d of its %d captions name no image of %s", params.captions,
             sa__captions_count(caps) - used, sa__captions_count(caps), dir);
    sa__captions_free(caps);
    if (rc != SA_OK) {
        sa_refer_free(d);
        return rc;
    }
    return finish(d, out, dir, err);
}

int sa_refer_open_scenes(sa_refer **out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_refer_open_scenes: NULL out");
    *out = NULL;
    sa_refer *d = new_set("scenes", "scenes");
    if (!d) return sa_error_set(err, SA_ERR_NOMEM, "scenes: out of memory");
    for (int i = 0; i < sa_scene_count(); i++) {
        sa_refer_sample u;
        memset(&u, 0, sizeof u);
        u.ref_id = i;
        u.ann_id = -1;
        u.image_id = i;
        u.category_id = -1;
        u.sent_id = -1;
        u.ann = -1;
        u.id = sa_scene_name(i);
        u.caption = sa_scene_description(i);
        u.image_path = sa_scene_name(i);
        src r = {SRC_SCENE, i, 0, NULL, SCENE_H, SCENE_W};
        if (!add_sample_src(d, &u, r)) {
            sa_refer_free(d);
            return sa_error_set(err, SA_ERR_NOMEM, "scenes: out of memory");
        }
        d->n_refs++;
    }
    return finish(d, out, "scenes", err);
}

int sa_refer_open_spec(const char *spec, const char *images_dir, sa_refer_params params,
                       sa_refer **out, sa_error *err) {
    if (!out || !spec)
        return sa_error_set(err, SA_ERR_INVALID, "sa_refer_open_spec: NULL argument");
    *out = NULL;
    if (strcmp(spec, "scenes") == 0) return sa_refer_open_scenes(out, err);
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || !eq[1])
        return sa_error_set(err, SA_ERR_INVALID,
                            "dataset '%.200s': expected NAME[:SPLIT]=PATH or scenes", spec);
    char head[128];
    size_t hl = (size_t)(eq - spec);
    if (hl >= sizeof head)
        return sa_error_set(err, SA_ERR_INVALID, "dataset '%.200s': name too long", spec);
    memcpy(head, spec, hl);
    head[hl] = '\0';
    char *colon = strchr(head, ':');
    const char *split = NULL;
    if (colon) {
        *colon = '\0';
        split = colon + 1;
    }
    const char *path = eq + 1;
    if (strncmp(head, "refcoco", 7) == 0 || strcmp(head, "refclef") == 0)
        return sa_refer_open(head, split, path, images_dir, params, out, err);
    if (split)
        return sa_error_set(err, SA_ERR_INVALID,
                            "dataset '%.200s': only the RefCOCO family has splits", spec);
    if (strcmp(head, "coco") == 0)
        return sa_refer_open_coco(head, path, images_dir, params, out, err);
    if (strcmp(head, "segagent") == 0)
        return sa_refer_open_segagent(head, path, images_dir, params, out, err);
    if (strcmp(head, "hres") == 0 || strcmp(head, "dis5k") == 0 ||
        strcmp(head, "thinobject5k") == 0)
        return sa_refer_open_hres(head, path, params, out, err);
    return sa_error_set(
        err, SA_ERR_INVALID,
        "dataset '%.200s': unknown kind '%s' (refcoco, refcoco+, refcocog, coco, segagent, hres, "
        "dis5k, thinobject5k, scenes)",
        spec, head);
}
