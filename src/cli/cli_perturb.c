/* segagent perturb: the annotation-filtering test set (docs/starplus.md#the-filtering-test-set). Opens one set
 * (a COCO instances file, a referring set or an interactive folder) and the tool, and hands the run to the
 * library (sa_perturb_run: seeded random clicks per object, the tool's mask, its true IoU); prints where the
 * file went and how to score it with `segagent filter`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_paths.h"
#include "cli_stop.h"
#include "segagent/dataset.h"
#include "segagent/perturb.h"
#include "segagent/refer.h"

/* the help text is laid out as the user sees it */
/* clang-format off */
static const char usage_text[] =
    "usage: segagent perturb --dataset SPEC [--images DIR] [options]\n"
    "\n"
    "For every ground-truth object, makes masks of varied quality with the tool from random clicks inside the\n"
    "object's box (positive on the object, negative off it; seeded, reproducible) and writes them as a COCO\n"
    "annotation file in which each mask has its true IoU in the field \"iou\" -- the test set for annotation\n"
    "filtering (SegAgent's Table 3). Score it with:\n"
    "  segagent filter --annotations OUT --images ROOT --true-iou-field iou --policy URL ...\n"
    "where ROOT is --images (referring and COCO sets) or the dataset folder (interactive folders).\n"
    "\n"
    "  --dataset SPEC       coco=instances.json (one object per annotation), refcoco:SPLIT=DIR (one per ref),\n"
    "                       segagent=FILE, hres=DIR, or NAME=DIR (an interactive folder: one per image)\n"
    "  --images DIR         image folder of a COCO or referring set\n"
    "  --min-area A         coco=: skip annotations with area below A (default 0)\n"
    "  --category NAME      coco=: only this category\n"
    "  --out PATH           output COCO file (default perturbed.json)\n"
    "  --per-object K       masks per object (default 3)\n"
    "  --clicks-min N       random clicks per mask, at least (default 1)\n"
    "  --clicks-max N       and at most (default 5)\n"
    "  --seed S             seed (default 0): the same seed gives the same file, whatever --jobs is\n"
    "  --caption TEXT       caption of objects of an interactive folder (default \"the object\")\n"
    "  --limit N            at most N objects (default 0 = all)\n"
    "  --jobs N             objects in parallel (default 0 = CPU count, at most 8; 1 for --tool sam)\n"
    "  --quiet              no progress on stderr\n"
    CLI_TOOL_OPTIONS_HELP
    "\n"
    "examples:\n"
    "  segagent perturb --dataset coco=refer/refcoco/instances.json --images train2014 --per-object 2\n"
    "  segagent perturb --dataset GrabCut=../shared/data/GrabCut --tool builtin --seed 7 --out gc_perturbed.json\n"
    "\n"
    "Ctrl-C (or SIGTERM, SIGHUP) stops after the objects in progress and still writes a valid file (exit 130).\n"
    "exit status: 0 when the file was written, 1 on failure, 2 on a usage error, 130 when interrupted.\n";
/* clang-format on */

typedef struct pt_opts {
    const char *dataset, *images, *out, *caption, *category;
    cli_tool_opts tool;
    double min_area;
    int per_object, clicks_min, clicks_max, seed, limit, jobs, quiet;
} pt_opts;

