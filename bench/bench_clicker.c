/* Simulated-annotator benchmark: milliseconds per sa_clicker_next / sa_clicker_run on the GrabCut
 * and Berkeley ground-truth masks, with the predictions of a realistic annotation loop (the toy
 * disc tool of the clicker fixtures: 20 clicks from an empty mask, errors shrinking as it goes),
 * and on a near-converged prediction (the ground truth shifted by 2 pixels). For scale, the time of
 * the straightforward method (distance transform of both padded full-size error maps) is printed
 * beside it. No assertions.
 *
 *   bench_clicker [SHARED_DIR]      (default: $SEGAGENT_SHARED, else ../shared)
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "segagent/clicker.h"
#include "segagent/edt.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* CPU time of this thread: on a shared, loaded machine a steadier estimate than wall time. */
static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void apply_disc(sa_mask *pred, int cy, int cx, int r, int positive) {
    for (int y = cy - r; y <= cy + r; y++)
        for (int x = cx - r; x <= cx + r; x++)
            if (y >= 0 && y < pred->height && x >= 0 && x < pred->width &&
                (y - cy) * (y - cy) + (x - cx) * (x - cx) <= r * r)
                pred->data[(size_t)y * (size_t)pred->width + (size_t)x] = (uint8_t)positive;
}

/* The plain method: both error maps padded to full size, transformed whole. Returns elapsed ms. */
static double full_size_ms(const sa_mask *gt, const sa_mask *ign, const sa_mask *pred) {
    int W = gt->width + 2, H = gt->height + 2;
    uint8_t *m = calloc((size_t)W * (size_t)H, 1);
    uint32_t *d = malloc(sizeof *d * (size_t)W * (size_t)H);
    if (!m || !d) exit(1);
    double t0 = now_ms();
    for (int k = 0; k < 2; k++) {
        for (int y = 0; y < gt->height; y++)
            for (int x = 0; x < gt->width; x++) {
                size_t i = (size_t)y * (size_t)gt->width + (size_t)x;
                int e = k ? (!gt->data[i] && pred->data[i]) : (gt->data[i] && !pred->data[i]);
                m[(size_t)(y + 1) * (size_t)W + (size_t)(x + 1)] =
                    (uint8_t)(e && !(ign->data && ign->data[i]));
            }
        sa_edt_sq(m, W, H, (size_t)W, 0, d, NULL);
    }
    double t = now_ms() - t0;
    free(m);
    free(d);
    return t;
}

typedef struct stats {
    int images, clicks;
    double ms_next, ms_run, cpu_run, ms_full, ms_conv;
    int conv_n;
} stats;

static void bench_mask(const char *path, int ignore_value, sa_clicker *ck, stats *st) {
    sa_mask gt = {0}, ign = {0}, pred = {0}, shifted = {0};
    sa_error err = {0};
    if (sa_mask_load(path, ignore_value, &gt, ignore_value >= 0 ? &ign : NULL, &err) != SA_OK) {
        fprintf(stderr, "skip %s: %s\n", err.msg[0] ? err.msg : "unreadable", path);
        return;
    }
    sa_mask_new(&pred, gt.width, gt.height, NULL);
    sa_click clicks[20];
    int n = 0;
    for (; n < 20; n++) {
        sa_clicker_click c, c2;
        double t0 = now_ms();
        int rc = sa_clicker_next(&gt, &ign, &pred, clicks, n, &c, &err);
        double t1 = now_ms(), u1 = cpu_ms();
        int rc2 = sa_clicker_run(ck, &gt, &ign, &pred, clicks, n, &c2, &err);
        double t2 = now_ms();
        st->cpu_run += cpu_ms() - u1;
        st->ms_full += full_size_ms(&gt, &ign, &pred);
        st->ms_next += t1 - t0;
        st->ms_run += t2 - t1;
        st->clicks++;
        if (rc != SA_OK || rc2 != SA_OK) break;
        clicks[n] = (sa_click){.y = c.y, .x = c.x, .positive = c.positive};
        apply_disc(&pred, c.y, c.x, 19, c.positive);
    }
    /* near-converged: gt shifted right and down by 2 pixels */
    sa_mask_new(&shifted, gt.width, gt.height, NULL);
    for (int y = 2; y < gt.height; y++)
        for (int x = 2; x < gt.width; x++)
            shifted.data[(size_t)y * (size_t)gt.width + (size_t)x] =
                gt.data[(size_t)(y - 2) * (size_t)gt.width + (size_t)(x - 2)];
    sa_clicker_click c;
    double t0 = now_ms();
    for (int r = 0; r < 10; r++)
        sa_clicker_run(ck, &gt, &ign, &shifted, NULL, 0, &c, &err);
    st->ms_conv += (now_ms() - t0) / 10;
    st->conv_n++;
    st->images++;
    sa_mask_free(&gt);
    sa_mask_free(&ign);
    sa_mask_free(&pred);
    sa_mask_free(&shifted);
}

static int run_dir(const char *dir, int ignore_value, const char *name, sa_clicker *ck) {
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "%s: cannot open %s\n", name, dir);
        return 0;
    }
    stats st = {0};
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        bench_mask(path, ignore_value, ck, &st);
    }
    closedir(d);
    if (!st.clicks) return 0;
    printf("%-9s %3d masks %5d clicks | wall ms/click: sa_clicker_next %.3f, sa_clicker_run %.3f "
           "(CPU %.3f) | full-size EDT x2 %.3f | near-converged pred %.3f\n",
           name, st.images, st.clicks, st.ms_next / st.clicks, st.ms_run / st.clicks,
           st.cpu_run / st.clicks, st.ms_full / st.clicks,
           st.ms_conv / (st.conv_n ? st.conv_n : 1));
    return 1;
}

int main(int argc, char **argv) {
    const char *shared = argc > 1 ? argv[1] : getenv("SEGAGENT_SHARED");
    if (!shared || !*shared) shared = "../shared";
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s/data/GrabCut/boundary_GT", shared);
    snprintf(b, sizeof b, "%s/data/Berkeley/masks", shared);
    sa_clicker *ck = NULL;
    if (sa_clicker_new(&ck, NULL) != SA_OK) return 1;
    int any = run_dir(a, 128, "GrabCut", ck);
    any |= run_dir(b, -1, "Berkeley", ck);
    sa_clicker_free(ck);
    if (!any) {
        fprintf(stderr, "no masks found under %s/data (pass the shared folder as the argument)\n",
                shared);
        return 1;
    }
    return 0;
}
