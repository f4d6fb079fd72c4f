/* The trajectory recorder: one agent-loop episode with the recorder's stopping rules (strict IoU rise, target,
 * click budget), turned into a released-format sample; and the same over datasets on the dataset runner.
 *
 * Design: the recorder owns no loop of its own. The starting states are built through the engine
 * (sa_env_predict_prompts, then sa_env_restart with M_0 as the initial mask), the episode is sa_agent_run with
 * stop_iou and stop_without_gain, and the recorder keeps the committed steps up to the first that did not
 * raise IoU. Dataset runs deliver samples in item order, so the file is the same for any worker count.
 */
#include "segagent/record.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "segagent/agent.h"
#include "segagent/partfile.h"
#include "segagent/rle.h"
#include "segagent/runner.h"
#include "base/text.h"
#include "base/util.h"
#include "data/trajectory_json.h"
#include "workloads/episode_worker.h"

sa_traj_params sa_traj_default_params(void) {
    sa_traj_params p;
    memset(&p, 0, sizeof p);
    p.target_iou = 0.98;
    p.max_clicks = 20;
    p.start = SA_TRAJ_START_EMPTY;
    p.random_points = 5;
    p.seed = 0;
    return p;
}

static const char *const start_names[] = {"empty", "box", "random-clicks"};

int sa_traj_start_from_name(const char *name, sa_traj_start *out, sa_error *err) {
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, start_names[i])) {
            *out = (sa_traj_start)i;
            return SA_OK;
        }
    return sa_error_set(err, SA_ERR_INVALID,
                        "starting state '%s': expected empty, box or random-clicks",
                        name ? name : "(null)");
}

const char *sa_traj_start_name(sa_traj_start s) {
    return (unsigned)s < 3u ? start_names[s] : "?";
}

static int check_params(const sa_traj_params *p, sa_error *err) {
    if (!(p->target_iou > 0.0) || p->target_iou > 1.0)
        return sa_error_set(err, SA_ERR_INVALID, "trajectory: target IoU %g outside (0, 1]",
                            p->target_iou);
    if (p->max_clicks < 1 || p->max_clicks > SA_MAX_CLICKS)
        return sa_error_set(err, SA_ERR_INVALID, "trajectory: max clicks %d outside 1..%d",
                            p->max_clicks, SA_MAX_CLICKS);
    if ((unsigned)p->start > 2u)
        return sa_error_set(err, SA_ERR_INVALID, "trajectory: unknown starting state");
    if (p->start == SA_TRAJ_START_RANDOM_CLICKS &&
        (p->random_points < 1 || p->random_points > SA_MAX_CLICKS))
        return sa_error_set(err, SA_ERR_INVALID, "trajectory: random points %d outside 1..%d",
                            p->random_points, SA_MAX_CLICKS);
    return SA_OK;
}

/* Mask -> compressed RLE string, bbox and area (pycocotools' encode / toBbox / area). */
static int encode_mask(const sa_mask *m, char **rle_str, double bbox[4], uint64_t *area,
                       sa_error *err) {
    sa_rle r = {0};
    int rc = sa_rle_encode(m, &r, err);
    if (rc != SA_OK) return rc;
    rc = sa_rle_to_string(&r, rle_str, err);
    if (rc == SA_OK) {
        if (bbox) sa_rle_bbox(&r, bbox);
        if (area) *area = sa_rle_area(&r);
    }
    sa_rle_free(&r);
    return rc;
}

static int ignored(const sa_mask *ignore, size_t i) {
    return ignore && ignore->data[i];
}

/* M_0 for the box start: the tool's mask for the gt box, or the filled box when the tool takes no boxes. */
static int box_start(sa_env *env, const sa_mask *gt, const int bb[4], sa_mask *m0, sa_error *err) {
    if (!sa_tool_accepts_box(sa_env_tool(env))) {
        int rc = sa_mask_new(m0, gt->width, gt->height, err);
        if (rc != SA_OK) return rc;
        for (int y = bb[1]; y < bb[1] + bb[3]; y++)
            memset(m0->data + (size_t)y * (size_t)gt->width + (size_t)bb[0], 1, (size_t)bb[2]);
        return SA_OK;
    }
    sa_box box = {(float)bb[0], (float)bb[1], (float)(bb[0] + bb[2] - 1),
                  (float)(bb[1] + bb[3] - 1)};
    return sa_env_predict_prompts(env, NULL, 0, &box, m0, err);
}

