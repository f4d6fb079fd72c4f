/* segagent annotate: one image, its ground truth, the simulated annotator and a tool; an overlay PNG per click
 * (what the policy would see, plus click markers), the final mask and a JSON summary. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_report.h"
#include "segagent/evaluate.h"

static const char usage[] =
    "usage: segagent annotate --image PHOTO --gt MASK --out DIR [options]\n"
    "\n"
    "Runs the simulated annotator (SPEC.md section 3) with an interactive tool on\n"
    "one image: each click goes into the largest remaining error region (positive\n"
    "where the tool misses the object, negative where it covers background), the\n"
    "tool recomputes the mask from all clicks, and the IoU is printed.\n"
    "\n"
    "writes:\n"
    "  DIR/step_01.png ...  the image with the mask after each click (green, as\n"
    "                       SegAgent's policy sees it); dots mark the clicks:\n"
    "                       green = positive, red = negative, ringed = newest\n"
    "  DIR/gt.png           the ground truth drawn the same way (blue)\n"
    "  DIR/mask.png         the final mask (0 / 255)\n"
    "  DIR/summary.json     clicks [y, x, positive], IoU and tool time per click,\n"
    "                       NoC@85/90\n"
    "\n"
    "options:\n"
    "  --image PATH         the photo (PNG, JPEG or BMP)\n"
    "  --gt PATH            its ground-truth mask (0 = background, else object)\n"
    "  --ignore-value V     mask value marking pixels to ignore (GrabCut: 128;\n"
    "                       default none)\n"
    "  --out DIR            output folder (created)\n"
    "  --max-clicks N       at most N clicks (default 20)\n"
    "  --target-iou X       stop once IoU >= X (default: run all clicks)\n" CLI_TOOL_OPTIONS_HELP
    "  --no-overlays        skip the per-step PNGs\n"
    "\n"
    "examples:\n"
    "  segagent annotate --image photo.jpg --gt mask.png --out run/\n"
    "  segagent annotate --image GrabCut/data_GT/banana1.bmp \\\n"
    "                    --gt GrabCut/boundary_GT/banana1.bmp --ignore-value 128 \\\n"
    "                    --target-iou 0.95 --out run/\n";

typedef struct ann_ctx {
    const char *out_dir;
    const sa_image *img;
    int overlays;
    int failed;
    sa_error err;
    sa_mask final; /* mask after the latest step */
} ann_ctx;

static int on_step(void *user, const sa_env *env, const sa_eval_step *st) {
    ann_ctx *c = user;
    sa_mask_free(&c->final);
    if (sa_mask_copy(sa_env_mask(env), &c->final, &c->err) != SA_OK) {
        c->failed = 1;
        return 1;
    }
    printf("step %2d  %s click (y %d, x %d)  IoU %.4f  (%+.4f)  %.1f ms\n", st->step,
           st->click.positive ? "positive" : "negative", st->click.y, st->click.x, st->iou,
           st->iou - st->prev_iou, st->ms);
    fflush(stdout);
    if (!c->overlays) return 0;
    int rc = cli_save_step_overlay(c->out_dir, st->step, c->img, env, &c->err);
    if (rc != SA_OK) {
        c->failed = 1;
        return 1;
    }
    return 0;
}

