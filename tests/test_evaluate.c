/* The evaluation runner with a tiny deterministic tool ("discs": paints a disc of radius R around every
 * positive click and erases one around every negative click, in order). Checks: the known curve of a scene
 * the tool solves in one click (the annotator then has nothing left to fix), skipped items (corrupt image,
 * empty gt, size mismatch) with their messages, identical results for 1 and 3 threads, the progress callback,
 * the step callback, target IoU, and that clicks never land in the ignore band. Also the built-in scenes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "segagent/env.h"
#include "segagent/evaluate.h"
#include "segagent/policy.h"
#include "segagent/scenes.h"
#include "testutil.h"

typedef struct disc_model {
    int radius;
} disc_model;

typedef struct disc_state {
    int w, h, r;
} disc_state;

static int disc_session_new(void *model, const sa_image *img, void **state, sa_error *err) {
    disc_state *s = malloc(sizeof *s);
    if (!s) return sa_error_set(err, SA_ERR_NOMEM, "oom");
    s->w = img->width;
    s->h = img->height;
    s->r = ((disc_model *)model)->radius;
    *state = s;
    return SA_OK;
}

static int disc_predict(void *state, const sa_tool_request *req, sa_tool_result *out,
                        sa_error *err) {
    disc_state *s = state;
    int rc = sa_mask_new(&out->mask, s->w, s->h, err);
    if (rc) return rc;
    for (int i = 0; i < req->n_clicks; i++) {
        const sa_click *c = &req->clicks[i];
        for (int y = c->y - s->r; y <= c->y + s->r; y++)
            for (int x = c->x - s->r; x <= c->x + s->r; x++)
                if (y >= 0 && y < s->h && x >= 0 && x < s->w &&
                    (y - c->y) * (y - c->y) + (x - c->x) * (x - c->x) <= s->r * s->r)
                    out->mask.data[(size_t)y * s->w + x] = (uint8_t)c->positive;
    }
    out->score = NAN;
    return SA_OK;
}

static void disc_session_free(void *state) {
    free(state);
}
static void disc_model_free(void *model) {
    free(model);
}

static const sa_tool_ops disc_ops = {
    "discs", 0, disc_session_new, disc_predict, disc_session_free, disc_model_free};

static sa_tool *disc_tool(int radius) {
    disc_model *m = malloc(sizeof *m);
    if (!m) exit(1);
    m->radius = radius;
    sa_tool *t = NULL;
    sa_error err = {0};
    if (sa_tool_new(&disc_ops, m, &t, &err) != SA_OK) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return t;
}

/* ---- files ---- */

