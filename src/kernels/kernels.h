/* Internal: the neural-network kernels shared by the SAM and SimpleClick engines (kernels.c): SGEMM
 * (reference, blocked generic C, AVX-512), linear layers split over the thread pool, LayerNorm, erf
 * GELU, softmax, and the per-model kernel tables chosen once by sa__kernels_select. The thread pool
 * the layers are split over is base/pool.h. */
#ifndef SEGAGENT_KERNELS_H
#define SEGAGENT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "base/pool.h"

/* Kernel sets; the values are those of the public SA_SAM_KERNELS_* and SA_SC_KERNELS_*. */
enum { SA__KERNELS_FAST = 0, SA__KERNELS_BLAS = 1, SA__KERNELS_REFERENCE = 2 };

/* A linear layer in PyTorch layout: y = x W^T + b; W is (out, in). */
typedef struct sa__lin {
    const float *w; /* (out, in) */
    const float *b; /* (out) or NULL */
    int out, in;
    const uint16_t *wb; /* W in BF16, packed by sa__bf16_pack_w (BF16 precision), or NULL: FP32 */
} sa__lin;

typedef struct sa__ln {
    const float *w, *b; /* (n) */
    int n;
} sa__ln;

/* C (M x N, ldc) = alpha * A (M x K, lda) * op(B) + beta * C, row-major; op(B) = B^T when trans_b
 * (B is N x K, ldb), else B (K x N, ldb). Single-threaded: safe to call from pool workers. */
typedef void (*sa__gemm_fn)(int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                            const float *B, int ldb, float beta, float *C, int ldc);

/* Epilogues of a linear layer applied while its output is still in registers (BF16 layers): none, erf GELU
 * (y = gelu(x W^T + b)), or a residual add (y += x W^T + b, summed as (y + b) + products). */
enum { SA__EP_NONE = 0, SA__EP_GELU = 1, SA__EP_ADD = 2 };

/* y (M x out, ldc) = bias + x (M x in, lda) W^T, W packed in BF16 by sa__bf16_pack_w (panel-aligned offsets
 * only), x rounded to BF16 as it is consumed, FP32 products and sums, then the epilogue ep (SA__EP_*).
 * Single-threaded. */
typedef void (*sa__gemm_bf16_fn)(int M, int out, int in, const float *A, int lda,
                                 const uint16_t *Wp, const float *bias, float *C, int ldc, int ep);

/* One head of scaled dot-product attention over T tokens (a window or a whole grid), for nq of its
 * queries: out[i] (hd floats) = softmax_t(scale * q_{qi[i]} . k_t [+ rel]) v_t, softmax and sums in
 * FP32. Token t's query, key and value are hd floats at tok[t], tok[t] + koff and tok[t] + voff (rows
 * of a qkv product, gathered by pointer: windows, padding tokens and raster order need no copies).
 * With S > 0 (T == S*S), SAM's decomposed relative positions are added to the scaled scores: the
 * score of query (qh, qw) for key (kh, kw) gets + q . rel_h[(S-1-qh+kh)] then + q . rel_w[(S-1-qw+kw)]
 * (both tables (2S-1, hd), row-reversed as sa__vit_block keeps them; q unscaled). */
typedef struct sa__attn_head {
    int T, hd, nq;
    const float *const *tok; /* (T) */
    int koff, voff;
    const int *qi;     /* (nq) token of each query */
    float *const *out; /* (nq) */
    float scale;
    int S;
    const float *rel_h, *rel_w; /* (2S-1, hd) each, or NULL when S == 0 */
} sa__attn_head;
/* scratch: sa__attn_scratch_size(T, hd, S) floats, 64-byte aligned, owned by the calling worker */
typedef void (*sa__attention_fn)(const sa__attn_head *h, float *scratch);
size_t sa__attn_scratch_size(int T, int hd, int S);

/* One kernel set: what SA__KERNELS_* means on this CPU, chosen once per model (sa__kernels_select,
 * at load and by sa_sam_model_set_kernels) and stored on it; the layers call through m->k. The
 * tables are static and immutable, so models share them freely. */
