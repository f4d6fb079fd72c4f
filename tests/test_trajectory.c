/* Trajectory recording and the released JSON format.
 *
 * The recorder is driven by a scripted tool: the k-th prediction of a session returns the top rows[k] rows of
 * a 20x20 ground-truth square, so the IoU after each call is exactly rows[k]/20 and every stopping rule
 * (strict rise, target, max clicks) is exercised on known numbers. The tool logs what it was given (clicks,
 * previous result, init mask, box) so the request contract is checked too. */
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "segagent/clicker.h"
#include "segagent/env.h"
#include "segagent/policy.h"
#include "segagent/record.h"
#include "segagent/rle.h"
#include "segagent/trajectory.h"
#include "testutil.h"

#define W 40
#define H 40
#define MAXCALLS 32

typedef struct script {
    int rows[MAXCALLS]; /* rows of the gt square covered by the k-th prediction */
    int n_rows;
    int use_prob; /* return a probability map (mask all zero, prob 0.5 / 0.45) */
    int accepts_box;
    /* log */
    int calls;
    int n_clicks[MAXCALLS];
    int had_prev[MAXCALLS];
    int had_init[MAXCALLS];
    int had_box[MAXCALLS];
    sa_box box;
    sa_click first_clicks[64];
    int n_first;
    size_t init_area;
} script;

static int sc_session_new(void *model, const sa_image *img, void **state, sa_error *err) {
    (void)img;
    (void)err;
    *state = model;
    return SA_OK;
}

static int sc_predict(void *state, const sa_tool_request *req, sa_tool_result *out, sa_error *err) {
    script *s = state;
    int k = s->calls < MAXCALLS ? s->calls : MAXCALLS - 1;
    s->n_clicks[k] = req->n_clicks;
    s->had_prev[k] = req->prev != NULL;
    s->had_init[k] = req->init_mask != NULL;
    s->had_box[k] = req->box != NULL;
    if (req->box) s->box = *req->box;
    if (req->init_mask) s->init_area = sa_mask_area(req->init_mask);
    if (s->calls == 0) {
        s->n_first = req->n_clicks < 64 ? req->n_clicks : 64;
        if (s->n_first) memcpy(s->first_clicks, req->clicks, (size_t)s->n_first * sizeof(sa_click));
    }
    int r = s->rows[k < s->n_rows ? k : s->n_rows - 1];
    s->calls++;
    int rc = sa_mask_new(&out->mask, W, H, err);
    if (rc) return rc;
    if (s->use_prob) {
        out->prob = malloc(W * H * sizeof(float));
        if (!out->prob) return sa_error_set(err, SA_ERR_NOMEM, "oom");
        for (int i = 0; i < W * H; i++)
            out->prob[i] = 0.45f;
    }
    for (int y = 10; y < 10 + r; y++)
        for (int x = 10; x < 30; x++) {
            if (s->use_prob)
                out->prob[y * W + x] = 0.5f;
            else
                out->mask.data[y * W + x] = 1;
        }
    return SA_OK;
}

static void sc_session_free(void *state) {
    (void)state;
}

static const sa_tool_ops ops_nobox = {"scripted",      0,   sc_session_new, sc_predict,
                                      sc_session_free, NULL};
static const sa_tool_ops ops_box = {"scripted-box",  1,   sc_session_new, sc_predict,
                                    sc_session_free, NULL};

typedef struct rig {
    sa_tool *tool;
    sa_image img;
    sa_mask gt;
} rig;

/* gt: the square rows/cols 10..29, or (ell != 0) the square minus its bottom-right 10x10 quarter. */
static void rig_open(rig *g, script *s, int ell) {
    sa_error err = {0};
    memset(g, 0, sizeof *g);
    CHECK(sa_tool_new(s->accepts_box ? &ops_box : &ops_nobox, s, &g->tool, &err) == SA_OK);
    CHECK(sa_image_new(&g->img, W, H, 3, &err) == SA_OK);
    CHECK(sa_mask_new(&g->gt, W, H, &err) == SA_OK);
    for (int y = 10; y < 30; y++)
        for (int x = 10; x < 30; x++)
            if (!ell || y < 20 || x < 20) g->gt.data[y * W + x] = 1;
}

static void rig_close(rig *g) {
    sa_tool_free(g->tool);
    sa_image_free(&g->img);
    sa_mask_free(&g->gt);
}

/* Records one trajectory the way the library's dataset run does: an env with threshold thr reset on the rig's
 * image with gt and ign, and the simulated annotator. */
