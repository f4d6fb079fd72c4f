/* Graph-cut tool benchmark: accuracy with the simulated annotator (docs/annotator.md) on GrabCut / Berkeley
 * style datasets, and per-click latency.
 *
 *   bench_graphcut [--data DIR] [--set grabcut|berkeley|both] [--every K] [--offset I] [--clicks N]
 *                  [--lambda F] [--radius F] [--keep F] [--iters N] [--star 0|1] [--comp N] [--dw F] [-v]
 *   bench_graphcut --latency [--data DIR]      time per click on a GrabCut image resized to 0.25 MP
 *   BENCH_CPU=1 bench_graphcut ...             per-click CPU time of the step instead of tool wall time
 *
 * Prints NoC@80/85/90, NoF@85/90, mIoU@1/2/3/5/10/20 and ms/click per dataset.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "segagent/dataset.h"
#include "segagent/evaluate.h"
#include "segagent/graphcut.h"
#include "segagent/metrics.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* With BENCH_CPU set, a click's time is the calling thread's CPU time for its whole step (annotator, tool and
 * IoU), taken from the step hook: on a loaded host wall time also counts the waits for a core. */
typedef struct cpu_clock {
    double last;
    double *ms;
} cpu_clock;

static double thread_cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int on_step_cpu(void *user, const sa_env *env, const sa_eval_step *st) {
    (void)env;
    cpu_clock *c = user;
    double now = thread_cpu_ms();
    c->ms[st->step - 1] = now - c->last;
    c->last = now;
    return 0;
}

/* One episode on the episode engine with the simulated annotator (the same code `segagent eval` runs); fills
 * iou[0..n-1] and ms[0..n-1] (tool wall time, or step CPU time with BENCH_CPU); returns clicks made or -1. */
static int episode(sa_tool *tool, const sa_image *img, const sa_mask *gt, const sa_mask *ign,
                   int max_clicks, double *iou, double *ms, sa_error *err) {
    sa_eval_params p = sa_eval_default_params();
    p.max_clicks = max_clicks;
    sa_eval_sample smp;
    int cpu = getenv("BENCH_CPU") != NULL;
    cpu_clock clk = {thread_cpu_ms(), ms};
    int rc = sa_eval_episode(tool, img, gt, ign, p, cpu ? on_step_cpu : NULL, &clk, &smp, err);
    int n = rc == SA_OK ? smp.n : -1;
    for (int k = 0; k < n; k++) {
        iou[k] = smp.iou[k];
        if (!cpu) ms[k] = smp.ms[k];
    }
    sa_eval_sample_free(&smp);
    return n;
}

