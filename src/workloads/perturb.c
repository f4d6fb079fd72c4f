/* The filtering test set (segagent/perturb.h): per ground-truth object, masks from seeded random clicks inside
 * its box, made with the tool through the episode engine, each written with its true IoU.
 *
 * Design: objects run on the dataset runner (one env per worker); each object's masks use seeds derived from
 * the run seed and the mask's number alone, and the runner delivers objects in order, so the file is the same
 * for any worker count. Annotations are streamed as they are delivered; the images (ids by first appearance)
 * and categories follow at the end.
 */
#include "segagent/perturb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "segagent/rle.h"
#include "segagent/runner.h"
#include "base/files.h"
#include "base/text.h"
#include "base/util.h"
#include "segagent/sample_set.h"

sa_perturb_params sa_perturb_default_params(void) {
    sa_perturb_params p;
    memset(&p, 0, sizeof p);
    p.per_object = 3;
    p.clicks_min = 1;
    p.clicks_max = 5;
    p.workers = 1;
    p.prob_threshold = NAN;
    p.caption = "the object";
    return p;
}

static int check_params(const sa_perturb_params *p, sa_error *err) {
    if (p->per_object < 1 || p->per_object > 1000)
        return sa_error_set(err, SA_ERR_INVALID, "perturb: %d masks per object outside 1..1000",
                            p->per_object);
    if (p->clicks_min < 1 || p->clicks_max > SA_MAX_CLICKS || p->clicks_min > p->clicks_max)
        return sa_error_set(err, SA_ERR_INVALID,
                            "perturb: clicks %d..%d: need 1 <= min <= max <= %d", p->clicks_min,
                            p->clicks_max, SA_MAX_CLICKS);
    if (p->limit < 0)
        return sa_error_set(err, SA_ERR_RANGE, "perturb: limit %d is negative", p->limit);
    return SA_OK;
}

/* The generator of mask k of object i: its state is a splitmix64 output of the run seed and the mask's number,
 * so neighbouring masks start far apart (splitmix64 states one step apart would give shifted copies of one
 * stream). */
static uint64_t mask_seed(const sa_perturb_params *p, long object, int k) {
    uint64_t n = (uint64_t)object * (uint64_t)p->per_object + (uint64_t)k;
    uint64_t st = p->seed;
    uint64_t a = sa__rng_next(&st); /* mixes the seed */
    st = a ^ (n * 0xD1B54A32D192ED03ull);
    return sa__rng_next(&st);
}

int sa_perturb_clicks(const sa_mask *gt, const sa_mask *ignore, sa_perturb_params p, long object,
                      int k, sa_click *clicks, int *n, sa_error *err) {
    int rc = check_params(&p, err);
    if (rc != SA_OK) return rc;
    if (!gt || !clicks || !n || object < 0 || k < 0 || k >= p.per_object)
        return sa_error_set(err, SA_ERR_INVALID, "perturb: bad arguments");
    int bb[4];
    sa_mask_bbox(gt, bb);
    if (bb[2] <= 0 || bb[3] <= 0)
        return sa_error_set(err, SA_ERR_INVALID, "perturb: empty ground truth");
    uint64_t st = mask_seed(&p, object, k);
    *n = p.clicks_min + sa__rng_below(&st, p.clicks_max - p.clicks_min + 1);
    const size_t W = (size_t)gt->width;
    for (int c = 0; c < *n; c++) {
        int y = 0, x = 0;
        for (int tries = 0; tries < 1000; tries++) { /* redraw ignored pixels */
            y = bb[1] + sa__rng_below(&st, bb[3]);
            x = bb[0] + sa__rng_below(&st, bb[2]);
            if (!ignore || !ignore->data || !ignore->data[(size_t)y * W + (size_t)x]) break;
        }
        clicks[c] =
            (sa_click){.y = y, .x = x, .positive = gt->data[(size_t)y * W + (size_t)x] ? 1 : 0};
    }
    return SA_OK;
}

/* ---- one object ---- */

typedef struct pmask {
    char *rle;
    double bbox[4];
    uint64_t area;
    double iou;
    sa_click clicks[SA_MAX_CLICKS];
    int n_clicks;
} pmask;

typedef struct slot {
    const char *image_path, *desc;
    char object_id[32];
    int height, width;
    int64_t category_id; /* -1: none */
    pmask *m;            /* per_object entries */
} slot;

static void slot_free(slot *s, int k) {
    if (s->m)
        for (int i = 0; i < k; i++)
            free(s->m[i].rle);
    free(s->m);
    memset(s, 0, sizeof *s);
}

