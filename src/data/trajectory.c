/* Training trajectories: the recorder (simulated annotator + tool, kept while IoU strictly rises) and the
 * released SegAgent JSON format, written one sample at a time and read back with validation.
 *
 * Design: a sample keeps every mask as its compressed COCO RLE string, the form the file holds, so a whole
 * split fits in memory for the exporter and masks are decoded only when an overlay is drawn. The writer
 * streams ("{"info":..,"data":[" + one compact object per sample + "]}") so recording never holds more than
 * one sample. The reader loads the document with cJSON and checks every field it uses against the sample's
 * size; unknown keys are ignored so files from the original generator and from later versions both load.
 */
#include "segagent/trajectory.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "segagent/clicker.h"
#include "segagent/image.h"
#include "segagent/rle.h"
#include "base/util.h"

sa_traj_params sa_traj_default_params(void) {
    sa_traj_params p;
    memset(&p, 0, sizeof p);
    p.target_iou = 0.98;
    p.max_clicks = 20;
    p.start = SA_TRAJ_START_EMPTY;
    p.random_points = 5;
    p.seed = 0;
    p.prob_threshold = 0.49f;
    return p;
}

static const char *const start_names[] = {"empty", "box", "random-clicks"};

int sa_traj_start_from_name(const char *name, sa_traj_start *out, sa_error *err) {
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, start_names[i])) {
            *out = (sa_traj_start)i;
            return SA_OK;
        }
    return sa_error_set(err, SA_ERR_INVALID, "starting state '%s': expected empty, box or random-clicks",
                        name ? name : "(null)");
}

const char *sa_traj_start_name(sa_traj_start s) {
    return (unsigned)s < 3u ? start_names[s] : "?";
}


void sa_traj_sample_free(sa_traj_sample *s) {
    if (!s) return;
    free(s->image_name);
    free(s->object_id);
    for (int i = 0; i < s->n_captions; i++) free(s->captions[i]);
    free(s->captions);
    free(s->gt);
    free(s->init_mask);
    free(s->init_kind);
    for (int i = 0; i < s->n_steps; i++) free(s->steps[i].mask);
    free(s->steps);
    memset(s, 0, sizeof *s);
}

int sa_traj_sample_set_meta(sa_traj_sample *s, const char *image_name, const char *object_id,
                            const char *const *captions, int n_captions, sa_error *err) {
    if (!s || n_captions < 0 || (n_captions > 0 && !captions))
        return sa_error_set(err, SA_ERR_INVALID, "trajectory meta: bad arguments");
    char *name = sa__strdup(image_name ? image_name : "");
    char *oid = sa__strdup(object_id ? object_id : "0");
    char **caps = n_captions ? calloc((size_t)n_captions, sizeof *caps) : NULL;
    int ok = name && oid && (n_captions == 0 || caps);
    for (int i = 0; ok && i < n_captions; i++) ok = (caps[i] = sa__strdup(captions[i] ? captions[i] : "")) != NULL;
    if (!ok) {
        free(name);
        free(oid);
        for (int i = 0; caps && i < n_captions; i++) free(caps[i]);
        free(caps);
        return sa_error_set(err, SA_ERR_NOMEM, "trajectory meta: out of memory");
    }
    free(s->image_name);
    free(s->object_id);
    for (int i = 0; i < s->n_captions; i++) free(s->captions[i]);
    free(s->captions);
    s->image_name = name;
    s->object_id = oid;
    s->captions = caps;
    s->n_captions = n_captions;
    return SA_OK;
}

/* ---------------------------------------------------------------------------------------------------------
 * Recording
 * ------------------------------------------------------------------------------------------------------- */

/* Mask -> compressed RLE string, bbox and area (pycocotools' encode / toBbox / area). */
static int encode_mask(const sa_mask *m, char **rle_str, double bbox[4], uint64_t *area, sa_error *err) {
    sa_rle r = {0};
    int rc = sa_rle_encode(m, &r, err);
    if (rc != SA_OK) return rc;
    rc = sa_rle_to_string(&r, rle_str, err);
    if (rc == SA_OK) {
        if (bbox) sa_rle_bbox(&r, bbox);
        if (area) *area = sa_rle_area(&r);
    }
    sa_rle_free(&r);
    return rc;
}

/* splitmix64: small, seedable, good enough to scatter a few points. */
static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int rng_below(uint64_t *s, int n) {
    return (int)(rng_next(s) % (uint64_t)n);
}

