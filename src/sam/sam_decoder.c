/* SAM prompt encoder, two-way mask decoder and post-processing (segment_anything/modeling/prompt_encoder.py,
 * mask_decoder.py, transformer.py, sam.py postprocess_masks).
 *
 * Image-side tensors are token-major (g*g, D), as the reference's flatten(2).permute(0, 2, 1). The scratch lives
 * on the sa_sam_image and is sized before the first layer runs (it grows only when a prompt has more tokens than
 * any before). Attention heads run as pool tasks; the projections are pooled linear layers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sam/sam_internal.h"

#define DEC_LN_EPS 1e-5f /* nn.LayerNorm default in the reference TwoWayTransformer */
#define LN2D_EPS 1e-6f   /* LayerNorm2d */

/* ---- Fourier positional encoding (PositionEmbeddingRandom._pe_encoding): pe (D) for normalised (x, y) ---- */
static void pe_encode(const sa_sam_model *m, float x, float y, float *pe) {
    const int half = m->arch.out_chans / 2;
    const float *G = m->pe_gauss; /* (2, half) */
    const float two_pi = (float)(2.0 * M_PI);
    x = 2.0f * x - 1.0f;
    y = 2.0f * y - 1.0f;
    for (int k = 0; k < half; k++) {
        float v = two_pi * (x * G[k] + y * G[half + k]);
        pe[k] = sinf(v);
        pe[half + k] = cosf(v);
    }
}

/* Dense PE of the embedding grid (PositionEmbeddingRandom.forward); pe (g*g, D). */
void sa__sam_dense_pe(const sa_sam_model *m, float *pe) {
    const int g = m->grid, D = m->arch.out_chans;
    for (int i = 0; i < g; i++)
        for (int j = 0; j < g; j++)
            pe_encode(m, ((float)j + 0.5f) / (float)g, ((float)i + 0.5f) / (float)g,
                      pe + ((size_t)i * g + j) * D);
}

int sa__sam_validate_prompt(const sa_sam_image *e, const sa_sam_prompt *p, sa_error *err) {
    const int lr = 4 * e->m->grid;
    if (p->n_points < 0 || p->n_points > SA_MAX_CLICKS)
        return sa_error_set(err, SA_ERR_RANGE, "SAM prompt: %d points (allowed 0..%d)", p->n_points,
                            SA_MAX_CLICKS);
    if (p->n_points > 0 && (!p->points || !p->labels))
        return sa_error_set(err, SA_ERR_INVALID, "SAM prompt: points or labels missing");
    for (int i = 0; i < p->n_points; i++) {
        float x = p->points[2 * i], y = p->points[2 * i + 1];
        if (!isfinite(x) || !isfinite(y) || x < 0 || y < 0 || x > (float)e->width ||
            y > (float)e->height)
            return sa_error_set(err, SA_ERR_RANGE,
                                "SAM prompt: point %d (x=%g, y=%g) is outside the %dx%d image",
                                i + 1, x, y, e->width, e->height);
        if (p->labels[i] < -1 || p->labels[i] > 1)
            return sa_error_set(err, SA_ERR_RANGE,
                                "SAM prompt: point %d has label %d (allowed -1, 0, 1)", i + 1,
                                p->labels[i]);
    }
    if (p->box) {
        const float *b = p->box;
        for (int i = 0; i < 4; i++)
            if (!isfinite(b[i]))
                return sa_error_set(err, SA_ERR_RANGE,
                                    "SAM prompt: box has a non-finite coordinate");
        if (b[2] < b[0] || b[3] < b[1])
            return sa_error_set(err, SA_ERR_RANGE,
                                "SAM prompt: box (%g,%g)-(%g,%g) has x1 < x0 or y1 < y0", b[0],
                                b[1], b[2], b[3]);
        if (b[2] < 0 || b[3] < 0 || b[0] > (float)e->width || b[1] > (float)e->height)
            return sa_error_set(err, SA_ERR_RANGE,
                                "SAM prompt: box (%g,%g)-(%g,%g) lies outside the %dx%d image",
                                b[0], b[1], b[2], b[3], e->width, e->height);
    }
    if (p->mask_input && p->mask_input_size != lr)
        return sa_error_set(err, SA_ERR_RANGE,
                            "SAM prompt: mask input is %dx%d, the model needs %dx%d",
                            p->mask_input_size, p->mask_input_size, lr, lr);
    if (!p->mask_input && p->mask_input_size != 0)
        return sa_error_set(err, SA_ERR_INVALID,
                            "SAM prompt: mask_input_size %d given without a mask",
                            p->mask_input_size);
    if (p->n_points == 0 && !p->box && !p->mask_input)
        return sa_error_set(err, SA_ERR_INVALID, "SAM prompt: no point, box or mask");
    return SA_OK;
}

/* Sparse prompt embeddings (PromptEncoder._embed_points / _embed_boxes); returns the token count. */
static int sparse_embed(const sa_sam_image *e, const sa_sam_prompt *p, float *out) {
    const sa_sam_model *m = e->m;
    const int D = m->arch.out_chans;
    const float S = (float)m->arch.image_size;
    /* ResizeLongestSide.apply_coords in float64, then float32 as the predictor's torch.as_tensor */
    const double sx = (double)e->new_w / (double)e->width,
                 sy = (double)e->new_h / (double)e->height;
    int n = 0;
    for (int i = 0; i < p->n_points; i++, n++) {
        float *o = out + (size_t)n * D;
        int lab = p->labels[i];
        if (lab == -1) {
            memcpy(o, m->not_a_point, (size_t)D * sizeof(float));
            continue;
        }
        float x = (float)((double)p->points[2 * i] * sx) + 0.5f,
              y = (float)((double)p->points[2 * i + 1] * sy) + 0.5f;
        pe_encode(m, x / S, y / S, o);
        sa__add(o, m->point_embed[lab], (size_t)D);
    }
    if (!p->box) { /* padding point, label -1 */
        memcpy(out + (size_t)n * D, m->not_a_point, (size_t)D * sizeof(float));
        n++;
    } else {
        for (int c = 0; c < 2; c++, n++) {
            float *o = out + (size_t)n * D;
            float x = (float)((double)p->box[2 * c] * sx) + 0.5f,
                  y = (float)((double)p->box[2 * c + 1] * sy) + 0.5f;
            pe_encode(m, x / S, y / S, o);
            sa__add(o, m->point_embed[2 + c], (size_t)D);
        }
    }
    return n;
}

typedef struct me_ctx {
    const sa_sam_model *m;
    const float *in;
    float *t1, *t2;
} me_ctx;

