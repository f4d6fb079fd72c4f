/* Annotation-filtering statistics against values computed by hand (derivations in the comments). */
#include <math.h>
#include <stdio.h>

#include "segagent/filter_stats.h"
#include "testutil.h"

static int near(double a, double b, double tol) {
    return fabs(a - b) <= tol;
}

int main(void) {
    sa_filter_stats s;
    sa_error err = {0};
    /* p = 1,2,3,4,5; t = 2,4,5,4,5: d = -1,-2,-2,0,0 -> MAE 1, MSE 9/5.
     * Pearson: mp 3, mt 4; dp -2..2, dt -2,0,1,0,1; sum dp*dt = 4+0+0+0+2 = 6; sum dp^2 = 10; sum dt^2 = 6
     * r = 6 / sqrt(60) = 0.7745966692.
     * Spearman: ranks of t with ties: 2 -> 1, 4,4 -> 2.5, 5,5 -> 4.5: (1, 2.5, 4.5, 2.5, 4.5), ranks of p 1..5;
     * dr = -2,-1,0,1,2 / dt = -2,-0.5,1.5,-0.5,1.5: sum = 4 + 0.5 + 0 - 0.5 + 3 = 7; sum dt^2 = 4 + .25 + 2.25 +
     * .25 + 2.25 = 9 -> rho = 7 / sqrt(10 * 9) = 0.7378647874. */
    double p1[] = {1, 2, 3, 4, 5}, t1[] = {2, 4, 5, 4, 5};
    CHECK(sa_filter_stats_compute(p1, t1, 5, &s, &err) == SA_OK);
    CHECK(s.n == 5 && s.n_skipped == 0);
    CHECKF(near(s.mae, 1.0, 1e-12) && near(s.mse, 1.8, 1e-12), "mae %g mse %g", s.mae, s.mse);
    CHECKF(near(s.pearson, 0.7745966692414834, 1e-12), "pearson %.15f", s.pearson);
    CHECKF(near(s.spearman, 0.7378647873726218, 1e-12), "spearman %.15f", s.spearman);

    /* perfect monotone but non-linear: Spearman 1, Pearson < 1 */
    double p2[] = {10, 20, 30, 40}, t2[] = {1, 4, 9, 100};
    CHECK(sa_filter_stats_compute(p2, t2, 4, &s, &err) == SA_OK);
    CHECK(near(s.spearman, 1.0, 1e-12) && s.pearson < 0.95 && s.pearson > 0.7);
    /* reversed: -1 */
    double t3[] = {40, 30, 20, 10};
    CHECK(sa_filter_stats_compute(p2, t3, 4, &s, &err) == SA_OK);
    CHECK(near(s.pearson, -1.0, 1e-12) && near(s.spearman, -1.0, 1e-12) &&
          near(s.mae, 20.0, 1e-12));
    /* constant side: correlations undefined */
    double c[] = {50, 50, 50, 50};
    CHECK(sa_filter_stats_compute(p2, c, 4, &s, &err) == SA_OK);
    CHECK(isnan(s.pearson) && isnan(s.spearman) && near(s.mae, 25.0, 1e-12) &&
          near(s.mse, 750.0, 1e-12));
    /* NAN pairs skipped */
    double p4[] = {1, NAN, 3, 4}, t4[] = {1, 2, NAN, 5};
    CHECK(sa_filter_stats_compute(p4, t4, 4, &s, &err) == SA_OK);
    CHECK(s.n == 2 && s.n_skipped == 2 && near(s.mae, 0.5, 1e-12) && near(s.pearson, 1.0, 1e-12));
    /* empty and single */
    CHECK(sa_filter_stats_compute(NULL, NULL, 0, &s, &err) == SA_OK && s.n == 0 && isnan(s.mae));
    CHECK(sa_filter_stats_compute(p1, t1, 1, &s, &err) == SA_OK && near(s.mae, 1.0, 0) &&
          isnan(s.pearson));
    CHECK(sa_filter_stats_compute(NULL, t1, 3, &s, &err) == SA_ERR_INVALID);
    /* average ranks with a three-way tie */
    double v[] = {7, 3, 7, 1, 7}, r[5];
    CHECK(sa_average_ranks(v, 5, r) == SA_OK);
    CHECK(r[0] == 4 && r[1] == 2 && r[2] == 4 && r[3] == 1 && r[4] == 4);
    /* values near 100 keep their digits */
    double p5[] = {99.1, 99.2, 99.3}, t5[] = {99.15, 99.25, 99.35};
    CHECK(sa_filter_stats_compute(p5, t5, 3, &s, &err) == SA_OK && near(s.pearson, 1.0, 1e-9));
    return tu_finish("test_filter_stats");
}
