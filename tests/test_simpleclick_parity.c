/* SimpleClick: parity against the shared fixture (fixtures/simpleclick/tiny) with every kernel set
 * and thread count; the checker failing on a model that is not the fixture's; identical
 * probabilities for 1, 2 and 3 threads; the tool contract; and bad input (wrong file type,
 * truncated zip, a pickle global outside the allowlist, an unknown model class, missing and
 * mis-shaped tensors, clicks outside the image, a previous result of the wrong size): each a clear
 * error, never a crash. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/image.h"
#include "segagent/simpleclick.h"
#include "testutil.h"

static void print_line(void *ctx, const char *line) {
    (void)ctx;
    printf("    %s\n", line);
}

static void parity(const char *dir, int threads, int kernels) {
    sa_sc_check_params p = sa_sc_check_default_params();
    p.threads = threads;
    p.kernels = kernels;
    sa_error err = {0};
    int fails = -1;
    printf("parity %s threads=%d kernels=%d\n", dir, threads, kernels);
    int rc = sa_sc_check_fixture(dir, p,
                                 threads == 2 && kernels == SA_SC_KERNELS_FAST ? print_line : NULL,
                                 NULL, &fails, &err);
    CHECKF(rc == SA_OK, "%s: %s", dir, err.msg);
    CHECKF(fails == 0, "%s: %d checks out of tolerance (threads %d, kernels %d)", dir, fails,
           threads, kernels);
}

/* The checker must be able to fail: the fixture's expectations against other weights of the same
 * shapes. */
static void parity_must_fail(const char *dir, const sa_sc_model *fixture_model) {
    sa_sc_model *r = NULL;
    sa_error err = {0};
    CHECK(sa_sc_model_random(sa_sc_model_arch(fixture_model), 7, sa_sc_default_params(), &r,
                             &err) == SA_OK);
    sa_sc_check_params p = sa_sc_check_default_params();
    p.model = r;
    int fails = 0;
    int rc = sa_sc_check_fixture(dir, p, NULL, NULL, &fails, &err);
    printf("other weights: rc %d, %d checks out of tolerance\n", rc, fails);
    CHECK(rc == SA_OK && fails > 0);
    sa_sc_model_free(r);
}

static float *run_clicks(sa_sc_model *m, const sa_image *img, int threads) {
    sa_error err = {0};
    sa_sc_params p = *sa_sc_model_params(m);
    p.threads = threads;
    CHECK(sa_sc_model_set_params(m, p, &err) == SA_OK);
    sa_sc_session *s = NULL;
    if (sa_sc_session_new(m, img, &s, &err) != SA_OK) {
        CHECKF(0, "session: %s", err.msg);
        return NULL;
    }
    const size_t hw = (size_t)img->width * img->height;
    float *all = calloc(3 * hw, sizeof(float));
    sa_sc_click ck[3] = {{143, 212, 1}, {133, 181, 0}, {155, 193, 1}};
    int roi[4];
    for (int k = 0; all && k < 3; k++) {
        int rc = sa_sc_predict(s, ck, k + 1, k ? all + (k - 1) * hw : NULL, k ? roi : NULL,
                               all + k * hw, roi, &err);
        CHECKF(rc == SA_OK, "predict: %s", err.msg);
    }
    sa_sc_session_free(s);
    return all;
}

static void thread_independence(sa_sc_model *m, const sa_image *img) {
    const size_t n = 3 * (size_t)img->width * img->height;
    float *a = run_clicks(m, img, 1), *b = run_clicks(m, img, 2), *c = run_clicks(m, img, 3);
    CHECK(a && b && c);
    if (a && b && c) {
        int same = !memcmp(a, b, n * sizeof(float)) && !memcmp(a, c, n * sizeof(float));
        printf("threads 1/2/3: %zu probabilities %s\n", n, same ? "bit-identical" : "DIFFER");
        CHECK(same);
    }
    free(a);
    free(b);
    free(c);
}

