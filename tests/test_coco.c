/* COCO annotation files (segagent/coco.h): a good file with every segmentation form (polygons,
 * compressed RLE, uncompressed crowd RLE, none) and every description source, checked record by
 * record and mask by mask against the RLE module; then the malformed files -- wrong types, missing
 * keys, huge numbers, truncated JSON at every length -- each rejected with one line naming the
 * file, the record and the key; and bad segmentations, which only make their own annotation
 * unusable. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/coco.h"
#include "segagent/rle.h"
#include "testutil.h"

#define W 12
#define H 10

static char rle_str[512];  /* compressed RLE of the test mask */
static char rle_list[512]; /* its runs as a JSON list */
static sa_mask shape;      /* the test mask: a 5x4 block at x 3..7, y 2..5 */

static void make_shape(void) {
    sa_mask_new(&shape, W, H, NULL);
    for (int y = 2; y < 6; y++)
        for (int x = 3; x < 8; x++)
            shape.data[y * W + x] = 1;
    sa_rle r = {0};
    char *s = NULL;
    sa_rle_encode(&shape, &r, NULL);
    sa_rle_to_string(&r, &s, NULL);
    snprintf(rle_str, sizeof rle_str, "%s", s);
    size_t n = 0;
    n += (size_t)snprintf(rle_list + n, sizeof rle_list - n, "[");
    for (size_t i = 0; i < r.m; i++)
        n += (size_t)snprintf(rle_list + n, sizeof rle_list - n, "%s%u", i ? "," : "", r.counts[i]);
    snprintf(rle_list + n, sizeof rle_list - n, "]");
    free(s);
    sa_rle_free(&r);
}

/* The good file: 3 images (one without a size), 2 categories, 9 annotations. */
static char *good_json(void) {
    static char buf[8192];
    snprintf(
        buf, sizeof buf,
        "{\"info\": {\"year\": 2025}, \"licenses\": [],\n"
        " \"images\": [{\"id\": 7, \"file_name\": \"a.png\", \"height\": %d, \"width\": %d},\n"
        "              {\"id\": 8, \"file_name\": \"b.jpg\"},\n"
        "              {\"id\": 9, \"file_name\": \"c.png\", \"height\": 1, \"width\": 1}],\n"
        " \"categories\": [{\"id\": 1, \"name\": \"block\", \"supercategory\": \"shape\"},\n"
        "                  {\"id\": 2, \"name\": \"thing\"}],\n"
        " \"annotations\": [\n"
        "  {\"id\": 100, \"image_id\": 7, \"category_id\": 1, \"iscrowd\": 0, \"area\": 20.0,\n"
        "   \"bbox\": [3, 2, 5, 4], \"segmentation\": [[3, 2, 8, 2, 8, 6, 3, 6]], \"caption\": "
        "\"the block\"},\n"
        "  {\"id\": 101, \"image_id\": 7, \"category_id\": 1, \"segmentation\": {\"size\": [%d, "
        "%d], "
        "\"counts\": \"%s\"}, \"caption\": [\"first\", \"second\"], \"true_iou\": 0.75},\n"
        "  {\"id\": 102, \"image_id\": 7, \"category_id\": 2, \"iscrowd\": 1, \"segmentation\": "
        "{\"size\": [%d, %d], \"counts\": %s}, \"sentences\": [{\"sent\": \"left thing\", \"raw\": "
        "\"x\"}]},\n"
        "  {\"id\": 103, \"image_id\": 8, \"category_id\": 2, \"description\": \"described\",\n"
        "   \"segmentation\": [[1, 1, 4, 1, 4, 4], [6, 6, 9, 6, 9, 9, 6, 9]], \"true_iou\": "
        "null},\n"
        "  {\"id\": 104, \"image_id\": 99, \"category_id\": 1},\n"
        "  {\"id\": 105, \"image_id\": 7, \"segmentation\": [[1, 2, 3, 4, 5]]},\n"
        "  {\"id\": 106, \"image_id\": 7, \"category_id\": 5, \"segmentation\": {\"size\": [%d, "
        "%d], "
        "\"counts\": \"!!\"}},\n"
        "  {\"id\": 107, \"image_id\": 7, \"iscrowd\": true, \"segmentation\": \"polygon\"},\n"
        "  {\"id\": 108, \"image_id\": 8, \"segmentation\": [], \"caption\": []}\n"
        " ]}\n",
        H, W, H, W, rle_str, H, W, rle_list, H, W);
    return buf;
}