static int parse_opts(int argc, char **argv, pt_opts *o, sa_perturb_params *p) {
    cli_multi ds = {0};
    *o = (pt_opts){.out = "perturbed.json",
                   .caption = "the object",
                   .tool = {.tool = "builtin", .threads = 2},
                   .per_object = 3,
                   .clicks_min = 1,
                   .clicks_max = 5};
    cli_opt opts[] = {
        CLI_O_MULTI("dataset", &ds),
        CLI_O_STR("images", &o->images),
        CLI_O_DOUBLE("min-area", &o->min_area, 0, 1e12),
        CLI_O_STR("category", &o->category),
        CLI_O_STR("out", &o->out),
        CLI_O_INT("per-object", &o->per_object, 1, 1000),
        CLI_O_INT("clicks-min", &o->clicks_min, 1, SA_MAX_CLICKS),
        CLI_O_INT("clicks-max", &o->clicks_max, 1, SA_MAX_CLICKS),
        CLI_O_SEED(&o->seed),
        CLI_O_STR("caption", &o->caption),
        CLI_O_LIMIT(&o->limit),
        CLI_O_JOBS(&o->jobs),
        CLI_O_FLAG("quiet", &o->quiet),
        CLI_O_STR("tool", &o->tool.tool),
        CLI_O_STR("sam-model", &o->tool.sam_model),
        CLI_O_THREADS(&o->tool.threads),
        CLI_TOOL_MODEL_OPT(o->tool),
        CLI_TOOL_SC_OPTS(o->tool),
    };
    int pr =
        cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), NULL, 0, NULL, usage_text);
    if (pr) return pr == 1 ? -1 : 2;
    if (ds.n != 1) {
        cli_printf(stderr, "%s: give exactly one --dataset (see --help)\n", argv[0]);
        return 2;
    }
    o->dataset = ds.v[0];
    if (!strcmp(o->dataset,
                "scenes")) { /* rendered in memory: filter would have no image to read */
        cli_printf(
            stderr,
            "%s: the built-in scenes have no image files for filter to read; give a folder or a "
            "COCO file\n",
            argv[0]);
        return 2;
    }
    if (o->clicks_min > o->clicks_max) {
        cli_printf(stderr, "%s: --clicks-min %d is above --clicks-max %d\n", argv[0], o->clicks_min,
                   o->clicks_max);
        return 2;
    }
    if (cli_check_tool_opts(argv[0], &o->tool)) return 2;
    if (o->jobs == 0) o->jobs = cli_default_jobs(o->tool.tool);
    *p = sa_perturb_default_params();
    p->per_object = o->per_object;
    p->clicks_min = o->clicks_min;
    p->clicks_max = o->clicks_max;
    p->seed = (uint64_t)o->seed;
    p->workers = o->jobs;
    p->limit = o->limit;
    p->caption = o->caption;
    return 0;
}

typedef struct pt_set {
    sa_dataset *ds;
    sa_refer *rf;
    char label[128];
    const char *root;
} pt_set;

/* A referring or COCO spec first; a spec of no such kind is an interactive folder. 0, or 1 (printed). */
static int open_set(const char *cmd, const pt_opts *o, pt_set *s) {
    sa_error err = {0};
    sa_refer_params rp = sa_refer_default_params();
    rp.per_ref = 1; /* one sample per object */
    rp.min_area = o->min_area;
    rp.category = o->category;
    int rc = sa_refer_open_spec(o->dataset, o->images, rp, &s->rf, &err);
    if (rc == SA_OK) {
        snprintf(s->label, sizeof s->label, "%.120s", sa_refer_name(s->rf));
        s->root = o->images;
        for (int w = 0; w < sa_refer_n_warnings(s->rf); w++)
            cli_printf(stderr, "warning: %s\n", sa_refer_warning(s->rf, w));
        return 0;
    }
    if (rc != SA_ERR_INVALID) {
        cli_printf(stderr, "%s: %s\n", cmd, err.msg);
        return 1;
    }
    const char *eq = strchr(o->dataset, '='), *dir = eq ? eq + 1 : o->dataset;
    if (eq) snprintf(s->label, sizeof s->label, "%.*s", (int)(eq - o->dataset), o->dataset);
    if (sa_dataset_open(eq ? s->label : NULL, dir, sa_dataset_default_params(), &s->ds, &err)) {
        cli_printf(stderr, "%s: %s\n", cmd, err.msg);
        return 1;
    }
    snprintf(s->label, sizeof s->label, "%.120s", sa_dataset_name(s->ds));
    s->root = sa_dataset_dir(s->ds);
    for (int w = 0; w < sa_dataset_n_warnings(s->ds); w++)
        cli_printf(stderr, "warning: %s\n", sa_dataset_warning(s->ds, w));
    return 0;
}

