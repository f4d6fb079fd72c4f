/* StaR+ (segagent/starplus.h, docs/starplus.md): one episode of the agent loop whose policy is a judge -- it
 * asks the served policy, tries the action with sa_env_preview, and hands back either that action (it raised
 * the IoU) or the simulated annotator's click -- and the same over datasets on the dataset runner, with part
 * files for resume and shards.
 *
 * Design: no loop of its own. The judge is an sa_policy wrapped around the served one, so the episode is
 * sa_agent_run with the recorder's stopping rules (target IoU, no gain); the judge logs every verdict, and the
 * written sample takes its clicks from the committed steps and their source from the log. A kept action is
 * applied twice (preview, then the loop's step); the tools are deterministic, so both give the same mask.
 * Every item of a run becomes one part-file record (the sample in the trajectory format plus its stats); the
 * output JSON and stats are always made from the records by the merge, so an unsharded run and a merge of
 * shards write the same bytes.
 */
#include "segagent/starplus.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/agent.h"
#include "segagent/partfile.h"
#include "segagent/rle.h"
#include "segagent/runner.h"
#include "base/files.h"
#include "base/text.h"
#include "base/util.h"
#include "workloads/episode_worker.h"
#include "segagent/sample_set.h"

#define COMMAND "starplus"

sa_starplus_params sa_starplus_default_params(void) {
    sa_starplus_params p;
    memset(&p, 0, sizeof p);
    p.target_iou = 0.98;
    p.max_clicks = 20;
    p.min_gain = 0.0;
    p.prob_threshold = 0.49f;
    p.workers = 1;
    p.caption = "the object";
    return p;
}

static int check_params(const sa_starplus_params *p, sa_error *err) {
    if (!(p->target_iou > 0.0) || p->target_iou > 1.0)
        return sa_error_set(err, SA_ERR_INVALID, "starplus: target IoU %g outside (0, 1]",
                            p->target_iou);
    if (p->max_clicks < 1 || p->max_clicks > SA_MAX_CLICKS)
        return sa_error_set(err, SA_ERR_INVALID, "starplus: max clicks %d outside 1..%d",
                            p->max_clicks, SA_MAX_CLICKS);
    if (!(p->min_gain >= 0.0 && p->min_gain < 1.0))
        return sa_error_set(err, SA_ERR_INVALID, "starplus: min gain %g outside [0, 1)",
                            p->min_gain);
    if (p->limit < 0)
        return sa_error_set(err, SA_ERR_RANGE, "starplus: limit %d is negative", p->limit);
    return SA_OK;
}

void sa_starplus_sample_stats_free(sa_starplus_sample_stats *st) {
    if (!st) return;
    for (int i = 0; i < st->policy_actions; i++)
        free(st->actions[i].reply);
    free(st->actions);
    memset(st, 0, sizeof *st);
}

/* ---- the judge: a policy around the served one ---- */

typedef struct judge {
    sa_env *env;
    sa_policy *inner, *expert; /* borrowed */
    double min_gain;
    sa_starplus_action *log;
    int n_log, cap;
} judge;

static sa_starplus_action *judge_push(judge *j) {
    if (j->n_log == j->cap) {
        int cap = j->cap ? 2 * j->cap : 16;
        sa_starplus_action *nl = realloc(j->log, (size_t)cap * sizeof *nl);
        if (!nl) return NULL;
        j->log = nl;
        j->cap = cap;
    }
    sa_starplus_action *a = &j->log[j->n_log++];
    memset(a, 0, sizeof *a);
    a->policy_iou = NAN;
    return a;
}

/* IoU the click gives from the current state, without committing it; NAN when it cannot be applied. */
static double try_click(judge *j, const sa_action *a, const sa_policy_obs *obs) {
    if (a->kind != SA_ACTION_CLICK) return NAN;
    sa_tool_result res;
    memset(&res, 0, sizeof res);
    double iou = NAN;
    if (sa_env_preview(j->env, a, &res, NULL) == SA_OK)
        iou = sa_mask_iou(&res.mask, obs->gt, obs->ignore);
    sa_tool_result_free(&res);
    return iou;
}

static int judge_act(void *self, const sa_policy_obs *obs, int k, sa_policy_decision *out,
                     int *n_out, sa_error *err) {
    (void)k;
    judge *j = self;
    sa_starplus_action *a = judge_push(j);
    if (!a) return sa_error_set(err, SA_ERR_NOMEM, "starplus: out of memory");
    a->iou_before = sa_env_iou(j->env);
    sa_policy_obs seen = *obs; /* the served policy never sees the ground truth */
    seen.gt = NULL;
    seen.ignore = NULL;
    sa_policy_decision d;
    int n = 0;
    int rc = sa_policy_act(j->inner, &seen, 1, &d, &n, err);
    if (rc != SA_OK) return rc; /* a policy error: the sample fails */
    if (n >= 1) {
        a->reply = d.text ? sa__strdup(d.text) : NULL;
        if (d.status == SA_OK) {
            a->policy_iou = try_click(j, &d.action, obs);
            a->usable = !isnan(a->policy_iou);
            if (a->usable) a->policy_click = d.action.click;
        }
        if (a->usable && a->policy_iou - a->iou_before > j->min_gain) {
            a->kept = 1;
            out[0] = d;
            *n_out = 1;
            return SA_OK;
        }
    }
    sa_policy_decisions_free(&d, n);
    return sa_policy_act(j->expert, obs, 1, out, n_out,
                         err); /* SA_ERR_DONE ends the episode ("done") */
}

