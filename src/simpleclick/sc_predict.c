/* The SimpleClick predictor as SimpleClick's evaluate_model.py and SegAgent build it (NoBRS): the
 * state of a click is the previous probability map and ROI; one click is ZoomIn (ROI from the
 * previous map > 0.5 and the positive clicks, kept unless a positive click leaves it or the
 * per-axis IoU drops under 0.5), the crop of [RGB, previous map] resized to the target, horizontal
 * flip as a batch of two, the network, the average of the two logit maps, sigmoid, and the
 * probabilities resized back into the ROI and pasted into zeros. Reference:
 * isegm/inference/predictors/base.py (BasePredictor.get_prediction, get_points_nd),
 * transforms/zoom_in.py, transforms/flip.py, utils/misc.py (expand_bbox, clamp_bbox, get_bbox_iou).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/action.h"

#include "base/util.h"
#include "simpleclick/sc_internal.h"

int sa_sc_session_new(const sa_sc_model *m, const sa_image *img, sa_sc_session **out,
                      sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_sc_session_new: out is NULL");
    *out = NULL;
    if (!m || !img || !img->data || img->width <= 0 || img->height <= 0)
        return sa_error_set(err, SA_ERR_INVALID, "sa_sc_session_new: no model or no image");
    if (img->channels != 3)
        return sa_error_set(err, SA_ERR_INVALID, "SimpleClick: the image must be RGB");
    size_t hw;
    if (!sa__mul_size((size_t)img->width, (size_t)img->height, &hw) || hw > ((size_t)1 << 28))
        return sa_error_set(err, SA_ERR_RANGE, "SimpleClick: image of %dx%d too large", img->width,
                            img->height);
    sa_sc_session *s = calloc(1, sizeof *s);
    if (!s) return sa_error_set(err, SA_ERR_NOMEM, "SimpleClick: out of memory");
    s->m = m;
    s->width = img->width;
    s->height = img->height;
    s->rgb = malloc(sizeof(float) * 3 * hw);
    if (!s->rgb || sa__pool_new(m->params.threads, &s->pool) != SA_OK) {
        sa_sc_session_free(s);
        return sa_error_set(err, SA_ERR_NOMEM, "SimpleClick: out of memory");
    }
    for (size_t i = 0; i < hw; i++) /* torchvision ToTensor */
        for (int c = 0; c < 3; c++)
            s->rgb[(size_t)c * hw + i] = (float)img->data[i * 3 + c] / 255.0f;
    *out = s;
    return SA_OK;
}

void sa_sc_session_free(sa_sc_session *s) {
    if (!s) return;
    sa__pool_free(s->pool);
    free(s->rgb);
    free(s->pos);
    free(s->act);
    free(s);
}

void sa_sc_session_set_probe(sa_sc_session *s, sa_sc_probe_fn probe, void *ctx) {
    if (!s) return;
    s->probe = probe;
    s->probe_ctx = ctx;
}

void sa_sc_session_size(const sa_sc_session *s, int *width, int *height) {
    *width = s ? s->width : 0;
    *height = s ? s->height : 0;
}

float sa_sc_session_prob_thresh(const sa_sc_session *s) {
    return s ? s->m->params.prob_thresh : 0.49f;
}

void sa_sc_session_arm_probe(sa_sc_session *s, int armed) {
    if (s) s->probe_armed = armed;
}

/* ---- ZoomIn's ROI (zoom_in.py get_object_roi, check_object_roi; misc.py) ---- */
static long round_even(double v) { /* Python round(): half to even */
    double r = nearbyint(v);       /* default rounding mode is to nearest, ties to even */
    return (long)r;
}

static void expand_bbox(int roi[4], double ratio, int min_crop) {
    double rc = 0.5 * (roi[0] + roi[1]), cc = 0.5 * (roi[2] + roi[3]);
    double h = ratio * (roi[1] - roi[0] + 1), w = ratio * (roi[3] - roi[2] + 1);
    if (h < min_crop) h = min_crop;
    if (w < min_crop) w = min_crop;
    roi[0] = (int)round_even(rc - 0.5 * h);
    roi[1] = (int)round_even(rc + 0.5 * h);
    roi[2] = (int)round_even(cc - 0.5 * w);
    roi[3] = (int)round_even(cc + 0.5 * w);
}

static double seg_iou(int a, int b, int c, int d) {
    int lo = a > c ? a : c, hi = b < d ? b : d, ulo = a < c ? a : c, uhi = b > d ? b : d;
    double inter = hi - lo + 1 > 0 ? hi - lo + 1 : 0, uni = uhi - ulo + 1;
    if (uni < 1e-6) uni = 1e-6;
    return inter / uni;
}