static int run_set(sa_tool *tool, const char *name, const char *dir, int offset, int every,
                   int max_clicks, int verbose) {
    sa_error err = {0};
    sa_dataset *ds = NULL;
    if (sa_dataset_open(name, dir, sa_dataset_default_params(), &ds, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    sa_metrics *m = NULL;
    if (sa_metrics_new(max_clicks, &m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        sa_dataset_free(ds);
        return 1;
    }
    double t_all = now_ms();
    for (int i = offset; i < sa_dataset_count(ds); i += every) {
        sa_image img = {0};
        sa_mask gt = {0}, ign = {0};
        if (sa_dataset_load(ds, i, &img, &gt, &ign, &err)) {
            fprintf(stderr, "skip: %s\n", err.msg);
            continue;
        }
        double iou[SA_METRICS_MAX_CLICKS], ms[SA_METRICS_MAX_CLICKS];
        int n = episode(tool, &img, &gt, &ign, max_clicks, iou, ms, &err);
        if (n < 0) {
            fprintf(stderr, "%s: %s\n", sa_dataset_item_name(ds, i), err.msg);
        } else {
            sa_metrics_curve c = {.iou = iou, .ms = ms, .n = n, .iou0 = 0};
            sa_metrics_add(m, &c, &err);
            if (verbose) {
                printf("%-12s NoC85 %2d NoC90 %2d  IoU@1 %.3f @5 %.3f @20 %.3f\n",
                       sa_dataset_item_name(ds, i), sa_metrics_noc(iou, n, 0, max_clicks, 0.85),
                       sa_metrics_noc(iou, n, 0, max_clicks, 0.9), n > 0 ? iou[0] : 0,
                       n > 4 ? iou[4] : (n ? iou[n - 1] : 0), n ? iou[n - 1] : 0);
                if (verbose > 1) {
                    for (int k = 0; k < n; k++)
                        printf(" %.3f", iou[k]);
                    printf("\n");
                }
                fflush(stdout);
            }
        }
        sa_image_free(&img);
        sa_mask_free(&gt);
        sa_mask_free(&ign);
    }
    sa_metrics_summary s;
    sa_metrics_summarize(m, &s);
    printf(
        "%-9s n=%3d NoC@80 %5.2f NoC@85 %5.2f NoC@90 %5.2f NoF@85 %3d NoF@90 %3d | mIoU@1 %.4f @2 %.4f @3 %.4f "
        "@5 %.4f @10 %.4f @20 %.4f | ms/click %.1f (p95 %.1f) total %.1fs\n",
        name, s.n_samples, s.noc[SA_TAU_80], s.noc[SA_TAU_85], s.noc[SA_TAU_90], s.nof[SA_TAU_85],
        s.nof[SA_TAU_90], sa_metrics_miou_at(&s, 1), sa_metrics_miou_at(&s, 2),
        sa_metrics_miou_at(&s, 3), sa_metrics_miou_at(&s, 5), sa_metrics_miou_at(&s, 10),
        sa_metrics_miou_at(&s, 20), s.ms_mean, s.ms_p95, (now_ms() - t_all) / 1e3);
    fflush(stdout);
    sa_metrics_free(m);
    sa_dataset_free(ds);
    return 0;
}

/* Latency on a 0.25-MP image: the first GrabCut image resized to 577x433, its mask by nearest neighbour. */
static int latency(sa_tool *tool, const char *dir, int max_clicks) {
    sa_error err = {0};
    sa_dataset *ds = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/GrabCut", dir);
    if (sa_dataset_open("GrabCut", path, sa_dataset_default_params(), &ds, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double sum = 0, worst = 0, by_k[SA_METRICS_MAX_CLICKS] = {0};
    long cnt = 0, n_k[SA_METRICS_MAX_CLICKS] = {0};
    for (int i = 0; i < sa_dataset_count(ds) && i < 10; i++) {
        sa_image img = {0}, big = {0};
        sa_mask gt = {0}, ign = {0}, gt2 = {0}, ign2 = {0};
        if (sa_dataset_load(ds, i, &big, &gt, &ign, &err)) continue;
        const int W = 577, H = 433;
        if (sa_image_resize_bilinear(&big, W, H, &img, &err) || sa_mask_new(&gt2, W, H, &err) ||
            sa_mask_new(&ign2, W, H, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int sx = (int)((x + 0.5) * gt.width / W), sy = (int)((y + 0.5) * gt.height / H);
                gt2.data[y * W + x] = gt.data[sy * gt.width + sx];
                ign2.data[y * W + x] = ign.data ? ign.data[sy * gt.width + sx] : 0;
            }
        double iou[SA_METRICS_MAX_CLICKS], ms[SA_METRICS_MAX_CLICKS];
        int n = episode(tool, &img, &gt2, &ign2, max_clicks, iou, ms, &err);
        for (int k = 0; k < n; k++) {
            sum += ms[k];
            cnt++;
            if (ms[k] > worst) worst = ms[k];
            by_k[k] += ms[k];
            n_k[k]++;
        }
        sa_image_free(&img);
        sa_image_free(&big);
        sa_mask_free(&gt);
        sa_mask_free(&ign);
        sa_mask_free(&gt2);
        sa_mask_free(&ign2);
    }
    printf("latency 577x433 (0.25 MP): %.1f ms/click mean, %.1f ms worst, over %ld clicks\n",
           cnt ? sum / cnt : 0.0, worst, cnt);
    printf("by click:");
    for (int k = 0; k < max_clicks; k++)
        if (n_k[k]) printf(" %.0f", by_k[k] / n_k[k]);
    printf("\n");
    sa_dataset_free(ds);
    return 0;
}

int main(int argc, char **argv) {
    const char *data = "../shared/data";
    const char *set = "both";
    int every = 1, offset = 0, clicks = 20, verbose = 0, lat = 0;
    sa_graphcut_params p = sa_graphcut_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-v"))
            verbose = 1;
        else if (!strcmp(a, "-vv"))
            verbose = 2; /* also the IoU after every click */
        else if (!strcmp(a, "--latency"))
            lat = 1;
        else if (!v) {
            fprintf(stderr, "bench_graphcut: %s needs a value\n", a);
            return 2;
        } else if (!strcmp(a, "--data"))
            data = v, i++;
        else if (!strcmp(a, "--set"))
            set = v, i++;
        else if (!strcmp(a, "--every"))
            every = atoi(v), i++;
        else if (!strcmp(a, "--offset"))
            offset = atoi(v), i++;
        else if (!strcmp(a, "--clicks"))
            clicks = atoi(v), i++;
        else if (!strcmp(a, "--lambda"))
            p.lambda = (float)atof(v), i++;
        else if (!strcmp(a, "--radius"))
            p.click_radius = (float)atof(v), i++;
        else if (!strcmp(a, "--keep"))
            p.keep = (float)atof(v), i++;
        else if (!strcmp(a, "--iters"))
            p.iterations = atoi(v), i++;
        else if (!strcmp(a, "--star"))
            p.star_convexity = atoi(v), i++;
        else if (!strcmp(a, "--comp"))
            p.components = atoi(v), i++;
        else if (!strcmp(a, "--dw"))
            p.data_weight = (float)atof(v), i++;
        else {
            fprintf(stderr, "bench_graphcut: unknown option %s\n", a);
            return 2;
        }
    }
    if (every < 1 || offset < 0 || clicks < 1 || clicks > SA_METRICS_MAX_CLICKS) {
        fprintf(stderr, "bench_graphcut: bad --every or --clicks\n");
        return 2;
    }
    sa_error err = {0};
    sa_tool *tool = NULL;
    if (sa_graphcut_tool_new(p, &tool, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int rc = 0;
    char path[4096];
    if (lat) {
        rc = latency(tool, data, clicks);
    } else {
        if (!strcmp(set, "grabcut") || !strcmp(set, "both")) {
            snprintf(path, sizeof path, "%s/GrabCut", data);
            rc |= run_set(tool, "GrabCut", path, offset, every, clicks, verbose);
        }
        if (!strcmp(set, "berkeley") || !strcmp(set, "both")) {
            snprintf(path, sizeof path, "%s/Berkeley", data);
            rc |= run_set(tool, "Berkeley", path, offset, every, clicks, verbose);
        }
    }
    sa_tool_free(tool);
    return rc;
}
