/* COCO RLE against the pycocotools vectors in shared/fixtures/rle (every line, every run), plus
 * malformed strings, JSON forms, merge/IoU against the mask functions, and random round trips. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/mask.h"
#include "segagent/rle.h"
#include "testutil.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* Reads a JSON array of integers into a malloc'd uint32 array. */
static uint32_t *json_u32_array(const cJSON *arr, size_t *n) {
    int len = cJSON_GetArraySize(arr);
    uint32_t *c = malloc((size_t)(len > 0 ? len : 1) * sizeof *c);
    if (!c) exit(1);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) c[i++] = (uint32_t)it->valuedouble;
    *n = (size_t)i;
    return c;
}

static int test_rle_vectors(void) {
    char *path = tu_shared_path("fixtures/rle/rle_vectors.jsonl");
    char *text = tu_read_file(path, NULL);
    CHECKF(text != NULL, "cannot read %s", path);
    if (!text) {
        free(path);
        return 0;
    }
    int lines = 0, passed = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(line);
        lines++;
        CHECKF(j != NULL, "rle_vectors line %d: bad JSON", lines);
        if (!j) continue;
        int h = cJSON_GetObjectItem(j, "h")->valueint, w = cJSON_GetObjectItem(j, "w")->valueint;
        const char *kind = cJSON_GetObjectItem(j, "kind")->valuestring;
        const char *want = cJSON_GetObjectItem(j, "counts")->valuestring;
        double area = cJSON_GetObjectItem(j, "area")->valuedouble;
        const cJSON *bb = cJSON_GetObjectItem(j, "bbox");
        size_t m = 0;
        uint32_t *runs = json_u32_array(cJSON_GetObjectItem(j, "counts_uncompressed"), &m);
        int ok = 1;
        sa_error err = {0};
        sa_rle r = {0}, r2 = {0}, r3 = {0};
        sa_mask mask = {0};
        char *s = NULL;
        ok &= sa_rle_init(&r, h, w, runs, m, &err) == SA_OK;
        ok = ok && sa_rle_decode(&r, &mask, &err) == SA_OK;
        ok = ok && sa_rle_encode(&mask, &r2, &err) == SA_OK;
        ok = ok && sa_rle_to_string(&r2, &s, &err) == SA_OK;
        if (ok && strcmp(s, want) != 0) {
            fprintf(stderr,
                    "rle line %d (%s %dx%d): encoded string differs\n  got  %.80s\n  want %.80s\n",
                    lines, kind, h, w, s, want);
            ok = 0;
        }
        if (ok && (r2.m != m || memcmp(r2.counts, runs, m * sizeof *runs) != 0)) {
            fprintf(stderr, "rle line %d: re-encoded runs differ\n", lines);
            ok = 0;
        }
        ok = ok && sa_rle_from_string(want, strlen(want), h, w, &r3, &err) == SA_OK;
        if (ok && (r3.m != m || memcmp(r3.counts, runs, m * sizeof *runs) != 0)) {
            fprintf(stderr, "rle line %d: decoded string runs differ\n", lines);
            ok = 0;
        }
        if (ok && (double)sa_rle_area(&r3) != area) {
            fprintf(stderr, "rle line %d: area %llu want %.0f\n", lines,
                    (unsigned long long)sa_rle_area(&r3), area);
            ok = 0;
        }
        if (ok && (double)sa_mask_area(&mask) != area) {
            fprintf(stderr, "rle line %d: mask area %zu want %.0f\n", lines, sa_mask_area(&mask),
                    area);
            ok = 0;
        }
        if (ok) {
            double box[4];
            sa_rle_bbox(&r3, box);
            for (int i = 0; i < 4; i++)
                if (box[i] != cJSON_GetArrayItem(bb, i)->valuedouble) {
                    fprintf(stderr, "rle line %d: bbox[%d] %.0f want %.0f\n", lines, i, box[i],
                            cJSON_GetArrayItem(bb, i)->valuedouble);
                    ok = 0;
                }
        }
        if (!ok && err.code) fprintf(stderr, "rle line %d: error %s\n", lines, err.msg);
        CHECKF(ok, "rle_vectors line %d (%s %dx%d)", lines, kind, h, w);
        passed += ok;
        free(s);
        free(runs);
        sa_rle_free(&r);
        sa_rle_free(&r2);
        sa_rle_free(&r3);
        sa_mask_free(&mask);
        cJSON_Delete(j);
    }
    printf("rle_vectors: %d/%d passed\n", passed, lines);
    CHECKF(lines == 66, "expected 66 rle vectors, read %d", lines);
    free(text);
    free(path);
    return passed;
}

