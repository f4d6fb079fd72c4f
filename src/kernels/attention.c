/* Fused attention of one head (sa__attn_head): scores, SAM's relative positions, softmax and the product
 * with the values in one pass over a panel of queries, without the score matrix of the whole head.
 *
 * The fast kernels work transposed: a panel of QP = 32 queries lies across the lanes of two vectors, so
 * the scores of one key for the whole panel are a row of S^T (T x QP). Then
 *   - scores: S^T = K Q^T, tiles of KT keys x QP queries held in registers over the head dimension; the
 *     epilogue scales, adds the relative-position terms (rel_h per key row kh, rel_w per kw, both as
 *     vectors over the panel's queries) and keeps the running column maximum;
 *   - softmax: every operation is lane-wise down the columns (no horizontal reductions): exp(s - max)
 *     in place, column sums kept; the division by the sum is applied to the output rows at the end;
 *   - values: O = P V, tiles of PQ queries x 64 channels, keys in chunks of KC (a chunk of V stays in
 *     L2 while every query tile of the panel passes over it).
 * K and V are packed once per call (K in KT-key tiles, V as dense rows padded to 16 channels). The BF16
 * entry keeps this shape with vdpbf16ps: K, Q^T, the softmax numerators and V rounded to BF16 as they
 * are packed, pairs along the summed dimension (head channels for the scores, keys for the values),
 * all sums, the softmax and the relative positions in FP32.
 *
 * The plain loops compute the same things query by query, as the reference the tests compare with; a
 * portable C version of the panel scheme serves CPUs without AVX-512. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels/attention.h"

#define QP 32  /* queries per panel (lanes of two vectors) */
#define KT 12  /* keys per score tile */
#define PQ 4   /* queries per value tile */
#define KC 256 /* keys per value chunk (even) */

static int round16(int n) {
    return (n + 15) / 16 * 16;
}

static size_t up16(size_t n) {
    return (n + 15) / 16 * 16;
}

size_t sa__attn_scratch_size(int T, int hd, int S) {
    const size_t ntile = (size_t)(T + KT - 1) / KT, hdp = (size_t)round16(hd);
    size_t n = up16(ntile * KT * (size_t)(hd + 1)) /* kp */ + up16(((size_t)T + 1) * hdp) /* vp */ +
               up16((size_t)(hd + 1) * QP) /* qt */ + up16((ntile * KT + 1) * QP) /* st */ +
               up16((size_t)QP * hdp) /* o */ + 2 * QP /* mx, sum */;
    if (S > 0) n += 2 * up16((size_t)S * QP) + 2 * up16((size_t)hd * (2 * (size_t)S - 1 + 16)) + 16;
    const size_t ref = up16((size_t)T + 2 * (size_t)(S > 0 ? S : 0));
    return n > ref ? n : ref;
}

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

static float round_bf16(float f) {
    return bf16_float(bf16_round(f));
}

/* ---- plain loops ---- */

/* rh[kh] = q . rel_h[S-1-qh+kh], rw likewise (FP32) */
static void rel_ref(const sa__attn_head *h, const float *q, int tq, float *rh, float *rw) {
    const int S = h->S, hd = h->hd, qh = tq / S, qw = tq % S;
    for (int j = 0; j < S; j++) {
        const float *a = h->rel_h + (size_t)(S - 1 - qh + j) * hd,
                    *b = h->rel_w + (size_t)(S - 1 - qw + j) * hd;
        float sa = 0.0f, sb = 0.0f;
        for (int d = 0; d < hd; d++) {
            sa += q[d] * a[d];
            sb += q[d] * b[d];
        }
        rh[j] = sa;
        rw[j] = sb;
    }
}

