/* The click benchmark: one agent-loop episode per sample (a policy, by default the simulated annotator, on the
 * episode engine), run over a dataset by the dataset runner, then summarised by the metrics module.
 *
 * Design: an episode is nothing but sa_agent_run with the benchmark's stopping rules (max_clicks steps, the
 * optional target IoU, no best-of selection) turned into a sample: the clicks, and the intersection, union and
 * IoU the engine measured at each step. Each runner worker owns an environment and a policy; the sa_tool is
 * shared read-only. Samples are delivered in dataset order into their slots, and the metrics are summed in
 * that order, so the thread count changes timings and nothing else.
 */
#include "segagent/evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/agent.h"
#include "segagent/runner.h"
#include "base/util.h"
#include "workloads/episode_worker.h"

sa_eval_params sa_eval_default_params(void) {
    sa_eval_params p;
    memset(&p, 0, sizeof p);
    p.max_clicks = 20;
    p.threads = 1;
    return p;
}

void sa_eval_sample_free(sa_eval_sample *s) {
    if (!s) return;
    free(s->name);
    free(s->error);
    free(s->clicks);
    free(s->iou);
    free(s->ms);
    free(s->inter);
    free(s->uni);
    memset(s, 0, sizeof *s);
}

void sa_eval_result_free(sa_eval_result *r) {
    if (!r) return;
    for (int i = 0; i < r->n_samples; i++)
        sa_eval_sample_free(&r->samples[i]);
    free(r->samples);
    memset(r, 0, sizeof *r);
}

static int check_params(const sa_eval_params *p, sa_error *err) {
    if (p->max_clicks < 1 || p->max_clicks > SA_METRICS_MAX_CLICKS)
        return sa_error_set(err, SA_ERR_RANGE, "max clicks %d out of range (1..%d)", p->max_clicks,
                            SA_METRICS_MAX_CLICKS);
    if (p->threads < 1 || p->threads > 256)
        return sa_error_set(err, SA_ERR_RANGE, "threads %d out of range (1..256)", p->threads);
    if (p->limit < 0) return sa_error_set(err, SA_ERR_RANGE, "limit %d is negative", p->limit);
    if (!(p->target_iou >= 0.0 && p->target_iou <= 1.0))
        return sa_error_set(err, SA_ERR_RANGE, "target IoU %g outside [0, 1]", p->target_iou);
    return SA_OK;
}

static double iou_of(uint64_t inter, uint64_t uni) {
    return uni ? (double)inter / (double)uni : 1.0;
}

typedef struct step_hook {
    sa_eval_step_fn fn;
    void *user;
} step_hook;

static int on_agent_step(void *ctx, const sa_env *env, const sa_agent_step *s) {
    const step_hook *h = ctx;
    if (s->is_box) return 0;
    sa_eval_step st;
    memset(&st, 0, sizeof st);
    st.step = s->index;
    st.click = s->action.click;
    st.iou = s->iou_after;
    st.prev_iou = s->iou_before;
    st.ms = s->tool_ms;
    return h->fn(h->user, env, &st);
}

static int alloc_sample(sa_eval_sample *out, int n_max) {
    out->clicks = calloc((size_t)n_max, sizeof(sa_click));
    out->iou = calloc((size_t)n_max, sizeof(double));
    out->ms = calloc((size_t)n_max, sizeof(double));
    out->inter = calloc((size_t)n_max, sizeof(uint64_t));
    out->uni = calloc((size_t)n_max, sizeof(uint64_t));
    return out->clicks && out->iou && out->ms && out->inter && out->uni;
}

/* The sample an episode's record describes: one entry per committed click. */
static void take_steps(const sa_agent_result *r, sa_eval_sample *out) {
    for (int i = 0; i < r->n_steps; i++) {
        const sa_agent_step *s = &r->steps[i];
        if (!s->committed || s->is_box) continue;
        int k = out->n++;
        out->clicks[k] = s->action.click;
        out->iou[k] = iou_of(s->inter, s->uni);
        out->inter[k] = s->inter;
        out->uni[k] = s->uni;
        out->ms[k] = s->tool_ms;
    }
    out->done_early = !strcmp(r->stop, "done");
    out->end_kind = !strcmp(r->stop, "unparseable reply") ? SA_EVAL_END_UNPARSEABLE
                    : !strcmp(r->stop, "policy error")    ? SA_EVAL_END_POLICY
                    : !strcmp(r->stop, "tool error")      ? SA_EVAL_END_TOOL
                                                          : SA_EVAL_END_NORMAL;
}

