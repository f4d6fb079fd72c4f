/* segagent eval: the click benchmark (NoC / NoF / mIoU@k) of a tool driven by the simulated annotator over one
 * or more datasets; a table on stdout, progress and problems on stderr, optional JSON and SVG chart. The work
 * is the library's (sa_eval_run on the dataset runner, sa_eval_report_* for the files); this file parses,
 * checks, reports. Ctrl-C stops after the images in flight and reports what was evaluated. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_llm.h"
#include "cli_paths.h"
#include "cli_report.h"
#include "cli_stop.h"
#include "segagent/dataset.h"
#include "segagent/eval_report.h"
#include "segagent/evaluate.h"
#include "segagent/llm_policy.h"
#include "segagent/refer.h"

static const char usage[] =
    "usage: segagent eval --dataset NAME=DIR [--dataset NAME=DIR ...] [options]\n"
    "\n"
    "Benchmarks an interactive segmentation tool the way the literature does: for\n"
    "every image, the simulated annotator (docs/annotator.md) clicks in the middle\n"
    "of the largest error region, the tool recomputes the mask from all clicks so\n"
    "far, and the IoU with the ground truth is recorded after each click, up to\n"
    "--max-clicks.\n"
    "\n"
    "datasets (--dataset, repeatable; without NAME= the folder name is used):\n"
    "  GrabCut layout  DIR/data_GT/* images, DIR/boundary_GT/<stem>.bmp masks\n"
    "                  (mask value 128 = ignored band)\n"
    "  generic layout  DIR/{images,img,im,JPEGImages}/ beside\n"
    "                  DIR/{masks,gt,GT,annotations}/, paired by file name without\n"
    "                  extension (Berkeley, DAVIS, COCO-MVal, DIS5K). Mask value\n"
    "                  0 = background, anything else = object.\n"
    "  Unpaired or unreadable files are reported (one line each) and skipped.\n"
    "\n"
    "options:\n"
    "  --dataset NAME=DIR   dataset to evaluate (repeatable)\n" CLI_TOOL_OPTIONS_HELP
    "  --max-clicks N       clicks per image (default 20, at most 100)\n"
    "  --jobs N             images evaluated in parallel, 1..64 (default 1; 0 =\n"
    "                       one per CPU, at most 8); the results are identical\n"
    "  --limit N            only the first N images of each dataset (by name;\n"
    "                       default 0 = all)\n"
    "  --ignore-value V     mask value to ignore (default: 128 for the GrabCut\n"
    "                       layout, none otherwise; -1 = none)\n"
    "  --json PATH          write summary + per-image curves and clicks as JSON\n"
    "  --chart PATH         write the mIoU-vs-clicks chart as SVG\n"
    "                       (default: beside --json, with .svg)\n"
    "  --per-image          also print one line per image\n"
    "  --quiet              no progress on stderr\n"
    "\n"
    "metrics:\n"
    "  NoC@80/85/90  mean number of clicks to reach IoU 0.80/0.85/0.90; an image\n"
    "                that never gets there counts as --max-clicks. Lower is better.\n"
    "  NoF@85/90     number of images that never reach IoU 0.85/0.90 (failures)\n"
    "  mIoU@k        mean IoU after k clicks (when the annotator finds nothing\n"
    "                left to fix, the last IoU is carried forward)\n"
    "  cIoU@k        (JSON) total intersection / total union after k clicks\n"
    "  ms/click      mean wall time of one tool call (JSON: median and p95 too)\n"
    "\n"
    "examples:\n"
    "  segagent eval --dataset GrabCut=../shared/data/GrabCut --json grabcut.json\n"
    "  segagent eval --dataset GrabCut=data/GrabCut --dataset Berkeley=data/Berkeley \\\n"
    "                --jobs 2 --json out.json --chart out.svg\n"
    "  segagent eval --dataset data/DAVIS --tool sam --sam-model sam-vit-base/ \\\n"
    "                --max-clicks 10 --limit 20\n"
    "\n"
    "Ctrl-C (or SIGTERM, SIGHUP) stops after the images in flight; the table and\n"
    "the files cover the images evaluated so far (exit 130).\n"
    "\n"
    "exit status: 0 when at least one dataset was evaluated, 1 when nothing could\n"
    "be, 2 on a usage error, 130 when interrupted.\n";

static const char usage_refer[] =
    "\n"
    "referring sets (--dataset; one sample per sentence; the table gives cIoU =\n"
    "total intersection / total union, gIoU = mean IoU, mIoU by step):\n"
    "  refcoco:val=DIR      refcoco, refcoco+, refcocog: DIR holds refs(unc).p (or\n"
    "                       umd, google) and instances.json; images in --images\n"
    "  coco=FILE            any COCO instances file, one sample per annotation\n"
    "  segagent=FILE        SegAgent's released JSON (images in --images)\n"
    "  hres=DIR             DIS5K (DIS-TE1..4, DIS-VD, DIS-TR) or one {im, gt} folder\n"
    "  scenes               the built-in scenes\n"
    "  --images DIR         image folder of a referring set\n"
    "  --split-by S         refs pickle: unc, umd or google (default: umd for\n"
    "                       refcocog, unc otherwise)\n"
    "  --per-ref            one sample per ref instead of per sentence\n"
    "  --concurrency N      episodes in flight, 1..256, each on its own worker with\n"
    "                       its own policy client (default: --jobs); the tool runs\n"
    "                       at most --jobs calls at once; results do not depend on it\n"
    "  --policy URL         an LLM policy server clicks instead of the simulated\n"
    "                       annotator, with the policy options of segment (--model\n"
    "                       NAME, --prompt, ...); SimpleClick's checkpoint is then\n"
    "                       --tool-model\n";

typedef struct ds_run {
    const char *name;
    const char *dir;
    sa_dataset *ds;
    sa_refer *refer; /* a referring set instead of ds */
    sa_eval_refer_summary rsum;
    sa_eval_result res;
    int ok;
    char key[64]; /* the name made unique for the JSON keys */
} ds_run;

