/* The simulated annotator against every OpenCV-made vector in shared/fixtures/clicker: "step"
 * vectors give the same (y, x, sign) and distance within 1e-4; "sequence" vectors replay the toy
 * disc tool for 10 clicks and every click must be identical. Also: the handle form agrees with the
 * one-shot form, bad arguments, SA_ERR_DONE. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/clicker.h"
#include "segagent/edt.h"
#include "segagent/rle.h"
#include "testutil.h"

/* Uncompressed COCO RLE (JSON array) -> mask. */
static int mask_from_runs(const cJSON *arr, int h, int w, sa_mask *out) {
    int n = cJSON_GetArraySize(arr);
    if (!cJSON_IsArray(arr) || n <= 0) return -1;
    uint32_t *c = malloc(sizeof *c * (size_t)n);
    if (!c) exit(1);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) c[i++] = (uint32_t)it->valuedouble;
    sa_rle r = {0};
    sa_error err = {0};
    int rc = sa_rle_init(&r, h, w, c, (size_t)n, &err);
    if (rc == SA_OK) rc = sa_rle_decode(&r, out, &err);
    if (rc != SA_OK) fprintf(stderr, "bad RLE in vector: %s\n", err.msg);
    sa_rle_free(&r);
    free(c);
    return rc;
}

/* The toy tool of the fixtures: a positive click sets a disc of radius r around it, a negative one
 * clears it. */
static void apply_disc(sa_mask *pred, int cy, int cx, int r, int positive) {
    for (int y = cy - r; y <= cy + r; y++)
        for (int x = cx - r; x <= cx + r; x++) {
            if (y < 0 || y >= pred->height || x < 0 || x >= pred->width) continue;
            if ((y - cy) * (y - cy) + (x - cx) * (x - cx) > r * r) continue;
            pred->data[(size_t)y * (size_t)pred->width + (size_t)x] = (uint8_t)(positive != 0);
        }
}

static int run_step(const cJSON *j, int idx, sa_clicker *ck) {
    int h = cJSON_GetObjectItem(j, "h")->valueint, w = cJSON_GetObjectItem(j, "w")->valueint;
    sa_mask gt = {0}, ign = {0}, pred = {0};
    int ok = mask_from_runs(cJSON_GetObjectItem(j, "gt"), h, w, &gt) == SA_OK &&
             mask_from_runs(cJSON_GetObjectItem(j, "ignore"), h, w, &ign) == SA_OK &&
             mask_from_runs(cJSON_GetObjectItem(j, "pred"), h, w, &pred) == SA_OK;
    const cJSON *cl = cJSON_GetObjectItem(j, "clicked");
    int n = cJSON_GetArraySize(cl);
    sa_click *clicks = calloc((size_t)(n > 0 ? n : 1), sizeof *clicks);
    for (int i = 0; i < n; i++) {
        clicks[i].y = cJSON_GetArrayItem(cJSON_GetArrayItem(cl, i), 0)->valueint;
        clicks[i].x = cJSON_GetArrayItem(cJSON_GetArrayItem(cl, i), 1)->valueint;
    }
    const cJSON *e = cJSON_GetObjectItem(j, "expected");
    sa_clicker_click c = {0}, c2 = {0};
    sa_error err = {0};
    int rc = ok ? sa_clicker_next(&gt, &ign, &pred, clicks, n, &c, &err) : SA_ERR_FORMAT;
    int rc2 = ok ? sa_clicker_run(ck, &gt, &ign, &pred, clicks, n, &c2, &err) : SA_ERR_FORMAT;
    if (ok && (rc != rc2 || memcmp(&c, &c2, sizeof c) != 0)) {
        fprintf(stderr, "vector %d: handle and one-shot forms disagree\n", idx);
        ok = 0;
    }
    if (ok && (!e || cJSON_IsNull(e))) {
        if (rc != SA_ERR_DONE) {
            fprintf(stderr, "vector %d (step %s): expected no click, got rc %d\n", idx,
                    cJSON_GetObjectItem(j, "mask_file")->valuestring, rc);
            ok = 0;
        }
    } else if (ok) {
        int ey = cJSON_GetObjectItem(e, "y")->valueint, ex = cJSON_GetObjectItem(e, "x")->valueint;
        int ep = cJSON_IsTrue(cJSON_GetObjectItem(e, "is_positive"));
        double ed = cJSON_GetObjectItem(e, "distance")->valuedouble;
        if (rc != SA_OK || c.y != ey || c.x != ex || c.positive != ep ||
            fabs(c.distance - ed) > 1e-4) {
            fprintf(stderr,
                    "vector %d (step %s, %d clicked): got rc %d (y %d, x %d, %s, d %.6f) want (y "
                    "%d, x %d, %s, d %.6f)\n",
                    idx, cJSON_GetObjectItem(j, "mask_file")->valuestring, n, rc, c.y, c.x,
                    c.positive ? "pos" : "neg", c.distance, ey, ex, ep ? "pos" : "neg", ed);
            ok = 0;
        }
    }
    free(clicks);
    sa_mask_free(&gt);
    sa_mask_free(&ign);
    sa_mask_free(&pred);
    return ok;
}

