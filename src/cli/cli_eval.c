/* segagent eval: the click benchmark (NoC / NoF / mIoU@k) of a tool driven by the simulated annotator over one
 * or more datasets; a table on stdout, progress and problems on stderr, optional JSON and SVG chart. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/chart_svg.h"
#include "cli.h"
#include "cli_report.h"
#include "segagent/dataset.h"
#include "segagent/evaluate.h"

static const char usage[] =
    "usage: segagent eval --dataset NAME=DIR [--dataset NAME=DIR ...] [options]\n"
    "\n"
    "Benchmarks an interactive segmentation tool the way the literature does: for\n"
    "every image, the simulated annotator (SPEC.md section 3) clicks in the middle\n"
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
    "  --jobs N             images evaluated in parallel (default 1); the\n"
    "                       results are identical, only faster\n"
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
    "exit status: 0 when at least one dataset was evaluated, 1 when nothing could\n"
    "be, 2 on a usage error.\n";

typedef struct ds_run {
    const char *name;
    const char *dir;
    sa_dataset *ds;
    sa_eval_result res;
    int ok;
} ds_run;

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

int cli_eval(int argc, char **argv) {
    cli_multi datasets = {{0}, 0};
    cli_tool_opts topt = {"builtin", NULL, 2};
    int max_clicks = 20, jobs = 1, limit = 0, quiet = 0, per_image = 0,
        ignore_value = SA_DATASET_IGNORE_AUTO;
    const char *json_path = NULL, *chart_path = NULL;
    const cli_opt opts[] = {
        {"dataset", CLI_MULTI, &datasets},
        {"tool", CLI_STR, &topt.tool},
        {"sam-model", CLI_STR, &topt.sam_model},
        {"threads", CLI_INT, &topt.threads},
        {"max-clicks", CLI_INT, &max_clicks},
        {"jobs", CLI_INT, &jobs},
        {"limit", CLI_INT, &limit},
        {"json", CLI_STR, &json_path},
        {"chart", CLI_STR, &chart_path},
        {"quiet", CLI_FLAG, &quiet},
        {"ignore-value", CLI_INT, &ignore_value},
        {"per-image", CLI_FLAG, &per_image},
    };
    int pr = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), NULL, 0, NULL, usage);
    if (pr) return pr == 1 ? 0 : 2;
    if (datasets.n == 0) {
        fprintf(stderr, "eval: give at least one --dataset NAME=DIR (see --help)\n");
        return 2;
    }
    if (cli_check_int("eval", "max-clicks", max_clicks, 1, SA_METRICS_MAX_CLICKS) ||
        cli_check_int("eval", "jobs", jobs, 1, 256) || cli_check_int("eval", "limit", limit, 0, 2147483647L) ||
        (ignore_value != SA_DATASET_IGNORE_AUTO && cli_check_int("eval", "ignore-value", ignore_value, -1, 255)) ||
        cli_check_tool_opts("eval", &topt))
        return 2;
    if ((json_path && cli_check_out_file("eval", "json", json_path)) ||
        (chart_path && cli_check_out_file("eval", "chart", chart_path)))
        return 1; /* before any work, not after an hour of it */

    sa_error err = {0};
    sa_tool *tool = NULL;
    sa_eval_params ep = sa_eval_default_params();
    ep.max_clicks = max_clicks;
    ep.threads = jobs;
    ep.limit = limit;
    sa_dataset_params dp = sa_dataset_default_params();
    dp.ignore_value = ignore_value;

    ds_run runs[CLI_MAX_MULTI];
    memset(runs, 0, sizeof runs);
    char names[CLI_MAX_MULTI][64];
    int n_ok = 0, n_open = 0;
    /* Datasets first: a mistyped folder is reported before a large checkpoint is loaded. */
    for (int d = 0; d < datasets.n; d++) {
        ds_run *r = &runs[d];
        split_spec(datasets.v[d], names[d], sizeof names[d], &r->dir);
        if (sa_dataset_open(names[d][0] ? names[d] : NULL, r->dir, dp, &r->ds, &err) != SA_OK) {
            fprintf(stderr, "eval: %s\n", err.msg);
            continue;
        }
        n_open++;
        r->name = sa_dataset_name(r->ds);
        for (int e = 0; e < d; e++) /* the JSON keys must be unique */
            if (runs[e].name && !strcmp(runs[e].name, r->name)) {
                snprintf(names[d], sizeof names[d], "%.50s#%d", r->name, d + 1);
                r->name = names[d];
                break;
            }
        for (int w = 0; w < sa_dataset_n_warnings(r->ds); w++)
            fprintf(stderr, "warning: %s\n", sa_dataset_warning(r->ds, w));
    }
    if (n_open > 0 && cli_make_tool(&topt, &tool, &err) != SA_OK) {
        fprintf(stderr, "eval: %s\n", err.msg);
        n_open = 0;
    }
    for (int d = 0; d < datasets.n && n_open > 0; d++) {
        ds_run *r = &runs[d];
        if (!r->ds) continue;
        cli_progress prog;
        int total = sa_dataset_count(r->ds);
        if (limit > 0 && limit < total) total = limit;
        cli_progress_start(&prog, r->name, total, quiet);
        int rc = sa_eval_run(tool, r->ds, ep, on_progress, &prog, &r->res, &err);
        cli_progress_end(&prog);
        for (int i = 0; i < r->res.n_samples; i++) {
            const sa_eval_sample *s = &r->res.samples[i];
            if (s->status == SA_OK) continue;
            fprintf(stderr, "%s: %s\n", s->iou ? "warning: tool failed part-way" : "skipped",
                    s->error ? s->error : "?");
        }
        if (rc != SA_OK) {
            fprintf(stderr, "eval: %s\n", err.msg);
            continue;
        }
        r->ok = 1;
        n_ok++;
    }

    if (n_ok > 0 && per_image) {
        for (int d = 0; d < datasets.n; d++) {
            if (!runs[d].ok) continue;
            printf("\n%s, per image:\n  %-24s %6s %6s %8s %s\n", runs[d].name, "image", "NoC@85",
                   "NoC@90", "last IoU", "note");
            for (int i = 0; i < runs[d].res.n_samples; i++) {
                const sa_eval_sample *s = &runs[d].res.samples[i];
                if (!s->iou) {
                    printf("  %-24.24s %6s %6s %8s skipped\n", s->name ? s->name : "?", "-", "-",
                           "-");
                    continue;
                }
                printf("  %-24.24s %6d %6d %8.4f %s\n", s->name ? s->name : "?",
                       sa_metrics_noc(s->iou, s->n, s->iou0, max_clicks, 0.85),
                       sa_metrics_noc(s->iou, s->n, s->iou0, max_clicks, 0.90),
                       s->n ? s->iou[s->n - 1] : s->iou0,
                       s->status != SA_OK ? "tool failed"
                       : s->done_early    ? "nothing left to fix"
                                          : "");
            }
        }
    }
    if (n_ok > 0) {
        printf("\ntool: %s, simulated annotator, %d clicks per image\n", sa_tool_name(tool),
               max_clicks);
        cli_metrics_table_header(stdout, max_clicks);
        for (int d = 0; d < datasets.n; d++)
            if (runs[d].ok)
                cli_metrics_table_row(stdout, runs[d].name, &runs[d].res.summary, max_clicks);
        for (int d = 0; d < datasets.n; d++)
            if (runs[d].ok) {
                printf("  ");
                cli_metrics_latency_line(stdout, runs[d].name, &runs[d].res.summary);
                if (runs[d].res.n_skipped)
                    printf("  %s: %d image(s) skipped (see messages above)\n", runs[d].name,
                           runs[d].res.n_skipped);
            }
        fflush(stdout);
    }

    int status = n_ok > 0 ? 0 : 1;
    if (n_ok > 0 && json_path) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "tool", sa_tool_name(tool));
        cJSON_AddStringToObject(doc, "annotator", "simulated (SPEC.md section 3)");
        cJSON_AddNumberToObject(doc, "max_clicks", max_clicks);
        cJSON *all = cJSON_AddObjectToObject(doc, "datasets");
        for (int d = 0; d < datasets.n && all; d++) {
            ds_run *r = &runs[d];
            if (!r->ok) continue;
            cJSON *o = cJSON_AddObjectToObject(all, r->name);
            if (!o) break;
            cJSON_AddStringToObject(o, "dir", r->dir);
            cJSON_AddStringToObject(o, "layout", sa_dataset_layout(r->ds));
            cJSON_AddItemToObject(o, "summary",
                                  cli_json_summary(&r->res.summary, r->res.n_skipped));
            cJSON *samples = cJSON_AddArrayToObject(o, "samples");
            cJSON *skipped = cJSON_AddArrayToObject(o, "skipped");
            cJSON *warnings = cJSON_AddArrayToObject(o, "warnings");
            for (int i = 0; i < r->res.n_samples; i++) {
                const sa_eval_sample *s = &r->res.samples[i];
                if (s->iou) {
                    cJSON_AddItemToArray(samples, cli_json_sample(s, max_clicks));
                } else {
                    cJSON *k = cJSON_CreateObject();
                    cJSON_AddStringToObject(k, "name", s->name ? s->name : "");
                    cJSON_AddStringToObject(k, "error", s->error ? s->error : "");
                    cJSON_AddItemToArray(skipped, k);
                }
            }
            for (int w = 0; w < sa_dataset_n_warnings(r->ds); w++)
                cJSON_AddItemToArray(warnings, cJSON_CreateString(sa_dataset_warning(r->ds, w)));
        }
        if (cli_json_write(json_path, doc, &err) != SA_OK) {
            fprintf(stderr, "eval: %s\n", err.msg);
            status = 1;
        } else {
            printf("wrote %s\n", json_path);
        }
        cJSON_Delete(doc);
    }
    char *chart_owned = NULL;
    if (n_ok > 0 && !chart_path && json_path)
        chart_path = chart_owned = default_chart_path(json_path);
    if (n_ok > 0 && chart_path) {
        sa__chart_series series[CLI_MAX_MULTI];
        char notes[CLI_MAX_MULTI][64];
        int ns = 0;
        for (int d = 0; d < datasets.n; d++) {
            if (!runs[d].ok) continue;
            const sa_metrics_summary *s = &runs[d].res.summary;
            snprintf(notes[ns], sizeof notes[ns], "NoC@85 %.2f, NoC@90 %.2f", s->noc[SA_TAU_85],
                     s->noc[SA_TAU_90]);
            series[ns].name = runs[d].name;
            series[ns].y = s->miou + 1;
            series[ns].n = s->max_clicks;
            series[ns].note = notes[ns];
            series[ns].bold = 0;
            ns++;
        }
        char sub[160];
        snprintf(sub, sizeof sub, "tool: %s; simulated annotator; %d clicks per image",
                 sa_tool_name(tool), max_clicks);
        if (sa__chart_svg_write(chart_path, "mIoU vs number of clicks", sub, series, ns, &err) !=
            SA_OK) {
            fprintf(stderr, "eval: %s\n", err.msg);
            status = 1;
        } else {
            printf("wrote %s\n", chart_path);
        }
    }
    free(chart_owned);
    for (int d = 0; d < datasets.n; d++) {
        sa_eval_result_free(&runs[d].res);
        sa_dataset_free(runs[d].ds);
    }
    sa_tool_free(tool);
    if (n_ok == 0 && datasets.n > 1) fprintf(stderr, "eval: nothing could be evaluated\n");
    return status;
}