/* conv 2x2 s2, 1 -> c4: rows of t1 (2g*2g, c4) */
static void me_conv1_rows(void *vctx, size_t ya, size_t yb) {
    const me_ctx *c = vctx;
    const sa_sam_model *m = c->m;
    const int g2 = 2 * m->grid, g4 = 4 * m->grid, c4 = m->arch.mask_in_chans / 4;
    for (int y = (int)ya; y < (int)yb; y++)
        for (int x = 0; x < g2; x++)
            for (int o = 0; o < c4; o++) {
                const float *w = m->me_c1_w + (size_t)o * 4;
                float s = m->me_c1_b[o];
                for (int ky = 0; ky < 2; ky++)
                    for (int kx = 0; kx < 2; kx++)
                        s += w[ky * 2 + kx] * c->in[(size_t)(2 * y + ky) * g4 + 2 * x + kx];
                c->t1[((size_t)y * g2 + x) * c4 + o] = s;
            }
}

/* conv 2x2 s2, c4 -> c16: rows of t2 (g*g, c16) */
static void me_conv2_rows(void *vctx, size_t ya, size_t yb) {
    const me_ctx *c = vctx;
    const sa_sam_model *m = c->m;
    const int g = m->grid, g2 = 2 * g, c16 = m->arch.mask_in_chans, c4 = c16 / 4;
    for (int y = (int)ya; y < (int)yb; y++)
        for (int x = 0; x < g; x++)
            for (int o = 0; o < c16; o++) {
                const float *w = m->me_c2_w + (size_t)o * c4 * 4;
                float s = m->me_c2_b[o];
                for (int i = 0; i < c4; i++)
                    for (int ky = 0; ky < 2; ky++)
                        for (int kx = 0; kx < 2; kx++)
                            s += w[i * 4 + ky * 2 + kx] *
                                 c->t1[((size_t)(2 * y + ky) * g2 + 2 * x + kx) * c4 + i];
                c->t2[((size_t)y * g + x) * c16 + o] = s;
            }
}

/* Dense prompt from a low-res mask (PromptEncoder.mask_downscaling); in (4g, 4g); out (g*g, D) */
static void mask_embed(const sa_sam_model *m, sa__pool *pool, const float *in, float *t1, float *t2,
                       float *out) {
    const int g = m->grid, g2 = 2 * g, c16 = m->arch.mask_in_chans, c4 = c16 / 4;
    me_ctx c = {.m = m, .in = in, .t1 = t1, .t2 = t2};
    sa__pool_for(pool, (size_t)g2, 8, me_conv1_rows, &c);
    sa__layernorm(m->k, pool, &m->me_ln1, LN2D_EPS, t1, t1, g2 * g2);
    sa__gelu(m->k, pool, t1, (size_t)g2 * g2 * c4);
    sa__pool_for(pool, (size_t)g, 4, me_conv2_rows, &c);
    sa__layernorm(m->k, pool, &m->me_ln2, LN2D_EPS, t2, t2, g * g);
    sa__gelu(m->k, pool, t2, (size_t)g * g * c16);
    sa__linear(m, pool, &m->me_c3, t2, c16, g * g, out, m->arch.out_chans);
}

/* ---- decoder attention (transformer.py Attention) ---- */
typedef struct dec_scratch {
    float *Q, *K, *V, *O; /* (max(HW, Nt), I) */
    float *sc;            /* per worker (HW * Nt) */
    size_t sc_per;
    float *c; /* (I) per-(head, token) score offsets of the fused cross attentions */
} dec_scratch;

typedef struct head_ctx {
    const sa_sam_model *m;
    const float *Q, *K, *V;
    float *O;
    int nq, nk, I, dh;
    float *sc;
    size_t per;
} head_ctx;

static void head_task(void *vctx, int h, int worker) {
    head_ctx *c = vctx;
    const sa__kernels *k = c->m->k;
    float *s = c->sc + (size_t)worker * c->per; /* (nq, nk) */
    /* scores scaled by 1/sqrt(dh) inside the product (the reference divides after it: 1 ulp apart) */
    k->gemm(1, c->nq, c->nk, c->dh, 1.0f / sqrtf((float)c->dh), c->Q + (size_t)h * c->dh, c->I,
            c->K + (size_t)h * c->dh, c->I, 0.0f, s, c->nk);
    k->softmax(s, c->nq, c->nk, c->nk);
    k->gemm(0, c->nq, c->dh, c->nk, 1.0f, s, c->nk, c->V + (size_t)h * c->dh, c->I, 0.0f,
            c->O + (size_t)h * c->dh, c->I);
}

/* out (nq, D) = attention(q (nq, D), k (nk, D), v (nk, D)). kv_cached: S->K and S->V already hold the
 * projections. qproj: the query projection (nq, I) when already computed (q unused), else NULL. */
static void dec_attention(const sa_sam_model *m, sa__pool *pool, const sa__attn *a, const float *q,
                          int nq, const float *k, const float *v, int nk, int kv_cached,
                          const float *qproj, dec_scratch *S, float *out) {
    const int D = m->arch.out_chans, I = a->q.out;
    if (!qproj) sa__linear(m, pool, &a->q, q, D, nq, S->Q, I);
    if (!kv_cached) {
        sa__linear(m, pool, &a->k, k, D, nk, S->K, I);
        sa__linear(m, pool, &a->v, v, D, nk, S->V, I);
    }
    head_ctx hc = {.m = m,
                   .Q = qproj ? qproj : S->Q,
                   .K = S->K,
                   .V = S->V,
                   .O = S->O,
                   .nq = nq,
                   .nk = nk,
                   .I = I,
                   .dh = I / a->heads,
                   .sc = S->sc,
                   .per = S->sc_per};
    sa__pool_run(pool, a->heads, head_task, &hc);
    sa__linear(m, pool, &a->o, S->O, I, nq, out, D);
}

/* ---- cross attention with few tokens, re-associated (same math as dec_attention, fewer multiply-adds) ----
 * With R = heads * Nt < I (the projection width), projecting the 4096 image tokens costs more than folding the
 * projection into the tokens' side: q_h . (Wk_h x + bk_h) = x . (Wk_h^T q_h) + q_h . bk_h, and
 * Wo (sum_t p_t V_h[t]) = sum_t p_t (Wo_h V_h[t]). The image side then meets R vectors instead of I. */
typedef struct cols_ctx {
    const sa__kernels *k;
    int M, K, ldb;
    const float *A, *B;
    float *C;
    int chunk, N;
} cols_ctx;

