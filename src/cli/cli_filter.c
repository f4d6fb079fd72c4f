/* segagent filter: annotation filtering with the process reward (docs/metrics.md). Every
 * annotation of a COCO-style file (read by segagent/coco.h) is painted on its image and scored by
 * the policy ("Current IOU"); with ground truth the agreement between predicted and true IoU is
 * reported as MAE, MSE, Pearson and Spearman on a 0..100 scale (segagent/filter_stats.h). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "cli_llm.h"
#include "cli_paths.h"
#include "cli_report.h"
#include "cli_stop.h"
#include "segagent/coco.h"
#include "segagent/filter_stats.h"

/* the help text is laid out as the user sees it */
/* clang-format off */
static const char usage_head[] =
    "usage: segagent filter --annotations COCO.json --images DIR [options]\n"
    "\n"
    "Scores every annotation with the policy model's predicted IoU (the model sees the annotation's mask on\n"
    "its image and answers \"Current IOU: v\"), to find the bad ones. The annotation file is COCO style:\n"
    "images [{id, file_name, height, width}], annotations [{id, image_id, segmentation (RLE or polygons),\n"
    "description}], categories [{id, name}]. The description is the annotation's \"caption\" (a string or\n"
    "the first of a list), \"sentences\"[0].sent (RefCOCO), \"description\", or else the category name.\n"
    "\n"
    "With ground truth the agreement is measured as in SegAgent (predicted vs true IoU, 0..100 scale): MAE,\n"
    "MSE, Pearson and Spearman (ties share average ranks). The paper's SegAgent-Qwen: 6.88 / 193.98 / 0.90 /\n"
    "0.87 on RefCOCO val masks made from random clicks inside the gt box.\n"
    "\n"
    "options:\n"
    "  --annotations PATH   the annotations to score\n"
    "  --images DIR         folder holding the images' file_name\n"
    "  --gt PATH            ground-truth COCO file: annotations matched by id give the true IoU\n"
    "  --true-iou-field K   or: each annotation's field K holds its true IoU (0..1)\n"
    "  --out PATH           scores and metrics as JSON (default: filter_scores.json)\n"
    "  --limit N            score the first N annotations only\n"
    "  --quiet              no progress\n"
    "\n"
    "Ctrl-C (or SIGTERM, SIGHUP) stops after the annotation being scored; --out then holds the scores and\n"
    "metrics of the annotations scored so far (exit 130).\n"
    "\n";
static const char usage_llm[] = CLI_LLM_OPTIONS_HELP;
static const char usage_tail[] =
    "\n"
    "examples:\n"
    "  segagent filter --annotations perturbed.json --images val2014/ --gt refcoco_val_gt.json \\\n"
    "      --policy http://127.0.0.1:8000/v1 --model segagent-qwen --out scores.json\n"
    "  segagent filter --annotations ours.json --images imgs/ --out scores.json   # scores only\n";
/* clang-format on */

typedef struct filter_opts {
    cli_llm_opts lo;
    sa_llm_params lp; /* its strings point into lo */
    const char *ann_path, *img_dir, *gt_path, *iou_field, *out_path;
    int limit; /* INT_MIN: --limit not given */
    int quiet;
} filter_opts;

/* Parses and checks the options; wrong paths are reported before any request. Returns -1 to go on,
 * else the exit status. */
