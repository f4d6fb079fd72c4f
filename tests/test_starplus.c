/* StaR+ on one sample (sa_starplus_episode) with scripted in-process policies on the built-in scenes and the
 * graph cut. Every written click, its source, its IoU and the kept / replaced counts are checked against an
 * independent replay here: a second environment, the same proposals, sa_env_preview for the gain and
 * sa_clicker_next for the expert. A policy that always clicks like the annotator, and one that never gives a
 * usable reply, must both reproduce what the trajectory recorder writes (all "policy", all "expert"). The
 * served policy must never see the ground truth. Bad parameters and an empty ground truth are refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "segagent/clicker.h"
#include "segagent/dataset.h"
#include "segagent/env.h"
#include "segagent/fileio.h"
#include "segagent/graphcut.h"
#include "segagent/record.h"
#include "segagent/scenes.h"
#include "segagent/starplus.h"
#include "testutil.h"

enum { MODE_MIX = 0, MODE_GOOD = 1, MODE_UNUSABLE = 2, MODE_BLIND = 3 };

/* A scripted policy: on call t, MIX gives the annotator's click (t % 3 == 0), a positive click in the top-left
 * corner (t % 3 == 1) or an unparseable reply (t % 3 == 2); GOOD always the annotator's click; UNUSABLE never
 * a usable reply. It computes the annotator's click from its own copy of the ground truth. */
typedef struct script {
    int mode, calls, saw_gt;
    const sa_mask *gt; /* private */
} script;

/* What the script proposes at call t on state (mask, clicks): 1 with *c, 0 for an unusable reply. */
static int propose(int mode, int t, const sa_mask *gt, const sa_mask *mask, const sa_click *clicks,
                   int n, sa_click *c) {
    int kind = mode == MODE_GOOD       ? 0
               : mode == MODE_UNUSABLE ? 2
               : mode == MODE_BLIND    ? 1 + t % 2
                                       : t % 3;
    if (kind == 2) return 0;
    if (kind == 1) {
        *c = (sa_click){.y = 0, .x = 0, .positive = 1};
        return 1;
    }
    sa_clicker_click k;
    if (sa_clicker_next(gt, NULL, mask, clicks, n, &k, NULL) != SA_OK) return 0;
    *c = (sa_click){.y = k.y, .x = k.x, .positive = k.positive};
    return 1;
}

static int script_act(void *self, const sa_policy_obs *obs, int k, sa_policy_decision *out,
                      int *n_out, sa_error *err) {
    (void)k;
    (void)err;
    script *s = self;
    if (obs->gt) s->saw_gt = 1;
    sa_click c;
    int ok = propose(s->mode, s->calls++, s->gt, obs->mask, obs->clicks, obs->n_clicks, &c);
    out[0].status = ok ? SA_OK : SA_ERR_PARSE;
    if (ok) out[0].action = sa_action_click(c.y, c.x, c.positive);
    out[0].text = malloc(8);
    if (out[0].text) snprintf(out[0].text, 8, ok ? "click" : "??");
    *n_out = 1;
    return SA_OK;
}

static void script_reset(void *self) {
    ((script *)self)->calls = 0;
}

static const sa_policy_ops script_ops = {
    .name = "script", .act = script_act, .reset = script_reset};

