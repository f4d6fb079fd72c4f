/* Hostile input never costs more than it should: inputs crafted to be expensive for a careless
 * reader are generated in a temporary folder and read under a watchdog (alarm), so a quadratic
 * reader fails the test instead of hanging it. Speed itself is measured in bench/bench_parse, never
 * asserted here; the watchdog's bound is minutes where a linear reader takes well under a second.
 *   - an HF sharded index with 300,000 weight_map entries over two shards of 150,000 tensors each;
 *   - a COCO file with 200,000 annotations, and one with a 1,000,000-point polygon (parsed and
 *     rasterised).
 * The zip bombs are in test_weights_pth, the malformed records in test_coco and test_weights. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "segagent/coco.h"
#include "segagent/rle.h"
#include "segagent/weights.h"
#include "testutil.h"

#define WATCHDOG_S 240

typedef struct sbuf {
    char *s;
    size_t n, cap;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (b->s && k >= 0 && (size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        b->cap = b->cap ? b->cap * 2 : 1 << 20;
        b->s = realloc(b->s, b->cap);
        if (!b->s) exit(1);
    }
}

static void write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n)) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

/* A safetensors file of n empty F32 tensors named t<first>, t<first+step>, ... */
static void write_shard(const char *path, int first, int step, int n) {
    sbuf h = {0};
    put(&h, "{");
    for (int i = 0; i < n; i++)
        put(&h, "%s\"t%d\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}", i ? "," : "",
            first + i * step);
    put(&h, "}");
    uint8_t len[8];
    for (int k = 0; k < 8; k++)
        len[k] = (uint8_t)((uint64_t)h.n >> (8 * k));
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(len, 1, 8, f) != 8 || fwrite(h.s, 1, h.n, f) != h.n) exit(1);
    fclose(f);
    free(h.s);
}

static void test_big_index(const char *dir) {
    const int n = 300000;
    char a[1024], b[1024], idx[1024];
    snprintf(a, sizeof a, "%s/model-00001-of-00002.safetensors", dir);
    snprintf(b, sizeof b, "%s/model-00002-of-00002.safetensors", dir);
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);
    write_shard(a, 0, 2, n / 2);
    write_shard(b, 1, 2, n / 2);
    sbuf j = {0};
    put(&j, "{\"metadata\":{\"total_size\":0},\"weight_map\":{");
    for (int i = 0; i < n; i++)
        put(&j, "%s\"t%d\":\"model-0000%d-of-00002.safetensors\"", i ? "," : "", i, 1 + i % 2);
    put(&j, "}}");
    write_file(idx, j.s, j.n);
    free(j.s);
    sa_weights *w = NULL;
    sa_error err = {0};
    CHECKF(sa_weights_open(dir, &w, &err) == SA_OK, "300k-entry index: %s", err.msg);
    CHECK(sa_weights_count(w) == n && sa_weights_find(w, "t299999") && sa_weights_find(w, "t0"));
    sa_weights_free(w);
    remove(a);
    remove(b);
    remove(idx);
}

static void test_big_coco(void) {
    const int n = 200000;
    sbuf j = {0};
    put(&j, "{\"images\":[{\"id\":1,\"file_name\":\"a.jpg\",\"height\":480,\"width\":640}],"
            "\"annotations\":[");
    for (int i = 0; i < n; i++)
        put(&j,
            "%s{\"id\":%d,\"image_id\":1,\"segmentation\":[[10,10,50,10,50,40,10,40]],\"iou\":0.5}",
            i ? "," : "", i + 1);
    put(&j, "]}");
    sa_coco_params p = sa_coco_default_params();
    p.value_key = "iou";
    sa_coco_set *set = NULL;
    sa_error err = {0};
    CHECKF(sa_coco_parse(j.s, j.n, "big.json", p, &set, &err) == SA_OK, "%s", err.msg);
    CHECK(sa_coco_n_anns(set) == n && sa_coco_find_ann(set, n) == n - 1);
    sa_coco_free(set);
    free(j.s);
}

static void test_big_polygon(void) {
    const int n = 1000000;
    sbuf j = {0};
    put(&j, "{\"images\":[{\"id\":1,\"file_name\":\"a.jpg\",\"height\":1000,\"width\":1000}],"
            "\"annotations\":[{\"id\":1,\"image_id\":1,\"segmentation\":[[");
    for (int i = 0; i < n; i++) { /* a zig-zag square outline */
        int side = i / (n / 4), t = (i % (n / 4)) * 800 / (n / 4), z = i % 2;
        int x = side == 0 ? 100 + t : side == 1 ? 900 - z : side == 2 ? 900 - t : 100 + z;
        int y = side == 0 ? 100 + z : side == 1 ? 100 + t : side == 2 ? 900 - z : 900 - t;
        put(&j, "%s%d,%d", i ? "," : "", x, y);
    }
    put(&j, "]]}]}");
    sa_coco_set *set = NULL;
    sa_error err = {0};
    CHECKF(sa_coco_parse(j.s, j.n, "poly.json", sa_coco_default_params(), &set, &err) == SA_OK,
           "%s", err.msg);
    sa_rle r = {0};
    CHECKF(set && sa_coco_ann_rle(set, 0, 0, 0, &r, &err) == SA_OK, "%s", err.msg);
    CHECKF(sa_rle_area(&r) > 600000 && sa_rle_area(&r) < 700000, "area %llu",
           (unsigned long long)sa_rle_area(&r));
    sa_rle_free(&r);
    sa_coco_free(set);
    free(j.s);
}

int main(void) {
    alarm(WATCHDOG_S); /* a quadratic reader is killed here, and the test fails */
    char *dir = tu_tmpdir();
    if (!dir) return 1;
    test_big_index(dir);
    test_big_coco();
    test_big_polygon();
    tu_rmtree(dir);
    free(dir);
    return tu_finish("test_hostile_input");
}
