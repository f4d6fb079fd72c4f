/* segagent trajectories: record training trajectories (simulated annotator + tool) over datasets and write them
 * in the released SegAgent JSON format. Parses and checks the options, opens the datasets and the tool, and
 * hands the run to the library (sa_traj_record_datasets: the dataset runner, samples in item order whatever
 * --jobs is); reports skipped items, progress and a summary line.
 *
 * Ctrl-C (SIGINT), SIGTERM or SIGHUP stop after the items in progress and close the file properly: a valid JSON
 * file with the samples recorded so far (exit 130). A second signal kills at once. The file is written under a
 * temporary name and renamed into place, so a failed run leaves the previous file untouched.
 *
 * Sharded (--shard I/N, a Slurm array task, a Kubernetes Indexed Job with --shards N; docs/cluster.md), the
 * run records only its shard's items into its part file (sa_traj_record_shard) and `segagent merge` joins the
 * parts. --resume keeps what a killed run finished; unsharded, --resume records into OUT's part file
 * (out.part.jsonl) and turns it into OUT at the end, so a long single-machine run can be resumed too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_paths.h"
#include "cli_sets.h"
#include "cli_stop.h"
#include "segagent/dataset.h"
#include "segagent/record.h"
#include "segagent/shard.h"
#include "segagent/trajectory.h"

#ifndef SEGAGENT_VERSION
#define SEGAGENT_VERSION "0.1.0"
#endif

static const char usage_text[] =
    "usage: segagent trajectories --dataset SPEC [--dataset ...] [options]\n"
    "\n"
    "Records one trajectory per image: the simulated annotator clicks, the tool recomputes the mask from all\n"
    "clicks, and a click is kept only while IoU strictly rises (docs/trajectories.md). Output: the released\n"
    "SegAgent JSON format ({\"info\", \"data\": [{image_name, height, width, gt_ann, clicks_list}]}).\n"
    "\n"
    "  --dataset SPEC       NAME=DIR: a dataset folder (GrabCut layout or images/ + masks/ paired by stem);\n"
    "                       or a referring set: refcoco:SPLIT=DIR (also refcoco+, refcocog; with --images),\n"
    "                       coco=FILE, segagent=FILE, hres=DIR, scenes: one sample per sentence, the\n"
    "                       sentence as its caption; repeatable\n" CLI_SETS_HELP
    "  --out PATH           output JSON (default traj.json)\n"
    "  --target-iou X       stop once IoU >= X (default 0.98)\n"
    "  --max-clicks N       at most N recorded clicks (default 20)\n"
    "  --start KIND         starting state: empty (default), box, random-clicks\n"
    "  --random-points N    points for --start random-clicks (default 5)\n"
    "  --seed S             seed for the random points (default 0; item i of the run uses S + i)\n"
    "  --caption TEXT       caption of every sample of a folder (default: none; referring sets keep theirs)\n"
    "  --limit N            record at most N items per dataset (default 0 = all)\n"
    "  --jobs N             items recorded in parallel (default 0 = CPU count, at most 8; 1 for --tool sam)\n"
    "  --quiet              no progress on stderr\n";
static const char usage_more[] =
    "  --shard I/N          record only shard I of N (0-based) into its part file OUT.shard-IIII-of-NNNN.jsonl;\n"
    "                       without it, a Slurm array task (SLURM_ARRAY_TASK_ID) is its own shard\n"
    "  --shards N           the number of shards with Kubernetes' JOB_COMPLETION_INDEX (an Indexed Job)\n"
    "  --resume             keep the items an earlier, killed run of this shard finished; run the rest\n"
    "                       (unsharded: through OUT.part.jsonl, turned into OUT at the end)\n" CLI_TOOL_OPTIONS_HELP
    "\n"
    "Image names are stored as the file name inside the dataset's image folder (as the released files do);\n"
    "give that folder (or several) to `segagent export --images`.\n"
    "\n"
    "examples:\n"
    "  segagent trajectories --dataset GrabCut=../shared/data/GrabCut --out grabcut_traj.json\n"
    "  segagent trajectories --dataset data/Berkeley --start random-clicks --seed 7 --limit 20 --out t.json\n"
    "  segagent trajectories --dataset refcoco:train=refer/refcoco --images coco/train2014 --shard 3/16 \\\n"
    "                        --resume --out refcoco_train.json\n"
    "  # four shards, anywhere and in any order, then one file (docs/cluster.md: Slurm, Kubernetes):\n"
    "  for i in 0 1 2 3; do segagent trajectories --dataset GrabCut=../shared/data/GrabCut --out g.json \\\n"
    "      --shard $i/4 --resume; done\n"
    "  segagent merge g.shard-*-of-0004.jsonl --out g.json\n"
    "\n"
    "Ctrl-C (or SIGTERM, SIGHUP) stops after the items in progress and still writes a valid file with the samples\n"
    "recorded so far (exit 130).\n"
    "\n"
    "exit status: 0 when the file was written, 1 on failure, 2 on a usage error, 130 when interrupted.\n";

typedef struct traj_opts {
    cli_multi datasets;
    const char *out, *start, *caption, *shard;
    const char *images, *split_by, *captions; /* of referring sets */
    cli_tool_opts tool;
    double target;
    int max_clicks, random_points, seed, limit, quiet, jobs, shards, resume, per_ref;
    sa_shard sh;   /* from --shard, --shards and the scheduler's environment */
    char from[64]; /* where sh came from */
} traj_opts;

