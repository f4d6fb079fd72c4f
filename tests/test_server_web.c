/* segagent serve, the web page in a real headless Chromium (Debian's chromium, driven over the
 * DevTools protocol by tests/web/page_test.mjs with Node's own WebSocket): the page loads, an image
 * is uploaded through its file input, three clicks (two positive, one negative with the right
 * button) go onto the overlay, and the mask the page holds (decoded by its own JavaScript from the
 * server's COCO RLE) must equal the native API's mask for the same clicks. The screenshot is kept
 * as build/tests/test_server_web.png. Without chromium or node the test says so and skips -- or
 * fails under SEGAGENT_REQUIRE_SHARED (CI installs both with scripts/install-deps.sh --browser). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "segagent/image.h"
#include "segagent/llm_policy.h"
#include "segagent/mask.h"
#include "segagent/rle.h"
#include "policy_server.h"
#include "serve_harness.h"
#include "testutil.h"

#define W 160
#define H 120

static int missing(const char *what) {
    const char *req = getenv("SEGAGENT_REQUIRE_SHARED");
    if (req && *req) {
        fprintf(stderr,
                "%s is not installed, and CI requires this test (bash scripts/install-deps.sh "
                "--browser)\n",
                what);
        return 1;
    }
    printf("skip: %s is not installed (bash scripts/install-deps.sh --browser)\n", what);
    return 77;
}

static int b64val(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Runs the page driver; its stdout (one JSON line) in a malloc'd string, NULL on failure. */
static char *run_page(const char *chromium, int port, const char *png, const char *clicks,
                      const char *describe, const char *shot) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd,
             "node --experimental-websocket --no-warnings tests/web/page_test.mjs --url "
             "http://127.0.0.1:%d/ "
             "--image '%s' --clicks '%s' --screenshot '%s' --chromium '%s'%s%s%s",
             port, png, clicks, shot, chromium, describe ? " --describe '" : "",
             describe ? describe : "", describe ? "'" : "");
    FILE *p = popen(cmd, "r");
    char *out = NULL;
    size_t len = 0, cap = 0;
    char buf[65536];
    size_t n;
    while (p && (n = fread(buf, 1, sizeof buf, p)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            out = realloc(out, cap);
        }
        memcpy(out + len, buf, n);
        len += n;
        out[len] = 0;
    }
    int rc = p ? pclose(p) : -1;
    CHECKF(rc == 0 && out, "page_test.mjs failed (exit %d)", rc);
    if (rc) {
        free(out);
        return NULL;
    }
    return out;
}

/* The page's mask (base64 of row-major 0/1 bytes) into m; 0 or -1. */
static int page_mask(const char *b64, sa_mask *m) {
    if (sa_mask_new(m, W, H, NULL)) return -1;
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (const char *q = b64; *q && *q != '='; q++) {
        int v = b64val(*q);
        if (v < 0) break;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (k < (size_t)W * H) m->data[k] = (uint8_t)(acc >> bits) != 0;
            k++;
        }
    }
    return k == (size_t)W * H ? 0 : -1;
}

