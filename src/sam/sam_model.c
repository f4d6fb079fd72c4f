/* SAM model loading: derives the architecture from tensor shapes (and config.json where shapes cannot say, e.g.
 * the decoder's head count), validates every tensor the engine uses (present, right shape, finite) and converts
 * F16/BF16 ones to F32 in one arena; F32 tensors of the (memory-mapped) checkpoint are used in place, so peak
 * memory stays near one copy of the weights. The same binding code runs twice: a sizing pass that validates and
 * counts, then a fill pass. With no weights it fills deterministic pseudo-random values instead
 * (sa_sam_model_random, for the benchmark), so the engine sees one layout whatever the source.
 *
 * Names: the binding code knows only the Hugging Face names; an official .pth is renamed to them right after
 * opening (sa__sam_map_weights, sam_names.c), since the generic weights loader keeps names as stored.
 * Kernels: the model's kernel table (m->k) is chosen here, once, from params.kernels and the CPU.
 *
 * Layout changes at load: ConvTranspose weights (in, out, 2, 2) are re-ordered to ((out, ky, kx), in) so the
 * decoder's up-scaling is a plain linear layer; relative-position tables whose length is not 2*S-1 are
 * resampled linearly (align_corners=False), as the reference's get_rel_pos does. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "sam/sam_internal.h"
#include "sam/sam_names.h"
#include "segagent/weights.h"

sa_sam_params sa_sam_default_params(void) {
    sa_sam_params p;
    memset(&p, 0, sizeof p);
    p.threads = 2;
    p.multimask = 1;
    p.kernels = SA_SAM_KERNELS_FAST;
    return p;
}

typedef struct loader {
    const sa_weights *w; /* NULL: random values */
    const char *what;    /* source name for messages */
    uint64_t rng;
    float *arena; /* NULL in the sizing pass */
    size_t off;
    int64_t n_params;
    int rc;
    sa_error *err;
} loader;

enum { T_WEIGHT, T_BIAS, T_NORM_W, T_NORM_B };

/* The Fourier matrix is tied: HF files store it at the top level, a mapped official checkpoint under the
 * prompt encoder; either serves. */
static const sa_tensor *find_tensor(const sa_weights *w, const char *name) {
    const sa_tensor *t = sa_weights_find(w, name);
    if (!t && !strcmp(name, SA__SAM_PE_SHARED)) t = sa_weights_find(w, SA__SAM_PE_PROMPT);
    return t;
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *d) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (int i = 0; i < ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)d[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

/* Reserves numel floats; in the fill pass loads them. Returns the arena pointer (NULL in the sizing pass or
 * after an error). kind selects the random initialisation. */
static float *take_n(loader *L, int kind, const char *name, int ndim, const int64_t *dims) {
    if (L->rc != SA_OK) return NULL;
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] <= 0 || numel > ((int64_t)1 << 40) / dims[i]) {
            L->rc = sa_error_set(L->err, SA_ERR_RANGE,
                                 "%s: tensor '%s' has an impossible expected size", L->what, name);
            return NULL;
        }
        numel *= dims[i];
    }
    if (L->w) {
        const sa_tensor *t = find_tensor(L->w, name);
        if (!t) {
            L->rc =
                sa_error_set(L->err, SA_ERR_NOT_FOUND, "%s: tensor '%s' is missing", L->what, name);
            return NULL;
        }
        int same = t->ndim == ndim;
        for (int i = 0; same && i < ndim; i++)
            same = t->shape[i] == dims[i];
        if (!same) {
            char a[128], b[128];
            shape_str(a, sizeof a, t->ndim, t->shape);
            shape_str(b, sizeof b, ndim, dims);
            L->rc = sa_error_set(L->err, SA_ERR_RANGE, "%s: tensor '%s' has shape %s, expected %s",
                                 L->what, name, a, b);
            return NULL;
        }
    }
    if (L->w) {
        /* F32 data in the (mapped) checkpoint is used in place: no second copy of the weights in memory */
        const sa_tensor *t = find_tensor(L->w, name);
        if (t->dtype == SA_DTYPE_F32 && ((uintptr_t)t->data % sizeof(float)) == 0) {
            L->n_params += numel;
            if (!L->arena) return NULL;
            float *p = (float *)(uintptr_t)t->data;
            for (int64_t i = 0; i < numel; i++)
                if (!isfinite(p[i])) {
                    L->rc = sa_error_set(L->err, SA_ERR_RANGE,
                                         "%s: tensor '%s' holds a non-finite value at %lld",
                                         L->what, name, (long long)i);
                    return NULL;
                }
            return p;
        }
    }
    float *dst = L->arena ? L->arena + L->off : NULL;
    L->off += (size_t)numel;
    L->n_params += numel;
    if (!dst) return NULL;
    if (L->w) {
        int rc = sa_tensor_to_f32(find_tensor(L->w, name), dst, numel, L->err);
        if (rc != SA_OK) {
            L->rc = sa_error_prefix(L->err, "%s: tensor '%s': ", L->what, name);
            return NULL;
        }
        for (int64_t i = 0; i < numel; i++)
            if (!isfinite(dst[i])) {
                L->rc = sa_error_set(L->err, SA_ERR_RANGE,
                                     "%s: tensor '%s' holds a non-finite value at %lld", L->what,
                                     name, (long long)i);
                return NULL;
            }
    } else {
        int64_t fan_in = ndim >= 2 ? numel / dims[0] : 1;
        float a = kind == T_WEIGHT ? 1.0f / sqrtf((float)fan_in) : 0.1f;
        for (int64_t i = 0; i < numel; i++)
            dst[i] = (kind == T_NORM_W ? 1.0f : 0.0f) + a * sa__rng_uniform_pm1(&L->rng);
    }
    return dst;
}