/* Parses and checks the options into o and the run parameters; 0, or the exit status of a usage error. */
static int parse_opts(int argc, char **argv, traj_opts *o, sa_traj_run_params *rp) {
    *o = (traj_opts){.out = "traj.json",
                     .start = "empty",
                     .tool = {.tool = "builtin", .threads = 2},
                     .target = 0.98,
                     .max_clicks = 20,
                     .random_points = 5};
    cli_opt opts[] = {
        CLI_O_MULTI("dataset", &o->datasets),
        CLI_O_STR("out", &o->out),
        CLI_O_DOUBLE_GT("target-iou", &o->target, 0, 1),
        CLI_O_INT("max-clicks", &o->max_clicks, 1, SA_MAX_CLICKS),
        CLI_O_STR("start", &o->start),
        CLI_O_INT("random-points", &o->random_points, 1, SA_MAX_CLICKS),
        CLI_O_SEED(&o->seed),
        CLI_O_STR("caption", &o->caption),
        CLI_O_STR("images", &o->images),
        CLI_O_STR("split-by", &o->split_by),
        CLI_O_STR("captions", &o->captions),
        CLI_O_FLAG("per-ref", &o->per_ref),
        CLI_O_LIMIT(&o->limit),
        CLI_O_FLAG("quiet", &o->quiet),
        CLI_O_STR("shard", &o->shard),
        CLI_O_INT("shards", &o->shards, 1, SA_SHARD_MAX),
        CLI_O_FLAG("resume", &o->resume),
        CLI_O_STR("tool", &o->tool.tool),
        CLI_O_STR("sam-model", &o->tool.sam_model),
        CLI_O_THREADS(&o->tool.threads),
        CLI_O_JOBS(&o->jobs),
        CLI_TOOL_MODEL_OPT(o->tool),
        CLI_TOOL_SC_OPTS(o->tool),
    };
    char help[sizeof usage_text + sizeof usage_more];
    snprintf(help, sizeof help, "%s%s", usage_text, usage_more);
    int prc = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), NULL, 0, NULL, help);
    if (prc) return prc == 1 ? -1 : 2;
    if (o->datasets.n == 0) {
        cli_printf(
            stderr,
            "%s: at least one --dataset SPEC (NAME=DIR, refcoco:val=DIR, ...) is needed (see --help)\n",
            argv[0]);
        return 2;
    }
    sa_error err = {0};
    *rp = sa_traj_run_default_params();
    if (sa_traj_start_from_name(o->start, &rp->rec.start, &err) != SA_OK) {
        cli_printf(stderr, "%s: %s\n", argv[0], err.msg);
        return 2;
    }
    if (cli_check_tool_opts(argv[0], &o->tool)) return 2; /* numeric ranges: the option table */
    if (sa_shard_resolve(o->shard, o->shards, &o->sh, o->from, sizeof o->from, &err) != SA_OK) {
        cli_printf(stderr, "%s: %s\n", argv[0], err.msg);
        return 2;
    }
    if (o->jobs == 0) o->jobs = cli_default_jobs(o->tool.tool);
    rp->rec.target_iou = o->target;
    rp->rec.max_clicks = o->max_clicks;
    rp->rec.random_points = o->random_points;
    rp->rec.seed = (uint64_t)o->seed;
    rp->workers = o->jobs;
    rp->limit = o->limit;
    rp->caption = o->caption;
    return 0;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* --out must not be an image or mask of the datasets (it would be replaced while they are read) nor
 * the SAM checkpoint. Returns 0, or 1 with the message printed. */
