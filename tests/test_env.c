/* The environment and the policy dispatch, driven by a toy tool (a disc of radius 6 per click: positive adds,
 * negative removes), so every expected mask is known exactly. */
#include <math.h>
#include <string.h>

#include "segagent/clicker.h"
#include "segagent/env.h"
#include "segagent/policy.h"
#include "testutil.h"

typedef struct disc_state {
    int w, h;
} disc_state;

static int disc_session_new(void *model, const sa_image *img, void **state, sa_error *err) {
    (void)model;
    disc_state *s = malloc(sizeof *s);
    if (!s) return sa_error_set(err, SA_ERR_NOMEM, "oom");
    s->w = img->width;
    s->h = img->height;
    *state = s;
    return SA_OK;
}

static int disc_predict(void *state, const sa_tool_request *req, sa_tool_result *out,
                        sa_error *err) {
    disc_state *s = state;
    int rc = sa_mask_new(&out->mask, s->w, s->h, err);
    if (rc) return rc;
    if (req->init_mask) memcpy(out->mask.data, req->init_mask->data, (size_t)s->w * (size_t)s->h);
    for (int i = 0; i < req->n_clicks; i++) {
        const sa_click *c = &req->clicks[i];
        for (int y = 0; y < s->h; y++)
            for (int x = 0; x < s->w; x++)
                if ((y - c->y) * (y - c->y) + (x - c->x) * (x - c->x) <= 36)
                    out->mask.data[(size_t)y * (size_t)s->w + (size_t)x] = (uint8_t)c->positive;
    }
    return SA_OK;
}

static void disc_session_free(void *state) {
    free(state);
}

/* A tool with a probability map: prob 0.6 on the disc of each positive click, 0.45 elsewhere; its own binary
 * mask is prob > 0.5. Counts its calls and remembers the last request's shape. */
typedef struct prob_log {
    int calls, last_n_clicks, last_had_prev, last_had_init, last_had_box;
} prob_log;

static int prob_session_new(void *model, const sa_image *img, void **state, sa_error *err) {
    (void)img;
    (void)err;
    *state = model;
    return SA_OK;
}

static int prob_predict(void *state, const sa_tool_request *req, sa_tool_result *out,
                        sa_error *err) {
    prob_log *lg = state;
    lg->calls++;
    lg->last_n_clicks = req->n_clicks;
    lg->last_had_prev = req->prev != NULL;
    lg->last_had_init = req->init_mask != NULL;
    lg->last_had_box = req->box != NULL;
    int rc = sa_mask_new(&out->mask, 40, 30, err);
    if (rc) return rc;
    out->prob = malloc(40 * 30 * sizeof(float));
    if (!out->prob) return sa_error_set(err, SA_ERR_NOMEM, "oom");
    for (int i = 0; i < 40 * 30; i++)
        out->prob[i] = 0.45f;
    for (int i = 0; i < req->n_clicks; i++)
        for (int y = 0; y < 30; y++)
            for (int x = 0; x < 40; x++)
                if (req->clicks[i].positive &&
                    (y - req->clicks[i].y) * (y - req->clicks[i].y) +
                            (x - req->clicks[i].x) * (x - req->clicks[i].x) <=
                        36)
                    out->prob[y * 40 + x] = 0.6f;
    for (int i = 0; i < 40 * 30; i++)
        out->mask.data[i] = out->prob[i] > 0.5f;
    return SA_OK;
}

static void prob_session_free(void *state) {
    (void)state;
}

static const sa_tool_ops prob_ops = {
    .name = "prob",
    .accepts_box = 1,
    .session_new = prob_session_new,
    .predict = prob_predict,
    .session_free = prob_session_free,
};

