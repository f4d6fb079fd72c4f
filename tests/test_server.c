/* segagent serve, native JSON API, end to end: the test starts the binary on a free loopback port
 * and checks registration (raw bytes, base64, paths under --images-root and the paths it must
 * refuse), predictions (COCO RLE and PNG, identical to the library's own sa_env_predict_request on
 * the same image), the error answers (malformed JSON, wrong types, huge numbers, too many clicks,
 * oversized and truncated uploads, invalid images, unknown ids and endpoints -- a 4xx with a
 * message each, and the server keeps serving), the token, the LRU eviction under a tiny --cache-mb,
 * /health, /metrics and the request log. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "segagent/env.h"
#include "segagent/graphcut.h"
#include "segagent/llm_policy.h"
#include "segagent/image.h"
#include "segagent/mask.h"
#include "segagent/rle.h"
#include "serve_harness.h"
#include "testutil.h"

#define W 96
#define H 72

/* A dark background with an orange rectangle; green stays below 127 (the scripted policy server
 * needs it). */
static void make_scene(sa_image *img, sa_mask *gt, int shift) {
    sa_error err = {0};
    if (sa_image_new(img, W, H, 3, &err) || sa_mask_new(gt, W, H, &err)) exit(1);
    uint64_t rng = 7 + (uint64_t)shift;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int in = x >= 30 + shift && x < 70 + shift && y >= 20 && y < 55;
            uint8_t *p = img->data + ((size_t)y * W + (size_t)x) * 3;
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            int noise = (int)((rng >> 33) % 9) - 4;
            p[0] = (uint8_t)((in ? 220 : 30) + noise);
            p[1] = (uint8_t)((in ? 90 : 40) + noise);
            p[2] = (uint8_t)((in ? 40 : 60) + noise);
            gt->data[(size_t)y * W + (size_t)x] = (uint8_t)in;
        }
}

static char *json_str(const char *body, const char *key) {
    cJSON *j = cJSON_Parse(body);
    const cJSON *v = j ? cJSON_GetObjectItemCaseSensitive(j, key) : NULL;
    char *s = cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
    cJSON_Delete(j);
    return s;
}

/* The mask of a predict answer {"rle": {"size", "counts"}}; 0 or -1. */
static int answer_mask(const char *body, sa_mask *m) {
    cJSON *j = cJSON_Parse(body);
    const cJSON *rle = j ? cJSON_GetObjectItemCaseSensitive(j, "rle") : NULL;
    const cJSON *size = rle ? cJSON_GetObjectItemCaseSensitive(rle, "size") : NULL;
    const cJSON *counts = rle ? cJSON_GetObjectItemCaseSensitive(rle, "counts") : NULL;
    int rc = -1;
    if (cJSON_IsArray(size) && cJSON_IsString(counts)) {
        int h = cJSON_GetArrayItem(size, 0)->valueint, w = cJSON_GetArrayItem(size, 1)->valueint;
        sa_rle r = {0};
        if (!sa_rle_from_string(counts->valuestring, strlen(counts->valuestring), h, w, &r, NULL) &&
            !sa_rle_decode(&r, m, NULL))
            rc = 0;
        sa_rle_free(&r);
    }
    cJSON_Delete(j);
    return rc;
}

static int same_mask(const sa_mask *a, const sa_mask *b) {
    if (a->width != b->width || a->height != b->height) return 0;
    for (size_t i = 0; i < (size_t)a->width * (size_t)a->height; i++)
        if ((a->data[i] != 0) != (b->data[i] != 0)) return 0;
    return 1;
}

/* Expects status and a JSON body with an "error" message. */
static void expect_error(sh_resp r, long status, const char *what) {
    char *msg = json_str(r.body, "error");
    CHECKF(r.status == status && msg && msg[0], "%s: got %ld %s", what, r.status, r.body);
    free(msg);
    sh_resp_free(&r);
}

static char *register_file(const sh_server *s, const char *path, const char *ctype) {
    size_t n = 0;
    char *bytes = tu_read_file(path, &n);
    if (!bytes) return NULL;
    sh_resp r = sh_request(s, "POST", "/api/images", bytes, n, ctype, NULL);
    free(bytes);
    char *id = r.status == 201 ? json_str(r.body, "id") : NULL;
    CHECKF(id != NULL, "register %s: %ld %s", path, r.status, r.body);
    sh_resp_free(&r);
    return id;
}

