/* The SimpleClick network on a batch (1, or 2 with flip): click disks, the two patch embeddings,
 * position embedding, the plain ViT with windowed and global blocks, the simple feature pyramid,
 * the SegFormer-style head, and the bilinear upsampling of the logits to the input size.
 *
 * Layout: every feature map is token-major, (B * h * w, C) in raster order per batch element, so
 * 1x1 convolutions and the patch embeddings are linear layers (im2col for the patch and 2x2
 * convolutions) and LayerNorm works on rows. Windowed blocks keep the raster order: attention tasks
 * (batch element, window, head) gather their window's queries, keys and values into contiguous
 * scratch and scatter the result back, which is the reference's patchify / unpatchify without
 * moving the residual stream. All activations are allocated once per call, before the first layer.
 * Resizing follows PyTorch's CPU interpolate for float32 (float source indices and weights, the
 * products nested row of columns), so the fixture's tolerances hold with room to spare. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "simpleclick/sc_internal.h"

#define LN_EPS 1e-6f
#define GN_EPS 1e-5

/* ---- resizing (PyTorch upsample_bilinear2d / upsample_bicubic2d, float32) ---- */
typedef struct taps2 {
    int i0, i1;
    float w0, w1;
} taps2;

static void linear_taps(int in, int out, int align_corners, taps2 *t) {
    float scale = align_corners ? (out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f)
                                : (float)in / (float)out;
    for (int i = 0; i < out; i++) {
        float src = align_corners ? scale * (float)i : scale * ((float)i + 0.5f) - 0.5f;
        if (!align_corners && src < 0.0f) src = 0.0f;
        int i0 = (int)src;
        if (i0 > in - 1) i0 = in - 1;
        float l = src - (float)i0;
        l = l < 0.0f ? 0.0f : l > 1.0f ? 1.0f : l;
        t[i].i0 = i0;
        t[i].i1 = i0 + (i0 < in - 1 ? 1 : 0);
        t[i].w0 = 1.0f - l;
        t[i].w1 = l;
    }
}

void sa__sc_resize_planar(const float *src, int C, int h, int w, float *dst, int H, int W,
                          int align_corners) {
    taps2 *ty = malloc(sizeof *ty * (size_t)H), *tx = malloc(sizeof *tx * (size_t)W);
    if (!ty || !tx) { /* callers size their buffers beforehand; this is tiny */
        free(ty);
        free(tx);
        return;
    }
    linear_taps(h, H, align_corners, ty);
    linear_taps(w, W, align_corners, tx);
    for (int c = 0; c < C; c++) {
        const float *s = src + (size_t)c * h * w;
        float *d = dst + (size_t)c * H * W;
        for (int y = 0; y < H; y++) {
            const float *r0 = s + (size_t)ty[y].i0 * w, *r1 = s + (size_t)ty[y].i1 * w;
            const float wy0 = ty[y].w0, wy1 = ty[y].w1;
            for (int x = 0; x < W; x++) {
                const taps2 t = tx[x];
                float a = r0[t.i0] * t.w0;
                a += r0[t.i1] * t.w1;
                float b = r1[t.i0] * t.w0;
                b += r1[t.i1] * t.w1;
                float o = a * wy0;
                o += b * wy1;
                d[(size_t)y * W + x] = o;
            }
        }
    }
    free(ty);
    free(tx);
}

/* Token-major (h*w, C) -> rows [y0, y1) of (H*W, C) with row stride ldd floats per pixel, bilinear;
 * taps are precomputed by the caller. */
static void resize_tokens(const float *src, int C, int w, float *dst, size_t ldd, int W,
                          const taps2 *ty, const taps2 *tx, int y0, int y1, int add) {
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < W; x++) {
            const float *a0 = src + ((size_t)ty[y].i0 * w + tx[x].i0) * C;
            const float *a1 = src + ((size_t)ty[y].i0 * w + tx[x].i1) * C;
            const float *b0 = src + ((size_t)ty[y].i1 * w + tx[x].i0) * C;
            const float *b1 = src + ((size_t)ty[y].i1 * w + tx[x].i1) * C;
            const float wx0 = tx[x].w0, wx1 = tx[x].w1, wy0 = ty[y].w0, wy1 = ty[y].w1;
            float *d = dst + ((size_t)y * W + x) * ldd;
            for (int c = 0; c < C; c++) {
                float a = a0[c] * wx0;
                a += a1[c] * wx1;
                float b = b0[c] * wx0;
                b += b1[c] * wx1;
                float o = a * wy0;
                o += b * wy1;
                d[c] = add ? d[c] + o : o;
            }
        }
}

