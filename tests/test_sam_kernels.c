/* SAM kernels: every fast kernel against its plain reference, through the kernel tables a model uses (GEMM in
 * both B layouts with strides, tails, alpha/beta, the split variant and pre-packed B; softmax; softmax with
 * relative positions; LayerNorm; GELU; linear layers across kernel sets and thread counts), and the tables
 * themselves (each set gets its own, the reference one is plain loops everywhere). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/attention.h"
#include "sam/sam_internal.h"
#include "testutil.h"

static const sa__kernels *ref, *fast, *blas;

static uint64_t rng = 12345;
static float frand(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

static float *rand_buf(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++)
        p[i] = frand();
    return p;
}

/* max |a-b| / (sum |A||B| bound) over C */
static void check_gemm(int trans_b, int M, int N, int K, float alpha, float beta, int pad) {
    int lda = K + pad, ldb = (trans_b ? K : N) + pad, ldc = N + pad;
    size_t nb = trans_b ? (size_t)N * ldb : (size_t)K * ldb;
    float *A = rand_buf((size_t)M * lda), *B = rand_buf(nb), *C0 = rand_buf((size_t)M * ldc);
    float *C1 = malloc((size_t)M * ldc * sizeof(float)),
          *C2 = malloc((size_t)M * ldc * sizeof(float));
    float *C3 = malloc((size_t)M * ldc * sizeof(float));
    memcpy(C1, C0, (size_t)M * ldc * sizeof(float));
    memcpy(C2, C0, (size_t)M * ldc * sizeof(float));
    memcpy(C3, C0, (size_t)M * ldc * sizeof(float));
    ref->gemm(trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc);
    fast->gemm(trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C1, ldc);
    fast->gemm_split(trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C3, ldc);
    float *Bp = malloc((sa__sgemm_packed_size(N, K) + 1) * sizeof(float));
    sa__sgemm_pack_b(trans_b, N, K, B, ldb, Bp);
    fast->gemm_packed(M, N, K, alpha, A, lda, Bp, beta, C2, ldc);
    double worst = 0, worst_p = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++) {
            size_t o = (size_t)i * ldc + j;
            if (j >= N) { /* padding columns untouched */
                CHECK(C1[o] == C2[o] && C1[o] == C3[o]);
                continue;
            }
            double tol = 1e-6 * (K + 1) * (fabs(alpha) + fabs(beta) + 1);
            worst = fmax(worst, fabs(C0[o] - C1[o]) / tol);
            worst = fmax(worst, fabs(C0[o] - C3[o]) / tol);
            worst_p = fmax(worst_p, fabs(C0[o] - C2[o]) / tol);
        }
    CHECKF(worst <= 1.0 && worst_p <= 1.0,
           "gemm trans_b=%d M=%d N=%d K=%d alpha=%g beta=%g pad=%d: err/tol %.3g %.3g", trans_b, M,
           N, K, alpha, beta, pad, worst, worst_p);
    free(A);
    free(B);
    free(C0);
    free(C1);
    free(C2);
    free(C3);
    free(Bp);
}

static void check_softmax(int rows, int S) {
    int T = S * S;
    float *x = rand_buf((size_t)rows * T), *rh = rand_buf((size_t)rows * S),
          *rw = rand_buf((size_t)rows * S);
    for (size_t i = 0; i < (size_t)rows * T; i++)
        x[i] *= 8.0f; /* wide range */
    float *y0 = malloc((size_t)rows * T * sizeof(float)),
          *y1 = malloc((size_t)rows * T * sizeof(float));
    memcpy(y0, x, (size_t)rows * T * sizeof(float));
    memcpy(y1, x, (size_t)rows * T * sizeof(float));
    ref->softmax(y0, rows, T, T);
    fast->softmax(y1, rows, T, T);
    double worst = 0;
    for (size_t i = 0; i < (size_t)rows * T; i++)
        worst = fmax(worst, fabs(y0[i] - y1[i]) / (1e-6 + y0[i]));
    CHECKF(worst < 1e-5, "softmax rows=%d cols=%d: worst relative error %.3g", rows, T, worst);
    memcpy(y0, x, (size_t)rows * T * sizeof(float));
    memcpy(y1, x, (size_t)rows * T * sizeof(float));
    ref->softmax_rel(y0, rows, S, rh, rw);
    fast->softmax_rel(y1, rows, S, rh, rw);
    worst = 0;
    for (size_t i = 0; i < (size_t)rows * T; i++)
        worst = fmax(worst, fabs(y0[i] - y1[i]) / (1e-6 + y0[i]));
    CHECKF(worst < 1e-5, "softmax_rel rows=%d S=%d: worst relative error %.3g", rows, S, worst);
    free(x);
    free(rh);
    free(rw);
    free(y0);
    free(y1);
}