typedef struct run_ctx {
    sa_tool *tool;
    sa_sample_set set;
    const char *images_root;
    sa_perturb_params p;
    const sa_perturb_hooks *hooks;
    sa_perturb_stats *st;
    FILE *f;
    long n_written;
    /* images by path, ids 1.. in order of first appearance */
    char **img_path;
    int *img_h, *img_w;
    int n_img, cap_img;
    int *table; /* open addressing: index into img_path + 1, 0 = empty */
    int table_cap;
    int oom;
} run_ctx;

static int worker_new(void *vctx, int index, void **state, sa_error *err) {
    (void)index;
    const run_ctx *c = vctx;
    sa_env_params ep = sa_env_default_params();
    ep.prob_threshold = c->p.prob_threshold;
    return sa_env_new(c->tool, ep, (sa_env **)state, err);
}

static void worker_free(void *vctx, void *state) {
    (void)vctx;
    sa_env_free(state);
}

static int encode(const sa_mask *m, pmask *pm, sa_error *err) {
    sa_rle r = {0};
    int rc = sa_rle_encode(m, &r, err);
    if (rc == SA_OK) rc = sa_rle_to_string(&r, &pm->rle, err);
    if (rc == SA_OK) {
        sa_rle_bbox(&r, pm->bbox);
        pm->area = sa_rle_area(&r);
    }
    sa_rle_free(&r);
    return rc;
}

static int make_masks(const run_ctx *c, sa_env *env, const sa_sample *in, int item, slot *sl,
                      sa_error *err) {
    int K = c->p.per_object;
    if (!(sl->m = calloc((size_t)K, sizeof *sl->m)))
        return sa_error_set(err, SA_ERR_NOMEM, "out of memory");
    const sa_mask *ign = in->ignore.data ? &in->ignore : NULL;
    int rc = SA_OK;
    for (int k = 0; rc == SA_OK && k < K; k++) {
        pmask *pm = &sl->m[k];
        sa_mask m = {0};
        rc = sa_perturb_clicks(&in->gt, ign, c->p, item, k, pm->clicks, &pm->n_clicks, err);
        if (rc == SA_OK) rc = sa_env_predict_prompts(env, pm->clicks, pm->n_clicks, NULL, &m, err);
        if (rc == SA_OK) {
            pm->iou = sa_mask_iou(&m, &in->gt, ign);
            rc = encode(&m, pm, err);
        }
        sa_mask_free(&m);
    }
    return rc;
}

static int run_item(void *vctx, void *state, int item, void *vslot, sa_error *err) {
    const run_ctx *c = vctx;
    slot *sl = vslot;
    sa_sample in;
    int rc = sa_sample_set_load(&c->set, item, c->p.caption, &in, err);
    if (rc != SA_OK) return rc;
    sl->image_path = in.image_path;
    sl->desc = in.desc;
    snprintf(sl->object_id, sizeof sl->object_id, "%s", in.object_id);
    sl->height = in.img.height;
    sl->width = in.img.width;
    sl->category_id = -1;
    if (c->set.refer && sa_refer_coco(c->set.refer))
        sl->category_id = sa_refer_get(c->set.refer, item)->category_id;
    rc = sa_env_reset(state, &in.img, in.desc, &in.gt, in.ignore.data ? &in.ignore : NULL, NULL,
                      err);
    if (rc == SA_OK) rc = make_masks(c, state, &in, item, sl, err);
    if (rc != SA_OK) slot_free(sl, c->p.per_object);
    sa_sample_free(&in);
    return rc;
}

/* ---- images ---- */

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int table_grow(run_ctx *c) {
    int cap = c->table_cap ? 2 * c->table_cap : 256;
    int *t = calloc((size_t)cap, sizeof *t);
    if (!t) return -1;
    for (int i = 0; i < c->n_img; i++) {
        size_t j = (size_t)(hash_str(c->img_path[i]) & (uint64_t)(cap - 1));
        while (t[j])
            j = (j + 1) & (size_t)(cap - 1);
        t[j] = i + 1;
    }
    free(c->table);
    c->table = t;
    c->table_cap = cap;
    return 0;
}

/* The image id of path (1-based), adding it when new; 0 when out of memory. */
static int image_id(run_ctx *c, const char *path, int h, int w) {
    if (!c->table_cap && table_grow(c)) return 0;
    size_t mask = (size_t)(c->table_cap - 1), j = (size_t)(hash_str(path) & (uint64_t)mask);
    for (; c->table[j]; j = (j + 1) & mask)
        if (!strcmp(c->img_path[c->table[j] - 1], path)) return c->table[j];
    if (c->n_img == c->cap_img) {
        int cap = c->cap_img ? 2 * c->cap_img : 64;
        char **np = realloc(c->img_path, (size_t)cap * sizeof *np);
        if (np) c->img_path = np;
        int *nh = np ? realloc(c->img_h, (size_t)cap * sizeof *nh) : NULL;
        if (nh) c->img_h = nh;
        int *nw = nh ? realloc(c->img_w, (size_t)cap * sizeof *nw) : NULL;
        if (!nw) return 0;
        c->img_w = nw;
        c->cap_img = cap;
    }
    if (!(c->img_path[c->n_img] = sa__strdup(path))) return 0;
    c->img_h[c->n_img] = h;
    c->img_w[c->n_img] = w;
    c->n_img++;
    c->table[j] = c->n_img;
    if (2 * c->n_img > c->table_cap && table_grow(c)) return 0;
    return c->n_img;
}

