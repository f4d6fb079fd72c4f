/* The graph-cut tool on synthetic scenes: one positive click segments a coloured disc on a textured
 * background; a negative click removes a wrongly included region of the object's colour; results do not
 * depend on the session's history (warm-started max-flow) and repeat exactly; refinement from an initial mask;
 * a positive click leaves previous object far from it; bad parameters and bad requests are rejected with an
 * error. Also the colour model (Gaussian mixture fit). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/gmm.h"
#include "segagent/graphcut.h"
#include "segagent/mask.h"
#include "testutil.h"

#define W 160
#define H 120

static uint32_t rng = 12345u;
static int noise(int amp) {
    rng = rng * 1103515245u + 12345u;
    return (int)((rng >> 16) % (uint32_t)(2 * amp + 1)) - amp;
}

static uint8_t clamp8(int v) {
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Background: green/brown stripes with noise. Object: red disc at (80, 60) radius 30. With bar != 0 a red bar
 * of a close colour (not part of the object) touches the disc on its right. */
static void make_scene(sa_image *img, sa_mask *gt, int bar) {
    CHECK(sa_image_new(img, W, H, 3, NULL) == SA_OK);
    CHECK(sa_mask_new(gt, W, H, NULL) == SA_OK);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = img->data + 3 * (y * W + x);
            int in = (x - 80) * (x - 80) + (y - 60) * (y - 60) <= 30 * 30;
            int in_bar = bar && x >= 108 && x < 150 && y >= 52 && y < 68;
            int r, g, b;
            if (in) {
                r = 200, g = 40, b = 40;
            } else if (in_bar) {
                r = 200, g = 60, b = 40;
            } else if ((x / 8 + y / 8) % 2) {
                r = 60, g = 150, b = 60;
            } else {
                r = 120, g = 100, b = 60;
            }
            p[0] = clamp8(r + noise(20));
            p[1] = clamp8(g + noise(20));
            p[2] = clamp8(b + noise(20));
            gt->data[y * W + x] = (uint8_t)in;
        }
}

/* Two well separated colour clusters: the fit finds both means, scores points by their cluster, treats a
 * weight as a repeat count, is deterministic, and falls back to a broad model with no weight. */
static void test_gmm(void) {
    enum { N = 400 };
    static float x[3 * N], x2[3 * 2 * N], wt[N];
    static int lab[2 * N];
    for (int i = 0; i < N; i++) {
        const float *m = i < N / 4 ? (const float[]){200, 40, 40} : (const float[]){40, 160, 60};
        for (int c = 0; c < 3; c++)
            x[3 * i + c] = m[c] + (float)noise(10);
        wt[i] = 2.0f;
    }
    for (int i = 0; i < 2 * N; i++)
        for (int c = 0; c < 3; c++)
            x2[3 * i + c] = x[3 * (i / 2) + c];
    sa__gmm g, g2, g3;
    CHECK(sa__gmm_fit(&g, 2, x, NULL, N, 4.0f, lab) == 0);
    CHECK(g.k == 2);
    int found_red = 0, found_green = 0;
    double wsum = 0;
    for (int j = 0; j < g.k; j++) {
        wsum += g.w[j];
        if (fabs(g.mu[j][0] - 200) < 5 && fabs(g.mu[j][1] - 40) < 5) {
            found_red = 1;
            CHECK(fabs(g.w[j] - 0.25) < 0.01);
        }
        if (fabs(g.mu[j][0] - 40) < 5 && fabs(g.mu[j][1] - 160) < 5) found_green = 1;
    }
    CHECK(found_red && found_green && fabs(wsum - 1) < 1e-9);
    const float red[3] = {200, 40, 40}, green[3] = {40, 160, 60}, blue[3] = {20, 20, 220};
    CHECK(sa__gmm_logpdf(&g, red) > sa__gmm_logpdf(&g, blue) + 10);
    CHECK(sa__gmm_logpdf(&g, green) > sa__gmm_logpdf(&g, red));
    /* weight 2 == each sample twice */
    CHECK(sa__gmm_fit(&g2, 2, x, wt, N, 4.0f, lab) == 0);
    CHECK(sa__gmm_fit(&g3, 2, x2, NULL, 2 * N, 4.0f, lab) == 0);
    CHECK(g2.k == g3.k && fabs(sa__gmm_logpdf(&g2, red) - sa__gmm_logpdf(&g3, red)) < 1e-6);
    /* deterministic */
    CHECK(sa__gmm_fit(&g3, 2, x, NULL, N, 4.0f, lab) == 0);
    CHECK(memcmp(&g, &g3, sizeof g) == 0);
    /* more components than distinct colours, and identical samples: still a proper density */
    for (int i = 0; i < 3 * N; i++)
        x[i] = 100;
    CHECK(sa__gmm_fit(&g, 5, x, NULL, N, 4.0f, lab) == 0);
    CHECK(g.k >= 1 && isfinite(sa__gmm_logpdf(&g, x)) && isfinite(sa__gmm_logpdf(&g, blue)));
    /* no weight at all / bad arguments */
    for (int i = 0; i < N; i++)
        wt[i] = 0;
    CHECK(sa__gmm_fit(&g, 3, x, wt, N, 4.0f, lab) == -1);
    CHECK(g.k == 1 && isfinite(sa__gmm_logpdf(&g, red)));
    CHECK(sa__gmm_fit(&g, 0, x, NULL, N, 4.0f, lab) == -1);
    CHECK(sa__gmm_fit(&g, SA__GMM_MAX_K + 1, x, NULL, N, 4.0f, lab) == -1);
}