static int record_thr(rig *g, const sa_mask *gt, const sa_mask *ign, sa_traj_params p, float thr,
                      sa_traj_sample *smp, sa_error *err) {
    sa_env_params ep = sa_env_default_params();
    ep.prob_threshold = thr;
    sa_env *env = NULL;
    sa_policy *annotator = NULL;
    int rc = sa_env_new(g->tool, ep, &env, err);
    if (rc == SA_OK) rc = sa_clicker_policy_new(&annotator, err);
    if (rc == SA_OK) rc = sa_env_reset(env, &g->img, "", gt, ign, NULL, err);
    if (rc == SA_OK) rc = sa_traj_record(env, annotator, p, smp, err);
    sa_policy_free(annotator);
    sa_env_free(env);
    return rc;
}

static int record(rig *g, const sa_mask *gt, const sa_mask *ign, sa_traj_params p,
                  sa_traj_sample *smp, sa_error *err) {
    return record_thr(g, gt, ign, p, SA_TRAJ_PROB_THRESHOLD, smp, err);
}

static void set_rows(script *s, const int *rows, int n) {
    memset(s, 0, sizeof *s);
    memcpy(s->rows, rows, (size_t)n * sizeof *rows);
    s->n_rows = n;
}

static void test_stops_at_first_non_increase(void) {
    script s;
    const int rows[] = {5, 10, 10, 15}; /* IoU .25, .5, .5 (no rise: stop), never reaches .75 */
    set_rows(&s, rows, 4);
    rig g;
    rig_open(&g, &s, 0);
    sa_error err = {0};
    sa_traj_sample smp = {0};
    CHECK(record(&g, &g.gt, NULL, sa_traj_default_params(), &smp, &err) == SA_OK);
    CHECKF(smp.n_steps == 2, "n_steps %d", smp.n_steps);
    CHECK(s.calls == 3); /* the third click was tried, found useless, and not recorded */
    if (smp.n_steps == 2) {
        CHECK(fabs(smp.steps[0].iou - 0.25) < 1e-12 && fabs(smp.steps[1].iou - 0.5) < 1e-12);
        CHECK(smp.steps[0].idx == 0 && smp.steps[1].idx == 1);
        CHECK(smp.steps[0].area == 100 && smp.steps[1].area == 200);
        CHECK(smp.steps[1].box[0] == 10 && smp.steps[1].box[1] == 10 && smp.steps[1].box[2] == 20 &&
              smp.steps[1].box[3] == 10);
        /* first click: the centre of the square (first max of the distance transform in row-major order) */
        CHECKF(smp.steps[0].click.y == 19 && smp.steps[0].click.x == 19 &&
                   smp.steps[0].click.positive,
               "click (%d, %d, %d)", smp.steps[0].click.y, smp.steps[0].click.x,
               smp.steps[0].click.positive);
        /* the second click is what the annotator places on M_1 */
        sa_mask m1 = {0};
        CHECK(sa_traj_state_mask(&smp, 1, &m1, &err) == SA_OK);
        sa_clicker_click cc;
        CHECK(sa_clicker_next(&g.gt, NULL, &m1, &smp.steps[0].click, 1, &cc, &err) == SA_OK);
        CHECK(cc.y == smp.steps[1].click.y && cc.x == smp.steps[1].click.x &&
              cc.positive == smp.steps[1].click.positive);
        sa_mask_free(&m1);
    }
    /* the tool sees all clicks so far and the previous result from the second call on */
    CHECK(s.n_clicks[0] == 1 && s.n_clicks[1] == 2 && s.n_clicks[2] == 3);
    CHECK(!s.had_prev[0] && s.had_prev[1] && s.had_prev[2]);
    CHECK(!s.had_init[0] && !s.had_box[0]);
    CHECK(smp.init_mask == NULL && smp.init_iou == 0.0 && smp.gt_area == 400);
    CHECK(smp.height == H && smp.width == W);
    sa_traj_sample_free(&smp);
    rig_close(&g);

    /* a fall (not only a tie) stops too */
    const int rows2[] = {8, 4, 12};
    set_rows(&s, rows2, 3);
    rig_open(&g, &s, 0);
    CHECK(record(&g, &g.gt, NULL, sa_traj_default_params(), &smp, &err) == SA_OK);
    CHECK(smp.n_steps == 1 && s.calls == 2);
    sa_traj_sample_free(&smp);
    rig_close(&g);

    /* a first click that does not help gives an empty trajectory */
    const int rows3[] = {0};
    set_rows(&s, rows3, 1);
    rig_open(&g, &s, 0);
    CHECK(record(&g, &g.gt, NULL, sa_traj_default_params(), &smp, &err) == SA_OK);
    CHECK(smp.n_steps == 0 && s.calls == 1);
    sa_traj_sample_free(&smp);
    rig_close(&g);
}