static void cols_task(void *vctx, int t,
                      int worker) { /* C[:, cols] = A (M x K) * B[:, cols] (K x N) */
    (void)worker;
    cols_ctx *c = vctx;
    int c0 = t * c->chunk, n = c->N - c0 < c->chunk ? c->N - c0 : c->chunk;
    if (c->k->blas_tasks) /* single-threaded OpenBLAS */
        sa__blas_sgemm1(0, c->M, n, c->K, c->A, c->K, c->B + c0, c->ldb, c->C + c0, c->N);
    else
        c->k->gemm(0, c->M, n, c->K, 1.0f, c->A, c->K, c->B + c0, c->ldb, 0.0f, c->C + c0, c->N);
}

static int fused_ok(const sa_sam_model *m, const sa__attn *a, int Nt) {
    const int HW = m->grid * m->grid, D = m->arch.out_chans;
    return m->k->fused_cross && a->heads * Nt < a->q.out && HW >= 4 * D;
}

typedef struct tsm_ctx {
    const sa__kernels *k;
    const float *St;
    float *Sc;
    int R, HW;
    float div;
} tsm_ctx;

/* rows r of Sc (R, HW) from the transposed scores St (HW, R), scaled, then softmax */
static void t2i_softmax_rows(void *vctx, size_t ra, size_t rb) {
    const tsm_ctx *c = vctx;
    const int R = c->R, HW = c->HW;
    for (int j0 = 0; j0 < HW; j0 += 16) { /* blocked transpose */
        const int j1 = j0 + 16 < HW ? j0 + 16 : HW;
        for (int r = (int)ra; r < (int)rb; r++)
            for (int j = j0; j < j1; j++)
                c->Sc[(size_t)r * HW + j] = c->St[(size_t)j * R + r] / c->div;
    }
    c->k->softmax(c->Sc + ra * (size_t)HW, (int)(rb - ra), HW, HW);
}

typedef struct ism_ctx {
    const sa__kernels *k;
    float *Sc;
    int R, Nt, H;
    float div;
} ism_ctx;

/* rows i of Sc (HW, R): scale, then softmax over each head's Nt columns */
static void i2t_softmax_rows(void *vctx, size_t ia, size_t ib) {
    const ism_ctx *c = vctx;
    float *base = c->Sc + ia * (size_t)c->R;
    for (size_t i = 0; i < (ib - ia) * (size_t)c->R; i++)
        base[i] /= c->div;
    for (int h = 0; h < c->H; h++)
        c->k->softmax(base + h * c->Nt, (int)(ib - ia), c->Nt, c->R);
}

/* tokens (Nt, D) attend to the image: k_in, v_in (HW, D); out (Nt, D); tmp: HW * D floats */
static void t2i_fused(const sa_sam_model *m, sa__pool *pool, const sa__attn *a, const float *q_in,
                      int Nt, const float *k_in, const float *v_in, dec_scratch *S, float *tmp,
                      float *out) {
    const int D = m->arch.out_chans, HW = m->grid * m->grid, I = a->q.out, H = a->heads, dh = I / H,
              R = H * Nt;
    const sa__kernels *k = m->k;
    float *Qt = S->K, *O = S->V, *Hm = S->O, *Z = S->O + (size_t)R * D, *Sc = S->Q, *c = S->c;
    sa__linear(m, NULL, &a->q, q_in, D, Nt, Qt, I); /* (Nt, I) */
    for (int h = 0; h < H; h++) {                   /* Hm (R, D) */
        k->gemm(0, Nt, D, dh, 1.0f, Qt + h * dh, I, a->k.w + (size_t)h * dh * D, D, 0.0f,
                Hm + (size_t)h * Nt * D, D);
        for (int t = 0; t < Nt; t++) {
            float v = 0.0f;
            for (int i = 0; i < dh; i++)
                v += Qt[(size_t)t * I + h * dh + i] * a->k.b[h * dh + i];
            c[h * Nt + t] = v;
        }
    }
    /* scores transposed, St (HW, R) = k_in Hm^T + c: the image side streams through once, unpacked */
    float *St = tmp;
    sa__lin lh = {.w = Hm, .b = c, .out = R, .in = D};
    sa__linear(m, pool, &lh, k_in, D, HW, St, R);
    const float div = sqrtf((float)dh);
    tsm_ctx tc = {.k = k, .St = St, .Sc = Sc, .R = R, .HW = HW, .div = div};
    sa__pool_for(pool, (size_t)R, 4, t2i_softmax_rows,
                 &tc); /* Sc (R, HW) = softmax(St^T / sqrt(dh)) */
    int threads = sa__pool_threads(pool), chunk = (D + 2 * threads - 1) / (2 * threads);
    chunk = (chunk + 31) / 32 * 32;
    cols_ctx cc = {
        .k = k, .M = R, .K = HW, .ldb = D, .A = Sc, .B = v_in, .C = Z, .chunk = chunk, .N = D};
    sa__pool_run(pool, (D + chunk - 1) / chunk, cols_task, &cc); /* Z (R, D) */
    for (int h = 0; h < H; h++) {                                /* O (Nt, I) */
        k->gemm(1, Nt, dh, D, 1.0f, Z + (size_t)h * Nt * D, D, a->v.w + (size_t)h * dh * D, D, 0.0f,
                O + h * dh, I);
        for (int t = 0; t < Nt; t++)
            for (int i = 0; i < dh; i++)
                O[(size_t)t * I + h * dh + i] += a->v.b[h * dh + i];
    }
    sa__linear(m, NULL, &a->o, O, I, Nt, out, D);
}

/* the image (HW, D) attends to the tokens: k_in, v_in (Nt, D); out (HW, D) */
static void i2t_fused(const sa_sam_model *m, sa__pool *pool, const sa__attn *a, const float *q_in,
                      const float *k_in, const float *v_in, int Nt, dec_scratch *S, float *out) {
    const int D = m->arch.out_chans, HW = m->grid * m->grid, I = a->q.out, H = a->heads, dh = I / H,
              R = H * Nt;
    const sa__kernels *k = m->k;
    float *K = S->K, *V = S->V, *G = S->O, *U = S->O + (size_t)R * D, *Ut = U + (size_t)R * D,
          *Sc = S->Q, *c = S->c;
    sa__linear(m, NULL, &a->k, k_in, D, Nt, K, I);
    sa__linear(m, NULL, &a->v, v_in, D, Nt, V, I);
    for (int h = 0; h < H; h++) {
        /* G (R, D): row (h,t) = K_h[t] Wq_h; c = bq_h . K_h[t] */
        k->gemm(0, Nt, D, dh, 1.0f, K + h * dh, I, a->q.w + (size_t)h * dh * D, D, 0.0f,
                G + (size_t)h * Nt * D, D);
        for (int t = 0; t < Nt; t++) {
            float v = 0.0f;
            for (int i = 0; i < dh; i++)
                v += a->q.b[h * dh + i] * K[(size_t)t * I + h * dh + i];
            c[h * Nt + t] = v;
        }
        /* U (R, D): row (h,t) = Wo_h V_h[t] */
        k->gemm(1, Nt, D, dh, 1.0f, V + h * dh, I, a->o.w + h * dh, I, 0.0f, U + (size_t)h * Nt * D,
                D);
    }
    sa__lin lg = {.w = G, .b = c, .out = R, .in = D};
    sa__linear(m, pool, &lg, q_in, D, HW, Sc, R); /* (HW, R) */
    const float div = sqrtf((float)dh);
    ism_ctx ic = {.k = k, .Sc = Sc, .R = R, .Nt = Nt, .H = H, .div = div};
    sa__pool_for(pool, (size_t)HW, 256, i2t_softmax_rows, &ic);
    for (int r = 0; r < R; r++)
        for (int d = 0; d < D; d++)
            Ut[(size_t)d * R + r] = U[(size_t)r * D + d];
    sa__lin lu = {.w = Ut, .b = a->o.b, .out = D, .in = R};
    sa__linear(m, pool, &lu, Sc, R, HW, out, D); /* (HW, D) */
}

