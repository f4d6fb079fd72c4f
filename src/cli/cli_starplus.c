/* segagent starplus: StaR+ over training datasets (docs/starplus.md). Parses the options, opens the sets
 * (interactive folders and referring sets) and the tool, and hands the run to the library (sa_starplus_run:
 * the episode engine and the dataset runner, a resumable part file per shard); reports skipped items and the
 * kept / replaced statistics.
 *
 * Ctrl-C (SIGINT), SIGTERM or SIGHUP stop after the items in progress; the part file keeps every finished
 * item and `--resume` continues it (exit 130). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "cli_sets.h"
#include "cli_llm.h"
#include "cli_paths.h"
#include "cli_stop.h"
#include "segagent/dataset.h"
#include "segagent/refer.h"
#include "segagent/shard.h"
#include "segagent/starplus.h"

#ifndef SEGAGENT_VERSION
#define SEGAGENT_VERSION "0.1.0"
#endif

/* the help text is laid out as the user sees it */
/* clang-format off */
static const char usage_head[] =
    "usage: segagent starplus --dataset SPEC [--dataset ...] --policy URL [options]\n"
    "\n"
    "StaR+ (docs/starplus.md): the served policy segments every training sample click by click; each of its\n"
    "clicks is tried on the current mask and kept when it raises the IoU, otherwise it is replaced by the\n"
    "simulated annotator's click at that state and the episode goes on from the corrected mask. Output: the\n"
    "refined trajectories in the released SegAgent JSON format, each click with \"source\": \"policy\" or\n"
    "\"expert\", and OUT's .stats.json (kept / replaced actions, IoU at the start and the end, per sample and\n"
    "in total).\n"
    "\n"
    "  --dataset SPEC       NAME=DIR (an interactive folder: GrabCut layout or images/ + masks/), or a\n"
    "                       referring set: refcoco:SPLIT=DIR (also refcoco+, refcocog), coco=FILE,\n"
    "                       segagent=FILE, hres=DIR, scenes; repeatable\n"
    CLI_SETS_HELP
    "  --caption TEXT       description for interactive folders (default \"the object\")\n"
    "  --out PATH           trajectories JSON (default starplus.json); stats in PATH's .stats.json\n"
    "  --target-iou X       stop once IoU >= X (default 0.98)\n"
    "  --max-clicks N       at most N clicks per sample (default 20)\n"
    "  --min-gain X         keep a policy click iff it raises the IoU by more than X (default 0)\n"
    "  --limit N            at most N samples per set (default 0 = all)\n"
    "  --jobs N             samples in flight, each with its own connection (default 0 = CPU count, at\n"
    "                       most 8; 1 for --tool sam)\n"
    "  --shard I/N          run shard I of N only (also from a Slurm array or JOB_COMPLETION_INDEX with\n"
    "                       --shards N; docs/parts.md); then join the parts with `segagent merge`\n"
    "  --shards N           number of shards for JOB_COMPLETION_INDEX\n"
    "  --resume             continue the part file of an interrupted run (OUT.part.jsonl, or the shard's)\n"
    "  --quiet              no progress on stderr\n"
    CLI_TOOL_OPTIONS_HELP
    "  (--tool-model PATH   the SimpleClick checkpoint: --model names the LLM here)\n"
    "\n";
static const char usage_tail[] =
    "\n"
    "examples:\n"
    "  segagent starplus --dataset GrabCut=../shared/data/GrabCut --policy http://127.0.0.1:8000/v1 \\\n"
    "      --caption 'the main object' --out grabcut_starplus.json\n"
    "  segagent starplus --dataset refcoco:train=refer/refcoco --images train2014 --shard 3/16 --resume ...\n"
    "\n"
    "A policy error (server unreachable, HTTP error) stops the run after the items in flight; every finished\n"
    "item is in the part file and --resume continues from there. Ctrl-C does the same (exit 130).\n"
    "\n"
    "exit status: 0 when the run finished, 1 on failure (also a policy error), 2 on a usage error, 130 when\n"
    "interrupted.\n";
/* clang-format on */

typedef struct sp_opts {
    cli_llm_opts lo;
    sa_llm_params lp;
    cli_multi datasets;
    const char *images, *split_by, *captions, *out, *caption, *shard;
    cli_tool_opts tool;
    double target, min_gain;
    int max_clicks, limit, jobs, shards, resume, quiet, per_ref;
} sp_opts;

