/* Mask file tests: stored value -> object / background / ignore, save as 0/255 PNG and load back,
 * errors naming the file, and (when the shared data is present) a GrabCut mask with its 128 ignore
 * band. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/image.h"
#include "segagent/mask.h"
#include "testutil.h"

static char *path_in(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p) exit(1);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static void test_values(const char *tmp) {
    /* grey PNG with values 0, 128, 255, 7, 1, 128 */
    enum { W = 3, H = 2 };
    const uint8_t vals[W * H] = {0, 128, 255, 7, 1, 128};
    sa_image img = {0};
    sa_error err = {0};
    CHECK(sa_image_new(&img, W, H, 1, NULL) == SA_OK);
    memcpy(img.data, vals, sizeof vals);
    char *p = path_in(tmp, "vals.png");
    CHECK(sa_image_save_png(p, &img, &err) == SA_OK);

    sa_mask m = {0}, ign = {0};
    CHECK(sa_mask_load(p, 128, &m, &ign, &err) == SA_OK);
    CHECK(m.width == W && m.height == H && ign.width == W && ign.height == H);
    const uint8_t want_m[W * H] = {0, 0, 1, 1, 1, 0}, want_i[W * H] = {0, 1, 0, 0, 0, 1};
    CHECK(m.data && memcmp(m.data, want_m, sizeof want_m) == 0);
    CHECK(ign.data && memcmp(ign.data, want_i, sizeof want_i) == 0);
    sa_mask_free(&m);
    sa_mask_free(&ign);

    /* no ignore mask: the ignore value is still background */
    CHECK(sa_mask_load(p, 128, &m, NULL, &err) == SA_OK);
    CHECK(m.data && memcmp(m.data, want_m, sizeof want_m) == 0);
    sa_mask_free(&m);
    /* ignore_value -1: 128 is object, the ignore mask is empty */
    CHECK(sa_mask_load(p, -1, &m, &ign, &err) == SA_OK);
    const uint8_t want_all[W * H] = {0, 1, 1, 1, 1, 1};
    CHECK(m.data && memcmp(m.data, want_all, sizeof want_all) == 0);
    CHECK(sa_mask_area(&ign) == 0);
    sa_mask_free(&m);
    sa_mask_free(&ign);
    free(p);

    /* an RGB file: any non-black colour is object */
    sa_image rgb = {0};
    CHECK(sa_image_new(&rgb, 2, 1, 3, NULL) == SA_OK);
    rgb.data[3] = 0, rgb.data[4] = 0, rgb.data[5] = 9; /* dark blue */
    p = path_in(tmp, "rgb.png");
    CHECK(sa_image_save_png(p, &rgb, &err) == SA_OK);
    CHECK(sa_mask_load(p, 128, &m, &ign, &err) == SA_OK);
    CHECK(m.data && m.data[0] == 0 && m.data[1] == 1);
    sa_mask_free(&m);
    sa_mask_free(&ign);
    free(p);
    sa_image_free(&rgb);
    sa_image_free(&img);
}

static void test_save_roundtrip(const char *tmp) {
    sa_mask m = {0}, back = {0};
    sa_error err = {0};
    CHECK(sa_mask_new(&m, 23, 17, NULL) == SA_OK);
    for (int i = 0; i < 23 * 17; i++)
        m.data[i] = (uint8_t)((i * 7 + i / 23) % 3 == 0);
    char *p = path_in(tmp, "mask.png");
    CHECK(sa_mask_save_png(p, &m, &err) == SA_OK);
    /* stored as 0 / 255 grey */
    sa_image v = {0};
    CHECK(sa_image_load_values(p, &v, &err) == SA_OK);
    CHECK(v.channels == 1 && v.width == 23 && v.height == 17);
    int bad = 0;
    for (int i = 0; v.data && i < 23 * 17; i++)
        bad += v.data[i] != (m.data[i] ? 255 : 0);
    CHECK(bad == 0);
    sa_image_free(&v);
    CHECK(sa_mask_load(p, 128, &back, NULL, &err) == SA_OK);
    CHECK(back.data && memcmp(back.data, m.data, 23 * 17) == 0);
    sa_mask_free(&back);
    free(p);
    /* errors */
    CHECK(sa_mask_save_png("/nonexistent-dir/m.png", &m, &err) == SA_ERR_IO);
    CHECKF(strstr(err.msg, "/nonexistent-dir/m.png") != NULL, "%s", err.msg);
    sa_mask empty = {0};
    CHECK(sa_mask_save_png("x.png", &empty, &err) == SA_ERR_INVALID);
    sa_mask_free(&m);
}

