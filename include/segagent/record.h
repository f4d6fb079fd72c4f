/* Recording training trajectories (docs/trajectories.md): a policy that sees the ground truth -- the simulated
 * annotator -- drives a tool on the episode engine, and each click is kept while IoU strictly rises.
 *
 *   sa_env_params ep = sa_env_default_params();
 *   ep.prob_threshold = SA_TRAJ_PROB_THRESHOLD;             // 0.49: the released generator's threshold
 *   sa_env_new(tool, ep, &env, &err);
 *   sa_env_reset(env, &img, "", &gt, &ignore, NULL, &err);
 *   sa_clicker_policy_new(&annotator, &err);
 *   sa_traj_sample smp = {0};
 *   sa_traj_record(env, annotator, sa_traj_default_params(), &smp, &err);   // target 0.98, 20 clicks
 *
 *   // or a whole set of datasets into one file, on N workers, in dataset order:
 *   sa_traj_run_params rp = sa_traj_run_default_params();
 *   sa_traj_record_datasets(tool, datasets, n, rp, writer, &hooks, &stats, &err);
 *
 *   // or one shard of that run into its part file (docs/parts.md), then all parts into the same JSON:
 *   sa_traj_shard_params sp = {.shard = sh, .part = "t.shard-0001-of-0004.jsonl", .resume = 1, .info_json = info};
 *   sa_traj_record_shard(tool, datasets, n, rp, sp, &hooks, &stats, &err);
 *   sa_traj_merge(parts, 4, "t.json", &err);
 *
 * Rules (one episode of the agent loop, segagent/agent.h, with these stopping rules):
 *   M_0 = the empty mask, or the starting mask (below); prev_iou = IoU(M_0, gt); if prev_iou >= target, no click
 *   repeat: click = the policy's next click on M_t  (nothing left to fix: stop)
 *           M = the tool's mask from all recorded clicks + this one and the previous result (on the first click
 *               the start mask as init_mask), thresholded by the env's prob_threshold when the tool has
 *               probabilities
 *           iou = IoU(M, gt) with the ignore map excluded
 *           if iou <= prev_iou: stop; the click is NOT recorded
 *           record (idx, click, M, bbox(M), area(M), iou); prev_iou = iou
 *           stop when iou >= target_iou or after max_clicks recorded clicks.
 *
 * Starting states (for learning refinement):
 *   - SA_TRAJ_START_EMPTY (default): M_0 empty.
 *   - SA_TRAJ_START_BOX: a tool that accepts boxes is called with the gt bounding box alone and its mask is
 *     M_0. A tool that does not (the built-in graph cut) gets the filled gt box rectangle as M_0 instead.
 *   - SA_TRAJ_START_RANDOM_CLICKS: random_points pixels drawn uniformly (seeded splitmix64, reproducible)
 *     inside the gt bounding box, positive where gt = 1 and negative where gt = 0 (ignored pixels are redrawn);
 *     the tool's mask from those clicks alone is M_0.
 *   In both non-empty cases the recorded trajectory then refines M_0 exactly as the agent refines a given mask
 *   at inference (the env restarts with M_0 as its initial mask; the box / random clicks are not passed again),
 *   and M_0 is written as the sample's "init_mask" (with "init_iou", "init_kind").
 */
#ifndef SEGAGENT_RECORD_H
#define SEGAGENT_RECORD_H

#include <stdint.h>

#include "segagent/dataset.h"
#include "segagent/env.h"
#include "segagent/error.h"
#include "segagent/policy.h"
#include "segagent/sample_set.h"
#include "segagent/shard.h"
#include "segagent/tool.h"
#include "segagent/trajectory.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The released generator's threshold on a tool's probability map (its pred_thr). */
#define SA_TRAJ_PROB_THRESHOLD 0.49f

typedef enum sa_traj_start {
    SA_TRAJ_START_EMPTY = 0,
    SA_TRAJ_START_BOX = 1,
    SA_TRAJ_START_RANDOM_CLICKS = 2
} sa_traj_start;