static int parse_opts(int argc, char **argv, sp_opts *o, sa_starplus_params *p) {
    *o = (sp_opts){.out = "starplus.json",
                   .caption = "the object",
                   .tool = {.tool = "builtin", .threads = 2},
                   .target = 0.98,
                   .max_clicks = 20};
    cli_llm_opts_default(&o->lo);
    const cli_opt base[] = {
        CLI_O_MULTI("dataset", &o->datasets),
        CLI_O_STR("images", &o->images),
        CLI_O_STR("split-by", &o->split_by),
        CLI_O_STR("captions", &o->captions),
        CLI_O_FLAG("per-ref", &o->per_ref),
        CLI_O_STR("caption", &o->caption),
        CLI_O_STR("out", &o->out),
        CLI_O_DOUBLE_GT("target-iou", &o->target, 0, 1),
        CLI_O_INT("max-clicks", &o->max_clicks, 1, SA_MAX_CLICKS),
        CLI_O_DOUBLE("min-gain", &o->min_gain, 0, 0.999),
        CLI_O_LIMIT(&o->limit),
        CLI_O_JOBS(&o->jobs),
        CLI_O_STR("shard", &o->shard),
        CLI_O_INT("shards", &o->shards, 1, SA_SHARD_MAX),
        CLI_O_FLAG("resume", &o->resume),
        CLI_O_FLAG("quiet", &o->quiet),
        CLI_O_STR("tool", &o->tool.tool),
        CLI_O_STR("sam-model", &o->tool.sam_model),
        CLI_O_THREADS(&o->tool.threads),
        CLI_TOOL_SC_OPTS(o->tool),
    };
    cli_opt opts[sizeof base / sizeof base[0] + CLI_LLM_N_OPTS];
    int n = 0;
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
        opts[n++] = base[i];
    cli_llm_opts_table(&o->lo, opts + n);
    n += CLI_LLM_N_OPTS;
    char usage[sizeof usage_head + sizeof CLI_LLM_OPTIONS_HELP + sizeof usage_tail];
    snprintf(usage, sizeof usage, "%s%s%s", usage_head, CLI_LLM_OPTIONS_HELP, usage_tail);
    int pr = cli_parse(argc, argv, opts, n, NULL, 0, NULL, usage);
    if (pr) return pr == 1 ? -1 : 2;
    sa_error err = {0};
    if (o->datasets.n == 0) {
        cli_printf(stderr, "%s: give at least one --dataset (see --help)\n", argv[0]);
        return 2;
    }
    if (cli_llm_params(&o->lo, &o->lp, &err) || !*o->caption) {
        cli_printf(stderr, "%s: %s\n", argv[0],
                   *o->caption ? err.msg : "--caption must not be empty");
        return 2;
    }
    if (cli_check_tool_opts(argv[0], &o->tool)) return 2;
    if (o->jobs == 0) o->jobs = cli_default_jobs(o->tool.tool);
    *p = sa_starplus_default_params();
    p->target_iou = o->target;
    p->max_clicks = o->max_clicks;
    p->min_gain = o->min_gain;
    p->workers = o->jobs;
    p->limit = o->limit;
    p->caption = o->caption;
    return 0;
}

/* The policy options that decide the results (not the URL: the same model may be served elsewhere on resume). */
static cJSON *policy_config(const sp_opts *o) {
    cJSON *c = cJSON_CreateObject();
    if (!c) return NULL;
    cJSON_AddStringToObject(c, "model", o->lo.model);
    cJSON_AddStringToObject(c, "prompt", o->lo.prompt);
    cJSON_AddStringToObject(c, "axis", o->lo.axis);
    cJSON_AddStringToObject(c, "coords", o->lo.coords);
    cJSON_AddNumberToObject(c, "temperature", o->lo.temperature);
    cJSON_AddNumberToObject(c, "top_p", o->lo.top_p);
    cJSON_AddNumberToObject(c, "max_tokens", o->lo.max_tokens);
    cJSON_AddNumberToObject(c, "seed", o->lo.seed);
    cJSON_AddStringToObject(c, "image_format", o->lo.image_format);
    cJSON_AddNumberToObject(c, "jpeg_quality", o->lo.jpeg_quality);
    cJSON_AddNumberToObject(c, "model_size", o->lo.model_size);
    cJSON_AddStringToObject(c, "overlay_color", o->lo.overlay_color);
    cJSON_AddNumberToObject(c, "overlay_alpha", o->lo.overlay_alpha);
    return c;
}

/* --out, its stats and its part must not be inputs of the run. Returns 0, or 1 with the message printed. */
static int check_paths(const sp_opts *o, const cli_sets *s, const char *part) {
    cli_io io;
    cli_io_init(&io, "starplus");
    cli_io_input(&io, "--sam-model", o->tool.sam_model);
    cli_io_input(&io, "--prompt", o->lo.prompt);
    cli_sets_inputs(&io, s, &o->datasets);
    char *stats = sa_starplus_stats_path(o->out);
    int bad = cli_io_output(&io, "--out", o->out) ||
              cli_io_output(&io, "(the stats beside --out)", stats) ||
              cli_io_output(&io, "(the part file of --out)", part);
    free(stats);
    cli_io_free(&io);
    return bad;
}

typedef struct report_ctx {
    cli_progress pr;
    int quiet;
} report_ctx;

static void on_item(void *user, const sa_sample_set *set, int item, int status, const char *message,
                    const sa_starplus_sample_stats *st) {
    (void)st;
    report_ctx *r = user;
    const char *name =
        set->refer ? sa_refer_get(set->refer, item)->id : sa_dataset_item_name(set->dataset, item);
    if (status != SA_OK) {
        if (r->pr.tty && !r->quiet) fputc('\n', stderr);
        cli_printf(stderr, "skipped %s/%s: %s\n", set->label, name, message);
    }
    cli_progress_step(&r->pr, name);
}