static sa_coco_set *parse(const char *text, sa_error *err) {
    sa_coco_params p = sa_coco_default_params();
    p.value_key = "true_iou";
    sa_coco_set *set = NULL;
    int rc = sa_coco_parse(text, strlen(text), "t.json", p, &set, err);
    if (rc != SA_OK) CHECK(set == NULL && err->msg[0]);
    return set;
}

static int masks_equal(const sa_mask *a, const sa_mask *b) {
    return a->width == b->width && a->height == b->height &&
           !memcmp(a->data, b->data, (size_t)a->width * (size_t)a->height);
}

static void test_records(const sa_coco_set *set) {
    CHECK(!strcmp(sa_coco_name(set), "t.json") && sa_coco_has_images(set));
    CHECK(sa_coco_n_images(set) == 3 && sa_coco_n_categories(set) == 2 && sa_coco_n_anns(set) == 9);
    const sa_coco_image *im = sa_coco_get_image(set, 0);
    CHECK(im && im->id == 7 && !strcmp(im->file_name, "a.png") && im->width == W &&
          im->height == H);
    im = sa_coco_get_image(set, 1);
    CHECK(im && im->id == 8 && im->width == 0 && im->height == 0);
    CHECK(!sa_coco_get_image(set, 3) && !sa_coco_get_image(set, -1) && !sa_coco_get_ann(set, 9));
    const sa_coco_category *cat = sa_coco_get_category(set, 0);
    CHECK(cat && cat->id == 1 && !strcmp(cat->name, "block") &&
          !strcmp(cat->supercategory, "shape"));
    CHECK(sa_coco_get_category(set, 1)->supercategory == NULL);
    /* lookups by id */
    CHECK(sa_coco_find_image(set, 7) == 0 && sa_coco_find_image(set, 8) == 1 &&
          sa_coco_find_image(set, 9) == 2 && sa_coco_find_image(set, 10) < 0);
    CHECK(sa_coco_find_ann(set, 100) == 0 && sa_coco_find_ann(set, 104) == 4 &&
          sa_coco_find_ann(set, 108) == 8 && sa_coco_find_ann(set, 1) < 0);
    CHECK(sa_coco_find_category(set, 2) == 1 && sa_coco_find_category(set, 5) < 0);
    const sa_coco_ann *a = sa_coco_get_ann(set, 0);
    CHECK(a->id == 100 && a->image_id == 7 && a->image == 0 && a->has_category && a->category == 0);
    CHECK(a->iscrowd == 0 && a->area == 20.0 && a->has_bbox && a->bbox[2] == 5 && a->bbox[3] == 4);
    CHECK(a->seg == SA_COCO_SEG_POLYGONS && a->n_polygons == 1 && isnan(a->value));
    a = sa_coco_get_ann(set, 1);
    CHECK(a->seg == SA_COCO_SEG_RLE && !strcmp(a->caption, "first") && a->value == 0.75 &&
          isnan(a->area));
    CHECK(a->rle_h == H && a->rle_w == W);
    a = sa_coco_get_ann(set, 2);
    CHECK(a->seg == SA_COCO_SEG_RLE_COUNTS && a->iscrowd == 1 && !strcmp(a->caption, "left thing"));
    a = sa_coco_get_ann(set, 3);
    CHECK(a->image == 1 && a->n_polygons == 2 && !strcmp(a->caption, "described") &&
          isnan(a->value));
    a = sa_coco_get_ann(set, 4);
    CHECK(a->image == -1 && a->image_id == 99 && a->seg == SA_COCO_SEG_NONE && !a->caption &&
          !a->has_bbox);
    CHECK(sa_coco_get_ann(set, 5)->seg == SA_COCO_SEG_INVALID &&
          sa_coco_get_ann(set, 5)->n_polygons == 0);
    a = sa_coco_get_ann(set, 6);
    CHECK(a->seg == SA_COCO_SEG_INVALID && a->has_category && a->category_id == 5 &&
          a->category == -1);
    CHECK(sa_coco_get_ann(set, 7)->seg == SA_COCO_SEG_INVALID &&
          sa_coco_get_ann(set, 7)->iscrowd == 1);
    a = sa_coco_get_ann(set, 8);
    CHECK(a->seg == SA_COCO_SEG_NONE && !a->has_category && a->category == -1 && !a->caption);
    /* descriptions: the caption, else the category's name */
    CHECK(!strcmp(sa_coco_ann_description(set, 0), "the block"));
    CHECK(!strcmp(sa_coco_ann_description(set, 4), "block"));
    CHECK(sa_coco_ann_description(set, 6) == NULL && sa_coco_ann_description(set, 8) == NULL);
    CHECK(sa_coco_ann_description(set, 42) == NULL);
    const double *xy = NULL;
    size_t np = 0;
    CHECK(sa_coco_ann_polygon(set, 3, 1, &xy, &np, NULL) == SA_OK && np == 4 && xy[0] == 6 &&
          xy[7] == 9);
    CHECK(sa_coco_ann_polygon(set, 3, 2, &xy, &np, NULL) == SA_ERR_INVALID && !xy && np == 0);
    CHECK(sa_coco_ann_polygon(set, 1, 0, &xy, &np, NULL) == SA_ERR_INVALID);
}

