/* The agent loop with in-process policies (no network): greedy steps, best predicted state, early stop,
 * unparseable replies, policy errors mid-episode (partial record), PRM-guided search with an oracle scorer and
 * duplicate candidates, first-action boxes (given and grounded, grounding failures), the simulated annotator
 * as a policy against a hand-written loop, and the output files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent_tools.h"
#include "segagent/grammar.h"
#include "segagent/agent.h"
#include "segagent/clicker.h"
#include "segagent/rle.h"
#include "testutil.h"

#define W 40
#define H 30

static sa_image img;
static sa_mask gt;

/* ---- a scripted policy: replies in order (NULL = a network failure); score = true IoU (oracle) ---- */
typedef struct scripted {
    const char *const *replies;
    int n, next;
    int scores; /* number of score calls */
} scripted;

static int sc_act(void *self, const sa_policy_obs *obs, int k, sa_policy_decision *out, int *n_out,
                  sa_error *err) {
    scripted *s = self;
    sa_grammar g = sa_grammar_default();
    for (int i = 0; i < k; i++) {
        if (s->next >= s->n || !s->replies[s->next]) {
            for (int j = 0; j < i; j++)
                free(out[j].text);
            *n_out = 0;
            s->next++;
            return sa_error_set(err, SA_ERR_NETWORK, "scripted outage at reply %d", s->next);
        }
        const char *t = s->replies[s->next++];
        out[i].text = strdup(t);
        float piou;
        out[i].status = sa_action_parse(t, &g, obs->image->width, obs->image->height,
                                        &out[i].action, &piou, NULL);
        out[i].pred_iou = piou;
        out[i].ms = 1;
    }
    *n_out = k;
    return SA_OK;
}

static int sc_score(void *self, const sa_policy_obs *obs, float *pred, char **text, sa_error *err) {
    (void)err;
    scripted *s = self;
    s->scores++;
    *pred = (float)(floor(sa_mask_iou(obs->mask, &gt, NULL) * 100 + 0.5) / 100);
    if (text) *text = strdup("oracle");
    return SA_OK;
}

static const sa_policy_ops sc_ops = {.name = "scripted", .act = sc_act, .score = sc_score};

static sa_policy *scripted_policy(scripted *s, const char *const *replies, int n) {
    memset(s, 0, sizeof *s);
    s->replies = replies;
    s->n = n;
    sa_policy *p = NULL;
    sa_policy_new(&sc_ops, s, &p, NULL);
    return p;
}

static sa_env *new_env(sa_tool *tool, const sa_mask *init) {
    sa_env *env = NULL;
    sa_env_new(tool, sa_env_default_params(), &env, NULL);
    sa_error err = {0};
    if (sa_env_reset(env, &img, "the ellipse", &gt, NULL, init, &err))
        fprintf(stderr, "reset: %s\n", err.msg);
    return env;
}

static void test_greedy_best_and_early_stop(sa_tool *tool) {
    const char *replies[] = {"Current IOU: 10\nPositive point: (467, 550)",
                             "Current IOU: 40\nPositive point: (467, 400)",
                             "Current IOU: 30\nPositive point: (467, 700)"};
    for (int es = 0; es < 2; es++) {
        scripted s;
        sa_policy *pol = scripted_policy(&s, replies, 3);
        sa_env *env = new_env(tool, NULL);
        sa_agent_params ap = sa_agent_default_params();
        ap.steps = 3;
        ap.early_stop = es;
        ap.request_text = "the prompt";
        sa_agent_result r;
        sa_error err = {0};
        int rc = sa_agent_run(env, pol, ap, &r, &err);
        CHECKF(rc == SA_OK, "greedy: %s", err.msg);
        if (!es) {
            CHECK(r.n_steps == 3 && r.n_clicks == 3 && !strcmp(r.stop, "steps"));
            CHECK(s.scores == 1); /* the last state is scored once */
            CHECK(fabsf(r.start_pred_iou - 0.10f) < 1e-6f);
            CHECK(fabsf(r.steps[0].pred_iou_after - 0.40f) < 1e-6f &&
                  fabsf(r.steps[1].pred_iou_after - 0.30f) < 1e-6f);
            /* M3 scored by the oracle; it decides whether M1 (0.40) stays best */
            float p3 = r.steps[2].pred_iou_after;
            CHECK(!isnan(p3));
            int want = p3 >= 0.40f ? 2 : 0;
            CHECKF(r.best_step == want, "best step %d want %d (p3 %f)", r.best_step, want, p3);
            CHECK(sa_mask_iou(&r.mask, &r.steps[want].mask, NULL) == 1.0);
        } else {
            /* at step 3 the reply says M2 (0.30) is not above M1 (0.40): stop before the tool call */
            CHECKF(!strcmp(r.stop, "early stop") && r.n_clicks == 2 && r.n_steps == 3,
                   "stop %s clicks %d", r.stop, r.n_clicks);
            CHECK(r.steps[2].committed == 0 && r.steps[2].status == SA_ERR_DONE);
            CHECK(r.best_step == 0 && s.scores == 0);
        }
        CHECK(!isnan(r.iou) && !isnan(r.final_iou));
        CHECK(r.request_text && !strcmp(r.request_text, "the prompt"));
        sa_agent_result_free(&r);
        sa_env_free(env);
        sa_policy_free(pol);
    }
}