static void attention_ref(const sa__attn_head *h, float *scratch, int bf16) {
    const int T = h->T, hd = h->hd, S = h->S;
    float *s = scratch, *rh = s + T, *rw = rh + (S > 0 ? S : 0);
    for (int i = 0; i < h->nq; i++) {
        const float *q = h->tok[h->qi[i]];
        if (S > 0) rel_ref(h, q, h->qi[i], rh, rw);
        for (int t = 0; t < T; t++) {
            const float *k = h->tok[t] + h->koff;
            float acc = 0.0f;
            for (int d = 0; d < hd; d++)
                acc += bf16 ? round_bf16(q[d]) * round_bf16(k[d]) : q[d] * k[d];
            s[t] = h->scale * acc;
            if (S > 0) s[t] = (s[t] + rh[t / S]) + rw[t % S];
        }
        float mx = s[0];
        for (int t = 1; t < T; t++)
            if (s[t] > mx) mx = s[t];
        float sum = 0.0f;
        for (int t = 0; t < T; t++) {
            s[t] = expf(s[t] - mx);
            sum += s[t];
            if (bf16) s[t] = round_bf16(s[t]);
        }
        const float inv = 1.0f / sum;
        float *o = h->out[i];
        for (int d = 0; d < hd; d++) {
            float acc = 0.0f;
            for (int t = 0; t < T; t++) {
                const float v = h->tok[t][h->voff + d];
                acc += bf16 ? s[t] * round_bf16(v) : s[t] * inv * v;
            }
            o[d] = bf16 ? acc * inv : acc;
        }
    }
}

void sa__attention_ref(const sa__attn_head *h, float *scratch) {
    attention_ref(h, scratch, 0);
}

void sa__attention_bf16_ref(const sa__attn_head *h, float *scratch) {
    attention_ref(h, scratch, 1);
}

typedef struct layout {
    float *kp, *vp, *qt, *st, *o, *mx, *sum;
    float *rhT, *rwT;   /* (S, QP): rel terms of the panel's queries, per key row / column */
    float *tabh, *tabw; /* (hd, tl): the tables transposed, zero past 2S-1 */
    int ntile, hdp, tl;
} layout;

static void carve(const sa__attn_head *h, float *p, layout *L) {
    const int T = h->T, hd = h->hd, S = h->S;
    L->ntile = (T + KT - 1) / KT;
    L->hdp = round16(hd);
    L->tl = 2 * S - 1 + 16;
    L->kp = p, p += up16((size_t)L->ntile * KT * (size_t)(hd + 1));
    L->vp = p, p += up16(((size_t)T + 1) * (size_t)L->hdp);
    L->qt = p, p += up16((size_t)(hd + 1) * QP);
    L->st = p, p += up16(((size_t)L->ntile * KT + 1) * QP);
    L->o = p, p += up16((size_t)QP * (size_t)L->hdp);
    L->mx = p, p += QP;
    L->sum = p, p += QP;
    L->rhT = L->rwT = L->tabh = L->tabw = NULL;
    if (S > 0) {
        L->rhT = p, p += up16((size_t)S * QP);
        L->rwT = p, p += up16((size_t)S * QP);
        L->tabh = p, p += up16((size_t)hd * L->tl);
        L->tabw = p;
        for (int d = 0; d < hd; d++)
            for (int j = 0; j < L->tl; j++) {
                const int in = j < 2 * S - 1;
                L->tabh[(size_t)d * L->tl + j] = in ? h->rel_h[(size_t)j * hd + d] : 0.0f;
                L->tabw[(size_t)d * L->tl + j] = in ? h->rel_w[(size_t)j * hd + d] : 0.0f;
            }
    }
}

/* ---- portable C over the fast kernels' layout (CPUs without AVX-512): the loops over the panel's
 * lanes are independent, so the compiler vectorises them with whatever vector width it targets ---- */

static void pack_kv_plain(const sa__attn_head *h, const layout *L) {
    for (int t = 0; t < h->T; t++) {
        memcpy(L->kp + (size_t)t * h->hd, h->tok[t] + h->koff, (size_t)h->hd * sizeof(float));
        memcpy(L->vp + (size_t)t * h->hd, h->tok[t] + h->voff, (size_t)h->hd * sizeof(float));
    }
}