int main(int argc, char **argv) {
    (void)argc;
    const char *chromium = getenv("CHROMIUM");
    if (!chromium || !*chromium) chromium = "/usr/bin/chromium";
    if (access(chromium, X_OK) != 0) return missing("chromium");
    if (system("node --version >/dev/null 2>&1") != 0) return missing("node");
    tu_cli cli;
    tu_cli_init(&cli, argv[0]);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    sa_image img = {0};
    sa_error err = {0};
    if (sa_image_new(&img, W, H, 3, &err)) return 1;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double dx = (x - 60.0) / 35.0, dy = (y - 60.0) / 30.0;
            int in = dx * dx + dy * dy <= 1.0 || (x > 115 && x < 145 && y > 20 && y < 100);
            uint8_t *p = img.data + 3 * (y * W + x);
            p[0] = (uint8_t)(in ? 230 : 30 + (x * 7 + y * 3) % 25);
            p[1] = (uint8_t)(in ? 110
                                : 60 + (x + y) % 20); /* green below 127 for the scripted policy */
            p[2] = (uint8_t)(in ? 40 : 90);
        }
    char png[4200];
    snprintf(png, sizeof png, "%s/page.png", cli.dir);
    CHECK(sa_image_save_png(png, &img, &err) == SA_OK);

    char log[4200];
    snprintf(log, sizeof log, "%s/serve_web.log", cli.dir);
    sa_mask gt = {0};
    CHECK(sa_mask_new(&gt, W, H, &err) == SA_OK);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double dx = (x - 60.0) / 35.0, dy = (y - 60.0) / 30.0;
            gt.data[y * W + x] =
                dx * dx + dy * dy <= 1.0 || (x > 115 && x < 145 && y > 20 && y < 100);
        }
    char gt_png[4200];
    snprintf(gt_png, sizeof gt_png, "%s/gt.png", cli.dir);
    CHECK(sa_mask_save_png(gt_png, &gt, &err) == SA_OK);
    test_server pol;
    if (ts_start(&pol, gt_png)) return 1;
    const char *args[] = {"--web-dir",      "web",     "--policy",
                          pol.base_url,     "--model", "annotator-iou",
                          "--image-format", "png",     NULL};
    sh_server s;
    if (sh_start(&s, cli.bin, log, args)) return 1;
    sh_resp r = sh_request(&s, "GET", "/", NULL, 0, NULL, NULL);
    CHECKF(r.status == 200 && strstr(r.body, "Let the agent annotate"), "page: %ld", r.status);
    sh_resp_free(&r);
    {
        r = sh_request(&s, "GET", "/../Makefile", NULL, 0, NULL, NULL);
        CHECK(r.status == 404);
        sh_resp_free(&r);
    }

    char shot[4400], shot2[4400];
    const char *b = getenv("BUILD");
    snprintf(shot, sizeof shot, "%s/tests/test_server_web.png", b && *b ? b : "build");
    snprintf(shot2, sizeof shot2, "%s/tests/test_server_web_agent.png", b && *b ? b : "build");
    char *out = run_page(chromium, s.port, png, "60,60,1;130,60,1;60,35,0", NULL, shot);
    cJSON *j = out ? cJSON_Parse(out) : NULL;
    const cJSON *mask = cJSON_GetObjectItemCaseSensitive(j, "mask");
    const cJSON *clicks = cJSON_GetObjectItemCaseSensitive(j, "clicks");
    CHECKF(cJSON_IsString(mask) && cJSON_GetArraySize(clicks) == 3, "page state: %s",
           out ? out : "(none)");
    if (cJSON_IsString(mask) && cJSON_GetArraySize(clicks) == 3) {
        /* the clicks landed on the intended pixels, with the intended signs */
        const int want[3][3] = {{60, 60, 1}, {130, 60, 1}, {60, 35, 0}};
        for (int i = 0; i < 3; i++) {
            const cJSON *c = cJSON_GetArrayItem(clicks, i);
            CHECKF(cJSON_GetObjectItemCaseSensitive(c, "x")->valueint == want[i][0] &&
                       cJSON_GetObjectItemCaseSensitive(c, "y")->valueint == want[i][1] &&
                       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "positive")) == want[i][2],
                   "click %d", i);
        }
        /* the page's mask against the API's for the same clicks */
        const char *id = cJSON_GetObjectItemCaseSensitive(j, "id")->valuestring;
        char path[128];
        snprintf(path, sizeof path, "/api/images/%s/predict", id);
        char *cl = cJSON_PrintUnformatted(clicks);
        char body[2048];
        snprintf(body, sizeof body, "{\"clicks\": %s}", cl);
        free(cl);
        r = sh_post_json(&s, path, body);
        cJSON *a = cJSON_Parse(r.body);
        const cJSON *counts =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(a, "rle"), "counts");
        sa_rle rle = {0};
        sa_mask api = {0};
        CHECK(cJSON_IsString(counts) &&
              sa_rle_from_string(counts->valuestring, strlen(counts->valuestring), H, W, &rle,
                                 &err) == SA_OK &&
              sa_rle_decode(&rle, &api, &err) == SA_OK);
        const char *s64 = mask->valuestring;
        size_t k = 0, bad = 0, area = 0;
        uint32_t acc = 0;
        int bits = 0;
        for (const char *q = s64; *q && *q != '='; q++) {
            int v = b64val(*q);
            if (v < 0) break;
            acc = (acc << 6) | (uint32_t)v;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                uint8_t byte = (uint8_t)(acc >> bits);
                if (api.data && k < (size_t)W * H && (byte != 0) != (api.data[k] != 0)) bad++;
                area += byte != 0;
                k++;
            }
        }
        CHECKF(k == (size_t)W * H && bad == 0 && area > 1000,
               "page mask: %zu pixels, %zu differ, area %zu", k, bad, area);
        fprintf(stderr, "page: area %zu, latency shown: %s\n", area,
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "latency")));
        sa_mask_free(&api);
        sa_rle_free(&rle);
        cJSON_Delete(a);
        sh_resp_free(&r);
    }
    cJSON_Delete(j);
    free(out);
    CHECK(access(shot, R_OK) == 0);

    /* the agent from the page: steps streamed in, a good mask at the end */
    out = run_page(chromium, s.port, png, "", "the orange shapes", shot2);
    j = out ? cJSON_Parse(out) : NULL;
    mask = cJSON_GetObjectItemCaseSensitive(j, "mask");
    clicks = cJSON_GetObjectItemCaseSensitive(j, "clicks");
    const char *agent = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "agent"));
    sa_mask am = {0};
    CHECKF(cJSON_IsString(mask) && page_mask(mask->valuestring, &am) == 0 &&
               cJSON_GetArraySize(clicks) >= 2 && agent && !strncmp(agent, "done", 4),
           "agent on the page: %s", out ? out : "(none)");
    double iou = am.data ? sa_mask_iou(&am, &gt, NULL) : 0;
    CHECKF(iou > 0.85, "agent mask on the page: IoU %g", iou);
    fprintf(stderr, "page agent: %d clicks, IoU %.3f, %s\n", cJSON_GetArraySize(clicks), iou,
            agent ? agent : "");
    sa_mask_free(&am);
    cJSON_Delete(j);
    free(out);
    ts_stop(&pol);
    sa_mask_free(&gt);
    CHECK(sh_stop(&s) == 0);
    sa_image_free(&img);
    curl_global_cleanup();
    tu_rmtree(cli.dir);
    free(cli.dir);
    return tu_finish("test_server_web");
}
