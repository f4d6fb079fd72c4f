/* End to end over HTTP: the agent drives the loopback scripted server (tests/policy_server.py), which decodes
 * the overlay it receives and plays the simulated annotator against ground truth. The masks must be exactly
 * those of the in-process simulated annotator with the same tool (disc tool and the built-in graph cut), for
 * greedy runs in both grammars, and PRM-guided search must pick the annotator's candidate when the server's
 * "Current IOU" is the true IoU (with n honoured and with n refused). Misbehaving servers end episodes
 * cleanly with a partial trajectory; a grounded first box comes from the server. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "agent_tools.h"
#include "policy_server.h"
#include "segagent/agent.h"
#include "segagent/graphcut.h"
#include "segagent/llm_policy.h"
#include "testutil.h"

#define W 48
#define H 36

static sa_image img;
static sa_mask gt;
static test_server srv;

static sa_llm_params params_for(const char *model) {
    sa_llm_params p = sa_llm_default_params();
    p.base_url = srv.base_url;
    p.model = model;
    p.image_format = SA_LLM_PNG;
    p.backoff_s = 0.01;
    p.retries = 1;
    p.seed = 0;
    return p;
}

static int run(sa_tool *tool, sa_policy *pol, sa_agent_params ap, sa_agent_result *r,
               sa_env **env_out, sa_error *err) {
    sa_env *env = NULL;
    sa_env_new(tool, sa_env_default_params(), &env, NULL);
    sa_env_reset(env, &img, "the blob", &gt, NULL, NULL, NULL);
    int rc = sa_agent_run(env, pol, ap, r, err);
    if (env_out)
        *env_out = env;
    else
        sa_env_free(env);
    return rc;
}

/* Masks after every step of the in-process annotator (reference). */
static sa_agent_result reference(sa_tool *tool, int steps) {
    sa_policy *clk = NULL;
    sa_clicker_policy_new(&clk, NULL);
    sa_agent_params ap = sa_agent_default_params();
    ap.steps = steps;
    ap.best_of = 0;
    sa_agent_result r;
    sa_error err = {0};
    CHECKF(run(tool, clk, ap, &r, NULL, &err) == SA_OK, "reference: %s", err.msg);
    /* the comparison is only worth something over several clicks that change the mask */
    CHECKF(r.n_clicks >= 4, "reference made only %d clicks", r.n_clicks);
    printf("reference (%s): %d clicks, IoU %.4f -> %.4f\n", sa_tool_name(tool), r.n_clicks,
           r.n_steps ? r.steps[0].iou_after : NAN, r.final_iou);
    sa_policy_free(clk);
    return r;
}

static void same_masks(const char *what, const sa_agent_result *ref, const sa_agent_result *r) {
    int n = 0;
    for (int i = 0; i < ref->n_steps; i++)
        if (ref->steps[i].committed) n++;
    CHECKF(r->n_clicks == n, "%s: %d clicks, reference %d (stop %s: %s)", what, r->n_clicks, n,
           r->stop, r->error);
    int j = 0;
    for (int i = 0; i < r->n_steps && j < ref->n_steps; i++) {
        if (!r->steps[i].committed || r->steps[i].is_box) continue;
        CHECKF(sa_mask_iou(&r->steps[i].mask, &ref->steps[j].mask, NULL) == 1.0 &&
                   r->steps[i].action.click.y == ref->steps[j].action.click.y &&
                   r->steps[i].action.click.x == ref->steps[j].action.click.x,
               "%s: step %d differs: (%d,%d) vs (%d,%d)", what, i + 1, r->steps[i].action.click.y,
               r->steps[i].action.click.x, ref->steps[j].action.click.y,
               ref->steps[j].action.click.x);
        j++;
    }
}