/* The independent replay: walks the rule with a fresh env and checks the sample and stats against it. */
static void replay(sa_tool *tool, const sa_image *img, const sa_mask *gt, int mode,
                   const sa_starplus_params *p, const sa_traj_sample *smp,
                   const sa_starplus_sample_stats *st, const char *name) {
    sa_env *env = NULL;
    sa_error err = {0};
    CHECK(sa_env_new(tool, sa_env_default_params(), &env, &err) == SA_OK);
    CHECK(sa_env_reset(env, img, "x", gt, NULL, NULL, &err) == SA_OK);
    int kept = 0, replaced = 0, unusable = 0, written = 0;
    double last_iou = sa_env_iou(env);
    for (int t = 0; t < p->max_clicks && sa_env_iou(env) < p->target_iou; t++) {
        double before = sa_env_iou(env);
        sa_click c;
        int usable =
            propose(mode, t, gt, sa_env_mask(env), sa_env_clicks(env), sa_env_n_clicks(env), &c);
        int keep = 0;
        if (usable) {
            sa_action a = sa_action_click(c.y, c.x, c.positive);
            sa_tool_result res;
            memset(&res, 0, sizeof res);
            CHECK(sa_env_preview(env, &a, &res, &err) == SA_OK);
            keep = sa_mask_iou(&res.mask, gt, NULL) - before > 0.0;
            sa_tool_result_free(&res);
        }
        kept += keep;
        replaced += !keep;
        unusable += !usable;
        sa_click e = c;
        if (!keep) {
            sa_clicker_click k;
            if (sa_clicker_next(gt, NULL, sa_env_mask(env), sa_env_clicks(env),
                                sa_env_n_clicks(env), &k, &err))
                break; /* nothing left to fix */
            e = (sa_click){.y = k.y, .x = k.x, .positive = k.positive};
        }
        sa_action a = sa_action_click(e.y, e.x, e.positive);
        sa_env_step_info info;
        CHECK(sa_env_step(env, &a, &info, &err) == SA_OK);
        if (!(info.iou > before)) break; /* an expert click without gain: the end, not written */
        CHECKF(written < smp->n_steps, "%s: replay writes click %d, the sample has %d", name,
               written, smp->n_steps);
        if (written < smp->n_steps) {
            const sa_traj_step *s = &smp->steps[written];
            CHECKF(s->click.y == e.y && s->click.x == e.x && s->click.positive == e.positive,
                   "%s: click %d is (%d,%d,%d), replay (%d,%d,%d)", name, written, s->click.y,
                   s->click.x, s->click.positive, e.y, e.x, e.positive);
            CHECKF(!strcmp(s->source, keep ? "policy" : "expert"), "%s: click %d source %s", name,
                   written, s->source);
            CHECKF(fabs(s->iou - info.iou) < 1e-12, "%s: click %d IoU %.6f, replay %.6f", name,
                   written, s->iou, info.iou);
        }
        if (t < st->policy_actions)
            CHECKF(fabs(st->actions[t].iou_after - info.iou) < 1e-12 &&
                       fabs(st->actions[t].iou_before - before) < 1e-12,
                   "%s: action %d IoU %.6f -> %.6f, replay %.6f -> %.6f", name, t,
                   st->actions[t].iou_before, st->actions[t].iou_after, before, info.iou);
        written++;
        last_iou = info.iou;
    }
    CHECKF(written == smp->n_steps, "%s: %d clicks written, replay %d", name, smp->n_steps,
           written);
    CHECKF(st->kept == kept && st->replaced == replaced && st->unusable == unusable &&
               st->policy_actions == kept + replaced,
           "%s: kept %d replaced %d unusable %d, replay %d %d %d", name, st->kept, st->replaced,
           st->unusable, kept, replaced, unusable);
    CHECKF(fabs(st->iou_final - last_iou) < 1e-12 && st->iou_start == 0.0,
           "%s: final IoU %.6f, replay %.6f", name, st->iou_final, last_iou);
    sa_env_free(env);
}

static void run_scene(sa_tool *tool, int scene, int mode, int *kept_total, int *replaced_total) {
    sa_image img = {0};
    sa_mask gt = {0};
    sa_error err = {0};
    CHECK(sa_scene_render(scene, 3, 160, 120, &img, &gt, &err) == SA_OK);
    script sc = {.mode = mode, .gt = &gt};
    sa_policy *pol = NULL;
    CHECK(sa_policy_new(&script_ops, &sc, &pol, &err) == SA_OK);
    sa_env *env = NULL;
    CHECK(sa_env_new(tool, sa_env_default_params(), &env, &err) == SA_OK);
    CHECK(sa_env_reset(env, &img, sa_scene_description(scene), &gt, NULL, NULL, &err) == SA_OK);
    sa_starplus_params p = sa_starplus_default_params();
    p.max_clicks = 8;
    p.target_iou = 0.97;
    sa_traj_sample smp = {0};
    sa_starplus_sample_stats st;
    int rc = sa_starplus_episode(env, pol, NULL, p, &smp, &st, &err);
    CHECKF(rc == SA_OK, "scene %d mode %d: %s", scene, mode, err.msg);
    CHECK(!sc.saw_gt); /* the served policy never sees the ground truth */
    char name[64];
    snprintf(name, sizeof name, "%s/mode %d", sa_scene_name(scene), mode);
    if (rc == SA_OK) replay(tool, &img, &gt, mode, &p, &smp, &st, name);
    *kept_total += st.kept;
    *replaced_total += st.replaced;

    if (rc == SA_OK &&
        mode != MODE_MIX) { /* the recorder with the annotator writes the same clicks */
        sa_policy *ann = NULL;
        CHECK(sa_clicker_policy_new(&ann, &err) == SA_OK);
        sa_traj_params tp = sa_traj_default_params();
        tp.max_clicks = p.max_clicks;
        tp.target_iou = p.target_iou;
        sa_traj_sample ref = {0};
        CHECK(sa_traj_record(env, ann, tp, &ref, &err) == SA_OK);
        CHECKF(ref.n_steps == smp.n_steps, "%s: recorder %d clicks, starplus %d", name, ref.n_steps,
               smp.n_steps);
        for (int i = 0; i < ref.n_steps && i < smp.n_steps; i++) {
            CHECK(ref.steps[i].click.y == smp.steps[i].click.y &&
                  ref.steps[i].click.x == smp.steps[i].click.x);
            CHECK(!strcmp(ref.steps[i].mask, smp.steps[i].mask));
            CHECK(!strcmp(smp.steps[i].source, mode == MODE_GOOD ? "policy" : "expert"));
        }
        sa_traj_sample_free(&ref);
        sa_policy_free(ann);
        if (mode == MODE_UNUSABLE) CHECK(st.kept == 0 && st.unusable == st.policy_actions);
    }
    sa_traj_sample_free(&smp);
    sa_starplus_sample_stats_free(&st);
    sa_env_free(env);
    sa_policy_free(pol);
    sa_image_free(&img);
    sa_mask_free(&gt);
}