static int run_sequence(const cJSON *j, int idx, sa_clicker *ck) {
    int h = cJSON_GetObjectItem(j, "h")->valueint, w = cJSON_GetObjectItem(j, "w")->valueint;
    int r = cJSON_GetObjectItem(j, "disc_radius")->valueint;
    sa_mask gt = {0}, ign = {0}, pred = {0};
    int ok = mask_from_runs(cJSON_GetObjectItem(j, "gt"), h, w, &gt) == SA_OK &&
             mask_from_runs(cJSON_GetObjectItem(j, "ignore"), h, w, &ign) == SA_OK &&
             sa_mask_new(&pred, w, h, NULL) == SA_OK;
    const cJSON *ex = cJSON_GetObjectItem(j, "expected_clicks");
    int n = cJSON_GetArraySize(ex);
    sa_click *clicks = calloc((size_t)(n > 0 ? n : 1) + 1, sizeof *clicks);
    for (int i = 0; ok && i < n; i++) {
        const cJSON *e = cJSON_GetArrayItem(ex, i);
        int ey = cJSON_GetObjectItem(e, "y")->valueint, exx = cJSON_GetObjectItem(e, "x")->valueint;
        int ep = cJSON_IsTrue(cJSON_GetObjectItem(e, "is_positive"));
        sa_clicker_click c = {0};
        sa_error err = {0};
        int rc = sa_clicker_run(ck, &gt, &ign, &pred, clicks, i, &c, &err);
        if (rc != SA_OK || c.y != ey || c.x != exx || c.positive != ep) {
            fprintf(stderr,
                    "vector %d (sequence %s, r %d) click %d: got rc %d (y %d, x %d, %s) want (y "
                    "%d, x %d, %s)\n",
                    idx, cJSON_GetObjectItem(j, "mask_file")->valuestring, r, i + 1, rc, c.y, c.x,
                    c.positive ? "pos" : "neg", ey, exx, ep ? "pos" : "neg");
            ok = 0;
            break;
        }
        clicks[i] = (sa_click){.y = c.y, .x = c.x, .positive = c.positive};
        apply_disc(&pred, c.y, c.x, r, c.positive);
    }
    free(clicks);
    sa_mask_free(&gt);
    sa_mask_free(&ign);
    sa_mask_free(&pred);
    return ok;
}

/* docs/annotator.md done the plain way: padded full-size maps, whole-image transform (edge = zero
 * border), float distances, clicked pixels zeroed, first row-major maximum. The library crops; both
 * must agree. */
static int reference_click(const sa_mask *gt, const sa_mask *ign, const sa_mask *pred,
                           const sa_click *clicked, int n, sa_clicker_click *out) {
    int W = gt->width, H = gt->height, PW = W + 2, PH = H + 2;
    uint8_t *m = calloc((size_t)PW * (size_t)PH, 1);
    uint32_t *d = malloc(sizeof *d * (size_t)PW * (size_t)PH);
    float *dist[2] = {malloc(sizeof(float) * (size_t)W * (size_t)H),
                      malloc(sizeof(float) * (size_t)W * (size_t)H)};
    float mx[2] = {0, 0};
    int at[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                size_t i = (size_t)y * (size_t)W + (size_t)x;
                int e = k == 0 ? (gt->data[i] && !pred->data[i]) : (!gt->data[i] && pred->data[i]);
                if (ign && ign->data && ign->data[i]) e = 0;
                m[(size_t)(y + 1) * (size_t)PW + (size_t)(x + 1)] = (uint8_t)e;
            }
        sa_edt_sq(m, PW, PH, (size_t)PW, 0, d, NULL);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                dist[k][(size_t)y * (size_t)W + (size_t)x] =
                    sqrtf((float)d[(size_t)(y + 1) * (size_t)PW + (size_t)(x + 1)]);
        for (int i = 0; i < n; i++)
            dist[k][(size_t)clicked[i].y * (size_t)W + (size_t)clicked[i].x] = 0;
        for (int i = 0; i < W * H; i++)
            if (dist[k][i] > mx[k]) {
                mx[k] = dist[k][i];
                at[k] = i;
            }
    }
    free(m);
    free(d);
    free(dist[0]);
    free(dist[1]);
    if (mx[0] == 0 && mx[1] == 0) return SA_ERR_DONE;
    int k = mx[0] > mx[1] ? 0 : 1;
    out->positive = k == 0;
    out->y = at[k] / W;
    out->x = at[k] % W;
    out->distance = mx[k];
    return SA_OK;
}

