/* libFuzzer target for the COCO annotation reader (untrusted files from other tools and datasets).
 * Whatever is accepted must be internally consistent: image and category indexes point at records
 * with the annotation's ids, lookups by id find a record with that id, descriptions come from the
 * caption or the category, polygons hold the points they claim, and every annotation either yields
 * a mask or a one-line reason. Masks are only rasterised when small (memory and time), so huge
 * sizes are parsed, not decoded. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/coco.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_lookups(const sa_coco_set *set) {
    for (int i = 0; i < sa_coco_n_images(set); i++) {
        int j = sa_coco_find_image(set, sa_coco_get_image(set, i)->id);
        if (j != i ||
            sa_coco_get_image(set, j)->id != sa_coco_get_image(set, i)->id) /* ids are unique */
            abort();
        if (!sa_coco_get_image(set, i)->file_name) abort();
    }
    for (int i = 0; i < sa_coco_n_categories(set); i++) {
        int j = sa_coco_find_category(set, sa_coco_get_category(set, i)->id);
        if (j != i || !sa_coco_get_category(set, i)->name) abort();
    }
    for (int i = 0; i < sa_coco_n_anns(set); i++) {
        const sa_coco_ann *a = sa_coco_get_ann(set, i);
        int j = sa_coco_find_ann(set, a->id);
        if (j != i || sa_coco_get_ann(set, j)->id != a->id) abort();
        const sa_coco_image *im = sa_coco_get_image(set, a->image);
        if ((a->image >= 0) != (im != NULL) || (im && im->id != a->image_id)) abort();
        if (a->image < 0 && sa_coco_find_image(set, a->image_id) >= 0) abort();
        const sa_coco_category *cat = sa_coco_get_category(set, a->category);
        if ((a->category >= 0) != (cat != NULL) ||
            (cat && (!a->has_category || cat->id != a->category_id)))
            abort();
        const char *d = sa_coco_ann_description(set, i);
        if (d != (a->caption ? a->caption : cat ? cat->name : NULL)) abort();
        if (a->iscrowd != 0 && a->iscrowd != 1) abort();
    }
}

/* Polygons inside a small box (the rasteriser's cost grows with the outline length). */
static int small_polygons(const sa_coco_set *set, int i) {
    const sa_coco_ann *a = sa_coco_get_ann(set, i);
    for (int k = 0; k < a->n_polygons; k++) {
        const double *xy = NULL;
        size_t n = 0;
        if (sa_coco_ann_polygon(set, i, k, &xy, &n, NULL) != SA_OK || n < 3 || !xy) abort();
        for (size_t j = 0; j < 2 * n; j++)
            if (!(fabs(xy[j]) <= 256)) return 0;
    }
    return 1;
}

static void check_mask(const sa_coco_set *set, int i) {
    const sa_coco_ann *a = sa_coco_get_ann(set, i);
    int h = 24, w = 32;
    if (a->seg == SA_COCO_SEG_RLE || a->seg == SA_COCO_SEG_RLE_COUNTS) {
        h = a->rle_h;
        w = a->rle_w;
        if ((uint64_t)h * (uint64_t)w > (1u << 16)) return;
    }
    if (a->seg == SA_COCO_SEG_POLYGONS && !small_polygons(set, i)) return;
    sa_mask m = {0};
    sa_error err = {0};
    int rc = sa_coco_ann_mask(set, i, h, w, &m, &err);
    int must_work =
        (a->seg == SA_COCO_SEG_RLE || a->seg == SA_COCO_SEG_RLE_COUNTS) && h > 0 && w > 0;
    if (must_work && rc != SA_OK) abort();
    if (a->seg == SA_COCO_SEG_POLYGONS && rc != SA_OK && rc != SA_ERR_RANGE) abort();
    if ((a->seg == SA_COCO_SEG_NONE || a->seg == SA_COCO_SEG_INVALID) &&
        (rc == SA_OK || !err.msg[0]))
        abort();
    if (rc == SA_OK && (m.width != w || m.height != h || !m.data)) abort();
    if (rc != SA_OK && (m.data || strchr(err.msg, '\n'))) abort();
    sa_mask_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sa_coco_params p = sa_coco_default_params();
    p.value_key = "score";
    sa_coco_set *set = NULL;
    sa_error err = {0};
    if (sa_coco_parse((const char *)data, size, "fuzz", p, &set, &err) != SA_OK) {
        if (set || !err.msg[0] || strchr(err.msg, '\n')) abort();
        return 0;
    }
    check_lookups(set);
    for (int i = 0; i < sa_coco_n_anns(set) && i < 64; i++)
        check_mask(set, i);
    sa_coco_free(set);
    return 0;
}