static void test_masks(const sa_coco_set *set) {
    sa_error err = {0};
    sa_mask m = {0};
    /* every valid form gives the test shape (the polygon is its outline, rasterised as pycocotools)
     */
    double xy[8] = {3, 2, 8, 2, 8, 6, 3, 6};
    sa_rle pr = {0};
    sa_mask want_poly = {0};
    sa_rle_from_polygon(xy, 4, H, W, &pr, NULL);
    sa_rle_decode(&pr, &want_poly, NULL);
    sa_rle_free(&pr);
    CHECK(sa_coco_ann_mask(set, 0, H, W, &m, &err) == SA_OK && masks_equal(&m, &want_poly));
    sa_mask_free(&m);
    CHECK(sa_coco_ann_mask(set, 0, 0, 0, &m, &err) == SA_OK &&
          masks_equal(&m, &want_poly)); /* size of a.png */
    sa_mask_free(&m);
    sa_mask_free(&want_poly);
    for (int i = 1; i <= 2; i++) {
        CHECKF(sa_coco_ann_mask(set, i, H, W, &m, &err) == SA_OK && masks_equal(&m, &shape),
               "ann %d: %s", i, err.msg);
        sa_mask_free(&m);
    }
    /* two polygons are merged (annToRLE): the union of both rasterisations */
    sa_rle r = {0};
    CHECK(sa_coco_ann_rle(set, 3, 20, 30, &r, &err) == SA_OK && r.h == 20 && r.w == 30 &&
          sa_rle_area(&r) > 0);
    sa_rle_free(&r);
    CHECK(sa_coco_ann_rle(set, 3, 0, 0, &r, &err) == SA_ERR_INVALID &&
          strstr(err.msg, "size of its image"));
    /* errors: the reason alone */
    CHECK(sa_coco_ann_mask(set, 1, W, H, &m, &err) == SA_ERR_FORMAT && !m.data);
    CHECKF(!strcmp(err.msg, "RLE size 12x10 differs from the image 10x12"), "%s", err.msg);
    CHECK(sa_coco_ann_mask(set, 4, H, W, &m, &err) == SA_ERR_FORMAT &&
          !strcmp(err.msg, "no segmentation"));
    CHECK(sa_coco_ann_mask(set, 5, H, W, &m, &err) == SA_ERR_FORMAT);
    CHECKF(!strcmp(err.msg, "polygon 0 has 5 numbers (need an even count >= 6)"), "%s", err.msg);
    CHECK(sa_coco_ann_mask(set, 6, H, W, &m, &err) != SA_OK && err.msg[0]);
    CHECK(sa_coco_ann_mask(set, 7, H, W, &m, &err) == SA_ERR_FORMAT &&
          !strcmp(err.msg, "no segmentation"));
    CHECK(sa_coco_ann_mask(set, 9, H, W, &m, &err) == SA_ERR_INVALID && !m.data);
    CHECK(sa_coco_ann_mask(NULL, 0, H, W, &m, &err) == SA_ERR_INVALID);
}

