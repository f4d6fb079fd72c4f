/* Segment Anything (SAM) in C: loads published checkpoints (HF safetensors, official .pth), runs the image
 * encoder once per image and the prompt encoder + mask decoder per click, matching the reference to float
 * precision. See docs/sam.md.
 *
 * As an interactive tool:
 *   sa_sam_model *m = NULL;
 *   sa_sam_params p = sa_sam_default_params();
 *   p.threads = 2;
 *   sa_sam_model_load("sam-vit-base/", p, &m, &err);
 *   sa_tool *tool = NULL;
 *   sa_sam_tool_new(m, &tool, &err);     // the tool takes ownership of m
 *
 * Directly (what the parity checker does):
 *   sa_sam_image *e = NULL;
 *   sa_sam_encode(m, &img, NULL, NULL, &e, &err);       // pre-processing + image encoder, once per image
 *   float pts[2] = {120.5f, 80.0f}; int labels[1] = {1};
 *   sa_sam_prompt pr = {.points = pts, .labels = labels, .n_points = 1, .multimask = 1};
 *   sa_sam_output out = {0};
 *   sa_sam_predict(e, &pr, &out, &err);                 // prompt encoder + mask decoder + post-processing
 *   ... out.mask_logits[k * h * w + y * w + x] > 0 is mask k ...
 *   sa_sam_output_free(&out);
 *   sa_sam_image_free(e);
 *
 * Threads: params.threads workers, one level of parallelism at a time. With the default FAST kernels a pthread
 * pool of the sa_sam_image's own splits every layer (row blocks of the linear layers, attention heads/windows,
 * element-wise work); inside a task the large linear layers call OpenBLAS single-threaded (measured faster per
 * core than our AVX-512 GEMM on the development CPU) and everything else runs our AVX-512 kernels. With the BLAS
 * kernel set the calling thread makes each linear layer one cblas_sgemm with OpenBLAS's own params.threads
 * threads while the pool idles. OpenBLAS's thread count is process-wide state (set to 1, or to params.threads,
 * before the calls). Masks do not depend on the thread count and logits are bit-identical across thread counts
 * in the tests (every output element is computed by the same operations whichever task computes it).
 * The GEMM kernels keep packing buffers on the stack (up to ~1.2 MiB in one call chain): call the encoder and
 * the predictions from threads with at least 2 MiB of stack (glibc's default is 8 MiB; pool workers get 4 MiB).
 */
#ifndef SEGAGENT_SAM_H
#define SEGAGENT_SAM_H

#include <stdint.h>

#include "segagent/error.h"
#include "segagent/image.h"
#include "segagent/tool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_sam_model sa_sam_model;
typedef struct sa_sam_image sa_sam_image; /* one encoded image: embedding + per-click scratch */

/* Kernel sets. SA_SAM_KERNELS_FAST: our AVX-512 kernels (GEMM micro-kernels, softmax with fused relative
 * positions, LayerNorm, GELU; plain C without AVX-512) plus single-threaded OpenBLAS for the large linear
 * layers, parallelised by our pool; SA_SAM_KERNELS_BLAS: linear layers as one multi-threaded cblas_sgemm each;
 * SA_SAM_KERNELS_REFERENCE: plain C loops everywhere (slow; the baseline the others are tested against, kept
 * beside each fast kernel). The set is resolved for the CPU once per model (at load, and again by
 * sa_sam_model_set_kernels), not at every call. */
enum { SA_SAM_KERNELS_FAST = 0, SA_SAM_KERNELS_BLAS = 1, SA_SAM_KERNELS_REFERENCE = 2 };

/* Precision of the image encoder's ViT linear layers (qkv, proj, MLP: nearly all of its multiply-adds).
 * SA_SAM_PRECISION_FP32 (default): FP32 throughout. SA_SAM_PRECISION_BF16: those weights converted to BF16 once
 * at load (round to nearest even; 2 bytes per weight more memory), their inputs rounded to BF16 as the product
 * reads them, products summed in FP32 (AVX-512 BF16 dot products when the CPU has them, else a plain loop);
 * attention, LayerNorm, softmax, residuals, the neck and the decoder stay FP32. Masks differ from FP32 in a
 * small fraction of boundary pixels (docs/sam.md gives the measured difference). */