static uint64_t rng_state = 0x853C49E6748FEA9Bull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static void fill_blobs(sa_mask *m, int n_blobs, int noise_pct) {
    memset(m->data, 0, (size_t)m->width * (size_t)m->height);
    for (int b = 0; b < n_blobs; b++) {
        int cx = (int)(rnd() % (uint32_t)m->width), cy = (int)(rnd() % (uint32_t)m->height);
        int r = 1 + (int)(rnd() % 15);
        for (int y = 0; y < m->height; y++)
            for (int x = 0; x < m->width; x++)
                if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r)
                    m->data[(size_t)y * (size_t)m->width + (size_t)x] = 1;
    }
    for (int i = 0; i < m->width * m->height; i++)
        if ((int)(rnd() % 100) < noise_pct) m->data[i] ^= 1;
}

static void test_against_reference(void) {
    sa_clicker *ck = NULL;
    sa_clicker_new(&ck, NULL);
    int cases = 0, bad = 0;
    for (int it = 0; it < 400; it++) {
        int w = 1 + (int)(rnd() % 60), h = 1 + (int)(rnd() % 60);
        sa_mask gt = {0}, pred = {0}, ign = {0};
        sa_mask_new(&gt, w, h, NULL);
        sa_mask_new(&pred, w, h, NULL);
        sa_mask_new(&ign, w, h, NULL);
        fill_blobs(&gt, 1 + (int)(rnd() % 3), (int)(rnd() % 3));
        fill_blobs(&pred, (int)(rnd() % 4), (int)(rnd() % 3));
        if (rnd() & 1) fill_blobs(&ign, (int)(rnd() % 2), 0);
        sa_click clicks[8];
        int n = (int)(rnd() % 8);
        for (int i = 0; i < n; i++)
            clicks[i] = (sa_click){(int)(rnd() % (uint32_t)h), (int)(rnd() % (uint32_t)w), 1};
        sa_clicker_click want = {0}, got = {0};
        int rw = reference_click(&gt, &ign, &pred, clicks, n, &want);
        int rg = sa_clicker_run(ck, &gt, &ign, &pred, clicks, n, &got, NULL);
        cases++;
        if (rw != rg ||
            (rw == SA_OK && (want.y != got.y || want.x != got.x || want.positive != got.positive ||
                             want.distance != got.distance))) {
            fprintf(stderr,
                    "random case %d (%dx%d, %d clicks): got rc %d (%d,%d,%d,%g) want rc %d "
                    "(%d,%d,%d,%g)\n",
                    it, w, h, n, rg, got.y, got.x, got.positive, got.distance, rw, want.y, want.x,
                    want.positive, want.distance);
            bad++;
        }
        sa_mask_free(&gt);
        sa_mask_free(&pred);
        sa_mask_free(&ign);
    }
    sa_clicker_free(ck);
    CHECKF(bad == 0, "%d of %d random cases differ from the full-size reference", bad, cases);
    printf("clicker: %d/%d random cases identical to the full-size reference\n", cases - bad,
           cases);
}