int sa_eval_env_episode(sa_env *env, sa_policy *policy, sa_eval_params params,
                        sa_eval_step_fn on_step, void *user, sa_eval_sample *out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "evaluation: NULL output");
    memset(out, 0, sizeof *out);
    if (!env || !policy || !sa_env_gt(env))
        return sa_error_set(err, SA_ERR_INVALID,
                            "evaluation: needs an environment reset with ground truth");
    int rc = check_params(&params, err);
    if (rc != SA_OK) return rc;
    const sa_image *img = sa_env_image(env);
    out->width = img->width;
    out->height = img->height;
    if (!alloc_sample(out, params.max_clicks)) {
        sa_eval_sample_free(out);
        return sa_error_set(err, SA_ERR_NOMEM, "evaluation: out of memory");
    }
    sa_env_inter_union(env, &out->inter0, &out->uni0);
    out->iou0 = iou_of(out->inter0, out->uni0);

    sa_agent_params ap = sa_agent_default_params();
    ap.steps = params.max_clicks;
    ap.best_of = 0;
    ap.keep_masks = 0;
    ap.stop_iou = params.target_iou;
    step_hook hook = {on_step, user};
    if (on_step) {
        ap.on_step = on_agent_step;
        ap.on_step_ctx = &hook;
    }
    sa_agent_result r;
    rc = sa_agent_run(env, policy, ap, &r, err);
    take_steps(&r, out);
    sa_agent_result_free(&r);
    if (rc != SA_OK) {
        out->status = rc;
        out->error = sa__strdup(err ? err->msg : sa_strerror(rc));
    }
    return rc;
}

static int make_policy(const sa_eval_params *p, sa_policy **out, sa_error *err) {
    if (p->policy_new) return p->policy_new(p->policy_ctx, out, err);
    return sa_clicker_policy_new(out, err);
}

int sa_eval_episode(sa_tool *tool, const sa_image *img, const sa_mask *gt, const sa_mask *ignore,
                    sa_eval_params params, sa_eval_step_fn on_step, void *user, sa_eval_sample *out,
                    sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_eval_episode: NULL output");
    memset(out, 0, sizeof *out);
    if (!tool || !img || !gt || !gt->data)
        return sa_error_set(err, SA_ERR_INVALID, "sa_eval_episode: NULL argument");
    int rc = check_params(&params, err);
    if (rc != SA_OK) return rc;
    sa_env *env = NULL;
    sa_policy *policy = NULL;
    rc = sa_env_new(tool, sa_env_default_params(), &env, err);
    if (rc == SA_OK) rc = make_policy(&params, &policy, err);
    if (rc == SA_OK)
        rc = sa_env_reset(env, img, "", gt, ignore && ignore->data ? ignore : NULL, NULL, err);
    if (rc == SA_OK) {
        rc = sa_eval_env_episode(env, policy, params, on_step, user, out, err);
    } else {
        out->status = rc;
        out->error = sa__strdup(err ? err->msg : sa_strerror(rc));
    }
    sa_policy_free(policy);
    sa_env_free(env);
    return rc;
}

/* ---- over a dataset, on the runner ---- */

typedef struct run_ctx {
    sa_tool *tool;
    const sa_dataset *ds;
    const sa_refer *refer; /* instead of ds: a referring set (the caption is the description) */
    sa_eval_params params;
    sa_eval_progress_fn progress;
    void *user;
    sa_eval_result *res;
    int nomem; /* a sample's name or message could not be stored */
} run_ctx;

static int worker_new(void *vctx, int index, void **state, sa_error *err) {
    (void)index;
    run_ctx *c = vctx;
    return sa__episode_worker_new(c->tool, sa_env_default_params(), c->params.policy_new,
                                  c->params.policy_ctx, (sa__episode_worker **)state, err);
}

static void worker_free(void *vctx, void *state) {
    (void)vctx;
    sa__episode_worker_free(state);
}

