/* SAM image encoder: pre-processing (Pillow-exact resize, normalise, pad), ViTDet-style ViT with windowed and
 * global attention and decomposed relative positions, and the neck (segment_anything/modeling/image_encoder.py).
 *
 * Tokens are kept token-major (g*g, C). All activations are allocated once per call, before the first layer.
 * Attention runs as pool tasks of (window or whole grid, head): each task computes the relative-position terms
 * of all its queries with two small GEMMs per query row/column, then walks blocks of queries: scores = scale *
 * Q K^T + rel_h + rel_w, softmax, times V, scattered back to the (un-padded) grid. Memory stays bounded
 * (block x tokens scores per worker) even for the 4096-token global layers. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/util.h"
#include "sam/sam_internal.h"

#define SAM_LN_EPS 1e-6f
#define ATTN_BLOCK 48 /* queries per score block: 48 x 4096 scores stay in L2 */

static const float PIXEL_MEAN[3] = {123.675f, 116.28f, 103.53f};
static const float PIXEL_STD[3] = {58.395f, 57.12f, 57.375f};

typedef struct enc_buf {
    float *input; /* (3, S, S) normalised, padded */
    float *x;     /* (N, C) residual stream, N = g*g */
    float *xn;    /* (N, C) normed tokens */
    float *qkv;   /* (N, 3C) */
    float *zero;  /* (3C) zeros: the padding row of a qkv layer without bias */
    float *ao;    /* (N, C) attention output (un-partitioned) */
    float *h;     /* (N, max(mlp, 9*D)) MLP hidden / neck im2col */
    float *y;     /* (N, max(C, D)) */
    float *attn;  /* per-worker attention scratch (64-byte aligned) */
    size_t attn_per;
} enc_buf;

/* n floats for one image's activations, touched first by the layers: 2 MiB aligned and marked for
 * transparent huge pages where the system offers them (some 40 000 4 KiB page faults per image otherwise,
 * measured ~3% of the BF16 encoder's CPU time) */
static float *alloc_activations(size_t n) {
    const size_t huge = (size_t)2 << 20, bytes = (n * sizeof(float) + huge - 1) / huge * huge;
    float *p = aligned_alloc(huge, bytes);
#ifdef MADV_HUGEPAGE
    if (p) madvise(p, bytes, MADV_HUGEPAGE); /* advice only: failure changes nothing */
#endif
    return p;
}

/* ---- pre-processing (segment_anything/utils/transforms.py ResizeLongestSide + Sam.preprocess) ---- */
static int preprocess(const sa_sam_model *m, const sa_image *img, sa_sam_probe_fn probe, void *pctx,
                      float *input, int *new_w, int *new_h, sa_error *err) {
    const int S = m->arch.image_size;
    double scale = (double)S / (double)(img->width > img->height ? img->width : img->height);
    int nh = (int)((double)img->height * scale + 0.5), nw = (int)((double)img->width * scale + 0.5);
    if (nh < 1) nh = 1;
    if (nw < 1) nw = 1;
    sa_image r = {0};
    int rc = sa_image_resize_bilinear(img, nw, nh, &r, err);
    if (rc != SA_OK) return sa_error_prefix(err, "SAM pre-processing: ");
    *new_w = nw;
    *new_h = nh;
    memset(input, 0, (size_t)3 * S * S * sizeof(float));
    for (int c = 0; c < 3; c++) {
        float *dst = input + (size_t)c * S * S;
        for (int y = 0; y < nh; y++)
            for (int x = 0; x < nw; x++)
                dst[(size_t)y * S + x] =
                    ((float)r.data[((size_t)y * nw + x) * 3 + c] - PIXEL_MEAN[c]) / PIXEL_STD[c];
    }
    if (probe) {
        /* debug path only: the probe takes floats */
        int64_t shape[3] = {nh, nw, 3};
        size_t n = (size_t)nh * nw * 3;
        float *tmp = malloc(n * sizeof(float));
        if (tmp) {
            for (size_t i = 0; i < n; i++)
                tmp[i] = r.data[i];
            probe(pctx, "resized_image", tmp, shape, 3);
            free(tmp);
        }
    }
    sa_image_free(&r);
    return SA_OK;
}

