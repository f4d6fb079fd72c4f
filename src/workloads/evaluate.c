/* The click benchmark runner: simulated annotator + tool per sample, optionally over several threads.
 *
 * Each episode owns its environment (and so its tool session); the sa_tool itself is shared read-only. Workers
 * take the next item index under a mutex and write only their own result slot, and the metrics are summed
 * afterwards in dataset order, so the thread count changes timings and nothing else. IoU is computed here from
 * the intersection and union (ignore pixels excluded) so the per-sample IoU and the dataset cIoU agree.
 */
#include "segagent/evaluate.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/clicker.h"
#include "base/util.h"

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

int sa_eval_episode(sa_tool *tool, const sa_image *img, const sa_mask *gt, const sa_mask *ignore,
                    sa_eval_params params, sa_eval_step_fn on_step, void *user, sa_eval_sample *out,
                    sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_eval_episode: NULL output");
    memset(out, 0, sizeof *out);
    if (!tool || !img || !gt || !gt->data)
        return sa_error_set(err, SA_ERR_INVALID, "sa_eval_episode: NULL argument");
    int rc = check_params(&params, err);
    if (rc != SA_OK) return rc;
    if (ignore && !ignore->data) ignore = NULL;
    int n_max = params.max_clicks;
    out->width = img->width;
    out->height = img->height;
    out->clicks = calloc((size_t)n_max, sizeof(sa_click));
    out->iou = calloc((size_t)n_max, sizeof(double));
    out->ms = calloc((size_t)n_max, sizeof(double));
    out->inter = calloc((size_t)n_max, sizeof(uint64_t));
    out->uni = calloc((size_t)n_max, sizeof(uint64_t));
    if (!out->clicks || !out->iou || !out->ms || !out->inter || !out->uni) {
        sa_eval_sample_free(out);
        return sa_error_set(err, SA_ERR_NOMEM, "evaluation: out of memory");
    }
    sa_env *env = NULL;
    rc = sa_env_new(tool, &env, err);
    if (rc == SA_OK) rc = sa_env_reset(env, img, "", gt, ignore, NULL, err);
    if (rc != SA_OK) {
        sa_env_free(env);
        out->status = rc;
        out->error = sa__strdup(err ? err->msg : sa_strerror(rc));
        return rc;
    }
    sa_mask_inter_union(sa_env_mask(env), gt, ignore, &out->inter0, &out->uni0);
    out->iou0 = iou_of(out->inter0, out->uni0);
    double cur_iou = out->iou0;
    for (int k = 1; k <= n_max; k++) {
        sa_clicker_click c;
        rc = sa_clicker_next(gt, ignore, sa_env_mask(env), sa_env_clicks(env), sa_env_n_clicks(env),
                             &c, err);
        if (rc == SA_ERR_DONE) {
            out->done_early = 1;
            rc = SA_OK;
            break;
        }
        if (rc != SA_OK) break;
        sa_action a = sa_action_click(c.y, c.x, c.positive);
        sa_env_step_info info;
        rc = sa_env_step(env, &a, &info, err);
        if (rc != SA_OK) break;
        int i = out->n;
        out->clicks[i] = a.click;
        sa_mask_inter_union(sa_env_mask(env), gt, ignore, &out->inter[i], &out->uni[i]);
        out->iou[i] = iou_of(out->inter[i], out->uni[i]);
        out->ms[i] = info.tool_ms;
        out->n++;
        sa_eval_step st;
        st.step = k;
        st.click = a.click;
        st.distance = c.distance;
        st.iou = out->iou[i];
        st.prev_iou = cur_iou;
        st.ms = info.tool_ms;
        cur_iou = out->iou[i];
        if (on_step && on_step(user, env, &st)) break;
        if (params.target_iou > 0 && cur_iou >= params.target_iou) break;
    }
    sa_env_free(env);
    if (rc != SA_OK) {
        out->status = rc;
        out->error = sa__strdup(err ? err->msg : sa_strerror(rc));
    }
    return rc;
}

/* ---- dataset runner ---- */