static void panel_plain(const sa__attn_head *h, const layout *L, int base, int nv) {
    const int T = h->T, hd = h->hd, S = h->S;
    float *qt = L->qt, *st = L->st, *mx = L->mx, *sum = L->sum, *o = L->o;
    for (int l = 0; l < QP; l++) {
        const float *q = l < nv ? h->tok[h->qi[base + l]] : NULL;
        for (int d = 0; d < hd; d++)
            qt[(size_t)d * QP + l] = q ? q[d] : 0.0f;
    }
    if (S > 0)
        for (int l = 0; l < QP; l++) {
            float *rh = L->rhT, *rw = L->rwT;
            if (l >= nv) {
                for (int j = 0; j < S; j++)
                    rh[(size_t)j * QP + l] = rw[(size_t)j * QP + l] = 0.0f;
                continue;
            }
            const int tq = h->qi[base + l];
            rel_ref(h, h->tok[tq], tq, L->tabh,
                    L->tabw); /* the transposed tables are not used here */
            for (int j = 0; j < S; j++) {
                rh[(size_t)j * QP + l] = L->tabh[j];
                rw[(size_t)j * QP + l] = L->tabw[j];
            }
        }
    for (int l = 0; l < QP; l++)
        mx[l] = -INFINITY;
    for (int t = 0; t < T; t++) {
        float acc[QP];
        const float *k = L->kp + (size_t)t * hd;
        for (int l = 0; l < QP; l++)
            acc[l] = 0.0f;
        for (int d = 0; d < hd; d++)
            for (int l = 0; l < QP; l++)
                acc[l] += k[d] * qt[(size_t)d * QP + l];
        float *row = st + (size_t)t * QP;
        for (int l = 0; l < QP; l++) {
            float v = h->scale * acc[l];
            if (S > 0)
                v = (v + L->rhT[(size_t)(t / S) * QP + l]) + L->rwT[(size_t)(t % S) * QP + l];
            row[l] = v;
            mx[l] = v > mx[l] ? v : mx[l];
        }
    }
    for (int l = 0; l < QP; l++)
        sum[l] = 0.0f;
    for (int t = 0; t < T; t++) {
        float *row = st + (size_t)t * QP;
        for (int l = 0; l < QP; l++) {
            row[l] = expf(row[l] - mx[l]);
            sum[l] += row[l];
        }
    }
    for (int l = 0; l < nv; l++) {
        float *ol = o + (size_t)l * L->hdp;
        for (int d = 0; d < hd; d++)
            ol[d] = 0.0f;
        for (int t = 0; t < T; t++) {
            const float p = st[(size_t)t * QP + l], *v = L->vp + (size_t)t * hd;
            for (int d = 0; d < hd; d++)
                ol[d] += p * v[d];
        }
        const float inv = 1.0f / sum[l];
        float *dst = h->out[base + l];
        for (int d = 0; d < hd; d++)
            dst[d] = ol[d] * inv;
    }
}