/* ---- patch embedding: conv PxP stride P as im2col + linear; x (N, C) ---- */
static void patch_embed(const sa_sam_model *m, sa__pool *pool, const float *input, float *cols,
                        float *x) {
    const int S = m->arch.image_size, P = m->arch.patch_size, g = m->grid, K = 3 * P * P;
    for (int gy = 0; gy < g; gy++)
        for (int gx = 0; gx < g; gx++) {
            float *col = cols + ((size_t)gy * g + gx) * K; /* (c, ky, kx) as the conv weight */
            for (int c = 0; c < 3; c++)
                for (int ky = 0; ky < P; ky++)
                    memcpy(col + ((size_t)c * P + ky) * P,
                           input + (size_t)c * S * S + (size_t)(gy * P + ky) * S + gx * P,
                           (size_t)P * sizeof(float));
        }
    sa__lin l = {.w = m->patch_w, .b = m->patch_b, .out = m->arch.width, .in = K};
    sa__linear(m, pool, &l, cols, K, g * g, x, m->arch.width);
}

/* ---- attention ---- */
typedef struct attn_ctx {
    const sa_sam_model *m;
    const sa__vit_block *b;
    const float *qkv; /* (N, 3C), grid order */
    float *out;       /* (N, C) */
    const float
        *pad; /* (3C): the qkv row of a padding token (the bias: window_partition pads with 0) */
    float *scratch;
    size_t per;
    int side, T, n_win_side, heads;
} attn_ctx;

/* Task = (window, head). Reference: Attention.forward + add_decomposed_rel_pos; a window's padding
 * tokens are keys (their rows are the bias), never queries (window_unpartition drops them). */
static void attn_task(void *vctx, int t, int worker) {
    attn_ctx *c = vctx;
    const sa_sam_model *m = c->m;
    const int C = m->arch.width, hd = m->head_dim, ld = 3 * C, S = c->side, T = c->T, g = m->grid;
    const int win = t / c->heads, h = t % c->heads;
    const int wy = win / c->n_win_side, wx = win % c->n_win_side;
    float *ws = c->scratch + (size_t)worker * c->per;
    const float **tok = (const float **)(void *)ws; /* (T) */
    float **out = (float **)(void *)(tok + T);      /* (T) */
    int *qi = (int *)(void *)(out + T);             /* (T) */
    float *scr = ws + (c->per - sa__attn_scratch_size(T, hd, S));
    int nq = 0;
    for (int tk = 0; tk < T; tk++) {
        const int gy = wy * S + tk / S, gx = wx * S + tk % S;
        if (gy < g && gx < g) {
            const size_t row = (size_t)gy * g + gx;
            tok[tk] = c->qkv + row * ld + (size_t)h * hd;
            out[nq] = c->out + row * C + (size_t)h * hd;
            qi[nq++] = tk;
        } else {
            tok[tk] = c->pad + (size_t)h * hd;
        }
    }
    sa__attn_head a = {.T = T,
                       .hd = hd,
                       .nq = nq,
                       .tok = tok,
                       .koff = C,
                       .voff = 2 * C,
                       .qi = qi,
                       .out = out,
                       .scale = 1.0f / sqrtf((float)hd),
                       .S = S,
                       .rel_h = c->b->rel_h,
                       .rel_w = c->b->rel_w};
    m->k->attention(&a, scr);
}

/* per-worker floats: the token, output and query index arrays, then the kernel's scratch (kept 64-byte
 * aligned: per is a multiple of 16 and the arena is aligned) */
static size_t attn_scratch_per(int T, int S, int hd) {
    size_t idx = (size_t)T * (2 * sizeof(float *) + sizeof(int));
    return (idx + 63) / 64 * 16 + sa__attn_scratch_size(T, hd, S);
}

typedef struct add_ctx {
    float *y;
    const float *x;
} add_ctx;

static void add_range(void *vctx, size_t a, size_t b) {
    const add_ctx *c = vctx;
    sa__add(c->y + a, c->x + a, b - a);
}

/* y += x over n floats, split over the pool */
static void add_pool(sa__pool *pool, float *y, const float *x, size_t n) {
    add_ctx c = {.y = y, .x = x};
    sa__pool_for(pool, n, 65536, add_range, &c);
}

/* x (n, l.out) += l(in): in the BF16 kernel's registers, else through y (n, l.out) and a pooled add (the
 * FP32 reference order: (products + bias) + x) */
