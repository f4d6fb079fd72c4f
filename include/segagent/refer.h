/* Referring-segmentation datasets as distributed: the RefCOCO family (RefCOCO, RefCOCO+, RefCOCOg).
 *
 *   sa_refer *ds = NULL;
 *   sa_error err = {0};
 *   sa_refer_params p = sa_refer_default_params();        // one sample per sentence, splitBy by
 * name if (sa_refer_open("refcoco", "val", "refer/refcoco", "images/train2014", p, &ds, &err)) {
 *       fprintf(stderr, "%s\n", err.msg);
 *       return 1;
 *   }
 *   for (int i = 0; i < sa_refer_n_warnings(ds); i++) fprintf(stderr, "%s\n", sa_refer_warning(ds,
 * i)); for (int i = 0; i < sa_refer_count(ds); i++) { const sa_refer_sample *s = sa_refer_get(ds,
 * i);   // s->caption, s->image_path, ids sa_image img = {0}; sa_mask gt = {0}; if
 * (sa_refer_load(ds, i, &img, &gt, &err)) { ...report err.msg (names file and item), skip... }
 *       ...
 *       sa_image_free(&img);
 *       sa_mask_free(&gt);
 *   }
 *   sa_refer_free(ds);
 *
 * Also SegAgent's released JSON, any COCO instances file, HRES (DIS5K, ThinObject5K) and the
 * built-in scenes, through the other sa_refer_open_* functions below.
 *
 * On disk (https://github.com/lichengunc/refer): DIR holds refs(<splitBy>).p and instances.json;
 * the images are in another folder (COCO train2014), named by instances.json's file_name. The
 * pickle is a list of ref dicts {ref_id, ann_id, image_id, category_id, split, sentences: [{sent,
 * raw, sent_id, tokens}], file_name, ...}; it is read by the restricted unpickler (nothing is
 * executed: containers and scalars only; Python 2 and Python 3 pickles, protocols 0-5). splitBy is
 * umd for a name starting with "refcocog", unc otherwise, unless params.split_by says. A ref's
 * file_name is ignored (it names no file), as in REFER.
 *
 * Samples: one per sentence (the LISA / SegAgent convention) in pickle order, or with
 * params.per_ref one per ref (caption = its first sentence). Bad items do not stop the set: a ref
 * that is not a dict with integer ref_id / ann_id / image_id, whose annotation or image is not in
 * instances.json, whose image file is missing, or that has no sentence is skipped with one warning
 * naming the file and the ref. A bad mask (polygon outside the image, an empty mask, a corrupt
 * segmentation) is found when the sample is loaded: sa_refer_load fails for it alone.
 */
#ifndef SEGAGENT_REFER_H
#define SEGAGENT_REFER_H

#include <stddef.h>
#include <stdint.h>

#include "segagent/coco.h"
#include "segagent/error.h"
#include "segagent/image.h"
#include "segagent/mask.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_refer_params {
    const char *split_by; /* "unc", "umd" or "google"; NULL (default): by the dataset name */
    int per_ref;          /* 1: one sample per ref; 0 (default): one per sentence */
    /* sa_refer_open_coco only: annotations with "area" below min_area (default 0: all) and, when
     * category is set, of another category name are left out */
    double min_area;
    const char *category;
    /* sa_refer_open_hres only: a captions file (name<TAB>caption lines, or a JSON object of name: caption;
     * a name is a file name without extension, optionally "PART/name"). A listed image takes that caption;
     * the others keep the caption from the file name. NULL (default): none. */
    const char *captions;
    int reserved[4];
} sa_refer_params;

sa_refer_params sa_refer_default_params(void);

typedef struct sa_refer_sample {
    const char *id; /* "<ref_id>" per ref, "<ref_id>_<sent_id>" per sentence; unique in the set */
    const char *caption;    /* the sentence ("sent", else "raw") */
    const char *image_path; /* images_dir/file_name (file_name alone when images_dir is NULL) */
    int64_t ref_id, ann_id, image_id, category_id;
    int64_t sent_id;   /* -1 per ref or when the sentence has none */
    const char *split; /* the ref's split */
    int ann;           /* index of the annotation in sa_refer_coco() */
} sa_refer_sample;

typedef struct sa_refer sa_refer;

/* Opens DIR/refs(<splitBy>).p and DIR/instances.json and keeps the samples of split (NULL or "all":
 * every split). images_dir is where the image files are; NULL skips the check that they exist.
 * name labels the set ("refcoco", "refcoco+", "refcocog"; copied). Errors: SA_ERR_IO (a file
 * cannot be read), SA_ERR_FORMAT / SA_ERR_UNSUPPORTED (the pickle as a whole is unreadable or asks
 * for a class or callable; instances.json is not COCO), SA_ERR_INVALID (bad split_by),
 * SA_ERR_NOT_FOUND (no sample in the split); messages name the file. On error *out is NULL. */
