/* Internal: the items of a workload's input set -- an interactive folder (sa_dataset) or a referring set
 * (sa_refer) -- behind one set of accessors, so StaR+ and perturb read both the same way. */
#ifndef SEGAGENT_WORKLOADS_SAMPLE_SET_H
#define SEGAGENT_WORKLOADS_SAMPLE_SET_H

#include "segagent/dataset.h"
#include "segagent/refer.h"

/* Exactly one of dataset and refer is set. */
typedef struct sa__sample_set {
    const char *label;
    const sa_dataset *dataset;
    const sa_refer *refer;
} sa__sample_set;

/* One loaded item. desc is the referring caption, else caption_default; image_path and desc live as long as
 * the set (or caption_default). object_id: the annotation id of a referring sample, "1" otherwise. */
typedef struct sa__sample {
    sa_image img;
    sa_mask gt, ignore; /* ignore zeroed when none */
    const char *desc;
    const char *image_path;
    char object_id[32];
} sa__sample;

int sa__set_count(const sa__sample_set *s);
/* The item's name in its set: the file stem, or the referring sample id. */
const char *sa__set_item_name(const sa__sample_set *s, int i);
/* "<label>/<item name>", malloc'd (NULL when out of memory): the item's key for shards and records. */
char *sa__set_item_key(const sa__sample_set *s, int i);
/* Loads item i into out (zeroed before; left zeroed on error; free with sa__sample_free). */
int sa__set_load(const sa__sample_set *s, int i, const char *caption_default, sa__sample *out,
                 sa_error *err);
void sa__sample_free(sa__sample *smp);

#endif
