/* segagent demo: the whole annotation loop on the built-in sample scenes (generated, so nothing to
 * download): per scene the simulated annotator clicks, the tool segments, overlays are written per
 * step; then the NoC / mIoU table, a JSON summary in the eval format, and a chart. Last, the agent
 * benchmark (the referring benchmark of `eval`, SegAgent's Tables 1-2) over the same scenes: the
 * simulated annotator as the policy, or a served model with --policy URL; its cIoU / gIoU / mIoU by
 * step are printed and added to the summary. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/chart.h"
#include "cli.h"
#include "cli_llm.h"
#include "cli_paths.h"
#include "cli_report.h"
#include "cli_stop.h"
#include "segagent/eval_report.h"
#include "segagent/evaluate.h"
#include "segagent/refer.h"
#include "segagent/scenes.h"

/* the help text is laid out as the user sees it */
/* clang-format off */
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
    "Then the agent benchmark: the referring benchmark of `segagent eval` over the\n"
    "same scenes (320x240, seed 1; each scene's description is the expression):\n"
    "cIoU, gIoU and mIoU / cIoU after each step, also in summary.json under\n"
    "\"agent_benchmark\". The policy is the simulated annotator, or with --policy\n"
    "URL a served model (the policy options of segment: --model NAME, --prompt,\n"
    "...; SimpleClick's checkpoint is then --tool-model).\n"
    "\n"
    "options:\n"
    "  --out DIR            output folder (default demo-out)\n" CLI_TOOL_OPTIONS_HELP
    "  --max-clicks N       clicks per scene (default 20)\n"
    "  --seed N             scene variation (default 1)\n"
    "  --size WxH           scene size in pixels (default 320x240)\n"
    "  --no-overlays        skip the per-step PNGs\n"
    "  --agent-steps N      steps of the agent benchmark, 0..20 (default 7; 0 = skip)\n"
    "  --policy URL         run the agent benchmark with a served model\n"
    "\n"
    "examples:\n"
    "  segagent demo\n"
    "  segagent demo --out /tmp/demo --seed 7 --max-clicks 10\n"
    "  segagent annotate --image demo-out/star/image.png --gt demo-out/star/gt_mask.png --out star-run\n"
    "\n"
    "Ctrl-C (or SIGTERM, SIGHUP) stops after the current click; the table, summary.json and chart.svg\n"
    "cover the clicks and scenes done so far (exit 130).\n";
/* clang-format on */

typedef struct demo_ctx {
    const char *dir;
    const sa_image *img;
    int overlays;
    int failed;
    sa_error err;
} demo_ctx;

static int on_step(void *user, const sa_env *env, const sa_eval_step *st) {
    demo_ctx *c = user;
    cli_printf(stdout, "%s%.3f", st->step % 10 == 1 && st->step > 1 ? "\n               " : " ",
               st->iou);
    fflush(stdout);
    if (c->overlays) {
        int rc = cli_save_step_overlay(c->dir, st->step, c->img, env, &c->err);
        if (rc != SA_OK) c->failed = 1;
        if (rc != SA_OK) return 1;
    }
    return cli_stop_requested(); /* Ctrl-C: this click is the scene's last */
}

static int save_scene_images(const char *dir, const sa_image *img, const sa_mask *gt,
                             sa_error *err) {
    char *p = sa_path_join(dir, "image.png");
    int rc = p ? sa_image_save_png(p, img, err) : SA_ERR_NOMEM;
    free(p);
    if (rc != SA_OK) return rc;
    p = sa_path_join(dir,
                     "gt_mask.png"); /* the mask itself, for --gt of annotate / segment / score */
    rc = p ? sa_mask_save_png(p, gt, err) : SA_ERR_NOMEM;
    free(p);
    if (rc != SA_OK) return rc;
    p = sa_path_join(dir, "gt.png");
    rc = p ? cli_save_gt_overlay(p, img, gt, err) : SA_ERR_NOMEM;
    free(p);
    return rc;
}

typedef struct demo_opts {
    const char *out, *size;
    cli_tool_opts topt;
    int max_clicks, seed, no_overlays;
    int w, h; /* from size */
    int agent_steps;
    int use_llm; /* --policy given: the LLM options are in the table, --model names the LLM */
    cli_llm_opts lo;
    sa_llm_params lp;
} demo_opts;