/* The tool gives what the predictor gives, and carries the ROI in aux. */
static void tool_contract(const char *pth, const sa_image *img) {
    sa_error err = {0};
    sa_sc_model *m = NULL, *m2 = NULL;
    CHECK(sa_sc_model_load(pth, sa_sc_default_params(), &m, &err) == SA_OK);
    CHECK(sa_sc_model_load(pth, sa_sc_default_params(), &m2, &err) == SA_OK);
    sa_tool *tool = NULL;
    CHECK(sa_sc_tool_new(m, &tool, &err) == SA_OK);
    sa_tool_session *ts = NULL;
    CHECK(tool && sa_tool_session_new(tool, img, &ts, &err) == SA_OK);
    sa_sc_session *s = NULL;
    CHECK(m2 && sa_sc_session_new(m2, img, &s, &err) == SA_OK);
    if (!ts || !s) goto out;
    const size_t hw = (size_t)img->width * img->height;
    sa_click clicks[2] = {{.y = 142, .x = 213, .positive = 1}, {.y = 142, .x = 164, .positive = 0}};
    sa_sc_click ck[2] = {{142, 213, 1}, {142, 164, 0}};
    sa_tool_result r1 = {0}, r2 = {0};
    sa_tool_request q1 = {.clicks = clicks, .n_clicks = 1};
    CHECKF(sa_tool_session_predict(ts, &q1, &r1, &err) == SA_OK, "%s", err.msg);
    sa_tool_request q2 = {.clicks = clicks, .n_clicks = 2, .prev = &r1};
    CHECKF(sa_tool_session_predict(ts, &q2, &r2, &err) == SA_OK, "%s", err.msg);
    float *p = malloc(hw * sizeof(float));
    int roi[4];
    CHECK(sa_sc_predict(s, ck, 1, NULL, NULL, p, roi, &err) == SA_OK);
    CHECK(sa_sc_predict(s, ck, 2, p, roi, p, roi, &err) == SA_OK);
    CHECK(r2.prob && !memcmp(p, r2.prob, hw * sizeof(float)));
    CHECK(r2.n_aux == 4 && r2.aux[0] == roi[0] && r2.aux[3] == roi[3]);
    long area = 0;
    for (size_t i = 0; i < hw; i++)
        area += r2.mask.data[i];
    printf("tool: 2 clicks, mask area %ld, ROI (%d, %d, %d, %d)\n", area, roi[0], roi[1], roi[2],
           roi[3]);
    CHECK(area > 0 && (size_t)area < hw);
    /* a refinement start mask (no previous result): it enters as the previous map */
    sa_mask init = {0};
    CHECK(sa_mask_new(&init, img->width, img->height, &err) == SA_OK);
    for (int y = 100; y < 180 && init.data; y++)
        for (int x = 150; x < 260; x++)
            init.data[(size_t)y * img->width + x] = 1;
    sa_tool_result ri = {0};
    sa_tool_request qi = {.clicks = clicks, .n_clicks = 1, .init_mask = &init};
    CHECKF(sa_tool_session_predict(ts, &qi, &ri, &err) == SA_OK, "%s", err.msg);
    CHECK(ri.prob && ri.n_aux == 4 && memcmp(ri.prob, r1.prob, hw * sizeof(float)) != 0);
    sa_tool_result_free(&ri);
    sa_mask_free(&init);
    /* no clicks: an empty mask */
    sa_tool_request q0 = {.clicks = clicks, .n_clicks = 0};
    CHECK(sa_tool_session_predict(ts, &q0, &ri, &err) == SA_OK && ri.mask.data && !ri.prob);
    sa_tool_result_free(&ri);
    /* a previous result of another size */
    sa_tool_result bad = {0};
    CHECK(sa_mask_new(&bad.mask, img->width - 1, img->height, &err) == SA_OK);
    sa_tool_result r3 = {0};
    sa_tool_request q3 = {.clicks = clicks, .n_clicks = 2, .prev = &bad};
    int rc = sa_tool_session_predict(ts, &q3, &r3, &err);
    printf("prev of the wrong size: rc %d: %s\n", rc, err.msg);
    CHECK(rc == SA_ERR_RANGE);
    sa_tool_result_free(&bad);
    sa_tool_result_free(&r3);
    /* clicks outside the image */
    sa_sc_click out1 = {img->height, 3, 1};
    rc = sa_sc_predict(s, &out1, 1, NULL, NULL, p, roi, &err);
    printf("click outside: rc %d: %s\n", rc, err.msg);
    CHECK(rc == SA_ERR_RANGE && strstr(err.msg, "outside"));
    sa_click out2 = {.y = -1, .x = 0, .positive = 1};
    sa_tool_request q4 = {.clicks = &out2, .n_clicks = 1};
    CHECK(sa_tool_session_predict(ts, &q4, &r3, &err) != SA_OK);
    sa_tool_result_free(&r3);
    free(p);
    sa_tool_result_free(&r1);
    sa_tool_result_free(&r2);
out:
    sa_sc_session_free(s);
    sa_tool_session_free(ts);
    sa_tool_free(tool);
    sa_sc_model_free(m2);
}

