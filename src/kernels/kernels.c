/* Neural-network kernels shared by the SAM and SimpleClick engines: SGEMM (a plain reference loop and a blocked kernel with AVX-512 or generic C
 * micro-kernels; variants for pre-packed B, narrow B and few rows), linear layers, LayerNorm, erf GELU and
 * softmax (AVX-512 versions beside plain reference versions), and the kernel tables of sa__kernels_select.
 * The thread pool the layers are split over is base/pool.c.
 *
 * Kernel sets: a model holds one table of function pointers (sa__kernels), chosen once from
 * params.kernels and the CPU (the AVX-512 check runs there, not at every call); the layers call through
 * it. The reference table is plain loops everywhere and stays selectable at run time, as the baseline the
 * others are tested against (tests/test_sam_kernels.c).
 *
 * One level of parallelism at a time: either the pool splits work and every task runs single-threaded kernels
 * (ours, or OpenBLAS with its thread count set to 1 for the large linear layers), or (BLAS kernel set) the
 * calling thread makes one cblas call with OpenBLAS's own threads while the pool idles.
 * Results do not depend on the thread count: every output element is computed by the same sequence of
 * operations whichever task computes it (splits are over output rows/columns, never over the sum, and the
 * kernel chosen for a product never depends on how it was split). */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define SA_HAVE_X86 1
#else
#define SA_HAVE_X86 0
#endif

#include "kernels/attention.h"
#include "kernels/kernels.h"
#if SA_HAVE_X86
#include "kernels/exp512.h"
#endif

/* OpenBLAS extension (declared in its cblas.h, repeated here in case of another cblas header). */
void openblas_set_num_threads(int num_threads);

/* ------------------------------------------------------------------------------------------------------------ */
/* SGEMM */

static void sgemm_ref(int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        const float *a = A + (size_t)i * lda;
        for (int j = 0; j < N; j++) {
            float s = 0.0f;
            if (trans_b) {
                const float *b = B + (size_t)j * ldb;
                for (int k = 0; k < K; k++)
                    s += a[k] * b[k];
            } else {
                for (int k = 0; k < K; k++)
                    s += a[k] * B[(size_t)k * ldb + j];
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = beta == 0.0f ? alpha * s : alpha * s + beta * *c;
        }
    }
}

/* Blocked kernel. B is packed per (KC x NC) block into panels of NR columns (k-major, zero-padded); A is packed
 * MR rows at a time (k-major, zero-padded rows), so the micro-kernel reads both sequentially. A full packed B
 * (sa__sgemm_pack_b) stores its blocks back to back: block (n0, k0) at n0*K + k0*ncp, ncp = round_up(nc, NR). */
#define GEMM_KC 256
#define GEMM_NC 512
#define GEMM_NR 32
#define GEMM_MR 12

static int round_nr(int n) {
    return (n + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
}

static void pack_b(int trans_b, const float *B, int ldb, int k0, int kc, int n0, int nc,
                   float *dst) {
    for (int p = 0; p < nc; p += GEMM_NR) {
        int nr = nc - p < GEMM_NR ? nc - p : GEMM_NR;
        float *d = dst + (size_t)p * kc;
        if (trans_b) {
            for (int j = 0; j < nr; j++) {
                const float *b = B + (size_t)(n0 + p + j) * ldb + k0;
                for (int k = 0; k < kc; k++)
                    d[(size_t)k * GEMM_NR + j] = b[k];
            }
        } else {
            for (int k = 0; k < kc; k++) {
                const float *b = B + (size_t)(k0 + k) * ldb + n0 + p;
                memcpy(d + (size_t)k * GEMM_NR, b, (size_t)nr * sizeof(float));
            }
        }
        if (nr < GEMM_NR)
            for (int k = 0; k < kc; k++)
                memset(d + (size_t)k * GEMM_NR + nr, 0, (size_t)(GEMM_NR - nr) * sizeof(float));
    }
}

static void pack_a(const float *A, int lda, int mr, int kc, float *dst) {
    for (int r = 0; r < mr; r++) {
        const float *a = A + (size_t)r * lda;
        for (int k = 0; k < kc; k++)
            dst[(size_t)k * GEMM_MR + r] = a[k];
    }
    for (int r = mr; r < GEMM_MR; r++)
        for (int k = 0; k < kc; k++)
            dst[(size_t)k * GEMM_MR + r] = 0.0f;
}

/* Generic micro-kernel: C[mr x nr] (=|+=) alpha * Ap[kc x MR]^T * Bp[kc x NR]. first: apply beta. */
static void micro_generic(int mr, int nr, int kc, float alpha, const float *Ap, const float *Bp,
                          float beta, int first, float *C, int ldc) {
    float acc[GEMM_MR][GEMM_NR];
    memset(acc, 0, sizeof acc);
    for (int k = 0; k < kc; k++) {
        const float *b = Bp + (size_t)k * GEMM_NR;
        for (int r = 0; r < GEMM_MR; r++) {
            float a = Ap[(size_t)k * GEMM_MR + r];
            for (int j = 0; j < GEMM_NR; j++)
                acc[r][j] += a * b[j];
        }
    }
    for (int r = 0; r < mr; r++) {
        float *c = C + (size_t)r * ldc;
        for (int j = 0; j < nr; j++) {
            float v = alpha * acc[r][j];
            if (!first)
                v += c[j];
            else if (beta != 0.0f)
                v += beta * c[j];
            c[j] = v;
        }
    }
}

#if SA_HAVE_X86
#define AVX512_FN __attribute__((target("avx512f")))

/* erf GELU on 16 lanes: erf from Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7), odd-extended */
static inline __attribute__((always_inline)) AVX512_FN __m512 gelu16(__m512 v) {
    const __m512 p = _mm512_set1_ps(0.3275911f), a1 = _mm512_set1_ps(0.254829592f),
                 a2 = _mm512_set1_ps(-0.284496736f), a3 = _mm512_set1_ps(1.421413741f),
                 a4 = _mm512_set1_ps(-1.453152027f), a5 = _mm512_set1_ps(1.061405429f);
    const __m512 one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f),
                 rs2 = _mm512_set1_ps((float)M_SQRT1_2);
    __m512 z = _mm512_mul_ps(v, rs2);
    __m512 az = _mm512_abs_ps(z);
    __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(p, az, one));
    __m512 poly = _mm512_fmadd_ps(a5, t, a4);
    poly = _mm512_fmadd_ps(poly, t, a3);
    poly = _mm512_fmadd_ps(poly, t, a2);
    poly = _mm512_fmadd_ps(poly, t, a1);
    poly = _mm512_mul_ps(poly, t);
    __m512 e = sa__exp512(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), az), az));
    __m512 erf_abs = _mm512_fnmadd_ps(poly, e, one);
    __m512 erf = _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_castps_si512(erf_abs),
        _mm512_and_si512(_mm512_castps_si512(z), _mm512_set1_epi32((int)0x80000000u))));
    return _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, erf));
}