static int test_poly_vectors(void) {
    char *path = tu_shared_path("fixtures/rle/poly_vectors.jsonl");
    char *text = tu_read_file(path, NULL);
    CHECKF(text != NULL, "cannot read %s", path);
    if (!text) {
        free(path);
        return 0;
    }
    int lines = 0, passed = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(line);
        lines++;
        CHECKF(j != NULL, "poly_vectors line %d: bad JSON", lines);
        if (!j) continue;
        int h = cJSON_GetObjectItem(j, "h")->valueint, w = cJSON_GetObjectItem(j, "w")->valueint;
        const char *want = cJSON_GetObjectItem(j, "counts")->valuestring;
        double area = cJSON_GetObjectItem(j, "area")->valuedouble;
        const cJSON *poly = cJSON_GetObjectItem(j, "polygon");
        int n = cJSON_GetArraySize(poly);
        double *xy = malloc((size_t)(n > 0 ? n : 1) * sizeof *xy);
        for (int i = 0; i < n; i++)
            xy[i] = cJSON_GetArrayItem(poly, i)->valuedouble;
        sa_error err = {0};
        sa_rle r = {0};
        char *s = NULL;
        int ok = sa_rle_from_polygon(xy, (size_t)n / 2, h, w, &r, &err) == SA_OK;
        ok = ok && sa_rle_to_string(&r, &s, &err) == SA_OK;
        if (ok && strcmp(s, want) != 0) {
            fprintf(stderr,
                    "poly line %d (%dx%d, %d points): string differs\n  got  %s\n  want %s\n",
                    lines, h, w, n / 2, s, want);
            ok = 0;
        }
        if (ok && (double)sa_rle_area(&r) != area) {
            fprintf(stderr, "poly line %d: area %llu want %.0f\n", lines,
                    (unsigned long long)sa_rle_area(&r), area);
            ok = 0;
        }
        if (!ok && err.code) fprintf(stderr, "poly line %d: error %s\n", lines, err.msg);
        CHECKF(ok, "poly_vectors line %d", lines);
        passed += ok;
        free(s);
        free(xy);
        sa_rle_free(&r);
        cJSON_Delete(j);
    }
    printf("poly_vectors: %d/%d passed\n", passed, lines);
    CHECKF(lines == 20, "expected 20 poly vectors, read %d", lines);
    free(text);
    free(path);
    return passed;
}

static void expect_format_error(const char *s, int h, int w, const char *what) {
    sa_error err = {0};
    sa_rle r = {0};
    int rc = sa_rle_from_string(s, strlen(s), h, w, &r, &err);
    CHECKF(rc == SA_ERR_FORMAT, "%s: \"%s\" for %dx%d gave %d", what, s, h, w, rc);
    CHECKF(err.msg[0] != '\0' && strchr(err.msg, '\n') == NULL, "%s: message should be one line",
           what);
    CHECKF(r.counts == NULL && r.m == 0, "%s: output not left empty", what);
    sa_rle_free(&r);
}