/* One corruption of the checkpoint bytes: replace the first `from` by `to` (same length). */
static int load_patched(const char *buf, size_t n, const char *from, const char *to,
                        sa_error *err) {
    char *c = malloc(n);
    memcpy(c, buf, n);
    size_t fl = strlen(from);
    int found = 0;
    for (size_t i = 0; i + fl <= n && !found; i++)
        if (!memcmp(c + i, from, fl)) {
            memcpy(c + i, to, fl);
            found = 1;
        }
    CHECKF(found, "'%s' not in the checkpoint", from);
    sa_sc_model *m = NULL;
    int rc = sa_sc_model_load_buffer((const uint8_t *)c, n, sa_sc_default_params(), &m, err);
    sa_sc_model_free(m);
    free(c);
    return rc;
}

static void bad_input(const char *pth) {
    size_t n = 0;
    char *buf = tu_read_file(pth, &n);
    CHECK(buf && n > 1000);
    if (!buf) return;
    sa_error err = {0};
    sa_sc_model *m = NULL;
    CHECKF(sa_sc_model_load_buffer((const uint8_t *)buf, n, sa_sc_default_params(), &m, &err) ==
               SA_OK,
           "%s", err.msg);
    printf("checkpoint: %lld parameters used, %d tensors unused (first %s)\n",
           (long long)sa_sc_model_param_count(m), sa_sc_model_unused_count(m),
           sa_sc_model_unused_name(m, 0));
    CHECK(sa_sc_model_unused_count(m) > 0);
    sa_sc_model_free(m);
    /* wrong file type */
    const char png[] = "\x89PNG\r\n\x1a\n not a checkpoint at all, just some bytes to be sniffed";
    int rc =
        sa_sc_model_load_buffer((const uint8_t *)png, sizeof png, sa_sc_default_params(), &m, &err);
    printf("png bytes: rc %d: %s\n", rc, err.msg);
    CHECK(rc != SA_OK && !m);
    /* a state_dict-only .pth (another engine's checkpoint) is refused by the SimpleClick profile */
    char *sam = tu_shared_path("fixtures/sam/tiny/sam_official.pth");
    size_t sn = 0;
    char *sbuf = sam ? tu_read_file(sam, &sn) : NULL;
    if (sbuf) {
        rc = sa_sc_model_load_buffer((const uint8_t *)sbuf, sn, sa_sc_default_params(), &m, &err);
        printf("SAM .pth: rc %d: %s\n", rc, err.msg);
        CHECK(rc != SA_OK && !m);
    }
    free(sbuf);
    free(sam);
    /* truncated zips: every cut is an error, never a crash */
    int ok_cuts = 0;
    for (size_t cut = 0; cut < n; cut += n / 97 + 1) {
        rc = sa_sc_model_load_buffer((const uint8_t *)buf, cut, sa_sc_default_params(), &m, &err);
        if (rc == SA_OK) ok_cuts++;
        sa_sc_model_free(m);
        m = NULL;
    }
    CHECKF(ok_cuts == 0, "%d truncated checkpoints loaded", ok_cuts);
    /* a global outside the allowlist (same length, so the zip stays consistent) */
    rc = load_patched(buf, n, "CrossEntropyLoss", "CrossEntropyLosz", &err);
    printf("forbidden global: rc %d: %s\n", rc, err.msg);
    CHECK(rc == SA_ERR_UNSUPPORTED && strstr(err.msg, "CrossEntropyLosz"));
    rc = load_patched(buf, n, "OrderedDict", "OrderedDicx", &err);
    CHECK(rc == SA_ERR_UNSUPPORTED && strstr(err.msg, "forbidden global"));
    /* an unknown model class */
    rc = load_patched(buf, n, "PlainVitModel", "HRNetModelXX", &err);
    printf("unknown class: rc %d: %s\n", rc, err.msg);
    CHECK(rc == SA_ERR_UNSUPPORTED && strstr(err.msg, "HRNetModelXX"));
    /* a missing tensor */
    rc = load_patched(buf, n, "backbone.blocks.3.mlp.fc2.weight",
                      "backbone.blocks.3.mlp.fc2.weighX", &err);
    printf("missing tensor: rc %d: %s\n", rc, err.msg);
    CHECK(rc == SA_ERR_FORMAT && strstr(err.msg, "backbone.blocks.3.mlp.fc2.weight"));
    /* a mis-shaped tensor: fc1 and fc2 weights of block 0 swap names */
    char *c = malloc(n);
    memcpy(c, buf, n);
    const char *k1 = "backbone.blocks.0.mlp.fc1.weight", *k2 = "backbone.blocks.0.mlp.fc2.weight";
    char *p1 = NULL, *p2 = NULL;
    for (size_t i = 0; i + strlen(k1) <= n; i++) {
        if (!p1 && !memcmp(c + i, k1, strlen(k1))) p1 = c + i;
        if (!p2 && !memcmp(c + i, k2, strlen(k2))) p2 = c + i;
    }
    CHECK(p1 && p2);
    if (p1 && p2) {
        p1[24] = '2';
        p2[24] = '1';
        rc = sa_sc_model_load_buffer((const uint8_t *)c, n, sa_sc_default_params(), &m, &err);
        printf("mis-shaped tensor: rc %d: %s\n", rc, err.msg);
        CHECK(rc == SA_ERR_FORMAT && strstr(err.msg, "shape") && strstr(err.msg, "mlp.fc"));
    }
    free(c);
    /* bad parameters */
    sa_sc_params bp = sa_sc_default_params();
    bp.threads = 0;
    CHECK(sa_sc_model_load_buffer((const uint8_t *)buf, n, bp, &m, &err) == SA_ERR_INVALID);
    bp = sa_sc_default_params();
    bp.prob_thresh = 1.5f;
    CHECK(sa_sc_model_load_buffer((const uint8_t *)buf, n, bp, &m, &err) == SA_ERR_INVALID);
    CHECK(sa_sc_model_load("/nonexistent/model.pth", sa_sc_default_params(), &m, &err) ==
          SA_ERR_IO);
    free(buf);
}

