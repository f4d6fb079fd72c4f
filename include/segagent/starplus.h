/* StaR+ (docs/starplus.md): a served policy acts on training samples, every action it takes is judged by the
 * change of IoU it causes, the good ones are kept and the others are replaced by the simulated annotator's click
 * at that state; the corrected trajectories are written in the released SegAgent format with each click marked
 * as the policy's or the expert's.
 *
 *   // one sample (env reset with the image, the description and a non-empty ground truth):
 *   sa_starplus_params p = sa_starplus_default_params();       // target 0.98, 20 clicks, keep iff gain > 0
 *   sa_traj_sample smp = {0};
 *   sa_starplus_sample_stats st;
 *   sa_starplus_episode(env, llm_policy, p, &smp, &st, NULL, &err);   // smp.steps[t].source "policy"/"expert"
 *
 *   // a whole run over datasets, resumable and shardable (docs/parts.md):
 *   sa_sample_set sets[] = {{.label = "GrabCut", .dataset = ds}, {.label = "refcoco:val", .refer = rf}};
 *   sa_starplus_run_opts o = {.out = "star.json", .shard = sa_shard_whole(), .resume = 1};
 *   sa_starplus_run(tool, sets, 2, make_policy, &llm_params, p, o, &hooks, &totals, &err);
 *   // unsharded: writes star.part.jsonl, star.json and star.stats.json; sharded: the shard's part only, then
 *   sa_starplus_merge(parts, n_parts, "star.json", &err);      // what one unsharded run writes
 *
 * The rule, per step t (the episode engine and the agent loop: segagent/env.h, agent.h):
 *   the policy is asked for an action on M_t (it sees the overlay and the description, never the ground truth);
 *   the action is applied to M_t without committing it (sa_env_preview): gain = IoU(M') - IoU(M_t);
 *   gain > params.min_gain (default 0: the IoU strictly rises): the action is kept, M_{t+1} = M' ("policy");
 *   otherwise -- no gain, a loss, a reply that does not parse, a click outside the image -- the action is
 *   replaced by the simulated annotator's click at M_t (docs/annotator.md) and the episode continues from the
 *   state that click gives ("expert").
 * The episode ends at target_iou, after max_clicks steps, when the annotator has nothing left to fix, or when
 * an expert click does not raise the IoU either (that click is not written: as in `trajectories`, every
 * written click raises the IoU). A policy error (server unreachable, HTTP error) fails the sample.
 */
#ifndef SEGAGENT_STARPLUS_H
#define SEGAGENT_STARPLUS_H

#include <cjson/cJSON.h>

#include "segagent/dataset.h"
#include "segagent/env.h"
#include "segagent/error.h"
#include "segagent/policy.h"
#include "segagent/refer.h"
#include "segagent/sample_set.h"
#include "segagent/shard.h"
#include "segagent/tool.h"
#include "segagent/trajectory.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_starplus_params {
    double target_iou; /* stop once IoU >= this (default 0.98), in (0, 1] */
    int max_clicks;    /* at most this many steps (default 20, 1..SA_MAX_CLICKS) */
    double
        min_gain; /* a policy action is kept iff its IoU gain > min_gain (default 0), in [0, 1) */
    float
        prob_threshold; /* the env's threshold on a tool's probability map (default 0.49, as trajectories) */
    int workers; /* samples in flight (default 1); each worker has its own policy instance */
    int limit;   /* at most this many samples per set (0 = all) */
    const char
        *caption; /* description for sets without one (interactive folders); default "the object" */
    int reserved[4];
} sa_starplus_params;

sa_starplus_params sa_starplus_default_params(void);

/* One action of the policy as judged. */
typedef struct sa_starplus_action {
    int usable; /* the reply parsed to a click inside the image and the tool applied it */
    sa_click policy_click; /* when usable */
    char *reply;           /* the policy's text (owned), NULL when none */
    double iou_before;     /* IoU(M_t) */
    double policy_iou;     /* IoU the policy's click gives from M_t; NAN when not usable */
    int kept;              /* 1: kept ("policy"); 0: replaced by the expert */
    double
        iou_after; /* IoU of the state the step committed (the policy's or the expert's click); NAN
                              when nothing was committed (the expert had nothing left to fix) */
} sa_starplus_action;

typedef struct sa_starplus_sample_stats {
    int policy_actions; /* actions the policy was asked for */
    int kept;           /* of them, kept */
    int replaced;       /* of them, replaced (= policy_actions - kept) */
    int unusable;       /* of the replaced, replies that gave no usable click */
    int expert_clicks;  /* written clicks that came from the expert */
    int clicks;         /* written clicks */
    double iou_start;   /* IoU(M_0) (0 for the empty start) */
    double iou_final;   /* IoU of the last written state */
    double kept_gain;   /* sum of the kept actions' IoU gains */
    double
        rejected_gain; /* sum of the gains (<= min_gain) the usable replaced actions would have caused */
    int rejected_usable; /* how many usable replaced actions that sum covers */
    char stop[64];       /* why the episode ended (sa_agent_result.stop) */
    sa_starplus_action
        *actions; /* policy_actions entries (owned; free with sa_starplus_sample_stats_free) */
} sa_starplus_sample_stats;