static void judge_reset(void *self) {
    judge *j = self;
    sa_policy_reset(j->inner);
    sa_policy_reset(j->expert);
}

static const sa_policy_ops judge_ops = {
    .name = "starplus-judge",
    .needs_gt = 1,
    .act = judge_act,
    .reset = judge_reset,
};

/* ---- one sample ---- */

static int encode_mask(const sa_mask *m, char **rle_str, double bbox[4], uint64_t *area,
                       sa_error *err) {
    sa_rle r = {0};
    int rc = sa_rle_encode(m, &r, err);
    if (rc == SA_OK) rc = sa_rle_to_string(&r, rle_str, err);
    if (rc == SA_OK) {
        sa_rle_bbox(&r, bbox);
        *area = sa_rle_area(&r);
    }
    sa_rle_free(&r);
    return rc;
}

/* The written part of the episode: committed steps up to the first that did not raise the IoU, each with
 * its source from the judge's log. */
static int take_steps(const sa_agent_result *r, const judge *j, sa_traj_sample *out,
                      int *expert_clicks, sa_error *err) {
    out->steps = r->n_steps ? calloc((size_t)r->n_steps, sizeof *out->steps) : NULL;
    if (r->n_steps && !out->steps)
        return sa_error_set(err, SA_ERR_NOMEM, "starplus: out of memory");
    for (int i = 0; i < r->n_steps; i++) {
        const sa_agent_step *s = &r->steps[i];
        if (!s->committed) continue;
        if (!(s->iou_after > s->iou_before))
            break; /* an expert click that did not help: not written */
        if (s->index < 1 || s->index > j->n_log)
            return sa_error_set(err, SA_ERR_STATE, "starplus: step %d has no verdict", s->index);
        sa_traj_step *st = &out->steps[out->n_steps];
        int rc = encode_mask(&s->mask, &st->mask, st->box, &st->area, err);
        if (rc != SA_OK) return rc;
        st->idx = out->n_steps;
        st->click = s->action.click;
        st->iou = s->iou_after;
        int kept = j->log[s->index - 1].kept;
        strcpy(st->source, kept ? "policy" : "expert");
        *expert_clicks += !kept;
        out->n_steps++;
    }
    return SA_OK;
}

static void fill_stats(judge *j, const sa_agent_result *r, const sa_traj_sample *smp,
                       int expert_clicks, sa_starplus_sample_stats *st) {
    memset(st, 0, sizeof *st);
    st->policy_actions = j->n_log;
    st->actions = j->log;
    j->log = NULL;
    j->n_log = j->cap = 0;
    for (int i = 0; i < st->policy_actions; i++)
        st->actions[i].iou_after = NAN;
    for (int i = 0; i < r->n_steps; i++)
        if (r->steps[i].committed && r->steps[i].index >= 1 &&
            r->steps[i].index <= st->policy_actions)
            st->actions[r->steps[i].index - 1].iou_after = r->steps[i].iou_after;
    for (int i = 0; i < st->policy_actions; i++) {
        const sa_starplus_action *a = &st->actions[i];
        double gain = a->policy_iou - a->iou_before;
        if (a->kept) {
            st->kept++;
            st->kept_gain += gain;
        } else {
            st->replaced++;
            if (!a->usable)
                st->unusable++;
            else {
                st->rejected_usable++;
                st->rejected_gain += gain;
            }
        }
    }
    st->clicks = smp->n_steps;
    st->expert_clicks = expert_clicks;
    st->iou_start = smp->init_iou;
    st->iou_final = sa_traj_state_iou(smp, smp->n_steps);
    snprintf(st->stop, sizeof st->stop, "%s", r->stop);
}

static void judge_free_log(judge *j) {
    for (int i = 0; i < j->n_log; i++)
        free(j->log[i].reply);
    free(j->log);
    j->log = NULL;
    j->n_log = j->cap = 0;
}

