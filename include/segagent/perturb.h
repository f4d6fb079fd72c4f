/* The annotation-filtering test set (docs/starplus.md#the-filtering-test-set, the paper's Table 3): for each
 * ground-truth object, masks of varied quality made by the interactive tool from random clicks inside the
 * object's box, written as a COCO annotation file in which every mask carries its true IoU. `segagent filter
 * --true-iou-field iou` then measures how well a model's predicted IoU agrees with it.
 *
 *   sa_perturb_params p = sa_perturb_default_params();     // 3 masks per object, 1..5 clicks, seed 0
 *   sa_perturb_stats st;
 *   sa_perturb_run(tool, NULL, refer, "coco", "images/", p, "perturbed.json", &hooks, &st, &err);
 *
 * One mask (object i of the run, mask k of it):
 *   the generator of mask k of object i starts from a splitmix64 output of (p.seed, i * per_object + k), so
 *   masks do not share click streams and the file is the same for any worker count;
 *   n = clicks_min + (a draw below clicks_max - clicks_min + 1);
 *   n pixels drawn uniformly inside the ground truth's bounding box (ignored pixels redrawn, up to 1000
 *   tries), each a positive click where the ground truth is 1 and a negative one where it is 0;
 *   mask = the tool's mask for those clicks alone (sa_env_predict_prompts: no previous result);
 *   iou = IoU(mask, gt), the ignore map excluded (1 when both are empty).
 *
 * The file: {"info": {...}, "annotations": [{"id", "image_id", "category_id", "iscrowd": 0, "caption",
 * "object" (the item key), "gt_id" (the source annotation id, referring sets), "segmentation": COCO RLE,
 * "area", "bbox", "iou", "clicks": [[y, x, positive], ...]}], "images": [{"id", "file_name", "height",
 * "width"}], "categories": [...]}. file_name is relative to images_root when the image lies below it (pass
 * the same folder to `filter --images`), else the path as the set gives it.
 */
#ifndef SEGAGENT_PERTURB_H
#define SEGAGENT_PERTURB_H

#include <stdint.h>

#include "segagent/action.h"
#include "segagent/dataset.h"
#include "segagent/env.h"
#include "segagent/error.h"
#include "segagent/refer.h"
#include "segagent/tool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_perturb_params {
    int per_object; /* masks per object (default 3, 1..1000) */
    int clicks_min; /* random clicks per mask, at least (default 1, 1..SA_MAX_CLICKS) */
    int clicks_max; /* and at most (default 5, clicks_min..SA_MAX_CLICKS) */
    uint64_t seed;  /* default 0 */
    int workers;    /* objects in flight (default 1) */
    int limit;      /* at most this many objects (0 = all) */
    float
        prob_threshold; /* the env's threshold on a probability map (default NAN: the tool's own mask) */
    const char
        *caption; /* caption of objects without one (interactive folders); default "the object" */
    int reserved[4];
} sa_perturb_params;

sa_perturb_params sa_perturb_default_params(void);

/* The random clicks of mask k of object i (the rule above): fills clicks[0..*n) (room for clicks_max).
 * gt must be non-empty; ignore may be NULL. SA_ERR_INVALID for bad parameters or an empty gt. */
int sa_perturb_clicks(const sa_mask *gt, const sa_mask *ignore, sa_perturb_params p, long object,
                      int k, sa_click *clicks, int *n, sa_error *err);

typedef struct sa_perturb_stats {
    long objects; /* objects of the run (after limit) */
    long done;    /* of them, finished */
    long skipped; /* objects that could not be loaded or segmented */
    long masks;   /* masks written */
    double iou_sum;
    double iou_min, iou_max; /* over the masks written (NAN with none) */
    int stopped;             /* should_stop ended the run */
} sa_perturb_stats;

typedef struct sa_perturb_hooks {
    void *user;
    /* After each object, in order: SA_OK or why it was skipped. */
    void (*on_item)(void *user, int item, const char *name, int status, const char *message);
    int (*should_stop)(void *user);
} sa_perturb_hooks;

/* Makes the masks for every object of one set -- an interactive folder (dataset) or a referring set (refer:
 * use per-ref samples so each object appears once) -- and writes out (under a temporary name, renamed when
 * complete; a stopped run still writes the objects done so far). label names the set in "object" keys.
 * images_root may be NULL. Returns SA_OK (also when stopped or when objects were skipped: see stats), or the
 * error that ends the run (bad parameters, writing out). stats may be NULL. */
int sa_perturb_run(sa_tool *tool, const sa_dataset *dataset, const sa_refer *refer,
                   const char *label, const char *images_root, sa_perturb_params p, const char *out,
                   const sa_perturb_hooks *hooks, sa_perturb_stats *stats, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
