/* The click benchmark (docs/metrics.md): a policy -- the simulated annotator (docs/annotator.md) by default, or
 * any other, an LLM included -- drives an interactive tool over a dataset, recording IoU and tool time per click.
 *
 *   sa_eval_params p = sa_eval_default_params();     // 20 clicks, 1 thread, the simulated annotator
 *   p.threads = 2;
 *   sa_eval_result r;
 *   if (sa_eval_run(tool, ds, p, on_progress, NULL, &r, &err)) { ... nothing could be run ... }
 *   printf("NoC@90 %.2f over %d samples (%d skipped)\n", r.summary.noc[SA_TAU_90], r.summary.n_samples,
 *          r.n_skipped);
 *   sa_eval_result_free(&r);
 *
 * One episode is one run of the agent loop (segagent/agent.h) on the episode engine (segagent/env.h): reset the
 * environment with the image, the ground truth and its ignore map; then for click 1..max_clicks the policy
 * chooses the next click on the current mask (the simulated annotator sees the ignore map and the clicks
 * already placed, which are never clicked again), the tool applies it, the IoU is recorded. The episode ends
 * early when the policy has nothing left to fix (the metrics carry the last IoU forward), when target_iou is
 * reached (if set), when a model's reply cannot be parsed (the last mask stands), or when the tool or the
 * policy fails (the error is kept with the sample).
 *
 * Threads: samples run on params.threads workers of the dataset runner (segagent/runner.h), each with its own
 * environment and policy (the sa_tool is shared). Samples are stored in dataset order and the metrics summed in
 * that order, so every number except the timings is identical for any thread count.
 */
#ifndef SEGAGENT_EVALUATE_H
#define SEGAGENT_EVALUATE_H

#include <stdint.h>

#include "segagent/dataset.h"
#include "segagent/env.h"
#include "segagent/error.h"
#include "segagent/metrics.h"
#include "segagent/policy.h"
#include "segagent/refer.h"
#include "segagent/tool.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sa_eval_sample;
typedef struct sa_eval_sample sa_eval_sample;

typedef struct sa_eval_params {
    int max_clicks;    /* clicks per sample, 1..SA_METRICS_MAX_CLICKS (default 20) */
    int threads;       /* worker threads over samples (default 1) */
    int limit;         /* evaluate only the first limit items (0 = all) */
    double target_iou; /* stop a sample once IoU >= target_iou (0 = run all clicks, the benchmark
                          rule) */
    sa_policy_new_fn
        policy_new; /* makes each worker's policy; NULL (default) = the simulated annotator */
    void *policy_ctx;
    int (*should_stop)(
        void *user); /* sa_eval_run: polled before each sample (user is the progress user);
                                       non-zero ends the run after the samples in flight (NULL = never) */
    /* sa_eval_run: run only these items of the set (strictly increasing indices below its count, after
     * limit), e.g. one shard's items not yet in a resumed part file; NULL (default) = every item. */
    const int *items;
    int n_items;
    /* sa_eval_run: called once per finished sample, in item order, never two at once (before the progress
     * callback), with sample_ctx; a record writer (eval_records.h). Non-zero stops the run like
     * should_stop. NULL = none. */
    int (*on_sample)(void *sample_ctx, const sa_eval_sample *s);
    void *sample_ctx;
    int reserved[4];
} sa_eval_params;

/* One evaluated sample. Arrays have n entries (clicks made), except the policy's per-step arrays (n_asked). */
struct sa_eval_sample {
    char *name;  /* item name (stem) */
    int status;  /* SA_OK; or why the sample was skipped (load error) or cut short (tool error) */
    char *error; /* one-line message when status != SA_OK, else NULL */
    int width, height;
    int n;            /* clicks made */
    sa_click *clicks; /* the annotator's clicks */
    double *iou;      /* IoU after each click */
    double *ms;       /* tool time of each click */
    uint64_t *inter, *uni;
    double iou0; /* IoU of the starting (empty) mask */
    uint64_t inter0, uni0;
    int done_early; /* 1 when the annotator had nothing left to fix before max_clicks */
    int end_kind;   /* SA_EVAL_END_*: what cut the episode short, if anything */
    int item;       /* the item's index in its set */
    /* The policy's side of each step asked: the n clicks, plus one step that ended the episode without a
     * click (an unparseable reply, "nothing to fix", a policy error) when there was one. */
    int n_asked;
    double
        *pred_iou; /* the policy's predicted IoU ("Current IOU") of the mask entering each step, NAN
                         when the reply had none */
    double *req_ms; /* the policy's time for each step (for an LLM policy: the HTTP request) */
    char **
        replies; /* the policy's raw reply of each step, NULL when none (the simulated annotator) */
    char
        *mask_rle; /* the final mask as a COCO compressed RLE string (height x width), NULL when the
                         sample was skipped */
};

sa_eval_params sa_eval_default_params(void);

enum {
    SA_EVAL_END_NORMAL = 0,      /* ran its steps, or stopped by a rule (target, done) */
    SA_EVAL_END_UNPARSEABLE = 1, /* a model reply was no action: the last mask stands */
    SA_EVAL_END_POLICY = 2,      /* the policy failed (HTTP error, timeout, connection) */
    SA_EVAL_END_TOOL = 3,        /* the tool failed */
    SA_EVAL_END_LOAD = 4         /* the sample could not be loaded */
};

void sa_eval_sample_free(sa_eval_sample *s);

typedef struct sa_eval_result {
    int n_samples; /* items attempted, in dataset order */
    sa_eval_sample *samples;
    int n_skipped; /* items with nothing measured: load error, or the tool failed before the first
                      click completed (samples[i].iou == NULL; status and error say why) */
    int n_failed;  /* samples whose tool failed part-way (kept in the metrics up to the failure) */
    sa_metrics_summary summary; /* over the samples that were not skipped */
} sa_eval_result;

