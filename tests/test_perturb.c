/* segagent perturb (sa_perturb_run) and the filter run on its output.
 *  - On the refer sample's COCO file: every annotation's "iou" equals the IoU computed here from its RLE and
 *    the ground truth (own pixel loop), its clicks lie inside the object's box with the sign the ground truth
 *    gives, and its mask is the tool's mask for those clicks from a fresh env.
 *  - Determinism: the same seed gives the same bytes with 1 and 2 workers; another seed gives other masks.
 *  - Bad parameters are refused.
 *  - End to end: perturb on a one-image folder, then `segagent filter --true-iou-field iou` with the loopback
 *    server scoring ("annotator-iou" answers round(100 * true IoU)): every mask scored, MAE <= 0.5, Pearson
 *    and Spearman near 1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "policy_server.h"
#include "segagent/coco.h"
#include "segagent/env.h"
#include "segagent/graphcut.h"
#include "segagent/perturb.h"
#include "segagent/refer.h"
#include "segagent/rle.h"
#include "segagent/scenes.h"
#include "testutil.h"

static double own_iou(const sa_mask *a, const sa_mask *b) {
    size_t in = 0, un = 0, n = (size_t)a->width * (size_t)a->height;
    for (size_t i = 0; i < n; i++) {
        in += a->data[i] && b->data[i];
        un += a->data[i] || b->data[i];
    }
    return un ? (double)in / (double)un : 1.0;
}

static void check_file(sa_tool *tool, const sa_refer *rf, const char *path, int per_object) {
    sa_coco_params cp = sa_coco_default_params();
    cp.value_key = "iou";
    sa_coco_set *set = NULL;
    sa_error err = {0};
    CHECKF(sa_coco_read(path, cp, &set, &err) == SA_OK, "%s", err.msg);
    if (!set) return;
    char *text = tu_read_file(path, NULL);
    cJSON *doc = cJSON_Parse(text);
    const cJSON *anns = cJSON_GetObjectItem(doc, "annotations");
    CHECK(sa_coco_n_anns(set) == 3 * per_object && cJSON_GetArraySize(anns) == 3 * per_object);
    sa_env *env = NULL;
    CHECK(sa_env_new(tool, sa_env_default_params(), &env, &err) == SA_OK);
    int distinct = 0;
    double first_iou = -1;
    for (int a = 0; a < sa_coco_n_anns(set); a++) {
        const sa_coco_ann *an = sa_coco_get_ann(set, a);
        const cJSON *ja = cJSON_GetArrayItem(anns, a);
        int obj = a / per_object;
        const sa_refer_sample *rs = sa_refer_get(rf, obj);
        CHECK((int64_t)cJSON_GetObjectItem(ja, "gt_id")->valuedouble == rs->ann_id);
        sa_image img = {0};
        sa_mask gt = {0}, m = {0}, again = {0};
        CHECK(sa_refer_load(rf, obj, &img, &gt, &err) == SA_OK);
        CHECK(sa_coco_ann_mask(set, a, img.height, img.width, &m, &err) == SA_OK);
        double iou = own_iou(&m, &gt);
        CHECKF(fabs(iou - an->value) < 1e-12, "annotation %d: iou field %.9f, computed %.9f", a,
               an->value, iou);
        if (first_iou < 0) first_iou = iou;
        distinct += fabs(iou - first_iou) > 1e-9;
        int bb[4];
        sa_mask_bbox(&gt, bb);
        const cJSON *clicks = cJSON_GetObjectItem(ja, "clicks");
        int n = cJSON_GetArraySize(clicks);
        CHECK(n >= 1 && n <= 5);
        sa_click cl[8];
        for (int i = 0; i < n && i < 8; i++) {
            const cJSON *c = cJSON_GetArrayItem(clicks, i);
            cl[i].y = cJSON_GetArrayItem(c, 0)->valueint;
            cl[i].x = cJSON_GetArrayItem(c, 1)->valueint;
            cl[i].positive = cJSON_GetArrayItem(c, 2)->valueint;
            CHECK(cl[i].y >= bb[1] && cl[i].y < bb[1] + bb[3] && cl[i].x >= bb[0] &&
                  cl[i].x < bb[0] + bb[2]);
            CHECK(cl[i].positive ==
                  (gt.data[(size_t)cl[i].y * (size_t)gt.width + (size_t)cl[i].x] != 0));
        }
        CHECK(sa_env_reset(env, &img, "x", &gt, NULL, NULL, &err) == SA_OK);
        CHECK(sa_env_predict_prompts(env, cl, n, NULL, &again, &err) == SA_OK);
        CHECKF(again.data && !memcmp(again.data, m.data, (size_t)m.width * (size_t)m.height),
               "annotation %d: not the tool's mask for its clicks", a);
        const sa_coco_image *im = sa_coco_get_image(set, an->image);
        CHECK(im && strstr(rs->image_path, im->file_name) && !strchr(im->file_name, '/'));
        sa_image_free(&img);
        sa_mask_free(&gt);
        sa_mask_free(&m);
        sa_mask_free(&again);
    }
    CHECK(distinct > 0); /* masks of varied quality */
    sa_env_free(env);
    cJSON_Delete(doc);
    free(text);
    sa_coco_free(set);
}