/* ROI of the previous map (> thresh) plus positive clicks; 0 when the map has no such pixel. */
static int object_roi(const sa_sc_session *s, const float *prev, const sa_sc_click *clicks, int n,
                      int roi[4]) {
    const sa_sc_params *p = &s->m->params;
    const int H = s->height, W = s->width;
    int r0 = H, r1 = -1, c0 = W, c1 = -1;
    for (int y = 0; y < H; y++) {
        const float *row = prev + (size_t)y * W;
        for (int x = 0; x < W; x++)
            if (row[x] > p->zoom_prob_thresh) {
                if (y < r0) r0 = y;
                if (y > r1) r1 = y;
                if (x < c0) c0 = x;
                if (x > c1) c1 = x;
            }
    }
    if (r1 < 0) return 0;
    for (int i = 0; i < n; i++)
        if (clicks[i].positive) {
            if (clicks[i].row < r0) r0 = clicks[i].row;
            if (clicks[i].row > r1) r1 = clicks[i].row;
            if (clicks[i].col < c0) c0 = clicks[i].col;
            if (clicks[i].col > c1) c1 = clicks[i].col;
        }
    roi[0] = r0, roi[1] = r1, roi[2] = c0, roi[3] = c1;
    expand_bbox(roi, p->zoom_expansion, p->zoom_min_crop);
    if (roi[0] < 0) roi[0] = 0;
    if (roi[1] > H - 1) roi[1] = H - 1;
    if (roi[2] < 0) roi[2] = 0;
    if (roi[3] > W - 1) roi[3] = W - 1;
    return 1;
}

static int clicks_inside(const int roi[4], const sa_sc_click *clicks, int n) {
    for (int i = 0; i < n; i++)
        if (clicks[i].positive && (clicks[i].row < roi[0] || clicks[i].row >= roi[1] ||
                                   clicks[i].col < roi[2] || clicks[i].col >= roi[3]))
            return 0;
    return 1;
}