/* Runs sample i into its slot of the result (the slots are the result's own array, so deliver only reports). */
static int run_item(void *vctx, void *state, int i, void *slot, sa_error *err) {
    (void)slot;
    run_ctx *c = vctx;
    sa__episode_worker *w = state;
    sa_eval_sample *s = &c->res->samples[i];
    sa_image img = {0};
    sa_mask gt = {0}, ign = {0};
    const sa_refer_sample *rs = c->refer ? sa_refer_get(c->refer, i) : NULL;
    int rc = rs ? sa_refer_load(c->refer, i, &img, &gt, err)
                : sa_dataset_load(c->ds, i, &img, &gt, &ign, err);
    if (rc == SA_OK)
        rc = sa_env_reset(w->env, &img, rs ? rs->caption : "", &gt, ign.data ? &ign : NULL, NULL,
                          err);
    if (rc == SA_OK) {
        sa_eval_params p = c->params;
        p.threads = 1;
        rc = sa_eval_env_episode(w->env, w->policy, p, NULL, NULL, s, err);
    }
    sa_image_free(&img);
    sa_mask_free(&gt);
    sa_mask_free(&ign);
    if (rc != SA_OK && s->n == 0) { /* nothing could be measured: the sample is skipped */
        int kind =
            s->iou ? s->end_kind : SA_EVAL_END_LOAD; /* no arrays: the episode never started */
        sa_eval_sample_free(s);
        s->end_kind = kind;
        s->status = rc;
        s->error = sa__strdup(err->msg[0] ? err->msg : sa_strerror(rc));
    }
    s->name = sa__strdup(rs ? rs->id : sa_dataset_item_name(c->ds, i));
    return rc;
}

static int deliver(void *vctx, int i, int status, const char *error, void *slot) {
    (void)error;
    (void)slot;
    run_ctx *c = vctx;
    sa_eval_sample *s = &c->res->samples[i];
    if (!s->name || (status != SA_OK && !s->error)) c->nomem = 1;
    return 0;
}

static void progress(void *vctx, int done, int total) {
    run_ctx *c = vctx;
    if (c->progress) c->progress(c->user, done, total, &c->res->samples[done - 1]);
}

static int should_stop(void *vctx) {
    run_ctx *c = vctx;
    return c->params.should_stop && c->params.should_stop(c->user);
}

/* Metrics over the samples that were not skipped, in dataset order. */
static int summarize(sa_eval_result *out, int max_clicks, sa_error *err) {
    sa_metrics *m = NULL;
    int rc = sa_metrics_new(max_clicks, &m, err);
    if (rc != SA_OK) return rc;
    for (int i = 0; i < out->n_samples; i++) {
        const sa_eval_sample *s = &out->samples[i];
        if (!s->iou) {
            out->n_skipped++;
            continue;
        }
        if (s->status != SA_OK) out->n_failed++;
        sa_metrics_curve cv;
        memset(&cv, 0, sizeof cv);
        cv.iou = s->iou;
        cv.inter = s->inter;
        cv.uni = s->uni;
        cv.ms = s->ms;
        cv.n = s->n;
        cv.iou0 = s->iou0;
        cv.inter0 = s->inter0;
        cv.uni0 = s->uni0;
        rc = sa_metrics_add(m, &cv, err);
        if (rc != SA_OK) {
            sa_metrics_free(m);
            return sa_error_prefix(err, "%s: ", s->name ? s->name : "?");
        }
    }
    sa_metrics_summarize(m, &out->summary);
    sa_metrics_free(m);
    return SA_OK;
}