/* Lanes of vector v (0: columns 0-15, 1: columns 16-31) of a panel nr columns wide. */
static inline __attribute__((always_inline)) __mmask16 panel_mask(int nr, int v) {
    const int n = nr - 16 * v;
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u);
}

/* C[mr x nr] = alpha * acc (+ C when accumulating over K blocks, + beta * C on the first block): the common
 * epilogue of the micro-kernels, masked for partial tiles. */
static inline __attribute__((always_inline)) AVX512_FN void
store_tile(const __m512 *acc0, const __m512 *acc1, int mr, int nr, float alpha, float beta,
           int first, float *C, int ldc) {
    const __mmask16 m0 = panel_mask(nr, 0), m1 = panel_mask(nr, 1);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
    for (int r = 0; r < GEMM_MR; r++) {
        if (r >= mr) break;
        float *c = C + (size_t)r * ldc;
        __m512 v0 = _mm512_mul_ps(va, acc0[r]), v1 = _mm512_mul_ps(va, acc1[r]);
        if (!first) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, c));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, c + 16));
        } else if (beta != 0.0f) {
            v0 = _mm512_add_ps(v0, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m0, c)));
            v1 = _mm512_add_ps(v1, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16)));
        }
        _mm512_mask_storeu_ps(c, m0, v0);
        _mm512_mask_storeu_ps(c + 16, m1, v1);
    }
}

static AVX512_FN void micro_avx512(int mr, int nr, int kc, float alpha, const float *Ap,
                                   const float *Bp, int bs, float beta, int first, float *C,
                                   int ldc) {
    const __mmask16 m0 = panel_mask(nr, 0), m1 = panel_mask(nr, 1);
    __m512 acc0[GEMM_MR], acc1[GEMM_MR];
#pragma GCC unroll 12
    for (int r = 0; r < GEMM_MR; r++) {
        acc0[r] = _mm512_setzero_ps();
        acc1[r] = _mm512_setzero_ps();
    }
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_maskz_loadu_ps(m0, Bp + (size_t)k * bs);
        __m512 b1 = _mm512_maskz_loadu_ps(m1, Bp + (size_t)k * bs + 16);
        const float *a = Ap + (size_t)k * GEMM_MR;
#pragma GCC unroll 12
        for (int r = 0; r < GEMM_MR; r++) {
            __m512 av = _mm512_set1_ps(a[r]);
            acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
            acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
        }
    }
    store_tile(acc0, acc1, mr, nr, alpha, beta, first, C, ldc);
}

/* Same with A read in place (rows at lda; rows past mr alias row 0 and are not stored): for narrow B (few
 * panels), where packing A would cost as much as the product. */
static inline __attribute__((always_inline)) AVX512_FN void
micro_ua_t(const int nv, int mr, int nr, int kc, float alpha, const float *A, int lda,
           const float *Bp, int bs, float beta, int first, float *C, int ldc) {
    const __mmask16 m0 = panel_mask(nr, 0), m1 = panel_mask(nr, 1);
    __m512 acc0[GEMM_MR], acc1[GEMM_MR];
    const float *rows[GEMM_MR];
#pragma GCC unroll 12
    for (int r = 0; r < GEMM_MR; r++) {
        acc0[r] = _mm512_setzero_ps();
        acc1[r] = _mm512_setzero_ps();
        rows[r] = A + (size_t)(r < mr ? r : 0) * lda;
    }
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_maskz_loadu_ps(m0, Bp + (size_t)k * bs);
        __m512 b1 = nv == 2 ? _mm512_maskz_loadu_ps(m1, Bp + (size_t)k * bs + 16) : b0;
#pragma GCC unroll 12
        for (int r = 0; r < GEMM_MR; r++) {
            __m512 av = _mm512_set1_ps(rows[r][k]);
            acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
            if (nv == 2) acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
        }
    }
    store_tile(acc0, acc1, mr, nr, alpha, beta, first, C, ldc);
}

/* nr <= 16: half the work (one vector per row) */
static AVX512_FN void micro_avx512_ua(int mr, int nr, int kc, float alpha, const float *A, int lda,
                                      const float *Bp, int bs, float beta, int first, float *C,
                                      int ldc) {
    if (nr <= 16)
        micro_ua_t(1, mr, nr, kc, alpha, A, lda, Bp, bs, beta, first, C, ldc);
    else
        micro_ua_t(2, mr, nr, kc, alpha, A, lda, Bp, bs, beta, first, C, ldc);
}
#endif

/* C[:, 0:nc] over one (kc x nc) block of B, all M rows. B is packed (bs == GEMM_NR: panel p at bblk + p * kc)
 * or, for the AVX-512 kernels only, read in place (bs == ldb, panel p at bblk + p): the kernels load B rows
 * masked to the panel's width, so both give the same sums. */
static void gemm_block(int avx, int M, int nc, int kc, float alpha, const float *A, int lda,
                       const float *bblk, int bs, float beta, int first, float *C, int ldc) {
    const int in_place = bs != GEMM_NR;
    float ap[GEMM_KC * GEMM_MR] __attribute__((aligned(64)));
    /* A read in place for narrow B (packing would cost as much as the product), unless its rows are a
     * multiple of 2 KiB apart: 12 rows at such a stride share one or two L1 sets and thrash it (the decoder's
     * scores over 4096 image tokens, 16 KiB apart: packed, measured 1.6x faster). Both micro-kernels sum in the
     * same order. */
    const int narrow = nc <= 4 * GEMM_NR && lda % 512 != 0;
    for (int i0 = 0; i0 < M; i0 += GEMM_MR) {
        int mr = M - i0 < GEMM_MR ? M - i0 : GEMM_MR;
        if (!(avx && narrow)) pack_a(A + (size_t)i0 * lda, lda, mr, kc, ap);
        for (int p = 0; p < nc; p += GEMM_NR) {
            int nr = nc - p < GEMM_NR ? nc - p : GEMM_NR;
            float *c = C + (size_t)i0 * ldc + p;
            const float *bp = bblk + (in_place ? (size_t)p : (size_t)p * kc);
#if SA_HAVE_X86
            if (avx && narrow) {
                micro_avx512_ua(mr, nr, kc, alpha, A + (size_t)i0 * lda, lda, bp, bs, beta, first,
                                c, ldc);
                continue;
            }
            if (avx) {
                micro_avx512(mr, nr, kc, alpha, ap, bp, bs, beta, first, c, ldc);
                continue;
            }
#endif
            micro_generic(mr, nr, kc, alpha, ap, bp, beta, first, c, ldc);
        }
    }
    (void)avx;
}

static void scale_c(int M, int N, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
}

