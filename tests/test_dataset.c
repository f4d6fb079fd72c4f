/* Dataset discovery and loading on tiny generated folders: the GrabCut layout (with the 128 ignore band, BMP
 * masks), generic layouts under several folder names, sorting, unmatched / non-image / duplicate files as
 * warnings, and the per-item failures (corrupt image, size mismatch, empty ground truth) as errors naming the
 * file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "segagent/dataset.h"
#include "testutil.h"

static char *path2(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (!p) exit(1);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

static void mkdir_in(const char *root, const char *sub) {
    char *p = path2(root, sub);
    if (mkdir(p, 0777) != 0) {
        perror(p);
        exit(1);
    }
    free(p);
}

static void write_bytes(const char *root, const char *rel, const void *data, size_t n) {
    char *p = path2(root, rel);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(data, 1, n, f) != n) {
        perror(p);
        exit(1);
    }
    fclose(f);
    free(p);
}

/* RGB test image: a gradient. */
static void write_image(const char *root, const char *rel, int w, int h) {
    sa_image img = {0};
    sa_error err = {0};
    if (sa_image_new(&img, w, h, 3, &err)) exit(1);
    for (int i = 0; i < w * h * 3; i++)
        img.data[i] = (uint8_t)(i * 7);
    char *p = path2(root, rel);
    if (sa_image_save_png(p, &img, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    free(p);
    sa_image_free(&img);
}

/* Grey PNG mask: value v inside the rectangle [x0,x1)x[y0,y1), band value on its border ring, else
 * 0. */
static void write_mask_png(const char *root, const char *rel, int w, int h, int x0, int y0, int x1,
                           int y1, int v, int channels) {
    sa_image m = {0};
    sa_error err = {0};
    if (sa_image_new(&m, w, h, channels, &err)) exit(1);
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            for (int c = 0; c < channels; c++)
                m.data[((size_t)y * w + x) * channels + c] = (uint8_t)(c == 0 ? v : 0);
    char *p = path2(root, rel);
    if (sa_image_save_png(p, &m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    free(p);
    sa_image_free(&m);
}

/* 24-bit BMP mask (GrabCut style): 255 inside [x0,x1)x[y0,y1), 128 on a 1-pixel ring around it,
 * else 0. */
static void write_mask_bmp(const char *root, const char *rel, int w, int h, int x0, int y0, int x1,
                           int y1) {
    int stride = (w * 3 + 3) & ~3;
    size_t n = 54 + (size_t)stride * h;
    uint8_t *b = calloc(n, 1);
    if (!b) exit(1);
    b[0] = 'B', b[1] = 'M';
#define PUT32(o, v)                                                                                \
    (b[(o)] = (uint8_t)(v), b[(o) + 1] = (uint8_t)((v) >> 8), b[(o) + 2] = (uint8_t)((v) >> 16),   \
     b[(o) + 3] = (uint8_t)((v) >> 24))
    PUT32(2, (uint32_t)n);
    PUT32(10, 54u);
    PUT32(14, 40u);
    PUT32(18, (uint32_t)w);
    PUT32(22, (uint32_t)h);
    b[26] = 1;
    b[28] = 24;
    PUT32(34, (uint32_t)(stride * h));
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int in = x >= x0 && x < x1 && y >= y0 && y < y1;
            int ring = !in && x >= x0 - 1 && x <= x1 && y >= y0 - 1 && y <= y1;
            uint8_t v = in ? 255 : ring ? 128 : 0;
            uint8_t *px = b + 54 + (size_t)(h - 1 - y) * stride + (size_t)x * 3;
            px[0] = px[1] = px[2] = v;
        }
    write_bytes(root, rel, b, n);
    free(b);
}

static int has_warning(const sa_dataset *ds, const char *needle) {
    for (int i = 0; i < sa_dataset_n_warnings(ds); i++)
        if (strstr(sa_dataset_warning(ds, i), needle)) return 1;
    return 0;
}

static void test_grabcut(void) {
    char *root = tu_tmpdir();
    mkdir_in(root, "data_GT");
    mkdir_in(root, "boundary_GT");
    write_image(root, "data_GT/b2.png", 20, 16);
    write_image(root, "data_GT/a.png", 20, 16);
    write_image(root, "data_GT/b10.png", 20, 16);
    write_image(root, "data_GT/lonely.png", 20, 16);
    write_bytes(root, "data_GT/notes.txt", "hi", 2);
    write_mask_bmp(root, "boundary_GT/a.bmp", 20, 16, 5, 4, 15, 12);
    write_mask_bmp(root, "boundary_GT/b2.bmp", 20, 16, 2, 2, 6, 6);
    write_mask_bmp(root, "boundary_GT/b10.bmp", 20, 16, 2, 2, 6, 6);
    write_mask_bmp(root, "boundary_GT/orphan.bmp", 20, 16, 2, 2, 6, 6);

    sa_dataset *ds = NULL;
    sa_error err = {0};
    int rc = sa_dataset_open("GC", root, sa_dataset_default_params(), &ds, &err);
    CHECKF(rc == SA_OK, "%s", err.msg);
    if (rc != SA_OK) return;
    CHECK(!strcmp(sa_dataset_layout(ds), "grabcut"));
    CHECK(!strcmp(sa_dataset_name(ds), "GC"));
    CHECK(sa_dataset_ignore_value(ds) == 128);
    CHECKF(sa_dataset_count(ds) == 3, "%d", sa_dataset_count(ds));
    if (sa_dataset_count(ds) == 3) { /* byte order of stems */
        CHECK(!strcmp(sa_dataset_item_name(ds, 0), "a"));
        CHECK(!strcmp(sa_dataset_item_name(ds, 1), "b10"));
        CHECK(!strcmp(sa_dataset_item_name(ds, 2), "b2"));
        CHECK(strstr(sa_dataset_mask_path(ds, 0), "boundary_GT/a.bmp") != NULL);
        CHECK(strstr(sa_dataset_image_path(ds, 0), "data_GT/a.png") != NULL);
    }
    CHECKF(sa_dataset_n_warnings(ds) == 3, "%d warnings", sa_dataset_n_warnings(ds));
    CHECK(has_warning(ds, "lonely.png"));
    CHECK(has_warning(ds, "orphan.bmp"));
    CHECK(has_warning(ds, "notes.txt"));
    for (int i = 0; i < sa_dataset_n_warnings(ds); i++)
        CHECK(strchr(sa_dataset_warning(ds, i), '\n') == NULL);

    sa_image img = {0};
    sa_mask gt = {0}, ign = {0};
    rc = sa_dataset_load(ds, 0, &img, &gt, &ign, &err);
    CHECKF(rc == SA_OK, "%s", err.msg);
    if (rc == SA_OK) {
        CHECK(img.width == 20 && img.height == 16 && img.channels == 3);
        CHECKF(sa_mask_area(&gt) == 10 * 8, "gt area %zu", sa_mask_area(&gt));
        CHECKF(ign.data && sa_mask_area(&ign) == 12 * 10 - 10 * 8, "ignore area %zu",
               sa_mask_area(&ign));
        CHECK(gt.data[4 * 20 + 5] == 1 && gt.data[3 * 20 + 5] == 0);
    }
    sa_image_free(&img);
    sa_mask_free(&gt);
    sa_mask_free(&ign);
    CHECK(sa_dataset_load(ds, 3, &img, &gt, &ign, &err) == SA_ERR_RANGE);
    sa_dataset_free(ds);

    /* Overriding the ignore value: 128 becomes object. */
    sa_dataset_params p = sa_dataset_default_params();
    p.ignore_value = SA_DATASET_IGNORE_NONE;
    rc = sa_dataset_open(NULL, root, p, &ds, &err);
    CHECKF(rc == SA_OK, "%s", err.msg);
    if (rc == SA_OK) {
        rc = sa_dataset_load(ds, 0, &img, &gt, &ign, &err);
        CHECK(rc == SA_OK && sa_mask_area(&gt) == 12 * 10 && ign.data == NULL);
        sa_image_free(&img);
        sa_mask_free(&gt);
        sa_mask_free(&ign);
        sa_dataset_free(ds);
    }
    free(root);
}

static void test_generic(const char *imdir, const char *gtdir) {
    char *root = tu_tmpdir();
    mkdir_in(root, imdir);
    mkdir_in(root, gtdir);
    char rel[256];
#define REL(d, f) (snprintf(rel, sizeof rel, "%s/%s", d, f), rel)
    write_image(root, REL(imdir, "good.jpg.png"), 24, 18); /* stem "good.jpg" */
    write_mask_png(root, REL(gtdir, "good.jpg.png"), 24, 18, 3, 3, 9, 9, 255, 1);
    write_image(root, REL(imdir, "rgb.png"), 24, 18);
    write_mask_png(root, REL(gtdir, "rgb.png"), 24, 18, 0, 0, 4, 5, 200,
                   3); /* red object in an RGB mask */
    write_image(root, REL(imdir, "size.png"), 24, 18);
    write_mask_png(root, REL(gtdir, "size.png"), 20, 18, 3, 3, 9, 9, 255, 1);
    write_image(root, REL(imdir, "empty.png"), 24, 18);
    write_mask_png(root, REL(gtdir, "empty.png"), 24, 18, 0, 0, 0, 0, 255, 1);
    write_bytes(root, REL(imdir, "corrupt.jpg"), "\xff\xd8\xff\xe0garbage", 12);
    write_mask_png(root, REL(gtdir, "corrupt.png"), 24, 18, 3, 3, 9, 9, 1, 1);
    write_image(root, REL(imdir, "dup.png"), 24, 18);
    write_image(root, REL(imdir, "dup.PNG"), 24,
                18); /* same stem: reported, first in byte order kept */
    write_mask_png(root, REL(gtdir, "dup.png"), 24, 18, 3, 3, 9, 9, 1, 1);
    write_bytes(root, REL(gtdir, ".hidden"), "x", 1); /* hidden files are not reported */

    sa_dataset *ds = NULL;
    sa_error err = {0};
    int rc = sa_dataset_open("G", root, sa_dataset_default_params(), &ds, &err);
    CHECKF(rc == SA_OK, "%s/%s: %s", imdir, gtdir, err.msg);
    if (rc != SA_OK) {
        free(root);
        return;
    }
    CHECK(!strcmp(sa_dataset_layout(ds), "generic"));
    CHECK(sa_dataset_ignore_value(ds) == SA_DATASET_IGNORE_NONE);
    CHECKF(sa_dataset_count(ds) == 6, "%d items", sa_dataset_count(ds));
    CHECKF(sa_dataset_n_warnings(ds) == 1 && has_warning(ds, "dup.png"), "%d warnings: %s",
           sa_dataset_n_warnings(ds), sa_dataset_n_warnings(ds) ? sa_dataset_warning(ds, 0) : "");
    const char *expect[] = {"corrupt", "dup", "empty", "good.jpg", "rgb", "size"};
    for (int i = 0; i < 6 && i < sa_dataset_count(ds); i++)
        CHECKF(!strcmp(sa_dataset_item_name(ds, i), expect[i]), "item %d: %s", i,
               sa_dataset_item_name(ds, i));
    for (int i = 0; i < sa_dataset_count(ds); i++) {
        sa_image img = {0};
        sa_mask gt = {0}, ign = {0};
        sa_error e = {0};
        const char *name = sa_dataset_item_name(ds, i);
        rc = sa_dataset_load(ds, i, &img, &gt, &ign, &e);
        if (!strcmp(name, "corrupt")) {
            CHECK(rc != SA_OK && strstr(e.msg, "corrupt.jpg"));
        } else if (!strcmp(name, "size")) {
            CHECKF(rc == SA_ERR_RANGE && strstr(e.msg, "size.png") && strstr(e.msg, "20x18"), "%s",
                   e.msg);
        } else if (!strcmp(name, "empty")) {
            CHECKF(rc == SA_ERR_FORMAT && strstr(e.msg, "empty.png") && strstr(e.msg, "empty"),
                   "%s", e.msg);
        } else if (!strcmp(name, "rgb")) {
            CHECKF(rc == SA_OK && sa_mask_area(&gt) == 20, "%s", e.msg);
        } else {
            CHECKF(rc == SA_OK && sa_mask_area(&gt) == 36 && !ign.data, "%s: %s", name, e.msg);
        }
        if (rc != SA_OK) CHECK(img.data == NULL && gt.data == NULL && ign.data == NULL);
        CHECK(strchr(e.msg, '\n') == NULL);
        sa_image_free(&img);
        sa_mask_free(&gt);
        sa_mask_free(&ign);
    }
    sa_dataset_free(ds);
    free(root);
}

static void test_errors(void) {
    sa_dataset *ds = NULL;
    sa_error err = {0};
    /* Missing folder. */
    int rc = sa_dataset_open("X", "/nonexistent/segagent-dataset", sa_dataset_default_params(), &ds,
                             &err);
    CHECK(rc == SA_ERR_IO && ds == NULL && strstr(err.msg, "/nonexistent/segagent-dataset"));
    /* No known layout. */
    char *root = tu_tmpdir();
    mkdir_in(root, "pictures");
    rc = sa_dataset_open("X", root, sa_dataset_default_params(), &ds, &err);
    CHECKF(rc == SA_ERR_NOT_FOUND && ds == NULL && strstr(err.msg, root), "%s", err.msg);
    /* Both folders, but no pair. */
    mkdir_in(root, "images");
    mkdir_in(root, "masks");
    write_image(root, "images/a.png", 8, 8);
    write_mask_png(root, "masks/b.png", 8, 8, 1, 1, 4, 4, 255, 1);
    rc = sa_dataset_open("X", root, sa_dataset_default_params(), &ds, &err);
    CHECKF(rc == SA_ERR_NOT_FOUND && ds == NULL && strstr(err.msg, "no image/mask pairs") &&
               strstr(err.msg, root),
           "%s", err.msg);
    /* Bad ignore value. */
    sa_dataset_params p = sa_dataset_default_params();
    p.ignore_value = 256;
    CHECK(sa_dataset_open("X", root, p, &ds, &err) == SA_ERR_RANGE);
    CHECK(sa_dataset_open("X", NULL, sa_dataset_default_params(), &ds, &err) == SA_ERR_INVALID);
    sa_dataset_free(NULL);
    CHECK(sa_dataset_count(NULL) == 0);
    free(root);
}

/* The real benchmarks in ../shared/data, when present: every file pairs up, GrabCut has its ignore
 * band. */
static void test_shared(void) {
    const char *shared = tu_shared_dir();
    if (!shared) {
        fprintf(stderr, "note: shared folder not found, real datasets not checked\n");
        return;
    }
    struct {
        const char *rel, *layout;
        int count;
    } sets[] = {{"data/GrabCut", "grabcut", 50}, {"data/Berkeley", "generic", 100}};
    for (int k = 0; k < 2; k++) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", shared, sets[k].rel);
        sa_dataset *ds = NULL;
        sa_error err = {0};
        int rc = sa_dataset_open(NULL, dir, sa_dataset_default_params(), &ds, &err);
        CHECKF(rc == SA_OK, "%s", err.msg);
        if (rc != SA_OK) continue;
        CHECK(!strcmp(sa_dataset_layout(ds), sets[k].layout));
        CHECKF(sa_dataset_count(ds) == sets[k].count && sa_dataset_n_warnings(ds) == 0,
               "%s: %d items, %d warnings", dir, sa_dataset_count(ds), sa_dataset_n_warnings(ds));
        sa_image img = {0};
        sa_mask gt = {0}, ign = {0};
        rc = sa_dataset_load(ds, 1, &img, &gt, &ign, &err); /* GrabCut item 1 (124080) has a band */
        CHECKF(rc == SA_OK, "%s", err.msg);
        CHECK(rc != SA_OK || (sa_mask_area(&gt) > 0 && (k == 0) == (ign.data != NULL)));
        sa_image_free(&img);
        sa_mask_free(&gt);
        sa_mask_free(&ign);
        sa_dataset_free(ds);
    }
}

int main(void) {
    test_grabcut();
    test_generic("images", "masks");
    test_generic("img", "gt");
    test_generic("im", "GT");
    test_generic("JPEGImages", "annotations");
    test_errors();
    test_shared();
    return tu_finish("test_dataset");
}