static int run_set(sa_tool *tool, const sa_dataset *ds, const sa_refer *refer,
                   sa_eval_params params, sa_eval_progress_fn progress_fn, void *user,
                   sa_eval_result *out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_eval_run: NULL output");
    memset(out, 0, sizeof *out);
    int rc = check_params(&params, err);
    if (rc != SA_OK) return rc;
    if (!tool || (!ds && !refer))
        return sa_error_set(err, SA_ERR_INVALID, "sa_eval_run: NULL argument");
    const char *set_name = refer ? sa_refer_name(refer) : sa_dataset_name(ds);
    int total = refer ? sa_refer_count(refer) : sa_dataset_count(ds);
    if (params.limit > 0 && params.limit < total) total = params.limit;
    if (total <= 0) return sa_error_set(err, SA_ERR_NOT_FOUND, "%s: no items", set_name);
    out->samples = calloc((size_t)total, sizeof(sa_eval_sample));
    if (!out->samples) return sa_error_set(err, SA_ERR_NOMEM, "evaluation: out of memory");
    out->n_samples = total;

    run_ctx c = {.tool = tool,
                 .ds = ds,
                 .refer = refer,
                 .params = params,
                 .progress = progress_fn,
                 .user = user,
                 .res = out};
    sa_runner_ops ops = {
        .worker_new = worker_new,
        .worker_free = worker_free,
        .run_item = run_item,
        .deliver = deliver,
        .progress = progress,
        .should_stop = should_stop,
    };
    sa_runner_params rp = sa_runner_default_params();
    rp.workers = params.threads;
    sa_runner_stats st;
    rc = sa_runner_run(&ops, &c, total, rp, &st, err);
    if (rc != SA_OK) return rc;
    out->n_samples = st.delivered; /* a stopped run keeps the prefix it ran */
    if (c.nomem) return sa_error_set(err, SA_ERR_NOMEM, "evaluation: out of memory");
    if ((rc = summarize(out, params.max_clicks, err)) != SA_OK) return rc;
    if (out->n_samples > 0 && out->n_skipped == out->n_samples)
        return sa_error_set(err, SA_ERR_NOT_FOUND, "%s: none of the %d items could be evaluated",
                            set_name, out->n_samples);
    return SA_OK;
}

int sa_eval_run(sa_tool *tool, const sa_dataset *ds, sa_eval_params params,
                sa_eval_progress_fn progress_fn, void *user, sa_eval_result *out, sa_error *err) {
    return run_set(tool, ds, NULL, params, progress_fn, user, out, err);
}

int sa_eval_run_refer(sa_tool *tool, const sa_refer *ds, sa_eval_params params,
                      sa_eval_progress_fn progress_fn, void *user, sa_eval_result *out,
                      sa_error *err) {
    return run_set(tool, NULL, ds, params, progress_fn, user, out, err);
}

static double ratio_or_one(uint64_t inter, uint64_t uni) {
    return uni ? (double)inter / (double)uni
               : 1.0; /* empty prediction of an empty truth is right */
}

int sa_eval_refer_summarize(const sa_eval_result *r, int max_clicks, sa_eval_refer_summary *out) {
    if (!r || !out || max_clicks < 1 || max_clicks > SA_METRICS_MAX_CLICKS) return SA_ERR_INVALID;
    memset(out, 0, sizeof *out);
    out->max_clicks = max_clicks;
    uint64_t si = 0, su = 0;
    uint64_t *sti = calloc((size_t)max_clicks, sizeof *sti),
             *stu = calloc((size_t)max_clicks, sizeof *stu);
    if (!sti || !stu) {
        free(sti);
        free(stu);
        return SA_ERR_NOMEM;
    }
    double gsum = 0;
    for (int i = 0; i < r->n_samples; i++) {
        const sa_eval_sample *s = &r->samples[i];
        if (s->end_kind >= 0 && s->end_kind < 5) out->failures[s->end_kind]++;
        if (!s->iou) {
            out->n_failed++;
            continue;
        }
        if (s->status != SA_OK) out->n_failed++;
        out->n_samples++;
        for (int t = 0; t < max_clicks; t++) { /* the last mask carries forward */
            uint64_t in = s->n > 0 ? s->inter[t < s->n ? t : s->n - 1] : s->inter0;
            uint64_t un = s->n > 0 ? s->uni[t < s->n ? t : s->n - 1] : s->uni0;
            sti[t] += in;
            stu[t] += un;
            out->miou_by_step[t] += ratio_or_one(in, un);
        }
        uint64_t in = s->n > 0 ? s->inter[s->n - 1] : s->inter0,
                 un = s->n > 0 ? s->uni[s->n - 1] : s->uni0;
        si += in;
        su += un;
        gsum += ratio_or_one(in, un);
    }
    if (out->n_samples > 0) {
        out->ciou = ratio_or_one(si, su);
        out->giou = gsum / out->n_samples;
        for (int t = 0; t < max_clicks; t++) {
            out->miou_by_step[t] /= out->n_samples;
            out->ciou_by_step[t] = ratio_or_one(sti[t], stu[t]);
        }
    } else {
        out->ciou = out->giou = NAN;
    }
    free(sti);
    free(stu);
    return SA_OK;
}