static void test_greedy_matches_annotator(sa_tool *tool, const char *tname) {
    sa_agent_result ref = reference(tool, 8);
    const char *models[] = {"annotator", "annotator-xy-float", "annotator-iou-comma"};
    for (int mi = 0; mi < 3; mi++) {
        sa_llm_params p = params_for(models[mi]);
        if (strstr(models[mi], "-xy")) p.grammar.axis = SA_AXIS_XY;
        if (strstr(models[mi], "-float")) p.grammar.coords = SA_COORDS_FLOAT1;
        sa_policy *pol = NULL;
        sa_error err = {0};
        CHECK(sa_llm_policy_new(p, &pol, NULL, &err) == SA_OK);
        sa_agent_params ap = sa_agent_default_params();
        ap.steps = 8;
        ap.best_of = 0;
        sa_agent_result r;
        int rc = run(tool, pol, ap, &r, NULL, &err);
        CHECKF(rc == SA_OK, "%s/%s: %s", tname, models[mi], err.msg);
        char what[96];
        snprintf(what, sizeof what, "%s/%s", tname, models[mi]);
        same_masks(what, &ref, &r);
        if (strstr(models[mi], "-iou")) /* the server's estimate is the true IoU of what it saw */
            for (int i = 0; i < r.n_steps; i++)
                CHECK(isnan(r.steps[i].pred_iou_before) ||
                      fabs(r.steps[i].pred_iou_before -
                           floor(r.steps[i].iou_before * 100 + 0.5) / 100) < 1e-6);
        sa_agent_result_free(&r);
        sa_policy_free(pol);
    }
    sa_agent_result_free(&ref);
}

static void test_search(sa_tool *tool) {
    sa_agent_result ref = reference(tool, 5);
    const char *models[] = {"annotator-iou", "no-n"};
    for (int mi = 0; mi < 2; mi++) {
        sa_llm_params p = params_for(models[mi]);
        p.temperature = 0.7;
        sa_policy *pol = NULL;
        sa_llm_client *cl = NULL;
        sa_error err = {0};
        CHECK(sa_llm_policy_new(p, &pol, &cl, &err) == SA_OK);
        sa_agent_params ap = sa_agent_default_params();
        ap.steps = 5;
        ap.search_k = 3;
        ap.best_of = 1;
        sa_agent_result r;
        CHECKF(run(tool, pol, ap, &r, NULL, &err) == SA_OK, "search %s: %s", models[mi], err.msg);
        int want = mi == 0 ? 2 : 0; /* n honoured: annotator last; seeds: seed 0 is the annotator */
        for (int i = 0; i < r.n_steps; i++)
            if (r.steps[i].committed)
                CHECKF(r.steps[i].chosen == want && r.steps[i].n_candidates == 3,
                       "search %s step %d chose %d", models[mi], i + 1, r.steps[i].chosen);
        same_masks(models[mi], &ref, &r);
        CHECK(!isnan(r.best_pred_iou) &&
              fabs(r.best_pred_iou - floor(r.iou * 100 + 0.5) / 100) < 1e-6);
        sa_agent_result_free(&r);
        sa_policy_free(pol);
    }
    sa_agent_result_free(&ref);
}

static int ground_hook(void *ctx, const sa_image *im, const char *desc, sa_box *box, char **reply,
                       sa_error *err) {
    return sa_llm_ground((sa_llm_client *)ctx, im, desc, box, reply, err);
}

static void test_ground(sa_tool *tool) {
    sa_llm_params p = params_for("annotator-iou");
    sa_policy *pol = NULL;
    sa_llm_client *cl = NULL;
    sa_error err = {0};
    CHECK(sa_llm_policy_new(p, &pol, &cl, &err) == SA_OK);
    sa_agent_params ap = sa_agent_default_params();
    ap.steps = 3;
    ap.first = SA_FIRST_GROUND;
    ap.ground = ground_hook;
    ap.ground_ctx = cl;
    sa_agent_result r;
    CHECKF(run(tool, pol, ap, &r, NULL, &err) == SA_OK, "ground: %s", err.msg);
    int bb[4];
    sa_mask_bbox(&gt, bb);
    CHECK(r.n_steps >= 1 && r.steps[0].is_box && r.steps[0].committed);
    CHECKF(r.steps[0].box.x0 == bb[0] && r.steps[0].box.y0 == bb[1] &&
               r.steps[0].box.x1 == bb[0] + bb[2] - 1 && r.steps[0].box.y1 == bb[1] + bb[3] - 1,
           "grounded box %g,%g,%g,%g", r.steps[0].box.x0, r.steps[0].box.y0, r.steps[0].box.x1,
           r.steps[0].box.y1);
    CHECK(r.steps[0].iou_after > 0.5);
    sa_agent_result_free(&r);
    sa_policy_free(pol);
}

