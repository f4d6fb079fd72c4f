/* segagent annotate: one image, its ground truth, the simulated annotator and a tool; an overlay
 * PNG per click (what the policy would see, plus click markers), the final mask and a JSON summary.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_paths.h"
#include "cli_report.h"
#include "cli_stop.h"
#include "segagent/evaluate.h"

/* the help text is laid out as the user sees it */
/* clang-format off */
static const char usage[] =
    "usage: segagent annotate --image PHOTO --gt MASK --out DIR [options]\n"
    "\n"
    "Runs the simulated annotator (docs/annotator.md) with an interactive tool on\n"
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
    "                    --target-iou 0.95 --out run/\n"
    "\n"
    "Ctrl-C (or SIGTERM, SIGHUP) stops after the current click; mask.png and\n"
    "summary.json are written for the clicks made (exit 130).\n";
/* clang-format on */

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
    cli_printf(stdout, "step %2d  %s click (y %d, x %d)  IoU %.4f  (%+.4f)  %.1f ms\n", st->step,
               st->click.positive ? "positive" : "negative", st->click.y, st->click.x, st->iou,
               st->iou - st->prev_iou, st->ms);
    fflush(stdout);
    if (c->overlays && cli_save_step_overlay(c->out_dir, st->step, c->img, env, &c->err) != SA_OK) {
        c->failed = 1;
        return 1;
    }
    return cli_stop_requested(); /* Ctrl-C: this click is the last */
}

typedef struct annotate_opts {
    const char *image_path, *gt_path, *out_dir;
    cli_tool_opts topt;
    int max_clicks, ignore_value, no_overlays;
    double target;
} annotate_opts;

/* No output (DIR/mask.png, summary.json, gt.png, the step overlays written or deleted) may be an
 * input. Returns 0, or 1 with the message printed. */
static int check_paths(const annotate_opts *o) {
    static const char *const always[] = {"mask.png", "summary.json", NULL};
    static const char *const overlays[] = {"gt.png", NULL};
    cli_io io;
    cli_io_init(&io, "annotate");
    cli_io_input(&io, "--image", o->image_path);
    cli_io_input(&io, "--gt", o->gt_path);
    cli_io_input(&io, "--sam-model", o->topt.sam_model);
    int bad = cli_io_outputs_in(&io, "--out", o->out_dir, always) ||
              (!o->no_overlays && cli_io_outputs_in(&io, "--out", o->out_dir, overlays)) ||
              cli_io_output_steps(&io, "--out", o->out_dir);
    cli_io_free(&io);
    return bad;
}

/* Parses and checks the command line. Returns -1 to go on, else the exit status. */
static int parse_annotate_options(int argc, char **argv, annotate_opts *o) {
    memset(o, 0, sizeof *o);
    o->topt = (cli_tool_opts){.tool = "builtin", .threads = 2};
    o->max_clicks = 20;
    o->ignore_value = -1;
    const cli_opt opts[] = {
        CLI_O_STR("image", &o->image_path),
        CLI_O_STR("gt", &o->gt_path),
        CLI_O_STR("out", &o->out_dir),
        CLI_O_INT("max-clicks", &o->max_clicks, 1, SA_METRICS_MAX_CLICKS),
        CLI_O_DOUBLE("target-iou", &o->target, 0, 1),
        CLI_O_IGNORE(&o->ignore_value),
        CLI_O_STR("tool", &o->topt.tool),
        CLI_O_STR("sam-model", &o->topt.sam_model),
        CLI_O_THREADS(&o->topt.threads),
        CLI_O_FLAG("no-overlays", &o->no_overlays),
        CLI_TOOL_MODEL_OPT(o->topt),
        CLI_TOOL_SC_OPTS(o->topt),
    };
    int pr = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), NULL, 0, NULL, usage);
    if (pr) return pr == 1 ? 0 : 2;
    if (!o->image_path || !o->gt_path || !o->out_dir) {
        cli_printf(stderr, "annotate: --image, --gt and --out are required (see --help)\n");
        return 2;
    }
    if (cli_check_tool_opts("annotate", &o->topt)) return 2; /* numeric ranges: the option table */
    return check_paths(o) ? 1 : -1;
}