static void test_target_and_max_clicks(void) {
    script s;
    const int rows[] = {4, 8, 12, 16, 19, 20, 20};
    set_rows(&s, rows, 7);
    rig g;
    rig_open(&g, &s, 0);
    sa_error err = {0};
    sa_traj_sample smp = {0};
    sa_traj_params p = sa_traj_default_params();
    /* .95 < .98 so the 5th click goes on; the 6th reaches 1.0 >= .98 and ends it (no 7th call) */
    CHECK(record(&g, &g.gt, NULL, p, &smp, &err) == SA_OK);
    CHECKF(smp.n_steps == 6 && s.calls == 6, "steps %d calls %d", smp.n_steps, s.calls);
    if (smp.n_steps == 6) CHECK(smp.steps[5].iou == 1.0);
    sa_traj_sample_free(&smp);
    rig_close(&g);

    /* another target: .6 is passed by the third click (.6 >= .6) */
    set_rows(&s, rows, 7);
    rig_open(&g, &s, 0);
    p.target_iou = 0.6;
    CHECK(record(&g, &g.gt, NULL, p, &smp, &err) == SA_OK);
    CHECKF(smp.n_steps == 3 && s.calls == 3, "steps %d calls %d", smp.n_steps, s.calls);
    sa_traj_sample_free(&smp);
    rig_close(&g);

    /* max clicks */
    set_rows(&s, rows, 7);
    rig_open(&g, &s, 0);
    p = sa_traj_default_params();
    p.max_clicks = 3;
    CHECK(record(&g, &g.gt, NULL, p, &smp, &err) == SA_OK);
    CHECK(smp.n_steps == 3 && s.calls == 3);
    sa_traj_sample_free(&smp);
    rig_close(&g);

    /* bad parameters and an empty ground truth are errors, not crashes */
    set_rows(&s, rows, 7);
    rig_open(&g, &s, 0);
    p = sa_traj_default_params();
    p.max_clicks = 0;
    CHECK(record(&g, &g.gt, NULL, p, &smp, &err) == SA_ERR_INVALID);
    p = sa_traj_default_params();
    p.target_iou = 1.5;
    CHECK(record(&g, &g.gt, NULL, p, &smp, &err) == SA_ERR_INVALID);
    memset(g.gt.data, 0, W * H);
    CHECK(record(&g, &g.gt, NULL, sa_traj_default_params(), &smp, &err) == SA_ERR_FORMAT);
    CHECK(strstr(err.msg, "empty") != NULL);
    CHECK(smp.n_steps == 0 && smp.gt == NULL);
    rig_close(&g);
}

static void test_probability_threshold(void) {
    script s;
    const int rows[] = {10, 10};
    set_rows(&s, rows, 2);
    s.use_prob =
        1; /* mask all zero; prob 0.5 on 10 gt rows, 0.45 elsewhere: > 0.49 keeps exactly the rows */
    rig g;
    rig_open(&g, &s, 0);
    sa_error err = {0};
    sa_traj_sample smp = {0};
    CHECK(record(&g, &g.gt, NULL, sa_traj_default_params(), &smp, &err) == SA_OK);
    CHECK(smp.n_steps == 1);
    if (smp.n_steps >= 1) CHECK(smp.steps[0].area == 200 && fabs(smp.steps[0].iou - 0.5) < 1e-12);
    sa_traj_sample_free(&smp);
    rig_close(&g);

    /* with threshold .5 nothing passes (0.5 > 0.5 is false): the first click fails */
    set_rows(&s, rows, 2);
    s.use_prob = 1;
    rig_open(&g, &s, 0);
    CHECK(record_thr(&g, &g.gt, NULL, sa_traj_default_params(), 0.5f, &smp, &err) == SA_OK);
    CHECK(smp.n_steps == 0);
    sa_traj_sample_free(&smp);
    rig_close(&g);
}