/* The tool's mask as the trajectory sees it: prob > threshold when the tool has a probability map. The result's
 * own mask is overwritten so that feeding it back as `prev` shows the tool the same state. */
static void settle_mask(sa_tool_result *res, float thr) {
    if (!res->prob) return;
    size_t n = (size_t)res->mask.width * (size_t)res->mask.height;
    for (size_t i = 0; i < n; i++) res->mask.data[i] = res->prob[i] > thr ? 1 : 0;
}

static int ignored(const sa_mask *ignore, size_t i) {
    return ignore && ignore->data && ignore->data[i];
}

/* Builds M_0 for the box / random-clicks starts. */
static int make_start(sa_tool *tool, sa_tool_session *session, const sa_mask *gt, const sa_mask *ignore,
                      const sa_traj_params *p, sa_mask *m0, sa_error *err) {
    int bb[4];
    sa_mask_bbox(gt, bb);
    const int W = gt->width;
    sa_tool_result res;
    memset(&res, 0, sizeof res);
    int rc;
    if (p->start == SA_TRAJ_START_BOX) {
        if (!sa_tool_accepts_box(tool)) {
            rc = sa_mask_new(m0, gt->width, gt->height, err);
            if (rc != SA_OK) return rc;
            for (int y = bb[1]; y < bb[1] + bb[3]; y++) memset(m0->data + (size_t)y * (size_t)W + (size_t)bb[0], 1,
                                                              (size_t)bb[2]);
            return SA_OK;
        }
        sa_box box = {(float)bb[0], (float)bb[1], (float)(bb[0] + bb[2] - 1), (float)(bb[1] + bb[3] - 1)};
        sa_tool_request req;
        memset(&req, 0, sizeof req);
        req.box = &box;
        rc = sa_tool_session_predict(session, &req, &res, err);
    } else {
        int n = p->random_points;
        sa_click *clicks = malloc((size_t)n * sizeof *clicks);
        if (!clicks) return sa_error_set(err, SA_ERR_NOMEM, "trajectory: out of memory");
        uint64_t st = p->seed;
        for (int i = 0; i < n; i++) {
            int y = 0, x = 0;
            /* redraw ignored pixels; give up after a bound (a box fully inside the ignore band is absurd) */
            for (int tries = 0; tries < 1000; tries++) {
                y = bb[1] + rng_below(&st, bb[3]);
                x = bb[0] + rng_below(&st, bb[2]);
                if (!ignored(ignore, (size_t)y * (size_t)W + (size_t)x)) break;
            }
            clicks[i].y = y;
            clicks[i].x = x;
            clicks[i].positive = gt->data[(size_t)y * (size_t)W + (size_t)x] ? 1 : 0;
        }
        sa_tool_request req;
        memset(&req, 0, sizeof req);
        req.clicks = clicks;
        req.n_clicks = n;
        rc = sa_tool_session_predict(session, &req, &res, err);
        free(clicks);
    }
    if (rc != SA_OK) return rc;
    settle_mask(&res, p->prob_threshold);
    *m0 = res.mask;
    memset(&res.mask, 0, sizeof res.mask);
    sa_tool_result_free(&res);
    return SA_OK;
}

static int push_step(sa_traj_sample *s, int *cap, sa_error *err) {
    if (s->n_steps < *cap) return SA_OK;
    int nc = *cap ? *cap * 2 : 8;
    sa_traj_step *ns = realloc(s->steps, (size_t)nc * sizeof *ns);
    if (!ns) return sa_error_set(err, SA_ERR_NOMEM, "trajectory: out of memory");
    s->steps = ns;
    *cap = nc;
    return SA_OK;
}

