/* segagent serve, agent endpoint: the LLM agent on a registered image, each step streamed as a
 * server-sent event while the episode runs. The policy is the scripted loopback server
 * (tests/policy_server.py) playing the simulated annotator against the ground truth; the test
 * checks the event sequence (start, one step per committed click with its mask and predicted IoU,
 * done), that the final mask is good, that events arrive while the run goes on (a slow policy: the
 * first step comes well before the end), the 429 past --max-agents, the 503 without a policy, and
 * bad agent requests. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "policy_server.h"
#include "segagent/image.h"
#include "segagent/mask.h"
#include "segagent/rle.h"
#include "serve_harness.h"
#include "testutil.h"

#define W 64
#define H 48

static void make_scene(sa_image *img, sa_mask *gt) {
    sa_error err = {0};
    if (sa_image_new(img, W, H, 3, &err) || sa_mask_new(gt, W, H, &err)) exit(1);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            /* two blobs apart: the annotator needs a click on each */
            double dy = (y - 24.0) / 10.0, dx = (x - 16.0) / 10.0, ex = (x - 50.0) / 8.0;
            int in = dx * dx + dy * dy <= 1.0 || ex * ex + dy * dy <= 1.0;
            gt->data[y * W + x] = (uint8_t)in;
            uint8_t *px = img->data + 3 * (y * W + x);
            px[0] = (uint8_t)(in ? 200 : 40 + (x * 3) % 30);
            px[1] = (uint8_t)(in ? 90
                                 : 20 + (y * 5) % 40); /* green below 127 for the scripted server */
            px[2] = (uint8_t)(in ? 60 : 150);
        }
}

typedef struct event {
    char name[16];
    cJSON *data;
} event;

/* Splits an SSE body into events; returns the count (at most max). */
static int parse_events(const char *body, event *ev, int max) {
    int n = 0;
    const char *p = body;
    while (n < max && (p = strstr(p, "event: "))) {
        const char *nl = strchr(p, '\n');
        if (!nl) break;
        snprintf(ev[n].name, sizeof ev[n].name, "%.*s", (int)(nl - p - 7), p + 7);
        const char *d = strstr(nl, "data: ");
        const char *end = d ? strstr(d, "\n\n") : NULL;
        if (!d || !end) break;
        ev[n].data = cJSON_ParseWithLength(d + 6, (size_t)(end - d - 6));
        n++;
        p = end;
    }
    return n;
}

static double rle_iou(const cJSON *rle, const sa_mask *gt) {
    const cJSON *counts = cJSON_GetObjectItemCaseSensitive(rle, "counts");
    if (!cJSON_IsString(counts)) return -1;
    sa_rle r = {0};
    sa_mask m = {0};
    double iou = -1;
    if (!sa_rle_from_string(counts->valuestring, strlen(counts->valuestring), H, W, &r, NULL) &&
        !sa_rle_decode(&r, &m, NULL))
        iou = sa_mask_iou(&m, gt, NULL);
    sa_rle_free(&r);
    sa_mask_free(&m);
    return iou;
}

static char *register_png(const sh_server *s, const char *png) {
    size_t n = 0;
    char *bytes = tu_read_file(png, &n);
    sh_resp r = sh_request(s, "POST", "/api/images", bytes, n, "image/png", NULL);
    free(bytes);
    char *id = NULL;
    cJSON *j = cJSON_Parse(r.body);
    const cJSON *v = j ? cJSON_GetObjectItemCaseSensitive(j, "id") : NULL;
    if (cJSON_IsString(v)) id = strdup(v->valuestring);
    cJSON_Delete(j);
    CHECKF(id, "register: %ld %s", r.status, r.body);
    sh_resp_free(&r);
    return id;
}

/* Timestamps of the first step event and of the end of the stream. */
typedef struct timed {
    sh_resp r;
    double t0, t_step, t_end;
} timed;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static size_t timed_cb(char *p, size_t sz, size_t nm, void *ud) {
    timed *t = ud;
    size_t n = sh_write_cb(p, sz, nm, &t->r);
    if (t->t_step == 0 && strstr(t->r.body, "event: step")) t->t_step = now_s();
    return n;
}