static float *take(loader *L, int kind, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                   const char *fmt, ...) __attribute__((format(printf, 8, 9)));
static float *take(loader *L, int kind, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                   const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int64_t dims[4] = {d0, d1, d2, d3};
    return take_n(L, kind, name, ndim, dims);
}

/* Scratch floats in the arena that are not parameters (re-ordered or resampled copies). */
static float *reserve(loader *L, size_t n) {
    if (L->rc != SA_OK) return NULL;
    float *p = L->arena ? L->arena + L->off : NULL;
    L->off += n;
    return p;
}

static sa__lin take_lin(loader *L, int out, int in, int bias, const char *prefix) {
    sa__lin l = {.out = out, .in = in};
    l.w = take(L, T_WEIGHT, 2, out, in, 0, 0, "%s.weight", prefix);
    if (bias) l.b = take(L, T_BIAS, 1, out, 0, 0, 0, "%s.bias", prefix);
    return l;
}

static sa__ln take_ln(loader *L, int n, const char *prefix) {
    sa__ln ln = {.n = n};
    ln.w = take(L, T_NORM_W, 1, n, 0, 0, 0, "%s.weight", prefix);
    ln.b = take(L, T_NORM_B, 1, n, 0, 0, 0, "%s.bias", prefix);
    return ln;
}

static sa__attn take_attn(loader *L, int dim, int internal, int heads, const char *prefix) {
    char p[200];
    sa__attn a = {.heads = heads};
    snprintf(p, sizeof p, "%.180s.q_proj", prefix);
    a.q = take_lin(L, internal, dim, 1, p);
    snprintf(p, sizeof p, "%.180s.k_proj", prefix);
    a.k = take_lin(L, internal, dim, 1, p);
    snprintf(p, sizeof p, "%.180s.v_proj", prefix);
    a.v = take_lin(L, internal, dim, 1, p);
    snprintf(p, sizeof p, "%.180s.out_proj", prefix);
    a.o = take_lin(L, dim, internal, 1, p);
    return a;
}

/* HF 3-layer (n-layer) MLP: proj_in, layers.0 .. layers.n-3, proj_out. */
static sa__mlp take_mlp(loader *L, int in, int hidden, int out, int n, const char *prefix) {
    sa__mlp m = {.n = n};
    char p[200];
    snprintf(p, sizeof p, "%.180s.proj_in", prefix);
    m.l[0] = take_lin(L, hidden, in, 1, p);
    for (int i = 1; i < n - 1; i++) {
        snprintf(p, sizeof p, "%.180s.layers.%d", prefix, i - 1);
        m.l[i] = take_lin(L, hidden, hidden, 1, p);
    }
    snprintf(p, sizeof p, "%.180s.proj_out", prefix);
    m.l[n - 1] = take_lin(L, out, hidden, 1, p);
    return m;
}

/* ConvTranspose2d 2x2 stride 2: (in, out, 2, 2) -> linear ((out, ky, kx), in). */
static sa__lin take_convT(loader *L, int in, int out, const char *name) {
    sa__lin l = {.out = out * 4, .in = in};
    const float *w = take(L, T_WEIGHT, 4, in, out, 2, 2, "%s", name);
    float *t = reserve(L, (size_t)in * out * 4);
    if (w && t)
        for (int i = 0; i < in; i++)
            for (int o = 0; o < out * 4; o++)
                t[(size_t)o * in + i] = w[(size_t)i * out * 4 + o];
    l.w = t;
    return l;
}