static void test_unparseable_and_errors(sa_tool *tool) {
    /* unparseable reply at step 2: ends with M1, status OK */
    {
        const char *replies[] = {"Positive point: (467, 550)", "I would rather not."};
        scripted s;
        sa_policy *pol = scripted_policy(&s, replies, 2);
        sa_env *env = new_env(tool, NULL);
        sa_agent_params ap = sa_agent_default_params();
        sa_agent_result r;
        sa_error err = {0};
        CHECK(sa_agent_run(env, pol, ap, &r, &err) == SA_OK);
        CHECK(!strcmp(r.stop, "unparseable reply") && r.n_clicks == 1 && r.n_steps == 2);
        CHECK(r.steps[1].status == SA_ERR_PARSE && r.steps[1].error &&
              strstr(r.steps[1].error, "rather not"));
        CHECK(r.best_step == 0 && sa_mask_iou(&r.mask, &r.steps[0].mask, NULL) == 1.0);
        CHECK(s.scores == 0); /* no prediction anywhere: nothing to choose from, no scoring */
        sa_agent_result_free(&r);
        sa_env_free(env);
        sa_policy_free(pol);
    }
    /* out-of-range coordinates at step 1: the start mask is kept */
    {
        const char *replies[] = {"Positive point: (1200, 550)"};
        scripted s;
        sa_policy *pol = scripted_policy(&s, replies, 1);
        sa_env *env = new_env(tool, NULL);
        sa_agent_params ap = sa_agent_default_params();
        sa_agent_result r;
        CHECK(sa_agent_run(env, pol, ap, &r, NULL) == SA_OK);
        CHECK(r.n_clicks == 0 && r.best_step == -1 && sa_mask_area(&r.mask) == 0 &&
              r.steps[0].status == SA_ERR_RANGE);
        sa_agent_result_free(&r);
        sa_env_free(env);
        sa_policy_free(pol);
    }
    /* policy failure at step 3: the error comes back, with the record of steps 1-2 and the best mask so far */
    {
        const char *replies[] = {"Current IOU: 5\nPositive point: (467, 550)",
                                 "Current IOU: 50\nPositive point: (467, 400)", NULL};
        scripted s;
        sa_policy *pol = scripted_policy(&s, replies, 3);
        sa_env *env = new_env(tool, NULL);
        sa_agent_params ap = sa_agent_default_params();
        sa_agent_result r;
        sa_error err = {0};
        int rc = sa_agent_run(env, pol, ap, &r, &err);
        CHECKF(rc == SA_ERR_NETWORK && strstr(err.msg, "step 3") && strstr(err.msg, "outage"),
               "%d %s", rc, err.msg);
        CHECK(r.status == SA_ERR_NETWORK && !strcmp(r.stop, "policy error") && r.n_steps == 3 &&
              r.n_clicks == 2);
        CHECK(r.steps[2].error && strstr(r.steps[2].error, "outage"));
        CHECK(r.mask.data != NULL && r.best_step >= 0);
        sa_agent_result_free(&r);
        sa_env_free(env);
        sa_policy_free(pol);
    }
}

