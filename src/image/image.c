/* Images in memory: allocation, copy and the mask overlay. Decoding, encoding and files are in
 * image_file.c.
 *
 * Design: sa_image is a plain owned buffer (height*width*channels bytes). The overlay uses exact
 * integer arithmetic for alpha 0.5 ((p + c) >> 1 == floor(0.5*p + 0.5*c)) and double precision
 * floor(alpha*p + (1-alpha)*c) otherwise.
 */
#include "segagent/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_codecs.h"

int sa_image_new(sa_image *img, int width, int height, int channels, sa_error *err) {
    if (!img) return sa_error_set(err, SA_ERR_INVALID, "sa_image_new: NULL image");
    memset(img, 0, sizeof *img);
    if (channels != 1 && channels != 3)
        return sa_error_set(err, SA_ERR_INVALID, "sa_image_new: channels must be 1 or 3 (got %d)",
                            channels);
    if (width <= 0 || height <= 0 || width > SA_IMAGE_MAX_SIDE || height > SA_IMAGE_MAX_SIDE ||
        (uint64_t)width * (uint64_t)height > SA_IMAGE_MAX_PIXELS)
        return sa_error_set(err, SA_ERR_RANGE, "sa_image_new: size %dx%d out of range", width,
                            height);
    size_t n = (size_t)width * (size_t)height * (size_t)channels;
    uint8_t *d = calloc(n, 1);
    if (!d)
        return sa_error_set(err, SA_ERR_NOMEM, "sa_image_new: cannot allocate %dx%dx%d", width,
                            height, channels);
    img->width = width;
    img->height = height;
    img->channels = channels;
    img->data = d;
    return SA_OK;
}

void sa_image_free(sa_image *img) {
    if (!img) return;
    free(img->data);
    memset(img, 0, sizeof *img);
}

int sa__image_valid(const sa_image *img) {
    return img && img->data && (img->channels == 1 || img->channels == 3) && img->width > 0 &&
           img->height > 0;
}

int sa_image_copy(const sa_image *src, sa_image *dst, sa_error *err) {
    if (!sa__image_valid(src) || !dst)
        return sa_error_set(err, SA_ERR_INVALID, "sa_image_copy: invalid image");
    sa_image tmp;
    int rc = sa_image_new(&tmp, src->width, src->height, src->channels, err);
    if (rc) return rc;
    memcpy(tmp.data, src->data, (size_t)src->width * (size_t)src->height * (size_t)src->channels);
    *dst = tmp;
    return SA_OK;
}

sa_overlay_style sa_overlay_default_style(void) {
    sa_overlay_style s;
    s.color[0] = 0;
    s.color[1] = 255;
    s.color[2] = 0;
    s.alpha = 0.5f;
    return s;
}

int sa_image_overlay(const sa_image *src, const uint8_t *mask, sa_overlay_style style,
                     sa_image *dst, sa_error *err) {
    if (!sa__image_valid(src) || src->channels != 3 || !mask || !dst || !dst->data ||
        dst->channels != 3)
        return sa_error_set(err, SA_ERR_INVALID,
                            "sa_image_overlay: src and dst must be RGB images");
    if (dst->width != src->width || dst->height != src->height)
        return sa_error_set(err, SA_ERR_RANGE, "sa_image_overlay: dst is %dx%d, src %dx%d",
                            dst->width, dst->height, src->width, src->height);
    if (!(style.alpha >= 0.0f && style.alpha <= 1.0f))
        return sa_error_set(err, SA_ERR_RANGE, "sa_image_overlay: alpha must be in [0, 1]");
    size_t n = (size_t)src->width * (size_t)src->height;
    const uint8_t *s = src->data;
    uint8_t *d = dst->data;
    if (style.alpha == 0.5f) {
        for (size_t i = 0; i < n; i++) {
            if (mask[i]) {
                for (int c = 0; c < 3; c++)
                    d[3 * i + c] = (uint8_t)(((unsigned)s[3 * i + c] + style.color[c]) >> 1);
            } else if (d != s) {
                memcpy(d + 3 * i, s + 3 * i, 3);
            }
        }
    } else {
        double a = (double)style.alpha, b = 1.0 - a;
        for (size_t i = 0; i < n; i++) {
            if (mask[i]) {
                for (int c = 0; c < 3; c++) {
                    double v = floor(a * s[3 * i + c] + b * style.color[c]);
                    d[3 * i + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
            } else if (d != s) {
                memcpy(d + 3 * i, s + 3 * i, 3);
            }
        }
    }
    return SA_OK;
}

int sa__image_check_dims(const char *what, long long width, long long height, sa_error *err) {
    if (width <= 0 || height <= 0)
        return sa_error_set(err, SA_ERR_FORMAT, "%s: empty image (%lldx%lld)", what, width, height);
    if (width > SA_IMAGE_MAX_SIDE || height > SA_IMAGE_MAX_SIDE ||
        (uint64_t)width * (uint64_t)height > SA_IMAGE_MAX_PIXELS)
        return sa_error_set(err, SA_ERR_RANGE,
                            "%s: image %lldx%lld exceeds the size limit (side %d, %u pixels)", what,
                            width, height, SA_IMAGE_MAX_SIDE, SA_IMAGE_MAX_PIXELS);
    return SA_OK;
}
