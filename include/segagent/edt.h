/* Exact Euclidean distance transform (linear time), as OpenCV distanceTransform(DIST_L2, 0).
 *
 *   float *d = malloc(sizeof(float) * w * h);
 *   sa_edt(&mask, 1, d, &err);
 *   // d[y*w+x]: distance from (x, y) to the nearest unset pixel (0 on unset pixels)
 *
 * The squared distances are exact integers (Felzenszwalb & Huttenlocher's lower envelope of
 * parabolas, columns then rows); the float form is sqrtf of the exact squared distance, which is
 * what OpenCV returns for DIST_L2 with mask size 0. outside_zero = 1 treats everything outside the
 * image as unset -- the same as padding the mask with a 1-pixel zero border, computing, and
 * cropping the border off. With outside_zero = 0 a set pixel with no unset pixel anywhere gets
 * SA_EDT_INF (INFINITY in the float form).
 */
#ifndef SEGAGENT_EDT_H
#define SEGAGENT_EDT_H

#include <stddef.h>
#include <stdint.h>

#include "segagent/error.h"
#include "segagent/mask.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SA_EDT_INF UINT32_MAX

/* Bytes of scratch sa_edt_sq_ex needs for an image of this width (0 when the width is out of
 * range). */
size_t sa_edt_scratch_size(int width);

/* Squared distances of a width x height mask whose rows are `stride` bytes apart (nonzero = set)
 * into dist_sq (width*height, rows `width` apart). scratch: at least sa_edt_scratch_size(width)
 * bytes, suitably aligned for double (malloc'd memory is). Never fails for valid arguments; no
 * allocation. */
int sa_edt_sq_ex(const uint8_t *mask, int width, int height, size_t stride, int outside_zero,
                 uint32_t *dist_sq, void *scratch, sa_error *err);

/* As sa_edt_sq_ex with its own scratch allocation. */
int sa_edt_sq(const uint8_t *mask, int width, int height, size_t stride, int outside_zero,
              uint32_t *dist_sq, sa_error *err);

/* Float distances (sqrtf of the exact squared distance) of a mask into dist (width*height floats).
 */
int sa_edt(const sa_mask *m, int outside_zero, float *dist, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