static double predict_iou(sa_tool_session *s, const sa_click *c, int n, const sa_tool_result *prev,
                          const sa_mask *gt, sa_tool_result *out) {
    sa_tool_request req = {.clicks = c, .n_clicks = n, .prev = prev};
    sa_error err = {0};
    memset(out, 0, sizeof *out);
    int rc = sa_tool_session_predict(s, &req, out, &err);
    CHECKF(rc == SA_OK, "predict: %s", err.msg);
    if (rc != SA_OK) return -1;
    return sa_mask_iou(&out->mask, gt, NULL);
}

static void test_one_click(sa_tool *tool) {
    sa_image img = {0};
    sa_mask gt = {0};
    make_scene(&img, &gt, 0);
    sa_tool_session *s = NULL;
    CHECK(sa_tool_session_new(tool, &img, &s, NULL) == SA_OK);
    sa_click c[1] = {{.y = 60, .x = 80, .positive = 1}};
    sa_tool_result r;
    double iou = predict_iou(s, c, 1, NULL, &gt, &r);
    CHECKF(iou > 0.9, "one positive click: IoU %.3f", iou);
    CHECK(r.prob == NULL);
    sa_tool_result_free(&r);
    /* a click off-centre inside the disc does as well */
    sa_click c2[1] = {{.y = 45, .x = 95, .positive = 1}};
    iou = predict_iou(s, c2, 1, NULL, &gt, &r);
    CHECKF(iou > 0.9, "off-centre positive click: IoU %.3f", iou);
    sa_tool_result_free(&r);
    sa_tool_session_free(s);
    sa_image_free(&img);
    sa_mask_free(&gt);
}

static void test_negative_click(sa_tool *tool) {
    sa_image img = {0};
    sa_mask gt = {0};
    make_scene(&img, &gt, 1);
    sa_tool_session *s = NULL;
    CHECK(sa_tool_session_new(tool, &img, &s, NULL) == SA_OK);
    sa_click c[2] = {{.y = 60, .x = 80, .positive = 1}, {.y = 60, .x = 135, .positive = 0}};
    sa_tool_result r1, r2;
    double iou1 = predict_iou(s, c, 1, NULL, &gt, &r1);
    CHECKF(r1.mask.data && r1.mask.data[60 * W + 130] == 1,
           "the bar should be taken with the red disc after one positive click (IoU %.3f)", iou1);
    double iou2 = predict_iou(s, c, 2, &r1, &gt, &r2);
    CHECKF(iou2 > 0.9 && iou2 > iou1, "negative click on the bar: IoU %.3f -> %.3f", iou1, iou2);
    if (r2.mask.data) {
        CHECK(r2.mask.data[60 * W + 135] == 0);
        CHECK(r2.mask.data[60 * W + 145] == 0);
        CHECK(r2.mask.data[60 * W + 80] == 1);
    }
    sa_tool_result_free(&r1);
    sa_tool_result_free(&r2);
    sa_tool_session_free(s);
    sa_image_free(&img);
    sa_mask_free(&gt);
}