static int run_episode(sa_env *env, sa_policy *jp, judge *j, const sa_starplus_params *p,
                       sa_traj_sample *out, sa_starplus_sample_stats *st, sa_error *err) {
    const sa_mask *gt = sa_env_gt(env);
    out->height = gt->height;
    out->width = gt->width;
    int rc = encode_mask(gt, &out->gt, out->gt_bbox, &out->gt_area, err);
    if (rc == SA_OK) rc = sa_env_restart(env, NULL, err);
    if (rc != SA_OK) return rc;
    out->init_iou = sa_env_iou(env);
    sa_agent_params ap = sa_agent_default_params();
    ap.steps = p->max_clicks;
    ap.best_of = 0;
    ap.stop_iou = p->target_iou;
    ap.stop_without_gain = 1;
    sa_agent_result r;
    memset(&r, 0, sizeof r);
    int expert_clicks = 0;
    if (out->init_iou >= p->target_iou) { /* nothing to do */
        snprintf(r.stop, sizeof r.stop, "target");
    } else {
        rc = sa_agent_run(env, jp, ap, &r, err);
        if (rc == SA_OK) rc = take_steps(&r, j, out, &expert_clicks, err);
    }
    sa_starplus_sample_stats local;
    if (rc == SA_OK) fill_stats(j, &r, out, expert_clicks, st ? st : &local);
    if (rc == SA_OK && !st) sa_starplus_sample_stats_free(&local);
    sa_agent_result_free(&r);
    return rc;
}

int sa_starplus_episode(sa_env *env, sa_policy *policy, sa_policy *expert, sa_starplus_params p,
                        sa_traj_sample *out, sa_starplus_sample_stats *st, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "starplus: NULL output");
    memset(out, 0, sizeof *out);
    if (st) memset(st, 0, sizeof *st);
    if (!env || !policy || !sa_env_image(env))
        return sa_error_set(err, SA_ERR_INVALID,
                            "starplus: needs a reset environment and a policy");
    int rc = check_params(&p, err);
    if (rc != SA_OK) return rc;
    const sa_mask *gt = sa_env_gt(env);
    if (!gt || sa_mask_area(gt) == 0)
        return sa_error_set(err, SA_ERR_FORMAT, "starplus: no ground truth, or an empty one");
    sa_policy *own_expert = NULL;
    if (!expert && (rc = sa_clicker_policy_new(&own_expert, err))) return rc;
    judge j = {.env = env,
               .inner = policy,
               .expert = expert ? expert : own_expert,
               .min_gain = p.min_gain};
    sa_policy *jp = NULL;
    rc = sa_policy_new(&judge_ops, &j, &jp, err);
    if (rc == SA_OK) rc = run_episode(env, jp, &j, &p, out, st, err);
    judge_free_log(&j);
    sa_policy_free(jp);
    sa_policy_free(own_expert);
    if (rc != SA_OK) {
        sa_traj_sample_free(out);
        if (st) sa_starplus_sample_stats_free(st);
    }
    return rc;
}

/* ---- records (one per item of a run) ---- */

static cJSON *json_num(double v) {
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static cJSON *click_json(sa_click c) {
    int v[3] = {c.y, c.x, c.positive ? 1 : 0};
    return cJSON_CreateIntArray(v, 3);
}

static cJSON *actions_json(const sa_starplus_sample_stats *st) {
    cJSON *list = cJSON_CreateArray();
    for (int i = 0; list && i < st->policy_actions; i++) {
        const sa_starplus_action *a = &st->actions[i];
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(list, o)) {
            cJSON_Delete(o);
            cJSON_Delete(list);
            return NULL;
        }
        cJSON_AddStringToObject(o, "verdict",
                                a->kept     ? "kept"
                                : a->usable ? "replaced"
                                            : "unusable");
        cJSON_AddItemToObject(o, "reply",
                              a->reply ? cJSON_CreateString(a->reply) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "click",
                              a->usable ? click_json(a->policy_click) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "iou_before", json_num(a->iou_before));
        cJSON_AddItemToObject(o, "policy_iou", json_num(a->policy_iou));
        cJSON_AddItemToObject(o, "iou_after", json_num(a->iou_after));
    }
    return list;
}