/* Each case: one malformed file; the message must name the file and contain `want`. */
static void expect_bad(const char *text, int code, const char *want) {
    sa_error err = {0};
    sa_coco_set *set = parse(text, &err);
    CHECKF(set == NULL && err.code == code, "accepted or wrong code %d for: %s", err.code, text);
    CHECKF(strstr(err.msg, "t.json") && strstr(err.msg, want) && !strchr(err.msg, '\n'),
           "message '%s' lacks '%s'", err.msg, want);
    sa_coco_free(set);
}

static void test_malformed(void) {
    const int F = SA_ERR_FORMAT;
    expect_bad("", SA_ERR_PARSE, "not valid JSON (empty)");
    expect_bad("{\"annotations\": [", SA_ERR_PARSE, "ends early");
    expect_bad("{\"annotations\": [}]", SA_ERR_PARSE, "near byte");
    expect_bad("[]", F, "top level is not an object");
    { /* too deeply nested for the reader: said so, not "not valid JSON" */
        static char deep[4200];
        int n = snprintf(deep, sizeof deep, "{\"annotations\": [], \"x\": ");
        for (int i = 0; i < 1500; i++)
            deep[n++] = '[';
        for (int i = 0; i < 1500; i++)
            deep[n++] = ']';
        snprintf(deep + n, sizeof deep - (size_t)n, "}");
        expect_bad(deep, SA_ERR_PARSE, "JSON nested deeper than 1000 levels");
    }
    expect_bad("{\"images\": []}", F, "needs an \"annotations\" array");
    expect_bad("{\"annotations\": {}}", F, "\"annotations\" must be a list (got an object)");
    expect_bad("{\"annotations\": [], \"images\": null}", F,
               "\"images\" must be a list (got null)");
    expect_bad("{\"annotations\": [], \"categories\": 3}", F, "\"categories\" must be a list");
    expect_bad("{\"annotations\": [], \"images\": [3]}", F,
               "images[0]: expected an object (got a number)");
    expect_bad("{\"annotations\": [], \"images\": [{\"file_name\": \"a\"}]}", F,
               "images[0]: no \"id\"");
    expect_bad("{\"annotations\": [], \"images\": [{\"id\": \"7\", \"file_name\": \"a\"}]}", F,
               "images[0].id: expected an integer (got a string)");
    expect_bad("{\"annotations\": [], \"images\": [{\"id\": 1.5, \"file_name\": \"a\"}]}", F,
               "images[0].id: expected an integer (got 1.5)");
    expect_bad("{\"annotations\": [], \"images\": [{\"id\": 1}]}", F,
               "images[0]: no \"file_name\"");
    expect_bad("{\"annotations\": [], \"images\": [{\"id\": 1, \"file_name\": 5}]}", F,
               "images[0].file_name: expected a string");
    expect_bad("{\"annotations\": [], \"images\": [{\"id\": 1, \"file_name\": \"a\"}, "
               "{\"id\": 2, \"file_name\": \"b\", \"height\": 0}]}",
               F, "images[1].height: expected an integer in 1..32768 (got 0)");
    expect_bad(
        "{\"annotations\": [], \"images\": [{\"id\": 1, \"file_name\": \"a\", \"width\": 1e10}]}",
        F, "images[0].width");
    /* sizes beyond the image limits, negative sizes */
    expect_bad("{\"annotations\": [], \"images\": [{\"id\": 1, \"file_name\": \"a\", "
               "\"height\": 100000, \"width\": 10}]}",
               F, "images[0].height: expected an integer in 1..32768 (got 100000)");
    expect_bad("{\"annotations\": [], \"images\": [{\"id\": 1, \"file_name\": \"a\", "
               "\"height\": 10, \"width\": -640}]}",
               F, "images[0].width: expected an integer in 1..32768 (got -640)");
    expect_bad("{\"annotations\": [], \"images\": [{\"id\": 1, \"file_name\": \"a\", "
               "\"height\": 30000, \"width\": 30000}]}",
               F, "images[0]: 30000x30000 is above the image limit of 268435456 pixels");
    /* repeated ids: an error naming both records */
    expect_bad("{\"annotations\": [{\"id\": 5, \"image_id\": 1}, {\"id\": 6, \"image_id\": 1}, "
               "{\"id\": 5, \"image_id\": 2}, {\"id\": 6, \"image_id\": 2}]}",
               F, "annotations[2].id: 5 is also the id of annotations[0]");
    expect_bad("{\"annotations\": [], \"images\": [{\"id\": 3, \"file_name\": \"a\"}, "
               "{\"id\": 3, \"file_name\": \"b\"}]}",
               F, "images[1].id: 3 is also the id of images[0]");
    expect_bad("{\"annotations\": [], \"categories\": [{\"id\": 1, \"name\": \"a\"}, "
               "{\"id\": 1, \"name\": \"b\"}]}",
               F, "categories[1].id: 1 is also the id of categories[0]");
    /* the true-IoU field: a number in 0..1 when present */
    expect_bad("{\"annotations\": [{\"id\": 1, \"image_id\": 1, \"true_iou\": 0.5}, "
               "{\"id\": 2, \"image_id\": 1, \"true_iou\": \"0.9\"}]}",
               F, "annotations[1].true_iou: expected a number in 0..1 (got a string)");
    expect_bad("{\"annotations\": [{\"id\": 1, \"image_id\": 1, \"true_iou\": 7.5}]}", F,
               "annotations[0].true_iou: expected a number in 0..1 (got 7.5)");
    expect_bad("{\"annotations\": [{\"id\": 1, \"image_id\": 1, \"true_iou\": -0.1}]}", F,
               "annotations[0].true_iou: expected a number in 0..1 (got -0.1)");
    expect_bad("{\"annotations\": [{\"id\": 1, \"image_id\": 1, \"true_iou\": [1]}]}", F,
               "annotations[0].true_iou: expected a number in 0..1 (got a list)");
    expect_bad("{\"annotations\": [], \"categories\": [{\"id\": 1}]}", F,
               "categories[0]: no \"name\"");
    expect_bad("{\"annotations\": [], \"categories\": [{\"id\": 1, \"name\": \"a\", "
               "\"supercategory\": []}]}",
               F, "categories[0].supercategory: expected a string (got a list)");
    expect_bad("{\"annotations\": [\"x\"]}", F,
               "annotations[0]: expected an object (got a string)");
    expect_bad("{\"annotations\": [{\"image_id\": 1}]}", F, "annotations[0]: no \"id\"");
    expect_bad("{\"annotations\": [{\"id\": 1, \"image_id\": 1}, {\"id\": 2}]}", F,
               "annotations[1]: no \"image_id\" (expected an integer)");
    expect_bad("{\"annotations\": [{\"id\": 1, \"image_id\": 1e300}]}", F,
               "annotations[0].image_id: expected an integer (got 1e+300)");
    expect_bad("{\"annotations\": [{\"id\": 1e400, \"image_id\": 1}]}", F, "annotations[0].id");
    expect_bad("{\"annotations\": [{\"id\": 9007199254740994, \"image_id\": 1}]}", F,
               "annotations[0].id: expected an integer (got 9007199254740994)");
    expect_bad("{\"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": true}]}", F,
               "annotations[0].category_id: expected an integer (got true/false)");
    expect_bad("{\"annotations\": [{\"id\": 1, \"image_id\": 1, \"iscrowd\": 2}]}", F,
               "annotations[0].iscrowd: expected 0 or 1 (got 2)");
    expect_bad("{\"annotations\": [{\"id\": 1, \"image_id\": 1, \"area\": -1}]}", F,
               "annotations[0].area: expected a number >= 0");
    expect_bad("{\"annotations\": [{\"id\": 1, \"image_id\": 1, \"bbox\": [1, 2, 3]}]}", F,
               "annotations[0].bbox: expected [x, y, width, height]");
    expect_bad("{\"annotations\": [{\"id\": 1, \"image_id\": 1, \"bbox\": [1, 2, 3, \"4\"]}]}", F,
               "annotations[0].bbox: expected four numbers (got a string)");
    expect_bad("{\"annotations\": [{\"id\": 1, \"image_id\": 1, \"caption\": 3}]}", F,
               "annotations[0].caption: expected a string or a list of strings (got 3)");
    expect_bad("{\"annotations\": [{\"id\": 1, \"image_id\": 1, \"caption\": [\"a\", {}]}]}", F,
               "annotations[0].caption: expected a list of strings (got an object)");
    expect_bad("{\"annotations\": [{\"id\": 1, \"image_id\": 1, \"sentences\": \"a\"}]}", F,
               "annotations[0].sentences: expected a list");
    expect_bad(
        "{\"annotations\": [{\"id\": 1, \"image_id\": 1, \"sentences\": [\"a\"]}]}", F,
        "annotations[0].sentences: expected a list of {\"sent\": ...} objects (got a string)");
    expect_bad("{\"annotations\": [{\"id\": 1, \"image_id\": 1, \"sentences\": [{\"sent\": 1}]}]}",
               F, "annotations[0].sentences[0].sent: expected a string (got 1)");
    expect_bad("{\"annotations\": [{\"id\": 1, \"image_id\": 1, \"description\": null}]}", F,
               "annotations[0].description: expected a string (got null)");
}