static int parse_options(int argc, char **argv, filter_opts *o) {
    memset(o, 0, sizeof *o);
    cli_llm_opts_default(&o->lo);
    o->out_path = "filter_scores.json";
    o->limit = INT_MIN;
    cli_opt opts[CLI_LLM_N_OPTS + 7];
    cli_llm_opts_table(&o->lo, opts);
    int n = CLI_LLM_N_OPTS;
    opts[n++] = (cli_opt)CLI_O_STR("annotations", &o->ann_path);
    opts[n++] = (cli_opt)CLI_O_STR("images", &o->img_dir);
    opts[n++] = (cli_opt)CLI_O_STR("gt", &o->gt_path);
    opts[n++] = (cli_opt)CLI_O_STR("true-iou-field", &o->iou_field);
    opts[n++] = (cli_opt)CLI_O_STR("out", &o->out_path);
    opts[n++] = (cli_opt)CLI_O_LIMIT(&o->limit);
    opts[n++] = (cli_opt)CLI_O_FLAG("quiet", &o->quiet);
    char usage[8192];
    snprintf(usage, sizeof usage, "%s%s%s", usage_head, usage_llm, usage_tail);
    int pr = cli_parse(argc, argv, opts, n, NULL, 0, NULL, usage);
    if (pr) return pr == 1 ? 0 : 2;
    if (!o->ann_path || !o->img_dir) {
        cli_printf(stderr, "%s: need --annotations and --images (see --help)\n", argv[0]);
        return 2;
    }
    sa_error err = {0};
    if (cli_llm_params(&o->lo, &o->lp, &err)) {
        cli_printf(stderr, "%s: %s\n", argv[0], err.msg);
        return 2;
    }
    struct stat sb;
    if (stat(o->img_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        cli_printf(stderr, "%s: --images %s: not a folder\n", argv[0], o->img_dir);
        return 1;
    }
    return cli_check_out_file(argv[0], "out", o->out_path) ? 1 : -1;
}

typedef struct filter_run {
    const filter_opts *o;
    const char *cmd;
    sa_coco_set *anns, *gt;
    sa_policy *pol;
    sa_image img;           /* the photo of the annotations being scored */
    int img_index;          /* its index in anns' images, -1 when none is loaded */
    double *preds, *truths; /* of the scored annotations, 0..100 */
    int total, n_scored, n_failed;
    int fatal;   /* the run cannot go on (server gone, output unwritable) */
    int stopped; /* a stop signal ended the scoring */
    char first_err[SA_ERROR_MSG_LEN + 32]; /* the first annotation's failure, for the final line */
    cJSON *out, *list;
    cli_progress prog;
    sa_error err; /* what ends the run */
} filter_run;

/* --out must not be the annotation, ground-truth or prompt file, nor one of the images the annotation
 * file names. Returns 0, or 1 with the message printed. */
static int check_paths(const filter_run *r) {
    const filter_opts *o = r->o;
    cli_io io;
    cli_io_init(&io, r->cmd);
    cli_io_input(&io, "--annotations", o->ann_path);
    cli_io_input(&io, "--gt", o->gt_path);
    cli_io_input(&io, "--prompt", o->lo.prompt);
    for (int i = 0; i < sa_coco_n_images(r->anns); i++) {
        char *p = sa_path_join(o->img_dir, sa_coco_get_image(r->anns, i)->file_name);
        cli_io_input(&io, "(an image of --images)", p);
        free(p);
    }
    int bad = cli_io_output(&io, "--out", o->out_path);
    cli_io_free(&io);
    return bad;
}

/* Reads the annotation (and ground-truth) files, checks the output against them, and connects the
 * policy. Returns 0, 1 when the output was refused (message printed), or -1 with r->err set. */
static int open_run(filter_run *r) {
    const filter_opts *o = r->o;
    sa_coco_params cp = sa_coco_default_params();
    cp.value_key = o->iou_field;
    if (sa_coco_read(o->ann_path, cp, &r->anns, &r->err)) return -1;
    if (o->gt_path && sa_coco_read(o->gt_path, sa_coco_default_params(), &r->gt, &r->err))
        return -1;
    if (!sa_coco_has_images(r->anns)) {
        sa_error_set(&r->err, SA_ERR_FORMAT, "%s: needs \"images\" and \"annotations\" arrays",
                     o->ann_path);
        return -1;
    }
    if (check_paths(r)) return 1;
    r->total = sa_coco_n_anns(r->anns);
    if (o->limit != INT_MIN && o->limit < r->total) r->total = o->limit;
    r->preds = malloc(((size_t)r->total + 1) * sizeof *r->preds);
    r->truths = malloc(((size_t)r->total + 1) * sizeof *r->truths);
    if (!r->preds || !r->truths) {
        sa_error_set(&r->err, SA_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (sa_llm_policy_new(o->lp, &r->pol, NULL, &r->err)) return -1;
    r->out = cJSON_CreateObject();
    r->list = cJSON_AddArrayToObject(r->out, "annotations");
    return 0;
}

static void close_run(filter_run *r) {
    free(r->preds);
    free(r->truths);
    cJSON_Delete(r->out);
    sa_coco_free(r->anns);
    sa_coco_free(r->gt);
    sa_policy_free(r->pol);
    sa_image_free(&r->img);
}

/* Loads the annotation's photo unless it is the one already loaded (files list an image's
 * annotations together). */
static int load_image(filter_run *r, const sa_coco_ann *a, sa_error *e) {
    if (r->img_index == a->image) return SA_OK;
    sa_image_free(&r->img);
    r->img_index = -1;
    char *path = sa_path_join(r->o->img_dir, sa_coco_get_image(r->anns, a->image)->file_name);
    int rc =
        path ? sa_image_load(path, &r->img, e) : sa_error_set(e, SA_ERR_NOMEM, "out of memory");
    free(path);
    if (!rc) r->img_index = a->image;
    return rc;
}

/* The true IoU of annotation i's mask m: against the ground-truth annotation with its id, or the
 * annotation's own --true-iou-field (which wins); NAN when neither is there. */
static double true_iou(const filter_run *r, int i, const sa_mask *m) {
    const sa_coco_ann *a = sa_coco_get_ann(r->anns, i);
    double truth = NAN;
    int j = r->gt ? sa_coco_find_ann(r->gt, a->id) : -1;
    sa_mask g = {0};
    if (j >= 0 && sa_coco_ann_mask(r->gt, j, r->img.height, r->img.width, &g, NULL) == SA_OK)
        truth = sa_mask_iou(m, &g, NULL);
    sa_mask_free(&g);
    if (!isnan(a->value)) truth = a->value;
    return truth;
}

/* Scores annotation i: *pred (the policy's IoU), *truth (NAN when unknown), *reply (the model's
 * text). */
static int score_ann(filter_run *r, int i, const char *desc, double *pred, double *truth,
                     char **reply, sa_error *e) {
    const sa_coco_ann *a = sa_coco_get_ann(r->anns, i);
    if (!desc)
        return sa_error_set(e, SA_ERR_FORMAT,
                            "no description (caption, sentences, description, category)");
    if (a->image < 0) return sa_error_set(e, SA_ERR_FORMAT, "image_id not found in images");
    sa_mask m = {0};
    int rc = load_image(r, a, e);
    if (!rc) rc = sa_coco_ann_mask(r->anns, i, r->img.height, r->img.width, &m, e);
    if (!rc) {
        *truth = true_iou(r, i, &m);
        sa_policy_obs obs;
        memset(&obs, 0, sizeof obs);
        obs.image = &r->img;
        obs.mask = &m;
        obs.description = desc;
        float p = NAN;
        rc = sa_policy_score(r->pol, &obs, &p, reply, e);
        if (!rc) *pred = p;
        if (rc == SA_ERR_NETWORK || rc == SA_ERR_TIMEOUT)
            r->fatal = 1; /* the server is gone: stop, keep what we have */
    }
    sa_mask_free(&m);
    return rc;
}

/* Appends annotation i's record to the output and counts it as scored or failed. */
static void record_ann(filter_run *r, int i, const char *desc, double pred, double truth,
                       const char *reply, int rc, const sa_error *e) {
    const sa_coco_ann *a = sa_coco_get_ann(r->anns, i);
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddItemToArray(r->list, rec);
    cJSON_AddNumberToObject(rec, "id", (double)a->id);
    cJSON_AddNumberToObject(rec, "image_id", (double)a->image_id);
    if (desc) cJSON_AddStringToObject(rec, "description", desc);
    cJSON_AddItemToObject(rec, "pred_iou", sa_eval_json_number(pred));
    cJSON_AddItemToObject(rec, "true_iou", sa_eval_json_number(truth));
    if (reply) cJSON_AddStringToObject(rec, "reply", reply);
    if (rc) {
        cJSON_AddStringToObject(rec, "error", e->msg);
        if (!r->n_failed)
            snprintf(r->first_err, sizeof r->first_err, "annotation %d: %s", i, e->msg);
        r->n_failed++;
        if (!r->o->quiet)
            cli_printf(stderr, "%sannotation %d: %s\n", r->prog.tty ? "\n" : "", i, e->msg);
        if (r->fatal) sa_error_set(&r->err, rc, "%s", e->msg);
        return;
    }
    r->preds[r->n_scored] = pred * 100.0;
    r->truths[r->n_scored] = truth * 100.0;
    r->n_scored++;
}

static void score_all(filter_run *r) {
    cli_progress_start(&r->prog, "scoring", r->total, r->o->quiet);
    cli_stop_install();
    if (!r->o->quiet)
        cli_printf(stderr, "%s: scoring %d annotation%s with %s at %s\n", r->cmd, r->total,
                   r->total == 1 ? "" : "s", r->o->lp.model, r->o->lp.base_url);
    for (int i = 0; i < r->total && !r->fatal; i++) {
        if (cli_stop_requested()) {
            r->stopped = 1;
            break;
        }
        const char *desc = sa_coco_ann_description(r->anns, i);
        double pred = NAN, truth = NAN;
        char *reply = NULL;
        sa_error e = {0};
        int rc = score_ann(r, i, desc, &pred, &truth, &reply, &e);
        record_ann(r, i, desc, pred, truth, reply, rc, &e);
        free(reply);
        cli_progress_step(&r->prog, desc ? desc : "");
    }
    cli_stop_restore();
    cli_progress_end(&r->prog);
    if (r->stopped)
        cli_printf(stderr,
                   "%s: interrupted after %d of %d annotations; %s holds the scores so far\n",
                   r->cmd, r->n_scored + r->n_failed, r->total, r->o->out_path);
}

static void add_metrics(filter_run *r, sa_filter_stats *st) {
    sa_filter_stats_compute(r->preds, r->truths, (size_t)r->n_scored, st, NULL);
    cJSON *met = cJSON_AddObjectToObject(r->out, "metrics");
    cJSON_AddStringToObject(met, "scale", "0-100");
    cJSON_AddNumberToObject(met, "scored", r->n_scored);
    cJSON_AddNumberToObject(met, "failed", r->n_failed);
    cJSON_AddNumberToObject(met, "with_truth", (double)st->n);
    cJSON_AddItemToObject(met, "mae", sa_eval_json_number(st->mae));
    cJSON_AddItemToObject(met, "mse", sa_eval_json_number(st->mse));
    cJSON_AddItemToObject(met, "pearson", sa_eval_json_number(st->pearson));
    cJSON_AddItemToObject(met, "spearman", sa_eval_json_number(st->spearman));
}

static void write_scores(filter_run *r) {
    sa_error we = {0};
    if (sa_file_write_json(r->o->out_path, r->out, &we) == SA_OK) return;
    if (r->err.code)
        cli_printf(stderr, "%s: %s\n", r->cmd, we.msg); /* r->err is printed at the end */
    else
        r->err = we;
    r->fatal = 1;
}

/* Prints the summary; returns the exit status. */
static int report(filter_run *r, const sa_filter_stats *st) {
    cli_printf(stdout, "%d annotation%s scored, %d failed -> %s\n", r->n_scored,
               r->n_scored == 1 ? "" : "s", r->n_failed, r->o->out_path);
    if (st->n > 0)
        cli_printf(
            stdout,
            "predicted vs true IoU (0-100, n=%zu): MAE %.2f  MSE %.2f  Pearson %.3f  Spearman "
            "%.3f\n",
            st->n, st->mae, st->mse, st->pearson, st->spearman);
    if (!r->fatal && !r->stopped && r->n_scored == 0 && r->n_failed > 0) {
        r->fatal = 1; /* why, also under --quiet (which hides the per-annotation lines) */
        sa_error_set(&r->err, SA_ERR_INVALID,
                     "none of the %d annotations could be scored; the first: %.*s", r->n_failed,
                     SA_ERROR_MSG_LEN / 2, r->first_err);
    }
    if (r->fatal) cli_printf(stderr, "%s: %s\n", r->cmd, r->err.msg);
    return r->fatal ? 1 : r->stopped ? CLI_EXIT_INTERRUPTED : 0;
}

int cli_filter(int argc, char **argv) {
    filter_opts o;
    int status = parse_options(argc, argv, &o);
    if (status >= 0) return status;
    filter_run r;
    memset(&r, 0, sizeof r);
    r.o = &o;
    r.cmd = argv[0];
    r.img_index = -1;
    int orc = open_run(&r);
    if (orc == 0) {
        sa_filter_stats st;
        score_all(&r);
        add_metrics(&r, &st);
        write_scores(&r);
        status = report(&r, &st);
    } else if (orc > 0) {
        status = 1;
    } else {
        cli_printf(stderr, "%s: %s\n", argv[0], r.err.msg);
        status = 1;
    }
    close_run(&r);
    return status;
}