static void test_ignore_map(void) {
    /* IoU excludes ignored pixels: ignoring the 10 uncovered gt rows makes 10 covered rows a perfect mask */
    script s;
    const int rows[] = {10};
    set_rows(&s, rows, 1);
    rig g;
    rig_open(&g, &s, 0);
    sa_error err = {0};
    sa_mask ign = {0};
    CHECK(sa_mask_new(&ign, W, H, &err) == SA_OK);
    for (int y = 20; y < 30; y++)
        for (int x = 0; x < W; x++)
            ign.data[y * W + x] = 1;
    sa_traj_sample smp = {0};
    CHECK(record(&g, &g.gt, &ign, sa_traj_default_params(), &smp, &err) == SA_OK);
    CHECK(smp.n_steps == 1 && s.calls == 1);
    if (smp.n_steps == 1) CHECK(smp.steps[0].iou == 1.0);
    sa_traj_sample_free(&smp);
    sa_mask_free(&ign);
    rig_close(&g);
}

static void test_starts(void) {
    sa_error err = {0};
    sa_traj_sample smp = {0};
    sa_traj_params p = sa_traj_default_params();
    script s;
    rig g;

    /* box start with a tool that takes no box: M_0 is the gt box rectangle (the L-shaped gt covers 3/4) */
    const int rows[] = {20, 20};
    set_rows(&s, rows, 2);
    rig_open(&g, &s, 1);
    p.start = SA_TRAJ_START_BOX;
    CHECK(record(&g, &g.gt, NULL, p, &smp, &err) == SA_OK);
    CHECK(smp.init_mask != NULL && smp.init_kind && !strcmp(smp.init_kind, "box"));
    CHECKF(fabs(smp.init_iou - 0.75) < 1e-12, "init iou %g", smp.init_iou);
    CHECK(s.calls >= 1 && s.had_init[0] && !s.had_box[0] && s.n_clicks[0] == 1 &&
          s.init_area == 400);
    /* the scripted tool returns the full square again: IoU .75 is no rise, so nothing is recorded */
    CHECK(smp.n_steps == 0);
    sa_mask m0 = {0};
    CHECK(sa_traj_state_mask(&smp, 0, &m0, &err) == SA_OK);
    CHECK(sa_mask_area(&m0) == 400 && m0.data[10 * W + 10] && m0.data[29 * W + 29] &&
          !m0.data[9 * W + 10]);
    sa_mask_free(&m0);
    CHECK(sa_traj_state_iou(&smp, 0) == smp.init_iou);
    sa_traj_sample_free(&smp);
    rig_close(&g);

    /* box start with a box-taking tool: the tool is called once with the gt box alone */
    const int rows2[] = {10, 15};
    set_rows(&s, rows2, 2);
    s.accepts_box = 1;
    rig_open(&g, &s, 0);
    CHECK(record(&g, &g.gt, NULL, p, &smp, &err) == SA_OK);
    CHECK(s.had_box[0] && s.n_clicks[0] == 0 && s.box.x0 == 10 && s.box.y0 == 10 &&
          s.box.x1 == 29 && s.box.y1 == 29);
    CHECK(fabs(smp.init_iou - 0.5) < 1e-12);
    CHECK(smp.n_steps == 1 && s.n_clicks[1] == 1 && s.had_init[1] && !s.had_prev[1] &&
          !s.had_box[1]);
    sa_traj_sample_free(&smp);
    rig_close(&g);

    /* random clicks: n points inside the gt box, signs from gt, reproducible for a seed */
    const int rows3[] = {5, 10};
    p.start = SA_TRAJ_START_RANDOM_CLICKS;
    p.random_points = 7;
    p.seed = 42;
    sa_click first[7];
    for (int rep = 0; rep < 2; rep++) {
        set_rows(&s, rows3, 2);
        rig_open(&g, &s, 1);
        CHECK(record(&g, &g.gt, NULL, p, &smp, &err) == SA_OK);
        CHECK(s.n_first == 7 && !s.had_box[0] && !s.had_init[0]);
        int npos = 0;
        for (int i = 0; i < s.n_first; i++) {
            const sa_click *c = &s.first_clicks[i];
            CHECK(c->y >= 10 && c->y < 30 && c->x >= 10 && c->x < 30);
            CHECK(c->positive == g.gt.data[c->y * W + c->x]);
            npos += c->positive;
            if (rep == 0)
                first[i] = *c;
            else
                CHECK(c->y == first[i].y && c->x == first[i].x);
        }
        CHECK(npos > 0);
        CHECK(smp.init_kind && !strcmp(smp.init_kind, "random-clicks"));
        CHECK(fabs(smp.init_iou - 100.0 / 300.0) < 1e-12);
        CHECK(smp.n_steps == 1 && s.had_init[1]);
        sa_traj_sample_free(&smp);
        rig_close(&g);
    }
    CHECK(sa_traj_start_from_name("random-clicks", &p.start, &err) == SA_OK &&
          p.start == SA_TRAJ_START_RANDOM_CLICKS);
    CHECK(sa_traj_start_from_name("boxes", &p.start, &err) == SA_ERR_INVALID);
}