enum { SA_SAM_PRECISION_FP32 = 0, SA_SAM_PRECISION_BF16 = 1 };

typedef struct sa_sam_params {
    int threads; /* worker threads (>= 1; default 2) */
    int multimask; /* tool only: 1 (default) = multimask output on the first click, keeping the mask with the
                       highest predicted IoU, single-mask output on later clicks (SAM's interactive use);
                       0 = single-mask output always */
    int kernels;   /* SA_SAM_KERNELS_* (default FAST) */
    int precision; /* SA_SAM_PRECISION_* (default FP32) */
    int reserved[6];
} sa_sam_params;

/* Architecture, derived from the checkpoint's tensor shapes (and config.json). Also the input of
 * sa_sam_model_random (benchmarks, tests). */
#define SA_SAM_MAX_LAYERS 64
typedef struct sa_sam_arch {
    int image_size;                /* S, input side (1024 for the published models) */
    int patch_size;                /* 16 */
    int width;                     /* encoder width C */
    int depth;                     /* encoder blocks */
    int heads;                     /* encoder heads (head dim = width / heads) */
    int mlp_dim;                   /* encoder MLP hidden width */
    int window;                    /* window side of the windowed blocks (14) */
    int global[SA_SAM_MAX_LAYERS]; /* 1 when block i attends globally */
    int out_chans;                 /* neck output = decoder width D */
    int dec_depth;                 /* two-way transformer layers (2) */
    int dec_heads;                 /* decoder attention heads (8) */
    int dec_mlp_dim;               /* decoder MLP hidden width (2048) */
    int dec_downsample;            /* cross-attention downsample rate (2) */
    int n_mask_tokens;             /* multimask outputs + 1 (4) */
    int iou_hidden;                /* IoU head hidden width (256) */
    int iou_depth;                 /* IoU head layers (3) */
    int mask_in_chans;             /* mask-prompt embedding channels (16) */
} sa_sam_arch;

sa_sam_params sa_sam_default_params(void);

/* Loads a checkpoint: an HF directory (model.safetensors[.index.json] + config.json), a .safetensors file or
 * an official .pth. Validates every tensor (presence, shape) and converts the weights to F32 in one arena. */
int sa_sam_model_load(const char *path, sa_sam_params params, sa_sam_model **out, sa_error *err);
/* Architecture presets for sa_sam_model_random: "vit_b", "vit_l", "vit_h", "slimsam50", "slimsam77".
 * Returns SA_ERR_NOT_FOUND for an unknown name. */
int sa_sam_arch_preset(const char *name, sa_sam_arch *out, sa_error *err);
/* A model with deterministic pseudo-random weights of the given architecture (no file). */
int sa_sam_model_random(const sa_sam_arch *arch, uint64_t seed, sa_sam_params params,
                        sa_sam_model **out, sa_error *err);
void sa_sam_model_free(sa_sam_model *m);
const sa_sam_arch *sa_sam_model_arch(const sa_sam_model *m);
/* Parameter count (all tensors the engine uses). */
int64_t sa_sam_model_param_count(const sa_sam_model *m);
/* Changes the thread count / kernel set of a loaded model (not while another thread uses it).
 * SA_ERR_INVALID for a thread count outside 1..256 or an unknown kernel set (the model is unchanged). */
int sa_sam_model_set_threads(sa_sam_model *m, int threads, sa_error *err);
int sa_sam_model_set_kernels(sa_sam_model *m, int kernels, sa_error *err);

/* Optional probe called with intermediate tensors during encoding (for parity checks):
 * "resized_image" (u8 data passed as floats, [h', w', 3]), "encoder.patch_embed" and "encoder.layerN"
 * ([g, g, C]), "image_embeddings" ([D, g, g]), "dense_pe" ([D, g, g]). data is only valid during the call. */