int sa_traj_record(sa_tool *tool, sa_tool_session *session, const sa_mask *gt, const sa_mask *ignore,
                   sa_traj_params p, sa_traj_sample *out, sa_error *err) {
    if (!tool || !session || !gt || !gt->data || !out)
        return sa_error_set(err, SA_ERR_INVALID, "trajectory: missing tool, session or ground truth");
    memset(out, 0, sizeof *out);
    const sa_image *img = sa_tool_session_image(session);
    if (gt->width != img->width || gt->height != img->height)
        return sa_error_set(err, SA_ERR_RANGE, "trajectory: ground truth is %dx%d but the image is %dx%d",
                            gt->width, gt->height, img->width, img->height);
    if (ignore && ignore->data && !sa_mask_same_size(ignore, gt))
        return sa_error_set(err, SA_ERR_RANGE, "trajectory: ignore map is %dx%d but the image is %dx%d",
                            ignore->width, ignore->height, img->width, img->height);
    if (ignore && !ignore->data) ignore = NULL;
    if (!(p.target_iou > 0.0) || p.target_iou > 1.0)
        return sa_error_set(err, SA_ERR_INVALID, "trajectory: target IoU %g outside (0, 1]", p.target_iou);
    if (p.max_clicks < 1 || p.max_clicks > SA_MAX_CLICKS)
        return sa_error_set(err, SA_ERR_INVALID, "trajectory: max clicks %d outside 1..%d", p.max_clicks,
                            SA_MAX_CLICKS);
    if ((unsigned)p.start > 2u) return sa_error_set(err, SA_ERR_INVALID, "trajectory: unknown starting state");
    if (p.start == SA_TRAJ_START_RANDOM_CLICKS && (p.random_points < 1 || p.random_points > SA_MAX_CLICKS))
        return sa_error_set(err, SA_ERR_INVALID, "trajectory: random points %d outside 1..%d", p.random_points,
                            SA_MAX_CLICKS);
    if (!(p.prob_threshold >= 0.0f && p.prob_threshold < 1.0f))
        return sa_error_set(err, SA_ERR_INVALID, "trajectory: probability threshold outside [0, 1)");
    if (sa_mask_area(gt) == 0) return sa_error_set(err, SA_ERR_FORMAT, "trajectory: ground truth is empty");

    sa_mask cur = {0}, m0 = {0};
    sa_tool_result prev, res;
    memset(&prev, 0, sizeof prev);
    memset(&res, 0, sizeof res);
    int has_prev = 0, cap = 0, rc;
    double prev_iou = 0.0;
    sa_click *clicks = malloc((size_t)(p.max_clicks + 1) * sizeof *clicks);
    if (!clicks) return sa_error_set(err, SA_ERR_NOMEM, "trajectory: out of memory");

    out->height = gt->height;
    out->width = gt->width;
    if ((rc = encode_mask(gt, &out->gt, out->gt_bbox, &out->gt_area, err))) goto fail;

    if (p.start != SA_TRAJ_START_EMPTY) {
        if ((rc = make_start(tool, session, gt, ignore, &p, &m0, err))) goto fail;
        if ((rc = sa_mask_copy(&m0, &cur, err))) goto fail;
        if ((rc = encode_mask(&m0, &out->init_mask, NULL, NULL, err))) goto fail;
        if (!(out->init_kind = sa__strdup(sa_traj_start_name(p.start)))) goto oom;
    } else if ((rc = sa_mask_new(&cur, gt->width, gt->height, err))) {
        goto fail;
    }
    prev_iou = sa_mask_iou(&cur, gt, ignore);
    out->init_iou = prev_iou;

    for (int n = 0; n < p.max_clicks && prev_iou < p.target_iou; n++) {
        sa_clicker_click cc;
        rc = sa_clicker_next(gt, ignore, &cur, clicks, n, &cc, err);
        if (rc == SA_ERR_DONE) break;
        if (rc != SA_OK) goto fail;
        clicks[n].y = cc.y;
        clicks[n].x = cc.x;
        clicks[n].positive = cc.positive;
        sa_tool_request req;
        memset(&req, 0, sizeof req);
        req.clicks = clicks;
        req.n_clicks = n + 1;
        req.prev = has_prev ? &prev : NULL;
        req.init_mask = (!has_prev && m0.data) ? &m0 : NULL;
        if ((rc = sa_tool_session_predict(session, &req, &res, err))) goto fail;
        settle_mask(&res, p.prob_threshold);
        double iou = sa_mask_iou(&res.mask, gt, ignore);
        if (!(iou > prev_iou)) { /* the released rule: a click that does not raise IoU ends the trajectory */
            sa_tool_result_free(&res);
            break;
        }
        if ((rc = push_step(out, &cap, err))) goto fail;
        sa_traj_step *st = &out->steps[out->n_steps];
        memset(st, 0, sizeof *st);
        if ((rc = encode_mask(&res.mask, &st->mask, st->box, &st->area, err))) goto fail;
        st->idx = n;
        st->click = clicks[n];
        st->iou = iou;
        out->n_steps++;
        memcpy(cur.data, res.mask.data, (size_t)cur.width * (size_t)cur.height);
        sa_tool_result_free(&prev);
        prev = res;
        memset(&res, 0, sizeof res);
        has_prev = 1;
        prev_iou = iou;
    }
    rc = SA_OK;
    goto done;
oom:
    rc = sa_error_set(err, SA_ERR_NOMEM, "trajectory: out of memory");
fail:
    sa_traj_sample_free(out);
done:
    free(clicks);
    sa_mask_free(&cur);
    sa_mask_free(&m0);
    sa_tool_result_free(&prev);
    sa_tool_result_free(&res);
    return rc;
}