/* ---- JSON ---- */

static void make_sample(sa_traj_sample *smp, int with_init) {
    script s;
    const int rows[] = {5, 10, 15};
    set_rows(&s, rows, 3);
    rig g;
    rig_open(&g, &s, 0);
    sa_error err = {0};
    sa_traj_params p = sa_traj_default_params();
    if (with_init) {
        p.start = SA_TRAJ_START_RANDOM_CLICKS;
        p.seed = 7;
    }
    CHECK(record(&g, &g.gt, NULL, p, smp, &err) == SA_OK);
    const char *caps[] = {"the \"grey\" square", "box\nline two"};
    CHECK(sa_traj_sample_set_meta(smp, "img_001.jpg", with_init ? "obj-7" : "12", caps, 2, &err) ==
          SA_OK);
    rig_close(&g);
}

static int same_sample(const sa_traj_sample *a, const sa_traj_sample *b) {
    int ok = !strcmp(a->image_name, b->image_name) && a->height == b->height &&
             a->width == b->width && !strcmp(a->object_id, b->object_id) &&
             a->n_captions == b->n_captions && !strcmp(a->gt, b->gt) && a->gt_area == b->gt_area &&
             a->n_steps == b->n_steps && !a->init_mask == !b->init_mask;
    for (int k = 0; ok && k < 4; k++)
        ok = a->gt_bbox[k] == b->gt_bbox[k];
    for (int i = 0; ok && i < a->n_captions; i++)
        ok = !strcmp(a->captions[i], b->captions[i]);
    if (ok && a->init_mask)
        ok = !strcmp(a->init_mask, b->init_mask) && a->init_iou == b->init_iou &&
             !strcmp(a->init_kind, b->init_kind);
    for (int i = 0; ok && i < a->n_steps; i++) {
        const sa_traj_step *x = &a->steps[i], *y = &b->steps[i];
        ok = x->idx == y->idx && x->click.y == y->click.y && x->click.x == y->click.x &&
             x->click.positive == y->click.positive && !strcmp(x->mask, y->mask) &&
             x->area == y->area && x->iou == y->iou;
        for (int k = 0; ok && k < 4; k++)
            ok = x->box[k] == y->box[k];
    }
    return ok;
}

