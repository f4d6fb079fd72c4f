/* Parsing benchmark: the time of the COCO annotation reader (sa_coco_parse, what segagent filter
 * reads its --annotations and --gt files with) on generated files of 10k, 100k and 1M annotations,
 * and of the polygon decode (parse + rasterise) of one annotation whose polygon has 1M points.
 * Every reader of outside data must be linear or n log n in its input; the per-annotation column
 * makes that visible (it should stay flat). The generated annotations look like COCO's: an image
 * record per 10 annotations, a 16-point polygon, a bbox, area, category, a caption and the filter's
 * true-IoU field. No assertions.
 *
 *   bench_parse [MAX_ANNOTATIONS]      (default 1000000)
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "segagent/coco.h"
#include "segagent/rle.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

typedef struct sbuf {
    char *s;
    size_t n, cap;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k >= 0 && (size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        b->cap = b->cap ? b->cap * 2 : 1 << 20;
        b->s = realloc(b->s, b->cap);
        if (!b->s) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
    }
}

static char *gen_coco(int n_anns, size_t *len) {
    sbuf b = {0};
    int n_images = n_anns / 10 + 1;
    put(&b, "{\"images\":[");
    for (int i = 0; i < n_images; i++)
        put(&b, "%s{\"id\":%d,\"file_name\":\"%012d.jpg\",\"height\":480,\"width\":640}",
            i ? "," : "", i + 1, i + 1);
    put(&b, "],\"categories\":[{\"id\":1,\"name\":\"person\"},{\"id\":2,\"name\":\"dog\"}],"
            "\"annotations\":[");
    for (int i = 0; i < n_anns; i++) {
        double cx = 100 + i % 400, cy = 100 + i % 250;
        put(&b, "%s{\"id\":%d,\"image_id\":%d,\"category_id\":%d,\"iscrowd\":0,\"segmentation\":[[",
            i ? "," : "", i + 1, i / 10 + 1, 1 + i % 2);
        for (int k = 0; k < 16; k++) {
            double a = 2 * M_PI * k / 16;
            put(&b, "%s%.2f,%.2f", k ? "," : "", cx + 40 * cos(a), cy + 30 * sin(a));
        }
        put(&b,
            "]],\"area\":3700.5,\"bbox\":[%.1f,%.1f,80,60],\"caption\":\"object number %d\","
            "\"true_iou\":%.3f}",
            cx - 40, cy - 30, i, (i % 1000) / 1000.0);
    }
    put(&b, "]}");
    *len = b.n;
    return b.s;
}

static char *gen_polygon(int n_points, size_t *len) {
    sbuf b = {0};
    put(&b, "{\"images\":[{\"id\":1,\"file_name\":\"a.jpg\",\"height\":1000,\"width\":1000}],"
            "\"annotations\":[{\"id\":1,\"image_id\":1,\"segmentation\":[[");
    for (int k = 0; k < n_points; k++) {
        double a = 2 * M_PI * k / n_points, r = 300 + 150 * sin(7 * a);
        put(&b, "%s%.3f,%.3f", k ? "," : "", 500 + r * cos(a), 500 + r * sin(a));
    }
    put(&b, "]]}]}");
    *len = b.n;
    return b.s;
}

int main(int argc, char **argv) {
    long max_n = argc > 1 ? atol(argv[1]) : 1000000;
    printf("%-28s %10s %12s %14s\n", "input", "MB", "parse ms", "us/annotation");
    for (long n = 10000; n <= max_n; n *= 10) {
        size_t len = 0;
        char *json = gen_coco((int)n, &len);
        sa_coco_params p = sa_coco_default_params();
        p.value_key = "true_iou";
        sa_coco_set *set = NULL;
        sa_error err = {0};
        double t0 = now_ms();
        int rc = sa_coco_parse(json, len, "bench", p, &set, &err);
        double t = now_ms() - t0;
        if (rc) {
            fprintf(stderr, "parse failed: %s\n", err.msg);
            return 1;
        }
        char label[64];
        snprintf(label, sizeof label, "COCO, %ld annotations", n);
        printf("%-28s %10.1f %12.1f %14.2f\n", label, len / 1e6, t, 1e3 * t / (double)n);
        sa_coco_free(set);
        free(json);
    }
    int pts = 1000000;
    size_t len = 0;
    char *json = gen_polygon(pts, &len);
    sa_coco_set *set = NULL;
    sa_error err = {0};
    double t0 = now_ms();
    int rc = sa_coco_parse(json, len, "bench", sa_coco_default_params(), &set, &err);
    double t1 = now_ms();
    sa_rle r = {0};
    if (rc == SA_OK) rc = sa_coco_ann_rle(set, 0, 0, 0, &r, &err);
    double t2 = now_ms();
    if (rc) {
        fprintf(stderr, "polygon failed: %s\n", err.msg);
        return 1;
    }
    printf("%-28s %10.1f %12.1f   (rasterise %.1f ms, %zu runs)\n", "polygon, 1M points", len / 1e6,
           t1 - t0, t2 - t1, r.m);
    sa_rle_free(&r);
    sa_coco_free(set);
    free(json);
    return 0;
}
