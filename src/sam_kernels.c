/* SAM engine kernels: a small pthread pool, SGEMM (a plain reference loop and a blocked kernel with an AVX-512
 * micro-kernel chosen at run time, generic C otherwise), linear layers (ours threaded over output columns, or
 * OpenBLAS), LayerNorm, exact GELU and softmax.
 *
 * One level of parallelism at a time: either the pool splits work and every task runs single-threaded kernels,
 * or (BLAS kernel set) the calling thread makes one cblas call with OpenBLAS's own threads while the pool idles.
 * Results do not depend on the thread count: every output element is computed by the same sequence of
 * operations whichever task computes it (splits are over output rows/columns, never over the sum). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define SA_HAVE_X86 1
#else
#define SA_HAVE_X86 0
#endif

#include "sam_internal.h"

/* OpenBLAS extension (declared in its cblas.h, repeated here in case of another cblas header). */
void openblas_set_num_threads(int num_threads);

/* ------------------------------------------------------------------------------------------------------------ */
/* Thread pool */

struct sa__pool {
    int threads;
    pthread_t *tid;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    unsigned long gen;   /* incremented per run */
    int stop;
    sa__task_fn fn;
    void *ctx;
    int n_tasks;
    int next;            /* next task index (under mu) */
    int busy;            /* workers still inside the current run */
};

typedef struct {
    sa__pool *p;
    int id;
} worker_arg;

static void pool_work(sa__pool *p, int id) {
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int t = p->next < p->n_tasks ? p->next++ : -1;
        pthread_mutex_unlock(&p->mu);
        if (t < 0) break;
        p->fn(p->ctx, t, id);
    }
}

static void *pool_main(void *arg) {
    worker_arg *wa = arg;
    sa__pool *p = wa->p;
    int id = wa->id;
    free(wa);
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->stop && p->gen == seen) pthread_cond_wait(&p->cv_work, &p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = p->gen;
        pthread_mutex_unlock(&p->mu);
        pool_work(p, id);
        pthread_mutex_lock(&p->mu);
        if (--p->busy == 0) pthread_cond_signal(&p->cv_done);
        pthread_mutex_unlock(&p->mu);
    }
}

int sa__pool_new(int threads, sa__pool **out) {
    *out = NULL;
    if (threads < 1) threads = 1;
    sa__pool *p = calloc(1, sizeof *p);
    if (!p) return SA_ERR_NOMEM;
    p->threads = threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_work, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    if (threads > 1) {
        p->tid = calloc((size_t)threads, sizeof *p->tid);
        if (!p->tid) {
            sa__pool_free(p);
            return SA_ERR_NOMEM;
        }
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, (size_t)4 << 20); /* the GEMM packs B on the stack (<= 1 MiB) */
        for (int i = 1; i < threads; i++) {
            worker_arg *wa = malloc(sizeof *wa);
            if (wa) {
                wa->p = p;
                wa->id = i;
            }
            if (!wa || pthread_create(&p->tid[i], &attr, pool_main, wa) != 0) {
                free(wa);
                pthread_attr_destroy(&attr);
                p->threads = p->started + 1;
                sa__pool_free(p);
                return SA_ERR_NOMEM;
            }
            p->started++;
        }
        pthread_attr_destroy(&attr);
    }
    *out = p;
    return SA_OK;
}

void sa__pool_free(sa__pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i <= p->started; i++) pthread_join(p->tid[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_work);
    pthread_cond_destroy(&p->cv_done);
    free(p->tid);
    free(p);
}

int sa__pool_threads(const sa__pool *p) {
    return p ? p->threads : 1;
}

