/* The simulated annotator (docs/annotator.md).
 *
 * Padding the error maps with a zero border and running the distance transform over the whole image
 * is equivalent to running it over the bounding box of the error pixels with "outside is unset":
 * every pixel outside that box is unset (or is the zero border), and the nearest such pixel is
 * never farther than the box's own 1-pixel ring. So each click costs one pass over the image to
 * find the two boxes, plus a transform of each box -- small once the prediction is close. Maxima
 * are compared on the float distances (sqrtf of the exact squared distance, as OpenCV returns
 * them), and the first row-major pixel within the box is also the first in the image, since every
 * pixel outside the box has distance 0.
 */
#include "segagent/clicker.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/edt.h"

struct sa_clicker {
    uint8_t *crop;     /* error map of the current box, row-major */
    uint32_t *dist_sq; /* its squared distances */
    size_t cap;        /* pixels crop and dist_sq hold */
    void *scratch;     /* distance-transform scratch */
    size_t scratch_cap;
};

int sa_clicker_new(sa_clicker **out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_clicker_new: NULL output");
    *out = calloc(1, sizeof **out);
    if (!*out) return sa_error_set(err, SA_ERR_NOMEM, "clicker: out of memory");
    return SA_OK;
}

void sa_clicker_free(sa_clicker *c) {
    if (!c) return;
    free(c->crop);
    free(c->dist_sq);
    free(c->scratch);
    free(c);
}

static int reserve(sa_clicker *c, size_t pixels, int width, sa_error *err) {
    if (pixels > c->cap) {
        uint8_t *nc = realloc(c->crop, pixels);
        if (nc) c->crop = nc;
        uint32_t *nd = nc ? realloc(c->dist_sq, pixels * sizeof *nd) : NULL;
        if (nd) c->dist_sq = nd;
        if (!nc || !nd)
            return sa_error_set(err, SA_ERR_NOMEM, "clicker: out of memory for %zu pixels", pixels);
        c->cap = pixels;
    }
    size_t s = sa_edt_scratch_size(width);
    if (s > c->scratch_cap) {
        void *ns = realloc(c->scratch, s);
        if (!ns) return sa_error_set(err, SA_ERR_NOMEM, "clicker: out of memory");
        c->scratch = ns;
        c->scratch_cap = s;
    }
    return SA_OK;
}

typedef struct box {
    int x0, y0, x1, y1; /* inclusive; x1 < x0 when empty */
} box;

typedef struct best {
    float dist;
    int y, x;
} best;

/* Error map of kind want_gt (1: false negatives, 0: false positives) inside b, its transform,
 * clicked pixels zeroed, and the first row-major maximum. */
static int max_in_box(sa_clicker *c, const sa_mask *gt, const sa_mask *ign, const sa_mask *pred,
                      int want_gt, box b, const sa_click *clicked, int n_clicked, best *out,
                      sa_error *err) {
    out->dist = 0;
    out->y = out->x = -1;
    if (b.x1 < b.x0) return SA_OK;
    int cw = b.x1 - b.x0 + 1, ch = b.y1 - b.y0 + 1;
    size_t n = (size_t)cw * (size_t)ch, W = (size_t)gt->width;
    int rc = reserve(c, n, cw, err);
    if (rc != SA_OK) return rc;
    for (int y = 0; y < ch; y++) {
        size_t off = (size_t)(y + b.y0) * W + (size_t)b.x0;
        const uint8_t *g = gt->data + off, *p = pred->data + off,
                      *ig = ign ? ign->data + off : NULL;
        uint8_t *o = c->crop + (size_t)y * (size_t)cw;
        if (want_gt)
            for (int x = 0; x < cw; x++)
                o[x] = (g[x] != 0) & (p[x] == 0);
        else
            for (int x = 0; x < cw; x++)
                o[x] = (g[x] == 0) & (p[x] != 0);
        if (ig)
            for (int x = 0; x < cw; x++)
                o[x] &= ig[x] == 0;
    }
    rc = sa_edt_sq_ex(c->crop, cw, ch, (size_t)cw, 1, c->dist_sq, c->scratch, err);
    if (rc != SA_OK) return rc;
    uint32_t *d = c->dist_sq;
    for (int i = 0; i < n_clicked; i++) {
        int y = clicked[i].y - b.y0, x = clicked[i].x - b.x0;
        if (y >= 0 && y < ch && x >= 0 && x < cw) d[(size_t)y * (size_t)cw + (size_t)x] = 0;
    }
    uint32_t m = 0;
    for (size_t i = 0; i < n; i++)
        m = d[i] > m ? d[i] : m;
    if (m == 0) return SA_OK;
    float mf = sqrtf((float)m);
    uint32_t lo = m; /* smallest squared distance whose float distance equals mf */
    while (lo > 1 && sqrtf((float)(lo - 1)) == mf)
        lo--;
    size_t at = 0;
    while (d[at] < lo)
        at++;
    out->dist = mf;
    out->y = (int)(at / (size_t)cw) + b.y0;
    out->x = (int)(at % (size_t)cw) + b.x0;
    return SA_OK;
}

