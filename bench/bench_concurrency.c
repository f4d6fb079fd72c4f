/* Concurrency benchmark: the referring benchmark (sa_eval_run_refer with an LLM policy per worker) against a
 * local OpenAI-compatible server that answers every request after a fixed delay, as a 7B VLM on a GPU server
 * would, at N = 1, 8, 32, 64 episodes in flight. Reports samples/s and the ratio to N = 1.
 *
 * The server runs in threads of this program: one thread per connection (each policy client keeps its own
 * keep-alive connection), so N requests in flight wait their delay at the same time, like a batching server.
 * Every reply is one click in SegAgent's grammar ("Current IOU: 50\nPositive point: (y, x)", int1000, yx). The
 * server plays a model that sees the object but not the mask: the prompt's description carries the sample id,
 * and the server clicks a pseudo-random pixel inside the ground truth on even steps and outside it (within its
 * box grown by a quarter) on odd ones. Clicks anywhere at random would make the graph cut pathologically slow
 * (measured: 4x the CPU per step) and say nothing about a real model. The tool is the built-in graph cut; its
 * calls are limited to --jobs at once (sa_tool_set_max_parallel), as `eval --concurrency N --jobs J` does.
 *
 * The data: the built-in scenes (scenes.h) rendered with --seeds seeds each at --size, written once to a
 * temporary {im, gt} folder and read back as a referring set (refer.h, "hres"; the DIS5K-style file names put
 * the sample id in the caption), so the episodes load images from files as a real run does.
 *
 * Reading the numbers: wall-clock rates depend on what else the machine runs; the CPU seconds per sample do
 * not, and give the ceiling printed last: J cores can finish at most J / (CPU per sample) samples per second.
 *
 *   bench_concurrency [--delay-ms 200] [--steps 3] [--seeds 32] [--size 320x240] [--jobs 2]
 *                     [--levels 1,8,32,64] [--min-samples 8]
 * Each level runs max(min-samples, 3 N) samples (at most the set's size).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "segagent/evaluate.h"
#include "segagent/fileio.h"
#include "segagent/graphcut.h"
#include "segagent/llm_policy.h"
#include "segagent/refer.h"
#include "segagent/scenes.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

/* ---- the delayed server ---- */
typedef struct server {
    int listen_fd;
    int delay_ms;
    const sa_mask *gt; /* ground truth of sample id i (the server's "eyes") */
    int n_gt;
    atomic_long requests;
    atomic_int in_flight, most_in_flight;
} server;

typedef struct conn {
    server *s;
    int fd;
} conn;

static char *find_crlf2(char *b, size_t n) {
    for (size_t i = 0; i + 3 < n; i++)
        if (b[i] == '\r' && b[i + 1] == '\n' && b[i + 2] == '\r' && b[i + 3] == '\n') return b + i;
    return NULL;
}

static uint64_t mix(uint64_t x) {
    x ^= x >> 31;
    x *= 0x9E3779B97F4A7C15ull;
    x ^= x >> 29;
    return x;
}

/* The sample id the prompt carries ("...~<id>~..."; '~' is neither base64 nor escaped in JSON), or -1. */
static int sample_id(const char *b, size_t n) {
    for (size_t i = 0; i + 2 < n; i++)
        if (b[i] == '~' && b[i + 1] >= '0' && b[i + 1] <= '9') {
            int v = 0;
            size_t j = i + 1;
            while (j < n && b[j] >= '0' && b[j] <= '9' && v < 1000000)
                v = v * 10 + (b[j++] - '0');
            if (j < n && b[j] == '~') return v;
        }
    return -1;
}

/* A click an annotator looking at the ground truth might give at step k without seeing the mask: inside the
 * object on even steps, outside it but within its box grown by a quarter on odd ones. (y, x) in int1000. */