static cJSON *stats_json(const sa_starplus_sample_stats *st) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "policy_actions", st->policy_actions);
    cJSON_AddNumberToObject(o, "kept", st->kept);
    cJSON_AddNumberToObject(o, "replaced", st->replaced);
    cJSON_AddNumberToObject(o, "unusable", st->unusable);
    cJSON_AddNumberToObject(o, "clicks", st->clicks);
    cJSON_AddNumberToObject(o, "expert_clicks", st->expert_clicks);
    cJSON_AddItemToObject(o, "iou_start", json_num(st->iou_start));
    cJSON_AddItemToObject(o, "iou_final", json_num(st->iou_final));
    cJSON_AddItemToObject(o, "kept_gain", json_num(st->kept_gain));
    cJSON_AddItemToObject(o, "rejected_gain", json_num(st->rejected_gain));
    cJSON_AddNumberToObject(o, "rejected_usable", st->rejected_usable);
    cJSON_AddStringToObject(o, "stop", st->stop);
    cJSON *acts = actions_json(st);
    if (!acts || !cJSON_AddItemToObject(o, "actions", acts)) {
        cJSON_Delete(acts);
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* {"i", "key", "sample": <trajectory sample>, "stats": {...}} or {"i", "key", "error"}. */
static cJSON *item_record(int i, const char *key, const sa_traj_sample *smp,
                          const sa_starplus_sample_stats *st, const char *error, sa_error *err) {
    cJSON *rec = cJSON_CreateObject();
    int ok =
        rec && cJSON_AddNumberToObject(rec, "i", i) && cJSON_AddStringToObject(rec, "key", key);
    if (ok && error) {
        ok = cJSON_AddStringToObject(rec, "error", error) != NULL;
    } else if (ok) {
        char *txt = sa_traj_sample_json(smp, err);
        cJSON *sj = txt ? cJSON_Parse(txt) : NULL;
        free(txt);
        ok = sj && cJSON_AddItemToObject(rec, "sample", sj);
        if (!ok) cJSON_Delete(sj);
        cJSON *sts = ok ? stats_json(st) : NULL;
        ok = sts && cJSON_AddItemToObject(rec, "stats", sts);
        if (!ok) cJSON_Delete(sts);
    }
    if (!ok) {
        cJSON_Delete(rec);
        sa_error_set(err, SA_ERR_NOMEM, "starplus: out of memory");
        return NULL;
    }
    return rec;
}

static double field(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0.0;
}

static void add_totals(sa_starplus_totals *t, const cJSON *rec) {
    t->done++;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(rec, "stats");
    if (!cJSON_IsObject(st)) {
        t->failed++;
        return;
    }
    t->samples++;
    t->policy_actions += (long)field(st, "policy_actions");
    t->kept += (long)field(st, "kept");
    t->replaced += (long)field(st, "replaced");
    t->unusable += (long)field(st, "unusable");
    t->clicks += (long)field(st, "clicks");
    t->expert_clicks += (long)field(st, "expert_clicks");
    t->rejected_usable += (long)field(st, "rejected_usable");
    t->iou_start_sum += field(st, "iou_start");
    t->iou_final_sum += field(st, "iou_final");
    t->kept_gain_sum += field(st, "kept_gain");
    t->rejected_gain_sum += field(st, "rejected_gain");
}

/* ---- merge: part records -> trajectories JSON + stats JSON ---- */

char *sa_starplus_stats_path(const char *out) {
    if (!out) return NULL;
    const char *slash = strrchr(out, '/');
    const char *dot = strrchr(slash ? slash + 1 : out, '.');
    size_t stem = dot && dot != (slash ? slash + 1 : out) ? (size_t)(dot - out) : strlen(out);
    char *p = malloc(stem + sizeof ".stats.json");
    if (!p) return NULL;
    memcpy(p, out, stem);
    memcpy(p + stem, ".stats.json", sizeof ".stats.json");
    return p;
}

typedef struct merge_ctx {
    const char *out;
    sa_traj_writer *w;
    cJSON *stats, *samples;
    sa_starplus_totals tot;
} merge_ctx;

static const char rule_text[] =
    "a policy click is kept iff it raises the IoU by more than min_gain; otherwise the simulated annotator's "
    "click at that state replaces it; an expert click that does not raise the IoU ends the trajectory";

static int merge_header(void *user, const cJSON *header, sa_error *err) {
    merge_ctx *m = user;
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(header, "config");
    m->tot.items = (long)field(header, "total");
    cJSON *info = cJSON_CreateObject();
    int ok = info && cJSON_AddStringToObject(info, "generator", "segagent") &&
             cJSON_AddStringToObject(info, "method", "StaR+") &&
             cJSON_AddStringToObject(info, "rule", rule_text);
    cJSON *c = ok ? cJSON_Duplicate(cfg, 1) : NULL;
    ok = c && cJSON_AddItemToObject(info, "config", c);
    if (!ok) cJSON_Delete(c);
    char *txt = ok ? sa__json_print(info, 0) : NULL;
    int rc = txt ? sa_traj_writer_open(m->out, txt, &m->w, err)
                 : sa_error_set(err, SA_ERR_NOMEM, "starplus merge: out of memory");
    free(txt);
    if (rc == SA_OK) {
        cJSON *c2 = cJSON_Duplicate(cfg, 1);
        if (!c2 || !cJSON_AddItemToObject(m->stats, "config", c2)) {
            cJSON_Delete(c2);
            rc = sa_error_set(err, SA_ERR_NOMEM, "starplus merge: out of memory");
        }
    }
    cJSON_Delete(info);
    return rc;
}

/* The sample of a record, read back with the trajectory reader (so a damaged part cannot write a bad file). */
static int record_sample(const cJSON *rec, sa_traj_set **set, sa_error *err) {
    const cJSON *smp = cJSON_GetObjectItemCaseSensitive(rec, "sample");
    cJSON *doc = cJSON_CreateObject();
    cJSON *arr = doc ? cJSON_AddArrayToObject(doc, "data") : NULL;
    cJSON *dup = arr ? cJSON_Duplicate(smp, 1) : NULL;
    if (!dup || !cJSON_AddItemToArray(arr, dup)) {
        cJSON_Delete(dup);
        cJSON_Delete(doc);
        return sa_error_set(err, SA_ERR_NOMEM, "starplus merge: out of memory");
    }
    char *txt = sa__json_print(doc, 0);
    cJSON_Delete(doc);
    if (!txt) return sa_error_set(err, SA_ERR_NOMEM, "starplus merge: out of memory");
    int rc = sa_traj_parse(txt, strlen(txt), "part record", set, err);
    free(txt);
    if (rc == SA_OK && (*set)->n_samples != 1) {
        sa_traj_set_free(*set);
        *set = NULL;
        rc = sa_error_set(err, SA_ERR_FORMAT, "part record: not one sample");
    }
    return rc;
}

static int merge_record(void *user, const cJSON *rec, sa_error *err) {
    merge_ctx *m = user;
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(rec, "key");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(rec, "error");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(rec, "stats");
    if (!cJSON_IsString(key) || !(cJSON_IsString(error) || cJSON_IsObject(st)))
        return sa_error_set(err, SA_ERR_FORMAT, "starplus part: record %g is not a StaR+ record",
                            field(rec, "i"));
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(m->samples, o)) {
        cJSON_Delete(o);
        return sa_error_set(err, SA_ERR_NOMEM, "starplus merge: out of memory");
    }
    cJSON_AddNumberToObject(o, "i", field(rec, "i"));
    cJSON_AddStringToObject(o, "key", key->valuestring);
    add_totals(&m->tot, rec);
    if (cJSON_IsString(error)) {
        cJSON_AddStringToObject(o, "error", error->valuestring);
        return SA_OK;
    }
    sa_traj_set *set = NULL;
    int rc = record_sample(rec, &set, err);
    if (rc != SA_OK) return rc;
    const sa_traj_sample *s = &set->samples[0];
    cJSON_AddStringToObject(o, "image_name", s->image_name ? s->image_name : "");
    if (s->n_captions) cJSON_AddStringToObject(o, "caption", s->captions[0]);
    cJSON *sd = cJSON_Duplicate(st, 1);
    if (sd) {
        for (cJSON *f = sd->child; f;) { /* flatten the stats into the sample's entry */
            cJSON *next = f->next;
            cJSON_AddItemToObject(o, f->string, cJSON_DetachItemViaPointer(sd, f));
            f = next;
        }
        cJSON_Delete(sd);
    }
    rc = sa_traj_writer_add(m->w, s, err);
    sa_traj_set_free(set);
    return rc;
}

