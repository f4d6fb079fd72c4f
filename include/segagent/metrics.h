/* Interactive-segmentation metrics (docs/metrics.md) from per-sample IoU-per-click curves.
 *
 *   sa_metrics *m = NULL;
 *   sa_metrics_new(20, &m, &err);
 *   for each sample:  sa_metrics_add(m, &curve, &err);   // IoU (and optionally inter/union, ms) per click
 *   sa_metrics_summary s;
 *   sa_metrics_summarize(m, &s);
 *   printf("NoC@90 %.2f  mIoU@5 %.4f\n", s.noc[SA_TAU_90], sa_metrics_miou_at(&s, 5));
 *   sa_metrics_free(m);
 *
 * Definitions (max_clicks = N, 20 by default):
 *  - A sample's curve is IoU after click 1..N. When it is shorter (the annotator stopped early because nothing
 *    was left to fix), its last value is carried forward to click N; with no click at all, iou0 (the IoU of
 *    the starting mask) is used.
 *  - NoC@tau: 1-based index of the first click with IoU >= tau, or N if never; averaged over samples.
 *  - NoF@tau: number of samples that never reach tau within N clicks.
 *  - mIoU@k: mean IoU after k clicks. cIoU@k: sum of intersections / sum of unions after k clicks (needs the
 *    per-click intersection and union; NAN when a sample lacked them).
 *  - Latency: mean / median / 95th percentile of the per-click tool times (ms) of all clicks actually made.
 */
#ifndef SEGAGENT_METRICS_H
#define SEGAGENT_METRICS_H

#include <stdint.h>

#include "segagent/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SA_METRICS_MAX_CLICKS 100

/* The NoC / NoF thresholds, indices into the summary arrays. */
enum { SA_TAU_80 = 0, SA_TAU_85 = 1, SA_TAU_90 = 2, SA_N_TAU = 3 };
extern const double sa_metrics_taus[SA_N_TAU]; /* 0.80, 0.85, 0.90 */

/* The k of the reported mIoU@k / cIoU@k (those <= max_clicks are meaningful). */
#define SA_METRICS_N_K 6
extern const int sa_metrics_ks[SA_METRICS_N_K]; /* 1, 2, 3, 5, 10, 20 */

/* One sample's curve. iou[i] is the IoU after click i+1. inter/uni/ms may be NULL. */
typedef struct sa_metrics_curve {
    const double *iou;
    const uint64_t *inter;
    const uint64_t *uni;
    const double *ms; /* tool time of each click */
    int n;            /* clicks made, 0..max_clicks */
    double iou0;      /* IoU before any click (used only when n == 0) */
    uint64_t inter0, uni0;
} sa_metrics_curve;

typedef struct sa_metrics_summary {
    int n_samples;
    int max_clicks;
    double noc[SA_N_TAU];
    int nof[SA_N_TAU];
    double miou[SA_METRICS_MAX_CLICKS +
                1]; /* miou[k] = mIoU after k clicks, k = 1..max_clicks ([0] unused) */
    double ciou[SA_METRICS_MAX_CLICKS + 1]; /* cIoU after k clicks, NAN when unknown */
    long n_clicks;                          /* clicks actually made, all samples */
    double ms_mean, ms_median, ms_p95;      /* per-click tool time; NAN when no timing was given */
} sa_metrics_summary;

typedef struct sa_metrics sa_metrics;

/* max_clicks in [1, SA_METRICS_MAX_CLICKS]. */
int sa_metrics_new(int max_clicks, sa_metrics **out, sa_error *err);
void sa_metrics_free(sa_metrics *m);
/* Adds one sample. c->n must be in [0, max_clicks]; IoUs in [0, 1]. */
int sa_metrics_add(sa_metrics *m, const sa_metrics_curve *c, sa_error *err);
/* Fills *s from the samples added so far (all zeros / NAN with no sample). */
void sa_metrics_summarize(const sa_metrics *m, sa_metrics_summary *s);

/* mIoU / cIoU after k clicks from a summary; NAN when k is outside 1..max_clicks. */
double sa_metrics_miou_at(const sa_metrics_summary *s, int k);
double sa_metrics_ciou_at(const sa_metrics_summary *s, int k);

/* Per-sample NoC: first 1-based click with iou >= tau, carrying the last value forward; max_clicks if never
 * (and when n == 0 and iou0 < tau). */
int sa_metrics_noc(const double *iou, int n, double iou0, int max_clicks, double tau);

#ifdef __cplusplus
}
#endif
#endif