/* M_0 for the random-clicks start: the tool's mask for seeded points inside the gt box. */
static int random_start(sa_env *env, const sa_mask *gt, const int bb[4], const sa_traj_params *p,
                        sa_mask *m0, sa_error *err) {
    const sa_mask *ignore = sa_env_ignore(env);
    const int W = gt->width;
    int n = p->random_points;
    sa_click *clicks = malloc((size_t)n * sizeof *clicks);
    if (!clicks) return sa_error_set(err, SA_ERR_NOMEM, "trajectory: out of memory");
    uint64_t st = p->seed;
    for (int i = 0; i < n; i++) {
        int y = 0, x = 0;
        /* redraw ignored pixels; give up after a bound (a box fully inside the ignore band is absurd) */
        for (int tries = 0; tries < 1000; tries++) {
            y = bb[1] + sa__rng_below(&st, bb[3]);
            x = bb[0] + sa__rng_below(&st, bb[2]);
            if (!ignored(ignore, (size_t)y * (size_t)W + (size_t)x)) break;
        }
        clicks[i].y = y;
        clicks[i].x = x;
        clicks[i].positive = gt->data[(size_t)y * (size_t)W + (size_t)x] ? 1 : 0;
    }
    int rc = sa_env_predict_prompts(env, clicks, n, NULL, m0, err);
    free(clicks);
    return rc;
}

/* Restarts env in the starting state and notes it on the sample. */
static int start_episode(sa_env *env, const sa_traj_params *p, sa_traj_sample *out, sa_error *err) {
    if (p->start == SA_TRAJ_START_EMPTY) return sa_env_restart(env, NULL, err);
    const sa_mask *gt = sa_env_gt(env);
    int bb[4];
    sa_mask_bbox(gt, bb);
    sa_mask m0 = {0};
    int rc = sa_env_restart(env, NULL, err); /* the start is made from nothing */
    if (rc == SA_OK)
        rc = p->start == SA_TRAJ_START_BOX ? box_start(env, gt, bb, &m0, err)
                                           : random_start(env, gt, bb, p, &m0, err);
    if (rc == SA_OK) rc = sa_env_restart(env, &m0, err);
    if (rc == SA_OK) rc = encode_mask(&m0, &out->init_mask, NULL, NULL, err);
    if (rc == SA_OK && !(out->init_kind = sa__strdup(sa_traj_start_name(p->start))))
        rc = sa_error_set(err, SA_ERR_NOMEM, "trajectory: out of memory");
    sa_mask_free(&m0);
    return rc;
}

/* The recorded part of an episode: committed clicks up to the first that did not raise IoU. */
static int take_steps(const sa_agent_result *r, sa_traj_sample *out, sa_error *err) {
    int n = 0;
    for (int i = 0; i < r->n_steps; i++)
        n += r->steps[i].committed;
    out->steps = n ? calloc((size_t)n, sizeof *out->steps) : NULL;
    if (n && !out->steps) return sa_error_set(err, SA_ERR_NOMEM, "trajectory: out of memory");
    for (int i = 0; i < r->n_steps; i++) {
        const sa_agent_step *s = &r->steps[i];
        if (!s->committed) continue;
        if (!(s->iou_after > s->iou_before))
            break; /* the released rule: this click ends the trajectory */
        sa_traj_step *st = &out->steps[out->n_steps];
        int rc = encode_mask(&s->mask, &st->mask, st->box, &st->area, err);
        if (rc != SA_OK) return rc;
        st->idx = out->n_steps;
        st->click = s->action.click;
        st->iou = s->iou_after;
        out->n_steps++;
    }
    return SA_OK;
}

