/* Training trajectories in the released SegAgent JSON format (docs/trajectories.md): the sample, its states,
 * and the streaming writer. Reading is in trajectory_read.c, recording in workloads/record.c.
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

#include "segagent/rle.h"
#include "base/files.h"
#include "base/text.h"
#include "base/util.h"
#include "data/trajectory_json.h"

void sa_traj_sample_free(sa_traj_sample *s) {
    if (!s) return;
    free(s->image_name);
    free(s->object_id);
    for (int i = 0; i < s->n_captions; i++)
        free(s->captions[i]);
    free(s->captions);
    free(s->gt);
    free(s->init_mask);
    free(s->init_kind);
    for (int i = 0; i < s->n_steps; i++)
        free(s->steps[i].mask);
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
    for (int i = 0; ok && i < n_captions; i++)
        ok = (caps[i] = sa__strdup(captions[i] ? captions[i] : "")) != NULL;
    if (!ok) {
        free(name);
        free(oid);
        for (int i = 0; caps && i < n_captions; i++)
            free(caps[i]);
        free(caps);
        return sa_error_set(err, SA_ERR_NOMEM, "trajectory meta: out of memory");
    }
    free(s->image_name);
    free(s->object_id);
    for (int i = 0; i < s->n_captions; i++)
        free(s->captions[i]);
    free(s->captions);
    s->image_name = name;
    s->object_id = oid;
    s->captions = caps;
    s->n_captions = n_captions;
    return SA_OK;
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
        return sa_error_set(err, SA_ERR_INVALID, "trajectory state %d: outside 0..%d", t,
                            s ? s->n_steps : 0);
    if (t == 0 && !s->init_mask) return sa_mask_new(out, s->width, s->height, err);
    return decode_rle_str(t == 0 ? s->init_mask : s->steps[t - 1].mask, s->height, s->width, out,
                          err);
}

double sa_traj_state_iou(const sa_traj_sample *s, int t) {
    if (!s || t < 0 || t > s->n_steps) return NAN;
    return t == 0 ? s->init_iou : s->steps[t - 1].iou;
}

/* ---------------------------------------------------------------------------------------------------------
 * Writing
 * ------------------------------------------------------------------------------------------------------- */

struct sa_traj_writer {
    sa__out out; /* a temporary file, renamed over the path by sa_traj_writer_close */
    FILE *f;     /* out.f */
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

cJSON *sa__traj_sample_json(const sa_traj_sample *s) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    int ok = cJSON_AddStringToObject(o, "image_name", s->image_name ? s->image_name : "") != NULL;
    ok = ok && cJSON_AddNumberToObject(o, "height", s->height) &&
         cJSON_AddNumberToObject(o, "width", s->width);
    cJSON *ann = ok ? cJSON_AddObjectToObject(o, "gt_ann") : NULL;
    ok = ann != NULL;
    const char *oid = s->object_id ? s->object_id : "0";
    if (ok)
        ok = is_int_literal(oid)
                 ? cJSON_AddNumberToObject(ann, "object_id", strtod(oid, NULL)) != NULL
                 : cJSON_AddStringToObject(ann, "object_id", oid) != NULL;
    cJSON *caps = ok ? cJSON_AddArrayToObject(ann, "caption") : NULL;
    ok = caps != NULL;
    for (int i = 0; ok && i < s->n_captions; i++)
        ok = cJSON_AddItemToArray(caps, cJSON_CreateString(s->captions[i]));
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
        ok = cJSON_AddNumberToObject(c, "idx", st->idx) && coor &&
             cJSON_AddItemToObject(c, "coor", coor);
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
        ok = cJSON_AddNumberToObject(c, "area", (double)st->area) &&
             cJSON_AddNumberToObject(c, "iou", st->iou);
        if (ok && st->source[0]) ok = cJSON_AddStringToObject(c, "source", st->source) != NULL;
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int sa_traj_writer_open(const char *path, const char *info_json, sa_traj_writer **out,
                        sa_error *err) {
    if (!path || !out) return sa_error_set(err, SA_ERR_INVALID, "trajectory writer: no path");
    *out = NULL;
    char *info = NULL;
    if (info_json) {
        cJSON *j = cJSON_Parse(info_json);
        if (!j || !cJSON_IsObject(j)) {
            cJSON_Delete(j);
            return sa_error_set(err, SA_ERR_INVALID, "%s: info is not a JSON object", path);
        }
        info = sa__json_print(j, 0);
        cJSON_Delete(j);
        if (!info) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
    }
    sa_traj_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = sa__strdup(path))) {
        free(w);
        free(info);
        return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
    }
    if (sa__out_open(&w->out, path, err) != SA_OK) {
        free(w->path);
        free(w);
        free(info);
        return err ? err->code : SA_ERR_IO;
    }
    w->f = w->out.f;
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
    cJSON *j = sa__traj_sample_json(s);
    char *txt = j ? sa__json_print(j, 0) : NULL;
    cJSON_Delete(j);
    if (!txt)
        return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory formatting a sample", w->path);
    int bad = fputs(w->count ? ",\n" : "\n", w->f) < 0 || fputs(txt, w->f) < 0;
    free(txt);
    if (bad) return sa_error_set(err, SA_ERR_IO, "%s: write failed: %s", w->path, strerror(errno));
    w->count++;
    return SA_OK;
}

char *sa_traj_sample_json(const sa_traj_sample *s, sa_error *err) {
    cJSON *j = s ? sa__traj_sample_json(s) : NULL;
    char *txt = j ? sa__json_print(j, 0) : NULL;
    cJSON_Delete(j);
    if (!txt)
        sa_error_set(err, s ? SA_ERR_NOMEM : SA_ERR_INVALID, "trajectory sample: %s",
                     s ? "out of memory" : "NULL sample");
    return txt;
}

long sa_traj_writer_count(const sa_traj_writer *w) {
    return w ? w->count : 0;
}

int sa_traj_writer_close(sa_traj_writer *w, sa_error *err) {
    if (!w) return SA_OK;
    fputs("\n]}\n", w->f);
    int rc = sa__out_commit(&w->out, err); /* reports any write error since open */
    free(w->path);
    free(w);
    return rc;
}

void sa_traj_writer_abort(sa_traj_writer *w) {
    if (!w) return;
    sa__out_abort(&w->out); /* the temporary file goes; whatever was at the path stays */
    free(w->path);
    free(w);
}
