/* Agent overhead benchmark: what one agent step costs on top of the model and the tool.
 *
 * The model is replaced by an instant HTTP server in a thread of this program (it answers every request with
 * a fixed "Current IOU: 50\nPositive point: (500, 500)" the moment the body has arrived), so the time of
 * sa_policy_act is exactly the agent's own work: overlay, resize (optional), JPEG/PNG encode, base64, JSON
 * build, HTTP round trip over loopback, JSON parse, grammar parse. The tool time is the built-in graph cut's
 * sa_env_step for one click on the same image. Reported as medians in ms and as a ratio to the tool.
 *
 *   bench_agent [IMAGE] [--reps N]    (default: a Berkeley image from the shared folder, else a synthetic
 *                                      640x480 scene; N = 30)
 */
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "segagent/env.h"
#include "segagent/graphcut.h"
#include "segagent/llm_policy.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- the instant server: HTTP/1.1 keep-alive, one connection at a time ---- */
static const char reply_body[] =
    "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":\"Current IOU: 50\\nPositive point: (500, 500)\"},\"finish_reason\":\"stop\"}]}";

static char *find_crlf2(char *b, size_t n) {
    for (size_t i = 0; i + 3 < n; i++)
        if (b[i] == '\r' && b[i + 1] == '\n' && b[i + 2] == '\r' && b[i + 3] == '\n') return b + i;
    return NULL;
}

static void serve_conn(int fd) {
    static __thread char buf[1 << 16];
    size_t have = 0;
    for (;;) {
        /* headers */
        char *end = NULL;
        while (!(end = find_crlf2(buf, have))) {
            if (have == sizeof buf) return;
            ssize_t r = recv(fd, buf + have, sizeof buf - have, 0);
            if (r <= 0) return;
            have += (size_t)r;
        }
        size_t hlen = (size_t)(end - buf) + 4;
        long clen = 0;
        for (char *p = buf; p < end; p++)
            if (!strncasecmp(p, "\r\ncontent-length:", 17)) clen = strtol(p + 17, NULL, 10);
        size_t left = have - hlen;
        size_t need = (size_t)clen;
        while (left < need) { /* discard the body as it arrives */
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r <= 0) return;
            left += (size_t)r;
        }
        have = 0;
        /* one send: two small writes would meet Nagle + delayed ACK and add ~40 ms that is not ours */
        char msg[1024];
        int hn = snprintf(
            msg, sizeof msg,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
            sizeof reply_body - 1, reply_body);
        if (send(fd, msg, (size_t)hn, 0) < 0) return;
    }
}

static void *server_main(void *arg) {
    int ls = *(int *)arg;
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0) return NULL;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        serve_conn(fd);
        close(fd);
    }
}

static int start_server(int *port) {
    static int ls;
    ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 4)) return -1;
    socklen_t l = sizeof a;
    getsockname(ls, (struct sockaddr *)&a, &l);
    *port = ntohs(a.sin_port);
    pthread_t t;
    if (pthread_create(&t, NULL, server_main, &ls)) return -1;
    pthread_detach(t);
    return 0;
}

static void synthetic(sa_image *img, sa_mask *m) {
    sa_image_new(img, 640, 480, 3, NULL);
    sa_mask_new(m, 640, 480, NULL);
    for (int y = 0; y < 480; y++)
        for (int x = 0; x < 640; x++) {
            int in = (x - 320) * (x - 320) / 4 + (y - 240) * (y - 240) < 120 * 120;
            uint8_t *p = img->data + 3 * (y * 640 + x);
            p[0] = (uint8_t)(in ? 180 + (x % 20) : 60 + (y % 30));
            p[1] = (uint8_t)(in ? 80 : 120 + (x % 25));
            p[2] = (uint8_t)(in ? 40 : 160);
            m->data[y * 640 + x] = (uint8_t)in;
        }
}

/* The input: the image given, a Berkeley image from the shared folder, or a synthetic scene; a plausible
 * current mask (the central third). Returns 0 or 1. */
