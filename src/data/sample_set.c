/* The items of an interactive folder or a referring set behind one interface (segagent/sample_set.h). */
#include "segagent/sample_set.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sa_sample_set_count(const sa_sample_set *s) {
    return s->refer ? sa_refer_count(s->refer) : sa_dataset_count(s->dataset);
}

const char *sa_sample_set_item_name(const sa_sample_set *s, int i) {
    if (s->refer) {
        const sa_refer_sample *rs = sa_refer_get(s->refer, i);
        return rs ? rs->id : "";
    }
    const char *n = sa_dataset_item_name(s->dataset, i);
    return n ? n : "";
}

char *sa_sample_set_item_key(const sa_sample_set *s, int i) {
    const char *label = s->label ? s->label : "", *name = sa_sample_set_item_name(s, i);
    size_t n = strlen(label) + strlen(name) + 2;
    char *k = malloc(n);
    if (k) snprintf(k, n, "%s/%s", label, name);
    return k;
}

int sa_sample_set_load(const sa_sample_set *s, int i, const char *caption_default, sa_sample *out,
                       sa_error *err) {
    memset(out, 0, sizeof *out);
    int rc;
    if (s->refer) {
        const sa_refer_sample *rs = sa_refer_get(s->refer, i);
        if (!rs)
            return sa_error_set(err, SA_ERR_RANGE, "no sample %d in %s", i,
                                s->label ? s->label : "");
        out->desc = rs->caption && *rs->caption ? rs->caption : caption_default;
        out->image_path = rs->image_path;
        snprintf(out->object_id, sizeof out->object_id, "%lld", (long long)rs->ann_id);
        rc = sa_refer_load(s->refer, i, &out->img, &out->gt, err);
    } else {
        out->desc = caption_default;
        out->image_path = sa_dataset_image_path(s->dataset, i);
        snprintf(out->object_id, sizeof out->object_id, "1");
        rc = sa_dataset_load(s->dataset, i, &out->img, &out->gt, &out->ignore, err);
    }
    if (rc != SA_OK) sa_sample_free(out);
    return rc;
}

void sa_sample_free(sa_sample *smp) {
    sa_image_free(&smp->img);
    sa_mask_free(&smp->gt);
    sa_mask_free(&smp->ignore);
    smp->desc = smp->image_path = NULL;
}