/* upscale_conv2 as a linear layer whose rows are ordered ((ky, kx), out), with the conv's bias repeated per
 * (ky, kx): the decoder's fused last stage then finds each subpixel's channels side by side. */
static sa__lin take_convT_by_subpixel(loader *L, int in, int out, const char *wname,
                                      const char *bname) {
    sa__lin l = {.out = out * 4, .in = in};
    const float *w = take(L, T_WEIGHT, 4, in, out, 2, 2, "%s", wname);
    const float *b = take(L, T_BIAS, 1, out, 0, 0, 0, "%s", bname);
    float *t = reserve(L, (size_t)in * out * 4), *tb = reserve(L, (size_t)out * 4);
    if (w && b && t && tb)
        for (int k = 0; k < 4; k++)
            for (int o = 0; o < out; o++) {
                tb[k * out + o] = b[o];
                for (int i = 0; i < in; i++)
                    t[((size_t)k * out + o) * in + i] = w[((size_t)i * out + o) * 4 + k];
            }
    l.w = t;
    l.b = tb;
    return l;
}

/* Relative-position table resampled to 2*side-1 rows (F.interpolate linear, align_corners=False), stored in
 * reverse row order (see sa__vit_block). */
static const float *take_rel(loader *L, int rows, int hd, int side, const char *name) {
    float *t = take(L, T_WEIGHT, 2, rows, hd, 0, 0, "%s", name);
    int want = 2 * side - 1;
    float *rev = reserve(L, (size_t)want * hd);
    if (rows == want) {
        if (t && rev)
            for (int i = 0; i < want; i++)
                memcpy(rev + (size_t)(want - 1 - i) * hd, t + (size_t)i * hd,
                       (size_t)hd * sizeof(float));
        return rev;
    }
    float *r = reserve(L, (size_t)want * hd);
    if (!t || !r || !rev) return rev;
    float scale = (float)rows / (float)want;
    for (int i = 0; i < want; i++) {
        float src = ((float)i + 0.5f) * scale - 0.5f;
        if (src < 0) src = 0;
        int i0 = (int)src;
        int i1 = i0 + (i0 < rows - 1);
        float l1 = src - (float)i0, l0 = 1.0f - l1;
        for (int c = 0; c < hd; c++)
            r[(size_t)i * hd + c] = l0 * t[(size_t)i0 * hd + c] + l1 * t[(size_t)i1 * hd + c];
    }
    for (int i = 0; i < want; i++)
        memcpy(rev + (size_t)(want - 1 - i) * hd, r + (size_t)i * hd, (size_t)hd * sizeof(float));
    return rev;
}