int sa_traj_record(sa_env *env, sa_policy *policy, sa_traj_params p, sa_traj_sample *out,
                   sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "trajectory: NULL output");
    memset(out, 0, sizeof *out);
    if (!env || !policy || !sa_env_image(env))
        return sa_error_set(err, SA_ERR_INVALID,
                            "trajectory: needs a reset environment and a policy");
    const sa_mask *gt = sa_env_gt(env);
    if (!gt)
        return sa_error_set(err, SA_ERR_FORMAT, "trajectory: the environment has no ground truth");
    int rc = check_params(&p, err);
    if (rc != SA_OK) return rc;
    if (sa_mask_area(gt) == 0)
        return sa_error_set(err, SA_ERR_FORMAT, "trajectory: ground truth is empty");

    out->height = gt->height;
    out->width = gt->width;
    if ((rc = encode_mask(gt, &out->gt, out->gt_bbox, &out->gt_area, err))) goto fail;
    if ((rc = start_episode(env, &p, out, err))) goto fail;
    out->init_iou = sa_env_iou(env);
    if (out->init_iou >= p.target_iou) return SA_OK; /* nothing to record */

    sa_agent_params ap = sa_agent_default_params();
    ap.steps = p.max_clicks;
    ap.best_of = 0;
    ap.stop_iou = p.target_iou;
    ap.stop_without_gain = 1;
    sa_agent_result r;
    rc = sa_agent_run(env, policy, ap, &r, err);
    if (rc == SA_OK) rc = take_steps(&r, out, err);
    sa_agent_result_free(&r);
    if (rc == SA_OK) return SA_OK;
fail:
    sa_traj_sample_free(out);
    return rc;
}

char *sa_traj_info_json(sa_traj_params p, float prob_threshold, const char *tool_name,
                        const char *version, const char *const *datasets, int n_datasets,
                        sa_error *err) {
    cJSON *o = cJSON_CreateObject();
    char date[32] = "";
    time_t now = time(NULL);
    struct tm tmv;
    if (gmtime_r(&now, &tmv)) strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    int rp = p.start == SA_TRAJ_START_RANDOM_CLICKS ? p.random_points : 0;
    int ok =
        o && cJSON_AddStringToObject(o, "generator", "segagent") &&
        cJSON_AddStringToObject(o, "version", version ? version : "") &&
        cJSON_AddStringToObject(o, "date", date) &&
        cJSON_AddStringToObject(o, "tool", tool_name ? tool_name : "") &&
        cJSON_AddNumberToObject(o, "target_iou", p.target_iou) &&
        cJSON_AddNumberToObject(o, "max_clicks", p.max_clicks) &&
        cJSON_AddStringToObject(o, "start", sa_traj_start_name(p.start)) &&
        cJSON_AddNumberToObject(o, "random_points", rp) &&
        cJSON_AddNumberToObject(o, "seed", (double)p.seed) &&
        cJSON_AddNumberToObject(o, "prob_threshold", round((double)prob_threshold * 1e6) / 1e6) &&
        cJSON_AddStringToObject(
            o, "click_rule",
            "keep a click only if IoU strictly rises; stop at the first that does not");
    cJSON *ds = ok ? cJSON_AddArrayToObject(o, "datasets") : NULL;
    ok = ds != NULL;
    for (int i = 0; ok && i < n_datasets; i++)
        ok = cJSON_AddItemToArray(ds, cJSON_CreateString(datasets[i]));
    char *txt = ok ? sa__json_print(o, 0) : NULL;
    cJSON_Delete(o);
    if (!txt) sa_error_set(err, SA_ERR_NOMEM, "trajectory info: out of memory");
    return txt;
}

/* ---- over datasets ---- */

sa_traj_run_params sa_traj_run_default_params(void) {
    sa_traj_run_params p;
    memset(&p, 0, sizeof p);
    p.rec = sa_traj_default_params();
    p.prob_threshold = SA_TRAJ_PROB_THRESHOLD;
    p.workers = 1;
    return p;
}