/* Without ZoomIn, a size whose patch grid does not split into windows is refused, as the reference
 * fails. */
static void unsupported_size(const char *pth) {
    sa_error err = {0};
    sa_sc_params p = sa_sc_default_params();
    p.zoom_in = 0;
    sa_sc_model *m = NULL;
    CHECK(sa_sc_model_load(pth, p, &m, &err) == SA_OK);
    sa_image img = {0};
    CHECK(sa_image_new(&img, 100, 300, 3, &err) ==
          SA_OK); /* 300 x 100: grid 18 x 6, under one window */
    sa_sc_session *s = NULL;
    CHECK(m && sa_sc_session_new(m, &img, &s, &err) == SA_OK);
    float *prob = malloc(sizeof(float) * 100 * 300);
    int roi[4];
    sa_sc_click c = {10, 10, 1};
    int rc = s ? sa_sc_predict(s, &c, 1, NULL, NULL, prob, roi, &err) : -1;
    printf("300x100 without ZoomIn: rc %d: %s\n", rc, err.msg);
    CHECK(rc == SA_ERR_UNSUPPORTED);
    free(prob);
    sa_sc_session_free(s);
    sa_image_free(&img);
    sa_sc_model_free(m);
}

/* Other shapes run: patch 14 (ViT-H's), depth 12 (groups of 6), a 16x16 crop grid interpolated to
 * 32x32 at 448 (2x2 windows of 16), odd widths; probabilities finite and in [0, 1], the same for 1
 * and 2 threads. */