typedef struct eval_opts {
    cli_multi datasets;
    cli_tool_opts tool;
    int max_clicks, jobs, limit, quiet, per_image, ignore_value;
    const char *json_path, *chart_path;
    char *chart_auto; /* beside --json when --chart is not given (malloc'd) */
    const char *images, *split_by;
    int per_ref, concurrency;
    int use_llm; /* --policy given: the LLM options are in the table */
    cli_llm_opts lo;
    sa_llm_params lp;
} eval_opts;

static int make_llm_policy(void *ctx, sa_policy **out, sa_error *err) {
    return sa_llm_policy_new(ctx, out, NULL, err);
}

/* "scenes", or NAME[:SPLIT]=PATH whose NAME is a referring kind. */
static int is_refer_spec(const char *spec) {
    static const char *const kinds[] = {"refcoco", "refclef", "coco",        "segagent",
                                        "hres",    "dis5k",   "thinobject5k"};
    if (strcmp(spec, "scenes") == 0) return 1;
    size_t n = strcspn(spec, ":=");
    if (!spec[n]) return 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        size_t kl = strlen(kinds[k]);
        if (k == 0 ? (n >= kl && strncmp(spec, kinds[k], kl) == 0)
                   : (n == kl && strncmp(spec, kinds[k], kl) == 0))
            return 1;
    }
    return 0;
}

static void on_progress(void *user, int done, int total, const sa_eval_sample *s) {
    (void)done;
    (void)total;
    cli_progress *p = user;
    cli_progress_step(p, s && s->name ? s->name : NULL);
}

/* "NAME=DIR" or "DIR". The name part must not look like a path. */
static void split_spec(const char *spec, char *name, size_t name_cap, const char **dir) {
    const char *eq = strchr(spec, '=');
    if (eq && eq != spec && memchr(spec, '/', (size_t)(eq - spec)) == NULL &&
        (size_t)(eq - spec) < name_cap) {
        memcpy(name, spec, (size_t)(eq - spec));
        name[eq - spec] = '\0';
        *dir = eq + 1;
    } else {
        name[0] = '\0';
        *dir = spec;
    }
}

static char *default_chart_path(const char *json) {
    size_t n = strlen(json);
    const char *slash = strrchr(json, '/');
    const char *dot = strrchr(json, '.');
    if (dot && (!slash || dot > slash) && dot != json) n = (size_t)(dot - json);
    char *p = malloc(n + 5);
    if (!p) return NULL;
    memcpy(p, json, n);
    memcpy(p + n, ".svg", 5);
    return p;
}