static void test_json_round_trip(void) {
    sa_error err = {0};
    sa_traj_sample a = {0}, b = {0};
    make_sample(&a, 0);
    make_sample(&b, 1);
    CHECK(a.n_steps == 3 && b.n_steps >= 1);
    char *dir = tu_tmpdir();
    char path[1024];
    snprintf(path, sizeof path, "%s/traj.json", dir);
    sa_traj_params p = sa_traj_default_params();
    const char *ds[] = {"Toy=/nowhere"};
    char *info = sa_traj_info_json(p, SA_TRAJ_PROB_THRESHOLD, "scripted", "0.1.0", ds, 1, &err);
    CHECK(info != NULL);
    sa_traj_writer *w = NULL;
    CHECK(sa_traj_writer_open(path, info, &w, &err) == SA_OK);
    CHECK(sa_traj_writer_add(w, &a, &err) == SA_OK);
    CHECK(sa_traj_writer_add(w, &b, &err) == SA_OK);
    CHECK(sa_traj_writer_count(w) == 2);
    CHECK(sa_traj_writer_close(w, &err) == SA_OK);
    free(info);

    sa_traj_set *set = NULL;
    CHECKF(sa_traj_read(path, &set, &err) == SA_OK, "%s", err.msg);
    if (set) {
        CHECK(set->n_samples == 2);
        if (set->n_samples == 2) {
            CHECK(same_sample(&a, &set->samples[0]));
            CHECK(same_sample(&b, &set->samples[1]));
        }
        CHECK(strstr(set->info_json, "\"tool\":\"scripted\"") != NULL);
        CHECK(strstr(set->info_json, "\"target_iou\":0.98") != NULL);
        sa_traj_set_free(set);
    }

    /* exact key names and value types of the released format */
    char *txt = tu_read_file(path, NULL);
    cJSON *doc = txt ? cJSON_Parse(txt) : NULL;
    CHECK(doc != NULL);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(doc, "data");
    CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(doc, "info")) &&
          cJSON_GetArraySize(data) == 2);
    const cJSON *s0 = cJSON_GetArrayItem(data, 0);
    const char *top[] = {"image_name", "height", "width", "gt_ann", "clicks_list"};
    for (int i = 0; i < 5; i++)
        CHECKF(cJSON_GetObjectItemCaseSensitive(s0, top[i]) != NULL, "key %s", top[i]);
    CHECK(cJSON_GetObjectItemCaseSensitive(s0, "init_mask") ==
          NULL); /* only for non-empty starts */
    const cJSON *ann = cJSON_GetObjectItemCaseSensitive(s0, "gt_ann");
    const char *annk[] = {"object_id", "caption", "segmentation", "bbox", "area"};
    for (int i = 0; i < 5; i++)
        CHECKF(cJSON_GetObjectItemCaseSensitive(ann, annk[i]) != NULL, "key %s", annk[i]);
    CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(ann, "object_id")));
    CHECK(cJSON_GetObjectItemCaseSensitive(ann, "object_id")->valuedouble == 12);
    CHECK(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(ann, "caption")));
    const cJSON *seg = cJSON_GetObjectItemCaseSensitive(ann, "segmentation");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(seg, "size");
    CHECK(cJSON_GetArraySize(size) == 2 && cJSON_GetArrayItem(size, 0)->valueint == H &&
          cJSON_GetArrayItem(size, 1)->valueint == W);
    CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(seg, "counts")));
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(s0, "clicks_list"), 0);
    const char *ck[] = {"idx", "coor", "is_positive", "mask", "box", "area", "iou"};
    for (int i = 0; i < 7; i++)
        CHECKF(cJSON_GetObjectItemCaseSensitive(c0, ck[i]) != NULL, "key %s", ck[i]);
    CHECK(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(c0, "is_positive")));
    const cJSON *coor = cJSON_GetObjectItemCaseSensitive(c0, "coor");
    CHECK(cJSON_GetArrayItem(coor, 0)->valueint == a.steps[0].click.y &&
          cJSON_GetArrayItem(coor, 1)->valueint == a.steps[0].click.x);
    /* the RLE is pycocotools': decoding the string gives back the recorded state */
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(c0, "mask");
    sa_rle r = {0};
    sa_mask dm = {0};
    CHECK(sa_rle_from_json(m, &r, &err) == SA_OK && sa_rle_decode(&r, &dm, &err) == SA_OK);
    CHECK(sa_mask_area(&dm) == 100 && dm.data[10 * W + 10] && dm.data[14 * W + 29] &&
          !dm.data[15 * W + 10]);
    sa_mask_free(&dm);
    sa_rle_free(&r);
    const cJSON *s1 = cJSON_GetArrayItem(data, 1);
    CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(s1, "gt_ann"), "object_id")));
    CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(s1, "init_mask")));
    cJSON_Delete(doc);
    free(txt);
    remove(path);
    rmdir(dir);
    free(dir);
    sa_traj_sample_free(&a);
    sa_traj_sample_free(&b);
}

/* A file as the original generator writes it (Python json.dump of its dicts), with extra keys, an integer image
 * name, a null caption, float bbox values, 0/1 is_positive and an uncompressed RLE. */
static void test_read_released_style(void) {
    const char *txt =
        "{\"info\": {\"description\": \"x\"}, \"extra\": 1, \"data\": [{\"image_name\": 581857, \"height\": 2,"
        " \"width\": 3, \"gt_ann\": {\"object_id\": 1709, \"caption\": null, \"segmentation\": {\"counts\": \"111000\","
        " \"size\": [2, 3]}, \"bbox\": [0.0, 1.0, 3.0, 1.0], \"area\": 3, \"iscrowd\": 0}, \"clicks_list\":"
        " [{\"idx\": 0, \"coor\": [1, 1], \"is_positive\": 1, \"mask\": {\"size\": [2, 3], \"counts\": [3, 1, 2]},"
        " \"box\": [1.0, 1.0, 1.0, 1.0], \"area\": 1, \"iou\": 0.3333333333333333, \"note\": \"x\"}]}]}";
    sa_error err = {0};
    sa_traj_set *set = NULL;
    CHECKF(sa_traj_parse(txt, strlen(txt), "released.json", &set, &err) == SA_OK, "%s", err.msg);
    if (!set) return;
    CHECK(set->n_samples == 1);
    sa_traj_sample *s = &set->samples[0];
    CHECK(!strcmp(s->image_name, "581857") && !strcmp(s->object_id, "1709") && s->n_captions == 0);
    CHECK(s->gt_area == 3 && s->gt_bbox[1] == 1.0 && s->n_steps == 1);
    if (s->n_steps == 1) {
        CHECK(s->steps[0].click.positive == 1 && s->steps[0].area == 1 &&
              !strcmp(s->steps[0].mask, "312"));
        sa_mask m = {0};
        CHECK(sa_traj_state_mask(s, 1, &m, &err) == SA_OK);
        CHECK(sa_mask_area(&m) == 1 &&
              m.data[1 * 3 + 1] == 1); /* column-major run 3..3 = (y 1, x 1) */
        sa_mask_free(&m);
        CHECK(sa_traj_state_mask(s, 0, &m, &err) == SA_OK && sa_mask_area(&m) == 0);
        sa_mask_free(&m);
        CHECK(sa_traj_state_mask(s, 2, &m, &err) == SA_ERR_INVALID);
    }
    CHECK(!strcmp(set->info_json, "{\"description\":\"x\"}"));
    sa_traj_set_free(set);
}

