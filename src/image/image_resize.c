/* Bilinear resize reproducing Pillow's Image.resize(..., BILINEAR) on 8-bit RGB bit for bit.
 *
 * The arithmetic (what SAM pre-processing needs to match its fixtures): separable, horizontal pass
 * first, then vertical, each pass skipped when that axis keeps its size, the intermediate image
 * rounded to uint8. For an axis of in -> out samples: scale = in/out, filterscale = max(scale, 1)
 * (antialiasing when shrinking), support = 1 * filterscale (triangle filter of radius 1). Output
 * sample i is centred at c = (i + 0.5)*scale and reads inputs [max((int)(c - support + 0.5), 0),
 * min((int)(c + support + 0.5), in)) with weights tri((j - c + 0.5) / filterscale), normalised to
 * sum 1, then stored as fixed point with 22 fractional bits rounded half away from zero. Each
 * output is (2^21 + sum w_j * x_j) >> 22 clamped to 0..255.
 */
#include "segagent/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_codecs.h"

#define RS_PRECISION_BITS 22

typedef struct rs_coeffs {
    int ksize;
    int *bounds; /* [out][2]: first input index, number of taps */
    int32_t *k;  /* [out][ksize] fixed-point weights */
} rs_coeffs;

static double rs_triangle(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static int rs_make_coeffs(int in_size, int out_size, rs_coeffs *c) {
    double scale = (double)in_size / (double)out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    double ss = 1.0 / filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    c->ksize = ksize;
    c->bounds = malloc(sizeof *c->bounds * 2 * (size_t)out_size);
    c->k = calloc((size_t)out_size * (size_t)ksize, sizeof *c->k);
    double *w = malloc(sizeof *w * (size_t)ksize);
    if (!c->bounds || !c->k || !w) {
        free(w);
        return SA_ERR_NOMEM;
    }
    for (int i = 0; i < out_size; i++) {
        double center = (i + 0.5) * scale;
        int lo = (int)(center - support + 0.5);
        if (lo < 0) lo = 0;
        int hi = (int)(center + support + 0.5);
        if (hi > in_size) hi = in_size;
        int cnt = hi - lo;
        if (cnt > ksize)
            cnt = ksize; /* cannot happen: the window spans at most 2*support + 1 samples */
        double sum = 0.0;
        for (int j = 0; j < cnt; j++) {
            w[j] = rs_triangle((j + lo - center + 0.5) * ss);
            sum += w[j];
        }
        int32_t *k = c->k + (size_t)i * (size_t)ksize;
        for (int j = 0; j < cnt; j++) {
            double v = sum != 0.0 ? w[j] / sum : w[j];
            double f = v * (double)(1 << RS_PRECISION_BITS);
            k[j] = (int32_t)(v < 0 ? -0.5 + f : 0.5 + f);
        }
        c->bounds[2 * i] = lo;
        c->bounds[2 * i + 1] = cnt;
    }
    free(w);
    return SA_OK;
}

static void rs_free_coeffs(rs_coeffs *c) {
    free(c->bounds);
    free(c->k);
}

static inline uint8_t rs_clip8(int32_t v) {
    if (v < 0) return 0;
    v >>= RS_PRECISION_BITS;
    return (uint8_t)(v > 255 ? 255 : v);
}

/* in: h x in_w x 3 -> out: h x out_w x 3 */
static void rs_horizontal(const uint8_t *in, int in_w, int h, uint8_t *out, int out_w,
                          const rs_coeffs *c) {
    for (int y = 0; y < h; y++) {
        const uint8_t *row = in + (size_t)y * (size_t)in_w * 3;
        uint8_t *o = out + (size_t)y * (size_t)out_w * 3;
        for (int x = 0; x < out_w; x++) {
            int lo = c->bounds[2 * x], cnt = c->bounds[2 * x + 1];
            const int32_t *k = c->k + (size_t)x * (size_t)c->ksize;
            int32_t s0 = 1 << (RS_PRECISION_BITS - 1), s1 = s0, s2 = s0;
            const uint8_t *p = row + (size_t)lo * 3;
            for (int j = 0; j < cnt; j++, p += 3) {
                s0 += p[0] * k[j];
                s1 += p[1] * k[j];
                s2 += p[2] * k[j];
            }
            o[3 * x] = rs_clip8(s0);
            o[3 * x + 1] = rs_clip8(s1);
            o[3 * x + 2] = rs_clip8(s2);
        }
    }
}

/* in: in_h x w x 3 -> out: out_h x w x 3 */
static void rs_vertical(const uint8_t *in, int w, uint8_t *out, int out_h, const rs_coeffs *c) {
    size_t stride = (size_t)w * 3;
    for (int y = 0; y < out_h; y++) {
        int lo = c->bounds[2 * y], cnt = c->bounds[2 * y + 1];
        const int32_t *k = c->k + (size_t)y * (size_t)c->ksize;
        uint8_t *o = out + (size_t)y * stride;
        for (size_t i = 0; i < stride; i++) {
            int32_t s = 1 << (RS_PRECISION_BITS - 1);
            const uint8_t *p = in + (size_t)lo * stride + i;
            for (int j = 0; j < cnt; j++, p += stride)
                s += *p * k[j];
            o[i] = rs_clip8(s);
        }
    }
}

int sa_image_resize_bilinear(const sa_image *src, int new_w, int new_h, sa_image *dst,
                             sa_error *err) {
    if (!src || !src->data || src->channels != 3 || src->width <= 0 || src->height <= 0 || !dst)
        return sa_error_set(err, SA_ERR_INVALID, "resize: source must be a non-empty RGB image");
    memset(dst, 0, sizeof *dst);
    int rc = sa__image_check_dims("resize", new_w, new_h, err);
    if (rc) return rc;
    int need_h = new_w != src->width, need_v = new_h != src->height;
    if (!need_h && !need_v) return sa_image_copy(src, dst, err);

    rs_coeffs ch = {0, NULL, NULL}, cv = {0, NULL, NULL};
    sa_image tmp = {0, 0, 0, NULL};
    if (need_h && rs_make_coeffs(src->width, new_w, &ch)) goto nomem;
    if (need_v && rs_make_coeffs(src->height, new_h, &cv)) goto nomem;
    if ((rc = sa_image_new(dst, new_w, new_h, 3, err))) goto done;
    if (need_h && need_v) {
        if ((rc = sa_image_new(&tmp, new_w, src->height, 3, err))) goto done;
        rs_horizontal(src->data, src->width, src->height, tmp.data, new_w, &ch);
        rs_vertical(tmp.data, new_w, dst->data, new_h, &cv);
    } else if (need_h) {
        rs_horizontal(src->data, src->width, src->height, dst->data, new_w, &ch);
    } else {
        rs_vertical(src->data, src->width, dst->data, new_h, &cv);
    }
    goto done;
nomem:
    rc = sa_error_set(err, SA_ERR_NOMEM, "resize: out of memory (%dx%d -> %dx%d)", src->width,
                      src->height, new_w, new_h);
done:
    rs_free_coeffs(&ch);
    rs_free_coeffs(&cv);
    sa_image_free(&tmp);
    if (rc) sa_image_free(dst);
    return rc;
}
