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
#include "segagent/rle.h"
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
    for (int i = 0; s->replies && i < s->n_asked; i++)
        free(s->replies[i]);
    free(s->replies);
    free(s->pred_iou);
    free(s->req_ms);
    free(s->mask_rle);
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
    out->pred_iou = calloc((size_t)n_max, sizeof(double));
    out->req_ms = calloc((size_t)n_max, sizeof(double));
    out->replies = calloc((size_t)n_max, sizeof(char *));
    return out->clicks && out->iou && out->ms && out->inter && out->uni && out->pred_iou &&
           out->req_ms && out->replies;
}

/* The policy's side of a step: its reply, its estimate of the mask it saw, its time. */
static int take_asked(const sa_agent_step *s, int n_max, sa_eval_sample *out) {
    if (out->n_asked >= n_max) return 1;
    int k = out->n_asked++;
    out->pred_iou[k] = isnan(s->pred_iou_before) ? NAN : (double)s->pred_iou_before;
    out->req_ms[k] = s->policy_ms;
    const sa_agent_candidate *c =
        s->n_candidates > 0 ? &s->cands[s->chosen >= 0 ? s->chosen : 0] : NULL;
    if (c && c->text && !(out->replies[k] = sa__strdup(c->text))) return 0;
    return 1;
}

/* The sample an episode's record describes: one entry per committed click, and the policy's side of every
 * step asked (the committed ones, then the one that ended the episode, if any). 0 when out of memory. */
