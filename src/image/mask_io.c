/* Mask files: loading a mask image and writing 0/255 PNGs (through sa_image_save_png, so all or nothing).
 *
 * Loading goes through sa_image_load_values, so the rule for what a pixel "is" lives in one place:
 * the stored grey level, the palette index, or max(R, G, B) for colour files. Stored 0 ->
 * background, the ignore value (GrabCut's 128 band) -> background in the mask and set in the ignore
 * mask, anything else -> object.
 */
#include "segagent/mask.h"

#include <stdlib.h>
#include <string.h>

#include "segagent/image.h"

int sa_mask_load(const char *path, int ignore_value, sa_mask *mask, sa_mask *ignore,
                 sa_error *err) {
    if (mask) memset(mask, 0, sizeof *mask);
    if (ignore) memset(ignore, 0, sizeof *ignore);
    if (!path || !mask) return sa_error_set(err, SA_ERR_INVALID, "mask load: NULL argument");
    sa_image img = {0, 0, 0, NULL};
    int rc = sa_image_load_values(path, &img, err);
    if (rc) return rc;
    rc = sa_mask_new(mask, img.width, img.height, err);
    if (!rc && ignore) rc = sa_mask_new(ignore, img.width, img.height, err);
    if (rc) {
        sa_image_free(&img);
        sa_mask_free(mask);
        return sa_error_prefix(err, "%s: ", path);
    }
    size_t n = (size_t)img.width * (size_t)img.height;
    /* A label mask holds a handful of values (0, the object value(s), maybe an ignore value or instance
     * indices). Many distinct values mean a photo or a lossy (JPEG) mask was given where a mask belongs;
     * reading every non-zero value as object would silently produce a wrong ground truth. */
    uint8_t seen[256] = {0};
    int distinct = 0;
    for (size_t i = 0; i < n; i++) {
        if (!seen[img.data[i]]) {
            seen[img.data[i]] = 1;
            distinct++;
        }
    }
    if (distinct > SA_MASK_MAX_LABEL_VALUES) {
        sa_image_free(&img);
        sa_mask_free(mask);
        if (ignore) sa_mask_free(ignore);
        return sa_error_set(
            err, SA_ERR_FORMAT,
            "%s: %d distinct pixel values, not a label mask (expected 0 = background, "
            "other values = object; lossy JPEG masks must be converted to PNG)",
            path, distinct);
    }
    for (size_t i = 0; i < n; i++) {
        int v = img.data[i];
        if (v == ignore_value) {
            if (ignore) ignore->data[i] = 1;
        } else if (v != 0) {
            mask->data[i] = 1;
        }
    }
    sa_image_free(&img);
    return SA_OK;
}

int sa_mask_save_png(const char *path, const sa_mask *m, sa_error *err) {
    if (!path || !m || !m->data || m->width <= 0 || m->height <= 0)
        return sa_error_set(err, SA_ERR_INVALID, "%s: cannot save an empty or NULL mask",
                            path ? path : "mask");
    sa_image img = {0, 0, 0, NULL};
    int rc = sa_image_new(&img, m->width, m->height, 1, err);
    if (rc) return sa_error_prefix(err, "%s: ", path);
    size_t n = (size_t)m->width * (size_t)m->height;
    for (size_t i = 0; i < n; i++)
        img.data[i] = m->data[i] ? 255 : 0;
    rc = sa_image_save_png(path, &img, err);
    sa_image_free(&img);
    return rc;
}