static void add_to(float *dst, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        dst[i] = a[i] + b[i];
}

typedef struct add_ctx {
    float *dst;
    const float *a, *b;
} add_ctx;

static void add_range(void *vctx, size_t i0, size_t i1) {
    const add_ctx *c = vctx;
    add_to(c->dst + i0, c->a + i0, c->b + i0, i1 - i0);
}

/* dst = a + b over n floats, split over the pool (dst may alias a) */
static void add_pool(sa__pool *pool, float *dst, const float *a, const float *b, size_t n) {
    add_ctx c = {.dst = dst, .a = a, .b = b};
    sa__pool_for(pool, n, 65536, add_range, &c);
}

/* ---- post-processing: F.interpolate bilinear, align_corners=False (upsample_bilinear2d) ---- */
typedef struct bil_ctx {
    const float *in;
    int ih, iw, in_ld;
    float sh, sw; /* source pixels per output pixel */
    float *out;
    int ow;
} bil_ctx;

#define BIL_COLS 512
static void bilinear_rows(void *vctx, size_t ya, size_t yb) {
    const bil_ctx *c = vctx;
    int cx0[BIL_COLS], cx1[BIL_COLS];
    float cl0[BIL_COLS], cl1[BIL_COLS];
    for (int xb = 0; xb < c->ow;
         xb += BIL_COLS) { /* column weights computed once per block of columns */
        const int xe = xb + BIL_COLS < c->ow ? xb + BIL_COLS : c->ow;
        for (int x = xb; x < xe; x++) {
            float fx = ((float)x + 0.5f) * c->sw - 0.5f;
            if (fx < 0) fx = 0;
            int x0 = (int)fx;
            cx0[x - xb] = x0;
            cx1[x - xb] = x0 + (x0 < c->iw - 1);
            cl1[x - xb] = fx - (float)x0;
            cl0[x - xb] = 1.0f - cl1[x - xb];
        }
        for (int y = (int)ya; y < (int)yb; y++) {
            float fy = ((float)y + 0.5f) * c->sh - 0.5f;
            if (fy < 0) fy = 0;
            int y0 = (int)fy, y1 = y0 + (y0 < c->ih - 1);
            float ly1 = fy - (float)y0, ly0 = 1.0f - ly1;
            const float *r0 = c->in + (size_t)y0 * c->in_ld, *r1 = c->in + (size_t)y1 * c->in_ld;
            float *o = c->out + (size_t)y * c->ow;
            for (int x = xb; x < xe; x++) {
                const int i = x - xb;
                o[x] = ly0 * (cl0[i] * r0[cx0[i]] + cl1[i] * r0[cx1[i]]) +
                       ly1 * (cl0[i] * r1[cx0[i]] + cl1[i] * r1[cx1[i]]);
            }
        }
    }
}

/* low (lr, lr) -> S x S -> crop (new_h, new_w) -> (h, w). Only the cropped part of the S x S map is computed
 * (each output pixel depends only on its own coordinates). tmp: new_h * new_w floats. Rows split over the pool. */
void sa__sam_postprocess(const sa_sam_image *e, const float *low, float *out, float *tmp) {
    const int lr = 4 * e->m->grid, S = e->m->arch.image_size;
    const float s = (float)lr / (float)S;
    bil_ctx c1 = {
        .in = low, .ih = lr, .iw = lr, .in_ld = lr, .sh = s, .sw = s, .out = tmp, .ow = e->new_w};
    sa__pool_for(e->pool, (size_t)e->new_h, 32, bilinear_rows, &c1);
    bil_ctx c2 = {.in = tmp,
                  .ih = e->new_h,
                  .iw = e->new_w,
                  .in_ld = e->new_w,
                  .sh = (float)e->new_h / (float)e->height,
                  .sw = (float)e->new_w / (float)e->width,
                  .out = out,
                  .ow = e->width};
    sa__pool_for(e->pool, (size_t)e->height, 32, bilinear_rows, &c2);
}

/* ---- decoder scratch layout ---- */
/* floats of one worker's scratch in the fused last upscaling stage (up2_row): the row's features, then the
 * four subpixels' mask rows */
static size_t up2_scratch_per(int w2, int D8, int nm) {
    return ((size_t)w2 * 4 * D8 + (size_t)4 * nm * w2 + 15) / 16 * 16;
}

typedef struct dec_layout {
    float *tok, *qpe, *tq, *ta, *mlp; /* (Nt, D) x4, (Nt, mlp) */
    float *src, *kp, *sa;             /* (HW, D) */
    float *up1, *u1;                  /* (HW, 4*D4), (4HW, D4) */
    float *up2;                       /* per worker: up2_scratch_per */
    float *hyp, *hyp_t;               /* (n_mask, D8), (max hidden) x 2 */
    float *me1, *me2;                 /* mask embedding (4HW, c4), (HW, c16) */
    float *low;                       /* (n_mask, 16HW) */
    float *iou;                       /* (n_mask) */
    float *post;                      /* (new_h * new_w) */
    dec_scratch S;
} dec_layout;

