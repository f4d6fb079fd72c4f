/* Training trajectories in the released SegAgent JSON format (docs/trajectories.md): the sample as held in
 * memory, its states, a streaming writer and a validating reader. Recording them is segagent/record.h.
 *
 *   sa_traj_sample smp = {0};                                    // filled by sa_traj_record (record.h)
 *   sa_traj_sample_set_meta(&smp, "000123.jpg", "1", captions, n_captions, &err);
 *
 *   sa_traj_writer *w = NULL;
 *   sa_traj_writer_open("traj.json", info_json, &w, &err);       // info_json: a JSON object text, or NULL
 *   sa_traj_writer_add(w, &smp, &err);                           // streamed: one sample at a time
 *   sa_traj_writer_close(w, &err);                               // the file appears complete, or not at all
 *   sa_traj_sample_free(&smp);
 *
 *   sa_traj_set *set = NULL;
 *   sa_traj_read("traj.json", &set, &err);                       // tolerant of extra keys; strict on shape
 *   ... set->samples[i].steps[t] ...
 *   sa_traj_set_free(set);
 *
 * JSON (one file per split):
 *   {"info": {...}, "data": [{"image_name", "height", "width",
 *     "gt_ann": {"object_id", "caption": [...], "segmentation": {"size":[h,w],"counts":"..."},
 *                "bbox": [x,y,w,h], "area"},
 *     "init_mask": <RLE>, "init_iou", "init_kind",          (ours, only for a non-empty starting state)
 *     "clicks_list": [{"idx", "coor": [y,x], "is_positive", "mask": <RLE>, "box": [x,y,w,h], "area", "iou",
 *                      "source" (ours, StaR+ only: "policy" / "expert")}]}]}
 *   idx is the 0-based click index, coor is (y, x) in pixels, is_positive a JSON boolean, area an integer,
 *   bbox/box floats as pycocotools' toBbox, iou a float. RLE strings are pycocotools' compressed form.
 *   The file is valid UTF-8: bytes of a name or caption that are not are written as U+FFFD.
 *
 * Reading is tolerant of unknown keys, of object_id as a number, a string or a short list (SegAgent's [i, 1], kept
 * as its JSON text), of caption as a string, a list or null, of RLE counts given uncompressed (arrays), and of
 * is_positive given as 0/1. It is strict about shape:
 * a missing or mistyped required key, an RLE whose size differs from the sample's height/width, or a
 * truncated file is SA_ERR_FORMAT / SA_ERR_PARSE with one line naming the file, the sample index and the key.
 */
#ifndef SEGAGENT_TRAJECTORY_H
#define SEGAGENT_TRAJECTORY_H

#include <stddef.h>
#include <stdint.h>

#include "segagent/error.h"
#include "segagent/mask.h"
#include "segagent/action.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SA_TRAJ_MAX_FILE_BYTES ((size_t)4 << 30) /* refuse trajectory files above 4 GiB */

/* One recorded click and the state after it. */
typedef struct sa_traj_step {
    int idx;        /* 0-based click index */
    sa_click click; /* (y, x) pixels, positive flag */
    char *
        mask; /* compressed COCO RLE counts of the mask after the click (size = sample height, width) */
    double box[4]; /* [x, y, w, h] of that mask */
    uint64_t area; /* pixels in that mask */
    double iou;    /* IoU of that mask with gt */
    char source
        [8]; /* who chose the click: "policy" or "expert" (StaR+, starplus.h); "" = not recorded,
                       and then no "source" key is written */
} sa_traj_step;

/* One object's trajectory. All strings malloc'd and owned; free with sa_traj_sample_free. */
typedef struct sa_traj_sample {
    char *image_name;
    int height, width;
    char *object_id; /* text of the id; written as a JSON number when it is an integer literal */
    char **captions; /* n_captions strings (may be 0) */
    int n_captions;
    char *gt; /* compressed RLE of the ground truth */
    double gt_bbox[4];
    uint64_t gt_area;
    char *init_mask; /* compressed RLE of a non-empty starting state M_0, or NULL (empty start) */
    double init_iou; /* IoU(M_0, gt); 0 for the empty start */
    char *init_kind; /* "box" / "random-clicks" (or what a file says), NULL for the empty start */
    sa_traj_step *steps;
    int n_steps;
} sa_traj_sample;

void sa_traj_sample_free(
    sa_traj_sample *s); /* frees contents and zeroes; safe on a zeroed struct */

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

/* Starts writing path (to a temporary file in the same folder) and writes the header. info_json is a JSON
 * object text placed under "info" (NULL -> {}); it is validated. */
int sa_traj_writer_open(const char *path, const char *info_json, sa_traj_writer **out,
                        sa_error *err);
int sa_traj_writer_add(sa_traj_writer *w, const sa_traj_sample *s, sa_error *err);
/* One sample as the writer writes it (a compact JSON object, malloc'd), e.g. to keep it in a part file;
 * sa_traj_parse of {"data": [<it>]} reads it back. NULL with err set when out of memory. */
char *sa_traj_sample_json(const sa_traj_sample *s, sa_error *err);
long sa_traj_writer_count(const sa_traj_writer *w);
/* Writes the closing brackets, flushes, and renames the file into place (reports any write error since open;
 * then nothing is left at the path but what was there before); frees w. w may be NULL. */
int sa_traj_writer_close(sa_traj_writer *w, sa_error *err);
/* Discards: removes the temporary file (the path keeps what it held before); frees w. w may be NULL. */
void sa_traj_writer_abort(sa_traj_writer *w);

/* ---- reading ---- */
typedef struct sa_traj_set {
    char *info_json; /* the "info" object as compact JSON text ("{}" when absent) */
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
