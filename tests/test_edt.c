/* Exact distance transform against brute force: random masks of many shapes and densities, both
 * border modes, row strides, the float form, and argument checks. Squared distances must be equal,
 * not close. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/edt.h"
#include "testutil.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* O(n^2): minimum over every unset pixel (and, with outside_zero, the ring just outside the image).
 */
static uint32_t brute(const uint8_t *m, int w, int h, size_t stride, int outside_zero, int x,
                      int y) {
    if (!m[(size_t)y * stride + (size_t)x]) return 0;
    uint64_t best = UINT64_MAX;
    int lo = outside_zero ? -1 : 0;
    for (int yy = lo; yy < h - lo; yy++)
        for (int xx = lo; xx < w - lo; xx++) {
            int inside = yy >= 0 && yy < h && xx >= 0 && xx < w;
            if (inside && m[(size_t)yy * stride + (size_t)xx]) continue;
            uint64_t d = (uint64_t)((int64_t)(xx - x) * (xx - x) + (int64_t)(yy - y) * (yy - y));
            if (d < best) best = d;
        }
    return best == UINT64_MAX ? SA_EDT_INF : (uint32_t)best;
}

static int run_case(int w, int h, int density, int shape, int outside_zero, size_t pad) {
    size_t stride = (size_t)w + pad;
    uint8_t *m = malloc(stride * (size_t)h);
    uint32_t *d = malloc(sizeof *d * (size_t)w * (size_t)h);
    if (!m || !d) exit(1);
    int cx = (int)(rnd() % (uint32_t)w), cy = (int)(rnd() % (uint32_t)h), r = 1 + (int)(rnd() % 12);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < (int)stride; x++) {
            uint8_t v;
            if (x >= w)
                v = (uint8_t)(rnd() & 1); /* garbage beyond the row must be ignored */
            else if (shape == 0)
                v = (rnd() % 100) < (uint32_t)density;
            else if (shape == 1)
                v = (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r ||
                    (rnd() % 100) < (uint32_t)density / 10;
            else
                v = (rnd() % 1000) < 999; /* almost full: long distances */
            m[(size_t)y * stride + (size_t)x] =
                v ? (uint8_t)(1 + rnd() % 255) : 0; /* any nonzero is set */
        }
    sa_error err = {0};
    int bad = 0;
    if (sa_edt_sq(m, w, h, stride, outside_zero, d, &err) != SA_OK) {
        fprintf(stderr, "edt %dx%d failed: %s\n", w, h, err.msg);
        bad = 1;
    }
    for (int y = 0; y < h && !bad; y++)
        for (int x = 0; x < w; x++) {
            uint32_t want = brute(m, w, h, stride, outside_zero, x, y);
            if (d[(size_t)y * (size_t)w + (size_t)x] != want) {
                fprintf(stderr, "edt %dx%d shape %d outside %d: (%d,%d) got %u want %u\n", w, h,
                        shape, outside_zero, x, y, d[(size_t)y * (size_t)w + (size_t)x], want);
                bad = 1;
                break;
            }
        }
    free(m);
    free(d);
    return bad;
}

static void test_float_form(void) {
    sa_mask m = {0};
    sa_mask_new(&m, 37, 23, NULL);
    for (int i = 0; i < 37 * 23; i++)
        m.data[i] = (rnd() % 10) < 8;
    float *f = malloc(sizeof *f * 37 * 23);
    uint32_t *d = malloc(sizeof *d * 37 * 23);
    sa_error err = {0};
    CHECK(sa_edt(&m, 1, f, &err) == SA_OK);
    CHECK(sa_edt_sq(m.data, 37, 23, 37, 1, d, &err) == SA_OK);
    int bad = 0;
    for (int i = 0; i < 37 * 23; i++)
        bad += f[i] != sqrtf((float)d[i]);
    CHECKF(bad == 0, "%d float distances differ from sqrtf(squared)", bad);
    /* all set, no outside zeros: infinite */
    memset(m.data, 1, 37 * 23);
    CHECK(sa_edt(&m, 0, f, &err) == SA_OK && isinf(f[0]) && isinf(f[37 * 23 - 1]));
    /* all set, outside zero: distance to the border */
    CHECK(sa_edt(&m, 1, f, &err) == SA_OK && f[0] == 1.0f && f[11 * 37 + 18] == 12.0f);
    /* all unset */
    memset(m.data, 0, 37 * 23);
    CHECK(sa_edt(&m, 1, f, &err) == SA_OK && f[100] == 0.0f);
    /* argument checks */
    CHECK(sa_edt_sq(m.data, 0, 23, 37, 1, d, &err) == SA_ERR_RANGE);
    CHECK(sa_edt_sq(m.data, 37, 23, 36, 1, d, &err) == SA_ERR_RANGE);
    CHECK(sa_edt_sq(NULL, 37, 23, 37, 1, d, &err) == SA_ERR_INVALID);
    CHECK(sa_edt(NULL, 1, f, &err) == SA_ERR_INVALID);
    CHECK(sa_edt_scratch_size(0) == 0 && sa_edt_scratch_size(100) > 0);
    free(f);
    free(d);
    sa_mask_free(&m);
}

int main(void) {
    int cases = 0, bad = 0;
    for (int it = 0; it < 600; it++) {
        int w = 1 + (int)(rnd() % 33), h = 1 + (int)(rnd() % 33);
        int density = (int)(rnd() % 101), shape = (int)(rnd() % 3), oz = (int)(rnd() & 1);
        size_t pad = (rnd() & 1) ? rnd() % 5 : 0;
        bad += run_case(w, h, density, shape, oz, pad);
        cases++;
    }
    /* long thin shapes */
    for (int it = 0; it < 20; it++) {
        bad += run_case(1 + (int)(rnd() % 3), 60 + (int)(rnd() % 60), 95, 2, (int)(rnd() & 1), 0);
        bad += run_case(60 + (int)(rnd() % 60), 1 + (int)(rnd() % 3), 95, 2, (int)(rnd() & 1), 0);
        cases += 2;
    }
    CHECKF(bad == 0, "%d of %d random masks differ from brute force", bad, cases);
    printf("edt: %d/%d random masks identical to brute force\n", cases - bad, cases);
    test_float_form();
    return tu_finish("test_edt");
}