static void test_api(const char *bin, const char *dir, const char *png, const sa_image *img) {
    char log[4096], root[4096], outside[4200], link[4200];
    snprintf(log, sizeof log, "%s/serve.log", dir);
    snprintf(root, sizeof root, "%s/root", dir);
    mkdir(root, 0777);
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/sub", root);
    mkdir(sub, 0777);
    char inroot[4300];
    snprintf(inroot, sizeof inroot, "%s/sub/scene.png", root);
    sa_error err = {0};
    CHECK(sa_image_save_png(inroot, img, &err) == SA_OK);
    snprintf(outside, sizeof outside, "%s/outside.png", dir);
    CHECK(sa_image_save_png(outside, img, &err) == SA_OK);
    snprintf(link, sizeof link, "%s/escape.png", root);
    CHECK(symlink(outside, link) == 0);

    const char *args[] = {
        "--images-root", root, "--max-body-mb", "1", "--max-clicks", "8", "--max-pixels",
        "20000",         NULL};
    sh_server s;
    if (sh_start(&s, bin, log, args)) {
        tu_failures++;
        return;
    }
    sh_resp r = sh_request(&s, "GET", "/health", NULL, 0, NULL, NULL);
    char *st = json_str(r.body, "status");
    CHECKF(r.status == 200 && st && !strcmp(st, "UP"), "health: %ld %s", r.status, r.body);
    free(st);
    sh_resp_free(&r);

    /* registration: raw bytes, base64 JSON, a path; refused paths */
    char *id = register_file(&s, png, "image/png");
    size_t n = 0;
    char *bytes = tu_read_file(png, &n);
    char *b64 = sa_base64_encode((const uint8_t *)bytes, n);
    char *body = malloc(strlen(b64) + 64);
    sprintf(body, "{\"image\": \"data:image/png;base64,%s\"}", b64);
    r = sh_post_json(&s, "/api/images", body);
    char *id2 = json_str(r.body, "id");
    CHECKF(r.status == 201 && id2, "base64 register: %ld %s", r.status, r.body);
    sh_resp_free(&r);
    r = sh_post_json(&s, "/api/images", "{\"path\": \"sub/scene.png\"}");
    char *id3 = json_str(r.body, "id");
    CHECKF(r.status == 201 && id3, "path register: %ld %s", r.status, r.body);
    sh_resp_free(&r);
    expect_error(sh_post_json(&s, "/api/images", "{\"path\": \"../outside.png\"}"), 400,
                 "dotdot path");
    expect_error(sh_post_json(&s, "/api/images", "{\"path\": \"sub/../../outside.png\"}"), 400,
                 "dotdot path 2");
    char abs_body[4400];
    snprintf(abs_body, sizeof abs_body, "{\"path\": \"%s\"}", outside);
    expect_error(sh_post_json(&s, "/api/images", abs_body), 400, "absolute path");
    expect_error(sh_post_json(&s, "/api/images", "{\"path\": \"escape.png\"}"), 400,
                 "symlink out of the root");
    expect_error(sh_post_json(&s, "/api/images", "{\"path\": \"nope.png\"}"), 404, "missing file");

    /* predictions: the same mask as the library gives for the same clicks */
    sa_tool *tool = NULL;
    sa_env *env = NULL;
    CHECK(sa_graphcut_tool_new(sa_graphcut_default_params(), &tool, &err) == SA_OK);
    CHECK(sa_env_new(tool, sa_env_default_params(), &env, &err) == SA_OK);
    CHECK(sa_env_reset(env, img, "", NULL, NULL, NULL, &err) == SA_OK);
    sa_click clicks[2] = {{.y = 37, .x = 50, .positive = 1}, {.y = 10, .x = 10, .positive = 0}};
    sa_tool_result want = {0};
    CHECK(sa_env_predict_request(env, clicks, 2, NULL, NULL, &want, &err) == SA_OK);
    CHECK(sa_mask_area(&want.mask) > 500);
    char path[128];
    snprintf(path, sizeof path, "/api/images/%s/predict", id ? id : "x");
    const char *pred = "{\"clicks\": [{\"x\": 50, \"y\": 37, \"positive\": true}, [10, 10, 0]]}";
    r = sh_post_json(&s, path, pred);
    sa_mask got = {0};
    CHECKF(r.status == 200 && answer_mask(r.body, &got) == 0, "predict: %ld %s", r.status, r.body);
    CHECK(got.data && same_mask(&got, &want.mask));
    sa_mask_free(&got);
    sh_resp_free(&r);
    /* the same through the other two registrations */
    snprintf(path, sizeof path, "/api/images/%s/predict", id3 ? id3 : "x");
    r = sh_post_json(&s, path, pred);
    CHECK(r.status == 200 && answer_mask(r.body, &got) == 0 && same_mask(&got, &want.mask));
    sa_mask_free(&got);
    sh_resp_free(&r);
    /* PNG answer */
    snprintf(path, sizeof path, "/api/images/%s/predict", id2 ? id2 : "x");
    r = sh_post_json(&s, path, "{\"clicks\": [[50, 37, 1], [10, 10, 0]], \"format\": \"png\"}");
    sa_image pm = {0};
    CHECKF(r.status == 200 && strstr(r.headers, "image/png"), "png predict: %ld", r.status);
    CHECK(sa_image_decode((const uint8_t *)r.body, r.len, &pm, &err) == SA_OK);
    if (pm.data) {
        sa_mask m2 = {0};
        CHECK(sa_mask_new(&m2, pm.width, pm.height, &err) == SA_OK);
        for (size_t i = 0; i < (size_t)pm.width * (size_t)pm.height; i++)
            m2.data[i] = pm.data[i * (size_t)pm.channels] > 127;
        CHECK(same_mask(&m2, &want.mask));
        sa_mask_free(&m2);
    }
    sa_image_free(&pm);
    sh_resp_free(&r);
    /* with the previous mask as a COCO RLE, as the web page sends it */
    sa_tool_result want_prev = {0};
    CHECK(sa_env_predict_request(env, clicks, 1, NULL, &want.mask, &want_prev, &err) == SA_OK);
    sa_rle rle = {0};
    char *counts = NULL;
    CHECK(sa_rle_encode(&want.mask, &rle, &err) == SA_OK &&
          sa_rle_to_string(&rle, &counts, &err) == SA_OK);
    char *pbody = malloc(strlen(counts) + 200);
    sprintf(pbody,
            "{\"clicks\": [[50, 37, 1]], \"mask\": {\"size\": [%d, %d], \"counts\": \"%s\"}}", H, W,
            counts);
    snprintf(path, sizeof path, "/api/images/%s/predict", id ? id : "x");
    r = sh_post_json(&s, path, pbody);
    CHECKF(r.status == 200 && answer_mask(r.body, &got) == 0 && same_mask(&got, &want_prev.mask),
           "prev: %ld %s", r.status, r.body);
    sa_mask_free(&got);
    sh_resp_free(&r);
    sprintf(pbody,
            "{\"clicks\": [[50, 37, 1]], \"mask\": {\"size\": [%d, %d], \"counts\": \"%s\"}}",
            H + 1, W, counts);
    expect_error(sh_post_json(&s, path, pbody), 400, "previous mask of the wrong size");
    expect_error(
        sh_post_json(
            &s, path,
            "{\"clicks\": [[50, 37, 1]], \"mask\": {\"size\": [72, 96], \"counts\": \"!!\"}}"),
        400, "bad previous mask");
    free(pbody);
    free(counts);
    sa_rle_free(&rle);
    sa_tool_result_free(&want_prev);

    /* bad requests: a 4xx with a message each */
    expect_error(sh_post_json(&s, path, "{\"clicks\": [[50, 37, 1]"), 400, "malformed JSON");
    expect_error(sh_post_json(&s, path, "[1, 2]"), 400, "not an object");
    expect_error(sh_post_json(&s, path, ""), 400, "empty body");
    expect_error(sh_post_json(&s, path, "{\"clicks\": \"here\"}"), 400, "clicks of the wrong type");
    expect_error(sh_post_json(&s, path, "{\"clicks\": [{\"x\": \"5\", \"y\": 3}]}"), 400,
                 "string coordinate");
    expect_error(sh_post_json(&s, path, "{\"clicks\": [[1e300, 3, 1]]}"), 400, "huge number");
    expect_error(sh_post_json(&s, path, "{\"clicks\": [[5, 3, 7]]}"), 400, "bad label");
    expect_error(sh_post_json(&s, path, "{\"clicks\": [[500, 3, 1]]}"), 400,
                 "click outside the image");
    expect_error(sh_post_json(&s, path, "{\"clicks\": []}"), 400, "no prompt");
    expect_error(sh_post_json(&s, path, "{\"clicks\": [[5, 3, 1]], \"format\": \"gif\"}"), 400,
                 "bad format");
    expect_error(sh_post_json(&s, path, "{\"box\": [1, 2, 30, 40]}"), 400,
                 "box for a tool without boxes");
    expect_error(
        sh_post_json(&s, path,
                     "{\"clicks\": [[1,1,1],[1,1,1],[1,1,1],[1,1,1],[1,1,1],[1,1,1],[1,1,1],"
                     "[1,1,1],[1,1,1]]}"),
        413, "too many clicks");
    expect_error(sh_post_json(&s, "/api/images/0123456789abcdef/predict", pred), 404, "unknown id");
    expect_error(sh_post_json(&s, "/api/images/zz/predict", pred), 404, "malformed id");
    expect_error(sh_post_json(&s, "/api/nothing", "{}"), 404, "unknown endpoint");
    expect_error(sh_request(&s, "GET", path, NULL, 0, NULL, NULL), 405, "GET on predict");
    expect_error(sh_request(&s, "POST", "/api/images", "not an image", 12, "image/png", NULL), 400,
                 "invalid image");
    expect_error(sh_request(&s, "POST", "/api/images", bytes, n / 2, "image/png", NULL), 400,
                 "truncated upload");
    expect_error(sh_post_json(&s, "/api/images", "{\"image\": \"***\"}"), 400, "bad base64");
    expect_error(sh_post_json(&s, "/api/images", "{\"image\": 5}"), 400, "image of the wrong type");
    expect_error(sh_post_json(&s, "/api/images", "{}"), 400, "nothing to register");
    char *big = calloc(1, (size_t)2 << 20);
    memset(big, 'a', ((size_t)2 << 20) - 1);
    expect_error(
        sh_request(&s, "POST", "/api/images", big, ((size_t)2 << 20) - 1, "image/png", NULL), 413,
        "body over --max-body-mb");
    free(big);
    { /* an image over --max-pixels (200x200 = 40000 > 20000), refused from its header */
        sa_image large = {0};
        uint8_t *lp = NULL;
        size_t ln = 0;
        CHECK(sa_image_new(&large, 200, 200, 3, &err) == SA_OK);
        CHECK(sa_image_encode_png(&large, &lp, &ln, &err) == SA_OK);
        expect_error(sh_request(&s, "POST", "/api/images", lp, ln, "image/png", NULL), 413,
                     "too many pixels");
        free(lp);
        sa_image_free(&large);
    }

    /* still serving; forget an image */
    char del[128];
    snprintf(del, sizeof del, "/api/images/%s", id2 ? id2 : "x");
    r = sh_request(&s, "GET", del, NULL, 0, NULL, NULL);
    CHECKF(r.status == 200 && strstr(r.body, "\"width\":96"), "image info: %ld %s", r.status,
           r.body);
    sh_resp_free(&r);
    r = sh_request(&s, "DELETE", del, NULL, 0, NULL, NULL);
    CHECK(r.status == 200);
    sh_resp_free(&r);
    expect_error(sh_request(&s, "GET", del, NULL, 0, NULL, NULL), 404, "deleted image");

    r = sh_request(&s, "GET", "/metrics", NULL, 0, NULL, NULL);
    CHECKF(r.status == 200 && strstr(r.body, "segagent_predict_seconds_count 4") &&
               strstr(r.body, "segagent_requests_total{code=\"4xx\"}"),
           "metrics: %s", r.body);
    sh_resp_free(&r);
    CHECK(sh_alive(&s));
    CHECK(sh_stop(&s) == 0);
    char *logtxt = tu_read_file(log, NULL);
    CHECKF(logtxt && strstr(logtxt, "POST /api/images 201 ") && strstr(logtxt, " 404 ") &&
               strstr(logtxt, "GET /health 200 "),
           "request log: %s", logtxt ? logtxt : "(none)");
    free(logtxt);
    free(id);
    free(id2);
    free(id3);
    free(body);
    free(b64);
    free(bytes);
    sa_tool_result_free(&want);
    sa_env_free(env);
    sa_tool_free(tool);
}

