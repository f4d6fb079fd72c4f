/* Gaussian mixture colour models for the graph-cut tool (internal).
 *
 *   sa__gmm g;
 *   sa__gmm_fit(&g, 5, samples, weights, n, 4.0f);   // samples: n x 3 floats, weights >= 0
 *   double lp = sa__gmm_logpdf(&g, x);                 // log density at one 3-vector
 *
 * Fitting is deterministic: components are found by repeatedly splitting the cluster with the largest
 * variance along its principal axis (Orchard-Bouman), refined by a few hard-assignment passes. Covariances get
 * var_floor added on the diagonal so a component of identical samples stays a proper density.
 */
#ifndef SEGAGENT_GMM_H
#define SEGAGENT_GMM_H

#define SA__GMM_MAX_K 8

typedef struct sa__gmm {
    int k;
    double w[SA__GMM_MAX_K];
    double mu[SA__GMM_MAX_K][3];
    double icov[SA__GMM_MAX_K][9];
    double lnorm[SA__GMM_MAX_K]; /* log(w) - 0.5*log((2pi)^3 det) */
} sa__gmm;

/* Fits up to k (1..SA__GMM_MAX_K) components. label: scratch of n ints. Returns 0, or -1 when the total
 * weight is zero or the arguments are bad (g is then a single broad component centred at 128). */
int sa__gmm_fit(sa__gmm *g, int k, const float *x, const float *wt, int n, float var_floor,
                int *label);
double sa__gmm_logpdf(const sa__gmm *g, const float *x);

#endif