static void test_search(sa_tool *tool) {
    /* 3 candidates per step; the oracle scorer must pick the annotator's click wherever it sits */
    sa_env *env = new_env(tool, NULL);
    sa_grammar g = sa_grammar_default();
    const char *bad1 = "Positive point: (30, 30)";   /* background corner */
    const char *bad2 = "Negative point: (467, 550)"; /* inside the object */
    static char good[4][SA_ACTION_TEXT_MAX];
    const char *replies[12];
    /* precompute the annotator's clicks with a shadow env */
    sa_env *shadow = new_env(tool, NULL);
    for (int t = 0; t < 4; t++) {
        sa_clicker_click c;
        CHECK(sa_clicker_next(&gt, NULL, sa_env_mask(shadow), sa_env_clicks(shadow),
                              sa_env_n_clicks(shadow), &c, NULL) == SA_OK);
        sa_click ck = {c.y, c.x, c.positive};
        sa_action_format(&ck, &g, W, H, NAN, good[t], sizeof good[t], NULL);
        sa_action a = sa_action_click(c.y, c.x, c.positive);
        sa_env_step(shadow, &a, NULL, NULL);
        int pos = t % 3;
        replies[3 * t + pos] = good[t];
        replies[3 * t + (pos + 1) % 3] = bad1;
        replies[3 * t + (pos + 2) % 3] =
            t == 3 ? good[t] : bad2; /* a duplicate of the good one in step 4 */
    }
    scripted s;
    sa_policy *pol = scripted_policy(&s, replies, 12);
    sa_agent_params ap = sa_agent_default_params();
    ap.steps = 4;
    ap.search_k = 3;
    sa_agent_result r;
    sa_error err = {0};
    CHECKF(sa_agent_run(env, pol, ap, &r, &err) == SA_OK, "search: %s", err.msg);
    CHECK(r.n_steps == 4 && r.n_clicks == 4);
    for (int t = 0; t < r.n_steps; t++) {
        int pos = t % 3;
        CHECKF(r.steps[t].chosen == pos, "step %d chose %d, want %d", t + 1, r.steps[t].chosen,
               pos);
        for (int j = 0; j < 3; j++)
            CHECK(!isnan(r.steps[t].cands[j].pred_iou_out) && !isnan(r.steps[t].cands[j].iou_out));
    }
    CHECK(r.steps[3].cands[2].pred_iou_out == r.steps[3].cands[0].pred_iou_out);
    CHECK(s.scores ==
          4 * 2 + 3 + 0); /* 3 candidates x 4 steps, the duplicate reused, no extra final score */
    CHECK(sa_mask_iou(sa_env_mask(env), sa_env_mask(shadow), NULL) == 1.0);
    /* the returned state has the best predicted IoU among all states */
    for (int t = 0; t < r.n_steps; t++)
        CHECK(r.steps[t].pred_iou_after <= r.best_pred_iou);
    sa_agent_result_free(&r);
    sa_policy_free(pol);
    sa_env_free(env);
    sa_env_free(shadow);

    /* search needs a scorer */
    sa_policy *clk = NULL;
    sa_clicker_policy_new(&clk, NULL);
    env = new_env(tool, NULL);
    CHECK(sa_agent_run(env, clk, ap, &r, &err) == SA_ERR_UNSUPPORTED);
    sa_agent_result_free(&r);
    sa_env_free(env);
    sa_policy_free(clk);
}

static int ground_ok(void *ctx, const sa_image *im, const char *desc, sa_box *box, char **reply,
                     sa_error *err) {
    (void)ctx;
    (void)im;
    (void)desc;
    (void)err;
    *reply = strdup("<box>(250,167),(750,833)</box>");
    return sa_box_parse(*reply, W, H, box, err);
}

static int ground_bad(void *ctx, const sa_image *im, const char *desc, sa_box *box, char **reply,
                      sa_error *err) {
    (void)ctx;
    *reply = strdup("no idea");
    return sa_box_parse(*reply, im->width, im->height, box, err) == SA_OK && desc ? SA_OK
                                                                                  : SA_ERR_PARSE;
}