static size_t layout(const sa_sam_image *e, int Nt, float *base, dec_layout *L) {
    const sa_sam_model *m = e->m;
    const sa_sam_arch *a = &m->arch;
    const size_t D = (size_t)a->out_chans, HW = (size_t)m->grid * m->grid, D4 = D / 4, D8 = D / 8;
    const size_t nt = (size_t)Nt, I = D; /* inner width <= D */
    const size_t rows = HW > nt ? HW : nt;
    size_t hid = (size_t)a->iou_hidden > D ? (size_t)a->iou_hidden : D;
    size_t threads = (size_t)sa__pool_threads(e->pool);
    size_t off = 0;
#define TAKE(ptr, n)                                                                               \
    do {                                                                                           \
        if (base) (ptr) = base + off;                                                              \
        off += ((size_t)(n) + 15) / 16 * 16;                                                       \
    } while (0)
    TAKE(L->tok, nt * D);
    TAKE(L->qpe, nt * D);
    TAKE(L->tq, nt * D);
    TAKE(L->ta, nt * D);
    TAKE(L->mlp, nt * (size_t)a->dec_mlp_dim);
    TAKE(L->src, HW * D);
    TAKE(L->kp, HW * D);
    TAKE(L->sa, HW * D);
    TAKE(L->up1, HW * 4 * D4);
    TAKE(L->u1, 4 * HW * D4);
    TAKE(L->up2, up2_scratch_per(2 * m->grid, (int)D8, a->n_mask_tokens) * threads);
    TAKE(L->hyp, (size_t)a->n_mask_tokens * D8);
    TAKE(L->hyp_t, 2 * hid);
    TAKE(L->me1, 4 * HW * (size_t)a->mask_in_chans / 4);
    TAKE(L->me2, HW * (size_t)a->mask_in_chans);
    TAKE(L->low, (size_t)a->n_mask_tokens * 16 * HW);
    TAKE(L->iou, (size_t)a->n_mask_tokens);
    TAKE(L->post, (size_t)e->new_h * e->new_w);
    TAKE(L->S.Q, rows * I);
    TAKE(L->S.K, rows * I);
    TAKE(L->S.V, rows * I);
    TAKE(L->S.O, rows * I);
    L->S.sc_per = (HW * nt + 15) / 16 * 16;
    TAKE(L->S.sc, L->S.sc_per * threads);
    TAKE(L->S.c, I);
#undef TAKE
    return off;
}

static void mlp_forward(const sa_sam_model *m, const sa__mlp *mlp, const float *x, float *t0,
                        float *t1, float *out) {
    const float *cur = x;
    for (int i = 0; i < mlp->n; i++) {
        float *dst = i == mlp->n - 1 ? out : (i % 2 ? t1 : t0);
        sa__linear(m, NULL, &mlp->l[i], cur, mlp->l[i].in, 1, dst, mlp->l[i].out);
        if (i < mlp->n - 1) sa__relu(dst, (size_t)mlp->l[i].out);
        cur = dst;
    }
}

/* The first upscaling stage: ConvTranspose 2x2 s2 output (rows of (o, ky, kx)) scattered to the doubled grid
 * (+ bias), then LayerNorm2d and GELU: in (h*w, 4*co) -> out (2h*2w, co). */
typedef struct scatter_ctx {
    const float *in, *bias;
    int w, co;
    float *out;
    const sa__kernels *k;
    const sa__ln *ln; /* LayerNorm2d of each output pixel (eps LN2D_EPS), then GELU, in cache */
} scatter_ctx;

static void convT_rows(void *vctx, size_t ya, size_t yb) {
    const scatter_ctx *c = vctx;
    const float *in = c->in, *bias = c->bias;
    const int w = c->w, co = c->co;
    float *out = c->out;
    for (int y = (int)ya; y < (int)yb; y++)
        for (int x = 0; x < w; x++) {
            const float *r = in + ((size_t)y * w + x) * 4 * co;
            for (int ky = 0; ky < 2; ky++)
                for (int kx = 0; kx < 2; kx++) {
                    float *o = out + ((size_t)(2 * y + ky) * 2 * w + 2 * x + kx) * co;
                    for (int ch = 0; ch < co; ch++)
                        o[ch] = r[ch * 4 + ky * 2 + kx] + bias[ch];
                }
        }
    const int p0 = (int)ya * 4 * w, p1 = (int)yb * 4 * w; /* output pixels of rows 2ya .. 2yb-1 */
    c->k->layernorm_rows(c->ln, LN2D_EPS, out, out, p0, p1);
    c->k->gelu(out + (size_t)p0 * co, (size_t)(p1 - p0) * co);
}

static void convT_scatter(const sa__kernels *k, sa__pool *pool, const float *in, int h, int w,
                          int co, const float *bias, const sa__ln *ln, float *out) {
    scatter_ctx c = {.in = in, .bias = bias, .w = w, .co = co, .out = out, .k = k, .ln = ln};
    sa__pool_for(pool, (size_t)h, 8, convT_rows, &c);
}

/* The last upscaling stage fused with the mask product, one row y of the 2g grid per task: upscale_conv2 as
 * a linear layer (the row's pixels of u1 -> (ky, kx, ch) + bias), GELU, then per subpixel (ky, kx) the
 * hypernetwork product hyper (nm, D8) x G_k^T, written to row 2y+ky, columns 2x+kx of the low-res masks.
 * The (16HW, D8) upscaled features never exist as a whole; each product sums in the order the unfused
 * layers did, and no result depends on which worker or split ran the row. */
typedef struct up2_ctx {
    const sa_sam_model *m;
    const float *u1;  /* (4HW, D4) */
    const float *hyp; /* (nm, D8) */
    float *scratch;   /* per worker: up2_scratch_per floats */
    size_t per;
    int w2, nm; /* 2g pixels per row of u1; mask tokens */
    float *low; /* (nm, 4g, 4g) */
} up2_ctx;

static void up2_row(void *vctx, int y, int worker) {
    const up2_ctx *c = vctx;
    const sa__kernels *k = c->m->k;
    const sa__lin *l = &c->m->up2;
    const int W = c->w2, D8 = l->out / 4, nm = c->nm, side = 2 * W;
    float *G = c->scratch + (size_t)worker * c->per, *C = G + (size_t)W * 4 * D8;
    for (int x = 0; x < W; x++)
        memcpy(G + (size_t)x * l->out, l->b, (size_t)l->out * sizeof(float));
    k->gemm_split(1, W, l->out, l->in, 1.0f, c->u1 + (size_t)y * W * l->in, l->in, l->w, l->in,
                  1.0f, G, l->out);
    k->gelu(G, (size_t)W * l->out);
    for (int s = 0; s < 4; s++)
        k->gemm(1, nm, W, D8, 1.0f, c->hyp, D8, G + s * D8, l->out, 0.0f, C + (size_t)s * nm * W,
                W);
    for (int s = 0; s < 4; s++)
        for (int i = 0; i < nm; i++) {
            const float *src = C + ((size_t)s * nm + i) * W;
            float *dst = c->low + (size_t)i * side * side + (size_t)(2 * y + s / 2) * side + s % 2;
            for (int x = 0; x < W; x++)
                dst[2 * x] = src[x];
        }
}

