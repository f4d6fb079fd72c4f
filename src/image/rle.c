/* COCO RLE: encode/decode, the compressed string form, area/bbox/IoU/merge, polygon rasterisation,
 * JSON.
 *
 * Everything here follows the observable behaviour of pycocotools' maskApi.c so that strings,
 * areas, boxes and rasterised polygons are byte-identical, including its quirks (the bbox of a run
 * ending on a column boundary, a polygon point repeated twice, coordinates too large for an int).
 * Where pycocotools would read past a buffer or rely on undefined behaviour (untrusted strings,
 * absurd polygons) we refuse with an error instead. Floating-point expressions of the polygon
 * rasteriser are split into single operations so that no compiler contracts them into fused
 * multiply-adds: the rounding must match the reference build bit for bit.
 */
#include "segagent/rle.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RLE_MAX_PIXELS 0xFFFFFFFFull /* counts are uint32 */
#define POLY_MAX_POINTS (1u << 25)   /* upsampled outline points we are willing to walk */

void sa_rle_free(sa_rle *r) {
    if (!r) return;
    free(r->counts);
    memset(r, 0, sizeof *r);
}

static int check_size(int h, int w, sa_error *err) {
    if (h < 0 || w < 0 || (uint64_t)h * (uint64_t)w > RLE_MAX_PIXELS)
        return sa_error_set(err, SA_ERR_RANGE, "RLE size %dx%d (h x w) out of range", h, w);
    return SA_OK;
}

/* Takes ownership of counts. */
static int rle_adopt(sa_rle *r, int h, int w, uint32_t *counts, size_t m) {
    r->h = h;
    r->w = w;
    r->m = m;
    r->counts = counts;
    return SA_OK;
}

int sa_rle_init(sa_rle *r, int h, int w, const uint32_t *counts, size_t m, sa_error *err) {
    if (!r) return sa_error_set(err, SA_ERR_INVALID, "sa_rle_init: NULL output");
    memset(r, 0, sizeof *r);
    int rc = check_size(h, w, err);
    if (rc != SA_OK) return rc;
    if (m > 0 && !counts) return sa_error_set(err, SA_ERR_INVALID, "sa_rle_init: NULL counts");
    uint64_t sum = 0;
    for (size_t i = 0; i < m; i++)
        sum += counts[i];
    if (sum != (uint64_t)h * (uint64_t)w)
        return sa_error_set(err, SA_ERR_FORMAT, "RLE counts sum to %llu, expected h*w = %llu",
                            (unsigned long long)sum, (unsigned long long)h * (unsigned long long)w);
    uint32_t *c = malloc((m ? m : 1) * sizeof *c);
    if (!c) return sa_error_set(err, SA_ERR_NOMEM, "RLE with %zu runs: out of memory", m);
    if (m) memcpy(c, counts, m * sizeof *c);
    return rle_adopt(r, h, w, c, m);
}

int sa_rle_encode(const sa_mask *mask, sa_rle *out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_rle_encode: NULL output");
    memset(out, 0, sizeof *out);
    if (!mask || !mask->data || mask->width <= 0 || mask->height <= 0)
        return sa_error_set(err, SA_ERR_INVALID, "sa_rle_encode: empty mask");
    int h = mask->height, w = mask->width;
    int rc = check_size(h, w, err);
    if (rc != SA_OK) return rc;
    /* First pass counts the runs so the buffer is exact. */
    size_t m = 1;
    uint8_t p = 0;
    for (int x = 0; x < w; x++) {
        const uint8_t *col = mask->data + x;
        for (int y = 0; y < h; y++) {
            uint8_t v = col[(size_t)y * (size_t)w] != 0;
            if (v != p) {
                m++;
                p = v;
            }
        }
    }
    uint32_t *cnts = malloc(m * sizeof *cnts);
    if (!cnts) return sa_error_set(err, SA_ERR_NOMEM, "RLE encode %dx%d: out of memory", w, h);
    size_t k = 0;
    uint32_t c = 0;
    p = 0;
    for (int x = 0; x < w; x++) {
        const uint8_t *col = mask->data + x;
        for (int y = 0; y < h; y++) {
            uint8_t v = col[(size_t)y * (size_t)w] != 0;
            if (v != p) {
                cnts[k++] = c;
                c = 0;
                p = v;
            }
            c++;
        }
    }
    cnts[k++] = c;
    return rle_adopt(out, h, w, cnts, k);
}

