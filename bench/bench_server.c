/* Benchmark of segagent serve's predict path, in-process (sa_server_start on a loopback port,
 * libcurl clients), on the b1024 fixture's image (427x640) or --image:
 *   first click  register an image and predict at once, and 1.5 s later (someone looking at the
 *                image first), with the background encode on and off; 5 images, median
 *   cached       p50 / p99 of predicts on an encoded image (1 or 2 clicks)
 *   throughput   predicts/s with C concurrent keep-alive clients over 10 images
 *
 *   build/bench/bench_server [--tool builtin|sam] [--sam-model DIR] [--image PNG] [--threads N]
 *                            [--clicks N] [--concurrency C] [--seconds S]
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "segagent/graphcut.h"
#include "segagent/image.h"
#include "segagent/sam.h"
#include "segagent/server.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

typedef struct buf {
    char *p;
    size_t n;
} buf;

static size_t wr(char *p, size_t s, size_t m, void *ud) {
    buf *b = ud;
    char *np = realloc(b->p, b->n + s * m + 1);
    if (!np) return 0;
    memcpy(np + b->n, p, s * m);
    b->p = np;
    b->n += s * m;
    b->p[b->n] = 0;
    return s * m;
}

/* POST; returns the HTTP status, body in *out (caller frees). */
static long post(CURL *c, int port, const char *path, const void *body, size_t len,
                 const char *ctype, char **out) {
    char url[256], ct[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
    struct curl_slist *h = curl_slist_append(NULL, ct);
    buf b = {calloc(1, 1), 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, wr);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    long st = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    curl_slist_free_all(h);
    if (out)
        *out = b.p;
    else
        free(b.p);
    return st;
}

static int reg(CURL *c, int port, const uint8_t *png, size_t n, char id[32]) {
    char *body = NULL;
    long st = post(c, port, "/api/images", png, n, "image/png", &body);
    const char *p = body ? strstr(body, "\"id\":\"") : NULL;
    if (st != 201 || !p) {
        fprintf(stderr, "bench_server: register failed: %ld %s\n", st, body ? body : "");
        free(body);
        return -1;
    }
    snprintf(id, 32, "%.16s", p + 6);
    free(body);
    return 0;
}

static double predict(CURL *c, int port, const char *id, int x, int y, int neg) {
    char path[96], body[128];
    snprintf(path, sizeof path, "/api/images/%s/predict", id);
    if (neg)
        snprintf(body, sizeof body, "{\"clicks\": [[%d, %d, 1], [%d, %d, 0]]}", x, y, x / 3, y / 3);
    else
        snprintf(body, sizeof body, "{\"clicks\": [[%d, %d, 1]]}", x, y);
    double t0 = now_ms();
    long st = post(c, port, path, body, strlen(body), "application/json", NULL);
    double ms = now_ms() - t0;
    if (st != 200) fprintf(stderr, "bench_server: predict answered %ld\n", st);
    return ms;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct worker {
    int port;
    char (*ids)[32];
    int w, h;
    double end;
    long n;
} worker;

static void *worker_main(void *arg) {
    worker *k = arg;
    CURL *c = curl_easy_init();
    unsigned seed = (unsigned)(uintptr_t)k;
    while (now_ms() < k->end) {
        seed = seed * 1103515245u + 12345u;
        predict(c, k->port, k->ids[(seed >> 16) % 10], k->w / 2, k->h / 2, (seed >> 8) & 1);
        k->n++;
    }
    curl_easy_cleanup(c);
    return NULL;
}

static int run(sa_tool *tool, int background, const uint8_t *png, size_t n, int w, int h,
               int clicks, int conc, double seconds) {
    sa_server_params p = sa_server_default_params();
    p.port = 0;
    p.background_encode = background;
    sa_server *srv = NULL;
    sa_error err = {0};
    if (sa_server_start(tool, &p, &srv, &err)) {
        fprintf(stderr, "bench_server: %s\n", err.msg);
        return 1;
    }
    int port = sa_server_port(srv);
    CURL *c = curl_easy_init();
    double first[5];
    for (int i = 0; i < 5; i++) {
        char id[32];
        if (reg(c, port, png, n, id)) return 1;
        first[i] = predict(c, port, id, w / 2, h / 2, 0);
    }
    qsort(first, 5, sizeof *first, cmp);
    printf("%s: first click right after registration, background encode %s: median %.1f ms (min "
           "%.1f, max %.1f)\n",
           sa_tool_name(tool), background ? "on" : "off", first[2], first[0], first[4]);
    for (int i = 0; i < 5;
         i++) { /* the person looks at the image for 1.5 s before the first click */
        char id[32];
        if (reg(c, port, png, n, id)) return 1;
        struct timespec ts = {1, 500 * 1000000L};
        nanosleep(&ts, NULL);
        first[i] = predict(c, port, id, w / 2, h / 2, 0);
    }
    qsort(first, 5, sizeof *first, cmp);
    printf("%s: first click 1.5 s after registration, background encode %s: median %.1f ms (min "
           "%.1f, max %.1f)\n",
           sa_tool_name(tool), background ? "on" : "off", first[2], first[0], first[4]);
    if (background) {
        char ids[10][32];
        for (int i = 0; i < 10; i++)
            if (reg(c, port, png, n, ids[i])) return 1;
        double *lat = malloc((size_t)clicks * sizeof *lat);
        for (int i = 0; i < clicks; i++)
            lat[i] = predict(c, port, ids[0], w / 2 + i % 7, h / 2, i & 1);
        qsort(lat, (size_t)clicks, sizeof *lat, cmp);
        printf("%s: cached predict, %d clicks: p50 %.1f ms, p99 %.1f ms\n", sa_tool_name(tool),
               clicks, lat[clicks / 2], lat[(int)(clicks * 0.99)]);
        free(lat);
        for (int i = 1; i < 10; i++)
            predict(c, port, ids[i], w / 2, h / 2, 0); /* all encoded */
        worker wk[64];
        pthread_t th[64];
        double t0 = now_ms();
        for (int i = 0; i < conc; i++) {
            wk[i] = (worker){port, ids, w, h, t0 + seconds * 1000.0, 0};
            pthread_create(&th[i], NULL, worker_main, &wk[i]);
        }
        long total = 0;
        for (int i = 0; i < conc; i++) {
            pthread_join(th[i], NULL);
            total += wk[i].n;
        }
        double el = (now_ms() - t0) / 1000.0;
        printf("%s: %d concurrent clients on 10 images: %.1f predicts/s (%ld in %.1f s)\n",
               sa_tool_name(tool), conc, (double)total / el, total, el);
    }
    curl_easy_cleanup(c);
    sa_server_stop(srv);
    return 0;
}

int main(int argc, char **argv) {
    const char *tool_name = "builtin", *sam_model = NULL, *image = NULL;
    int threads = 2, clicks = 50, conc = 4;
    double seconds = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--tool"))
            tool_name = argv[i + 1];
        else if (!strcmp(argv[i], "--sam-model"))
            sam_model = argv[i + 1];
        else if (!strcmp(argv[i], "--image"))
            image = argv[i + 1];
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--clicks"))
            clicks = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--concurrency"))
            conc = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
        else {
            fprintf(stderr, "bench_server: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (clicks < 1 || conc < 1 || conc > 64 || seconds <= 0) {
        fprintf(stderr, "bench_server: --clicks >= 1, --concurrency 1..64, --seconds > 0\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    sa_error err = {0};
    sa_image img = {0};
    const char *def = "../shared/fixtures/sam/b1024/image.png";
    if (!image && sa_image_load(def, &img, NULL) == SA_OK) image = def;
    if (image && !img.data && sa_image_load(image, &img, &err)) {
        fprintf(stderr, "bench_server: %s\n", err.msg);
        return 1;
    }
    if (!img.data) { /* synthetic: a bright disc on a textured background */
        if (sa_image_new(&img, 640, 427, 3, &err)) return 1;
        for (int y = 0; y < img.height; y++)
            for (int x = 0; x < img.width; x++) {
                int in = (x - 320) * (x - 320) + (y - 213) * (y - 213) < 120 * 120;
                uint8_t *p = img.data + 3 * ((size_t)y * (size_t)img.width + (size_t)x);
                p[0] = (uint8_t)(in ? 220 : (x * 7 + y * 3) % 60);
                p[1] = (uint8_t)(in ? 160 : 50 + (x + y) % 30);
                p[2] = (uint8_t)(in ? 40 : 90);
            }
    }
    uint8_t *png = NULL;
    size_t n = 0;
    if (sa_image_encode_png(&img, &png, &n, &err)) return 1;
    sa_tool *tool = NULL;
    int rc;
    if (!strcmp(tool_name, "sam")) {
        sa_sam_params sp = sa_sam_default_params();
        sp.threads = threads;
        sa_sam_model *m = NULL;
        rc = sam_model ? sa_sam_model_load(sam_model, sp, &m, &err)
                       : sa_error_set(&err, SA_ERR_INVALID, "--sam-model");
        if (!rc) rc = sa_sam_tool_new(m, &tool, &err);
    } else {
        rc = sa_graphcut_tool_new(sa_graphcut_default_params(), &tool, &err);
    }
    if (rc) {
        fprintf(stderr, "bench_server: %s\n", err.msg);
        return 1;
    }
    printf("image %dx%d%s%s\n", img.width, img.height, image ? " from " : " (synthetic)",
           image ? image : "");
    rc = run(tool, 1, png, n, img.width, img.height, clicks, conc, seconds) ||
         run(tool, 0, png, n, img.width, img.height, clicks, conc, seconds);
    sa_tool_free(tool);
    free(png);
    sa_image_free(&img);
    curl_global_cleanup();
    return rc;
}