/* ---- the first layer's image side, reused across clicks ----
 * In layer 0 the image tokens are embed + dense (the dense prompt: no_mask broadcast, or the mask embedding
 * t2 W3^T + b3 with t2 (HW, c16) the downscaled mask before its last 1x1 conv). A projection W of embed (+ pos)
 * is the same for every click (e->l0); the click's part folds through W: dense W^T = t2 (W W3)^T + W b3 (or
 * W no_mask), c16 products per element instead of D. */
typedef struct l0_ctx {
    const float *cache, *cb; /* (HW, I), (I) */
    float *dst;              /* (HW, I) */
    int I;
} l0_ctx;

static void l0_rows(void *vctx, size_t ra, size_t rb) {
    const l0_ctx *c = vctx;
    const int I = c->I;
    for (size_t r = ra; r < rb; r++) {
        const float *src = c->cache + r * I;
        float *d = c->dst + r * I;
        for (int i = 0; i < I; i++)
            d[i] = src[i] + c->cb[i];
    }
}

/* floats per fold block in e->l0 (after the three planes), for any I <= D */
#define L0_FB(m) (((size_t)(m)->arch.mask_in_chans + 2) * (size_t)(m)->arch.out_chans)

/* the weights' side of the fold, once per image: fb = [W W3 (I, c16), W b3 (I), W no_mask (I)] */
static void l0_fold(const sa_sam_model *m, const sa__lin *w, float *fb) {
    const int I = w->out, D = w->in, c16 = m->arch.mask_in_chans;
    const float *W3 = m->me_c3.w; /* (D, c16) */
    for (int i = 0; i < I; i++) {
        const float *wr = w->w + (size_t)i * D;
        for (int j = 0; j < c16; j++) {
            float v = 0.0f;
            for (int d = 0; d < D; d++)
                v += wr[d] * W3[(size_t)d * c16 + j];
            fb[(size_t)i * c16 + j] = v;
        }
        float vb = 0.0f, vn = 0.0f;
        for (int d = 0; d < D; d++) {
            if (m->me_c3.b) vb += wr[d] * m->me_c3.b[d];
            vn += wr[d] * m->no_mask[d];
        }
        fb[(size_t)I * c16 + i] = vb;
        fb[(size_t)I * (c16 + 1) + i] = vn;
    }
}

/* dst (HW, I) = cache + dense W^T, with fb from l0_fold */
static void l0_derive(const sa_sam_model *m, sa__pool *pool, int I, const float *cache,
                      const float *fb, const float *t2, float *dst) {
    const int c16 = m->arch.mask_in_chans, HW = m->grid * m->grid;
    if (t2) { /* a linear layer c16 -> I over the mask embedding's pixels, then + cache */
        sa__lin lf = {.w = fb, .b = fb + (size_t)I * c16, .out = I, .in = c16};
        sa__linear(m, pool, &lf, t2, c16, HW, dst, I);
        add_pool(pool, dst, dst, cache, (size_t)HW * I);
        return;
    }
    l0_ctx c = {.cache = cache, .cb = fb + (size_t)I * (c16 + 1), .dst = dst, .I = I};
    sa__pool_for(pool, (size_t)HW, 64, l0_rows, &c);
}

typedef struct qk_ctx {
    const sa__kernels *k;
    const float *Q, *K;
    float *Sc;
    int I, R, Nt, H, dh;
} qk_ctx;

/* rows of Sc (HW, R): column h*Nt + t = Q_h[row] . K_h[t] */
static void qk_rows(void *vctx, size_t ra, size_t rb) {
    const qk_ctx *c = vctx;
    for (int h = 0; h < c->H; h++)
        c->k->gemm_split(1, (int)(rb - ra), c->Nt, c->dh, 1.0f, c->Q + ra * c->I + h * c->dh, c->I,
                         c->K + h * c->dh, c->I, 0.0f, c->Sc + ra * c->R + h * c->Nt, c->R);
}

/* the image attends to the tokens with its query projection Q (HW, I) given: k_in, v_in (Nt, D); out (HW, D).
 * With R = heads * Nt < I the output projection is folded into the tokens as in i2t_fused. */
static void i2t_given_q(const sa_sam_model *m, sa__pool *pool, const sa__attn *a, const float *Q,
                        const float *k_in, const float *v_in, int Nt, dec_scratch *S, float *out) {
    const int D = m->arch.out_chans, HW = m->grid * m->grid, I = a->q.out, H = a->heads, dh = I / H,
              R = H * Nt;
    const sa__kernels *k = m->k;
    float *K = S->K, *V = S->V;
    sa__linear(m, NULL, &a->k, k_in, D, Nt, K, I);
    sa__linear(m, NULL, &a->v, v_in, D, Nt, V, I);
    if (R >= I) {
        dec_attention(m, pool, a, NULL, HW, NULL, NULL, Nt, 1, Q, S, out);
        return;
    }
    float *U = S->O, *Ut = S->O + (size_t)R * D, *Sc = S->Q;
    for (int h = 0; h < H; h++) /* U (R, D): row (h,t) = Wo_h V_h[t] */
        k->gemm(1, Nt, D, dh, 1.0f, V + h * dh, I, a->o.w + h * dh, I, 0.0f, U + (size_t)h * Nt * D,
                D);
    qk_ctx qc = {.k = k, .Q = Q, .K = K, .Sc = Sc, .I = I, .R = R, .Nt = Nt, .H = H, .dh = dh};
    sa__pool_for(pool, (size_t)HW, 256, qk_rows, &qc);
    ism_ctx ic = {.k = k, .Sc = Sc, .R = R, .Nt = Nt, .H = H, .div = sqrtf((float)dh)};
    sa__pool_for(pool, (size_t)HW, 256, i2t_softmax_rows, &ic);
    for (int r = 0; r < R; r++)
        for (int d = 0; d < D; d++)
            Ut[(size_t)d * R + r] = U[(size_t)r * D + d];
    sa__lin lu = {.w = Ut, .b = a->o.b, .out = D, .in = R};
    sa__linear(m, pool, &lu, Sc, R, HW, out, D);
}

/* the first layer's prompt-independent projections: e->l0 = [(embed + pos) Wk^T + bk (t2i), embed Wv^T + bv
 * (t2i), (embed + pos) Wq^T + bq (i2t)]; tmp: HW * D floats. Returns 0 when out of memory (then unused). */