typedef struct run_ctx {
    sa_tool *tool;
    const sa_sample_set *sets;
    int n_ds;
    const int *first; /* first[d]: run index of dataset d's first item; first[n_ds] = total */
    const int *items; /* runner item -> run item number (a shard's items); NULL: the same number */
    sa_traj_run_params p;
    sa_traj_writer *w; /* the sink: the trajectory file, or */
    sa_part *part;     /* one shard's part file */
    const sa_traj_run_hooks *hooks;
    sa_traj_run_stats *st;
    int write_rc;
    sa_error write_err;
} run_ctx;

static void locate(const run_ctx *c, int k, int *d, int *i) {
    int j = 0;
    while (j + 1 < c->n_ds && k >= c->first[j + 1])
        j++;
    *d = j;
    *i = k - c->first[j];
}

static int run_index(const run_ctx *c, int item) {
    return c->items ? c->items[item] : item;
}

static int worker_new(void *vctx, int index, void **state, sa_error *err) {
    (void)index;
    const run_ctx *c = vctx;
    sa_env_params ep = sa_env_default_params();
    ep.prob_threshold = c->p.prob_threshold;
    return sa__episode_worker_new(c->tool, ep, NULL, NULL, (sa__episode_worker **)state, err);
}

static void worker_free(void *vctx, void *state) {
    (void)vctx;
    sa__episode_worker_free(state);
}

static const char *base_name(const char *p) {
    const char *s = p ? strrchr(p, '/') : NULL;
    return s ? s + 1 : p ? p : "";
}

static int run_item(void *vctx, void *state, int item, void *slot, sa_error *err) {
    const run_ctx *c = vctx;
    sa__episode_worker *w = state;
    sa_traj_sample *smp = slot;
    int k = run_index(c, item), d, i;
    locate(c, k, &d, &i);
    sa_traj_params p = c->p.rec;
    p.seed = c->p.rec.seed + (uint64_t)k;
    sa_sample in;
    int rc = sa_sample_set_load(&c->sets[d], i, c->p.caption, &in, err);
    if (rc == SA_OK)
        rc = sa_env_reset(w->env, &in.img, "", &in.gt, in.ignore.data ? &in.ignore : NULL, NULL,
                          err);
    if (rc == SA_OK) rc = sa_traj_record(w->env, w->policy, p, smp, err);
    if (rc == SA_OK) {
        const char *caps[1] = {in.desc};
        rc = sa_traj_sample_set_meta(smp, base_name(in.image_path), in.object_id, caps,
                                     in.desc ? 1 : 0, err);
    }
    if (rc != SA_OK) sa_traj_sample_free(smp);
    sa_sample_free(&in);
    return rc;
}

/* The part record of item k: {"i", "data": [sample]} or {"i", "data": [], "skipped": why}. */
static int append_record(run_ctx *c, int k, int status, const char *error,
                         const sa_traj_sample *smp) {
    cJSON *rec = cJSON_CreateObject();
    cJSON *data =
        rec && cJSON_AddNumberToObject(rec, "i", k) ? cJSON_AddArrayToObject(rec, "data") : NULL;
    int ok = data != NULL;
    if (ok && status == SA_OK) {
        cJSON *o = sa__traj_sample_json(smp);
        ok = o && cJSON_AddItemToArray(data, o);
        if (!ok) cJSON_Delete(o);
    } else if (ok) {
        ok = cJSON_AddStringToObject(rec, "skipped", error ? error : "") != NULL;
    }
    int rc = ok ? sa_part_append(c->part, rec, &c->write_err)
                : sa_error_set(&c->write_err, SA_ERR_NOMEM, "trajectories: out of memory");
    cJSON_Delete(rec);
    return rc;
}

static void count_sample(sa_traj_run_stats *st, int clicks, double final_iou) {
    st->samples++;
    st->clicks += clicks;
    if (clicks == 0) st->empty++;
    st->iou_sum += final_iou;
}