/* The photo and its ground truth: same size, not empty; an ignore map that ignores nothing is
 * dropped. Prints the problem and returns -1, or returns 0. */
static int load_inputs(const annotate_opts *o, sa_image *img, sa_mask *gt, sa_mask *ign) {
    sa_error err = {0};
    if (sa_image_load(o->image_path, img, &err) != SA_OK ||
        sa_mask_load(o->gt_path, o->ignore_value, gt, ign, &err) != SA_OK) {
        cli_printf(stderr, "annotate: %s\n", err.msg);
        return -1;
    }
    if (gt->width != img->width || gt->height != img->height) {
        cli_printf(stderr, "annotate: %s: mask is %dx%d but the image %s is %dx%d\n", o->gt_path,
                   gt->width, gt->height, o->image_path, img->width, img->height);
        return -1;
    }
    if (ign->data && sa_mask_area(ign) == 0) sa_mask_free(ign);
    uint64_t inter = 0, uni = 0;
    sa_mask_inter_union(gt, gt, ign->data ? ign : NULL, &inter, &uni);
    if (uni == 0) {
        cli_printf(stderr, "annotate: %s: empty ground truth (no object pixels)\n", o->gt_path);
        return -1;
    }
    return 0;
}

/* The tool, then the output folder (so a tool that fails leaves no empty folder) and DIR/gt.png.
 * Prints the problem and returns -1, or returns 0. */