/* The only input is --sam-model; none of the files written (or stale step overlays deleted) may be it.
 * Returns 0, or 1 with the message printed. */
static int check_paths(const demo_opts *o) {
    static const char *const top[] = {"summary.json", "chart.svg", NULL};
    static const char *const scene[] = {"image.png", "gt_mask.png", "gt.png", NULL};
    cli_io io;
    cli_io_init(&io, "demo");
    cli_io_input(&io, "--sam-model", o->topt.sam_model);
    int bad = io.n_in > 0 && cli_io_outputs_in(&io, "--out", o->out, top);
    for (int i = 0; io.n_in > 0 && !bad && i < sa_scene_count(); i++) {
        char *dir = sa_path_join(o->out, sa_scene_name(i));
        bad = dir && (cli_io_outputs_in(&io, "--out", dir, scene) ||
                      cli_io_output_steps(&io, "--out", dir));
        free(dir);
    }
    cli_io_free(&io);
    return bad;
}

/* Parses and checks the command line. Returns -1 to go on, else the exit status. */
static int parse_demo_options(int argc, char **argv, demo_opts *o) {
    memset(o, 0, sizeof *o);
    o->out = "demo-out";
    o->size = "320x240";
    o->topt = (cli_tool_opts){.tool = "builtin", .threads = 2};
    o->max_clicks = 20;
    o->seed = 1;
    o->agent_steps = 7;
    const cli_opt base[] = {
        CLI_O_STR("out", &o->out),
        CLI_O_STR("tool", &o->topt.tool),
        CLI_O_STR("sam-model", &o->topt.sam_model),
        CLI_O_THREADS(&o->topt.threads),
        CLI_O_INT("max-clicks", &o->max_clicks, 1, SA_METRICS_MAX_CLICKS),
        CLI_O_SEED(&o->seed),
        CLI_O_STR("size", &o->size),
        CLI_O_FLAG("no-overlays", &o->no_overlays),
        CLI_O_INT("agent-steps", &o->agent_steps, 0, 20),
        CLI_TOOL_SC_OPTS(o->topt),
    };
    /* with --policy, --model names the LLM (as in eval); without, SimpleClick's checkpoint */
    const cli_opt model_opt = CLI_TOOL_MODEL_OPT(o->topt);
    cli_opt opts[sizeof base / sizeof base[0] + CLI_LLM_N_OPTS + 1];
    int n = cli_policy_opts_table(argc, argv, base, (int)(sizeof base / sizeof base[0]), &model_opt,
                                  &o->lo, &o->use_llm, opts);
    int pr = cli_parse(argc, argv, opts, n, NULL, 0, NULL, usage);
    if (pr) return pr == 1 ? 0 : 2;
    sa_error err = {0};
    if (o->use_llm && cli_llm_params(&o->lo, &o->lp, &err) != SA_OK) {
        cli_printf(stderr, "demo: %s\n", err.msg);
        return 2;
    }
    int wh[2];
    if (cli_parse_int_list(o->size, 'x', wh, 2, 32, 4096) == 0) {
        o->w = wh[0];
        o->h = wh[1];
    } else {
        cli_printf(stderr, "demo: --size must be WxH with sides 32..4096 (got '%s')\n", o->size);
        return 2;
    }
    if (cli_check_tool_opts("demo", &o->topt)) return 2; /* numeric ranges: the option table */
    return check_paths(o) ? 1 : -1;
}

typedef struct demo_run {
    const demo_opts *o;
    sa_tool *tool;
    int n;                   /* scenes */
    sa_eval_sample *samples; /* one per scene */
    sa_metrics *m;
    sa_metrics_summary s; /* after all scenes */
    int status;
    int has_agent; /* the agent benchmark ran: agent holds its metrics */
    sa_eval_refer_summary agent;
} demo_run;

/* The tool (before the folder: no empty folder on failure), the folder, the per-scene results.
 * Prints the problem and returns -1, or returns 0. */
static int setup(demo_run *r) {
    sa_error err = {0};
    if (cli_make_tool(&r->o->topt, &r->tool, &err) != SA_OK) {
        cli_printf(stderr, "demo: %s\n", err.msg);
        return -1;
    }
    if (cli_mkdirs(r->o->out) != 0) {
        cli_printf(stderr, "demo: %s: cannot create the folder (%s)\n", r->o->out, strerror(errno));
        return -1;
    }
    r->n = sa_scene_count();
    r->samples = calloc((size_t)r->n, sizeof *r->samples);
    if (!r->samples || sa_metrics_new(r->o->max_clicks, &r->m, &err) != SA_OK) {
        cli_printf(stderr, "demo: out of memory\n");
        return -1;
    }
    return 0;
}