static int pick_click(const sa_mask *gt, int k, uint64_t h, int *y, int *x) {
    int x0 = gt->width, y0 = gt->height, x1 = -1, y1 = -1;
    for (int yy = 0; yy < gt->height; yy++)
        for (int xx = 0; xx < gt->width; xx++)
            if (gt->data[(size_t)yy * gt->width + xx]) {
                if (xx < x0) x0 = xx;
                if (xx > x1) x1 = xx;
                if (yy < y0) y0 = yy;
                if (yy > y1) y1 = yy;
            }
    if (x1 < 0) return 0;
    int positive = k % 2 == 0, gw = (x1 - x0) / 4 + 2, gh = (y1 - y0) / 4 + 2;
    if (!positive) {
        x0 = x0 - gw < 0 ? 0 : x0 - gw, x1 = x1 + gw >= gt->width ? gt->width - 1 : x1 + gw;
        y0 = y0 - gh < 0 ? 0 : y0 - gh, y1 = y1 + gh >= gt->height ? gt->height - 1 : y1 + gh;
    }
    for (int tries = 0; tries < 400; tries++) {
        h = mix(h + (uint64_t)tries);
        int xx = x0 + (int)(h % (uint64_t)(x1 - x0 + 1)),
            yy = y0 + (int)((h >> 24) % (uint64_t)(y1 - y0 + 1));
        if (!!gt->data[(size_t)yy * gt->width + xx] == positive) {
            *y = (int)((yy + 0.5) * 1000.0 / gt->height);
            *x = (int)((xx + 0.5) * 1000.0 / gt->width);
            return positive ? 1 : -1;
        }
    }
    return 0;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* One keep-alive connection: read a request (headers + Content-Length body), wait, answer; until closed. */
static void *conn_main(void *arg) {
    conn c = *(conn *)arg;
    free(arg);
    int last_id = -2, step = 0;
    size_t cap = 1 << 16, have = 0;
    char *buf = malloc(cap);
    while (buf) {
        char *end = NULL;
        while (!(end = find_crlf2(buf, have))) {
            if (have == cap) goto out;
            ssize_t r = recv(c.fd, buf + have, cap - have, 0);
            if (r <= 0) goto out;
            have += (size_t)r;
        }
        size_t hlen = (size_t)(end - buf) + 4;
        long clen = 0;
        for (char *p = buf; p < end; p++)
            if (!strncasecmp(p, "\r\ncontent-length:", 17)) clen = strtol(p + 17, NULL, 10);
        size_t left = have - hlen, need = clen > 0 ? (size_t)clen : 0;
        int id = sample_id(buf + hlen, left < need ? left : need);
        while (left < need) { /* the overlay image is not looked at: drop it as it arrives */
            ssize_t r = recv(c.fd, buf, cap, 0);
            if (r <= 0) goto out;
            if (id < 0) id = sample_id(buf, (size_t)r);
            left += (size_t)r;
        }
        have = 0; /* clients send one request at a time on a connection */
        if (id != last_id)
            step = 0; /* a connection is one worker: its samples come one after another */
        last_id = id;
        int now = atomic_fetch_add(&c.s->in_flight, 1) + 1;
        int most = atomic_load(&c.s->most_in_flight);
        while (now > most && !atomic_compare_exchange_weak(&c.s->most_in_flight, &most, now)) {
        }
        long k = atomic_fetch_add(&c.s->requests, 1);
        sleep_ms(c.s->delay_ms);
        atomic_fetch_sub(&c.s->in_flight, 1);
        uint64_t h = mix((uint64_t)k + 12345);
        int y = 500, x = 500, kind = 1;
        if (id >= 0 && id < c.s->n_gt)
            kind = pick_click(&c.s->gt[id], step, h ^ (uint64_t)id, &y, &x);
        step++;
        int neg = kind < 0;
        char body[512], msg[1024];
        int bn = snprintf(body, sizeof body,
                          "{\"id\":\"b\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                          "\"message\":{\"role\":\"assistant\",\"content\":\"Current IOU: 50\\n%s "
                          "point: (%d, %d)\"},\"finish_reason\":\"stop\"}]}",
                          neg ? "Negative" : "Positive", y, x);
        int hn = snprintf(
            msg, sizeof msg,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", bn,
            body);
        if (send(c.fd, msg, (size_t)hn, MSG_NOSIGNAL) < 0) break;
    }
out:
    free(buf);
    close(c.fd);
    return NULL;
}

static void *accept_main(void *arg) {
    server *s = arg;
    for (;;) {
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) return NULL;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn *c = malloc(sizeof *c);
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&at, 256 << 10);
        if (!c || (c->s = s, c->fd = fd, pthread_create(&t, &at, conn_main, c))) {
            free(c);
            close(fd);
        }
        pthread_attr_destroy(&at);
    }
}