int sa_rle_decode(const sa_rle *r, sa_mask *out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_rle_decode: NULL output");
    memset(out, 0, sizeof *out);
    if (!r || (r->m > 0 && !r->counts))
        return sa_error_set(err, SA_ERR_INVALID, "sa_rle_decode: NULL RLE");
    int rc = check_size(r->h, r->w, err);
    if (rc != SA_OK) return rc;
    uint64_t total = (uint64_t)r->h * (uint64_t)r->w, sum = 0;
    for (size_t i = 0; i < r->m; i++)
        sum += r->counts[i];
    if (sum != total)
        return sa_error_set(err, SA_ERR_FORMAT, "RLE counts sum to %llu, expected h*w = %llu",
                            (unsigned long long)sum, (unsigned long long)total);
    rc = sa_mask_new(out, r->w, r->h, err);
    if (rc != SA_OK) return rc;
    size_t h = (size_t)r->h, w = (size_t)r->w;
    uint64_t pos = 0;
    for (size_t i = 0; i < r->m; i++) {
        uint64_t end = pos + r->counts[i];
        if (i & 1) {
            for (uint64_t p = pos; p < end;) {
                size_t x = (size_t)(p / h), y = (size_t)(p % h);
                uint64_t stop = end - p < h - y ? end : p + (h - y);
                uint8_t *d = out->data + y * w + x;
                for (; p < stop; p++, d += w)
                    *d = 1;
            }
        }
        pos = end;
    }
    return SA_OK;
}

/* ---- compressed string ---- */

int sa_rle_to_string(const sa_rle *r, char **out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_rle_to_string: NULL output");
    *out = NULL;
    if (!r || (r->m > 0 && !r->counts))
        return sa_error_set(err, SA_ERR_INVALID, "sa_rle_to_string: NULL RLE");
    if (r->m > (SIZE_MAX - 1) / 7)
        return sa_error_set(err, SA_ERR_NOMEM, "RLE string: too many runs");
    char *s = malloc(r->m * 7 + 1); /* a 34-bit signed delta needs at most 7 groups */
    if (!s) return sa_error_set(err, SA_ERR_NOMEM, "RLE string of %zu runs: out of memory", r->m);
    size_t p = 0;
    for (size_t i = 0; i < r->m; i++) {
        int64_t x = (int64_t)r->counts[i];
        if (i > 2) x -= (int64_t)r->counts[i - 2];
        for (;;) {
            int c = (int)(x & 0x1f); /* two's complement low bits, as the reference */
            x = (x - c) / 32;        /* exact: floor division by 32 */
            int more = (c & 0x10) ? x != -1 : x != 0;
            if (more) c |= 0x20;
            s[p++] = (char)(c + 48);
            if (!more) break;
        }
    }
    s[p] = '\0';
    *out = s;
    return SA_OK;
}

