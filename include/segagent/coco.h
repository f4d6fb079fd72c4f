/* COCO annotation files: the images, the annotations with their segmentation (polygons, compressed
 * or uncompressed RLE), crowd flags and descriptions, and the categories -- read once, checked, and
 * kept in plain records that live as long as the set.
 *
 *   sa_coco_set *set = NULL;
 *   sa_error err = {0};
 *   if (sa_coco_read("instances_val2017.json", sa_coco_default_params(), &set, &err)) {
 *       fprintf(stderr, "%s\n", err.msg);  // "x.json: annotations[12].image_id: expected ..."
 *       return 1;
 *   }
 *   for (int i = 0; i < sa_coco_n_anns(set); i++) {
 *       const sa_coco_ann *a = sa_coco_get_ann(set, i);
 *       const sa_coco_image *im = sa_coco_get_image(set, a->image);  // NULL: unknown image_id
 *       const char *desc = sa_coco_ann_description(set, i);         // caption or category name
 *       sa_mask m = {0};
 *       if (im && sa_coco_ann_mask(set, i, im->height, im->width, &m, &err) == SA_OK) {
 *           ... photo im->file_name, mask m, description desc ...
 *       }
 *       sa_mask_free(&m);
 *   }
 *   sa_coco_free(set);
 *
 * The file (https://cocodataset.org/#format-data, plus the referring-expression fields of RefCOCO):
 *   {"images": [{"id", "file_name", "height", "width", ...}],
 *    "annotations": [{"id", "image_id", "category_id", "segmentation", "iscrowd", "area", "bbox",
 *                     "caption" | "sentences": [{"sent"}] | "description", ...}],
 *    "categories": [{"id", "name", "supercategory"}], ...}
 * "annotations" is required; "images" and "categories" may be missing (a ground-truth file matched
 * by annotation id needs neither). Required per record: images: id, file_name; annotations: id,
 * image_id; categories: id, name. Every other listed key is optional, but when present it must have
 * its type: ids are integers of magnitude <= 2^53, unique within their list (a repeated id is an
 * error naming both records: a lookup would pair with the wrong one), height and width integers in
 * 1..SA_IMAGE_MAX_SIDE with at most SA_IMAGE_MAX_PIXELS pixels (image.h), iscrowd 0 or 1
 * (or false / true), area a number >= 0, bbox four numbers, caption a string or a list of strings,
 * sentences a list whose first entry is an object with a string "sent", description a string.
 * Unknown keys are ignored. Anything else rejects the whole file with SA_ERR_FORMAT and one line
 * naming the file, the record and the key.
 *
 * The segmentation is the exception: it is the annotation's content, not the file's shape, so one
 * bad segmentation (a polygon with an odd count of numbers or a coordinate beyond +-2^20, an RLE
 * whose counts do not add up, a string where a list belongs) makes only that annotation unusable: its kind is SA_COCO_SEG_INVALID
 * and sa_coco_ann_mask returns the reason. Compressed RLE strings are checked (and decoded to runs)
 * while the file is read.
 *
 * Ids are unique, so a lookup by id finds the one record. An annotation whose image_id or
 * category_id matches no record keeps the id, with index -1. Reading is O(n log n) in the number of
 * records and linear in the file size (bench/bench_parse).
 *
 * Ownership: the set owns every record and string; pointers returned by the accessors are valid
 * until sa_coco_free. A set is read-only after sa_coco_read / sa_coco_parse and may be shared
 * between threads.
 */
#ifndef SEGAGENT_COCO_H
#define SEGAGENT_COCO_H

#include <stddef.h>
#include <stdint.h>

#include "segagent/error.h"
#include "segagent/mask.h"
#include "segagent/rle.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_coco_params {
    /* Name of one more per-annotation number to keep in sa_coco_ann.value, e.g. "score" (COCO
     * results) or a field holding a true IoU. Absent or null: NAN. Present, it must be a number in
     * [value_min, value_max]; a string, a list or a number outside is an error naming the record,
     * like any mistyped key. NULL (default): none. */
    const char *value_key;
    double value_min, value_max; /* default 0 and 1 (an IoU or a score) */
    int reserved[4];
} sa_coco_params;

sa_coco_params sa_coco_default_params(void);

typedef struct sa_coco_image {
    int64_t id;
    const char *file_name; /* as written in the file (relative to the images folder) */
    int width, height;     /* 0 when the file does not give them */
} sa_coco_image;

typedef struct sa_coco_category {
    int64_t id;
    const char *name;
    const char *supercategory; /* NULL when absent */
} sa_coco_category;

/* The form of an annotation's "segmentation". */
typedef enum sa_coco_seg_kind {
    SA_COCO_SEG_NONE = 0,       /* absent, null or an empty list */
    SA_COCO_SEG_POLYGONS = 1,   /* [[x0, y0, x1, y1, ...], ...] in pixel coordinates */
    SA_COCO_SEG_RLE = 2,        /* {"size": [h, w], "counts": "<compressed string>"} */
    SA_COCO_SEG_RLE_COUNTS = 3, /* {"size": [h, w], "counts": [n0, n1, ...]} (crowd regions) */
    SA_COCO_SEG_INVALID = 4     /* present but unusable; sa_coco_ann_mask says why */
} sa_coco_seg_kind;