static void check_rowops(int rows, int c) {
    float *x = rand_buf((size_t)rows * c), *w = rand_buf((size_t)c), *b = rand_buf((size_t)c);
    for (size_t i = 0; i < (size_t)rows * c; i++)
        x[i] = x[i] * 5.0f + 3.0f;
    float *y0 = malloc((size_t)rows * c * sizeof(float)),
          *y1 = malloc((size_t)rows * c * sizeof(float));
    sa__ln ln = {.w = w, .b = b, .n = c};
    sa__layernorm(ref, NULL, &ln, 1e-6f, x, y0, rows);
    sa__layernorm(fast, NULL, &ln, 1e-6f, x, y1, rows);
    double worst = 0;
    for (size_t i = 0; i < (size_t)rows * c; i++)
        worst = fmax(worst, fabs(y0[i] - y1[i]));
    CHECKF(worst < 1e-5, "layernorm rows=%d c=%d: max |diff| %.3g", rows, c, worst);
    memcpy(y0, x, (size_t)rows * c * sizeof(float));
    for (size_t i = 0; i < (size_t)rows * c; i++)
        y0[i] = (x[i] - 3.0f) * 1.7f; /* around 0, both signs */
    memcpy(y1, y0, (size_t)rows * c * sizeof(float));
    sa__gelu(ref, NULL, y0, (size_t)rows * c);
    sa__gelu(fast, NULL, y1, (size_t)rows * c);
    worst = 0;
    for (size_t i = 0; i < (size_t)rows * c; i++)
        worst = fmax(worst, fabs(y0[i] - y1[i]) / (1.0 + fabs(y0[i])));
    CHECKF(worst < 1e-6, "gelu n=%d: max rel diff %.3g", rows * c, worst);
    free(x);
    free(w);
    free(b);
    free(y0);
    free(y1);
}

static void check_linear(int n, int out, int in, int threads) {
    sa_sam_arch a;
    sa_error err = {0};
    CHECK(sa_sam_arch_preset("slimsam77", &a, &err) == SA_OK);
    a.image_size = 64; /* small random model, used only for its params */
    a.depth = 1;
    sa_sam_params p = sa_sam_default_params();
    sa_sam_model *m = NULL;
    if (sa_sam_model_random(&a, 1, p, &m, &err) != SA_OK) {
        CHECKF(0, "random model: %s", err.msg);
        return;
    }
    float *W = rand_buf((size_t)out * in), *b = rand_buf((size_t)out),
          *x = rand_buf((size_t)n * in);
    float *y[3];
    sa__lin l = {.w = W, .b = b, .out = out, .in = in};
    sa__pool *pool = NULL;
    CHECK(sa__pool_new(threads, &pool) == SA_OK);
    CHECK(sa_sam_model_set_threads(m, threads, &err) == SA_OK);
    for (int k = 0; k < 3; k++) {
        y[k] = malloc((size_t)n * out * sizeof(float));
        CHECK(sa_sam_model_set_kernels(m, k, &err) == SA_OK && m->k->set == k);
        sa__linear(m, pool, &l, x, in, n, y[k], out);
    }
    double worst = 0;
    for (size_t i = 0; i < (size_t)n * out; i++)
        for (int k = 0; k < 2; k++)
            worst = fmax(worst, fabs(y[k][i] - y[2][i]) / (1e-6 * (in + 1)));
    CHECKF(worst <= 1.0, "linear n=%d out=%d in=%d threads=%d: err/tol %.3g", n, out, in, threads,
           worst);
    for (int k = 0; k < 3; k++)
        free(y[k]);
    sa__pool_free(pool);
    free(W);
    free(b);
    free(x);
    sa_sam_model_free(m);
}