static int check_opts(eval_opts *o);

/* Parses and checks the options; 0, -1 after --help, or the exit status of a usage error. */
static int parse_opts(int argc, char **argv, eval_opts *o) {
    *o = (eval_opts){.tool = {.tool = "builtin", .threads = 2},
                     .max_clicks = 20,
                     .jobs = 1,
                     .ignore_value = SA_DATASET_IGNORE_AUTO};
    const cli_opt base[] = {
        CLI_O_MULTI("dataset", &o->datasets),
        CLI_O_STR("tool", &o->tool.tool),
        CLI_O_STR("sam-model", &o->tool.sam_model),
        CLI_O_THREADS(&o->tool.threads),
        CLI_O_INT("max-clicks", &o->max_clicks, 1, SA_METRICS_MAX_CLICKS),
        CLI_O_JOBS(&o->jobs),
        CLI_O_LIMIT(&o->limit),
        CLI_O_STR("json", &o->json_path),
        CLI_O_STR("chart", &o->chart_path),
        CLI_O_FLAG("quiet", &o->quiet),
        CLI_O_IGNORE(&o->ignore_value),
        CLI_O_FLAG("per-image", &o->per_image),
        CLI_TOOL_SC_OPTS(o->tool),
        CLI_O_STR("images", &o->images),
        CLI_O_STR("split-by", &o->split_by),
        CLI_O_FLAG("per-ref", &o->per_ref),
        CLI_O_INT("concurrency", &o->concurrency, 1, 256),
    };
    /* with --policy, --model names the LLM (as in segment); without, SimpleClick's checkpoint */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--policy") == 0 || strncmp(argv[i], "--policy=", 9) == 0)
            o->use_llm = 1;
    cli_llm_opts_default(&o->lo);
    const cli_opt model_opt[] = {CLI_TOOL_MODEL_OPT(o->tool)};
    cli_opt opts[sizeof base / sizeof base[0] + CLI_LLM_N_OPTS + 1];
    int n = 0;
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
        opts[n++] = base[i];
    if (o->use_llm) {
        cli_llm_opts_table(&o->lo, opts + n);
        n += CLI_LLM_N_OPTS;
    } else {
        opts[n++] = model_opt[0];
    }
    char help[sizeof usage + sizeof usage_refer];
    snprintf(help, sizeof help, "%s%s", usage, usage_refer);
    int pr = cli_parse(argc, argv, opts, n, NULL, 0, NULL, help);
    if (pr) return pr == 1 ? -1 : 2;
    return check_opts(o);
}

/* What the option table cannot check: the policy's parameters, at least one dataset, the tool options, the
 * output files (before any work, not after an hour of it). 0, or the exit status. */
static int check_opts(eval_opts *o) {
    if (o->use_llm) {
        sa_error err = {0};
        if (cli_llm_params(&o->lo, &o->lp, &err)) {
            cli_printf(stderr, "eval: %s\n", err.msg);
            return 2;
        }
    }
    if (o->datasets.n == 0) {
        cli_printf(stderr, "eval: give at least one --dataset NAME=DIR (see --help)\n");
        return 2;
    }
    if (cli_check_tool_opts("eval", &o->tool)) return 2; /* numeric ranges: the option table */
    if (o->jobs == 0) o->jobs = cli_default_jobs(o->tool.tool);
    if ((o->json_path && cli_check_out_file("eval", "json", o->json_path)) ||
        (o->chart_path && cli_check_out_file("eval", "chart", o->chart_path)))
        return 1; /* before any work, not after an hour of it */
    if (!o->chart_path && o->json_path)
        o->chart_path = o->chart_auto = default_chart_path(o->json_path);
    return 0;
}

/* Neither output may be an input (an image or mask of a dataset, the SAM checkpoint) or the other
 * output. Returns 0, or 1 with the message printed. */
static int check_paths(const eval_opts *o, const ds_run *runs) {
    cli_io io;
    cli_io_init(&io, "eval");
    cli_io_input(&io, "--sam-model", o->tool.sam_model);
    for (int d = 0; d < o->datasets.n; d++) {
        if (runs[d].ds) cli_io_dataset(&io, runs[d].ds);
        if (runs[d].refer) cli_io_input(&io, "--dataset", runs[d].dir);
    }
    int bad =
        cli_io_output(&io, "--json", o->json_path) ||
        cli_io_output(&io, o->chart_auto ? "--chart (beside --json)" : "--chart", o->chart_path);
    cli_io_free(&io);
    return bad;
}

