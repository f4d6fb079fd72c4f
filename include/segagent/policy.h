/* Policies choose the next action from what the annotator sees: the image with the current mask, the
 * description, and (for the simulated annotator only) the ground truth.
 *
 *   sa_policy *p = NULL;
 *   sa_clicker_policy_new(&p, &err);            // the simulated annotator; needs gt in the observation
 *   sa_policy_obs obs = sa_policy_obs_from_env(env);   // segagent/env.h builds it from an episode
 *   sa_policy_decision d[1];
 *   int n = 0;
 *   sa_policy_act(p, &obs, 1, d, &n, &err);     // n decisions; d[i].status says whether each parsed
 *   ...
 *   sa_policy_decisions_free(d, n);
 *   sa_policy_free(p);
 *
 * Policies are implemented by filling a sa_policy_ops table. A policy may keep per-episode state (reset is
 * called at each new episode).
 */
#ifndef SEGAGENT_POLICY_H
#define SEGAGENT_POLICY_H

#include "segagent/action.h"
#include "segagent/error.h"
#include "segagent/image.h"
#include "segagent/mask.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_policy_obs {
    const sa_image *image;
    const char *description;
    const sa_mask *mask;    /* current mask M_t */
    const sa_mask *gt;      /* NULL unless the policy is allowed to see ground truth */
    const sa_mask *ignore;  /* NULL when none */
    const sa_click *clicks; /* clicks so far */
    int n_clicks;
    int step; /* 0-based index of the step about to be taken */
} sa_policy_obs;

typedef struct sa_policy_decision {
    int status; /* SA_OK, or the error for this candidate (e.g. SA_ERR_PARSE for an unparseable reply) */
    sa_action action; /* valid when status == SA_OK */
    float pred_iou;   /* policy's predicted IoU of the *input* mask, in [0,1]; NAN when none */
    char *text;       /* raw policy output (malloc'd) or NULL; freed by sa_policy_decisions_free */
    double ms;        /* time the policy took for this decision (shared requests split evenly) */
} sa_policy_decision;

typedef struct sa_policy_ops {
    const char *name;
    int needs_gt; /* 1 when the policy reads obs->gt (the simulated annotator); the agent then passes it */
    /* Fills up to k decisions (k >= 1) into out and sets *n_out. Returns an error only when nothing at all
     * could be produced (e.g. server unreachable); per-candidate failures go in out[i].status. */
    int (*act)(void *self, const sa_policy_obs *obs, int k, sa_policy_decision *out, int *n_out,
               sa_error *err);
    /* Optional: predicted IoU in [0,1] of obs->mask (process reward). NULL when the policy has none. */
    int (*score)(void *self, const sa_policy_obs *obs, float *pred_iou, char **text, sa_error *err);
    void (*reset)(void *self);
    void (*free)(void *self);
} sa_policy_ops;

typedef struct sa_policy sa_policy;

int sa_policy_new(const sa_policy_ops *ops, void *self, sa_policy **out, sa_error *err);
void sa_policy_free(sa_policy *p);
const char *sa_policy_name(const sa_policy *p);
int sa_policy_can_score(const sa_policy *p);
/* 1 when the policy must see the ground truth (ops->needs_gt). */
int sa_policy_needs_gt(const sa_policy *p);
void sa_policy_reset(sa_policy *p);
int sa_policy_act(sa_policy *p, const sa_policy_obs *obs, int k, sa_policy_decision *out,
                  int *n_out, sa_error *err);
int sa_policy_score(sa_policy *p, const sa_policy_obs *obs, float *pred_iou, char **text,
                    sa_error *err);
void sa_policy_decisions_free(sa_policy_decision *d, int n);

/* A policy factory: makes one policy instance (the runner calls it once per worker, on that worker's thread, so
 * instances need not be thread-safe). */
typedef int (*sa_policy_new_fn)(void *ctx, sa_policy **out, sa_error *err);

/* The simulated annotator (docs/annotator.md) as a policy: needs obs->gt (it declares needs_gt); returns
 * SA_ERR_DONE when nothing is left to fix. Always one decision (k is ignored beyond 1). It keeps scratch
 * buffers between calls, so one instance serves one thread at a time. */
int sa_clicker_policy_new(sa_policy **out, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