static int l0_build(sa_sam_image *e, float *tmp) {
    const sa_sam_model *m = e->m;
    const sa__dec_layer *l = &m->dec_layers[0];
    const size_t HW = (size_t)m->grid * m->grid, D = (size_t)m->arch.out_chans;
    const int Ik = l->t2i.k.out, Iv = l->t2i.v.out, Iq = l->i2t.q.out;
    const size_t planes = HW * (size_t)(Ik + Iv + Iq), fbn = L0_FB(m);
    float *c = malloc((planes + 3 * fbn) * sizeof(float));
    if (!c) return 0;
    l0_fold(m, &l->t2i.k, c + planes);
    l0_fold(m, &l->t2i.v, c + planes + fbn);
    l0_fold(m, &l->i2t.q, c + planes + 2 * fbn);
    add_pool(e->pool, tmp, e->embed, e->dense_pe, HW * D);
    sa__linear(m, e->pool, &l->t2i.k, tmp, (int)D, (int)HW, c, Ik);
    sa__linear(m, e->pool, &l->t2i.v, e->embed, (int)D, (int)HW, c + HW * Ik, Iv);
    sa__linear(m, e->pool, &l->i2t.q, tmp, (int)D, (int)HW, c + HW * (Ik + Iv), Iq);
    e->l0 = c;
    return 1;
}

/* the end of a layer in one pass over row blocks: src = LayerNorm(src + sa), then kp = src + pos (the next
 * attention's image keys/queries) while the rows are in cache */
typedef struct resln_ctx {
    const sa__kernels *k;
    const sa__ln *ln;
    float *src, *kp;
    const float *sa, *pos;
    int D;
} resln_ctx;

static void resln_rows(void *vctx, size_t ra, size_t rb) {
    const resln_ctx *c = vctx;
    const size_t a = ra * c->D, n = (rb - ra) * c->D;
    add_to(c->src + a, c->src + a, c->sa + a, n);
    c->k->layernorm_rows(c->ln, DEC_LN_EPS, c->src, c->src, (int)ra, (int)rb);
    add_to(c->kp + a, c->src + a, c->pos + a, n);
}

/* ---- one TwoWayAttentionBlock (transformer.py): the tokens and the image attend to each other ----
 * tok (Nt, D) and src (HW, D) are updated in place; qpe (Nt, D) is the tokens' positional part (the original
 * prompt tokens), pos (HW, D) the image's dense PE. skip_pe (the first layer): self attention without PE and
 * without residual. Scratch from L: tq, ta (Nt, D), mlp (Nt, mlp), kp, sa (HW, D), S. l0: the layer's
 * image-side projections without the dense prompt (e->l0, first layer only) or NULL; t2: the mask embedding
 * before its last conv, or NULL (no mask: no_mask). */
static void two_way_layer(float *tok, float *src, const sa_sam_model *m, sa__pool *pool,
                          const sa__dec_layer *l, int skip_pe, const float *qpe, const float *pos,
                          int Nt, const float *l0, const float *t2, int kp_ready, dec_layout *L) {
    const int D = m->arch.out_chans, HW = m->grid * m->grid, mlp = m->arch.dec_mlp_dim;
    /* self attention of the tokens */
    if (skip_pe) {
        dec_attention(m, pool, &l->self_attn, tok, Nt, tok, tok, Nt, 0, NULL, &L->S,
                      L->ta); /* ta (Nt, D) */
        memcpy(tok, L->ta, (size_t)Nt * D * sizeof(float));
    } else {
        add_to(L->tq, tok, qpe, (size_t)Nt * D); /* tq (Nt, D) */
        dec_attention(m, pool, &l->self_attn, L->tq, Nt, L->tq, tok, Nt, 0, NULL, &L->S, L->ta);
        sa__add(tok, L->ta, (size_t)Nt * D);
    }
    sa__layernorm(m->k, NULL, &l->n1, DEC_LN_EPS, tok, tok, Nt);
    /* cross attention, tokens to image */
    add_to(L->tq, tok, qpe, (size_t)Nt * D);
    const size_t plane_k = (size_t)HW * l->t2i.k.out, plane_v = (size_t)HW * l->t2i.v.out;
    if (l0) { /* K, V of the image from the per-image projections */
        const float *fb = l0 + plane_k + plane_v + (size_t)HW * l->i2t.q.out;
        l0_derive(m, pool, l->t2i.k.out, l0, fb, t2, L->S.K);
        l0_derive(m, pool, l->t2i.v.out, l0 + plane_k, fb + L0_FB(m), t2, L->S.V);
        dec_attention(m, pool, &l->t2i, L->tq, Nt, NULL, NULL, HW, 1, NULL, &L->S, L->ta);
    } else if ((kp_ready ||
                (add_pool(pool, L->kp, src, pos, (size_t)HW * D), 1)) && /* kp (HW, D) */
               fused_ok(m, &l->t2i, Nt))
        t2i_fused(m, pool, &l->t2i, L->tq, Nt, L->kp, src, &L->S, L->sa, L->ta);
    else
        dec_attention(m, pool, &l->t2i, L->tq, Nt, L->kp, src, HW, 0, NULL, &L->S, L->ta);
    sa__add(tok, L->ta, (size_t)Nt * D);
    sa__layernorm(m->k, NULL, &l->n2, DEC_LN_EPS, tok, tok, Nt);
    /* MLP on the tokens */
    sa__linear(m, pool, &l->mlp1, tok, D, Nt, L->mlp, mlp); /* mlp (Nt, mlp) */
    sa__relu(L->mlp, (size_t)Nt * mlp);
    sa__linear(m, pool, &l->mlp2, L->mlp, mlp, Nt, L->ta, D);
    sa__add(tok, L->ta, (size_t)Nt * D);
    sa__layernorm(m->k, NULL, &l->n3, DEC_LN_EPS, tok, tok, Nt);
    /* cross attention, image to tokens */
    add_to(L->tq, tok, qpe, (size_t)Nt * D);
    if (l0) { /* Q of the image (in kp, (HW, I)) from the per-image projections */
        l0_derive(m, pool, l->i2t.q.out, l0 + plane_k + plane_v,
                  l0 + plane_k + plane_v + (size_t)HW * l->i2t.q.out + 2 * L0_FB(m), t2, L->kp);
        i2t_given_q(m, pool, &l->i2t, L->kp, L->tq, tok, Nt, &L->S, L->sa);
    } else if (fused_ok(m, &l->i2t, Nt))
        i2t_fused(m, pool, &l->i2t, L->kp, L->tq, tok, Nt, &L->S, L->sa);
    else
        dec_attention(m, pool, &l->i2t, L->kp, HW, L->tq, tok, Nt, 0, NULL, &L->S,
                      L->sa); /* sa (HW, D) */
    resln_ctx rc = {
        .k = m->k, .ln = &l->n4, .src = src, .kp = L->kp, .sa = L->sa, .pos = pos, .D = D};
    sa__pool_for(pool, (size_t)HW, 64, resln_rows, &rc); /* src, and kp for what follows */
}