typedef struct sa_traj_params {
    double target_iou;   /* stop once IoU >= this (default 0.98), in (0, 1] */
    int max_clicks;      /* at most this many recorded clicks (default 20, 1..SA_MAX_CLICKS) */
    sa_traj_start start; /* default SA_TRAJ_START_EMPTY */
    int random_points;   /* points for SA_TRAJ_START_RANDOM_CLICKS (default 5, 1..SA_MAX_CLICKS) */
    uint64_t seed;       /* RNG seed for the random points (default 0) */
    int reserved[4];
} sa_traj_params;

sa_traj_params sa_traj_default_params(void);

/* "empty" / "box" / "random-clicks" <-> enum. */
int sa_traj_start_from_name(const char *name, sa_traj_start *out, sa_error *err);
const char *sa_traj_start_name(sa_traj_start s);

/* Records one trajectory on env, which must be reset with a non-empty ground truth (the image's tool session
 * is reused; the env is restarted, so its previous state does not matter). policy must see ground truth
 * (normally sa_clicker_policy_new). Fills out (zeroed or freed before) with height, width, gt fields, init_*
 * and steps; image_name, object_id and captions stay NULL (sa_traj_sample_set_meta). Errors: bad parameters
 * (SA_ERR_INVALID), no or empty gt (SA_ERR_FORMAT), tool and policy failures (passed on). A trajectory that
 * stops at once (first click does not help) is valid and has n_steps == 0. */
int sa_traj_record(sa_env *env, sa_policy *policy, sa_traj_params p, sa_traj_sample *out,
                   sa_error *err);

/* The info object our recorder writes: {"generator":"segagent","version","date" (UTC ISO 8601),"tool",
 * "target_iou","max_clicks","start","random_points","seed","prob_threshold","click_rule","datasets":[...]}.
 * datasets (n may be 0) are free-form labels such as "Berkeley=/data/Berkeley". Returns malloc'd text or NULL. */
char *sa_traj_info_json(sa_traj_params p, float prob_threshold, const char *tool_name,
                        const char *version, const char *const *datasets, int n_datasets,
                        sa_error *err);

/* ---- over datasets, on the dataset runner ---- */

typedef struct sa_traj_run_params {
    sa_traj_params rec;   /* per sample; item k of the whole run uses seed rec.seed + k */
    float prob_threshold; /* the env's threshold (default SA_TRAJ_PROB_THRESHOLD) */
    int workers;          /* items recorded in parallel (default 1) */
    int limit;            /* at most this many items per dataset (0 = all) */
    const char *caption;  /* stored as every sample's caption (NULL = none) */
    int reserved[4];
} sa_traj_run_params;

sa_traj_run_params sa_traj_run_default_params(void);

/* Callbacks of a dataset run, all optional, called in item order and never concurrently. */
typedef struct sa_traj_run_hooks {
    void *user;
    /* After each item: status SA_OK (sample written) or the reason it was skipped (message). */
    void (*on_item)(void *user, const sa_sample_set *set, int item, int status,
                    const char *message);
    /* Polled before each item starts; non-zero stops the run after the items in flight (Ctrl-C). */
    int (*should_stop)(void *user);
    /* Once, before the first item: the items of the run (of the shard) and how many of them were found
     * finished in the part file (resume; 0 otherwise), which on_item will not see. */
    void (*on_plan)(void *user, long total, long resumed);
} sa_traj_run_hooks;

typedef struct sa_traj_run_stats {
    long total;     /* items the run would record (all datasets, after limit) */
    long done;      /* items finished (written or skipped) */
    long samples;   /* samples written */
    long skipped;   /* items that failed (load, tool) */
    long empty;     /* samples with no useful click */
    long clicks;    /* recorded clicks */
    double iou_sum; /* sum of the final IoUs of the samples */
    int stopped;    /* should_stop ended the run early */
    long
        resumed; /* sa_traj_record_shard: items found finished in the part file (counted in done too) */
} sa_traj_run_stats;