typedef struct rt_ctx {
    const float *src;
    float *dst;
    size_t ldd;
    int C, w, W;
    const taps2 *ty, *tx;
    int add; /* accumulate into dst */
} rt_ctx;

static void resize_rows(void *vc, size_t y0, size_t y1) {
    const rt_ctx *c = vc;
    resize_tokens(c->src, c->C, c->w, c->dst, c->ldd, c->W, c->ty, c->tx, (int)y0, (int)y1, c->add);
}

static float cubic1(float x, float A) {
    return ((A + 2.0f) * x - (A + 3.0f)) * x * x + 1.0f;
}
static float cubic2(float x, float A) {
    return ((A * x - 5.0f * A) * x + 8.0f * A) * x - 4.0f * A;
}

typedef struct taps4 {
    int i[4];
    float w[4];
} taps4;

static void cubic_taps(int in, int out, taps4 *t) {
    const float A = -0.75f, scale = (float)in / (float)out;
    for (int o = 0; o < out; o++) {
        float src = scale * ((float)o + 0.5f) - 0.5f;
        int i0 = (int)floorf(src);
        if (i0 > in - 1) i0 = in - 1;
        float l = src - (float)i0;
        l = l < 0.0f ? 0.0f : l > 1.0f ? 1.0f : l;
        t[o].w[0] = cubic2(l + 1.0f, A);
        t[o].w[1] = cubic1(l, A);
        t[o].w[2] = cubic1(1.0f - l, A);
        t[o].w[3] = cubic2(2.0f - l, A);
        for (int j = 0; j < 4; j++) {
            int k = i0 - 1 + j;
            t[o].i[j] = k < 0 ? 0 : k > in - 1 ? in - 1 : k;
        }
    }
}

/* pos_embed (h*w, C) -> (H*W, C), bicubic A = -0.75, align_corners=False, border taps clamped
 * (pos_embed.py interpolate_pos_embed_inference). */
static int interp_pos(const float *src, int C, int h, int w, float *dst, int H, int W) {
    if (h == H && w == W) {
        memcpy(dst, src, sizeof(float) * (size_t)H * W * C);
        return SA_OK;
    }
    taps4 *ty = malloc(sizeof *ty * (size_t)H), *tx = malloc(sizeof *tx * (size_t)W);
    if (!ty || !tx) {
        free(ty);
        free(tx);
        return SA_ERR_NOMEM;
    }
    cubic_taps(h, H, ty);
    cubic_taps(w, W, tx);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            float *d = dst + ((size_t)y * W + x) * C;
            for (int c = 0; c < C; c++) {
                float o = 0.0f;
                for (int j = 0; j < 4; j++) {
                    const float *row = src + (size_t)ty[y].i[j] * w * C + c;
                    float t = row[(size_t)tx[x].i[0] * C] * tx[x].w[0];
                    for (int i = 1; i < 4; i++)
                        t += row[(size_t)tx[x].i[i] * C] * tx[x].w[i];
                    if (j == 0)
                        o = t * ty[y].w[0];
                    else
                        o += t * ty[y].w[j];
                }
                d[c] = o;
            }
        }
    free(ty);
    free(tx);
    return SA_OK;
}

/* ---- small layers ---- */
typedef struct net {
    const sa_sc_model *m;
    sa__pool *pool;
    int B, H, W, gh, gw, N; /* N = gh * gw tokens per element */
} net;

static void linear(const net *n, const sa__lin *l, const float *x, int rows, float *y) {
    sa__linear_k(n->m->k, n->m->params.threads, n->pool, l, x, l->in, rows, y, l->out);
}

/* GroupNorm with one group over each element's (pix, C) block, then per-channel affine; optional
 * GELU. Statistics in double over fixed chunks summed in order, so they do not depend on the thread
 * count (PyTorch's float32 kernel differs from exact by far less than the tolerance). */
#define GN_CHUNK 16384
typedef struct gn_ctx {
    const float *v;
    size_t per;
    double mean;
    double *part;
    const sc_gn *g;
    float *x;
    float fm, rstd;
} gn_ctx;