void sa__attention_plain(const sa__attn_head *h, float *scratch) {
    layout L;
    carve(h, scratch, &L);
    pack_kv_plain(h, &L);
    for (int base = 0; base < h->nq; base += QP)
        panel_plain(h, &L, base, h->nq - base < QP ? h->nq - base : QP);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include "kernels/exp512.h"

#define AT_FN __attribute__((target("avx512f")))
#define BF_FN __attribute__((target("avx512f,avx512bw,avx512bf16")))

/* rel terms of the panel's queries (FP32, q unscaled), transposed into rhT/rwT (S, QP) */
static AT_FN void rel_panel(const sa__attn_head *h, const layout *L, int base, int nv) {
    const int S = h->S, hd = h->hd, tl = L->tl;
    float tmp[16] __attribute__((aligned(64)));
    for (int l = 0; l < nv; l++) {
        const int tq = h->qi[base + l], qh = tq / S, qw = tq % S;
        const float *q = h->tok[tq];
        for (int j0 = 0; j0 < S; j0 += 16) {
            __m512 ah = _mm512_setzero_ps(), aw = _mm512_setzero_ps();
            const float *th = L->tabh + (S - 1 - qh) + j0, *tw = L->tabw + (S - 1 - qw) + j0;
            for (int d = 0; d < hd; d++) {
                const __m512 qd = _mm512_set1_ps(q[d]);
                ah = _mm512_fmadd_ps(qd, _mm512_loadu_ps(th + (size_t)d * tl), ah);
                aw = _mm512_fmadd_ps(qd, _mm512_loadu_ps(tw + (size_t)d * tl), aw);
            }
            const int n = S - j0 < 16 ? S - j0 : 16;
            _mm512_store_ps(tmp, ah);
            for (int j = 0; j < n; j++)
                L->rhT[(size_t)(j0 + j) * QP + l] = tmp[j];
            _mm512_store_ps(tmp, aw);
            for (int j = 0; j < n; j++)
                L->rwT[(size_t)(j0 + j) * QP + l] = tmp[j];
        }
    }
    for (int l = nv; l < QP; l++)
        for (int j = 0; j < S; j++)
            L->rhT[(size_t)j * QP + l] = L->rwT[(size_t)j * QP + l] = 0.0f;
}

/* Score epilogue of one key row: s = scale * acc (+ rel_h[kh] + rel_w[kw]), max kept, row stored. */
static inline __attribute__((always_inline)) AT_FN void score_row(const sa__attn_head *h,
                                                                  const layout *L, int key,
                                                                  __m512 vs, __m512 a0, __m512 a1,
                                                                  __m512 *mx0, __m512 *mx1) {
    __m512 s0 = _mm512_mul_ps(vs, a0), s1 = _mm512_mul_ps(vs, a1);
    if (h->S > 0) {
        const float *rh = L->rhT + (size_t)(key / h->S) * QP,
                    *rw = L->rwT + (size_t)(key % h->S) * QP;
        s0 = _mm512_add_ps(_mm512_add_ps(s0, _mm512_load_ps(rh)), _mm512_load_ps(rw));
        s1 = _mm512_add_ps(_mm512_add_ps(s1, _mm512_load_ps(rh + 16)), _mm512_load_ps(rw + 16));
    }
    *mx0 = _mm512_max_ps(*mx0, s0);
    *mx1 = _mm512_max_ps(*mx1, s1);
    _mm512_store_ps(L->st + (size_t)key * QP, s0);
    _mm512_store_ps(L->st + (size_t)key * QP + 16, s1);
}

/* exp(s - max) down the columns, sums kept; returns nothing, sums in L->sum */
static AT_FN void softmax_cols(const sa__attn_head *h, const layout *L, __m512 mx0, __m512 mx1) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    for (int t = 0; t < h->T; t++) {
        float *r = L->st + (size_t)t * QP;
        __m512 e0 = sa__exp512(_mm512_sub_ps(_mm512_load_ps(r), mx0));
        __m512 e1 = sa__exp512(_mm512_sub_ps(_mm512_load_ps(r + 16), mx1));
        s0 = _mm512_add_ps(s0, e0);
        s1 = _mm512_add_ps(s1, e1);
        _mm512_store_ps(r, e0);
        _mm512_store_ps(r + 16, e1);
    }
    _mm512_storeu_ps(L->sum, s0);
    _mm512_storeu_ps(L->sum + 16, s1);
}

/* out rows of the panel: o / sum */
static AT_FN void finish_panel(const sa__attn_head *h, const layout *L, int base, int nv) {
    for (int l = 0; l < nv; l++) {
        const __m512 inv = _mm512_set1_ps(1.0f / L->sum[l]);
        const float *o = L->o + (size_t)l * L->hdp;
        float *dst = h->out[base + l];
        for (int d = 0; d < h->hd; d += 16) {
            const __mmask16 m =
                h->hd - d >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (h->hd - d)) - 1u);
            _mm512_mask_storeu_ps(dst + d, m, _mm512_mul_ps(_mm512_loadu_ps(o + d), inv));
        }
    }
}

/* ---- FP32 ---- */

static void pack_kv_f32(const sa__attn_head *h, const layout *L) {
    const int T = h->T, hd = h->hd, hdp = L->hdp;
    for (int t0 = 0; t0 < L->ntile * KT; t0 += KT) {
        float *kp = L->kp + (size_t)t0 * hd;
        for (int r = 0; r < KT; r++) {
            const float *k = t0 + r < T ? h->tok[t0 + r] + h->koff : NULL;
            for (int d = 0; d < hd; d++)
                kp[(size_t)d * KT + r] = k ? k[d] : 0.0f;
        }
    }
    for (int t = 0; t < T; t++) {
        float *v = L->vp + (size_t)t * hdp;
        memcpy(v, h->tok[t] + h->voff, (size_t)hd * sizeof(float));
        memset(v + hd, 0, (size_t)(hdp - hd) * sizeof(float));
    }
}