typedef struct report_ctx {
    cli_progress pr;
    int quiet;
} report_ctx;

static void on_item(void *user, int item, const char *name, int status, const char *message) {
    (void)item;
    report_ctx *r = user;
    if (status != SA_OK) {
        if (r->pr.tty && !r->quiet) fputc('\n', stderr);
        cli_printf(stderr, "skipped %s: %s\n", name, message);
    }
    cli_progress_step(&r->pr, name);
}

static int run(const char *cmd, const pt_opts *o, const sa_perturb_params *p, sa_tool *tool,
               const pt_set *s) {
    report_ctx rep = {.quiet = o->quiet};
    sa_perturb_hooks hooks = {.user = &rep, .on_item = on_item, .should_stop = cli_stop_hook};
    long total = s->rf ? sa_refer_count(s->rf) : sa_dataset_count(s->ds);
    if (o->limit > 0 && total > o->limit) total = o->limit;
    cli_progress_start(&rep.pr, "perturb", total, o->quiet);
    cli_stop_install();
    sa_perturb_stats st;
    sa_error err = {0};
    int rc = sa_perturb_run(tool, s->ds, s->rf, s->label, s->root, *p, o->out, &hooks, &st, &err);
    cli_stop_restore();
    cli_progress_end(&rep.pr);
    if (rc != SA_OK) {
        cli_printf(stderr, "%s: %s\n", cmd, err.msg);
        return 1;
    }
    if (st.stopped)
        cli_printf(stderr, "%s: interrupted after %ld of %ld objects\n", cmd, st.done, st.objects);
    double n = st.masks ? (double)st.masks : NAN;
    cli_printf(
        stdout,
        "%s: %ld objects (%ld skipped), %ld masks, true IoU mean %.4f (min %.4f, max %.4f) -> %s\n",
        cmd, st.done - st.skipped, st.skipped, st.masks, st.iou_sum / n, st.iou_min, st.iou_max,
        o->out);
    cli_printf(
        stdout,
        "score it: segagent filter --annotations %s --images %s --true-iou-field iou --policy URL\n",
        o->out, s->root ? s->root : "DIR");
    return st.stopped ? CLI_EXIT_INTERRUPTED : st.masks ? 0 : 1;
}

int cli_perturb(int argc, char **argv) {
    pt_opts o;
    sa_perturb_params p;
    int prc = parse_opts(argc, argv, &o, &p);
    if (prc) return prc < 0 ? 0 : prc;
    pt_set s;
    memset(&s, 0, sizeof s);
    int rc = cli_check_out_file(argv[0], "out", o.out);
    if (rc == 0) rc = open_set(argv[0], &o, &s);
    if (rc == 0) {
        cli_io io;
        cli_io_init(&io, argv[0]);
        cli_io_input(&io, "--sam-model", o.tool.sam_model);
        if (s.ds) cli_io_dataset(&io, s.ds);
        const char *eq = strchr(o.dataset, '=');
        if (eq) cli_io_input(&io, "--dataset", eq + 1);
        rc = cli_io_output(&io, "--out", o.out);
        cli_io_free(&io);
    }
    sa_tool *tool = NULL;
    sa_error err = {0};
    if (rc == 0 && cli_make_tool(&o.tool, &tool, &err) != SA_OK) {
        cli_printf(stderr, "%s: %s\n", argv[0], err.msg);
        rc = 1;
    }
    if (rc == 0) rc = run(argv[0], &o, &p, tool, &s);
    sa_tool_free(tool);
    sa_dataset_free(s.ds);
    sa_refer_free(s.rf);
    return rc;
}