/* Binds (or sizes) every tensor. Returns L->rc. */
static int bind_all(loader *L, sa_sam_model *m, const int *rel_rows) {
    const sa_sam_arch *a = &m->arch;
    const int C = a->width, g = m->grid, D = a->out_chans, P = a->patch_size, hd = m->head_dim;
    char p[200];
    m->patch_w = take(L, T_WEIGHT, 4, C, 3, P, P, "vision_encoder.patch_embed.projection.weight");
    m->patch_b = take(L, T_BIAS, 1, C, 0, 0, 0, "vision_encoder.patch_embed.projection.bias");
    m->pos = take(L, T_BIAS, 4, 1, g, g, C, "vision_encoder.pos_embed");
    for (int i = 0; i < a->depth; i++) {
        sa__vit_block *b = &m->blocks[i];
        b->global = a->global[i];
        b->side = b->global ? g : a->window;
        snprintf(p, sizeof p, "vision_encoder.layers.%d.layer_norm1", i);
        b->ln1 = take_ln(L, C, p);
        snprintf(p, sizeof p, "vision_encoder.layers.%d.layer_norm2", i);
        b->ln2 = take_ln(L, C, p);
        snprintf(p, sizeof p, "vision_encoder.layers.%d.attn.qkv", i);
        b->qkv = take_lin(L, 3 * C, C, 1, p);
        snprintf(p, sizeof p, "vision_encoder.layers.%d.attn.proj", i);
        b->proj = take_lin(L, C, C, 1, p);
        int rows = rel_rows ? rel_rows[i] : 2 * b->side - 1;
        snprintf(p, sizeof p, "vision_encoder.layers.%d.attn.rel_pos_h", i);
        b->rel_h = take_rel(L, rows, hd, b->side, p);
        snprintf(p, sizeof p, "vision_encoder.layers.%d.attn.rel_pos_w", i);
        b->rel_w = take_rel(L, rows, hd, b->side, p);
        snprintf(p, sizeof p, "vision_encoder.layers.%d.mlp.lin1", i);
        b->lin1 = take_lin(L, a->mlp_dim, C, 1, p);
        snprintf(p, sizeof p, "vision_encoder.layers.%d.mlp.lin2", i);
        b->lin2 = take_lin(L, C, a->mlp_dim, 1, p);
    }
    m->neck1_w = take(L, T_WEIGHT, 4, D, C, 1, 1, "vision_encoder.neck.conv1.weight");
    m->neck_ln1 = take_ln(L, D, "vision_encoder.neck.layer_norm1");
    m->neck2_w = take(L, T_WEIGHT, 4, D, D, 3, 3, "vision_encoder.neck.conv2.weight");
    m->neck_ln2 = take_ln(L, D, "vision_encoder.neck.layer_norm2");

    m->pe_gauss = take(L, T_NORM_W, 2, 2, D / 2, 0, 0, SA__SAM_PE_SHARED);
    for (int i = 0; i < 4; i++)
        m->point_embed[i] =
            take(L, T_BIAS, 2, 1, D, 0, 0, "prompt_encoder.point_embed.%d.weight", i);
    m->not_a_point = take(L, T_BIAS, 2, 1, D, 0, 0, "prompt_encoder.not_a_point_embed.weight");
    m->no_mask = take(L, T_BIAS, 2, 1, D, 0, 0, "prompt_encoder.no_mask_embed.weight");
    const int c16 = a->mask_in_chans, c4 = a->mask_in_chans / 4;
    m->me_c1_w = take(L, T_WEIGHT, 4, c4, 1, 2, 2, "prompt_encoder.mask_embed.conv1.weight");
    m->me_c1_b = take(L, T_BIAS, 1, c4, 0, 0, 0, "prompt_encoder.mask_embed.conv1.bias");
    m->me_ln1 = take_ln(L, c4, "prompt_encoder.mask_embed.layer_norm1");
    m->me_c2_w = take(L, T_WEIGHT, 4, c16, c4, 2, 2, "prompt_encoder.mask_embed.conv2.weight");
    m->me_c2_b = take(L, T_BIAS, 1, c16, 0, 0, 0, "prompt_encoder.mask_embed.conv2.bias");
    m->me_ln2 = take_ln(L, c16, "prompt_encoder.mask_embed.layer_norm2");
    m->me_c3.out = D;
    m->me_c3.in = c16;
    m->me_c3.w = take(L, T_WEIGHT, 4, D, c16, 1, 1, "prompt_encoder.mask_embed.conv3.weight");
    m->me_c3.b = take(L, T_BIAS, 1, D, 0, 0, 0, "prompt_encoder.mask_embed.conv3.bias");

    m->iou_token = take(L, T_BIAS, 2, 1, D, 0, 0, "mask_decoder.iou_token.weight");
    m->mask_tokens =
        take(L, T_BIAS, 2, a->n_mask_tokens, D, 0, 0, "mask_decoder.mask_tokens.weight");
    const int inner = D / a->dec_downsample;
    for (int i = 0; i < a->dec_depth; i++) {
        sa__dec_layer *l = &m->dec_layers[i];
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.self_attn", i);
        l->self_attn = take_attn(L, D, D, a->dec_heads, p);
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.cross_attn_token_to_image", i);
        l->t2i = take_attn(L, D, inner, a->dec_heads, p);
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.cross_attn_image_to_token", i);
        l->i2t = take_attn(L, D, inner, a->dec_heads, p);
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.layer_norm1", i);
        l->n1 = take_ln(L, D, p);
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.layer_norm2", i);
        l->n2 = take_ln(L, D, p);
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.layer_norm3", i);
        l->n3 = take_ln(L, D, p);
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.layer_norm4", i);
        l->n4 = take_ln(L, D, p);
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.mlp.lin1", i);
        l->mlp1 = take_lin(L, a->dec_mlp_dim, D, 1, p);
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.mlp.lin2", i);
        l->mlp2 = take_lin(L, D, a->dec_mlp_dim, 1, p);
    }
    m->final_attn =
        take_attn(L, D, inner, a->dec_heads, "mask_decoder.transformer.final_attn_token_to_image");
    m->final_ln = take_ln(L, D, "mask_decoder.transformer.layer_norm_final_attn");
    m->up1 = take_convT(L, D, D / 4, "mask_decoder.upscale_conv1.weight");
    m->up1_b = take(L, T_BIAS, 1, D / 4, 0, 0, 0, "mask_decoder.upscale_conv1.bias");
    m->up_ln = take_ln(L, D / 4, "mask_decoder.upscale_layer_norm");
    m->up2 = take_convT_by_subpixel(L, D / 4, D / 8, "mask_decoder.upscale_conv2.weight",
                                    "mask_decoder.upscale_conv2.bias");
    for (int i = 0; i < a->n_mask_tokens; i++) {
        snprintf(p, sizeof p, "mask_decoder.output_hypernetworks_mlps.%d", i);
        m->hyper[i] = take_mlp(L, D, D, D / 8, 3, p);
    }
    m->iou_head = take_mlp(L, D, a->iou_hidden, a->n_mask_tokens, a->iou_depth,
                           "mask_decoder.iou_prediction_head");
    return L->rc;
}