static int decode_rle_str(const char *s, int h, int w, sa_mask *out, sa_error *err) {
    sa_rle r = {0};
    int rc = sa_rle_from_string(s, strlen(s), h, w, &r, err);
    if (rc == SA_OK) rc = sa_rle_decode(&r, out, err);
    sa_rle_free(&r);
    return rc;
}

int sa_traj_state_mask(const sa_traj_sample *s, int t, sa_mask *out, sa_error *err) {
    if (!s || !out || t < 0 || t > s->n_steps)
        return sa_error_set(err, SA_ERR_INVALID, "trajectory state %d: outside 0..%d", t, s ? s->n_steps : 0);
    if (t == 0 && !s->init_mask) return sa_mask_new(out, s->width, s->height, err);
    return decode_rle_str(t == 0 ? s->init_mask : s->steps[t - 1].mask, s->height, s->width, out, err);
}

double sa_traj_state_iou(const sa_traj_sample *s, int t) {
    if (!s || t < 0 || t > s->n_steps) return NAN;
    return t == 0 ? s->init_iou : s->steps[t - 1].iou;
}

/* ---------------------------------------------------------------------------------------------------------
 * Writing
 * ------------------------------------------------------------------------------------------------------- */

struct sa_traj_writer {
    FILE *f;
    char *path;
    long count;
};