static void test_edges(void) {
    sa_error err = {0};
    sa_mask gt = {0}, pred = {0}, small = {0};
    sa_mask_new(&gt, 9, 7, NULL);
    sa_mask_new(&pred, 9, 7, NULL);
    sa_mask_new(&small, 3, 3, NULL);
    sa_clicker_click c;
    /* nothing to fix */
    CHECK(sa_clicker_next(&gt, NULL, &pred, NULL, 0, &c, &err) == SA_ERR_DONE);
    /* one pixel of gt: positive click on it */
    gt.data[3 * 9 + 4] = 1;
    CHECK(sa_clicker_next(&gt, NULL, &pred, NULL, 0, &c, &err) == SA_OK && c.y == 3 && c.x == 4 &&
          c.positive && c.distance == 1.0f);
    /* clicked already: its distance is zeroed, nothing else to fix */
    sa_click k = {3, 4, 1};
    CHECK(sa_clicker_next(&gt, NULL, &pred, &k, 1, &c, &err) == SA_ERR_DONE);
    /* a tie is negative: one fn pixel and one fp pixel */
    pred.data[0] = 1;
    CHECK(sa_clicker_next(&gt, NULL, &pred, NULL, 0, &c, &err) == SA_OK && !c.positive &&
          c.y == 0 && c.x == 0);
    /* ignored pixels do not count */
    sa_mask ign = {0};
    sa_mask_new(&ign, 9, 7, NULL);
    ign.data[0] = 1;
    CHECK(sa_clicker_next(&gt, &ign, &pred, NULL, 0, &c, &err) == SA_OK && c.positive && c.y == 3 &&
          c.x == 4);
    /* full gt, empty pred: the image edge is a boundary; the first pixel at distance 4 of 9x7 is
     * (3, 3) */
    memset(gt.data, 1, 63);
    memset(pred.data, 0, 63);
    CHECK(sa_clicker_next(&gt, NULL, &pred, NULL, 0, &c, &err) == SA_OK && c.y == 3 && c.x == 3 &&
          c.distance == 4.0f);
    /* bad arguments */
    /* a size mismatch is SA_ERR_RANGE, as everywhere in the library */
    CHECK(sa_clicker_next(&gt, NULL, &small, NULL, 0, &c, &err) == SA_ERR_RANGE);
    CHECK(sa_clicker_next(&gt, &small, &pred, NULL, 0, &c, &err) == SA_ERR_RANGE);
    CHECK(sa_clicker_next(NULL, NULL, &pred, NULL, 0, &c, &err) == SA_ERR_INVALID);
    CHECK(sa_clicker_next(&gt, NULL, &pred, NULL, 2, &c, &err) == SA_ERR_INVALID);
    sa_click out = {7, 0, 1};
    CHECK(sa_clicker_next(&gt, NULL, &pred, &out, 1, &c, &err) == SA_ERR_RANGE);
    sa_clicker_free(NULL);
    sa_mask_free(&gt);
    sa_mask_free(&pred);
    sa_mask_free(&small);
    sa_mask_free(&ign);
}

int main(void) {
    char *path = tu_shared_path("fixtures/clicker/clicker_vectors.jsonl");
    char *text = tu_read_file(path, NULL);
    CHECKF(text != NULL, "cannot read %s", path);
    sa_clicker *ck = NULL;
    CHECK(sa_clicker_new(&ck, NULL) == SA_OK);
    int total = 0, steps = 0, steps_ok = 0, seqs = 0, seqs_ok = 0;
    char *save = NULL;
    for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(line);
        total++;
        CHECKF(j != NULL, "clicker vector %d: bad JSON", total);
        if (!j) continue;
        const char *kind = cJSON_GetObjectItem(j, "kind")->valuestring;
        if (strcmp(kind, "step") == 0) {
            steps++;
            int ok = run_step(j, total, ck);
            steps_ok += ok;
            CHECKF(ok, "clicker vector %d (step) mismatch", total);
        } else if (strcmp(kind, "sequence") == 0) {
            seqs++;
            int ok = run_sequence(j, total, ck);
            seqs_ok += ok;
            CHECKF(ok, "clicker vector %d (sequence) mismatch", total);
        } else
            CHECKF(0, "clicker vector %d: unknown kind %s", total, kind);
        cJSON_Delete(j);
    }
    sa_clicker_free(ck);
    printf("clicker: %d/%d step vectors, %d/%d sequence vectors identical (%d lines)\n", steps_ok,
           steps, seqs_ok, seqs, total);
    CHECKF(total == 144, "expected 144 clicker vectors, read %d", total);
    test_edges();
    test_against_reference();
    free(text);
    free(path);
    return tu_finish("test_clicker");
}
