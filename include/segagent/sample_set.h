/* The input of a workload: an interactive dataset folder (dataset.h) or a referring set (refer.h), behind one
 * set of accessors, so trajectories, StaR+ and perturb read both the same way.
 *
 *   sa_sample_set sets[] = {{.label = "GrabCut", .dataset = ds}, {.label = "refcoco:val", .refer = rf}};
 *   for (int i = 0; i < sa_sample_set_count(&sets[1]); i++) {
 *       sa_sample s;
 *       if (sa_sample_set_load(&sets[1], i, NULL, &s, &err) == SA_OK) {
 *           ... s.img, s.gt, s.desc (the sentence), s.object_id (the annotation id) ...
 *           sa_sample_free(&s);
 *       }
 *   }
 *
 * The set only borrows its dataset or referring set: they must outlive it. An item's key, "<label>/<item name>",
 * names it for shards and part files (docs/parts.md).
 */
#ifndef SEGAGENT_SAMPLE_SET_H
#define SEGAGENT_SAMPLE_SET_H

#include "segagent/dataset.h"
#include "segagent/refer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exactly one of dataset and refer is set. */
typedef struct sa_sample_set {
    const char *label; /* names the set in item keys and reports, e.g. "GrabCut", "refcoco:val" */
    const sa_dataset *dataset;
    const sa_refer *refer;
} sa_sample_set;

/* One loaded item. desc is the referring caption, else the caption_default given to the loader; image_path
 * and desc live as long as the set (or caption_default). object_id: the annotation id of a referring sample,
 * "1" for a folder's item. */
typedef struct sa_sample {
    sa_image img;
    sa_mask gt, ignore; /* ignore zeroed when none */
    const char *desc;
    const char *image_path;
    char object_id[32];
} sa_sample;

int sa_sample_set_count(const sa_sample_set *s);
/* The item's name in its set: the file stem, or the referring sample id. */
const char *sa_sample_set_item_name(const sa_sample_set *s, int i);
/* "<label>/<item name>", malloc'd (NULL when out of memory): the item's key for shards and records. */
char *sa_sample_set_item_key(const sa_sample_set *s, int i);
/* Loads item i into out (zeroed before; left zeroed on error; free with sa_sample_free). Errors are the
 * dataset's or referring set's loader's (they name the file and the item). */
int sa_sample_set_load(const sa_sample_set *s, int i, const char *caption_default, sa_sample *out,
                       sa_error *err);
void sa_sample_free(sa_sample *smp);

#ifdef __cplusplus
}
#endif
#endif