#define SMALL_M 16

#if SA_HAVE_X86
/* Few rows (M <= SMALL_M, decoder tokens): no packing, B streamed once per 8 rows. Rows past M alias row 0 and
 * are not stored. */
static AVX512_FN void small_m_avx512(int trans_b, int M, int N, int K, float alpha, const float *A,
                                     int lda, const float *B, int ldb, float beta, float *C,
                                     int ldc) {
    for (int r0 = 0; r0 < M; r0 += 8) {
        const int mr = M - r0 < 8 ? M - r0 : 8;
        const float *a[8];
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++)
            a[r] = A + (size_t)(r0 + (r < mr ? r : 0)) * lda;
        if (trans_b) { /* C[i][j] = A_i . B_j */
            const int K16 = K / 16 * 16;
            const __mmask16 tail = (__mmask16)((1u << (K - K16)) - 1u);
            for (int j = 0; j < N; j++) {
                const float *b = B + (size_t)j * ldb;
                __m512 acc[8];
#pragma GCC unroll 8
                for (int r = 0; r < 8; r++)
                    acc[r] = _mm512_setzero_ps();
                for (int k = 0; k < K16; k += 16) {
                    __m512 bv = _mm512_loadu_ps(b + k);
#pragma GCC unroll 8
                    for (int r = 0; r < 8; r++)
                        acc[r] = _mm512_fmadd_ps(_mm512_loadu_ps(a[r] + k), bv, acc[r]);
                }
                if (tail) {
                    __m512 bv = _mm512_maskz_loadu_ps(tail, b + K16);
#pragma GCC unroll 8
                    for (int r = 0; r < 8; r++)
                        acc[r] =
                            _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, a[r] + K16), bv, acc[r]);
                }
                for (int r = 0; r < mr; r++) {
                    float *c = C + (size_t)(r0 + r) * ldc + j;
                    float v = alpha * _mm512_reduce_add_ps(acc[r]);
                    *c = beta == 0.0f ? v : v + beta * *c;
                }
            }
        } else { /* C[i][n:n+16] = sum_k A[i][k] B[k][n:n+16] */
            for (int n0 = 0; n0 < N; n0 += 16) {
                const __mmask16 m =
                    N - n0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (N - n0)) - 1u);
                __m512 acc[8];
#pragma GCC unroll 8
                for (int r = 0; r < 8; r++)
                    acc[r] = _mm512_setzero_ps();
                for (int k = 0; k < K; k++) {
                    __m512 bv = _mm512_maskz_loadu_ps(m, B + (size_t)k * ldb + n0);
#pragma GCC unroll 8
                    for (int r = 0; r < 8; r++)
                        acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[r][k]), bv, acc[r]);
                }
                __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
                for (int r = 0; r < mr; r++) {
                    float *c = C + (size_t)(r0 + r) * ldc + n0;
                    __m512 v = _mm512_mul_ps(va, acc[r]);
                    if (beta != 0.0f) v = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m, c), v);
                    _mm512_mask_storeu_ps(c, m, v);
                }
            }
        }
    }
}
#endif

/* avx: the AVX-512 micro-kernels (else generic C). allow_small: the few-rows kernel sums in a different order,
 * so callers that split rows among tasks must make the same choice for every split (results must not depend on
 * the thread count). */
static void sgemm_fast(int avx, int allow_small, int trans_b, int M, int N, int K, float alpha,
                       const float *A, int lda, const float *B, int ldb, float beta, float *C,
                       int ldc) {
    float pack[GEMM_KC * GEMM_NC] __attribute__((aligned(64)));
    if (K == 0) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
#if SA_HAVE_X86
    if (avx && allow_small && M <= SMALL_M && trans_b) {
        /* few rows times B^T: computed as C^T = B A^T, where B's rows stream through the main kernel (A packed,
         * tiny), then transposed back; chunks of B rows keep C^T on the stack */
        float ct[1024 * SMALL_M];
        for (int n0 = 0; n0 < N; n0 += 1024) {
            const int nn = N - n0 < 1024 ? N - n0 : 1024;
            sgemm_fast(avx, 0, 1, nn, M, K, alpha, B + (size_t)n0 * ldb, ldb, A, lda, 0.0f, ct, M);
            for (int i = 0; i < M; i++) {
                float *c = C + (size_t)i * ldc + n0;
                for (int j = 0; j < nn; j++)
                    c[j] =
                        beta == 0.0f ? ct[(size_t)j * M + i] : ct[(size_t)j * M + i] + beta * c[j];
            }
        }
        return;
    }
    if (avx && allow_small && M <= SMALL_M) {
        small_m_avx512(trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#endif
    /* B not transposed, few rows: B's rows are read in place, 32 columns at a time (packing a large B, the
     * decoder's image side, cost as much as a product that meets each element only M times) */
    const int in_place = avx && !trans_b && M <= 128;
    for (int n0 = 0; n0 < N; n0 += GEMM_NC) {
        int nc = N - n0 < GEMM_NC ? N - n0 : GEMM_NC;
        for (int k0 = 0; k0 < K; k0 += GEMM_KC) {
            int kc = K - k0 < GEMM_KC ? K - k0 : GEMM_KC;
            if (in_place) {
                gemm_block(avx, M, nc, kc, alpha, A + k0, lda, B + (size_t)k0 * ldb + n0, ldb, beta,
                           k0 == 0, C + n0, ldc);
                continue;
            }
            pack_b(trans_b, B, ldb, k0, kc, n0, nc, pack);
            gemm_block(avx, M, nc, kc, alpha, A + k0, lda, pack, GEMM_NR, beta, k0 == 0, C + n0,
                       ldc);
        }
    }
}

size_t sa__sgemm_packed_size(int N, int K) {
    return (size_t)round_nr(N) * (size_t)K;
}

void sa__sgemm_pack_b(int trans_b, int N, int K, const float *B, int ldb, float *dst) {
    for (int n0 = 0; n0 < N; n0 += GEMM_NC) {
        int nc = N - n0 < GEMM_NC ? N - n0 : GEMM_NC, ncp = round_nr(nc);
        for (int k0 = 0; k0 < K; k0 += GEMM_KC) {
            int kc = K - k0 < GEMM_KC ? K - k0 : GEMM_KC;
            pack_b(trans_b, B, ldb, k0, kc, n0, nc, dst + (size_t)n0 * K + (size_t)k0 * ncp);
        }
    }
}

static void sgemm_packed(int avx, int M, int N, int K, float alpha, const float *A, int lda,
                         const float *Bp, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K == 0) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    for (int n0 = 0; n0 < N; n0 += GEMM_NC) {
        int nc = N - n0 < GEMM_NC ? N - n0 : GEMM_NC, ncp = round_nr(nc);
        for (int k0 = 0; k0 < K; k0 += GEMM_KC) {
            int kc = K - k0 < GEMM_KC ? K - k0 : GEMM_KC;
            gemm_block(avx, M, nc, kc, alpha, A + k0, lda, Bp + (size_t)n0 * K + (size_t)k0 * ncp,
                       GEMM_NR, beta, k0 == 0, C + n0, ldc);
        }
    }
}

void sa__blas_sgemm1(int trans_b, int M, int N, int K, const float *A, int lda, const float *B,
                     int ldb, float *C, int ldc) {
    openblas_set_num_threads(1);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A,
                lda, B, ldb, 0.0f, C, ldc);
}