static void save_png(const char *dir, const char *name, const sa_image *img) {
    char p[4300];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    sa_error err = {0};
    if (sa_image_save_png(p, img, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
}

static void make_mask_image(sa_image *m, int w, int h, int kind, int a, int b, int c) {
    sa_error err = {0};
    if (sa_image_new(m, w, h, 1, &err)) exit(1);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int in = kind == 0 ? (x >= a && x < b && y >= a && y < c) /* rectangle */
                               : ((y - a) * (y - a) + (x - b) * (x - b) <=
                                  c * c); /* disc at (a, b) radius c */
            m->data[(size_t)y * w + x] = in ? 255 : 0;
        }
}

/* images/{a,b,c,d,e}.png + masks: a = rectangle, b = disc (solved by one click of radius 10), c = corrupt
 * image, d = empty gt, e = mask of the wrong size. */
static char *make_dataset(void) {
    char *root = tu_tmpdir();
    char im[4200], gt[4200];
    snprintf(im, sizeof im, "%s/images", root);
    snprintf(gt, sizeof gt, "%s/masks", root);
    if (mkdir(im, 0777) || mkdir(gt, 0777)) exit(1);
    sa_image img = {0}, m = {0};
    sa_error err = {0};
    if (sa_image_new(&img, 64, 48, 3, &err)) exit(1);
    for (int i = 0; i < 64 * 48 * 3; i++)
        img.data[i] = (uint8_t)(i % 251);
    save_png(im, "a.png", &img);
    save_png(im, "b.png", &img);
    save_png(im, "d.png", &img);
    save_png(im, "e.png", &img);
    make_mask_image(&m, 64, 48, 0, 8, 40, 30);
    save_png(gt, "a.png", &m);
    sa_image_free(&m);
    make_mask_image(&m, 64, 48, 1, 20, 30, 10);
    save_png(gt, "b.png", &m);
    save_png(gt, "c.png", &m);
    sa_image_free(&m);
    make_mask_image(&m, 64, 48, 0, 0, 0, 0);
    save_png(gt, "d.png", &m);
    sa_image_free(&m);
    make_mask_image(&m, 32, 48, 0, 2, 10, 10);
    save_png(gt, "e.png", &m);
    sa_image_free(&m);
    sa_image_free(&img);
    char p[4300];
    snprintf(p, sizeof p, "%s/c.png", im);
    FILE *f = fopen(p, "wb");
    if (!f) exit(1);
    fputs("\x89PNG\r\n\x1a\ntruncated", f);
    fclose(f);
    return root;
}

typedef struct progress_log {
    int calls, last_done, total, monotonic;
} progress_log;

static void on_progress(void *user, int done, int total, const sa_eval_sample *s) {
    progress_log *l = user;
    l->calls++;
    if (done != l->last_done + 1) l->monotonic = 0;
    l->last_done = done;
    l->total = total;
    if (!s || !s->name) l->monotonic = 0;
}

static void test_run(void) {
    char *root = make_dataset();
    sa_dataset *ds = NULL;
    sa_error err = {0};
    int rc = sa_dataset_open("T", root, sa_dataset_default_params(), &ds, &err);
    CHECKF(rc == SA_OK, "%s", err.msg);
    if (rc) return;
    sa_tool *tool = disc_tool(10);
    sa_eval_params p = sa_eval_default_params();
    sa_eval_result r1, r3;
    progress_log log1 = {0, 0, 0, 1};
    rc = sa_eval_run(tool, ds, p, on_progress, &log1, &r1, &err);
    CHECKF(rc == SA_OK, "%s", err.msg);
    CHECK(log1.calls == 5 && log1.total == 5 && log1.monotonic);
    CHECK(r1.n_samples == 5 && r1.n_skipped == 3 && r1.n_failed == 0 && r1.summary.n_samples == 2);
    if (r1.n_samples == 5) {
        const sa_eval_sample *a = &r1.samples[0], *b = &r1.samples[1];
        CHECK(!strcmp(a->name, "a") && a->status == SA_OK && a->n >= 1);
        /* First click: positive, at the deepest point of the 32x22 rectangle [8,40)x[8,30): the
         * first pixel in row-major order at distance 11 from its border is (y 18, x 18). */
        CHECKF(a->clicks[0].positive && a->clicks[0].y == 18 && a->clicks[0].x == 18, "(%d,%d)",
               a->clicks[0].y, a->clicks[0].x);
        for (int i = 0; i < a->n; i++) {
            CHECK(a->iou[i] >= 0 && a->iou[i] <= 1);
            CHECK(a->uni[i] > 0 &&
                  fabs(a->iou[i] - (double)a->inter[i] / (double)a->uni[i]) < 1e-12);
            for (int j = 0; j < i; j++)
                CHECK(a->clicks[j].x != a->clicks[i].x ||
                      a->clicks[j].y != a->clicks[i].y); /* never re-clicked */
        }
        /* b: one click at the disc centre reproduces the gt exactly; then nothing is left to fix. */
        CHECK(!strcmp(b->name, "b") && b->n == 1 && b->done_early && b->iou[0] == 1.0);
        CHECK(b->clicks[0].y == 20 && b->clicks[0].x == 30 && b->clicks[0].positive);
        CHECK(b->iou0 == 0.0);
        const sa_eval_sample *c = &r1.samples[2], *d = &r1.samples[3], *e = &r1.samples[4];
        CHECKF(c->status != SA_OK && c->error && strstr(c->error, "c.png") && c->iou == NULL, "%s",
               c->error);
        CHECKF(d->status == SA_ERR_FORMAT && d->error && strstr(d->error, "d.png") &&
                   strstr(d->error, "empty"),
               "%s", d->error);
        CHECKF(e->status == SA_ERR_RANGE && e->error && strstr(e->error, "e.png"), "%s", e->error);
        /* Summary: b contributes 1.0 at every k; NoC@90 of b is 1. */
        double a20 = a->n >= 20 ? a->iou[19] : a->iou[a->n - 1];
        CHECK(fabs(sa_metrics_miou_at(&r1.summary, 20) - (a20 + 1.0) / 2) < 1e-12);
        CHECK(fabs(sa_metrics_miou_at(&r1.summary, 1) - (a->iou[0] + 1.0) / 2) < 1e-12);
        int noc_a = sa_metrics_noc(a->iou, a->n, a->iou0, 20, 0.9);
        CHECK(fabs(r1.summary.noc[SA_TAU_90] - (noc_a + 1) / 2.0) < 1e-12);
    }

    /* Three threads: the same samples, clicks, IoUs and summary (timings aside). */
    p.threads = 3;
    progress_log log3 = {0, 0, 0, 1};
    rc = sa_eval_run(tool, ds, p, on_progress, &log3, &r3, &err);
    CHECKF(rc == SA_OK, "%s", err.msg);
    CHECK(log3.calls == 5 && log3.monotonic);
    CHECK(r3.n_samples == r1.n_samples && r3.n_skipped == r1.n_skipped);
    for (int i = 0; i < r1.n_samples && i < r3.n_samples; i++) {
        const sa_eval_sample *x = &r1.samples[i], *y = &r3.samples[i];
        CHECK(!strcmp(x->name, y->name) && x->status == y->status && x->n == y->n);
        CHECK((x->error == NULL) == (y->error == NULL));
        if (x->error && y->error) CHECK(!strcmp(x->error, y->error));
        if (x->n == y->n && x->n > 0) {
            CHECK(!memcmp(x->clicks, y->clicks, (size_t)x->n * sizeof(sa_click)));
            CHECK(!memcmp(x->iou, y->iou, (size_t)x->n * sizeof(double)));
        }
    }
    CHECK(!memcmp(r1.summary.noc, r3.summary.noc, sizeof r1.summary.noc));
    CHECK(!memcmp(r1.summary.miou, r3.summary.miou, sizeof r1.summary.miou));
    CHECK(!memcmp(r1.summary.nof, r3.summary.nof, sizeof r1.summary.nof));
    sa_eval_result_free(&r3);

    /* --limit */
    p.threads = 1;
    p.limit = 2;
    rc = sa_eval_run(tool, ds, p, NULL, NULL, &r3, &err);
    CHECK(rc == SA_OK && r3.n_samples == 2 && r3.n_skipped == 0);
    sa_eval_result_free(&r3);
    /* Only unusable items: an error, but the per-sample reasons are still there. */
    sa_eval_result_free(&r1);
    sa_dataset_free(ds);
    sa_tool_free(tool);
    free(root);
}

static void test_bad_params(void) {
    sa_tool *tool = disc_tool(3);
    sa_eval_params p = sa_eval_default_params();
    sa_eval_result r;
    sa_error err = {0};
    p.max_clicks = 0;
    CHECK(sa_eval_run(tool, NULL, p, NULL, NULL, &r, &err) == SA_ERR_RANGE);
    p = sa_eval_default_params();
    p.threads = 0;
    CHECK(sa_eval_run(tool, NULL, p, NULL, NULL, &r, &err) == SA_ERR_RANGE);
    CHECK(sa_eval_run(tool, NULL, sa_eval_default_params(), NULL, NULL, &r, &err) ==
          SA_ERR_INVALID);
    sa_eval_result_free(&r);
    sa_tool_free(tool);
}

typedef struct step_log {
    int steps, stop_at, in_ignore;
    const sa_mask *ignore;
} step_log;

static int on_step(void *user, const sa_env *env, const sa_eval_step *st) {
    step_log *l = user;
    l->steps++;
    if (st->step != l->steps || sa_env_n_clicks(env) != st->step) l->in_ignore = 1000;
    if (l->ignore && l->ignore->data[(size_t)st->click.y * l->ignore->width + st->click.x])
        l->in_ignore++;
    return l->stop_at && st->step >= l->stop_at;
}

static void test_episode(void) {
    sa_error err = {0};
    sa_image img = {0};
    sa_mask gt = {0}, ign = {0};
    if (sa_image_new(&img, 50, 40, 3, &err) || sa_mask_new(&gt, 50, 40, &err) ||
        sa_mask_new(&ign, 50, 40, &err))
        exit(1);
    for (int y = 0; y < 40; y++)
        for (int x = 0; x < 50; x++) {
            int in = x >= 10 && x < 38 && y >= 6 && y < 30;
            int band =
                !in && x >= 7 && x < 41 && y >= 3 && y < 33; /* 3-pixel ignore band outside */
            gt.data[y * 50 + x] = (uint8_t)in;
            ign.data[y * 50 + x] = (uint8_t)band;
        }
    sa_tool *tool =
        disc_tool(4); /* the tool spills into the band: the annotator must not chase it there */
    sa_eval_params p = sa_eval_default_params();
    sa_eval_sample s;
    step_log l = {0, 0, 0, &ign};
    int rc = sa_eval_episode(tool, &img, &gt, &ign, p, on_step, &l, &s, &err);
    CHECKF(rc == SA_OK, "%s", err.msg);
    CHECK(l.steps == s.n && l.in_ignore == 0 && s.n >= 2);
    for (int i = 1; i < s.n; i++)
        CHECK(s.iou[i] >= 0.0);
    sa_eval_sample_free(&s);

    l = (step_log){0, 3, 0, &ign};
    rc = sa_eval_episode(tool, &img, &gt, &ign, p, on_step, &l, &s, &err);
    CHECK(rc == SA_OK && s.n == 3 && l.steps == 3);
    sa_eval_sample_free(&s);

    p.target_iou = 0.3;
    rc = sa_eval_episode(tool, &img, &gt, &ign, p, NULL, NULL, &s, &err);
    CHECK(rc == SA_OK && s.n >= 1 && s.iou[s.n - 1] >= 0.3 && (s.n == 1 || s.iou[s.n - 2] < 0.3));
    sa_eval_sample_free(&s);
    sa_eval_sample_free(NULL);

    sa_mask small = {0};
    if (sa_mask_new(&small, 10, 10, &err)) exit(1);
    rc = sa_eval_episode(tool, &img, &small, NULL, sa_eval_default_params(), NULL, NULL, &s, &err);
    CHECK(rc != SA_OK && s.status == rc && s.error != NULL);
    sa_eval_sample_free(&s);
    sa_mask_free(&small);
    sa_tool_free(tool);
    sa_image_free(&img);
    sa_mask_free(&gt);
    sa_mask_free(&ign);
}

/* A policy that does not see ground truth (as an LLM would): it clicks the points of a script in order, then
 * gives a reply with no usable action. Counts the instances made. */
typedef struct script_policy {
    int next;
    int *made;
} script_policy;

static const sa_click script_clicks[] = {{18, 20, 1}, {18, 40, 1}, {30, 20, 1}};

static int script_act(void *self, const sa_policy_obs *obs, int k, sa_policy_decision *out,
                      int *n_out, sa_error *err) {
    (void)k;
    (void)err;
    script_policy *sp = self;
    if (obs->gt) return sa_error_set(err, SA_ERR_INVALID, "a model must not see gt");
    *n_out = 1;
    if (sp->next >= 3) {
        out[0].status = SA_ERR_PARSE;
        return SA_OK;
    }
    out[0].action = sa_action_click(script_clicks[sp->next].y, script_clicks[sp->next].x, 1);
    sp->next++;
    return SA_OK;
}

static void script_reset(void *self) {
    ((script_policy *)self)->next = 0;
}

static void script_free(void *self) {
    free(self);
}

static const sa_policy_ops script_ops = {
    .name = "script", .act = script_act, .reset = script_reset, .free = script_free};

static int script_new(void *ctx, sa_policy **out, sa_error *err) {
    script_policy *sp = calloc(1, sizeof *sp);
    if (!sp) return sa_error_set(err, SA_ERR_NOMEM, "oom");
    sp->made = ctx;
    if (ctx) __atomic_fetch_add((int *)ctx, 1, __ATOMIC_SEQ_CST);
    return sa_policy_new(&script_ops, sp, out, err);
}

static int stop_now(void *user) {
    (void)user;
    return 1;
}

/* Evaluation is the same code whatever the policy: a scripted, gt-blind policy gives its three clicks and the
 * episode ends at its unparseable reply with the last mask kept (status OK, not "done early"). */
static void test_other_policy(void) {
    sa_error err = {0};
    sa_image img = {0};
    sa_mask gt = {0};
    if (sa_image_new(&img, 64, 48, 3, &err) || sa_mask_new(&gt, 64, 48, &err)) exit(1);
    for (int y = 8; y < 30; y++)
        for (int x = 8; x < 40; x++)
            gt.data[y * 64 + x] = 1;
    sa_tool *tool = disc_tool(10);
    sa_policy *pol = NULL;
    CHECK(script_new(NULL, &pol, &err) == SA_OK);
    sa_env *env = NULL;
    CHECK(sa_env_new(tool, sa_env_default_params(), &env, &err) == SA_OK);
    CHECK(sa_env_reset(env, &img, "the box", &gt, NULL, NULL, &err) == SA_OK);
    sa_eval_sample s;
    CHECKF(sa_eval_env_episode(env, pol, sa_eval_default_params(), NULL, NULL, &s, &err) == SA_OK,
           "%s", err.msg);
    CHECK(s.n == 3 && !s.done_early && s.status == SA_OK);
    for (int i = 0; i < s.n && i < 3; i++) {
        CHECK(s.clicks[i].y == script_clicks[i].y && s.clicks[i].x == script_clicks[i].x);
        CHECK(s.uni[i] > 0 && s.iou[i] == (double)s.inter[i] / (double)s.uni[i]);
    }
    CHECK(s.n == 3 && s.iou[2] > s.iou[0]);
    /* the env is left in the episode's last state */
    CHECK(sa_env_n_clicks(env) == 3 && sa_env_iou(env) == s.iou[2]);
    sa_eval_sample_free(&s);
    sa_env_free(env);
    sa_policy_free(pol);

    /* over a dataset: one policy per worker from the factory, the same samples for 1 and 2 workers */
    char *root = make_dataset();
    sa_dataset *ds = NULL;
    CHECK(sa_dataset_open("T", root, sa_dataset_default_params(), &ds, &err) == SA_OK);
    sa_eval_params p = sa_eval_default_params();
    int made = 0;
    p.policy_new = script_new;
    p.policy_ctx = &made;
    sa_eval_result r1, r2;
    CHECK(sa_eval_run(tool, ds, p, NULL, NULL, &r1, &err) == SA_OK && made == 1);
    p.threads = 2;
    made = 0;
    CHECK(sa_eval_run(tool, ds, p, NULL, NULL, &r2, &err) == SA_OK && made >= 1 && made <= 2);
    CHECK(r1.n_samples == 5 && r2.n_samples == 5 && r1.n_skipped == 3);
    for (int i = 0; i < r1.n_samples && i < r2.n_samples; i++) {
        CHECK(r1.samples[i].n == r2.samples[i].n);
        for (int k = 0; k < r1.samples[i].n && k < r2.samples[i].n; k++)
            CHECK(r1.samples[i].iou[k] == r2.samples[i].iou[k]);
        CHECK(!r1.samples[i].iou || r1.samples[i].n == 3);
    }
    sa_eval_result_free(&r1);
    sa_eval_result_free(&r2);
    /* a stop request before anything starts: nothing is run, the result holds no samples */
    p.should_stop = stop_now;
    CHECK(sa_eval_run(tool, ds, p, NULL, NULL, &r1, &err) == SA_OK && r1.n_samples == 0);
    sa_eval_result_free(&r1);
    sa_dataset_free(ds);
    tu_rmtree(root);
    free(root);
    sa_tool_free(tool);
    sa_image_free(&img);
    sa_mask_free(&gt);
}

static void test_scenes(void) {
    sa_error err = {0};
    CHECK(sa_scene_count() >= 4 && sa_scene_count() <= 8);
    for (int i = 0; i < sa_scene_count(); i++) {
        sa_image a = {0}, b = {0}, c = {0};
        sa_mask ga = {0}, gb = {0}, gc = {0};
        CHECK(sa_scene_name(i) && sa_scene_description(i));
        CHECK(sa_scene_render(i, 1, 160, 120, &a, &ga, &err) == SA_OK);
        CHECK(sa_scene_render(i, 1, 160, 120, &b, &gb, &err) == SA_OK);
        CHECK(sa_scene_render(i, 2, 160, 120, &c, &gc, &err) == SA_OK);
        if (!a.data || !b.data || !c.data) continue;
        CHECK(!memcmp(a.data, b.data, 160 * 120 * 3) && !memcmp(ga.data, gb.data, 160 * 120));
        CHECK(memcmp(a.data, c.data, 160 * 120 * 3) != 0);
        size_t area = sa_mask_area(&ga);
        CHECKF(area > 160 * 120 / 50 && area < 160 * 120 / 2, "%s: area %zu", sa_scene_name(i),
               area);
        /* The object is visible: mean colour inside differs from outside. */
        double in[3] = {0}, out[3] = {0};
        for (int k = 0; k < 160 * 120; k++)
            for (int ch = 0; ch < 3; ch++)
                (ga.data[k] ? in : out)[ch] += a.data[k * 3 + ch];
        double dist = 0;
        for (int ch = 0; ch < 3; ch++) {
            double d = in[ch] / (double)area - out[ch] / (double)(160 * 120 - area);
            dist += d * d;
        }
        CHECKF(sqrt(dist) > 8.0, "%s: object colour too close to background (%.1f)",
               sa_scene_name(i), sqrt(dist));
        sa_image_free(&a);
        sa_image_free(&b);
        sa_image_free(&c);
        sa_mask_free(&ga);
        sa_mask_free(&gb);
        sa_mask_free(&gc);
    }
    sa_image x = {0};
    sa_mask g = {0};
    CHECK(sa_scene_render(-1, 1, 100, 100, &x, &g, &err) == SA_ERR_RANGE);
    CHECK(sa_scene_render(sa_scene_count(), 1, 100, 100, &x, &g, &err) == SA_ERR_RANGE);
    CHECK(sa_scene_render(0, 1, 8, 100, &x, &g, &err) == SA_ERR_RANGE && x.data == NULL);
    CHECK(sa_scene_name(99) == NULL);
}

int main(void) {
    test_run();
    test_bad_params();
    test_episode();
    test_other_policy();
    test_scenes();
    return tu_finish("test_evaluate");
}