static int is_int_literal(const char *s) {
    size_t i = 0, n = 0;
    if (s[0] == '-') i = 1;
    if (s[i] == '0' && s[i + 1] != '\0') return 0; /* keep "007" a string */
    for (; s[i]; i++, n++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return n > 0 && n <= 15;
}

static cJSON *rle_json(const char *counts, int h, int w) {
    int hw[2] = {h, w};
    cJSON *o = cJSON_CreateObject();
    cJSON *size = cJSON_CreateIntArray(hw, 2);
    if (!o || !size || !cJSON_AddItemToObject(o, "size", size)) {
        cJSON_Delete(size);
        cJSON_Delete(o);
        return NULL;
    }
    if (!cJSON_AddStringToObject(o, "counts", counts)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *box_json(const double b[4]) {
    return cJSON_CreateDoubleArray(b, 4);
}

static cJSON *sample_json(const sa_traj_sample *s) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    int ok = cJSON_AddStringToObject(o, "image_name", s->image_name ? s->image_name : "") != NULL;
    ok = ok && cJSON_AddNumberToObject(o, "height", s->height) && cJSON_AddNumberToObject(o, "width", s->width);
    cJSON *ann = ok ? cJSON_AddObjectToObject(o, "gt_ann") : NULL;
    ok = ann != NULL;
    const char *oid = s->object_id ? s->object_id : "0";
    if (ok) ok = is_int_literal(oid) ? cJSON_AddNumberToObject(ann, "object_id", strtod(oid, NULL)) != NULL
                                     : cJSON_AddStringToObject(ann, "object_id", oid) != NULL;
    cJSON *caps = ok ? cJSON_AddArrayToObject(ann, "caption") : NULL;
    ok = caps != NULL;
    for (int i = 0; ok && i < s->n_captions; i++) ok = cJSON_AddItemToArray(caps, cJSON_CreateString(s->captions[i]));
    cJSON *seg = ok ? rle_json(s->gt ? s->gt : "", s->height, s->width) : NULL;
    ok = seg && cJSON_AddItemToObject(ann, "segmentation", seg);
    if (!ok) cJSON_Delete(seg);
    cJSON *bb = ok ? box_json(s->gt_bbox) : NULL;
    ok = bb && cJSON_AddItemToObject(ann, "bbox", bb);
    if (!ok) cJSON_Delete(bb);
    ok = ok && cJSON_AddNumberToObject(ann, "area", (double)s->gt_area);
    if (ok && s->init_mask) {
        cJSON *im = rle_json(s->init_mask, s->height, s->width);
        ok = im && cJSON_AddItemToObject(o, "init_mask", im);
        if (!ok) cJSON_Delete(im);
        ok = ok && cJSON_AddNumberToObject(o, "init_iou", s->init_iou);
        ok = ok && cJSON_AddStringToObject(o, "init_kind", s->init_kind ? s->init_kind : "given");
    }
    cJSON *list = ok ? cJSON_AddArrayToObject(o, "clicks_list") : NULL;
    ok = list != NULL;
    for (int i = 0; ok && i < s->n_steps; i++) {
        const sa_traj_step *st = &s->steps[i];
        cJSON *c = cJSON_CreateObject();
        ok = c && cJSON_AddItemToArray(list, c);
        if (!ok) {
            cJSON_Delete(c);
            break;
        }
        int yx[2] = {st->click.y, st->click.x};
        cJSON *coor = cJSON_CreateIntArray(yx, 2);
        ok = cJSON_AddNumberToObject(c, "idx", st->idx) && coor && cJSON_AddItemToObject(c, "coor", coor);
        if (!ok) {
            cJSON_Delete(coor);
            break;
        }
        ok = cJSON_AddBoolToObject(c, "is_positive", st->click.positive ? 1 : 0) != NULL;
        cJSON *m = ok ? rle_json(st->mask ? st->mask : "", s->height, s->width) : NULL;
        ok = m && cJSON_AddItemToObject(c, "mask", m);
        if (!ok) {
            cJSON_Delete(m);
            break;
        }
        cJSON *b = box_json(st->box);
        ok = b && cJSON_AddItemToObject(c, "box", b);
        if (!ok) {
            cJSON_Delete(b);
            break;
        }
        ok = cJSON_AddNumberToObject(c, "area", (double)st->area) && cJSON_AddNumberToObject(c, "iou", st->iou);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int sa_traj_writer_open(const char *path, const char *info_json, sa_traj_writer **out, sa_error *err) {
    if (!path || !out) return sa_error_set(err, SA_ERR_INVALID, "trajectory writer: no path");
    *out = NULL;
    char *info = NULL;
    if (info_json) {
        cJSON *j = cJSON_Parse(info_json);
        if (!j || !cJSON_IsObject(j)) {
            cJSON_Delete(j);
            return sa_error_set(err, SA_ERR_INVALID, "%s: info is not a JSON object", path);
        }
        info = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        if (!info) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
    }
    sa_traj_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = sa__strdup(path))) {
        free(w);
        free(info);
        return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
    }
    w->f = fopen(path, "wb");
    if (!w->f) {
        int e = errno;
        free(w->path);
        free(w);
        free(info);
        return sa_error_set(err, SA_ERR_IO, "%s: cannot create: %s", path, strerror(e));
    }
    int bad = fprintf(w->f, "{\"info\":%s,\"data\":[", info ? info : "{}") < 0;
    free(info);
    if (bad) {
        sa_traj_writer_abort(w);
        return sa_error_set(err, SA_ERR_IO, "%s: write failed", path);
    }
    *out = w;
    return SA_OK;
}

int sa_traj_writer_add(sa_traj_writer *w, const sa_traj_sample *s, sa_error *err) {
    if (!w || !s) return sa_error_set(err, SA_ERR_INVALID, "trajectory writer: NULL argument");
    cJSON *j = sample_json(s);
    char *txt = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!txt) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory formatting a sample", w->path);
    int bad = fputs(w->count ? ",\n" : "\n", w->f) < 0 || fputs(txt, w->f) < 0;
    free(txt);
    if (bad) return sa_error_set(err, SA_ERR_IO, "%s: write failed: %s", w->path, strerror(errno));
    w->count++;
    return SA_OK;
}

long sa_traj_writer_count(const sa_traj_writer *w) {
    return w ? w->count : 0;
}

int sa_traj_writer_close(sa_traj_writer *w, sa_error *err) {
    if (!w) return SA_OK;
    int bad = fputs("\n]}\n", w->f) < 0;
    bad |= fflush(w->f) != 0;
    bad |= ferror(w->f) != 0;
    bad |= fclose(w->f) != 0;
    int rc = bad ? sa_error_set(err, SA_ERR_IO, "%s: write failed", w->path) : SA_OK;
    free(w->path);
    free(w);
    return rc;
}

void sa_traj_writer_abort(sa_traj_writer *w) {
    if (!w) return;
    fclose(w->f);
    remove(w->path);
    free(w->path);
    free(w);
}

char *sa_traj_info_json(const sa_traj_params *p, const char *tool_name, const char *version,
                        const char *const *datasets, int n_datasets, sa_error *err) {
    cJSON *o = cJSON_CreateObject();
    char date[32] = "";
    time_t now = time(NULL);
    struct tm tmv;
    if (gmtime_r(&now, &tmv)) strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    int ok = o && cJSON_AddStringToObject(o, "generator", "segagent") &&
             cJSON_AddStringToObject(o, "version", version ? version : "") &&
             cJSON_AddStringToObject(o, "date", date) &&
             cJSON_AddStringToObject(o, "tool", tool_name ? tool_name : "") &&
             cJSON_AddNumberToObject(o, "target_iou", p->target_iou) &&
             cJSON_AddNumberToObject(o, "max_clicks", p->max_clicks) &&
             cJSON_AddStringToObject(o, "start", sa_traj_start_name(p->start)) &&
             cJSON_AddNumberToObject(o, "random_points", p->start == SA_TRAJ_START_RANDOM_CLICKS ? p->random_points : 0) &&
             cJSON_AddNumberToObject(o, "seed", (double)p->seed) &&
             cJSON_AddNumberToObject(o, "prob_threshold", round((double)p->prob_threshold * 1e6) / 1e6) &&
             cJSON_AddStringToObject(o, "click_rule", "keep a click only if IoU strictly rises; stop at the first that does not");
    cJSON *ds = ok ? cJSON_AddArrayToObject(o, "datasets") : NULL;
    ok = ds != NULL;
    for (int i = 0; ok && i < n_datasets; i++) ok = cJSON_AddItemToArray(ds, cJSON_CreateString(datasets[i]));
    char *txt = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!txt) sa_error_set(err, SA_ERR_NOMEM, "trajectory info: out of memory");
    return txt;
}