static void test_refusals(sa_tool *tool) {
    sa_image img = {0};
    sa_mask gt = {0}, empty = {0};
    sa_error err = {0};
    CHECK(sa_scene_render(0, 3, 64, 48, &img, &gt, &err) == SA_OK);
    CHECK(sa_mask_new(&empty, 64, 48, &err) == SA_OK);
    script sc = {.mode = MODE_GOOD, .gt = &gt};
    sa_policy *pol = NULL;
    CHECK(sa_policy_new(&script_ops, &sc, &pol, &err) == SA_OK);
    sa_env *env = NULL;
    CHECK(sa_env_new(tool, sa_env_default_params(), &env, &err) == SA_OK);
    CHECK(sa_env_reset(env, &img, "x", &gt, NULL, NULL, &err) == SA_OK);
    sa_traj_sample smp = {0};
    sa_starplus_params p = sa_starplus_default_params();
    p.min_gain = -0.1;
    CHECK(sa_starplus_episode(env, pol, NULL, p, &smp, NULL, &err) == SA_ERR_INVALID);
    p = sa_starplus_default_params();
    p.target_iou = 1.5;
    CHECK(sa_starplus_episode(env, pol, NULL, p, &smp, NULL, &err) == SA_ERR_INVALID);
    p = sa_starplus_default_params();
    p.max_clicks = 0;
    CHECK(sa_starplus_episode(env, pol, NULL, p, &smp, NULL, &err) == SA_ERR_INVALID);
    CHECK(sa_env_reset(env, &img, "x", &empty, NULL, NULL, &err) == SA_OK);
    CHECK(sa_starplus_episode(env, pol, NULL, sa_starplus_default_params(), &smp, NULL, &err) ==
          SA_ERR_FORMAT);
    CHECK(sa_env_reset(env, &img, "x", NULL, NULL, NULL, &err) == SA_OK);
    CHECK(sa_starplus_episode(env, pol, NULL, sa_starplus_default_params(), &smp, NULL, &err) ==
          SA_ERR_FORMAT);
    CHECK(smp.n_steps == 0 && smp.gt == NULL);
    sa_env_free(env);
    sa_policy_free(pol);
    sa_image_free(&img);
    sa_mask_free(&gt);
    sa_mask_free(&empty);
}

static void test_stats_path(void) {
    const char *in[] = {"star.json", "runs/a.b/out.json", "noext", "dir.x/noext", ".hidden"};
    const char *want[] = {"star.stats.json", "runs/a.b/out.stats.json", "noext.stats.json",
                          "dir.x/noext.stats.json", ".hidden.stats.json"};
    for (int i = 0; i < 5; i++) {
        char *p = sa_starplus_stats_path(in[i]);
        CHECKF(p && !strcmp(p, want[i]), "%s -> %s", in[i], p ? p : "(null)");
        free(p);
    }
}

/* ---- a dataset run (sa_starplus_run) with a broken item, then a resume ---- */

static int make_blind(void *ctx, sa_policy **out, sa_error *err) {
    (void)ctx;
    script *s = calloc(1, sizeof *s);
    if (!s) return sa_error_set(err, SA_ERR_NOMEM, "oom");
    s->mode = MODE_BLIND;
    static const sa_policy_ops ops = {
        .name = "blind", .act = script_act, .reset = script_reset, .free = free};
    return sa_policy_new(&ops, s, out, err);
}

typedef struct counter {
    int items, failed;
} counter;

static void count_item(void *user, const sa_sample_set *set, int item, int status,
                       const char *message, const sa_starplus_sample_stats *st) {
    (void)set;
    (void)item;
    (void)message;
    counter *c = user;
    c->items++;
    c->failed += status != SA_OK;
    if (status == SA_OK) CHECK(st && st->kept + st->replaced == st->policy_actions);
}