void sa_eval_result_free(sa_eval_result *r);

/* What one click of an episode did. */
typedef struct sa_eval_step {
    int step;        /* 1-based click index */
    sa_click click;  /* the policy's click */
    double iou;      /* IoU after the click */
    double prev_iou; /* IoU before it */
    double ms;       /* tool time */
} sa_eval_step;

/* Called after each click of an episode, on the thread running it. env holds the new state (sa_env_mask,
 * sa_env_clicks). Return non-zero to stop the episode. */
typedef int (*sa_eval_step_fn)(void *user, const sa_env *env, const sa_eval_step *step);

/* Progress of sa_eval_run: called once per finished sample, serialized (never two calls at once), from any
 * worker thread. done counts finished samples. */
typedef void (*sa_eval_progress_fn)(void *user, int done, int total, const sa_eval_sample *s);

/* Runs one episode on an env that has been reset with ground truth, with the given policy (params.policy_new
 * is not used here). on_step may be NULL. *out receives the sample (name left NULL); on a tool or policy
 * error the sample keeps the clicks made so far and the error is returned too. */
int sa_eval_env_episode(sa_env *env, sa_policy *policy, sa_eval_params params,
                        sa_eval_step_fn on_step, void *user, sa_eval_sample *out, sa_error *err);

/* The same on an image: makes the environment (default parameters) and the policy (params.policy_new, or the
 * simulated annotator), runs, frees them. ignore may be NULL. */
int sa_eval_episode(sa_tool *tool, const sa_image *img, const sa_mask *gt, const sa_mask *ignore,
                    sa_eval_params params, sa_eval_step_fn on_step, void *user, sa_eval_sample *out,
                    sa_error *err);

/* Evaluates the dataset. Load errors and tool errors are recorded per sample and do not stop the
 * run. Returns an error only for bad parameters, out of memory, or when no sample at all could be
 * evaluated (then *out is still filled, so the per-sample errors can be reported, and must be
 * freed). */
/* When params.should_stop ended the run early, r.n_samples counts the samples actually run (a prefix).
 * With params.items, r.samples[k] is item params.items[k] (sa_eval_sample.item says which). */
int sa_eval_run(sa_tool *tool, const sa_dataset *ds, sa_eval_params params,
                sa_eval_progress_fn progress, void *user, sa_eval_result *out, sa_error *err);

/* The same over a referring set (refer.h): each sample's caption is the episode's description (what
 * an LLM policy is asked to segment), and its id the sample's name. The result is read as
 * sa_eval_run's, and sa_eval_refer_summarize gives the referring metrics. */
int sa_eval_run_refer(sa_tool *tool, const sa_refer *ds, sa_eval_params params,
                      sa_eval_progress_fn progress, void *user, sa_eval_result *out, sa_error *err);

/* Fills r->summary, r->n_skipped and r->n_failed from r->samples (in their order) over max_clicks: what
 * sa_eval_run does after running, for a result assembled elsewhere (from records: eval_records.h). The
 * counters are reset first. SA_OK, SA_ERR_INVALID, SA_ERR_NOMEM. */
int sa_eval_result_summarize(sa_eval_result *r, int max_clicks, sa_error *err);

/* The referring-segmentation metrics (the paper's Tables 1 and 2) of a result. */
typedef struct sa_eval_refer_summary {
    int n_samples; /* samples measured */
    int n_failed;  /* samples skipped (nothing measured) or cut short by a tool or policy error */
    int max_clicks;
    double ciou; /* sum over samples of the final intersection / sum of the final unions */
    double giou; /* mean of the final per-sample IoU; an empty mask of an empty truth scores 1 */
    double miou_by_step[SA_METRICS_MAX_CLICKS]; /* mean IoU after step t+1 (last mask carried
                                                   forward) */
    double ciou_by_step[SA_METRICS_MAX_CLICKS]; /* cIoU after step t+1 */
    int failures[5]; /* samples by sa_eval_sample.end_kind (failures[SA_EVAL_END_NORMAL]: none) */
    /* The same with the PRM choice (sa_eval_prm_state): per sample, the state with the highest predicted
     * IoU among those seen up to the step. Equal to the plain numbers when no reply predicted an IoU. */
    double prm_ciou, prm_giou;
    double prm_miou_by_step[SA_METRICS_MAX_CLICKS];
    double prm_ciou_by_step[SA_METRICS_MAX_CLICKS];
    long n_requests; /* policy steps timed (sa_eval_sample.req_ms), all samples */
    double req_ms_p50, req_ms_p90, req_ms_p99; /* their percentiles (nearest rank); NAN with none */
} sa_eval_refer_summary;

/* The PRM choice of a sample after step t (1..): among the states 0..min(t, n) (0 = the starting mask,
 * k = after click k) whose predicted IoU is known -- state k's comes with the reply of step k+1, so
 * pred_iou[k] for k < n_asked -- the one with the highest prediction; ties go to the later state (as the
 * agent loop's best-of); with no prediction at all, the last state min(t, n). Returns the state, or -1 for a
 * skipped sample (no arrays). */
int sa_eval_prm_state(const sa_eval_sample *s, int t);

/* Fills *out from r over max_clicks steps (1..SA_METRICS_MAX_CLICKS). Skipped samples are counted
 * in n_failed and left out of every mean; with no sample measured ciou and giou are NAN. Returns
 * SA_OK, SA_ERR_INVALID (bad arguments) or SA_ERR_NOMEM. */
int sa_eval_refer_summarize(const sa_eval_result *r, int max_clicks, sa_eval_refer_summary *out);

#ifdef __cplusplus
}
#endif
#endif