typedef void (*sa_sam_probe_fn)(void *ctx, const char *name, const float *data,
                                const int64_t *shape, int ndim);

/* Pre-processing + image encoder. img must be RGB. The result keeps a pointer to m (m must outlive it). */
int sa_sam_encode(const sa_sam_model *m, const sa_image *img, sa_sam_probe_fn probe,
                  void *probe_ctx, sa_sam_image **out, sa_error *err);
void sa_sam_image_free(sa_sam_image *e);
/* Low-res logit side (4 * grid, 256 for the published models). */
int sa_sam_low_res_size(const sa_sam_model *m);

/* A prompt in original-image pixels. */
typedef struct sa_sam_prompt {
    const float *points; /* n_points * 2 floats (x, y), may be NULL when n_points == 0 */
    const int *labels;   /* n_points labels: 1 positive, 0 negative, -1 padding (ignored point) */
    int n_points;        /* 0 .. SA_MAX_CLICKS */
    const float *box;    /* (x0, y0, x1, y1) or NULL; x0 <= x1, y0 <= y1 */
    const float *mask_input; /* previous low-res logits, mask_input_size^2 floats, or NULL */
    int mask_input_size;     /* must equal sa_sam_low_res_size() when mask_input is given */
    int multimask;           /* 1: masks 1..3 of the decoder; 0: mask 0 */
} sa_sam_prompt;

/* Results of one prediction; release with sa_sam_output_free. */
typedef struct sa_sam_output {
    int n_masks;           /* 3 multimask, 1 otherwise */
    int low_res;           /* side of the low-res logits */
    int width, height;     /* original image size */
    float *low_res_logits; /* n_masks * low_res * low_res */
    float *iou_pred;       /* n_masks */
    float *mask_logits;    /* n_masks * height * width */
} sa_sam_output;

/* Prompt encoder + mask decoder + post-processing to the original image size. Validates the prompt (a
 * point or box outside the image, a box with x1 < x0, a mask input of the wrong size are errors). Not
 * thread-safe on the same sa_sam_image (it holds the scratch). */
int sa_sam_predict(sa_sam_image *e, const sa_sam_prompt *p, sa_sam_output *out, sa_error *err);
void sa_sam_output_free(sa_sam_output *out);

/* The parity checker behind `segagent check-sam` and the test suite: runs the fixture folder's cases
 * (model.safetensors or the given weights, image.png, cases.json) and compares every tensor of
 * expected.safetensors within the fixture README's tolerances. report (may be NULL) is called with one line
 * per tensor. Returns SA_OK when the run completed; *n_fail counts tensors out of tolerance (0 = parity).
 * A cases.json that is not valid JSON (truncated, too deeply nested) is SA_ERR_PARSE saying so; one without a
 * "cases" array, or whose "image_hw" ([height, width]) is not image.png's size, is SA_ERR_FORMAT: outputs made
 * for another image never pass as parity. */
typedef struct sa_sam_check_params {
    int threads;
    int kernels;         /* SA_SAM_KERNELS_* */
    const char *weights; /* NULL: DIR/model.safetensors */
} sa_sam_check_params;
typedef void (*sa_sam_report_fn)(void *ctx, const char *line);
sa_sam_check_params sa_sam_check_default_params(void);
int sa_sam_check_fixture(const char *dir, sa_sam_check_params params, sa_sam_report_fn report,
                         void *report_ctx, int *n_fail, sa_error *err);

/* Wraps the model as an interactive tool; the tool owns the model afterwards (also on failure).
 * session_new encodes the image once; predict feeds the clicks as points (labels 1/0), the box if any, and the
 * previous result's low-res logits (req->prev->aux) as mask input; out->aux holds the chosen low-res logits,
 * out->prob the sigmoid of the full-size logits and out->score the predicted IoU. */
int sa_sam_tool_new(sa_sam_model *m, sa_tool **out, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
