/* The episode engine (docs/decision-process.md): one image, one description, a tool, and the current mask.
 * Each step applies an action (a click, or a box as the first action), calls the tool with *all* clicks so far
 * and the previous result, and makes the tool's mask the new state. With ground truth, every step reports
 * intersection, union and IoU, computed once here so no caller recomputes them.
 *
 * The environment is the only code that builds a tool request: evaluation, trajectory recording, the agent
 * loop (greedy and search), the server and the benchmarks all go through it.
 *
 *   sa_env *env = NULL;
 *   sa_env_new(tool, sa_env_default_params(), &env, &err);
 *   sa_env_reset(env, &img, "the cat", &gt, &ignore, NULL, &err);
 *   sa_action a = sa_action_click(120, 200, 1);
 *   sa_env_step_info info;
 *   sa_env_step(env, &a, &info, &err);      // info.iou is IoU(new mask, gt), NAN without gt
 *   const sa_mask *m = sa_env_mask(env);
 *   sa_env_free(env);
 *
 * For search, sa_env_preview applies an action without changing the state and sa_env_commit adopts a
 * previewed result. sa_env_restart begins a new episode on the same image (the tool's per-image work, e.g. a
 * SAM embedding, is kept). The env does not own the tool; it owns its tool session (one per reset).
 *
 * Probability maps: a tool may return a per-pixel probability beside its binary mask. With
 * params.prob_threshold set (not NAN), the state is prob > prob_threshold and that mask replaces the tool's own
 * before it is fed back as the previous result, so the tool and the episode agree on M_t (the trajectory
 * recorder's rule, docs/trajectories.md). With NAN (the default) the tool's binary mask is the state.
 */
#ifndef SEGAGENT_ENV_H
#define SEGAGENT_ENV_H

#include <stdint.h>

#include "segagent/action.h"
#include "segagent/error.h"
#include "segagent/image.h"
#include "segagent/mask.h"
#include "segagent/policy.h"
#include "segagent/tool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_env_params {
    float
        prob_threshold; /* state = prob > threshold when the tool has a probability map; NAN (default) = the
                             tool's own binary mask */
    int reserved[4];
} sa_env_params;

sa_env_params sa_env_default_params(void);

typedef struct sa_env_step_info {
    double
        iou; /* IoU of the new mask with gt (ignore excluded; 1 when both are empty), NAN without gt */
    double prev_iou; /* IoU before the step, NAN without gt */
    uint64_t inter;  /* |new mask & gt| outside the ignore map (0 without gt) */
    uint64_t uni;    /* |new mask | gt| outside the ignore map (0 without gt) */
    double
        tool_ms; /* wall time of the tool call (0 for sa_env_commit: the caller timed its preview) */
    int step;    /* 1-based index of this step */
} sa_env_step_info;

typedef struct sa_env sa_env;

/* params must be valid (prob_threshold NAN or in [0, 1)); SA_ERR_RANGE otherwise. */
int sa_env_new(sa_tool *tool, sa_env_params params, sa_env **out, sa_error *err);
void sa_env_free(sa_env *env);

/* Starts an episode. gt, ignore and init_mask are optional (NULL) and must match the image size. The image,
 * description and masks are copied. The initial state is init_mask, or the empty mask. */
int sa_env_reset(sa_env *env, const sa_image *img, const char *description, const sa_mask *gt,
                 const sa_mask *ignore, const sa_mask *init_mask, sa_error *err);

/* Starts a new episode on the current image, ground truth and description: clicks, box and result cleared,
 * the state set to init_mask (NULL: the empty mask), the tool session kept. SA_ERR_STATE before a reset. */
int sa_env_restart(sa_env *env, const sa_mask *init_mask, sa_error *err);

/* The tool's mask (thresholded as every step is) for these prompts alone, from nothing: no previous result, no
 * init mask, the state unchanged. For building starting states (a box, random clicks). clicks may be NULL
 * when n_clicks is 0; box may be NULL (a box needs a tool that accepts boxes). *out zeroed or freed before. */
int sa_env_predict_prompts(sa_env *env, const sa_click *clicks, int n_clicks, const sa_box *box,
                           sa_mask *out, sa_error *err);

/* One stateless prediction for a client that holds its own prompts (an interactive server): the tool's result
 * for these clicks and box, starting from init_mask (the client's previous mask, may be NULL), thresholded as
 * every step is; the episode state is unchanged, so calls on one env may come in any order. clicks may be NULL
 * when n_clicks is 0; n_clicks in [0, SA_MAX_CLICKS]. *out zeroed or freed before; caller frees. */
int sa_env_predict_request(sa_env *env, const sa_click *clicks, int n_clicks, const sa_box *box,
                           const sa_mask *init_mask, sa_tool_result *out, sa_error *err);

/* Replaces the description of the current episode (copied), keeping the image and the tool session, for a
 * caller that reuses one env (and its cached per-image work) for episodes with different descriptions. Use
 * before sa_env_restart. SA_ERR_STATE before a reset. */
int sa_env_set_description(sa_env *env, const char *description, sa_error *err);

/* Applies an action and adopts the tool's result. A box is accepted only as the first action and only by tools
 * that accept boxes; a click must be inside the image. On error the state is unchanged. */
int sa_env_step(sa_env *env, const sa_action *a, sa_env_step_info *info, sa_error *err);

/* Applies an action to the current state without adopting it; *out receives the tool result (caller frees). */
int sa_env_preview(sa_env *env, const sa_action *a, sa_tool_result *out, sa_error *err);

/* Adopts a result produced by sa_env_preview(env, a, res) in the current state; takes ownership of *res
 * (left zeroed). */
int sa_env_commit(sa_env *env, const sa_action *a, sa_tool_result *res, sa_env_step_info *info,
                  sa_error *err);

const sa_mask *sa_env_mask(const sa_env *env); /* current mask (never NULL after reset) */
const sa_tool_result *
sa_env_result(const sa_env *env); /* last tool result, NULL before the first step */
const sa_click *sa_env_clicks(const sa_env *env);
int sa_env_n_clicks(const sa_env *env);
const sa_box *sa_env_box(const sa_env *env); /* NULL when no box was given */
int sa_env_steps(const sa_env *env);         /* actions taken since reset */
double sa_env_iou(const sa_env *env);        /* IoU of the current mask, NAN without gt */
/* Intersection and union of the current mask with gt (0, 0 without gt). */
void sa_env_inter_union(const sa_env *env, uint64_t *inter, uint64_t *uni);
const sa_image *sa_env_image(const sa_env *env);
const char *sa_env_description(const sa_env *env);
const sa_mask *sa_env_gt(const sa_env *env);     /* NULL without gt */
const sa_mask *sa_env_ignore(const sa_env *env); /* NULL without ignore */
sa_tool *sa_env_tool(const sa_env *env);

/* What a policy sees of the episode: image, description, current mask, clicks so far, step index, and the
 * ground truth and ignore map (the caller clears gt for policies that must not see it). */
sa_policy_obs sa_policy_obs_from_env(const sa_env *env);

#ifdef __cplusplus
}
#endif
#endif