/* One table per set; the reference one is plain loops everywhere (no packed GEMM, no BLAS, no re-association). */
static void check_tables(void) {
    CHECK(ref && fast && blas && ref != fast && fast != blas && ref != blas);
    CHECK(ref->set == SA_SAM_KERNELS_REFERENCE && fast->set == SA_SAM_KERNELS_FAST &&
          blas->set == SA_SAM_KERNELS_BLAS);
    CHECK(strcmp(ref->isa, "reference") == 0 && !ref->gemm_packed && !ref->blas_layers &&
          !ref->blas_tasks && !ref->fused_cross);
    CHECK(strcmp(fast->isa, blas->isa) == 0 && fast->gemm_packed && blas->gemm_packed);
    CHECK(blas->blas_layers && !blas->blas_tasks);
    /* the fast set calls OpenBLAS inside its tasks only where it has no AVX-512 kernel of its own */
    CHECK(fast->blas_tasks == (strcmp(fast->isa, "generic") == 0));
    CHECK(sa__kernels_select(SA_SAM_KERNELS_FAST) == fast); /* the same static table every time */
    sa_sam_arch a;
    sa_error err = {0};
    sa_sam_model *m = NULL;
    CHECK(sa_sam_arch_preset("slimsam77", &a, &err) == SA_OK);
    a.image_size = 64;
    a.depth = 1;
    sa_sam_params p = sa_sam_default_params();
    p.kernels = SA_SAM_KERNELS_REFERENCE;
    CHECK(sa_sam_model_random(&a, 1, p, &m, &err) == SA_OK && m && m->k == ref);
    if (m) {
        CHECK(sa_sam_model_set_kernels(m, SA_SAM_KERNELS_BLAS, &err) == SA_OK && m->k == blas);
        CHECK(sa_sam_model_set_kernels(m, 7, &err) == SA_ERR_INVALID && m->k == blas);
    }
    sa_sam_model_free(m);
}

/* BF16 linear layers: the AVX-512 BF16 kernel against the reference BF16 loop (same rounding, same order of
 * sums: equal up to denormal handling) and both against the exact FP32 product (BF16 operand rounding). */
static void check_bf16(int n, int out, int in, int threads, int bias) {
    const int ldx = in + 3, ldy = out + 5;
    float *x = rand_buf((size_t)n * ldx), *w = rand_buf((size_t)out * in),
          *b = rand_buf((size_t)out);
    uint16_t *wb = malloc(sa__bf16_packed_size(out, in) * sizeof(uint16_t));
    float *y1 = calloc((size_t)n * ldy, sizeof(float)),
          *y2 = calloc((size_t)n * ldy, sizeof(float));
    sa__pool *pool = NULL;
    CHECK(wb && y1 && y2 && sa__pool_new(threads, &pool) == SA_OK);
    sa__bf16_pack_w(w, out, in, wb);
    sa__lin l = {.w = w, .b = bias ? b : NULL, .out = out, .in = in, .wb = wb};
    const sa__kernels *kr =
        sa__kernels_select_precision(SA_SAM_KERNELS_REFERENCE, SA__PRECISION_BF16);
    const sa__kernels *kf = sa__kernels_select_precision(SA_SAM_KERNELS_FAST, SA__PRECISION_BF16);
    CHECK(kr->gemm_bf16 && kf->gemm_bf16 && strcmp(kr->bf16_isa, "reference") == 0);
    sa__linear_k(kr, threads, pool, &l, x, ldx, n, y1, ldy);
    sa__linear_k(kf, threads, pool, &l, x, ldx, n, y2, ldy);
    double worst_fast = 0.0, worst_fp32 = 0.0;
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double exact = bias ? b[o] : 0.0, mag = bias ? fabs(b[o]) : 0.0;
            for (int k = 0; k < in; k++) {
                exact += (double)x[(size_t)i * ldx + k] * w[(size_t)o * in + k];
                mag += fabs((double)x[(size_t)i * ldx + k] * w[(size_t)o * in + k]);
            }
            double v1 = y1[(size_t)i * ldy + o], v2 = y2[(size_t)i * ldy + o];
            double e1 = fabs(v1 - v2) / (1e-5 * mag + 1e-30),
                   e2 = fabs(v1 - exact) / (1.0 / 64 * mag + 1e-30);
            if (e1 > worst_fast) worst_fast = e1;
            if (e2 > worst_fp32) worst_fp32 = e2;
        }
    for (int i = 0; i < n; i++)
        CHECK(y2[(size_t)i * ldy + out] == 0.0f); /* nothing past the row */
    CHECKF(worst_fast <= 1.0 && worst_fp32 <= 1.0,
           "bf16 linear n=%d out=%d in=%d threads=%d (%s): err/tol fast-vs-ref %.3g, vs exact %.3g",
           n, out, in, threads, kf->bf16_isa, worst_fast, worst_fp32);
    sa__pool_free(pool);
    free(x);
    free(w);
    free(b);
    free(wb);
    free(y1);
    free(y2);
}