static int deliver(void *vctx, int item, int status, const char *error, void *slot) {
    run_ctx *c = vctx;
    sa_traj_sample *smp = slot;
    int k = run_index(c, item), d, i;
    locate(c, k, &d, &i);
    c->st->done++;
    if (status != SA_OK) c->st->skipped++;
    if (c->write_rc == SA_OK && c->part)
        c->write_rc = append_record(c, k, status, error, smp);
    else if (c->write_rc == SA_OK && status == SA_OK)
        c->write_rc = sa_traj_writer_add(c->w, smp, &c->write_err);
    if (c->write_rc == SA_OK && status == SA_OK)
        count_sample(c->st, smp->n_steps, sa_traj_state_iou(smp, smp->n_steps));
    sa_traj_sample_free(smp);
    if (c->hooks && c->hooks->on_item)
        c->hooks->on_item(c->hooks->user, &c->sets[d], i, status, error);
    return c->write_rc != SA_OK; /* a write error ends the run */
}

static int should_stop(void *vctx) {
    const run_ctx *c = vctx;
    return c->hooks && c->hooks->should_stop && c->hooks->should_stop(c->hooks->user);
}

/* Checks the parameters and numbers the run's items: *first (malloc'd, n_datasets + 1 entries) and *total. */
static int plan(sa_tool *tool, const sa_sample_set *datasets, int n_datasets,
                const sa_traj_run_params *p, int **first, int *total, sa_error *err) {
    *first = NULL;
    if (!tool || n_datasets < 0 || (n_datasets > 0 && !datasets))
        return sa_error_set(err, SA_ERR_INVALID, "trajectories: bad arguments");
    int rc = check_params(&p->rec, err);
    if (rc != SA_OK) return rc;
    if (p->limit < 0)
        return sa_error_set(err, SA_ERR_RANGE, "trajectories: limit %d is negative", p->limit);
    int *f = calloc((size_t)n_datasets + 1, sizeof *f);
    if (!f) return sa_error_set(err, SA_ERR_NOMEM, "trajectories: out of memory");
    long n = 0;
    for (int d = 0; d < n_datasets; d++) {
        f[d] = (int)n;
        if (!datasets[d].dataset == !datasets[d].refer) {
            free(f);
            return sa_error_set(err, SA_ERR_INVALID, "trajectories: set %d has no (or two) sources",
                                d);
        }
        int cnt = sa_sample_set_count(&datasets[d]);
        n += (p->limit > 0 && cnt > p->limit) ? p->limit : cnt;
        if (n > 0x7fffffffL) {
            free(f);
            return sa_error_set(err, SA_ERR_RANGE, "trajectories: more than 2^31 items");
        }
    }
    f[n_datasets] = (int)n;
    *first = f;
    *total = (int)n;
    return SA_OK;
}

/* Runs n items of c (c->items, or 0..n-1) on the dataset runner; *stopped: ended before every item ran. */
static int run_items(run_ctx *c, int n, int *stopped, sa_error *err) {
    if (c->hooks && c->hooks->on_plan)
        c->hooks->on_plan(c->hooks->user, c->st->total, c->st->resumed);
    sa_runner_ops ops = {
        .slot_size = sizeof(sa_traj_sample),
        .worker_new = worker_new,
        .worker_free = worker_free,
        .run_item = run_item,
        .deliver = deliver,
        .should_stop = should_stop,
    };
    sa_runner_params rp = sa_runner_default_params();
    rp.workers = c->p.workers;
    sa_runner_stats rs;
    *stopped = 0;
    int rc = sa_runner_run(&ops, c, n, rp, &rs, err);
    if (rc != SA_OK) return rc;
    if (c->write_rc != SA_OK) {
        if (err) *err = c->write_err;
        return c->write_rc;
    }
    *stopped = rs.stopped;
    return SA_OK;
}

int sa_traj_record_datasets(sa_tool *tool, const sa_sample_set *datasets, int n_datasets,
                            sa_traj_run_params p, sa_traj_writer *w, const sa_traj_run_hooks *hooks,
                            sa_traj_run_stats *stats, sa_error *err) {
    sa_traj_run_stats local;
    sa_traj_run_stats *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    if (!w) return sa_error_set(err, SA_ERR_INVALID, "trajectories: bad arguments");
    int *first = NULL, total = 0;
    int rc = plan(tool, datasets, n_datasets, &p, &first, &total, err);
    if (rc != SA_OK) return rc;
    st->total = total;
    run_ctx c = {.tool = tool,
                 .sets = datasets,
                 .n_ds = n_datasets,
                 .first = first,
                 .p = p,
                 .w = w,
                 .hooks = hooks,
                 .st = st};
    rc = run_items(&c, total, &st->stopped, err);
    free(first);
    return rc;
}