static cJSON *totals_json(const sa_starplus_totals *t) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    double n = t->samples > 0 ? (double)t->samples : NAN;
    cJSON_AddNumberToObject(o, "items", (double)t->items);
    cJSON_AddNumberToObject(o, "samples", (double)t->samples);
    cJSON_AddNumberToObject(o, "failed", (double)t->failed);
    cJSON_AddNumberToObject(o, "policy_actions", (double)t->policy_actions);
    cJSON_AddNumberToObject(o, "kept", (double)t->kept);
    cJSON_AddNumberToObject(o, "replaced", (double)t->replaced);
    cJSON_AddNumberToObject(o, "unusable", (double)t->unusable);
    cJSON_AddItemToObject(
        o, "kept_fraction",
        json_num(t->policy_actions ? (double)t->kept / (double)t->policy_actions : NAN));
    cJSON_AddNumberToObject(o, "clicks", (double)t->clicks);
    cJSON_AddNumberToObject(o, "expert_clicks", (double)t->expert_clicks);
    cJSON_AddItemToObject(o, "iou_start_mean", json_num(t->iou_start_sum / n));
    cJSON_AddItemToObject(o, "iou_final_mean", json_num(t->iou_final_sum / n));
    cJSON_AddItemToObject(o, "kept_gain_mean",
                          json_num(t->kept ? t->kept_gain_sum / (double)t->kept : NAN));
    cJSON_AddItemToObject(
        o, "rejected_gain_mean",
        json_num(t->rejected_usable ? t->rejected_gain_sum / (double)t->rejected_usable : NAN));
    return o;
}

static int write_stats(merge_ctx *m, sa_error *err) {
    char *path = sa_starplus_stats_path(m->out);
    cJSON *tj = totals_json(&m->tot);
    int rc = SA_OK;
    if (!path || !tj || !cJSON_AddItemToObject(m->stats, "totals", tj)) {
        cJSON_Delete(tj); /* not attached */
        rc = sa_error_set(err, SA_ERR_NOMEM, "starplus merge: out of memory");
    }
    if (rc == SA_OK) rc = sa_file_write_json(path, m->stats, err);
    free(path);
    return rc;
}

