/* Metrics on hand-made IoU curves (values worked out by hand below each case), and the SVG chart's structure. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/chart.h"
#include "segagent/metrics.h"
#include "testutil.h"

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_noc(void) {
    const double c[] = {0.5, 0.82, 0.86, 0.91};
    CHECK(sa_metrics_noc(c, 4, 0, 20, 0.80) == 2);
    CHECK(sa_metrics_noc(c, 4, 0, 20, 0.85) == 3);
    CHECK(sa_metrics_noc(c, 4, 0, 20, 0.90) == 4);
    CHECK(sa_metrics_noc(c, 4, 0, 20, 0.95) == 20); /* never: the click limit */
    CHECK(sa_metrics_noc(c, 4, 0, 3, 0.90) == 3);   /* a shorter limit caps it */
    const double first[] = {0.95};
    CHECK(sa_metrics_noc(first, 1, 0, 20, 0.90) == 1);
    CHECK(sa_metrics_noc(NULL, 0, 1.0, 20, 0.90) == 1); /* nothing to fix from the start */
    CHECK(sa_metrics_noc(NULL, 0, 0.0, 20, 0.90) == 20);
    const double exact[] = {0.85, 0.9};
    CHECK(sa_metrics_noc(exact, 2, 0, 20, 0.85) == 1); /* >= */
    CHECK(sa_metrics_noc(exact, 2, 0, 20, 0.90) == 2);
}

static void test_summary(void) {
    sa_metrics *m = NULL;
    sa_error err = {0};
    CHECK(sa_metrics_new(20, &m, &err) == SA_OK);
    if (!m) return;

    /* Sample A: full 20 clicks, 0.5 then 0.6 then stuck at 0.7 (never reaches 0.8). */
    double a[20];
    uint64_t ai[20], au[20];
    double ams[20];
    for (int i = 0; i < 20; i++) {
        a[i] = i == 0 ? 0.5 : i == 1 ? 0.6 : 0.7;
        au[i] = 100;
        ai[i] = (uint64_t)lround(a[i] * 100);
        ams[i] = i + 1; /* 1..20 ms */
    }
    sa_metrics_curve ca = {a, ai, au, ams, 20, 0, 0, 100};
    CHECK(sa_metrics_add(m, &ca, &err) == SA_OK);

    /* Sample B: stops after 3 clicks with nothing left to fix (IoU 1 carried forward). */
    double b[3] = {0.8, 0.88, 1.0};
    uint64_t bi[3] = {240, 264, 300}, bu[3] = {300, 300, 300};
    double bms[3] = {100, 100, 100};
    sa_metrics_curve cb = {b, bi, bu, bms, 3, 0, 0, 300};
    CHECK(sa_metrics_add(m, &cb, &err) == SA_OK);

    sa_metrics_summary s;
    sa_metrics_summarize(m, &s);
    CHECK(s.n_samples == 2 && s.max_clicks == 20 && s.n_clicks == 23);
    /* NoC@80: A 20, B 1 -> 10.5; NoC@85: A 20, B 2 -> 11; NoC@90: A 20, B 3 -> 11.5 */
    CHECKF(NEAR(s.noc[SA_TAU_80], 10.5), "%g", s.noc[SA_TAU_80]);
    CHECKF(NEAR(s.noc[SA_TAU_85], 11.0), "%g", s.noc[SA_TAU_85]);
    CHECKF(NEAR(s.noc[SA_TAU_90], 11.5), "%g", s.noc[SA_TAU_90]);
    CHECK(s.nof[SA_TAU_80] == 1 && s.nof[SA_TAU_85] == 1 && s.nof[SA_TAU_90] == 1);
    /* mIoU@1 = (0.5 + 0.8) / 2, @2 = (0.6 + 0.88) / 2, @3 and later = (0.7 + 1) / 2 */
    CHECK(NEAR(sa_metrics_miou_at(&s, 1), 0.65));
    CHECK(NEAR(sa_metrics_miou_at(&s, 2), 0.74));
    CHECK(NEAR(sa_metrics_miou_at(&s, 3), 0.85));
    CHECK(NEAR(sa_metrics_miou_at(&s, 20), 0.85));
    CHECK(isnan(sa_metrics_miou_at(&s, 21)) && isnan(sa_metrics_miou_at(&s, 0)));
    /* cIoU@1 = (50 + 240) / (100 + 300); @20 = (70 + 300) / 400 */
    CHECK(NEAR(sa_metrics_ciou_at(&s, 1), 290.0 / 400.0));
    CHECK(NEAR(sa_metrics_ciou_at(&s, 20), 370.0 / 400.0));
    /* Latency over 23 clicks: 1..20 and three 100s. Mean (210 + 300) / 23; median = 12th smallest = 12;
     * p95 at position 0.95 * 22 = 20.9 -> 100. */
    CHECK(NEAR(s.ms_mean, 510.0 / 23.0));
    CHECK(NEAR(s.ms_median, 12.0));
    CHECK(NEAR(s.ms_p95, 100.0));

    /* Bad samples are refused. */
    double bad[1] = {1.5};
    sa_metrics_curve cbad = {bad, NULL, NULL, NULL, 1, 0, 0, 0};
    CHECK(sa_metrics_add(m, &cbad, &err) == SA_ERR_RANGE);
    sa_metrics_curve clong = {a, NULL, NULL, NULL, 21, 0, 0, 0};
    CHECK(sa_metrics_add(m, &clong, &err) == SA_ERR_RANGE);
    sa_metrics_summarize(m, &s);
    CHECK(s.n_samples == 2);

    /* A sample without intersection/union makes cIoU unknown but leaves mIoU defined. */
    sa_metrics_curve cn = {b, NULL, NULL, NULL, 3, 0, 0, 0};
    CHECK(sa_metrics_add(m, &cn, &err) == SA_OK);
    sa_metrics_summarize(m, &s);
    CHECK(isnan(sa_metrics_ciou_at(&s, 1)) &&
          NEAR(sa_metrics_miou_at(&s, 1), (0.5 + 0.8 + 0.8) / 3));
    sa_metrics_free(m);

    CHECK(sa_metrics_new(0, &m, &err) == SA_ERR_RANGE && m == NULL);
    CHECK(sa_metrics_new(SA_METRICS_MAX_CLICKS + 1, &m, &err) == SA_ERR_RANGE);
    sa_metrics_free(NULL);

    /* No samples: NAN summary, no crash. */
    CHECK(sa_metrics_new(5, &m, &err) == SA_OK);
    sa_metrics_summarize(m, &s);
    CHECK(s.n_samples == 0 && isnan(s.noc[0]) && isnan(s.ms_mean) &&
          isnan(sa_metrics_miou_at(&s, 20)));
    sa_metrics_free(m);
}