/* Fused attention of one head: the fast entry against the plain loops, FP32 and BF16, with and without
 * relative positions, a subset of queries in scrambled order, padding-like shared token rows, tails of
 * every tile size; BF16 also against the FP32 result (operand rounding only). */
static void check_attention(int T, int hd, int S, int nq, int bf16) {
    const int C = hd + 7, ld = 3 * C; /* token rows: q at 0, k at C, v at 2C */
    float *rows = rand_buf((size_t)T * ld), *rel = rand_buf((size_t)2 * (2 * (S > 0 ? S : 1)) * hd);
    const float **tok = malloc(sizeof *tok * (size_t)T);
    int *qi = malloc(sizeof *qi * (size_t)nq);
    float *o[3], **op[3];
    for (int t = 0; t < T; t++) /* the last tokens share one row, as SAM's padding tokens do */
        tok[t] = rows + (size_t)(t >= T - 3 && T > 8 ? T - 3 : t) * ld;
    for (int i = 0; i < nq; i++)
        qi[i] = (int)(((long)i * 7 + 3) % T);
    const sa__kernels *kr =
        sa__kernels_select_precision(SA_SAM_KERNELS_REFERENCE, bf16 ? SA__PRECISION_BF16 : 0);
    const sa__kernels *kf =
        sa__kernels_select_precision(SA_SAM_KERNELS_FAST, bf16 ? SA__PRECISION_BF16 : 0);
    double worst_plain = 0;
    float *scratch =
        aligned_alloc(64, (sa__attn_scratch_size(T, hd, S) * sizeof(float) + 63) / 64 * 64);
    for (int k = 0; k < 3; k++) {
        o[k] = malloc(sizeof(float) * (size_t)nq * (hd + 1));
        op[k] = malloc(sizeof(float *) * (size_t)nq);
        for (int i = 0; i < nq; i++) {
            op[k][i] = o[k] + (size_t)i * (hd + 1);
            op[k][i][hd] = 12345.0f; /* past the row: untouched */
        }
        sa__attn_head h = {.T = T,
                           .hd = hd,
                           .nq = nq,
                           .tok = tok,
                           .koff = C,
                           .voff = 2 * C,
                           .qi = qi,
                           .out = op[k],
                           .scale = 2.0f / sqrtf((float)hd),
                           .S = S,
                           .rel_h = S > 0 ? rel : NULL,
                           .rel_w = S > 0 ? rel + (size_t)(2 * S - 1) * hd : NULL};
        const sa__kernels *kk = k == 0   ? kr
                                : k == 1 ? kf
                                         : sa__kernels_select(SA_SAM_KERNELS_REFERENCE);
        kk->attention(&h, scratch);
        if (k == 2) { /* the portable panels (CPUs without AVX-512) against the FP32 loops */
            float *keep = malloc(sizeof(float) * (size_t)nq * hd);
            for (int i = 0; i < nq; i++)
                memcpy(keep + (size_t)i * hd, op[k][i], sizeof(float) * (size_t)hd);
            sa__attention_plain(&h, scratch);
            for (int i = 0; i < nq; i++)
                for (int d = 0; d < hd; d++)
                    worst_plain = fmax(worst_plain, fabs(keep[(size_t)i * hd + d] - op[k][i][d]));
            free(keep);
        }
    }
    double worst = 0, worst32 = 0;
    int untouched = 1;
    for (int i = 0; i < nq; i++)
        for (int d = 0; d <= hd; d++) {
            if (d == hd) {
                untouched &= op[0][i][d] == 12345.0f && op[1][i][d] == 12345.0f;
                continue;
            }
            worst = fmax(worst, fabs(op[0][i][d] - op[1][i][d]));
            worst32 = fmax(worst32, fabs(op[2][i][d] - op[1][i][d]));
        }
    /* outputs are convex combinations of values in [-1, 1] */
    CHECKF(untouched && worst < (bf16 ? 2e-3 : 1e-5) && worst32 < (bf16 ? 0.08 : 1e-5) &&
               worst_plain < 1e-5,
           "attention T=%d hd=%d S=%d nq=%d bf16=%d: max |fast-ref| %.3g, |fast-fp32| %.3g, "
           "|plain-fp32| %.3g",
           T, hd, S, nq, bf16, worst, worst32, worst_plain);
    for (int k = 0; k < 3; k++) {
        free(o[k]);
        free(op[k]);
    }
    free(scratch);
    free(rows);
    free(rel);
    free(tok);
    free(qi);
}