static int load_input(const char *path, sa_image *img, sa_mask *mask, const char **shown) {
    char def[1024];
    if (!path) {
        const char *sh = getenv("SEGAGENT_SHARED");
        snprintf(def, sizeof def, "%s/data/Berkeley/images/101087.jpg",
                 sh && *sh ? sh : "../shared");
        if (access(def, R_OK) == 0) path = def;
    }
    *shown = path ? path : "synthetic";
    if (!path) {
        synthetic(img, mask);
        return 0;
    }
    sa_error err = {0};
    if (sa_image_load(path, img, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    sa_mask_new(mask, img->width, img->height, NULL);
    for (int y = img->height / 3; y < 2 * img->height / 3; y++)
        for (int x = img->width / 3; x < 2 * img->width / 3; x++)
            mask->data[y * img->width + x] = 1;
    return 0;
}

/* The pieces of one observation's encoding, timed one by one. */
static void time_pieces(const sa_image *img, const sa_mask *mask, int reps, double *t) {
    sa_image ov = {0};
    sa_image_copy(img, &ov, NULL);
    for (int i = 0; i < reps; i++) {
        double t0 = now_ms();
        sa_image_overlay(img, mask->data, sa_overlay_default_style(), &ov, NULL);
        t[i] = now_ms() - t0;
    }
    printf("  overlay                         %8.3f ms\n", median(t, reps));
    uint8_t *bytes = NULL;
    size_t len = 0;
    for (int i = 0; i < reps; i++) {
        double t0 = now_ms();
        free(bytes);
        sa_image_encode_jpeg(&ov, 75, &bytes, &len, NULL);
        t[i] = now_ms() - t0;
    }
    printf("  JPEG q75 encode                 %8.3f ms  (%zu bytes)\n", median(t, reps), len);
    for (int i = 0; i < reps; i++) {
        double t0 = now_ms();
        char *b = sa_base64_encode(bytes, len);
        t[i] = now_ms() - t0;
        free(b);
    }
    printf("  base64 of the JPEG              %8.3f ms\n", median(t, reps));
    free(bytes);
    bytes = NULL;
    for (int i = 0; i < 5; i++) {
        double t0 = now_ms();
        free(bytes);
        sa_image_encode_png(&ov, &bytes, &len, NULL);
        t[i] = now_ms() - t0;
    }
    printf("  PNG encode (tests only)         %8.3f ms  (%zu bytes)\n", median(t, 5), len);
    free(bytes);
    sa_image_free(&ov);
}

/* A whole act() against the instant server with one image format and size; the median in ms, or -1. */
static double time_act(const char *url, const char *name, sa_llm_image_format fmt, int size,
                       const sa_image *img, const sa_mask *mask, int reps, double *t) {
    sa_error err = {0};
    sa_llm_params p = sa_llm_default_params();
    p.base_url = url;
    p.model = "bench";
    p.image_format = fmt;
    p.model_size = size;
    sa_policy *pol = NULL;
    if (sa_llm_policy_new(p, &pol, NULL, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    sa_policy_obs obs;
    memset(&obs, 0, sizeof obs);
    obs.image = img;
    obs.mask = mask;
    obs.description = "the object in the middle";
    int n_run = fmt == SA_LLM_PNG ? 5 : reps;
    for (int i = 0; i < n_run; i++) {
        sa_policy_decision d[1];
        int n = 0;
        double t0 = now_ms();
        int rc = sa_policy_act(pol, &obs, 1, d, &n, &err);
        t[i] = now_ms() - t0;
        if (rc || n != 1 || d[0].status) {
            fprintf(stderr, "act failed: %s\n", err.msg);
            sa_policy_free(pol);
            return -1;
        }
        sa_policy_decisions_free(d, n);
    }
    double ms = median(t, n_run);
    printf("  %-31s %8.3f ms  (overlay + encode + base64 + JSON + HTTP + parse)\n", name, ms);
    sa_policy_free(pol);
    return ms;
}

/* The tool: one graph-cut click on the same image, through the episode engine; the median in ms, or -1. */
static double time_tool(const sa_image *img, int reps, double *t) {
    sa_error err = {0};
    sa_tool *tool = NULL;
    sa_env *env = NULL;
    if (sa_graphcut_tool_new(sa_graphcut_default_params(), &tool, &err) ||
        sa_env_new(tool, sa_env_default_params(), &env, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        sa_tool_free(tool);
        return -1;
    }
    int tool_reps = reps < 10 ? reps : 10;
    for (int i = 0; i < tool_reps; i++) {
        sa_env_reset(env, img, "x", NULL, NULL, NULL, NULL);
        sa_action a = sa_action_click(img->height / 2, img->width / 2, 1);
        sa_env_step_info info;
        sa_env_step(env, &a, &info, NULL);
        t[i] = info.tool_ms;
    }
    sa_env_free(env);
    sa_tool_free(tool);
    return median(t, tool_reps);
}

int main(int argc, char **argv) {
    const char *path = NULL, *shown = NULL;
    int reps = 30;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else
            path = argv[i];
    }
    if (reps < 3) reps = 3;
    sa_image img = {0};
    sa_mask mask = {0};
    if (load_input(path, &img, &mask, &shown)) return 1;
    printf("image: %s (%dx%d), %d repetitions, medians\n", shown, img.width, img.height, reps);
    int port = 0;
    if (start_server(&port)) {
        fprintf(stderr, "cannot start the loopback server\n");
        return 1;
    }
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", port);
    double *t = malloc((size_t)reps * sizeof *t);
    if (!t) return 1;
    time_pieces(&img, &mask, reps, t);
    double act_ms = time_act(url, "act, JPEG full size", SA_LLM_JPEG, 0, &img, &mask, reps, t);
    int ok = act_ms >= 0 &&
             time_act(url, "act, JPEG 448x448", SA_LLM_JPEG, 448, &img, &mask, reps, t) >= 0 &&
             time_act(url, "act, PNG full size", SA_LLM_PNG, 0, &img, &mask, reps, t) >= 0;
    double tool_ms = ok ? time_tool(&img, reps, t) : -1;
    if (tool_ms > 0) {
        printf("  tool: graph cut, one click      %8.3f ms\n", tool_ms);
        printf("agent overhead per step (JPEG, full size): %.2f ms = %.3f x the tool time\n",
               act_ms, act_ms / tool_ms);
    }
    free(t);
    sa_image_free(&img);
    sa_mask_free(&mask);
    return tool_ms > 0 ? 0 : 1;
}