static void test_malformed(void) {
    /* "PPY1" style inputs: valid reference first. */
    sa_error err = {0};
    sa_rle r = {0};
    CHECK(sa_rle_from_string("01120N", 6, 1, 7, &r, &err) == SA_OK);
    sa_rle_free(&r);
    expect_format_error("0112", 1, 7, "short sum");
    expect_format_error("01120", 1, 7, "short sum 2");
    expect_format_error("0112b", 1, 7, "truncated group (continuation bit at end)");
    expect_format_error("0112\x01", 1, 7, "control byte");
    expect_format_error("01 2", 1, 7, "space");
    expect_format_error("01p", 1, 7, "byte above 'o'");
    expect_format_error("0\xff", 1, 7, "high byte");
    expect_format_error("0112000000", 1, 7, "too long for h*w");
    expect_format_error("18", 1, 7, "first count past h*w");
    expect_format_error("O", 1, 7, "negative first count");
    expect_format_error("1O", 1, 7, "negative second count");
    expect_format_error("011N", 1, 7, "delta makes count negative");
    expect_format_error("ooooooooooooo0", 1, 7, "over-long group chain");
    expect_format_error("ooooooo0", 1, 7, "8 groups");
    expect_format_error("_______0", 1000, 1000, "huge value");
    expect_format_error("", 1, 7, "empty string for nonempty mask");
    /* an over-32-bit count (7 groups, positive) */
    expect_format_error("oooooo4", 65535, 65535, "count over 2^32");
    /* sizes */
    CHECK(sa_rle_from_string("0", 1, -1, 5, &r, &err) == SA_ERR_RANGE);
    CHECK(sa_rle_from_string("0", 1, 70000, 70000, &r, &err) == SA_ERR_RANGE);
    /* embedded NUL: the explicit length is honoured */
    CHECK(sa_rle_from_string("07\0", 3, 1, 7, &r, &err) == SA_ERR_FORMAT);
    /* empty mask */
    CHECK(sa_rle_from_string("", 0, 0, 0, &r, &err) == SA_OK && r.m == 0);
    sa_rle_free(&r);
    /* init / decode checks */
    uint32_t bad[2] = {3, 5};
    CHECK(sa_rle_init(&r, 2, 2, bad, 2, &err) == SA_ERR_FORMAT);
    sa_rle forged = {2, 2, 2, bad};
    sa_mask mk = {0};
    CHECK(sa_rle_decode(&forged, &mk, &err) == SA_ERR_FORMAT && mk.data == NULL);
    sa_rle_free(NULL);
}

static void test_json(void) {
    sa_error err = {0};
    sa_rle r = {0}, r2 = {0};
    cJSON *j = cJSON_Parse("{\"size\":[1,7],\"counts\":[0,1,1,3,1,1]}");
    CHECK(sa_rle_from_json(j, &r, &err) == SA_OK && r.m == 6 && r.counts[3] == 3);
    cJSON_Delete(j);
    cJSON *o = sa_rle_to_json(&r, &err);
    CHECK(o != NULL);
    char *txt = o ? cJSON_PrintUnformatted(o) : NULL;
    CHECKF(txt && strcmp(txt, "{\"size\":[1,7],\"counts\":\"01120N\"}") == 0, "to_json gave %s",
           txt ? txt : "NULL");
    CHECK(sa_rle_from_json(o, &r2, &err) == SA_OK && r2.m == r.m &&
          memcmp(r.counts, r2.counts, r.m * 4) == 0);
    free(txt);
    cJSON_Delete(o);
    sa_rle_free(&r);
    sa_rle_free(&r2);
    const char *bad[] = {
        "[]",
        "{\"counts\":\"01\"}",
        "{\"size\":[1],\"counts\":\"01\"}",
        "{\"size\":[1,-1],\"counts\":\"01\"}",
        "{\"size\":[1,1.5],\"counts\":\"01\"}",
        "{\"size\":[\"1\",1],\"counts\":\"01\"}",
        "{\"size\":[1,1],\"counts\":7}",
        "{\"size\":[1,1]}",
        "{\"size\":[1,1],\"counts\":[0,-1]}",
        "{\"size\":[1,1],\"counts\":[0,1,\"x\"]}",
        "{\"size\":[1,1],\"counts\":[0,2]}",
        "{\"size\":[1,1],\"counts\":\"0b\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *b = cJSON_Parse(bad[i]);
        CHECKF(b != NULL, "test JSON %zu does not parse", i);
        int rc = sa_rle_from_json(b, &r, &err);
        CHECKF(rc == SA_ERR_FORMAT || rc == SA_ERR_PARSE, "bad JSON %s accepted (rc %d)", bad[i],
               rc);
        CHECKF(r.counts == NULL, "bad JSON %s left output", bad[i]);
        cJSON_Delete(b);
    }
    CHECK(sa_rle_from_json(NULL, &r, &err) == SA_ERR_PARSE);
}