static int check_arch(const sa_sam_arch *a, sa_error *err) {
    if (a->patch_size <= 0 || a->image_size <= 0 || a->image_size % a->patch_size ||
        a->image_size / a->patch_size > 1024)
        return sa_error_set(err, SA_ERR_FORMAT, "SAM: image size %d / patch size %d unusable",
                            a->image_size, a->patch_size);
    if (a->width <= 0 || a->heads <= 0 || a->width % a->heads || a->width > 65536)
        return sa_error_set(err, SA_ERR_FORMAT, "SAM: width %d not divisible into %d heads",
                            a->width, a->heads);
    if (a->depth <= 0 || a->depth > SA_SAM_MAX_LAYERS)
        return sa_error_set(err, SA_ERR_FORMAT, "SAM: encoder depth %d (allowed 1..%d)", a->depth,
                            SA_SAM_MAX_LAYERS);
    if (a->mlp_dim <= 0 || a->mlp_dim > 1 << 20 || a->window <= 0 || a->window > 1024)
        return sa_error_set(err, SA_ERR_FORMAT, "SAM: MLP width %d / window %d unusable",
                            a->mlp_dim, a->window);
    if (a->out_chans <= 0 || a->out_chans % 8 || a->out_chans > 65536)
        return sa_error_set(err, SA_ERR_FORMAT, "SAM: decoder width %d (must be a multiple of 8)",
                            a->out_chans);
    if (a->dec_depth <= 0 || a->dec_depth > SA_SAM_MAX_LAYERS || a->dec_heads <= 0 ||
        a->dec_downsample <= 0 || a->out_chans % a->dec_downsample ||
        (a->out_chans / a->dec_downsample) % a->dec_heads || a->out_chans % a->dec_heads)
        return sa_error_set(err, SA_ERR_FORMAT,
                            "SAM: decoder depth %d / heads %d / downsample %d unusable",
                            a->dec_depth, a->dec_heads, a->dec_downsample);
    if (a->dec_mlp_dim <= 0 || a->dec_mlp_dim > 1 << 20)
        return sa_error_set(err, SA_ERR_FORMAT, "SAM: decoder MLP width %d unusable",
                            a->dec_mlp_dim);
    if (a->n_mask_tokens < 2 || a->n_mask_tokens > SA__MAX_MASK_TOKENS)
        return sa_error_set(err, SA_ERR_FORMAT, "SAM: %d mask tokens (allowed 2..%d)",
                            a->n_mask_tokens, SA__MAX_MASK_TOKENS);
    if (a->iou_depth < 2 || a->iou_depth > SA__MAX_MLP || a->iou_hidden <= 0 ||
        a->iou_hidden > 1 << 20)
        return sa_error_set(err, SA_ERR_FORMAT, "SAM: IoU head depth %d / width %d unusable",
                            a->iou_depth, a->iou_hidden);
    if (a->mask_in_chans < 4 || a->mask_in_chans % 4 || a->mask_in_chans > 65536)
        return sa_error_set(err, SA_ERR_FORMAT, "SAM: mask embedding width %d unusable",
                            a->mask_in_chans);
    return SA_OK;
}

/* Allocates the model and binds weights (w) or random values (w == NULL). */
/* BF16 precision: the ViT blocks' four linear layers get BF16 copies of their weights (sa__lin.wb). */
static int pack_bf16(sa_sam_model *m, const char *what, sa_error *err) {
    size_t total = 0;
    for (int d = 0; d < m->arch.depth; d++) {
        sa__lin *ls[4] = {&m->blocks[d].qkv, &m->blocks[d].proj, &m->blocks[d].lin1,
                          &m->blocks[d].lin2};
        for (int j = 0; j < 4; j++)
            total += sa__bf16_packed_size(ls[j]->out, ls[j]->in);
    }
    m->bf16 = malloc((total ? total : 1) * sizeof(uint16_t));
    if (!m->bf16)
        return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory for %zu BF16 weights", what,
                            total);
    size_t off = 0;
    for (int d = 0; d < m->arch.depth; d++) {
        sa__lin *ls[4] = {&m->blocks[d].qkv, &m->blocks[d].proj, &m->blocks[d].lin1,
                          &m->blocks[d].lin2};
        for (int j = 0; j < 4; j++) {
            sa__bf16_pack_w(ls[j]->w, ls[j]->out, ls[j]->in, m->bf16 + off);
            ls[j]->wb = m->bf16 + off;
            off += sa__bf16_packed_size(ls[j]->out, ls[j]->in);
        }
    }
    return SA_OK;
}

