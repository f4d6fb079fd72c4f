/* COCO run-length encoding (RLE), byte-identical to pycocotools (maskApi.c).
 *
 *   sa_rle r = {0};
 *   sa_rle_encode(&mask, &r, &err);              // sa_mask (row-major) -> runs (column-major)
 *   char *s = NULL;
 *   sa_rle_to_string(&r, &s, &err);              // "PPY1b0..." exactly as pycocotools writes it
 *   free(s);
 *   sa_rle_free(&r);
 *
 *   // untrusted input: every failure is SA_ERR_FORMAT with a one-line message
 *   sa_rle_from_string(s, strlen(s), h, w, &r, &err);
 *   sa_rle_decode(&r, &mask, &err);
 *
 * An RLE describes an h x w mask by run lengths taken in column-major order (down the first column,
 * then the second, ...), alternating 0-runs and 1-runs and always starting with a 0-run (which may
 * be empty). The counts sum to h*w. The compressed string writes each count (delta-coded against
 * the count two back, from the fourth count on) as little-endian 5-bit groups, bit 0x20 meaning
 * "more groups follow", bit 0x10 of the last group the sign, each group offset by 48 ('0').
 *
 * Ownership: an sa_rle owns its counts; release with sa_rle_free (safe on a zeroed struct, zeroes
 * it). Output structs must be zeroed or freed before a call; on error they are left zeroed.
 */
#ifndef SEGAGENT_RLE_H
#define SEGAGENT_RLE_H

#include <stddef.h>
#include <stdint.h>

#include "segagent/error.h"
#include "segagent/mask.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_rle {
    int h, w;         /* mask height and width */
    size_t m;         /* number of runs */
    uint32_t *counts; /* m run lengths, column-major, first run is zeros; owned */
} sa_rle;

struct cJSON; /* from <cjson/cJSON.h> */

void sa_rle_free(sa_rle *r);

/* Copies m counts into a new RLE after checking that h, w >= 0, h*w fits in 32 bits and the counts
 * sum to exactly h*w (SA_ERR_FORMAT otherwise). */
int sa_rle_init(sa_rle *r, int h, int w, const uint32_t *counts, size_t m, sa_error *err);

/* Mask (row-major, nonzero = set) -> RLE in pycocotools' canonical form (as rleEncode). */
int sa_rle_encode(const sa_mask *mask, sa_rle *out, sa_error *err);

/* RLE -> mask (0/1). Fails with SA_ERR_FORMAT when the counts do not sum to h*w, and with the
 * limits of sa_mask_new for huge or empty sizes. out must be zeroed or freed. */
int sa_rle_decode(const sa_rle *r, sa_mask *out, sa_error *err);

/* Compressed string (NUL-terminated, malloc'd into *out; caller frees), identical to pycocotools
 * rleToString. */
int sa_rle_to_string(const sa_rle *r, char **out, sa_error *err);

/* Parses len bytes of a compressed string for an h x w mask (pycocotools rleFrString). The input is
 * untrusted: a truncated group, a byte outside '0'..'o', a value longer than 7 groups, a negative
 * or over-32-bit count, or counts not summing to exactly h*w give SA_ERR_FORMAT with a message
 * naming the offset. */
int sa_rle_from_string(const char *s, size_t len, int h, int w, sa_rle *out, sa_error *err);

/* Number of set pixels (sum of the odd-indexed counts). */
uint64_t sa_rle_area(const sa_rle *r);

/* Bounding box [x, y, w, h] exactly as pycocotools rleToBbox (all zero for an empty mask). */
void sa_rle_bbox(const sa_rle *r, double bbox[4]);

/* IoU of two RLEs of the same size as pycocotools rleIou: intersection / union, 0 when the
 * intersection is empty (so two empty masks give 0, unlike sa_mask_iou); with crowd != 0 the union
 * is replaced by the area of a ("dt"). SA_ERR_INVALID when the sizes differ. */
int sa_rle_iou(const sa_rle *a, const sa_rle *b, int crowd, double *iou, sa_error *err);

/* Union (intersect == 0) or intersection (intersect != 0) of two RLEs of the same size (pycocotools
 * rleMerge), in canonical form. */
int sa_rle_merge(const sa_rle *a, const sa_rle *b, int intersect, sa_rle *out, sa_error *err);

/* Rasterises one polygon given as n_points (x, y) pairs in xy[2*n_points] (pixel coordinates),
 * exactly as pycocotools rleFrPoly / frPyObjects (5x upsampled boundary, column-major boundary
 * accumulation). Polygons whose upsampled outline would exceed about 2^28 points, or whose
 * coordinate differences overflow 32 bits, are refused with SA_ERR_RANGE (pycocotools itself would
 * misbehave there). */
int sa_rle_from_polygon(const double *xy, size_t n_points, int h, int w, sa_rle *out,
                        sa_error *err);

/* Box [x, y, w, h] rasterised as pycocotools rleFrBbox does (as the polygon of its four corners).
 */
int sa_rle_from_bbox(const double bbox[4], int h, int w, sa_rle *out, sa_error *err);

/* A COCO "segmentation" given as several polygons: the union of their rasterisations, as the COCO
 * API's annToRLE (frPyObjects + merge). Like frPyObjects, a list whose first polygon has exactly 2
 * points (4 numbers) is read as a list of boxes [x, y, w, h] (then every entry must have 2
 * "points"). */
int sa_rle_from_polygons(const double *const *xy, const size_t *n_points, size_t n_polygons, int h,
                         int w, sa_rle *out, sa_error *err);

/* {"size":[h,w],"counts":"<compressed>"} as a new cJSON object (caller deletes with cJSON_Delete);
 * NULL and an error on failure. */
struct cJSON *sa_rle_to_json(const sa_rle *r, sa_error *err);

/* Reads {"size":[h,w],"counts":...} where counts is the compressed string or an array of integers
 * (uncompressed RLE as in COCO crowd annotations). Untrusted: errors are SA_ERR_FORMAT /
 * SA_ERR_PARSE. */
int sa_rle_from_json(const struct cJSON *obj, sa_rle *out, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