static void test_errors(const char *tmp) {
    sa_mask m = {0}, ign = {0};
    sa_error err = {0};
    char *p = path_in(tmp, "missing.png");
    CHECK(sa_mask_load(p, 128, &m, &ign, &err) == SA_ERR_IO);
    CHECKF(strstr(err.msg, p) != NULL, "message does not name the file: %s", err.msg);
    CHECK(m.data == NULL && ign.data == NULL);
    free(p);
    p = path_in(tmp, "garbage.bmp");
    FILE *f = fopen(p, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs("BM this is not a bitmap", f);
        fclose(f);
    }
    CHECK(sa_mask_load(p, 128, &m, &ign, &err) != SA_OK); /* unsupported header size */
    CHECKF(strstr(err.msg, p) != NULL, "message does not name the file: %s", err.msg);
    CHECK(m.data == NULL && ign.data == NULL);
    free(p);
    CHECK(sa_mask_load("x.png", 128, NULL, &ign, &err) == SA_ERR_INVALID);
    CHECK(sa_mask_load(NULL, 128, &m, &ign, &err) == SA_ERR_INVALID);
}

static void test_grabcut(void) {
    const char *shared = tu_shared_dir();
    if (!shared) {
        printf("shared folder not found: GrabCut mask check skipped\n");
        return;
    }
    char *p = path_in(shared, "data/GrabCut/boundary_GT/banana1.bmp");
    sa_mask m = {0}, ign = {0};
    sa_image v = {0};
    sa_error err = {0};
    CHECKF(sa_mask_load(p, 128, &m, &ign, &err) == SA_OK, "%s", err.msg);
    CHECKF(sa_image_load_values(p, &v, &err) == SA_OK, "%s", err.msg);
    if (m.data && v.data) {
        size_t n = (size_t)v.width * v.height, obj = 0, band = 0;
        for (size_t i = 0; i < n; i++)
            obj += v.data[i] == 255, band += v.data[i] == 128;
        CHECK(sa_mask_area(&m) == obj && sa_mask_area(&ign) == band);
        CHECK(obj > 0 && band > 0);
        printf("banana1: %dx%d, %zu object, %zu ignore pixels\n", m.width, m.height, obj, band);
    }
    sa_image_free(&v);
    sa_mask_free(&m);
    sa_mask_free(&ign);
    free(p);
}

/* Removes the (flat) temporary directory and its files. */
/* A photo (or a lossy JPEG) given where a mask belongs is refused, naming the file and the count; a mask
 * with a few stray values (Berkeley has one) still loads with every non-zero value as object. */
static void test_unexpected_values(const char *tmp) {
    sa_error err = {0};
    sa_image img = {0};
    CHECK(sa_image_new(&img, 40, 30, 1, &err) == SA_OK);
    for (int i = 0; i < 40 * 30; i++)
        img.data[i] = (uint8_t)(i % 200);
    char *p = path_in(tmp, "photo_as_mask.png");
    CHECK(sa_image_save_png(p, &img, &err) == SA_OK);
    sa_mask m = {0}, ign = {0};
    CHECK(sa_mask_load(p, -1, &m, &ign, &err) == SA_ERR_FORMAT);
    CHECKF(strstr(err.msg, p) != NULL && strstr(err.msg, "200 distinct") != NULL, "message: %s",
           err.msg);
    CHECK(m.data == NULL && ign.data == NULL);
    free(p);
    for (int i = 0; i < 40 * 30; i++)
        img.data[i] = (uint8_t)(i < 600 ? 0 : (i % 3 == 0 ? 197 : 255));
    p = path_in(tmp, "stray_values.png");
    CHECK(sa_image_save_png(p, &img, &err) == SA_OK);
    CHECK(sa_mask_load(p, -1, &m, NULL, &err) == SA_OK);
    CHECK(sa_mask_area(&m) == 600);
    sa_mask_free(&m);
    free(p);
    sa_image_free(&img);
}

int main(void) {
    char *tmp = tu_tmpdir();
    test_unexpected_values(tmp);
    test_values(tmp);
    test_save_roundtrip(tmp);
    test_errors(tmp);
    test_grabcut();
    tu_rmtree(tmp);
    free(tmp);
    return tu_finish("test_mask_io");
}