static int check_paths(const traj_opts *o, const cli_sets *sets) {
    cli_io io;
    cli_io_init(&io, "trajectories");
    cli_io_input(&io, "--sam-model", o->tool.sam_model);
    cli_sets_inputs(&io, sets, &o->datasets);
    int bad = cli_io_output(&io, "--out", o->out);
    if (!bad && (o->sh.count > 1 || o->resume)) {
        char *part = sa_shard_part_path(o->out, o->sh);
        bad = part ? cli_io_output(&io, "--out's part file", part) : 1;
        free(part);
    }
    cli_io_free(&io);
    return bad;
}

typedef struct report_ctx {
    cli_progress pr;
    int quiet;
} report_ctx;

static void on_plan(void *user, long total, long resumed) {
    report_ctx *r = user;
    cli_progress_start(&r->pr, "trajectories", total - resumed, r->quiet);
}

static void on_item(void *user, const sa_sample_set *set, int item, int status,
                    const char *message) {
    report_ctx *r = user;
    if (status != SA_OK) {
        if (r->pr.tty && !r->quiet) fputc('\n', stderr);
        cli_printf(stderr, "skipped %s/%s: %s\n", set->label, sa_sample_set_item_name(set, item),
                   message);
    }
    cli_progress_step(&r->pr, sa_sample_set_item_name(set, item));
}

static void print_summary(const sa_traj_run_stats *st, const char *dest) {
    double n = st->samples > 0 ? (double)st->samples : 1.0;
    char resumed[48] = "";
    if (st->resumed) snprintf(resumed, sizeof resumed, ", %ld resumed", st->resumed);
    cli_printf(
        stderr,
        "trajectories: %ld samples (%ld skipped, %ld with no useful click%s), %ld clicks (%.2f per sample), "
        "mean final IoU %.4f -> %s\n",
        st->samples, st->skipped, st->empty, resumed, st->clicks, (double)st->clicks / n,
        st->iou_sum / n, dest);
}

/* Records into the trajectory file o->out (today's unsharded run). Returns the exit status. */
static int record_file(const char *cmd, const traj_opts *o, const sa_traj_run_params *rp,
                       sa_tool *tool, const cli_sets *sets, const char *info) {
    sa_error err = {0};
    sa_traj_writer *w = NULL;
    if (sa_traj_writer_open(o->out, info, &w, &err) != SA_OK) {
        cli_printf(stderr, "%s: %s\n", cmd, err.msg);
        return 1;
    }
    report_ctx rep = {.quiet = o->quiet};
    sa_traj_run_hooks hooks = {
        .user = &rep, .on_item = on_item, .should_stop = cli_stop_hook, .on_plan = on_plan};
    sa_traj_run_stats st;
    cli_stop_install();
    int rc = sa_traj_record_datasets(tool, sets->set, sets->n, *rp, w, &hooks, &st, &err);
    cli_stop_restore();
    cli_progress_end(&rep.pr);
    if (rc != SA_OK) {
        cli_printf(stderr, "%s: %s\n", cmd, err.msg);
        sa_traj_writer_abort(w);
        return 1;
    }
    if (st.stopped)
        cli_printf(
            stderr,
            "%s: interrupted after %ld of %ld items; keeping the %ld samples recorded so far\n",
            cmd, st.done, st.total, st.samples);
    if (st.samples == 0) { /* no file with an empty "data" list: say so */
        sa_traj_writer_abort(w);
        cli_printf(stderr, "%s: no sample could be recorded (%ld skipped); %s not written\n", cmd,
                   st.skipped, o->out);
        return 1;
    }
    if (sa_traj_writer_close(w, &err) != SA_OK) {
        cli_printf(stderr, "%s: %s\n", cmd, err.msg);
        return 1;
    }
    print_summary(&st, o->out);
    return st.stopped ? CLI_EXIT_INTERRUPTED : 0;
}

/* The whole run resumed through its part file: the finished part becomes o->out. Returns the exit status. */
static int finish_whole(const char *cmd, const traj_opts *o, const char *part,
                        const sa_traj_run_stats *st) {
    sa_error err = {0};
    if (st->samples == 0) {
        cli_printf(stderr, "%s: no sample could be recorded (%ld skipped); %s not written\n", cmd,
                   st->skipped, o->out);
        return 1;
    }
    if (sa_traj_merge(&part, 1, o->out, &err) != SA_OK) {
        cli_printf(stderr, "%s: %s\n", cmd, err.msg);
        return 1;
    }
    remove(part); /* its content is in o->out now */
    print_summary(st, o->out);
    return 0;
}