static const char *relative(const char *path, const char *root) {
    if (!root || !*root || !path) return path ? path : "";
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/')
        n--;
    if (!strncmp(path, root, n) && path[n] == '/') return path + n + 1;
    return path;
}

/* ---- writing ---- */

static cJSON *ann_json(const run_ctx *c, const slot *sl, const pmask *pm, long id, int img_id,
                       const char *key) {
    cJSON *a = cJSON_CreateObject();
    if (!a) return NULL;
    cJSON_AddNumberToObject(a, "id", (double)id);
    cJSON_AddNumberToObject(a, "image_id", img_id);
    cJSON_AddNumberToObject(a, "category_id", sl->category_id >= 0 ? (double)sl->category_id : 1.0);
    cJSON_AddNumberToObject(a, "iscrowd", 0);
    cJSON_AddStringToObject(a, "caption", sl->desc ? sl->desc : "");
    cJSON_AddStringToObject(a, "object", key ? key : "");
    if (c->set.refer) cJSON_AddNumberToObject(a, "gt_id", strtod(sl->object_id, NULL));
    cJSON *seg = cJSON_AddObjectToObject(a, "segmentation");
    int hw[2] = {sl->height, sl->width};
    if (seg) {
        cJSON_AddItemToObject(seg, "size", cJSON_CreateIntArray(hw, 2));
        cJSON_AddStringToObject(seg, "counts", pm->rle);
    }
    cJSON_AddNumberToObject(a, "area", (double)pm->area);
    cJSON_AddItemToObject(a, "bbox", cJSON_CreateDoubleArray(pm->bbox, 4));
    cJSON_AddNumberToObject(a, "iou", pm->iou);
    cJSON *cl = cJSON_AddArrayToObject(a, "clicks");
    for (int i = 0; cl && i < pm->n_clicks; i++) {
        int v[3] = {pm->clicks[i].y, pm->clicks[i].x, pm->clicks[i].positive};
        cJSON_AddItemToArray(cl, cJSON_CreateIntArray(v, 3));
    }
    return a;
}

static int deliver(void *vctx, int item, int status, const char *error, void *vslot) {
    run_ctx *c = vctx;
    slot *sl = vslot;
    c->st->done++;
    if (status != SA_OK) {
        c->st->skipped++;
    } else {
        int img = image_id(c, sl->image_path ? sl->image_path : "", sl->height, sl->width);
        char *key = sa_sample_set_item_key(&c->set, item);
        c->oom |= !img || !key;
        for (int k = 0; !c->oom && k < c->p.per_object; k++) {
            cJSON *a = ann_json(c, sl, &sl->m[k], c->n_written + 1, img, key);
            char *txt = a ? sa__json_print(a, 0) : NULL;
            cJSON_Delete(a);
            if (!txt) {
                c->oom = 1;
                break;
            }
            fputs(c->n_written ? ",\n" : "\n", c->f);
            fputs(txt, c->f);
            free(txt);
            c->n_written++;
            double iou = sl->m[k].iou;
            c->st->masks++;
            c->st->iou_sum += iou;
            if (c->st->masks == 1 || iou < c->st->iou_min) c->st->iou_min = iou;
            if (c->st->masks == 1 || iou > c->st->iou_max) c->st->iou_max = iou;
        }
        free(key);
    }
    slot_free(sl, c->p.per_object);
    if (c->hooks && c->hooks->on_item)
        c->hooks->on_item(c->hooks->user, item, sa_sample_set_item_name(&c->set, item), status,
                          error);
    return c->oom;
}

static int should_stop(void *vctx) {
    const run_ctx *c = vctx;
    return c->hooks && c->hooks->should_stop && c->hooks->should_stop(c->hooks->user);
}

static cJSON *info_json(const run_ctx *c) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "generator", "segagent");
    cJSON_AddStringToObject(o, "command", "perturb");
    cJSON_AddStringToObject(o, "set", c->set.label ? c->set.label : "");
    cJSON_AddStringToObject(o, "tool", sa_tool_name(c->tool));
    cJSON_AddNumberToObject(o, "seed", (double)c->p.seed);
    cJSON_AddNumberToObject(o, "per_object", c->p.per_object);
    cJSON_AddNumberToObject(o, "clicks_min", c->p.clicks_min);
    cJSON_AddNumberToObject(o, "clicks_max", c->p.clicks_max);
    cJSON_AddStringToObject(o, "iou_field", "iou");
    cJSON_AddStringToObject(
        o, "click_rule",
        "clicks uniform in the ground-truth box, positive on the object, negative off it");
    return o;
}

