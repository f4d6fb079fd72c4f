/* Internal to the SAM engine: the kernel tables, the model layout (views into one F32 weight arena), the
 * per-image state and the layer helpers shared by the encoder and the decoder. The thread pool the layers are
 * split over is base/pool.h. */
#ifndef SEGAGENT_SAM_INTERNAL_H
#define SEGAGENT_SAM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "segagent/sam.h"

#include "base/pool.h"
#include "kernels/kernels.h"

/* ---- kernels (kernels/kernels.h) ---- */
/* y (n x lin.out, ldy) = x (n x lin.in, ldx) W^T + b with m's kernels, threaded over the pool (or BLAS
 * threads). */
void sa__linear(const sa_sam_model *m, sa__pool *pool, const sa__lin *l, const float *x, int ldx,
                int n, float *y, int ldy);

/* ---- model ---- */
typedef struct sa__vit_block {
    sa__ln ln1, ln2;
    sa__lin qkv, proj, lin1, lin2;
    const float *rel_h,
        *rel_w; /* (2*S-1, head_dim), REVERSED (row j = table row 2S-2-j) and resampled to this
                                   block's attention side S: row kh of (rel_h + (S-1-qh)*hd) is the reference's
                                   rel_pos_h[qh - kh + S - 1], so each query row meets a contiguous slice */
    int side;   /* S: window side or grid side */
    int global;
} sa__vit_block;

typedef struct sa__attn {
    sa__lin q, k, v, o;
    int heads;
} sa__attn;

typedef struct sa__dec_layer {
    sa__attn self_attn, t2i, i2t;
    sa__ln n1, n2, n3, n4;
    sa__lin mlp1, mlp2;
} sa__dec_layer;

#define SA__MAX_MLP 8
typedef struct sa__mlp {
    sa__lin l[SA__MAX_MLP];
    int n;
} sa__mlp;

#define SA__MAX_MASK_TOKENS 16

struct sa_sam_model {
    sa_sam_arch arch;
    sa_sam_params params;
    const sa__kernels *k; /* params.kernels on this CPU */
    int grid;             /* g = S / patch */
    int head_dim;
    float *arena; /* converted / re-ordered weights, F32 */
    uint16_t *
        bf16; /* BF16 precision: the ViT blocks' linear weights, packed (their sa__lin.wb point here) */
    struct sa_weights
        *weights; /* the open checkpoint when F32 tensors are used in place (else NULL) */
    size_t arena_n;
    int64_t n_params;

    /* image encoder */
    const float *patch_w; /* (C, 3*p*p) */
    const float *patch_b; /* (C) */
    const float *pos;     /* (g, g, C) */
    sa__vit_block *blocks;
    const float *neck1_w; /* (D, C) */
    sa__ln neck_ln1, neck_ln2;
    const float *neck2_w; /* (D, D*9) */

    /* prompt encoder */
    const float *pe_gauss;          /* (2, D/2) */
    const float *point_embed[4];    /* (D) each */
    const float *not_a_point;       /* (D) */
    const float *no_mask;           /* (D) */
    const float *me_c1_w, *me_c1_b; /* (c4, 1*2*2), (c4) */
    sa__ln me_ln1;
    const float *me_c2_w, *me_c2_b; /* (c16, c4*2*2), (c16) */
    sa__ln me_ln2;
    sa__lin me_c3; /* (D, c16) */

    /* mask decoder */
    const float *iou_token;   /* (D) */
    const float *mask_tokens; /* (n_mask_tokens, D) */
    sa__dec_layer *dec_layers;
    sa__attn final_attn;
    sa__ln final_ln;
    sa__lin
        up1; /* (D/4*4, D) after re-ordering ConvTranspose (in, out, 2, 2) to ((out, ky, kx), in) */
    const float *up1_b;
    sa__ln up_ln;
    sa__lin
        up2; /* ((ky, kx, out) = 4*D/8, D/4) with the bias per row (see take_convT_by_subpixel) */
    sa__mlp hyper[SA__MAX_MASK_TOKENS];
    sa__mlp iou_head;
};

/* Per encoded image. */
struct sa_sam_image {
    const sa_sam_model *m;
    sa__pool *pool;    /* this image's own workers (params.threads at encoding) */
    int width, height; /* original */
    int new_w, new_h;  /* resized (longest side S) */
    float *embed;      /* (g*g, D) token-major */
    float *dense_pe;   /* (g*g, D) */
    /* decoder scratch: sized by the first prediction, grown only for a prompt with more tokens */
    float *scratch;
    size_t scratch_n;
    /* the first decoder layer's image-side projections of embed (+ dense_pe), which do not depend on the
     * prompt: t2i keys, t2i values, i2t queries, (g*g, I) each with their biases; computed by the first
     * prediction (fused_cross kernel sets only), NULL before */
    float *l0;
};

/* encoder / decoder internals (sam_encoder.c, sam_decoder.c) */
int sa__sam_encode(const sa_sam_model *m, sa__pool *pool, const sa_image *img,
                   sa_sam_probe_fn probe, void *ctx, float *embed, int *new_w, int *new_h,
                   sa_error *err);
void sa__sam_dense_pe(const sa_sam_model *m, float *pe);
/* Runs the decoder; writes low-res logits / iou of the selected masks; when mask_logits is non-NULL, the
 * full-size logits of mask `only` (or all masks when only < 0). */
int sa__sam_decode(sa_sam_image *e, const sa_sam_prompt *p, float *low_res, float *iou, int only,
                   float *mask_logits, sa_error *err);
/* Bilinear post-processing of one low-res map (lr x lr) to the original size (h x w); tmp needs new_h*new_w. */
void sa__sam_postprocess(const sa_sam_image *e, const float *low, float *out, float *tmp);
int sa__sam_validate_prompt(const sa_sam_image *e, const sa_sam_prompt *p, sa_error *err);

#endif