int sa_sc_predict(sa_sc_session *s, const sa_sc_click *clicks, int n_clicks, const float *prev_prob,
                  const int *prev_roi, float *prob, int *roi, sa_error *err) {
    if (!s || !prob || !roi || (n_clicks > 0 && !clicks))
        return sa_error_set(err, SA_ERR_INVALID, "sa_sc_predict: NULL argument");
    if (n_clicks < 1 || n_clicks > SA_MAX_CLICKS)
        return sa_error_set(err, SA_ERR_RANGE, "SimpleClick: %d clicks (1..%d)", n_clicks,
                            SA_MAX_CLICKS);
    const sa_sc_model *m = s->m;
    const sa_sc_params *p = &m->params;
    const int H0 = s->height, W0 = s->width;
    const size_t HW0 = (size_t)H0 * W0;
    for (int i = 0; i < n_clicks; i++)
        if (clicks[i].row < 0 || clicks[i].row >= H0 || clicks[i].col < 0 || clicks[i].col >= W0)
            return sa_error_set(err, SA_ERR_RANGE,
                                "SimpleClick: click %d at (row %d, col %d) outside the %dx%d image",
                                i + 1, clicks[i].row, clicks[i].col, W0, H0);
    if (prev_roi && (prev_roi[0] < 0 || prev_roi[1] < prev_roi[0] || prev_roi[1] >= H0 ||
                     prev_roi[2] < 0 || prev_roi[3] < prev_roi[2] || prev_roi[3] >= W0))
        return sa_error_set(err, SA_ERR_RANGE,
                            "SimpleClick: previous ROI (%d, %d, %d, %d) outside the image",
                            prev_roi[0], prev_roi[1], prev_roi[2], prev_roi[3]);
    /* ROI and network input size */
    int r[4] = {0, H0 - 1, 0, W0 - 1};
    int H = H0, W = W0;
    if (p->zoom_in) {
        int cur[4] = {0, H0 - 1, 0, W0 - 1};
        if (prev_prob) object_roi(s, prev_prob, clicks, n_clicks, cur);
        int update = !prev_roi || !prev_prob || !clicks_inside(prev_roi, clicks, n_clicks) ||
                     seg_iou(cur[0], cur[1], prev_roi[0], prev_roi[1]) *
                             seg_iou(cur[2], cur[3], prev_roi[2], prev_roi[3]) <
                         p->zoom_recompute_iou;
        memcpy(r, update ? cur : prev_roi, sizeof r);
        H = W = p->zoom_target;
    }
    const int B = p->flip ? 2 : 1;
    const size_t HW = (size_t)H * W;
    int npos = 0, nneg = 0;
    for (int i = 0; i < n_clicks; i++)
        clicks[i].positive ? npos++ : nneg++;
    int np = npos > nneg ? npos : nneg;
    if (np < 1) np = 1;
    float *x = malloc(sizeof(float) * 4 * HW * B);
    float *logits = malloc(sizeof(float) * HW * B);
    double *pts = malloc(sizeof(double) * (size_t)B * 2 * np * 3);
    float *crop = NULL;
    int rc = SA_OK;
    if (!x || !logits || !pts) goto oom;
    /* input x (4, H, W) = [RGB, prev] cropped and resized (zoom_in.py get_roi_image_nd) */
    const int ch = r[1] - r[0] + 1, cw = r[3] - r[2] + 1;
    if (p->zoom_in) {
        crop = malloc(sizeof(float) * 4 * (size_t)ch * cw);
        if (!crop) goto oom;
        for (int c = 0; c < 4; c++)
            for (int y = 0; y < ch; y++) {
                float *d = crop + ((size_t)c * ch + y) * cw;
                if (c < 3)
                    memcpy(d, s->rgb + (size_t)c * HW0 + (size_t)(r[0] + y) * W0 + r[2],
                           sizeof(float) * (size_t)cw);
                else if (prev_prob)
                    memcpy(d, prev_prob + (size_t)(r[0] + y) * W0 + r[2],
                           sizeof(float) * (size_t)cw);
                else
                    memset(d, 0, sizeof(float) * (size_t)cw);
            }
        sa__sc_resize_planar(crop, 4, ch, cw, x, H, W, 1);
    } else {
        memcpy(x, s->rgb, sizeof(float) * 3 * HW);
        if (prev_prob)
            memcpy(x + 3 * HW, prev_prob, sizeof(float) * HW);
        else
            memset(x + 3 * HW, 0, sizeof(float) * HW);
    }
    if (B == 2) /* flip.py: the mirrored copy as element 1 */
        for (int c = 0; c < 4; c++)
            for (int y = 0; y < H; y++) {
                const float *src = x + ((size_t)c * H + y) * W;
                float *d = x + 4 * HW + ((size_t)c * H + y) * W;
                for (int xx = 0; xx < W; xx++)
                    d[xx] = src[W - 1 - xx];
            }
    /* points per element (base.py get_points_nd): positives then negatives, each padded with (-1,
     * -1, -1) to max(n_pos, n_neg, 1) rows; the third value is the click's index */
    for (int b = 0; b < B; b++) {
        double *pb = pts + (size_t)b * 2 * np * 3;
        for (int k = 0; k < 2 * np * 3; k++)
            pb[k] = -1.0;
        int ip = 0, in = 0;
        for (int i = 0; i < n_clicks; i++) {
            double rr = clicks[i].row, cc = clicks[i].col;
            if (p->zoom_in) { /* zoom_in.py _transform_clicks */
                rr = H * (rr - r[0]) / (double)(r[1] - r[0] + 1);
                cc = W * (cc - r[2]) / (double)(r[3] - r[2] + 1);
            }
            if (b == 1) cc = W - cc - 1;
            if (!p->points_f64) { /* Python floats become a float32 tensor */
                rr = (float)rr;
                cc = (float)cc;
            }
            double *row = pb + (size_t)(clicks[i].positive ? ip++ : np + in++) * 3;
            row[0] = rr;
            row[1] = cc;
            row[2] = i;
        }
    }
    rc = sa__sc_forward(s, B, H, W, x, pts, np, logits, s->probe_armed, err);
    s->probe_armed = 0;
    if (rc != SA_OK) goto done;
    /* flip.py inv_transform on the logits, then sigmoid */
    float *pm = logits;
    if (B == 2)
        for (int y = 0; y < H; y++) {
            float *a = logits + (size_t)y * W;
            const float *f = logits + HW + (size_t)y * W;
            for (int xx = 0; xx < W; xx++)
                a[xx] = 0.5f * (a[xx] + f[W - 1 - xx]);
        }
    for (size_t i = 0; i < HW; i++)
        pm[i] = 1.0f / (1.0f + expf(-pm[i]));
    if (p->zoom_in) {          /* zoom_in.py inv_transform: resize into the ROI, zeros elsewhere */
        float *roi_map = crop; /* ch*cw <= 4*ch*cw floats */
        sa__sc_resize_planar(pm, 1, H, W, roi_map, ch, cw, 1);
        memset(prob, 0, sizeof(float) * HW0);
        for (int y = 0; y < ch; y++)
            memcpy(prob + (size_t)(r[0] + y) * W0 + r[2], roi_map + (size_t)y * cw,
                   sizeof(float) * (size_t)cw);
    } else {
        memcpy(prob, pm, sizeof(float) * HW0);
    }
    memcpy(roi, r, sizeof r);
    goto done;
oom:
    rc = sa_error_set(err, SA_ERR_NOMEM, "SimpleClick: out of memory");
done:
    free(x);
    free(logits);
    free(pts);
    free(crop);
    return rc;
}
