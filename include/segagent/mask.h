/* Binary masks and the measures on them.
 *
 *   sa_mask gt = {0}, ign = {0};
 *   sa_mask_load("gt.png", 128, &gt, &ign, &err);   // GrabCut: 128 marks the ignore band
 *   double iou = sa_mask_iou(&pred, &gt, &ign);
 *
 * A mask is width*height bytes, row-major, each 0 or 1. It owns its buffer; sa_mask_free releases it and zeroes
 * the struct (safe on a zeroed struct). An "ignore" mask marks pixels that count in neither intersection nor
 * union; functions accept ignore == NULL or an ignore with data == NULL for "no ignore".
 */
#ifndef SEGAGENT_MASK_H
#define SEGAGENT_MASK_H

#include <stddef.h>
#include <stdint.h>

#include "segagent/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_mask {
    int width;
    int height;
    uint8_t *data; /* width*height, 0 or 1, owned */
} sa_mask;

int sa_mask_new(sa_mask *m, int width, int height, sa_error *err); /* zero-filled */
void sa_mask_free(sa_mask *m);
int sa_mask_copy(const sa_mask *src, sa_mask *dst, sa_error *err); /* dst zeroed or freed before */

/* Most distinct stored values a file may hold and still be read as a label mask. */
#define SA_MASK_MAX_LABEL_VALUES 64

/* Loads a mask image (grey, RGB or palette PNG/BMP/JPEG). Stored value 0 -> background; value == ignore_value
 * (use -1 for none) -> background in *mask and 1 in *ignore; any other value -> object. ignore may be NULL.
 * Errors name the file: unreadable or corrupt, or SA_ERR_FORMAT when the file holds more than
 * SA_MASK_MAX_LABEL_VALUES distinct values (a photo or a lossy JPEG given where a label mask belongs). */
int sa_mask_load(const char *path, int ignore_value, sa_mask *mask, sa_mask *ignore, sa_error *err);

/* Writes the mask as an 8-bit grey PNG with values 0 / 255. */
int sa_mask_save_png(const char *path, const sa_mask *m, sa_error *err);

size_t sa_mask_area(const sa_mask *m);

/* Bounding box of the set pixels as COCO [x, y, w, h]; all zero for an empty mask. */
void sa_mask_bbox(const sa_mask *m, int bbox[4]);

/* Intersection and union, excluding ignored pixels. Masks must be the same size (else both are 0). */
void sa_mask_inter_union(const sa_mask *a, const sa_mask *b, const sa_mask *ignore, uint64_t *inter,
                         uint64_t *uni);

/* IoU excluding ignored pixels; 1.0 when both are empty (docs/metrics.md). */
double sa_mask_iou(const sa_mask *a, const sa_mask *b, const sa_mask *ignore);

int sa_mask_same_size(const sa_mask *a, const sa_mask *b);

#ifdef __cplusplus
}
#endif
#endif