/* The GEMM entries of the kernel tables (sa__gemm_fn). */
static void gemm_reference(int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                           const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    sgemm_ref(trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* without AVX-512 there is no few-rows kernel: one entry serves as gemm and gemm_split */
static void gemm_generic(int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                         const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    sgemm_fast(0, 1, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

static void gemm_packed_generic(int M, int N, int K, float alpha, const float *A, int lda,
                                const float *Bp, float beta, float *C, int ldc) {
    sgemm_packed(0, M, N, K, alpha, A, lda, Bp, beta, C, ldc);
}

#if SA_HAVE_X86
static void gemm_avx512(int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                        const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    sgemm_fast(1, 1, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

static void gemm_split_avx512(int trans_b, int M, int N, int K, float alpha, const float *A,
                              int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    sgemm_fast(1, 0, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

static void gemm_packed_avx512(int M, int N, int K, float alpha, const float *A, int lda,
                               const float *Bp, float beta, float *C, int ldc) {
    sgemm_packed(1, M, N, K, alpha, A, lda, Bp, beta, C, ldc);
}
#endif

/* ------------------------------------------------------------------------------------------------------------ */
/* BF16 linear layers: W converted once (sa__bf16_pack_w) into panels of BF16_NR output columns holding pairs of
 * consecutive k (the operand layout of vdpbf16ps); A rounded to BF16 (round to nearest even) as each MR-row tile
 * is packed; products and sums in FP32, in one order per output element (bias, then k pairs in order, each pair
 * odd element first: the instruction's order), so the reference loop and the AVX-512 BF16 kernel agree up to the
 * instruction's treatment of denormals. K is blocked by BF16_KC pairs; blocks accumulate through C exactly. */
#define BF16_NR 32
#define BF16_KC 512 /* k pairs per block */

static uint16_t bf16_round(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static float bf16_float(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

size_t sa__bf16_packed_size(int out, int in) {
    return (size_t)((out + BF16_NR - 1) / BF16_NR * BF16_NR) * (size_t)((in + 1) / 2 * 2);
}

void sa__bf16_pack_w(const float *W, int out, int in, uint16_t *dst) {
    const int kp = (in + 1) / 2, np = (out + BF16_NR - 1) / BF16_NR;
    for (int pn = 0; pn < np; pn++)
        for (int p = 0; p < kp; p++) {
            uint16_t *d = dst + ((size_t)pn * kp + p) * 2 * BF16_NR;
            for (int j = 0; j < BF16_NR; j++) {
                int o = pn * BF16_NR + j;
                for (int e = 0; e < 2; e++) {
                    int k = 2 * p + e;
                    d[2 * j + e] = (o < out && k < in) ? bf16_round(W[(size_t)o * in + k]) : 0;
                }
            }
        }
}

/* Reference: y (M x out, ldc) = bias + x (M x in, lda) W^T with W packed, plain loops. */
static void gemm_bf16_ref(int M, int out, int in, const float *A, int lda, const uint16_t *Wp,
                          const float *bias, float *C, int ldc, int ep) {
    const int kp = (in + 1) / 2;
    for (int i = 0; i < M; i++) {
        const float *a = A + (size_t)i * lda;
        for (int o = 0; o < out; o++) {
            const uint16_t *w = Wp + (size_t)(o / BF16_NR) * kp * 2 * BF16_NR + 2 * (o % BF16_NR);
            float s = bias ? bias[o] : 0.0f;
            if (ep == SA__EP_ADD) s = C[(size_t)i * ldc + o] + s;
            for (int p = 0; p < kp; p++) {
                float a0 = bf16_float(bf16_round(a[2 * p]));
                float a1 = 2 * p + 1 < in ? bf16_float(bf16_round(a[2 * p + 1])) : 0.0f;
                const uint16_t *wp = w + (size_t)p * 2 * BF16_NR;
                s += a1 * bf16_float(wp[1]);
                s += a0 * bf16_float(wp[0]);
            }
            C[(size_t)i * ldc + o] =
                ep == SA__EP_GELU ? 0.5f * s * (1.0f + erff(s * (float)M_SQRT1_2)) : s;
        }
    }
}

#if SA_HAVE_X86
#define BF16_FN __attribute__((target("avx512f,avx512bw,avx512bf16")))

/* A tile: rows [0, mr) of A, k pairs [p0, p0+pc), rounded to BF16 into ap[p*MR + r] (pair as one 32-bit word). */
static BF16_FN void pack_a_bf16(const float *A, int lda, int mr, int in, int p0, int pc,
                                uint32_t *ap) {
    for (int r = 0; r < GEMM_MR; r++) {
        if (r >= mr) {
            for (int p = 0; p < pc; p++)
                ap[(size_t)p * GEMM_MR + r] = 0;
            continue;
        }
        const float *a = A + (size_t)r * lda + 2 * (size_t)p0;
        const int n = in - 2 * p0 < 2 * pc ? in - 2 * p0 : 2 * pc; /* floats in this block */
        uint32_t tmp[16];
        for (int k = 0; k < n; k += 32) {
            int left = n - k;
            __mmask16 m0 = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
            __mmask16 m1 = left >= 32   ? (__mmask16)0xFFFF
                           : left <= 16 ? 0
                                        : (__mmask16)((1u << (left - 16)) - 1u);
            __m512 lo = _mm512_maskz_loadu_ps(m0, a + k),
                   hi = _mm512_maskz_loadu_ps(m1, a + k + 16);
            __m512bh v = _mm512_cvtne2ps_pbh(hi, lo); /* 32 BF16: lo then hi */
            _mm512_storeu_si512((void *)tmp, (__m512i)v);
            int pairs = (left + 1) / 2 < 16 ? (left + 1) / 2 : 16;
            for (int q = 0; q < pairs; q++)
                ap[(size_t)(k / 2 + q) * GEMM_MR + r] = tmp[q];
        }
    }
}

static BF16_FN void micro_bf16(int mr, int nr, int pc, const uint32_t *ap, const uint16_t *bp,
                               const float *bias, int first, int last, int ep, float *C, int ldc) {
    const __mmask16 m0 = panel_mask(nr, 0), m1 = panel_mask(nr, 1);
    __m512 acc0[GEMM_MR], acc1[GEMM_MR];
    __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
#pragma GCC unroll 12
    for (int r = 0; r < GEMM_MR; r++) {
        if (r >= mr || (first && ep != SA__EP_ADD)) {
            acc0[r] = b0;
            acc1[r] = b1;
        } else if (first) { /* residual: (y + b) + products */
            acc0[r] = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, C + (size_t)r * ldc), b0);
            acc1[r] = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, C + (size_t)r * ldc + 16), b1);
        } else {
            acc0[r] = _mm512_maskz_loadu_ps(m0, C + (size_t)r * ldc);
            acc1[r] = _mm512_maskz_loadu_ps(m1, C + (size_t)r * ldc + 16);
        }
    }
    for (int p = 0; p < pc; p++) {
        __m512bh w0 = (__m512bh)_mm512_loadu_si512((const void *)(bp + (size_t)p * 2 * BF16_NR));
        __m512bh w1 =
            (__m512bh)_mm512_loadu_si512((const void *)(bp + (size_t)p * 2 * BF16_NR + 32));
        const uint32_t *a = ap + (size_t)p * GEMM_MR;
#pragma GCC unroll 12
        for (int r = 0; r < GEMM_MR; r++) {
            __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[r]);
            acc0[r] = _mm512_dpbf16_ps(acc0[r], av, w0);
            acc1[r] = _mm512_dpbf16_ps(acc1[r], av, w1);
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < GEMM_MR; r++) {
        if (r >= mr) break;
        if (last && ep == SA__EP_GELU) {
            acc0[r] = gelu16(acc0[r]);
            acc1[r] = gelu16(acc1[r]);
        }
        _mm512_mask_storeu_ps(C + (size_t)r * ldc, m0, acc0[r]);
        _mm512_mask_storeu_ps(C + (size_t)r * ldc + 16, m1, acc1[r]);
    }
}

/* Columns blocked (1024: measured 10-25% faster than 256 on vit_b shapes, the A tile being packed once per
 * block) so a block of W panels is reused by every row tile of the call. */
static BF16_FN void gemm_bf16_avx512(int M, int out, int in, const float *A, int lda,
                                     const uint16_t *Wp, const float *bias, float *C, int ldc,
                                     int ep) {
    uint32_t ap[BF16_KC * GEMM_MR] __attribute__((aligned(64)));
    const int kp = (in + 1) / 2, ncb = 1024;
    for (int p0 = 0; p0 < kp; p0 += BF16_KC) {
        const int pc = kp - p0 < BF16_KC ? kp - p0 : BF16_KC;
        for (int n0 = 0; n0 < out; n0 += ncb) {
            const int nc = out - n0 < ncb ? out - n0 : ncb;
            for (int i0 = 0; i0 < M; i0 += GEMM_MR) {
                const int mr = M - i0 < GEMM_MR ? M - i0 : GEMM_MR;
                pack_a_bf16(A + (size_t)i0 * lda, lda, mr, in, p0, pc, ap);
                for (int j = 0; j < nc; j += BF16_NR) {
                    const int o = n0 + j, nr = out - o < BF16_NR ? out - o : BF16_NR;
                    const uint16_t *bp = Wp + ((size_t)(o / BF16_NR) * kp + p0) * 2 * BF16_NR;
                    micro_bf16(mr, nr, pc, ap, bp, bias ? bias + o : NULL, p0 == 0, p0 + pc == kp,
                               ep, C + (size_t)i0 * ldc + o, ldc);
                }
            }
        }
    }
}
#endif

/* ------------------------------------------------------------------------------------------------------------ */
/* Linear layers */

typedef struct {
    const sa__kernels *k;
    const sa__lin *l;
    const float *x;
    int ldx, n, ldy, chunk, rows, blas_rows, ep;
    float *y;
} linear_ctx;

/* y (nr x no, ldy) before a product with beta = 1: the bias (or y + bias for a residual add); returns beta */
static float linear_init(const sa__lin *l, int o0, int nr, int no, int ep, float *y, int ldy) {
    if (ep == SA__EP_ADD) {
        if (l->b)
            for (int i = 0; i < nr; i++)
                for (int j = 0; j < no; j++)
                    y[(size_t)i * ldy + j] += l->b[o0 + j];
        return 1.0f;
    }
    if (!l->b) return 0.0f;
    for (int i = 0; i < nr; i++)
        memcpy(y + (size_t)i * ldy, l->b + o0, (size_t)no * sizeof(float));
    return 1.0f;
}

/* GELU over a block just computed (still in cache) */
static void linear_gelu(const sa__kernels *k, int nr, int no, float *y, int ldy) {
    for (int i = 0; i < nr; i++)
        k->gelu(y + (size_t)i * ldy, (size_t)no);
}

/* One task = a block of output columns (and all rows) or, for few columns, a block of rows. */
static void linear_task(void *vctx, int t, int worker) {
    (void)worker;
    linear_ctx *c = vctx;
    const sa__lin *l = c->l;
    int r0 = 0, nr = c->n, o0 = 0, no = l->out;
    if (c->rows) {
        r0 = t * c->chunk;
        nr = c->n - r0 < c->chunk ? c->n - r0 : c->chunk;
    } else {
        o0 = t * c->chunk;
        no = l->out - o0 < c->chunk ? l->out - o0 : c->chunk;
    }
    if (l->wb && c->k->gemm_bf16) {
        const int kp =
            (l->in + 1) / 2; /* o0 is a multiple of the panel width (GEMM_NR == BF16_NR) */
        c->k->gemm_bf16(nr, no, l->in, c->x + (size_t)r0 * c->ldx, c->ldx,
                        l->wb + (size_t)(o0 / BF16_NR) * kp * 2 * BF16_NR, l->b ? l->b + o0 : NULL,
                        c->y + (size_t)r0 * c->ldy + o0, c->ldy, c->ep);
        return;
    }
    float *y = c->y + (size_t)r0 * c->ldy + o0;
    const float beta = linear_init(l, o0, nr, no, c->ep, y, c->ldy);
    if (c->blas_rows) { /* single-threaded OpenBLAS inside our task (its thread count was set to 1) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, no, l->in, 1.0f,
                    c->x + (size_t)r0 * c->ldx, c->ldx, l->w + (size_t)o0 * l->in, l->in, beta, y,
                    c->ldy);
        if (c->ep == SA__EP_GELU) linear_gelu(c->k, nr, no, y, c->ldy);
        return;
    }
    /* the few-rows kernel only when the whole product has few rows, whatever the split */
    const sa__kernels *k = c->k;
    sa__gemm_fn gemm = c->n <= SMALL_M ? k->gemm : k->gemm_split;
    gemm(1, nr, no, l->in, 1.0f, c->x + (size_t)r0 * c->ldx, c->ldx, l->w + (size_t)o0 * l->in,
         l->in, beta, y, c->ldy);
    if (c->ep == SA__EP_GELU) linear_gelu(k, nr, no, y, c->ldy);
}

int sa__linear_fuses(const sa__kernels *k, const sa__lin *l) {
    return l->wb && k->gemm_bf16;
}

void sa__linear_k(const sa__kernels *k, int blas_threads, sa__pool *pool, const sa__lin *l,
                  const float *x, int ldx, int n, float *y, int ldy) {
    sa__linear_ep(k, blas_threads, pool, l, x, ldx, n, y, ldy, SA__EP_NONE);
}

void sa__linear_ep(const sa__kernels *k, int blas_threads, sa__pool *pool, const sa__lin *l,
                   const float *x, int ldx, int n, float *y, int ldy, int ep) {
    if (n <= 0) return;
    /* BLAS kernel set, or the fast set on a CPU without AVX-512 (our generic micro-kernel is plain C) */
    const int bf16 = l->wb && k->gemm_bf16;
    if (!bf16 && k->blas_layers && (size_t)n * l->out * l->in >= 65536) {
        const float beta = linear_init(l, 0, n, l->out, ep, y, ldy);
        openblas_set_num_threads(blas_threads);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, l->out, l->in, 1.0f, x, ldx, l->w,
                    l->in, beta, y, ldy);
        if (ep == SA__EP_GELU) linear_gelu(k, n, l->out, y, ldy);
        return;
    }
    linear_ctx c = {.k = k, .l = l, .x = x, .ldx = ldx, .n = n, .ldy = ldy, .y = y, .ep = ep};
    int threads = sa__pool_threads(pool);
    int tasks;
    if ((size_t)n * l->out * l->in < 65536 || threads == 1) {
        c.rows = 1;
        c.chunk = n;
        tasks = 1;
    } else if (n < 48 * threads) {
        /* few rows (decoder tokens): column blocks, multiples of the panel width */
        int per = (l->out + 2 * threads - 1) / (2 * threads);
        per = (per + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
        c.chunk = per;
        tasks = (l->out + per - 1) / per;
    } else {
        /* row blocks: each task packs W once and reuses every packed A tile over all columns; four per
         * thread, taken in turn, so that a thread slowed by the shared host leaves less behind (a task
         * re-reads W, a few percent of its time) */
        c.rows = 1;
        int per = (n + 4 * threads - 1) / (4 * threads);
        per = (per + GEMM_MR - 1) / GEMM_MR * GEMM_MR;
        c.chunk = per;
        tasks = (n + per - 1) / per;
    }
    if (!bf16 && k->blas_tasks && c.rows && n > SMALL_M && l->out > 4 * GEMM_NR) {
        /* Large products without AVX-512 (the generic set): OpenBLAS's single-threaded SGEMM, our pool
         * supplying the parallelism. With AVX-512 our micro-kernel is used: on Zen 5 (full-width 512-bit FMA)
         * it measured 1.35x OpenBLAS's Haswell kernel over the vit_b encoder, and it sums every element in
         * the same order whatever the row split, which OpenBLAS does not (masks changed with the thread
         * count). */
        c.blas_rows = 1;
        openblas_set_num_threads(1);
    }
    sa__pool_run(pool, tasks, linear_task, &c);
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Element-wise and row-wise ops */

typedef struct {
    const sa__kernels *k;
    const sa__ln *ln;
    float eps;
    const float *x;
    float *y;
    int n, per;
} ln_ctx;

static void layernorm_rows(const sa__ln *ln, float eps, const float *x, float *y, int r0, int r1) {
    const int c = ln->n;
    for (int r = r0; r < r1; r++) {
        const float *xr = x + (size_t)r * c;
        float *yr = y + (size_t)r * c;
        double s = 0.0;
        for (int i = 0; i < c; i++)
            s += xr[i];
        float mean = (float)(s / c);
        double v = 0.0;
        for (int i = 0; i < c; i++) {
            double d = (double)xr[i] - mean;
            v += d * d;
        }
        float rstd = (float)(1.0 / sqrt(v / c + (double)eps));
        for (int i = 0; i < c; i++)
            yr[i] = (xr[i] - mean) * rstd * ln->w[i] + ln->b[i];
    }
}

#if SA_HAVE_X86
/* Same with 16-lane float sums (two passes: mean, then centred variance). */
static AVX512_FN void layernorm_rows_avx512(const sa__ln *ln, float eps, const float *x, float *y,
                                            int r0, int r1) {
    const int c = ln->n, c16 = c / 16 * 16;
    const __mmask16 tail = (__mmask16)((1u << (c - c16)) - 1u);
    for (int r = r0; r < r1; r++) {
        const float *xr = x + (size_t)r * c;
        float *yr = y + (size_t)r * c;
        __m512 s = _mm512_setzero_ps();
        for (int i = 0; i < c16; i += 16)
            s = _mm512_add_ps(s, _mm512_loadu_ps(xr + i));
        if (tail) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(tail, xr + c16));
        __m512 mean = _mm512_set1_ps(_mm512_reduce_add_ps(s) / (float)c);
        __m512 v = _mm512_setzero_ps();
        for (int i = 0; i < c16; i += 16) {
            __m512 d = _mm512_sub_ps(_mm512_loadu_ps(xr + i), mean);
            v = _mm512_fmadd_ps(d, d, v);
        }
        if (tail) {
            __m512 d = _mm512_maskz_sub_ps(tail, _mm512_maskz_loadu_ps(tail, xr + c16), mean);
            v = _mm512_fmadd_ps(d, d, v);
        }
        __m512 rstd = _mm512_set1_ps(1.0f / sqrtf(_mm512_reduce_add_ps(v) / (float)c + eps));
        for (int i = 0; i < c16; i += 16) {
            __m512 t = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(xr + i), mean), rstd);
            _mm512_storeu_ps(
                yr + i, _mm512_fmadd_ps(t, _mm512_loadu_ps(ln->w + i), _mm512_loadu_ps(ln->b + i)));
        }
        if (tail) {
            __m512 t =
                _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, xr + c16), mean), rstd);
            _mm512_mask_storeu_ps(yr + c16, tail,
                                  _mm512_fmadd_ps(t, _mm512_maskz_loadu_ps(tail, ln->w + c16),
                                                  _mm512_maskz_loadu_ps(tail, ln->b + c16)));
        }
    }
}
#endif

static void ln_task(void *vctx, int t, int worker) {
    (void)worker;
    ln_ctx *c = vctx;
    int r0 = t * c->per, r1 = r0 + c->per < c->n ? r0 + c->per : c->n;
    c->k->layernorm_rows(c->ln, c->eps, c->x, c->y, r0, r1);
}

void sa__layernorm(const sa__kernels *k, sa__pool *pool, const sa__ln *ln, float eps,
                   const float *x, float *y, int n) {
    int threads = sa__pool_threads(pool);
    if (threads == 1 || n < 64) {
        k->layernorm_rows(ln, eps, x, y, 0, n);
        return;
    }
    ln_ctx c = {.k = k,
                .ln = ln,
                .eps = eps,
                .x = x,
                .y = y,
                .n = n,
                .per = (n + 4 * threads - 1) / (4 * threads)};
    sa__pool_run(pool, (n + c.per - 1) / c.per, ln_task, &c);
}

typedef struct {
    const sa__kernels *k;
    float *x;
    size_t n, per;
} gelu_ctx;

#if SA_HAVE_X86
/* GELU with erf from Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7), odd-extended. */
static AVX512_FN void gelu_avx512(float *x, size_t n) {
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        _mm512_mask_storeu_ps(x + i, m, gelu16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}
#endif

static void gelu_ref(float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
}

static void gelu_task(void *vctx, int t, int worker) {
    (void)worker;
    gelu_ctx *c = vctx;
    size_t a = (size_t)t * c->per, b = a + c->per < c->n ? a + c->per : c->n;
    c->k->gelu(c->x + a, b - a);
}

void sa__gelu(const sa__kernels *k, sa__pool *pool, float *x, size_t n) {
    int threads = sa__pool_threads(pool);
    if (threads == 1 || n < 65536) {
        k->gelu(x, n);
        return;
    }
    gelu_ctx c = {
        .k = k, .x = x, .n = n, .per = (n + 8 * (size_t)threads - 1) / (8 * (size_t)threads)};
    sa__pool_run(pool, (int)((n + c.per - 1) / c.per), gelu_task, &c);
}

void sa__relu(float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (x[i] < 0.0f) x[i] = 0.0f;
}

#if SA_HAVE_X86
static AVX512_FN void softmax_rows_avx512(float *x, int rows, int cols, int ld) {
    for (int r = 0; r < rows; r++) {
        float *v = x + (size_t)r * ld;
        __m512 vmax = _mm512_set1_ps(-INFINITY);
        int i = 0;
        for (; i + 16 <= cols; i += 16)
            vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(v + i));
        __mmask16 tail = (__mmask16)((1u << (cols - i)) - 1u);
        if (tail) vmax = _mm512_mask_max_ps(vmax, tail, vmax, _mm512_maskz_loadu_ps(tail, v + i));
        __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
        __m512 vsum = _mm512_setzero_ps();
        for (i = 0; i + 16 <= cols; i += 16) {
            __m512 e = sa__exp512(_mm512_sub_ps(_mm512_loadu_ps(v + i), mx));
            _mm512_storeu_ps(v + i, e);
            vsum = _mm512_add_ps(vsum, e);
        }
        if (tail) {
            __m512 e = sa__exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, v + i), mx));
            e = _mm512_maskz_mov_ps(tail, e);
            _mm512_mask_storeu_ps(v + i, tail, e);
            vsum = _mm512_add_ps(vsum, e);
        }
        __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(vsum));
        for (i = 0; i + 16 <= cols; i += 16)
            _mm512_storeu_ps(v + i, _mm512_mul_ps(_mm512_loadu_ps(v + i), inv));
        if (tail)
            _mm512_mask_storeu_ps(v + i, tail,
                                  _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, v + i), inv));
    }
}
#endif