static void test_first_box(sa_tool *tool) {
    const char *replies[] = {"Positive point: (467, 550)"};
    for (int mode = 0; mode < 3; mode++) {
        scripted s;
        sa_policy *pol = scripted_policy(&s, replies, 1);
        sa_env *env = new_env(tool, NULL);
        sa_agent_params ap = sa_agent_default_params();
        ap.steps = 1;
        if (mode == 0) {
            ap.first = SA_FIRST_BOX;
            ap.box = (sa_box){10, 5, 30, 25};
        } else {
            ap.first = SA_FIRST_GROUND;
            ap.ground = mode == 1 ? ground_ok : ground_bad;
        }
        sa_agent_result r;
        sa_error err = {0};
        CHECKF(sa_agent_run(env, pol, ap, &r, &err) == SA_OK, "box mode %d: %s", mode, err.msg);
        CHECK(r.n_steps == 2 && r.steps[0].is_box && r.n_clicks == 1);
        if (mode < 2) {
            CHECK(r.steps[0].committed && sa_env_box(env) != NULL);
            CHECK(sa_mask_area(&r.steps[0].mask) == 21 * 21);
            if (mode == 1)
                CHECK(r.steps[0].box.x0 == 10 && r.steps[0].box.y0 == 5 && r.steps[0].ground_reply);
        } else {
            CHECK(!r.steps[0].committed && r.steps[0].status == SA_ERR_PARSE &&
                  r.steps[0].ground_reply && sa_env_box(env) == NULL);
        }
        sa_agent_result_free(&r);
        sa_env_free(env);
        sa_policy_free(pol);
    }
}

static void test_clicker_policy(sa_tool *tool) {
    sa_policy *clk = NULL;
    CHECK(sa_clicker_policy_new(&clk, NULL) == SA_OK);
    sa_env *env = new_env(tool, NULL), *ref = new_env(tool, NULL);
    sa_agent_params ap = sa_agent_default_params();
    ap.steps = 6;
    sa_agent_result r;
    sa_error err = {0};
    CHECKF(sa_agent_run(env, clk, ap, &r, &err) == SA_OK, "%s", err.msg);
    for (int t = 0; t < r.n_steps; t++) {
        sa_clicker_click c;
        int rc = sa_clicker_next(&gt, NULL, sa_env_mask(ref), sa_env_clicks(ref),
                                 sa_env_n_clicks(ref), &c, NULL);
        if (rc == SA_ERR_DONE) {
            CHECK(!strcmp(r.stop, "done"));
            break;
        }
        sa_action a = sa_action_click(c.y, c.x, c.positive);
        sa_env_step(ref, &a, NULL, NULL);
        CHECK(r.steps[t].committed && sa_mask_iou(&r.steps[t].mask, sa_env_mask(ref), NULL) == 1.0);
    }
    CHECK(r.best_step == r.n_steps - 1 ||
          !strcmp(r.stop, "done")); /* no predictions: the last state */
    /* the annotator declares it needs gt, so the loop passes it; an env without gt is a policy error, cleanly */
    CHECK(sa_policy_needs_gt(clk));
    sa_agent_result r2;
    sa_env_reset(env, &img, "x", NULL, NULL, NULL, NULL);
    CHECK(sa_agent_run(env, clk, ap, &r2, &err) == SA_ERR_INVALID && r2.n_steps == 1 &&
          r2.mask.data);
    sa_agent_result_free(&r2);
    sa_agent_result_free(&r);
    sa_env_free(env);
    sa_env_free(ref);
    sa_policy_free(clk);
}

