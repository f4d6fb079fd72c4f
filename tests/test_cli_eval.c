/* The eval / annotate / demo commands, run as a user would: the built segagent binary (next to this test's
 * folder: <build>/segagent) on tiny generated datasets. Checks the exit codes, the JSON keys and values, the
 * files written, and the one-line messages for bad input (missing, corrupt, wrong-size, empty, unmatched
 * files, folder without pairs). A trivial scene -- a flat disc on a flat background -- must reach a high IoU. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "segagent/image.h"
#include "segagent/scenes.h"
#include "testutil.h"

static tu_cli T;
static char *tmp; /* T.dir */

static int run(const char *args, const char *tag) {
    return tu_cli_run(&T, args, tag);
}
static char *slurp(const char *rel) {
    return tu_cli_slurp(&T, rel);
}
static void mk(const char *rel) {
    tu_cli_mkdir(&T, rel);
}
static void write_text(const char *rel, const char *text) {
    tu_cli_write_text(&T, rel, text);
}

static int exists(const char *rel) {
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", tmp, rel);
    struct stat st;
    return stat(p, &st) == 0 && st.st_size > 0;
}

static void save(const char *rel, const sa_image *img) {
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", tmp, rel);
    sa_error err = {0};
    if (sa_image_save_png(p, img, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
}

/* Flat blue disc on a flat beige background, and its mask (0/255). */
static void trivial_scene(sa_image *img, sa_image *mask, int w, int h) {
    sa_error err = {0};
    if (sa_image_new(img, w, h, 3, &err) || sa_image_new(mask, w, h, 1, &err)) exit(1);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int in = (y - h / 2) * (y - h / 2) + (x - w / 2) * (x - w / 2) <= (h / 3) * (h / 3);
            uint8_t *p = img->data + ((size_t)y * w + x) * 3;
            p[0] = in ? 30 : 220, p[1] = in ? 60 : 200, p[2] = in ? 200 : 150;
            mask->data[(size_t)y * w + x] = in ? 255 : 0;
        }
}

static void make_dataset(void) {
    mk("ds");
    mk("ds/images");
    mk("ds/masks");
    sa_image img = {0}, m = {0};
    trivial_scene(&img, &m, 80, 60);
    save("ds/images/a_trivial.png", &img);
    save("ds/masks/a_trivial.png", &m);
    save("ds/images/empty.png", &img);
    save("ds/images/size.png", &img);
    save("ann_img.png", &img);
    save("ann_gt.png", &m);
    sa_image_free(&m);
    if (sa_image_new(&m, 80, 60, 1, NULL)) exit(1);
    save("ds/masks/empty.png", &m);
    save("ann_empty.png", &m);
    sa_image_free(&m);
    if (sa_image_new(&m, 40, 60, 1, NULL)) exit(1);
    memset(m.data, 255, 40 * 60);
    save("ds/masks/size.png", &m);
    save("ann_small.png", &m);
    sa_image_free(&m);
    sa_image_free(&img);
    /* one real scene, small */
    sa_mask gt = {0};
    if (sa_scene_render(1, 3, 96, 72, &img, &gt, NULL)) exit(1);
    save("ds/images/b_star.png", &img);
    if (sa_image_new(&m, 96, 72, 1, NULL)) exit(1);
    for (int i = 0; i < 96 * 72; i++)
        m.data[i] = gt.data[i] ? 255 : 0;
    save("ds/masks/b_star.png", &m);
    sa_image_free(&m);
    sa_image_free(&img);
    sa_mask_free(&gt);
    write_text("ds/images/corrupt.jpg", "\xff\xd8\xff\xe0 not really a jpeg");
    write_text("ds/masks/corrupt.png", "\x89PNG\r\n\x1a\n");
    write_text("ds/images/lonely.png", "x");
    mk("nopairs");
    mk("nopairs/img");
    mk("nopairs/gt");
    write_text("nopairs/img/a.png", "x");
    write_text("nopairs/gt/b.png", "x");
}

static const cJSON *get(const cJSON *o, const char *path) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *tok = strtok(buf, "/"); tok && o; tok = strtok(NULL, "/"))
        o = cJSON_GetObjectItemCaseSensitive(o, tok);
    return o;
}