/* The same request gives the same mask whatever the session did before (fresh session vs. a session that
 * answered other requests first), and on repetition. */
static void test_determinism(sa_tool *tool) {
    sa_image img = {0};
    sa_mask gt = {0};
    make_scene(&img, &gt, 1);
    sa_tool_session *a = NULL, *b = NULL;
    CHECK(sa_tool_session_new(tool, &img, &a, NULL) == SA_OK);
    CHECK(sa_tool_session_new(tool, &img, &b, NULL) == SA_OK);
    sa_click c[3] = {{.y = 60, .x = 80, .positive = 1},
                     {.y = 60, .x = 135, .positive = 0},
                     {.y = 20, .x = 20, .positive = 1}};
    sa_tool_result ra, rb, tmp1, tmp2;
    predict_iou(a, c, 2, NULL, &gt, &ra);
    /* b: other requests first */
    predict_iou(b, c + 2, 1, NULL, &gt, &tmp1);
    predict_iou(b, c, 3, &tmp1, &gt, &tmp2);
    predict_iou(b, c, 2, NULL, &gt, &rb);
    CHECK(ra.mask.data && rb.mask.data && memcmp(ra.mask.data, rb.mask.data, W * H) == 0);
    sa_tool_result_free(&rb);
    predict_iou(a, c, 2, NULL, &gt, &rb);
    CHECK(ra.mask.data && rb.mask.data && memcmp(ra.mask.data, rb.mask.data, W * H) == 0);
    sa_tool_result_free(&ra);
    sa_tool_result_free(&rb);
    sa_tool_result_free(&tmp1);
    sa_tool_result_free(&tmp2);
    sa_tool_session_free(a);
    sa_tool_session_free(b);
    sa_image_free(&img);
    sa_mask_free(&gt);
}

static void test_refine_and_empty(sa_tool *tool) {
    sa_image img = {0};
    sa_mask gt = {0}, init = {0};
    make_scene(&img, &gt, 0);
    sa_tool_session *s = NULL;
    CHECK(sa_tool_session_new(tool, &img, &s, NULL) == SA_OK);
    sa_error err = {0};
    /* no click, no mask: empty result */
    sa_tool_request req0 = {0};
    sa_tool_result r = {0};
    CHECK(sa_tool_session_predict(s, &req0, &r, &err) == SA_OK);
    CHECK(r.mask.data && sa_mask_area(&r.mask) == 0);
    sa_tool_result_free(&r);
    /* refinement: a shifted box as the initial mask, one negative click outside the disc inside the box */
    CHECK(sa_mask_new(&init, W, H, NULL) == SA_OK);
    for (int y = 25; y < 95; y++)
        for (int x = 40; x < 125; x++)
            init.data[y * W + x] = 1;
    double iou0 = sa_mask_iou(&init, &gt, NULL);
    sa_click c[1] = {{.y = 88, .x = 120, .positive = 0}};
    sa_tool_request req = {.clicks = c, .n_clicks = 1, .init_mask = &init};
    CHECK(sa_tool_session_predict(s, &req, &r, &err) == SA_OK);
    double iou1 = r.mask.data ? sa_mask_iou(&r.mask, &gt, NULL) : 0;
    CHECKF(iou1 > 0.9 && iou1 > iou0, "refinement with a negative click: IoU %.3f -> %.3f", iou0,
           iou1);
    if (r.mask.data) CHECK(r.mask.data[88 * W + 120] == 0);
    sa_tool_result_free(&r);
    sa_mask_free(&init);
    sa_tool_session_free(s);
    sa_image_free(&img);
    sa_mask_free(&gt);
}