static AT_FN void scores_f32(const sa__attn_head *h, const layout *L, __m512 *mx0, __m512 *mx1) {
    const int hd = h->hd;
    const __m512 vs = _mm512_set1_ps(h->scale);
    for (int tile = 0; tile < L->ntile; tile++) {
        const int key0 = tile * KT, nk = h->T - key0 < KT ? h->T - key0 : KT;
        const float *kp = L->kp + (size_t)key0 * hd;
        __m512 a0[KT], a1[KT];
#pragma GCC unroll 12
        for (int r = 0; r < KT; r++)
            a0[r] = a1[r] = _mm512_setzero_ps();
        for (int d = 0; d < hd; d++) {
            const __m512 b0 = _mm512_load_ps(L->qt + (size_t)d * QP),
                         b1 = _mm512_load_ps(L->qt + (size_t)d * QP + 16);
            const float *k = kp + (size_t)d * KT;
#pragma GCC unroll 12
            for (int r = 0; r < KT; r++) {
                const __m512 av = _mm512_set1_ps(k[r]);
                a0[r] = _mm512_fmadd_ps(av, b0, a0[r]);
                a1[r] = _mm512_fmadd_ps(av, b1, a1[r]);
            }
        }
#pragma GCC unroll 12
        for (int r = 0; r < KT; r++) {
            if (r >= nk) break;
            score_row(h, L, key0 + r, vs, a0[r], a1[r], mx0, mx1);
        }
    }
}