/* The simulated annotator on scene i (already written to dir), the IoU after each click on one
 * line. */
static int annotate_scene(demo_run *r, int i, const char *dir, const sa_image *img,
                          const sa_mask *gt, sa_error *err) {
    cli_printf(stdout, "  %-12s", sa_scene_name(i));
    fflush(stdout);
    demo_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.dir = dir;
    ctx.img = img;
    ctx.overlays = !r->o->no_overlays;
    sa_eval_params ep = sa_eval_default_params();
    ep.max_clicks = r->o->max_clicks;
    int rc = sa_eval_episode(r->tool, img, gt, NULL, ep, on_step, &ctx, &r->samples[i], err);
    if (ctx.failed) rc = sa_error_set(err, ctx.err.code, "%s", ctx.err.msg);
    cli_printf(stdout, "%s\n", r->samples[i].done_early ? "  (nothing left to fix)" : "");
    return rc;
}

/* Scene i end to end: render, write its images, annotate, add its curve to the metrics. A failure
 * is reported and makes the exit status 1; the other scenes go on. */
static void run_scene(demo_run *r, int i) {
    const char *name = sa_scene_name(i);
    sa_image img = {0};
    sa_mask gt = {0};
    sa_error err = {0};
    char *dir = sa_path_join(r->o->out, name);
    int rc = dir ? sa_scene_render(i, (uint64_t)r->o->seed, r->o->w, r->o->h, &img, &gt, &err)
                 : SA_ERR_NOMEM;
    if (rc == SA_OK && cli_mkdirs(dir) != 0)
        rc = sa_error_set(&err, SA_ERR_IO, "%s: cannot create the folder (%s)", dir,
                          strerror(errno));
    if (rc == SA_OK) cli_remove_stale_steps(dir);
    if (rc == SA_OK) rc = save_scene_images(dir, &img, &gt, &err);
    if (rc == SA_OK) rc = annotate_scene(r, i, dir, &img, &gt, &err);
    if (rc != SA_OK) {
        cli_printf(stderr, "demo: %s: %s\n", name, err.msg);
        r->status = 1;
    }
    sa_eval_sample *e = &r->samples[i];
    if (e->iou) {
        sa_metrics_curve cv = {e->iou, e->inter, e->uni, e->ms, e->n, e->iou0, e->inter0, e->uni0};
        if (sa_metrics_add(r->m, &cv, &err) != SA_OK) {
            cli_printf(stderr, "demo: %s: %s\n", name, err.msg);
            r->status = 1;
        }
    }
    free(e->name);
    e->name = name ? strdup(name) : NULL;
    free(dir);
    sa_image_free(&img);
    sa_mask_free(&gt);
}

static int make_llm_policy(void *ctx, sa_policy **out, sa_error *err) {
    return sa_llm_policy_new(*(const sa_llm_params *)ctx, out, NULL, err);
}

static void print_agent_table(const demo_run *r) {
    const demo_opts *o = r->o;
    const sa_eval_refer_summary *a = &r->agent;
    cli_printf(stdout,
               "\nagent benchmark (referring, built-in scenes, policy: %s, %d steps):\n"
               "  %7s %6s %7s %7s\n  %7d %6d %7.4f %7.4f\n  step  ",
               o->use_llm ? o->lp.model : "simulated annotator", o->agent_steps, "samples",
               "failed", "cIoU", "gIoU", a->n_samples, a->n_failed, a->ciou, a->giou);
    for (int t = 0; t < o->agent_steps; t++)
        cli_printf(stdout, " %6d", t + 1);
    cli_printf(stdout, "\n  mIoU  ");
    for (int t = 0; t < o->agent_steps; t++)
        cli_printf(stdout, " %6.3f", a->miou_by_step[t]);
    cli_printf(stdout, "\n  cIoU  ");
    for (int t = 0; t < o->agent_steps; t++)
        cli_printf(stdout, " %6.3f", a->ciou_by_step[t]);
    cli_printf(stdout, "\n");
}