static timed timed_post(const sh_server *s, const char *path, const char *json) {
    timed t;
    memset(&t, 0, sizeof t);
    t.r.body = calloc(1, 1);
    CURL *c = curl_easy_init();
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, timed_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    t.t0 = now_s();
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &t.r.status);
    t.t_end = now_s();
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return t;
}

static void test_stream(const char *bin, const char *dir, const char *png, const sa_mask *gt,
                        const char *policy) {
    char log[4096];
    snprintf(log, sizeof log, "%s/serve_agent.log", dir);
    const char *args[] = {"--policy",       policy, "--model", "annotator-iou",
                          "--image-format", "png",  NULL};
    sh_server s;
    if (sh_start(&s, bin, log, args)) {
        tu_failures++;
        return;
    }
    char *id = register_png(&s, png);
    char path[128];
    snprintf(path, sizeof path, "/api/images/%s/agent", id ? id : "x");
    sh_resp r = sh_post_json(&s, path, "{\"description\": \"the two orange blobs\", \"steps\": 5}");
    CHECKF(r.status == 200 && strstr(r.headers, "text/event-stream"), "agent: %ld %s", r.status,
           r.body);
    event ev[16];
    int n = parse_events(r.body, ev, 16);
    CHECKF(n >= 3 && !strcmp(ev[0].name, "start") && !strcmp(ev[n - 1].name, "done"), "events: %s",
           r.body);
    int steps = 0;
    double last_iou = 0;
    for (int i = 1; i < n - 1; i++) {
        CHECK(!strcmp(ev[i].name, "step") && ev[i].data);
        if (!ev[i].data) continue;
        steps++;
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(ev[i].data, "action");
        CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(a, "x")) &&
              cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(a, "positive")));
        CHECK(cJSON_GetObjectItemCaseSensitive(ev[i].data, "index")->valueint == steps);
        last_iou = rle_iou(cJSON_GetObjectItemCaseSensitive(ev[i].data, "rle"), gt);
        CHECK(last_iou >= 0);
    }
    CHECKF(steps >= 2 && steps <= 5, "%d steps: %s", steps, r.body);
    if (n >= 1 && ev[n - 1].data) {
        double iou = rle_iou(cJSON_GetObjectItemCaseSensitive(ev[n - 1].data, "rle"), gt);
        CHECKF(iou > 0.85, "final IoU %g (last step %g): %s", iou, last_iou, r.body);
        fprintf(stderr, "agent stream: %d steps, final IoU %.3f\n%s\n", steps, iou, r.body);
        const cJSON *stop = cJSON_GetObjectItemCaseSensitive(ev[n - 1].data, "stop");
        CHECK(cJSON_IsString(stop) && !cJSON_GetObjectItemCaseSensitive(ev[n - 1].data, "error"));
    }
    for (int i = 0; i < n; i++)
        cJSON_Delete(ev[i].data);
    sh_resp_free(&r);
    /* bad agent requests */
    r = sh_post_json(&s, path, "{\"steps\": 3}");
    CHECKF(r.status == 400 && strstr(r.body, "description"), "no description: %ld %s", r.status,
           r.body);
    sh_resp_free(&r);
    r = sh_post_json(&s, path, "{\"description\": \"x\", \"steps\": 1000}");
    CHECKF(r.status == 400, "steps over the limit: %ld %s", r.status, r.body);
    sh_resp_free(&r);
    r = sh_post_json(&s, "/api/images/00000000000000aa/agent", "{\"description\": \"x\"}");
    CHECK(r.status == 404);
    sh_resp_free(&r);
    r = sh_request(&s, "GET", "/metrics", NULL, 0, NULL, NULL);
    CHECKF(strstr(r.body, "segagent_agent_runs_total 1\n"), "metrics: %s", r.body);
    sh_resp_free(&r);
    free(id);
    CHECK(sh_stop(&s) == 0);
}