/* Masks must not share click streams: no two consecutive clicks of one mask reappear in another mask of the
 * same object (a generator seeded one step apart would repeat them shifted). */
static void test_independent_streams(void) {
    sa_mask gt = {0};
    sa_error err = {0};
    CHECK(sa_mask_new(&gt, 200, 150, &err) == SA_OK);
    for (int y = 20; y < 130; y++)
        for (int x = 30; x < 170; x++)
            gt.data[y * 200 + x] = (x + y) % 3 != 0;
    sa_perturb_params p = sa_perturb_default_params();
    p.per_object = 6;
    p.clicks_min = 4;
    p.clicks_max = 8;
    int repeats = 0;
    for (long obj = 0; obj < 4; obj++) {
        sa_click c[6][32];
        int n[6];
        for (int k = 0; k < 6; k++)
            CHECK(sa_perturb_clicks(&gt, NULL, p, obj, k, c[k], &n[k], &err) == SA_OK &&
                  n[k] >= 4 && n[k] <= 8);
        for (int a = 0; a < 6; a++)
            for (int b = 0; b < 6; b++)
                for (int i = 0; a != b && i + 1 < n[a]; i++)
                    for (int j = 0; j + 1 < n[b]; j++)
                        repeats += c[a][i].y == c[b][j].y && c[a][i].x == c[b][j].x &&
                                   c[a][i + 1].y == c[b][j + 1].y && c[a][i + 1].x == c[b][j + 1].x;
    }
    CHECKF(repeats == 0, "%d click pairs shared between masks", repeats);
    sa_click one[32];
    int n1 = 0, n2 = 0;
    sa_click two[32];
    CHECK(sa_perturb_clicks(&gt, NULL, p, 2, 3, one, &n1, &err) == SA_OK);
    CHECK(sa_perturb_clicks(&gt, NULL, p, 2, 3, two, &n2, &err) == SA_OK);
    CHECK(n1 == n2 && !memcmp(one, two, (size_t)n1 * sizeof one[0])); /* reproducible */
    CHECK(sa_perturb_clicks(&gt, NULL, p, 2, 6, one, &n1, &err) ==
          SA_ERR_INVALID); /* k beyond per_object */
    sa_mask_free(&gt);
}

static int same_bytes(const char *a, const char *b) {
    char *x = tu_read_file(a, NULL), *y = tu_read_file(b, NULL);
    int same = x && y && !strcmp(x, y);
    free(x);
    free(y);
    return same;
}

static void test_refer_sample(sa_tool *tool, const char *dir) {
    char *inst = tu_shared_path("data/refer_sample/refer/refcoco/instances.json");
    char *imgs = tu_shared_path("data/refer_sample/images/train2014");
    sa_refer *rf = NULL;
    sa_error err = {0};
    sa_refer_params rp = sa_refer_default_params();
    CHECKF(sa_refer_open_coco("coco", inst, imgs, rp, &rf, &err) == SA_OK, "%s", err.msg);
    if (!rf) goto done;
    char a[600], b[600], c[600];
    snprintf(a, sizeof a, "%s/a.json", dir);
    snprintf(b, sizeof b, "%s/b.json", dir);
    snprintf(c, sizeof c, "%s/c.json", dir);
    sa_perturb_params p = sa_perturb_default_params();
    p.limit = 3;
    p.per_object = 3;
    p.seed = 5;
    sa_perturb_stats st;
    CHECKF(sa_perturb_run(tool, NULL, rf, "coco", imgs, p, a, NULL, &st, &err) == SA_OK, "%s",
           err.msg);
    CHECK(st.objects == 3 && st.masks == 9 && st.skipped == 0);
    check_file(tool, rf, a, 3);
    p.workers = 2;
    CHECK(sa_perturb_run(tool, NULL, rf, "coco", imgs, p, b, NULL, NULL, &err) == SA_OK);
    CHECK(same_bytes(a, b));
    p.seed = 6;
    CHECK(sa_perturb_run(tool, NULL, rf, "coco", imgs, p, c, NULL, NULL, &err) == SA_OK);
    CHECK(!same_bytes(a, c));

    p = sa_perturb_default_params();
    p.clicks_min = 4;
    p.clicks_max = 3;
    CHECK(sa_perturb_run(tool, NULL, rf, "coco", imgs, p, c, NULL, NULL, &err) == SA_ERR_INVALID);
    p = sa_perturb_default_params();
    p.per_object = 0;
    CHECK(sa_perturb_run(tool, NULL, rf, "coco", imgs, p, c, NULL, NULL, &err) == SA_ERR_INVALID);
    CHECK(sa_perturb_run(tool, NULL, NULL, "x", NULL, sa_perturb_default_params(), c, NULL, NULL,
                         &err) == SA_ERR_INVALID);
    sa_refer_free(rf);
done:
    free(inst);
    free(imgs);
}

