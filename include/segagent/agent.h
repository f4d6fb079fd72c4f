/* The agent loop: runs a policy on the episode engine (segagent/env.h) for T steps, greedily or with
 * PRM-guided search (docs/decision-process.md), and keeps a full record of the episode. It is the one loop of
 * the library: the LLM agent, the click benchmark (sa_eval_*) and the trajectory recorder (sa_traj_record) are
 * all runs of it with different policies and stopping rules.
 *
 *   sa_env_reset(env, &img, "the cat", NULL, NULL, NULL, &err);      // or an initial mask to refine
 *   sa_agent_params ap = sa_agent_default_params();
 *   ap.steps = 7;  ap.search_k = 3;                                  // K = 1 is greedy
 *   sa_agent_result r;
 *   int rc = sa_agent_run(env, policy, ap, &r, &err);                // r is filled even when rc != SA_OK
 *   sa_agent_write_outputs(&r, env, "run/", &grammar, sa_overlay_default_style(), &err);
 *   sa_agent_result_free(&r);
 *
 * Greedy (K = 1): each step asks the policy for one action and applies it with the tool. A model trained with
 * the process reward writes "Current IOU" first: that is its estimate for the mask it was shown, so the
 * predicted IoU of M_t arrives with step t's reply, and one scoring request after the last step gives that of
 * M_T. Search (K > 1): each step samples K actions, applies each with sa_env_preview, scores every resulting
 * mask with the policy (sa_policy_score), commits the best (ties: the first); identical actions are tried
 * once. Either way, with params.best_of the returned mask is the one with the highest predicted IoU over all
 * states including the start (ties go to the later state); without any prediction it is the last mask.
 * Early stop (params.early_stop): stop as soon as the predicted IoU of the newest state is not above the one
 * before it.
 *
 * First action: none; a box given by the caller; or a box grounded by the model (params.ground). The box
 * goes to the tool as the first action (the tool must accept boxes) and does not count towards T. A failed
 * grounding is recorded and the episode continues without a box.
 *
 * Stopping rules for benchmarks and recording (off by default): stop_iou (a true IoU reached), stop_without_gain
 * (a step that did not raise the true IoU), and an on_step hook that may end the episode.
 *
 * Endings: an unparseable or out-of-range reply ends the episode with the last good mask (docs/grammar.md)
 * and sa_agent_run still returns SA_OK (r.stop says why). A policy error (server unreachable, HTTP error) or a
 * tool error returns that error -- with r holding the partial trajectory and the best mask so far.
 */
#ifndef SEGAGENT_AGENT_H
#define SEGAGENT_AGENT_H

#include <stdint.h>

#include "segagent/env.h"
#include "segagent/error.h"
#include "segagent/image.h"
#include "segagent/policy.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sa_first_action {
    SA_FIRST_NONE = 0,
    SA_FIRST_BOX = 1,   /* params.box */
    SA_FIRST_GROUND = 2 /* params.ground */
} sa_first_action;

/* Grounding hook: fills *box (pixels) for the description; *reply (may be NULL) the raw model text. */
typedef int (*sa_agent_ground_fn)(void *ctx, const sa_image *img, const char *description,
                                  sa_box *box, char **reply, sa_error *err);

struct sa_agent_step;
/* Called after each committed step (the env holds the new state). Return non-zero to end the episode there
 * (r.stop "stopped"). */
typedef int (*sa_agent_step_fn)(void *ctx, const sa_env *env, const struct sa_agent_step *step);

typedef struct sa_agent_params {
    int steps;       /* T, default 7 */
    int search_k;    /* K candidates per step, default 1 (greedy) */
    int best_of;     /* return the state with the best predicted IoU (default 1) */
    int early_stop;  /* default 0 */
    double stop_iou; /* with gt: end once a committed step reaches this true IoU (r.stop "target");
                              0 (default) = off */
    int stop_without_gain; /* with gt: end after a committed step whose true IoU is not above the IoU before it
                              (r.stop "no gain"; the step stays in the record); default 0 */
    int keep_masks; /* keep each step's state in steps[i].mask (default 1); with 0 and best_of 0 only the
                              returned mask is kept (long episodes on large images) */
    sa_agent_step_fn on_step; /* optional, with on_step_ctx */
    void *on_step_ctx;
    sa_first_action first;     /* default SA_FIRST_NONE */
    sa_box box;                /* for SA_FIRST_BOX */
    sa_agent_ground_fn ground; /* for SA_FIRST_GROUND */
    void *ground_ctx;
    const char
        *request_text; /* the prompt the policy sends (recorded in the trajectory), may be NULL */
} sa_agent_params;

