/* Metrics accumulator: each added sample is expanded to a full max_clicks curve (last value carried forward),
 * summed per click, and its NoC per threshold recorded; per-click timings are kept so the median and 95th
 * percentile are exact rather than estimated. Sums are in double over samples in the order added, so the
 * result does not depend on how the samples were computed (threads), only on their order. */
#include "segagent/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const double sa_metrics_taus[SA_N_TAU] = {0.80, 0.85, 0.90};
const int sa_metrics_ks[SA_METRICS_N_K] = {1, 2, 3, 5, 10, 20};

struct sa_metrics {
    int max_clicks;
    int n_samples;
    double iou_sum[SA_METRICS_MAX_CLICKS + 1];
    double inter_sum[SA_METRICS_MAX_CLICKS + 1];
    double uni_sum[SA_METRICS_MAX_CLICKS + 1];
    int ciou_known; /* 1 while every sample brought inter/union */
    double noc_sum[SA_N_TAU];
    int nof[SA_N_TAU];
    double *ms;
    long n_ms, cap_ms;
    long n_clicks;
};

int sa_metrics_new(int max_clicks, sa_metrics **out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_metrics_new: NULL output");
    *out = NULL;
    if (max_clicks < 1 || max_clicks > SA_METRICS_MAX_CLICKS)
        return sa_error_set(err, SA_ERR_RANGE, "max clicks %d out of range (1..%d)", max_clicks,
                            SA_METRICS_MAX_CLICKS);
    sa_metrics *m = calloc(1, sizeof *m);
    if (!m) return sa_error_set(err, SA_ERR_NOMEM, "metrics: out of memory");
    m->max_clicks = max_clicks;
    m->ciou_known = 1;
    *out = m;
    return SA_OK;
}

void sa_metrics_free(sa_metrics *m) {
    if (!m) return;
    free(m->ms);
    free(m);
}

/* IoU after click k (1-based) with the last value carried forward. */
static double curve_at(const double *iou, int n, double iou0, int k) {
    if (n <= 0) return iou0;
    return k <= n ? iou[k - 1] : iou[n - 1];
}

int sa_metrics_noc(const double *iou, int n, double iou0, int max_clicks, double tau) {
    for (int k = 1; k <= max_clicks; k++)
        if (curve_at(iou, n, iou0, k) >= tau) return k;
    return max_clicks;
}

int sa_metrics_add(sa_metrics *m, const sa_metrics_curve *c, sa_error *err) {
    if (!m || !c) return sa_error_set(err, SA_ERR_INVALID, "sa_metrics_add: NULL argument");
    if (c->n < 0 || c->n > m->max_clicks || (c->n > 0 && !c->iou))
        return sa_error_set(err, SA_ERR_RANGE, "metrics: sample with %d clicks (max %d)", c->n,
                            m->max_clicks);
    for (int i = 0; i < c->n; i++)
        if (!(c->iou[i] >= 0.0 && c->iou[i] <= 1.0))
            return sa_error_set(err, SA_ERR_RANGE, "metrics: IoU %g at click %d outside [0, 1]",
                                c->iou[i], i + 1);
    if (c->ms && c->n > 0) {
        if (m->n_ms + c->n > m->cap_ms) {
            long nc = m->cap_ms ? m->cap_ms : 256;
            while (nc < m->n_ms + c->n)
                nc *= 2;
            double *nv = realloc(m->ms, (size_t)nc * sizeof(double));
            if (!nv) return sa_error_set(err, SA_ERR_NOMEM, "metrics: out of memory");
            m->ms = nv;
            m->cap_ms = nc;
        }
        memcpy(m->ms + m->n_ms, c->ms, (size_t)c->n * sizeof(double));
        m->n_ms += c->n;
    }
    int have_iu = c->inter && c->uni;
    if (!have_iu && c->n > 0) m->ciou_known = 0;
    for (int k = 1; k <= m->max_clicks; k++) {
        int i = k <= c->n ? k - 1 : c->n - 1; /* carried forward */
        m->iou_sum[k] += curve_at(c->iou, c->n, c->iou0, k);
        if (have_iu && i >= 0) {
            m->inter_sum[k] += (double)c->inter[i];
            m->uni_sum[k] += (double)c->uni[i];
        } else if (i < 0) {
            m->inter_sum[k] += (double)c->inter0;
            m->uni_sum[k] += (double)c->uni0;
        }
    }
    for (int t = 0; t < SA_N_TAU; t++) {
        int noc = sa_metrics_noc(c->iou, c->n, c->iou0, m->max_clicks, sa_metrics_taus[t]);
        m->noc_sum[t] += noc;
        m->nof[t] += curve_at(c->iou, c->n, c->iou0, noc) < sa_metrics_taus[t];
    }
    m->n_clicks += c->n;
    m->n_samples++;
    return SA_OK;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Linear interpolation between order statistics (numpy's default percentile). */
static double percentile(const double *sorted, long n, double q) {
    if (n <= 0) return NAN;
    double pos = q * (double)(n - 1);
    long lo = (long)floor(pos);
    long hi = lo + 1 < n ? lo + 1 : lo;
    double f = pos - (double)lo;
    return sorted[lo] + f * (sorted[hi] - sorted[lo]);
}

void sa_metrics_summarize(const sa_metrics *m, sa_metrics_summary *s) {
    if (!s) return;
    memset(s, 0, sizeof *s);
    for (int k = 0; k <= SA_METRICS_MAX_CLICKS; k++)
        s->miou[k] = s->ciou[k] = NAN;
    s->ms_mean = s->ms_median = s->ms_p95 = NAN;
    if (!m) return;
    s->n_samples = m->n_samples;
    s->max_clicks = m->max_clicks;
    s->n_clicks = m->n_clicks;
    if (m->n_samples == 0) {
        for (int t = 0; t < SA_N_TAU; t++)
            s->noc[t] = NAN;
        return;
    }
    double n = (double)m->n_samples;
    for (int k = 1; k <= m->max_clicks; k++) {
        s->miou[k] = m->iou_sum[k] / n;
        if (m->ciou_known) s->ciou[k] = m->uni_sum[k] > 0 ? m->inter_sum[k] / m->uni_sum[k] : 1.0;
    }
    for (int t = 0; t < SA_N_TAU; t++) {
        s->noc[t] = m->noc_sum[t] / n;
        s->nof[t] = m->nof[t];
    }
    if (m->n_ms > 0) {
        double *v = malloc((size_t)m->n_ms * sizeof(double));
        double sum = 0;
        for (long i = 0; i < m->n_ms; i++)
            sum += m->ms[i];
        s->ms_mean = sum / (double)m->n_ms;
        if (v) {
            memcpy(v, m->ms, (size_t)m->n_ms * sizeof(double));
            qsort(v, (size_t)m->n_ms, sizeof(double), cmp_double);
            s->ms_median = percentile(v, m->n_ms, 0.5);
            s->ms_p95 = percentile(v, m->n_ms, 0.95);
            free(v);
        }
    }
}

double sa_metrics_miou_at(const sa_metrics_summary *s, int k) {
    if (!s || k < 1 || k > s->max_clicks || k > SA_METRICS_MAX_CLICKS) return NAN;
    return s->miou[k];
}

double sa_metrics_ciou_at(const sa_metrics_summary *s, int k) {
    if (!s || k < 1 || k > s->max_clicks || k > SA_METRICS_MAX_CLICKS) return NAN;
    return s->ciou[k];
}
