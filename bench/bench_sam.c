/* SAM speed and memory benchmark on random weights of published shapes (no files: weights are generated in
 * memory by sa_sam_model_random), driven through the interactive tool (sa_sam_tool_new): the session start
 * (pre-processing + image encoder) per image and each prediction (prompt encoder + mask decoder +
 * post-processing of the kept mask, all clicks so far, previous logits fed back, multimask on the first click)
 * per click. Reports GFLOPS (analytic count of the encoder's multiply-adds x 2, the windows' padding tokens
 * counted as the reference computes them, although the encoder skips the padding queries and their qkv rows)
 * and peak RSS.
 *
 *   bench_sam [--arch vit_b|vit_l|vit_h|slimsam50|slimsam77|all] [--threads 1,2] [--images N] [--clicks N]
 *             [--kernels fast|blas|reference] [--precision fp32|bf16]
 * Default: vit_b and slimsam77, threads 1 and 2, 1 image, 10 clicks. Each configuration runs in its own child
 * process (peak RSS per configuration). Wall times on a shared machine are noisy: CPU time (all threads) is
 * printed beside them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "segagent/sam.h"

static int g_bf16; /* --precision bf16 (set once in main, before any child process) */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_s(void) { /* user + system time of all threads */
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

/* Multiply-adds of the image encoder (linear layers, attention incl. relative positions, patch embed, neck). */
static double encoder_macs(const sa_sam_arch *a, double *linear_macs) {
    const double g = a->image_size / a->patch_size, N = g * g, C = a->width, D = a->out_chans;
    const double hd = C / a->heads, w = a->window, nws = ceil(g / w), Nw = nws * nws * w * w;
    double lin = N * 3 * a->patch_size * a->patch_size * C + N * C * D + N * 9 * D * D, att = 0;
    for (int i = 0; i < a->depth; i++) {
        double toks = a->global[i] ? N : Nw, T = a->global[i] ? N : w * w, S = a->global[i] ? g : w;
        lin += toks * C * 3 * C + N * C * C + 2 * N * C * a->mlp_dim;
        att += toks * T * hd * 2 * a->heads + toks * S * hd * 2 * a->heads;
    }
    *linear_macs = lin;
    return lin + att;
}

static int bench_arch(const char *name, int threads, int images, int clicks, int kernels) {
    sa_error err = {0};
    sa_sam_arch arch;
    if (sa_sam_arch_preset(name, &arch, &err) != SA_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    sa_sam_params p = sa_sam_default_params();
    p.threads = threads;
    p.kernels = kernels;
    p.precision = g_bf16 ? SA_SAM_PRECISION_BF16 : 0; /* --precision bf16 */
    sa_sam_model *m = NULL;
    double t0 = now_s();
    if (sa_sam_model_random(&arch, 42, p, &m, &err) != SA_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double t_load = now_s() - t0;
    double wmib = (double)sa_sam_model_param_count(m) * 4.0 / (1024.0 * 1024.0);
    /* a 640 x 480 test image with some structure */
    sa_image img = {0};
    sa_image_new(&img, 640, 480, 3, &err);
    for (int y = 0; y < img.height; y++)
        for (int x = 0; x < img.width; x++)
            for (int c = 0; c < 3; c++)
                img.data[((size_t)y * img.width + x) * 3 + c] =
                    (uint8_t)((x * (c + 1) + y * (3 - c) + (x * y) % 17) & 255);
    double lin = 0, macs = encoder_macs(&arch, &lin);
    double enc_best = 1e30, enc_sum = 0, dec_sum = 0, dec_best = 1e30, enc_cpu = 0, dec_cpu = 0;
    int n_dec = 0;
    /* the interactive tool: session = pre-processing + encoder; each click = prompt encoder + decoder +
     * post-processing of the kept mask, previous logits fed back (multimask on the first click) */
    sa_tool *tool = NULL;
    if (sa_sam_tool_new(m, &tool, &err) != SA_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    m = NULL; /* owned by the tool */
    /* every image is the same: without this the tool's embedding cache would serve images 2.. and the
     * encoder would be timed once */
    sa_tool_cache_params cp = sa_tool_cache_default_params();
    cp.max_bytes = 0;
    if (sa_tool_set_cache(tool, cp, &err) != SA_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    for (int it = 0; it < images; it++) {
        sa_tool_session *s = NULL;
        double c0 = cpu_s();
        t0 = now_s();
        if (sa_tool_session_new(tool, &img, &s, &err) != SA_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double t = now_s() - t0;
        enc_cpu += cpu_s() - c0;
        enc_sum += t;
        if (t < enc_best) enc_best = t;
        sa_click cl[64];
        sa_tool_result prev = {0}, cur = {0};
        for (int k = 0; k < clicks && k < 64; k++) {
            cl[k].x = (97 * k + 31) % img.width;
            cl[k].y = (61 * k + 17) % img.height;
            cl[k].positive = k % 3 != 1;
            sa_tool_request rq = {.clicks = cl, .n_clicks = k + 1, .prev = k ? &prev : NULL};
            c0 = cpu_s();
            t0 = now_s();
            if (sa_tool_session_predict(s, &rq, &cur, &err) != SA_OK) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
            t = now_s() - t0;
            dec_cpu += cpu_s() - c0;
            dec_sum += t;
            n_dec++;
            if (t < dec_best) dec_best = t;
            sa_tool_result_free(&prev);
            prev = cur;
            memset(&cur, 0, sizeof cur);
        }
        sa_tool_result_free(&prev);
        sa_tool_session_free(s);
    }
    double enc_mean = enc_sum / images;
    printf(
        "%-10s threads=%d  encoder %.2f s/image (best %.2f)  %.1f GFLOPS (%.0f GFLOP, linear %.0f)  decoder %.1f ms/click "
        "(best %.1f, %d clicks)  CPU time: encoder %.2f s, decoder %.1f ms  weights %.0f MiB  peak RSS %.0f MiB (weights + %.0f)  init %.1f s\n",
        name, threads, enc_mean, enc_best, 2 * macs / enc_best / 1e9, 2 * macs / 1e9, 2 * lin / 1e9,
        1e3 * dec_sum / (n_dec ? n_dec : 1), 1e3 * dec_best, n_dec, enc_cpu / images,
        1e3 * dec_cpu / (n_dec ? n_dec : 1), wmib, peak_rss_mib(), peak_rss_mib() - wmib, t_load);
    fflush(stdout);
    sa_image_free(&img);
    sa_tool_free(tool);
    return 0;
}

int main(int argc, char **argv) {
    const char *arch = NULL, *threads = "1,2", *kern = "fast";
    int images = 1, clicks = 10;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--arch") && i + 1 < argc)
            arch = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = argv[++i];
        else if (!strcmp(argv[i], "--images") && i + 1 < argc)
            images = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--clicks") && i + 1 < argc)
            clicks = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--kernels") && i + 1 < argc)
            kern = argv[++i];
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc)
            g_bf16 = !strcmp(argv[++i], "bf16");
        else {
            fprintf(
                stderr,
                "usage: %s [--arch NAME|all] [--threads 1,2] [--images N] [--clicks N] [--kernels fast|blas|reference]\n",
                argv[0]);
            return 2;
        }
    }
    if (images < 1) images = 1;
    if (clicks < 1) clicks = 1;
    int kernels = !strcmp(kern, "blas")        ? SA_SAM_KERNELS_BLAS
                  : !strcmp(kern, "reference") ? SA_SAM_KERNELS_REFERENCE
                                               : SA_SAM_KERNELS_FAST;
    const char *all[] = {"vit_b", "slimsam77"};
    const char *every[] = {"vit_b", "vit_l", "vit_h", "slimsam50", "slimsam77"};
    const char **list = all;
    int n_list = 2;
    if (arch && !strcmp(arch, "all"))
        list = every, n_list = 5;
    else if (arch)
        list = &arch, n_list = 1;
    printf("bench_sam: %s, kernels=%s, %d image(s) of 640x480, %d clicks per image\n",
           g_bf16 ? "BF16 ViT linear layers and attention" : "FP32", kern, images, clicks);
    for (int a = 0; a < n_list; a++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", threads);
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            /* one child process per configuration, so that peak RSS is that configuration's own */
            fflush(stdout);
            pid_t pid = fork();
            if (pid == 0)
                _exit(bench_arch(list[a], atoi(tok) > 0 ? atoi(tok) : 1, images, clicks, kernels));
            int st = 0;
            if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                return 1;
        }
    }
    return 0;
}
