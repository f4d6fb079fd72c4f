/* segagent demo: the whole annotation loop on the built-in sample scenes (generated, so nothing to download):
 * per scene the simulated annotator clicks, the tool segments, overlays are written per step; then the NoC /
 * mIoU table, a JSON summary in the eval format, and a chart. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/chart_svg.h"
#include "cli.h"
#include "cli_report.h"
#include "segagent/evaluate.h"
#include "segagent/scenes.h"

static const char usage[] =
    "usage: segagent demo [--out DIR] [options]\n"
    "\n"
    "Generates the built-in sample scenes (textured backgrounds with an oval, a\n"
    "star, a ring, a thin stick, a camouflaged stone and a two-part object, each\n"
    "with exact ground truth) and annotates each one end to end: the simulated\n"
    "annotator clicks in the largest error region, the tool recomputes the mask\n"
    "from all clicks, and the IoU is printed after every click. No download and no\n"
    "model weights are needed.\n"
    "\n"
    "writes:\n"
    "  DIR/<scene>/image.png, gt.png  the scene and its ground truth (blue)\n"
    "  DIR/<scene>/gt_mask.png        the ground-truth mask itself (0 / 255), to\n"
    "                                 try other commands: annotate --gt, segment --gt\n"
    "  DIR/<scene>/step_01.png ...    the mask after each click (green), clicks\n"
    "                                 marked (green positive, red negative)\n"
    "  DIR/summary.json               clicks and IoU curves per scene, NoC / NoF /\n"
    "                                 mIoU@k (the eval JSON format)\n"
    "  DIR/chart.svg                  IoU vs clicks per scene and their mean\n"
    "\n"
    "options:\n"
    "  --out DIR            output folder (default demo-out)\n" CLI_TOOL_OPTIONS_HELP
    "  --max-clicks N       clicks per scene (default 20)\n"
    "  --seed N             scene variation (default 1)\n"
    "  --size WxH           scene size in pixels (default 320x240)\n"
    "  --no-overlays        skip the per-step PNGs\n"
    "\n"
    "examples:\n"
    "  segagent demo\n"
    "  segagent demo --out /tmp/demo --seed 7 --max-clicks 10\n"
    "  segagent annotate --image demo-out/star/image.png --gt demo-out/star/gt_mask.png --out star-run\n";

typedef struct demo_ctx {
    const char *dir;
    const sa_image *img;
    int overlays;
    int failed;
    sa_error err;
} demo_ctx;

static int on_step(void *user, const sa_env *env, const sa_eval_step *st) {
    demo_ctx *c = user;
    printf("%s%.3f", st->step % 10 == 1 && st->step > 1 ? "\n               " : " ", st->iou);
    fflush(stdout);
    if (!c->overlays) return 0;
    int rc = cli_save_step_overlay(c->dir, st->step, c->img, env, &c->err);
    if (rc != SA_OK) c->failed = 1;
    return rc != SA_OK;
}

static int save_scene_images(const char *dir, const sa_image *img, const sa_mask *gt,
                             sa_error *err) {
    char *p = cli_path_join(dir, "image.png");
    int rc = p ? sa_image_save_png(p, img, err) : SA_ERR_NOMEM;
    free(p);
    if (rc != SA_OK) return rc;
    p = cli_path_join(dir, "gt_mask.png"); /* the mask itself, for --gt of annotate / segment / score */
    rc = p ? sa_mask_save_png(p, gt, err) : SA_ERR_NOMEM;
    free(p);
    if (rc != SA_OK) return rc;
    sa_image ov = {0};
    sa_overlay_style st = sa_overlay_default_style();
    st.color[0] = 0, st.color[1] = 90, st.color[2] = 255;
    rc = sa_image_copy(img, &ov, err);
    if (rc == SA_OK) rc = sa_image_overlay(img, gt->data, st, &ov, err);
    p = cli_path_join(dir, "gt.png");
    if (rc == SA_OK) rc = p ? sa_image_save_png(p, &ov, err) : SA_ERR_NOMEM;
    free(p);
    sa_image_free(&ov);
    return rc;
}