/* CVAT's interactor: the image in the body (base64) with every click; the mask as rows of 0/255
 * equal to the native API's for the same points, the polygon on the mask's border, and the image's
 * state reused. */
static void test_cvat(const char *bin, const char *dir, const char *png) {
    char log[4200];
    snprintf(log, sizeof log, "%s/serve_cvat.log", dir);
    const char *args[] = {"--quiet", NULL};
    sh_server s;
    if (sh_start(&s, bin, log, args)) {
        tu_failures++;
        return;
    }
    size_t n = 0;
    char *bytes = tu_read_file(png, &n);
    char *b64 = sa_base64_encode((const uint8_t *)bytes, n);
    char *body = malloc(strlen(b64) + 256);
    char *id = register_file(&s, png, "image/png");
    char path[128];
    snprintf(path, sizeof path, "/api/images/%s/predict", id ? id : "x");
    sh_resp r = sh_post_json(&s, path, "{\"clicks\": [[50, 37, 1], [10, 10, 0]]}");
    sa_mask want = {0};
    CHECK(r.status == 200 && answer_mask(r.body, &want) == 0);
    sh_resp_free(&r);
    for (int round = 0; round < 2; round++) {
        sprintf(body,
                "{\"image\": \"%s\", \"pos_points\": [[50, 37]], \"neg_points\": [[10, 10]], "
                "\"obj_bbox\": null}",
                b64);
        r = sh_post_json(&s, "/cvat/interactor", body);
        cJSON *j = cJSON_Parse(r.body);
        const cJSON *rows = cJSON_GetObjectItemCaseSensitive(j, "mask");
        const cJSON *pts = cJSON_GetObjectItemCaseSensitive(j, "points");
        CHECKF(r.status == 200 && cJSON_GetArraySize(rows) == H && cJSON_GetArraySize(pts) > 10,
               "cvat: %ld %.200s", r.status, r.body);
        size_t bad = 0;
        for (int y = 0; y < H && want.data && cJSON_GetArraySize(rows) == H; y++) {
            const cJSON *row = cJSON_GetArrayItem(rows, y);
            for (int x = 0; x < W; x++) {
                const cJSON *v = cJSON_GetArrayItem(row, x);
                if (!v || (v->valueint == 255) != (want.data[y * W + x] != 0) ||
                    (v->valueint != 0 && v->valueint != 255))
                    bad++;
            }
        }
        CHECKF(bad == 0, "cvat mask: %zu pixels differ", bad);
        const cJSON *p;
        cJSON_ArrayForEach(p, pts) {
            int x = cJSON_GetArrayItem(p, 0)->valueint, y = cJSON_GetArrayItem(p, 1)->valueint;
            CHECK(x >= 0 && y >= 0 && x < W && y < H && want.data && want.data[y * W + x]);
        }
        cJSON_Delete(j);
        sh_resp_free(&r);
    }
    r = sh_request(&s, "GET", "/metrics", NULL, 0, NULL, NULL);
    CHECKF(strstr(r.body, "segagent_images 2\n"), "the CVAT image is kept once: %s", r.body);
    sh_resp_free(&r);
    expect_error(sh_post_json(&s, "/cvat/interactor",
                              "{\"image\": \"iVBORw0KGgo=\", \"pos_points\": [[1, 1]]}"),
                 400, "cvat: invalid image");
    sprintf(body, "{\"image\": \"%s\", \"pos_points\": [[500, 37]]}", b64);
    expect_error(sh_post_json(&s, "/cvat/interactor", body), 400, "cvat: point outside");
    sprintf(body, "{\"image\": \"%s\", \"pos_points\": \"x\"}", b64);
    expect_error(sh_post_json(&s, "/cvat/interactor", body), 400, "cvat: points of the wrong type");
    sprintf(body, "{\"image\": \"%s\"}", b64);
    expect_error(sh_post_json(&s, "/cvat/interactor", body), 400, "cvat: no points");
    sa_mask_free(&want);
    free(id);
    free(body);
    free(b64);
    free(bytes);
    CHECK(sh_stop(&s) == 0);
}

