/* SimpleClick in C: loads the published SimpleClick checkpoints (the `.pth` files its training code
 * saves, a dict with `state_dict` and `config`) and runs its click-to-mask predictor as
 * SimpleClick's and SegAgent's evaluations set it up (NoBRS, ZoomIn, horizontal-flip averaging,
 * threshold 0.49). See docs/simpleclick.md.
 *
 * As an interactive tool (what `--tool simpleclick --model PATH` builds):
 *   sa_sc_model *m = NULL;
 *   sa_sc_params p = sa_sc_default_params();       // ZoomIn 448, flip on, threshold 0.49, 2
 * threads if (sa_sc_model_load("cocolvis_vit_large.pth", p, &m, &err) != SA_OK) ...; sa_tool *tool
 * = NULL; sa_sc_tool_new(m, &tool, &err);                // the tool owns m afterwards
 *
 * Directly (what the parity checker does):
 *   sa_sc_session *s = NULL;
 *   sa_sc_session_new(m, &img, &s, &err);          // RGB image, copied
 *   sa_sc_click c[2] = {{.row = 120, .col = 200, .positive = 1}, {.row = 80, .col = 40, .positive =
 * 0}}; float *prob = malloc(w * h * sizeof(float));   // the predictor's output (also its next
 * state) int roi[4]; sa_sc_predict(s, c, 1, NULL, NULL, prob, roi, &err);   // first click: no
 * previous state sa_sc_predict(s, c, 2, prob, roi, prob, roi, &err);    // second: the previous
 * output and ROI as state
 *   ... mask = prob > params.prob_thresh ...
 *   sa_sc_session_free(s);
 *   sa_sc_model_free(m);
 *
 * SimpleClick runs the whole network on every click (the clicks enter at the patch embedding):
 * there is no per-image encoding to reuse. With flip on, the image and its mirror run as one batch
 * of two.
 *
 * Threads: params.threads workers in the session's own pool, one level of parallelism at a time
 * (the kernels are the SAM engine's, src/kernels/). Probabilities and masks do not depend on the
 * thread count (every output element is computed by the same operations whichever task computes
 * it).
 */
#ifndef SEGAGENT_SIMPLECLICK_H
#define SEGAGENT_SIMPLECLICK_H

#include <stdint.h>

#include "segagent/error.h"
#include "segagent/image.h"
#include "segagent/tool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_sc_model sa_sc_model;
typedef struct sa_sc_session sa_sc_session;

/* Kernel sets (the values of the shared kernels, as SA_SAM_KERNELS_*): FAST (default), BLAS,
 * REFERENCE (plain loops, the baseline). */
enum { SA_SC_KERNELS_FAST = 0, SA_SC_KERNELS_BLAS = 1, SA_SC_KERNELS_REFERENCE = 2 };

/* Precision of the ViT blocks' linear layers, as SA_SAM_PRECISION_*: FP32 (default) or BF16 (weights
 * converted once, inputs rounded to BF16 as the product reads them, sums, LayerNorm, softmax and residuals
 * in FP32). */
enum { SA_SC_PRECISION_FP32 = 0, SA_SC_PRECISION_BF16 = 1 };

typedef struct sa_sc_params {
    int threads;           /* 1..256 (default 2) */
    int kernels;           /* SA_SC_KERNELS_* (default FAST) */
    int zoom_in;           /* 1 (default): ZoomIn on the object's region after the first click */
    int flip;              /* 1 (default): average the logits of the image and its mirror */
    float prob_thresh;     /* mask = prob > prob_thresh (default 0.49, SegAgent's) */
    int zoom_target;       /* ZoomIn network input side (448) */
    double zoom_expansion; /* ROI growth about its centre (1.4) */
    int zoom_min_crop;     /* smallest ROI side (200) */
    double zoom_recompute_iou; /* a new ROI replaces the old one below this per-axis IoU product
                                  (0.5) */
    float zoom_prob_thresh;    /* ZoomIn's own object threshold on the previous map (0.5) */
    int points_f64; /* 1: network-frame clicks kept in double (SimpleClick's own evaluation, whose
                       clicks are numpy int64); 0 (default): rounded to float32 (SegAgent's) */
    int precision;  /* SA_SC_PRECISION_* (default FP32) */
    int reserved[5];
} sa_sc_params;

sa_sc_params sa_sc_default_params(void);

/* Architecture, derived from the checkpoint's tensor shapes and (heads only) its config. */
typedef struct sa_sc_arch {
    int patch;          /* patch side p (16, or 14 for ViT-H) */
    int width;          /* C */
    int depth;          /* blocks (a multiple of 4) */
    int heads;          /* from config backbone_params.num_heads */
    int mlp;            /* MLP hidden width */
    int crop_h, crop_w; /* training crop grid of pos_embed (in patches) */
    int prev_mask;   /* 1 when the coord features carry the previous probability map (3 channels) */
    int neck_out[4]; /* neck widths at 4x, 2x, 1x, 1/2x the patch grid */
    int neck_d4, neck_d8, neck_d32; /* neck hidden widths */
    int head;                       /* head channels */
    float norm_radius;              /* click disk radius (5) */
    float mean[3], std[3];
    int head_align_corners; /* the head's per-level resize (config head_params.align_corners) */
} sa_sc_arch;

/* Loads a SimpleClick .pth through the restricted unpickler (segagent/weights.h,
 * SA_PTH_SIMPLECLICK): every expected tensor present with its shape, F32, config class
 * isegm.model.is_plainvit_model.PlainVitModel. Errors: SA_ERR_IO, SA_ERR_FORMAT (not a zip,
 * truncated, missing or mis-shaped tensor: the message names it), SA_ERR_UNSUPPORTED (a pickle
 * global outside the allowlist, an unknown model class, a configuration the engine does not run),
 * SA_ERR_INVALID (bad params). */