int sa_rle_from_string(const char *s, size_t len, int h, int w, sa_rle *out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_rle_from_string: NULL output");
    memset(out, 0, sizeof *out);
    if (!s && len > 0) return sa_error_set(err, SA_ERR_INVALID, "sa_rle_from_string: NULL string");
    int rc = check_size(h, w, err);
    if (rc != SA_OK) return rc;
    uint64_t total = (uint64_t)h * (uint64_t)w, sum = 0;
    uint32_t *cnts =
        malloc((len ? len : 1) * sizeof *cnts); /* each count takes at least one byte */
    if (!cnts)
        return sa_error_set(err, SA_ERR_NOMEM, "RLE string of %zu bytes: out of memory", len);
    size_t m = 0, p = 0;
    while (p < len) {
        size_t start = p;
        int64_t x = 0;
        int k = 0, more = 1;
        while (more) {
            if (p >= len) {
                free(cnts);
                return sa_error_set(err, SA_ERR_FORMAT,
                                    "RLE string truncated inside the count starting at byte %zu",
                                    start);
            }
            unsigned char ch = (unsigned char)s[p];
            if (ch < 48 || ch > 111) {
                free(cnts);
                return sa_error_set(err, SA_ERR_FORMAT,
                                    "RLE string: invalid byte 0x%02x at offset %zu", ch, p);
            }
            if (k >= 7) {
                free(cnts);
                return sa_error_set(err, SA_ERR_FORMAT,
                                    "RLE string: count at byte %zu longer than 7 groups", start);
            }
            int c = ch - 48;
            x |= (int64_t)(c & 0x1f) << (5 * k);
            more = c & 0x20;
            p++;
            k++;
            if (!more && (c & 0x10)) x -= (int64_t)1 << (5 * k); /* sign-extend */
        }
        if (m > 2) x += (int64_t)cnts[m - 2];
        if (x < 0 || x > (int64_t)UINT32_MAX) {
            free(cnts);
            return sa_error_set(err, SA_ERR_FORMAT,
                                "RLE string: count %zu (at byte %zu) is %lld, out of range", m,
                                start, (long long)x);
        }
        sum += (uint64_t)x;
        if (sum > total) {
            free(cnts);
            return sa_error_set(
                err, SA_ERR_FORMAT,
                "RLE string: counts run past h*w = %llu at count %zu (byte %zu) for a %dx%d mask",
                (unsigned long long)total, m, start, h, w);
        }
        cnts[m++] = (uint32_t)x;
    }
    if (sum != total) {
        free(cnts);
        return sa_error_set(err, SA_ERR_FORMAT,
                            "RLE string: counts sum to %llu, expected h*w = %llu (%dx%d)",
                            (unsigned long long)sum, (unsigned long long)total, h, w);
    }
    return rle_adopt(out, h, w, cnts, m);
}

/* ---- measures ---- */

uint64_t sa_rle_area(const sa_rle *r) {
    if (!r || !r->counts) return 0;
    uint64_t a = 0;
    for (size_t j = 1; j < r->m; j += 2)
        a += r->counts[j];
    return a;
}

void sa_rle_bbox(const sa_rle *r, double bbox[4]) {
    bbox[0] = bbox[1] = bbox[2] = bbox[3] = 0;
    if (!r || !r->counts || r->h <= 0 || r->w <= 0) return;
    /* uint32 arithmetic on purpose: it reproduces the reference, wrap-arounds included. */
    uint32_t h = (uint32_t)r->h, w = (uint32_t)r->w;
    size_t m = (r->m / 2) * 2;
    if (m == 0) return;
    uint32_t xs = w, ys = h, xe = 0, ye = 0, cc = 0, xp = 0;
    for (size_t j = 0; j < m; j++) {
        cc += r->counts[j];
        uint32_t t = cc - (uint32_t)(j % 2);
        uint32_t y = t % h, x = (t - y) / h;
        if (j % 2 == 0)
            xp = x;
        else if (xp < x) {
            ys = 0;
            ye = h - 1;
        }
        if (x < xs) xs = x;
        if (x > xe) xe = x;
        if (y < ys) ys = y;
        if (y > ye) ye = y;
    }
    bbox[0] = xs;
    bbox[2] = (double)(uint32_t)(xe - xs + 1);
    bbox[1] = ys;
    bbox[3] = (double)(uint32_t)(ye - ys + 1);
}