/* The images and categories, after the annotations. */
static void write_tail(run_ctx *c) {
    fputs("\n],\n\"images\":[", c->f);
    for (int i = 0; i < c->n_img && !c->oom; i++) {
        cJSON *im = cJSON_CreateObject();
        if (im) {
            cJSON_AddNumberToObject(im, "id", i + 1);
            cJSON_AddStringToObject(im, "file_name", relative(c->img_path[i], c->images_root));
            cJSON_AddNumberToObject(im, "height", c->img_h[i]);
            cJSON_AddNumberToObject(im, "width", c->img_w[i]);
        }
        char *txt = im ? sa__json_print(im, 0) : NULL;
        cJSON_Delete(im);
        c->oom |= !txt;
        if (txt) fprintf(c->f, "%s\n%s", i ? "," : "", txt);
        free(txt);
    }
    fputs("\n],\n\"categories\":", c->f);
    const sa_coco_set *coco = c->set.refer ? sa_refer_coco(c->set.refer) : NULL;
    cJSON *cats = cJSON_CreateArray();
    for (int i = 0; cats && coco && i < sa_coco_n_categories(coco); i++) {
        const sa_coco_category *cat = sa_coco_get_category(coco, i);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(cats, o);
        cJSON_AddNumberToObject(o, "id", (double)cat->id);
        cJSON_AddStringToObject(o, "name", cat->name);
    }
    if (cats && !coco) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(cats, o);
        cJSON_AddNumberToObject(o, "id", 1);
        cJSON_AddStringToObject(o, "name", "object");
    }
    char *txt = cats ? sa__json_print(cats, 0) : NULL;
    cJSON_Delete(cats);
    c->oom |= !txt;
    fprintf(c->f, "%s}\n", txt ? txt : "[]");
    free(txt);
}

static void free_images(run_ctx *c) {
    for (int i = 0; i < c->n_img; i++)
        free(c->img_path[i]);
    free(c->img_path);
    free(c->img_h);
    free(c->img_w);
    free(c->table);
}

int sa_perturb_run(sa_tool *tool, const sa_dataset *dataset, const sa_refer *refer,
                   const char *label, const char *images_root, sa_perturb_params p, const char *out,
                   const sa_perturb_hooks *hooks, sa_perturb_stats *stats, sa_error *err) {
    sa_perturb_stats local;
    sa_perturb_stats *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    st->iou_min = st->iou_max = NAN;
    if (!tool || !out || !dataset == !refer)
        return sa_error_set(err, SA_ERR_INVALID,
                            "perturb: needs a tool, an output and exactly one set");
    int rc = check_params(&p, err);
    if (rc != SA_OK) return rc;
    run_ctx c = {.tool = tool,
                 .set = {.label = label, .dataset = dataset, .refer = refer},
                 .images_root = images_root,
                 .p = p,
                 .hooks = hooks,
                 .st = st};
    int total = sa_sample_set_count(&c.set);
    if (p.limit > 0 && total > p.limit) total = p.limit;
    st->objects = total;
    sa__out o;
    if ((rc = sa__out_open(&o, out, err))) return rc;
    c.f = o.f;
    cJSON *info = info_json(&c);
    char *itxt = info ? sa__json_print(info, 0) : NULL;
    cJSON_Delete(info);
    if (!itxt) {
        sa__out_abort(&o);
        return sa_error_set(err, SA_ERR_NOMEM, "perturb: out of memory");
    }
    fprintf(c.f, "{\"info\":%s,\n\"annotations\":[", itxt);
    free(itxt);
    sa_runner_ops ops = {.slot_size = sizeof(slot),
                         .worker_new = worker_new,
                         .worker_free = worker_free,
                         .run_item = run_item,
                         .deliver = deliver,
                         .should_stop = should_stop};
    sa_runner_params rp = sa_runner_default_params();
    rp.workers = p.workers;
    sa_runner_stats rs;
    rc = sa_runner_run(&ops, &c, total, rp, &rs, err);
    if (rc == SA_OK) write_tail(&c);
    if (rc == SA_OK && c.oom) rc = sa_error_set(err, SA_ERR_NOMEM, "perturb: out of memory");
    st->stopped = rc == SA_OK && rs.stopped;
    if (rc == SA_OK)
        rc = sa__out_commit(&o, err);
    else
        sa__out_abort(&o);
    free_images(&c);
    return rc;
}