static void gn_sum(void *vc, size_t c0, size_t c1) {
    gn_ctx *c = vc;
    for (size_t k = c0; k < c1; k++) {
        size_t a = k * GN_CHUNK, b = a + GN_CHUNK < c->per ? a + GN_CHUNK : c->per;
        double s1 = 0.0;
        for (size_t i = a; i < b; i++)
            s1 += c->v[i];
        c->part[k] = s1;
    }
}

static void gn_var(void *vc, size_t c0, size_t c1) {
    gn_ctx *c = vc;
    for (size_t k = c0; k < c1; k++) {
        size_t a = k * GN_CHUNK, b = a + GN_CHUNK < c->per ? a + GN_CHUNK : c->per;
        double q = 0.0;
        for (size_t i = a; i < b; i++) {
            double d = c->v[i] - c->mean;
            q += d * d;
        }
        c->part[k] = q;
    }
}

static void gn_apply(void *vc, size_t p0, size_t p1) { /* pixels [p0, p1) */
    gn_ctx *c = vc;
    const int C = c->g->n;
    for (size_t p = p0; p < p1; p++) {
        float *r = c->x + p * C;
        for (int k = 0; k < C; k++)
            r[k] = (r[k] - c->fm) * c->rstd * c->g->w[k] + c->g->b[k];
    }
}

static void group_norm(const net *n, const sc_gn *g, float *x, int pix, int gelu, double *part) {
    const size_t per = (size_t)pix * g->n, nch = (per + GN_CHUNK - 1) / GN_CHUNK;
    for (int b = 0; b < n->B; b++) {
        gn_ctx c = {
            .v = x + (size_t)b * per, .per = per, .part = part, .g = g, .x = x + (size_t)b * per};
        sa__pool_for(n->pool, nch, 1, gn_sum, &c);
        double s1 = 0.0;
        for (size_t k = 0; k < nch; k++)
            s1 += part[k];
        c.mean = s1 / (double)per;
        sa__pool_for(n->pool, nch, 1, gn_var, &c);
        double q = 0.0;
        for (size_t k = 0; k < nch; k++)
            q += part[k];
        c.fm = (float)c.mean;
        c.rstd = (float)(1.0 / sqrt(q / (double)per + GN_EPS));
        sa__pool_for(n->pool, (size_t)pix, 256, gn_apply, &c);
    }
    if (gelu) sa__gelu(n->m->k, n->pool, x, (size_t)n->B * per);
}

/* 2x2 stride-2 transposed convolution: in (B, h, w, Cin) -> out (B, 2h, 2w, Co); tmp (B*h*w, 4*Co).
 */
static void conv_t(const net *n, const sc_convt *ct, const float *in, int h, int w, float *tmp,
                   float *out) {
    const int Co = ct->channels;
    linear(n, &ct->lin, in, n->B * h * w, tmp);
    for (int b = 0; b < n->B; b++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const float *s = tmp + (((size_t)b * h + y) * w + x) * 4 * Co;
                for (int t = 0; t < 4; t++) {
                    int oy = 2 * y + t / 2, ox = 2 * x + t % 2;
                    memcpy(out + (((size_t)b * 2 * h + oy) * 2 * w + ox) * Co, s + (size_t)t * Co,
                           sizeof(float) * (size_t)Co);
                }
            }
}

