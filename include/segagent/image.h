/* Images: decode PNG / JPEG / BMP from files or memory, encode PNG / JPEG, and draw the mask overlay the
 * policy sees.
 *
 *   sa_image img = {0};
 *   sa_error err = {0};
 *   if (sa_image_load("photo.jpg", &img, &err)) { puts(err.msg); return 1; }
 *   ... img.data is height*width*3 bytes, RGB, row-major ...
 *   sa_image_free(&img);
 *
 * A sa_image owns its pixel buffer; sa_image_free releases it and zeroes the struct (safe on a zeroed struct).
 * Decoders check every size against limits (SA_IMAGE_MAX_SIDE, SA_IMAGE_MAX_PIXELS) before allocating.
 */
#ifndef SEGAGENT_IMAGE_H
#define SEGAGENT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "segagent/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SA_IMAGE_MAX_SIDE 32768
#define SA_IMAGE_MAX_PIXELS (256u * 1024u * 1024u)

typedef struct sa_image {
    int width;
    int height;
    int channels;  /* 3 = RGB (what sa_image_load returns), 1 = single channel */
    uint8_t *data; /* height * width * channels bytes, row-major, owned */
} sa_image;

/* Allocates a zero-filled image. channels is 1 or 3. */
int sa_image_new(sa_image *img, int width, int height, int channels, sa_error *err);
void sa_image_free(sa_image *img);

/* Decodes a PNG, JPEG or BMP file (type from the leading bytes, not the name) to 8-bit RGB. Grey, palette,
 * 16-bit and alpha inputs are converted (alpha dropped). On error *img is left zeroed. Errors: SA_ERR_IO
 * (cannot open or read), SA_ERR_RANGE (file above 1 GiB, image above the size limits), SA_ERR_FORMAT,
 * SA_ERR_UNSUPPORTED, SA_ERR_NOMEM; the message names the file. */
int sa_image_load(const char *path, sa_image *img, sa_error *err);
int sa_image_decode(const uint8_t *bytes, size_t n, sa_image *img, sa_error *err);

/* Decodes to one channel of *stored values*, for masks: grey images keep their grey level; palette images give
 * the palette index; RGB images give max(R, G, B) (so any non-black colour is non-zero). */
int sa_image_load_values(const char *path, sa_image *img, sa_error *err);

/* Encoders. channels 1 or 3. quality 1..100 for JPEG. The memory variants return a malloc'd buffer in *out
 * (free with free()). The save variants write all or nothing: the file is written under a temporary name in
 * the same folder and renamed into place, so a failed save (SA_ERR_IO naming the path) leaves no partial file
 * and an existing file at path untouched. */
int sa_image_save_png(const char *path, const sa_image *img, sa_error *err);
int sa_image_save_jpeg(const char *path, const sa_image *img, int quality, sa_error *err);
int sa_image_encode_png(const sa_image *img, uint8_t **out, size_t *out_len, sa_error *err);
int sa_image_encode_jpeg(const sa_image *img, int quality, uint8_t **out, size_t *out_len,
                         sa_error *err);

/* Overlay as SegAgent draws it (docs/grammar.md): on pixels where mask[i] != 0,
 * out = floor(alpha*pixel + (1-alpha)*color) per channel with alpha = 0.5 by default; other pixels unchanged.
 * dst must be a 3-channel image of the same size (it may be src itself; SA_ERR_RANGE when the sizes differ).
 * mask is width*height bytes. */
typedef struct sa_overlay_style {
    uint8_t color[3]; /* default (0, 255, 0) */
    float alpha;      /* weight of the image pixel, default 0.5 */
} sa_overlay_style;
sa_overlay_style sa_overlay_default_style(void);
int sa_image_overlay(const sa_image *src, const uint8_t *mask, sa_overlay_style style,
                     sa_image *dst, sa_error *err);

/* Copies src into a new image (dst must be zeroed or freed). */
int sa_image_copy(const sa_image *src, sa_image *dst, sa_error *err);

/* Resizes an RGB image with bilinear interpolation to (new_w, new_h); exact Pillow (PIL.Image.resize with
 * BILINEAR) arithmetic, antialiased when shrinking. dst must be zeroed. Used by SAM pre-processing and for
 * the policy's model input size. */
int sa_image_resize_bilinear(const sa_image *src, int new_w, int new_h, sa_image *dst,
                             sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