static int start_server(server *s, int *port) {
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&a, sizeof a) ||
        listen(s->listen_fd, 256))
        return -1;
    socklen_t l = sizeof a;
    getsockname(s->listen_fd, (struct sockaddr *)&a, &l);
    *port = ntohs(a.sin_port);
    pthread_t t;
    if (pthread_create(&t, NULL, accept_main, s)) return -1;
    pthread_detach(t);
    return 0;
}

/* ---- the data ---- */
/* Files <x>#<x>#<x>#<scene>~<id>~#<seed>: the caption (the DIS5K class field) carries the sample id. */
static int write_set(const char *dir, int seeds, int w, int h, sa_mask *gts) {
    char *im = sa_path_join(dir, "im"), *gt = sa_path_join(dir, "gt");
    sa_error err = {0};
    int rc = sa_make_dirs(im, &err) || sa_make_dirs(gt, &err);
    for (int i = 0; i < sa_scene_count() && !rc; i++)
        for (int k = 0; k < seeds && !rc; k++) {
            sa_image img = {0};
            sa_mask m = {0};
            char name[256];
            rc = sa_scene_render(i, (uint64_t)k + 1, w, h, &img, &m, &err);
            int id = i * seeds + k;
            snprintf(name, sizeof name, "%s/b#g#c#%s~%d~#%d.jpg", im, sa_scene_name(i), id, k);
            if (!rc) rc = sa_image_save_jpeg(name, &img, 95, &err);
            snprintf(name, sizeof name, "%s/b#g#c#%s~%d~#%d.png", gt, sa_scene_name(i), id, k);
            if (!rc) rc = sa_mask_save_png(name, &m, &err);
            sa_image_free(&img);
            gts[id] = m;
        }
    if (rc) fprintf(stderr, "bench_concurrency: writing the set: %s\n", err.msg);
    free(im);
    free(gt);
    return rc;
}

static int make_policy(void *ctx, sa_policy **out, sa_error *err) {
    return sa_llm_policy_new(*(const sa_llm_params *)ctx, out, NULL, err);
}

static void usage(void) {
    fprintf(stderr, "usage: bench_concurrency [--delay-ms MS] [--steps N] [--seeds N] [--size WxH] "
                    "[--jobs J] [--levels 1,8,32,64] [--min-samples N]\n");
}