int sa_starplus_merge_totals(const char *const *parts, int n_parts, const char *out,
                             sa_starplus_totals *totals, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "starplus merge: no output path");
    merge_ctx m;
    memset(&m, 0, sizeof m);
    m.out = out;
    m.stats = cJSON_CreateObject();
    m.samples = m.stats ? cJSON_AddArrayToObject(m.stats, "samples") : NULL;
    if (!m.samples) {
        cJSON_Delete(m.stats);
        return sa_error_set(err, SA_ERR_NOMEM, "starplus merge: out of memory");
    }
    sa_parts_merge_ops ops = {.on_header = merge_header, .on_record = merge_record};
    int rc = sa_parts_merge(parts, n_parts, COMMAND, ops, &m, err);
    if (rc == SA_OK && !m.w) rc = sa_error_set(err, SA_ERR_STATE, "starplus merge: no part header");
    if (rc == SA_OK)
        rc = write_stats(&m, err); /* before the trajectories: a failed merge leaves no output */
    if (rc == SA_OK) {
        rc = sa_traj_writer_close(m.w, err);
        m.w = NULL;
    }
    sa_traj_writer_abort(m.w);
    cJSON_Delete(m.stats);
    m.tot.merged = rc == SA_OK;
    if (totals) *totals = m.tot;
    return rc;
}

int sa_starplus_merge(const char *const *parts, int n_parts, const char *out, sa_error *err) {
    return sa_starplus_merge_totals(parts, n_parts, out, NULL, err);
}

/* ---- a run over datasets ---- */

typedef struct run_ctx {
    sa_tool *tool;
    const sa_sample_set *sets;
    int n_sets;
    int *first; /* first[s]: run index of set s's first item; first[n_sets] = total */
    int *todo;  /* run indices this process runs, increasing */
    int n_todo;
    sa_policy_new_fn policy_new;
    void *policy_ctx;
    sa_starplus_params p;
    const sa_starplus_hooks *hooks;
    sa_part *part;
    sa_starplus_totals *tot;
    int write_rc;      /* a part write failed: the run ends */
    int policy_rc;     /* a policy error: the run stops, nothing more is appended */
    sa_error stop_err; /* the reason of either */
} run_ctx;

typedef struct worker {
    sa__episode_worker *ew;
    sa_policy *expert;
} worker;

typedef struct slot {
    sa_traj_sample smp;
    sa_starplus_sample_stats st;
    int policy_failed;
} slot;

static void locate(const run_ctx *c, int k, int *s, int *i) {
    int j = 0;
    while (j + 1 < c->n_sets && k >= c->first[j + 1])
        j++;
    *s = j;
    *i = k - c->first[j];
}

static int worker_new(void *vctx, int index, void **state, sa_error *err) {
    (void)index;
    const run_ctx *c = vctx;
    worker *w = calloc(1, sizeof *w);
    if (!w) return sa_error_set(err, SA_ERR_NOMEM, "starplus: out of memory");
    sa_env_params ep = sa_env_default_params();
    ep.prob_threshold = c->p.prob_threshold;
    int rc = sa__episode_worker_new(c->tool, ep, c->policy_new, c->policy_ctx, &w->ew, err);
    if (rc == SA_OK) rc = sa_clicker_policy_new(&w->expert, err);
    if (rc != SA_OK) {
        sa__episode_worker_free(w->ew);
        free(w);
        return rc;
    }
    *state = w;
    return SA_OK;
}

static void worker_free(void *vctx, void *state) {
    (void)vctx;
    worker *w = state;
    if (!w) return;
    sa_policy_free(w->expert);
    sa__episode_worker_free(w->ew);
    free(w);
}

static const char *base_name(const char *p) {
    const char *s = p ? strrchr(p, '/') : NULL;
    return s ? s + 1 : p ? p : "";
}

static int run_item(void *vctx, void *state, int k, void *vslot, sa_error *err) {
    const run_ctx *c = vctx;
    worker *w = state;
    slot *sl = vslot;
    int s, i;
    locate(c, c->todo[k], &s, &i);
    sa_sample in;
    int rc = sa_sample_set_load(&c->sets[s], i, c->p.caption, &in, err);
    if (rc == SA_OK && (!in.desc || !*in.desc))
        rc = sa_error_set(err, SA_ERR_INVALID,
                          "starplus: no description for the policy (give a caption)");
    if (rc == SA_OK)
        rc = sa_env_reset(w->ew->env, &in.img, in.desc, &in.gt, in.ignore.data ? &in.ignore : NULL,
                          NULL, err);
    if (rc == SA_OK) {
        rc =
            sa_starplus_episode(w->ew->env, w->ew->policy, w->expert, c->p, &sl->smp, &sl->st, err);
        sl->policy_failed = rc == SA_ERR_NETWORK || rc == SA_ERR_TIMEOUT;
    }
    if (rc == SA_OK) {
        const char *caps[1] = {in.desc};
        rc =
            sa_traj_sample_set_meta(&sl->smp, base_name(in.image_path), in.object_id, caps, 1, err);
    }
    if (rc != SA_OK) {
        sa_traj_sample_free(&sl->smp);
        sa_starplus_sample_stats_free(&sl->st);
    }
    sa_sample_free(&in);
    return rc;
}

