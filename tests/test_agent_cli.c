/* The segment / refine / score / filter commands end to end: the segagent binary of this build against the
 * loopback scripted server. Checks exit codes, the files written (mask, RLE, trajectory, overlays), the
 * printed predicted IoU, the filter metrics against true IoUs, and the error paths (unreachable server,
 * unknown model, unreadable image, empty description, bad options) -- each a clear message, a partial
 * trajectory where an episode had started, never a crash. Skips when the binary is not built. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "policy_server.h"
#include "segagent/image.h"
#include "segagent/mask.h"
#include "segagent/rle.h"
#include "testutil.h"

#define W 48
#define H 36

static char bin[512], dir[512], logp[600];
static test_server srv;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
    char cmd[8192], full[8800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "%s >%s 2>&1", cmd, logp);
    int st = system(full);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *log_text(void) {
    return tu_read_file(logp, NULL);
}

static int log_has(const char *s) {
    char *t = log_text();
    int r = t && strstr(t, s) != NULL;
    if (!r) fprintf(stderr, "log lacks \"%s\":\n%s\n", s, t ? t : "(none)");
    free(t);
    return r;
}

static int exists(const char *d, const char *name) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", d, name);
    struct stat st;
    return stat(p, &st) == 0 && st.st_size > 0;
}

static cJSON *load_json(const char *path) {
    char *t = tu_read_file(path, NULL);
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    free(t);
    return j;
}

static cJSON *rle_json(const sa_mask *m) {
    sa_rle r = {0};
    sa_rle_encode(m, &r, NULL);
    cJSON *j = sa_rle_to_json(&r, NULL);
    sa_rle_free(&r);
    return j;
}

int main(int argc, char **argv) {
    (void)argc;
    tu_cli cli; /* the binary beside this test's folder, and a fresh temporary directory */
    tu_cli_init(&cli, argv[0]);
    if (strlen(cli.bin) >= sizeof bin || strlen(cli.dir) >= sizeof dir) {
        fprintf(stderr, "paths too long for this test: %s, %s\n", cli.bin, cli.dir);
        return 1;
    }
    snprintf(bin, sizeof bin, "%.511s", cli.bin);
    snprintf(dir, sizeof dir, "%.511s", cli.dir);
    free(cli.dir);
    snprintf(logp, sizeof logp, "%s/log.txt", dir);
    /* the scene: green below 127 so the server decodes the overlay */
    sa_image img = {0};
    sa_mask gt = {0}, half = {0}, shifted = {0};
    sa_image_new(&img, W, H, 3, NULL);
    sa_mask_new(&gt, W, H, NULL);
    sa_mask_new(&half, W, H, NULL);
    sa_mask_new(&shifted, W, H, NULL);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double dy = (y - 17.0) / 11.0, dx = (x - 25.0) / 16.0;
            int in = dx * dx + dy * dy <= 1.0;
            gt.data[y * W + x] = (uint8_t)in;
            half.data[y * W + x] = (uint8_t)(in && x < 25);
            uint8_t *px = img.data + 3 * (y * W + x);
            px[0] = (uint8_t)(in ? 200 : 40);
            px[1] = (uint8_t)(in ? 90 : 20 + (y * 5) % 40);
            px[2] = (uint8_t)(in ? 60 : 150);
        }
    for (int y = 0; y < H; y++)
        for (int x = 4; x < W; x++)
            shifted.data[y * W + x] = gt.data[y * W + x - 4];
    char photo[700], gtp[700], halfp[700];
    snprintf(photo, sizeof photo, "%s/photo.png", dir);
    snprintf(gtp, sizeof gtp, "%s/gt.png", dir);
    snprintf(halfp, sizeof halfp, "%s/half.png", dir);
    sa_error err = {0};
    if (sa_image_save_png(photo, &img, &err) || sa_mask_save_png(gtp, &gt, &err) ||
        sa_mask_save_png(halfp, &half, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    if (ts_start(&srv, gtp)) return 1;
    const char *pol = srv.base_url;

    /* segment, greedy */
    char out[800];
    snprintf(out, sizeof out, "%s/run1", dir);
    int rc = sh(
        "%s segment %s 'the blob' --policy %s --model annotator-iou --image-format png --steps 4 --gt %s "
        "--out %s",
        bin, photo, pol, gtp, out);
    CHECKF(rc == 0, "segment exit %d", rc);
    CHECK(log_has("mask.png: the state after step"));
    /* the graph cut gets this easy scene in one click; the server then has nothing to fix and says so */
    const char *files[] = {"mask.png", "mask.json", "trajectory.json", "step_00.png",
                           "step_01.png"};
    for (int i = 0; i < 5; i++)
        CHECKF(exists(out, files[i]), "segment: no %s", files[i]);
    char tp[900];
    snprintf(tp, sizeof tp, "%s/trajectory.json", out);
    cJSON *tj = load_json(tp);
    CHECK(tj && cJSON_GetArraySize(cJSON_GetObjectItem(tj, "steps")) >= 1);
    if (tj) {
        cJSON *res = cJSON_GetObjectItem(tj, "result");
        CHECK(cJSON_IsNumber(cJSON_GetObjectItem(res, "iou")) &&
              cJSON_GetObjectItem(res, "iou")->valuedouble > 0.3);
        CHECK(strstr(cJSON_GetObjectItem(tj, "request")->valuestring, "<ref>the blob</ref>") !=
              NULL);
    }
    cJSON_Delete(tj);

    /* segment with search and early stop */
    snprintf(out, sizeof out, "%s/run2", dir);
    rc = sh(
        "%s segment %s 'the blob' --policy %s --model annotator-iou --image-format png --steps 3 --search 3 "
        "--temperature 0.7 --early-stop --out %s --quiet",
        bin, photo, pol, out);
    CHECKF(rc == 0, "search exit %d", rc);
    CHECK(exists(out, "mask.png"));

    /* refine from a half mask */
    snprintf(out, sizeof out, "%s/run3", dir);
    rc = sh(
        "%s refine %s %s 'the blob' --policy %s --model annotator-iou --image-format png --steps 2 --out %s",
        bin, photo, halfp, pol, out);
    CHECKF(rc == 0, "refine exit %d", rc);
    snprintf(tp, sizeof tp, "%s/trajectory.json", out);
    tj = load_json(tp);
    CHECK(tj && cJSON_GetObjectItem(cJSON_GetObjectItem(tj, "start"), "area")->valuedouble ==
                    (double)sa_mask_area(&half));
    cJSON_Delete(tj);

    /* score */
    rc =
        sh("%s score %s %s 'the blob' --policy %s --model annotator-iou --image-format png --gt %s",
           bin, photo, halfp, pol, gtp);
    CHECKF(rc == 0, "score exit %d", rc);
    {
        char want[64];
        double t = sa_mask_iou(&half, &gt, NULL);
        snprintf(want, sizeof want, "predicted IoU %.4f", floor(t * 100 + 0.5) / 100);
        CHECK(log_has(want));
    }
    rc = sh("%s score %s %s 'the blob' --policy %s --model annotator --image-format png", bin,
            photo, halfp, pol);
    CHECK(rc == 1 && log_has("Current IOU")); /* a model without the process reward cannot score */

    /* filter: four annotations, truth from a gt file matched by id; one polygon; one broken */
    {
        sa_mask empty = {0};
        sa_mask_new(&empty, W, H, NULL);
        const sa_mask *ms[] = {&half, &gt, &shifted, &empty};
        cJSON *coco = cJSON_CreateObject(), *gtc = cJSON_CreateObject();
        cJSON *ims = cJSON_AddArrayToObject(coco, "images");
        cJSON *im = cJSON_CreateObject();
        cJSON_AddNumberToObject(im, "id", 7);
        cJSON_AddStringToObject(im, "file_name", "photo.png");
        cJSON_AddNumberToObject(im, "height", H);
        cJSON_AddNumberToObject(im, "width", W);
        cJSON_AddItemToArray(ims, im);
        cJSON *cats = cJSON_AddArrayToObject(coco, "categories");
        cJSON *cat = cJSON_CreateObject();
        cJSON_AddNumberToObject(cat, "id", 1);
        cJSON_AddStringToObject(cat, "name", "blob");
        cJSON_AddItemToArray(cats, cat);
        cJSON *anns = cJSON_AddArrayToObject(coco, "annotations");
        cJSON *ganns = cJSON_AddArrayToObject(gtc, "annotations");
        for (int i = 0; i < 5; i++) {
            cJSON *a = cJSON_CreateObject(), *g = cJSON_CreateObject();
            cJSON_AddNumberToObject(a, "id", 100 + i);
            cJSON_AddNumberToObject(a, "image_id", 7);
            cJSON_AddNumberToObject(a, "category_id", 1);
            if (i < 4)
                cJSON_AddItemToObject(a, "segmentation", rle_json(ms[i]));
            else { /* a polygon: the rectangle x 10..30, y 8..28 */
                cJSON *polys = cJSON_AddArrayToObject(a, "segmentation");
                double xy[8] = {10, 8, 30, 8, 30, 28, 10, 28};
                cJSON_AddItemToArray(polys, cJSON_CreateDoubleArray(xy, 8));
            }
            if (i == 0) cJSON_AddStringToObject(a, "caption", "the blob");
            cJSON_AddNumberToObject(g, "id", 100 + i);
            cJSON_AddNumberToObject(g, "image_id", 7);
            cJSON_AddItemToObject(g, "segmentation", rle_json(&gt));
            cJSON_AddItemToArray(anns, a);
            cJSON_AddItemToArray(ganns, g);
        }
        cJSON *bad = cJSON_CreateObject();
        cJSON_AddNumberToObject(bad, "id", 200);
        cJSON_AddNumberToObject(bad, "image_id", 99);
        cJSON_AddStringToObject(bad, "caption", "missing image");
        cJSON_AddItemToArray(anns, bad);
        char cp[700], gp[700], op[700];
        snprintf(cp, sizeof cp, "%s/anns.json", dir);
        snprintf(gp, sizeof gp, "%s/gt.json", dir);
        snprintf(op, sizeof op, "%s/scores.json", dir);
        char *t1 = cJSON_Print(coco), *t2 = cJSON_Print(gtc);
        FILE *f = fopen(cp, "w");
        fputs(t1, f);
        fclose(f);
        f = fopen(gp, "w");
        fputs(t2, f);
        fclose(f);
        free(t1);
        free(t2);
        cJSON_Delete(coco);
        cJSON_Delete(gtc);
        rc = sh(
            "%s filter --annotations %s --images %s --gt %s --out %s --policy %s --model annotator-iou "
            "--image-format png --quiet",
            bin, cp, dir, gp, op, pol);
        CHECKF(rc == 0, "filter exit %d", rc);
        CHECK(log_has("5 annotations scored, 1 failed"));
        cJSON *sj = load_json(op);
        CHECK(sj != NULL);
        if (sj) {
            cJSON *met = cJSON_GetObjectItem(sj, "metrics");
            double mae = cJSON_GetObjectItem(met, "mae")->valuedouble;
            double pear = cJSON_GetObjectItem(met, "pearson")->valuedouble;
            CHECKF(mae <= 0.5 + 1e-9 && pear > 0.999, "filter: MAE %f Pearson %f", mae, pear);
            CHECK(cJSON_GetObjectItem(met, "with_truth")->valueint == 5);
            cJSON *a = cJSON_GetObjectItem(sj, "annotations");
            CHECK(cJSON_GetArraySize(a) == 6);
            CHECK(!strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 1), "description")->valuestring,
                          "blob"));
            CHECK(cJSON_IsString(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 5), "error")));
            cJSON_Delete(sj);
        }
        sa_mask_free(&empty);
    }

    /* the API key comes from the environment variable --api-key-env names */
    snprintf(out, sizeof out, "%s/auth", dir);
    rc = sh(
        "MY_KEY=sekrit %s segment %s 'the blob' --policy %s --model auth --api-key-env MY_KEY --steps 1 --out %s",
        bin, photo, pol, out);
    CHECKF(rc == 0, "auth exit %d", rc);
    rc = sh(
        "%s segment %s 'the blob' --policy %s --model auth --api-key-env MY_UNSET_KEY --steps 1 --out %s",
        bin, photo, pol, out);
    CHECK(rc == 1 && log_has("HTTP 401"));

    /* error paths */
    snprintf(out, sizeof out, "%s/err1", dir);
    rc = sh("%s segment %s 'the blob' --policy http://127.0.0.1:9/v1 --retries 0 --out %s", bin,
            photo, out);
    CHECK(rc == 1 && log_has("127.0.0.1:9") && exists(out, "trajectory.json") &&
          exists(out, "mask.png"));
    snprintf(out, sizeof out, "%s/err2", dir);
    rc = sh("%s segment %s 'the blob' --policy %s --model nope --out %s", bin, photo, pol, out);
    CHECK(rc == 1 && log_has("HTTP 404") && exists(out, "trajectory.json"));
    snprintf(out, sizeof out, "%s/err3", dir);
    rc = sh("%s segment %s '' --policy %s --model annotator --image-format png --out %s", bin,
            photo, pol, out);
    CHECK(rc == 1 && log_has("empty object description") && exists(out, "trajectory.json"));
    rc = sh("%s segment %s/nonexistent.jpg 'x' --policy %s --out %s/err4", bin, dir, pol, dir);
    CHECK(rc == 1 && log_has("nonexistent.jpg"));
    rc = sh("%s segment %s 'x' --out %s/err5 --axis zz", bin, photo, dir);
    CHECK(rc == 2 && log_has("axis"));
    rc = sh("%s segment %s 'x' --out %s/err8 --box 1,2,30,20 --policy %s", bin, photo, dir, pol);
    CHECK(rc == 1 && log_has("accepts boxes"));
    rc = sh("%s segment %s 'x' --out %s/err9 --box 1,2,3", bin, photo, dir);
    CHECK(rc == 2 && log_has("--box"));
    rc = sh("%s segment %s 'x' --out %s/err6 --bogus", bin, photo, dir);
    CHECK(rc == 2);
    rc = sh("%s segment %s 'x'", bin, photo);
    CHECK(rc == 2 && log_has("--out"));
    snprintf(out, sizeof out, "%s/err7", dir);
    rc =
        sh("%s segment %s 'the blob' --policy %s --model malformed --out %s", bin, photo, pol, out);
    CHECK(rc == 0 && log_has("unparseable reply") && exists(out, "mask.png"));
    rc = sh("%s segment --help", bin);
    CHECK(rc == 0 && log_has("llama-server") && log_has("Ollama") && log_has("vLLM") &&
          log_has("SGLang"));

    ts_stop(&srv);
    sa_image_free(&img);
    sa_mask_free(&gt);
    sa_mask_free(&half);
    sa_mask_free(&shifted);
    return tu_finish("test_agent_cli");
}