static void other_shapes(const sa_image *img) {
    sa_sc_arch a;
    sa_error err = {0};
    CHECK(sa_sc_arch_preset("xtiny", &a, &err) == SA_OK);
    a.patch = 14, a.width = 40, a.depth = 12, a.heads = 4, a.mlp = 100, a.crop_h = a.crop_w = 16;
    a.neck_out[0] = 6, a.neck_out[1] = 10, a.neck_out[2] = 14, a.neck_out[3] = 18;
    a.neck_d4 = 20, a.neck_d8 = 20, a.neck_d32 = 80, a.head = 12;
    sa_sc_model *m = NULL;
    CHECKF(sa_sc_model_random(&a, 3, sa_sc_default_params(), &m, &err) == SA_OK, "%s", err.msg);
    if (!m) return;
    const size_t hw = (size_t)img->width * img->height;
    float *p1 = run_clicks(m, img, 1), *p2 = run_clicks(m, img, 2);
    long bad = 0;
    for (size_t i = 0; p1 && i < 3 * hw; i++)
        bad += !(p1[i] >= 0.0f && p1[i] <= 1.0f);
    printf("patch 14, depth 12, crop grid 16: %ld bad probabilities, threads 1/2 %s\n", bad,
           p1 && p2 && !memcmp(p1, p2, 3 * hw * sizeof(float)) ? "identical" : "DIFFER");
    CHECK(p1 && p2 && bad == 0 && !memcmp(p1, p2, 3 * hw * sizeof(float)));
    free(p1);
    free(p2);
    sa_sc_model_free(m);
}

int main(void) {
    tu_require_shared();
    char *dir = tu_shared_path("fixtures/simpleclick/tiny");
    char *pth = tu_shared_path("fixtures/simpleclick/tiny/model.pth");
    char *png = tu_shared_path("fixtures/simpleclick/tiny/image.png");
    parity(dir, 2, SA_SC_KERNELS_FAST);
    parity(dir, 1, SA_SC_KERNELS_FAST);
    parity(dir, 2, SA_SC_KERNELS_REFERENCE);
    parity(dir, 3, SA_SC_KERNELS_BLAS);
    sa_error err = {0};
    sa_sc_model *m = NULL;
    sa_image img = {0};
    CHECKF(sa_sc_model_load(pth, sa_sc_default_params(), &m, &err) == SA_OK, "%s", err.msg);
    CHECKF(sa_image_load(png, &img, &err) == SA_OK, "%s", err.msg);
    if (m && img.data) {
        parity_must_fail(dir, m);
        thread_independence(m, &img);
        tool_contract(pth, &img);
        other_shapes(&img);
    }
    bad_input(pth);
    unsupported_size(pth);
    sa_sc_model_free(m);
    sa_image_free(&img);
    free(dir);
    free(pth);
    free(png);
    return tu_finish("test_simpleclick_parity");
}