static int same_shape(const sa_rle *a, const sa_rle *b, const char *what, sa_error *err) {
    if (!a || !b || (a->m && !a->counts) || (b->m && !b->counts))
        return sa_error_set(err, SA_ERR_INVALID, "%s: NULL RLE", what);
    if (a->h != b->h || a->w != b->w)
        return sa_error_set(err, SA_ERR_RANGE, "%s: sizes differ (%dx%d vs %dx%d)", what, a->w,
                            a->h, b->w, b->h);
    return SA_OK;
}

/* A position in a run list: the value of the current run and what is left of it. */
typedef struct run_cursor {
    const uint32_t *c;
    size_t m, i;
    uint64_t left;
    int v;
} run_cursor;

static void cursor_init(run_cursor *k, const sa_rle *r) {
    k->c = r->counts;
    k->m = r->m;
    k->i = 0;
    k->v = 0;
    k->left = r->m ? r->counts[0] : 0;
    while (k->left == 0 && k->i + 1 < k->m) {
        k->i++;
        k->left = k->c[k->i];
        k->v = !k->v;
    }
}

static void cursor_advance(run_cursor *k, uint64_t n) {
    k->left -= n;
    while (k->left == 0 && k->i + 1 < k->m) {
        k->i++;
        k->left = k->c[k->i];
        k->v = !k->v;
    }
}

int sa_rle_iou(const sa_rle *a, const sa_rle *b, int crowd, double *iou, sa_error *err) {
    if (iou) *iou = 0;
    int rc = same_shape(a, b, "sa_rle_iou", err);
    if (rc != SA_OK) return rc;
    run_cursor ka, kb;
    cursor_init(&ka, a);
    cursor_init(&kb, b);
    uint64_t inter = 0, uni = 0;
    while (ka.left > 0 && kb.left > 0) {
        uint64_t n = ka.left < kb.left ? ka.left : kb.left;
        if (ka.v || kb.v) uni += n;
        if (ka.v && kb.v) inter += n;
        cursor_advance(&ka, n);
        cursor_advance(&kb, n);
    }
    if (inter == 0)
        uni = 1;
    else if (crowd)
        uni = sa_rle_area(a);
    if (iou) *iou = (double)inter / (double)uni;
    return SA_OK;
}

int sa_rle_merge(const sa_rle *a, const sa_rle *b, int intersect, sa_rle *out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_rle_merge: NULL output");
    memset(out, 0, sizeof *out);
    int rc = same_shape(a, b, "sa_rle_merge", err);
    if (rc != SA_OK) return rc;
    size_t cap = a->m + b->m + 1;
    uint32_t *cnts = malloc(cap * sizeof *cnts);
    if (!cnts) return sa_error_set(err, SA_ERR_NOMEM, "RLE merge: out of memory");
    run_cursor ka, kb;
    cursor_init(&ka, a);
    cursor_init(&kb, b);
    size_t m = 0;
    int cur = 0;
    uint64_t run = 0;
    while (ka.left > 0 && kb.left > 0) {
        uint64_t n = ka.left < kb.left ? ka.left : kb.left;
        int v = intersect ? (ka.v && kb.v) : (ka.v || kb.v);
        if (v != cur) {
            cnts[m++] = (uint32_t)run;
            run = 0;
            cur = v;
        }
        run += n;
        cursor_advance(&ka, n);
        cursor_advance(&kb, n);
    }
    cnts[m++] = (uint32_t)run;
    return rle_adopt(out, a->h, a->w, cnts, m);
}

/* ---- polygons ---- */

/* (int)v as an x86-64 build of the reference computes it: out of range and NaN give INT32_MIN. */
static int32_t trunc_i32(double v) {
    if (!(v > -2147483649.0 && v < 2147483648.0)) return INT32_MIN;
    return (int32_t)v;
}

typedef struct poly_acc {
    uint32_t *a; /* boundary positions x*h + y */
    size_t n, cap;
    int h, w;
    int have_prev;
    int32_t pu, pv;
} poly_acc;

