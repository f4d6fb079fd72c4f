/* segagent serve, Label Studio ML backend protocol, with payloads shaped as Label Studio sends
 * them: /health, /setup, /webhook; interactive /predict with keypoints in percent (positive and
 * negative) answering a brushlabels region whose brush RLE decodes to exactly the native API's mask
 * for the same clicks; the image read from --images-root through a local-files URL and fetched from
 * LABEL_STUDIO_URL for /data/upload/ (a loopback file server stands in for Label Studio);
 * pre-annotation by the agent from the task's text field; malformed payloads and refused paths
 * answered with a 4xx and a message. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "policy_server.h"
#include "segagent/image.h"
#include "segagent/mask.h"
#include "segagent/rle.h"
#include "serve_harness.h"
#include "server/brush.h"
#include "testutil.h"

#define W 64
#define H 48

static void make_scene(sa_image *img, sa_mask *gt) {
    sa_error err = {0};
    if (sa_image_new(img, W, H, 3, &err) || sa_mask_new(gt, W, H, &err)) exit(1);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double dy = (y - 24.0) / 10.0, dx = (x - 16.0) / 10.0, ex = (x - 50.0) / 8.0;
            int in = dx * dx + dy * dy <= 1.0 || ex * ex + dy * dy <= 1.0;
            gt->data[y * W + x] = (uint8_t)in;
            uint8_t *px = img->data + 3 * (y * W + x);
            px[0] = (uint8_t)(in ? 200 : 40 + (x * 3) % 30);
            px[1] = (uint8_t)(in ? 90 : 20 + (y * 5) % 40);
            px[2] = (uint8_t)(in ? 60 : 150);
        }
}

static const char config[] =
    "<View><Image name=\\\"image\\\" value=\\\"$image\\\" zoom=\\\"true\\\"/>"
    "<BrushLabels name=\\\"brush\\\" toName=\\\"image\\\"><Label value=\\\"Blob\\\" "
    "background=\\\"#8ff0a4\\\"/>"
    "</BrushLabels><KeyPointLabels name=\\\"kp\\\" toName=\\\"image\\\" smart=\\\"true\\\">"
    "<Label value=\\\"Blob\\\" smart=\\\"true\\\"/></KeyPointLabels>"
    "<RectangleLabels name=\\\"rect\\\" toName=\\\"image\\\" smart=\\\"true\\\"><Label "
    "value=\\\"Blob\\\"/>"
    "</RectangleLabels></View>";

/* A /predict body as Label Studio 1.x sends it in interactive mode. */
static char *ls_body(const char *image_url, const char *regions, const char *extra_data) {
    char *b = malloc(8192);
    snprintf(b, 8192,
             "{\"tasks\": [{\"id\": 7, \"data\": {\"image\": \"%s\"%s}, \"meta\": {}, "
             "\"annotations\": [], "
             "\"predictions\": [], \"project\": 1}], \"model_version\": \"\", \"project\": "
             "\"1.1733000000\", "
             "\"label_config\": \"%s\", \"params\": {\"login\": null, \"password\": null, "
             "\"context\": %s}}",
             image_url, extra_data ? extra_data : "", config, regions ? regions : "null");
    return b;
}

static const char kp_fmt[] =
    "{\"original_width\": 64, \"original_height\": 48, \"image_rotation\": 0, \"value\": "
    "{\"x\": %g, \"y\": %g, \"width\": 0.6, \"keypointlabels\": [\"Blob\"]}, "
    "\"is_positive\": %s, \"id\": \"k%d\", \"from_name\": \"kp\", \"to_name\": \"image\", "
    "\"type\": \"keypointlabels\", \"origin\": \"manual\"}";

/* The first brushlabels region of a /predict answer, decoded. 0 or -1. */
static int answer_brush(const char *body, sa_mask *m, char *label, size_t label_len) {
    cJSON *j = cJSON_Parse(body);
    const cJSON *res = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "results"), 0);
    const cJSON *item = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(res, "result"), 0);
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(item, "value");
    const cJSON *rle = cJSON_GetObjectItemCaseSensitive(value, "rle");
    const cJSON *lab =
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(value, "brushlabels"), 0);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(item, "type");
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(item, "from_name");
    int rc = -1;
    if (cJSON_IsArray(rle) && cJSON_IsString(type) && !strcmp(type->valuestring, "brushlabels") &&
        cJSON_IsString(from) && !strcmp(from->valuestring, "brush") && cJSON_IsString(lab)) {
        int n = cJSON_GetArraySize(rle);
        uint8_t *b = malloc((size_t)n + 1);
        int i = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, rle) b[i++] = (uint8_t)v->valueint;
        if (sa__brush_decode(b, (size_t)n, W, H, m, NULL) == SA_OK) rc = 0;
        free(b);
        snprintf(label, label_len, "%s", lab->valuestring);
    }
    cJSON_Delete(j);
    return rc;
}