sa_agent_params sa_agent_default_params(void);

typedef struct sa_agent_candidate {
    int status; /* SA_OK, or the parse/tool error of this candidate */
    sa_action action;
    char *text;        /* the policy's reply (owned) */
    float pred_iou_in; /* the reply's "Current IOU" for the state it saw, NAN when none */
    float
        pred_iou_out; /* search: predicted IoU of the mask this action produced, NAN when not scored */
    char *score_text; /* search: the scoring reply (owned) */
    double iou_out;   /* true IoU of the produced mask (with gt), else NAN */
    double tool_ms, score_ms;
} sa_agent_candidate;

typedef struct sa_agent_step {
    int index; /* 1-based step; 0 for the first-action box */
    int is_box;
    sa_box box;         /* the box, when is_box */
    char *ground_reply; /* grounding reply (owned), when the box came from the model */
    int status;         /* SA_OK when an action was committed */
    char *error;        /* one-line reason when status != SA_OK (owned) */
    int n_candidates;
    sa_agent_candidate *cands;
    int chosen;            /* index into cands of the committed action, -1 when none */
    sa_action action;      /* the committed action */
    float pred_iou_before; /* predicted IoU of the state the step started from, NAN when unknown */
    float pred_iou_after;  /* predicted IoU of the new state, NAN when unknown */
    double iou_before, iou_after; /* true IoUs with gt, else NAN */
    uint64_t inter, uni; /* intersection and union of the new state with gt (0 without gt) */
    double policy_ms, tool_ms, score_ms, total_ms;
    int committed; /* 1 when the state changed */
    sa_mask mask;  /* the state after this step (owned; empty when params.keep_masks was 0) */
} sa_agent_step;

typedef struct sa_agent_result {
    sa_mask start_mask;   /* M_0 (empty, or the initial mask) */
    float start_pred_iou; /* NAN when unknown */
    double start_iou;     /* true IoU of M_0, NAN without gt */
    sa_agent_step *steps;
    int n_steps;
    int n_clicks;        /* clicks committed */
    sa_mask mask;        /* the returned mask */
    int best_step;       /* which state it is: -1 = the start, i = after steps[i] */
    float best_pred_iou; /* its predicted IoU, NAN when none */
    double iou;          /* its true IoU, NAN without gt */
    double final_iou;    /* true IoU of the last state, NAN without gt */
    int status;          /* SA_OK or the error that ended the episode */
    char stop[64]; /* "steps", "early stop", "target", "no gain", "stopped", "unparseable reply",
                               "done" (the policy had nothing left to do), "policy error", "tool error" */
    char error[SA_ERROR_MSG_LEN]; /* message of the error that ended the episode, "" when none */
    double total_ms, policy_ms, tool_ms, score_ms;
    char *request_text; /* copy of params.request_text */
} sa_agent_result;

/* Runs one episode on an env that has been reset. The policy's reset is called first; the policy sees the
 * env's ground truth only when it declares it needs it (the simulated annotator). out is always filled (free
 * with sa_agent_result_free), even on error. */
int sa_agent_run(sa_env *env, sa_policy *policy, sa_agent_params p, sa_agent_result *out,
                 sa_error *err);
void sa_agent_result_free(sa_agent_result *r);

/* The trajectory as JSON text (malloc'd): description, image size, the prompt, every step with each
 * candidate's reply, action (pixels and relative), predicted and true IoUs, timings; the returned state.
 * grammar (may be NULL) is used to also write each action in the model's grammar. Valid UTF-8 whatever the
 * replies held (invalid bytes become U+FFFD). */
struct sa_grammar;
char *sa_agent_trajectory_json(const sa_agent_result *r, const sa_env *env,
                               const struct sa_grammar *grammar, sa_error *err);

/* Writes into dir (must exist): mask.png (0/255), mask.json (COCO RLE with size, bbox, area, predicted and true
 * IoU), trajectory.json, step_00.png (the start) and step_XX.png (the state after each committed step) as
 * overlays in the given style. */
int sa_agent_write_outputs(const sa_agent_result *r, const sa_env *env, const char *dir,
                           const struct sa_grammar *grammar, sa_overlay_style style, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