/* o[PQ rows, nv*16 channels] (+)= P[keys, PQ queries] V[keys, channels] */
static inline __attribute__((always_inline)) AT_FN void
pv_tile_f32(const int nv, const float *p, const float *v, int hdp, int nk, float *o, int first) {
    __m512 acc[PQ][4];
#pragma GCC unroll 4
    for (int r = 0; r < PQ; r++)
#pragma GCC unroll 4
        for (int j = 0; j < nv; j++)
            acc[r][j] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(o + (size_t)r * hdp + 16 * j);
    for (int k = 0; k < nk; k++) {
        __m512 b[4];
#pragma GCC unroll 4
        for (int j = 0; j < nv; j++)
            b[j] = _mm512_loadu_ps(v + (size_t)k * hdp + 16 * j);
#pragma GCC unroll 4
        for (int r = 0; r < PQ; r++) {
            const __m512 av = _mm512_set1_ps(p[(size_t)k * QP + r]);
#pragma GCC unroll 4
            for (int j = 0; j < nv; j++)
                acc[r][j] = _mm512_fmadd_ps(av, b[j], acc[r][j]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < PQ; r++)
#pragma GCC unroll 4
        for (int j = 0; j < nv; j++)
            _mm512_storeu_ps(o + (size_t)r * hdp + 16 * j, acc[r][j]);
}

static AT_FN void values_f32(const sa__attn_head *h, const layout *L, int nvq) {
    const int hdp = L->hdp;
    for (int k0 = 0; k0 < h->T; k0 += KC) {
        const int nk = h->T - k0 < KC ? h->T - k0 : KC;
        for (int q0 = 0; q0 < nvq; q0 += PQ)
            for (int d0 = 0; d0 < hdp; d0 += 64) {
                const float *p = L->st + (size_t)k0 * QP + q0, *v = L->vp + (size_t)k0 * hdp + d0;
                float *o = L->o + (size_t)q0 * hdp + d0;
                switch ((hdp - d0) / 16) {
                case 1:
                    pv_tile_f32(1, p, v, hdp, nk, o, k0 == 0);
                    break;
                case 2:
                    pv_tile_f32(2, p, v, hdp, nk, o, k0 == 0);
                    break;
                case 3:
                    pv_tile_f32(3, p, v, hdp, nk, o, k0 == 0);
                    break;
                default:
                    pv_tile_f32(4, p, v, hdp, nk, o, k0 == 0);
                    break;
                }
            }
    }
}

AT_FN void sa__attention_avx512(const sa__attn_head *h, float *scratch) {
    layout L;
    carve(h, scratch, &L);
    pack_kv_f32(h, &L);
    for (int base = 0; base < h->nq; base += QP) {
        const int nv = h->nq - base < QP ? h->nq - base : QP;
        for (int l = 0; l < QP; l++) {
            const float *q = l < nv ? h->tok[h->qi[base + l]] : NULL;
            for (int d = 0; d < h->hd; d++)
                L.qt[(size_t)d * QP + l] = q ? q[d] : 0.0f;
        }
        if (h->S > 0) rel_panel(h, &L, base, nv);
        __m512 mx0 = _mm512_set1_ps(-INFINITY), mx1 = mx0;
        scores_f32(h, &L, &mx0, &mx1);
        softmax_cols(h, &L, mx0, mx1);
        values_f32(h, &L, (nv + PQ - 1) / PQ * PQ);
        finish_panel(h, &L, base, nv);
    }
}

/* ---- BF16 ---- */

/* 16 words dst[j * stride] = BF16 pairs of row[2j], row[2j+1] for the channel pairs [p0, p0 + 16) */
static inline __attribute__((always_inline)) BF_FN void
row_pairs(const float *row, int hd, int hp, int p0, uint32_t *dst, int stride) {
    const int left = hd - 2 * p0;
    const __mmask16 m0 = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
    const __mmask16 m1 = left >= 32   ? (__mmask16)0xFFFF
                         : left <= 16 ? (__mmask16)0
                                      : (__mmask16)((1u << (left - 16)) - 1u);
    uint32_t tmp[16] __attribute__((aligned(64)));
    const __m512 lo = _mm512_maskz_loadu_ps(m0, row + 2 * p0),
                 hi = _mm512_maskz_loadu_ps(m1, row + 2 * p0 + 16);
    _mm512_store_si512((void *)tmp, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    const int n = hp - p0 < 16 ? hp - p0 : 16;
    for (int j = 0; j < n; j++)
        dst[(size_t)j * stride] = tmp[j];
}

static BF_FN __m512i interleave_idx(void) {
    return _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22,
                            6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
}

/* K as KT-key tiles of channel pairs, V as key pairs of channels (both one 32-bit word per pair) */
static BF_FN void pack_kv_bf16(const sa__attn_head *h, const layout *L) {
    const int T = h->T, hd = h->hd, hp = (hd + 1) / 2, hdp = L->hdp;
    uint32_t *kp = (uint32_t *)(void *)L->kp, *vp = (uint32_t *)(void *)L->vp;
    for (int t0 = 0; t0 < L->ntile * KT; t0 += KT) {
        uint32_t *tile = kp + (size_t)t0 * hp;
        for (int r = 0; r < KT; r++) {
            if (t0 + r >= T) {
                for (int p = 0; p < hp; p++)
                    tile[(size_t)p * KT + r] = 0u;
                continue;
            }
            for (int p0 = 0; p0 < hp; p0 += 16)
                row_pairs(h->tok[t0 + r] + h->koff, hd, hp, p0, tile + (size_t)p0 * KT + r, KT);
        }
    }
    const __m512i idx = interleave_idx();
    for (int t = 0; t < T; t += 2) {
        const float *v0 = h->tok[t] + h->voff, *v1 = t + 1 < T ? h->tok[t + 1] + h->voff : NULL;
        uint32_t *dst = vp + (size_t)(t / 2) * hdp;
        for (int d0 = 0; d0 < hdp; d0 += 16) {
            const __mmask16 m =
                hd - d0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (hd - d0)) - 1u);
            const __m512 lo = _mm512_maskz_loadu_ps(m, v0 + d0),
                         hi = v1 ? _mm512_maskz_loadu_ps(m, v1 + d0) : _mm512_setzero_ps();
            _mm512_storeu_si512((void *)(dst + d0), _mm512_permutexvar_epi16(
                                                        idx, (__m512i)_mm512_cvtne2ps_pbh(hi, lo)));
        }
    }
}

static BF_FN void scores_bf16(const sa__attn_head *h, const layout *L, __m512 *mx0, __m512 *mx1) {
    const int hp = (h->hd + 1) / 2;
    const __m512 vs = _mm512_set1_ps(h->scale);
    const uint32_t *kp = (const uint32_t *)(const void *)L->kp,
                   *qt = (const uint32_t *)(const void *)L->qt;
    for (int tile = 0; tile < L->ntile; tile++) {
        const int key0 = tile * KT, nk = h->T - key0 < KT ? h->T - key0 : KT;
        const uint32_t *kt = kp + (size_t)key0 * hp;
        __m512 a0[KT], a1[KT];
#pragma GCC unroll 12
        for (int r = 0; r < KT; r++)
            a0[r] = a1[r] = _mm512_setzero_ps();
        for (int p = 0; p < hp; p++) {
            const __m512bh b0 = (__m512bh)_mm512_load_si512((const void *)(qt + (size_t)p * QP)),
                           b1 = (__m512bh)_mm512_load_si512(
                               (const void *)(qt + (size_t)p * QP + 16));
            const uint32_t *k = kt + (size_t)p * KT;
#pragma GCC unroll 12
            for (int r = 0; r < KT; r++) {
                const __m512bh av = (__m512bh)_mm512_set1_epi32((int)k[r]);
                a0[r] = _mm512_dpbf16_ps(a0[r], av, b0);
                a1[r] = _mm512_dpbf16_ps(a1[r], av, b1);
            }
        }
#pragma GCC unroll 12
        for (int r = 0; r < KT; r++) {
            if (r >= nk) break;
            score_row(h, L, key0 + r, vs, a0[r], a1[r], mx0, mx1);
        }
    }
}

/* exp(x) for x <= 0 whose result is rounded to BF16 next: 2^f on [-1/2, 1/2] by its degree-4 Taylor
 * polynomial (relative error <= 4.3e-5, a fiftieth of BF16's half ulp), 2^n by scalef; 8 operations
 * against sa__exp512's 14 (the softmax is a quarter of the BF16 attention) */
static inline __attribute__((always_inline)) AT_FN __m512 exp_for_bf16(__m512 x) {
    const __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f));
    const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT);
    const __m512 f = _mm512_sub_ps(t, n);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(9.6181291e-3f), f, _mm512_set1_ps(5.5504109e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022651e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* exp(s - max) down the columns (FP32 sums), numerators of key pairs interleaved into BF16 words in
 * place: pair row p (32 words) over rows 2p, 2p+1, which are read first */
static BF_FN void softmax_cols_bf16(const sa__attn_head *h, const layout *L, __m512 mx0,
                                    __m512 mx1) {
    const __m512i idx = interleave_idx();
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    const int T = h->T;
    for (int t = 0; t < T; t += 2) {
        const float *r0 = L->st + (size_t)t * QP, *r1 = r0 + QP;
        __m512 e00 = exp_for_bf16(_mm512_sub_ps(_mm512_load_ps(r0), mx0));
        __m512 e01 = exp_for_bf16(_mm512_sub_ps(_mm512_load_ps(r0 + 16), mx1));
        __m512 e10 = _mm512_setzero_ps(), e11 = _mm512_setzero_ps();
        if (t + 1 < T) {
            e10 = exp_for_bf16(_mm512_sub_ps(_mm512_load_ps(r1), mx0));
            e11 = exp_for_bf16(_mm512_sub_ps(_mm512_load_ps(r1 + 16), mx1));
        }
        s0 = _mm512_add_ps(s0, _mm512_add_ps(e00, e10));
        s1 = _mm512_add_ps(s1, _mm512_add_ps(e01, e11));
        __m512i w0 = _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(e10, e00));
        __m512i w1 = _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(e11, e01));
        uint32_t *dst = (uint32_t *)(void *)L->st + (size_t)(t / 2) * QP;
        _mm512_store_si512((void *)dst, w0);
        _mm512_store_si512((void *)(dst + 16), w1);
    }
    _mm512_storeu_ps(L->sum, s0);
    _mm512_storeu_ps(L->sum + 16, s1);
}