/* Records one shard (or, with --resume, the whole run) into its part file. Returns the exit status. */
static int record_part(const char *cmd, const traj_opts *o, const sa_traj_run_params *rp,
                       sa_tool *tool, const cli_sets *sets, const char *info) {
    sa_error err = {0};
    char *part = sa_shard_part_path(o->out, o->sh);
    if (!part) {
        cli_printf(stderr, "%s: out of memory\n", cmd);
        return 1;
    }
    if (o->sh.count > 1)
        cli_printf(stderr, "%s: shard %d of %d (from %s) -> %s\n", cmd, o->sh.index, o->sh.count,
                   o->from, part);
    report_ctx rep = {.quiet = o->quiet};
    sa_traj_run_hooks hooks = {
        .user = &rep, .on_item = on_item, .should_stop = cli_stop_hook, .on_plan = on_plan};
    sa_traj_shard_params sp = {
        .shard = o->sh, .part = part, .resume = o->resume, .info_json = info};
    sa_traj_run_stats st;
    cli_stop_install();
    int rc = sa_traj_record_shard(tool, sets->set, sets->n, *rp, sp, &hooks, &st, &err);
    cli_stop_restore();
    cli_progress_end(&rep.pr);
    int status = 0;
    if (rc != SA_OK) {
        cli_printf(stderr, "%s: %s\n", cmd, err.msg);
        status = 1;
    } else if (st.stopped) {
        cli_printf(stderr,
                   "%s: interrupted after %ld of %ld items of this shard; %s keeps them: run the "
                   "same command with --resume to finish it\n",
                   cmd, st.done, st.total, part);
        status = CLI_EXIT_INTERRUPTED;
    } else if (o->sh.count == 1) {
        status = finish_whole(cmd, o, part, &st);
    } else {
        print_summary(&st, part);
        const char *tag =
            strstr(base_name(part), ".shard-"); /* the part's name: OUT.shard-...jsonl */
        cli_printf(stderr,
                   "%s: shard %d of %d complete; once all %d are: segagent merge "
                   "'%.*s.shard-*-of-%04d.jsonl' --out %s\n",
                   cmd, o->sh.index, o->sh.count, o->sh.count, (int)(tag - part), part, o->sh.count,
                   o->out);
    }
    free(part);
    return status;
}

/* Records the run as the options say. Returns the exit status. */
static int record(const char *cmd, const traj_opts *o, const sa_traj_run_params *rp, sa_tool *tool,
                  const cli_sets *sets) {
    sa_error err = {0};
    char *info =
        sa_traj_info_json(rp->rec, rp->prob_threshold, sa_tool_name(tool), SEGAGENT_VERSION,
                          (const char *const *)o->datasets.v, o->datasets.n, &err);
    if (!info) {
        cli_printf(stderr, "%s: %s\n", cmd, err.msg);
        return 1;
    }
    int rc = o->sh.count > 1 || o->resume ? record_part(cmd, o, rp, tool, sets, info)
                                          : record_file(cmd, o, rp, tool, sets, info);
    free(info);
    return rc;
}

int cli_trajectories(int argc, char **argv) {
    traj_opts o;
    sa_traj_run_params rp;
    int prc = parse_opts(argc, argv, &o, &rp);
    if (prc) return prc < 0 ? 0 : prc;
    cli_sets sets;
    memset(&sets, 0, sizeof sets);
    int rc = cli_check_out_file(argv[0], "out", o.out);
    cli_sets_opts so = {
        .images = o.images, .split_by = o.split_by, .captions = o.captions, .per_ref = o.per_ref};
    if (rc == 0) rc = cli_sets_open(argv[0], &so, &o.datasets, &sets);
    if (rc == 0) rc = check_paths(&o, &sets);
    sa_tool *tool = NULL;
    sa_error err = {0};
    if (rc == 0 && cli_make_tool(&o.tool, &tool, &err) != SA_OK) {
        cli_printf(stderr, "%s: %s\n", argv[0], err.msg);
        rc = 1;
    }
    if (rc == 0) rc = record(argv[0], &o, &rp, tool, &sets);
    sa_tool_free(tool);
    cli_sets_free(&sets);
    return rc;
}