/* Random masks: round trips, merge and IoU agree with pixel-wise computation. */
static void test_random(void) {
    sa_error err = {0};
    int bad = 0;
    for (int it = 0; it < 300; it++) {
        int h = 1 + (int)(rnd() % 40), w = 1 + (int)(rnd() % 40);
        sa_mask a = {0}, b = {0}, da = {0}, du = {0}, di = {0};
        sa_mask_new(&a, w, h, NULL);
        sa_mask_new(&b, w, h, NULL);
        uint32_t pa = rnd() % 100, pb = rnd() % 100;
        for (int i = 0; i < w * h; i++) {
            a.data[i] = (rnd() % 100) < pa;
            b.data[i] = (rnd() % 100) < pb;
        }
        sa_rle ra = {0}, rb = {0}, rs = {0}, ru = {0}, ri = {0};
        char *s = NULL;
        int ok = sa_rle_encode(&a, &ra, &err) == SA_OK && sa_rle_encode(&b, &rb, &err) == SA_OK &&
                 sa_rle_to_string(&ra, &s, &err) == SA_OK &&
                 sa_rle_from_string(s, strlen(s), h, w, &rs, &err) == SA_OK &&
                 sa_rle_decode(&rs, &da, &err) == SA_OK &&
                 memcmp(da.data, a.data, (size_t)w * (size_t)h) == 0 &&
                 sa_rle_area(&ra) == sa_mask_area(&a);
        ok = ok && sa_rle_merge(&ra, &rb, 0, &ru, &err) == SA_OK &&
             sa_rle_merge(&ra, &rb, 1, &ri, &err) == SA_OK &&
             sa_rle_decode(&ru, &du, &err) == SA_OK && sa_rle_decode(&ri, &di, &err) == SA_OK;
        uint64_t inter = 0, uni = 0;
        for (int i = 0; ok && i < w * h; i++) {
            ok = du.data[i] == (a.data[i] | b.data[i]) && di.data[i] == (a.data[i] & b.data[i]);
            inter += a.data[i] & b.data[i];
            uni += a.data[i] | b.data[i];
        }
        if (ok) { /* merge output is canonical: equal to encoding the merged mask */
            sa_rle re = {0};
            ok = sa_rle_encode(&du, &re, &err) == SA_OK && re.m == ru.m &&
                 memcmp(re.counts, ru.counts, re.m * 4) == 0;
            sa_rle_free(&re);
        }
        double iou = -1;
        ok = ok && sa_rle_iou(&ra, &rb, 0, &iou, &err) == SA_OK &&
             iou == (inter ? (double)inter / (double)uni : 0.0);
        if (ok && inter) ok = iou == sa_mask_iou(&a, &b, NULL);
        if (!ok) bad++;
        free(s);
        sa_rle_free(&ra);
        sa_rle_free(&rb);
        sa_rle_free(&rs);
        sa_rle_free(&ru);
        sa_rle_free(&ri);
        sa_mask_free(&a);
        sa_mask_free(&b);
        sa_mask_free(&da);
        sa_mask_free(&du);
        sa_mask_free(&di);
    }
    CHECKF(bad == 0, "%d random round trips failed", bad);
    /* sizes must match (a size mismatch is SA_ERR_RANGE everywhere) */
    uint32_t c1[1] = {4}, c2[1] = {6};
    sa_rle x = {0}, y = {0}, z = {0};
    sa_rle_init(&x, 2, 2, c1, 1, NULL);
    sa_rle_init(&y, 2, 3, c2, 1, NULL);
    double iou;
    CHECK(sa_rle_iou(&x, &y, 0, &iou, &err) == SA_ERR_RANGE);
    CHECK(sa_rle_merge(&x, &y, 0, &z, &err) == SA_ERR_RANGE && z.counts == NULL);
    sa_rle_free(&x);
    sa_rle_free(&y);
}