static inline __attribute__((always_inline)) BF_FN void pv_tile_bf16(const int nv,
                                                                     const uint32_t *p,
                                                                     const uint32_t *v, int hdp,
                                                                     int np, float *o, int first) {
    __m512 acc[PQ][4];
#pragma GCC unroll 4
    for (int r = 0; r < PQ; r++)
#pragma GCC unroll 4
        for (int j = 0; j < nv; j++)
            acc[r][j] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(o + (size_t)r * hdp + 16 * j);
    for (int k = 0; k < np; k++) {
        __m512bh b[4];
#pragma GCC unroll 4
        for (int j = 0; j < nv; j++)
            b[j] = (__m512bh)_mm512_loadu_si512((const void *)(v + (size_t)k * hdp + 16 * j));
#pragma GCC unroll 4
        for (int r = 0; r < PQ; r++) {
            const __m512bh av = (__m512bh)_mm512_set1_epi32((int)p[(size_t)k * QP + r]);
#pragma GCC unroll 4
            for (int j = 0; j < nv; j++)
                acc[r][j] = _mm512_dpbf16_ps(acc[r][j], av, b[j]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < PQ; r++)
#pragma GCC unroll 4
        for (int j = 0; j < nv; j++)
            _mm512_storeu_ps(o + (size_t)r * hdp + 16 * j, acc[r][j]);
}

static BF_FN void values_bf16(const sa__attn_head *h, const layout *L, int nvq) {
    const int hdp = L->hdp, np = (h->T + 1) / 2;
    const uint32_t *pp = (const uint32_t *)(const void *)L->st,
                   *vp = (const uint32_t *)(const void *)L->vp;
    for (int k0 = 0; k0 < np; k0 += KC / 2) {
        const int nk = np - k0 < KC / 2 ? np - k0 : KC / 2;
        for (int q0 = 0; q0 < nvq; q0 += PQ)
            for (int d0 = 0; d0 < hdp; d0 += 64) {
                const uint32_t *p = pp + (size_t)k0 * QP + q0, *v = vp + (size_t)k0 * hdp + d0;
                float *o = L->o + (size_t)q0 * hdp + d0;
                switch ((hdp - d0) / 16) {
                case 1:
                    pv_tile_bf16(1, p, v, hdp, nk, o, k0 == 0);
                    break;
                case 2:
                    pv_tile_bf16(2, p, v, hdp, nk, o, k0 == 0);
                    break;
                case 3:
                    pv_tile_bf16(3, p, v, hdp, nk, o, k0 == 0);
                    break;
                default:
                    pv_tile_bf16(4, p, v, hdp, nk, o, k0 == 0);
                    break;
                }
            }
    }
}

BF_FN void sa__attention_bf16_avx512(const sa__attn_head *h, float *scratch) {
    layout L;
    carve(h, scratch, &L);
    pack_kv_bf16(h, &L);
    const int hd = h->hd, hp = (hd + 1) / 2;
    uint32_t *qt = (uint32_t *)(void *)L.qt;
    for (int base = 0; base < h->nq; base += QP) {
        const int nv = h->nq - base < QP ? h->nq - base : QP;
        for (int l = 0; l < QP; l++) {
            if (l >= nv) {
                for (int p = 0; p < hp; p++)
                    qt[(size_t)p * QP + l] = 0u;
                continue;
            }
            for (int p0 = 0; p0 < hp; p0 += 16)
                row_pairs(h->tok[h->qi[base + l]], hd, hp, p0, qt + (size_t)p0 * QP + l, QP);
        }
        if (h->S > 0) rel_panel(h, &L, base, nv);
        __m512 mx0 = _mm512_set1_ps(-INFINITY), mx1 = mx0;
        scores_bf16(h, &L, &mx0, &mx1);
        softmax_cols_bf16(h, &L, mx0, mx1);
        values_bf16(h, &L, (nv + PQ - 1) / PQ * PQ);
        finish_panel(h, &L, base, nv);
    }
}
#endif