typedef struct sa_coco_ann {
    int64_t id;
    int64_t image_id;
    int image;           /* index of the image with image_id, -1 when there is none */
    int has_category;    /* the annotation has a category_id */
    int64_t category_id; /* 0 when absent */
    int category;        /* index of the category with that id; -1 when absent or unknown */
    int iscrowd;         /* 0 or 1 (0 when absent) */
    double area;         /* "area" as written, NAN when absent */
    int has_bbox;        /* bbox holds "bbox" [x, y, w, h] */
    double bbox[4];
    /* "caption" (of a list: its first entry), else "sentences"[0].sent, else "description"; NULL
     * when none of them is there */
    const char *caption;
    double value;         /* sa_coco_params.value_key's number; NAN when absent or not a number */
    sa_coco_seg_kind seg; /* the form of the segmentation */
    int n_polygons;       /* SA_COCO_SEG_POLYGONS: how many */
    int rle_h, rle_w;     /* SA_COCO_SEG_RLE and _RLE_COUNTS: the size the RLE gives */
} sa_coco_ann;

typedef struct sa_coco_set sa_coco_set;

/* Reads and checks the whole file at path (at most 4 GiB, the library's limit for annotation
 * files). Errors: SA_ERR_IO (cannot open or read; names the file and the reason), SA_ERR_RANGE (too
 * large), SA_ERR_PARSE (not JSON; names the byte), SA_ERR_FORMAT (wrong shape; names the file,
 * record and key), SA_ERR_NOMEM. On error *out is NULL. */
int sa_coco_read(const char *path, sa_coco_params params, sa_coco_set **out, sa_error *err);
/* The same from memory: len bytes (need not be NUL-terminated); name labels the messages (NULL:
 * "annotations"). The buffer is not kept. */
int sa_coco_parse(const char *json, size_t len, const char *name, sa_coco_params params,
                  sa_coco_set **out, sa_error *err);
/* Frees the set and everything it owns. NULL is a no-op. */
void sa_coco_free(sa_coco_set *set);

/* The name given to sa_coco_parse, or the path given to sa_coco_read. */
const char *sa_coco_name(const sa_coco_set *set);
/* 1 when the file has an "images" list (possibly empty), 0 when it has none. */
int sa_coco_has_images(const sa_coco_set *set);

int sa_coco_n_images(const sa_coco_set *set);
int sa_coco_n_anns(const sa_coco_set *set);
int sa_coco_n_categories(const sa_coco_set *set);
/* Record i (0 <= i < count), or NULL when i is out of range or set is NULL. */
const sa_coco_image *sa_coco_get_image(const sa_coco_set *set, int i);
const sa_coco_ann *sa_coco_get_ann(const sa_coco_set *set, int i);
const sa_coco_category *sa_coco_get_category(const sa_coco_set *set, int i);

/* Index of the record with this id, -1 when there is none. O(log n). */
int sa_coco_find_image(const sa_coco_set *set, int64_t id);
int sa_coco_find_ann(const sa_coco_set *set, int64_t id);
int sa_coco_find_category(const sa_coco_set *set, int64_t id);

/* What the annotation shows in words: its caption (see sa_coco_ann.caption), else its category's
 * name; NULL when it has neither (or i is out of range). Owned by the set. */
const char *sa_coco_ann_description(const sa_coco_set *set, int i);

/* Polygon k (0 <= k < n_polygons) of annotation i: *n_points (x, y) pairs at *xy, owned by the set.
 * SA_ERR_INVALID when the annotation has no polygons or k is out of range. */
int sa_coco_ann_polygon(const sa_coco_set *set, int i, int k, const double **xy, size_t *n_points,
                        sa_error *err);

/* The segmentation of annotation i as an RLE of h x w, the size of the image it belongs to (e.g.
 * the decoded photo's). h = w = 0 takes the height and width of the annotation's image record.
 * Polygons are rasterised and merged as the COCO API's annToRLE; an RLE must have exactly that
 * size. out must be zeroed or freed; the caller frees it with sa_rle_free. Errors (out left
 * zeroed): SA_ERR_INVALID for a bad index or an unknown image size with h = w = 0; for a missing,
 * invalid or mismatched segmentation (usually SA_ERR_FORMAT) the message is the reason alone, e.g.
 * "polygon 1 has 5 numbers (need an even count >= 6)" or "RLE size 640x480 differs from the image
 * 480x640" -- the caller names the annotation. */
int sa_coco_ann_rle(const sa_coco_set *set, int i, int h, int w, sa_rle *out, sa_error *err);

/* sa_coco_ann_rle decoded to a 0/1 mask of h x w. out must be zeroed or freed; the caller frees it
 * with sa_mask_free. The errors of sa_coco_ann_rle, and those of sa_rle_decode (huge sizes). */
int sa_coco_ann_mask(const sa_coco_set *set, int i, int h, int w, sa_mask *out, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