int sa_sc_model_load(const char *path, sa_sc_params params, sa_sc_model **out, sa_error *err);
/* The same from a .pth image in memory (the buffer must outlive the model). For tests and fuzzing.
 */
int sa_sc_model_load_buffer(const uint8_t *buf, size_t n, sa_sc_params params, sa_sc_model **out,
                            sa_error *err);
/* Named presets for benchmarks: "vit_b", "vit_l", "vit_h", "xtiny" (448 crop). */
int sa_sc_arch_preset(const char *name, sa_sc_arch *out, sa_error *err);
/* A model with deterministic pseudo-random weights (no file). */
int sa_sc_model_random(const sa_sc_arch *arch, uint64_t seed, sa_sc_params params,
                       sa_sc_model **out, sa_error *err);
void sa_sc_model_free(sa_sc_model *m);
const sa_sc_arch *sa_sc_model_arch(const sa_sc_model *m);
const sa_sc_params *sa_sc_model_params(const sa_sc_model *m);
int64_t sa_sc_model_param_count(const sa_sc_model *m);
/* Checkpoint tensors the engine does not use (cls_token, fc_norm, the classifier head, up_conv*):
 * their count and names (valid while the model lives). */
int sa_sc_model_unused_count(const sa_sc_model *m);
const char *sa_sc_model_unused_name(const sa_sc_model *m, int i);
/* Changes predictor settings of a loaded model (not while a session uses it): threads, kernels,
 * zoom, flip, thresholds. SA_ERR_INVALID for values out of range (the model is unchanged). */
int sa_sc_model_set_params(sa_sc_model *m, sa_sc_params params, sa_error *err);
/* Multiply-adds of one network call at an input size (batch element; flip doubles it). */
double sa_sc_macs(const sa_sc_arch *a, int height, int width);

/* Optional probe with the network intermediates of batch element 0 of a call (for parity checks):
 * "input" [3, H, W] normalised; "coord_features" [3, H, W] (0/1 values as floats); "patch_embed",
 * "patch_embed_coords", "pos_embed", "block0".. as [gh, gw, C]; "neck0".."neck3" [C_l, h_l, w_l];
 * "head_logits" [4gh, 4gw]; "net_points" [n, 3] (the click rows the disks come from, in double).
 * data is only valid during the call. */
typedef void (*sa_sc_probe_fn)(void *ctx, const char *name, const float *data, const double *ddata,
                               const int64_t *shape, int ndim);

/* A session on one RGB image (copied). Keeps a pointer to m (m must outlive it). */
int sa_sc_session_new(const sa_sc_model *m, const sa_image *img, sa_sc_session **out,
                      sa_error *err);
void sa_sc_session_free(sa_sc_session *s);
void sa_sc_session_set_probe(sa_sc_session *s, sa_sc_probe_fn probe, void *ctx);
/* The image size, and the mask threshold of the model (its current params.prob_thresh). */
void sa_sc_session_size(const sa_sc_session *s, int *width, int *height);
float sa_sc_session_prob_thresh(const sa_sc_session *s);
/* The probe is called only on the next sa_sc_predict after this (then disarmed): 1 arms it. */
void sa_sc_session_arm_probe(sa_sc_session *s, int armed);

typedef struct sa_sc_click {
    int row, col; /* image pixels, inside the image */
    int positive; /* 1 object, 0 background */
} sa_sc_click;

/* One click of the predictor: all clicks so far (1..SA_MAX_CLICKS, inside the image), the previous
 * output (width*height probabilities; NULL before the first click) and the previous ROI (rmin,
 * rmax, cmin, cmax inclusive; NULL when none). Writes the new probabilities (may alias prev_prob)
 * and the ROI used (the whole image without ZoomIn). SA_ERR_RANGE for a click outside the image;
 * SA_ERR_UNSUPPORTED for an input size the network cannot run (without ZoomIn: a patch grid not
 * split exactly into 224-pixel windows). */
int sa_sc_predict(sa_sc_session *s, const sa_sc_click *clicks, int n_clicks, const float *prev_prob,
                  const int *prev_roi, float *prob, int *roi, sa_error *err);

/* The parity checker behind `segagent check-simpleclick` and the suite: runs every case of a
 * fixture folder (model.pth, image.png, cases.json, expected.safetensors;
 * ../shared/fixtures/simpleclick/README.md) click by click and compares every expected tensor
 * within the README's tolerances. report (may be NULL) gets one line per tensor. Returns SA_OK when
 * the run completed; *n_fail counts tensors out of tolerance (0 = parity). */
typedef struct sa_sc_check_params {
    int threads;
    int kernels;              /* SA_SC_KERNELS_* */
    const char *weights;      /* NULL: DIR/model.pth */
    const sa_sc_model *model; /* when set, used instead of loading weights (borrowed; its params are
                                 changed per case and restored) -- for tests */
} sa_sc_check_params;
typedef void (*sa_sc_report_fn)(void *ctx, const char *line);
sa_sc_check_params sa_sc_check_default_params(void);
int sa_sc_check_fixture(const char *dir, sa_sc_check_params params, sa_sc_report_fn report,
                        void *report_ctx, int *n_fail, sa_error *err);

/* Wraps the model as an interactive tool; the tool owns the model afterwards (also on failure).
 * Each prediction runs the predictor on all clicks with the previous result's probabilities
 * (req->prev->prob) and ROI (req->prev->aux, 4 values) as state; out->prob is the probability map,
 * out->aux the ROI. A refinement start mask (req->init_mask without prev) enters as the previous
 * map (1 inside, 0 outside). */
int sa_sc_tool_new(sa_sc_model *m, sa_tool **out, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
