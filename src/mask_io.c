/* Mask files: loading a mask image (stored values -> object / background / ignore) and writing 0/255 PNGs. */
#include "segagent/mask.h"

#include "segagent/image.h"

#include <string.h>

int sa_mask_load(const char *path, int ignore_value, sa_mask *mask, sa_mask *ignore, sa_error *err) {
    (void)ignore_value;
    if (mask) memset(mask, 0, sizeof *mask);
    if (ignore) memset(ignore, 0, sizeof *ignore);
    return sa_error_set(err, SA_ERR_UNSUPPORTED, "%s: mask loading not implemented yet", path ? path : "(null)");
}

int sa_mask_save_png(const char *path, const sa_mask *m, sa_error *err) {
    (void)m;
    return sa_error_set(err, SA_ERR_UNSUPPORTED, "%s: mask saving not implemented yet", path ? path : "(null)");
}