typedef struct sa__kernels {
    int set; /* the SA__KERNELS_* it implements */
    const char *
        isa; /* "reference" (plain loops), "avx512" or "generic" (the blocked kernels in plain C) */
    sa__gemm_fn gemm;
    /* the same for one row block of a product split among tasks: every row is computed as in the
     * whole product (never the few-rows kernel, which sums in another order), so results do not
     * depend on the split */
    sa__gemm_fn gemm_split;
    /* C = alpha A op(B) + beta C with op(B) packed by sa__sgemm_pack_b (for operands reused by many
     * calls, e.g. attention keys/values); NULL in the reference set, whose attention multiplies
     * unpacked */
    void (*gemm_packed)(int M, int N, int K, float alpha, const float *A, int lda, const float *Bp,
                        float beta, float *C, int ldc);
    /* rows [r0, r1) of a row-wise LayerNorm of width ln->n (x and y may alias) */
    void (*layernorm_rows)(const sa__ln *ln, float eps, const float *x, float *y, int r0, int r1);
    void (*gelu)(float *x, size_t n); /* erf GELU in place (fast: |error| <= 1.5e-7) */
    void (*softmax)(float *x, int rows, int cols, int ld); /* row-wise, in place */
    /* attention rows with decomposed relative positions: row i of x (rows x S*S) gets x[kh*S+kw] +=
     * rh[i*S+kh] then += rw[i*S+kw] (the reference's order), then softmax */
    void (*softmax_rel)(float *x, int rows, int S, const float *rh, const float *rw);
    int blas_layers; /* large linear layers: one cblas_sgemm on OpenBLAS's params.threads threads
                        (pool idle) */
    int blas_tasks;  /* large products inside pool tasks: single-threaded OpenBLAS */
    int fused_cross; /* cross attentions with few tokens re-associated (same math, fewer
                        multiply-adds) */
    /* BF16 linear layers (those whose sa__lin has wb): NULL in the FP32 tables; the reference loop in the
     * reference BF16 table and on CPUs without AVX-512 BF16 */
    sa__gemm_bf16_fn gemm_bf16;
    const char *bf16_isa; /* "reference" or "avx512bf16" (NULL in the FP32 tables) */
    /* one attention head (sa__attn_head): FP32 in the FP32 tables; in the BF16 tables the two products
     * take BF16-rounded operands (q and k; the softmax numerators and v) with FP32 sums */
    sa__attention_fn attention;
} sa__kernels;

/* Precisions; the values are those of the public SA_PRECISION_*. */
enum { SA__PRECISION_FP32 = 0, SA__PRECISION_BF16 = 1 };

/* The table for a kernel set on this CPU (any value other than REFERENCE and BLAS gives FAST), FP32. */
const sa__kernels *sa__kernels_select(int set);
/* The same for a precision: BF16 adds gemm_bf16 (AVX-512 BF16 when the CPU has it, checked here once, and the
 * set is not REFERENCE); every other kernel is the FP32 table's. */
const sa__kernels *sa__kernels_select_precision(int set, int precision);

/* BF16 weights for linear layers: sa__bf16_packed_size(out, in) uint16 for W (out, in) converted (round to
 * nearest even) into the layout of gemm_bf16. */
size_t sa__bf16_packed_size(int out, int in);
void sa__bf16_pack_w(const float *W, int out, int in, uint16_t *dst);

/* Packing for gemm_packed: op(B) (K x N) into sa__sgemm_packed_size(N, K) floats (one layout for
 * every set). */
size_t sa__sgemm_packed_size(int N, int K);
void sa__sgemm_pack_b(int trans_b, int N, int K, const float *B, int ldb, float *dst);
/* C = A op(B) with OpenBLAS forced to one thread (for use inside pool tasks). */
void sa__blas_sgemm1(int trans_b, int M, int N, int K, const float *A, int lda, const float *B,
                     int ldb, float *C, int ldc);

/* y (n x lin.out, ldy) = x (n x lin.in, ldx) W^T + b with kernels k, threaded over the pool (or,
 * for the blas_layers sets, one cblas call on blas_threads OpenBLAS threads). */
void sa__linear_k(const sa__kernels *k, int blas_threads, sa__pool *pool, const sa__lin *l,
                  const float *x, int ldx, int n, float *y, int ldy);
/* The same with an epilogue (SA__EP_*). GELU works for every layer (FP32 layers: applied to each task's
 * block right after its product); ADD needs a BF16 layer (sa__linear_fuses) and is a no-op request
 * otherwise: callers keep their own y + add for FP32, whose order of sums is the reference parity's. */
void sa__linear_ep(const sa__kernels *k, int blas_threads, sa__pool *pool, const sa__lin *l,
                   const float *x, int ldx, int n, float *y, int ldy, int ep);
/* Whether layer l runs through the BF16 kernel of k (and so takes every epilogue in registers). */
int sa__linear_fuses(const sa__kernels *k, const sa__lin *l);
/* Row-wise LayerNorm of n rows of width ln.n (x and y may alias), split over the pool. */
void sa__layernorm(const sa__kernels *k, sa__pool *pool, const sa__ln *ln, float eps,
                   const float *x, float *y, int n);
/* erf GELU in place over n floats, split over the pool. */
void sa__gelu(const sa__kernels *k, sa__pool *pool, float *x, size_t n);
void sa__relu(float *x, size_t n);
void sa__add(float *y, const float *x, size_t n); /* y += x */

#endif