/* The engine's threshold, restart, prompts-only prediction and the measured intersection/union. */
static void test_threshold_restart_prompts(const sa_image *img, const sa_mask *gt) {
    prob_log lg = {0};
    sa_tool *tool = NULL;
    sa_error err = {0};
    CHECK(sa_tool_new(&prob_ops, &lg, &tool, &err) == SA_OK);
    sa_env_params ep = sa_env_default_params();
    CHECK(isnan(ep.prob_threshold));
    sa_env *plain = NULL, *thr = NULL;
    CHECK(sa_env_new(tool, ep, &plain, &err) == SA_OK);
    ep.prob_threshold = 0.4f; /* below 0.45: every pixel is object */
    CHECK(sa_env_new(tool, ep, &thr, &err) == SA_OK);
    ep.prob_threshold = 1.5f;
    sa_env *bad = NULL;
    CHECK(sa_env_new(tool, ep, &bad, &err) == SA_ERR_RANGE && bad == NULL);
    CHECK(sa_env_reset(plain, img, "x", gt, NULL, NULL, &err) == SA_OK);
    CHECK(sa_env_reset(thr, img, "x", gt, NULL, NULL, &err) == SA_OK);
    sa_action a = sa_action_click(12, 18, 1);
    sa_env_step_info info;
    CHECK(sa_env_step(plain, &a, &info, &err) == SA_OK);
    size_t disc = sa_mask_area(sa_env_mask(plain));
    CHECK(disc > 100 && disc < 120);
    uint64_t in = 0, un = 0;
    sa_env_inter_union(plain, &in, &un);
    CHECK(in == info.inter && un == info.uni && un == 15 * 22 &&
          info.iou == (double)in / (double)un);
    CHECK(sa_env_step(thr, &a, &info, &err) == SA_OK);
    CHECK(sa_mask_area(sa_env_mask(thr)) == 40 * 30 && info.inter == 15 * 22 &&
          info.uni == 40 * 30);
    /* the thresholded mask is what the tool gets back as prev */
    CHECK(sa_env_result(thr)->mask.data[0] == 1);

    /* prompts alone: no prev, no init, state untouched; a box needs a box tool (this one takes boxes) */
    sa_mask m = {0};
    sa_click two[2] = {{5, 5, 1}, {25, 35, 1}};
    CHECK(sa_env_predict_prompts(plain, two, 2, NULL, &m, &err) == SA_OK);
    CHECK(lg.last_n_clicks == 2 && !lg.last_had_prev && !lg.last_had_init && !lg.last_had_box);
    CHECK(sa_env_n_clicks(plain) == 1 && sa_mask_area(sa_env_mask(plain)) == disc);
    sa_mask_free(&m);
    sa_box box = {8, 5, 29, 19};
    CHECK(sa_env_predict_prompts(plain, NULL, 0, &box, &m, &err) == SA_OK && lg.last_had_box);
    sa_mask_free(&m);

    /* a stateless request: prompts and the client's previous mask as init, the state untouched */
    sa_tool_result rr = {0};
    CHECK(sa_env_predict_request(plain, two, 2, NULL, gt, &rr, &err) == SA_OK);
    CHECK(lg.last_n_clicks == 2 && !lg.last_had_prev && lg.last_had_init && rr.mask.data != NULL);
    CHECK(sa_env_n_clicks(plain) == 1 && sa_mask_area(sa_env_mask(plain)) == disc);
    sa_tool_result_free(&rr);
    CHECK(sa_env_predict_request(thr, two, 2, NULL, NULL, &rr, &err) == SA_OK);
    CHECK(sa_mask_area(&rr.mask) == 40 * 30); /* thresholded like a step */
    sa_tool_result_free(&rr);
    CHECK(sa_env_predict_request(plain, two, -1, NULL, NULL, &rr, &err) == SA_ERR_INVALID);
    CHECK(sa_env_predict_request(plain, two, SA_MAX_CLICKS + 1, NULL, NULL, &rr, &err) ==
          SA_ERR_INVALID);
    sa_mask tiny = {0};
    CHECK(sa_mask_new(&tiny, 3, 3, &err) == SA_OK);
    CHECK(sa_env_predict_request(plain, two, 2, NULL, &tiny, &rr, &err) == SA_ERR_RANGE &&
          !rr.mask.data);
    sa_mask_free(&tiny);
    CHECK(sa_env_set_description(plain, "the dog", &err) == SA_OK);
    CHECK(strcmp(sa_env_description(plain), "the dog") == 0 && lg.calls > 0);

    /* restart: same image and tool session, state from the given mask, next step gets it as init */
    int calls = lg.calls;
    CHECK(sa_env_restart(plain, gt, &err) == SA_OK);
    CHECK(sa_env_steps(plain) == 0 && sa_env_n_clicks(plain) == 0 && sa_env_result(plain) == NULL);
    CHECK(sa_env_iou(plain) == 1.0 && lg.calls == calls);
    CHECK(sa_env_step(plain, &a, &info, &err) == SA_OK);
    CHECK(lg.last_had_init && !lg.last_had_prev && lg.last_n_clicks == 1 && info.prev_iou == 1.0);
    CHECK(sa_env_restart(plain, NULL, &err) == SA_OK && sa_mask_area(sa_env_mask(plain)) == 0);
    sa_mask small = {0};
    CHECK(sa_mask_new(&small, 4, 4, &err) == SA_OK);
    CHECK(sa_env_restart(plain, &small, &err) == SA_ERR_RANGE);
    sa_mask_free(&small);
    sa_env *fresh = NULL;
    CHECK(sa_env_new(tool, sa_env_default_params(), &fresh, &err) == SA_OK);
    CHECK(sa_env_restart(fresh, NULL, &err) == SA_ERR_STATE); /* nothing to restart */
    CHECK(sa_env_predict_prompts(fresh, two, 2, NULL, &m, &err) == SA_ERR_STATE);
    CHECK(sa_env_predict_request(fresh, two, 2, NULL, NULL, &rr, &err) == SA_ERR_STATE);
    CHECK(sa_env_set_description(fresh, "x", &err) == SA_ERR_STATE);
    sa_env_free(fresh);
    sa_env_free(plain);
    sa_env_free(thr);
    sa_tool_free(tool);
}