static int acc_push(poly_acc *acc, uint32_t val) {
    if (acc->n == acc->cap) {
        size_t nc = acc->cap ? acc->cap * 2 : 256;
        uint32_t *na = realloc(acc->a, nc * sizeof *na);
        if (!na) return -1;
        acc->a = na;
        acc->cap = nc;
    }
    acc->a[acc->n++] = val;
    return 0;
}

/* One upsampled outline point; a change of column emits a y-boundary point (downsampled). */
static int acc_point(poly_acc *acc, int32_t u, int32_t v) {
    int32_t pu = acc->pu, pv = acc->pv;
    int had = acc->have_prev;
    acc->have_prev = 1;
    acc->pu = u;
    acc->pv = v;
    if (!had || u == pu) return 0;
    double xd = (double)(u < pu ? (int64_t)u : (int64_t)u - 1);
    xd = xd + 0.5;
    xd = xd / 5.0;
    xd = xd - 0.5;
    if (floor(xd) != xd || xd < 0 || xd > (double)(acc->w - 1)) return 0;
    double yd = (double)(v < pv ? v : pv);
    yd = yd + 0.5;
    yd = yd / 5.0;
    yd = yd - 0.5;
    if (yd < 0)
        yd = 0;
    else if (yd > acc->h)
        yd = acc->h;
    yd = ceil(yd);
    uint32_t x = (uint32_t)xd, y = (uint32_t)yd;
    return acc_push(acc, x * (uint32_t)acc->h + y);
}

static int cmp_u32(const void *pa, const void *pb) {
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    return a > b ? 1 : a < b ? -1 : 0;
}

int sa_rle_from_polygon(const double *xy, size_t n_points, int h, int w, sa_rle *out,
                        sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_rle_from_polygon: NULL output");
    memset(out, 0, sizeof *out);
    if (!xy && n_points > 0)
        return sa_error_set(err, SA_ERR_INVALID, "sa_rle_from_polygon: NULL points");
    if (h <= 0 || w <= 0)
        return sa_error_set(err, SA_ERR_RANGE, "polygon mask size %dx%d out of range", w, h);
    int rc = check_size(h, w, err);
    if (rc != SA_OK) return rc;
    if (n_points > POLY_MAX_POINTS)
        return sa_error_set(err, SA_ERR_RANGE, "polygon with %zu points: too many", n_points);
    size_t k = n_points;
    int32_t *px = malloc((k + 1) * sizeof *px), *py = malloc((k + 1) * sizeof *py);
    if (!px || !py) {
        free(px);
        free(py);
        return sa_error_set(err, SA_ERR_NOMEM, "polygon: out of memory");
    }
    for (size_t j = 0; j < k; j++) {
        double t = 5.0 * xy[2 * j];
        px[j] = trunc_i32(t + 0.5);
        t = 5.0 * xy[2 * j + 1];
        py[j] = trunc_i32(t + 0.5);
    }
    if (k > 0) {
        px[k] = px[0];
        py[k] = py[0];
    }
    /* Refuse what the reference cannot do either: differences overflowing int, absurdly long
     * outlines. */
    uint64_t total = 0;
    for (size_t j = 0; j < k; j++) {
        int64_t dx = llabs((int64_t)px[j + 1] - px[j]), dy = llabs((int64_t)py[j + 1] - py[j]);
        if (dx > INT32_MAX || dy > INT32_MAX) {
            free(px);
            free(py);
            return sa_error_set(err, SA_ERR_RANGE, "polygon edge %zu: coordinates too far apart",
                                j);
        }
        total += (uint64_t)(dx > dy ? dx : dy) + 1;
    }
    if (total > POLY_MAX_POINTS) {
        free(px);
        free(py);
        return sa_error_set(err, SA_ERR_RANGE,
                            "polygon outline too long (%llu upsampled points) for a %dx%d mask",
                            (unsigned long long)total, w, h);
    }
    poly_acc acc = {.h = h, .w = w};
    int fail = 0;
    for (size_t j = 0; j < k && !fail; j++) {
        int32_t xs = px[j], xe = px[j + 1], ys = py[j], ye = py[j + 1];
        int32_t dx = (int32_t)llabs((int64_t)xe - xs), dy = (int32_t)llabs((int64_t)ys - ye);
        int flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
        if (flip) {
            int32_t t = xs;
            xs = xe;
            xe = t;
            t = ys;
            ys = ye;
            ye = t;
        }
        if (dx >= dy) {
            double s = (double)((int64_t)ye - ys) /
                       (double)dx; /* 0/0 = NaN for a repeated point, as the reference */
            for (int64_t d = 0; d <= dx && !fail; d++) {
                int64_t t = flip ? dx - d : d;
                double st = s * (double)t;
                double val = (double)ys + st;
                val = val + 0.5;
                fail = acc_point(&acc, (int32_t)(t + xs), trunc_i32(val));
            }
        } else {
            double s = (double)((int64_t)xe - xs) / (double)dy;
            for (int64_t d = 0; d <= dy && !fail; d++) {
                int64_t t = flip ? dy - d : d;
                double st = s * (double)t;
                double val = (double)xs + st;
                val = val + 0.5;
                fail = acc_point(&acc, trunc_i32(val), (int32_t)(t + ys));
            }
        }
    }
    free(px);
    free(py);
    if (!fail) fail = acc_push(&acc, (uint32_t)h * (uint32_t)w);
    if (fail) {
        free(acc.a);
        return sa_error_set(err, SA_ERR_NOMEM, "polygon: out of memory");
    }
    uint32_t *a = acc.a;
    size_t n = acc.n;
    qsort(a, n, sizeof *a, cmp_u32);
    uint32_t prev = 0;
    for (size_t j = 0; j < n; j++) {
        uint32_t t = a[j];
        a[j] -= prev;
        prev = t;
    }
    /* A zero delta: a boundary point met twice; the toggles cancel, the next run joins the last. */
    size_t m = 0, j = 0;
    a[m++] = a[j++];
    while (j < n) {
        if (a[j] > 0)
            a[m++] = a[j++];
        else {
            j++;
            if (j < n) a[m - 1] += a[j++];
        }
    }
    return rle_adopt(out, h, w, a, m);
}

