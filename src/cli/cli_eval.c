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
#include "segagent/eval_records.h"
#include "segagent/eval_report.h"
#include "segagent/evaluate.h"
#include "segagent/llm_policy.h"
#include "segagent/partfile.h"
#include "segagent/shard.h"
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
    "  --jobs N             images evaluated in parallel, 1..64 (default 1, with\n"
    "                       --concurrency one per CPU; 0 = one per CPU, at most 8);\n"
    "                       the results are identical\n"
    "  --limit N            only the first N images of each dataset (by name;\n"
    "                       default 0 = all)\n"
    "  --ignore-value V     mask value to ignore (default: 128 for the GrabCut\n"
    "                       layout, none otherwise; -1 = none)\n"
    "  --json PATH          write summary + per-image curves and clicks as JSON\n"
    "  --chart PATH         write the mIoU-vs-clicks chart as SVG\n"
    "                       (default: beside --json, with .svg); the cIoU-by-step\n"
    "                       chart goes beside it (.ciou.svg)\n"
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

static const char usage_records[] =
    "\n"
    "records, resume and shards:\n"
    "  --samples PATH       the per-sample records (JSON Lines, docs/eval-records.md):\n"
    "                       clicks, replies, predicted and true IoU per step, final\n"
    "                       mask as COCO RLE; every number printed is computed from\n"
    "                       them. Default beside --json (out.json ->\n"
    "                       out.part.jsonl); without either they stay in memory\n"
    "  --resume             keep the samples already in the records file (a killed,\n"
    "                       preempted or interrupted run) and run only the rest; a\n"
    "                       torn last record is dropped and redone. The options\n"
    "                       must be those of the first run (else it refuses)\n"
    "  --shard I/N          run shard I of N (0-based): the samples whose key (set\n"
    "                       name/sample id) hashes to I mod N (docs/parts.md). The\n"
    "                       records go to out.shard-IIII-of-NNNN.jsonl (or PATH's\n"
    "                       shard name), this shard's summary beside them (.json,\n"
    "                       .svg, .ciou.svg); `segagent merge` joins the parts into\n"
    "                       what one run writes. Without --shard, a Slurm array\n"
    "                       task (SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed Job\n"
    "                       (JOB_COMPLETION_INDEX, with --shards) picks the shard\n"
    "  --shards N           number of shards for JOB_COMPLETION_INDEX\n";

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
    "  --captions FILE      captions of an hres= set: NAME<TAB>caption lines or a JSON\n"
    "                       object (docs/metrics.md#datasets)\n"
    "  --concurrency N      episodes in flight, 1..256, each on its own worker with\n"
    "                       its own policy client (default: --jobs); the tool runs\n"
    "                       at most --jobs calls at once; results do not depend on it\n"
    "  --policy URL         an LLM policy server clicks instead of the simulated\n"
    "                       annotator, with the policy options of segment (--model\n"
    "                       NAME, --prompt, ...); SimpleClick's checkpoint is then\n"
    "                       --tool-model\n"
    "  PRMcIoU / PRMgIoU    the same for the PRM choice: per sample, the mask with\n"
    "                       the highest predicted IoU (the reply's \"Current IOU\"\n"
    "                       scores the mask it was shown) among those seen so far;\n"
    "                       ties go to the later mask; no prediction = the last\n"
    "  latency              p50 / p90 / p99 of the policy's time per step (an HTTP\n"
    "                       request for --policy)\n"
    "  segagent prm-select RECORDS.jsonl redoes the PRM choice offline.\n";

typedef struct ds_run {
    const char *name;
    const char *dir;
    sa_dataset *ds;
    sa_refer *refer;    /* a referring set instead of ds */
    sa_eval_result res; /* what this process ran (messages); the numbers come from the records */
    int set;      /* its index among the run's sets (the records' config), -1 when not opened */
    int ok;       /* it has a measured sample (in the records) */
    char key[64]; /* the name made unique for the JSON keys */
} ds_run;

typedef struct eval_opts {
    cli_multi datasets;
    cli_tool_opts tool;
    int max_clicks, jobs, limit, quiet, per_image, ignore_value;
    const char *json_path, *chart_path;
    const char *images, *split_by, *captions;
    int per_ref, concurrency;
    int use_llm; /* --policy given: the LLM options are in the table */
    cli_llm_opts lo;
    sa_llm_params lp;
    const char *samples_path, *shard_spec;
    int resume, shards;
    sa_shard shard;
    char shard_from[32];
    /* what is written, all malloc'd (NULL = not written): the per-sample part file, the summary JSON and
     * the two charts (a shard's own names beside its part file) */
    char *part_path, *out_json, *out_chart, *out_ciou;
} eval_opts;

