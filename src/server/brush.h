/* Internal: Label Studio's brush RLE, the bit-packed run-length format of `brushlabels` results
 * (not COCO RLE).
 *
 * The stream is big-endian bits: a 32-bit count N of values (width * height * 4: the mask as RGBA
 * bytes), a 5-bit word size minus 1 (7: bytes), four 4-bit run-size widths minus 1 (3, 4, 8, 16
 * bits), then records until N values are out: 1 bit "run" (1) or "literals" (0), 2 bits choosing a
 * width, that many bits holding the count minus 1, then one value (run) or count values (literals).
 * The encoder writes what label-studio-converter's encode_rle writes, byte for byte: every group as
 * a run, the narrowest width that holds it, runs longer than 65536 split, the bit string padded
 * with 1 to 8 zero bits. */
#ifndef SEGAGENT_SERVER_BRUSH_H
#define SEGAGENT_SERVER_BRUSH_H

#include <stddef.h>
#include <stdint.h>

#include "segagent/error.h"
#include "segagent/mask.h"

/* Mask (nonzero = object) -> brush RLE bytes (malloc'd into *out, *n bytes): every pixel 4 values
 * (R, G, B, A), 255 inside the mask, 0 outside, as Label Studio's own converter sends it. */
int sa__brush_encode(const sa_mask *m, uint8_t **out, size_t *n, sa_error *err);

/* Brush RLE bytes -> mask of width x height: a pixel is set when its alpha value (every fourth
 * value) is nonzero. The stream's count must be width * height * 4 and every record must fit in the
 * bytes given (SA_ERR_FORMAT otherwise). *m zeroed or freed before. */
int sa__brush_decode(const uint8_t *bytes, size_t n, int width, int height, sa_mask *m,
                     sa_error *err);

#endif