static void relu(float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

/* ---- attention ---- */
typedef struct attn_ctx {
    const net *n;
    const float *qkv; /* (B*N, 3C) raster */
    float *out;       /* (B*N, C) */
    float *scratch;
    size_t per;
    int nwh, nww, sh, sw; /* windows per side and their sides (1, 1, gh, gw for global blocks) */
    int heads, hd;
} attn_ctx;

/* per-worker floats: token, output and query index arrays, then the kernel's scratch, aligned to 64
 * bytes inside the slot (16 floats of slack) */
static size_t attn_scratch(int T, int hd) {
    size_t idx = (size_t)T * (2 * sizeof(float *) + sizeof(int));
    return (idx + 63) / 64 * 16 + sa__attn_scratch_size(T, hd, 0) + 16;
}

/* Task = (element, window, head). Reference: models_vit.py Attention.forward; the window's tokens are
 * read in place from the raster qkv rows. */
static void attn_task(void *vctx, int task, int worker) {
    const attn_ctx *c = vctx;
    const net *n = c->n;
    const int C = n->m->arch.width, hd = c->hd, ld = 3 * C, T = c->sh * c->sw;
    const int h = task % c->heads, win = (task / c->heads) % (c->nwh * c->nww),
              b = task / c->heads / (c->nwh * c->nww);
    const int wy = win / c->nww, wx = win % c->nww;
    float *ws = c->scratch + (size_t)worker * c->per;
    const float **tok = (const float **)(void *)ws; /* (T) */
    float **out = (float **)(void *)(tok + T);      /* (T) */
    int *qi = (int *)(void *)(out + T);             /* (T) */
    float *scr = ws + ((size_t)T * (2 * sizeof(float *) + sizeof(int)) + 63) / 64 * 16;
    scr += (64 - (uintptr_t)scr % 64) % 64 / sizeof(float); /* 64-byte aligned */
    for (int t = 0; t < T; t++) {
        const int gy = wy * c->sh + t / c->sw, gx = wx * c->sw + t % c->sw;
        const size_t row = (size_t)b * n->N + (size_t)gy * n->gw + gx;
        tok[t] = c->qkv + row * ld + (size_t)h * hd;
        out[t] = c->out + row * C + (size_t)h * hd;
        qi[t] = t;
    }
    sa__attn_head a = {.T = T,
                       .hd = hd,
                       .nq = T,
                       .tok = tok,
                       .koff = C,
                       .voff = 2 * C,
                       .qi = qi,
                       .out = out,
                       .scale = 1.0f / sqrtf((float)hd)};
    n->m->k->attention(&a, scr);
}

typedef struct bufs {
    float *cols; /* (B*N, 3*p*p) im2col / neck scratch */
    float *x;    /* (B*N, C) residual stream */
    float *xn;   /* (B*N, C) */
    float *qkv;  /* (B*N, 3C) */
    float *ao;   /* (B*N, C) */
    float *hid;  /* (B*N, mlp) */
    float *attn; /* per-worker attention scratch */
    size_t attn_per;
    float *lvl[4];  /* neck outputs (B * pix_l, o_l) */
    float *t1, *t2; /* neck / head scratch */
    float *cat;     /* (B*16N, head): the head's per-level products; coord features before that */
    float *fused;   /* (B*16N, head) */
    float *low;     /* (B*16N) logits at 4x the grid */
    double *part;   /* GroupNorm partial sums */
} bufs;

/* x (rows, l.out) += l(in): in the BF16 kernel's registers, else through y and an add (the FP32 order) */
static void residual_linear(const net *n, const sa__lin *l, const float *in, int rows, float *x,
                            float *y) {
    if (sa__linear_fuses(n->m->k, l)) {
        sa__linear_ep(n->m->k, n->m->params.threads, n->pool, l, in, l->in, rows, x, l->out,
                      SA__EP_ADD);
        return;
    }
    linear(n, l, in, rows, y);
    sa__add(x, y, (size_t)rows * l->out);
}

/* One ViT block, x (B*N, C) in place. Reference: models_vit.py Block.forward. */
static void vit_block(const net *n, const sc_block *blk, bufs *bf, int nwh, int nww) {
    const sa_sc_arch *a = &n->m->arch;
    const int C = a->width, rows = n->B * n->N;
    sa__layernorm(n->m->k, n->pool, &blk->ln1, LN_EPS, bf->x, bf->xn, rows); /* xn (B*N, C) */
    linear(n, &blk->qkv, bf->xn, rows, bf->qkv);                             /* qkv (B*N, 3C) */
    attn_ctx ac = {.n = n,
                   .qkv = bf->qkv,
                   .out = bf->ao,
                   .scratch = bf->attn,
                   .per = bf->attn_per,
                   .nwh = blk->global ? 1 : nwh,
                   .nww = blk->global ? 1 : nww,
                   .heads = a->heads,
                   .hd = C / a->heads};
    ac.sh = n->gh / ac.nwh;
    ac.sw = n->gw / ac.nww;
    sa__pool_run(n->pool, n->B * ac.nwh * ac.nww * a->heads, attn_task, &ac); /* ao (B*N, C) */
    residual_linear(n, &blk->proj, bf->ao, rows, bf->x, bf->xn);              /* x += proj(ao) */
    sa__layernorm(n->m->k, n->pool, &blk->ln2, LN_EPS, bf->x, bf->xn, rows);
    sa__linear_ep(n->m->k, n->m->params.threads, n->pool, &blk->fc1, bf->xn, C, rows, bf->hid,
                  a->mlp, SA__EP_GELU); /* hid (B*N, mlp) = gelu(fc1(xn)) */
    residual_linear(n, &blk->fc2, bf->hid, rows, bf->x, bf->xn); /* x += fc2(hid) */
}

static void probe_tokens(sa_sc_session *s, const char *name, const float *x, int h, int w, int C) {
    int64_t shape[3] = {h, w, C};
    s->probe(s->probe_ctx, name, x, NULL, shape, 3);
}

/* probe a token-major (h*w, C) map of element 0 as (C, h, w) */
static void probe_planar(sa_sc_session *s, const char *name, const float *x, int h, int w, int C,
                         float *tmp) {
    for (int i = 0; i < h * w; i++)
        for (int c = 0; c < C; c++)
            tmp[(size_t)c * h * w + i] = x[(size_t)i * C + c];
    int64_t shape[3] = {C, h, w};
    s->probe(s->probe_ctx, name, tmp, NULL, shape, 3);
}

/* SimpleFPN (is_plainvit_model.py) on x (B, gh, gw, C): lvl[0..3]. */
static void neck(const net *n, bufs *bf) {
    const sa_sc_model *m = n->m;
    const int C = m->arch.width, gh = n->gh, gw = n->gw, N = n->N;
    /* 1/4: ConvT, GN, GELU, ConvT, GN, conv, GN, GELU */
    conv_t(n, &m->d4_up1, bf->x, gh, gw, bf->t2, bf->t1); /* t1 (B, 2gh, 2gw, d4) */
    group_norm(n, &m->d4_gn1, bf->t1, 4 * N, 1, bf->part);
    conv_t(n, &m->d4_up2, bf->t1, 2 * gh, 2 * gw, bf->cat, bf->t2); /* t2 (B, 4gh, 4gw, d4/2) */
    group_norm(n, &m->d4_gn2, bf->t2, 16 * N, 0, bf->part);
    linear(n, &m->d4_conv, bf->t2, n->B * 16 * N, bf->lvl[0]);
    group_norm(n, &m->d4_gn3, bf->lvl[0], 16 * N, 1, bf->part);
    /* 1/8: ConvT, GN, conv, GN, GELU */
    conv_t(n, &m->d8_up, bf->x, gh, gw, bf->t2, bf->t1); /* t1 (B, 2gh, 2gw, d8) */
    group_norm(n, &m->d8_gn1, bf->t1, 4 * N, 0, bf->part);
    linear(n, &m->d8_conv, bf->t1, n->B * 4 * N, bf->lvl[1]);
    group_norm(n, &m->d8_gn2, bf->lvl[1], 4 * N, 1, bf->part);
    /* 1/16: conv, GN, GELU */
    linear(n, &m->d16_conv, bf->x, n->B * N, bf->lvl[2]);
    group_norm(n, &m->d16_gn, bf->lvl[2], N, 1, bf->part);
    /* 1/32: conv 2x2 s2, GN, conv, GN, GELU */
    const int qh = gh / 2, qw = gw / 2, Q = qh * qw;
    for (int b = 0; b < n->B; b++)
        for (int y = 0; y < qh; y++)
            for (int x = 0; x < qw; x++) {
                float *col = bf->t2 + (((size_t)b * qh + y) * qw + x) * 4 * C; /* (c, ky, kx) */
                for (int t = 0; t < 4; t++) {
                    const float *src =
                        bf->x + ((size_t)b * N + (size_t)(2 * y + t / 2) * gw + 2 * x + t % 2) * C;
                    for (int c = 0; c < C; c++)
                        col[(size_t)c * 4 + t] = src[c];
                }
            }
    linear(n, &m->d32_down, bf->t2, n->B * Q, bf->t1); /* t1 (B*Q, d32) */
    group_norm(n, &m->d32_gn1, bf->t1, Q, 0, bf->part);
    linear(n, &m->d32_conv, bf->t1, n->B * Q, bf->lvl[3]);
    group_norm(n, &m->d32_gn2, bf->lvl[3], Q, 1, bf->part);
}

/* SwinTransfomerSegHead with upsample 'x1': logits (B, 4gh, 4gw) into bf->low. */
static int head(const net *n, bufs *bf) {
    const sa_sc_model *m = n->m;
    const int D = m->arch.head, H4 = 4 * n->gh, W4 = 4 * n->gw, P4 = H4 * W4;
    const int lh[4] = {4 * n->gh, 2 * n->gh, n->gh, n->gh / 2},
              lw[4] = {4 * n->gw, 2 * n->gw, n->gw, n->gw / 2};
    taps2 *ty = malloc(sizeof *ty * (size_t)H4), *tx = malloc(sizeof *tx * (size_t)W4);
    if (!ty || !tx) {
        free(ty);
        free(tx);
        return SA_ERR_NOMEM;
    }
    /* fusion(concat_l resize(relu(conv_l x_l))) = sum_l resize(F_l relu(conv_l x_l)) + bias, F_l
     * the fusion's columns of level l: the same sums in another order, at each level's own
     * resolution */
    for (int l = 0; l < 4; l++) {
        const int pix = lh[l] * lw[l];
        linear(n, &m->head_convs[l], bf->lvl[l], n->B * pix, bf->t1); /* t1 (B*pix, D) */
        relu(bf->t1, (size_t)n->B * pix * D);
        linear(n, &m->fusion_part[l], bf->t1, n->B * pix, bf->cat); /* cat (B*pix, D) */
        linear_taps(lh[l], H4, m->arch.head_align_corners, ty);
        linear_taps(lw[l], W4, m->arch.head_align_corners, tx);
        for (int b = 0; b < n->B; b++) {
            rt_ctx rc = {.src = bf->cat + (size_t)b * pix * D,
                         .dst = bf->fused + (size_t)b * P4 * D,
                         .ldd = (size_t)D,
                         .C = D,
                         .w = lw[l],
                         .W = W4,
                         .ty = ty,
                         .tx = tx,
                         .add = l > 0};
            sa__pool_for(n->pool, (size_t)H4, 4, resize_rows, &rc);
        }
    }
    free(ty);
    free(tx);
    for (size_t p = 0; p < (size_t)n->B * P4; p++) { /* fusion bias, ReLU */
        float *r = bf->fused + p * D;
        for (int c = 0; c < D; c++) {
            float v = r[c] + m->fusion.b[c];
            r[c] = v > 0.0f ? v : 0.0f;
        }
    }
    linear(n, &m->seg, bf->fused, n->B * P4, bf->low);
    return SA_OK;
}

/* DistMaps with disks (isegm/model/ops.py): channel pos / neg of element b, (H, W) each. */
static void disks(const sa_sc_model *m, const double *pts, int n_points, int H, int W, float *pos,
                  float *neg) {
    const float r2 = m->arch.norm_radius * m->arch.norm_radius;
    const int f64 = m->params.points_f64;
    for (int sign = 0; sign < 2; sign++) {
        float *out = sign ? neg : pos;
        const double *p = pts + (size_t)sign * n_points * 3;
        for (size_t i = 0; i < (size_t)H * W; i++)
            out[i] = 0.0f;
        for (int k = 0; k < n_points; k++) {
            const double r = p[3 * k], c = p[3 * k + 1];
            if ((r > c ? r : c) < 0) continue; /* padding, or both coordinates off-frame */
            const float rf = (float)r, cf = (float)c;
            for (int y = 0; y < H; y++) {
                float dy = f64 ? (float)((double)y - r) : (float)y - rf;
                float dy2 = dy * dy;
                if (dy2 > r2) continue;
                for (int x = 0; x < W; x++) {
                    float dx = f64 ? (float)((double)x - c) : (float)x - cf;
                    float d = dy2 + dx * dx;
                    if (d <= r2) out[(size_t)y * W + x] = 1.0f;
                }
            }
        }
    }
}

int sa__sc_forward(sa_sc_session *s, int B, int H, int W, const float *x, const double *points,
                   int n_points, float *logits, int probe, sa_error *err) {
    const sa_sc_model *m = s->m;
    const sa_sc_arch *a = &m->arch;
    const int p = a->patch, C = a->width, gh = H / p, gw = W / p, N = gh * gw,
              wsz = SC_WINDOW_PIXELS / p;
    const int nwh = gh / wsz, nww = gw / wsz;
    if (nwh < 1 || nww < 1 || gh % nwh || gw % nww)
        return sa_error_set(
            err, SA_ERR_UNSUPPORTED,
            "SimpleClick: a %dx%d input gives a %dx%d patch grid, which does not split into "
            "%d-token windows (the reference cannot run it either); use ZoomIn",
            H, W, gh, gw, wsz);
    net n = {.m = m, .pool = s->pool, .B = B, .H = H, .W = W, .gh = gh, .gw = gw, .N = N};
    /* position embedding for this grid, once per grid size */
    if (s->pos_gh != gh || s->pos_gw != gw) {
        free(s->pos);
        s->pos = malloc(sizeof(float) * (size_t)N * C);
        s->pos_gh = s->pos_gw = 0;
        if (!s->pos || interp_pos(m->pos, C, a->crop_h, a->crop_w, s->pos, gh, gw) != SA_OK)
            return sa_error_set(err, SA_ERR_NOMEM, "SimpleClick: out of memory");
        s->pos_gh = gh;
        s->pos_gw = gw;
    }
    /* activations */
    const size_t BN = (size_t)B * N, P4 = 16 * (size_t)N, hd = (size_t)(C / a->heads);
    size_t T = (size_t)(gh / nwh) * (gw / nww);
    size_t per = attn_scratch((int)(T > (size_t)N ? T : (size_t)N), (int)hd);
    const int d4 = a->neck_d4, d8 = a->neck_d8, d32 = a->neck_d32, D = a->head;
    size_t t1 = BN * 4 * (size_t)(d4 > d8 ? d4 : d8), t2 = BN * 16 * (size_t)(d4 / 2);
    size_t c2 = BN * 8 * (size_t)d4; /* conv_t tmp of the second up (t1 grid, 4*d4/2 wide) */
    if (t2 < BN * 4 * d8) t2 = BN * 4 * d8;
    if (t2 < BN * 4 * C) t2 = BN * 4 * C;
    if (t2 < P4 * D) t2 = P4 * D;
    if (t1 < (size_t)B * P4 * D) t1 = (size_t)B * P4 * D;
    if (t1 < BN * d32) t1 = BN * d32;
    const size_t lpix[4] = {P4, 4 * (size_t)N, (size_t)N, (size_t)(gh / 2) * (gw / 2)};
    for (int l = 0; l < 4; l++) /* the probe's planar copy of a neck level */
        if (t1 < lpix[l] * a->neck_out[l]) t1 = lpix[l] * a->neck_out[l];
    size_t cat = (size_t)B * P4 * D; /* the head's per-level fusion products */
    if (cat < c2) cat = c2;
    if (cat < (size_t)3 * H * W * B) cat = (size_t)3 * H * W * B;
    if (t2 < BN * 3 * p * p) t2 = BN * 3 * p * p;
    size_t sz[16] = {BN * 3 * p * p > (size_t)3 * H * W * B ? BN * 3 * p * p
                                                            : (size_t)3 * H * W * B,
                     BN * C,
                     BN * C,
                     BN * 3 * C,
                     BN * C,
                     BN * a->mlp,
                     per * (size_t)sa__pool_threads(s->pool),
                     (size_t)B * P4 * a->neck_out[0],
                     BN * 4 * a->neck_out[1],
                     BN * a->neck_out[2],
                     BN * a->neck_out[3],
                     t1,
                     t2,
                     cat,
                     (size_t)B * P4 * D,
                     (size_t)B * P4};
    int wmax = a->neck_d4 > a->neck_d8 ? a->neck_d4 : a->neck_d8;
    if (wmax < a->neck_d32) wmax = a->neck_d32;
    for (int l = 0; l < 4; l++)
        if (wmax < a->neck_out[l]) wmax = a->neck_out[l];
    const size_t nparts = P4 * (size_t)wmax / GN_CHUNK + 2;
    size_t total = 0;
    for (int i = 0; i < 16; i++) {
        sz[i] = (sz[i] + 15) / 16 * 16;
        total += sz[i];
    }
    total += (2 * nparts + 15) / 16 * 16;
    /* the activations stay with the session between calls (no page faults per click) */
    if (s->act_n < total) {
        free(s->act);
        s->act = malloc(total * sizeof(float));
        s->act_n = s->act ? total : 0;
    }
    float *mem = s->act;
    if (!mem)
        return sa_error_set(err, SA_ERR_NOMEM,
                            "SimpleClick: out of memory for %zu MiB of activations",
                            total * sizeof(float) >> 20);
    bufs bf;
    float *q = mem;
    float **slot[16] = {&bf.cols, &bf.x,      &bf.xn,     &bf.qkv,    &bf.ao,     &bf.hid,
                        &bf.attn, &bf.lvl[0], &bf.lvl[1], &bf.lvl[2], &bf.lvl[3], &bf.t1,
                        &bf.t2,   &bf.cat,    &bf.fused,  &bf.low};
    for (int i = 0; i < 16; i++) {
        *slot[i] = q;
        q += sz[i];
    }
    bf.part = (double *)(void *)q;
    bf.attn_per = per;
    probe = probe && s->probe;
    const size_t HW = (size_t)H * W;

    float *coords =
        bf.cat; /* coord features (B, 3, H, W) = [prev, pos, neg]; cat is free until the neck */
    float *img = bf.cols; /* normalised image, (B, 3, H, W) */
    float *cols = bf.t2;  /* im2col (B*N, 3*p*p) */
    for (int b = 0; b < B; b++) {
        const float *xb = x + (size_t)b * 4 * HW;
        float *cb = coords + (size_t)b * 3 * HW;
        int ch = 0;
        if (a->prev_mask) memcpy(cb + (size_t)HW * ch++, xb + 3 * HW, sizeof(float) * HW);
        disks(m, points + (size_t)b * 2 * n_points * 3, n_points, H, W, cb + HW * ch,
              cb + HW * (ch + 1));
        for (int c = 0; c < 3; c++) /* BatchImageNormalize */
            for (size_t i = 0; i < HW; i++)
                img[((size_t)b * 3 + c) * HW + i] =
                    (xb[(size_t)c * HW + i] - a->mean[c]) / a->std[c];
    }
    const int cc = a->prev_mask ? 3 : 2;
    if (probe) {
        int64_t shp[3] = {3, H, W};
        s->probe(s->probe_ctx, "input", img, NULL, shp, 3);
        shp[0] = cc;
        s->probe(s->probe_ctx, "coord_features", coords, NULL, shp, 3);
        int64_t ps[2] = {2 * n_points, 3};
        s->probe(s->probe_ctx, "net_points", NULL, points, ps, 2);
    }
    /* patch embeddings: im2col over (c, ky, kx), then one product each */
    for (int pass = 0; pass < 2; pass++) {
        const int nc = pass ? cc : 3;
        const float *src = pass ? coords : img;
        for (int b = 0; b < B; b++)
            for (int y = 0; y < gh; y++)
                for (int xx = 0; xx < gw; xx++) {
                    float *col = cols + (((size_t)b * gh + y) * gw + xx) * nc * p * p;
                    for (int c = 0; c < nc; c++)
                        for (int ky = 0; ky < p; ky++)
                            memcpy(col + ((size_t)c * p + ky) * p,
                                   src + ((size_t)b * nc + c) * HW + (size_t)(y * p + ky) * W +
                                       (size_t)xx * p,
                                   sizeof(float) * (size_t)p);
                }
        linear(&n, pass ? &m->patch_coords : &m->patch, cols, (int)BN, pass ? bf.xn : bf.x);
    }
    if (probe) {
        probe_tokens(s, "patch_embed", bf.x, gh, gw, C);
        probe_tokens(s, "patch_embed_coords", bf.xn, gh, gw, C);
        probe_tokens(s, "pos_embed", s->pos, gh, gw, C);
    }
    sa__add(bf.x, bf.xn, BN * C);
    for (int b = 0; b < B; b++)
        sa__add(bf.x + (size_t)b * N * C, s->pos, (size_t)N * C);
    for (int i = 0; i < a->depth; i++) {
        vit_block(&n, &m->blocks[i], &bf, nwh, nww);
        if (probe) {
            char name[32];
            snprintf(name, sizeof name, "block%d", i);
            probe_tokens(s, name, bf.x, gh, gw, C);
        }
    }
    neck(&n, &bf);
    if (probe) {
        const int lh[4] = {4 * gh, 2 * gh, gh, gh / 2}, lw[4] = {4 * gw, 2 * gw, gw, gw / 2};
        for (int l = 0; l < 4; l++) {
            char name[16];
            snprintf(name, sizeof name, "neck%d", l);
            probe_planar(s, name, bf.lvl[l], lh[l], lw[l], a->neck_out[l], bf.t1);
        }
    }
    int rc = head(&n, &bf);
    if (rc != SA_OK) {
        rc = sa_error_set(err, SA_ERR_NOMEM, "SimpleClick: out of memory");
    } else {
        if (probe) {
            int64_t shp[2] = {4 * gh, 4 * gw};
            s->probe(s->probe_ctx, "head_logits", bf.low, NULL, shp, 2);
        }
        /* is_model.py: logits to the input size, bilinear, align_corners=True */
        for (int b = 0; b < B; b++)
            sa__sc_resize_planar(bf.low + (size_t)b * P4, 1, 4 * gh, 4 * gw,
                                 logits + (size_t)b * HW, H, W, 1);
    }
    return rc;
}