/* The per-sample records of the run: the part file (when there is one) and the book the numbers come from. */
typedef struct eval_recs {
    sa_eval_book *book;
    sa_part *part;
    const ds_run *runs;
    int n_runs;
    int failed; /* a record could not be written or kept: the run stops, err says why */
    sa_error err;
} eval_recs;

/* on_sample's context: one set of the run. */
typedef struct set_ctx {
    eval_recs *recs;
    const ds_run *run;
} set_ctx;

static int make_llm_policy(void *ctx, sa_policy **out, sa_error *err) {
    return sa_llm_policy_new(*(const sa_llm_params *)ctx, out, NULL, err);
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

static char *dup_or_null(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

static void free_out_paths(eval_opts *o) {
    free(o->part_path);
    free(o->out_json);
    free(o->out_chart);
    free(o->out_ciou);
    o->part_path = o->out_json = o->out_chart = o->out_ciou = NULL;
}

/* The files of this run (docs/eval-records.md): unsharded, --json out.json writes out.json, out.svg,
 * out.ciou.svg and the records out.part.jsonl (--samples PATH: PATH); shard I/N writes
 * out.shard-IIII-of-NNNN.jsonl (or PATH's shard name) and its own summary beside it (.json, .svg, .ciou.svg).
 * 0, or 1 when out of memory. */
static int out_paths(eval_opts *o) {
    int sharded = o->shard.count > 1;
    char *json_part = o->json_path ? sa_shard_part_path(o->json_path, o->shard) : NULL;
    if (o->samples_path)
        o->part_path =
            sharded ? sa_shard_part_path(o->samples_path, o->shard) : dup_or_null(o->samples_path);
    else
        o->part_path = dup_or_null(json_part);
    if (o->json_path)
        o->out_json = sharded && json_part ? sa_eval_side_path(json_part, ".json")
                                           : dup_or_null(o->json_path);
    if (!sharded && o->chart_path)
        o->out_chart = dup_or_null(o->chart_path);
    else if (o->out_json)
        o->out_chart = sa_eval_side_path(o->out_json, ".svg");
    if (o->out_chart) o->out_ciou = sa_eval_side_path(o->out_chart, ".ciou.svg");
    int bad = (o->json_path && (!json_part || !o->out_json)) ||
              ((o->samples_path || o->json_path) && !o->part_path) ||
              ((o->chart_path || o->json_path) && (!o->out_chart || !o->out_ciou));
    free(json_part);
    return bad;
}

static int check_opts(eval_opts *o);

/* Parses and checks the options; 0, -1 after --help, or the exit status of a usage error. */
static int parse_opts(int argc, char **argv, eval_opts *o) {
    *o = (eval_opts){.tool = {.tool = "builtin", .threads = 2},
                     .max_clicks = 20,
                     .jobs = -1, /* not given: 1, or one per CPU with --concurrency */
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
        CLI_O_STR("captions", &o->captions),
        CLI_O_FLAG("per-ref", &o->per_ref),
        CLI_O_INT("concurrency", &o->concurrency, 1, 256),
        CLI_O_STR("samples", &o->samples_path),
        CLI_O_FLAG("resume", &o->resume),
        CLI_O_STR("shard", &o->shard_spec),
        CLI_O_INT("shards", &o->shards, 1, SA_SHARD_MAX),
    };
    /* with --policy, --model names the LLM (as in segment); without, SimpleClick's checkpoint */
    const cli_opt model_opt = CLI_TOOL_MODEL_OPT(o->tool);
    cli_opt opts[sizeof base / sizeof base[0] + CLI_LLM_N_OPTS + 1];
    int n = cli_policy_opts_table(argc, argv, base, (int)(sizeof base / sizeof base[0]), &model_opt,
                                  &o->lo, &o->use_llm, opts);
    char help[sizeof usage + sizeof usage_records + sizeof usage_refer];
    snprintf(help, sizeof help, "%s%s%s", usage, usage_records, usage_refer);
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
    if (o->jobs < 0) o->jobs = o->concurrency > 0 ? 0 : 1;
    if (o->jobs == 0) o->jobs = cli_default_jobs(o->tool.tool);
    sa_error err = {0};
    if (sa_shard_resolve(o->shard_spec, o->shards, &o->shard, o->shard_from, sizeof o->shard_from,
                         &err)) {
        cli_printf(stderr, "eval: %s\n", err.msg);
        return 2;
    }
    if ((o->shard.count > 1 || o->resume) && !o->json_path && !o->samples_path) {
        cli_printf(stderr, "eval: %s needs --json or --samples (the per-sample part file)\n",
                   o->resume ? "--resume" : "a shard");
        return 2;
    }
    if (out_paths(o)) {
        cli_printf(stderr, "eval: out of memory\n");
        return 1;
    }
    if ((o->out_json && cli_check_out_file("eval", "json", o->out_json)) ||
        (o->out_chart && cli_check_out_file("eval", "chart", o->out_chart)) ||
        (o->part_path && cli_check_out_file("eval", "samples", o->part_path)))
        return 1; /* before any work, not after an hour of it */
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
        cli_io_output(&io, "--json", o->out_json) ||
        cli_io_output(&io, o->chart_path ? "--chart" : "--chart (beside --json)", o->out_chart) ||
        cli_io_output(&io, "the cIoU chart (beside --chart)", o->out_ciou) ||
        cli_io_output(&io, o->samples_path ? "--samples" : "the records (beside --json)",
                      o->part_path);
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
            rp.captions = o->captions;
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

/* The options that decide the results, for the part header (a resumed or merged part must agree). */
static cJSON *run_options(const eval_opts *o) {
    cJSON *c = cJSON_CreateObject();
    if (!c) return NULL;
    const char *keys[] = {"tool",      "sam_model", "tool_model", "zoom_in", "flip",  "prob_thresh",
                          "precision", "split_by",  "captions",   "model",   "prompt"};
    const char *vals[] = {o->tool.tool,
                          o->tool.sam_model,
                          o->tool.model,
                          o->tool.zoom_in,
                          o->tool.flip,
                          o->tool.prob_thresh,
                          o->tool.precision,
                          o->split_by,
                          o->captions,
                          o->use_llm ? o->lp.model : NULL,
                          o->use_llm ? o->lp.prompt : NULL};
    int ok = 1;
    for (size_t k = 0; ok && k < sizeof keys / sizeof keys[0]; k++)
        ok = cJSON_AddItemToObject(c, keys[k],
                                   vals[k] ? cJSON_CreateString(vals[k]) : cJSON_CreateNull()) != 0;
    ok = ok && cJSON_AddNumberToObject(c, "limit", o->limit) &&
         cJSON_AddBoolToObject(c, "per_ref", o->per_ref) &&
         cJSON_AddNumberToObject(c, "ignore_value", o->ignore_value) &&
         cJSON_AddBoolToObject(c, "llm", o->use_llm);
    if (ok && o->use_llm)
        ok = cJSON_AddNumberToObject(c, "temperature", o->lp.temperature) &&
             cJSON_AddNumberToObject(c, "top_p", o->lp.top_p) &&
             cJSON_AddNumberToObject(c, "max_tokens", o->lp.max_tokens) &&
             cJSON_AddNumberToObject(c, "seed", (double)o->lp.seed) &&
             cJSON_AddNumberToObject(c, "model_size", o->lp.model_size);
    if (!ok) {
        cJSON_Delete(c);
        return NULL;
    }
    return c;
}

static int run_total(const eval_opts *o, const ds_run *r) {
    int total = r->refer ? sa_refer_count(r->refer) : sa_dataset_count(r->ds);
    return o->limit > 0 && o->limit < total ? o->limit : total;
}

/* The book of the run: its config lists the opened sets in command-line order (runs[d].set). */
static int make_book(const eval_opts *o, const char *tool_name, ds_run *runs, sa_eval_book **out,
                     sa_error *err) {
    sa_eval_set_info sets[CLI_MAX_MULTI];
    const char **warnings[CLI_MAX_MULTI] = {0};
    int n = 0;
    for (int d = 0; d < o->datasets.n; d++) {
        ds_run *r = &runs[d];
        r->set = -1;
        if (!r->ds && !r->refer) continue;
        int nw = r->refer ? sa_refer_n_warnings(r->refer) : sa_dataset_n_warnings(r->ds);
        warnings[n] = calloc((size_t)(nw > 0 ? nw : 1), sizeof *warnings[n]);
        for (int w = 0; warnings[n] && w < nw; w++)
            warnings[n][w] =
                r->refer ? sa_refer_warning(r->refer, w) : sa_dataset_warning(r->ds, w);
        sets[n] = (sa_eval_set_info){.name = r->name,
                                     .dir = r->dir ? r->dir : "",
                                     .layout = r->refer ? "referring" : sa_dataset_layout(r->ds),
                                     .split = r->refer ? sa_refer_split(r->refer) : "",
                                     .referring = r->refer != NULL,
                                     .items = run_total(o, r),
                                     .warnings = warnings[n],
                                     .n_warnings = warnings[n] ? nw : 0};
        r->set = n++;
    }
    cJSON *opts = run_options(o);
    sa_eval_run_info ri = {.tool = tool_name,
                           .annotator = o->use_llm ? o->lp.model : "simulated (docs/annotator.md)",
                           .annotator_label = o->use_llm ? o->lp.model : "simulated annotator",
                           .max_clicks = o->max_clicks,
                           .options = opts,
                           .sets = sets,
                           .n_sets = n};
    cJSON *cfg = opts ? sa_eval_run_config(&ri) : NULL;
    int rc =
        cfg ? sa_eval_book_new(cfg, out, err) : sa_error_set(err, SA_ERR_NOMEM, "out of memory");
    cJSON_Delete(cfg);
    cJSON_Delete(opts);
    for (int k = 0; k < n; k++)
        free(warnings[k]);
    return rc;
}

/* The id of item j of the run's set k (its name in the set). */
static const char *item_id(const eval_recs *er, int k, int j) {
    for (int d = 0; d < er->n_runs; d++) {
        const ds_run *r = &er->runs[d];
        if (r->set != k) continue;
        if (r->refer) return sa_refer_get(r->refer, j) ? sa_refer_get(r->refer, j)->id : NULL;
        return sa_dataset_item_name(r->ds, j);
    }
    return NULL;
}

/* A record found when resuming: it must be the same item of the same set (else the data changed). */
static int on_resumed(void *user, const cJSON *rec, sa_error *err) {
    eval_recs *er = user;
    const cJSON *iv = cJSON_GetObjectItemCaseSensitive(rec, "i");
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(rec, "key");
    int i = cJSON_IsNumber(iv) ? iv->valueint : -1, k = -1;
    for (int s = 0; s < sa_eval_book_n_sets(er->book); s++)
        if (i >= sa_eval_book_set_first(er->book, s)) k = s;
    const char *id = k >= 0 ? item_id(er, k, i - sa_eval_book_set_first(er->book, k)) : NULL;
    const char *set = k >= 0 ? sa_eval_book_set_name(er->book, k) : "";
    size_t nl = strlen(set);
    if (!id || !cJSON_IsString(key) || strncmp(key->valuestring, set, nl) ||
        key->valuestring[nl] != '/' || strcmp(key->valuestring + nl + 1, id))
        return sa_error_set(err, SA_ERR_STATE,
                            "record %d is '%s', but item %d of this run is '%s/%s': the dataset "
                            "changed (remove the part file to start again)",
                            i, cJSON_IsString(key) ? key->valuestring : "?", i, set, id ? id : "?");
    return sa_eval_book_add(er->book, rec, err);
}

/* Opens (or resumes) the part file; without one the records are kept in the book only. 0 or 1. */
static int open_records(const eval_opts *o, const char *tool_name, ds_run *runs, eval_recs *er) {
    sa_error err = {0};
    er->runs = runs;
    er->n_runs = o->datasets.n;
    if (make_book(o, tool_name, runs, &er->book, &err) != SA_OK) {
        cli_printf(stderr, "eval: %s\n", err.msg);
        return 1;
    }
    if (!o->part_path) return 0;
    sa_part_header h = {.command = "eval",
                        .shard = o->shard,
                        .total = sa_eval_book_total(er->book),
                        .config = sa_eval_book_config(er->book)};
    sa_part_resume_info info;
    int rc = sa_part_open(o->part_path, h, o->resume, on_resumed, er, &info, &er->part, &err);
    if (rc != SA_OK) {
        cli_printf(stderr, "eval: %s\n", err.msg);
        return 1;
    }
    if (o->shard.count > 1)
        cli_printf(stderr, "eval: shard %d of %d (%s), records in %s\n", o->shard.index,
                   o->shard.count, o->shard_from, o->part_path);
    if (o->resume)
        cli_printf(stderr, "eval: resuming %s: %d sample(s) already done%s%s\n", o->part_path,
                   info.records, info.torn ? ", a torn last record dropped" : "",
                   info.ended ? " (the part was complete)" : "");
    return 0;
}

/* A finished sample: its record goes to the part file (flushed) and into the book. */
static int on_sample(void *ctx, const sa_eval_sample *s) {
    set_ctx *sc = ctx;
    eval_recs *er = sc->recs;
    const ds_run *r = sc->run;
    const sa_refer_sample *rs = r->refer ? sa_refer_get(r->refer, s->item) : NULL;
    cJSON *rec =
        sa_eval_record_json(s, sa_eval_book_set_first(er->book, r->set) + s->item, r->name,
                            r->refer ? sa_refer_split(r->refer) : "", rs ? rs->caption : NULL);
    int rc = rec ? SA_OK : sa_error_set(&er->err, SA_ERR_NOMEM, "out of memory");
    if (rc == SA_OK && er->part) rc = sa_part_append(er->part, rec, &er->err);
    if (rc == SA_OK) rc = sa_eval_book_add(er->book, rec, &er->err);
    cJSON_Delete(rec);
    if (rc != SA_OK) er->failed = 1;
    return rc != SA_OK;
}

/* This shard's items of the set not yet in the records (malloc'd, *n of them; NULL when out of memory). */
static int *pending_items(const eval_opts *o, const eval_recs *er, const ds_run *r, int *n) {
    int total = run_total(o, r), first = sa_eval_book_set_first(er->book, r->set);
    int *v = malloc((size_t)(total > 0 ? total : 1) * sizeof *v);
    *n = 0;
    for (int j = 0; v && j < total; j++) {
        if (sa_eval_book_has(er->book, first + j)) continue;
        const char *id = item_id(er, r->set, j);
        size_t kn = strlen(r->name) + (id ? strlen(id) : 0) + 2;
        char *key = malloc(kn);
        if (!key) {
            free(v);
            return NULL;
        }
        snprintf(key, kn, "%s/%s", r->name, id ? id : ""); /* the record's key (eval_records.h) */
        if (sa_shard_owns(o->shard, key)) v[(*n)++] = j;
        free(key);
    }
    return v;
}

/* Runs one set's pending items; 0, or the error printed. */
static int run_set(const eval_opts *o, sa_tool *tool, sa_eval_params ep, ds_run *r, eval_recs *er) {
    int n_items = 0;
    int *items = pending_items(o, er, r, &n_items);
    if (!items) {
        cli_printf(stderr, "eval: out of memory\n");
        return 1;
    }
    set_ctx sc = {er, r};
    ep.items = items;
    ep.n_items = n_items;
    ep.on_sample = on_sample;
    ep.sample_ctx = &sc;
    cli_progress prog;
    cli_progress_start(&prog, r->name, n_items, o->quiet);
    sa_error err = {0};
    int rc = r->refer ? sa_eval_run_refer(tool, r->refer, ep, on_progress, &prog, &r->res, &err)
                      : sa_eval_run(tool, r->ds, ep, on_progress, &prog, &r->res, &err);
    cli_progress_end(&prog);
    free(items);
    for (int i = 0; i < r->res.n_samples; i++) {
        const sa_eval_sample *s = &r->res.samples[i];
        if (s->status != SA_OK)
            cli_printf(stderr, "%s: %s\n", s->iou ? "warning: tool failed part-way" : "skipped",
                       s->error ? s->error : "?");
    }
    if (er->failed) {
        cli_printf(stderr, "eval: %s\n", er->err.msg);
        return 1;
    }
    /* "none could be evaluated" is said from the records (resumed ones may have been) */
    if (rc != SA_OK && !(rc == SA_ERR_NOT_FOUND && r->res.n_samples > 0))
        cli_printf(stderr, "eval: %s\n", err.msg);
    return 0;
}

/* Evaluates every opened set (this shard's items not yet recorded); the part file gets its end record when
 * every set ran to the end. Returns how many sets have a measured sample in the records. */
static int run_all(const eval_opts *o, sa_tool *tool, ds_run *runs, eval_recs *er) {
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
    int broken = 0;
    cli_stop_install();
    for (int d = 0; d < o->datasets.n && !cli_stop_requested() && !broken; d++)
        if (runs[d].set >= 0) broken = run_set(o, tool, ep, &runs[d], er);
    cli_stop_restore();
    int stopped = cli_stop_requested() || broken;
    if (cli_stop_requested())
        cli_printf(stderr, "eval: interrupted; the results cover the images evaluated so far%s\n",
                   er->part ? " (run again with --resume to finish)" : "");
    sa_error err = {0};
    if (er->part && !stopped && sa_part_finish(er->part, &err) != SA_OK)
        cli_printf(stderr, "eval: %s\n", err.msg);
    else if (er->part && stopped)
        sa_part_close(er->part);
    er->part = NULL;
    cli_tool_report("eval", tool, o->quiet);
    if (sa_eval_book_summarize(er->book, &err) != SA_OK) {
        cli_printf(stderr, "eval: %s\n", err.msg);
        return 0;
    }
    int n_ok = 0;
    for (int d = 0; d < o->datasets.n; d++) {
        ds_run *r = &runs[d];
        r->ok = r->set >= 0 && sa_eval_book_set_ok(er->book, r->set);
        n_ok += r->ok;
        if (r->set >= 0 && !r->ok && sa_eval_book_result(er->book, r->set)->n_samples > 0)
            cli_printf(stderr, "eval: %s: none of its %d sample(s) could be evaluated\n", r->name,
                       sa_eval_book_result(er->book, r->set)->n_samples);
    }
    return stopped && broken ? 0 : n_ok;
}

static void print_per_image(const char *name, const sa_eval_result *res, int max_clicks) {
    cli_printf(stdout, "\n%s, per image:\n  %-24s %6s %6s %8s %s\n", name, "image", "NoC@85",
               "NoC@90", "last IoU", "note");
    for (int i = 0; i < res->n_samples; i++) {
        const sa_eval_sample *s = &res->samples[i];
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

/* The referring sets' table: cIoU, gIoU, the PRM choice's, mIoU by step; failures and latency below. */
static void print_refer_table(const eval_opts *o, const ds_run *runs, const sa_eval_book *b) {
    cli_printf(stdout, "%-24s %7s %6s %7s %7s %7s %7s  mIoU by step\n", "referring set", "samples",
               "failed", "cIoU", "gIoU", "PRMcIoU", "PRMgIoU");
    for (int d = 0; d < o->datasets.n; d++) {
        const ds_run *r = &runs[d];
        if (!r->ok || !r->refer) continue;
        const sa_eval_refer_summary *rs = sa_eval_book_refer(b, r->set);
        cli_printf(stdout, "%-24.24s %7d %6d %7.4f %7.4f %7.4f %7.4f ", r->name, rs->n_samples,
                   rs->n_failed, rs->ciou, rs->giou, rs->prm_ciou, rs->prm_giou);
        for (int t = 0; t < o->max_clicks && t < 10; t++)
            cli_printf(stdout, " %.3f", rs->miou_by_step[t]);
        cli_printf(stdout, "\n");
        const int *f = rs->failures;
        if (f[SA_EVAL_END_UNPARSEABLE] + f[SA_EVAL_END_POLICY] + f[SA_EVAL_END_TOOL] +
            f[SA_EVAL_END_LOAD])
            cli_printf(
                stdout,
                "  %s failures: %d unparseable reply, %d policy (HTTP) error, %d tool error, "
                "%d load error\n",
                r->name, f[SA_EVAL_END_UNPARSEABLE], f[SA_EVAL_END_POLICY], f[SA_EVAL_END_TOOL],
                f[SA_EVAL_END_LOAD]);
        if (rs->n_requests > 0)
            cli_printf(stdout,
                       "  %s requests: %ld, latency p50 %.1f ms, p90 %.1f ms, p99 %.1f ms\n",
                       r->name, rs->n_requests, rs->req_ms_p50, rs->req_ms_p90, rs->req_ms_p99);
    }
}

static void print_tables(const eval_opts *o, const char *tool_name, const ds_run *runs,
                         const sa_eval_book *b) {
    for (int d = 0; o->per_image && d < o->datasets.n; d++)
        if (runs[d].ok)
            print_per_image(runs[d].name, sa_eval_book_result(b, runs[d].set), o->max_clicks);
    const char *who = o->use_llm ? o->lp.model : "simulated annotator";
    cli_printf(stdout, "\ntool: %s, %s, %d clicks per image\n", tool_name, who, o->max_clicks);
    int any_refer = 0;
    for (int d = 0; d < o->datasets.n; d++)
        any_refer |= runs[d].ok && runs[d].refer;
    if (any_refer) print_refer_table(o, runs, b);
    cli_metrics_table_header(stdout, o->max_clicks);
    for (int d = 0; d < o->datasets.n; d++)
        if (runs[d].ok)
            cli_metrics_table_row(stdout, runs[d].name,
                                  &sa_eval_book_result(b, runs[d].set)->summary, o->max_clicks);
    for (int d = 0; d < o->datasets.n; d++) {
        if (!runs[d].ok) continue;
        const sa_eval_result *res = sa_eval_book_result(b, runs[d].set);
        cli_printf(stdout, "  ");
        cli_metrics_latency_line(stdout, runs[d].name, &res->summary);
        if (res->n_skipped)
            cli_printf(stdout, "  %s: %d image(s) skipped (see messages above)\n", runs[d].name,
                       res->n_skipped);
    }
    fflush(stdout);
}

/* Writes the JSON and the charts, from the records; returns 0 or 1. */
static int write_files(const eval_opts *o, sa_eval_book *b) {
    sa_error err = {0};
    if (!o->out_json && !o->out_chart) return 0;
    if (sa_eval_book_write(b, o->out_json, o->out_chart, o->out_ciou, &err) != SA_OK) {
        cli_printf(stderr, "eval: %s\n", err.msg);
        return 1;
    }
    const char *files[] = {o->out_json, o->out_chart, o->out_ciou};
    for (int k = 0; k < 3; k++)
        if (files[k]) cli_printf(stdout, "wrote %s\n", files[k]);
    if (o->part_path) cli_printf(stdout, "records in %s\n", o->part_path);
    return 0;
}

/* A shard that owns no item at all has nothing to do: that is a success (an array job's task). */
static int empty_shard(const eval_opts *o, const ds_run *runs, const eval_recs *er) {
    if (o->shard.count < 2 || !er->book || cli_stop_requested()) return 0;
    for (int d = 0; d < o->datasets.n; d++)
        if (runs[d].set < 0 || sa_eval_book_result(er->book, runs[d].set)->n_samples > 0) return 0;
    cli_printf(stderr, "eval: shard %d of %d holds none of the items\n", o->shard.index,
               o->shard.count);
    return 1;
}

int cli_eval(int argc, char **argv) {
    eval_opts o;
    int pr = parse_opts(argc, argv, &o);
    if (pr) {
        free_out_paths(&o);
        return pr < 0 ? 0 : pr;
    }
    ds_run runs[CLI_MAX_MULTI];
    memset(runs, 0, sizeof runs);
    sa_tool *tool = NULL;
    sa_error err = {0};
    eval_recs er;
    memset(&er, 0, sizeof er);
    int n_ok = 0, n_open = open_datasets(&o, runs), refused = n_open > 0 && check_paths(&o, runs);
    if (n_open > 0 && !refused && cli_make_tool(&o.tool, &tool, &err) != SA_OK)
        cli_printf(stderr, "eval: %s\n", err.msg);
    if (tool && open_records(&o, sa_tool_name(tool), runs, &er) == 0)
        n_ok = run_all(&o, tool, runs, &er);
    int status = n_ok > 0 || empty_shard(&o, runs, &er) ? 0 : 1;
    if (n_ok > 0) {
        print_tables(&o, sa_tool_name(tool), runs, er.book);
        status |= write_files(&o, er.book);
    }
    sa_part_close(er.part);
    sa_eval_book_free(er.book);
    for (int d = 0; d < o.datasets.n; d++) {
        sa_eval_result_free(&runs[d].res);
        sa_dataset_free(runs[d].ds);
        sa_refer_free(runs[d].refer);
    }
    sa_tool_free(tool);
    free_out_paths(&o);
    if (status == 0 && cli_stop_requested()) status = CLI_EXIT_INTERRUPTED;
    if (n_ok == 0 && o.datasets.n > 1 && !refused)
        cli_printf(stderr, "eval: nothing could be evaluated\n");
    return status;
}