/* ---- one shard ---- */

/* The shard rule's key of run item k: "<set label>/<item name>" (a folder without a label: its dataset name).
 * malloc'd, NULL when out of memory. */
static char *item_key(const run_ctx *c, int k) {
    int d, i;
    locate(c, k, &d, &i);
    const sa_sample_set *set = &c->sets[d];
    if (set->label || !set->dataset) return sa_sample_set_item_key(set, i);
    sa_sample_set named = *set;
    named.label = sa_dataset_name(set->dataset);
    return sa_sample_set_item_key(&named, i);
}

/* The run items of shard sh, in order: *items (malloc'd) and *n. */
static int shard_items(const run_ctx *c, int total, sa_shard sh, int **items, int *n,
                       sa_error *err) {
    *items = malloc(((size_t)total + 1) * sizeof **items);
    *n = 0;
    if (!*items) return sa_error_set(err, SA_ERR_NOMEM, "trajectories: out of memory");
    for (int k = 0; k < total; k++) {
        char *key = item_key(c, k);
        if (!key) return sa_error_set(err, SA_ERR_NOMEM, "trajectories: out of memory");
        if (sa_shard_owns(sh, key)) (*items)[(*n)++] = k;
        free(key);
    }
    return SA_OK;
}

/* The part header's config: the options that decide the samples (info without its date, and the run's
 * parameters). */
static cJSON *part_config(const sa_traj_run_params *p, const char *info_json, sa_error *err) {
    cJSON *cfg = cJSON_CreateObject();
    cJSON *info = info_json ? cJSON_Parse(info_json) : cJSON_CreateObject();
    if (!cfg || !cJSON_IsObject(info)) {
        cJSON_Delete(cfg);
        cJSON_Delete(info);
        sa_error_set(err, info_json ? SA_ERR_INVALID : SA_ERR_NOMEM,
                     "trajectories: the run's info is not a JSON object");
        return NULL;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(info, "date"); /* shards start at different times */
    int ok = cJSON_AddItemToObject(cfg, "info", info);
    if (!ok) cJSON_Delete(info);
    /* the parameters themselves too, so that a stale info cannot hide a change */
    const sa_traj_params *r = &p->rec;
    cJSON *run = ok ? cJSON_AddObjectToObject(cfg, "run") : NULL;
    ok = run && cJSON_AddNumberToObject(run, "target_iou", r->target_iou) &&
         cJSON_AddNumberToObject(run, "max_clicks", r->max_clicks) &&
         cJSON_AddStringToObject(run, "start", sa_traj_start_name(r->start)) &&
         cJSON_AddNumberToObject(run, "random_points", r->random_points) &&
         cJSON_AddNumberToObject(run, "seed", (double)r->seed) &&
         cJSON_AddNumberToObject(run, "prob_threshold", (double)p->prob_threshold) &&
         cJSON_AddNumberToObject(run, "limit", p->limit) &&
         (p->caption ? cJSON_AddStringToObject(run, "caption", p->caption)
                     : cJSON_AddNullToObject(run, "caption")) &&
         cJSON_AddStringToObject(run, "key", "dataset/item");
    if (!ok) {
        cJSON_Delete(cfg);
        sa_error_set(err, SA_ERR_NOMEM, "trajectories: out of memory");
        return NULL;
    }
    return cfg;
}

typedef struct resume_ctx {
    const int *items; /* the shard's items */
    int n_items;
    int kept; /* records seen so far: they must be items[0..kept-1] */
    const char *path;
    sa_traj_run_stats *st;
} resume_ctx;

/* The final IoU of a sample object as written: its last click's iou, else init_iou, else 0. */
static double final_iou(const cJSON *smp) {
    const cJSON *clicks = cJSON_GetObjectItemCaseSensitive(smp, "clicks_list");
    const cJSON *last = cJSON_GetArrayItem(clicks, cJSON_GetArraySize(clicks) - 1);
    const cJSON *iou = last ? cJSON_GetObjectItemCaseSensitive(last, "iou")
                            : cJSON_GetObjectItemCaseSensitive(smp, "init_iou");
    return cJSON_IsNumber(iou) ? iou->valuedouble : 0.0;
}

/* A record found in the part when resuming: it must be the shard's next item; counted in the stats. */
static int on_resumed(void *user, const cJSON *rec, sa_error *err) {
    resume_ctx *r = user;
    const cJSON *i = cJSON_GetObjectItemCaseSensitive(rec, "i");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(rec, "data");
    int want = r->kept < r->n_items ? r->items[r->kept] : -1;
    if (!cJSON_IsArray(data))
        return sa_error_set(err, SA_ERR_FORMAT, "%s: record of item %d has no \"data\" list",
                            r->path, (int)i->valuedouble);
    if ((int)i->valuedouble != want)
        return sa_error_set(
            err, SA_ERR_STATE,
            "%s: holds item %d where this shard's next item is %d (the datasets "
            "changed since the part was written?); remove it to start the shard again",
            r->path, (int)i->valuedouble, want);
    r->kept++;
    r->st->resumed++;
    r->st->done++;
    if (cJSON_GetObjectItemCaseSensitive(rec, "skipped")) r->st->skipped++;
    const cJSON *smp;
    cJSON_ArrayForEach(smp, data) {
        count_sample(r->st,
                     cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(smp, "clicks_list")),
                     final_iou(smp));
    }
    return SA_OK;
}

