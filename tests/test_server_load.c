/* segagent serve under load, loopback only and bounded in time: 100 concurrent clients (one thread
 * and one keep-alive connection each) click on 10 registered images for $SEGAGENT_LOAD_SECONDS
 * (default 30; 5 in the sanitizer build). Every answer must be 200 with a mask; the server's
 * resident memory at the end must stay within 25% (+16 MB) of what it was after the warm-up third
 * (no leak); p50/p99 latency and requests/s are printed. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "segagent/image.h"
#include "serve_harness.h"
#include "testutil.h"

#define N_CLIENTS 100
#define N_IMAGES 10
#define W 160
#define H 120

typedef struct client {
    int index;
    const sh_server *s;
    char (*ids)[32];
    double end;
    double *lat; /* ms of each request */
    int n, cap, errors;
    char last_error[256];
} client;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static size_t sink(char *p, size_t sz, size_t nm, void *ud) {
    sh_resp *r = ud;
    return sh_write_cb(p, sz, nm, r);
}

static void *client_main(void *arg) {
    client *c = arg;
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    uint64_t rng = 1000 + (uint64_t)c->index;
    while (now_s() < c->end) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        int img = (int)((rng >> 33) % N_IMAGES), nclicks = 1 + (int)((rng >> 40) % 3);
        char url[128], body[256];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/api/images/%s/predict", c->s->port,
                 c->ids[img]);
        int k = snprintf(body, sizeof body, "{\"clicks\": [[%d, 60, 1]", 50 + img);
        for (int i = 1; i < nclicks; i++)
            k += snprintf(body + k, sizeof body - (size_t)k, ", [%d, %d, %d]",
                          10 + (int)((rng >> (8 + i)) % 140), 5 + 3 * i, i == 1 ? 0 : 1);
        snprintf(body + k, sizeof body - (size_t)k, "]}");
        sh_resp r;
        memset(&r, 0, sizeof r);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        double t0 = now_s();
        CURLcode cc = curl_easy_perform(h);
        double ms = (now_s() - t0) * 1000.0;
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (cc != CURLE_OK || status != 200 || !r.body || !strstr(r.body, "\"counts\"")) {
            c->errors++;
            snprintf(c->last_error, sizeof c->last_error, "%s %ld %.120s", curl_easy_strerror(cc),
                     status, r.body ? r.body : "");
        }
        free(r.body);
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 256;
            c->lat = realloc(c->lat, (size_t)c->cap * sizeof *c->lat);
        }
        c->lat[c->n++] = ms;
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return NULL;
}

static long rss_kb(pid_t pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kb = atol(line + 6);
    if (f) fclose(f);
    return kb;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    (void)argc;
    tu_cli cli;
    tu_cli_init(&cli, argv[0]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int sanitized = getenv("SEGAGENT_SANITIZED") != NULL;
    const char *ds = getenv("SEGAGENT_LOAD_SECONDS");
    double seconds = ds && atof(ds) > 0 ? atof(ds) : sanitized ? 5 : 30;
    char log[4200];
    snprintf(log, sizeof log, "%s/serve_load.log", cli.dir);
    const char *args[] = {"--quiet", NULL};
    sh_server s;
    if (sh_start(&s, cli.bin, log, args)) return 1;
    char ids[N_IMAGES][32];
    sa_error err = {0};
    for (int i = 0; i < N_IMAGES; i++) {
        sa_image img = {0};
        if (sa_image_new(&img, W, H, 3, &err)) return 1;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int in = (x - 50 - i) * (x - 50 - i) + (y - 60) * (y - 60) < 900 + 40 * i;
                uint8_t *p = img.data + 3 * (y * W + x);
                p[0] = (uint8_t)(in ? 210 - 5 * i : 30 + (x * 7 + y * 3 + i) % 25);
                p[1] = (uint8_t)(in ? 140 : 60 + (x + y) % 20);
                p[2] = (uint8_t)(in ? 40 + 3 * i : 90);
            }
        uint8_t *png = NULL;
        size_t n = 0;
        CHECK(sa_image_encode_png(&img, &png, &n, &err) == SA_OK);
        sh_resp r = sh_request(&s, "POST", "/api/images", png, n, "image/png", NULL);
        const char *p = strstr(r.body, "\"id\":\"");
        CHECKF(r.status == 201 && p, "register: %ld %s", r.status, r.body);
        snprintf(ids[i], sizeof ids[i], "%.16s", p ? p + 6 : "x");
        sh_resp_free(&r);
        free(png);
        sa_image_free(&img);
    }
    client cl[N_CLIENTS];
    pthread_t th[N_CLIENTS];
    double t0 = now_s();
    for (int i = 0; i < N_CLIENTS; i++) {
        memset(&cl[i], 0, sizeof cl[i]);
        cl[i].index = i;
        cl[i].s = &s;
        cl[i].ids = ids;
        cl[i].end = t0 + seconds;
        pthread_create(&th[i], NULL, client_main, &cl[i]);
    }
    struct timespec warm = {(time_t)(seconds / 3), (long)(fmod(seconds / 3, 1.0) * 1e9)};
    nanosleep(&warm, NULL);
    long rss_warm = rss_kb(s.pid), rss_peak = rss_warm;
    while (now_s() < t0 + seconds - 0.5) {
        struct timespec ts = {0, 500 * 1000000L};
        nanosleep(&ts, NULL);
        long v = rss_kb(s.pid);
        if (v > rss_peak) rss_peak = v;
    }
    long total = 0, errors = 0;
    for (int i = 0; i < N_CLIENTS; i++) {
        pthread_join(th[i], NULL);
        total += cl[i].n;
        errors += cl[i].errors;
        if (cl[i].errors)
            fprintf(stderr, "client %d: %d errors, last: %s\n", i, cl[i].errors, cl[i].last_error);
    }
    double elapsed = now_s() - t0;
    long rss_end = rss_kb(s.pid);
    double *all = malloc((size_t)(total ? total : 1) * sizeof *all);
    long k = 0;
    for (int i = 0; i < N_CLIENTS; i++) {
        memcpy(all + k, cl[i].lat, (size_t)cl[i].n * sizeof *all);
        k += cl[i].n;
        free(cl[i].lat);
    }
    qsort(all, (size_t)total, sizeof *all, cmp_d);
    double p50 = total ? all[total / 2] : 0, p99 = total ? all[(size_t)((double)total * 0.99)] : 0;
    printf("load: %d clients, %d images, %.1f s: %ld requests (%.1f/s), %ld errors, latency p50 "
           "%.1f ms, p99 %.1f "
           "ms, max %.1f ms; server RSS %ld kB after warm-up, %ld kB peak, %ld kB at the end\n",
           N_CLIENTS, N_IMAGES, elapsed, total, (double)total / elapsed, errors, p50, p99,
           total ? all[total - 1] : 0.0, rss_warm, rss_peak, rss_end);
    free(all);
    CHECKF(errors == 0, "%ld error responses", errors);
    CHECKF(total >= N_CLIENTS, "only %ld requests", total);
    if (!sanitized) /* ASan's quarantine holds freed memory on purpose */
        CHECKF(rss_end <= rss_warm + rss_warm / 4 + 16 * 1024, "RSS grew from %ld kB to %ld kB",
               rss_warm, rss_end);
    sh_resp r = sh_request(&s, "GET", "/health", NULL, 0, NULL, NULL);
    CHECK(r.status == 200);
    sh_resp_free(&r);
    CHECK(sh_stop(&s) == 0);
    curl_global_cleanup();
    tu_rmtree(cli.dir);
    free(cli.dir);
    return tu_finish("test_server_load");
}