/* --token-env: every endpoint but /health needs the token; a tiny --cache-mb evicts and re-encodes.
 */
static void test_token_and_cache(const char *bin, const char *dir, const char *png) {
    char log[4096];
    snprintf(log, sizeof log, "%s/serve_token.log", dir);
    setenv("SEGAGENT_TEST_TOKEN", "s3cret", 1);
    const char *args[] = {"--token-env", "SEGAGENT_TEST_TOKEN", "--cache-mb", "1", "--quiet", NULL};
    sh_server s;
    if (sh_start(&s, bin, log, args)) {
        tu_failures++;
        return;
    }
    sh_resp r = sh_request(&s, "GET", "/health", NULL, 0, NULL, NULL);
    CHECK(r.status == 200);
    sh_resp_free(&r);
    expect_error(sh_request(&s, "GET", "/metrics", NULL, 0, NULL, NULL), 401, "no token");
    expect_error(sh_request(&s, "GET", "/metrics", NULL, 0, NULL, "Bearer wrong"), 401,
                 "wrong token");
    r = sh_request(&s, "GET", "/metrics", NULL, 0, NULL, "Bearer s3cret");
    CHECK(r.status == 200);
    sh_resp_free(&r);
    r = sh_request(&s, "GET", "/metrics", NULL, 0, NULL,
                   "Basic dXNlcjpzM2NyZXQ="); /* user:s3cret */
    CHECK(r.status == 200);
    sh_resp_free(&r);
    size_t n = 0;
    char *bytes = tu_read_file(png, &n);
    char *ids[12] = {0};
    for (int i = 0; i < 12; i++) { /* 12 x ~300 KB of state and images against a 1 MB budget */
        r = sh_request(&s, "POST", "/api/images", bytes, n, "image/png", "Token s3cret");
        ids[i] = json_str(r.body, "id");
        CHECK(r.status == 201 && ids[i]);
        sh_resp_free(&r);
        if (!ids[i]) continue;
        char path[128];
        snprintf(path, sizeof path, "/api/images/%s/predict", ids[i]);
        r = sh_request(&s, "POST", path, "{\"clicks\": [[50, 37, 1]]}", 25, "application/json",
                       "Token s3cret");
        CHECKF(r.status == 200, "predict under a small cache: %ld %s", r.status, r.body);
        sh_resp_free(&r);
    }
    r = sh_request(&s, "GET", "/metrics", NULL, 0, NULL, "Bearer s3cret");
    CHECKF(r.status == 200 && !strstr(r.body, "segagent_cache_evictions_total{what=\"state\"} 0\n"),
           "no eviction: %s", r.body);
    sh_resp_free(&r);
    for (int i = 0; i < 12; i++)
        free(ids[i]);
    free(bytes);
    CHECK(sh_stop(&s) == 0);
}

int main(int argc, char **argv) {
    (void)argc;
    tu_cli cli;
    tu_cli_init(&cli, argv[0]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    sa_image img = {0};
    sa_mask gt = {0};
    make_scene(&img, &gt, 0);
    char png[4200];
    snprintf(png, sizeof png, "%s/scene.png", cli.dir);
    sa_error err = {0};
    CHECK(sa_image_save_png(png, &img, &err) == SA_OK);
    test_api(cli.bin, cli.dir, png, &img);
    test_token_and_cache(cli.bin, cli.dir, png);
    test_cvat(cli.bin, cli.dir, png);
    sa_image_free(&img);
    sa_mask_free(&gt);
    curl_global_cleanup();
    tu_rmtree(cli.dir);
    free(cli.dir);
    return tu_finish("test_server");
}