int sa_rle_from_bbox(const double bbox[4], int h, int w, sa_rle *out, sa_error *err) {
    if (!bbox) {
        if (out) memset(out, 0, sizeof *out);
        return sa_error_set(err, SA_ERR_INVALID, "sa_rle_from_bbox: NULL box");
    }
    double xs = bbox[0], ys = bbox[1];
    double xe = xs + bbox[2], ye = ys + bbox[3];
    double xy[8] = {xs, ys, xs, ye, xe, ye, xe, ys};
    return sa_rle_from_polygon(xy, 4, h, w, out, err);
}

/* Rasterises entry i of a polygon list, or of a box list (frPyObjects' rule, see rle.h). */
static int rasterise_entry(const double *const *xy, const size_t *n_points, size_t i, int boxes,
                           int h, int w, sa_rle *out, sa_error *err) {
    if (!boxes) return sa_rle_from_polygon(xy[i], n_points[i], h, w, out, err);
    if (n_points[i] != 2) {
        memset(out, 0, sizeof *out);
        return sa_error_set(err, SA_ERR_FORMAT,
                            "segmentation entry %zu: a list of boxes needs 4 numbers per entry", i);
    }
    return sa_rle_from_bbox(xy[i], h, w, out, err);
}

int sa_rle_from_polygons(const double *const *xy, const size_t *n_points, size_t n_polygons, int h,
                         int w, sa_rle *out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_rle_from_polygons: NULL output");
    memset(out, 0, sizeof *out);
    if (n_polygons == 0) {
        uint32_t c = (uint32_t)((uint64_t)(h > 0 ? h : 0) * (uint64_t)(w > 0 ? w : 0));
        return sa_rle_init(out, h, w, &c, 1, err);
    }
    if (!xy || !n_points)
        return sa_error_set(err, SA_ERR_INVALID, "sa_rle_from_polygons: NULL polygons");
    int boxes = n_points[0] == 2;
    sa_rle acc = {0};
    int rc = rasterise_entry(xy, n_points, 0, boxes, h, w, &acc, err);
    for (size_t i = 1; i < n_polygons && rc == SA_OK; i++) {
        sa_rle one = {0}, merged = {0};
        rc = rasterise_entry(xy, n_points, i, boxes, h, w, &one, err);
        if (rc == SA_OK) rc = sa_rle_merge(&acc, &one, 0, &merged, err);
        sa_rle_free(&one);
        if (rc == SA_OK) {
            sa_rle_free(&acc);
            acc = merged;
        }
    }
    if (rc != SA_OK) {
        sa_rle_free(&acc);
        return rc;
    }
    *out = acc;
    return SA_OK;
}