typedef struct bg_run {
    const sh_server *s;
    const char *path;
    timed t;
} bg_run;

static void *bg_main(void *arg) {
    bg_run *b = arg;
    b->t = timed_post(b->s, b->path, "{\"description\": \"the ellipse\", \"steps\": 2}");
    return NULL;
}

/* A slow policy (3 s per reply): events stream while the run goes on; a second run meanwhile gets
 * 429. */
static void test_streaming_and_limit(const char *bin, const char *dir, const char *png,
                                     const char *policy) {
    char log[4096];
    snprintf(log, sizeof log, "%s/serve_slow.log", dir);
    const char *args[] = {"--policy", policy, "--model", "slow", "--max-agents", "1", NULL};
    sh_server s;
    if (sh_start(&s, bin, log, args)) {
        tu_failures++;
        return;
    }
    char *id = register_png(&s, png);
    char path[128];
    snprintf(path, sizeof path, "/api/images/%s/agent", id ? id : "x");
    bg_run b = {&s, path, {{0}, 0, 0, 0}};
    pthread_t th;
    pthread_create(&th, NULL, bg_main, &b);
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
    sh_resp r = sh_post_json(&s, path, "{\"description\": \"the ellipse\", \"steps\": 1}");
    CHECKF(r.status == 429 && strstr(r.body, "error"), "second run: %ld %s", r.status, r.body);
    sh_resp_free(&r);
    pthread_join(th, NULL);
    CHECKF(b.t.r.status == 200 && strstr(b.t.r.body, "event: done"), "slow run: %ld %s",
           b.t.r.status, b.t.r.body);
    CHECKF(b.t.t_step > 0 && b.t.t_end - b.t.t_step > 1.5,
           "first step at %.2f s, end at %.2f s (not streamed)", b.t.t_step - b.t.t0,
           b.t.t_end - b.t.t0);
    sh_resp_free(&b.t.r);
    free(id);
    CHECK(sh_stop(&s) == 0);
}

static void test_no_policy(const char *bin, const char *dir, const char *png) {
    char log[4096];
    snprintf(log, sizeof log, "%s/serve_nopolicy.log", dir);
    unsetenv("SEGAGENT_POLICY");
    sh_server s;
    if (sh_start(&s, bin, log, NULL)) {
        tu_failures++;
        return;
    }
    char *id = register_png(&s, png);
    char path[128];
    snprintf(path, sizeof path, "/api/images/%s/agent", id ? id : "x");
    sh_resp r = sh_post_json(&s, path, "{\"description\": \"x\"}");
    CHECKF(r.status == 503 && strstr(r.body, "policy"), "no policy: %ld %s", r.status, r.body);
    sh_resp_free(&r);
    free(id);
    CHECK(sh_stop(&s) == 0);
}

int main(int argc, char **argv) {
    (void)argc;
    tu_cli cli;
    tu_cli_init(&cli, argv[0]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    sa_image img = {0};
    sa_mask gt = {0};
    make_scene(&img, &gt);
    char png[4200], gt_png[4200];
    snprintf(png, sizeof png, "%s/scene.png", cli.dir);
    snprintf(gt_png, sizeof gt_png, "%s/gt.png", cli.dir);
    sa_error err = {0};
    CHECK(sa_image_save_png(png, &img, &err) == SA_OK &&
          sa_mask_save_png(gt_png, &gt, &err) == SA_OK);
    test_server pol;
    if (ts_start(&pol, gt_png)) return 1;
    test_stream(cli.bin, cli.dir, png, &gt, pol.base_url);
    test_streaming_and_limit(cli.bin, cli.dir, png, pol.base_url);
    test_no_policy(cli.bin, cli.dir, png);
    ts_stop(&pol);
    sa_image_free(&img);
    sa_mask_free(&gt);
    curl_global_cleanup();
    tu_rmtree(cli.dir);
    free(cli.dir);
    return tu_finish("test_server_agent");
}