/* Records every item of the sets (in order, set by set: interactive folders and referring sets, see
 * segagent/sample_set.h) with the simulated annotator and appends the samples to w in that order, whatever
 * p.workers is. Image names are the image's file name (inside a folder's image folder; for RefCOCO-family sets
 * the COCO file name); object ids "1" for a folder's item, the annotation id of a referring sample; captions
 * the referring sentence, else p.caption. Failing items are reported through hooks and skipped. Returns SA_OK (also
 * when stopped, or when every item was skipped: see stats), or the error that ends the run (bad parameters,
 * a write error on w). */
int sa_traj_record_datasets(sa_tool *tool, const sa_sample_set *datasets, int n_datasets,
                            sa_traj_run_params p, sa_traj_writer *w, const sa_traj_run_hooks *hooks,
                            sa_traj_run_stats *stats, sa_error *err);

/* ---- one shard of a run, and merging the shards (docs/parts.md, docs/cluster.md) ----
 *
 * A run's items are numbered 0..total-1 in the order sa_traj_record_datasets writes them (dataset by dataset,
 * item by item, limit applied). Item k belongs to shard sa_shard_owns(shard, "<set label>/<item name>")
 * (sa_sample_set_item_key; a folder without a label uses its dataset name; the item name is the file stem or
 * the referring sample id) and is recorded with seed rec.seed + k, exactly as in
 * the unsharded run. A shard writes one part-file record per item of its own, in item order:
 *   {"i": k, "data": [<the sample, exactly as the trajectory JSON holds it>]}
 *   {"i": k, "data": [], "skipped": "<why the item failed>"}
 * and the part's header (command "trajectories") holds {"info": <info without "date">, "run": {the
 * parameters, limit, caption, the key rule}}: every option that decides the samples, so parts of different
 * runs never merge or resume. */

typedef struct sa_traj_shard_params {
    sa_shard shard;   /* which items (sa_shard_whole() for all of them) */
    const char *part; /* the part file (normally sa_shard_part_path(out, shard)); required */
    int resume; /* 1: keep the records of an existing part and run only the items after them */
    const char *info_json; /* the run's info object (sa_traj_info_json); its "date" is not stored */
    int reserved[4];
} sa_traj_shard_params;

/* Records the items of one shard into its part file. Resuming checks that the part's header is this run's and
 * that its records are this shard's items in order, drops a torn last record, and runs the items after the
 * last complete record (the ones that were in flight when the shard was killed, and those never started). The
 * end record is written when every item of the shard is in the part; stopped early (should_stop), the part is
 * left without it and can be resumed. stats count this shard: total = its items, resumed = records kept.
 * Errors: as sa_traj_record_datasets, and sa_part_open's (SA_ERR_STATE: the part belongs to another run or
 * shard, or holds items that are not this shard's; SA_ERR_FORMAT: a damaged part; SA_ERR_IO). */
int sa_traj_record_shard(sa_tool *tool, const sa_sample_set *datasets, int n_datasets,
                         sa_traj_run_params p, sa_traj_shard_params sp,
                         const sa_traj_run_hooks *hooks, sa_traj_run_stats *stats, sa_error *err);

/* Merges the part files of every shard of one trajectory run (any order) into out: the trajectory JSON an
 * unsharded run of the same command writes, with the same samples in the same order; only info.date differs
 * (the time of the merge). Every check of sa_parts_merge applies (a missing, duplicate or incomplete shard, an
 * item twice or in no part: SA_ERR_STATE naming the shard's file), and every sample is read back with the
 * trajectory reader's checks (SA_ERR_FORMAT naming the item and the key). out is written under a temporary name
 * and appears only when the whole merge succeeded. A run whose items were all skipped gives a file with an
 * empty "data" list. */
int sa_traj_merge(const char *const *parts, int n_parts, const char *out, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