/* ---- JSON ---- */

cJSON *sa_rle_to_json(const sa_rle *r, sa_error *err) {
    char *s = NULL;
    if (sa_rle_to_string(r, &s, err) != SA_OK) return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON *size = o ? cJSON_AddArrayToObject(o, "size") : NULL;
    int ok = size && cJSON_AddItemToArray(size, cJSON_CreateNumber(r->h)) &&
             cJSON_AddItemToArray(size, cJSON_CreateNumber(r->w)) &&
             cJSON_AddStringToObject(o, "counts", s);
    free(s);
    if (!ok) {
        cJSON_Delete(o);
        sa_error_set(err, SA_ERR_NOMEM, "RLE to JSON: out of memory");
        return NULL;
    }
    return o;
}

static int json_uint(const cJSON *item, double maxv, double *out) {
    if (!cJSON_IsNumber(item)) return 0;
    double v = item->valuedouble;
    if (!(v >= 0 && v <= maxv) || floor(v) != v) return 0;
    *out = v;
    return 1;
}

int sa_rle_from_json(const cJSON *obj, sa_rle *out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_rle_from_json: NULL output");
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(obj)) return sa_error_set(err, SA_ERR_PARSE, "RLE JSON: not an object");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(obj, "size");
    const cJSON *counts = cJSON_GetObjectItemCaseSensitive(obj, "counts");
    double hd, wd;
    if (!cJSON_IsArray(size) || cJSON_GetArraySize(size) != 2 ||
        !json_uint(cJSON_GetArrayItem(size, 0), 2147483647.0, &hd) ||
        !json_uint(cJSON_GetArrayItem(size, 1), 2147483647.0, &wd))
        return sa_error_set(err, SA_ERR_PARSE,
                            "RLE JSON: \"size\" must be [h, w] with non-negative integers");
    int h = (int)hd, w = (int)wd;
    if (cJSON_IsString(counts) && counts->valuestring) {
        const char *s = counts->valuestring;
        return sa_rle_from_string(s, strlen(s), h, w, out, err);
    }
    if (!cJSON_IsArray(counts))
        return sa_error_set(err, SA_ERR_PARSE,
                            "RLE JSON: \"counts\" must be a string or an array of integers");
    int n = cJSON_GetArraySize(counts);
    uint32_t *c = malloc((size_t)(n > 0 ? n : 1) * sizeof *c);
    if (!c) return sa_error_set(err, SA_ERR_NOMEM, "RLE JSON: out of memory");
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, counts) {
        double v;
        if (!json_uint(it, 4294967295.0, &v)) {
            free(c);
            return sa_error_set(err, SA_ERR_FORMAT,
                                "RLE JSON: counts[%d] is not an integer in [0, 2^32)", i);
        }
        c[i++] = (uint32_t)v;
    }
    int rc = sa_rle_init(out, h, w, c, (size_t)i, err);
    free(c);
    return rc;
}
