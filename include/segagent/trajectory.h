/* Training trajectories (SPEC.md section 4): record the simulated annotator driving a tool, and read / write
 * them in the released SegAgent JSON format.
 *
 *   sa_traj_params p = sa_traj_default_params();        // target 0.98, 20 clicks, empty start
 *   sa_traj_sample smp = {0};
 *   sa_traj_record(tool, session, &gt, &ignore, p, &smp, &err);   // session: sa_tool_session_new(tool, &img)
 *   sa_traj_sample_set_meta(&smp, "000123.jpg", "1", captions, n_captions, &err);
 *
 *   sa_traj_writer *w = NULL;
 *   sa_traj_writer_open("traj.json", info_json, &w, &err);       // info_json: a JSON object text, or NULL
 *   sa_traj_writer_add(w, &smp, &err);                           // streamed: one sample at a time
 *   sa_traj_writer_close(w, &err);
 *   sa_traj_sample_free(&smp);
 *
 *   sa_traj_set *set = NULL;
 *   sa_traj_read("traj.json", &set, &err);                       // tolerant of extra keys; strict on shape
 *   ... set->samples[i].steps[t] ...
 *   sa_traj_set_free(set);
 *
 * Recording rules (the released generator's, SPEC.md section 4):
 *   state M_0 = the empty mask, or the starting mask (below); prev_iou = IoU(M_0, gt)
 *   repeat: click = sa_clicker_next(gt, ignore, M_t, clicks so far)   (SA_ERR_DONE: nothing left, stop)
 *           result = tool(all recorded clicks + this one, previous result; on the first click the start mask as
 *                    init_mask); M = result.prob ? (prob > prob_threshold) : result.mask
 *           iou = IoU(M, gt) with the ignore map excluded
 *           if iou <= prev_iou: stop; the click is NOT recorded
 *           record (idx, click, M, bbox(M), area(M), iou); prev_iou = iou
 *           stop when iou >= target_iou or after max_clicks recorded clicks.
 *   Probability maps: the tool contract returns a binary mask and, for some tools, a per-pixel probability.
 *   When prob is present the state is prob > prob_threshold (0.49, the released generator's pred_thr) and
 *   that thresholded mask replaces the result's mask before it is fed back as the previous result, so the tool
 *   and the trajectory agree on M_t. Without prob the tool's binary mask is used as is.
 *
 * Starting states (options, for learning refinement):
 *   - SA_TRAJ_START_EMPTY (default): M_0 empty.
 *   - SA_TRAJ_START_BOX: a tool that accepts boxes is called with the gt bounding box alone and its mask is
 *     M_0. A tool that does not (the built-in graph cut) gets the filled gt box rectangle as M_0 instead.
 *   - SA_TRAJ_START_RANDOM_CLICKS: random_points pixels drawn uniformly (seeded, reproducible) inside the gt
 *     bounding box, positive where gt = 1 and negative where gt = 0 (ignored pixels are redrawn); the tool's
 *     mask from those clicks alone is M_0.
 *   In both non-empty cases the recorded trajectory then refines M_0 exactly as the agent refines a given mask
 *   at inference: the recorded clicks go to the tool with M_0 as its init_mask (the box / random clicks are not
 *   passed again), and M_0 is written as the sample's "init_mask" (with "init_iou", "init_kind") so the
 *   exporter can rebuild the first input. These three keys are ours; readers of the released format ignore them.
 *
 * JSON (one file per split):
 *   {"info": {...}, "data": [{"image_name", "height", "width",
 *     "gt_ann": {"object_id", "caption": [...], "segmentation": {"size":[h,w],"counts":"..."},
 *                "bbox": [x,y,w,h], "area"},
 *     "clicks_list": [{"idx", "coor": [y,x], "is_positive", "mask": <RLE>, "box": [x,y,w,h], "area", "iou"}]}]}
 *   idx is the 0-based click index, coor is (y, x) in pixels, is_positive a JSON boolean, area an integer,
 *   bbox/box floats as pycocotools' toBbox, iou a float. RLE strings are pycocotools' compressed form.
 *
 * Reading is tolerant of unknown keys, of object_id as a number or a string, of caption as a string, a list or
 * null, of RLE counts given uncompressed (arrays), and of is_positive given as 0/1. It is strict about shape:
 * a missing or mistyped required key, an RLE whose size differs from the sample's height/width, or a
 * truncated file is SA_ERR_FORMAT / SA_ERR_PARSE with one line naming the file, the sample index and the key.
 */
#ifndef SEGAGENT_TRAJECTORY_H
#define SEGAGENT_TRAJECTORY_H

#include <stddef.h>
#include <stdint.h>

#include "segagent/error.h"
#include "segagent/mask.h"
#include "segagent/tool.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SA_TRAJ_MAX_FILE_BYTES ((size_t)4 << 30) /* refuse trajectory files above 4 GiB */

typedef enum sa_traj_start {
    SA_TRAJ_START_EMPTY = 0,
    SA_TRAJ_START_BOX = 1,
    SA_TRAJ_START_RANDOM_CLICKS = 2
} sa_traj_start;

