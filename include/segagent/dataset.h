/* Interactive-segmentation datasets on disk: image / ground-truth pairs found by folder layout.
 *
 *   sa_dataset *ds = NULL;
 *   sa_error err = {0};
 *   if (sa_dataset_open("GrabCut", "data/GrabCut", sa_dataset_default_params(), &ds, &err)) {
 *       fprintf(stderr, "%s\n", err.msg);            // e.g. "data/x: no image/mask pairs ..."
 *       return 1;
 *   }
 *   for (int i = 0; i < sa_dataset_n_warnings(ds); i++) fprintf(stderr, "%s\n", sa_dataset_warning(ds, i));
 *   for (int i = 0; i < sa_dataset_count(ds); i++) {
 *       sa_image img = {0};
 *       sa_mask gt = {0}, ign = {0};
 *       if (sa_dataset_load(ds, i, &img, &gt, &ign, &err)) { ...report err.msg, skip the item... }
 *       ...
 *   }
 *   sa_dataset_free(ds);
 *
 * Layouts (found from the folder, in this order):
 *  - GrabCut: DIR/data_GT/<stem>.<ext> images and DIR/boundary_GT/<stem>.bmp masks; the mask value 128 marks
 *    the ignore band.
 *  - Generic: DIR holds an image folder (images, img, im, JPEGImages, ...) and a mask folder (masks, gt, GT,
 *    annotations, ...), names compared case-insensitively; files are paired by stem (the name without its
 *    extension). This covers Berkeley, DAVIS, COCO-MVal and DIS5K ({im, gt}). Masks may be grey, RGB or
 *    palette PNG/BMP: 0 is background, any other value is the object (no ignore value unless given).
 * Items are sorted by stem (byte order). Files without a partner, files that are not images, and duplicate
 * stems are reported as warnings (one line each, naming the file) and skipped; only a folder with no pair at
 * all is an error. Reading the pixels happens in sa_dataset_load, which checks per item that the image and
 * the mask decode, have the same size, and that the ground truth is not empty.
 */
#ifndef SEGAGENT_DATASET_H
#define SEGAGENT_DATASET_H

#include "segagent/error.h"
#include "segagent/image.h"
#include "segagent/mask.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SA_DATASET_IGNORE_AUTO (-2) /* 128 for the GrabCut layout, none otherwise */
#define SA_DATASET_IGNORE_NONE (-1)

typedef struct sa_dataset_params {
    int ignore_value; /* mask value marking ignored pixels: 0..255, SA_DATASET_IGNORE_NONE or _AUTO
                         (default) */
    int reserved[4];
} sa_dataset_params;

sa_dataset_params sa_dataset_default_params(void);

typedef struct sa_dataset sa_dataset;

/* Scans dir (no pixels are read). name labels the dataset in reports (copied; NULL -> the folder's base name).
 * Errors: SA_ERR_IO when dir cannot be read, SA_ERR_NOT_FOUND when no known layout is found or no file pairs
 * up; the message names the folder. On error *out is NULL. */
int sa_dataset_open(const char *name, const char *dir, sa_dataset_params params, sa_dataset **out,
                    sa_error *err);
void sa_dataset_free(sa_dataset *ds);

const char *sa_dataset_name(const sa_dataset *ds);
const char *sa_dataset_dir(const sa_dataset *ds);
const char *sa_dataset_layout(const sa_dataset *ds); /* "grabcut" or "generic" */
int sa_dataset_ignore_value(const sa_dataset *ds); /* the value in use, or SA_DATASET_IGNORE_NONE */

/* Items, 0 <= i < count. Strings live as long as the dataset. */
int sa_dataset_count(const sa_dataset *ds);
const char *sa_dataset_item_name(const sa_dataset *ds, int i); /* the stem */
const char *sa_dataset_image_path(const sa_dataset *ds, int i);
const char *sa_dataset_mask_path(const sa_dataset *ds, int i);

/* Warnings from the scan (unmatched, duplicate or non-image files), one line each naming the file. */
int sa_dataset_n_warnings(const sa_dataset *ds);
const char *sa_dataset_warning(const sa_dataset *ds, int i);

/* Loads item i: the RGB image, the binary ground truth and (when the dataset has an ignore value)
 * the ignore map; *ignore is left zeroed when nothing is ignored. ignore may be NULL. img, gt and
 * ignore must be zeroed or freed before; on error all are left zeroed. Errors name the file:
 * unreadable or corrupt image or mask, mask size different from the image (SA_ERR_RANGE), empty
 * ground truth (SA_ERR_FORMAT). Safe to call from several threads at once. */
int sa_dataset_load(const sa_dataset *ds, int i, sa_image *img, sa_mask *gt, sa_mask *ignore,
                    sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