/* Linear-layer epilogues: GELU and the residual add, BF16 (in registers, fast against reference) and FP32
 * (GELU per task block: bit-identical to the separate pass; ADD against y + (x W^T + b)). */
static void check_epilogues(int n, int out, int in, int threads) {
    const int ldx = in + 1, ldy = out + 3;
    float *x = rand_buf((size_t)n * ldx), *w = rand_buf((size_t)out * in),
          *b = rand_buf((size_t)out), *y0 = rand_buf((size_t)n * ldy);
    float *y[4];
    uint16_t *wb = malloc(sa__bf16_packed_size(out, in) * sizeof(uint16_t));
    sa__bf16_pack_w(w, out, in, wb);
    sa__pool *pool = NULL;
    CHECK(sa__pool_new(threads, &pool) == SA_OK);
    const sa__kernels *kr =
        sa__kernels_select_precision(SA_SAM_KERNELS_REFERENCE, SA__PRECISION_BF16);
    const sa__kernels *kf = sa__kernels_select_precision(SA_SAM_KERNELS_FAST, SA__PRECISION_BF16);
    for (int ep = SA__EP_GELU; ep <= SA__EP_ADD; ep++) {
        sa__lin lb = {.w = w, .b = b, .out = out, .in = in, .wb = wb}, lf = lb;
        lf.wb = NULL;
        for (int k = 0; k < 4; k++) {
            y[k] = malloc(sizeof(float) * (size_t)n * ldy);
            memcpy(y[k], y0, sizeof(float) * (size_t)n * ldy);
        }
        CHECK(sa__linear_fuses(kf, &lb) && !sa__linear_fuses(fast, &lf));
        sa__linear_ep(kr, threads, pool, &lb, x, ldx, n, y[0], ldy, ep);
        sa__linear_ep(kf, threads, pool, &lb, x, ldx, n, y[1], ldy, ep);
        sa__linear_ep(fast, threads, pool, &lf, x, ldx, n, y[2], ldy, ep);
        if (ep == SA__EP_GELU) { /* FP32: the product then the separate pass */
            sa__linear_k(fast, threads, pool, &lf, x, ldx, n, y[3], ldy);
            for (int i = 0; i < n; i++)
                sa__gelu(fast, NULL, y[3] + (size_t)i * ldy, (size_t)out);
        } else {
            float *t = malloc(sizeof(float) * (size_t)n * ldy);
            sa__linear_k(ref, threads, pool, &lf, x, ldx, n, t, ldy);
            for (int i = 0; i < n; i++)
                for (int o = 0; o < out; o++)
                    y[3][(size_t)i * ldy + o] += t[(size_t)i * ldy + o];
            free(t);
        }
        double wb16 = 0, w32 = 0;
        int pad = 1;
        for (int i = 0; i < n; i++)
            for (int o = 0; o < ldy; o++) {
                size_t q = (size_t)i * ldy + o;
                if (o >= out) {
                    pad &= y[1][q] == y0[q] && y[2][q] == y0[q];
                    continue;
                }
                wb16 = fmax(wb16, fabs(y[0][q] - y[1][q]) / (1e-5 * (in + 1)));
                w32 = fmax(w32, ep == SA__EP_GELU ? (y[2][q] == y[3][q] ? 0.0 : 2.0)
                                                  : fabs(y[2][q] - y[3][q]) / (1e-6 * (in + 1)));
            }
        CHECKF(pad && wb16 <= 1.0 && w32 <= 1.0,
               "linear epilogue %d n=%d out=%d in=%d threads=%d: bf16 err/tol %.3g, fp32 %.3g", ep,
               n, out, in, threads, wb16, w32);
        for (int k = 0; k < 4; k++)
            free(y[k]);
    }
    sa__pool_free(pool);
    free(x);
    free(w);
    free(b);
    free(y0);
    free(wb);
}