static int prepare_output(const annotate_opts *o, const sa_image *img, const sa_mask *gt,
                          sa_tool **tool) {
    sa_error err = {0};
    if (cli_make_tool(&o->topt, tool, &err) != SA_OK) {
        cli_printf(stderr, "annotate: %s\n", err.msg);
        return -1;
    }
    if (cli_mkdirs(o->out_dir) != 0) {
        cli_printf(stderr, "annotate: %s: cannot create the folder (%s)\n", o->out_dir,
                   strerror(errno));
        return -1;
    }
    cli_remove_stale_steps(o->out_dir);
    if (o->no_overlays) return 0;
    char *p = sa_path_join(o->out_dir, "gt.png");
    int rc = p ? cli_save_gt_overlay(p, img, gt, &err) : SA_ERR_NOMEM;
    free(p);
    if (rc != SA_OK) {
        cli_printf(stderr, "annotate: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* DIR/mask.png: the mask the last step left (kept by on_step), empty when no click was made. Frees
 * *final. */
static int save_final_mask(const char *out_dir, const sa_image *img, sa_mask *final) {
    sa_error err = {0};
    int rc = final->data ? SA_OK : sa_mask_new(final, img->width, img->height, &err);
    if (rc == SA_OK) {
        char *p = sa_path_join(out_dir, "mask.png");
        rc = p ? sa_mask_save_png(p, final, &err) : SA_ERR_NOMEM;
        free(p);
    }
    sa_mask_free(final);
    if (rc != SA_OK) cli_printf(stderr, "annotate: %s\n", err.msg);
    return rc;
}

/* DIR/summary.json: the inputs, the sample in the eval layout, one entry per step, NoC@85/90. */
static int write_summary(const annotate_opts *o, const char *tool, sa_eval_sample *s,
                         double final_iou) {
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "image", o->image_path);
    cJSON_AddStringToObject(doc, "gt", o->gt_path);
    cJSON_AddStringToObject(doc, "tool", tool);
    cJSON_AddNumberToObject(doc, "max_clicks", o->max_clicks);
    cJSON_AddItemToObject(doc, "target_iou",
                          o->target > 0 ? sa_eval_json_number(o->target) : cJSON_CreateNull());
    s->name = NULL;
    cJSON_AddItemToObject(doc, "sample", sa_eval_sample_json(s, o->max_clicks));
    cJSON *steps = cJSON_AddArrayToObject(doc, "steps");
    double ms = 0;
    for (int i = 0; i < s->n && steps; i++) {
        cJSON *st = cJSON_CreateObject();
        cJSON_AddNumberToObject(st, "step", i + 1);
        int c[3] = {s->clicks[i].y, s->clicks[i].x, s->clicks[i].positive};
        cJSON_AddItemToObject(st, "click", cJSON_CreateIntArray(c, 3));
        cJSON_AddItemToObject(st, "iou", sa_eval_json_number(s->iou[i]));
        cJSON_AddItemToObject(st, "ms", sa_eval_json_number(s->ms[i]));
        cJSON_AddItemToArray(steps, st);
    }
    for (int i = 0; i < s->n; i++)
        ms += s->ms[i];
    cJSON_AddItemToObject(doc, "final_iou", sa_eval_json_number(final_iou));
    cJSON_AddNumberToObject(doc, "clicks", s->n);
    cJSON_AddNumberToObject(doc, "noc@85",
                            sa_metrics_noc(s->iou, s->n, s->iou0, o->max_clicks, 0.85));
    cJSON_AddNumberToObject(doc, "noc@90",
                            sa_metrics_noc(s->iou, s->n, s->iou0, o->max_clicks, 0.90));
    cJSON_AddItemToObject(doc, "ms_per_click_mean", sa_eval_json_number(s->n ? ms / s->n : NAN));
    sa_error err = {0};
    char *jp = sa_path_join(o->out_dir, "summary.json");
    int rc = jp ? sa_file_write_json(jp, doc, &err) : SA_ERR_NOMEM;
    free(jp);
    cJSON_Delete(doc);
    if (rc != SA_OK) cli_printf(stderr, "annotate: %s\n", err.msg);
    return rc;
}

/* The episode, the final mask, the summary. Returns the exit status. */
static int annotate(const annotate_opts *o, const sa_image *img, const sa_mask *gt,
                    const sa_mask *ign, sa_tool *tool) {
    cli_printf(stdout, "%s (%dx%d), tool %s, up to %d clicks%s\n", o->image_path, img->width,
               img->height, sa_tool_name(tool), o->max_clicks,
               o->target > 0 ? ", stopping at the target IoU" : "");
    ann_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.out_dir = o->out_dir;
    ctx.img = img;
    ctx.overlays = !o->no_overlays;
    sa_eval_params ep = sa_eval_default_params();
    ep.max_clicks = o->max_clicks;
    ep.target_iou = o->target;
    sa_eval_sample s;
    sa_error err = {0};
    cli_stop_install();
    int rc = sa_eval_episode(tool, img, gt, ign->data ? ign : NULL, ep, on_step, &ctx, &s, &err);
    cli_stop_restore();
    if (cli_stop_requested()) cli_printf(stderr, "annotate: interrupted after %d click(s)\n", s.n);
    if (ctx.failed) {
        cli_printf(stderr, "annotate: %s\n", ctx.err.msg);
        sa_eval_sample_free(&s);
        sa_mask_free(&ctx.final);
        return 1;
    }
    if (rc != SA_OK) cli_printf(stderr, "annotate: %s\n", err.msg);
    if (s.done_early) cli_printf(stdout, "nothing left to fix after %d click(s)\n", s.n);
    int mrc = save_final_mask(o->out_dir, img, &ctx.final);
    double final_iou = s.n > 0 ? s.iou[s.n - 1] : s.iou0;
    int jrc = write_summary(o, sa_tool_name(tool), &s, final_iou);
    cli_printf(stdout, "final IoU %.4f after %d click(s); wrote %s/%smask.png, summary.json\n",
               final_iou, s.n, o->out_dir, o->no_overlays ? "" : "step_*.png, ");
    int status = (s.n > 0 || s.done_early) && jrc == SA_OK && mrc == SA_OK ? 0 : 1;
    if (status == 0 && cli_stop_requested()) status = CLI_EXIT_INTERRUPTED;
    sa_eval_sample_free(&s);
    return status;
}

int cli_annotate(int argc, char **argv) {
    annotate_opts o;
    int status = parse_annotate_options(argc, argv, &o);
    if (status >= 0) return status;
    sa_image img = {0};
    sa_mask gt = {0}, ign = {0};
    sa_tool *tool = NULL;
    status = 1;
    if (load_inputs(&o, &img, &gt, &ign) == 0 && prepare_output(&o, &img, &gt, &tool) == 0)
        status = annotate(&o, &img, &gt, &ign, tool);
    sa_tool_free(tool);
    sa_image_free(&img);
    sa_mask_free(&gt);
    sa_mask_free(&ign);
    return status;
}