/* A positive click does not take away previous object far from it: the previous mask is the disc plus a bar of
 * background texture on its right; a positive click in the disc's centre leaves the bar object (its removal
 * would not be connected to the click's neighbourhood). */
static void test_positive_click_local(sa_tool *tool) {
    sa_image img = {0};
    sa_mask gt = {0}, init = {0};
    make_scene(&img, &gt, 0);
    sa_tool_session *s = NULL;
    CHECK(sa_tool_session_new(tool, &img, &s, NULL) == SA_OK);
    CHECK(sa_mask_new(&init, W, H, NULL) == SA_OK);
    for (int p = 0; p < W * H; p++)
        init.data[p] = gt.data[p];
    for (int y = 52; y < 68; y++)
        for (int x = 100; x < 150; x++)
            init.data[y * W + x] = 1;
    sa_click c[1] = {{.y = 60, .x = 80, .positive = 1}};
    sa_tool_request req = {.clicks = c, .n_clicks = 1, .init_mask = &init};
    sa_tool_result r = {0};
    sa_error err = {0};
    CHECK(sa_tool_session_predict(s, &req, &r, &err) == SA_OK);
    if (r.mask.data) {
        int kept = 0;
        for (int y = 52; y < 68; y++)
            for (int x = 112; x < 150; x++)
                kept += r.mask.data[y * W + x];
        CHECKF(kept == 16 * 38,
               "far previous object removed by a positive click: %d of %d pixels kept", kept,
               16 * 38);
        CHECK(r.mask.data[60 * W + 80] == 1);
    }
    sa_tool_result_free(&r);
    sa_mask_free(&init);
    sa_tool_session_free(s);
    sa_image_free(&img);
    sa_mask_free(&gt);
}

static void test_bad_input(sa_tool *tool) {
    sa_error err = {0};
    sa_tool *t = NULL;
    sa_graphcut_params p = sa_graphcut_default_params();
    p.lambda = -1;
    CHECK(sa_graphcut_tool_new(p, &t, &err) == SA_ERR_RANGE && t == NULL &&
          strstr(err.msg, "lambda"));
    p = sa_graphcut_default_params();
    p.components = 0;
    CHECK(sa_graphcut_tool_new(p, &t, &err) == SA_ERR_RANGE && strstr(err.msg, "components"));
    p = sa_graphcut_default_params();
    p.iterations = 0;
    CHECK(sa_graphcut_tool_new(p, &t, &err) == SA_ERR_RANGE);
    p = sa_graphcut_default_params();
    p.keep = NAN;
    CHECK(sa_graphcut_tool_new(p, &t, &err) == SA_ERR_RANGE);
    p = sa_graphcut_default_params();
    p.max_side = 8;
    CHECK(sa_graphcut_tool_new(p, &t, &err) == SA_ERR_RANGE && strstr(err.msg, "max_side"));
    CHECK(sa_graphcut_tool_new(sa_graphcut_default_params(), NULL, &err) == SA_ERR_INVALID);

    sa_image img = {0};
    sa_mask gt = {0}, small = {0};
    make_scene(&img, &gt, 0);
    sa_tool_session *s = NULL;
    CHECK(sa_tool_session_new(tool, &img, &s, NULL) == SA_OK);
    sa_tool_result r = {0};
    sa_click out_of_image[1] = {{.y = H, .x = 5, .positive = 1}};
    sa_tool_request req = {.clicks = out_of_image, .n_clicks = 1};
    CHECK(sa_tool_session_predict(s, &req, &r, &err) == SA_ERR_RANGE && r.mask.data == NULL);
    sa_click ok[1] = {{.y = 60, .x = 80, .positive = 1}};
    req = (sa_tool_request){.clicks = ok, .n_clicks = -1};
    CHECK(sa_tool_session_predict(s, &req, &r, &err) == SA_ERR_RANGE);
    req = (sa_tool_request){.clicks = NULL, .n_clicks = 1};
    CHECK(sa_tool_session_predict(s, &req, &r, &err) == SA_ERR_INVALID);
    CHECK(sa_mask_new(&small, W / 2, H, NULL) == SA_OK);
    req = (sa_tool_request){.clicks = ok, .n_clicks = 1, .init_mask = &small};
    CHECK(sa_tool_session_predict(s, &req, &r, &err) == SA_ERR_RANGE);
    /* the session still works after rejected requests */
    req = (sa_tool_request){.clicks = ok, .n_clicks = 1};
    CHECK(sa_tool_session_predict(s, &req, &r, &err) == SA_OK);
    CHECK(r.mask.data && sa_mask_iou(&r.mask, &gt, NULL) > 0.9);
    sa_tool_result_free(&r);
    sa_mask_free(&small);
    sa_tool_session_free(s);
    sa_image_free(&img);
    sa_mask_free(&gt);
    sa_tool_session_free(NULL);
    sa_tool_free(NULL);
}

