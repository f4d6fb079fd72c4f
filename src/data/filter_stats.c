/* MAE / MSE / Pearson / Spearman between predicted and true IoUs (annotation filtering).
 * Design: two-pass sums in double (means first, then centred products) so that the correlation of values
 * near 100 does not lose digits; ranks by sorting indices, ties averaged. */
#include "segagent/filter_stats.h"

#include <math.h>
#include <stdlib.h>

double sa_pearson(const double *a, const double *b, size_t n) {
    if (n < 2) return NAN;
    double ma = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        ma += a[i];
        mb += b[i];
    }
    ma /= (double)n;
    mb /= (double)n;
    double sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; i++) {
        double da = a[i] - ma, db = b[i] - mb;
        sab += da * db;
        saa += da * da;
        sbb += db * db;
    }
    if (saa <= 0 || sbb <= 0) return NAN;
    double r = sab / sqrt(saa * sbb);
    if (r > 1) r = 1;
    if (r < -1) r = -1;
    return r;
}

typedef struct idx_val {
    double v;
    size_t i;
} idx_val;

static int cmp_iv(const void *x, const void *y) {
    const idx_val *a = x, *b = y;
    if (a->v < b->v) return -1;
    if (a->v > b->v) return 1;
    return a->i < b->i ? -1 : (a->i > b->i);
}

int sa_average_ranks(const double *v, size_t n, double *ranks) {
    if (n == 0) return SA_OK;
    idx_val *iv = malloc(n * sizeof *iv);
    if (!iv) return SA_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        iv[i].v = v[i];
        iv[i].i = i;
    }
    qsort(iv, n, sizeof *iv, cmp_iv);
    for (size_t s = 0; s < n;) {
        size_t e = s + 1;
        while (e < n && iv[e].v == iv[s].v)
            e++;
        double r = ((double)(s + 1) + (double)e) / 2.0; /* mean of ranks s+1 .. e */
        for (size_t k = s; k < e; k++)
            ranks[iv[k].i] = r;
        s = e;
    }
    free(iv);
    return SA_OK;
}

int sa_filter_stats_compute(const double *pred, const double *truth, size_t n, sa_filter_stats *out,
                            sa_error *err) {
    if (!out || (n > 0 && (!pred || !truth)))
        return sa_error_set(err, SA_ERR_INVALID, "filter stats: NULL input");
    out->n = out->n_skipped = 0;
    out->mae = out->mse = out->pearson = out->spearman = NAN;
    if (n == 0) return SA_OK;
    if (n > ((size_t)-1) / (4 * sizeof(double)))
        return sa_error_set(err, SA_ERR_NOMEM, "filter stats: too many pairs");
    double *buf = malloc(4 * n * sizeof *buf);
    if (!buf) return sa_error_set(err, SA_ERR_NOMEM, "filter stats: out of memory");
    double *p = buf, *t = buf + n, *rp = buf + 2 * n, *rt = buf + 3 * n;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(pred[i]) || isnan(truth[i])) {
            out->n_skipped++;
            continue;
        }
        p[m] = pred[i];
        t[m] = truth[i];
        m++;
    }
    out->n = m;
    if (m > 0) {
        double ae = 0, se = 0;
        for (size_t i = 0; i < m; i++) {
            double d = p[i] - t[i];
            ae += fabs(d);
            se += d * d;
        }
        out->mae = ae / (double)m;
        out->mse = se / (double)m;
        out->pearson = sa_pearson(p, t, m);
        if (sa_average_ranks(p, m, rp) || sa_average_ranks(t, m, rt)) {
            free(buf);
            return sa_error_set(err, SA_ERR_NOMEM, "filter stats: out of memory");
        }
        out->spearman = sa_pearson(rp, rt, m);
    }
    free(buf);
    return SA_OK;
}