/* Opens the datasets (a mistyped folder is reported before a large checkpoint is loaded); returns how many
 * opened. */
static int open_datasets(const eval_opts *o, ds_run *runs) {
    sa_dataset_params dp = sa_dataset_default_params();
    dp.ignore_value = o->ignore_value;
    int n_open = 0;
    for (int d = 0; d < o->datasets.n; d++) {
        ds_run *r = &runs[d];
        sa_error err = {0};
        if (is_refer_spec(o->datasets.v[d])) {
            sa_refer_params rp = sa_refer_default_params();
            rp.split_by = o->split_by;
            rp.per_ref = o->per_ref;
            const char *eq = strchr(o->datasets.v[d], '=');
            r->dir = eq ? eq + 1 : NULL;
            if (sa_refer_open_spec(o->datasets.v[d], o->images, rp, &r->refer, &err) != SA_OK) {
                cli_printf(stderr, "eval: %s\n", err.msg);
                continue;
            }
            n_open++;
            snprintf(r->key, sizeof r->key, "%.30s:%.30s", sa_refer_name(r->refer),
                     sa_refer_split(r->refer));
            if (!strcmp(sa_refer_split(r->refer), "all"))
                snprintf(r->key, sizeof r->key, "%.60s", sa_refer_name(r->refer));
            r->name = r->key;
            for (int w = 0; w < sa_refer_n_warnings(r->refer); w++)
                cli_printf(stderr, "warning: %s\n", sa_refer_warning(r->refer, w));
            continue;
        }
        split_spec(o->datasets.v[d], r->key, sizeof r->key, &r->dir);
        if (sa_dataset_open(r->key[0] ? r->key : NULL, r->dir, dp, &r->ds, &err) != SA_OK) {
            cli_printf(stderr, "eval: %s\n", err.msg);
            continue;
        }
        n_open++;
        r->name = sa_dataset_name(r->ds);
        for (int e = 0; e < d; e++) /* the JSON keys must be unique */
            if (runs[e].name && !strcmp(runs[e].name, r->name)) {
                snprintf(r->key, sizeof r->key, "%.50s#%d", r->name, d + 1);
                r->name = r->key;
                break;
            }
        for (int w = 0; w < sa_dataset_n_warnings(r->ds); w++)
            cli_printf(stderr, "warning: %s\n", sa_dataset_warning(r->ds, w));
    }
    return n_open;
}

/* Evaluates every opened dataset; returns how many could be evaluated. */
static int run_all(const eval_opts *o, sa_tool *tool, ds_run *runs) {
    sa_eval_params ep = sa_eval_default_params();
    ep.max_clicks = o->max_clicks;
    ep.threads = o->concurrency > 0 ? o->concurrency : o->jobs;
    if (o->concurrency > 0) /* episodes in flight, tool work on --jobs threads */
        sa_tool_set_max_parallel(tool, o->jobs, NULL);
    ep.limit = o->limit;
    ep.should_stop = cli_stop_hook;
    if (o->use_llm) {
        ep.policy_new = make_llm_policy;
        ep.policy_ctx = (void *)&o->lp;
    }
    int n_ok = 0;
    cli_stop_install();
    for (int d = 0; d < o->datasets.n && !cli_stop_requested(); d++) {
        ds_run *r = &runs[d];
        if (!r->ds && !r->refer) continue;
        cli_progress prog;
        int total = r->refer ? sa_refer_count(r->refer) : sa_dataset_count(r->ds);
        if (o->limit > 0 && o->limit < total) total = o->limit;
        cli_progress_start(&prog, r->name, total, o->quiet);
        sa_error err = {0};
        int rc = r->refer ? sa_eval_run_refer(tool, r->refer, ep, on_progress, &prog, &r->res, &err)
                          : sa_eval_run(tool, r->ds, ep, on_progress, &prog, &r->res, &err);
        if (rc == SA_OK && r->refer &&
            sa_eval_refer_summarize(&r->res, o->max_clicks, &r->rsum) != SA_OK)
            rc = sa_error_set(&err, SA_ERR_NOMEM, "out of memory");
        cli_progress_end(&prog);
        for (int i = 0; i < r->res.n_samples; i++) {
            const sa_eval_sample *s = &r->res.samples[i];
            if (s->status != SA_OK)
                cli_printf(stderr, "%s: %s\n", s->iou ? "warning: tool failed part-way" : "skipped",
                           s->error ? s->error : "?");
        }
        if (rc != SA_OK) {
            cli_printf(stderr, "eval: %s\n", err.msg);
            continue;
        }
        r->ok = 1;
        n_ok++;
    }
    cli_stop_restore();
    if (cli_stop_requested())
        cli_printf(stderr, "eval: interrupted; the results cover the images evaluated so far\n");
    cli_tool_report("eval", tool, o->quiet);
    return n_ok;
}