typedef struct run_ctx {
    sa_tool *tool;
    const sa_dataset *ds;
    sa_eval_params params;
    sa_eval_progress_fn progress;
    void *user;
    sa_eval_result *res;
    int total;
    pthread_mutex_t lock;
    int next;     /* next item to take */
    int finished; /* samples finished */
    int nomem;    /* a worker ran out of memory */
} run_ctx;

static void run_one(run_ctx *c, int i) {
    sa_eval_sample *s = &c->res->samples[i];
    sa_error e = {0};
    sa_image img = {0};
    sa_mask gt = {0}, ign = {0};
    int rc = sa_dataset_load(c->ds, i, &img, &gt, &ign, &e);
    if (rc == SA_OK) {
        sa_eval_params p = c->params;
        p.threads = 1;
        rc = sa_eval_episode(c->tool, &img, &gt, ign.data ? &ign : NULL, p, NULL, NULL, s, &e);
        if (rc == SA_OK && !s->iou)
            rc = sa_error_set(&e, SA_ERR_NOMEM, "evaluation: out of memory");
    }
    sa_image_free(&img);
    sa_mask_free(&gt);
    sa_mask_free(&ign);
    if (rc != SA_OK && s->n == 0) { /* nothing could be measured: the sample is skipped */
        sa_eval_sample_free(s);
        s->status = rc;
        s->error = sa__strdup(e.msg[0] ? e.msg : sa_strerror(rc));
    }
    s->name = sa__strdup(sa_dataset_item_name(c->ds, i));
    pthread_mutex_lock(&c->lock);
    if (!s->name || (s->status != SA_OK && !s->error)) c->nomem = 1;
    c->finished++;
    if (c->progress) c->progress(c->user, c->finished, c->total, s);
    pthread_mutex_unlock(&c->lock);
}

static void *worker(void *arg) {
    run_ctx *c = arg;
    for (;;) {
        pthread_mutex_lock(&c->lock);
        int i = c->next < c->total ? c->next++ : -1;
        pthread_mutex_unlock(&c->lock);
        if (i < 0) break;
        run_one(c, i);
    }
    return NULL;
}

int sa_eval_run(sa_tool *tool, const sa_dataset *ds, sa_eval_params params,
                sa_eval_progress_fn progress, void *user, sa_eval_result *out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_eval_run: NULL output");
    memset(out, 0, sizeof *out);
    int rc = check_params(&params, err);
    if (rc != SA_OK) return rc;
    if (!tool || !ds) return sa_error_set(err, SA_ERR_INVALID, "sa_eval_run: NULL argument");
    int total = sa_dataset_count(ds);
    if (params.limit > 0 && params.limit < total) total = params.limit;
    if (total <= 0) return sa_error_set(err, SA_ERR_NOT_FOUND, "%s: no items", sa_dataset_name(ds));
    out->samples = calloc((size_t)total, sizeof(sa_eval_sample));
    if (!out->samples) return sa_error_set(err, SA_ERR_NOMEM, "evaluation: out of memory");
    out->n_samples = total;

    run_ctx c;
    memset(&c, 0, sizeof c);
    c.tool = tool;
    c.ds = ds;
    c.params = params;
    c.progress = progress;
    c.user = user;
    c.res = out;
    c.total = total;
    pthread_mutex_init(&c.lock, NULL);
    int nt = params.threads < total ? params.threads : total;
    pthread_t th[256];
    int started = 0;
    for (int t = 1; t < nt; t++) {
        if (pthread_create(&th[started], NULL, worker, &c) != 0)
            break; /* fewer threads is still correct */
        started++;
    }
    worker(&c);
    for (int t = 0; t < started; t++)
        pthread_join(th[t], NULL);
    pthread_mutex_destroy(&c.lock);
    if (c.nomem) return sa_error_set(err, SA_ERR_NOMEM, "evaluation: out of memory");

    sa_metrics *m = NULL;
    rc = sa_metrics_new(params.max_clicks, &m, err);
    if (rc != SA_OK) return rc;
    for (int i = 0; i < total; i++) {
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
    if (out->n_skipped == total)
        return sa_error_set(err, SA_ERR_NOT_FOUND, "%s: none of the %d items could be evaluated",
                            sa_dataset_name(ds), total);
    return SA_OK;
}