/* ---------------------------------------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------------------------------------- */

void sa_traj_set_free(sa_traj_set *set) {
    if (!set) return;
    for (int i = 0; i < set->n_samples; i++) sa_traj_sample_free(&set->samples[i]);
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
static int rd_fail(const rd *r, int code, const char *fmt, ...) {
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
static int read_rle(const rd *r, const cJSON *v, const char *where, int h, int w, char **out, double bbox[4],
                    uint64_t *area) {
    if (!cJSON_IsObject(v)) return rd_fail(r, SA_ERR_FORMAT, "%s: expected an RLE object {size, counts}", where);
    sa_rle rle = {0};
    sa_error e2 = {0};
    if (sa_rle_from_json(v, &rle, &e2) != SA_OK) return rd_fail(r, SA_ERR_FORMAT, "%s: %s", where, e2.msg);
    int rc = SA_OK;
    if (rle.h != h || rle.w != w)
        rc = rd_fail(r, SA_ERR_FORMAT, "%s: RLE size [%d, %d] differs from the sample's [%d, %d]", where, rle.h,
                     rle.w, h, w);
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
    if (!(s->image_name = json_scalar_text(v))) return rd_fail(r, SA_ERR_FORMAT, "'image_name' is not a string");
    long h, w;
    if (!get(o, "height") || !get(o, "width")) return rd_fail(r, SA_ERR_FORMAT, "missing key 'height' or 'width'");
    if (!get_int(get(o, "height"), 1, SA_IMAGE_MAX_SIDE, &h) || !get_int(get(o, "width"), 1, SA_IMAGE_MAX_SIDE, &w))
        return rd_fail(r, SA_ERR_FORMAT, "'height'/'width' must be integers in 1..%d", SA_IMAGE_MAX_SIDE);
    if ((uint64_t)h * (uint64_t)w > SA_IMAGE_MAX_PIXELS)
        return rd_fail(r, SA_ERR_FORMAT, "%ldx%ld pixels is above the image limit", w, h);
    s->height = (int)h;
    s->width = (int)w;

    const cJSON *ann = get(o, "gt_ann");
    if (!cJSON_IsObject(ann)) return rd_fail(r, SA_ERR_FORMAT, "missing or non-object key 'gt_ann'");
    v = get(ann, "object_id");
    s->object_id = (v && !cJSON_IsNull(v)) ? json_scalar_text(v) : sa__strdup("0");
    if (!s->object_id) return rd_fail(r, SA_ERR_FORMAT, "gt_ann.object_id is neither a number nor a string");
    v = get(ann, "caption");
    if (cJSON_IsString(v)) {
        if (!(s->captions = calloc(1, sizeof *s->captions)) || !(s->captions[0] = sa__strdup(v->valuestring)))
            return rd_fail(r, SA_ERR_NOMEM, "out of memory");
        s->n_captions = 1;
    } else if (cJSON_IsArray(v)) {
        int n = cJSON_GetArraySize(v);
        if (n > 0 && !(s->captions = calloc((size_t)n, sizeof *s->captions)))
            return rd_fail(r, SA_ERR_NOMEM, "out of memory");
        for (int k = 0; k < n; k++) {
            const cJSON *c = cJSON_GetArrayItem(v, k);
            if (!cJSON_IsString(c)) return rd_fail(r, SA_ERR_FORMAT, "gt_ann.caption[%d] is not a string", k);
            if (!(s->captions[k] = sa__strdup(c->valuestring))) return rd_fail(r, SA_ERR_NOMEM, "out of memory");
            s->n_captions = k + 1;
        }
    } else if (v && !cJSON_IsNull(v)) {
        return rd_fail(r, SA_ERR_FORMAT, "gt_ann.caption must be a string, a list of strings or null");
    }
    v = get(ann, "segmentation");
    if (!v) return rd_fail(r, SA_ERR_FORMAT, "missing key 'gt_ann.segmentation'");
    int rc = read_rle(r, v, "gt_ann.segmentation", s->height, s->width, &s->gt, s->gt_bbox, &s->gt_area);
    if (rc != SA_OK) return rc;
    v = get(ann, "bbox"); /* recomputed from the RLE when absent; a present one must be well formed */
    if (v && !read_box(v, s->gt_bbox)) return rd_fail(r, SA_ERR_FORMAT, "gt_ann.bbox is not [x, y, w, h]");

    v = get(o, "init_mask");
    if (v && !cJSON_IsNull(v)) {
        if ((rc = read_rle(r, v, "init_mask", s->height, s->width, &s->init_mask, NULL, NULL))) return rc;
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
    if (n > SA_MAX_CLICKS) return rd_fail(r, SA_ERR_FORMAT, "clicks_list has %d clicks (at most %d)", n, SA_MAX_CLICKS);
    if (n > 0 && !(s->steps = calloc((size_t)n, sizeof *s->steps))) return rd_fail(r, SA_ERR_NOMEM, "out of memory");
    for (int k = 0; k < n; k++) {
        const cJSON *c = cJSON_GetArrayItem(list, k);
        sa_traj_step *st = &s->steps[k];
        char where[64];
        if (!cJSON_IsObject(c)) return rd_fail(r, SA_ERR_FORMAT, "clicks_list[%d] is not an object", k);
        long idx = k;
        v = get(c, "idx");
        if (v && !get_int(v, 0, INT_MAX, &idx))
            return rd_fail(r, SA_ERR_FORMAT, "clicks_list[%d].idx is not a non-negative integer", k);
        st->idx = (int)idx;
        v = get(c, "coor");
        long cy, cx;
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 || !get_int(cJSON_GetArrayItem(v, 0), 0, h - 1, &cy) ||
            !get_int(cJSON_GetArrayItem(v, 1), 0, w - 1, &cx))
            return rd_fail(r, SA_ERR_FORMAT, "clicks_list[%d].coor must be [y, x] inside the %ldx%ld image", k, w,
                           h);
        st->click.y = (int)cy;
        st->click.x = (int)cx;
        v = get(c, "is_positive");
        long pos;
        if (cJSON_IsBool(v))
            st->click.positive = cJSON_IsTrue(v) ? 1 : 0;
        else if (get_int(v, 0, 1, &pos))
            st->click.positive = (int)pos;
        else
            return rd_fail(r, SA_ERR_FORMAT, "clicks_list[%d].is_positive missing or not a boolean", k);
        v = get(c, "mask");
        if (!v) return rd_fail(r, SA_ERR_FORMAT, "missing key 'clicks_list[%d].mask'", k);
        snprintf(where, sizeof where, "clicks_list[%d].mask", k);
        if ((rc = read_rle(r, v, where, s->height, s->width, &st->mask, st->box, &st->area))) return rc;
        s->n_steps = k + 1;
        v = get(c, "box");
        if (v && !read_box(v, st->box)) return rd_fail(r, SA_ERR_FORMAT, "clicks_list[%d].box is not [x, y, w, h]", k);
        v = get(c, "iou");
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0.0 || v->valuedouble > 1.0)
            return rd_fail(r, SA_ERR_FORMAT, "clicks_list[%d].iou missing or not a number in [0, 1]", k);
        st->iou = v->valuedouble;
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
    while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\n' || c->s[c->i] == '\r'))
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
            if (ch == '{' || ch == '[') depth++;
            else if ((ch == '}' || ch == ']') && --depth == 0) return 1;
        }
        return 0;
    }
    size_t st = c->i;
    while (c->i < c->n && !strchr(",}] \t\r\n", c->s[c->i])) c->i++;
    return c->i > st && c->i < c->n; /* a scalar cannot end the document inside the top-level object */
}