void sa__pool_run(sa__pool *p, int n_tasks, sa__task_fn fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (!p || p->started == 0 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    p->next = 0;
    p->busy = p->started;
    p->gen++;
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    pool_work(p, 0);
    pthread_mutex_lock(&p->mu);
    while (p->busy > 0) pthread_cond_wait(&p->cv_done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

/* ------------------------------------------------------------------------------------------------------------ */
/* SGEMM */

static void sgemm_ref(int trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                      float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        const float *a = A + (size_t)i * lda;
        for (int j = 0; j < N; j++) {
            float s = 0.0f;
            if (trans_b) {
                const float *b = B + (size_t)j * ldb;
                for (int k = 0; k < K; k++) s += a[k] * b[k];
            } else {
                for (int k = 0; k < K; k++) s += a[k] * B[(size_t)k * ldb + j];
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = beta == 0.0f ? alpha * s : alpha * s + beta * *c;
        }
    }
}

/* Blocked kernel: B is packed per (KC x NC) block into panels of NR columns (k-major, zero-padded); A is read in
 * place, MR rows at a time. */
#define GEMM_KC 256
#define GEMM_NC 512
#define GEMM_NR 32
#define GEMM_MR 12

static void pack_b(int trans_b, const float *B, int ldb, int k0, int kc, int n0, int nc, float *dst) {
    for (int p = 0; p < nc; p += GEMM_NR) {
        int nr = nc - p < GEMM_NR ? nc - p : GEMM_NR;
        float *d = dst + (size_t)p * kc;
        if (trans_b) {
            for (int j = 0; j < nr; j++) {
                const float *b = B + (size_t)(n0 + p + j) * ldb + k0;
                for (int k = 0; k < kc; k++) d[(size_t)k * GEMM_NR + j] = b[k];
            }
        } else {
            for (int k = 0; k < kc; k++) {
                const float *b = B + (size_t)(k0 + k) * ldb + n0 + p;
                memcpy(d + (size_t)k * GEMM_NR, b, (size_t)nr * sizeof(float));
            }
        }
        if (nr < GEMM_NR)
            for (int k = 0; k < kc; k++) memset(d + (size_t)k * GEMM_NR + nr, 0, (size_t)(GEMM_NR - nr) * sizeof(float));
    }
}

/* Generic micro-kernel: C[mr x nr] (=|+=) alpha * A[mr x kc] * Bp[kc x NR]. first: apply beta. */
static void micro_generic(int mr, int nr, int kc, float alpha, const float *A, int lda, const float *Bp, float beta,
                          int first, float *C, int ldc) {
    float acc[GEMM_MR][GEMM_NR];
    memset(acc, 0, sizeof acc);
    for (int k = 0; k < kc; k++) {
        const float *b = Bp + (size_t)k * GEMM_NR;
        for (int r = 0; r < mr; r++) {
            float a = A[(size_t)r * lda + k];
            for (int j = 0; j < GEMM_NR; j++) acc[r][j] += a * b[j];
        }
    }
    for (int r = 0; r < mr; r++) {
        float *c = C + (size_t)r * ldc;
        for (int j = 0; j < nr; j++) {
            float v = alpha * acc[r][j];
            if (!first) v += c[j];
            else if (beta != 0.0f) v += beta * c[j];
            c[j] = v;
        }
    }
}

#if SA_HAVE_X86
#define AVX512_FN __attribute__((target("avx512f")))

static inline __attribute__((always_inline)) AVX512_FN void micro_avx512_t(const int mr, int nr, int kc, float alpha,
                                                                           const float *A, int lda, const float *Bp,
                                                                           float beta, int first, float *C, int ldc) {
    __m512 acc0[GEMM_MR], acc1[GEMM_MR];
    for (int r = 0; r < mr; r++) {
        acc0[r] = _mm512_setzero_ps();
        acc1[r] = _mm512_setzero_ps();
    }
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(Bp + (size_t)k * GEMM_NR);
        __m512 b1 = _mm512_loadu_ps(Bp + (size_t)k * GEMM_NR + 16);
        for (int r = 0; r < mr; r++) {
            __m512 a = _mm512_set1_ps(A[(size_t)r * lda + k]);
            acc0[r] = _mm512_fmadd_ps(a, b0, acc0[r]);
            acc1[r] = _mm512_fmadd_ps(a, b1, acc1[r]);
        }
    }
    __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1u);
    __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : nr <= 16 ? (__mmask16)0 : (__mmask16)((1u << (nr - 16)) - 1u);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int r = 0; r < mr; r++) {
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

#define MICRO_CASE(R)                                                                                          \
    case R: micro_avx512_t(R, nr, kc, alpha, A, lda, Bp, beta, first, C, ldc); break;

static AVX512_FN void micro_avx512(int mr, int nr, int kc, float alpha, const float *A, int lda, const float *Bp,
                                   float beta, int first, float *C, int ldc) {
    switch (mr) {
        MICRO_CASE(1) MICRO_CASE(2) MICRO_CASE(3) MICRO_CASE(4) MICRO_CASE(5) MICRO_CASE(6)
        MICRO_CASE(7) MICRO_CASE(8) MICRO_CASE(9) MICRO_CASE(10) MICRO_CASE(11) MICRO_CASE(12)
    default: break;
    }
}
#endif

static int have_avx512(void) {
#if SA_HAVE_X86
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
#else
    return 0;
#endif
}

const char *sa__sgemm_isa(void) {
    return have_avx512() ? "avx512" : "generic";
}

static void sgemm_fast(int trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                       int ldb, float beta, float *C, int ldc) {
    float pack[GEMM_KC * GEMM_NC] __attribute__((aligned(64)));
    const int avx = have_avx512();
    if (K == 0) {
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
        return;
    }
    for (int n0 = 0; n0 < N; n0 += GEMM_NC) {
        int nc = N - n0 < GEMM_NC ? N - n0 : GEMM_NC;
        for (int k0 = 0; k0 < K; k0 += GEMM_KC) {
            int kc = K - k0 < GEMM_KC ? K - k0 : GEMM_KC;
            int first = k0 == 0;
            pack_b(trans_b, B, ldb, k0, kc, n0, nc, pack);
            for (int i0 = 0; i0 < M; i0 += GEMM_MR) {
                int mr = M - i0 < GEMM_MR ? M - i0 : GEMM_MR;
                const float *a = A + (size_t)i0 * lda + k0;
                for (int p = 0; p < nc; p += GEMM_NR) {
                    int nr = nc - p < GEMM_NR ? nc - p : GEMM_NR;
                    float *c = C + (size_t)i0 * ldc + n0 + p;
                    const float *bp = pack + (size_t)p * kc;
#if SA_HAVE_X86
                    if (avx) {
                        micro_avx512(mr, nr, kc, alpha, a, lda, bp, beta, first, c, ldc);
                        continue;
                    }
#endif
                    micro_generic(mr, nr, kc, alpha, a, lda, bp, beta, first, c, ldc);
                }
            }
        }
    }
    (void)avx;
}

void sa__sgemm(int kernels, int trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
               int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (kernels == SA_SAM_KERNELS_REFERENCE)
        sgemm_ref(trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
        sgemm_fast(trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Linear layers */

typedef struct {
    const sa_sam_model *m;
    const sa__lin *l;
    const float *x;
    int ldx, n, ldy, chunk, rows;
    float *y;
} linear_ctx;

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
    float *y = c->y + (size_t)r0 * c->ldy + o0;
    float beta = 0.0f;
    if (l->b) {
        for (int i = 0; i < nr; i++) memcpy(y + (size_t)i * c->ldy, l->b + o0, (size_t)no * sizeof(float));
        beta = 1.0f;
    }
    sa__sgemm(c->m->params.kernels, 1, nr, no, l->in, 1.0f, c->x + (size_t)r0 * c->ldx, c->ldx,
              l->w + (size_t)o0 * l->in, l->in, beta, y, c->ldy);
}

void sa__linear(const sa_sam_model *m, sa__pool *pool, const sa__lin *l, const float *x, int ldx, int n, float *y,
                int ldy) {
    if (n <= 0) return;
    if (m->params.kernels == SA_SAM_KERNELS_BLAS && (size_t)n * l->out * l->in >= 65536) {
        float beta = 0.0f;
        if (l->b) {
            for (int i = 0; i < n; i++) memcpy(y + (size_t)i * ldy, l->b, (size_t)l->out * sizeof(float));
            beta = 1.0f;
        }
        openblas_set_num_threads(m->params.threads);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, l->out, l->in, 1.0f, x, ldx, l->w, l->in, beta, y,
                    ldy);
        return;
    }
    linear_ctx c = {.m = m, .l = l, .x = x, .ldx = ldx, .n = n, .ldy = ldy, .y = y};
    int threads = sa__pool_threads(pool);
    int tasks;
    if ((size_t)n * l->out * l->in < 65536 || threads == 1) {
        c.rows = 1;
        c.chunk = n;
        tasks = 1;
    } else if (l->out >= 64 * threads) {
        /* column blocks: multiples of the panel width, about 4 per thread for balance */
        int per = (l->out + 4 * threads - 1) / (4 * threads);
        per = (per + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
        c.chunk = per;
        tasks = (l->out + per - 1) / per;
    } else {
        c.rows = 1;
        int per = (n + 4 * threads - 1) / (4 * threads);
        per = (per + GEMM_MR - 1) / GEMM_MR * GEMM_MR;
        c.chunk = per;
        tasks = (n + per - 1) / per;
    }
    sa__pool_run(pool, tasks, linear_task, &c);
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Element-wise and row-wise ops */

typedef struct {
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
        for (int i = 0; i < c; i++) s += xr[i];
        float mean = (float)(s / c);
        double v = 0.0;
        for (int i = 0; i < c; i++) {
            double d = (double)xr[i] - mean;
            v += d * d;
        }
        float rstd = (float)(1.0 / sqrt(v / c + (double)eps));
        for (int i = 0; i < c; i++) yr[i] = (xr[i] - mean) * rstd * ln->w[i] + ln->b[i];
    }
}

static void ln_task(void *vctx, int t, int worker) {
    (void)worker;
    ln_ctx *c = vctx;
    int r0 = t * c->per, r1 = r0 + c->per < c->n ? r0 + c->per : c->n;
    layernorm_rows(c->ln, c->eps, c->x, c->y, r0, r1);
}

void sa__layernorm(sa__pool *pool, const sa__ln *ln, float eps, const float *x, float *y, int n) {
    int threads = sa__pool_threads(pool);
    if (threads == 1 || n < 64) {
        layernorm_rows(ln, eps, x, y, 0, n);
        return;
    }
    ln_ctx c = {.ln = ln, .eps = eps, .x = x, .y = y, .n = n, .per = (n + 4 * threads - 1) / (4 * threads)};
    sa__pool_run(pool, (n + c.per - 1) / c.per, ln_task, &c);
}

typedef struct {
    float *x;
    size_t n, per;
} gelu_ctx;

static void gelu_range(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
}

static void gelu_task(void *vctx, int t, int worker) {
    (void)worker;
    gelu_ctx *c = vctx;
    size_t a = (size_t)t * c->per, b = a + c->per < c->n ? a + c->per : c->n;
    gelu_range(c->x + a, b - a);
}

void sa__gelu(sa__pool *pool, float *x, size_t n) {
    int threads = sa__pool_threads(pool);
    if (threads == 1 || n < 65536) {
        gelu_range(x, n);
        return;
    }
    gelu_ctx c = {.x = x, .n = n, .per = (n + 8 * (size_t)threads - 1) / (8 * (size_t)threads)};
    sa__pool_run(pool, (int)((n + c.per - 1) / c.per), gelu_task, &c);
}

void sa__relu(float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (x[i] < 0.0f) x[i] = 0.0f;
}

void sa__softmax_rows(float *x, int rows, int cols, int ld) {
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
        for (int i = 0; i < cols; i++) v[i] *= inv;
    }
}

void sa__add(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}