int cli_demo(int argc, char **argv) {
    const char *out = "demo-out", *size = "320x240";
    cli_tool_opts topt = {.tool = "builtin", .threads = 2};
    int max_clicks = 20, seed = 1, no_overlays = 0;
    const cli_opt opts[] = {
        {"out", CLI_STR, &out},
        {"tool", CLI_STR, &topt.tool},
        {"sam-model", CLI_STR, &topt.sam_model},
        {"threads", CLI_INT, &topt.threads},
        {"max-clicks", CLI_INT, &max_clicks},
        {"seed", CLI_INT, &seed},
        {"size", CLI_STR, &size},
        {"no-overlays", CLI_FLAG, &no_overlays},
        CLI_TOOL_MODEL_OPT(topt),
        CLI_TOOL_SC_OPTS(topt),
    };
    int pr = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), NULL, 0, NULL, usage);
    if (pr) return pr == 1 ? 0 : 2;
    int w = 0, h = 0;
    char tail = 0;
    if (sscanf(size, "%dx%d%c", &w, &h, &tail) != 2 || w < 32 || h < 32 || w > 4096 || h > 4096) {
        fprintf(stderr, "demo: --size must be WxH with sides 32..4096 (got '%s')\n", size);
        return 2;
    }
    if (cli_check_int("demo", "max-clicks", max_clicks, 1, SA_METRICS_MAX_CLICKS) ||
        cli_check_int("demo", "seed", seed, 0, 2147483647L) || cli_check_tool_opts("demo", &topt))
        return 2;
    sa_error err = {0};
    sa_tool *tool = NULL;
    if (cli_make_tool(&topt, &tool, &err) != SA_OK) { /* before creating the folder: no empty folder on failure */
        fprintf(stderr, "demo: %s\n", err.msg);
        return 1;
    }
    if (cli_mkdirs(out) != 0) {
        fprintf(stderr, "demo: %s: cannot create the folder (%s)\n", out, strerror(errno));
        sa_tool_free(tool);
        return 1;
    }
    int n = sa_scene_count();
    sa_eval_sample *samples = calloc((size_t)n, sizeof *samples);
    sa_metrics *m = NULL;
    int status = 0;
    if (!samples || sa_metrics_new(max_clicks, &m, &err) != SA_OK) {
        fprintf(stderr, "demo: out of memory\n");
        free(samples);
        sa_tool_free(tool);
        return 1;
    }
    printf("segagent demo: %d scenes (%dx%d, seed %d), tool %s, simulated annotator, up to %d "
           "clicks\n",
           n, w, h, seed, sa_tool_name(tool), max_clicks);
    printf("IoU after each click:\n");
    double t0 = cli_now_s();
    for (int i = 0; i < n; i++) {
        const char *name = sa_scene_name(i);
        sa_image img = {0};
        sa_mask gt = {0};
        char *dir = cli_path_join(out, name);
        int rc = dir ? sa_scene_render(i, (uint64_t)seed, w, h, &img, &gt, &err) : SA_ERR_NOMEM;
        if (rc == SA_OK && cli_mkdirs(dir) != 0)
            rc = sa_error_set(&err, SA_ERR_IO, "%s: cannot create the folder (%s)", dir,
                              strerror(errno));
        if (rc == SA_OK) cli_remove_stale_steps(dir);
        if (rc == SA_OK) rc = save_scene_images(dir, &img, &gt, &err);
        if (rc == SA_OK) {
            printf("  %-12s", name);
            fflush(stdout);
            demo_ctx ctx;
            memset(&ctx, 0, sizeof ctx);
            ctx.dir = dir;
            ctx.img = &img;
            ctx.overlays = !no_overlays;
            sa_eval_params ep = sa_eval_default_params();
            ep.max_clicks = max_clicks;
            rc = sa_eval_episode(tool, &img, &gt, NULL, ep, on_step, &ctx, &samples[i], &err);
            if (ctx.failed) rc = sa_error_set(&err, ctx.err.code, "%s", ctx.err.msg);
            printf("%s\n", samples[i].done_early ? "  (nothing left to fix)" : "");
        }
        if (rc != SA_OK) {
            fprintf(stderr, "demo: %s: %s\n", name, err.msg);
            status = 1;
        }
        if (samples[i].iou) {
            sa_metrics_curve cv = {samples[i].iou,    samples[i].inter, samples[i].uni,
                                   samples[i].ms,     samples[i].n,     samples[i].iou0,
                                   samples[i].inter0, samples[i].uni0};
            if (sa_metrics_add(m, &cv, &err) != SA_OK) {
                fprintf(stderr, "demo: %s: %s\n", name, err.msg);
                status = 1;
            }
        }
        free(samples[i].name);
        samples[i].name = name ? strdup(name) : NULL;
        free(dir);
        sa_image_free(&img);
        sa_mask_free(&gt);
    }
    sa_metrics_summary s;
    sa_metrics_summarize(m, &s);
    printf("\n");
    cli_metrics_table_header(stdout, max_clicks);
    cli_metrics_table_row(stdout, "demo scenes", &s, max_clicks);
    printf("  ");
    cli_metrics_latency_line(stdout, "demo scenes", &s);
    printf("  total %.1f s\n", cli_now_s() - t0);

    /* JSON in the eval layout, plus the scene descriptions. */
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "tool", sa_tool_name(tool));
    cJSON_AddStringToObject(doc, "annotator", "simulated (SPEC.md section 3)");
    cJSON_AddNumberToObject(doc, "max_clicks", max_clicks);
    cJSON_AddNumberToObject(doc, "seed", seed);
    cJSON *all = cJSON_AddObjectToObject(doc, "datasets");
    cJSON *o = all ? cJSON_AddObjectToObject(all, "demo") : NULL;
    if (o) {
        cJSON_AddStringToObject(o, "layout", "built-in scenes");
        cJSON_AddItemToObject(o, "summary", cli_json_summary(&s, 0));
        cJSON *arr = cJSON_AddArrayToObject(o, "samples");
        for (int i = 0; i < n && arr; i++) {
            if (!samples[i].iou) continue;
            cJSON *js = cli_json_sample(&samples[i], max_clicks);
            if (js) cJSON_AddStringToObject(js, "description", sa_scene_description(i));
            cJSON_AddItemToArray(arr, js);
        }
    }
    char *jp = cli_path_join(out, "summary.json");
    if (!jp || cli_json_write(jp, doc, &err) != SA_OK) {
        fprintf(stderr, "demo: %s\n", jp ? err.msg : "out of memory");
        status = 1;
    }
    free(jp);
    cJSON_Delete(doc);

    /* Chart: every scene's IoU curve (carried forward to max clicks) and their mean. */
    double *curves = calloc((size_t)(n + 1) * (size_t)max_clicks, sizeof(double));
    sa__chart_series *series = calloc((size_t)(n + 1), sizeof *series);
    int ns = 0;
    char mean_note[64];
    if (curves && series) {
        for (int i = 0; i < n; i++) {
            const sa_eval_sample *e = &samples[i];
            if (!e->iou) continue;
            double *y = curves + (size_t)ns * max_clicks;
            for (int k = 0; k < max_clicks; k++)
                y[k] = e->n == 0 ? e->iou0 : e->iou[k < e->n ? k : e->n - 1];
            series[ns].name = sa_scene_name(i);
            series[ns].y = y;
            series[ns].n = max_clicks;
            ns++;
        }
        snprintf(mean_note, sizeof mean_note, "NoC@85 %.2f, NoC@90 %.2f", s.noc[SA_TAU_85],
                 s.noc[SA_TAU_90]);
        series[ns].name = "mean (mIoU@k)";
        series[ns].y = s.miou + 1;
        series[ns].n = max_clicks;
        series[ns].note = mean_note;
        series[ns].bold = 1;
        ns++;
        char sub[160];
        snprintf(sub, sizeof sub, "built-in scenes (seed %d); tool: %s; simulated annotator", seed,
                 sa_tool_name(tool));
        char *cp = cli_path_join(out, "chart.svg");
        if (!cp ||
            sa__chart_svg_write(cp, "IoU vs number of clicks", sub, series, ns, &err) != SA_OK) {
            fprintf(stderr, "demo: %s\n", cp ? err.msg : "out of memory");
            status = 1;
        }
        free(cp);
    } else {
        fprintf(stderr, "demo: out of memory\n");
        status = 1;
    }
    free(curves);
    free(series);
    if (status == 0)
        printf("wrote %s/<scene>/%s, %s/summary.json, %s/chart.svg\n", out,
               no_overlays ? "image.png, gt_mask.png" : "step_*.png", out, out);
    for (int i = 0; i < n; i++)
        sa_eval_sample_free(&samples[i]);
    free(samples);
    sa_metrics_free(m);
    sa_tool_free(tool);
    return status;
}