static void print_per_image(const ds_run *r, int max_clicks) {
    cli_printf(stdout, "\n%s, per image:\n  %-24s %6s %6s %8s %s\n", r->name, "image", "NoC@85",
               "NoC@90", "last IoU", "note");
    for (int i = 0; i < r->res.n_samples; i++) {
        const sa_eval_sample *s = &r->res.samples[i];
        if (!s->iou) {
            cli_printf(stdout, "  %-24.24s %6s %6s %8s skipped\n", s->name ? s->name : "?", "-",
                       "-", "-");
            continue;
        }
        cli_printf(stdout, "  %-24.24s %6d %6d %8.4f %s\n", s->name ? s->name : "?",
                   sa_metrics_noc(s->iou, s->n, s->iou0, max_clicks, 0.85),
                   sa_metrics_noc(s->iou, s->n, s->iou0, max_clicks, 0.90),
                   s->n ? s->iou[s->n - 1] : s->iou0,
                   s->status != SA_OK ? "tool failed"
                   : s->done_early    ? "nothing left to fix"
                                      : "");
    }
}

static void print_tables(const eval_opts *o, const char *tool_name, const ds_run *runs) {
    for (int d = 0; o->per_image && d < o->datasets.n; d++)
        if (runs[d].ok) print_per_image(&runs[d], o->max_clicks);
    const char *who = o->use_llm ? o->lp.model : "simulated annotator";
    cli_printf(stdout, "\ntool: %s, %s, %d clicks per image\n", tool_name, who, o->max_clicks);
    int any_refer = 0;
    for (int d = 0; d < o->datasets.n; d++)
        any_refer |= runs[d].ok && runs[d].refer;
    if (any_refer) {
        cli_printf(stdout, "%-24s %7s %6s %7s %7s  mIoU by step\n", "referring set", "samples",
                   "failed", "cIoU", "gIoU");
        for (int d = 0; d < o->datasets.n; d++) {
            const ds_run *r = &runs[d];
            if (!r->ok || !r->refer) continue;
            cli_printf(stdout, "%-24.24s %7d %6d %7.4f %7.4f ", r->name, r->rsum.n_samples,
                       r->rsum.n_failed, r->rsum.ciou, r->rsum.giou);
            for (int t = 0; t < o->max_clicks && t < 10; t++)
                cli_printf(stdout, " %.3f", r->rsum.miou_by_step[t]);
            cli_printf(stdout, "\n");
            const int *f = r->rsum.failures;
            if (f[SA_EVAL_END_UNPARSEABLE] + f[SA_EVAL_END_POLICY] + f[SA_EVAL_END_TOOL] +
                f[SA_EVAL_END_LOAD])
                cli_printf(
                    stdout,
                    "  %s failures: %d unparseable reply, %d policy (HTTP) error, %d tool error, "
                    "%d load error\n",
                    r->name, f[SA_EVAL_END_UNPARSEABLE], f[SA_EVAL_END_POLICY], f[SA_EVAL_END_TOOL],
                    f[SA_EVAL_END_LOAD]);
        }
    }
    cli_metrics_table_header(stdout, o->max_clicks);
    for (int d = 0; d < o->datasets.n; d++)
        if (runs[d].ok)
            cli_metrics_table_row(stdout, runs[d].name, &runs[d].res.summary, o->max_clicks);
    for (int d = 0; d < o->datasets.n; d++) {
        if (!runs[d].ok) continue;
        cli_printf(stdout, "  ");
        cli_metrics_latency_line(stdout, runs[d].name, &runs[d].res.summary);
        if (runs[d].res.n_skipped)
            cli_printf(stdout, "  %s: %d image(s) skipped (see messages above)\n", runs[d].name,
                       runs[d].res.n_skipped);
    }
    fflush(stdout);
}