int sa_clicker_run(sa_clicker *c, const sa_mask *gt, const sa_mask *ignore, const sa_mask *pred,
                   const sa_click *clicked, int n_clicked, sa_clicker_click *out, sa_error *err) {
    if (out) memset(out, 0, sizeof *out);
    if (!c || !out) return sa_error_set(err, SA_ERR_INVALID, "clicker: NULL handle or output");
    if (!gt || !gt->data || !pred || !pred->data)
        return sa_error_set(err, SA_ERR_INVALID,
                            "clicker: ground truth and prediction are required");
    if (!sa_mask_same_size(gt, pred))
        return sa_error_set(err, SA_ERR_RANGE,
                            "clicker: prediction is %dx%d but ground truth is %dx%d", pred->width,
                            pred->height, gt->width, gt->height);
    const sa_mask *ign = ignore && ignore->data ? ignore : NULL;
    if (ign && !sa_mask_same_size(gt, ign))
        return sa_error_set(err, SA_ERR_RANGE,
                            "clicker: ignore map is %dx%d but ground truth is %dx%d", ign->width,
                            ign->height, gt->width, gt->height);
    if (n_clicked < 0 || (n_clicked > 0 && !clicked))
        return sa_error_set(err, SA_ERR_INVALID, "clicker: bad click list");
    int W = gt->width, H = gt->height;
    if (W <= 0 || H <= 0) return sa_error_set(err, SA_ERR_RANGE, "clicker: empty mask %dx%d", W, H);
    for (int i = 0; i < n_clicked; i++)
        if (clicked[i].y < 0 || clicked[i].y >= H || clicked[i].x < 0 || clicked[i].x >= W)
            return sa_error_set(err, SA_ERR_RANGE,
                                "clicker: click %d at (y %d, x %d) is outside the %dx%d mask", i,
                                clicked[i].y, clicked[i].x, W, H);
    box bn = {W, H, -1, -1}, bp = {W, H, -1, -1};
    for (int y = 0; y < H; y++) {
        size_t off = (size_t)y * (size_t)W;
        const uint8_t *g = gt->data + off, *p = pred->data + off,
                      *ig = ign ? ign->data + off : NULL;
        int fn0 = W, fn1 = -1, fp0 = W, fp1 = -1;
        for (int x = 0; x < W; x++) {
            int gv = g[x] != 0, pv = p[x] != 0;
            if (gv == pv || (ig && ig[x])) continue;
            if (gv) {
                if (x < fn0) fn0 = x;
                fn1 = x;
            } else {
                if (x < fp0) fp0 = x;
                fp1 = x;
            }
        }
        if (fn1 >= 0) {
            if (fn0 < bn.x0) bn.x0 = fn0;
            if (fn1 > bn.x1) bn.x1 = fn1;
            if (y < bn.y0) bn.y0 = y;
            bn.y1 = y;
        }
        if (fp1 >= 0) {
            if (fp0 < bp.x0) bp.x0 = fp0;
            if (fp1 > bp.x1) bp.x1 = fp1;
            if (y < bp.y0) bp.y0 = y;
            bp.y1 = y;
        }
    }
    best fn, fp;
    int rc = max_in_box(c, gt, ign, pred, 1, bn, clicked, n_clicked, &fn, err);
    if (rc == SA_OK) rc = max_in_box(c, gt, ign, pred, 0, bp, clicked, n_clicked, &fp, err);
    if (rc != SA_OK) return rc;
    if (fn.dist == 0 && fp.dist == 0)
        return sa_error_set(err, SA_ERR_DONE, "clicker: nothing left to fix");
    const best *pick = fn.dist > fp.dist ? &fn : &fp;
    out->y = pick->y;
    out->x = pick->x;
    out->positive = fn.dist > fp.dist;
    out->distance = pick->dist;
    return SA_OK;
}

int sa_clicker_next(const sa_mask *gt, const sa_mask *ignore, const sa_mask *pred,
                    const sa_click *clicked, int n_clicked, sa_clicker_click *out, sa_error *err) {
    sa_clicker c = {0};
    int rc = sa_clicker_run(&c, gt, ignore, pred, clicked, n_clicked, out, err);
    free(c.crop);
    free(c.dist_sq);
    free(c.scratch);
    return rc;
}