int main(int argc, char **argv) {
    int delay = 200, steps = 3, seeds = 32, w = 320, h = 240, min_samples = 8;
    int jobs = (int)sysconf(_SC_NPROCESSORS_ONLN);
    int levels[16] = {1, 8, 32, 64}, n_levels = 4;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage();
            return 2;
        }
        i++;
        if (!strcmp(a, "--delay-ms"))
            delay = atoi(v);
        else if (!strcmp(a, "--steps"))
            steps = atoi(v);
        else if (!strcmp(a, "--seeds"))
            seeds = atoi(v);
        else if (!strcmp(a, "--jobs"))
            jobs = atoi(v);
        else if (!strcmp(a, "--min-samples"))
            min_samples = atoi(v);
        else if (!strcmp(a, "--size")) {
            if (sscanf(v, "%dx%d", &w, &h) != 2) w = 0;
        } else if (!strcmp(a, "--levels")) {
            n_levels = 0;
            for (const char *p = v; *p && n_levels < 16;) {
                levels[n_levels++] = atoi(p);
                p += strcspn(p, ",");
                if (*p) p++;
            }
        } else {
            usage();
            return 2;
        }
    }
    if (delay < 0 || steps < 1 || steps > 20 || seeds < 1 || w < 32 || h < 32 || jobs < 1) {
        usage();
        return 2;
    }
    char tmpl[] = "/tmp/bench-concurrency-XXXXXX";
    if (!mkdtemp(tmpl)) return 1;
    double tw = now_s();
    const int n_gt = sa_scene_count() * seeds;
    sa_mask *gts = calloc((size_t)n_gt, sizeof *gts);
    if (!gts || write_set(tmpl, seeds, w, h, gts)) return 1;
    fprintf(stderr, "bench_concurrency: set written in %.1f s\n", now_s() - tw);
    sa_refer *ds = NULL;
    sa_error err = {0};
    if (sa_refer_open_hres("scenes", tmpl, sa_refer_default_params(), &ds, &err)) {
        fprintf(stderr, "bench_concurrency: %s\n", err.msg);
        return 1;
    }
    server srv;
    memset(&srv, 0, sizeof srv);
    srv.delay_ms = delay;
    srv.gt = gts;
    srv.n_gt = n_gt;
    int port = 0;
    if (start_server(&srv, &port)) {
        fprintf(stderr, "bench_concurrency: cannot start the server\n");
        return 1;
    }
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", port);
    sa_llm_params lp = sa_llm_default_params();
    lp.base_url = url;
    lp.model = "bench";
    lp.retries = 0;
    printf(
        "referring benchmark, %d samples (%d scenes x %d seeds, %dx%d), %d steps, server delay %d "
        "ms, graph cut behind a gate of %d\n",
        sa_refer_count(ds), sa_scene_count(), seeds, w, h, steps, delay, jobs);
    printf("%6s %8s %9s %10s %9s %9s %8s %8s %7s\n", "N", "samples", "wall s", "samples/s", "ratio",
           "cpu s", "cpu/smp", "peak req", "mIoU@T");
    double base = 0, cpu_total = 0;
    long samples_total = 0;
    for (int li = 0; li < n_levels; li++) {
        int N = levels[li];
        if (N < 1) continue;
        int n = 3 * N > min_samples ? 3 * N : min_samples;
        if (n > sa_refer_count(ds)) n = sa_refer_count(ds);
        sa_tool *tool = NULL;
        if (sa_graphcut_tool_new(sa_graphcut_default_params(), &tool, &err) ||
            sa_tool_set_max_parallel(tool, jobs, &err)) {
            fprintf(stderr, "bench_concurrency: %s\n", err.msg);
            return 1;
        }
        sa_eval_params p = sa_eval_default_params();
        p.max_clicks = steps;
        p.threads = N;
        p.limit = n;
        p.policy_new = make_policy;
        p.policy_ctx = &lp;
        atomic_store(&srv.most_in_flight, 0);
        sa_eval_result r;
        double t0 = now_s(), c0 = cpu_s();
        int rc = sa_eval_run_refer(tool, ds, p, NULL, NULL, &r, &err);
        double wall = now_s() - t0, cpu = cpu_s() - c0;
        if (rc) {
            fprintf(stderr, "bench_concurrency: N=%d: %s\n", N, err.msg);
            return 1;
        }
        sa_eval_refer_summary sum;
        sa_eval_refer_summarize(&r, steps, &sum);
        double rate = (double)r.n_samples / wall;
        if (base == 0) base = rate;
        printf("%6d %8d %9.2f %10.2f %8.1fx %9.2f %8.3f %8d %7.3f", N, r.n_samples, wall, rate,
               rate / base, cpu, cpu / r.n_samples, atomic_load(&srv.most_in_flight),
               sum.miou_by_step[steps - 1]);
        if (sum.n_failed) printf("  (%d failed)", sum.n_failed);
        cpu_total += cpu;
        samples_total += r.n_samples;
        printf("\n");
        fflush(stdout);
        sa_eval_result_free(&r);
        sa_tool_free(tool);
    }
    if (samples_total > 0 && base > 0) {
        double per = cpu_total / (double)samples_total, ceiling = (double)jobs / per;
        printf(
            "CPU per sample %.3f s (all levels): %d idle cores finish at most %.1f samples/s, %.1fx "
            "the N = %d rate\n",
            per, jobs, ceiling, ceiling / base, levels[0]);
    }
    sa_refer_free(ds);
    for (int i = 0; i < n_gt; i++)
        sa_mask_free(&gts[i]);
    free(gts);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
    if (system(cmd) != 0) fprintf(stderr, "bench_concurrency: could not remove %s\n", tmpl);
    return 0;
}