#if SA_HAVE_X86
/* Row i of x (T = S*S keys): x[kh*S + kw] = (x + rh[i][kh]) + rw[i][kw], then softmax. */
static AVX512_FN void softmax_rel_avx512(float *x, int rows, int S, const float *rh,
                                         const float *rw) {
    const int T = S * S;
    for (int r = 0; r < rows; r++) {
        float *v = x + (size_t)r * T;
        const float *h = rh + (size_t)r * S, *w = rw + (size_t)r * S;
        __m512 vmax = _mm512_set1_ps(-INFINITY);
        for (int kh = 0; kh < S; kh++) {
            __m512 hv = _mm512_set1_ps(h[kh]);
            float *row = v + (size_t)kh * S;
            int kw = 0;
            for (; kw + 16 <= S; kw += 16) {
                __m512 t = _mm512_add_ps(_mm512_add_ps(_mm512_loadu_ps(row + kw), hv),
                                         _mm512_loadu_ps(w + kw));
                _mm512_storeu_ps(row + kw, t);
                vmax = _mm512_max_ps(vmax, t);
            }
            if (kw < S) {
                __mmask16 m = (__mmask16)((1u << (S - kw)) - 1u);
                __m512 t = _mm512_add_ps(_mm512_add_ps(_mm512_maskz_loadu_ps(m, row + kw), hv),
                                         _mm512_maskz_loadu_ps(m, w + kw));
                _mm512_mask_storeu_ps(row + kw, m, t);
                vmax = _mm512_mask_max_ps(vmax, m, vmax, t);
            }
        }
        __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
        __m512 vsum = _mm512_setzero_ps();
        int i = 0;
        for (; i + 16 <= T; i += 16) {
            __m512 e = sa__exp512(_mm512_sub_ps(_mm512_loadu_ps(v + i), mx));
            _mm512_storeu_ps(v + i, e);
            vsum = _mm512_add_ps(vsum, e);
        }
        __mmask16 tail = (__mmask16)((1u << (T - i)) - 1u);
        if (tail) {
            __m512 e = _mm512_maskz_mov_ps(
                tail, sa__exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, v + i), mx)));
            _mm512_mask_storeu_ps(v + i, tail, e);
            vsum = _mm512_add_ps(vsum, e);
        }
        __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(vsum));
        for (i = 0; i + 16 <= T; i += 16)
            _mm512_storeu_ps(v + i, _mm512_mul_ps(_mm512_loadu_ps(v + i), inv));
        if (tail)
            _mm512_mask_storeu_ps(v + i, tail,
                                  _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, v + i), inv));
    }
}
#endif

