/* Image tests on the shared data (skipped with 77 when ../shared is missing):
 *  - every benchmark file loads: GrabCut 50 images (jpg/bmp) + 50 masks (bmp, values 0/128/255),
 * Berkeley 100 images (jpg) + 100 masks (png, values 0/255); masks have the size of their image;
 *  - sa_image_resize_bilinear matches Pillow's BILINEAR resize stored as `resized_image` in
 *    fixtures/sam/{tiny,b1024}/expected.safetensors (parsed here directly with cJSON). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "segagent/image.h"
#include "testutil.h"

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted file names in dir (malloc'd array of malloc'd names). */
static char **list_dir(const char *dir, int *count) {
    *count = 0;
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, sizeof *names * (size_t)cap);
            if (!names) exit(1);
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    *count = n;
    return names;
}

static void free_list(char **names, int n) {
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static char *join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (!p) exit(1);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

/* Strips the extension of name into stem. */
static void stem_of(const char *name, char *stem, size_t cap) {
    snprintf(stem, cap, "%s", name);
    char *dot = strrchr(stem, '.');
    if (dot) *dot = '\0';
}

/* Loads every image of img_dir and its mask <stem>.<mask_ext> in mask_dir; checks the mask values
 * are in allowed[] (n_allowed entries). Returns the number of images. */
static int check_dataset(const char *name, const char *img_dir, const char *mask_dir,
                         const char *mask_ext, const int *allowed, int n_allowed,
                         long long max_other, int want_images) {
    int n = 0, loaded = 0, masks = 0;
    char **files = list_dir(img_dir, &n);
    CHECKF(files != NULL, "%s: cannot list %s", name, img_dir);
    CHECKF(n == want_images, "%s: %d images, expected %d", name, n, want_images);
    long long seen[256] = {0};
    for (int i = 0; i < n; i++) {
        char *path = join(img_dir, files[i]);
        sa_image img = {0}, mv = {0};
        sa_error err = {0};
        int rc = sa_image_load(path, &img, &err);
        CHECKF(rc == SA_OK, "%s", err.msg);
        if (rc == SA_OK) {
            loaded++;
            CHECKF(img.channels == 3 && img.width > 0 && img.height > 0, "%s: bad image", path);
        }
        char stem[256], mname[300];
        stem_of(files[i], stem, sizeof stem);
        snprintf(mname, sizeof mname, "%s.%s", stem, mask_ext);
        char *mpath = join(mask_dir, mname);
        rc = sa_image_load_values(mpath, &mv, &err);
        CHECKF(rc == SA_OK, "%s", err.msg);
        if (rc == SA_OK) {
            masks++;
            CHECKF(mv.channels == 1 && mv.width == img.width && mv.height == img.height,
                   "%s: mask %dx%d vs image %dx%d", mpath, mv.width, mv.height, img.width,
                   img.height);
            size_t np = (size_t)mv.width * (size_t)mv.height;
            long long fg = 0;
            for (size_t k = 0; k < np; k++) {
                seen[mv.data[k]]++;
                fg += mv.data[k] == 255;
            }
            CHECKF(fg > 0, "%s: no object pixels", mpath);
        }
        sa_image_free(&img);
        sa_image_free(&mv);
        free(mpath);
        free(path);
    }
    /* value set over the whole dataset */
    long long other = 0;
    for (int v = 0; v < 256; v++) {
        int ok = 0;
        for (int k = 0; k < n_allowed; k++)
            ok |= allowed[k] == v;
        if (!ok) other += seen[v];
    }
    printf("%s: %d images and %d masks loaded; mask values:", name, loaded, masks);
    for (int v = 0; v < 256; v++)
        if (seen[v]) printf(" %d(%lld)", v, seen[v]);
    printf("\n");
    CHECKF(other <= max_other, "%s: %lld mask pixels with unexpected values", name, other);
    free_list(files, n);
    return loaded;
}

static void test_datasets(const char *shared) {
    char *gi = join(shared, "data/GrabCut/data_GT"), *gm = join(shared, "data/GrabCut/boundary_GT");
    char *bi = join(shared, "data/Berkeley/images"), *bm = join(shared, "data/Berkeley/masks");
    const int grabcut_vals[] = {0, 128, 255};
    check_dataset("GrabCut", gi, gm, "bmp", grabcut_vals, 3, 0, 50);
    /* Berkeley masks are RGB PNGs with 0 / 255; 8023.png has two stray pixels (197, 243), object
     * either way */
    const int berkeley_vals[] = {0, 255};
    check_dataset("Berkeley", bi, bm, "png", berkeley_vals, 2, 2, 100);
    free(gi), free(gm), free(bi), free(bm);
}

/* ---------------------------------------------------------------- resize parity */

/* Finds tensor `name` in a safetensors file; returns a pointer into buf and fills shape. */
static const uint8_t *st_find(const char *buf, size_t len, const char *name, const char *dtype,
                              int64_t shape[4], int *ndim, size_t *nbytes) {
    if (len < 8) return NULL;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | (uint8_t)buf[i];
    if (hl > len - 8) return NULL;
    cJSON *root = cJSON_ParseWithLength(buf + 8, (size_t)hl);
    if (!root) return NULL;
    const uint8_t *res = NULL;
    cJSON *t = cJSON_GetObjectItemCaseSensitive(root, name);
    cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
    cJSON *sh = cJSON_GetObjectItemCaseSensitive(t, "shape");
    cJSON *off = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
    if (cJSON_IsString(dt) && !strcmp(dt->valuestring, dtype) && cJSON_IsArray(sh) &&
        cJSON_IsArray(off) && cJSON_GetArraySize(off) == 2 && cJSON_GetArraySize(sh) <= 4) {
        *ndim = cJSON_GetArraySize(sh);
        size_t count = 1;
        for (int i = 0; i < *ndim; i++) {
            shape[i] = (int64_t)cJSON_GetArrayItem(sh, i)->valuedouble;
            count *= (size_t)shape[i];
        }
        double b = cJSON_GetArrayItem(off, 0)->valuedouble,
               e = cJSON_GetArrayItem(off, 1)->valuedouble;
        size_t data_len = len - 8 - (size_t)hl;
        if (b >= 0 && e >= b && e <= (double)data_len && (size_t)(e - b) == count) {
            res = (const uint8_t *)buf + 8 + hl + (size_t)b;
            *nbytes = (size_t)(e - b);
        }
    }
    cJSON_Delete(root);
    return res;
}

static void test_resize_fixture(const char *shared, const char *dir, int S) {
    char rel[256];
    snprintf(rel, sizeof rel, "fixtures/sam/%s/image.png", dir);
    char *ipath = join(shared, rel);
    snprintf(rel, sizeof rel, "fixtures/sam/%s/expected.safetensors", dir);
    char *epath = join(shared, rel);
    sa_image img = {0}, out = {0};
    sa_error err = {0};
    size_t len = 0;
    char *buf = tu_read_file(epath, &len);
    CHECKF(buf != NULL, "cannot read %s", epath);
    int rc = sa_image_load(ipath, &img, &err);
    CHECKF(rc == SA_OK, "%s", err.msg);
    if (buf && rc == SA_OK) {
        int64_t shape[4] = {0};
        int ndim = 0;
        size_t nb = 0;
        const uint8_t *want = st_find(buf, len, "resized_image", "U8", shape, &ndim, &nb);
        CHECKF(want != NULL && ndim == 3 && shape[2] == 3, "%s: resized_image missing or malformed",
               epath);
        /* SAM's ResizeLongestSide: longest side to S, newh = int(h * S / max(h, w) + 0.5) */
        int h = img.height, w = img.width, mx = h > w ? h : w;
        double scale = (double)S / mx;
        int newh = (int)(h * scale + 0.5), neww = (int)(w * scale + 0.5);
        if (want && ndim == 3) {
            CHECKF(shape[0] == newh && shape[1] == neww, "%s: expected %lldx%lld, computed %dx%d",
                   dir, (long long)shape[1], (long long)shape[0], neww, newh);
            rc = sa_image_resize_bilinear(&img, neww, newh, &out, &err);
            CHECKF(rc == SA_OK, "%s", err.msg);
            if (rc == SA_OK && shape[0] == newh && shape[1] == neww) {
                size_t n = (size_t)newh * (size_t)neww * 3, ndiff = 0;
                int maxd = 0;
                for (size_t i = 0; i < n; i++) {
                    int d = abs((int)out.data[i] - (int)want[i]);
                    if (d) ndiff++;
                    if (d > maxd) maxd = d;
                }
                printf("resize %s: %dx%d -> %dx%d, max diff %d, %zu of %zu values differ\n", dir, w,
                       h, neww, newh, maxd, ndiff, n);
                CHECKF(maxd <= 1, "%s: resize max diff %d", dir, maxd);
                /* Our arithmetic is Pillow's: demand bit-exactness so a regression is caught at
                 * once. */
                CHECKF(ndiff == 0, "%s: %zu values differ from Pillow", dir, ndiff);
            }
        }
    }
    sa_image_free(&out);
    sa_image_free(&img);
    free(buf);
    free(ipath);
    free(epath);
}

int main(void) {
    const char *shared = tu_require_shared();
    test_datasets(shared);
    test_resize_fixture(shared, "tiny", 256);
    test_resize_fixture(shared, "b1024", 1024);
    return tu_finish("test_image_data");
}