static void test_outputs(sa_tool *tool) {
    const char *replies[] = {"Current IOU: 0\nPositive point: (467, 550)",
                             "Current IOU: 35\nNegative point: (30, 30)", "garbage"};
    scripted s;
    sa_policy *pol = scripted_policy(&s, replies, 3);
    sa_mask init = {0};
    sa_mask_new(&init, W, H, NULL);
    init.data[0] = 1;
    sa_env *env = new_env(tool, &init);
    sa_agent_params ap = sa_agent_default_params();
    ap.steps = 5;
    ap.request_text = "Please segment {x}";
    sa_agent_result r;
    sa_error err = {0};
    CHECK(sa_agent_run(env, pol, ap, &r, &err) == SA_OK);
    CHECK(r.start_mask.data[0] == 1);
    char *dir = tu_tmpdir();
    sa_grammar g = sa_grammar_default();
    CHECKF(sa_agent_write_outputs(&r, env, dir, &g, sa_overlay_default_style(), &err) == SA_OK,
           "%s", err.msg);
    const char *files[] = {"mask.png",    "mask.json",   "trajectory.json",
                           "step_00.png", "step_01.png", "step_02.png"};
    char path[1024];
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        struct stat st;
        CHECKF(stat(path, &st) == 0 && st.st_size > 0, "missing %s", files[i]);
    }
    snprintf(path, sizeof path, "%s/step_03.png", dir);
    CHECK(access(path, F_OK) != 0);
    snprintf(path, sizeof path, "%s/trajectory.json", dir);
    char *tj = tu_read_file(path, NULL);
    cJSON *root = tj ? cJSON_Parse(tj) : NULL;
    CHECK(root != NULL);
    if (root) {
        cJSON *steps = cJSON_GetObjectItem(root, "steps");
        CHECK(cJSON_GetArraySize(steps) == 3);
        cJSON *s1 = cJSON_GetArrayItem(steps, 0);
        cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(s1, "candidates"), 0);
        CHECK(!strcmp(cJSON_GetObjectItem(c0, "reply")->valuestring, replies[0]));
        CHECK(!strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(c0, "action"), "text")->valuestring,
                      "Positive point: (467, 550)"));
        CHECK(!strcmp(cJSON_GetObjectItem(s1, "request")->valuestring, "Please segment {x}"));
        CHECK(cJSON_IsNumber(cJSON_GetObjectItem(s1, "iou_after")));
        cJSON *s3 = cJSON_GetArrayItem(steps, 2);
        CHECK(!strcmp(cJSON_GetObjectItem(s3, "status")->valuestring, sa_strerror(SA_ERR_PARSE)));
        cJSON *res = cJSON_GetObjectItem(root, "result");
        CHECK(!strcmp(cJSON_GetObjectItem(res, "stop")->valuestring, "unparseable reply"));
        CHECK(r.best_step >= 0 &&
              cJSON_GetObjectItem(res, "state")->valueint == r.steps[r.best_step].index);
        CHECK(s.scores == 1 &&
              !isnan(r.steps[1].pred_iou_after)); /* M2 had no estimate: scored once */
        cJSON_Delete(root);
    }
    free(tj);
    snprintf(path, sizeof path, "%s/mask.json", dir);
    char *mj = tu_read_file(path, NULL);
    cJSON *mo = mj ? cJSON_Parse(mj) : NULL;
    sa_rle rle = {0};
    sa_mask back = {0};
    CHECK(mo && sa_rle_from_json(cJSON_GetObjectItem(mo, "segmentation"), &rle, NULL) == SA_OK &&
          sa_rle_decode(&rle, &back, NULL) == SA_OK && sa_mask_iou(&back, &r.mask, NULL) == 1.0 &&
          sa_mask_area(&back) > 0);
    sa_mask_free(&back);
    sa_rle_free(&rle);
    cJSON_Delete(mo);
    free(mj);
    snprintf(path, sizeof path, "%s/mask.png", dir);
    sa_mask m2 = {0};
    CHECK(sa_mask_load(path, -1, &m2, NULL, NULL) == SA_OK &&
          sa_mask_iou(&m2, &r.mask, NULL) == 1.0);
    sa_mask_free(&m2);
    /* a directory that does not exist: a clear error */
    CHECK(sa_agent_write_outputs(&r, env, "/nonexistent/dir", &g, sa_overlay_default_style(),
                                 &err) == SA_ERR_IO);
    free(dir);
    sa_agent_result_free(&r);
    sa_agent_result_free(NULL);
    sa_env_free(env);
    sa_policy_free(pol);
    sa_mask_free(&init);
}

int main(void) {
    sa_image_new(&img, W, H, 3, NULL);
    for (int i = 0; i < W * H * 3; i++)
        img.data[i] = (uint8_t)(i * 7 % 120);
    sa_mask_new(&gt, W, H, NULL);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double dy = (y - 14.0) / 9.0, dx = (x - 22.0) / 13.0;
            gt.data[y * W + x] = dx * dx + dy * dy <= 1.0;
        }
    sa_tool *tool = disc_tool_new();
    CHECK(tool != NULL);
    test_greedy_best_and_early_stop(tool);
    test_unparseable_and_errors(tool);
    test_search(tool);
    test_first_box(tool);
    test_clicker_policy(tool);
    test_outputs(tool);
    sa_tool_free(tool);
    sa_image_free(&img);
    sa_mask_free(&gt);
    return tu_finish("test_agent");
}