/* perturb (CLI) on a one-image folder, then filter with the loopback scorer. */
static void test_filter(const tu_cli *c) {
    char path[4096], gtp[4096], imp[4096];
    tu_cli_mkdir(c, "one");
    tu_cli_mkdir(c, "one/images");
    tu_cli_mkdir(c, "one/masks");
    sa_image img = {0};
    sa_mask gt = {0};
    sa_error err = {0};
    CHECK(sa_scene_render(1, 2, 96, 72, &img, &gt, &err) == SA_OK);
    /* the scorer tells mask from photo by green >= 127 in the overlay: keep the photo's green below that */
    for (size_t i = 0; img.data && i < (size_t)img.width * (size_t)img.height; i++)
        if (img.data[3 * i + 1] > 120) img.data[3 * i + 1] = 120;
    snprintf(imp, sizeof imp, "%s/one/images/star.png", c->dir);
    snprintf(gtp, sizeof gtp, "%s/one/masks/star.png", c->dir);
    CHECK(sa_image_save_png(imp, &img, &err) == SA_OK && sa_mask_save_png(gtp, &gt, &err) == SA_OK);
    snprintf(path, sizeof path,
             "perturb --dataset one=%s/one --per-object 12 --clicks-max 3 --seed 3 --out %s/p.json",
             c->dir, c->dir);
    int st = tu_cli_run(c, path, "perturb");
    char *log = tu_cli_slurp(c, "perturb.out");
    CHECKF(st == 0 && strstr(log, "12 masks"), "perturb exit %d: %s", st, log);
    free(log);

    test_server srv;
    if (ts_start(&srv, gtp) != 0) {
        CHECK(!"the loopback server did not start");
        return;
    }
    snprintf(
        path, sizeof path,
        "filter --annotations %s/p.json --images %s/one --true-iou-field iou --out %s/scores.json --policy %s "
        "--model annotator-iou --image-format png --quiet",
        c->dir, c->dir, c->dir, srv.base_url);
    st = tu_cli_run(c, path, "filter");
    log = tu_cli_slurp(c, "filter.out");
    CHECKF(st == 0 && strstr(log, "12 annotations scored, 0 failed"), "filter exit %d: %s", st,
           log);
    printf("perturb + filter (loopback scorer): %s", log);
    free(log);
    char *sj = tu_cli_slurp(c, "scores.json");
    cJSON *doc = cJSON_Parse(sj);
    const cJSON *met = cJSON_GetObjectItem(doc, "metrics");
    CHECK(met != NULL);
    if (met) {
        double mae = cJSON_GetObjectItem(met, "mae")->valuedouble;
        double pear = cJSON_GetObjectItem(met, "pearson")->valuedouble;
        double spear = cJSON_GetObjectItem(met, "spearman")->valuedouble;
        CHECKF(cJSON_GetObjectItem(met, "with_truth")->valueint == 12, "with_truth");
        CHECKF(mae <= 0.5 + 1e-9 && pear > 0.99 && spear > 0.9, "MAE %f Pearson %f Spearman %f",
               mae, pear, spear);
    }
    cJSON_Delete(doc);
    free(sj);
    ts_stop(&srv);
    sa_image_free(&img);
    sa_mask_free(&gt);
}

int main(int argc, char **argv) {
    (void)argc;
    tu_require_shared();
    tu_cli c;
    tu_cli_init(&c, argv[0]);
    sa_tool *tool = NULL;
    sa_error err = {0};
    CHECK(sa_graphcut_tool_new(sa_graphcut_default_params(), &tool, &err) == SA_OK);
    test_independent_streams();
    test_refer_sample(tool, c.dir);
    test_filter(&c);
    sa_tool_free(tool);
    int rc = tu_finish("test_perturb");
    if (rc == 0) tu_rmtree(c.dir);
    free(c.dir);
    return rc;
}
