/* Internal to the SimpleClick engine: the model layout (views into the checkpoint's F32 tensors,
 * plus one arena for the re-ordered transposed-convolution weights), the session, and the entry
 * points shared by the loader (sc_model.c), the network (sc_net.c), the predictor (sc_predict.c)
 * and the checker (sc_check.c). */
#ifndef SEGAGENT_SC_INTERNAL_H
#define SEGAGENT_SC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "segagent/simpleclick.h"
#include "segagent/weights.h"

#include "base/pool.h"
#include "kernels/kernels.h"

#define SC_MAX_DEPTH 128
#define SC_WINDOW_PIXELS 224 /* a windowed block's window covers 224 / patch tokens per side */

typedef struct sc_block {
    sa__ln ln1, ln2;
    sa__lin qkv, proj, fc1, fc2;
    int global;
} sc_block;

/* A 2x2 stride-2 transposed convolution as a linear layer: weight re-ordered from (in, out, 2, 2)
 * to
 * ((ky, kx, out), in) and the bias repeated per tap, so one product gives the four output pixels of
 * an input pixel as contiguous channel vectors. */
typedef struct sc_convt {
    sa__lin lin; /* out = 4 * channels */
    int channels;
} sc_convt;

typedef struct sc_gn {
    const float *w, *b; /* (n) */
    int n;
} sc_gn;

struct sa_sc_model {
    sa_sc_arch arch;
    sa_sc_params params;
    const sa__kernels *k;
    sa_weights *weights; /* the checkpoint (tensors used in place), NULL for a random model */
    float *arena;        /* random weights, or NULL */
    float *conv_arena;   /* re-ordered transposed-convolution weights and repeated biases */
    uint16_t
        *bf16; /* BF16 copies of the blocks' linear weights (sa__lin.wb), made when first needed */
    int64_t n_params;
    char **unused;
    int n_unused;

    sa__lin patch,
        patch_coords; /* (C, 3*p*p) each: conv k = s = p as a linear layer over (c, ky, kx) */
    const float *pos; /* (crop_h * crop_w, C): pos_embed without the cls slot */
    sc_block blocks[SC_MAX_DEPTH];
    /* neck (SimpleFPN) */
    sc_convt d4_up1, d4_up2;
    sc_gn d4_gn1, d4_gn2, d4_gn3;
    sa__lin d4_conv;
    sc_convt d8_up;
    sc_gn d8_gn1, d8_gn2;
    sa__lin d8_conv;
    sa__lin d16_conv;
    sc_gn d16_gn;
    sa__lin d32_down; /* conv 2x2 s2: (d32, C*4) over (c, ky, kx) */
    sc_gn d32_gn1, d32_gn2;
    sa__lin d32_conv;
    /* head */
    sa__lin head_convs[4];
    sa__lin fusion; /* (head, 4*head) */
    /* the fusion conv's columns of level l as (head, head) layers without bias: applied at each
     * level's own resolution before the resize, which is linear and commutes with them (a quarter
     * of the head's work) */
    sa__lin fusion_part[4];
    sa__lin seg; /* (1, head) */
};

struct sa_sc_session {
    const sa_sc_model *m;
    sa__pool *pool;
    int width, height;
    float *rgb; /* (3, H, W): RGB / 255 */
    float *pos; /* (gh * gw, C): pos_embed interpolated for the grid below */
    int pos_gh, pos_gw;
    float *act; /* activations of the last network call, reused while large enough */
    size_t act_n;
    sa_sc_probe_fn probe;
    void *probe_ctx;
    int probe_armed;
};

/* The network on a batch of inputs: x (B, 4, H, W) = [RGB / 255, previous probability map], points
 * (B, n, 3) per element as DistMaps takes them (positive rows then negative rows, (-1, -1, -1)
 * padding; double, rounded to float first unless params.points_f64). Writes logits (B, H, W) at the
 * input size. */
int sa__sc_forward(sa_sc_session *s, int B, int H, int W, const float *x, const double *points,
                   int n_points, float *logits, int probe, sa_error *err);
/* Bilinear resize of a (C, h, w) planar map to (C, H, W), PyTorch's CPU interpolate for float32. */
void sa__sc_resize_planar(const float *src, int C, int h, int w, float *dst, int H, int W,
                          int align_corners);

#endif