static void residual_linear(const sa_sam_model *m, sa__pool *pool, const sa__lin *l,
                            const float *in, int n, float *x, float *y) {
    if (sa__linear_fuses(m->k, l)) {
        sa__linear_ep(m->k, m->params.threads, pool, l, in, l->in, n, x, l->out, SA__EP_ADD);
        return;
    }
    sa__linear(m, pool, l, in, l->in, n, y, l->out);
    add_pool(pool, x, y, (size_t)n * l->out);
}

/* ---- one ViT block (Block.forward): x (N, C) updated in place; B holds the block's scratch ---- */
static void vit_block(float *x, const sa_sam_model *m, sa__pool *pool, const sa__vit_block *b,
                      enc_buf *B) {
    const int C = m->arch.width, g = m->grid, N = g * g;
    const int side = b->global ? g : b->side, nws = (g + side - 1) / side;
    sa__layernorm(m->k, pool, &b->ln1, SAM_LN_EPS, x, B->xn, N); /* xn (N, C) */
    sa__linear(m, pool, &b->qkv, B->xn, C, N, B->qkv, 3 * C);    /* qkv (N, 3C) */
    attn_ctx ac = {.m = m,
                   .b = b,
                   .qkv = B->qkv,
                   .out = B->ao,
                   .pad = b->qkv.b ? b->qkv.b : B->zero,
                   .scratch = B->attn,
                   .per = B->attn_per,
                   .side = side,
                   .T = side * side,
                   .n_win_side = nws,
                   .heads = m->arch.heads};
    sa__pool_run(pool, nws * nws * m->arch.heads, attn_task, &ac); /* ao (N, C) */
    residual_linear(m, pool, &b->proj, B->ao, N, x, B->y);         /* x += proj(ao) */
    sa__layernorm(m->k, pool, &b->ln2, SAM_LN_EPS, x, B->xn, N);   /* xn (N, C) */
    sa__linear_ep(m->k, m->params.threads, pool, &b->lin1, B->xn, C, N, B->h, m->arch.mlp_dim,
                  SA__EP_GELU);                           /* h (N, mlp) = gelu(lin1(xn)) */
    residual_linear(m, pool, &b->lin2, B->h, N, x, B->y); /* x += lin2(h) */
}

typedef struct im2col_ctx {
    const float *src; /* (g*g, D) */
    float *cols;      /* (g*g, D*9) */
    int g, D;
} im2col_ctx;

/* 3x3 pad 1 im2col of grid rows [ya, yb) */
static void im2col_rows(void *vctx, size_t ya, size_t yb) {
    const im2col_ctx *c = vctx;
    const int g = c->g, D = c->D;
    for (int y = (int)ya; y < (int)yb; y++)
        for (int x = 0; x < g; x++) {
            float *col = c->cols + ((size_t)y * g + x) * D * 9;
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) {
                    const int sy = y + ky - 1, sx = x + kx - 1,
                              in = sy >= 0 && sx >= 0 && sy < g && sx < g;
                    const float *s = in ? c->src + ((size_t)sy * g + sx) * D : NULL;
                    for (int ch = 0; ch < D; ch++)
                        col[ch * 9 + ky * 3 + kx] = in ? s[ch] : 0.0f;
                }
        }
}

/* ---- neck: conv1x1 -> LN2d -> conv3x3 pad 1 -> LN2d; out (N, D) ---- */
static void neck(const sa_sam_model *m, sa__pool *pool, enc_buf *B, float *out) {
    const int C = m->arch.width, D = m->arch.out_chans, g = m->grid, N = g * g;
    sa__lin c1 = {.w = m->neck1_w, .out = D, .in = C};
    sa__linear(m, pool, &c1, B->x, C, N, B->y, D); /* y (N, D) */
    sa__layernorm(m->k, pool, &m->neck_ln1, SAM_LN_EPS, B->y, B->y, N);
    float *cols = B->h; /* (N, D*9) im2col in the conv weight's (c, ky, kx) order */
    im2col_ctx ic = {.src = B->y, .cols = cols, .g = g, .D = D};
    sa__pool_for(pool, (size_t)g, 4, im2col_rows, &ic);
    sa__lin c2 = {.w = m->neck2_w, .out = D, .in = D * 9};
    sa__linear(m, pool, &c2, cols, D * 9, N, out, D);
    sa__layernorm(m->k, pool, &m->neck_ln2, SAM_LN_EPS, out, out, N);
}