/* The referring benchmark over the built-in scenes with the demo's tool; prints its table. A failure is
 * reported and makes the exit status 1. */
static void run_agent_benchmark(demo_run *r) {
    const demo_opts *o = r->o;
    sa_refer *ds = NULL;
    sa_error err = {0};
    sa_eval_result res;
    memset(&res, 0, sizeof res);
    int rc = sa_refer_open_scenes(&ds, &err);
    if (rc == SA_OK) {
        sa_eval_params ep = sa_eval_default_params();
        ep.max_clicks = o->agent_steps;
        ep.threads =
            o->use_llm ? sa_refer_count(ds) : 2; /* a served model: every episode in flight */
        ep.should_stop = cli_stop_hook;
        if (o->use_llm) {
            ep.policy_new = make_llm_policy;
            ep.policy_ctx = (void *)&o->lp;
            sa_tool_set_max_parallel(r->tool, 2, NULL); /* tool work on 2 threads */
        }
        rc = sa_eval_run_refer(r->tool, ds, ep, NULL, NULL, &res, &err);
        sa_tool_set_max_parallel(r->tool, 0, NULL);
    }
    if (rc == SA_OK && sa_eval_refer_summarize(&res, o->agent_steps, &r->agent) != SA_OK)
        rc = sa_error_set(&err, SA_ERR_NOMEM, "out of memory");
    for (int i = 0; i < res.n_samples; i++)
        if (res.samples[i].status != SA_OK)
            cli_printf(stderr, "demo: agent benchmark: %s: %s\n",
                       res.samples[i].name ? res.samples[i].name : "?",
                       res.samples[i].error ? res.samples[i].error : "?");
    if (rc != SA_OK) {
        cli_printf(stderr, "demo: agent benchmark: %s\n", err.msg);
        r->status = 1;
    } else {
        r->has_agent = 1;
        print_agent_table(r);
    }
    sa_eval_result_free(&res);
    sa_refer_free(ds);
}

/* DIR/summary.json in the eval layout, plus the scene descriptions (and the agent benchmark). */
static void write_summary(demo_run *r) {
    const demo_opts *o = r->o;
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "tool", sa_tool_name(r->tool));
    cJSON_AddStringToObject(doc, "annotator", "simulated (docs/annotator.md)");
    cJSON_AddNumberToObject(doc, "max_clicks", o->max_clicks);
    cJSON_AddNumberToObject(doc, "seed", o->seed);
    cJSON *all = cJSON_AddObjectToObject(doc, "datasets");
    cJSON *d = all ? cJSON_AddObjectToObject(all, "demo") : NULL;
    if (d) {
        cJSON_AddStringToObject(d, "layout", "built-in scenes");
        cJSON_AddItemToObject(d, "summary", sa_eval_summary_json(&r->s, 0));
        cJSON *arr = cJSON_AddArrayToObject(d, "samples");
        for (int i = 0; i < r->n && arr; i++) {
            if (!r->samples[i].iou) continue;
            cJSON *js = sa_eval_sample_json(&r->samples[i], o->max_clicks);
            if (js) cJSON_AddStringToObject(js, "description", sa_scene_description(i));
            cJSON_AddItemToArray(arr, js);
        }
    }
    cJSON *ab = r->has_agent ? cJSON_AddObjectToObject(doc, "agent_benchmark") : NULL;
    if (ab) {
        cJSON_AddStringToObject(ab, "dataset", "scenes");
        cJSON_AddStringToObject(ab, "policy",
                                o->use_llm ? o->lp.model : "simulated (docs/annotator.md)");
        cJSON_AddNumberToObject(ab, "steps", o->agent_steps);
        sa_eval_refer_summary_add_json(ab, &r->agent);
    }
    sa_error err = {0};
    char *jp = sa_path_join(o->out, "summary.json");
    if (!jp || sa_file_write_json(jp, doc, &err) != SA_OK) {
        cli_printf(stderr, "demo: %s\n", jp ? err.msg : "out of memory");
        r->status = 1;
    }
    free(jp);
    cJSON_Delete(doc);
}

/* Series for every scene's IoU curve (carried forward to max clicks; y from curves) and their mean.
 * Returns the number of series. */