static void expect_error(const char *txt, int code, const char *needle) {
    sa_error err = {0};
    sa_traj_set *set = NULL;
    int rc = sa_traj_parse(txt, strlen(txt), "bad.json", &set, &err);
    CHECKF(rc == code, "rc %d for %s (%s)", rc, needle, err.msg);
    CHECK(set == NULL);
    CHECKF(strstr(err.msg, "bad.json") && strstr(err.msg, needle), "message '%s' lacks '%s'",
           err.msg, needle);
}

static void test_malformed(void) {
    const char *ok_head =
        "{\"data\":[{\"image_name\":\"a.jpg\",\"height\":2,\"width\":3,\"gt_ann\":{\"segmentation\":"
        "{\"size\":[2,3],\"counts\":\"111000\"}},\"clicks_list\":[";
    char buf[1024];
    expect_error("{\"data\":[{\"image_name\":\"a.jpg\",", SA_ERR_PARSE, "truncated");
    expect_error("[1,2]", SA_ERR_FORMAT, "top level");
    expect_error("{\"info\":{}}", SA_ERR_FORMAT, "'data'");
    expect_error("{\"data\":[{\"height\":2,\"width\":3}]}", SA_ERR_FORMAT, "image_name");
    expect_error("{\"data\":[{\"image_name\":\"a\",\"height\":0,\"width\":3}]}", SA_ERR_FORMAT,
                 "height");
    expect_error("{\"data\":[{\"image_name\":\"a\",\"height\":2,\"width\":3,\"gt_ann\":{}}]}",
                 SA_ERR_FORMAT, "segmentation");
    snprintf(buf, sizeof buf, "%s]}]}", ok_head);
    sa_traj_set *set = NULL;
    sa_error err = {0};
    CHECKF(sa_traj_parse(buf, strlen(buf), "ok.json", &set, &err) == SA_OK, "%s", err.msg);
    sa_traj_set_free(set);
    expect_error(
        "{\"data\":[{\"image_name\":\"a\",\"height\":2,\"width\":3,\"gt_ann\":{\"segmentation\":"
        "{\"size\":[2,3],\"counts\":\"111000\"}}}]}",
        SA_ERR_FORMAT, "clicks_list");
    expect_error(
        "{\"data\":[{\"image_name\":\"a\",\"height\":2,\"width\":3,\"gt_ann\":{\"segmentation\":"
        "{\"size\":[3,2],\"counts\":\"111000\"}},\"clicks_list\":[]}]}",
        SA_ERR_FORMAT, "differs");
    snprintf(buf, sizeof buf,
             "%s{\"coor\":[2,0],\"is_positive\":true,\"mask\":{\"size\":[2,3],\"counts\":\"6\"},"
             "\"iou\":0.5}]}]}",
             ok_head);
    expect_error(buf, SA_ERR_FORMAT, "coor");
    snprintf(buf, sizeof buf,
             "%s{\"coor\":[1,0],\"is_positive\":\"yes\",\"mask\":{\"size\":[2,3],\"counts\":\"6\"},"
             "\"iou\":0.5}]}]}",
             ok_head);
    expect_error(buf, SA_ERR_FORMAT, "is_positive");
    snprintf(
        buf, sizeof buf,
        "%s{\"coor\":[1,0],\"is_positive\":true,\"mask\":{\"size\":[2,3],\"counts\":\"6\"}}]}]}",
        ok_head);
    expect_error(buf, SA_ERR_FORMAT, "iou");
    snprintf(buf, sizeof buf,
             "%s{\"coor\":[1,0],\"is_positive\":true,\"mask\":{\"size\":[2,3],\"counts\":\"7\"},"
             "\"iou\":0.5}]}]}",
             ok_head);
    expect_error(buf, SA_ERR_FORMAT, "clicks_list[0].mask");
    /* the second sample is broken: the message names its index */
    snprintf(
        buf, sizeof buf,
        "{\"data\":[{\"image_name\":\"a\",\"height\":2,\"width\":3,\"gt_ann\":{\"segmentation\":"
        "{\"size\":[2,3],\"counts\":\"111000\"}},\"clicks_list\":[]}, {\"image_name\":\"b\"}]}");
    expect_error(buf, SA_ERR_FORMAT, "data[1]");

    /* the scanner around the samples */
    expect_error("", SA_ERR_PARSE, "empty");
    expect_error("{\"data\":[]} x", SA_ERR_PARSE, "extra text");
    expect_error("{\"data\":[],\"data\":[]}", SA_ERR_FORMAT, "twice");
    expect_error("{\"data\":{}}", SA_ERR_FORMAT, "not a list");
    expect_error("{\"data\":[1]}", SA_ERR_FORMAT, "data[0]: expected an object");
    snprintf(buf, sizeof buf, "%s]} {\"a\":1}]}", ok_head);
    expect_error(buf, SA_ERR_PARSE, "expected ','");
    expect_error("{\"data\":[{\"a\":1,}]}", SA_ERR_PARSE, "data[0]: not valid JSON");
    expect_error("{\"info\":{\"x\":[1,2}, \"data\":[]}", SA_ERR_PARSE, "not valid JSON");
    expect_error("{\"data\":[] \"info\":{}}", SA_ERR_PARSE, "expected ','");
    expect_error("{\"data\":[{\"image_name\":\"a\\\"}]}", SA_ERR_PARSE, "truncated");
    snprintf(buf, sizeof buf, "  {\"x\":\"}{][\",\"info\":{\"k\":\"v\"},\"data\":[]}  \n");
    CHECK(sa_traj_parse(buf, strlen(buf), "ok.json", &set, &err) == SA_OK && set &&
          set->n_samples == 0 && !strcmp(set->info_json, "{\"k\":\"v\"}"));
    sa_traj_set_free(set);

    /* a missing file */
    CHECK(sa_traj_read("/nonexistent/traj.json", &set, &err) == SA_ERR_IO &&
          strstr(err.msg, "/nonexistent"));
}