static int native_mask(const sh_server *s, const char *id, const char *clicks, sa_mask *m) {
    char path[128], body[512];
    snprintf(path, sizeof path, "/api/images/%s/predict", id);
    snprintf(body, sizeof body, "{\"clicks\": %s}", clicks);
    sh_resp r = sh_post_json(s, path, body);
    cJSON *j = cJSON_Parse(r.body);
    const cJSON *rle = cJSON_GetObjectItemCaseSensitive(j, "rle");
    const cJSON *counts = cJSON_GetObjectItemCaseSensitive(rle, "counts");
    int rc = -1;
    sa_rle rr = {0};
    if (cJSON_IsString(counts) &&
        !sa_rle_from_string(counts->valuestring, strlen(counts->valuestring), H, W, &rr, NULL) &&
        !sa_rle_decode(&rr, m, NULL))
        rc = 0;
    sa_rle_free(&rr);
    cJSON_Delete(j);
    sh_resp_free(&r);
    return rc;
}

static int same_mask(const sa_mask *a, const sa_mask *b) {
    if (!a->data || !b->data || a->width != b->width || a->height != b->height) return 0;
    for (size_t i = 0; i < (size_t)a->width * (size_t)a->height; i++)
        if ((a->data[i] != 0) != (b->data[i] != 0)) return 0;
    return 1;
}

static void expect_status(sh_resp r, long status, const char *what) {
    CHECKF(r.status == status && (status == 200 || strstr(r.body, "\"error\"")), "%s: %ld %s", what,
           r.status, r.body);
    sh_resp_free(&r);
}