static void softmax_ref(float *x, int rows, int cols, int ld) {
    for (int r = 0; r < rows; r++) {
        float *v = x + (size_t)r * ld;
        float mx = v[0];
        for (int i = 1; i < cols; i++)
            if (v[i] > mx) mx = v[i];
        float s = 0.0f;
        for (int i = 0; i < cols; i++) {
            v[i] = expf(v[i] - mx);
            s += v[i];
        }
        float inv = 1.0f / s;
        for (int i = 0; i < cols; i++)
            v[i] *= inv;
    }
}

static void softmax_rel_ref(float *x, int rows, int S, const float *rh, const float *rw) {
    const int T = S * S;
    for (int i = 0; i < rows; i++) {
        float *row = x + (size_t)i * T;
        const float *h = rh + (size_t)i * S, *w = rw + (size_t)i * S;
        for (int kh = 0; kh < S; kh++) {
            float *r = row + (size_t)kh * S;
            for (int kw = 0; kw < S; kw++)
                r[kw] = (r[kw] + h[kh]) + w[kw];
        }
    }
    softmax_ref(x, rows, T, T);
}

void sa__add(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Kernel tables */

#define K_REFERENCE_INIT(bf, bfisa, attn)                                                          \
    {                                                                                              \
        .set = SA__KERNELS_REFERENCE, .isa = "reference", .gemm = gemm_reference,                  \
        .gemm_split = gemm_reference, .gemm_packed = NULL, .layernorm_rows = layernorm_rows,       \
        .gelu = gelu_ref, .softmax = softmax_ref, .softmax_rel = softmax_rel_ref,                  \
        .blas_layers = 0, .blas_tasks = 0, .fused_cross = 0, .gemm_bf16 = bf, .bf16_isa = bfisa,   \
        .attention = attn                                                                          \
    }
static const sa__kernels k_reference = K_REFERENCE_INIT(NULL, NULL, sa__attention_ref);

/* without AVX-512 the large linear layers go to OpenBLAS whatever the set (our generic micro-kernel is plain C) */
#define K_FAST_GENERIC_INIT(bf, bfisa, attn)                                                       \
    {                                                                                              \
        .set = SA__KERNELS_FAST, .isa = "generic", .gemm = gemm_generic,                           \
        .gemm_split = gemm_generic, .gemm_packed = gemm_packed_generic,                            \
        .layernorm_rows = layernorm_rows, .gelu = gelu_ref, .softmax = softmax_ref,                \
        .softmax_rel = softmax_rel_ref, .blas_layers = 1, .blas_tasks = 1, .fused_cross = 1,       \
        .gemm_bf16 = bf, .bf16_isa = bfisa, .attention = attn                                      \
    }
static const sa__kernels k_fast_generic = K_FAST_GENERIC_INIT(NULL, NULL, sa__attention_plain);

#define K_BLAS_GENERIC_INIT(bf, bfisa, attn)                                                       \
    {                                                                                              \
        .set = SA__KERNELS_BLAS, .isa = "generic", .gemm = gemm_generic,                           \
        .gemm_split = gemm_generic, .gemm_packed = gemm_packed_generic,                            \
        .layernorm_rows = layernorm_rows, .gelu = gelu_ref, .softmax = softmax_ref,                \
        .softmax_rel = softmax_rel_ref, .blas_layers = 1, .blas_tasks = 0, .fused_cross = 1,       \
        .gemm_bf16 = bf, .bf16_isa = bfisa, .attention = attn                                      \
    }
static const sa__kernels k_blas_generic = K_BLAS_GENERIC_INIT(NULL, NULL, sa__attention_plain);

#if SA_HAVE_X86
#define K_FAST_AVX512_INIT(bf, bfisa, attn)                                                        \
    {                                                                                              \
        .set = SA__KERNELS_FAST, .isa = "avx512", .gemm = gemm_avx512,                             \
        .gemm_split = gemm_split_avx512, .gemm_packed = gemm_packed_avx512,                        \
        .layernorm_rows = layernorm_rows_avx512, .gelu = gelu_avx512,                              \
        .softmax = softmax_rows_avx512, .softmax_rel = softmax_rel_avx512, .blas_layers = 0,       \
        .blas_tasks = 0, .fused_cross = 1, .gemm_bf16 = bf, .bf16_isa = bfisa, .attention = attn   \
    }
static const sa__kernels k_fast_avx512 = K_FAST_AVX512_INIT(NULL, NULL, sa__attention_avx512);

#define K_BLAS_AVX512_INIT(bf, bfisa, attn)                                                        \
    {                                                                                              \
        .set = SA__KERNELS_BLAS, .isa = "avx512", .gemm = gemm_avx512,                             \
        .gemm_split = gemm_split_avx512, .gemm_packed = gemm_packed_avx512,                        \
        .layernorm_rows = layernorm_rows_avx512, .gelu = gelu_avx512,                              \
        .softmax = softmax_rows_avx512, .softmax_rel = softmax_rel_avx512, .blas_layers = 1,       \
        .blas_tasks = 0, .fused_cross = 1, .gemm_bf16 = bf, .bf16_isa = bfisa, .attention = attn   \
    }
static const sa__kernels k_blas_avx512 = K_BLAS_AVX512_INIT(NULL, NULL, sa__attention_avx512);
#endif

const sa__kernels *sa__kernels_select(int set) {
    if (set == SA__KERNELS_REFERENCE) return &k_reference;
#if SA_HAVE_X86
    if (__builtin_cpu_supports("avx512f"))
        return set == SA__KERNELS_BLAS ? &k_blas_avx512 : &k_fast_avx512;
#endif
    return set == SA__KERNELS_BLAS ? &k_blas_generic : &k_fast_generic;
}

static const sa__kernels k_reference_bf16 =
    K_REFERENCE_INIT(gemm_bf16_ref, "reference", sa__attention_bf16_ref);
static const sa__kernels k_fast_generic_bf16 =
    K_FAST_GENERIC_INIT(gemm_bf16_ref, "reference", sa__attention_bf16_ref);
static const sa__kernels k_blas_generic_bf16 =
    K_BLAS_GENERIC_INIT(gemm_bf16_ref, "reference", sa__attention_bf16_ref);
#if SA_HAVE_X86
static const sa__kernels k_fast_avx512_bf16 =
    K_FAST_AVX512_INIT(gemm_bf16_avx512, "avx512bf16", sa__attention_bf16_avx512);
static const sa__kernels k_blas_avx512_bf16 =
    K_BLAS_AVX512_INIT(gemm_bf16_avx512, "avx512bf16", sa__attention_bf16_avx512);
static const sa__kernels k_fast_avx512_bf16ref =
    K_FAST_AVX512_INIT(gemm_bf16_ref, "reference", sa__attention_bf16_ref);
static const sa__kernels k_blas_avx512_bf16ref =
    K_BLAS_AVX512_INIT(gemm_bf16_ref, "reference", sa__attention_bf16_ref);
#endif

const sa__kernels *sa__kernels_select_precision(int set, int precision) {
    if (precision != SA__PRECISION_BF16) return sa__kernels_select(set);
    if (set == SA__KERNELS_REFERENCE) return &k_reference_bf16;
#if SA_HAVE_X86
    if (__builtin_cpu_supports("avx512f")) {
        const int blas = set == SA__KERNELS_BLAS;
        if (__builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw"))
            return blas ? &k_blas_avx512_bf16 : &k_fast_avx512_bf16;
        return blas ? &k_blas_avx512_bf16ref : &k_fast_avx512_bf16ref;
    }
#endif
    return set == SA__KERNELS_BLAS ? &k_blas_generic_bf16 : &k_fast_generic_bf16;
}
