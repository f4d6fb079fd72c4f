/* Deterministic Gaussian mixtures in colour space (see gmm.h). Weighted samples let the caller fit on a colour
 * histogram (bin colour + count) instead of every pixel, which keeps fitting far below a millisecond. */
#include "tools/gmm.h"

#include <math.h>
#include <string.h>

typedef struct stats {
    double w, s[3], ss[6]; /* ss: xx, xy, xz, yy, yz, zz */
} stats;

static void stats_add(stats *st, const float *x, double w) {
    st->w += w;
    for (int c = 0; c < 3; c++)
        st->s[c] += w * x[c];
    st->ss[0] += w * x[0] * x[0];
    st->ss[1] += w * x[0] * x[1];
    st->ss[2] += w * x[0] * x[2];
    st->ss[3] += w * x[1] * x[1];
    st->ss[4] += w * x[1] * x[2];
    st->ss[5] += w * x[2] * x[2];
}

/* mean and full covariance (row-major 3x3) */
static void stats_moments(const stats *st, double mu[3], double cov[9]) {
    for (int c = 0; c < 3; c++)
        mu[c] = st->s[c] / st->w;
    const int idx[9] = {0, 1, 2, 1, 3, 4, 2, 4, 5};
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            cov[3 * r + c] = st->ss[idx[3 * r + c]] / st->w - mu[r] * mu[c];
}

static double top_eigen(const double cov[9], double v[3]) {
    double x[3] = {0.6, 0.52, 0.61};
    double lam = 0;
    for (int it = 0; it < 60; it++) {
        double y[3];
        for (int r = 0; r < 3; r++)
            y[r] = cov[3 * r] * x[0] + cov[3 * r + 1] * x[1] + cov[3 * r + 2] * x[2];
        double nrm = sqrt(y[0] * y[0] + y[1] * y[1] + y[2] * y[2]);
        if (nrm < 1e-12) break;
        lam = nrm;
        for (int c = 0; c < 3; c++)
            x[c] = y[c] / nrm;
    }
    memcpy(v, x, sizeof x);
    return lam;
}

/* Sets component j from stats; returns 0 or -1 when the weight is zero. */
static int set_component(sa__gmm *g, int j, const stats *st, double total, float var_floor) {
    if (st->w <= 0) return -1;
    double cov[9];
    stats_moments(st, g->mu[j], cov);
    for (int c = 0; c < 3; c++)
        cov[4 * c] += var_floor;
    double a = cov[0], b = cov[1], c = cov[2], d = cov[4], e = cov[5], f = cov[8];
    double A = d * f - e * e, B = -(b * f - c * e), C = b * e - c * d;
    double det = a * A + b * B + c * C;
    if (!(det > 1e-12)) det = 1e-12;
    double *ic = g->icov[j];
    ic[0] = A / det;
    ic[1] = B / det;
    ic[2] = C / det;
    ic[3] = B / det;
    ic[4] = (a * f - c * c) / det;
    ic[5] = -(a * e - b * c) / det;
    ic[6] = C / det;
    ic[7] = ic[5];
    ic[8] = (a * d - b * b) / det;
    g->w[j] = st->w / total;
    g->lnorm[j] = log(g->w[j]) - 0.5 * (3.0 * log(2.0 * M_PI) + log(det));
    return 0;
}

static double comp_logpdf(const sa__gmm *g, int j, const float *x) {
    double d0 = x[0] - g->mu[j][0], d1 = x[1] - g->mu[j][1], d2 = x[2] - g->mu[j][2];
    const double *ic = g->icov[j];
    double m = d0 * (ic[0] * d0 + 2 * ic[1] * d1 + 2 * ic[2] * d2) +
               d1 * (ic[4] * d1 + 2 * ic[5] * d2) + d2 * ic[8] * d2;
    return g->lnorm[j] - 0.5 * m;
}

double sa__gmm_logpdf(const sa__gmm *g, const float *x) {
    double l[SA__GMM_MAX_K], mx = -INFINITY;
    for (int j = 0; j < g->k; j++) {
        l[j] = comp_logpdf(g, j, x);
        if (l[j] > mx) mx = l[j];
    }
    double s = 0;
    for (int j = 0; j < g->k; j++)
        s += exp(l[j] - mx);
    return mx + log(s);
}

static void broad(sa__gmm *g, float var_floor) {
    stats st = {0};
    const float mid[3] = {128, 128, 128};
    stats_add(&st, mid, 1.0);
    g->k = 1;
    set_component(g, 0, &st, 1.0, var_floor + 128.0f * 128.0f);
}

int sa__gmm_fit(sa__gmm *g, int k, const float *x, const float *wt, int n, float var_floor,
                int *label) {
    memset(g, 0, sizeof *g);
    if (k < 1 || k > SA__GMM_MAX_K || n <= 0 || !x || !label) {
        broad(g, var_floor);
        return -1;
    }
    stats st[SA__GMM_MAX_K];
    memset(st, 0, sizeof st);
    for (int i = 0; i < n; i++) {
        double w = wt ? wt[i] : 1.0;
        label[i] = w > 0 ? 0 : -1;
        if (w > 0) stats_add(&st[0], x + 3 * i, w);
    }
    double total = st[0].w;
    if (!(total > 0)) {
        broad(g, var_floor);
        return -1;
    }
    int nk = 1;
    /* Orchard-Bouman: split the cluster with the largest principal variance at its mean. */
    while (nk < k) {
        int best = -1;
        double best_lam = 1e-6, best_v[3] = {0}, best_t = 0;
        for (int j = 0; j < nk; j++) {
            double mu[3], cov[9], v[3];
            stats_moments(&st[j], mu, cov);
            double lam = top_eigen(cov, v);
            if (lam > best_lam) {
                best = j;
                best_lam = lam;
                memcpy(best_v, v, sizeof v);
                best_t = v[0] * mu[0] + v[1] * mu[1] + v[2] * mu[2];
            }
        }
        if (best < 0) break;
        stats a = {0}, b = {0};
        for (int i = 0; i < n; i++) {
            if (label[i] != best) continue;
            const float *xi = x + 3 * i;
            double w = wt ? wt[i] : 1.0;
            if (best_v[0] * xi[0] + best_v[1] * xi[1] + best_v[2] * xi[2] > best_t) {
                label[i] = nk;
                stats_add(&b, xi, w);
            } else {
                stats_add(&a, xi, w);
            }
        }
        if (a.w <= 0 || b.w <= 0) { /* undo: nothing to split */
            for (int i = 0; i < n; i++)
                if (label[i] == nk) label[i] = best;
            break;
        }
        st[best] = a;
        st[nk] = b;
        nk++;
    }
    g->k = 0;
    for (int j = 0; j < nk; j++)
        if (set_component(g, g->k, &st[j], total, var_floor) == 0) g->k++;
    /* hard-assignment refinement */
    for (int pass = 0; pass < 2 && g->k > 1; pass++) {
        memset(st, 0, sizeof st);
        for (int i = 0; i < n; i++) {
            if (label[i] < 0) continue;
            int bj = 0;
            double bl = -INFINITY;
            for (int j = 0; j < g->k; j++) {
                double l = comp_logpdf(g, j, x + 3 * i);
                if (l > bl) bl = l, bj = j;
            }
            label[i] = bj;
            stats_add(&st[bj], x + 3 * i, wt ? wt[i] : 1.0);
        }
        sa__gmm old = *g;
        g->k = 0;
        for (int j = 0; j < old.k; j++)
            if (set_component(g, g->k, &st[j], total, var_floor) == 0) g->k++;
        if (g->k == 0) *g = old;
    }
    return 0;
}