static double num(const cJSON *o, const char *path) {
    const cJSON *v = get(o, path);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void test_eval(void) {
    char args[8192];
    snprintf(args, sizeof args,
             "eval --dataset Tiny=%s/ds --max-clicks 5 --json %s/out.json --quiet", tmp, tmp);
    int rc = run(args, "eval1");
    char *err = slurp("eval1.err"), *out = slurp("eval1.out");
    CHECKF(rc == 0, "exit %d: %s", rc, err);
    CHECK(strstr(out, "NoC@90") && strstr(out, "Tiny"));
    /* one line per problem, naming the file */
    CHECKF(strstr(err, "lonely.png") != NULL, "%s", err);
    CHECK(strstr(err, "corrupt.jpg") != NULL);
    CHECK(strstr(err, "size.png") != NULL);
    CHECK(strstr(err, "empty.png") && strstr(err, "empty ground truth"));
    char *json = slurp("out.json");
    cJSON *doc = cJSON_Parse(json);
    CHECKF(doc != NULL, "out.json does not parse");
    if (doc) {
        CHECK(cJSON_IsString(get(doc, "tool")));
        CHECK(num(doc, "max_clicks") == 5);
        const cJSON *ds = get(doc, "datasets/Tiny");
        CHECK(ds != NULL);
        const char *keys[] = {"noc@80",
                              "noc@85",
                              "noc@90",
                              "nof@85",
                              "nof@90",
                              "miou@1",
                              "miou@2",
                              "miou@3",
                              "miou@5",
                              "ciou@5",
                              "ms_per_click_mean",
                              "ms_per_click_median",
                              "ms_per_click_p95"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            char p[64];
            snprintf(p, sizeof p, "summary/%s", keys[i]);
            CHECKF(cJSON_IsNumber(get(ds, p)), "missing %s", keys[i]);
        }
        CHECK(cJSON_IsNull(get(ds, "summary/miou@20"))); /* beyond --max-clicks */
        CHECK(num(ds, "summary/n_samples") == 2 && num(ds, "summary/n_skipped") == 3);
        double noc90 = num(ds, "summary/noc@90");
        CHECK(noc90 >= 1 && noc90 <= 5);
        const cJSON *samples = get(ds, "samples");
        CHECK(cJSON_GetArraySize(samples) == 2);
        const cJSON *s0 = cJSON_GetArrayItem(samples, 0);
        CHECK(s0 && !strcmp(cJSON_GetStringValue(get(s0, "name")), "a_trivial"));
        const cJSON *ious = get(s0, "ious"), *clicks = get(s0, "clicks"), *ms = get(s0, "ms");
        int n = cJSON_GetArraySize(ious);
        CHECK(n >= 1 && n <= 5 && cJSON_GetArraySize(clicks) == n && cJSON_GetArraySize(ms) == n);
        /* The trivial disc: the first click is positive at the disc centre, and the IoU is high by click 3. */
        const cJSON *c0 = cJSON_GetArrayItem(clicks, 0);
        CHECK(cJSON_GetArraySize(c0) == 3 && cJSON_GetArrayItem(c0, 0)->valueint == 30 &&
              cJSON_GetArrayItem(c0, 1)->valueint == 40 &&
              cJSON_GetArrayItem(c0, 2)->valueint == 1);
        double last = cJSON_GetArrayItem(ious, n < 3 ? n - 1 : 2)->valuedouble;
        CHECKF(last >= 0.9, "trivial scene IoU after 3 clicks %.3f", last);
        const cJSON *skipped = get(ds, "skipped");
        CHECK(cJSON_GetArraySize(skipped) == 3);
        const cJSON *k0 = cJSON_GetArrayItem(skipped, 0);
        CHECK(k0 && strstr(cJSON_GetStringValue(get(k0, "error")), "corrupt"));
        const cJSON *warnings = get(ds, "warnings");
        CHECK(cJSON_GetArraySize(warnings) == 1 &&
              strstr(cJSON_GetArrayItem(warnings, 0)->valuestring, "lonely"));
    }
    /* chart next to the JSON */
    char *svg = slurp("out.svg");
    CHECK(strstr(svg, "<svg") && strstr(svg, "Tiny") && strstr(svg, "<polyline"));
    free(svg);

    /* --jobs 2: the same curves */
    snprintf(args, sizeof args,
             "eval --dataset Tiny=%s/ds --max-clicks 5 --json %s/out2.json --chart %s/c2.svg "
             "--jobs 2 --quiet",
             tmp, tmp, tmp);
    rc = run(args, "eval2");
    CHECK(rc == 0 && exists("c2.svg") && !exists("out2.svg"));
    char *json2 = slurp("out2.json");
    cJSON *doc2 = cJSON_Parse(json2);
    if (doc && doc2) {
        for (int i = 0; i < 2; i++) {
            const cJSON *a = cJSON_GetArrayItem(get(doc, "datasets/Tiny/samples"), i);
            const cJSON *b = cJSON_GetArrayItem(get(doc2, "datasets/Tiny/samples"), i);
            char *ia = cJSON_PrintUnformatted(get(a, "ious")),
                 *ib = cJSON_PrintUnformatted(get(b, "ious"));
            char *ca = cJSON_PrintUnformatted(get(a, "clicks")),
                 *cb = cJSON_PrintUnformatted(get(b, "clicks"));
            CHECKF(ia && ib && !strcmp(ia, ib) && ca && cb && !strcmp(ca, cb),
                   "sample %d differs with --jobs 2", i);
            free(ia), free(ib), free(ca), free(cb);
        }
        CHECK(num(doc, "datasets/Tiny/summary/noc@85") ==
              num(doc2, "datasets/Tiny/summary/noc@85"));
    } else {
        CHECK(doc2 != NULL);
    }
    cJSON_Delete(doc);
    cJSON_Delete(doc2);
    free(json);
    free(json2);
    free(err);
    free(out);

    /* Two datasets, one of them unusable: still exit 0, the bad one named. */
    snprintf(args, sizeof args,
             "eval --dataset Tiny=%s/ds --dataset Bad=%s/nopairs --max-clicks 2 --limit 1 --quiet",
             tmp, tmp);
    rc = run(args, "eval3");
    err = slurp("eval3.err");
    CHECKF(rc == 0 && strstr(err, "nopairs") && strstr(err, "no image/mask pairs"), "exit %d: %s",
           rc, err);
    free(err);
    /* Nothing could be done: exit 1 with the folder named. */
    snprintf(args, sizeof args, "eval --dataset %s/nopairs --quiet", tmp);
    rc = run(args, "eval4");
    err = slurp("eval4.err");
    CHECKF(rc == 1 && strstr(err, "nopairs"), "exit %d: %s", rc, err);
    free(err);
    snprintf(args, sizeof args, "eval --dataset X=%s/does-not-exist --quiet", tmp);
    rc = run(args, "eval5");
    err = slurp("eval5.err");
    CHECKF(rc == 1 && strstr(err, "does-not-exist"), "exit %d: %s", rc, err);
    free(err);
    /* Usage errors and help. */
    CHECK(run("eval", "eval6") == 2);
    CHECK(run("eval --dataset x --max-clicks 0", "eval7") == 2);
    CHECK(run("eval --help", "eval8") == 0);
    out = slurp("eval8.out");
    CHECK(strstr(out, "NoC@80/85/90") && strstr(out, "examples") && strstr(out, "--jobs"));
    free(out);
}

static void test_annotate(void) {
    char args[8192];
    snprintf(args, sizeof args,
             "annotate --image %s/ann_img.png --gt %s/ann_gt.png --out %s/run --max-clicks 4", tmp,
             tmp, tmp);
    int rc = run(args, "ann1");
    char *err = slurp("ann1.err"), *out = slurp("ann1.out");
    CHECKF(rc == 0, "exit %d: %s", rc, err);
    CHECK(strstr(out, "step  1") && strstr(out, "IoU"));
    CHECK(exists("run/step_01.png") && exists("run/mask.png") && exists("run/gt.png") &&
          exists("run/summary.json"));
    char *js = slurp("run/summary.json");
    cJSON *doc = cJSON_Parse(js);
    CHECK(doc != NULL);
    if (doc) {
        int n = cJSON_GetArraySize(get(doc, "steps"));
        CHECK(n >= 1 && n <= 4 && num(doc, "clicks") == n);
        CHECKF(num(doc, "final_iou") >= 0.9, "final IoU %g", num(doc, "final_iou"));
        CHECK(cJSON_IsNumber(get(doc, "noc@90")));
        /* the final mask file matches the final IoU: load it back */
        char p[8192];
        snprintf(p, sizeof p, "%s/run/mask.png", tmp);
        sa_image m = {0};
        CHECK(sa_image_load_values(p, &m, NULL) == SA_OK && m.width == 80 && m.height == 60);
        sa_image_free(&m);
    }
    cJSON_Delete(doc);
    free(js);
    free(err);
    free(out);

    /* --target-iou stops early */
    snprintf(args, sizeof args,
             "annotate --image %s/ann_img.png --gt %s/ann_gt.png --out %s/run2 --target-iou 0.5 "
             "--no-overlays",
             tmp, tmp, tmp);
    CHECK(run(args, "ann2") == 0 && !exists("run2/step_01.png") && exists("run2/summary.json"));

    struct {
        const char *image, *gt, *expect;
    } bad[] = {
        {"missing.png", "ann_gt.png", "missing.png"},
        {"ds/images/corrupt.jpg", "ann_gt.png", "corrupt.jpg"},
        {"ann_img.png", "ann_small.png", "ann_small.png"},
        {"ann_img.png", "ann_empty.png", "empty ground truth"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(args, sizeof args, "annotate --image %s/%s --gt %s/%s --out %s/runbad", tmp,
                 bad[i].image, tmp, bad[i].gt, tmp);
        rc = run(args, "annbad");
        err = slurp("annbad.err");
        CHECKF(rc == 1 && strstr(err, bad[i].expect), "%s: exit %d: %s", bad[i].expect, rc, err);
        CHECK(strchr(err, '\n') == strrchr(err, '\n')); /* one line */
        free(err);
    }
    CHECK(run("annotate --image x.png", "ann3") == 2);
}

static void test_demo(void) {
    char args[8192];
    snprintf(args, sizeof args, "demo --out %s/demo --max-clicks 4 --size 96x72", tmp);
    int rc = run(args, "demo");
    char *err = slurp("demo.err"), *out = slurp("demo.out");
    CHECKF(rc == 0, "exit %d: %s", rc, err);
    CHECK(strstr(out, "NoC@90") && strstr(out, "ellipse") && strstr(out, "camouflage"));
    CHECK(exists("demo/summary.json") && exists("demo/chart.svg") &&
          exists("demo/ellipse/step_01.png") && exists("demo/ellipse/gt.png") &&
          exists("demo/pair/image.png"));
    char *js = slurp("demo/summary.json");
    cJSON *doc = cJSON_Parse(js);
    CHECK(doc && cJSON_GetArraySize(get(doc, "datasets/demo/samples")) == sa_scene_count());
    double m4 = num(doc, "datasets/demo/summary/miou@3");
    CHECKF(m4 > 0.5 && m4 <= 1.0, "demo mIoU@3 %g", m4);
    cJSON_Delete(doc);
    free(js);
    free(err);
    free(out);
    CHECK(run("demo --size 10x10", "demo2") == 2);
}

int main(int argc, char **argv) {
    (void)argc;
    tu_cli_init(&T, argv[0]);
    tmp = T.dir;
    make_dataset();
    test_eval();
    test_annotate();
    test_demo();
    if (tu_failures == 0) { /* keep the files for a look when something failed */
        if (tu_rmtree(tmp) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    } else {
        fprintf(stderr, "files kept in %s\n", tmp);
    }
    free(tmp);
    return tu_finish("test_cli_eval");
}