/* Opens (or resumes) the part of c's shard; the items still to run are items[*kept..]. */
static int open_part(run_ctx *c, const sa_traj_shard_params *sp, int total, const int *items,
                     int n_items, int *kept, sa_error *err) {
    cJSON *cfg = part_config(&c->p, sp->info_json, err);
    if (!cfg) return err ? err->code : SA_ERR_NOMEM;
    sa_part_header h = {
        .command = "trajectories", .shard = sp->shard, .total = total, .config = cfg};
    resume_ctx r = {.items = items, .n_items = n_items, .path = sp->part, .st = c->st};
    int rc = sa_part_open(sp->part, h, sp->resume, on_resumed, &r, NULL, &c->part, err);
    cJSON_Delete(cfg);
    *kept = r.kept;
    return rc;
}

int sa_traj_record_shard(sa_tool *tool, const sa_sample_set *datasets, int n_datasets,
                         sa_traj_run_params p, sa_traj_shard_params sp,
                         const sa_traj_run_hooks *hooks, sa_traj_run_stats *stats, sa_error *err) {
    sa_traj_run_stats local;
    sa_traj_run_stats *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    if (!sp.part || sp.shard.count < 1 || sp.shard.index < 0 || sp.shard.index >= sp.shard.count)
        return sa_error_set(err, SA_ERR_INVALID, "trajectories: bad shard or no part file");
    int *first = NULL, total = 0, *items = NULL, n_items = 0, kept = 0;
    int rc = plan(tool, datasets, n_datasets, &p, &first, &total, err);
    run_ctx c = {.tool = tool,
                 .sets = datasets,
                 .n_ds = n_datasets,
                 .first = first,
                 .p = p,
                 .hooks = hooks,
                 .st = st};
    if (rc == SA_OK) rc = shard_items(&c, total, sp.shard, &items, &n_items, err);
    st->total = n_items;
    if (rc == SA_OK) rc = open_part(&c, &sp, total, items, n_items, &kept, err);
    if (rc == SA_OK) {
        c.items = items + kept;
        rc = run_items(&c, n_items - kept, &st->stopped, err);
        if (rc == SA_OK && !st->stopped) {
            rc = sa_part_finish(c.part, err); /* every item of the shard is in the part */
            c.part = NULL;
        }
    }
    sa_part_close(c.part); /* stopped or failed: resumable */
    free(items);
    free(first);
    return rc;
}