/* Tiny and thin images (no block level, single row or column) work and keep the click's pixel. */
static void test_tiny(sa_tool *tool) {
    const int sizes[][2] = {{1, 1}, {5, 4}, {1, 30}, {30, 1}, {9, 8}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        sa_image img = {0};
        int w = sizes[k][0], h = sizes[k][1];
        CHECK(sa_image_new(&img, w, h, 3, NULL) == SA_OK);
        for (int i = 0; i < w * h * 3; i++)
            img.data[i] = (uint8_t)(i * 37);
        sa_tool_session *s = NULL;
        CHECK(sa_tool_session_new(tool, &img, &s, NULL) == SA_OK);
        sa_click c[2] = {{.y = h / 2, .x = w / 2, .positive = 1}, {.y = 0, .x = 0, .positive = 0}};
        sa_tool_request req = {.clicks = c, .n_clicks = (w * h > 1) ? 2 : 1};
        sa_tool_result r = {0};
        sa_error err = {0};
        CHECKF(sa_tool_session_predict(s, &req, &r, &err) == SA_OK, "%dx%d: %s", w, h, err.msg);
        if (r.mask.data) CHECK(r.mask.data[(h / 2) * w + w / 2] == 1);
        sa_tool_result_free(&r);
        sa_tool_session_free(s);
        sa_image_free(&img);
    }
}

int main(void) {
    sa_error err = {0};
    sa_tool *tool = NULL;
    if (sa_graphcut_tool_new(sa_graphcut_default_params(), &tool, &err) != SA_OK) {
        fprintf(stderr, "graph-cut tool: %s\n", err.msg);
        return 1;
    }
    CHECK(strcmp(sa_tool_name(tool), "graphcut") == 0);
    CHECK(sa_tool_accepts_box(tool) == 0);
    test_gmm();
    test_one_click(tool);
    test_negative_click(tool);
    test_determinism(tool);
    test_refine_and_empty(tool);
    test_positive_click_local(tool);
    test_bad_input(tool);
    test_tiny(tool);
    /* a working size below the image size: the mask comes back at the image size, the click's pixel kept */
    sa_graphcut_params ps = sa_graphcut_default_params();
    ps.max_side = 80;
    sa_tool *t3 = NULL;
    CHECK(sa_graphcut_tool_new(ps, &t3, &err) == SA_OK);
    if (t3) {
        test_one_click(t3);
        test_refine_and_empty(t3);
        test_tiny(t3);
    }
    sa_tool_free(t3);
    /* star convexity off still segments the disc */
    sa_graphcut_params p = sa_graphcut_default_params();
    p.star_convexity = 0;
    sa_tool *t2 = NULL;
    CHECK(sa_graphcut_tool_new(p, &t2, &err) == SA_OK);
    if (t2) test_one_click(t2);
    sa_tool_free(t2);
    sa_tool_free(tool);
    return tu_finish("test_graphcut");
}