static void test_polygon_edges(void) {
    sa_error err = {0};
    sa_rle r = {0};
    /* a square covering pixel centres 2..5 x 3..6 */
    double sq[8] = {2, 3, 5, 3, 5, 6, 2, 6};
    CHECK(sa_rle_from_polygon(sq, 4, 10, 10, &r, &err) == SA_OK);
    CHECKF(sa_rle_area(&r) > 0, "square area %llu", (unsigned long long)sa_rle_area(&r));
    sa_rle_free(&r);
    /* hostile coordinates are refused, not walked */
    double huge[6] = {-1e9, 0, 1e9, 0, 0, 1e9};
    CHECK(sa_rle_from_polygon(huge, 3, 10, 10, &r, &err) == SA_ERR_RANGE && r.counts == NULL);
    double nan_pts[6] = {0.0 / 0.0, 1, 2, 3, 4, 5};
    int rc = sa_rle_from_polygon(nan_pts, 3, 10, 10, &r, &err);
    CHECK(rc == SA_OK || rc == SA_ERR_RANGE);
    sa_rle_free(&r);
    CHECK(sa_rle_from_polygon(sq, 4, 0, 10, &r, &err) == SA_ERR_RANGE);
    /* union of two polygons */
    const double *polys[2] = {sq, sq};
    size_t ns[2] = {4, 4};
    sa_rle one = {0};
    CHECK(sa_rle_from_polygon(sq, 4, 10, 10, &one, &err) == SA_OK);
    CHECK(sa_rle_from_polygons(polys, ns, 2, 10, 10, &r, &err) == SA_OK && r.m == one.m &&
          memcmp(r.counts, one.counts, r.m * 4) == 0);
    sa_rle_free(&r);
    sa_rle_free(&one);
    /* a box covers exactly its pixels when on integer coordinates: [2, 3, 4, 5] -> x 2..5, y 3..7
     */
    double box[4] = {2, 3, 4, 5};
    sa_mask bm = {0};
    CHECK(sa_rle_from_bbox(box, 10, 12, &r, &err) == SA_OK && sa_rle_area(&r) == 20);
    CHECK(sa_rle_decode(&r, &bm, &err) == SA_OK && bm.data[3 * 12 + 2] == 1 &&
          bm.data[7 * 12 + 5] == 1 && bm.data[2 * 12 + 2] == 0 && bm.data[3 * 12 + 6] == 0);
    double bb[4];
    sa_rle_bbox(&r, bb);
    CHECK(bb[0] == 2 && bb[1] == 3 && bb[2] == 4 && bb[3] == 5);
    sa_mask_free(&bm);
    sa_rle_free(&r);
    /* frPyObjects quirk: a list whose first entry has 4 numbers is a list of boxes */
    const double *boxes[2] = {box, box};
    size_t two[2] = {2, 2}, mixed[2] = {2, 4};
    CHECK(sa_rle_from_polygons(boxes, two, 2, 10, 12, &r, &err) == SA_OK && sa_rle_area(&r) == 20);
    sa_rle_free(&r);
    const double *bp[2] = {box, sq};
    CHECK(sa_rle_from_polygons(bp, mixed, 2, 10, 12, &r, &err) == SA_ERR_FORMAT &&
          r.counts == NULL);
}

int main(void) {
    tu_require_shared();
    int nr = test_rle_vectors();
    int np = test_poly_vectors();
    test_malformed();
    test_json();
    test_random();
    test_polygon_edges();
    printf("rle: %d/66 rle vectors, %d/20 polygon vectors identical to pycocotools\n", nr, np);
    return tu_finish("test_rle");
}