/* Names and captions that are not UTF-8 come out as U+FFFD: the file stays readable by any JSON reader. */
static void test_invalid_utf8(void) {
    sa_error err = {0};
    sa_traj_sample a = {0};
    make_sample(&a, 0);
    const char *caps[] = {"the caf\xC3\xA9 sign \xFF", "ok"};
    CHECK(sa_traj_sample_set_meta(&a, "img\xFE.jpg", "3", caps, 2, &err) == SA_OK);
    char *dir = tu_tmpdir();
    char path[1024];
    snprintf(path, sizeof path, "%s/traj.json", dir);
    sa_traj_writer *w = NULL;
    CHECK(sa_traj_writer_open(path, "{\"note\": \"bad \xC0 byte\"}", &w, &err) == SA_OK);
    CHECK(sa_traj_writer_add(w, &a, &err) == SA_OK);
    CHECK(sa_traj_writer_close(w, &err) == SA_OK);
    size_t n = 0;
    char *txt = tu_read_file(path, &n);
    CHECK(txt != NULL);
    for (size_t i = 0; txt && i < n; i++) { /* no byte of an invalid sequence is left */
        unsigned char c = (unsigned char)txt[i];
        CHECKF(c != 0xFF && c != 0xFE && c != 0xC0, "raw byte 0x%02x at %zu", c, i);
        if (c == 0xC3)
            CHECK(i + 1 < n && (unsigned char)txt[i + 1] == 0xA9); /* the valid one stays */
    }
    CHECK(txt && strstr(txt, "img\xEF\xBF\xBD.jpg") && strstr(txt, "sign \xEF\xBF\xBD\""));
    free(txt);
    sa_traj_sample_free(&a);
    tu_rmtree(dir);
    free(dir);
}

int main(void) {
    test_stops_at_first_non_increase();
    test_target_and_max_clicks();
    test_probability_threshold();
    test_ignore_map();
    test_starts();
    test_json_round_trip();
    test_read_released_style();
    test_malformed();
    test_invalid_utf8();
    return tu_finish("test_trajectory");
}