static int build(const sa_sam_arch *arch, const sa_weights *w, const char *what,
                 const int *rel_rows, uint64_t seed, sa_sam_params params, sa_sam_model **out,
                 sa_error *err) {
    int rc = check_arch(arch, err);
    if (rc != SA_OK) {
        sa_error_prefix(
            err, "%s: ", what); /* the architecture came from this file (or its config.json) */
        return rc;
    }
    if (params.threads < 1) params.threads = 1;
    if (params.threads > 256) params.threads = 256;
    sa_sam_model *m = calloc(1, sizeof *m);
    if (!m) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", what);
    m->arch = *arch;
    if (params.precision != SA_SAM_PRECISION_BF16) params.precision = SA_SAM_PRECISION_FP32;
    m->params = params;
    /* once per model: the layers call through m->k */
    m->k = sa__kernels_select_precision(params.kernels, params.precision);
    m->grid = arch->image_size / arch->patch_size;
    m->head_dim = arch->width / arch->heads;
    m->blocks = calloc((size_t)arch->depth, sizeof *m->blocks);
    m->dec_layers = calloc((size_t)arch->dec_depth, sizeof *m->dec_layers);
    if (!m->blocks || !m->dec_layers) {
        sa_sam_model_free(m);
        return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", what);
    }
    loader L = {.w = w, .what = what, .rng = seed, .err = err};
    rc = bind_all(&L, m, rel_rows);
    if (rc == SA_OK) {
        m->arena_n = L.off;
        m->arena = malloc((L.off ? L.off : 1) * sizeof(float));
        if (!m->arena)
            rc = sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory for %zu weights", what, L.off);
    }
    if (rc == SA_OK) {
        loader L2 = {.w = w, .what = what, .rng = seed, .arena = m->arena, .err = err};
        rc = bind_all(&L2, m, rel_rows);
        m->n_params = L2.n_params;
    }
    if (rc == SA_OK && params.precision == SA_SAM_PRECISION_BF16) rc = pack_bf16(m, what, err);
    if (rc != SA_OK) {
        sa_sam_model_free(m);
        return rc;
    }
    *out = m;
    return SA_OK;
}

static int64_t dim_of(const sa_weights *w, const char *name, int ndim, int axis) {
    const sa_tensor *t = find_tensor(w, name);
    if (!t || t->ndim != ndim) return -1;
    return t->shape[axis];
}

static int need_dim(const sa_weights *w, const char *what, const char *name, int ndim, int axis,
                    int *dst, sa_error *err) {
    const sa_tensor *t = find_tensor(w, name);
    if (!t) return sa_error_set(err, SA_ERR_NOT_FOUND, "%s: tensor '%s' is missing", what, name);
    if (t->ndim != ndim || t->shape[axis] <= 0 || t->shape[axis] > (1 << 24))
        return sa_error_set(err, SA_ERR_RANGE, "%s: tensor '%s' has an unexpected shape (%d dims)",
                            what, name, t->ndim);
    *dst = (int)t->shape[axis];
    return SA_OK;
}

static int json_int(const cJSON *obj, const char *key, int def) {
    const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    return cJSON_IsNumber(v) ? v->valueint : def;
}