/* Every proper prefix of the good file is truncated JSON: rejected cleanly, never read past its
 * end. */
static void test_truncated(void) {
    const char *good = good_json();
    size_t len = strlen(good), last = (size_t)(strrchr(good, '}') - good);
    int bad_code = 0;
    for (size_t n = 0; n <= last; n++) {
        char *cut = malloc(n ? n : 1); /* exactly n bytes: ASan catches any read beyond */
        memcpy(cut, good, n);
        sa_coco_set *set = NULL;
        sa_error err = {0};
        int rc = sa_coco_parse(cut, n, "t.json", sa_coco_default_params(), &set, &err);
        if (rc != SA_ERR_PARSE || set || !strstr(err.msg, "t.json: not valid JSON")) bad_code++;
        sa_coco_free(set);
        free(cut);
    }
    CHECKF(bad_code == 0, "%d truncations not reported as invalid JSON", bad_code);
    sa_coco_set *set = NULL;
    CHECK(sa_coco_parse(good, len, "t.json", sa_coco_default_params(), &set, NULL) == SA_OK && set);
    sa_coco_free(set);
}

static void test_bad_segmentations(void) {
    /* RLE size mismatch against its own counts, an RLE string with a bad byte, runs not adding up:
     * each only spoils its own annotation */
    char text[2048];
    snprintf(
        text, sizeof text,
        "{\"annotations\": [{\"id\": 1, \"image_id\": 1, \"segmentation\": {\"size\": [%d, %d], "
        "\"counts\": "
        "\"%s\"}},\n"
        " {\"id\": 2, \"image_id\": 1, \"segmentation\": {\"size\": [2, 2], \"counts\": [1, 2]}},\n"
        " {\"id\": 3, \"image_id\": 1, \"segmentation\": {\"size\": [2], \"counts\": [4]}},\n"
        " {\"id\": 4, \"image_id\": 1, \"segmentation\": [[1, 2, 3, 4, 5, \"6\"]]},\n"
        " {\"id\": 5, \"image_id\": 1, \"segmentation\": [[0, 0, 1e300, 0, 1e300, 1e300]]},\n"
        " {\"id\": 7, \"image_id\": 1, \"segmentation\": [[-1e300, -1e300, 1e300, -1e300, 1e300, "
        "1e300]]},\n"
        " {\"id\": 6, \"image_id\": 1, \"segmentation\": {\"size\": [2, 2], \"counts\": [0, 4]}}]}",
        H + 1, W, rle_str);
    sa_error err = {0};
    sa_coco_set *set = parse(text, &err);
    CHECKF(set != NULL, "%s", err.msg);
    if (!set) return;
    CHECK(sa_coco_has_images(set) == 0 && sa_coco_n_images(set) == 0);
    sa_mask m = {0};
    for (int i = 0; i < 3; i++) {
        CHECKF(sa_coco_get_ann(set, i)->seg == SA_COCO_SEG_INVALID, "ann %d kind %d", i,
               sa_coco_get_ann(set, i)->seg);
        CHECK(sa_coco_ann_mask(set, i, 2, 2, &m, &err) != SA_OK && err.msg[0] && !m.data);
    }
    CHECK(sa_coco_ann_mask(set, 3, H, W, &m, &err) == SA_ERR_FORMAT &&
          !strcmp(err.msg, "polygon 0: non-number"));
    /* huge coordinates: no pixel of any image; the annotation is unusable, saying why */
    for (int i = 4; i <= 5; i++) {
        CHECK(sa_coco_get_ann(set, i)->seg == SA_COCO_SEG_INVALID);
        CHECK(sa_coco_ann_mask(set, i, H, W, &m, &err) == SA_ERR_FORMAT && !m.data);
        CHECKF(strstr(err.msg, "coordinate") && strstr(err.msg, "1e+300") &&
                   strstr(err.msg, "outside -1048576..1048576"),
               "%s", err.msg);
    }
    CHECK(sa_coco_ann_mask(set, 6, 2, 2, &m, &err) == SA_OK && sa_mask_area(&m) == 4);
    sa_mask_free(&m);
    sa_coco_free(set);
}