int sa__sam_encode(const sa_sam_model *m, sa__pool *pool, const sa_image *img,
                   sa_sam_probe_fn probe, void *pctx, float *embed, int *new_w, int *new_h,
                   sa_error *err) {
    const sa_sam_arch *a = &m->arch;
    const size_t S = (size_t)a->image_size, C = (size_t)a->width, D = (size_t)a->out_chans,
                 g = (size_t)m->grid;
    const size_t N = g * g;
    size_t hid = (size_t)a->mlp_dim > 9 * D ? (size_t)a->mlp_dim : 9 * D;
    size_t P = (size_t)a->patch_size;
    if (hid < 3 * P * P) hid = 3 * P * P;
    size_t yw = C > D ? C : D;
    size_t per = attn_scratch_per((int)N, (int)g, m->head_dim);
    size_t perw = attn_scratch_per(a->window * a->window, a->window, m->head_dim);
    if (perw > per) per = perw;
    per = (per + 15) / 16 * 16;
    size_t sizes[9], total = 0;
    int ok = sa__mul_size(3 * S, S, &sizes[0]) && sa__mul_size(N, C, &sizes[1]) &&
             sa__mul_size(N, C, &sizes[2]) && sa__mul_size(N, 3 * C, &sizes[3]) &&
             sa__mul_size(N, C, &sizes[4]) && sa__mul_size(N, hid, &sizes[5]) &&
             sa__mul_size(N, yw, &sizes[6]) &&
             sa__mul_size(per, (size_t)sa__pool_threads(pool), &sizes[7]);
    sizes[8] = 3 * C;
    for (int i = 0; ok && i < 9; i++) {
        sizes[i] = (sizes[i] + 15) / 16 * 16;
        ok = total + sizes[i] >= total && total + sizes[i] < ((size_t)1 << 40);
        total += sizes[i];
    }
    if (!ok) return sa_error_set(err, SA_ERR_NOMEM, "SAM encoder: activation size overflows");
    float *mem = alloc_activations(total); /* every region 64-byte aligned */
    if (!mem)
        return sa_error_set(err, SA_ERR_NOMEM,
                            "SAM encoder: out of memory for %zu MiB of activations",
                            total * sizeof(float) >> 20);
    enc_buf B;
    float *p = mem;
    B.input = p, p += sizes[0];
    B.x = p, p += sizes[1];
    B.xn = p, p += sizes[2];
    B.qkv = p, p += sizes[3];
    B.ao = p, p += sizes[4];
    B.h = p, p += sizes[5];
    B.y = p, p += sizes[6];
    B.attn = p, p += sizes[7];
    B.attn_per = per;
    B.zero = p;
    memset(B.zero, 0, 3 * C * sizeof(float));

    int rc = preprocess(m, img, probe, pctx, B.input, new_w, new_h, err);
    if (rc != SA_OK) {
        free(mem);
        return rc;
    }
    int64_t shp[3] = {(int64_t)g, (int64_t)g, (int64_t)C};
    patch_embed(m, pool, B.input, B.h, B.x); /* x (N, C) */
    if (probe) probe(pctx, "encoder.patch_embed", B.x, shp, 3);
    sa__add(B.x, m->pos, N * C);
    for (int i = 0; i < a->depth; i++) {
        vit_block(B.x, m, pool, &m->blocks[i], &B); /* x (N, C) */
        if (probe) {
            char name[32];
            snprintf(name, sizeof name, "encoder.layer%d", i);
            probe(pctx, name, B.x, shp, 3);
        }
    }
    neck(m, pool, &B, embed); /* embed (N, D) */
    if (probe) {
        float *t = B.h; /* (D, g, g) */
        for (size_t i = 0; i < N; i++)
            for (size_t c = 0; c < D; c++)
                t[c * N + i] = embed[i * D + c];
        int64_t s2[3] = {(int64_t)D, (int64_t)g, (int64_t)g};
        probe(pctx, "image_embeddings", t, s2, 3);
    }
    free(mem);
    return SA_OK;
}
