/* Images: allocation, copy, the mask overlay, and the format dispatch for loading / saving.
 *
 * Design: sa_image is a plain owned buffer (height*width*channels bytes). Codecs live in
 * image_png.c, image_jpeg.c and image_bmp.c behind the internal interface in image_codecs.h; this
 * file picks the codec from the leading bytes (never the file name) and adds the file name to codec
 * messages. The overlay uses exact integer arithmetic for alpha 0.5 ((p + c) >> 1 == floor(0.5*p +
 * 0.5*c)) and double precision floor(alpha*p + (1-alpha)*c) otherwise.
 */
#include "segagent/image.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_codecs.h"

/* Largest file sa_image_load reads (a 32768^2 BMP is 3 GiB; such files are refused by the pixel
 * limit anyway). */
#define IMAGE_MAX_FILE_BYTES ((size_t)1 << 30)

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

static int image_valid(const sa_image *img) {
    return img && img->data && (img->channels == 1 || img->channels == 3) && img->width > 0 &&
           img->height > 0;
}

int sa_image_copy(const sa_image *src, sa_image *dst, sa_error *err) {
    if (!image_valid(src) || !dst)
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
    if (!image_valid(src) || src->channels != 3 || !mask || !dst || !dst->data ||
        dst->channels != 3 || dst->width != src->width || dst->height != src->height)
        return sa_error_set(err, SA_ERR_INVALID,
                            "sa_image_overlay: src and dst must be RGB images of one size");
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

static int decode_any(const uint8_t *b, size_t n, int mode, sa_image *img, sa_error *err) {
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    if (!img) return sa_error_set(err, SA_ERR_INVALID, "image decode: NULL output");
    memset(img, 0, sizeof *img);
    if (!b && n) return sa_error_set(err, SA_ERR_INVALID, "image decode: NULL input");
    if (n == 0) return sa_error_set(err, SA_ERR_FORMAT, "empty file");
    if (n >= 8 && !memcmp(b, png_sig, 8)) return sa__png_decode(b, n, mode, img, err);
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        return sa__jpeg_decode(b, n, mode, img, err);
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return sa__bmp_decode(b, n, mode, img, err);
    return sa_error_set(err, SA_ERR_FORMAT, "unknown image format (not PNG, JPEG or BMP)");
}

int sa_image_decode(const uint8_t *bytes, size_t n, sa_image *img, sa_error *err) {
    return decode_any(bytes, n, SA__DECODE_RGB, img, err);
}

/* Reads a whole file into a malloc'd buffer. */
static int read_file(const char *path, uint8_t **out, size_t *out_n, sa_error *err) {
    *out = NULL;
    *out_n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return sa_error_set(err, SA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (n == cap) {
            if (cap >= IMAGE_MAX_FILE_BYTES) {
                free(buf);
                fclose(f);
                return sa_error_set(err, SA_ERR_RANGE, "%s: file larger than %zu bytes", path,
                                    IMAGE_MAX_FILE_BYTES);
            }
            uint8_t *p = realloc(buf, cap * 2);
            if (!p) {
                free(buf);
                fclose(f);
                return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = p;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f), saved = errno;
    fclose(f);
    if (bad) {
        free(buf);
        return sa_error_set(err, SA_ERR_IO, "%s: read error: %s", path, strerror(saved));
    }
    *out = buf;
    *out_n = n;
    return SA_OK;
}

static int load_any(const char *path, int mode, sa_image *img, sa_error *err) {
    if (img) memset(img, 0, sizeof *img);
    if (!path || !img) return sa_error_set(err, SA_ERR_INVALID, "image load: NULL argument");
    uint8_t *buf;
    size_t n;
    int rc = read_file(path, &buf, &n, err);
    if (rc) return rc;
    sa_error e = {0};
    rc = decode_any(buf, n, mode, img, &e);
    free(buf);
    if (rc) return sa_error_set(err, rc, "%s: %s", path, e.msg);
    return SA_OK;
}

int sa_image_load(const char *path, sa_image *img, sa_error *err) {
    return load_any(path, SA__DECODE_RGB, img, err);
}

int sa_image_load_values(const char *path, sa_image *img, sa_error *err) {
    return load_any(path, SA__DECODE_VALUES, img, err);
}

int sa_image_encode_png(const sa_image *img, uint8_t **out, size_t *out_len, sa_error *err) {
    if (out) *out = NULL;
    if (out_len) *out_len = 0;
    if (!image_valid(img) || !out || !out_len)
        return sa_error_set(err, SA_ERR_INVALID, "PNG encode: invalid argument");
    return sa__png_encode(img, out, out_len, err);
}

int sa_image_encode_jpeg(const sa_image *img, int quality, uint8_t **out, size_t *out_len,
                         sa_error *err) {
    if (out) *out = NULL;
    if (out_len) *out_len = 0;
    if (!image_valid(img) || !out || !out_len)
        return sa_error_set(err, SA_ERR_INVALID, "JPEG encode: invalid argument");
    if (quality < 1 || quality > 100)
        return sa_error_set(err, SA_ERR_RANGE, "JPEG encode: quality %d outside 1..100", quality);
    return sa__jpeg_encode(img, quality, out, out_len, err);
}

static int write_file(const char *path, const uint8_t *data, size_t n, sa_error *err) {
    FILE *f = fopen(path, "wb");
    if (!f) return sa_error_set(err, SA_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    size_t put = fwrite(data, 1, n, f);
    int bad = put != n;
    if (fclose(f) != 0) bad = 1;
    if (bad) {
        remove(path);
        return sa_error_set(err, SA_ERR_IO, "%s: write failed", path);
    }
    return SA_OK;
}

int sa_image_save_png(const char *path, const sa_image *img, sa_error *err) {
    if (!path) return sa_error_set(err, SA_ERR_INVALID, "PNG save: NULL path");
    uint8_t *buf;
    size_t n;
    sa_error e = {0};
    int rc = sa_image_encode_png(img, &buf, &n, &e);
    if (rc) return sa_error_set(err, rc, "%s: %s", path, e.msg);
    rc = write_file(path, buf, n, err);
    free(buf);
    return rc;
}

int sa_image_save_jpeg(const char *path, const sa_image *img, int quality, sa_error *err) {
    if (!path) return sa_error_set(err, SA_ERR_INVALID, "JPEG save: NULL path");
    uint8_t *buf;
    size_t n;
    sa_error e = {0};
    int rc = sa_image_encode_jpeg(img, quality, &buf, &n, &e);
    if (rc) return sa_error_set(err, rc, "%s: %s", path, e.msg);
    rc = write_file(path, buf, n, err);
    free(buf);
    return rc;
}