static void test_misbehaving(sa_tool *tool) {
    char *dir = tu_tmpdir();
    struct {
        const char *model;
        int rc;
        const char *stop;
        int min_clicks;
    } cases[] = {
        {"malformed", SA_OK, "unparseable reply", 0},
        {"range", SA_OK, "unparseable reply", 0},
        {"http500", SA_ERR_NETWORK, "policy error", 0},
        {"nonjson", SA_ERR_PARSE, "policy error", 0},
        {"nochoices", SA_ERR_PARSE, "policy error", 0},
        {"drop", SA_ERR_NETWORK, "policy error", 0},
        {"no-such-model", SA_ERR_NETWORK, "policy error", 0},
        {"die-after-3", SA_ERR_NETWORK, "policy error", 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sa_llm_params p = params_for(cases[i].model);
        sa_policy *pol = NULL;
        sa_error err = {0};
        CHECK(sa_llm_policy_new(p, &pol, NULL, &err) == SA_OK);
        sa_agent_params ap = sa_agent_default_params();
        ap.steps = 6;
        sa_agent_result r;
        sa_env *env = NULL;
        int rc = run(tool, pol, ap, &r, &env, &err);
        CHECKF(rc == cases[i].rc && !strcmp(r.stop, cases[i].stop) &&
                   r.n_clicks == cases[i].min_clicks,
               "%s: rc %d stop %s clicks %d (%s)", cases[i].model, rc, r.stop, r.n_clicks, err.msg);
        if (rc)
            CHECKF(strstr(err.msg, srv.base_url) != NULL, "%s: error does not name the server: %s",
                   cases[i].model, err.msg);
        CHECK(r.mask.data != NULL && r.n_steps == r.n_clicks + 1);
        /* the partial trajectory is written and says what happened */
        char sub[1024], path[1100];
        snprintf(sub, sizeof sub, "%s/%zu", dir, i);
        mkdir(sub, 0755);
        sa_grammar g = sa_grammar_default();
        CHECK(sa_agent_write_outputs(&r, env, sub, &g, sa_overlay_default_style(), &err) == SA_OK);
        snprintf(path, sizeof path, "%s/trajectory.json", sub);
        char *tj = tu_read_file(path, NULL);
        cJSON *root = tj ? cJSON_Parse(tj) : NULL;
        CHECK(root && cJSON_GetArraySize(cJSON_GetObjectItem(root, "steps")) == r.n_steps);
        if (root) {
            cJSON *last = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "steps"), r.n_steps - 1);
            CHECK(cJSON_IsString(cJSON_GetObjectItem(last, "error")));
        }
        cJSON_Delete(root);
        free(tj);
        sa_agent_result_free(&r);
        sa_env_free(env);
        sa_policy_free(pol);
    }
    free(dir);
}

int main(void) {
    sa_image_new(&img, W, H, 3, NULL);
    sa_mask_new(&gt, W, H, NULL);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double dy = (y - 17.0) / 11.0, dx = (x - 25.0) / 16.0;
            int in = dx * dx + dy * dy <= 1.0 || (x > 36 && x < 44 && y > 4 && y < 30);
            gt.data[y * W + x] = (uint8_t)in;
            uint8_t *px = img.data + 3 * (y * W + x);
            px[0] = (uint8_t)(in ? 200 : 40 + (x * 3) % 30);
            px[1] = (uint8_t)(in ? 90
                                 : 20 + (y * 5) %
                                            40); /* green below 127: the overlay decodes exactly */
            px[2] = (uint8_t)(in ? 60 : 150);
        }
    char *dir = tu_tmpdir();
    char gt_path[1024];
    snprintf(gt_path, sizeof gt_path, "%s/gt.png", dir);
    sa_error err = {0};
    if (sa_mask_save_png(gt_path, &gt, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    if (ts_start(&srv, gt_path)) return 1;
    sa_tool *disc = disc_tool_new();
    sa_tool *gc = NULL;
    CHECKF(sa_graphcut_tool_new(sa_graphcut_default_params(), &gc, &err) == SA_OK, "graphcut: %s",
           err.msg);
    test_greedy_matches_annotator(disc, "disc");
    if (gc) test_greedy_matches_annotator(gc, "graphcut");
    test_search(disc);
    test_ground(disc);
    test_misbehaving(disc);
    ts_stop(&srv);
    sa_tool_free(disc);
    sa_tool_free(gc);
    sa_image_free(&img);
    sa_mask_free(&gt);
    remove(gt_path);
    free(dir);
    return tu_finish("test_agent_server");
}
