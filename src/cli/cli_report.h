/* Internal to the CLI: what eval, annotate and demo print and write the same way -- the metrics table, the
 * JSON pieces (summary keys "noc@80", "miou@5", ...; per-sample curves), and the overlay PNG with click
 * markers. */
#ifndef SEGAGENT_CLI_REPORT_H
#define SEGAGENT_CLI_REPORT_H

#include <cjson/cJSON.h>
#include <stdio.h>

#include "cli_term.h"

#include "segagent/eval_report.h"
#include "segagent/evaluate.h"
#include "segagent/fileio.h"
#include "segagent/metrics.h"

/* Table: a header line, then one row per dataset; columns NoC@80/85/90, NoF@85/90, mIoU@k (k <= max
 * clicks), ms/click. */
void cli_metrics_table_header(FILE *f, int max_clicks);
void cli_metrics_table_row(FILE *f, const char *name, const sa_metrics_summary *s, int max_clicks);
/* One line with the latency distribution and the number of clicks made. */
void cli_metrics_latency_line(FILE *f, const char *name, const sa_metrics_summary *s);

/* The policy's view (mask overlay as SegAgent draws it) plus click markers: green dots for positive
 * clicks, red for negative, with a white rim; the newest click gets a larger ring. Saved as PNG. */
int cli_save_overlay(const char *path, const sa_image *img, const sa_mask *mask,
                     const sa_click *clicks, int n, sa_error *err);

/* The ground truth drawn over the photo in blue (how demo and annotate show it), saved as PNG. */
int cli_save_gt_overlay(const char *path, const sa_image *img, const sa_mask *gt, sa_error *err);

/* cli_save_overlay of the env's current mask and clicks as DIR/step_NN.png. */
int cli_save_step_overlay(const char *dir, int step, const sa_image *img, const sa_env *env,
                          sa_error *err);

#endif