/* A loopback file server standing in for Label Studio's /data/upload/. */
static pid_t start_file_server(const char *dir, int *port) {
    int fd[2];
    if (pipe(fd)) return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        FILE *quiet = freopen("/dev/null", "w", stderr); /* its access log */
        (void)quiet;
        execlp("python3", "python3", "-u", "-m", "http.server", "--bind", "127.0.0.1",
               "--directory", dir, "0", (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char line[256];
    size_t n = 0;
    char ch;
    while (n + 1 < sizeof line && read(fd[0], &ch, 1) == 1 && ch != '\n')
        line[n++] = ch;
    line[n] = 0;
    close(fd[0]);
    const char *p = strstr(line, " port ");
    *port = p ? atoi(p + 6) : 0;
    if (*port <= 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return pid;
}

int main(int argc, char **argv) {
    (void)argc;
    tu_cli cli;
    tu_cli_init(&cli, argv[0]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    sa_image img = {0};
    sa_mask gt = {0};
    make_scene(&img, &gt);
    char root[4200], png[4300], gt_png[4300], outside[4300], link[4300], up[4300];
    snprintf(root, sizeof root, "%s/root", cli.dir);
    mkdir(root, 0777);
    snprintf(png, sizeof png, "%s/scene one.png", root);
    snprintf(gt_png, sizeof gt_png, "%s/gt.png", cli.dir);
    snprintf(outside, sizeof outside, "%s/outside.png", cli.dir);
    snprintf(link, sizeof link, "%s/escape.png", root);
    snprintf(up, sizeof up, "%s/data/upload/1", cli.dir);
    sa_error err = {0};
    CHECK(sa_image_save_png(png, &img, &err) == SA_OK &&
          sa_mask_save_png(gt_png, &gt, &err) == SA_OK);
    CHECK(sa_image_save_png(outside, &img, &err) == SA_OK && symlink(outside, link) == 0);
    char mk[16384];
    snprintf(mk, sizeof mk, "mkdir -p '%s' && cp '%s' '%s/abc-scene.png'", up, outside, up);
    CHECK(system(mk) == 0);

    test_server pol;
    if (ts_start(&pol, gt_png)) return 1;
    int fport = 0;
    pid_t files = start_file_server(cli.dir, &fport);
    CHECKF(files > 0, "file server did not start");
    char ls_url[64];
    snprintf(ls_url, sizeof ls_url, "http://127.0.0.1:%d", fport);
    setenv("LABEL_STUDIO_URL", ls_url, 1);
    setenv("LABEL_STUDIO_API_KEY", "lskey", 1);
    char log[4300];
    snprintf(log, sizeof log, "%s/serve_ls.log", cli.dir);
    const char *args[] = {
        "--images-root",  root,  "--policy",     pol.base_url, "--model", "annotator-iou",
        "--image-format", "png", "--text-field", "caption",    NULL};
    sh_server s;
    if (sh_start(&s, cli.bin, log, args)) return 1;

    sh_resp r = sh_request(&s, "GET", "/health", NULL, 0, NULL, NULL);
    CHECKF(r.status == 200 && strstr(r.body, "\"status\":\"UP\""), "health: %s", r.body);
    sh_resp_free(&r);
    r = sh_post_json(
        &s, "/setup",
        "{\"project\": \"1.1733000000\", \"schema\": \"<View/>\", \"hostname\": "
        "\"http://localhost:8080\", \"access_token\": \"x\", \"model_version\": null}");
    CHECKF(r.status == 200 && strstr(r.body, "model_version"), "setup: %ld %s", r.status, r.body);
    sh_resp_free(&r);
    r = sh_post_json(&s, "/webhook", "{\"action\": \"ANNOTATION_CREATED\", \"annotation\": {}}");
    CHECK(r.status == 200);
    sh_resp_free(&r);

    /* the native mask for clicks (16, 24)+ and (50, 24)+ and (5, 5)- */
    r = sh_post_json(&s, "/api/images", "{\"path\": \"scene one.png\"}");
    cJSON *j = cJSON_Parse(r.body);
    const cJSON *idv = cJSON_GetObjectItemCaseSensitive(j, "id");
    char id[32] = "x";
    if (cJSON_IsString(idv)) snprintf(id, sizeof id, "%s", idv->valuestring);
    cJSON_Delete(j);
    sh_resp_free(&r);
    sa_mask want1 = {0}, want3 = {0};
    CHECK(native_mask(&s, id, "[[16, 24, 1]]", &want1) == 0);
    CHECK(native_mask(&s, id, "[[16, 24, 1], [50, 24, 1], [5, 5, 0]]", &want3) == 0);

    /* interactive: one keypoint, then three; percent coordinates of the same pixels */
    char regions[4096], k1[512], k2[512], k3[512];
    snprintf(k1, sizeof k1, kp_fmt, 16.0 / W * 100 + 0.1, 24.0 / H * 100 + 0.1, "true", 1);
    snprintf(k2, sizeof k2, kp_fmt, 50.0 / W * 100 + 0.1, 24.0 / H * 100 + 0.1, "true", 2);
    snprintf(k3, sizeof k3, kp_fmt, 5.0 / W * 100 + 0.1, 5.0 / H * 100 + 0.1, "false", 3);
    snprintf(regions, sizeof regions, "{\"result\": [%s]}", k1);
    char *body = ls_body("/data/local-files/?d=scene%20one.png", regions, NULL);
    r = sh_post_json(&s, "/predict", body);
    sa_mask got = {0};
    char label[64] = "";
    CHECKF(r.status == 200 && answer_brush(r.body, &got, label, sizeof label) == 0,
           "ls predict: %ld %.300s", r.status, r.body);
    CHECKF(same_mask(&got, &want1) && sa_mask_area(&got) > 100,
           "brush mask differs from the native one");
    CHECK(!strcmp(label, "Blob"));
    sa_mask_free(&got);
    sh_resp_free(&r);
    free(body);
    snprintf(regions, sizeof regions, "{\"result\": [%s, %s, %s]}", k1, k2, k3);
    body = ls_body("/data/local-files/?d=scene%20one.png", regions, NULL);
    r = sh_post_json(&s, "/predict", body);
    CHECKF(r.status == 200 && answer_brush(r.body, &got, label, sizeof label) == 0 &&
               same_mask(&got, &want3),
           "three keypoints: %ld %.300s", r.status, r.body);
    sa_mask_free(&got);
    sh_resp_free(&r);
    free(body);

    /* the image fetched from "Label Studio" */
    snprintf(regions, sizeof regions, "{\"result\": [%s]}", k1);
    body = ls_body("/data/upload/1/abc-scene.png", regions, NULL);
    r = sh_post_json(&s, "/predict", body);
    CHECKF(r.status == 200 && answer_brush(r.body, &got, label, sizeof label) == 0 &&
               same_mask(&got, &want1),
           "upload: %ld %.300s", r.status, r.body);
    sa_mask_free(&got);
    sh_resp_free(&r);
    free(body);
    body = ls_body("http://198.51.100.7/x.png", regions, NULL);
    expect_status(sh_post_json(&s, "/predict", body), 400, "URL outside Label Studio");
    free(body);

    /* pre-annotation: no context, the agent from the caption */
    body = ls_body("/data/local-files/?d=scene%20one.png", NULL,
                   ", \"caption\": \"the two orange blobs\"");
    r = sh_post_json(&s, "/predict", body);
    CHECKF(r.status == 200 && answer_brush(r.body, &got, label, sizeof label) == 0,
           "agent: %ld %.300s", r.status, r.body);
    double iou = got.data ? sa_mask_iou(&got, &gt, NULL) : 0;
    CHECKF(iou > 0.85, "agent pre-annotation IoU %g", iou);
    CHECK(!strcmp(label, "Blob")); /* the config's first brush label */
    sa_mask_free(&got);
    sh_resp_free(&r);
    free(body);
    /* no context and no text: an empty prediction */
    body = ls_body("/data/local-files/?d=scene%20one.png", NULL, NULL);
    r = sh_post_json(&s, "/predict", body);
    CHECKF(r.status == 200 && strstr(r.body, "\"result\":[]"), "empty: %ld %s", r.status, r.body);
    sh_resp_free(&r);
    free(body);

    /* refused and malformed */
    body = ls_body("/data/local-files/?d=..%2Foutside.png", regions, NULL);
    expect_status(sh_post_json(&s, "/predict", body), 400, "dotdot local file");
    free(body);
    body = ls_body("/data/local-files/?d=escape.png", regions, NULL);
    expect_status(sh_post_json(&s, "/predict", body), 400, "symlink local file");
    free(body);
    body = ls_body("/data/local-files/?d=missing.png", regions, NULL);
    expect_status(sh_post_json(&s, "/predict", body), 404, "missing local file");
    free(body);
    snprintf(regions, sizeof regions,
             "{\"result\": [{\"type\": \"rectanglelabels\", \"value\": {\"x\": 10, \"y\": 10, "
             "\"width\": 30, "
             "\"height\": 40, \"rectanglelabels\": [\"Blob\"]}}]}");
    body = ls_body("/data/local-files/?d=scene%20one.png", regions, NULL);
    expect_status(sh_post_json(&s, "/predict", body), 400, "rectangle for the graph cut");
    free(body);
    snprintf(
        regions, sizeof regions,
        "{\"result\": [{\"type\": \"keypointlabels\", \"value\": {\"x\": \"10\", \"y\": 10}}]}");
    body = ls_body("/data/local-files/?d=scene%20one.png", regions, NULL);
    expect_status(sh_post_json(&s, "/predict", body), 400, "string percentage");
    free(body);
    snprintf(
        regions, sizeof regions,
        "{\"result\": [{\"type\": \"keypointlabels\", \"value\": {\"x\": 1e308, \"y\": 10}}]}");
    body = ls_body("/data/local-files/?d=scene%20one.png", regions, NULL);
    expect_status(sh_post_json(&s, "/predict", body), 400, "huge percentage");
    free(body);
    expect_status(sh_post_json(&s, "/predict", "{\"tasks\": [{\"id\": 1}]"), 400, "truncated JSON");
    expect_status(sh_post_json(&s, "/predict", "{\"tasks\": 5}"), 400, "tasks not an array");
    expect_status(sh_post_json(&s, "/predict", "{\"tasks\": [{\"id\": 1}]}"), 400,
                  "task without data");
    expect_status(sh_post_json(&s, "/predict", "{\"tasks\": [{\"data\": {\"n\": 3}}]}"), 400,
                  "no image URL");
    expect_status(sh_request(&s, "GET", "/predict", NULL, 0, NULL, NULL), 405, "GET /predict");
    r = sh_request(&s, "GET", "/health", NULL, 0, NULL, NULL);
    CHECK(r.status == 200 && sh_alive(&s));
    sh_resp_free(&r);

    CHECK(sh_stop(&s) == 0);
    if (files > 0) {
        kill(files, SIGTERM);
        waitpid(files, NULL, 0);
    }
    ts_stop(&pol);
    sa_mask_free(&want1);
    sa_mask_free(&want3);
    sa_image_free(&img);
    sa_mask_free(&gt);
    curl_global_cleanup();
    tu_rmtree(cli.dir);
    free(cli.dir);
    return tu_finish("test_server_ls");
}