int sa_refer_open(const char *name, const char *split, const char *dir, const char *images_dir,
                  sa_refer_params params, sa_refer **out, sa_error *err);

/* The same from a refs pickle in memory (n bytes, not kept; refs_name labels messages) and a COCO
 * set the caller keeps alive until sa_refer_free (borrowed, not freed). */
int sa_refer_from_pickle(const char *name, const uint8_t *refs, size_t n, const char *refs_name,
                         const sa_coco_set *coco, const char *split, const char *images_dir,
                         sa_refer_params params, sa_refer **out, sa_error *err);

/* Other sources, as referring datasets with the same accessors (split_by is "" for them):
 *  - sa_refer_open_coco: any COCO instances file as an interactive set, one sample per annotation
 *    (polygons, compressed or uncompressed RLE, crowd regions), caption = the category name (else
 *    the annotation's caption), id = the annotation id; params.min_area and .category filter.
 *    Annotations whose image is not in the file are skipped with a warning.
 *  - sa_refer_open_segagent: SegAgent's released JSON (the trajectory format, trajectory.h):
 *    one sample per caption of each data[] entry (per entry with params.per_ref), the mask its
 *    gt_ann.segmentation RLE; image_name is a COCO image id (the image is
 *    images_dir/COCO_train2014_%012d.jpg) or a file name under images_dir. id "<entry>_<caption>".
 *  - sa_refer_open_hres: DIS5K (DIR holding DIS-TE1..4 / DIS-VD / DIS-TR, each {im, gt}) or one
 *    {im, gt} folder (one DIS5K part, ThinObject5K): caption = the class of a DIS5K file name
 *    <g>#<Group>#<c>#<Class>#<name> (underscores as spaces), else the stem without a trailing
 *    _<digits>; split = the part's folder name. params.captions names a captions file whose
 *    entries take precedence (an unreadable or malformed one is an error, SA_ERR_IO/SA_ERR_PARSE;
 *    a listed name that matches no image is a warning).
 *  - sa_refer_open_scenes: the built-in scenes (scenes.h) at 320x240, seed 1, caption = the
 *    scene's description: a small referring set with no download.
 * Errors as sa_refer_open's (the file's reader's for the first three); SA_ERR_NOT_FOUND with no
 * sample. */
int sa_refer_open_coco(const char *name, const char *instances, const char *images_dir,
                       sa_refer_params params, sa_refer **out, sa_error *err);
int sa_refer_open_segagent(const char *name, const char *json_path, const char *images_dir,
                           sa_refer_params params, sa_refer **out, sa_error *err);
int sa_refer_open_hres(const char *name, const char *dir, sa_refer_params params, sa_refer **out,
                       sa_error *err);
int sa_refer_open_scenes(sa_refer **out, sa_error *err);

/* Opens a set named as on the command line: "refcoco:val=DIR" (also refcoco+, refcocog; no split =
 * every split), "coco=instances.json", "segagent=file.json", "hres=DIR" (or dis5k=, thinobject5k=),
 * or "scenes". images_dir is passed on where the kind has a separate image folder. SA_ERR_INVALID
 * for a spec of no known kind; else the errors of the opener it calls. */
int sa_refer_open_spec(const char *spec, const char *images_dir, sa_refer_params params,
                       sa_refer **out, sa_error *err);

/* Frees the set (and the COCO set it opened). NULL is a no-op. */
void sa_refer_free(sa_refer *ds);

const char *sa_refer_name(const sa_refer *ds);
const char *sa_refer_split(const sa_refer *ds); /* as given, "all" for NULL */
const char *sa_refer_split_by(const sa_refer *ds);
int sa_refer_n_refs(const sa_refer *ds); /* refs kept (in the split, not skipped) */
int sa_refer_count(const sa_refer *ds);  /* samples */
/* Sample i, NULL when out of range. Owned by the set. */
const sa_refer_sample *sa_refer_get(const sa_refer *ds, int i);
const sa_coco_set *sa_refer_coco(const sa_refer *ds);

int sa_refer_n_warnings(const sa_refer *ds);
const char *sa_refer_warning(const sa_refer *ds, int i);

/* Loads sample i: the RGB image and the referred object's 0/1 mask at the image's size (polygons
 * rasterised and merged as pycocotools does, or the RLE). img and gt must be zeroed; on error both
 * are left zeroed and the message names the file and the ref. Errors: the image's (SA_ERR_IO,
 * SA_ERR_FORMAT ...), a polygon vertex more than one pixel outside the image (SA_ERR_FORMAT), a
 * segmentation that does not fit (SA_ERR_FORMAT), an empty mask (SA_ERR_FORMAT). Safe to call from
 * several threads at once. */
int sa_refer_load(const sa_refer *ds, int i, sa_image *img, sa_mask *gt, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