static void test_read_file(void) {
    char *dir = tu_tmpdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/anns.json", dir);
    FILE *f = fopen(path, "wb");
    fputs(good_json(), f);
    fclose(f);
    sa_coco_set *set = NULL;
    sa_error err = {0};
    CHECKF(sa_coco_read(path, sa_coco_default_params(), &set, &err) == SA_OK, "%s", err.msg);
    CHECK(set && !strcmp(sa_coco_name(set), path) && sa_coco_n_anns(set) == 9);
    CHECK(set && isnan(sa_coco_get_ann(set, 1)->value)); /* no value key asked for */
    sa_coco_free(set);
    snprintf(path, sizeof path, "%s/missing.json", dir);
    CHECK(sa_coco_read(path, sa_coco_default_params(), &set, &err) == SA_ERR_IO && !set);
    CHECK(strstr(err.msg, "missing.json") != NULL);
    CHECK(sa_coco_read(dir, sa_coco_default_params(), &set, &err) != SA_OK && !set); /* a folder */
    CHECK(sa_coco_parse("{}", 2, NULL, sa_coco_default_params(), NULL, &err) == SA_ERR_INVALID);
    CHECK(sa_coco_parse("{}", 2, NULL, sa_coco_default_params(), &set, &err) == SA_ERR_FORMAT);
    CHECK(strstr(err.msg, "annotations: needs") == err.msg); /* the default name */
    sa_coco_free(NULL);
    CHECK(sa_coco_n_anns(NULL) == 0 && sa_coco_find_ann(NULL, 1) == -1 &&
          sa_coco_get_ann(NULL, 0) == NULL);
    tu_rmtree(dir);
    free(dir);
}

int main(void) {
    make_shape();
    sa_error err = {0};
    sa_coco_set *set = parse(good_json(), &err);
    CHECKF(set != NULL, "good file rejected: %s", err.msg);
    if (set) {
        test_records(set);
        test_masks(set);
    }
    sa_coco_free(set);
    test_malformed();
    test_truncated();
    test_bad_segmentations();
    test_read_file();
    sa_mask_free(&shape);
    return tu_finish("test_coco");
}