typedef struct sa_traj_params {
    double target_iou;    /* stop once IoU >= this (default 0.98) */
    int max_clicks;       /* at most this many recorded clicks (default 20, 1..SA_MAX_CLICKS) */
    sa_traj_start start;  /* default SA_TRAJ_START_EMPTY */
    int random_points;    /* points for SA_TRAJ_START_RANDOM_CLICKS (default 5, 1..SA_MAX_CLICKS) */
    uint64_t seed;        /* RNG seed for the random points (default 0) */
    float prob_threshold; /* threshold on the tool's probability map when it has one (default 0.49) */
    int reserved[4];
} sa_traj_params;

sa_traj_params sa_traj_default_params(void);

/* "empty" / "box" / "random-clicks" <-> enum. */
int sa_traj_start_from_name(const char *name, sa_traj_start *out, sa_error *err);
const char *sa_traj_start_name(sa_traj_start s);

/* One recorded click and the state after it. */
typedef struct sa_traj_step {
    int idx;        /* 0-based click index */
    sa_click click; /* (y, x) pixels, positive flag */
    char *mask;     /* compressed COCO RLE counts of the mask after the click (size = sample height, width) */
    double box[4];  /* [x, y, w, h] of that mask */
    uint64_t area;  /* pixels in that mask */
    double iou;     /* IoU of that mask with gt */
} sa_traj_step;

/* One object's trajectory. All strings malloc'd and owned; free with sa_traj_sample_free. */
typedef struct sa_traj_sample {
    char *image_name;
    int height, width;
    char *object_id;        /* text of the id; written as a JSON number when it is an integer literal */
    char **captions;        /* n_captions strings (may be 0) */
    int n_captions;
    char *gt;               /* compressed RLE of the ground truth */
    double gt_bbox[4];
    uint64_t gt_area;
    char *init_mask;        /* compressed RLE of a non-empty starting state M_0, or NULL (empty start) */
    double init_iou;        /* IoU(M_0, gt); 0 for the empty start */
    char *init_kind;        /* "box" / "random-clicks" (or what a file says), NULL for the empty start */
    sa_traj_step *steps;
    int n_steps;
} sa_traj_sample;

void sa_traj_sample_free(sa_traj_sample *s); /* frees contents and zeroes; safe on a zeroed struct */

/* Records one trajectory. tool and session must belong together (session from sa_tool_session_new(tool,
 * img)); gt is the binary ground truth of the session image's size (must not be empty); ignore may be NULL.
 * Fills out (zeroed or freed before) with height, width, gt fields, init_* and steps; image_name, object_id
 * and captions stay NULL (sa_traj_sample_set_meta). Errors: bad sizes (SA_ERR_RANGE), empty gt
 * (SA_ERR_FORMAT), tool failures (passed on). A trajectory that stops at once (first click does not help) is
 * valid and has n_steps == 0. */
int sa_traj_record(sa_tool *tool, sa_tool_session *session, const sa_mask *gt, const sa_mask *ignore,
                   sa_traj_params p, sa_traj_sample *out, sa_error *err);

/* Sets (copies) image_name, object_id (NULL -> "0") and captions (n may be 0). */
int sa_traj_sample_set_meta(sa_traj_sample *s, const char *image_name, const char *object_id,
                            const char *const *captions, int n_captions, sa_error *err);

/* Decodes the state M_t entering step t (0 <= t <= n_steps): t = 0 is the starting state (empty or
 * init_mask), t > 0 the mask after step t-1. out zeroed or freed before. */
int sa_traj_state_mask(const sa_traj_sample *s, int t, sa_mask *out, sa_error *err);
/* IoU of M_t with gt as recorded (init_iou for t = 0, steps[t-1].iou otherwise). */
double sa_traj_state_iou(const sa_traj_sample *s, int t);

/* ---- writing (streamed) ---- */
typedef struct sa_traj_writer sa_traj_writer;

/* Creates path and writes the header. info_json is a JSON object text placed under "info" (NULL -> {}); it is
 * validated. */
int sa_traj_writer_open(const char *path, const char *info_json, sa_traj_writer **out, sa_error *err);
int sa_traj_writer_add(sa_traj_writer *w, const sa_traj_sample *s, sa_error *err);
long sa_traj_writer_count(const sa_traj_writer *w);
/* Writes the closing brackets, flushes and closes (reports write errors); frees w. w may be NULL. */
int sa_traj_writer_close(sa_traj_writer *w, sa_error *err);
/* Discards: closes and removes the partial file; frees w. w may be NULL. */
void sa_traj_writer_abort(sa_traj_writer *w);

/* The info object our recorder writes: {"generator":"segagent","version","date" (UTC ISO 8601),"tool",
 * "target_iou","max_clicks","start","random_points","seed","prob_threshold", "datasets":[...]}. datasets
 * (n may be 0) are free-form labels such as "Berkeley=/data/Berkeley". Returns malloc'd text or NULL. */
char *sa_traj_info_json(const sa_traj_params *p, const char *tool_name, const char *version,
                        const char *const *datasets, int n_datasets, sa_error *err);

/* ---- reading ---- */
typedef struct sa_traj_set {
    char *info_json;         /* the "info" object as compact JSON text ("{}" when absent) */
    sa_traj_sample *samples;
    int n_samples;
} sa_traj_set;

int sa_traj_read(const char *path, sa_traj_set **out, sa_error *err);
/* Same from memory (len bytes, need not be NUL-terminated); name labels error messages. */
int sa_traj_parse(const char *json, size_t len, const char *name, sa_traj_set **out, sa_error *err);
void sa_traj_set_free(sa_traj_set *set);

#ifdef __cplusplus
}
#endif
#endif