static const sa_tool_ops disc_ops = {
    .name = "disc",
    .accepts_box = 0,
    .session_new = disc_session_new,
    .predict = disc_predict,
    .session_free = disc_session_free,
};

int main(void) {
    sa_error err = {0};
    sa_tool *tool = NULL;
    CHECK(sa_tool_new(&disc_ops, NULL, &tool, &err) == SA_OK);
    sa_image img = {0};
    CHECK(sa_image_new(&img, 40, 30, 3, &err) == SA_OK);
    sa_mask gt = {0};
    CHECK(sa_mask_new(&gt, 40, 30, &err) == SA_OK);
    for (int y = 5; y < 20; y++)
        for (int x = 8; x < 30; x++)
            gt.data[y * 40 + x] = 1;

    sa_env *env = NULL;
    CHECK(sa_env_new(tool, sa_env_default_params(), &env, &err) == SA_OK);
    CHECK(sa_env_reset(env, &img, "a box", &gt, NULL, NULL, &err) == SA_OK);
    CHECK(sa_mask_area(sa_env_mask(env)) == 0);
    CHECK(sa_env_iou(env) == 0.0);
    CHECK(sa_env_result(env) == NULL);

    /* A step with a positive click: the disc of radius 6 (113 pixels) fully inside the gt. */
    sa_action a = sa_action_click(12, 18, 1);
    sa_env_step_info info;
    CHECK(sa_env_step(env, &a, &info, &err) == SA_OK);
    CHECK(sa_mask_area(sa_env_mask(env)) == 113);
    CHECKF(fabs(info.iou - 113.0 / (15.0 * 22.0)) < 1e-12, "iou %g", info.iou);
    CHECK(info.prev_iou == 0.0 && info.step == 1);
    CHECK(sa_env_n_clicks(env) == 1 && sa_env_steps(env) == 1);

    /* Preview does not change the state; commit adopts the previewed result. */
    sa_action b = sa_action_click(12, 26, 1);
    sa_tool_result res = {0};
    CHECK(sa_env_preview(env, &b, &res, &err) == SA_OK);
    CHECK(sa_env_n_clicks(env) == 1 && sa_mask_area(sa_env_mask(env)) == 113);
    size_t area2 = sa_mask_area(&res.mask);
    CHECK(area2 > 113);
    CHECK(sa_env_commit(env, &b, &res, &info, &err) == SA_OK);
    CHECK(res.mask.data == NULL); /* ownership moved */
    CHECK(sa_mask_area(sa_env_mask(env)) == area2 && sa_env_n_clicks(env) == 2);

    /* Bad actions leave the state alone, with a message. */
    sa_action out_of_image = sa_action_click(30, 5, 1);
    CHECK(sa_env_step(env, &out_of_image, &info, &err) == SA_ERR_RANGE);
    CHECK(strstr(err.msg, "outside") != NULL);
    sa_action box = sa_action_box(1, 1, 10, 10);
    CHECK(sa_env_step(env, &box, &info, &err) != SA_OK); /* not first, and tool takes no boxes */
    CHECK(sa_env_n_clicks(env) == 2);
    /* Commit applies the same rules as preview: a result may not be recorded under an action preview refuses. */
    sa_action c3 = sa_action_click(14, 20, 0);
    CHECK(sa_env_preview(env, &c3, &res, &err) == SA_OK);
    CHECK(sa_env_commit(env, &box, &res, &info, &err) != SA_OK);
    CHECK(sa_env_box(env) == NULL && sa_env_steps(env) == 2);
    sa_action bogus = c3;
    bogus.kind = (sa_action_kind)7;
    CHECK(sa_env_commit(env, &bogus, &res, &info, &err) == SA_ERR_INVALID);
    CHECK(sa_env_commit(env, &out_of_image, &res, &info, &err) == SA_ERR_RANGE);
    CHECK(sa_env_steps(env) == 2 && sa_env_n_clicks(env) == 2);
    sa_tool_result_free(&res);

    /* The simulated annotator as a policy drives the env to the target. */
    sa_policy *pol = NULL;
    CHECK(sa_clicker_policy_new(&pol, &err) == SA_OK);
    CHECK(sa_env_reset(env, &img, "a box", &gt, NULL, NULL, &err) == SA_OK);
    double best = 0.0;
    for (int t = 0; t < 20; t++) {
        sa_policy_obs obs = sa_policy_obs_from_env(env);
        sa_policy_decision d[1];
        int n = 0;
        int rc = sa_policy_act(pol, &obs, 1, d, &n, &err);
        if (rc == SA_ERR_DONE) break;
        CHECK(rc == SA_OK && n == 1 && d[0].status == SA_OK);
        if (t == 0) {
            /* The deepest gt pixel (distance 8 to the padded border), first in row-major order: (12, 15). */
            CHECKF(d[0].action.click.y == 12 && d[0].action.click.x == 15 &&
                       d[0].action.click.positive,
                   "first click (%d, %d, %d)", d[0].action.click.y, d[0].action.click.x,
                   d[0].action.click.positive);
        }
        CHECK(sa_env_step(env, &d[0].action, &info, &err) == SA_OK);
        if (info.iou > best) best = info.iou;
        sa_policy_decisions_free(d, n);
    }
    CHECK(sa_env_n_clicks(env) >= 2);
    CHECKF(best > 0.6, "simulated annotator with the disc tool reached IoU %g at best", best);

    /* Without ground truth the annotator refuses clearly. */
    CHECK(sa_env_reset(env, &img, "x", NULL, NULL, NULL, &err) == SA_OK);
    CHECK(isnan(sa_env_iou(env)));
    sa_policy_obs obs = sa_policy_obs_from_env(env);
    sa_policy_decision d[1];
    int n = 0;
    CHECK(sa_policy_act(pol, &obs, 1, d, &n, &err) == SA_ERR_INVALID);

    /* Size mismatch between gt and image is refused at reset. */
    sa_mask small = {0};
    CHECK(sa_mask_new(&small, 10, 10, &err) == SA_OK);
    CHECK(sa_env_reset(env, &img, "x", &small, NULL, NULL, &err) == SA_ERR_RANGE);
    CHECK(strstr(err.msg, "ground truth") != NULL);

    /* Refinement starts from the initial mask. */
    CHECK(sa_env_reset(env, &img, "x", &gt, NULL, &gt, &err) == SA_OK);
    CHECK(sa_env_iou(env) == 1.0);

    sa_mask_free(&small);
    test_threshold_restart_prompts(&img, &gt);
    sa_policy_free(pol);
    sa_env_free(env);
    sa_tool_free(tool);
    sa_mask_free(&gt);
    sa_image_free(&img);
    sa_env_free(NULL);
    sa_tool_free(NULL);
    sa_policy_free(NULL);
    return tu_finish("test_env");
}