static int sc_truncated(const char *name, size_t len, sa_error *err) {
    return sa_error_set(err, SA_ERR_PARSE, "%s: not valid JSON (truncated: input ends at byte %zu)", name, len);
}

static int sc_bad(const char *name, const scan *c, const char *what, sa_error *err) {
    if (c->i >= c->n) return sc_truncated(name, c->n, err);
    return sa_error_set(err, SA_ERR_PARSE, "%s: not valid JSON (%s at byte %zu of %zu)", name, what, c->i, c->n);
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
        if (set->n_samples == INT_MAX) return sa_error_set(err, SA_ERR_RANGE, "%s: too many samples", name);
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
        if (!o) {
            const char *at = cJSON_GetErrorPtr();
            size_t off = (at && at >= c->s + st && at <= c->s + c->i) ? (size_t)(at - c->s) : st;
            return sa_error_set(err, SA_ERR_PARSE, "%s: data[%d]: not valid JSON (near byte %zu)", name, i, off);
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

int sa_traj_parse(const char *json, size_t len, const char *name, sa_traj_set **out, sa_error *err) {
    if (!json || !out) return sa_error_set(err, SA_ERR_INVALID, "trajectory parse: NULL argument");
    *out = NULL;
    if (!name) name = "trajectories";
    scan c = {json, len, 0};
    sc_ws(&c);
    if (c.i < len && json[c.i] != '{')
        return sa_error_set(err, SA_ERR_FORMAT, "%s: top level is not an object with 'info' and 'data'", name);
    sa_traj_set *set = calloc(1, sizeof *set);
    if (!set) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", name);
    int rc = SA_OK, have_data = 0;
    if (c.i >= len) {
        rc = len ? sc_truncated(name, len, err) : sa_error_set(err, SA_ERR_PARSE, "%s: empty file", name);
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
                                    : sa_error_set(err, SA_ERR_FORMAT, "%s: key 'data' is not a list", name);
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
                    rc = sa_error_set(err, SA_ERR_PARSE, "%s: not valid JSON (value at byte %zu)", name, vs);
                    goto done;
                }
                if (kl == 4 && !memcmp(json + ks, "info", 4) && cJSON_IsObject(v) && !set->info_json) {
                    set->info_json = cJSON_PrintUnformatted(v);
                    if (!set->info_json) rc = sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", name);
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
    FILE *f = fopen(path, "rb");
    if (!f) return sa_error_set(err, SA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = SA_OK;
    for (;;) {
        if (len == cap) {
            if (cap >= SA_TRAJ_MAX_FILE_BYTES) {
                rc = sa_error_set(err, SA_ERR_RANGE, "%s: larger than %zu bytes", path, SA_TRAJ_MAX_FILE_BYTES);
                break;
            }
            size_t nc = cap ? cap * 2 : 65536;
            if (nc > SA_TRAJ_MAX_FILE_BYTES) nc = SA_TRAJ_MAX_FILE_BYTES;
            char *nb = realloc(buf, nc);
            if (!nb) {
                rc = sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory reading the file", path);
                break;
            }
            buf = nb;
            cap = nc;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) rc = sa_error_set(err, SA_ERR_IO, "%s: read error", path);
            break;
        }
    }
    fclose(f);
    if (rc == SA_OK) rc = sa_traj_parse(buf ? buf : "", len, path, out, err);
    free(buf);
    return rc;
}