/* ---- TwoWayTransformer's final token -> image attention and LayerNorm: rows 0..Nq-1 of tok (Nt, D) updated;
 * only the IoU and mask tokens are used afterwards, so only they query (the prompt tokens' rows would be
 * discarded). src (HW, D), qpe, pos as for two_way_layer. ---- */
static void final_attention(float *tok, const sa_sam_model *m, sa__pool *pool, const float *src,
                            const float *qpe, const float *pos, int Nq, int kp_ready,
                            dec_layout *L) {
    const int D = m->arch.out_chans, HW = m->grid * m->grid;
    add_to(L->tq, tok, qpe, (size_t)Nq * D);                        /* tq (Nq, D) */
    if (!kp_ready) add_pool(pool, L->kp, src, pos, (size_t)HW * D); /* kp (HW, D) */
    if (fused_ok(m, &m->final_attn, Nq))
        t2i_fused(m, pool, &m->final_attn, L->tq, Nq, L->kp, src, &L->S, L->sa, L->ta);
    else
        dec_attention(m, pool, &m->final_attn, L->tq, Nq, L->kp, src, HW, 0, NULL, &L->S,
                      L->ta); /* ta (Nq, D) */
    sa__add(tok, L->ta, (size_t)Nq * D);
    sa__layernorm(m->k, NULL, &m->final_ln, DEC_LN_EPS, tok, tok, Nq);
}

int sa__sam_decode(sa_sam_image *e, const sa_sam_prompt *p, float *low_res, float *iou, int only,
                   float *mask_logits, sa_error *err) {
    const sa_sam_model *m = e->m;
    const sa_sam_arch *a = &m->arch;
    sa__pool *pool = e->pool;
    const int D = a->out_chans, g = m->grid, HW = g * g, D4 = D / 4, D8 = D / 8,
              nm = a->n_mask_tokens;
    const int n_sparse = p->n_points + (p->box ? 2 : 1);
    const int Nt = 1 + nm + n_sparse;
    dec_layout L = {0};
    size_t need = layout(e, Nt, NULL, &L);
    if (need > e->scratch_n) {
        float *s = realloc(e->scratch, need * sizeof(float));
        if (!s) return sa_error_set(err, SA_ERR_NOMEM, "SAM decoder: out of memory");
        e->scratch = s;
        e->scratch_n = need;
    }
    layout(e, Nt, e->scratch, &L);

    /* tokens (Nt, D) = [iou_token, mask_tokens, sparse]; qpe = the original tokens (point_embedding) */
    memcpy(L.tok, m->iou_token, (size_t)D * sizeof(float));
    memcpy(L.tok + D, m->mask_tokens, (size_t)nm * D * sizeof(float));
    sparse_embed(e, p, L.tok + (size_t)(1 + nm) * D);
    memcpy(L.qpe, L.tok, (size_t)Nt * D * sizeof(float));
    /* src (HW, D) = image embedding + dense prompt */
    if (p->mask_input) {
        mask_embed(m, pool, p->mask_input, L.me1, L.me2, L.src);
        add_pool(pool, L.src, L.src, e->embed, (size_t)HW * D);
    } else {
        for (int i = 0; i < HW; i++)
            add_to(L.src + (size_t)i * D, e->embed + (size_t)i * D, m->no_mask, (size_t)D);
    }
    const float *pos = e->dense_pe;
    if (!e->l0 && m->k->fused_cross && a->dec_depth > 0) l0_build(e, L.kp);

    /* TwoWayTransformer: the layers, then the final token -> image attention */
    for (int li = 0; li < a->dec_depth; li++)
        two_way_layer(L.tok, L.src, m, pool, &m->dec_layers[li], li == 0, L.qpe, pos, Nt,
                      li == 0 && m->k->fused_cross ? e->l0 : NULL, p->mask_input ? L.me2 : NULL,
                      li > 0, &L); /* tok, src; kp = src + pos after each layer */
    final_attention(L.tok, m, pool, L.src, L.qpe, pos, 1 + nm, a->dec_depth > 0,
                    &L); /* tok rows 0..nm (IoU, mask tokens) */

    /* output upscaling: (g, g, D) -> (2g, 2g, D/4) -> LN2d, GELU -> (4g, 4g, D/8), GELU */
    sa__linear(m, pool, &m->up1, L.src, D, HW, L.up1, 4 * D4);
    convT_scatter(m->k, pool, L.up1, g, g, D4, m->up1_b, &m->up_ln, L.u1); /* + LN2d, GELU */
    /* hypernetwork MLPs on the mask tokens; masks = hyper (nm, D8) x upscaled^T, fused with the last stage */
    for (int i = 0; i < nm; i++)
        mlp_forward(m, &m->hyper[i], L.tok + (size_t)(1 + i) * D, L.hyp_t,
                    L.hyp_t + (a->iou_hidden > D ? a->iou_hidden : D), L.hyp + (size_t)i * D8);
    up2_ctx uc = {.m = m,
                  .u1 = L.u1,
                  .hyp = L.hyp,
                  .scratch = L.up2,
                  .per = up2_scratch_per(2 * g, D8, nm),
                  .w2 = 2 * g,
                  .nm = nm,
                  .low = L.low};
    sa__pool_run(pool, 2 * g, up2_row, &uc);
    mlp_forward(m, &m->iou_head, L.tok, L.hyp_t, L.hyp_t + (a->iou_hidden > D ? a->iou_hidden : D),
                L.iou);

    /* selection: multimask -> masks 1..nm-1, else mask 0 */
    int first = p->multimask ? 1 : 0, n_out = p->multimask ? nm - 1 : 1;
    for (int k = 0; k < n_out; k++) {
        if (low_res)
            memcpy(low_res + (size_t)k * 16 * HW, L.low + (size_t)(first + k) * 16 * HW,
                   (size_t)16 * HW * sizeof(float));
        if (iou) iou[k] = L.iou[first + k];
    }
    if (mask_logits) {
        size_t plane = (size_t)e->width * e->height;
        for (int k = 0; k < n_out; k++) {
            if (only >= 0 && k != only) continue;
            float *dst = mask_logits + (only >= 0 ? 0 : (size_t)k * plane);
            sa__sam_postprocess(e, L.low + (size_t)(first + k) * 16 * HW, dst, L.post);
        }
    }
    return SA_OK;
}
