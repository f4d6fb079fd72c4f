/* The benchmark's outputs: the eval JSON document and the mIoU-vs-clicks SVG chart, built from evaluation
 * results, so every command and program that evaluates writes the same keys and layout.
 *
 *   sa_eval_report_entry e[2] = {{"GrabCut", "data/GrabCut", sa_dataset_layout(ds1), &res1, NULL, 0}, ...};
 *   sa_eval_report rep = {.tool = sa_tool_name(tool), .annotator = "simulated (docs/annotator.md)",
 *                         .annotator_label = "simulated annotator",
 *                         .max_clicks = 20, .entries = e, .n_entries = 2};
 *   sa_eval_report_write_json("out.json", &rep, &err);
 *   sa_eval_report_write_chart("out.svg", &rep, &err);
 *
 * JSON: {"tool", "annotator", "max_clicks",
 *        "datasets": {NAME: {"dir", "layout", "summary": <summary>, "samples": [<sample>...],
 *                            "skipped": [{"name", "error"}...], "warnings": ["..."]
 *                            [, for a referring set: "n_samples", "n_failed", "ciou", "giou",
 *                             "miou_by_step", "ciou_by_step", the same four with a "prm_" prefix,
 *                             "failures", "request_ms": {"n", "p50", "p90", "p99"}]}}}
 *   <summary>: {"n_samples", "n_skipped", "max_clicks", "noc@80", "noc@85", "noc@90", "nof@80".., "miou@k"
 *               (every k up to the click limit, plus 1/2/3/5/10/20 always: null beyond the limit), "ciou@k"
 *               (k = 1/2/3/5/10/20), "miou_curve": [..], "ms_per_click_mean", "ms_per_click_median",
 *               "ms_per_click_p95", "clicks_total"}
 *   <sample>: {"name", "width", "height", "ious", "ms", "clicks": [[y, x, positive]...], "noc@85", "noc@90",
 *              "done_early" [, "error"]}
 * Numbers are rounded to 6 decimals (milliseconds to 3); NAN becomes null. The metrics are defined in
 * docs/metrics.md. Files are written whole or not at all (a temporary file renamed into place).
 */
#ifndef SEGAGENT_EVAL_REPORT_H
#define SEGAGENT_EVAL_REPORT_H

#include <cjson/cJSON.h>

#include "segagent/error.h"
#include "segagent/evaluate.h"
#include "segagent/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_eval_report_entry {
    const char *name;   /* unique key in "datasets" */
    const char *dir;    /* the folder it was read from */
    const char *layout; /* sa_dataset_layout() */
    const sa_eval_result *result;
    const char *const *warnings; /* dataset warnings (n_warnings may be 0) */
    int n_warnings;
    const sa_eval_refer_summary *refer; /* a referring set's metrics, or NULL */
} sa_eval_report_entry;

typedef struct sa_eval_report {
    const char *tool;      /* tool name */
    const char *annotator; /* who clicked, e.g. "simulated (docs/annotator.md)" or a model name */
    const char *annotator_label; /* the same for the chart's subtitle, e.g. "simulated annotator" */
    int max_clicks;
    const sa_eval_report_entry *entries;
    int n_entries;
} sa_eval_report;

/* The summary and sample objects (NULL when out of memory); the caller owns them (cJSON_Delete). */
cJSON *sa_eval_summary_json(const sa_metrics_summary *s, int n_skipped);
cJSON *sa_eval_sample_json(const sa_eval_sample *s, int max_clicks);
/* Adds a referring set's keys to its dataset object o: "n_samples", "n_failed", "ciou", "giou",
 * "miou_by_step" and "ciou_by_step" (arrays of max_clicks numbers, step 1 first), "failures":
 * {"unparseable_reply", "policy_error", "tool_error", "load_error"}. SA_ERR_NOMEM when a key could
 * not be added. */
int sa_eval_refer_summary_add_json(cJSON *o, const sa_eval_refer_summary *s);
/* A number rounded to 6 decimals; NAN and infinities become null. */
cJSON *sa_eval_json_number(double v);

/* The whole document as formatted JSON text (malloc'd, valid UTF-8: invalid bytes of names become U+FFFD),
 * or NULL with err set. */
char *sa_eval_report_json(const sa_eval_report *r, sa_error *err);
/* sa_eval_report_json to a file. */
int sa_eval_report_write_json(const char *path, const sa_eval_report *r, sa_error *err);
/* The mIoU-vs-clicks chart of every entry (legend notes NoC@85/NoC@90) as an SVG file. */
int sa_eval_report_write_chart(const char *path, const sa_eval_report *r, sa_error *err);
/* The cIoU-by-step chart: a referring entry's ciou_by_step (legend notes cIoU and the PRM choice's cIoU), an
 * interactive entry's cIoU after each click. */
int sa_eval_report_write_ciou_chart(const char *path, const sa_eval_report *r, sa_error *err);

/* Merges the part files of a sharded `segagent eval` run (docs/parts.md, docs/eval-records.md) into what one
 * unsharded `eval --json out` writes: out (the summary JSON, recomputed from the per-sample records), its
 * charts beside it (out's extension replaced by ".svg" and ".ciou.svg") and the merged per-sample file as a
 * one-shard part file (sa_shard_part_path(out, whole): "out.part.jsonl"), written under a temporary name and
 * renamed only when every check passed. parts: the part files of all shards, any order. Errors: those of
 * sa_parts_merge (a missing, duplicate or unfinished shard, parts of another run, an item twice or in none,
 * named with its file), SA_ERR_FORMAT for a damaged record, SA_ERR_IO, SA_ERR_NOMEM. */
int sa_eval_merge(const char *const *parts, int n_parts, const char *out, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