static int deliver(void *vctx, int k, int status, const char *error, void *vslot) {
    run_ctx *c = vctx;
    slot *sl = vslot;
    int g = c->todo[k], s, i;
    locate(c, g, &s, &i);
    if (status != SA_OK && sl->policy_failed && !c->policy_rc) {
        c->policy_rc = status;
        sa_error_set(&c->stop_err, status, "%s", error);
    }
    if (c->write_rc == SA_OK && c->policy_rc == SA_OK) {
        char *key = sa_sample_set_item_key(&c->sets[s], i);
        cJSON *rec = key ? item_record(g, key, &sl->smp, &sl->st, status == SA_OK ? NULL : error,
                                       &c->stop_err)
                         : NULL;
        if (!rec)
            c->write_rc =
                key ? c->stop_err.code : sa_error_set(&c->stop_err, SA_ERR_NOMEM, "out of memory");
        else
            c->write_rc = sa_part_append(c->part, rec, &c->stop_err);
        if (c->write_rc == SA_OK) add_totals(c->tot, rec);
        cJSON_Delete(rec);
        free(key);
        if (c->hooks && c->hooks->on_item)
            c->hooks->on_item(c->hooks->user, &c->sets[s], i, status, error,
                              status == SA_OK ? &sl->st : NULL);
    }
    sa_traj_sample_free(&sl->smp);
    sa_starplus_sample_stats_free(&sl->st);
    return c->write_rc != SA_OK || c->policy_rc != SA_OK;
}

static int should_stop(void *vctx) {
    const run_ctx *c = vctx;
    return c->hooks && c->hooks->should_stop && c->hooks->should_stop(c->hooks->user);
}

/* What decides the results: compared exactly when resuming and merging. */
static cJSON *run_config(const sa_tool *tool, const sa_sample_set *sets, int n_sets,
                         const sa_starplus_params *p, const sa_starplus_run_opts *o) {
    cJSON *c = cJSON_CreateObject();
    if (!c) return NULL;
    cJSON_AddStringToObject(c, "version", o->version ? o->version : "");
    cJSON_AddStringToObject(c, "tool", sa_tool_name(tool));
    cJSON_AddNumberToObject(c, "target_iou", p->target_iou);
    cJSON_AddNumberToObject(c, "max_clicks", p->max_clicks);
    cJSON_AddNumberToObject(c, "min_gain", p->min_gain);
    cJSON_AddNumberToObject(c, "prob_threshold", round((double)p->prob_threshold * 1e6) / 1e6);
    cJSON_AddNumberToObject(c, "limit", p->limit);
    cJSON_AddStringToObject(c, "caption", p->caption ? p->caption : "");
    cJSON *ds = cJSON_AddArrayToObject(c, "sets");
    for (int s = 0; ds && s < n_sets; s++)
        cJSON_AddItemToArray(ds, cJSON_CreateString(sets[s].label ? sets[s].label : ""));
    cJSON *pc = o->policy_config ? cJSON_Duplicate(o->policy_config, 1) : cJSON_CreateObject();
    if (!ds || !pc || !cJSON_AddItemToObject(c, "policy", pc)) {
        cJSON_Delete(pc);
        cJSON_Delete(c);
        return NULL;
    }
    return c;
}

typedef struct resume_ctx {
    sa_starplus_totals *tot;
    int last_i;
} resume_ctx;

static int on_resumed(void *user, const cJSON *rec, sa_error *err) {
    (void)err;
    resume_ctx *r = user;
    add_totals(r->tot, rec);
    r->tot->resumed++;
    r->last_i = (int)field(rec, "i");
    return SA_OK;
}

/* first[] and the items of this shard after the part's last record. */
static int plan(run_ctx *c, sa_shard shard, int *total, sa_error *err) {
    c->first = calloc((size_t)c->n_sets + 1, sizeof *c->first);
    if (!c->first) return sa_error_set(err, SA_ERR_NOMEM, "starplus: out of memory");
    long t = 0;
    for (int s = 0; s < c->n_sets; s++) {
        c->first[s] = (int)t;
        int cnt = c->sets[s].refer ? sa_refer_count(c->sets[s].refer)
                                   : sa_dataset_count(c->sets[s].dataset);
        t += (c->p.limit > 0 && cnt > c->p.limit) ? c->p.limit : cnt;
        if (t > 0x7fffffffL)
            return sa_error_set(err, SA_ERR_RANGE, "starplus: more than 2^31 items");
    }
    c->first[c->n_sets] = (int)t;
    *total = (int)t;
    c->todo = malloc(((size_t)t + 1) * sizeof *c->todo);
    if (!c->todo) return sa_error_set(err, SA_ERR_NOMEM, "starplus: out of memory");
    for (int g = 0; g < (int)t; g++) {
        int s, i;
        locate(c, g, &s, &i);
        char *key = sa_sample_set_item_key(&c->sets[s], i);
        if (!key) return sa_error_set(err, SA_ERR_NOMEM, "starplus: out of memory");
        if (sa_shard_owns(shard, key)) c->todo[c->n_todo++] = g;
        free(key);
    }
    return SA_OK;
}