void sa_starplus_sample_stats_free(
    sa_starplus_sample_stats *st); /* zeroes; safe on a zeroed struct */

/* Runs StaR+ on one sample. env must be reset with the image, the description the policy is prompted with,
 * and a non-empty ground truth; it is restarted from the empty mask. policy is the served model (its reset is
 * called; it never sees the ground truth). expert may be NULL (a simulated annotator is made for the call).
 * Fills out (height, width, gt, steps with source; image_name, object_id and captions left NULL:
 * sa_traj_sample_set_meta) and st (may be NULL). Errors: bad parameters (SA_ERR_INVALID), no or empty ground
 * truth (SA_ERR_FORMAT), a policy error (SA_ERR_NETWORK, SA_ERR_TIMEOUT, ...), a tool error; out and st are
 * then freed. */
int sa_starplus_episode(sa_env *env, sa_policy *policy, sa_policy *expert, sa_starplus_params p,
                        sa_traj_sample *out, sa_starplus_sample_stats *st, sa_error *err);

/* ---- over datasets ---- */

/* The input sets are segagent/sample_set.h's: an interactive folder (captioned with params.caption) or a
 * referring set (its captions). */

typedef struct sa_starplus_run_opts {
    const char *out; /* the trajectories JSON; its part file is sa_shard_part_path(out, shard) */
    sa_shard shard;  /* this process's shard (sa_shard_resolve); {0, 1} = the whole run */
    int resume;      /* continue the part file instead of starting over */
    const cJSON
        *policy_config;  /* the policy options that decide the results (model, prompt, sampling...);
                                   kept in the part header so parts of different runs never mix; may be NULL */
    const char *version; /* written in the output's info (may be NULL) */
} sa_starplus_run_opts;

/* Totals over the items of a run (or of a merge). */
typedef struct sa_starplus_totals {
    long items;   /* items of this shard (all shards for a merge) */
    long done;    /* of them, finished: resumed from the part plus run now */
    long resumed; /* finished in an earlier run (read from the part) */
    long samples; /* written samples */
    long failed;  /* items skipped (unreadable image, empty mask, tool error) */
    long policy_actions, kept, replaced, unusable, expert_clicks, clicks, rejected_usable;
    double iou_start_sum, iou_final_sum, kept_gain_sum, rejected_gain_sum;
    int stopped; /* should_stop or a policy error ended the run early (resume it) */
    int merged;  /* the output JSON and stats were written (an unsharded run that finished) */
} sa_starplus_totals;

typedef struct sa_starplus_hooks {
    void *user;
    /* After each item run now, in item order: its set and index in it, SA_OK or why it was skipped, and its
     * stats (NULL when skipped). */
    void (*on_item)(void *user, const sa_sample_set *set, int item, int status, const char *message,
                    const sa_starplus_sample_stats *st);
    int (*should_stop)(
        void *user); /* polled before each item; non-zero stops after those in flight */
} sa_starplus_hooks;

/* Runs StaR+ over every item of the sets (in order, set by set, limit per set) that belongs to o.shard, on the
 * dataset runner with p.workers workers, each with its own policy from policy_new(policy_ctx) and its own env
 * on the shared tool. Every finished item is appended to the part file (docs/parts.md; a skipped item is a
 * record with its error, so a resume does not retry it). A policy error (the server is gone, HTTP errors)
 * stops the run without recording that item: resume once the server is back. When the whole run is one shard
 * and every item is done, the part is merged into o.out and its stats file (sa_starplus_merge). Returns SA_OK
 * (also when stopped: totals->stopped says so; then err holds the reason when it was a policy error), or the
 * error that ends the run: bad parameters, a part file of another run (SA_ERR_STATE), I/O. totals may be
 * NULL. */
int sa_starplus_run(sa_tool *tool, const sa_sample_set *sets, int n_sets,
                    sa_policy_new_fn policy_new, void *policy_ctx, sa_starplus_params p,
                    sa_starplus_run_opts o, const sa_starplus_hooks *hooks,
                    sa_starplus_totals *totals, sa_error *err);

/* Joins the part files of all shards of one StaR+ run (any order) into out -- the trajectories JSON, written
 * by the trajectories writer -- and the stats JSON beside it (sa_starplus_stats_path): exactly what an
 * unsharded run writes. Refuses parts that do not fit together (sa_parts_merge's checks); nothing is written
 * then. */
int sa_starplus_merge(const char *const *parts, int n_parts, const char *out, sa_error *err);
/* The same, also returning the totals (may be NULL). */
int sa_starplus_merge_totals(const char *const *parts, int n_parts, const char *out,
                             sa_starplus_totals *totals, sa_error *err);

/* The stats file of output out: its extension replaced by ".stats.json" ("star.json" -> "star.stats.json").
 * malloc'd; NULL when out of memory. */
char *sa_starplus_stats_path(const char *out);

#ifdef __cplusplus
}
#endif
#endif