int cli_annotate(int argc, char **argv) {
    const char *image_path = NULL, *gt_path = NULL, *out_dir = NULL;
    cli_tool_opts topt = {.tool = "builtin", .threads = 2};
    int max_clicks = 20, ignore_value = -1, no_overlays = 0;
    double target = 0.0;
    const cli_opt opts[] = {
        {"image", CLI_STR, &image_path},     {"gt", CLI_STR, &gt_path},
        {"out", CLI_STR, &out_dir},          {"max-clicks", CLI_INT, &max_clicks},
        {"target-iou", CLI_DOUBLE, &target}, {"ignore-value", CLI_INT, &ignore_value},
        {"tool", CLI_STR, &topt.tool},       {"sam-model", CLI_STR, &topt.sam_model},
        {"threads", CLI_INT, &topt.threads}, {"no-overlays", CLI_FLAG, &no_overlays},
        CLI_TOOL_MODEL_OPT(topt),            CLI_TOOL_SC_OPTS(topt),
    };
    int pr = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), NULL, 0, NULL, usage);
    if (pr) return pr == 1 ? 0 : 2;
    if (!image_path || !gt_path || !out_dir) {
        fprintf(stderr, "annotate: --image, --gt and --out are required (see --help)\n");
        return 2;
    }
    if (cli_check_int("annotate", "max-clicks", max_clicks, 1, SA_METRICS_MAX_CLICKS) ||
        cli_check_double("annotate", "target-iou", target, 0.0, 1.0) ||
        cli_check_int("annotate", "ignore-value", ignore_value, -1, 255) || cli_check_tool_opts("annotate", &topt))
        return 2;

    sa_error err = {0};
    sa_image img = {0};
    sa_mask gt = {0}, ign = {0};
    sa_tool *tool = NULL;
    int status = 1;
    if (sa_image_load(image_path, &img, &err) != SA_OK ||
        sa_mask_load(gt_path, ignore_value, &gt, &ign, &err) != SA_OK) {
        fprintf(stderr, "annotate: %s\n", err.msg);
        goto done;
    }
    if (gt.width != img.width || gt.height != img.height) {
        fprintf(stderr, "annotate: %s: mask is %dx%d but the image %s is %dx%d\n", gt_path,
                gt.width, gt.height, image_path, img.width, img.height);
        goto done;
    }
    if (ign.data && sa_mask_area(&ign) == 0) sa_mask_free(&ign);
    {
        uint64_t inter = 0, uni = 0;
        sa_mask_inter_union(&gt, &gt, ign.data ? &ign : NULL, &inter, &uni);
        if (uni == 0) {
            fprintf(stderr, "annotate: %s: empty ground truth (no object pixels)\n", gt_path);
            goto done;
        }
    }
    if (cli_make_tool(&topt, &tool, &err) != SA_OK) { /* before creating the folder: no empty folder on failure */
        fprintf(stderr, "annotate: %s\n", err.msg);
        goto done;
    }
    if (cli_mkdirs(out_dir) != 0) {
        fprintf(stderr, "annotate: %s: cannot create the folder (%s)\n", out_dir, strerror(errno));
        goto done;
    }
    cli_remove_stale_steps(out_dir);
    if (!no_overlays) {
        char *p = cli_path_join(out_dir, "gt.png");
        sa_image ov = {0};
        sa_overlay_style st = sa_overlay_default_style();
        st.color[0] = 0, st.color[1] = 90, st.color[2] = 255;
        int rc = p ? sa_image_copy(&img, &ov, &err) : SA_ERR_NOMEM;
        if (rc == SA_OK) rc = sa_image_overlay(&img, gt.data, st, &ov, &err);
        if (rc == SA_OK) rc = sa_image_save_png(p, &ov, &err);
        sa_image_free(&ov);
        free(p);
        if (rc != SA_OK) {
            fprintf(stderr, "annotate: %s\n", err.msg);
            goto done;
        }
    }

    printf("%s (%dx%d), tool %s, up to %d clicks%s\n", image_path, img.width, img.height,
           sa_tool_name(tool), max_clicks, target > 0 ? ", stopping at the target IoU" : "");
    ann_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.out_dir = out_dir;
    ctx.img = &img;
    ctx.overlays = !no_overlays;
    sa_eval_params ep = sa_eval_default_params();
    ep.max_clicks = max_clicks;
    ep.target_iou = target;
    sa_eval_sample s;
    int rc = sa_eval_episode(tool, &img, &gt, ign.data ? &ign : NULL, ep, on_step, &ctx, &s, &err);
    if (ctx.failed) {
        fprintf(stderr, "annotate: %s\n", ctx.err.msg);
        sa_eval_sample_free(&s);
        sa_mask_free(&ctx.final);
        goto done;
    }
    if (rc != SA_OK) fprintf(stderr, "annotate: %s\n", err.msg);
    if (s.done_early) printf("nothing left to fix after %d click(s)\n", s.n);

    /* The final mask is the one the last step left (kept by on_step); empty when no click was made. */
    int mrc = ctx.final.data ? SA_OK : sa_mask_new(&ctx.final, img.width, img.height, &err);
    if (mrc == SA_OK) {
        char *p = cli_path_join(out_dir, "mask.png");
        mrc = p ? sa_mask_save_png(p, &ctx.final, &err) : SA_ERR_NOMEM;
        free(p);
    }
    sa_mask_free(&ctx.final);
    if (mrc != SA_OK) fprintf(stderr, "annotate: %s\n", err.msg);

    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "image", image_path);
    cJSON_AddStringToObject(doc, "gt", gt_path);
    cJSON_AddStringToObject(doc, "tool", sa_tool_name(tool));
    cJSON_AddNumberToObject(doc, "max_clicks", max_clicks);
    cJSON_AddItemToObject(doc, "target_iou",
                          target > 0 ? cli_json_num(target) : cJSON_CreateNull());
    s.name = NULL;
    cJSON_AddItemToObject(doc, "sample", cli_json_sample(&s, max_clicks));
    cJSON *steps = cJSON_AddArrayToObject(doc, "steps");
    for (int i = 0; i < s.n && steps; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "step", i + 1);
        int c[3] = {s.clicks[i].y, s.clicks[i].x, s.clicks[i].positive};
        cJSON_AddItemToObject(o, "click", cJSON_CreateIntArray(c, 3));
        cJSON_AddItemToObject(o, "iou", cli_json_num(s.iou[i]));
        cJSON_AddItemToObject(o, "ms", cli_json_num(s.ms[i]));
        cJSON_AddItemToArray(steps, o);
    }
    double final_iou = s.n > 0 ? s.iou[s.n - 1] : s.iou0;
    cJSON_AddItemToObject(doc, "final_iou", cli_json_num(final_iou));
    cJSON_AddNumberToObject(doc, "clicks", s.n);
    cJSON_AddNumberToObject(doc, "noc@85", sa_metrics_noc(s.iou, s.n, s.iou0, max_clicks, 0.85));
    cJSON_AddNumberToObject(doc, "noc@90", sa_metrics_noc(s.iou, s.n, s.iou0, max_clicks, 0.90));
    double ms = 0;
    for (int i = 0; i < s.n; i++)
        ms += s.ms[i];
    cJSON_AddItemToObject(doc, "ms_per_click_mean", cli_json_num(s.n ? ms / s.n : NAN));
    char *jp = cli_path_join(out_dir, "summary.json");
    int jrc = jp ? cli_json_write(jp, doc, &err) : SA_ERR_NOMEM;
    free(jp);
    cJSON_Delete(doc);
    if (jrc != SA_OK) fprintf(stderr, "annotate: %s\n", err.msg);
    printf("final IoU %.4f after %d click(s); wrote %s/%smask.png, summary.json\n", final_iou, s.n, out_dir,
           no_overlays ? "" : "step_*.png, ");
    status = (s.n > 0 || s.done_early) && jrc == SA_OK && mrc == SA_OK ? 0 : 1;
    sa_eval_sample_free(&s);
done:
    sa_tool_free(tool);
    sa_image_free(&img);
    sa_mask_free(&gt);
    sa_mask_free(&ign);
    return status;
}
