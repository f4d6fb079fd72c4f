/* Agreement between predicted and true mask quality (annotation filtering, docs/metrics.md).
 *
 *   double pred[] = {80, 55, 91}, truth[] = {85, 40, 93};      // both on the 0..100 scale
 *   sa_filter_stats s;
 *   sa_filter_stats_compute(pred, truth, 3, &s, &err);
 *   printf("MAE %.2f MSE %.2f Pearson %.3f Spearman %.3f\n", s.mae, s.mse, s.pearson, s.spearman);
 *
 * MAE = mean |p - t|, MSE = mean (p - t)^2, Pearson's r of (p, t), Spearman's rho = Pearson's r of the ranks,
 * ties sharing the average of their ranks. A correlation is NAN when either side has no variance (or n < 2).
 * Pairs where either value is NAN are skipped (counted in n_skipped).
 */
#ifndef SEGAGENT_FILTER_STATS_H
#define SEGAGENT_FILTER_STATS_H

#include <stddef.h>

#include "segagent/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_filter_stats {
    size_t n;         /* pairs used */
    size_t n_skipped; /* pairs with a NAN */
    double mae, mse, pearson, spearman;
} sa_filter_stats;

/* Returns SA_ERR_INVALID for NULL arrays with n > 0; with no usable pair all four figures are NAN. */
int sa_filter_stats_compute(const double *pred, const double *truth, size_t n, sa_filter_stats *out,
                            sa_error *err);

/* Pearson's r of two arrays (no NAN handling); NAN when a side has no variance or n < 2. */
double sa_pearson(const double *a, const double *b, size_t n);
/* Average ranks (1-based; ties get the mean of the ranks they span) of v into ranks. Returns SA_ERR_NOMEM. */
int sa_average_ranks(const double *v, size_t n, double *ranks);

#ifdef __cplusplus
}
#endif
#endif
