/* SimpleClick speed and memory benchmark on random weights of published shapes (generated in memory
 * by sa_sc_model_random; no files), through the predictor as SegAgent runs it: ZoomIn to 448 (every
 * network call at 448x448) and flip averaging (the image and its mirror as one batch of two).
 * Reports seconds per click, seconds per network call (flip off: one call per click), GFLOPS
 * (analytic multiply-adds x 2), peak RSS beside the weights, and the ratio to the published CPU
 * figure of ~1.26 s per click for ViT-B (FocSAM).
 *
 *   bench_simpleclick [--arch vit_b|vit_l|vit_h|xtiny|all] [--threads N] [--clicks N] [--kernels
 * fast|blas|reference] Default: vit_b, 2 threads, 4 clicks. Each configuration runs in its own
 * child process (peak RSS per configuration). Wall times on a shared machine are noisy: CPU time is
 * printed beside them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "segagent/simpleclick.h"

static int g_bf16; /* --precision bf16 (set once in main, before any child process) */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * ru.ru_stime.tv_usec;
}

static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* Runs n clicks on a 640x480 image; returns the mean wall seconds per click (first click included).
 */
static double run(sa_sc_model *m, int flip, int clicks, double *cpu) {
    sa_error err = {0};
    sa_sc_params p = *sa_sc_model_params(m);
    p.flip = flip;
    sa_sc_model_set_params(m, p, &err);
    sa_image img = {0};
    sa_image_new(&img, 640, 480, 3, &err);
    for (int y = 0; y < img.height; y++)
        for (int x = 0; x < img.width; x++)
            for (int c = 0; c < 3; c++)
                img.data[((size_t)y * img.width + x) * 3 + c] =
                    (uint8_t)((x * (c + 1) + y * (3 - c)) & 255);
    sa_sc_session *s = NULL;
    if (sa_sc_session_new(m, &img, &s, &err) != SA_OK) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    float *prob = malloc(sizeof(float) * 640 * 480);
    sa_sc_click ck[64];
    int roi[4];
    double t0 = now_s(), c0 = cpu_s();
    for (int k = 0; k < clicks && k < 64; k++) {
        ck[k] = (sa_sc_click){.row = 200 + 7 * k, .col = 300 - 5 * k, .positive = k % 3 != 2};
        if (sa_sc_predict(s, ck, k + 1, k ? prob : NULL, k ? roi : NULL, prob, roi, &err) !=
            SA_OK) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
    }
    double t = (now_s() - t0) / clicks;
    *cpu = (cpu_s() - c0) / clicks;
    free(prob);
    sa_sc_session_free(s);
    sa_image_free(&img);
    return t;
}

static int bench_arch(const char *name, int threads, int clicks, int kernels) {
    sa_error err = {0};
    sa_sc_arch arch;
    if (sa_sc_arch_preset(name, &arch, &err) != SA_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    sa_sc_params p = sa_sc_default_params();
    p.threads = threads;
    p.kernels = kernels;
    p.precision = g_bf16 ? SA_SC_PRECISION_BF16 : 0; /* --precision bf16 */
    sa_sc_model *m = NULL;
    if (sa_sc_model_random(&arch, 42, p, &m, &err) != SA_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const double wmib = (double)sa_sc_model_param_count(m) * 4.0 / (1024.0 * 1024.0);
    const double gmac = sa_sc_macs(&arch, 448, 448) / 1e9;
    double c1 = 0, c2 = 0;
    double t1 = run(m, 0, clicks, &c1); /* one network call per click */
    double t2 = run(m, 1, clicks, &c2); /* flip: one batch of two */
    double rss = peak_rss_mib();
    printf("%-6s threads %d: %.1fM params (%.0f MiB), %.1f GMAC per call at 448\n", name, threads,
           (double)sa_sc_model_param_count(m) / 1e6, wmib, gmac);
    printf("       network call (flip off): %.3f s per click (cpu %.2f s), %.1f GFLOPS\n", t1, c1,
           2 * gmac / t1);
    printf("       with flip (batch of 2):   %.3f s per click (cpu %.2f s), %.1f GFLOPS, %.2fx "
           "FocSAM's 1.26 s\n",
           t2, c2, 4 * gmac / t2, t2 / 1.26);
    printf("       peak RSS %.0f MiB (weights %.0f MiB + %.0f MiB)\n", rss, wmib, rss - wmib);
    fflush(stdout);
    sa_sc_model_free(m);
    return 0;
}

int main(int argc, char **argv) {
    const char *arch = "vit_b", *kern = "fast";
    int threads = 2, clicks = 4;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--arch") && i + 1 < argc)
            arch = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--clicks") && i + 1 < argc)
            clicks = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--kernels") && i + 1 < argc)
            kern = argv[++i];
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc)
            g_bf16 = !strcmp(argv[++i], "bf16");
        else {
            fprintf(stderr,
                    "usage: bench_simpleclick [--arch vit_b|vit_l|vit_h|xtiny|all] [--threads N] "
                    "[--clicks N] [--kernels fast|blas|reference] [--precision fp32|bf16]\n");
            return 2;
        }
    }
    if (threads < 1 || clicks < 1 || clicks > 64) return 2;
    int kernels = !strcmp(kern, "blas")        ? SA_SC_KERNELS_BLAS
                  : !strcmp(kern, "reference") ? SA_SC_KERNELS_REFERENCE
                                               : SA_SC_KERNELS_FAST;
    const char *all[] = {"xtiny", "vit_b", "vit_l", "vit_h"};
    const char *one[] = {arch};
    const char **list = strcmp(arch, "all") ? one : all;
    int n = strcmp(arch, "all") ? 1 : 4, status = 0;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) _exit(bench_arch(list[i], threads, clicks, kernels));
        int st = 0;
        if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) status = 1;
    }
    return status;
}