static int make_llm_policy(void *ctx, sa_policy **out, sa_error *err) {
    return sa_llm_policy_new(*(const sa_llm_params *)ctx, out, NULL, err);
}

static void print_totals(const char *cmd, const sa_starplus_totals *t) {
    double n = t->samples ? (double)t->samples : 1.0;
    double kf = t->policy_actions ? 100.0 * (double)t->kept / (double)t->policy_actions : 0.0;
    cli_printf(stdout, "%s: %ld samples (%ld skipped)\n", cmd, t->samples, t->failed);
    cli_printf(stdout,
               "  policy actions %ld: kept %ld (%.1f%%), replaced %ld (%ld unusable replies)\n",
               t->policy_actions, t->kept, kf, t->replaced, t->unusable);
    cli_printf(stdout, "  written clicks %ld: %ld policy, %ld expert\n", t->clicks,
               t->clicks - t->expert_clicks, t->expert_clicks);
    cli_printf(stdout, "  mean IoU: start %.4f -> final %.4f\n", t->iou_start_sum / n,
               t->iou_final_sum / n);
}

static int run(const char *cmd, const sp_opts *o, const sa_starplus_params *p, sa_tool *tool,
               const cli_sets *s, sa_shard shard, const char *part) {
    cJSON *pc = policy_config(o);
    sa_starplus_run_opts ro = {.out = o->out,
                               .shard = shard,
                               .resume = o->resume,
                               .policy_config = pc,
                               .version = SEGAGENT_VERSION};
    report_ctx rep = {.quiet = o->quiet};
    sa_starplus_hooks hooks = {.user = &rep, .on_item = on_item, .should_stop = cli_stop_hook};
    long total = 0;
    for (int i = 0; i < s->n; i++) {
        long c = s->rf[i] ? sa_refer_count(s->rf[i]) : sa_dataset_count(s->ds[i]);
        total += o->limit > 0 && c > o->limit ? o->limit : c;
    }
    if (!o->quiet)
        cli_printf(stderr, "%s: %ld samples in all, shard %d/%d, policy %s at %s\n", cmd, total,
                   shard.index, shard.count, o->lp.model, o->lp.base_url);
    cli_progress_start(&rep.pr, "starplus", shard.count == 1 ? total : 0, o->quiet);
    cli_stop_install();
    sa_starplus_totals t;
    sa_error err = {0};
    int rc = sa_starplus_run(tool, s->set, s->n, make_llm_policy, (void *)&o->lp, *p, ro, &hooks,
                             &t, &err);
    int signalled = cli_stop_requested();
    cli_stop_restore();
    cli_progress_end(&rep.pr);
    cJSON_Delete(pc);
    if (rc != SA_OK) {
        cli_printf(stderr, "%s: %s\n", cmd, err.msg);
        return 1;
    }
    if (t.resumed) cli_printf(stderr, "%s: %ld items resumed from %s\n", cmd, t.resumed, part);
    if (t.done > 0) print_totals(cmd, &t);
    if (t.stopped) {
        cli_printf(
            stderr,
            "%s: stopped after %ld of %ld items%s%s; %s keeps them, continue with --resume\n", cmd,
            t.done, t.items, err.msg[0] ? ": " : "", err.msg, part);
        return signalled ? CLI_EXIT_INTERRUPTED : 1;
    }
    if (t.merged) {
        char *stats = sa_starplus_stats_path(o->out);
        cli_printf(stdout, "  -> %s, %s\n", o->out, stats ? stats : "");
        free(stats);
    } else {
        cli_printf(stdout, "  -> %s (shard %d of %d; join all shards with `segagent merge`)\n",
                   part, shard.index, shard.count);
    }
    return 0;
}

int cli_starplus(int argc, char **argv) {
    sp_opts o;
    sa_starplus_params p;
    int prc = parse_opts(argc, argv, &o, &p);
    if (prc) return prc < 0 ? 0 : prc;
    sa_error err = {0};
    sa_shard shard;
    if (sa_shard_resolve(o.shard, o.shards, &shard, NULL, 0, &err)) {
        cli_printf(stderr, "%s: %s\n", argv[0], err.msg);
        return 2;
    }
    char *part = sa_shard_part_path(o.out, shard);
    cli_sets s;
    memset(&s, 0, sizeof s);
    int rc = part ? cli_check_out_file(argv[0], "out", o.out) : 1;
    cli_sets_opts so = {
        .images = o.images, .split_by = o.split_by, .captions = o.captions, .per_ref = o.per_ref};
    if (rc == 0) rc = cli_sets_open(argv[0], &so, &o.datasets, &s);
    if (rc == 0) rc = check_paths(&o, &s, part);
    sa_tool *tool = NULL;
    if (rc == 0 && cli_make_tool(&o.tool, &tool, &err) != SA_OK) {
        cli_printf(stderr, "%s: %s\n", argv[0], err.msg);
        rc = 1;
    }
    if (rc == 0) rc = run(argv[0], &o, &p, tool, &s, shard, part);
    sa_tool_free(tool);
    cli_sets_free(&s);
    free(part);
    return rc;
}
