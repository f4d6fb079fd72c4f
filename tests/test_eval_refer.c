/* The benchmark over referring sets: sa_eval_run_refer on the built-in scenes and on the refer
 * sample (the caption is the episode's description), and sa_eval_refer_summarize's cIoU / gIoU /
 * mIoU and cIoU by step checked against an independent computation: each episode replayed with
 * sa_eval_episode, the mask after every step compared with the ground truth pixel by pixel here. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/evaluate.h"
#include "segagent/graphcut.h"
#include "segagent/refer.h"
#include "testutil.h"

#define T 3

typedef struct replay {
    const sa_mask *gt;
    uint64_t inter[T], uni[T];
    int n;
} replay;

static int on_step(void *user, const sa_env *env, const sa_eval_step *st) {
    replay *r = user;
    const sa_mask *m = sa_env_mask(env);
    uint64_t in = 0, un = 0;
    for (size_t k = 0; k < (size_t)m->width * (size_t)m->height; k++) {
        in += m->data[k] && r->gt->data[k];
        un += m->data[k] || r->gt->data[k];
    }
    if (st->step >= 1 && st->step <= T) {
        r->inter[st->step - 1] = in;
        r->uni[st->step - 1] = un;
        r->n = st->step;
    }
    return 0;
}

static void check_set(sa_tool *tool, sa_refer *ds, int limit) {
    sa_error err = {0};
    sa_eval_params p = sa_eval_default_params();
    p.max_clicks = T;
    p.limit = limit;
    p.threads = 2;
    sa_eval_result res;
    int rc = sa_eval_run_refer(tool, ds, p, NULL, NULL, &res, &err);
    CHECKF(rc == SA_OK, "%s", err.msg);
    sa_eval_refer_summary s;
    CHECK(sa_eval_refer_summarize(&res, T, &s) == SA_OK);
    int n = limit > 0 && limit < sa_refer_count(ds) ? limit : sa_refer_count(ds);
    CHECK(res.n_samples == n && s.n_samples == n && s.n_failed == 0);
    /* independent: replay every sample and count pixels */
    uint64_t si = 0, su = 0, sti[T] = {0}, stu[T] = {0};
    double g = 0, mstep[T] = {0};
    for (int i = 0; i < n; i++) {
        const sa_refer_sample *rs = sa_refer_get(ds, i);
        CHECK(strcmp(res.samples[i].name, rs->id) == 0);
        sa_image img = {0};
        sa_mask gt = {0};
        CHECK(sa_refer_load(ds, i, &img, &gt, &err) == SA_OK);
        replay r = {&gt, {0}, {0}, 0};
        sa_eval_sample one;
        sa_eval_params q = p;
        q.threads = 1;
        CHECK(sa_eval_episode(tool, &img, &gt, NULL, q, on_step, &r, &one, &err) == SA_OK);
        sa_eval_sample_free(&one);
        CHECK(r.n >= 1);
        for (int t = r.n; t < T; t++) { /* nothing left to fix: the last mask stands */
            r.inter[t] = r.inter[r.n - 1];
            r.uni[t] = r.uni[r.n - 1];
        }
        for (int t = 0; t < T; t++) {
            sti[t] += r.inter[t];
            stu[t] += r.uni[t];
            mstep[t] += r.uni[t] ? (double)r.inter[t] / (double)r.uni[t] : 1.0;
        }
        si += r.inter[T - 1];
        su += r.uni[T - 1];
        g += r.uni[T - 1] ? (double)r.inter[T - 1] / (double)r.uni[T - 1] : 1.0;
        sa_image_free(&img);
        sa_mask_free(&gt);
    }
    double ciou = (double)si / (double)su, giou = g / n;
    CHECKF(fabs(s.ciou - ciou) < 1e-12, "%s: cIoU %.9f vs %.9f", sa_refer_name(ds), s.ciou, ciou);
    CHECKF(fabs(s.giou - giou) < 1e-12, "%s: gIoU %.9f vs %.9f", sa_refer_name(ds), s.giou, giou);
    for (int t = 0; t < T; t++) {
        CHECKF(fabs(s.miou_by_step[t] - mstep[t] / n) < 1e-12, "mIoU step %d", t + 1);
        CHECKF(fabs(s.ciou_by_step[t] - (double)sti[t] / (double)stu[t]) < 1e-12, "cIoU step %d",
               t + 1);
    }
    CHECK(s.ciou > 0.3 && s.giou > 0.3);
    printf("%s: %d samples, cIoU %.4f gIoU %.4f, mIoU by step %.4f %.4f %.4f\n", sa_refer_name(ds),
           n, s.ciou, s.giou, s.miou_by_step[0], s.miou_by_step[1], s.miou_by_step[2]);
    sa_eval_result_free(&res);
}

int main(void) {
    sa_error err = {0};
    sa_tool *tool = NULL;
    if (sa_graphcut_tool_new(sa_graphcut_default_params(), &tool, &err) != SA_OK) return 1;
    sa_refer *ds = NULL;
    CHECKF(sa_refer_open_scenes(&ds, &err) == SA_OK, "%s", err.msg);
    if (ds) check_set(tool, ds, 0);
    sa_refer_free(ds);
    /* the summary of a result with nothing measured, and bad arguments */
    sa_eval_result empty;
    memset(&empty, 0, sizeof empty);
    sa_eval_refer_summary s;
    CHECK(sa_eval_refer_summarize(&empty, T, &s) == SA_OK && isnan(s.ciou) && s.n_samples == 0);
    CHECK(sa_eval_refer_summarize(&empty, 0, &s) == SA_ERR_INVALID);
    sa_eval_params p = sa_eval_default_params();
    CHECK(sa_eval_run_refer(tool, NULL, p, NULL, NULL, &empty, &err) == SA_ERR_INVALID);
    tu_require_shared();
    char *dir = tu_shared_path("data/refer_sample/refer/refcoco");
    char *images = tu_shared_path("data/refer_sample/images/train2014");
    ds = NULL;
    CHECKF(sa_refer_open("refcoco", "val", dir, images, sa_refer_default_params(), &ds, &err) ==
               SA_OK,
           "%s", err.msg);
    if (ds) check_set(tool, ds, 4);
    sa_refer_free(ds);
    free(dir);
    free(images);
    sa_tool_free(tool);
    return tu_finish("test_eval_refer");
}