static void test_chart(void) {
    double y1[20], y2[10];
    for (int i = 0; i < 20; i++)
        y1[i] = 0.6 + 0.02 * i;
    for (int i = 0; i < 10; i++)
        y2[i] = i == 4 ? NAN : 0.75 + 0.02 * i;
    sa_chart_series s[2] = {{"GrabCut", y1, 20, "NoC@90 4.20", 0},
                            {"A<B & \"C\"", y2, 10, NULL, 1}};
    sa_error err = {0};
    char *svg = sa_chart_svg_render("mIoU vs clicks", "builtin tool", s, 2, &err);
    CHECKF(svg != NULL, "%s", err.msg);
    if (!svg) return;
    CHECK(!strncmp(svg, "<?xml", 5) && strstr(svg, "<svg ") && strstr(svg, "</svg>\n"));
    CHECK(count(svg, "<polyline") == 2);
    CHECK(count(svg, "<circle") == 29); /* the NAN point is not drawn */
    CHECK(strstr(svg, "A&lt;B &amp; &quot;C&quot;") != NULL);
    CHECK(strstr(svg, "A<B") == NULL);
    CHECK(strstr(svg, "NoC@90 4.20") && strstr(svg, "mIoU vs clicks") &&
          strstr(svg, "number of clicks"));
    CHECK(strstr(svg, ">0.60<") != NULL &&
          strstr(svg, ">1.00<") != NULL); /* y axis zoomed to the data */
    CHECK(strstr(svg, "nan") == NULL && strstr(svg, "inf") == NULL);
    free(svg);
    svg =
        sa_chart_svg_render(NULL, NULL, NULL, 0, &err); /* empty chart is still a valid document */
    CHECK(svg && strstr(svg, "</svg>"));
    free(svg);
    char *dir = tu_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/c.svg", dir);
    CHECK(sa_chart_svg_write(path, "t", NULL, s, 1, &err) == SA_OK);
    char *back = tu_read_file(path, NULL);
    CHECK(back && strstr(back, "GrabCut"));
    free(back);
    snprintf(path, sizeof path, "%s/missing/c.svg", dir);
    CHECK(sa_chart_svg_write(path, "t", NULL, s, 1, &err) == SA_ERR_IO &&
          strstr(err.msg, "missing/c.svg"));
    free(dir);
}

int main(void) {
    test_noc();
    test_summary();
    test_chart();
    return tu_finish("test_metrics");
}