/* Derives the architecture from tensor shapes; config.json only fills what shapes cannot give. */
static int derive_arch(const sa_weights *w, const char *what, sa_sam_arch *a, int *rel_rows,
                       sa_error *err) {
    memset(a, 0, sizeof *a);
    cJSON *cfg = NULL;
    const char *js = sa_weights_config_json(w);
    if (js) cfg = cJSON_Parse(js);
    const cJSON *vc = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "vision_config") : NULL;
    const cJSON *dc = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "mask_decoder_config") : NULL;
    int rc, g = 0, hd = 0;
    char name[200];
    if ((rc = need_dim(w, what, "vision_encoder.pos_embed", 4, 1, &g, err)) != SA_OK) goto done;
    if ((rc = need_dim(w, what, "vision_encoder.pos_embed", 4, 3, &a->width, err)) != SA_OK)
        goto done;
    if ((rc = need_dim(w, what, "vision_encoder.patch_embed.projection.weight", 4, 2,
                       &a->patch_size, err)) != SA_OK)
        goto done;
    if (g > 1024 ||
        (int64_t)a->patch_size * g > 65536) { /* check_arch's limits; the product must not wrap */
        rc = sa_error_set(err, SA_ERR_FORMAT,
                          "%s: position grid %d x patch size %d is not a usable image size", what,
                          g, a->patch_size);
        goto done;
    }
    a->image_size = a->patch_size * g;
    while (a->depth < SA_SAM_MAX_LAYERS) {
        snprintf(name, sizeof name, "vision_encoder.layers.%d.attn.qkv.weight", a->depth);
        if (!find_tensor(w, name)) break;
        a->depth++;
    }
    if (a->depth == 0) {
        rc = sa_error_set(err, SA_ERR_NOT_FOUND,
                          "%s: tensor 'vision_encoder.layers.0.attn.qkv.weight' is missing", what);
        goto done;
    }
    if ((rc = need_dim(w, what, "vision_encoder.layers.0.attn.rel_pos_h", 2, 1, &hd, err)) != SA_OK)
        goto done;
    if (a->width % hd) {
        rc = sa_error_set(err, SA_ERR_RANGE,
                          "%s: width %d is not a multiple of the head dim %d (rel_pos_h)", what,
                          a->width, hd);
        goto done;
    }
    a->heads = a->width / hd;
    if ((rc = need_dim(w, what, "vision_encoder.layers.0.mlp.lin1.weight", 2, 0, &a->mlp_dim,
                       err)) != SA_OK)
        goto done;
    /* global layers: rel_pos rows == 2*grid-1; windowed rows give the window; config.json when it says */
    a->window = json_int(vc, "window_size", 0);
    for (int i = 0; i < a->depth; i++) {
        snprintf(name, sizeof name, "vision_encoder.layers.%d.attn.rel_pos_h", i);
        int rows = 0;
        if ((rc = need_dim(w, what, name, 2, 0, &rows, err)) != SA_OK) goto done;
        rel_rows[i] = rows;
        a->global[i] = rows == 2 * g - 1;
        if (!a->global[i] && a->window == 0) a->window = (rows + 1) / 2;
    }
    const cJSON *gi = vc ? cJSON_GetObjectItemCaseSensitive(vc, "global_attn_indexes") : NULL;
    if (cJSON_IsArray(gi)) {
        for (int i = 0; i < a->depth; i++)
            a->global[i] = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, gi) {
            if (cJSON_IsNumber(e) && e->valueint >= 0 && e->valueint < a->depth)
                a->global[e->valueint] = 1;
        }
    }
    if (a->window == 0) a->window = 14;
    if ((rc = need_dim(w, what, "vision_encoder.neck.conv1.weight", 4, 0, &a->out_chans, err)) !=
        SA_OK)
        goto done;
    while (a->dec_depth < SA_SAM_MAX_LAYERS) {
        snprintf(name, sizeof name, "mask_decoder.transformer.layers.%d.self_attn.q_proj.weight",
                 a->dec_depth);
        if (!find_tensor(w, name)) break;
        a->dec_depth++;
    }
    if (a->dec_depth == 0) {
        rc = sa_error_set(
            err, SA_ERR_NOT_FOUND,
            "%s: tensor 'mask_decoder.transformer.layers.0.self_attn.q_proj.weight' is missing",
            what);
        goto done;
    }
    a->dec_heads = json_int(dc, "num_attention_heads", 8);
    if ((rc = need_dim(w, what, "mask_decoder.transformer.layers.0.mlp.lin1.weight", 2, 0,
                       &a->dec_mlp_dim, err)) != SA_OK)
        goto done;
    int inner = 0;
    if ((rc = need_dim(w, what,
                       "mask_decoder.transformer.layers.0.cross_attn_token_to_image.q_proj.weight",
                       2, 0, &inner, err)) != SA_OK)
        goto done;
    a->dec_downsample = inner > 0 && a->out_chans % inner == 0 ? a->out_chans / inner : 0;
    if ((rc = need_dim(w, what, "mask_decoder.mask_tokens.weight", 2, 0, &a->n_mask_tokens, err)) !=
        SA_OK)
        goto done;
    if ((rc = need_dim(w, what, "mask_decoder.iou_prediction_head.proj_in.weight", 2, 0,
                       &a->iou_hidden, err)) != SA_OK)
        goto done;
    a->iou_depth = 2;
    for (;;) {
        snprintf(name, sizeof name, "mask_decoder.iou_prediction_head.layers.%d.weight",
                 a->iou_depth - 2);
        if (!find_tensor(w, name) || a->iou_depth >= SA__MAX_MLP) break;
        a->iou_depth++;
    }
    if ((rc = need_dim(w, what, "prompt_encoder.mask_embed.conv2.weight", 4, 0, &a->mask_in_chans,
                       err)) != SA_OK)
        goto done;
    if (dim_of(w, "mask_decoder.iou_token.weight", 2, 1) != a->out_chans) {
        rc = sa_error_set(
            err, SA_ERR_RANGE,
            "%s: tensor 'mask_decoder.iou_token.weight' does not match the neck width %d", what,
            a->out_chans);
        goto done;
    }
    rc = SA_OK;