int main(void) {
    ref = sa__kernels_select(SA_SAM_KERNELS_REFERENCE);
    fast = sa__kernels_select(SA_SAM_KERNELS_FAST);
    blas = sa__kernels_select(SA_SAM_KERNELS_BLAS);
    printf("fast kernels use %s\n", fast->isa);
    check_tables();
    const int sizes[][3] = {{1, 1, 1},      {5, 7, 3},     {12, 32, 16},    {13, 33, 17},
                            {37, 100, 300}, {64, 14, 196}, {196, 196, 14},  {25, 600, 257},
                            {200, 40, 513}, {3, 1030, 64}, {16, 2048, 256}, {9, 16, 4096},
                            {10, 4096, 16}, {2, 3, 40}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (int tb = 0; tb < 2; tb++) {
            check_gemm(tb, sizes[i][0], sizes[i][1], sizes[i][2], 1.0f, 0.0f, 0);
            check_gemm(tb, sizes[i][0], sizes[i][1], sizes[i][2], 0.37f, 1.0f, 3);
            check_gemm(tb, sizes[i][0], sizes[i][1], sizes[i][2], -1.5f, 0.5f, 1);
        }
    check_gemm(1, 4, 5, 0, 1.0f, 0.5f, 0); /* K = 0: C = beta C */
    check_softmax(3, 1);
    check_softmax(7, 14);
    check_softmax(5, 16);
    check_softmax(4, 64);
    const int att[][4] = {{1, 16, 1, 1},      {5, 3, 0, 5},       {196, 64, 14, 196},
                          {196, 64, 14, 113}, {49, 80, 7, 49},    {100, 33, 10, 37},
                          {300, 64, 0, 300},  {1024, 64, 32, 70}, {784, 64, 0, 45},
                          {13, 130, 0, 9}};
    for (size_t i = 0; i < sizeof att / sizeof att[0]; i++)
        for (int bf = 0; bf < 2; bf++)
            check_attention(att[i][0], att[i][1], att[i][2], att[i][3], bf);
    check_rowops(33, 64);
    check_rowops(7, 168);
    check_rowops(5, 20);
    check_linear(300, 96, 64, 1);
    check_linear(300, 96, 64, 2);
    check_linear(7, 256, 128, 2);
    check_linear(1000, 40, 33, 3);
    const int bsz[][3] = {{1, 1, 1},     {5, 7, 3},       {13, 33, 17},   {300, 96, 64},
                          {7, 256, 128}, {64, 2304, 768}, {50, 70, 1500}, {30, 40, 2049}};
    for (size_t i = 0; i < sizeof bsz / sizeof bsz[0]; i++)
        for (int t = 1; t <= 2; t++)
            check_bf16(bsz[i][0], bsz[i][1], bsz[i][2], t, t == 1);
    check_epilogues(5, 7, 3, 1);
    check_epilogues(300, 96, 64, 2);
    check_epilogues(70, 300, 1100, 2);
    check_epilogues(200, 768, 3072, 2);
    printf("bf16 kernels use %s\n",
           sa__kernels_select_precision(SA_SAM_KERNELS_FAST, SA__PRECISION_BF16)->bf16_isa);
    return tu_finish("test_sam_kernels");
}