static int chart_series(const demo_run *r, double *curves, sa_chart_series *series, char *note,
                        size_t cap) {
    int ns = 0, mc = r->o->max_clicks;
    for (int i = 0; i < r->n; i++) {
        const sa_eval_sample *e = &r->samples[i];
        if (!e->iou) continue;
        double *y = curves + (size_t)ns * mc;
        for (int k = 0; k < mc; k++)
            y[k] = e->n == 0 ? e->iou0 : e->iou[k < e->n ? k : e->n - 1];
        series[ns].name = sa_scene_name(i);
        series[ns].y = y;
        series[ns].n = mc;
        ns++;
    }
    snprintf(note, cap, "NoC@85 %.2f, NoC@90 %.2f", r->s.noc[SA_TAU_85], r->s.noc[SA_TAU_90]);
    series[ns].name = "mean (mIoU@k)";
    series[ns].y = r->s.miou + 1;
    series[ns].n = mc;
    series[ns].note = note;
    series[ns].bold = 1;
    return ns + 1;
}

/* DIR/chart.svg: IoU vs clicks per scene and their mean. */
static void write_chart(demo_run *r) {
    double *curves = calloc((size_t)(r->n + 1) * (size_t)r->o->max_clicks, sizeof(double));
    sa_chart_series *series = calloc((size_t)(r->n + 1), sizeof *series);
    if (curves && series) {
        char note[64], sub[160];
        int ns = chart_series(r, curves, series, note, sizeof note);
        snprintf(sub, sizeof sub, "built-in scenes (seed %d); tool: %s; simulated annotator",
                 r->o->seed, sa_tool_name(r->tool));
        sa_error err = {0};
        char *cp = sa_path_join(r->o->out, "chart.svg");
        if (!cp ||
            sa_chart_svg_write(cp, "IoU vs number of clicks", sub, series, ns, &err) != SA_OK) {
            cli_printf(stderr, "demo: %s\n", cp ? err.msg : "out of memory");
            r->status = 1;
        }
        free(cp);
    } else {
        cli_printf(stderr, "demo: out of memory\n");
        r->status = 1;
    }
    free(curves);
    free(series);
}

static void free_run(demo_run *r) {
    for (int i = 0; r->samples && i < r->n; i++)
        sa_eval_sample_free(&r->samples[i]);
    free(r->samples);
    sa_metrics_free(r->m);
    sa_tool_free(r->tool);
}

int cli_demo(int argc, char **argv) {
    demo_opts o;
    int status = parse_demo_options(argc, argv, &o);
    if (status >= 0) return status;
    demo_run r;
    memset(&r, 0, sizeof r);
    r.o = &o;
    if (setup(&r) != 0) {
        free_run(&r);
        return 1;
    }
    cli_printf(stdout,
               "segagent demo: %d scenes (%dx%d, seed %d), tool %s, simulated annotator, up to %d "
               "clicks\n",
               r.n, o.w, o.h, o.seed, sa_tool_name(r.tool), o.max_clicks);
    cli_printf(stdout, "IoU after each click:\n");
    double t0 = cli_now_s();
    cli_stop_install();
    int done = 0;
    for (; done < r.n && !cli_stop_requested(); done++)
        run_scene(&r, done);
    cli_stop_restore();
    if (cli_stop_requested())
        cli_printf(stderr, "demo: interrupted; the results cover the %d scene(s) started\n", done);
    sa_metrics_summarize(r.m, &r.s);
    cli_printf(stdout, "\n");
    cli_metrics_table_header(stdout, o.max_clicks);
    cli_metrics_table_row(stdout, "demo scenes", &r.s, o.max_clicks);
    cli_printf(stdout, "  ");
    cli_metrics_latency_line(stdout, "demo scenes", &r.s);
    cli_printf(stdout, "  total %.1f s\n", cli_now_s() - t0);
    if (o.agent_steps > 0 && !cli_stop_requested()) {
        cli_stop_install();
        run_agent_benchmark(&r);
        cli_stop_restore();
    }
    write_summary(&r);
    write_chart(&r);
    if (r.status == 0)
        cli_printf(stdout, "wrote %s/<scene>/%s, %s/summary.json, %s/chart.svg\n", o.out,
                   o.no_overlays ? "image.png, gt_mask.png" : "step_*.png", o.out, o.out);
    status = r.status ? r.status : cli_stop_requested() ? CLI_EXIT_INTERRUPTED : 0;
    free_run(&r);
    return status;
}
