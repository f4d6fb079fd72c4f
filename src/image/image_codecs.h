/* Internal interface between the image dispatcher (image_file.c) and the codecs (image_png.c,
 * image_jpeg.c, image_bmp.c). Codecs work on memory buffers only; their messages do not name a file
 * (image_file.c prefixes the path). Every decoder leaves *img zeroed on error. */
#ifndef SEGAGENT_IMAGE_CODECS_H
#define SEGAGENT_IMAGE_CODECS_H

#include <stddef.h>
#include <stdint.h>

#include "segagent/error.h"
#include "segagent/image.h"

/* What a decoder produces. */
enum {
    SA__DECODE_RGB = 0, /* 3 channels, 8-bit RGB, alpha dropped */
    SA__DECODE_VALUES =
        1 /* 1 channel of stored values: grey level, palette index, or max(R, G, B) */
};

int sa__png_decode(const uint8_t *bytes, size_t n, int mode, sa_image *img, sa_error *err);
int sa__jpeg_decode(const uint8_t *bytes, size_t n, int mode, sa_image *img, sa_error *err);
int sa__bmp_decode(const uint8_t *bytes, size_t n, int mode, sa_image *img, sa_error *err);

/* Encoders: img has 1 or 3 channels; *out is malloc'd. */
int sa__png_encode(const sa_image *img, uint8_t **out, size_t *out_len, sa_error *err);
int sa__jpeg_encode(const sa_image *img, int quality, uint8_t **out, size_t *out_len,
                    sa_error *err);

/* Checks decoded dimensions against SA_IMAGE_MAX_SIDE / SA_IMAGE_MAX_PIXELS (what names the
 * format). */
int sa__image_check_dims(const char *what, long long width, long long height, sa_error *err);

/* 1 when img is a non-empty 1- or 3-channel image with pixels. */
int sa__image_valid(const sa_image *img);

/* max(R, G, B) of an RGB triple: the stored value of a colour pixel in SA__DECODE_VALUES mode. */
static inline uint8_t sa__max3(uint8_t r, uint8_t g, uint8_t b) {
    uint8_t m = r > g ? r : g;
    return m > b ? m : b;
}

#endif