/* Writes the JSON and the chart (beside the JSON unless --chart); returns 0 or 1. */
static int write_files(const eval_opts *o, const char *tool_name, const ds_run *runs) {
    sa_eval_report_entry entries[CLI_MAX_MULTI];
    const char **warnings[CLI_MAX_MULTI] = {0};
    int n = 0;
    for (int d = 0; d < o->datasets.n; d++) {
        if (!runs[d].ok) continue;
        const sa_refer *rf = runs[d].refer;
        int nw = rf ? sa_refer_n_warnings(rf) : sa_dataset_n_warnings(runs[d].ds);
        warnings[n] = nw ? calloc((size_t)nw, sizeof *warnings[n]) : NULL;
        for (int w = 0; warnings[n] && w < nw; w++)
            warnings[n][w] = rf ? sa_refer_warning(rf, w) : sa_dataset_warning(runs[d].ds, w);
        sa_eval_report_entry *e = &entries[n];
        *e = (sa_eval_report_entry){.name = runs[d].name,
                                    .dir = runs[d].dir ? runs[d].dir : "",
                                    .layout = rf ? "referring" : sa_dataset_layout(runs[d].ds),
                                    .result = &runs[d].res,
                                    .warnings = warnings[n],
                                    .n_warnings = warnings[n] ? nw : 0,
                                    .refer = rf ? &runs[d].rsum : NULL};
        n++;
    }
    sa_eval_report rep = {.tool = tool_name,
                          .annotator = o->use_llm ? o->lp.model : "simulated (docs/annotator.md)",
                          .annotator_label = o->use_llm ? o->lp.model : "simulated annotator",
                          .max_clicks = o->max_clicks,
                          .entries = entries,
                          .n_entries = n};
    sa_error err = {0};
    int status = 0;
    if (o->json_path) {
        if (sa_eval_report_write_json(o->json_path, &rep, &err) != SA_OK) {
            cli_printf(stderr, "eval: %s\n", err.msg);
            status = 1;
        } else {
            cli_printf(stdout, "wrote %s\n", o->json_path);
        }
    }
    const char *chart = o->chart_path;
    if (chart) {
        if (sa_eval_report_write_chart(chart, &rep, &err) != SA_OK) {
            cli_printf(stderr, "eval: %s\n", err.msg);
            status = 1;
        } else {
            cli_printf(stdout, "wrote %s\n", chart);
        }
    }
    for (int d = 0; d < n; d++)
        free(warnings[d]);
    return status;
}

int cli_eval(int argc, char **argv) {
    eval_opts o;
    int pr = parse_opts(argc, argv, &o);
    if (pr) {
        free(o.chart_auto);
        return pr < 0 ? 0 : pr;
    }
    ds_run runs[CLI_MAX_MULTI];
    memset(runs, 0, sizeof runs);
    sa_tool *tool = NULL;
    sa_error err = {0};
    int n_ok = 0, n_open = open_datasets(&o, runs), refused = n_open > 0 && check_paths(&o, runs);
    if (n_open > 0 && !refused && cli_make_tool(&o.tool, &tool, &err) != SA_OK)
        cli_printf(stderr, "eval: %s\n", err.msg);
    if (tool) n_ok = run_all(&o, tool, runs);
    int status = n_ok > 0 ? 0 : 1;
    if (n_ok > 0) {
        print_tables(&o, sa_tool_name(tool), runs);
        status |= write_files(&o, sa_tool_name(tool), runs);
    }
    for (int d = 0; d < o.datasets.n; d++) {
        sa_eval_result_free(&runs[d].res);
        sa_dataset_free(runs[d].ds);
        sa_refer_free(runs[d].refer);
    }
    sa_tool_free(tool);
    free(o.chart_auto);
    if (status == 0 && cli_stop_requested()) status = CLI_EXIT_INTERRUPTED;
    if (n_ok == 0 && o.datasets.n > 1 && !refused)
        cli_printf(stderr, "eval: nothing could be evaluated\n");
    return status;
}
