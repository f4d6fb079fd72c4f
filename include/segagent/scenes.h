/* Built-in sample scenes: procedurally generated images with exact ground truth, so the annotation loop can
 * be run and checked with no download (segagent demo, tests).
 *
 *   sa_image img = {0};
 *   sa_mask gt = {0};
 *   for (int i = 0; i < sa_scene_count(); i++) {
 *       if (sa_scene_render(i, 1, 320, 240, &img, &gt, &err)) ...;
 *       printf("%s: %s\n", sa_scene_name(i), sa_scene_description(i));
 *       sa_image_free(&img);
 *       sa_mask_free(&gt);
 *   }
 *
 * Each scene is a textured background (multi-octave value noise, gradients, stripes) with one target object
 * drawn with anti-aliased edges: an ellipse, a star polygon, a ring whose hole shows the background, a thin
 * rotated stick, a blob coloured almost like its background, and an object in two separate parts. The ground
 * truth is the set of pixels at least half covered by the object. The output depends only on (scene, seed,
 * width, height): integer hashing, no libc rand, no clock.
 */
#ifndef SEGAGENT_SCENES_H
#define SEGAGENT_SCENES_H

#include <stdint.h>

#include "segagent/error.h"
#include "segagent/image.h"
#include "segagent/mask.h"

#ifdef __cplusplus
extern "C" {
#endif

int sa_scene_count(void);
const char *
sa_scene_name(int i); /* short file-name-safe name ("ellipse"), NULL when out of range */
const char *
sa_scene_description(int i); /* what the target is ("the red oval"), NULL when out of range */

/* Renders scene i. width and height in [32, 4096]. img and gt must be zeroed or freed before; on
 * error both stay zeroed. The seed moves the object a little and changes the textures. */
int sa_scene_render(int i, uint64_t seed, int width, int height, sa_image *img, sa_mask *gt,
                    sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
