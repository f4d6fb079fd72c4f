/* Shared output of the benchmark-style commands (eval, annotate, demo): table, JSON pieces, overlays. Kept in
 * one place so the three commands print and write the same keys and layout. */
#include "cli_report.h"

#include "segagent/fileio.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cli_metrics_table_header(FILE *f, int max_clicks) {
    cli_printf(f, "%-14s %7s %7s %7s %7s %7s %7s", "dataset", "samples", "NoC@80", "NoC@85",
               "NoC@90", "NoF@85", "NoF@90");
    for (int i = 0; i < SA_METRICS_N_K; i++) {
        if (sa_metrics_ks[i] > max_clicks) continue;
        char h[16];
        snprintf(h, sizeof h, "mIoU@%d", sa_metrics_ks[i]);
        cli_printf(f, " %8s", h);
    }
    cli_printf(f, " %9s\n", "ms/click");
}

void cli_metrics_table_row(FILE *f, const char *name, const sa_metrics_summary *s, int max_clicks) {
    cli_printf(f, "%-14.14s %7d %7.2f %7.2f %7.2f %7d %7d", name, s->n_samples, s->noc[SA_TAU_80],
               s->noc[SA_TAU_85], s->noc[SA_TAU_90], s->nof[SA_TAU_85], s->nof[SA_TAU_90]);
    for (int i = 0; i < SA_METRICS_N_K; i++) {
        if (sa_metrics_ks[i] > max_clicks) continue;
        cli_printf(f, " %8.4f", sa_metrics_miou_at(s, sa_metrics_ks[i]));
    }
    cli_printf(f, " %9.1f\n", s->ms_mean);
}

void cli_metrics_latency_line(FILE *f, const char *name, const sa_metrics_summary *s) {
    cli_printf(f, "%s: %ld clicks, tool time per click mean %.1f ms, median %.1f ms, p95 %.1f ms\n",
               name, s->n_clicks, s->ms_mean, s->ms_median, s->ms_p95);
}

static void put_px(sa_image *img, int y, int x, const uint8_t c[3]) {
    if (y < 0 || x < 0 || y >= img->height || x >= img->width) return;
    uint8_t *p = img->data + ((size_t)y * (size_t)img->width + (size_t)x) * 3;
    p[0] = c[0], p[1] = c[1], p[2] = c[2];
}

/* Filled dot of radius r inside a white rim and a dark outline (visible on the green overlay and on any photo);
 * with ring > 0 also a thin white-on-dark ring of that radius. */
static void marker(sa_image *img, int cy, int cx, int r, const uint8_t fill[3], int ring) {
    static const uint8_t white[3] = {255, 255, 255}, dark[3] = {20, 20, 20};
    int R = (ring > r + 2 ? ring : r + 2) + 2;
    for (int dy = -R; dy <= R; dy++)
        for (int dx = -R; dx <= R; dx++) {
            double d = sqrt((double)(dy * dy + dx * dx));
            const uint8_t *c = NULL;
            if (d <= r)
                c = fill;
            else if (d <= r + 1.5)
                c = white;
            else if (d <= r + 2.5)
                c = dark;
            else if (ring > 0 && d >= ring && d <= ring + 1.5)
                c = white;
            else if (ring > 0 && d > ring + 1.5 && d <= ring + 2.5)
                c = dark;
            if (c) put_px(img, cy + dy, cx + dx, c);
        }
}

int cli_save_overlay(const char *path, const sa_image *img, const sa_mask *mask,
                     const sa_click *clicks, int n, sa_error *err) {
    sa_image out = {0};
    int rc = sa_image_copy(img, &out, err);
    if (rc != SA_OK) return rc;
    if (mask && mask->data)
        rc = sa_image_overlay(img, mask->data, sa_overlay_default_style(), &out, err);
    int side = img->width < img->height ? img->width : img->height;
    int r = side / 100 + 3;
    static const uint8_t green[3] = {0, 200, 0}, red[3] = {230, 0, 0};
    for (int i = 0; rc == SA_OK && i < n; i++)
        marker(&out, clicks[i].y, clicks[i].x, r, clicks[i].positive ? green : red,
               i == n - 1 ? 2 * r + 3 : 0);
    if (rc == SA_OK) rc = sa_image_save_png(path, &out, err);
    sa_image_free(&out);
    return rc;
}

int cli_save_gt_overlay(const char *path, const sa_image *img, const sa_mask *gt, sa_error *err) {
    sa_image ov = {0};
    sa_overlay_style st = sa_overlay_default_style();
    st.color[0] = 0, st.color[1] = 90, st.color[2] = 255;
    int rc = sa_image_copy(img, &ov, err);
    if (rc == SA_OK) rc = sa_image_overlay(img, gt->data, st, &ov, err);
    if (rc == SA_OK) rc = sa_image_save_png(path, &ov, err);
    sa_image_free(&ov);
    return rc;
}

int cli_save_step_overlay(const char *dir, int step, const sa_image *img, const sa_env *env,
                          sa_error *err) {
    char name[32];
    snprintf(name, sizeof name, "step_%02d.png", step);
    char *path = sa_path_join(dir, name);
    if (!path) return sa_error_set(err, SA_ERR_NOMEM, "out of memory");
    int rc = cli_save_overlay(path, img, sa_env_mask(env), sa_env_clicks(env), sa_env_n_clicks(env),
                              err);
    free(path);
    return rc;
}