done:
    cJSON_Delete(cfg);
    return rc;
}

int sa_sam_model_load(const char *path, sa_sam_params params, sa_sam_model **out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_sam_model_load: out is NULL");
    *out = NULL;
    if (!path) return sa_error_set(err, SA_ERR_INVALID, "sa_sam_model_load: no path");
    sa_weights *w = NULL;
    int rc = sa_weights_open(path, &w, err);
    if (rc != SA_OK) return rc;
    rc = sa__sam_map_weights(w, path, err); /* official .pth names -> the HF names bound below */
    if (rc != SA_OK) {
        sa_weights_free(w);
        return rc;
    }
    sa_sam_arch a;
    int rel_rows[SA_SAM_MAX_LAYERS] = {0};
    rc = derive_arch(w, path, &a, rel_rows, err);
    if (rc == SA_OK) rc = build(&a, w, path, rel_rows, 0, params, out, err);
    if (rc == SA_OK)
        (*out)->weights = w; /* F32 tensors are used in place */
    else
        sa_weights_free(w);
    return rc;
}

int sa_sam_arch_preset(const char *name, sa_sam_arch *out, sa_error *err) {
    memset(out, 0, sizeof *out);
    int C, depth, heads, mlp;
    if (!strcmp(name, "vit_b"))
        C = 768, depth = 12, heads = 12, mlp = 3072;
    else if (!strcmp(name, "vit_l"))
        C = 1024, depth = 24, heads = 16, mlp = 4096;
    else if (!strcmp(name, "vit_h"))
        C = 1280, depth = 32, heads = 16, mlp = 5120;
    else if (!strcmp(name, "slimsam50"))
        C = 384, depth = 12, heads = 12, mlp = 1536;
    else if (!strcmp(name, "slimsam77"))
        C = 168, depth = 12, heads = 12, mlp = 696;
    else
        return sa_error_set(err, SA_ERR_NOT_FOUND, "unknown SAM architecture '%s'", name);
    out->image_size = 1024;
    out->patch_size = 16;
    out->width = C;
    out->depth = depth;
    out->heads = heads;
    out->mlp_dim = mlp;
    out->window = 14;
    for (int k = 1; k <= 4; k++)
        out->global[k * depth / 4 - 1] = 1;
    out->out_chans = 256;
    out->dec_depth = 2;
    out->dec_heads = 8;
    out->dec_mlp_dim = 2048;
    out->dec_downsample = 2;
    out->n_mask_tokens = 4;
    out->iou_hidden = 256;
    out->iou_depth = 3;
    out->mask_in_chans = 16;
    return SA_OK;
}

int sa_sam_model_random(const sa_sam_arch *arch, uint64_t seed, sa_sam_params params,
                        sa_sam_model **out, sa_error *err) {
    if (!arch || !out)
        return sa_error_set(err, SA_ERR_INVALID, "sa_sam_model_random: NULL argument");
    *out = NULL;
    return build(arch, NULL, "random SAM", NULL, seed, params, out, err);
}

void sa_sam_model_free(sa_sam_model *m) {
    if (!m) return;
    free(m->arena);
    free(m->bf16);
    sa_weights_free(m->weights);
    free(m->blocks);
    free(m->dec_layers);
    free(m);
}

const sa_sam_arch *sa_sam_model_arch(const sa_sam_model *m) {
    return m ? &m->arch : NULL;
}

int64_t sa_sam_model_param_count(const sa_sam_model *m) {
    return m ? m->n_params : 0;
}

int sa_sam_model_set_threads(sa_sam_model *m, int threads, sa_error *err) {
    if (!m || threads < 1 || threads > 256)
        return sa_error_set(err, SA_ERR_INVALID, "SAM: thread count %d (allowed 1..256)", threads);
    m->params.threads = threads;
    return SA_OK;
}

int sa_sam_model_set_kernels(sa_sam_model *m, int kernels, sa_error *err) {
    if (!m || kernels < SA_SAM_KERNELS_FAST || kernels > SA_SAM_KERNELS_REFERENCE)
        return sa_error_set(err, SA_ERR_INVALID, "SAM: unknown kernel set %d", kernels);
    m->params.kernels = kernels;
    m->k = sa__kernels_select_precision(kernels, m->params.precision);
    return SA_OK;
}

int sa_sam_low_res_size(const sa_sam_model *m) {
    return m ? 4 * m->grid : 0;
}