static int take_steps(const sa_agent_result *r, int n_max, sa_eval_sample *out) {
    int ok = 1;
    for (int i = 0; i < r->n_steps; i++) {
        const sa_agent_step *s = &r->steps[i];
        if (s->is_box) continue;
        ok &= take_asked(s, n_max, out);
        if (!s->committed) continue;
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
    return ok;
}

/* The env's mask (the last state: no best-of in a benchmark) as a compressed RLE string. */
static int take_mask(const sa_env *env, sa_eval_sample *out, sa_error *err) {
    sa_rle rle = {0};
    int rc = sa_rle_encode(sa_env_mask(env), &rle, err);
    if (rc == SA_OK) rc = sa_rle_to_string(&rle, &out->mask_rle, err);
    sa_rle_free(&rle);
    return rc;
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
    int ok = take_steps(&r, params.max_clicks, out);
    sa_agent_result_free(&r);
    if (rc == SA_OK && !ok) rc = sa_error_set(err, SA_ERR_NOMEM, "evaluation: out of memory");
    if (rc == SA_OK) {
        rc = take_mask(env, out, err);
    } else {
        sa_error e = {0};
        take_mask(env, out,
                  &e); /* the partial sample's mask; the episode's error is the one to report */
    }
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
    i = c->params.items ? c->params.items[i] : i; /* from here on: the item in its set */
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
    s->item = i;
    return rc;
}

static int deliver(void *vctx, int i, int status, const char *error, void *slot) {
    (void)error;
    (void)slot;
    run_ctx *c = vctx;
    sa_eval_sample *s = &c->res->samples[i];
    if (!s->name || (status != SA_OK && !s->error)) c->nomem = 1;
    if (c->params.on_sample && !c->nomem) return c->params.on_sample(c->params.sample_ctx, s);
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
int sa_eval_result_summarize(sa_eval_result *out, int max_clicks, sa_error *err) {
    if (!out || (out->n_samples > 0 && !out->samples))
        return sa_error_set(err, SA_ERR_INVALID, "evaluation summary: NULL result");
    out->n_skipped = out->n_failed = 0;
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
    if (params.items) {
        for (int k = 0; k < params.n_items; k++)
            if (params.items[k] < 0 || params.items[k] >= total ||
                (k > 0 && params.items[k] <= params.items[k - 1]))
                return sa_error_set(err, SA_ERR_INVALID,
                                    "%s: item list not increasing within 0..%d (entry %d)",
                                    set_name, total - 1, k);
        total = params.n_items;
        if (total == 0) return SA_OK; /* nothing left to run (a resumed or small shard) */
    }
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
    if ((rc = sa_eval_result_summarize(out, params.max_clicks, err)) != SA_OK) return rc;
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

/* Intersection and union of state k (0 = the start, k = after click k) of a measured sample. */
static void state_iu(const sa_eval_sample *s, int k, uint64_t *in, uint64_t *un) {
    *in = k > 0 ? s->inter[k - 1] : s->inter0;
    *un = k > 0 ? s->uni[k - 1] : s->uni0;
}

int sa_eval_prm_state(const sa_eval_sample *s, int t) {
    if (!s || !s->iou || t < 0) return -1;
    int last = t < s->n ? t : s->n, best = last;
    double best_pred = NAN;
    for (int k = 0; k <= last; k++) {
        double v = k < s->n_asked && s->pred_iou ? s->pred_iou[k] : NAN;
        if (isnan(v)) continue;
        if (isnan(best_pred) || v >= best_pred) { /* >=: ties go to the later state */
            best = k;
            best_pred = v;
        }
    }
    return best;
}

/* Sums of one way of choosing the state at each step (plain: the last; PRM: the best predicted). */
typedef struct step_sums {
    uint64_t *inter, *uni; /* [max_clicks] */
    double *miou;          /* [max_clicks], summed */
    uint64_t fin_inter, fin_uni;
    double gsum;
} step_sums;

static void add_choice(step_sums *ss, int t, uint64_t in, uint64_t un, int final) {
    ss->inter[t] += in;
    ss->uni[t] += un;
    ss->miou[t] += ratio_or_one(in, un);
    if (final) {
        ss->fin_inter += in;
        ss->fin_uni += un;
        ss->gsum += ratio_or_one(in, un);
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[n]. */
static double nearest_rank(const double *v, long n, double pct) {
    if (n <= 0) return NAN;
    long r = (long)ceil(pct / 100.0 * (double)n);
    return v[r < 1 ? 0 : r > n ? n - 1 : r - 1];
}

static int latency(const sa_eval_result *r, sa_eval_refer_summary *out) {
    long n = 0;
    for (int i = 0; i < r->n_samples; i++)
        if (r->samples[i].req_ms) n += r->samples[i].n_asked;
    out->n_requests = n;
    out->req_ms_p50 = out->req_ms_p90 = out->req_ms_p99 = NAN;
    if (n == 0) return SA_OK;
    double *v = malloc((size_t)n * sizeof *v);
    if (!v) return SA_ERR_NOMEM;
    long k = 0;
    for (int i = 0; i < r->n_samples; i++)
        for (int j = 0; r->samples[i].req_ms && j < r->samples[i].n_asked; j++)
            v[k++] = r->samples[i].req_ms[j];
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    out->req_ms_p50 = nearest_rank(v, n, 50);
    out->req_ms_p90 = nearest_rank(v, n, 90);
    out->req_ms_p99 = nearest_rank(v, n, 99);
    free(v);
    return SA_OK;
}

static void finish_sums(const step_sums *ss, int n, int max_clicks, double *ciou, double *giou,
                        double *miou_by_step, double *ciou_by_step) {
    if (n == 0) {
        *ciou = *giou = NAN;
        return;
    }
    *ciou = ratio_or_one(ss->fin_inter, ss->fin_uni);
    *giou = ss->gsum / n;
    for (int t = 0; t < max_clicks; t++) {
        miou_by_step[t] = ss->miou[t] / n;
        ciou_by_step[t] = ratio_or_one(ss->inter[t], ss->uni[t]);
    }
}

int sa_eval_refer_summarize(const sa_eval_result *r, int max_clicks, sa_eval_refer_summary *out) {
    if (!r || !out || max_clicks < 1 || max_clicks > SA_METRICS_MAX_CLICKS) return SA_ERR_INVALID;
    memset(out, 0, sizeof *out);
    out->max_clicks = max_clicks;
    step_sums ss[2] = {{0}}; /* [0] the last state, [1] the PRM choice */
    int ok = 1;
    for (int w = 0; w < 2; w++) {
        ss[w].inter = calloc((size_t)max_clicks, sizeof(uint64_t));
        ss[w].uni = calloc((size_t)max_clicks, sizeof(uint64_t));
        ss[w].miou = calloc((size_t)max_clicks, sizeof(double));
        ok &= ss[w].inter && ss[w].uni && ss[w].miou;
    }
    for (int i = 0; ok && i < r->n_samples; i++) {
        const sa_eval_sample *s = &r->samples[i];
        if (s->end_kind >= 0 && s->end_kind < 5) out->failures[s->end_kind]++;
        if (!s->iou) {
            out->n_failed++;
            continue;
        }
        if (s->status != SA_OK) out->n_failed++;
        out->n_samples++;
        for (int t = 0; t < max_clicks; t++) { /* the last mask carries forward */
            uint64_t in, un;
            state_iu(s, t + 1 < s->n ? t + 1 : s->n, &in, &un);
            add_choice(&ss[0], t, in, un, t == max_clicks - 1);
            state_iu(s, sa_eval_prm_state(s, t + 1), &in, &un);
            add_choice(&ss[1], t, in, un, t == max_clicks - 1);
        }
    }
    if (ok) {
        finish_sums(&ss[0], out->n_samples, max_clicks, &out->ciou, &out->giou, out->miou_by_step,
                    out->ciou_by_step);
        finish_sums(&ss[1], out->n_samples, max_clicks, &out->prm_ciou, &out->prm_giou,
                    out->prm_miou_by_step, out->prm_ciou_by_step);
        ok = latency(r, out) == SA_OK;
    }
    for (int w = 0; w < 2; w++) {
        free(ss[w].inter);
        free(ss[w].uni);
        free(ss[w].miou);
    }
    return ok ? SA_OK : SA_ERR_NOMEM;
}
