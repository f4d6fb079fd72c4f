/* SAM parity against the reference fixtures (fixtures/sam/tiny and b1024): every tensor of expected.safetensors
 * within the README tolerances, for the safetensors and the official .pth of tiny, with each kernel set; and
 * thread-count independence (identical masks, logits equal to float rounding for 1, 2 and 3 threads). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/sam.h"
#include "testutil.h"

static void print_line(void *ctx, const char *line) {
    (void)ctx;
    printf("    %s\n", line);
}

static void parity(const char *dir, const char *weights, int threads, int kernels) {
    sa_sam_check_params p = sa_sam_check_default_params();
    p.threads = threads;
    p.kernels = kernels;
    p.weights = weights;
    sa_error err = {0};
    int fails = -1;
    printf("parity %s weights=%s threads=%d kernels=%d\n", dir,
           weights ? weights : "model.safetensors", threads, kernels);
    int rc = sa_sam_check_fixture(dir, p, print_line, NULL, &fails, &err);
    CHECKF(rc == SA_OK, "%s: %s", dir, err.msg);
    CHECKF(fails == 0, "%s (%s): %d tensors out of tolerance", dir,
           weights ? weights : "model.safetensors", fails);
}

/* The checker must be able to fail: b1024's expectations against tiny's weights. */
static void parity_must_fail(const char *dir, const char *weights) {
    sa_sam_check_params p = sa_sam_check_default_params();
    p.weights = weights;
    sa_error err = {0};
    int fails = 0;
    int rc = sa_sam_check_fixture(dir, p, NULL, NULL, &fails, &err);
    printf("mismatched fixture: rc %d, %d tensors out of tolerance\n", rc, fails);
    CHECK(rc == SA_OK && fails > 0);
}

/* Runs every case of a few prompts with the given thread count; returns low-res and full logits concatenated. */
static float *run_threads(sa_sam_model *m, const sa_image *img, int threads, size_t *n_out) {
    sa_error err = {0};
    CHECK(sa_sam_model_set_threads(m, threads, &err) == SA_OK);
    sa_sam_image *e = NULL;
    if (sa_sam_encode(m, img, NULL, NULL, &e, &err) != SA_OK) {
        CHECKF(0, "encode: %s", err.msg);
        return NULL;
    }
    float pts[6] = {70.5f, 40.f, 150.f, 120.f, 220.f, 60.f};
    int labels[3] = {1, 0, 1};
    float box[4] = {30, 20, 200, 180};
    sa_sam_prompt pr[3] = {
        {.points = pts, .labels = labels, .n_points = 1, .multimask = 1},
        {.points = pts, .labels = labels, .n_points = 3, .multimask = 0},
        {.points = pts, .labels = labels, .n_points = 2, .box = box, .multimask = 1}};
    size_t cap = 0, n = 0;
    float *all = NULL;
    for (int i = 0; i < 3; i++) {
        sa_sam_output o = {0};
        if (sa_sam_predict(e, &pr[i], &o, &err) != SA_OK) {
            CHECKF(0, "predict: %s", err.msg);
            break;
        }
        size_t nl = (size_t)o.n_masks * o.low_res * o.low_res,
               nf = (size_t)o.n_masks * o.width * o.height;
        if (n + nl + nf > cap) {
            cap = (n + nl + nf) * 2;
            all = realloc(all, cap * sizeof(float));
        }
        memcpy(all + n, o.low_res_logits, nl * sizeof(float));
        memcpy(all + n + nl, o.mask_logits, nf * sizeof(float));
        n += nl + nf;
        sa_sam_output_free(&o);
    }
    sa_sam_image_free(e);
    *n_out = n;
    return all;
}

static void thread_independence(const char *dir) {
    char path[4200];
    if (snprintf(path, sizeof path, "%s/model.safetensors", dir) >= (int)sizeof path) return;
    sa_error err = {0};
    sa_sam_model *m = NULL;
    if (sa_sam_model_load(path, sa_sam_default_params(), &m, &err) != SA_OK) {
        CHECKF(0, "load: %s", err.msg);
        return;
    }
    if (snprintf(path, sizeof path, "%s/image.png", dir) >= (int)sizeof path) return;
    sa_image img = {0};
    CHECKF(sa_image_load(path, &img, &err) == SA_OK, "%s", err.msg);
    size_t n1 = 0, n2 = 0, n3 = 0;
    float *a = run_threads(m, &img, 1, &n1), *b = run_threads(m, &img, 2, &n2),
          *c = run_threads(m, &img, 3, &n3);
    CHECK(a && b && c && n1 == n2 && n1 == n3 && n1 > 0);
    if (a && b && c && n1 == n2 && n1 == n3) {
        double worst = 0;
        long sign = 0;
        for (size_t i = 0; i < n1; i++) {
            worst = fmax(worst, fabs((double)a[i] - b[i]));
            worst = fmax(worst, fabs((double)a[i] - c[i]));
            if ((a[i] > 0) != (b[i] > 0) || (a[i] > 0) != (c[i] > 0)) sign++;
        }
        printf("threads 1/2/3: %zu logits, max |diff| %.3g, %ld mask pixels differ\n", n1, worst,
               sign);
        CHECKF(worst <= 1e-5, "logits differ by %g between thread counts", worst);
        CHECKF(sign == 0, "%ld mask pixels differ between thread counts", sign);
    }
    free(a);
    free(b);
    free(c);
    sa_image_free(&img);
    sa_sam_model_free(m);
}

int main(void) {
    const char *shared = tu_require_shared();
    char *tiny = tu_shared_path("fixtures/sam/tiny"), *b1024 = tu_shared_path("fixtures/sam/b1024");
    char *pth = tu_shared_path("fixtures/sam/tiny/sam_official.pth");
    (void)shared;

    parity(tiny, NULL, 2, SA_SAM_KERNELS_FAST);
    parity(tiny, pth, 2, SA_SAM_KERNELS_FAST);
    parity(tiny, NULL, 1, SA_SAM_KERNELS_REFERENCE);
    parity(tiny, pth, 2, SA_SAM_KERNELS_BLAS);
    parity(b1024, NULL, 2, SA_SAM_KERNELS_FAST);
    char *tiny_st = tu_shared_path("fixtures/sam/tiny/model.safetensors");
    parity_must_fail(b1024, tiny_st);
    free(tiny_st);
    thread_independence(tiny);
    thread_independence(
        b1024); /* the real decoder width: the re-associated cross attentions run there */
    free(tiny);
    free(b1024);
    free(pth);
    return tu_finish("test_sam_parity");
}