static int check_run_args(const sa_tool *tool, const sa_sample_set *sets, int n_sets,
                          sa_policy_new_fn policy_new, const sa_starplus_params *p,
                          const sa_starplus_run_opts *o, sa_error *err) {
    if (!tool || !policy_new || !o->out || n_sets < 0 || (n_sets > 0 && !sets))
        return sa_error_set(err, SA_ERR_INVALID, "starplus: bad arguments");
    for (int s = 0; s < n_sets; s++)
        if (!sets[s].dataset == !sets[s].refer)
            return sa_error_set(err, SA_ERR_INVALID,
                                "starplus: set %d needs exactly one of dataset and refer", s);
    if (o->shard.count < 1 || o->shard.index < 0 || o->shard.index >= o->shard.count)
        return sa_error_set(err, SA_ERR_INVALID, "starplus: bad shard %d/%d", o->shard.index,
                            o->shard.count);
    return check_params(p, err);
}

/* Runs this process's remaining items into the part. */
static int run_todo(run_ctx *c, int done_before, sa_error *err) {
    int start = 0;
    while (start < c->n_todo && c->todo[start] <= done_before)
        start++;
    c->todo += start;
    c->n_todo -= start;
    sa_runner_ops ops = {
        .slot_size = sizeof(slot),
        .worker_new = worker_new,
        .worker_free = worker_free,
        .run_item = run_item,
        .deliver = deliver,
        .should_stop = should_stop,
    };
    sa_runner_params rp = sa_runner_default_params();
    rp.workers = c->p.workers;
    sa_runner_stats rs;
    memset(&rs, 0, sizeof rs);
    int rc = c->n_todo ? sa_runner_run(&ops, c, c->n_todo, rp, &rs, err) : SA_OK;
    c->todo -= start;
    c->n_todo += start;
    if (rc != SA_OK) return rc;
    if (c->write_rc != SA_OK) {
        if (err) *err = c->stop_err;
        return c->write_rc;
    }
    c->tot->stopped = rs.stopped || c->policy_rc != SA_OK;
    if (c->policy_rc != SA_OK && err) *err = c->stop_err;
    return SA_OK;
}

int sa_starplus_run(sa_tool *tool, const sa_sample_set *sets, int n_sets,
                    sa_policy_new_fn policy_new, void *policy_ctx, sa_starplus_params p,
                    sa_starplus_run_opts o, const sa_starplus_hooks *hooks,
                    sa_starplus_totals *totals, sa_error *err) {
    sa_starplus_totals local;
    sa_starplus_totals *tot = totals ? totals : &local;
    memset(tot, 0, sizeof *tot);
    int rc = check_run_args(tool, sets, n_sets, policy_new, &p, &o, err);
    if (rc != SA_OK) return rc;
    run_ctx c = {.tool = tool,
                 .sets = sets,
                 .n_sets = n_sets,
                 .policy_new = policy_new,
                 .policy_ctx = policy_ctx,
                 .p = p,
                 .hooks = hooks,
                 .tot = tot};
    int total = 0;
    cJSON *cfg = NULL;
    char *part_path = NULL;
    rc = plan(&c, o.shard, &total, err);
    tot->items = c.n_todo;
    if (rc == SA_OK && (!(cfg = run_config(tool, sets, n_sets, &p, &o)) ||
                        !(part_path = sa_shard_part_path(o.out, o.shard))))
        rc = sa_error_set(err, SA_ERR_NOMEM, "starplus: out of memory");
    resume_ctx rs = {.tot = tot, .last_i = -1};
    if (rc == SA_OK) {
        sa_part_header h = {.command = COMMAND, .shard = o.shard, .total = total, .config = cfg};
        rc = sa_part_open(part_path, h, o.resume, on_resumed, &rs, NULL, &c.part, err);
    }
    if (rc == SA_OK) rc = run_todo(&c, rs.last_i, err);
    int complete = rc == SA_OK && !tot->stopped && tot->done == tot->items;
    if (c.part) {
        if (complete)
            rc = sa_part_finish(c.part, err);
        else
            sa_part_close(c.part);
    }
    if (complete && rc == SA_OK && o.shard.count == 1) {
        const char *parts[1] = {part_path};
        sa_starplus_totals mt;
        rc = sa_starplus_merge_totals(parts, 1, o.out, &mt, err);
        tot->merged = rc == SA_OK;
    }
    free(part_path);
    cJSON_Delete(cfg);
    free(c.first);
    free(c.todo);
    return rc;
}