static void test_run(sa_tool *tool) {
    char *dir = tu_tmpdir();
    char path[4096];
    sa_error err = {0};
    snprintf(path, sizeof path, "%s/images", dir);
    CHECK(sa_make_dirs(path, &err) == SA_OK);
    snprintf(path, sizeof path, "%s/masks", dir);
    CHECK(sa_make_dirs(path, &err) == SA_OK);
    const char *names[3] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        sa_image img = {0};
        sa_mask gt = {0};
        CHECK(sa_scene_render(i, 4, 80, 60, &img, &gt, &err) == SA_OK);
        snprintf(path, sizeof path, "%s/images/%s.png", dir, names[i]);
        if (i == 1) { /* a broken image: reported, recorded as an error, the run goes on */
            FILE *f = fopen(path, "wb");
            if (f) {
                fputs("\x89PNG broken", f);
                fclose(f);
            }
        } else {
            CHECK(sa_image_save_png(path, &img, &err) == SA_OK);
        }
        snprintf(path, sizeof path, "%s/masks/%s.png", dir, names[i]);
        CHECK(sa_mask_save_png(path, &gt, &err) == SA_OK);
        sa_image_free(&img);
        sa_mask_free(&gt);
    }
    sa_dataset *ds = NULL;
    CHECKF(sa_dataset_open("mini", dir, sa_dataset_default_params(), &ds, &err) == SA_OK, "%s",
           err.msg);
    if (!ds) goto done;
    sa_sample_set set = {.label = "mini", .dataset = ds};
    sa_starplus_params p = sa_starplus_default_params();
    p.max_clicks = 4;
    p.workers = 2;
    char out[4096];
    snprintf(out, sizeof out, "%s/star.json", dir);
    sa_starplus_run_opts o = {.out = out, .shard = sa_shard_whole(), .resume = 0};
    counter cnt = {0};
    sa_starplus_hooks hooks = {.user = &cnt, .on_item = count_item};
    sa_starplus_totals t;
    CHECKF(sa_starplus_run(tool, &set, 1, make_blind, NULL, p, o, &hooks, &t, &err) == SA_OK, "%s",
           err.msg);
    CHECK(cnt.items == 3 && cnt.failed == 1);
    CHECK(t.items == 3 && t.done == 3 && t.samples == 2 && t.failed == 1 && t.merged && !t.stopped);
    CHECK(t.kept + t.replaced == t.policy_actions && t.unusable > 0);
    char *first = tu_read_file(out, NULL);
    snprintf(path, sizeof path, "%s/star.stats.json", dir);
    char *stats = tu_read_file(path, NULL);
    cJSON *sj = stats ? cJSON_Parse(stats) : NULL;
    const cJSON *b = cJSON_GetArrayItem(cJSON_GetObjectItem(sj, "samples"), 1);
    CHECK(b && cJSON_IsString(cJSON_GetObjectItem(b, "error")) &&
          !strcmp(cJSON_GetObjectItem(b, "key")->valuestring, "mini/b"));
    cJSON_Delete(sj);
    /* resume of a finished run: nothing is run again, the same file is written */
    o.resume = 1;
    cnt = (counter){0};
    CHECK(sa_starplus_run(tool, &set, 1, make_blind, NULL, p, o, &hooks, &t, &err) == SA_OK);
    CHECK(cnt.items == 0 && t.resumed == 3 && t.merged);
    char *second = tu_read_file(out, NULL);
    CHECK(first && second && !strcmp(first, second));
    free(first);
    free(second);
    free(stats);
    sa_dataset_free(ds);
done:
    tu_rmtree(dir);
    free(dir);
}

int main(void) {
    sa_tool *tool = NULL;
    sa_error err = {0};
    if (sa_graphcut_tool_new(sa_graphcut_default_params(), &tool, &err) != SA_OK) {
        fprintf(stderr, "graph cut: %s\n", err.msg);
        return 1;
    }
    int kept = 0, replaced = 0;
    for (int s = 0; s < sa_scene_count(); s++)
        for (int mode = 0; mode < 3; mode++)
            run_scene(tool, s, mode, &kept, &replaced);
    CHECKF(kept > 0 && replaced > 0, "kept %d replaced %d: the scripts must produce both", kept,
           replaced);
    printf("scripted policies over %d scenes: %d actions kept, %d replaced\n", sa_scene_count(),
           kept, replaced);
    test_refusals(tool);
    test_stats_path();
    test_run(tool);
    sa_tool_free(tool);
    return tu_finish("test_starplus");
}
